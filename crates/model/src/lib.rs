//! Domain types of invokd and the rules that make them valid.
//!
//! This crate owns the vocabulary every other crate speaks: function names and the forms a caller
//! may address a function by ([`name`]), ARNs ([`arn`]), the configuration and code of a function
//! version ([`function`]), invocations and their outcomes ([`invoke`]), runtimes ([`runtime`]),
//! IAM authorisation decisions ([`policy`]) and AWS-style field validation ([`validation`]). It
//! knows nothing of HTTP, JSON field spelling, storage or processes: `wire` maps AWS shapes onto
//! these types, `engine` acts on them.

pub mod arn;
pub mod function;
pub mod invoke;
pub mod name;
pub mod policy;
pub mod runtime;
pub mod spec;
pub mod validation;

pub use arn::Scope;
pub use function::{
    Alias, Architecture, CodeRef, EventInvokeConfig, Function, FunctionConfig, LogFormat,
    LoggingConfig, ProvisionedConfig, RecursiveLoop, TenantIsolationMode, TracingMode,
    VersionRecord,
};
pub use invoke::{
    FunctionError, InvocationType, InvokeComplete, InvokeOutcome, InvokeRequest, LogType,
    StreamEvent,
};
pub use name::{FunctionName, FunctionRef, NameShape, Qualifier, VersionId};
pub use policy::{Caller, IdentityPolicy, Permission, PermissionPrincipal};
pub use runtime::{Runtime, RuntimeFamily};
pub use validation::{Constraint, FieldViolation, Shown, Violations};
