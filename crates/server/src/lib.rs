//! invokd over HTTP.
//!
//! Two kinds of listeners: the Lambda REST API on the service's address ([`router`], an axum
//! router, served by [`run`], which in local mode sends Invoke's own path straight to its
//! handler) and, on a loopback port of its own per execution environment, the Lambda Runtime API
//! ([`RuntimeApiHttp`], four routes on hyper directly, which the engine asks to serve each
//! listener it binds). Handlers extract, convert with `wire`, call the engine and convert back; every error
//! becomes an AWS error in one place, [`error`]. In server mode ([`auth::Auth::Sigv4`]) every
//! request of the REST API first passes [`auth`]: SigV4, then the one table of IAM actions.

pub mod auth;
mod control;
pub mod error;
mod extract;
mod headers;
mod invoke;
mod policy;
mod runtime_api;
mod serve;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::response::Response;
use axum::routing::{get, post};
use invokd_engine::Engine;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

pub use runtime_api::RuntimeApiHttp;

/// Shared state of the REST API handlers.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub engine: Engine,
    /// Where the service listens, for links it hands out (code download).
    pub local_addr: SocketAddr,
    /// Server mode's authentication and authorisation; `None` in local mode.
    pub front: Option<Arc<auth::Front>>,
}

/// The Lambda REST API in local mode.
pub fn router(engine: Engine, local_addr: SocketAddr) -> Router {
    router_with(engine, local_addr, &auth::Auth::Local)
}

/// The Lambda REST API, authenticated as `auth` says.
pub fn router_with(engine: Engine, local_addr: SocketAddr, auth: &auth::Auth) -> Router {
    routes(App::new(engine, local_addr, auth))
}

impl App {
    fn new(engine: Engine, local_addr: SocketAddr, auth: &auth::Auth) -> App {
        let front = match auth {
            auth::Auth::Local => None,
            auth::Auth::Sigv4(keyring) => Some(Arc::new(auth::Front::new(keyring, engine.scope()))),
        };
        App {
            engine,
            local_addr,
            front,
        }
    }
}

fn routes(app: App) -> Router {
    let routes = Router::new()
        .route(
            "/2015-03-31/functions",
            post(control::create_function).get(control::list_functions),
        )
        .route(
            "/2015-03-31/functions/",
            post(control::create_function).get(control::list_functions),
        )
        .route(
            "/2015-03-31/functions/{name}",
            get(control::get_function).delete(control::delete_function),
        )
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(control::get_function_configuration).put(control::update_function_configuration),
        )
        .route(
            "/2015-03-31/functions/{name}/code",
            axum::routing::put(control::update_function_code),
        )
        .route(
            "/2015-03-31/functions/{name}/invocations",
            post(invoke::invoke),
        )
        .route(
            "/2015-03-31/functions/{name}/policy",
            post(policy::add_permission).get(policy::get_policy),
        )
        .route(
            "/2015-03-31/functions/{name}/policy/{sid}",
            axum::routing::delete(policy::remove_permission),
        )
        .route(
            "/2015-03-31/functions/{name}/versions",
            post(control::publish_version).get(control::list_versions_by_function),
        )
        .route(
            "/2015-03-31/functions/{name}/aliases",
            post(control::create_alias).get(control::list_aliases),
        )
        .route(
            "/2015-03-31/functions/{name}/aliases/{alias}",
            get(control::get_alias)
                .put(control::update_alias)
                .delete(control::delete_alias),
        )
        .route(
            "/2016-08-19/account-settings",
            get(control::get_account_settings),
        )
        .route(
            "/2016-08-19/account-settings/",
            get(control::get_account_settings),
        )
        .route(
            "/2017-03-31/tags/{arn}",
            get(control::list_tags)
                .post(control::tag_resource)
                .delete(control::untag_resource),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config",
            axum::routing::put(control::put_event_invoke_config)
                .post(control::update_event_invoke_config)
                .get(control::get_event_invoke_config)
                .delete(control::delete_event_invoke_config),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config/list",
            get(control::list_event_invoke_configs),
        )
        .route(
            "/2017-10-31/functions/{name}/concurrency",
            axum::routing::put(control::put_function_concurrency)
                .delete(control::delete_function_concurrency),
        )
        .route(
            "/2019-09-30/functions/{name}/concurrency",
            get(control::get_function_concurrency),
        )
        .route(
            "/2019-09-30/functions/{name}/provisioned-concurrency",
            axum::routing::put(control::put_provisioned_concurrency)
                .get(control::get_provisioned_concurrency)
                .delete(control::delete_provisioned_concurrency),
        )
        .route(
            "/2024-08-31/functions/{name}/recursion-config",
            axum::routing::put(control::put_recursion_config).get(control::get_recursion_config),
        )
        .route(
            "/2021-11-15/functions/{name}/response-streaming-invocations",
            post(invoke::invoke_with_response_stream),
        )
        .route(
            "/2014-11-13/functions/{name}/invoke-async",
            post(invoke::invoke_async),
        )
        .route(
            "/2014-11-13/functions/{name}/invoke-async/",
            post(invoke::invoke_async),
        )
        .route("/_invokd/code/{file}", get(control::download_code))
        .route("/_invokd/events", get(control::list_events))
        .route(
            "/_invokd/dead-letters/{id}/redrive",
            post(control::redrive_dead_letter),
        )
        .fallback(error::unknown_operation)
        .method_not_allowed_fallback(error::unknown_operation);
    // Local mode has no authentication layer at all, so it costs nothing there.
    let routes = if app.front.is_some() {
        routes.layer(axum::middleware::from_fn_with_state(
            app.clone(),
            auth::authenticate,
        ))
    } else {
        routes
    };
    routes
        .layer(tower::util::MapResponseLayer::new(
            request_id as fn(Response) -> Response,
        ))
        .with_state(app)
}

/// Gives every response an `x-amzn-RequestId`, as AWS does (Invoke sets its own).
///
/// A plain response map rather than `middleware::from_fn`: that boxes a future and clones the
/// router's service for every request, which the invoke path measurably paid for.
pub(crate) fn request_id(mut res: Response) -> Response {
    if !res.headers().contains_key(headers::REQUEST_ID)
        && let Ok(v) = http::HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
    {
        res.headers_mut().insert(headers::REQUEST_ID, v);
    }
    res
}

/// Serves the REST API in local mode on `listener` until `shutdown` resolves, then lets
/// requests in flight finish. The caller stops the engine afterwards.
pub async fn run(
    engine: Engine,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(engine, listener, shutdown, auth::Auth::Local).await
}

/// [`run`], authenticating requests as `auth` says.
pub async fn run_with(
    engine: Engine,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    auth: auth::Auth,
) -> std::io::Result<()> {
    let local_addr = listener.local_addr()?;
    let app = App::new(engine, local_addr, &auth);
    // In local mode Invoke's own path skips the router: its per-request work (path matching,
    // extensions, a boxed handler future) was a measurable part of the server's CPU per invoke.
    // Server mode authenticates every request first, so everything goes through the router.
    let direct = app.front.is_none().then(|| app.clone());
    let router = routes(app);
    let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let req = req.map(axum::body::Body::new);
        let direct = direct.clone();
        let router = router.clone();
        async move {
            if let Some(app) = direct
                && let Some(name) = invoke::invoke_path(&req)
            {
                return Ok::<_, Infallible>(invoke::invoke_direct(app, name, req).await);
            }
            router.oneshot(req).await
        }
    });
    let stop = CancellationToken::new();
    // Serving ends only once `stop` is cancelled, so the two finish together.
    tokio::join!(
        serve::serve(listener, service, stop.clone(), serve::OnShutdown::Finish),
        async {
            shutdown.await;
            stop.cancel();
        }
    );
    Ok(())
}
