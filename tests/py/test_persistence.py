"""State survives a crash: SIGKILL the server and start it again on the same data directory."""

from __future__ import annotations

import json
import urllib.request

import pytest

from helpers import function_arn, python_package, shell_package, unique_name


@pytest.fixture
def populated(fresh_server):
    """A server with a Python function, a shell function and a published, tagged function."""
    names = {
        "python": unique_name("persist-py"),
        "shell": unique_name("persist-sh"),
        "published": unique_name("persist-pub"),
    }
    fresh_server.create_function(names["python"], handler="app.echo", Environment={"Variables": {"KEPT": "yes"}})
    fresh_server.create_function(names["shell"], runtime="provided.al2023", handler="bootstrap")
    fresh_server.create_function(names["published"], handler="app.echo", Publish=True, Tags={"owner": "tests"})
    fresh_server.lambda_client.update_function_configuration(FunctionName=names["published"], Description="edited")
    # Warm one environment so that the crash happens with a runtime process alive.
    fresh_server.lambda_client.invoke(FunctionName=names["python"], Payload=b"{}")
    return fresh_server, names


def configurations(server, names) -> dict[str, dict]:
    return {n: server.lambda_client.get_function(FunctionName=n)["Configuration"] for n in names.values()}


def test_functions_and_their_configuration_survive_sigkill(populated):
    server, names = populated
    before = configurations(server, names)

    server.restart()

    after = configurations(server, names)
    assert after == before
    listed = [f["FunctionName"] for f in server.lambda_client.list_functions()["Functions"]]
    assert sorted(listed) == sorted(names.values())


def test_code_hash_and_revision_id_are_unchanged_after_restart(populated):
    server, names = populated
    before = {n: (c["CodeSha256"], c["RevisionId"]) for n, c in configurations(server, names).items()}

    server.restart()

    assert {n: (c["CodeSha256"], c["RevisionId"]) for n, c in configurations(server, names).items()} == before


@pytest.mark.parametrize("kind", ["python", "shell", "published"])
def test_functions_are_invocable_after_restart(populated, kind):
    server, names = populated
    server.restart()

    res = server.lambda_client.invoke(FunctionName=names[kind], Payload=b'{"after":"restart"}')

    assert res["StatusCode"] == 200
    assert "FunctionError" not in res
    assert json.loads(res["Payload"].read()) == {"after": "restart"}


def test_published_versions_and_tags_survive_restart(populated):
    server, names = populated
    name = names["published"]

    server.restart()

    versions = sorted(f["Version"] for f in server.lambda_client.list_functions(FunctionVersion="ALL")["Functions"]
                      if f["FunctionName"] == name)
    assert versions == ["$LATEST", "1"]
    assert server.lambda_client.list_tags(Resource=function_arn(name))["Tags"] == {"owner": "tests"}
    assert server.lambda_client.invoke(FunctionName=name, Qualifier="1", Payload=b"{}")["ExecutedVersion"] == "1"


def test_code_can_be_downloaded_after_restart(populated):
    server, names = populated
    server.restart()

    location = server.lambda_client.get_function(FunctionName=names["shell"])["Code"]["Location"]

    with urllib.request.urlopen(location, timeout=10) as res:
        assert res.read() == shell_package()


def test_environment_variables_reach_the_function_after_restart(populated):
    server, names = populated
    server.lambda_client.update_function_code(
        FunctionName=names["python"],
        ZipFile=python_package("import os\n\ndef echo(event, context):\n    return os.environ['KEPT']\n"),
    )

    server.restart()

    res = server.lambda_client.invoke(FunctionName=names["python"], Payload=b"{}")
    assert json.loads(res["Payload"].read()) == "yes"
