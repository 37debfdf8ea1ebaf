#pragma once
// Elastic Load Balancing's predefined security policies (SSL policies): the TLS versions
// and ciphers of each, in AWS's priority order. One table, shown by DescribeSSLPolicies
// (api/elbv2/limits.cc) and applied to HTTPS listeners by the local data plane
// (runtime/local/lb_haproxy_config.cc). Cipher names are OpenSSL's, as AWS lists them;
// the TLS 1.3 suites are the "TLS_..." names.
#include <string>
#include <string_view>
#include <vector>

namespace kecs::model {

struct SslPolicy {
  std::string name;
  std::vector<std::string> protocols;  // "TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1"; newest first
  std::vector<std::string> ciphers;    // by priority, the first first
};

// Every policy, in the order DescribeSSLPolicies lists them.
const std::vector<SslPolicy>& SslPolicies();
// The policy named `name`, or nullptr.
const SslPolicy* FindSslPolicy(std::string_view name);

}  // namespace kecs::model
