"""EC2 parity (issue 20): security-group validation, network ACL rule actions, route-table
association conflicts and malformed ids, each answered with AWS's code and message."""
import boto3
import botocore.config
import pytest

from test_ec2_security_groups import boto_error, cli_error

SG_PERM = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443}


def unvalidated_client(kecs):
    """An EC2 client that sends what it is given, so a request can leave out a member
    botocore would insist on."""
    return boto3.client("ec2", endpoint_url=kecs.endpoint, region_name="us-east-1",
                        aws_access_key_id="AKIDKECSTEST", aws_secret_access_key="secret",
                        config=botocore.config.Config(retries={"max_attempts": 1}, parameter_validation=False))


@pytest.fixture
def vpc(kecs):
    return kecs.client("ec2").create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]


@pytest.fixture
def sg(kecs, vpc):
    return kecs.client("ec2").create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]


def ingress_rules(ec2, sg):
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [sg]}])["SecurityGroupRules"]
    return [r for r in rules if not r["IsEgress"]]


# --- CreateSecurityGroup -------------------------------------------------------------------

def test_create_security_group_needs_a_description(kecs, vpc):
    ec2 = kecs.client("ec2")
    want = ("MissingParameter", "The request must contain the parameter GroupDescription")
    assert boto_error(ec2.create_security_group, GroupName="x", Description="", VpcId=vpc) == want
    assert boto_error(unvalidated_client(kecs).create_security_group, GroupName="x", VpcId=vpc) == want
    err = cli_error(kecs, "ec2", "create-security-group", "--group-name", "x", "--description", "", "--vpc-id", vpc)
    assert ("(MissingParameter) when calling the CreateSecurityGroup operation: "
            "The request must contain the parameter GroupDescription") in err
    assert ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["x"]}])["SecurityGroups"] == []


def test_create_security_group_malformed_vpc_id(kecs):
    ec2 = kecs.client("ec2")
    for bad in ("vpc-xxxxxxxx", "MalformedVpcId", "vpc-123"):
        assert boto_error(ec2.create_security_group, GroupName="x", Description="x", VpcId=bad) == (
            "InvalidVpcId.Malformed", f"The vpc ID '{bad}' is malformed")
    # A well-formed id that names nothing is NotFound, as before.
    assert boto_error(ec2.create_security_group, GroupName="x", Description="x", VpcId="vpc-0123456789abcdef0") == (
        "InvalidVpcID.NotFound", "The vpc ID 'vpc-0123456789abcdef0' does not exist")


# --- Authorize: duplicates ---------------------------------------------------------------

def test_duplicates_inside_one_authorize_request(kecs, vpc, sg):
    ec2 = kecs.client("ec2")
    same = ("InvalidParameterValue", "The same permission must not appear multiple times")
    # One CIDR twice in one permission.
    assert boto_error(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[
        dict(SG_PERM, IpRanges=[{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "10.0.0.0/8", "Description": "again"}])]) == same
    # The same permission spelled twice: protocol by number, CIDR not canonical.
    assert boto_error(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[
        dict(SG_PERM, IpRanges=[{"CidrIp": "10.0.0.0/8"}]),
        {"IpProtocol": "6", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.1.2.3/8"}]}]) == same
    # A referenced group twice, and IPv6 twice.
    peer = ec2.create_security_group(GroupName="peer", Description="peer", VpcId=vpc)["GroupId"]
    assert boto_error(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[
        dict(SG_PERM, UserIdGroupPairs=[{"GroupId": peer}, {"GroupId": peer}])]) == same
    assert boto_error(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[
        {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}, {"CidrIpv6": "2001:db8::/32"}]}]) == same
    # Egress likewise; the all-protocol rule has no ports to tell two apart.
    assert boto_error(ec2.authorize_security_group_egress, GroupId=sg, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "192.0.2.0/24"}]},
        {"IpProtocol": "all", "IpRanges": [{"CidrIp": "192.0.2.0/24"}]}]) == same
    # Nothing of a refused request was added.
    assert ingress_rules(ec2, sg) == []
    g = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]
    assert [p["IpRanges"] for p in g["IpPermissionsEgress"]] == [[{"CidrIp": "0.0.0.0/0"}]]
    # Different ports, protocols or peers are different permissions.
    added = ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        dict(SG_PERM, IpRanges=[{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "10.0.0.0/16"}]),
        {"IpProtocol": "udp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 444, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    assert len(added["SecurityGroupRules"]) == 4
    # A rule already in the group is InvalidPermission.Duplicate, with AWS's wording.
    assert boto_error(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[
        dict(SG_PERM, IpRanges=[{"CidrIp": "10.0.0.0/16"}])]) == (
        "InvalidPermission.Duplicate",
        'the specified rule "peer: 10.0.0.0/16, TCP, from port: 443, to port: 443, ALLOW" already exists')
    assert boto_error(ec2.authorize_security_group_egress, GroupId=sg, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]) == (
        "InvalidPermission.Duplicate", 'the specified rule "peer: 0.0.0.0/0, ALL, ALLOW" already exists')


def test_duplicate_inside_a_request_cli(kecs, sg):
    err = cli_error(kecs, "ec2", "authorize-security-group-ingress", "--group-id", sg, "--ip-permissions",
                    "IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=203.0.113.0/24},{CidrIp=203.0.113.0/24}]")
    assert ("(InvalidParameterValue) when calling the AuthorizeSecurityGroupIngress operation: "
            "The same permission must not appear multiple times") in err


# --- ModifySecurityGroupRules --------------------------------------------------------------

def test_modify_security_group_rules_validation(kecs, sg):
    ec2 = kecs.client("ec2")
    rule = ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        dict(SG_PERM, IpRanges=[{"CidrIp": "10.0.0.0/16", "Description": "old"}])])["SecurityGroupRules"][0]
    rid = rule["SecurityGroupRuleId"]

    def modify(**spec):
        return boto_error(ec2.modify_security_group_rules, GroupId=sg,
                          SecurityGroupRules=[{"SecurityGroupRuleId": rid, "SecurityGroupRule": spec}])

    assert modify(FromPort=80, ToPort=80, CidrIpv4="10.0.0.0/16") == (
        "InvalidParameterValue",
        "Invalid value 'null' for protocol. VPC security group rules must specify protocols explicitly.")
    for ports in ({"FromPort": 80}, {"ToPort": 80}, {}):
        for proto in ("tcp", "udp", "17"):
            assert modify(IpProtocol=proto, CidrIpv4="10.0.0.0/16", **ports) == (
                "InvalidParameterValue", "Invalid value for portRange. Must specify both from and to ports with TCP/UDP.")
    assert modify(IpProtocol="tcp", FromPort=80, ToPort=80) == (
        "MissingParameter",
        "The request must contain exactly one of: cidrIp, cidrIpv6, prefixListId, or referencedGroupId")
    assert modify(IpProtocol="tcp", FromPort=80, ToPort=80, CidrIpv4="10.0.0.0/16", CidrIpv6="2001:db8::/32") == (
        "InvalidParameterCombination",
        "Only one of cidrIp, cidrIpv6, prefixListId, or referencedGroupId can be specified")
    assert modify(IpProtocol="tcp", FromPort=80, ToPort=80, CidrIpv4="10.0.0.0/16", ReferencedGroupId=sg) == (
        "InvalidParameterCombination",
        "Only one of cidrIp, cidrIpv6, prefixListId, or referencedGroupId can be specified")
    # The refusals changed nothing.
    got = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"][0]
    assert (got["IpProtocol"], got["FromPort"], got["ToPort"], got["CidrIpv4"], got["Description"]) == (
        "tcp", 443, 443, "10.0.0.0/16", "old")
    # ICMP and all-protocol rules need no ports; the request replaces the whole rule.
    ec2.modify_security_group_rules(GroupId=sg, SecurityGroupRules=[{
        "SecurityGroupRuleId": rid, "SecurityGroupRule": {"IpProtocol": "icmp", "CidrIpv4": "10.9.8.7/16"}}])
    got = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"][0]
    assert (got["IpProtocol"], got["FromPort"], got["ToPort"], got["CidrIpv4"], got["IsEgress"]) == (
        "icmp", -1, -1, "10.9.0.0/16", False)
    assert "Description" not in got
    ec2.modify_security_group_rules(GroupId=sg, SecurityGroupRules=[{
        "SecurityGroupRuleId": rid,
        "SecurityGroupRule": {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "CidrIpv4": "10.0.0.0/16",
                              "Description": "dns"}}])
    perms = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["IpPermissions"]
    assert perms == [{"IpProtocol": "udp", "FromPort": 53, "ToPort": 53,
                      "IpRanges": [{"CidrIp": "10.0.0.0/16", "Description": "dns"}],
                      "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}]


# --- DescribeSecurityGroupRules / DescribeSecurityGroups filters ----------------------------

def test_describe_security_group_rules_group_id_filter(kecs, sg):
    ec2 = kecs.client("ec2")
    for bad in ("nope", "sg-xyz", "sg-123"):
        assert boto_error(ec2.describe_security_group_rules, Filters=[{"Name": "group-id", "Values": [bad]}]) == (
            "InvalidGroupId.Malformed", f'Invalid id: "{bad}" (expecting "sg-...")')
    # One malformed value among good ones is still refused.
    assert boto_error(ec2.describe_security_group_rules,
                      Filters=[{"Name": "group-id", "Values": [sg, "bad"]}])[0] == "InvalidGroupId.Malformed"
    assert ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": ["sg-0123456789abcdef0"]}])["SecurityGroupRules"] == []
    assert ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": ["sg-01234567"]}])["SecurityGroupRules"] == []
    assert len(ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [sg]}])["SecurityGroupRules"]) == 1


def test_describe_security_groups_group_name_filters(kecs, vpc, sg):
    ec2 = kecs.client("ec2")
    lb = ec2.create_security_group(GroupName="lb", Description="lb", VpcId=vpc)["GroupId"]
    db = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[dict(SG_PERM, UserIdGroupPairs=[{"GroupId": lb}])])
    ec2.authorize_security_group_egress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": db}]}])

    def found(name, *values):
        got = ec2.describe_security_groups(Filters=[{"Name": name, "Values": list(values)}])["SecurityGroups"]
        return sorted(g["GroupId"] for g in got)

    assert found("ip-permission.group-name", "lb") == [sg]
    assert found("ip-permission.group-name", "l*") == [sg]
    assert found("ip-permission.group-name", "db") == []
    assert found("egress.ip-permission.group-name", "db") == [sg]
    assert found("egress.ip-permission.group-name", "lb") == []
    assert found("ip-permission.group-name", "nothing") == []
    # The CLI's shorthand, with another filter ANDed.
    got = kecs.aws("ec2", "describe-security-groups", "--filters", "Name=egress.ip-permission.group-name,Values=db",
                   f"Name=vpc-id,Values={vpc}")["SecurityGroups"]
    assert [g["GroupId"] for g in got] == [sg]


# --- Malformed group ids -------------------------------------------------------------------

def test_malformed_group_ids(kecs, sg):
    ec2 = kecs.client("ec2")
    perm = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]
    for bad in ("sg-xyz", "web", "sg-0123"):
        want = ("InvalidGroupId.Malformed", f'Invalid id: "{bad}" (expecting "sg-...")')
        assert boto_error(ec2.describe_security_groups, GroupIds=[bad]) == want
        assert boto_error(ec2.describe_security_groups, GroupIds=[sg, bad]) == want
        assert boto_error(ec2.authorize_security_group_ingress, GroupId=bad, IpPermissions=perm) == want
        assert boto_error(ec2.authorize_security_group_egress, GroupId=bad, IpPermissions=perm) == want
        assert boto_error(ec2.revoke_security_group_ingress, GroupId=bad, IpPermissions=perm) == want
        assert boto_error(ec2.revoke_security_group_egress, GroupId=bad, IpPermissions=perm) == want
        assert boto_error(ec2.modify_security_group_rules, GroupId=bad, SecurityGroupRules=[{
            "SecurityGroupRuleId": "sgr-0123456789abcdef0",
            "SecurityGroupRule": {"IpProtocol": "-1", "CidrIpv4": "10.0.0.0/8"}}]) == want
        # A referenced group's id too.
        assert boto_error(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[
            dict(SG_PERM, UserIdGroupPairs=[{"GroupId": bad}])]) == want
    err = cli_error(kecs, "ec2", "authorize-security-group-ingress", "--group-id", "eks-cluster-sg*",
                    "--protocol", "tcp", "--port", "22", "--cidr", "10.0.0.0/8")
    assert ('(InvalidGroupId.Malformed) when calling the AuthorizeSecurityGroupIngress operation: '
            'Invalid id: "eks-cluster-sg*" (expecting "sg-...")') in err
    # Well-formed but unknown: NotFound.
    assert boto_error(ec2.describe_security_groups, GroupIds=["sg-0123456789abcdef0"]) == (
        "InvalidGroup.NotFound", "The security group 'sg-0123456789abcdef0' does not exist")


# --- Network ACLs --------------------------------------------------------------------------

def test_network_acl_rule_action_in_any_case(kecs, vpc):
    ec2 = kecs.client("ec2")
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="tcp", RuleAction="ALLOW",
                                 Egress=False, CidrBlock="10.0.0.0/8", PortRange={"From": 80, "To": 80})
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=110, Protocol="-1", RuleAction="Deny",
                                 Egress=True, CidrBlock="0.0.0.0/0")
    kecs.aws("ec2", "create-network-acl-entry", "--network-acl-id", acl, "--rule-number", "120", "--protocol", "udp",
             "--rule-action", "DENY", "--ingress", "--cidr-block", "10.0.0.0/8", "--port-range", "From=53,To=53")

    def actions():
        got = ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0]["Entries"]
        return {(e["Egress"], e["RuleNumber"]): e["RuleAction"] for e in got if e["RuleNumber"] < 32767}

    assert actions() == {(False, 100): "allow", (True, 110): "deny", (False, 120): "deny"}
    ec2.replace_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="tcp", RuleAction="DeNy",
                                  Egress=False, CidrBlock="10.0.0.0/8", PortRange={"From": 80, "To": 80})
    kecs.aws("ec2", "replace-network-acl-entry", "--network-acl-id", acl, "--rule-number", "110", "--protocol", "-1",
             "--rule-action", "Allow", "--egress", "--cidr-block", "0.0.0.0/0")
    assert actions() == {(False, 100): "deny", (True, 110): "allow", (False, 120): "deny"}
    # The stored action is what the entry.rule-action filter sees.
    found = ec2.describe_network_acls(Filters=[{"Name": "entry.rule-action", "Values": ["allow"]},
                                               {"Name": "network-acl-id", "Values": [acl]}])["NetworkAcls"]
    assert [a["NetworkAclId"] for a in found] == [acl]
    # Anything else is still refused.
    assert boto_error(ec2.create_network_acl_entry, NetworkAclId=acl, RuleNumber=130, Protocol="-1",
                      RuleAction="permit", Egress=False, CidrBlock="0.0.0.0/0") == (
        "InvalidParameterValue", "Value (permit) for parameter ruleAction is invalid.")


# --- Route tables and gateways ---------------------------------------------------------------

def test_associate_route_table_conflict_text(kecs, vpc):
    ec2 = kecs.client("ec2")
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/24")["Subnet"]["SubnetId"]
    first = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    second = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=first, SubnetId=subnet)
    for rtb in (second, first):
        assert boto_error(ec2.associate_route_table, RouteTableId=rtb, SubnetId=subnet) == (
            "Resource.AlreadyAssociated",
            f"the specified association for route table {rtb} conflicts with an existing association")
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.associate_route_table(RouteTableId=first, GatewayId=igw)
    err = cli_error(kecs, "ec2", "associate-route-table", "--route-table-id", second, "--gateway-id", igw)
    assert ("(Resource.AlreadyAssociated) when calling the AssociateRouteTable operation: the specified "
            f"association for route table {second} conflicts with an existing association") in err


def test_attach_internet_gateway_malformed_vpc_id(kecs, vpc):
    ec2 = kecs.client("ec2")
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    for bad in ("vpc-xxxxxxxx", "MalformedVpcId", "vpc-1"):
        assert boto_error(ec2.attach_internet_gateway, InternetGatewayId=igw, VpcId=bad) == (
            "InvalidVpcId.Malformed", f'Invalid id: "{bad}" (expecting "vpc-...")')
    err = cli_error(kecs, "ec2", "attach-internet-gateway", "--internet-gateway-id", igw, "--vpc-id", "vpc-nothex")
    assert ('(InvalidVpcId.Malformed) when calling the AttachInternetGateway operation: '
            'Invalid id: "vpc-nothex" (expecting "vpc-...")') in err
    assert ec2.describe_internet_gateways(InternetGatewayIds=[igw])["InternetGateways"][0]["Attachments"] == []
    assert boto_error(ec2.attach_internet_gateway, InternetGatewayId=igw, VpcId="vpc-0123456789abcdef0") == (
        "InvalidVpcID.NotFound", "The vpc ID 'vpc-0123456789abcdef0' does not exist")


def test_network_acl_rule_action_case_in_the_kernel(local_kecs):
    """The kernel policy reads the stored, lowercased action: once a "DENY" entry has
    dropped A -> B (so the ACL is in force), an "Allow" one admits it again. Root only."""
    from conftest import wait_answered, wait_dropped
    from test_security_groups import PAGE, Vpc, get
    vpc = Vpc(local_kecs)
    ga, gb = vpc.group("ga"), vpc.group("gb")
    vpc.allow_tcp80_from_group(gb, ga)
    a, b = vpc.task([ga], subnet=vpc.s1), vpc.task([gb], subnet=vpc.s2)
    assert get(a["ns"], b["ip"]) == PAGE
    acl = vpc.ec2.create_network_acl(VpcId=vpc.vpc)["NetworkAcl"]["NetworkAclId"]
    for egress in (False, True):
        vpc.ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1", RuleAction="DENY",
                                         Egress=egress, CidrBlock="0.0.0.0/0")
    vpc.use_acl(vpc.s2, acl)
    wait_dropped(lambda: get(a["ns"], b["ip"]), "A -> B dropped by the DENY entries")
    # Rule 100 is all that stands before the closing deny-all: "Allow" must read as allow.
    for egress in (False, True):
        vpc.ec2.replace_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1", RuleAction="Allow",
                                          Egress=egress, CidrBlock="0.0.0.0/0")
    assert wait_answered(lambda: get(a["ns"], b["ip"]), "A -> B admitted by the Allow entries") == PAGE
