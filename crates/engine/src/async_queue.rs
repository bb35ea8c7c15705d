//! Asynchronous invocation: a durable queue, retries on AWS's schedule, and outcome records.
//!
//! * **Enqueue.** An `Event` invoke is handed to the writer task, which stores whatever has
//!   accumulated in one transaction (group commit: one fsync for many events) and only then
//!   acknowledges each caller, who answers 202. A 202 therefore always means "on disk".
//! * **Dispatch.** The dispatcher leases due events (oldest first) for as many workers as are
//!   free, waking on new events, on finished workers and when the next retry falls due.
//! * **Attempt.** A worker runs the event like a synchronous invocation, with the same request id
//!   on every attempt, and then either finishes it (success, or failure after retries / past its
//!   maximum age) or puts it back with its next due time.
//! * **Outcome.** AWS's invocation record goes to the OnSuccess / OnFailure destination, the
//!   original payload to the dead-letter queue. A delivery that keeps failing is stored as a dead
//!   letter in the same transaction that removes the event, so nothing accepted is ever dropped.
//!
//! An event is removed only after its outcome has been handled; a crash at any point leaves it
//! leased, and start-up returns every lease to the queue (at-least-once delivery).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use invokd_model::{EventInvokeConfig, FunctionError, InvokeOutcome, InvokeRequest, VersionId};
use invokd_store::{DeadLetter, NewEvent, Progress, QueuedEvent};
use serde_json::{Value, json};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::Engine;
use crate::backoff;
use crate::error::{Error, Result, ThrottleReason};
use crate::ids::{iso_now, lineage_count, now_ms, trace_header, uuid};
use crate::invoke::{SyncCall, Target};
use crate::outbound::{MessageAttribute, OutboundMessage};

/// Tuning of the asynchronous pipeline.
#[derive(Debug, Clone, Copy)]
pub struct AsyncConfig {
    /// Multiplies every retry delay, backoff and maximum event age.
    pub retry_scale: f64,
    /// Events running at once.
    pub workers: usize,
}

impl Default for AsyncConfig {
    fn default() -> Self {
        AsyncConfig {
            retry_scale: 1.0,
            workers: 64,
        }
    }
}

type Ack = oneshot::Sender<std::result::Result<(), String>>;

/// Handles to the queue's tasks.
#[derive(Debug)]
pub(crate) struct AsyncQueue {
    writer: mpsc::Sender<(NewEvent, Ack)>,
    writer_rx: std::sync::Mutex<Option<mpsc::Receiver<(NewEvent, Ack)>>>,
    /// Workers' results, recorded in batches by the recorder task.
    recorder: mpsc::Sender<(Progress, Ack)>,
    recorder_rx: std::sync::Mutex<Option<mpsc::Receiver<(Progress, Ack)>>>,
    wake: Notify,
    workers: Arc<Semaphore>,
    pub config: AsyncConfig,
}

/// A lease lasts longer than any invocation can (15 minutes plus margin); only a crashed
/// worker's lease ever runs out.
const LEASE_MS: i64 = 17 * 60 * 1000;
const WRITER_BATCH: usize = 1024;
/// Attempts at delivering one record before it becomes a dead letter.
const DELIVERY_ATTEMPTS: u32 = 3;

impl AsyncQueue {
    pub fn new(config: AsyncConfig) -> AsyncQueue {
        let (writer, rx) = mpsc::channel(8192);
        let (recorder, recorder_rx) = mpsc::channel(8192);
        AsyncQueue {
            writer,
            writer_rx: std::sync::Mutex::new(Some(rx)),
            recorder,
            recorder_rx: std::sync::Mutex::new(Some(recorder_rx)),
            wake: Notify::new(),
            workers: Arc::new(Semaphore::new(config.workers.max(1))),
            config,
        }
    }
}

/// The outcome of one attempt at an event.
enum Step {
    /// Done: deliver these records, then remove the event.
    Finish(Vec<Delivery>),
    /// Try again at `due_at_ms`.
    Retry {
        due_at_ms: i64,
        attempts: u32,
        system_retries: u32,
        error: String,
    },
    /// The function is gone: nothing can run the event.
    Drop(String),
}

/// A record or payload on its way to a destination.
#[derive(Debug, Clone)]
enum Delivery {
    /// Another function, invoked asynchronously with the record.
    Function {
        arn: String,
        payload: String,
    },
    Outbound(OutboundMessage),
}

impl Delivery {
    fn target(&self) -> &str {
        match self {
            Delivery::Function { arn, .. } => arn,
            Delivery::Outbound(m) => m.target(),
        }
    }
}

/// What the last attempt returned, for the record's response fields.
struct Response {
    executed_version: VersionId,
    function_error: bool,
    body: Bytes,
}

impl Engine {
    /// Starts the writer and the dispatcher; returns leases a previous run left behind.
    pub(crate) async fn start_async(&self) -> Result<()> {
        let released = self.inner.store.release_leases(now_ms(), true).await?;
        if released > 0 {
            tracing::info!(
                events = released,
                "returned events leased by a previous run to the queue"
            );
        }
        let rx = self
            .inner
            .queue
            .writer_rx
            .lock()
            .expect("writer lock")
            .take()
            .expect("started once");
        self.inner.tracker.spawn(writer(self.clone(), rx));
        let rx = self
            .inner
            .queue
            .recorder_rx
            .lock()
            .expect("recorder lock")
            .take()
            .expect("started once");
        self.inner.tracker.spawn(recorder(self.clone(), rx));
        self.inner.tracker.spawn(dispatcher(self.clone()));
        self.inner.tracker.spawn(report_depth(self.clone()));
        Ok(())
    }

    /// Queues an `Event` invocation durably; returns once it is on disk.
    pub(crate) async fn enqueue(
        &self,
        target: &Target,
        req: &InvokeRequest,
        trace: String,
    ) -> Result<InvokeOutcome> {
        let request_id = uuid();
        let event = NewEvent {
            request_id: request_id.clone(),
            function_name: target.entry.function.name.to_string(),
            qualifier: Self::effective_qualifier(&req.function, req.qualifier.as_deref())?,
            payload: req.payload.to_vec(),
            trace_header: Some(trace),
            tenant_id: req.tenant_id.clone(),
            enqueued_at_ms: now_ms(),
        };
        self.enqueue_event(event).await?;
        Ok(InvokeOutcome::Accepted { request_id })
    }

    async fn enqueue_event(&self, event: NewEvent) -> Result<()> {
        let (ack, acked) = oneshot::channel();
        self.inner
            .queue
            .writer
            .send((event, ack))
            .await
            .map_err(|_| Error::ShuttingDown)?;
        match acked.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Internal(format!("storing an event: {e}"))),
            Err(_) => Err(Error::ShuttingDown),
        }
    }

    /// One attempt at `ev`.
    async fn attempt(&self, ev: &QueuedEvent) -> Step {
        let Some(entry) = self.inner.registry.get(&ev.function_name) else {
            return Step::Drop(format!("function {} no longer exists", ev.function_name));
        };
        let function = entry.function.clone();
        let key = ev.qualifier.clone().unwrap_or_else(|| "$LATEST".into());
        let config = function
            .event_invoke_configs
            .get(&key)
            .cloned()
            .unwrap_or_default();
        let scale = self.inner.queue.config.retry_scale;
        let max_age_ms = backoff::scale(
            Duration::from_secs(u64::from(config.event_age_secs())),
            scale,
        )
        .as_millis() as i64;
        let qualified_arn = self.scope().qualified_arn(function.name.as_str(), &key);
        let now = now_ms();
        let fail = |condition: &str, attempts: u32, response: Option<Response>| {
            Step::Finish(self.failure_deliveries(
                ev,
                &config,
                &qualified_arn,
                condition,
                attempts,
                response,
            ))
        };
        let trace = ev
            .trace_header
            .clone()
            .unwrap_or_else(|| trace_header(None).0);
        if crate::invoke::is_recursive_loop(&function, lineage_count(&trace)) {
            return fail("RecursiveInvocationDetected", ev.attempts, None);
        }
        if function.reserved_concurrency == Some(0) {
            return fail("ZeroReservedConcurrency", 0, None);
        }
        if now - ev.enqueued_at_ms > max_age_ms {
            return fail("EventAgeExceeded", ev.attempts, None);
        }
        let req = InvokeRequest {
            function: invokd_model::FunctionRef::from_name(&function.name),
            qualifier: ev.qualifier.clone(),
            invocation_type: invokd_model::InvocationType::RequestResponse,
            log_type: invokd_model::LogType::None,
            client_context: None,
            tenant_id: ev.tenant_id.clone(),
            durable_execution_name: None,
            trace_header: None,
            payload: Bytes::new(),
        };
        let target = match self.resolve_invoke(&req) {
            Ok(t) => t,
            Err(e) => {
                return Step::Drop(format!(
                    "{key} of {} cannot be resolved: {e}",
                    ev.function_name
                ));
            }
        };
        let call = SyncCall {
            request_id: ev.request_id.as_str().into(),
            payload: Bytes::from(ev.payload.clone()),
            trace_header: trace.into(),
            client_context: None,
            tenant_id: ev.tenant_id.clone(),
            tail: false,
        };
        let attempts = ev.attempts + 1;
        match self.run_sync(target, call).await {
            Ok(InvokeOutcome::Response {
                executed_version,
                body,
                function_error,
                ..
            }) => {
                let response = Response {
                    executed_version,
                    function_error: function_error.is_some(),
                    body,
                };
                if !response.function_error {
                    return Step::Finish(self.success_deliveries(
                        ev,
                        &config,
                        &qualified_arn,
                        attempts,
                        response,
                    ));
                }
                if attempts > config.retry_attempts() {
                    return fail("RetriesExhausted", attempts, Some(response));
                }
                let due = now_ms()
                    + backoff::scale(backoff::function_error_delay(attempts), scale).as_millis()
                        as i64;
                if due - ev.enqueued_at_ms > max_age_ms {
                    return fail("EventAgeExceeded", attempts, Some(response));
                }
                let error = String::from_utf8_lossy(&response.body)
                    .chars()
                    .take(1024)
                    .collect();
                Step::Retry {
                    due_at_ms: due,
                    attempts,
                    system_retries: ev.system_retries,
                    error,
                }
            }
            Ok(other) => Step::Drop(format!("unexpected outcome {other:?}")),
            Err(
                e @ (Error::Throttled(_)
                | Error::ShuttingDown
                | Error::Internal(_)
                | Error::Store(_)),
            ) => {
                let n = ev.system_retries + 1;
                let delay = backoff::system_retry_delay(n, rand::random());
                let due = now_ms() + backoff::scale(delay, scale).as_millis() as i64;
                if due - ev.enqueued_at_ms > max_age_ms {
                    return fail("EventAgeExceeded", ev.attempts, None);
                }
                Step::Retry {
                    due_at_ms: due,
                    attempts: ev.attempts,
                    system_retries: n,
                    error: e.to_string(),
                }
            }
            Err(e) => {
                // The function cannot run as configured (for example its runtime is missing):
                // an attempt that failed, recorded with the error AWS would return.
                let body = Bytes::from(
                    json!({ "errorMessage": e.to_string(), "errorType": error_type(&e) })
                        .to_string(),
                );
                let response = Response {
                    executed_version: target_version(&key),
                    function_error: true,
                    body,
                };
                if attempts > config.retry_attempts() {
                    return fail("RetriesExhausted", attempts, Some(response));
                }
                let due = now_ms()
                    + backoff::scale(backoff::function_error_delay(attempts), scale).as_millis()
                        as i64;
                Step::Retry {
                    due_at_ms: due,
                    attempts,
                    system_retries: ev.system_retries,
                    error: e.to_string(),
                }
            }
        }
    }

    fn record(
        ev: &QueuedEvent,
        arn: &str,
        condition: &str,
        attempts: u32,
        response: Option<&Response>,
    ) -> Value {
        let mut record = json!({
            "version": "1.0",
            "timestamp": iso_now(),
            "requestContext": {
                "requestId": ev.request_id,
                "functionArn": arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "requestPayload": as_json(&ev.payload, json!({})),
        });
        if let Some(r) = response {
            let mut ctx =
                json!({ "statusCode": 200, "executedVersion": r.executed_version.to_string() });
            if r.function_error {
                ctx["functionError"] = json!(FunctionError::Unhandled.as_str());
            }
            record["responseContext"] = ctx;
            record["responsePayload"] = as_json(&r.body, Value::Null);
        }
        record
    }

    fn success_deliveries(
        &self,
        ev: &QueuedEvent,
        config: &EventInvokeConfig,
        arn: &str,
        attempts: u32,
        response: Response,
    ) -> Vec<Delivery> {
        let record = Self::record(ev, arn, "Success", attempts, Some(&response));
        config
            .on_success
            .iter()
            .map(|dest| self.destination(dest, arn, &record, true))
            .collect()
    }

    fn failure_deliveries(
        &self,
        ev: &QueuedEvent,
        config: &EventInvokeConfig,
        arn: &str,
        condition: &str,
        attempts: u32,
        response: Option<Response>,
    ) -> Vec<Delivery> {
        let record = Self::record(ev, arn, condition, attempts, response.as_ref());
        let mut out: Vec<Delivery> = config
            .on_failure
            .iter()
            .map(|dest| self.destination(dest, arn, &record, false))
            .collect();
        let dlq = self.inner.registry.get(&ev.function_name).and_then(|e| {
            let version = response
                .as_ref()
                .map(|r| r.executed_version)
                .unwrap_or(VersionId::Latest);
            e.function
                .version(version)
                .and_then(|v| v.config.dead_letter_target.clone())
        });
        if let Some(target) = dlq {
            let (code, message) = match &response {
                Some(r) => (
                    "200".to_owned(),
                    as_json(&r.body, Value::Null)["errorMessage"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| String::from_utf8_lossy(&r.body).into_owned()),
                ),
                None => ("429".to_owned(), condition.to_owned()),
            };
            let message: String = message.chars().take(1024).collect();
            let attributes = vec![
                MessageAttribute {
                    name: "RequestID".into(),
                    data_type: "String",
                    value: ev.request_id.clone(),
                },
                MessageAttribute {
                    name: "ErrorCode".into(),
                    data_type: "Number",
                    value: code,
                },
                MessageAttribute {
                    name: "ErrorMessage".into(),
                    data_type: "String",
                    value: message,
                },
            ];
            let body = String::from_utf8_lossy(&ev.payload).into_owned();
            out.push(Delivery::Outbound(if target.contains(":sns:") {
                OutboundMessage::Sns {
                    topic_arn: target,
                    message: body,
                    attributes,
                }
            } else {
                OutboundMessage::Sqs {
                    queue_arn: target,
                    body,
                    attributes,
                }
            }));
        }
        out
    }

    /// How a record reaches `dest`, by the destination's service.
    fn destination(
        &self,
        dest: &str,
        function_arn: &str,
        record: &Value,
        success: bool,
    ) -> Delivery {
        let service = dest.split(':').nth(2).unwrap_or_default();
        let text = record.to_string();
        match service {
            "lambda" => Delivery::Function {
                arn: dest.to_owned(),
                payload: text,
            },
            "sns" => Delivery::Outbound(OutboundMessage::Sns {
                topic_arn: dest.to_owned(),
                message: text,
                attributes: vec![],
            }),
            "events" => Delivery::Outbound(OutboundMessage::EventBridge {
                bus_arn: dest.to_owned(),
                source: "lambda".into(),
                detail_type: format!(
                    "Lambda Function Invocation Result - {}",
                    if success { "Success" } else { "Failure" }
                ),
                detail: text,
                resources: vec![dest.to_owned(), function_arn.to_owned()],
            }),
            _ => Delivery::Outbound(OutboundMessage::Sqs {
                queue_arn: dest.to_owned(),
                body: text,
                attributes: vec![],
            }),
        }
    }

    /// Delivers once; the error says why it failed.
    async fn deliver_once(&self, d: &Delivery) -> std::result::Result<(), String> {
        match d {
            Delivery::Outbound(m) => self.inner.outbound.send(m.clone()).await,
            Delivery::Function { arn, payload } => {
                let r = invokd_model::FunctionRef::parse(arn, invokd_model::NameShape::Namespaced)
                    .map_err(|_| format!("{arn} is not a function ARN"))?;
                let req = InvokeRequest {
                    function: r,
                    qualifier: None,
                    invocation_type: invokd_model::InvocationType::Event,
                    log_type: invokd_model::LogType::None,
                    client_context: None,
                    tenant_id: None,
                    durable_execution_name: None,
                    trace_header: None,
                    payload: Bytes::from(payload.clone()),
                };
                self.invoke(req)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Delivers with a few retries; what still fails becomes a dead letter.
    async fn deliver(&self, ev: &QueuedEvent, deliveries: Vec<Delivery>) -> Vec<DeadLetter> {
        let mut dead = Vec::new();
        for d in deliveries {
            let mut last = String::new();
            let mut delivered = false;
            for n in 1..=DELIVERY_ATTEMPTS {
                match self.deliver_once(&d).await {
                    Ok(()) => {
                        delivered = true;
                        break;
                    }
                    Err(e) => {
                        last = e;
                        if n < DELIVERY_ATTEMPTS {
                            let wait = backoff::scale(
                                backoff::system_retry_delay(n, rand::random()),
                                self.inner.queue.config.retry_scale,
                            );
                            tokio::time::sleep(wait).await;
                        }
                    }
                }
            }
            if !delivered {
                tracing::warn!(request_id = %ev.request_id, target = %d.target(), error = %last, "delivery failed; kept as a dead letter");
                let (message, attributes) = match &d {
                    Delivery::Function { payload, .. } => (payload.clone(), None),
                    Delivery::Outbound(m) => outbound_parts(m),
                };
                dead.push(DeadLetter {
                    id: 0,
                    request_id: ev.request_id.clone(),
                    function_name: ev.function_name.clone(),
                    qualifier: ev.qualifier.clone(),
                    payload: ev.payload.clone(),
                    target: d.target().to_owned(),
                    message,
                    attributes,
                    error: last,
                    failed_at_ms: now_ms(),
                });
            }
        }
        dead
    }

    /// Runs one leased event to its next state.
    async fn work(&self, ev: QueuedEvent) {
        let progress = match self.attempt(&ev).await {
            Step::Finish(deliveries) => Progress::Finished {
                id: ev.id,
                dead_letters: self.deliver(&ev, deliveries).await,
            },
            Step::Retry {
                due_at_ms,
                attempts,
                system_retries,
                error,
            } => Progress::Rescheduled {
                id: ev.id,
                due_at_ms,
                attempts,
                system_retries,
                last_error: error,
            },
            Step::Drop(why) => {
                tracing::warn!(request_id = %ev.request_id, reason = %why, "dropping an event nothing can run");
                Progress::Finished {
                    id: ev.id,
                    dead_letters: Vec::new(),
                }
            }
        };
        let (ack, acked) = oneshot::channel();
        let result = match self.inner.queue.recorder.send((progress, ack)).await {
            Ok(()) => acked
                .await
                .unwrap_or_else(|_| Err("the recorder stopped".into())),
            Err(_) => Err("the recorder stopped".into()),
        };
        if let Err(e) = result {
            // The event stays leased; it is retried when its lease runs out or at the next start.
            tracing::error!(request_id = %ev.request_id, error = %e, "could not record an event's progress");
        }
    }

    /// Queued, in-flight and failed events, for `invokd events`.
    pub async fn list_events(
        &self,
        function: Option<&str>,
    ) -> Result<(Vec<QueuedEvent>, Vec<DeadLetter>)> {
        let events = self.inner.store.list_events(function, 10_000).await?;
        let dead = self.inner.store.list_dead_letters(function, 10_000).await?;
        Ok((events, dead))
    }

    /// Delivers a dead letter again; on success it is removed.
    pub async fn redrive(&self, id: i64) -> Result<()> {
        let dead = self.inner.store.list_dead_letters(None, u32::MAX).await?;
        let d = dead
            .into_iter()
            .find(|d| d.id == id)
            .ok_or_else(|| Error::FunctionNotFoundAs(format!("No dead letter {id}")))?;
        let delivery = dead_letter_delivery(&d);
        self.deliver_once(&delivery)
            .await
            .map_err(|e| Error::Conflict(format!("Redrive of dead letter {id} failed: {e}")))?;
        self.inner.store.delete_dead_letter(id).await?;
        Ok(())
    }
}

fn target_version(qualifier: &str) -> VersionId {
    qualifier
        .parse()
        .map(VersionId::Published)
        .unwrap_or(VersionId::Latest)
}

fn error_type(e: &Error) -> &'static str {
    match e {
        Error::InvalidRuntime(_) => "InvalidRuntimeException",
        Error::Throttled(ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded) => {
            "TooManyRequestsException"
        }
        _ => "ServiceException",
    }
}

fn as_json(bytes: &[u8], empty: Value) -> Value {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return empty;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn outbound_parts(m: &OutboundMessage) -> (String, Option<Value>) {
    let attrs = |a: &[MessageAttribute]| {
        (!a.is_empty()).then(|| {
            Value::Object(
                a.iter()
                    .map(|x| {
                        (
                            x.name.clone(),
                            json!({"DataType": x.data_type, "StringValue": x.value}),
                        )
                    })
                    .collect(),
            )
        })
    };
    match m {
        OutboundMessage::Sqs {
            body, attributes, ..
        } => (body.clone(), attrs(attributes)),
        OutboundMessage::Sns {
            message,
            attributes,
            ..
        } => (message.clone(), attrs(attributes)),
        OutboundMessage::EventBridge {
            detail,
            detail_type,
            resources,
            ..
        } => (
            detail.clone(),
            Some(json!({"DetailType": detail_type, "Resources": resources})),
        ),
    }
}

/// Rebuilds a delivery from its dead letter.
fn dead_letter_delivery(d: &DeadLetter) -> Delivery {
    let service = d.target.split(':').nth(2).unwrap_or_default();
    let attributes: Vec<MessageAttribute> = d
        .attributes
        .as_ref()
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    Some(MessageAttribute {
                        name: k.clone(),
                        data_type: if v["DataType"] == "Number" {
                            "Number"
                        } else {
                            "String"
                        },
                        value: v["StringValue"].as_str()?.to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    match service {
        "lambda" => Delivery::Function {
            arn: d.target.clone(),
            payload: d.message.clone(),
        },
        "sns" => Delivery::Outbound(OutboundMessage::Sns {
            topic_arn: d.target.clone(),
            message: d.message.clone(),
            attributes,
        }),
        "events" => {
            let meta = d.attributes.clone().unwrap_or_default();
            Delivery::Outbound(OutboundMessage::EventBridge {
                bus_arn: d.target.clone(),
                source: "lambda".into(),
                detail_type: meta["DetailType"].as_str().unwrap_or_default().to_owned(),
                detail: d.message.clone(),
                resources: serde_json::from_value(meta["Resources"].clone()).unwrap_or_default(),
            })
        }
        _ => Delivery::Outbound(OutboundMessage::Sqs {
            queue_arn: d.target.clone(),
            body: d.message.clone(),
            attributes,
        }),
    }
}

/// Stores batches of new events (group commit) and acknowledges them.
async fn writer(engine: Engine, mut rx: mpsc::Receiver<(NewEvent, Ack)>) {
    let mut batch = Vec::with_capacity(WRITER_BATCH);
    loop {
        let n = tokio::select! {
            n = rx.recv_many(&mut batch, WRITER_BATCH) => n,
            () = engine.inner.shutdown.cancelled() => {
                // Store what was accepted before the shutdown, then stop.
                while let Ok(item) = rx.try_recv() {
                    batch.push(item);
                }
                batch.len()
            }
        };
        if n == 0 {
            if engine.inner.shutdown.is_cancelled() {
                return;
            }
            continue;
        }
        let (events, acks): (Vec<NewEvent>, Vec<Ack>) = batch.drain(..).unzip();
        let result = engine
            .inner
            .store
            .enqueue_events(&events)
            .await
            .map_err(|e| e.to_string());
        for ack in acks {
            let _ = ack.send(result.clone());
        }
        engine.inner.queue.wake.notify_one();
        if engine.inner.shutdown.is_cancelled() {
            return;
        }
    }
}

/// Records workers' results in batches: whatever finished while the previous batch was being
/// written goes in the next transaction.
async fn recorder(engine: Engine, mut rx: mpsc::Receiver<(Progress, Ack)>) {
    let mut batch = Vec::with_capacity(WRITER_BATCH);
    loop {
        let n = tokio::select! {
            n = rx.recv_many(&mut batch, WRITER_BATCH) => n,
            () = workers_done_after_shutdown(&engine) => 0,
        };
        if n == 0 {
            return;
        }
        let (progress, acks): (Vec<Progress>, Vec<Ack>) = batch.drain(..).unzip();
        let result = engine
            .inner
            .store
            .record_progress(&progress)
            .await
            .map_err(|e| e.to_string());
        for ack in acks {
            let _ = ack.send(result.clone());
        }
        engine.inner.queue.wake.notify_one();
    }
}

/// Resolves once the engine is shutting down and no worker holds an event any more (a worker
/// keeps its permit until its progress is recorded).
async fn workers_done_after_shutdown(engine: &Engine) {
    engine.inner.shutdown.cancelled().await;
    let q = &engine.inner.queue;
    let all = u32::try_from(q.config.workers.max(1)).unwrap_or(u32::MAX);
    // Holding every permit also keeps the dispatcher from leasing more while the recorder
    // finishes; the engine is stopping anyway.
    if let Ok(permits) = q.workers.acquire_many(all).await {
        permits.forget();
    }
}

/// Leases due events for free workers and sleeps until there is more to do.
async fn dispatcher(engine: Engine) {
    let q = &engine.inner.queue;
    loop {
        if engine.inner.shutdown.is_cancelled() {
            return;
        }
        let free = q.workers.available_permits() as u32;
        if free > 0 {
            let now = now_ms();
            match engine
                .inner
                .store
                .lease_due_events(now, free, now + LEASE_MS)
                .await
            {
                Ok(events) => {
                    for ev in events {
                        let permit: OwnedSemaphorePermit =
                            match q.workers.clone().try_acquire_owned() {
                                Ok(p) => p,
                                Err(_) => break,
                            };
                        let engine2 = engine.clone();
                        engine.inner.tracker.spawn(async move {
                            engine2.work(ev).await;
                            drop(permit);
                            engine2.inner.queue.wake.notify_one();
                        });
                    }
                }
                Err(e) => tracing::error!(error = %e, "leasing events"),
            }
        }
        let wait = match engine.inner.store.next_event_due_ms().await {
            Ok(Some(due)) if q.workers.available_permits() > 0 => {
                Duration::from_millis((due - now_ms()).clamp(0, 1000) as u64)
            }
            _ => Duration::from_secs(1),
        };
        if wait.is_zero() && q.workers.available_permits() > 0 {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            () = q.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
            () = engine.inner.shutdown.cancelled() => return,
        }
    }
}

/// Logs the queue's depth and the age of its oldest event while it is not empty.
async fn report_depth(engine: Engine) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = engine.inner.shutdown.cancelled() => return,
        }
        if let Ok((depth, Some(oldest))) = engine.inner.store.queue_stats().await
            && depth > 0
        {
            let age_s = (now_ms() - oldest) as f64 / 1000.0;
            tracing::info!(depth, oldest_age_s = age_s, "async queue");
        }
    }
}
