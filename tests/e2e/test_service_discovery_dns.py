"""Issue 8: ECS services with Cloud Map service discovery and the VPC resolver. Root only.

Real tasks (runc containers in their own network namespaces) of two ECS services in the
default VPC: `backend` registered in the Cloud Map namespace `local`, `frontend` looking it
up by name. Names are resolved by the containers themselves, through the resolv.conf kecs
gives them (the VPC resolver at the VPC's base+2, served in the VPC's router), and fetched
with busybox wget. Scaling, a rolling deployment and a circuit-breaker rollback are
watched from outside through the API, DNS and DiscoverInstances. The steps of the issue go
through the aws CLI; polling uses boto3."""
import ipaddress
import json
import re
import subprocess
import time

import pytest

from conftest import classify_busybox, http_probe, is_root, served, wait_for
from test_cloudmap_support import client as sd_client, cli as sd_cli, data_endpoint

pytestmark = pytest.mark.skipif(not is_root(), reason="needs root (network namespaces, runc)")

WEB = {"name": "web", "image": "nginx:latest", "essential": True,
       "portMappings": [{"containerPort": 80}], "stopTimeout": 2}


def sh(*args, timeout=15):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


class Env:
    def __init__(self, k):
        self.k = k
        self.ecs = k.client("ecs")
        self.ec2 = k.client("ec2")
        self.sd = sd_client(k)
        self.ecs.create_cluster(clusterName="local")
        subnets = self.ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        self.subnets = [s["SubnetId"] for s in sorted(subnets, key=lambda s: s["AvailabilityZone"])][:2]
        vpc = self.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
        self.vpc = vpc["VpcId"]
        self.resolver = str(ipaddress.ip_network(vpc["CidrBlock"]).network_address + 2)

    def register(self, family, container):
        return self.ecs.register_task_definition(
            family=family, containerDefinitions=[container], networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"], cpu="256", memory="512")["taskDefinition"]["taskDefinitionArn"]

    def create_service(self, name, td, count, registries=(), **kw):
        return self.ecs.create_service(
            cluster="local", serviceName=name, taskDefinition=td, desiredCount=count, launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": self.subnets}},
            serviceRegistries=list(registries), **kw)["service"]

    def service(self, name):
        return self.ecs.describe_services(cluster="local", services=[name])["services"][0]

    def wait_stable(self, name, timeout=120):
        self.ecs.get_waiter("services_stable").wait(
            cluster="local", services=[name], WaiterConfig={"Delay": 1, "MaxAttempts": timeout})

    def running_tasks(self, name):
        arns = self.ecs.list_tasks(cluster="local", serviceName=name, desiredStatus="RUNNING")["taskArns"]
        if not arns:
            return []
        tasks = self.ecs.describe_tasks(cluster="local", tasks=arns)["tasks"]
        return [t for t in tasks if t["lastStatus"] == "RUNNING"]

    @staticmethod
    def ip_of(task):
        return {d["name"]: d["value"] for d in task["attachments"][0]["details"]}["privateIPv4Address"]

    def container_pid(self, task_arn):
        """The host pid of a task's container (runc's state)."""
        cid = f"{self.k.prefix}-{task_arn.rsplit('/', 1)[1]}-web"
        out = sh("runc", "--root", f"{self.k.data_dir}/runtime/runc", "state", cid)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)["pid"]

    def in_container(self, task_arn, *cmd, timeout=10):
        """Runs a command inside the task's container: its namespaces, rootfs and resolv.conf."""
        pid = self.container_pid(task_arn)
        return sh("nsenter", "-t", str(pid), "-m", "-n", "-u", "-p", "-r", "-w", "timeout", str(timeout), *cmd,
                  timeout=timeout + 5)

    def nslookup(self, task_arn, name):
        """The A records busybox nslookup gets from the container's resolver: [] only for an
        answer without any (NXDOMAIN, or no A record). A resolver that did not answer, or a
        client that failed, gives its Probe instead, which equals no list."""
        p = self.in_container(task_arn, "nslookup", "-type=a", name)
        if p.returncode != 0:
            if "NXDOMAIN" in p.stdout + p.stderr:
                return []
            return classify_busybox(p)
        answers = p.stdout.split("Name:", 1)[1] if "Name:" in p.stdout else ""
        return sorted(re.findall(r"Address: *([0-9.]+)", answers))

    def discover(self, name):
        out = self.sd.discover_instances(NamespaceName="local", ServiceName=name)["Instances"]
        return sorted(i["Attributes"]["AWS_INSTANCE_IPV4"] for i in out)


@pytest.fixture
def env(local_kecs):
    e = Env(local_kecs)
    yield e
    # Services first, or their scheduler replaces the tasks the daemon fixture stops.
    names = [a.rsplit("/", 1)[1] for a in e.ecs.list_services(cluster="local")["serviceArns"]]
    for n in names:
        e.ecs.delete_service(cluster="local", service=n, force=True)
    if names:
        e.ecs.get_waiter("services_inactive").wait(cluster="local", services=names,
                                                   WaiterConfig={"Delay": 1, "MaxAttempts": 120})

    def all_stopped():
        arns = e.ecs.list_tasks(cluster="local", desiredStatus="STOPPED")["taskArns"]
        return all(t["lastStatus"] == "STOPPED" for i in range(0, len(arns), 100)
                   for t in e.ecs.describe_tasks(cluster="local", tasks=arns[i:i + 100])["tasks"])
    wait_for(all_stopped, timeout=60, what="the services' tasks stopped")


def create_namespace(env):
    # Through the aws CLI, as the flow has it (polling below uses boto3).
    op = sd_cli(env.k, "create-private-dns-namespace", "--name", "local", "--vpc", env.vpc)["OperationId"]
    wait_for(lambda: env.sd.get_operation(OperationId=op)["Operation"]["Status"] == "SUCCESS", what="namespace")
    ns = env.sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
    return ns


def create_registry(env, ns, name, ttl=5):
    return env.sd.create_service(
        Name=name, NamespaceId=ns,
        DnsConfig={"RoutingPolicy": "MULTIVALUE",
                   "DnsRecords": [{"Type": "A", "TTL": ttl}, {"Type": "SRV", "TTL": ttl}]},
        HealthCheckCustomConfig={"FailureThreshold": 1})["Service"]


def test_backend_by_name_scaling_rolling_deployment_and_rollback(env):
    ns = create_namespace(env)
    registry = sd_cli(env.k, "create-service", "--name", "backend", "--namespace-id", ns,
                      "--dns-config", "RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=A,TTL=5},{Type=SRV,TTL=5}]",
                      "--health-check-custom-config", "FailureThreshold=1")["Service"]
    backend_v1 = env.register("backend", WEB)
    env.k.aws("ecs", "create-service", "--cluster", "local", "--service-name", "backend",
              "--task-definition", backend_v1, "--desired-count", "3", "--launch-type", "FARGATE",
              "--network-configuration", json.dumps({"awsvpcConfiguration": {"subnets": env.subnets}}),
              "--service-registries", f"registryArn={registry['Arn']},port=80",
              "--deployment-configuration", "minimumHealthyPercent=100,maximumPercent=200,"
              "deploymentCircuitBreaker={enable=true,rollback=true}")
    env.create_service("frontend", env.register("frontend", WEB), 1)
    env.wait_stable("backend")
    env.wait_stable("frontend")
    backends = env.running_tasks("backend")
    assert len(backends) == 3
    ips = sorted(env.ip_of(t) for t in backends)
    frontend = env.running_tasks("frontend")[0]["taskArn"]

    # The container's resolver is the VPC's base+2.
    resolv = env.in_container(frontend, "cat", "/etc/resolv.conf").stdout
    assert f"nameserver {env.resolver}" in resolv, resolv

    # The name resolves, from inside the frontend, to the three tasks; Cloud Map agrees.
    # RUNNING registers in the same commit: the name resolves at once (the issue allows 1 s).
    assert wait_for(lambda: env.nslookup(frontend, "backend.local") == ips, timeout=1,
                    what="backend.local -> the 3 task IPs")
    assert env.discover("backend") == ips
    found = sd_cli(env.k, "--endpoint-url", data_endpoint(env.k), "discover-instances",
                   "--namespace-name", "local", "--service-name", "backend")["Instances"]
    assert sorted(i["Attributes"]["AWS_INSTANCE_IPV4"] for i in found) == ips
    attrs = found[0]["Attributes"]
    assert attrs["AWS_INSTANCE_PORT"] == "80" and attrs["ECS_SERVICE_NAME"] == "backend"
    assert attrs["ECS_CLUSTER_NAME"] == "local" and attrs["ECS_TASK_DEFINITION_FAMILY"] == "backend"
    assert attrs["REGION"] == "us-east-1" and attrs["AVAILABILITY_ZONE"].startswith("us-east-1")
    assert {i["InstanceId"] for i in found} == {t["taskArn"].rsplit("/", 1)[1] for t in backends}
    # And the frontend fetches from it by name.
    assert classify_busybox(env.in_container(frontend, "wget", "-qO-", "http://backend.local/")) == \
        served("hello from kecs\n")
    # Names outside Cloud Map are forwarded, not refused: an unknown name in the namespace
    # is NXDOMAIN from us.
    assert env.nslookup(frontend, "nothing.local") == []

    # Scale to 1: DNS follows within a second of the tasks stopping (they leave Cloud Map
    # as they start to stop).
    env.k.aws("ecs", "update-service", "--cluster", "local", "--service", "backend", "--desired-count", "1")
    env.wait_stable("backend")
    left = [env.ip_of(t) for t in env.running_tasks("backend")]
    assert len(left) == 1
    assert wait_for(lambda: env.nslookup(frontend, "backend.local") == left, timeout=1,
                    what="backend.local -> 1 IP")
    assert env.discover("backend") == left

    # A rolling deployment (min 100%, max 200%) never runs fewer than 1 backend nor more than 2.
    backend_v2 = env.register("backend", dict(WEB, environment=[{"name": "V", "value": "2"}]))
    env.k.aws("ecs", "update-service", "--cluster", "local", "--service", "backend", "--task-definition", backend_v2)
    seen = set()
    deadline = time.time() + 120
    while time.time() < deadline:
        s = env.service("backend")
        running = env.running_tasks("backend")
        assert 1 <= len(running) <= 2, f"{len(running)} running during the deployment"
        seen.update(t["taskDefinitionArn"] for t in running)
        if len(s["deployments"]) == 1 and s["deployments"][0]["rolloutState"] == "COMPLETED" and \
                s["runningCount"] == 1:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the rolling deployment did not complete")
    assert seen == {backend_v1, backend_v2}
    v2_ips = [env.ip_of(t) for t in env.running_tasks("backend")]
    assert wait_for(lambda: env.nslookup(frontend, "backend.local") == v2_ips, timeout=2, what="DNS after rollout")

    # A revision whose container exits at once trips the circuit breaker, which rolls back.
    broken = env.register("backend", dict(WEB, command=["sh", "-c", "exit 1"]))
    env.k.aws("ecs", "update-service", "--cluster", "local", "--service", "backend", "--task-definition", broken)

    def rolled_back():
        s = env.service("backend")
        msgs = [e["message"] for e in s["events"]]
        failed = any("deployment failed: tasks failed to start" in m for m in msgs)
        back = any("rolling back to deployment" in m for m in msgs)
        return s if failed and back and s["taskDefinition"] == backend_v2 else None
    try:
        s = wait_for(rolled_back, timeout=120, what="circuit breaker rollback")
    except AssertionError:
        s = env.service("backend")
        stopped = env.ecs.list_tasks(cluster="local", serviceName="backend", desiredStatus="STOPPED")["taskArns"]
        detail = env.ecs.describe_tasks(cluster="local", tasks=stopped[:5])["tasks"] if stopped else []
        raise AssertionError(json.dumps({"deployments": s["deployments"], "events": s["events"][:8],
                                         "stopped": [(t.get("stopCode"), t.get("stoppedReason"),
                                                      t["containers"][0].get("exitCode")) for t in detail]},
                                        default=str, indent=1))
    failed = [d for d in s["deployments"] if d["taskDefinition"] == broken]
    assert not failed or failed[0]["rolloutState"] == "FAILED"
    env.wait_stable("backend", timeout=180)
    s = env.service("backend")
    assert s["taskDefinition"] == backend_v2 and s["deployments"][0]["rolloutState"] == "COMPLETED"
    final = sorted(env.ip_of(t) for t in env.running_tasks("backend"))
    assert len(final) == 1
    assert wait_for(lambda: env.nslookup(frontend, "backend.local") == final, timeout=2, what="DNS after rollback")
    assert env.discover("backend") == final


def test_srv_records_forwarding_and_deregistration_on_delete(env):
    ns = create_namespace(env)
    registry = create_registry(env, ns, "api", ttl=7)
    env.create_service("api", env.register("api", WEB), 2,
                       registries=[{"registryArn": registry["Arn"], "port": 80}])
    env.create_service("client", env.register("client", WEB), 1)
    env.wait_stable("api")
    env.wait_stable("client")
    client = env.running_tasks("client")[0]["taskArn"]
    ips = sorted(env.ip_of(t) for t in env.running_tasks("api"))
    assert wait_for(lambda: env.nslookup(client, "api.local") == ips, timeout=5, what="api.local")

    # SRV, asked from the client task's namespace with the host's busybox: the VPC resolver
    # answers one record per task, port 80.
    ns = f"{env.k.prefix}-t-{client.rsplit('/', 1)[1]}"
    p = sh("ip", "netns", "exec", ns, "busybox", "nslookup", "-type=srv", "api.local", env.resolver)
    assert p.returncode == 0, p.stdout + p.stderr
    assert len(re.findall(r"api\.local\s+service = 1 1 80 ", p.stdout)) == 2, p.stdout

    # Deleting the service deregisters its tasks: the name stops resolving.
    env.ecs.update_service(cluster="local", service="api", desiredCount=0)
    env.ecs.delete_service(cluster="local", service="api")
    assert wait_for(lambda: env.nslookup(client, "api.local") == [], timeout=30, what="api.local gone")
    assert env.discover("api") == []


def test_bridge_service_registers_the_host_address_and_its_dynamic_port(env):
    """Bridge mode (EC2): Cloud Map gets the host's address and the task's dynamic host port,
    SRV carries that port, and the page is there. dnsSearchDomains and extraHosts reach the
    container's files."""
    ns = create_namespace(env)
    registry = create_registry(env, ns, "legacy")
    td = env.ecs.register_task_definition(
        family="legacy", networkMode="bridge", requiresCompatibilities=["EC2"],
        containerDefinitions=[dict(WEB, memory=64, portMappings=[{"containerPort": 80, "hostPort": 0}],
                                   dnsSearchDomains=["local"],
                                   extraHosts=[{"hostname": "db.internal", "ipAddress": "10.9.9.9"}])],
    )["taskDefinition"]["taskDefinitionArn"]
    env.ecs.create_service(cluster="local", serviceName="legacy", taskDefinition=td, desiredCount=1,
                           launchType="EC2", serviceRegistries=[
                               {"registryArn": registry["Arn"], "containerName": "web", "containerPort": 80}])
    env.create_service("client", env.register("client", WEB), 1)
    env.wait_stable("legacy")
    env.wait_stable("client")
    arns = env.ecs.list_tasks(cluster="local", serviceName="legacy")["taskArns"]
    task = env.ecs.describe_tasks(cluster="local", tasks=arns)["tasks"][0]
    host_port = task["containers"][0]["networkBindings"][0]["hostPort"]

    [inst] = env.sd.discover_instances(NamespaceName="local", ServiceName="legacy")["Instances"]
    attrs = inst["Attributes"]
    assert inst["InstanceId"] == task["taskArn"].rsplit("/", 1)[1]
    assert attrs["AWS_INSTANCE_PORT"] == str(host_port)
    addr = attrs["AWS_INSTANCE_IPV4"]
    assert ipaddress.ip_address(addr) and addr != "0.0.0.0"
    assert http_probe(f"http://{addr}:{host_port}/") == served("hello from kecs\n")

    client = env.running_tasks("client")[0]["taskArn"]
    ns_name = f"{env.k.prefix}-t-{client.rsplit('/', 1)[1]}"
    p = sh("ip", "netns", "exec", ns_name, "busybox", "nslookup", "-type=srv", "legacy.local", env.resolver)
    assert re.search(rf"legacy\.local\s+service = 1 1 {host_port} ", p.stdout), p.stdout
    assert env.nslookup(client, "legacy.local") == [addr]

    # The container's own files (bridge tasks use the host's resolvers).
    pid = sh("runc", "--root", f"{env.k.data_dir}/runtime/runc", "state",
             f"{env.k.prefix}-{task['taskArn'].rsplit('/', 1)[1]}-web")
    cpid = str(json.loads(pid.stdout)["pid"])
    resolv = sh("nsenter", "-t", cpid, "-m", "cat", "/etc/resolv.conf").stdout
    hosts = sh("nsenter", "-t", cpid, "-m", "cat", "/etc/hosts").stdout
    assert "search local" in resolv, resolv
    assert re.search(r"^10\.9\.9\.9\s+db\.internal$", hosts, re.M), hosts
