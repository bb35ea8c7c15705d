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
use crate::extract;

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
    if !name.contains('%') {
        return Some(name.to_owned());
    }
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
        streaming: false,
        ..invoke_headers(headers)
    };
    let outcome = app.engine.invoke(parts.into_request(payload)?).await?;
    Ok(render(outcome))
}

/// Invoke's header parameters, each the first value of its header (a value that is not text
/// reads as absent).
///
/// One pass over the request's headers: looking each of the six names up hashes it, which cost
/// more than walking the handful of headers a client sends.
fn invoke_headers(headers: &HeaderMap) -> InvokeParts<'_> {
    use invokd_wire::headers as spelled;
    let mut parts = InvokeParts::default();
    let mut seen = [false; 6];
    for (name, value) in headers {
        let (i, slot) = match name.as_str() {
            spelled::INVOCATION_TYPE => (0, &mut parts.invocation_type),
            spelled::LOG_TYPE => (1, &mut parts.log_type),
            spelled::CLIENT_CONTEXT => (2, &mut parts.client_context),
            spelled::TENANT_ID => (3, &mut parts.tenant_id),
            spelled::DURABLE_EXECUTION_NAME => (4, &mut parts.durable_execution_name),
            spelled::TRACE_ID => (5, &mut parts.trace_header),
            _ => continue,
        };
        if !std::mem::replace(&mut seen[i], true) {
            *slot = value.to_str().ok();
        }
    }
    parts
}

fn text(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// [`text`] of a string the response owns: the header value takes its bytes instead of a copy.
fn owned_text(s: String) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from(s)).unwrap_or_else(|_| HeaderValue::from_static(""))
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
            // Not `(StatusCode::OK, body).into_response()`: that sets a Content-Type only to
            // have it replaced.
            let mut res = Response::new(Body::from(body));
            let hs = res.headers_mut();
            hs.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            hs.insert(h::REQUEST_ID, owned_text(request_id));
            hs.insert(h::EXECUTED_VERSION, version_value(executed_version));
            hs.insert(h::REMAPPED_CONTENT_LENGTH, HeaderValue::from_static("0"));
            if let Some(e) = function_error {
                hs.insert(h::FUNCTION_ERROR, HeaderValue::from_static(e.as_str()));
            }
            if let Some(log) = log_result {
                hs.insert(h::LOG_RESULT, owned_text(log));
            }
            res
        }
        InvokeOutcome::Accepted { request_id } => {
            let mut res = StatusCode::ACCEPTED.into_response();
            res.headers_mut()
                .insert(h::REQUEST_ID, owned_text(request_id));
            res
        }
        InvokeOutcome::DryRun { request_id } => {
            let mut res = StatusCode::NO_CONTENT.into_response();
            res.headers_mut()
                .insert(h::REQUEST_ID, owned_text(request_id));
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
        streaming: true,
        // Not an InvokeWithResponseStream parameter.
        durable_execution_name: None,
        ..invoke_headers(&headers)
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

    #[test]
    fn invoke_headers_are_each_the_first_value_of_their_header_in_any_case() {
        let mut hs = HeaderMap::new();
        let put = |hs: &mut HeaderMap, name: &'static str, value: &[u8]| {
            hs.append(
                http::HeaderName::from_static(name),
                HeaderValue::from_bytes(value).unwrap(),
            );
        };
        put(&mut hs, "host", b"localhost");
        put(&mut hs, "x-amz-invocation-type", b"Event");
        put(&mut hs, "x-amz-invocation-type", b"DryRun");
        put(&mut hs, "x-amz-log-type", b"Tail");
        put(&mut hs, "x-amz-client-context", b"e30=");
        put(&mut hs, "x-amz-tenant-id", b"t-1");
        put(&mut hs, "x-amz-durable-execution-name", b"run-1");
        put(
            &mut hs,
            "x-amzn-trace-id",
            b"Root=1-5759e988-bd862e3fe1be46a994272793",
        );
        // Later values of a header are not read.
        put(&mut hs, "x-amz-tenant-id", b"t-2");
        let parts = invoke_headers(&hs);
        assert_eq!(parts.invocation_type, Some("Event"));
        assert_eq!(parts.log_type, Some("Tail"));
        assert_eq!(parts.client_context, Some("e30="));
        assert_eq!(parts.tenant_id, Some("t-1"));
        assert_eq!(parts.durable_execution_name, Some("run-1"));
        assert_eq!(
            parts.trace_header,
            Some("Root=1-5759e988-bd862e3fe1be46a994272793")
        );

        let mut hs = HeaderMap::new();
        put(&mut hs, "x-amz-log-type", b"\xffTail");
        put(&mut hs, "x-amz-log-type", b"Tail");
        let parts = invoke_headers(&hs);
        assert_eq!(
            parts.log_type, None,
            "a first value that is not text reads as absent"
        );
        assert_eq!(parts.invocation_type, None);

        // Header names arrive lower-cased whatever the client's spelling.
        let req = Request::builder()
            .header("X-Amz-Invocation-Type", "RequestResponse")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            invoke_headers(req.headers()).invocation_type,
            Some("RequestResponse")
        );
    }

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
