"""ECS services end to end: CreateService, DescribeServices, ListServices,
ListServicesByNamespace, UpdateService and DeleteService against a simulated-runtime
daemon, through boto3 and the real aws CLI, and the service scheduler behind them (REPLICA
and DAEMON scheduling, rolling deployments within minimumHealthyPercent/maximumPercent,
the deployment circuit breaker, service events, DRAINING -> INACTIVE).

Expectations come from the AWS model (/work/shared/aws-models/ecs) and AWS's documentation;
exact error messages are asserted only where AWS's wording is on record (quoted in the
test). A product bug found here is pinned by xfail(strict=True) until it is fixed.

The simulated runtime starts every task; the only way to make a task fail to start is to
starve it of something its provisioning needs. Here that is a one-port
`--public-port-range`: a task definition that publishes two ports with
assignPublicIp ENABLED cannot get them, so its tasks stop with TaskFailedToStart
(ResourceInitializationError), which is what the circuit breaker counts."""
import json
import math
import re
import time

import botocore.exceptions
import pytest

from conftest import wait_for
from test_cloudmap_support import client as sd_client, http_namespace
from test_ecs_support import ACCOUNT, REGION, arn, container, default_subnet

DEPLOYMENT_ID = re.compile(r"^ecs-svc/\d{16,20}$")
TASK_ID = re.compile(r"^[0-9a-f]{32}$")
FAST = {"Delay": 1, "MaxAttempts": 30}


# ---- helpers -----------------------------------------------------------------------------

def error(call, **kw):
    """(code, message) of a boto3 call that must fail with a 400."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    r = e.value.response
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 400, r
    assert r["Error"]["Message"], f"{r['Error']['Code']} without a message"
    return r["Error"]["Code"], r["Error"]["Message"]


def cli_error(kecs, *args):
    p = kecs.aws("ecs", *args, raw=True)
    assert p.returncode != 0, p.stdout
    m = re.search(r"An error occurred \(([^)]+)\) when calling the \w+ operation"
                  r"(?: \(reached max retries: \d+\))?: (.*)", p.stderr)
    assert m, p.stderr
    return m.group(1), m.group(2).strip()


def setup_cluster(ecs, cluster="svc", revisions=1, family="web"):
    ecs.create_cluster(clusterName=cluster)
    for i in range(revisions):
        ecs.register_task_definition(family=family, containerDefinitions=[
            container("app", image=f"nginx:{i + 1}", memory=32)])


def describe(ecs, cluster, name, **kw):
    out = ecs.describe_services(cluster=cluster, services=[name], **kw)
    assert out["failures"] == [], out["failures"]
    [s] = out["services"]
    return s


def service_tasks(ecs, cluster, name, desired_status="RUNNING"):
    arns = []
    token = None
    while True:
        kw = {"nextToken": token} if token else {}
        out = ecs.list_tasks(cluster=cluster, serviceName=name, desiredStatus=desired_status, **kw)
        arns += out["taskArns"]
        token = out.get("nextToken")
        if not token:
            break
    tasks = []
    for i in range(0, len(arns), 100):
        got = ecs.describe_tasks(cluster=cluster, tasks=arns[i:i + 100])
        assert got["failures"] == []
        tasks += got["tasks"]
    return tasks


def all_service_tasks(ecs, cluster, name):
    return service_tasks(ecs, cluster, name) + service_tasks(ecs, cluster, name, "STOPPED")


def steady(ecs, cluster, name, desired, td=None):
    """For wait_for: the service runs `desired` tasks in one COMPLETED deployment."""
    s = describe(ecs, cluster, name)
    deps = s["deployments"]
    ok = (s["runningCount"] == desired and s["pendingCount"] == 0 and len(deps) == 1
          and deps[0]["rolloutState"] == "COMPLETED" and (td is None or deps[0]["taskDefinition"].endswith(td)))
    return s if ok else None


def messages(service):
    return [e["message"] for e in service["events"]]


def scheduler_passes(ecs):
    """Waits until the service scheduler has passed over every service several times since
    the call: every pass reconciles every ACTIVE and DRAINING service, and a probe service
    created now says "has reached a steady state." only in a pass after its task has run for
    the scheduler's settle time. The probe lives in a cluster of its own."""
    ecs.create_cluster(clusterName="probe")
    ecs.register_task_definition(family="probe", containerDefinitions=[container("app", memory=32)])
    name = f"probe{len(ecs.list_services(cluster='probe', maxResults=100)['serviceArns'])}"
    ecs.create_service(cluster="probe", serviceName=name, taskDefinition="probe", desiredCount=1)
    wait_for(lambda: messages(describe(ecs, "probe", name))[:1] == [f"(service {name}) has reached a steady state."],
             what=f"the probe service {name} steady")


def ms(dt):
    return round(dt.timestamp() * 1000)


def check_rollout_timeline(tasks, since_ms, desired, min_pct, max_pct):
    """Replays the tasks' timestamps: from `since_ms` on, whenever the scheduler stopped a
    task, the tasks still RUNNING (and not being stopped) were at least minimumHealthyPercent
    of desired (rounded up), and whenever it created one, the tasks it kept (created, not
    being stopped) were at most maximumPercent of desired (rounded down)."""
    min_healthy = math.ceil(desired * min_pct / 100)
    max_total = math.floor(desired * max_pct / 100)
    spans = [(ms(t["createdAt"]), ms(t["startedAt"]) if "startedAt" in t else None,
              ms(t["stoppingAt"]) if "stoppingAt" in t else None) for t in tasks]
    stops = sorted({s for _, _, s in spans if s is not None and s >= since_ms})
    creates = sorted({c for c, _, _ in spans if c >= since_ms})
    assert stops and creates, "no rollout happened"
    for at in stops:
        healthy = sum(1 for _, st, sp in spans if st is not None and st <= at and (sp is None or sp > at))
        assert healthy >= min_healthy, f"{healthy} RUNNING tasks at {at}, below {min_healthy}"
    for at in creates:
        active = sum(1 for c, _, sp in spans if c <= at and (sp is None or sp > at))
        assert active <= max_total, f"{active} tasks at {at}, above {max_total}"
    return min_healthy, max_total


# ---- CreateService / DescribeServices shapes ----------------------------------------------

def test_create_service_shape_tasks_and_events(kecs):
    ecs = kecs.client("ecs")
    setup_cluster(ecs, revisions=2)
    # Through the aws CLI; a family without a revision means its latest ACTIVE revision.
    out = kecs.aws("ecs", "create-service", "--cluster", "svc", "--service-name", "web",
                   "--task-definition", "web", "--desired-count", "3", "--launch-type", "EC2",
                   "--tags", "key=team,value=blue")["service"]
    assert out["serviceArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/svc/web"
    assert out["serviceName"] == "web" and out["clusterArn"] == arn("cluster/svc")
    assert out["status"] == "ACTIVE" and out["launchType"] == "EC2"
    assert (out["desiredCount"], out["runningCount"], out["pendingCount"]) == (3, 0, 0)
    assert out["taskDefinition"] == arn("task-definition/web:2")
    assert out["schedulingStrategy"] == "REPLICA"
    assert out["deploymentController"] == {"type": "ECS"}
    cfg = out["deploymentConfiguration"]
    assert (cfg["maximumPercent"], cfg["minimumHealthyPercent"]) == (200, 100)
    assert cfg["deploymentCircuitBreaker"] == {"enable": False, "rollback": False}
    [dep] = out["deployments"]
    assert DEPLOYMENT_ID.match(dep["id"]), dep["id"]
    assert (dep["status"], dep["rolloutState"], dep["taskDefinition"], dep["desiredCount"]) == (
        "PRIMARY", "IN_PROGRESS", arn("task-definition/web:2"), 3)
    assert dep["rolloutStateReason"] == f"ECS deployment {dep['id']} in progress."
    assert dep["launchType"] == "EC2" and dep["failedTasks"] == 0
    assert isinstance(out["events"], list)
    assert "createdAt" in out

    # The CLI's own waiter: success once the service is steady...
    p = kecs.aws("ecs", "wait", "services-stable", "--cluster", "svc", "--services", "web", raw=True)
    assert p.returncode == 0, p.stderr
    s = wait_for(lambda: steady(ecs, "svc", "web", 3), what="3 tasks running, deployment COMPLETED")
    assert s["deployments"][0]["id"] == dep["id"]
    assert s["deployments"][0]["runningCount"] == 3
    assert s["deployments"][0]["rolloutStateReason"] == f"ECS deployment {dep['id']} completed."

    # ...and its tasks belong to it: startedBy is the deployment, group the service.
    tasks = service_tasks(ecs, "svc", "web")
    assert len(tasks) == 3
    for t in tasks:
        assert t["startedBy"] == dep["id"]
        assert t["group"] == "service:web"
        assert t["lastStatus"] == "RUNNING" and t["taskDefinitionArn"] == arn("task-definition/web:2")
    assert sorted(ecs.list_tasks(cluster="svc", startedBy=dep["id"])["taskArns"]) == sorted(
        t["taskArn"] for t in tasks)

    # The events, newest first, in ECS's words.
    msgs = messages(describe(ecs, "svc", "web"))
    ids = sorted(t["taskArn"].rsplit("/", 1)[1] for t in tasks)
    started = [m for m in msgs if m.startswith("(service web) has started 3 tasks:")]
    assert len(started) == 1, msgs
    assert sorted(re.findall(r"\(task ([0-9a-f]{32})\)", started[0])) == ids
    assert f"(service web) (deployment {dep['id']}) deployment completed." in msgs
    assert msgs[0] == "(service web) has reached a steady state.", msgs
    for e in describe(ecs, "svc", "web")["events"]:
        assert e["id"] and e["createdAt"]

    # Tags only on request.
    assert "tags" not in describe(ecs, "svc", "web") or describe(ecs, "svc", "web")["tags"] == []
    assert describe(ecs, "svc", "web", include=["TAGS"])["tags"] == [{"key": "team", "value": "blue"}]
    # By ARN as well as by name, and the cluster counts it.
    assert describe(ecs, "svc", out["serviceArn"])["serviceName"] == "web"
    assert ecs.describe_clusters(clusters=["svc"])["clusters"][0]["activeServicesCount"] == 1

    ecs.delete_service(cluster="svc", service="web", force=True)
    ecs.get_waiter("services_inactive").wait(cluster="svc", services=["web"], WaiterConfig=FAST)


def test_fargate_service_records_its_network(kecs):
    ecs = kecs.client("ecs")
    subnet = default_subnet(kecs)
    ecs.create_cluster(clusterName="fg")
    ecs.register_task_definition(family="fg", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                 cpu="256", memory="512", containerDefinitions=[container("app")])
    net = {"awsvpcConfiguration": {"subnets": [subnet], "assignPublicIp": "DISABLED"}}
    s = ecs.create_service(cluster="fg", serviceName="api", taskDefinition="fg", desiredCount=2,
                           launchType="FARGATE", networkConfiguration=net)["service"]
    assert s["launchType"] == "FARGATE" and s["platformVersion"] == "LATEST"
    assert s["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == [subnet]
    assert s["deployments"][0]["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == [subnet]
    ecs.get_waiter("services_stable").wait(cluster="fg", services=["api"], WaiterConfig=FAST)
    tasks = service_tasks(ecs, "fg", "api")
    assert len(tasks) == 2
    for t in tasks:
        assert t["launchType"] == "FARGATE" and t["group"] == "service:api"
        assert t["attachments"][0]["type"] == "ElasticNetworkInterface"
        details = {d["name"]: d["value"] for d in t["attachments"][0]["details"]}
        assert details["subnetId"] == subnet
    ecs.update_service(cluster="fg", service="api", desiredCount=0)
    ecs.delete_service(cluster="fg", service="api")
    ecs.get_waiter("services_inactive").wait(cluster="fg", services=["api"], WaiterConfig=FAST)


# ---- errors ------------------------------------------------------------------------------

def test_create_service_retry_with_its_client_token_returns_the_service(kecs):
    ecs = kecs.client("ecs")
    setup_cluster(ecs)
    first = ecs.create_service(cluster="svc", serviceName="web", taskDefinition="web", desiredCount=1,
                               clientToken="token-1")["service"]
    again = ecs.create_service(cluster="svc", serviceName="web", taskDefinition="web", desiredCount=1,
                               clientToken="token-1")["service"]
    assert again["serviceArn"] == first["serviceArn"]
    assert again["deployments"][0]["id"] == first["deployments"][0]["id"]  # not a second deployment
    assert error(ecs.create_service, cluster="svc", serviceName="web", taskDefinition="web", desiredCount=1,
                 clientToken="token-2") == ("InvalidParameterException", "Creation of service was not idempotent.")


def test_service_errors(kecs):
    ecs = kecs.client("ecs")
    setup_cluster(ecs)
    ecs.create_service(cluster="svc", serviceName="web", taskDefinition="web", desiredCount=1)

    # A second CreateService of the name with other parameters (terraform-provider-aws #14489,
    # #23462: "InvalidParameterException: Creation of service was not idempotent.").
    assert error(ecs.create_service, cluster="svc", serviceName="web", taskDefinition="web",
                 desiredCount=2) == ("InvalidParameterException", "Creation of service was not idempotent.")
    assert describe(ecs, "svc", "web")["desiredCount"] == 1
    assert error(ecs.create_service, cluster="svc", serviceName="x", taskDefinition="nope",
                 desiredCount=1)[0] == "ClientException"
    assert error(ecs.create_service, cluster="svc", serviceName="x", taskDefinition="web:9",
                 desiredCount=1)[0] == "ClientException"
    # desiredCount is required for REPLICA (the model: "required if schedulingStrategy is
    # REPLICA or isn't specified").
    assert error(ecs.create_service, cluster="svc", serviceName="x", taskDefinition="web")[0] == (
        "InvalidParameterException")
    assert error(ecs.create_service, cluster="svc", serviceName="x", taskDefinition="web",
                 desiredCount=-1)[0] == "InvalidParameterException"
    for bad in ("has space", "dot.ted", "x" * 256):
        assert error(ecs.create_service, cluster="svc", serviceName=bad, taskDefinition="web",
                     desiredCount=0)[0] == "InvalidParameterException"
    # None of the refused calls left a service behind.
    assert ecs.list_services(cluster="svc")["serviceArns"] == [arn("service/svc/web")]

    # An unknown service: DescribeServices reports it as MISSING; the others refuse it
    # ({"__type":"ServiceNotFoundException","message":"Service not found."}, terraform #15073).
    # A bare name is named by the ARN format without the cluster, as ECS does
    # (aws-actions/amazon-ecs-deploy-task-definition#312); an ARN as it was given.
    out = ecs.describe_services(cluster="svc", services=["ghost", "web", arn("service/svc/ghost2")])
    assert [s["serviceName"] for s in out["services"]] == ["web"]
    assert out["failures"] == [{"arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/ghost", "reason": "MISSING"},
                               {"arn": arn("service/svc/ghost2"), "reason": "MISSING"}]
    not_found = ("ServiceNotFoundException", "Service not found.")
    assert error(ecs.update_service, cluster="svc", service="ghost", desiredCount=1) == not_found
    assert error(ecs.delete_service, cluster="svc", service="ghost") == not_found
    assert cli_error(kecs, "update-service", "--cluster", "svc", "--service", "ghost",
                     "--desired-count", "1") == not_found
    assert error(ecs.describe_services, cluster="svc", services=[])[0] in (
        "InvalidParameterException", "ClientException")

    # UpdateService validates what it is given.
    assert error(ecs.update_service, cluster="svc", service="web", taskDefinition="nope")[0] == "ClientException"
    assert error(ecs.update_service, cluster="svc", service="web", desiredCount=-1)[0] == (
        "InvalidParameterException")
    assert describe(ecs, "svc", "web")["taskDefinition"] == arn("task-definition/web:1")

    # DeleteService needs force (or desiredCount 0) to stop a REPLICA service's tasks.
    code, _ = error(ecs.delete_service, cluster="svc", service="web")
    assert code == "InvalidParameterException"
    assert describe(ecs, "svc", "web")["status"] == "ACTIVE"
    deleted = ecs.delete_service(cluster="svc", service="web", force=True)["service"]
    assert (deleted["status"], deleted["desiredCount"]) == ("DRAINING", 0)
    # A service that is not ACTIVE cannot be updated.
    assert error(ecs.update_service, cluster="svc", service="web", desiredCount=3)[0] == (
        "ServiceNotActiveException")
    ecs.get_waiter("services_inactive").wait(cluster="svc", services=["web"], WaiterConfig=FAST)
    assert error(ecs.update_service, cluster="svc", service="web", desiredCount=3)[0] == (
        "ServiceNotActiveException")

    # ListServices' paging parameters (maxResults 1-100).
    assert error(ecs.list_services, cluster="svc", maxResults=0)[0] == "InvalidParameterException"
    assert error(ecs.list_services, cluster="svc", maxResults=101)[0] == "InvalidParameterException"
    assert error(ecs.list_services, cluster="svc", nextToken="not-a-token")[0] == "InvalidParameterException"


@pytest.mark.kecs_args("--strict")
def test_unknown_cluster_is_cluster_not_found(kecs):
    ecs = kecs.client("ecs")
    ecs.register_task_definition(family="web", containerDefinitions=[container("app", memory=32)])
    nf = ("ClusterNotFoundException", "Cluster not found.")
    assert error(ecs.create_service, cluster="ghost", serviceName="s", taskDefinition="web", desiredCount=1) == nf
    assert error(ecs.describe_services, cluster="ghost", services=["s"]) == nf
    assert error(ecs.list_services, cluster="ghost") == nf
    assert error(ecs.update_service, cluster="ghost", service="s", desiredCount=1) == nf
    assert error(ecs.delete_service, cluster="ghost", service="s") == nf
    assert cli_error(kecs, "create-service", "--cluster", "ghost", "--service-name", "s",
                     "--task-definition", "web", "--desired-count", "1") == nf
    assert ecs.list_clusters()["clusterArns"] == []


def test_daemon_service_refuses_a_desired_count(kecs):
    # AWS: "InvalidParameterException: The daemon scheduling strategy does not support a
    # desired count for services. Remove the desired count value and try again"
    # (kayac/ecspresso #20, Shippable/support #4534, aws-cdk #1197, fabfuel/ecs-deploy #59).
    ecs = kecs.client("ecs")
    setup_cluster(ecs)
    code, msg = error(ecs.create_service, cluster="svc", serviceName="d", taskDefinition="web",
                      desiredCount=2, schedulingStrategy="DAEMON")
    assert code == "InvalidParameterException"
    assert msg.startswith("The daemon scheduling strategy does not support a desired count for services.")


def test_daemon_update_desired_count_message(kecs):
    ecs = kecs.client("ecs")
    setup_cluster(ecs)
    ecs.create_service(cluster="svc", serviceName="d", taskDefinition="web", schedulingStrategy="DAEMON")
    # fabfuel/ecs-deploy #59: "An error occurred (InvalidParameterException) when calling the
    # UpdateService operation: The daemon scheduling strategy does not support a desired
    # count for services. Remove the desired count value and try again"
    code, msg = error(ecs.update_service, cluster="svc", service="d", desiredCount=1)
    assert code == "InvalidParameterException"
    assert msg.startswith("The daemon scheduling strategy does not support a desired count for services.")


def test_daemon_service_refuses_fargate(kecs):
    # AWS's developer guide: "The daemon scheduling strategy ... Fargate tasks don't support
    # the DAEMON scheduling strategy."
    ecs = kecs.client("ecs")
    subnet = default_subnet(kecs)
    ecs.create_cluster(clusterName="svc")
    ecs.register_task_definition(family="fg", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                 cpu="256", memory="512", containerDefinitions=[container("app")])
    assert error(ecs.create_service, cluster="svc", serviceName="d", taskDefinition="fg",
                 schedulingStrategy="DAEMON", launchType="FARGATE",
                 networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}})[0] == (
        "InvalidParameterException")


def test_list_tasks_of_an_unknown_service(kecs):
    # turbot/steampipe-plugin-aws #1415: AWS answers ListTasks(serviceName=<no such service>)
    # with "ServiceNotFoundException: Service not found."
    ecs = kecs.client("ecs")
    setup_cluster(ecs)
    assert error(ecs.list_tasks, cluster="svc", serviceName="ghost") == (
        "ServiceNotFoundException", "Service not found.")


# ---- ListServices / ListServicesByNamespace ---------------------------------------------

def test_list_services_pages_and_filters(kecs):
    ecs = kecs.client("ecs")
    setup_cluster(ecs)
    ecs.create_cluster(clusterName="other")
    names = [f"s{i:02d}" for i in range(12)]
    for n in names:
        ecs.create_service(cluster="svc", serviceName=n, taskDefinition="web", desiredCount=0)
    ecs.create_service(cluster="svc", serviceName="daemon", taskDefinition="web", schedulingStrategy="DAEMON")
    ecs.create_service(cluster="other", serviceName="elsewhere", taskDefinition="web", desiredCount=0)
    everything = {arn(f"service/svc/{n}") for n in names + ["daemon"]}

    # Without maxResults, pages of 10 (the model: "returns up to 10 results").
    first = ecs.list_services(cluster="svc")
    assert len(first["serviceArns"]) == 10 and first["nextToken"]
    rest = ecs.list_services(cluster="svc", nextToken=first["nextToken"])
    assert len(rest["serviceArns"]) == 3 and "nextToken" not in rest
    assert set(first["serviceArns"]) | set(rest["serviceArns"]) == everything

    # maxResults pages, each service exactly once.
    seen, token, pages = [], None, 0
    while True:
        kw = {"nextToken": token} if token else {}
        page = ecs.list_services(cluster="svc", maxResults=4, **kw)
        assert 1 <= len(page["serviceArns"]) <= 4
        seen += page["serviceArns"]
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    assert pages == 4 and len(seen) == 13 and set(seen) == everything

    # The CLI pages on its own.
    assert set(kecs.aws("ecs", "list-services", "--cluster", "svc")["serviceArns"]) == everything
    cli_page = kecs.aws("ecs", "list-services", "--cluster", "svc", "--max-results", "5", "--no-paginate")
    assert len(cli_page["serviceArns"]) == 5 and cli_page["nextToken"]

    # Filters.
    assert ecs.list_services(cluster="svc", schedulingStrategy="DAEMON")["serviceArns"] == [arn("service/svc/daemon")]
    assert len(ecs.list_services(cluster="svc", schedulingStrategy="REPLICA", maxResults=100)["serviceArns"]) == 12
    assert ecs.list_services(cluster="svc", launchType="FARGATE")["serviceArns"] == []
    assert ecs.list_services(cluster="other")["serviceArns"] == [arn("service/other/elsewhere")]


def test_list_services_by_namespace(kecs):
    ecs = kecs.client("ecs")
    sd = sd_client(kecs)
    setup_cluster(ecs, cluster="a")
    ecs.create_cluster(clusterName="b")
    ns = http_namespace(sd, "shop")
    other_ns = http_namespace(sd, "admin")
    reg = sd.create_service(Name="cart", NamespaceId=ns)["Service"]
    other = sd.create_service(Name="users", NamespaceId=other_ns)["Service"]
    ecs.create_service(cluster="a", serviceName="cart", taskDefinition="web", desiredCount=0,
                       serviceRegistries=[{"registryArn": reg["Arn"]}])
    ecs.create_service(cluster="b", serviceName="cart2", taskDefinition="web", desiredCount=0,
                       serviceRegistries=[{"registryArn": reg["Arn"]}])
    ecs.create_service(cluster="a", serviceName="users", taskDefinition="web", desiredCount=0,
                       serviceRegistries=[{"registryArn": other["Arn"]}])
    ecs.create_service(cluster="a", serviceName="plain", taskDefinition="web", desiredCount=0)
    want = {arn("service/a/cart"), arn("service/b/cart2")}   # across clusters
    assert set(ecs.list_services_by_namespace(namespace="shop")["serviceArns"]) == want
    ns_arn = sd.get_namespace(Id=ns)["Namespace"]["Arn"]
    assert set(ecs.list_services_by_namespace(namespace=ns_arn)["serviceArns"]) == want
    page = ecs.list_services_by_namespace(namespace="shop", maxResults=1)
    assert len(page["serviceArns"]) == 1 and page["nextToken"]
    page2 = ecs.list_services_by_namespace(namespace="shop", maxResults=1, nextToken=page["nextToken"])
    assert set(page["serviceArns"] + page2["serviceArns"]) == want and "nextToken" not in page2
    assert ecs.list_services_by_namespace(namespace="admin")["serviceArns"] == [arn("service/a/users")]
    assert error(ecs.list_services_by_namespace, namespace="nope")[0] == "NamespaceNotFoundException"
    # A registry that does not exist is refused at CreateService.
    assert error(ecs.create_service, cluster="a", serviceName="bad", taskDefinition="web", desiredCount=0,
                 serviceRegistries=[{"registryArn": reg["Arn"][:-4] + "0000"}])[0] in (
        "InvalidParameterException", "ClientException")
    # Deleted services leave the namespace's list.
    ecs.delete_service(cluster="b", service="cart2")
    ecs.get_waiter("services_inactive").wait(cluster="b", services=["cart2"], WaiterConfig=FAST)
    assert ecs.list_services_by_namespace(namespace="shop")["serviceArns"] == [arn("service/a/cart")]


# ---- UpdateService: scaling and rolling deployments --------------------------------------

def test_scale_up_and_down(kecs):
    ecs = kecs.client("ecs")
    setup_cluster(ecs)
    ecs.create_service(cluster="svc", serviceName="web", taskDefinition="web", desiredCount=1)
    ecs.get_waiter("services_stable").wait(cluster="svc", services=["web"], WaiterConfig=FAST)
    dep = describe(ecs, "svc", "web")["deployments"][0]["id"]

    up = ecs.update_service(cluster="svc", service="web", desiredCount=5)["service"]
    assert up["desiredCount"] == 5
    # Scaling is no new deployment.
    assert [d["id"] for d in up["deployments"]] == [dep] and up["deployments"][0]["desiredCount"] == 5
    ecs.get_waiter("services_stable").wait(cluster="svc", services=["web"], WaiterConfig=FAST)
    s = wait_for(lambda: steady(ecs, "svc", "web", 5), what="5 running")
    assert len(service_tasks(ecs, "svc", "web")) == 5
    assert any(m.startswith("(service web) has started 4 tasks:") for m in messages(s)), messages(s)

    before = {t["taskArn"] for t in service_tasks(ecs, "svc", "web")}
    down = ecs.update_service(cluster="svc", service="web", desiredCount=2)["service"]
    assert down["desiredCount"] == 2
    s = wait_for(lambda: steady(ecs, "svc", "web", 2), what="2 running")
    running = {t["taskArn"] for t in service_tasks(ecs, "svc", "web")}
    assert len(running) == 2 and running <= before          # it stopped 3, started none
    stopped = [t for t in service_tasks(ecs, "svc", "web", "STOPPED") if t["taskArn"] in before]
    assert len(stopped) == 3
    def all_stopped():
        st = service_tasks(ecs, "svc", "web", "STOPPED")
        return st if len(st) == 3 and all(t["lastStatus"] == "STOPPED" for t in st) else None
    for t in wait_for(all_stopped, what="3 tasks STOPPED"):
        assert t["stopCode"] == "ServiceSchedulerInitiated"
        assert t["stoppedReason"] == f"Scaling activity initiated by (deployment {dep})"
    stop_msgs = [m for m in messages(s) if m.startswith("(service web) has stopped 3 running tasks:")]
    assert len(stop_msgs) == 1
    assert len(re.findall(r"\(task [0-9a-f]{32}\)", stop_msgs[0])) == 3
    # The scheduler says so in the pass after the one that stopped them.
    wait_for(lambda: messages(describe(ecs, "svc", "web"))[0] == "(service web) has reached a steady state.",
             what="a steady-state event after the scale-in")

    ecs.update_service(cluster="svc", service="web", desiredCount=0)
    wait_for(lambda: steady(ecs, "svc", "web", 0), what="0 running")
    assert service_tasks(ecs, "svc", "web") == []
    # With desiredCount 0 no force is needed.
    assert ecs.delete_service(cluster="svc", service="web")["service"]["status"] in ("DRAINING", "INACTIVE")
    ecs.get_waiter("services_inactive").wait(cluster="svc", services=["web"], WaiterConfig=FAST)


@pytest.mark.parametrize("desired,min_pct,max_pct", [(4, 100, 200), (4, 50, 100), (5, 50, 150), (3, 0, 100)])
def test_rolling_deployment_within_percentages(kecs, desired, min_pct, max_pct):
    ecs = kecs.client("ecs")
    setup_cluster(ecs, revisions=2)
    ecs.create_service(cluster="svc", serviceName="web", taskDefinition="web:1", desiredCount=desired,
                       deploymentConfiguration={"minimumHealthyPercent": min_pct, "maximumPercent": max_pct})
    ecs.get_waiter("services_stable").wait(cluster="svc", services=["web"], WaiterConfig=FAST)
    # The deployment completes once its tasks have settled, which may follow the steady state.
    old = wait_for(lambda: (lambda d: d if d["rolloutState"] == "COMPLETED" else None)(
        describe(ecs, "svc", "web")["deployments"][0]), what="first deployment COMPLETED")
    old_tasks = {t["taskArn"] for t in service_tasks(ecs, "svc", "web")}
    assert len(old_tasks) == desired
    min_healthy = math.ceil(desired * min_pct / 100)
    max_total = math.floor(desired * max_pct / 100)

    up = ecs.update_service(cluster="svc", service="web", taskDefinition="web:2")["service"]
    assert up["taskDefinition"] == arn("task-definition/web:2")
    assert [d["status"] for d in up["deployments"]] == ["PRIMARY", "ACTIVE"]
    new, prev = up["deployments"]
    assert DEPLOYMENT_ID.match(new["id"]) and new["id"] != old["id"] and prev["id"] == old["id"]
    assert (new["taskDefinition"], new["rolloutState"], new["desiredCount"]) == (
        arn("task-definition/web:2"), "IN_PROGRESS", desired)
    assert prev["taskDefinition"] == arn("task-definition/web:1")
    since = ms(new["createdAt"])

    # Poll while it rolls: never fewer RUNNING than the minimum, never more than the maximum.
    saw_two = False
    deadline = time.time() + 20
    while time.time() < deadline:
        s = describe(ecs, "svc", "web")
        assert s["runningCount"] >= min_healthy, s
        assert s["runningCount"] + s["pendingCount"] <= max_total, s
        saw_two = saw_two or len(s["deployments"]) == 2
        if steady(ecs, "svc", "web", desired, td="web:2"):
            break
        time.sleep(0.01)
    s = wait_for(lambda: steady(ecs, "svc", "web", desired, td="web:2"), what="rollout COMPLETED")
    [dep] = s["deployments"]
    assert (dep["id"], dep["status"], dep["rolloutState"]) == (new["id"], "PRIMARY", "COMPLETED")
    assert dep["rolloutStateReason"] == f"ECS deployment {new['id']} completed."

    # Every old task went, every running task is new, and the replay of the tasks'
    # timestamps holds the same bounds between the polls.
    tasks = all_service_tasks(ecs, "svc", "web")
    running = [t for t in tasks if t["desiredStatus"] == "RUNNING"]
    assert len(running) == desired
    assert all(t["taskDefinitionArn"] == arn("task-definition/web:2") and t["startedBy"] == new["id"]
               for t in running)
    for t in tasks:
        if t["taskArn"] in old_tasks:
            assert t["desiredStatus"] == "STOPPED" and t["stopCode"] == "ServiceSchedulerInitiated"
    check_rollout_timeline(tasks, since, desired, min_pct, max_pct)

    msgs = messages(s)
    assert msgs[0] == "(service web) has reached a steady state."
    assert f"(service web) (deployment {new['id']}) deployment completed." in msgs
    assert msgs.count("(service web) has reached a steady state.") >= 2   # before and after

    # forceNewDeployment replaces every task with the same task definition.
    before = {t["taskArn"] for t in running}
    forced = ecs.update_service(cluster="svc", service="web", forceNewDeployment=True)["service"]
    assert len(forced["deployments"]) == 2
    assert forced["deployments"][0]["taskDefinition"] == arn("task-definition/web:2")
    s = wait_for(lambda: (lambda x: x if x and x["deployments"][0]["id"] == forced["deployments"][0]["id"] else None)(
        steady(ecs, "svc", "web", desired, td="web:2")), what="forced deployment COMPLETED")
    assert not before & {t["taskArn"] for t in service_tasks(ecs, "svc", "web")}

    ecs.delete_service(cluster="svc", service="web", force=True)
    ecs.get_waiter("services_inactive").wait(cluster="svc", services=["web"], WaiterConfig=FAST)


def test_update_through_the_cli_and_wait(kecs):
    ecs = kecs.client("ecs")
    setup_cluster(ecs, revisions=2)
    ecs.create_service(cluster="svc", serviceName="web", taskDefinition="web:1", desiredCount=2)
    out = kecs.aws("ecs", "update-service", "--cluster", "svc", "--service", "web",
                   "--task-definition", "web:2", "--desired-count", "3")["service"]
    assert out["desiredCount"] == 3 and out["taskDefinition"] == arn("task-definition/web:2")
    assert out["deployments"][0]["status"] == "PRIMARY"
    p = kecs.aws("ecs", "wait", "services-stable", "--cluster", "svc", "--services", "web", raw=True)
    assert p.returncode == 0, p.stderr
    s = describe(ecs, "svc", "web")
    assert (s["runningCount"], len(s["deployments"])) == (3, 1)
    assert s["deployments"][0]["taskDefinition"] == arn("task-definition/web:2")
    # The waiter fails at once for a service that does not exist (MISSING is a failure state).
    t0 = time.time()
    p = kecs.aws("ecs", "wait", "services-stable", "--cluster", "svc", "--services", "ghost", raw=True)
    assert p.returncode != 0 and "Waiter ServicesStable failed" in p.stderr, p.stderr
    assert time.time() - t0 < 10
    ecs.delete_service(cluster="svc", service="web", force=True)
    p = kecs.aws("ecs", "wait", "services-inactive", "--cluster", "svc", "--services", "web", raw=True)
    assert p.returncode == 0, p.stderr


# ---- waiters ----------------------------------------------------------------------------

def test_boto3_waiters(kecs):
    ecs = kecs.client("ecs")
    setup_cluster(ecs, revisions=2)
    ecs.create_service(cluster="svc", serviceName="a", taskDefinition="web:1", desiredCount=3)
    ecs.create_service(cluster="svc", serviceName="b", taskDefinition="web:1", desiredCount=2)
    ecs.get_waiter("services_stable").wait(cluster="svc", services=["a", "b"], WaiterConfig=FAST)
    got = ecs.describe_services(cluster="svc", services=["a", "b"])["services"]
    assert [(s["runningCount"], len(s["deployments"])) for s in got] == [(3, 1), (2, 1)]
    ecs.update_service(cluster="svc", service="a", taskDefinition="web:2")
    ecs.get_waiter("services_stable").wait(cluster="svc", services=["a"], WaiterConfig=FAST)
    s = describe(ecs, "svc", "a")
    assert s["runningCount"] == 3 and [d["taskDefinition"] for d in s["deployments"]] == [arn("task-definition/web:2")]

    # MISSING is a failure state for both waiters.
    for name in ("services_stable", "services_inactive"):
        with pytest.raises(botocore.exceptions.WaiterError) as e:
            ecs.get_waiter(name).wait(cluster="svc", services=["ghost"], WaiterConfig=FAST)
        assert "terminal failure" in str(e.value)

    ecs.delete_service(cluster="svc", service="a", force=True)
    ecs.get_waiter("services_inactive").wait(cluster="svc", services=["a"], WaiterConfig=FAST)
    # An INACTIVE service is a failure state for services_stable.
    with pytest.raises(botocore.exceptions.WaiterError) as e:
        ecs.get_waiter("services_stable").wait(cluster="svc", services=["a"], WaiterConfig=FAST)
    assert "terminal failure" in str(e.value)
    ecs.delete_service(cluster="svc", service="b", force=True)
    ecs.get_waiter("services_inactive").wait(cluster="svc", services=["b"], WaiterConfig=FAST)


# ---- DeleteService ----------------------------------------------------------------------

def test_delete_force_drains_and_the_name_can_be_reused(kecs):
    ecs = kecs.client("ecs")
    setup_cluster(ecs)
    created = ecs.create_service(cluster="svc", serviceName="web", taskDefinition="web", desiredCount=3)["service"]
    ecs.get_waiter("services_stable").wait(cluster="svc", services=["web"], WaiterConfig=FAST)
    tasks = [t["taskArn"] for t in service_tasks(ecs, "svc", "web")]
    assert len(tasks) == 3

    out = ecs.delete_service(cluster="svc", service=created["serviceArn"], force=True)["service"]
    assert out["serviceArn"] == created["serviceArn"]
    assert (out["status"], out["desiredCount"]) == ("DRAINING", 0)
    ecs.get_waiter("services_inactive").wait(cluster="svc", services=["web"], WaiterConfig=FAST)
    s = describe(ecs, "svc", "web")
    assert (s["status"], s["desiredCount"], s["runningCount"], s["pendingCount"]) == ("INACTIVE", 0, 0, 0)

    def stopped():
        got = ecs.describe_tasks(cluster="svc", tasks=tasks)["tasks"]
        return got if all(t["lastStatus"] == "STOPPED" for t in got) else None
    for t in wait_for(stopped, what="the service's tasks STOPPED"):
        assert t["desiredStatus"] == "STOPPED" and t["stopCode"] == "ServiceSchedulerInitiated"
    assert ecs.list_tasks(cluster="svc", serviceName="web")["taskArns"] == []
    assert ecs.list_services(cluster="svc")["serviceArns"] == []
    assert ecs.describe_clusters(clusters=["svc"])["clusters"][0]["activeServicesCount"] == 0

    # The name is free again: a new service, with a new deployment and new tasks.
    again = ecs.create_service(cluster="svc", serviceName="web", taskDefinition="web", desiredCount=2)["service"]
    assert (again["status"], again["serviceArn"]) == ("ACTIVE", created["serviceArn"])
    assert again["deployments"][0]["id"] != created["deployments"][0]["id"]
    s = wait_for(lambda: steady(ecs, "svc", "web", 2), what="the new service steady")
    assert s["status"] == "ACTIVE"
    new_tasks = {t["taskArn"] for t in service_tasks(ecs, "svc", "web")}
    assert len(new_tasks) == 2 and not new_tasks & set(tasks)
    assert ecs.list_services(cluster="svc")["serviceArns"] == [created["serviceArn"]]

    ecs.delete_service(cluster="svc", service="web", force=True)
    ecs.get_waiter("services_inactive").wait(cluster="svc", services=["web"], WaiterConfig=FAST)
    # The CLI's DeleteService on a name that was never a service.
    assert cli_error(kecs, "delete-service", "--cluster", "svc", "--service", "never") == (
        "ServiceNotFoundException", "Service not found.")


def test_list_services_leaves_out_a_draining_service(kecs):
    # DeleteService's documentation (the AWS model): "the service status moves from ACTIVE
    # to DRAINING, and the service is no longer visible in the console or in the
    # ListServices API operation."
    # kecs keeps a deleted service DRAINING until the scheduler pass that stops its tasks
    # commits. A round deletes a service of 40 tasks, lists, then describes: a service still
    # DRAINING after the list was DRAINING during it (DRAINING never comes back). Whatever
    # the list saw (DRAINING or already INACTIVE), it must leave the service out. Rounds
    # repeat until one list is proven to have seen DRAINING (a round proves nothing only
    # when the scheduler's pass commits before the describe), and fail after 120 s.
    ecs = kecs.client("ecs")
    setup_cluster(ecs)
    seen = []

    def delete_list_describe():
        name = f"gone{len(seen)}"
        ecs.create_service(cluster="svc", serviceName=name, taskDefinition="web", desiredCount=40)
        wait_for(lambda: describe(ecs, "svc", name)["runningCount"] == 40, what="40 running")
        assert arn(f"service/svc/{name}") in ecs.list_services(cluster="svc", maxResults=100)["serviceArns"]
        assert ecs.delete_service(cluster="svc", service=name, force=True)["service"]["status"] == "DRAINING"
        listed = ecs.list_services(cluster="svc", maxResults=100)["serviceArns"]
        status = describe(ecs, "svc", name)["status"]
        seen.append(status)
        assert arn(f"service/svc/{name}") not in listed, f"{name} listed while {status}"
        ecs.get_waiter("services_inactive").wait(cluster="svc", services=[name], WaiterConfig=FAST)
        return status
    wait_for(delete_list_describe, until=lambda status: status == "DRAINING", timeout=120, interval=0,
             what="a ListServices made while the deleted service was DRAINING")


# ---- DAEMON -----------------------------------------------------------------------------

def register_instances(ecs, cluster, n, first=0):
    arns = []
    for i in range(first, first + n):
        doc = {"instanceId": f"i-0aaaabbbbcccc{i:04d}", "instanceType": "m5.large"}
        arns.append(ecs.register_container_instance(
            cluster=cluster, instanceIdentityDocument=json.dumps(doc))["containerInstance"]["containerInstanceArn"])
    return arns


def daemon_running(ecs, cluster, name, n):
    tasks = service_tasks(ecs, cluster, name)
    return tasks if len(tasks) == n and all(t["lastStatus"] == "RUNNING" for t in tasks) else None


def test_daemon_runs_one_task_per_instance(kecs):
    ecs = kecs.client("ecs")
    setup_cluster(ecs)
    register_instances(ecs, "svc", 2)
    instances = set(ecs.list_container_instances(cluster="svc")["containerInstanceArns"])
    n = len(instances)     # the cluster's own instance and the two registered
    assert n == 3
    s = ecs.create_service(cluster="svc", serviceName="agent", taskDefinition="web",
                           schedulingStrategy="DAEMON")["service"]
    assert s["schedulingStrategy"] == "DAEMON"
    tasks = wait_for(lambda: daemon_running(ecs, "svc", "agent", n), what="a task on each instance")
    assert {t["containerInstanceArn"] for t in tasks} == instances
    assert all(t["group"] == "service:agent" for t in tasks)

    # A new instance gets its task.
    [extra] = register_instances(ecs, "svc", 1, first=10)
    tasks = wait_for(lambda: daemon_running(ecs, "svc", "agent", n + 1), what="a task on the new instance")
    assert {t["containerInstanceArn"] for t in tasks} == instances | {extra}
    # The scheduler settles on it: a steady state after the new task started. No task was
    # ever started beyond one per instance (none started and stopped again on the way).
    new_task = next(t for t in tasks if t["containerInstanceArn"] == extra)["taskArn"].rsplit("/", 1)[1]

    def steady_again():
        msgs = messages(describe(ecs, "svc", "agent"))
        started = any(m.startswith("(service agent) has started 1 tasks:") and new_task in m for m in msgs)
        return msgs if started and msgs[0] == "(service agent) has reached a steady state." else None
    wait_for(steady_again, what="a steady state after the new instance's task")
    ever = all_service_tasks(ecs, "svc", "agent")
    assert len(ever) == n + 1, [(t["containerInstanceArn"], t["lastStatus"]) for t in ever]

    # DAEMON services need no force to be deleted.
    assert ecs.delete_service(cluster="svc", service="agent")["service"]["status"] == "DRAINING"
    ecs.get_waiter("services_inactive").wait(cluster="svc", services=["agent"], WaiterConfig=FAST)
    wait_for(lambda: service_tasks(ecs, "svc", "agent") == [], what="daemon tasks stopped")


def test_daemon_task_leaves_a_draining_instance(kecs):
    # AWS (developer guide, "Draining Amazon ECS container instances"): "Tasks that are
    # part of a service on the container instance that are in a RUNNING state are
    # transitioned to a STOPPED state." A daemon keeps one task on each ACTIVE instance.
    ecs = kecs.client("ecs")
    setup_cluster(ecs)
    register_instances(ecs, "svc", 2)
    instances = set(ecs.list_container_instances(cluster="svc")["containerInstanceArns"])
    ecs.create_service(cluster="svc", serviceName="agent", taskDefinition="web", schedulingStrategy="DAEMON")
    wait_for(lambda: daemon_running(ecs, "svc", "agent", 3), what="a task on each instance")
    [extra] = register_instances(ecs, "svc", 1, first=10)
    wait_for(lambda: daemon_running(ecs, "svc", "agent", 4), what="a task on the new instance")
    ecs.update_container_instances_state(cluster="svc", containerInstances=[extra], status="DRAINING")

    def settled():
        tasks = daemon_running(ecs, "svc", "agent", 3)
        return tasks if tasks and {t["containerInstanceArn"] for t in tasks} == instances else None
    wait_for(settled, timeout=5, what="one task on each ACTIVE instance, none on the DRAINING one")


def test_replica_tasks_leave_a_draining_instance(kecs):
    # AWS (developer guide, "Draining Amazon ECS container instances"): RUNNING service tasks
    # on a DRAINING instance are stopped and replaced within minimumHealthyPercent and
    # maximumPercent: "a maximum of 200% starts four new tasks before stopping the four
    # tasks to be drained".
    ecs = kecs.client("ecs")
    setup_cluster(ecs)
    register_instances(ecs, "svc", 1)
    ecs.create_service(cluster="svc", serviceName="web", taskDefinition="web", desiredCount=4)
    wait_for(lambda: steady(ecs, "svc", "web", 4), what="4 running")
    victim = service_tasks(ecs, "svc", "web")[0]["containerInstanceArn"]
    ecs.update_container_instances_state(cluster="svc", containerInstances=[victim], status="DRAINING")

    def moved():
        tasks = service_tasks(ecs, "svc", "web")
        return (len(tasks) == 4 and all(t["lastStatus"] == "RUNNING" for t in tasks)
                and all(t["containerInstanceArn"] != victim for t in tasks))
    wait_for(moved, timeout=5, what="the service's tasks off the DRAINING instance")


def test_daemon_desired_count_follows_the_instances(kecs):
    # AWS: a DAEMON service's desiredCount is the number of instances it places a task on
    # (the CreateService docs: "you don't need to specify a desired number of tasks");
    # the ServicesStable waiter (waiters-2.json) needs runningCount == desiredCount.
    ecs = kecs.client("ecs")
    setup_cluster(ecs)
    register_instances(ecs, "svc", 2)
    ecs.create_service(cluster="svc", serviceName="agent", taskDefinition="web", schedulingStrategy="DAEMON")
    wait_for(lambda: daemon_running(ecs, "svc", "agent", 3), what="3 daemon tasks")
    s = describe(ecs, "svc", "agent")
    assert (s["desiredCount"], s["runningCount"]) == (3, 3)
    ecs.get_waiter("services_stable").wait(cluster="svc", services=["agent"],
                                           WaiterConfig={"Delay": 1, "MaxAttempts": 3})


def test_daemon_deployment_configuration(kecs):
    # The model's DeploymentConfiguration.minimumHealthyPercent: "The default
    # minimumHealthyPercent value for a service using the DAEMON service schedule is 0% for
    # the CLI, the Amazon Web Services SDKs, and the APIs". For maximumPercent AWS refuses
    # more than 100 (terraform-provider-aws #4825: "InvalidParameterException: The daemon
    # scheduling strategy does not support values above 100 for maximumPercent on a
    # deployment configuration. Change the maximumPercent value to 100, and try again").
    ecs = kecs.client("ecs")
    setup_cluster(ecs)
    s = ecs.create_service(cluster="svc", serviceName="agent", taskDefinition="web",
                           schedulingStrategy="DAEMON")["service"]
    cfg = s["deploymentConfiguration"]
    assert (cfg["minimumHealthyPercent"], cfg["maximumPercent"]) == (0, 100)
    code, msg = error(ecs.create_service, cluster="svc", serviceName="agent2", taskDefinition="web",
                      schedulingStrategy="DAEMON", deploymentConfiguration={"maximumPercent": 200})
    assert code == "InvalidParameterException"
    assert msg.startswith("The daemon scheduling strategy does not support values above 100 for maximumPercent")


# ---- the deployment circuit breaker -------------------------------------------------------

def failing_deployment(kecs, rollback):
    """A service of `cb:1` (no ports) steady on one task, then updated to `cb:2`, whose two
    published ports cannot be had from the daemon's one-port --public-port-range: every
    cb:2 task stops with TaskFailedToStart. Returns (client, first deployment, failing one)."""
    ecs = kecs.client("ecs")
    subnet = default_subnet(kecs)
    ecs.create_cluster(clusterName="cb")
    family = dict(family="cb", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512")
    ecs.register_task_definition(containerDefinitions=[container("app")], **family)
    ecs.register_task_definition(containerDefinitions=[container("app", portMappings=[
        {"containerPort": 80}, {"containerPort": 81}])], **family)
    s = ecs.create_service(
        cluster="cb", serviceName="cb", taskDefinition="cb:1", desiredCount=1, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "assignPublicIp": "ENABLED"}},
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": rollback}})["service"]
    assert s["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": rollback}
    first = wait_for(lambda: steady(ecs, "cb", "cb", 1), what="cb:1 steady")["deployments"][0]
    up = ecs.update_service(cluster="cb", service="cb", taskDefinition="cb:2")["service"]
    failing = up["deployments"][0]
    assert (failing["status"], failing["taskDefinition"]) == ("PRIMARY", arn("task-definition/cb:2"))
    return ecs, first, failing


def failed_cb2_tasks(ecs):
    return [t for t in service_tasks(ecs, "cb", "cb", "STOPPED")
            if t["taskDefinitionArn"] == arn("task-definition/cb:2") and t["lastStatus"] == "STOPPED"]


@pytest.mark.kecs_args("--public-port-range", "32000-32000")
def test_circuit_breaker_without_rollback_stops_the_deployment(kecs):
    ecs, first, failing = failing_deployment(kecs, rollback=False)

    def failed():
        s = describe(ecs, "cb", "cb")
        d = s["deployments"][0]
        return s if d["id"] == failing["id"] and d["rolloutState"] == "FAILED" else None
    s = wait_for(failed, timeout=20, what="the deployment FAILED")
    primary = s["deployments"][0]
    # containers-roadmap #1488: "rollout state fails with the reason: `ECS deployment circuit
    # breaker: tasks failed to start.`"
    assert primary["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert primary["status"] == "PRIMARY" and primary["failedTasks"] >= 3   # threshold: at least 3
    assert f"(service cb) (deployment {failing['id']}) deployment failed: tasks failed to start." in messages(s)
    for t in failed_cb2_tasks(ecs):
        assert t["stopCode"] == "TaskFailedToStart"
        assert t["stoppedReason"].startswith("ResourceInitializationError")
    # "A deployment in FAILED state doesn't launch any new tasks."
    n = len(failed_cb2_tasks(ecs))
    assert n >= 3
    scheduler_passes(ecs)
    assert len(failed_cb2_tasks(ecs)) == n
    assert describe(ecs, "cb", "cb")["deployments"][0]["rolloutState"] == "FAILED"
    ecs.delete_service(cluster="cb", service="cb", force=True)
    ecs.get_waiter("services_inactive").wait(cluster="cb", services=["cb"], WaiterConfig=FAST)


@pytest.mark.kecs_args("--public-port-range", "32000-32000")
def test_circuit_breaker_without_rollback_keeps_the_old_tasks(kecs):
    # The model's DeploymentConfiguration.deploymentCircuitBreaker: "a service deployment
    # will transition to a failed state and stop launching new tasks" -- nothing about
    # stopping the tasks that work; minimumHealthyPercent (100) still holds.
    ecs, first, failing = failing_deployment(kecs, rollback=False)
    wait_for(lambda: describe(ecs, "cb", "cb")["deployments"][0]["rolloutState"] == "FAILED",
             timeout=20, what="the deployment FAILED")
    scheduler_passes(ecs)
    s = describe(ecs, "cb", "cb")
    assert s["runningCount"] == 1, s
    assert [(d["id"], d["status"], d["runningCount"]) for d in s["deployments"][1:]] == [(first["id"], "ACTIVE", 1)]
    assert [t["taskDefinitionArn"] for t in service_tasks(ecs, "cb", "cb")] == [arn("task-definition/cb:1")]


def wait_rolled_back(ecs, first, failing):
    def back():
        s = describe(ecs, "cb", "cb")
        d = s["deployments"]
        return s if (len(d) == 1 and d[0]["taskDefinition"] == arn("task-definition/cb:1")
                     and d[0]["rolloutState"] == "COMPLETED" and s["runningCount"] == 1) else None
    return wait_for(back, timeout=20, what="rolled back to cb:1")


@pytest.mark.kecs_args("--public-port-range", "32000-32000")
def test_circuit_breaker_rolls_back(kecs):
    ecs, first, failing = failing_deployment(kecs, rollback=True)
    s = wait_rolled_back(ecs, first, failing)
    [dep] = s["deployments"]
    assert s["taskDefinition"] == arn("task-definition/cb:1")
    assert DEPLOYMENT_ID.match(dep["id"]) and dep["id"] not in (first["id"], failing["id"])
    assert dep["status"] == "PRIMARY"
    msgs = messages(s)
    assert f"(service cb) (deployment {failing['id']}) deployment failed: tasks failed to start." in msgs
    assert any(m.startswith("(service cb) rolling back to deployment") for m in msgs), msgs
    assert msgs[0] == "(service cb) has reached a steady state."
    # (Tasks of the failed revision still pending at the rollback are stopped by the scheduler.)
    failed = [t for t in failed_cb2_tasks(ecs) if t["stopCode"] != "ServiceSchedulerInitiated"]
    assert len(failed) >= 3
    assert all(t["stopCode"] == "TaskFailedToStart" for t in failed)
    [task] = service_tasks(ecs, "cb", "cb")
    assert task["taskDefinitionArn"] == arn("task-definition/cb:1") and task["startedBy"] == dep["id"]
    # Nothing more is launched of the failed revision. (Counted over every status: a task
    # of it that was pending at the rollback may still be stopping at the first count.)
    def cb2_task_ids():
        return {t["taskArn"] for status in ("RUNNING", "STOPPED") for t in service_tasks(ecs, "cb", "cb", status)
                if t["taskDefinitionArn"] == arn("task-definition/cb:2")}
    before = cb2_task_ids()
    scheduler_passes(ecs)
    assert cb2_task_ids() == before
    ecs.delete_service(cluster="cb", service="cb", force=True)
    ecs.get_waiter("services_inactive").wait(cluster="cb", services=["cb"], WaiterConfig=FAST)


@pytest.mark.kecs_args("--public-port-range", "32000-32000")
def test_circuit_breaker_rollback_event_names_the_deployment(kecs):
    ecs, first, failing = failing_deployment(kecs, rollback=True)
    s = wait_rolled_back(ecs, first, failing)
    assert f"(service cb) rolling back to deployment {first['id']}." in messages(s), messages(s)
