#include "api/ecs/common.h"

#include <exception>

#include <fmt/format.h>

#include "api/pagination.h"
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

Json Public(const Json& doc) { return WithoutInternalMembers(doc); }

void Check(const Status& st) {
  ThrowIfError(st);
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

Json ArnsPage(const char* member, const std::vector<std::string>& keys, const std::vector<std::string>& arns,
              const Json& in, size_t max) {
  auto page = Paginate(keys, JOptStr(in, "nextToken"), max);
  if (!page) BadToken();
  Json out = {{member, Json(std::vector<std::string>(arns.begin() + static_cast<std::ptrdiff_t>(page->begin),
                                                     arns.begin() + static_cast<std::ptrdiff_t>(page->end)))}};
  if (page->next_token) out["nextToken"] = *page->next_token;
  return out;
}

std::string IdFromArnOrId(const std::string& s) { return model::NameFromArnOrName(s); }

Json MergeTags(const Json& tags, const Json& add) { return MergeKeyValues(tags, add, "key", "value"); }

Json RemoveTags(const Json& tags, const Json& keys) { return RemoveKeyValues(tags, keys, "key"); }

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
