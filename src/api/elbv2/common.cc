#include "api/elbv2/common.h"

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

}  // namespace kecs::api::elbv2
