//! Cold starts from spare processes: a spare (already in its memory cgroup) becomes the
//! function's runtime in place, under the function's own memory limit, a new spare takes its
//! place, a program the kernel cannot execute fails as it does without spares, and no spare
//! outlives the server.
//!
//! One test in this file, so that every exec helper found under this process is its server's.

use std::time::Duration;

use invokd_e2e::{Options, TestServer, body, eventually, function, invoke, shell_package};
use serde_json::Value;

/// Pids of this process's children that are exec helpers waiting to become a runtime.
fn spares() -> Vec<u32> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Field 4, after the parenthesised command name.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(me) && cmdline.split(|b| *b == 0).any(|a| a == b"__exec-helper") {
            found.push(pid);
        }
    }
    found
}

async fn one_spare() -> u32 {
    eventually(Duration::from_secs(10), "a spare process", || {
        spares().len() == 1
    })
    .await;
    spares()[0]
}

/// A runtime that answers every event with its pid, its memory cgroup's limit and the signals it
/// ignores.
const REPORTER: &str = r#"#!/bin/sh
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
v1=$(sed -n 's/^[0-9]*:memory:\(.*\)$/\1/p' /proc/$$/cgroup)
v2=$(sed -n 's/^0:://p' /proc/$$/cgroup)
limit=$(cat "/sys/fs/cgroup/memory$v1/memory.limit_in_bytes" 2>/dev/null || cat "/sys/fs/cgroup$v2/memory.max")
ignored=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status)
while true; do
  id=$(curl -sS -D - -o /dev/null "$api/next" | tr -d '\r' | sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: //p')
  curl -sS -o /dev/null -X POST "$api/$id/response" -d "{\"pid\":$$,\"limit\":\"$limit\",\"ignored\":\"$ignored\"}"
done
"#;

#[tokio::test]
async fn a_cold_start_becomes_a_spare_process_under_the_functions_limit() {
    let server = TestServer::start_with(Options {
        configure: Box::new(|c| c.spare_processes = 1),
        ..Options::default()
    })
    .await;
    if !server.engine.has_spare_processes() {
        eprintln!("no writable memory cgroups on this host: environments start without spares");
        server.stop().await;
        return;
    }
    let spare = one_spare().await;
    function("reporter")
        .memory(256)
        .package(shell_package(REPORTER))
        .deploy(&server)
        .await;
    let out = invoke(&server, "reporter", "{}").await;
    assert_eq!(out.function_error(), None, "{}", body(&out));
    let v: Value = serde_json::from_str(&body(&out)).expect("JSON");
    assert_eq!(
        v["pid"], spare,
        "the runtime is the spare process, executed in place"
    );
    assert_eq!(
        v["limit"],
        (256u64 << 20).to_string(),
        "the function's limit"
    );
    let ignored = u64::from_str_radix(v["ignored"].as_str().expect("SigIgn"), 16).expect("hex");
    assert_eq!(
        ignored & (1 << (13 - 1)),
        0,
        "SIGPIPE has its default action"
    );

    let next = one_spare().await;
    assert_ne!(next, spare, "a new spare took the used one's place");

    // Executable, but not a format the kernel runs: the same error as without spares.
    function("noexec")
        .package(invokd_e2e::zip(&[(
            "bootstrap",
            b"echo not a script\n",
            0o755,
        )]))
        .deploy(&server)
        .await;
    let out = invoke(&server, "noexec", "{}").await;
    let v: Value = serde_json::from_str(&body(&out)).expect("JSON");
    assert_eq!(v["errorType"], "Runtime.InvalidEntrypoint", "{v}");
    let message = v["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("Error: fork/exec ") && message.ends_with("/bootstrap: exec format error"),
        "{message}"
    );
    assert!(!spares().contains(&next), "the failed spare is gone");
    let after = one_spare().await;
    assert_ne!(after, next);

    server.stop().await;
    assert_eq!(spares(), Vec::<u32>::new(), "no spare outlives the server");
}
