// RenderHaproxyConfig and AssignSlots (lb_proxy.h): a load balancer as haproxy.cfg.
//
// Layout (names are HAProxy's proxy names):
//   ft_<listener id>_n<i>    one frontend per listener per node, bound on the node's
//                            address inside the node's namespace (ALB only)
//   bk_<group id>_n<i>       the group's targets as seen from node i, health-checked with
//                            the group's settings (both ALB and NLB: for an NLB these only
//                            run the checks, the kernel forwards)
//   bk_<group id>_n<i>_all   the same targets without checks (ALB): the fail-open backend,
//                            used when no server of bk_<group id>_n<i> is up
//
// Routing (AWS's listener rules): each rule, in priority order, is a set of ACLs (values
// of one condition ORed as several `acl` lines of one name, conditions ANDed on the rule's
// line), and its action is guarded by `!routed` so the first matching rule wins:
//   forward          `set-var(txn.kecs_tg)` to the group id; a weighted forward (a list of
//                    groups) draws rand(kWeightScale) and looks the group up in its own
//                    weight map (WeightMapPath), so new weights need no reload
//   redirect         `http-request redirect location ...`
//   fixed-response   `http-request return ...`
// The listener's default actions come last. X-Forwarded-* are set after the rules (a rule
// sees the request as the client sent it), then `use_backend` picks the group's backend.
//
// Errors as an ALB gives them: a group with no target to send to answers 503; a target
// that refuses or drops the connection gives 502 at once (`retries 0`: no retry, so no
// one-second turn-around either); one that does not answer in time gives 504 (HAProxy's
// own). A response a target sent is passed on as it is, 503 included.
#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/strings.h"
#include "model/ssl_policies.h"
#include "runtime/local/lb_network.h"
#include "runtime/local/lb_proxy.h"

namespace kecs::runtime::local {
namespace {

using model::ActionType;
using model::LbProtocol;

constexpr size_t kSlotGranule = 8;
constexpr size_t kMinFreeSlots = 4;

// The bodies of an ALB's own 502 and 503 responses (the markup ALBs answer with).
constexpr const char* kBody502 =
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>"
    "\r\n</body>\r\n</html>\r\n";
constexpr const char* kBody503 =
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 "
    "Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n";

// One character inside a double-quoted word of haproxy.cfg: `"`, `\` and `$` escaped
// (HAProxy expands environment variables in double quotes), control characters as \xNN.
void AppendQuotedChar(std::string& out, unsigned char c) {
  if (c == '"' || c == '\\' || c == '$') {
    out += '\\';
    out += static_cast<char>(c);
  } else if (c < 0x20 || c == 0x7f) {
    out += fmt::format("\\x{:02x}", c);
  } else {
    out += static_cast<char>(c);
  }
}

// A word of haproxy.cfg: single-quoted (no escapes, no environment expansion) unless it
// holds a quote or a control character, then double-quoted.
std::string Quote(std::string_view s) {
  bool plain = s.find('\'') == std::string_view::npos;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) plain = false;
  }
  if (plain) return "'" + std::string(s) + "'";
  std::string out = "\"";
  for (unsigned char c : s) AppendQuotedChar(out, c);
  return out + "\"";
}

// Literal text inside a double-quoted log-format string (`%` doubled); the caller adds
// `%[...]` expressions itself.
std::string LogFormatLiteral(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '%') {
      out += "%%";
    } else {
      AppendQuotedChar(out, c);
    }
  }
  return out;
}

// AWS's wildcard pattern (`*` any run, `?` one character, `\*` and `\?` literal) as an
// anchored PCRE. `star` is what `*` matches (".*", or "[^&]*" inside a query string).
std::string WildcardRegex(std::string_view pattern, std::string_view star = ".*", std::string_view one = ".") {
  std::string re = "^";
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size() && (pattern[i + 1] == '*' || pattern[i + 1] == '?')) {
      re += '\\';
      re += pattern[++i];
    } else if (c == '*') {
      re += star;
    } else if (c == '?') {
      re += one;
    } else if (std::string_view(".^$|()[]{}+\\").find(c) != std::string_view::npos) {
      re += '\\';
      re += c;
    } else {
      re += c;
    }
  }
  return re + "$";
}

std::string_view Scheme(LbProtocol p) { return p == LbProtocol::kHttps ? "https" : "http"; }

bool IsHttp(LbProtocol p) { return p == LbProtocol::kHttp || p == LbProtocol::kHttps; }

std::string NodeSuffix(size_t node) { return fmt::format("_n{}", node); }

std::string BackendName(const std::string& tg_id, size_t node) { return "bk_" + tg_id + NodeSuffix(node); }

// The ACL lines of one condition, all named `name`.
std::vector<std::string> ConditionAcls(const model::RuleCondition& c, const std::string& name) {
  std::vector<std::string> lines;
  auto patterns = [&](std::string_view star, std::string_view one) {
    std::string out;
    for (const auto& v : c.values) out += " " + Quote(WildcardRegex(v, star, one));
    return out;
  };
  if (c.field == "path-pattern") {
    // Case-sensitive, on the path without the query string.
    lines.push_back(fmt::format("acl {} path -m reg{}", name, patterns(".*", ".")));
  } else if (c.field == "host-header") {
    // Case-insensitive; the port, if any, is not part of the match.
    lines.push_back(fmt::format("acl {} req.hdr(host),field(1,:) -m reg -i{}", name, patterns(".*", ".")));
  } else if (c.field == "http-header") {
    // The header's name is case-insensitive (HAProxy's header fetches are); its value is
    // matched whole (req.fhdr: no splitting at commas), case-insensitive.
    lines.push_back(fmt::format("acl {} {} -m reg -i{}", name, Quote("req.fhdr(" + c.header_name + ")"),
                                patterns(".*", ".")));
  } else if (c.field == "http-request-method") {
    std::string values;
    for (const auto& v : c.values) values += " " + Quote(v);
    lines.push_back(fmt::format("acl {} method -m str{}", name, values));
  } else if (c.field == "source-ip") {
    std::string values;
    for (const auto& v : c.values) values += " " + Quote(v);
    lines.push_back(fmt::format("acl {} src{}", name, values));
  } else if (c.field == "query-string") {
    // Key/value pairs, URL-decoded and case-insensitive (CloudFormation's QueryStringConfig:
    // "The comparison is case insensitive"); an empty key matches any key, and a value
    // given without a key matches a parameter without one too.
    for (const auto& [key, value] : c.query) {
      std::string v = WildcardRegex(value, "[^&]*", "[^&]");
      v = v.substr(1, v.size() - 2);
      std::string k;
      if (key.empty()) {
        k = "([^&=]*=)?";
      } else {
        k = WildcardRegex(key, "[^&=]*", "[^&=]");
        k = k.substr(1, k.size() - 2) + "=";
      }
      lines.push_back(
          fmt::format("acl {} query,url_dec -m reg -i {}", name, Quote("(^|&)" + k + v + "(&|$)")));
    }
    if (c.query.empty()) lines.push_back(fmt::format("acl {} always_false", name));
  } else {
    // A field this data plane does not know never matches.
    lines.push_back(fmt::format("acl {} always_false", name));
  }
  return lines;
}

// The terminal action of a rule (forward, redirect or fixed-response; authenticate-*
// actions before it are not run by this data plane).
const model::Action* TerminalAction(const std::vector<model::Action>& actions) {
  const model::Action* best = nullptr;
  for (const auto& a : actions) {
    if (a.type != ActionType::kForward && a.type != ActionType::kRedirect && a.type != ActionType::kFixedResponse) {
      continue;
    }
    if (!best || a.order.value_or(0) >= best->order.value_or(0)) best = &a;
  }
  return best;
}

// (group id, weight) of a forward action.
std::vector<std::pair<std::string, int>> ForwardGroups(const model::Action& a) {
  std::vector<std::pair<std::string, int>> out;
  if (!a.forward.empty()) {
    for (const auto& w : a.forward) out.emplace_back(model::IdFromArn(w.target_group_arn, "targetgroup"), w.weight);
  } else if (!a.target_group_arn.empty()) {
    out.emplace_back(model::IdFromArn(a.target_group_arn, "targetgroup"), 1);
  }
  return out;
}

// Expands a redirect template part: `#{protocol}`, `#{host}`, `#{port}`, `#{path}` and
// `#{query}` become their values (static ones as text, request ones as `%[...]`).
std::string ExpandTemplate(std::string_view tmpl, const LbListenerSpec& l) {
  static const std::pair<std::string_view, std::string_view> kDynamic[] = {
      {"#{host}", "%[req.hdr(host),field(1,:)]"},
      {"#{path}", "%[path,bytes(1)]"},  // AWS's #{path} has no leading "/"
      {"#{query}", "%[query]"},
  };
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    bool done = false;
    if (tmpl.substr(i).starts_with("#{protocol}")) {
      out += Scheme(l.protocol);
      i += 11;
      done = true;
    } else if (tmpl.substr(i).starts_with("#{port}")) {
      out += std::to_string(l.port);
      i += 7;
      done = true;
    }
    for (const auto& [key, fetch] : kDynamic) {
      if (!done && tmpl.substr(i).starts_with(key)) {
        out += fetch;
        i += key.size();
        done = true;
      }
    }
    if (!done) out += LogFormatLiteral(tmpl.substr(i++, 1));
  }
  return out;
}

// The bind options that apply a listener's SSL policy (model/ssl_policies.h): its TLS
// versions and ciphers, in AWS's priority order. OpenSSL 3 refuses TLS 1.0 and 1.1 at its
// default security level, so a policy that allows them lowers it (@SECLEVEL=0), as the
// policy asks.
std::string SslPolicyOptions(const std::string& name) {
  const model::SslPolicy p = model::SslPolicyOrInferred(name.empty() ? "ELBSecurityPolicy-2016-08" : name);
  auto version = [](const std::string& v) { return v == "TLSv1" ? std::string("TLSv1.0") : v; };
  std::string out = " ssl-min-ver " + version(p.protocols.back()) + " ssl-max-ver " + version(p.protocols.front());
  std::vector<std::string> tls12, tls13;
  for (const auto& c : p.ciphers) (c.rfind("TLS_", 0) == 0 ? tls13 : tls12).push_back(c);
  bool legacy = std::any_of(p.protocols.begin(), p.protocols.end(),
                            [](const std::string& v) { return v == "TLSv1" || v == "TLSv1.1"; });
  if (!tls12.empty()) out += " ciphers " + fmt::format("{}", fmt::join(tls12, ":")) + (legacy ? ":@SECLEVEL=0" : "");
  if (!tls13.empty()) out += " ciphersuites " + fmt::format("{}", fmt::join(tls13, ":"));
  return out;
}

struct FrontendWriter {
  const LoadBalancerSpec& lb;
  const LbListenerSpec& listener;
  std::ostringstream& out;
  const std::string& state_dir;
  std::set<std::string> groups;  // forwarded-to group ids, for use_backend

  bool HasGroup(const std::string& id) const {
    return std::any_of(lb.target_groups.begin(), lb.target_groups.end(),
                       [&](const LbTargetGroupSpec& tg) { return !id.empty() && tg.id == id; });
  }

  // `rule_id` names the rule ("" for the listener's default actions).
  void Action(const model::Action* a, const std::string& cond, const std::string& rule_id) {
    std::string guard = "!routed" + cond;
    if (!a) {
      out << "  http-request return status 503 if " << guard << "\n";
      return;
    }
    if (a->type == ActionType::kForward && !a->forward.empty()) {
      // Weighted: the group comes from the rule's weight map (RenderWeightMaps); every
      // group it names has its use_backend lines, weight 0 included, so that new weights
      // are only a new map. No group (all weights 0): the var stays unset, so 503.
      for (const auto& [id, w] : ForwardGroups(*a)) {
        if (HasGroup(id)) groups.insert(id);
      }
      out << "  http-request set-var(txn.kecs_tg) rand(" << kWeightScale << "),map_int("
          << WeightMapPath(state_dir, listener.id, rule_id) << ") if " << guard << "\n";
      out << "  http-request return status 503 if " << guard << "\n";
    } else if (a->type == ActionType::kForward) {
      auto chosen = ForwardGroups(*a);
      if (chosen.empty() || !HasGroup(chosen[0].first)) {
        out << "  http-request return status 503 if " << guard << "\n";
        return;
      }
      groups.insert(chosen[0].first);
      out << "  http-request set-var(txn.kecs_tg) str(" << chosen[0].first << ") if " << guard << "\n";
    } else if (a->type == ActionType::kRedirect) {
      std::string proto = ToLower(ExpandTemplate(a->redirect_protocol, listener));
      std::string port = ExpandTemplate(a->redirect_port, listener);
      // The port is written even when it is the scheme's default, as AWS does (users ask
      // how to stop ":443" being added: kubernetes-sigs/aws-load-balancer-controller#487).
      std::string base = proto + "://" + ExpandTemplate(a->redirect_host, listener) + ":" + port;
      base += ExpandTemplate(a->redirect_path, listener);
      std::string code = a->redirect_status == "HTTP_301" ? "301" : "302";
      if (a->redirect_query == "#{query}") {
        // "?" only when the request has a query.
        out << "  http-request redirect location \"" << base << "?%[query]\" code " << code << " if " << guard
            << " { query -m len gt 0 }\n";
        out << "  http-request redirect location \"" << base << "\" code " << code << " if " << guard << "\n";
      } else {
        std::string query = ExpandTemplate(a->redirect_query, listener);
        out << "  http-request redirect location \"" << base << (query.empty() ? "" : "?" + query) << "\" code "
            << code << " if " << guard << "\n";
      }
    } else {
      int status = std::atoi(a->fixed_status.c_str());
      out << "  http-request return status " << (status >= 200 && status <= 599 ? status : 503);
      if (a->fixed_body) {
        // AWS's default content type is text/plain.
        out << " content-type " << Quote(a->fixed_content_type.value_or("text/plain")) << " string "
            << Quote(*a->fixed_body);
      } else if (a->fixed_content_type) {
        out << " content-type " << Quote(*a->fixed_content_type);
      }
      out << " if " << guard << "\n";
    }
  }

  void Write(size_t node, const std::string& netns, const ProxyInputs& in) {
    const LbNodeSpec& n = lb.nodes[node];
    out << "\nfrontend ft_" << listener.id << NodeSuffix(node) << "\n";
    out << "  mode http\n";
    out << "  bind " << n.ip << ":" << listener.port;
    if (listener.protocol == LbProtocol::kHttps) {
      out << " ssl crt " << Quote(in.certificate_pem_path) << (lb.http2 ? " alpn h2,http/1.1" : " alpn http/1.1")
          << SslPolicyOptions(listener.ssl_policy);
    }
    if (!netns.empty()) out << " namespace " << netns;
    out << "\n";
    out << "  acl routed var(txn.kecs_tg) -m found\n";
    // routing.http.drop_invalid_header_fields: ELB accepts header names of letters,
    // digits and hyphens only; the others are removed before any rule sees them.
    if (lb.drop_invalid_header_fields) out << "  http-request del-header [^-A-Za-z0-9] -m reg\n";
    size_t r = 0;
    for (const auto& rule : listener.rules) {
      ++r;
      out << "  # rule " << rule.id << " (priority " << rule.priority << ")\n";
      std::string cond;
      size_t c = 0;
      for (const auto& condition : rule.conditions) {
        std::string name = fmt::format("r{}c{}", r, ++c);
        for (const auto& line : ConditionAcls(condition, name)) out << "  " << line << "\n";
        cond += " " + name;
      }
      Action(TerminalAction(rule.actions), cond, rule.id);
    }
    out << "  # default actions\n";
    Action(TerminalAction(listener.default_actions), "", "");
    // X-Forwarded-* (AWS's routing.http.xff_header_processing.mode).
    std::string client = lb.xff_client_port ? "%[src]:%[src_port]" : "%[src]";
    if (lb.xff_mode == "append") {
      out << "  http-request set-header X-Forwarded-For \"%[req.fhdr(x-forwarded-for)], " << client
          << "\" if { req.fhdr(x-forwarded-for) -m found }\n";
      out << "  http-request set-header X-Forwarded-For \"" << client
          << "\" unless { req.fhdr(x-forwarded-for) -m found }\n";
    } else if (lb.xff_mode == "remove") {
      out << "  http-request del-header X-Forwarded-For\n";
    }
    out << "  http-request set-header X-Forwarded-Proto " << Scheme(listener.protocol) << "\n";
    out << "  http-request set-header X-Forwarded-Port " << listener.port << "\n";
    // Without routing.http.preserve_host_header, an ALB appends a listener port other than
    // the scheme's own to a Host header that names none ("Host: example.com" reaches the
    // target as "example.com:8443"); with it, the header goes as the client sent it.
    const int scheme_port = listener.protocol == LbProtocol::kHttps ? 443 : 80;
    if (!lb.preserve_host_header && listener.port != scheme_port) {
      out << "  http-request set-header Host \"%[req.hdr(host)]:" << listener.port
          << "\" if { req.hdr(host) -m found } !{ req.hdr(host) -m reg :[0-9]+$ }\n";
    }
    for (const auto& g : groups) {
      // No target to send to, even failing open (none registered, or all draining).
      out << "  http-request return status 503 content-type text/html string " << Quote(kBody503)
          << " if { var(txn.kecs_tg) -m str " << g << " } { nbsrv(" << BackendName(g, node) << "_all) eq 0 }\n";
    }
    for (const auto& g : groups) {
      std::string be = BackendName(g, node);
      out << "  use_backend " << be << " if { var(txn.kecs_tg) -m str " << g << " } { nbsrv(" << be << ") gt 0 }\n";
      out << "  use_backend " << be << "_all if { var(txn.kecs_tg) -m str " << g << " }\n";
    }
  }
};

// `200`, `200,202`, `200-299` as an `http-check expect` line.
std::string ExpectLine(const std::string& matcher) {
  std::string m = matcher.empty() ? "200" : matcher;
  std::set<int> codes;
  for (const auto& part : Split(m, ',')) {
    std::string p(Trim(part));
    auto dash = p.find('-');
    int lo = std::atoi(p.substr(0, dash).c_str());
    int hi = dash == std::string::npos ? lo : std::atoi(p.substr(dash + 1).c_str());
    for (int c = std::max(lo, 100); c <= std::min(hi, 599); ++c) codes.insert(c);
  }
  if (codes.empty()) codes.insert(200);
  if (codes.size() == 1) return fmt::format("http-check expect status {}", *codes.begin());
  // Compress: a full hundred becomes "2[0-9][0-9]", a full ten "20[0-9]".
  auto all = [&](int from, int count) {
    for (int c = from; c < from + count; ++c) {
      if (!codes.count(c)) return false;
    }
    return true;
  };
  std::vector<std::string> alts;
  for (int h = 1; h <= 5; ++h) {
    if (all(h * 100, 100)) {
      alts.push_back(fmt::format("{}[0-9][0-9]", h));
      continue;
    }
    for (int t = h * 10; t < h * 10 + 10; ++t) {
      if (all(t * 10, 10)) {
        alts.push_back(fmt::format("{}[0-9]", t));
        continue;
      }
      for (int c = t * 10; c < t * 10 + 10; ++c) {
        if (codes.count(c)) alts.push_back(std::to_string(c));
      }
    }
  }
  return "http-check expect rstatus " + Quote("^(" + Join(alts, "|") + ")$");
}

void WriteBackend(std::ostringstream& out, const LoadBalancerSpec& lb, const LbTargetGroupSpec& tg, size_t node,
                  const std::string& netns, const std::vector<std::string>& slots, bool checked) {
  const model::TargetHealthCheck& hc = tg.health_check;
  bool alb = lb.type == model::LbType::kApplication;
  out << "\nbackend " << BackendName(tg.id, node) << (checked ? "" : "_all") << "\n";
  out << "  mode " << (alb ? "http" : "tcp") << "\n";
  out << "  balance " << (tg.algorithm == "least_outstanding_requests" ? "leastconn" : "roundrobin") << "\n";
  if (alb && tg.stickiness && tg.stickiness_type == "lb_cookie") {
    // Dynamic cookies: the value is a hash of the server's address and port with the key,
    // so a slot pointed at a new target at run time gets its own, and every node's
    // backends (checked or not) agree.
    out << "  cookie AWSALB insert indirect nocache dynamic maxlife " << tg.stickiness_duration_s << "s\n";
    out << "  dynamic-cookie-key " << tg.id << "\n";
  }
  if (alb) {
    // HAProxy's own 503 here is a failed connection to the target: an ALB's 502. A
    // response from the target (it sets kecs_served) keeps its status.
    out << "  retries 0\n";
    out << "  http-response set-var(txn.kecs_served) bool(1)\n";
    out << "  http-error status 503 content-type text/html string " << Quote(kBody502) << "\n";
    out << "  http-after-response set-status 502 reason \"Bad Gateway\" if { status 503 } !{ var(txn.kecs_served) -m found }\n";
  }
  bool check = checked && hc.enabled;
  if (check) {
    if (IsHttp(hc.protocol)) {
      out << "  option httpchk\n";
      out << "  http-check send meth GET uri " << Quote(hc.path.empty() ? "/" : hc.path)
          << " ver HTTP/1.0 hdr User-Agent ELB-HealthChecker/2.0\n";
      out << "  " << ExpectLine(hc.matcher_http) << "\n";
    }
    out << "  timeout check " << hc.timeout_s << "s\n";
  }
  std::string options;
  const bool tls_to_target = tg.protocol == LbProtocol::kHttps || tg.protocol == LbProtocol::kTls;
  if (tls_to_target) options += " ssl verify none";
  if ((tg.protocol_version == "HTTP2" || tg.protocol_version == "GRPC") && alb) {
    options += tg.protocol == LbProtocol::kHttps ? " alpn h2" : " proto h2";
  }
  if (check) {
    options += " check";
    if (hc.port != "traffic-port" && !hc.port.empty()) options += " port " + hc.port;
    if (hc.protocol == LbProtocol::kHttps && tg.protocol != LbProtocol::kHttps) options += " check-ssl verify none";
    if (hc.protocol != LbProtocol::kHttps && tls_to_target) options += " no-check-ssl";
    options += fmt::format(" inter {}s rise {} fall {}", hc.interval_s, hc.healthy_threshold, hc.unhealthy_threshold);
  }
  if (tg.slow_start_s > 0 && checked) options += fmt::format(" slowstart {}s", tg.slow_start_s);
  if (!netns.empty()) options += " namespace " + netns;
  for (size_t k = 0; k < slots.size(); ++k) {
    const LbTargetSpec* target = nullptr;
    for (const auto& t : tg.targets) {
      if (!slots[k].empty() && SlotKey(t) == slots[k]) target = &t;
    }
    out << "  server s" << (k + 1) << " ";
    if (!target) {
      out << "0.0.0.0:0 disabled";
    } else {
      out << slots[k];
      // Draining: no new requests (the runtime API sets the `drain` state; weight 0 is
      // the same from the configuration).
      if (target->draining) out << " weight 0";
    }
    out << options << "\n";
  }
}

}  // namespace

std::string SlotKey(const LbTargetSpec& t) {
  bool v6 = t.address.find(':') != std::string::npos;
  return (v6 ? "[" + t.address + "]" : t.address) + ":" + std::to_string(t.port);
}

ServerSlots AssignSlots(const LoadBalancerSpec& lb, const ServerSlots& previous) {
  ServerSlots out;
  for (const auto& tg : lb.target_groups) {
    std::vector<std::string> keys;
    for (const auto& t : tg.targets) {
      std::string k = SlotKey(t);
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    }
    std::vector<std::string> slots;
    auto prev = previous.find(tg.id);
    if (prev != previous.end()) {
      for (const auto& k : prev->second) {
        slots.push_back(std::find(keys.begin(), keys.end(), k) != keys.end() ? k : "");
      }
    }
    std::vector<std::string> fresh;
    for (const auto& k : keys) {
      if (std::find(slots.begin(), slots.end(), k) == slots.end()) fresh.push_back(k);
    }
    size_t free = static_cast<size_t>(std::count(slots.begin(), slots.end(), std::string()));
    if (fresh.size() > free || slots.empty()) {
      size_t want = keys.size() + kMinFreeSlots;
      slots.resize(std::max(slots.size(), (want + kSlotGranule - 1) / kSlotGranule * kSlotGranule));
    }
    size_t next = 0;
    for (const auto& k : fresh) {
      while (!slots[next].empty()) ++next;
      slots[next] = k;
    }
    out[tg.id] = std::move(slots);
  }
  return out;
}

std::string WeightMapPath(const std::string& state_dir, const std::string& listener_id, const std::string& rule_id) {
  return state_dir + "/w_" + listener_id + "_" + (rule_id.empty() ? std::string("default") : rule_id) + ".map";
}

std::map<std::string, std::string> RenderWeightMaps(const LoadBalancerSpec& lb, const std::string& state_dir) {
  std::map<std::string, std::string> maps;
  if (lb.type != model::LbType::kApplication) return maps;
  std::set<std::string> known;
  for (const auto& tg : lb.target_groups) known.insert(tg.id);
  auto add = [&](const std::vector<model::Action>& actions, const std::string& listener_id,
                 const std::string& rule_id) {
    const model::Action* a = TerminalAction(actions);
    if (!a || a->type != ActionType::kForward || a->forward.empty()) return;
    std::vector<std::pair<std::string, int64_t>> chosen;
    int64_t total = 0;
    for (const auto& [id, w] : ForwardGroups(*a)) {
      if (w <= 0 || !known.count(id)) continue;  // weight 0 is never chosen
      chosen.emplace_back(id, w);
      total += w;
    }
    // Each group takes its share of [0, kWeightScale) as a range "<lo>:<hi>" (map_int
    // matches an integer against ranges); nothing when every weight is 0.
    std::string text;
    int64_t cumulative = 0, lo = 0;
    for (const auto& [id, w] : chosen) {
      cumulative += w;
      int64_t hi = cumulative * kWeightScale / total;  // exclusive
      if (hi > lo) text += fmt::format("{}:{} {}\n", lo, hi - 1, id);
      lo = hi;
    }
    maps[WeightMapPath(state_dir, listener_id, rule_id)] = text;
  };
  for (const auto& l : lb.listeners) {
    for (const auto& rule : l.rules) add(rule.actions, l.id, rule.id);
    add(l.default_actions, l.id, "");
  }
  return maps;
}

std::string RenderHaproxyConfig(const LoadBalancerSpec& lb, const ProxyInputs& in, const std::string& state_dir) {
  return RenderHaproxyConfig(lb, in, state_dir, AssignSlots(lb, {}));
}

namespace {

// A network load balancer's TLS listener on one node: HAProxy terminates TLS (with the
// listener's SSL policy) and forwards the stream over TCP, or TLS for a TLS target group,
// to the group's targets in rotation, failing open like an ALB. The kernel's forwarding
// does not carry TLS listeners (lb_network.h).
void WriteTlsFrontend(std::ostringstream& out, const LoadBalancerSpec& lb, const LbListenerSpec& l, size_t node,
                      const std::string& netns, const ProxyInputs& in) {
  out << "\nfrontend ft_" << l.id << NodeSuffix(node) << "\n";
  out << "  mode tcp\n";
  out << "  bind " << lb.nodes[node].ip << ":" << l.port << " ssl crt " << Quote(in.certificate_pem_path)
      << SslPolicyOptions(l.ssl_policy);
  if (!netns.empty()) out << " namespace " << netns;
  out << "\n";
  const LbTargetGroupSpec* g = ForwardGroup(lb, l);
  if (!g) {
    out << "  tcp-request connection reject\n";
    return;
  }
  std::string be = BackendName(g->id, node);
  out << "  use_backend " << be << " if { nbsrv(" << be << ") gt 0 }\n";
  out << "  default_backend " << be << "_all\n";
}

}  // namespace

std::set<std::string> ProxiedGroups(const LoadBalancerSpec& lb) {
  std::set<std::string> out;
  if (lb.type == model::LbType::kApplication) {
    for (const auto& tg : lb.target_groups) out.insert(tg.id);
    return out;
  }
  for (const auto& l : lb.listeners) {
    if (l.protocol != LbProtocol::kTls) continue;
    if (const LbTargetGroupSpec* g = ForwardGroup(lb, l)) out.insert(g->id);
  }
  return out;
}

std::string RenderHaproxyConfig(const LoadBalancerSpec& lb, const ProxyInputs& in, const std::string& state_dir,
                                const ServerSlots& slots) {
  bool alb = lb.type == model::LbType::kApplication;
  int drain = 30;
  for (const auto& tg : lb.target_groups) drain = std::max(drain, tg.deregistration_delay_s);
  std::ostringstream out;
  out << "# kecs: load balancer " << lb.name << " (" << lb.id << "), " << model::ToString(lb.type)
      << ". Generated; kecs rewrites it.\n";
  if (!in.certificate_fingerprint.empty()) out << "# certificate sha256 " << in.certificate_fingerprint << "\n";
  out << "global\n";
  out << "  master-worker\n";
  out << "  nbthread 1\n";
  out << "  pidfile " << state_dir << "/haproxy.pid\n";
  out << "  stats socket " << state_dir << "/admin.sock mode 600 level admin\n";
  out << "  server-state-file " << state_dir << "/servers.state\n";
  // An old worker (after a reload) finishes its connections for at most the longest
  // deregistration delay.
  out << "  hard-stop-after " << drain << "s\n";
  out << "\ndefaults\n";
  out << "  mode " << (alb ? "http" : "tcp") << "\n";
  out << "  timeout connect 10s\n";
  out << "  timeout client " << lb.idle_timeout_s << "s\n";
  out << "  timeout server " << lb.idle_timeout_s << "s\n";
  if (alb) out << "  timeout http-keep-alive " << lb.idle_timeout_s << "s\n";
  out << "  load-server-state-from-file global\n";
  auto netns = [&](size_t node) { return node < in.node_netns.size() ? in.node_netns[node] : std::string(); };
  for (const auto& l : lb.listeners) {
    for (size_t node = 0; node < lb.nodes.size(); ++node) {
      if (alb) {
        FrontendWriter w{lb, l, out, state_dir, {}};
        w.Write(node, netns(node), in);
      } else if (l.protocol == LbProtocol::kTls) {
        WriteTlsFrontend(out, lb, l, node, netns(node), in);
      }
    }
  }
  const std::set<std::string> proxied = ProxiedGroups(lb);
  static const std::vector<std::string> kNone;
  for (const auto& tg : lb.target_groups) {
    auto it = slots.find(tg.id);
    const std::vector<std::string>& s = it == slots.end() ? kNone : it->second;
    for (size_t node = 0; node < lb.nodes.size(); ++node) {
      WriteBackend(out, lb, tg, node, netns(node), s, true);
      if (proxied.count(tg.id)) WriteBackend(out, lb, tg, node, netns(node), s, false);
    }
  }
  return out.str();
}

}  // namespace kecs::runtime::local
