// EC2 network ACLs and their entries.
#include "api/ec2/ec2_api.h"

namespace kecs::api::ec2 {

void RegisterNetworkAclOps(Service&, state::Store&, net::RegionBootstrap&) {}

}  // namespace kecs::api::ec2
