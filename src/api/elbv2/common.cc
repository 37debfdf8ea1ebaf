#include "api/elbv2/common.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "api/pagination.h"
#include "state/records/elb.h"

namespace kecs::api::elbv2 {

AwsError ElbError(std::string code, std::string message, int http_status) {
  return AwsError(std::move(code), std::move(message), http_status);
}

AwsError ValidationError(std::string message) { return ElbError("ValidationError", std::move(message)); }

void Check(const Status& st) { ThrowIfError(st); }

namespace {
template <typename T, typename Get>
T RequireArn(state::Tx& tx, const std::string& region, const std::string& arn, const char* resource,
             const char* kind_words, const char* not_found_code, const char* not_found_words, Get get) {
  std::string id = model::IdFromArn(arn, resource);
  if (id.empty()) throw ValidationError("'" + arn + "' is not a valid " + kind_words + " ARN");
  auto found = Check(get(tx, region, id));
  // The id alone is not enough: the ARN's other parts (name, type, account) must match.
  if (!found || found->arn != arn) {
    throw ElbError(not_found_code, std::string("One or more ") + not_found_words + " not found");
  }
  return std::move(*found);
}
}  // namespace

model::LoadBalancer RequireLoadBalancer(state::Tx& tx, const std::string& region, const std::string& arn) {
  return RequireArn<model::LoadBalancer>(tx, region, arn, "loadbalancer", "load balancer", "LoadBalancerNotFound",
                                         "load balancers", &state::records::GetLoadBalancer);
}
model::Listener RequireListener(state::Tx& tx, const std::string& region, const std::string& arn) {
  return RequireArn<model::Listener>(tx, region, arn, "listener", "listener", "ListenerNotFound", "listeners",
                                     &state::records::GetListener);
}
model::Rule RequireRule(state::Tx& tx, const std::string& region, const std::string& arn) {
  return RequireArn<model::Rule>(tx, region, arn, "listener-rule", "listener rule", "RuleNotFound", "rules",
                                 &state::records::GetRule);
}
model::TargetGroup RequireTargetGroup(state::Tx& tx, const std::string& region, const std::string& arn) {
  return RequireArn<model::TargetGroup>(tx, region, arn, "targetgroup", "target group", "TargetGroupNotFound",
                                        "target groups", &state::records::GetTargetGroup);
}

std::pair<size_t, size_t> PageByMarker(const std::vector<std::string>& keys, const Json& in, Json& out) {
  std::optional<std::string> marker;
  if (in.contains("Marker") && in["Marker"].is_string()) marker = in["Marker"].get<std::string>();
  size_t size = 400;
  if (in.contains("PageSize") && in["PageSize"].is_number_integer()) size = in["PageSize"].get<size_t>();
  auto page = Paginate(keys, marker, size);
  if (!page) throw ValidationError("Invalid Marker");
  if (page->next_token) out["NextMarker"] = *page->next_token;
  return {page->begin, page->end};
}

// ---- Shared by the load balancer, target group, target and tag handlers ----

void RegisterOp(Service& service, const LbDeps& deps, const char* op, LbHandler fn) {
  service.Register(op, [deps, fn](RequestContext& ctx, const Json& in) { return fn(deps, ctx, in); });
}

std::vector<std::string> StringList(const Json& in, const char* key) {
  std::vector<std::string> out;
  if (const Json* a = JGet(in, key); a && a->is_array()) {
    for (const Json& v : *a) out.push_back(v.get<std::string>());
  }
  return out;
}

namespace {
// TooManyTags and DuplicateTagKeys: the wording of moto's elbv2 exceptions (AWS's
// documentation gives the codes, not the text).
AwsError TooManyTags(const char* kind_words) {
  return ElbError("TooManyTags",
                  fmt::format("The quota for the number of tags that can be assigned to a {} has been reached",
                              kind_words));
}
}  // namespace

model::KeyValues RequestTags(const Json& in, const char* kind_words) {
  model::KeyValues tags = Check(state::records::KeyValuesFromAws(in.value("Tags", Json::array())));
  std::set<std::string> seen;
  for (const auto& [k, v] : tags) {
    if (!seen.insert(k).second) throw ElbError("DuplicateTagKeys", "Tag key was specified more than once: " + k);
  }
  if (tags.size() > kMaxTags) throw TooManyTags(kind_words);
  return tags;
}

void MergeTags(model::KeyValues& tags, const model::KeyValues& add, const char* kind_words) {
  for (const auto& [k, v] : add) model::SetValue(tags, k, v);
  if (tags.size() > kMaxTags) throw TooManyTags(kind_words);
}

Json TargetGroupView(state::Tx& tx, const model::TargetGroup& tg) {
  std::vector<std::string> arns;
  for (const auto& id : Check(state::records::LoadBalancersOfTargetGroup(tx, tg.region, tg.id))) {
    if (auto lb = Check(state::records::GetLoadBalancer(tx, tg.region, id))) arns.push_back(lb->arn);
  }
  return state::records::TargetGroupToAws(tg, arns);
}

// ---- Attribute values ----

namespace {

struct AttributeRule {
  enum Kind { kBool, kRange, kEnum, kText, kPercent } kind;
  long long lo = 0, hi = 0;           // kRange (kPercent: 1-100 or "off")
  std::vector<std::string> values;    // kEnum
};

// The values each attribute takes, from the ELBv2 API reference (LoadBalancerAttribute,
// TargetGroupAttribute). Keys not listed take any text.
const AttributeRule* RuleFor(const std::string& key) {
  using R = AttributeRule;
  static const std::vector<std::pair<std::string, AttributeRule>> kRules = {
      {"access_logs.s3.enabled", {R::kBool}},
      {"connection_logs.s3.enabled", {R::kBool}},
      {"deletion_protection.enabled", {R::kBool}},
      {"idle_timeout.timeout_seconds", {R::kRange, 1, 4000}},
      {"client_keep_alive.seconds", {R::kRange, 60, 604800}},
      {"routing.http2.enabled", {R::kBool}},
      {"routing.http.drop_invalid_header_fields.enabled", {R::kBool}},
      {"routing.http.xff_client_port.enabled", {R::kBool}},
      {"routing.http.preserve_host_header.enabled", {R::kBool}},
      {"routing.http.x_amzn_tls_version_and_cipher_suite.enabled", {R::kBool}},
      {"routing.http.xff_header_processing.mode", {R::kEnum, 0, 0, {"append", "preserve", "remove"}}},
      {"routing.http.desync_mitigation_mode", {R::kEnum, 0, 0, {"monitor", "defensive", "strictest"}}},
      {"waf.fail_open.enabled", {R::kBool}},
      {"zonal_shift.config.enabled", {R::kBool}},
      {"dns_record.client_routing_policy",
       {R::kEnum, 0, 0, {"availability_zone_affinity", "partial_availability_zone_affinity", "any_availability_zone"}}},
      {"deregistration_delay.timeout_seconds", {R::kRange, 0, 3600}},
      {"deregistration_delay.connection_termination.enabled", {R::kBool}},
      {"stickiness.enabled", {R::kBool}},
      {"stickiness.lb_cookie.duration_seconds", {R::kRange, 1, 604800}},
      {"stickiness.app_cookie.duration_seconds", {R::kRange, 1, 604800}},
      {"load_balancing.algorithm.type",
       {R::kEnum, 0, 0, {"round_robin", "least_outstanding_requests", "weighted_random"}}},
      {"load_balancing.algorithm.anomaly_mitigation", {R::kEnum, 0, 0, {"on", "off"}}},
      {"slow_start.duration_seconds", {R::kRange, 0, 900}},
      {"proxy_protocol_v2.enabled", {R::kBool}},
      {"preserve_client_ip.enabled", {R::kBool}},
      {"target_health_state.unhealthy.connection_termination.enabled", {R::kBool}},
      {"target_health_state.unhealthy.draining_interval_seconds", {R::kRange, 0, 360000}},
      {"target_group_health.dns_failover.minimum_healthy_targets.count", {R::kRange, 1, 1000000}},
      {"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count", {R::kRange, 1, 1000000}},
      {"target_group_health.dns_failover.minimum_healthy_targets.percentage", {R::kPercent}},
      {"target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage", {R::kPercent}},
      {"lambda.multi_value_headers.enabled", {R::kBool}},
  };
  for (const auto& [k, r] : kRules) {
    if (k == key) return &r;
  }
  return nullptr;
}

std::optional<long long> WholeNumber(const std::string& v) {
  if (v.empty() || v.size() > 12 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::stoll(v);
}

// Why `value` does not fit `key`, or "" when it does. The wording is kecs's: no source
// gives AWS's text for a bad attribute value.
std::string ValueProblem(const std::string& key, const std::string& value, const model::KeyValues& known) {
  if (key == "load_balancing.cross_zone.enabled") {
    const std::string* def = model::FindValue(known, key);
    bool tg = def && *def == "use_load_balancer_configuration";
    if (value == "true" || value == "false" || (tg && value == "use_load_balancer_configuration")) return "";
    return tg ? "must be true, false or use_load_balancer_configuration" : "must be true or false";
  }
  if (key == "stickiness.type") {
    const std::string* def = model::FindValue(known, key);
    bool l4 = def && *def == "source_ip";
    if (l4 ? value == "source_ip" : (value == "lb_cookie" || value == "app_cookie")) return "";
    return l4 ? "must be source_ip" : "must be lb_cookie or app_cookie";
  }
  const AttributeRule* r = RuleFor(key);
  if (!r) return "";
  switch (r->kind) {
    case AttributeRule::kBool:
      return value == "true" || value == "false" ? "" : "must be true or false";
    case AttributeRule::kRange: {
      auto n = WholeNumber(value);
      if (n && *n >= r->lo && *n <= r->hi) {
        if (key == "slow_start.duration_seconds" && *n != 0 && *n < 30) return "must be 0 or between 30 and 900";
        return "";
      }
      return fmt::format("must be an integer between {} and {}", r->lo, r->hi);
    }
    case AttributeRule::kPercent: {
      auto n = WholeNumber(value);
      return value == "off" || (n && *n >= 1 && *n <= 100) ? "" : "must be off or an integer between 1 and 100";
    }
    case AttributeRule::kEnum:
      if (std::find(r->values.begin(), r->values.end(), value) != r->values.end()) return "";
      return "must be one of: " + fmt::format("{}", fmt::join(r->values, ", "));
    case AttributeRule::kText:
      return "";
  }
  return "";
}

}  // namespace

model::KeyValues ApplyAttributes(const model::KeyValues& defaults, const model::KeyValues& current, const Json& in,
                                 const char* kind_words) {
  const model::KeyValues& known = defaults;
  model::KeyValues out = defaults;
  for (const auto& [k, v] : current) {
    if (model::FindValue(known, k)) model::SetValue(out, k, v);
  }
  auto given = Check(state::records::KeyValuesFromAws(in.value("Attributes", Json::array())));
  for (const auto& [k, v] : given) {
    if (!model::FindValue(known, k)) {
      // No source gives AWS's text for an unknown key; kecs's wording.
      throw ValidationError(fmt::format("{} attribute key '{}' is not recognized", kind_words, k));
    }
    if (std::string why = ValueProblem(k, v, known); !why.empty()) {
      throw ValidationError(fmt::format("{} attribute '{}' value '{}' is not valid: {}", kind_words, k, v, why));
    }
    model::SetValue(out, k, v);
  }
  return out;
}

}  // namespace kecs::api::elbv2
