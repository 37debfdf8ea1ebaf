"""ECS on a VPC: task addresses come from the subnet's IPAM, one per task, never shared,
never reserved, given back at stop and kept across a daemon restart."""
import concurrent.futures
import ipaddress
import threading

import pytest

from test_ecs_support import container
from test_vpc_ecs_support import (available, describe, eni_attachment, enis_in, make_subnet, make_vpc,
                                  netcfg, register_fargate, task_ip, usable, wait_status)


@pytest.fixture
def vpc(kecs):
    ec2 = kecs.client("ec2")
    return ec2, make_vpc(ec2, "10.0.0.0/16")


def run_fargate(ecs, cluster, subnet, count=1):
    out = ecs.run_task(cluster=cluster, taskDefinition="fg", launchType="FARGATE", count=count,
                       networkConfiguration=netcfg([subnet]))
    assert out["failures"] == [] and len(out["tasks"]) == count, out
    return [t["taskArn"] for t in out["tasks"]]


def test_fill_a_slash_28(kecs, vpc):
    ec2, vpc_id = vpc
    ecs = kecs.client("ecs")
    sub = make_subnet(ec2, vpc_id, "10.0.2.0/28")
    assert available(ec2, sub) == 11
    ecs.create_cluster(clusterName="fill")
    register_fargate(ecs)

    arns = run_fargate(ecs, "fill", sub, count=10) + run_fargate(ecs, "fill", sub)
    tasks = wait_status(ecs, "fill", arns, "RUNNING")
    ips = {a: task_ip(t) for a, t in tasks.items()}
    assert sorted(ips.values(), key=ipaddress.ip_address) == sorted(usable("10.0.2.0/28"), key=ipaddress.ip_address)
    assert available(ec2, sub) == 0
    assert len(enis_in(ec2, sub)) == 11

    # The twelfth: RunTask answers 200 with the task, which then fails to start.
    out = ecs.run_task(cluster="fill", taskDefinition="fg", launchType="FARGATE",
                       networkConfiguration=netcfg([sub]))
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert out["failures"] == [] and len(out["tasks"]) == 1
    twelfth = out["tasks"][0]["taskArn"]
    t = wait_status(ecs, "fill", [twelfth], "STOPPED")[twelfth]
    assert t["stopCode"] == "TaskFailedToStart"
    assert "InsufficientFreeAddressesInSubnet" in t["stoppedReason"], t["stoppedReason"]
    assert t["desiredStatus"] == "STOPPED"
    assert t["containers"][0]["networkInterfaces"] == []
    # It took nothing, and the eleven run on.
    assert available(ec2, sub) == 0 and len(enis_in(ec2, sub)) == 11
    assert {x["lastStatus"] for x in describe(ecs, "fill", arns).values()} == {"RUNNING"}

    # Stopping one frees its address, and the next task gets exactly that one.
    victim = next(a for a, ip in ips.items() if ip == "10.0.2.9")
    ecs.stop_task(cluster="fill", task=victim)
    wait_status(ecs, "fill", [victim], "STOPPED")
    assert available(ec2, sub) == 1
    [again] = run_fargate(ecs, "fill", sub)
    assert task_ip(wait_status(ecs, "fill", [again], "RUNNING")[again]) == "10.0.2.9"
    assert available(ec2, sub) == 0


def test_multiple_subnets_spread_to_the_one_with_room(kecs, vpc):
    """With two subnets listed, a full one is not where the task goes."""
    ec2, vpc_id = vpc
    ecs = kecs.client("ecs")
    small = make_subnet(ec2, vpc_id, "10.0.3.0/28")
    big = make_subnet(ec2, vpc_id, "10.0.4.0/24")
    register_fargate(ecs)
    ecs.create_cluster(clusterName="two")
    arns = run_fargate(ecs, "two", small, count=10) + run_fargate(ecs, "two", small)
    wait_status(ecs, "two", arns, "RUNNING")
    assert available(ec2, small) == 0
    out = ecs.run_task(cluster="two", taskDefinition="fg", launchType="FARGATE",
                       networkConfiguration=netcfg([small, big]))
    arn = out["tasks"][0]["taskArn"]
    t = wait_status(ecs, "two", [arn], "RUNNING")[arn]
    assert ipaddress.ip_address(task_ip(t)) in ipaddress.ip_network("10.0.4.0/24")


def test_100_concurrent_run_tasks_never_share_an_address(kecs, vpc):
    ec2, vpc_id = vpc
    sub = make_subnet(ec2, vpc_id, "10.0.8.0/24")
    ecs = kecs.client("ecs")
    ecs.create_cluster(clusterName="many")
    register_fargate(ecs)
    n = 100
    clients = [kecs.client("ecs") for _ in range(n)]
    start = threading.Barrier(n)

    def one(client):
        start.wait()
        return run_fargate(client, "many", sub)[0]

    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        arns = list(ex.map(one, clients))
    assert len(set(arns)) == n
    tasks = wait_status(ecs, "many", arns, "RUNNING", timeout=60)
    ips = [task_ip(t) for t in tasks.values()]
    assert len(set(ips)) == n, sorted(ips)
    assert set(ips) <= usable("10.0.8.0/24")
    attachment_ids = [eni_attachment(t)["id"] for t in tasks.values()]
    assert len(set(attachment_ids)) == n
    enis = enis_in(ec2, sub)
    assert len(enis) == n and {e["PrivateIpAddress"] for e in enis} == set(ips)
    assert available(ec2, sub) == 251 - n

    # All stopped at once, every address comes back.
    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        list(ex.map(lambda a: ecs.stop_task(cluster="many", task=a), arns))
    wait_status(ecs, "many", arns, "STOPPED", timeout=60)
    assert available(ec2, sub) == 251
    assert enis_in(ec2, sub) == []


def test_restart_keeps_allocations(kecs, vpc):
    ec2, vpc_id = vpc
    sub = make_subnet(ec2, vpc_id, "10.0.5.0/24")
    ecs = kecs.client("ecs")
    ecs.create_cluster(clusterName="keep")
    register_fargate(ecs)
    # A bridge task too: its dynamic host port is an allocation like any other.
    ecs.register_task_definition(family="br", containerDefinitions=[
        container("b", memory=16, portMappings=[{"containerPort": 80}])])
    before = run_fargate(ecs, "keep", sub, count=3)
    [br1] = ecs.run_task(cluster="keep", taskDefinition="br")["tasks"]
    first = wait_status(ecs, "keep", before + [br1["taskArn"]], "RUNNING")
    first_ips = {a: task_ip(first[a]) for a in before}
    assert len(set(first_ips.values())) == 3
    port1 = br1["containers"][0]["networkBindings"][0]["hostPort"]

    kecs.restart()
    ecs, ec2 = kecs.client("ecs"), kecs.client("ec2")
    assert available(ec2, sub) == 248

    after = run_fargate(ecs, "keep", sub, count=3)
    [br2] = ecs.run_task(cluster="keep", taskDefinition="br")["tasks"]
    tasks = wait_status(ecs, "keep", before + after + [br2["taskArn"]], "RUNNING")
    ips = {a: task_ip(tasks[a]) for a in before + after}
    assert len(set(ips.values())) == 6, ips
    assert {a: ips[a] for a in before} == first_ips     # the survivors kept theirs
    assert available(ec2, sub) == 245
    assert sorted(e["PrivateIpAddress"] for e in enis_in(ec2, sub)) == sorted(ips.values())
    assert br2["containers"][0]["networkBindings"][0]["hostPort"] != port1

    every = before + after + [br1["taskArn"], br2["taskArn"]]
    for a in every:
        ecs.stop_task(cluster="keep", task=a)
    stopped = wait_status(ecs, "keep", every, "STOPPED")
    assert available(ec2, sub) == 251
    assert enis_in(ec2, sub) == []
    assert {eni_attachment(stopped[a])["status"] for a in before + after} == {"DELETED"}


def test_a_listed_subnet_with_room_is_used_before_failing(kecs, vpc):
    ec2, vpc_id = vpc
    ecs = kecs.client("ecs")
    a = make_subnet(ec2, vpc_id, "10.0.6.0/28")
    b = make_subnet(ec2, vpc_id, "10.0.7.0/28")
    ecs.create_cluster(clusterName="spill")
    register_fargate(ecs)
    held = run_fargate(ecs, "spill", a, count=9) + run_fargate(ecs, "spill", b, count=10)
    wait_status(ecs, "spill", held, "RUNNING")
    assert (available(ec2, a), available(ec2, b)) == (2, 1)
    # Three tasks, three free addresses among the listed subnets: all three must run.
    out = ecs.run_task(cluster="spill", taskDefinition="fg", launchType="FARGATE", count=3,
                       networkConfiguration=netcfg([a, b]))
    arns = [t["taskArn"] for t in out["tasks"]]
    tasks = wait_status(ecs, "spill", arns, "RUNNING")
    subnets = sorted(eni_attachment(t)["details"][0]["value"] for t in tasks.values())
    assert subnets == sorted([a, a, b])
    assert (available(ec2, a), available(ec2, b)) == (0, 0)
