// The rest of issue 17's VPC API through the real EC2 handlers (no router, no HTTP): Elastic
// IPs (allocation from kecs's pool, association and what the interface shows, AWS's
// refusals), subnet CIDR reservations (validation, IPAM stepping over them), CIDR block
// disassociation, VPC endpoints (routes, interfaces, Unsuccessful), security group
// references across a peering.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

#include "api/ec2/ec2_api.h"
#include "net/domain/ipam.h"
#include "unit/support/ec2_handlers.h"

namespace kecs::api::ec2 {
namespace {

class VpcRestTest : public testing::Ec2HandlersTest {
 protected:
  void SetUp() override {
    Ec2HandlersTest::SetUp();
    vpc_ = Call("CreateVpc", {{"CidrBlock", "10.0.0.0/16"}})["Vpc"]["VpcId"];
    subnet_ = Call("CreateSubnet", {{"VpcId", vpc_}, {"CidrBlock", "10.0.1.0/24"}})["Subnet"]["SubnetId"];
    // Elastic IPs need the VPC to have an internet gateway.
    std::string igw = Call("CreateInternetGateway", Json::object())["InternetGateway"]["InternetGatewayId"];
    Call("AttachInternetGateway", {{"InternetGatewayId", igw}, {"VpcId", vpc_}});
  }

  Json Eni(const std::string& id) {
    return Call("DescribeNetworkInterfaces", {{"NetworkInterfaceIds", Json::array({id})}})["NetworkInterfaces"][0];
  }

  std::string NewEni(const Json& extra = Json::object()) {
    Json in = {{"SubnetId", subnet_}};
    in.update(extra);
    return Call("CreateNetworkInterface", in)["NetworkInterface"]["NetworkInterfaceId"];
  }

  std::string vpc_, subnet_;
};

TEST_F(VpcRestTest, AllocatedAddressesComeFromThePoolAreUniqueAndCappedAtFive) {
  std::set<std::string> ips;
  for (int i = 0; i < 5; ++i) {
    Json a = Call("AllocateAddress", {{"Domain", "vpc"}});
    EXPECT_EQ(a["Domain"], "vpc");
    EXPECT_EQ(a["PublicIpv4Pool"], "amazon");
    EXPECT_EQ(a["NetworkBorderGroup"], "us-east-1");
    std::string ip = a["PublicIp"];
    EXPECT_EQ(ip.rfind("3.", 0), 0u) << ip;
    EXPECT_EQ(ip, ElasticIpFor(a["AllocationId"].get<std::string>()));
    ips.insert(ip);
  }
  EXPECT_EQ(ips.size(), 5u);
  EXPECT_EQ(Refusal("AllocateAddress", Json::object()),
            "AddressLimitExceeded: The maximum number of addresses has been reached.");
}

TEST_F(VpcRestTest, AssociationShowsOnTheInterfaceAndBlocksReleaseUntilDisassociated) {
  std::string alloc = Call("AllocateAddress", Json::object())["AllocationId"];
  std::string eni = NewEni();
  std::string assoc = Call("AssociateAddress", {{"AllocationId", alloc}, {"NetworkInterfaceId", eni}})["AssociationId"];
  EXPECT_EQ(assoc.rfind("eipassoc-", 0), 0u);
  Json view = Eni(eni);
  EXPECT_EQ(view["Association"]["AllocationId"], alloc);
  EXPECT_EQ(view["Association"]["AssociationId"], assoc);
  EXPECT_EQ(view["PrivateIpAddresses"][0]["Association"]["AssociationId"], assoc);
  Json addr = Call("DescribeAddresses", {{"AllocationIds", Json::array({alloc})}})["Addresses"][0];
  EXPECT_EQ(addr["NetworkInterfaceId"], eni);
  EXPECT_EQ(addr["PrivateIpAddress"], view["PrivateIpAddress"]);

  EXPECT_EQ(Refusal("ReleaseAddress", {{"AllocationId", alloc}}).rfind("InvalidIPAddress.InUse: ", 0), 0u);
  // A second interface: refused only with AllowReassociation=false; left out, the address moves.
  std::string eni2 = NewEni();
  EXPECT_EQ(Refusal("AssociateAddress", {{"AllocationId", alloc}, {"NetworkInterfaceId", eni2},
                                         {"AllowReassociation", false}}),
            "Resource.AlreadyAssociated: resource " + alloc + " is already associated with associate-id " + assoc);
  EXPECT_EQ(Eni(eni)["Association"]["AssociationId"], assoc);
  std::string assoc2 = Call("AssociateAddress", {{"AllocationId", alloc}, {"NetworkInterfaceId", eni2}})["AssociationId"];
  EXPECT_FALSE(Eni(eni).contains("Association"));
  EXPECT_EQ(Eni(eni2)["Association"]["AssociationId"], assoc2);
  EXPECT_EQ(Refusal("DisassociateAddress", {{"AssociationId", assoc}}),
            "InvalidAssociationID.NotFound: The association ID '" + assoc + "' does not exist");
  Call("DisassociateAddress", {{"AssociationId", assoc2}});
  EXPECT_FALSE(Eni(eni2).contains("Association"));
  Call("ReleaseAddress", {{"AllocationId", alloc}});
  EXPECT_EQ(Refusal("DescribeAddresses", {{"AllocationIds", Json::array({alloc})}}),
            "InvalidAllocationID.NotFound: The allocation ID '" + alloc + "' does not exist");
}

TEST_F(VpcRestTest, AssociationNeedsAnInternetGatewayOnTheVpc) {
  std::string vpc = Call("CreateVpc", {{"CidrBlock", "10.1.0.0/16"}})["Vpc"]["VpcId"];
  std::string subnet = Call("CreateSubnet", {{"VpcId", vpc}, {"CidrBlock", "10.1.1.0/24"}})["Subnet"]["SubnetId"];
  std::string eni = Call("CreateNetworkInterface", {{"SubnetId", subnet}})["NetworkInterface"]["NetworkInterfaceId"];
  std::string alloc = Call("AllocateAddress", Json::object())["AllocationId"];
  EXPECT_EQ(Refusal("AssociateAddress", {{"AllocationId", alloc}, {"NetworkInterfaceId", eni}}),
            "Gateway.NotAttached: Network " + vpc + " is not attached to any internet gateway");
  std::string igw = Call("CreateInternetGateway", Json::object())["InternetGateway"]["InternetGatewayId"];
  Call("AttachInternetGateway", {{"InternetGatewayId", igw}, {"VpcId", vpc}});
  EXPECT_EQ(Refusal("AssociateAddress", {{"AllocationId", alloc}, {"NetworkInterfaceId", eni}}), "");
}

TEST_F(VpcRestTest, NatGatewayTakesAnAllocatedAddressAndStrictModeWantsOne) {
  std::string alloc = Call("AllocateAddress", Json::object())["AllocationId"];
  Json nat = Call("CreateNatGateway", {{"SubnetId", subnet_}, {"AllocationId", alloc}})["NatGateway"];
  Json addr = Call("DescribeAddresses", {{"AllocationIds", Json::array({alloc})}})["Addresses"][0];
  EXPECT_EQ(nat["NatGatewayAddresses"][0]["PublicIp"], addr["PublicIp"]);
  EXPECT_EQ(addr["NetworkInterfaceId"], nat["NatGatewayAddresses"][0]["NetworkInterfaceId"]);
  // The NAT gateway's address cannot be taken from it: moved, disassociated or released.
  const std::string denied = "AuthFailure: You do not have permission to access the specified resource.";
  EXPECT_EQ(Refusal("AssociateAddress", {{"AllocationId", alloc}, {"NetworkInterfaceId", NewEni()}}), denied);
  EXPECT_EQ(Refusal("AssociateAddress", {{"AllocationId", alloc}, {"NetworkInterfaceId", NewEni()},
                                         {"AllowReassociation", true}}), denied);
  EXPECT_EQ(Refusal("DisassociateAddress", {{"AssociationId", addr["AssociationId"]}}), denied);
  EXPECT_EQ(Refusal("ReleaseAddress", {{"AllocationId", alloc}}), denied);
  EXPECT_EQ(Call("DescribeAddresses", {{"AllocationIds", Json::array({alloc})}})["Addresses"][0]["AssociationId"],
            addr["AssociationId"]);
  std::string subnet2 = Call("CreateSubnet", {{"VpcId", vpc_}, {"CidrBlock", "10.0.2.0/24"}})["Subnet"]["SubnetId"];
  EXPECT_EQ(Refusal("CreateNatGateway", {{"SubnetId", subnet2}, {"AllocationId", alloc}}),
            "Resource.AlreadyAssociated: Elastic IP address [" + alloc + "] is already associated");
  // An allocation kecs did not make: lenient mode takes it, --strict does not.
  const std::string unknown = "eipalloc-0123456789abcdef0";
  try {
    Call("CreateNatGateway", {{"SubnetId", subnet2}, {"AllocationId", unknown}}, /*strict=*/true);
    ADD_FAILURE() << "strict mode took an unknown allocation";
  } catch (const AwsError& e) {
    EXPECT_EQ(e.code() + ": " + e.message(),
              "InvalidAllocationID.NotFound: The allocation ID '" + unknown + "' does not exist");
  }
  EXPECT_EQ(Refusal("CreateNatGateway", {{"SubnetId", subnet2}, {"AllocationId", unknown}}), "");
  // The address that NAT gateway shows cannot be allocated again.
  const std::string shown = ElasticIpFor(unknown);
  EXPECT_EQ(Refusal("AllocateAddress", {{"Address", shown}}),
            "InvalidAddress.InUse: Address '" + shown + "' is already allocated.");
}

TEST_F(VpcRestTest, AnAssociationWhoseInterfaceIsGoneReadsAsNone) {
  std::string alloc = Call("AllocateAddress", Json::object())["AllocationId"];
  std::string eni = NewEni();
  std::string assoc =
      Call("AssociateAddress", {{"AllocationId", alloc}, {"NetworkInterfaceId", eni}})["AssociationId"];
  Call("DeleteNetworkInterface", {{"NetworkInterfaceId", eni}});
  Json addr = Call("DescribeAddresses", {{"AllocationIds", Json::array({alloc})}})["Addresses"][0];
  EXPECT_FALSE(addr.contains("AssociationId")) << addr.dump();
  EXPECT_EQ(Refusal("DisassociateAddress", {{"AssociationId", assoc}}),
            "InvalidAssociationID.NotFound: The association ID '" + assoc + "' does not exist");
  EXPECT_EQ(Refusal("ReleaseAddress", {{"AllocationId", alloc}}), "");
}

TEST_F(VpcRestTest, ReservationsAreValidatedAndAutomaticAssignmentSkipsThem) {
  auto create = [&](const std::string& cidr, const std::string& type) {
    return Refusal("CreateSubnetCidrReservation", {{"SubnetId", subnet_}, {"Cidr", cidr}, {"ReservationType", type}});
  };
  // The subnet's first usable address is .4; reserve .4-.7 and .8-.15.
  EXPECT_EQ(create("10.0.1.4/30", "explicit"), "");
  EXPECT_EQ(create("10.0.1.8/29", "prefix"), "");
  EXPECT_EQ(create("10.0.1.12/30", "explicit"),
            "InvalidParameterValue: Reservation CIDR 10.0.1.12/30 has overlap with existing reserved CIDR block");
  EXPECT_EQ(create("10.0.2.0/28", "explicit"),
            "InvalidParameterValue: Reservation CIDR 10.0.2.0/28 is not within the CIDR blocks of subnet " + subnet_);
  EXPECT_EQ(create("nonsense", "explicit"), "InvalidParameterValue: Value (nonsense) for parameter cidr is invalid.");

  Json got = Call("GetSubnetCidrReservations", {{"SubnetId", subnet_}});
  ASSERT_EQ(got["SubnetIpv4CidrReservations"].size(), 2u);
  EXPECT_TRUE(got["SubnetIpv6CidrReservations"].empty());
  Json only_prefix = Call("GetSubnetCidrReservations",
                          {{"SubnetId", subnet_},
                           {"Filters", Json::array({{{"Name", "reservationType"}, {"Values", Json::array({"prefix"})}}})}});
  ASSERT_EQ(only_prefix["SubnetIpv4CidrReservations"].size(), 1u);
  EXPECT_EQ(only_prefix["SubnetIpv4CidrReservations"][0]["Cidr"], "10.0.1.8/29");

  // Automatic assignment: the first address past both reservations.
  EXPECT_EQ(Eni(NewEni())["PrivateIpAddress"], "10.0.1.16");
  EXPECT_EQ(Eni(NewEni())["PrivateIpAddress"], "10.0.1.17");
  // Asked for explicitly, an address inside a reservation is given.
  EXPECT_EQ(Eni(NewEni({{"PrivateIpAddress", "10.0.1.5"}}))["PrivateIpAddress"], "10.0.1.5");

  // Deleted, the reservation frees its range for automatic assignment.
  std::string id = only_prefix["SubnetIpv4CidrReservations"][0]["SubnetCidrReservationId"];
  Json deleted = Call("DeleteSubnetCidrReservation", {{"SubnetCidrReservationId", id}});
  EXPECT_EQ(deleted["DeletedSubnetCidrReservation"]["Cidr"], "10.0.1.8/29");
  EXPECT_EQ(Eni(NewEni())["PrivateIpAddress"], "10.0.1.8");
  EXPECT_EQ(Refusal("DeleteSubnetCidrReservation", {{"SubnetCidrReservationId", id}}),
            "InvalidSubnetCidrReservationID.NotFound: The subnet CIDR reservation ID '" + id + "' does not exist");
}

TEST_F(VpcRestTest, CidrBlocksComeAndGoWithAwsRefusals) {
  Json assoc = Call("AssociateVpcCidrBlock", {{"VpcId", vpc_}, {"CidrBlock", "10.1.0.0/16"}})["CidrBlockAssociation"];
  Json v6 = Call("AssociateVpcCidrBlock", {{"VpcId", vpc_}, {"AmazonProvidedIpv6CidrBlock", true}})["Ipv6CidrBlockAssociation"];
  std::string v6block = v6["Ipv6CidrBlock"];
  Json vpc = Call("DescribeVpcs", {{"VpcIds", Json::array({vpc_})}})["Vpcs"][0];
  std::string primary = vpc["CidrBlockAssociationSet"][0]["AssociationId"];
  EXPECT_EQ(Refusal("DisassociateVpcCidrBlock", {{"AssociationId", primary}}),
            "OperationNotPermitted: The primary CIDR block 10.0.0.0/16 of vpc " + vpc_ + " cannot be disassociated.");
  // A subnet in the secondary block holds it.
  std::string sub2 = Call("CreateSubnet", {{"VpcId", vpc_}, {"CidrBlock", "10.1.1.0/24"}})["Subnet"]["SubnetId"];
  EXPECT_EQ(Refusal("DisassociateVpcCidrBlock", {{"AssociationId", assoc["AssociationId"]}}),
            "InvalidCidrBlock.InUse: The vpc " + vpc_ + " currently has a subnet within CIDR block 10.1.0.0/16");
  Call("DeleteSubnet", {{"SubnetId", sub2}});
  Json gone = Call("DisassociateVpcCidrBlock", {{"AssociationId", assoc["AssociationId"]}});
  EXPECT_EQ(gone["CidrBlockAssociation"]["CidrBlockState"]["State"], "disassociating");
  Json rtb = Call("DescribeRouteTables", {{"Filters", Json::array({{{"Name", "vpc-id"}, {"Values", Json::array({vpc_})}}})}})["RouteTables"][0];
  for (const auto& r : rtb["Routes"]) EXPECT_NE(JStr(r, "DestinationCidrBlock"), "10.1.0.0/16");

  // The subnet's IPv6 block: /64 inside the VPC's /56.
  std::string sub_block = v6block.substr(0, v6block.find("::/56")) + "::/64";
  Json sa = Call("AssociateSubnetCidrBlock", {{"SubnetId", subnet_}, {"Ipv6CidrBlock", sub_block}});
  EXPECT_EQ(sa["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"], "associating");
  EXPECT_EQ(Refusal("AssociateSubnetCidrBlock", {{"SubnetId", subnet_}, {"Ipv6CidrBlock", sub_block}}),
            "InvalidParameterValue: The subnet '" + subnet_ + "' already has an IPv6 CIDR block.");
  EXPECT_EQ(Refusal("DisassociateVpcCidrBlock", {{"AssociationId", v6["AssociationId"]}}),
            "InvalidCidrBlock.InUse: The vpc " + vpc_ + " currently has a subnet within CIDR block " + v6block);
  std::string eni = NewEni({{"Ipv6AddressCount", 1}});
  EXPECT_EQ(Refusal("DisassociateSubnetCidrBlock", {{"AssociationId", sa["Ipv6CidrBlockAssociation"]["AssociationId"]}})
                .rfind("InvalidCidrBlock.InUse: ", 0), 0u);
  Call("DeleteNetworkInterface", {{"NetworkInterfaceId", eni}});
  Call("DisassociateSubnetCidrBlock", {{"AssociationId", sa["Ipv6CidrBlockAssociation"]["AssociationId"]}});
  Call("DisassociateVpcCidrBlock", {{"AssociationId", v6["AssociationId"]}});
  vpc = Call("DescribeVpcs", {{"VpcIds", Json::array({vpc_})}})["Vpcs"][0];
  EXPECT_TRUE(vpc["Ipv6CidrBlockAssociationSet"].empty());
  EXPECT_EQ(Refusal("DisassociateVpcCidrBlock", {{"AssociationId", v6["AssociationId"]}}),
            "InvalidVpcCidrBlockAssociationID.NotFound: The vpc CIDR block association ID '" +
                v6["AssociationId"].get<std::string>() + "' does not exist");
}

TEST_F(VpcRestTest, Ipv6ReservationsAreListedApartAndSkippedByAutomaticAssignment) {
  std::string v6block =
      Call("AssociateVpcCidrBlock", {{"VpcId", vpc_}, {"AmazonProvidedIpv6CidrBlock", true}})["Ipv6CidrBlockAssociation"]["Ipv6CidrBlock"];
  std::string base = v6block.substr(0, v6block.find("::/56"));
  Call("AssociateSubnetCidrBlock", {{"SubnetId", subnet_}, {"Ipv6CidrBlock", base + "::/64"}});
  auto create = [&](const std::string& cidr) {
    return Refusal("CreateSubnetCidrReservation", {{"SubnetId", subnet_}, {"Cidr", cidr}, {"ReservationType", "explicit"}});
  };
  EXPECT_EQ(create(base + "::/124"), "");  // identifiers 0-15
  EXPECT_EQ(create(base + "::8/125"),
            "InvalidParameterValue: Reservation CIDR " + base + "::8/125 has overlap with existing reserved CIDR block");
  EXPECT_EQ(create("2001:db8::/64").rfind("InvalidParameterValue: Reservation CIDR 2001:db8::/64 is not within", 0), 0u);
  Json got = Call("GetSubnetCidrReservations", {{"SubnetId", subnet_}});
  EXPECT_TRUE(got["SubnetIpv4CidrReservations"].empty());
  ASSERT_EQ(got["SubnetIpv6CidrReservations"].size(), 1u);
  EXPECT_EQ(got["SubnetIpv6CidrReservations"][0]["Cidr"], base + "::/124");
  std::string eni_id = NewEni({{"Ipv6AddressCount", 1}});
  Json eni = Eni(eni_id);
  EXPECT_EQ(eni["Ipv6Addresses"][0]["Ipv6Address"], base + "::10");
  // Disassociating the block drops its reservations: associated again, the block has none.
  Call("DeleteNetworkInterface", {{"NetworkInterfaceId", eni_id}});
  std::string assoc = Call("DescribeSubnets", {{"SubnetIds", Json::array({subnet_})}})
                          ["Subnets"][0]["Ipv6CidrBlockAssociationSet"][0]["AssociationId"];
  Call("DisassociateSubnetCidrBlock", {{"AssociationId", assoc}});
  EXPECT_TRUE(Call("GetSubnetCidrReservations", {{"SubnetId", subnet_}})["SubnetIpv6CidrReservations"].empty());
  Call("AssociateSubnetCidrBlock", {{"SubnetId", subnet_}, {"Ipv6CidrBlock", base + "::/64"}});
  EXPECT_TRUE(Call("GetSubnetCidrReservations", {{"SubnetId", subnet_}})["SubnetIpv6CidrReservations"].empty());
  EXPECT_EQ(Eni(NewEni({{"Ipv6AddressCount", 1}}))["Ipv6Addresses"][0]["Ipv6Address"], base + "::4");
}

TEST_F(VpcRestTest, EndpointsAndReservationsTakeCreateTagsAndDeleteTags) {
  std::string rtb = Call("CreateRouteTable", {{"VpcId", vpc_}})["RouteTable"]["RouteTableId"];
  std::string vpce = Call("CreateVpcEndpoint", {{"VpcId", vpc_}, {"ServiceName", "com.amazonaws.us-east-1.s3"},
                                                {"RouteTableIds", Json::array({rtb})}})["VpcEndpoint"]["VpcEndpointId"];
  std::string scr = Call("CreateSubnetCidrReservation", {{"SubnetId", subnet_}, {"Cidr", "10.0.1.0/28"},
                                                         {"ReservationType", "explicit"}})
                        ["SubnetCidrReservation"]["SubnetCidrReservationId"];
  const Json tags = Json::array({{{"Key", "team"}, {"Value", "net"}}});
  Call("CreateTags", {{"Resources", Json::array({vpce, scr})}, {"Tags", tags}});
  auto endpoint_tags = [&] {
    return Call("DescribeVpcEndpoints", {{"VpcEndpointIds", Json::array({vpce})}})["VpcEndpoints"][0]["Tags"];
  };
  auto reservation_tags = [&] {
    return Call("GetSubnetCidrReservations", {{"SubnetId", subnet_}})["SubnetIpv4CidrReservations"][0]["Tags"];
  };
  EXPECT_EQ(endpoint_tags(), tags);
  EXPECT_EQ(reservation_tags(), tags);
  Json described = Call("DescribeTags", {{"Filters", Json::array({{{"Name", "resource-id"},
                                                                   {"Values", Json::array({scr})}}})}})["Tags"];
  ASSERT_EQ(described.size(), 1u);
  EXPECT_EQ(described[0]["ResourceType"], "subnet-cidr-reservation");
  Call("DeleteTags", {{"Resources", Json::array({vpce, scr})}, {"Tags", Json::array({{{"Key", "team"}}})}});
  EXPECT_TRUE(endpoint_tags().empty());
  EXPECT_TRUE(reservation_tags().empty());
}

TEST_F(VpcRestTest, ASubnetsReservationsGoWithIt) {
  std::string scr = Call("CreateSubnetCidrReservation", {{"SubnetId", subnet_}, {"Cidr", "10.0.1.0/28"},
                                                         {"ReservationType", "explicit"}})
                        ["SubnetCidrReservation"]["SubnetCidrReservationId"];
  auto stored = [&] {
    size_t n = 0;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      n = Check(tx.List({net::kSubnetCidrReservation, "us-east-1", subnet_})).size();
      if (Check(tx.Get(net::kSubnetCidrReservation, "us-east-1", scr))) ++n;
      return Status::Ok();
    }).ok());
    return n;
  };
  EXPECT_EQ(stored(), 2u);  // listed under the subnet, and found by id
  Call("DeleteSubnet", {{"SubnetId", subnet_}});
  EXPECT_EQ(stored(), 0u);
}

TEST_F(VpcRestTest, AGatewayEndpointLetsGoOfADeletedRouteTable) {
  std::string rtb = Call("CreateRouteTable", {{"VpcId", vpc_}})["RouteTable"]["RouteTableId"];
  std::string vpce = Call("CreateVpcEndpoint", {{"VpcId", vpc_}, {"ServiceName", "com.amazonaws.us-east-1.s3"},
                                                {"RouteTableIds", Json::array({rtb})}})["VpcEndpoint"]["VpcEndpointId"];
  Call("DeleteRouteTable", {{"RouteTableId", rtb}});
  EXPECT_EQ(Refusal("ModifyVpcEndpoint", {{"VpcEndpointId", vpce}, {"RemoveRouteTableIds", Json::array({rtb})}}), "");
  EXPECT_TRUE(Call("DescribeVpcEndpoints", {{"VpcEndpointIds", Json::array({vpce})}})["VpcEndpoints"][0]
                  ["RouteTableIds"].empty());
}

TEST_F(VpcRestTest, GatewayAndInterfaceEndpoints) {
  std::string rtb = Call("CreateRouteTable", {{"VpcId", vpc_}})["RouteTable"]["RouteTableId"];
  Json gw = Call("CreateVpcEndpoint", {{"VpcId", vpc_}, {"ServiceName", "com.amazonaws.us-east-1.s3"},
                                       {"RouteTableIds", Json::array({rtb})}})["VpcEndpoint"];
  EXPECT_EQ(gw["VpcEndpointType"], "Gateway");
  EXPECT_EQ(gw["State"], "available");
  auto routes = [&] {
    return Call("DescribeRouteTables", {{"RouteTableIds", Json::array({rtb})}})["RouteTables"][0]["Routes"];
  };
  Json pl_route;
  for (const auto& r : routes()) {
    if (r.contains("DestinationPrefixListId")) pl_route = r;
  }
  EXPECT_EQ(pl_route["DestinationPrefixListId"], "pl-63a5400a");
  EXPECT_EQ(pl_route["GatewayId"], gw["VpcEndpointId"]);
  EXPECT_EQ(Refusal("CreateVpcEndpoint", {{"VpcId", vpc_}, {"ServiceName", "com.amazonaws.us-east-1.s3"},
                                          {"SubnetIds", Json::array({subnet_})}}),
            "InvalidParameter: Subnet IDs are only supported for Interface and GatewayLoadBalancer type VPC Endpoints.");
  EXPECT_EQ(Refusal("CreateVpcEndpoint", {{"VpcId", vpc_}, {"ServiceName", "com.amazonaws.eu-west-1.s3"}}),
            "InvalidServiceName: The Vpc Endpoint Service 'com.amazonaws.eu-west-1.s3' does not exist");

  Json itf = Call("CreateVpcEndpoint", {{"VpcId", vpc_}, {"ServiceName", "com.amazonaws.us-east-1.ecr.api"},
                                        {"VpcEndpointType", "Interface"}, {"SubnetIds", Json::array({subnet_})}})["VpcEndpoint"];
  EXPECT_EQ(itf["State"], "pending");
  ASSERT_EQ(itf["NetworkInterfaceIds"].size(), 1u);
  Json eni = Eni(itf["NetworkInterfaceIds"][0]);
  EXPECT_EQ(eni["InterfaceType"], "vpc_endpoint");
  EXPECT_EQ(eni["RequesterManaged"], true);
  EXPECT_EQ(eni["Groups"], itf["Groups"]);
  EXPECT_EQ(itf["Groups"].size(), 1u);  // the VPC's default group
  ASSERT_EQ(itf["DnsEntries"].size(), 2u);  // regional, then the subnet's zone
  std::string regional = itf["DnsEntries"][0]["DnsName"], zonal = itf["DnsEntries"][1]["DnsName"];
  EXPECT_EQ(regional.rfind(itf["VpcEndpointId"].get<std::string>() + "-", 0), 0u) << regional;
  EXPECT_TRUE(regional.ends_with(".ecr.api.us-east-1.vpce.amazonaws.com")) << regional;
  EXPECT_NE(zonal.find("-us-east-1"), std::string::npos) << zonal;
  EXPECT_TRUE(zonal.ends_with(".ecr.api.us-east-1.vpce.amazonaws.com")) << zonal;

  std::string missing = "vpce-0123456789abcdef0";
  Json del = Call("DeleteVpcEndpoints", {{"VpcEndpointIds", Json::array({gw["VpcEndpointId"], missing, itf["VpcEndpointId"]})}});
  ASSERT_EQ(del["Unsuccessful"].size(), 1u);
  EXPECT_EQ(del["Unsuccessful"][0]["ResourceId"], missing);
  EXPECT_EQ(del["Unsuccessful"][0]["Error"]["Code"], "InvalidVpcEndpointId.NotFound");
  for (const auto& r : routes()) EXPECT_FALSE(r.contains("DestinationPrefixListId")) << r.dump();
  EXPECT_EQ(Refusal("DescribeNetworkInterfaces", {{"NetworkInterfaceIds", itf["NetworkInterfaceIds"]}}).rfind(
                "InvalidNetworkInterfaceID.NotFound", 0), 0u);
  EXPECT_TRUE(Call("DescribeVpcEndpoints", Json::object())["VpcEndpoints"].empty());
}

TEST_F(VpcRestTest, SecurityGroupReferencesAcrossAnActivePeering) {
  std::string other = Call("CreateVpc", {{"CidrBlock", "10.9.0.0/16"}})["Vpc"]["VpcId"];
  std::string mine = Call("CreateSecurityGroup", {{"GroupName", "db"}, {"Description", "db"}, {"VpcId", vpc_}})["GroupId"];
  std::string theirs = Call("CreateSecurityGroup", {{"GroupName", "app"}, {"Description", "app"}, {"VpcId", other}})["GroupId"];
  Call("AuthorizeSecurityGroupIngress", {{"GroupId", theirs}, {"IpPermissions", Json::array({
      {{"IpProtocol", "tcp"}, {"FromPort", 5432}, {"ToPort", 5432}, {"UserIdGroupPairs", Json::array({{{"GroupId", mine}}})}}})}});
  auto refs = [&] { return Call("DescribeSecurityGroupReferences", {{"GroupId", Json::array({mine})}})["SecurityGroupReferenceSet"]; };
  EXPECT_TRUE(refs().empty());  // no peering yet
  std::string pcx = Call("CreateVpcPeeringConnection", {{"VpcId", vpc_}, {"PeerVpcId", other}})["VpcPeeringConnection"]["VpcPeeringConnectionId"];
  EXPECT_TRUE(refs().empty());  // not active yet
  Call("AcceptVpcPeeringConnection", {{"VpcPeeringConnectionId", pcx}});
  EXPECT_EQ(refs(), Json::array({{{"GroupId", mine}, {"ReferencingVpcId", other}, {"VpcPeeringConnectionId", pcx}}}));
}

}  // namespace
}  // namespace kecs::api::ec2
