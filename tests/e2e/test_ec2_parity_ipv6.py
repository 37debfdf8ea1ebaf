"""EC2 IPv6 where kecs must answer as AWS does (issue 20): BYOIP parameters, up to five
IPv6 blocks per VPC, subnet IPv6 blocks of any allowed size, IPv6-only subnets, the default
security group's IPv6 egress, DescribeVpcs's IPv6 filters, and CreateSubnet's unknown VPC."""
import ipaddress
import re

from test_ec2_vpcs_subnets import boto_error


def ipv6_vpc(ec2, cidr):
    vpc = ec2.create_vpc(CidrBlock=cidr, AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    return vpc["VpcId"], ipaddress.IPv6Network(block)


def test_create_vpc_refuses_an_ipv6_block_without_or_from_an_unknown_pool(kecs):
    ec2 = kecs.client("ec2")
    before = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    assert boto_error(ec2.create_vpc, CidrBlock="10.60.0.0/16", Ipv6CidrBlock="2001:db8:1200::/56") == (
        "MissingParameter", "The request must contain the parameter ipv6Pool")
    assert boto_error(ec2.create_vpc, CidrBlock="10.60.0.0/16", Ipv6CidrBlock="2001:db8:1200::/56",
                      Ipv6Pool="ipv6pool-ec2-0123456789abcdef0") == (
        "InvalidIpv6PoolID.NotFound", "The pool ID 'ipv6pool-ec2-0123456789abcdef0' does not exist")
    # Nothing was created on the way.
    assert {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]} == before
    vpc_id = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    assert boto_error(ec2.associate_vpc_cidr_block, VpcId=vpc_id, Ipv6CidrBlock="2001:db8:1200::/56") == (
        "MissingParameter", "The request must contain the parameter ipv6Pool")
    assert ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"] == []


def test_five_ipv6_blocks_per_vpc_then_cidr_limit_exceeded(kecs):
    ec2 = kecs.client("ec2")
    vpc_id, first = ipv6_vpc(ec2, "10.61.0.0/16")
    for _ in range(4):
        a = ec2.associate_vpc_cidr_block(VpcId=vpc_id, AmazonProvidedIpv6CidrBlock=True)["Ipv6CidrBlockAssociation"]
        assert a["Ipv6CidrBlockState"] == {"State": "associating"} and a["Ipv6Pool"] == "Amazon"
    blocks = [ipaddress.IPv6Network(a["Ipv6CidrBlock"])
              for a in ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"]]
    assert len(blocks) == 5 and blocks[0] == first
    assert all(b.prefixlen == 56 for b in blocks)
    assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1:])
    assert boto_error(ec2.associate_vpc_cidr_block, VpcId=vpc_id, AmazonProvidedIpv6CidrBlock=True) == (
        "CidrLimitExceeded", f"This network {vpc_id} has met its maximum number of allowed CIDRs: 5")
    # Every block has its local route in the main route table.
    rtb = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"][0]
    assert sorted(r["DestinationIpv6CidrBlock"] for r in rtb["Routes"] if "DestinationIpv6CidrBlock" in r) == \
        sorted(str(b) for b in blocks)


def test_ipv4_cidr_limit_text_has_the_id_unquoted(kecs):
    ec2 = kecs.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]["VpcId"]
    for i in range(4):
        ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock=f"10.{63 + i}.0.0/16")
    assert boto_error(ec2.associate_vpc_cidr_block, VpcId=vpc_id, CidrBlock="10.67.0.0/16") == (
        "CidrLimitExceeded", f"This network {vpc_id} has met its maximum number of allowed CIDRs: 5")


def test_subnet_ipv6_block_may_be_the_whole_vpc_block_and_must_lie_inside(kecs):
    ec2 = kecs.client("ec2")
    vpc_id, block = ipv6_vpc(ec2, "10.70.0.0/16")
    whole = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.70.0.0/24", Ipv6CidrBlock=str(block))["Subnet"]
    assert whole["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"] == str(block)
    # An interface created there gets an address of the /56.
    eni = ec2.create_network_interface(SubnetId=whole["SubnetId"], Ipv6AddressCount=1)["NetworkInterface"]
    assert ipaddress.IPv6Address(eni["Ipv6Addresses"][0]["Ipv6Address"]) in block
    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    # Another subnet's block may not overlap it.
    inner = next(block.subnets(new_prefix=64))
    assert boto_error(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.70.1.0/24", Ipv6CidrBlock=str(inner)) == (
        "InvalidSubnet.Conflict", f"The IPv6 CIDR '{inner}' conflicts with another subnet")
    ec2.delete_subnet(SubnetId=whole["SubnetId"])
    # A /60 inside is fine; a block outside the VPC's, or of a length AWS does not allow, is not.
    sixty = next(block.subnets(new_prefix=60))
    ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.70.2.0/24", Ipv6CidrBlock=str(sixty))
    outside = "2001:db8:ffff:ff00::/64"
    assert boto_error(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.70.3.0/24", Ipv6CidrBlock=outside) == (
        "InvalidSubnet.Range", f"The IPv6 CIDR '{outside}' is invalid.")
    odd = str(list(block.subnets(new_prefix=62))[8])
    assert boto_error(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.70.3.0/24", Ipv6CidrBlock=odd) == (
        "InvalidParameterValue", f"invalid value for parameter ipv6-cidr-block: {odd}")


def test_ipv6_only_subnet(kecs):
    ec2 = kecs.client("ec2")
    vpc_id, block = ipv6_vpc(ec2, "10.71.0.0/16")
    v6 = str(next(block.subnets(new_prefix=64)))
    assert boto_error(ec2.create_subnet, VpcId=vpc_id, Ipv6Native=True) == (
        "MissingParameter", "Either 'ipv6CidrBlock' or 'ipv6IpamPoolId' should be provided.")
    assert boto_error(ec2.create_subnet, VpcId=vpc_id, Ipv6Native=True, Ipv6CidrBlock=v6,
                      CidrBlock="10.71.0.0/24") == (
        "InvalidParameterCombination",
        "When specifying ipv4 parameters, cidrBlock or ipv4IpamPoolId, you cannot set ipv6Native to true.")
    sub = ec2.create_subnet(VpcId=vpc_id, Ipv6Native=True, Ipv6CidrBlock=v6)["Subnet"]
    assert sub["Ipv6Native"] is True and sub["AssignIpv6AddressOnCreation"] is True
    assert "CidrBlock" not in sub and sub["AvailableIpAddressCount"] == 0
    got = ec2.describe_subnets(Filters=[{"Name": "ipv6-native", "Values": ["true"]},
                                        {"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert [s["SubnetId"] for s in got] == [sub["SubnetId"]] and "CidrBlock" not in got[0]
    # Its interfaces have an IPv6 address and no IPv4 one.
    eni = ec2.create_network_interface(SubnetId=sub["SubnetId"])["NetworkInterface"]
    assert "PrivateIpAddress" not in eni and eni["PrivateIpAddresses"] == []
    assert ipaddress.IPv6Address(eni["Ipv6Address"]) in ipaddress.IPv6Network(v6)
    assert ec2.describe_network_interfaces(NetworkInterfaceIds=[eni["NetworkInterfaceId"]])[
        "NetworkInterfaces"][0]["Ipv6Addresses"] == eni["Ipv6Addresses"]
    code, _ = boto_error(ec2.create_network_interface, SubnetId=sub["SubnetId"], PrivateIpAddress="10.71.0.9")
    assert code == "InvalidParameterValue"
    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    # What needs an IPv4 address refuses the subnet (kecs's wording: no AWS source).
    assert boto_error(ec2.create_nat_gateway, SubnetId=sub["SubnetId"], ConnectivityType="private") == (
        "InvalidParameterValue", f"The subnet '{sub['SubnetId']}' has no IPv4 CIDR block for a NAT gateway.")
    elb = kecs.client("elbv2")
    assert boto_error(elb.create_load_balancer, Name="v6only", Type="network", Subnets=[sub["SubnetId"]]) == (
        "InvalidSubnet", f"Subnet '{sub['SubnetId']}' has no IPv4 CIDR block")
    # The security group rendering and the default VPC's subnets still describe fine.
    assert ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    assert ec2.describe_subnets()["Subnets"]


def test_ecs_refuses_an_ipv6_only_subnet_for_awsvpc(kecs):
    ec2, ecs = kecs.client("ec2"), kecs.client("ecs")
    vpc_id, block = ipv6_vpc(ec2, "10.72.0.0/16")
    sub = ec2.create_subnet(VpcId=vpc_id, Ipv6Native=True, Ipv6CidrBlock=str(block))["Subnet"]["SubnetId"]
    ecs.create_cluster(clusterName="v6")
    ecs.register_task_definition(family="v6", networkMode="awsvpc", cpu="256", memory="512",
                                 requiresCompatibilities=["FARGATE"],
                                 containerDefinitions=[{"name": "c", "image": "busybox", "essential": True}])
    net = {"awsvpcConfiguration": {"subnets": [sub]}}
    expected = ("InvalidParameterException",
                f"The subnet {sub} is IPv6-only (Ipv6Native); kecs places awsvpc tasks only in subnets "
                "with an IPv4 CIDR block.")
    assert boto_error(ecs.run_task, cluster="v6", taskDefinition="v6", launchType="FARGATE",
                      networkConfiguration=net) == expected
    assert boto_error(ecs.create_service, cluster="v6", serviceName="s", taskDefinition="v6", desiredCount=1,
                      launchType="FARGATE", networkConfiguration=net) == expected
    assert ecs.list_tasks(cluster="v6")["taskArns"] == []


def test_default_security_group_of_an_ipv6_vpc_allows_ipv6_egress(kecs):
    ec2 = kecs.client("ec2")
    all_out = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
                "PrefixListIds": [], "UserIdGroupPairs": []}]

    def default_sg(vpc_id):
        return ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                     {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]
    at_create, _ = ipv6_vpc(ec2, "10.73.0.0/16")
    assert default_sg(at_create)["IpPermissionsEgress"] == all_out
    later = ec2.create_vpc(CidrBlock="10.74.0.0/16")["Vpc"]["VpcId"]
    assert default_sg(later)["IpPermissionsEgress"][0]["Ipv6Ranges"] == []
    ec2.associate_vpc_cidr_block(VpcId=later, AmazonProvidedIpv6CidrBlock=True)
    ec2.associate_vpc_cidr_block(VpcId=later, AmazonProvidedIpv6CidrBlock=True)
    sg = default_sg(later)
    assert sg["IpPermissionsEgress"] == all_out
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [sg["GroupId"]]}])
    assert sorted(r.get("CidrIpv6", "") for r in rules["SecurityGroupRules"] if r["IsEgress"]) == ["", "::/0"]


def test_describe_vpcs_ipv6_association_filters(kecs):
    ec2 = kecs.client("ec2")
    vpc_id, block = ipv6_vpc(ec2, "10.75.0.0/16")
    plain = ec2.create_vpc(CidrBlock="10.76.0.0/16")["Vpc"]["VpcId"]
    for name, value in [("ipv6-cidr-block-association.state", "associated"),
                        ("ipv6-cidr-block-association.ipv6-pool", "Amazon"),
                        ("ipv6-cidr-block-association.ipv6-cidr-block", str(block))]:
        got = {v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": name, "Values": [value]}])["Vpcs"]}
        assert vpc_id in got and plain not in got, name
    assert ec2.describe_vpcs(Filters=[{"Name": "ipv6-cidr-block-association.state", "Values": ["disassociated"]},
                                      {"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"] == []
    # Through the CLI as well.
    cli = kecs.aws("ec2", "describe-vpcs", "--filters", "Name=ipv6-cidr-block-association.ipv6-pool,Values=Amazon",
                   f"Name=vpc-id,Values={vpc_id}")["Vpcs"]
    assert [v["VpcId"] for v in cli] == [vpc_id]


def test_modify_subnet_attribute_names_assign_ipv6_address_on_creation(kecs):
    ec2 = kecs.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.77.0.0/24")["Subnet"]["SubnetId"]
    assert boto_error(ec2.modify_subnet_attribute, SubnetId=sub, AssignIpv6AddressOnCreation={"Value": True}) == (
        "InvalidParameterValue",
        f"Invalid value 'true' for assign-ipv6-address-on-creation. Cannot set assign-ipv6-address-on-creation "
        f"to true unless the subnet ({sub}) has an IPv6 CIDR block associated with it.")
    assert ec2.describe_subnets(SubnetIds=[sub])["Subnets"][0]["AssignIpv6AddressOnCreation"] is False


def test_create_subnet_with_a_malformed_vpc_id_is_not_found(kecs):
    ec2 = kecs.client("ec2")
    for bad in ["vpc-nothex", "MalformedVpcId"]:
        assert boto_error(ec2.create_subnet, VpcId=bad, CidrBlock="10.0.0.0/24") == (
            "InvalidVpcID.NotFound", f"The vpc ID '{bad}' does not exist")
    p = kecs.aws("ec2", "create-subnet", "--vpc-id", "vpc-zz", "--cidr-block", "10.0.0.0/24", raw=True)
    assert p.returncode != 0
    err = re.sub(r" \(reached max retries: \d+\)", "", p.stderr)
    assert "(InvalidVpcID.NotFound) when calling the CreateSubnet operation: The vpc ID 'vpc-zz' does not exist" in err
