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


def test_replace_route_and_association(ec2, kecs):
    a = vpc(ec2, "10.98.0.0/16")
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=a)
    nat_subnet = ec2.create_subnet(VpcId=a, CidrBlock="10.98.9.0/24")["Subnet"]["SubnetId"]
    nat = ec2.create_nat_gateway(SubnetId=nat_subnet, ConnectivityType="private")["NatGateway"]["NatGatewayId"]
    rtb = ec2.create_route_table(VpcId=a)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)

    def route(dest):
        t = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]
        return [r for r in t["Routes"] if r.get("DestinationCidrBlock") == dest][0]

    ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    r = route("0.0.0.0/0")
    assert r["NatGatewayId"] == nat and "GatewayId" not in r and r["State"] == "active"
    kecs.aws("ec2", "replace-route", "--route-table-id", rtb, "--destination-cidr-block", "0.0.0.0/0",
             "--gateway-id", igw)
    r = route("0.0.0.0/0")
    assert r["GatewayId"] == igw and "NatGatewayId" not in r
    # Errors: no such route (AWS answers InvalidParameterValue), the local route, a bad target.
    assert boto_error(ec2.replace_route, RouteTableId=rtb, DestinationCidrBlock="10.1.0.0/16", GatewayId=igw) == (
        "InvalidParameterValue", "There is no route defined for '10.1.0.0/16' in the route table. Use CreateRoute instead.")
    assert cli_error(kecs, "ec2", "replace-route", "--route-table-id", rtb, "--destination-cidr-block", "10.1.0.0/16",
                     "--gateway-id", igw) == (
        "An error occurred (InvalidParameterValue) when calling the ReplaceRoute operation: "
        "There is no route defined for '10.1.0.0/16' in the route table. Use CreateRoute instead.")
    assert boto_error(ec2.replace_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")[0] == "MissingParameter"
    assert boto_error(ec2.replace_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0",
                      GatewayId="igw-0123456789abcdef0")[0] == "InvalidInternetGatewayID.NotFound"
    assert route("0.0.0.0/0")["GatewayId"] == igw  # a refused replace changes nothing
    assert boto_error(ec2.replace_route, RouteTableId=rtb, DestinationCidrBlock="10.98.0.0/16", GatewayId=igw) == (
        "InvalidParameterValue", f"cannot replace the target of local route 10.98.0.0/16 in route table {rtb}")
    ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="10.98.0.0/16", LocalTarget=True)
    assert route("10.98.0.0/16")["GatewayId"] == "local"

    # A subnet's association moves to another table, with a new id.
    s1 = ec2.create_subnet(VpcId=a, CidrBlock="10.98.1.0/24")["Subnet"]["SubnetId"]
    other = ec2.create_route_table(VpcId=a)["RouteTable"]["RouteTableId"]
    assoc = ec2.associate_route_table(RouteTableId=rtb, SubnetId=s1)["AssociationId"]
    out = ec2.replace_route_table_association(AssociationId=assoc, RouteTableId=other)
    assert out["NewAssociationId"] != assoc and out["AssociationState"] == {"State": "associated"}
    t = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [s1]}])["RouteTables"]
    assert [x["RouteTableId"] for x in t] == [other]
    assert boto_error(ec2.replace_route_table_association, AssociationId=assoc, RouteTableId=other) == (
        "InvalidAssociationID.NotFound", f"The association ID '{assoc}' does not exist")
    # The main association: the VPC's main table changes; the old one can then be deleted.
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [a]},
                                              {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]
    main_assoc = [x for x in main["Associations"] if x["Main"]][0]["RouteTableAssociationId"]
    new = kecs.aws("ec2", "replace-route-table-association", "--association-id", main_assoc,
                   "--route-table-id", rtb)
    now_main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [a]},
                                                  {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    assert [x["RouteTableId"] for x in now_main] == [rtb]
    assert [x for x in now_main[0]["Associations"] if x["Main"]][0]["RouteTableAssociationId"] == new["NewAssociationId"]
    assert boto_error(ec2.delete_route_table, RouteTableId=rtb) == (
        "DependencyViolation", f"The routeTable '{rtb}' has dependencies and cannot be deleted.")
    ec2.delete_route_table(RouteTableId=main["RouteTableId"])
    # A table of another VPC.
    b = vpc(ec2, "10.99.0.0/16")
    rb = ec2.create_route_table(VpcId=b)["RouteTable"]["RouteTableId"]
    assert boto_error(ec2.replace_route_table_association, AssociationId=out["NewAssociationId"], RouteTableId=rb) == (
        "InvalidParameterValue", f"route table {rb} and subnet {s1} belong to different networks")


def test_dhcp_options_crud_filters_and_association(ec2, kecs):
    opts = ec2.create_dhcp_options(DhcpConfigurations=[
        {"Key": "domain-name", "Values": ["corp.example"]},
        {"Key": "domain-name-servers", "Values": ["AmazonProvidedDNS", "10.0.0.53"]},
        {"Key": "ntp-servers", "Values": ["169.254.169.123"]},
        {"Key": "netbios-node-type", "Values": ["2"]}],
        TagSpecifications=[{"ResourceType": "dhcp-options", "Tags": [{"Key": "Name", "Value": "corp"}]}])["DhcpOptions"]
    dopt = opts["DhcpOptionsId"]
    assert dopt.startswith("dopt-") and opts["Tags"] == [{"Key": "Name", "Value": "corp"}]
    assert {c["Key"]: [v["Value"] for v in c["Values"]] for c in opts["DhcpConfigurations"]}["domain-name-servers"] == \
        ["AmazonProvidedDNS", "10.0.0.53"]
    cli = kecs.aws("ec2", "create-dhcp-options", "--dhcp-configurations", "Key=domain-name,Values=other.example")
    dopt2 = cli["DhcpOptions"]["DhcpOptionsId"]

    def ids(*filters):
        return sorted(d["DhcpOptionsId"] for d in ec2.describe_dhcp_options(
            Filters=[{"Name": n, "Values": v} for n, v in filters])["DhcpOptions"])
    assert ids(("key", ["ntp-servers"])) == [dopt]
    assert ids(("value", ["other.example"])) == [dopt2]
    assert ids(("dhcp-options-id", [dopt, dopt2])) == sorted([dopt, dopt2])
    assert ids(("tag:Name", ["corp"])) == [dopt]
    page = ec2.describe_dhcp_options(MaxResults=5)
    assert len(page["DhcpOptions"]) == 2 and "NextToken" not in page

    a = vpc(ec2, "10.100.0.0/16")
    ec2.associate_dhcp_options(DhcpOptionsId=dopt, VpcId=a)
    assert ec2.describe_vpcs(VpcIds=[a])["Vpcs"][0]["DhcpOptionsId"] == dopt
    assert [v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": "dhcp-options-id", "Values": [dopt]}])["Vpcs"]] == [a]
    assert boto_error(ec2.delete_dhcp_options, DhcpOptionsId=dopt) == (
        "DependencyViolation", f"The dhcpOptions '{dopt}' has dependencies and cannot be deleted.")
    kecs.aws("ec2", "associate-dhcp-options", "--dhcp-options-id", "default", "--vpc-id", a)
    assert ec2.describe_vpcs(VpcIds=[a])["Vpcs"][0]["DhcpOptionsId"] == "default"
    ec2.delete_dhcp_options(DhcpOptionsId=dopt)
    assert cli_error(kecs, "ec2", "describe-dhcp-options", "--dhcp-options-ids", dopt) == (
        "An error occurred (InvalidDhcpOptionID.NotFound) when calling the DescribeDhcpOptions operation: "
        f"The dhcpOptions ID '{dopt}' does not exist")
    assert boto_error(ec2.associate_dhcp_options, DhcpOptionsId="dopt-zz", VpcId=a) == (
        "InvalidDhcpOptionsId.Malformed", 'Invalid id: "dopt-zz" (expecting "dopt-...")')
    # Validation.
    assert boto_error(ec2.create_dhcp_options, DhcpConfigurations=[{"Key": "bogus", "Values": ["x"]}]) == (
        "InvalidParameterValue", "Value (bogus) for parameter key is invalid. Unknown DHCP option.")
    assert boto_error(ec2.create_dhcp_options, DhcpConfigurations=[
        {"Key": "domain-name-servers", "Values": ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4", "5.5.5.5"]}]) == (
        "InvalidParameterValue", "Value (1.1.1.1) for parameter domain-name-servers is invalid. At most 4 values are allowed.")
    assert boto_error(ec2.create_dhcp_options, DhcpConfigurations=[
        {"Key": "domain-name-servers", "Values": ["not-an-ip"]}]) == (
        "InvalidParameterValue", "Value (not-an-ip) for parameter domain-name-servers is invalid. This is not a valid IP address.")
    assert boto_error(ec2.create_dhcp_options, DhcpConfigurations=[{"Key": "netbios-node-type", "Values": ["3"]}]) == (
        "InvalidParameterValue", "Value (3) for parameter netbios-node-type is invalid. The node type must be 1, 2, 4 or 8.")
    assert len(ec2.describe_dhcp_options()["DhcpOptions"]) == 1  # refused creates stored nothing


def test_update_security_group_rule_descriptions(ec2, kecs):
    a = vpc(ec2, "10.101.0.0/16")
    sg = ec2.create_security_group(GroupName="web", Description="web", VpcId=a)["GroupId"]
    added = ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "old"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])["SecurityGroupRules"]
    by_port = {r["FromPort"]: r["SecurityGroupRuleId"] for r in added}

    def desc(rule_id):
        r = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule_id])["SecurityGroupRules"][0]
        return r.get("Description")

    assert ec2.update_security_group_rule_descriptions_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "new"}]}])["Return"]
    assert desc(by_port[80]) == "new" and desc(by_port[443]) is None
    kecs.aws("ec2", "update-security-group-rule-descriptions-ingress", "--group-id", sg,
             "--security-group-rule-descriptions", f"SecurityGroupRuleId={by_port[443]},Description=tls")
    assert desc(by_port[443]) == "tls"
    # By permission without a description: removed.
    ec2.update_security_group_rule_descriptions_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    assert desc(by_port[80]) is None
    assert boto_error(ec2.update_security_group_rule_descriptions_ingress, GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "x"}]}]) == (
        "InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
    # An ingress rule's id is not an egress rule.
    assert boto_error(ec2.update_security_group_rule_descriptions_egress, GroupId=sg, SecurityGroupRuleDescriptions=[
        {"SecurityGroupRuleId": by_port[80], "Description": "x"}]) == (
        "InvalidSecurityGroupRuleId.NotFound", f"The security group rule ID '{by_port[80]}' does not exist")
    egress = [r for r in ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [sg]}])[
        "SecurityGroupRules"] if r["IsEgress"]][0]["SecurityGroupRuleId"]
    ec2.update_security_group_rule_descriptions_egress(GroupId=sg, SecurityGroupRuleDescriptions=[
        {"SecurityGroupRuleId": egress, "Description": "all out"}])
    assert desc(egress) == "all out"
    assert boto_error(ec2.update_security_group_rule_descriptions_ingress, GroupId=sg)[0] == "MissingParameter"


def test_egress_only_internet_gateways_and_their_routes(ec2, kecs):
    a = ec2.create_vpc(CidrBlock="10.102.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    out = ec2.create_egress_only_internet_gateway(VpcId=a, ClientToken="tok", TagSpecifications=[
        {"ResourceType": "egress-only-internet-gateway", "Tags": [{"Key": "Name", "Value": "v6"}]}])
    g = out["EgressOnlyInternetGateway"]
    eigw = g["EgressOnlyInternetGatewayId"]
    assert eigw.startswith("eigw-") and out["ClientToken"] == "tok"
    assert g["Attachments"] == [{"State": "attached", "VpcId": a}]
    cli = kecs.aws("ec2", "describe-egress-only-internet-gateways", "--filters", "Name=tag:Name,Values=v6")
    assert [x["EgressOnlyInternetGatewayId"] for x in cli["EgressOnlyInternetGateways"]] == [eigw]
    rtb = ec2.create_route_table(VpcId=a)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationIpv6CidrBlock="::/0", EgressOnlyInternetGatewayId=eigw)
    routes = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    r = [x for x in routes if x.get("DestinationIpv6CidrBlock") == "::/0"][0]
    assert r["EgressOnlyInternetGatewayId"] == eigw and r["State"] == "active"
    b = vpc(ec2, "10.103.0.0/16")
    rb = ec2.create_route_table(VpcId=b)["RouteTable"]["RouteTableId"]
    assert boto_error(ec2.create_route, RouteTableId=rb, DestinationIpv6CidrBlock="::/0",
                      EgressOnlyInternetGatewayId=eigw) == (
        "InvalidParameterValue", f"route table {rb} and network gateway {eigw} belong to different networks")
    assert kecs.aws("ec2", "delete-egress-only-internet-gateway", "--egress-only-internet-gateway-id", eigw) == {
        "ReturnCode": True}
    routes = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    assert [x for x in routes if x.get("DestinationIpv6CidrBlock") == "::/0"][0]["State"] == "blackhole"
    assert boto_error(ec2.delete_egress_only_internet_gateway, EgressOnlyInternetGatewayId=eigw) == (
        "InvalidEgressOnlyInternetGatewayId.NotFound", f"The egressOnlyInternetGateway ID '{eigw}' does not exist")
    assert boto_error(ec2.describe_egress_only_internet_gateways, EgressOnlyInternetGatewayIds=["eigw-x"]) == (
        "InvalidEgressOnlyInternetGatewayId.Malformed", 'Invalid id: "eigw-x" (expecting "eigw-...")')
    assert boto_error(ec2.create_egress_only_internet_gateway, VpcId="vpc-0123456789abcdef0") == (
        "InvalidVpcID.NotFound", "The vpc ID 'vpc-0123456789abcdef0' does not exist")
