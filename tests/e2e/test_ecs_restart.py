"""ECS control plane, acceptance 4: a daemon restart in the middle of a tour loses nothing."""
from conftest import controller_passes, wait_for
from test_ecs_support import (Ecs, all_status, arn, awsvpc_config, container, default_subnet,
                              resources, task_status)


def snapshot(ecs, cluster, arns):
    """Everything the restart must keep, as the API shows it (volatile members dropped)."""
    tasks = ecs("DescribeTasks", cluster=cluster, tasks=arns, include=["TAGS"])
    assert tasks["failures"] == []
    return {t["taskArn"]: t for t in tasks["tasks"]}


def test_restart_mid_tour_loses_nothing(kecs):
    ecs = Ecs(kecs, "boto3")
    subnet = default_subnet(kecs)

    # ---- before ------------------------------------------------------------------------
    ecs("CreateCluster", clusterName="keep", tags=[{"key": "team", "value": "red"}],
        settings=[{"name": "containerInsights", "value": "enabled"}])
    ecs("CreateCluster", clusterName="also")
    ecs("CreateCapacityProvider", name="keep-cp", autoScalingGroupProvider={
        "autoScalingGroupArn": "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1:autoScalingGroupName/k"})
    ecs("PutClusterCapacityProviders", cluster="keep", capacityProviders=["FARGATE", "keep-cp"],
        defaultCapacityProviderStrategy=[])
    for image in ("app:1", "app:2"):
        ecs("RegisterTaskDefinition", family="keep-web", tags=[{"key": "td", "value": "yes"}],
            containerDefinitions=[container("web", image=image, memory=64, cpu=128)])
    ecs("DeregisterTaskDefinition", taskDefinition="keep-web:1")
    ecs("RegisterTaskDefinition", family="keep-fg", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
        cpu="256", memory="512", containerDefinitions=[container("app")])
    ci = ecs("RegisterContainerInstance", cluster="keep",
             totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                             {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024}],
             tags=[{"key": "rack", "value": "7"}])["containerInstance"]["containerInstanceArn"]
    ecs("PutAttributes", cluster="keep", attributes=[{"name": "tier", "value": "gold", "targetId": ci}])
    ecs("PutAccountSetting", name="containerInsights", value="enabled")
    ecs("PutAccountSettingDefault", name="awsvpcTrunking", value="enabled")

    on_ci = ecs("StartTask", cluster="keep", taskDefinition="keep-web", containerInstances=[ci],
                tags=[{"key": "who", "value": "start"}])["tasks"][0]["taskArn"]
    fg = ecs("RunTask", cluster="keep", taskDefinition="keep-fg", launchType="FARGATE",
             networkConfiguration=awsvpc_config(subnet))["tasks"][0]["taskArn"]
    done = ecs("RunTask", cluster="keep", taskDefinition="keep-web:2", startedBy="old")["tasks"][0]["taskArn"]
    arns = [on_ci, fg, done]
    wait_for(lambda: all_status(ecs._client, "keep", arns, "RUNNING"), what="tasks RUNNING")
    ecs("StopTask", cluster="keep", task=done, reason="finished before the restart")
    wait_for(lambda: all_status(ecs._client, "keep", [done], "STOPPED"), what="task STOPPED")
    ecs("TagResource", resourceArn=on_ci, tags=[{"key": "extra", "value": "1"}])

    before_tasks = snapshot(ecs, "keep", arns)
    before_clusters = ecs("DescribeClusters", clusters=["keep", "also"],
                          include=["SETTINGS", "TAGS", "STATISTICS"])["clusters"]
    before_ci = ecs("DescribeContainerInstances", cluster="keep", containerInstances=[ci],
                    include=["TAGS"])["containerInstances"][0]
    assert resources(before_ci) == {"CPU": 1024 - 128, "MEMORY": 1024 - 64}
    assert before_clusters[0]["runningTasksCount"] == 2

    kecs.restart()
    ecs = Ecs(kecs, "boto3")

    # ---- after -------------------------------------------------------------------------
    assert ecs("ListClusters")["clusterArns"] == [arn("cluster/keep"), arn("cluster/also")]
    assert ecs("DescribeClusters", clusters=["keep", "also"],
               include=["SETTINGS", "TAGS", "STATISTICS"])["clusters"] == before_clusters
    assert ecs("ListTagsForResource", resourceArn=arn("cluster/keep"))["tags"] == [{"key": "team", "value": "red"}]

    # Running tasks are still RUNNING, and stay so through the controllers' passes after the
    # restart (a probe task in the other cluster makes them); the stopped one is still
    # describable.
    controller_passes(kecs.client("ecs"), "also", "keep-web:2")
    after_tasks = snapshot(ecs, "keep", arns)
    assert after_tasks == before_tasks
    assert task_status(ecs._client, "keep", arns) == {on_ci: "RUNNING", fg: "RUNNING", done: "STOPPED"}
    assert after_tasks[done]["stoppedReason"] == "finished before the restart"
    assert {t["key"]: t["value"] for t in after_tasks[on_ci]["tags"]} == {"who": "start", "extra": "1"}
    assert ecs("ListTasks", cluster="keep", desiredStatus="STOPPED")["taskArns"] == [done]
    assert ecs("ListTasks", cluster="keep", startedBy="old", desiredStatus="STOPPED")["taskArns"] == [done]

    # Task definitions: states kept, revisions continue where they were.
    assert ecs("ListTaskDefinitions", familyPrefix="keep-web")["taskDefinitionArns"] == [
        arn("task-definition/keep-web:2")]
    assert ecs("ListTaskDefinitions", status="INACTIVE")["taskDefinitionArns"] == [arn("task-definition/keep-web:1")]
    d = ecs("DescribeTaskDefinition", taskDefinition="keep-web", include=["TAGS"])
    assert d["taskDefinition"]["containerDefinitions"][0]["image"] == "app:2"
    assert d["tags"] == [{"key": "td", "value": "yes"}]
    r3 = ecs("RegisterTaskDefinition", family="keep-web", containerDefinitions=[container("web", memory=64)])
    assert r3["taskDefinition"]["revision"] == 3
    assert ecs("ListTaskDefinitionFamilies")["families"] == ["keep-fg", "keep-web"]

    # The container instance: resources still held by its task, tags and attributes kept.
    after_ci = ecs("DescribeContainerInstances", cluster="keep", containerInstances=[ci],
                   include=["TAGS"])["containerInstances"][0]
    assert after_ci == before_ci
    attrs = ecs("ListAttributes", cluster="keep", targetType="container-instance", attributeName="tier")
    assert [(a["value"], a["targetId"]) for a in attrs["attributes"]] == [("gold", ci)]

    # Account settings and capacity providers.
    mine = ecs("ListAccountSettings", name="containerInsights")["settings"]
    assert [(s["name"], s["value"]) for s in mine] == [("containerInsights", "enabled")]
    eff = ecs("ListAccountSettings", name="awsvpcTrunking", effectiveSettings=True)["settings"]
    assert [s["value"] for s in eff] == ["enabled"]
    cps = ecs("DescribeCapacityProviders", capacityProviders=["keep-cp"])
    assert cps["capacityProviders"][0]["status"] == "ACTIVE" and cps["failures"] == []

    # The tour goes on: the kept tasks stop normally and free their instance.
    ecs("StopTask", cluster="keep", task=on_ci)
    wait_for(lambda: all_status(ecs._client, "keep", [on_ci], "STOPPED"), what="task STOPPED after restart")
    freed = ecs("DescribeContainerInstances", cluster="keep", containerInstances=[ci])["containerInstances"][0]
    assert resources(freed) == {"CPU": 1024, "MEMORY": 1024}
    more = ecs("RunTask", cluster="keep", taskDefinition="keep-web", count=2)
    assert len(more["tasks"]) == 2 and more["failures"] == []
    assert more["tasks"][0]["taskDefinitionArn"] == arn("task-definition/keep-web:3")
