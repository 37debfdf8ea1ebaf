"""ECS task scale-in protection end to end (issue 18): GetTaskProtection and
UpdateTaskProtection through boto3 (with kecs's ECS model), against a simulated-runtime
daemon, and the service scheduler honouring them: protected tasks survive a lowered
desiredCount and a deployment, and stop once unprotected.

AWS facts, from the model's documentation (third_party/aws-models/ecs/service-2.json) and
the ECS Developer Guide's "Task scale-in protection": protection lasts expiresInMinutes
(1..2880, default 120); only tasks of a service can be protected, a standalone task is the
failure TASK_NOT_VALID; an unknown task is MISSING, as DescribeTasks answers. Expiry is
checked in the unit tests with an injected clock (tests/unit/reconcile,
tests/unit/api/ecs/task_protection_test.cc): a test cannot wait a minute for it."""
import time

import pytest

from conftest import wait_for
from test_ecs_support import arn, container, client_error as error, ecs_client_with_model, install_ecs_model


@pytest.fixture
def ecs(kecs):
    return ecs_client_with_model(kecs, install_ecs_model(kecs.data_dir))


def start_service(ecs, desired, cluster="tp", revisions=1):
    ecs.create_cluster(clusterName=cluster)
    for i in range(revisions):
        ecs.register_task_definition(family="web", containerDefinitions=[
            container("app", image=f"nginx:{i + 1}", memory=32)])
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition="web:1", desiredCount=desired)
    wait_for(lambda: running(ecs, cluster) if len(running(ecs, cluster)) == desired else None,
             what=f"{desired} tasks RUNNING")


def running(ecs, cluster):
    """The service's tasks that run and are not being stopped: {arn: task}."""
    arns = ecs.list_tasks(cluster=cluster, serviceName="web", desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return {}
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    return {t["taskArn"]: t for t in tasks if t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING"}


def service(ecs, cluster="tp"):
    return ecs.describe_services(cluster=cluster, services=["web"])["services"][0]


def test_protected_tasks_survive_scale_in_and_stop_once_unprotected(ecs):
    start_service(ecs, 4)
    tasks = sorted(running(ecs, "tp"))
    guarded, others = tasks[:2], tasks[2:]

    before = time.time()
    out = ecs.update_task_protection(cluster="tp", tasks=guarded, protectionEnabled=True, expiresInMinutes=60)
    after = time.time()
    assert out["failures"] == []
    assert sorted(p["taskArn"] for p in out["protectedTasks"]) == guarded
    for p in out["protectedTasks"]:
        assert p["protectionEnabled"] is True
        assert before + 3600 - 1 <= p["expirationDate"].timestamp() <= after + 3600 + 1

    # Get by ARN and by id; unprotected tasks show protectionEnabled false, no date.
    ids = [a.rsplit("/", 1)[1] for a in tasks]
    got = ecs.get_task_protection(cluster="tp", tasks=ids)
    assert got["failures"] == []
    by_arn = {p["taskArn"]: p for p in got["protectedTasks"]}
    assert sorted(by_arn) == tasks
    for a in guarded:
        assert by_arn[a]["protectionEnabled"] is True and "expirationDate" in by_arn[a]
    for a in others:
        assert by_arn[a] == {"taskArn": a, "protectionEnabled": False}
    # Without a list: the cluster's protected tasks.
    assert sorted(p["taskArn"] for p in ecs.get_task_protection(cluster=arn("cluster/tp"))["protectedTasks"]) == guarded

    # Scale in to 1: the unprotected tasks stop, the protected ones stay (one over desired).
    ecs.update_service(cluster="tp", service="web", desiredCount=1)
    wait_for(lambda: sorted(running(ecs, "tp")) == guarded, what="only the protected tasks running")
    msg = "(service web) was unable to scale in due to (reason: 1 tasks under protection)."
    wait_for(lambda: msg in [e["message"] for e in service(ecs)["events"]], what="the protection event")
    stopped = ecs.describe_tasks(cluster="tp", tasks=others)["tasks"]
    assert {t["desiredStatus"] for t in stopped} == {"STOPPED"}
    assert {t["stopCode"] for t in stopped} == {"ServiceSchedulerInitiated"}
    # Still both, several scheduler passes later (the event repeats nothing new, so wait
    # for the scheduler to have seen the service again: its runningCount settles at 2).
    wait_for(lambda: service(ecs)["runningCount"] == 2, what="runningCount 2")
    assert sorted(running(ecs, "tp")) == guarded

    # Unprotected: the scheduler stops one of them, down to desiredCount.
    out = ecs.update_task_protection(cluster="tp", tasks=guarded, protectionEnabled=False)
    assert out["failures"] == []
    assert sorted(out["protectedTasks"], key=lambda p: p["taskArn"]) == [
        {"taskArn": a, "protectionEnabled": False} for a in guarded]
    left = wait_for(lambda: running(ecs, "tp") if len(running(ecs, "tp")) == 1 else None, what="one task left")
    assert list(left)[0] in guarded
    assert ecs.get_task_protection(cluster="tp")["protectedTasks"] == []


def test_a_deployment_leaves_protected_tasks_until_unprotected(ecs):
    start_service(ecs, 2, revisions=2)
    [guarded, other] = sorted(running(ecs, "tp"))
    assert ecs.update_task_protection(cluster="tp", tasks=[guarded], protectionEnabled=True)["failures"] == []
    ecs.update_service(cluster="tp", service="web", taskDefinition="web:2")

    def replaced():
        now = running(ecs, "tp")
        new = [a for a, t in now.items() if t["taskDefinitionArn"].endswith("web:2")]
        return now if len(new) == 2 and other not in now and guarded in now else None
    wait_for(replaced, what="the unprotected old task replaced, the protected one still running")
    deps = service(ecs)["deployments"]
    assert len(deps) == 2 and deps[0]["rolloutState"] == "IN_PROGRESS", deps

    ecs.update_task_protection(cluster="tp", tasks=[guarded], protectionEnabled=False)

    def completed():
        s = service(ecs)
        return s if len(s["deployments"]) == 1 and s["deployments"][0]["rolloutState"] == "COMPLETED" else None
    wait_for(completed, what="the deployment COMPLETED")
    assert guarded not in running(ecs, "tp")


def test_failures_and_errors(ecs):
    start_service(ecs, 1)
    [task] = running(ecs, "tp")
    # A standalone task cannot be protected: TASK_NOT_VALID.
    [standalone] = ecs.run_task(cluster="tp", taskDefinition="web:1")["tasks"]
    out = ecs.update_task_protection(cluster="tp", tasks=[standalone["taskArn"]], protectionEnabled=True)
    assert out["protectedTasks"] == []
    assert [(f["arn"], f["reason"]) for f in out["failures"]] == [(standalone["taskArn"], "TASK_NOT_VALID")]
    got = ecs.get_task_protection(cluster="tp", tasks=[standalone["taskArn"]])
    assert [f["reason"] for f in got["failures"]] == ["TASK_NOT_VALID"]

    # An unknown task is MISSING, named by its ARN; the known one in the same call succeeds.
    missing = "0123456789abcdef0123456789abcdef"
    out = ecs.update_task_protection(cluster="tp", tasks=[missing, task], protectionEnabled=True, expiresInMinutes=5)
    assert [(f["arn"], f["reason"]) for f in out["failures"]] == [(arn(f"task/tp/{missing}"), "MISSING")]
    assert [p["taskArn"] for p in out["protectedTasks"]] == [task]

    # A second task protected in a service of desiredCount 1 would outnumber it.
    ecs.update_service(cluster="tp", service="web", desiredCount=2)
    wait_for(lambda: len(running(ecs, "tp")) == 2, what="2 tasks RUNNING")
    [second] = [a for a in running(ecs, "tp") if a != task]
    ecs.update_service(cluster="tp", service="web", desiredCount=1)
    out = ecs.update_task_protection(cluster="tp", tasks=[second], protectionEnabled=True)
    # Either the scheduler already stopped it (TASK_NOT_VALID) or it is still running
    # (DEPLOYMENT_BLOCKED): in both cases it is not protected.
    assert out["protectedTasks"] == []
    assert out["failures"][0]["reason"] in ("DEPLOYMENT_BLOCKED", "TASK_NOT_VALID"), out

    # Errors.
    assert error(ecs.get_task_protection, cluster="nope") == ("ClusterNotFoundException", "Cluster not found.")
    assert error(ecs.update_task_protection, cluster="nope", tasks=[task], protectionEnabled=True) == (
        "ClusterNotFoundException", "Cluster not found.")
    for minutes in (0, 2881):
        code, message = error(ecs.update_task_protection, cluster="tp", tasks=[task], protectionEnabled=True,
                              expiresInMinutes=minutes)
        assert code == "InvalidParameterException" and "2880" in message, message
    code, _ = error(ecs.update_task_protection, cluster="tp", tasks=[task] * 11, protectionEnabled=True)
    assert code == "InvalidParameterException"
    code, _ = error(ecs.update_task_protection, cluster="tp", tasks=[], protectionEnabled=True)
    assert code == "InvalidParameterException"
    code, _ = error(ecs.get_task_protection, cluster="tp", tasks=[task] * 101)
    assert code == "InvalidParameterException"


def test_protection_survives_a_daemon_restart(kecs, ecs):
    start_service(ecs, 2)
    [guarded, other] = sorted(running(ecs, "tp"))
    exp = ecs.update_task_protection(cluster="tp", tasks=[guarded], protectionEnabled=True,
                                     expiresInMinutes=30)["protectedTasks"][0]["expirationDate"]
    kecs.restart()
    ecs = ecs_client_with_model(kecs, install_ecs_model(kecs.data_dir))
    got = {p["taskArn"]: p for p in ecs.get_task_protection(cluster="tp", tasks=[guarded, other])["protectedTasks"]}
    assert got[guarded]["protectionEnabled"] is True and got[guarded]["expirationDate"] == exp
    assert got[other] == {"taskArn": other, "protectionEnabled": False}
    # And the restarted scheduler still honours it.
    ecs.update_service(cluster="tp", service="web", desiredCount=0)
    wait_for(lambda: list(running(ecs, "tp")) == [guarded], what="only the protected task running")
