"""Invoke through boto3: custom runtimes (a shell `bootstrap` speaking the Runtime API with curl),
invocation types, log tails and request validation."""

from __future__ import annotations

import json

import pytest

from helpers import (
    assert_aws_error,
    aws_error,
    decode_log_result,
    eventually,
    function_arn,
    unique_name,
)


@pytest.fixture(scope="module")
def shell_echo(server) -> str:
    """A provided.al2023 function whose bootstrap echoes every event back."""
    return server.create_function(unique_name("shell"), runtime="provided.al2023", handler="bootstrap")["FunctionName"]


@pytest.mark.parametrize("runtime", ["provided.al2023", "provided.al2"])
def test_shell_bootstrap_custom_runtime_echoes_events(server, runtime):
    name = server.create_function(unique_name("bootstrap"), runtime=runtime, handler="bootstrap")["FunctionName"]
    event = {"hello": "world", "runtime": runtime}

    res = server.lambda_client.invoke(FunctionName=name, Payload=json.dumps(event).encode())

    assert res["StatusCode"] == 200
    assert "FunctionError" not in res
    assert json.loads(res["Payload"].read()) == event


def test_sync_invoke_reports_the_executed_version(server, shell_echo):
    res = server.lambda_client.invoke(FunctionName=shell_echo, Payload=b"{}")
    assert res["ExecutedVersion"] == "$LATEST"


def test_invoke_by_arn_runs_the_function(server, shell_echo):
    res = server.lambda_client.invoke(FunctionName=function_arn(shell_echo), Payload=b'{"by":"arn"}')
    assert json.loads(res["Payload"].read()) == {"by": "arn"}


def test_dry_run_returns_204_without_running(server, shell_echo):
    res = server.lambda_client.invoke(FunctionName=shell_echo, InvocationType="DryRun", Payload=b'{"a":1}')

    assert res["StatusCode"] == 204
    assert res["Payload"].read() == b""


def test_request_response_with_tail_returns_this_invocations_log(server, shell_echo):
    res = server.lambda_client.invoke(
        FunctionName=shell_echo, InvocationType="RequestResponse", LogType="Tail", Payload=b'{"tail":true}',
    )

    rid = res["ResponseMetadata"]["RequestId"]
    lines = decode_log_result(res["LogResult"]).splitlines()
    assert lines[0] == f"START RequestId: {rid} Version: $LATEST"
    end = lines.index(f"END RequestId: {rid}")
    assert lines[end + 1].startswith(f"REPORT RequestId: {rid}\tDuration: ")
    assert json.loads(res["Payload"].read()) == {"tail": True}


def test_without_tail_no_log_result_is_returned(server, shell_echo):
    res = server.lambda_client.invoke(FunctionName=shell_echo, Payload=b"{}")
    assert "LogResult" not in res


def test_unknown_function_is_not_found_with_latest_qualifier(server):
    name = unique_name("nosuchfn")
    err = aws_error(server.lambda_client.invoke, FunctionName=name, Payload=b"{}")
    assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(name, '$LATEST')}")
    assert err["Type"] == "User"


def test_payload_that_is_not_json_is_refused(server, shell_echo):
    err = aws_error(server.lambda_client.invoke, FunctionName=shell_echo, Payload=b"notjson")

    assert_aws_error(err, 400, "InvalidRequestContentException")
    assert err["Error"]["Message"].startswith(
        "Could not parse request body into json: Could not parse payload into json: Unrecognized token 'notjson'"
    ), err["Error"]["Message"]
    assert err["Type"] == "User"


def test_invalid_function_name_is_a_validation_error(server):
    err = aws_error(server.lambda_client.invoke, FunctionName="my-function!", Payload=b"{}")
    assert_aws_error(err, 400, "ValidationException")
    assert err["Error"]["Message"].startswith(
        "1 validation error detected: Value 'my-function!' at 'functionName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: "
    ), err["Error"]["Message"]


def test_qualifier_mismatch_is_refused(server, shell_echo):
    err = aws_error(server.lambda_client.invoke, FunctionName=f"{shell_echo}:$LATEST", Qualifier="1", Payload=b"{}")
    assert_aws_error(err, 400, "InvalidParameterValueException",
                     "The derived qualifier from the function name does not match the specified qualifier.")


def test_oversized_request_is_refused_with_413(server, shell_echo):
    payload = json.dumps({"pad": "x" * 6_291_456}).encode()
    res = server.raw("POST", f"/2015-03-31/functions/{shell_echo}/invocations", payload)

    assert res.status == 413
    assert res.headers.get("x-amzn-errortype", "").split(":")[0] == "RequestEntityTooLargeException"
    assert res.json()["Message"] == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"


def test_lower_case_latest_is_a_qualifier_that_does_not_exist(server, shell_echo):
    err = aws_error(server.lambda_client.invoke, FunctionName=shell_echo, Qualifier="$latest", Payload=b"{}")
    assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(shell_echo, '$latest')}")


def test_name_longer_than_64_is_simply_not_found(server):
    name = "a" * 65
    err = aws_error(server.lambda_client.invoke, FunctionName=name, Payload=b"{}")
    assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(name, '$LATEST')}")


def test_arn_of_another_region_is_not_reachable(server, shell_echo):
    arn = f"arn:aws:lambda:eu-west-1:000000000000:function:{shell_echo}"
    err = aws_error(server.lambda_client.invoke, FunctionName=arn, Payload=b"{}")
    assert_aws_error(err, 404, "ResourceNotFoundException",
                     "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')")


def test_invocation_type_must_be_known(server, shell_echo):
    err = aws_error(server.lambda_client.invoke, FunctionName=shell_echo, InvocationType="Bogus", Payload=b"{}")
    assert_aws_error(err, 400, "ValidationException")
    assert err["Error"]["Message"].startswith(
        "1 validation error detected: Value 'Bogus' at 'invocationType' failed to satisfy constraint: "
        "Member must satisfy enum value set: "
    ), err["Error"]["Message"]


def test_event_invocation_is_accepted_with_202_and_no_executed_version(server, shell_echo):
    res = server.lambda_client.invoke(FunctionName=shell_echo, InvocationType="Event", Payload=b'{"async":1}')

    assert res["StatusCode"] == 202
    assert res["Payload"].read() == b""
    assert "ExecutedVersion" not in res
    assert res["ResponseMetadata"]["RequestId"]


def test_event_invocation_runs_the_function_with_the_same_request_id(server, tmp_path):
    name = server.create_function(unique_name("async"), handler="app.touch")["FunctionName"]
    marker = tmp_path / "touched"

    res = server.lambda_client.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps({"path": str(marker)}).encode(),
    )

    eventually(marker.exists, timeout=20, what=f"{marker} written by the async invocation")
    assert eventually(marker.read_text, timeout=5) == res["ResponseMetadata"]["RequestId"]


def test_event_invocation_of_unknown_function_is_not_found(server):
    name = unique_name("nosuchasync")
    err = aws_error(server.lambda_client.invoke, FunctionName=name, InvocationType="Event", Payload=b"{}")
    assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(name, '$LATEST')}")


def test_invoking_a_published_version_runs_that_version(server):
    name = server.create_function(unique_name("ver"), runtime="provided.al2023", handler="bootstrap",
                                  Publish=True)["FunctionName"]

    res = server.lambda_client.invoke(FunctionName=name, Qualifier="1", Payload=b'{"v":1}')

    assert res["ExecutedVersion"] == "1"
    assert json.loads(res["Payload"].read()) == {"v": 1}


def test_unknown_version_is_not_found(server, shell_echo):
    err = aws_error(server.lambda_client.invoke, FunctionName=shell_echo, Qualifier="99", Payload=b"{}")
    assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(shell_echo, '99')}")


@pytest.mark.parametrize("form", ["partial_arn", "function_prefix", "arn_with_latest"])
def test_every_function_name_form_reaches_the_function(server, shell_echo, form):
    name = {
        "partial_arn": f"000000000000:function:{shell_echo}",
        "function_prefix": f"function:{shell_echo}",
        "arn_with_latest": function_arn(shell_echo, "$LATEST"),
    }[form]

    res = server.lambda_client.invoke(FunctionName=name, Payload=b'{"form":1}')

    assert json.loads(res["Payload"].read()) == {"form": 1}


def test_oversized_event_invocation_is_refused_with_413(server, shell_echo):
    payload = json.dumps({"pad": "x" * 1_048_600}).encode()

    err = aws_error(server.lambda_client.invoke, FunctionName=shell_echo, InvocationType="Event", Payload=payload)

    assert_aws_error(err, 413, "RequestEntityTooLargeException",
                     f"{len(payload)} byte payload is too large for the Event invocation type (limit 1048576 bytes)")
