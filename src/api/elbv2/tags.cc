// Tags of load balancers, listeners, rules and target groups: AddTags, RemoveTags,
// DescribeTags. Each ARN must name an existing resource (its kind's NotFound otherwise);
// a request changes every named resource or none.
#include <algorithm>

#include <fmt/format.h>

#include "api/elbv2/common.h"
#include "api/elbv2/elbv2_api.h"
#include "state/records/elb.h"

namespace kecs::api::elbv2 {
namespace {

// Applies `fn` to the tags of the resource `arn` names; writes it back when `write`.
template <typename Fn>
void WithTags(state::Tx& tx, const std::string& region, const std::string& arn, bool write, Fn fn) {
  using namespace state::records;
  if (!model::IdFromArn(arn, "loadbalancer").empty()) {
    auto lb = RequireLoadBalancer(tx, region, arn);
    fn(lb.tags, "load balancer");
    if (write) Check(PutLoadBalancer(tx, lb));
  } else if (!model::IdFromArn(arn, "listener").empty()) {
    auto l = RequireListener(tx, region, arn);
    fn(l.tags, "listener");
    if (write) Check(PutListener(tx, l));
  } else if (!model::IdFromArn(arn, "listener-rule").empty()) {
    auto r = RequireRule(tx, region, arn);
    fn(r.tags, "rule");
    if (write) Check(PutRule(tx, r));
  } else if (!model::IdFromArn(arn, "targetgroup").empty()) {
    auto tg = RequireTargetGroup(tx, region, arn);
    fn(tg.tags, "target group");
    if (write) Check(PutTargetGroup(tx, tg));
  } else {
    // No source for AWS's text; kecs's wording.
    throw ValidationError(fmt::format("'{}' is not a valid Elastic Load Balancing resource ARN", arn));
  }
}

Json AddTags(const LbDeps& d, RequestContext& ctx, const Json& in) {
  model::KeyValues add = RequestTags(in, "resource");
  auto arns = StringList(in, "ResourceArns");
  Check(d.store.Write([&](state::Tx& tx) {
    for (const auto& arn : arns) {
      WithTags(tx, ctx.region, arn, true, [&](model::KeyValues& tags, const char* kind) { MergeTags(tags, add, kind); });
    }
    return Status::Ok();
  }));
  return Json::object();
}

Json RemoveTags(const LbDeps& d, RequestContext& ctx, const Json& in) {
  auto keys = StringList(in, "TagKeys");
  auto arns = StringList(in, "ResourceArns");
  Check(d.store.Write([&](state::Tx& tx) {
    for (const auto& arn : arns) {
      WithTags(tx, ctx.region, arn, true, [&](model::KeyValues& tags, const char*) {
        std::erase_if(tags, [&](const auto& kv) { return std::find(keys.begin(), keys.end(), kv.first) != keys.end(); });
      });
    }
    return Status::Ok();
  }));
  return Json::object();
}

Json DescribeTags(const LbDeps& d, RequestContext& ctx, const Json& in) {
  auto arns = StringList(in, "ResourceArns");
  Json list = Json::array();
  Check(d.store.Read([&](state::Tx& tx) {
    for (const auto& arn : arns) {
      WithTags(tx, ctx.region, arn, false, [&](model::KeyValues& tags, const char*) {
        list.push_back({{"ResourceArn", arn}, {"Tags", state::records::KeyValuesToAws(tags)}});
      });
    }
    return Status::Ok();
  }));
  return {{"TagDescriptions", list}};
}

}  // namespace

void RegisterTagOps(Service& service, const LbDeps& d) {
  RegisterOp(service, d, "AddTags", &AddTags);
  RegisterOp(service, d, "RemoveTags", &RemoveTags);
  RegisterOp(service, d, "DescribeTags", &DescribeTags);
}

}  // namespace kecs::api::elbv2
