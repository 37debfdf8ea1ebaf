"""EC2: VPCs, subnets and tags through the aws CLI and boto3, with AWS's errors."""
import json
import re
import urllib.error
import urllib.request

import re

import botocore.exceptions
import pytest


def boto_error(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kwargs)
    err = e.value.response["Error"]
    return err["Code"], err["Message"]


def cli_error(kecs, *args, region="us-east-1"):
    """Runs a CLI command that must fail; its stderr without the CLI's retry note."""
    p = kecs.aws(*args, region=region, raw=True)
    assert p.returncode != 0, p.stdout
    return re.sub(r" \(reached max retries: \d+\)", "", p.stderr.strip())


def form_post(kecs, body):
    req = urllib.request.Request(kecs.endpoint + "/", data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_vpc_crud_through_the_cli(kecs):
    vpc = kecs.aws("ec2", "create-vpc", "--cidr-block", "10.0.0.0/16",
                   "--tag-specifications", "ResourceType=vpc,Tags=[{Key=Name,Value=main}]")["Vpc"]
    vpc_id = vpc["VpcId"]
    assert vpc["CidrBlock"] == "10.0.0.0/16" and vpc["State"] == "pending" and vpc["IsDefault"] is False
    assert vpc["Tags"] == [{"Key": "Name", "Value": "main"}]
    got = kecs.aws("ec2", "describe-vpcs", "--vpc-ids", vpc_id)["Vpcs"]
    assert len(got) == 1 and got[0]["State"] == "available" and got[0]["Tags"] == vpc["Tags"]
    assert kecs.aws("ec2", "describe-vpcs", "--filters", "Name=tag:Name,Values=main")["Vpcs"][0]["VpcId"] == vpc_id
    assert kecs.aws("ec2", "describe-vpcs", "--filters", "Name=cidr,Values=10.0.0.0/16")["Vpcs"][0]["VpcId"] == vpc_id
    assert kecs.aws("ec2", "describe-vpcs", "--filters", "Name=isDefault,Values=false")["Vpcs"][0]["VpcId"] == vpc_id
    assert kecs.aws("ec2", "describe-vpcs", "--filters", "Name=tag:Name,Values=m*")["Vpcs"][0]["VpcId"] == vpc_id
    assert kecs.aws("ec2", "describe-vpcs", "--filters", "Name=tag:Name,Values=other")["Vpcs"] == []
    # A new VPC comes with its main route table, default SG and default NACL.
    rtbs = kecs.aws("ec2", "describe-route-tables", "--filters", f"Name=vpc-id,Values={vpc_id}")["RouteTables"]
    assert len(rtbs) == 1 and rtbs[0]["Routes"] == [
        {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}]
    sgs = kecs.aws("ec2", "describe-security-groups", "--filters", f"Name=vpc-id,Values={vpc_id}")["SecurityGroups"]
    assert [g["GroupName"] for g in sgs] == ["default"]
    acls = kecs.aws("ec2", "describe-network-acls", "--filters", f"Name=vpc-id,Values={vpc_id}")["NetworkAcls"]
    assert len(acls) == 1 and acls[0]["IsDefault"] is True
    kecs.aws("ec2", "modify-vpc-attribute", "--vpc-id", vpc_id, "--enable-dns-hostnames", '{"Value": true}')
    attr = kecs.aws("ec2", "describe-vpc-attribute", "--vpc-id", vpc_id, "--attribute", "enableDnsHostnames")
    assert attr["EnableDnsHostnames"] == {"Value": True}
    kecs.aws("ec2", "delete-vpc", "--vpc-id", vpc_id)
    err = cli_error(kecs, "ec2", "describe-vpcs", "--vpc-ids", vpc_id)
    assert f"(InvalidVpcID.NotFound) when calling the DescribeVpcs operation: The vpc ID '{vpc_id}' does not exist" in err
    # Its route table, SG and NACL went with it.
    assert kecs.aws("ec2", "describe-route-tables", "--filters", f"Name=vpc-id,Values={vpc_id}")["RouteTables"] == []
    assert kecs.aws("ec2", "describe-network-acls", "--filters", f"Name=vpc-id,Values={vpc_id}")["NetworkAcls"] == []


def test_vpc_and_subnet_through_boto3(kecs):
    ec2 = kecs.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.1.1.0/24", AvailabilityZone="us-east-1c",
                            TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "tier", "Value": "app"}]}])["Subnet"]
    assert sub["AvailableIpAddressCount"] == 251
    assert sub["AvailabilityZone"] == "us-east-1c" and sub["AvailabilityZoneId"] == "use1-az2"
    assert sub["DefaultForAz"] is False and sub["MapPublicIpOnLaunch"] is False
    assert sub["Tags"] == [{"Key": "tier", "Value": "app"}]
    by_id = ec2.describe_subnets(SubnetIds=[sub["SubnetId"]])["Subnets"]
    assert by_id[0]["CidrBlock"] == "10.1.1.0/24"
    for name, value in [("vpc-id", vpc_id), ("subnet-id", sub["SubnetId"]), ("cidr-block", "10.1.1.0/24"),
                        ("availability-zone", "us-east-1c"), ("tag:tier", "app"), ("tag-key", "tier"),
                        ("available-ip-address-count", "251"), ("default-for-az", "false")]:
        got = ec2.describe_subnets(Filters=[{"Name": name, "Values": [value]},
                                            {"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
        assert [s["SubnetId"] for s in got] == [sub["SubnetId"]], name
    # Values within a filter are ORed, filters ANDed.
    two = ec2.describe_subnets(Filters=[{"Name": "cidr-block", "Values": ["10.1.1.0/24", "172.31.0.0/20"]}])
    assert len(two["Subnets"]) == 2
    none = ec2.describe_subnets(Filters=[{"Name": "cidr-block", "Values": ["10.1.1.0/24"]},
                                         {"Name": "vpc-id", "Values": ["vpc-00000000"]}])
    assert none["Subnets"] == []
    ec2.modify_subnet_attribute(SubnetId=sub["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    assert ec2.describe_subnets(SubnetIds=[sub["SubnetId"]])["Subnets"][0]["MapPublicIpOnLaunch"] is True
    # Zone spread without an explicit zone.
    other = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.1.2.0/24")["Subnet"]
    assert other["AvailabilityZone"] != "us-east-1c"
    ec2.delete_subnet(SubnetId=other["SubnetId"])
    ec2.delete_subnet(SubnetId=sub["SubnetId"])
    assert boto_error(ec2.describe_subnets, SubnetIds=[sub["SubnetId"]]) == (
        "InvalidSubnetID.NotFound", f"The subnet ID '{sub['SubnetId']}' does not exist")
    ec2.delete_vpc(VpcId=vpc_id)


def test_vpc_and_subnet_cidr_errors(kecs):
    ec2 = kecs.client("ec2")
    assert boto_error(ec2.create_vpc, CidrBlock="10.0.0.0/29") == (
        "InvalidVpc.Range", "The CIDR '10.0.0.0/29' is invalid.")
    assert boto_error(ec2.create_vpc, CidrBlock="10.0.0.0/8") == (
        "InvalidVpc.Range", "The CIDR '10.0.0.0/8' is invalid.")
    assert boto_error(ec2.create_vpc, CidrBlock="1000.1.0.0/20") == (
        "InvalidParameterValue",
        "Value (1000.1.0.0/20) for parameter cidrBlock is invalid. This is not a valid CIDR block.")
    vpc_id = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.2.0.0/20")
    assert boto_error(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.2.8.0/24") == (
        "InvalidSubnet.Conflict", "The CIDR '10.2.8.0/24' conflicts with another subnet")
    assert boto_error(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.3.0.0/24") == (
        "InvalidSubnet.Range", "The CIDR '10.3.0.0/24' is invalid.")
    assert boto_error(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.2.16.0/29") == (
        "InvalidSubnet.Range", "The CIDR '10.2.16.0/29' is invalid.")
    code, msg = boto_error(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.2.16.0/24", AvailabilityZone="us-east-1z")
    assert code == "InvalidParameterValue"
    assert msg.startswith("Value (us-east-1z) for parameter availabilityZone is invalid.")
    assert boto_error(ec2.create_subnet, VpcId="vpc-0123456789abcdef0", CidrBlock="10.2.16.0/24") == (
        "InvalidVpcID.NotFound", "The vpc ID 'vpc-0123456789abcdef0' does not exist")
    # Through the CLI as well.
    err = cli_error(kecs, "ec2", "create-subnet", "--vpc-id", vpc_id, "--cidr-block", "10.2.0.0/24")
    assert "(InvalidSubnet.Conflict) when calling the CreateSubnet operation: The CIDR '10.2.0.0/24' conflicts with another subnet" in err


def test_secondary_vpc_cidr(kecs):
    ec2 = kecs.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.4.0.0/16")["Vpc"]["VpcId"]
    assoc = ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.5.0.0/16")["CidrBlockAssociation"]
    assert assoc["CidrBlock"] == "10.5.0.0/16"
    vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    assert sorted(a["CidrBlock"] for a in vpc["CidrBlockAssociationSet"]) == ["10.4.0.0/16", "10.5.0.0/16"]
    got = ec2.describe_vpcs(Filters=[{"Name": "cidr-block-association.cidr-block", "Values": ["10.5.0.0/16"]}])
    assert [v["VpcId"] for v in got["Vpcs"]] == [vpc_id]
    # Subnets may come from the new block, and a new route table routes both locally.
    ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.5.1.0/24")
    rtb = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]
    assert sorted(r["DestinationCidrBlock"] for r in rtb["Routes"]) == ["10.4.0.0/16", "10.5.0.0/16"]
    code, msg = boto_error(ec2.associate_vpc_cidr_block, VpcId=vpc_id, CidrBlock="192.168.0.0/16")
    assert code == "InvalidVpc.Range" and msg.startswith("The CIDR '192.168.0.0/16' is restricted.")


def test_vpc_dependency_violation(kecs):
    ec2 = kecs.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.6.0.0/24")["Subnet"]["SubnetId"]
    assert boto_error(ec2.delete_vpc, VpcId=vpc_id) == (
        "DependencyViolation", f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
    eni = ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]["NetworkInterfaceId"]
    assert boto_error(ec2.delete_subnet, SubnetId=sub) == (
        "DependencyViolation", f"The subnet '{sub}' has dependencies and cannot be deleted.")
    ec2.delete_network_interface(NetworkInterfaceId=eni)
    ec2.delete_subnet(SubnetId=sub)
    sg = ec2.create_security_group(GroupName="x", Description="x", VpcId=vpc_id)["GroupId"]
    assert boto_error(ec2.delete_vpc, VpcId=vpc_id)[0] == "DependencyViolation"
    ec2.delete_security_group(GroupId=sg)
    ec2.delete_vpc(VpcId=vpc_id)


def test_tags_create_delete_describe(kecs):
    ec2 = kecs.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.7.0.0/24")["Subnet"]["SubnetId"]
    ec2.create_tags(Resources=[vpc_id, sub], Tags=[{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "a"}])
    assert sorted((t["Key"], t["Value"]) for t in ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["Tags"]) == [
        ("env", "dev"), ("team", "a")]
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vpc_id, sub]}])["Tags"]
    assert sorted((t["ResourceId"], t["ResourceType"], t["Key"], t["Value"]) for t in tags) == sorted([
        (vpc_id, "vpc", "env", "dev"), (vpc_id, "vpc", "team", "a"),
        (sub, "subnet", "env", "dev"), (sub, "subnet", "team", "a")])
    only_subnets = ec2.describe_tags(Filters=[{"Name": "resource-type", "Values": ["subnet"]},
                                              {"Name": "key", "Values": ["env"]}])["Tags"]
    assert [(t["ResourceId"], t["Value"]) for t in only_subnets] == [(sub, "dev")]
    # Overwrite a value, delete by key with a non-matching value (kept), then by key alone.
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "env", "Value": "prod"}])
    ec2.delete_tags(Resources=[vpc_id], Tags=[{"Key": "team", "Value": "b"}])
    ec2.delete_tags(Resources=[vpc_id], Tags=[{"Key": "env"}])
    assert ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["Tags"] == [{"Key": "team", "Value": "a"}]
    # The CLI too.
    kecs.aws("ec2", "create-tags", "--resources", sub, "--tags", "Key=Name,Value=web")
    cli = kecs.aws("ec2", "describe-tags", "--filters", f"Name=resource-id,Values={sub}", "Name=key,Values=Name")
    assert cli["Tags"] == [{"Key": "Name", "ResourceId": sub, "ResourceType": "subnet", "Value": "web"}]
    kecs.aws("ec2", "delete-tags", "--resources", sub, "--tags", "Key=Name")
    assert kecs.aws("ec2", "describe-tags", "--filters", f"Name=resource-id,Values={sub}",
                    "Name=key,Values=Name")["Tags"] == []
    code, msg = boto_error(ec2.create_tags, Resources=["vpc-0000000000000000f"], Tags=[{"Key": "a", "Value": "b"}])
    assert code == "InvalidID"
    code, msg = boto_error(ec2.create_vpc, CidrBlock="10.8.0.0/16",
                           TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "a", "Value": "b"}]}])
    assert code == "InvalidParameterValue"


def test_malformed_ids(kecs):
    ec2 = kecs.client("ec2")
    cases = [
        (ec2.describe_vpcs, {"VpcIds": ["vpc-nothex"]}, "InvalidVpcId.Malformed", 'Invalid id: "vpc-nothex" (expecting "vpc-...")'),
        (ec2.describe_subnets, {"SubnetIds": ["subnet-1"]}, "InvalidSubnetId.Malformed", 'Invalid id: "subnet-1" (expecting "subnet-...")'),
        (ec2.describe_security_groups, {"GroupIds": ["sg-xyz"]}, "InvalidGroupId.Malformed", 'Invalid id: "sg-xyz" (expecting "sg-...")'),
        (ec2.describe_network_interfaces, {"NetworkInterfaceIds": ["eni-zz"]}, "InvalidNetworkInterfaceId.Malformed",
         'Invalid id: "eni-zz" (expecting "eni-...")'),
        (ec2.describe_internet_gateways, {"InternetGatewayIds": ["igw-1"]}, "InvalidInternetGatewayId.Malformed",
         'Invalid id: "igw-1" (expecting "igw-...")'),
        (ec2.describe_route_tables, {"RouteTableIds": ["rtb-q"]}, "InvalidRouteTableId.Malformed",
         'Invalid id: "rtb-q" (expecting "rtb-...")'),
        (ec2.describe_network_acls, {"NetworkAclIds": ["acl-q"]}, "InvalidNetworkAclId.Malformed",
         'Invalid id: "acl-q" (expecting "acl-...")'),
        (ec2.delete_vpc, {"VpcId": "MalformedVpcId"}, "InvalidVpcId.Malformed",
         'Invalid id: "MalformedVpcId" (expecting "vpc-...")'),
    ]
    for call, kwargs, code, msg in cases:
        assert boto_error(call, **kwargs) == (code, msg)
    # Legacy 8-digit ids are well-formed.
    assert boto_error(ec2.describe_vpcs, VpcIds=["vpc-a01106c2"]) == (
        "InvalidVpcID.NotFound", "The vpc ID 'vpc-a01106c2' does not exist")


def test_unknown_filter_is_invalid(kecs):
    ec2 = kecs.client("ec2")
    for call in (ec2.describe_vpcs, ec2.describe_subnets, ec2.describe_security_groups,
                 ec2.describe_network_interfaces, ec2.describe_route_tables, ec2.describe_network_acls,
                 ec2.describe_internet_gateways):
        assert boto_error(call, Filters=[{"Name": "x", "Values": ["y"]}]) == (
            "InvalidParameterValue", "The filter 'x' is invalid")
    # Even with nothing to match (no NAT gateways, no interfaces).
    assert boto_error(ec2.describe_nat_gateways, Filter=[{"Name": "bogus", "Values": ["y"]}]) == (
        "InvalidParameterValue", "The filter 'bogus' is invalid")
    err = cli_error(kecs, "ec2", "describe-vpcs", "--filters", "Name=x,Values=y")
    assert "(InvalidParameterValue) when calling the DescribeVpcs operation: The filter 'x' is invalid" in err


def test_missing_and_unknown_parameters_over_raw_form_posts(kecs):
    status, body = form_post(kecs, "Action=DeleteVpc&Version=2016-11-15")
    assert status == 400
    assert "<Code>MissingParameter</Code>" in body
    assert "<Message>The request must contain the parameter VpcId</Message>" in body
    status, body = form_post(kecs, "Action=CreateVpc&Version=2016-11-15")
    assert status == 400 and "<Code>MissingParameter</Code>" in body
    assert "The request must contain the parameter CidrBlock" in body
    status, body = form_post(kecs, "Action=DescribeVpcs&Version=2016-11-15&Bogus=1")
    assert status == 400
    assert "<Code>UnknownParameter</Code>" in body
    assert "<Message>The parameter Bogus is not recognized</Message>" in body
    # A well-formed unsigned request is answered in EC2's XML.
    status, body = form_post(kecs, "Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=isDefault&Filter.1.Value.1=true")
    assert status == 200
    assert "<DescribeVpcsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">" in body
    assert "<cidrBlock>172.31.0.0/16</cidrBlock>" in body and "<isDefault>true</isDefault>" in body


def test_dry_run(kecs):
    ec2 = kecs.client("ec2")
    assert boto_error(ec2.create_vpc, CidrBlock="10.9.0.0/16", DryRun=True) == (
        "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
    assert ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.9.0.0/16"]}])["Vpcs"] == []
    err = cli_error(kecs, "ec2", "create-internet-gateway", "--dry-run")
    assert "(DryRunOperation)" in err
    assert kecs.aws("ec2", "describe-internet-gateways")["InternetGateways"].__len__() == 1
    err = cli_error(kecs, "ec2", "describe-route-tables", "--dry-run")
    assert "(DryRunOperation)" in err


def test_pagination(kecs):
    ec2 = kecs.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
    for i in range(7):
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.10.{i}.0/24")
    seen, token = [], None
    while True:
        kwargs = {"Filters": [{"Name": "vpc-id", "Values": [vpc_id]}], "MaxResults": 5}
        if token:
            kwargs["NextToken"] = token
        page = ec2.describe_subnets(**kwargs)
        seen += [s["CidrBlock"] for s in page["Subnets"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(f"10.10.{i}.0/24" for i in range(7))
    # The CLI pages transparently.
    cli = kecs.aws("ec2", "describe-subnets", "--filters", f"Name=vpc-id,Values={vpc_id}", "--page-size", "5")
    assert len(cli["Subnets"]) == 7


def test_vpcs_subnets_and_tags_survive_restart(kecs):
    ec2 = kecs.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.11.0.0/16",
                         TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "k", "Value": "v"}]}])["Vpc"]
    sub = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.11.3.0/24")["Subnet"]
    ec2.create_network_interface(SubnetId=sub["SubnetId"])
    kecs.restart()
    ec2 = kecs.client("ec2")
    v = ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]
    assert v["Tags"] == [{"Key": "k", "Value": "v"}] and v["CidrBlock"] == "10.11.0.0/16"
    s = ec2.describe_subnets(SubnetIds=[sub["SubnetId"]])["Subnets"][0]
    assert s["AvailableIpAddressCount"] == 250
    assert len(ec2.describe_vpcs()["Vpcs"]) == 2
    assert json.dumps(s)  # plain JSON-able
