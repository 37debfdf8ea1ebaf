#include "model/ssl_policies.h"

#include <initializer_list>

namespace kecs::model {
namespace {

// AWS's predefined policies with their protocols and ciphers in priority order (Elastic
// Load Balancing guides, "Security policies for your Application Load Balancer" and
// "... Network Load Balancer").
using Ciphers = std::vector<std::string>;
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

// Lists concatenated in order.
Ciphers Join(std::initializer_list<const Ciphers*> lists) {
  Ciphers out;
  for (const Ciphers* l : lists) out.insert(out.end(), l->begin(), l->end());
  return out;
}

}  // namespace

const std::vector<SslPolicy>& SslPolicies() {
  static const std::vector<SslPolicy> kPolicies = {
      {"ELBSecurityPolicy-TLS13-1-2-2021-06", {"TLSv1.3", "TLSv1.2"}, Join({&kTls13, &kEcdheSha2})},
      {"ELBSecurityPolicy-TLS13-1-2-Res-2021-06", {"TLSv1.3", "TLSv1.2"}, Join({&kTls13, &kEcdheGcm})},
      {"ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06", {"TLSv1.3", "TLSv1.2"}, Join({&kTls13, &kTls12})},
      {"ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06", {"TLSv1.3", "TLSv1.2"}, Join({&kTls13, &kCompat})},
      {"ELBSecurityPolicy-TLS13-1-1-2021-06", {"TLSv1.3", "TLSv1.2", "TLSv1.1"}, Join({&kTls13, &kCompat})},
      {"ELBSecurityPolicy-TLS13-1-0-2021-06", {"TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1"}, Join({&kTls13, &kCompat})},
      {"ELBSecurityPolicy-TLS13-1-3-2021-06", {"TLSv1.3"}, Join({&kTls13})},
      {"ELBSecurityPolicy-TLS-1-2-Ext-2018-06", {"TLSv1.2"}, Join({&kCompat})},
      {"ELBSecurityPolicy-TLS-1-2-2017-01", {"TLSv1.2"}, Join({&kTls12})},
      {"ELBSecurityPolicy-TLS-1-1-2017-01", {"TLSv1.2", "TLSv1.1"}, Join({&kCompat})},
      {"ELBSecurityPolicy-2016-08", {"TLSv1.2", "TLSv1.1", "TLSv1"}, Join({&kCompat})},
  };
  return kPolicies;
}

SslPolicy SslPolicyOrInferred(std::string_view name) {
  if (const SslPolicy* p = FindSslPolicy(name)) return *p;
  auto has = [&](std::string_view part) { return name.find(part) != std::string_view::npos; };
  SslPolicy p;
  p.name = std::string(name);
  if (has("TLS13-1-3")) {
    p.protocols = {"TLSv1.3"};
  } else if (has("TLS13-1-2")) {
    p.protocols = {"TLSv1.3", "TLSv1.2"};
  } else if (has("TLS13-1-1")) {
    p.protocols = {"TLSv1.3", "TLSv1.2", "TLSv1.1"};
  } else if (has("TLS13-1-0")) {
    p.protocols = {"TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1"};
  } else if (has("TLS-1-2") || has("FS-1-2")) {
    p.protocols = {"TLSv1.2"};
  } else if (has("TLS-1-1") || has("FS-1-1")) {
    p.protocols = {"TLSv1.2", "TLSv1.1"};
  } else {
    p.protocols = {"TLSv1.2", "TLSv1.1", "TLSv1"};
  }
  return p;
}

const SslPolicy* FindSslPolicy(std::string_view name) {
  for (const auto& p : SslPolicies()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

}  // namespace kecs::model
