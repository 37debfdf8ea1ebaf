"""ECS control plane, acceptance 1: a scripted tour of every operation, run once through
the real aws CLI and once through boto3 (same script, same assertions).

Through the CLI, the first call of each operation, every call carrying a nextToken and
every expected error go through an aws process; other repeats of an operation go through
boto3 to keep the run short (an aws process costs most of a second, several on a loaded
host). The test checks that all 37 operations went through the CLI."""
import pytest

from conftest import wait_for
from test_ecs_support import (ECS_OPERATIONS, Ecs, all_status, arn, awsvpc_config, container,
                              default_subnet, resources)


def by_arn(items, key):
    return {i[key]: i for i in items}


def tags_of(out):
    return {t["key"]: t["value"] for t in out["tags"]}


@pytest.mark.parametrize("mode", ["cli", "boto3"])
def test_tour_of_every_operation(kecs, mode):
    ecs = Ecs(kecs, mode, cli_repeats=False)
    poll = kecs.client("ecs")        # fast polling while waiting for the task controller
    subnet = default_subnet(kecs)

    # ---- clusters -------------------------------------------------------------------
    a = ecs("CreateCluster", clusterName="tour-a",
            tags=[{"key": "team", "value": "blue"}],
            settings=[{"name": "containerInsights", "value": "enabled"}],
            configuration={"executeCommandConfiguration": {"logging": "DEFAULT"}})["cluster"]
    assert a["clusterArn"] == arn("cluster/tour-a") and a["status"] == "ACTIVE"
    assert a["tags"] == [{"key": "team", "value": "blue"}]
    assert {"name": "containerInsights", "value": "enabled"} in a["settings"]
    b, c = ecs.many([("CreateCluster", {"clusterName": "tour-b"}),
                     ("CreateCluster", {"clusterName": "tour-c"})])
    assert b["cluster"]["clusterName"] == "tour-b" and c["cluster"]["clusterName"] == "tour-c"

    # ListClusters, one per page, following nextToken to the end.
    pages, token = [], None
    while True:
        out = ecs("ListClusters", maxResults=1, **({"nextToken": token} if token else {}))
        pages.append(out["clusterArns"])
        token = out.get("nextToken")
        if not token:
            break
        assert len(pages) < 5, "pagination does not end"
    assert [len(p) for p in pages] == [1, 1, 1]
    assert sorted(sum(pages, [])) == [arn("cluster/tour-a"), arn("cluster/tour-b"), arn("cluster/tour-c")]
    assert pages[0] == [arn("cluster/tour-a")]   # oldest first

    out = ecs("DescribeClusters", clusters=["tour-a", "no-such-cluster"],
              include=["ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"])
    assert out["failures"] == [{"arn": arn("cluster/no-such-cluster"), "reason": "MISSING"}]
    [d] = out["clusters"]
    assert d["attachments"] == []
    assert d["configuration"] == {"executeCommandConfiguration": {"logging": "DEFAULT"}}
    assert d["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert d["tags"] == [{"key": "team", "value": "blue"}]
    stats = {s["name"]: s["value"] for s in d["statistics"]}
    assert stats["runningEC2TasksCount"] == "0" and stats["pendingFargateTasksCount"] == "0"
    assert len(stats) == 8
    assert d["registeredContainerInstancesCount"] == 1     # the host's own instance

    u = ecs("UpdateCluster", cluster="tour-a",
            settings=[{"name": "containerInsights", "value": "disabled"}],
            configuration={"executeCommandConfiguration": {"logging": "NONE"}})["cluster"]
    assert u["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    assert u["configuration"]["executeCommandConfiguration"]["logging"] == "NONE"
    u = ecs("UpdateClusterSettings", cluster=arn("cluster/tour-a"),
            settings=[{"name": "containerInsights", "value": "enhanced"}])["cluster"]
    assert u["settings"] == [{"name": "containerInsights", "value": "enhanced"}]

    # ---- capacity providers -----------------------------------------------------------
    asg = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1111:autoScalingGroupName/tour"
    cp = ecs("CreateCapacityProvider", name="tour-cp",
             autoScalingGroupProvider={"autoScalingGroupArn": asg,
                                       "managedScaling": {"status": "ENABLED", "targetCapacity": 100}},
             tags=[{"key": "cp", "value": "1"}])["capacityProvider"]
    assert cp["capacityProviderArn"] == arn("capacity-provider/tour-cp") and cp["status"] == "ACTIVE"
    assert cp["autoScalingGroupProvider"]["autoScalingGroupArn"] == asg
    out = ecs("DescribeCapacityProviders", capacityProviders=["FARGATE", "tour-cp", "nope-cp"],
              include=["TAGS"])
    assert [p["name"] for p in out["capacityProviders"]] == ["FARGATE", "tour-cp"]
    assert out["capacityProviders"][1]["tags"] == [{"key": "cp", "value": "1"}]
    assert out["failures"] == [{"arn": arn("capacity-provider/nope-cp"), "reason": "MISSING"}]
    cp = ecs("UpdateCapacityProvider", name="tour-cp",
             autoScalingGroupProvider={"managedScaling": {"status": "ENABLED", "targetCapacity": 80}})
    assert cp["capacityProvider"]["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 80
    assert cp["capacityProvider"]["autoScalingGroupProvider"]["autoScalingGroupArn"] == asg
    u = ecs("PutClusterCapacityProviders", cluster="tour-a",
            capacityProviders=["FARGATE", "FARGATE_SPOT", "tour-cp"],
            defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1, "base": 1}])["cluster"]
    assert u["capacityProviders"] == ["FARGATE", "FARGATE_SPOT", "tour-cp"]
    assert u["defaultCapacityProviderStrategy"] == [{"capacityProvider": "FARGATE", "weight": 1, "base": 1}]

    # ---- task definitions -------------------------------------------------------------
    web = [container("web", memory=128, cpu=256, portMappings=[{"containerPort": 80}],
                     environment=[{"name": "MODE", "value": "prod"}])]
    revs = []
    for image in ("nginx:1", "nginx:2", "nginx:3"):
        web[0]["image"] = image
        td = ecs("RegisterTaskDefinition", family="tour-web", containerDefinitions=web,
                 tags=[{"key": "app", "value": "web"}])
        revs.append(td["taskDefinition"])
    assert [r["revision"] for r in revs] == [1, 2, 3]
    assert revs[2]["taskDefinitionArn"] == arn("task-definition/tour-web:3")
    assert revs[0]["compatibilities"] == ["EC2"] and revs[0]["status"] == "ACTIVE"
    assert revs[0]["containerDefinitions"][0]["portMappings"][0]["protocol"] == "tcp"
    fg = ecs("RegisterTaskDefinition", family="tour-fg", networkMode="awsvpc",
             requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
             containerDefinitions=[container("app", portMappings=[{"containerPort": 8080}])])["taskDefinition"]
    assert fg["compatibilities"] == ["EC2", "FARGATE"]
    assert fg["containerDefinitions"][0]["portMappings"][0]["hostPort"] == 8080

    latest, first, second = ecs.many([
        ("DescribeTaskDefinition", {"taskDefinition": "tour-web", "include": ["TAGS"]}),
        ("DescribeTaskDefinition", {"taskDefinition": "tour-web:1"}),
        ("DescribeTaskDefinition", {"taskDefinition": arn("task-definition/tour-web:2")})])
    assert latest["taskDefinition"]["revision"] == 3
    assert latest["taskDefinition"]["containerDefinitions"][0]["image"] == "nginx:3"
    assert latest["tags"] == [{"key": "app", "value": "web"}]
    assert first["taskDefinition"]["containerDefinitions"][0]["image"] == "nginx:1"
    assert "tags" not in first
    assert second["taskDefinition"]["revision"] == 2

    p1 = ecs("ListTaskDefinitions", familyPrefix="tour-web", sort="DESC", maxResults=2)
    assert p1["taskDefinitionArns"] == [arn("task-definition/tour-web:3"), arn("task-definition/tour-web:2")]
    p2 = ecs("ListTaskDefinitions", familyPrefix="tour-web", sort="DESC", maxResults=2,
             nextToken=p1["nextToken"])
    assert p2["taskDefinitionArns"] == [arn("task-definition/tour-web:1")] and "nextToken" not in p2
    fams = ecs("ListTaskDefinitionFamilies", familyPrefix="tour-")
    assert fams["families"] == ["tour-fg", "tour-web"]

    dereg = ecs("DeregisterTaskDefinition", taskDefinition="tour-web:1")["taskDefinition"]
    assert dereg["status"] == "INACTIVE" and "deregisteredAt" in dereg
    inactive = ecs("ListTaskDefinitions", status="INACTIVE")
    assert inactive["taskDefinitionArns"] == [arn("task-definition/tour-web:1")]
    out = ecs("DeleteTaskDefinitions", taskDefinitions=["tour-web:1", "tour-web:2"])
    assert [t["taskDefinitionArn"] for t in out["taskDefinitions"]] == [arn("task-definition/tour-web:1")]
    assert out["taskDefinitions"][0]["status"] == "DELETE_IN_PROGRESS"
    assert [f["arn"] for f in out["failures"]] == [arn("task-definition/tour-web:2")]
    assert "ACTIVE" in out["failures"][0]["reason"]
    assert ecs.error("DescribeTaskDefinition", taskDefinition="tour-web:1") == (
        "ClientException", "Unable to describe task definition.")

    # ---- container instances ----------------------------------------------------------
    ident = '{"instanceId": "i-0123456789abcdef0", "instanceType": "t3.micro", "availabilityZone": "us-east-1b", "region": "us-east-1"}'
    ci = ecs("RegisterContainerInstance", cluster="tour-a", instanceIdentityDocument=ident,
             totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                             {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048}],
             attributes=[{"name": "stack", "value": "blue"}])["containerInstance"]
    mine = ci["containerInstanceArn"]
    assert mine.startswith(arn("container-instance/tour-a/")) and len(mine.rsplit("/", 1)[1]) == 32
    assert ci["ec2InstanceId"] == "i-0123456789abcdef0" and ci["status"] == "ACTIVE"
    assert resources(ci, "registeredResources") == {"CPU": 1024, "MEMORY": 2048}
    assert resources(ci) == {"CPU": 1024, "MEMORY": 2048}
    assert {"name": "stack", "value": "blue"} in ci["attributes"]
    filtered, active = ecs.many([
        ("ListContainerInstances", {"cluster": "tour-a", "filter": "attribute:ecs.instance-type == t3.micro"}),
        ("ListContainerInstances", {"cluster": "tour-a", "status": "ACTIVE"})])
    assert filtered["containerInstanceArns"] == [mine]
    assert len(active["containerInstanceArns"]) == 2 and mine in active["containerInstanceArns"]
    host = next(x for x in active["containerInstanceArns"] if x != mine)

    # ---- tasks ------------------------------------------------------------------------
    ec2_run, fg_run, ext_run, spot_run, started = ecs.many([
        ("RunTask", {"cluster": "tour-a", "taskDefinition": "tour-web", "count": 2, "launchType": "EC2",
                     "startedBy": "tour", "group": "tour-group", "enableExecuteCommand": True,
                     "tags": [{"key": "run", "value": "ec2"}],
                     "overrides": {"containerOverrides": [{
                         "name": "web", "command": ["sh", "-c", "sleep 3600"],
                         "environment": [{"name": "MODE", "value": "tour"}]}]}}),
        ("RunTask", {"cluster": "tour-a", "taskDefinition": "tour-fg:1", "launchType": "FARGATE",
                     "networkConfiguration": awsvpc_config(subnet)}),
        ("RunTask", {"cluster": "tour-a", "taskDefinition": "tour-web:3", "launchType": "EXTERNAL"}),
        ("RunTask", {"cluster": "tour-a", "taskDefinition": "tour-fg",
                     "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
                     "networkConfiguration": awsvpc_config(subnet)}),
        ("StartTask", {"cluster": "tour-a", "taskDefinition": "tour-web:2", "containerInstances": [mine],
                       "startedBy": "starter"}),
    ])
    for out in (ec2_run, fg_run, ext_run, spot_run, started):
        assert out["failures"] == []
    assert len(ec2_run["tasks"]) == 2
    for t in ec2_run["tasks"]:
        assert t["lastStatus"] == "PENDING" and t["desiredStatus"] == "RUNNING"
        assert t["launchType"] == "EC2" and t["startedBy"] == "tour" and t["group"] == "tour-group"
        assert t["enableExecuteCommand"] is True
        assert t["tags"] == [{"key": "run", "value": "ec2"}]
        assert t["containerInstanceArn"] in (mine, host)
        assert t["taskArn"].startswith(arn("task/tour-a/"))
        assert t["taskDefinitionArn"] == arn("task-definition/tour-web:3")
        [ov] = t["overrides"]["containerOverrides"]
        assert ov["command"] == ["sh", "-c", "sleep 3600"]
        assert ov["environment"] == [{"name": "MODE", "value": "tour"}]
        assert t["version"] == 1
    [fgt] = fg_run["tasks"]
    assert fgt["lastStatus"] == "PROVISIONING" and fgt["launchType"] == "FARGATE"
    assert "containerInstanceArn" not in fgt and fgt["platformVersion"]
    assert fgt["attachments"][0]["type"] == "ElasticNetworkInterface"
    assert fgt["attachments"][0]["status"] == "PRECREATED"
    [ext] = ext_run["tasks"]
    assert ext["launchType"] == "EXTERNAL" and ext["lastStatus"] == "PENDING"
    [spot] = spot_run["tasks"]
    assert spot["capacityProviderName"] == "FARGATE_SPOT" and spot["launchType"] == "FARGATE"
    [st] = started["tasks"]
    assert st["containerInstanceArn"] == mine and st["startedBy"] == "starter"
    assert st["taskDefinitionArn"] == arn("task-definition/tour-web:2")

    tasks = ec2_run["tasks"] + [fgt, ext, spot, st]
    all_arns = [t["taskArn"] for t in tasks]
    wait_for(lambda: all_status(poll, "tour-a", all_arns, "RUNNING"), what="tasks RUNNING")

    on_mine = {t["taskArn"] for t in tasks if t.get("containerInstanceArn") == mine}
    used_cpu = sum(int(t["cpu"]) for t in tasks if t["taskArn"] in on_mine)
    used_mem = sum(int(t["memory"]) for t in tasks if t["taskArn"] in on_mine)
    assert st["taskArn"] in on_mine and used_cpu >= 256
    [ci] = ecs("DescribeContainerInstances", cluster="tour-a", containerInstances=[mine])["containerInstances"]
    assert resources(ci) == {"CPU": 1024 - used_cpu, "MEMORY": 2048 - used_mem}
    assert ci["runningTasksCount"] == len(on_mine)

    d = ecs("DescribeClusters", clusters=["tour-a"], include=["STATISTICS"])["clusters"][0]
    assert d["runningTasksCount"] == 6 and d["pendingTasksCount"] == 0
    assert d["registeredContainerInstancesCount"] == 2
    stats = {s["name"]: s["value"] for s in d["statistics"]}
    assert stats["runningFargateTasksCount"] == "2"
    assert "settings" not in d and "configuration" not in d      # not asked for

    fam, sb, inst, lt = ecs.many([
        ("ListTasks", {"cluster": "tour-a", "family": "tour-web"}),
        ("ListTasks", {"cluster": "tour-a", "startedBy": "tour"}),
        ("ListTasks", {"cluster": "tour-a", "containerInstance": mine}),
        ("ListTasks", {"cluster": "tour-a", "launchType": "FARGATE"})])
    assert set(fam["taskArns"]) == {t["taskArn"] for t in ec2_run["tasks"]} | {ext["taskArn"], st["taskArn"]}
    assert set(sb["taskArns"]) == {t["taskArn"] for t in ec2_run["tasks"]}
    assert set(inst["taskArns"]) == on_mine
    assert set(lt["taskArns"]) == {fgt["taskArn"], spot["taskArn"]}

    stopped = ecs("StopTask", cluster="tour-a", task=st["taskArn"], reason="tour done")["task"]
    assert stopped["desiredStatus"] == "STOPPED" and stopped["stopCode"] == "UserInitiated"
    assert stopped["stoppedReason"] == "tour done"
    wait_for(lambda: all_status(poll, "tour-a", [st["taskArn"]], "STOPPED"), what="task STOPPED")
    gone = ecs("ListTasks", cluster="tour-a", desiredStatus="STOPPED")
    assert gone["taskArns"] == [st["taskArn"]]
    missing = arn("task/tour-a/" + "0" * 32)
    out = ecs("DescribeTasks", cluster="tour-a", tasks=[st["taskArn"], ec2_run["tasks"][0]["taskArn"], missing],
              include=["TAGS"])
    assert out["failures"] == [{"arn": missing, "reason": "MISSING"}]
    desc = by_arn(out["tasks"], "taskArn")
    assert desc[st["taskArn"]]["lastStatus"] == "STOPPED"
    assert desc[st["taskArn"]]["stoppedReason"] == "tour done"
    assert desc[ec2_run["tasks"][0]["taskArn"]]["tags"] == [{"key": "run", "value": "ec2"}]
    [ci] = ecs("DescribeContainerInstances", cluster="tour-a", containerInstances=[mine])["containerInstances"]
    still = on_mine - {st["taskArn"]}
    assert resources(ci) == {"CPU": 1024 - used_cpu + int(st["cpu"]), "MEMORY": 2048 - used_mem + int(st["memory"])}
    assert ci["runningTasksCount"] == len(still)

    # Draining every instance leaves nowhere to place an EC2 task; ACTIVE again, it places.
    out = ecs("UpdateContainerInstancesState", cluster="tour-a", containerInstances=[mine, host],
              status="DRAINING")
    assert out["failures"] == [] and {i["status"] for i in out["containerInstances"]} == {"DRAINING"}
    assert ecs.error("RunTask", cluster="tour-a", taskDefinition="tour-web", launchType="EC2") == (
        "InvalidParameterException", "No Container Instances were found in your cluster.")
    out = ecs("UpdateContainerInstancesState", cluster="tour-a", containerInstances=[mine, host],
              status="ACTIVE")
    assert {i["status"] for i in out["containerInstances"]} == {"ACTIVE"}
    again = ecs("RunTask", cluster="tour-a", taskDefinition="tour-web", launchType="EC2")
    assert len(again["tasks"]) == 1 and again["failures"] == []

    # ---- tags on a cluster, a task, a task definition and a container instance -------
    task_arn = ec2_run["tasks"][0]["taskArn"]
    td_arn = arn("task-definition/tour-web:3")
    targets = [arn("cluster/tour-a"), task_arn, td_arn, mine]
    ecs.many([("TagResource", {"resourceArn": r, "tags": [{"key": "env", "value": "dev"},
                                                          {"key": "tmp", "value": "x"}]})
              for r in targets])
    ecs.many([("UntagResource", {"resourceArn": r, "tagKeys": ["tmp"]}) for r in targets])
    listed = ecs.many([("ListTagsForResource", {"resourceArn": r}) for r in targets])
    assert tags_of(listed[0]) == {"team": "blue", "env": "dev"}
    assert tags_of(listed[1]) == {"run": "ec2", "env": "dev"}
    assert tags_of(listed[2]) == {"app": "web", "env": "dev"}
    assert tags_of(listed[3]) == {"env": "dev"}

    # ---- attributes -------------------------------------------------------------------
    put = ecs("PutAttributes", cluster="tour-a", attributes=[
        {"name": "tour.color", "value": "green", "targetId": mine},
        {"name": "tour.flag", "targetId": mine}])
    assert len(put["attributes"]) == 2
    got = ecs("ListAttributes", cluster="tour-a", targetType="container-instance", attributeName="tour.color")
    assert got["attributes"] == [{"name": "tour.color", "value": "green", "targetType": "container-instance",
                                  "targetId": mine}]
    ecs("DeleteAttributes", cluster="tour-a", attributes=[{"name": "tour.color", "targetId": mine}])
    color, flag = ecs.many([
        ("ListAttributes", {"cluster": "tour-a", "targetType": "container-instance", "attributeName": "tour.color"}),
        ("ListAttributes", {"cluster": "tour-a", "targetType": "container-instance", "attributeName": "tour.flag"})])
    assert color["attributes"] == [] and [a["targetId"] for a in flag["attributes"]] == [mine]

    # ---- account settings -------------------------------------------------------------
    s = ecs("PutAccountSetting", name="containerInsights", value="enabled")["setting"]
    assert (s["name"], s["value"], s["principalArn"]) == (
        "containerInsights", "enabled", "arn:aws:iam::000000000000:root")
    s = ecs("PutAccountSettingDefault", name="awsvpcTrunking", value="enabled")["setting"]
    assert s["value"] == "enabled"
    trunk, mine_only = ecs.many([
        ("ListAccountSettings", {"name": "awsvpcTrunking", "effectiveSettings": True}),
        ("ListAccountSettings", {})])
    assert [(x["name"], x["value"]) for x in trunk["settings"]] == [("awsvpcTrunking", "enabled")]
    assert [(x["name"], x["value"]) for x in mine_only["settings"]] == [("containerInsights", "enabled")]
    ecs("DeleteAccountSetting", name="containerInsights")
    after = ecs("ListAccountSettings", name="containerInsights", effectiveSettings=True)
    assert [(x["name"], x["value"]) for x in after["settings"]] == [("containerInsights", "disabled")]

    # ---- deregistration, deletion -----------------------------------------------------
    ci = ecs("DeregisterContainerInstance", cluster="tour-a", containerInstance=mine, force=True)
    assert ci["containerInstance"]["status"] == "INACTIVE"
    listed, described = ecs.many([
        ("ListContainerInstances", {"cluster": "tour-a"}),
        ("DescribeContainerInstances", {"cluster": "tour-a", "containerInstances": [mine]})])
    assert listed["containerInstanceArns"] == [host]
    assert described["containerInstances"][0]["status"] == "INACTIVE"
    d = ecs("DeleteCluster", cluster="tour-c")["cluster"]
    assert d["status"] == "INACTIVE" and d["clusterArn"] == arn("cluster/tour-c")
    assert ecs.error("DeleteCapacityProvider", capacityProvider="tour-cp")[0] == "ResourceInUseException"
    ecs("PutClusterCapacityProviders", cluster="tour-a", capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[])
    cp = ecs("DeleteCapacityProvider", capacityProvider=arn("capacity-provider/tour-cp"))["capacityProvider"]
    assert (cp["status"], cp["updateStatus"], cp["name"]) == ("ACTIVE", "DELETE_IN_PROGRESS", "tour-cp")

    # Every operation was exercised (through the CLI in the CLI run).
    assert ecs.used == ECS_OPERATIONS
    assert ecs.via_cli == (ECS_OPERATIONS if mode == "cli" else set())
