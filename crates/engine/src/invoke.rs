//! The invoke path: resolve the function, validate the call, run it in an environment.
//!
//! A synchronous invocation takes an environment from its version's pool (starting a runtime if
//! the environment has none), delivers the event at the environment's rendezvous and waits for
//! the runtime's answer until the function's deadline. Every platform failure (timeout, crash,
//! out of memory, oversized response, init failure) becomes the error payload AWS returns with
//! `X-Amz-Function-Error: Unhandled`. The payload is the caller's `Bytes` all the way to the
//! runtime's socket; nothing here copies or re-serialises it.
//!
//! If the caller goes away mid-invocation the invocation still runs to its end, as on AWS, and
//! only then is the environment given back (see [`InFlight`]).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use invokd_model::{
    FunctionError, InvocationType, InvokeComplete, InvokeOutcome, InvokeRequest, LogType,
    Qualifier, StreamEvent, VersionId,
};
use invokd_supervisor::{ExitReason, LaunchError};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::env::{Env, StartError};
use crate::error::{Error, Result};
use crate::ids::{now_ms, shared_uuid, trace_header, uuid};
use crate::pool::{Lease, Pool};
use crate::registry::FunctionEntry;
use crate::rendezvous::{Event, InitOutcome, Reply, StreamFailure, StreamPiece};
use crate::{Engine, MAX_RESPONSE_BYTES};

/// Largest synchronous request payload.
pub const MAX_SYNC_PAYLOAD: usize = 6_291_456;
/// Largest `Event` payload.
pub const MAX_EVENT_PAYLOAD: usize = 1_048_576;
/// Largest `X-Amz-Client-Context`, in bytes of base64.
pub const MAX_CLIENT_CONTEXT: usize = 3583;

/// Events buffered between a streaming invocation and its caller's connection.
const STREAM_EVENTS: usize = 16;

/// An InvokeWithResponseStream response under way: its events arrive on `events`, chunks first
/// and `Complete` last.
#[derive(Debug)]
pub struct ResponseStream {
    pub request_id: String,
    pub executed_version: VersionId,
    pub events: mpsc::Receiver<StreamEvent>,
}

/// What InvokeWithResponseStream produced.
#[derive(Debug)]
pub enum StreamOutcome {
    Streaming(ResponseStream),
    /// A `DryRun`: the call would have been allowed.
    DryRun {
        request_id: String,
    },
}

/// A resolved invocation target.
pub(crate) struct Target {
    pub entry: Arc<FunctionEntry>,
    pub version: VersionId,
    pub pool: Arc<Pool>,
    /// The function ARN as the caller addressed it (`Lambda-Runtime-Invoked-Function-Arn`).
    pub invoked_arn: ByteString,
}

impl Engine {
    /// Invoke.
    pub async fn invoke(&self, req: InvokeRequest) -> Result<InvokeOutcome> {
        let target = self.resolve_invoke(&req)?;
        check_payload(req.invocation_type, &req.payload)?;
        let client_context = decode_client_context(req.client_context.as_deref())?;
        if req.durable_execution_name.is_some() {
            return Err(Error::InvalidParameter(
                "Durable functions are not supported by invokd yet: remove X-Amz-Durable-Execution-Name.".into(),
            ));
        }
        self.check_tenant(&target, req.tenant_id.as_deref())?;
        let (trace, lineage) = trace_header(req.trace_header.as_deref());
        match req.invocation_type {
            InvocationType::DryRun => Ok(InvokeOutcome::DryRun { request_id: uuid() }),
            // An asynchronous loop is accepted, then stopped by the worker (to the DLQ or the
            // failure destination), as on AWS.
            InvocationType::Event => self.enqueue(&target, &req, trace).await,
            InvocationType::RequestResponse => {
                if is_recursive_loop(&target.entry.function, lineage) {
                    return Err(Error::RecursiveInvocation);
                }
                self.run_sync(target, SyncCall::of(req, trace, client_context))
                    .await
            }
        }
    }

    /// InvokeWithResponseStream: like a synchronous Invoke, but the response reaches the caller
    /// as the function writes it.
    pub async fn invoke_with_response_stream(&self, req: InvokeRequest) -> Result<StreamOutcome> {
        let target = self.resolve_invoke(&req)?;
        check_payload(InvocationType::RequestResponse, &req.payload)?;
        let client_context = decode_client_context(req.client_context.as_deref())?;
        self.check_tenant(&target, req.tenant_id.as_deref())?;
        let (trace, lineage) = trace_header(req.trace_header.as_deref());
        if req.invocation_type == InvocationType::DryRun {
            return Ok(StreamOutcome::DryRun { request_id: uuid() });
        }
        if is_recursive_loop(&target.entry.function, lineage) {
            return Err(Error::RecursiveInvocation);
        }
        self.run_streaming(target, SyncCall::of(req, trace, client_context))
            .await
            .map(StreamOutcome::Streaming)
    }

    fn check_tenant(&self, target: &Target, tenant: Option<&str>) -> Result<()> {
        let arn = &target.entry.arn;
        match (target.pool.record().config.tenancy, tenant) {
            (Some(_), None) => Err(Error::InvalidParameter(format!(
                "The function {arn} has tenant isolation mode PER_TENANT: a tenant ID (X-Amz-Tenant-Id) is required."
            ))),
            (None, Some(_)) => Err(Error::InvalidParameter(format!(
                "The function {arn} does not have tenant isolation enabled: remove the tenant ID (X-Amz-Tenant-Id)."
            ))),
            _ => Ok(()),
        }
    }

    /// Resolves the function, version or alias an Invoke addresses.
    pub(crate) fn resolve_invoke(&self, req: &InvokeRequest) -> Result<Target> {
        let r = &req.function;
        let q = Self::effective_qualifier(r, req.qualifier.as_deref())?;
        self.check_scope(r)?;
        let scope = self.scope();
        let not_found = || {
            Error::FunctionNotFound(scope.qualified_arn(&r.name, q.as_deref().unwrap_or("$LATEST")))
        };
        let entry = self.inner.registry.get(&r.name).ok_or_else(not_found)?;
        let version = match q.as_deref().map(Qualifier::interpret) {
            None | Some(Qualifier::Latest) => VersionId::Latest,
            Some(Qualifier::Version(n)) => {
                if !entry.function.versions.contains_key(&n) {
                    return Err(not_found());
                }
                VersionId::Published(n)
            }
            Some(Qualifier::Alias(a)) => {
                let alias = entry.function.aliases.get(&a).ok_or_else(not_found)?;
                pick_weighted(alias.function_version, &alias.additional_version_weights)
            }
        };
        let pool = entry.pools.get(&version).cloned().ok_or_else(not_found)?;
        let invoked_arn = match &q {
            Some(q) => scope.qualified_arn(&r.name, q).into(),
            None => entry.arn.clone(),
        };
        Ok(Target {
            entry,
            version,
            pool,
            invoked_arn,
        })
    }

    /// Admits an invocation of the target and takes an environment for it (one of `tenant`'s
    /// for a tenant-isolated function).
    async fn lease(&self, t: &Target, tenant: Option<&str>) -> Result<Lease> {
        let permit = self
            .inner
            .pools
            .admission
            .admit(&t.entry.usage)
            .map_err(Error::Throttled)?;
        let tenant: Option<Arc<str>> = tenant.map(Arc::from);
        t.pool
            .acquire(&t.entry.usage, permit, tenant.as_ref())
            .await
    }

    /// Runs one invocation in an environment of the target's version, to its end, and returns
    /// the whole response.
    pub(crate) async fn run_sync(&self, t: Target, input: SyncCall) -> Result<InvokeOutcome> {
        let lease = self.lease(&t, input.tenant_id.as_deref()).await?;
        self.run_leased(t, lease, input, Delivery::Buffered(BytesMut::new()))
            .await
    }

    /// Runs one invocation whose response goes to the caller as the function produces it.
    /// Errors until the runtime has the event are returned; later ones end the stream.
    pub(crate) async fn run_streaming(&self, t: Target, input: SyncCall) -> Result<ResponseStream> {
        let lease = self.lease(&t, input.tenant_id.as_deref()).await?;
        let (events, rx) = mpsc::channel(STREAM_EVENTS);
        let (started, has_started) = oneshot::channel();
        let (refused, was_refused) = oneshot::channel();
        let request_id = input.request_id.clone();
        let executed_version = t.version;
        let engine = self.clone();
        self.inner.tracker.spawn(async move {
            let delivery = Delivery::Caller {
                events: events.clone(),
                started: Some(started),
                gone: false,
            };
            match engine.run_leased(t, lease, input, delivery).await {
                Ok(InvokeOutcome::Response {
                    body,
                    function_error,
                    log_result,
                    ..
                }) => {
                    let complete = if function_error.is_some() {
                        failed_stream(&body, log_result)
                    } else {
                        // A buffered runtime's whole response; a streamed one has gone already.
                        if !body.is_empty() {
                            let _ = events.send(StreamEvent::Chunk(body)).await;
                        }
                        InvokeComplete {
                            log_result,
                            ..InvokeComplete::default()
                        }
                    };
                    let _ = events.send(StreamEvent::Complete(complete)).await;
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = refused.send(e);
                }
            }
        });
        match has_started.await {
            Ok(()) => Ok(ResponseStream {
                request_id: request_id.to_string(),
                executed_version,
                events: rx,
            }),
            Err(_) => Err(was_refused.await.unwrap_or_else(|_| {
                Error::Internal("the invocation ended before it started".into())
            })),
        }
    }

    /// Runs one invocation in the leased environment, to its end.
    async fn run_leased(
        &self,
        t: Target,
        mut lease: Lease,
        input: SyncCall,
        mut delivery: Delivery,
    ) -> Result<InvokeOutcome> {
        let config = &t.pool.record().config;
        let timeout = Duration::from_secs(u64::from(config.timeout));
        let env = lease.env.clone();
        let call = Call {
            request_id: input.request_id,
            version: t.version,
            memory_size: config.memory_size,
            tail: input.tail,
        };
        let payload = if input.payload.iter().all(u8::is_ascii_whitespace) {
            Bytes::from_static(b"{}")
        } else {
            input.payload
        };
        let trace_id = input.trace_header;
        let client_context = input.client_context;
        let mut report = Report::default();
        let mut started = false;
        // A runtime that dies after its last answer is found dead only when the next event is
        // delivered; that event was never seen by it, so it is delivered once more to a fresh one.
        let mut redelivered = false;
        loop {
            if !env.is_running() {
                match self.start_runtime(&env).await {
                    Start::Ready(init) => {
                        report.init += init;
                        lease.note_init(init);
                    }
                    Start::Failed(ending, init) => {
                        report.init += init;
                        delivery.started();
                        call.begin_log(&env);
                        return Ok(self.finish(lease, &call, report, ending));
                    }
                    Start::Refused(e) => return Err(e),
                }
            }
            if !started {
                delivery.started();
                call.begin_log(&env);
                started = true;
            }
            let begun = Instant::now();
            let deadline = begun + timeout;
            let event = Event {
                request_id: call.request_id.clone(),
                invocation_id: shared_uuid(),
                deadline_ms: now_ms() + timeout.as_millis() as i64,
                invoked_function_arn: t.invoked_arn.clone(),
                trace_id: trace_id.clone(),
                client_context: client_context.clone(),
                cognito_identity: None,
                tenant_id: input.tenant_id.clone(),
                payload: payload.clone(),
            };
            let (tx, rx) = oneshot::channel();
            env.rendezvous.deliver(event, tx);
            let mut flight = InFlight {
                engine: self.clone(),
                pending: Some(Pending::Reply(rx)),
                lease: Some(lease),
                delivery: Some(delivery),
                deadline,
                timeout,
                call: call.clone(),
                report: report.clone(),
                begun,
            };
            let reply = flight.land().await;
            lease = flight
                .lease
                .take()
                .expect("the lease stays with the flight until it lands");
            delivery = flight.delivery.take().expect("so does the delivery");
            report.duration += begun.elapsed();
            let ending = match reply {
                Some(Reply::Exited {
                    delivered: false, ..
                }) if !redelivered => {
                    redelivered = true;
                    continue;
                }
                Some(reply) => Ending::from(reply),
                None => {
                    env.rendezvous.time_out(&call.request_id);
                    kill_and_wait(&env).await;
                    Ending::Timeout(timeout)
                }
            };
            return Ok(self.finish(lease, &call, report, ending));
        }
    }

    /// Starts a runtime in `env` and waits for it to poll for its first event.
    async fn start_runtime(&self, env: &Env) -> Start {
        let begun = Instant::now();
        let ready = env.start();
        match tokio::time::timeout(self.inner.pools.init_timeout, ready).await {
            Ok(Ok(InitOutcome::Ready)) => Start::Ready(begun.elapsed()),
            Ok(Ok(InitOutcome::InitError { error_type, body })) => {
                kill_and_wait(env).await;
                Start::Failed(Ending::InitError { error_type, body }, begun.elapsed())
            }
            Ok(Ok(InitOutcome::Exited { reason, oom })) => {
                Start::Failed(Ending::Exited { reason, oom }, begun.elapsed())
            }
            Ok(Ok(InitOutcome::Failed(e))) => match e {
                StartError::Launch(
                    e @ (LaunchError::PythonClientMissing { .. }
                    | LaunchError::UnsupportedFamily(_)),
                ) => {
                    tracing::warn!(
                        error = %e,
                        hint = "install the runtime interface client (pip install awslambdaric) for the interpreter given by --python",
                        "cannot start runtime"
                    );
                    Start::Refused(Error::InvalidRuntime(match e {
                        LaunchError::PythonClientMissing { python, .. } => format!(
                            "The Python runtime interface client (awslambdaric) is not installed for {python}. Install it with `pip install awslambdaric` or point invokd at an interpreter that has it (--python)."
                        ),
                        other => format!("The runtime cannot run on this invokd host: {other}."),
                    }))
                }
                StartError::Launch(e) => {
                    Start::Failed(Ending::InvalidEntrypoint(e.to_string()), begun.elapsed())
                }
                StartError::Spawn(e) => {
                    Start::Failed(Ending::InvalidEntrypoint(e), begun.elapsed())
                }
                StartError::Unpack(e) => {
                    Start::Refused(Error::Internal(format!("unpacking the package: {e}")))
                }
            },
            Ok(Err(_)) => Start::Refused(Error::ShuttingDown),
            Err(_) => {
                // Init outlived its limit: like AWS, kill it and let the invocation run a fresh
                // init within its own timeout ("suppressed init").
                kill_and_wait(env).await;
                env.log.append(
                    format!(
                        "INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: timeout\n",
                        ms(begun.elapsed())
                    )
                    .as_bytes(),
                );
                let _ready = env.start();
                Start::Ready(Duration::ZERO)
            }
        }
    }

    /// Writes the END and REPORT lines, gives the environment back and builds the response.
    fn finish(&self, lease: Lease, call: &Call, report: Report, ending: Ending) -> InvokeOutcome {
        let env = &lease.env;
        env.drain_output();
        let outcome = ending.outcome(&call.request_id);
        if let Some(line) = &outcome.log_line {
            env.log.append(line.as_bytes());
        }
        env.log
            .append_parts(&[b"END RequestId: ", &call.request_id.as_bytes()[..], b"\n"]);
        let memory = env.max_memory_mb(self.inner.pools.clock_ms());
        env.log.append(
            report
                .line(call, memory, outcome.status.as_deref())
                .as_bytes(),
        );
        env.log.flush_soon();
        let log_result = call.tail.then(|| BASE64.encode(env.log.take_capture()));
        drop(lease);
        InvokeOutcome::Response {
            request_id: call.request_id.to_string(),
            executed_version: call.version,
            body: outcome.body,
            function_error: outcome.function_error.then_some(FunctionError::Unhandled),
            log_result,
        }
    }
}

/// One synchronous invocation, as the invoke path and the async workers start it.
pub(crate) struct SyncCall {
    /// The same on every attempt of an asynchronous event. Shared text, as the ids and ARN an
    /// event carries: the invocation clones them and the Runtime API sends them as header values,
    /// none of which copies them.
    pub request_id: ByteString,
    pub payload: Bytes,
    /// `Lambda-Runtime-Trace-Id`.
    pub trace_header: ByteString,
    pub client_context: Option<String>,
    pub tenant_id: Option<String>,
    pub tail: bool,
}

impl SyncCall {
    /// A caller's request, run under a new request id.
    fn of(req: InvokeRequest, trace_header: String, client_context: Option<String>) -> SyncCall {
        SyncCall {
            request_id: shared_uuid(),
            trace_header: trace_header.into(),
            client_context,
            tenant_id: req.tenant_id,
            tail: req.log_type == LogType::Tail,
            payload: req.payload,
        }
    }
}

/// Kills the runtime of `env` and waits until it is gone.
async fn kill_and_wait(env: &Env) {
    let _ = env.kill().await;
}

enum Start {
    Ready(Duration),
    /// The runtime could not start; the invocation ends with this error payload.
    Failed(Ending, Duration),
    /// The invocation is refused with an API error.
    Refused(Error),
}

/// What identifies one invocation in logs and responses.
#[derive(Debug, Clone)]
struct Call {
    request_id: ByteString,
    version: VersionId,
    memory_size: u32,
    tail: bool,
}

impl Call {
    /// Writes the START line; with Tail, the capture begins here, so that init output and
    /// INIT_* lines stay out of the tail, as on AWS.
    fn begin_log(&self, env: &Env) {
        env.drain_output();
        if self.tail {
            env.log.start_capture();
        }
        let mut number = itoa::Buffer::new();
        let version = match self.version {
            VersionId::Latest => "$LATEST",
            VersionId::Published(n) => number.format(n),
        };
        env.log.append_parts(&[
            b"START RequestId: ",
            self.request_id.as_bytes(),
            b" Version: ",
            version.as_bytes(),
            b"\n",
        ]);
    }
}

/// Timings for the REPORT line.
#[derive(Debug, Clone, Default)]
struct Report {
    init: Duration,
    duration: Duration,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Appends `d` in milliseconds with two decimals (`3.01`), without float formatting: this is
/// on every invocation's REPORT line.
fn push_ms(line: &mut String, d: Duration) {
    // u64 hundredths of a ms cover 5.8 million years.
    let hundredths = u64::try_from((d.as_nanos() + 5_000) / 10_000).unwrap_or(u64::MAX);
    push_u64(line, hundredths / 100);
    line.push('.');
    let cents = (hundredths % 100) as u8;
    line.push(char::from(b'0' + cents / 10));
    line.push(char::from(b'0' + cents % 10));
}

/// Appends `n` in decimal (`itoa`: `write!` costs about five times as much, on every REPORT).
fn push_u64(line: &mut String, n: u64) {
    line.push_str(itoa::Buffer::new().format(n));
}

impl Report {
    fn line(&self, call: &Call, max_memory_mb: u64, status: Option<&str>) -> String {
        // Since 2025-08 the init phase is billed for every function.
        let billed = (ms(self.duration) + ms(self.init)).ceil().max(1.0) as u64;
        let mut line = String::with_capacity(192);
        line.push_str("REPORT RequestId: ");
        line.push_str(&call.request_id);
        line.push_str("\tDuration: ");
        push_ms(&mut line, self.duration);
        line.push_str(" ms\tBilled Duration: ");
        push_u64(&mut line, billed);
        line.push_str(" ms\tMemory Size: ");
        push_u64(&mut line, u64::from(call.memory_size));
        line.push_str(" MB\tMax Memory Used: ");
        push_u64(&mut line, max_memory_mb);
        line.push_str(" MB\t");
        if !self.init.is_zero() {
            line.push_str("Init Duration: ");
            push_ms(&mut line, self.init);
            line.push_str(" ms\t");
        }
        if let Some(status) = status {
            line.push_str(status);
            line.push('\t');
        }
        line.push('\n');
        line
    }
}

/// How an invocation ended.
#[derive(Debug)]
enum Ending {
    Response(Bytes),
    /// The runtime reported an invocation error.
    FunctionError {
        error_type: Option<String>,
        body: Bytes,
    },
    /// The runtime reported an init error.
    InitError {
        error_type: Option<String>,
        body: Bytes,
    },
    Exited {
        reason: ExitReason,
        oom: bool,
    },
    TooLarge,
    Timeout(Duration),
    /// The runtime could not be started from the package.
    InvalidEntrypoint(String),
}

impl From<Reply> for Ending {
    fn from(r: Reply) -> Ending {
        match r {
            Reply::Response(b) => Ending::Response(b),
            Reply::Error { error_type, body } => Ending::FunctionError { error_type, body },
            Reply::TooLarge => Ending::TooLarge,
            Reply::Exited { reason, oom, .. } => Ending::Exited { reason, oom },
            Reply::Streaming(_) => {
                unreachable!("streamed replies are received to their end by InFlight::land")
            }
        }
    }
}

struct Outcome {
    body: Bytes,
    function_error: bool,
    /// `Status: ...` fields of the REPORT line.
    status: Option<String>,
    /// A platform line logged before END.
    log_line: Option<String>,
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn error_body(error_type: &str, message: &str) -> Bytes {
    Bytes::from(format!(
        "{{\"errorType\":{},\"errorMessage\":{}}}",
        json_str(error_type),
        json_str(message)
    ))
}

/// A runtime's error post with no body: built from its error-type header, as AWS does.
fn runtime_error_body(error_type: Option<String>, body: Bytes) -> Bytes {
    if body.iter().all(u8::is_ascii_whitespace) {
        error_body(error_type.as_deref().unwrap_or("Unhandled"), "")
    } else {
        body
    }
}

impl Ending {
    fn outcome(self, request_id: &str) -> Outcome {
        let plain = |body: Bytes, function_error: bool| Outcome {
            body,
            function_error,
            status: None,
            log_line: None,
        };
        match self {
            Ending::Response(b) => plain(b, false),
            Ending::FunctionError { error_type, body } => {
                plain(runtime_error_body(error_type, body), true)
            }
            Ending::InitError { error_type, body } => Outcome {
                status: Some(format!(
                    "Status: error\tError Type: {}",
                    error_type.as_deref().unwrap_or("Runtime.InitError")
                )),
                ..plain(runtime_error_body(error_type, body), true)
            },
            Ending::Exited { reason, oom } => {
                let error_type = if oom {
                    "Runtime.OutOfMemory"
                } else {
                    "Runtime.ExitError"
                };
                let message = if reason.is_clean() {
                    format!(
                        "RequestId: {request_id} Error: Runtime exited without providing a reason"
                    )
                } else {
                    format!(
                        "RequestId: {request_id} Error: Runtime exited with error: {}",
                        reason.aws_text()
                    )
                };
                Outcome {
                    log_line: Some(format!("{message}\n{error_type}\n")),
                    status: Some(format!("Status: error\tError Type: {error_type}")),
                    ..plain(error_body(error_type, &message), true)
                }
            }
            Ending::TooLarge => plain(
                Bytes::from(format!(
                    "{{\"errorMessage\":\"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).\",\"errorType\":\"Function.ResponseSizeTooLarge\"}}"
                )),
                true,
            ),
            Ending::Timeout(t) => {
                let message = format!(
                    "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                    t.as_secs_f64()
                );
                Outcome {
                    log_line: Some(format!(
                        "{} {request_id} Task timed out after {:.2} seconds\n",
                        crate::ids::iso_now(),
                        t.as_secs_f64()
                    )),
                    status: Some("Status: timeout".into()),
                    ..plain(error_body("Sandbox.Timedout", &message), true)
                }
            }
            Ending::InvalidEntrypoint(detail) => {
                let message = format!("RequestId: {request_id} Error: {detail}");
                Outcome {
                    log_line: Some(format!("{message}\nRuntime.InvalidEntrypoint\n")),
                    status: Some("Status: error\tError Type: Runtime.InvalidEntrypoint".into()),
                    ..plain(error_body("Runtime.InvalidEntrypoint", &message), true)
                }
            }
        }
    }
}

/// Where a runtime's response goes.
enum Delivery {
    /// Invoke: the response is collected whole (up to the 6 MB limit).
    Buffered(BytesMut),
    /// InvokeWithResponseStream: streamed pieces go to the caller as they arrive. `started`
    /// fires once the runtime has the event (or init failed); `gone` once the caller has left.
    Caller {
        events: mpsc::Sender<StreamEvent>,
        started: Option<oneshot::Sender<()>>,
        gone: bool,
    },
}

impl Delivery {
    /// The response has begun: from here on, errors end the stream rather than refuse the call.
    fn started(&mut self) {
        if let Delivery::Caller { started, .. } = self
            && let Some(s) = started.take()
        {
            let _ = s.send(());
        }
    }

    /// Takes one streamed piece; `Some` ends the response early.
    async fn chunk(&mut self, chunk: Bytes, deadline: Instant) -> Option<Reply> {
        match self {
            Delivery::Buffered(buf) => {
                if buf.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Some(Reply::TooLarge);
                }
                buf.extend_from_slice(&chunk);
            }
            Delivery::Caller { events, gone, .. } => {
                // A caller that has gone, or stops reading until the deadline, no longer gets
                // pieces; the function still runs to its end, as on AWS.
                if !*gone {
                    let sent =
                        tokio::time::timeout_at(deadline, events.send(StreamEvent::Chunk(chunk)))
                            .await;
                    *gone = !matches!(sent, Ok(Ok(())));
                }
            }
        }
        None
    }

    /// The runtime finished streaming, successfully or with error trailers.
    fn end(&mut self, failure: Option<StreamFailure>) -> Reply {
        match failure {
            None => Reply::Response(match self {
                Delivery::Buffered(buf) => buf.split().freeze(),
                Delivery::Caller { .. } => Bytes::new(),
            }),
            Some(StreamFailure { error_type, body }) => {
                // Runtimes put a JSON error document or plain text in the trailer.
                let body =
                    if serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body)
                        .is_ok()
                    {
                        body
                    } else {
                        error_body(&error_type, &String::from_utf8_lossy(&body))
                    };
                Reply::Error {
                    error_type: Some(error_type),
                    body,
                }
            }
        }
    }
}

/// The `InvokeComplete` of a stream whose invocation failed: the error type and message of its
/// error document.
fn failed_stream(body: &[u8], log_result: Option<String>) -> InvokeComplete {
    #[derive(Deserialize)]
    struct ErrorDoc {
        #[serde(rename = "errorType")]
        error_type: Option<String>,
        #[serde(rename = "errorMessage")]
        error_message: Option<String>,
    }
    let doc = serde_json::from_slice::<ErrorDoc>(body).ok();
    let (code, details) = doc.map_or((None, None), |d| (d.error_type, d.error_message));
    InvokeComplete {
        error_code: Some(code.unwrap_or_else(|| FunctionError::Unhandled.as_str().to_owned())),
        error_details: Some(details.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())),
        log_result,
    }
}

/// What an invocation in flight is waiting for.
enum Pending {
    /// The runtime's answer.
    Reply(oneshot::Receiver<Reply>),
    /// The rest of a response the runtime is streaming.
    Stream(mpsc::Receiver<StreamPiece>),
}

/// An invocation handed to a runtime and not yet answered. If the caller's future is dropped
/// (the client went away), the invocation is still seen through to its end in a task of its own,
/// and only then is the environment given back: an environment is never reused while a runtime
/// may still be working on someone's event.
struct InFlight {
    engine: Engine,
    pending: Option<Pending>,
    lease: Option<Lease>,
    delivery: Option<Delivery>,
    deadline: Instant,
    timeout: Duration,
    call: Call,
    report: Report,
    begun: Instant,
}

impl InFlight {
    /// The runtime's answer, a streamed one received to its end, or `None` at the deadline.
    /// Cancel-safe: dropped part-way, it leaves what remains in `pending` for [`Drop`].
    async fn land(&mut self) -> Option<Reply> {
        let deadline = self.deadline;
        loop {
            let landed = match self.pending.as_mut().expect("lands once") {
                Pending::Reply(rx) => match tokio::time::timeout_at(deadline, rx).await {
                    Ok(Ok(Reply::Streaming(pieces))) => {
                        self.pending = Some(Pending::Stream(pieces));
                        continue;
                    }
                    Ok(Ok(reply)) => Some(reply),
                    // The environment went away without a word (shutdown): report it as an exit.
                    Ok(Err(_)) => Some(Reply::Exited {
                        reason: ExitReason::Signaled(9),
                        oom: false,
                        delivered: true,
                    }),
                    Err(_) => None,
                },
                Pending::Stream(pieces) => {
                    let delivery = self.delivery.as_mut().expect("delivery until landed");
                    match tokio::time::timeout_at(deadline, pieces.recv()).await {
                        Ok(Some(StreamPiece::Chunk(chunk))) => {
                            match delivery.chunk(chunk, deadline).await {
                                None => continue,
                                stop => stop,
                            }
                        }
                        Ok(Some(StreamPiece::End(failure))) => Some(delivery.end(failure)),
                        // The runtime's connection broke before the end of its response.
                        Ok(None) => Some(delivery.end(Some(StreamFailure {
                            error_type: "Runtime.StreamReadFailure".into(),
                            body: Bytes::from_static(
                                b"The runtime's response stream ended before the response was complete.",
                            ),
                        }))),
                        Err(_) => None,
                    }
                }
            };
            self.pending = None;
            return landed;
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let (Some(pending), Some(lease)) = (self.pending.take(), self.lease.take()) else {
            return;
        };
        let engine = self.engine.clone();
        let (timeout, call, mut report, begun) = (
            self.timeout,
            self.call.clone(),
            self.report.clone(),
            self.begun,
        );
        let mut rest = InFlight {
            engine: engine.clone(),
            pending: Some(pending),
            lease: None,
            delivery: self.delivery.take(),
            deadline: self.deadline,
            timeout,
            call: call.clone(),
            report: report.clone(),
            begun,
        };
        engine.inner.tracker.clone().spawn(async move {
            let ending = match rest.land().await {
                Some(reply) => Ending::from(reply),
                None => {
                    lease.env.rendezvous.time_out(&call.request_id);
                    kill_and_wait(&lease.env).await;
                    Ending::Timeout(timeout)
                }
            };
            report.duration += begun.elapsed();
            engine.finish(lease, &call, report, ending);
        });
    }
}
/// Invocations of one chain of requests after which a loop is stopped (AWS stops a loop at about
/// its 16th invocation).
pub const RECURSION_LIMIT: u32 = 16;

/// Whether an invocation with this lineage count must be stopped as a recursive loop.
pub(crate) fn is_recursive_loop(f: &invokd_model::Function, lineage: u32) -> bool {
    lineage >= RECURSION_LIMIT && f.recursive_loop == invokd_model::RecursiveLoop::Terminate
}

/// Picks the version of a weighted alias for one invocation.
fn pick_weighted(primary: VersionId, weights: &std::collections::BTreeMap<u64, f64>) -> VersionId {
    if weights.is_empty() {
        return primary;
    }
    let mut r: f64 = rand::random();
    for (v, w) in weights {
        if r < *w {
            return VersionId::Published(*v);
        }
        r -= w;
    }
    primary
}

/// Checks the payload's size for the invocation type, and that it is JSON.
pub fn check_payload(kind: InvocationType, payload: &[u8]) -> Result<()> {
    let len = payload.len();
    if kind == InvocationType::Event && len > MAX_EVENT_PAYLOAD {
        return Err(Error::TooLarge(format!(
            "{len} byte payload is too large for the Event invocation type (limit {MAX_EVENT_PAYLOAD} bytes)"
        )));
    }
    if len > MAX_SYNC_PAYLOAD {
        return Err(Error::TooLarge(format!(
            "Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation"
        )));
    }
    check_json(payload)
}

/// Accepts what AWS's parser accepts: any JSON value, an empty body, trailing content.
fn check_json(payload: &[u8]) -> Result<()> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let mut de = serde_json::Deserializer::from_slice(payload);
    serde::de::IgnoredAny::deserialize(&mut de)
        .map(|_| ())
        .map_err(|e| {
            Error::InvalidRequestContent(format!(
                "Could not parse request body into json: Could not parse payload into json: {}",
                jackson_message(payload, &e)
            ))
        })
}

/// Words a parse error the way AWS's (Jackson) parser does.
fn jackson_message(payload: &[u8], e: &serde_json::Error) -> String {
    let (line, column) = (e.line(), e.column());
    let location = format!(
        "\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: {line}, column: {column}]"
    );
    if e.is_eof() {
        return format!("Unexpected end-of-input{location}");
    }
    let text_line = payload
        .split(|b| *b == b'\n')
        .nth(line.saturating_sub(1))
        .unwrap_or_default();
    let offending = text_line.get(column.saturating_sub(1)).copied();
    if offending.is_some_and(|b| b.is_ascii_alphabetic()) {
        // Jackson reads a bare word whole before refusing it.
        let at = column.saturating_sub(1);
        let is_word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
        let start = text_line[..at]
            .iter()
            .rposition(|b| !is_word(b))
            .map_or(0, |i| i + 1);
        let end = text_line[at..]
            .iter()
            .position(|b| !is_word(b))
            .map_or(text_line.len(), |i| at + i);
        let token = String::from_utf8_lossy(&text_line[start..end]);
        return format!(
            "Unrecognized token '{token}': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: {line}, column: {}]",
            end + 1
        );
    }
    match offending {
        Some(b) if b >= 0x80 => format!("Invalid UTF-8 start byte 0x{b:x}{location}"),
        Some(b) if b < 0x20 => format!(
            "Unexpected character ((CTRL-CHAR, code {b})): expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false'){location}"
        ),
        Some(b) => format!(
            "Unexpected character ('{}' (code {b})): expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false'){location}",
            b as char
        ),
        None => format!("{e}{location}"),
    }
}

/// Decodes `X-Amz-Client-Context` (base64 of a JSON object) into the JSON text runtimes get.
pub fn decode_client_context(cc: Option<&str>) -> Result<Option<String>> {
    let Some(cc) = cc else { return Ok(None) };
    if cc.len() > MAX_CLIENT_CONTEXT {
        return Err(Error::InvalidRequestContent(format!(
            "Client context must be at most {MAX_CLIENT_CONTEXT} bytes of Base64-encoded JSON."
        )));
    }
    let invalid = || {
        Error::InvalidRequestContent(
            "Client context must be a valid Base64-encoded JSON object.".into(),
        )
    };
    let decoded = BASE64.decode(cc.trim()).map_err(|_| invalid())?;
    let value: serde_json::Value = serde_json::from_slice(&decoded).map_err(|_| invalid())?;
    if !value.is_object() {
        return Err(invalid());
    }
    String::from_utf8(decoded).map(Some).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_limits() {
        assert!(
            check_payload(
                InvocationType::RequestResponse,
                &vec![b' '; MAX_SYNC_PAYLOAD]
            )
            .is_ok()
        );
        let e = check_payload(
            InvocationType::RequestResponse,
            &vec![b' '; MAX_SYNC_PAYLOAD + 1],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
        );
        let e =
            check_payload(InvocationType::Event, &vec![b' '; MAX_EVENT_PAYLOAD + 1]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)"
        );
    }

    #[test]
    fn json_checks_match_aws_leniency() {
        assert!(check_json(b"").is_ok());
        assert!(check_json(b"\"a string\"").is_ok());
        assert!(check_json(b"{} trailing").is_ok());
        let e = check_json(b"'test'").unwrap_err().to_string();
        assert!(
            e.starts_with("Could not parse request body into json: Could not parse payload into json: Unexpected character (''' (code 39))"),
            "{e}"
        );
        assert!(e.ends_with("line: 1, column: 1]"), "{e}");
        let e = check_json(b"notjson").unwrap_err().to_string();
        assert!(e.ends_with("Unrecognized token 'notjson': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, column: 8]"), "{e}");
    }

    #[test]
    fn client_context() {
        let cc = BASE64.encode(r#"{"custom":{"a":"b"}}"#);
        assert_eq!(
            decode_client_context(Some(&cc)).unwrap().as_deref(),
            Some(r#"{"custom":{"a":"b"}}"#)
        );
        assert!(decode_client_context(Some("not base64!")).is_err());
        assert!(decode_client_context(Some(&BASE64.encode("[1]"))).is_err());
    }

    #[test]
    fn report_line_format() {
        let call = Call {
            request_id: "id".into(),
            version: VersionId::Latest,
            memory_size: 128,
            tail: false,
        };
        let r = Report {
            init: Duration::from_micros(110_100),
            duration: Duration::from_micros(3010),
        };
        assert_eq!(
            Report {
                init: Duration::ZERO,
                duration: Duration::from_nanos(999_994_999),
            }
            .line(&call, 36, Some("Status: timeout")),
            "REPORT RequestId: id\tDuration: 999.99 ms\tBilled Duration: 1000 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\tStatus: timeout\t\n"
        );
        for (nanos, text) in [
            (0, "0.00"),
            (4_999, "0.00"),
            (5_000, "0.01"),
            (1_234_567_890, "1234.57"),
        ] {
            let mut s = String::new();
            push_ms(&mut s, Duration::from_nanos(nanos));
            assert_eq!(s, text);
        }
        assert_eq!(
            r.line(&call, 36, None),
            "REPORT RequestId: id\tDuration: 3.01 ms\tBilled Duration: 114 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\tInit Duration: 110.10 ms\t\n"
        );
    }
}
