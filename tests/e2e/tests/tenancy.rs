//! Tenant-isolated functions (spec §1.6): an environment serves one tenant for its whole life,
//! the runtime learns the tenant, and the tenant-environment limit throttles, through the SDK.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, TenantIsolationMode};
use invokd_e2e::{Options, TestServer, body, eventually, function};
use serde_json::{Value, json};

/// Invokes `name` for `tenant` and returns what the fixture saw (`{"context": true}`).
async fn as_tenant(server: &TestServer, name: &str, tenant: &str, sleep_ms: u64) -> Value {
    let out = server
        .client
        .invoke()
        .function_name(name)
        .tenant_id(tenant)
        .payload(Blob::new(
            json!({"context": true, "sleep_ms": sleep_ms}).to_string(),
        ))
        .send()
        .await
        .expect("invoke as tenant");
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), None, "{}", body(&out));
    serde_json::from_str(&body(&out)).unwrap()
}

#[tokio::test]
async fn tenancy_config_is_reported_and_cannot_be_combined_with_provisioned_concurrency() {
    let server = TestServer::start().await;
    let created = function("iso")
        .tenant_isolated()
        .publish()
        .deploy(&server)
        .await;
    assert_eq!(
        created.tenancy_config().map(|t| t.tenant_isolation_mode()),
        Some(&TenantIsolationMode::PerTenant)
    );
    let got = server
        .client
        .get_function_configuration()
        .function_name("iso")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.tenancy_config().map(|t| t.tenant_isolation_mode()),
        Some(&TenantIsolationMode::PerTenant)
    );
    let err = server
        .client
        .put_provisioned_concurrency_config()
        .function_name("iso")
        .qualifier("1")
        .provisioned_concurrent_executions(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 400);
    assert_eq!(err.code(), Some("InvalidParameterValueException"));
    server.stop().await;
}

#[tokio::test]
async fn a_tenant_id_is_required_exactly_when_the_function_is_tenant_isolated() {
    let server = TestServer::start().await;
    function("iso").tenant_isolated().deploy(&server).await;
    function("plain").deploy(&server).await;
    let c = &server.client;
    for invocation_type in [InvocationType::RequestResponse, InvocationType::Event] {
        let err = c
            .invoke()
            .function_name("iso")
            .invocation_type(invocation_type.clone())
            .payload(Blob::new("{}"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.raw_response().unwrap().status().as_u16(), 400);
        assert_eq!(err.code(), Some("InvalidParameterValueException"));
        assert!(
            err.message().unwrap().contains("tenant"),
            "{:?}",
            err.message()
        );
        let err = c
            .invoke()
            .function_name("plain")
            .invocation_type(invocation_type)
            .tenant_id("acme")
            .payload(Blob::new("{}"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.raw_response().unwrap().status().as_u16(), 400);
        assert_eq!(err.code(), Some("InvalidParameterValueException"));
    }
    // A tenant id outside the model's pattern is a validation error, before anything runs.
    let err = c
        .invoke()
        .function_name("iso")
        .tenant_id("bad#tenant")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 400);
    server.stop().await;
}

#[tokio::test]
async fn two_tenants_never_share_a_process_even_under_concurrent_load() {
    let server = TestServer::start().await;
    function("iso").tenant_isolated().deploy(&server).await;
    let tenants = ["tenant-a", "tenant-b", "tenant-c"];
    // Several waves of overlapping invocations: environments are busy, freed and reused.
    let mut owner: HashMap<String, String> = HashMap::new();
    let mut pids_per_tenant: HashMap<&str, HashSet<u64>> = HashMap::new();
    for _wave in 0..3 {
        let calls = tenants
            .iter()
            .flat_map(|t| std::iter::repeat_n(*t, 4))
            .map(|t| {
                let server = &server;
                async move { (t, as_tenant(server, "iso", t, 30).await) }
            });
        for (tenant, seen) in futures::future::join_all(calls).await {
            assert_eq!(seen["tenant_id"], tenant, "the runtime is told the tenant");
            let pid = seen["pid"].as_u64().unwrap();
            let sandbox = seen["env"]["TMPDIR"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            for key in [format!("pid {pid}"), format!("sandbox {sandbox}")] {
                let first = owner
                    .entry(key.clone())
                    .or_insert_with(|| tenant.to_owned());
                assert_eq!(first, tenant, "{key} served {first} and then {tenant}");
            }
            pids_per_tenant.entry(tenant).or_default().insert(pid);
        }
    }
    for t in tenants {
        let pids = &pids_per_tenant[t];
        assert!(
            !pids.is_empty() && pids.len() < 12,
            "{t}: its environments are reused across its own invocations: {pids:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn asynchronous_events_keep_their_tenant() {
    let server = TestServer::start().await;
    function("iso").tenant_isolated().deploy(&server).await;
    let file = server.data_dir.path().join("tenant-events.out");
    for tenant in ["north", "south"] {
        let out = server
            .client
            .invoke()
            .function_name("iso")
            .invocation_type(InvocationType::Event)
            .tenant_id(tenant)
            .payload(Blob::new(json!({"append": file}).to_string()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.status_code(), 202);
    }
    eventually(Duration::from_secs(20), "both events to run", || {
        std::fs::read_to_string(&file).is_ok_and(|s| s.lines().count() == 2)
    })
    .await;
    let text = std::fs::read_to_string(&file).unwrap();
    let mut seen: Vec<&str> = text
        .lines()
        .map(|l| l.rsplit_once(" tenant=").expect("tenant recorded").1)
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, ["north", "south"]);
    server.stop().await;
}

#[tokio::test]
async fn tenant_environments_are_limited_by_the_functions_concurrency() {
    let server = TestServer::start().await;
    function("iso").tenant_isolated().deploy(&server).await;
    // Reserved concurrency 1 allows 2.5 tenant environments, so two.
    server
        .client
        .put_function_concurrency()
        .function_name("iso")
        .reserved_concurrent_executions(1)
        .send()
        .await
        .unwrap();
    as_tenant(&server, "iso", "one", 0).await;
    as_tenant(&server, "iso", "two", 0).await;
    // Both stay (idle) and count; a known tenant is still served by its own environment.
    as_tenant(&server, "iso", "one", 0).await;
    let err = server
        .client
        .invoke()
        .function_name("iso")
        .tenant_id("three")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 429);
    assert_eq!(err.code(), Some("TooManyRequestsException"));
    assert_eq!(err.message(), Some("Rate exceeded"));
    // More concurrency, more room.
    server
        .client
        .put_function_concurrency()
        .function_name("iso")
        .reserved_concurrent_executions(2)
        .send()
        .await
        .unwrap();
    as_tenant(&server, "iso", "three", 0).await;
    server.stop().await;
}

#[tokio::test]
async fn at_the_environment_cap_an_idle_environment_gives_way_to_another_tenant() {
    let server = TestServer::start_with(Options {
        configure: Box::new(|c| c.max_environments_per_function = Some(1)),
        ..Default::default()
    })
    .await;
    function("iso").tenant_isolated().deploy(&server).await;
    let one = as_tenant(&server, "iso", "one", 0).await["pid"].clone();
    let two = as_tenant(&server, "iso", "two", 0).await["pid"].clone();
    assert_ne!(one, two, "tenants never share a process");
    let one_again = as_tenant(&server, "iso", "one", 0).await["pid"].clone();
    assert_ne!(
        one_again, one,
        "tenant one's environment stopped to make room for two"
    );
    assert_ne!(one_again, two);
    server.stop().await;
}
