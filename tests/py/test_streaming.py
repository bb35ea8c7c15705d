"""InvokeWithResponseStream through boto3's event-stream parser (spec §8): a custom runtime that
streams over raw HTTP/1.1 with chunked trailers (as the Node.js runtime does), a buffered Python
function under awslambdaric, errors before and after the stream starts, Tail, DryRun."""

from __future__ import annotations

import base64
import json

from helpers import assert_aws_error, aws_error, make_zip, unique_name

# Event: {"chunks": [...], "gate": path?, "error": message?}. After the first chunk the runtime
# waits for `gate` to exist, so a response that were buffered would never finish.
STREAMING_BOOTSTRAP = r'''#!/usr/bin/env python3
import base64, http.client, json, os, socket, time

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
while True:
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    res = conn.getresponse()
    event = json.loads(res.read())
    request_id = res.getheader("Lambda-Runtime-Aws-Request-Id")
    conn.close()
    s = socket.create_connection((host, int(port)))
    s.sendall((
        f"POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
        "Transfer-Encoding: chunked\r\n"
        "Content-Type: text/plain\r\n"
        "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n"
    ).encode())
    for i, text in enumerate(event.get("chunks", [])):
        data = text.encode()
        s.sendall(b"%x\r\n%s\r\n" % (len(data), data))
        if i == 0 and event.get("gate"):
            while not os.path.exists(event["gate"]):
                time.sleep(0.005)
    trailers = b""
    if "error" in event:
        doc = json.dumps({"errorType": "TypeError", "errorMessage": event["error"], "trace": []})
        trailers = (b"Lambda-Runtime-Function-Error-Type: TypeError\r\n"
                    b"Lambda-Runtime-Function-Error-Body: " + base64.b64encode(doc.encode()) + b"\r\n")
    s.sendall(b"0\r\n" + trailers + b"\r\n")
    s.recv(65536)
    s.close()
'''


def streaming_function(server) -> str:
    name = unique_name("stream")
    server.create_function(name, package=make_zip({"bootstrap": STREAMING_BOOTSTRAP}), runtime="provided.al2023",
                           handler="bootstrap", Timeout=60)
    return name


def read(res) -> tuple[bytes, dict]:
    """The chunks' bytes and the InvokeComplete event, checking it comes last and once."""
    body, complete = b"", None
    for event in res["EventStream"]:
        assert complete is None, "nothing may follow InvokeComplete"
        if "PayloadChunk" in event:
            body += event["PayloadChunk"]["Payload"]
        elif "InvokeComplete" in event:
            complete = event["InvokeComplete"]
        else:
            raise AssertionError(f"unexpected event {event}")
    assert complete is not None, "the stream ends with InvokeComplete"
    return body, complete


def test_chunks_reach_boto3_before_the_function_finishes(server, tmp_path):
    name = streaming_function(server)
    gate = tmp_path / "seen-first-chunk"
    res = server.lambda_client.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps({"chunks": ["one,", "two,", "three"], "gate": str(gate)}).encode()
    )
    assert res["StatusCode"] == 200
    assert res["ExecutedVersion"] == "$LATEST"
    assert res["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    body, complete = b"", None
    for event in res["EventStream"]:
        if "PayloadChunk" in event:
            body += event["PayloadChunk"]["Payload"]
            if body == b"one,":
                gate.touch()  # only now may the function go on
        elif "InvokeComplete" in event:
            complete = event["InvokeComplete"]
    assert gate.exists()
    assert body == b"one,two,three"
    assert complete == {}


def test_an_error_after_the_stream_started_is_reported_in_invoke_complete(server):
    name = streaming_function(server)
    res = server.lambda_client.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps({"chunks": ["partial"], "error": "half-way"}).encode()
    )
    body, complete = read(res)
    assert body == b"partial"
    assert complete["ErrorCode"] == "TypeError"
    assert complete["ErrorDetails"] == "half-way"


def test_a_buffered_python_function_streams_as_a_chunk_with_its_tail(server):
    name = server.create_function(unique_name("buffered"))["FunctionName"]
    res = server.lambda_client.invoke_with_response_stream(
        FunctionName=name, Payload=b'{"hello": "python"}', LogType="Tail"
    )
    body, complete = read(res)
    assert json.loads(body) == {"hello": "python"}
    assert "ErrorCode" not in complete
    log = base64.b64decode(complete["LogResult"]).decode()
    assert "START RequestId:" in log and "REPORT RequestId:" in log


def test_errors_before_the_stream_are_plain_aws_errors(server):
    client = server.lambda_client
    name = server.create_function(unique_name("plain"))["FunctionName"]
    dry = client.invoke_with_response_stream(FunctionName=name, InvocationType="DryRun")
    assert dry["StatusCode"] == 204
    missing = unique_name("missing")
    err = aws_error(client.invoke_with_response_stream, FunctionName=missing)
    assert_aws_error(err, 404, "ResourceNotFoundException",
                     f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{missing}:$LATEST")
    err = aws_error(client.invoke_with_response_stream, FunctionName=name, InvocationType="Event")
    assert_aws_error(
        err, 400, "ValidationException",
        "1 validation error detected: Value 'Event' at 'invocationType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [RequestResponse, DryRun]",
    )
