"""ECS awsvpc tasks on container instances: each takes one of the instance's ENIs, so an
instance runs (ENIs of its type - 1) of them, or the trunking limit when the instance
registered with awsvpcTrunking on. Fargate tasks take no instance ENI."""
import json

import pytest

from test_vpc_ecs_support import (host_instance, make_subnet, make_vpc, netcfg, register_ec2_awsvpc,
                                  register_fargate, wait_status)


@pytest.fixture
def subnet(kecs):
    ec2 = kecs.client("ec2")
    return make_subnet(ec2, make_vpc(ec2, "10.0.0.0/16"), "10.0.0.0/20")


def setup_cluster(ecs, name):
    ecs.create_cluster(clusterName=name)
    return host_instance(ecs, name)


def run_ec2(ecs, cluster, subnet, count=1):
    return ecs.run_task(cluster=cluster, taskDefinition="ev", launchType="EC2", count=count,
                        networkConfiguration=netcfg([subnet]))


def fill(ecs, cluster, subnet, n):
    """Runs n EC2 awsvpc tasks, in RunTask calls of up to 10; all must be placed."""
    arns = []
    while len(arns) < n:
        out = run_ec2(ecs, cluster, subnet, count=min(10, n - len(arns)))
        assert out["failures"] == [], (len(arns), out["failures"])
        arns += [t["taskArn"] for t in out["tasks"]]
    return arns


def attributes(ecs, cluster, arn):
    [ci] = ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])["containerInstances"]
    return {a["name"]: a.get("value") for a in ci["attributes"]}


def test_m5_large_runs_two_awsvpc_tasks(kecs, subnet):
    ecs = kecs.client("ecs")
    host = setup_cluster(ecs, "eni")
    assert attributes(ecs, "eni", host)["ecs.instance-type"] == "m5.large"
    assert "ecs.awsvpc-trunk-id" not in attributes(ecs, "eni", host)
    register_ec2_awsvpc(ecs)
    register_fargate(ecs)
    arns = fill(ecs, "eni", subnet, 2)
    out = run_ec2(ecs, "eni", subnet)
    assert out["tasks"] == [] and out["failures"] == [{"arn": host, "reason": "RESOURCE:ENI"}]
    # Fargate tasks are not bound by the instance.
    out = ecs.run_task(cluster="eni", taskDefinition="fg", launchType="FARGATE", count=3,
                       networkConfiguration=netcfg([subnet]))
    assert len(out["tasks"]) == 3 and out["failures"] == []
    # Other network modes neither.
    ecs.register_task_definition(family="br", containerDefinitions=[{"name": "c", "image": "x", "memory": 16}])
    assert run_ec2(ecs, "eni", subnet)["failures"] == [{"arn": host, "reason": "RESOURCE:ENI"}]
    assert len(ecs.run_task(cluster="eni", taskDefinition="br", count=2)["tasks"]) == 2
    # Stopping one frees its ENI for the next.
    wait_status(ecs, "eni", arns, "RUNNING")
    ecs.stop_task(cluster="eni", task=arns[0])
    wait_status(ecs, "eni", arns[:1], "STOPPED")
    out = run_ec2(ecs, "eni", subnet, count=2)
    assert len(out["tasks"]) == 1 and out["failures"] == [{"arn": host, "reason": "RESOURCE:ENI"}]


def test_awsvpc_trunking_raises_the_limit_for_new_instances(kecs, subnet):
    ecs = kecs.client("ecs")
    old = setup_cluster(ecs, "old")
    register_ec2_awsvpc(ecs)
    setting = ecs.put_account_setting(name="awsvpcTrunking", value="enabled")["setting"]
    assert (setting["name"], setting["value"]) == ("awsvpcTrunking", "enabled")
    new = setup_cluster(ecs, "trunk")
    trunk_id = attributes(ecs, "trunk", new).get("ecs.awsvpc-trunk-id")
    assert trunk_id and trunk_id.startswith("eni-"), trunk_id
    fill(ecs, "trunk", subnet, 10)
    out = run_ec2(ecs, "trunk", subnet)
    assert out["tasks"] == [] and out["failures"] == [{"arn": new, "reason": "RESOURCE:ENI"}]
    # The instance registered before the setting keeps its limit of two.
    assert "ecs.awsvpc-trunk-id" not in attributes(ecs, "old", old)
    fill(ecs, "old", subnet, 2)
    assert run_ec2(ecs, "old", subnet)["failures"] == [{"arn": old, "reason": "RESOURCE:ENI"}]


def test_awsvpc_trunking_account_default(kecs, subnet):
    ecs = kecs.client("ecs")
    register_ec2_awsvpc(ecs)
    ecs.put_account_setting_default(name="awsvpcTrunking", value="enabled")
    new = setup_cluster(ecs, "trunk")
    assert "ecs.awsvpc-trunk-id" in attributes(ecs, "trunk", new)
    fill(ecs, "trunk", subnet, 10)
    assert run_ec2(ecs, "trunk", subnet)["failures"] == [{"arn": new, "reason": "RESOURCE:ENI"}]
    # The caller's own setting overrides the default.
    ecs.put_account_setting(name="awsvpcTrunking", value="disabled")
    other = setup_cluster(ecs, "plain")
    assert "ecs.awsvpc-trunk-id" not in attributes(ecs, "plain", other)
    fill(ecs, "plain", subnet, 2)
    assert run_ec2(ecs, "plain", subnet)["failures"] == [{"arn": other, "reason": "RESOURCE:ENI"}]


@pytest.mark.kecs_args("--instance-type", "m5.xlarge")
def test_m5_xlarge_runs_three(kecs, subnet):
    ecs = kecs.client("ecs")
    host = setup_cluster(ecs, "xl")
    assert attributes(ecs, "xl", host)["ecs.instance-type"] == "m5.xlarge"
    register_ec2_awsvpc(ecs)
    out = run_ec2(ecs, "xl", subnet, count=4)
    assert len(out["tasks"]) == 3 and out["failures"] == [{"arn": host, "reason": "RESOURCE:ENI"}]
    # With trunking, a new m5.xlarge instance takes 20.
    ecs.put_account_setting(name="awsvpcTrunking", value="enabled")
    host2 = setup_cluster(ecs, "xl-trunk")
    fill(ecs, "xl-trunk", subnet, 20)
    assert run_ec2(ecs, "xl-trunk", subnet)["failures"] == [{"arn": host2, "reason": "RESOURCE:ENI"}]


def test_registered_instance_type_sets_its_limit(kecs, subnet):
    """An instance registering with its identity document gets its own type's limit."""
    ecs = kecs.client("ecs")
    host = setup_cluster(ecs, "mixed")
    ecs.update_container_instances_state(cluster="mixed", containerInstances=[host], status="DRAINING")
    doc = json.dumps({"instanceType": "m5.4xlarge", "instanceId": "i-0123456789abcdef0",
                      "availabilityZone": "us-east-1a", "region": "us-east-1"})
    big = ecs.register_container_instance(cluster="mixed", instanceIdentityDocument=doc)[
        "containerInstance"]["containerInstanceArn"]
    register_ec2_awsvpc(ecs)
    fill(ecs, "mixed", subnet, 7)
    assert run_ec2(ecs, "mixed", subnet)["failures"] == [{"arn": big, "reason": "RESOURCE:ENI"}]


def test_limit_survives_a_restart(kecs, subnet):
    ecs = kecs.client("ecs")
    host = setup_cluster(ecs, "eni")
    register_ec2_awsvpc(ecs)
    wait_status(ecs, "eni", fill(ecs, "eni", subnet, 2), "RUNNING")
    kecs.restart()
    ecs = kecs.client("ecs")
    assert run_ec2(ecs, "eni", subnet)["failures"] == [{"arn": host, "reason": "RESOURCE:ENI"}]


def test_start_task_same_instance_thrice_respects_eni_limit(kecs, subnet):
    ecs = kecs.client("ecs")
    host = setup_cluster(ecs, "eni")
    register_ec2_awsvpc(ecs)
    out = ecs.start_task(cluster="eni", taskDefinition="ev", containerInstances=[host] * 3,
                         networkConfiguration=netcfg([subnet]))
    assert len(out["tasks"]) == 2
    assert out["failures"] == [{"arn": host, "reason": "RESOURCE:ENI"}]


@pytest.mark.kecs_args("--strict")
def test_ec2_awsvpc_task_needs_an_instance_in_the_subnet_zone(kecs):
    ec2, ecs = kecs.client("ec2"), kecs.client("ecs")
    vpc = make_vpc(ec2, "10.0.0.0/16")
    in_b = make_subnet(ec2, vpc, "10.0.1.0/24", az="us-east-1b")
    in_a = make_subnet(ec2, vpc, "10.0.2.0/24", az="us-east-1a")
    # In strict mode a cluster starts with no container instance, as on AWS: one registers.
    ecs.create_cluster(clusterName="az")
    assert ecs.list_container_instances(cluster="az")["containerInstanceArns"] == []
    doc = json.dumps({"availabilityZone": "us-east-1a", "instanceType": "m5.large", "region": "us-east-1"})
    host = ecs.register_container_instance(cluster="az", instanceIdentityDocument=doc)["containerInstance"][
        "containerInstanceArn"]
    assert attributes(ecs, "az", host)["ecs.availability-zone"] == "us-east-1a"
    register_ec2_awsvpc(ecs)
    # A subnet in the instance's zone works, and the task is in that zone.
    [t] = run_ec2(ecs, "az", in_a)["tasks"]
    assert t["availabilityZone"] == "us-east-1a"
    # Only a subnet in another zone: no instance can take the task.
    out = run_ec2(ecs, "az", in_b)
    assert out["tasks"] == [] and out["failures"] == [{"arn": host, "reason": "LOCATION"}]
