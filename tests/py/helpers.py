"""Helpers shared by the end-to-end tests: packages, polling, names, expected texts."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import time
import uuid
import zipfile
from pathlib import Path
from typing import Callable, Mapping, TypeVar

REGION = "us-east-1"
ACCOUNT = "000000000000"
ROLE = "arn:aws:iam::000000000000:role/invokd-test"

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# Waiting


def eventually(fn: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, what: str = "") -> T:
    """Calls `fn` until it returns something truthy without raising AssertionError.

    Returns that value; fails with the last result (or assertion) once `timeout` seconds pass.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = fn()
        except AssertionError as e:  # the condition is written as assertions
            last = e
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition {what or fn!r} not met within {timeout}s; last: {last!r}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# Names and ARNs


def unique_name(prefix: str = "fn") -> str:
    """A function name no other test uses (tests share servers)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def function_arn(name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


# --------------------------------------------------------------------------------------------
# Packages

_FIXED_DATE = (2024, 1, 1, 0, 0, 0)


def make_zip(files: Mapping[str, str | bytes], executables: tuple[str, ...] = ("bootstrap",)) -> bytes:
    """A zip of `files` (name -> content); names in `executables` get mode 0755, others 0644."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
            mode = 0o755 if name in executables else 0o644
            info.external_attr = (0o100000 | mode) << 16  # regular file + permissions
            info.compress_type = zipfile.ZIP_DEFLATED
            data = content.encode() if isinstance(content, str) else content
            z.writestr(info, data)
    return buf.getvalue()


def code_sha256(package: bytes) -> str:
    """CodeSha256 as Lambda reports it: base64 of the SHA-256 digest of the zip."""
    return base64.b64encode(hashlib.sha256(package).digest()).decode()


# Python handlers used by the runtime tests; each function picks one with its Handler.
PYTHON_APP = '''
import json
import os
import sys
import time


def echo(event, context):
    return event


def context_info(event, context):
    cc = context.client_context
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "client_context_custom": cc.custom if cc is not None else None,
    }


def environment(event, context):
    return {"environ": dict(os.environ), "cwd": os.getcwd()}


def boom(event, context):
    raise Exception("boom")


def shout(event, context):
    print(event["marker"])
    sys.stdout.flush()
    return "printed"


def sleepy(event, context):
    seconds = event.get("sleep", 0)
    time.sleep(seconds)
    return {"slept": seconds}


def nothing(event, context):
    return None


def touch(event, context):
    with open(event["path"], "w") as f:
        f.write(context.aws_request_id)
    return "touched"
'''


def python_package(source: str = PYTHON_APP, module: str = "app", extra: Mapping[str, str] | None = None) -> bytes:
    files: dict[str, str | bytes] = {f"{module}.py": source}
    files.update(extra or {})
    return make_zip(files, executables=())


# A custom runtime in the style of AWS's "Building a custom runtime" tutorial: a shell loop that
# polls the Runtime API with curl and posts each event back as the response.
ECHO_BOOTSTRAP = r'''#!/bin/sh
set -eu
while true
do
  HEADERS="$(mktemp)"
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  rm -f "$HEADERS"
  curl -sS -o /dev/null -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response" -d "$EVENT_DATA"
done
'''


def shell_package(script: str = ECHO_BOOTSTRAP) -> bytes:
    return make_zip({"bootstrap": script}, executables=("bootstrap",))


# A custom runtime in Python (standard library only) that exposes what the Runtime API does:
# each event's "action" says what to do. What the caller cannot see (because the invocation's
# response was already sent) is written as JSON to the event's "record_to" path.
PROBE_RUNTIME = r'''
import json, os, sys, time, urllib.error, urllib.request

ROOT = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"]
API = ROOT + "/2018-06-01/runtime"


def call(method, path, body=None, headers=None, root=API):
    req = urllib.request.Request(root + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def answer(request_id, value):
    call("POST", "/invocation/%s/response" % request_id, json.dumps(value).encode())


def record(event, value):
    path = event["record_to"]
    with open(path + ".part", "w") as f:
        json.dump(value, f)
    os.rename(path + ".part", path)


while True:
    status, headers, body = call("GET", "/invocation/next")
    received_ms = int(time.time() * 1000)
    request_id = headers["lambda-runtime-aws-request-id"]
    event = json.loads(body)
    action = event.get("action")
    if action == "headers":
        answer(request_id, {"headers": headers, "received_ms": received_ms, "env": dict(os.environ)})
    elif action == "pid":
        answer(request_id, os.getpid())
    elif action == "respond_then_work":
        answer(request_id, os.getpid())
        time.sleep(event["seconds"])  # still busy: /next is only called afterwards
    elif action == "wrong_request_id":
        s, _, b = call("POST", "/invocation/00000000-0000-0000-0000-000000000000/response", b'"x"')
        answer(request_id, {"status": s, "body": json.loads(b)})
    elif action == "respond_twice":
        answer(request_id, "first")
        time.sleep(event.get("pause", 0))  # the caller has its answer by now
        s, _, b = call("POST", "/invocation/%s/response" % request_id, b'"second"')
        record(event, {"status": s, "body": json.loads(b)})
    elif action == "error":
        call("POST", "/invocation/%s/error" % request_id, json.dumps(event["error"]).encode(),
             {"Lambda-Runtime-Function-Error-Type": event["error"]["errorType"]})
    elif action == "oversized":
        s, _, b = call("POST", "/invocation/%s/response" % request_id, b'"' + b"x" * event["size"] + b'"')
        seen = {"response": {"status": s, "body": json.loads(b)}}
        if event.get("then_error"):
            s, _, b = call("POST", "/invocation/%s/error" % request_id, b'{"errorMessage":"late","errorType":"Late"}')
            seen["error"] = {"status": s}
        if "record_to" in event:
            record(event, seen)
    elif action == "requests":
        seen = []
        for method, path in event["requests"]:
            s, h, b = call(method, path, root=ROOT)
            seen.append({"status": s, "allow": h.get("allow"), "body": json.loads(b) if b else None})
        answer(request_id, seen)
    elif action == "exit":
        sys.exit(event["code"])
    else:
        answer(request_id, event)
'''


def probe_package(python: str) -> bytes:
    """A provided.* package whose bootstrap runs PROBE_RUNTIME with `python`."""
    bootstrap = "#!/bin/sh\nexec '%s' \"$(dirname \"$0\")/runtime.py\"\n" % python
    return make_zip({"bootstrap": bootstrap, "runtime.py": PROBE_RUNTIME}, executables=("bootstrap",))


def decode_log_result(b64: str) -> str:
    return base64.b64decode(b64).decode("utf-8", "replace")


def client_context(obj: object) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


# --------------------------------------------------------------------------------------------
# Processes


def processes_with(marker: str) -> list[int]:
    """Pids whose command line contains `marker` (read from /proc, no psutil)."""
    found = []
    me = os.getpid()
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return found


# --------------------------------------------------------------------------------------------
# Expected texts (see ../shared/spec/lambda-behaviour.md)

RUNTIME_ENUM = (
    "[nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x, "
    "java25, python3.10, python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9, "
    "java17, nodejs16.x, dotnet10, dotnet8, java11, dotnet6, nodejs18.x, provided.al2, java8.al2]"
)
ROLE_PATTERN = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
QUALIFIER_PATTERN = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"
RESOURCE_PATTERN = (
    r"arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:"
    r"(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|"
    r"code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|capacity-provider:[a-zA-Z0-9-_]+)"
)
PRECONDITION_FAILED = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)
COULD_NOT_UNZIP = "Could not unzip uploaded file. Please check your file, then try to upload again."


def validation_message(*violations: str) -> str:
    """The Coral-style ValidationException text for the given per-field violations."""
    n = len(violations)
    noun = "error" if n == 1 else "errors"
    return f"{n} validation {noun} detected: " + "; ".join(violations)


def violation(value: object, field: str, constraint: str) -> str:
    return f"Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"


# --------------------------------------------------------------------------------------------
# Asserting AWS errors


def aws_error(call: Callable[..., object], *args: object, **kwargs: object) -> dict:
    """Calls a boto3 operation that must fail with a service error; returns the parsed response."""
    from botocore.exceptions import ClientError

    try:
        result = call(*args, **kwargs)
    except ClientError as e:
        return e.response
    raise AssertionError(f"expected an AWS error, got success: {result!r}")


def assert_aws_error(response: dict, status: int, code: str, message: str | None = None) -> None:
    """Checks a ClientError response: HTTP status, error code and (if given) the exact message."""
    got = (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"])
    assert got == (status, code), f"expected {status} {code}, got {got}: {response['Error'].get('Message')!r}"
    if message is not None:
        assert response["Error"]["Message"] == message


def raw_error_code(res) -> str:
    """The error code of a raw response, as botocore derives it (header, truncated at ':')."""
    return res.headers.get("x-amzn-errortype", "").split(":")[0]


def raw_error_message(res) -> str:
    body = res.json()
    return body.get("message", body.get("Message"))
