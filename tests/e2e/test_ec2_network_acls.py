"""EC2: network ACLs, their entries and subnet associations."""
import re

import botocore.exceptions
import pytest


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
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.0.0/24")["Subnet"]["SubnetId"]
    return ec2, vpc, sub


def default_acl(ec2, vpc):
    return ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                              {"Name": "default", "Values": ["true"]}])["NetworkAcls"][0]


def association_of(ec2, subnet):
    acls = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"]
    assert len(acls) == 1
    assocs = [a for a in acls[0]["Associations"] if a["SubnetId"] == subnet]
    assert len(assocs) == 1
    return acls[0]["NetworkAclId"], assocs[0]["NetworkAclAssociationId"]


def test_create_describe_delete_acl(kecs, net):
    ec2, vpc, sub = net
    acl = ec2.create_network_acl(VpcId=vpc, TagSpecifications=[
        {"ResourceType": "network-acl", "Tags": [{"Key": "Name", "Value": "strict"}]}])["NetworkAcl"]
    acl_id = acl["NetworkAclId"]
    assert acl_id.startswith("acl-") and acl["IsDefault"] is False and acl["VpcId"] == vpc
    assert acl["Associations"] == []
    assert acl["Entries"] == [
        {"CidrBlock": "0.0.0.0/0", "Egress": True, "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 32767},
        {"CidrBlock": "0.0.0.0/0", "Egress": False, "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 32767}]
    assert acl["Tags"] == [{"Key": "Name", "Value": "strict"}]
    for name, value in [("network-acl-id", acl_id), ("default", "false"), ("tag:Name", "strict"),
                        ("entry.rule-number", "32767")]:
        got = ec2.describe_network_acls(Filters=[{"Name": name, "Values": [value]},
                                                 {"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"]
        assert acl_id in [a["NetworkAclId"] for a in got], name
    got = ec2.describe_network_acls(Filters=[{"Name": "default", "Values": ["false"]},
                                             {"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"]
    assert [a["NetworkAclId"] for a in got] == [acl_id]
    ec2.delete_network_acl(NetworkAclId=acl_id)
    assert boto_error(ec2.describe_network_acls, NetworkAclIds=[acl_id]) == (
        "InvalidNetworkAclID.NotFound", f"The networkAcl ID '{acl_id}' does not exist")
    default = default_acl(ec2, vpc)["NetworkAclId"]
    assert boto_error(ec2.delete_network_acl, NetworkAclId=default) == (
        "InvalidParameterValue", f"cannot delete default network ACL {default}")


def test_entries(kecs, net):
    ec2, vpc, _ = net
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=200, Protocol="tcp", RuleAction="allow",
                                 Egress=False, CidrBlock="10.0.0.0/8", PortRange={"From": 443, "To": 443})
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="17", RuleAction="deny",
                                 Egress=False, CidrBlock="192.168.0.0/16", PortRange={"From": 53, "To": 53})
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=110, Protocol="icmp", RuleAction="allow",
                                 Egress=True, CidrBlock="0.0.0.0/0", IcmpTypeCode={"Type": 8, "Code": -1})
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=120, Protocol="-1", RuleAction="allow",
                                 Egress=True, Ipv6CidrBlock="::/0")
    entries = ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0]["Entries"]
    # Egress before ingress, each by rule number.
    assert [(e["Egress"], e["RuleNumber"]) for e in entries] == [
        (True, 110), (True, 120), (True, 32767), (False, 100), (False, 200), (False, 32767)]
    by = {(e["Egress"], e["RuleNumber"]): e for e in entries}
    assert by[(False, 200)] == {"CidrBlock": "10.0.0.0/8", "Egress": False, "PortRange": {"From": 443, "To": 443},
                                "Protocol": "6", "RuleAction": "allow", "RuleNumber": 200}
    assert by[(False, 100)]["Protocol"] == "17" and by[(False, 100)]["RuleAction"] == "deny"
    assert by[(True, 110)]["Protocol"] == "1" and by[(True, 110)]["IcmpTypeCode"] == {"Code": -1, "Type": 8}
    assert by[(True, 120)]["Ipv6CidrBlock"] == "::/0" and "CidrBlock" not in by[(True, 120)]
    for name, value in [("entry.cidr", "10.0.0.0/8"), ("entry.protocol", "6"), ("entry.rule-number", "200"),
                        ("entry.port-range.from", "443"), ("entry.port-range.to", "443"), ("entry.icmp.type", "8"),
                        ("entry.icmp.code", "-1"), ("entry.ipv6-cidr", "::/0")]:
        got = ec2.describe_network_acls(Filters=[{"Name": name, "Values": [value]},
                                                 {"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"]
        assert [a["NetworkAclId"] for a in got] == [acl], name
    # Every ACL has deny entries in both directions.
    for name, value in [("entry.rule-action", "deny"), ("entry.egress", "true")]:
        got = ec2.describe_network_acls(Filters=[{"Name": name, "Values": [value]},
                                                 {"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"]
        assert len(got) == 2, name
    got = ec2.describe_network_acls(Filters=[{"Name": "entry.rule-action", "Values": ["allow"]},
                                             {"Name": "default", "Values": ["false"]},
                                             {"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"]
    assert [a["NetworkAclId"] for a in got] == [acl]
    # Duplicates, replacement, deletion.
    assert boto_error(ec2.create_network_acl_entry, NetworkAclId=acl, RuleNumber=200, Protocol="-1",
                      RuleAction="deny", Egress=False, CidrBlock="0.0.0.0/0") == (
        "NetworkAclEntryAlreadyExists", "The network acl entry identified by 200 already exists.")
    # The same number in the other direction is a different entry.
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=200, Protocol="-1", RuleAction="deny",
                                 Egress=True, CidrBlock="0.0.0.0/0")
    ec2.replace_network_acl_entry(NetworkAclId=acl, RuleNumber=200, Protocol="udp", RuleAction="deny",
                                  Egress=False, CidrBlock="10.1.0.0/16", PortRange={"From": 1000, "To": 2000})
    entries = ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0]["Entries"]
    replaced = [e for e in entries if e["RuleNumber"] == 200 and not e["Egress"]][0]
    assert replaced == {"CidrBlock": "10.1.0.0/16", "Egress": False, "PortRange": {"From": 1000, "To": 2000},
                        "Protocol": "17", "RuleAction": "deny", "RuleNumber": 200}
    assert boto_error(ec2.replace_network_acl_entry, NetworkAclId=acl, RuleNumber=300, Protocol="-1",
                      RuleAction="deny", Egress=False, CidrBlock="0.0.0.0/0") == (
        "InvalidNetworkAclEntry.NotFound", "The network acl entry identified by 300 does not exist.")
    ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=200, Egress=False)
    assert boto_error(ec2.delete_network_acl_entry, NetworkAclId=acl, RuleNumber=200, Egress=False) == (
        "InvalidNetworkAclEntry.NotFound", "The network acl entry identified by 200 does not exist.")
    entries = ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0]["Entries"]
    assert [(e["Egress"], e["RuleNumber"]) for e in entries] == [
        (True, 110), (True, 120), (True, 200), (True, 32767), (False, 100), (False, 32767)]


def test_entry_errors(kecs, net):
    ec2, vpc, _ = net
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    for number in (0, 32767, 40000):
        code, msg = boto_error(ec2.create_network_acl_entry, NetworkAclId=acl, RuleNumber=number, Protocol="-1",
                               RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0")
        assert code == "InvalidParameterValue" and f"Value ({number}) for parameter ruleNumber is invalid." in msg
    assert boto_error(ec2.create_network_acl_entry, NetworkAclId=acl, RuleNumber=10, Protocol="tcp",
                      RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0") == (
        "InvalidParameterValue", "Invalid value for portRange. Must specify both from and to ports with TCP/UDP.")
    assert boto_error(ec2.create_network_acl_entry, NetworkAclId=acl, RuleNumber=10, Protocol="bogus",
                      RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0")[0] == "InvalidParameterValue"
    assert boto_error(ec2.create_network_acl_entry, NetworkAclId=acl, RuleNumber=10, Protocol="-1",
                      RuleAction="allow", Egress=False, CidrBlock="10.0.0/33") == (
        "InvalidParameterValue", "Value (10.0.0/33) for parameter cidrBlock is invalid. This is not a valid CIDR block.")
    assert boto_error(ec2.create_network_acl_entry, NetworkAclId=acl, RuleNumber=10, Protocol="-1",
                      RuleAction="allow", Egress=False)[0] == "MissingParameter"
    assert boto_error(ec2.create_network_acl_entry, NetworkAclId="acl-0123456789abcdef0", RuleNumber=10,
                      Protocol="-1", RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0") == (
        "InvalidNetworkAclID.NotFound", "The networkAcl ID 'acl-0123456789abcdef0' does not exist")
    assert boto_error(ec2.delete_network_acl_entry, NetworkAclId=acl, RuleNumber=32767, Egress=False)[0] == \
        "InvalidParameterValue"
    code, _ = boto_error(ec2.create_network_acl_entry, NetworkAclId=acl, RuleNumber=10, Protocol="-1",
                         RuleAction="maybe", Egress=False, CidrBlock="0.0.0.0/0")
    assert code == "InvalidParameterValue"


def test_replace_association(kecs, net):
    ec2, vpc, sub = net
    default = default_acl(ec2, vpc)["NetworkAclId"]
    acl_id, assoc = association_of(ec2, sub)
    assert acl_id == default and assoc.startswith("aclassoc-")
    custom = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    new_assoc = ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=custom)["NewAssociationId"]
    assert new_assoc.startswith("aclassoc-") and new_assoc != assoc
    # Still exactly one association for the subnet, now with the custom ACL.
    assert association_of(ec2, sub) == (custom, new_assoc)
    assert sub not in [a["SubnetId"] for a in default_acl(ec2, vpc)["Associations"]]
    for name, value in [("association.association-id", new_assoc), ("association.subnet-id", sub),
                        ("association.network-acl-id", custom)]:
        got = ec2.describe_network_acls(Filters=[{"Name": name, "Values": [value]}])["NetworkAcls"]
        assert [a["NetworkAclId"] for a in got] == [custom], name
    assert boto_error(ec2.delete_network_acl, NetworkAclId=custom) == (
        "DependencyViolation", f"The networkAcl '{custom}' has dependencies and cannot be deleted.")
    assert boto_error(ec2.replace_network_acl_association, AssociationId=assoc, NetworkAclId=default) == (
        "InvalidAssociationID.NotFound", f"The association ID '{assoc}' does not exist")
    other_vpc = ec2.create_vpc(CidrBlock="10.51.0.0/16")["Vpc"]["VpcId"]
    foreign = default_acl(ec2, other_vpc)["NetworkAclId"]
    code, msg = boto_error(ec2.replace_network_acl_association, AssociationId=new_assoc, NetworkAclId=foreign)
    assert code == "InvalidParameterValue" and "belong to different networks" in msg
    # Back to the default; the custom ACL can then go. A deleted subnet leaves its ACL.
    back = ec2.replace_network_acl_association(AssociationId=new_assoc, NetworkAclId=default)["NewAssociationId"]
    assert association_of(ec2, sub) == (default, back)
    ec2.delete_network_acl(NetworkAclId=custom)
    ec2.delete_subnet(SubnetId=sub)
    assert default_acl(ec2, vpc)["Associations"] == []


def test_cli_acl_flow(kecs, net):
    _, vpc, sub = net
    acl = kecs.aws("ec2", "create-network-acl", "--vpc-id", vpc)["NetworkAcl"]["NetworkAclId"]
    kecs.aws("ec2", "create-network-acl-entry", "--network-acl-id", acl, "--ingress", "--rule-number", "100",
             "--protocol", "tcp", "--port-range", "From=22,To=22", "--cidr-block", "172.16.0.0/24",
             "--rule-action", "allow")
    err = cli_error(kecs, "ec2", "create-network-acl-entry", "--network-acl-id", acl, "--ingress", "--rule-number",
                    "100", "--protocol", "tcp", "--port-range", "From=22,To=22", "--cidr-block", "172.16.0.0/24",
                    "--rule-action", "allow")
    assert "(NetworkAclEntryAlreadyExists) when calling the CreateNetworkAclEntry operation: The network acl entry identified by 100 already exists." in err
    got = kecs.aws("ec2", "describe-network-acls", "--network-acl-ids", acl)["NetworkAcls"][0]
    assert {"CidrBlock": "172.16.0.0/24", "Egress": False, "PortRange": {"From": 22, "To": 22},
            "Protocol": "6", "RuleAction": "allow", "RuleNumber": 100} in got["Entries"]
    assoc = kecs.aws("ec2", "describe-network-acls", "--filters", f"Name=association.subnet-id,Values={sub}")[
        "NetworkAcls"][0]["Associations"]
    assoc_id = [a for a in assoc if a["SubnetId"] == sub][0]["NetworkAclAssociationId"]
    out = kecs.aws("ec2", "replace-network-acl-association", "--association-id", assoc_id, "--network-acl-id", acl)
    assert out["NewAssociationId"].startswith("aclassoc-")
    err = cli_error(kecs, "ec2", "delete-network-acl", "--network-acl-id", acl)
    assert f"(DependencyViolation) when calling the DeleteNetworkAcl operation: The networkAcl '{acl}' has dependencies and cannot be deleted." in err
    kecs.aws("ec2", "delete-network-acl-entry", "--network-acl-id", acl, "--ingress", "--rule-number", "100")
    err = cli_error(kecs, "ec2", "describe-network-acls", "--network-acl-ids", "acl-0000000000000000a")
    assert "(InvalidNetworkAclID.NotFound) when calling the DescribeNetworkAcls operation: The networkAcl ID 'acl-0000000000000000a' does not exist" in err


def test_acls_survive_restart(kecs, net):
    ec2, vpc, sub = net
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=5, Protocol="udp", RuleAction="allow",
                                 Egress=True, CidrBlock="10.0.0.0/8", PortRange={"From": 123, "To": 123})
    _, assoc = association_of(ec2, sub)
    ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=acl)
    before = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"]
    kecs.restart()
    ec2 = kecs.client("ec2")
    assert ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"] == before
    # A subnet made after the restart still joins the default ACL.
    new = ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.9.0/24")["Subnet"]["SubnetId"]
    assert association_of(ec2, new)[0] == default_acl(ec2, vpc)["NetworkAclId"]
