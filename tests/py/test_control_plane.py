"""The control plane through boto3 (and raw HTTP where botocore refuses a request client-side):
CreateFunction, GetFunction, ListFunctions, updates, DeleteFunction, tags, account settings."""

from __future__ import annotations

import base64
import json
import re
import urllib.request

from helpers import (
    ACCOUNT,
    COULD_NOT_UNZIP,
    PRECONDITION_FAILED,
    QUALIFIER_PATTERN,
    REGION,
    ROLE,
    ROLE_PATTERN,
    RUNTIME_ENUM,
    assert_aws_error,
    aws_error,
    code_sha256,
    eventually,
    function_arn,
    python_package,
    raw_error_code,
    raw_error_message,
    unique_name,
    validation_message,
    violation,
)

LAST_MODIFIED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
ENV_TOO_LARGE_PREFIX = (
    "Lambda was unable to configure your environment variables because the environment variables you have "
    "provided exceeded the 4KB limit. String measured: "
)


def raw_create_body(name: str, **overrides: object) -> str:
    """A CreateFunction request body as JSON, for requests botocore would refuse to send."""
    body = {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.echo",
        "Code": {"ZipFile": base64.b64encode(python_package()).decode()},
    }
    body.update(overrides)
    return json.dumps(body)


def raw_validation_error(server, path: str, body: str | None = None, method: str = "POST"):
    res = server.raw(method, path, body)
    assert (res.status, raw_error_code(res)) == (400, "ValidationException"), (res.status, res.headers, res.body)
    return raw_error_message(res)


# ============================================================================================
# CreateFunction


class TestCreateFunction:
    def test_returns_201_with_the_full_configuration(self, server):
        name = unique_name("create")
        package = python_package()

        res = server.create_function(name, package=package)

        assert res["ResponseMetadata"]["HTTPStatusCode"] == 201
        assert res["FunctionName"] == name
        assert res["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        assert res["Runtime"] == "python3.12"
        assert res["Role"] == ROLE
        assert res["Handler"] == "app.echo"
        assert res["CodeSize"] == len(package)
        assert res["CodeSha256"] == code_sha256(package)
        assert res["Description"] == ""
        assert res["Timeout"] == 3
        assert res["MemorySize"] == 128
        assert res["Version"] == "$LATEST"
        assert res["State"] == "Active"
        assert res["LastUpdateStatus"] == "Successful"
        assert res["PackageType"] == "Zip"
        assert res["Architectures"] == ["x86_64"]
        assert res["EphemeralStorage"] == {"Size": 512}
        assert res["TracingConfig"] == {"Mode": "PassThrough"}
        assert res["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
        assert res["RevisionId"]
        assert LAST_MODIFIED.match(res["LastModified"]), res["LastModified"]

    def test_omits_environment_when_none_was_given(self, server):
        res = server.create_function(unique_name("noenv"))
        assert "Environment" not in res

    def test_echoes_environment_when_given(self, server):
        res = server.create_function(unique_name("env"), Environment={"Variables": {"GREETING": "hello", "COUNT": "1"}})
        assert res["Environment"] == {"Variables": {"GREETING": "hello", "COUNT": "1"}}

    def test_echoes_the_given_settings(self, server):
        res = server.create_function(
            unique_name("settings"), Description="a description", Timeout=30, MemorySize=256,
            EphemeralStorage={"Size": 1024},
        )
        assert (res["Description"], res["Timeout"], res["MemorySize"], res["EphemeralStorage"]) == (
            "a description", 30, 256, {"Size": 1024},
        )

    def test_with_publish_returns_version_1(self, server):
        res = server.create_function(unique_name("publish"), Publish=True)
        assert res["ResponseMetadata"]["HTTPStatusCode"] == 201
        assert res["Version"] == "1"

    def test_second_create_of_the_same_name_conflicts(self, server):
        name = unique_name("twice")
        server.create_function(name)

        err = aws_error(server.create_function, name)

        assert_aws_error(err, 409, "ResourceConflictException", f"Function already exist: {name}")
        assert err["Type"] == "User"


class TestCreateFunctionValidation:
    """ValidationException (400, no Type): Coral-style messages naming the camelCase field."""

    def test_role_must_be_an_iam_role_arn(self, server):
        err = aws_error(
            server.lambda_client.create_function,
            FunctionName=unique_name(), Runtime="python3.12", Role="r1", Handler="app.echo",
            Code={"ZipFile": python_package()},
        )
        assert_aws_error(err, 400, "ValidationException", validation_message(
            violation("r1", "role", f"Member must satisfy regular expression pattern: {ROLE_PATTERN}")
        ))

    def test_validation_error_body_has_no_type(self, server):
        err = aws_error(
            server.lambda_client.create_function,
            FunctionName=unique_name(), Runtime="python3.12", Role="r1", Handler="app.echo",
            Code={"ZipFile": python_package()},
        )
        assert err["Error"]["Code"] == "ValidationException"
        assert "Type" not in err

    def test_timeout_above_900_is_refused(self, server):
        err = aws_error(server.create_function, unique_name(), Timeout=901)
        assert_aws_error(err, 400, "ValidationException", validation_message(
            violation(901, "timeout", "Member must have value less than or equal to 900")
        ))

    def test_timeout_below_1_is_refused(self, server):
        # botocore refuses Timeout=0 client-side, so this one goes over raw HTTP.
        message = raw_validation_error(server, "/2015-03-31/functions", raw_create_body(unique_name(), Timeout=0))
        assert message == validation_message(
            violation(0, "timeout", "Member must have value greater than or equal to 1")
        )

    def test_memory_size_below_128_is_refused(self, server):
        message = raw_validation_error(server, "/2015-03-31/functions", raw_create_body(unique_name(), MemorySize=64))
        assert message == validation_message(
            violation(64, "memorySize", "Member must have value greater than or equal to 128")
        )

    def test_memory_size_above_10240_is_refused(self, server):
        err = aws_error(server.create_function, unique_name(), MemorySize=10241)
        assert_aws_error(err, 400, "ValidationException", validation_message(
            violation(10241, "memorySize", "Member must have value less than or equal to 10240")
        ))

    def test_ephemeral_storage_below_512_is_refused(self, server):
        message = raw_validation_error(
            server, "/2015-03-31/functions", raw_create_body(unique_name(), EphemeralStorage={"Size": 100})
        )
        assert message == validation_message(
            violation(100, "ephemeralStorage.size", "Member must have value greater than or equal to 512")
        )

    def test_two_violations_are_reported_together(self, server):
        err = aws_error(server.create_function, unique_name(), Timeout=901, MemorySize=10241)

        assert_aws_error(err, 400, "ValidationException")
        message = err["Error"]["Message"]
        prefix = "2 validation errors detected: "
        assert message.startswith(prefix), message
        assert set(message[len(prefix):].split("; ")) == {
            violation(901, "timeout", "Member must have value less than or equal to 900"),
            violation(10241, "memorySize", "Member must have value less than or equal to 10240"),
        }

    def test_function_name_must_match_the_name_pattern(self, server):
        err = aws_error(server.create_function, "my-function!")
        assert_aws_error(err, 400, "ValidationException")
        assert err["Error"]["Message"].startswith(
            "1 validation error detected: Value 'my-function!' at 'functionName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: "
        ), err["Error"]["Message"]

    def test_at_most_one_architecture(self, server):
        err = aws_error(server.create_function, unique_name(), Architectures=["x86_64", "arm64"])
        assert_aws_error(err, 400, "ValidationException", validation_message(
            violation("[x86_64, arm64]", "architectures", "Member must have length less than or equal to 1")
        ))

    def test_environment_variable_keys_must_match_the_key_pattern(self, server):
        err = aws_error(server.create_function, unique_name(), Environment={"Variables": {"a": "1"}})
        assert_aws_error(err, 400, "ValidationException", (
            "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
            "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"
        ))


class TestCreateFunctionInvalidParameters:
    """InvalidParameterValueException (400, Type User)."""

    def test_unknown_runtime_lists_the_supported_ones(self, server):
        err = aws_error(server.create_function, unique_name(), runtime="non-existent-runtime")
        assert_aws_error(err, 400, "InvalidParameterValueException", (
            "Value non-existent-runtime at 'runtime' failed to satisfy constraint: "
            f"Member must satisfy enum value set: {RUNTIME_ENUM} or be a valid ARN"
        ))
        assert err["Type"] == "User"

    def test_deprecated_runtime_is_refused(self, server):
        err = aws_error(server.create_function, unique_name(), runtime="go1.x", handler="main")
        assert_aws_error(err, 400, "InvalidParameterValueException", (
            "The runtime parameter of go1.x is no longer supported for creating or updating AWS Lambda functions. "
            "We recommend you use a supported runtime while creating or updating functions."
        ))

    def test_bytes_that_are_not_a_zip_are_refused(self, server):
        err = aws_error(server.create_function, unique_name(), package=b"this is not a zip file")
        assert_aws_error(err, 400, "InvalidParameterValueException", COULD_NOT_UNZIP)
        assert err["Type"] == "User"

    def test_handler_is_mandatory_for_zip_packages(self, server):
        err = aws_error(
            server.lambda_client.create_function,
            FunctionName=unique_name(), Runtime="python3.12", Role=ROLE, Code={"ZipFile": python_package()},
        )
        assert_aws_error(err, 400, "InvalidParameterValueException",
                         "Runtime and Handler are mandatory parameters for functions created with deployment packages.")

    def test_bare_name_longer_than_64_is_refused(self, server):
        name = "a" * 65
        err = aws_error(server.create_function, name)
        assert_aws_error(err, 400, "InvalidParameterValueException", validation_message(
            violation(name, "functionName", "Member must have length less than or equal to 64")
        ))

    def test_reserved_environment_keys_are_refused(self, server):
        err = aws_error(server.create_function, unique_name(), Environment={"Variables": {"AWS_REGION": "eu-west-1"}})
        assert_aws_error(err, 400, "InvalidParameterValueException", (
            "Lambda was unable to configure your environment variables because the environment variables you have "
            "provided contains reserved keys that are currently not supported for modification. "
            "Reserved keys used in this request: AWS_REGION"
        ))

    def test_environment_over_4kb_is_refused_quoting_what_was_measured(self, server):
        variables = {"LARGE_VAR": "x" * 4096}
        err = aws_error(server.create_function, unique_name(), Environment={"Variables": variables})
        assert_aws_error(err, 400, "InvalidParameterValueException")
        message = err["Error"]["Message"]
        assert message.startswith(ENV_TOO_LARGE_PREFIX + "{"), message[:300]
        assert message == ENV_TOO_LARGE_PREFIX + json.dumps(variables, separators=(",", ":"))

    def test_image_packages_are_refused_naming_zip_file(self, server):
        err = aws_error(
            server.lambda_client.create_function,
            FunctionName=unique_name(), Role=ROLE, PackageType="Image",
            Code={"ImageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/repo:latest"},
        )
        assert_aws_error(err, 400, "InvalidParameterValueException")
        assert "ZipFile" in err["Error"]["Message"], err["Error"]["Message"]

    def test_code_from_s3_is_refused_naming_zip_file(self, server):
        err = aws_error(
            server.lambda_client.create_function,
            FunctionName=unique_name(), Runtime="python3.12", Role=ROLE, Handler="app.echo",
            Code={"S3Bucket": "some-bucket", "S3Key": "code.zip"},
        )
        assert_aws_error(err, 400, "InvalidParameterValueException")
        assert "ZipFile" in err["Error"]["Message"], err["Error"]["Message"]

    def test_more_than_50_tags_are_refused(self, server):
        tags = {f"key{i}": "value" for i in range(51)}
        err = aws_error(server.create_function, unique_name(), Tags=tags)
        assert_aws_error(err, 400, "InvalidParameterValueException", "Number of tags exceeds resource tag limit.")


# ============================================================================================
# GetFunction / GetFunctionConfiguration


class TestGetFunction:
    def test_returns_the_configuration(self, server):
        name = unique_name("get")
        package = python_package()
        created = server.create_function(name, package=package, Description="described")

        config = server.lambda_client.get_function(FunctionName=name)["Configuration"]

        assert config["FunctionName"] == name
        assert config["FunctionArn"] == function_arn(name)
        assert config["CodeSha256"] == code_sha256(package)
        assert config["CodeSize"] == len(package)
        assert config["Description"] == "described"
        assert config["RevisionId"] == created["RevisionId"]
        assert config["LastModified"] == created["LastModified"]
        assert (config["State"], config["LastUpdateStatus"]) == ("Active", "Successful")
        assert config["Version"] == "$LATEST"

    def test_code_location_downloads_the_uploaded_zip(self, server):
        name = unique_name("download")
        package = python_package(extra={"data.txt": "payload for " + name})
        server.create_function(name, package=package)

        code = server.lambda_client.get_function(FunctionName=name)["Code"]

        assert code["RepositoryType"] == "S3"
        assert code["Location"].startswith("http://"), code["Location"]
        with urllib.request.urlopen(code["Location"], timeout=10) as res:
            assert res.read() == package

    def test_includes_tags_when_set(self, server):
        name = unique_name("tagged")
        server.create_function(name, Tags={"team": "core", "env": "test"})
        assert server.lambda_client.get_function(FunctionName=name)["Tags"] == {"team": "core", "env": "test"}

    def test_omits_tags_when_none(self, server):
        name = unique_name("untagged")
        server.create_function(name)
        assert "Tags" not in server.lambda_client.get_function(FunctionName=name)

    def test_get_function_configuration_matches_get_function(self, server):
        name = unique_name("getconf")
        server.create_function(name, Environment={"Variables": {"K1": "v"}})

        config = server.lambda_client.get_function_configuration(FunctionName=name)
        config.pop("ResponseMetadata")

        assert config == server.lambda_client.get_function(FunctionName=name)["Configuration"]

    def test_accepts_the_function_arn(self, server):
        name = unique_name("byarn")
        server.create_function(name)
        assert server.lambda_client.get_function(FunctionName=function_arn(name))["Configuration"]["FunctionName"] == name

    def test_version_qualifier_returns_the_version_with_its_qualified_arn(self, server):
        name = unique_name("getver")
        server.create_function(name, Publish=True)

        config = server.lambda_client.get_function(FunctionName=name, Qualifier="1")["Configuration"]

        assert (config["Version"], config["FunctionArn"]) == ("1", function_arn(name, "1"))

    def test_explicit_latest_qualifier_returns_the_latest_qualified_arn(self, server):
        # Recorded against AWS: GetFunction(Qualifier="$LATEST") answers with FunctionArn
        # "...:function:NAME:$LATEST" (LocalStack test_publish_version_on_create snapshot).
        name = unique_name("getlatest")
        server.create_function(name)

        config = server.lambda_client.get_function(FunctionName=name, Qualifier="$LATEST")["Configuration"]

        assert (config["Version"], config["FunctionArn"]) == ("$LATEST", function_arn(name, "$LATEST"))

    def test_unknown_version_is_not_found_naming_the_qualified_arn(self, server):
        name = unique_name("getnover")
        server.create_function(name)
        err = aws_error(server.lambda_client.get_function, FunctionName=name, Qualifier="1221")
        assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(name, '1221')}")

    def test_unknown_function_is_not_found(self, server):
        name = unique_name("missing")
        err = aws_error(server.lambda_client.get_function, FunctionName=name)
        assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(name)}")
        assert err["Type"] == "User"

    def test_unknown_function_configuration_is_not_found(self, server):
        name = unique_name("missing")
        err = aws_error(server.lambda_client.get_function_configuration, FunctionName=name)
        assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(name)}")

    def test_arn_of_another_region_is_not_reachable(self, server):
        name = unique_name("region")
        server.create_function(name)
        arn = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{name}"

        err = aws_error(server.lambda_client.get_function, FunctionName=arn)

        assert_aws_error(err, 404, "ResourceNotFoundException",
                         "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')")

    def test_qualifier_in_name_must_match_the_qualifier_parameter(self, server):
        name = unique_name("qual")
        server.create_function(name, Publish=True)

        err = aws_error(server.lambda_client.get_function, FunctionName=f"{name}:1", Qualifier="2")

        assert_aws_error(err, 400, "InvalidParameterValueException",
                         "The derived qualifier from the function name does not match the specified qualifier.")

    def test_qualifier_must_match_the_qualifier_pattern(self, server):
        name = unique_name("badqual")
        server.create_function(name)

        err = aws_error(server.lambda_client.get_function, FunctionName=name, Qualifier="invalid!")

        assert_aws_error(err, 400, "ValidationException", validation_message(
            violation("invalid!", "qualifier", f"Member must satisfy regular expression pattern: {QUALIFIER_PATTERN}")
        ))


# ============================================================================================
# ListFunctions


def list_all(client, page_size: int, **kwargs) -> tuple[list[dict], list[dict]]:
    """Every function, fetched `page_size` at a time; also returns the raw pages."""
    pages, marker = [], None
    while True:
        args = dict(MaxItems=page_size, **kwargs)
        if marker:
            args["Marker"] = marker
        page = client.list_functions(**args)
        pages.append(page)
        assert len(page["Functions"]) <= page_size
        marker = page.get("NextMarker")
        if not marker:
            break
        assert len(pages) < 1000, "pagination does not end"
    return [f for p in pages for f in p["Functions"]], pages


class TestListFunctions:
    def test_lists_functions_sorted_by_name(self, server):
        prefix = unique_name("sorted")
        for suffix in ["c", "a", "b"]:
            server.create_function(f"{prefix}-{suffix}")

        names = [f["FunctionName"] for f in server.lambda_client.list_functions()["Functions"]]

        assert names == sorted(names)
        assert [n for n in names if n.startswith(prefix)] == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]

    def test_pages_with_max_items_and_marker(self, server):
        prefix = unique_name("page")
        mine = [f"{prefix}-{i}" for i in range(5)]
        for name in mine:
            server.create_function(name)

        collected, pages = list_all(server.lambda_client, page_size=2)

        names = [f["FunctionName"] for f in collected]
        assert len(pages) >= 3
        assert all(len(p["Functions"]) == 2 for p in pages[:-1])
        assert "NextMarker" not in pages[-1]
        assert len(names) == len(set(names)), "a function was listed twice"
        assert names == sorted(names)
        assert [n for n in names if n.startswith(prefix)] == mine
        assert names == [f["FunctionName"] for f in server.lambda_client.list_functions()["Functions"]]

    def test_listing_omits_state_and_last_update_status(self, server):
        name = unique_name("liststate")
        server.create_function(name)

        entry = next(f for f in server.lambda_client.list_functions()["Functions"] if f["FunctionName"] == name)

        assert "State" not in entry
        assert "LastUpdateStatus" not in entry
        assert entry["FunctionArn"] == function_arn(name)

    def test_all_versions_include_published_ones_with_qualified_arns(self, server):
        name = unique_name("listall")
        server.create_function(name, Publish=True)

        collected, _ = list_all(server.lambda_client, page_size=50, FunctionVersion="ALL")

        mine = sorted((f["Version"], f["FunctionArn"]) for f in collected if f["FunctionName"] == name)
        assert mine == [("$LATEST", function_arn(name, "$LATEST")), ("1", function_arn(name, "1"))]

    def test_without_function_version_lists_only_latest(self, server):
        name = unique_name("listlatest")
        server.create_function(name, Publish=True)

        collected, _ = list_all(server.lambda_client, page_size=50)

        assert [f["Version"] for f in collected if f["FunctionName"] == name] == ["$LATEST"]

    def test_function_version_must_be_all(self, server):
        err = aws_error(server.lambda_client.list_functions, FunctionVersion="invalid")
        assert_aws_error(err, 400, "ValidationException", validation_message(
            violation("invalid", "functionVersion", "Member must satisfy enum value set: [ALL]")
        ))

    def test_max_items_must_be_positive(self, server):
        # botocore refuses MaxItems=0 client-side.
        message = raw_validation_error(server, "/2015-03-31/functions/?MaxItems=0", method="GET")
        assert message == validation_message(
            violation(0, "maxItems", "Member must have value greater than or equal to 1")
        )


# ============================================================================================
# UpdateFunctionConfiguration


class TestUpdateFunctionConfiguration:
    def test_changes_are_reflected_in_get_function(self, server):
        name = unique_name("updconf")
        server.create_function(name)

        server.lambda_client.update_function_configuration(
            FunctionName=name, Description="new description", Timeout=42, MemorySize=512,
            Environment={"Variables": {"MODE": "updated"}}, Runtime="python3.13",
        )

        config = eventually(
            lambda: (c := server.lambda_client.get_function_configuration(FunctionName=name))
            and c["LastUpdateStatus"] == "Successful" and c,
            what="update to finish",
        )
        assert config["Description"] == "new description"
        assert config["Timeout"] == 42
        assert config["MemorySize"] == 512
        assert config["Environment"] == {"Variables": {"MODE": "updated"}}
        assert config["Runtime"] == "python3.13"

    def test_each_update_changes_the_revision_id(self, server):
        name = unique_name("revs")
        first = server.create_function(name)["RevisionId"]

        second = server.lambda_client.update_function_configuration(FunctionName=name, Timeout=5)["RevisionId"]
        third = server.lambda_client.update_function_configuration(FunctionName=name, Timeout=6)["RevisionId"]

        assert len({first, second, third}) == 3
        assert server.lambda_client.get_function(FunctionName=name)["Configuration"]["RevisionId"] == third

    def test_matching_revision_id_is_accepted(self, server):
        name = unique_name("revok")
        revision = server.create_function(name)["RevisionId"]

        res = server.lambda_client.update_function_configuration(FunctionName=name, Timeout=9, RevisionId=revision)

        assert res["Timeout"] == 9

    def test_stale_revision_id_fails_the_precondition(self, server):
        name = unique_name("revbad")
        stale = server.create_function(name)["RevisionId"]
        server.lambda_client.update_function_configuration(FunctionName=name, Timeout=5)

        err = aws_error(server.lambda_client.update_function_configuration,
                        FunctionName=name, Timeout=7, RevisionId=stale)

        assert_aws_error(err, 412, "PreconditionFailedException", PRECONDITION_FAILED)
        assert err["Type"] == "User"
        assert server.lambda_client.get_function_configuration(FunctionName=name)["Timeout"] == 5

    def test_unknown_function_is_not_found(self, server):
        name = unique_name("missing")
        err = aws_error(server.lambda_client.update_function_configuration, FunctionName=name, Timeout=5)
        assert_aws_error(err, 404, "ResourceNotFoundException")

    def test_timeout_above_900_is_refused(self, server):
        name = unique_name("updbad")
        server.create_function(name)
        err = aws_error(server.lambda_client.update_function_configuration, FunctionName=name, Timeout=901)
        assert_aws_error(err, 400, "ValidationException", validation_message(
            violation(901, "timeout", "Member must have value less than or equal to 900")
        ))

    def test_reserved_environment_keys_are_refused(self, server):
        name = unique_name("updres")
        server.create_function(name)
        err = aws_error(server.lambda_client.update_function_configuration, FunctionName=name,
                        Environment={"Variables": {"AWS_REGION": "eu-west-1"}})
        assert_aws_error(err, 400, "InvalidParameterValueException")
        assert err["Error"]["Message"].endswith("Reserved keys used in this request: AWS_REGION")

    def test_deprecated_runtime_is_refused(self, server):
        name = unique_name("upddep")
        server.create_function(name)
        err = aws_error(server.lambda_client.update_function_configuration, FunctionName=name, Runtime="python3.7")
        assert_aws_error(err, 400, "InvalidParameterValueException", (
            "The runtime parameter of python3.7 is no longer supported for creating or updating AWS Lambda functions. "
            "We recommend you use a supported runtime while creating or updating functions."
        ))

    def test_refused_update_changes_nothing(self, server):
        name = unique_name("updnoop")
        before = server.create_function(name)
        aws_error(server.lambda_client.update_function_configuration, FunctionName=name, Timeout=901, Description="x")
        after = server.lambda_client.get_function_configuration(FunctionName=name)
        assert (after["Timeout"], after["Description"], after["RevisionId"]) == (3, "", before["RevisionId"])


# ============================================================================================
# UpdateFunctionCode

V1_SOURCE = "def handler(event, context):\n    return {'code': 'v1'}\n"
V2_SOURCE = "def handler(event, context):\n    return {'code': 'v2'}\n"


class TestUpdateFunctionCode:
    def test_reports_the_new_code_hash_and_size(self, server):
        name = unique_name("updcode")
        server.create_function(name, package=python_package(V1_SOURCE), handler="app.handler")
        new = python_package(V2_SOURCE, extra={"padding.txt": "x" * 100})

        res = server.lambda_client.update_function_code(FunctionName=name, ZipFile=new)

        assert (res["CodeSha256"], res["CodeSize"]) == (code_sha256(new), len(new))
        config = server.lambda_client.get_function_configuration(FunctionName=name)
        assert (config["CodeSha256"], config["CodeSize"]) == (code_sha256(new), len(new))

    def test_invoking_afterwards_runs_the_new_code(self, server):
        name = unique_name("newcode")
        server.create_function(name, package=python_package(V1_SOURCE), handler="app.handler")
        first = server.lambda_client.invoke(FunctionName=name)
        assert json.loads(first["Payload"].read()) == {"code": "v1"}

        server.lambda_client.update_function_code(FunctionName=name, ZipFile=python_package(V2_SOURCE))
        eventually(lambda: server.lambda_client.get_function_configuration(FunctionName=name)["LastUpdateStatus"]
                   == "Successful", what="code update to finish")

        second = server.lambda_client.invoke(FunctionName=name)
        assert json.loads(second["Payload"].read()) == {"code": "v2"}

    def test_bytes_that_are_not_a_zip_are_refused(self, server):
        name = unique_name("badzip")
        server.create_function(name)
        err = aws_error(server.lambda_client.update_function_code, FunctionName=name, ZipFile=b"not a zip")
        assert_aws_error(err, 400, "InvalidParameterValueException", COULD_NOT_UNZIP)

    def test_stale_revision_id_fails_the_precondition(self, server):
        name = unique_name("coderev")
        stale = server.create_function(name)["RevisionId"]
        server.lambda_client.update_function_configuration(FunctionName=name, Timeout=5)

        err = aws_error(server.lambda_client.update_function_code,
                        FunctionName=name, ZipFile=python_package(V2_SOURCE), RevisionId=stale)

        assert_aws_error(err, 412, "PreconditionFailedException", PRECONDITION_FAILED)

    def test_with_publish_returns_the_new_version_with_its_qualified_arn(self, server):
        # Recorded against AWS: UpdateFunctionCode(Publish=True) answers with the new version's
        # configuration, FunctionArn "...:function:NAME:1" (LocalStack test_publish_with_update).
        name = unique_name("codepub")
        server.create_function(name, package=python_package(V1_SOURCE), handler="app.handler")

        res = server.lambda_client.update_function_code(FunctionName=name, ZipFile=python_package(V2_SOURCE), Publish=True)

        assert (res["Version"], res["FunctionArn"]) == ("1", function_arn(name, "1"))

    def test_dry_run_changes_nothing(self, server):
        name = unique_name("codedry")
        original = python_package(V1_SOURCE)
        before = server.create_function(name, package=original, handler="app.handler")

        server.lambda_client.update_function_code(FunctionName=name, ZipFile=python_package(V2_SOURCE), DryRun=True)

        after = server.lambda_client.get_function_configuration(FunctionName=name)
        assert (after["CodeSha256"], after["CodeSize"], after["RevisionId"]) == (
            code_sha256(original), len(original), before["RevisionId"],
        )
        assert json.loads(server.lambda_client.invoke(FunctionName=name)["Payload"].read()) == {"code": "v1"}


# ============================================================================================
# DeleteFunction


class TestDeleteFunction:
    def test_returns_204_and_the_function_is_gone(self, server):
        name = unique_name("delete")
        server.create_function(name)

        res = server.lambda_client.delete_function(FunctionName=name)

        assert res["ResponseMetadata"]["HTTPStatusCode"] == 204
        err = aws_error(server.lambda_client.get_function, FunctionName=name)
        assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(name)}")

    def test_deleted_function_is_not_listed(self, server):
        name = unique_name("dellist")
        server.create_function(name)
        server.lambda_client.delete_function(FunctionName=name)

        collected, _ = list_all(server.lambda_client, page_size=50)

        assert name not in [f["FunctionName"] for f in collected]

    def test_unknown_function_is_not_found(self, server):
        name = unique_name("missing")
        err = aws_error(server.lambda_client.delete_function, FunctionName=name)
        assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(name)}")

    def test_name_can_be_reused_after_delete(self, server):
        name = unique_name("reuse")
        server.create_function(name)
        server.lambda_client.delete_function(FunctionName=name)

        res = server.create_function(name)

        assert res["ResponseMetadata"]["HTTPStatusCode"] == 201


# ============================================================================================
# Tags


class TestTags:
    def test_tag_resource_adds_tags(self, server):
        name = unique_name("tagadd")
        server.create_function(name)

        server.lambda_client.tag_resource(Resource=function_arn(name), Tags={"a": "1", "b": "2"})

        assert server.lambda_client.list_tags(Resource=function_arn(name))["Tags"] == {"a": "1", "b": "2"}

    def test_tagging_an_existing_key_overwrites_it(self, server):
        name = unique_name("tagover")
        server.create_function(name, Tags={"a": "1", "b": "2"})

        server.lambda_client.tag_resource(Resource=function_arn(name), Tags={"b": "3", "c": "4"})

        assert server.lambda_client.list_tags(Resource=function_arn(name))["Tags"] == {"a": "1", "b": "3", "c": "4"}

    def test_untag_resource_removes_the_given_keys(self, server):
        name = unique_name("tagrm")
        server.create_function(name, Tags={"a": "1", "b": "2", "c": "3"})

        server.lambda_client.untag_resource(Resource=function_arn(name), TagKeys=["a", "c"])

        assert server.lambda_client.list_tags(Resource=function_arn(name))["Tags"] == {"b": "2"}

    def test_untagging_a_missing_key_is_fine(self, server):
        name = unique_name("tagnone")
        server.create_function(name, Tags={"a": "1"})

        res = server.lambda_client.untag_resource(Resource=function_arn(name), TagKeys=["no-such-key"])

        assert res["ResponseMetadata"]["HTTPStatusCode"] == 204
        assert server.lambda_client.list_tags(Resource=function_arn(name))["Tags"] == {"a": "1"}

    def test_list_tags_of_untagged_function_is_empty(self, server):
        name = unique_name("tagempty")
        server.create_function(name)
        assert server.lambda_client.list_tags(Resource=function_arn(name))["Tags"] == {}

    def test_qualified_arn_is_refused(self, server):
        name = unique_name("tagqual")
        server.create_function(name, Publish=True)

        err = aws_error(server.lambda_client.tag_resource, Resource=function_arn(name, "1"), Tags={"a": "1"})

        assert_aws_error(err, 400, "InvalidParameterValueException",
                         "Tags on function aliases and versions are not supported. Please specify a function ARN.")

    def test_unknown_function_is_not_found(self, server):
        arn = function_arn(unique_name("tagmissing"))
        err = aws_error(server.lambda_client.tag_resource, Resource=arn, Tags={"a": "1"})
        assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {arn}")

    def test_list_tags_of_unknown_function_is_not_found(self, server):
        arn = function_arn(unique_name("tagmissing"))
        err = aws_error(server.lambda_client.list_tags, Resource=arn)
        assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {arn}")

    def test_tagging_beyond_50_tags_in_total_is_refused(self, server):
        name = unique_name("taglimit")
        server.create_function(name, Tags={"existing": "1"})

        err = aws_error(server.lambda_client.tag_resource, Resource=function_arn(name),
                        Tags={f"key{i}": "v" for i in range(50)})

        assert_aws_error(err, 400, "InvalidParameterValueException", "Number of tags exceeds resource tag limit.")
        assert server.lambda_client.list_tags(Resource=function_arn(name))["Tags"] == {"existing": "1"}

    def test_tagging_with_no_tags_is_refused(self, server):
        name = unique_name("tagnothing")
        server.create_function(name)
        err = aws_error(server.lambda_client.tag_resource, Resource=function_arn(name), Tags={})
        assert_aws_error(err, 400, "InvalidParameterValueException",
                         "An error occurred and the request cannot be processed.")

    def test_untagging_without_tag_keys_is_a_validation_error(self, server):
        # botocore requires TagKeys, so the request goes over raw HTTP.
        name = unique_name("untagnothing")
        server.create_function(name)
        arn = function_arn(name).replace(":", "%3A")
        message = raw_validation_error(server, f"/2017-03-31/tags/{arn}", method="DELETE")
        assert message == "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"

    def test_resource_must_be_a_lambda_arn(self, server):
        err = aws_error(server.lambda_client.tag_resource, Resource="arn:aws:something", Tags={"a": "1"})
        assert_aws_error(err, 400, "ValidationException")
        assert err["Error"]["Message"].startswith(
            "1 validation error detected: Value 'arn:aws:something' at 'resource' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: "
        ), err["Error"]["Message"]


# ============================================================================================
# GetAccountSettings (a server of its own: it counts every function)


class TestAccountSettings:
    def test_reports_the_account_limits(self, fresh_server):
        limits = fresh_server.lambda_client.get_account_settings()["AccountLimit"]
        assert limits == {
            "TotalCodeSize": 80530636800,
            "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800,
            "ConcurrentExecutions": 1000,
            "UnreservedConcurrentExecutions": 1000,
        }

    def test_usage_of_an_empty_account_is_zero(self, fresh_server):
        usage = fresh_server.lambda_client.get_account_settings()["AccountUsage"]
        assert (usage["FunctionCount"], usage["TotalCodeSize"]) == (0, 0)

    def test_usage_counts_created_functions_and_their_code(self, fresh_server):
        small = python_package()
        large = python_package(extra={"blob.bin": bytes(range(256)) * 40})
        fresh_server.create_function(unique_name("usage"), package=small)
        fresh_server.create_function(unique_name("usage"), package=large)

        usage = fresh_server.lambda_client.get_account_settings()["AccountUsage"]

        assert (usage["FunctionCount"], usage["TotalCodeSize"]) == (2, len(small) + len(large))

    def test_usage_drops_when_a_function_is_deleted(self, fresh_server):
        keep, drop = unique_name("keep"), unique_name("drop")
        package = python_package()
        fresh_server.create_function(keep, package=package)
        fresh_server.create_function(drop, package=python_package(extra={"x.txt": "x" * 500}))

        fresh_server.lambda_client.delete_function(FunctionName=drop)

        usage = fresh_server.lambda_client.get_account_settings()["AccountUsage"]
        assert (usage["FunctionCount"], usage["TotalCodeSize"]) == (1, len(package))


# ============================================================================================
# Routing and request parsing


class TestProtocol:
    def test_unknown_route_is_a_404_json_error(self, server):
        res = server.raw("GET", "/2015-03-31/nonsense")

        assert res.status == 404
        assert res.headers.get("x-amzn-errortype"), res.headers
        assert res.headers.get("content-type", "").startswith("application/json")
        assert isinstance(res.json(), dict)

    def test_malformed_json_body_is_invalid_request_content(self, server):
        res = server.raw("POST", "/2015-03-31/functions", "{")

        assert res.status == 400
        assert raw_error_code(res) == "InvalidRequestContentException"
        assert isinstance(raw_error_message(res), str)

    def test_every_response_carries_a_request_id(self, server):
        res = server.lambda_client.list_functions(MaxItems=1)
        assert res["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")
