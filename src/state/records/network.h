#pragma once
// Typed views of the EC2 objects (VPC, subnet, network interface) that a task's network is
// made of, for the task controller's network hooks: the one place that reads and writes
// those documents' members on the task path. The documents stay in EC2's shapes (see
// net/vpc.h); these read what provisioning needs and write the two things it changes.
// Stateless; thread-safe.
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "state/store.h"

namespace kecs::state::records {

struct SubnetView {
  std::string id;
  std::string vpc_id;
  std::string cidr_block;
  std::string availability_zone;
  std::vector<std::string> ipv6_cidr_blocks;
};

struct VpcView {
  std::string id;
  std::string cidr_block;               // the primary one
  std::vector<std::string> cidr_blocks;  // every associated IPv4 block
};

struct EniView {
  std::string id;
  std::string mac_address;
  std::string private_ip_address;
  std::string private_dns_name;
  std::optional<std::string> ipv6_address;
};

SubnetView ReadSubnet(const Object& subnet);
VpcView ReadVpc(const Object& vpc);
EniView ReadEni(const Object& eni);

// The ENI's public address association as EC2 shows it (assignPublicIp), on the
// interface and its primary private address.
void SetEniPublicIp(Object& eni, const std::string& public_ip);

// The slot of the VPC's link to the host, assigned once per VPC (a durable sequence) and
// kept on the VPC. NotFound when the VPC is gone.
Result<int> VpcTransitSlot(Tx& tx, const std::string& region, const std::string& vpc_id);

}  // namespace kecs::state::records
