"""ECS bridge and host network modes: networkBindings, dynamic host ports from the ephemeral
range, static host ports that clash, and the ports the agent reserves."""
import pytest

from test_ecs_support import container
from test_vpc_ecs_support import host_instance, wait_status

EPHEMERAL = range(49153, 65536)
RESERVED = [22, 2375, 2376, 51678, 51679, 51680]


def pm(container_port, host_port=None, protocol=None):
    m = {"containerPort": container_port}
    if host_port is not None:
        m["hostPort"] = host_port
    if protocol:
        m["protocol"] = protocol
    return m


@pytest.fixture
def ecs(kecs):
    client = kecs.client("ecs")
    client.create_cluster(clusterName="p")
    client.host = host_instance(client, "p")
    return client


def register(ecs, family, mappings, mode=None):
    kw = {"networkMode": mode} if mode else {}
    ecs.register_task_definition(family=family, containerDefinitions=[
        container("c", memory=16, portMappings=mappings)], **kw)


def run(ecs, family, count=1):
    return ecs.run_task(cluster="p", taskDefinition=family, count=count)


def ok(ecs, family, count=1):
    out = run(ecs, family, count)
    assert out["failures"] == [] and len(out["tasks"]) == count, out
    return out["tasks"]


def refused(ecs, family, reason="RESOURCE:PORTS"):
    out = run(ecs, family)
    assert out["tasks"] == [] and out["failures"] == [{"arn": ecs.host, "reason": reason}], out


def bindings(task):
    return task["containers"][0]["networkBindings"]


def test_bridge_dynamic_host_ports(ecs):
    register(ecs, "absent", [pm(80)])
    register(ecs, "zero", [pm(80, 0)], mode="bridge")
    tasks = ok(ecs, "absent", count=3) + ok(ecs, "zero", count=2) + ok(ecs, "absent")
    ports = []
    for t in tasks:
        [b] = bindings(t)
        assert (b["bindIP"], b["containerPort"], b["protocol"]) == ("0.0.0.0", 80, "tcp")
        assert b["hostPort"] in EPHEMERAL, b
        ports.append(b["hostPort"])
    assert len(set(ports)) == len(tasks), ports
    # DescribeTasks reports the same ports once the tasks run.
    arns = [t["taskArn"] for t in tasks]
    running = wait_status(ecs, "p", arns, "RUNNING")
    assert [bindings(running[a])[0]["hostPort"] for a in arns] == ports
    # The instance's remaining PORTS hold them, beside the reserved ones.
    [ci] = ecs.describe_container_instances(cluster="p", containerInstances=[ecs.host])["containerInstances"]
    [remaining] = [r for r in ci["remainingResources"] if r["name"] == "PORTS"]
    assert set(remaining["stringSetValue"]) == {str(p) for p in RESERVED + ports}
    # A stopped task gives its port back (it may be handed out again).
    ecs.stop_task(cluster="p", task=arns[0])
    wait_status(ecs, "p", arns[:1], "STOPPED")
    [ci] = ecs.describe_container_instances(cluster="p", containerInstances=[ecs.host])["containerInstances"]
    [remaining] = [r for r in ci["remainingResources"] if r["name"] == "PORTS"]
    assert str(ports[0]) not in remaining["stringSetValue"]


def test_two_containers_and_protocols_get_their_own_ports(ecs):
    ecs.register_task_definition(family="multi", containerDefinitions=[
        container("a", memory=16, portMappings=[pm(80), pm(53, protocol="udp")]),
        container("b", memory=16, portMappings=[pm(81)])])
    [t] = ok(ecs, "multi")
    by = {(c["name"], b["containerPort"]): b for c in t["containers"] for b in c["networkBindings"]}
    assert set(by) == {("a", 80), ("a", 53), ("b", 81)}
    assert by[("a", 53)]["protocol"] == "udp"
    tcp = [by[("a", 80)]["hostPort"], by[("b", 81)]["hostPort"]]
    assert len(set(tcp)) == 2 and all(p in EPHEMERAL for p in tcp + [by[("a", 53)]["hostPort"]])


def test_static_host_port_clash(ecs):
    register(ecs, "s8080", [pm(80, 8080)])
    [first] = ok(ecs, "s8080")
    assert bindings(first) == [{"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 8080, "protocol": "tcp"}]
    refused(ecs, "s8080")
    # count=2 on a free port: one runs, the other is a failure.
    register(ecs, "s9090", [pm(90, 9090)])
    out = run(ecs, "s9090", count=2)
    assert len(out["tasks"]) == 1 and out["failures"] == [{"arn": ecs.host, "reason": "RESOURCE:PORTS"}]
    # The same number over UDP is another port.
    register(ecs, "u8080", [pm(80, 8080, "udp")])
    [u] = ok(ecs, "u8080")
    assert bindings(u)[0]["protocol"] == "udp" and bindings(u)[0]["hostPort"] == 8080
    refused(ecs, "u8080")
    # A host-mode task wants the same host port.
    register(ecs, "h8080", [pm(8080)], mode="host")
    refused(ecs, "h8080")
    # Stopped, the port is free again.
    ecs.stop_task(cluster="p", task=first["taskArn"])
    wait_status(ecs, "p", [first["taskArn"]], "STOPPED")
    [again] = ok(ecs, "s8080")
    assert bindings(again)[0]["hostPort"] == 8080


def test_static_and_dynamic_ports_avoid_each_other(ecs):
    register(ecs, "dyn", [pm(80)])
    [d] = ok(ecs, "dyn")
    taken = bindings(d)[0]["hostPort"]
    # A static mapping on the port a dynamic one holds clashes...
    register(ecs, "same", [pm(80, taken)])
    refused(ecs, "same")
    # ...and a static mapping in the ephemeral range is skipped by the next dynamic one.
    register(ecs, "next", [pm(80, taken + 1)])
    ok(ecs, "next")
    [d2] = ok(ecs, "dyn")
    assert bindings(d2)[0]["hostPort"] not in (taken, taken + 1)


@pytest.mark.parametrize("port", RESERVED)
def test_reserved_ports(ecs, port):
    register(ecs, "bridge", [pm(8000, port)])
    refused(ecs, "bridge")
    register(ecs, "host", [pm(port)], mode="host")
    refused(ecs, "host")
    # UDP on the same number is not reserved.
    register(ecs, "udp", [pm(8000, port, "udp")])
    ok(ecs, "udp")


def test_host_mode_bindings(ecs):
    ecs.register_task_definition(family="h", networkMode="host", containerDefinitions=[
        container("c", memory=16, portMappings=[pm(8081), pm(8082, 8082), pm(5000, protocol="udp")])])
    [t] = ok(ecs, "h")
    assert bindings(t) == [
        {"bindIP": "0.0.0.0", "containerPort": 8081, "hostPort": 8081, "protocol": "tcp"},
        {"bindIP": "0.0.0.0", "containerPort": 8082, "hostPort": 8082, "protocol": "tcp"},
        {"bindIP": "0.0.0.0", "containerPort": 5000, "hostPort": 5000, "protocol": "udp"}]
    assert t["attachments"] == []
    running = wait_status(ecs, "p", [t["taskArn"]], "RUNNING")[t["taskArn"]]
    assert bindings(running) == bindings(t)
    assert running["containers"][0]["networkInterfaces"] == []
    refused(ecs, "h")      # the same ports again


def test_awsvpc_tasks_hold_no_host_ports(kecs, ecs):
    """Each awsvpc task has its own ENI, so the same container port on one instance is no
    clash, and a bridge task can still take that port on the host."""
    from test_vpc_ecs_support import make_subnet, make_vpc, netcfg
    ec2 = kecs.client("ec2")
    sub = make_subnet(ec2, make_vpc(ec2, "10.0.0.0/16"), "10.0.1.0/24")
    ecs.register_task_definition(family="v", networkMode="awsvpc", containerDefinitions=[
        container("c", memory=16, portMappings=[pm(8080)])])
    tasks = []
    for _ in range(2):
        out = ecs.run_task(cluster="p", taskDefinition="v", launchType="EC2", networkConfiguration=netcfg([sub]))
        assert out["failures"] == [], out
        tasks += out["tasks"]
    assert all(t["containerInstanceArn"] == ecs.host for t in tasks)
    running = wait_status(ecs, "p", [t["taskArn"] for t in tasks], "RUNNING")
    for t in running.values():
        assert t["containers"][0].get("networkBindings", []) == []
    register(ecs, "s8080", [pm(80, 8080)])
    ok(ecs, "s8080")


# ---- known bugs ---------------------------------------------------------------------------

def test_static_host_port_is_host_wide_across_clusters(ecs):
    ecs.create_cluster(clusterName="q")
    other_host = host_instance(ecs, "q")
    register(ecs, "s8080", [pm(80, 8080)])
    ok(ecs, "s8080")
    out = ecs.run_task(cluster="q", taskDefinition="s8080")
    assert out["tasks"] == [] and out["failures"] == [{"arn": other_host, "reason": "RESOURCE:PORTS"}]


def test_dynamic_host_ports_are_host_wide_across_clusters(ecs):
    ecs.create_cluster(clusterName="q")
    register(ecs, "dyn", [pm(80)])
    [a] = ok(ecs, "dyn")
    [b] = ecs.run_task(cluster="q", taskDefinition="dyn")["tasks"]
    assert bindings(a)[0]["hostPort"] != bindings(b)[0]["hostPort"]


def test_start_task_same_instance_twice_respects_ports(ecs):
    register(ecs, "s8080", [pm(80, 8080)])
    out = ecs.start_task(cluster="p", taskDefinition="s8080", containerInstances=[ecs.host] * 3)
    assert len(out["tasks"]) == 1
    assert out["failures"] == [{"arn": ecs.host, "reason": "RESOURCE:PORTS"}]


@pytest.mark.kecs_args("--ephemeral-port-range", "61000-61002")
def test_ephemeral_range_exhaustion_is_a_placement_failure(ecs):
    register(ecs, "dyn", [pm(80)])
    tasks = ok(ecs, "dyn", count=2)
    assert sorted(bindings(t)[0]["hostPort"] for t in tasks) == [61000, 61001]
    out = run(ecs, "dyn", count=2)
    assert [bindings(t)[0]["hostPort"] for t in out["tasks"]] == [61002]
    assert out["failures"] == [{"arn": ecs.host, "reason": "RESOURCE:PORTS"}]
