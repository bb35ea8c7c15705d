//! Request pieces handlers need, with AWS's errors instead of the framework's plain-text ones.

use axum::body::Body;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Reads a whole body of at most `limit` bytes; a larger one is refused without reading it.
pub async fn body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    operation: &'static str,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::BodyTooLarge { limit, operation });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::BodyTooLarge { limit, operation })
        }
        Err(_) => Err(ApiError::BodyUnreadable),
    }
}

/// A JSON request body.
pub async fn json<T: DeserializeOwned>(
    headers: &HeaderMap,
    b: Body,
    limit: usize,
    operation: &'static str,
) -> Result<T, ApiError> {
    let bytes = body(headers, b, limit, operation).await?;
    Ok(invokd_wire::control::parse_json(&bytes)?)
}

/// Query parameters, repeated ones kept in order.
pub fn query(uri: &http::Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// The first value of a query parameter.
pub fn param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The function a per-function operation's path names, with its `?Qualifier=`.
pub fn qualified_function(
    name: &str,
    uri: &http::Uri,
) -> Result<(invokd_model::FunctionRef, Option<String>), ApiError> {
    let q = query(uri);
    Ok(invokd_wire::invoke::function_and_qualifier(
        name,
        param(&q, "Qualifier"),
        invokd_model::NameShape::Namespaced,
    )?)
}

/// A header's value as text (invalid UTF-8 reads as absent).
pub fn header(h: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}
