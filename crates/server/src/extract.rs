//! Request pieces handlers need, with AWS's errors instead of the framework's plain-text ones.

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::BodyExt;
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
    match read_limited(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(ReadError::TooLarge) => Err(ApiError::BodyTooLarge { limit, operation }),
        Err(ReadError::Unreadable) => Err(ApiError::BodyUnreadable),
    }
}

/// Why [`read_limited`] returned no body.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// More than the limit was sent (the rest is not read).
    TooLarge,
    /// The connection failed or the body was malformed.
    Unreadable,
}

/// Reads a whole body of at most `limit` bytes (trailers are ignored).
///
/// A body that arrives in one frame, as any small one does, is that frame: no list of frames and
/// no copy, which collecting through `http_body_util` costs on every invoke (twice: the client's
/// payload and the runtime's answer). A body in several frames is copied once, into one buffer.
pub async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, ReadError>
where
    B: http_body::Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut more: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| ReadError::Unreadable)?.into_data() else {
            continue;
        };
        len += data.len();
        if len > limit {
            return Err(ReadError::TooLarge);
        }
        match &first {
            Some(f) if !f.is_empty() => {
                if !data.is_empty() {
                    more.push(data);
                }
            }
            _ => first = Some(data),
        }
    }
    let Some(first) = first else {
        return Ok(Bytes::new());
    };
    if more.is_empty() {
        return Ok(first);
    }
    let mut all = BytesMut::with_capacity(len);
    all.extend_from_slice(&first);
    for data in &more {
        all.extend_from_slice(data);
    }
    Ok(all.freeze())
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Frame;
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A body that yields the given frames (an `Err` is a failed read).
    struct Frames(VecDeque<Result<Frame<Bytes>, &'static str>>);

    impl http_body::Body for Frames {
        type Data = Bytes;
        type Error = &'static str;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front())
        }
    }

    fn data(parts: &[&'static str]) -> Frames {
        Frames(
            parts
                .iter()
                .map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
                .collect(),
        )
    }

    #[tokio::test]
    async fn a_body_in_one_frame_is_that_frame_without_a_copy() {
        let payload = Bytes::from_static(b"{\"a\":1}");
        let body = Frames(VecDeque::from([Ok(Frame::data(payload.clone()))]));
        let read = read_limited(body, 100).await.unwrap();
        assert_eq!(read, payload);
        assert_eq!(
            read.as_ptr(),
            payload.as_ptr(),
            "the frame itself, not a copy"
        );
    }

    #[tokio::test]
    async fn frames_are_joined_in_order_and_trailers_ignored() {
        let mut body = data(&["", "ab", "", "cd", "e"]);
        body.0
            .push_back(Ok(Frame::trailers(http::HeaderMap::new())));
        assert_eq!(read_limited(body, 5).await.unwrap(), "abcde");
        assert_eq!(read_limited(data(&[]), 5).await.unwrap(), "");
        let one = Bytes::from_static(b"abc");
        let body = Frames(VecDeque::from([
            Ok(Frame::data(Bytes::new())),
            Ok(Frame::data(one.clone())),
        ]));
        let read = read_limited(body, 5).await.unwrap();
        assert_eq!(
            read.as_ptr(),
            one.as_ptr(),
            "an empty first frame does not force a copy"
        );
    }

    #[tokio::test]
    async fn more_than_the_limit_in_any_frame_is_too_large_and_a_failed_read_unreadable() {
        assert_eq!(
            read_limited(data(&["abc", "def"]), 5).await,
            Err(ReadError::TooLarge)
        );
        assert_eq!(
            read_limited(data(&["abcdef"]), 5).await,
            Err(ReadError::TooLarge)
        );
        assert_eq!(
            read_limited(data(&["abc", "de"]), 5).await.unwrap(),
            "abcde"
        );
        let mut failing = data(&["ab"]);
        failing.0.push_back(Err("connection reset"));
        assert_eq!(read_limited(failing, 5).await, Err(ReadError::Unreadable));
    }
}
