#include "state/records/elb.h"

#include <algorithm>

#include <fmt/format.h>

#include "state/records/reader.h"

namespace kecs::state::records {
namespace {

using model::Action;
using model::ActionType;
using model::KeyValues;
using model::Listener;
using model::LoadBalancer;
using model::Rule;
using model::RuleCondition;
using model::Target;
using model::TargetGroup;

Status Unreadable(const char* what, const std::string& id, const std::string& why) {
  return Internal(fmt::format("stored {} {} cannot be read: {}", what, id, why));
}

// Items of a JSON array member (empty when absent); a non-array is a reader failure.
std::vector<Json> Items(Reader& r, const char* key) {
  Json a = r.Raw(key, Json::value_t::array, Json::array());
  return a.is_array() ? std::vector<Json>(a.begin(), a.end()) : std::vector<Json>{};
}

std::vector<std::string> Strings(Reader& r, const char* key) {
  std::vector<std::string> out;
  for (const Json& v : Items(r, key)) {
    if (!v.is_string()) {
      r.Fail(fmt::format("{} holds a non-string", key));
      return {};
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

Json StringsJson(const std::vector<std::string>& v) {
  Json a = Json::array();
  for (const auto& s : v) a.push_back(s);
  return a;
}

KeyValues ReadKeyValues(Reader& r, const char* key) {
  auto kv = KeyValuesFromAws(r.Raw(key, Json::value_t::array, Json::array()));
  if (!kv.ok()) {
    r.Fail(std::string(kv.status().message()));
    return {};
  }
  return std::move(kv).value();
}

std::string PriorityName(int priority) { return fmt::format("{:05d}", priority); }

// The ARN of the target group a forward names, as its id.
void AddForwardIds(const Action& a, std::vector<std::string>& out) {
  auto add = [&out](const std::string& arn) {
    std::string id = model::IdFromArn(arn, "targetgroup");
    if (!id.empty() && std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  };
  if (a.type != ActionType::kForward) return;
  if (!a.target_group_arn.empty()) add(a.target_group_arn);
  for (const auto& w : a.forward) add(w.target_group_arn);
}

}  // namespace

// ---- key/values ----

Json KeyValuesToAws(const KeyValues& kv) {
  Json a = Json::array();
  for (const auto& [k, v] : kv) a.push_back(Json{{"Key", k}, {"Value", v}});
  return a;
}

Result<KeyValues> KeyValuesFromAws(const Json& j) {
  KeyValues out;
  if (j.is_null()) return out;
  if (!j.is_array()) return InvalidArgument("a key/value list is not a list");
  for (const Json& e : j) {
    Reader r(e, "key/value");
    std::string k = r.Str("Key");
    std::string v = r.Str("Value", false);
    if (!r.error().empty()) return InvalidArgument(r.error());
    out.emplace_back(std::move(k), std::move(v));
  }
  return out;
}

// ---- actions and conditions ----

Json ActionToAws(const Action& a) {
  Json j = Json::object();
  j["Type"] = std::string(model::ToString(a.type));
  if (a.order) j["Order"] = *a.order;
  switch (a.type) {
    case ActionType::kForward: {
      if (!a.target_group_arn.empty()) j["TargetGroupArn"] = a.target_group_arn;
      if (a.forward_given || !a.forward.empty()) {
        Json fc = Json::object();
        Json tgs = Json::array();
        for (const auto& w : a.forward) tgs.push_back(Json{{"TargetGroupArn", w.target_group_arn}, {"Weight", w.weight}});
        fc["TargetGroups"] = tgs;
        if (a.stickiness_enabled) {
          Json st{{"Enabled", *a.stickiness_enabled}};
          if (a.stickiness_duration_s) st["DurationSeconds"] = *a.stickiness_duration_s;
          fc["TargetGroupStickinessConfig"] = st;
        }
        j["ForwardConfig"] = fc;
      }
      break;
    }
    case ActionType::kRedirect:
      j["RedirectConfig"] = Json{{"Protocol", a.redirect_protocol}, {"Port", a.redirect_port},
                                 {"Host", a.redirect_host},         {"Path", a.redirect_path},
                                 {"Query", a.redirect_query},       {"StatusCode", a.redirect_status}};
      break;
    case ActionType::kFixedResponse: {
      Json fr{{"StatusCode", a.fixed_status}};
      if (a.fixed_body) fr["MessageBody"] = *a.fixed_body;
      if (a.fixed_content_type) fr["ContentType"] = *a.fixed_content_type;
      j["FixedResponseConfig"] = fr;
      break;
    }
    default:
      break;
  }
  return j;
}

Result<Action> ActionFromAws(const Json& j) {
  Reader r(j, "Action");
  Action a;
  a.type = r.Enum("Type", &model::ParseActionType, ActionType::kForward);
  if (r.Has("Order")) a.order = static_cast<int>(r.Int("Order", 0));
  a.target_group_arn = r.Str("TargetGroupArn", false);
  if (const Json* fc = r.Get("ForwardConfig")) {
    a.forward_given = true;
    Reader f(*fc, "ForwardConfig");
    for (const Json& t : Items(f, "TargetGroups")) {
      Reader tr(t, "ForwardConfig.TargetGroups");
      model::TargetGroupWeight w;
      w.target_group_arn = tr.Str("TargetGroupArn");
      w.weight = static_cast<int>(tr.Int("Weight", 1));
      if (!tr.error().empty()) return InvalidArgument(tr.error());
      a.forward.push_back(std::move(w));
    }
    if (const Json* st = f.Get("TargetGroupStickinessConfig")) {
      Reader sr(*st, "TargetGroupStickinessConfig");
      if (sr.Has("Enabled")) a.stickiness_enabled = sr.Bool("Enabled");
      if (sr.Has("DurationSeconds")) a.stickiness_duration_s = static_cast<int>(sr.Int("DurationSeconds", 0));
      if (!sr.error().empty()) return InvalidArgument(sr.error());
    }
    if (!f.error().empty()) return InvalidArgument(f.error());
  }
  if (const Json* rc = r.Get("RedirectConfig")) {
    Reader rr(*rc, "RedirectConfig");
    if (rr.Has("Protocol")) a.redirect_protocol = rr.Str("Protocol");
    if (rr.Has("Port")) a.redirect_port = rr.Str("Port");
    if (rr.Has("Host")) a.redirect_host = rr.Str("Host");
    if (rr.Has("Path")) a.redirect_path = rr.Str("Path");
    if (rr.Has("Query")) a.redirect_query = rr.Str("Query");
    a.redirect_status = rr.Str("StatusCode", false);
    if (!rr.error().empty()) return InvalidArgument(rr.error());
  }
  if (const Json* fr = r.Get("FixedResponseConfig")) {
    Reader fx(*fr, "FixedResponseConfig");
    a.fixed_status = fx.Str("StatusCode", false);
    a.fixed_body = fx.OptStr("MessageBody");
    a.fixed_content_type = fx.OptStr("ContentType");
    if (!fx.error().empty()) return InvalidArgument(fx.error());
  }
  if (!r.error().empty()) return InvalidArgument(r.error());
  return a;
}

Json ActionsToAws(const std::vector<Action>& actions) {
  Json a = Json::array();
  for (const auto& x : actions) a.push_back(ActionToAws(x));
  return a;
}

Result<std::vector<Action>> ActionsFromAws(const Json& j) {
  std::vector<Action> out;
  if (j.is_null()) return out;
  if (!j.is_array()) return InvalidArgument("Actions is not a list");
  for (const Json& e : j) {
    ASSIGN_OR_RETURN(auto a, ActionFromAws(e));
    out.push_back(std::move(a));
  }
  return out;
}

const char* ConditionConfigMember(const std::string& field) {
  if (field == "host-header") return "HostHeaderConfig";
  if (field == "path-pattern") return "PathPatternConfig";
  if (field == "http-header") return "HttpHeaderConfig";
  if (field == "query-string") return "QueryStringConfig";
  if (field == "http-request-method") return "HttpRequestMethodConfig";
  if (field == "source-ip") return "SourceIpConfig";
  return nullptr;
}

Json ConditionToAws(const RuleCondition& c) {
  Json j{{"Field", c.field}};
  const char* cfg = ConditionConfigMember(c.field);
  if (c.field == "query-string") {
    Json pairs = Json::array();
    for (const auto& [k, v] : c.query) {
      Json p = Json::object();
      if (!k.empty()) p["Key"] = k;
      p["Value"] = v;
      pairs.push_back(p);
    }
    j["QueryStringConfig"] = Json{{"Values", pairs}};
    return j;
  }
  if (c.field == "http-header") {
    j["HttpHeaderConfig"] = Json{{"HttpHeaderName", c.header_name}, {"Values", StringsJson(c.values)}};
    return j;
  }
  if (c.legacy) j["Values"] = StringsJson(c.values);
  if (cfg) j[cfg] = Json{{"Values", StringsJson(c.values)}};
  return j;
}

Result<RuleCondition> ConditionFromAws(const Json& j) {
  Reader r(j, "Condition");
  RuleCondition c;
  c.field = r.Str("Field", false);
  if (r.Has("Values")) {
    c.values = Strings(r, "Values");
    c.legacy = true;
  }
  const char* cfg = ConditionConfigMember(c.field);
  if (cfg) {
    if (const Json* v = r.Get(cfg)) {
      Reader cr(*v, cfg);
      if (c.field == "query-string") {
        for (const Json& p : Items(cr, "Values")) {
          Reader pr(p, "QueryStringConfig.Values");
          std::string k = pr.Str("Key", false);
          std::string val = pr.Str("Value", false);
          if (!pr.error().empty()) return InvalidArgument(pr.error());
          c.query.emplace_back(std::move(k), std::move(val));
        }
      } else {
        if (c.field == "http-header") c.header_name = cr.Str("HttpHeaderName", false);
        if (cr.Has("Values")) c.values = Strings(cr, "Values");
      }
      if (!cr.error().empty()) return InvalidArgument(cr.error());
    }
  }
  if (!r.error().empty()) return InvalidArgument(r.error());
  return c;
}

// ---- load balancers ----

Json LoadBalancerToAws(const LoadBalancer& lb, const std::string& host_address) {
  Json zones = Json::array();
  for (const auto& n : lb.nodes) {
    Json z{{"ZoneName", n.zone}, {"SubnetId", n.subnet_id}};
    Json addrs = Json::array();
    Json addr = Json::object();
    if (!host_address.empty()) addr["IpAddress"] = host_address;
    if (!n.ip.empty()) addr["PrivateIPv4Address"] = n.ip;
    if (!n.ipv6.empty()) addr["IPv6Address"] = n.ipv6;
    if (!addr.empty()) addrs.push_back(addr);
    z["LoadBalancerAddresses"] = addrs;
    zones.push_back(z);
  }
  Json state{{"Code", std::string(model::ToString(lb.state))}};
  if (!lb.state_reason.empty()) state["Reason"] = lb.state_reason;
  Json j{{"LoadBalancerArn", lb.arn},
         {"DNSName", lb.dns_name},
         {"CanonicalHostedZoneId", lb.canonical_hosted_zone_id},
         {"CreatedTime", lb.created_time},
         {"LoadBalancerName", lb.name},
         {"Scheme", std::string(model::ToString(lb.scheme))},
         {"VpcId", lb.vpc_id},
         {"State", state},
         {"Type", std::string(model::ToString(lb.type))},
         {"AvailabilityZones", zones}};
  if (lb.type == model::LbType::kApplication || !lb.security_groups.empty()) {
    j["SecurityGroups"] = StringsJson(lb.security_groups);
  }
  j["IpAddressType"] = lb.ip_address_type;
  return j;
}

namespace {
// The stored node (AWS's AvailabilityZone plus the ENI and zone id).
Json NodeToJson(const model::LbNode& n) {
  Json j{{"ZoneName", n.zone}, {"ZoneId", n.zone_id}, {"SubnetId", n.subnet_id}, {"EniId", n.eni_id}, {"Ip", n.ip}};
  if (!n.ipv6.empty()) j["Ipv6"] = n.ipv6;
  return j;
}
}  // namespace

Object EncodeLoadBalancer(const LoadBalancer& lb) {
  Json doc = LoadBalancerToAws(lb);
  doc.erase("AvailabilityZones");
  Json nodes = Json::array();
  for (const auto& n : lb.nodes) nodes.push_back(NodeToJson(n));
  doc["AvailabilityZones"] = nodes;
  Object o{model::kLoadBalancer, lb.region, lb.id, lb.vpc_id, lb.name, std::string(model::ToString(lb.state)),
           lb.seq, doc};
  o.internal = Json{{"attributes", KeyValuesToAws(lb.attributes)}, {"tags", KeyValuesToAws(lb.tags)}};
  return o;
}

Result<LoadBalancer> DecodeLoadBalancer(const Object& row) {
  LoadBalancer lb;
  lb.region = row.region;
  lb.id = row.id;
  lb.seq = row.seq;
  Reader r(row.doc, "");
  lb.arn = r.Str("LoadBalancerArn");
  lb.dns_name = r.Str("DNSName");
  lb.canonical_hosted_zone_id = r.Str("CanonicalHostedZoneId", false);
  lb.created_time = r.Num("CreatedTime");
  lb.name = r.Str("LoadBalancerName");
  lb.scheme = r.Enum("Scheme", &model::ParseLbScheme, model::LbScheme::kInternetFacing);
  lb.vpc_id = r.Str("VpcId");
  if (const Json* st = r.Get("State")) {
    Reader sr(*st, "State");
    lb.state = sr.Enum("Code", &model::ParseLbState, model::LbState::kProvisioning);
    lb.state_reason = sr.Str("Reason", false);
    if (!sr.error().empty()) r.Fail(sr.error());
  }
  lb.type = r.Enum("Type", &model::ParseLbType, model::LbType::kApplication);
  for (const Json& z : Items(r, "AvailabilityZones")) {
    Reader zr(z, "AvailabilityZones");
    model::LbNode n;
    n.zone = zr.Str("ZoneName");
    n.zone_id = zr.Str("ZoneId", false);
    n.subnet_id = zr.Str("SubnetId");
    n.eni_id = zr.Str("EniId", false);
    n.ip = zr.Str("Ip", false);
    n.ipv6 = zr.Str("Ipv6", false);
    if (!zr.error().empty()) r.Fail(zr.error());
    lb.nodes.push_back(std::move(n));
  }
  lb.security_groups = Strings(r, "SecurityGroups");
  lb.ip_address_type = r.Str("IpAddressType", false);
  if (lb.ip_address_type.empty()) lb.ip_address_type = "ipv4";
  Reader ir(row.internal, "internal");
  lb.attributes = ReadKeyValues(ir, "attributes");
  lb.tags = ReadKeyValues(ir, "tags");
  if (!r.error().empty()) return Unreadable("load balancer", row.id, r.error());
  if (!ir.error().empty()) return Unreadable("load balancer", row.id, ir.error());
  return lb;
}

// ---- listeners ----

Json ListenerToAws(const Listener& l) {
  Json j{{"ListenerArn", l.arn},
         {"LoadBalancerArn", l.load_balancer_arn},
         {"Port", l.port},
         {"Protocol", std::string(model::ToString(l.protocol))}};
  if (!l.certificates.empty()) {
    // DescribeListeners shows the default certificate only (DescribeListenerCertificates
    // shows them all).
    Json certs = Json::array();
    for (const auto& c : l.certificates) {
      if (c.is_default) certs.push_back(Json{{"CertificateArn", c.arn}});
    }
    j["Certificates"] = certs;
  }
  if (!l.ssl_policy.empty()) j["SslPolicy"] = l.ssl_policy;
  j["DefaultActions"] = ActionsToAws(l.default_actions);
  if (!l.alpn_policy.empty()) j["AlpnPolicy"] = StringsJson(l.alpn_policy);
  return j;
}

Object EncodeListener(const Listener& l) {
  Json doc = ListenerToAws(l);
  Json certs = Json::array();
  for (const auto& c : l.certificates) certs.push_back(Json{{"CertificateArn", c.arn}, {"IsDefault", c.is_default}});
  doc["Certificates"] = certs;
  Object o{model::kListener, l.region, l.id, l.load_balancer_id, std::to_string(l.port), "", l.seq, doc};
  o.internal = Json{{"defaultRuleId", l.default_rule_id},
                    {"attributes", KeyValuesToAws(l.attributes)},
                    {"tags", KeyValuesToAws(l.tags)},
                    {"hostPort", l.host_port}};
  return o;
}

Result<Listener> DecodeListener(const Object& row) {
  Listener l;
  l.region = row.region;
  l.id = row.id;
  l.seq = row.seq;
  l.load_balancer_id = row.parent;
  Reader r(row.doc, "");
  l.arn = r.Str("ListenerArn");
  l.load_balancer_arn = r.Str("LoadBalancerArn");
  l.port = static_cast<int>(r.Int("Port", 0));
  l.protocol = r.Enum("Protocol", &model::ParseLbProtocol, model::LbProtocol::kHttp);
  for (const Json& c : Items(r, "Certificates")) {
    Reader cr(c, "Certificates");
    model::ListenerCertificate lc;
    lc.arn = cr.Str("CertificateArn");
    lc.is_default = cr.Bool("IsDefault");
    if (!cr.error().empty()) r.Fail(cr.error());
    l.certificates.push_back(std::move(lc));
  }
  l.ssl_policy = r.Str("SslPolicy", false);
  auto actions = ActionsFromAws(r.Raw("DefaultActions", Json::value_t::array, Json::array()));
  if (!actions.ok()) r.Fail(std::string(actions.status().message()));
  else l.default_actions = std::move(actions).value();
  l.alpn_policy = Strings(r, "AlpnPolicy");
  Reader ir(row.internal, "internal");
  l.default_rule_id = ir.Str("defaultRuleId");
  l.attributes = ReadKeyValues(ir, "attributes");
  l.tags = ReadKeyValues(ir, "tags");
  l.host_port = static_cast<int>(ir.Int("hostPort", 0));
  if (!r.error().empty()) return Unreadable("listener", row.id, r.error());
  if (!ir.error().empty()) return Unreadable("listener", row.id, ir.error());
  return l;
}

// ---- rules ----

Json RuleToAws(const Rule& rule) {
  Json conds = Json::array();
  for (const auto& c : rule.conditions) conds.push_back(ConditionToAws(c));
  return Json{{"RuleArn", rule.arn},
              {"Priority", std::to_string(rule.priority)},
              {"Conditions", conds},
              {"Actions", ActionsToAws(rule.actions)},
              {"IsDefault", false}};
}

Json DefaultRuleToAws(const Listener& l, const std::string& rule_arn) {
  return Json{{"RuleArn", rule_arn},
              {"Priority", "default"},
              {"Conditions", Json::array()},
              {"Actions", ActionsToAws(l.default_actions)},
              {"IsDefault", true}};
}

Object EncodeRule(const Rule& rule) {
  Json doc = RuleToAws(rule);
  doc["ListenerArn"] = rule.listener_arn;
  // The legacy flag is not visible in AWS's shape when Values and the config agree.
  Json legacy = Json::array();
  for (const auto& c : rule.conditions) legacy.push_back(c.legacy);
  Object o{model::kRule, rule.region, rule.id, rule.listener_id, PriorityName(rule.priority), "", rule.seq, doc};
  o.internal = Json{{"tags", KeyValuesToAws(rule.tags)}, {"legacyValues", legacy}};
  return o;
}

Result<Rule> DecodeRule(const Object& row) {
  Rule rule;
  rule.region = row.region;
  rule.id = row.id;
  rule.seq = row.seq;
  rule.listener_id = row.parent;
  Reader r(row.doc, "");
  rule.arn = r.Str("RuleArn");
  rule.listener_arn = r.Str("ListenerArn");
  std::string prio = r.Str("Priority");
  try {
    rule.priority = std::stoi(prio);
  } catch (const std::exception&) {
    r.Fail("Priority is not a number");
  }
  for (const Json& c : Items(r, "Conditions")) {
    auto cond = ConditionFromAws(c);
    if (!cond.ok()) {
      r.Fail(std::string(cond.status().message()));
      break;
    }
    rule.conditions.push_back(std::move(cond).value());
  }
  auto actions = ActionsFromAws(r.Raw("Actions", Json::value_t::array, Json::array()));
  if (!actions.ok()) r.Fail(std::string(actions.status().message()));
  else rule.actions = std::move(actions).value();
  Reader ir(row.internal, "internal");
  rule.tags = ReadKeyValues(ir, "tags");
  Json legacy = ir.Raw("legacyValues", Json::value_t::array, Json::array());
  for (size_t i = 0; i < rule.conditions.size() && i < legacy.size(); ++i) {
    if (legacy[i].is_boolean()) rule.conditions[i].legacy = legacy[i].get<bool>();
  }
  if (!r.error().empty()) return Unreadable("rule", row.id, r.error());
  if (!ir.error().empty()) return Unreadable("rule", row.id, ir.error());
  return rule;
}

// ---- target groups ----

Json TargetGroupToAws(const TargetGroup& tg, const std::vector<std::string>& load_balancer_arns) {
  Json j{{"TargetGroupArn", tg.arn}, {"TargetGroupName", tg.name}};
  if (tg.protocol) j["Protocol"] = std::string(model::ToString(*tg.protocol));
  if (tg.port) j["Port"] = *tg.port;
  if (!tg.vpc_id.empty()) j["VpcId"] = tg.vpc_id;
  const auto& hc = tg.health_check;
  j["HealthCheckProtocol"] = std::string(model::ToString(hc.protocol));
  j["HealthCheckPort"] = hc.port;
  j["HealthCheckEnabled"] = hc.enabled;
  j["HealthCheckIntervalSeconds"] = hc.interval_s;
  j["HealthCheckTimeoutSeconds"] = hc.timeout_s;
  j["HealthyThresholdCount"] = hc.healthy_threshold;
  j["UnhealthyThresholdCount"] = hc.unhealthy_threshold;
  if (!hc.path.empty()) j["HealthCheckPath"] = hc.path;
  if (!hc.matcher_http.empty() || !hc.matcher_grpc.empty()) {
    Json m = Json::object();
    if (!hc.matcher_http.empty()) m["HttpCode"] = hc.matcher_http;
    if (!hc.matcher_grpc.empty()) m["GrpcCode"] = hc.matcher_grpc;
    j["Matcher"] = m;
  }
  j["LoadBalancerArns"] = StringsJson(load_balancer_arns);
  j["TargetType"] = std::string(model::ToString(tg.target_type));
  if (!tg.protocol_version.empty()) j["ProtocolVersion"] = tg.protocol_version;
  j["IpAddressType"] = tg.ip_address_type;
  return j;
}

namespace {
Json TargetToJson(const Target& t) {
  Json j{{"id", t.id},       {"port", t.port},   {"availabilityZone", t.availability_zone},
         {"registeredAt", t.registered_at},     {"state", std::string(model::ToString(t.state))},
         {"reason", t.reason}, {"description", t.description}, {"address", t.address}};
  if (t.drain_until) j["drainUntil"] = *t.drain_until;
  return j;
}
}  // namespace

Object EncodeTargetGroup(const TargetGroup& tg) {
  Json doc = TargetGroupToAws(tg, {});
  doc.erase("LoadBalancerArns");
  Json targets = Json::array();
  for (const auto& t : tg.targets) targets.push_back(TargetToJson(t));
  Object o{model::kTargetGroup, tg.region, tg.id, tg.vpc_id, tg.name, "", tg.seq, doc};
  o.internal = Json{{"attributes", KeyValuesToAws(tg.attributes)},
                    {"tags", KeyValuesToAws(tg.tags)},
                    {"targets", targets}};
  return o;
}

Result<TargetGroup> DecodeTargetGroup(const Object& row) {
  TargetGroup tg;
  tg.region = row.region;
  tg.id = row.id;
  tg.seq = row.seq;
  Reader r(row.doc, "");
  tg.arn = r.Str("TargetGroupArn");
  tg.name = r.Str("TargetGroupName");
  if (r.Has("Protocol")) tg.protocol = r.Enum("Protocol", &model::ParseLbProtocol, model::LbProtocol::kHttp);
  if (r.Has("Port")) tg.port = static_cast<int>(r.Int("Port", 0));
  tg.vpc_id = r.Str("VpcId", false);
  auto& hc = tg.health_check;
  hc.protocol = r.Enum("HealthCheckProtocol", &model::ParseLbProtocol, model::LbProtocol::kHttp, false);
  hc.port = r.Str("HealthCheckPort", false);
  hc.enabled = r.Bool("HealthCheckEnabled", true);
  hc.interval_s = static_cast<int>(r.Int("HealthCheckIntervalSeconds", 30));
  hc.timeout_s = static_cast<int>(r.Int("HealthCheckTimeoutSeconds", 5));
  hc.healthy_threshold = static_cast<int>(r.Int("HealthyThresholdCount", 5));
  hc.unhealthy_threshold = static_cast<int>(r.Int("UnhealthyThresholdCount", 2));
  hc.path = r.Str("HealthCheckPath", false);
  if (const Json* m = r.Get("Matcher")) {
    Reader mr(*m, "Matcher");
    hc.matcher_http = mr.Str("HttpCode", false);
    hc.matcher_grpc = mr.Str("GrpcCode", false);
    if (!mr.error().empty()) r.Fail(mr.error());
  }
  tg.target_type = r.Enum("TargetType", &model::ParseTargetType, model::TargetType::kInstance);
  tg.protocol_version = r.Str("ProtocolVersion", false);
  tg.ip_address_type = r.Str("IpAddressType", false);
  if (tg.ip_address_type.empty()) tg.ip_address_type = "ipv4";
  Reader ir(row.internal, "internal");
  tg.attributes = ReadKeyValues(ir, "attributes");
  tg.tags = ReadKeyValues(ir, "tags");
  for (const Json& t : Items(ir, "targets")) {
    Reader tr(t, "targets");
    Target x;
    x.id = tr.Str("id");
    x.port = static_cast<int>(tr.Int("port", 0));
    x.availability_zone = tr.Str("availabilityZone", false);
    x.registered_at = tr.Num("registeredAt");
    x.state = tr.Enum("state", &model::ParseTargetHealthState, model::TargetHealthState::kInitial);
    x.reason = tr.Str("reason", false);
    x.description = tr.Str("description", false);
    x.address = tr.Str("address", false);
    if (tr.Has("drainUntil")) x.drain_until = tr.Num("drainUntil");
    if (!tr.error().empty()) ir.Fail(tr.error());
    tg.targets.push_back(std::move(x));
  }
  if (!r.error().empty()) return Unreadable("target group", row.id, r.error());
  if (!ir.error().empty()) return Unreadable("target group", row.id, ir.error());
  return tg;
}

// ---- lookups ----

namespace {
template <typename T>
Result<std::optional<T>> GetAs(Tx& tx, const char* kind, const std::string& region, const std::string& id,
                               Result<T> (*decode)(const Object&)) {
  ASSIGN_OR_RETURN(auto row, tx.Get(kind, region, id));
  if (!row) return std::optional<T>();
  ASSIGN_OR_RETURN(auto v, decode(*row));
  return std::optional<T>(std::move(v));
}

template <typename T>
Result<std::vector<T>> ListAs(Tx& tx, Query q, Result<T> (*decode)(const Object&)) {
  ASSIGN_OR_RETURN(auto rows, tx.List(q));
  std::vector<T> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    ASSIGN_OR_RETURN(auto v, decode(row));
    out.push_back(std::move(v));
  }
  return out;
}
}  // namespace

Result<std::optional<LoadBalancer>> GetLoadBalancer(Tx& tx, const std::string& region, const std::string& id) {
  return GetAs<LoadBalancer>(tx, model::kLoadBalancer, region, id, &DecodeLoadBalancer);
}
Result<std::optional<Listener>> GetListener(Tx& tx, const std::string& region, const std::string& id) {
  return GetAs<Listener>(tx, model::kListener, region, id, &DecodeListener);
}
Result<std::optional<Rule>> GetRule(Tx& tx, const std::string& region, const std::string& id) {
  return GetAs<Rule>(tx, model::kRule, region, id, &DecodeRule);
}
Result<std::optional<TargetGroup>> GetTargetGroup(Tx& tx, const std::string& region, const std::string& id) {
  return GetAs<TargetGroup>(tx, model::kTargetGroup, region, id, &DecodeTargetGroup);
}

Status PutLoadBalancer(Tx& tx, const LoadBalancer& lb) { return tx.Put(EncodeLoadBalancer(lb)); }
Status PutListener(Tx& tx, const Listener& l) { return tx.Put(EncodeListener(l)); }
Status PutRule(Tx& tx, const Rule& r) { return tx.Put(EncodeRule(r)); }
Status PutTargetGroup(Tx& tx, const TargetGroup& tg) { return tx.Put(EncodeTargetGroup(tg)); }

Result<std::vector<LoadBalancer>> ListLoadBalancers(Tx& tx, const std::string& region, bool any_region) {
  Query q{model::kLoadBalancer, region};
  q.any_region = any_region;
  return ListAs<LoadBalancer>(tx, q, &DecodeLoadBalancer);
}

Result<std::vector<Listener>> ListListeners(Tx& tx, const std::string& region, const std::string& lb_id) {
  Query q{model::kListener, region};
  q.parent = lb_id;
  return ListAs<Listener>(tx, q, &DecodeListener);
}

Result<std::vector<Rule>> ListRules(Tx& tx, const std::string& region, const std::string& listener_id) {
  Query q{model::kRule, region};
  q.parent = listener_id;
  ASSIGN_OR_RETURN(auto rules, ListAs<Rule>(tx, q, &DecodeRule));
  std::stable_sort(rules.begin(), rules.end(), [](const Rule& a, const Rule& b) { return a.priority < b.priority; });
  return rules;
}

Result<std::vector<TargetGroup>> ListTargetGroups(Tx& tx, const std::string& region, bool any_region) {
  Query q{model::kTargetGroup, region};
  q.any_region = any_region;
  return ListAs<TargetGroup>(tx, q, &DecodeTargetGroup);
}

std::vector<std::string> ForwardedTargetGroupIds(const std::vector<Action>& actions) {
  std::vector<std::string> out;
  for (const auto& a : actions) AddForwardIds(a, out);
  return out;
}

Result<std::vector<std::string>> LoadBalancersOfTargetGroup(Tx& tx, const std::string& region,
                                                            const std::string& tg_id) {
  std::vector<std::string> out;
  ASSIGN_OR_RETURN(auto lbs, ListLoadBalancers(tx, region));
  for (const auto& lb : lbs) {
    ASSIGN_OR_RETURN(auto listeners, ListListeners(tx, region, lb.id));
    bool uses = false;
    for (const auto& l : listeners) {
      std::vector<std::string> ids = ForwardedTargetGroupIds(l.default_actions);
      ASSIGN_OR_RETURN(auto rules, ListRules(tx, region, l.id));
      for (const auto& r : rules) {
        for (auto& id : ForwardedTargetGroupIds(r.actions)) ids.push_back(std::move(id));
      }
      if (std::find(ids.begin(), ids.end(), tg_id) != ids.end()) {
        uses = true;
        break;
      }
    }
    if (uses) out.push_back(lb.id);
  }
  return out;
}

Result<std::set<std::string>> TargetGroupsInUse(Tx& tx, const std::string& region) {
  std::set<std::string> out;
  ASSIGN_OR_RETURN(auto lbs, ListLoadBalancers(tx, region));
  for (const auto& lb : lbs) {
    ASSIGN_OR_RETURN(auto listeners, ListListeners(tx, lb.region, lb.id));
    for (const auto& l : listeners) {
      for (auto& id : ForwardedTargetGroupIds(l.default_actions)) out.insert(std::move(id));
      ASSIGN_OR_RETURN(auto rules, ListRules(tx, lb.region, l.id));
      for (const auto& r : rules) {
        for (auto& id : ForwardedTargetGroupIds(r.actions)) out.insert(std::move(id));
      }
    }
  }
  return out;
}

Result<std::optional<LbDnsAnswer>> LookupLoadBalancerDns(Tx& tx, const std::string& region,
                                                        const std::string& vpc_id, const std::string& name) {
  std::string want = name;
  if (!want.empty() && want.back() == '.') want.pop_back();
  std::transform(want.begin(), want.end(), want.begin(), [](unsigned char c) { return std::tolower(c); });
  // Only names under AWS's ELB suffixes can be load balancers; anything else skips the scan.
  if (want.find(".elb.") == std::string::npos) return std::optional<LbDnsAnswer>();
  ASSIGN_OR_RETURN(auto lbs, ListLoadBalancers(tx, region));
  for (const auto& lb : lbs) {
    std::string dns = lb.dns_name;
    std::transform(dns.begin(), dns.end(), dns.begin(), [](unsigned char c) { return std::tolower(c); });
    if (dns != want) continue;
    if (lb.scheme == model::LbScheme::kInternal && lb.vpc_id != vpc_id) return std::optional<LbDnsAnswer>();
    LbDnsAnswer a;
    for (const auto& n : lb.nodes) {
      if (!n.ip.empty()) a.ipv4.push_back(n.ip);
      if (!n.ipv6.empty()) a.ipv6.push_back(n.ipv6);
    }
    return std::optional<LbDnsAnswer>(std::move(a));
  }
  return std::optional<LbDnsAnswer>();
}

}  // namespace kecs::state::records
