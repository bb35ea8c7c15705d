//! Header names of the Invoke API and of the Runtime API, spelled as AWS sends them.
//!
//! HTTP header names are case-insensitive; the lower-case constants are what `http` needs.

/// Invoke request headers.
pub const INVOCATION_TYPE: &str = "x-amz-invocation-type";
pub const LOG_TYPE: &str = "x-amz-log-type";
pub const CLIENT_CONTEXT: &str = "x-amz-client-context";
pub const TENANT_ID: &str = "x-amz-tenant-id";
pub const DURABLE_EXECUTION_NAME: &str = "x-amz-durable-execution-name";
pub const TRACE_ID: &str = "x-amzn-trace-id";

/// Invoke response headers.
pub const REQUEST_ID: &str = "x-amzn-requestid";
pub const ERROR_TYPE: &str = "x-amzn-errortype";
pub const EXECUTED_VERSION: &str = "x-amz-executed-version";
pub const FUNCTION_ERROR: &str = "x-amz-function-error";
pub const LOG_RESULT: &str = "x-amz-log-result";
pub const REMAPPED_CONTENT_LENGTH: &str = "x-amzn-remapped-content-length";

/// Runtime API: headers of `GET /runtime/invocation/next`.
pub const RT_REQUEST_ID: &str = "lambda-runtime-aws-request-id";
pub const RT_DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
pub const RT_INVOKED_FUNCTION_ARN: &str = "lambda-runtime-invoked-function-arn";
pub const RT_TRACE_ID: &str = "lambda-runtime-trace-id";
pub const RT_CLIENT_CONTEXT: &str = "lambda-runtime-client-context";
pub const RT_COGNITO_IDENTITY: &str = "lambda-runtime-cognito-identity";
pub const RT_TENANT_ID: &str = "lambda-runtime-aws-tenant-id";
pub const RT_INVOCATION_ID: &str = "lambda-runtime-invocation-id";

/// Runtime API: headers a runtime sends.
pub const RT_FUNCTION_ERROR_TYPE: &str = "lambda-runtime-function-error-type";
pub const RT_FUNCTION_ERROR_BODY: &str = "lambda-runtime-function-error-body";
pub const RT_RESPONSE_MODE: &str = "lambda-runtime-function-response-mode";
