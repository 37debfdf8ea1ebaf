"""Shared helpers for the ECS-on-VPC e2e tests (no tests here): VPCs and subnets made
through the EC2 API, awsvpc task definitions, and reading a task's ENI attachment."""
import ipaddress

from conftest import wait_for
from test_ecs_support import ACCOUNT, container

DETAIL_NAMES = ["subnetId", "networkInterfaceId", "macAddress", "privateDnsName", "privateIPv4Address"]


def make_vpc(ec2, cidr="10.0.0.0/16"):
    return ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]


def make_subnet(ec2, vpc, cidr, az=None):
    kw = {"VpcId": vpc, "CidrBlock": cidr}
    if az:
        kw["AvailabilityZone"] = az
    return ec2.create_subnet(**kw)["Subnet"]["SubnetId"]


def make_group(ec2, vpc, name):
    return ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]


def default_group(ec2, vpc):
    [g] = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    return g["GroupId"]


def available(ec2, subnet):
    return ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailableIpAddressCount"]


def enis_in(ec2, subnet):
    out = ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet]}])
    return out["NetworkInterfaces"]


def reserved(cidr):
    """The five addresses AWS keeps in every subnet."""
    net = ipaddress.ip_network(cidr)
    return {str(net[0]), str(net[1]), str(net[2]), str(net[3]), str(net[-1])}


def usable(cidr):
    net = ipaddress.ip_network(cidr)
    return {str(a) for a in net} - reserved(cidr)


def register_fargate(ecs_client, family="fg"):
    return ecs_client.register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
        memory="512", containerDefinitions=[container("app")])["taskDefinition"]


def register_ec2_awsvpc(ecs_client, family="ev"):
    """An awsvpc task definition small enough that only ENIs limit how many fit."""
    return ecs_client.register_task_definition(
        family=family, networkMode="awsvpc",
        containerDefinitions=[container("app", memory=16)])["taskDefinition"]


def netcfg(subnets, groups=None, public=False):
    c = {"subnets": list(subnets), "assignPublicIp": "ENABLED" if public else "DISABLED"}
    if groups is not None:
        c["securityGroups"] = list(groups)
    return {"awsvpcConfiguration": c}


def describe(client, cluster, arns):
    """Every task, in chunks of 100 (DescribeTasks' limit), keyed by ARN."""
    arns = list(arns)
    out = {}
    for i in range(0, len(arns), 100):
        got = client.describe_tasks(cluster=cluster, tasks=arns[i:i + 100])
        assert got["failures"] == [], got["failures"]
        out.update({t["taskArn"]: t for t in got["tasks"]})
    return out


def wait_status(client, cluster, arns, status, timeout=30):
    """Waits until every task has reached `status`; returns them keyed by ARN. A task that
    reaches STOPPED while RUNNING is awaited fails the wait at once."""
    arns = list(arns)

    def check():
        tasks = describe(client, cluster, arns)
        if status != "STOPPED":
            dead = [t for t in tasks.values() if t["lastStatus"] == "STOPPED"]
            assert not dead, f"tasks stopped: {[(t['taskArn'], t.get('stoppedReason')) for t in dead]}"
        return tasks if all(t["lastStatus"] == status for t in tasks.values()) else None

    return wait_for(check, timeout=timeout, interval=0.1, what=f"{len(arns)} task(s) {status}")


def eni_attachment(task):
    [a] = [a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface"]
    return a


def details(attachment):
    return {d["name"]: d["value"] for d in attachment["details"]}


def task_ip(task):
    return details(eni_attachment(task))["privateIPv4Address"]


def attachment_arn(attachment_id, region="us-east-1"):
    return f"arn:aws:ecs:{region}:{ACCOUNT}:attachment/{attachment_id}"


def dns_name(ip, region="us-east-1"):
    host = "ip-" + ip.replace(".", "-")
    return host + (".ec2.internal" if region == "us-east-1" else f".{region}.compute.internal")


def host_instance(ecs_client, cluster):
    [arn] = ecs_client.list_container_instances(cluster=cluster)["containerInstanceArns"]
    return arn
