"""SSM Parameter Store through the aws CLI (/usr/bin/aws) and boto3: versions, selectors,
SecureString at rest, paths, filters, pagination, labels, history, tags and SSM's errors."""
import os
import re
import stat

import pytest

from test_ecs_support import client_error as boto_error
from test_elbv2_support import cli_error as elbv2_cli_error

ARN = "arn:aws:ssm:us-east-1:000000000000:parameter"


@pytest.fixture(autouse=True)
def responses_match_the_model(kecs):
    """Every answer matched SSM's output shapes (the daemon runs with
    KECS_VALIDATE_RESPONSES and logs any mismatch)."""
    yield
    assert "does not match its model" not in kecs.log()


def cli(kecs, *args):
    return kecs.aws("ssm", *args)


def cli_error(kecs, *args):
    return elbv2_cli_error(kecs, *args, service="ssm")


def names(out):
    return [p["Name"] for p in out["Parameters"]]


def test_put_get_versions_and_selectors_through_the_cli(kecs):
    assert cli(kecs, "put-parameter", "--name", "/app/url", "--value", "http://a", "--type", "String") == \
        {"Version": 1, "Tier": "Standard"}
    assert cli_error(kecs, "put-parameter", "--name", "/app/url", "--value", "x", "--type", "String") == (
        "ParameterAlreadyExists",
        "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
    assert cli(kecs, "put-parameter", "--name", "/app/url", "--value", "http://b", "--overwrite")["Version"] == 2
    p = cli(kecs, "get-parameter", "--name", "/app/url")["Parameter"]
    assert (p["Name"], p["Value"], p["Type"], p["Version"], p["DataType"]) == ("/app/url", "http://b", "String", 2, "text")
    assert p["ARN"] == f"{ARN}/app/url"
    old = cli(kecs, "get-parameter", "--name", "/app/url:1")["Parameter"]
    assert (old["Value"], old["Version"], old["Selector"]) == ("http://a", 1, ":1")
    assert cli_error(kecs, "get-parameter", "--name", "/app/url:9") == (
        "ParameterVersionNotFound",
        "Systems Manager could not find version 9 of /app/url. Verify the version and try again.")
    assert cli_error(kecs, "get-parameter", "--name", "/missing")[0] == "ParameterNotFound"
    assert cli(kecs, "get-parameter", "--name", f"{ARN}/app/url")["Parameter"]["Value"] == "http://b"

    got = cli(kecs, "get-parameters", "--names", "/app/url", "/app/url:1", "/nope")
    assert [p["Value"] for p in got["Parameters"]] == ["http://b", "http://a"]
    assert got["InvalidParameters"] == ["/nope"]


def test_secure_string_is_encrypted_at_rest_and_shown_only_with_decryption(kecs):
    secret = "s3cr3t-value-that-must-not-leak"
    ssm = kecs.client("ssm")
    ssm.put_parameter(Name="/db/password", Value=secret, Type="SecureString")
    ssm.put_parameter(Name="/db/key", Value=secret, Type="SecureString", KeyId="alias/custom")
    hidden = ssm.get_parameter(Name="/db/password")["Parameter"]["Value"]
    assert hidden != secret and re.fullmatch(r"[A-Za-z0-9+/]+=*", hidden)
    assert ssm.get_parameter(Name="/db/password")["Parameter"]["Value"] == hidden
    assert ssm.get_parameter(Name="/db/password", WithDecryption=True)["Parameter"]["Value"] == secret
    assert cli(kecs, "get-parameter", "--name", "/db/password", "--with-decryption")["Parameter"]["Value"] == secret
    meta = {p["Name"]: p for p in ssm.describe_parameters()["Parameters"]}
    assert meta["/db/password"]["KeyId"] == "alias/aws/ssm"
    assert meta["/db/key"]["KeyId"] == "alias/custom"
    hist = ssm.get_parameter_history(Name="/db/password", WithDecryption=True)["Parameters"]
    assert [h["Value"] for h in hist] == [secret]

    key = os.path.join(kecs.data_dir, "ssm-parameters.key")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    # Neither the database (with its WAL) nor the log holds the plain value.
    kecs.stop()
    for name in os.listdir(kecs.data_dir):
        path = os.path.join(kecs.data_dir, name)
        if name.startswith("kecs.") and os.path.isfile(path):
            with open(path, "rb") as f:
                assert secret.encode() not in f.read(), name
    kecs.start()
    # The value survives a restart (the key is read back).
    assert ssm.get_parameter(Name="/db/password", WithDecryption=True)["Parameter"]["Value"] == secret


def test_put_parameter_errors(kecs):
    ssm = kecs.client("ssm")
    assert boto_error(ssm.put_parameter, Name="a/b", Value="x", Type="String") == (
        "ValidationException", "Parameter name must be a fully qualified name.")
    assert boto_error(ssm.put_parameter, Name="/aws/x", Value="x", Type="String") == (
        "AccessDeniedException", "No access to reserved parameter name: /aws/x.")
    assert boto_error(ssm.put_parameter, Name="/ssm/x", Value="x", Type="String")[0] == "ValidationException"
    assert boto_error(ssm.delete_parameter, Name="/aws/x")[0] == "AccessDeniedException"
    assert ssm.get_parameters_by_path(Path="/aws/service", Recursive=True)["Parameters"] == []
    deep = "".join(f"/l{i}" for i in range(16))
    assert boto_error(ssm.put_parameter, Name=deep, Value="x", Type="String")[0] == \
        "HierarchyLevelLimitExceededException"
    assert boto_error(ssm.put_parameter, Name="/n", Value="x", Type="String", AllowedPattern="([")[0] == \
        "InvalidAllowedPatternException"
    assert boto_error(ssm.put_parameter, Name="/n", Value="abc", Type="String", AllowedPattern=r"^\d+$") == (
        "ParameterPatternMismatchException", r"Parameter value, cannot be validated against allowedPattern: ^\d+$")
    ssm.put_parameter(Name="/n", Value="123", Type="String", AllowedPattern=r"^\d+$")
    # Catastrophic backtracking hits kecs's matching limits and is refused; a long value
    # under a simple pattern is accepted.
    assert boto_error(ssm.put_parameter, Name="/slow", Value="a" * 4000, Type="String",
                      AllowedPattern="^(a|a)*b$")[0] == "ParameterPatternMismatchException"
    assert ssm.put_parameter(Name="/long", Value="a" * 4000, Type="String", AllowedPattern="^a+$")["Version"] == 1
    # An overwrite keeps the pattern it does not replace.
    assert boto_error(ssm.put_parameter, Name="/n", Value="x", Overwrite=True)[0] == \
        "ParameterPatternMismatchException"
    assert boto_error(ssm.put_parameter, Name="/n", Value="4", Overwrite=True, Tags=[{"Key": "k", "Value": "v"}])[0] == \
        "ValidationException"
    assert boto_error(ssm.put_parameter, Name="/big", Value="x" * 4097, Type="String")[0] == "ValidationException"
    assert ssm.put_parameter(Name="/big", Value="x" * 4097, Type="String", Tier="Intelligent-Tiering")["Tier"] == "Advanced"
    assert ssm.put_parameter(Name="/adv", Value="x", Type="StringList", Tier="Advanced")["Tier"] == "Advanced"
    assert boto_error(ssm.put_parameter, Name="/adv", Value="y", Overwrite=True, Tier="Standard")[0] == \
        "ValidationException"
    # The model's own constraints, checked by the front end.
    assert boto_error(ssm.put_parameter, Name="/t", Value="x", Type="Bogus")[0] == "ValidationException"


def test_get_parameters_by_path_recursion_filters_and_pagination(kecs):
    ssm = kecs.client("ssm")
    for i in range(7):
        ssm.put_parameter(Name=f"/svc/web/p{i}", Value=str(i), Type="String")
    ssm.put_parameter(Name="/svc/top", Value="t", Type="SecureString")
    ssm.put_parameter(Name="/elsewhere", Value="e", Type="String")
    assert names(ssm.get_parameters_by_path(Path="/svc")) == ["/svc/top"]
    ssm.put_parameter(Name="rootless", Value="r", Type="String")
    # "/" holds names outside any hierarchy too, as on AWS.
    assert names(ssm.get_parameters_by_path(Path="/")) == ["/elsewhere", "rootless"]
    got = ssm.get_parameters(Names=["rootless", "/svc/top", "/elsewhere"])["Parameters"]
    assert [p["Name"] for p in got] == ["/elsewhere", "/svc/top", "rootless"]
    ssm.delete_parameter(Name="rootless")
    assert len(names(ssm.get_parameters_by_path(Path="/svc/", Recursive=True))) == 8
    first = ssm.get_parameters_by_path(Path="/svc", Recursive=True, MaxResults=3)
    assert len(first["Parameters"]) == 3 and first["NextToken"]
    pages = ssm.get_paginator("get_parameters_by_path").paginate(
        Path="/svc", Recursive=True, PaginationConfig={"PageSize": 3})
    everything = [p["Name"] for page in pages for p in page["Parameters"]]
    assert everything == sorted(everything) and len(everything) == 8
    secure = ssm.get_parameters_by_path(Path="/svc", Recursive=True, WithDecryption=True,
                                        ParameterFilters=[{"Key": "Type", "Values": ["SecureString"]}])
    assert [(p["Name"], p["Value"]) for p in secure["Parameters"]] == [("/svc/top", "t")]
    assert boto_error(ssm.get_parameters_by_path, Path="/svc",
                      ParameterFilters=[{"Key": "Path", "Values": ["/svc"]}])[0] == "InvalidFilterKey"
    assert boto_error(ssm.get_parameters_by_path, Path="svc")[0] == "ValidationException"
    assert boto_error(ssm.get_parameters_by_path, Path="/svc", NextToken="bogus")[0] == "InvalidNextToken"
    # The CLI pages through on its own.
    out = cli(kecs, "get-parameters-by-path", "--path", "/svc", "--recursive", "--page-size", "2")
    assert len(out["Parameters"]) == 8


def test_describe_parameters_filters_and_pagination(kecs):
    ssm = kecs.client("ssm")
    ssm.put_parameter(Name="/x/a", Value="1", Type="String", Tags=[{"Key": "team", "Value": "blue"}])
    ssm.put_parameter(Name="/x/b", Value="2", Type="StringList", Tier="Advanced", Description="list")
    ssm.put_parameter(Name="/x/deep/c", Value="3", Type="SecureString")
    ssm.put_parameter(Name="top", Value="4", Type="String")

    def describe(**kw):
        return names(ssm.describe_parameters(**kw))

    assert describe(ParameterFilters=[{"Key": "Path", "Values": ["/x"]}]) == ["/x/a", "/x/b"]
    assert describe(ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": ["/x"]}]) == \
        ["/x/a", "/x/b", "/x/deep/c"]
    assert describe(ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": ["/x/d"]}]) == ["/x/deep/c"]
    assert describe(ParameterFilters=[{"Key": "Name", "Values": ["top"]}]) == ["top"]
    assert describe(ParameterFilters=[{"Key": "Type", "Values": ["StringList"]}]) == ["/x/b"]
    assert describe(ParameterFilters=[{"Key": "Tier", "Values": ["Advanced"]}]) == ["/x/b"]
    assert describe(ParameterFilters=[{"Key": "tag:team", "Values": ["blue"]}]) == ["/x/a"]
    assert describe(Filters=[{"Key": "Type", "Values": ["SecureString"]}]) == ["/x/deep/c"]
    meta = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": ["/x/b"]}])["Parameters"][0]
    assert (meta["Description"], meta["Tier"], meta["Version"], meta["Type"]) == ("list", "Advanced", 1, "StringList")
    # (ParameterMetadata.ARN is newer than Debian's botocore, which drops it.)
    assert boto_error(ssm.describe_parameters, Filters=[{"Key": "Name", "Values": ["/x"]}],
                      ParameterFilters=[{"Key": "Name", "Values": ["/x"]}])[0] == "ValidationException"
    assert boto_error(ssm.describe_parameters,
                      ParameterFilters=[{"Key": "Path", "Option": "Equals", "Values": ["/x"]}])[0] == "InvalidFilterOption"
    assert boto_error(ssm.describe_parameters,
                      ParameterFilters=[{"Key": "Type", "Values": ["Nope"]}])[0] == "InvalidFilterValue"
    page = ssm.describe_parameters(MaxResults=2)
    assert len(page["Parameters"]) == 2
    rest = ssm.describe_parameters(MaxResults=2, NextToken=page["NextToken"])
    assert names(page) + names(rest) == ["/x/a", "/x/b", "/x/deep/c", "top"]
    assert "NextToken" not in rest
    assert len(cli(kecs, "describe-parameters", "--page-size", "1")["Parameters"]) == 4


def test_labels_history_and_deletes(kecs):
    ssm = kecs.client("ssm")
    ssm.put_parameter(Name="/l", Value="one", Type="String")
    ssm.put_parameter(Name="/l", Value="two", Overwrite=True, Description="second")
    out = ssm.label_parameter_version(Name="/l", ParameterVersion=1, Labels=["prod", "1bad", "ssm-x"])
    assert (out["ParameterVersion"], sorted(out["InvalidLabels"])) == (1, ["1bad", "ssm-x"])
    assert ssm.get_parameter(Name="/l:prod")["Parameter"]["Value"] == "one"
    assert cli(kecs, "label-parameter-version", "--name", "/l", "--labels", "prod")["ParameterVersion"] == 2
    assert ssm.get_parameter(Name="/l:prod")["Parameter"] == ssm.get_parameter(Name="/l:2")["Parameter"] | \
        {"Selector": ":prod"}
    assert boto_error(ssm.label_parameter_version, Name="/l", ParameterVersion=9, Labels=["x"])[0] == \
        "ParameterVersionNotFound"
    assert boto_error(ssm.label_parameter_version, Name="/none", Labels=["x"])[0] == "ParameterNotFound"
    ssm.label_parameter_version(Name="/l", Labels=[f"l{i}" for i in range(9)])
    assert boto_error(ssm.label_parameter_version, Name="/l", Labels=["tenth", "eleventh"])[0] == \
        "ParameterVersionLabelLimitExceeded"

    hist = ssm.get_parameter_history(Name="/l")["Parameters"]
    assert [(h["Version"], h["Value"]) for h in hist] == [(1, "one"), (2, "two")]
    assert hist[1]["Description"] == "second" and "prod" in hist[1]["Labels"]
    page = ssm.get_parameter_history(Name="/l", MaxResults=1)
    assert len(page["Parameters"]) == 1 and page["NextToken"]
    assert boto_error(ssm.get_parameter_history, Name="/none")[0] == "ParameterNotFound"

    ssm.put_parameter(Name="/d", Value="d", Type="String")
    out = ssm.delete_parameters(Names=["/d", "/gone"])
    assert (out["DeletedParameters"], out["InvalidParameters"]) == (["/d"], ["/gone"])
    assert boto_error(ssm.get_parameter, Name="/d")[0] == "ParameterNotFound"
    cli(kecs, "delete-parameter", "--name", "/l")
    assert cli_error(kecs, "delete-parameter", "--name", "/l")[0] == "ParameterNotFound"


def test_the_hundred_and_first_version(kecs):
    ssm = kecs.client("ssm")
    ssm.put_parameter(Name="/v", Value="0", Type="String")
    for i in range(1, 100):
        ssm.put_parameter(Name="/v", Value=str(i), Overwrite=True)
    ssm.label_parameter_version(Name="/v", ParameterVersion=1, Labels=["pinned"])
    code, msg = boto_error(ssm.put_parameter, Name="/v", Value="x", Overwrite=True)
    assert code == "ParameterMaxVersionLimitExceeded" and "Version 1, the oldest version" in msg
    ssm.label_parameter_version(Name="/v", ParameterVersion=100, Labels=["pinned"])
    assert ssm.put_parameter(Name="/v", Value="x", Overwrite=True)["Version"] == 101
    assert boto_error(ssm.get_parameter, Name="/v:1")[0] == "ParameterVersionNotFound"


def test_tags(kecs):
    ssm = kecs.client("ssm")
    ssm.put_parameter(Name="/t", Value="v", Type="String", Tags=[{"Key": "a", "Value": "1"}])
    cli(kecs, "add-tags-to-resource", "--resource-type", "Parameter", "--resource-id", "/t",
        "--tags", "Key=b,Value=2", "Key=a,Value=3")
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/t")["TagList"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "3"), ("b", "2")]
    ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId="/t", TagKeys=["a"])
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/t")["TagList"] == \
        [{"Key": "b", "Value": "2"}]
    assert boto_error(ssm.list_tags_for_resource, ResourceType="Parameter", ResourceId="/none")[0] == \
        "InvalidResourceId"
    assert boto_error(ssm.add_tags_to_resource, ResourceType="Document", ResourceId="/t",
                      Tags=[{"Key": "k", "Value": "v"}])[0] == "InvalidResourceType"
    assert boto_error(ssm.add_tags_to_resource, ResourceType="Parameter", ResourceId="/t",
                      Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])[0] == "TooManyTagsError"


def test_unserved_ssm_operations_are_unknown(kecs):
    code, _ = boto_error(kecs.client("ssm").list_documents)
    assert code == "UnknownOperationException"
