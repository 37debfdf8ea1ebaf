"""ECS managed daemons (issue 18) through boto3 with kecs's ECS model: the four daemon
task definition operations, CreateDaemon, DescribeDaemon, ListDaemons, UpdateDaemon (a
rolling deployment), DeleteDaemon, DescribeDaemonDeployments, ListDaemonDeployments and
DescribeDaemonRevisions, on the simulated runtime; and, as root, a daemon task really
running on the local runtime.

A daemon runs one task on each container instance its Managed Instances capacity
providers cover: here the host's own instance and one more registered instance."""
import json
import os

import pytest

from conftest import is_root, wait_for
from test_ecs_support import REGION, _shape_refs, _KECS_MODEL, client_error, ecs_client_with_model, \
    merged_ecs_model

DAEMON_OPS = ("RegisterDaemonTaskDefinition", "DescribeDaemonTaskDefinition", "DeleteDaemonTaskDefinition",
              "ListDaemonTaskDefinitions", "CreateDaemon", "UpdateDaemon", "DeleteDaemon", "DescribeDaemon",
              "ListDaemons", "DescribeDaemonDeployments", "ListDaemonDeployments", "DescribeDaemonRevisions")
ACCOUNT = "000000000000"


def daemon_client(kecs):
    """boto3's ECS client with the daemon operations, and CreateCapacityProvider's newer
    request (managedInstancesProvider) from kecs's model."""
    model = merged_ecs_model(ops=DAEMON_OPS)
    with open(_KECS_MODEL) as f:
        new = json.load(f)
    todo = ["CreateCapacityProviderRequest"]
    first = True
    while todo:
        name = todo.pop()
        if name in model["shapes"] and not first:
            continue
        first = False
        model["shapes"][name] = new["shapes"][name]
        todo += list(_shape_refs(new["shapes"][name]))
    models = os.path.join(kecs.data_dir, "daemon-models")
    d = os.path.join(models, "ecs", "2014-11-13")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "service-2.json"), "w") as f:
        json.dump(model, f)
    return ecs_client_with_model(kecs, models)


@pytest.fixture
def ecs(kecs):
    return daemon_client(kecs)


def container(name="agent", image="public.ecr.aws/docker/library/busybox:latest", cmd=("sleep", "3600")):
    return {"name": name, "image": image, "memory": 32, "command": list(cmd)}


def managed_cluster(ecs, cluster):
    ecs.create_cluster(clusterName=cluster)
    ecs.create_capacity_provider(name=f"{cluster}-mi", managedInstancesProvider={
        "infrastructureRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecsInfrastructureRole",
        "instanceLaunchTemplate": {
            "ec2InstanceProfileArn": f"arn:aws:iam::{ACCOUNT}:instance-profile/ecsInstanceRole",
            "networkConfiguration": {"subnets": []}}})
    ecs.put_cluster_capacity_providers(cluster=cluster, capacityProviders=[f"{cluster}-mi"],
                                       defaultCapacityProviderStrategy=[])
    return f"{cluster}-mi"


def deployment(ecs, arn):
    out = ecs.describe_daemon_deployments(daemonDeploymentArns=[arn])
    assert out["failures"] == [], out["failures"]
    return out["daemonDeployments"][0]


def daemon_tasks(ecs, cluster, status="RUNNING"):
    arns = ecs.list_tasks(cluster=cluster, desiredStatus=status)["taskArns"]
    if not arns:
        return []
    return [t for t in ecs.describe_tasks(cluster=cluster, tasks=arns, include=["TAGS"])["tasks"] if t["group"].startswith("daemon:")]


def test_daemon_task_definitions(ecs):
    r1 = ecs.register_daemon_task_definition(family="e2e-agent", containerDefinitions=[container()],
                                             pidMode="shared", tags=[{"key": "team", "value": "obs"}])
    arn1 = r1["daemonTaskDefinitionArn"]
    assert arn1 == f"arn:aws:ecs:{REGION}:{ACCOUNT}:daemon-task-definition/e2e-agent:1"
    arn2 = ecs.register_daemon_task_definition(family="e2e-agent", containerDefinitions=[container()],
                                               cpu="256", memory="128")["daemonTaskDefinitionArn"]
    td = ecs.describe_daemon_task_definition(daemonTaskDefinition="e2e-agent")["daemonTaskDefinition"]
    assert td["daemonTaskDefinitionArn"] == arn2 and td["revision"] == 2 and td["status"] == "ACTIVE"
    assert td["containerDefinitions"][0]["essential"] is True
    assert ecs.describe_daemon_task_definition(daemonTaskDefinition=arn1)["daemonTaskDefinition"]["pidMode"] == "shared"

    listed = ecs.list_daemon_task_definitions(familyPrefix="e2e-")["daemonTaskDefinitions"]
    assert [s["arn"] for s in listed] == [arn1, arn2]
    page = ecs.list_daemon_task_definitions(familyPrefix="e2e-", maxResults=1)
    assert [s["arn"] for s in page["daemonTaskDefinitions"]] == [arn1]
    page2 = ecs.list_daemon_task_definitions(familyPrefix="e2e-", maxResults=1, nextToken=page["nextToken"])
    assert [s["arn"] for s in page2["daemonTaskDefinitions"]] == [arn2] and "nextToken" not in page2

    assert ecs.delete_daemon_task_definition(daemonTaskDefinition="e2e-agent:1")["daemonTaskDefinitionArn"] == arn1
    # No daemon runs it: the scheduler takes it from DELETE_IN_PROGRESS (held in the unit
    # tests) to DELETED; the ACTIVE list no longer shows it either way.
    assert [s["arn"] for s in ecs.list_daemon_task_definitions(family="e2e-agent")["daemonTaskDefinitions"]] == [arn2]
    wait_for(lambda: ecs.list_daemon_task_definitions(family="e2e-agent", status="ALL")["daemonTaskDefinitions"][0]
             ["status"] == "DELETED", what="the deleted daemon task definition DELETED")
    last = ecs.list_daemon_task_definitions(family="e2e-agent", status="ALL", revision="LAST_REGISTERED")
    assert [s["arn"] for s in last["daemonTaskDefinitions"]] == [arn2]

    assert client_error(ecs.describe_daemon_task_definition, daemonTaskDefinition="nothing-here") == \
        ("ClientException", "Unable to describe daemon task definition.")
    assert client_error(ecs.delete_daemon_task_definition, daemonTaskDefinition="e2e-agent:1") == \
        ("ClientException", "The specified daemon task definition does not exist.")
    code, _ = client_error(ecs.register_daemon_task_definition, family="bad family",
                           containerDefinitions=[container()])
    assert code == "ClientException"


def test_daemon_runs_one_task_per_instance_and_rolls_out_an_update(ecs):
    cluster = "daemons"
    cp = managed_cluster(ecs, cluster)
    td1 = ecs.register_daemon_task_definition(family="d-agent", containerDefinitions=[container()])[
        "daemonTaskDefinitionArn"]
    td2 = ecs.register_daemon_task_definition(family="d-agent", containerDefinitions=[container(cmd=("sleep", "7200"))])[
        "daemonTaskDefinitionArn"]
    # A second container instance: the daemon covers it too.
    ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=json.dumps(
        {"instanceId": "i-0daemon0000000001", "instanceType": "m5.large", "region": REGION}))

    created = ecs.create_daemon(daemonName="agent", clusterArn=cluster, daemonTaskDefinitionArn=td1,
                                capacityProviderArns=[f"arn:aws:ecs:{REGION}:{ACCOUNT}:capacity-provider/{cp}"],
                                tags=[{"key": "k", "value": "v"}], propagateTags="DAEMON")
    daemon = created["daemonArn"]
    assert daemon == f"arn:aws:ecs:{REGION}:{ACCOUNT}:daemon/{cluster}/agent"
    assert created["status"] == "ACTIVE"
    dep1 = created["deploymentArn"]
    assert dep1.startswith(f"arn:aws:ecs:{REGION}:{ACCOUNT}:daemon-deployment/{cluster}/agent/")

    wait_for(lambda: deployment(ecs, dep1)["status"] == "SUCCESSFUL", what="the first deployment SUCCESSFUL")
    tasks = daemon_tasks(ecs, cluster)
    assert len(tasks) == 2
    assert {t["taskDefinitionArn"] for t in tasks} == {td1}
    assert len({t["containerInstanceArn"] for t in tasks}) == 2, "one task on each instance"
    assert all(t["lastStatus"] == "RUNNING" and t["capacityProviderName"] == cp for t in tasks)
    assert all({"key": "k", "value": "v"} in t["tags"] for t in tasks)
    d = ecs.describe_daemon(daemonArn=daemon)["daemon"]
    assert d["status"] == "ACTIVE" and d["deploymentArn"] == dep1
    assert d["currentRevisions"][0]["totalRunningCount"] == 2
    assert d["currentRevisions"][0]["capacityProviders"][0]["runningCount"] == 2
    first = deployment(ecs, dep1)
    assert first["targetDaemonRevision"]["totalRunningInstanceCount"] == 2
    assert first["deploymentConfiguration"]["drainPercent"] == 25.0
    assert "startedAt" in first and "finishedAt" in first

    listed = ecs.list_daemons(clusterArn=cluster)["daemonSummariesList"]
    assert [s["daemonArn"] for s in listed] == [daemon]
    assert ecs.list_daemons(clusterArn=cluster, capacityProviderArns=["other"])["daemonSummariesList"] == []

    # The update: one instance at a time (drainPercent 50 of 2), stop old then start new.
    updated = ecs.update_daemon(daemonArn=daemon, daemonTaskDefinitionArn=td2, capacityProviderArns=[cp],
                                deploymentConfiguration={"drainPercent": 50.0, "bakeTimeInMinutes": 0})
    dep2 = updated["deploymentArn"]
    assert dep2 != dep1 and updated["status"] == "ACTIVE"
    done = wait_for(lambda: deployment(ecs, dep2), until=lambda dp: dp["status"] == "SUCCESSFUL", timeout=30,
                    what="the update deployment SUCCESSFUL")
    tasks = daemon_tasks(ecs, cluster)
    assert len(tasks) == 2 and {t["taskDefinitionArn"] for t in tasks} == {td2}
    stopped = daemon_tasks(ecs, cluster, status="STOPPED")
    assert {t["taskDefinitionArn"] for t in stopped} == {td1}
    assert done["targetDaemonRevision"]["totalRunningInstanceCount"] == 2
    assert done["sourceDaemonRevisions"][0]["arn"] == first["targetDaemonRevision"]["arn"]
    assert done["sourceDaemonRevisions"][0]["totalRunningInstanceCount"] == 0

    deps = ecs.list_daemon_deployments(daemonArn=daemon)["daemonDeployments"]
    assert [x["daemonDeploymentArn"] for x in deps] == [dep2, dep1]
    assert deps[0]["targetDaemonRevisionArn"] == done["targetDaemonRevision"]["arn"]
    page = ecs.list_daemon_deployments(daemonArn=daemon, maxResults=1)
    assert [x["daemonDeploymentArn"] for x in page["daemonDeployments"]] == [dep2]
    page2 = ecs.list_daemon_deployments(daemonArn=daemon, maxResults=1, nextToken=page["nextToken"])
    assert [x["daemonDeploymentArn"] for x in page2["daemonDeployments"]] == [dep1]
    assert ecs.list_daemon_deployments(daemonArn=daemon, status=["STOPPED"])["daemonDeployments"] == []

    rev2 = done["targetDaemonRevision"]["arn"]
    missing = rev2.rsplit("/", 1)[0] + "/nothing"
    revs = ecs.describe_daemon_revisions(daemonRevisionArns=[rev2, missing])
    assert revs["daemonRevisions"][0]["daemonTaskDefinitionArn"] == td2
    assert revs["daemonRevisions"][0]["containerImages"][0]["containerName"] == "agent"
    assert revs["daemonRevisions"][0]["propagateTags"] == "NONE"
    assert revs["failures"] == [{"arn": missing, "reason": "MISSING"}]

    deleted = ecs.delete_daemon(daemonArn=daemon)
    assert deleted["status"] == "DELETE_IN_PROGRESS"
    assert client_error(ecs.update_daemon, daemonArn=daemon, daemonTaskDefinitionArn=td2,
                        capacityProviderArns=[cp]) == ("DaemonNotActiveException", "Daemon is not ACTIVE.")
    wait_for(lambda: client_error(ecs.describe_daemon, daemonArn=daemon)[0] == "DaemonNotFoundException"
             if not _exists(ecs, daemon) else False, what="the deleted daemon gone")
    assert daemon_tasks(ecs, cluster) == []
    # Its deployments and revisions went with it (as DeleteService deletes a service's history).
    gone = ecs.describe_daemon_deployments(daemonDeploymentArns=[deleted["deploymentArn"], dep1])
    assert gone["daemonDeployments"] == [] and [f["reason"] for f in gone["failures"]] == ["MISSING", "MISSING"]
    assert ecs.describe_daemon_revisions(daemonRevisionArns=[rev2])["failures"] == [{"arn": rev2, "reason": "MISSING"}]


def _exists(ecs, daemon):
    try:
        ecs.describe_daemon(daemonArn=daemon)
        return True
    except ecs.exceptions.ClientError:
        return False


def test_daemon_errors(ecs):
    cluster = "daemon-errors"
    cp = managed_cluster(ecs, cluster)
    td = ecs.register_daemon_task_definition(family="err-agent", containerDefinitions=[container()])[
        "daemonTaskDefinitionArn"]
    unknown = f"arn:aws:ecs:{REGION}:{ACCOUNT}:daemon/{cluster}/nobody"
    assert client_error(ecs.describe_daemon, daemonArn=unknown) == ("DaemonNotFoundException", "Daemon not found.")
    assert client_error(ecs.delete_daemon, daemonArn=unknown) == ("DaemonNotFoundException", "Daemon not found.")
    assert client_error(ecs.describe_daemon, daemonArn="not-an-arn") == \
        ("InvalidParameterException", "Invalid daemon ARN: not-an-arn")
    assert client_error(ecs.describe_daemon, daemonArn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:daemon/missing/x")[0] == \
        "ClusterNotFoundException"
    code, msg = client_error(ecs.create_daemon, daemonName="bad name!", clusterArn=cluster,
                             daemonTaskDefinitionArn=td, capacityProviderArns=[cp])
    assert code == "InvalidParameterException" and "255 letters" in msg
    code, msg = client_error(ecs.create_daemon, daemonName="fg", clusterArn=cluster, daemonTaskDefinitionArn=td,
                             capacityProviderArns=["FARGATE"])
    assert code == "InvalidParameterException" and "Managed Instances" in msg
    assert client_error(ecs.create_daemon, daemonName="x", clusterArn=cluster, daemonTaskDefinitionArn="nope:3",
                        capacityProviderArns=[cp]) == \
        ("ClientException", "The specified daemon task definition does not exist.")
    assert client_error(ecs.create_daemon, daemonName="x", clusterArn="no-such-cluster",
                        daemonTaskDefinitionArn=td, capacityProviderArns=[cp])[0] == "ClusterNotFoundException"
    code, _ = client_error(ecs.create_daemon, daemonName="x", clusterArn=cluster, daemonTaskDefinitionArn=td,
                           capacityProviderArns=[cp], deploymentConfiguration={"drainPercent": 150.0})
    assert code == "InvalidParameterException"
    # The same request with the same clientToken is idempotent; another request is not.
    a = ecs.create_daemon(daemonName="once", clusterArn=cluster, daemonTaskDefinitionArn=td,
                          capacityProviderArns=[cp], clientToken="tok-1")
    b = ecs.create_daemon(daemonName="once", clusterArn=cluster, daemonTaskDefinitionArn=td,
                          capacityProviderArns=[cp], clientToken="tok-1")
    assert a["daemonArn"] == b["daemonArn"] and a["deploymentArn"] == b["deploymentArn"]
    assert client_error(ecs.create_daemon, daemonName="once", clusterArn=cluster, daemonTaskDefinitionArn=td,
                        capacityProviderArns=[cp]) == ("InvalidParameterException", "Creation of daemon was not idempotent.")
    code, _ = client_error(ecs.describe_daemon_deployments, daemonDeploymentArns=[])
    assert code == "InvalidParameterException"
    # propagateTags is DAEMON or NONE (DaemonPropagateTags).
    assert client_error(ecs.create_daemon, daemonName="tags", clusterArn=cluster, daemonTaskDefinitionArn=td,
                        capacityProviderArns=[cp], propagateTags="SERVICE") == \
        ("InvalidParameterException", "propagateTags should be one of [DAEMON,NONE]")
    # An ACTIVE daemon keeps its cluster (no source gives ECS's refusal: kecs's words).
    assert client_error(ecs.delete_cluster, cluster=cluster) == \
        ("ClientException", "The Cluster cannot be deleted while Daemons are active.")
    ecs.delete_daemon(daemonArn=a["daemonArn"])
    wait_for(lambda: not _exists(ecs, a["daemonArn"]), timeout=60, what="the daemon deleted")
    # Its deployments went with it.
    assert ecs.describe_daemon_deployments(daemonDeploymentArns=[a["deploymentArn"]])["failures"][0]["reason"] == \
        "MISSING"
    assert ecs.delete_cluster(cluster=cluster)["cluster"]["status"] == "INACTIVE"


@pytest.mark.skipif(not is_root(), reason="the local runtime needs root")
def test_daemon_task_really_runs_on_the_local_runtime(local_kecs):
    ecs = daemon_client(local_kecs)
    cluster = local_kecs.prefix + "-daemons"
    cp = managed_cluster(ecs, cluster)
    td = ecs.register_daemon_task_definition(family=local_kecs.prefix + "-agent", containerDefinitions=[
        container(image="nginx:latest", cmd=("/bin/sh", "-c", "echo daemon-up; sleep 3600"))])["daemonTaskDefinitionArn"]
    created = ecs.create_daemon(daemonName="agent", clusterArn=cluster, daemonTaskDefinitionArn=td,
                                capacityProviderArns=[cp])
    try:
        # On a timeout, the printed deployments and stopped tasks say why (pytest shows them).
        wait_for(lambda: deployment(ecs, created["deploymentArn"]), timeout=90,
                 until=lambda dp: dp["status"] == "SUCCESSFUL" or print(dp, [
                     (t["lastStatus"], t.get("stoppedReason")) for t in daemon_tasks(ecs, cluster, "STOPPED")]),
                 what="the daemon's task RUNNING on the local runtime")
        [task] = daemon_tasks(ecs, cluster)
        assert task["lastStatus"] == "RUNNING" and task["taskDefinitionArn"] == td
        assert task["containers"][0]["lastStatus"] == "RUNNING"
        assert task["containers"][0].get("runtimeId"), "a real container"
    finally:
        ecs.delete_daemon(daemonArn=created["daemonArn"])
        wait_for(lambda: not _exists(ecs, created["daemonArn"]), timeout=90, what="the daemon deleted")
