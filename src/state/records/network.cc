#include "state/records/network.h"

#include <fmt/format.h>

namespace kecs::state::records {

SubnetView ReadSubnet(const Object& subnet) {
  SubnetView v;
  v.id = subnet.id;
  v.vpc_id = subnet.parent;
  v.cidr_block = JStr(subnet.doc, "CidrBlock");
  v.availability_zone = JStr(subnet.doc, "AvailabilityZone");
  for (const auto& a : subnet.doc.value("Ipv6CidrBlockAssociationSet", Json::array())) {
    v.ipv6_cidr_blocks.push_back(JStr(a, "Ipv6CidrBlock"));
  }
  return v;
}

VpcView ReadVpc(const Object& vpc) {
  VpcView v;
  v.id = vpc.id;
  v.cidr_block = JStr(vpc.doc, "CidrBlock");
  for (const auto& a : vpc.doc.value("CidrBlockAssociationSet", Json::array())) {
    v.cidr_blocks.push_back(JStr(a, "CidrBlock"));
  }
  return v;
}

EniView ReadEni(const Object& eni) {
  EniView v;
  v.id = eni.id;
  v.mac_address = JStr(eni.doc, "MacAddress");
  v.private_ip_address = JStr(eni.doc, "PrivateIpAddress");
  v.private_dns_name = JStr(eni.doc, "PrivateDnsName");
  v.ipv6_address = JOptStr(eni.doc, "Ipv6Address");
  return v;
}

void SetEniPublicIp(Object& eni, const std::string& public_ip) {
  std::string dashed = public_ip;
  for (char& ch : dashed) ch = ch == '.' ? '-' : ch;
  Json assoc = {{"IpOwnerId", "amazon"},
                {"PublicDnsName", eni.region == "us-east-1"
                                      ? fmt::format("ec2-{}.compute-1.amazonaws.com", dashed)
                                      : fmt::format("ec2-{}.{}.compute.amazonaws.com", dashed, eni.region)},
                {"PublicIp", public_ip}};
  eni.doc["Association"] = assoc;
  eni.doc["PrivateIpAddresses"][0]["Association"] = assoc;
}

Result<int> VpcTransitSlot(Tx& tx, const std::string& region, const std::string& vpc_id) {
  ASSIGN_OR_RETURN(auto vpc, tx.Get("ec2:vpc", region, vpc_id));
  if (!vpc) return NotFound("VPC " + vpc_id + " no longer exists");
  if (auto slot = JOptInt(vpc->doc, "kecs:transitSlot")) return static_cast<int>(*slot);
  ASSIGN_OR_RETURN(int64_t n, tx.NextSequence("kecs-transit-slot"));
  vpc->doc["kecs:transitSlot"] = n - 1;
  RETURN_IF_ERROR(tx.Put(*vpc));
  return static_cast<int>(n - 1);
}

}  // namespace kecs::state::records
