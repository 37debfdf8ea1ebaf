#pragma once
// Helpers shared by the ECS operation files.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/errors.h"
#include "api/router.h"
#include "base/json.h"
#include "model/kinds.h"
#include "state/store.h"

namespace kecs::api::ecs {

using model::kAccountSetting;
using model::kCapacityProvider;
using model::kCluster;
using model::kInstance;
using model::kService;
using model::kTask;
using model::kTaskDef;

// ECS's own client errors, to throw.
AwsError ClientException(std::string message);
AwsError InvalidParameter(std::string message);
AwsError ClusterNotFound();

// The document without its internal ("kecs:"-prefixed) members.
Json Public(const Json& doc);

// Unwraps a Status from the store; a failure the caller did not word itself is a
// StatusError, which the router maps through errors.h's table.
void Check(const Status& st);
template <typename T>
T Check(Result<T> r) {
  Check(r.status());
  return std::move(r).value();
}

// The cluster a request names ("cluster" member, name or ARN), "default" when absent.
std::string ClusterName(const Json& in, const char* member = "cluster");
std::string ClusterArn(const RequestContext& ctx, const std::string& name);

// The ACTIVE cluster or ClusterNotFoundException.
state::Object RequireCluster(state::Tx& tx, const RequestContext& ctx, const std::string& name);
// As RequireCluster, but in lenient mode an unknown cluster is created on first use (the
// KECS documented flows run tasks on clusters they never created).
state::Object EnsureCluster(state::Tx& tx, RequestContext& ctx, const std::string& name,
                            const std::function<state::Object(state::Tx&, RequestContext&,
                                                              const std::string&)>& create);

// maxResults within [1, max], default `def`; ECS's wording on a bad value.
size_t MaxResults(const Json& in, size_t def, size_t max);
// Throws ECS's error for a token it did not issue.
[[noreturn]] void BadToken();
// {member: the page of `arns` (sorted as `keys`) after in.nextToken, "nextToken"?}.
Json ArnsPage(const char* member, const std::vector<std::string>& keys, const std::vector<std::string>& arns,
              const Json& in, size_t max);

// The 32-hex id at the end of a task or container-instance ARN, or the id itself.
std::string IdFromArnOrId(const std::string& s);

// Tags as ECS stores them: [{"key","value"}]. Merges `add` into `tags` (same key replaces).
Json MergeTags(const Json& tags, const Json& add);
Json RemoveTags(const Json& tags, const Json& keys);
void ValidateTags(const Json& tags);

// Epoch seconds with milliseconds, as ECS timestamps go on the wire.
double Ts(const RequestContext& ctx);

}  // namespace kecs::api::ecs
