"""The AWS CLI (v1) against invokd with --endpoint-url."""

from __future__ import annotations

import json

import pytest

from helpers import ROLE, code_sha256, function_arn, python_package, unique_name


@pytest.fixture(scope="module")
def package_file(tmp_path_factory):
    package = python_package()
    path = tmp_path_factory.mktemp("cli") / "function.zip"
    path.write_bytes(package)
    return path, package


def cli_create(server, package_file, name: str):
    path, _ = package_file
    return server.cli(
        "create-function", "--function-name", name, "--runtime", "python3.12", "--role", ROLE,
        "--handler", "app.echo", "--zip-file", f"fileb://{path}",
    )


def test_create_function_uploads_the_zip_file(server, package_file):
    name = unique_name("cli")
    _, package = package_file

    rc, out, err = cli_create(server, package_file, name)

    assert rc == 0, err
    assert out["FunctionName"] == name
    assert out["FunctionArn"] == function_arn(name)
    assert (out["CodeSha256"], out["CodeSize"]) == (code_sha256(package), len(package))


def test_get_function_prints_configuration_and_code(server, package_file):
    name = unique_name("cliget")
    assert cli_create(server, package_file, name).returncode == 0

    rc, out, err = server.cli("get-function", "--function-name", name)

    assert rc == 0, err
    assert out["Configuration"]["FunctionName"] == name
    assert out["Code"]["RepositoryType"] == "S3"


def test_list_functions_includes_created_functions(server, package_file):
    name = unique_name("clilist")
    assert cli_create(server, package_file, name).returncode == 0

    rc, out, err = server.cli("list-functions")

    assert rc == 0, err
    assert name in [f["FunctionName"] for f in out["Functions"]]


def test_update_function_configuration_changes_settings(server, package_file):
    name = unique_name("cliupd")
    assert cli_create(server, package_file, name).returncode == 0

    rc, out, err = server.cli(
        "update-function-configuration", "--function-name", name, "--timeout", "10", "--description", "from the cli",
    )

    assert rc == 0, err
    assert (out["Timeout"], out["Description"]) == (10, "from the cli")
    _, got, _ = server.cli("get-function-configuration", "--function-name", name)
    assert (got["Timeout"], got["Description"]) == (10, "from the cli")


def test_invoke_writes_the_response_to_the_outfile(server, package_file, tmp_path):
    name = unique_name("cliinv")
    assert cli_create(server, package_file, name).returncode == 0
    outfile = tmp_path / "response.json"

    rc, out, err = server.cli("invoke", "--function-name", name, "--payload", '{"a":1}', str(outfile))

    assert rc == 0, err
    assert out["StatusCode"] == 200
    assert out["ExecutedVersion"] == "$LATEST"
    assert json.loads(outfile.read_bytes()) == {"a": 1}


def test_delete_function_removes_it(server, package_file):
    name = unique_name("clidel")
    assert cli_create(server, package_file, name).returncode == 0

    rc, _, err = server.cli("delete-function", "--function-name", name)

    assert rc == 0, err
    rc, _, err = server.cli("get-function", "--function-name", name)
    assert rc != 0
    assert "ResourceNotFoundException" in err


def test_get_function_of_a_missing_name_fails_with_resource_not_found(server):
    name = unique_name("climissing")

    rc, _, err = server.cli("get-function", "--function-name", name)

    assert rc != 0
    assert "ResourceNotFoundException" in err
    assert f"Function not found: {function_arn(name)}" in err
