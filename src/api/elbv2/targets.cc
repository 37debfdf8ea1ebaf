// Targets: RegisterTargets, DeregisterTargets, DescribeTargetHealth.
//
// A registered target is a model::Target on its group's record. It starts `initial`
// (Elb.RegistrationInProgress); the load balancer controller records what the data plane
// observes. Deregistering drains the target for the group's deregistration delay
// (drain_until), after which the controller removes it.
#include <algorithm>

#include <fmt/format.h>

#include "api/elbv2/common.h"
#include "api/elbv2/elbv2_api.h"
#include "model/kinds.h"
#include "net/domain/ip.h"
#include "state/records/elb.h"

namespace kecs::api::elbv2 {
namespace {

using model::Target;
using model::TargetGroup;
using model::TargetHealthState;
using model::TargetType;

// The private ranges an ip target outside the group's VPC may use (AvailabilityZone
// "all"), as AWS documents for ip targets: 10.0.0.0/8, 100.64.0.0/10, 172.16.0.0/12,
// 192.168.0.0/16.
bool InAllowedRanges(uint32_t ip) {
  for (const char* c : {"10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.168.0.0/16"}) {
    if (net::Ipv4Cidr::Parse(c)->Contains(ip)) return true;
  }
  return false;
}

// The zone of the VPC subnet holding `ip`, or "" when no subnet of the VPC does; nullopt
// when the address is outside every CIDR block of the VPC.
std::optional<std::string> ZoneInVpc(state::Tx& tx, const std::string& region, const std::string& vpc_id, uint32_t ip) {
  auto vpc = Check(tx.Get(net::kVpc, region, vpc_id));
  if (!vpc) return std::nullopt;
  bool inside = false;
  for (const auto& a : vpc->doc.value("CidrBlockAssociationSet", Json::array())) {
    auto c = net::Ipv4Cidr::Parse(JStr(a, "CidrBlock"));
    if (c && c->Contains(ip)) inside = true;
  }
  if (auto c = net::Ipv4Cidr::Parse(JStr(vpc->doc, "CidrBlock")); c && c->Contains(ip)) inside = true;
  if (!inside) return std::nullopt;
  state::Query q{net::kSubnet, region};
  q.parent = vpc_id;
  for (const auto& sn : Check(tx.List(q))) {
    auto c = net::Ipv4Cidr::Parse(JStr(sn.doc, "CidrBlock"));
    if (c && c->Contains(ip)) return JStr(sn.doc, "AvailabilityZone");
  }
  return std::string();
}

// The container instance kecs knows with this EC2 instance id (ECS's
// RegisterContainerInstance records it as ec2InstanceId), or nullopt.
std::optional<state::Object> ContainerInstance(state::Tx& tx, const std::string& region, const std::string& id) {
  state::Query q{model::kInstance, region};
  q.doc_equals = {{"ec2InstanceId", id}};
  for (auto& o : Check(tx.List(q))) {
    if (JStr(o.doc, "status") != "INACTIVE") return std::move(o);
  }
  return std::nullopt;
}

std::string InstanceZone(const state::Object& inst) {
  for (const auto& a : inst.doc.value("attributes", Json::array())) {
    if (JStr(a, "name") == "ecs.availability-zone") return JStr(a, "value");
  }
  return "";
}

struct TargetRequest {
  std::string id;
  std::optional<int> port;
  std::string zone;
};

std::vector<TargetRequest> RequestedTargets(const Json& in) {
  std::vector<TargetRequest> out;
  for (const Json& t : in.value("Targets", Json::array())) {
    TargetRequest r{JStr(t, "Id"), std::nullopt, JStr(t, "AvailabilityZone")};
    if (JGet(t, "Port")) r.port = static_cast<int>(JInt(t, "Port"));
    out.push_back(std::move(r));
  }
  return out;
}

// The port a request names, else the group's; ValidationError when neither has one.
int PortOf(const TargetRequest& r, const TargetGroup& tg) {
  if (r.port) return *r.port;
  if (tg.port) return *tg.port;
  if (tg.target_type == TargetType::kLambda) return 0;
  throw ValidationError(fmt::format("A port must be specified for target '{}'", r.id));
}

bool Used(state::Tx& tx, const TargetGroup& tg) {
  return !Check(state::records::LoadBalancersOfTargetGroup(tx, tg.region, tg.id)).empty();
}

// A new registration of `r`: validated against the group (AWS's InvalidTarget), with the
// zone and the address the data plane connects to.
Target NewTarget(state::Tx& tx, const LbDeps& d, const RequestContext& ctx, const TargetGroup& tg,
                 const TargetRequest& r) {
  Target t;
  t.id = r.id;
  t.port = PortOf(r, tg);
  t.registered_at = ctx.now;
  t.state = TargetHealthState::kInitial;
  t.reason = model::kReasonRegistrationInProgress;
  t.description = model::TargetHealthDescription(t.reason);
  switch (tg.target_type) {
    case TargetType::kIp: {
      auto ip = net::ParseIpv4(r.id);
      if (!ip) {
        // No source for AWS's text; kecs's wording.
        throw ElbError("InvalidTarget", fmt::format("The IP address '{}' is not a valid IPv4 address", r.id));
      }
      auto zone = ZoneInVpc(tx, ctx.region, tg.vpc_id, *ip);
      if (r.zone == "all") {
        if (!zone && !InAllowedRanges(*ip)) {
          throw ElbError("InvalidTarget",
                         fmt::format("The IP address '{}' is not within a private range allowed for targets", r.id));
        }
        t.availability_zone = "all";
      } else {
        if (!zone) {
          // AWS's text for a target outside the group's VPC (as users report it; the
        // target after the colon is kecs's addition).
        throw ElbError("InvalidTarget", "The following targets are not in the target group VPC: '" + r.id + "'");
        }
        t.availability_zone = r.zone.empty() ? *zone : r.zone;
      }
      t.address = r.id;
      break;
    }
    case TargetType::kInstance: {
      auto inst = ContainerInstance(tx, ctx.region, r.id);
      if (!inst) {
        // AWS's text for an instance id it does not know (as clients report it).
        throw ElbError("InvalidTarget", fmt::format("Instance ID '{}' is not valid", r.id));
      }
      t.availability_zone = InstanceZone(*inst);
      t.address = d.options.host_address;
      break;
    }
    case TargetType::kLambda:
    case TargetType::kAlb:
      // kecs has neither Lambda functions nor ALB targets behind an NLB.
      throw ElbError("InvalidTarget",
                     fmt::format("kecs does not support targets of type '{}'", model::ToString(tg.target_type)));
  }
  return t;
}

Json RegisterTargets(const LbDeps& d, RequestContext& ctx, const Json& in) {
  auto requested = RequestedTargets(in);
  Check(d.store.Write([&](state::Tx& tx) {
    TargetGroup tg = RequireTargetGroup(tx, ctx.region, JStr(in, "TargetGroupArn"));
    for (const auto& r : requested) {
      int port = PortOf(r, tg);
      auto it = std::find_if(tg.targets.begin(), tg.targets.end(),
                             [&](const Target& t) { return t.id == r.id && t.port == port; });
      if (it != tg.targets.end() && !it->drain_until) continue;  // already registered: AWS succeeds
      Target t = NewTarget(tx, d, ctx, tg, r);
      if (it != tg.targets.end()) {
        *it = std::move(t);  // a draining target registered again is in service again
      } else {
        tg.targets.push_back(std::move(t));
      }
    }
    // AWS's default quota (DescribeAccountLimits: targets-per-target-group).
    if (tg.targets.size() > 1000) {
      throw ElbError("TooManyTargets", "You've reached the limit on the number of targets registered to a target group");
    }
    Check(state::records::PutTargetGroup(tx, tg));
    return Status::Ok();
  }));
  return Json::object();
}

Json DeregisterTargets(const LbDeps& d, RequestContext& ctx, const Json& in) {
  auto requested = RequestedTargets(in);
  Check(d.store.Write([&](state::Tx& tx) {
    TargetGroup tg = RequireTargetGroup(tx, ctx.region, JStr(in, "TargetGroupArn"));
    const bool used = Used(tx, tg);
    const int delay = model::DeregistrationDelaySeconds(tg);
    for (const auto& r : requested) {
      int port = PortOf(r, tg);
      auto it = std::find_if(tg.targets.begin(), tg.targets.end(),
                             [&](const Target& t) { return t.id == r.id && t.port == port; });
      // AWS answers success and changes nothing for a target that is not registered on
      // that port (chaostoolkit-aws issue 60, aws-sdk-js issue 1964).
      if (it == tg.targets.end()) continue;
      if (it->drain_until) continue;  // already draining
      if (!used || delay <= 0) {
        // Nothing routes to it: there is nothing to drain.
        tg.targets.erase(it);
        continue;
      }
      it->state = TargetHealthState::kDraining;
      it->reason = model::kReasonDeregistrationInProgress;
      it->description = model::TargetHealthDescription(it->reason);
      it->drain_until = ctx.now + delay;
    }
    Check(state::records::PutTargetGroup(tx, tg));
    return Status::Ok();
  }));
  return Json::object();
}

Json TargetHealth(TargetHealthState state, const std::string& reason, const std::string& description) {
  Json h{{"State", std::string(model::ToString(state))}};
  if (!reason.empty()) h["Reason"] = reason;
  if (!description.empty()) h["Description"] = description;
  return h;
}

std::string HealthCheckPort(const TargetGroup& tg, int port) {
  return tg.health_check.port == "traffic-port" ? std::to_string(port) : tg.health_check.port;
}

Json DescribeTargetHealth(const LbDeps& d, RequestContext& ctx, const Json& in) {
  auto requested = RequestedTargets(in);
  Json out;
  Check(d.store.Read([&](state::Tx& tx) {
    TargetGroup tg = RequireTargetGroup(tx, ctx.region, JStr(in, "TargetGroupArn"));
    const bool used = Used(tx, tg);
    Json list = Json::array();
    auto show = [&](const Target& t) {
      Json target{{"Id", t.id}};
      if (tg.target_type != TargetType::kLambda) target["Port"] = t.port;
      if (tg.target_type == TargetType::kIp && !t.availability_zone.empty()) {
        target["AvailabilityZone"] = t.availability_zone;
      }
      // From the record: a group that has just come into use shows its targets initial
      // until the controller records the data plane's checks.
      model::TargetHealthView v = model::RecordedTargetHealth(tg, t, used);
      Json e{{"Target", target}};
      if (tg.target_type != TargetType::kLambda) e["HealthCheckPort"] = HealthCheckPort(tg, t.port);
      e["TargetHealth"] = TargetHealth(v.state, v.reason, v.description);
      list.push_back(e);
    };
    if (requested.empty()) {
      for (const auto& t : tg.targets) show(t);
    } else {
      for (const auto& r : requested) {
        bool found = false;
        for (const auto& t : tg.targets) {
          if (t.id == r.id && (!r.port || t.port == *r.port)) {
            show(t);
            found = true;
          }
        }
        if (found) continue;
        int port = r.port ? *r.port : tg.port.value_or(0);
        Json target{{"Id", r.id}};
        if (tg.target_type != TargetType::kLambda) target["Port"] = port;
        Json e{{"Target", target}};
        if (tg.target_type != TargetType::kLambda) e["HealthCheckPort"] = HealthCheckPort(tg, port);
        e["TargetHealth"] = TargetHealth(TargetHealthState::kUnused, model::kReasonNotRegistered,
                                       std::string(model::TargetHealthDescription(model::kReasonNotRegistered)));
        list.push_back(e);
      }
    }
    out = {{"TargetHealthDescriptions", list}};
    return Status::Ok();
  }));
  return out;
}

}  // namespace

void RegisterTargetOps(Service& service, const LbDeps& d) {
  RegisterOp(service, d, "RegisterTargets", &RegisterTargets);
  RegisterOp(service, d, "DeregisterTargets", &DeregisterTargets);
  RegisterOp(service, d, "DescribeTargetHealth", &DescribeTargetHealth);
}

}  // namespace kecs::api::elbv2
