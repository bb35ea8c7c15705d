//! invokd without HTTP: the service's behaviour as operations on model types.
//!
//! [`Engine`] owns the registry of functions ([`registry`], cached from the store so the invoke
//! path never touches the database), the control-plane operations ([`functions`]), resource-based
//! policies and the authorisation decision of server mode ([`permissions`]), the invoke
//! path ([`invoke`]) and the execution environments it runs on ([`pool`], [`env`]), which meet
//! their runtimes at a per-environment [`rendezvous`]. It also exposes [`RuntimeApi`], the domain
//! side of the Lambda Runtime API; `server` serves it over HTTP on each environment's own listener
//! through the [`RuntimeApiServer`] it hands to [`Engine::start`].
//!
//! Invariants:
//! * one process per environment, one invocation per environment at a time;
//! * an environment is owned by one task; the invoke path only meets it at the rendezvous;
//! * nothing acknowledged to a client is lost: control-plane changes are committed to the store
//!   before the registry shows them.

mod admission;
pub mod aliases;
pub mod async_queue;
mod backoff;
pub mod concurrency;
mod env;
mod error;
pub mod event_config;
pub mod functions;
mod ids;
pub mod invoke;
mod logs;
pub mod outbound;
pub mod permissions;
mod pool;
mod registry;
mod rendezvous;

use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use invokd_model::Scope;
use invokd_store::{CodeStore, Store};
use invokd_supervisor::{CodeDirs, Launcher, MemoryLimiter, Spares};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use aliases::AliasView;
pub use async_queue::AsyncConfig;
pub use concurrency::ProvisionedView;
pub use error::{Error, Result, ThrottleReason};
pub use event_config::EventConfigView;
pub use functions::{AccountSettings, VersionView};
/// What the `invokd` binary runs as a spare process's exec helper.
pub use invokd_supervisor::spare::{
    HELPER_ARG as EXEC_HELPER_ARG, helper_main as exec_helper_main,
};
pub use logs::LogLimits;
pub use outbound::{NoOutbound, Outbound, OutboundMessage};
pub use permissions::{PolicyTarget, PolicyView};
pub use pool::RESERVED_VARIABLES;
pub use rendezvous::{Event, RuntimeApiError, StreamFailure, StreamPiece};

use crate::pool::{PoolContext, PoolContextParts};
use crate::registry::{FunctionEntry, Registry};

/// Largest response body a runtime may post (6 MiB + 100 bytes).
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;

/// Largest response a runtime may stream (200 MiB), for InvokeWithResponseStream.
pub const MAX_STREAMED_RESPONSE_BYTES: usize = 200 * 1024 * 1024;

/// A boxed future, as the Runtime API server returns.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Serves the Runtime API of one environment. `server` implements it with axum.
pub trait RuntimeApiServer: Send + Sync + 'static {
    /// Serves `api` on `listener` until `shutdown` is cancelled.
    fn serve(
        &self,
        listener: TcpListener,
        api: RuntimeApi,
        shutdown: CancellationToken,
    ) -> BoxFuture;
}

/// The domain side of one environment's Runtime API.
#[derive(Debug, Clone)]
pub struct RuntimeApi {
    rendezvous: Arc<rendezvous::Rendezvous>,
}

impl RuntimeApi {
    /// `GET /runtime/invocation/next`: waits for the next event.
    pub async fn next(&self) -> Result<Event, RuntimeApiError> {
        self.rendezvous.next().await
    }

    /// `POST /runtime/invocation/{id}/response`.
    pub fn respond(&self, request_id: &str, body: Bytes) -> Result<(), RuntimeApiError> {
        self.rendezvous.respond(request_id, body)
    }

    /// `POST /runtime/invocation/{id}/response` with `Lambda-Runtime-Function-Response-Mode:
    /// streaming`: the caller forwards the body's pieces into the returned sender, ending with
    /// [`StreamPiece::End`]. A send that fails means the invocation no longer wants the rest
    /// (it timed out, or the response grew past its limit).
    pub fn respond_streaming(
        &self,
        request_id: &str,
    ) -> Result<tokio::sync::mpsc::Sender<StreamPiece>, RuntimeApiError> {
        self.rendezvous.respond_streaming(request_id)
    }

    /// `POST /runtime/invocation/{id}/error`.
    pub fn respond_error(
        &self,
        request_id: &str,
        error_type: Option<String>,
        body: Bytes,
    ) -> Result<(), RuntimeApiError> {
        self.rendezvous.respond_error(request_id, error_type, body)
    }

    /// A `/response` whose body exceeded [`MAX_RESPONSE_BYTES`].
    pub fn respond_too_large(&self, request_id: &str) -> Result<(), RuntimeApiError> {
        self.rendezvous.respond_too_large(request_id)
    }

    /// `POST /runtime/init/error`.
    pub fn init_error(
        &self,
        error_type: Option<String>,
        body: Bytes,
    ) -> Result<(), RuntimeApiError> {
        self.rendezvous.init_error(error_type, body)
    }
}

/// How the engine runs. Built and validated by the binary; every field has a working default.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub scope: Scope,
    /// Holds the database, packages, sandboxes and logs.
    pub data_dir: PathBuf,
    /// Interpreter for `python3.x` functions (must have `awslambdaric`).
    pub python: OsString,
    /// Total `MemorySize` (MB) of environments that may exist at once.
    pub memory_budget_mb: u32,
    /// On-demand environments each function version may have at once; an invocation that finds
    /// them all busy waits for one instead of starting another. `None` (the default, as AWS):
    /// one environment per concurrent invocation, up to the concurrency limits.
    pub max_environments_per_function: Option<u32>,
    /// Account concurrency: invocations running at once across all functions.
    pub account_concurrency: u32,
    /// Concurrency reservations may never leave less than this unreserved.
    pub min_unreserved_concurrency: u32,
    /// New environments each function may start per 10 seconds (AWS: 1,000).
    pub scaling_rate: u32,
    /// An environment idle this long is stopped.
    pub idle_timeout: Duration,
    /// An on-demand environment older than this is retired when its invocation ends, however
    /// busy it is, as AWS recycles environments after a few hours: a runtime's slow leaks
    /// (memory, file descriptors) never grow without bound.
    pub max_lifetime: Duration,
    /// Longest a runtime may take to initialise before the init is retried within the invoke.
    pub init_timeout: Duration,
    /// Time a runtime gets between SIGTERM and SIGKILL when its environment stops.
    pub shutdown_grace: Duration,
    pub log_limits: LogLimits,
    /// This server's URL, given to functions as `AWS_ENDPOINT_URL_LAMBDA`.
    pub self_endpoint: Option<String>,
    /// Asynchronous invocation tuning.
    pub async_config: AsyncConfig,
    /// The `invokd` binary, which spare processes execute as the exec helper
    /// ([`invokd_supervisor::spare`]); `None` starts every process on demand.
    pub exec_helper: Option<PathBuf>,
    /// Spare processes kept ready (each already in its memory cgroup) to cut cold starts.
    pub spare_processes: usize,
}

impl EngineConfig {
    /// Defaults for everything but the scope and the data directory.
    pub fn new(scope: Scope, data_dir: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            scope,
            data_dir: data_dir.into(),
            python: "python3".into(),
            memory_budget_mb: default_memory_budget_mb(),
            max_environments_per_function: None,
            account_concurrency: 1000,
            min_unreserved_concurrency: 100,
            scaling_rate: 1000,
            idle_timeout: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(2 * 60 * 60),
            init_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_millis(500),
            log_limits: LogLimits::default(),
            self_endpoint: None,
            async_config: AsyncConfig::default(),
            exec_helper: None,
            spare_processes: 2,
        }
    }
}

/// Three quarters of the machine's memory, in MB.
pub fn default_memory_budget_mb() -> u32 {
    let total_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .map(|v| v.trim().trim_end_matches("kB").trim().to_owned())
        })
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(4 << 20);
    ((total_kb / 1024) * 3 / 4).clamp(256, u64::from(u32::MAX)) as u32
}

/// The service.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: EngineConfig,
    store: Store,
    registry: Registry,
    pools: Arc<PoolContext>,
    /// Serialises control-plane writes (read-modify-write of a function document).
    writes: tokio::sync::Mutex<()>,
    queue: async_queue::AsyncQueue,
    outbound: Arc<dyn Outbound>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Engine {
    /// Opens the data directory, loads every function and starts background tasks.
    pub async fn start(
        config: EngineConfig,
        runtime_api: Arc<dyn RuntimeApiServer>,
        outbound: Arc<dyn Outbound>,
    ) -> Result<Engine> {
        let dir = &config.data_dir;
        let io = |what: &str, p: &Path, e: std::io::Error| {
            Error::Internal(format!("{what} {}: {e}", p.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
        let store = Store::open_sqlite(&dir.join("invokd.db")).await?;
        let code_store = CodeStore::open(dir.join("code").join("packages"))?;
        let sandboxes_dir = dir.join("sandboxes");
        // Sandboxes of a previous run belong to environments that no longer exist.
        let _ = invokd_supervisor::unpack::make_writable_and_remove(&sandboxes_dir);
        std::fs::create_dir_all(&sandboxes_dir).map_err(|e| io("creating", &sandboxes_dir, e))?;
        let limiter = MemoryLimiter::detect(&cgroup_tag());
        tracing::info!(memory_limits = %limiter.describe(), budget_mb = config.memory_budget_mb, "execution environments");
        let spares = config
            .exec_helper
            .clone()
            .and_then(|helper| Spares::start(helper, config.spare_processes, &limiter));
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let pools = PoolContext::new(PoolContextParts {
            scope: config.scope.clone(),
            launcher: Launcher::new(resolve_program(&config.python)),
            code_store,
            code_dirs: CodeDirs::new(dir.join("code").join("unpacked")),
            limiter,
            spares,
            runtime_api,
            sandboxes_dir,
            logs_dir: dir.join("logs"),
            log_limits: config.log_limits,
            capacity_mb: config.memory_budget_mb,
            max_environments: config.max_environments_per_function,
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
            shutdown_grace: config.shutdown_grace,
            idle_timeout: config.idle_timeout,
            max_lifetime: config.max_lifetime,
            init_timeout: config.init_timeout,
            self_endpoint: config.self_endpoint.clone(),
            admission: admission::Admission::new(
                config.account_concurrency,
                config.min_unreserved_concurrency,
                config.scaling_rate,
            ),
        });
        let registry = Registry::default();
        for function in store.load_functions().await? {
            registry.put(FunctionEntry::build(&pools, function, None));
        }
        let carved = registry
            .all()
            .iter()
            .map(|e| e.function.carved_concurrency())
            .sum();
        for e in registry.all() {
            let f = &e.function;
            pools.admission.configure(
                f.name.as_str(),
                f.reserved_concurrency,
                f.provisioned_total(),
                carved,
            );
        }
        tracker.spawn(pool::reaper(pools.clone()));
        let queue = async_queue::AsyncQueue::new(config.async_config);
        let inner = Inner {
            config,
            store,
            registry,
            pools,
            writes: tokio::sync::Mutex::new(()),
            queue,
            outbound,
            shutdown,
            tracker,
        };
        let engine = Engine {
            inner: Arc::new(inner),
        };
        engine.start_async().await?;
        engine.provision_all();
        Ok(engine)
    }

    pub fn scope(&self) -> &Scope {
        &self.inner.config.scope
    }

    /// Stops every environment (SIGTERM, then SIGKILL after the grace period) and closes the
    /// store. Invocations still running end with an error.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tracker.close();
        let grace = self.inner.config.shutdown_grace + Duration::from_secs(5);
        if tokio::time::timeout(grace, self.inner.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some environments did not stop in time");
        }
        if let Some(spares) = &self.inner.pools.spares {
            spares.discard().await;
        }
        invokd_supervisor::cgroup::remove_base(&self.inner.pools.limiter);
        self.inner.store.close().await;
    }

    /// Whether environments start from spare processes (an exec helper is configured, spares
    /// are wanted, and memory limits are cgroups).
    pub fn has_spare_processes(&self) -> bool {
        self.inner.pools.spares.is_some()
    }

    /// Where the logs of `function` are kept.
    pub fn logs_dir(&self, function: &str) -> PathBuf {
        self.inner.pools.logs_dir.join(function)
    }

    /// Retires every idle environment now, as the reaper does after the idle timeout.
    pub fn reap_idle_environments(&self) -> usize {
        self.inner.pools.reap_older_than(u64::MAX)
    }
}

/// Resolves a bare program name against invokd's own `PATH`, since runtimes get AWS's `PATH`.
fn resolve_program(program: &OsString) -> OsString {
    let p = Path::new(program);
    if p.components().count() > 1 {
        return program.clone();
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(p))
                .find(|c| c.is_file())
        })
        .map(PathBuf::into_os_string)
        .unwrap_or_else(|| program.clone())
}

/// Names this engine's cgroup subtree: unique per process *and* per engine, so that an engine
/// shutting down never removes groups another engine in the same process still uses.
fn cgroup_tag() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static ENGINES: AtomicU64 = AtomicU64::new(0);
    format!(
        "invokd-{}-{}",
        std::process::id(),
        ENGINES.fetch_add(1, Ordering::Relaxed)
    )
}
