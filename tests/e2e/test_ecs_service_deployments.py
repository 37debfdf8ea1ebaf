"""ECS's service deployment history end to end, through boto3 with kecs's newer ECS model:
ListServiceDeployments, DescribeServiceDeployments, DescribeServiceRevisions and
StopServiceDeployment against a simulated-runtime daemon (responses validated against the
model, KECS_VALIDATE_RESPONSES).

What is expected comes from the model's documentation, the developer guide's
service-deployment.html and stop-service-deployment.html, and the AWS CLI's examples
(describe-service-deployments.rst, describe-service-revisions.rst); messages are asserted
exactly only where AWS's wording is on record, else only the error code.

A deployment that never completes: a task definition asking for more memory than the
host's container instance registers (7680 MiB) cannot be placed, so its deployment stays
IN_PROGRESS without any task failing. Failing tasks for the circuit breaker come from
test_services.failing_deployment (a one-port --public-port-range)."""
import datetime
import hashlib
import json
import os
import re

import pytest

from conftest import wait_for
from test_ecs_support import ACCOUNT, REGION, arn, client_error as error, container, ecs_client_with_model, merged_ecs_model
from test_services import failing_deployment

OPS = ("ListServiceDeployments", "DescribeServiceDeployments", "DescribeServiceRevisions", "StopServiceDeployment")
DEPLOYMENT_ARN = re.compile(rf"^arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/(\w+)/(\w+)/[A-Za-z0-9_-]{{21}}$")
REVISION_ARN = re.compile(rf"^arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/(\w+)/(\w+)/\d{{19}}$")


def client(kecs):
    """boto3 ECS client whose model has the deployment-history operations."""
    models = os.path.join(kecs.data_dir, "deployments-models")
    d = os.path.join(models, "ecs", "2014-11-13")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "service-2.json"), "w") as f:
        json.dump(merged_ecs_model(OPS), f)
    return ecs_client_with_model(kecs, models)


def make_cluster(ecs, cluster="hist"):
    ecs.create_cluster(clusterName=cluster)
    for i in (1, 2):
        ecs.register_task_definition(family="web", containerDefinitions=[container("app", image=f"nginx:{i}", memory=32)])
    # web:3 cannot be placed: more memory than the host registers.
    ecs.register_task_definition(family="web", containerDefinitions=[container("app", image="nginx:3", memory=100000)])


def deployments(ecs, cluster, service, **kw):
    return ecs.list_service_deployments(cluster=cluster, service=service, **kw)["serviceDeployments"]


def describe(ecs, *arns):
    out = ecs.describe_service_deployments(serviceDeploymentArns=list(arns))
    assert out["failures"] == [], out["failures"]
    return out["serviceDeployments"]


def revision(ecs, revision_arn):
    out = ecs.describe_service_revisions(serviceRevisionArns=[revision_arn])
    assert out["failures"] == [], out["failures"]
    [r] = out["serviceRevisions"]
    return r


def wait_status(ecs, deployment_arn, status, timeout=20):
    def reached():
        [d] = describe(ecs, deployment_arn)
        return d if d["status"] == status else None
    return wait_for(reached, timeout=timeout, what=f"{deployment_arn} {status}")


def digest(image):
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


def test_create_and_update_are_recorded_with_their_revisions(kecs):
    ecs = client(kecs)
    make_cluster(ecs)
    ecs.create_service(cluster="hist", serviceName="web", taskDefinition="web:1", desiredCount=1)
    [first] = deployments(ecs, "hist", "web")
    assert DEPLOYMENT_ARN.match(first["serviceDeploymentArn"]).groups() == ("hist", "web")
    assert first["serviceArn"] == arn("service/hist/web") and first["clusterArn"] == arn("cluster/hist")
    assert REVISION_ARN.match(first["targetServiceRevisionArn"]).groups() == ("hist", "web")
    assert first["status"] in ("IN_PROGRESS", "SUCCESSFUL")
    done = wait_status(ecs, first["serviceDeploymentArn"], "SUCCESSFUL")
    # As the CLI's describe-service-deployments example shows a first deployment.
    assert done["sourceServiceRevisions"] == []
    assert done["targetServiceRevision"] == {"arn": first["targetServiceRevisionArn"], "requestedTaskCount": 1,
                                             "runningTaskCount": 1, "pendingTaskCount": 0}
    assert done["createdAt"] <= done["startedAt"] <= done["finishedAt"] and "stoppedAt" not in done
    assert done["deploymentConfiguration"]["maximumPercent"] == 200
    assert done["deploymentConfiguration"]["minimumHealthyPercent"] == 100
    assert done["deploymentCircuitBreaker"] == {"status": "DISABLED", "failureCount": 0, "threshold": 3}
    assert done["alarms"] == {"status": "DISABLED"}

    ecs.update_service(cluster="hist", service="web", taskDefinition="web:2")
    listed = deployments(ecs, "hist", "web")
    assert [d["serviceDeploymentArn"] for d in listed][1:] == [first["serviceDeploymentArn"]]  # newest first
    second = listed[0]
    assert second["targetServiceRevisionArn"] != first["targetServiceRevisionArn"]
    done2 = wait_status(ecs, second["serviceDeploymentArn"], "SUCCESSFUL")
    [source] = done2["sourceServiceRevisions"]
    assert source["arn"] == first["targetServiceRevisionArn"]
    assert (source["runningTaskCount"], source["pendingTaskCount"]) == (0, 0)
    assert done2["targetServiceRevision"]["runningTaskCount"] == 1
    # The first stays SUCCESSFUL: it had finished before the second started.
    assert describe(ecs, first["serviceDeploymentArn"])[0]["status"] == "SUCCESSFUL"

    r1, r2 = revision(ecs, first["targetServiceRevisionArn"]), revision(ecs, second["targetServiceRevisionArn"])
    assert r1["taskDefinition"] == arn("task-definition/web:1") and r2["taskDefinition"] == arn("task-definition/web:2")
    assert r1["serviceArn"] == arn("service/hist/web") and r1["clusterArn"] == arn("cluster/hist")
    assert r1["launchType"] == "EC2" and r1["loadBalancers"] == [] and r1["serviceRegistries"] == []
    assert r2["containerImages"] == [{"containerName": "app", "image": "nginx:2", "imageDigest": digest("nginx:2")}]
    assert r1["createdAt"] <= r2["createdAt"]


def test_describe_reports_unknown_arns_as_missing(kecs):
    ecs = client(kecs)
    make_cluster(ecs)
    ecs.create_service(cluster="hist", serviceName="web", taskDefinition="web:1", desiredCount=0)
    [d] = deployments(ecs, "hist", "web")
    unknown = arn("service-deployment/hist/web/AAAAAAAAAAAAAAAAAAAAA")
    out = ecs.describe_service_deployments(serviceDeploymentArns=[d["serviceDeploymentArn"], unknown, "nonsense"])
    assert [x["serviceDeploymentArn"] for x in out["serviceDeployments"]] == [d["serviceDeploymentArn"]]
    assert out["failures"] == [{"arn": unknown, "reason": "MISSING"}, {"arn": "nonsense", "reason": "MISSING"}]
    unknown_rev = arn("service-revision/hist/web/1234567890123456789")
    out = ecs.describe_service_revisions(serviceRevisionArns=[unknown_rev, d["targetServiceRevisionArn"]])
    assert [r["serviceRevisionArn"] for r in out["serviceRevisions"]] == [d["targetServiceRevisionArn"]]
    assert out["failures"] == [{"arn": unknown_rev, "reason": "MISSING"}]
    # "You can specify a maximum of 20 ARNs." (the model)
    code, _ = error(ecs.describe_service_deployments, serviceDeploymentArns=[unknown] * 21)
    assert code == "InvalidParameterException"
    code, _ = error(ecs.describe_service_revisions, serviceRevisionArns=[unknown_rev] * 21)
    assert code == "InvalidParameterException"


def test_a_superseded_deployment_is_stopped(kecs):
    ecs = client(kecs)
    make_cluster(ecs)
    ecs.create_service(cluster="hist", serviceName="web", taskDefinition="web:1", desiredCount=1)
    first = deployments(ecs, "hist", "web")[0]["serviceDeploymentArn"]
    wait_status(ecs, first, "SUCCESSFUL")
    ecs.update_service(cluster="hist", service="web", taskDefinition="web:3")  # cannot be placed
    stuck = deployments(ecs, "hist", "web")[0]["serviceDeploymentArn"]
    [d] = describe(ecs, stuck)
    assert d["status"] == "IN_PROGRESS" and "finishedAt" not in d
    assert d["targetServiceRevision"]["requestedTaskCount"] == 1
    ecs.update_service(cluster="hist", service="web", taskDefinition="web:2")
    latest = deployments(ecs, "hist", "web")[0]
    [d] = describe(ecs, stuck)
    # A newer deployment ends the ongoing one: STOPPED with finishedAt (kayac/ecspresso#899).
    assert d["status"] == "STOPPED" and "finishedAt" in d, d
    done = wait_status(ecs, latest["serviceDeploymentArn"], "SUCCESSFUL")
    # The sources: the service's deployments still there, the newest first.
    assert [s["arn"] for s in done["sourceServiceRevisions"]] == [
        d["targetServiceRevision"]["arn"], describe(ecs, first)[0]["targetServiceRevision"]["arn"]]
    assert [x["status"] for x in deployments(ecs, "hist", "web")] == ["SUCCESSFUL", "STOPPED", "SUCCESSFUL"]


def test_list_filters_and_pages_newest_first(kecs):
    ecs = client(kecs)
    make_cluster(ecs)
    # web:3 is never placed, so no deployment completes before the next one starts.
    ecs.create_service(cluster="hist", serviceName="web", taskDefinition="web:3", desiredCount=1)
    for _ in range(4):
        ecs.update_service(cluster="hist", service="web", forceNewDeployment=True)
    everything = deployments(ecs, "hist", "web")
    assert len(everything) == 5
    created = [d["createdAt"] for d in everything]
    assert created == sorted(created, reverse=True)
    # Each forced deployment superseded the one before it.
    assert [d["status"] for d in everything] == ["IN_PROGRESS"] + ["STOPPED"] * 4
    page = ecs.list_service_deployments(cluster="hist", service="web", maxResults=2)
    seen = [d["serviceDeploymentArn"] for d in page["serviceDeployments"]]
    while "nextToken" in page:
        page = ecs.list_service_deployments(cluster="hist", service="web", maxResults=2, nextToken=page["nextToken"])
        seen += [d["serviceDeploymentArn"] for d in page["serviceDeployments"]]
    assert seen == [d["serviceDeploymentArn"] for d in everything]
    stopped = deployments(ecs, "hist", "web", status=["STOPPED"])
    assert [d["serviceDeploymentArn"] for d in stopped] == seen[1:]
    # botocore sends timestamps in whole seconds, so the bounds are a day off either side.
    day = datetime.timedelta(days=1)
    earlier, later = everything[-1]["createdAt"] - day, everything[0]["createdAt"] + day

    def created(**bounds):
        return [d["serviceDeploymentArn"] for d in deployments(ecs, "hist", "web", createdAt=bounds)]
    assert created(after=earlier) == created(before=later) == created(after=earlier, before=later) == seen
    assert created(before=earlier) == created(after=later) == []
    assert [d["serviceDeploymentArn"] for d in deployments(ecs, "hist", "web", status=["STOPPED", "IN_PROGRESS"],
                                                           createdAt={"before": earlier})] == []
    # The service by ARN works as by name.
    assert len(deployments(ecs, "hist", arn("service/hist/web"))) == 5


def test_list_errors(kecs):
    ecs = client(kecs)
    make_cluster(ecs)
    ecs.create_service(cluster="hist", serviceName="web", taskDefinition="web:1", desiredCount=0)
    assert error(ecs.list_service_deployments, cluster="nope", service="web") == (
        "ClusterNotFoundException", "Cluster not found.")
    assert error(ecs.list_service_deployments, cluster="hist", service="nope") == (
        "ServiceNotFoundException", "Service not found.")
    code, _ = error(ecs.list_service_deployments, cluster="hist", service="web", maxResults=101)
    assert code == "InvalidParameterException"
    code, _ = error(ecs.list_service_deployments, cluster="hist", service="web", nextToken="bogus")
    assert code == "InvalidParameterException"
    # "When you delete a service, Amazon ECS deletes the corresponding service deployments."
    [d] = deployments(ecs, "hist", "web")
    ecs.delete_service(cluster="hist", service="web")
    out = ecs.describe_service_deployments(serviceDeploymentArns=[d["serviceDeploymentArn"]])
    assert out["failures"] == [{"arn": d["serviceDeploymentArn"], "reason": "MISSING"}]


def test_stop_service_deployment_rolls_back_to_the_previous_revision(kecs):
    ecs = client(kecs)
    make_cluster(ecs)
    ecs.create_service(cluster="hist", serviceName="web", taskDefinition="web:1", desiredCount=1)
    first = deployments(ecs, "hist", "web")[0]
    wait_status(ecs, first["serviceDeploymentArn"], "SUCCESSFUL")
    ecs.update_service(cluster="hist", service="web", taskDefinition="web:3")  # cannot be placed
    stuck = deployments(ecs, "hist", "web")[0]["serviceDeploymentArn"]
    out = ecs.stop_service_deployment(serviceDeploymentArn=stuck, stopType="ROLLBACK")
    assert out["serviceDeploymentArn"] == stuck
    [d] = describe(ecs, stuck)
    assert d["status"] in ("ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"), d
    assert d["rollback"]["serviceRevisionArn"] == first["targetServiceRevisionArn"]
    # "ROLLBACK_IN_PROGRESS - The service deployment continues the rollback operation."
    if d["status"] == "ROLLBACK_IN_PROGRESS":
        assert ecs.stop_service_deployment(serviceDeploymentArn=stuck)["serviceDeploymentArn"] == stuck
    done = wait_status(ecs, stuck, "ROLLBACK_SUCCESSFUL")
    assert "finishedAt" in done and done["rollback"]["startedAt"] <= done["finishedAt"]
    [source] = done["sourceServiceRevisions"]
    assert source["arn"] == first["targetServiceRevisionArn"] and source["runningTaskCount"] == 1
    s = ecs.describe_services(cluster="hist", services=["web"])["services"][0]
    assert s["taskDefinition"] == arn("task-definition/web:1")
    # The rollback is part of the stopped deployment, not a new one.
    assert len(deployments(ecs, "hist", "web")) == 2
    # A finished deployment cannot be stopped (the model's ConflictException).
    for finished in (stuck, first["serviceDeploymentArn"]):
        code, _ = error(ecs.stop_service_deployment, serviceDeploymentArn=finished, stopType="ROLLBACK")
        assert code == "ConflictException"


def test_stop_service_deployment_errors(kecs):
    ecs = client(kecs)
    make_cluster(ecs)
    ecs.create_service(cluster="hist", serviceName="web", taskDefinition="web:3", desiredCount=1)  # never placed
    [d] = deployments(ecs, "hist", "web")
    assert d["status"] == "IN_PROGRESS"
    # The first deployment has no previous revision to roll back to.
    code, _ = error(ecs.stop_service_deployment, serviceDeploymentArn=d["serviceDeploymentArn"], stopType="ROLLBACK")
    assert code == "ConflictException"
    code, _ = error(ecs.stop_service_deployment,
                    serviceDeploymentArn=arn("service-deployment/hist/web/AAAAAAAAAAAAAAAAAAAAA"))
    assert code == "ServiceDeploymentNotFoundException"
    # "The valid values are ROLLBACK." (the model's stopType)
    code, _ = error(ecs.stop_service_deployment, serviceDeploymentArn=d["serviceDeploymentArn"], stopType="ABORT")
    assert code == "InvalidParameterException"


@pytest.mark.kecs_args("--public-port-range", "32000-32000")
def test_circuit_breaker_rollback_is_recorded(kecs):
    _, first, failing = failing_deployment(kecs, rollback=True)
    ecs = client(kecs)
    old, new = reversed(deployments(ecs, "cb", "cb"))
    done = wait_status(ecs, new["serviceDeploymentArn"], "ROLLBACK_SUCCESSFUL", timeout=30)
    # The deployment's rolloutStateReason, in ECS's words (containers-roadmap #1488).
    assert done["statusReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert done["rollback"]["serviceRevisionArn"] == old["targetServiceRevisionArn"]
    assert done["rollback"]["reason"] == done["statusReason"]
    cb = done["deploymentCircuitBreaker"]
    assert cb["status"] == "TRIGGERED" and cb["threshold"] == 3 and cb["failureCount"] >= 3, cb
    assert done["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert done["targetServiceRevision"]["requestedTaskCount"] == 0
    assert describe(ecs, old["serviceDeploymentArn"])[0]["deploymentCircuitBreaker"]["status"] == "MONITORING_COMPLETE"
    assert revision(ecs, new["targetServiceRevisionArn"])["taskDefinition"] == arn("task-definition/cb:2")
    assert revision(ecs, old["targetServiceRevisionArn"])["networkConfiguration"]["awsvpcConfiguration"][
        "assignPublicIp"] == "ENABLED"


@pytest.mark.kecs_args("--public-port-range", "32000-32000")
def test_circuit_breaker_without_rollback_stops_the_deployment(kecs):
    failing_deployment(kecs, rollback=False)
    ecs = client(kecs)
    new = deployments(ecs, "cb", "cb")[0]
    done = wait_status(ecs, new["serviceDeploymentArn"], "STOPPED", timeout=30)
    # "The service deployment stops when ... The rollback option is not in use for the
    # failure detection mechanism ... and the service fails." (the model's stoppedAt)
    assert "stoppedAt" in done and "finishedAt" in done and "rollback" not in done
    assert done["statusReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert done["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
