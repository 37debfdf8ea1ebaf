// EC2 route tables and routes.
#include "api/ec2/ec2_api.h"

namespace kecs::api::ec2 {

void RegisterRouteTableOps(Service&, state::Store&, net::RegionBootstrap&) {}

}  // namespace kecs::api::ec2
