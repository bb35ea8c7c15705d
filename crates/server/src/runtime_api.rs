//! The Lambda Runtime API (2018-06-01), one loopback listener per execution environment.
//!
//! Each environment's runtime talks only to its own listener, so it can never see another
//! environment's events. Handlers translate HTTP to the engine's [`RuntimeApi`] and back; error
//! bodies are `{"errorMessage", "errorType"}` with RAPID's statuses.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper_util::rt::TokioIo;
use invokd_engine::{
    BoxFuture, MAX_RESPONSE_BYTES, MAX_STREAMED_RESPONSE_BYTES, RuntimeApi, RuntimeApiError,
    RuntimeApiServer, StreamFailure, StreamPiece,
};
use invokd_wire::error::runtime_api_error_body;
use invokd_wire::headers as h;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::runtime_api_status;
use crate::extract::header;

/// Serves each environment's Runtime API with axum on hyper's HTTP/1 connection handling.
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

fn router(api: RuntimeApi) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .fallback(not_found)
        .with_state(Arc::new(api))
}

async fn serve(listener: TcpListener, api: RuntimeApi, shutdown: CancellationToken) {
    let service = hyper_util::service::TowerToHyperService::new(router(api));
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
    connections.close();
}

fn api_error(e: &RuntimeApiError) -> Response {
    let (status, error_type) = runtime_api_status(e);
    let mut res = (status, runtime_api_error_body(error_type, &e.to_string())).into_response();
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

fn accepted() -> Response {
    let mut res = (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response();
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

fn text(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> Response {
    let event = match api.next().await {
        Ok(e) => e,
        Err(e) => return api_error(&e),
    };
    let mut res = (StatusCode::OK, event.payload).into_response();
    let hs = res.headers_mut();
    hs.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut put = |name: &'static str, value: Option<&str>| {
        if let Some(v) = value.and_then(text) {
            hs.insert(name, v);
        }
    };
    put(h::RT_REQUEST_ID, Some(&event.request_id));
    put(h::RT_DEADLINE_MS, Some(&event.deadline_ms.to_string()));
    put(
        h::RT_INVOKED_FUNCTION_ARN,
        Some(&event.invoked_function_arn),
    );
    put(h::RT_TRACE_ID, Some(&event.trace_id));
    put(h::RT_CLIENT_CONTEXT, event.client_context.as_deref());
    put(h::RT_COGNITO_IDENTITY, event.cognito_identity.as_deref());
    put(h::RT_TENANT_ID, event.tenant_id.as_deref());
    put(h::RT_INVOCATION_ID, Some(&event.invocation_id));
    res
}

/// Reads a runtime's post, bounded by the response limit. `None` means it was larger.
async fn bounded(body: Body) -> Result<Option<Bytes>, ()> {
    match Limited::new(body, MAX_RESPONSE_BYTES).collect().await {
        Ok(c) => Ok(Some(c.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Ok(None),
        Err(_) => Err(()),
    }
}

async fn response(
    State(api): State<Arc<RuntimeApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match header(&headers, h::RT_RESPONSE_MODE) {
        Some(mode) if mode.eq_ignore_ascii_case("streaming") => {
            return match api.respond_streaming(&id) {
                Ok(sink) => stream_response(body, sink).await,
                Err(e) => api_error(&e),
            };
        }
        Some(_) => return api_error(&RuntimeApiError::InvalidResponseMode),
        None => {}
    }
    let result = match bounded(body).await {
        Ok(Some(bytes)) => api.respond(&id, bytes),
        Ok(None) => match api.respond_too_large(&id) {
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
async fn stream_response(mut body: Body, sink: mpsc::Sender<StreamPiece>) -> Response {
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

async fn error(
    State(api): State<Arc<RuntimeApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let error_type = header(&headers, h::RT_FUNCTION_ERROR_TYPE).map(str::to_owned);
    let bytes = match bounded(body).await {
        Ok(Some(b)) => b,
        _ => Bytes::new(),
    };
    match api.respond_error(&id, error_type, bytes) {
        Ok(()) => accepted(),
        Err(e) => api_error(&e),
    }
}

async fn init_error(
    State(api): State<Arc<RuntimeApi>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let error_type = header(&headers, h::RT_FUNCTION_ERROR_TYPE).map(str::to_owned);
    let bytes = match bounded(body).await {
        Ok(Some(b)) => b,
        _ => Bytes::new(),
    };
    match api.init_error(error_type, bytes) {
        Ok(()) => accepted(),
        Err(e) => api_error(&e),
    }
}

async fn not_found() -> Response {
    let mut res = (
        StatusCode::NOT_FOUND,
        runtime_api_error_body("NotFound", "Not Found"),
    )
        .into_response();
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}
