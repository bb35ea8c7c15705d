//! Versions, aliases and every way a caller can address a function (spec §1.2, §5), through the
//! real aws-sdk-lambda.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{AliasRoutingConfiguration, Environment};
use invokd_e2e::{TestServer, body, function};
use serde_json::Value;

const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function";

/// Deploys `name` and publishes version 1 (MARK=v1) and version 2 (MARK=v2); $LATEST has MARK=v3.
async fn three_versions(server: &TestServer, name: &str) {
    function(name).env("MARK", "v1").deploy(server).await;
    let c = &server.client;
    c.publish_version()
        .function_name(name)
        .send()
        .await
        .unwrap();
    set_mark(server, name, "v2").await;
    c.publish_version()
        .function_name(name)
        .send()
        .await
        .unwrap();
    set_mark(server, name, "v3").await;
}

async fn set_mark(server: &TestServer, name: &str, mark: &str) {
    server
        .client
        .update_function_configuration()
        .function_name(name)
        .environment(Environment::builder().variables("MARK", mark).build())
        .send()
        .await
        .unwrap();
}

/// Invokes with the context echo; returns (executed version, MARK, invoked ARN, function version env).
async fn whoami(
    server: &TestServer,
    name: &str,
    qualifier: Option<&str>,
) -> (String, String, String, String) {
    let mut req = server
        .client
        .invoke()
        .function_name(name)
        .payload(Blob::new(br#"{"context":true}"#.to_vec()));
    if let Some(q) = qualifier {
        req = req.qualifier(q);
    }
    let out = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("invoke {name} {qualifier:?}: {e:?}"));
    assert_eq!(out.function_error(), None, "{}", body(&out));
    let v: Value = serde_json::from_str(&body(&out)).unwrap();
    (
        out.executed_version().unwrap().to_owned(),
        v["env"]["MARK"].as_str().unwrap().to_owned(),
        v["invoked_function_arn"].as_str().unwrap().to_owned(),
        v["env"]["AWS_LAMBDA_FUNCTION_VERSION"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

#[tokio::test]
async fn every_name_form_reaches_the_right_version() {
    let server = TestServer::start().await;
    three_versions(&server, "forms").await;
    server
        .client
        .create_alias()
        .function_name("forms")
        .name("live")
        .function_version("1")
        .send()
        .await
        .unwrap();
    let cases: Vec<(String, Option<&str>, &str, &str, String)> = vec![
        (
            "forms".into(),
            None,
            "$LATEST",
            "v3",
            format!("{ARN}:forms"),
        ),
        (
            "forms:$LATEST".into(),
            None,
            "$LATEST",
            "v3",
            format!("{ARN}:forms:$LATEST"),
        ),
        (
            "forms".into(),
            Some("$LATEST"),
            "$LATEST",
            "v3",
            format!("{ARN}:forms:$LATEST"),
        ),
        ("forms:2".into(), None, "2", "v2", format!("{ARN}:forms:2")),
        (
            "forms".into(),
            Some("2"),
            "2",
            "v2",
            format!("{ARN}:forms:2"),
        ),
        (
            "forms:live".into(),
            None,
            "1",
            "v1",
            format!("{ARN}:forms:live"),
        ),
        (
            "forms".into(),
            Some("live"),
            "1",
            "v1",
            format!("{ARN}:forms:live"),
        ),
        (
            format!("{ARN}:forms"),
            None,
            "$LATEST",
            "v3",
            format!("{ARN}:forms"),
        ),
        (
            format!("{ARN}:forms:live"),
            None,
            "1",
            "v1",
            format!("{ARN}:forms:live"),
        ),
        (
            format!("{ARN}:forms:2"),
            Some("2"),
            "2",
            "v2",
            format!("{ARN}:forms:2"),
        ),
        (
            "000000000000:function:forms".into(),
            None,
            "$LATEST",
            "v3",
            format!("{ARN}:forms"),
        ),
        (
            "000000000000:function:forms:1".into(),
            None,
            "1",
            "v1",
            format!("{ARN}:forms:1"),
        ),
    ];
    for (name, q, executed, mark, invoked) in cases {
        let (ev, m, arn, env_version) = whoami(&server, &name, q).await;
        assert_eq!(ev, executed, "executed version for {name} {q:?}");
        assert_eq!(m, mark, "code/config for {name} {q:?}");
        assert_eq!(
            arn, invoked,
            "invoked ARN as the caller addressed it, for {name} {q:?}"
        );
        assert_eq!(
            env_version, executed,
            "AWS_LAMBDA_FUNCTION_VERSION for {name} {q:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_addresses_get_aws_errors() {
    let server = TestServer::start().await;
    three_versions(&server, "bad").await;
    let c = &server.client;
    let cases: Vec<(&str, Option<&str>, &str, String)> = vec![
        (
            "bad:1",
            Some("2"),
            "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the specified qualifier."
                .into(),
        ),
        (
            "bad",
            Some("9"),
            "ResourceNotFoundException",
            format!("Function not found: {ARN}:bad:9"),
        ),
        (
            "bad:nosuchalias",
            None,
            "ResourceNotFoundException",
            format!("Function not found: {ARN}:bad:nosuchalias"),
        ),
        (
            "bad",
            Some("$latest"),
            "ResourceNotFoundException",
            format!("Function not found: {ARN}:bad:$latest"),
        ),
        (
            "arn:aws:lambda:ap-southeast-1:000000000000:function:bad",
            None,
            "ResourceNotFoundException",
            "Functions from 'ap-southeast-1' are not reachable in this region ('us-east-1')".into(),
        ),
        (
            "arn:aws:lambda:us-east-1:000000000000:function:bad:1:2",
            None,
            "ValidationException",
            String::new(),
        ),
    ];
    for (name, q, code, message) in cases {
        let mut req = c.invoke().function_name(name);
        if let Some(q) = q {
            req = req.qualifier(q);
        }
        let err = req.send().await.unwrap_err();
        assert_eq!(err.code(), Some(code), "{name} {q:?}: {err:?}");
        if !message.is_empty() {
            assert_eq!(err.message(), Some(message.as_str()), "{name} {q:?}");
        }
    }
    let err = c
        .invoke()
        .function_name("111111111111:function:bad")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
    server.stop().await;
}

#[tokio::test]
async fn publishing_snapshots_code_and_configuration() {
    let server = TestServer::start().await;
    let c = &server.client;
    function("snap").env("MARK", "v1").deploy(&server).await;
    let v1 = c
        .publish_version()
        .function_name("snap")
        .description("first")
        .send()
        .await
        .unwrap();
    assert_eq!(v1.version(), Some("1"));
    assert_eq!(v1.function_arn(), Some(format!("{ARN}:snap:1").as_str()));
    assert_eq!(v1.description(), Some("first"));
    // Nothing changed: the same version comes back, whatever the description.
    let again = c
        .publish_version()
        .function_name("snap")
        .description("other")
        .send()
        .await
        .unwrap();
    assert_eq!(again.version(), Some("1"));
    assert_eq!(again.revision_id(), v1.revision_id());
    set_mark(&server, "snap", "v2").await;
    assert_eq!(
        whoami(&server, "snap", Some("1")).await.1,
        "v1",
        "version 1 is immutable"
    );
    assert_eq!(whoami(&server, "snap", None).await.1, "v2");
    let latest = c.get_function().function_name("snap").send().await.unwrap();
    let rev = latest
        .configuration()
        .unwrap()
        .revision_id()
        .unwrap()
        .to_owned();
    let err = c
        .publish_version()
        .function_name("snap")
        .revision_id("stale")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("PreconditionFailedException"));
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 412);
    let err = c
        .publish_version()
        .function_name("snap")
        .code_sha256("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValueException"));
    let sha = latest.configuration().unwrap().code_sha256().unwrap();
    assert_eq!(
        err.message().unwrap(),
        format!(
            "CodeSHA256 (nope) is different from current CodeSHA256 in $LATEST ({sha}). Please try again with the CodeSHA256 in $LATEST."
        )
    );
    let v2 = c
        .publish_version()
        .function_name("snap")
        .revision_id(rev)
        .code_sha256(sha)
        .send()
        .await
        .unwrap();
    assert_eq!(v2.version(), Some("2"));
    // Versions are never reused after deletion.
    c.delete_function()
        .function_name("snap")
        .qualifier("2")
        .send()
        .await
        .unwrap();
    set_mark(&server, "snap", "v3").await;
    let v3 = c
        .publish_version()
        .function_name("snap")
        .send()
        .await
        .unwrap();
    assert_eq!(v3.version(), Some("3"));
    let listed: Vec<String> = c
        .list_versions_by_function()
        .function_name("snap")
        .send()
        .await
        .unwrap()
        .versions()
        .iter()
        .map(|v| v.version().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ["$LATEST", "1", "3"]);
    server.stop().await;
}

#[tokio::test]
async fn list_versions_paginates() {
    let server = TestServer::start().await;
    three_versions(&server, "pages").await;
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = server
            .client
            .list_versions_by_function()
            .function_name("pages")
            .max_items(1)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        seen.extend(
            out.versions()
                .iter()
                .map(|v| v.function_arn().unwrap().to_owned()),
        );
        marker = out.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            format!("{ARN}:pages:$LATEST"),
            format!("{ARN}:pages:1"),
            format!("{ARN}:pages:2")
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn create_with_publish_and_update_code_with_publish() {
    let server = TestServer::start().await;
    let out = function("pub").publish().deploy(&server).await;
    assert_eq!(out.version(), Some("1"));
    let updated = server
        .client
        .update_function_code()
        .function_name("pub")
        .zip_file(Blob::new(invokd_e2e::shell_package("#!/bin/sh\nexit 1\n")))
        .publish(true)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.version(), Some("2"));
    server.stop().await;
}

#[tokio::test]
async fn alias_lifecycle() {
    let server = TestServer::start().await;
    three_versions(&server, "al").await;
    let c = &server.client;
    let created = c
        .create_alias()
        .function_name("al")
        .name("live")
        .function_version("1")
        .description("prod traffic")
        .routing_config(
            AliasRoutingConfiguration::builder()
                .additional_version_weights("2", 0.2)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.alias_arn(), Some(format!("{ARN}:al:live").as_str()));
    assert_eq!(created.function_version(), Some("1"));
    assert_eq!(created.description(), Some("prod traffic"));
    let weights = created
        .routing_config()
        .unwrap()
        .additional_version_weights()
        .unwrap();
    assert_eq!(weights.get("2"), Some(&0.2));
    let got = c
        .get_alias()
        .function_name("al")
        .name("live")
        .send()
        .await
        .unwrap();
    assert_eq!(got.revision_id(), created.revision_id());

    // GetFunction through the alias shows the alias ARN and the version it points to.
    let f = c
        .get_function()
        .function_name("al")
        .qualifier("live")
        .send()
        .await
        .unwrap();
    let cfg = f.configuration().unwrap();
    assert_eq!(cfg.function_arn(), Some(format!("{ARN}:al:live").as_str()));
    assert_eq!(cfg.version(), Some("1"));

    let err = c
        .update_alias()
        .function_name("al")
        .name("live")
        .revision_id("stale")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("PreconditionFailedException"));
    let updated = c
        .update_alias()
        .function_name("al")
        .name("live")
        .function_version("2")
        .routing_config(
            AliasRoutingConfiguration::builder()
                .set_additional_version_weights(Some(HashMap::new()))
                .build(),
        )
        .revision_id(got.revision_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(updated.function_version(), Some("2"));
    assert!(updated.routing_config().is_none());
    assert_ne!(updated.revision_id(), got.revision_id());

    c.create_alias()
        .function_name("al")
        .name("beta")
        .function_version("$LATEST")
        .send()
        .await
        .unwrap();
    let all: Vec<String> = c
        .list_aliases()
        .function_name("al")
        .send()
        .await
        .unwrap()
        .aliases()
        .iter()
        .map(|a| a.name().unwrap().to_owned())
        .collect();
    assert_eq!(all, ["beta", "live"]);
    let on_2: Vec<String> = c
        .list_aliases()
        .function_name("al")
        .function_version("2")
        .send()
        .await
        .unwrap()
        .aliases()
        .iter()
        .map(|a| a.name().unwrap().to_owned())
        .collect();
    assert_eq!(on_2, ["live"]);

    // A version an alias points to cannot be deleted.
    let err = c
        .delete_function()
        .function_name("al")
        .qualifier("2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceConflictException"));
    c.delete_alias()
        .function_name("al")
        .name("live")
        .send()
        .await
        .unwrap();
    c.delete_alias()
        .function_name("al")
        .name("live")
        .send()
        .await
        .unwrap();
    c.delete_function()
        .function_name("al")
        .qualifier("2")
        .send()
        .await
        .unwrap();
    let err = c
        .get_alias()
        .function_name("al")
        .name("live")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert_eq!(
        err.message(),
        Some(format!("Cannot find alias arn: {ARN}:al:live").as_str())
    );
    let err = c
        .update_alias()
        .function_name("al")
        .name("live")
        .function_version("1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some(format!("Alias not found: {ARN}:al:live").as_str())
    );
    server.stop().await;
}

#[tokio::test]
async fn alias_validation_matches_aws() {
    let server = TestServer::start().await;
    three_versions(&server, "av").await;
    let c = &server.client;
    let weights = |k: &str, w: f64| {
        AliasRoutingConfiguration::builder()
            .additional_version_weights(k, w)
            .build()
    };
    let create = |name: &str, version: &str, routing: Option<AliasRoutingConfiguration>| {
        c.create_alias()
            .function_name("av")
            .name(name)
            .function_version(version)
            .set_routing_config(routing)
            .send()
    };
    let expect =
        |r: Result<_, aws_sdk_lambda::error::SdkError<_, _>>, code: &str, message: &str| {
            let err: aws_sdk_lambda::error::SdkError<
                aws_sdk_lambda::operation::create_alias::CreateAliasError,
                _,
            > = match r {
                Ok(_) => panic!("expected {code}"),
                Err(e) => e,
            };
            assert_eq!(err.code(), Some(code), "{err:?}");
            assert_eq!(err.message(), Some(message));
        };
    expect(
        create("a1", "1", Some(weights("2", 2.0))).await,
        "ValidationException",
        "1 validation error detected: Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]",
    );
    expect(
        create("a1", "1", Some(weights("$LATEST", 0.5))).await,
        "ValidationException",
        "1 validation error detected: Value '{$LATEST=0.5}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]",
    );
    expect(
        create("a1", "1", Some(weights("1", 0.5))).await,
        "InvalidParameterValueException",
        "Invalid function version 1. Function version 1 is already included in routing configuration.",
    );
    expect(
        create("a1", "10", None).await,
        "ResourceNotFoundException",
        &format!("Function not found: {ARN}:av:10"),
    );
    expect(
        create("a1", "1", Some(weights("10", 0.5))).await,
        "ResourceNotFoundException",
        &format!("Function not found: {ARN}:av:10"),
    );
    expect(
        create("a1", "$LATEST", Some(weights("1", 0.5))).await,
        "InvalidParameterValueException",
        "$LATEST is not supported for an alias pointing to more than 1 version",
    );
    let two = AliasRoutingConfiguration::builder()
        .additional_version_weights("1", 0.1)
        .additional_version_weights("2", 0.1)
        .build();
    expect(
        create("a1", "1", Some(two)).await,
        "InvalidParameterValueException",
        "Number of items in AdditionalVersionWeights cannot be greater than 1",
    );
    expect(
        create("2024", "1", None).await,
        "ValidationException",
        "1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
    );
    create("custom", "1", None).await.unwrap();
    expect(
        create("custom", "1", None).await,
        "ResourceConflictException",
        &format!("Alias already exists: {ARN}:av:custom"),
    );
    server.stop().await;
}

#[tokio::test]
async fn weighted_alias_splits_traffic_by_weight() {
    let server = TestServer::start().await;
    three_versions(&server, "split").await;
    server
        .client
        .create_alias()
        .function_name("split")
        .name("canary")
        .function_version("1")
        .routing_config(
            AliasRoutingConfiguration::builder()
                .additional_version_weights("2", 0.3)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let n = 400;
    let mut on_2 = 0;
    for _ in 0..n {
        let (executed, mark, arn, env_version) = whoami(&server, "split", Some("canary")).await;
        assert_eq!(
            arn,
            format!("{ARN}:split:canary"),
            "the runtime sees the alias ARN"
        );
        assert_eq!(env_version, executed);
        assert_eq!(mark, if executed == "2" { "v2" } else { "v1" });
        if executed == "2" {
            on_2 += 1;
        }
    }
    // 0.3 of 400 = 120; a binomial sd is ~9.2, so 5 sd either side fails by chance ~1e-6.
    assert!((74..=166).contains(&on_2), "version 2 served {on_2} of {n}");
    server.stop().await;
}

#[tokio::test]
async fn updates_under_load_never_fail_an_invoke() {
    let server = TestServer::start().await;
    function("live")
        .env("MARK", "old")
        .timeout(10)
        .deploy(&server)
        .await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let client = server.client.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut marks = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let out = client
                        .invoke()
                        .function_name("live")
                        .payload(Blob::new(br#"{"context":true,"sleep_ms":5}"#.to_vec()))
                        .send()
                        .await
                        .expect("no invoke fails during updates");
                    assert_eq!(out.function_error(), None, "{}", body(&out));
                    let v: Value = serde_json::from_str(&body(&out)).unwrap();
                    marks.push(v["env"]["MARK"].as_str().unwrap().to_owned());
                }
                marks
            })
        })
        .collect();
    let c = &server.client;
    for i in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        set_mark(&server, "live", &format!("new{i}")).await;
        c.update_function_code()
            .function_name("live")
            .zip_file(Blob::new(invokd_e2e::fixture_package()))
            .send()
            .await
            .unwrap();
        c.publish_version()
            .function_name("live")
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("worker saw no failure"));
    }
    assert!(all.len() > 20, "enough invokes ran: {}", all.len());
    let allowed: Vec<String> = std::iter::once("old".to_owned())
        .chain((0..5).map(|i| format!("new{i}")))
        .collect();
    assert!(
        all.iter().all(|m| allowed.contains(m)),
        "every response came from some deployed code"
    );
    assert_eq!(
        all.last().map(String::as_str),
        Some("new4"),
        "the last invokes ran the newest code"
    );
    server.stop().await;
}
