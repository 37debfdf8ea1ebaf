"""ECS task sets end to end (issue 18): CreateTaskSet, DescribeTaskSets, UpdateTaskSet,
DeleteTaskSet and UpdateServicePrimaryTaskSet through boto3 (with kecs's ECS model),
against a simulated-runtime daemon, and the service scheduler running each task set's
tasks: computedDesiredCount = ceil(desiredCount x scale%), tasks started, stopped and
registered in (and deregistered from) the task set's own target group.

AWS facts: the TaskSet shape's documentation in the model
(third_party/aws-models/ecs/service-2.json): computedDesiredCount rounds up, status
PRIMARY/ACTIVE/DRAINING, stabilityStatus STEADY_STATE once runningCount equals
computedDesiredCount with nothing pending. ECS's message for a task-set operation on a
service without the EXTERNAL controller is on record in terraform-provider-aws issue 30347,
its UpdateService refusal for CODE_DEPLOY in boto/boto3 issue 1936; the other messages are
kecs's (see src/api/ecs/task_sets.cc) and are asserted by the facts they name."""
import botocore.exceptions
import pytest

from conftest import wait_for
from test_ecs_support import container, ecs_client_with_model, install_ecs_model

NOT_EXTERNAL = ("Amazon ECS only supports task set management on services configured to use external deployment "
                "controllers.")


@pytest.fixture
def ecs(kecs):
    return ecs_client_with_model(kecs, install_ecs_model(kecs.data_dir))


def error(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    r = e.value.response
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 400, r
    return r["Error"]["Code"], r["Error"]["Message"]


def external_service(ecs, desired, cluster="ts", name="web"):
    ecs.create_cluster(clusterName=cluster)
    for i in range(2):
        ecs.register_task_definition(family="web", containerDefinitions=[
            container("app", image=f"nginx:{i + 1}", memory=32)])
    out = ecs.create_service(cluster=cluster, serviceName=name, desiredCount=desired,
                             deploymentController={"type": "EXTERNAL"})["service"]
    return out


def set_tasks(ecs, cluster, task_set_id):
    """{arn: task} of the task set's tasks that run and are not being stopped."""
    arns = ecs.list_tasks(cluster=cluster, serviceName="web", desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return {}
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    return {t["taskArn"]: t for t in tasks
            if t["startedBy"] == task_set_id and t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING"}


def task_sets(ecs, cluster="ts", **kw):
    return {t["id"]: t for t in ecs.describe_task_sets(cluster=cluster, service="web", **kw)["taskSets"]}


def settled(ecs, counts, cluster="ts"):
    """Waits until each task set {id: n} runs n tasks, is STEADY_STATE, and no other task
    of the service runs; returns the task sets."""
    def check():
        sets = task_sets(ecs, cluster)
        for ts_id, n in counts.items():
            ts = sets.get(ts_id)
            if not ts or ts["computedDesiredCount"] != n or ts["runningCount"] != n or ts["pendingCount"] != 0:
                return None
            if ts["stabilityStatus"] != "STEADY_STATE" or len(set_tasks(ecs, cluster, ts_id)) != n:
                return None
        alive = ecs.list_tasks(cluster=cluster, serviceName="web", desiredStatus="RUNNING")["taskArns"]
        return sets if len(alive) == sum(counts.values()) else None
    return wait_for(check, timeout=30, what=f"task sets at {counts}")


def test_task_sets_run_their_share_swap_primary_scale_and_delete(ecs):
    svc = external_service(ecs, desired=4)
    assert svc["deploymentController"] == {"type": "EXTERNAL"}
    assert svc["deployments"] == [] and svc["taskSets"] == []

    blue = ecs.create_task_set(cluster="ts", service="web", taskDefinition="web:1", externalId="blue",
                               scale={"value": 50, "unit": "PERCENT"}, tags=[{"key": "colour", "value": "blue"}])["taskSet"]
    green = ecs.create_task_set(cluster="ts", service="web", taskDefinition="web:2",
                                scale={"value": 30, "unit": "PERCENT"})["taskSet"]
    assert blue["id"].startswith("ecs-svc/") and len(blue["id"]) == len("ecs-svc/") + 19
    assert blue["taskSetArn"].endswith(f":task-set/ts/web/{blue['id']}")
    assert blue["serviceArn"] == svc["serviceArn"] and blue["clusterArn"] == svc["clusterArn"]
    assert blue["status"] == "ACTIVE" and blue["externalId"] == "blue"
    assert blue["taskDefinition"].endswith(":task-definition/web:1")
    assert blue["scale"] == {"value": 50.0, "unit": "PERCENT"}
    assert blue["computedDesiredCount"] == 2
    assert blue["tags"] == [{"key": "colour", "value": "blue"}]
    assert green["computedDesiredCount"] == 2  # ceil(4 x 30%) = ceil(1.2)
    assert blue["stabilityStatus"] == "STABILIZING"

    sets = settled(ecs, {blue["id"]: 2, green["id"]: 2})
    for t in set_tasks(ecs, "ts", green["id"]).values():
        assert t["taskDefinitionArn"].endswith("web:2") and t["group"] == "service:web"
    assert "tags" not in sets[blue["id"]]
    assert task_sets(ecs, include=["TAGS"])[blue["id"]]["tags"] == [{"key": "colour", "value": "blue"}]
    described = ecs.describe_services(cluster="ts", services=["web"])["services"][0]
    assert sorted(t["id"] for t in described["taskSets"]) == sorted([blue["id"], green["id"]])
    assert described["runningCount"] == 4

    # Primary swap: the service takes the primary's task definition.
    p = ecs.update_service_primary_task_set(cluster="ts", service="web", primaryTaskSet=blue["taskSetArn"])["taskSet"]
    assert p["status"] == "PRIMARY"
    sets = task_sets(ecs)
    assert sets[green["id"]]["status"] == "ACTIVE"
    assert ecs.describe_services(cluster="ts", services=["web"])["services"][0]["taskDefinition"] == blue["taskDefinition"]
    ecs.update_service_primary_task_set(cluster="ts", service="web", primaryTaskSet=green["id"])
    sets = task_sets(ecs)
    assert sets[green["id"]]["status"] == "PRIMARY" and sets[blue["id"]]["status"] == "ACTIVE"

    # Scale: green to 100%, blue to 0.
    up = ecs.update_task_set(cluster="ts", service="web", taskSet=green["id"], scale={"value": 100, "unit": "PERCENT"})
    assert up["taskSet"]["computedDesiredCount"] == 4
    ecs.update_task_set(cluster="ts", service="web", taskSet=blue["id"], scale={"value": 0, "unit": "PERCENT"})
    settled(ecs, {blue["id"]: 0, green["id"]: 4})

    # The service's desiredCount drives every task set.
    ecs.update_service(cluster="ts", service="web", desiredCount=2)
    settled(ecs, {blue["id"]: 0, green["id"]: 2})

    # The PRIMARY set takes force; a scaled-down ACTIVE one does not need it.
    code, message = error(ecs.delete_task_set, cluster="ts", service="web", taskSet=green["id"])
    assert code == "InvalidParameterException" and green["id"] in message and "force" in message
    gone = ecs.delete_task_set(cluster="ts", service="web", taskSet=blue["id"])["taskSet"]
    assert gone["status"] == "DRAINING"
    wait_for(lambda: blue["id"] not in task_sets(ecs), what="the deleted task set gone")
    out = ecs.describe_task_sets(cluster="ts", service="web", taskSets=[blue["id"]])
    assert out["taskSets"] == [] and out["failures"] == [{"arn": blue["id"], "reason": "MISSING"}]
    ecs.delete_task_set(cluster="ts", service="web", taskSet=green["taskSetArn"], force=True)
    wait_for(lambda: task_sets(ecs) == {} and not ecs.list_tasks(
        cluster="ts", serviceName="web", desiredStatus="RUNNING")["taskArns"], what="every task stopped")
    stopped = ecs.list_tasks(cluster="ts", serviceName="web", desiredStatus="STOPPED")["taskArns"]
    assert len(stopped) >= 6


def test_task_set_errors(ecs):
    ecs.create_cluster(clusterName="ts")
    ecs.register_task_definition(family="web", containerDefinitions=[container("app", memory=32)])
    ecs.create_service(cluster="ts", serviceName="plain", taskDefinition="web", desiredCount=0)
    assert error(ecs.create_task_set, cluster="ts", service="plain", taskDefinition="web") == (
        "InvalidParameterException", NOT_EXTERNAL)
    assert error(ecs.describe_task_sets, cluster="ts", service="plain") == ("InvalidParameterException", NOT_EXTERNAL)
    assert error(ecs.create_task_set, cluster="ts", service="nope", taskDefinition="web")[0] == "ServiceNotFoundException"

    ecs.create_service(cluster="ts", serviceName="web", desiredCount=1, deploymentController={"type": "EXTERNAL"})
    code, _ = error(ecs.update_task_set, cluster="ts", service="web", taskSet="ecs-svc/1234567890123456789",
                    scale={"value": 10, "unit": "PERCENT"})
    assert code == "TaskSetNotFoundException"
    assert error(ecs.delete_task_set, cluster="ts", service="web", taskSet="ecs-svc/1")[0] == "TaskSetNotFoundException"
    assert error(ecs.update_service_primary_task_set, cluster="ts", service="web",
                 primaryTaskSet="ecs-svc/1")[0] == "TaskSetNotFoundException"
    code, message = error(ecs.create_task_set, cluster="ts", service="web", taskDefinition="web",
                          scale={"value": 150, "unit": "PERCENT"})
    assert code == "InvalidParameterException" and "100" in message
    assert error(ecs.create_task_set, cluster="ts", service="web", taskDefinition="nope:9") == (
        "ClientException", "TaskDefinition not found.")
    # UpdateService refuses what task sets own (AWS's UpdateService documentation).
    code, message = error(ecs.update_service, cluster="ts", service="web", taskDefinition="web")
    assert code == "InvalidParameterException" and "EXTERNAL deployment controller" in message
    ecs.update_service(cluster="ts", service="web", desiredCount=3)

    # Five task sets at most (aws-samples/ecs-bg-external-controller issue 6).
    for _ in range(5):
        ecs.create_task_set(cluster="ts", service="web", taskDefinition="web")
    assert error(ecs.create_task_set, cluster="ts", service="web", taskDefinition="web") == (
        "InvalidParameterException",
        "5 deployments exist on the service. Unable to create new TaskSet since this exceeds the maximum limit.")
    # Created without a scale: 0 percent (the AWS CLI's create-task-set example), no tasks.
    assert all(t["scale"]["value"] == 0 and t["computedDesiredCount"] == 0 for t in task_sets(ecs).values())

    # A retry with its clientToken gets its task set back.
    ecs.create_service(cluster="ts", serviceName="retry", desiredCount=1, deploymentController={"type": "EXTERNAL"})
    one = ecs.create_task_set(cluster="ts", service="retry", taskDefinition="web", clientToken="tok-1")["taskSet"]
    two = ecs.create_task_set(cluster="ts", service="retry", taskDefinition="web", clientToken="tok-1")["taskSet"]
    assert one["id"] == two["id"]
    assert len(ecs.describe_task_sets(cluster="ts", service="retry")["taskSets"]) == 1


def test_code_deploy_service_starts_with_its_primary_task_set(ecs):
    ecs.create_cluster(clusterName="ts")
    ecs.register_task_definition(family="web", containerDefinitions=[container("app", memory=32)])
    svc = ecs.create_service(cluster="ts", serviceName="web", taskDefinition="web", desiredCount=2,
                             deploymentController={"type": "CODE_DEPLOY"})["service"]
    assert svc["deployments"] == []
    [primary] = svc["taskSets"]
    assert primary["status"] == "PRIMARY" and primary["scale"] == {"value": 100.0, "unit": "PERCENT"}
    assert primary["computedDesiredCount"] == 2
    settled(ecs, {primary["id"]: 2})
    assert error(ecs.update_service, cluster="ts", service="web", taskDefinition="web") == (
        "InvalidParameterException",
        "Unable to update task definition on services with a CODE_DEPLOY deployment controller. "
        "Use AWS CodeDeploy to trigger a new deployment.")
    # Task sets of a CODE_DEPLOY service are CodeDeploy's to change.
    assert error(ecs.create_task_set, cluster="ts", service="web", taskDefinition="web") == (
        "InvalidParameterException", NOT_EXTERNAL)


def test_task_set_tasks_register_in_its_target_group(ecs, kecs):
    ec2, elbv2 = kecs.client("ec2"), kecs.client("elbv2")
    subnets = sorted(ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"],
                     key=lambda s: s["AvailabilityZone"])[:2]
    vpc = subnets[0]["VpcId"]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    lb = elbv2.create_load_balancer(Name="web", Subnets=[s["SubnetId"] for s in subnets],
                                    SecurityGroups=[group])["LoadBalancers"][0]
    tg = elbv2.create_target_group(Name="blue", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")["TargetGroups"][0]
    # No connection draining wait (AWS's default is 300 seconds).
    elbv2.modify_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"], Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "0"}])
    elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])

    ecs.create_cluster(clusterName="ts")
    ecs.register_task_definition(family="web", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                 cpu="256", memory="512",
                                 containerDefinitions=[container("app", portMappings=[{"containerPort": 80}])])
    ecs.create_service(cluster="ts", serviceName="web", desiredCount=2, deploymentController={"type": "EXTERNAL"})
    ts = ecs.create_task_set(
        cluster="ts", service="web", taskDefinition="web", launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnets[0]["SubnetId"]], "securityGroups": [group]}},
        loadBalancers=[{"targetGroupArn": tg["TargetGroupArn"], "containerName": "app", "containerPort": 80}],
        scale={"value": 100, "unit": "PERCENT"})["taskSet"]
    assert ts["loadBalancers"] == [{"targetGroupArn": tg["TargetGroupArn"], "containerName": "app", "containerPort": 80}]
    assert ts["launchType"] == "FARGATE" and ts["platformVersion"] == "LATEST"

    def task_ips():
        ips = set()
        for t in set_tasks(ecs, "ts", ts["id"]).values():
            for a in t["attachments"]:
                for d in a["details"]:
                    if d["name"] == "privateIPv4Address":
                        ips.add(d["value"])
        return ips

    def targets():
        return {d["Target"]["Id"]: d["TargetHealth"]["State"]
                for d in elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]}

    ips = wait_for(lambda: task_ips() if len(task_ips()) == 2 else None, timeout=30, what="2 task-set tasks")
    wait_for(lambda: targets() if set(targets()) == ips and set(targets().values()) == {"healthy"} else None,
             timeout=30, what="the task set's tasks healthy in its target group")
    settled(ecs, {ts["id"]: 2})

    # Scaled down, the stopped task's target leaves the group.
    ecs.update_task_set(cluster="ts", service="web", taskSet=ts["id"], scale={"value": 50, "unit": "PERCENT"})
    settled(ecs, {ts["id"]: 1})
    left = task_ips()
    wait_for(lambda: set(targets()) == left, timeout=30, what="the stopped task's target deregistered")


def test_task_set_tasks_register_in_its_cloud_map_registry_with_its_external_id(ecs, kecs):
    from test_cloudmap_support import client as sd_client, http_namespace
    sd = sd_client(kecs)
    ns = http_namespace(sd, "shop")
    reg = sd.create_service(Name="cart", NamespaceId=ns)["Service"]
    external_service(ecs, desired=2)
    green = ecs.create_task_set(cluster="ts", service="web", taskDefinition="web:2", externalId="green-7",
                                serviceRegistries=[{"registryArn": reg["Arn"]}],
                                scale={"value": 100, "unit": "PERCENT"})["taskSet"]
    assert green["serviceRegistries"] == [{"registryArn": reg["Arn"]}]
    settled(ecs, {green["id"]: 2})

    def instances():
        return {i["Id"]: i["Attributes"] for i in sd.list_instances(ServiceId=reg["Id"])["Instances"]}
    ids = {a.rsplit("/", 1)[1] for a in set_tasks(ecs, "ts", green["id"])}
    got = wait_for(lambda: instances() if set(instances()) == ids else None, what="the task set's tasks in Cloud Map")
    for attrs in got.values():
        # CreateTaskSetRequest.externalId's documentation.
        assert attrs["ECS_TASK_SET_EXTERNAL_ID"] == "green-7"
        assert attrs["ECS_SERVICE_NAME"] == "web"

    ecs.update_task_set(cluster="ts", service="web", taskSet=green["id"], scale={"value": 50, "unit": "PERCENT"})
    settled(ecs, {green["id"]: 1})
    left = {a.rsplit("/", 1)[1] for a in set_tasks(ecs, "ts", green["id"])}
    wait_for(lambda: set(instances()) == left, what="the stopped task deregistered from Cloud Map")
