"""EC2: the default VPC kecs makes per region, zones, regions and account attributes."""
import botocore.exceptions
import pytest

ACCOUNT = "000000000000"
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"]


def default_vpc(ec2):
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    assert len(vpcs) == 1
    return vpcs[0]


def test_default_vpc_cidr_and_subnets(kecs):
    ec2 = kecs.client("ec2")
    vpc = default_vpc(ec2)
    assert vpc["CidrBlock"] == "172.31.0.0/16"
    assert vpc["IsDefault"] is True and vpc["State"] == "available"
    assert vpc["OwnerId"] == ACCOUNT and vpc["InstanceTenancy"] == "default"
    assert vpc["VpcId"].startswith("vpc-") and len(vpc["VpcId"]) == 21
    assert vpc["CidrBlockAssociationSet"][0]["CidrBlockState"]["State"] == "associated"
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    subnets.sort(key=lambda s: s["AvailabilityZone"])
    assert [s["AvailabilityZone"] for s in subnets] == ZONES
    assert [s["CidrBlock"] for s in subnets] == [f"172.31.{16 * i}.0/20" for i in range(6)]
    assert [s["AvailabilityZoneId"] for s in subnets] == [
        "use1-az6", "use1-az1", "use1-az2", "use1-az4", "use1-az3", "use1-az5"]
    for s in subnets:
        assert s["DefaultForAz"] is True and s["MapPublicIpOnLaunch"] is True
        assert s["AvailableIpAddressCount"] == 4091
        assert s["State"] == "available" and s["VpcId"] == vpc["VpcId"]
        assert s["SubnetArn"] == f"arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/{s['SubnetId']}"


def test_default_vpc_through_the_cli(kecs):
    vpcs = kecs.aws("ec2", "describe-vpcs", "--filters", "Name=isDefault,Values=true")["Vpcs"]
    assert [v["CidrBlock"] for v in vpcs] == ["172.31.0.0/16"]
    subnets = kecs.aws("ec2", "describe-subnets", "--filters", "Name=default-for-az,Values=true")["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == ZONES
    assert {s["AvailableIpAddressCount"] for s in subnets} == {4091}


def test_default_vpc_internet_gateway_and_main_route_table(kecs):
    ec2 = kecs.client("ec2")
    vpc_id = default_vpc(ec2)["VpcId"]
    igws = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]
    assert len(igws) == 1
    igw = igws[0]
    assert igw["Attachments"] == [{"State": "available", "VpcId": vpc_id}]
    assert igw["OwnerId"] == ACCOUNT
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    assert len(tables) == 1
    rtb = tables[0]
    assert rtb["Associations"][0]["Main"] is True
    assert rtb["Associations"][0]["AssociationState"] == {"State": "associated"}
    routes = {r["DestinationCidrBlock"]: r for r in rtb["Routes"]}
    assert routes["172.31.0.0/16"]["GatewayId"] == "local"
    assert routes["172.31.0.0/16"]["Origin"] == "CreateRouteTable"
    assert routes["0.0.0.0/0"]["GatewayId"] == igw["InternetGatewayId"]
    assert routes["0.0.0.0/0"]["Origin"] == "CreateRoute" and routes["0.0.0.0/0"]["State"] == "active"
    # Filters on the route itself find the same table.
    by_route = ec2.describe_route_tables(Filters=[
        {"Name": "route.gateway-id", "Values": [igw["InternetGatewayId"]]}])["RouteTables"]
    assert [t["RouteTableId"] for t in by_route] == [rtb["RouteTableId"]]


def test_default_security_group_rules(kecs):
    ec2 = kecs.client("ec2")
    vpc_id = default_vpc(ec2)["VpcId"]
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                   {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    assert len(groups) == 1
    sg = groups[0]
    assert sg["Description"] == "default VPC security group"
    assert sg["IpPermissions"] == [{"IpProtocol": "-1", "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [],
                                    "UserIdGroupPairs": [{"GroupId": sg["GroupId"], "UserId": ACCOUNT}]}]
    assert sg["IpPermissionsEgress"] == [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                                          "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}]
    # By name, GroupNames resolves in the default VPC.
    by_name = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
    assert [g["GroupId"] for g in by_name] == [sg["GroupId"]]


def test_default_network_acl(kecs):
    ec2 = kecs.client("ec2")
    vpc_id = default_vpc(ec2)["VpcId"]
    acls = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                              {"Name": "default", "Values": ["true"]}])["NetworkAcls"]
    assert len(acls) == 1
    acl = acls[0]
    assert acl["IsDefault"] is True
    entries = [(e["Egress"], e["RuleNumber"], e["RuleAction"], e["Protocol"], e["CidrBlock"])
               for e in acl["Entries"]]
    assert entries == [(True, 100, "allow", "-1", "0.0.0.0/0"), (True, 32767, "deny", "-1", "0.0.0.0/0"),
                       (False, 100, "allow", "-1", "0.0.0.0/0"), (False, 32767, "deny", "-1", "0.0.0.0/0")]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert sorted(a["SubnetId"] for a in acl["Associations"]) == sorted(s["SubnetId"] for s in subnets)
    for a in acl["Associations"]:
        assert a["NetworkAclId"] == acl["NetworkAclId"]
        assert a["NetworkAclAssociationId"].startswith("aclassoc-")


def test_each_region_has_its_own_default_vpc(kecs):
    west = kecs.client("ec2", region="us-west-2")
    vpc = default_vpc(west)
    assert vpc["CidrBlock"] == "172.31.0.0/16"
    subnets = west.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"]
    assert vpc["VpcId"] != default_vpc(kecs.client("ec2"))["VpcId"]


def test_delete_and_recreate_default_vpc(kecs):
    ec2 = kecs.client("ec2")
    vpc_id = default_vpc(ec2)["VpcId"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.create_default_vpc()
    assert e.value.response["Error"]["Code"] == "DefaultVpcAlreadyExists"
    # Tear it down the way AWS requires: subnets, the gateway, then the VPC.
    for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=s["SubnetId"])
    igw = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"][0]["InternetGatewayId"]
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    ec2.delete_vpc(VpcId=vpc_id)
    assert ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"] == []
    attrs = ec2.describe_account_attributes(AttributeNames=["default-vpc"])["AccountAttributes"]
    assert attrs[0]["AttributeValues"] == [{"AttributeValue": "none"}]
    # A deleted default VPC stays deleted across restarts.
    kecs.restart()
    ec2 = kecs.client("ec2")
    assert ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"] == []
    new = ec2.create_default_vpc()["Vpc"]
    assert new["CidrBlock"] == "172.31.0.0/16" and new["IsDefault"] is True
    assert len(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [new["VpcId"]]}])["Subnets"]) == 6


def test_describe_availability_zones(kecs):
    zones = kecs.aws("ec2", "describe-availability-zones")["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ZONES
    assert zones[0] == {"State": "available", "OptInStatus": "opt-in-not-required", "Messages": [],
                        "RegionName": "us-east-1", "ZoneName": "us-east-1a", "ZoneId": "use1-az6",
                        "GroupName": "us-east-1", "NetworkBorderGroup": "us-east-1",
                        "ZoneType": "availability-zone"}
    ec2 = kecs.client("ec2", region="eu-west-1")
    z = ec2.describe_availability_zones(ZoneNames=["eu-west-1b"])["AvailabilityZones"]
    assert [(x["ZoneName"], x["ZoneId"]) for x in z] == [("eu-west-1b", "euw1-az1")]
    z = ec2.describe_availability_zones(Filters=[{"Name": "zone-id", "Values": ["euw1-az3"]}])["AvailabilityZones"]
    assert [x["ZoneName"] for x in z] == ["eu-west-1a"]
    p = kecs.aws("ec2", "describe-availability-zones", "--filters", "Name=name,Values=x", raw=True)
    assert p.returncode != 0
    assert "(InvalidParameterValue)" in p.stderr and "The filter 'name' is invalid" in p.stderr


def test_describe_regions(kecs):
    regions = kecs.aws("ec2", "describe-regions")["Regions"]
    names = [r["RegionName"] for r in regions]
    assert "us-east-1" in names and "eu-west-3" in names and "ap-southeast-2" in names
    east = [r for r in regions if r["RegionName"] == "us-east-1"][0]
    assert east == {"Endpoint": "ec2.us-east-1.amazonaws.com", "RegionName": "us-east-1",
                    "OptInStatus": "opt-in-not-required"}
    ec2 = kecs.client("ec2")
    one = ec2.describe_regions(RegionNames=["eu-west-1"])["Regions"]
    assert [r["RegionName"] for r in one] == ["eu-west-1"]


def test_describe_account_attributes(kecs):
    ec2 = kecs.client("ec2")
    vpc_id = default_vpc(ec2)["VpcId"]
    attrs = {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]]
             for a in ec2.describe_account_attributes()["AccountAttributes"]}
    assert attrs["default-vpc"] == [vpc_id]
    assert attrs["supported-platforms"] == ["VPC"]
    assert attrs["vpc-max-security-groups-per-interface"] == ["5"]
    assert attrs["max-instances"] == ["20"]
    cli = kecs.aws("ec2", "describe-account-attributes", "--attribute-names", "default-vpc")
    assert cli["AccountAttributes"] == [{"AttributeName": "default-vpc",
                                         "AttributeValues": [{"AttributeValue": vpc_id}]}]


def test_default_vpc_survives_restart_unchanged(kecs):
    ec2 = kecs.client("ec2")
    before = default_vpc(ec2)
    subnets = sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"])
    kecs.restart()
    ec2 = kecs.client("ec2")
    after = ec2.describe_vpcs()["Vpcs"]
    assert after == [before]
    assert sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]) == subnets
    assert len(ec2.describe_internet_gateways()["InternetGateways"]) == 1
    assert len(ec2.describe_route_tables()["RouteTables"]) == 1
