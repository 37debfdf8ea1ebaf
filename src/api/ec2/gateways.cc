// EC2 internet gateways and NAT gateways.
#include "api/ec2/ec2_api.h"

namespace kecs::api::ec2 {

void RegisterGatewayOps(Service&, state::Store&, net::RegionBootstrap&) {}

}  // namespace kecs::api::ec2
