// Cloud Map instances: RegisterInstance, DeregisterInstance, GetInstance, ListInstances,
// GetInstancesHealthStatus, UpdateInstanceCustomHealthStatus, DiscoverInstances,
// DiscoverInstancesRevision.
#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "api/pagination.h"
#include "api/servicediscovery/common.h"
#include "api/servicediscovery/servicediscovery_api.h"

namespace kecs::api::servicediscovery {
namespace {

bool HasHealthCheck(const Json& service_doc) {
  return JHas(service_doc, "HealthCheckConfig") || JHas(service_doc, "HealthCheckCustomConfig");
}

// What GetInstancesHealthStatus and DiscoverInstances report: the custom (or, for a Route 53
// health check kecs cannot run, the registered) status, UNKNOWN without a health check.
std::string HealthOf(const Json& service_doc, const state::Object& inst) {
  if (!HasHealthCheck(service_doc)) return "UNKNOWN";
  return JStr(inst.doc, "kecs:health", "HEALTHY");
}

state::Object RequireInstance(state::Tx& tx, const RequestContext& ctx, const state::Object& service,
                              const std::string& instance_id) {
  auto o = Check(tx.Get(sd::kInstance, ctx.region, sd::InstanceKey(service.id, instance_id)));
  if (!o) throw InstanceNotFound();
  return *o;
}

void CheckAttributes(const Json& attributes) {
  for (auto it = attributes.begin(); it != attributes.end(); ++it) {
    CheckPattern(it.key(), "Attributes", kAttrKeyPattern);
    if (it.value().is_string()) {
      CheckPattern(it.value().get<std::string>(), "Attributes." + it.key(), kAttrValuePattern);
    }
  }
}

bool HasAll(const Json& attributes, const Json& wanted) {
  for (auto it = wanted.begin(); it != wanted.end(); ++it) {
    const Json* have = JGet(attributes, it.key());
    if (!have || *have != it.value()) return false;
  }
  return true;
}

// The namespace DiscoverInstances names by its HttpName, and its service by name.
std::pair<state::Object, state::Object> Discover(state::Tx& tx, const RequestContext& ctx, const Json& in) {
  std::string owner = JStr(in, "OwnerAccount");
  std::string ns_name = JStr(in, "NamespaceName"), svc_name = JStr(in, "ServiceName");
  // Cloud Map's data plane words these without the control plane's full stop.
  if (!owner.empty() && owner != ctx.account_id) throw AwsError("NamespaceNotFound", "Namespace not found");
  std::optional<state::Object> ns;
  for (auto& o : Check(tx.List({sd::kNamespace, ctx.region}))) {
    const Json& props = o.doc.value("Properties", Json::object());
    if (JStr(props.value("HttpProperties", Json::object()), "HttpName") == ns_name) {
      ns = std::move(o);
      break;
    }
  }
  if (!ns) throw AwsError("NamespaceNotFound", "Namespace not found");
  auto services = Check(tx.List({sd::kService, ctx.region, ns->id, svc_name}));
  if (services.empty() || services.front().status != "ACTIVE") {
    throw AwsError("ServiceNotFound", "Service not found");
  }
  return {std::move(*ns), std::move(services.front())};
}

}  // namespace

Json ServiceDiscoveryApi::RegisterInstance(RequestContext& ctx, const Json& in) {
  std::string instance_id = JStr(in, "InstanceId");
  CheckPattern(instance_id, "InstanceId", kInstanceIdPattern);
  const Json& attributes = in.at("Attributes");
  CheckAttributes(attributes);
  std::string op;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object s = RequireService(tx, ctx, JStr(in, "ServiceId"));
    auto r = sd::RegisterInstance(tx, ctx.region, ctx.account_id, ctx.now, s.id, instance_id,
                                  attributes, JStr(in, "CreatorRequestId"));
    if (r.status().code() == Code::kInvalidArgument) throw InvalidInput(r.status().message());
    op = Check(std::move(r));
    return Status::Ok();
  }));
  return {{"OperationId", op}};
}

Json ServiceDiscoveryApi::DeregisterInstance(RequestContext& ctx, const Json& in) {
  std::string op;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object s = RequireService(tx, ctx, JStr(in, "ServiceId"));
    auto r = sd::DeregisterInstance(tx, ctx.region, ctx.account_id, ctx.now, s.id, JStr(in, "InstanceId"));
    if (r.status().code() == Code::kNotFound) throw InstanceNotFound();
    op = Check(std::move(r));
    return Status::Ok();
  }));
  return {{"OperationId", op}};
}

Json ServiceDiscoveryApi::GetInstance(RequestContext& ctx, const Json& in) {
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    state::Object s = RequireService(tx, ctx, JStr(in, "ServiceId"));
    state::Object i = RequireInstance(tx, ctx, s, JStr(in, "InstanceId"));
    Json inst = {{"Id", i.name}};
    if (i.doc.contains("CreatorRequestId")) inst["CreatorRequestId"] = i.doc["CreatorRequestId"];
    inst["Attributes"] = i.doc.value("Attributes", Json::object());
    inst["CreatedByAccount"] = ctx.account_id;
    out = {{"ResourceOwner", JStr(s.doc, "ResourceOwner", ctx.account_id)}, {"Instance", inst}};
    return Status::Ok();
  }));
  return out;
}

Json ServiceDiscoveryApi::ListInstances(RequestContext& ctx, const Json& in) {
  std::vector<std::string> keys;
  std::vector<Json> items;
  std::string owner;
  Check(store_.Read([&](state::Tx& tx) {
    state::Object s = RequireService(tx, ctx, JStr(in, "ServiceId"));
    owner = JStr(s.doc, "ResourceOwner", ctx.account_id);
    for (const auto& i : Check(tx.List({sd::kInstance, ctx.region, s.id}))) {
      keys.push_back(SeqKey(i.seq));
      items.push_back({{"Id", i.name},
                       {"Attributes", i.doc.value("Attributes", Json::object())},
                       {"CreatedByAccount", ctx.account_id}});
    }
    return Status::Ok();
  }));
  Json out = {{"ResourceOwner", owner}};
  PageInto(out, "Instances", keys, std::move(items), in);
  return out;
}

Json ServiceDiscoveryApi::GetInstancesHealthStatus(RequestContext& ctx, const Json& in) {
  std::vector<std::string> keys;
  std::vector<Json> items;
  Check(store_.Read([&](state::Tx& tx) {
    state::Object s = RequireService(tx, ctx, JStr(in, "ServiceId"));
    if (const Json* wanted = JGet(in, "Instances")) {
      for (const auto& id : *wanted) {
        state::Object i = RequireInstance(tx, ctx, s, id.get<std::string>());
        keys.push_back(SeqKey(i.seq));
        items.push_back({{"id", i.name}, {"status", HealthOf(s.doc, i)}});
      }
    } else {
      for (const auto& i : Check(tx.List({sd::kInstance, ctx.region, s.id}))) {
        keys.push_back(SeqKey(i.seq));
        items.push_back({{"id", i.name}, {"status", HealthOf(s.doc, i)}});
      }
    }
    return Status::Ok();
  }));
  // Pages follow registration order, so the keys must be sorted for the token to work.
  std::vector<size_t> order(keys.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  std::vector<std::string> sorted_keys;
  std::vector<Json> sorted;
  for (size_t k : order) {
    if (!sorted_keys.empty() && sorted_keys.back() == keys[k]) continue;  // named twice
    sorted_keys.push_back(keys[k]);
    sorted.push_back(items[k]);
  }
  Json page = Json::object();
  PageInto(page, "List", sorted_keys, std::move(sorted), in);
  Json status = Json::object();
  for (const auto& e : page["List"]) status[e["id"].get<std::string>()] = e["status"];
  Json out = {{"Status", status}};
  if (page.contains("NextToken")) out["NextToken"] = page["NextToken"];
  return out;
}

Json ServiceDiscoveryApi::UpdateInstanceCustomHealthStatus(RequestContext& ctx, const Json& in) {
  Check(store_.Write([&](state::Tx& tx) {
    state::Object s = RequireService(tx, ctx, JStr(in, "ServiceId"));
    state::Object i = RequireInstance(tx, ctx, s, JStr(in, "InstanceId"));
    Status st = sd::SetInstanceHealth(tx, ctx.region, s.id, i.name, JStr(in, "Status"));
    if (st.code() == Code::kFailedPrecondition) {
      throw AwsError("CustomHealthNotFound",
                     fmt::format("No custom health check configuration found for service {}.", s.id));
    }
    Check(st);
    return Status::Ok();
  }));
  return Json::object();
}

Json ServiceDiscoveryApi::DiscoverInstances(RequestContext& ctx, const Json& in) {
  Json instances = Json::array();
  int64_t revision = 0;
  Check(store_.Read([&](state::Tx& tx) {
    auto [ns, s] = Discover(tx, ctx, in);
    revision = JInt(s.doc, "kecs:revision");
    std::string filter = JStr(in, "HealthStatus", "HEALTHY");
    bool checked = HasHealthCheck(s.doc);
    const Json query = in.value("QueryParameters", Json::object());
    const Json optional = in.value("OptionalParameters", Json::object());
    std::vector<std::pair<state::Object, std::string>> matched;
    for (auto& i : Check(tx.List({sd::kInstance, ctx.region, s.id}))) {
      if (!HasAll(i.doc.value("Attributes", Json::object()), query)) continue;
      std::string health = HealthOf(s.doc, i);
      matched.emplace_back(std::move(i), std::move(health));
    }
    // HealthStatus applies only to services with a health check.
    if (checked && filter != "ALL") {
      std::vector<std::pair<state::Object, std::string>> kept;
      std::string want = filter == "UNHEALTHY" ? "UNHEALTHY" : "HEALTHY";
      for (auto& m : matched) {
        if (m.second == want) kept.push_back(m);
      }
      if (!(filter == "HEALTHY_OR_ELSE_ALL" && kept.empty())) matched = std::move(kept);
    }
    // OptionalParameters narrow the result only when some instance matches them.
    if (!optional.empty()) {
      std::vector<std::pair<state::Object, std::string>> narrowed;
      for (auto& m : matched) {
        if (HasAll(m.first.doc.value("Attributes", Json::object()), optional)) narrowed.push_back(m);
      }
      if (!narrowed.empty()) matched = std::move(narrowed);
    }
    // Cloud Map returns a randomized list, so that clients spread their traffic.
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    std::shuffle(matched.begin(), matched.end(), rng);
    size_t max = static_cast<size_t>(JOptInt(in, "MaxResults").value_or(100));
    std::string http_name = JStr(ns.doc.value("Properties", Json::object()).value("HttpProperties", Json::object()),
                                 "HttpName");
    for (size_t k = 0; k < matched.size() && k < max; ++k) {
      const auto& [i, health] = matched[k];
      instances.push_back({{"InstanceId", i.name},
                           {"NamespaceName", http_name},
                           {"ServiceName", s.name},
                           {"HealthStatus", health},
                           {"Attributes", i.doc.value("Attributes", Json::object())}});
    }
    return Status::Ok();
  }));
  return {{"Instances", instances}, {"InstancesRevision", revision}};
}

Json ServiceDiscoveryApi::DiscoverInstancesRevision(RequestContext& ctx, const Json& in) {
  int64_t revision = 0;
  Check(store_.Read([&](state::Tx& tx) {
    auto [ns, s] = Discover(tx, ctx, in);
    revision = JInt(s.doc, "kecs:revision");
    return Status::Ok();
  }));
  return {{"InstancesRevision", revision}};
}

}  // namespace kecs::api::servicediscovery
