// ELBv2 listeners: CreateListener, DescribeListeners, ModifyListener, DeleteListener, their
// attributes and certificates; and the registration of every listener and rule operation.
//
// Each listener also gets a port on the host (Options::lb_port_first..lb_port_last, the
// lowest one no other listener holds and no other program has bound), kept in
// Listener::host_port for the data plane; users find it through the daemon's
// /_kecs/v1/load-balancers endpoint, not in the AWS shapes.
#include <algorithm>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "api/ecs/launch.h"
#include "api/elbv2/actions.h"
#include "api/elbv2/common.h"
#include "api/elbv2/listener_ops.h"
#include "api/pagination.h"
#include "net/kernel/host_ports.h"
#include "state/records/elb.h"

namespace kecs::api::elbv2 {

using model::LbProtocol;
using model::LbType;
using model::Listener;
using model::LoadBalancer;
namespace records = state::records;

void Elbv2Api::RegisterListenerOps(Service& service) {
  ListenerOps::Register(std::make_shared<ListenerOps>(store_, options_), service);
}

void ListenerOps::Register(const std::shared_ptr<ListenerOps>& self, Service& s) {
#define KECS_OP(name) s.Register(#name, [self](RequestContext& ctx, const Json& in) { return self->name(ctx, in); })
  KECS_OP(CreateListener);
  KECS_OP(DescribeListeners);
  KECS_OP(ModifyListener);
  KECS_OP(DeleteListener);
  KECS_OP(DescribeListenerAttributes);
  KECS_OP(ModifyListenerAttributes);
  KECS_OP(AddListenerCertificates);
  KECS_OP(RemoveListenerCertificates);
  KECS_OP(DescribeListenerCertificates);
  KECS_OP(CreateRule);
  KECS_OP(DescribeRules);
  KECS_OP(ModifyRule);
  KECS_OP(DeleteRule);
  KECS_OP(SetRulePriorities);
#undef KECS_OP
}

LoadBalancer LoadBalancerOf(state::Tx& tx, const Listener& l) {
  auto lb = Check(records::GetLoadBalancer(tx, l.region, l.load_balancer_id));
  if (!lb) Check(Internal(fmt::format("listener {} has no load balancer {}", l.id, l.load_balancer_id)));
  return std::move(*lb);
}

namespace {

// Limits: AWS's quotas for Application and Network Load Balancers ("Quotas for your
// Application Load Balancers": 50 listeners per load balancer, 25 certificates per load
// balancer not counting default certificates).
constexpr size_t kMaxListeners = 50;
constexpr size_t kMaxCertificates = 25;

// AWS's default when CreateListener names no policy: the API reference (CreateListener,
// SslPolicy) points to the guides, whose "Security policies" pages say listeners created
// through the API or CLI get ELBSecurityPolicy-2016-08 (the console's default is
// ELBSecurityPolicy-TLS13-1-2-2021-06).
constexpr const char* kDefaultSslPolicy = "ELBSecurityPolicy-2016-08";

bool Secure(LbProtocol p) { return p == LbProtocol::kHttps || p == LbProtocol::kTls; }

LbProtocol ParseProtocolFor(const LoadBalancer& lb, const std::string& text) {
  auto p = model::ParseLbProtocol(text);
  if (lb.type == LbType::kGateway) {
    throw ElbError("UnsupportedProtocol", "kecs does not run Gateway Load Balancers");
  }
  if (!p || *p == LbProtocol::kGeneve || *p == LbProtocol::kQuic || *p == LbProtocol::kTcpQuic) {
    // The model's documentation of UnsupportedProtocolException.
    throw ElbError("UnsupportedProtocol", "The specified protocol is not supported.");
  }
  // AWS's messages: "Listener protocol 'TCP' must be one of 'HTTP, HTTPS'" (alphagov/gsp
  // pull request 351, hashicorp/terraform issue 18126) and "Listener protocol 'HTTP' must
  // be one of 'TLS, TCP, TCP_UDP, UDP'" (pulumi/pulumi-aws issue 1193).
  if (lb.type == LbType::kApplication && *p != LbProtocol::kHttp && *p != LbProtocol::kHttps) {
    throw ValidationError(fmt::format("Listener protocol '{}' must be one of 'HTTP, HTTPS'", text));
  }
  if (lb.type == LbType::kNetwork &&
      (*p == LbProtocol::kHttp || *p == LbProtocol::kHttps)) {
    throw ValidationError(fmt::format("Listener protocol '{}' must be one of 'TLS, TCP, TCP_UDP, UDP'", text));
  }
  return *p;
}

// An ACM or IAM server certificate ARN. kecs does not look the certificate up in ACM or
// IAM: the data plane serves a certificate kecs generates for the load balancer (signed
// by the CA `kecs` exports), whatever ARN the listener names.
void CheckCertificateArn(const std::string& arn) {
  auto has = [&](std::string_view s) { return arn.find(s) != std::string::npos; };
  bool acm = has(":acm:") && has(":certificate/");
  bool iam = has(":iam::") && has(":server-certificate/");
  if (arn.rfind("arn:", 0) != 0 || !(acm || iam)) {
    // AWS's wording as users quote it ("CertificateNotFound: Certificate '<arn>' not found").
    throw ElbError("CertificateNotFound", fmt::format("Certificate '{}' not found", arn));
  }
}

// A plain (HTTP, TCP, UDP, TCP_UDP) listener takes no SSL policy and no certificate.
void RefuseTlsSettings(const Json& in, LbProtocol p) {
  const std::string word(model::ToString(p));
  if (JHas(in, "SslPolicy")) {
    // AWS's message, as the terraform-aws-netlb module's "Known Issues" table records it
    // ("An SSL policy cannot be specified for HTTP listeners." and "... for TCP listeners.").
    throw ValidationError(fmt::format("An SSL policy cannot be specified for {} listeners.", word));
  }
  const Json* certs = JGet(in, "Certificates");
  if (certs && certs->is_array() && !certs->empty()) {
    // Worded after the SSL policy message; no AWS source was found for it (kecs's).
    throw ValidationError(fmt::format("A certificate cannot be specified for {} listeners.", word));
  }
}

// The default certificate a CreateListener or ModifyListener gives ("exactly one", the API
// reference for Certificates).
std::optional<std::string> DefaultCertificate(const Json& in) {
  const Json* certs = JGet(in, "Certificates");
  if (!certs || !certs->is_array() || certs->empty()) return std::nullopt;
  if (certs->size() != 1) {
    // The API reference ("You must provide exactly one certificate"); kecs's wording.
    throw ValidationError("You must provide exactly one certificate for the listener");
  }
  std::string arn = JStr((*certs)[0], "CertificateArn");
  if (arn.empty()) throw ValidationError("A certificate ARN must be specified");
  CheckCertificateArn(arn);
  return arn;
}

void CheckSslPolicy(const std::string& name) {
  // AWS's predefined policies all are ELBSecurityPolicy-*. The data plane applies those
  // of kecs's table as DescribeSSLPolicies shows them, and for the others the TLS versions
  // their names give (model::SslPolicyOrInferred); there are no custom policies.
  if (name.rfind("ELBSecurityPolicy-", 0) != 0) {
    // AWS's message, as the terraform-aws-netlb module's "Known Issues" table records it.
    throw ElbError("SSLPolicyNotFound", fmt::format("SSL policy '{}' not found.", name));
  }
}

std::vector<std::string> ParseAlpn(const Json& in, LbProtocol protocol) {
  const Json* a = JGet(in, "AlpnPolicy");
  if (!a || !a->is_array() || a->empty()) return {};
  static const std::set<std::string> kPolicies = {"HTTP1Only", "HTTP2Only", "HTTP2Optional", "HTTP2Preferred",
                                                  "None"};
  if (protocol != LbProtocol::kTls) {
    // ALPN applies to TLS listeners only (API reference, AlpnPolicy); kecs's wording.
    throw ValidationError("An ALPN policy can be specified only for TLS listeners");
  }
  if (a->size() != 1 || !(*a)[0].is_string() || !kPolicies.count((*a)[0].get<std::string>())) {
    // ALPNPolicyNotSupportedException's code is ALPNPolicyNotFound (the model).
    throw ElbError("ALPNPolicyNotFound", "The specified ALPN policy is not supported.");
  }
  return {(*a)[0].get<std::string>()};
}

// The attributes AWS lists for a listener, with their defaults (API reference,
// ListenerAttribute): tcp.idle_timeout.seconds for NLB TCP, TLS and TCP_UDP listeners;
// the routing.http.* header settings for ALB listeners (the mTLS and TLS request headers
// for HTTPS ones).
model::KeyValues DefaultListenerAttributes(LbType type, LbProtocol p) {
  if (type == LbType::kNetwork) {
    if (p == LbProtocol::kUdp) return {};
    return {{"tcp.idle_timeout.seconds", "350"}};
  }
  model::KeyValues kv;
  if (p == LbProtocol::kHttps) {
    kv = {{"routing.http.request.x_amzn_mtls_clientcert_serial_number.header_name",
           "X-Amzn-Mtls-Clientcert-Serial-Number"},
          {"routing.http.request.x_amzn_mtls_clientcert_issuer.header_name", "X-Amzn-Mtls-Clientcert-Issuer"},
          {"routing.http.request.x_amzn_mtls_clientcert_subject.header_name", "X-Amzn-Mtls-Clientcert-Subject"},
          {"routing.http.request.x_amzn_mtls_clientcert_validity.header_name", "X-Amzn-Mtls-Clientcert-Validity"},
          {"routing.http.request.x_amzn_mtls_clientcert_leaf.header_name", "X-Amzn-Mtls-Clientcert-Leaf"},
          {"routing.http.request.x_amzn_mtls_clientcert.header_name", "X-Amzn-Mtls-Clientcert"},
          {"routing.http.request.x_amzn_tls_version.header_name", "X-Amzn-Tls-Version"},
          {"routing.http.request.x_amzn_tls_cipher_suite.header_name", "X-Amzn-Tls-Cipher-Suite"}};
  }
  for (const char* k : {"routing.http.response.server.enabled"}) kv.emplace_back(k, "true");
  for (const char* k : {"routing.http.response.strict_transport_security.header_value",
                        "routing.http.response.access_control_allow_origin.header_value",
                        "routing.http.response.access_control_allow_methods.header_value",
                        "routing.http.response.access_control_allow_headers.header_value",
                        "routing.http.response.access_control_allow_credentials.header_value",
                        "routing.http.response.access_control_expose_headers.header_value",
                        "routing.http.response.access_control_max_age.header_value",
                        "routing.http.response.content_security_policy.header_value",
                        "routing.http.response.x_content_type_options.header_value",
                        "routing.http.response.x_frame_options.header_value"}) {
    kv.emplace_back(k, "");
  }
  return kv;
}

// Keeps the values of `old` for the keys the new defaults still have.
model::KeyValues CarryAttributes(const model::KeyValues& old, model::KeyValues fresh) {
  for (auto& [k, v] : fresh) {
    if (const std::string* was = model::FindValue(old, k)) v = *was;
  }
  return fresh;
}

// A listener attribute value as AWS constrains it (API reference, ListenerAttribute); the
// refusals' wording is kecs's, since no AWS source for it was found.
void CheckAttribute(const model::KeyValues& known, const std::string& key, const std::string& value) {
  if (!model::FindValue(known, key)) {
    throw ValidationError(fmt::format("Attribute key '{}' is not recognized for this listener", key));
  }
  auto bad = [&](const char* why) {
    return ValidationError(fmt::format("Attribute '{}' value '{}' is not valid: {}", key, value, why));
  };
  if (key == "tcp.idle_timeout.seconds") {
    bool digits = !value.empty() && value.size() <= 5 &&
                  std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoi(value) < 60 || std::stoi(value) > 6000) throw bad("it must be 60-6000 seconds");
  } else if (key == "routing.http.response.server.enabled") {
    if (value != "true" && value != "false") throw bad("it must be true or false");
  } else if (key.size() > 12 && key.compare(key.size() - 12, 12, ".header_name") == 0) {
    bool token = !value.empty() && value.size() <= 40 && std::all_of(value.begin(), value.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    });
    if (!token) throw bad("it must be a header name of 1-40 letters, digits, '-' and '_'");
  } else if (value.size() > 1024) {
    throw bad("it must be at most 1024 characters");
  }
}

Json ListenersOut(const std::vector<Listener>& ls) {
  Json a = Json::array();
  for (const auto& l : ls) a.push_back(records::ListenerToAws(l));
  return a;
}

// Every host port a listener holds, in any region (host ports are the host's).
std::set<int> HeldHostPorts(state::Tx& tx) {
  state::Query q{model::kListener, ""};
  q.any_region = true;
  std::set<int> out;
  for (const auto& row : Check(tx.List(q))) {
    auto l = Check(records::DecodeListener(row));
    if (l.host_port) out.insert(l.host_port);
  }
  return out;
}

std::vector<std::string> SocketProtocols(LbProtocol p) {
  if (p == LbProtocol::kUdp) return {"udp"};
  if (p == LbProtocol::kTcpUdp) return {"tcp", "udp"};
  return {"tcp"};
}

// The same listener as `l` in what CreateListener can set (its idempotent retry).
bool SameListener(const Listener& a, const Listener& b) {
  return a.protocol == b.protocol && a.certificates == b.certificates && a.ssl_policy == b.ssl_policy &&
         a.alpn_policy == b.alpn_policy && a.default_actions == b.default_actions;
}

}  // namespace

void ListenerOps::WriteWithHostPort(
    const std::function<void(state::Tx&, const std::function<int(LbProtocol)>&)>& fn) {
  api::ecs::PortProbe::FreeFn free_fn = [this](const std::string& proto, int64_t port) {
    return options_.host_port_free ? options_.host_port_free(proto, static_cast<int>(port))
                                   : net::HostPortFree(proto, static_cast<int>(port));
  };
  const int first = options_.lb_port_first, last = options_.lb_port_last;
  constexpr int kAttempts = 4;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    std::set<api::ecs::HostPort> books;
    Check(store_.Read([&](state::Tx& tx) {
      for (int p : HeldHostPorts(tx)) {
        books.insert({"tcp", p});
        books.insert({"udp", p});
      }
      return Status::Ok();
    }));
    // A few free ports beyond this request's one, for requests that run between the probe
    // and the transaction; the last attempt probes the whole range.
    int want = attempt + 1 == kAttempts ? std::numeric_limits<int>::max() : 2 << attempt;
    auto probe = api::ecs::PortProbe::Gather({{"tcp", want}, {"udp", want}}, first, last, books, free_fn);
    try {
      Check(store_.Write([&](state::Tx& tx) {
        auto pick = [&](LbProtocol protocol) -> int {
          std::set<int> held = HeldHostPorts(tx);
          for (int port = first; port <= last; ++port) {
            if (held.count(port)) continue;
            bool free = true;
            for (const auto& proto : SocketProtocols(protocol)) {
              switch (probe.Ask(proto, port)) {
                case api::ecs::PortProbe::Answer::kFree: break;
                case api::ecs::PortProbe::Answer::kBusy: free = false; break;
                case api::ecs::PortProbe::Answer::kUnknown: throw api::ecs::NeedPortProbe{};
              }
            }
            if (free) return port;
          }
          // kecs's own limit (the host port range); ELBv2 has no such error.
          throw ElbError("InvalidConfigurationRequest",
                         fmt::format("No host port is free for the listener in kecs's listener port range {}-{}",
                                     first, last));
        };
        fn(tx, pick);
        return Status::Ok();
      }));
      return;
    } catch (const api::ecs::NeedPortProbe&) {
      continue;
    }
  }
  throw ElbError("InvalidConfigurationRequest", "No host port could be probed for the listener; try again");
}

Json ListenerOps::CreateListener(RequestContext& ctx, const Json& in) {
  const std::string lb_arn = JStr(in, "LoadBalancerArn");
  auto tags = records::KeyValuesFromAws(in.value("Tags", Json::array()));
  if (!tags.ok()) throw ValidationError(std::string(tags.status().message()));
  if (JHas(in, "MutualAuthentication")) {
    const Json& m = in["MutualAuthentication"];
    if (JStr(m, "Mode", "off") != "off") {
      // Documented limit: kecs does not verify client certificates (kecs's wording).
      throw ValidationError("Mutual TLS authentication is not supported by kecs");
    }
  }
  Json out;
  WriteWithHostPort([&](state::Tx& tx, const std::function<int(LbProtocol)>& pick_port) {
    LoadBalancer lb = RequireLoadBalancer(tx, ctx.region, lb_arn);
    std::string protocol_text = JStr(in, "Protocol");
    if (protocol_text.empty()) {
      // No AWS source was found for this wording (kecs's).
      throw ValidationError("A listener protocol must be specified");
    }
    Listener l;
    l.region = ctx.region;
    l.load_balancer_id = lb.id;
    l.load_balancer_arn = lb.arn;
    l.protocol = ParseProtocolFor(lb, protocol_text);
    auto port = JOptInt(in, "Port");
    if (!port) throw ValidationError("A listener port must be specified");  // kecs's wording
    l.port = static_cast<int>(*port);
    if (Secure(l.protocol)) {
      auto cert = DefaultCertificate(in);
      if (!cert) {
        // AWS's message ("ValidationError: A certificate must be specified for HTTPS
        // listeners", as the aws-load-balancer-controller and terraform users quote it).
        throw ValidationError(fmt::format("A certificate must be specified for {} listeners",
                                          std::string(model::ToString(l.protocol))));
      }
      l.certificates.push_back({*cert, true});
      l.ssl_policy = JStr(in, "SslPolicy", kDefaultSslPolicy);
      CheckSslPolicy(l.ssl_policy);
    } else {
      RefuseTlsSettings(in, l.protocol);
    }
    l.alpn_policy = ParseAlpn(in, l.protocol);
    ActionScope scope{&lb, l.protocol, "", ""};
    l.default_actions = ParseActions(tx, ctx.region, scope, in["DefaultActions"]);

    auto existing = Check(records::ListListeners(tx, ctx.region, lb.id));
    for (const auto& other : existing) {
      if (other.port != l.port) continue;
      // A retry of the same request gets the listener back (AWS's CreateListener is
      // idempotent: "If you attempt to create multiple listeners with the same settings,
      // each call succeeds", API reference).
      if (SameListener(other, l)) {
        out = {{"Listeners", ListenersOut({other})}};
        return;
      }
      // AWS's message as terraform users quote it ("A listener already exists on this port
      // for this load balancer 'arn:...'").
      throw ElbError("DuplicateListener",
                     fmt::format("A listener already exists on this port for this load balancer '{}'", lb.arn));
    }
    if (existing.size() >= kMaxListeners) {
      // The model's documentation of TooManyListenersException.
      throw ElbError("TooManyListeners", "You've reached the limit on the number of listeners per load balancer.");
    }
    l.id = model::NewElbId();
    l.arn = model::ListenerArn(lb, ctx.account_id, l.id);
    l.default_rule_id = model::NewElbId();
    l.attributes = DefaultListenerAttributes(lb.type, l.protocol);
    l.tags = std::move(tags).value();
    l.host_port = pick_port(l.protocol);
    Check(records::PutListener(tx, l));
    out = {{"Listeners", ListenersOut({l})}};
  });
  return out;
}

Json ListenerOps::DescribeListeners(RequestContext& ctx, const Json& in) {
  const Json* arns = JGet(in, "ListenerArns");
  const std::string lb_arn = JStr(in, "LoadBalancerArn");
  bool by_arns = arns && arns->is_array() && !arns->empty();
  if (by_arns && !lb_arn.empty()) {
    // No AWS source was found for this wording (kecs's).
    throw ValidationError("Listener ARNs and a load balancer ARN cannot be specified at the same time");
  }
  if (!by_arns && lb_arn.empty()) {
    // Moto's wording of AWS's refusal (moto ListenerOrBalancerMissingError).
    throw ValidationError("You must specify either listener ARNs or a load balancer ARN");
  }
  Json out = Json::object();
  Check(store_.Read([&](state::Tx& tx) {
    std::vector<Listener> ls;
    if (by_arns) {
      for (const auto& a : *arns) {
        Listener l = RequireListener(tx, ctx.region, a.is_string() ? a.get<std::string>() : "");
        if (std::none_of(ls.begin(), ls.end(), [&](const Listener& x) { return x.id == l.id; })) {
          ls.push_back(std::move(l));
        }
      }
      std::sort(ls.begin(), ls.end(), [](const Listener& a, const Listener& b) { return a.seq < b.seq; });
    } else {
      LoadBalancer lb = RequireLoadBalancer(tx, ctx.region, lb_arn);
      ls = Check(records::ListListeners(tx, ctx.region, lb.id));
    }
    std::vector<std::string> keys;
    for (const auto& l : ls) keys.push_back(SeqKey(l.seq));
    auto [b, e] = PageByMarker(keys, in, out);
    out["Listeners"] = ListenersOut(std::vector<Listener>(ls.begin() + b, ls.begin() + e));
    return Status::Ok();
  }));
  return out;
}

Json ListenerOps::ModifyListener(RequestContext& ctx, const Json& in) {
  const std::string arn = JStr(in, "ListenerArn");
  Json out;
  WriteWithHostPort([&](state::Tx& tx, const std::function<int(LbProtocol)>& pick_port) {
    Listener l = RequireListener(tx, ctx.region, arn);
    LoadBalancer lb = LoadBalancerOf(tx, l);
    const LbProtocol was = l.protocol;
    if (JHas(in, "Protocol")) l.protocol = ParseProtocolFor(lb, JStr(in, "Protocol"));
    if (auto port = JOptInt(in, "Port")) {
      l.port = static_cast<int>(*port);
      for (const auto& other : Check(records::ListListeners(tx, ctx.region, lb.id))) {
        if (other.id != l.id && other.port == l.port) {
          throw ElbError("DuplicateListener",
                         fmt::format("A listener already exists on this port for this load balancer '{}'", lb.arn));
        }
      }
    }
    if (Secure(l.protocol)) {
      if (auto cert = DefaultCertificate(in)) {
        std::erase_if(l.certificates, [&](const model::ListenerCertificate& c) { return c.is_default || c.arn == *cert; });
        l.certificates.insert(l.certificates.begin(), {*cert, true});
      }
      if (l.certificates.empty()) {
        throw ValidationError(fmt::format("A certificate must be specified for {} listeners",
                                          std::string(model::ToString(l.protocol))));
      }
      if (JHas(in, "SslPolicy")) l.ssl_policy = JStr(in, "SslPolicy");
      if (l.ssl_policy.empty()) l.ssl_policy = kDefaultSslPolicy;
      CheckSslPolicy(l.ssl_policy);
    } else {
      RefuseTlsSettings(in, l.protocol);
      // A listener that stops being secure loses its certificates and policy, as AWS's does.
      l.certificates.clear();
      l.ssl_policy.clear();
    }
    if (JHas(in, "AlpnPolicy")) {
      l.alpn_policy = ParseAlpn(in, l.protocol);
    } else if (l.protocol != LbProtocol::kTls) {
      l.alpn_policy.clear();
    }
    ActionScope scope{&lb, l.protocol, l.id, ""};
    if (JHas(in, "DefaultActions")) {
      l.default_actions = ParseActions(tx, ctx.region, scope, in["DefaultActions"]);
    } else if (l.protocol != was) {
      CheckActionsForProtocol(tx, ctx.region, scope, l.default_actions);
    }
    if (l.protocol != was) {
      for (const auto& r : Check(records::ListRules(tx, ctx.region, l.id))) {
        CheckActionsForProtocol(tx, ctx.region, ActionScope{&lb, l.protocol, l.id, r.id}, r.actions);
      }
      l.attributes = CarryAttributes(l.attributes, DefaultListenerAttributes(lb.type, l.protocol));
    }
    // The host port stays while the listener's sockets keep their protocols; a listener
    // that moves to (or from) UDP takes a port free for its new protocols.
    if (SocketProtocols(l.protocol) != SocketProtocols(was)) l.host_port = pick_port(l.protocol);
    Check(records::PutListener(tx, l));
    out = {{"Listeners", ListenersOut({l})}};
  });
  return out;
}

Json ListenerOps::DeleteListener(RequestContext& ctx, const Json& in) {
  const std::string arn = JStr(in, "ListenerArn");
  Check(store_.Write([&](state::Tx& tx) {
    Listener l = RequireListener(tx, ctx.region, arn);
    for (const auto& r : Check(records::ListRules(tx, ctx.region, l.id))) {
      Check(tx.Delete(model::kRule, ctx.region, r.id).status());
    }
    Check(tx.Delete(model::kListener, ctx.region, l.id).status());
    return Status::Ok();
  }));
  return Json::object();
}

Json ListenerOps::DescribeListenerAttributes(RequestContext& ctx, const Json& in) {
  const std::string arn = JStr(in, "ListenerArn");
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    Listener l = RequireListener(tx, ctx.region, arn);
    out = {{"Attributes", records::KeyValuesToAws(l.attributes)}};
    return Status::Ok();
  }));
  return out;
}

Json ListenerOps::ModifyListenerAttributes(RequestContext& ctx, const Json& in) {
  const std::string arn = JStr(in, "ListenerArn");
  auto given = records::KeyValuesFromAws(in.value("Attributes", Json::array()));
  if (!given.ok()) throw ValidationError(std::string(given.status().message()));
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    Listener l = RequireListener(tx, ctx.region, arn);
    for (const auto& [k, v] : *given) CheckAttribute(l.attributes, k, v);
    for (const auto& [k, v] : *given) model::SetValue(l.attributes, k, v);
    Check(records::PutListener(tx, l));
    out = {{"Attributes", records::KeyValuesToAws(l.attributes)}};
    return Status::Ok();
  }));
  return out;
}

namespace {
std::vector<std::string> CertificateArns(const Json& in) {
  std::vector<std::string> out;
  for (const auto& c : in.value("Certificates", Json::array())) {
    std::string arn = JStr(c, "CertificateArn");
    if (arn.empty()) throw ValidationError("A certificate ARN must be specified");
    out.push_back(std::move(arn));
  }
  return out;
}

Json CertificatesOut(const std::vector<model::ListenerCertificate>& certs) {
  Json a = Json::array();
  for (const auto& c : certs) a.push_back(Json{{"CertificateArn", c.arn}, {"IsDefault", c.is_default}});
  return a;
}
}  // namespace

Json ListenerOps::AddListenerCertificates(RequestContext& ctx, const Json& in) {
  const std::string arn = JStr(in, "ListenerArn");
  std::vector<std::string> arns = CertificateArns(in);
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    Listener l = RequireListener(tx, ctx.region, arn);
    if (!Secure(l.protocol)) {
      // No AWS source was found for this wording (kecs's).
      throw ValidationError("Certificates can be added only to HTTPS and TLS listeners");
    }
    std::vector<model::ListenerCertificate> added;
    for (const auto& a : arns) {
      CheckCertificateArn(a);
      if (std::none_of(l.certificates.begin(), l.certificates.end(),
                       [&](const model::ListenerCertificate& c) { return c.arn == a; })) {
        l.certificates.push_back({a, false});
      }
      added.push_back({a, false});
    }
    size_t extra = std::count_if(l.certificates.begin(), l.certificates.end(),
                                 [](const model::ListenerCertificate& c) { return !c.is_default; });
    if (extra > kMaxCertificates) {
      // The model's documentation of TooManyCertificatesException.
      throw ElbError("TooManyCertificates",
                     "You've reached the limit on the number of certificates per load balancer.");
    }
    Check(records::PutListener(tx, l));
    out = {{"Certificates", CertificatesOut(added)}};
    return Status::Ok();
  }));
  return out;
}

Json ListenerOps::RemoveListenerCertificates(RequestContext& ctx, const Json& in) {
  const std::string arn = JStr(in, "ListenerArn");
  std::vector<std::string> arns = CertificateArns(in);
  Check(store_.Write([&](state::Tx& tx) {
    Listener l = RequireListener(tx, ctx.region, arn);
    for (const auto& a : arns) {
      for (const auto& c : l.certificates) {
        if (c.arn == a && c.is_default) {
          // The API reference: "You can't remove the default certificate"; kecs's wording.
          throw ElbError("OperationNotPermitted", fmt::format("The default certificate '{}' cannot be removed", a));
        }
      }
    }
    std::erase_if(l.certificates, [&](const model::ListenerCertificate& c) {
      return std::find(arns.begin(), arns.end(), c.arn) != arns.end();
    });
    Check(records::PutListener(tx, l));
    return Status::Ok();
  }));
  return Json::object();
}

Json ListenerOps::DescribeListenerCertificates(RequestContext& ctx, const Json& in) {
  const std::string arn = JStr(in, "ListenerArn");
  Json out = Json::object();
  Check(store_.Read([&](state::Tx& tx) {
    Listener l = RequireListener(tx, ctx.region, arn);
    // Keyed by position: the default first, then the others as added.
    std::vector<std::string> keys;
    for (size_t i = 0; i < l.certificates.size(); ++i) keys.push_back(fmt::format("{:06d}", i));
    auto [b, e] = PageByMarker(keys, in, out);
    out["Certificates"] = CertificatesOut({l.certificates.begin() + b, l.certificates.begin() + e});
    return Status::Ok();
  }));
  return out;
}

}  // namespace kecs::api::elbv2
