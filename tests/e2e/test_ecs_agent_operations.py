"""The agent-facing ECS operations (issue 18) through boto3, on the simulated runtime:
DiscoverPollEndpoint, SubmitTaskStateChange, SubmitContainerStateChange,
SubmitAttachmentStateChanges and UpdateContainerAgent.

A registered container instance whose agent has called DiscoverPollEndpoint is driven by
that agent: the tasks placed on it stay where RunTask left them until the agent reports,
and DescribeTasks, the instance's counts and the services then show what it reported."""
import json
import os

import botocore.exceptions
import pytest

from conftest import wait_for
from test_ecs_support import REGION, awsvpc_config, container, default_subnet, ecs_client_with_model, \
    merged_ecs_model, resources, ts

AGENT_OPS = ("DiscoverPollEndpoint", "SubmitTaskStateChange", "SubmitContainerStateChange",
             "SubmitAttachmentStateChanges", "UpdateContainerAgent")


@pytest.fixture
def ecs(kecs):
    """boto3's ECS client with kecs's newer model for the agent operations."""
    models = os.path.join(kecs.data_dir, "agent-models")
    d = os.path.join(models, "ecs", "2014-11-13")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "service-2.json"), "w") as f:
        json.dump(merged_ecs_model(ops=AGENT_OPS), f)
    return ecs_client_with_model(kecs, models)


def error(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def register(ecs, cluster, instance_id, **kw):
    doc = json.dumps({"instanceId": instance_id, "instanceType": "m5.large", "region": REGION})
    return ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=doc, **kw)[
        "containerInstance"]["containerInstanceArn"]


def host_instance(ecs, cluster, but):
    arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    [host] = [a for a in arns if a != but]
    return host


def task(ecs, cluster, arn):
    out = ecs.describe_tasks(cluster=cluster, tasks=[arn])
    assert out["failures"] == [], out["failures"]
    return out["tasks"][0]


def instance(ecs, cluster, arn):
    return ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])["containerInstances"][0]


def agent_cluster(ecs, name="agents"):
    """A cluster with the host's instance and one registered instance whose agent connected."""
    ecs.create_cluster(clusterName=name)
    ext = register(ecs, name, "i-0aaaa0000bbbb1111")
    ecs.discover_poll_endpoint(cluster=name, containerInstance=ext)
    ecs.register_task_definition(family="agent-app", containerDefinitions=[
        container("app", memory=128, cpu=256, portMappings=[{"containerPort": 80, "hostPort": 0}]),
        container("sidecar", memory=32, essential=False)])
    return ext


def start_on(ecs, cluster, inst, family="agent-app", **kw):
    out = ecs.start_task(cluster=cluster, taskDefinition=family, containerInstances=[inst], **kw)
    assert out["failures"] == [], out["failures"]
    return out["tasks"][0]["taskArn"]


def kecs_task_lives(ecs, cluster, inst):
    """Runs a task kecs drives itself through RUNNING and STOPPED on `inst`: each of its
    steps is a store commit that makes the task controller go over every task, so when it
    returns the controller has passed over the agent's tasks many times."""
    arn = start_on(ecs, cluster, inst)
    wait_for(lambda: task(ecs, cluster, arn)["lastStatus"] == "RUNNING", timeout=60, what="kecs's task RUNNING")
    ecs.stop_task(cluster=cluster, task=arn)
    wait_for(lambda: task(ecs, cluster, arn)["lastStatus"] == "STOPPED", timeout=60, what="kecs's task STOPPED")
    return arn


def test_discover_poll_endpoint_answers_kecs_and_marks_the_agent(kecs, ecs):
    ecs.create_cluster(clusterName="poll")
    ext = register(ecs, "poll", "i-0aaaa0000bbbb2222")
    out = ecs.discover_poll_endpoint(cluster="poll", containerInstance=ext)
    base = kecs.endpoint.rstrip("/") + "/"
    assert (out["endpoint"], out["telemetryEndpoint"], out["serviceConnectEndpoint"]) == (base, base, base)
    assert instance(ecs, "poll", ext)["agentConnected"] is True
    # Without an instance: the endpoints only.
    assert ecs.discover_poll_endpoint()["endpoint"] == base

    assert error(ecs.discover_poll_endpoint, cluster="nope", containerInstance=ext) == \
        ("ClientException", "Cluster not found.")
    assert error(ecs.discover_poll_endpoint, cluster="poll", containerInstance="0" * 32) == \
        ("InvalidParameterException", "The referenced container instance was not found.")


def test_agent_reports_drive_a_task_on_its_instance(ecs):
    ext = agent_cluster(ecs)
    host = host_instance(ecs, "agents", ext)
    arn = start_on(ecs, "agents", ext)

    # kecs does not run it: it stays PENDING while kecs runs its own task through its life.
    kecs_task_lives(ecs, "agents", host)
    t = task(ecs, "agents", arn)
    assert (t["lastStatus"], t["desiredStatus"], t["version"]) == ("PENDING", "RUNNING", 1)
    assert {c["lastStatus"] for c in t["containers"]} == {"PENDING"}
    i = instance(ecs, "agents", ext)
    assert (i["pendingTasksCount"], i["runningTasksCount"]) == (1, 0)
    assert resources(i)["CPU"] == resources(i, "registeredResources")["CPU"] - 256

    # The agent starts the essential container and reports it.
    assert ecs.submit_container_state_change(
        cluster="agents", task=arn, containerName="app", runtimeId="c0ffee01", status="RUNNING",
        networkBindings=[{"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 32768, "protocol": "tcp"}],
    )["acknowledgment"]
    t = task(ecs, "agents", arn)
    app = {c["name"]: c for c in t["containers"]}["app"]
    assert (app["lastStatus"], app["runtimeId"]) == ("RUNNING", "c0ffee01")
    assert app["networkBindings"] == [{"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 32768,
                                       "protocol": "tcp"}]
    assert t["lastStatus"] == "PENDING"

    # Then the task, with the other container, its pull times and ECS Exec's agent.
    ecs.submit_task_state_change(
        cluster="agents", task=arn, status="RUNNING", pullStartedAt=1700000000, pullStoppedAt=1700000003,
        containers=[{"containerName": "sidecar", "runtimeId": "c0ffee02", "status": "RUNNING"}],
        managedAgents=[{"containerName": "app", "managedAgentName": "ExecuteCommandAgent", "status": "RUNNING"}])
    t = task(ecs, "agents", arn)
    assert (t["lastStatus"], t["desiredStatus"], t["connectivity"]) == ("RUNNING", "RUNNING", "CONNECTED")
    assert t["version"] > 1 and "startedAt" in t
    assert (ts(t["pullStartedAt"]), ts(t["pullStoppedAt"])) == (1700000000, 1700000003)
    containers = {c["name"]: c for c in t["containers"]}
    assert {n: c["lastStatus"] for n, c in containers.items()} == {"app": "RUNNING", "sidecar": "RUNNING"}
    [agent] = containers["app"]["managedAgents"]
    assert (agent["name"], agent["lastStatus"]) == ("ExecuteCommandAgent", "RUNNING") and "lastStartedAt" in agent
    i = instance(ecs, "agents", ext)
    assert (i["pendingTasksCount"], i["runningTasksCount"]) == (0, 1)

    # A stale report (the agent retries) changes nothing.
    ecs.submit_container_state_change(cluster="agents", task=arn, containerName="app", status="PENDING")
    assert {c["name"]: c["lastStatus"] for c in task(ecs, "agents", arn)["containers"]}["app"] == "RUNNING"

    # The essential container exits; the agent stops the task.
    ecs.submit_container_state_change(cluster="agents", task=arn, containerName="app", status="STOPPED",
                                      exitCode=137, reason="OutOfMemoryError: Container killed due to memory usage")
    ecs.submit_task_state_change(
        cluster="agents", task=arn, status="STOPPED", reason="Essential container in task exited",
        executionStoppedAt=1700000100,
        containers=[{"containerName": "sidecar", "status": "STOPPED", "exitCode": 0}])
    t = task(ecs, "agents", arn)
    assert (t["lastStatus"], t["desiredStatus"]) == ("STOPPED", "STOPPED")
    assert (t["stopCode"], t["stoppedReason"]) == ("EssentialContainerExited", "Essential container in task exited")
    assert ts(t["executionStoppedAt"]) == 1700000100 and "stoppedAt" in t and "stoppingAt" in t
    containers = {c["name"]: c for c in t["containers"]}
    assert (containers["app"]["exitCode"], containers["sidecar"]["exitCode"]) == (137, 0)
    assert containers["app"]["reason"].startswith("OutOfMemoryError")
    # The instance has its share back.
    i = instance(ecs, "agents", ext)
    assert (i["pendingTasksCount"], i["runningTasksCount"]) == (0, 0)
    assert resources(i)["CPU"] == resources(i, "registeredResources")["CPU"]
    # A report after the task stopped is acknowledged and changes nothing.
    ecs.submit_task_state_change(cluster="agents", task=arn, status="RUNNING")
    assert task(ecs, "agents", arn)["lastStatus"] == "STOPPED"


def test_a_stopped_task_is_stopped_by_its_agent(ecs):
    """StopTask on an agent's task: desiredStatus STOPPED at once, lastStatus when the agent
    reports it; a task that never started stops with TaskFailedToStart's code kept by StopTask."""
    ext = agent_cluster(ecs, "stops")
    arn = start_on(ecs, "stops", ext)
    ecs.stop_task(cluster="stops", task=arn, reason="no longer needed")
    kecs_task_lives(ecs, "stops", host_instance(ecs, "stops", ext))
    t = task(ecs, "stops", arn)
    assert (t["lastStatus"], t["desiredStatus"]) == ("PENDING", "STOPPED")
    ecs.submit_task_state_change(cluster="stops", task=arn, status="STOPPED", reason="ignored: StopTask's stays")
    t = task(ecs, "stops", arn)
    assert (t["lastStatus"], t["stopCode"], t["stoppedReason"]) == ("STOPPED", "UserInitiated", "no longer needed")
    assert {c["lastStatus"] for c in t["containers"]} == {"STOPPED"}


def test_a_service_counts_what_the_agent_reports(ecs):
    ext = agent_cluster(ecs, "svc")
    ecs.create_service(cluster="svc", serviceName="daemon", taskDefinition="agent-app", schedulingStrategy="DAEMON",
                       launchType="EC2")

    def tasks():
        arns = ecs.list_tasks(cluster="svc", serviceName="daemon")["taskArns"]
        return ecs.describe_tasks(cluster="svc", tasks=arns)["tasks"] if arns else []

    def service():
        return ecs.describe_services(cluster="svc", services=["daemon"])["services"][0]
    # One task on each instance: kecs runs the host's, the agent's waits for its agent.
    both = wait_for(lambda: (lambda ts_: ts_ if len(ts_) == 2 and sorted(t["lastStatus"] for t in ts_) ==
                             ["PENDING", "RUNNING"] else None)(tasks()), timeout=60, what="the daemon's two tasks")
    [mine] = [t for t in both if t["containerInstanceArn"] == ext]
    assert mine["lastStatus"] == "PENDING"
    s = service()
    assert (s["runningCount"], s["pendingCount"]) == (1, 1)
    ecs.submit_task_state_change(cluster="svc", task=mine["taskArn"], status="RUNNING")
    s = wait_for(service, until=lambda s: s["runningCount"] == 2, timeout=60, what="the service counting 2 running")
    assert s["pendingCount"] == 0


def test_attachment_state_changes(kecs, ecs):
    ext = agent_cluster(ecs, "eni")
    ecs.register_task_definition(family="agent-vpc", networkMode="awsvpc", containerDefinitions=[
        container("app", memory=64)])
    arn = start_on(ecs, "eni", ext, family="agent-vpc", networkConfiguration=awsvpc_config(default_subnet(kecs)))
    t = task(ecs, "eni", arn)
    [att] = t["attachments"]
    assert (t["lastStatus"], att["status"]) == ("PROVISIONING", "PRECREATED")
    account = t["taskArn"].split(":")[4]
    att_arn = f"arn:aws:ecs:{REGION}:{account}:attachment/{att['id']}"
    assert ecs.submit_attachment_state_changes(
        cluster="eni", attachments=[{"attachmentArn": att_arn, "status": "ATTACHED"}])["acknowledgment"]
    assert task(ecs, "eni", arn)["attachments"][0]["status"] == "ATTACHED"
    # Also within a task state change.
    ecs.submit_task_state_change(cluster="eni", task=arn, status="PENDING",
                                 attachments=[{"attachmentArn": att_arn, "status": "ATTACHED"}])
    assert task(ecs, "eni", arn)["lastStatus"] == "PENDING"

    unknown = f"arn:aws:ecs:{REGION}:{account}:attachment/00000000-0000-0000-0000-000000000000"
    assert error(ecs.submit_attachment_state_changes, cluster="eni",
                 attachments=[{"attachmentArn": unknown, "status": "ATTACHED"}]) == \
        ("InvalidParameterException", f"The attachment {unknown} was not found.")
    code, message = error(ecs.submit_attachment_state_changes, cluster="eni",
                          attachments=[{"attachmentArn": att_arn, "status": "GLUED"}])
    assert code == "InvalidParameterException" and message.startswith("Attachment status should be one of")
    assert error(ecs.submit_attachment_state_changes, cluster="nope",
                 attachments=[{"attachmentArn": att_arn, "status": "ATTACHED"}]) == \
        ("ClusterNotFoundException", "Cluster not found.")


def test_reports_are_validated_and_refused_for_tasks_kecs_runs(ecs):
    ext = agent_cluster(ecs, "refuse")
    host = host_instance(ecs, "refuse", ext)
    mine = start_on(ecs, "refuse", ext)
    kecs_run = start_on(ecs, "refuse", host)

    code, message = error(ecs.submit_task_state_change, cluster="refuse", task=kecs_run, status="RUNNING")
    assert code == "AccessDeniedException" and kecs_run in message
    code, _ = error(ecs.submit_container_state_change, cluster="refuse", task=kecs_run, containerName="app",
                    status="RUNNING")
    assert code == "AccessDeniedException"

    assert error(ecs.submit_task_state_change, cluster="nope", task=mine, status="RUNNING") == \
        ("ClusterNotFoundException", "Cluster not found.")
    assert error(ecs.submit_task_state_change, cluster="refuse", task="not-a-task", status="RUNNING") == \
        ("InvalidParameterException", "Task Identifier is invalid")
    assert error(ecs.submit_task_state_change, cluster="refuse", task="0" * 32, status="RUNNING") == \
        ("InvalidParameterException", "The referenced task was not found.")
    code, message = error(ecs.submit_task_state_change, cluster="refuse", task=mine, status="DANCING")
    assert code == "InvalidParameterException" and message.startswith("Task status should be one of")
    code, message = error(ecs.submit_container_state_change, cluster="refuse", task=mine, containerName="app",
                          status="DANCING")
    assert code == "InvalidParameterException" and message.startswith("Container status should be one of")
    assert error(ecs.submit_container_state_change, cluster="refuse", task=mine, containerName="nope",
                 status="RUNNING") == \
        ("InvalidParameterException", f"The container nope does not exist in the task {mine}.")
    # Nothing of the refused reports was applied.
    assert task(ecs, "refuse", mine)["lastStatus"] == "PENDING"


def test_update_container_agent(ecs):
    ecs.create_cluster(clusterName="upd")
    old = register(ecs, "upd", "i-0aaaa0000bbbb3333",
                   versionInfo={"agentVersion": "1.50.0", "agentHash": "abc", "dockerVersion": "DockerVersion: 20.10"})
    out = ecs.update_container_agent(cluster="upd", containerInstance=old)["containerInstance"]
    assert (out["agentUpdateStatus"], out["versionInfo"]["agentVersion"]) == ("PENDING", "1.50.0")
    code, message = error(ecs.update_container_agent, cluster="upd", containerInstance=old)
    assert code == "UpdateInProgressException" and "update in progress" in message
    done = wait_for(lambda: instance(ecs, "upd", old), until=lambda i: i.get("agentUpdateStatus") == "UPDATED",
                    timeout=30, what="the agent update UPDATED")
    assert done["versionInfo"]["agentVersion"] == "1.82.0"
    code, _ = error(ecs.update_container_agent, cluster="upd", containerInstance=old)
    assert code == "NoUpdateAvailableException"

    host = host_instance(ecs, "upd", old)
    assert error(ecs.update_container_agent, cluster="upd", containerInstance=host)[0] == "NoUpdateAvailableException"
    unversioned = register(ecs, "upd", "i-0aaaa0000bbbb4444", versionInfo={})
    assert error(ecs.update_container_agent, cluster="upd", containerInstance=unversioned)[0] == \
        "MissingVersionException"
    assert error(ecs.update_container_agent, cluster="nope", containerInstance=old) == \
        ("ClusterNotFoundException", "Cluster not found.")
    assert error(ecs.update_container_agent, cluster="upd", containerInstance="0" * 32) == \
        ("InvalidParameterException", "The referenced container instance was not found.")


def test_an_agent_task_stays_the_agents_across_a_restart(kecs, ecs):
    ext = agent_cluster(ecs, "restart")
    arn = start_on(ecs, "restart", ext)
    kecs.restart()
    kecs_task_lives(ecs, "restart", host_instance(ecs, "restart", ext))
    assert task(ecs, "restart", arn)["lastStatus"] == "PENDING"
    ecs.submit_task_state_change(cluster="restart", task=arn, status="RUNNING")
    assert task(ecs, "restart", arn)["lastStatus"] == "RUNNING"
    # Tasks placed on the instance after the restart are the agent's too.
    later = start_on(ecs, "restart", ext)
    ecs.submit_task_state_change(cluster="restart", task=later, status="STOPPED", reason="CannotPullContainerError")
    t = task(ecs, "restart", later)
    assert (t["lastStatus"], t["stopCode"], t["stoppedReason"]) == \
        ("STOPPED", "TaskFailedToStart", "CannotPullContainerError")
