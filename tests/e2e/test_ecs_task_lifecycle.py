"""ECS control plane, acceptance 2: the task state machine, the CLI's waiters, the
timestamps and versions a stopped task carries, and the cluster's counts along the way."""
import json

from conftest import wait_for
from test_ecs_support import arn, container, default_subnet, ts

TIMELINE = ["createdAt", "pullStartedAt", "pullStoppedAt", "startedAt", "stoppingAt",
            "executionStoppedAt", "stoppedAt"]


def describe(kecs, cluster, arns):
    out = kecs.aws("ecs", "describe-tasks", "--cluster", cluster, "--tasks", *arns)
    assert out["failures"] == []
    return {t["taskArn"]: t for t in out["tasks"]}


def counts(kecs, cluster):
    [c] = kecs.client("ecs").describe_clusters(clusters=[cluster], include=["STATISTICS"])["clusters"]
    stats = {s["name"]: int(s["value"]) for s in c["statistics"]}
    return (c["runningTasksCount"], c["pendingTasksCount"], c["registeredContainerInstancesCount"],
            stats["runningEC2TasksCount"], stats["runningFargateTasksCount"])


def test_task_state_machine_with_cli_waiters(kecs):
    """RunTask, StopTask, DescribeTasks and the waiters through the aws CLI; setup and the
    cluster's counts through boto3."""
    subnet = default_subnet(kecs)
    ecs = kecs.client("ecs")
    ecs.create_cluster(clusterName="life")
    ecs.register_container_instance(cluster="life", instanceIdentityDocument=json.dumps(
        {"instanceId": "i-0aaaabbbbccccdddd", "instanceType": "m5.large"}))
    ecs.register_task_definition(family="life-bridge", containerDefinitions=[
        container("app", memory=64), container("sidecar", memory=32, essential=False)])
    ecs.register_task_definition(family="life-fg", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                 cpu="256", memory="512", containerDefinitions=[container("app")])
    assert counts(kecs, "life") == (0, 0, 2, 0, 0)

    bridge = kecs.aws("ecs", "run-task", "--cluster", "life", "--task-definition", "life-bridge",
                      "--count", "2", "--launch-type", "EC2")["tasks"]
    fargate = kecs.aws("ecs", "run-task", "--cluster", "life", "--task-definition", "life-fg",
                       "--launch-type", "FARGATE", "--network-configuration",
                       f"awsvpcConfiguration={{subnets=[{subnet}],assignPublicIp=ENABLED}}")["tasks"]
    assert len(bridge) == 2 and len(fargate) == 1
    for t in bridge:
        assert (t["lastStatus"], t["desiredStatus"], t["version"]) == ("PENDING", "RUNNING", 1)
    assert (fargate[0]["lastStatus"], fargate[0]["version"]) == ("PROVISIONING", 1)
    for t in bridge + fargate:
        assert {c["lastStatus"] for c in t["containers"]} == {"PENDING"}
        assert "startedAt" not in t and "pullStartedAt" not in t
    arns = [t["taskArn"] for t in bridge + fargate]

    p = kecs.aws("ecs", "wait", "tasks-running", "--cluster", "life", "--tasks", *arns, raw=True)
    assert p.returncode == 0, p.stderr
    running = describe(kecs, "life", arns)
    for t in running.values():
        assert t["lastStatus"] == "RUNNING" and t["connectivity"] == "CONNECTED"
        assert {c["lastStatus"] for c in t["containers"]} == {"RUNNING"}
        assert t["version"] > 1
        assert ts(t["createdAt"]) <= ts(t["pullStartedAt"]) <= ts(t["pullStoppedAt"]) <= ts(t["startedAt"])
    fg = running[fargate[0]["taskArn"]]
    assert fg["attachments"][0]["status"] == "ATTACHED"
    assert counts(kecs, "life") == (3, 0, 2, 2, 1)

    # StopTask answers at once with the stop recorded; the agent's work comes after.
    victims = [bridge[0]["taskArn"], fargate[0]["taskArn"]]
    s = kecs.aws("ecs", "stop-task", "--cluster", "life", "--task", victims[0])["task"]
    assert (s["desiredStatus"], s["stopCode"], s["stoppedReason"]) == ("STOPPED", "UserInitiated", "Task stopped by user")
    assert s["lastStatus"] == "RUNNING" and "stoppingAt" in s and "stoppedAt" not in s
    s = kecs.aws("ecs", "stop-task", "--cluster", arn("cluster/life"), "--task", victims[1],
                 "--reason", "maintenance window")["task"]
    assert s["stoppedReason"] == "maintenance window"

    p = kecs.aws("ecs", "wait", "tasks-stopped", "--cluster", "life", "--tasks", *victims, raw=True)
    assert p.returncode == 0, p.stderr
    stopped = describe(kecs, "life", victims)
    for a, t in stopped.items():
        assert (t["lastStatus"], t["desiredStatus"], t["stopCode"]) == ("STOPPED", "STOPPED", "UserInitiated")
        stamps = [ts(t[k]) for k in TIMELINE]
        assert stamps == sorted(stamps), dict(zip(TIMELINE, stamps))
        assert {c["lastStatus"] for c in t["containers"]} == {"STOPPED"}
        assert t["version"] > running[a]["version"]
    assert stopped[victims[0]]["stoppedReason"] == "Task stopped by user"
    assert stopped[victims[1]]["stoppedReason"] == "maintenance window"
    assert stopped[victims[1]]["attachments"][0]["status"] == "DELETED"
    assert counts(kecs, "life") == (1, 0, 2, 1, 0)

    # A stopped task is a terminal failure for the tasks-running waiter.
    p = kecs.aws("ecs", "wait", "tasks-running", "--cluster", "life", "--tasks", victims[0], raw=True)
    assert p.returncode != 0 and "Waiter TasksRunning failed" in p.stderr

    # Stopping again changes nothing: the first reason and version stay.
    again = kecs.aws("ecs", "stop-task", "--cluster", "life", "--task", victims[1], "--reason", "second")["task"]
    assert again["stoppedReason"] == "maintenance window"
    assert again["version"] == stopped[victims[1]]["version"]

    listed = kecs.aws("ecs", "list-tasks", "--cluster", "life", "--desired-status", "STOPPED")
    assert sorted(listed["taskArns"]) == sorted(victims)
    assert ecs.list_tasks(cluster="life")["taskArns"] == [bridge[1]["taskArn"]]


def test_stopping_a_pending_task_and_counts_by_launch_type(kecs):
    """Through boto3: every task of a RunTask is counted once, whatever its state, and a
    task stopped straight after RunTask ends STOPPED with its containers STOPPED."""
    ecs = kecs.client("ecs")
    ecs.create_cluster(clusterName="quick")
    ecs.register_task_definition(family="q", containerDefinitions=[container("app", memory=32)])
    tasks = ecs.run_task(cluster="quick", taskDefinition="q", count=10)["tasks"]
    assert len(tasks) == 10 and len({t["taskArn"] for t in tasks}) == 10
    c = ecs.describe_clusters(clusters=["quick"])["clusters"][0]
    assert c["runningTasksCount"] + c["pendingTasksCount"] == 10
    for t in tasks:
        ecs.stop_task(cluster="quick", task=t["taskArn"])
    arns = [t["taskArn"] for t in tasks]

    def all_stopped():
        got = ecs.describe_tasks(cluster="quick", tasks=arns)["tasks"]
        return all(t["lastStatus"] == "STOPPED" for t in got) and got
    for t in wait_for(all_stopped, what="ten tasks STOPPED"):
        assert t["stopCode"] == "UserInitiated" and "stoppedAt" in t and "executionStoppedAt" in t
        assert {c["lastStatus"] for c in t["containers"]} == {"STOPPED"}
        assert ts(t["createdAt"]) <= ts(t["stoppingAt"]) <= ts(t["executionStoppedAt"]) <= ts(t["stoppedAt"])
    c = ecs.describe_clusters(clusters=["quick"])["clusters"][0]
    assert (c["runningTasksCount"], c["pendingTasksCount"]) == (0, 0)
