#include "api/ecs/network.h"

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "base/strings.h"
#include "net/domain/vpc.h"

namespace kecs::api::ecs {

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
  std::vector<std::string> subnets = vpc->value("subnets", std::vector<std::string>{});
  plan.security_groups = vpc->value("securityGroups", std::vector<std::string>{});
  plan.assign_public_ip = JStr(*vpc, "assignPublicIp", "DISABLED") == "ENABLED";
  if (subnets.size() > 16) throw InvalidParameter("subnets can have at most 16 items.");
  if (plan.security_groups.size() > 5) {
    throw InvalidParameter("securityGroups can have at most 5 items.");
  }
  if (plan.assign_public_ip && launch_type == "EC2" && (explicit_launch || ctx.strict)) {
    throw InvalidParameter("Assign public IP is not supported for this launch type.");
  }

  std::vector<state::Object> subnet_objs;
  if (subnets.empty()) {
    // Lenient: KECS's documented flow names no subnets; the task goes to the default
    // VPC's default subnet.
    if (ctx.strict) throw InvalidParameter("subnets can not be empty.");
    auto def = Check(net::DefaultSubnet(tx, ctx.region));
    if (!def) {
      throw InvalidParameter("subnets can not be empty, and this region has no default VPC to default to.");
    }
    subnet_objs.push_back(*def);
  }
  for (const auto& id : subnets) {
    auto o = Check(tx.Get(net::kSubnet, ctx.region, id));
    if (!o) {
      throw InvalidParameter(fmt::format(
          "Error retrieving subnet information for [{}]: The subnet ID '{}' does not exist "
          "(Service: AmazonEC2; Status Code: 400; Error Code: InvalidSubnetID.NotFound)", id, id));
    }
    subnet_objs.push_back(*o);
  }
  for (const auto& s : subnet_objs) {
    // An awsvpc task needs an IPv4 address (its gateway, DNS and metadata endpoint are
    // IPv4): kecs refuses IPv6-only subnets up front. kecs's wording (no AWS source).
    if (JStr(s.doc, "CidrBlock").empty()) {
      throw InvalidParameter(fmt::format(
          "The subnet {} is IPv6-only (Ipv6Native); kecs places awsvpc tasks only in subnets "
          "with an IPv4 CIDR block.", s.id));
    }
    if (s.parent != subnet_objs.front().parent) {
      throw InvalidParameter("The subnets specified must all be in the same VPC.");
    }
  }
  plan.vpc_id = subnet_objs.front().parent;
  for (const auto& g : plan.security_groups) {
    auto o = Check(tx.Get(net::kSecurityGroup, ctx.region, g));
    if (!o) {
      throw InvalidParameter(fmt::format(
          "Error retrieving security group information for [{}]: The security group '{}' does "
          "not exist (Service: AmazonEC2; Status Code: 400; Error Code: InvalidGroup.NotFound)", g, g));
    }
    if (o->parent != plan.vpc_id) {
      throw InvalidParameter(fmt::format(
          "Security group {} does not appear to belong to the same VPC as the input subnets.", g));
    }
  }
  if (plan.security_groups.empty()) {
    auto def = Check(net::DefaultSecurityGroup(tx, ctx.region, plan.vpc_id));
    if (def) plan.security_groups.push_back(def->id);
  }
  // The task's ENI goes in the listed subnet with the most free addresses, as ECS spreads.
  const state::Object* best = &subnet_objs.front();
  int64_t best_free = -1;
  for (const auto& s : subnet_objs) {
    int64_t free = Check(net::AvailableIpAddressCount(tx, ctx.region, s));
    if (free > best_free) {
      best_free = free;
      best = &s;
    }
  }
  plan.subnets = {best->id};
  for (const auto& s : subnet_objs) {
    if (s.id != best->id) plan.subnets.push_back(s.id);
  }
  plan.availability_zone = JStr(best->doc, "AvailabilityZone");
  for (const auto& s : subnet_objs) plan.zones.push_back(JStr(s.doc, "AvailabilityZone"));
  return plan;
}

}  // namespace kecs::api::ecs
