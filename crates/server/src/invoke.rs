//! The Invoke handler.

use crate::headers as h;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use invokd_engine::invoke::MAX_SYNC_PAYLOAD;
use invokd_engine::invoke::StreamOutcome;
use invokd_model::{InvokeOutcome, StreamEvent, VersionId};
use invokd_wire::eventstream;
use invokd_wire::invoke::InvokeParts;

use crate::App;
use crate::error::ApiError;
use crate::extract::{self, header};

pub async fn invoke(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    invoke_parts(&app, &name, &uri, &headers, body).await
}

/// The function name of an Invoke request (`POST /2015-03-31/functions/{name}/invocations`,
/// the name percent-decoded as the router decodes path parameters), or `None` for any other
/// request, and for a name that does not decode, which the router then answers.
pub fn invoke_path(req: &Request) -> Option<String> {
    if req.method() != Method::POST {
        return None;
    }
    let name = req
        .uri()
        .path()
        .strip_prefix("/2015-03-31/functions/")?
        .strip_suffix("/invocations")
        .filter(|name| !name.is_empty() && !name.contains('/'))?;
    let decoded = percent_encoding::percent_decode_str(name)
        .decode_utf8()
        .ok()?;
    Some(decoded.into_owned())
}

/// Invoke without the router (local mode): the same handler, and the same `x-amzn-RequestId`
/// on every response as the router's layer gives.
pub async fn invoke_direct(app: App, name: String, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let res = match invoke_parts(&app, &name, &parts.uri, &parts.headers, body).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    };
    crate::request_id(res)
}

async fn invoke_parts(
    app: &App,
    name: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let payload = extract::body(headers, body, MAX_SYNC_PAYLOAD, "InvokeFunction").await?;
    let query = extract::query(uri);
    let parts = InvokeParts {
        function_name: name,
        qualifier: extract::param(&query, "Qualifier"),
        invocation_type: header(headers, h::INVOCATION_TYPE),
        log_type: header(headers, h::LOG_TYPE),
        client_context: header(headers, h::CLIENT_CONTEXT),
        tenant_id: header(headers, h::TENANT_ID),
        durable_execution_name: header(headers, h::DURABLE_EXECUTION_NAME),
        trace_header: header(headers, h::TRACE_ID),
        streaming: false,
    };
    let outcome = app.engine.invoke(parts.into_request(payload)?).await?;
    Ok(render(outcome))
}

fn text(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `X-Amz-Executed-Version`: `$LATEST` or the version's number.
fn version_value(version: VersionId) -> HeaderValue {
    match version {
        VersionId::Latest => HeaderValue::from_static("$LATEST"),
        VersionId::Published(n) => HeaderValue::from(n),
    }
}

fn render(outcome: InvokeOutcome) -> Response {
    match outcome {
        InvokeOutcome::Response {
            request_id,
            executed_version,
            body,
            function_error,
            log_result,
        } => {
            let mut res = (StatusCode::OK, body).into_response();
            let hs = res.headers_mut();
            hs.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            hs.insert(h::REQUEST_ID, text(&request_id));
            hs.insert(h::EXECUTED_VERSION, version_value(executed_version));
            hs.insert(h::REMAPPED_CONTENT_LENGTH, HeaderValue::from_static("0"));
            if let Some(e) = function_error {
                hs.insert(h::FUNCTION_ERROR, HeaderValue::from_static(e.as_str()));
            }
            if let Some(log) = log_result {
                hs.insert(h::LOG_RESULT, text(&log));
            }
            res
        }
        InvokeOutcome::Accepted { request_id } => {
            let mut res = StatusCode::ACCEPTED.into_response();
            res.headers_mut().insert(h::REQUEST_ID, text(&request_id));
            res
        }
        InvokeOutcome::DryRun { request_id } => {
            let mut res = StatusCode::NO_CONTENT.into_response();
            res.headers_mut().insert(h::REQUEST_ID, text(&request_id));
            res
        }
    }
}

/// Largest `InvokeAsync` payload (the legacy API's own limit).
const MAX_INVOKE_ASYNC: usize = 262_144;

/// InvokeAsync (deprecated): an `Event` invocation with its own size limit and response.
pub async fn invoke_async(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let payload = extract::body(&headers, body, MAX_INVOKE_ASYNC, "InvokeAsync").await?;
    let parts = InvokeParts {
        function_name: &name,
        invocation_type: Some("Event"),
        ..InvokeParts::default()
    };
    let outcome = app.engine.invoke(parts.into_request(payload)?).await?;
    let mut res = (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({ "Status": 202 })),
    )
        .into_response();
    res.headers_mut()
        .insert(h::REQUEST_ID, text(outcome.request_id()));
    Ok(res)
}

/// InvokeWithResponseStream: errors before the function has the event are ordinary AWS errors;
/// after that the response is 200 and an event stream of `PayloadChunk`s then `InvokeComplete`.
pub async fn invoke_with_response_stream(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let payload =
        extract::body(&headers, body, MAX_SYNC_PAYLOAD, "InvokeWithResponseStream").await?;
    let query = extract::query(&uri);
    let parts = InvokeParts {
        function_name: &name,
        qualifier: extract::param(&query, "Qualifier"),
        invocation_type: header(&headers, h::INVOCATION_TYPE),
        log_type: header(&headers, h::LOG_TYPE),
        client_context: header(&headers, h::CLIENT_CONTEXT),
        tenant_id: header(&headers, h::TENANT_ID),
        trace_header: header(&headers, h::TRACE_ID),
        streaming: true,
        ..InvokeParts::default()
    };
    let outcome = app
        .engine
        .invoke_with_response_stream(parts.into_request(payload)?)
        .await?;
    Ok(match outcome {
        StreamOutcome::DryRun { request_id } => {
            let mut res = StatusCode::NO_CONTENT.into_response();
            res.headers_mut().insert(h::REQUEST_ID, text(&request_id));
            res
        }
        StreamOutcome::Streaming(stream) => {
            let mut res = Response::new(Body::new(EventStreamBody {
                events: stream.events,
                frames: std::collections::VecDeque::new(),
            }));
            let hs = res.headers_mut();
            hs.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(eventstream::CONTENT_TYPE),
            );
            hs.insert(h::REQUEST_ID, text(&stream.request_id));
            hs.insert(h::EXECUTED_VERSION, version_value(stream.executed_version));
            res
        }
    })
}

/// A streaming invocation's events as event-stream messages, each sent as soon as it exists.
struct EventStreamBody {
    events: tokio::sync::mpsc::Receiver<StreamEvent>,
    /// Messages of an event already taken (a long chunk makes several).
    frames: std::collections::VecDeque<Bytes>,
}

impl http_body::Body for EventStreamBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        loop {
            if let Some(frame) = self.frames.pop_front() {
                return Poll::Ready(Some(Ok(http_body::Frame::data(frame))));
            }
            match self.events.poll_recv(cx) {
                Poll::Ready(Some(event)) => self.frames.extend(eventstream::encode(&event)),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(method: Method, path: &str) -> Option<String> {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        invoke_path(&req)
    }

    #[test]
    fn invoke_path_matches_what_the_router_would_route_to_invoke() {
        let post = |p: &str| path_of(Method::POST, p);
        assert_eq!(
            post("/2015-03-31/functions/echo/invocations").as_deref(),
            Some("echo")
        );
        // SDKs percent-encode an ARN's colons; the router decodes path parameters the same way.
        assert_eq!(
            post("/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aecho/invocations?Qualifier=1")
                .as_deref(),
            Some("arn:aws:lambda:us-east-1:123456789012:function:echo")
        );
        // Everything else is the router's: other methods (405), other shapes, undecodable names.
        assert_eq!(
            path_of(Method::GET, "/2015-03-31/functions/echo/invocations"),
            None
        );
        assert_eq!(post("/2015-03-31/functions//invocations"), None);
        assert_eq!(post("/2015-03-31/functions/a/b/invocations"), None);
        assert_eq!(post("/2015-03-31/functions/echo/invocations/"), None);
        assert_eq!(post("/2015-03-31/functions/%FF/invocations"), None);
        assert_eq!(
            post("/2021-11-15/functions/echo/response-streaming-invocations"),
            None
        );
    }
}
