//! Harness of the end-to-end tests: an in-process invokd on port 0 with a temporary data
//! directory, driven by the real `aws-sdk-lambda`, and a builder for fixture functions.
//!
//! ```text
//! let server = TestServer::start().await;
//! function("echo").deploy(&server).await;
//! ```

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_lambda::primitives::Blob;
use invokd_engine::{Engine, EngineConfig};
use invokd_model::Scope;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running invokd.
pub struct TestServer {
    pub client: Client,
    pub endpoint: String,
    pub addr: SocketAddr,
    pub engine: Engine,
    pub data_dir: Arc<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Settings a test may change before starting a server.
pub struct Options {
    pub data_dir: Option<Arc<tempfile::TempDir>>,
    pub configure: Box<dyn FnOnce(&mut EngineConfig) + Send>,
    /// Where destinations and DLQs go (by default nowhere: deliveries become dead letters).
    pub outbound: Arc<dyn invokd_engine::Outbound>,
    /// Local mode (the default) or server mode with its keys. In server mode, `client` signs
    /// with [`TEST_ACCESS_KEY_ID`], which the keyring must hold for fixtures to deploy.
    pub auth: invokd_server::auth::Auth,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            data_dir: None,
            configure: Box::new(|_| {}),
            outbound: Arc::new(invokd_engine::NoOutbound),
            auth: invokd_server::auth::Auth::Local,
        }
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> TestServer {
        let data_dir = opts
            .data_dir
            .unwrap_or_else(|| Arc::new(tempfile::tempdir().expect("temp dir")));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let endpoint = format!("http://{addr}");
        let mut config =
            EngineConfig::new(Scope::new("us-east-1", "000000000000"), data_dir.path());
        config.self_endpoint = Some(endpoint.clone());
        config.shutdown_grace = Duration::from_millis(200);
        config.exec_helper = Some(exec_helper_binary());
        if let Some(python) = std::env::var_os("INVOKD_PYTHON") {
            config.python = python;
        }
        (opts.configure)(&mut config);
        let engine = Engine::start(
            config,
            Arc::new(invokd_server::RuntimeApiHttp),
            opts.outbound,
        )
        .await
        .expect("engine starts");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(invokd_server::run_with(
            engine.clone(),
            listener,
            async {
                let _ = stopped.await;
            },
            opts.auth,
        ));
        let task = tokio::spawn(async move {
            let _ = task.await;
        });
        TestServer {
            client: client(&endpoint),
            endpoint,
            addr,
            engine,
            data_dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops serving and stops every environment, as SIGTERM does.
    pub async fn stop(mut self) -> Arc<tempfile::TempDir> {
        self.shutdown().await;
        self.data_dir.clone()
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.engine.shutdown().await;
    }

    /// Where a function's log streams are written.
    pub fn logs_dir(&self, function: &str) -> PathBuf {
        self.data_dir.path().join("logs").join(function)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The access key (and its secret) of [`client`].
pub const TEST_ACCESS_KEY_ID: &str = "AKIDTEST";
pub const TEST_SECRET_ACCESS_KEY: &str = "secret";

/// An SDK client for `endpoint` with static test credentials and no automatic retries.
pub fn client(endpoint: &str) -> Client {
    client_with(endpoint, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY)
}

/// An SDK client for `endpoint` that signs with the given key, without automatic retries.
pub fn client_with(endpoint: &str, access_key_id: &str, secret_access_key: &str) -> Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "test",
        ))
        // Tests see every answer as sent: a 429 must not be retried away.
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

/// A zip with the given files; `mode` is the Unix permission of each.
pub fn zip(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        for (name, data, mode) in files {
            let opts = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
            z.start_file(*name, opts).expect("zip entry");
            z.write_all(data).expect("zip write");
        }
        z.finish().expect("zip finish");
    }
    buf.into_inner()
}

/// Path of the built `lambda_runtime` fixture binary.
pub fn fixture_binary() -> PathBuf {
    built_binary("fixture-fn")
}

/// Path of the built exec helper that spare processes run.
pub fn exec_helper_binary() -> PathBuf {
    built_binary("exec-helper")
}

/// A binary of this package, next to the test executable's `deps`.
fn built_binary(name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(format!("CARGO_BIN_EXE_{name}")) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let bin = dir.join(name);
    assert!(bin.is_file(), "{name} not built at {}", bin.display());
    bin
}

/// A package whose `bootstrap` runs the `lambda_runtime` fixture.
pub fn fixture_package() -> Vec<u8> {
    let script = format!("#!/bin/sh\nexec '{}' \"$@\"\n", fixture_binary().display());
    zip(&[("bootstrap", script.as_bytes(), 0o755)])
}

/// A package whose `bootstrap` is the given shell script.
pub fn shell_package(script: &str) -> Vec<u8> {
    zip(&[("bootstrap", script.as_bytes(), 0o755)])
}

/// The role every fixture function uses.
pub const ROLE: &str = "arn:aws:iam::123456789012:role/invokd-test";

/// Builds and deploys a test function.
pub struct FunctionBuilder {
    name: String,
    runtime: String,
    handler: String,
    timeout: Option<i32>,
    memory: Option<i32>,
    env: Vec<(String, String)>,
    package: Option<Vec<u8>>,
    publish: bool,
    tenant_isolated: bool,
}

pub fn function(name: &str) -> FunctionBuilder {
    FunctionBuilder {
        name: name.to_owned(),
        runtime: "provided.al2023".into(),
        handler: "bootstrap".into(),
        timeout: None,
        memory: None,
        env: Vec::new(),
        package: None,
        publish: false,
        tenant_isolated: false,
    }
}

impl FunctionBuilder {
    pub fn runtime(mut self, r: &str) -> Self {
        self.runtime = r.into();
        self
    }
    pub fn handler(mut self, h: &str) -> Self {
        self.handler = h.into();
        self
    }
    pub fn timeout(mut self, secs: i32) -> Self {
        self.timeout = Some(secs);
        self
    }
    pub fn memory(mut self, mb: i32) -> Self {
        self.memory = Some(mb);
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    pub fn package(mut self, zip: Vec<u8>) -> Self {
        self.package = Some(zip);
        self
    }
    pub fn publish(mut self) -> Self {
        self.publish = true;
        self
    }
    /// `TenancyConfig {TenantIsolationMode: PER_TENANT}`.
    pub fn tenant_isolated(mut self) -> Self {
        self.tenant_isolated = true;
        self
    }

    /// Creates the function (the `lambda_runtime` fixture unless a package was given).
    pub async fn deploy(
        self,
        server: &TestServer,
    ) -> aws_sdk_lambda::operation::create_function::CreateFunctionOutput {
        let code = self.package.unwrap_or_else(fixture_package);
        let mut req = server
            .client
            .create_function()
            .function_name(&self.name)
            .runtime(self.runtime.as_str().into())
            .handler(&self.handler)
            .role(ROLE)
            .publish(self.publish)
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(Blob::new(code))
                    .build(),
            );
        if let Some(t) = self.timeout {
            req = req.timeout(t);
        }
        if let Some(m) = self.memory {
            req = req.memory_size(m);
        }
        if self.tenant_isolated {
            req = req.tenancy_config(
                aws_sdk_lambda::types::TenancyConfig::builder()
                    .tenant_isolation_mode(aws_sdk_lambda::types::TenantIsolationMode::PerTenant)
                    .build()
                    .expect("tenancy config"),
            );
        }
        if !self.env.is_empty() {
            let mut env = aws_sdk_lambda::types::Environment::builder();
            for (k, v) in self.env {
                env = env.variables(k, v);
            }
            req = req.environment(env.build());
        }
        req.send().await.expect("create_function")
    }
}

/// Invokes `name` with a JSON payload and returns the output.
pub async fn invoke(
    server: &TestServer,
    name: &str,
    payload: &str,
) -> aws_sdk_lambda::operation::invoke::InvokeOutput {
    server
        .client
        .invoke()
        .function_name(name)
        .payload(Blob::new(payload.as_bytes().to_vec()))
        .send()
        .await
        .expect("invoke")
}

/// The payload of an invoke output as text.
pub fn body(out: &aws_sdk_lambda::operation::invoke::InvokeOutput) -> String {
    String::from_utf8(
        out.payload()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default(),
    )
    .expect("utf-8 payload")
}

/// Waits until `check` holds, polling every 20 ms, or panics after `deadline`.
pub async fn eventually<F: FnMut() -> bool>(deadline: Duration, what: &str, mut check: F) {
    let end = tokio::time::Instant::now() + deadline;
    while !check() {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts that an SDK call failed with AWS's HTTP status, error code and message.
pub fn assert_aws_error<E>(
    err: &aws_sdk_lambda::error::SdkError<E, aws_sdk_lambda::config::http::HttpResponse>,
    status: u16,
    code: &str,
    message: &str,
) where
    E: aws_sdk_lambda::error::ProvideErrorMetadata + std::fmt::Debug,
{
    use aws_sdk_lambda::error::ProvideErrorMetadata as _;
    assert_eq!(err.code(), Some(code), "{err:?}");
    assert_eq!(err.message(), Some(message), "{err:?}");
    assert_eq!(
        err.raw_response().map(|r| r.status().as_u16()),
        Some(status),
        "{err:?}"
    );
}

/// A response read off a raw HTTP/1.1 connection, for what an SDK would never send.
pub struct RawResponse {
    pub status: u16,
    /// Names in lower case.
    pub headers: std::collections::HashMap<String, String>,
    /// De-chunked when the response was chunked.
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Sends `method path` with exactly `headers` (and Content-Length) and `body` over a fresh
/// connection, and reads the response until the server closes it.
pub async fn raw_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("read response");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let text = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: std::collections::HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &buf[split + 4..];
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)
    } else {
        let len = headers
            .get("content-length")
            .and_then(|n| n.parse().ok())
            .unwrap_or(rest.len());
        rest[..len].to_vec()
    };
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("chunk size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
}
