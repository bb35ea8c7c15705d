"""Python functions under the official runtime interface client (awslambdaric): events, the
context object, the environment, errors, logs, timeouts and client context."""

from __future__ import annotations

import base64
import json
import os
import re

import pytest

from helpers import (
    REGION,
    client_context,
    decode_log_result,
    eventually,
    function_arn,
    python_package,
    unique_name,
)

LOG_STREAM = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")


def invoke(server, name: str, event: object | None = None, **kwargs):
    """Invokes synchronously; returns (response, decoded payload)."""
    args = dict(FunctionName=name, **kwargs)
    if event is not None:
        args["Payload"] = json.dumps(event).encode()
    res = server.lambda_client.invoke(**args)
    return res, json.loads(res["Payload"].read())


def request_id(res) -> str:
    return res["ResponseMetadata"]["RequestId"]


# --------------------------------------------------------------------------------------------
# Events


def test_handler_receives_the_event_and_its_return_value_is_the_payload(server):
    name = server.create_function(unique_name("echo"), handler="app.echo")["FunctionName"]
    event = {"hello": "world", "n": [1, 2, 3], "nested": {"ok": True}}

    res, payload = invoke(server, name, event)

    assert res["StatusCode"] == 200
    assert "FunctionError" not in res
    assert res["ExecutedVersion"] == "$LATEST"
    assert payload == event


def test_invoke_without_payload_passes_an_empty_object(server):
    name = server.create_function(unique_name("nopayload"), handler="app.echo")["FunctionName"]

    res, payload = invoke(server, name)

    assert res["StatusCode"] == 200
    assert payload == {}


def test_environment_is_reused_across_invocations(server):
    name = server.create_function(unique_name("warm"), handler="app.echo")["FunctionName"]
    results = [invoke(server, name, {"i": i})[1] for i in range(3)]
    assert results == [{"i": 0}, {"i": 1}, {"i": 2}]


# --------------------------------------------------------------------------------------------
# The context object (one invocation, inspected by several tests)


@pytest.fixture(scope="module")
def context_report(server):
    name = server.create_function(unique_name("context"), handler="app.context_info", Timeout=3)["FunctionName"]
    res, payload = invoke(server, name, {})
    assert "FunctionError" not in res, payload
    return name, res, payload


def test_context_request_id_is_the_invocation_request_id(context_report):
    _, res, ctx = context_report
    assert ctx["aws_request_id"] == request_id(res)
    assert ctx["aws_request_id"] == res["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_context_names_the_function_and_version(context_report):
    name, _, ctx = context_report
    assert (ctx["function_name"], ctx["function_version"]) == (name, "$LATEST")


def test_context_memory_limit_is_the_configured_memory_size(context_report):
    _, _, ctx = context_report
    assert int(ctx["memory_limit_in_mb"]) == 128


def test_context_invoked_function_arn_is_the_arn_as_invoked(context_report):
    name, _, ctx = context_report
    assert ctx["invoked_function_arn"] == function_arn(name)


def test_context_remaining_time_is_within_the_timeout(context_report):
    _, _, ctx = context_report
    assert 0 < ctx["remaining_ms"] <= 3000


def test_context_log_group_and_stream(context_report):
    name, _, ctx = context_report
    assert ctx["log_group_name"] == f"/aws/lambda/{name}"
    assert LOG_STREAM.match(ctx["log_stream_name"]), ctx["log_stream_name"]


def test_client_context_reaches_the_handler(server):
    name = server.create_function(unique_name("clientctx"), handler="app.context_info")["FunctionName"]

    _, ctx = invoke(server, name, {}, ClientContext=client_context({"custom": {"a": "b"}}))

    assert ctx["client_context_custom"] == {"a": "b"}


def test_client_context_that_is_not_base64_json_is_refused(server):
    name = server.create_function(unique_name("badctx"), handler="app.context_info")["FunctionName"]
    res = server.raw(
        "POST", f"/2015-03-31/functions/{name}/invocations", "{}",
        headers={"X-Amz-Client-Context": "this is not base64!"},
    )
    assert res.status == 400
    assert res.headers.get("x-amzn-errortype", "").split(":")[0] == "InvalidRequestContentException"
    assert res.json()["message"] == "Client context must be a valid Base64-encoded JSON object."


# --------------------------------------------------------------------------------------------
# The process environment (one invocation, inspected by several tests)


@pytest.fixture(scope="module")
def environment_report(server):
    name = server.create_function(
        unique_name("environ"), handler="app.environment", Environment={"Variables": {"CUSTOM_SETTING": "on"}},
    )["FunctionName"]
    res, payload = invoke(server, name, {})
    assert "FunctionError" not in res, payload
    return name, payload["environ"], payload["cwd"]


def test_environment_names_the_function(environment_report):
    name, env, _ = environment_report
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"


def test_environment_has_the_region(environment_report):
    _, env, _ = environment_report
    assert env["AWS_REGION"] == REGION
    assert env["AWS_DEFAULT_REGION"] == REGION


def test_environment_execution_env_names_the_runtime(environment_report):
    _, env, _ = environment_report
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"


def test_environment_timezone_is_utc(environment_report):
    _, env, _ = environment_report
    assert env["TZ"] == ":UTC"


def test_environment_task_root_is_the_working_directory(environment_report):
    _, env, cwd = environment_report
    assert env["LAMBDA_TASK_ROOT"] == cwd


def test_environment_library_path_is_aws_order_without_missing_directories(environment_report):
    # AWS's LD_LIBRARY_PATH, its /var/task being the task root here, minus the directories this
    # host lacks (the loader looked in each on every cold start).
    _, env, cwd = environment_report
    aws = ["/var/lang/lib", "/lib64", "/usr/lib64", "/var/runtime", "/var/runtime/lib",
           cwd, cwd + "/lib", "/opt/lib"]
    expected = [d for d in aws if os.path.isdir(d)]
    assert cwd in expected
    assert env["LD_LIBRARY_PATH"].split(":") == expected


def test_environment_has_the_handler_and_log_names(environment_report):
    name, env, _ = environment_report
    assert env["_HANDLER"] == "app.environment"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert LOG_STREAM.match(env["AWS_LAMBDA_LOG_STREAM_NAME"]), env["AWS_LAMBDA_LOG_STREAM_NAME"]


def test_environment_includes_the_configured_variables(environment_report):
    _, env, _ = environment_report
    assert env["CUSTOM_SETTING"] == "on"


# --------------------------------------------------------------------------------------------
# Errors


def test_unhandled_exception_is_a_function_error_with_awslambdaric_shape(server):
    name = server.create_function(unique_name("boom"), handler="app.boom")["FunctionName"]

    res, payload = invoke(server, name, {})

    assert res["StatusCode"] == 200
    assert res["FunctionError"] == "Unhandled"
    assert payload["errorMessage"] == "boom"
    assert payload["errorType"] == "Exception"
    assert payload["requestId"] == request_id(res)
    assert isinstance(payload["stackTrace"], list) and payload["stackTrace"]


def test_function_works_again_after_an_unhandled_exception(server):
    name = server.create_function(unique_name("recover"), handler="app.sleepy")["FunctionName"]
    invoke(server, name, {"sleep": "not a number"})  # TypeError inside the handler

    res, payload = invoke(server, name, {"sleep": 0})

    assert "FunctionError" not in res
    assert payload == {"slept": 0}


def test_import_error_in_the_handler_module_is_an_init_error(server):
    broken = "import module_that_does_not_exist_anywhere\n\ndef handler(event, context):\n    return 1\n"
    name = server.create_function(
        unique_name("importerr"), package=python_package(broken), handler="app.handler",
    )["FunctionName"]

    res, payload = invoke(server, name, {})

    assert res["StatusCode"] == 200
    assert res["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert payload["errorMessage"].startswith("Unable to import module 'app'"), payload


def test_missing_handler_function_is_a_function_error(server):
    name = server.create_function(unique_name("nohandler"), handler="app.no_such_handler")["FunctionName"]

    res, payload = invoke(server, name, {})

    assert res["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.HandlerNotFound"


# --------------------------------------------------------------------------------------------
# Timeouts


def test_handler_running_past_the_timeout_is_timed_out(server):
    name = server.create_function(unique_name("timeout"), handler="app.sleepy", Timeout=1)["FunctionName"]

    res, payload = invoke(server, name, {"sleep": 10})

    assert res["StatusCode"] == 200
    assert res["FunctionError"] == "Unhandled"
    assert payload == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id(res)} Error: Task timed out after 1.00 seconds",
    }


def test_function_works_again_after_a_timeout(server):
    name = server.create_function(unique_name("aftertimeout"), handler="app.sleepy", Timeout=1)["FunctionName"]
    first, _ = invoke(server, name, {"sleep": 10})
    assert first["FunctionError"] == "Unhandled"

    res, payload = invoke(server, name, {"sleep": 0})

    assert "FunctionError" not in res
    assert payload == {"slept": 0}


# --------------------------------------------------------------------------------------------
# Logs


def test_printed_output_is_in_the_tail_log_between_start_and_end(server):
    name = server.create_function(unique_name("tail"), handler="app.shout")["FunctionName"]
    marker = unique_name("printed-marker")

    res, _ = invoke(server, name, {"marker": marker}, LogType="Tail")

    rid = request_id(res)
    lines = decode_log_result(res["LogResult"]).splitlines()
    start = lines.index(f"START RequestId: {rid} Version: $LATEST")
    printed = lines.index(marker)
    end = lines.index(f"END RequestId: {rid}")
    assert start < printed < end
    assert lines[end + 1].startswith(f"REPORT RequestId: {rid}\tDuration: "), lines[end + 1:]


def test_tail_log_is_returned_for_function_errors_too(server):
    name = server.create_function(unique_name("tailerr"), handler="app.boom")["FunctionName"]

    res, _ = invoke(server, name, {}, LogType="Tail")

    log = decode_log_result(res["LogResult"])
    assert f"START RequestId: {request_id(res)}" in log
    assert f"END RequestId: {request_id(res)}" in log


def test_printed_output_is_written_to_the_function_log_files(server):
    name = server.create_function(unique_name("logfile"), handler="app.shout")["FunctionName"]
    marker = unique_name("file-marker")

    invoke(server, name, {"marker": marker})

    def logged() -> bool:
        files = list(server.logs_dir(name).glob("*.log"))
        return any(marker in f.read_text(errors="replace") for f in files)

    eventually(logged, timeout=10, what=f"{marker} in {server.logs_dir(name)}/*.log")


def test_handler_returning_none_answers_null(server):
    name = server.create_function(unique_name("none"), handler="app.nothing")["FunctionName"]

    res = server.lambda_client.invoke(FunctionName=name, Payload=b"{}")

    assert res["Payload"].read() == b"null"


# --------------------------------------------------------------------------------------------
# Log tail format

REPORT = re.compile(
    r"^REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: \d+\.\d{2} ms\tBilled Duration: \d+ ms\t"
    r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\t(?P<init>Init Duration: \d+\.\d{2} ms\t)?$"
)


def test_report_line_has_init_duration_only_on_a_cold_start(server):
    name = server.create_function(unique_name("report"), handler="app.echo")["FunctionName"]

    reports = []
    for _ in range(2):
        res, _ = invoke(server, name, {}, LogType="Tail")
        line = decode_log_result(res["LogResult"]).splitlines()[-1]
        match = REPORT.match(line)
        assert match, repr(line)
        assert match["id"] == request_id(res)
        reports.append(match)

    assert reports[0]["init"] is not None
    assert reports[1]["init"] is None


def test_tail_has_no_init_start_line(server):
    name = server.create_function(unique_name("noinit"), handler="app.echo")["FunctionName"]

    res, _ = invoke(server, name, {}, LogType="Tail")

    assert "INIT_START" not in decode_log_result(res["LogResult"])


def test_tail_is_the_last_4kb_of_the_invocations_log(server):
    source = "def handler(event, context):\n    for i in range(500):\n        print('line %04d ' % i + 'y' * 40)\n"
    name = server.create_function(unique_name("bigtail"), package=python_package(source), handler="app.handler")["FunctionName"]

    res = server.lambda_client.invoke(FunctionName=name, LogType="Tail")

    tail = base64.b64decode(res["LogResult"])
    assert len(tail) == 4096
    assert tail.decode().splitlines()[-1].startswith(f"REPORT RequestId: {request_id(res)}")
    assert b"line 0499" in tail
    assert b"line 0000" not in tail


# --------------------------------------------------------------------------------------------
# Environment reset after a timeout

COUNTER = '''
import os, tempfile, time
count = 0

def handler(event, context):
    global count
    count += 1
    path = os.path.join(tempfile.gettempdir(), "invocations.txt")
    with open(path, "a") as f:
        f.write("x")
    time.sleep(event.get("sleep", 0))
    with open(path) as f:
        return {"count": count, "tmp": len(f.read())}
'''


def test_timeout_resets_memory_but_keeps_tmp(server):
    name = server.create_function(
        unique_name("reset"), package=python_package(COUNTER), handler="app.handler", Timeout=1,
    )["FunctionName"]
    assert invoke(server, name, {})[1] == {"count": 1, "tmp": 1}
    assert invoke(server, name, {})[1] == {"count": 2, "tmp": 2}
    timed_out, _ = invoke(server, name, {"sleep": 5})
    assert timed_out["FunctionError"] == "Unhandled"

    _, after = invoke(server, name, {})

    assert after == {"count": 1, "tmp": 4}
