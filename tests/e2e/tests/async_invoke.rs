//! Asynchronous invocation through the real aws-sdk-lambda: durable 202s, AWS's retry schedule
//! (scaled down), event age, destinations with AWS's record, DLQ attributes, dead letters.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    DeadLetterConfig, DestinationConfig, InvocationType, OnFailure, OnSuccess,
};
use invokd_e2e::{Options, TestServer, eventually, function};
use invokd_engine::outbound::{Outbound, OutboundFuture, OutboundMessage};
use serde_json::{Value, json};

const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function";

/// Records what would have gone to SQS, SNS and EventBridge.
#[derive(Debug, Default)]
struct Recorder {
    sent: Mutex<Vec<OutboundMessage>>,
}

impl Outbound for Recorder {
    fn send(&self, message: OutboundMessage) -> OutboundFuture {
        self.sent.lock().unwrap().push(message);
        Box::pin(async { Ok(()) })
    }
}

impl Recorder {
    fn messages(&self) -> Vec<OutboundMessage> {
        self.sent.lock().unwrap().clone()
    }
}

/// A server whose async delays are 100x shorter (a minute is 0.6 s), with a recording outbound.
async fn server() -> (TestServer, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let server = TestServer::start_with(Options {
        configure: Box::new(|c| c.async_config.retry_scale = 0.01),
        outbound: recorder.clone(),
        ..Default::default()
    })
    .await;
    (server, recorder)
}

/// Lines `<request id> <payload>` the fixture appended to `path`.
fn lines(path: &std::path::Path) -> Vec<(String, Value)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (id, payload) = l.split_once(' ').unwrap();
            (id.to_owned(), serde_json::from_str(payload).unwrap())
        })
        .collect()
}

async fn invoke_event(server: &TestServer, name: &str, payload: Value) -> String {
    let out = server
        .client
        .invoke()
        .function_name(name)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(payload.to_string().into_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 202);
    assert!(
        out.executed_version().is_none(),
        "no executed version for Event"
    );
    assert!(out.payload().is_none_or(|p| p.as_ref().is_empty()));
    out.request_id().unwrap().to_owned()
}

fn record_of(m: &OutboundMessage) -> Value {
    match m {
        OutboundMessage::Sqs { body, .. } => serde_json::from_str(body).unwrap(),
        OutboundMessage::Sns { message, .. } => serde_json::from_str(message).unwrap(),
        OutboundMessage::EventBridge { detail, .. } => serde_json::from_str(detail).unwrap(),
    }
}

#[tokio::test]
async fn an_event_is_accepted_with_202_and_runs_with_that_request_id() {
    let (server, _) = server().await;
    function("ev").deploy(&server).await;
    let file = server.data_dir.path().join("ev.out");
    let id = invoke_event(&server, "ev", json!({"append": file})).await;
    eventually(Duration::from_secs(10), "the event to run", || {
        !lines(&file).is_empty()
    })
    .await;
    assert_eq!(lines(&file)[0].0, id);
    server.stop().await;
}

#[tokio::test]
async fn event_payloads_are_limited_to_one_megabyte() {
    let (server, _) = server().await;
    function("evbig").deploy(&server).await;
    let big = format!("\"{}\"", "a".repeat(1_048_576 - 2));
    let ok = server
        .client
        .invoke()
        .function_name("evbig")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(big.clone()))
        .send()
        .await;
    assert_eq!(ok.unwrap().status_code(), 202);
    let too_big = format!("\"{}\"", "a".repeat(1_048_576 - 1));
    let err = server
        .client
        .invoke()
        .function_name("evbig")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(too_big))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("RequestEntityTooLargeException"));
    assert_eq!(
        err.message(),
        Some(
            "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)"
        )
    );
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 413);
    let err = server
        .client
        .invoke()
        .function_name("nope")
        .invocation_type(InvocationType::Event)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    server.stop().await;
}

#[tokio::test]
async fn function_errors_are_retried_twice_with_the_same_request_id_then_recorded() {
    let (server, recorder) = server().await;
    function("flaky").deploy(&server).await;
    let queue = "arn:aws:sqs:us-east-1:000000000000:failures";
    server
        .client
        .put_function_event_invoke_config()
        .function_name("flaky")
        .destination_config(
            DestinationConfig::builder()
                .on_failure(OnFailure::builder().destination(queue).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let file = server.data_dir.path().join("flaky.out");
    let payload = json!({"append": file, "error": "intentional failure"});
    let started = tokio::time::Instant::now();
    let id = invoke_event(&server, "flaky", payload.clone()).await;
    eventually(Duration::from_secs(20), "the failure record", || {
        !recorder.messages().is_empty()
    })
    .await;
    // 0.6 s then 1.2 s between attempts at this scale (AWS: 1 min then 2 min).
    assert!(
        started.elapsed() >= Duration::from_millis(1700),
        "{:?}",
        started.elapsed()
    );
    let attempts = lines(&file);
    assert_eq!(attempts.len(), 3, "one attempt and two retries");
    assert!(
        attempts.iter().all(|(rid, _)| rid == &id),
        "the same request id on every attempt"
    );
    let messages = recorder.messages();
    let OutboundMessage::Sqs {
        queue_arn,
        attributes,
        ..
    } = &messages[0]
    else {
        panic!("{messages:?}")
    };
    assert_eq!(queue_arn, queue);
    assert!(attributes.is_empty());
    let r = record_of(&messages[0]);
    assert_eq!(r["version"], "1.0");
    assert!(r["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(r["requestContext"]["requestId"], id.as_str());
    assert_eq!(
        r["requestContext"]["functionArn"],
        format!("{ARN}:flaky:$LATEST")
    );
    assert_eq!(r["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(r["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(r["requestPayload"], payload);
    assert_eq!(
        r["responseContext"],
        json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"})
    );
    assert_eq!(r["responsePayload"]["errorMessage"], "intentional failure");
    server.stop().await;
}

#[tokio::test]
async fn maximum_retry_attempts_zero_means_one_attempt() {
    let (server, recorder) = server().await;
    function("once").deploy(&server).await;
    server
        .client
        .put_function_event_invoke_config()
        .function_name("once")
        .maximum_retry_attempts(0)
        .destination_config(
            DestinationConfig::builder()
                .on_failure(
                    OnFailure::builder()
                        .destination("arn:aws:sns:us-east-1:000000000000:t")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let file = server.data_dir.path().join("once.out");
    invoke_event(&server, "once", json!({"append": file, "error": "x"})).await;
    eventually(Duration::from_secs(10), "the failure record", || {
        !recorder.messages().is_empty()
    })
    .await;
    assert_eq!(lines(&file).len(), 1);
    let m = &recorder.messages()[0];
    assert!(
        matches!(m, OutboundMessage::Sns { topic_arn, .. } if topic_arn == "arn:aws:sns:us-east-1:000000000000:t")
    );
    assert_eq!(record_of(m)["requestContext"]["approximateInvokeCount"], 1);
    server.stop().await;
}

#[tokio::test]
async fn an_event_older_than_its_maximum_age_is_given_up() {
    let (server, recorder) = server().await;
    function("aged").deploy(&server).await;
    let dest = "arn:aws:sqs:us-east-1:000000000000:aged";
    for (qualifier_age, expected_count) in [(60, 1), (90, 2)] {
        server
            .client
            .put_function_event_invoke_config()
            .function_name("aged")
            .maximum_event_age_in_seconds(qualifier_age)
            .destination_config(
                DestinationConfig::builder()
                    .on_failure(OnFailure::builder().destination(dest).build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let before = recorder.messages().len();
        invoke_event(&server, "aged", json!({"error": "intentional failure"})).await;
        eventually(Duration::from_secs(10), "the failure record", || {
            recorder.messages().len() > before
        })
        .await;
        let r = record_of(&recorder.messages()[before]);
        // Scaled: 60 s of age is 0.6 s, and the first retry would start 0.6 s after the failure.
        assert_eq!(
            r["requestContext"]["condition"], "EventAgeExceeded",
            "age {qualifier_age}: {r}"
        );
        assert_eq!(
            r["requestContext"]["approximateInvokeCount"], expected_count,
            "age {qualifier_age}"
        );
        assert_eq!(r["responseContext"]["functionError"], "Unhandled");
    }
    server.stop().await;
}

#[tokio::test]
async fn success_records_go_to_the_on_success_destination() {
    let (server, recorder) = server().await;
    function("good").deploy(&server).await;
    server
        .client
        .put_function_event_invoke_config()
        .function_name("good")
        .destination_config(
            DestinationConfig::builder()
                .on_success(
                    OnSuccess::builder()
                        .destination("arn:aws:events:us-east-1:000000000000:event-bus/default")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let id = invoke_event(&server, "good", json!({"hello": "world"})).await;
    eventually(Duration::from_secs(10), "the success record", || {
        !recorder.messages().is_empty()
    })
    .await;
    let m = &recorder.messages()[0];
    let OutboundMessage::EventBridge {
        bus_arn,
        source,
        detail_type,
        resources,
        ..
    } = m
    else {
        panic!("{m:?}")
    };
    assert_eq!(
        bus_arn,
        "arn:aws:events:us-east-1:000000000000:event-bus/default"
    );
    assert_eq!(source, "lambda");
    assert_eq!(detail_type, "Lambda Function Invocation Result - Success");
    // AWS lists the bus, then the function (spec §4.4).
    assert_eq!(
        resources,
        &vec![bus_arn.clone(), format!("{ARN}:good:$LATEST")]
    );
    let r = record_of(m);
    assert_eq!(r["requestContext"]["condition"], "Success");
    assert_eq!(r["requestContext"]["requestId"], id.as_str());
    assert_eq!(r["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(
        r["responseContext"],
        json!({"statusCode": 200, "executedVersion": "$LATEST"})
    );
    assert_eq!(r["responsePayload"], json!({"hello": "world"}));
    assert_eq!(r["requestPayload"], json!({"hello": "world"}));
    server.stop().await;
}

#[tokio::test]
async fn a_function_destination_is_invoked_asynchronously_with_the_record() {
    let (server, _) = server().await;
    let file = server.data_dir.path().join("dest.out");
    function("sink")
        .env("APPEND_TO", file.to_str().unwrap())
        .deploy(&server)
        .await;
    function("source").publish().deploy(&server).await;
    server
        .client
        .create_alias()
        .function_name("source")
        .name("live")
        .function_version("1")
        .send()
        .await
        .unwrap();
    server
        .client
        .put_function_event_invoke_config()
        .function_name("source")
        .qualifier("live")
        .maximum_retry_attempts(0)
        .destination_config(
            DestinationConfig::builder()
                .on_failure(
                    OnFailure::builder()
                        .destination(format!("{ARN}:sink"))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let id = server
        .client
        .invoke()
        .function_name("source:live")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(br#"{"error":"boom"}"#.to_vec()))
        .send()
        .await
        .unwrap()
        .request_id()
        .unwrap()
        .to_owned();
    eventually(
        Duration::from_secs(10),
        "the destination function to run",
        || !lines(&file).is_empty(),
    )
    .await;
    let (sink_request, record) = &lines(&file)[0];
    assert_ne!(
        sink_request, &id,
        "the destination runs as its own invocation"
    );
    assert_eq!(record["requestContext"]["requestId"], id.as_str());
    assert_eq!(
        record["requestContext"]["functionArn"],
        format!("{ARN}:source:live")
    );
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["responseContext"]["executedVersion"], "1");
    server.stop().await;
}

#[tokio::test]
async fn the_dead_letter_queue_gets_the_payload_with_aws_attributes() {
    let (server, recorder) = server().await;
    let dlq = "arn:aws:sqs:us-east-1:000000000000:dlq";
    server
        .client
        .create_function()
        .function_name("dlq")
        .runtime("provided.al2023".into())
        .handler("bootstrap")
        .role(invokd_e2e::ROLE)
        .dead_letter_config(DeadLetterConfig::builder().target_arn(dlq).build())
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(Blob::new(invokd_e2e::fixture_package()))
                .build(),
        )
        .send()
        .await
        .unwrap();
    server
        .client
        .put_function_event_invoke_config()
        .function_name("dlq")
        .maximum_retry_attempts(0)
        .send()
        .await
        .unwrap();
    let payload = json!({"error": "Test exception (this is intentional)"});
    let id = invoke_event(&server, "dlq", payload.clone()).await;
    eventually(Duration::from_secs(10), "the DLQ message", || {
        !recorder.messages().is_empty()
    })
    .await;
    let OutboundMessage::Sqs {
        queue_arn,
        body,
        attributes,
    } = &recorder.messages()[0]
    else {
        panic!()
    };
    assert_eq!(queue_arn, dlq);
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        payload,
        "the body is the original event"
    );
    let attr = |n: &str| {
        attributes
            .iter()
            .find(|a| a.name == n)
            .map(|a| (a.data_type, a.value.clone()))
            .unwrap()
    };
    assert_eq!(attr("RequestID"), ("String", id));
    assert_eq!(attr("ErrorCode"), ("Number", "200".to_owned()));
    assert_eq!(
        attr("ErrorMessage"),
        ("String", "Test exception (this is intentional)".to_owned())
    );
    server.stop().await;
}

#[tokio::test]
async fn undeliverable_records_are_kept_as_dead_letters() {
    // No outbound endpoint: the SQS destination cannot be reached.
    let server = TestServer::start_with(Options {
        configure: Box::new(|c| c.async_config.retry_scale = 0.001),
        ..Default::default()
    })
    .await;
    function("lost").deploy(&server).await;
    server
        .client
        .put_function_event_invoke_config()
        .function_name("lost")
        .destination_config(
            DestinationConfig::builder()
                .on_success(
                    OnSuccess::builder()
                        .destination("arn:aws:sqs:us-east-1:000000000000:q")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let id = invoke_event(&server, "lost", json!({"k": 1})).await;
    let engine = server.engine.clone();
    let mut dead = Vec::new();
    for _ in 0..500 {
        let (events, d) = engine.list_events(Some("lost")).await.unwrap();
        if events.is_empty() && !d.is_empty() {
            dead = d;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(dead.len(), 1, "the record is kept, not dropped");
    assert_eq!(dead[0].request_id, id);
    assert_eq!(dead[0].target, "arn:aws:sqs:us-east-1:000000000000:q");
    assert!(
        dead[0].error.contains("no AWS endpoint is configured"),
        "{}",
        dead[0].error
    );
    let record: Value = serde_json::from_str(&dead[0].message).unwrap();
    assert_eq!(record["requestContext"]["condition"], "Success");
    assert!(
        engine.redrive(dead[0].id).await.is_err(),
        "still undeliverable"
    );
    server.stop().await;
}

#[tokio::test]
async fn event_invoke_config_lifecycle_and_errors() {
    let (server, _) = server().await;
    function("cfg").publish().deploy(&server).await;
    function("other").deploy(&server).await;
    let c = &server.client;
    let put = c
        .put_function_event_invoke_config()
        .function_name("cfg")
        .maximum_retry_attempts(1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.function_arn(),
        Some(format!("{ARN}:cfg:$LATEST").as_str())
    );
    assert_eq!(put.maximum_retry_attempts(), Some(1));
    assert_eq!(put.maximum_event_age_in_seconds(), None);
    assert!(put.last_modified().is_some());
    let updated = c
        .update_function_event_invoke_config()
        .function_name("cfg")
        .maximum_event_age_in_seconds(60)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            updated.maximum_retry_attempts(),
            updated.maximum_event_age_in_seconds()
        ),
        (Some(1), Some(60))
    );
    let replaced = c
        .put_function_event_invoke_config()
        .function_name("cfg")
        .maximum_retry_attempts(0)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            replaced.maximum_retry_attempts(),
            replaced.maximum_event_age_in_seconds()
        ),
        (Some(0), None)
    );
    c.put_function_event_invoke_config()
        .function_name("cfg")
        .qualifier("1")
        .maximum_event_age_in_seconds(120)
        .send()
        .await
        .unwrap();
    let listed: Vec<String> = c
        .list_function_event_invoke_configs()
        .function_name("cfg")
        .send()
        .await
        .unwrap()
        .function_event_invoke_configs()
        .iter()
        .map(|x| x.function_arn().unwrap().to_owned())
        .collect();
    assert_eq!(
        listed,
        [format!("{ARN}:cfg:$LATEST"), format!("{ARN}:cfg:1")]
    );

    let expect = |e: &dyn ProvideErrorMetadata, code: &str, message: &str| {
        assert_eq!(e.code(), Some(code));
        assert_eq!(e.message(), Some(message));
    };
    let e = c
        .put_function_event_invoke_config()
        .function_name("cfg")
        .send()
        .await
        .unwrap_err();
    expect(
        &e,
        "InvalidParameterValueException",
        "You must specify at least one of error handling or destination setting.",
    );
    let e = c
        .put_function_event_invoke_config()
        .function_name("nope")
        .maximum_retry_attempts(1)
        .send()
        .await
        .unwrap_err();
    expect(
        &e,
        "ResourceNotFoundException",
        "The function doesn't exist.",
    );
    let e = c
        .put_function_event_invoke_config()
        .function_name("cfg")
        .maximum_retry_attempts(3)
        .send()
        .await
        .unwrap_err();
    expect(
        &e,
        "ValidationException",
        "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2",
    );
    let e = c
        .put_function_event_invoke_config()
        .function_name("cfg")
        .maximum_event_age_in_seconds(59)
        .send()
        .await
        .unwrap_err();
    expect(
        &e,
        "ValidationException",
        "1 validation error detected: Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60",
    );
    let dest = |d: &str| {
        DestinationConfig::builder()
            .on_success(OnSuccess::builder().destination(d).build())
            .build()
    };
    let e = c
        .put_function_event_invoke_config()
        .function_name("cfg")
        .destination_config(dest(&format!("{ARN}:doesnotexist")))
        .send()
        .await
        .unwrap_err();
    expect(
        &e,
        "InvalidParameterValueException",
        &format!("The destination ARN {ARN}:doesnotexist is invalid."),
    );
    let e = c
        .put_function_event_invoke_config()
        .function_name("cfg")
        .destination_config(dest(&format!("{ARN}:cfg")))
        .send()
        .await
        .unwrap_err();
    expect(
        &e,
        "InvalidParameterValueException",
        "You can't specify the function as a destination for itself.",
    );
    let iam = "arn:aws:iam:us-east-1:000000000000:function:cfg";
    let e = c
        .put_function_event_invoke_config()
        .function_name("cfg")
        .destination_config(dest(iam))
        .send()
        .await
        .unwrap_err();
    expect(
        &e,
        "InvalidParameterValueException",
        &format!(
            "The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={iam}), onFailure=null) is invalid."
        ),
    );
    let ok = c
        .put_function_event_invoke_config()
        .function_name("cfg")
        .destination_config(dest(&format!("{ARN}:other")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ok.destination_config()
            .unwrap()
            .on_success()
            .unwrap()
            .destination(),
        Some(format!("{ARN}:other").as_str())
    );
    let e = c
        .get_function_event_invoke_config()
        .function_name("cfg")
        .qualifier("nosuch")
        .send()
        .await
        .unwrap_err();
    expect(
        &e,
        "ResourceNotFoundException",
        &format!("The function {ARN}:cfg:nosuch doesn't have an EventInvokeConfig"),
    );
    c.delete_function_event_invoke_config()
        .function_name("cfg")
        .send()
        .await
        .unwrap();
    let e = c
        .delete_function_event_invoke_config()
        .function_name("cfg")
        .send()
        .await
        .unwrap_err();
    expect(
        &e,
        "ResourceNotFoundException",
        &format!("The function {ARN}:cfg:$LATEST doesn't have an EventInvokeConfig"),
    );
    server.stop().await;
}
