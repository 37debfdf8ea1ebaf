"""CloudWatch Logs through boto3 and the aws CLI (/usr/bin/aws): groups, streams, events,
filter patterns, pagination, retention, tags, AWS's errors, and `aws logs tail --follow`."""
import os
import queue
import subprocess
import threading
import time

import pytest

from conftest import AWS_BIN
from test_ecs_support import client_error as boto_error
from test_elbv2_support import cli_error as elbv2_cli_error

ARN = "arn:aws:logs:us-east-1:000000000000:log-group"
DAY = 24 * 3600 * 1000


@pytest.fixture(autouse=True)
def responses_match_the_model(kecs):
    """Every answer matched CloudWatch Logs' output shapes (the daemon runs with
    KECS_VALIDATE_RESPONSES and logs any mismatch)."""
    yield
    assert "does not match its model" not in kecs.log()


def now_ms():
    return int(time.time() * 1000)


def cli(kecs, *args):
    return kecs.aws("logs", *args)


def cli_error(kecs, *args):
    return elbv2_cli_error(kecs, *args, service="logs")


def make(logs, group, *streams):
    logs.create_log_group(logGroupName=group)
    for s in streams:
        logs.create_log_stream(logGroupName=group, logStreamName=s)


def put(logs, group, stream, messages, start=None):
    t = start if start is not None else now_ms() - len(messages)
    events = [{"timestamp": t + i, "message": m} for i, m in enumerate(messages)]
    return logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def test_log_groups_shapes_prefix_pattern_pagination_and_errors(kecs):
    logs = kecs.client("logs")
    assert cli(kecs, "create-log-group", "--log-group-name", "/ecs/web", "--tags", "team=a,env=dev") == {}
    # Debian's botocore predates logGroupClass (the unit tests send it).
    logs.create_log_group(logGroupName="/ecs/api", kmsKeyId="arn:aws:kms:us-east-1:000000000000:key/abc")
    for i in range(5):
        logs.create_log_group(logGroupName=f"/other/g{i}")
    assert cli_error(kecs, "create-log-group", "--log-group-name", "/ecs/web") == (
        "ResourceAlreadyExistsException", "The specified log group already exists")
    assert boto_error(logs.create_log_group, logGroupName="bad name!") == (
        "InvalidParameterException",
        "1 validation error detected: Value 'bad name!' at 'logGroupName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+")
    assert boto_error(logs.create_log_stream, logGroupName="/ecs/web", logStreamName="a:b")[0] == \
        "InvalidParameterException"

    groups = cli(kecs, "describe-log-groups", "--log-group-name-prefix", "/ecs")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/ecs/api", "/ecs/web"]
    api, web = groups
    # logGroupArn and logGroupClass are sent too; Debian's botocore predates them and drops
    # them (the unit tests check them).
    assert web["arn"] == f"{ARN}:/ecs/web:*"
    assert web["storedBytes"] == 0 and web["metricFilterCount"] == 0
    assert "retentionInDays" not in web and isinstance(web["creationTime"], int)
    assert api["kmsKeyId"].endswith("key/abc")
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePattern="API")["logGroups"]] == \
        ["/ecs/api"]
    assert boto_error(logs.describe_log_groups, logGroupNamePrefix="/a", logGroupNamePattern="b") == (
        "InvalidParameterException",
        "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")

    # Pages of two, through the token, and the CLI's own pagination.
    names, kw = [], {"limit": 2}
    while True:
        page = logs.describe_log_groups(**kw)
        assert len(page["logGroups"]) <= 2
        names += [g["logGroupName"] for g in page["logGroups"]]
        if "nextToken" not in page:
            break
        kw["nextToken"] = page["nextToken"]
    assert names == sorted(names) and len(names) == 7
    assert len(cli(kecs, "describe-log-groups", "--page-size", "2")["logGroups"]) == 7
    assert boto_error(logs.describe_log_groups, nextToken="bogus")[0] == "InvalidParameterException"

    assert cli(kecs, "delete-log-group", "--log-group-name", "/ecs/api") == {}
    assert cli_error(kecs, "delete-log-group", "--log-group-name", "/ecs/api") == (
        "ResourceNotFoundException", "The specified log group does not exist.")


def test_log_streams_order_pagination_and_errors(kecs):
    logs = kecs.client("logs")
    make(logs, "g", "b-stream", "a-stream", "c-stream")
    base = now_ms() - 1000
    put(logs, "g", "c-stream", ["x"], start=base)
    put(logs, "g", "a-stream", ["y", "z"], start=base + 100)
    streams = cli(kecs, "describe-log-streams", "--log-group-name", "g")["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["a-stream", "b-stream", "c-stream"]
    a = streams[0]
    assert a["firstEventTimestamp"] == base + 100 and a["lastEventTimestamp"] == base + 101
    assert isinstance(a["lastIngestionTime"], int) and a["uploadSequenceToken"].isdigit()
    assert a["arn"] == f"{ARN}:g:log-stream:a-stream" and "firstEventTimestamp" not in streams[1]
    by_time = logs.describe_log_streams(logGroupName="g", orderBy="LastEventTime", descending=True)["logStreams"]
    assert [s["logStreamName"] for s in by_time] == ["a-stream", "c-stream", "b-stream"]
    # (Debian's botocore requires logGroupName; logGroupIdentifier is covered by the unit tests.)
    assert [s["logStreamName"] for s in logs.describe_log_streams(
        logGroupName="g", logStreamNamePrefix="b")["logStreams"]] == ["b-stream"]
    assert [s["logStreamName"] for s in logs.describe_log_streams(
        logGroupName="g", descending=True)["logStreams"]] == ["c-stream", "b-stream", "a-stream"]
    names, kw = [], {"logGroupName": "g", "limit": 1}
    while True:
        page = logs.describe_log_streams(**kw)
        names += [s["logStreamName"] for s in page["logStreams"]]
        if "nextToken" not in page:
            break
        kw["nextToken"] = page["nextToken"]
    assert names == ["a-stream", "b-stream", "c-stream"]

    assert boto_error(logs.describe_log_streams, logGroupName="g", orderBy="LastEventTime",
                      logStreamNamePrefix="a") == (
        "InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.")
    assert boto_error(logs.create_log_stream, logGroupName="g", logStreamName="a-stream") == (
        "ResourceAlreadyExistsException", "The specified log stream already exists")
    assert boto_error(logs.create_log_stream, logGroupName="nope", logStreamName="s")[0] == \
        "ResourceNotFoundException"
    assert boto_error(logs.describe_log_streams, logGroupName="nope")[0] == "ResourceNotFoundException"
    assert cli(kecs, "delete-log-stream", "--log-group-name", "g", "--log-stream-name", "a-stream") == {}
    assert cli_error(kecs, "delete-log-stream", "--log-group-name", "g", "--log-stream-name", "a-stream") == (
        "ResourceNotFoundException", "The specified log stream does not exist.")


def test_put_log_events_batch_rules_and_rejected_events(kecs):
    logs = kecs.client("logs")
    make(logs, "g", "s")
    out = put(logs, "g", "s", ["one", "two"])
    assert set(out) - {"ResponseMetadata"} == {"nextSequenceToken"}
    # The sequence token is accepted and ignored, as AWS does now.
    out2 = logs.put_log_events(logGroupName="g", logStreamName="s", sequenceToken="whatever",
                               logEvents=[{"timestamp": now_ms(), "message": "three"}])
    assert out2["nextSequenceToken"] != out["nextSequenceToken"]
    t = now_ms()
    assert boto_error(logs.put_log_events, logGroupName="g", logStreamName="s",
                      logEvents=[{"timestamp": t, "message": "b"}, {"timestamp": t - 1, "message": "a"}]) == (
        "InvalidParameterException", "Log events in a single PutLogEvents request must be in chronological order.")
    assert boto_error(logs.put_log_events, logGroupName="g", logStreamName="s",
                      logEvents=[{"timestamp": t - DAY - 1, "message": "a"}, {"timestamp": t, "message": "b"}]) == (
        "InvalidParameterException",
        "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
    big = "x" * (262144 - 26)
    assert boto_error(logs.put_log_events, logGroupName="g", logStreamName="s",
                      logEvents=[{"timestamp": t, "message": big + "y"}]) == (
        "InvalidParameterException", "Log event too large: 262145 bytes exceeds limit of 262144")
    assert boto_error(logs.put_log_events, logGroupName="g", logStreamName="s",
                      logEvents=[{"timestamp": t, "message": big}] * 4 + [{"timestamp": t, "message": "y"}]) == (
        "InvalidParameterException", "Upload too large: 1048603 bytes exceeds limit of 1048576")
    code, msg = boto_error(logs.put_log_events, logGroupName="g", logStreamName="s",
                           logEvents=[{"timestamp": t, "message": "m"}] * 10001)
    assert code == "InvalidParameterException" and "logEvents" in msg
    assert "rejectedLogEventsInfo" not in logs.put_log_events(
        logGroupName="g", logStreamName="s", logEvents=[{"timestamp": t, "message": "m"}] * 10000)

    # Too old (over 14 days), too new (over 2 hours ahead): rejected, the rest stored.
    old = logs.put_log_events(logGroupName="g", logStreamName="s", logEvents=[
        {"timestamp": t - 15 * DAY, "message": "old1"}, {"timestamp": t - 15 * DAY + 1, "message": "old2"}])
    assert old["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 2}  # exclusive, as AWS documents
    new = logs.put_log_events(logGroupName="g", logStreamName="s", logEvents=[
        {"timestamp": t, "message": "ok"}, {"timestamp": t + 3 * 3600 * 1000, "message": "future"}])
    assert new["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    logs.put_retention_policy(logGroupName="g", retentionInDays=1)
    exp = logs.put_log_events(logGroupName="g", logStreamName="s", logEvents=[
        {"timestamp": t - 2 * DAY, "message": "expired"}, {"timestamp": t - 2 * DAY + 10, "message": "kept?"}])
    assert exp["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 2}
    messages = [e["message"] for page in logs.get_paginator("filter_log_events").paginate(logGroupName="g")
                for e in page["events"]]
    assert "old1" not in messages and "future" not in messages and "expired" not in messages
    assert "ok" in messages and messages.count("m") == 10000

    assert boto_error(logs.put_log_events, logGroupName="g", logStreamName="nope",
                      logEvents=[{"timestamp": t, "message": "m"}]) == (
        "ResourceNotFoundException", "The specified log stream does not exist.")
    assert boto_error(logs.put_log_events, logGroupName="nope", logStreamName="s",
                      logEvents=[{"timestamp": t, "message": "m"}]) == (
        "ResourceNotFoundException", "The specified log group does not exist.")
    stored = logs.describe_log_groups(logGroupNamePrefix="g")["logGroups"][0]["storedBytes"]
    assert stored == len("onetwothree") + 10000 + len("ok")


def test_get_log_events_tokens_as_aws(kecs):
    logs = kecs.client("logs")
    make(logs, "g", "s")
    t = now_ms() - 100
    put(logs, "g", "s", [f"e{i}" for i in range(5)], start=t)
    latest = logs.get_log_events(logGroupName="g", logStreamName="s", limit=2)
    assert [e["message"] for e in latest["events"]] == ["e3", "e4"]
    assert latest["nextForwardToken"].startswith("f/") and latest["nextBackwardToken"].startswith("b/")
    older = logs.get_log_events(logGroupName="g", logStreamName="s", limit=2, nextToken=latest["nextBackwardToken"])
    assert [e["message"] for e in older["events"]] == ["e1", "e2"]
    e = older["events"][0]
    assert set(e) == {"timestamp", "message", "ingestionTime"} and e["timestamp"] == t + 1

    seen, kw = [], {"logGroupName": "g", "logStreamName": "s", "limit": 2, "startFromHead": True}
    for _ in range(10):
        page = logs.get_log_events(**kw)
        seen += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == kw.get("nextToken"):
            break
        kw["nextToken"] = page["nextForwardToken"]
    assert seen == [f"e{i}" for i in range(5)] and page["events"] == []
    # New events appear after the end-of-stream token.
    put(logs, "g", "s", ["e5"], start=t + 50)
    assert [e["message"] for e in logs.get_log_events(**kw)["events"]] == ["e5"]
    window = logs.get_log_events(logGroupName="g", logStreamName="s", startTime=t + 1, endTime=t + 3,
                                 startFromHead=True)
    assert [e["message"] for e in window["events"]] == ["e1", "e2"]
    cli_page = cli(kecs, "get-log-events", "--log-group-name", "g", "--log-stream-name", "s", "--start-from-head")
    assert [e["message"] for e in cli_page["events"]][:2] == ["e0", "e1"]
    assert boto_error(logs.get_log_events, logGroupName="g", logStreamName="s", nextToken="f/zz")[0] == \
        "InvalidParameterException"
    assert boto_error(logs.get_log_events, logGroupName="g", logStreamName="x")[0] == "ResourceNotFoundException"


def test_filter_log_events_patterns_streams_and_pages(kecs):
    logs = kecs.client("logs")
    make(logs, "app", "web-1", "web-2", "worker")
    t = now_ms() - 1000
    put(logs, "app", "web-1", ["ERROR disk full", "INFO ok", '{"level":"ERROR","latency":12}'], start=t)
    put(logs, "app", "web-2", ["WARN slow", "ERROR Timeout calling db"], start=t + 10)
    put(logs, "app", "worker", ['{"level":"INFO","latency":3,"user":{"id":"u1"}}', "job done"], start=t + 20)

    def msgs(**kw):
        return [e["message"] for e in logs.filter_log_events(logGroupName="app", **kw)["events"]]

    assert len(msgs()) == 7
    assert msgs(filterPattern="ERROR") == ["ERROR disk full", '{"level":"ERROR","latency":12}',
                                           "ERROR Timeout calling db"]
    assert msgs(filterPattern='"disk full"') == ["ERROR disk full"]
    assert msgs(filterPattern="ERROR -Timeout -latency") == ["ERROR disk full"]
    assert msgs(filterPattern="?WARN ?done") == ["WARN slow", "job done"]
    assert msgs(filterPattern='{ $.level = "ERROR" }') == ['{"level":"ERROR","latency":12}']
    assert msgs(filterPattern="{ $.latency > 5 }") == ['{"level":"ERROR","latency":12}']
    assert msgs(filterPattern='{ $.latency < 5 && $.user.id = "u*" }') == \
        ['{"level":"INFO","latency":3,"user":{"id":"u1"}}']
    assert len(msgs(filterPattern='{ $.latency > 100 || $.level = "INFO" }')) == 1
    assert msgs(filterPattern="{ $.user NOT EXISTS }") == ['{"level":"ERROR","latency":12}']
    assert msgs(logStreamNamePrefix="web-2") == ["WARN slow", "ERROR Timeout calling db"]
    assert msgs(logStreamNames=["worker"], filterPattern="done") == ["job done"]
    assert msgs(startTime=t + 10, endTime=t + 11) == ["WARN slow", "ERROR Timeout calling db"]
    one = logs.filter_log_events(logGroupName="app", limit=1)
    e = one["events"][0]
    assert set(e) == {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}
    assert e["logStreamName"] == "web-1" and "nextToken" in one

    ids, kw = [], {"logGroupName": "app", "limit": 3}
    while True:
        page = logs.filter_log_events(**kw)
        ids += [e["eventId"] for e in page["events"]]
        if "nextToken" not in page:
            break
        kw["nextToken"] = page["nextToken"]
    assert len(ids) == 7 and len(set(ids)) == 7
    assert len(cli(kecs, "filter-log-events", "--log-group-name", "app", "--filter-pattern", "ERROR",
                   "--page-size", "1")["events"]) == 3

    assert boto_error(logs.filter_log_events, logGroupName="app", filterPattern="a@b") == (
        "InvalidParameterException", "Invalid character(s) in term 'a@b'")
    assert boto_error(logs.filter_log_events, logGroupName="app", filterPattern="{ $.a = 1") == (
        "InvalidParameterException", "If a filter pattern starts with '{' it must end with '}'")
    assert boto_error(logs.filter_log_events, logGroupName="app", filterPattern="{ a = 1 }") == (
        "InvalidParameterException", "Invalid filter pattern")
    assert boto_error(logs.filter_log_events, logGroupName="app", logStreamNames=["a"],
                      logStreamNamePrefix="b")[0] == "InvalidParameterException"
    assert boto_error(logs.filter_log_events, logGroupName="app", logGroupIdentifier="app")[1] == \
        "LogGroup name and LogGroup ARN are mutually exclusive parameters."
    assert boto_error(logs.filter_log_events, logGroupName="nope")[0] == "ResourceNotFoundException"


def test_retention_policy_values_and_enforcement(kecs):
    logs = kecs.client("logs")
    make(logs, "g", "s")
    t = now_ms()
    put(logs, "g", "s", ["old-a", "old-b"], start=t - 3 * DAY)
    put(logs, "g", "s", ["fresh"])
    assert cli(kecs, "put-retention-policy", "--log-group-name", "g", "--retention-in-days", "1") == {}
    assert logs.describe_log_groups()["logGroups"][0]["retentionInDays"] == 1
    # Expired events are never returned, whether or not the sweep has run yet.
    assert [e["message"] for e in logs.filter_log_events(logGroupName="g")["events"]] == ["fresh"]
    assert [e["message"] for e in logs.get_log_events(logGroupName="g", logStreamName="s",
                                                      startFromHead=True)["events"]] == ["fresh"]
    code, msg = boto_error(logs.put_retention_policy, logGroupName="g", retentionInDays=2)
    assert code == "InvalidParameterException"
    assert msg.startswith("1 validation error detected: Value '2' at 'retentionInDays' failed to satisfy "
                          "constraint: Member must satisfy enum value set: [1, 3, 5, 7, 14, 30")
    assert boto_error(logs.put_retention_policy, logGroupName="nope", retentionInDays=1)[0] == \
        "ResourceNotFoundException"
    assert cli(kecs, "delete-retention-policy", "--log-group-name", "g") == {}
    assert "retentionInDays" not in logs.describe_log_groups()["logGroups"][0]
    assert boto_error(logs.delete_retention_policy, logGroupName="nope")[0] == "ResourceNotFoundException"


def test_tags_new_and_old_operations(kecs):
    logs = kecs.client("logs")
    logs.create_log_group(logGroupName="g", tags={"a": "1"})
    arn = f"{ARN}:g"
    logs.tag_resource(resourceArn=arn, tags={"b": "2", "c": "3"})
    logs.untag_resource(resourceArn=arn, tagKeys=["c"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1", "b": "2"}
    assert cli(kecs, "tag-log-group", "--log-group-name", "g", "--tags", "d=4") == {}
    assert cli(kecs, "untag-log-group", "--log-group-name", "g", "--tags", "a") == {}
    assert cli(kecs, "list-tags-log-group", "--log-group-name", "g") == {"tags": {"b": "2", "d": "4"}}
    assert cli(kecs, "list-tags-for-resource", "--resource-arn", arn + ":*")["tags"] == {"b": "2", "d": "4"}
    assert boto_error(logs.list_tags_for_resource, resourceArn=f"{ARN}:missing")[0] == "ResourceNotFoundException"
    assert boto_error(logs.tag_resource, resourceArn="arn:aws:s3:::bucket", tags={"a": "b"})[0] == \
        "InvalidParameterException"
    assert boto_error(logs.tag_log_group, logGroupName="missing", tags={"a": "b"})[0] == \
        "ResourceNotFoundException"
    assert boto_error(logs.tag_resource, resourceArn=arn, tags={f"k{i}": "v" for i in range(51)})[0] in (
        "TooManyTagsException", "InvalidParameterException")


def test_deleted_group_events_are_gone_after_recreation(kecs):
    logs = kecs.client("logs")
    make(logs, "g", "s")
    put(logs, "g", "s", ["before"])
    logs.delete_log_group(logGroupName="g")
    make(logs, "g", "s")
    assert logs.filter_log_events(logGroupName="g")["events"] == []
    assert logs.get_log_events(logGroupName="g", logStreamName="s")["events"] == []


def test_events_survive_a_restart(kecs):
    logs = kecs.client("logs")
    make(logs, "g", "s")
    put(logs, "g", "s", ["kept across restarts"])
    kecs.restart()
    logs = kecs.client("logs")
    assert [e["message"] for e in logs.filter_log_events(logGroupName="g")["events"]] == ["kept across restarts"]


def test_aws_logs_tail_follow(kecs):
    """`aws logs tail --follow` polls FilterLogEvents with startTime every 5 s and prints
    each event once."""
    logs = kecs.client("logs")
    make(logs, "/ecs/tail", "web/app/1")
    put(logs, "/ecs/tail", "web/app/1", ["before-follow"])
    env = {"PATH": "/usr/bin:/bin", "HOME": kecs.data_dir, "AWS_ACCESS_KEY_ID": "AKIDKECSTEST",
           "AWS_SECRET_ACCESS_KEY": "secret", "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": "",
           "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([AWS_BIN, "--endpoint-url", kecs.endpoint, "logs", "tail", "/ecs/tail", "--follow",
                             "--since", "5m", "--format", "short"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()

    def wait_line(text, timeout=20):
        deadline = time.time() + timeout
        seen = []
        while time.time() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if proc.poll() is not None:
                    break
                continue
            seen.append(line)
            if text in line:
                return seen
        raise AssertionError(f"{text!r} not printed; saw {seen}; stderr: "
                             f"{proc.stderr.read() if proc.poll() is not None else ''}")

    try:
        wait_line("before-follow")
        put(logs, "/ecs/tail", "web/app/1", ["after-follow-1", "after-follow-2"], start=now_ms())
        seen = wait_line("after-follow-2")
        assert any("after-follow-1" in l for l in seen)
        put(logs, "/ecs/tail", "web/app/1", ["later"], start=now_ms())
        seen = wait_line("later")
        assert not any("after-follow" in l for l in seen), "an event was printed twice"
    finally:
        proc.kill()
        proc.wait(timeout=10)
