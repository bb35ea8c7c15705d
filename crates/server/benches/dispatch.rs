//! Regression guard for the two hot paths (issue 9): a synchronous invocation from the engine's
//! entry point through the environment handoff and the Runtime API to the response, and the
//! durable enqueue of `Event` invocations.
//!
//! The function's runtime is a fake that runs in this process (a hyper client task polling the
//! environment's Runtime API listener), so the figures are invokd's own cost: the rendezvous, the
//! Runtime API server, the log lines, admission and the pool, with no runtime process in the loop.
//! The environment's real process is a `bootstrap` that only reports its Runtime API address
//! and sleeps.
//!
//! `cargo bench -p invokd-server --bench dispatch`

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use invokd_engine::{Engine, EngineConfig, NoOutbound};
use invokd_model::name::NameShape;
use invokd_model::spec::{CodeInput, ConfigInput, CreateFunctionInput};
use invokd_model::{FunctionRef, InvocationType, InvokeRequest, LogType, Scope};

const PAYLOAD: &[u8] = br#"{"key1":"value1","key2":"value2","key3":"value3"}"#;

fn package(script: &str) -> Vec<u8> {
    use std::io::Write as _;
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut buf);
    let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    z.start_file("bootstrap", opts).expect("zip entry");
    z.write_all(script.as_bytes()).expect("zip write");
    z.finish().expect("zip");
    buf.into_inner()
}

fn function_ref(name: &str) -> FunctionRef {
    FunctionRef::parse(name, NameShape::Namespaced).expect("a valid name")
}

async fn engine(dir: &std::path::Path, workers: usize) -> Engine {
    let mut config = EngineConfig::new(Scope::new("us-east-1", "000000000000"), dir);
    config.async_config.workers = workers;
    // A throttled event comes due again only long after the run: each event is leased and
    // rescheduled once, rather than the backlog churning through the queue every second.
    config.async_config.retry_scale = 10_000.0;
    Engine::start(
        config,
        Arc::new(invokd_server::RuntimeApiHttp),
        Arc::new(NoOutbound),
    )
    .await
    .expect("engine starts")
}

async fn create(engine: &Engine, name: &str, script: &str, env: &[(&str, String)]) {
    let config = ConfigInput {
        runtime: Some("provided.al2023".into()),
        handler: Some("bootstrap".into()),
        role: Some("arn:aws:iam::123456789012:role/bench".into()),
        environment: Some(
            env.iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        ),
        ..ConfigInput::default()
    };
    engine
        .create_function(CreateFunctionInput {
            function: function_ref(name),
            config,
            architecture: None,
            code: CodeInput::Zip(package(script)),
            package_type: None,
            publish: false,
            tags: Default::default(),
        })
        .await
        .expect("create_function");
}

fn request(name: &str, kind: InvocationType) -> InvokeRequest {
    InvokeRequest {
        function: function_ref(name),
        qualifier: None,
        invocation_type: kind,
        log_type: LogType::None,
        client_context: None,
        tenant_id: None,
        durable_execution_name: None,
        trace_header: None,
        payload: Bytes::from_static(PAYLOAD),
    }
}

/// A runtime that echoes every event, speaking HTTP/1.1 keep-alive to `addr`.
async fn fake_runtime(addr: String) {
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("runtime api");
    stream.set_nodelay(true).expect("nodelay");
    let (mut api, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    loop {
        let next = http::Request::get("/2018-06-01/runtime/invocation/next")
            .header(http::header::HOST, &addr)
            .body(Full::new(Bytes::new()))
            .expect("request");
        // The connection takes a request only once it has finished the previous exchange.
        if api.ready().await.is_err() {
            return;
        }
        let Ok(event) = api.send_request(next).await else {
            return;
        };
        // Anything but an event means the environment is stopping.
        let Some(id) = event
            .headers()
            .get("lambda-runtime-aws-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
        else {
            return;
        };
        let Ok(body) = event.into_body().collect().await else {
            return;
        };
        let body = body.to_bytes();
        let answer = http::Request::post(format!("/2018-06-01/runtime/invocation/{id}/response"))
            .header(http::header::HOST, &addr)
            .body(Full::new(body))
            .expect("request");
        if api.ready().await.is_err() {
            return;
        }
        let Ok(res) = api.send_request(answer).await else {
            return;
        };
        let _ = res.into_body().collect().await;
    }
}

/// Starts a fake runtime for every environment whose bootstrap reports in `dir`.
async fn serve_environments(dir: std::path::PathBuf) {
    let mut served = std::collections::HashSet::new();
    loop {
        // The directory goes away when the benchmark ends.
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().ends_with(".tmp") || !served.insert(name) {
                continue;
            }
            let Ok(addr) = std::fs::read_to_string(entry.path()) else {
                return;
            };
            tokio::spawn(fake_runtime(addr.trim().to_owned()));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn dispatch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let api_dir = dir.path().join("runtime-apis");
    std::fs::create_dir_all(&api_dir).expect("api dir");
    let engine = rt.block_on(async {
        let engine = engine(&dir.path().join("data"), 64).await;
        // Each environment's bootstrap leaves its Runtime API address in API_DIR and sleeps;
        // a fake runtime in this process serves every environment that appears (a loaded
        // machine may make the pool start a second one).
        let script = "#!/bin/sh\necho \"$AWS_LAMBDA_RUNTIME_API\" > \"$API_DIR/$$.tmp\"\nmv \"$API_DIR/$$.tmp\" \"$API_DIR/$$\"\nexec sleep 1000000\n";
        create(
            &engine,
            "echo",
            script,
            &[("API_DIR", api_dir.display().to_string())],
        )
        .await;
        tokio::spawn(serve_environments(api_dir.clone()));
        engine
            .invoke(request("echo", InvocationType::RequestResponse))
            .await
            .expect("first invoke");
        engine
    });
    c.bench_function("invoke_sync_warm", |b| {
        b.to_async(&rt).iter(|| async {
            engine
                .invoke(request("echo", InvocationType::RequestResponse))
                .await
                .expect("invoke")
        })
    });
    rt.block_on(engine.shutdown());
}

fn enqueue(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = rt.block_on(async {
        let engine = engine(dir.path(), 64).await;
        // Every event is accepted (and fsync'd); the workers find the function refuses to run
        // (reserved concurrency 0), so running them costs next to nothing.
        create(&engine, "sink", "#!/bin/sh\nexit 0\n", &[]).await;
        engine
            .put_function_concurrency(&function_ref("sink"), 0)
            .await
            .expect("reserved concurrency");
        engine
    });
    // 32 callers at once, as a loaded server sees them: the figure is the time per event.
    let mut group = c.benchmark_group("enqueue_event");
    group.throughput(criterion::Throughput::Elements(32));
    group.bench_function("32_concurrent", |b| {
        b.to_async(&rt).iter(|| async {
            // Collected, so that all 32 are in flight before the first is awaited.
            let calls: Vec<_> = (0..32)
                .map(|_| {
                    let engine = engine.clone();
                    tokio::spawn(async move {
                        engine
                            .invoke(request("sink", InvocationType::Event))
                            .await
                            .expect("enqueue")
                    })
                })
                .collect();
            for call in calls {
                call.await.expect("task");
            }
        })
    });
    group.finish();
    rt.block_on(engine.shutdown());
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = dispatch, enqueue
}
criterion_main!(benches);
