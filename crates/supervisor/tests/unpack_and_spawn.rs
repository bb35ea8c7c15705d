//! Starting runtime processes: every freshly unpacked `bootstrap` runs even while packages are
//! unpacked on other threads (no "text file busy" from a descriptor a concurrent fork inherited),
//! and a function runs under the scheduling policy invokd gives it.

use std::io::Write as _;
use std::sync::Arc;

use invokd_supervisor::{CodeDirs, ExitReason, MemoryLimiter, Process, SpawnSpec};

fn package(n: usize) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    zip.start_file("bootstrap", options).expect("zip entry");
    // A distinct package per iteration, so every start follows a fresh unpack; padding keeps the
    // file open for writing long enough to overlap other threads' forks.
    write!(
        zip,
        "#!/bin/sh\n# package {n}\n{}\nexit 0\n",
        "#".repeat(256 * 1024)
    )
    .expect("zip write");
    zip.finish().expect("zip finish").into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_package_unpacked_while_others_start_always_executes() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 25;
    let dir = tempfile::tempdir().expect("temp dir");
    let code = Arc::new(CodeDirs::new(dir.path().join("code")));
    let tag = format!("invokd-supervisor-test-{}", std::process::id());
    let limiter = Arc::new(MemoryLimiter::detect(&tag));
    let mut tasks = Vec::new();
    for t in 0..THREADS {
        let (code, limiter, root) = (code.clone(), limiter.clone(), dir.path().to_owned());
        tasks.push(tokio::spawn(async move {
            for r in 0..ROUNDS {
                let n = t * ROUNDS + r;
                let zip_path = root.join(format!("{n}.zip"));
                std::fs::write(&zip_path, package(n)).expect("write zip");
                let code = code.clone();
                let task_root = tokio::task::spawn_blocking(move || {
                    code.ensure_unpacked(&format!("{n:064x}"), &zip_path)
                })
                .await
                .expect("unpack task")
                .expect("unpacked");
                let spec = SpawnSpec {
                    program: task_root.join("bootstrap"),
                    args: Vec::new(),
                    cwd: task_root,
                    env: Vec::new(),
                    memory_limit: Some(128 << 20),
                    name: format!("t{t}-r{r}"),
                };
                let mut process = Process::spawn(&spec, &limiter)
                    .unwrap_or_else(|e| panic!("package {n} did not start: {e}"));
                assert_eq!(process.wait().await, ExitReason::Exited(0), "package {n}");
            }
        }));
    }
    for task in tasks {
        task.await.expect("no start failed");
    }
    invokd_supervisor::cgroup::remove_base(&limiter);
    invokd_supervisor::unpack::make_writable_and_remove(dir.path()).expect("clean up");
}

#[tokio::test]
async fn a_function_runs_as_a_batch_process() {
    const SCHED_BATCH: i32 = 3;
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = SpawnSpec {
        program: "/bin/sh".into(),
        // Field 41 of /proc/PID/stat is the scheduling policy.
        args: vec!["-c".into(), "exit $(cut -d' ' -f41 /proc/$$/stat)".into()],
        cwd: dir.path().to_owned(),
        env: Vec::new(),
        memory_limit: None,
        name: "policy".into(),
    };
    let mut process = Process::spawn(&spec, &MemoryLimiter::Watchdog).expect("starts");
    assert_eq!(process.wait().await, ExitReason::Exited(SCHED_BATCH));
}
