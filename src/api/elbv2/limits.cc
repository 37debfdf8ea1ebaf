// DescribeAccountLimits and DescribeSSLPolicies: fixed tables of AWS's defaults.
#include <algorithm>

#include <fmt/format.h>

#include "api/elbv2/common.h"
#include "api/elbv2/elbv2_api.h"
#include "api/pagination.h"
#include "model/ssl_policies.h"

namespace kecs::api::elbv2 {
namespace {

// AWS's default quotas as DescribeAccountLimits lists them (the AWS CLI reference's
// describe-account-limits example, in its order).
constexpr std::pair<const char*, const char*> kLimits[] = {
    {"target-groups", "3000"},
    {"targets-per-application-load-balancer", "1000"},
    {"listeners-per-application-load-balancer", "50"},
    {"rules-per-application-load-balancer", "100"},
    {"network-load-balancers", "50"},
    {"targets-per-network-load-balancer", "3000"},
    {"targets-per-availability-zone-per-network-load-balancer", "500"},
    {"listeners-per-network-load-balancer", "50"},
    {"condition-values-per-alb-rule", "5"},
    {"condition-wildcards-per-alb-rule", "5"},
    {"target-groups-per-application-load-balancer", "100"},
    {"target-groups-per-action-on-application-load-balancer", "5"},
    {"target-groups-per-action-on-network-load-balancer", "1"},
    {"certificates-per-application-load-balancer", "25"},
    {"certificates-per-network-load-balancer", "25"},
    {"targets-per-target-group", "1000"},
    {"target-id-registrations-per-application-load-balancer", "1000"},
    {"network-load-balancer-enis-per-vpc", "1200"},
    {"application-load-balancers", "50"},
    {"gateway-load-balancers", "100"},
    {"gateway-load-balancers-per-vpc", "100"},
    {"geneve-target-groups", "100"},
    {"targets-per-availability-zone-per-gateway-load-balancer", "300"},
};

// Keys for Marker paging over a fixed table: the row number.
std::vector<std::string> RowKeys(size_t n) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < n; ++i) keys.push_back(SeqKey(static_cast<long long>(i) + 1));
  return keys;
}

Json DescribeAccountLimits(RequestContext&, const Json& in) {
  Json out = Json::object();
  auto [begin, end] = PageByMarker(RowKeys(std::size(kLimits)), in, out);
  Json list = Json::array();
  for (size_t i = begin; i < end; ++i) list.push_back({{"Name", kLimits[i].first}, {"Max", kLimits[i].second}});
  out["Limits"] = list;
  return out;
}

// ---- SSL policies (model/ssl_policies.h) ----
Json PolicyToAws(const model::SslPolicy& p) {
  Json protocols = Json::array();
  for (const auto& s : p.protocols) protocols.push_back(s);
  Json ciphers = Json::array();
  int priority = 1;
  for (const auto& c : p.ciphers) ciphers.push_back({{"Name", c}, {"Priority", priority++}});
  return {{"SslProtocols", protocols},
          {"Ciphers", ciphers},
          {"Name", p.name},
          {"SupportedLoadBalancerTypes", Json::array({"application", "network"})}};
}

Json DescribeSSLPolicies(RequestContext&, const Json& in) {
  std::vector<const model::SslPolicy*> chosen;
  auto names = StringList(in, "Names");
  if (names.empty()) {
    for (const auto& p : model::SslPolicies()) chosen.push_back(&p);
  } else {
    for (const auto& n : names) {
      const model::SslPolicy* p = model::FindSslPolicy(n);
      // No source for AWS's text; kecs's wording.
      if (!p) throw ElbError("SSLPolicyNotFound", fmt::format("SSL policy '{}' not found", n));
      chosen.push_back(p);
    }
  }
  // Every policy here serves both Application and Network load balancers, so
  // LoadBalancerType ("application" or "network") keeps them all; "gateway" none.
  if (JStr(in, "LoadBalancerType") == "gateway") chosen.clear();
  Json out = Json::object();
  auto [begin, end] = PageByMarker(RowKeys(chosen.size()), in, out);
  Json list = Json::array();
  for (size_t i = begin; i < end; ++i) list.push_back(PolicyToAws(*chosen[i]));
  out["SslPolicies"] = list;
  return out;
}

}  // namespace

void RegisterLimitOps(Service& service) {
  service.Register("DescribeAccountLimits", &DescribeAccountLimits);
  service.Register("DescribeSSLPolicies", &DescribeSSLPolicies);
}

}  // namespace kecs::api::elbv2
