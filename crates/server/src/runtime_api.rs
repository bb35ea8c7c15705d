//! The Lambda Runtime API (2018-06-01), one loopback listener per execution environment.
//!
//! Each environment's runtime talks only to its own listener, so it can never see another
//! environment's events. Handlers translate HTTP to the engine's [`RuntimeApi`] and back; error
//! bodies are `{"errorMessage", "errorType"}` with RAPID's statuses.

use std::convert::Infallible;
use std::sync::Arc;

use crate::headers as h;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use invokd_engine::{
    BoxFuture, MAX_RESPONSE_BYTES, MAX_STREAMED_RESPONSE_BYTES, RuntimeApi, RuntimeApiError,
    RuntimeApiServer, StreamFailure, StreamPiece,
};
use invokd_wire::error::runtime_api_error_body;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::runtime_api_status;
use crate::extract::{ReadError, header, read_limited};

/// Serves each environment's Runtime API on hyper's HTTP/1 connection handling.
#[derive(Debug, Default, Clone, Copy)]
pub struct RuntimeApiHttp;

impl RuntimeApiServer for RuntimeApiHttp {
    fn serve(
        &self,
        listener: TcpListener,
        api: RuntimeApi,
        shutdown: CancellationToken,
    ) -> BoxFuture {
        Box::pin(serve(listener, api, shutdown))
    }
}

/// A Runtime API response: small and whole, so never a boxed or streamed body.
type Reply = Response<Full<Bytes>>;

async fn serve(listener: TcpListener, api: RuntimeApi, shutdown: CancellationToken) {
    let api = Arc::new(api);
    let service = hyper::service::service_fn(move |req| {
        let api = api.clone();
        async move { Ok::<_, Infallible>(route(&api, req).await) }
    });
    crate::serve::serve(listener, service, shutdown, crate::serve::OnShutdown::Drop).await;
}

/// One of the Runtime API's four routes, or 404 (405 for a route's path with another method).
///
/// Matched by hand rather than with a router: every invocation makes two of these requests, and
/// a general router's per-request work (extensions, boxed futures, path parameter maps) was a
/// measurable part of the server's CPU per invoke.
async fn route(api: &RuntimeApi, req: Request<Incoming>) -> Reply {
    const PREFIX: &str = "/2018-06-01/runtime/";
    let (parts, body) = req.into_parts();
    let Some(path) = parts.uri.path().strip_prefix(PREFIX) else {
        return not_found();
    };
    let post = parts.method == Method::POST;
    match path {
        // Not HEAD: it would take an event and drop its payload.
        "invocation/next" if parts.method == Method::GET => next(api).await,
        "invocation/next" => method_not_allowed("GET"),
        "init/error" if post => init_error(api, &parts.headers, body).await,
        "init/error" => method_not_allowed("POST"),
        _ => {
            let Some((id, action)) = path
                .strip_prefix("invocation/")
                .and_then(|rest| rest.split_once('/'))
                .filter(|(id, action)| !id.is_empty() && !action.contains('/'))
            else {
                return not_found();
            };
            let id = if id.contains('%') {
                percent_encoding::percent_decode_str(id).decode_utf8_lossy()
            } else {
                std::borrow::Cow::Borrowed(id)
            };
            match action {
                "response" if post => response(api, &id, &parts.headers, body).await,
                "error" if post => error(api, &id, &parts.headers, body).await,
                "response" | "error" => method_not_allowed("POST"),
                _ => not_found(),
            }
        }
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

fn api_error(e: &RuntimeApiError) -> Reply {
    let (status, error_type) = runtime_api_status(e);
    reply(status, runtime_api_error_body(error_type, &e.to_string()))
}

fn accepted() -> Reply {
    reply(
        StatusCode::ACCEPTED,
        Bytes::from_static(br#"{"status":"OK"}"#),
    )
}

fn not_found() -> Reply {
    reply(
        StatusCode::NOT_FOUND,
        runtime_api_error_body("NotFound", "Not Found"),
    )
}

fn method_not_allowed(allow: &'static str) -> Reply {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    res.headers_mut()
        .insert(http::header::ALLOW, HeaderValue::from_static(allow));
    res
}

fn text(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

async fn next(api: &RuntimeApi) -> Reply {
    let event = match api.next().await {
        Ok(e) => e,
        Err(e) => return api_error(&e),
    };
    let mut res = reply(StatusCode::OK, event.payload);
    let hs = res.headers_mut();
    let put = |hs: &mut HeaderMap, name: HeaderName, value: Option<&str>| {
        if let Some(v) = value.and_then(text) {
            hs.insert(name, v);
        }
    };
    // The ids, the ARN and the trace header are shared text: their header values are made of
    // the same bytes, not copies.
    let shared = |hs: &mut HeaderMap, name: HeaderName, value: Bytes| {
        if let Ok(v) = HeaderValue::from_maybe_shared(value) {
            hs.insert(name, v);
        }
    };
    shared(hs, h::RT_REQUEST_ID, event.request_id.into_bytes());
    hs.insert(h::RT_DEADLINE_MS, HeaderValue::from(event.deadline_ms));
    shared(
        hs,
        h::RT_INVOKED_FUNCTION_ARN,
        event.invoked_function_arn.into_bytes(),
    );
    shared(hs, h::RT_TRACE_ID, event.trace_id.into_bytes());
    put(hs, h::RT_CLIENT_CONTEXT, event.client_context.as_deref());
    put(
        hs,
        h::RT_COGNITO_IDENTITY,
        event.cognito_identity.as_deref(),
    );
    put(hs, h::RT_TENANT_ID, event.tenant_id.as_deref());
    shared(hs, h::RT_INVOCATION_ID, event.invocation_id.into_bytes());
    res
}

/// Reads a runtime's post, bounded by the response limit. `None` means it was larger.
async fn bounded(body: Incoming) -> Result<Option<Bytes>, ()> {
    match read_limited(body, MAX_RESPONSE_BYTES).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(ReadError::TooLarge) => Ok(None),
        Err(ReadError::Unreadable) => Err(()),
    }
}

async fn response(api: &RuntimeApi, id: &str, headers: &HeaderMap, body: Incoming) -> Reply {
    match header(headers, h::RT_RESPONSE_MODE) {
        Some(mode) if mode.eq_ignore_ascii_case("streaming") => {
            return match api.respond_streaming(id) {
                Ok(sink) => stream_response(body, sink).await,
                Err(e) => api_error(&e),
            };
        }
        Some(_) => return api_error(&RuntimeApiError::InvalidResponseMode),
        None => {}
    }
    let result = match bounded(body).await {
        Ok(Some(bytes)) => api.respond(id, bytes),
        Ok(None) => match api.respond_too_large(id) {
            Ok(()) => Err(RuntimeApiError::PayloadTooLarge(MAX_RESPONSE_BYTES)),
            Err(e) => Err(e),
        },
        Err(()) => return api_error(&RuntimeApiError::InvalidRequestId),
    };
    match result {
        Ok(()) => accepted(),
        Err(e) => api_error(&e),
    }
}

/// Forwards a streamed response body into the invocation frame by frame, as the runtime sends
/// it, then its error trailers (if any) with the end.
async fn stream_response(mut body: Incoming, sink: mpsc::Sender<StreamPiece>) -> Reply {
    let mut total = 0usize;
    let mut failure = None;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            // The runtime's connection broke: dropping the sink tells the invocation.
            return api_error(&RuntimeApiError::InvalidRequestId);
        };
        match frame.into_data() {
            Ok(data) => {
                total += data.len();
                if total > MAX_STREAMED_RESPONSE_BYTES {
                    let too_large = StreamFailure {
                        error_type: "Function.ResponseSizeTooLarge".into(),
                        body: Bytes::from(format!(
                            "Response payload size exceeded maximum allowed payload size ({MAX_STREAMED_RESPONSE_BYTES} bytes)."
                        )),
                    };
                    let _ = sink.send(StreamPiece::End(Some(too_large))).await;
                    return api_error(&RuntimeApiError::PayloadTooLarge(
                        MAX_STREAMED_RESPONSE_BYTES,
                    ));
                }
                if sink.send(StreamPiece::Chunk(data)).await.is_err() {
                    // The invocation is over (timed out, or the response outgrew Invoke's limit).
                    return api_error(&RuntimeApiError::InvokeTimeout);
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    failure = stream_failure(&trailers);
                }
            }
        }
    }
    let _ = sink.send(StreamPiece::End(failure)).await;
    accepted()
}

/// The error a runtime reports in its response trailers: the type, and the body as base64.
fn stream_failure(trailers: &HeaderMap) -> Option<StreamFailure> {
    let error_type = header(trailers, h::RT_FUNCTION_ERROR_TYPE)?.to_owned();
    let body = header(trailers, h::RT_FUNCTION_ERROR_BODY).unwrap_or_default();
    let body = BASE64
        .decode(body.trim())
        .map_or_else(|_| Bytes::copy_from_slice(body.as_bytes()), Bytes::from);
    Some(StreamFailure { error_type, body })
}

async fn error(api: &RuntimeApi, id: &str, headers: &HeaderMap, body: Incoming) -> Reply {
    let error_type = header(headers, h::RT_FUNCTION_ERROR_TYPE).map(str::to_owned);
    let bytes = match bounded(body).await {
        Ok(Some(b)) => b,
        _ => Bytes::new(),
    };
    match api.respond_error(id, error_type, bytes) {
        Ok(()) => accepted(),
        Err(e) => api_error(&e),
    }
}

async fn init_error(api: &RuntimeApi, headers: &HeaderMap, body: Incoming) -> Reply {
    let error_type = header(headers, h::RT_FUNCTION_ERROR_TYPE).map(str::to_owned);
    let bytes = match bounded(body).await {
        Ok(Some(b)) => b,
        _ => Bytes::new(),
    };
    match api.init_error(error_type, bytes) {
        Ok(()) => accepted(),
        Err(e) => api_error(&e),
    }
}
