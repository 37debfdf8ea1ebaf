"""Issue 12: containers as the ECS agent runs them. Root only.

Real tasks (runc containers) of a local-runtime daemon, driven through boto3 and the real
aws CLI (/usr/bin/aws), prove the issue's "Done when" list:

- a health check that starts failing turns the container UNHEALTHY within
  interval x retries, and the service replaces the task and says why in an event;
- dependsOn HEALTHY, then COMPLETE, then START is seen in the containers' start
  timestamps (from the task metadata endpoint v4);
- two tasks share an EFS-style volume: one writes a file, the other reads it;
- from inside a task, `wget -qO- $ECS_CONTAINER_METADATA_URI_V4/task` returns the task's
  ARN, its ENI address and its containers;
- inside a task's network namespace, boto3's container credential provider gets the task
  role's credentials through AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, and another task's
  relative URI is refused there;

and a few container settings: a non-essential container that exits leaves its task
RUNNING with its exit code reported, initProcessEnabled lets a busybox httpd (which
ignores SIGTERM as PID 1) stop at once, a readOnly mount point refuses writes, and
task-scoped and shared Docker-style volumes, volumesFrom and dependsOn SUCCESS work
together.

What a container sees is read from the container itself: its own output (`kecs logs`),
its environment (/proc/<pid>/environ of its init, found through runc's state), or a
command run inside its namespaces with nsenter. Waits poll (conftest's wait_for); a bound
on a wait is a claim of the issue (interval x retries) or a generous ceiling, and every
failure shows the task as DescribeTasks describes it."""
import contextlib
import datetime
import json
import os
import re
import secrets
import subprocess
import time

import pytest

from conftest import controller_passes, is_root, wait_for
from test_ecs_support import ACCOUNT
from test_local_runtime import Env

pytestmark = pytest.mark.skipif(not is_root(), reason="needs root (network namespaces, runc)")

# A container that runs until it is stopped and leaves at once on SIGTERM (a shell as PID
# 1 gets no default action for SIGTERM, so it traps it; `wait` returns on the signal).
LOOP = "trap 'exit 0' TERM; sleep 3600 & wait"
FARGATE = dict(networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512")
METADATA_ADDRESS = "169.254.170.2"


def show(value):
    """A task (or anything) as JSON, for assertion messages."""
    return json.dumps(value, indent=1, sort_keys=True, default=str)


def rfc3339(s):
    """Epoch seconds of an RFC 3339 time with 0-9 fractional digits (Docker's and the
    agent's metadata times carry nanoseconds, which datetime cannot parse)."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", s)
    assert m, f"not an RFC 3339 time: {s!r}"
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    whole = datetime.datetime.fromisoformat(m.group(1) + zone).timestamp()
    return whole + float("0." + (m.group(2) or "0"))


def sections(log):
    """The blocks a container printed between `BEGIN <name>` and `END <name>` lines."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^BEGIN (\S+)\n(.*?)\n?^END \1$", log, re.M | re.S)}


class AgentEnv(Env):
    """test_local_runtime's Env, plus a look inside the containers."""

    def subnet(self):
        return self.default_subnets()[0]["SubnetId"]

    @staticmethod
    def task_id(arn):
        return arn.rsplit("/", 1)[1]

    @staticmethod
    def by_name(task):
        return {c["name"]: c for c in task["containers"]}

    def wait_task(self, arn, until, what, timeout=60):
        """Polls DescribeTasks until until(task) holds; a timeout shows the last task."""
        return wait_for(lambda: self.describe(arn), until=until, timeout=timeout, what=what)

    def container_pid(self, arn, name):
        """The host pid of a container's init (runc's state), or None while it has none."""
        p = subprocess.run(["runc", "--root", f"{self.k.data_dir}/runtime/runc", "state",
                            f"{self.k.prefix}-{self.task_id(arn)}-{name}"],
                           capture_output=True, text=True, timeout=10)
        if p.returncode != 0:
            return None
        state = json.loads(p.stdout)
        return state["pid"] if state.get("status") == "running" and state.get("pid") else None

    def wait_pid(self, arn, name):
        return wait_for(lambda: self.container_pid(arn, name), timeout=30,
                        what=f"container {name} of {arn} running (runc state)")

    def environ(self, arn, name):
        """The environment the container's init was started with."""
        with open(f"/proc/{self.wait_pid(arn, name)}/environ", "rb") as f:
            pairs = [kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv]
        return {k.decode(): v.decode() for k, v in pairs}

    def in_container(self, arn, name, *cmd, timeout=10):
        """Runs a command inside a container: its namespaces, root and working directory."""
        pid = self.wait_pid(arn, name)
        return subprocess.run(["nsenter", "-t", str(pid), "-m", "-n", "-u", "-i", "-p", "-r", "-w",
                               "timeout", str(timeout), *cmd],
                              capture_output=True, text=True, timeout=timeout + 5)

    def wait_log(self, arn, name, until, what, timeout=30):
        """Polls a container's log until until(log) holds; a timeout shows the log and the
        task as they are then."""
        try:
            return wait_for(lambda: self.logs(arn, name), until=until, timeout=timeout, what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}\ntask: {show(self.describe(arn))}") from None

    def service_tasks(self, service, desired="RUNNING"):
        arns = self.ecs.list_tasks(cluster="local", serviceName=service, desiredStatus=desired)["taskArns"]
        return self.ecs.describe_tasks(cluster="local", tasks=arns)["tasks"] if arns else []

    def events(self, service):
        out = self.k.aws("ecs", "describe-services", "--cluster", "local", "--services", service)
        return [e["message"] for e in out["services"][0]["events"]]

    @contextlib.contextmanager
    def service(self, name, *create_args):
        """A service created through the aws CLI, deleted (and waited INACTIVE) on the way
        out, failure or not: else its scheduler would replace the tasks the daemon
        fixture stops."""
        self.k.aws("ecs", "create-service", "--cluster", "local", "--service-name", name, *create_args)
        try:
            yield name
        finally:
            self.ecs.delete_service(cluster="local", service=name, force=True)
            self.ecs.get_waiter("services_inactive").wait(cluster="local", services=[name],
                                                          WaiterConfig={"Delay": 1, "MaxAttempts": 120})
            # The daemon fixture waits only for the tasks it stops itself.
            wait_for(lambda: self.service_tasks(name, desired="STOPPED"), timeout=60,
                     until=lambda ts: all(t["lastStatus"] == "STOPPED" for t in ts),
                     what=f"service {name}'s tasks STOPPED")


@pytest.fixture
def env(local_kecs):
    return AgentEnv(local_kecs)


# ---- health checks -----------------------------------------------------------------------

# The health checker runs a check every `interval`; a container is UNHEALTHY after
# `retries` failures in a row. From the moment the file goes, that is at most
# interval x retries (the first failing check may come up to one interval later, the
# last one within its timeout). The slack covers DescribeTasks catching up on two
# shared cores.
HEALTH_SLACK_S = 8


def test_failing_health_check_makes_the_container_unhealthy_and_the_service_replaces_the_task(env):
    hc = {"command": ["CMD-SHELL", "test -f /tmp/ok"], "interval": 5, "timeout": 2, "retries": 2,
          "startPeriod": 0}
    td = env.register("checked", [{
        "name": "app", "image": "nginx:latest", "essential": True, "stopTimeout": 2,
        "command": ["sh", "-c", "touch /tmp/ok; " + LOOP], "healthCheck": hc}], **FARGATE)
    net = json.dumps({"awsvpcConfiguration": {"subnets": [env.subnet()]}})
    with env.service("checked", "--task-definition", td, "--desired-count", "1", "--launch-type", "FARGATE",
                     "--network-configuration", net):
        unhealthy_task_is_replaced(env, hc)


def unhealthy_task_is_replaced(env, hc):
    def healthy_tasks():
        return [t for t in env.service_tasks("checked")
                if t["lastStatus"] == "RUNNING" and t.get("healthStatus") == "HEALTHY"
                and env.by_name(t)["app"].get("healthStatus") == "HEALTHY"]
    [first] = wait_for(healthy_tasks, timeout=60, what="the service's task RUNNING and HEALTHY")
    first_arn, first_id = first["taskArn"], env.task_id(first["taskArn"])
    # The service counts it healthy by its health check: the deployment completes.
    env.ecs.get_waiter("services_stable").wait(cluster="local", services=["checked"],
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 60})

    # The check starts failing: the file goes, from inside the container.
    p = env.in_container(first_arn, "app", "/bin/busybox", "rm", "/tmp/ok")
    assert p.returncode == 0, p.stderr
    removed = time.monotonic()
    env.wait_task(first_arn, lambda t: env.by_name(t)["app"].get("healthStatus") == "UNHEALTHY",
                  timeout=hc["interval"] * hc["retries"] + hc["timeout"] + HEALTH_SLACK_S,
                  what="the container UNHEALTHY within interval x retries")
    print(f"UNHEALTHY seen {time.monotonic() - removed:.1f}s after the file went")
    # The task's health is its essential containers'.
    env.wait_task(first_arn, lambda t: t.get("healthStatus") == "UNHEALTHY", timeout=10,
                  what="the task's healthStatus UNHEALTHY")

    # The service stops it: AWS's stop code for a task the service scheduler stopped (the
    # Developer Guide's "Stopped tasks error codes"); the reason names the health checks.
    t = env.wait_task(first_arn, lambda t: t["lastStatus"] == "STOPPED", what="the unhealthy task STOPPED")
    assert t.get("stopCode") == "ServiceSchedulerInitiated", show(t)
    assert re.search(r"(?i)health", t.get("stoppedReason", "")), show(t)

    # ...starts a replacement that is healthy again (a new container, a new /tmp/ok)...
    [second] = wait_for(healthy_tasks, timeout=60, what="a replacement task RUNNING and HEALTHY")
    assert second["taskArn"] != first_arn
    # ...and an event says why the old one went, naming it.
    msgs = wait_for(lambda: env.events("checked"),
                    until=lambda ms: any(first_id in m and re.search(r"(?i)health", m) for m in ms),
                    timeout=30, what=f"a service event naming task {first_id} and its health")
    assert any(env.task_id(second["taskArn"]) in m for m in msgs), msgs


# ---- dependsOn -------------------------------------------------------------------------------

def test_depends_on_healthy_then_complete_then_start_in_the_start_times(env):
    """db -(HEALTHY)-> init -(COMPLETE)-> app -(START)-> sidecar, and app also waits for db
    HEALTHY. Each condition is the only thing between two containers' starts, so a
    condition taken for another (HEALTHY as START, COMPLETE as START) shows in the times."""
    td = env.register("ordered", [
        {"name": "db", "image": "nginx:latest", "essential": True, "stopTimeout": 2,
         "command": ["sh", "-c", LOOP],
         "healthCheck": {"command": ["CMD", "/bin/true"], "interval": 5, "timeout": 2, "retries": 2}},
        {"name": "init", "image": "nginx:latest", "essential": False,
         "command": ["sh", "-c", "sleep 2; echo initialised"],
         "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]},
        {"name": "app", "image": "nginx:latest", "essential": True, "stopTimeout": 2,
         "command": ["sh", "-c", LOOP],
         "dependsOn": [{"containerName": "init", "condition": "COMPLETE"},
                       {"containerName": "db", "condition": "HEALTHY"}]},
        {"name": "sidecar", "image": "nginx:latest", "essential": True, "stopTimeout": 2,
         "command": ["sh", "-c", LOOP],
         "dependsOn": [{"containerName": "app", "condition": "START"}]}], **FARGATE)
    arn = env.run(td, [env.subnet()])

    def all_ran(t):
        c = env.by_name(t)
        return (t["lastStatus"] == "RUNNING" and c["init"]["lastStatus"] == "STOPPED"
                and all(c[n]["lastStatus"] == "RUNNING" for n in ("db", "app", "sidecar")))
    t = env.wait_task(arn, all_ran, what="db, app and sidecar RUNNING, init STOPPED")
    c = env.by_name(t)
    assert c["init"].get("exitCode") == 0, show(t)
    assert c["db"].get("healthStatus") == "HEALTHY", show(t)

    # The times as the task metadata endpoint tells them, asked from inside the sidecar.
    uri = env.environ(arn, "sidecar").get("ECS_CONTAINER_METADATA_URI_V4")
    assert uri, "the sidecar has no ECS_CONTAINER_METADATA_URI_V4 in its environment"

    def task_metadata():
        p = env.in_container(arn, "sidecar", "wget", "-qO-", uri + "/task")
        try:
            return json.loads(p.stdout)
        except ValueError:
            return {"exit": p.returncode, "stdout": p.stdout, "stderr": p.stderr}
    doc = wait_for(task_metadata, timeout=30, what="/task with every container's StartedAt and init's FinishedAt",
                   until=lambda d: len([x for x in d.get("Containers", []) if x.get("StartedAt")]) == 4
                   and any(x["Name"] == "init" and x.get("FinishedAt") for x in d["Containers"]))
    m = {x["Name"]: x for x in doc["Containers"]}
    started = {n: rfc3339(x["StartedAt"]) for n, x in m.items()}
    health = m["db"].get("Health", {})
    assert health.get("status") == "HEALTHY", show(doc)
    healthy_since = rfc3339(health["statusSince"]) if health.get("statusSince") else started["db"]
    init_finished = rfc3339(m["init"]["FinishedAt"])
    why = f"\nmetadata: {show(doc)}\ntask: {show(t)}"
    # HEALTHY: init and app start only once db is healthy.
    assert started["db"] <= healthy_since <= started["init"], why
    assert healthy_since <= started["app"], why
    # COMPLETE: app starts only once init has exited.
    assert started["init"] < init_finished <= started["app"], why
    # START: sidecar starts only once app has.
    assert started["app"] <= started["sidecar"], why
    # A non-essential container that completed leaves the task running.
    assert env.describe(arn)["lastStatus"] == "RUNNING"


# ---- volumes ---------------------------------------------------------------------------------

def efs_volume(fs, root=None):
    cfg = {"fileSystemId": fs}
    if root:
        cfg["rootDirectory"] = root
    return [{"name": "shared", "efsVolumeConfiguration": cfg}]


def test_two_tasks_share_an_efs_volume(env):
    fs, other_fs = "fs-" + secrets.token_hex(8), "fs-" + secrets.token_hex(8)
    token = secrets.token_hex(8)
    mount = [{"sourceVolume": "shared", "containerPath": "/mnt/efs"}]

    def task_def(family, command, volumes, **kw):
        return env.register(family, [{"name": "c", "image": "nginx:latest", "memory": 64, "stopTimeout": 2,
                                      "mountPoints": mount, "command": ["sh", "-c", command + "; " + LOOP],
                                      **kw}], volumes=volumes)

    writer = env.run(task_def("efs-writer", "busybox mkdir -p /mnt/efs/app && echo $TOKEN > /mnt/efs/app/note"
                                            " && echo wrote", efs_volume(fs),
                              environment=[{"name": "TOKEN", "value": token}]))
    env.wait_log(writer, "c", until=lambda log: "wrote" in log, what="the writer wrote the file")

    readers = {
        # The same file system: the file is there.
        "root": env.run(task_def("efs-reader", "cat /mnt/efs/app/note", efs_volume(fs))),
        # The same file system from rootDirectory /app: the file is at the top.
        "subdir": env.run(task_def("efs-subdir", "cat /mnt/efs/note", efs_volume(fs, "/app"))),
        # Another file system: nothing there.
        "other": env.run(task_def("efs-other", "[ -e /mnt/efs/app/note ] && echo present || echo absent",
                                  efs_volume(other_fs))),
    }
    got = {k: env.wait_log(arn, "c", until=lambda log: log.strip(), what=f"the {k} reader's output")
           for k, arn in readers.items()}
    assert got == {"root": token + "\n", "subdir": token + "\n", "other": "absent\n"}


def test_task_scoped_and_shared_volumes_and_volumes_from(env):
    """A task-scoped volume and a shared Docker-style volume, filled by a container that
    exits 0, read by one that waits for that (dependsOn SUCCESS) and takes its mounts
    read-only (volumesFrom). The next task finds the shared volume's file and a fresh
    task-scoped volume."""
    token = secrets.token_hex(8)
    volumes = [{"name": "scratch"},
               {"name": "cache", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": True,
                                                               "driver": "local",
                                                               "labels": {"purpose": "kecs-e2e"}}}]
    mounts = [{"sourceVolume": "scratch", "containerPath": "/scratch"},
              {"sourceVolume": "cache", "containerPath": "/cache"}]
    first = env.run(env.register("vols", [
        {"name": "maker", "image": "nginx:latest", "memory": 64, "essential": False, "mountPoints": mounts,
         "environment": [{"name": "TOKEN", "value": token}],
         "command": ["sh", "-c", "echo $TOKEN > /scratch/f && echo $TOKEN > /cache/f"]},
        {"name": "user", "image": "nginx:latest", "memory": 64, "stopTimeout": 2,
         "dependsOn": [{"containerName": "maker", "condition": "SUCCESS"}],
         "volumesFrom": [{"sourceContainer": "maker", "readOnly": True}],
         "command": ["sh", "-c", "cat /scratch/f /cache/f; touch /cache/x 2>&1 && echo written || echo refused; "
                     + LOOP]}], volumes=volumes))
    log = env.wait_log(first, "user", until=lambda log: re.search(r"^(written|refused)$", log, re.M),
                       what="the user container's reads and write attempt")
    assert log.startswith(f"{token}\n{token}\n") and log.endswith("refused\n"), log
    assert "Read-only file system" in log, log
    env.ecs.stop_task(cluster="local", task=first)
    env.wait_stopped(first)

    second = env.run(env.register("vols-again", [
        {"name": "c", "image": "nginx:latest", "memory": 64, "stopTimeout": 2, "mountPoints": mounts,
         "command": ["sh", "-c", "cat /cache/f; [ -e /scratch/f ] && echo present || echo absent; " + LOOP]}],
        volumes=volumes))
    log = env.wait_log(second, "c", until=lambda log: re.search(r"^(present|absent)$", log, re.M),
                       what="the next task's look at the volumes")
    assert log == f"{token}\nabsent\n", log


TRY_WRITE = "cat /data/hello; touch /data/{name} 2>&1 && echo written || echo refused; "


def test_read_only_mount_point_refuses_writes(env, tmp_path):
    host_dir = tmp_path / "shared"
    host_dir.mkdir()
    (host_dir / "hello").write_text("from the host\n")
    vol = [{"name": "h", "host": {"sourcePath": str(host_dir)}}]
    td = env.register("ro", [
        {"name": "ro", "image": "nginx:latest", "memory": 64, "stopTimeout": 2,
         "mountPoints": [{"sourceVolume": "h", "containerPath": "/data", "readOnly": True}],
         "command": ["sh", "-c", TRY_WRITE.format(name="from-ro") + LOOP]},
        {"name": "rw", "image": "nginx:latest", "memory": 64, "stopTimeout": 2,
         "mountPoints": [{"sourceVolume": "h", "containerPath": "/data"}],
         "command": ["sh", "-c", TRY_WRITE.format(name="from-rw") + LOOP]}], volumes=vol)
    arn = env.run(td)
    out = {n: env.wait_log(arn, n, until=lambda log: re.search(r"^(written|refused)$", log, re.M),
                           what=f"{n}'s write attempt") for n in ("ro", "rw")}
    assert out["ro"].startswith("from the host\n") and out["ro"].endswith("refused\n"), out
    assert "Read-only file system" in out["ro"], out
    assert out["rw"] == "from the host\nwritten\n", out
    assert sorted(os.listdir(host_dir)) == ["from-rw", "hello"]


# ---- the task metadata endpoint --------------------------------------------------------------

METADATA_PROBE = r"""
fetch() {
  case "$2" in http://*) ;; *) echo "FAILED $1: no URL in the environment"; return 1;; esac
  i=0
  while [ $i -lt 150 ]; do
    if timeout 3 wget -qO- "$2" > /tmp/out; then
      echo "BEGIN $1"; cat /tmp/out; echo; echo "END $1"; return 0
    fi
    i=$((i+1)); sleep 0.2
  done
  echo "FAILED $1"
}
echo "V4=$ECS_CONTAINER_METADATA_URI_V4"
echo "V3=$ECS_CONTAINER_METADATA_URI"
fetch task "$ECS_CONTAINER_METADATA_URI_V4/task"
fetch container "$ECS_CONTAINER_METADATA_URI_V4"
fetch v3task "$ECS_CONTAINER_METADATA_URI/task"
echo DONE
"""


def test_metadata_v4_from_inside_the_task(env):
    """A container fetches its task's metadata itself, with busybox wget (`timeout` in
    place of its -T, which crashes), and prints it; the test reads its log."""
    containers = [{"name": "probe", "image": "nginx:latest", "essential": True, "stopTimeout": 2,
                   "command": ["sh", "-c", METADATA_PROBE + LOOP]},
                  {"name": "web", "image": "nginx:latest", "essential": True, "stopTimeout": 2,
                   "command": ["sh", "-c", LOOP]}]
    # The awsvpc task definition goes in through the aws CLI.
    td = env.k.aws("ecs", "register-task-definition", "--family", "meta", "--network-mode", "awsvpc",
                   "--requires-compatibilities", "FARGATE", "--cpu", "256", "--memory", "512",
                   "--container-definitions", json.dumps(containers))["taskDefinition"]["taskDefinitionArn"]
    awsvpc = env.run(td, [env.subnet()])
    # A bridge-mode task gets the endpoint too ("every network mode").
    bridge_td = env.register("meta-bridge", [dict(containers[0], memory=64)])
    bridge = env.run(bridge_td)

    def printed(arn):
        log = env.wait_log(arn, "probe", until=lambda log: "DONE" in log, what="the probe's metadata output")
        assert "FAILED" not in log, log
        v4 = re.search(r"^V4=(.*)$", log, re.M).group(1)
        v3 = re.search(r"^V3=(.*)$", log, re.M).group(1)
        assert re.fullmatch(rf"http://{re.escape(METADATA_ADDRESS)}/v4/\S+", v4), log
        assert re.fullmatch(rf"http://{re.escape(METADATA_ADDRESS)}/v3/\S+", v3), log
        return {k: json.loads(v) for k, v in sections(log).items()}

    t = env.wait_running(awsvpc)
    docs = printed(awsvpc)
    task, why = docs["task"], show(docs["task"])
    assert task["TaskARN"] == awsvpc, why
    assert task["Cluster"] in ("local", t["clusterArn"]), why
    assert task["Family"] == "meta", why
    assert {c["Name"] for c in task["Containers"]} == {"probe", "web"}, why
    ip = env.eni_ip(t)
    for c in task["Containers"]:
        [net] = c["Networks"]
        assert net["NetworkMode"] == "awsvpc" and ip in net["IPv4Addresses"], why
    assert docs["container"]["Name"] == "probe", show(docs["container"])
    assert docs["v3task"]["TaskARN"] == awsvpc, show(docs["v3task"])

    env.wait_running(bridge)
    docs = printed(bridge)
    assert docs["task"]["TaskARN"] == bridge, show(docs["task"])
    assert [c["Name"] for c in docs["task"]["Containers"]] == ["probe"], show(docs["task"])


# ---- task role credentials -------------------------------------------------------------------

# Run by the host's python inside a task's network namespace, with only
# AWS_CONTAINER_CREDENTIALS_RELATIVE_URI to find credentials by: what the endpoint answers
# (raw), and what boto3's default chain makes of it.
CREDENTIALS_PROBE = r"""
import json, os, urllib.error, urllib.request
import boto3
out = {}
url = "http://169.254.170.2" + os.environ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]
try:
    with urllib.request.urlopen(url, timeout=5) as r:
        out["status"], out["body"] = r.status, json.loads(r.read())
except urllib.error.HTTPError as e:
    out["status"], out["body"] = e.code, e.read().decode(errors="replace")
except Exception as e:
    out["status"], out["error"] = None, repr(e)
try:
    creds = boto3.Session().get_credentials()
    if creds is not None:
        f = creds.get_frozen_credentials()
        out["boto3"] = {"method": creds.method, "access_key": f.access_key,
                        "has_secret": bool(f.secret_key), "has_token": bool(f.token)}
    else:
        out["boto3"] = None
except Exception as e:
    out["boto3_error"] = type(e).__name__ + ": " + str(e)
print(json.dumps(out))
"""


def test_task_role_credentials_for_boto3_and_only_for_their_task(env, tmp_path):
    roles = {"a": f"arn:aws:iam::{ACCOUNT}:role/app-a", "b": f"arn:aws:iam::{ACCOUNT}:role/app-b"}
    arns = {}
    for k, role in roles.items():
        td = env.register(f"creds-{k}", [{"name": "app", "image": "nginx:latest", "essential": True,
                                          "stopTimeout": 2, "command": ["sh", "-c", LOOP]}],
                          taskRoleArn=role, **FARGATE)
        arns[k] = env.run(td, [env.subnet()])
    for arn in arns.values():
        env.wait_running(arn)
    uris = {k: env.environ(arn, "app").get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") for k, arn in arns.items()}
    for k, uri in uris.items():
        # Each task its own, unguessable (128 random bits at least) relative URI.
        assert uri and re.fullmatch(r"/v2/credentials/[A-Za-z0-9_-]{22,}", uri), (k, uri)
    assert uris["a"] != uris["b"]

    def probe(ns_of, uri):
        env_vars = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                    "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": uri}
        p = subprocess.run(["ip", "netns", "exec", env.netns(arns[ns_of]), "/usr/bin/python3", "-c",
                            CREDENTIALS_PROBE], env=env_vars, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    for k in ("a", "b"):
        got = probe(k, uris[k])
        body = got.get("body")
        assert got["status"] == 200 and isinstance(body, dict), got
        assert body["RoleArn"] == roles[k], got
        assert body["AccessKeyId"] and body["SecretAccessKey"] and body["Token"], got
        assert rfc3339(body["Expiration"]) > time.time(), got
        # boto3's own chain found them through the container provider.
        assert got.get("boto3") == {"method": "container-role", "access_key": body["AccessKeyId"],
                                    "has_secret": True, "has_token": True}, got

    # Task b's URI, asked inside task a's namespace: refused, and boto3 gets nothing.
    got = probe("a", uris["b"])
    assert isinstance(got["status"], int) and 400 <= got["status"] < 500, got
    assert roles["b"] not in json.dumps(got), got
    assert "boto3" not in got and got.get("boto3_error"), got


# ---- container settings ----------------------------------------------------------------------

def test_non_essential_container_exit_leaves_the_task_running(env):
    td = env.register("sidecar-exits", [
        {"name": "main", "image": "nginx:latest", "memory": 64, "essential": True, "stopTimeout": 2,
         "command": ["sh", "-c", LOOP]},
        {"name": "side", "image": "nginx:latest", "memory": 64, "essential": False,
         "command": ["sh", "-c", "echo side done; exit 5"]}])
    arn = env.run(td)
    env.wait_task(arn, lambda t: env.by_name(t)["side"]["lastStatus"] == "STOPPED",
                  what="the non-essential container STOPPED")
    # Let the controllers pass over the task several times: it stays RUNNING.
    env.ecs.create_cluster(clusterName="probe")
    controller_passes(env.ecs, "probe", env.register("probe", [
        {"name": "p", "image": "nginx:latest", "memory": 32, "stopTimeout": 1}], networkMode="none"))
    t = env.describe(arn)
    c = env.by_name(t)
    assert t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING", show(t)
    assert c["main"]["lastStatus"] == "RUNNING", show(t)
    assert c["side"]["exitCode"] == 5, show(t)
    assert env.logs(arn, "side") == "side done\n"


def test_init_process_lets_busybox_httpd_stop_at_once(env):
    """busybox httpd as PID 1 ignores SIGTERM and is killed after stopTimeout (30 s by
    default): exit code 137. Under an init it gets SIGTERM like any process and goes."""
    td = env.register("with-init", [{"name": "web", "image": "nginx:latest", "memory": 64, "essential": True,
                                     "linuxParameters": {"initProcessEnabled": True}}])
    arn = env.run(td)
    env.wait_running(arn)
    pid = env.wait_pid(arn, "web")

    def comm(p):
        with open(f"/proc/{p}/comm") as f:
            return f.read().strip()

    def children():
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [comm(c) for c in f.read().split()]
    assert comm(pid) != "httpd", "PID 1 of the container is httpd itself, not an init"
    wait_for(children, until=lambda cs: "httpd" in cs, what="httpd running under the container's init")

    env.ecs.stop_task(cluster="local", task=arn, reason="init test")
    t = env.wait_stopped(arn, timeout=60)
    web = env.by_name(t)["web"]
    assert web.get("exitCode") != 137, f"httpd was killed after the stop timeout:\n{show(t)}"
    stopping, stopped = t["stoppingAt"].timestamp(), t["executionStoppedAt"].timestamp()
    assert stopped - stopping < 30, show(t)
