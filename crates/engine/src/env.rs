//! An execution environment: one task that owns one runtime process at a time, its sandbox
//! directory, its log stream and its own Runtime API listener.
//!
//! The environment outlives its processes. A process is started on demand ([`Env::start`]),
//! killed on timeout ([`Env::kill`]) or when it crashes, and the next invocation starts a new one
//! in the same sandbox, as AWS re-initialises a runtime but keeps `/tmp`. Retiring the
//! environment stops the process group, closes the listener and removes the sandbox.
//!
//! Commands arrive on a channel; the task also reaps the process, moves its output into the
//! log stream and writes the stream's deferred lines. The invoke path never talks to the task
//! on the hot path: it meets the runtime at the [`Rendezvous`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use invokd_supervisor::{ExitReason, Launch, LaunchError, MemoryProbe, Process, SpawnSpec};
use tokio::net::unix::pipe;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::admission::TenantSlot;
use crate::logs::LogStream;
use crate::pool::{PoolContext, Prepared, Slot};
use crate::rendezvous::{InitOutcome, Rendezvous};

/// How stale the `Max Memory Used` of a REPORT line may be. Reading the peak is a file read
/// (the cgroup's counter, or `/proc`): once every invocation it cost a busy environment more than
/// the rest of its REPORT line; a peak reached longer ago than this is always in the line.
const MEMORY_READ_INTERVAL_MS: u64 = 100;

/// Why a runtime could not be started.
#[derive(Debug, Clone)]
pub(crate) enum StartError {
    Launch(LaunchError),
    Spawn(String),
    Unpack(String),
}

enum Command {
    Start(oneshot::Sender<InitOutcome>),
    /// Kill the process now; the sender learns when it is gone.
    Kill(oneshot::Sender<()>),
    Retire,
}

/// What the invoke path may read about the current process.
#[derive(Debug, Default)]
struct ProcessView {
    running: bool,
    output: Option<Arc<pipe::Receiver>>,
    memory: Option<MemoryProbe>,
}

/// Handle to one execution environment.
#[derive(Debug)]
pub(crate) struct Env {
    pub id: u64,
    pub rendezvous: Arc<Rendezvous>,
    pub log: Arc<LogStream>,
    pub runtime_api: SocketAddr,
    /// `AWS_LAMBDA_INITIALIZATION_TYPE`.
    pub initialization_type: &'static str,
    /// The one tenant this environment serves, for its whole life (tenant-isolated functions).
    pub tenant: Option<Arc<str>>,
    commands: mpsc::UnboundedSender<Command>,
    process: Mutex<ProcessView>,
    /// Set once the environment must not be reused.
    retired: AtomicBool,
    /// Milliseconds (on the pool context's clock) of its creation and of its last use.
    created_at: u64,
    last_used: AtomicU64,
    /// Cached peak memory (MB) and when it was read, for REPORT lines.
    memory_mb: AtomicU64,
    memory_read_at: AtomicU64,
}

pub(crate) struct EnvSetup {
    pub ctx: Arc<PoolContext>,
    pub prepared: Arc<Prepared>,
    pub capacity: OwnedSemaphorePermit,
    /// Its place under the function's environment cap, if there is one.
    pub slot: Option<Slot>,
    pub initialization_type: &'static str,
    /// The tenant it is dedicated to, with its place in the function's tenant-environment limit.
    pub tenant: Option<(Arc<str>, TenantSlot)>,
}

impl Env {
    /// Creates an environment (binding its Runtime API listener) without starting a process.
    pub async fn create(setup: EnvSetup) -> std::io::Result<Arc<Env>> {
        let EnvSetup {
            ctx,
            prepared,
            capacity,
            slot,
            initialization_type,
            tenant,
        } = setup;
        let (tenant, tenant_slot) = tenant.unzip();
        let id = ctx.next_env_id();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let runtime_api = listener.local_addr()?;
        let stream_name = crate::ids::log_stream_name(&prepared.record.version.to_string());
        let log = Arc::new(LogStream::new(
            &ctx.logs_dir,
            prepared.function_name.as_str(),
            stream_name,
            ctx.log_limits,
        ));
        let sandbox = ctx.sandboxes_dir.join(format!("env-{id}"));
        std::fs::create_dir_all(sandbox.join("tmp"))?;
        let (commands, rx) = mpsc::unbounded_channel();
        let env = Arc::new(Env {
            id,
            rendezvous: Arc::new(Rendezvous::new()),
            log,
            runtime_api,
            initialization_type,
            tenant,
            commands,
            process: Mutex::new(ProcessView::default()),
            retired: AtomicBool::new(false),
            created_at: ctx.clock_ms(),
            last_used: AtomicU64::new(ctx.clock_ms()),
            memory_mb: AtomicU64::new(0),
            memory_read_at: AtomicU64::new(0),
        });
        let token = ctx.shutdown.child_token();
        let api = crate::RuntimeApi {
            rendezvous: env.rendezvous.clone(),
        };
        ctx.tracker
            .spawn(ctx.runtime_api.serve(listener, api, token.clone()));
        let task = EnvTask {
            env: env.clone(),
            ctx: ctx.clone(),
            prepared,
            sandbox,
            token,
            _capacity: capacity,
            _slot: slot,
            _tenant_slot: tenant_slot,
        };
        ctx.tracker.spawn(task.run(rx));
        Ok(env)
    }

    /// Starts a new runtime process; the receiver learns how its initialisation ends.
    pub fn start(&self) -> oneshot::Receiver<InitOutcome> {
        let (tx, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(Command::Start(tx))) =
            self.commands.send(Command::Start(tx))
        {
            let _ = tx.send(InitOutcome::Failed(StartError::Spawn(
                "environment is gone".into(),
            )));
        }
        rx
    }

    /// Kills the current process now (timeout); the environment stays for a restart. The
    /// receiver resolves once the process is gone.
    pub fn kill(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Command::Kill(tx));
        rx
    }

    /// Stops the process and removes the environment.
    pub fn retire(&self) {
        if !self.retired.swap(true, Ordering::AcqRel) {
            let _ = self.commands.send(Command::Retire);
        }
    }

    /// Whether the environment was initialised for provisioned concurrency.
    pub fn is_provisioned(&self) -> bool {
        self.initialization_type == "provisioned-concurrency"
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    pub fn is_running(&self) -> bool {
        self.process.lock().expect("env lock").running
    }

    /// Moves the process's pending output into the log, so that what a function printed before
    /// answering precedes the END line.
    pub fn drain_output(&self) {
        let output = self.process.lock().expect("env lock").output.clone();
        if let Some(output) = output {
            self.log.drain(&output);
        }
    }

    /// Peak memory in MB for REPORT lines, re-read at most every [`MEMORY_READ_INTERVAL_MS`].
    pub fn max_memory_mb(&self, now_ms: u64) -> u64 {
        let read_at = self.memory_read_at.load(Ordering::Relaxed);
        if now_ms.saturating_sub(read_at) >= MEMORY_READ_INTERVAL_MS || read_at == 0 {
            let probe = self.process.lock().expect("env lock").memory.clone();
            if let Some(bytes) = probe.and_then(|p| p.peak_bytes()) {
                self.memory_mb
                    .store(bytes.div_ceil(1 << 20), Ordering::Relaxed);
            }
            self.memory_read_at.store(now_ms.max(1), Ordering::Relaxed);
        }
        self.memory_mb.load(Ordering::Relaxed)
    }

    pub fn touch(&self, now_ms: u64) {
        self.last_used.store(now_ms, Ordering::Relaxed);
    }

    pub fn last_used(&self) -> u64 {
        self.last_used.load(Ordering::Relaxed)
    }

    pub fn created_at(&self) -> u64 {
        self.created_at
    }
}

struct EnvTask {
    env: Arc<Env>,
    ctx: Arc<PoolContext>,
    prepared: Arc<Prepared>,
    sandbox: PathBuf,
    token: CancellationToken,
    _capacity: OwnedSemaphorePermit,
    /// The place under the environment cap and in the tenant-environment limit: released, like
    /// the memory budget, only once the process has stopped.
    _slot: Option<Slot>,
    _tenant_slot: Option<TenantSlot>,
}

impl EnvTask {
    async fn run(self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut process: Option<Process> = None;
        let mut output: Option<Arc<pipe::Receiver>> = None;
        loop {
            tokio::select! {
                biased;
                () = self.token.cancelled() => break,
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Retire) => break,
                    Some(Command::Start(ready)) => {
                        if let Some(mut old) = process.take() {
                            self.stopped(&mut old, Duration::ZERO).await;
                        }
                        // Initialising before the process exists: a fast runtime may poll
                        // before `spawn` has even returned.
                        self.env.rendezvous.begin_init(ready);
                        match self.spawn().await {
                            Ok(p) => {
                                output = Some(p.output());
                                let mut view = self.env.process.lock().expect("env lock");
                                *view = ProcessView { running: true, output: output.clone(), memory: Some(p.memory_probe()) };
                                drop(view);
                                process = Some(p);
                                // While the runtime starts: off the cold start's path.
                                self.env.log.create_file();
                            }
                            Err(e) => self.env.rendezvous.start_failed(e),
                        }
                    }
                    Some(Command::Kill(done)) => {
                        if let Some(mut p) = process.take() {
                            self.stopped(&mut p, Duration::ZERO).await;
                        }
                        let _ = done.send(());
                    }
                },
                reason = wait(process.as_mut()) => {
                    if let Some(mut p) = process.take() {
                        self.exited(&mut p, reason);
                    }
                }
                () = self.env.log.deferred_flush() => {}
                readable = readable(output.as_deref()) => {
                    let open = readable.is_ok() && output.as_ref().is_some_and(|o| self.env.log.drain(o));
                    if !open {
                        output = None;
                    }
                }
            }
        }
        self.env.retired.store(true, Ordering::Release);
        if let Some(mut p) = process.take() {
            self.stopped(&mut p, self.ctx.shutdown_grace).await;
        }
        self.token.cancel();
        self.env.log.flush();
        let _ = invokd_supervisor::unpack::make_writable_and_remove(&self.sandbox);
    }

    /// Stops `p` on purpose and tells anyone still waiting on it.
    async fn stopped(&self, p: &mut Process, grace: Duration) {
        self.env.rendezvous.stopping();
        let reason = p.stop(grace).await;
        self.exited(p, reason);
    }

    fn exited(&self, p: &mut Process, reason: ExitReason) {
        let oom = p.oom_killed();
        self.env.log.drain(&p.output());
        {
            let mut view = self.env.process.lock().expect("env lock");
            view.running = false;
            view.output = None;
        }
        self.env.rendezvous.process_exited(reason, oom);
        self.env.log.flush();
    }

    async fn spawn(&self) -> Result<Process, StartError> {
        let launch: &Launch = self.prepared.launch.as_ref().map_err(Clone::clone)?;
        let env = crate::pool::lambda_environment(
            &self.ctx,
            &self.prepared,
            &self.env,
            &self.sandbox,
            launch,
        );
        let record = &self.prepared.record;
        let spec = SpawnSpec {
            program: launch.program.clone(),
            args: launch.args.clone(),
            cwd: self.prepared.task_root.clone(),
            env,
            memory_limit: Some(u64::from(record.config.memory_size) << 20),
            name: format!("env-{}", self.env.id),
        };
        let p = match &self.ctx.spares {
            Some(spares) => spares.spawn(&spec, &self.ctx.limiter).await,
            None => Process::spawn(&spec, &self.ctx.limiter),
        }
        .map_err(|e| StartError::Spawn(e.to_string()))?;
        self.env.log.append(
            format!(
                "INIT_START Runtime Version: {runtime}.invokd\tRuntime Version ARN: arn:{}:lambda:{}::runtime:invokd-{runtime}\n",
                self.ctx.scope.partition,
                self.ctx.scope.region,
                runtime = record.config.runtime
            )
            .as_bytes(),
        );
        Ok(p)
    }
}

async fn wait(p: Option<&mut Process>) -> ExitReason {
    match p {
        Some(p) => p.wait().await,
        None => std::future::pending().await,
    }
}

async fn readable(output: Option<&pipe::Receiver>) -> std::io::Result<()> {
    match output {
        Some(o) => o.readable().await,
        None => std::future::pending().await,
    }
}
