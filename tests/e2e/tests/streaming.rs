//! InvokeWithResponseStream through aws-sdk-lambda (spec §8, §3.4): event-stream framing, runtimes
//! that stream (the official `lambda_runtime` in streaming mode) and runtimes that do not, errors
//! before and after the stream starts, Tail logs, limits and DryRun.

use std::time::Duration;

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::operation::invoke_with_response_stream::InvokeWithResponseStreamOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    InvokeWithResponseStreamCompleteEvent, InvokeWithResponseStreamResponseEvent as Ev, LogType,
    ResponseStreamingInvocationType,
};
use base64::Engine as _;
use invokd_e2e::{TestServer, body, function, shell_package};
use serde_json::{Value, json};

/// A custom runtime (`provided.al2023` bootstrap) that streams over raw HTTP/1.1 the way the
/// Node.js runtime does: chunked body, and a mid-stream error as real chunked trailers with a
/// base64 JSON error document. The event is `{"chunks": [...], "error": "message"?}`.
const TRAILER_RUNTIME: &str = r#"#!/usr/bin/env python3
import base64, http.client, json, os, socket

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
while True:
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    res = conn.getresponse()
    event = json.loads(res.read())
    request_id = res.getheader("Lambda-Runtime-Aws-Request-Id")
    conn.close()
    s = socket.create_connection((host, int(port)))
    s.sendall((
        f"POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
        "Transfer-Encoding: chunked\r\n"
        "Content-Type: application/octet-stream\r\n"
        "Trailer: Lambda-Runtime-Function-Error-Type\r\n"
        "Trailer: Lambda-Runtime-Function-Error-Body\r\n\r\n"
    ).encode())
    for text in event.get("chunks", []):
        data = text.encode()
        s.sendall(b"%x\r\n%s\r\n" % (len(data), data))
    trailers = b""
    if "error" in event:
        doc = json.dumps({"errorType": "Error.Custom", "errorMessage": event["error"], "trace": []})
        trailers = (
            b"Lambda-Runtime-Function-Error-Type: Error.Custom\r\n"
            b"Lambda-Runtime-Function-Error-Body: " + base64.b64encode(doc.encode()) + b"\r\n"
        )
    s.sendall(b"0\r\n" + trailers + b"\r\n")
    s.recv(65536)
    s.close()
"#;

/// What a stream delivered: each chunk's bytes, and the final event.
struct Received {
    chunks: Vec<Vec<u8>>,
    complete: InvokeWithResponseStreamCompleteEvent,
}

impl Received {
    fn bytes(&self) -> Vec<u8> {
        self.chunks.concat()
    }
}

async fn start(server: &TestServer, name: &str, payload: &Value) -> InvokeWithResponseStreamOutput {
    server
        .client
        .invoke_with_response_stream()
        .function_name(name)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .expect("invoke_with_response_stream")
}

/// Reads a stream to its end; `InvokeComplete` must be last and come exactly once.
async fn receive(mut out: InvokeWithResponseStreamOutput) -> Received {
    let mut chunks = Vec::new();
    let mut complete = None;
    while let Some(event) = out
        .event_stream
        .recv()
        .await
        .expect("a well-formed event stream")
    {
        assert!(complete.is_none(), "nothing may follow InvokeComplete");
        match event {
            Ev::PayloadChunk(c) => {
                chunks.push(c.payload().expect("chunk payload").as_ref().to_vec())
            }
            Ev::InvokeComplete(c) => complete = Some(c),
            other => panic!("unexpected event {other:?}"),
        }
    }
    Received {
        chunks,
        complete: complete.expect("the stream ends with InvokeComplete"),
    }
}

/// `lambda_runtime` puts an HTTP-integration prelude (JSON, then 8 NULs) before a streamed body;
/// AWS hands it to direct callers unchanged. The body proper follows it.
fn after_prelude(bytes: &[u8]) -> &[u8] {
    let nuls = bytes
        .windows(8)
        .position(|w| w == [0u8; 8])
        .expect("the runtime's metadata prelude");
    let prelude: Value = serde_json::from_slice(&bytes[..nuls]).expect("prelude is JSON");
    assert_eq!(prelude["statusCode"], 200);
    &bytes[nuls + 8..]
}

#[tokio::test]
async fn a_buffered_function_arrives_as_chunks_then_invoke_complete() {
    let server = TestServer::start().await;
    function("echo").publish().deploy(&server).await;
    let payload = json!({"hello": "stream", "n": [1, 2, 3]});
    let out = start(&server, "echo", &payload).await;
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.executed_version(), Some("$LATEST"));
    let got = receive(out).await;
    let echoed: Value = serde_json::from_slice(&got.bytes()).unwrap();
    assert_eq!(echoed, payload);
    assert_eq!(got.complete.error_code(), None);
    assert_eq!(got.complete.error_details(), None);
    assert_eq!(got.complete.log_result(), None);

    // A qualifier selects the version, as with Invoke.
    let out = server
        .client
        .invoke_with_response_stream()
        .function_name("echo")
        .qualifier("1")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.executed_version(), Some("1"));
    receive(out).await;
    server.stop().await;
}

#[tokio::test]
async fn the_first_chunk_arrives_before_the_function_has_finished() {
    let server = TestServer::start().await;
    function("streamer").timeout(60).deploy(&server).await;
    let gate = server.data_dir.path().join("first-chunk-seen");
    // The function writes, then waits until this test has seen that write: if invokd buffered
    // the response, the function would never finish and the test would time out.
    let payload = json!({"stream": [
        {"write": "first;"},
        {"wait_for": gate},
        {"write": "second;"},
        {"write": "third"},
    ]});
    let mut out = start(&server, "streamer", &payload).await;
    assert_eq!(out.status_code(), 200);
    let mut seen = Vec::new();
    let mut complete = None;
    while let Some(event) = tokio::time::timeout(Duration::from_secs(30), out.event_stream.recv())
        .await
        .expect("the stream progresses")
        .unwrap()
    {
        match event {
            Ev::PayloadChunk(c) => {
                seen.extend_from_slice(c.payload().unwrap().as_ref());
                if seen.ends_with(b"first;") && !gate.exists() {
                    std::fs::write(&gate, b"").unwrap();
                }
            }
            Ev::InvokeComplete(c) => complete = Some(c),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        gate.exists(),
        "the first write reached the caller on its own"
    );
    assert_eq!(after_prelude(&seen), b"first;second;third");
    assert_eq!(complete.unwrap().error_code(), None);
    server.stop().await;
}

#[tokio::test]
async fn a_failure_after_the_stream_started_ends_it_with_error_code_and_details() {
    let server = TestServer::start().await;
    function("trailers")
        .package(shell_package(TRAILER_RUNTIME))
        .deploy(&server)
        .await;
    let payload = json!({"chunks": ["par", "tial"], "error": "the disk is on fire"});
    let got = receive(start(&server, "trailers", &payload).await).await;
    assert_eq!(got.bytes(), b"partial");
    assert_eq!(got.complete.error_code(), Some("Error.Custom"));
    assert_eq!(got.complete.error_details(), Some("the disk is on fire"));
    let got = receive(start(&server, "trailers", &json!({"chunks": ["fine"]})).await).await;
    assert_eq!(got.bytes(), b"fine");
    assert_eq!(got.complete.error_code(), None);

    // lambda_runtime 1.x writes its stream error as body text rather than as HTTP trailers, so
    // on AWS (and here) the caller receives that text as payload and no error.
    function("streamer").deploy(&server).await;
    let payload = json!({"stream": [{"write": "partial"}, {"fail": "oops"}]});
    let got = receive(start(&server, "streamer", &payload).await).await;
    let text = String::from_utf8(after_prelude(&got.bytes()).to_vec()).unwrap();
    assert!(
        text.starts_with("partialLambda-Runtime-Function-Error-Type: Runtime.StreamError\r\n"),
        "{text:?}"
    );
    assert_eq!(got.complete.error_code(), None);

    // A buffered function's error: no chunk, and the error document's type and message.
    function("failing").deploy(&server).await;
    let got = receive(start(&server, "failing", &json!({"error": "no luck"})).await).await;
    assert!(got.chunks.is_empty());
    assert!(got.complete.error_code().is_some_and(|c| !c.is_empty()));
    assert_eq!(got.complete.error_details(), Some("no luck"));

    // A crash mid-invocation is a platform error, reported the same way.
    let got = receive(start(&server, "failing", &json!({"exit": 3})).await).await;
    assert_eq!(got.complete.error_code(), Some("Runtime.ExitError"));
    assert!(
        got.complete
            .error_details()
            .unwrap()
            .contains("Runtime exited with error: exit status 3")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_timeout_mid_stream_keeps_what_was_sent_and_says_it_timed_out() {
    let server = TestServer::start().await;
    function("slow").timeout(1).deploy(&server).await;
    let never = server.data_dir.path().join("never-created");
    let payload = json!({"stream": [{"write": "started"}, {"wait_for": never}]});
    let got = receive(start(&server, "slow", &payload).await).await;
    assert_eq!(after_prelude(&got.bytes()), b"started");
    assert_eq!(got.complete.error_code(), Some("Sandbox.Timedout"));
    assert!(
        got.complete
            .error_details()
            .unwrap()
            .contains("Task timed out after 1.00 seconds")
    );
    // The environment was replaced: the next invocation works.
    let got = receive(start(&server, "slow", &json!({"ok": true})).await).await;
    assert_eq!(got.complete.error_code(), None);
    server.stop().await;
}

#[tokio::test]
async fn log_type_tail_puts_the_log_in_invoke_complete() {
    let server = TestServer::start().await;
    function("chatty").deploy(&server).await;
    let out = server
        .client
        .invoke_with_response_stream()
        .function_name("chatty")
        .log_type(LogType::Tail)
        .payload(Blob::new(
            json!({"print": "hello from the function"}).to_string(),
        ))
        .send()
        .await
        .unwrap();
    let got = receive(out).await;
    let log = base64::engine::general_purpose::STANDARD
        .decode(got.complete.log_result().expect("LogResult"))
        .unwrap();
    let log = String::from_utf8(log).unwrap();
    assert!(log.contains("hello from the function"), "{log}");
    assert!(
        log.contains("START RequestId:") && log.contains("REPORT RequestId:"),
        "{log}"
    );
    server.stop().await;
}

#[tokio::test]
async fn streams_may_exceed_invokes_six_mb_limit() {
    let server = TestServer::start().await;
    function("big")
        .memory(512)
        .timeout(60)
        .deploy(&server)
        .await;
    let eight_mb = 8 * 1024 * 1024;
    let payload = json!({"stream": [{"bytes": eight_mb}]});
    let got = receive(start(&server, "big", &payload).await).await;
    assert_eq!(got.complete.error_code(), None);
    assert_eq!(after_prelude(&got.bytes()).len(), eight_mb);
    assert!(got.chunks.len() > 1);

    // The same function through plain Invoke is held to Invoke's limit.
    let out = server
        .client
        .invoke()
        .function_name("big")
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.function_error(), Some("Unhandled"));
    let err: Value = serde_json::from_str(&body(&out)).unwrap();
    assert_eq!(err["errorType"], "Function.ResponseSizeTooLarge");
    server.stop().await;
}

#[tokio::test]
async fn plain_invoke_of_a_streaming_function_gets_the_whole_response() {
    let server = TestServer::start().await;
    function("streamer").deploy(&server).await;
    let out = server
        .client
        .invoke()
        .function_name("streamer")
        .payload(Blob::new(
            json!({"stream": [{"write": "a"}, {"write": "b"}]}).to_string(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(out.function_error(), None);
    assert_eq!(after_prelude(out.payload().unwrap().as_ref()), b"ab");
    function("trailers")
        .package(shell_package(TRAILER_RUNTIME))
        .deploy(&server)
        .await;
    let out = server
        .client
        .invoke()
        .function_name("trailers")
        .payload(Blob::new(
            json!({"chunks": ["a"], "error": "broken"}).to_string(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(out.function_error(), Some("Unhandled"));
    let err: Value = serde_json::from_str(&body(&out)).unwrap();
    assert_eq!(err["errorType"], "Error.Custom");
    assert_eq!(err["errorMessage"], "broken");
    server.stop().await;
}

#[tokio::test]
async fn errors_before_the_stream_are_ordinary_aws_errors() {
    let server = TestServer::start().await;
    function("f").deploy(&server).await;
    let c = &server.client;

    let dry = c
        .invoke_with_response_stream()
        .function_name("f")
        .invocation_type(ResponseStreamingInvocationType::DryRun)
        .send()
        .await
        .unwrap();
    assert_eq!(dry.status_code(), 204);

    let err = c
        .invoke_with_response_stream()
        .function_name("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 404);
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert_eq!(
        err.message(),
        Some("Function not found: arn:aws:lambda:us-east-1:000000000000:function:missing:$LATEST")
    );

    let err = c
        .invoke_with_response_stream()
        .function_name("f")
        .invocation_type(ResponseStreamingInvocationType::from("Event"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 400);
    assert_eq!(err.code(), Some("ValidationException"));
    assert!(
        err.message()
            .unwrap()
            .contains("Member must satisfy enum value set: [RequestResponse, DryRun]"),
        "{:?}",
        err.message()
    );

    let err = c
        .invoke_with_response_stream()
        .function_name("f")
        .payload(Blob::new("{not json"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidRequestContentException"));

    c.put_function_concurrency()
        .function_name("f")
        .reserved_concurrent_executions(0)
        .send()
        .await
        .unwrap();
    let err = c
        .invoke_with_response_stream()
        .function_name("f")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 429);
    assert_eq!(err.code(), Some("TooManyRequestsException"));
    server.stop().await;
}
