//! The one place where errors become AWS errors.
//!
//! [`ApiError`] wraps whatever a handler can fail with; [`ApiError::aws`] maps each variant, by an
//! exhaustive match, to the exception, status and message AWS uses. 5xx responses carry a generic
//! message; their cause is logged here, once, as a structured field.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use invokd_engine::{Error as EngineError, RuntimeApiError, ThrottleReason};
use invokd_wire::{AwsError, Error as WireError};

use crate::auth::AuthError;
use crate::headers;

/// The AWS text for a signature that does not match.
const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

#[derive(Debug)]
pub enum ApiError {
    Engine(EngineError),
    Wire(WireError),
    /// Server mode refused the request's signature.
    Auth(AuthError),
    /// The request body exceeded the operation's limit.
    BodyTooLarge {
        limit: usize,
        operation: &'static str,
    },
    /// The body could not be read from the connection.
    BodyUnreadable,
    UnknownOperation,
    NotFound(String),
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        ApiError::Engine(e)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::Auth(e)
    }
}

impl From<WireError> for ApiError {
    fn from(e: WireError) -> Self {
        ApiError::Wire(e)
    }
}

impl ApiError {
    pub fn aws(&self) -> AwsError {
        match self {
            ApiError::Engine(e) => match e {
                EngineError::Validation(v) => AwsError::validation(v),
                EngineError::InvalidParameter(m) => AwsError::invalid_parameter(m),
                EngineError::InvalidRequestContent(m) => AwsError::invalid_request_content(m),
                EngineError::FunctionNotFound(_)
                | EngineError::FunctionNotFoundAs(_)
                | EngineError::WrongRegion { .. } => AwsError::resource_not_found(e.to_string()),
                EngineError::RecursiveInvocation => AwsError::recursive_invocation(e.to_string()),
                EngineError::ProvisionedConfigNotFound => {
                    AwsError::provisioned_config_not_found(e.to_string())
                }
                EngineError::OtherAccount(arn) => AwsError::access_denied(format!(
                    "User is not authorized to access {arn} in another account"
                )),
                EngineError::AccessDenied { .. } => AwsError::access_denied(e.to_string()),
                EngineError::PolicyRevisionMismatch => AwsError::precondition_failed(e.to_string()),
                EngineError::PolicyLengthExceeded(_) => {
                    AwsError::policy_length_exceeded(e.to_string())
                }
                EngineError::FunctionExists(_) | EngineError::Conflict(_) => {
                    AwsError::resource_conflict(e.to_string())
                }
                EngineError::RevisionMismatch => AwsError::precondition_failed(e.to_string()),
                EngineError::TooLarge(m) => AwsError::request_entity_too_large(m),
                EngineError::Throttled(reason) => {
                    let message = match reason {
                        ThrottleReason::ConcurrentInvocationLimitExceeded
                        | ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded
                        | ThrottleReason::HostCapacityExceeded => "Rate Exceeded.",
                        ThrottleReason::TenantEnvironmentLimitExceeded => "Rate exceeded",
                    };
                    AwsError::too_many_requests(message, Some(reason.as_str()))
                }
                EngineError::InvalidRuntime(m) => AwsError::invalid_runtime(m),
                EngineError::ShuttingDown => {
                    AwsError::service("The service is shutting down. Retry the request.")
                }
                EngineError::Store(cause) => {
                    tracing::error!(error = %cause, "store failure");
                    AwsError::service("An internal error occurred. Retry the request.")
                }
                EngineError::Internal(cause) => {
                    tracing::error!(error = %cause, "internal failure");
                    AwsError::service("An internal error occurred. Retry the request.")
                }
            },
            ApiError::Wire(e) => match e {
                WireError::Json(_) => AwsError::invalid_request_content(e.to_string()),
                WireError::Validation(v) => AwsError::validation(v),
                WireError::InvalidParameter(m) => AwsError::invalid_parameter(m),
            },
            ApiError::Auth(e) => match e {
                AuthError::MissingToken => AwsError::missing_authentication_token(),
                AuthError::Incomplete(m) => AwsError::incomplete_signature(m),
                AuthError::UnknownKey => AwsError::unrecognized_client(),
                AuthError::Mismatch => AwsError::invalid_signature(SIGNATURE_MISMATCH),
                AuthError::Invalid(m) => AwsError::invalid_signature(m),
            },
            ApiError::BodyTooLarge { limit, operation } => AwsError::request_entity_too_large(
                format!("Request must be smaller than {limit} bytes for the {operation} operation"),
            ),
            ApiError::BodyUnreadable => {
                AwsError::invalid_request_content("The request body could not be read.")
            }
            ApiError::UnknownOperation => AwsError::unknown_operation(),
            ApiError::NotFound(m) => AwsError::resource_not_found(m),
        }
    }
}

/// Writes an AWS error.
pub fn aws_response(e: &AwsError) -> Response {
    let mut res = (
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        e.body(),
    )
        .into_response();
    let h = res.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(headers::ERROR_TYPE, HeaderValue::from_static(e.code));
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        aws_response(&self.aws())
    }
}

/// Answer to a route or method no operation matches.
pub async fn unknown_operation() -> ApiError {
    ApiError::UnknownOperation
}

/// Status and `errorType` of a Runtime API error, as RAPID sends them.
pub fn runtime_api_status(e: &RuntimeApiError) -> (StatusCode, &'static str) {
    match e {
        RuntimeApiError::InvalidRequestId => (StatusCode::BAD_REQUEST, "InvalidRequestID"),
        RuntimeApiError::InvalidResponseMode => {
            (StatusCode::BAD_REQUEST, "InvalidFunctionResponseMode")
        }
        RuntimeApiError::InvalidStateTransition { .. } => {
            (StatusCode::FORBIDDEN, "InvalidStateTransition")
        }
        RuntimeApiError::InvokeTimeout => (StatusCode::GONE, "InvokeTimeout"),
        RuntimeApiError::PayloadTooLarge(_) => {
            (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge")
        }
        RuntimeApiError::Stopping => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
    }
}
