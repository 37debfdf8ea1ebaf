"""Issue 5: tasks really run, as runc containers in real network namespaces. Root only.

Every check uses real traffic: busybox httpd serving a page, curl from other namespaces and
from the host. A check that traffic does not pass names the failure it expects (conftest's
http_probe): a dropped packet times out, a closed port refuses."""
import json
import subprocess

import pytest

from conftest import REFUSED, TIMEOUT, controller_passes, http_probe, served, wait_for

PAGE = served("hello from kecs\n")


def sh(*args, timeout=10):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


class Env:
    def __init__(self, kecs):
        self.k = kecs
        self.ecs = kecs.client("ecs")
        self.ec2 = kecs.client("ec2")
        self.ecs.create_cluster(clusterName="local")

    def register(self, family, containers, **kw):
        return self.ecs.register_task_definition(family=family, containerDefinitions=containers,
                                                 **kw)["taskDefinition"]["taskDefinitionArn"]

    def run(self, td, subnets=None, groups=None, **kw):
        args = dict(cluster="local", taskDefinition=td, **kw)
        if subnets is not None:
            vpc = {"subnets": subnets}
            if groups:
                vpc["securityGroups"] = groups
            args["networkConfiguration"] = {"awsvpcConfiguration": vpc}
            args.setdefault("launchType", "FARGATE")
        out = self.ecs.run_task(**args)
        assert out["failures"] == [], out["failures"]
        return out["tasks"][0]["taskArn"]

    def wait_running(self, arn, timeout=60):
        def check():
            t = self.describe(arn)
            if t["lastStatus"] == "STOPPED":
                raise AssertionError(f"task stopped: {t.get('stoppedReason')} {t['containers']}")
            return t if t["lastStatus"] == "RUNNING" else None
        return wait_for(check, timeout=timeout, what="task RUNNING")

    def wait_stopped(self, arn, timeout=60):
        return wait_for(lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(self.describe(arn)),
                        timeout=timeout, what="task STOPPED")

    def describe(self, arn):
        return self.ecs.describe_tasks(cluster="local", tasks=[arn])["tasks"][0]

    def eni_ip(self, task):
        return {d["name"]: d["value"] for d in task["attachments"][0]["details"]}["privateIPv4Address"]

    def netns(self, arn):
        return f"{self.k.prefix}-t-{arn.rsplit('/', 1)[1]}"

    def logs(self, arn, container=None):
        args = [self.k.kecs_bin if hasattr(self.k, "kecs_bin") else __import__("conftest").KECS_BIN,
                "logs", "--port", str(self.k.port), arn]
        if container:
            args.append(container)
        return sh(*args).stdout

    def default_subnets(self):
        subnets = self.ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        return sorted(subnets, key=lambda s: s["AvailabilityZone"])


WEB = [{"name": "web", "image": "nginx:latest", "essential": True,
        "portMappings": [{"containerPort": 80}], "stopTimeout": 2}]


@pytest.fixture
def env(local_kecs):
    return Env(local_kecs)


def test_awsvpc_tasks_reach_each_other_across_subnets_but_not_vpcs(env):
    td = env.register("web", WEB, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512")
    a_subnet, b_subnet = env.default_subnets()[:2]
    a = env.run(td, [a_subnet["SubnetId"]])
    b = env.run(td, [a_subnet["SubnetId"]])
    c = env.run(td, [b_subnet["SubnetId"]])
    vpc = env.ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    other = env.ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]
    d = env.run(td, [other])
    ta, tb, tc, tdd = (env.wait_running(x) for x in (a, b, c, d))
    ips = {k: env.eni_ip(t) for k, t in zip("abcd", (ta, tb, tc, tdd))}
    assert ips["a"].startswith("172.31.0.") and ips["b"].startswith("172.31.0.")
    assert ips["c"].startswith("172.31.16.") and ips["d"].startswith("10.77.1.")

    # Same subnet, both ways; another subnet of the same VPC; straight from the host.
    assert http_probe(f"http://{ips['b']}/", netns=env.netns(a)) == PAGE
    assert http_probe(f"http://{ips['a']}/", netns=env.netns(b)) == PAGE
    assert http_probe(f"http://{ips['c']}/", netns=env.netns(a)) == PAGE
    assert http_probe(f"http://{ips['a']}/") == PAGE
    # Another VPC is not reachable: no route leads there, and the packets are dropped.
    assert http_probe(f"http://{ips['d']}/", netns=env.netns(a)).outcome == TIMEOUT
    assert http_probe(f"http://{ips['a']}/", netns=env.netns(d)).outcome == TIMEOUT

    # The ENI inside the namespace is the one DescribeTasks reports: MAC, address, route.
    link = sh("ip", "netns", "exec", env.netns(a), "ip", "-j", "addr", "show", "eth0").stdout
    eth0 = json.loads(link)[0]
    mac = {x["name"]: x["value"] for x in ta["attachments"][0]["details"]}["macAddress"]
    assert eth0["address"] == mac
    assert any(i["local"] == ips["a"] and i["prefixlen"] == 20 for i in eth0["addr_info"])
    route = sh("ip", "netns", "exec", env.netns(a), "ip", "route", "show", "default").stdout
    assert "via 172.31.0.1" in route
    # Its hostname is ip-a-b-c-d.
    out = sh("ip", "netns", "exec", env.netns(a), "cat", f"/proc/{0}/sys/kernel/hostname".replace("/proc/0", "/proc/self")).stdout


def test_hostname_environment_user_workdir_and_entrypoint(env):
    td = env.register("probe", [{
        "name": "p", "image": "nginx:latest", "essential": True, "user": "nobody",
        "workingDirectory": "/tmp", "environment": [{"name": "GREETING", "value": "hi"}],
        "entryPoint": ["sh", "-c"],
        "command": ["echo host=$(hostname) greeting=$GREETING uid=$(id -u) cwd=$(pwd); sleep 60"],
        "stopTimeout": 1}], networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512")
    arn = env.run(td, [env.default_subnets()[0]["SubnetId"]])
    t = env.wait_running(arn)
    ip = env.eni_ip(t)
    out = wait_for(lambda: env.logs(arn).strip(), what="log output")
    assert out == f"host=ip-{ip.replace('.', '-')} greeting=hi uid=65534 cwd=/tmp"


def test_bridge_dynamic_host_port_reaches_the_container(env):
    td = env.register("br", [{"name": "web", "image": "nginx:latest", "memory": 64,
                              "portMappings": [{"containerPort": 80, "hostPort": 0}], "stopTimeout": 1}])
    arn = env.run(td)
    t = env.wait_running(arn)
    binding = t["containers"][0]["networkBindings"][0]
    assert 49153 <= binding["hostPort"] <= 65535 and binding["containerPort"] == 80
    # RUNNING means httpd was started, not that it listens yet (as on ECS): a refusal in the
    # first moments is httpd not bound yet (seen once, with another test beside this one).
    assert wait_for(lambda: http_probe(f"http://127.0.0.1:{binding['hostPort']}/"),
                    until=lambda p: p.outcome != REFUSED, what="httpd listening") == PAGE
    host_ip = sh("hostname", "-I").stdout.split()[0]
    assert http_probe(f"http://{host_ip}:{binding['hostPort']}/") == PAGE
    env.ecs.stop_task(cluster="local", task=arn)
    env.wait_stopped(arn)
    # The forwarding went with the task: nothing answers on the port, the host refuses.
    assert http_probe(f"http://127.0.0.1:{binding['hostPort']}/", timeout=2).outcome == REFUSED


def test_host_mode_task_listens_on_the_host(env):
    from conftest import free_port
    port = free_port()
    td = env.register("hostm", [{"name": "web", "image": "nginx:latest", "memory": 64,
                                 "command": ["httpd", "-f", "-p", str(port), "-h", "/www"],
                                 "portMappings": [{"containerPort": port}], "stopTimeout": 1}],
                      networkMode="host")
    arn = env.run(td)
    t = env.wait_running(arn)
    assert t["containers"][0]["networkBindings"][0]["hostPort"] == port
    assert wait_for(lambda: http_probe(f"http://127.0.0.1:{port}/"), until=lambda p: p.outcome != REFUSED,
                    what="httpd listening on the host") == PAGE


def test_none_mode_task_has_only_loopback(env):
    td = env.register("nonem", [{"name": "x", "image": "nginx:latest", "memory": 64,
                                 "command": ["sh", "-c", "ls /sys/class/net; sleep 60"], "stopTimeout": 1}],
                      networkMode="none")
    arn = env.run(td)
    env.wait_running(arn)
    assert wait_for(lambda: env.logs(arn).split(), what="interface list") == ["lo"]


def test_essential_container_exit_stops_the_task_with_its_exit_code(env):
    td = env.register("exits", [
        {"name": "main", "image": "nginx:latest", "memory": 64, "essential": True,
         "command": ["sh", "-c", "echo leaving; sleep 1; exit 3"]},
        {"name": "side", "image": "nginx:latest", "memory": 64, "essential": False,
         "command": ["sleep", "600"], "stopTimeout": 1}])
    arn = env.run(td)
    t = env.wait_stopped(arn, timeout=60)
    assert t["stopCode"] == "EssentialContainerExited"
    assert t["stoppedReason"] == "Essential container in task exited"
    by_name = {c["name"]: c for c in t["containers"]}
    assert by_name["main"]["exitCode"] == 3
    assert by_name["side"]["lastStatus"] == "STOPPED"
    assert env.logs(arn, "main") == "leaving\n"


def test_stop_timeout_is_honoured(env):
    td = env.register("stubborn", [
        {"name": "ignores", "image": "nginx:latest", "memory": 64, "stopTimeout": 2,
         "command": ["sh", "-c", "trap '' TERM; echo trapped; while true; do sleep 1; done"]},
        {"name": "polite", "image": "nginx:latest", "memory": 64, "stopTimeout": 30,
         "command": ["sh", "-c", "trap 'exit 0' TERM; echo trapped; while true; do sleep 0.1; done"]}])
    arn = env.run(td)
    env.wait_running(arn)
    # SIGTERM must find both traps set: each shell says so once it has set its own.
    for name in ("ignores", "polite"):
        wait_for(lambda: env.logs(arn, name) == "trapped\n", what=f"{name}'s TERM trap set")
    env.ecs.stop_task(cluster="local", task=arn)
    t = env.wait_stopped(arn, timeout=60)
    by_name = {c["name"]: c for c in t["containers"]}
    assert by_name["ignores"]["exitCode"] == 137      # SIGKILL after its 2 s
    assert by_name["polite"]["exitCode"] == 0         # left on SIGTERM
    # The task's own record: the containers were stopped together, the one that ignored
    # SIGTERM killed after its 2 s, not after the polite one's 30 s.
    stopping, stopped = t["stoppingAt"].timestamp(), t["executionStoppedAt"].timestamp()
    assert 2 <= stopped - stopping < 30, (t["stoppingAt"], t["executionStoppedAt"])


def test_limits_readonly_rootfs_and_ulimits(env):
    td = env.register("limits", [{
        "name": "x", "image": "nginx:latest", "memory": 96, "readonlyRootFilesystem": True,
        "ulimits": [{"name": "nofile", "softLimit": 4096, "hardLimit": 10000000}],
        "command": ["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; ulimit -n; "
                                "touch /x 2>/dev/null && echo writable || echo readonly; sleep 60"],
        "stopTimeout": 1}])
    arn = env.run(td)
    env.wait_running(arn)
    lines = wait_for(lambda: (lambda l: l if len(l) == 3 else None)(env.logs(arn).split()), what="three lines")
    assert lines == [str(96 * 1024 * 1024), "4096", "readonly"]


def test_pull_failure_stops_the_task_with_cannot_pull(env):
    td = env.register("missing", [{"name": "x", "image": "doesnotexist:1.0", "memory": 64}])
    arn = env.run(td)
    t = env.wait_stopped(arn)
    assert t["stopCode"] == "TaskFailedToStart"
    assert t["stoppedReason"].startswith("CannotPullContainerError:")
    assert "doesnotexist" in t["stoppedReason"]


def test_image_load_then_run_without_a_registry(env, tmp_path):
    from conftest import KECS_BIN, build_busybox_image
    tar = build_busybox_image(str(tmp_path), "local/greeter:v1", ["/bin/sh", "-c", "echo loaded image; sleep 60"])
    p = subprocess.run([KECS_BIN, "image", "load", tar, "--data-dir", env.k.data_dir],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "docker.io/local/greeter:v1" in p.stdout
    td = env.register("greeter", [{"name": "g", "image": "local/greeter:v1", "memory": 64, "stopTimeout": 1}])
    arn = env.run(td)
    t = env.wait_running(arn)
    assert t["containers"][0]["imageDigest"].startswith("sha256:")
    assert wait_for(lambda: env.logs(arn), what="output") == "loaded image\n"


def test_task_survives_a_daemon_restart(env):
    td = env.register("durable", WEB, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512")
    arn = env.run(td, [env.default_subnets()[0]["SubnetId"]])
    ip = env.eni_ip(env.wait_running(arn))
    runtime_id = env.describe(arn)["containers"][0]["runtimeId"]
    pid_before = sh("ip", "netns", "pids", env.netns(arn)).stdout.split()
    env.k.restart()
    env.ecs = env.k.client("ecs")
    t = env.describe(arn)
    assert t["lastStatus"] == "RUNNING"
    assert t["containers"][0]["runtimeId"] == runtime_id
    assert http_probe(f"http://{ip}/") == PAGE
    # Adopted, not restarted: the same processes.
    assert sh("ip", "netns", "pids", env.netns(arn)).stdout.split() == pid_before
    # The controllers' passes after the restart neither duplicate nor lose it.
    env.ecs.create_cluster(clusterName="probe")
    controller_passes(env.ecs, "probe", env.register("probe", [
        {"name": "p", "image": "nginx:latest", "memory": 32, "stopTimeout": 1}], networkMode="none"))
    assert env.ecs.list_tasks(cluster="local")["taskArns"] == [arn]
    assert env.describe(arn)["lastStatus"] == "RUNNING"
    assert sh("ip", "netns", "pids", env.netns(arn)).stdout.split() == pid_before
