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
// The policy named `name`; for another ELBSecurityPolicy-* name (AWS has more than this
// table: FIPS, forward-secrecy and older ones), the TLS versions its name gives
// ("TLS13-1-2": 1.2 and 1.3; "TLS-1-1", "FS-1-1": 1.1 and 1.2; "FS-1-2": 1.2; ...; TLS 1.0
// to 1.2 otherwise) and no cipher list (the TLS library's defaults).
SslPolicy SslPolicyOrInferred(std::string_view name);

}  // namespace kecs::model
