//! `invokd invoke`, `invokd logs` and `invokd events`: small clients for people at a terminal.
//!
//! Requests are signed with SigV4 when AWS credentials are in the environment (as the AWS CLI
//! finds them: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, region from `AWS_REGION` or
//! `AWS_DEFAULT_REGION`), so the same commands work against a server in `--auth sigv4` mode.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[derive(Debug, clap::Args)]
pub struct InvokeArgs {
    /// Function name or ARN (optionally `name:qualifier`).
    function: String,
    /// JSON payload, or `@file` to read it from a file.
    #[arg(long, default_value = "{}")]
    payload: String,
    /// Version or alias to invoke.
    #[arg(long)]
    qualifier: Option<String>,
    /// Print the invocation's log tail to stderr.
    #[arg(long)]
    log: bool,
    /// `RequestResponse` (default), `Event` or `DryRun`.
    #[arg(long)]
    invocation_type: Option<String>,
    /// invokd's URL.
    #[arg(long, env = "INVOKD_ENDPOINT", default_value = "http://127.0.0.1:9001")]
    endpoint: String,
}

/// Encodes one path segment as AWS SDKs do (unreserved characters kept).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Signs `req` (whose body is `body`) as an AWS SDK would, if the environment has credentials.
fn sign_from_env(req: &mut http::Request<Full<Bytes>>, body: &[u8]) -> anyhow::Result<()> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let (Ok(id), Ok(secret)) = (
        std::env::var("AWS_ACCESS_KEY_ID"),
        std::env::var("AWS_SECRET_ACCESS_KEY"),
    ) else {
        return Ok(());
    };
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|_| "us-east-1".into());
    let token = std::env::var("AWS_SESSION_TOKEN").ok();
    let identity =
        aws_credential_types::Credentials::new(id, secret, token, None, "environment").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&region)
        .name("lambda")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()?
        .into();
    let uri = req.uri().to_string();
    let headers: Vec<(&str, &str)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let signable = SignableRequest::new(
        req.method().as_str(),
        uri.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(body),
    )?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    instructions.apply_to_request_http1x(req);
    Ok(())
}

pub async fn invoke(args: InvokeArgs) -> anyhow::Result<ExitCode> {
    let payload = match args.payload.strip_prefix('@') {
        Some(path) => std::fs::read(path).with_context(|| format!("reading {path}"))?,
        None => args.payload.into_bytes(),
    };
    let mut uri = format!(
        "{}/2015-03-31/functions/{}/invocations",
        args.endpoint.trim_end_matches('/'),
        encode_segment(&args.function)
    );
    if let Some(q) = &args.qualifier {
        uri.push_str(&format!("?Qualifier={}", encode_segment(q)));
    }
    let mut req = http::Request::post(&uri);
    if args.log {
        req = req.header("x-amz-log-type", "Tail");
    }
    if let Some(t) = &args.invocation_type {
        req = req.header("x-amz-invocation-type", t);
    }
    let mut req = req.body(Full::new(Bytes::from(payload.clone())))?;
    sign_from_env(&mut req, &payload)?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let res = client
        .request(req)
        .await
        .with_context(|| format!("cannot reach invokd at {}", args.endpoint))?;
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await?.to_bytes();
    if args.log
        && let Some(log) = headers
            .get("x-amz-log-result")
            .and_then(|v| v.to_str().ok())
    {
        let text = base64::engine::general_purpose::STANDARD
            .decode(log)
            .unwrap_or_default();
        eprint!("{}", String::from_utf8_lossy(&text));
    }
    if !status.is_success() {
        let kind = headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("error");
        bail!("{kind} ({status}): {}", String::from_utf8_lossy(&body));
    }
    println!("{}", String::from_utf8_lossy(&body));
    if headers.contains_key("x-amz-function-error") {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Function name.
    function: String,
    /// Keep printing new lines as they are written.
    #[arg(long, short)]
    follow: bool,
    /// invokd's data directory.
    #[arg(long, env = "INVOKD_DATA_DIR", default_value = ".invokd")]
    data_dir: PathBuf,
}

/// Prints every stream of the function, oldest first; with `--follow`, then keeps printing what
/// is appended (and new streams) until interrupted.
pub async fn logs(args: LogsArgs) -> anyhow::Result<()> {
    let dir = args.data_dir.join("logs").join(&args.function);
    if !dir.is_dir() && !args.follow {
        bail!(
            "no logs for function {} in {}",
            args.function,
            args.data_dir.display()
        );
    }
    let mut offsets: std::collections::BTreeMap<PathBuf, u64> = Default::default();
    loop {
        let mut streams: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                    .map(|e| {
                        (
                            e.metadata()
                                .and_then(|m| m.modified())
                                .unwrap_or(std::time::UNIX_EPOCH),
                            e.path(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        streams.sort();
        for (_, path) in streams {
            let data = std::fs::read(&path).unwrap_or_default();
            let seen = offsets.entry(path).or_insert(0);
            let start = if (*seen as usize) <= data.len() {
                *seen as usize
            } else {
                0
            };
            if start < data.len() {
                use std::io::Write;
                std::io::stdout().write_all(&data[start..])?;
            }
            *seen = data.len() as u64;
        }
        if !args.follow {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Only this function's events.
    function: Option<String>,
    /// Deliver the dead letter with this id again.
    #[arg(long)]
    redrive: Option<i64>,
    /// invokd's URL.
    #[arg(long, env = "INVOKD_ENDPOINT", default_value = "http://127.0.0.1:9001")]
    endpoint: String,
}

async fn get(uri: &str, method: http::Method) -> anyhow::Result<(http::StatusCode, Bytes)> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(Bytes::new()))?;
    sign_from_env(&mut req, b"")?;
    let res = client
        .request(req)
        .await
        .with_context(|| format!("cannot reach invokd at {uri}"))?;
    let status = res.status();
    Ok((status, res.into_body().collect().await?.to_bytes()))
}

/// Prints the asynchronous queue as a table, or redrives one dead letter.
pub async fn events(args: EventsArgs) -> anyhow::Result<()> {
    let base = args.endpoint.trim_end_matches('/');
    if let Some(id) = args.redrive {
        let (status, body) = get(
            &format!("{base}/_invokd/dead-letters/{id}/redrive"),
            http::Method::POST,
        )
        .await?;
        if !status.is_success() {
            bail!(
                "redrive failed ({status}): {}",
                String::from_utf8_lossy(&body)
            );
        }
        println!("dead letter {id} delivered");
        return Ok(());
    }
    let mut uri = format!("{base}/_invokd/events");
    if let Some(f) = &args.function {
        uri.push_str(&format!("?function={}", encode_segment(f)));
    }
    let (status, body) = get(&uri, http::Method::GET).await?;
    if !status.is_success() {
        bail!(
            "listing events failed ({status}): {}",
            String::from_utf8_lossy(&body)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    let empty = Vec::new();
    let events = v["Events"].as_array().unwrap_or(&empty);
    println!(
        "{:<38} {:<24} {:<10} {:>8}  {:<29} LAST ERROR",
        "REQUEST ID", "FUNCTION", "STATE", "ATTEMPTS", "DUE"
    );
    for e in events {
        let function = match e["Qualifier"].as_str() {
            Some(q) => format!("{}:{q}", e["FunctionName"].as_str().unwrap_or("")),
            None => e["FunctionName"].as_str().unwrap_or("").to_owned(),
        };
        let error: String = e["LastError"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(60)
            .collect();
        println!(
            "{:<38} {:<24} {:<10} {:>8}  {:<29} {error}",
            e["RequestId"].as_str().unwrap_or(""),
            function,
            e["State"].as_str().unwrap_or(""),
            e["Attempts"],
            e["DueAt"].as_str().unwrap_or("")
        );
    }
    let dead = v["DeadLetters"].as_array().unwrap_or(&empty);
    if !dead.is_empty() {
        println!("\nFAILED DELIVERIES (redrive with --redrive ID)");
        println!(
            "{:>6} {:<38} {:<24} {:<50} ERROR",
            "ID", "REQUEST ID", "FUNCTION", "TARGET"
        );
        for d in dead {
            println!(
                "{:>6} {:<38} {:<24} {:<50} {}",
                d["Id"],
                d["RequestId"].as_str().unwrap_or(""),
                d["FunctionName"].as_str().unwrap_or(""),
                d["Target"].as_str().unwrap_or(""),
                d["Error"].as_str().unwrap_or("")
            );
        }
    }
    println!(
        "\n{} queued or in flight, {} failed deliveries",
        events.len(),
        dead.len()
    );
    Ok(())
}
