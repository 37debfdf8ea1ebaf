"""Issue 18: ECS's BLUE_GREEN and LINEAR deployments with real tasks behind a real ALB.
Root only (the local runtime).

The lbweb tasks of test_elbv2_support.py say which revision answered (NAME=blue or green).
The service's production and test listeners each forward through their default rule, which
kecs rewrites as the deployment moves (docs/design.md section 11). The daemon runs with
KECS_DEPLOYMENT_MINUTE_SECONDS=1, so a bake "minute" lasts a second. The new operations and
members go through boto3 with kecs's ECS model (test_ecs_support). Nothing sleeps for a
fixed time: every wait polls with a bound."""
import glob
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import wait_for
from test_ecs_support import _KECS_MODEL, ecs_client_with_model
from test_elbv2_alb import forward, http_listener
from test_elbv2_support import Reply, get, kecs_cli, lb_image, lbenv, try_get

__all__ = ["lb_image", "lbenv"]  # fixtures


@pytest.fixture
def fast_minutes(monkeypatch):
    """A deployment minute of one second for the daemon the next fixtures start."""
    monkeypatch.setenv("KECS_DEPLOYMENT_MINUTE_SECONDS", "1")


def full_model_client(kecs):
    """boto3's ECS client with kecs's whole ECS model: the new members of existing shapes
    (deploymentConfiguration.strategy, loadBalancers[].advancedConfiguration, ...) too, which
    test_ecs_support.merged_ecs_model (new operations only) does not bring."""
    models = os.path.join(kecs.data_dir, ".aws", "bg-models")
    d = os.path.join(models, "ecs", "2014-11-13")
    os.makedirs(d, exist_ok=True)
    shutil.copyfile(_KECS_MODEL, os.path.join(d, "service-2.json"))
    return ecs_client_with_model(kecs, models)


def haproxy_workers(kecs):
    """The pids of the HAProxy workers of every load balancer of the daemon (a reload
    starts new ones)."""
    pids = set()
    for pidfile in glob.glob(os.path.join(kecs.data_dir, "runtime", "lb", "*", "haproxy.pid")):
        with open(pidfile) as f:
            master = f.read().strip()
        out = subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout
        pids.update(out.split())
    return pids


def default_rule(lbenv, listener):
    return next(r["RuleArn"] for r in lbenv.elbv2.describe_rules(ListenerArn=listener)["Rules"] if r["IsDefault"])


def names(url, n):
    """The NAME of the revision answering each of n GETs (each must be a 200)."""
    out = []
    for _ in range(n):
        r = get(url, timeout=10)
        assert r.status == 200, r
        out.append(r.who.get("name"))
    return out


class Setup:
    """An ALB with a production listener (80) and a test listener (8080), a blue and a green
    target group, and service "web" of 2 tasks (NAME=blue) deployed with `cfg`."""

    def __init__(self, lbenv, cfg):
        self.env = lbenv
        self.ecs = full_model_client(lbenv.k)
        lb = lbenv.create_alb()
        self.blue_tg, self.green_tg = lbenv.create_tg("blue"), lbenv.create_tg("green")
        for tg in (self.blue_tg, self.green_tg):
            lbenv.set_tg_attributes(tg, **{"deregistration_delay.timeout_seconds": 2})
        self.prod = http_listener(lbenv, lb, forward(self.blue_tg), port=80)
        self.test = http_listener(lbenv, lb, forward(self.blue_tg), port=8080)
        lbenv.register("web", "blue")
        self.ecs.create_service(
            cluster="lb", serviceName="web", taskDefinition="web", desiredCount=2, launchType="FARGATE",
            networkConfiguration=lbenv.awsvpc(),
            loadBalancers=[{"targetGroupArn": self.blue_tg, "containerName": "web", "containerPort": 80,
                            "advancedConfiguration": {
                                "alternateTargetGroupArn": self.green_tg,
                                "productionListenerRule": default_rule(lbenv, self.prod),
                                "testListenerRule": default_rule(lbenv, self.test),
                                "roleArn": "arn:aws:iam::000000000000:role/ecs-elb"}}],
            deploymentConfiguration=cfg)
        self.blue_ips = lbenv.service_ips("web", 2)
        lbenv.wait_healthy(self.blue_tg, self.blue_ips)
        self.prod_url = lbenv.url(self.prod, "/who.sh")
        self.test_url = lbenv.url(self.test, "/who.sh")

    def deploy_green(self):
        td = self.env.register("web", "green")
        self.ecs.update_service(cluster="lb", service="web", taskDefinition=td)
        return wait_for(self.newest_deployment, until=lambda d: d and d["targetServiceRevision"], timeout=30,
                        what="the green service deployment")

    def newest_deployment(self):
        arns = [d["serviceDeploymentArn"]
                for d in self.ecs.list_service_deployments(cluster="lb", service="web")["serviceDeployments"]]
        if not arns:
            return None
        ds = self.ecs.describe_service_deployments(serviceDeploymentArns=arns)["serviceDeployments"]
        return max(ds, key=lambda d: d["createdAt"])


def test_blue_green_pauses_at_test_traffic_shift_then_continue_moves_production(fast_minutes, lbenv):
    s = Setup(lbenv, {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
                      "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["TEST_TRAFFIC_SHIFT"]}]})
    assert set(names(s.prod_url, 6)) == {"blue"}
    s.deploy_green()

    def paused():
        d = s.newest_deployment()
        hooks = [h for h in d.get("lifecycleHookDetails", []) if h["status"] == "AWAITING_ACTION"]
        return (d, hooks[0]) if d.get("lifecycleStage") == "TEST_TRAFFIC_SHIFT" and hooks else None
    d, hook = wait_for(paused, timeout=240, interval=1, what="the deployment paused at TEST_TRAFFIC_SHIFT")
    assert hook["targetType"] == "PAUSE"
    # While paused: the test listener serves green only, production blue only.
    wait_for(lambda: set(names(s.test_url, 6)) == {"green"}, timeout=60, what="test traffic on green")
    assert set(names(s.prod_url, 10)) == {"blue"}
    assert set(names(s.test_url, 10)) == {"green"}

    out = s.ecs.continue_service_deployment(serviceDeploymentArn=d["serviceDeploymentArn"], hookId=hook["hookId"])
    assert out["serviceDeploymentArn"] == d["serviceDeploymentArn"]
    wait_for(lambda: set(names(s.prod_url, 6)) == {"green"}, timeout=60, what="production traffic on green")
    done = wait_for(s.newest_deployment, until=lambda x: x["status"] == "SUCCESSFUL", timeout=120,
                    what="the deployment SUCCESSFUL")
    assert done["lifecycleStage"] == "CLEAN_UP"
    # The same hook cannot be continued twice.
    with pytest.raises(Exception) as e:
        s.ecs.continue_service_deployment(serviceDeploymentArn=d["serviceDeploymentArn"], hookId=hook["hookId"])
    assert "ClientException" in str(e.value)


# Each step only changes weights, which HAProxy takes through its runtime API (a new
# version of the rule's weight map) with no reload: not one request of the client loop may
# fail, whatever the step.
def test_linear_split_follows_its_steps_with_no_error(fast_minutes, lbenv):
    s = Setup(lbenv, {"strategy": "LINEAR", "bakeTimeInMinutes": 0,
                      "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 8}})
    results, stop = [], threading.Event()

    def client():
        while not stop.is_set():
            results.append((time.monotonic(), try_get(s.prod_url, timeout=10)))
    th = threading.Thread(target=client, daemon=True)
    th.start()
    try:
        wait_for(lambda: len(results) >= 20, timeout=30, what="the client loop running")
        workers = haproxy_workers(lbenv.k)
        assert workers
        started = time.monotonic()
        s.deploy_green()
        wait_for(s.newest_deployment, until=lambda d: d["status"] == "SUCCESSFUL", timeout=300, interval=1,
                 what="the LINEAR deployment SUCCESSFUL")
        n = len(results)
        wait_for(lambda: len(results) >= n + 20, timeout=30, what="requests after the deployment")
    finally:
        stop.set()
        th.join(timeout=30)
    errors = [(round(t - started, 1), r) for t, r in results if not (isinstance(r, Reply) and r.status == 200)]
    # The green share, in windows of 8 seconds (one step each): it never goes down by more
    # than the sampling noise, and it passes through the steps to all green.
    t0 = results[0][0]
    windows = {}
    for t, r in results:
        windows.setdefault(int((t - t0) // 8), []).append(r.who.get("name") == "green")
    shares = [sum(w) / len(w) for _, w in sorted(windows.items()) if len(w) >= 20]
    assert shares[0] == 0, shares
    for a, b in zip(shares, shares[1:]):
        assert b >= a - 0.15, shares
    assert len([x for x in shares if 0.1 < x < 0.9]) >= 2, f"not the steps of a linear split: {shares}"
    assert set(names(s.prod_url, 10)) == {"green"}
    summary = f"{len(errors)} of {len(results)} requests failed (seconds after the update): {errors[:5]}"
    assert errors == [], summary
    # No new worker (one of a reload before the loop may have left since).
    assert not haproxy_workers(lbenv.k) - workers, "a step reloaded HAProxy"


def test_rollback_with_continue_service_deployment_puts_production_back_on_blue(fast_minutes, lbenv):
    s = Setup(lbenv, {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
                      "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}]})
    s.deploy_green()

    def paused():
        d = s.newest_deployment()
        hooks = [h for h in d.get("lifecycleHookDetails", []) if h["status"] == "AWAITING_ACTION"]
        return (d, hooks[0]) if hooks else None
    d, hook = wait_for(paused, timeout=240, interval=1, what="the deployment paused")
    wait_for(lambda: set(names(s.test_url, 6)) == {"green"}, timeout=60, what="test traffic on green")
    s.ecs.continue_service_deployment(serviceDeploymentArn=d["serviceDeploymentArn"], hookId=hook["hookId"],
                                      action="ROLLBACK")
    wait_for(lambda: set(names(s.test_url, 6)) == {"blue"}, timeout=60, what="test traffic back on blue")
    assert set(names(s.prod_url, 10)) == {"blue"}
    done = wait_for(s.newest_deployment, until=lambda x: x["status"] == "ROLLBACK_SUCCESSFUL", timeout=120,
                    what="the deployment ROLLBACK_SUCCESSFUL")
    assert done["rollback"]["serviceRevisionArn"]
    svc = s.ecs.describe_services(cluster="lb", services=["web"])["services"][0]
    assert svc["taskDefinition"].endswith("web:1")


def test_kecs_alarm_set_takes_alarm_or_ok_only(kecs):
    """The alarm source the deployment alarms read (`kecs alarm set`, POST /_kecs/v1/alarms)."""
    assert kecs_cli(kecs, "alarm", "set", "high-5xx", "ALARM").returncode == 0
    assert kecs_cli(kecs, "alarm", "set", "high-5xx", "OK").returncode == 0
    bad = kecs_cli(kecs, "alarm", "set", "high-5xx", "INSUFFICIENT_DATA")
    assert bad.returncode != 0 and "ALARM" in bad.stderr, bad

    def refused(body, words):
        """The endpoint itself (not the CLI's own check) answers 400 naming `words`."""
        req = urllib.request.Request(kecs.endpoint + "/_kecs/v1/alarms", method="POST",
                                     data=json.dumps(body).encode())
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 400
        text = e.value.read().decode()
        assert "InvalidParameterException" in text and words in text, text

    refused({"alarmName": "high-5xx", "state": "INSUFFICIENT_DATA"}, "ALARM or OK")
    refused({"alarmName": "", "state": "OK"}, "alarm name")
    refused({"alarmName": "high-5xx", "state": "OK", "region": "not-a-region"}, "region")
