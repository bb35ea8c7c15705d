//! The fixture function of the end-to-end tests, built on the official `lambda_runtime`.
//!
//! The payload says what to do (every field optional, applied in this order):
//! `{"append": "/path", "print": "text", "sleep_ms": 100, "alloc_mb": 300, "exit": 3, "panic": true,
//!   "error": "message", "respond_bytes": 1024, "context": true}`
//! With none of them the function echoes its payload.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
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
        f.write_all(format!("{} {}\n", event.context.request_id, p).as_bytes())?;
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
            "client_context": ctx.client_context.as_ref().map(|c| json!({"custom": c.custom, "env": c.environment})),
            "env": env,
            "pid": std::process::id(),
            "cwd": std::env::current_dir().ok(),
        }));
    }
    Ok(event.payload)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
