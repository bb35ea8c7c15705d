"""Versions, aliases and qualifiers through boto3: PublishVersion, ListVersionsByFunction, the alias
operations with routing configurations, every form of function name on Invoke, weighted routing,
and deployments while the function is under load.

What the runtime sees is reported by a Python handler (awslambdaric): the invoked function ARN,
AWS_LAMBDA_FUNCTION_VERSION, and two marks that tell deployments apart (MARK from the
environment, CODE from the package).
"""

from __future__ import annotations

import json
import math
import threading
import time

import pytest

from helpers import (
    ACCOUNT,
    PRECONDITION_FAILED,
    assert_aws_error,
    aws_error,
    code_sha256,
    eventually,
    function_arn,
    python_package,
    unique_name,
    validation_message,
    violation,
)

REPORT_APP = '''
import os

CODE = "%s"


def report(event, context):
    return {
        "arn": context.invoked_function_arn,
        "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
        "mark": os.environ.get("MARK"),
        "code": CODE,
    }
'''

ALIAS_PATTERN = "(?!^[0-9]+$)([a-zA-Z0-9-_]+)"
WEIGHT_CONSTRAINT = (
    "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, "
    "Member must have value greater than or equal to 0.0, Member must not be null]"
)
WEIGHT_KEY_CONSTRAINT = (
    "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, "
    "Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]"
)
QUALIFIER_MISMATCH = "The derived qualifier from the function name does not match the specified qualifier."


def report_package(code: str = "c0") -> bytes:
    return python_package(REPORT_APP % code)


def create(server, prefix: str = "ver", mark: str = "m0", code: str = "c0", **kwargs) -> str:
    """A function whose handler reports what the runtime sees; returns its name."""
    name = unique_name(prefix)
    server.create_function(name, package=report_package(code), handler="app.report",
                           Environment={"Variables": {"MARK": mark}}, **kwargs)
    return name


def wait_updated(client, name: str) -> None:
    """Waits for the last update to take effect (LastUpdateStatus Successful), as AWS clients do."""
    eventually(lambda: client.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful",
               timeout=15, what=f"{name} updated")


def set_mark(client, name: str, mark: str) -> dict:
    res = client.update_function_configuration(FunctionName=name, Environment={"Variables": {"MARK": mark}})
    wait_updated(client, name)
    return res


def set_code(client, name: str, code: str) -> dict:
    res = client.update_function_code(FunctionName=name, ZipFile=report_package(code))
    wait_updated(client, name)
    return res


def invoke(client, function_name: str, **kwargs) -> tuple[dict, dict]:
    res = client.invoke(FunctionName=function_name, Payload=b"{}", **kwargs)
    payload = json.loads(res["Payload"].read())
    assert "FunctionError" not in res, payload
    return res, payload


def status(res: dict) -> int:
    return res["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def two_versions(server) -> str:
    """A function with versions 1 (MARK one) and 2 (MARK two); $LATEST has MARK latest."""
    c = server.lambda_client
    name = create(server, "two", mark="one")
    assert c.publish_version(FunctionName=name)["Version"] == "1"
    set_mark(c, name, "two")
    assert c.publish_version(FunctionName=name)["Version"] == "2"
    set_mark(c, name, "latest")
    return name


@pytest.fixture(scope="module")
def deployed(server, two_versions) -> str:
    """`two_versions` with an alias `live` on version 1."""
    server.lambda_client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1")
    return two_versions


# ============================================================================================
# PublishVersion


class TestPublishVersion:
    def test_first_publish_is_version_1_with_a_qualified_arn(self, server):
        name = create(server)

        res = server.lambda_client.publish_version(FunctionName=name)

        assert status(res) == 201
        assert (res["Version"], res["FunctionArn"]) == ("1", function_arn(name, "1"))

    def test_publishing_an_unchanged_latest_returns_the_existing_version(self, server):
        name = create(server)
        first = server.lambda_client.publish_version(FunctionName=name)

        again = server.lambda_client.publish_version(FunctionName=name)

        assert (again["Version"], again["RevisionId"]) == ("1", first["RevisionId"])

    def test_a_new_description_alone_does_not_create_a_version(self, server):
        # Recorded against AWS (LocalStack test_version_lifecycle): the third publish, with only a
        # new Description, answers with version 2 and version 2's own description.
        name = create(server)
        first = server.lambda_client.publish_version(FunctionName=name, Description="first")

        again = server.lambda_client.publish_version(FunctionName=name, Description="second")

        assert (again["Version"], again["Description"], again["RevisionId"]) == ("1", "first", first["RevisionId"])
        versions = server.lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
        assert [v["Version"] for v in versions] == ["$LATEST", "1"]

    def test_publish_takes_its_description_from_the_request(self, server):
        name = create(server, Description="latest's description")

        res = server.lambda_client.publish_version(FunctionName=name, Description="release 1")

        assert res["Description"] == "release 1"

    def test_a_configuration_change_makes_the_next_publish_a_new_version(self, server):
        name = create(server)
        server.lambda_client.publish_version(FunctionName=name)
        set_mark(server.lambda_client, name, "changed")

        res = server.lambda_client.publish_version(FunctionName=name)

        assert (res["Version"], res["Environment"]) == ("2", {"Variables": {"MARK": "changed"}})

    def test_a_description_change_of_latest_makes_the_next_publish_a_new_version(self, server):
        # Recorded against AWS (LocalStack test_version_lifecycle): after UpdateFunctionConfiguration
        # changed only the Description, PublishVersion created version 2.
        name = create(server)
        server.lambda_client.publish_version(FunctionName=name)
        server.lambda_client.update_function_configuration(FunctionName=name, Description="second")
        wait_updated(server.lambda_client, name)

        res = server.lambda_client.publish_version(FunctionName=name)

        assert (res["Version"], res["Description"]) == ("2", "second")

    def test_publishing_changes_the_revision_id_of_latest(self, server):
        name = create(server)
        before = server.lambda_client.get_function_configuration(FunctionName=name)["RevisionId"]

        server.lambda_client.publish_version(FunctionName=name)

        assert server.lambda_client.get_function_configuration(FunctionName=name)["RevisionId"] != before

    def test_the_code_sha256_of_latest_is_accepted(self, server):
        name = create(server)

        res = server.lambda_client.publish_version(FunctionName=name, CodeSha256=code_sha256(report_package()))

        assert res["Version"] == "1"

    def test_a_different_code_sha256_is_refused(self, server):
        name = create(server)

        err = aws_error(server.lambda_client.publish_version, FunctionName=name, CodeSha256="somenonexistentsha256")

        assert_aws_error(err, 400, "InvalidParameterValueException",
                         f"CodeSHA256 (somenonexistentsha256) is different from current CodeSHA256 in $LATEST "
                         f"({code_sha256(report_package())}). Please try again with the CodeSHA256 in $LATEST.")

    def test_a_stale_revision_id_fails_the_precondition(self, server):
        name = create(server)
        stale = server.lambda_client.get_function_configuration(FunctionName=name)["RevisionId"]
        set_mark(server.lambda_client, name, "newer")

        err = aws_error(server.lambda_client.publish_version, FunctionName=name, RevisionId=stale)

        assert_aws_error(err, 412, "PreconditionFailedException", PRECONDITION_FAILED)

    def test_the_current_revision_id_is_accepted(self, server):
        name = create(server)
        current = server.lambda_client.get_function_configuration(FunctionName=name)["RevisionId"]

        res = server.lambda_client.publish_version(FunctionName=name, RevisionId=current)

        assert res["Version"] == "1"

    def test_version_numbers_are_never_reused(self, server):
        c = server.lambda_client
        name = create(server, mark="a")
        c.publish_version(FunctionName=name)
        set_mark(c, name, "b")
        assert c.publish_version(FunctionName=name)["Version"] == "2"
        c.delete_function(FunctionName=name, Qualifier="2")
        set_mark(c, name, "c")

        res = c.publish_version(FunctionName=name)

        assert res["Version"] == "3"
        assert [v["Version"] for v in c.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "1", "3"]

    def test_a_version_keeps_its_configuration_when_latest_changes(self, server, two_versions):
        config = server.lambda_client.get_function_configuration(FunctionName=two_versions, Qualifier="1")

        assert (config["Version"], config["Environment"]) == ("1", {"Variables": {"MARK": "one"}})

    def test_publishing_an_unknown_function_is_not_found(self, server):
        name = unique_name("nopub")
        err = aws_error(server.lambda_client.publish_version, FunctionName=name)
        assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(name)}")


class TestPublishOnCreateAndUpdate:
    def test_create_function_with_publish_creates_version_1(self, server):
        # Recorded against AWS (LocalStack test_publish_version_on_create): the response has
        # Version "1" and the unqualified FunctionArn.
        name = create(server, Publish=True)

        versions = server.lambda_client.list_versions_by_function(FunctionName=name)["Versions"]

        assert [(v["Version"], v["FunctionArn"]) for v in versions] == [
            ("$LATEST", function_arn(name, "$LATEST")), ("1", function_arn(name, "1")),
        ]

    def test_create_function_with_publish_answers_with_version_1(self, server):
        name = unique_name("pubcreate")

        res = server.create_function(name, package=report_package(), handler="app.report", Publish=True)

        assert (status(res), res["Version"], res["FunctionArn"]) == (201, "1", function_arn(name))

    def test_update_function_code_with_publish_answers_with_the_new_version(self, server):
        name = create(server, Publish=True)

        res = server.lambda_client.update_function_code(FunctionName=name, ZipFile=report_package("c1"), Publish=True)

        assert (res["Version"], res["FunctionArn"]) == ("2", function_arn(name, "2"))
        assert res["CodeSha256"] == code_sha256(report_package("c1"))

    def test_the_version_published_by_update_function_code_runs_the_new_code(self, server):
        name = create(server, Publish=True)
        server.lambda_client.update_function_code(FunctionName=name, ZipFile=report_package("c1"), Publish=True)

        _, first = invoke(server.lambda_client, name, Qualifier="1")
        _, second = invoke(server.lambda_client, name, Qualifier="2")

        assert (first["code"], second["code"]) == ("c0", "c1")


# ============================================================================================
# ListVersionsByFunction


class TestListVersionsByFunction:
    def test_lists_latest_then_the_versions_with_qualified_arns(self, server, two_versions):
        versions = server.lambda_client.list_versions_by_function(FunctionName=two_versions)["Versions"]

        assert [(v["Version"], v["FunctionArn"]) for v in versions] == [
            ("$LATEST", function_arn(two_versions, "$LATEST")),
            ("1", function_arn(two_versions, "1")),
            ("2", function_arn(two_versions, "2")),
        ]
        assert [v["Environment"]["Variables"]["MARK"] for v in versions] == ["latest", "one", "two"]

    def test_pages_one_version_at_a_time(self, server, two_versions):
        seen, markers, marker = [], [], None
        while True:
            kwargs = {"Marker": marker} if marker else {}
            page = server.lambda_client.list_versions_by_function(FunctionName=two_versions, MaxItems=1, **kwargs)
            assert len(page["Versions"]) == 1
            seen.append(page["Versions"][0]["Version"])
            marker = page.get("NextMarker")
            if not marker:
                break
            markers.append(marker)
            assert len(seen) < 10, "pagination does not end"

        assert seen == ["$LATEST", "1", "2"]
        assert len(set(markers)) == 2

    def test_unknown_function_is_not_found(self, server):
        name = unique_name("nolist")
        err = aws_error(server.lambda_client.list_versions_by_function, FunctionName=name)
        assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(name)}")


# ============================================================================================
# Aliases


def alias_name() -> str:
    return unique_name("alias")


class TestAliasLifecycle:
    def test_create_alias_answers_201_with_the_alias(self, server, two_versions):
        name = alias_name()

        res = server.lambda_client.create_alias(
            FunctionName=two_versions, Name=name, FunctionVersion="1", Description="custom-alias",
            RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}},
        )

        assert status(res) == 201
        assert res["AliasArn"] == function_arn(two_versions, name)
        assert (res["Name"], res["FunctionVersion"], res["Description"]) == (name, "1", "custom-alias")
        assert res["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.2}}
        assert res["RevisionId"]

    def test_alias_without_routing_has_no_routing_config_and_an_empty_description(self, server, two_versions):
        res = server.lambda_client.create_alias(FunctionName=two_versions, Name=alias_name(), FunctionVersion="2")

        assert res["Description"] == ""
        assert "RoutingConfig" not in res

    def test_an_alias_may_point_at_latest(self, server, two_versions):
        name = alias_name()

        res = server.lambda_client.create_alias(FunctionName=two_versions, Name=name, FunctionVersion="$LATEST")

        assert (status(res), res["FunctionVersion"]) == (201, "$LATEST")

    def test_alias_names_may_start_with_digits(self, server, two_versions):
        res = server.lambda_client.create_alias(FunctionName=two_versions, Name="2024-01-02", FunctionVersion="1")
        assert res["AliasArn"] == function_arn(two_versions, "2024-01-02")

    def test_get_alias_returns_what_create_returned(self, server, two_versions):
        name = alias_name()
        created = server.lambda_client.create_alias(
            FunctionName=two_versions, Name=name, FunctionVersion="1", Description="d",
            RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
        )
        created.pop("ResponseMetadata")

        got = server.lambda_client.get_alias(FunctionName=two_versions, Name=name)

        assert status(got) == 200
        got.pop("ResponseMetadata")
        assert got == created

    def test_update_alias_repoints_it_with_a_new_revision_id(self, server, two_versions):
        name = alias_name()
        created = server.lambda_client.create_alias(FunctionName=two_versions, Name=name, FunctionVersion="1")

        updated = server.lambda_client.update_alias(FunctionName=two_versions, Name=name, FunctionVersion="2",
                                                    Description="now 2")

        assert (status(updated), updated["FunctionVersion"], updated["Description"]) == (200, "2", "now 2")
        assert updated["RevisionId"] != created["RevisionId"]
        assert server.lambda_client.get_alias(FunctionName=two_versions, Name=name)["FunctionVersion"] == "2"

    def test_update_alias_with_the_current_revision_id_is_accepted(self, server, two_versions):
        name = alias_name()
        created = server.lambda_client.create_alias(FunctionName=two_versions, Name=name, FunctionVersion="1")

        updated = server.lambda_client.update_alias(FunctionName=two_versions, Name=name, FunctionVersion="2",
                                                    RevisionId=created["RevisionId"])

        assert updated["FunctionVersion"] == "2"

    def test_update_alias_with_a_stale_revision_id_fails_the_precondition(self, server, two_versions):
        name = alias_name()
        created = server.lambda_client.create_alias(FunctionName=two_versions, Name=name, FunctionVersion="1")
        server.lambda_client.update_alias(FunctionName=two_versions, Name=name, Description="changed")

        err = aws_error(server.lambda_client.update_alias, FunctionName=two_versions, Name=name,
                        FunctionVersion="2", RevisionId=created["RevisionId"])

        assert_aws_error(err, 412, "PreconditionFailedException", PRECONDITION_FAILED)
        assert server.lambda_client.get_alias(FunctionName=two_versions, Name=name)["FunctionVersion"] == "1"

    def test_update_alias_can_add_routing(self, server, two_versions):
        name = alias_name()
        server.lambda_client.create_alias(FunctionName=two_versions, Name=name, FunctionVersion="1")

        updated = server.lambda_client.update_alias(FunctionName=two_versions, Name=name,
                                                    RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})

        assert updated["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}

    def test_delete_alias_answers_204_and_the_alias_is_gone(self, server, two_versions):
        name = alias_name()
        server.lambda_client.create_alias(FunctionName=two_versions, Name=name, FunctionVersion="1")

        res = server.lambda_client.delete_alias(FunctionName=two_versions, Name=name)

        assert status(res) == 204
        err = aws_error(server.lambda_client.get_alias, FunctionName=two_versions, Name=name)
        assert_aws_error(err, 404, "ResourceNotFoundException")

    def test_deleting_a_missing_alias_answers_204(self, server, two_versions):
        res = server.lambda_client.delete_alias(FunctionName=two_versions, Name="non-existent")
        assert status(res) == 204

    def test_list_aliases_lists_every_alias_of_the_function(self, server):
        fn = create(server, "aliases", Publish=True)
        c = server.lambda_client
        set_mark(c, fn, "two")
        c.publish_version(FunctionName=fn)
        for name, version in [("a-one", "1"), ("b-two", "2"), ("c-latest", "$LATEST")]:
            c.create_alias(FunctionName=fn, Name=name, FunctionVersion=version)

        aliases = c.list_aliases(FunctionName=fn)["Aliases"]

        assert sorted((a["Name"], a["FunctionVersion"], a["AliasArn"]) for a in aliases) == [
            ("a-one", "1", function_arn(fn, "a-one")),
            ("b-two", "2", function_arn(fn, "b-two")),
            ("c-latest", "$LATEST", function_arn(fn, "c-latest")),
        ]

    def test_list_aliases_filters_by_function_version(self, server):
        fn = create(server, "aliasfilter", Publish=True)
        c = server.lambda_client
        set_mark(c, fn, "two")
        c.publish_version(FunctionName=fn)
        for name, version in [("first", "1"), ("also-first", "1"), ("second", "2")]:
            c.create_alias(FunctionName=fn, Name=name, FunctionVersion=version)

        aliases = c.list_aliases(FunctionName=fn, FunctionVersion="1")["Aliases"]

        assert sorted(a["Name"] for a in aliases) == ["also-first", "first"]

    def test_list_aliases_of_a_function_without_aliases_is_empty(self, server):
        fn = create(server, "noaliases")
        assert server.lambda_client.list_aliases(FunctionName=fn)["Aliases"] == []


class TestAliasErrors:
    def test_a_second_alias_of_the_same_name_conflicts(self, server, two_versions):
        name = alias_name()
        server.lambda_client.create_alias(FunctionName=two_versions, Name=name, FunctionVersion="1")

        err = aws_error(server.lambda_client.create_alias, FunctionName=two_versions, Name=name, FunctionVersion="2")

        assert_aws_error(err, 409, "ResourceConflictException",
                         f"Alias already exists: {function_arn(two_versions, name)}")

    def test_get_alias_of_a_missing_alias_is_not_found(self, server, two_versions):
        err = aws_error(server.lambda_client.get_alias, FunctionName=two_versions, Name="non-existent")
        assert_aws_error(err, 404, "ResourceNotFoundException",
                         f"Cannot find alias arn: {function_arn(two_versions, 'non-existent')}")

    def test_update_alias_of_a_missing_alias_is_not_found(self, server, two_versions):
        err = aws_error(server.lambda_client.update_alias, FunctionName=two_versions, Name="non-existent")
        assert_aws_error(err, 404, "ResourceNotFoundException",
                         f"Alias not found: {function_arn(two_versions, 'non-existent')}")

    def test_a_purely_numeric_alias_name_is_refused(self, server, two_versions):
        err = aws_error(server.lambda_client.create_alias, FunctionName=two_versions, Name="2024", FunctionVersion="1")
        assert_aws_error(err, 400, "ValidationException", validation_message(
            violation("2024", "name", f"Member must satisfy regular expression pattern: {ALIAS_PATTERN}")
        ))

    def test_an_alias_to_an_unknown_version_is_not_found(self, server, two_versions):
        err = aws_error(server.lambda_client.create_alias, FunctionName=two_versions, Name=alias_name(),
                        FunctionVersion="10")
        assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(two_versions, '10')}")

    def test_an_alias_of_an_unknown_function_is_not_found(self, server):
        fn = unique_name("noalias")
        err = aws_error(server.lambda_client.create_alias, FunctionName=fn, Name="custom", FunctionVersion="1")
        assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(fn, '1')}")

    def test_deleting_a_version_an_alias_points_at_conflicts(self, server):
        fn = create(server, "aliasdel", Publish=True)
        server.lambda_client.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")

        err = aws_error(server.lambda_client.delete_function, FunctionName=fn, Qualifier="1")

        assert_aws_error(err, 409, "ResourceConflictException",
                         "Unable to delete version because the following aliases reference it: [live]")
        assert server.lambda_client.get_function(FunctionName=fn, Qualifier="1")["Configuration"]["Version"] == "1"

    def test_deleting_a_version_an_alias_routes_to_conflicts(self, server):
        fn = create(server, "routedel", Publish=True)
        c = server.lambda_client
        set_mark(c, fn, "two")
        c.publish_version(FunctionName=fn)
        c.create_alias(FunctionName=fn, Name="canary", FunctionVersion="1",
                       RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})

        err = aws_error(c.delete_function, FunctionName=fn, Qualifier="2")

        assert_aws_error(err, 409, "ResourceConflictException",
                         "Unable to delete version because the following aliases reference it: [canary]")


class TestRoutingConfigValidation:
    """AWS's answers to invalid AdditionalVersionWeights (LocalStack test_notfound_and_invalid_routingconfigs)."""

    def create(self, server, fn: str, version: str, weights: dict):
        return aws_error(server.lambda_client.create_alias, FunctionName=fn, Name=alias_name(),
                         FunctionVersion=version, RoutingConfig={"AdditionalVersionWeights": weights})

    def test_a_weight_above_1_is_refused(self, server, two_versions):
        err = self.create(server, two_versions, "1", {"2": 2.0})
        assert_aws_error(err, 400, "ValidationException", validation_message(
            violation("{2=2.0}", "routingConfig.additionalVersionWeights", WEIGHT_CONSTRAINT)
        ))

    def test_latest_is_not_a_routing_key(self, server, two_versions):
        err = self.create(server, two_versions, "1", {"$LATEST": 0.5})
        assert_aws_error(err, 400, "ValidationException", validation_message(
            violation("{$LATEST=0.5}", "routingConfig.additionalVersionWeights", WEIGHT_KEY_CONSTRAINT)
        ))

    def test_the_primary_version_cannot_also_be_weighted(self, server, two_versions):
        err = self.create(server, two_versions, "1", {"1": 0.5})
        assert_aws_error(err, 400, "InvalidParameterValueException",
                         "Invalid function version 1. Function version 1 is already included in routing configuration.")

    def test_at_most_one_additional_version(self, server, two_versions):
        err = self.create(server, two_versions, "1", {"1": 0.8, "2": 0.2})
        assert_aws_error(err, 400, "InvalidParameterValueException",
                         "Number of items in AdditionalVersionWeights cannot be greater than 1")

    def test_an_alias_on_latest_cannot_route_to_another_version(self, server, two_versions):
        err = self.create(server, two_versions, "$LATEST", {"1": 0.5})
        assert_aws_error(err, 400, "InvalidParameterValueException",
                         "$LATEST is not supported for an alias pointing to more than 1 version")

    def test_an_unknown_weighted_version_is_not_found(self, server, two_versions):
        err = self.create(server, two_versions, "1", {"10": 0.5})
        assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(two_versions, '10')}")

    def test_an_empty_routing_config_is_accepted(self, server, two_versions):
        res = server.lambda_client.create_alias(FunctionName=two_versions, Name=alias_name(), FunctionVersion="1",
                                                RoutingConfig={"AdditionalVersionWeights": {}})
        assert status(res) == 201

    def test_update_alias_validates_routing_too(self, server, two_versions):
        name = alias_name()
        server.lambda_client.create_alias(FunctionName=two_versions, Name=name, FunctionVersion="1")

        err = aws_error(server.lambda_client.update_alias, FunctionName=two_versions, Name=name,
                        RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})

        assert_aws_error(err, 400, "InvalidParameterValueException",
                         "Invalid function version 1. Function version 1 is already included in routing configuration.")


class TestGetFunctionByAlias:
    def test_shows_the_alias_arn_and_the_version_it_points_at(self, server, deployed):
        config = server.lambda_client.get_function(FunctionName=deployed, Qualifier="live")["Configuration"]

        assert (config["FunctionArn"], config["Version"]) == (function_arn(deployed, "live"), "1")
        assert config["Environment"] == {"Variables": {"MARK": "one"}}

    def test_the_alias_may_be_given_in_the_arn(self, server, deployed):
        config = server.lambda_client.get_function(FunctionName=function_arn(deployed, "live"))["Configuration"]
        assert (config["FunctionArn"], config["Version"]) == (function_arn(deployed, "live"), "1")

    def test_an_unknown_alias_is_not_found(self, server, deployed):
        err = aws_error(server.lambda_client.get_function, FunctionName=deployed, Qualifier="aliasdoesnotexist")
        assert_aws_error(err, 404, "ResourceNotFoundException",
                         f"Function not found: {function_arn(deployed, 'aliasdoesnotexist')}")


# ============================================================================================
# Invoke: every form of the function name


# (id, FunctionName template, Qualifier, invoked ARN qualifier the runtime sees, resolved version, MARK)
NAME_FORMS = [
    ("bare-name", "{name}", None, None, "$LATEST", "latest"),
    ("name-latest", "{name}:$LATEST", None, "$LATEST", "$LATEST", "latest"),
    ("name-version", "{name}:2", None, "2", "2", "two"),
    ("name-alias", "{name}:live", None, "live", "1", "one"),
    ("arn", "{arn}", None, None, "$LATEST", "latest"),
    ("arn-latest", "{arn}:$LATEST", None, "$LATEST", "$LATEST", "latest"),
    ("arn-version", "{arn}:1", None, "1", "1", "one"),
    ("arn-alias", "{arn}:live", None, "live", "1", "one"),
    ("partial-arn", "{account}:function:{name}", None, None, "$LATEST", "latest"),
    ("partial-arn-version", "{account}:function:{name}:2", None, "2", "2", "two"),
    ("partial-arn-alias", "{account}:function:{name}:live", None, "live", "1", "one"),
    ("qualifier-latest", "{name}", "$LATEST", "$LATEST", "$LATEST", "latest"),
    ("qualifier-version", "{name}", "2", "2", "2", "two"),
    ("qualifier-alias", "{name}", "live", "live", "1", "one"),
    ("arn-with-qualifier", "{arn}", "live", "live", "1", "one"),
    ("same-qualifier-twice", "{name}:2", "2", "2", "2", "two"),
]


@pytest.mark.parametrize("template, qualifier, seen_qualifier, version, mark",
                         [f[1:] for f in NAME_FORMS], ids=[f[0] for f in NAME_FORMS])
def test_invoke_resolves_every_name_form(server, deployed, template, qualifier, seen_qualifier, version, mark):
    function_name = template.format(name=deployed, arn=function_arn(deployed), account=ACCOUNT)
    kwargs = {"Qualifier": qualifier} if qualifier else {}

    res, seen = invoke(server.lambda_client, function_name, **kwargs)

    assert res["ExecutedVersion"] == version
    assert seen == {"arn": function_arn(deployed, seen_qualifier), "version": version, "mark": mark, "code": "c0"}


def test_invoke_with_conflicting_qualifiers_is_refused(server, deployed):
    err = aws_error(server.lambda_client.invoke, FunctionName=f"{deployed}:1", Qualifier="2", Payload=b"{}")
    assert_aws_error(err, 400, "InvalidParameterValueException", QUALIFIER_MISMATCH)


def test_invoke_of_an_unknown_alias_is_not_found(server, deployed):
    err = aws_error(server.lambda_client.invoke, FunctionName=deployed, Qualifier="nosuchalias", Payload=b"{}")
    assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(deployed, 'nosuchalias')}")


def test_invoke_of_an_unknown_version_is_not_found(server, deployed):
    err = aws_error(server.lambda_client.invoke, FunctionName=f"{deployed}:7", Payload=b"{}")
    assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(deployed, '7')}")


def test_invoke_of_a_deleted_version_is_not_found(server):
    c = server.lambda_client
    fn = create(server, "delver", Publish=True)
    c.delete_function(FunctionName=fn, Qualifier="1")

    err = aws_error(c.invoke, FunctionName=fn, Qualifier="1", Payload=b"{}")

    assert_aws_error(err, 404, "ResourceNotFoundException", f"Function not found: {function_arn(fn, '1')}")


def test_invoke_of_an_arn_in_another_region_is_not_reachable(server, deployed):
    arn = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{deployed}"
    err = aws_error(server.lambda_client.invoke, FunctionName=arn, Payload=b"{}")
    assert_aws_error(err, 404, "ResourceNotFoundException",
                     "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')")


def test_invoke_follows_an_alias_when_it_is_repointed(server):
    c = server.lambda_client
    fn = create(server, "repoint", mark="one", Publish=True)
    set_mark(c, fn, "two")
    c.publish_version(FunctionName=fn)
    c.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    assert invoke(c, fn, Qualifier="live")[1]["mark"] == "one"

    c.update_alias(FunctionName=fn, Name="live", FunctionVersion="2")

    res, seen = invoke(c, fn, Qualifier="live")
    assert (res["ExecutedVersion"], seen["mark"], seen["arn"]) == ("2", "two", function_arn(fn, "live"))


# ============================================================================================
# Weighted routing


WEIGHTED_INVOKES = 300
WEIGHT = 0.3


@pytest.fixture(scope="module")
def weighted_runs(server, two_versions) -> list[tuple[str, dict]]:
    """WEIGHTED_INVOKES invocations of an alias on version 1 that sends 30% to version 2."""
    c = server.lambda_client
    alias = alias_name()
    c.create_alias(FunctionName=two_versions, Name=alias, FunctionVersion="1",
                   RoutingConfig={"AdditionalVersionWeights": {"2": WEIGHT}})
    runs = []
    for _ in range(WEIGHTED_INVOKES):
        res, seen = invoke(c, two_versions, Qualifier=alias)
        runs.append((res["ExecutedVersion"], seen))
    return [(alias, *run) for run in runs]


def test_weighted_alias_reaches_both_versions(weighted_runs):
    assert {executed for _, executed, _ in weighted_runs} == {"1", "2"}


def test_weighted_alias_sends_the_configured_share_to_the_additional_version(weighted_runs):
    n = len(weighted_runs)
    share = sum(1 for _, executed, _ in weighted_runs if executed == "2") / n
    tolerance = 5 * math.sqrt(WEIGHT * (1 - WEIGHT) / n)  # five standard deviations of a binomial share
    assert abs(share - WEIGHT) <= tolerance, f"version 2 got {share:.3f} of {n} invokes, expected {WEIGHT} ± {tolerance:.3f}"


def test_weighted_alias_runs_the_version_it_reports(weighted_runs):
    marks = {"1": "one", "2": "two"}
    assert all(seen["version"] == executed and seen["mark"] == marks[executed] for _, executed, seen in weighted_runs)


def test_weighted_alias_shows_the_runtime_the_alias_arn(weighted_runs, two_versions):
    alias = weighted_runs[0][0]
    assert {seen["arn"] for _, _, seen in weighted_runs} == {function_arn(two_versions, alias)}


# ============================================================================================
# Deployments under load


INVOKERS = 4
ROUNDS = 5
AFTER_LAST = 5  # invokes each invoker starts after the last deployment
LOAD_DEADLINE = 40.0


@pytest.fixture(scope="module")
def rollout(server):
    """Four threads invoke $LATEST without pause while the main thread, five times, updates the code,
    then the configuration, then publishes.

    Returns the function name, the states $LATEST went through with the times each could first and
    last be seen, the invocations with their start and end times, and the versions published.
    """
    c = server.lambda_client
    fn = create(server, "rollout", mark="m0", code="c0")
    invoke(c, fn)  # one warm environment before the load starts
    # Each state: [(code, mark), earliest time it may be seen, time from which it must not be seen any more].
    states: list[list] = [[("c0", "m0"), 0.0, math.inf]]
    last_deployed = threading.Event()
    last_deployed_at = [math.inf]
    runs: list[tuple[float, float, object]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + LOAD_DEADLINE

    def invoker():
        client = server.new_client()
        after_last = 0
        while after_last < AFTER_LAST and time.monotonic() < deadline:
            started = time.monotonic()
            try:
                res = client.invoke(FunctionName=fn, Payload=b"{}")
                body = json.loads(res["Payload"].read())
                outcome = ("error", res["FunctionError"], body) if "FunctionError" in res else ("ok", body)
            except Exception as e:  # noqa: BLE001 - any failure of the call counts as a failed invoke
                outcome = ("exception", repr(e))
            with lock:
                runs.append((started, time.monotonic(), outcome))
            if last_deployed.is_set() and started > last_deployed_at[0]:
                after_last += 1

    def deploy(change, state):
        started = time.monotonic()
        change()
        done = time.monotonic()  # the change has taken effect (wait_updated)
        states[-1][2] = done
        states.append([state, started, math.inf])

    threads = [threading.Thread(target=invoker, daemon=True) for _ in range(INVOKERS)]
    for t in threads:
        t.start()
    eventually(lambda: len(runs) >= 2 * INVOKERS, timeout=20, what="invokers running")
    published = {}
    for i in range(1, ROUNDS + 1):
        code, mark = f"c{i}", f"m{i}"
        deploy(lambda: set_code(c, fn, code), (code, states[-1][0][1]))
        deploy(lambda: set_mark(c, fn, mark), (code, mark))
        published[c.publish_version(FunctionName=fn)["Version"]] = (code, mark)
    last_deployed_at[0] = time.monotonic()
    last_deployed.set()
    for t in threads:
        t.join(timeout=LOAD_DEADLINE)
    assert not any(t.is_alive() for t in threads), "invokers did not stop"
    return fn, states, runs, published


def test_no_invoke_fails_during_deployments(rollout):
    _, _, runs, _ = rollout
    failures = [outcome for _, _, outcome in runs if outcome[0] != "ok"]
    assert not failures, f"{len(failures)} of {len(runs)} invokes failed: {failures[:5]}"


def test_invokers_kept_invoking_through_the_deployments(rollout):
    _, states, runs, _ = rollout
    first_change, last_change = states[1][1], states[-1][1]
    assert sum(1 for started, _, _ in runs if first_change <= started <= last_change) >= INVOKERS


def test_every_response_comes_from_a_deployed_state(rollout):
    _, states, runs, _ = rollout
    deployed = {state for state, _, _ in states}
    seen = {(o[1]["code"], o[1]["mark"]) for _, _, o in runs if o[0] == "ok"}
    assert seen <= deployed, f"responses from states never deployed: {seen - deployed}"


def test_no_response_comes_from_a_state_replaced_before_the_invoke_started(rollout):
    _, states, runs, _ = rollout
    stale = []
    for started, finished, outcome in runs:
        if outcome[0] != "ok":
            continue
        state = (outcome[1]["code"], outcome[1]["mark"])
        windows = [(first, gone) for s, first, gone in states if s == state]
        if not any(first <= finished and started < gone for first, gone in windows):
            stale.append((state, started, finished))
    assert not stale, f"{len(stale)} responses from states already replaced: {stale[:5]}; states: {states}"


def test_invokes_after_the_last_deployment_run_the_newest_state(rollout):
    _, states, runs, _ = rollout
    newest, last_took_effect = states[-1][0], states[-2][2]
    after = [outcome for started, _, outcome in runs if started > last_took_effect]
    assert len(after) >= INVOKERS * AFTER_LAST
    assert {(o[1]["code"], o[1]["mark"]) if o[0] == "ok" else repr(o) for o in after} == {newest}


def test_each_published_version_runs_what_was_published(server, rollout):
    fn, _, _, published = rollout
    assert sorted(published, key=int) == [str(i) for i in range(1, ROUNDS + 1)]
    for version, state in published.items():
        res, seen = invoke(server.lambda_client, fn, Qualifier=version)
        assert (res["ExecutedVersion"], seen["version"], (seen["code"], seen["mark"])) == (version, version, state)
