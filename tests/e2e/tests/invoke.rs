//! Synchronous Invoke through the real aws-sdk-lambda: statuses, headers, error types and
//! messages as AWS sends them (spec §1, §2, §3).

use std::time::Duration;

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use base64::Engine as _;
use invokd_e2e::{TestServer, body, eventually, function, invoke, shell_package};
use serde_json::Value;

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[tokio::test]
async fn request_response_returns_the_body_verbatim_with_the_executed_version() {
    let server = TestServer::start().await;
    function("echo").deploy(&server).await;
    let payload = r#"{"key1":"value1","key2":"value2","key3":"value3"}"#;
    let out = invoke(&server, "echo", payload).await;
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.executed_version(), Some("$LATEST"));
    assert_eq!(out.function_error(), None, "{}", body(&out));
    assert_eq!(out.log_result(), None);
    assert_eq!(body(&out), payload);
    server.stop().await;
}

#[tokio::test]
async fn the_runtime_sees_the_invocation_as_aws_describes_it() {
    let server = TestServer::start().await;
    function("ctx")
        .memory(256)
        .env("GREETING", "hello")
        .deploy(&server)
        .await;
    let out = server
        .client
        .invoke()
        .function_name("ctx")
        .payload(Blob::new(br#"{"context":true}"#.to_vec()))
        .send()
        .await
        .unwrap();
    let request_id = out.request_id().map(str::to_owned);
    let v = json(&body(&out));
    // x-amzn-RequestId is the invocation's request id.
    assert_eq!(v["request_id"].as_str(), request_id.as_deref());
    assert_eq!(
        v["invoked_function_arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:ctx"
    );
    assert!(v["xray_trace_id"].as_str().unwrap().starts_with("Root=1-"));
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let deadline = v["deadline"].as_u64().unwrap();
    assert!(
        deadline > now_ms && deadline <= now_ms + 3_000,
        "deadline {deadline} vs now {now_ms}"
    );
    let env = &v["env"];
    for (k, expected) in [
        ("AWS_LAMBDA_FUNCTION_NAME", "ctx"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/ctx"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("_HANDLER", "bootstrap"),
        ("TZ", ":UTC"),
        ("LANG", "en_US.UTF-8"),
        ("GREETING", "hello"),
    ] {
        assert_eq!(env[k], expected, "{k}");
    }
    assert!(
        env.get("AWS_EXECUTION_ENV").is_none(),
        "not set for custom runtimes"
    );
    let api = env["AWS_LAMBDA_RUNTIME_API"].as_str().unwrap();
    assert!(
        api.starts_with("127.0.0.1:") && !api.ends_with(&server.addr.port().to_string()),
        "{api}"
    );
    let stream = env["AWS_LAMBDA_LOG_STREAM_NAME"].as_str().unwrap();
    assert!(
        stream.contains("/[$LATEST]") && stream.len() == "2026/11/22/[$LATEST]".len() + 32,
        "{stream}"
    );
    assert_eq!(env["LAMBDA_TASK_ROOT"], v["cwd"]);
    assert_eq!(
        env["AWS_ENDPOINT_URL_LAMBDA"].as_str(),
        Some(server.endpoint.as_str())
    );
    server.stop().await;
}

#[tokio::test]
async fn dry_run_answers_204_and_runs_nothing() {
    let server = TestServer::start().await;
    function("dry").deploy(&server).await;
    let out = server
        .client
        .invoke()
        .function_name("dry")
        .invocation_type(InvocationType::DryRun)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 204);
    assert!(out.payload().is_none_or(|p| p.as_ref().is_empty()));
    assert!(
        !server.logs_dir("dry").exists(),
        "a dry run must not start an environment"
    );
    server.stop().await;
}

#[tokio::test]
async fn log_type_tail_returns_this_invocations_log_in_aws_format() {
    let server = TestServer::start().await;
    function("tail").deploy(&server).await;
    let out = server
        .client
        .invoke()
        .function_name("tail")
        .log_type(LogType::Tail)
        .payload(Blob::new(
            br#"{"print":"hello from the function"}"#.to_vec(),
        ))
        .send()
        .await
        .unwrap();
    let id = out.request_id().unwrap().to_owned();
    let log = base64::engine::general_purpose::STANDARD
        .decode(out.log_result().unwrap())
        .unwrap();
    let log = String::from_utf8(log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines[0],
        format!("START RequestId: {id} Version: $LATEST"),
        "{log}"
    );
    assert!(lines.contains(&"hello from the function"), "{log}");
    assert_eq!(lines[lines.len() - 2], format!("END RequestId: {id}"));
    let report = lines[lines.len() - 1];
    assert!(
        report.starts_with(&format!("REPORT RequestId: {id}\tDuration: ")),
        "{report}"
    );
    assert!(
        report.contains(" ms\tBilled Duration: ")
            && report.contains("\tMemory Size: 128 MB\tMax Memory Used: ")
    );
    assert!(
        report.contains("\tInit Duration: "),
        "first invoke of an environment reports its init: {report}"
    );
    assert!(log.ends_with("\t\n"), "REPORT ends with a tab");
    assert!(
        !log.contains("INIT_START"),
        "the tail holds this invocation only"
    );
    // A warm invoke has no init duration.
    let out = server
        .client
        .invoke()
        .function_name("tail")
        .log_type(LogType::Tail)
        .send()
        .await
        .unwrap();
    let log = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(out.log_result().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(!log.contains("Init Duration"), "{log}");
    server.stop().await;
}

#[tokio::test]
async fn tail_is_the_last_four_kilobytes() {
    let server = TestServer::start().await;
    function("bigtail").deploy(&server).await;
    let text = "y".repeat(10_000);
    let out = server
        .client
        .invoke()
        .function_name("bigtail")
        .log_type(LogType::Tail)
        .payload(Blob::new(format!(r#"{{"print":"{text}"}}"#).into_bytes()))
        .send()
        .await
        .unwrap();
    let log = base64::engine::general_purpose::STANDARD
        .decode(out.log_result().unwrap())
        .unwrap();
    assert_eq!(log.len(), 4096);
    assert!(String::from_utf8_lossy(&log).contains("REPORT RequestId"));
    server.stop().await;
}

#[tokio::test]
async fn client_context_is_decoded_for_the_runtime_and_validated() {
    let server = TestServer::start().await;
    function("cc").deploy(&server).await;
    let cc = base64::engine::general_purpose::STANDARD
        .encode(r#"{"custom":{"k":"v"},"environment":{"e":"1"}}"#);
    let out = server
        .client
        .invoke()
        .function_name("cc")
        .client_context(cc)
        .payload(Blob::new(br#"{"context":true}"#.to_vec()))
        .send()
        .await
        .unwrap();
    let v = json(&body(&out));
    assert_eq!(v["client_context"]["custom"]["k"], "v");
    assert_eq!(v["client_context"]["env"]["e"], "1");

    let err = server
        .client
        .invoke()
        .function_name("cc")
        .client_context("not base64!")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidRequestContentException"));
    assert_eq!(
        err.message(),
        Some("Client context must be a valid Base64-encoded JSON object.")
    );
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 400);

    let too_long = base64::engine::general_purpose::STANDARD
        .encode(format!(r#"{{"custom":{{"k":"{}"}}}}"#, "v".repeat(3000)));
    let err = server
        .client
        .invoke()
        .function_name("cc")
        .client_context(too_long)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidRequestContentException"));
    server.stop().await;
}

#[tokio::test]
async fn a_function_error_is_a_200_with_the_runtimes_body() {
    let server = TestServer::start().await;
    function("fails").deploy(&server).await;
    let out = invoke(&server, "fails", r#"{"error":"boom"}"#).await;
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(out.executed_version(), Some("$LATEST"));
    let v = json(&body(&out));
    assert_eq!(v["errorMessage"], "boom");
    assert!(
        v["errorType"].as_str().unwrap().contains("Error"),
        "lambda_runtime names a Rust type: {v}"
    );
    // The environment is still good.
    let out = invoke(&server, "fails", r#"{"ok":1}"#).await;
    assert_eq!(out.function_error(), None);
    server.stop().await;
}

#[tokio::test]
async fn a_timeout_kills_the_runtime_and_the_next_invoke_works() {
    let server = TestServer::start().await;
    function("slow").timeout(1).deploy(&server).await;
    let first = json(&body(&invoke(&server, "slow", r#"{"context":true}"#).await));
    let out = invoke(&server, "slow", r#"{"sleep_ms":5000}"#).await;
    let id = out.request_id().unwrap().to_owned();
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(
        body(&out),
        format!(
            r#"{{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: {id} Error: Task timed out after 1.00 seconds"}}"#
        )
    );
    let after = json(&body(&invoke(&server, "slow", r#"{"context":true}"#).await));
    assert_ne!(first["pid"], after["pid"], "the runtime was re-initialised");
    assert_eq!(
        first["env"]["TMPDIR"], after["env"]["TMPDIR"],
        "in the same sandbox (/tmp survives)"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_crash_mid_invoke_is_runtime_exit_error() {
    let server = TestServer::start().await;
    function("crash").deploy(&server).await;
    let out = invoke(&server, "crash", r#"{"exit":3}"#).await;
    let id = out.request_id().unwrap().to_owned();
    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(
        body(&out),
        format!(
            r#"{{"errorType":"Runtime.ExitError","errorMessage":"RequestId: {id} Error: Runtime exited with error: exit status 3"}}"#
        )
    );
    let out = invoke(&server, "crash", r#"{"exit":0}"#).await;
    let id = out.request_id().unwrap().to_owned();
    assert_eq!(
        body(&out),
        format!(
            r#"{{"errorType":"Runtime.ExitError","errorMessage":"RequestId: {id} Error: Runtime exited without providing a reason"}}"#
        )
    );
    assert_eq!(
        invoke(&server, "crash", "{}").await.function_error(),
        None,
        "a fresh runtime serves the next one"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_runtime_that_exits_during_init_is_runtime_exit_error() {
    let server = TestServer::start().await;
    function("noinit")
        .package(shell_package("#!/bin/sh\necho starting\nexit 7\n"))
        .deploy(&server)
        .await;
    let out = invoke(&server, "noinit", "{}").await;
    let id = out.request_id().unwrap().to_owned();
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(
        body(&out),
        format!(
            r#"{{"errorType":"Runtime.ExitError","errorMessage":"RequestId: {id} Error: Runtime exited with error: exit status 7"}}"#
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn an_init_error_posted_by_the_runtime_is_the_response() {
    let server = TestServer::start().await;
    let script = r#"#!/bin/sh
curl -sS -X POST "http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/init/error" \
  -H 'Lambda-Runtime-Function-Error-Type: Runtime.ConfigError' \
  -d '{"errorMessage":"bad config","errorType":"Runtime.ConfigError"}'
exit 1
"#;
    function("initerr")
        .package(shell_package(script))
        .deploy(&server)
        .await;
    let out = invoke(&server, "initerr", "{}").await;
    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(
        body(&out),
        r#"{"errorMessage":"bad config","errorType":"Runtime.ConfigError"}"#
    );
    server.stop().await;
}

#[tokio::test]
async fn an_init_that_hangs_is_retried_within_the_invoke_and_times_out() {
    let server = TestServer::start_with(invokd_e2e::Options {
        configure: Box::new(|c| c.init_timeout = Duration::from_millis(300)),
        ..Default::default()
    })
    .await;
    function("hang")
        .timeout(1)
        .package(shell_package("#!/bin/sh\nsleep 60\n"))
        .deploy(&server)
        .await;
    let out = invoke(&server, "hang", "{}").await;
    let v = json(&body(&out));
    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(v["errorType"], "Sandbox.Timedout");
    server.stop().await;
}

#[tokio::test]
async fn a_bootstrap_the_kernel_cannot_run_is_an_invalid_entrypoint() {
    // Executable, but neither a binary for this machine nor a `#!` script: exec fails, and it
    // is not handed to /bin/sh.
    let server = TestServer::start().await;
    function("noexec")
        .package(invokd_e2e::zip(&[(
            "bootstrap",
            b"echo this would run under sh\n",
            0o755,
        )]))
        .deploy(&server)
        .await;
    let out = invoke(&server, "noexec", "{}").await;
    let v = json(&body(&out));
    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(v["errorType"], "Runtime.InvalidEntrypoint", "{v}");
    let message = v["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("RequestId: ")
            && message.contains("Error: fork/exec ")
            && message.ends_with("/bootstrap: exec format error"),
        "{message}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_package_without_bootstrap_is_an_invalid_entrypoint() {
    let server = TestServer::start().await;
    function("nobootstrap")
        .package(invokd_e2e::zip(&[("handler.sh", b"#!/bin/sh\n", 0o755)]))
        .deploy(&server)
        .await;
    let out = invoke(&server, "nobootstrap", "{}").await;
    let v = json(&body(&out));
    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(v["errorType"], "Runtime.InvalidEntrypoint");
    assert!(
        v["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]")
    );
    server.stop().await;
}

#[tokio::test]
async fn request_payload_limits() {
    let server = TestServer::start().await;
    function("big").deploy(&server).await;
    let exactly = format!("\"{}\"", "a".repeat(6_291_456 - 2));
    let out = invoke(&server, "big", &exactly).await;
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.payload().unwrap().as_ref().len(), 6_291_456);

    let over = format!("\"{}\"", "a".repeat(6_291_456 - 1));
    let err = server
        .client
        .invoke()
        .function_name("big")
        .payload(Blob::new(over.into_bytes()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("RequestEntityTooLargeException"));
    assert_eq!(
        err.message(),
        Some("Request must be smaller than 6291456 bytes for the InvokeFunction operation")
    );
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 413);
    server.stop().await;
}

#[tokio::test]
async fn response_size_limit_is_a_function_error_and_the_environment_survives() {
    let server = TestServer::start().await;
    function("bigresp").deploy(&server).await;
    let out = invoke(&server, "bigresp", r#"{"respond_bytes":6291556}"#).await;
    assert_eq!(out.function_error(), None, "exactly the limit is fine");
    assert_eq!(out.payload().unwrap().as_ref().len(), 6_291_556);
    for _ in 0..2 {
        let out = invoke(&server, "bigresp", r#"{"respond_bytes":6291557}"#).await;
        assert_eq!(out.status_code(), 200);
        assert_eq!(out.function_error(), Some("Unhandled"));
        assert_eq!(
            body(&out),
            r#"{"errorMessage":"Response payload size exceeded maximum allowed payload size (6291556 bytes).","errorType":"Function.ResponseSizeTooLarge"}"#
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn invalid_json_is_invalid_request_content() {
    let server = TestServer::start().await;
    function("j").deploy(&server).await;
    let err = server
        .client
        .invoke()
        .function_name("j")
        .payload(Blob::new(b"'test'".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidRequestContentException"));
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 400);
    assert!(err
        .message()
        .unwrap()
        .starts_with("Could not parse request body into json: Could not parse payload into json: Unexpected character (''' (code 39))"));
    // Any JSON value is a valid payload, and so is an empty one.
    assert_eq!(body(&invoke(&server, "j", "42").await), "42");
    let out = server
        .client
        .invoke()
        .function_name("j")
        .send()
        .await
        .unwrap();
    assert_eq!(body(&out), "{}");
    server.stop().await;
}

#[tokio::test]
async fn unknown_functions_and_bad_names() {
    let server = TestServer::start().await;
    let err = server
        .client
        .invoke()
        .function_name("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert_eq!(
        err.message(),
        Some("Function not found: arn:aws:lambda:us-east-1:000000000000:function:missing:$LATEST")
    );
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 404);

    let err = server
        .client
        .invoke()
        .function_name("bad!name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    assert!(err.message().unwrap().starts_with("1 validation error detected: Value 'bad!name' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: "));

    let err = server
        .client
        .invoke()
        .function_name("arn:aws:lambda:eu-west-1:000000000000:function:x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert_eq!(
        err.message(),
        Some("Functions from 'eu-west-1' are not reachable in this region ('us-east-1')")
    );
    server.stop().await;
}

#[tokio::test]
async fn concurrent_invokes_run_in_separate_environments() {
    // 100 environments of 128 MB: a budget for them whatever the machine's memory.
    let server = TestServer::start_with(invokd_e2e::Options {
        configure: Box::new(|c| c.memory_budget_mb = 100 * 128),
        ..Default::default()
    })
    .await;
    function("sleepy").timeout(30).deploy(&server).await;
    let calls = (0..100).map(|_| {
        let client = server.client.clone();
        async move {
            let out = client
                .invoke()
                .function_name("sleepy")
                .payload(Blob::new(br#"{"sleep_ms":1500,"context":true}"#.to_vec()))
                .send()
                .await
                .unwrap();
            assert_eq!(out.function_error(), None, "{}", body(&out));
            json(&body(&out))["pid"].as_u64().unwrap()
        }
    });
    let pids: std::collections::HashSet<u64> =
        futures::future::join_all(calls).await.into_iter().collect();
    assert_eq!(
        pids.len(),
        100,
        "each concurrent invoke had its own environment"
    );
    let dir = server.data_dir.clone();
    server.stop().await;
    // Stopping the server leaves no function process behind.
    let exe = invokd_e2e::fixture_binary();
    eventually(Duration::from_secs(5), "function processes to exit", || {
        pids.iter()
            .all(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).map_or(true, |p| p != exe))
    })
    .await;
    drop(dir);
}

#[tokio::test]
async fn an_environment_past_its_lifetime_is_replaced_when_its_invocation_ends() {
    // A lifetime of zero: every environment is too old by the time its invocation ends.
    let server = TestServer::start_with(invokd_e2e::Options {
        configure: Box::new(|c| c.max_lifetime = Duration::ZERO),
        ..Default::default()
    })
    .await;
    function("short-lived").deploy(&server).await;
    let mut pids = Vec::new();
    for _ in 0..3 {
        let out = server
            .client
            .invoke()
            .function_name("short-lived")
            .payload(Blob::new(br#"{"context":true}"#.to_vec()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.function_error(), None, "{}", body(&out));
        pids.push(json(&body(&out))["pid"].as_u64().unwrap());
    }
    assert!(
        pids[0] != pids[1] && pids[1] != pids[2] && pids[0] != pids[2],
        "each invoke had a fresh environment: {pids:?}"
    );
    // The retired environments' processes go.
    let exe = invokd_e2e::fixture_binary();
    eventually(Duration::from_secs(10), "retired processes to exit", || {
        pids[..2]
            .iter()
            .all(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).map_or(true, |p| p != exe))
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_steady_load_reuses_as_many_environments_as_it_keeps_busy() {
    // Four callers invoking back to back keep at most four environments busy; an environment
    // that has answered is handed to the next caller as soon as its runtime polls again rather
    // than a new one being started. (Slack for a runtime slower than the returning wait on a
    // loaded machine, but far from one environment per invoke.)
    let server = TestServer::start().await;
    function("steady").deploy(&server).await;
    let callers = (0..4).map(|_| {
        let client = server.client.clone();
        async move {
            let mut pids = Vec::new();
            for _ in 0..50 {
                let out = client
                    .invoke()
                    .function_name("steady")
                    .payload(Blob::new(br#"{"context":true}"#.to_vec()))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(out.function_error(), None, "{}", body(&out));
                pids.push(json(&body(&out))["pid"].as_u64().unwrap());
            }
            pids
        }
    });
    let pids: std::collections::HashSet<u64> = futures::future::join_all(callers)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(
        (1..=8).contains(&pids.len()),
        "200 invokes from 4 callers ran in {} environments",
        pids.len()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_runtime_slow_to_poll_again_is_waited_for_when_starting_one_is_slower() {
    // Init takes 300 ms and the runtime polls again 100 ms after each answer: sequential
    // invokes wait for it (about as long as a cold start would take) instead of starting more.
    let script = r#"#!/bin/sh
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
sleep 0.3
while true; do
  id=$(curl -sS -D - -o /dev/null "$api/next" | tr -d '\r' | sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: //p')
  curl -sS -o /dev/null -X POST "$api/$id/response" -d "$$"
  sleep 0.1
done
"#;
    let server = TestServer::start().await;
    function("slow-poll")
        .package(shell_package(script))
        .deploy(&server)
        .await;
    let mut pids = Vec::new();
    for _ in 0..3 {
        let out = invoke(&server, "slow-poll", "{}").await;
        assert_eq!(out.function_error(), None, "{}", body(&out));
        pids.push(body(&out));
    }
    assert!(
        pids.iter().all(|p| p == &pids[0]),
        "three sequential invokes ran in {pids:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn out_of_memory_is_reported_as_runtime_out_of_memory() {
    let server = TestServer::start().await;
    function("hungry")
        .memory(128)
        .timeout(20)
        .deploy(&server)
        .await;
    let out = invoke(&server, "hungry", r#"{"alloc_mb":400}"#).await;
    let v = json(&body(&out));
    assert_eq!(out.function_error(), Some("Unhandled"), "{v}");
    assert_eq!(v["errorType"], "Runtime.OutOfMemory", "{v}");
    assert!(
        v["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Error: Runtime exited with error: signal: killed"),
        "{v}"
    );
    assert_eq!(invoke(&server, "hungry", "{}").await.function_error(), None);
    server.stop().await;
}
