//! Header names of the Invoke API and of the Runtime API, spelled as AWS sends them.
//!
//! HTTP header names are case-insensitive; the lower-case spelling is what `http` needs. They are
//! typed names, so inserting or looking one up on the invoke path neither parses nor validates
//! the name again.

use http::HeaderName;

/// Invoke request headers.
pub const INVOCATION_TYPE: HeaderName = HeaderName::from_static("x-amz-invocation-type");
pub const LOG_TYPE: HeaderName = HeaderName::from_static("x-amz-log-type");
pub const CLIENT_CONTEXT: HeaderName = HeaderName::from_static("x-amz-client-context");
pub const TENANT_ID: HeaderName = HeaderName::from_static("x-amz-tenant-id");
pub const DURABLE_EXECUTION_NAME: HeaderName =
    HeaderName::from_static("x-amz-durable-execution-name");
pub const TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

/// Invoke response headers.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
pub const ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");
pub const EXECUTED_VERSION: HeaderName = HeaderName::from_static("x-amz-executed-version");
pub const FUNCTION_ERROR: HeaderName = HeaderName::from_static("x-amz-function-error");
pub const LOG_RESULT: HeaderName = HeaderName::from_static("x-amz-log-result");
pub const REMAPPED_CONTENT_LENGTH: HeaderName =
    HeaderName::from_static("x-amzn-remapped-content-length");

/// Runtime API: headers of `GET /runtime/invocation/next`.
pub const RT_REQUEST_ID: HeaderName = HeaderName::from_static("lambda-runtime-aws-request-id");
pub const RT_DEADLINE_MS: HeaderName = HeaderName::from_static("lambda-runtime-deadline-ms");
pub const RT_INVOKED_FUNCTION_ARN: HeaderName =
    HeaderName::from_static("lambda-runtime-invoked-function-arn");
pub const RT_TRACE_ID: HeaderName = HeaderName::from_static("lambda-runtime-trace-id");
pub const RT_CLIENT_CONTEXT: HeaderName = HeaderName::from_static("lambda-runtime-client-context");
pub const RT_COGNITO_IDENTITY: HeaderName =
    HeaderName::from_static("lambda-runtime-cognito-identity");
pub const RT_TENANT_ID: HeaderName = HeaderName::from_static("lambda-runtime-aws-tenant-id");
pub const RT_INVOCATION_ID: HeaderName = HeaderName::from_static("lambda-runtime-invocation-id");

/// Runtime API: headers a runtime sends.
pub const RT_FUNCTION_ERROR_TYPE: HeaderName =
    HeaderName::from_static("lambda-runtime-function-error-type");
pub const RT_FUNCTION_ERROR_BODY: HeaderName =
    HeaderName::from_static("lambda-runtime-function-error-body");
pub const RT_RESPONSE_MODE: HeaderName =
    HeaderName::from_static("lambda-runtime-function-response-mode");
