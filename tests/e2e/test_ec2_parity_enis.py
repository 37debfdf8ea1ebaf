"""Issue 20: network interfaces as AWS has them: secondary private IPv4 and IPv6 addresses
at creation and later (Assign/Unassign*), their accounting in the subnet, RequesterId, and
(root only) the addresses configured on a running awsvpc task's interface."""
import subprocess

import pytest

from conftest import (CLIENT_ERROR, TIMEOUT, Probe, http_probe, is_root, served, v6_subnet, wait_answered,
                      wait_for)
from test_ec2_network_interfaces import available, boto_error


def addresses(ec2, eni_id):
    e = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]
    return [(a["PrivateIpAddress"], a["Primary"]) for a in e["PrivateIpAddresses"]]


@pytest.fixture
def net(kecs):
    ec2 = kecs.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    v6 = vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    sub = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.40.1.0/24", AvailabilityZone="us-east-1a",
                            Ipv6CidrBlock=v6_subnet(v6, 1))["Subnet"]
    v4only = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.40.2.0/24")["Subnet"]["SubnetId"]
    return ec2, sub["SubnetId"], sub["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"], v4only


def test_create_with_several_private_addresses(net):
    ec2, sub, _, _ = net
    before = available(ec2, sub)
    eni = ec2.create_network_interface(SubnetId=sub, PrivateIpAddresses=[
        {"PrivateIpAddress": "10.40.1.20", "Primary": False},
        {"PrivateIpAddress": "10.40.1.10", "Primary": True},
        {"PrivateIpAddress": "10.40.1.30", "Primary": False}])["NetworkInterface"]
    assert eni["PrivateIpAddress"] == "10.40.1.10"
    assert [(a["PrivateIpAddress"], a["Primary"], a["PrivateDnsName"]) for a in eni["PrivateIpAddresses"]] == [
        ("10.40.1.10", True, "ip-10-40-1-10.ec2.internal"),
        ("10.40.1.20", False, "ip-10-40-1-20.ec2.internal"),
        ("10.40.1.30", False, "ip-10-40-1-30.ec2.internal")]
    assert available(ec2, sub) == before - 3
    # Secondary addresses show in the addresses.* filters and are taken in the subnet.
    got = ec2.describe_network_interfaces(Filters=[{"Name": "addresses.private-ip-address", "Values": ["10.40.1.30"]}])
    assert [e["NetworkInterfaceId"] for e in got["NetworkInterfaces"]] == [eni["NetworkInterfaceId"]]
    assert boto_error(ec2.create_network_interface, SubnetId=sub, PrivateIpAddress="10.40.1.20") == (
        "InvalidIPAddress.InUse", "The specified address is already in use.")

    # A count of secondaries: the lowest free addresses after the primary.
    two = ec2.create_network_interface(SubnetId=sub, SecondaryPrivateIpAddressCount=2)["NetworkInterface"]
    assert [(a["PrivateIpAddress"], a["Primary"]) for a in two["PrivateIpAddresses"]] == [
        ("10.40.1.4", True), ("10.40.1.5", False), ("10.40.1.6", False)]
    # A primary in the list with a count.
    three = ec2.create_network_interface(SubnetId=sub, SecondaryPrivateIpAddressCount=1, PrivateIpAddresses=[
        {"PrivateIpAddress": "10.40.1.50", "Primary": True}])["NetworkInterface"]
    assert addresses(ec2, three["NetworkInterfaceId"]) == [("10.40.1.50", True), ("10.40.1.7", False)]
    # Only secondaries listed: the primary is the lowest free address.
    four = ec2.create_network_interface(SubnetId=sub, PrivateIpAddresses=[
        {"PrivateIpAddress": "10.40.1.60", "Primary": False}])["NetworkInterface"]
    assert addresses(ec2, four["NetworkInterfaceId"]) == [("10.40.1.8", True), ("10.40.1.60", False)]
    ec2.delete_network_interface(NetworkInterfaceId=four["NetworkInterfaceId"])
    assert available(ec2, sub) == before - 8
    for e in (eni, two, three):
        ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
    assert available(ec2, sub) == before


def test_create_refuses_what_aws_refuses(net):
    ec2, sub, _, _ = net
    before = available(ec2, sub)
    cases = [
        (dict(PrivateIpAddresses=[{"PrivateIpAddress": "10.40.1.10", "Primary": True},
                                  {"PrivateIpAddress": "10.40.1.11", "Primary": True}]),
         ("InvalidParameterValue", "Only one primary private IP address can be specified.")),
        (dict(PrivateIpAddress="10.40.1.12", PrivateIpAddresses=[{"PrivateIpAddress": "10.40.1.10", "Primary": True}]),
         ("InvalidParameterValue", "Only one primary private IP address can be specified.")),
        (dict(PrivateIpAddress="10.40.1.10", PrivateIpAddresses=[{"PrivateIpAddress": "10.40.1.10", "Primary": False}]),
         ("InvalidParameterValue", "address value can't be both primary and secondary")),
        (dict(PrivateIpAddresses=[{"PrivateIpAddress": "10.40.1.10", "Primary": False},
                                  {"PrivateIpAddress": "10.40.1.10", "Primary": False}]),
         ("InvalidParameterValue", "Duplicate private IP address.")),
        (dict(SecondaryPrivateIpAddressCount=1, PrivateIpAddresses=[{"PrivateIpAddress": "10.40.1.10", "Primary": False}]),
         ("InvalidParameterValue", "You can specify one and only one secondaryPrivateIpAddressCount or "
          "secondaryPrivateIpAddressCount or ipv4Prefixes or ipv4PrefixCount.")),
        (dict(SecondaryPrivateIpAddressCount=0),
         ("InvalidParameterValue", "Value (0) for parameter secondaryPrivateIpAddressCount is invalid. "
          "Value must be a positive number.")),
        (dict(PrivateIpAddresses=[{"PrivateIpAddress": "10.40.9.10", "Primary": False}]),
         ("InvalidParameterValue", "Address 10.40.9.10 does not fall within the subnet's address range")),
        (dict(PrivateIpAddresses=[{"PrivateIpAddress": "10.40.1.2", "Primary": False}]),
         ("InvalidParameterValue", "Address 10.40.1.2 is in subnet's reserved address range")),
        (dict(PrivateIpAddresses=[{"PrivateIpAddress": "10.40.1.x", "Primary": False}]),
         ("InvalidParameterValue", "invalid value for parameter address: 10.40.1.x")),
        (dict(SecondaryPrivateIpAddressCount=50),
         ("PrivateIpAddressLimitExceeded", "Number of private addresses will exceed limit.")),
    ]
    for kwargs, want in cases:
        assert boto_error(ec2.create_network_interface, SubnetId=sub, **kwargs) == want, kwargs
    assert available(ec2, sub) == before  # nothing was left allocated by a refused request


def test_create_with_ipv6_addresses(net):
    ec2, sub, block, v4only = net
    prefix = block.split("::/")[0]
    chosen = f"{prefix}::abcd"
    eni = ec2.create_network_interface(SubnetId=sub, Ipv6Addresses=[{"Ipv6Address": chosen}])["NetworkInterface"]
    assert [a["Ipv6Address"] for a in eni["Ipv6Addresses"]] == [chosen]
    counted = ec2.create_network_interface(SubnetId=sub, Ipv6AddressCount=2)["NetworkInterface"]
    assert [a["Ipv6Address"] for a in counted["Ipv6Addresses"]] == [f"{prefix}::4", f"{prefix}::5"]
    assert boto_error(ec2.create_network_interface, SubnetId=sub, Ipv6Addresses=[{"Ipv6Address": chosen}]) == (
        "InvalidIPAddress.InUse", "The specified address is already in use.")
    assert boto_error(ec2.create_network_interface, SubnetId=v4only, Ipv6AddressCount=1) == (
        "InvalidParameterValue", f"The subnet '{v4only}' does not have an IPv6 CIDR block.")
    seen = ec2.describe_network_interfaces(Filters=[{"Name": "ipv6-addresses.ipv6-address", "Values": [chosen]}])
    assert [e["NetworkInterfaceId"] for e in seen["NetworkInterfaces"]] == [eni["NetworkInterfaceId"]]


def test_requester_id_is_the_callers_account(net):
    ec2, sub, _, _ = net
    eni = ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]
    account = eni["OwnerId"]
    assert account == "000000000000"  # the daemon's account
    assert eni["RequesterId"] == account and eni["RequesterManaged"] is False
    got = ec2.describe_network_interfaces(Filters=[{"Name": "requester-id", "Values": [account]}])
    assert [e["NetworkInterfaceId"] for e in got["NetworkInterfaces"]] == [eni["NetworkInterfaceId"]]


def test_assign_and_unassign_private_addresses(kecs, net):
    ec2, sub, _, _ = net
    eni = ec2.create_network_interface(SubnetId=sub, PrivateIpAddress="10.40.1.10")["NetworkInterface"]["NetworkInterfaceId"]
    before = available(ec2, sub)
    out = ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, PrivateIpAddresses=["10.40.1.20", "10.40.1.21"])
    assert out["NetworkInterfaceId"] == eni
    assert out["AssignedPrivateIpAddresses"] == [{"PrivateIpAddress": "10.40.1.20"}, {"PrivateIpAddress": "10.40.1.21"}]
    out = kecs.aws("ec2", "assign-private-ip-addresses", "--network-interface-id", eni,
                   "--secondary-private-ip-address-count", "2")
    assert out["AssignedPrivateIpAddresses"] == [{"PrivateIpAddress": "10.40.1.4"}, {"PrivateIpAddress": "10.40.1.5"}]
    assert addresses(ec2, eni) == [("10.40.1.10", True), ("10.40.1.20", False), ("10.40.1.21", False),
                                   ("10.40.1.4", False), ("10.40.1.5", False)]
    assert available(ec2, sub) == before - 4

    kecs.aws("ec2", "unassign-private-ip-addresses", "--network-interface-id", eni,
             "--private-ip-addresses", "10.40.1.20", "10.40.1.4")
    assert addresses(ec2, eni) == [("10.40.1.10", True), ("10.40.1.21", False), ("10.40.1.5", False)]
    assert available(ec2, sub) == before - 2
    # A freed address can be taken again by anyone.
    other = ec2.create_network_interface(SubnetId=sub, PrivateIpAddress="10.40.1.20")["NetworkInterface"]
    assert other["PrivateIpAddress"] == "10.40.1.20"

    assert boto_error(ec2.unassign_private_ip_addresses, NetworkInterfaceId=eni, PrivateIpAddresses=["10.40.1.10"]) == (
        "InvalidParameterValue", "Value (10.40.1.10) for parameter privateIpAddress is invalid. "
        "The primary IP address of an interface cannot be unassigned.")
    assert boto_error(ec2.unassign_private_ip_addresses, NetworkInterfaceId=eni, PrivateIpAddresses=["10.40.1.99"]) == (
        "InvalidParameterValue", f"Some of the specified addresses are not assigned to interface {eni}")
    assert boto_error(ec2.assign_private_ip_addresses, NetworkInterfaceId=eni) == (
        "InvalidParameter", "One of privateIpAddressSet or privateIpAddressCount or ipv4PrefixSet or "
        "ipv4PrefixCount must be specified.")
    assert boto_error(ec2.assign_private_ip_addresses, NetworkInterfaceId=eni, PrivateIpAddresses=["10.40.1.30"],
                      SecondaryPrivateIpAddressCount=1) == (
        "InvalidParameterCombination", "You may specify one and only one of privateIpAddressSet or "
        "secondaryPrivateIpAddressCount or ipv4Prefixes or ipv4PrefixCount, but not more than one of them.")
    assert boto_error(ec2.assign_private_ip_addresses, NetworkInterfaceId=eni, PrivateIpAddresses=["10.40.1.255"]) == (
        "InvalidParameterValue", "Address 10.40.1.255 is in subnet's reserved range.")
    assert boto_error(ec2.assign_private_ip_addresses, NetworkInterfaceId=eni, PrivateIpAddresses=["10.41.1.9"]) == (
        "InvalidParameterValue", "Address does not fall within the subnet's address range")
    assert boto_error(ec2.assign_private_ip_addresses, NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=48) == (
        "PrivateIpAddressLimitExceeded", "Number of private addresses will exceed limit.")
    assert boto_error(ec2.assign_private_ip_addresses, NetworkInterfaceId="eni-00000000000000000",
                      SecondaryPrivateIpAddressCount=1) == (
        "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID 'eni-00000000000000000' does not exist")
    assert addresses(ec2, eni) == [("10.40.1.10", True), ("10.40.1.21", False), ("10.40.1.5", False)]


def test_assign_moves_a_secondary_only_with_allow_reassignment(net):
    ec2, sub, _, _ = net
    a = ec2.create_network_interface(SubnetId=sub, PrivateIpAddress="10.40.1.10")["NetworkInterface"]["NetworkInterfaceId"]
    b = ec2.create_network_interface(SubnetId=sub, PrivateIpAddress="10.40.1.11")["NetworkInterface"]["NetworkInterfaceId"]
    ec2.assign_private_ip_addresses(NetworkInterfaceId=a, PrivateIpAddresses=["10.40.1.20"])
    before = available(ec2, sub)
    assert boto_error(ec2.assign_private_ip_addresses, NetworkInterfaceId=b, PrivateIpAddresses=["10.40.1.20"]) == (
        "InvalidParameterValue", "[10.40.1.20] assigned, but move is not allowed.")
    out = ec2.assign_private_ip_addresses(NetworkInterfaceId=b, PrivateIpAddresses=["10.40.1.20"], AllowReassignment=True)
    assert out["AssignedPrivateIpAddresses"] == [{"PrivateIpAddress": "10.40.1.20"}]
    assert addresses(ec2, a) == [("10.40.1.10", True)]
    assert addresses(ec2, b) == [("10.40.1.11", True), ("10.40.1.20", False)]
    assert available(ec2, sub) == before
    # A primary address never moves.
    assert boto_error(ec2.assign_private_ip_addresses, NetworkInterfaceId=b, PrivateIpAddresses=["10.40.1.10"],
                      AllowReassignment=True)[0] == "InvalidParameterValue"
    # Deleting the interface releases its secondaries too.
    ec2.delete_network_interface(NetworkInterfaceId=b)
    assert available(ec2, sub) == before + 2


def test_assign_and_unassign_ipv6_addresses(kecs, net):
    ec2, sub, block, v4only = net
    prefix = block.split("::/")[0]
    eni = ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]["NetworkInterfaceId"]
    out = ec2.assign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6AddressCount=2)
    assert (out["NetworkInterfaceId"], out["AssignedIpv6Addresses"]) == (eni, [f"{prefix}::4", f"{prefix}::5"])
    out = kecs.aws("ec2", "assign-ipv6-addresses", "--network-interface-id", eni, "--ipv6-addresses", f"{prefix}::beef")
    assert out["AssignedIpv6Addresses"] == [f"{prefix}::beef"]
    got = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]
    assert [a["Ipv6Address"] for a in got["Ipv6Addresses"]] == [f"{prefix}::4", f"{prefix}::5", f"{prefix}::beef"]

    out = ec2.unassign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6Addresses=[f"{prefix}::4"])
    assert out["UnassignedIpv6Addresses"] == [f"{prefix}::4"] and out["NetworkInterfaceId"] == eni
    got = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]
    assert [a["Ipv6Address"] for a in got["Ipv6Addresses"]] == [f"{prefix}::5", f"{prefix}::beef"]
    # The freed address is handed out again.
    other = ec2.create_network_interface(SubnetId=sub, Ipv6AddressCount=1)["NetworkInterface"]
    assert [a["Ipv6Address"] for a in other["Ipv6Addresses"]] == [f"{prefix}::4"]

    assert boto_error(ec2.unassign_ipv6_addresses, NetworkInterfaceId=eni, Ipv6Addresses=[f"{prefix}::99"]) == (
        "InvalidParameterValue", f"Some of the specified addresses are not assigned to interface {eni}")
    assert boto_error(ec2.assign_ipv6_addresses, NetworkInterfaceId=eni, Ipv6Addresses=[f"{prefix}::4"]) == (
        "InvalidIPAddress.InUse", "The specified address is already in use.")
    assert boto_error(ec2.assign_ipv6_addresses, NetworkInterfaceId=eni, Ipv6AddressCount=49) == (
        "PrivateIpAddressLimitExceeded", "Number of IPv6 addresses will exceed limit.")
    plain = ec2.create_network_interface(SubnetId=v4only)["NetworkInterface"]["NetworkInterfaceId"]
    assert boto_error(ec2.assign_ipv6_addresses, NetworkInterfaceId=plain, Ipv6AddressCount=1) == (
        "InvalidParameterValue", f"The subnet '{v4only}' does not have an IPv6 CIDR block.")


# ---------------------------------------------------------------------------------------
# The data plane (root only): an awsvpc task's secondary addresses on its eth0, filtered by
# its security groups like its primary address.

PAGE = served("hello from kecs\n")


def eth0_addresses(netns):
    out = subprocess.run(["ip", "netns", "exec", netns, "ip", "-o", "addr", "show", "dev", "eth0"],
                         capture_output=True, text=True, check=True).stdout
    return {line.split()[3] for line in out.splitlines()}


def get_from(netns, ip, source=None, timeout=2):
    """A GET of http://ip/ from inside `netns`, from address `source` when given."""
    url = f"http://{ip}/"
    if source is None:
        return http_probe(url, netns=netns, timeout=timeout)
    cmd = ["ip", "netns", "exec", netns, "curl", "-sS", "--interface", source, "--max-time", str(timeout), url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 10)
    if p.returncode == 0:
        return served(p.stdout)
    return Probe(TIMEOUT if p.returncode == 28 else CLIENT_ERROR, detail=f"curl exit {p.returncode}: {p.stderr}")


@pytest.mark.skipif(not is_root(), reason="the local runtime needs root")
def test_secondary_addresses_on_a_running_tasks_interface(local_kecs):
    k = local_kecs
    ec2, ecs = k.client("ec2"), k.client("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.61.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    groups = {n: ec2.create_security_group(GroupName=n, Description=n, VpcId=vpc)["GroupId"] for n in ("web", "ok", "no")}
    # web admits tcp/80 from the group "ok" only; "ok" admits tcp/80 from web.
    for target, source in (("web", "ok"), ("ok", "web")):
        ec2.authorize_security_group_ingress(GroupId=groups[target], IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": groups[source]}]}])
    ecs.create_cluster(clusterName="eni")
    ecs.register_task_definition(
        family="web", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "web", "image": "nginx:latest", "portMappings": [{"containerPort": 80}],
                               "stopTimeout": 1}])

    def task(group):
        arn = ecs.run_task(cluster="eni", taskDefinition="web", launchType="FARGATE", networkConfiguration={
            "awsvpcConfiguration": {"subnets": [sub], "securityGroups": [groups[group]]}})["tasks"][0]["taskArn"]

        def running():
            t = ecs.describe_tasks(cluster="eni", tasks=[arn])["tasks"][0]
            assert t["lastStatus"] != "STOPPED", t.get("stoppedReason")
            return t if t["lastStatus"] == "RUNNING" else None
        t = wait_for(running, timeout=60, what="RUNNING")
        d = {x["name"]: x["value"] for x in t["attachments"][0]["details"]}
        return {"ip": d["privateIPv4Address"], "eni": d["networkInterfaceId"],
                "ns": f"{k.prefix}-t-{arn.rsplit('/', 1)[1]}"}

    web, ok, no = task("web"), task("ok"), task("no")
    assert get_from(ok["ns"], web["ip"]) == PAGE

    secondary = ec2.assign_private_ip_addresses(NetworkInterfaceId=web["eni"], SecondaryPrivateIpAddressCount=1)[
        "AssignedPrivateIpAddresses"][0]["PrivateIpAddress"]
    wait_for(lambda: f"{secondary}/32" in eth0_addresses(web["ns"]), timeout=30, what="the address on eth0")
    # The task's listener answers at the secondary address; its groups govern it as the
    # primary: "ok" is admitted, "no" is dropped.
    assert wait_answered(lambda: get_from(ok["ns"], secondary), "GET of the secondary address") == PAGE
    assert get_from(no["ns"], secondary).outcome == TIMEOUT
    # Rules naming the task's group admit traffic from its secondary address: "ok" admits
    # tcp/80 from web, whichever of web's addresses the connection comes from.
    assert get_from(web["ns"], ok["ip"], source=secondary) == PAGE

    ec2.unassign_private_ip_addresses(NetworkInterfaceId=web["eni"], PrivateIpAddresses=[secondary])
    wait_for(lambda: f"{secondary}/32" not in eth0_addresses(web["ns"]), timeout=30, what="the address gone")
    assert get_from(ok["ns"], secondary) != PAGE
    assert get_from(ok["ns"], web["ip"]) == PAGE  # the primary address is untouched


@pytest.mark.skipif(not is_root(), reason="the local runtime needs root")
def test_ipv6_addresses_on_a_running_tasks_interface(local_kecs):
    k = local_kecs
    ec2, ecs = k.client("ec2"), k.client("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.62.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = v6_subnet(vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"], 1)
    sub = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.62.1.0/24", AvailabilityZone="us-east-1a",
                            Ipv6CidrBlock=block)["Subnet"]["SubnetId"]
    ecs.create_cluster(clusterName="eni6")
    ecs.register_task_definition(
        family="web", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "web", "image": "nginx:latest", "stopTimeout": 1}])
    arn = ecs.run_task(cluster="eni6", taskDefinition="web", launchType="FARGATE", networkConfiguration={
        "awsvpcConfiguration": {"subnets": [sub]}})["tasks"][0]["taskArn"]

    def running():
        t = ecs.describe_tasks(cluster="eni6", tasks=[arn])["tasks"][0]
        assert t["lastStatus"] != "STOPPED", t.get("stoppedReason")
        return t if t["lastStatus"] == "RUNNING" else None
    t = wait_for(running, timeout=60, what="RUNNING")
    eni = {x["name"]: x["value"] for x in t["attachments"][0]["details"]}["networkInterfaceId"]
    ns = f"{k.prefix}-t-{arn.rsplit('/', 1)[1]}"
    added = ec2.assign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6AddressCount=1)["AssignedIpv6Addresses"]
    assert len(added) == 1
    wait_for(lambda: f"{added[0]}/128" in eth0_addresses(ns), timeout=30, what="the IPv6 address on eth0")
    # The address the task started with can go too: the added one takes over the subnet's
    # prefix (and with it the on-link route).
    first = [a["Ipv6Address"] for a in ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])[
        "NetworkInterfaces"][0]["Ipv6Addresses"] if a["Ipv6Address"] not in added]
    assert len(first) == 1, "a task in a subnet with an IPv6 block starts with an IPv6 address"
    assert f"{first[0]}/64" in eth0_addresses(ns)
    ec2.unassign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6Addresses=first)
    wait_for(lambda: f"{first[0]}/64" not in eth0_addresses(ns), timeout=30, what="the first IPv6 address gone")
    wait_for(lambda: f"{added[0]}/64" in eth0_addresses(ns), timeout=30, what="the prefix on the added address")
    ec2.unassign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6Addresses=added)
    wait_for(lambda: f"{added[0]}/64" not in eth0_addresses(ns), timeout=30, what="the IPv6 address gone")
