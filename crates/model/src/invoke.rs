//! An invocation as the domain sees it: what the caller asked for and what came back.
//!
//! The payload stays the caller's bytes from socket to runtime ([`bytes::Bytes`] is shared, never
//! copied). A function error is a *successful* invocation with an error body
//! ([`InvokeOutcome::Response`] with `function_error` set), never an `Err`: AWS answers it with 200.

use bytes::Bytes;

use crate::name::{FunctionRef, VersionId};

/// `X-Amz-Invocation-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvocationType {
    #[default]
    RequestResponse,
    Event,
    DryRun,
}

impl InvocationType {
    pub const VALUES: &'static [&'static str] = &["Event", "RequestResponse", "DryRun"];
    /// InvokeWithResponseStream's `ResponseStreamingInvocationType`.
    pub const STREAMING_VALUES: &'static [&'static str] = &["RequestResponse", "DryRun"];

    pub fn parse(s: &str) -> Option<InvocationType> {
        match s {
            "RequestResponse" => Some(InvocationType::RequestResponse),
            "Event" => Some(InvocationType::Event),
            "DryRun" => Some(InvocationType::DryRun),
            _ => None,
        }
    }
}

/// `X-Amz-Log-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogType {
    #[default]
    None,
    Tail,
}

impl LogType {
    pub const VALUES: &'static [&'static str] = &["None", "Tail"];

    pub fn parse(s: &str) -> Option<LogType> {
        match s {
            "None" => Some(LogType::None),
            "Tail" => Some(LogType::Tail),
            _ => None,
        }
    }
}

/// An Invoke call, parsed and syntactically valid; the engine resolves and runs it.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    pub function: FunctionRef,
    /// The `Qualifier` query parameter, already pattern-checked.
    pub qualifier: Option<String>,
    pub invocation_type: InvocationType,
    pub log_type: LogType,
    /// `X-Amz-Client-Context` as sent (base64 of a JSON object).
    pub client_context: Option<String>,
    pub tenant_id: Option<String>,
    pub durable_execution_name: Option<String>,
    /// `X-Amzn-Trace-Id` sent by the caller, if any.
    pub trace_header: Option<String>,
    pub payload: Bytes,
}

/// How a function invocation failed, as `X-Amz-Function-Error` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionError {
    Unhandled,
}

impl FunctionError {
    pub fn as_str(self) -> &'static str {
        "Unhandled"
    }
}

/// What an invocation produced.
#[derive(Debug, Clone)]
pub enum InvokeOutcome {
    /// A synchronous invocation ran (successfully or with a function error).
    Response {
        request_id: String,
        executed_version: VersionId,
        body: Bytes,
        function_error: Option<FunctionError>,
        /// Base64 of the last 4 KB of this invocation's log, when `LogType: Tail`.
        log_result: Option<String>,
    },
    /// An `Event` invocation was durably queued.
    Accepted { request_id: String },
    /// A `DryRun`: the call would have been allowed.
    DryRun { request_id: String },
}

impl InvokeOutcome {
    pub fn request_id(&self) -> &str {
        match self {
            InvokeOutcome::Response { request_id, .. }
            | InvokeOutcome::Accepted { request_id }
            | InvokeOutcome::DryRun { request_id } => request_id,
        }
    }
}

/// The last event of an InvokeWithResponseStream response (`InvokeComplete`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvokeComplete {
    /// The error type when the invocation failed (after the stream had started).
    pub error_code: Option<String>,
    pub error_details: Option<String>,
    /// Base64 of the last 4 KB of the invocation's log, when `LogType: Tail`.
    pub log_result: Option<String>,
}

/// One event of an InvokeWithResponseStream response, in order: chunks, then `Complete`.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// Bytes of the response as the function wrote them (`PayloadChunk`).
    Chunk(bytes::Bytes),
    Complete(InvokeComplete),
}
