"""Issue 12: the task metadata endpoint (v4, v3) and the task role credentials endpoint at
169.254.170.2, as AWS serves them, from inside real runc tasks. Root only (local runtime).

Each task's containers print what they fetched from the endpoint into their log, between
markers, with busybox wget (under `timeout`: Debian's busybox-static wget crashes on -T)."""
import json
import os
import subprocess
import tempfile

import boto3
import botocore.config
import botocore.exceptions
import pytest

from conftest import wait_for
from test_local_runtime import Env

ROLE = "arn:aws:iam::000000000000:role/app-task-role"

# Fetches each path under the container's metadata URI and prints it between markers;
# retries, so that a slow first answer does not fail the task.
FETCH = r'''
fetch() { for i in 1 2 3 4 5; do out=$(timeout 5 wget -qO- "$1") && { echo "$out"; return; }; sleep 1; done; echo FAILED; }
echo "==creds-uri $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
echo "==uri $ECS_CONTAINER_METADATA_URI_V4"
echo "==v4-task";  fetch "$ECS_CONTAINER_METADATA_URI_V4/task"
echo "==v4-self";  fetch "$ECS_CONTAINER_METADATA_URI_V4"
echo "==v4-stats"; fetch "$ECS_CONTAINER_METADATA_URI_V4/task/stats"
echo "==v3-task";  fetch "$ECS_CONTAINER_METADATA_URI/task"
echo "==creds";    fetch "http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
echo "==end"
sleep 600
'''


def sections(log):
    """The log's "==name" sections: name -> text (the creds-uri line's value included)."""
    out, name = {}, None
    for line in log.splitlines():
        if line.startswith("=="):
            name, _, rest = line[2:].partition(" ")
            out[name] = rest
        elif name:
            out[name] += line
    return out


@pytest.fixture
def env(local_kecs):
    return Env(local_kecs)


def run_probe_task(env, family, network_mode, subnets=None):
    kw = dict(networkMode=network_mode, taskRoleArn=ROLE)
    if network_mode == "awsvpc":
        kw.update(requiresCompatibilities=["FARGATE"], cpu="256", memory="512")
    td = env.register(family, [
        {"name": "probe", "image": "nginx:latest", "essential": True, "memory": 64,
         "entryPoint": ["sh", "-c"], "command": [FETCH], "stopTimeout": 1},
        {"name": "sidecar", "image": "nginx:latest", "essential": False, "memory": 32,
         "entryPoint": ["sh", "-c"], "command": ["sleep 600"], "stopTimeout": 1}], **kw)
    arn = env.run(td, subnets)
    task = env.wait_running(arn)
    log = wait_for(lambda: (lambda s: s if "end" in s else None)(sections(env.logs(arn, "probe"))),
                   timeout=60, what="the probe's fetches")
    return arn, task, log


def test_awsvpc_task_reads_its_metadata_and_credentials_from_inside(env):
    subnet = env.default_subnets()[0]["SubnetId"]
    arn, task, log = run_probe_task(env, "meta-awsvpc", "awsvpc", [subnet])
    ip = env.eni_ip(task)

    doc = json.loads(log["v4-task"])
    assert doc["TaskARN"] == arn
    assert doc["Family"] == "meta-awsvpc"
    assert doc["LaunchType"] in ("EC2", "FARGATE")
    assert doc["KnownStatus"] in ("PULLED", "CREATED", "RUNNING")  # fetched as the containers start
    assert doc["Limits"] == {"CPU": 0.25, "Memory": 512}
    assert "PullStartedAt" in doc and "PullStoppedAt" in doc
    assert sorted(c["Name"] for c in doc["Containers"]) == ["probe", "sidecar"]
    net = doc["Containers"][0]["Networks"][0]
    assert net["NetworkMode"] == "awsvpc" and net["IPv4Addresses"] == [ip]
    assert net["AttachmentIndex"] == 0
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    assert net["MACAddress"] == details["macAddress"]
    assert net["PrivateDNSName"] == details["privateDnsName"]
    assert net["SubnetGatewayIpv4Address"].split("/")[0].endswith(".1")

    me = json.loads(log["v4-self"])
    assert me["Name"] == "probe" and me["Labels"]["com.amazonaws.ecs.task-arn"] == arn

    # Task stats are keyed by DockerId (the sidecar may not have started yet when the probe
    # asks), and the probe's DockerId is the one its own document gives.
    stats = json.loads(log["v4-stats"])
    assert me["DockerId"] in stats, (me["DockerId"], list(stats))
    mine = stats[me["DockerId"]]
    assert mine["id"] == me["DockerId"] and mine["name"] == "/" + me["DockerId"]
    assert mine["memory_stats"]["usage"] > 0 and mine["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert mine["pids_stats"]["current"] >= 1 and "eth0" in mine["networks"]
    assert me["DockerId"] == next(c for c in env.describe(arn)["containers"] if c["name"] == "probe")["runtimeId"]

    v3 = json.loads(log["v3-task"])
    assert v3["TaskARN"] == arn and "LaunchType" not in v3

    creds = json.loads(log["creds"])
    assert creds["RoleArn"] == ROLE
    assert creds["AccessKeyId"].startswith("ASIA") and creds["SecretAccessKey"] and creds["Token"]
    assert creds["Expiration"].endswith("Z")


def test_credentials_of_one_task_are_refused_in_another(env):
    subnet = env.default_subnets()[0]["SubnetId"]
    a, _, log_a = run_probe_task(env, "meta-a", "awsvpc", [subnet])
    b, _, log_b = run_probe_task(env, "meta-b", "awsvpc", [subnet])
    uri_a, uri_b = log_a["creds-uri"].strip(), log_b["creds-uri"].strip()
    assert uri_a.startswith("/v2/credentials/") and uri_a != uri_b

    # boto3's container credential provider, inside task a's namespace, as an SDK in the
    # task runs it: its own URI gives the role's credentials, b's is refused.
    script = (
        "import sys, botocore.credentials as c\n"
        "try:\n"
        "    k = c.ContainerProvider().load().get_frozen_credentials()\n"
        "    print('OK', k.access_key)\n"
        "except Exception as e:\n"
        "    print('REFUSED', type(e).__name__, e)\n")

    def provider(uri):
        p = subprocess.run(["ip", "netns", "exec", env.netns(a), "/usr/bin/python3", "-c", script],
                           env={"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": uri, "PATH": "/usr/bin:/bin"},
                           capture_output=True, text=True, timeout=60)
        return p.stdout.strip() + p.stderr.strip()

    own = provider(uri_a)
    assert own.startswith("OK ASIA"), own
    other = provider(uri_b)
    assert other.startswith("REFUSED"), other
    assert "InvalidIdInRequest" in other or "400" in other, other


def test_endpoint_comes_back_after_a_daemon_restart(env):
    subnet = env.default_subnets()[0]["SubnetId"]
    arn, _, log = run_probe_task(env, "meta-restart", "awsvpc", [subnet])
    uri = log["uri"].strip()
    assert uri.startswith("http://169.254.170.2/v4/")

    def fetch():
        p = subprocess.run(["ip", "netns", "exec", env.netns(arn), "curl", "-s", "--max-time", "5", uri + "/task"],
                           capture_output=True, text=True, timeout=30)
        return p.stdout

    assert json.loads(fetch())["TaskARN"] == arn
    env.k.restart()
    # The restarted daemon adopts the running task and serves its endpoint again.
    doc = wait_for(lambda: (lambda out: json.loads(out) if out.startswith("{") else None)(fetch()),
                   timeout=30, what="the endpoint after the restart")
    assert doc["TaskARN"] == arn


def test_bridge_task_reaches_the_endpoint_in_its_own_namespace(env):
    arn, task, log = run_probe_task(env, "meta-bridge", "bridge")
    doc = json.loads(log["v4-task"])
    assert doc["TaskARN"] == arn
    net = doc["Containers"][0]["Networks"][0]
    assert net["NetworkMode"] == "bridge" and net["IPv4Addresses"]
    assert json.loads(log["creds"])["RoleArn"] == ROLE
    env.ecs.stop_task(cluster="local", task=arn)
    env.wait_stopped(arn)


def test_host_mode_task_reaches_the_shared_host_listener(env):
    arn, task, log = run_probe_task(env, "meta-host", "host")
    doc = json.loads(log["v4-task"])
    assert doc["TaskARN"] == arn
    assert doc["Containers"][0]["Networks"][0]["NetworkMode"] == "host"
    assert json.loads(log["creds"])["RoleArn"] == ROLE
    # From the host, another task's id is unknown there: only host-mode tasks are served.
    p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        "http://169.254.170.2/v4/0123456789abcdef0123456789abcdef/task"],
                       capture_output=True, text=True, timeout=30)
    assert p.stdout == "404", p.stdout
    env.ecs.stop_task(cluster="local", task=arn)
    env.wait_stopped(arn)
    # The last host-mode task is gone, and so is the shared listener's bridge.
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"{env.k.prefix}-md" not in links


KEYS_FILE = os.path.join(tempfile.mkdtemp(prefix="kecs-meta-keys-"), "keys")
with open(KEYS_FILE, "w") as f:
    f.write("AKIDKECSTEST:secret")
os.chmod(KEYS_FILE, 0o600)


@pytest.mark.kecs_args("--auth-keys-file", KEYS_FILE)
def test_task_role_credentials_sign_requests_to_kecs_while_the_task_runs(env, monkeypatch):
    monkeypatch.setenv("KECS_AUTH_KEYS", "AKIDKECSTEST:secret")  # for `kecs logs`
    subnet = env.default_subnets()[0]["SubnetId"]
    arn, _, log = run_probe_task(env, "meta-sign", "awsvpc", [subnet])
    creds = json.loads(log["creds"])

    def ecs(token):
        return boto3.client("ecs", endpoint_url=env.k.endpoint, region_name="us-east-1",
                            aws_access_key_id=creds["AccessKeyId"],
                            aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=token,
                            config=botocore.config.Config(retries={"max_attempts": 1}))

    assert any(c.endswith("/local") for c in ecs(creds["Token"]).list_clusters()["clusterArns"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs("not-the-token").list_clusters()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    env.ecs.stop_task(cluster="local", task=arn)
    env.wait_stopped(arn)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs(creds["Token"]).list_clusters()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
