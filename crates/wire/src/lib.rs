//! The AWS Lambda wire format, without HTTP machinery.
//!
//! This crate owns the shapes AWS clients send and expect: control-plane request and response
//! bodies in AWS's PascalCase JSON ([`control`]), IAM policy documents ([`policy`]), the error
//! envelope every exception travels in ([`error`]), the header names of Invoke and of the
//! Runtime API ([`headers`]) and AWS's timestamp format ([`timestamp`]). Converting a request shape into a model input performs the
//! `ValidationException` layer of checks (patterns, lengths, ranges, enums) with AWS's field
//! names; everything semantic is the engine's. `server` moves these shapes over HTTP.

pub mod concurrency;
pub mod control;
pub mod error;
pub mod eventstream;
pub mod headers;
pub mod invoke;
pub mod policy;
pub mod timestamp;

pub use error::{AwsError, Error};
