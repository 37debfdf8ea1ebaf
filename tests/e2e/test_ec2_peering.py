"""Issue 17: VPC peering connections through the EC2 API (simulated runtime), with boto3 and
the aws CLI: the lifecycle (pending-acceptance, active, rejected, deleted, failed), AWS's
errors, filters and pages, and routes through a connection (blackhole until it is active
and again once it is deleted). The data plane is tested in test_ec2_peering_local.py."""
import pytest

from test_ec2_security_groups import boto_error, cli_error


@pytest.fixture
def ec2(kecs):
    return kecs.client("ec2")


def vpc(ec2, cidr):
    return ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]


def status(ec2, pcx):
    return ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])["VpcPeeringConnections"][0]["Status"]


def test_create_accept_delete_lifecycle_boto3(ec2, kecs):
    a, b = vpc(ec2, "10.81.0.0/16"), vpc(ec2, "10.82.0.0/16")
    out = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b, TagSpecifications=[
        {"ResourceType": "vpc-peering-connection", "Tags": [{"Key": "Name", "Value": "ab"}]}])["VpcPeeringConnection"]
    pcx = out["VpcPeeringConnectionId"]
    assert pcx.startswith("pcx-")
    assert out["Status"] == {"Code": "initiating-request", "Message": "Initiating Request to 000000000000"} or \
        out["Status"]["Code"] == "initiating-request"
    assert out["RequesterVpcInfo"]["VpcId"] == a and out["RequesterVpcInfo"]["CidrBlock"] == "10.81.0.0/16"
    assert out["AccepterVpcInfo"]["VpcId"] == b and out["AccepterVpcInfo"]["CidrBlockSet"] == [{"CidrBlock": "10.82.0.0/16"}]
    assert out["Tags"] == [{"Key": "Name", "Value": "ab"}]
    assert "ExpirationTime" in out
    owner = out["RequesterVpcInfo"]["OwnerId"]
    assert status(ec2, pcx) == {"Code": "pending-acceptance", "Message": f"Pending Acceptance by {owner}"}
    # The same pair again, either way round.
    assert boto_error(ec2.create_vpc_peering_connection, VpcId=b, PeerVpcId=a) == (
        "VpcPeeringConnectionAlreadyExists", "A VPC peering connection between the VPCs already exists.")

    acc = ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)["VpcPeeringConnection"]
    assert acc["Status"] == {"Code": "active", "Message": "Active"}
    assert acc["AccepterVpcInfo"]["PeeringOptions"]["AllowDnsResolutionFromRemoteVpc"] is False
    assert "ExpirationTime" not in acc
    assert boto_error(ec2.accept_vpc_peering_connection, VpcPeeringConnectionId=pcx) == (
        "InvalidStateTransition", f"Invalid state transition for {pcx}, attempted to transition from active to provisioning")
    assert boto_error(ec2.reject_vpc_peering_connection, VpcPeeringConnectionId=pcx) == (
        "InvalidStateTransition", f"Invalid state transition for {pcx}, attempted to transition from active to rejected")

    assert ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)["Return"] is True
    assert status(ec2, pcx) == {"Code": "deleted", "Message": f"Deleted by {owner}"}
    assert boto_error(ec2.delete_vpc_peering_connection, VpcPeeringConnectionId=pcx) == (
        "InvalidStateTransition", f"Invalid state transition for {pcx}, attempted to transition from deleted to deleting")
    # Once deleted, the pair may be peered again.
    again = ec2.create_vpc_peering_connection(VpcId=b, PeerVpcId=a)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    assert status(ec2, again)["Code"] == "pending-acceptance"


def test_reject_failed_and_errors_cli(kecs, ec2):
    a, b = vpc(ec2, "10.83.0.0/16"), vpc(ec2, "10.84.0.0/16")
    overlap = vpc(ec2, "10.83.128.0/17")
    pcx = kecs.aws("ec2", "create-vpc-peering-connection", "--vpc-id", a, "--peer-vpc-id", b)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    assert kecs.aws("ec2", "reject-vpc-peering-connection", "--vpc-peering-connection-id", pcx) == {"Return": True}
    got = kecs.aws("ec2", "describe-vpc-peering-connections", "--vpc-peering-connection-ids", pcx)
    assert got["VpcPeeringConnections"][0]["Status"]["Code"] == "rejected"
    assert got["VpcPeeringConnections"][0]["Status"]["Message"].startswith("Rejected by ")
    assert cli_error(kecs, "ec2", "delete-vpc-peering-connection", "--vpc-peering-connection-id", pcx) == (
        "An error occurred (InvalidStateTransition) when calling the DeleteVpcPeeringConnection operation: "
        f"Invalid state transition for {pcx}, attempted to transition from rejected to deleting")
    assert cli_error(kecs, "ec2", "accept-vpc-peering-connection", "--vpc-peering-connection-id", pcx) == (
        "An error occurred (InvalidStateTransition) when calling the AcceptVpcPeeringConnection operation: "
        f"Invalid state transition for {pcx}, attempted to transition from rejected to provisioning")

    # Overlapping CIDRs: created, then failed with AWS's message.
    bad = kecs.aws("ec2", "create-vpc-peering-connection", "--vpc-id", a, "--peer-vpc-id", overlap)[
        "VpcPeeringConnection"]
    assert bad["Status"]["Code"] == "initiating-request"
    failed = status(ec2, bad["VpcPeeringConnectionId"])
    assert failed == {"Code": "failed", "Message": "Failed due to incorrect VPC-ID, Account ID, or overlapping CIDR range"}
    # Another account's VPC fails the same way.
    other = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId="vpc-0123456789abcdef0",
                                              PeerOwnerId="111122223333")["VpcPeeringConnection"]
    assert status(ec2, other["VpcPeeringConnectionId"])["Code"] == "failed"
    assert other["AccepterVpcInfo"]["OwnerId"] == "111122223333"

    assert cli_error(kecs, "ec2", "accept-vpc-peering-connection", "--vpc-peering-connection-id",
                     "pcx-0123456789abcdef0") == (
        "An error occurred (InvalidVpcPeeringConnectionID.NotFound) when calling the AcceptVpcPeeringConnection "
        "operation: The vpcPeeringConnection ID 'pcx-0123456789abcdef0' does not exist")
    assert boto_error(ec2.delete_vpc_peering_connection, VpcPeeringConnectionId="pcx-nope") == (
        "InvalidVpcPeeringConnectionId.Malformed", 'Invalid id: "pcx-nope" (expecting "pcx-...")')
    assert boto_error(ec2.create_vpc_peering_connection, VpcId=a) == (
        "MissingParameter", "The request must contain the parameter peerVpcId")
    assert boto_error(ec2.create_vpc_peering_connection, VpcId=a, PeerVpcId="vpc-0123456789abcdef0") == (
        "InvalidVpcID.NotFound", "The vpc ID 'vpc-0123456789abcdef0' does not exist")
    assert boto_error(ec2.create_vpc_peering_connection, VpcId=a, PeerVpcId=b, PeerRegion="eu-west-1") == (
        "OperationNotPermitted", "kecs peers VPCs within one Region only: the peer Region 'eu-west-1' is not 'us-east-1'")
    assert boto_error(ec2.create_vpc_peering_connection, VpcId=a, PeerVpcId=b, DryRun=True)[0] == "DryRunOperation"


def test_filters_and_pages(ec2, kecs):
    a, b, c = vpc(ec2, "10.85.0.0/16"), vpc(ec2, "10.86.0.0/16"), vpc(ec2, "10.87.0.0/16")
    ab = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ac = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=c, TagSpecifications=[
        {"ResourceType": "vpc-peering-connection", "Tags": [{"Key": "env", "Value": "prod"}]}])[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=ac)

    def ids(*filters):
        return sorted(p["VpcPeeringConnectionId"] for p in ec2.describe_vpc_peering_connections(
            Filters=[{"Name": n, "Values": v} for n, v in filters])["VpcPeeringConnections"])

    assert ids(("requester-vpc-info.vpc-id", [a])) == sorted([ab, ac])
    assert ids(("accepter-vpc-info.vpc-id", [c])) == [ac]
    assert ids(("status-code", ["active"]), ("requester-vpc-info.vpc-id", [a])) == [ac]
    assert ids(("status-code", ["pending-acceptance"]), ("requester-vpc-info.vpc-id", [a])) == [ab]
    assert ids(("accepter-vpc-info.cidr-block", ["10.86.0.0/16"])) == [ab]
    assert ids(("requester-vpc-info.cidr-block", ["10.85.*"]), ("tag:env", ["prod"])) == [ac]
    assert ids(("vpc-peering-connection-id", [ab])) == [ab]
    assert boto_error(ec2.describe_vpc_peering_connections, Filters=[{"Name": "bogus", "Values": ["x"]}]) == (
        "InvalidParameterValue", "The filter 'bogus' is invalid")
    # Pages of 5 (EC2's minimum MaxResults) over 6 connections.
    for i in range(4):
        d = vpc(ec2, f"10.{90 + i}.0.0/16")
        ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=d)
    page = ec2.describe_vpc_peering_connections(MaxResults=5, Filters=[{"Name": "requester-vpc-info.vpc-id", "Values": [a]}])
    assert len(page["VpcPeeringConnections"]) == 5 and page["NextToken"]
    rest = ec2.describe_vpc_peering_connections(MaxResults=5, NextToken=page["NextToken"],
                                                Filters=[{"Name": "requester-vpc-info.vpc-id", "Values": [a]}])
    assert len(rest["VpcPeeringConnections"]) == 1 and "NextToken" not in rest
    # The CLI pages by itself.
    got = kecs.aws("ec2", "describe-vpc-peering-connections", "--filters", f"Name=requester-vpc-info.vpc-id,Values={a}",
                   "--page-size", "5")
    assert len(got["VpcPeeringConnections"]) == 6


def test_routes_through_a_connection(ec2, kecs):
    a, b, c = vpc(ec2, "10.95.0.0/16"), vpc(ec2, "10.96.0.0/16"), vpc(ec2, "10.97.0.0/16")
    pcx = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    rtb = ec2.create_route_table(VpcId=a)["RouteTable"]["RouteTableId"]
    rtc = ec2.create_route_table(VpcId=c)["RouteTable"]["RouteTableId"]

    def route(table, dest):
        t = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]
        return [r for r in t["Routes"] if r.get("DestinationCidrBlock") == dest][0]

    # Pending: the route is made, as a blackhole until the connection is active.
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="10.96.0.0/16", VpcPeeringConnectionId=pcx)
    assert route(rtb, "10.96.0.0/16")["State"] == "blackhole"
    assert route(rtb, "10.96.0.0/16")["VpcPeeringConnectionId"] == pcx
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    assert route(rtb, "10.96.0.0/16")["State"] == "active"
    # The CLI, into the main table of B.
    main_b = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [b]},
                                                {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]
    kecs.aws("ec2", "create-route", "--route-table-id", main_b["RouteTableId"], "--destination-cidr-block",
             "10.95.0.0/16", "--vpc-peering-connection-id", pcx)
    assert route(main_b["RouteTableId"], "10.95.0.0/16")["State"] == "active"
    found = ec2.describe_route_tables(Filters=[{"Name": "route.vpc-peering-connection-id", "Values": [pcx]}])["RouteTables"]
    assert sorted(t["RouteTableId"] for t in found) == sorted([rtb, main_b["RouteTableId"]])
    # A table of a third VPC cannot use it.
    assert boto_error(ec2.create_route, RouteTableId=rtc, DestinationCidrBlock="10.96.0.0/16",
                      VpcPeeringConnectionId=pcx) == (
        "InvalidParameterValue", f"route table {rtc} and VPC peering connection {pcx} belong to different networks")
    assert boto_error(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="10.99.0.0/16",
                      VpcPeeringConnectionId="pcx-0123456789abcdef0") == (
        "InvalidVpcPeeringConnectionID.NotFound", "The vpcPeeringConnection ID 'pcx-0123456789abcdef0' does not exist")
    # Deleted: the routes stay, as blackholes, and no new route may use it.
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    assert route(rtb, "10.96.0.0/16")["State"] == "blackhole"
    assert route(main_b["RouteTableId"], "10.95.0.0/16")["State"] == "blackhole"
    assert boto_error(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="10.96.1.0/24",
                      VpcPeeringConnectionId=pcx)[0] == "InvalidVpcPeeringConnectionID.NotFound"
