//! Concurrency and throttling as AWS does them (spec §6, §2.3): reserved, account and
//! provisioned concurrency, the scaling rate and the host's memory budget, through the real SDK.

use std::time::Duration;

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use base64::Engine as _;
use invokd_e2e::{Options, TestServer, body, eventually, function};
use serde_json::{Value, json};

const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function";

/// Starts `n` overlapping invocations that each take `ms`; returns each result's status:
/// `Ok(executed version)` or `Err((code, reason, message, http status))`.
async fn overlapping(
    server: &TestServer,
    name: &str,
    n: usize,
    ms: u64,
) -> Vec<Result<String, (String, String, String, u16)>> {
    let calls = (0..n).map(|_| {
        let client = server.client.clone();
        let name = name.to_owned();
        async move {
            let payload = json!({"sleep_ms": ms}).to_string();
            match client.invoke().function_name(name).payload(Blob::new(payload)).send().await {
                Ok(out) => {
                    assert_eq!(out.function_error(), None, "{}", body(&out));
                    Ok(out.executed_version().unwrap().to_owned())
                }
                Err(e) => {
                    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
                    let svc = e.into_service_error();
                    let reason = match &svc {
                        aws_sdk_lambda::operation::invoke::InvokeError::TooManyRequestsException(t) => {
                            t.reason().map(|r| r.as_str().to_owned()).unwrap_or_default()
                        }
                        _ => String::new(),
                    };
                    Err((svc.code().unwrap_or_default().to_owned(), reason, svc.message().unwrap_or_default().to_owned(), status))
                }
            }
        }
    });
    futures::future::join_all(calls).await
}

#[tokio::test]
async fn reserved_concurrency_lifecycle_and_errors() {
    let server = TestServer::start().await;
    function("res").deploy(&server).await;
    let c = &server.client;
    let out = c
        .put_function_concurrency()
        .function_name("res")
        .reserved_concurrent_executions(0)
        .send()
        .await
        .unwrap();
    assert_eq!(out.reserved_concurrent_executions(), Some(0));
    c.put_function_concurrency()
        .function_name("res")
        .reserved_concurrent_executions(100)
        .send()
        .await
        .unwrap();
    let got = c
        .get_function_concurrency()
        .function_name("res")
        .send()
        .await
        .unwrap();
    assert_eq!(got.reserved_concurrent_executions(), Some(100));
    let f = c.get_function().function_name("res").send().await.unwrap();
    assert_eq!(
        f.concurrency()
            .and_then(|c| c.reserved_concurrent_executions()),
        Some(100)
    );
    let settings = c.get_account_settings().send().await.unwrap();
    let limit = settings.account_limit().unwrap();
    assert_eq!(
        (
            limit.concurrent_executions(),
            limit.unreserved_concurrent_executions()
        ),
        (1000, Some(900))
    );

    let e = c
        .put_function_concurrency()
        .function_name("res")
        .reserved_concurrent_executions(901)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"));
    assert_eq!(
        e.message(),
        Some(
            "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100]."
        )
    );
    let e = c
        .put_function_concurrency()
        .function_name("res:1")
        .reserved_concurrent_executions(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"));
    assert_eq!(
        e.message(),
        Some(
            "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN."
        )
    );
    let e = c
        .put_function_concurrency()
        .function_name("nope")
        .reserved_concurrent_executions(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ResourceNotFoundException"));
    assert_eq!(
        e.message(),
        Some(format!("Function not found: {ARN}:nope:$LATEST").as_str())
    );

    c.delete_function_concurrency()
        .function_name("res")
        .send()
        .await
        .unwrap();
    let got = c
        .get_function_concurrency()
        .function_name("res")
        .send()
        .await
        .unwrap();
    assert_eq!(got.reserved_concurrent_executions(), None);
    let settings = c.get_account_settings().send().await.unwrap();
    assert_eq!(
        settings
            .account_limit()
            .unwrap()
            .unreserved_concurrent_executions(),
        Some(1000)
    );
    server.stop().await;
}

#[tokio::test]
async fn zero_reserved_concurrency_throttles_every_invoke() {
    let server = TestServer::start().await;
    function("zero").deploy(&server).await;
    server
        .client
        .put_function_concurrency()
        .function_name("zero")
        .reserved_concurrent_executions(0)
        .send()
        .await
        .unwrap();
    let results = overlapping(&server, "zero", 1, 0).await;
    assert_eq!(
        results[0],
        Err((
            "TooManyRequestsException".into(),
            "ReservedFunctionConcurrentInvocationLimitExceeded".into(),
            "Rate Exceeded.".into(),
            429
        ))
    );
    server.stop().await;
}

#[tokio::test]
async fn reserved_concurrency_of_one_admits_one_of_two_overlapping_invokes() {
    let server = TestServer::start().await;
    function("one").timeout(10).deploy(&server).await;
    server
        .client
        .put_function_concurrency()
        .function_name("one")
        .reserved_concurrent_executions(1)
        .send()
        .await
        .unwrap();
    let results = overlapping(&server, "one", 2, 1500).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{results:?}");
    let refused = results.iter().find_map(|r| r.clone().err()).unwrap();
    assert_eq!(
        refused,
        (
            "TooManyRequestsException".into(),
            "ReservedFunctionConcurrentInvocationLimitExceeded".into(),
            "Rate Exceeded.".into(),
            429
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn the_account_limit_throttles_with_its_own_reason() {
    let server = TestServer::start_with(Options {
        configure: Box::new(|c| {
            c.account_concurrency = 2;
            c.min_unreserved_concurrency = 0;
        }),
        ..Default::default()
    })
    .await;
    function("acct").timeout(10).deploy(&server).await;
    let results = overlapping(&server, "acct", 3, 1500).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        2,
        "{results:?}"
    );
    let refused = results.iter().find_map(|r| r.clone().err()).unwrap();
    assert_eq!(refused.0, "TooManyRequestsException");
    assert_eq!(refused.1, "ConcurrentInvocationLimitExceeded");
    assert_eq!(refused.3, 429);
    let settings = server.client.get_account_settings().send().await.unwrap();
    assert_eq!(settings.account_limit().unwrap().concurrent_executions(), 2);
    server.stop().await;
}

#[tokio::test]
async fn the_host_memory_budget_throttles_instead_of_exhausting_the_host() {
    let server = TestServer::start_with(Options {
        configure: Box::new(|c| c.memory_budget_mb = 256),
        ..Default::default()
    })
    .await;
    function("mem")
        .memory(128)
        .timeout(10)
        .deploy(&server)
        .await;
    let results = overlapping(&server, "mem", 3, 1500).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        2,
        "two 128 MB environments fit in 256 MB: {results:?}"
    );
    let refused = results.iter().find_map(|r| r.clone().err()).unwrap();
    assert_eq!(
        (refused.0.as_str(), refused.3),
        ("TooManyRequestsException", 429)
    );
    server.stop().await;
}

#[tokio::test]
async fn the_environment_cap_makes_invokes_wait_for_an_environment_instead_of_starting_one() {
    let server = TestServer::start_with(Options {
        configure: Box::new(|c| c.max_environments_per_function = Some(2)),
        ..Default::default()
    })
    .await;
    function("capped").timeout(10).deploy(&server).await;
    let calls = (0..6).map(|_| {
        let client = server.client.clone();
        async move {
            let out = client
                .invoke()
                .function_name("capped")
                .payload(Blob::new(r#"{"sleep_ms":300,"context":true}"#))
                .send()
                .await
                .expect("a capped invoke waits, it is not throttled");
            assert_eq!(out.function_error(), None, "{}", body(&out));
            serde_json::from_str::<Value>(&body(&out)).unwrap()["pid"]
                .as_u64()
                .unwrap()
        }
    });
    let pids: std::collections::HashSet<u64> =
        futures::future::join_all(calls).await.into_iter().collect();
    assert_eq!(
        pids.len(),
        2,
        "six overlapping invokes under a cap of two: {pids:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_invoke_waiting_at_the_environment_cap_longer_than_the_timeout_is_throttled() {
    // One environment, a 2 s timeout, three 1.5 s invokes at once: the first runs at once, the
    // second waits 1.5 s and runs, the third would wait 3 s and is throttled after 2.
    let server = TestServer::start_with(Options {
        configure: Box::new(|c| c.max_environments_per_function = Some(1)),
        ..Default::default()
    })
    .await;
    function("one-env").timeout(2).deploy(&server).await;
    let results = overlapping(&server, "one-env", 3, 1500).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        2,
        "{results:?}"
    );
    let refused = results.iter().find_map(|r| r.clone().err()).unwrap();
    assert_eq!(
        refused,
        (
            "TooManyRequestsException".to_owned(),
            "ConcurrentInvocationLimitExceeded".to_owned(),
            "Rate Exceeded.".to_owned(),
            429
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn the_scaling_rate_limits_new_environments() {
    let server = TestServer::start_with(Options {
        configure: Box::new(|c| c.scaling_rate = 2),
        ..Default::default()
    })
    .await;
    function("scale").timeout(10).deploy(&server).await;
    let results = overlapping(&server, "scale", 3, 1500).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        2,
        "{results:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn asynchronous_events_under_throttling_are_all_delivered() {
    let server = TestServer::start_with(Options {
        configure: Box::new(|c| c.async_config.retry_scale = 0.01),
        ..Default::default()
    })
    .await;
    function("slowq").timeout(10).deploy(&server).await;
    server
        .client
        .put_function_concurrency()
        .function_name("slowq")
        .reserved_concurrent_executions(1)
        .send()
        .await
        .unwrap();
    let file = server.data_dir.path().join("q.out");
    for _ in 0..4 {
        let out = server
            .client
            .invoke()
            .function_name("slowq")
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(
                json!({"append": file, "sleep_ms": 300}).to_string(),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(
            out.status_code(),
            202,
            "throttling never reaches an async caller"
        );
    }
    eventually(Duration::from_secs(30), "all four events to run", || {
        std::fs::read_to_string(&file)
            .map(|s| s.lines().count())
            .unwrap_or(0)
            == 4
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn zero_reserved_concurrency_sends_async_events_to_the_failure_destination() {
    let server = TestServer::start_with(Options {
        configure: Box::new(|c| c.async_config.retry_scale = 0.01),
        ..Default::default()
    })
    .await;
    let file = server.data_dir.path().join("zero.out");
    function("zsink")
        .env("APPEND_TO", file.to_str().unwrap())
        .deploy(&server)
        .await;
    function("zsrc").deploy(&server).await;
    let c = &server.client;
    c.put_function_concurrency()
        .function_name("zsrc")
        .reserved_concurrent_executions(0)
        .send()
        .await
        .unwrap();
    c.put_function_event_invoke_config()
        .function_name("zsrc")
        .destination_config(
            aws_sdk_lambda::types::DestinationConfig::builder()
                .on_failure(
                    aws_sdk_lambda::types::OnFailure::builder()
                        .destination(format!("{ARN}:zsink"))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = c
        .invoke()
        .function_name("zsrc")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(r#"{"k":1}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 202);
    eventually(Duration::from_secs(10), "the failure record", || {
        file.exists()
    })
    .await;
    let line = std::fs::read_to_string(&file).unwrap();
    let record: Value = serde_json::from_str(line.split_once(' ').unwrap().1.trim()).unwrap();
    assert_eq!(
        record["requestContext"]["condition"],
        "ZeroReservedConcurrency"
    );
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 0);
    assert!(
        record.get("responseContext").is_none() && record.get("responsePayload").is_none(),
        "{record}"
    );
    assert_eq!(record["requestPayload"], json!({"k": 1}));
    server.stop().await;
}

#[tokio::test]
async fn provisioned_environments_are_ready_before_the_first_invoke() {
    let server = TestServer::start().await;
    function("prov").publish().deploy(&server).await;
    let c = &server.client;
    let put = c
        .put_provisioned_concurrency_config()
        .function_name("prov")
        .qualifier("1")
        .provisioned_concurrent_executions(2)
        .send()
        .await
        .unwrap();
    assert_eq!(put.requested_provisioned_concurrent_executions(), Some(2));
    assert_eq!(put.status().map(|s| s.as_str()), Some("IN_PROGRESS"));
    let mut status = String::new();
    for _ in 0..500 {
        let got = c
            .get_provisioned_concurrency_config()
            .function_name("prov")
            .qualifier("1")
            .send()
            .await
            .unwrap();
        status = got.status().unwrap().as_str().to_owned();
        if status == "READY" {
            assert_eq!(got.allocated_provisioned_concurrent_executions(), Some(2));
            assert_eq!(got.available_provisioned_concurrent_executions(), Some(2));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, "READY");
    let out = c
        .invoke()
        .function_name("prov")
        .qualifier("1")
        .log_type(LogType::Tail)
        .payload(Blob::new(r#"{"context":true}"#))
        .send()
        .await
        .unwrap();
    let log = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(out.log_result().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(!log.contains("Init Duration"), "no cold start: {log}");
    let v: Value = serde_json::from_str(&body(&out)).unwrap();
    assert_eq!(
        v["env"]["AWS_LAMBDA_INITIALIZATION_TYPE"],
        "provisioned-concurrency"
    );
    // $LATEST uses on-demand environments.
    let out = c
        .invoke()
        .function_name("prov")
        .payload(Blob::new(r#"{"context":true}"#))
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&body(&out)).unwrap();
    assert_eq!(v["env"]["AWS_LAMBDA_INITIALIZATION_TYPE"], "on-demand");

    let listed = c
        .list_provisioned_concurrency_configs()
        .function_name("prov")
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = listed
        .provisioned_concurrency_configs()
        .iter()
        .filter_map(|p| p.function_arn())
        .collect();
    assert_eq!(arns, [format!("{ARN}:prov:1").as_str()]);
    c.delete_provisioned_concurrency_config()
        .function_name("prov")
        .qualifier("1")
        .send()
        .await
        .unwrap();
    let e = c
        .get_provisioned_concurrency_config()
        .function_name("prov")
        .qualifier("1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("ProvisionedConcurrencyConfigNotFoundException")
    );
    assert_eq!(
        e.message(),
        Some("No Provisioned Concurrency Config found for this function")
    );
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 404);
    server.stop().await;
}

#[tokio::test]
async fn provisioned_concurrency_errors_match_aws() {
    let server = TestServer::start().await;
    function("pe").publish().deploy(&server).await;
    let c = &server.client;
    c.create_alias()
        .function_name("pe")
        .name("live")
        .function_version("1")
        .send()
        .await
        .unwrap();
    let put = |q: &str, n: i32| {
        c.put_provisioned_concurrency_config()
            .function_name("pe")
            .qualifier(q)
            .provisioned_concurrent_executions(n)
            .send()
    };
    let check = |e: &dyn ProvideErrorMetadata, code: &str, msg: &str| {
        assert_eq!(e.code(), Some(code));
        assert_eq!(e.message(), Some(msg));
    };
    check(
        &put("$LATEST", 1).await.unwrap_err(),
        "InvalidParameterValueException",
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
    );
    check(
        &c.get_provisioned_concurrency_config()
            .function_name("pe")
            .qualifier("$LATEST")
            .send()
            .await
            .unwrap_err(),
        "InvalidParameterValueException",
        "The function resource provided must be an alias or a published version.",
    );
    check(
        &put("10", 1).await.unwrap_err(),
        "ResourceNotFoundException",
        &format!("Function not found: {ARN}:pe:10"),
    );
    check(
        &put("noalias", 1).await.unwrap_err(),
        "ResourceNotFoundException",
        &format!("Cannot find alias arn: {ARN}:pe:noalias"),
    );
    check(
        &put("1", 0).await.unwrap_err(),
        "ValidationException",
        "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    put("1", 1).await.unwrap();
    check(
        &put("live", 1).await.unwrap_err(),
        "ResourceConflictException",
        "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version",
    );
    c.delete_provisioned_concurrency_config()
        .function_name("pe")
        .qualifier("1")
        .send()
        .await
        .unwrap();
    put("live", 1).await.unwrap();
    check(
        &put("1", 1).await.unwrap_err(),
        "ResourceConflictException",
        "Version is pointed by a Provisioned Concurrency alias",
    );
    // Reserved concurrency below what is provisioned is refused, and so is the reverse.
    let e = c
        .put_function_concurrency()
        .function_name("pe")
        .reserved_concurrent_executions(0)
        .send()
        .await
        .unwrap_err();
    check(
        &e,
        "InvalidParameterValueException",
        " ReservedConcurrentExecutions  0 should not be lower than function's total provisioned concurrency [1].",
    );
    c.put_function_concurrency()
        .function_name("pe")
        .reserved_concurrent_executions(1)
        .send()
        .await
        .unwrap();
    check(
        &put("live", 2).await.unwrap_err(),
        "InvalidParameterValueException",
        "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function",
    );
    server.stop().await;
}
