"""ECS on a VPC, the acceptance flow: an awsvpc task run with a subnet and a security group
gets an ENI of that subnet, visible through both ECS and EC2, and gives it back at stop.
Driven through the real aws CLI; boto3 only polls."""
import concurrent.futures
import ipaddress
import json
import re

from test_vpc_ecs_support import (DETAIL_NAMES, attachment_arn, details, dns_name, eni_attachment,
                                  make_group, make_subnet, make_vpc, reserved, wait_status)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MAC = re.compile(r"^02(:[0-9a-f]{2}){5}$")


def cli_error(p):
    assert p.returncode != 0, p.stdout
    m = re.search(r"An error occurred \(([^)]+)\) when calling the (\w+) operation[^:]*: (.*)", p.stderr, re.S)
    assert m, p.stderr
    return m.group(1), m.group(3).strip()


def test_awsvpc_task_gets_and_returns_an_eni_cli(kecs):
    aws = kecs.aws
    vpc = aws("ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.0.1.0/24",
                 "--availability-zone", "us-east-1b")["Subnet"]
    sub = subnet["SubnetId"]
    assert subnet["AvailableIpAddressCount"] == 251
    sg = aws("ec2", "create-security-group", "--group-name", "web", "--description", "web tasks",
             "--vpc-id", vpc)["GroupId"]
    aws("ecs", "create-cluster", "--cluster-name", "acc")
    aws("ecs", "register-task-definition", "--family", "web", "--network-mode", "awsvpc",
        "--requires-compatibilities", "FARGATE", "--cpu", "256", "--memory", "512",
        "--container-definitions", json.dumps([{"name": "web", "image": "nginx:latest"}]))

    run = aws("ecs", "run-task", "--cluster", "acc", "--task-definition", "web", "--launch-type", "FARGATE",
              "--network-configuration",
              f"awsvpcConfiguration={{subnets=[{sub}],securityGroups=[{sg}],assignPublicIp=DISABLED}}")
    assert run["failures"] == []
    [task] = run["tasks"]
    # At RunTask the attachment is only a promise: PRECREATED, and it knows only the subnet.
    [att] = task["attachments"]
    assert att["type"] == "ElasticNetworkInterface" and att["status"] == "PRECREATED"
    assert att["details"] == [{"name": "subnetId", "value": sub}]
    assert UUID.match(att["id"]), att["id"]
    assert task["lastStatus"] == "PROVISIONING"
    assert task["availabilityZone"] == "us-east-1b"     # the subnet's zone
    assert task["containers"][0]["networkInterfaces"] == []

    wait_status(kecs.client("ecs"), "acc", [task["taskArn"]], "RUNNING")
    [t] = aws("ecs", "describe-tasks", "--cluster", "acc", "--tasks", task["taskArn"])["tasks"]
    att = eni_attachment(t)
    assert att["id"] == task["attachments"][0]["id"] and att["status"] == "ATTACHED"
    assert [d["name"] for d in att["details"]] == DETAIL_NAMES
    d = details(att)
    ip, eni_id = d["privateIPv4Address"], d["networkInterfaceId"]
    assert d["subnetId"] == sub
    assert eni_id.startswith("eni-")
    assert MAC.match(d["macAddress"]), d["macAddress"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.0.1.0/24")
    assert ip not in reserved("10.0.1.0/24")
    assert d["privateDnsName"] == dns_name(ip) == f"ip-{ip.replace('.', '-')}.ec2.internal"
    assert t["containers"][0]["networkInterfaces"] == [{"attachmentId": att["id"], "privateIpv4Address": ip}]

    # EC2's view of the same interface.
    [eni] = aws("ec2", "describe-network-interfaces", "--network-interface-ids", eni_id)["NetworkInterfaces"]
    assert eni["RequesterManaged"] is True
    assert eni["Status"] == "in-use"
    assert eni["InterfaceType"] == "interface"
    assert eni["Description"] == attachment_arn(att["id"]) == f"arn:aws:ecs:us-east-1:000000000000:attachment/{att['id']}"
    assert eni["Groups"] == [{"GroupId": sg, "GroupName": "web"}]
    assert (eni["SubnetId"], eni["VpcId"], eni["AvailabilityZone"]) == (sub, vpc, "us-east-1b")
    assert (eni["PrivateIpAddress"], eni["MacAddress"], eni["PrivateDnsName"]) == (ip, d["macAddress"], d["privateDnsName"])

    # Each filter finds it (and requester-managed=false does not); the CLI calls run together.
    filters = [f"Name=subnet-id,Values={sub}", f"Name=group-id,Values={sg}",
               f"Name=private-ip-address,Values={ip}", "Name=requester-managed,Values=true",
               "Name=requester-managed,Values=false"]
    subnet_after = lambda: aws("ec2", "describe-subnets", "--subnet-ids", sub)["Subnets"][0]  # noqa: E731
    with concurrent.futures.ThreadPoolExecutor(len(filters) + 1) as ex:
        found = list(ex.map(lambda f: aws("ec2", "describe-network-interfaces", "--filters", f)["NetworkInterfaces"],
                            filters))
        count = ex.submit(subnet_after).result()["AvailableIpAddressCount"]
    for f, got in zip(filters[:-1], found[:-1]):
        assert [e["NetworkInterfaceId"] for e in got] == [eni_id], f
    assert eni_id not in [e["NetworkInterfaceId"] for e in found[-1]]
    assert count == 250      # exactly one address taken

    # Stop: the ENI goes, the attachment reads DELETED, the address comes back.
    aws("ecs", "stop-task", "--cluster", "acc", "--task", task["taskArn"])
    wait_status(kecs.client("ecs"), "acc", [task["taskArn"]], "STOPPED")
    [t] = aws("ecs", "describe-tasks", "--cluster", "acc", "--tasks", task["taskArn"])["tasks"]
    assert eni_attachment(t)["status"] == "DELETED"
    assert eni_attachment(t)["id"] == att["id"]
    code, message = cli_error(aws("ec2", "describe-network-interfaces", "--network-interface-ids", eni_id, raw=True))
    assert code == "InvalidNetworkInterfaceID.NotFound"
    assert eni_id in message
    assert subnet_after()["AvailableIpAddressCount"] == 251


def test_private_dns_name_outside_us_east_1(kecs):
    region = "us-west-2"
    ec2, ecs = kecs.client("ec2", region=region), kecs.client("ecs", region=region)
    vpc = make_vpc(ec2, "10.7.0.0/16")
    sub = make_subnet(ec2, vpc, "10.7.3.0/24", az="us-west-2c")
    sg = make_group(ec2, vpc, "w")
    kecs.aws("ecs", "register-task-definition", "--family", "w", "--network-mode", "awsvpc",
             "--requires-compatibilities", "FARGATE", "--cpu", "256", "--memory", "512",
             "--container-definitions", json.dumps([{"name": "w", "image": "nginx"}]), region=region)
    run = kecs.aws("ecs", "run-task", "--task-definition", "w", "--launch-type", "FARGATE",
                   "--network-configuration", f"awsvpcConfiguration={{subnets=[{sub}],securityGroups=[{sg}]}}",
                   region=region)
    arn = run["tasks"][0]["taskArn"]
    assert arn.startswith("arn:aws:ecs:us-west-2:000000000000:task/default/")
    wait_status(ecs, "default", [arn], "RUNNING")
    [t] = kecs.aws("ecs", "describe-tasks", "--tasks", arn, region=region)["tasks"]
    d = details(eni_attachment(t))
    ip = d["privateIPv4Address"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.7.3.0/24")
    assert d["privateDnsName"] == f"ip-{ip.replace('.', '-')}.us-west-2.compute.internal"
    assert t["availabilityZone"] == "us-west-2c"
    [eni] = ec2.describe_network_interfaces(NetworkInterfaceIds=[d["networkInterfaceId"]])["NetworkInterfaces"]
    assert eni["PrivateDnsName"] == d["privateDnsName"]
    assert eni["Description"] == attachment_arn(eni_attachment(t)["id"], region)
    # The same VPC id is unknown in us-east-1: regions do not share networks.
    assert kecs.client("ec2").describe_network_interfaces(
        Filters=[{"Name": "subnet-id", "Values": [sub]}])["NetworkInterfaces"] == []


def test_a_task_eni_holds_its_subnet_group_and_vpc(kecs):
    """While a task's ENI exists, EC2 refuses to delete it or what it sits in; once the task
    stopped, all of them can go."""
    import botocore.exceptions
    import pytest
    ec2, ecs = kecs.client("ec2"), kecs.client("ecs")
    vpc = make_vpc(ec2, "10.0.0.0/16")
    sub = make_subnet(ec2, vpc, "10.0.1.0/24")
    sg = make_group(ec2, vpc, "g")
    ecs.register_task_definition(family="fg", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                 cpu="256", memory="512", containerDefinitions=[{"name": "c", "image": "x"}])
    arn = ecs.run_task(taskDefinition="fg", launchType="FARGATE", networkConfiguration={
        "awsvpcConfiguration": {"subnets": [sub], "securityGroups": [sg]}})["tasks"][0]["taskArn"]
    eni = details(eni_attachment(wait_status(ecs, "default", [arn], "RUNNING")[arn]))["networkInterfaceId"]

    def error(call, **kw):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call(**kw)
        return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]

    assert error(ec2.delete_network_interface, NetworkInterfaceId=eni) == (
        "InvalidParameterValue", f"Network interface '{eni}' is currently in use.")
    assert error(ec2.delete_subnet, SubnetId=sub) == (
        "DependencyViolation", f"The subnet '{sub}' has dependencies and cannot be deleted.")
    assert error(ec2.delete_security_group, GroupId=sg) == (
        "DependencyViolation", f"resource {sg} has a dependent object")
    assert error(ec2.delete_vpc, VpcId=vpc)[0] == "DependencyViolation"
    ecs.stop_task(cluster="default", task=arn)
    wait_status(ecs, "default", [arn], "STOPPED")
    ec2.delete_security_group(GroupId=sg)
    ec2.delete_subnet(SubnetId=sub)
    ec2.delete_vpc(VpcId=vpc)
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"] == []
