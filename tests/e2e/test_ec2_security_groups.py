"""EC2: security groups and their rules."""
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
def vpc(kecs):
    return kecs.client("ec2").create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]


def test_security_group_crud_and_filters_cli(kecs, vpc):
    out = kecs.aws("ec2", "create-security-group", "--group-name", "web", "--description", "web tier",
                   "--vpc-id", vpc, "--tag-specifications",
                   "ResourceType=security-group,Tags=[{Key=app,Value=shop}]")
    sg = out["GroupId"]
    assert sg.startswith("sg-")
    assert out["Tags"] == [{"Key": "app", "Value": "shop"}]
    for f in (f"Name=group-id,Values={sg}", "Name=group-name,Values=web", "Name=description,Values=web tier",
              "Name=tag:app,Values=shop", f"Name=vpc-id,Values={vpc}"):
        got = kecs.aws("ec2", "describe-security-groups", "--filters", f, "Name=group-name,Values=web")
        assert [g["GroupId"] for g in got["SecurityGroups"]] == [sg], f
    g = kecs.aws("ec2", "describe-security-groups", "--group-ids", sg)["SecurityGroups"][0]
    assert g["IpPermissions"] == []
    assert g["IpPermissionsEgress"] == [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                                         "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}]
    err = cli_error(kecs, "ec2", "create-security-group", "--group-name", "web", "--description", "again",
                    "--vpc-id", vpc)
    assert f"(InvalidGroup.Duplicate) when calling the CreateSecurityGroup operation: The security group 'web' already exists for VPC '{vpc}'" in err
    kecs.aws("ec2", "delete-security-group", "--group-id", sg)
    err = cli_error(kecs, "ec2", "describe-security-groups", "--group-ids", sg)
    assert f"(InvalidGroup.NotFound) when calling the DescribeSecurityGroups operation: The security group '{sg}' does not exist" in err


def test_ingress_and_egress_rules(kecs, vpc):
    ec2 = kecs.client("ec2")
    sg = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    peer = ec2.create_security_group(GroupName="lb", Description="lb", VpcId=vpc)["GroupId"]
    added = ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "corp"}, {"CidrIp": "192.168.1.0/24"}]},
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8090, "UserIdGroupPairs": [{"GroupId": peer}]},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}]},
    ])
    assert added["Return"] is True
    rules = added["SecurityGroupRules"]
    assert len(rules) == 5
    for r in rules:
        assert r["GroupId"] == sg and r["IsEgress"] is False and r["SecurityGroupRuleId"].startswith("sgr-")
        assert r["GroupOwnerId"] == ACCOUNT
    g = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]
    perms = {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort")): p for p in g["IpPermissions"]}
    https = perms[("tcp", 443, 443)]
    assert https["IpRanges"] == [{"CidrIp": "10.0.0.0/8", "Description": "corp"}, {"CidrIp": "192.168.1.0/24"}]
    assert perms[("tcp", 8080, 8090)]["UserIdGroupPairs"] == [{"GroupId": peer, "UserId": ACCOUNT}]
    assert perms[("icmp", 8, -1)]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert perms[("-1", None, None)]["Ipv6Ranges"] == [{"CidrIpv6": "2001:db8::/32"}]
    # Filters on permissions.
    got = ec2.describe_security_groups(Filters=[{"Name": "ip-permission.from-port", "Values": ["443"]}])
    assert [x["GroupId"] for x in got["SecurityGroups"]] == [sg]
    got = ec2.describe_security_groups(Filters=[{"Name": "ip-permission.group-id", "Values": [peer]}])
    assert [x["GroupId"] for x in got["SecurityGroups"]] == [sg]
    # Duplicates, with AWS's wording.
    assert boto_error(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]) == (
        "InvalidPermission.Duplicate",
        'the specified rule "peer: 10.0.0.0/8, TCP, from port: 443, to port: 443, ALLOW" already exists')
    assert boto_error(ec2.authorize_security_group_egress, GroupId=sg, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]) == (
        "InvalidPermission.Duplicate", 'the specified rule "peer: 0.0.0.0/0, ALL, ALLOW" already exists')
    # A referenced group cannot be deleted.
    assert boto_error(ec2.delete_security_group, GroupId=peer) == (
        "DependencyViolation", f"resource {peer} has a dependent object")
    # Revoke by permission, then by rule id; a missing rule is InvalidPermission.NotFound.
    ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8090, "UserIdGroupPairs": [{"GroupId": peer}]}])
    ec2.delete_security_group(GroupId=peer)
    icmp_rule = [r["SecurityGroupRuleId"] for r in rules if r["IpProtocol"] == "icmp"][0]
    ec2.revoke_security_group_ingress(GroupId=sg, SecurityGroupRuleIds=[icmp_rule])
    assert boto_error(ec2.revoke_security_group_ingress, GroupId=sg, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]) == (
        "InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
    # Egress: replace the default allow-all with one HTTPS rule.
    ec2.revoke_security_group_egress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_egress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    g = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]
    assert [(p["IpProtocol"], p.get("FromPort")) for p in g["IpPermissionsEgress"]] == [("tcp", 443)]
    assert sorted((p["IpProtocol"], p.get("FromPort")) for p in g["IpPermissions"]) == [("-1", None), ("tcp", 443)]


def test_rule_input_errors(kecs, vpc):
    ec2 = kecs.client("ec2")
    sg = ec2.create_security_group(GroupName="e", Description="e", VpcId=vpc)["GroupId"]
    assert boto_error(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]) == (
        "InvalidParameterValue", "Invalid value for portRange. Must specify both from and to ports with TCP/UDP.")
    code, _ = boto_error(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.300/8"}]}])
    assert code == "InvalidParameterValue"
    code, _ = boto_error(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[
        {"IpProtocol": "bogus", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    assert code == "InvalidParameterValue"
    assert boto_error(ec2.authorize_security_group_ingress, GroupId="sg-0123456789abcdef0", IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]) == (
        "InvalidGroup.NotFound", "The security group 'sg-0123456789abcdef0' does not exist")
    assert boto_error(ec2.create_security_group, GroupName="sg-bad", Description="x", VpcId=vpc)[0] == \
        "InvalidParameterValue"


def test_cli_shorthand_authorize(kecs, vpc):
    sg = kecs.aws("ec2", "create-security-group", "--group-name", "ssh", "--description", "ssh",
                  "--vpc-id", vpc)["GroupId"]
    out = kecs.aws("ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp",
                   "--port", "22", "--cidr", "203.0.113.0/24")
    assert out["Return"] is True and out["SecurityGroupRules"][0]["CidrIpv4"] == "203.0.113.0/24"
    err = cli_error(kecs, "ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp",
                    "--port", "22", "--cidr", "203.0.113.0/24")
    assert ('(InvalidPermission.Duplicate) when calling the AuthorizeSecurityGroupIngress operation: '
            'the specified rule "peer: 203.0.113.0/24, TCP, from port: 22, to port: 22, ALLOW" already exists') in err
    kecs.aws("ec2", "revoke-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22",
             "--cidr", "203.0.113.0/24")
    err = cli_error(kecs, "ec2", "revoke-security-group-ingress", "--group-id", sg, "--protocol", "tcp",
                    "--port", "22", "--cidr", "203.0.113.0/24")
    assert "(InvalidPermission.NotFound)" in err


def test_describe_and_modify_security_group_rules(kecs, vpc):
    ec2 = kecs.client("ec2")
    sg = ec2.create_security_group(GroupName="m", Description="m", VpcId=vpc)["GroupId"]
    rule = ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}],
        TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": [{"Key": "r", "Value": "1"}]}],
    )["SecurityGroupRules"][0]
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [sg]}])["SecurityGroupRules"]
    assert sorted(r["IsEgress"] for r in rules) == [False, True]
    ingress = [r for r in rules if not r["IsEgress"]][0]
    assert ingress["SecurityGroupRuleId"] == rule["SecurityGroupRuleId"]
    assert ingress["CidrIpv4"] == "10.0.0.0/16" and ingress["FromPort"] == 80
    assert ingress["Tags"] == [{"Key": "r", "Value": "1"}]
    by_tag = ec2.describe_security_group_rules(Filters=[{"Name": "tag:r", "Values": ["1"]}])["SecurityGroupRules"]
    assert [r["SecurityGroupRuleId"] for r in by_tag] == [rule["SecurityGroupRuleId"]]
    ec2.modify_security_group_rules(GroupId=sg, SecurityGroupRules=[{
        "SecurityGroupRuleId": rule["SecurityGroupRuleId"],
        "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8081, "CidrIpv4": "10.1.0.0/16",
                              "Description": "moved"}}])
    got = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]])["SecurityGroupRules"]
    assert (got[0]["FromPort"], got[0]["ToPort"], got[0]["CidrIpv4"], got[0]["Description"]) == (
        8080, 8081, "10.1.0.0/16", "moved")
    perms = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["IpPermissions"]
    assert perms[0]["FromPort"] == 8080 and perms[0]["IpRanges"] == [{"CidrIp": "10.1.0.0/16", "Description": "moved"}]
    code, _ = boto_error(ec2.modify_security_group_rules, GroupId=sg, SecurityGroupRules=[{
        "SecurityGroupRuleId": "sgr-0123456789abcdef0", "SecurityGroupRule": {"IpProtocol": "-1", "CidrIpv4": "1.2.3.4/32"}}])
    assert code == "InvalidSecurityGroupRuleId.NotFound"


def test_rules_per_group_quota(kecs, vpc):
    ec2 = kecs.client("ec2")
    sg = ec2.create_security_group(GroupName="q", Description="q", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": f"10.0.{i}.0/24"} for i in range(60)]}])
    assert boto_error(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.1.0.0/24"}]}]) == (
        "RulesPerSecurityGroupLimitExceeded", "The maximum number of rules per security group has been reached.")
    # The quota is per direction: egress still has room.
    ec2.authorize_security_group_egress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.1.0.0/24"}]}])
    # A batch that would cross the quota adds nothing.
    sg2 = ec2.create_security_group(GroupName="q2", Description="q2", VpcId=vpc)["GroupId"]
    assert boto_error(ec2.authorize_security_group_ingress, GroupId=sg2, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": 1, "ToPort": 1,
         "IpRanges": [{"CidrIp": f"10.2.{i}.0/24"} for i in range(61)]}])[0] == "RulesPerSecurityGroupLimitExceeded"
    assert ec2.describe_security_groups(GroupIds=[sg2])["SecurityGroups"][0]["IpPermissions"] == []


def test_default_group_cannot_be_deleted(kecs, vpc):
    ec2 = kecs.client("ec2")
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                    {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]
    assert boto_error(ec2.delete_security_group, GroupId=default["GroupId"]) == (
        "CannotDelete", f'the specified group: "{default["GroupId"]}" name: "default" cannot be deleted by a user')


def test_group_in_use_by_an_interface(kecs, vpc):
    ec2 = kecs.client("ec2")
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="used", Description="u", VpcId=vpc)["GroupId"]
    eni = ec2.create_network_interface(SubnetId=sub, Groups=[sg])["NetworkInterface"]
    assert eni["Groups"] == [{"GroupId": sg, "GroupName": "used"}]
    assert boto_error(ec2.delete_security_group, GroupId=sg) == (
        "DependencyViolation", f"resource {sg} has a dependent object")
    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    ec2.delete_security_group(GroupId=sg)


def test_security_groups_survive_restart(kecs, vpc):
    ec2 = kecs.client("ec2")
    sg = ec2.create_security_group(GroupName="keep", Description="keep", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]}])
    before = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"]
    kecs.restart()
    after = kecs.client("ec2").describe_security_groups(GroupIds=[sg])["SecurityGroups"]
    assert after == before
