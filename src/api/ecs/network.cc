#include "api/ecs/network.h"

#include "api/ecs/common.h"
#include "base/ids.h"

namespace kecs::api::ecs {

Json NetworkPlan::AttachmentsAtLaunch() const {
  if (mode != "awsvpc") return Json::array();
  Json details = Json::array();
  if (!subnets.empty()) details.push_back({{"name", "subnetId"}, {"value", subnets.front()}});
  return Json::array({{{"id", Uuid4()},
                       {"type", "ElasticNetworkInterface"},
                       {"status", "PRECREATED"},
                       {"details", details}}});
}

Json NetworkPlan::ToJson() const {
  return {{"mode", mode}, {"subnets", subnets}, {"securityGroups", security_groups},
          {"assignPublicIp", assign_public_ip}, {"vpcId", vpc_id},
          {"availabilityZone", availability_zone}};
}

NetworkPlan NetworkPlan::FromJson(const Json& j) {
  NetworkPlan p;
  p.mode = JStr(j, "mode");
  p.subnets = j.value("subnets", std::vector<std::string>{});
  p.security_groups = j.value("securityGroups", std::vector<std::string>{});
  p.assign_public_ip = JBool(j, "assignPublicIp");
  p.vpc_id = JStr(j, "vpcId");
  p.availability_zone = JStr(j, "availabilityZone");
  return p;
}

NetworkPlan PlanNetwork(state::Tx& tx, const RequestContext& ctx, const std::string& mode,
                        const std::string& launch_type, const Json& network_configuration,
                        bool explicit_launch) {
  (void)tx;
  NetworkPlan plan;
  plan.mode = mode;
  const Json* vpc = network_configuration.is_object()
                        ? JGet(network_configuration, "awsvpcConfiguration")
                        : nullptr;
  if (mode != "awsvpc") {
    if (vpc) {
      throw InvalidParameter(
          "Network Configuration is not valid for the given networkMode of this task definition.");
    }
    return plan;
  }
  if (!vpc) {
    throw InvalidParameter(
        "Network Configuration must be provided when networkMode 'awsvpc' is specified.");
  }
  plan.subnets = vpc->value("subnets", std::vector<std::string>{});
  plan.security_groups = vpc->value("securityGroups", std::vector<std::string>{});
  plan.assign_public_ip = JStr(*vpc, "assignPublicIp", "DISABLED") == "ENABLED";
  if (plan.subnets.size() > 16) throw InvalidParameter("subnets can have at most 16 items.");
  if (plan.security_groups.size() > 5) {
    throw InvalidParameter("securityGroups can have at most 5 items.");
  }
  if (plan.assign_public_ip && launch_type == "EC2" && (explicit_launch || ctx.strict)) {
    throw InvalidParameter("Assign public IP is not supported for this launch type.");
  }
  if (plan.subnets.empty() && ctx.strict) {
    throw InvalidParameter("subnets can not be empty.");
  }
  return plan;
}

}  // namespace kecs::api::ecs
