//! The meeting point of an invocation and a runtime: one per execution environment.
//!
//! The invoke path *delivers* an [`Event`] and awaits a [`Reply`]; the runtime, through its
//! Runtime API, long-polls `next`, then posts a response or an error. Whichever side arrives first
//! waits for the other: a parked `GET /next` is handed the event directly (one wake-up), an event
//! delivered before the runtime polls is queued. The slot is a `std` mutex held for a few field
//! moves, never across an `.await`.
//!
//! An environment is free for another invocation only when its runtime polls `next` again, not
//! when it posts its answer: a runtime may keep working after answering, and AWS does not hand it
//! a new event before it asks for one. [`Rendezvous::when_polling`] is how a finished invocation
//! gives its environment back at that moment.
//!
//! The checks and their order follow AWS's RAPID: a request id that is not the current one is
//! `400 InvalidRequestID`; a second post for the current one is `403 InvalidStateTransition`; a
//! post for an invocation that already timed out is `410 InvokeTimeout`.

use std::sync::Mutex;

use bytes::Bytes;
use bytestring::ByteString;
use invokd_supervisor::ExitReason;
use tokio::sync::{mpsc, oneshot};

/// What `GET /runtime/invocation/next` returns: the payload and its `Lambda-Runtime-*` headers.
#[derive(Debug)]
pub struct Event {
    pub request_id: ByteString,
    /// Unique per delivery (`Lambda-Runtime-Invocation-Id`).
    pub invocation_id: ByteString,
    /// Unix epoch milliseconds.
    pub deadline_ms: i64,
    /// The function ARN as the caller addressed it.
    pub invoked_function_arn: ByteString,
    pub trace_id: ByteString,
    /// Decoded client context JSON.
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
    pub tenant_id: Option<String>,
    pub payload: Bytes,
}

/// A piece of a response the runtime streams (`Lambda-Runtime-Function-Response-Mode:
/// streaming`), in the order the function wrote it.
#[derive(Debug)]
pub enum StreamPiece {
    Chunk(Bytes),
    /// The runtime finished its response; with its error trailers if it failed part-way.
    End(Option<StreamFailure>),
}

/// An error a runtime reported in the trailers of a streamed response.
#[derive(Debug)]
pub struct StreamFailure {
    /// `Lambda-Runtime-Function-Error-Type`.
    pub error_type: String,
    /// `Lambda-Runtime-Function-Error-Body`, base64-decoded.
    pub body: Bytes,
}

/// Pieces in flight between a streaming runtime and the invocation: enough to keep both busy,
/// few enough that a slow caller slows the function rather than filling memory.
const STREAM_BUFFER: usize = 16;

/// How an invocation came back from its environment.
#[derive(Debug)]
pub(crate) enum Reply {
    Response(Bytes),
    /// The runtime is streaming its response; the pieces arrive here.
    Streaming(mpsc::Receiver<StreamPiece>),
    Error {
        error_type: Option<String>,
        body: Bytes,
    },
    /// The runtime posted a response over the size limit.
    TooLarge,
    /// The runtime process exited; `delivered` says whether it had received the event.
    Exited {
        reason: ExitReason,
        oom: bool,
        delivered: bool,
    },
}

/// How the start of a runtime ended.
#[derive(Debug)]
pub(crate) enum InitOutcome {
    /// The runtime polled for its first event.
    Ready,
    /// The runtime reported an init error.
    InitError {
        error_type: Option<String>,
        body: Bytes,
    },
    /// The runtime exited before polling.
    Exited { reason: ExitReason, oom: bool },
    /// The runtime could not be started at all.
    Failed(crate::env::StartError),
}

/// Runtime API errors, each with the status and `errorType` RAPID uses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeApiError {
    #[error("Invalid request ID")]
    InvalidRequestId,
    #[error(
        "State transition from {from} to {to} failed for runtime. Error: State transition is not allowed"
    )]
    InvalidStateTransition {
        from: &'static str,
        to: &'static str,
    },
    #[error("Invoke timeout")]
    InvokeTimeout,
    #[error("Exceeded maximum allowed payload size ({0} bytes).")]
    PayloadTooLarge(usize),
    #[error("Invalid function response mode")]
    InvalidResponseMode,
    /// The environment is stopping; the runtime should exit.
    #[error("Internal Server Error")]
    Stopping,
}

#[derive(Debug)]
enum Phase {
    /// No process, or one being stopped.
    Stopped,
    /// A process is starting; it is ready when it first polls.
    Initializing(Option<oneshot::Sender<InitOutcome>>),
    Ready,
}

#[derive(Debug, PartialEq, Eq)]
enum CurrentState {
    /// Queued or running, awaiting the runtime's answer.
    Pending,
    Answered,
    TimedOut,
}

#[derive(Debug)]
struct Current {
    request_id: ByteString,
    delivered: bool,
    state: CurrentState,
    reply: Option<oneshot::Sender<Reply>>,
}

/// Runs once the runtime polls again (or has no process): gives the environment back.
pub(crate) type OnPoll = Box<dyn FnOnce() + Send>;

struct Slot {
    phase: Phase,
    waiter: Option<oneshot::Sender<Event>>,
    queued: Option<Event>,
    current: Option<Current>,
    on_poll: Option<OnPoll>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("phase", &self.phase)
            .field("polling", &self.waiter.is_some())
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub(crate) struct Rendezvous {
    slot: Mutex<Slot>,
}

impl Rendezvous {
    pub fn new() -> Rendezvous {
        let slot = Slot {
            phase: Phase::Stopped,
            waiter: None,
            queued: None,
            current: None,
            on_poll: None,
        };
        Rendezvous {
            slot: Mutex::new(slot),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().expect("rendezvous lock")
    }

    /// A new process is starting; `ready` learns how its start ends.
    pub fn begin_init(&self, ready: oneshot::Sender<InitOutcome>) {
        let mut s = self.lock();
        s.phase = Phase::Initializing(Some(ready));
        s.waiter = None;
    }

    /// The process could not be started.
    pub fn start_failed(&self, e: crate::env::StartError) {
        let on_poll = {
            let mut s = self.lock();
            if let Phase::Initializing(ready) = &mut s.phase
                && let Some(ready) = ready.take()
            {
                let _ = ready.send(InitOutcome::Failed(e));
            }
            s.phase = Phase::Stopped;
            s.on_poll.take()
        };
        if let Some(f) = on_poll {
            f();
        }
    }

    /// `GET /runtime/invocation/next`: the next event, waiting as long as it takes.
    pub async fn next(&self) -> Result<Event, RuntimeApiError> {
        let (rx, on_poll) = {
            let mut s = self.lock();
            match std::mem::replace(&mut s.phase, Phase::Ready) {
                Phase::Initializing(ready) => {
                    if let Some(ready) = ready {
                        let _ = ready.send(InitOutcome::Ready);
                    }
                }
                Phase::Ready => {}
                Phase::Stopped => {
                    s.phase = Phase::Stopped;
                    return Err(RuntimeApiError::Stopping);
                }
            }
            if let Some(c) = &s.current
                && c.delivered
                && c.state == CurrentState::Pending
            {
                return Err(RuntimeApiError::InvalidStateTransition {
                    from: "Running",
                    to: "Ready",
                });
            }
            if let Some(event) = s.queued.take() {
                if let Some(c) = s.current.as_mut() {
                    c.delivered = true;
                }
                return Ok(event);
            }
            let (tx, rx) = oneshot::channel();
            s.waiter = Some(tx);
            (rx, s.on_poll.take())
        };
        if let Some(give_back) = on_poll {
            give_back();
        }
        rx.await.map_err(|_| RuntimeApiError::Stopping)
    }

    /// Hands `event` to the runtime; `reply` receives the outcome.
    pub fn deliver(&self, event: Event, reply: oneshot::Sender<Reply>) {
        let mut s = self.lock();
        let mut current = Current {
            request_id: event.request_id.clone(),
            delivered: false,
            state: CurrentState::Pending,
            reply: Some(reply),
        };
        let mut event = Some(event);
        if let Some(waiter) = s.waiter.take() {
            match waiter.send(event.take().expect("present")) {
                Ok(()) => current.delivered = true,
                // The poller went away (its connection closed): keep the event for the next one.
                Err(back) => event = Some(back),
            }
        }
        s.queued = event;
        s.current = Some(current);
    }

    fn answer(
        &self,
        request_id: &str,
        to: &'static str,
        reply: Reply,
    ) -> Result<(), RuntimeApiError> {
        let mut s = self.lock();
        let Some(c) = s
            .current
            .as_mut()
            .filter(|c| c.request_id == request_id && c.delivered)
        else {
            return Err(RuntimeApiError::InvalidRequestId);
        };
        match c.state {
            CurrentState::Answered => Err(RuntimeApiError::InvalidStateTransition {
                from: "RuntimeResponseSentState",
                to,
            }),
            CurrentState::TimedOut => Err(RuntimeApiError::InvokeTimeout),
            CurrentState::Pending => {
                c.state = CurrentState::Answered;
                if let Some(tx) = c.reply.take() {
                    let _ = tx.send(reply);
                }
                Ok(())
            }
        }
    }

    /// `POST /runtime/invocation/{id}/response`.
    pub fn respond(&self, request_id: &str, body: Bytes) -> Result<(), RuntimeApiError> {
        self.answer(request_id, "InvocationResponse", Reply::Response(body))
    }

    /// `POST /runtime/invocation/{id}/response` in streaming mode: the invocation learns at once
    /// that a stream is coming; the runtime's pieces go into the returned sender.
    pub fn respond_streaming(
        &self,
        request_id: &str,
    ) -> Result<mpsc::Sender<StreamPiece>, RuntimeApiError> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        self.answer(request_id, "InvocationResponse", Reply::Streaming(rx))?;
        Ok(tx)
    }

    /// `POST /runtime/invocation/{id}/error`.
    pub fn respond_error(
        &self,
        request_id: &str,
        error_type: Option<String>,
        body: Bytes,
    ) -> Result<(), RuntimeApiError> {
        self.answer(
            request_id,
            "InvocationErrorResponse",
            Reply::Error { error_type, body },
        )
    }

    /// A response body over the limit: the invocation fails, the runtime is told 413.
    pub fn respond_too_large(&self, request_id: &str) -> Result<(), RuntimeApiError> {
        self.answer(request_id, "InvocationResponse", Reply::TooLarge)
    }

    /// `POST /runtime/init/error`.
    pub fn init_error(
        &self,
        error_type: Option<String>,
        body: Bytes,
    ) -> Result<(), RuntimeApiError> {
        let mut s = self.lock();
        match &mut s.phase {
            Phase::Initializing(ready) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(InitOutcome::InitError { error_type, body });
                }
                Ok(())
            }
            Phase::Ready => Err(RuntimeApiError::InvalidStateTransition {
                from: "Ready",
                to: "InitError",
            }),
            Phase::Stopped => Err(RuntimeApiError::Stopping),
        }
    }

    /// The invocation `request_id` ran out of time; later posts for it get 410.
    pub fn time_out(&self, request_id: &str) {
        let mut s = self.lock();
        if let Some(c) = s.current.as_mut().filter(|c| c.request_id == request_id)
            && c.state == CurrentState::Pending
        {
            c.state = CurrentState::TimedOut;
            c.reply = None;
        }
        s.queued = None;
    }

    /// Runs `give_back` once the runtime polls for its next event: at once if it already is, or
    /// if there is no runtime process to wait for (a stopped one is restarted on next use).
    pub fn when_polling(&self, give_back: OnPoll) {
        let mut s = self.lock();
        if s.waiter.is_some() || matches!(s.phase, Phase::Stopped) {
            drop(s);
            give_back();
        } else {
            s.on_poll = Some(give_back);
        }
    }

    /// The process is being stopped on purpose: pollers are released.
    pub fn stopping(&self) {
        let on_poll = {
            let mut s = self.lock();
            s.phase = Phase::Stopped;
            s.waiter = None;
            s.on_poll.take()
        };
        if let Some(give_back) = on_poll {
            give_back();
        }
    }

    /// The process exited: whoever waits on it learns why.
    pub fn process_exited(&self, reason: ExitReason, oom: bool) {
        let on_poll = {
            let mut s = self.lock();
            if let Phase::Initializing(ready) = &mut s.phase
                && let Some(ready) = ready.take()
            {
                let _ = ready.send(InitOutcome::Exited { reason, oom });
            }
            s.phase = Phase::Stopped;
            s.waiter = None;
            s.queued = None;
            if let Some(c) = s.current.as_mut()
                && c.state == CurrentState::Pending
            {
                c.state = CurrentState::Answered;
                if let Some(tx) = c.reply.take() {
                    let _ = tx.send(Reply::Exited {
                        reason,
                        oom,
                        delivered: c.delivered,
                    });
                }
            }
            s.on_poll.take()
        };
        if let Some(give_back) = on_poll {
            give_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> Event {
        Event {
            request_id: id.into(),
            invocation_id: format!("inv-{id}").into(),
            deadline_ms: 0,
            invoked_function_arn: "arn".into(),
            trace_id: "t".into(),
            client_context: None,
            cognito_identity: None,
            tenant_id: None,
            payload: Bytes::from_static(b"{}"),
        }
    }

    fn ready(r: &Rendezvous) {
        let (tx, _rx) = oneshot::channel();
        r.begin_init(tx);
    }

    #[tokio::test]
    async fn queued_event_is_taken_by_next_then_answered_once() {
        let r = Rendezvous::new();
        ready(&r);
        let (tx, rx) = oneshot::channel();
        r.deliver(event("a"), tx);
        assert_eq!(r.next().await.unwrap().request_id, "a");
        assert_eq!(
            r.respond("b", Bytes::new()),
            Err(RuntimeApiError::InvalidRequestId)
        );
        r.respond("a", Bytes::from_static(b"ok")).unwrap();
        assert!(matches!(rx.await.unwrap(), Reply::Response(b) if b == "ok"));
        assert_eq!(
            r.respond("a", Bytes::new()),
            Err(RuntimeApiError::InvalidStateTransition {
                from: "RuntimeResponseSentState",
                to: "InvocationResponse"
            })
        );
    }

    #[tokio::test]
    async fn parked_poller_receives_the_event_directly() {
        let r = std::sync::Arc::new(Rendezvous::new());
        ready(&r);
        let poller = tokio::spawn({
            let r = r.clone();
            async move { r.next().await }
        });
        tokio::task::yield_now().await;
        while r.lock().waiter.is_none() {
            tokio::task::yield_now().await;
        }
        let (tx, _rx) = oneshot::channel();
        r.deliver(event("x"), tx);
        assert_eq!(poller.await.unwrap().unwrap().request_id, "x");
    }

    #[tokio::test]
    async fn late_answer_after_timeout_is_gone() {
        let r = Rendezvous::new();
        ready(&r);
        let (tx, _rx) = oneshot::channel();
        r.deliver(event("a"), tx);
        r.next().await.unwrap();
        r.time_out("a");
        assert_eq!(
            r.respond("a", Bytes::new()),
            Err(RuntimeApiError::InvokeTimeout)
        );
    }

    #[tokio::test]
    async fn exit_fails_the_pending_invocation() {
        let r = Rendezvous::new();
        ready(&r);
        let (tx, rx) = oneshot::channel();
        r.deliver(event("a"), tx);
        r.process_exited(ExitReason::Exited(1), false);
        assert!(matches!(
            rx.await.unwrap(),
            Reply::Exited {
                delivered: false,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn the_environment_is_free_only_once_its_runtime_polls_again() {
        let r = std::sync::Arc::new(Rendezvous::new());
        ready(&r);
        let (tx, _rx) = oneshot::channel();
        r.deliver(event("a"), tx);
        r.next().await.unwrap();
        r.respond("a", Bytes::new()).unwrap();
        let freed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = freed.clone();
        r.when_polling(Box::new(move || {
            flag.store(true, std::sync::atomic::Ordering::SeqCst)
        }));
        assert!(
            !freed.load(std::sync::atomic::Ordering::SeqCst),
            "still busy after answering"
        );
        let poller = tokio::spawn({
            let r = r.clone();
            async move { r.next().await }
        });
        while !freed.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        poller.abort();
    }

    #[tokio::test]
    async fn an_environment_without_a_process_is_free_at_once() {
        let r = Rendezvous::new();
        let freed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = freed.clone();
        r.when_polling(Box::new(move || {
            flag.store(true, std::sync::atomic::Ordering::SeqCst)
        }));
        assert!(freed.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn init_error_is_only_accepted_while_initializing() {
        let r = Rendezvous::new();
        let (tx, rx) = oneshot::channel();
        r.begin_init(tx);
        r.init_error(Some("Runtime.X".into()), Bytes::from_static(b"{}"))
            .unwrap();
        assert!(matches!(rx.await.unwrap(), InitOutcome::InitError { .. }));
        let (tx, _rx) = oneshot::channel();
        r.begin_init(tx);
        r.deliver(event("a"), oneshot::channel().0);
        r.next().await.unwrap();
        assert!(r.init_error(None, Bytes::new()).is_err());
    }
}
