"""EC2: network interfaces and subnet address accounting."""
import concurrent.futures
import ipaddress

import botocore.exceptions
import pytest


def boto_error(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kwargs)
    err = e.value.response["Error"]
    return err["Code"], err["Message"]


def available(ec2, subnet_id):
    return ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["AvailableIpAddressCount"]


@pytest.fixture
def net(kecs):
    ec2 = kecs.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    return ec2, vpc, sub


def test_eni_crud_and_filters_cli(kecs, net):
    ec2, vpc, sub = net
    # A decoy in another VPC, so every filter below has something to leave out.
    other_vpc = ec2.create_vpc(CidrBlock="10.32.0.0/16")["Vpc"]["VpcId"]
    other_sub = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.32.1.0/24")["Subnet"]["SubnetId"]
    decoy = ec2.create_network_interface(SubnetId=other_sub, Description="decoy", TagSpecifications=[
        {"ResourceType": "network-interface", "Tags": [{"Key": "role", "Value": "web"}]}])["NetworkInterface"]
    assert decoy["PrivateIpAddress"] == "10.32.1.4"
    eni = kecs.aws("ec2", "create-network-interface", "--subnet-id", sub, "--description", "my eni",
                   "--tag-specifications", "ResourceType=network-interface,Tags=[{Key=role,Value=db}]")["NetworkInterface"]
    eni_id = eni["NetworkInterfaceId"]
    assert eni["Status"] == "available" and eni["InterfaceType"] == "interface"
    assert eni["SubnetId"] == sub and eni["VpcId"] == vpc and eni["AvailabilityZone"] == "us-east-1a"
    assert eni["PrivateIpAddress"] == "10.30.1.4"  # the lowest address AWS hands out
    assert eni["PrivateDnsName"] == "ip-10-30-1-4.ec2.internal"
    assert eni["MacAddress"].startswith("02:")
    assert eni["TagSet"] == [{"Key": "role", "Value": "db"}]
    default_sg = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                       {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]
    assert eni["Groups"] == [{"GroupId": default_sg["GroupId"], "GroupName": "default"}]
    for f in (f"Name=subnet-id,Values={sub}", f"Name=vpc-id,Values={vpc}", "Name=private-ip-address,Values=10.30.1.4",
              "Name=tag:role,Values=db", "Name=description,Values=my eni", f"Name=group-id,Values={default_sg['GroupId']}",
              f"Name=mac-address,Values={eni['MacAddress']}", f"Name=network-interface-id,Values={eni_id}",
              "Name=addresses.private-ip-address,Values=10.30.1.4"):
        got = kecs.aws("ec2", "describe-network-interfaces", "--filters", f)["NetworkInterfaces"]
        assert [e["NetworkInterfaceId"] for e in got] == [eni_id], f
    assert kecs.aws("ec2", "describe-network-interfaces", "--network-interface-ids", eni_id)[
        "NetworkInterfaces"][0]["TagSet"] == [{"Key": "role", "Value": "db"}]
    both = kecs.aws("ec2", "describe-network-interfaces", "--filters", "Name=tag-key,Values=role")["NetworkInterfaces"]
    assert sorted(e["NetworkInterfaceId"] for e in both) == sorted([eni_id, decoy["NetworkInterfaceId"]])
    via_boto = ec2.describe_network_interfaces(Filters=[{"Name": "private-ip-address", "Values": ["10.32.1.4"]}])
    assert [e["NetworkInterfaceId"] for e in via_boto["NetworkInterfaces"]] == [decoy["NetworkInterfaceId"]]
    kecs.aws("ec2", "delete-network-interface", "--network-interface-id", eni_id)
    p = kecs.aws("ec2", "describe-network-interfaces", "--network-interface-ids", eni_id, raw=True)
    assert p.returncode != 0
    assert "(InvalidNetworkInterfaceID.NotFound) when calling the DescribeNetworkInterfaces operation" in p.stderr
    assert f"The networkInterface ID '{eni_id}' does not exist" in p.stderr


def test_available_count_drops_and_recovers(kecs, net):
    ec2, _, sub = net
    assert available(ec2, sub) == 251
    ids = [ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]["NetworkInterfaceId"] for _ in range(3)]
    assert available(ec2, sub) == 248
    ec2.delete_network_interface(NetworkInterfaceId=ids[1])
    assert available(ec2, sub) == 249
    # The freed address is handed out again.
    again = ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]
    assert again["PrivateIpAddress"] == "10.30.1.5"
    for i in (ids[0], ids[2], again["NetworkInterfaceId"]):
        ec2.delete_network_interface(NetworkInterfaceId=i)
    assert available(ec2, sub) == 251


def test_fill_a_slash_28(kecs, net):
    ec2, vpc, _ = net
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.2.0/28")["Subnet"]
    assert sub["AvailableIpAddressCount"] == 11
    ips = []
    for i in range(11):
        ips.append(ec2.create_network_interface(SubnetId=sub["SubnetId"])["NetworkInterface"]["PrivateIpAddress"])
        assert available(ec2, sub["SubnetId"]) == 10 - i
    # Never the network address, .1 (router), .2 (DNS), .3 (reserved) or the broadcast.
    assert sorted(ips, key=ipaddress.ip_address) == [f"10.30.2.{i}" for i in range(4, 15)]
    assert boto_error(ec2.create_network_interface, SubnetId=sub["SubnetId"]) == (
        "InsufficientFreeAddressesInSubnet",
        "The specified subnet does not have enough free addresses to satisfy the request.")


def test_chosen_private_ip(kecs, net):
    ec2, _, sub = net
    eni = ec2.create_network_interface(SubnetId=sub, PrivateIpAddress="10.30.1.77")["NetworkInterface"]
    assert eni["PrivateIpAddress"] == "10.30.1.77"
    assert boto_error(ec2.create_network_interface, SubnetId=sub, PrivateIpAddress="10.30.1.77")[0] == \
        "InvalidIPAddress.InUse"
    assert boto_error(ec2.create_network_interface, SubnetId=sub, PrivateIpAddress="10.30.1.2")[0] == \
        "InvalidParameterValue"
    assert boto_error(ec2.create_network_interface, SubnetId=sub, PrivateIpAddress="10.99.0.5")[0] == \
        "InvalidParameterValue"


def test_security_group_limits_and_checks(kecs, net):
    ec2, vpc, sub = net
    groups = [ec2.create_security_group(GroupName=f"g{i}", Description="g", VpcId=vpc)["GroupId"] for i in range(6)]
    five = ec2.create_network_interface(SubnetId=sub, Groups=groups[:5])["NetworkInterface"]
    assert sorted(g["GroupId"] for g in five["Groups"]) == sorted(groups[:5])
    assert boto_error(ec2.create_network_interface, SubnetId=sub, Groups=groups) == (
        "SecurityGroupsPerInterfaceLimitExceeded",
        "The maximum number of security groups per interface has been reached.")
    other_vpc = ec2.create_vpc(CidrBlock="10.31.0.0/16")["Vpc"]["VpcId"]
    foreign = ec2.create_security_group(GroupName="f", Description="f", VpcId=other_vpc)["GroupId"]
    code, msg = boto_error(ec2.create_network_interface, SubnetId=sub, Groups=[foreign])
    assert code == "InvalidParameterValue" and "belong to different networks" in msg
    assert boto_error(ec2.create_network_interface, SubnetId="subnet-0123456789abcdef0") == (
        "InvalidSubnetID.NotFound", "The subnet ID 'subnet-0123456789abcdef0' does not exist")


def test_concurrent_creates_never_share_an_address(kecs, net):
    _, _, sub = net

    def create(_):
        c = kecs.client("ec2")
        return c.create_network_interface(SubnetId=sub)["NetworkInterface"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=25) as pool:
        enis = list(pool.map(create, range(100)))
    ips = [e["PrivateIpAddress"] for e in enis]
    assert len(set(ips)) == 100
    assert len({e["NetworkInterfaceId"] for e in enis}) == 100
    net_ = ipaddress.ip_network("10.30.1.0/24")
    for ip in ips:
        a = ipaddress.ip_address(ip)
        assert a in net_ and int(a) - int(net_.network_address) >= 4 and a != net_.broadcast_address
    ec2 = kecs.client("ec2")
    assert available(ec2, sub) == 151
    listed = ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [sub]}])["NetworkInterfaces"]
    assert sorted(e["PrivateIpAddress"] for e in listed) == sorted(ips)


def test_interfaces_and_allocations_survive_restart(kecs, net):
    ec2, _, sub = net
    enis = [ec2.create_network_interface(SubnetId=sub)["NetworkInterface"] for _ in range(3)]
    kecs.restart()
    ec2 = kecs.client("ec2")
    assert available(ec2, sub) == 248
    got = ec2.describe_network_interfaces(NetworkInterfaceIds=[e["NetworkInterfaceId"] for e in enis])
    assert sorted(e["PrivateIpAddress"] for e in got["NetworkInterfaces"]) == ["10.30.1.4", "10.30.1.5", "10.30.1.6"]
    # Allocations are durable: the next interface does not reuse a held address.
    assert ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]["PrivateIpAddress"] == "10.30.1.7"
