//! Messages to other AWS services: destinations and dead-letter queues of asynchronous
//! invocations. The engine decides *what* to send; an [`Outbound`] implementation (the official
//! AWS SDK, pointed at the operator's endpoint, in the `invokd-outbound` crate) sends it.

use std::future::Future;
use std::pin::Pin;

/// A message attribute (SQS `MessageAttributes`, SNS `MessageAttributes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAttribute {
    pub name: String,
    /// `String` or `Number`.
    pub data_type: &'static str,
    pub value: String,
}

/// One message for another service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundMessage {
    Sqs {
        queue_arn: String,
        body: String,
        attributes: Vec<MessageAttribute>,
    },
    Sns {
        topic_arn: String,
        message: String,
        attributes: Vec<MessageAttribute>,
    },
    EventBridge {
        bus_arn: String,
        source: String,
        detail_type: String,
        detail: String,
        resources: Vec<String>,
    },
}

impl OutboundMessage {
    pub fn target(&self) -> &str {
        match self {
            OutboundMessage::Sqs { queue_arn, .. } => queue_arn,
            OutboundMessage::Sns { topic_arn, .. } => topic_arn,
            OutboundMessage::EventBridge { bus_arn, .. } => bus_arn,
        }
    }
}

pub type OutboundFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Sends messages to SQS, SNS and EventBridge.
pub trait Outbound: Send + Sync + std::fmt::Debug + 'static {
    fn send(&self, message: OutboundMessage) -> OutboundFuture;
}

/// The outbound of a server without an AWS endpoint: every send fails, so the delivery is kept
/// as a dead letter for a later redrive rather than dropped.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoOutbound;

impl Outbound for NoOutbound {
    fn send(&self, message: OutboundMessage) -> OutboundFuture {
        let target = message.target().to_owned();
        Box::pin(async move {
            Err(format!(
                "no AWS endpoint is configured for {target} (invokd serve --aws-endpoint-url)"
            ))
        })
    }
}
