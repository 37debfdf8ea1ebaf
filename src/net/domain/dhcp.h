#pragma once
// DHCP options sets (api/ec2/dhcp_options.cc) as an awsvpc task's resolver sees them.
//
// A set is a store object of kind kDhcpOptions in the DhcpOptions shape; a VPC names its
// set in DhcpOptionsId ("default", or the id kecs gave it at creation, when none is
// associated). When a task's interface is provisioned, its VPC's set gives the task's
// resolv.conf: nameservers from domain-name-servers (AmazonProvidedDNS is the VPC resolver,
// base+2) and the search list from domain-name. Tasks already running keep what they got,
// as instances keep their lease until they renew it.
#include <string>
#include <vector>

#include "base/status.h"
#include "state/store.h"

namespace kecs::net {

inline constexpr const char* kDhcpOptions = "ec2:dopt";

struct VpcDhcp {
  std::vector<std::string> nameservers;  // empty: the VPC resolver alone (no set associated)
  std::vector<std::string> search;       // from domain-name
};

// The values of option `key` in a DhcpOptions document.
std::vector<std::string> DhcpValues(const Json& doc, const std::string& key);

// What the VPC's associated set gives its tasks; `resolver` is the VPC resolver's address
// (AmazonProvidedDNS). No set, or one without those options: empty members.
Result<VpcDhcp> ReadVpcDhcp(state::Tx& tx, const std::string& region, const Json& vpc_doc,
                            const std::string& resolver);

}  // namespace kecs::net
