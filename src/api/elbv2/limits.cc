// DescribeAccountLimits and DescribeSSLPolicies: fixed tables of AWS's defaults.
#include <algorithm>

#include <fmt/format.h>

#include "api/elbv2/common.h"
#include "api/elbv2/elbv2_api.h"
#include "api/pagination.h"

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

// ---- SSL policies ----
// AWS's predefined policies with their protocols and ciphers in priority order (Elastic
// Load Balancing guides, "Security policies for your Application Load Balancer" and
// "... Network Load Balancer").
using Ciphers = std::vector<const char*>;
const Ciphers kTls13 = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"};
// ECDHE with SHA-2 only.
const Ciphers kEcdheSha2 = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
                            "ECDHE-ECDSA-AES128-SHA256",     "ECDHE-RSA-AES128-SHA256",
                            "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
                            "ECDHE-ECDSA-AES256-SHA384",     "ECDHE-RSA-AES256-SHA384"};
const Ciphers kEcdheGcm = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
                           "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384"};
// TLS-1-2-2017-01's: ECDHE SHA-2 then plain RSA SHA-2.
const Ciphers kTls12 = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA256",
                        "ECDHE-RSA-AES128-SHA256",       "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
                        "ECDHE-ECDSA-AES256-SHA384",     "ECDHE-RSA-AES256-SHA384",     "AES128-GCM-SHA256",
                        "AES128-SHA256",                 "AES256-GCM-SHA384",           "AES256-SHA256"};
// ELBSecurityPolicy-2016-08's (SHA-1 suites too).
const Ciphers kCompat = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA256",
                         "ECDHE-RSA-AES128-SHA256",       "ECDHE-ECDSA-AES128-SHA",      "ECDHE-RSA-AES128-SHA",
                         "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES256-SHA384",
                         "ECDHE-RSA-AES256-SHA384",       "ECDHE-ECDSA-AES256-SHA",      "ECDHE-RSA-AES256-SHA",
                         "AES128-GCM-SHA256",             "AES128-SHA256",               "AES128-SHA",
                         "AES256-GCM-SHA384",             "AES256-SHA256",               "AES256-SHA"};

struct SslPolicy {
  const char* name;
  std::vector<const char*> protocols;
  std::vector<const Ciphers*> ciphers;  // concatenated in order
};

const std::vector<SslPolicy>& Policies() {
  static const std::vector<SslPolicy> kPolicies = {
      {"ELBSecurityPolicy-TLS13-1-2-2021-06", {"TLSv1.3", "TLSv1.2"}, {&kTls13, &kEcdheSha2}},
      {"ELBSecurityPolicy-TLS13-1-2-Res-2021-06", {"TLSv1.3", "TLSv1.2"}, {&kTls13, &kEcdheGcm}},
      {"ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06", {"TLSv1.3", "TLSv1.2"}, {&kTls13, &kTls12}},
      {"ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06", {"TLSv1.3", "TLSv1.2"}, {&kTls13, &kCompat}},
      {"ELBSecurityPolicy-TLS13-1-1-2021-06", {"TLSv1.3", "TLSv1.2", "TLSv1.1"}, {&kTls13, &kCompat}},
      {"ELBSecurityPolicy-TLS13-1-0-2021-06", {"TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1"}, {&kTls13, &kCompat}},
      {"ELBSecurityPolicy-TLS13-1-3-2021-06", {"TLSv1.3"}, {&kTls13}},
      {"ELBSecurityPolicy-TLS-1-2-Ext-2018-06", {"TLSv1.2"}, {&kCompat}},
      {"ELBSecurityPolicy-TLS-1-2-2017-01", {"TLSv1.2"}, {&kTls12}},
      {"ELBSecurityPolicy-TLS-1-1-2017-01", {"TLSv1.2", "TLSv1.1"}, {&kCompat}},
      {"ELBSecurityPolicy-2016-08", {"TLSv1.2", "TLSv1.1", "TLSv1"}, {&kCompat}},
  };
  return kPolicies;
}

Json PolicyToAws(const SslPolicy& p) {
  Json protocols = Json::array();
  for (const char* s : p.protocols) protocols.push_back(s);
  Json ciphers = Json::array();
  int priority = 1;
  for (const Ciphers* list : p.ciphers) {
    for (const char* c : *list) ciphers.push_back({{"Name", c}, {"Priority", priority++}});
  }
  return {{"SslProtocols", protocols},
          {"Ciphers", ciphers},
          {"Name", p.name},
          {"SupportedLoadBalancerTypes", Json::array({"application", "network"})}};
}

Json DescribeSSLPolicies(RequestContext&, const Json& in) {
  std::vector<const SslPolicy*> chosen;
  auto names = StringList(in, "Names");
  if (names.empty()) {
    for (const auto& p : Policies()) chosen.push_back(&p);
  } else {
    for (const auto& n : names) {
      auto it = std::find_if(Policies().begin(), Policies().end(), [&](const SslPolicy& p) { return n == p.name; });
      // No source for AWS's text; kecs's wording.
      if (it == Policies().end()) throw ElbError("SSLPolicyNotFound", fmt::format("SSL policy '{}' not found", n));
      chosen.push_back(&*it);
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
