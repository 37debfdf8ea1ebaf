// Cloud Map services: CreateService, DeleteService, GetService, ListServices, UpdateService,
// GetServiceAttributes, UpdateServiceAttributes, DeleteServiceAttributes.
#include <set>

#include <fmt/format.h>

#include "api/pagination.h"
#include "api/servicediscovery/common.h"
#include "api/servicediscovery/servicediscovery_api.h"
#include "base/clock.h"
#include "base/strings.h"

namespace kecs::api::servicediscovery {
namespace {

std::set<std::string> RecordTypes(const Json& dns_config) {
  std::set<std::string> out;
  for (const auto& r : dns_config.value("DnsRecords", Json::array())) out.insert(JStr(r, "Type"));
  return out;
}

// DnsRecords: one record per type, in the combinations Cloud Map accepts; a CNAME record
// stands alone and needs WEIGHTED routing.
void ValidateDnsRecords(const Json& records, const std::string& routing_policy) {
  if (!records.is_array() || records.empty()) {
    throw InvalidInput("DnsRecords must contain at least one DnsRecord.");
  }
  std::set<std::string> seen;
  for (const auto& r : records) {
    std::string type = JStr(r, "Type");
    if (!seen.insert(type).second) {
      throw InvalidInput(fmt::format("DnsRecords can contain only one DnsRecord of type {}.", type));
    }
  }
  if (seen.count("CNAME")) {
    if (seen.size() > 1) {
      throw InvalidInput("A CNAME DnsRecord can't be combined with DnsRecords of other types.");
    }
    if (routing_policy != "WEIGHTED") {
      throw InvalidInput("When DnsRecords contains a CNAME record, RoutingPolicy must be WEIGHTED.");
    }
  }
}

// The HealthCheckConfig as stored: ResourcePath "/" for HTTP(S), FailureThreshold 1 by default.
Json NormalizeHealthCheck(const Json& hc, const std::string& namespace_type, const Json* dns_config) {
  if (namespace_type == "DNS_PRIVATE") {
    throw InvalidInput(
        "HealthCheckConfig is supported only for services in public DNS and HTTP namespaces; use "
        "HealthCheckCustomConfig for a private DNS namespace.");
  }
  if (dns_config && RecordTypes(*dns_config).count("CNAME")) {
    throw InvalidInput("You can't specify both CNAME for Type and settings for HealthCheckConfig.");
  }
  std::string type = JStr(hc, "Type");
  Json out = {{"Type", type}};
  if (type == "TCP") {
    if (JHas(hc, "ResourcePath")) {
      throw InvalidInput("You can't specify ResourcePath for a TCP health check.");
    }
  } else {
    out["ResourcePath"] = JStr(hc, "ResourcePath", "/");
  }
  out["FailureThreshold"] = JInt(hc, "FailureThreshold", 1);
  return out;
}

Json ServiceView(const state::Object& s) {
  const Json& d = s.doc;
  auto get = [&](const char* key) { return d.value(key, Json()); };
  return {{"Id", s.id}, {"Arn", get("Arn")}, {"ResourceOwner", get("ResourceOwner")},
          {"Name", get("Name")}, {"NamespaceId", get("NamespaceId")},
          {"Description", get("Description")}, {"InstanceCount", get("InstanceCount")},
          {"DnsConfig", get("DnsConfig")}, {"Type", get("Type")},
          {"HealthCheckConfig", get("HealthCheckConfig")},
          {"HealthCheckCustomConfig", get("HealthCheckCustomConfig")},
          {"CreateDate", get("CreateDate")}, {"CreatorRequestId", get("CreatorRequestId")},
          {"CreatedByAccount", get("CreatedByAccount")}};
}

Json ServiceSummary(const state::Object& s) {
  Json v = ServiceView(s);
  v.erase("NamespaceId");
  v.erase("CreatorRequestId");
  return v;
}

// Cloud Map names the existing service in the error (ServiceId, ServiceArn, CreatorRequestId).
AwsError ServiceAlreadyExists(const state::Object& existing) {
  AwsError e("ServiceAlreadyExists", "Service already exists.");
  e.WithMember("CreatorRequestId", JStr(existing.doc, "CreatorRequestId"));
  e.WithMember("ServiceId", existing.id);
  e.WithMember("ServiceArn", JStr(existing.doc, "Arn"));
  return e;
}

}  // namespace

Json ServiceDiscoveryApi::CreateService(RequestContext& ctx, const Json& in) {
  std::string name = JStr(in, "Name");
  CheckPattern(name, "Name", kServiceNamePattern);
  const Json* dns = JGet(in, "DnsConfig");
  std::string ns_ref = JStr(in, "NamespaceId");
  if (ns_ref.empty() && dns) ns_ref = JStr(*dns, "NamespaceId");
  if (ns_ref.empty()) {
    throw InvalidInput("NamespaceId is required: specify it in the request or in DnsConfig.");
  }
  const Json* hc = JGet(in, "HealthCheckConfig");
  const Json* custom = JGet(in, "HealthCheckCustomConfig");
  if (hc && custom) {
    throw InvalidInput(
        "You can specify either HealthCheckConfig or HealthCheckCustomConfig, but not both.");
  }
  Json tags = in.value("Tags", Json::array());
  ValidateTags(tags);
  std::string creator = JStr(in, "CreatorRequestId");

  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object ns = RequireNamespace(tx, ctx, ns_ref);
    std::string ns_type = JStr(ns.doc, "Type");
    if (dns && JHas(*dns, "NamespaceId") && JHas(in, "NamespaceId") &&
        sd::IdFromArnOrId(JStr(*dns, "NamespaceId")) != ns.id) {
      throw InvalidInput("The NamespaceId in DnsConfig must be the service's NamespaceId.");
    }
    if (dns && (ns_type == "HTTP" || JStr(in, "Type") == "HTTP")) {
      throw InvalidInput("When you specify an HTTP service, you can't include a DnsConfig element.");
    }
    Json dns_config;
    if (dns) {
      std::string policy = JStr(*dns, "RoutingPolicy", "MULTIVALUE");
      ValidateDnsRecords(dns->value("DnsRecords", Json::array()), policy);
      Json records = Json::array();
      for (const auto& r : dns->at("DnsRecords")) {
        records.push_back({{"Type", JStr(r, "Type")}, {"TTL", JInt(r, "TTL")}});
      }
      dns_config = {{"NamespaceId", ns.id}, {"RoutingPolicy", policy}, {"DnsRecords", records}};
    }
    Json health = hc ? NormalizeHealthCheck(*hc, ns_type, dns ? &dns_config : nullptr) : Json();

    // Names are unique in a namespace; DNS names ignore case.
    bool dns_ns = ns_type != "HTTP";
    for (const auto& s : Check(tx.List({sd::kService, ctx.region, ns.id}))) {
      if (dns_ns ? ToLower(s.name) != ToLower(name) : s.name != name) continue;
      if (!creator.empty() && JStr(s.doc, "CreatorRequestId") == creator && s.name == name) {
        out = {{"Service", ServiceView(s)}};  // a retry of the request that created it
        return Status::Ok();
      }
      throw ServiceAlreadyExists(s);
    }

    std::string id = sd::NewServiceId();
    Json doc = {{"Id", id},
                {"Arn", sd::ServiceArn(ctx.region, ctx.account_id, id)},
                {"ResourceOwner", ctx.account_id},
                {"Name", name},
                {"NamespaceId", ns.id}};
    if (JHas(in, "Description")) doc["Description"] = JStr(in, "Description");
    doc["InstanceCount"] = 0;
    if (dns) doc["DnsConfig"] = dns_config;
    doc["Type"] = dns ? "DNS_HTTP" : "HTTP";
    if (hc) doc["HealthCheckConfig"] = health;
    if (custom) doc["HealthCheckCustomConfig"] = {{"FailureThreshold", 1}};
    doc["CreateDate"] = EpochMillis(ctx.now);
    if (!creator.empty()) doc["CreatorRequestId"] = creator;
    doc["CreatedByAccount"] = ctx.account_id;
    doc["kecs:tags"] = tags;
    doc["kecs:attributes"] = Json::object();
    doc["kecs:revision"] = Check(tx.NextSequence("sd:revision"));
    state::Object s{sd::kService, ctx.region, id, ns.id, name, "ACTIVE", 0, doc};
    Check(tx.Insert(s));
    out = {{"Service", ServiceView(s)}};
    return Status::Ok();
  }));
  return out;
}

Json ServiceDiscoveryApi::DeleteService(RequestContext& ctx, const Json& in) {
  Check(store_.Write([&](state::Tx& tx) {
    state::Object s = RequireService(tx, ctx, JStr(in, "Id"));
    if (Check(tx.Count({sd::kInstance, ctx.region, s.id})) > 0) {
      throw AwsError("ResourceInUse",
                     "Service contains registered instances; delete the instances before deleting the service");
    }
    Check(tx.Delete(sd::kService, ctx.region, s.id));
    return Status::Ok();
  }));
  return Json::object();
}

Json ServiceDiscoveryApi::GetService(RequestContext& ctx, const Json& in) {
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    out = {{"Service", ServiceView(RequireService(tx, ctx, JStr(in, "Id")))}};
    return Status::Ok();
  }));
  return out;
}

Json ServiceDiscoveryApi::ListServices(RequestContext& ctx, const Json& in) {
  auto filters = ParseFilters(in, {"NAMESPACE_ID:EQ,IN", "RESOURCE_OWNER:EQ"});
  for (auto& f : filters) {
    if (f.name != "NAMESPACE_ID") continue;
    for (auto& v : f.values) v = sd::IdFromArnOrId(v);
  }
  std::vector<std::string> keys;
  std::vector<Json> items;
  Check(store_.Read([&](state::Tx& tx) {
    for (const auto& s : Check(tx.List({sd::kService, ctx.region}))) {
      if (s.status != "ACTIVE") continue;
      bool keep = true;
      for (const auto& f : filters) {
        keep = keep && Matches(f, f.name == "NAMESPACE_ID" ? s.parent : "SELF");
      }
      if (!keep) continue;
      keys.push_back(SeqKey(s.seq));
      items.push_back(ServiceSummary(s));
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  PageInto(out, "Services", keys, std::move(items), in);
  return out;
}

Json ServiceDiscoveryApi::UpdateService(RequestContext& ctx, const Json& in) {
  const Json& change = in.at("Service");
  std::string op;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object s = RequireService(tx, ctx, JStr(in, "Id"));
    auto ns = Check(tx.Get(sd::kNamespace, ctx.region, s.parent));
    std::string ns_type = ns ? JStr(ns->doc, "Type") : "";
    if (const Json* dns = JGet(change, "DnsConfig")) {
      const Json* current = JGet(s.doc, "DnsConfig");
      if (!current) {
        throw InvalidInput(ns_type == "HTTP"
                               ? "You can't specify a DnsConfig for a service in an HTTP namespace."
                               : "The service has no DnsConfig; DNS records can't be added to it.");
      }
      const Json& records = dns->at("DnsRecords");
      ValidateDnsRecords(records, JStr(*current, "RoutingPolicy", "MULTIVALUE"));
      if (RecordTypes(*dns) != RecordTypes(*current)) {
        throw InvalidInput(
            "The record type of a service specified in a DnsRecord object can't be updated. To "
            "change a record type, you need to delete the service and recreate it with a new "
            "DnsConfig.");
      }
      Json updated = Json::array();
      for (const auto& r : records) updated.push_back({{"Type", JStr(r, "Type")}, {"TTL", JInt(r, "TTL")}});
      s.doc["DnsConfig"]["DnsRecords"] = updated;
    }
    // An UpdateService that leaves HealthCheckConfig out deletes it (Cloud Map's rule).
    if (const Json* hc = JGet(change, "HealthCheckConfig")) {
      if (JHas(s.doc, "HealthCheckCustomConfig")) {
        throw InvalidInput(
            "You can specify either HealthCheckConfig or HealthCheckCustomConfig, but not both.");
      }
      const Json* dns_config = JGet(s.doc, "DnsConfig");
      s.doc["HealthCheckConfig"] = NormalizeHealthCheck(*hc, ns_type, dns_config);
    } else {
      s.doc.erase("HealthCheckConfig");
    }
    if (const Json* d = JGet(change, "Description")) s.doc["Description"] = *d;
    Check(tx.Put(s));
    op = Check(sd::RecordOperation(tx, ctx.region, ctx.account_id, ctx.now, "UPDATE_SERVICE",
                                   {{"SERVICE", s.id}}));
    return Status::Ok();
  }));
  return {{"OperationId", op}};
}

Json ServiceDiscoveryApi::GetServiceAttributes(RequestContext& ctx, const Json& in) {
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    state::Object s = RequireService(tx, ctx, JStr(in, "ServiceId"));
    out = {{"ServiceAttributes",
            {{"ServiceArn", JStr(s.doc, "Arn")},
             {"ResourceOwner", JStr(s.doc, "ResourceOwner", ctx.account_id)},
             {"Attributes", s.doc.value("kecs:attributes", Json::object())}}}};
    return Status::Ok();
  }));
  return out;
}

Json ServiceDiscoveryApi::UpdateServiceAttributes(RequestContext& ctx, const Json& in) {
  const Json& attributes = in.at("Attributes");
  // The model bounds the map (1 to 30 entries); the front end checks no map's size.
  if (attributes.empty() || attributes.size() > 30) {
    throw InvalidInput(fmt::format(
        "1 validation error detected: Value '{}' at 'Attributes' failed to satisfy constraint: "
        "Member must have length {}",
        attributes.dump(), attributes.empty() ? "greater than or equal to 1" : "less than or equal to 30"));
  }
  Check(store_.Write([&](state::Tx& tx) {
    state::Object s = RequireService(tx, ctx, JStr(in, "ServiceId"));
    Json merged = s.doc.value("kecs:attributes", Json::object());
    for (auto it = attributes.begin(); it != attributes.end(); ++it) merged[it.key()] = it.value();
    if (merged.size() > 30) {
      throw AwsError("ServiceAttributesLimitExceededException",
                     "The service can have up to 30 attributes.");
    }
    s.doc["kecs:attributes"] = merged;
    Check(tx.Put(s));
    return Status::Ok();
  }));
  return Json::object();
}

Json ServiceDiscoveryApi::DeleteServiceAttributes(RequestContext& ctx, const Json& in) {
  Check(store_.Write([&](state::Tx& tx) {
    state::Object s = RequireService(tx, ctx, JStr(in, "ServiceId"));
    Json attributes = s.doc.value("kecs:attributes", Json::object());
    for (const auto& k : in.at("Attributes")) {
      if (k.is_string()) attributes.erase(k.get<std::string>());
    }
    s.doc["kecs:attributes"] = attributes;
    Check(tx.Put(s));
    return Status::Ok();
  }));
  return Json::object();
}

}  // namespace kecs::api::servicediscovery
