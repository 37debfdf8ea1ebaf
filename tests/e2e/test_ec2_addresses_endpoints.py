"""Issue 17: the rest of the VPC API through the EC2 API (simulated runtime), with boto3 and
the aws CLI: Elastic IP addresses (allocation from kecs's pool, association with an
instance or an interface and what DescribeInstances / DescribeNetworkInterfaces show),
subnet CIDR reservations (validation, IPAM honouring them for instances and awsvpc tasks),
VPC and subnet CIDR block disassociation, VPC endpoints and prefix lists, security group
references across a peering and GetConsoleOutput; AWS's codes and messages."""
import ipaddress

import pytest

from test_ec2_instances import fast, image_id
from test_ec2_security_groups import boto_error, cli_error
from test_vpc_ecs_support import make_subnet, make_vpc, netcfg, register_fargate, task_ip, wait_status

ACCOUNT = "000000000000"


@pytest.fixture
def ec2(kecs):
    return kecs.client("ec2")


def attach_igw(ec2, vpc):
    """Elastic IPs need an internet gateway on the VPC (Gateway.NotAttached otherwise)."""
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    return igw


def release_all(ec2):
    """Addresses are capped at five per region: each test leaves none behind."""
    for a in ec2.describe_addresses()["Addresses"]:
        if "AssociationId" in a:
            ec2.disassociate_address(AssociationId=a["AssociationId"])
        ec2.release_address(AllocationId=a["AllocationId"])


def test_allocate_associate_instance_release_boto3(kecs, ec2):
    release_all(ec2)
    vpc = make_vpc(ec2, "10.91.0.0/16")
    attach_igw(ec2, vpc)
    sub = make_subnet(ec2, vpc, "10.91.1.0/24")
    a = ec2.allocate_address(Domain="vpc", TagSpecifications=[
        {"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": "web"}]}])
    alloc, ip = a["AllocationId"], a["PublicIp"]
    assert alloc.startswith("eipalloc-") and ipaddress.ip_address(ip) in ipaddress.ip_network("3.0.0.0/8")
    assert a["Domain"] == "vpc" and a["PublicIpv4Pool"] == "amazon" and a["NetworkBorderGroup"] == "us-east-1"
    got = ec2.describe_addresses(AllocationIds=[alloc])["Addresses"]
    assert got == [{"AllocationId": alloc, "Domain": "vpc", "NetworkBorderGroup": "us-east-1", "PublicIp": ip,
                    "PublicIpv4Pool": "amazon", "Tags": [{"Key": "Name", "Value": "web"}]}]

    inst = ec2.run_instances(ImageId=image_id(ec2), InstanceType="t3.micro", MinCount=1, MaxCount=1,
                             SubnetId=sub)["Instances"][0]
    iid = inst["InstanceId"]
    fast("instance_running", ec2).wait(InstanceIds=[iid])
    assoc = ec2.associate_address(AllocationId=alloc, InstanceId=iid)["AssociationId"]
    assert assoc.startswith("eipassoc-")

    dashed = ip.replace(".", "-")
    desc = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert desc["PublicIpAddress"] == ip
    assert desc["PublicDnsName"] == f"ec2-{dashed}.compute-1.amazonaws.com"
    nic = desc["NetworkInterfaces"][0]
    assert nic["Association"] == {"IpOwnerId": ACCOUNT, "PublicDnsName": f"ec2-{dashed}.compute-1.amazonaws.com",
                                  "PublicIp": ip}
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[nic["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    assert eni["Association"]["AllocationId"] == alloc and eni["Association"]["AssociationId"] == assoc
    assert eni["Association"]["PublicIp"] == ip
    assert ec2.describe_network_interfaces(Filters=[{"Name": "association.public-ip", "Values": [ip]}])[
        "NetworkInterfaces"][0]["NetworkInterfaceId"] == eni["NetworkInterfaceId"]

    addr = ec2.describe_addresses(Filters=[{"Name": "instance-id", "Values": [iid]}])["Addresses"]
    assert len(addr) == 1 and addr[0]["AssociationId"] == assoc
    assert addr[0]["NetworkInterfaceId"] == eni["NetworkInterfaceId"]
    assert addr[0]["PrivateIpAddress"] == inst["PrivateIpAddress"] and addr[0]["NetworkInterfaceOwnerId"] == ACCOUNT
    assert ec2.describe_addresses(PublicIps=[ip])["Addresses"][0]["AllocationId"] == alloc

    # Refusals, AWS's codes and (where public reports quote them) words.
    assert boto_error(ec2.release_address, AllocationId=alloc)[0] == "InvalidIPAddress.InUse"
    other = ec2.allocate_address(Domain="vpc")["AllocationId"]
    inst2 = ec2.run_instances(ImageId=image_id(ec2), InstanceType="t3.micro", MinCount=1, MaxCount=1,
                              SubnetId=sub)["Instances"][0]["InstanceId"]
    assert boto_error(ec2.associate_address, AllocationId=alloc, InstanceId=inst2, AllowReassociation=False) == (
        "Resource.AlreadyAssociated", f"resource {alloc} is already associated with associate-id {assoc}")
    # A second address on the same instance replaces the first, which stays allocated.
    assoc_other = ec2.associate_address(AllocationId=other, InstanceId=iid)["AssociationId"]
    desc = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert desc["PublicIpAddress"] != ip
    assert "AssociationId" not in ec2.describe_addresses(AllocationIds=[alloc])["Addresses"][0]
    assert boto_error(ec2.disassociate_address, AssociationId=assoc) == (
        "InvalidAssociationID.NotFound", f"The association ID '{assoc}' does not exist")
    missing = "eipalloc-0123456789abcdef0"
    assert boto_error(ec2.describe_addresses, AllocationIds=[missing]) == (
        "InvalidAllocationID.NotFound", f"The allocation ID '{missing}' does not exist")
    assert boto_error(ec2.associate_address, AllocationId=missing, InstanceId=iid) == (
        "InvalidAllocationID.NotFound", f"The allocation ID '{missing}' does not exist")
    assert boto_error(ec2.associate_address, AllocationId=alloc, InstanceId="i-0123456789abcdef0") == (
        "InvalidInstanceID.NotFound", "The instance ID 'i-0123456789abcdef0' does not exist")

    # Terminated, the instance shows no public address and its address is free again.
    ec2.terminate_instances(InstanceIds=[iid, inst2])
    fast("instance_terminated", ec2).wait(InstanceIds=[iid, inst2])
    gone = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert "PublicIpAddress" not in gone
    freed = ec2.describe_addresses(AllocationIds=[other])["Addresses"][0]
    assert "AssociationId" not in freed and "InstanceId" not in freed
    ec2.release_address(AllocationId=other)
    ec2.release_address(AllocationId=alloc)
    assert ec2.describe_addresses()["Addresses"] == []


def test_interface_association_attribute_and_limit_cli(kecs, ec2):
    release_all(ec2)
    vpc = make_vpc(ec2, "10.92.0.0/16")
    sub = make_subnet(ec2, vpc, "10.92.1.0/24")
    eni = kecs.aws("ec2", "create-network-interface", "--subnet-id", sub, "--secondary-private-ip-address-count", "1")[
        "NetworkInterface"]
    secondary = [p["PrivateIpAddress"] for p in eni["PrivateIpAddresses"] if not p["Primary"]][0]
    a = kecs.aws("ec2", "allocate-address", "--domain", "vpc")
    assert cli_error(kecs, "ec2", "associate-address", "--allocation-id", a["AllocationId"],
                     "--network-interface-id", eni["NetworkInterfaceId"]) == (
        "An error occurred (Gateway.NotAttached) when calling the AssociateAddress operation: "
        f"Network {vpc} is not attached to any internet gateway")
    attach_igw(ec2, vpc)
    assoc = kecs.aws("ec2", "associate-address", "--allocation-id", a["AllocationId"], "--network-interface-id",
                     eni["NetworkInterfaceId"], "--private-ip-address", secondary)["AssociationId"]
    got = kecs.aws("ec2", "describe-network-interfaces", "--network-interface-ids", eni["NetworkInterfaceId"])[
        "NetworkInterfaces"][0]
    assert "Association" not in got  # the primary address has none
    sec = [p for p in got["PrivateIpAddresses"] if p["PrivateIpAddress"] == secondary][0]
    assert sec["Association"]["AssociationId"] == assoc and sec["Association"]["PublicIp"] == a["PublicIp"]

    attrs = kecs.aws("ec2", "describe-addresses-attribute", "--allocation-ids", a["AllocationId"],
                     "--attribute", "domain-name")["Addresses"]
    assert attrs == [{"AllocationId": a["AllocationId"], "PublicIp": a["PublicIp"]}]
    got = kecs.aws("ec2", "describe-addresses", "--filters", f"Name=association-id,Values={assoc}")["Addresses"]
    assert [x["AllocationId"] for x in got] == [a["AllocationId"]]

    # Reassociation is automatic: without the flag the address moves to the primary address;
    # --no-allow-reassociation refuses.
    moved = kecs.aws("ec2", "associate-address", "--allocation-id", a["AllocationId"], "--network-interface-id",
                     eni["NetworkInterfaceId"])["AssociationId"]
    got = kecs.aws("ec2", "describe-network-interfaces", "--network-interface-ids", eni["NetworkInterfaceId"])[
        "NetworkInterfaces"][0]
    assert got["Association"]["AssociationId"] == moved
    assert "Association" not in [p for p in got["PrivateIpAddresses"] if p["PrivateIpAddress"] == secondary][0]
    assert cli_error(kecs, "ec2", "associate-address", "--allocation-id", a["AllocationId"], "--network-interface-id",
                     eni["NetworkInterfaceId"], "--private-ip-address", secondary, "--no-allow-reassociation") == (
        "An error occurred (Resource.AlreadyAssociated) when calling the AssociateAddress operation: "
        f"resource {a['AllocationId']} is already associated with associate-id {moved}")
    assoc = moved

    assert cli_error(kecs, "ec2", "release-address", "--allocation-id", a["AllocationId"]).startswith(
        "An error occurred (InvalidIPAddress.InUse) when calling the ReleaseAddress operation: ")
    assert kecs.aws("ec2", "disassociate-address", "--association-id", assoc, raw=True).returncode == 0
    assert kecs.aws("ec2", "release-address", "--allocation-id", a["AllocationId"], raw=True).returncode == 0
    assert cli_error(kecs, "ec2", "release-address", "--allocation-id", a["AllocationId"]) == (
        "An error occurred (InvalidAllocationID.NotFound) when calling the ReleaseAddress operation: "
        f"The allocation ID '{a['AllocationId']}' does not exist")

    # Five per region, as AWS's default quota.
    for _ in range(5):
        kecs.aws("ec2", "allocate-address")
    assert cli_error(kecs, "ec2", "allocate-address") == (
        "An error occurred (AddressLimitExceeded) when calling the AllocateAddress operation: "
        "The maximum number of addresses has been reached.")
    release_all(ec2)


def test_nat_gateway_takes_an_allocated_address(kecs, ec2):
    release_all(ec2)
    vpc = make_vpc(ec2, "10.93.0.0/16")
    sub = make_subnet(ec2, vpc, "10.93.1.0/24")
    a = ec2.allocate_address(Domain="vpc")
    nat = ec2.create_nat_gateway(SubnetId=sub, AllocationId=a["AllocationId"])["NatGateway"]
    assert nat["NatGatewayAddresses"][0]["PublicIp"] == a["PublicIp"]
    addr = ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"][0]
    assert addr["NetworkInterfaceId"] == nat["NatGatewayAddresses"][0]["NetworkInterfaceId"]
    # AWS manages its own interfaces' addresses: the NAT's cannot be released, disassociated or moved.
    denied = ("AuthFailure", "You do not have permission to access the specified resource.")
    assert boto_error(ec2.release_address, AllocationId=a["AllocationId"]) == denied
    assert boto_error(ec2.disassociate_address, AssociationId=addr["AssociationId"]) == denied
    eni = ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]["NetworkInterfaceId"]
    assert boto_error(ec2.associate_address, AllocationId=a["AllocationId"], NetworkInterfaceId=eni) == denied
    assert ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"][0]["AssociationId"] == \
        addr["AssociationId"]
    other = ec2.allocate_address(Domain="vpc")["AllocationId"]
    assert boto_error(ec2.associate_address, AllocationId=other,
                      NetworkInterfaceId=addr["NetworkInterfaceId"]) == (
        "AuthFailure", "You do not have permission to access the specified resource.")
    ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
    assert "AssociationId" not in ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"][0]
    release_all(ec2)


def test_subnet_cidr_reservations_boto3_and_ipam(kecs, ec2):
    vpc = make_vpc(ec2, "10.94.0.0/16")
    sub = make_subnet(ec2, vpc, "10.94.1.0/24")
    r1 = ec2.create_subnet_cidr_reservation(SubnetId=sub, Cidr="10.94.1.0/28", ReservationType="explicit",
                                            Description="appliances")["SubnetCidrReservation"]
    assert r1["SubnetCidrReservationId"].startswith("scr-")
    assert r1["Cidr"] == "10.94.1.0/28" and r1["ReservationType"] == "explicit" and r1["SubnetId"] == sub
    assert r1["OwnerId"] == ACCOUNT and r1["Description"] == "appliances"
    r2 = ec2.create_subnet_cidr_reservation(SubnetId=sub, Cidr="10.94.1.16/28",
                                            ReservationType="prefix")["SubnetCidrReservation"]
    assert boto_error(ec2.create_subnet_cidr_reservation, SubnetId=sub, Cidr="10.94.1.8/29",
                      ReservationType="explicit") == (
        "InvalidParameterValue", "Reservation CIDR 10.94.1.8/29 has overlap with existing reserved CIDR block")
    assert boto_error(ec2.create_subnet_cidr_reservation, SubnetId=sub, Cidr="10.94.2.0/28",
                      ReservationType="explicit")[0] == "InvalidParameterValue"
    assert boto_error(ec2.create_subnet_cidr_reservation, SubnetId="subnet-0123456789abcdef0", Cidr="10.94.1.0/28",
                      ReservationType="explicit") == (
        "InvalidSubnetID.NotFound", "The subnet ID 'subnet-0123456789abcdef0' does not exist")
    got = ec2.get_subnet_cidr_reservations(SubnetId=sub)
    assert sorted(r["Cidr"] for r in got["SubnetIpv4CidrReservations"]) == ["10.94.1.0/28", "10.94.1.16/28"]
    assert got["SubnetIpv6CidrReservations"] == []

    # An instance and an awsvpc task take addresses past both reservations.
    inst = ec2.run_instances(ImageId=image_id(ec2), InstanceType="t3.micro", MinCount=1, MaxCount=1,
                             SubnetId=sub)["Instances"][0]
    assert inst["PrivateIpAddress"] == "10.94.1.32"
    ecs = kecs.client("ecs")
    ecs.create_cluster(clusterName="scr")
    register_fargate(ecs)
    arn = ecs.run_task(cluster="scr", taskDefinition="fg", launchType="FARGATE",
                       networkConfiguration=netcfg([sub]))["tasks"][0]["taskArn"]
    task = wait_status(ecs, "scr", [arn], "RUNNING")[arn]
    assert task_ip(task) == "10.94.1.33"
    # Asked for explicitly, a reserved address is given.
    eni = ec2.create_network_interface(SubnetId=sub, PrivateIpAddress="10.94.1.9")["NetworkInterface"]
    assert eni["PrivateIpAddress"] == "10.94.1.9"

    deleted = ec2.delete_subnet_cidr_reservation(SubnetCidrReservationId=r2["SubnetCidrReservationId"])
    assert deleted["DeletedSubnetCidrReservation"]["Cidr"] == "10.94.1.16/28"
    assert ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]["PrivateIpAddress"] == "10.94.1.16"
    ecs.stop_task(cluster="scr", task=arn)
    ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])


def test_subnet_cidr_reservations_cli(kecs, ec2):
    vpc = make_vpc(ec2, "10.95.0.0/16")
    sub = make_subnet(ec2, vpc, "10.95.1.0/24")
    r = kecs.aws("ec2", "create-subnet-cidr-reservation", "--subnet-id", sub, "--cidr", "10.95.1.64/26",
                 "--reservation-type", "prefix")["SubnetCidrReservation"]
    got = kecs.aws("ec2", "get-subnet-cidr-reservations", "--subnet-id", sub,
                   "--filters", "Name=reservationType,Values=prefix")
    assert [x["SubnetCidrReservationId"] for x in got["SubnetIpv4CidrReservations"]] == [r["SubnetCidrReservationId"]]
    assert kecs.aws("ec2", "get-subnet-cidr-reservations", "--subnet-id", sub, "--filters",
                    "Name=reservationType,Values=explicit")["SubnetIpv4CidrReservations"] == []
    kecs.aws("ec2", "delete-subnet-cidr-reservation", "--subnet-cidr-reservation-id", r["SubnetCidrReservationId"])
    assert cli_error(kecs, "ec2", "delete-subnet-cidr-reservation", "--subnet-cidr-reservation-id",
                     r["SubnetCidrReservationId"]) == (
        "An error occurred (InvalidSubnetCidrReservationID.NotFound) when calling the DeleteSubnetCidrReservation "
        f"operation: The subnet CIDR reservation ID '{r['SubnetCidrReservationId']}' does not exist")
    # A subnet's reservations go with it: by id, the old one is gone.
    r2 = kecs.aws("ec2", "create-subnet-cidr-reservation", "--subnet-id", sub, "--cidr", "10.95.1.0/28",
                  "--reservation-type", "explicit")["SubnetCidrReservation"]["SubnetCidrReservationId"]
    assert kecs.aws("ec2", "delete-subnet", "--subnet-id", sub, raw=True).returncode == 0
    assert cli_error(kecs, "ec2", "delete-subnet-cidr-reservation", "--subnet-cidr-reservation-id", r2) == (
        "An error occurred (InvalidSubnetCidrReservationID.NotFound) when calling the DeleteSubnetCidrReservation "
        f"operation: The subnet CIDR reservation ID '{r2}' does not exist")


def test_vpc_and_subnet_cidr_blocks_boto3_and_cli(kecs, ec2):
    vpc = make_vpc(ec2, "10.96.0.0/16")
    v4 = ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="10.97.0.0/16")["CidrBlockAssociation"]
    v6 = ec2.associate_vpc_cidr_block(VpcId=vpc, AmazonProvidedIpv6CidrBlock=True)["Ipv6CidrBlockAssociation"]
    block = v6["Ipv6CidrBlock"]
    desc = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]
    primary = desc["CidrBlockAssociationSet"][0]["AssociationId"]
    assert boto_error(ec2.disassociate_vpc_cidr_block, AssociationId=primary)[0] == "OperationNotPermitted"

    sub = make_subnet(ec2, vpc, "10.97.1.0/24")
    assert boto_error(ec2.disassociate_vpc_cidr_block, AssociationId=v4["AssociationId"]) == (
        "InvalidCidrBlock.InUse", f"The vpc {vpc} currently has a subnet within CIDR block 10.97.0.0/16")
    sub_block = block.replace("::/56", "::/64")
    sa = ec2.associate_subnet_cidr_block(SubnetId=sub, Ipv6CidrBlock=sub_block)
    assert sa["SubnetId"] == sub and sa["Ipv6CidrBlockAssociation"]["Ipv6CidrBlock"] == sub_block
    assert sa["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "associating"
    got = ec2.describe_subnets(SubnetIds=[sub])["Subnets"][0]["Ipv6CidrBlockAssociationSet"]
    assert [(a["Ipv6CidrBlock"], a["Ipv6CidrBlockState"]["State"]) for a in got] == [(sub_block, "associated")]
    assert boto_error(ec2.associate_subnet_cidr_block, SubnetId=sub, Ipv6CidrBlock="2600:1f18::/66") == (
        "InvalidParameterValue", "invalid value for parameter ipv6-cidr-block: 2600:1f18::/66")
    assert boto_error(ec2.associate_subnet_cidr_block, SubnetId=sub, Ipv6CidrBlock=sub_block) == (
        "InvalidParameterValue", f"The subnet '{sub}' already has an IPv6 CIDR block.")
    assert boto_error(ec2.disassociate_vpc_cidr_block, AssociationId=v6["AssociationId"]) == (
        "InvalidCidrBlock.InUse", f"The vpc {vpc} currently has a subnet within CIDR block {block}")

    # The CLI: the subnet's block, then the VPC's.
    out = kecs.aws("ec2", "disassociate-subnet-cidr-block", "--association-id",
                   sa["Ipv6CidrBlockAssociation"]["AssociationId"])
    assert out["SubnetId"] == sub and out["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "disassociating"
    assert ec2.describe_subnets(SubnetIds=[sub])["Subnets"][0]["Ipv6CidrBlockAssociationSet"] == []
    out = kecs.aws("ec2", "disassociate-vpc-cidr-block", "--association-id", v6["AssociationId"])
    assert out["VpcId"] == vpc and out["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "disassociating"
    ec2.delete_subnet(SubnetId=sub)
    out = kecs.aws("ec2", "disassociate-vpc-cidr-block", "--association-id", v4["AssociationId"])
    assert out["CidrBlockAssociation"] == {"AssociationId": v4["AssociationId"], "CidrBlock": "10.97.0.0/16",
                                           "CidrBlockState": {"State": "disassociating"}}
    desc = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]
    assert [a["CidrBlock"] for a in desc["CidrBlockAssociationSet"]] == ["10.96.0.0/16"]
    assert desc.get("Ipv6CidrBlockAssociationSet", []) == []
    routes = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"][0]["Routes"]
    assert [r.get("DestinationCidrBlock") for r in routes] == ["10.96.0.0/16"]
    assert cli_error(kecs, "ec2", "disassociate-vpc-cidr-block", "--association-id", v4["AssociationId"]) == (
        "An error occurred (InvalidVpcCidrBlockAssociationID.NotFound) when calling the DisassociateVpcCidrBlock "
        f"operation: The vpc CIDR block association ID '{v4['AssociationId']}' does not exist")


def test_vpc_endpoints_boto3(kecs, ec2):
    vpc = make_vpc(ec2, "10.98.0.0/16")
    subs = [make_subnet(ec2, vpc, "10.98.1.0/24", "us-east-1a"), make_subnet(ec2, vpc, "10.98.2.0/24", "us-east-1b")]
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    pls = {p["PrefixListName"]: p for p in ec2.describe_prefix_lists()["PrefixLists"]}
    assert pls["com.amazonaws.us-east-1.s3"]["PrefixListId"] == "pl-63a5400a"
    assert pls["com.amazonaws.us-east-1.dynamodb"]["PrefixListId"] == "pl-02cd2c6b"
    assert ec2.describe_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": ["*dynamodb"]}])[
        "PrefixLists"][0]["PrefixListId"] == "pl-02cd2c6b"

    gw = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName="com.amazonaws.us-east-1.dynamodb", RouteTableIds=[rtb],
                                 TagSpecifications=[{"ResourceType": "vpc-endpoint",
                                                     "Tags": [{"Key": "Name", "Value": "ddb"}]}])["VpcEndpoint"]
    assert gw["VpcEndpointId"].startswith("vpce-") and gw["VpcEndpointType"] == "Gateway"
    assert gw["State"] == "available" and gw["RouteTableIds"] == [rtb]
    routes = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    assert {"DestinationPrefixListId": "pl-02cd2c6b", "GatewayId": gw["VpcEndpointId"], "Origin": "CreateRoute",
            "State": "active"} in routes

    itf = ec2.create_vpc_endpoint(VpcId=vpc, VpcEndpointType="Interface", ServiceName="com.amazonaws.us-east-1.logs",
                                  SubnetIds=[subs[0]])["VpcEndpoint"]
    assert itf["State"] == "pending" and itf["PrivateDnsEnabled"] is True
    assert boto_error(ec2.create_vpc_endpoint, VpcId=vpc, VpcEndpointType="Interface",
                      ServiceName="com.amazonaws.us-east-1.ssm",
                      SubnetIds=[subs[0], make_subnet(ec2, vpc, "10.98.3.0/24", "us-east-1a")])[0] == \
        "DuplicateSubnetsInSameZone"
    ec2.modify_vpc_endpoint(VpcEndpointId=itf["VpcEndpointId"], AddSubnetIds=[subs[1]])
    got = ec2.describe_vpc_endpoints(VpcEndpointIds=[itf["VpcEndpointId"]])["VpcEndpoints"][0]
    assert got["State"] == "available" and sorted(got["SubnetIds"]) == sorted(subs)
    enis = ec2.describe_network_interfaces(NetworkInterfaceIds=got["NetworkInterfaceIds"])["NetworkInterfaces"]
    assert sorted(e["SubnetId"] for e in enis) == sorted(subs)
    assert {e["InterfaceType"] for e in enis} == {"vpc_endpoint"} and all(e["RequesterManaged"] for e in enis)
    # The endpoint's interfaces hold their subnets.
    assert boto_error(ec2.delete_subnet, SubnetId=subs[1])[0] == "DependencyViolation"

    by_type = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-endpoint-type", "Values": ["Gateway"]},
                                                  {"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
    assert [e["VpcEndpointId"] for e in by_type] == [gw["VpcEndpointId"]]
    assert ec2.describe_vpc_endpoints(Filters=[{"Name": "tag:Name", "Values": ["ddb"]}])["VpcEndpoints"][0][
        "VpcEndpointId"] == gw["VpcEndpointId"]
    ec2.modify_vpc_endpoint(VpcEndpointId=gw["VpcEndpointId"], RemoveRouteTableIds=[rtb])
    routes = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    assert not any("DestinationPrefixListId" in r for r in routes)

    missing = "vpce-0123456789abcdef0"
    out = ec2.delete_vpc_endpoints(VpcEndpointIds=[gw["VpcEndpointId"], missing, itf["VpcEndpointId"]])
    assert [u["ResourceId"] for u in out["Unsuccessful"]] == [missing]
    assert out["Unsuccessful"][0]["Error"]["Code"] == "InvalidVpcEndpointId.NotFound"
    assert ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"] == []
    ec2.delete_subnet(SubnetId=subs[1])


def test_vpc_endpoints_cli_errors(kecs, ec2):
    vpc = make_vpc(ec2, "10.99.0.0/16")
    sub = make_subnet(ec2, vpc, "10.99.1.0/24")
    assert cli_error(kecs, "ec2", "create-vpc-endpoint", "--vpc-id", vpc, "--service-name",
                     "com.amazonaws.us-east-1.s3", "--subnet-ids", sub) == (
        "An error occurred (InvalidParameter) when calling the CreateVpcEndpoint operation: "
        "Subnet IDs are only supported for Interface and GatewayLoadBalancer type VPC Endpoints.")
    assert cli_error(kecs, "ec2", "create-vpc-endpoint", "--vpc-id", vpc, "--service-name", "com.example.nothing") == (
        "An error occurred (InvalidServiceName) when calling the CreateVpcEndpoint operation: "
        "The Vpc Endpoint Service 'com.example.nothing' does not exist")
    ep = kecs.aws("ec2", "create-vpc-endpoint", "--vpc-id", vpc, "--vpc-endpoint-type", "Interface",
                  "--service-name", "com.amazonaws.us-east-1.secretsmanager", "--subnet-ids", sub)["VpcEndpoint"]
    got = kecs.aws("ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", ep["VpcEndpointId"])["VpcEndpoints"][0]
    assert got["ServiceName"] == "com.amazonaws.us-east-1.secretsmanager" and len(got["NetworkInterfaceIds"]) == 1
    assert all(d["DnsName"].endswith(".secretsmanager.us-east-1.vpce.amazonaws.com") for d in got["DnsEntries"])
    assert kecs.aws("ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", ep["VpcEndpointId"],
                    "--no-private-dns-enabled") == {"Return": True}
    got = kecs.aws("ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", ep["VpcEndpointId"])["VpcEndpoints"][0]
    assert got["PrivateDnsEnabled"] is False
    # Endpoints take CreateTags and DeleteTags.
    kecs.aws("ec2", "create-tags", "--resources", ep["VpcEndpointId"], "--tags", "Key=team,Value=net")
    got = kecs.aws("ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", ep["VpcEndpointId"])["VpcEndpoints"][0]
    assert got["Tags"] == [{"Key": "team", "Value": "net"}]
    kecs.aws("ec2", "delete-tags", "--resources", ep["VpcEndpointId"], "--tags", "Key=team")
    got = kecs.aws("ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", ep["VpcEndpointId"])["VpcEndpoints"][0]
    assert got.get("Tags", []) == []
    out = kecs.aws("ec2", "delete-vpc-endpoints", "--vpc-endpoint-ids", ep["VpcEndpointId"])
    assert out.get("Unsuccessful", []) == []
    assert cli_error(kecs, "ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", ep["VpcEndpointId"]) == (
        "An error occurred (InvalidVpcEndpointId.NotFound) when calling the DescribeVpcEndpoints operation: "
        f"The Vpc Endpoint Id '{ep['VpcEndpointId']}' does not exist")


def test_security_group_references_and_console_output(kecs, ec2):
    a, b = make_vpc(ec2, "10.100.0.0/16"), make_vpc(ec2, "10.101.0.0/16")
    db = ec2.create_security_group(GroupName="db", Description="db", VpcId=a)["GroupId"]
    app = ec2.create_security_group(GroupName="app", Description="app", VpcId=b)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=app, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": db}]}])
    pcx = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    assert ec2.describe_security_group_references(GroupId=[db])["SecurityGroupReferenceSet"] == []
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    refs = kecs.aws("ec2", "describe-security-group-references", "--group-id", db)["SecurityGroupReferenceSet"]
    assert refs == [{"GroupId": db, "ReferencingVpcId": b, "VpcPeeringConnectionId": pcx}]
    assert boto_error(ec2.describe_security_group_references, GroupId=["sg-0123456789abcdef0"]) == (
        "InvalidGroup.NotFound", "The security group 'sg-0123456789abcdef0' does not exist")

    sub = make_subnet(ec2, a, "10.100.1.0/24")
    iid = ec2.run_instances(ImageId=image_id(ec2), InstanceType="t3.micro", MinCount=1, MaxCount=1,
                            SubnetId=sub)["Instances"][0]["InstanceId"]
    out = ec2.get_console_output(InstanceId=iid)
    assert out["InstanceId"] == iid and "Output" not in out and "Timestamp" in out
    assert kecs.aws("ec2", "get-console-output", "--instance-id", iid)["InstanceId"] == iid
    assert boto_error(ec2.get_console_output, InstanceId="i-0123456789abcdef0") == (
        "InvalidInstanceID.NotFound", "The instance ID 'i-0123456789abcdef0' does not exist")
    ec2.terminate_instances(InstanceIds=[iid])


def test_associations_and_reservations_survive_restart(kecs, ec2):
    release_all(ec2)
    vpc = make_vpc(ec2, "10.102.0.0/16")
    attach_igw(ec2, vpc)
    sub = make_subnet(ec2, vpc, "10.102.1.0/24")
    ec2.create_subnet_cidr_reservation(SubnetId=sub, Cidr="10.102.1.0/27", ReservationType="explicit")
    eni = ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]
    assert eni["PrivateIpAddress"] == "10.102.1.32"
    alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
    assoc = ec2.associate_address(AllocationId=alloc, NetworkInterfaceId=eni["NetworkInterfaceId"])["AssociationId"]
    kecs.restart()
    ec2 = kecs.client("ec2")
    addr = ec2.describe_addresses(AllocationIds=[alloc])["Addresses"][0]
    assert addr["AssociationId"] == assoc and addr["NetworkInterfaceId"] == eni["NetworkInterfaceId"]
    assert ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]["PrivateIpAddress"] == "10.102.1.33"
    assert boto_error(ec2.release_address, AllocationId=alloc)[0] == "InvalidIPAddress.InUse"
    release_all(ec2)


@pytest.mark.kecs_args("--strict")
def test_strict_nat_gateway_wants_an_allocated_address(kecs, ec2):
    vpc = make_vpc(ec2, "10.103.0.0/16")
    sub = make_subnet(ec2, vpc, "10.103.1.0/24")
    assert boto_error(ec2.create_nat_gateway, SubnetId=sub, AllocationId="eipalloc-0123456789abcdef0") == (
        "InvalidAllocationID.NotFound", "The allocation ID 'eipalloc-0123456789abcdef0' does not exist")
    a = ec2.allocate_address(Domain="vpc")
    nat = ec2.create_nat_gateway(SubnetId=sub, AllocationId=a["AllocationId"])["NatGateway"]
    assert nat["NatGatewayAddresses"][0]["PublicIp"] == a["PublicIp"]
