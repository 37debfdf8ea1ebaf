#include "api/ecs/common.h"

#include <exception>

#include <fmt/format.h>

#include "base/clock.h"
#include "model/arn.h"

namespace kecs::api::ecs {

AwsError ClientException(std::string message) {
  return AwsError("ClientException", std::move(message));
}
AwsError InvalidParameter(std::string message) {
  return AwsError("InvalidParameterException", std::move(message));
}
AwsError ClusterNotFound() { return AwsError("ClusterNotFoundException", "Cluster not found."); }

Json Public(const Json& doc) {
  if (doc.is_object()) {
    Json out = Json::object();
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      if (it.key().starts_with("kecs:")) continue;
      out[it.key()] = Public(it.value());
    }
    return out;
  }
  if (doc.is_array()) {
    Json out = Json::array();
    for (const auto& e : doc) out.push_back(Public(e));
    return out;
  }
  return doc;
}

void Check(const Status& st) {
  if (!st.ok()) throw AwsError("ServerException", st.message(), 500);
}

std::string ClusterName(const Json& in, const char* member) {
  std::string c = JStr(in, member);
  if (c.empty()) return "default";
  return model::NameFromArnOrName(c);
}

std::string ClusterArn(const RequestContext& ctx, const std::string& name) {
  return model::EcsArn(ctx.region, ctx.account_id, "cluster/" + name);
}

state::Object RequireCluster(state::Tx& tx, const RequestContext& ctx, const std::string& name) {
  auto o = Check(tx.Get(kCluster, ctx.region, name));
  if (!o || o->status != "ACTIVE") throw ClusterNotFound();
  return *o;
}

state::Object EnsureCluster(state::Tx& tx, RequestContext& ctx, const std::string& name,
                            const std::function<state::Object(state::Tx&, RequestContext&,
                                                              const std::string&)>& create) {
  auto o = Check(tx.Get(kCluster, ctx.region, name));
  if (o && o->status == "ACTIVE") return *o;
  if (ctx.strict) throw ClusterNotFound();
  return create(tx, ctx, name);
}

size_t MaxResults(const Json& in, size_t def, size_t max) {
  auto v = JOptInt(in, "maxResults");
  if (!v) return def;
  if (*v < 1 || static_cast<size_t>(*v) > max) {
    throw InvalidParameter(fmt::format("maxResults must be between 1 and {}.", max));
  }
  return static_cast<size_t>(*v);
}

void BadToken() { throw InvalidParameter("Invalid token."); }

std::string IdFromArnOrId(const std::string& s) { return model::NameFromArnOrName(s); }

Json MergeTags(const Json& tags, const Json& add) {
  Json out = tags.is_array() ? tags : Json::array();
  for (const auto& t : add) {
    std::string k = JStr(t, "key");
    bool replaced = false;
    for (auto& e : out) {
      if (JStr(e, "key") == k) {
        e["value"] = JStr(t, "value");
        replaced = true;
      }
    }
    if (!replaced) out.push_back({{"key", k}, {"value", JStr(t, "value")}});
  }
  return out;
}

Json RemoveTags(const Json& tags, const Json& keys) {
  Json out = Json::array();
  for (const auto& e : tags) {
    bool drop = false;
    for (const auto& k : keys) drop = drop || (k.is_string() && k.get<std::string>() == JStr(e, "key"));
    if (!drop) out.push_back(e);
  }
  return out;
}

void ValidateTags(const Json& tags) {
  if (!tags.is_array()) return;
  for (const auto& t : tags) {
    std::string k = JStr(t, "key");
    if (k.empty()) throw InvalidParameter("Tag keys must not be empty.");
    if (k.starts_with("aws:")) {
      throw InvalidParameter("Tag keys starting with 'aws:' are reserved for system use.");
    }
  }
}

double Ts(const RequestContext& ctx) { return EpochMillis(ctx.now); }

}  // namespace kecs::api::ecs
