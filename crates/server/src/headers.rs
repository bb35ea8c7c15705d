//! The Invoke and Runtime API header names `wire` spells, as typed `http` names.
//!
//! `wire` keeps the spellings (it knows nothing of HTTP machinery); these constants are what the
//! handlers use, so inserting or looking up a header on the invoke path neither parses nor
//! validates its name again. (Invoke's request headers are matched by spelling, in one pass:
//! `invoke::invoke_headers`.)

use http::HeaderName;
use invokd_wire::headers as spelled;

pub const REQUEST_ID: HeaderName = HeaderName::from_static(spelled::REQUEST_ID);
pub const ERROR_TYPE: HeaderName = HeaderName::from_static(spelled::ERROR_TYPE);
pub const EXECUTED_VERSION: HeaderName = HeaderName::from_static(spelled::EXECUTED_VERSION);
pub const FUNCTION_ERROR: HeaderName = HeaderName::from_static(spelled::FUNCTION_ERROR);
pub const LOG_RESULT: HeaderName = HeaderName::from_static(spelled::LOG_RESULT);
pub const REMAPPED_CONTENT_LENGTH: HeaderName =
    HeaderName::from_static(spelled::REMAPPED_CONTENT_LENGTH);
pub const RT_REQUEST_ID: HeaderName = HeaderName::from_static(spelled::RT_REQUEST_ID);
pub const RT_DEADLINE_MS: HeaderName = HeaderName::from_static(spelled::RT_DEADLINE_MS);
pub const RT_INVOKED_FUNCTION_ARN: HeaderName =
    HeaderName::from_static(spelled::RT_INVOKED_FUNCTION_ARN);
pub const RT_TRACE_ID: HeaderName = HeaderName::from_static(spelled::RT_TRACE_ID);
pub const RT_CLIENT_CONTEXT: HeaderName = HeaderName::from_static(spelled::RT_CLIENT_CONTEXT);
pub const RT_COGNITO_IDENTITY: HeaderName = HeaderName::from_static(spelled::RT_COGNITO_IDENTITY);
pub const RT_TENANT_ID: HeaderName = HeaderName::from_static(spelled::RT_TENANT_ID);
pub const RT_INVOCATION_ID: HeaderName = HeaderName::from_static(spelled::RT_INVOCATION_ID);
pub const RT_FUNCTION_ERROR_TYPE: HeaderName =
    HeaderName::from_static(spelled::RT_FUNCTION_ERROR_TYPE);
pub const RT_FUNCTION_ERROR_BODY: HeaderName =
    HeaderName::from_static(spelled::RT_FUNCTION_ERROR_BODY);
pub const RT_RESPONSE_MODE: HeaderName = HeaderName::from_static(spelled::RT_RESPONSE_MODE);
