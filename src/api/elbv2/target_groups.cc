// Target groups: CreateTargetGroup, DescribeTargetGroups, ModifyTargetGroup,
// DeleteTargetGroup, DescribeTargetGroupAttributes, ModifyTargetGroupAttributes.
#include <algorithm>

#include <fmt/format.h>

#include "api/elbv2/common.h"
#include "api/elbv2/elbv2_api.h"
#include "api/pagination.h"
#include "state/records/elb.h"

namespace kecs::api::elbv2 {
namespace {

using model::LbProtocol;
using model::TargetGroup;
using model::TargetType;

bool IsHttp(LbProtocol p) { return p == LbProtocol::kHttp || p == LbProtocol::kHttps; }

// TargetGroupName: 1-32 alphanumerics and hyphens, no hyphen first or last. AWS's texts
// (as moto's elbv2 models word them).
void CheckName(const std::string& name) {
  if (name.size() > 32) {
    throw ValidationError(fmt::format("Target group name '{}' cannot be longer than '32' characters", name));
  }
  if (!std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; })) {
    throw ValidationError(fmt::format(
        "Target group name '{}' can only contain characters that are alphanumeric characters or hyphens(-)", name));
  }
  if (name.front() == '-' || name.back() == '-') {
    throw ValidationError(fmt::format("Target group name '{}' cannot begin or end with '-'", name));
  }
}

std::optional<LbProtocol> ProtocolMember(const Json& in, const char* key) {
  const Json* v = JGet(in, key);
  if (!v) return std::nullopt;
  auto p = model::ParseLbProtocol(v->get<std::string>());
  if (!p) throw ValidationError(fmt::format("Invalid protocol '{}'", v->get<std::string>()));
  return p;
}

// The health check a group gets by default, as AWS documents it (Application load
// balancers: "Health checks for your target groups"; Network load balancers: the same
// page of their guide): HTTP(S) checks of "/" every 30 s, 5 s timeout, 5 healthy / 2
// unhealthy, success code 200; a Network load balancer's group checks TCP (10 s timeout)
// or, when asked, HTTP(S) with a 6 s (HTTP) / 10 s (HTTPS) timeout and codes 200-399.
model::TargetHealthCheck DefaultHealthCheck(TargetType type, std::optional<LbProtocol> protocol, LbProtocol hc_protocol,
                                            const std::string& protocol_version) {
  model::TargetHealthCheck hc;
  hc.protocol = hc_protocol;
  hc.port = "traffic-port";
  hc.interval_s = 30;
  hc.healthy_threshold = 5;
  hc.unhealthy_threshold = 2;
  if (type == TargetType::kLambda) {
    hc.enabled = false;
    hc.interval_s = 35;
    hc.timeout_s = 30;
    hc.path = "/";
    hc.matcher_http = "200";
    return hc;
  }
  const bool alb_group = protocol && IsHttp(*protocol);
  if (alb_group) {
    hc.timeout_s = 5;
    hc.path = protocol_version == "GRPC" ? "/AWS.ALB/healthcheck" : "/";
    if (protocol_version == "GRPC") hc.matcher_grpc = "12";
    else hc.matcher_http = "200";
    return hc;
  }
  if (IsHttp(hc_protocol)) {
    hc.timeout_s = hc_protocol == LbProtocol::kHttp ? 6 : 10;
    hc.path = "/";
    hc.matcher_http = "200-399";
  } else {
    hc.timeout_s = 10;
  }
  return hc;
}

// HealthCheck* members of a Create or Modify request over `hc`, then AWS's checks.
void ApplyHealthCheck(const Json& in, model::TargetHealthCheck& hc, bool http_group) {
  if (const Json* v = JGet(in, "HealthCheckEnabled")) hc.enabled = v->get<bool>();
  if (auto p = ProtocolMember(in, "HealthCheckProtocol")) {
    if (*p != LbProtocol::kHttp && *p != LbProtocol::kHttps && *p != LbProtocol::kTcp) {
      throw ValidationError(fmt::format("Health check protocol '{}' is not supported", model::ToString(*p)));
    }
    if (http_group && *p == LbProtocol::kTcp) {
      // No source for AWS's text; kecs's wording.
      throw ValidationError("Health check protocol 'TCP' is not supported for target groups with the HTTP or HTTPS protocol");
    }
    hc.protocol = *p;
    if (IsHttp(*p) && hc.path.empty()) hc.path = "/";
    if (IsHttp(*p) && hc.matcher_http.empty() && hc.matcher_grpc.empty()) hc.matcher_http = http_group ? "200" : "200-399";
    if (!IsHttp(*p)) {
      hc.path.clear();
      hc.matcher_http.clear();
      hc.matcher_grpc.clear();
    }
  }
  if (const Json* v = JGet(in, "HealthCheckPort")) {
    std::string port = v->get<std::string>();
    if (port != "traffic-port") {
      bool digits = !port.empty() && port.size() <= 5 &&
                    std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535) {
        throw ValidationError(fmt::format("Health check port '{}' must be 'traffic-port' or a port between 1 and 65535", port));
      }
    }
    hc.port = port;
  }
  if (const Json* v = JGet(in, "HealthCheckPath")) {
    if (!IsHttp(hc.protocol)) {
      // No source for AWS's text; kecs's wording.
      throw ValidationError("A health check path can only be specified for HTTP and HTTPS health checks");
    }
    hc.path = v->get<std::string>();
  }
  if (const Json* v = JGet(in, "HealthCheckIntervalSeconds")) hc.interval_s = v->get<int>();
  if (const Json* v = JGet(in, "HealthCheckTimeoutSeconds")) hc.timeout_s = v->get<int>();
  if (const Json* v = JGet(in, "HealthyThresholdCount")) hc.healthy_threshold = v->get<int>();
  if (const Json* v = JGet(in, "UnhealthyThresholdCount")) hc.unhealthy_threshold = v->get<int>();
  if (const Json* m = JGet(in, "Matcher")) {
    if (!IsHttp(hc.protocol)) {
      throw ValidationError("A health check matcher can only be specified for HTTP and HTTPS health checks");
    }
    if (JGet(*m, "HttpCode")) {
      std::string code = JStr(*m, "HttpCode");
      // Codes 200-499 (ALB) / 200-599 (NLB), as single codes, lists or ranges.
      bool ok = !code.empty() && std::all_of(code.begin(), code.end(), [](char c) {
        return (c >= '0' && c <= '9') || c == ',' || c == '-';
      });
      if (!ok) throw ValidationError(fmt::format("Health check matcher HTTP code '{}' must be like 200 | 200-399 | 200,201", code));
      hc.matcher_http = code;
      hc.matcher_grpc.clear();
    }
    if (JGet(*m, "GrpcCode")) {
      hc.matcher_grpc = JStr(*m, "GrpcCode");
      hc.matcher_http.clear();
    }
  }
  if (hc.timeout_s >= hc.interval_s) {
    // AWS's text (observed on CreateTargetGroup and ModifyTargetGroup).
    throw ValidationError(fmt::format("Health check timeout '{}' must be smaller than the interval '{}'", hc.timeout_s,
                                      hc.interval_s));
  }
}

// The group a CreateTargetGroup request describes (everything but its ids).
TargetGroup Parse(state::Tx& tx, const RequestContext& ctx, const Json& in) {
  TargetGroup tg;
  tg.region = ctx.region;
  tg.name = JStr(in, "Name");
  CheckName(tg.name);
  auto type = model::ParseTargetType(JStr(in, "TargetType", "instance"));
  if (!type) throw ValidationError("Invalid target type");
  tg.target_type = *type;
  tg.protocol = ProtocolMember(in, "Protocol");
  if (JGet(in, "Port")) tg.port = static_cast<int>(JInt(in, "Port"));
  tg.vpc_id = JStr(in, "VpcId");
  if (tg.target_type == TargetType::kLambda) {
    // AWS's texts for a Lambda group given a protocol, port or VPC are not documented;
    // kecs's wording.
    if (tg.protocol || tg.port || !tg.vpc_id.empty()) {
      throw ValidationError("A protocol, port and VPC ID cannot be specified for target groups with a target type of 'lambda'");
    }
  } else {
    // No source for AWS's texts; kecs's wording.
    if (!tg.protocol) throw ValidationError("A protocol must be specified");
    if (!tg.port) throw ValidationError("A port must be specified");
    if (tg.vpc_id.empty()) throw ValidationError("A VPC ID must be specified");
    if (*tg.protocol == LbProtocol::kGeneve || *tg.protocol == LbProtocol::kQuic ||
        *tg.protocol == LbProtocol::kTcpQuic) {
      throw ValidationError(fmt::format("kecs does not support target groups with protocol '{}'", model::ToString(*tg.protocol)));
    }
    if (tg.target_type == TargetType::kAlb && *tg.protocol != LbProtocol::kTcp) {
      throw ValidationError("Target groups with a target type of 'alb' must use the TCP protocol");
    }
    if (!Check(tx.Get(net::kVpc, ctx.region, tg.vpc_id))) {
      throw ValidationError(fmt::format("The VPC ID '{}' is not found", tg.vpc_id));
    }
  }
  const bool http = tg.protocol && IsHttp(*tg.protocol);
  if (JGet(in, "ProtocolVersion")) {
    if (!http) throw ValidationError("A protocol version can only be specified for HTTP and HTTPS target groups");
    tg.protocol_version = JStr(in, "ProtocolVersion");
    if (tg.protocol_version != "HTTP1" && tg.protocol_version != "HTTP2" && tg.protocol_version != "GRPC") {
      throw ValidationError(fmt::format("Protocol version '{}' must be one of HTTP1, HTTP2, GRPC", tg.protocol_version));
    }
  } else if (http) {
    tg.protocol_version = "HTTP1";
  }
  tg.ip_address_type = JStr(in, "IpAddressType", "ipv4");
  LbProtocol hc_protocol = LbProtocol::kHttp;
  if (tg.protocol) hc_protocol = http ? *tg.protocol : LbProtocol::kTcp;
  // The defaults follow the health check's protocol when one is asked for (an HTTP check
  // of a TCP group times out after 6 s, not the TCP check's 10 s).
  if (auto asked = ProtocolMember(in, "HealthCheckProtocol"); asked && IsHttp(*asked)) hc_protocol = *asked;
  tg.health_check = DefaultHealthCheck(tg.target_type, tg.protocol, hc_protocol, tg.protocol_version);
  ApplyHealthCheck(in, tg.health_check, http);
  tg.attributes = model::DefaultTargetGroupAttributes(tg.target_type, tg.protocol);
  tg.tags = RequestTags(in, "target group");
  return tg;
}

// Whether `a` and `b` are the same group as far as CreateTargetGroup's idempotence goes.
bool SameSettings(const TargetGroup& a, const TargetGroup& b) {
  return a.target_type == b.target_type && a.protocol == b.protocol && a.port == b.port && a.vpc_id == b.vpc_id &&
         a.protocol_version == b.protocol_version && a.health_check == b.health_check &&
         a.ip_address_type == b.ip_address_type;
}

Json CreateTargetGroup(const LbDeps& d, RequestContext& ctx, const Json& in) {
  Check(d.regions.Ensure(d.store, ctx.region, ctx.account_id, ctx.now));
  Json out;
  Check(d.store.Write([&](state::Tx& tx) {
    TargetGroup tg = Parse(tx, ctx, in);
    state::Query q{model::kTargetGroup, ctx.region};
    q.name = tg.name;
    auto existing = Check(tx.List(q));
    if (!existing.empty()) {
      TargetGroup old = Check(state::records::DecodeTargetGroup(existing.front()));
      if (SameSettings(old, tg)) {
        out = {{"TargetGroups", Json::array({TargetGroupView(tx, old)})}};
        return Status::Ok();
      }
      // AWS's text (as quoted in user reports of DuplicateTargetGroupName).
      throw ElbError("DuplicateTargetGroupName",
                     fmt::format("A target group with the same name '{}' exists, but with different settings", tg.name));
    }
    // AWS's default quota (DescribeAccountLimits: target-groups).
    if (Check(tx.Count({model::kTargetGroup, ctx.region})) >= 3000) {
      throw ElbError("TooManyTargetGroups", "The quota for the number of target groups has been reached");
    }
    tg.id = model::NewElbId();
    tg.arn = model::TargetGroupArn(ctx.region, ctx.account_id, tg.name, tg.id);
    Check(state::records::PutTargetGroup(tx, tg));
    out = {{"TargetGroups", Json::array({TargetGroupView(tx, tg)})}};
    return Status::Ok();
  }));
  return out;
}

Json DescribeTargetGroups(const LbDeps& d, RequestContext& ctx, const Json& in) {
  auto arns = StringList(in, "TargetGroupArns");
  auto names = StringList(in, "Names");
  std::string lb_arn = JStr(in, "LoadBalancerArn");
  if ((!arns.empty()) + (!names.empty()) + (!lb_arn.empty()) > 1) {
    // No source for AWS's text; kecs's wording.
    throw ValidationError("Only one of LoadBalancerArn, TargetGroupArns and Names can be specified");
  }
  Json out = Json::object();
  Check(d.store.Read([&](state::Tx& tx) {
    std::vector<TargetGroup> tgs;
    if (!arns.empty()) {
      for (const auto& arn : arns) tgs.push_back(RequireTargetGroup(tx, ctx.region, arn));
    } else {
      auto all = Check(state::records::ListTargetGroups(tx, ctx.region));
      if (!lb_arn.empty()) {
        model::LoadBalancer lb = RequireLoadBalancer(tx, ctx.region, lb_arn);
        for (auto& tg : all) {
          auto lbs = Check(state::records::LoadBalancersOfTargetGroup(tx, ctx.region, tg.id));
          if (std::find(lbs.begin(), lbs.end(), lb.id) != lbs.end()) tgs.push_back(std::move(tg));
        }
      } else if (!names.empty()) {
        // AWS answers a missing name as it does a missing ARN, without naming it:
        // "One or more target groups not found" (DescribeTargetGroups traceback in
        // aws-samples/service-screener-v2#212; moto's TargetGroupNotFoundError).
        tgs = PickByName(all, names, "TargetGroupNotFound", "Target groups", "One or more target groups not found");
      } else {
        tgs = std::move(all);
      }
    }
    PageRecords(std::move(tgs), in, out, "TargetGroups", [&](const TargetGroup& tg) { return TargetGroupView(tx, tg); });
    return Status::Ok();
  }));
  return out;
}

Json ModifyTargetGroup(const LbDeps& d, RequestContext& ctx, const Json& in) {
  Json out;
  Check(d.store.Write([&](state::Tx& tx) {
    TargetGroup tg = RequireTargetGroup(tx, ctx.region, JStr(in, "TargetGroupArn"));
    if (tg.target_type == TargetType::kLambda && JGet(in, "HealthCheckProtocol")) {
      throw ValidationError("Health check protocol cannot be specified for target groups with a target type of 'lambda'");
    }
    ApplyHealthCheck(in, tg.health_check, tg.protocol && IsHttp(*tg.protocol));
    Check(state::records::PutTargetGroup(tx, tg));
    out = {{"TargetGroups", Json::array({TargetGroupView(tx, tg)})}};
    return Status::Ok();
  }));
  return out;
}

Json DeleteTargetGroup(const LbDeps& d, RequestContext& ctx, const Json& in) {
  std::string arn = JStr(in, "TargetGroupArn");
  std::string id = model::IdFromArn(arn, "targetgroup");
  if (id.empty()) throw ValidationError("'" + arn + "' is not a valid target group ARN");
  Check(d.store.Write([&](state::Tx& tx) {
    auto tg = Check(state::records::GetTargetGroup(tx, ctx.region, id));
    if (!tg || tg->arn != arn) return Status::Ok();  // the model has no TargetGroupNotFound here
    if (!Check(state::records::LoadBalancersOfTargetGroup(tx, ctx.region, id)).empty()) {
      // AWS's text (as quoted in user reports and terraform-provider-aws's retry match).
      throw ElbError("ResourceInUse", fmt::format("Target group '{}' is currently in use by a listener or a rule", arn));
    }
    Check(tx.Delete(model::kTargetGroup, ctx.region, id));
    return Status::Ok();
  }));
  return Json::object();
}

Json DescribeTargetGroupAttributes(const LbDeps& d, RequestContext& ctx, const Json& in) {
  Json out;
  Check(d.store.Read([&](state::Tx& tx) {
    TargetGroup tg = RequireTargetGroup(tx, ctx.region, JStr(in, "TargetGroupArn"));
    out = {{"Attributes", state::records::KeyValuesToAws(tg.attributes)}};
    return Status::Ok();
  }));
  return out;
}

Json ModifyTargetGroupAttributes(const LbDeps& d, RequestContext& ctx, const Json& in) {
  Json out;
  Check(d.store.Write([&](state::Tx& tx) {
    TargetGroup tg = RequireTargetGroup(tx, ctx.region, JStr(in, "TargetGroupArn"));
    tg.attributes = ApplyAttributes(model::DefaultTargetGroupAttributes(tg.target_type, tg.protocol), tg.attributes, in,
                                    "Target group");
    Check(state::records::PutTargetGroup(tx, tg));
    out = {{"Attributes", state::records::KeyValuesToAws(tg.attributes)}};
    return Status::Ok();
  }));
  return out;
}

}  // namespace

void RegisterTargetGroupOps(Service& service, const LbDeps& d) {
  auto reg = [&](const char* op, LbHandler fn) { RegisterOp(service, d, op, fn); };
  reg("CreateTargetGroup", &CreateTargetGroup);
  reg("DescribeTargetGroups", &DescribeTargetGroups);
  reg("ModifyTargetGroup", &ModifyTargetGroup);
  reg("DeleteTargetGroup", &DeleteTargetGroup);
  reg("DescribeTargetGroupAttributes", &DescribeTargetGroupAttributes);
  reg("ModifyTargetGroupAttributes", &ModifyTargetGroupAttributes);
}

}  // namespace kecs::api::elbv2
