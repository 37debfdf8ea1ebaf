#include "net/domain/discovery.h"

#include <algorithm>
#include <charconv>
#include <set>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/ids.h"
#include "base/strings.h"
#include "net/domain/ip.h"

namespace kecs::net::discovery {
namespace {

std::string RandomChars(size_t n, std::string_view alphabet) {
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    uint64_t r = RandomU64();
    // 64 bits give 10 characters of a 36-letter alphabet with negligible bias.
    for (int i = 0; i < 10 && out.size() < n; ++i) {
      out.push_back(alphabet[r % alphabet.size()]);
      r /= alphabet.size();
    }
  }
  return out;
}

constexpr std::string_view kLowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::string_view kUpperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

std::string Attr(const Json& attributes, const char* key) { return JStr(attributes, key); }

// The record types of a service's DnsConfig, with their TTLs.
struct Records {
  bool a = false, aaaa = false, srv = false, cname = false;
  int64_t ttl_a = 60, ttl_aaaa = 60, ttl_srv = 60;
};

Records RecordsOf(const Json& service_doc) {
  Records r;
  const Json* dns = JGet(service_doc, "DnsConfig");
  if (!dns) return r;
  for (const auto& rec : dns->value("DnsRecords", Json::array())) {
    std::string type = JStr(rec, "Type");
    int64_t ttl = JInt(rec, "TTL", 60);
    if (type == "A") {
      r.a = true;
      r.ttl_a = ttl;
    } else if (type == "AAAA") {
      r.aaaa = true;
      r.ttl_aaaa = ttl;
    } else if (type == "SRV") {
      r.srv = true;
      r.ttl_srv = ttl;
    } else if (type == "CNAME") {
      r.cname = true;
    }
  }
  return r;
}

int ClampTtl(int64_t ttl) {
  return static_cast<int>(std::clamp<int64_t>(ttl, 0, 2147483647));
}

bool ParsePort(const std::string& s, int* port) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 1 || v > 65535) return false;
  *port = v;
  return true;
}

Endpoint EndpointOf(const state::Object& inst) {
  Endpoint e;
  e.instance_id = JStr(inst.doc, "Id", inst.name);
  e.attributes = inst.doc.value("Attributes", Json::object());
  e.ipv4 = Attr(e.attributes, "AWS_INSTANCE_IPV4");
  e.ipv6 = Attr(e.attributes, "AWS_INSTANCE_IPV6");
  int port = 0;
  if (ParsePort(Attr(e.attributes, "AWS_INSTANCE_PORT"), &port)) e.port = port;
  e.healthy = JStr(inst.doc, "kecs:health", "HEALTHY") != "UNHEALTHY";
  return e;
}

// Keeps the service's InstanceCount and revision current after an instance changed.
Status Touch(state::Tx& tx, state::Object& service) {
  ASSIGN_OR_RETURN(int64_t n, tx.Count({kInstance, service.region, service.id}));
  ASSIGN_OR_RETURN(int64_t rev, tx.NextSequence("sd:revision"));
  service.doc["InstanceCount"] = n;
  service.doc["kecs:revision"] = rev;
  return tx.Put(service);
}

bool EndsWithLabel(const std::string& fqdn, const std::string& suffix) {
  if (fqdn == suffix) return true;
  return fqdn.size() > suffix.size() + 1 && fqdn.ends_with(suffix) &&
         fqdn[fqdn.size() - suffix.size() - 1] == '.';
}

}  // namespace

// fmt, not `"ns-" + RandomChars(...)`: a literal plus a temporary string trips GCC 12's
// -Wrestrict false positive (GCC bug 105329) in optimised builds.
std::string NewNamespaceId() { return fmt::format("ns-{}", RandomChars(16, kLowerAlnum)); }
std::string NewServiceId() { return fmt::format("srv-{}", RandomChars(16, kLowerAlnum)); }
std::string NewOperationId() {
  return fmt::format("{}-{}", RandomChars(32, kLowerAlnum), RandomChars(8, kLowerAlnum));
}
std::string NewHostedZoneId() { return fmt::format("Z{}", RandomChars(20, kUpperAlnum)); }

std::string NamespaceArn(const std::string& region, const std::string& account, const std::string& id) {
  return fmt::format("arn:aws:servicediscovery:{}:{}:namespace/{}", region, account, id);
}

std::string ServiceArn(const std::string& region, const std::string& account, const std::string& id) {
  return fmt::format("arn:aws:servicediscovery:{}:{}:service/{}", region, account, id);
}

std::string InstanceKey(const std::string& service_id, const std::string& instance_id) {
  return service_id + "/" + instance_id;
}

std::string IdFromArnOrId(const std::string& id_or_arn) {
  if (!id_or_arn.starts_with("arn:")) return id_or_arn;
  size_t slash = id_or_arn.rfind('/');
  return slash == std::string::npos ? id_or_arn : id_or_arn.substr(slash + 1);
}

Result<std::string> RecordOperation(state::Tx& tx, const std::string& region, const std::string& account,
                                    double now, const std::string& type, const Json& targets,
                                    const std::string& status, const std::string& error_code,
                                    const std::string& error_message) {
  std::string id = NewOperationId();
  double ts = EpochMillis(now);
  Json doc = {{"Id", id}, {"OwnerAccount", account}, {"Type", type}, {"Status", status}};
  if (!error_message.empty()) doc["ErrorMessage"] = error_message;
  if (!error_code.empty()) doc["ErrorCode"] = error_code;
  doc["CreateDate"] = ts;
  doc["UpdateDate"] = ts;
  doc["Targets"] = targets;
  std::string parent = JStr(targets, "NAMESPACE");
  if (parent.empty()) parent = JStr(targets, "SERVICE");
  RETURN_IF_ERROR(tx.Insert({kOperation, region, id, parent, type, status, 0, doc}));
  return id;
}

Result<state::Object> CreateNamespace(state::Tx& tx, const std::string& region, const std::string& account,
                                      double now, const NamespaceSpec& spec) {
  ASSIGN_OR_RETURN(auto all, tx.List({kNamespace, region}));
  std::string lower = ToLower(spec.name);
  bool name_reused = false;
  for (const auto& ns : all) {
    std::string type = JStr(ns.doc, "Type");
    std::string http_name = JStr(ns.doc.value("Properties", Json::object()).value("HttpProperties", Json::object()),
                                 "HttpName");
    bool same_name = ToLower(ns.name) == lower;
    bool conflict = false;
    if (spec.type == "HTTP") {
      conflict = http_name == spec.name || (type == "HTTP" && ns.name == spec.name);
    } else if (spec.type == "DNS_PRIVATE") {
      conflict = same_name && type == "DNS_PRIVATE" && JStr(ns.doc, "kecs:vpc") == spec.vpc_id;
    } else {
      conflict = same_name && type == "DNS_PUBLIC";
    }
    if (conflict) return AlreadyExists(ns.id);
    name_reused = name_reused || http_name == spec.name;
  }

  std::string id = NewNamespaceId();
  Json props = Json::object();
  std::string http_name = spec.name;
  if (spec.type == "HTTP") {
    props["DnsProperties"] = {{"SOA", Json::object()}};
  } else {
    if (name_reused) http_name = spec.name + "-" + RandomChars(8, kLowerAlnum);
    props["DnsProperties"] = {{"HostedZoneId", NewHostedZoneId()}, {"SOA", {{"TTL", spec.soa_ttl}}}};
  }
  props["HttpProperties"] = {{"HttpName", http_name}};
  Json doc = {{"Id", id},
              {"Arn", NamespaceArn(region, account, id)},
              {"ResourceOwner", account},
              {"Name", spec.name},
              {"Type", spec.type}};
  if (!spec.description.empty()) doc["Description"] = spec.description;
  doc["Properties"] = props;
  doc["CreateDate"] = EpochMillis(now);
  if (!spec.creator_request_id.empty()) doc["CreatorRequestId"] = spec.creator_request_id;
  if (spec.type == "DNS_PRIVATE") doc["kecs:vpc"] = spec.vpc_id;
  doc["kecs:tags"] = spec.tags.is_array() ? spec.tags : Json::array();
  ASSIGN_OR_RETURN(std::string op, RecordOperation(tx, region, account, now, "CREATE_NAMESPACE",
                                                   {{"NAMESPACE", id}}));
  doc["kecs:create_operation"] = op;
  state::Object o{kNamespace, region, id, "", spec.name, "ACTIVE", 0, doc};
  RETURN_IF_ERROR(tx.Insert(o));
  return o;
}

Result<std::optional<state::Object>> FindService(state::Tx& tx, const std::string& region,
                                                 const std::string& id_or_arn) {
  ASSIGN_OR_RETURN(auto o, tx.Get(kService, region, IdFromArnOrId(id_or_arn)));
  if (o && o->status != "ACTIVE") o.reset();
  return o;
}

Status ValidateInstanceAttributes(const Json& service_doc, const Json& attributes) {
  if (!attributes.is_object()) return InvalidArgument("Attributes must be a map of strings.");
  Records r = RecordsOf(service_doc);
  std::string ipv4 = Attr(attributes, "AWS_INSTANCE_IPV4");
  std::string ipv6 = Attr(attributes, "AWS_INSTANCE_IPV6");
  std::string port = Attr(attributes, "AWS_INSTANCE_PORT");
  std::string cname = Attr(attributes, "AWS_INSTANCE_CNAME");
  std::string alias = Attr(attributes, "AWS_ALIAS_DNS_NAME");
  bool has_health_check = JHas(service_doc, "HealthCheckConfig");

  if (JHas(attributes, "AWS_INSTANCE_IPV4") && !ParseIpv4(ipv4)) {
    return InvalidArgument(fmt::format("AWS_INSTANCE_IPV4 value {} is not a valid IPv4 address.", ipv4));
  }
  if (JHas(attributes, "AWS_INSTANCE_IPV6") && !ParseIpv6(ipv6)) {
    return InvalidArgument(fmt::format("AWS_INSTANCE_IPV6 value {} is not a valid IPv6 address.", ipv6));
  }
  int p = 0;
  if (JHas(attributes, "AWS_INSTANCE_PORT") && !ParsePort(port, &p)) {
    return InvalidArgument(fmt::format(
        "AWS_INSTANCE_PORT value {} is not a valid port: it must be an integer between 1 and 65535.", port));
  }
  if (JHas(attributes, "AWS_INIT_HEALTH_STATUS")) {
    std::string h = Attr(attributes, "AWS_INIT_HEALTH_STATUS");
    if (h != "HEALTHY" && h != "UNHEALTHY") {
      return InvalidArgument(fmt::format(
          "AWS_INIT_HEALTH_STATUS value {} is not valid: it must be HEALTHY or UNHEALTHY.", h));
    }
  }
  if (!alias.empty()) {
    if (!ipv4.empty() || !ipv6.empty() || !port.empty() || !cname.empty()) {
      return InvalidArgument(
          "When you specify AWS_ALIAS_DNS_NAME, you can't specify AWS_INSTANCE_IPV4, "
          "AWS_INSTANCE_IPV6, AWS_INSTANCE_PORT or AWS_INSTANCE_CNAME.");
    }
  } else {
    if (r.a && ipv4.empty()) {
      return InvalidArgument(
          "AWS_INSTANCE_IPV4 is required because the service has an A record in its DnsConfig.");
    }
    if (r.aaaa && ipv6.empty()) {
      return InvalidArgument(
          "AWS_INSTANCE_IPV6 is required because the service has an AAAA record in its DnsConfig.");
    }
    if (r.srv && port.empty()) {
      return InvalidArgument(
          "AWS_INSTANCE_PORT is required because the service has an SRV record in its DnsConfig.");
    }
    if (r.srv && ipv4.empty() && ipv6.empty()) {
      return InvalidArgument(
          "AWS_INSTANCE_IPV4, AWS_INSTANCE_IPV6 or both are required because the service has an "
          "SRV record in its DnsConfig.");
    }
    if (r.cname && cname.empty()) {
      return InvalidArgument(
          "AWS_INSTANCE_CNAME is required because the service has a CNAME record in its DnsConfig.");
    }
    if (has_health_check && port.empty()) {
      return InvalidArgument(
          "AWS_INSTANCE_PORT is required because the service has a HealthCheckConfig.");
    }
  }
  // Cloud Map's limits: 30 custom attributes, 5,000 characters of keys and values in all.
  size_t custom = 0, total = 0;
  for (auto it = attributes.begin(); it != attributes.end(); ++it) {
    if (!it.value().is_string()) return InvalidArgument("Attribute values must be strings.");
    total += it.key().size() + it.value().get_ref<const std::string&>().size();
    if (!it.key().starts_with("AWS_")) ++custom;
  }
  if (custom > 30) {
    return InvalidArgument("You can specify up to 30 custom attributes for an instance.");
  }
  if (total > 5000) {
    return InvalidArgument(
        "The total size of all attributes (keys and values) must not exceed 5,000 characters.");
  }
  return Status::Ok();
}

Result<std::string> RegisterInstance(state::Tx& tx, const std::string& region, const std::string& account,
                                     double now, const std::string& service_id, const std::string& instance_id,
                                     const Json& attributes, const std::string& creator_request_id) {
  ASSIGN_OR_RETURN(auto service, FindService(tx, region, service_id));
  if (!service) return NotFound(fmt::format("no Cloud Map service {}", service_id));
  RETURN_IF_ERROR(ValidateInstanceAttributes(service->doc, attributes));
  std::string health = "HEALTHY";
  if (JHas(service->doc, "HealthCheckCustomConfig")) {
    health = JStr(attributes, "AWS_INIT_HEALTH_STATUS", "HEALTHY");
  }
  Json doc = {{"Id", instance_id}, {"Attributes", attributes}};
  if (!creator_request_id.empty()) doc["CreatorRequestId"] = creator_request_id;
  doc["kecs:health"] = health;
  RETURN_IF_ERROR(tx.Put({kInstance, region, InstanceKey(service->id, instance_id), service->id,
                          instance_id, "", 0, doc}));
  RETURN_IF_ERROR(Touch(tx, *service));
  return RecordOperation(tx, region, account, now, "REGISTER_INSTANCE",
                         {{"INSTANCE", instance_id}, {"SERVICE", service->id}});
}

Result<std::string> RegisterEcsTaskInstance(state::Tx& tx, const std::string& account, double now,
                                            const std::string& service_id_or_arn, const EcsTaskInstance& task) {
  ASSIGN_OR_RETURN(auto service, FindService(tx, task.region, service_id_or_arn));
  if (!service) return NotFound(fmt::format("no Cloud Map service {}", service_id_or_arn));
  Json attrs = {{"AVAILABILITY_ZONE", task.availability_zone},
                {"REGION", task.region},
                {"ECS_CLUSTER_NAME", task.cluster_name},
                {"ECS_SERVICE_NAME", task.service_name},
                {"ECS_TASK_DEFINITION_FAMILY", task.task_definition_family},
                {"AWS_INSTANCE_IPV4", task.ipv4}};
  if (task.ipv6) attrs["AWS_INSTANCE_IPV6"] = *task.ipv6;
  if (task.port) attrs["AWS_INSTANCE_PORT"] = std::to_string(*task.port);
  // "If the task set is associated with a service discovery registry, the tasks in this
  // task set will have the ECS_TASK_SET_EXTERNAL_ID Cloud Map attribute set to the
  // provided value." (CreateTaskSetRequest.externalId)
  if (!task.task_set_external_id.empty()) attrs["ECS_TASK_SET_EXTERNAL_ID"] = task.task_set_external_id;
  if (JHas(service->doc, "HealthCheckCustomConfig")) attrs["AWS_INIT_HEALTH_STATUS"] = "HEALTHY";
  return RegisterInstance(tx, task.region, account, now, service->id, task.task_id, attrs, "");
}

Result<std::string> DeregisterInstance(state::Tx& tx, const std::string& region, const std::string& account,
                                       double now, const std::string& service_id, const std::string& instance_id) {
  ASSIGN_OR_RETURN(auto service, FindService(tx, region, service_id));
  if (!service) return NotFound(fmt::format("no Cloud Map service {}", service_id));
  ASSIGN_OR_RETURN(bool deleted, tx.Delete(kInstance, region, InstanceKey(service->id, instance_id)));
  if (!deleted) return NotFound(fmt::format("no instance {} in Cloud Map service {}", instance_id, service->id));
  RETURN_IF_ERROR(Touch(tx, *service));
  return RecordOperation(tx, region, account, now, "DEREGISTER_INSTANCE",
                         {{"INSTANCE", instance_id}, {"SERVICE", service->id}});
}

Status SetInstanceHealth(state::Tx& tx, const std::string& region, const std::string& service_id,
                         const std::string& instance_id, const std::string& status) {
  ASSIGN_OR_RETURN(auto service, FindService(tx, region, service_id));
  if (!service) return NotFound(fmt::format("no Cloud Map service {}", service_id));
  ASSIGN_OR_RETURN(auto inst, tx.Get(kInstance, region, InstanceKey(service->id, instance_id)));
  if (!inst) return NotFound(fmt::format("no instance {} in Cloud Map service {}", instance_id, service->id));
  if (!JHas(service->doc, "HealthCheckCustomConfig")) {
    return FailedPrecondition(fmt::format("service {} has no HealthCheckCustomConfig", service->id));
  }
  if (JStr(inst->doc, "kecs:health") == status) return Status::Ok();
  inst->doc["kecs:health"] = status;
  return tx.Put(*inst);
}

Result<DnsAnswer> LookupDns(state::Tx& tx, const std::string& region, const std::string& vpc_id,
                            const std::string& fqdn_in) {
  DnsAnswer ans;
  std::string fqdn = ToLower(fqdn_in);
  while (!fqdn.empty() && fqdn.back() == '.') fqdn.pop_back();
  if (fqdn.empty()) return ans;

  // The namespace the name falls in: the longest private one the VPC sees, else the
  // longest public one.
  const state::Object* best = nullptr;
  std::string best_name;
  ASSIGN_OR_RETURN(auto priv, tx.List({kNamespace, region}));
  for (const auto& ns : priv) {
    if (JStr(ns.doc, "Type") != "DNS_PRIVATE" || JStr(ns.doc, "kecs:vpc") != vpc_id) continue;
    std::string n = ToLower(ns.name);
    if (EndsWithLabel(fqdn, n) && n.size() > best_name.size()) {
      best = &ns;
      best_name = n;
    }
  }
  state::Query pq{kNamespace, region};
  pq.any_region = true;
  std::vector<state::Object> pub;
  if (!best) {
    ASSIGN_OR_RETURN(pub, tx.List(pq));
    for (const auto& ns : pub) {
      if (JStr(ns.doc, "Type") != "DNS_PUBLIC") continue;
      std::string n = ToLower(ns.name);
      if (EndsWithLabel(fqdn, n) && n.size() > best_name.size()) {
        best = &ns;
        best_name = n;
      }
    }
  }
  if (!best) return ans;
  ans.found = true;
  if (fqdn == best_name) return ans;  // the zone apex: SOA/NS only
  std::string relative = fqdn.substr(0, fqdn.size() - best_name.size() - 1);

  ASSIGN_OR_RETURN(auto services, tx.List({kService, best->region, best->id}));
  auto find_service = [&](const std::string& name) -> const state::Object* {
    for (const auto& s : services) {
      if (s.status == "ACTIVE" && ToLower(s.name) == name && JHas(s.doc, "DnsConfig")) return &s;
    }
    return nullptr;
  };
  auto fill = [&](const state::Object& s) {
    Records r = RecordsOf(s.doc);
    ans.routing_policy = JStr(s.doc.value("DnsConfig", Json::object()), "RoutingPolicy", "MULTIVALUE");
    ans.has_a = r.a;
    ans.has_aaaa = r.aaaa;
    ans.has_srv = r.srv;
    ans.ttl_a = ClampTtl(r.ttl_a);
    ans.ttl_aaaa = ClampTtl(r.ttl_aaaa);
    ans.ttl_srv = ClampTtl(r.ttl_srv);
    return r;
  };

  if (const state::Object* svc = find_service(relative)) {
    fill(*svc);
    ASSIGN_OR_RETURN(auto instances, tx.List({kInstance, svc->region, svc->id}));
    std::vector<Endpoint> all, healthy;
    for (const auto& i : instances) {
      Endpoint e = EndpointOf(i);
      if (e.healthy) healthy.push_back(e);
      all.push_back(std::move(e));
    }
    ans.endpoints = healthy.empty() ? std::move(all) : std::move(healthy);
    return ans;
  }

  // "<instance-id>.<service>": instance ids and service names may both hold dots, so try
  // every split.
  for (size_t dot = relative.find('.'); dot != std::string::npos; dot = relative.find('.', dot + 1)) {
    const state::Object* svc = find_service(relative.substr(dot + 1));
    if (!svc) continue;
    std::string want = relative.substr(0, dot);
    ASSIGN_OR_RETURN(auto instances, tx.List({kInstance, svc->region, svc->id}));
    for (const auto& i : instances) {
      if (ToLower(i.name) != want) continue;
      Records r = fill(*svc);
      if (r.srv) {
        if (!r.a) ans.ttl_a = ClampTtl(r.ttl_srv);
        if (!r.aaaa) ans.ttl_aaaa = ClampTtl(r.ttl_srv);
        ans.has_a = true;
        ans.has_aaaa = true;
      }
      Endpoint e = EndpointOf(i);
      ans.has_a = ans.has_a && !e.ipv4.empty();
      ans.has_aaaa = ans.has_aaaa && !e.ipv6.empty();
      ans.endpoints.push_back(std::move(e));
      return ans;
    }
  }
  ans.nxdomain = true;
  return ans;
}

Result<std::vector<std::pair<std::string, std::string>>> PrivateDnsVpcs(state::Tx& tx) {
  state::Query q{kNamespace, ""};
  q.any_region = true;
  ASSIGN_OR_RETURN(auto all, tx.List(q));
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& ns : all) {
    if (JStr(ns.doc, "Type") != "DNS_PRIVATE") continue;
    std::string vpc = JStr(ns.doc, "kecs:vpc");
    if (!vpc.empty()) out.insert({vpc, ns.region});
  }
  return std::vector<std::pair<std::string, std::string>>(out.begin(), out.end());
}

}  // namespace kecs::net::discovery
