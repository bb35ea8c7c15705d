//! Deliveries to other AWS services (destinations and dead-letter queues of asynchronous
//! invocations) through the official AWS SDK for Rust.
//!
//! invokd does not host SQS, SNS or EventBridge: the operator points it at an endpoint that
//! speaks those APIs (`invokd serve --aws-endpoint-url`, e.g. LocalStack or moto), with the
//! credentials of that endpoint. The queue URL of an SQS ARN is resolved with `GetQueueUrl`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use aws_types::region::Region;
use invokd_engine::outbound::{MessageAttribute, Outbound, OutboundFuture, OutboundMessage};

/// Where and as whom to send.
#[derive(Debug, Clone)]
pub struct AwsTarget {
    pub endpoint_url: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Sends through the AWS SDK to one endpoint.
#[derive(Debug, Clone)]
pub struct AwsOutbound {
    inner: Arc<Clients>,
}

#[derive(Debug)]
struct Clients {
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    events: aws_sdk_eventbridge::Client,
    queue_urls: Mutex<HashMap<String, String>>,
}

impl AwsOutbound {
    pub fn new(t: &AwsTarget) -> AwsOutbound {
        let creds = Credentials::new(&t.access_key_id, &t.secret_access_key, None, None, "invokd");
        let region = Region::new(t.region.clone());
        let sqs = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .endpoint_url(&t.endpoint_url)
            .region(region.clone())
            .credentials_provider(creds.clone())
            .build();
        let sns = aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .endpoint_url(&t.endpoint_url)
            .region(region.clone())
            .credentials_provider(creds.clone())
            .build();
        let events = aws_sdk_eventbridge::Config::builder()
            .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
            .endpoint_url(&t.endpoint_url)
            .region(region)
            .credentials_provider(creds)
            .build();
        AwsOutbound {
            inner: Arc::new(Clients {
                sqs: aws_sdk_sqs::Client::from_conf(sqs),
                sns: aws_sdk_sns::Client::from_conf(sns),
                events: aws_sdk_eventbridge::Client::from_conf(events),
                queue_urls: Mutex::new(HashMap::new()),
            }),
        }
    }
}

/// `arn:aws:sqs:<region>:<account>:<queue>` -> (account, queue name).
fn sqs_parts(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    (parts.len() == 6 && parts[2] == "sqs").then(|| (parts[4], parts[5]))
}

impl Clients {
    async fn queue_url(&self, arn: &str) -> Result<String, String> {
        if let Some(url) = self.queue_urls.lock().expect("queue urls lock").get(arn) {
            return Ok(url.clone());
        }
        let (account, name) =
            sqs_parts(arn).ok_or_else(|| format!("{arn} is not an SQS queue ARN"))?;
        let out = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .queue_owner_aws_account_id(account)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "GetQueueUrl {arn}: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            })?;
        let url = out
            .queue_url()
            .ok_or_else(|| format!("no URL for {arn}"))?
            .to_owned();
        self.queue_urls
            .lock()
            .expect("queue urls lock")
            .insert(arn.to_owned(), url.clone());
        Ok(url)
    }

    async fn send_message(&self, message: OutboundMessage) -> Result<(), String> {
        match message {
            OutboundMessage::Sqs {
                queue_arn,
                body,
                attributes,
            } => {
                let url = self.queue_url(&queue_arn).await?;
                let mut req = self.sqs.send_message().queue_url(url).message_body(body);
                for a in attributes {
                    req = req.message_attributes(&a.name, sqs_attribute(&a)?);
                }
                req.send().await.map(|_| ()).map_err(|e| {
                    format!(
                        "SendMessage {queue_arn}: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    )
                })
            }
            OutboundMessage::Sns {
                topic_arn,
                message,
                attributes,
            } => {
                let mut req = self.sns.publish().topic_arn(&topic_arn).message(message);
                for a in attributes {
                    req = req.message_attributes(&a.name, sns_attribute(&a)?);
                }
                req.send().await.map(|_| ()).map_err(|e| {
                    format!(
                        "Publish {topic_arn}: {}",
                        aws_sdk_sns::error::DisplayErrorContext(e)
                    )
                })
            }
            OutboundMessage::EventBridge {
                bus_arn,
                source,
                detail_type,
                detail,
                resources,
            } => {
                let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .event_bus_name(&bus_arn)
                    .source(source)
                    .detail_type(detail_type)
                    .detail(detail)
                    .set_resources(Some(resources))
                    .build();
                let out = self
                    .events
                    .put_events()
                    .entries(entry)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "PutEvents {bus_arn}: {}",
                            aws_sdk_eventbridge::error::DisplayErrorContext(e)
                        )
                    })?;
                if out.failed_entry_count() > 0 {
                    return Err(format!("PutEvents {bus_arn}: the entry was refused"));
                }
                Ok(())
            }
        }
    }
}

fn sqs_attribute(
    a: &MessageAttribute,
) -> Result<aws_sdk_sqs::types::MessageAttributeValue, String> {
    aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type(a.data_type)
        .string_value(&a.value)
        .build()
        .map_err(|e| e.to_string())
}

fn sns_attribute(
    a: &MessageAttribute,
) -> Result<aws_sdk_sns::types::MessageAttributeValue, String> {
    aws_sdk_sns::types::MessageAttributeValue::builder()
        .data_type(a.data_type)
        .string_value(&a.value)
        .build()
        .map_err(|e| e.to_string())
}

impl Outbound for AwsOutbound {
    fn send(&self, message: OutboundMessage) -> OutboundFuture {
        let clients = self.inner.clone();
        Box::pin(async move { clients.send_message(message).await })
    }
}
