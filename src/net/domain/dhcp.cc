#include "net/domain/dhcp.h"

#include <sstream>

namespace kecs::net {

std::vector<std::string> DhcpValues(const Json& doc, const std::string& key) {
  std::vector<std::string> out;
  for (const auto& c : doc.value("DhcpConfigurations", Json::array())) {
    if (JStr(c, "Key") != key) continue;
    for (const auto& v : c.value("Values", Json::array())) out.push_back(JStr(v, "Value"));
  }
  return out;
}

Result<VpcDhcp> ReadVpcDhcp(state::Tx& tx, const std::string& region, const Json& vpc_doc,
                            const std::string& resolver) {
  VpcDhcp out;
  std::string id = JStr(vpc_doc, "DhcpOptionsId");
  if (id.empty() || id == "default") return out;
  ASSIGN_OR_RETURN(auto set, tx.Get(kDhcpOptions, region, id));
  if (!set) return out;
  for (const auto& s : DhcpValues(set->doc, "domain-name-servers")) {
    out.nameservers.push_back(s == "AmazonProvidedDNS" ? resolver : s);
  }
  // domain-name may hold several names separated by spaces (the VPC user guide: Linux
  // resolvers take them as the search list).
  for (const auto& d : DhcpValues(set->doc, "domain-name")) {
    std::istringstream in(d);
    for (std::string word; in >> word;) out.search.push_back(word);
  }
  return out;
}

}  // namespace kecs::net
