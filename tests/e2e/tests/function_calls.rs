//! Functions calling Lambda, the recursion guard, and the legacy InvokeAsync (spec §9, App. A).

use std::time::Duration;

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::{Blob, ByteStream};
use aws_sdk_lambda::types::RecursiveLoop;
use invokd_e2e::{TestServer, body, eventually, function, invoke};
use serde_json::{Value, json};

/// A payload that makes the fixture call `function` with `inner`, `depth` levels deep.
fn chain(function: &str, depth: usize, file: &std::path::Path) -> Value {
    let mut payload = json!({"append": file});
    for _ in 0..depth {
        payload = json!({"append": file, "call": {"function": function, "payload": payload}});
    }
    payload
}

#[tokio::test]
async fn a_function_calls_another_through_the_sdk_with_the_injected_endpoint() {
    let server = TestServer::start().await;
    function("callee").deploy(&server).await;
    function("caller").timeout(10).deploy(&server).await;
    let out = invoke(
        &server,
        "caller",
        &json!({"call": {"function": "callee", "payload": {"hello": "inner"}}}).to_string(),
    )
    .await;
    let v: Value = serde_json::from_str(&body(&out)).unwrap();
    assert_eq!(v, json!({"status": 200, "payload": {"hello": "inner"}}));
    server.stop().await;
}

#[tokio::test]
async fn a_synchronous_loop_is_stopped_at_the_sixteenth_invocation() {
    let server = TestServer::start().await;
    function("loop").timeout(60).deploy(&server).await;
    let file = server.data_dir.path().join("loop.out");
    let out = invoke(&server, "loop", &chain("loop", 25, &file).to_string()).await;
    // Unwrap the nested answers down to the call that was refused.
    let mut v: Value = serde_json::from_str(&body(&out)).unwrap();
    let mut depth = 0;
    while v.get("payload").is_some() {
        v = v["payload"].clone();
        depth += 1;
    }
    assert_eq!(v["error"], "RecursiveInvocationException", "{v}");
    let ran = std::fs::read_to_string(&file).unwrap().lines().count();
    assert_eq!(
        ran, 16,
        "invocations 0..15 of the chain ran; the 17th was stopped"
    );
    assert_eq!(depth, 15);
    server.stop().await;
}

#[tokio::test]
async fn recursion_config_allow_lets_a_loop_run() {
    let server = TestServer::start().await;
    function("allowed").timeout(60).deploy(&server).await;
    let c = &server.client;
    assert_eq!(
        c.get_function_recursion_config()
            .function_name("allowed")
            .send()
            .await
            .unwrap()
            .recursive_loop(),
        Some(&RecursiveLoop::Terminate),
        "AWS's default"
    );
    let put = c
        .put_function_recursion_config()
        .function_name("allowed")
        .recursive_loop(RecursiveLoop::Allow)
        .send()
        .await
        .unwrap();
    assert_eq!(put.recursive_loop(), Some(&RecursiveLoop::Allow));
    let file = server.data_dir.path().join("allowed.out");
    invoke(&server, "allowed", &chain("allowed", 20, &file).to_string()).await;
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 21);

    let e = c
        .put_function_recursion_config()
        .function_name("allowed")
        .recursive_loop("Sometimes".into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"));
    assert_eq!(
        e.message(),
        Some(
            "1 validation error detected: Value 'Sometimes' at 'recursiveLoop' failed to satisfy constraint: Member must satisfy enum value set: [Terminate, Allow]"
        )
    );
    let e = c
        .get_function_recursion_config()
        .function_name("allowed:1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"));
    let e = c
        .get_function_recursion_config()
        .function_name("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ResourceNotFoundException"));
    server.stop().await;
}

#[tokio::test]
async fn an_asynchronous_loop_is_stopped_and_recorded() {
    let server = TestServer::start_with(invokd_e2e::Options {
        configure: Box::new(|c| c.async_config.retry_scale = 0.01),
        ..Default::default()
    })
    .await;
    let records = server.data_dir.path().join("records.out");
    function("stopped")
        .env("APPEND_TO", records.to_str().unwrap())
        .deploy(&server)
        .await;
    function("aloop").timeout(10).deploy(&server).await;
    server
        .client
        .put_function_event_invoke_config()
        .function_name("aloop")
        .destination_config(
            aws_sdk_lambda::types::DestinationConfig::builder()
                .on_failure(
                    aws_sdk_lambda::types::OnFailure::builder()
                        .destination("arn:aws:lambda:us-east-1:000000000000:function:stopped")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    // Each invocation queues the next one: an endless asynchronous loop.
    let file = server.data_dir.path().join("aloop.out");
    let mut payload = json!({"append": file});
    payload =
        json!({"append": file, "call": {"function": "aloop", "payload": payload, "async": true}});
    let mut looping = payload.clone();
    for _ in 0..30 {
        looping = json!({"append": file, "call": {"function": "aloop", "payload": looping, "async": true}});
    }
    server
        .client
        .invoke()
        .function_name("aloop")
        .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
        .payload(Blob::new(looping.to_string()))
        .send()
        .await
        .unwrap();
    eventually(
        Duration::from_secs(30),
        "the loop to be stopped and recorded",
        || records.exists(),
    )
    .await;
    let line = std::fs::read_to_string(&records).unwrap();
    let record: Value = serde_json::from_str(line.split_once(' ').unwrap().1.trim()).unwrap();
    assert_eq!(
        record["requestContext"]["condition"],
        "RecursiveInvocationDetected"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 16);
    server.stop().await;
}

#[tokio::test]
async fn invoke_async_is_accepted_and_runs() {
    let server = TestServer::start().await;
    function("legacy").deploy(&server).await;
    let file = server.data_dir.path().join("legacy.out");
    #[allow(deprecated)]
    let out = server
        .client
        .invoke_async()
        .function_name("legacy")
        .invoke_args(ByteStream::from(
            json!({"append": file}).to_string().into_bytes(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 202);
    eventually(Duration::from_secs(10), "the event to run", || {
        file.exists()
    })
    .await;
    #[allow(deprecated)]
    let e = server
        .client
        .invoke_async()
        .function_name("legacy")
        .invoke_args(ByteStream::from(
            format!("\"{}\"", "a".repeat(262_144)).into_bytes(),
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 413);
    #[allow(deprecated)]
    let e = server
        .client
        .invoke_async()
        .function_name("missing")
        .invoke_args(ByteStream::from_static(b"{}"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ResourceNotFoundException"));
    server.stop().await;
}

#[tokio::test]
async fn durable_execution_is_refused_clearly_until_supported() {
    let server = TestServer::start().await;
    function("dur").deploy(&server).await;
    let e = server
        .client
        .invoke()
        .function_name("dur")
        .durable_execution_name("run-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"));
    assert!(
        e.message()
            .unwrap()
            .contains("Durable functions are not supported by invokd yet"),
        "{e:?}"
    );
    let e = server
        .client
        .create_function()
        .function_name("dur2")
        .runtime("provided.al2023".into())
        .handler("bootstrap")
        .role(invokd_e2e::ROLE)
        .durable_config(
            aws_sdk_lambda::types::DurableConfig::builder()
                .execution_timeout(60)
                .build(),
        )
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(Blob::new(invokd_e2e::fixture_package()))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"));
    assert!(
        e.message()
            .unwrap()
            .contains("Durable functions (DurableConfig) are not supported by invokd yet"),
        "{e:?}"
    );
    server.stop().await;
}
