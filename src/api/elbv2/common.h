#pragma once
// Helpers shared by the ELBv2 handlers: AWS's error codes, lookups by ARN, Marker paging.
// Every function that takes a Tx runs inside the caller's transaction; lookups throw
// AwsError with ELBv2's NotFound code. Thread-safe (no state).
#include <algorithm>
#include <string>
#include <vector>

#include "api/errors.h"
#include "api/pagination.h"
#include "api/router.h"
#include "base/json.h"
#include "base/status.h"
#include "model/elb.h"
#include "net/domain/vpc.h"
#include "state/store.h"

namespace kecs::api::elbv2 {

// An ELBv2 error (Query protocol, HTTP 400 unless given).
AwsError ElbError(std::string code, std::string message, int http_status = 400);
// ValidationError, ELBv2's code for a request that breaks a rule of the API.
AwsError ValidationError(std::string message);
// A lower layer's failure, as the router's one error table words it (api/errors.h).
void Check(const Status& st);
template <typename T>
T Check(Result<T> r) {
  Check(r.status());
  return std::move(r).value();
}

// The resource an ARN names, or AWS's NotFound error: LoadBalancerNotFound "One or more
// load balancers not found", ListenerNotFound "One or more listeners not found",
// RuleNotFound "One or more rules not found", TargetGroupNotFound "One or more target
// groups not found". A malformed ARN is ValidationError "'<arn>' is not a valid ... ARN".
model::LoadBalancer RequireLoadBalancer(state::Tx& tx, const std::string& region, const std::string& arn);
model::Listener RequireListener(state::Tx& tx, const std::string& region, const std::string& arn);
model::Rule RequireRule(state::Tx& tx, const std::string& region, const std::string& arn);
model::TargetGroup RequireTargetGroup(state::Tx& tx, const std::string& region, const std::string& arn);

// Marker/PageSize paging (ELBv2's): `keys` ascending (SeqKey of each item). Returns the
// [begin, end) slice and writes NextMarker into `out` when more remain. A Marker kecs did
// not issue is ValidationError "Invalid Marker".
std::pair<size_t, size_t> PageByMarker(const std::vector<std::string>& keys, const Json& in, Json& out);

}  // namespace kecs::api::elbv2

// ---- Shared by the load balancer, target group, target and tag handlers ----
namespace kecs::api::elbv2 {

struct Options;  // elbv2_api.h

// What the handlers of load_balancers.cc, target_groups.cc, targets.cc and tags.cc use:
// references to Elbv2Api's members, which outlive the registered handlers.
struct LbDeps {
  state::Store& store;
  net::RegionBootstrap& regions;
  const Options& options;
};

// Registers `op` as a call of `fn` with `deps`.
using LbHandler = Json (*)(const LbDeps& deps, RequestContext& ctx, const Json& in);
void RegisterOp(Service& service, const LbDeps& deps, const char* op, LbHandler fn);

// Each file's operations (called by Elbv2Api::RegisterLoadBalancerOps).
void RegisterTargetGroupOps(Service& service, const LbDeps& deps);  // target_groups.cc
void RegisterTargetOps(Service& service, const LbDeps& deps);       // targets.cc
void RegisterTagOps(Service& service, const LbDeps& deps);          // tags.cc
void RegisterLimitOps(Service& service);                            // limits.cc

// The strings of a list member (empty when absent).
std::vector<std::string> StringList(const Json& in, const char* key);

// The Tags of a Create* request, checked as AddTags checks them: DuplicateTagKeys,
// TooManyTags above kMaxTags. `kind_words` names the resource ("load balancer").
inline constexpr size_t kMaxTags = 50;
model::KeyValues RequestTags(const Json& in, const char* kind_words);
// Adds `add` to `tags` (replacing values of keys already there); TooManyTags when the
// result holds more than kMaxTags.
void MergeTags(model::KeyValues& tags, const model::KeyValues& add, const char* kind_words);

// The items of `all` named in `names` (DescribeLoadBalancers / DescribeTargetGroups Names),
// in the order asked; `not_found_code` otherwise, with `message` when given, else AWS's
// "<Words> '[a, b]' not found" naming every missing one (the text as the AWS CLI shows it
// for load balancers).
template <typename T>
std::vector<T> PickByName(const std::vector<T>& all, const std::vector<std::string>& names, const char* not_found_code,
                          const char* words, const char* message = nullptr) {
  std::vector<T> out;
  std::string missing;
  for (const auto& n : names) {
    auto it = std::find_if(all.begin(), all.end(), [&](const T& x) { return x.name == n; });
    if (it != all.end()) {
      out.push_back(*it);
    } else {
      missing += (missing.empty() ? "" : ", ") + n;
    }
  }
  if (!missing.empty()) {
    throw ElbError(not_found_code, message ? std::string(message) : std::string(words) + " '[" + missing + "]' not found");
  }
  return out;
}

// Describe* paging over records: `items` in creation order (duplicates dropped), the page
// of in's Marker/PageSize shown with `show` as out[list_member], NextMarker when more remain.
template <typename T, typename ShowFn>
void PageRecords(std::vector<T> items, const Json& in, Json& out, const char* list_member, ShowFn show) {
  std::sort(items.begin(), items.end(), [](const T& a, const T& b) { return a.seq < b.seq; });
  items.erase(std::unique(items.begin(), items.end(), [](const T& a, const T& b) { return a.id == b.id; }), items.end());
  std::vector<std::string> keys;
  for (const auto& x : items) keys.push_back(SeqKey(x.seq));
  auto [begin, end] = PageByMarker(keys, in, out);
  Json list = Json::array();
  for (size_t i = begin; i < end; ++i) list.push_back(show(items[i]));
  out[list_member] = list;
}

// The AWS TargetGroup shape with LoadBalancerArns derived from the listeners and rules.
Json TargetGroupView(state::Tx& tx, const model::TargetGroup& tg);

// ModifyXxxAttributes: checks in["Attributes"] against `defaults` (every attribute of the
// resource's kind): an unknown key or a value out of its range is ValidationError. Returns
// `current` with the new values applied, in the order of `defaults` (a stored attribute
// the kind no longer has is dropped). `kind_words` is "Load balancer" or "Target group".
model::KeyValues ApplyAttributes(const model::KeyValues& defaults, const model::KeyValues& current, const Json& in,
                                 const char* kind_words);

}  // namespace kecs::api::elbv2
