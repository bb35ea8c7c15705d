//! Crash safety of the asynchronous queue: events accepted with 202 survive `kill -9` of the
//! server mid-delivery and all run, at least once, after a restart (spec §4.1).

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use invokd_e2e::{client, eventually, fixture_package};

/// The `invokd` binary built next to the test executable.
fn invokd_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("invokd");
    assert!(
        bin.is_file(),
        "build the binary first (cargo build -p invokd): {}",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process, killed when dropped so that a failing test leaves nothing running.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(data_dir: &Path, port: u16) -> Server {
    let child = Command::new(invokd_binary())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--async-retry-scale",
            "0.01",
            "--async-workers",
            "4",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(data_dir.join("server.log"))
                .unwrap(),
        )
        .spawn()
        .expect("start invokd");
    Server(child)
}

async fn wait_for_port(port: u16) {
    eventually(Duration::from_secs(20), "invokd to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
}

fn request_ids(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect()
}

/// Live processes running the fixture function whose parent is `parent`.
fn fixture_children(parent: u32) -> Vec<u32> {
    let exe = invokd_e2e::fixture_binary();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == exe))
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The parent pid is the second field after the parenthesised command name.
            stat.rsplit_once(") ")
                .and_then(|(_, rest)| rest.split(' ').nth(1)?.parse::<u32>().ok())
                == Some(parent)
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == invokd_e2e::fixture_binary())
}

#[tokio::test]
async fn accepted_events_survive_sigkill_and_all_run_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut server = serve(dir.path(), port);
    wait_for_port(port).await;
    let c = client(&endpoint);
    c.create_function()
        .function_name("durable")
        .runtime("provided.al2023".into())
        .handler("bootstrap")
        .role(invokd_e2e::ROLE)
        .timeout(10)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(Blob::new(fixture_package()))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = dir.path().join("ran.txt");
    let payload = serde_json::json!({"append": out, "sleep_ms": 100}).to_string();
    let mut accepted = HashSet::new();
    for _ in 0..150 {
        let r = c
            .invoke()
            .function_name("durable")
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status_code(), 202);
        accepted.insert(r.request_id().unwrap().to_owned());
    }
    // Kill the server while it is still working through the queue.
    eventually(Duration::from_secs(30), "some events to run", || {
        request_ids(&out).len() >= 10
    })
    .await;
    let children = fixture_children(server.0.id());
    assert!(
        !children.is_empty(),
        "the server runs the function in child processes"
    );
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    let ran_before = request_ids(&out).len();
    assert!(
        ran_before < accepted.len(),
        "the kill came mid-delivery ({ran_before} ran)"
    );
    eventually(
        Duration::from_secs(10),
        "function processes to die with the server",
        || children.iter().all(|pid| !alive(*pid)),
    )
    .await;

    let _server = serve(dir.path(), port);
    wait_for_port(port).await;
    eventually(
        Duration::from_secs(60),
        "every accepted event to run",
        || {
            let ran: HashSet<String> = request_ids(&out).into_iter().collect();
            accepted.iter().all(|id| ran.contains(id))
        },
    )
    .await;
    let ran = request_ids(&out);
    assert!(
        ran.iter().all(|id| accepted.contains(id)),
        "nothing ran that was not accepted"
    );
    // Nothing is left behind: the queue drains once the last invocations finish.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let view = http_get_json(&format!("{endpoint}/_invokd/events")).await;
        if view["Events"].as_array().is_some_and(Vec::is_empty) {
            assert_eq!(
                view["DeadLetters"].as_array().map(Vec::len),
                Some(0),
                "{view}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the queue did not drain: {view}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A minimal HTTP GET returning JSON (no HTTP client crate needed for one call).
async fn http_get_json(url: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(
        format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8(buf).unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap()
}
