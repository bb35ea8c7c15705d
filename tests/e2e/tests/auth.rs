//! Server mode end to end (issue 8, spec §7): requests signed for real by `aws-sdk-lambda` and by
//! the official `aws-sigv4` signer on raw HTTP, verified by invokd; identity policies, resource
//! policies (AddPermission / RemovePermission / GetPolicy), cross-account and qualified grants,
//! DryRun as an authorisation probe.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use invokd_e2e::{
    Options, RawResponse, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, TestServer, body,
    client_with, function, raw_request,
};
use invokd_server::auth::{Auth, KeySpec, Keyring, Secret};
use serde_json::Value;

const ACCOUNT: &str = "000000000000";
const OTHER: &str = "222222222222";
const THIRD: &str = "333333333333";

const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
const INVOKE_ANYTHING: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"*"}]}"#;

fn arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}")
}

fn key(id: &str, account: &str, user: &str, policy: &str) -> KeySpec {
    KeySpec {
        access_key_id: id.into(),
        secret_access_key: Secret::new(format!("{id}-secret")),
        account_id: account.into(),
        principal: format!("arn:aws:iam::{account}:user/{user}"),
        org_id: None,
        policy: policy.into(),
    }
}

/// The callers of these tests: an administrator of the server's account (the harness client),
/// a limited user of the same account, and users of two other accounts.
fn keys() -> Vec<KeySpec> {
    let mut admin = key(TEST_ACCESS_KEY_ID, ACCOUNT, "admin", ALLOW_ALL);
    admin.secret_access_key = Secret::new(TEST_SECRET_ACCESS_KEY);
    vec![
        admin,
        key(
            "AKIDALICE",
            ACCOUNT,
            "alice",
            &format!(
                r#"{{"Version":"2012-10-17","Statement":[
                    {{"Effect":"Allow","Action":["lambda:InvokeFunction","lambda:Get*"],"Resource":"*"}},
                    {{"Effect":"Deny","Action":"lambda:Invoke*","Resource":"{}"}}]}}"#,
                arn("guarded")
            ),
        ),
        key("AKIDBOB", OTHER, "bob", INVOKE_ANYTHING),
        key(
            "AKIDCAROL",
            THIRD,
            "carol",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:GetFunction","Resource":"*"}]}"#,
        ),
    ]
}

async fn server_mode() -> TestServer {
    server_mode_on(None).await
}

async fn server_mode_on(data_dir: Option<Arc<tempfile::TempDir>>) -> TestServer {
    let keyring = Keyring::new(keys()).expect("valid keys");
    TestServer::start_with(Options {
        data_dir,
        auth: Auth::Sigv4(Arc::new(keyring)),
        ..Default::default()
    })
    .await
}

fn as_user(server: &TestServer, id: &str) -> Client {
    client_with(&server.endpoint, id, &format!("{id}-secret"))
}

/// Status, code and message of a failed call.
fn failure<E: ProvideErrorMetadata + std::fmt::Debug>(
    e: &SdkError<E, HttpResponse>,
) -> (u16, String, String) {
    (
        e.raw_response().map_or(0, |r| r.status().as_u16()),
        e.code().unwrap_or_default().to_owned(),
        e.message().unwrap_or_default().to_owned(),
    )
}

fn denied(principal: &str, action: &str, resource: &str, reason: &str) -> (u16, String, String) {
    (
        403,
        "AccessDeniedException".into(),
        format!(
            "User: {principal} is not authorized to perform: {action} on resource: {resource} {reason}"
        ),
    )
}

fn no_identity(action: &str) -> String {
    format!("because no identity-based policy allows the {action} action")
}

fn no_resource(action: &str) -> String {
    format!("because no resource-based policy allows the {action} action")
}

const INVOKE: &str = "lambda:InvokeFunction";
const BOB: &str = "arn:aws:iam::222222222222:user/bob";
const CAROL: &str = "arn:aws:iam::333333333333:user/carol";
const ALICE: &str = "arn:aws:iam::000000000000:user/alice";

async fn invoke_as(
    client: &Client,
    name: &str,
    payload: &str,
) -> Result<InvokeOutput, SdkError<aws_sdk_lambda::operation::invoke::InvokeError, HttpResponse>> {
    client
        .invoke()
        .function_name(name)
        .payload(Blob::new(payload.as_bytes().to_vec()))
        .send()
        .await
}

// ------------------------------------------------------------------------------------------
// Raw HTTP, signed by the official signer, for what an SDK would never send

/// AWS's error triple of a raw response: status, `X-Amzn-ErrorType`, message.
trait AwsErrorOf {
    fn error(&self) -> (u16, String, String);
}

impl AwsErrorOf for RawResponse {
    fn error(&self) -> (u16, String, String) {
        let v = self.json();
        let message = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        (
            self.status,
            self.headers
                .get("x-amzn-errortype")
                .cloned()
                .unwrap_or_default(),
            message,
        )
    }
}

/// Sends `method path` with `headers` and `body` over a fresh connection.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> RawResponse {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    raw_request(addr, method, path, &headers, body).await
}

/// Signs a request the way an SDK does (Authorization header), at `time`, for `signed_body`.
fn sign_headers(
    addr: SocketAddr,
    method: &str,
    path: &str,
    signed_body: &[u8],
    time: SystemTime,
) -> Vec<(String, String)> {
    let url = format!("http://{addr}{path}");
    let mut req = http::Request::builder()
        .method(method)
        .uri(&url)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(())
        .unwrap();
    let identity =
        Credentials::new(TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, None, None, "t").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("lambda")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers: Vec<(&str, &str)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
        .collect();
    let signable = SignableRequest::new(
        method,
        &url,
        headers.into_iter(),
        SignableBody::Bytes(signed_body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut req);
    req.headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect()
}

/// A presigned URL's path and query for `GET path`, made at `time`, valid `expires`.
fn presign(addr: SocketAddr, path: &str, time: SystemTime, expires: Duration) -> String {
    let url = format!("http://{addr}{path}");
    let mut req = http::Request::get(&url).body(()).unwrap();
    let identity =
        Credentials::new(TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, None, None, "t").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires);
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("lambda")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let host = addr.to_string();
    let signable = SignableRequest::new(
        "GET",
        &url,
        std::iter::once(("host", host.as_str())),
        SignableBody::Bytes(b""),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut req);
    req.uri().path_and_query().unwrap().to_string()
}

fn host(addr: SocketAddr) -> Vec<(String, String)> {
    vec![("host".into(), addr.to_string())]
}

const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

// ------------------------------------------------------------------------------------------
// Authentication

#[tokio::test]
async fn a_valid_signature_passes_and_each_operation_needs_its_action() {
    let server = server_mode().await;
    function("echo").deploy(&server).await;
    let out = invoke_as(&server.client, "echo", r#"{"signed":true}"#)
        .await
        .unwrap();
    assert_eq!(body(&out), r#"{"signed":true}"#);

    // Alice may invoke and read, nothing else.
    let alice = as_user(&server, "AKIDALICE");
    let out = invoke_as(&alice, "echo", r#"{"by":"alice"}"#)
        .await
        .unwrap();
    assert_eq!(body(&out), r#"{"by":"alice"}"#);
    let got = alice
        .get_function()
        .function_name("echo")
        .send()
        .await
        .unwrap();
    assert_eq!(got.configuration().unwrap().function_name(), Some("echo"));
    let e = alice.list_functions().send().await.unwrap_err();
    assert_eq!(
        failure(&e),
        denied(
            ALICE,
            "lambda:ListFunctions",
            "*",
            &no_identity("lambda:ListFunctions")
        )
    );
    let e = alice
        .delete_function()
        .function_name("echo")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failure(&e),
        denied(
            ALICE,
            "lambda:DeleteFunction",
            &arn("echo"),
            &no_identity("lambda:DeleteFunction")
        )
    );
    let e = alice
        .create_function()
        .function_name("mine")
        .role(invokd_e2e::ROLE)
        .runtime("provided.al2023".into())
        .handler("bootstrap")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(Blob::new(invokd_e2e::shell_package("#!/bin/sh\n")))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failure(&e),
        denied(
            ALICE,
            "lambda:CreateFunction",
            &arn("mine"),
            &no_identity("lambda:CreateFunction")
        )
    );
    // The function still exists: the refused delete did nothing.
    assert!(
        server
            .client
            .get_function()
            .function_name("echo")
            .send()
            .await
            .is_ok()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_is_an_invalid_signature_and_an_unknown_key_is_unrecognized() {
    let server = server_mode().await;
    let wrong = client_with(&server.endpoint, TEST_ACCESS_KEY_ID, "not-the-secret");
    let e = wrong.list_functions().send().await.unwrap_err();
    assert_eq!(
        failure(&e),
        (
            403,
            "InvalidSignatureException".into(),
            SIGNATURE_MISMATCH.into()
        )
    );
    let unknown = client_with(&server.endpoint, "AKIDNOBODY", "whatever");
    let e = unknown.list_functions().send().await.unwrap_err();
    assert_eq!(
        failure(&e),
        (
            403,
            "UnrecognizedClientException".into(),
            "The security token included in the request is invalid.".into()
        )
    );
    // A session token belongs to no invokd key.
    let with_token = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .endpoint_url(&server.endpoint)
            .region(aws_sdk_lambda::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_lambda::config::Credentials::new(
                TEST_ACCESS_KEY_ID,
                TEST_SECRET_ACCESS_KEY,
                Some("session".into()),
                None,
                "t",
            ))
            .build(),
    );
    let e = with_token.list_functions().send().await.unwrap_err();
    assert_eq!(failure(&e).1, "UnrecognizedClientException");
    server.stop().await;
}

#[tokio::test]
async fn a_body_other_than_the_signed_one_is_refused() {
    let server = server_mode().await;
    function("echo").deploy(&server).await;
    let path = "/2015-03-31/functions/echo/invocations";
    let signed = br#"{"amount":1}"#;
    let headers = sign_headers(server.addr, "POST", path, signed, SystemTime::now());
    let tampered = send(server.addr, "POST", path, &headers, br#"{"amount":1000}"#).await;
    assert_eq!(
        tampered.error(),
        (
            403,
            "InvalidSignatureException".into(),
            SIGNATURE_MISMATCH.into()
        )
    );
    // The same signature with the body it was made for is fine.
    let genuine = send(server.addr, "POST", path, &headers, signed).await;
    assert_eq!(
        genuine.status,
        200,
        "{}",
        String::from_utf8_lossy(&genuine.body)
    );
    assert_eq!(genuine.body, signed);
    // So is a body whose declared hash is signed, but not a body that differs from that hash.
    let mut declared = headers.clone();
    declared.push((
        "x-amz-content-sha256".into(),
        "0000000000000000000000000000000000000000000000000000000000000000".into(),
    ));
    let e = send(server.addr, "POST", path, &declared, signed)
        .await
        .error();
    assert_eq!((e.0, e.1.as_str()), (403, "InvalidSignatureException"));
    server.stop().await;
}

#[tokio::test]
async fn a_request_signed_more_than_fifteen_minutes_away_is_refused() {
    let server = server_mode().await;
    let path = "/2015-03-31/functions/";
    let old = SystemTime::now() - Duration::from_secs(20 * 60);
    let stale = send(
        server.addr,
        "GET",
        path,
        &sign_headers(server.addr, "GET", path, b"", old),
        b"",
    )
    .await;
    let (status, code, message) = stale.error();
    assert_eq!((status, code.as_str()), (403, "InvalidSignatureException"));
    let stamp = invokd_server::auth::sigv4::format_amz_date(old);
    assert!(
        message.starts_with(&format!("Signature expired: {stamp} is now earlier than "))
            && message.ends_with(" - 15 min.)"),
        "{message}"
    );
    let future = SystemTime::now() + Duration::from_secs(20 * 60);
    let early = send(
        server.addr,
        "GET",
        path,
        &sign_headers(server.addr, "GET", path, b"", future),
        b"",
    )
    .await;
    assert!(
        early.error().2.starts_with("Signature not yet current: "),
        "{}",
        early.error().2
    );
    // Within the skew is fine.
    let recent = SystemTime::now() - Duration::from_secs(5 * 60);
    let ok = send(
        server.addr,
        "GET",
        path,
        &sign_headers(server.addr, "GET", path, b"", recent),
        b"",
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["Functions"], serde_json::json!([]));
    server.stop().await;
}

#[tokio::test]
async fn missing_or_malformed_authorization_is_refused() {
    let server = server_mode().await;
    let none = send(
        server.addr,
        "GET",
        "/2015-03-31/functions/",
        &host(server.addr),
        b"",
    )
    .await;
    assert_eq!(
        none.error(),
        (
            403,
            "MissingAuthenticationTokenException".into(),
            "Missing Authentication Token".into()
        )
    );
    let mut bad = host(server.addr);
    bad.push((
        "authorization".into(),
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/20240101/us-east-1/lambda/aws4_request".into(),
    ));
    let (status, code, message) = send(server.addr, "GET", "/2015-03-31/functions/", &bad, b"")
        .await
        .error();
    assert_eq!(
        (status, code.as_str()),
        (403, "IncompleteSignatureException")
    );
    assert!(
        message.starts_with("Authorization header requires 'Signature' parameter."),
        "{message}"
    );
    server.stop().await;
}

#[tokio::test]
async fn presigned_urls_work_until_they_expire() {
    let server = server_mode().await;
    function("echo").deploy(&server).await;
    let now = SystemTime::now();
    let url = presign(
        server.addr,
        "/2015-03-31/functions/echo",
        now,
        Duration::from_secs(300),
    );
    let got = send(server.addr, "GET", &url, &host(server.addr), b"").await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    assert_eq!(got.json()["Configuration"]["FunctionName"], "echo");

    let expired = presign(
        server.addr,
        "/2015-03-31/functions/echo",
        now - Duration::from_secs(120),
        Duration::from_secs(60),
    );
    let (status, code, message) = send(server.addr, "GET", &expired, &host(server.addr), b"")
        .await
        .error();
    assert_eq!((status, code.as_str()), (403, "InvalidSignatureException"));
    assert!(message.starts_with("Signature expired: "), "{message}");

    // The signature covers the path: pointing the URL elsewhere breaks it.
    let moved = url.replace("/functions/echo", "/functions/other");
    let e = send(server.addr, "GET", &moved, &host(server.addr), b"")
        .await
        .error();
    assert_eq!(
        e,
        (
            403,
            "InvalidSignatureException".into(),
            SIGNATURE_MISMATCH.into()
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn code_links_are_presigned_for_a_download_without_credentials() {
    let server = server_mode().await;
    let created = function("echo").deploy(&server).await;
    let got = server
        .client
        .get_function()
        .function_name("echo")
        .send()
        .await
        .unwrap();
    let location = got.code().unwrap().location().unwrap().to_owned();
    let path = location
        .strip_prefix(&server.endpoint)
        .expect("a link to this server");
    assert!(path.contains("X-Amz-Signature="), "{location}");
    let zip = send(server.addr, "GET", path, &host(server.addr), b"").await;
    assert_eq!(zip.status, 200);
    assert_eq!(zip.body.len() as i64, created.code_size());
    // The link is good for that download only: its key may do nothing else.
    let sig = path.split("X-Amz-Signature=").nth(1).unwrap();
    let forged = path.replace(sig, &"0".repeat(64));
    assert_eq!(
        send(server.addr, "GET", &forged, &host(server.addr), b"")
            .await
            .error()
            .1,
        "InvalidSignatureException"
    );
    let unsigned = path.split('?').next().unwrap();
    assert_eq!(
        send(server.addr, "GET", unsigned, &host(server.addr), b"")
            .await
            .error()
            .1,
        "MissingAuthenticationTokenException"
    );
    server.stop().await;
}

// ------------------------------------------------------------------------------------------
// Authorisation

#[tokio::test]
async fn another_account_needs_the_functions_policy_and_its_own() {
    let server = server_mode().await;
    function("shared").deploy(&server).await;
    let bob = as_user(&server, "AKIDBOB");
    let e = invoke_as(&bob, &arn("shared"), "{}").await.unwrap_err();
    assert_eq!(
        failure(&e),
        denied(BOB, INVOKE, &arn("shared"), &no_resource(INVOKE))
    );

    let added = server
        .client
        .add_permission()
        .function_name("shared")
        .statement_id("other-accounts")
        .action(INVOKE)
        .principal(OTHER)
        .send()
        .await
        .unwrap();
    let statement: Value = serde_json::from_str(added.statement().unwrap()).unwrap();
    assert_eq!(
        statement["Principal"],
        serde_json::json!({"AWS": "arn:aws:iam::222222222222:root"})
    );

    let out = invoke_as(&bob, &arn("shared"), r#"{"from":"bob"}"#)
        .await
        .unwrap();
    assert_eq!(body(&out), r#"{"from":"bob"}"#);
    // The grant is for invoking only.
    let e = bob
        .get_function()
        .function_name(arn("shared"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failure(&e),
        denied(
            BOB,
            "lambda:GetFunction",
            &arn("shared"),
            &no_identity("lambda:GetFunction")
        )
    );

    // Carol's account is granted too, but her own identity policy does not allow invoking.
    server
        .client
        .add_permission()
        .function_name("shared")
        .statement_id("carol")
        .action("lambda:*")
        .principal(CAROL)
        .send()
        .await
        .unwrap();
    let carol = as_user(&server, "AKIDCAROL");
    let e = invoke_as(&carol, &arn("shared"), "{}").await.unwrap_err();
    assert_eq!(
        failure(&e),
        denied(CAROL, INVOKE, &arn("shared"), &no_identity(INVOKE))
    );
    // What both allow works: her policy allows GetFunction, the function's grants lambda:*.
    assert!(
        carol
            .get_function()
            .function_name(arn("shared"))
            .send()
            .await
            .is_ok()
    );

    server
        .client
        .remove_permission()
        .function_name("shared")
        .statement_id("other-accounts")
        .send()
        .await
        .unwrap();
    let e = invoke_as(&bob, &arn("shared"), "{}").await.unwrap_err();
    assert_eq!(
        failure(&e),
        denied(BOB, INVOKE, &arn("shared"), &no_resource(INVOKE))
    );
    server.stop().await;
}

#[tokio::test]
async fn a_qualified_permission_grants_only_its_qualified_arn() {
    let server = server_mode().await;
    function("q").publish().deploy(&server).await;
    server
        .client
        .create_alias()
        .function_name("q")
        .name("live")
        .function_version("1")
        .send()
        .await
        .unwrap();
    let added = server
        .client
        .add_permission()
        .function_name("q")
        .qualifier("live")
        .statement_id("bob-live")
        .action(INVOKE)
        .principal(BOB)
        .send()
        .await
        .unwrap();
    let statement: Value = serde_json::from_str(added.statement().unwrap()).unwrap();
    assert_eq!(statement["Resource"], format!("{}:live", arn("q")));

    let bob = as_user(&server, "AKIDBOB");
    let out = invoke_as(&bob, &format!("{}:live", arn("q")), r#"{"via":"alias"}"#)
        .await
        .unwrap();
    assert_eq!(body(&out), r#"{"via":"alias"}"#);
    assert_eq!(out.executed_version(), Some("1"));
    let out = bob
        .invoke()
        .function_name(arn("q"))
        .qualifier("live")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 200);
    for other in [
        arn("q"),
        format!("{}:1", arn("q")),
        format!("{}:$LATEST", arn("q")),
    ] {
        let e = invoke_as(&bob, &other, "{}").await.unwrap_err();
        assert_eq!(
            failure(&e),
            denied(BOB, INVOKE, &other, &no_resource(INVOKE)),
            "{other}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn an_explicit_deny_wins_over_an_allow() {
    let server = server_mode().await;
    function("guarded").deploy(&server).await;
    function("open").deploy(&server).await;
    let alice = as_user(&server, "AKIDALICE");
    let e = invoke_as(&alice, "guarded", "{}").await.unwrap_err();
    assert_eq!(
        failure(&e),
        denied(
            ALICE,
            INVOKE,
            &arn("guarded"),
            "with an explicit deny in an identity-based policy"
        )
    );
    assert!(invoke_as(&alice, "open", "{}").await.is_ok());
    // The deny names the unqualified ARN: `guarded:$LATEST` is another resource, allowed.
    assert!(invoke_as(&alice, "guarded:$LATEST", "{}").await.is_ok());
    server.stop().await;
}

#[tokio::test]
async fn dry_run_answers_204_exactly_when_an_invoke_would_be_allowed() {
    let server = server_mode().await;
    function("probe").deploy(&server).await;
    function("guarded").deploy(&server).await;
    let dry = |client: Client, name: String| async move {
        client
            .invoke()
            .function_name(name)
            .invocation_type(InvocationType::DryRun)
            .send()
            .await
    };
    let cases: Vec<(Client, String)> = vec![
        (server.client.clone(), "probe".into()),
        (as_user(&server, "AKIDALICE"), "probe".into()),
        (as_user(&server, "AKIDALICE"), "guarded".into()),
        (as_user(&server, "AKIDBOB"), arn("probe")),
        (as_user(&server, "AKIDCAROL"), arn("probe")),
    ];
    let mut seen = Vec::new();
    for round in ["before the grant", "after the grant"] {
        for (client, name) in &cases {
            let probe = dry(client.clone(), name.clone()).await;
            let real = invoke_as(client, name, "{}").await;
            match (&probe, &real) {
                (Ok(p), Ok(_)) => assert_eq!(p.status_code(), 204),
                (Err(p), Err(r)) => {
                    assert_eq!(failure(p), failure(r), "{round}: {name}");
                    assert_eq!(failure(p).0, 403);
                }
                _ => panic!("{round}: {name}: DryRun {probe:?} but Invoke {real:?}"),
            }
            seen.push(probe.is_ok());
        }
        if round == "after the grant" {
            break;
        }
        server
            .client
            .add_permission()
            .function_name("probe")
            .statement_id("bob")
            .action(INVOKE)
            .principal(OTHER)
            .send()
            .await
            .unwrap();
    }
    // Both answers were seen: admin and alice allowed, the deny and the other accounts refused;
    // bob allowed once granted.
    assert_eq!(
        seen,
        [
            true, true, false, false, false, true, true, false, true, false
        ]
    );
    // InvokeWithResponseStream's DryRun is the same probe.
    let streamed = as_user(&server, "AKIDCAROL")
        .invoke_with_response_stream()
        .function_name(arn("probe"))
        .invocation_type(aws_sdk_lambda::types::ResponseStreamingInvocationType::DryRun)
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&streamed).0, 403);
    server.stop().await;
}

// ------------------------------------------------------------------------------------------
// AddPermission, GetPolicy, RemovePermission

#[tokio::test]
async fn policies_read_back_as_aws_renders_them() {
    let server = server_mode().await;
    function("pol").deploy(&server).await;
    let c = &server.client;
    let added = c
        .add_permission()
        .function_name("pol")
        .statement_id("s3")
        .action(INVOKE)
        .principal("s3.amazonaws.com")
        .source_arn("arn:aws:s3:::my-bucket")
        .source_account("123456789012")
        .send()
        .await
        .unwrap();
    assert_eq!(
        added.statement(),
        Some(format!(
            r#"{{"Sid":"s3","Effect":"Allow","Principal":{{"Service":"s3.amazonaws.com"}},"Action":"lambda:InvokeFunction","Resource":"{}","Condition":{{"StringEquals":{{"AWS:SourceAccount":"123456789012"}},"ArnLike":{{"AWS:SourceArn":"arn:aws:s3:::my-bucket"}}}}}}"#,
            arn("pol")
        ).as_str())
    );
    let policy = c.get_policy().function_name("pol").send().await.unwrap();
    let doc: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(doc["Version"], "2012-10-17");
    assert_eq!(doc["Id"], "default");
    assert_eq!(
        doc["Statement"][0],
        serde_json::from_str::<Value>(added.statement().unwrap()).unwrap()
    );
    // The policy's revision is the function's.
    let config = c
        .get_function_configuration()
        .function_name("pol")
        .send()
        .await
        .unwrap();
    assert_eq!(policy.revision_id(), config.revision_id());

    // A stale RevisionId is refused, the current one accepted.
    let e = c
        .add_permission()
        .function_name("pol")
        .statement_id("two")
        .action("lambda:GetFunction")
        .principal("*")
        .revision_id("stale")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failure(&e),
        (412, "PreconditionFailedException".into(), "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id".into())
    );
    c.add_permission()
        .function_name("pol")
        .statement_id("two")
        .action("lambda:GetFunction")
        .principal("*")
        .revision_id(policy.revision_id().unwrap())
        .send()
        .await
        .unwrap();
    let statements = |p: &str| -> Vec<String> {
        let doc: Value = serde_json::from_str(p).unwrap();
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap().to_owned())
            .collect()
    };
    let now = c.get_policy().function_name("pol").send().await.unwrap();
    assert_eq!(statements(now.policy().unwrap()), ["s3", "two"]);
    assert_ne!(now.revision_id(), policy.revision_id());

    c.remove_permission()
        .function_name("pol")
        .statement_id("s3")
        .send()
        .await
        .unwrap();
    let now = c.get_policy().function_name("pol").send().await.unwrap();
    assert_eq!(statements(now.policy().unwrap()), ["two"]);
    c.remove_permission()
        .function_name("pol")
        .statement_id("two")
        .send()
        .await
        .unwrap();
    let e = c
        .get_policy()
        .function_name("pol")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failure(&e),
        (
            404,
            "ResourceNotFoundException".into(),
            "The resource you requested does not exist.".into()
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn permission_errors_read_as_aws_words_them() {
    let server = server_mode().await;
    function("perm").publish().deploy(&server).await;
    let c = &server.client;
    let add = |name: &str, sid: &str, principal: &str| {
        c.add_permission()
            .function_name(name)
            .statement_id(sid)
            .action(INVOKE)
            .principal(principal)
    };
    add("perm", "s3", "s3.amazonaws.com").send().await.unwrap();
    let e = add("perm", "s3", "s3.amazonaws.com")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failure(&e),
        (409, "ResourceConflictException".into(), "The statement id (s3) provided already exists. Please provide a new statement id, or remove the existing statement.".into())
    );
    let e = add("perm:$LATEST", "latest", "s3.amazonaws.com")
        .qualifier("$LATEST")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failure(&e),
        (
            400,
            "InvalidParameterValueException".into(),
            "We currently do not support adding policies for $LATEST.".into()
        )
    );
    let e = add("perm", "bad", "invalid.nonaws.com")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failure(&e),
        (
            400,
            "InvalidParameterValueException".into(),
            "The provided principal was invalid. Please check the principal and try again.".into()
        )
    );
    let e = add("perm", "example.com", "*").send().await.unwrap_err();
    assert_eq!(
        failure(&e),
        (400, "ValidationException".into(), "1 validation error detected: Value 'example.com' at 'statementId' failed to satisfy constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)".into())
    );
    let e = add("nothere", "s3", "*").send().await.unwrap_err();
    assert_eq!(
        failure(&e),
        (
            404,
            "ResourceNotFoundException".into(),
            format!("Function not found: {}", arn("nothere"))
        )
    );
    let e = add("perm", "s3", "*")
        .qualifier("gone")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failure(&e),
        (
            404,
            "ResourceNotFoundException".into(),
            format!("Cannot find alias arn: {}:gone", arn("perm"))
        )
    );
    let e = add("perm", "s3", "*")
        .qualifier("42")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failure(&e),
        (
            404,
            "ResourceNotFoundException".into(),
            format!("Function not found: {}:42", arn("perm"))
        )
    );
    let e = c
        .remove_permission()
        .function_name("perm")
        .statement_id("non-existent")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failure(&e),
        (
            404,
            "ResourceNotFoundException".into(),
            "Statement non-existent is not found in resource policy.".into()
        )
    );
    let e = c
        .remove_permission()
        .function_name("perm")
        .qualifier("1")
        .statement_id("s3")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failure(&e),
        (
            404,
            "ResourceNotFoundException".into(),
            "No policy is associated with the given resource.".into()
        )
    );
    let e = c
        .remove_permission()
        .function_name("nothere")
        .statement_id("s3")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failure(&e),
        (
            404,
            "ResourceNotFoundException".into(),
            format!("No policy found for: {}", arn("nothere"))
        )
    );
    let e = c
        .get_policy()
        .function_name("perm")
        .qualifier("77")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failure(&e),
        (
            404,
            "ResourceNotFoundException".into(),
            "The resource you requested does not exist.".into()
        )
    );

    // Past 20 KB of policy the statement is refused and the policy unchanged.
    let long_source = format!("arn:aws:s3:::{}", "b".repeat(7_000));
    let mut refused = None;
    for i in 0..4 {
        let r = add("perm", &format!("big{i}"), "s3.amazonaws.com")
            .source_arn(&long_source)
            .send()
            .await;
        if let Err(e) = r {
            refused = Some((i, e));
            break;
        }
    }
    let (i, e) = refused.expect("the policy limit was reached");
    assert_eq!(i, 2, "two statements of 7 KB fit, a third does not");
    let (status, code, message) = failure(&e);
    assert_eq!(
        (status, code.as_str()),
        (400, "PolicyLengthExceededException")
    );
    assert!(
        message.starts_with("The final policy size (")
            && message.ends_with(") is bigger than the limit (20480)."),
        "{message}"
    );
    let policy = c.get_policy().function_name("perm").send().await.unwrap();
    assert!(!policy.policy().unwrap().contains("big2"));
    server.stop().await;
}

#[tokio::test]
async fn policies_survive_a_restart_and_leave_with_their_version() {
    let server = server_mode().await;
    function("kept").publish().deploy(&server).await;
    for (qualifier, sid) in [(None, "fn"), (Some("1"), "v1")] {
        let mut req = server
            .client
            .add_permission()
            .function_name("kept")
            .statement_id(sid)
            .action(INVOKE)
            .principal(OTHER);
        if let Some(q) = qualifier {
            req = req.qualifier(q);
        }
        req.send().await.unwrap();
    }
    let before = server
        .client
        .get_policy()
        .function_name("kept")
        .qualifier("1")
        .send()
        .await
        .unwrap();
    let dir = server.stop().await;

    let server = server_mode_on(Some(dir)).await;
    let after = server
        .client
        .get_policy()
        .function_name("kept")
        .qualifier("1")
        .send()
        .await
        .unwrap();
    assert_eq!(after.policy(), before.policy());
    assert_eq!(after.revision_id(), before.revision_id());
    let bob = as_user(&server, "AKIDBOB");
    assert!(
        invoke_as(&bob, &format!("{}:1", arn("kept")), "{}")
            .await
            .is_ok()
    );

    server
        .client
        .delete_function()
        .function_name("kept")
        .qualifier("1")
        .send()
        .await
        .unwrap();
    // Publishing again makes version 2; version 1 and its policy are gone.
    server
        .client
        .publish_version()
        .function_name("kept")
        .description("again")
        .send()
        .await
        .unwrap();
    let e = server
        .client
        .get_policy()
        .function_name("kept")
        .qualifier("1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e).0, 404);
    assert!(
        server
            .client
            .get_policy()
            .function_name("kept")
            .send()
            .await
            .is_ok()
    );
    server.stop().await;
}

#[tokio::test]
async fn local_mode_accepts_any_credentials_and_keeps_policies_too() {
    let server = TestServer::start().await;
    function("loc").deploy(&server).await;
    let anyone = client_with(&server.endpoint, "ANYKEY", "any-secret");
    let out = invoke_as(&anyone, "loc", r#"{"local":1}"#).await.unwrap();
    assert_eq!(body(&out), r#"{"local":1}"#);
    anyone
        .add_permission()
        .function_name("loc")
        .statement_id("x")
        .action(INVOKE)
        .principal("*")
        .send()
        .await
        .unwrap();
    assert!(
        anyone
            .get_policy()
            .function_name("loc")
            .send()
            .await
            .is_ok()
    );
    server.stop().await;
}
