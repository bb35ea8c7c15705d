"""Server mode (`invokd serve --auth sigv4 --credentials FILE`, issue 8, spec §7) through clients
that sign for real: boto3, botocore's own signers on raw HTTP, the AWS CLI and `invokd invoke`.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import DUMMY_CREDENTIALS
from helpers import REGION, assert_aws_error, aws_error, function_arn, python_package, unique_name

ACCOUNT = "000000000000"
ADMIN = DUMMY_CREDENTIALS  # the key every helper of conftest signs with
ALICE = {"AWS_ACCESS_KEY_ID": "AKIDALICE", "AWS_SECRET_ACCESS_KEY": "alice-secret-0001"}
BOB = {"AWS_ACCESS_KEY_ID": "AKIDBOB", "AWS_SECRET_ACCESS_KEY": "bob-secret-0002"}
CAROL = {"AWS_ACCESS_KEY_ID": "AKIDCAROL", "AWS_SECRET_ACCESS_KEY": "carol-secret-0003"}
DAVE = {"AWS_ACCESS_KEY_ID": "AKIDDAVE", "AWS_SECRET_ACCESS_KEY": "dave-secret-0004"}
ALL_KEYS = [ADMIN, ALICE, BOB, CAROL, DAVE]
BOB_ARN = "arn:aws:iam::222222222222:user/bob"
CAROL_ARN = "arn:aws:iam::333333333333:user/carol"
DAVE_ARN = "arn:aws:iam::444444444444:user/dave"
ALICE_ARN = "arn:aws:iam::000000000000:user/alice"

CREDENTIALS = f"""
# The administrator: the dummy key conftest's helpers sign with.
[[key]]
access_key_id = "{ADMIN['AWS_ACCESS_KEY_ID']}"
secret_access_key = "{ADMIN['AWS_SECRET_ACCESS_KEY']}"
account_id = "{ACCOUNT}"
principal = "arn:aws:iam::{ACCOUNT}:user/admin"
policy = '''{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "*", "Resource": "*"}}]}}'''

[[key]]
access_key_id = "AKIDALICE"
secret_access_key = "{ALICE['AWS_SECRET_ACCESS_KEY']}"
account_id = "{ACCOUNT}"
principal = "{ALICE_ARN}"
policy = '''
{{"Version": "2012-10-17", "Statement": [
  {{"Effect": "Allow", "Action": ["lambda:InvokeFunction", "lambda:Get*"], "Resource": "*"}},
  {{"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:*:*:function:guarded-*"}}
]}}
'''

[[key]]
access_key_id = "AKIDBOB"
secret_access_key = "{BOB['AWS_SECRET_ACCESS_KEY']}"
account_id = "222222222222"
principal = "{BOB_ARN}"
org_id = "o-bobsorg0001"
policy = '''{{"Statement": {{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}}}}'''

[[key]]
access_key_id = "AKIDCAROL"
secret_access_key = "{CAROL['AWS_SECRET_ACCESS_KEY']}"
account_id = "333333333333"
principal = "{CAROL_ARN}"
policy = '''{{"Statement": [{{"Effect": "Allow", "Action": "lambda:GetFunction", "Resource": "*"}}]}}'''

[[key]]
access_key_id = "AKIDDAVE"
secret_access_key = "{DAVE['AWS_SECRET_ACCESS_KEY']}"
account_id = "444444444444"
principal = "{DAVE_ARN}"
org_id = "o-davesorg001"
policy = '''{{"Statement": [{{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}}]}}'''
"""

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
INVOKE = "lambda:InvokeFunction"


def denied(principal: str, action: str, resource: str, reason: str) -> str:
    return f"User: {principal} is not authorized to perform: {action} on resource: {resource} {reason}"


def no_identity(action: str = INVOKE) -> str:
    return f"because no identity-based policy allows the {action} action"


def no_resource(action: str = INVOKE) -> str:
    return f"because no resource-based policy allows the {action} action"


@pytest.fixture(scope="module")
def credentials_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "credentials.toml"
    path.write_text(CREDENTIALS)
    return path


@pytest.fixture(scope="module")
def sigv4(module_server_factory, credentials_file):
    """One server in server mode shared by this module's tests (unique function names)."""
    return module_server_factory("--auth", "sigv4", "--credentials", str(credentials_file))


def client(server, creds):
    return server.new_client(credentials=creds)


def echo(server) -> str:
    return server.create_function(unique_name("auth"))["FunctionName"]


def botocore_signed(server, method: str, path: str, body: bytes, creds=ADMIN) -> dict[str, str]:
    """The headers botocore's own SigV4 signer puts on `method path` with `body`."""
    req = AWSRequest(method=method, url=server.endpoint + path, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"]), "lambda", REGION).add_auth(req)
    return dict(req.headers.items())


def botocore_presigned(server, path: str, expires: int, creds=ADMIN) -> str:
    """A presigned GET (path and query) made by botocore's SigV4QueryAuth."""
    req = AWSRequest(method="GET", url=server.endpoint + path)
    SigV4QueryAuth(Credentials(creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"]), "lambda", REGION,
                   expires=expires).add_auth(req)
    parts = urlsplit(req.url)
    return f"{parts.path}?{parts.query}"


def raw_error(res) -> tuple[int, str, str]:
    body = res.json()
    return res.status, res.headers.get("x-amzn-errortype", ""), body.get("message", body.get("Message"))


# ============================================================================================
# Authentication


def test_boto3_signatures_verify_and_a_wrong_secret_does_not(sigv4):
    name = echo(sigv4)
    res = sigv4.lambda_client.invoke(FunctionName=name, Payload=b'{"signed": true}')
    assert json.loads(res["Payload"].read()) == {"signed": True}

    wrong = client(sigv4, {"AWS_ACCESS_KEY_ID": ADMIN["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY": "not-it"})
    assert_aws_error(aws_error(wrong.list_functions), 403, "InvalidSignatureException", SIGNATURE_MISMATCH)


def test_an_unknown_access_key_is_unrecognized(sigv4):
    stranger = client(sigv4, {"AWS_ACCESS_KEY_ID": "AKIDSTRANGER", "AWS_SECRET_ACCESS_KEY": "x"})
    assert_aws_error(aws_error(stranger.list_functions), 403, "UnrecognizedClientException",
                     "The security token included in the request is invalid.")


def test_a_body_other_than_the_signed_one_is_refused(sigv4):
    name = echo(sigv4)
    path = f"/2015-03-31/functions/{name}/invocations"
    headers = botocore_signed(sigv4, "POST", path, b'{"amount": 1}')

    tampered = sigv4.raw("POST", path, body=b'{"amount": 1000}', headers=headers)
    assert raw_error(tampered) == (403, "InvalidSignatureException", SIGNATURE_MISMATCH)

    genuine = sigv4.raw("POST", path, body=b'{"amount": 1}', headers=headers)
    assert genuine.status == 200, genuine.body
    assert json.loads(genuine.body) == {"amount": 1}


def test_a_request_signed_twenty_minutes_ago_is_refused(sigv4, monkeypatch):
    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime",
                        lambda *a, **k: real(*a, **k) - datetime.timedelta(minutes=20))
    stale = sigv4.new_client()
    err = aws_error(stale.list_functions)
    assert (err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]) == (403, "InvalidSignatureException")
    assert err["Error"]["Message"].startswith("Signature expired: "), err["Error"]["Message"]
    assert err["Error"]["Message"].endswith(" - 15 min.)"), err["Error"]["Message"]

    monkeypatch.setattr(botocore.auth, "get_current_datetime",
                        lambda *a, **k: real(*a, **k) - datetime.timedelta(minutes=5))
    assert "Functions" in sigv4.new_client().list_functions()


def test_unsigned_and_half_signed_requests_are_refused(sigv4):
    res = sigv4.raw("GET", "/2015-03-31/functions/")
    assert raw_error(res) == (403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    res = sigv4.raw("GET", "/2015-03-31/functions/", headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x"})
    status, code, message = raw_error(res)
    assert (status, code) == (403, "IncompleteSignatureException")
    assert "requires 'Signature' parameter" in message, message


def test_botocore_presigned_urls_work_until_they_expire(sigv4, monkeypatch):
    name = echo(sigv4)
    url = botocore_presigned(sigv4, f"/2015-03-31/functions/{name}", expires=300)
    res = sigv4.raw("GET", url)
    assert res.status == 200, res.body
    assert res.json()["Configuration"]["FunctionName"] == name

    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime",
                        lambda *a, **k: real(*a, **k) - datetime.timedelta(minutes=2))
    lapsed = botocore_presigned(sigv4, f"/2015-03-31/functions/{name}", expires=60)
    status, code, message = raw_error(sigv4.raw("GET", lapsed))
    assert (status, code) == (403, "InvalidSignatureException")
    assert message.startswith("Signature expired: "), message


def test_the_code_link_of_get_function_downloads_without_credentials(sigv4):
    name = echo(sigv4)
    got = sigv4.lambda_client.get_function(FunctionName=name)
    location = got["Code"]["Location"]
    assert "X-Amz-Signature=" in location
    with urllib.request.urlopen(location) as res:
        data = res.read()
    assert len(data) == got["Configuration"]["CodeSize"]
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(location.split("?")[0])
    assert e.value.code == 403


# ============================================================================================
# Authorisation


def test_another_account_invokes_only_with_the_functions_permission(sigv4):
    name = echo(sigv4)
    arn = function_arn(name)
    bob = client(sigv4, BOB)
    assert_aws_error(aws_error(bob.invoke, FunctionName=arn, Payload=b"{}"), 403, "AccessDeniedException",
                     denied(BOB_ARN, INVOKE, arn, no_resource()))

    added = sigv4.lambda_client.add_permission(FunctionName=name, StatementId="bob", Action=INVOKE,
                                               Principal="222222222222")
    assert json.loads(added["Statement"])["Principal"] == {"AWS": "arn:aws:iam::222222222222:root"}
    res = bob.invoke(FunctionName=arn, Payload=b'{"from": "bob"}')
    assert json.loads(res["Payload"].read()) == {"from": "bob"}

    # Carol is granted by the function but not by her own account.
    sigv4.lambda_client.add_permission(FunctionName=name, StatementId="carol", Action="lambda:*", Principal=CAROL_ARN)
    carol = client(sigv4, CAROL)
    assert_aws_error(aws_error(carol.invoke, FunctionName=arn, Payload=b"{}"), 403, "AccessDeniedException",
                     denied(CAROL_ARN, INVOKE, arn, no_identity()))
    assert carol.get_function(FunctionName=arn)["Configuration"]["FunctionName"] == name

    sigv4.lambda_client.remove_permission(FunctionName=name, StatementId="bob")
    assert_aws_error(aws_error(bob.invoke, FunctionName=arn, Payload=b"{}"), 403, "AccessDeniedException",
                     denied(BOB_ARN, INVOKE, arn, no_resource()))


def test_principal_org_id_grants_the_accounts_of_that_organisation(sigv4):
    name = echo(sigv4)
    arn = function_arn(name)
    sigv4.lambda_client.add_permission(FunctionName=name, StatementId="org", Action=INVOKE, Principal="*",
                                       PrincipalOrgID="o-bobsorg0001")
    assert client(sigv4, BOB).invoke(FunctionName=arn, Payload=b"{}")["StatusCode"] == 200
    assert_aws_error(aws_error(client(sigv4, DAVE).invoke, FunctionName=arn, Payload=b"{}"), 403,
                     "AccessDeniedException", denied(DAVE_ARN, INVOKE, arn, no_resource()))


def test_a_permission_on_an_alias_grants_only_the_alias_arn(sigv4):
    name = sigv4.create_function(unique_name("alias"), Publish=True)["FunctionName"]
    sigv4.lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    sigv4.lambda_client.add_permission(FunctionName=name, Qualifier="live", StatementId="bob", Action=INVOKE,
                                       Principal=BOB_ARN)
    bob = client(sigv4, BOB)
    res = bob.invoke(FunctionName=function_arn(name, "live"), Payload=b'{"alias": 1}')
    assert (res["StatusCode"], res["ExecutedVersion"]) == (200, "1")
    assert bob.invoke(FunctionName=function_arn(name), Qualifier="live", Payload=b"{}")["StatusCode"] == 200
    for other in [function_arn(name), function_arn(name, "1")]:
        assert_aws_error(aws_error(bob.invoke, FunctionName=other, Payload=b"{}"), 403, "AccessDeniedException",
                         denied(BOB_ARN, INVOKE, other, no_resource()))
    policy = json.loads(sigv4.lambda_client.get_policy(FunctionName=name, Qualifier="live")["Policy"])
    assert policy["Statement"][0]["Resource"] == function_arn(name, "live")


def test_an_explicit_deny_beats_the_allow(sigv4):
    guarded = sigv4.create_function(unique_name("guarded"))["FunctionName"]
    fine = echo(sigv4)
    alice = client(sigv4, ALICE)
    assert_aws_error(aws_error(alice.invoke, FunctionName=guarded, Payload=b"{}"), 403, "AccessDeniedException",
                     denied(ALICE_ARN, INVOKE, function_arn(guarded), "with an explicit deny in an identity-based policy"))
    assert alice.invoke(FunctionName=fine, Payload=b"{}")["StatusCode"] == 200
    assert_aws_error(aws_error(alice.delete_function, FunctionName=fine), 403, "AccessDeniedException",
                     denied(ALICE_ARN, "lambda:DeleteFunction", function_arn(fine), no_identity("lambda:DeleteFunction")))


def test_dry_run_is_204_when_an_invoke_would_be_allowed_and_403_when_not(sigv4):
    name = echo(sigv4)
    arn = function_arn(name)
    bob = client(sigv4, BOB)
    assert_aws_error(aws_error(bob.invoke, FunctionName=arn, InvocationType="DryRun"), 403, "AccessDeniedException",
                     denied(BOB_ARN, INVOKE, arn, no_resource()))
    sigv4.lambda_client.add_permission(FunctionName=name, StatementId="bob", Action=INVOKE, Principal=BOB_ARN)
    assert bob.invoke(FunctionName=arn, InvocationType="DryRun")["StatusCode"] == 204
    assert bob.invoke(FunctionName=arn, Payload=b"{}")["StatusCode"] == 200
    carol = client(sigv4, CAROL)
    assert_aws_error(aws_error(carol.invoke, FunctionName=arn, InvocationType="DryRun"), 403,
                     "AccessDeniedException", denied(CAROL_ARN, INVOKE, arn, no_identity()))


# ============================================================================================
# AddPermission / GetPolicy / RemovePermission


def test_add_permission_get_policy_and_remove_permission_shapes(sigv4):
    name = echo(sigv4)
    c = sigv4.lambda_client
    added = c.add_permission(FunctionName=name, StatementId="s3", Action=INVOKE, Principal="s3.amazonaws.com",
                             SourceArn="arn:aws:s3:::my-bucket", SourceAccount="123456789012")
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert added["Statement"] == json.dumps({
        "Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": INVOKE,
        "Resource": function_arn(name),
        "Condition": {"StringEquals": {"AWS:SourceAccount": "123456789012"},
                      "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::my-bucket"}},
    }, separators=(",", ":"))
    got = c.get_policy(FunctionName=name)
    assert json.loads(got["Policy"]) == {"Version": "2012-10-17", "Id": "default",
                                         "Statement": [json.loads(added["Statement"])]}
    assert got["RevisionId"] == c.get_function_configuration(FunctionName=name)["RevisionId"]

    assert_aws_error(aws_error(c.add_permission, FunctionName=name, StatementId="s3", Action=INVOKE, Principal="*"),
                     409, "ResourceConflictException",
                     "The statement id (s3) provided already exists. Please provide a new statement id, or remove the "
                     "existing statement.")
    assert_aws_error(aws_error(c.add_permission, FunctionName=name, Qualifier="$LATEST", StatementId="x",
                               Action=INVOKE, Principal="*"),
                     400, "InvalidParameterValueException", "We currently do not support adding policies for $LATEST.")
    assert_aws_error(aws_error(c.add_permission, FunctionName=name, StatementId="x", Action=INVOKE,
                               Principal="invalid.nonaws.com"),
                     400, "InvalidParameterValueException",
                     "The provided principal was invalid. Please check the principal and try again.")
    assert_aws_error(aws_error(c.remove_permission, FunctionName=name, StatementId="non-existent"),
                     404, "ResourceNotFoundException", "Statement non-existent is not found in resource policy.")

    deleted = c.remove_permission(FunctionName=name, StatementId="s3")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert_aws_error(aws_error(c.get_policy, FunctionName=name), 404, "ResourceNotFoundException",
                     "The resource you requested does not exist.")


def test_a_policy_over_20_kb_is_refused(sigv4):
    name = echo(sigv4)
    c = sigv4.lambda_client
    source = "arn:aws:s3:::" + "b" * 7000
    c.add_permission(FunctionName=name, StatementId="a", Action=INVOKE, Principal="s3.amazonaws.com", SourceArn=source)
    c.add_permission(FunctionName=name, StatementId="b", Action=INVOKE, Principal="s3.amazonaws.com", SourceArn=source)
    err = aws_error(c.add_permission, FunctionName=name, StatementId="c", Action=INVOKE,
                    Principal="s3.amazonaws.com", SourceArn=source)
    assert (err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]) == (400, "PolicyLengthExceededException")
    assert err["Error"]["Message"].startswith("The final policy size (")
    assert err["Error"]["Message"].endswith(") is bigger than the limit (20480).")
    assert [s["Sid"] for s in json.loads(c.get_policy(FunctionName=name)["Policy"])["Statement"]] == ["a", "b"]


def test_policies_survive_a_restart(server_factory, credentials_file):
    s = server_factory("--auth", "sigv4", "--credentials", str(credentials_file))
    name = s.create_function(unique_name("kept"), Publish=True)["FunctionName"]
    s.lambda_client.add_permission(FunctionName=name, Qualifier="1", StatementId="bob", Action=INVOKE,
                                   Principal="222222222222")
    before = s.lambda_client.get_policy(FunctionName=name, Qualifier="1")
    s.restart()
    s._client = None
    after = s.lambda_client.get_policy(FunctionName=name, Qualifier="1")
    assert (after["Policy"], after["RevisionId"]) == (before["Policy"], before["RevisionId"])
    assert client(s, BOB).invoke(FunctionName=function_arn(name, "1"), Payload=b"{}")["StatusCode"] == 200


# ============================================================================================
# The AWS CLI and invokd's own client


def test_the_aws_cli_signs_and_is_authorised(sigv4, tmp_path):
    name = echo(sigv4)
    arn = function_arn(name)
    out_file = tmp_path / "out.json"
    rc, _, err = sigv4.cli("invoke", "--function-name", arn, "--payload", '{"cli": 1}', str(out_file), credentials=BOB)
    assert rc != 0
    assert "AccessDeniedException" in err and denied(BOB_ARN, INVOKE, arn, no_resource()) in err, err

    rc, out, err = sigv4.cli("add-permission", "--function-name", name, "--statement-id", "bob-cli",
                             "--action", INVOKE, "--principal", "222222222222")
    assert rc == 0, err
    assert json.loads(out["Statement"])["Sid"] == "bob-cli"

    rc, out, err = sigv4.cli("invoke", "--function-name", arn, "--payload", '{"cli": 1}', str(out_file), credentials=BOB)
    assert rc == 0, err
    assert out["StatusCode"] == 200
    assert json.loads(out_file.read_text()) == {"cli": 1}

    rc, out, err = sigv4.cli("get-policy", "--function-name", name)
    assert rc == 0, err
    assert json.loads(out["Policy"])["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::222222222222:root"}

    rc, _, err = sigv4.cli("list-functions", credentials={**BOB, "AWS_SECRET_ACCESS_KEY": "wrong"})
    assert rc != 0 and "InvalidSignatureException" in err, err


def test_invokd_invoke_signs_with_the_environments_credentials(sigv4, invokd_bin):
    name = echo(sigv4)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INVOKD_"))}

    def run(env_extra):
        return subprocess.run([str(invokd_bin), "invoke", name, "--payload", '{"via": "invokd"}',
                               "--endpoint", sigv4.endpoint], capture_output=True, text=True,
                              env={**base, **env_extra}, timeout=60)

    signed = run({**ADMIN, "AWS_REGION": REGION})
    assert signed.returncode == 0, signed.stderr
    assert json.loads(signed.stdout) == {"via": "invokd"}
    unsigned = run({})
    assert unsigned.returncode != 0
    assert "MissingAuthenticationTokenException" in unsigned.stderr, unsigned.stderr


# ============================================================================================
# Secrets and isolation

CALLS_INVOKD = '''
import os
import boto3
import botocore


def environment(event, context):
    return dict(os.environ)


def call(event, context):
    try:
        boto3.client("lambda").list_functions()
        return {"called": True}
    except botocore.exceptions.ClientError as e:
        return {"code": e.response["Error"]["Code"], "status": e.response["ResponseMetadata"]["HTTPStatusCode"]}
'''


def test_functions_get_no_server_credentials_and_cannot_call_invokd_with_theirs(sigv4):
    name = sigv4.create_function(unique_name("iso"), package=python_package(CALLS_INVOKD), handler="app.environment",
                                 Timeout=60)["FunctionName"]
    env = json.loads(sigv4.lambda_client.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    values = set(env.values())
    for key in ALL_KEYS:
        assert key["AWS_SECRET_ACCESS_KEY"] not in values
        assert key["AWS_ACCESS_KEY_ID"] not in values
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_ENDPOINT_URL_LAMBDA"] == sigv4.endpoint

    sigv4.lambda_client.update_function_configuration(FunctionName=name, Handler="app.call")
    res = sigv4.new_client(read_timeout=120).invoke(FunctionName=name, Payload=b"{}")
    assert json.loads(res["Payload"].read()) == {"code": "UnrecognizedClientException", "status": 403}


def test_secrets_and_environment_values_never_reach_the_log(server_factory, credentials_file):
    s = server_factory("--auth", "sigv4", "--credentials", str(credentials_file), "-vvv")
    marked = "env-value-that-must-not-be-logged-4711"
    name = s.create_function(unique_name("quiet"), Environment={"Variables": {"API_TOKEN": marked}})["FunctionName"]
    s.lambda_client.invoke(FunctionName=name, Payload=b'{"x": 1}')
    aws_error(client(s, {**BOB, "AWS_SECRET_ACCESS_KEY": "wrong-secret"}).list_functions)
    aws_error(client(s, BOB).invoke, FunctionName=function_arn(name), Payload=b"{}")
    s.lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": {"API_TOKEN": marked}})
    log = s.stderr_path.read_text(errors="replace")
    assert "access denied" in log and "AKIDBOB" in log, "the log shows who was refused"
    for key in ALL_KEYS:
        assert key["AWS_SECRET_ACCESS_KEY"] not in log
    assert "wrong-secret" not in log
    assert marked not in log


# ============================================================================================
# Configuration


def serve_fails(invokd_bin: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    data = tmp_path / "data"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKD_")}
    full_env.update(env or {})
    done = subprocess.run([str(invokd_bin), "serve", "--data-dir", str(data), "--listen", "127.0.0.1:0", *args],
                          capture_output=True, text=True, env=full_env, cwd=tmp_path, timeout=30)
    assert done.returncode != 0, done.stderr
    assert "serving the Lambda API" not in done.stderr
    assert not data.exists(), "it created the data directory before validating"
    assert "invalid configuration" in done.stderr, done.stderr
    return done.stderr


def test_sigv4_without_a_credentials_file_is_refused(invokd_bin, tmp_path):
    err = serve_fails(invokd_bin, tmp_path, "--auth", "sigv4")
    assert "--auth sigv4 needs --credentials FILE" in err, err


def test_a_credentials_file_with_a_mistake_is_refused_with_what_to_fix(invokd_bin, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(CREDENTIALS.replace('"Action": "*"', '"NotAction": "*"'))
    err = serve_fails(invokd_bin, tmp_path, "--auth", "sigv4", "--credentials", str(bad))
    assert str(bad) in err and ADMIN["AWS_ACCESS_KEY_ID"] in err and "NotAction" in err, err
    assert ADMIN["AWS_SECRET_ACCESS_KEY"] not in err
    err = serve_fails(invokd_bin, tmp_path, "--auth", "sigv4", "--credentials", str(tmp_path / "missing.toml"))
    assert "missing.toml" in err, err
    err = serve_fails(invokd_bin, tmp_path, "--auth", "kerberos")
    assert '"kerberos"' in err, err


def test_allow_anonymous_belongs_to_local_mode(invokd_bin, tmp_path, credentials_file):
    err = serve_fails(invokd_bin, tmp_path, "--auth", "sigv4", "--credentials", str(credentials_file),
                      "--allow-anonymous")
    assert "--allow-anonymous is for local mode" in err, err


def test_server_mode_may_listen_beyond_loopback(server_factory, credentials_file, function_python, tmp_path):
    s = server_factory("--listen", "0.0.0.0:0", "--data-dir", str(tmp_path / "open"), "--python", function_python,
                       "--auth", "sigv4", "--credentials", str(credentials_file), standard_flags=False)
    assert "Functions" in s.lambda_client.list_functions()
    assert raw_error(s.raw("GET", "/2015-03-31/functions/"))[1] == "MissingAuthenticationTokenException"


def test_server_mode_from_the_environment_and_from_the_config_file(server_factory, credentials_file, tmp_path):
    from_env = server_factory(env={"INVOKD_AUTH": "sigv4", "INVOKD_CREDENTIALS": str(credentials_file)})
    assert raw_error(from_env.raw("GET", "/2015-03-31/functions/"))[1] == "MissingAuthenticationTokenException"
    assert "Functions" in from_env.lambda_client.list_functions()

    config = tmp_path / "invokd.toml"
    config.write_text(f'auth = "sigv4"\ncredentials = "{credentials_file}"\n')
    from_file = server_factory("--config", str(config))
    assert raw_error(from_file.raw("GET", "/2015-03-31/functions/"))[1] == "MissingAuthenticationTokenException"
    assert "Functions" in from_file.lambda_client.list_functions()


def test_local_mode_still_accepts_any_credentials(server):
    anyone = server.new_client(credentials={"AWS_ACCESS_KEY_ID": "ANYONE", "AWS_SECRET_ACCESS_KEY": "anything"})
    assert "Functions" in anyone.list_functions()
    assert server.raw("GET", "/2015-03-31/functions/").status == 200
