"""EC2: internet gateways, NAT gateways and route tables."""
import re

import botocore.exceptions
import pytest

ACCOUNT = "000000000000"


def boto_error(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kwargs)
    err = e.value.response["Error"]
    return err["Code"], err["Message"]


def cli_error(kecs, *args):
    """Runs a CLI command that must fail; its stderr without the CLI's retry note."""
    p = kecs.aws(*args, raw=True)
    assert p.returncode != 0, p.stdout
    return re.sub(r" \(reached max retries: \d+\)", "", p.stderr.strip())


@pytest.fixture
def net(kecs):
    ec2 = kecs.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.0.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    private = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    return ec2, vpc, public, private


def main_table(ec2, vpc):
    return ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                              {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]


def test_internet_gateway_lifecycle_cli(kecs, net):
    _, vpc, _, _ = net
    igw = kecs.aws("ec2", "create-internet-gateway", "--tag-specifications",
                   "ResourceType=internet-gateway,Tags=[{Key=Name,Value=edge}]")["InternetGateway"]
    igw_id = igw["InternetGatewayId"]
    assert igw_id.startswith("igw-") and igw["Attachments"] == [] and igw["OwnerId"] == ACCOUNT
    assert igw["Tags"] == [{"Key": "Name", "Value": "edge"}]
    kecs.aws("ec2", "attach-internet-gateway", "--internet-gateway-id", igw_id, "--vpc-id", vpc)
    got = kecs.aws("ec2", "describe-internet-gateways", "--internet-gateway-ids", igw_id)["InternetGateways"][0]
    assert got["Attachments"] == [{"State": "available", "VpcId": vpc}]
    for f in (f"Name=attachment.vpc-id,Values={vpc}", "Name=attachment.state,Values=available",
              f"Name=internet-gateway-id,Values={igw_id}", "Name=tag:Name,Values=edge", f"Name=owner-id,Values={ACCOUNT}"):
        found = kecs.aws("ec2", "describe-internet-gateways", "--filters", f)["InternetGateways"]
        assert igw_id in [g["InternetGatewayId"] for g in found], f
    assert kecs.aws("ec2", "describe-internet-gateways", "--filters", "Name=tag:Name,Values=edge",
                    f"Name=attachment.vpc-id,Values={vpc}")["InternetGateways"][0]["InternetGatewayId"] == igw_id
    err = cli_error(kecs, "ec2", "attach-internet-gateway", "--internet-gateway-id", igw_id, "--vpc-id", vpc)
    assert f"(Resource.AlreadyAssociated) when calling the AttachInternetGateway operation: resource {igw_id} is already attached to network {vpc}" in err
    err = cli_error(kecs, "ec2", "delete-internet-gateway", "--internet-gateway-id", igw_id)
    assert f"(DependencyViolation) when calling the DeleteInternetGateway operation: The internetGateway '{igw_id}' has dependencies and cannot be deleted." in err
    err = cli_error(kecs, "ec2", "delete-vpc", "--vpc-id", vpc)
    assert "(DependencyViolation)" in err
    kecs.aws("ec2", "detach-internet-gateway", "--internet-gateway-id", igw_id, "--vpc-id", vpc)
    err = cli_error(kecs, "ec2", "detach-internet-gateway", "--internet-gateway-id", igw_id, "--vpc-id", vpc)
    assert f"(Gateway.NotAttached) when calling the DetachInternetGateway operation: resource {igw_id} is not attached to network {vpc}" in err
    kecs.aws("ec2", "delete-internet-gateway", "--internet-gateway-id", igw_id)
    err = cli_error(kecs, "ec2", "describe-internet-gateways", "--internet-gateway-ids", igw_id)
    assert f"(InvalidInternetGatewayID.NotFound) when calling the DescribeInternetGateways operation: The internetGateway ID '{igw_id}' does not exist" in err


def test_one_internet_gateway_per_vpc(kecs, net):
    ec2, vpc, _, _ = net
    first = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    second = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=first, VpcId=vpc)
    assert boto_error(ec2.attach_internet_gateway, InternetGatewayId=second, VpcId=vpc) == (
        "InvalidParameterValue", f"Network {vpc} already has an internet gateway attached")
    assert boto_error(ec2.attach_internet_gateway, InternetGatewayId=second, VpcId="vpc-0123456789abcdef0") == (
        "InvalidVpcID.NotFound", "The vpc ID 'vpc-0123456789abcdef0' does not exist")
    assert boto_error(ec2.attach_internet_gateway, InternetGatewayId="igw-0123456789abcdef0", VpcId=vpc) == (
        "InvalidInternetGatewayID.NotFound", "The internetGateway ID 'igw-0123456789abcdef0' does not exist")
    unattached = ec2.describe_internet_gateways(InternetGatewayIds=[second])["InternetGateways"][0]
    assert unattached["Attachments"] == []


def test_route_table_crud_and_routes(kecs, net):
    ec2, vpc, public, _ = net
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    rtb = ec2.create_route_table(VpcId=vpc, TagSpecifications=[
        {"ResourceType": "route-table", "Tags": [{"Key": "Name", "Value": "public"}]}])["RouteTable"]
    rtb_id = rtb["RouteTableId"]
    assert rtb_id.startswith("rtb-") and rtb["VpcId"] == vpc and rtb["Associations"] == []
    assert rtb["Routes"] == [{"DestinationCidrBlock": "10.40.0.0/16", "GatewayId": "local",
                              "Origin": "CreateRouteTable", "State": "active"}]
    assert rtb["Tags"] == [{"Key": "Name", "Value": "public"}]
    # The gateway must be attached to this VPC first.
    assert boto_error(ec2.create_route, RouteTableId=rtb_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw) == (
        "InvalidParameterValue", f"route table {rtb_id} and network gateway {igw} belong to different networks")
    assert boto_error(ec2.create_route, RouteTableId=rtb_id, DestinationCidrBlock="0.0.0.0/0",
                      GatewayId="igw-0123456789abcdef0") == (
        "InvalidInternetGatewayID.NotFound", "The internetGateway ID 'igw-0123456789abcdef0' does not exist")
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    assert ec2.create_route(RouteTableId=rtb_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)["Return"] is True
    assert boto_error(ec2.create_route, RouteTableId=rtb_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw) == (
        "RouteAlreadyExists", "The route identified by 0.0.0.0/0 already exists.")
    assert boto_error(ec2.create_route, RouteTableId=rtb_id, DestinationCidrBlock="10.40.0.0/16", GatewayId=igw) == (
        "RouteAlreadyExists", "The route identified by 10.40.0.0/16 already exists.")
    assert boto_error(ec2.create_route, RouteTableId=rtb_id, DestinationCidrBlock="nonsense", GatewayId=igw) == (
        "InvalidParameterValue",
        "Value (nonsense) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block.")
    assert boto_error(ec2.create_route, RouteTableId=rtb_id, DestinationCidrBlock="8.8.8.0/24",
                      GatewayId="nat-0123456789abcdef0") == (
        "InvalidGatewayID.NotFound", "The gateway ID 'nat-0123456789abcdef0' does not exist")
    got = ec2.describe_route_tables(RouteTableIds=[rtb_id])["RouteTables"][0]
    assert {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw, "Origin": "CreateRoute",
            "State": "active"} in got["Routes"]
    for name, value in [("route-table-id", rtb_id), ("route.destination-cidr-block", "0.0.0.0/0"),
                        ("route.gateway-id", igw), ("route.origin", "CreateRoute"), ("tag:Name", "public")]:
        found = ec2.describe_route_tables(Filters=[{"Name": name, "Values": [value]},
                                                   {"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
        assert [t["RouteTableId"] for t in found] == [rtb_id], name
    # The main table matches these too.
    for name, value in [("route.state", "active"), ("owner-id", ACCOUNT), ("route.gateway-id", "local")]:
        found = ec2.describe_route_tables(Filters=[{"Name": name, "Values": [value]},
                                                   {"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
        assert len(found) == 2 and rtb_id in [t["RouteTableId"] for t in found], name
    # Delete routes: the local one is fixed; a missing one is InvalidRoute.NotFound.
    assert boto_error(ec2.delete_route, RouteTableId=rtb_id, DestinationCidrBlock="10.40.0.0/16") == (
        "InvalidParameterValue", f"cannot remove local route 10.40.0.0/16 in route table {rtb_id}")
    ec2.delete_route(RouteTableId=rtb_id, DestinationCidrBlock="0.0.0.0/0")
    assert boto_error(ec2.delete_route, RouteTableId=rtb_id, DestinationCidrBlock="0.0.0.0/0") == (
        "InvalidRoute.NotFound", f"no route with destination-cidr-block 0.0.0.0/0 in route table {rtb_id}")
    ec2.delete_route_table(RouteTableId=rtb_id)
    assert boto_error(ec2.describe_route_tables, RouteTableIds=[rtb_id]) == (
        "InvalidRouteTableID.NotFound", f"The routeTable ID '{rtb_id}' does not exist")


def test_associations_make_a_subnet_public(kecs, net):
    ec2, vpc, public, private = net
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    out = ec2.associate_route_table(RouteTableId=rtb, SubnetId=public)
    assoc = out["AssociationId"]
    assert assoc.startswith("rtbassoc-") and out["AssociationState"] == {"State": "associated"}
    got = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]
    assert got["Associations"] == [{"Main": False, "RouteTableAssociationId": assoc, "RouteTableId": rtb,
                                    "SubnetId": public, "AssociationState": {"State": "associated"}}]
    for name, value in [("association.subnet-id", public), ("association.route-table-association-id", assoc),
                        ("association.route-table-id", rtb), ("association.main", "false")]:
        found = ec2.describe_route_tables(Filters=[{"Name": name, "Values": [value]}])["RouteTables"]
        assert [t["RouteTableId"] for t in found] == [rtb], name
    # One explicit association per subnet.
    other = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    assert boto_error(ec2.associate_route_table, RouteTableId=other, SubnetId=public) == (
        "Resource.AlreadyAssociated",
        f"the specified association for route table {other} conflicts with an existing association")
    # A table in use cannot be deleted, nor can the main table.
    assert boto_error(ec2.delete_route_table, RouteTableId=rtb) == (
        "DependencyViolation", f"The routeTable '{rtb}' has dependencies and cannot be deleted.")
    main = main_table(ec2, vpc)
    assert boto_error(ec2.delete_route_table, RouteTableId=main["RouteTableId"]) == (
        "DependencyViolation", f"The routeTable '{main['RouteTableId']}' has dependencies and cannot be deleted.")
    main_assoc = main["Associations"][0]["RouteTableAssociationId"]
    assert boto_error(ec2.disassociate_route_table, AssociationId=main_assoc) == (
        "InvalidParameterValue", f"cannot disassociate the main route table association {main_assoc}")
    # A subnet of another VPC cannot join.
    other_vpc = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    foreign = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.41.0.0/24")["Subnet"]["SubnetId"]
    code, msg = boto_error(ec2.associate_route_table, RouteTableId=rtb, SubnetId=foreign)
    assert code == "InvalidParameterValue" and "belong to different networks" in msg
    # The public subnet now routes to the internet; the private one still follows the main table.
    assert routes_to_internet(kecs, public) is True
    assert routes_to_internet(kecs, private) is False
    ec2.disassociate_route_table(AssociationId=assoc)
    assert boto_error(ec2.disassociate_route_table, AssociationId=assoc) == (
        "InvalidAssociationID.NotFound", f"The association ID '{assoc}' does not exist")
    assert ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Associations"] == []
    ec2.delete_route_table(RouteTableId=rtb)


def routes_to_internet(kecs, subnet):
    """Whether the table governing `subnet` (its explicit association, else the main table)
    sends 0.0.0.0/0 to an internet gateway: the rule net::SubnetIsPublic applies."""
    ec2 = kecs.client("ec2")
    tables = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["RouteTables"]
    if not tables:
        vpc = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
        tables = [main_table(ec2, vpc)]
    return any(r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("GatewayId", "").startswith("igw-")
               for r in tables[0]["Routes"])


def test_cli_route_table_flow(kecs, net):
    _, vpc, public, _ = net
    igw = kecs.aws("ec2", "create-internet-gateway")["InternetGateway"]["InternetGatewayId"]
    kecs.aws("ec2", "attach-internet-gateway", "--internet-gateway-id", igw, "--vpc-id", vpc)
    rtb = kecs.aws("ec2", "create-route-table", "--vpc-id", vpc)["RouteTable"]["RouteTableId"]
    assert kecs.aws("ec2", "create-route", "--route-table-id", rtb, "--destination-cidr-block", "0.0.0.0/0",
                    "--gateway-id", igw) == {"Return": True}
    err = cli_error(kecs, "ec2", "create-route", "--route-table-id", rtb, "--destination-cidr-block", "0.0.0.0/0",
                    "--gateway-id", igw)
    assert "(RouteAlreadyExists) when calling the CreateRoute operation: The route identified by 0.0.0.0/0 already exists." in err
    out = kecs.aws("ec2", "associate-route-table", "--route-table-id", rtb, "--subnet-id", public)
    assert out["AssociationState"] == {"State": "associated"}
    err = cli_error(kecs, "ec2", "associate-route-table", "--route-table-id", rtb, "--subnet-id", public)
    assert "(Resource.AlreadyAssociated)" in err
    err = cli_error(kecs, "ec2", "delete-route", "--route-table-id", rtb, "--destination-cidr-block", "1.2.3.0/24")
    assert f"(InvalidRoute.NotFound) when calling the DeleteRoute operation: no route with destination-cidr-block 1.2.3.0/24 in route table {rtb}" in err
    kecs.aws("ec2", "disassociate-route-table", "--association-id", out["AssociationId"])
    err = cli_error(kecs, "ec2", "disassociate-route-table", "--association-id", out["AssociationId"])
    assert f"(InvalidAssociationID.NotFound) when calling the DisassociateRouteTable operation: The association ID '{out['AssociationId']}' does not exist" in err
    kecs.aws("ec2", "delete-route", "--route-table-id", rtb, "--destination-cidr-block", "0.0.0.0/0")
    kecs.aws("ec2", "delete-route-table", "--route-table-id", rtb)


def test_detached_gateway_routes_blackhole(kecs, net):
    ec2, vpc, _, _ = net
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    main = main_table(ec2, vpc)["RouteTableId"]
    ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    routes = {r["DestinationCidrBlock"]: r for r in main_table(ec2, vpc)["Routes"]}
    assert routes["0.0.0.0/0"]["State"] == "blackhole"
    found = ec2.describe_route_tables(Filters=[{"Name": "route.state", "Values": ["blackhole"]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [main]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    routes = {r["DestinationCidrBlock"]: r for r in main_table(ec2, vpc)["Routes"]}
    assert routes["0.0.0.0/0"]["State"] == "active"


def test_nat_gateway_lifecycle(kecs, net):
    ec2, vpc, public, private = net
    before = ec2.describe_subnets(SubnetIds=[public])["Subnets"][0]["AvailableIpAddressCount"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId="eipalloc-0123456789abcdef0",
                                 TagSpecifications=[{"ResourceType": "natgateway",
                                                     "Tags": [{"Key": "Name", "Value": "nat-a"}]}])["NatGateway"]
    nat_id = nat["NatGatewayId"]
    assert nat_id.startswith("nat-") and nat["SubnetId"] == public and nat["VpcId"] == vpc
    assert nat["ConnectivityType"] == "public" and nat["State"] in ("pending", "available")
    assert nat["Tags"] == [{"Key": "Name", "Value": "nat-a"}]
    addr = nat["NatGatewayAddresses"][0]
    assert addr["AllocationId"] == "eipalloc-0123456789abcdef0" and addr["PublicIp"]
    assert addr["PrivateIp"] == "10.40.0.4"
    # Its interface is a requester-managed nat_gateway ENI holding a subnet address.
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[addr["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    assert eni["InterfaceType"] == "nat_gateway" and eni["RequesterManaged"] is True
    assert eni["PrivateIpAddress"] == addr["PrivateIp"] and eni["Status"] == "in-use"
    assert eni["Association"]["PublicIp"] == addr["PublicIp"]
    assert ec2.describe_subnets(SubnetIds=[public])["Subnets"][0]["AvailableIpAddressCount"] == before - 1
    got = ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"][0]
    assert got["State"] == "available" and got["NatGatewayAddresses"] == nat["NatGatewayAddresses"]
    for name, value in [("nat-gateway-id", nat_id), ("subnet-id", public), ("vpc-id", vpc),
                        ("state", "available"), ("tag:Name", "nat-a")]:
        found = ec2.describe_nat_gateways(Filters=[{"Name": name, "Values": [value]}])["NatGateways"]
        assert [n["NatGatewayId"] for n in found] == [nat_id], name
    # The subnet holding it cannot go; a private subnet routes through it.
    assert boto_error(ec2.delete_subnet, SubnetId=public)[0] == "DependencyViolation"
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_id)
    ec2.associate_route_table(RouteTableId=rtb, SubnetId=private)
    found = ec2.describe_route_tables(Filters=[{"Name": "route.nat-gateway-id", "Values": [nat_id]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [rtb]
    # Its Elastic IP cannot back a second gateway.
    assert boto_error(ec2.create_nat_gateway, SubnetId=private, AllocationId="eipalloc-0123456789abcdef0")[0] == \
        "Resource.AlreadyAssociated"
    assert ec2.delete_nat_gateway(NatGatewayId=nat_id)["NatGatewayId"] == nat_id
    gone = ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"][0]
    assert gone["State"] == "deleted"
    assert ec2.describe_subnets(SubnetIds=[public])["Subnets"][0]["AvailableIpAddressCount"] == before
    assert boto_error(ec2.describe_network_interfaces, NetworkInterfaceIds=[addr["NetworkInterfaceId"]])[0] == \
        "InvalidNetworkInterfaceID.NotFound"
    routes = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    assert [r["State"] for r in routes if r.get("NatGatewayId") == nat_id] == ["blackhole"]
    assert ec2.describe_nat_gateways(Filters=[{"Name": "state", "Values": ["available"]}])["NatGateways"] == []
    assert boto_error(ec2.describe_nat_gateways, NatGatewayIds=["nat-0123456789abcdef0"]) == (
        "NatGatewayNotFound", "NAT gateway nat-0123456789abcdef0 was not found")
    ec2.delete_subnet(SubnetId=public)


def test_private_nat_gateway_cli(kecs, net):
    _, vpc, _, private = net
    nat = kecs.aws("ec2", "create-nat-gateway", "--subnet-id", private, "--connectivity-type", "private",
                   "--private-ip-address", "10.40.1.50")["NatGateway"]
    assert nat["ConnectivityType"] == "private"
    assert nat["NatGatewayAddresses"][0]["PrivateIp"] == "10.40.1.50"
    assert "PublicIp" not in nat["NatGatewayAddresses"][0]
    found = kecs.aws("ec2", "describe-nat-gateways", "--filter", f"Name=vpc-id,Values={vpc}")["NatGateways"]
    assert [n["NatGatewayId"] for n in found] == [nat["NatGatewayId"]]
    out = kecs.aws("ec2", "delete-nat-gateway", "--nat-gateway-id", nat["NatGatewayId"])
    assert out == {"NatGatewayId": nat["NatGatewayId"]}
    # A repeated client token returns the gateway the first call made.
    first = kecs.aws("ec2", "create-nat-gateway", "--subnet-id", private, "--connectivity-type", "private",
                     "--client-token", "tok-1")
    again = kecs.aws("ec2", "create-nat-gateway", "--subnet-id", private, "--connectivity-type", "private",
                     "--client-token", "tok-1")
    assert first["ClientToken"] == "tok-1"
    assert again["NatGateway"]["NatGatewayId"] == first["NatGateway"]["NatGatewayId"]
    live = kecs.aws("ec2", "describe-nat-gateways", "--filter", "Name=state,Values=available")["NatGateways"]
    assert [n["NatGatewayId"] for n in live] == [first["NatGateway"]["NatGatewayId"]]
    err = cli_error(kecs, "ec2", "create-nat-gateway", "--subnet-id", "subnet-0123456789abcdef0")
    assert "(InvalidSubnetID.NotFound)" in err


def test_routing_survives_restart(kecs, net):
    ec2, vpc, public, private = net
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=rtb, SubnetId=public)
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId="eipalloc-00000000000000001")["NatGateway"]
    before = (ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"],
              ec2.describe_internet_gateways(InternetGatewayIds=[igw])["InternetGateways"],
              ec2.describe_nat_gateways(NatGatewayIds=[nat["NatGatewayId"]])["NatGateways"])
    kecs.restart()
    ec2 = kecs.client("ec2")
    after = (ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"],
             ec2.describe_internet_gateways(InternetGatewayIds=[igw])["InternetGateways"],
             ec2.describe_nat_gateways(NatGatewayIds=[nat["NatGatewayId"]])["NatGateways"])
    assert after == before
    assert routes_to_internet(kecs, public) is True and routes_to_internet(kecs, private) is False
