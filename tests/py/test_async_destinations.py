"""Asynchronous invocation (InvocationType Event) with destinations and dead-letter queues delivered
to a real SQS/SNS/EventBridge: a moto server on loopback, which invokd reaches through
`--aws-endpoint-url`. Retry delays and event ages are scaled by `--async-retry-scale 0.01`, so AWS's
one and two minutes between attempts take 0.6 s and 1.2 s.

Expected records and attributes follow AWS's (LocalStack's recordings in
test_lambda_destinations.snapshot.json and ../shared/spec/lambda-behaviour.md section 4).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import boto3
import pytest

from helpers import (
    PYTHON_APP,
    REGION,
    eventually,
    function_arn,
    python_package,
    raw_error_code,
    raw_error_message,
    unique_name,
)

MOTO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
MOTO_START_DEADLINE = 30.0
DELIVERY_DEADLINE = 20.0
EVENT_LIMIT = 1_048_576
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# The test handlers (PYTHON_APP: echo, boom, sleepy, ...) plus one that logs the event it received.
DESTINATION_APP = PYTHON_APP + '''

def log_event(event, context):
    print("RECEIVED " + json.dumps(event))
    return "logged"
'''


# --------------------------------------------------------------------------------------------
# moto, and an invokd that delivers to it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Moto:
    url: str
    sqs: object
    sns: object
    events: object

    def queue(self, name: str | None = None) -> tuple[str, str]:
        """Creates a standard queue; returns (url, arn)."""
        url = self.sqs.create_queue(QueueName=name or unique_name("q"))["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def receive(self, url: str, timeout: float = DELIVERY_DEADLINE) -> dict:
        """The next message of a queue (long polling until `timeout`); it is deleted from the queue."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1,
                                           MessageAttributeNames=["All"]).get("Messages", [])
            if got:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
                return got[0]
        raise AssertionError(f"no message on {url} within {timeout}s")

    def receive_json(self, url: str, timeout: float = DELIVERY_DEADLINE) -> dict:
        return json.loads(self.receive(url, timeout)["Body"])

    def assert_empty(self, url: str) -> None:
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        assert not got, f"unexpected messages: {[m['Body'] for m in got]}"


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """`python -m moto.server` on a free loopback port, stopped at teardown."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    env = dict(os.environ, **MOTO_CREDENTIALS)
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)
    try:
        deadline = time.monotonic() + MOTO_START_DEADLINE
        while True:
            assert proc.poll() is None, f"moto exited with {proc.returncode}:\n{log.read_text()}"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"moto not listening within {MOTO_START_DEADLINE}s:\n{log.read_text()}"
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        session = boto3.session.Session(region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")
        yield Moto(url, session.client("sqs", endpoint_url=url), session.client("sns", endpoint_url=url),
                   session.client("events", endpoint_url=url))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(module_server_factory, moto):
    """invokd delivering to moto, with AWS's retry delays scaled by 0.01 (this module's `server`)."""
    return module_server_factory("--aws-endpoint-url", moto.url, "--async-retry-scale", "0.01", env=MOTO_CREDENTIALS)


def create(server, handler: str, prefix: str = "async", **kwargs) -> str:
    name = unique_name(prefix)
    server.create_function(name, package=python_package(DESTINATION_APP), handler=handler, **kwargs)
    return name


def configure(server, name: str, on_success: str | None = None, on_failure: str | None = None, **kwargs) -> None:
    destinations = {}
    if on_success:
        destinations["OnSuccess"] = {"Destination": on_success}
    if on_failure:
        destinations["OnFailure"] = {"Destination": on_failure}
    server.lambda_client.put_function_event_invoke_config(FunctionName=name, DestinationConfig=destinations, **kwargs)


def invoke_event(server, name: str, event: object) -> str:
    """Invokes asynchronously; returns the request id of the 202."""
    res = server.lambda_client.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event).encode())
    assert res["StatusCode"] == 202
    return res["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def start_lines(server, name: str, request_id: str) -> list[str]:
    """The `START RequestId: <id> ...` lines of the function's log streams."""
    lines = []
    for path in server.logs_dir(name).glob("*.log"):
        lines += [line for line in path.read_text(errors="replace").splitlines()
                  if line.startswith(f"START RequestId: {request_id} ")]
    return lines


def invokd_cli(server, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKD_")}
    return subprocess.run([str(server.binary), *args, "--endpoint", server.endpoint],
                          capture_output=True, text=True, timeout=30, env=env)


# ============================================================================================
# Accepting events


def test_event_invoke_answers_202_with_a_request_id(server):
    name = create(server, "app.echo")

    res = server.lambda_client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"a":1}')

    assert res["StatusCode"] == 202
    assert UUID.match(res["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"])
    assert res["Payload"].read() == b""
    assert "ExecutedVersion" not in res


def test_event_payload_of_exactly_1_mib_is_accepted(server):
    name = create(server, "app.nothing")
    payload = b'"' + b"x" * (EVENT_LIMIT - 2) + b'"'

    res = server.lambda_client.invoke(FunctionName=name, InvocationType="Event", Payload=payload)

    assert res["StatusCode"] == 202


def test_event_payload_over_1_mib_is_refused_with_413(server):
    name = create(server, "app.nothing")
    payload = b'"' + b"x" * (EVENT_LIMIT - 1) + b'"'

    res = server.raw("POST", f"/2015-03-31/functions/{name}/invocations", payload, {"X-Amz-Invocation-Type": "Event"})

    assert (res.status, raw_error_code(res)) == (413, "RequestEntityTooLargeException")
    assert raw_error_message(res) == f"{len(payload)} byte payload is too large for the Event invocation type (limit 1048576 bytes)"


def test_event_invoke_of_an_unknown_function_is_not_found(server):
    name = unique_name("noasync")
    res = server.raw("POST", f"/2015-03-31/functions/{name}/invocations", b"{}", {"X-Amz-Invocation-Type": "Event"})
    assert (res.status, raw_error_code(res)) == (404, "ResourceNotFoundException")
    assert raw_error_message(res) == f"Function not found: {function_arn(name, '$LATEST')}"


# ============================================================================================
# OnSuccess to SQS: AWS's invocation record


@pytest.fixture(scope="module")
def success_record(server, moto):
    """An echo function's success record, delivered to an SQS queue."""
    name = create(server, "app.echo", "success")
    url, arn = moto.queue()
    configure(server, name, on_success=arn)
    event = {"hello": "world", "n": [1, 2]}
    request_id = invoke_event(server, name, event)
    return name, request_id, event, moto.receive_json(url)


def test_success_record_has_version_and_timestamp(success_record):
    *_, record = success_record
    assert record["version"] == "1.0"
    assert TIMESTAMP.match(record["timestamp"]), record["timestamp"]


def test_success_record_request_context(success_record):
    name, request_id, _, record = success_record
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": function_arn(name, "$LATEST"),
        "condition": "Success",
        "approximateInvokeCount": 1,
    }


def test_success_record_carries_the_event_as_request_payload(success_record):
    _, _, event, record = success_record
    assert record["requestPayload"] == event


def test_success_record_response_context_and_payload(success_record):
    _, _, event, record = success_record
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == event


def test_success_record_has_exactly_aws_keys(success_record):
    *_, record = success_record
    assert sorted(record) == sorted(
        ["version", "timestamp", "requestContext", "requestPayload", "responseContext", "responsePayload"]
    )


def test_success_record_of_a_version_names_the_version(server, moto):
    name = create(server, "app.echo", "successver", Publish=True)
    url, arn = moto.queue()
    server.lambda_client.put_function_event_invoke_config(
        FunctionName=name, Qualifier="1", DestinationConfig={"OnSuccess": {"Destination": arn}})

    res = server.lambda_client.invoke(FunctionName=name, Qualifier="1", InvocationType="Event", Payload=b"{}")

    record = moto.receive_json(url)
    assert record["requestContext"]["functionArn"] == function_arn(name, "1")
    assert record["requestContext"]["requestId"] == res["ResponseMetadata"]["RequestId"]
    assert record["responseContext"]["executedVersion"] == "1"


# ============================================================================================
# OnFailure: retries and event age


@pytest.fixture(scope="module")
def failure_record(server, moto):
    """A failing function with the default retry policy (MaximumRetryAttempts 2): its failure record."""
    name = create(server, "app.boom", "failure")
    url, arn = moto.queue()
    configure(server, name, on_failure=arn)
    event = {"fail": True}
    request_id = invoke_event(server, name, event)
    return name, request_id, event, moto.receive_json(url)


def test_failure_after_the_default_retries_is_retries_exhausted_after_3_attempts(failure_record):
    name, request_id, _, record = failure_record
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": function_arn(name, "$LATEST"),
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }


def test_failure_record_response_context_names_the_function_error(failure_record):
    *_, record = failure_record
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}


def test_failure_record_response_payload_is_the_runtimes_error(failure_record):
    _, request_id, event, record = failure_record
    error = record["responsePayload"]
    assert (error["errorMessage"], error["errorType"], error["requestId"]) == ("boom", "Exception", request_id)
    assert isinstance(error["stackTrace"], list) and error["stackTrace"]
    assert record["requestPayload"] == event


def test_every_attempt_runs_with_the_same_request_id(server, failure_record):
    name, request_id, _, _ = failure_record
    lines = eventually(lambda: len(start_lines(server, name, request_id)) == 3 and start_lines(server, name, request_id),
                       what="three START lines")
    assert all(line.startswith(f"START RequestId: {request_id} Version: $LATEST") for line in lines)
    starts = [line for p in server.logs_dir(name).glob("*.log") for line in p.read_text().splitlines()
              if line.startswith("START RequestId: ")]
    assert len(starts) == 3, starts


def test_maximum_retry_attempts_0_makes_one_attempt(server, moto):
    name = create(server, "app.boom", "noretry")
    url, arn = moto.queue()
    configure(server, name, on_failure=arn, MaximumRetryAttempts=0)

    request_id = invoke_event(server, name, {})

    record = moto.receive_json(url)
    assert (record["requestContext"]["condition"], record["requestContext"]["approximateInvokeCount"]) == (
        "RetriesExhausted", 1)
    assert len(start_lines(server, name, request_id)) == 1


def test_an_event_too_old_for_a_retry_is_event_age_exceeded(server, moto):
    # MaximumEventAgeInSeconds 60 (0.6 s here) is less than the first retry's delay of a minute.
    name = create(server, "app.boom", "maxage")
    url, arn = moto.queue()
    configure(server, name, on_failure=arn, MaximumEventAgeInSeconds=60)

    request_id = invoke_event(server, name, {})

    record = moto.receive_json(url)
    assert (record["requestContext"]["condition"], record["requestContext"]["approximateInvokeCount"]) == (
        "EventAgeExceeded", 1)
    assert record["requestContext"]["requestId"] == request_id
    assert record["responseContext"]["functionError"] == "Unhandled"


def test_a_successful_event_sends_nothing_to_on_failure(server, moto):
    name = create(server, "app.echo", "onlyfail")
    success_url, success_arn = moto.queue()
    failure_url, failure_arn = moto.queue()
    configure(server, name, on_success=success_arn, on_failure=failure_arn)

    invoke_event(server, name, {"ok": 1})

    assert moto.receive_json(success_url)["requestContext"]["condition"] == "Success"
    moto.assert_empty(failure_url)


# ============================================================================================
# SNS and EventBridge destinations


def test_sns_destination_publishes_the_record_as_the_message(server, moto):
    name = create(server, "app.echo", "sns")
    topic = moto.sns.create_topic(Name=unique_name("topic"))["TopicArn"]
    url, queue_arn = moto.queue()
    moto.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"})
    configure(server, name, on_success=topic)

    request_id = invoke_event(server, name, {"via": "sns"})

    envelope = moto.receive_json(url)
    assert (envelope["Type"], envelope["TopicArn"]) == ("Notification", topic)
    record = json.loads(envelope["Message"])
    assert (record["requestContext"]["requestId"], record["requestContext"]["condition"]) == (request_id, "Success")
    assert record["requestPayload"] == {"via": "sns"}


@pytest.fixture(scope="module")
def event_bus(moto):
    """An EventBridge bus whose rule on {"source": ["lambda"]} delivers to an SQS queue."""
    bus = unique_name("bus")
    bus_arn = moto.events.create_event_bus(Name=bus)["EventBusArn"]
    url, queue_arn = moto.queue()
    moto.events.put_rule(Name="lambda-results", EventBusName=bus, EventPattern=json.dumps({"source": ["lambda"]}))
    moto.events.put_targets(Rule="lambda-results", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return bus_arn, url


def test_eventbridge_destination_receives_a_success_event(server, moto, event_bus):
    bus_arn, url = event_bus
    name = create(server, "app.echo", "ebok")
    configure(server, name, on_success=bus_arn)

    request_id = invoke_event(server, name, {"mode": "success"})

    event = moto.receive_json(url)
    assert (event["source"], event["detail-type"]) == ("lambda", "Lambda Function Invocation Result - Success")
    assert event["detail"]["requestContext"] == {
        "requestId": request_id, "functionArn": function_arn(name, "$LATEST"), "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert event["detail"]["responsePayload"] == {"mode": "success"}
    assert function_arn(name, "$LATEST") in event["resources"]


def test_eventbridge_destination_receives_a_failure_event(server, moto, event_bus):
    bus_arn, url = event_bus
    name = create(server, "app.boom", "ebfail")
    configure(server, name, on_failure=bus_arn, MaximumRetryAttempts=0)

    request_id = invoke_event(server, name, {"mode": "failure"})

    event = moto.receive_json(url)
    assert (event["source"], event["detail-type"]) == ("lambda", "Lambda Function Invocation Result - Failure")
    assert event["detail"]["requestContext"]["condition"] == "RetriesExhausted"
    assert event["detail"]["responsePayload"]["requestId"] == request_id


def test_eventbridge_event_resources_are_the_bus_and_the_function(server, moto, event_bus):
    # Recorded against AWS (LocalStack test_invoke_lambda_eventbridge, 2025-11):
    # "resources": [<event bus ARN>, <qualified function ARN>].
    bus_arn, url = event_bus
    name = create(server, "app.echo", "ebres")
    configure(server, name, on_success=bus_arn)

    invoke_event(server, name, {})

    assert moto.receive_json(url)["resources"] == [bus_arn, function_arn(name, "$LATEST")]


# ============================================================================================
# Dead-letter queue


@pytest.fixture(scope="module")
def dlq_message(server, moto):
    """What a failing function with a DLQ and no retries sends to its DLQ."""
    url, arn = moto.queue()
    name = create(server, "app.boom", "dlq", DeadLetterConfig={"TargetArn": arn})
    server.lambda_client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    event = {"raise_error": 1}
    request_id = invoke_event(server, name, event)
    return request_id, event, moto.receive(url)


def test_dlq_message_body_is_the_original_event(dlq_message):
    _, event, message = dlq_message
    assert json.loads(message["Body"]) == event


def test_dlq_message_names_the_request_id(dlq_message):
    request_id, _, message = dlq_message
    assert message["MessageAttributes"]["RequestID"] == {"DataType": "String", "StringValue": request_id}


def test_dlq_error_code_is_the_number_200(dlq_message):
    *_, message = dlq_message
    assert message["MessageAttributes"]["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}


def test_dlq_error_message_is_the_handlers_error_message(dlq_message):
    *_, message = dlq_message
    assert message["MessageAttributes"]["ErrorMessage"] == {"DataType": "String", "StringValue": "boom"}


def test_dlq_message_has_exactly_three_attributes(dlq_message):
    *_, message = dlq_message
    assert sorted(message["MessageAttributes"]) == ["ErrorCode", "ErrorMessage", "RequestID"]


# ============================================================================================
# Another function as destination


def test_lambda_destination_receives_the_record_as_its_event(server):
    target = create(server, "app.log_event", "target")
    source = create(server, "app.echo", "source")
    configure(server, source, on_success=function_arn(target))

    request_id = invoke_event(server, source, {"to": "lambda"})

    def received():
        for path in server.logs_dir(target).glob("*.log"):
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("RECEIVED "):
                    return json.loads(line[len("RECEIVED "):])
        return None

    record = eventually(received, timeout=DELIVERY_DEADLINE, what=f"the record in {target}'s logs")
    assert record["requestContext"] == {
        "requestId": request_id, "functionArn": function_arn(source, "$LATEST"), "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert (record["requestPayload"], record["responsePayload"]) == ({"to": "lambda"}, {"to": "lambda"})


# ============================================================================================
# `invokd events`: failed deliveries and the queue


def failed_deliveries(server) -> dict[str, tuple[str, list[str]]]:
    """`invokd events`' failed deliveries: request id -> (ID, the row's columns)."""
    done = invokd_cli(server, "events")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    if "FAILED DELIVERIES (redrive with --redrive ID)" not in lines:
        return {}
    rows = {}
    for line in lines[lines.index("FAILED DELIVERIES (redrive with --redrive ID)") + 2:]:
        if not line.strip():
            break
        columns = line.split()
        rows[columns[1]] = (columns[0], columns)
    return rows


@pytest.fixture(scope="module")
def undeliverable(server, moto):
    """A success record for a queue that does not exist (yet), kept as a failed delivery."""
    name = create(server, "app.echo", "undeliverable")
    queue = unique_name("later")
    url = moto.sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = moto.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    moto.sqs.delete_queue(QueueUrl=url)
    configure(server, name, on_success=arn)
    request_id = invoke_event(server, name, {"kept": True})
    row = eventually(lambda: failed_deliveries(server).get(request_id), timeout=DELIVERY_DEADLINE,
                     what="the failed delivery listed")
    return name, queue, arn, request_id, row


def test_an_undeliverable_record_is_listed_as_a_failed_delivery(undeliverable):
    name, _, arn, _, (dead_letter_id, columns) = undeliverable
    assert dead_letter_id.isdigit()
    assert (columns[2], columns[3]) == (name, arn)


def test_redrive_delivers_the_record_once_the_queue_exists_and_forgets_it(server, moto, undeliverable):
    name, queue, _, request_id, (dead_letter_id, _) = undeliverable
    url = moto.sqs.create_queue(QueueName=queue)["QueueUrl"]

    done = invokd_cli(server, "events", "--redrive", dead_letter_id)

    assert done.returncode == 0, done.stderr
    record = moto.receive_json(url)
    assert record["requestContext"] == {
        "requestId": request_id, "functionArn": function_arn(name, "$LATEST"), "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert request_id not in failed_deliveries(server)


def test_redrive_of_an_unknown_id_fails(server):
    done = invokd_cli(server, "events", "--redrive", "999999")
    assert done.returncode != 0
    assert "999999" in done.stderr


def test_events_of_a_function_show_its_backlog(server):
    name = create(server, "app.sleepy", "backlog")
    server.lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    request_ids = [invoke_event(server, name, {"sleep": 1.5}) for _ in range(3)]
    other = create(server, "app.sleepy", "other")
    invoke_event(server, other, {"sleep": 1.5})

    def listed():
        done = invokd_cli(server, "events", name)
        assert done.returncode == 0, done.stderr
        rows = [line.split() for line in done.stdout.splitlines() if line.split() and UUID.match(line.split()[0])]
        assert {row[0] for row in rows} == set(request_ids), done.stdout
        assert "queued" in {row[2] for row in rows}, done.stdout
        return rows

    rows = eventually(listed, timeout=10, what=f"{name}'s three events listed, some queued")
    assert {row[1] for row in rows} == {name}
    assert {row[2] for row in rows} <= {"queued", "in-flight"}


def test_events_are_gone_from_the_list_once_done(server):
    name = create(server, "app.sleepy", "drained")
    request_id = invoke_event(server, name, {"sleep": 0.5})

    def gone():
        done = invokd_cli(server, "events", name)
        assert done.returncode == 0, done.stderr
        return request_id not in done.stdout and done.stdout

    out = eventually(gone, timeout=DELIVERY_DEADLINE, what="the event done")
    assert out.rstrip().endswith("0 queued or in flight, 0 failed deliveries")
