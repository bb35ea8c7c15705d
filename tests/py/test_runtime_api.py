"""The Runtime API as a custom runtime sees it: invocation headers, environment, error reporting,
misbehaving runtimes and platform errors. The runtime is PROBE_RUNTIME (helpers.py), a small
Python program in a provided.al2023 package."""

from __future__ import annotations

import json
import re
import sys

import pytest

from helpers import client_context, eventually, function_arn, probe_package, shell_package, unique_name

TRACE_ID = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=[01]")


def create_probe(server, **kwargs) -> str:
    return server.create_function(
        unique_name("probe"), package=probe_package(sys.executable), runtime="provided.al2023",
        handler="probe.handler", **kwargs,
    )["FunctionName"]


def invoke(server, name: str, event: object, **kwargs):
    res = server.lambda_client.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kwargs)
    return res, json.loads(res["Payload"].read())


@pytest.fixture(scope="module")
def probe(server) -> str:
    return create_probe(server, Timeout=5)


@pytest.fixture(scope="module")
def next_headers(server, probe):
    """What the runtime received with one invocation that carried a client context."""
    res, seen = invoke(server, probe, {"action": "headers"}, ClientContext=client_context({"custom": {"k": "v"}}))
    assert "FunctionError" not in res, seen
    return res, seen


# --------------------------------------------------------------------------------------------
# GET /runtime/invocation/next


def test_next_carries_the_request_id_of_the_invocation(next_headers):
    res, seen = next_headers
    assert seen["headers"]["lambda-runtime-aws-request-id"] == res["ResponseMetadata"]["RequestId"]


def test_next_carries_a_deadline_within_the_timeout(next_headers):
    _, seen = next_headers
    remaining = int(seen["headers"]["lambda-runtime-deadline-ms"]) - seen["received_ms"]
    assert 0 < remaining <= 5000


def test_next_carries_the_invoked_function_arn(next_headers, probe):
    _, seen = next_headers
    assert seen["headers"]["lambda-runtime-invoked-function-arn"] == function_arn(probe)


def test_next_carries_an_xray_trace_id(next_headers):
    _, seen = next_headers
    assert TRACE_ID.match(seen["headers"]["lambda-runtime-trace-id"]), seen["headers"]["lambda-runtime-trace-id"]


def test_next_carries_the_decoded_client_context(next_headers):
    _, seen = next_headers
    assert json.loads(seen["headers"]["lambda-runtime-client-context"]) == {"custom": {"k": "v"}}


def test_custom_runtime_has_no_execution_env_variable(next_headers):
    _, seen = next_headers
    assert "AWS_EXECUTION_ENV" not in seen["env"]


def test_custom_runtime_gets_the_runtime_api_address_and_handler(next_headers):
    _, seen = next_headers
    assert re.match(r"^[0-9.]+:\d+$", seen["env"]["AWS_LAMBDA_RUNTIME_API"]), seen["env"]["AWS_LAMBDA_RUNTIME_API"]
    assert seen["env"]["_HANDLER"] == "probe.handler"


def test_qualified_invoke_passes_the_qualified_arn_and_resolved_version(server):
    name = create_probe(server, Publish=True)

    res, seen = invoke(server, name, {"action": "headers"}, Qualifier="1")

    assert res["ExecutedVersion"] == "1"
    assert seen["headers"]["lambda-runtime-invoked-function-arn"] == function_arn(name, "1")
    assert seen["env"]["AWS_LAMBDA_FUNCTION_VERSION"] == "1"


# --------------------------------------------------------------------------------------------
# POST /runtime/invocation/{id}/response and /error


def test_response_for_another_request_id_is_refused(server, probe):
    _, seen = invoke(server, probe, {"action": "wrong_request_id"})
    assert seen == {"status": 400, "body": {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}}


def test_unknown_paths_are_not_found_and_other_methods_not_allowed(server, probe):
    requests = [
        ["GET", "/2018-06-01/runtime/invocation/some-id/unknown"],
        ["POST", "/2018-06-01/runtime/invocation/some-id/response/more"],
        ["GET", "/2018-06-01/runtime/invocation/next/"],
        ["GET", "/2018-06-01/other"],
        ["GET", "/"],
        ["POST", "/2018-06-01/runtime/invocation/next"],
        # HEAD would take an event and drop its payload.
        ["HEAD", "/2018-06-01/runtime/invocation/next"],
        ["GET", "/2018-06-01/runtime/invocation/some-id/response"],
        ["PUT", "/2018-06-01/runtime/invocation/some-id/error"],
        ["GET", "/2018-06-01/runtime/init/error"],
    ]

    _, seen = invoke(server, probe, {"action": "requests", "requests": requests})

    not_found = {"status": 404, "allow": None, "body": {"errorMessage": "Not Found", "errorType": "NotFound"}}
    assert seen == [not_found] * 5 + [
        {"status": 405, "allow": "GET", "body": None},
        {"status": 405, "allow": "GET", "body": None},
        {"status": 405, "allow": "POST", "body": None},
        {"status": 405, "allow": "POST", "body": None},
        {"status": 405, "allow": "POST", "body": None},
    ]
    # Nothing of that disturbed the environment: it takes the next invocation as usual.
    _, echoed = invoke(server, probe, {"action": "echo", "n": 1})
    assert echoed == {"action": "echo", "n": 1}


def recorded(path):
    """What the probe runtime wrote to `path` (it does so after the invocation's response)."""
    eventually(path.exists, timeout=15, what=f"the runtime to record {path.name}")
    return json.loads(path.read_text())


def test_second_response_for_the_same_invocation_is_an_invalid_state_transition(server, probe, tmp_path):
    # The request id stays current until the runtime asks for the next event, so a duplicate
    # response is a 403 state error, not a 400 request-id error (spec section 3.1).
    record = tmp_path / "respond_twice.json"
    _, first = invoke(server, probe, {"action": "respond_twice", "pause": 0.2, "record_to": str(record)})
    assert first == "first"

    second = recorded(record)

    assert (second["status"], second["body"]["errorType"]) == (403, "InvalidStateTransition"), second


def test_posted_error_reaches_the_caller_verbatim(server, probe):
    error = {"errorMessage": "went wrong", "errorType": "Custom.Failure", "stackTrace": ["line 1"]}

    res, payload = invoke(server, probe, {"action": "error", "error": error})

    assert res["StatusCode"] == 200
    assert res["FunctionError"] == "Unhandled"
    assert payload == error


def test_oversized_response_is_a_function_error(server, probe):
    res, payload = invoke(server, probe, {"action": "oversized", "size": 6_291_556})

    assert res["StatusCode"] == 200
    assert res["FunctionError"] == "Unhandled"
    assert payload == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }


def test_oversized_response_is_refused_to_the_runtime_with_413(server, probe, tmp_path):
    record = tmp_path / "oversized.json"
    invoke(server, probe, {"action": "oversized", "size": 6_291_556, "record_to": str(record)})

    assert recorded(record)["response"] == {
        "status": 413,
        "body": {"errorMessage": "Exceeded maximum allowed payload size (6291556 bytes).",
                 "errorType": "RequestEntityTooLarge"},
    }


def test_error_after_a_refused_oversized_response_is_refused(server, probe, tmp_path):
    # Spec section 1.8: once the oversized response was refused the invocation is closed, and a
    # follow-up POST /error gets 403.
    record = tmp_path / "oversized_then_error.json"
    invoke(server, probe, {"action": "oversized", "size": 6_291_556, "then_error": True, "record_to": str(record)})

    assert recorded(record)["error"] == {"status": 403}


# --------------------------------------------------------------------------------------------
# Environment reuse


def test_environment_still_working_after_its_response_gets_no_new_invocation(server):
    # An environment is ready again only when its runtime asks for the next event (spec section
    # 3.7); until then another invocation must run elsewhere, not wait behind the busy runtime.
    name = create_probe(server, Timeout=10)
    _, busy_pid = invoke(server, name, {"action": "respond_then_work", "seconds": 3})

    _, pid = invoke(server, name, {"action": "pid"})

    assert pid != busy_pid


# --------------------------------------------------------------------------------------------
# Runtimes that exit


def test_runtime_exiting_cleanly_mid_invoke_is_an_exit_error(server):
    name = create_probe(server)

    res, payload = invoke(server, name, {"action": "exit", "code": 0})

    assert res["FunctionError"] == "Unhandled"
    assert payload == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {res['ResponseMetadata']['RequestId']} Error: Runtime exited without providing a reason",
    }


def test_runtime_exiting_with_a_status_is_an_exit_error_naming_it(server):
    name = create_probe(server)

    res, payload = invoke(server, name, {"action": "exit", "code": 3})

    assert res["FunctionError"] == "Unhandled"
    assert payload == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {res['ResponseMetadata']['RequestId']} Error: Runtime exited with error: exit status 3",
    }


def test_function_works_again_after_its_runtime_exited(server):
    name = create_probe(server)
    invoke(server, name, {"action": "exit", "code": 1})

    res, payload = invoke(server, name, {"after": "exit"})

    assert "FunctionError" not in res
    assert payload == {"after": "exit"}


def test_bootstrap_exiting_during_init_is_an_exit_error(server):
    name = server.create_function(
        unique_name("initexit"), package=shell_package("#!/bin/sh\nexit 0\n"), runtime="provided.al2023",
        handler="bootstrap",
    )["FunctionName"]

    res, payload = invoke(server, name, {})

    assert res["FunctionError"] == "Unhandled"
    assert payload == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {res['ResponseMetadata']['RequestId']} Error: Runtime exited without providing a reason",
    }

