//! The fixture function of the end-to-end tests, built on the official `lambda_runtime`.
//!
//! The payload says what to do (every field optional, applied in this order):
//! `{"append": "/path", "print": "text", "sleep_ms": 100, "alloc_mb": 300, "exit": 3, "panic": true,
//!   "error": "message", "respond_bytes": 1024, "context": true}`
//! `{"call": {"function": "f", "payload": {..}, "async": false}}` invokes another function.
//! `{"stream": [{"write": "text"}, {"bytes": 1024}, {"wait_for": "/path"}, {"fail": "message"}]}`
//! answers in response-streaming mode, one step at a time.
//! With none of them the function echoes its payload.

use bytes::Bytes;
use futures::channel::mpsc;
use lambda_runtime::{Error, FunctionResponse, LambdaEvent, StreamResponse, service_fn};
use serde_json::{Value, json};

type Streamed = mpsc::Receiver<Result<Bytes, Error>>;

async fn handle(event: LambdaEvent<Value>) -> Result<FunctionResponse<Value, Streamed>, Error> {
    if let Some(steps) = event.payload.get("stream").and_then(Value::as_array) {
        return Ok(FunctionResponse::StreamingResponse(StreamResponse::from(
            stream(steps.clone()),
        )));
    }
    buffered(event)
        .await
        .map(FunctionResponse::BufferedResponse)
}

/// Runs the steps of a streamed response in the background, each piece sent as it is made.
fn stream(steps: Vec<Value>) -> Streamed {
    use futures::SinkExt as _;
    let (mut tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        for step in steps {
            if let Some(text) = step.get("write").and_then(Value::as_str) {
                let _ = tx.send(Ok(Bytes::from(text.to_owned()))).await;
            }
            if let Some(n) = step.get("bytes").and_then(Value::as_u64) {
                let mut left = n as usize;
                while left > 0 {
                    let piece = left.min(64 * 1024);
                    let _ = tx.send(Ok(Bytes::from(vec![b'x'; piece]))).await;
                    left -= piece;
                }
            }
            if let Some(path) = step.get("wait_for").and_then(Value::as_str) {
                // The test creates the file once it has seen what was streamed so far.
                while !std::path::Path::new(path).exists() {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            }
            if let Some(message) = step.get("fail").and_then(Value::as_str) {
                let _ = tx.send(Err(message.into())).await;
                return;
            }
        }
    });
    rx
}

async fn buffered(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let p = &event.payload;
    // One line per invocation, `<request id> <payload>`, to the file the payload or the
    // APPEND_TO variable names: how tests observe asynchronous deliveries.
    let append_to = p
        .get("append")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| std::env::var("APPEND_TO").ok());
    if let Some(path) = append_to {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        // One write(2) of the whole line: O_APPEND keeps concurrent appenders from interleaving.
        // A tenant's invocations say whose they are, after the payload.
        let tenant = match &event.context.tenant_id {
            Some(t) => format!(" tenant={t}"),
            None => String::new(),
        };
        f.write_all(format!("{} {p}{tenant}\n", event.context.request_id).as_bytes())?;
    }
    if let Some(text) = p.get("print").and_then(Value::as_str) {
        println!("{text}");
    }
    if let Some(ms) = p.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if let Some(mb) = p.get("alloc_mb").and_then(Value::as_u64) {
        // Touch every page so the memory is really resident.
        let mut blocks = Vec::new();
        for _ in 0..mb {
            blocks.push(vec![1u8; 1 << 20]);
        }
        println!("allocated {} MB", blocks.len());
        // Hold it: a limit enforced by sampling (no writable cgroups) must get to see it.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        drop(blocks);
    }
    if let Some(code) = p.get("exit").and_then(Value::as_i64) {
        std::process::exit(code as i32);
    }
    if p.get("panic").and_then(Value::as_bool) == Some(true) {
        panic!("fixture asked to panic");
    }
    if let Some(msg) = p.get("error").and_then(Value::as_str) {
        return Err(msg.into());
    }
    if let Some(n) = p.get("respond_bytes").and_then(Value::as_u64) {
        // A JSON string of exactly n bytes including its quotes.
        return Ok(Value::String("x".repeat(n.saturating_sub(2) as usize)));
    }
    if let Some(call) = p.get("call") {
        return call_lambda(call).await;
    }
    if p.get("context").and_then(Value::as_bool) == Some(true) {
        let env: serde_json::Map<String, Value> = std::env::vars()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let ctx = &event.context;
        return Ok(json!({
            "request_id": ctx.request_id,
            "deadline": ctx.deadline,
            "invoked_function_arn": ctx.invoked_function_arn,
            "xray_trace_id": ctx.xray_trace_id,
            "tenant_id": ctx.tenant_id,
            "client_context": ctx.client_context.as_ref().map(|c| json!({"custom": c.custom, "env": c.environment})),
            "env": env,
            "pid": std::process::id(),
            "cwd": std::env::current_dir().ok(),
        }));
    }
    Ok(event.payload)
}

/// `{"call": {"function": NAME, "payload": {...}, "async": false}}`: invokes a function through
/// aws-sdk-lambda the way a function on AWS would, with the endpoint and credentials the platform
/// put in the environment. Returns `{"status", "payload"}` or `{"error": code}`.
async fn call_lambda(call: &Value) -> Result<Value, Error> {
    use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(env("AWS_ENDPOINT_URL_LAMBDA"))
        .region(Region::new(env("AWS_REGION")))
        .credentials_provider(Credentials::new(
            env("AWS_ACCESS_KEY_ID"),
            env("AWS_SECRET_ACCESS_KEY"),
            None,
            None,
            "env",
        ))
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .build();
    let client = aws_sdk_lambda::Client::from_conf(config);
    let function = call["function"].as_str().unwrap_or_default();
    let payload = call
        .get("payload")
        .cloned()
        .unwrap_or(Value::Null)
        .to_string();
    let kind = if call["async"].as_bool() == Some(true) {
        aws_sdk_lambda::types::InvocationType::Event
    } else {
        aws_sdk_lambda::types::InvocationType::RequestResponse
    };
    match client
        .invoke()
        .function_name(function)
        .invocation_type(kind)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload))
        .send()
        .await
    {
        Ok(out) => {
            let body = out
                .payload()
                .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
                .unwrap_or_default();
            Ok(
                json!({"status": out.status_code(), "payload": serde_json::from_str::<Value>(&body).unwrap_or(Value::String(body))}),
            )
        }
        Err(e) => {
            use aws_sdk_lambda::error::ProvideErrorMetadata;
            Ok(json!({"error": e.code().unwrap_or("unknown")}))
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
