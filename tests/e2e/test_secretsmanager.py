"""Secrets Manager through boto3 and the aws CLI (/usr/bin/aws): create and read by name,
ARN and partial ARN, versions and staging labels, describe and list (filters, negation,
sorting, pagination), BatchGetSecretValue, delete with a recovery window, restore, random
passwords, tags, Secrets Manager's errors, and values encrypted at rest across a restart."""
import json
import os
import stat
import urllib.error
import urllib.request

import pytest

from test_ecs_support import client_error as boto_error
from test_elbv2_support import cli_error as elbv2_cli_error

ARN_PREFIX = "arn:aws:secretsmanager:us-east-1:000000000000:secret:"
T1 = "11111111-1111-1111-1111-111111111111"
T2 = "22222222-2222-2222-2222-222222222222"
NOT_FOUND = ("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
MARKED = ("InvalidRequestException",
          "You can't perform this operation on the secret because it was marked for deletion.")


@pytest.fixture(autouse=True)
def responses_match_the_model(kecs):
    """Every answer matched Secrets Manager's output shapes (the daemon runs with
    KECS_VALIDATE_RESPONSES and logs any mismatch)."""
    yield
    assert "does not match its model" not in kecs.log()


def cli(kecs, *args):
    return kecs.aws("secretsmanager", *args)


def cli_error(kecs, *args):
    return elbv2_cli_error(kecs, *args, service="secretsmanager")


def raw(kecs, op, body):
    """(status, JSON) of one JSON 1.1 request: Debian's botocore (1.29) predates
    BatchGetSecretValue and ListSecrets' SortBy."""
    req = urllib.request.Request(
        kecs.endpoint + "/", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"secretsmanager.{op}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_create_and_get_by_name_arn_and_partial_arn(kecs):
    sm = kecs.client("secretsmanager")
    c = sm.create_secret(Name="prod/db", SecretString="pw-1", Description="the db", ClientRequestToken=T1,
                         KmsKeyId="alias/custom", Tags=[{"Key": "env", "Value": "prod"}])
    arn = c["ARN"]
    assert arn.startswith(ARN_PREFIX + "prod/db-") and len(arn) == len(ARN_PREFIX + "prod/db-") + 6
    assert (c["Name"], c["VersionId"]) == ("prod/db", T1)
    for sid in ("prod/db", arn, arn[:-7]):
        v = sm.get_secret_value(SecretId=sid)
        assert (v["ARN"], v["Name"], v["SecretString"], v["VersionId"], v["VersionStages"]) == \
            (arn, "prod/db", "pw-1", T1, ["AWSCURRENT"])
        assert "CreatedDate" in v
    # The same token and value again answers as the first call did.
    again = sm.create_secret(Name="prod/db", SecretString="pw-1", ClientRequestToken=T1)
    assert (again["ARN"], again["VersionId"]) == (arn, T1)
    d = sm.describe_secret(SecretId=arn)
    assert (d["Name"], d["Description"], d["KmsKeyId"], d["Tags"]) == \
        ("prod/db", "the db", "alias/custom", [{"Key": "env", "Value": "prod"}])
    assert d["VersionIdsToStages"] == {T1: ["AWSCURRENT"]}
    assert "CreatedDate" in d and "LastChangedDate" in d and "DeletedDate" not in d
    b = sm.create_secret(Name="bin", SecretBinary=b"\x00\x01\xff")
    assert sm.get_secret_value(SecretId=b["ARN"])["SecretBinary"] == b"\x00\x01\xff"


def test_create_and_get_errors(kecs):
    sm = kecs.client("secretsmanager")
    sm.create_secret(Name="x", SecretString="v")
    assert boto_error(sm.create_secret, Name="x", SecretString="v") == (
        "ResourceExistsException", "The operation failed because the secret x already exists.")
    assert boto_error(sm.create_secret, Name="bad name", SecretString="v")[0] == "InvalidParameterException"
    assert boto_error(sm.create_secret, Name="y", SecretString="v", SecretBinary=b"x") == (
        "InvalidParameterException",
        "You can't specify both a binary secret value and a string secret value in the same secret.")
    assert boto_error(sm.get_secret_value, SecretId="nope") == NOT_FOUND
    assert boto_error(sm.describe_secret, SecretId=ARN_PREFIX + "nope-AbCdEf") == NOT_FOUND
    assert boto_error(sm.get_secret_value, SecretId="x", VersionStage="AWSPENDING") == (
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret value for staging label: AWSPENDING")
    assert boto_error(sm.get_secret_value, SecretId="x", VersionId=T2) == (
        "ResourceNotFoundException", f"Secrets Manager can't find the specified secret value for VersionId: {T2}")
    # The model's constraints: over 65,536 characters, a short token.
    assert boto_error(sm.create_secret, Name="big", SecretString="a" * 65537)[0] in (
        "ValidationException", "LimitExceededException")
    status, err = raw(kecs, "PutSecretValue", {"SecretId": "x", "SecretString": "v", "ClientRequestToken": "short"})
    assert status == 400 and err["__type"].endswith("ValidationException"), err


def test_versions_and_staging_labels(kecs):
    sm = kecs.client("secretsmanager")
    sm.create_secret(Name="s", SecretString="v1", ClientRequestToken=T1)
    p = sm.put_secret_value(SecretId="s", SecretString="v2", ClientRequestToken=T2)
    assert (p["VersionId"], p["VersionStages"]) == (T2, ["AWSCURRENT"])
    assert sm.get_secret_value(SecretId="s")["SecretString"] == "v2"
    assert sm.get_secret_value(SecretId="s", VersionStage="AWSPREVIOUS")["SecretString"] == "v1"
    assert sm.get_secret_value(SecretId="s", VersionId=T1, VersionStage="AWSPREVIOUS")["SecretString"] == "v1"
    assert boto_error(sm.put_secret_value, SecretId="s", SecretString="other", ClientRequestToken=T2)[0] == \
        "ResourceExistsException"
    pending = sm.put_secret_value(SecretId="s", SecretString="v3", VersionStages=["AWSPENDING"])["VersionId"]
    assert sm.get_secret_value(SecretId="s")["SecretString"] == "v2"
    sm.update_secret_version_stage(SecretId="s", VersionStage="AWSCURRENT", MoveToVersionId=pending,
                                   RemoveFromVersionId=T2)
    assert sm.get_secret_value(SecretId="s")["SecretString"] == "v3"
    stages = sm.describe_secret(SecretId="s")["VersionIdsToStages"]
    assert stages[pending] == ["AWSPENDING", "AWSCURRENT"] and stages[T2] == ["AWSPREVIOUS"] and T1 not in stages
    assert boto_error(sm.update_secret_version_stage, SecretId="s", VersionStage="AWSCURRENT",
                      MoveToVersionId=T1)[0] == "InvalidParameterException"
    u = sm.update_secret(SecretId="s", SecretString="v4", Description="new")
    assert sm.get_secret_value(SecretId="s")["SecretString"] == "v4"
    assert sm.get_secret_value(SecretId="s", VersionStage="AWSPREVIOUS")["VersionId"] == pending
    assert sm.describe_secret(SecretId="s")["Description"] == "new"
    assert "VersionId" not in sm.update_secret(SecretId="s", Description="meta only")
    ids = sm.list_secret_version_ids(SecretId="s")
    assert ids["Name"] == "s" and u["VersionId"] in [v["VersionId"] for v in ids["Versions"]]
    assert len(ids["Versions"]) == 2  # T1 and T2 have no stages left
    assert len(sm.list_secret_version_ids(SecretId="s", IncludeDeprecated=True)["Versions"]) == 4
    page = sm.list_secret_version_ids(SecretId="s", IncludeDeprecated=True, MaxResults=3)
    assert len(page["Versions"]) == 3
    rest = sm.list_secret_version_ids(SecretId="s", IncludeDeprecated=True, NextToken=page["NextToken"])
    assert len(rest["Versions"]) == 1 and "NextToken" not in rest


def test_list_secrets_filters_sorting_and_pagination(kecs):
    sm = kecs.client("secretsmanager")
    sm.create_secret(Name="app/db", SecretString="1", Description="Database password",
                     Tags=[{"Key": "env", "Value": "prod"}])
    sm.create_secret(Name="app/api", SecretString="2", Description="API key", Tags=[{"Key": "env", "Value": "dev"}])
    sm.create_secret(Name="other", SecretString="3")

    def names(**kw):
        return [s["Name"] for s in sm.list_secrets(**kw)["SecretList"]]

    assert names(SortOrder="asc") == ["app/db", "app/api", "other"]
    assert names(SortOrder="desc") == ["other", "app/api", "app/db"]
    assert names(Filters=[{"Key": "name", "Values": ["app/"]}], SortOrder="asc") == ["app/db", "app/api"]
    assert names(Filters=[{"Key": "name", "Values": ["!app/"]}]) == ["other"]
    assert names(Filters=[{"Key": "description", "Values": ["database"]}]) == ["app/db"]
    assert sorted(names(Filters=[{"Key": "tag-key", "Values": ["env"]}])) == ["app/api", "app/db"]
    assert names(Filters=[{"Key": "tag-value", "Values": ["prod"]}]) == ["app/db"]
    assert len(names(Filters=[{"Key": "primary-region", "Values": ["us-east-1"]}])) == 3
    assert names(Filters=[{"Key": "owning-service", "Values": ["ecs"]}]) == []
    assert names(Filters=[{"Key": "all", "Values": ["password"]}]) == ["app/db"]
    assert names(Filters=[{"Key": "name", "Values": ["app"]}, {"Key": "tag-value", "Values": ["!prod"]}]) == \
        ["app/api"]
    entry = sm.list_secrets(Filters=[{"Key": "name", "Values": ["app/db"]}])["SecretList"][0]
    assert entry["Tags"] == [{"Key": "env", "Value": "prod"}] and len(entry["SecretVersionsToStages"]) == 1
    assert "SecretString" not in entry
    # Pagination, by hand and through the paginator and the CLI.
    p1 = sm.list_secrets(MaxResults=2, SortOrder="asc")
    assert len(p1["SecretList"]) == 2 and "NextToken" in p1
    p2 = sm.list_secrets(MaxResults=2, SortOrder="asc", NextToken=p1["NextToken"])
    assert [s["Name"] for s in p2["SecretList"]] == ["other"] and "NextToken" not in p2
    pages = sm.get_paginator("list_secrets").paginate(PaginationConfig={"PageSize": 1})
    assert sorted(s["Name"] for page in pages for s in page["SecretList"]) == ["app/api", "app/db", "other"]
    out = cli(kecs, "list-secrets", "--page-size", "1")
    assert sorted(s["Name"] for s in out["SecretList"]) == ["app/api", "app/db", "other"]
    assert boto_error(sm.list_secrets, NextToken="garbage")[0] == "InvalidNextTokenException"
    assert boto_error(sm.list_secrets, Filters=[{"Key": "name", "Values": ["a!b"]}])[0] == \
        "InvalidParameterException"
    # SortBy (newer than Debian's botocore).
    status, body = raw(kecs, "ListSecrets", {"SortBy": "name", "SortOrder": "asc"})
    assert status == 200 and [s["Name"] for s in body["SecretList"]] == ["app/api", "app/db", "other"]


def test_batch_get_secret_value(kecs):
    sm = kecs.client("secretsmanager")
    a = sm.create_secret(Name="a", SecretString="1")["ARN"]
    sm.create_secret(Name="b", SecretString="2")
    sm.create_secret(Name="gone", SecretString="3")
    sm.delete_secret(SecretId="gone")
    status, body = raw(kecs, "BatchGetSecretValue", {"SecretIdList": [a, "b", "missing", "gone"]})
    assert status == 200, body
    assert [(v["Name"], v["SecretString"]) for v in body["SecretValues"]] == [("a", "1"), ("b", "2")]
    assert body["Errors"] == [
        {"SecretId": "missing", "ErrorCode": NOT_FOUND[0], "Message": NOT_FOUND[1]},
        {"SecretId": "gone", "ErrorCode": MARKED[0], "Message": MARKED[1]}]
    status, body = raw(kecs, "BatchGetSecretValue",
                       {"Filters": [{"Key": "name", "Values": ["a", "b"]}], "MaxResults": 1})
    assert status == 200 and len(body["SecretValues"]) == 1 and "NextToken" in body
    status, rest = raw(kecs, "BatchGetSecretValue",
                       {"Filters": [{"Key": "name", "Values": ["a", "b"]}], "NextToken": body["NextToken"]})
    assert [v["Name"] for v in body["SecretValues"] + rest["SecretValues"]] == ["a", "b"]
    assert "NextToken" not in rest
    status, err = raw(kecs, "BatchGetSecretValue", {})
    assert status == 400 and err["__type"].endswith("InvalidParameterException")
    status, err = raw(kecs, "BatchGetSecretValue", {"SecretIdList": ["a"], "Filters": [{"Key": "name", "Values": ["a"]}]})
    assert status == 400 and err["__type"].endswith("InvalidParameterException")


def test_delete_restore_and_the_recovery_window(kecs):
    sm = kecs.client("secretsmanager")
    arn = sm.create_secret(Name="d", SecretString="v")["ARN"]
    assert boto_error(sm.delete_secret, SecretId="d", RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True) == (
        "InvalidParameterException",
        "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
    assert boto_error(sm.delete_secret, SecretId="d", RecoveryWindowInDays=31) == (
        "InvalidParameterException", "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
    assert boto_error(sm.delete_secret, SecretId="nope") == NOT_FOUND
    d = sm.delete_secret(SecretId="d")
    assert (d["ARN"], d["Name"]) == (arn, "d")
    days = (d["DeletionDate"] - sm.describe_secret(SecretId="d")["DeletedDate"]).total_seconds() / 86400
    assert 29.9 < days < 30.1
    assert boto_error(sm.get_secret_value, SecretId="d") == MARKED
    assert boto_error(sm.put_secret_value, SecretId="d", SecretString="x") == MARKED
    assert boto_error(sm.update_secret, SecretId="d", SecretString="x") == MARKED
    assert [s["Name"] for s in sm.list_secrets()["SecretList"]] == []
    status, body = raw(kecs, "ListSecrets", {"IncludePlannedDeletion": True})  # newer than Debian's botocore
    listed = body["SecretList"]
    assert [s["Name"] for s in listed] == ["d"] and "DeletedDate" in listed[0]
    r = sm.restore_secret(SecretId="d")
    assert (r["ARN"], r["Name"]) == (arn, "d")
    assert sm.get_secret_value(SecretId="d")["SecretString"] == "v"
    sm.delete_secret(SecretId="d", ForceDeleteWithoutRecovery=True)
    assert boto_error(sm.describe_secret, SecretId="d") == NOT_FOUND
    sm.create_secret(Name="d", SecretString="again")
    # The CLI's delete with a window.
    out = cli(kecs, "delete-secret", "--secret-id", "d", "--recovery-window-in-days", "7")
    assert out["Name"] == "d" and "DeletionDate" in out
    assert cli_error(kecs, "get-secret-value", "--secret-id", "d") == MARKED


def test_get_random_password(kecs):
    sm = kecs.client("secretsmanager")
    p = sm.get_random_password()["RandomPassword"]
    assert len(p) == 32
    q = sm.get_random_password(PasswordLength=100, ExcludePunctuation=True, ExcludeUppercase=True,
                               ExcludeCharacters="abc")["RandomPassword"]
    assert len(q) == 100 and q.isalnum() and q.lower() == q and not set("abc") & set(q)
    assert any(c.isdigit() for c in q) and any(c.isalpha() for c in q)
    s = sm.get_random_password(PasswordLength=3, IncludeSpace=True, ExcludeLowercase=True, ExcludeUppercase=True,
                               ExcludeNumbers=True, ExcludePunctuation=True)["RandomPassword"]
    assert s == "   "
    assert boto_error(sm.get_random_password, ExcludeLowercase=True, ExcludeUppercase=True, ExcludeNumbers=True,
                      ExcludePunctuation=True)[0] == "InvalidParameterException"
    assert boto_error(sm.get_random_password, PasswordLength=3)[0] == "InvalidParameterException"
    assert boto_error(sm.get_random_password, PasswordLength=4097)[0] == "ValidationException"
    assert len(cli(kecs, "get-random-password", "--password-length", "12")["RandomPassword"]) == 12


def test_tags(kecs):
    sm = kecs.client("secretsmanager")
    sm.create_secret(Name="t", SecretString="v", Tags=[{"Key": "a", "Value": "1"}])
    sm.tag_resource(SecretId="t", Tags=[{"Key": "a", "Value": "2"}, {"Key": "b", "Value": "3"}])
    assert sm.describe_secret(SecretId="t")["Tags"] == [{"Key": "a", "Value": "2"}, {"Key": "b", "Value": "3"}]
    sm.untag_resource(SecretId="t", TagKeys=["a"])
    assert sm.describe_secret(SecretId="t")["Tags"] == [{"Key": "b", "Value": "3"}]
    assert boto_error(sm.tag_resource, SecretId="nope", Tags=[{"Key": "a", "Value": "1"}]) == NOT_FOUND
    assert boto_error(sm.untag_resource, SecretId="nope", TagKeys=["a"]) == NOT_FOUND
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    assert boto_error(sm.tag_resource, SecretId="t", Tags=many)[0] == "LimitExceededException"


def test_cli_round_trip(kecs):
    c = cli(kecs, "create-secret", "--name", "cli/s", "--secret-string", '{"user":"u","password":"p"}')
    assert c["Name"] == "cli/s"
    v = cli(kecs, "get-secret-value", "--secret-id", c["ARN"])
    assert json.loads(v["SecretString"]) == {"user": "u", "password": "p"}
    cli(kecs, "put-secret-value", "--secret-id", "cli/s", "--secret-string", "two")
    assert cli(kecs, "get-secret-value", "--secret-id", "cli/s", "--version-stage", "AWSPREVIOUS")["VersionId"] == \
        v["VersionId"]
    assert cli(kecs, "describe-secret", "--secret-id", "cli/s")["Name"] == "cli/s"
    assert cli_error(kecs, "describe-secret", "--secret-id", "missing") == NOT_FOUND


def test_values_are_encrypted_at_rest_and_survive_a_restart(kecs):
    secret = "sm-s3cr3t-value-that-must-not-leak"
    sm = kecs.client("secretsmanager")
    sm.create_secret(Name="rest", SecretString=secret)
    sm.put_secret_value(SecretId="rest", SecretString=secret + "-2")
    key = os.path.join(kecs.data_dir, "secretsmanager.key")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    kecs.stop()
    for name in os.listdir(kecs.data_dir):
        path = os.path.join(kecs.data_dir, name)
        if name.startswith("kecs.") and os.path.isfile(path):
            with open(path, "rb") as f:
                assert secret.encode() not in f.read(), name
    kecs.start()
    assert sm.get_secret_value(SecretId="rest")["SecretString"] == secret + "-2"
    assert sm.get_secret_value(SecretId="rest", VersionStage="AWSPREVIOUS")["SecretString"] == secret
    # A lost key with sealed values stored: a server fault, not a new key.
    kecs.stop()
    os.unlink(key)
    kecs.start()
    with pytest.raises(Exception) as e:
        sm.get_secret_value(SecretId="rest")
    assert "InternalServiceError" in str(e.value)
    assert not os.path.exists(key)
