"""RunTask's clientToken (issue 11, defect 9): a retry with the token gets the tasks its first
call launched, also across a daemon that died right after committing them."""
import json
import os
import signal

import boto3
import botocore.config
import botocore.exceptions
import botocore.loaders
import botocore.session
import pytest

from test_ecs_support import _KECS_MODEL


def ecs_client(kecs):
    """boto3 with RunTask's clientToken (an idempotency token: boto3 fills in a fresh one per
    call when the caller gives none) and ConflictException, which Debian's botocore model
    predates: its own ECS model with those two taken from the model kecs is built from."""
    own = botocore.loaders.Loader().load_service_model("ecs", "service-2", "2014-11-13")
    own = json.loads(json.dumps(own))
    with open(_KECS_MODEL) as f:
        new = json.load(f)
    own["shapes"]["RunTaskRequest"]["members"]["clientToken"] = new["shapes"]["RunTaskRequest"]["members"]["clientToken"]
    own["shapes"]["ConflictException"] = new["shapes"]["ConflictException"]
    own["shapes"].setdefault("ResourceIds", new["shapes"]["ResourceIds"])
    errors = own["operations"]["RunTask"].setdefault("errors", [])
    if {"shape": "ConflictException"} not in errors:
        errors.append({"shape": "ConflictException"})
    models = os.path.join(kecs.data_dir, "models")
    d = os.path.join(models, "ecs", "2014-11-13")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "service-2.json"), "w") as f:
        json.dump(own, f)
    bs = botocore.session.Session()
    bs.get_component("data_loader").search_paths.insert(0, models)
    return boto3.Session(botocore_session=bs).client(
        "ecs", endpoint_url=kecs.endpoint, region_name="us-east-1", aws_access_key_id="AKIDKECSTEST",
        aws_secret_access_key="secret", config=botocore.config.Config(retries={"max_attempts": 1}))


def register(ecs):
    ecs.create_cluster(clusterName="default")
    # A bridge task with a dynamic host port, so the launch takes the port-probe path too.
    ecs.register_task_definition(family="tok", containerDefinitions=[{
        "name": "web", "image": "nginx", "memory": 64,
        "portMappings": [{"containerPort": 80, "hostPort": 0}]}])


def arns(resp):
    return sorted(t["taskArn"] for t in resp["tasks"])


def run(ecs, **kw):
    return ecs.run_task(cluster="default", taskDefinition="tok", launchType="EC2", **kw)


def task_count(ecs):
    return len(ecs.list_tasks(cluster="default")["taskArns"])


def test_same_token_returns_the_same_tasks(kecs):
    ecs = ecs_client(kecs)
    register(ecs)
    first = run(ecs, count=2, clientToken="retry-1")
    assert len(first["tasks"]) == 2, first
    again = run(ecs, count=2, clientToken="retry-1")
    assert arns(again) == arns(first)
    assert task_count(ecs) == 2
    # Each retry shows the same host ports: nothing was allocated twice.
    ports = {t["taskArn"]: t["containers"][0]["networkBindings"][0]["hostPort"] for t in first["tasks"]}
    for t in again["tasks"]:
        assert t["containers"][0]["networkBindings"][0]["hostPort"] == ports[t["taskArn"]]


def test_another_token_launches_new_tasks(kecs):
    ecs = ecs_client(kecs)
    register(ecs)
    first = run(ecs, clientToken="token-a")
    second = run(ecs, clientToken="token-b")
    assert len(second["tasks"]) == 1
    assert set(arns(first)).isdisjoint(arns(second))
    # Without a token of its own, boto3 makes a new one per call: two calls, two tasks.
    third, fourth = run(ecs), run(ecs)
    assert set(arns(third)).isdisjoint(arns(fourth))
    assert task_count(ecs) == 4


def test_same_token_with_other_parameters_is_a_conflict(kecs):
    ecs = ecs_client(kecs)
    register(ecs)
    run(ecs, count=1, clientToken="reused")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        run(ecs, count=2, clientToken="reused")
    assert err.value.response["Error"]["Code"] == "ConflictException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert task_count(ecs) == 1


def test_token_out_of_the_models_constraints_is_refused(kecs):
    ecs = ecs_client(kecs)
    register(ecs)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        run(ecs, clientToken="x" * 65)
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    assert task_count(ecs) == 0


def test_token_survives_a_daemon_killed_after_the_commit(kecs):
    ecs = ecs_client(kecs)
    register(ecs)
    first = run(ecs, count=3, clientToken="before-the-crash")
    # The client lost the reply; the daemon dies without a clean shutdown.
    kecs.stop(sig=signal.SIGKILL)
    kecs.start()
    ecs = ecs_client(kecs)
    again = run(ecs, count=3, clientToken="before-the-crash")
    assert arns(again) == arns(first)
    assert task_count(ecs) == 3
