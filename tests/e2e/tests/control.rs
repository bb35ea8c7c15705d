//! The control plane through the real aws-sdk-lambda: CreateFunction, Get/List/Update/Delete,
//! PublishVersion, tags, account settings and persistence across a restart, with the statuses,
//! exception codes and messages AWS uses (spec §1.2, §2, §5.1, §6; LocalStack recordings of
//! `test_lambda_api` for the create/tag errors). Raw HTTP is used only where the SDK hides what
//! is asserted (a success status, the code download link, routes no operation owns).

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::operation::create_function::builders::CreateFunctionFluentBuilder;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, FunctionVersion, LastUpdateStatus, PackageType, State,
};
use base64::Engine as _;
use invokd_e2e::{
    Options, ROLE, RawResponse, TestServer, assert_aws_error, body, function, invoke, raw_request,
    shell_package,
};

const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function";

/// A custom runtime whose every invocation returns the JSON string `marker`.
fn answering(marker: &str) -> Vec<u8> {
    shell_package(&format!(
        r#"#!/bin/sh
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
while true; do
  id=$(curl -sS -D - -o /dev/null "$api/next" | grep -i '^lambda-runtime-aws-request-id:' | cut -d' ' -f2 | tr -d '\r')
  curl -sS -X POST "$api/$id/response" -d '"{marker}"' > /dev/null
done
"#
    ))
}

/// A CreateFunction call that would succeed; tests override the member they are about.
fn create(server: &TestServer, name: &str) -> CreateFunctionFluentBuilder {
    server
        .client
        .create_function()
        .function_name(name)
        .runtime("provided.al2023".into())
        .handler("bootstrap")
        .role(ROLE)
        .code(zip_code(answering("ok")))
}

fn zip_code(zip: Vec<u8>) -> FunctionCode {
    FunctionCode::builder().zip_file(Blob::new(zip)).build()
}

/// Asserts that a call failed with exactly this status, exception and message.
#[track_caller]
/// `base64(sha256(bytes))`, computed without invokd (coreutils' `sha256sum`).
fn base64_sha256(bytes: &[u8]) -> String {
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write to sha256sum");
    let out = child.wait_with_output().expect("sha256sum output");
    let hex = String::from_utf8(out.stdout).expect("hex digest");
    let digest: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
        .collect();
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// One request over a fresh connection, read until the server closes it.
async fn raw(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> RawResponse {
    let host = addr.to_string();
    raw_request(
        addr,
        method,
        path,
        &[("Host", &host), ("Content-Type", "application/json")],
        body,
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// CreateFunction

#[tokio::test]
async fn create_function_returns_an_active_function_with_aws_defaults() {
    let server = TestServer::start().await;
    let zip = answering("defaults");
    let out = create(&server, "defaults")
        .code(zip_code(zip.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.function_name(), Some("defaults"));
    assert_eq!(out.function_arn(), Some(format!("{ARN}:defaults").as_str()));
    assert_eq!(out.version(), Some("$LATEST"));
    assert_eq!(out.state(), Some(&State::Active));
    assert_eq!(
        out.last_update_status(),
        Some(&LastUpdateStatus::Successful)
    );
    assert_eq!(out.timeout(), Some(3));
    assert_eq!(out.memory_size(), Some(128));
    assert_eq!(out.ephemeral_storage().map(|e| e.size()), Some(512));
    assert_eq!(out.package_type(), Some(&PackageType::Zip));
    assert_eq!(out.architectures(), [Architecture::X8664]);
    assert_eq!(out.role(), Some(ROLE));
    assert_eq!(out.handler(), Some("bootstrap"));
    assert_eq!(out.code_size(), zip.len() as i64);
    assert!(out.revision_id().is_some_and(|r| !r.is_empty()));
    server.stop().await;
}

#[tokio::test]
async fn code_sha256_is_the_base64_sha256_of_the_zip_everywhere() {
    let server = TestServer::start().await;
    let zip = answering("sha");
    let expected = base64_sha256(&zip);
    assert_eq!(expected.len(), 44);
    let created = create(&server, "sha")
        .code(zip_code(zip))
        .send()
        .await
        .unwrap();
    assert_eq!(created.code_sha256(), Some(expected.as_str()));
    let got = server
        .client
        .get_function()
        .function_name("sha")
        .send()
        .await
        .unwrap();
    let cfg = got.configuration().unwrap();
    assert_eq!(cfg.code_sha256(), Some(expected.as_str()));
    assert_eq!(cfg.revision_id(), created.revision_id());
    let listed = server.client.list_functions().send().await.unwrap();
    assert_eq!(listed.functions().len(), 1);
    assert_eq!(listed.functions()[0].code_sha256(), Some(expected.as_str()));
    assert_eq!(listed.functions()[0].revision_id(), created.revision_id());
    server.stop().await;
}

#[tokio::test]
async fn create_function_with_publish_returns_version_1_under_the_unqualified_arn() {
    let server = TestServer::start().await;
    let out = create(&server, "published")
        .publish(true)
        .send()
        .await
        .unwrap();
    assert_eq!(out.version(), Some("1"));
    // AWS answers a publishing create with the unqualified ARN (LocalStack recording
    // test_list_functions/create_response_1).
    assert_eq!(
        out.function_arn(),
        Some(format!("{ARN}:published").as_str())
    );
    let v1 = server
        .client
        .get_function_configuration()
        .function_name("published")
        .qualifier("1")
        .send()
        .await
        .unwrap();
    assert_eq!(v1.version(), Some("1"));
    server.stop().await;
}

#[tokio::test]
async fn creating_an_existing_function_is_a_resource_conflict() {
    let server = TestServer::start().await;
    create(&server, "twice").send().await.unwrap();
    let err = create(&server, "twice").send().await.unwrap_err();
    assert_aws_error(
        &err,
        409,
        "ResourceConflictException",
        "Function already exist: twice",
    );
    server.stop().await;
}

#[tokio::test]
async fn create_function_rejects_a_role_that_is_not_an_iam_role_arn() {
    let server = TestServer::start().await;
    let err = create(&server, "badrole")
        .role("r1")
        .send()
        .await
        .unwrap_err();
    assert_aws_error(
        &err,
        400,
        "ValidationException",
        r"1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+",
    );
    let err = server
        .client
        .get_function()
        .function_name("badrole")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some("ResourceNotFoundException"),
        "a rejected create leaves nothing behind"
    );
    server.stop().await;
}

#[tokio::test]
async fn create_function_rejects_a_timeout_above_900_seconds() {
    let server = TestServer::start().await;
    let err = create(&server, "slow")
        .timeout(901)
        .send()
        .await
        .unwrap_err();
    assert_aws_error(
        &err,
        400,
        "ValidationException",
        "1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900",
    );
    server.stop().await;
}

#[tokio::test]
async fn create_function_rejects_memory_above_10240_mb() {
    let server = TestServer::start().await;
    let err = create(&server, "big")
        .memory_size(10241)
        .send()
        .await
        .unwrap_err();
    assert_aws_error(
        &err,
        400,
        "ValidationException",
        "1 validation error detected: Value '10241' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to 10240",
    );
    server.stop().await;
}

#[tokio::test]
async fn create_function_rejects_a_name_outside_the_function_name_pattern() {
    let server = TestServer::start().await;
    let err = create(&server, "my-function!").send().await.unwrap_err();
    assert_aws_error(
        &err,
        400,
        "ValidationException",
        r"1 validation error detected: Value 'my-function!' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?",
    );
    server.stop().await;
}

#[tokio::test]
async fn create_function_rejects_a_bare_name_longer_than_64_characters() {
    let server = TestServer::start().await;
    let name = "a".repeat(65);
    let err = create(&server, &name).send().await.unwrap_err();
    // AWS reports this one as InvalidParameterValueException in validation wording
    // (LocalStack recording function_name_too_long-create_function, 2025-11).
    assert_aws_error(
        &err,
        400,
        "InvalidParameterValueException",
        &format!(
            "1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64"
        ),
    );
    server.stop().await;
}

#[tokio::test]
async fn create_function_rejects_an_unknown_runtime_listing_the_valid_ones() {
    let server = TestServer::start().await;
    let err = create(&server, "noruntime")
        .runtime("non-existent-runtime".into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValueException"));
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 400);
    let message = err.message().unwrap();
    assert!(
        message.starts_with("Value non-existent-runtime at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [nodejs20.x, python3.14,"),
        "{message}"
    );
    assert!(message.ends_with("] or be a valid ARN"), "{message}");
    assert!(message.contains(" provided.al2023,"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn create_function_rejects_a_package_that_is_not_a_zip() {
    let server = TestServer::start().await;
    let err = create(&server, "notzip")
        .code(zip_code(
            b"this is not a zipfile, just a random string".to_vec(),
        ))
        .send()
        .await
        .unwrap_err();
    assert_aws_error(
        &err,
        400,
        "InvalidParameterValueException",
        "Could not unzip uploaded file. Please check your file, then try to upload again.",
    );
    server.stop().await;
}

#[tokio::test]
async fn create_function_rejects_code_in_s3_and_asks_for_a_zip_file() {
    let server = TestServer::start().await;
    let err = create(&server, "froms3")
        .code(
            FunctionCode::builder()
                .s3_bucket("my-bucket")
                .s3_key("code.zip")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValueException"));
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 400);
    assert!(err.message().unwrap().contains("ZipFile"), "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn create_function_rejects_image_packages_and_asks_for_a_zip_file() {
    let server = TestServer::start().await;
    let err = create(&server, "image")
        .package_type(PackageType::Image)
        .code(
            FunctionCode::builder()
                .image_uri("123456789012.dkr.ecr.us-east-1.amazonaws.com/fn:latest")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValueException"));
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 400);
    assert!(err.message().unwrap().contains("ZipFile"), "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn create_function_rejects_reserved_environment_variables() {
    let server = TestServer::start().await;
    let err = create(&server, "reserved")
        .environment(
            Environment::builder()
                .variables("AWS_REGION", "eu-west-1")
                .variables("MINE", "fine")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_aws_error(
        &err,
        400,
        "InvalidParameterValueException",
        "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: AWS_REGION",
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// GetFunction / GetFunctionConfiguration

#[tokio::test]
async fn get_function_links_to_the_exact_package_it_runs() {
    let server = TestServer::start().await;
    let zip = answering("download");
    function("download")
        .package(zip.clone())
        .deploy(&server)
        .await;
    let got = server
        .client
        .get_function()
        .function_name("download")
        .send()
        .await
        .unwrap();
    let cfg = got.configuration().unwrap();
    assert_eq!(cfg.function_arn(), Some(format!("{ARN}:download").as_str()));
    assert_eq!(cfg.state(), Some(&State::Active));
    assert_eq!(
        cfg.last_update_status(),
        Some(&LastUpdateStatus::Successful)
    );
    let code = got.code().unwrap();
    assert_eq!(code.repository_type(), Some("S3"));
    let location = code.location().unwrap();
    let rest = location
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("an http URL: {location}"));
    let (host, path) = rest.split_at(rest.find('/').expect("a path"));
    assert_eq!(host, server.addr.to_string(), "served by invokd itself");
    let res = raw(server.addr, "GET", path, b"").await;
    assert_eq!(res.status, 200);
    assert!(
        res.body == zip,
        "the download is the uploaded zip, byte for byte"
    );
    server.stop().await;
}

#[tokio::test]
async fn get_function_configuration_is_get_functions_configuration() {
    let server = TestServer::start().await;
    function("config")
        .package(answering("config"))
        .memory(256)
        .timeout(7)
        .env("COLOUR", "blue")
        .deploy(&server)
        .await;
    let c = &server.client;
    let full = c
        .get_function()
        .function_name("config")
        .send()
        .await
        .unwrap();
    let cfg = c
        .get_function_configuration()
        .function_name("config")
        .send()
        .await
        .unwrap();
    let from_get = full.configuration().unwrap();
    assert_eq!(cfg.function_arn(), from_get.function_arn());
    assert_eq!(cfg.code_sha256(), from_get.code_sha256());
    assert_eq!(cfg.revision_id(), from_get.revision_id());
    assert_eq!(cfg.memory_size(), Some(256));
    assert_eq!(cfg.timeout(), Some(7));
    assert_eq!(
        cfg.environment()
            .and_then(|e| e.variables())
            .and_then(|v| v.get("COLOUR"))
            .map(String::as_str),
        Some("blue")
    );
    server.stop().await;
}

#[tokio::test]
async fn get_function_of_an_unknown_function_is_not_found_with_its_unqualified_arn() {
    let server = TestServer::start().await;
    let err = server
        .client
        .get_function()
        .function_name("ghost")
        .send()
        .await
        .unwrap_err();
    assert_aws_error(
        &err,
        404,
        "ResourceNotFoundException",
        &format!("Function not found: {ARN}:ghost"),
    );
    let err = server
        .client
        .get_function_configuration()
        .function_name("ghost")
        .send()
        .await
        .unwrap_err();
    assert_aws_error(
        &err,
        404,
        "ResourceNotFoundException",
        &format!("Function not found: {ARN}:ghost"),
    );
    server.stop().await;
}

#[tokio::test]
async fn get_function_by_an_arn_of_another_region_is_not_reachable() {
    let server = TestServer::start().await;
    function("elsewhere")
        .package(answering("x"))
        .deploy(&server)
        .await;
    let err = server
        .client
        .get_function()
        .function_name("arn:aws:lambda:eu-west-1:000000000000:function:elsewhere")
        .send()
        .await
        .unwrap_err();
    assert_aws_error(
        &err,
        404,
        "ResourceNotFoundException",
        "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')",
    );
    server.stop().await;
}

#[tokio::test]
async fn get_function_with_a_qualifier_that_contradicts_the_name_is_invalid() {
    let server = TestServer::start().await;
    function("contra")
        .package(answering("x"))
        .publish()
        .deploy(&server)
        .await;
    let err = server
        .client
        .get_function()
        .function_name("contra:$LATEST")
        .qualifier("1")
        .send()
        .await
        .unwrap_err();
    assert_aws_error(
        &err,
        400,
        "InvalidParameterValueException",
        "The derived qualifier from the function name does not match the specified qualifier.",
    );
    server.stop().await;
}

#[tokio::test]
async fn get_function_with_a_malformed_qualifier_is_a_validation_error() {
    let server = TestServer::start().await;
    function("badq")
        .package(answering("x"))
        .deploy(&server)
        .await;
    let err = server
        .client
        .get_function()
        .function_name("badq")
        .qualifier("invalid!")
        .send()
        .await
        .unwrap_err();
    assert_aws_error(
        &err,
        400,
        "ValidationException",
        r"1 validation error detected: Value 'invalid!' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: \$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+",
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// ListFunctions

#[tokio::test]
async fn list_functions_pages_through_every_function_once_in_name_order() {
    let server = TestServer::start().await;
    for name in ["page-c", "page-a", "page-e", "page-b", "page-d"] {
        function(name)
            .package(answering(name))
            .deploy(&server)
            .await;
    }
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut marker: Option<String> = None;
    loop {
        let out = server
            .client
            .list_functions()
            .max_items(2)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(out.functions().len() <= 2, "MaxItems is respected");
        seen.extend(
            out.functions()
                .iter()
                .map(|f| f.function_name().unwrap().to_owned()),
        );
        marker = out.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
        assert!(pages < 10, "pagination never ends: {seen:?}");
    }
    assert_eq!(seen, ["page-a", "page-b", "page-c", "page-d", "page-e"]);
    assert_eq!(pages, 3, "2 + 2 + 1, and the last page has no NextMarker");
    server.stop().await;
}

#[tokio::test]
async fn list_functions_with_function_version_all_lists_published_versions() {
    let server = TestServer::start().await;
    function("lv-one")
        .package(answering("1"))
        .publish()
        .deploy(&server)
        .await;
    function("lv-two")
        .package(answering("2"))
        .deploy(&server)
        .await;
    let c = &server.client;
    let all = c
        .list_functions()
        .function_version(FunctionVersion::All)
        .send()
        .await
        .unwrap();
    let arns: Vec<(&str, &str)> = all
        .functions()
        .iter()
        .map(|f| (f.function_arn().unwrap(), f.version().unwrap()))
        .collect();
    assert_eq!(
        arns,
        [
            (format!("{ARN}:lv-one:$LATEST").as_str(), "$LATEST"),
            (format!("{ARN}:lv-one:1").as_str(), "1"),
            (format!("{ARN}:lv-two:$LATEST").as_str(), "$LATEST"),
        ]
    );
    let latest_only = c.list_functions().send().await.unwrap();
    let arns: Vec<&str> = latest_only
        .functions()
        .iter()
        .map(|f| f.function_arn().unwrap())
        .collect();
    assert_eq!(
        arns,
        [format!("{ARN}:lv-one"), format!("{ARN}:lv-two")],
        "without FunctionVersion only $LATEST, under unqualified ARNs"
    );
    server.stop().await;
}

#[tokio::test]
async fn list_functions_rejects_a_function_version_other_than_all() {
    let server = TestServer::start().await;
    let err = server
        .client
        .list_functions()
        .function_version(FunctionVersion::from("invalid"))
        .send()
        .await
        .unwrap_err();
    // LocalStack recording of AWS (test_list_functions, 2025-11).
    assert_aws_error(
        &err,
        400,
        "ValidationException",
        "1 validation error detected: Value 'invalid' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]",
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// UpdateFunctionConfiguration / UpdateFunctionCode

#[tokio::test]
async fn update_function_configuration_changes_the_function_and_its_revision() {
    let server = TestServer::start().await;
    let created = function("reconf")
        .package(answering("x"))
        .deploy(&server)
        .await;
    let c = &server.client;
    let updated = c
        .update_function_configuration()
        .function_name("reconf")
        .timeout(30)
        .memory_size(512)
        .description("reconfigured")
        .environment(Environment::builder().variables("MODE", "fast").build())
        .send()
        .await
        .unwrap();
    assert_eq!(updated.timeout(), Some(30));
    assert_eq!(updated.memory_size(), Some(512));
    assert_eq!(updated.description(), Some("reconfigured"));
    assert_eq!(
        updated.code_sha256(),
        created.code_sha256(),
        "code untouched"
    );
    assert_ne!(updated.revision_id(), created.revision_id());
    let got = c
        .get_function_configuration()
        .function_name("reconf")
        .send()
        .await
        .unwrap();
    assert_eq!(got.timeout(), Some(30));
    assert_eq!(got.memory_size(), Some(512));
    assert_eq!(got.description(), Some("reconfigured"));
    assert_eq!(
        got.environment()
            .and_then(|e| e.variables())
            .and_then(|v| v.get("MODE"))
            .map(String::as_str),
        Some("fast")
    );
    assert_eq!(got.revision_id(), updated.revision_id());
    server.stop().await;
}

#[tokio::test]
async fn update_function_code_replaces_the_code_that_runs() {
    let server = TestServer::start().await;
    let created = function("recode")
        .package(answering("before"))
        .deploy(&server)
        .await;
    assert_eq!(body(&invoke(&server, "recode", "{}").await), r#""before""#);
    let zip = answering("after");
    let updated = server
        .client
        .update_function_code()
        .function_name("recode")
        .zip_file(Blob::new(zip.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.code_sha256(), Some(base64_sha256(&zip).as_str()));
    assert_eq!(updated.code_size(), zip.len() as i64);
    assert_ne!(updated.revision_id(), created.revision_id());
    assert_eq!(
        body(&invoke(&server, "recode", "{}").await),
        r#""after""#,
        "the warm environment of the old code is not reused"
    );
    server.stop().await;
}

#[tokio::test]
async fn updating_or_publishing_an_unknown_function_is_not_found() {
    let server = TestServer::start().await;
    let c = &server.client;
    let not_found = format!("Function not found: {ARN}:absent");
    let err = c
        .update_function_configuration()
        .function_name("absent")
        .timeout(10)
        .send()
        .await
        .unwrap_err();
    assert_aws_error(&err, 404, "ResourceNotFoundException", &not_found);
    let err = c
        .update_function_code()
        .function_name("absent")
        .zip_file(Blob::new(answering("x")))
        .send()
        .await
        .unwrap_err();
    assert_aws_error(&err, 404, "ResourceNotFoundException", &not_found);
    let err = c
        .publish_version()
        .function_name("absent")
        .send()
        .await
        .unwrap_err();
    assert_aws_error(&err, 404, "ResourceNotFoundException", &not_found);
    server.stop().await;
}

#[tokio::test]
async fn updates_with_a_stale_revision_id_fail_the_precondition() {
    let server = TestServer::start().await;
    function("guarded")
        .package(answering("x"))
        .deploy(&server)
        .await;
    let c = &server.client;
    const STALE: &str = "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id";
    let err = c
        .update_function_configuration()
        .function_name("guarded")
        .timeout(10)
        .revision_id("00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert_aws_error(&err, 412, "PreconditionFailedException", STALE);
    let err = c
        .update_function_code()
        .function_name("guarded")
        .zip_file(Blob::new(answering("y")))
        .revision_id("00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert_aws_error(&err, 412, "PreconditionFailedException", STALE);
    // The current revision passes.
    let current = c
        .get_function_configuration()
        .function_name("guarded")
        .send()
        .await
        .unwrap();
    assert_eq!(
        current.timeout(),
        Some(3),
        "the rejected update changed nothing"
    );
    c.update_function_configuration()
        .function_name("guarded")
        .timeout(10)
        .revision_id(current.revision_id().unwrap())
        .send()
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn update_function_code_dry_run_changes_nothing() {
    let server = TestServer::start().await;
    function("dryrun")
        .package(answering("original"))
        .deploy(&server)
        .await;
    let c = &server.client;
    let before = c
        .get_function_configuration()
        .function_name("dryrun")
        .send()
        .await
        .unwrap();
    c.update_function_code()
        .function_name("dryrun")
        .zip_file(Blob::new(answering("replacement")))
        .dry_run(true)
        .send()
        .await
        .unwrap();
    let after = c
        .get_function_configuration()
        .function_name("dryrun")
        .send()
        .await
        .unwrap();
    assert_eq!(after.code_sha256(), before.code_sha256());
    assert_eq!(after.code_size(), before.code_size());
    assert_eq!(after.revision_id(), before.revision_id());
    assert_eq!(
        body(&invoke(&server, "dryrun", "{}").await),
        r#""original""#
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// PublishVersion / ListVersionsByFunction / DeleteFunction

#[tokio::test]
async fn publish_version_answers_201_with_the_version_under_a_qualified_arn() {
    let server = TestServer::start().await;
    function("pv").package(answering("x")).deploy(&server).await;
    let res = raw(
        server.addr,
        "POST",
        "/2015-03-31/functions/pv/versions",
        b"{}",
    )
    .await;
    assert_eq!(res.status, 201);
    let v = res.json();
    assert_eq!(v["Version"], "1");
    assert_eq!(v["FunctionArn"], format!("{ARN}:pv:1"));
    assert_eq!(v["State"], "Active");
    // Nothing changed since: publishing again returns the same version.
    let again = server
        .client
        .publish_version()
        .function_name("pv")
        .send()
        .await
        .unwrap();
    assert_eq!(again.version(), Some("1"));
    assert_eq!(again.function_arn(), Some(format!("{ARN}:pv:1").as_str()));
    assert_eq!(again.revision_id(), v["RevisionId"].as_str());
    server.stop().await;
}

#[tokio::test]
async fn publish_version_with_a_code_sha256_other_than_latests_is_invalid() {
    let server = TestServer::start().await;
    let zip = answering("x");
    function("pvsha").package(zip.clone()).deploy(&server).await;
    let err = server
        .client
        .publish_version()
        .function_name("pvsha")
        .code_sha256("not-the-sha")
        .send()
        .await
        .unwrap_err();
    let actual = base64_sha256(&zip);
    assert_aws_error(
        &err,
        400,
        "InvalidParameterValueException",
        &format!(
            "CodeSHA256 (not-the-sha) is different from current CodeSHA256 in $LATEST ({actual}). Please try again with the CodeSHA256 in $LATEST."
        ),
    );
    let ok = server
        .client
        .publish_version()
        .function_name("pvsha")
        .code_sha256(actual)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.version(), Some("1"));
    server.stop().await;
}

#[tokio::test]
async fn list_versions_by_function_lists_latest_then_each_version() {
    let server = TestServer::start().await;
    function("lvf")
        .package(answering("v1"))
        .publish()
        .deploy(&server)
        .await;
    let c = &server.client;
    c.update_function_code()
        .function_name("lvf")
        .zip_file(Blob::new(answering("v2")))
        .publish(true)
        .send()
        .await
        .unwrap();
    let out = c
        .list_versions_by_function()
        .function_name("lvf")
        .send()
        .await
        .unwrap();
    let versions: Vec<(&str, &str)> = out
        .versions()
        .iter()
        .map(|v| (v.version().unwrap(), v.function_arn().unwrap()))
        .collect();
    assert_eq!(
        versions,
        [
            ("$LATEST", format!("{ARN}:lvf:$LATEST").as_str()),
            ("1", format!("{ARN}:lvf:1").as_str()),
            ("2", format!("{ARN}:lvf:2").as_str()),
        ]
    );
    assert_eq!(out.next_marker(), None);
    server.stop().await;
}

#[tokio::test]
async fn delete_function_with_a_version_qualifier_deletes_only_that_version() {
    let server = TestServer::start().await;
    function("delv")
        .package(answering("x"))
        .publish()
        .deploy(&server)
        .await;
    let c = &server.client;
    let out = c
        .delete_function()
        .function_name("delv")
        .qualifier("1")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 204);
    let err = c
        .get_function()
        .function_name("delv")
        .qualifier("1")
        .send()
        .await
        .unwrap_err();
    assert_aws_error(
        &err,
        404,
        "ResourceNotFoundException",
        &format!("Function not found: {ARN}:delv:1"),
    );
    // Deleting it again names the function, not the version (LocalStack recording of AWS,
    // test_delete_on_nonexisting_version, 2025-11).
    let err = c
        .delete_function()
        .function_name("delv")
        .qualifier("1")
        .send()
        .await
        .unwrap_err();
    assert_aws_error(
        &err,
        404,
        "ResourceNotFoundException",
        &format!("Function not found: {ARN}:delv"),
    );
    let latest = c.get_function().function_name("delv").send().await.unwrap();
    assert_eq!(latest.configuration().unwrap().version(), Some("$LATEST"));
    assert_eq!(
        body(&invoke(&server, "delv", "{}").await),
        r#""x""#,
        "$LATEST still runs"
    );
    server.stop().await;
}

#[tokio::test]
async fn delete_function_with_the_latest_qualifier_is_invalid() {
    let server = TestServer::start().await;
    function("dellatest")
        .package(answering("x"))
        .deploy(&server)
        .await;
    let err = server
        .client
        .delete_function()
        .function_name("dellatest")
        .qualifier("$LATEST")
        .send()
        .await
        .unwrap_err();
    // LocalStack recording of AWS (test_lambda_api, 2025-11).
    assert_aws_error(
        &err,
        400,
        "InvalidParameterValueException",
        "$LATEST version cannot be deleted without deleting the function.",
    );
    server
        .client
        .get_function()
        .function_name("dellatest")
        .send()
        .await
        .expect("the function is still there");
    server.stop().await;
}

#[tokio::test]
async fn delete_function_answers_204_and_the_function_is_gone() {
    let server = TestServer::start().await;
    function("doomed")
        .package(answering("x"))
        .publish()
        .deploy(&server)
        .await;
    assert_eq!(body(&invoke(&server, "doomed", "{}").await), r#""x""#);
    let c = &server.client;
    let out = c
        .delete_function()
        .function_name("doomed")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 204);
    let not_found = format!("Function not found: {ARN}:doomed");
    let err = c
        .get_function()
        .function_name("doomed")
        .send()
        .await
        .unwrap_err();
    assert_aws_error(&err, 404, "ResourceNotFoundException", &not_found);
    let err = c
        .delete_function()
        .function_name("doomed")
        .send()
        .await
        .unwrap_err();
    assert_aws_error(&err, 404, "ResourceNotFoundException", &not_found);
    let err = c
        .invoke()
        .function_name("doomed")
        .qualifier("1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some("ResourceNotFoundException"),
        "its versions went with it"
    );
    assert!(
        c.list_functions()
            .send()
            .await
            .unwrap()
            .functions()
            .is_empty(),
        "ListFunctions no longer shows it"
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Tags

async fn tags_of(server: &TestServer, arn: &str) -> HashMap<String, String> {
    server
        .client
        .list_tags()
        .resource(arn)
        .send()
        .await
        .unwrap()
        .tags()
        .cloned()
        .unwrap_or_default()
}

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn tags_are_added_overwritten_and_removed_by_function_arn() {
    let server = TestServer::start().await;
    function("tagged")
        .package(answering("x"))
        .deploy(&server)
        .await;
    let c = &server.client;
    let arn = format!("{ARN}:tagged");
    assert_eq!(tags_of(&server, &arn).await, map(&[]));
    c.tag_resource()
        .resource(&arn)
        .tags("team", "core")
        .tags("tier", "gold")
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags_of(&server, &arn).await,
        map(&[("team", "core"), ("tier", "gold")])
    );
    c.tag_resource()
        .resource(&arn)
        .tags("tier", "silver")
        .tags("cost", "42")
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags_of(&server, &arn).await,
        map(&[("team", "core"), ("tier", "silver"), ("cost", "42")])
    );
    c.untag_resource()
        .resource(&arn)
        .tag_keys("team")
        .tag_keys("cost")
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(&server, &arn).await, map(&[("tier", "silver")]));
    let got = c
        .get_function()
        .function_name("tagged")
        .send()
        .await
        .unwrap();
    assert_eq!(got.tags(), Some(&map(&[("tier", "silver")])));
    server.stop().await;
}

#[tokio::test]
async fn tagging_a_version_or_alias_arn_is_invalid() {
    let server = TestServer::start().await;
    function("tagv")
        .package(answering("x"))
        .publish()
        .deploy(&server)
        .await;
    let err = server
        .client
        .tag_resource()
        .resource(format!("{ARN}:tagv:1"))
        .tags("k", "v")
        .send()
        .await
        .unwrap_err();
    assert_aws_error(
        &err,
        400,
        "InvalidParameterValueException",
        "Tags on function aliases and versions are not supported. Please specify a function ARN.",
    );
    server.stop().await;
}

#[tokio::test]
async fn tagging_an_unknown_function_is_not_found() {
    let server = TestServer::start().await;
    let c = &server.client;
    let arn = format!("{ARN}:nosuch");
    let not_found = format!("Function not found: {arn}");
    let err = c
        .tag_resource()
        .resource(&arn)
        .tags("k", "v")
        .send()
        .await
        .unwrap_err();
    assert_aws_error(&err, 404, "ResourceNotFoundException", &not_found);
    let err = c
        .untag_resource()
        .resource(&arn)
        .tag_keys("k")
        .send()
        .await
        .unwrap_err();
    assert_aws_error(&err, 404, "ResourceNotFoundException", &not_found);
    let err = c.list_tags().resource(&arn).send().await.unwrap_err();
    assert_aws_error(&err, 404, "ResourceNotFoundException", &not_found);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// GetAccountSettings

#[tokio::test]
async fn account_settings_report_aws_limits_and_the_function_count() {
    let server = TestServer::start().await;
    let one = answering("one");
    let two = answering("second function");
    function("acct-one")
        .package(one.clone())
        .deploy(&server)
        .await;
    function("acct-two")
        .package(two.clone())
        .deploy(&server)
        .await;
    let out = server.client.get_account_settings().send().await.unwrap();
    let limit = out.account_limit().unwrap();
    assert_eq!(limit.total_code_size(), 80_530_636_800);
    assert_eq!(limit.code_size_unzipped(), 262_144_000);
    assert_eq!(limit.code_size_zipped(), 52_428_800);
    assert_eq!(limit.concurrent_executions(), 1000);
    assert_eq!(limit.unreserved_concurrent_executions(), Some(1000));
    let usage = out.account_usage().unwrap();
    assert_eq!(usage.function_count(), 2);
    assert_eq!(usage.total_code_size(), (one.len() + two.len()) as i64);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Persistence

#[tokio::test]
async fn functions_versions_and_code_survive_a_restart() {
    let server = TestServer::start().await;
    function("kept")
        .package(answering("v1"))
        .publish()
        .deploy(&server)
        .await;
    server
        .client
        .update_function_code()
        .function_name("kept")
        .zip_file(Blob::new(answering("v2")))
        .send()
        .await
        .unwrap();
    function("plain")
        .package(answering("plain"))
        .deploy(&server)
        .await;
    server
        .client
        .tag_resource()
        .resource(format!("{ARN}:plain"))
        .tags("k", "v")
        .send()
        .await
        .unwrap();
    let snapshot = |s: &TestServer| {
        let c = s.client.clone();
        async move {
            let mut seen = Vec::new();
            for (name, q) in [("kept", None), ("kept", Some("1")), ("plain", None)] {
                let cfg = c
                    .get_function_configuration()
                    .function_name(name)
                    .set_qualifier(q.map(str::to_owned))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{name} {q:?}: {e:?}"));
                seen.push((
                    cfg.function_arn().unwrap().to_owned(),
                    cfg.version().unwrap().to_owned(),
                    cfg.code_sha256().unwrap().to_owned(),
                    cfg.revision_id().unwrap().to_owned(),
                ));
            }
            seen
        }
    };
    let before = snapshot(&server).await;
    let dir = server.stop().await;

    let server = TestServer::start_with(Options {
        data_dir: Some(dir),
        ..Default::default()
    })
    .await;
    assert_eq!(snapshot(&server).await, before);
    let versions: Vec<String> = server
        .client
        .list_versions_by_function()
        .function_name("kept")
        .send()
        .await
        .unwrap()
        .versions()
        .iter()
        .map(|v| v.version().unwrap().to_owned())
        .collect();
    assert_eq!(versions, ["$LATEST", "1"]);
    assert_eq!(
        tags_of(&server, &format!("{ARN}:plain")).await,
        map(&[("k", "v")])
    );
    assert_eq!(body(&invoke(&server, "kept", "{}").await), r#""v2""#);
    assert_eq!(body(&invoke(&server, "plain", "{}").await), r#""plain""#);
    let v1 = server
        .client
        .invoke()
        .function_name("kept")
        .qualifier("1")
        .send()
        .await
        .unwrap();
    assert_eq!(body(&v1), r#""v1""#);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Requests no operation accepts

#[tokio::test]
async fn an_unknown_route_gets_a_json_aws_error() {
    let server = TestServer::start().await;
    let res = raw(server.addr, "GET", "/2015-03-31/nonsense", b"").await;
    assert_eq!(res.status, 404);
    assert!(
        res.headers
            .get("x-amzn-errortype")
            .is_some_and(|t| !t.is_empty()),
        "{:?}",
        res.headers
    );
    assert_eq!(
        res.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    let v = res.json();
    assert!(
        v.get("Message").or_else(|| v.get("message")).is_some(),
        "{v}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_malformed_json_body_is_invalid_request_content() {
    let server = TestServer::start().await;
    let res = raw(server.addr, "POST", "/2015-03-31/functions", b"{").await;
    assert_eq!(res.status, 400);
    assert_eq!(
        res.headers.get("x-amzn-errortype").map(String::as_str),
        Some("InvalidRequestContentException")
    );
    let v = res.json();
    let message = v["message"].as_str().unwrap_or_else(|| panic!("{v}"));
    assert!(
        message.starts_with("Could not parse request body into json: "),
        "{message}"
    );
    server.stop().await;
}
