"""Functions that call Lambda themselves with an unmodified boto3 (spec §9), the recursion
guard seen from Python, and tenant-isolated functions through boto3 (spec §1.6)."""

from __future__ import annotations

import json

import pytest

from helpers import assert_aws_error, aws_error, python_package, unique_name

CALLER = '''
import json
import boto3

# No endpoint, region or credentials here: invokd provides them as AWS does.
client = boto3.client("lambda")


def call(event, context):
    res = client.invoke(FunctionName=event["target"], Payload=json.dumps(event["payload"]).encode())
    return {
        "status": res["StatusCode"],
        "version": res["ExecutedVersion"],
        "function_error": res.get("FunctionError"),
        "payload": json.loads(res["Payload"].read()),
    }


def recurse(event, context):
    depth = event["depth"]
    try:
        res = client.invoke(FunctionName=context.function_name, Payload=json.dumps({"depth": depth + 1}).encode())
    except client.exceptions.RecursiveInvocationException as e:
        return {"stopped_after": depth, "message": e.response["Error"]["Message"]}
    return json.loads(res["Payload"].read())


def whoami(event, context):
    import os
    return {"tenant": context.tenant_id, "pid": os.getpid()}
'''


def deploy(server, handler: str, **kwargs) -> str:
    name = unique_name("calls")
    server.create_function(name, package=python_package(CALLER), handler=f"app.{handler}", Timeout=120, **kwargs)
    return name


def test_a_python_function_invokes_another_with_plain_boto3(server):
    callee = server.create_function(unique_name("callee"))["FunctionName"]
    caller = deploy(server, "call")
    res = server.new_client(read_timeout=120).invoke(
        FunctionName=caller, Payload=json.dumps({"target": callee, "payload": {"hello": "from python"}}).encode()
    )
    assert res["StatusCode"] == 200
    assert "FunctionError" not in res, res["Payload"].read()
    body = json.loads(res["Payload"].read())
    assert body == {"status": 200, "version": "$LATEST", "function_error": None, "payload": {"hello": "from python"}}


def test_a_python_function_calling_itself_is_stopped_by_the_recursion_guard(server):
    # botocore forwards the runtime's trace header (with its lineage) on every call it makes.
    name = deploy(server, "recurse")
    res = server.new_client(read_timeout=300).invoke(FunctionName=name, Payload=json.dumps({"depth": 0}).encode())
    assert res["StatusCode"] == 200
    body = json.loads(res["Payload"].read())
    # Invocations 0..15 ran; the one that would have been the 17th was refused.
    assert body["stopped_after"] == 15, body
    assert "recursive" in body["message"].lower(), body


def test_a_tenant_isolated_function_through_boto3(server):
    name = deploy(server, "whoami", TenancyConfig={"TenantIsolationMode": "PER_TENANT"})
    client = server.lambda_client
    assert client.get_function_configuration(FunctionName=name)["TenancyConfig"] == {"TenantIsolationMode": "PER_TENANT"}
    seen = {}
    for tenant in ["alpha", "beta", "alpha", "beta"]:
        res = client.invoke(FunctionName=name, TenantId=tenant, Payload=b"{}")
        body = json.loads(res["Payload"].read())
        assert body["tenant"] == tenant
        assert seen.setdefault(body["pid"], tenant) == tenant, "a process served two tenants"
    assert len(seen) == 2, "each tenant's environment was reused"
    err = aws_error(client.invoke, FunctionName=name, Payload=b"{}")
    assert_aws_error(err, 400, "InvalidParameterValueException")
    event = client.invoke(FunctionName=name, TenantId="alpha", InvocationType="Event", Payload=b"{}")
    assert event["StatusCode"] == 202


@pytest.mark.parametrize("invocation_type", ["RequestResponse", "Event"])
def test_an_ordinary_function_refuses_a_tenant_id(server, invocation_type):
    name = server.create_function(unique_name("plain"))["FunctionName"]
    err = aws_error(server.lambda_client.invoke, FunctionName=name, TenantId="alpha",
                    InvocationType=invocation_type, Payload=b"{}")
    assert_aws_error(err, 400, "InvalidParameterValueException")
