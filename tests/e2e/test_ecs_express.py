"""ECS Express Mode services end to end (issue 18): CreateExpressGatewayService,
DescribeExpressGatewayService, UpdateExpressGatewayService and DeleteExpressGatewayService
through boto3 with kecs's ECS model (Debian's botocore predates them), the responses
checked against the model by the daemon (KECS_VALIDATE_RESPONSES).

What an Express service makes is checked through the public operations of the services that
own it: DescribeTaskDefinition and DescribeServices (ECS), DescribeLoadBalancers,
DescribeTargetGroups, DescribeListeners, DescribeRules (ELBv2), DescribeSecurityGroups (EC2).
The last test (root only) runs a real busybox httpd task and fetches the service's URL.

AWS facts, from the model's documentation (third_party/aws-models/ecs/service-2.json):
defaults cpu 256, memory 512, containerPort 80, healthCheckPath /ping, autoScalingTargetValue
60; status codes ACTIVE, DRAINING, INACTIVE; Describe's missing service is a
ResourceNotFoundException, Update's and Delete's a ServiceNotFoundException, a deleted one
ServiceNotActiveException (the operations' error lists). Messages no source documents are
kecs's own (src/api/ecs/express.cc); the tests assert their codes and the facts they name."""
import pytest

from conftest import is_root, wait_for
from test_ecs_support import ACCOUNT, REGION, client_error as error, ecs_client_with_ops
from test_elbv2_support import LB_IMAGE, Vpc, get, lb_image, try_get

__all__ = ["lb_image"]  # fixture

OPS = ("CreateExpressGatewayService", "DescribeExpressGatewayService", "UpdateExpressGatewayService",
       "DeleteExpressGatewayService", "DescribeServiceRevisions")
INFRA_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecsInfrastructureRoleForExpressServices"


class Express:
    def __init__(self, kecs):
        self.ecs = ecs_client_with_ops(kecs, OPS, "express-models")
        self.elbv2 = kecs.client("elbv2")
        self.ec2 = kecs.client("ec2")

    def create(self, name="web", **kw):
        kw.setdefault("primaryContainer", {"image": "nginx:latest"})
        return self.ecs.create_express_gateway_service(infrastructureRoleArn=INFRA_ROLE, serviceName=name,
                                                       **kw)["service"]

    def describe(self, arn, **kw):
        return self.ecs.describe_express_gateway_service(serviceArn=arn, **kw)["service"]

    def ecs_service(self, name="web", cluster="default"):
        return self.ecs.describe_services(cluster=cluster, services=[name])["services"][0]

    def infrastructure(self, name="web", cluster="default"):
        """What the ECS service's target group leads to: (tg, lb, listener, rules, groups)."""
        svc = self.ecs_service(name, cluster)
        tg_arn = svc["loadBalancers"][0]["targetGroupArn"]
        [tg] = self.elbv2.describe_target_groups(TargetGroupArns=[tg_arn])["TargetGroups"]
        [lb] = self.elbv2.describe_load_balancers(LoadBalancerArns=tg["LoadBalancerArns"])["LoadBalancers"]
        [listener] = self.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        rules = self.elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
        group_ids = lb["SecurityGroups"] + svc["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"]
        groups = self.ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]
        return tg, lb, listener, rules, {g["GroupId"]: g for g in groups}


@pytest.fixture
def ex(kecs):
    return Express(kecs)


def test_create_makes_a_service_behind_its_own_load_balancer_and_describe_reports_it(ex):
    s = ex.create(scalingTarget={"minTaskCount": 2, "maxTaskCount": 5, "autoScalingMetric": "REQUEST_COUNT_PER_TARGET",
                                 "autoScalingTargetValue": 100},
                  tags=[{"key": "team", "value": "web"}])
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/default/web"
    assert s["serviceArn"] == arn and s["serviceName"] == "web"
    assert s["status"]["statusCode"] == "ACTIVE"
    assert s["infrastructureRoleArn"] == INFRA_ROLE
    [cfg] = s["activeConfigurations"]
    assert (cfg["cpu"], cfg["memory"], cfg["healthCheckPath"]) == ("256", "512", "/ping")
    assert cfg["primaryContainer"] == {"image": "nginx:latest", "containerPort": 80}
    assert cfg["scalingTarget"] == {"minTaskCount": 2, "maxTaskCount": 5,
                                    "autoScalingMetric": "REQUEST_COUNT_PER_TARGET", "autoScalingTargetValue": 100}
    [path] = cfg["ingressPaths"]
    assert path["accessType"] == "PUBLIC" and path["endpoint"].startswith("http://"), path

    # The task definition and the service.
    td = ex.ecs.describe_task_definition(taskDefinition=cfg["taskDefinitionArn"])["taskDefinition"]
    assert (td["family"], td["networkMode"], td["requiresCompatibilities"]) == ("web", "awsvpc", ["FARGATE"])
    [main] = td["containerDefinitions"]
    assert main["name"] == "Main" and main["image"] == "nginx:latest"
    assert [p["containerPort"] for p in main["portMappings"]] == [80]
    svc = ex.ecs_service()
    assert (svc["status"], svc["desiredCount"], svc["launchType"]) == ("ACTIVE", 2, "FARGATE")
    assert svc["taskDefinition"] == cfg["taskDefinitionArn"]
    assert svc["loadBalancers"][0]["containerName"] == "Main"
    wait_for(lambda: ex.ecs_service()["runningCount"] == 2, timeout=60, what="two tasks running")

    # The load balancer, target group, listener, rule and security groups.
    tg, lb, listener, rules, groups = ex.infrastructure()
    assert (tg["Protocol"], tg["Port"], tg["TargetType"], tg["HealthCheckPath"]) == ("HTTP", 80, "ip", "/ping")
    assert (lb["Type"], lb["Scheme"]) == ("application", "internet-facing")
    assert (listener["Protocol"], listener["Port"]) == ("HTTP", 80)
    [rule] = [r for r in rules if not r["IsDefault"]]
    assert rule["Actions"][0]["TargetGroupArn"] == tg["TargetGroupArn"]
    [lb_sg] = lb["SecurityGroups"]
    [task_sg] = [g for g in groups if g != lb_sg]
    assert groups[lb_sg]["IpPermissions"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert [p["GroupId"] for p in groups[task_sg]["IpPermissions"][0]["UserIdGroupPairs"]] == [lb_sg]
    # The URL's host is the address DescribeLoadBalancers gives the load balancer.
    addresses = {a.get("IpAddress") for z in lb["AvailabilityZones"] for a in z["LoadBalancerAddresses"]}
    host = path["endpoint"].split("//", 1)[1].split(":", 1)[0]
    assert host in addresses or host == lb["DNSName"].rstrip("/"), (path, addresses)

    # Describe: the same, the tags on request, the deployment running.
    d = ex.describe(arn, include=["TAGS"])
    assert d["activeConfigurations"] == s["activeConfigurations"]
    assert d["tags"] == [{"key": "team", "value": "web"}]
    assert "tags" not in ex.describe(arn)
    assert d["currentDeployment"].startswith(f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/default/web/")
    assert d["activeConfigurations"][0]["serviceRevisionArn"].startswith(
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/default/web/")

    # The service revision reports what Express made (ServiceRevision.ecsManagedResources).
    [rev] = ex.ecs.describe_service_revisions(
        serviceRevisionArns=[d["activeConfigurations"][0]["serviceRevisionArn"]])["serviceRevisions"]
    m = rev["ecsManagedResources"]
    [ip] = m["ingressPaths"]
    assert (ip["endpoint"], ip["loadBalancer"]["arn"], ip["loadBalancer"]["status"]) == (
        path["endpoint"], lb["LoadBalancerArn"], "ACTIVE")
    assert [(t["arn"], t["healthCheckPath"], t["port"]) for t in ip["targetGroups"]] == [(tg["TargetGroupArn"], "/ping", 80)]
    assert (ip["listener"]["arn"], ip["rule"]["arn"]) == (listener["ListenerArn"], rule["RuleArn"])
    assert ip["loadBalancerSecurityGroups"][0]["arn"].endswith("/" + lb_sg)
    assert m["serviceSecurityGroups"][0]["arn"].endswith("/" + task_sg)
    # No Application Auto Scaling in kecs: reported, not applied.
    assert (m["autoScaling"]["scalableTarget"]["status"], m["autoScaling"]["scalableTarget"]["maxCapacity"]) == (
        "FAILED", 5)
    [policy] = m["autoScaling"]["applicationAutoScalingPolicies"]
    assert (policy["metric"], policy["targetValue"]) == ("ALBRequestCountPerTarget", 100)


def test_requests_are_refused_with_ecs_errors(ex):
    assert error(ex.ecs.create_express_gateway_service, infrastructureRoleArn=INFRA_ROLE, serviceName="web")[0] == \
        "InvalidParameterException"     # no primaryContainer
    assert error(ex.create, scalingTarget={"minTaskCount": 3, "maxTaskCount": 1})[0] == "InvalidParameterException"
    assert error(ex.create, healthCheckPath="health")[0] == "InvalidParameterException"
    assert error(ex.create, name="bad name") == (
        "InvalidParameterException",
        "Service names can have up to 255 letters (uppercase and lowercase), numbers, underscores and hyphens.")
    assert error(ex.create, cluster="nope")[0] == "ClusterNotFoundException"
    assert error(ex.create, networkConfiguration={"subnets": ["subnet-0123456789abcdef0"]}) == (
        "InvalidParameterException", "The subnet ID 'subnet-0123456789abcdef0' does not exist.")
    assert ex.elbv2.describe_load_balancers()["LoadBalancers"] == [], "a refused request makes nothing"
    # boto3 itself requires infrastructureRoleArn (the model's `required`).

    ex.create()
    assert error(ex.create) == ("InvalidParameterException", "Creation of service was not idempotent.")
    other = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/default/other"
    assert error(ex.ecs.describe_express_gateway_service, serviceArn=other)[0] == "ResourceNotFoundException"
    assert error(ex.ecs.update_express_gateway_service, serviceArn=other, cpu="512")[0] == "ServiceNotFoundException"
    assert error(ex.ecs.delete_express_gateway_service, serviceArn=other)[0] == "ServiceNotFoundException"
    # A plain ECS service is not an Express service.
    ex.ecs.register_task_definition(family="plain", containerDefinitions=[{"name": "a", "image": "nginx",
                                                                          "memory": 32}])
    ex.ecs.create_service(serviceName="plain", taskDefinition="plain", desiredCount=0)
    plain = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/default/plain"
    assert error(ex.ecs.describe_express_gateway_service, serviceArn=plain)[0] == "ResourceNotFoundException"


def test_update_registers_a_revision_and_rolls_the_service(ex):
    s = ex.create()
    arn, td1 = s["serviceArn"], s["activeConfigurations"][0]["taskDefinitionArn"]
    wait_for(lambda: ex.ecs_service()["runningCount"] == 1, timeout=60, what="the first task running")
    u = ex.ecs.update_express_gateway_service(serviceArn=arn, primaryContainer={"image": "nginx:2", "containerPort": 8080},
                                              cpu="512", memory="1024", healthCheckPath="/health",
                                              scalingTarget={"minTaskCount": 2})["service"]
    assert (u["serviceArn"], u["serviceName"], u["status"]["statusCode"]) == (arn, "web", "ACTIVE")
    t = u["targetConfiguration"]
    assert t["taskDefinitionArn"] != td1
    assert (t["cpu"], t["memory"], t["healthCheckPath"]) == ("512", "1024", "/health")
    assert t["scalingTarget"]["minTaskCount"] == 2 and t["scalingTarget"]["maxTaskCount"] == 20
    td = ex.ecs.describe_task_definition(taskDefinition=t["taskDefinitionArn"])["taskDefinition"]
    assert (td["revision"], td["cpu"], td["containerDefinitions"][0]["image"]) == (2, "512", "nginx:2")

    svc = ex.ecs_service()
    assert svc["taskDefinition"] == t["taskDefinitionArn"] and svc["desiredCount"] == 2
    assert svc["loadBalancers"][0]["containerPort"] == 8080
    tg, _, _, _, _ = ex.infrastructure()
    assert tg["HealthCheckPath"] == "/health"
    # The rolling deployment finishes: only the new revision is active, its tasks run.
    wait_for(lambda: [c["taskDefinitionArn"] for c in ex.describe(arn)["activeConfigurations"]] ==
             [t["taskDefinitionArn"]], timeout=90, what="only the new revision active")
    wait_for(lambda: ex.ecs_service()["runningCount"] == 2, timeout=60, what="two tasks of the new revision")


def test_delete_drains_then_removes_everything_express_made(ex):
    s = ex.create()
    arn = s["serviceArn"]
    wait_for(lambda: ex.ecs_service()["runningCount"] == 1, timeout=60, what="the task running")
    tg, lb, listener, _, groups = ex.infrastructure()
    d = ex.ecs.delete_express_gateway_service(serviceArn=arn)["service"]
    assert d["status"]["statusCode"] in ("DRAINING", "INACTIVE")
    assert error(ex.ecs.delete_express_gateway_service, serviceArn=arn)[0] == "ServiceNotActiveException"
    assert error(ex.ecs.update_express_gateway_service, serviceArn=arn, cpu="512")[0] == "ServiceNotActiveException"

    wait_for(lambda: ex.describe(arn)["status"]["statusCode"] == "INACTIVE", timeout=90,
             what="the Express service INACTIVE")
    assert ex.ecs_service()["status"] == "INACTIVE"
    assert ex.elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert ex.elbv2.describe_target_groups()["TargetGroups"] == []
    left = {g["GroupId"] for g in ex.ec2.describe_security_groups()["SecurityGroups"]}
    assert not (left & set(groups)), (left, groups)
    # The name is free again.
    assert ex.create()["status"]["statusCode"] == "ACTIVE"


def test_a_plain_delete_service_of_an_express_service_removes_its_infrastructure(ex):
    s = ex.create()
    arn = s["serviceArn"]
    ex.ecs.delete_service(cluster="default", service="web", force=True)
    assert ex.describe(arn)["status"]["statusCode"] in ("DRAINING", "INACTIVE")
    wait_for(lambda: ex.describe(arn)["status"]["statusCode"] == "INACTIVE", timeout=90,
             what="the Express service INACTIVE")
    assert ex.elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert ex.create()["status"]["statusCode"] == "ACTIVE", "the name is free again"


def test_an_update_that_update_service_refuses_changes_nothing(ex):
    s = ex.create()
    arn = s["serviceArn"]
    code, msg = error(ex.ecs.update_express_gateway_service, serviceArn=arn,
                      primaryContainer={"image": "nginx:2", "containerPort": 8080}, healthCheckPath="/health",
                      networkConfiguration={"securityGroups": ["sg-0123456789abcdef0"]})
    assert code == "InvalidParameterException" and "sg-0123456789abcdef0" in msg, msg
    tg, _, _, _, groups = ex.infrastructure()
    assert tg["HealthCheckPath"] == "/ping"
    svc = ex.ecs_service()
    assert svc["taskDefinition"] == s["activeConfigurations"][0]["taskDefinitionArn"]
    [task_sg] = svc["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"]
    assert [p["FromPort"] for p in groups[task_sg]["IpPermissions"]] == [80]
    assert ex.describe(arn)["activeConfigurations"] == s["activeConfigurations"]
    # The scaling metric is one of the model's (checked with the request).
    assert error(ex.ecs.update_express_gateway_service, serviceArn=arn,
                 scalingTarget={"autoScalingMetric": "NOPE"})[0] == "InvalidParameterException"


# ---- The local runtime (root): the URL answers from a real container -----------------------

@pytest.fixture
def local_ex(local_kecs, lb_image):
    if not is_root():
        pytest.skip("the local runtime needs root")
    e = Express(local_kecs)
    yield e
    for arn in getattr(e, "made", []):
        try:
            e.ecs.delete_express_gateway_service(serviceArn=arn)
        except Exception:  # noqa: BLE001  already deleted by the test
            pass
        wait_for(lambda: e.describe(arn)["status"]["statusCode"] == "INACTIVE", timeout=120,
                 what="the Express service's infrastructure removed")


def test_the_express_url_answers_from_a_real_task(local_ex, local_kecs):
    net = Vpc(local_kecs)   # a VPC of the test's own (other daemons on the host use the default VPC's range)
    s = local_ex.create(primaryContainer={"image": LB_IMAGE, "containerPort": 80,
                                          "environment": [{"name": "NAME", "value": "express"}]},
                        healthCheckPath="/who.sh", networkConfiguration={"subnets": net.subnets})
    local_ex.made = [s["serviceArn"]]
    url = s["activeConfigurations"][0]["ingressPaths"][0]["endpoint"]

    def answered():
        r = try_get(url + "who.sh")
        return r if getattr(r, "status", None) == 200 else None
    page = wait_for(answered, timeout=180, what=f"{url}who.sh answering 200").who
    assert page["name"] == "express" and page["uri"] == "/who.sh", page
    assert get(url + "nothing-here").status == 404   # busybox httpd's own 404, through the rule

    # Delete: the URL stops answering once the infrastructure is gone.
    local_ex.ecs.delete_express_gateway_service(serviceArn=s["serviceArn"])
    wait_for(lambda: local_ex.describe(s["serviceArn"])["status"]["statusCode"] == "INACTIVE", timeout=120,
             what="the Express service INACTIVE")
    assert getattr(try_get(url + "who.sh", timeout=2), "status", None) != 200
