"""Issue 20 review: network-interface address requests at the edges (counts beyond 32 bits,
IPv6-only interfaces asked for IPv4 addresses, Ipv6AddressCount 0) refuse with EC2's errors and
change nothing."""
import pytest

from conftest import v6_subnet
from test_ec2_network_interfaces import available, boto_error
from test_ec2_parity_enis import addresses

TOO_MANY_V4 = ("PrivateIpAddressLimitExceeded", "Number of private addresses will exceed limit.")
TOO_MANY_V6 = ("PrivateIpAddressLimitExceeded", "Number of IPv6 addresses will exceed limit.")


@pytest.fixture
def net(kecs):
    ec2 = kecs.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.41.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    v6 = vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    sub = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.41.1.0/24",
                            Ipv6CidrBlock=v6_subnet(v6, 1))["Subnet"]["SubnetId"]
    only6 = ec2.create_subnet(VpcId=vpc["VpcId"], Ipv6Native=True,
                              Ipv6CidrBlock=v6_subnet(v6, 2))["Subnet"]["SubnetId"]
    return ec2, sub, only6


def test_counts_beyond_32_bits_are_over_the_limit(net):
    # A count that wraps to a small int when narrowed must not assign that small number.
    ec2, sub, _ = net
    before = available(ec2, sub)
    for count in (2**32 + 1, 2**40, 2**63 - 1):
        assert boto_error(ec2.create_network_interface, SubnetId=sub,
                          SecondaryPrivateIpAddressCount=count) == TOO_MANY_V4, count
        assert boto_error(ec2.create_network_interface, SubnetId=sub, Ipv6AddressCount=count) == TOO_MANY_V6, count
    assert available(ec2, sub) == before
    eni = ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]
    eni_id = eni["NetworkInterfaceId"]
    for count in (2**32 + 1, 2**40, 2**63 - 1):
        assert boto_error(ec2.assign_private_ip_addresses, NetworkInterfaceId=eni_id,
                          SecondaryPrivateIpAddressCount=count) == TOO_MANY_V4, count
        assert boto_error(ec2.assign_ipv6_addresses, NetworkInterfaceId=eni_id,
                          Ipv6AddressCount=count) == TOO_MANY_V6, count
    assert addresses(ec2, eni_id) == [(eni["PrivateIpAddress"], True)]
    got = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]
    assert got["Ipv6Addresses"] == eni["Ipv6Addresses"]
    assert available(ec2, sub) == before - 1


def test_ipv6_only_interfaces_get_no_ipv4_addresses(net):
    # Asked for IPv4 secondaries, an IPv6-only subnet's interface refuses (it dropped the
    # count silently at creation, and AssignPrivateIpAddresses answered a 500).
    ec2, _, only6 = net
    no_v4 = ("InvalidParameterValue", f"The subnet '{only6}' does not have an IPv4 CIDR block.")
    assert boto_error(ec2.create_network_interface, SubnetId=only6, SecondaryPrivateIpAddressCount=2) == no_v4
    assert ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [only6]}])[
        "NetworkInterfaces"] == []
    eni = ec2.create_network_interface(SubnetId=only6)["NetworkInterface"]["NetworkInterfaceId"]
    assert boto_error(ec2.assign_private_ip_addresses, NetworkInterfaceId=eni,
                      SecondaryPrivateIpAddressCount=1) == no_v4
    assert boto_error(ec2.assign_private_ip_addresses, NetworkInterfaceId=eni,
                      PrivateIpAddresses=["10.41.2.9"]) == no_v4
    assert addresses(ec2, eni) == []


def test_ipv6_address_count_zero_overrides_assign_on_creation(net):
    # The EC2 API reference: "If your subnet has the AssignIpv6AddressOnCreation attribute
    # set, you can override that setting by specifying 0 as the IPv6 address count."
    ec2, sub, _ = net
    ec2.modify_subnet_attribute(SubnetId=sub, AssignIpv6AddressOnCreation={"Value": True})
    assert ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]["Ipv6Addresses"]
    eni = ec2.create_network_interface(SubnetId=sub, Ipv6AddressCount=0)["NetworkInterface"]
    assert eni["Ipv6Addresses"] == [] and "Ipv6Address" not in eni
    assert boto_error(ec2.create_network_interface, SubnetId=sub, Ipv6AddressCount=-1) == (
        "InvalidParameterValue", "Value (-1) for parameter ipv6AddressCount is invalid. Value must be a positive number.")


def test_listed_secondary_is_not_taken_by_the_unchosen_primary(net):
    # Only a secondary listed, and it is the subnet's lowest free address: the primary (the
    # lowest free) is another one, not a clash with the listed address.
    ec2, sub, _ = net
    before = available(ec2, sub)
    eni = ec2.create_network_interface(SubnetId=sub, PrivateIpAddresses=[
        {"PrivateIpAddress": "10.41.1.4", "Primary": False}])["NetworkInterface"]
    assert addresses(ec2, eni["NetworkInterfaceId"]) == [("10.41.1.5", True), ("10.41.1.4", False)]
    assert available(ec2, sub) == before - 2
