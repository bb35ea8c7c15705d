//! The AWS error envelope and this crate's decoding errors.
//!
//! Every exception reaches a client as an HTTP status, an `x-amzn-ErrorType` header and a JSON
//! body. SDKs pick the exception class from the header and the message from `message` or
//! `Message`. The body spelling differs per exception as the service model defines it (for
//! example `ResourceNotFoundException` says `Message`, `InvalidParameterValueException` says
//! `message`) and modeled exceptions carry `"Type": "User"`. [`AwsError`]'s constructors encode
//! that table (spec §2.2) so that callers only choose the exception and its text.

use invokd_model::Violations;
use serde_json::{Map, Value};

/// Which key holds the message in the JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKey {
    Lower,
    Upper,
}

/// One AWS exception, ready to be written to the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub key: MessageKey,
    /// `Type` member of modeled exceptions: `User` or `Service`.
    pub fault: Option<&'static str>,
    /// `Reason` member of `TooManyRequestsException`.
    pub reason: Option<String>,
}

impl AwsError {
    fn new(
        status: u16,
        code: &'static str,
        key: MessageKey,
        fault: Option<&'static str>,
        message: String,
    ) -> Self {
        AwsError {
            status,
            code,
            message,
            key,
            fault,
            reason: None,
        }
    }

    /// 400 `ValidationException` (not modeled: no `Type`).
    pub fn validation(v: &Violations) -> Self {
        Self::new(
            400,
            "ValidationException",
            MessageKey::Lower,
            None,
            v.to_string(),
        )
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(
            400,
            "InvalidParameterValueException",
            MessageKey::Lower,
            Some("User"),
            message.into(),
        )
    }

    pub fn invalid_request_content(message: impl Into<String>) -> Self {
        Self::new(
            400,
            "InvalidRequestContentException",
            MessageKey::Lower,
            Some("User"),
            message.into(),
        )
    }

    pub fn recursive_invocation(message: impl Into<String>) -> Self {
        Self::new(
            400,
            "RecursiveInvocationException",
            MessageKey::Upper,
            Some("User"),
            message.into(),
        )
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(
            403,
            "AccessDeniedException",
            MessageKey::Upper,
            None,
            message.into(),
        )
    }

    /// 400 `PolicyLengthExceededException`: a resource-based policy over 20 KB.
    pub fn policy_length_exceeded(message: impl Into<String>) -> Self {
        Self::new(
            400,
            "PolicyLengthExceededException",
            MessageKey::Lower,
            Some("User"),
            message.into(),
        )
    }

    // Authentication failures come from AWS's front door, not from Lambda's model: 403, a
    // lower-case `message` and no `Type`, as its `InvalidSignatureException` and
    // `MissingAuthenticationTokenException` bodies show.

    /// 403 `MissingAuthenticationTokenException`: neither an `Authorization` header nor a
    /// presigned query.
    pub fn missing_authentication_token() -> Self {
        Self::new(
            403,
            "MissingAuthenticationTokenException",
            MessageKey::Lower,
            None,
            "Missing Authentication Token".into(),
        )
    }

    /// 403 `IncompleteSignatureException`: an `Authorization` header or presigned query that is
    /// not a complete SigV4 signature.
    pub fn incomplete_signature(message: impl Into<String>) -> Self {
        Self::new(
            403,
            "IncompleteSignatureException",
            MessageKey::Lower,
            None,
            message.into(),
        )
    }

    /// 403 `UnrecognizedClientException`: an access key nobody issued.
    pub fn unrecognized_client() -> Self {
        Self::new(
            403,
            "UnrecognizedClientException",
            MessageKey::Lower,
            None,
            "The security token included in the request is invalid.".into(),
        )
    }

    /// 403 `InvalidSignatureException`: a signature that does not verify, or is out of date.
    pub fn invalid_signature(message: impl Into<String>) -> Self {
        Self::new(
            403,
            "InvalidSignatureException",
            MessageKey::Lower,
            None,
            message.into(),
        )
    }

    pub fn resource_not_found(message: impl Into<String>) -> Self {
        Self::new(
            404,
            "ResourceNotFoundException",
            MessageKey::Upper,
            Some("User"),
            message.into(),
        )
    }

    /// Unknown route or method: AWS's answer to a request no operation matches.
    pub fn unknown_operation() -> Self {
        Self::new(
            404,
            "UnknownOperationException",
            MessageKey::Upper,
            None,
            "Unknown operation".into(),
        )
    }

    pub fn provisioned_config_not_found(message: impl Into<String>) -> Self {
        Self::new(
            404,
            "ProvisionedConcurrencyConfigNotFoundException",
            MessageKey::Lower,
            Some("User"),
            message.into(),
        )
    }

    pub fn resource_conflict(message: impl Into<String>) -> Self {
        Self::new(
            409,
            "ResourceConflictException",
            MessageKey::Lower,
            Some("User"),
            message.into(),
        )
    }

    pub fn precondition_failed(message: impl Into<String>) -> Self {
        Self::new(
            412,
            "PreconditionFailedException",
            MessageKey::Lower,
            Some("User"),
            message.into(),
        )
    }

    /// 413 `RequestEntityTooLargeException` (what AWS really sends; not the modeled one).
    pub fn request_entity_too_large(message: impl Into<String>) -> Self {
        Self::new(
            413,
            "RequestEntityTooLargeException",
            MessageKey::Upper,
            None,
            message.into(),
        )
    }

    pub fn too_many_requests(message: impl Into<String>, reason: Option<&str>) -> Self {
        let mut e = Self::new(
            429,
            "TooManyRequestsException",
            MessageKey::Lower,
            Some("User"),
            message.into(),
        );
        e.reason = reason.map(str::to_owned);
        e
    }

    /// 500 `ServiceException`. The message must not reveal internals.
    pub fn service(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "ServiceException",
            MessageKey::Upper,
            Some("Service"),
            message.into(),
        )
    }

    pub fn invalid_runtime(message: impl Into<String>) -> Self {
        Self::new(
            502,
            "InvalidRuntimeException",
            MessageKey::Upper,
            Some("User"),
            message.into(),
        )
    }

    pub fn resource_not_ready(message: impl Into<String>) -> Self {
        Self::new(
            502,
            "ResourceNotReadyException",
            MessageKey::Lower,
            Some("Service"),
            message.into(),
        )
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        let mut m = Map::new();
        if let Some(reason) = &self.reason {
            m.insert("Reason".into(), Value::String(reason.clone()));
        }
        if let Some(fault) = self.fault {
            m.insert("Type".into(), Value::String(fault.into()));
        }
        let key = match self.key {
            MessageKey::Lower => "message",
            MessageKey::Upper => "Message",
        };
        m.insert(key.into(), Value::String(self.message.clone()));
        serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
    }
}

/// Error body of the Runtime API: `{"errorMessage": ..., "errorType": ...}`.
pub fn runtime_api_error_body(error_type: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "errorMessage": message, "errorType": error_type }))
        .unwrap_or_default()
}

/// Why a request could not be turned into a model input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body is not JSON of the expected shape.
    #[error("Could not parse request body into json: {0}")]
    Json(String),
    /// Members broke model constraints.
    #[error(transparent)]
    Validation(#[from] Violations),
    /// A member is well-formed JSON but unusable, in words AWS uses.
    #[error("{0}")]
    InvalidParameter(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_body_uses_capital_message_and_type() {
        let e = AwsError::resource_not_found("Function not found: x");
        assert_eq!(e.status, 404);
        assert_eq!(
            String::from_utf8(e.body()).unwrap(),
            r#"{"Message":"Function not found: x","Type":"User"}"#
        );
    }

    #[test]
    fn throttle_body_carries_reason() {
        let e = AwsError::too_many_requests(
            "Rate Exceeded.",
            Some("ReservedFunctionConcurrentInvocationLimitExceeded"),
        );
        assert_eq!(
            String::from_utf8(e.body()).unwrap(),
            r#"{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}"#
        );
    }
}
