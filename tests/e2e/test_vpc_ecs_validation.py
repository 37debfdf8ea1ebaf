"""ECS on a VPC: RunTask's network-configuration validation, each refusal with AWS's code and
message (see the research notes on real ECS behaviour (AWS docs, SDK issues)), and kecs's lenient defaults."""
import ipaddress

import pytest

from test_ecs_support import Ecs, container
from test_vpc_ecs_support import (available, default_group, details, eni_attachment, enis_in, make_group,
                                  make_subnet, make_vpc, netcfg, register_ec2_awsvpc, register_fargate,
                                  wait_status)

IPE = "InvalidParameterException"
MUST_PROVIDE = (IPE, "Network Configuration must be provided when networkMode 'awsvpc' is specified.")
NOT_VALID = (IPE, "Network Configuration is not valid for the given networkMode of this task definition.")
NO_PUBLIC_IP = (IPE, "Assign public IP is not supported for this launch type.")


class Net:
    """Two VPCs: A (10.0.0.0/16) with two subnets and two groups, B (10.1.0.0/16) with one of each."""

    def __init__(self, kecs):
        self.ec2 = ec2 = kecs.client("ec2")
        self.vpc_a = make_vpc(ec2, "10.0.0.0/16")
        self.a1 = make_subnet(ec2, self.vpc_a, "10.0.1.0/24", az="us-east-1b")
        self.a2 = make_subnet(ec2, self.vpc_a, "10.0.2.0/24", az="us-east-1c")
        self.sg_a = make_group(ec2, self.vpc_a, "a")
        self.sg_a2 = make_group(ec2, self.vpc_a, "a2")
        self.vpc_b = make_vpc(ec2, "10.1.0.0/16")
        self.b1 = make_subnet(ec2, self.vpc_b, "10.1.1.0/24")
        self.sg_b = make_group(ec2, self.vpc_b, "b")


@pytest.fixture
def net(kecs):
    n = Net(kecs)
    ecs = kecs.client("ecs")
    ecs.create_cluster(clusterName="v")
    register_fargate(ecs, "fg")
    register_ec2_awsvpc(ecs, "ev")
    for mode in ("bridge", "host", "none"):
        ecs.register_task_definition(family=mode, networkMode=mode, containerDefinitions=[container("c", memory=16)])
    ecs.register_task_definition(family="nomode", containerDefinitions=[container("c", memory=16)])
    return n


@pytest.fixture
def ecs(kecs):
    return Ecs(kecs, "boto3")


def nothing_ran(kecs, net):
    client = kecs.client("ecs")
    assert client.list_tasks(cluster="v")["taskArns"] == []
    assert client.list_tasks(cluster="v", desiredStatus="STOPPED")["taskArns"] == []
    for s in (net.a1, net.a2, net.b1):
        assert enis_in(net.ec2, s) == []


def fargate(ecs, cfg, **kw):
    return ecs.error("RunTask", cluster="v", taskDefinition="fg", launchType="FARGATE",
                     networkConfiguration=cfg, **kw)


def test_network_configuration_is_required_for_awsvpc_on_ec2(kecs, ecs, net):
    assert ecs.error("RunTask", cluster="v", taskDefinition="ev", launchType="EC2") == MUST_PROVIDE
    assert ecs.error("RunTask", cluster="v", taskDefinition="fg", launchType="EC2") == MUST_PROVIDE
    # An empty networkConfiguration is no configuration either.
    assert ecs.error("RunTask", cluster="v", taskDefinition="ev", launchType="EC2",
                     networkConfiguration={}) == MUST_PROVIDE
    assert Ecs(kecs, "cli").error("RunTask", cluster="v", taskDefinition="ev", launchType="EC2") == MUST_PROVIDE
    nothing_ran(kecs, net)


@pytest.mark.kecs_args("--strict")
def test_network_configuration_is_required_for_awsvpc_in_strict_mode(kecs, ecs, net):
    for kw in ({}, {"launchType": "FARGATE"}, {"launchType": "EC2"}):
        assert ecs.error("RunTask", cluster="v", taskDefinition="fg", **kw) == MUST_PROVIDE, kw
    nothing_ran(kecs, net)


def test_network_configuration_for_bridge_host_none_refused(kecs, ecs, net):
    for family in ("bridge", "host", "none"):
        for kw in ({}, {"launchType": "EC2"}):
            assert ecs.error("RunTask", cluster="v", taskDefinition=family,
                             networkConfiguration=netcfg([net.a1]), **kw) == NOT_VALID, (family, kw)
    assert Ecs(kecs, "cli").error("RunTask", cluster="v", taskDefinition="bridge",
                                  networkConfiguration=netcfg([net.a1])) == NOT_VALID
    nothing_ran(kecs, net)


def test_public_ip_refused_for_ec2_launch_type(kecs, ecs, net):
    for family in ("ev", "fg"):
        assert ecs.error("RunTask", cluster="v", taskDefinition=family, launchType="EC2",
                         networkConfiguration=netcfg([net.a1], public=True)) == NO_PUBLIC_IP, family
    nothing_ran(kecs, net)
    # On Fargate it is allowed.
    client = kecs.client("ecs")
    out = client.run_task(cluster="v", taskDefinition="fg", launchType="FARGATE",
                          networkConfiguration=netcfg([net.a1], public=True))
    assert len(out["tasks"]) == 1 and out["failures"] == []


def test_list_limits(kecs, ecs, net):
    ec2 = net.ec2
    subnets = [net.a1, net.a2] + [make_subnet(ec2, net.vpc_a, f"10.0.{i}.0/24") for i in range(10, 25)]
    groups = [net.sg_a, net.sg_a2] + [make_group(ec2, net.vpc_a, f"g{i}") for i in range(4)]
    assert len(subnets) == 17 and len(groups) == 6
    assert fargate(ecs, netcfg(subnets)) == (IPE, "subnets can have at most 16 items.")
    assert fargate(ecs, netcfg([net.a1], groups)) == (IPE, "securityGroups can have at most 5 items.")
    assert Ecs(kecs, "cli").error("RunTask", cluster="v", taskDefinition="fg", launchType="FARGATE",
                                  networkConfiguration=netcfg([net.a1], groups)) == (
        IPE, "securityGroups can have at most 5 items.")
    nothing_ran(kecs, net)
    # At the limits, both are accepted.
    client = kecs.client("ecs")
    out = client.run_task(cluster="v", taskDefinition="fg", launchType="FARGATE",
                          networkConfiguration=netcfg(subnets[:16], groups[:5]))
    arn = out["tasks"][0]["taskArn"]
    t = wait_status(client, "v", [arn], "RUNNING")[arn]
    [eni] = ec2.describe_network_interfaces(
        NetworkInterfaceIds=[details(eni_attachment(t))["networkInterfaceId"]])["NetworkInterfaces"]
    assert sorted(g["GroupId"] for g in eni["Groups"]) == sorted(groups[:5])


def test_unknown_subnet_and_group(kecs, ecs, net):
    ghost_subnet, ghost_sg = "subnet-0123456789abcdef0", "sg-0123456789abcdef0"
    code, message = fargate(ecs, netcfg([ghost_subnet]))
    assert code == IPE
    assert message.startswith("Error retrieving subnet information"), message
    assert ghost_subnet in message and "InvalidSubnetID.NotFound" in message
    # One unknown among known ones is enough.
    code, message = fargate(ecs, netcfg([net.a1, ghost_subnet]))
    assert code == IPE and ghost_subnet in message
    code, message = fargate(ecs, netcfg([net.a1], [net.sg_a, ghost_sg]))
    assert code == IPE
    assert message.startswith("Error retrieving security group information"), message
    assert ghost_sg in message and "InvalidGroup.NotFound" in message
    nothing_ran(kecs, net)


def test_security_group_of_another_vpc(kecs, ecs, net):
    expected = (IPE, f"Security group {net.sg_b} does not appear to belong to the same VPC as the input subnets.")
    assert fargate(ecs, netcfg([net.a1], [net.sg_a, net.sg_b])) == expected
    assert Ecs(kecs, "cli").error("RunTask", cluster="v", taskDefinition="fg", launchType="FARGATE",
                                  networkConfiguration=netcfg([net.a1], [net.sg_b])) == expected
    # The default group of another VPC is no better.
    other_default = default_group(net.ec2, net.vpc_b)
    assert fargate(ecs, netcfg([net.a1, net.a2], [other_default]))[1] == (
        f"Security group {other_default} does not appear to belong to the same VPC as the input subnets.")
    nothing_ran(kecs, net)


def test_subnets_of_two_vpcs(kecs, ecs, net):
    code, message = fargate(ecs, netcfg([net.a1, net.b1]))
    assert code == IPE and "same VPC" in message, message
    code, message = fargate(ecs, netcfg([net.b1, net.a2], [net.sg_b]))
    assert code == IPE and "same VPC" in message, message
    nothing_ran(kecs, net)


@pytest.mark.kecs_args("--strict")
def test_empty_subnets_in_strict_mode(kecs, ecs, net):
    assert fargate(ecs, {"awsvpcConfiguration": {"subnets": []}}) == (IPE, "subnets can not be empty.")
    assert fargate(ecs, {"awsvpcConfiguration": {"subnets": [], "securityGroups": [net.sg_a]}}) == (
        IPE, "subnets can not be empty.")
    nothing_ran(kecs, net)


def test_lenient_defaults_subnet_and_group(kecs, ecs, net):
    """No subnets: the default VPC's default subnet in us-east-1a; no groups: the VPC's
    default group."""
    ec2, client = net.ec2, kecs.client("ecs")
    [default_vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    [default_sub] = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]},
                                                  {"Name": "availability-zone", "Values": ["us-east-1a"]}])["Subnets"]
    before = default_sub["AvailableIpAddressCount"]
    out = client.run_task(cluster="v", taskDefinition="fg", launchType="FARGATE",
                          networkConfiguration={"awsvpcConfiguration": {"subnets": []}})
    arn1 = out["tasks"][0]["taskArn"]
    assert out["tasks"][0]["availabilityZone"] == "us-east-1a"
    assert out["tasks"][0]["attachments"][0]["details"] == [{"name": "subnetId", "value": default_sub["SubnetId"]}]
    # Groups but no subnets: the groups must be of the default VPC then.
    mine = make_group(ec2, default_vpc["VpcId"], "mine")
    assert ecs.error("RunTask", cluster="v", taskDefinition="fg", launchType="FARGATE",
                     networkConfiguration={"awsvpcConfiguration": {"subnets": [], "securityGroups": [net.sg_a]}}) == (
        IPE, f"Security group {net.sg_a} does not appear to belong to the same VPC as the input subnets.")
    out = client.run_task(cluster="v", taskDefinition="fg", launchType="FARGATE",
                          networkConfiguration={"awsvpcConfiguration": {"subnets": [], "securityGroups": [mine]}})
    arn2 = out["tasks"][0]["taskArn"]
    # A subnet of VPC A and no groups: A's default group.
    out = client.run_task(cluster="v", taskDefinition="fg", launchType="FARGATE",
                          networkConfiguration=netcfg([net.a2]))
    arn3 = out["tasks"][0]["taskArn"]
    tasks = wait_status(client, "v", [arn1, arn2, arn3], "RUNNING")

    def eni_of(arn):
        d = details(eni_attachment(tasks[arn]))
        [e] = ec2.describe_network_interfaces(NetworkInterfaceIds=[d["networkInterfaceId"]])["NetworkInterfaces"]
        return e

    for arn, group in ((arn1, default_group(ec2, default_vpc["VpcId"])), (arn2, mine)):
        e = eni_of(arn)
        assert e["SubnetId"] == default_sub["SubnetId"] and e["VpcId"] == default_vpc["VpcId"]
        assert e["AvailabilityZone"] == "us-east-1a"
        assert ipaddress.ip_address(e["PrivateIpAddress"]) in ipaddress.ip_network(default_sub["CidrBlock"])
        assert [g["GroupId"] for g in e["Groups"]] == [group]
    assert available(ec2, default_sub["SubnetId"]) == before - 2
    e = eni_of(arn3)
    assert e["SubnetId"] == net.a2 and e["AvailabilityZone"] == "us-east-1c"
    assert e["Groups"] == [{"GroupId": default_group(ec2, net.vpc_a), "GroupName": "default"}]
    assert tasks[arn3]["availabilityZone"] == "us-east-1c"


def test_task_definition_without_network_mode_runs_as_awsvpc(kecs, net):
    """Lenient: a network configuration makes a mode-less task definition's task awsvpc."""
    client = kecs.client("ecs")
    assert "networkMode" not in client.describe_task_definition(taskDefinition="nomode")["taskDefinition"]
    out = client.run_task(cluster="v", taskDefinition="nomode",
                          networkConfiguration=netcfg([net.a1], [net.sg_a]))
    assert out["failures"] == []
    [t] = out["tasks"]
    assert eni_attachment(t)["status"] == "PRECREATED"
    assert t["lastStatus"] == "PROVISIONING"
    t = wait_status(client, "v", [t["taskArn"]], "RUNNING")[t["taskArn"]]
    d = details(eni_attachment(t))
    assert d["subnetId"] == net.a1
    assert ipaddress.ip_address(d["privateIPv4Address"]) in ipaddress.ip_network("10.0.1.0/24")
    [e] = enis_in(net.ec2, net.a1)
    assert e["Groups"] == [{"GroupId": net.sg_a, "GroupName": "a"}]
    assert t["containers"][0]["networkInterfaces"][0]["privateIpv4Address"] == d["privateIPv4Address"]


@pytest.mark.kecs_args("--strict")
def test_task_definition_without_network_mode_refused_in_strict_mode(kecs, ecs, net):
    for kw in ({}, {"launchType": "EC2"}):
        assert ecs.error("RunTask", cluster="v", taskDefinition="nomode",
                         networkConfiguration=netcfg([net.a1]), **kw) == NOT_VALID, kw
    nothing_ran(kecs, net)


def unvalidated_ecs(kecs):
    """boto3 without its own parameter validation, to send what the model calls required."""
    import boto3
    import botocore.config
    return boto3.client("ecs", endpoint_url=kecs.endpoint, region_name="us-east-1",
                        aws_access_key_id="AKIDKECSTEST", aws_secret_access_key="secret",
                        config=botocore.config.Config(retries={"max_attempts": 1}, parameter_validation=False))


def test_lenient_absent_subnets_and_implied_fargate(kecs, net):
    client = unvalidated_ecs(kecs)
    [default_sub] = net.ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]},
                                                      {"Name": "availability-zone", "Values": ["us-east-1a"]}])["Subnets"]
    # No subnets member at all, and no launch type: FARGATE in the default subnet. "ev" is
    # EC2-only, which lenient mode lets through for an awsvpc task.
    arns = []
    for family in ("fg", "ev"):
        out = client.run_task(cluster="v", taskDefinition=family,
                              networkConfiguration={"awsvpcConfiguration": {"assignPublicIp": "DISABLED"}})
        [t] = out["tasks"]
        assert t["launchType"] == "FARGATE", family
        assert "containerInstanceArn" not in t
        assert t["attachments"][0]["details"] == [{"name": "subnetId", "value": default_sub["SubnetId"]}]
        arns.append(t["taskArn"])
    tasks = wait_status(client, "v", arns, "RUNNING")
    assert {details(eni_attachment(t))["subnetId"] for t in tasks.values()} == {default_sub["SubnetId"]}


@pytest.mark.kecs_args("--strict")
def test_strict_absent_subnets(kecs, net):
    import botocore.exceptions
    client = unvalidated_ecs(kecs)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client.run_task(cluster="v", taskDefinition="fg", launchType="FARGATE",
                        networkConfiguration={"awsvpcConfiguration": {"assignPublicIp": "DISABLED"}})
    err = e.value.response["Error"]
    assert (err["Code"], err["Message"]) == (
        IPE, "1 validation error detected: Value null at 'networkConfiguration.awsvpcConfiguration.subnets' "
             "failed to satisfy constraint: Member must not be null")
    nothing_ran(kecs, net)
