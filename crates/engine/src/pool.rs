//! Environment pools: the environments of one function version, and the host's capacity.
//!
//! A pool hands out idle environments most-recently-used first (the warmest process, and the one
//! whose memory is most likely still in cache) and starts a new one when none is idle, within the
//! host's memory budget ([`PoolContext::capacity`], counted in MB of `MemorySize`). When the budget
//! is spent, the least recently used idle environment of *any* pool is retired to make room;
//! only when nothing is idle is the invocation throttled. With a per-function environment cap
//! (`--max-environments-per-function`, an invokd setting AWS does not have), an invocation that
//! finds the cap reached waits for an environment to come back instead of starting one. A reaper
//! retires environments idle longer than the idle timeout. A retired pool (its version changed or
//! was deleted) retires its environments as they come back.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use invokd_model::{Function, FunctionName, Scope, VersionRecord};
use invokd_store::CodeStore;
use invokd_supervisor::{CodeDirs, Launch, Launcher, MemoryLimiter, Spares};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::RuntimeApiServer;
use crate::admission::{Admission, FunctionUsage, Permit, TenantSlot};
use crate::env::{Env, EnvSetup, StartError};
use crate::error::{Error, ThrottleReason};
use crate::logs::LogLimits;
use crate::rendezvous::InitOutcome;

/// What every pool shares.
pub(crate) struct PoolContext {
    pub scope: Scope,
    pub launcher: Launcher,
    pub code_store: CodeStore,
    pub code_dirs: CodeDirs,
    pub limiter: MemoryLimiter,
    pub spares: Option<Arc<Spares>>,
    pub runtime_api: Arc<dyn RuntimeApiServer>,
    pub sandboxes_dir: PathBuf,
    pub logs_dir: PathBuf,
    pub log_limits: LogLimits,
    /// The host's memory budget for environments, one permit per MB of `MemorySize`.
    pub capacity: Arc<Semaphore>,
    pub capacity_mb: u32,
    /// On-demand environments each version may have at once; `None`: as many as it is invoked
    /// concurrently (AWS).
    pub max_environments: Option<u32>,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    pub shutdown_grace: Duration,
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
    pub init_timeout: Duration,
    /// `AWS_ENDPOINT_URL_LAMBDA` for functions: this server's own address.
    pub self_endpoint: Option<String>,
    pub admission: Arc<Admission>,
    clock: tokio::time::Instant,
    next_env: AtomicU64,
    pools: Mutex<Vec<Weak<Pool>>>,
}

impl std::fmt::Debug for PoolContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolContext")
            .field("capacity_mb", &self.capacity_mb)
            .finish_non_exhaustive()
    }
}

pub(crate) struct PoolContextParts {
    pub scope: Scope,
    pub launcher: Launcher,
    pub code_store: CodeStore,
    pub code_dirs: CodeDirs,
    pub limiter: MemoryLimiter,
    pub spares: Option<Arc<Spares>>,
    pub runtime_api: Arc<dyn RuntimeApiServer>,
    pub sandboxes_dir: PathBuf,
    pub logs_dir: PathBuf,
    pub log_limits: LogLimits,
    pub capacity_mb: u32,
    pub max_environments: Option<u32>,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    pub shutdown_grace: Duration,
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
    pub init_timeout: Duration,
    pub self_endpoint: Option<String>,
    pub admission: Arc<Admission>,
}

impl PoolContext {
    pub fn new(p: PoolContextParts) -> Arc<PoolContext> {
        Arc::new(PoolContext {
            scope: p.scope,
            launcher: p.launcher,
            code_store: p.code_store,
            code_dirs: p.code_dirs,
            limiter: p.limiter,
            spares: p.spares,
            runtime_api: p.runtime_api,
            sandboxes_dir: p.sandboxes_dir,
            logs_dir: p.logs_dir,
            log_limits: p.log_limits,
            capacity: Arc::new(Semaphore::new(p.capacity_mb as usize)),
            capacity_mb: p.capacity_mb,
            max_environments: p.max_environments,
            shutdown: p.shutdown,
            tracker: p.tracker,
            shutdown_grace: p.shutdown_grace,
            idle_timeout: p.idle_timeout,
            max_lifetime: p.max_lifetime,
            init_timeout: p.init_timeout,
            self_endpoint: p.self_endpoint,
            admission: p.admission,
            clock: tokio::time::Instant::now(),
            next_env: AtomicU64::new(1),
            pools: Mutex::new(Vec::new()),
        })
    }

    pub fn next_env_id(&self) -> u64 {
        self.next_env.fetch_add(1, Ordering::Relaxed)
    }

    /// Milliseconds since the context was made, on tokio's clock (pausable in tests).
    pub fn clock_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    fn live_pools(&self) -> Vec<Arc<Pool>> {
        let mut pools = self.pools.lock().expect("pools lock");
        pools.retain(|p| p.strong_count() > 0);
        pools.iter().filter_map(Weak::upgrade).collect()
    }

    /// Retires the least recently used idle environments until `mb` MB of budget are being
    /// freed. Returns whether anything was retired.
    fn evict_idle(&self, mb: u32) -> bool {
        let mut candidates: Vec<(u64, Arc<Pool>, u64)> = Vec::new();
        for pool in self.live_pools() {
            for env in pool
                .idle
                .lock()
                .expect("idle lock")
                .envs
                .iter()
                .filter(|e| !e.is_provisioned())
            {
                candidates.push((env.last_used(), pool.clone(), env.id));
            }
        }
        candidates.sort_by_key(|c| c.0);
        let mut freed = 0u32;
        for (_, pool, id) in candidates {
            if freed >= mb {
                break;
            }
            if let Some(env) = pool.take_idle(id) {
                freed += pool.record.config.memory_size;
                env.retire();
            }
        }
        freed > 0
    }

    /// Retires environments idle longer than the idle timeout.
    pub fn reap_idle(&self) -> usize {
        self.reap_older_than(
            self.clock_ms()
                .saturating_sub(self.idle_timeout.as_millis() as u64),
        )
    }

    /// Retires environments last used before `cutoff_ms` (`u64::MAX`: every idle one).
    pub fn reap_older_than(&self, cutoff_ms: u64) -> usize {
        self.live_pools()
            .iter()
            .map(|p| p.reap_older_than(cutoff_ms))
            .sum()
    }
}

/// What a version needs before any of its environments can start: the unpacked package and the
/// command that starts its runtime. Computed once per pool.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub function_name: FunctionName,
    pub record: VersionRecord,
    pub task_root: PathBuf,
    /// `LD_LIBRARY_PATH`: see [`library_path`].
    pub library_path: String,
    pub launch: Result<Launch, StartError>,
}

/// The environments of one version.
pub(crate) struct Pool {
    ctx: Arc<PoolContext>,
    function_name: FunctionName,
    record: VersionRecord,
    prepared: OnceCell<Arc<Prepared>>,
    /// Idle environments, and invocations waiting for one.
    idle: Mutex<Idle>,
    /// Environments whose invocation ended but whose runtime has not polled again yet.
    returning: AtomicUsize,
    /// How long the last runtime of this version took to initialise, in milliseconds.
    last_init_ms: AtomicU64,
    /// One permit per on-demand environment under the environment cap, held until its process
    /// has stopped; `None` without a cap.
    slots: Option<Arc<Semaphore>>,
    retired: AtomicBool,
    /// Provisioned concurrency: environments to keep initialised, those that are, and why
    /// provisioning failed if it did.
    provisioned_target: AtomicU32,
    provisioned_ready: AtomicU32,
    provision_failure: Mutex<Option<String>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("function", &self.function_name)
            .field("version", &self.record.version)
            .finish_non_exhaustive()
    }
}

/// An environment lent to one invocation, with the invocation's concurrency permit; dropping it
/// frees the permit and gives the environment back.
#[derive(Debug)]
pub(crate) struct Lease {
    pub env: Arc<Env>,
    pool: Arc<Pool>,
    _permit: Permit,
}

impl Lease {
    /// Records how long the runtime took to initialise, which sets how long later invocations
    /// wait for a returning environment rather than start one.
    pub fn note_init(&self, init: Duration) {
        self.pool
            .last_init_ms
            .store(init.as_millis() as u64, Ordering::Relaxed);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.release(self.env.clone());
    }
}

/// How long an invocation waits at least for an environment that has answered but not yet polled
/// for its next event, before starting a new one. A runtime polls again within a millisecond on an
/// idle host but can take several on a loaded one.
const RETURNING_WAIT: Duration = Duration::from_millis(20);

/// How long it waits at most. Up to this, it waits as long as the version's last cold start took
/// (a Python runtime's init is 100 ms and more, and one may take tens of milliseconds to poll
/// again after its first answer); beyond it, a runtime that never polls again would hold up every
/// cold start too long.
const MAX_RETURNING_WAIT: Duration = Duration::from_millis(250);

/// A pool's idle environments and the invocations waiting for an environment on its way back,
/// under one lock so that an environment coming back is never missed by a waiter.
#[derive(Default)]
struct Idle {
    /// Most recently used last.
    envs: Vec<Arc<Env>>,
    waiters: VecDeque<Waiter>,
    /// Whether [`expire_waiters`] is running for this pool.
    expiring: bool,
}

/// An invocation waiting for an environment of its tenant (or of none) to come back, or for a
/// place under the environment cap.
struct Waiter {
    tenant: Option<Arc<str>>,
    handoff: oneshot::Sender<Handoff>,
    /// When an invocation waiting at the cap is throttled; `None` for one waiting for a returning
    /// environment, which stops waiting by itself.
    deadline: Option<tokio::time::Instant>,
}

/// What a waiting invocation is handed.
enum Freed {
    /// An environment that came back.
    Env(Arc<Env>),
    /// The place of an environment that stopped, for a new one.
    Slot(Slot),
}

/// Something freed on its way to a waiting invocation. If that invocation is gone before it takes
/// it (its future was dropped after the send), dropping the handoff offers an environment again
/// (a slot frees itself), so nothing is ever stranded outside the pool.
struct Handoff {
    freed: Option<Freed>,
    pool: Weak<Pool>,
}

/// A place under the environment cap (`--max-environments-per-function`), held by one
/// environment until its process has stopped. Dropping it hands the place to the first invocation
/// waiting for one, or gives it back to the cap: under the pool's idle lock, where an invocation
/// that finds the cap reached queues itself, so that a place freed meanwhile is never missed.
pub(crate) struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    pool: Weak<Pool>,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit, pool: &Arc<Pool>) -> Slot {
        Slot {
            permit: Some(permit),
            pool: Arc::downgrade(pool),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take()
            && let Some(pool) = self.pool.upgrade()
        {
            pool.free_slot(permit);
        }
    }
}

/// Leaves the waiters' queue: what was handed over meanwhile, if anything was. Closing first
/// means an environment or a slot is either ours now or offered elsewhere.
fn stop_waiting(rx: &mut oneshot::Receiver<Handoff>) -> Option<Freed> {
    rx.close();
    rx.try_recv().ok().map(Handoff::take)
}

impl Handoff {
    fn new(freed: Freed, pool: &Arc<Pool>) -> Handoff {
        Handoff {
            freed: Some(freed),
            pool: Arc::downgrade(pool),
        }
    }

    fn take(mut self) -> Freed {
        self.freed.take().expect("a handoff is taken once")
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        if let Some(Freed::Env(env)) = self.freed.take()
            && let Some(pool) = self.pool.upgrade()
        {
            pool.settle(env);
        }
    }
}

impl Idle {
    /// Queues an invocation for the next environment of `tenant` that comes back (or a slot).
    fn wait(
        &mut self,
        tenant: Option<&Arc<str>>,
        deadline: Option<tokio::time::Instant>,
    ) -> oneshot::Receiver<Handoff> {
        let (tx, rx) = oneshot::channel();
        self.waiters.push_back(Waiter {
            tenant: tenant.cloned(),
            handoff: tx,
            deadline,
        });
        rx
    }

    /// An idle environment for `tenant`: provisioned ones first, then the most recently used.
    fn pop(&mut self, tenant: Option<&Arc<str>>) -> Option<Arc<Env>> {
        let idle = &mut self.envs;
        idle.retain(|e| !e.is_retired());
        let at = match tenant {
            // An environment never changes tenant: only that tenant's own will do.
            Some(t) => idle
                .iter()
                .rposition(|e| e.tenant.as_deref() == Some(&**t))?,
            None => idle
                .iter()
                .rposition(|e| e.is_provisioned())
                .or_else(|| idle.iter().rposition(|e| e.tenant.is_none()))?,
        };
        Some(idle.remove(at))
    }
}

/// Throttles the invocations of `pool` that have waited at the environment cap for longer than
/// the function's timeout, and at shutdown all of them, by dropping their waiters (which closes
/// their channel); runs while any invocation waits at the cap.
async fn expire_waiters(pool: Weak<Pool>, shutdown: CancellationToken) {
    loop {
        let stopping = shutdown.is_cancelled();
        let next = {
            let Some(pool) = pool.upgrade() else { return };
            let mut idle = pool.idle.lock().expect("idle lock");
            let now = tokio::time::Instant::now();
            idle.waiters.retain(|w| {
                !w.handoff.is_closed() && w.deadline.is_none_or(|d| d > now && !stopping)
            });
            let next = idle.waiters.iter().filter_map(|w| w.deadline).min();
            idle.expiring = next.is_some();
            next
        };
        let Some(next) = next else { return };
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = shutdown.cancelled() => {}
        }
    }
}

/// Provisioning progress of a version, as GetProvisionedConcurrencyConfig reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionStatus {
    pub requested: u32,
    pub ready: u32,
    pub failure: Option<String>,
}

impl Pool {
    pub fn new(ctx: Arc<PoolContext>, function: &Function, record: VersionRecord) -> Arc<Pool> {
        let pool = Arc::new(Pool {
            ctx: ctx.clone(),
            function_name: function.name.clone(),
            record,
            prepared: OnceCell::new(),
            idle: Mutex::new(Idle::default()),
            returning: AtomicUsize::new(0),
            last_init_ms: AtomicU64::new(0),
            slots: ctx
                .max_environments
                .map(|n| Arc::new(Semaphore::new(n as usize))),
            retired: AtomicBool::new(false),
            provisioned_target: AtomicU32::new(0),
            provisioned_ready: AtomicU32::new(0),
            provision_failure: Mutex::new(None),
        });
        ctx.pools
            .lock()
            .expect("pools lock")
            .push(Arc::downgrade(&pool));
        pool
    }

    pub fn record(&self) -> &VersionRecord {
        &self.record
    }

    /// Unpacks the code and resolves the runtime command, once.
    pub async fn prepare(&self) -> Arc<Prepared> {
        self.prepared
            .get_or_init(|| async {
                let code = self.record.code.clone();
                let store = self.ctx.code_store.clone();
                let dirs = self.ctx.code_dirs.clone();
                let unpacked = tokio::task::spawn_blocking(move || {
                    dirs.ensure_unpacked(&code.sha256_hex, &store.path(&code.sha256_hex))
                        .map(|root| {
                            let library_path = library_path(&root);
                            (root, library_path)
                        })
                })
                .await;
                let mut library_path = String::new();
                let (task_root, launch) = match unpacked {
                    Ok(Ok((root, path))) => {
                        library_path = path;
                        let c = &self.record.config;
                        let launch = self
                            .ctx
                            .launcher
                            .launch(&c.runtime, &root, c.handler.as_deref())
                            .await
                            .map_err(StartError::Launch);
                        (root, launch)
                    }
                    Ok(Err(e)) => (PathBuf::new(), Err(StartError::Unpack(e.to_string()))),
                    Err(e) => (PathBuf::new(), Err(StartError::Unpack(e.to_string()))),
                };
                Arc::new(Prepared {
                    function_name: self.function_name.clone(),
                    record: self.record.clone(),
                    task_root,
                    library_path,
                    launch,
                })
            })
            .await
            .clone()
    }

    /// An idle environment (provisioned ones first), or a new one within the function's scaling
    /// rate and the host's budget. `permit` is the invocation's admitted concurrency. With a
    /// `tenant`, only that tenant's environments qualify, and a new one is dedicated to it.
    ///
    /// With nothing idle it waits, rather than start an environment, for one on its way back
    /// (about as long as starting one takes), and at the environment cap for one to come back or
    /// to stop and leave its slot, for at most the function's timeout (the longest any invocation
    /// holds an environment); then it throttles as AWS does at a concurrency limit.
    pub async fn acquire(
        self: &Arc<Self>,
        usage: &Arc<FunctionUsage>,
        permit: Permit,
        tenant: Option<&Arc<str>>,
    ) -> Result<Lease, Error> {
        let mut waited_for_returning = false;
        let slot = loop {
            let (mut rx, returning_wait) = {
                let mut idle = self.idle.lock().expect("idle lock");
                if let Some(env) = idle.pop(tenant) {
                    return Ok(self.lease(env, permit));
                }
                // Every returning environment may be promised to an earlier invocation already.
                // Invocations that stopped waiting leave closed waiters behind, which handing
                // something over skips and drops; not scanning for them on every call leaves a
                // few counted as promised, which only makes an invocation start one sooner.
                if waited_for_returning {
                    idle.waiters.retain(|w| !w.handoff.is_closed());
                }
                if !waited_for_returning
                    && self.returning.load(Ordering::Acquire) > idle.waiters.len()
                {
                    waited_for_returning = true;
                    (idle.wait(tenant, None), Some(self.returning_wait()))
                } else {
                    let Some(slots) = &self.slots else { break None };
                    // Taken under the idle lock, where slots are given back: see `Slot`.
                    if let Ok(p) = slots.clone().try_acquire_owned() {
                        break Some(Slot::new(p, self));
                    }
                    // What is idle serves other tenants: the least recently used gives way.
                    if tenant.is_some()
                        && let Some(at) = idle.envs.iter().position(|e| !e.is_provisioned())
                    {
                        idle.envs.remove(at).retire();
                    }
                    // One timer for all the pool's waiters at the cap rather than one each.
                    let timeout = Duration::from_secs(u64::from(self.record.config.timeout));
                    let rx = idle.wait(tenant, Some(tokio::time::Instant::now() + timeout));
                    if !std::mem::replace(&mut idle.expiring, true) {
                        let pool = Arc::downgrade(self);
                        let shutdown = self.ctx.shutdown.clone();
                        self.ctx.tracker.spawn(expire_waiters(pool, shutdown));
                    }
                    (rx, None)
                }
            };
            let freed = match returning_wait {
                Some(wait) => match tokio::time::timeout(wait, &mut rx).await {
                    Ok(Ok(handoff)) => Some(handoff.take()),
                    _ => stop_waiting(&mut rx),
                },
                // Closed without a handoff: the wait expired.
                None => (&mut rx).await.ok().map(Handoff::take),
            };
            match freed {
                Some(Freed::Env(env)) => return Ok(self.lease(env, permit)),
                Some(Freed::Slot(slot)) => break Some(slot),
                None if returning_wait.is_none() => {
                    return Err(Error::Throttled(ThrottleReason::HostCapacityExceeded));
                }
                None => {}
            }
        };
        if !self.ctx.admission.may_scale(usage) {
            return Err(Error::Throttled(
                ThrottleReason::ConcurrentInvocationLimitExceeded,
            ));
        }
        let tenant = match tenant {
            Some(t) => Some((
                t.clone(),
                self.ctx
                    .admission
                    .tenant_slot(usage)
                    .ok_or(Error::Throttled(
                        ThrottleReason::TenantEnvironmentLimitExceeded,
                    ))?,
            )),
            None => None,
        };
        let env = self.new_env("on-demand", tenant, slot).await?;
        Ok(self.lease(env, permit))
    }

    /// How long to wait for an environment on its way back: about what starting one costs.
    fn returning_wait(&self) -> Duration {
        Duration::from_millis(self.last_init_ms.load(Ordering::Relaxed))
            .clamp(RETURNING_WAIT, MAX_RETURNING_WAIT)
    }

    fn lease(self: &Arc<Self>, env: Arc<Env>, permit: Permit) -> Lease {
        Lease {
            env,
            pool: self.clone(),
            _permit: permit,
        }
    }

    /// Creates an environment (without starting its runtime) within the host's budget; `slot`
    /// is its place under the environment cap, if there is one.
    async fn new_env(
        self: &Arc<Self>,
        initialization_type: &'static str,
        tenant: Option<(Arc<str>, TenantSlot)>,
        slot: Option<Slot>,
    ) -> Result<Arc<Env>, Error> {
        let prepared = self.prepare().await;
        let mb = self
            .record
            .config
            .memory_size
            .min(self.ctx.capacity_mb)
            .max(1);
        let capacity = match self.ctx.capacity.clone().try_acquire_many_owned(mb) {
            Ok(p) => p,
            Err(_) => {
                if !self.ctx.evict_idle(mb) {
                    return Err(Error::Throttled(ThrottleReason::HostCapacityExceeded));
                }
                // Evicted environments hand their budget back once their process has stopped.
                let wait = self.ctx.shutdown_grace + Duration::from_secs(2);
                match tokio::time::timeout(wait, self.ctx.capacity.clone().acquire_many_owned(mb))
                    .await
                {
                    Ok(Ok(p)) => p,
                    _ => return Err(Error::Throttled(ThrottleReason::HostCapacityExceeded)),
                }
            }
        };
        let setup = EnvSetup {
            ctx: self.ctx.clone(),
            prepared,
            capacity,
            slot,
            initialization_type,
            tenant,
        };
        Env::create(setup)
            .await
            .map_err(|e| Error::Internal(format!("creating an environment: {e}")))
    }

    fn take_idle(&self, id: u64) -> Option<Arc<Env>> {
        let idle = &mut self.idle.lock().expect("idle lock").envs;
        let i = idle.iter().position(|e| e.id == id)?;
        Some(idle.remove(i))
    }

    /// Gives `env` back once its runtime polls for the next event (see
    /// [`crate::rendezvous::Rendezvous::when_polling`]).
    fn release(self: &Arc<Self>, env: Arc<Env>) {
        if self.retired.load(Ordering::Acquire) || env.is_retired() {
            self.retire_env(&env);
            return;
        }
        self.returning.fetch_add(1, Ordering::AcqRel);
        let pool = self.clone();
        let back = env.clone();
        env.rendezvous
            .when_polling(Box::new(move || pool.make_idle(back)));
    }

    fn make_idle(self: &Arc<Self>, env: Arc<Env>) {
        self.returning.fetch_sub(1, Ordering::AcqRel);
        self.settle(env);
    }

    /// Puts a free environment back to work: retired if it should go, else offered.
    fn settle(self: &Arc<Self>, env: Arc<Env>) {
        let surplus = env.is_provisioned()
            && self.provisioned_ready.load(Ordering::Acquire)
                > self.provisioned_target.load(Ordering::Acquire);
        // Provisioned environments are kept for as long as their configuration stands.
        let expired = !env.is_provisioned()
            && self.ctx.clock_ms().saturating_sub(env.created_at())
                >= self.ctx.max_lifetime.as_millis() as u64;
        if self.retired.load(Ordering::Acquire) || env.is_retired() || surplus || expired {
            self.retire_env(&env);
            return;
        }
        env.touch(self.ctx.clock_ms());
        self.offer(env);
        // A retire may have raced with the push: make sure nothing stays behind.
        if self.retired.load(Ordering::Acquire) {
            self.retire();
        }
    }

    /// Hands a free environment to the first invocation waiting for one of its tenant, or
    /// keeps it idle.
    fn offer(self: &Arc<Self>, env: Arc<Env>) {
        let mut idle = self.idle.lock().expect("idle lock");
        let tenant = env.tenant.clone();
        let mut handoff = Handoff::new(Freed::Env(env), self);
        while let Some(at) = idle.waiters.iter().position(|w| w.tenant == tenant) {
            let waiter = idle.waiters.remove(at).expect("position is in range");
            match waiter.handoff.send(handoff) {
                Ok(()) => return,
                // That invocation stopped waiting: try the next.
                Err(back) => handoff = back,
            }
        }
        let Freed::Env(env) = handoff.take() else {
            unreachable!("only an environment is offered here")
        };
        // At the cap, invocations of other tenants may be waiting for a slot: an environment
        // none of them can use stops to free its own.
        let at_cap = self
            .slots
            .as_ref()
            .is_some_and(|s| s.available_permits() == 0);
        if at_cap && !env.is_provisioned() {
            idle.waiters.retain(|w| !w.handoff.is_closed());
            if !idle.waiters.is_empty() {
                drop(idle);
                env.retire();
                return;
            }
        }
        idle.envs.push(env);
    }

    /// Hands the slot of an environment that stopped to the first invocation still waiting (of
    /// any tenant: a new environment can be anyone's), or gives it back to the cap.
    fn free_slot(self: &Arc<Self>, permit: OwnedSemaphorePermit) {
        let mut idle = self.idle.lock().expect("idle lock");
        let mut handoff = Handoff::new(Freed::Slot(Slot::new(permit, self)), self);
        while let Some(waiter) = idle.waiters.pop_front() {
            match waiter.handoff.send(handoff) {
                Ok(()) => return,
                Err(back) => handoff = back,
            }
        }
        // Given back while the lock is held: see `Slot`.
        if let Freed::Slot(mut slot) = handoff.take() {
            drop(slot.permit.take());
        }
    }

    fn retire_env(&self, env: &Env) {
        if env.is_provisioned() && !env.is_retired() {
            self.provisioned_ready.fetch_sub(1, Ordering::AcqRel);
        }
        env.retire();
    }

    /// No new invocations go to this version's environments; idle ones stop now, busy ones when
    /// their invocation ends.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        let idle = std::mem::take(&mut self.idle.lock().expect("idle lock").envs);
        for env in idle {
            self.retire_env(&env);
        }
    }

    fn reap_older_than(&self, cutoff_ms: u64) -> usize {
        let mut idle = self.idle.lock().expect("idle lock");
        // Provisioned environments are kept warm: the reaper never takes them.
        let (old, keep): (Vec<_>, Vec<_>) = idle
            .envs
            .drain(..)
            .partition(|e| !e.is_provisioned() && e.last_used() < cutoff_ms);
        idle.envs = keep;
        drop(idle);
        let n = old.len();
        for env in old {
            env.retire();
        }
        n
    }

    /// Keeps `target` environments initialised ahead of invocations (provisioned concurrency),
    /// starting the missing ones in the background and retiring surplus idle ones.
    pub fn provision(self: &Arc<Self>, target: u32) {
        self.provisioned_target.store(target, Ordering::Release);
        *self.provision_failure.lock().expect("provision lock") = None;
        // Surplus idle environments go now; busy ones when they come back.
        {
            let idle = &mut self.idle.lock().expect("idle lock").envs;
            while self.provisioned_ready.load(Ordering::Acquire) > target {
                let Some(at) = idle.iter().position(|e| e.is_provisioned()) else {
                    break;
                };
                let env = idle.remove(at);
                self.retire_env(&env);
            }
        }
        let missing = target.saturating_sub(self.provisioned_ready.load(Ordering::Acquire));
        for _ in 0..missing {
            let pool = self.clone();
            self.ctx
                .tracker
                .spawn(async move { pool.provision_one().await });
        }
    }

    async fn provision_one(self: Arc<Self>) {
        let result = async {
            let env = self.new_env("provisioned-concurrency", None, None).await?;
            let ready = env.start();
            match tokio::time::timeout(self.ctx.init_timeout, ready).await {
                Ok(Ok(InitOutcome::Ready)) => Ok(env),
                other => {
                    env.retire();
                    Err(Error::Internal(match other {
                        Ok(Ok(InitOutcome::InitError { body, .. })) => {
                            format!(
                                "FUNCTION_ERROR_INIT_FAILURE: {}",
                                String::from_utf8_lossy(&body)
                            )
                        }
                        Ok(Ok(InitOutcome::Exited { reason, .. })) => {
                            format!(
                                "FUNCTION_ERROR_INIT_FAILURE: Runtime exited with error: {}",
                                reason.aws_text()
                            )
                        }
                        Err(_) => "FUNCTION_ERROR_INIT_FAILURE: Init timed out".into(),
                        _ => "FUNCTION_ERROR_INIT_FAILURE: the runtime could not be started".into(),
                    }))
                }
            }
        }
        .await;
        match result {
            Ok(env)
                if !self.retired.load(Ordering::Acquire)
                    && self.provisioned_ready.load(Ordering::Acquire)
                        < self.provisioned_target.load(Ordering::Acquire) =>
            {
                self.provisioned_ready.fetch_add(1, Ordering::AcqRel);
                env.touch(self.ctx.clock_ms());
                self.offer(env);
            }
            Ok(env) => env.retire(),
            Err(e) => {
                let reason = match e {
                    Error::Throttled(_) => {
                        "INSUFFICIENT_CAPACITY: the host's memory budget is spent".to_owned()
                    }
                    Error::Internal(m) => m,
                    other => other.to_string(),
                };
                *self.provision_failure.lock().expect("provision lock") = Some(reason);
            }
        }
    }

    pub fn provision_status(&self) -> ProvisionStatus {
        let requested = self.provisioned_target.load(Ordering::Acquire);
        ProvisionStatus {
            requested,
            ready: self
                .provisioned_ready
                .load(Ordering::Acquire)
                .min(requested),
            failure: self
                .provision_failure
                .lock()
                .expect("provision lock")
                .clone(),
        }
    }
}
/// Runs the idle reaper until shutdown.
pub(crate) async fn reaper(ctx: Arc<PoolContext>) {
    let period = (ctx.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = ctx.shutdown.cancelled() => return,
            _ = tick.tick() => {
                let n = ctx.reap_idle();
                if n > 0 {
                    tracing::debug!(environments = n, "retired idle environments");
                }
            }
        }
    }
}

/// Variables a customer may not set (AWS's reserved keys).
pub const RESERVED_VARIABLES: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// AWS's `LD_LIBRARY_PATH` (`/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:
/// /var/task:/var/task/lib:/opt/lib`, the task root being `task_root` here) without the
/// directories that do not exist on this host.
///
/// The dynamic loader of every dynamically linked runtime tries each directory, and its
/// `glibc-hwcaps` subdirectories, for each library before the system's: AWS's own directories
/// (`/var/lang/lib`, `/var/runtime`, ...) do not exist outside its images, and looking in them
/// cost each cold start about 0.1 ms (docs/benchmarks.md). What exists is kept in AWS's order,
/// so `$LAMBDA_TASK_ROOT/lib` still comes before the system's libraries. Blocking (it looks at
/// the file system): called once per version, with its code.
fn library_path(task_root: &Path) -> String {
    let task_lib = task_root.join("lib");
    let aws_order: [&Path; 8] = [
        Path::new("/var/lang/lib"),
        Path::new("/lib64"),
        Path::new("/usr/lib64"),
        Path::new("/var/runtime"),
        Path::new("/var/runtime/lib"),
        task_root,
        &task_lib,
        Path::new("/opt/lib"),
    ];
    let existing: Vec<String> = aws_order
        .iter()
        .filter(|dir| dir.is_dir())
        .map(|dir| dir.display().to_string())
        .collect();
    existing.join(":")
}

/// The complete environment of a runtime process, as AWS composes it: overridable defaults, then
/// the runtime family's variables, then the customer's, then the reserved platform variables.
pub(crate) fn lambda_environment(
    ctx: &PoolContext,
    prepared: &Prepared,
    env: &Env,
    sandbox: &Path,
    launch: &Launch,
) -> Vec<(String, String)> {
    let c = &prepared.record.config;
    let task_root = prepared.task_root.display().to_string();
    let name = prepared.function_name.as_str();
    let mut vars: Vec<(String, String)> = vec![
        (
            "PATH".into(),
            "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin".into(),
        ),
        ("LANG".into(), "en_US.UTF-8".into()),
        ("LD_LIBRARY_PATH".into(), prepared.library_path.clone()),
        ("TMPDIR".into(), sandbox.join("tmp").display().to_string()),
    ];
    if let Some(endpoint) = &ctx.self_endpoint {
        vars.push(("AWS_ENDPOINT_URL_LAMBDA".into(), endpoint.clone()));
    }
    vars.extend(launch.env.iter().cloned());
    if let Some(customer) = &c.environment {
        vars.extend(customer.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let log_group = c
        .logging
        .log_group
        .clone()
        .unwrap_or_else(|| format!("/aws/lambda/{name}"));
    let mut reserved: Vec<(String, String)> = vec![
        ("AWS_LAMBDA_RUNTIME_API".into(), env.runtime_api.to_string()),
        ("LAMBDA_TASK_ROOT".into(), task_root.clone()),
        ("LAMBDA_RUNTIME_DIR".into(), task_root),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), name.to_owned()),
        (
            "AWS_LAMBDA_FUNCTION_VERSION".into(),
            prepared.record.version.to_string(),
        ),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            c.memory_size.to_string(),
        ),
        ("AWS_LAMBDA_LOG_GROUP_NAME".into(), log_group),
        ("AWS_LAMBDA_LOG_STREAM_NAME".into(), env.log.name.clone()),
        ("AWS_REGION".into(), ctx.scope.region.clone()),
        ("AWS_DEFAULT_REGION".into(), ctx.scope.region.clone()),
        (
            "AWS_LAMBDA_INITIALIZATION_TYPE".into(),
            env.initialization_type.into(),
        ),
        // Functions get credentials an SDK accepts; they are not the server's own.
        ("AWS_ACCESS_KEY_ID".into(), "AKIAINVOKDFUNCTION00".into()),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            "invokd-function-secret-access-key".into(),
        ),
        (
            "AWS_SESSION_TOKEN".into(),
            "invokd-function-session-token".into(),
        ),
        (
            "AWS_XRAY_DAEMON_ADDRESS".into(),
            "169.254.79.129:2000".into(),
        ),
        ("_AWS_XRAY_DAEMON_ADDRESS".into(), "169.254.79.129".into()),
        ("_AWS_XRAY_DAEMON_PORT".into(), "2000".into()),
        ("AWS_XRAY_CONTEXT_MISSING".into(), "LOG_ERROR".into()),
        ("_X_AMZN_TRACE_ID".into(), crate::ids::trace_header(None).0),
        ("TZ".into(), ":UTC".into()),
    ];
    if let Some(h) = &c.handler {
        reserved.push(("_HANDLER".into(), h.clone()));
    }
    if let Some(e) = c.runtime.execution_env() {
        reserved.push(("AWS_EXECUTION_ENV".into(), e));
    }
    if c.logging.log_format == invokd_model::LogFormat::Json {
        reserved.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
        if let Some(level) = &c.logging.application_log_level {
            reserved.push(("AWS_LAMBDA_LOG_LEVEL".into(), level.clone()));
        }
    }
    vars.extend(reserved);
    // Later entries win, as in a shell's environment.
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<(String, String)> = vars
        .into_iter()
        .rev()
        .filter(|(k, _)| seen.insert(k.clone()))
        .collect();
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::library_path;

    #[test]
    fn the_library_path_keeps_aws_order_without_directories_that_do_not_exist() {
        let code = tempfile::tempdir().unwrap();
        let root = code.path();
        let path = library_path(root);
        let parts: Vec<&str> = path.split(':').collect();
        assert!(parts.contains(&root.to_str().unwrap()), "{path}");
        // AWS's own directories are there exactly when this host has them (outside AWS's
        // images it has not /var/lang/lib or /var/runtime, but has /lib64).
        for dir in [
            "/var/lang/lib",
            "/lib64",
            "/usr/lib64",
            "/var/runtime",
            "/opt/lib",
        ] {
            let exists = std::path::Path::new(dir).is_dir();
            assert_eq!(parts.contains(&dir), exists, "{dir} in {path}");
        }
        assert!(
            !parts.contains(&root.join("lib").to_str().unwrap()),
            "{path}"
        );

        // The package's own lib/ comes right after the task root, before /opt/lib.
        std::fs::create_dir(root.join("lib")).unwrap();
        let path = library_path(root);
        let lib = root.join("lib");
        let at = |dir: &str| path.split(':').position(|p| p == dir);
        assert_eq!(
            at(lib.to_str().unwrap()),
            at(root.to_str().unwrap()).map(|i| i + 1),
            "{path}"
        );
    }
}
