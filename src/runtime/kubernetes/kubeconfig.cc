#include "runtime/kubernetes/kubeconfig.h"

#include <filesystem>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "base/env.h"
#include "base/json.h"
#include "base/subprocess.h"
#include "base/utc_time.h"
#include "base/value_cipher.h"

namespace kecs::runtime::kubernetes {
namespace {

namespace fs = std::filesystem;

Result<std::string> ReadFile(const std::string& path, const std::string& what) {
  auto r = Env::Default()->ReadFile(path);
  if (!r.ok()) return Status(r.status().code(), what + ": " + r.status().message());
  return r;
}

std::string Str(const YAML::Node& n, const char* key) {
  const YAML::Node v = n[key];
  return v && v.IsScalar() ? v.as<std::string>() : "";
}

// The entry named `name` of a kubeconfig list (clusters, users, contexts): {name, <kind>}.
Result<YAML::Node> Named(const YAML::Node& root, const char* list, const char* kind, const std::string& name) {
  const YAML::Node l = root[list];
  if (l && l.IsSequence()) {
    for (const auto& e : l) {
      if (e.IsMap() && Str(e, "name") == name) {
        const YAML::Node body = e[kind];
        if (!body || !body.IsMap()) return InvalidArgument(fmt::format("{} '{}' has no {} map", list, name, kind));
        return body;
      }
    }
  }
  return NotFound(fmt::format("kubeconfig names no {} entry '{}'", kind, name));
}

// A `<member>-data` (base64) or `<member>` (a path, relative to the kubeconfig) value.
Result<std::string> DataOrFile(const YAML::Node& n, const std::string& member, const fs::path& dir) {
  std::string data = Str(n, (member + "-data").c_str());
  if (!data.empty()) {
    auto decoded = Base64Decode(data);
    if (!decoded.ok()) return InvalidArgument(fmt::format("{}-data is not base64", member));
    return *decoded;
  }
  std::string file = Str(n, member.c_str());
  if (file.empty()) return std::string();
  fs::path p(file);
  if (p.is_relative()) p = dir / p;
  return ReadFile(p.string(), member);
}


}  // namespace

Result<Credentials> LoadKubeconfig(const std::string& path, const std::string& context) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, "kubeconfig"));
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    // The parser's message names a line and column, never a value.
    return InvalidArgument(fmt::format("kubeconfig {} is not YAML: line {}, column {}", path, e.mark.line + 1,
                                       e.mark.column + 1));
  }
  if (!root.IsMap()) return InvalidArgument(fmt::format("kubeconfig {} is not a map", path));
  const fs::path dir = fs::absolute(fs::path(path)).parent_path();
  try {
    Credentials c;
    c.context = context.empty() ? Str(root, "current-context") : context;
    if (c.context.empty()) return InvalidArgument(fmt::format("kubeconfig {} has no current-context; pass --context", path));
    ASSIGN_OR_RETURN(YAML::Node ctx, Named(root, "contexts", "context", c.context));
    const std::string cluster_name = Str(ctx, "cluster"), user_name = Str(ctx, "user");
    c.default_namespace = Str(ctx, "namespace");
    ASSIGN_OR_RETURN(YAML::Node cluster, Named(root, "clusters", "cluster", cluster_name));
    c.server = Str(cluster, "server");
    if (c.server.empty()) return InvalidArgument(fmt::format("cluster '{}' has no server", cluster_name));
    if (!c.server.starts_with("https://") && !c.server.starts_with("http://")) {
      return InvalidArgument(fmt::format("cluster '{}': server must be an http(s) URL", cluster_name));
    }
    ASSIGN_OR_RETURN(c.ca_pem, DataOrFile(cluster, "certificate-authority", dir));
    c.insecure_skip_tls_verify = Str(cluster, "insecure-skip-tls-verify") == "true";
    c.tls_server_name = Str(cluster, "tls-server-name");
    if (user_name.empty()) return c;  // an anonymous context
    ASSIGN_OR_RETURN(YAML::Node user, Named(root, "users", "user", user_name));
    ASSIGN_OR_RETURN(c.client_cert_pem, DataOrFile(user, "client-certificate", dir));
    ASSIGN_OR_RETURN(c.client_key_pem, DataOrFile(user, "client-key", dir));
    if (c.client_cert_pem.empty() != c.client_key_pem.empty()) {
      return InvalidArgument(fmt::format("user '{}' has a client certificate without its key, or a key without its certificate",
                                         user_name));
    }
    c.token = Str(user, "token");
    std::string token_file = Str(user, "tokenFile");
    if (!token_file.empty()) {
      fs::path p(token_file);
      if (p.is_relative()) p = dir / p;
      c.token_file = p.string();
      if (c.token.empty()) {
        ASSIGN_OR_RETURN(c.token, ReadToken(c.token_file));
      }
    }
    if (const YAML::Node exec = user["exec"]; exec && exec.IsMap()) {
      ExecPlugin e;
      e.api_version = Str(exec, "apiVersion");
      e.command = Str(exec, "command");
      e.dir = dir.string();
      if (e.command.empty()) return InvalidArgument(fmt::format("user '{}': exec has no command", user_name));
      if (e.api_version != "client.authentication.k8s.io/v1" && e.api_version != "client.authentication.k8s.io/v1beta1") {
        return InvalidArgument(fmt::format("user '{}': exec apiVersion must be client.authentication.k8s.io/v1 or v1beta1",
                                           user_name));
      }
      if (const YAML::Node args = exec["args"]; args && args.IsSequence()) {
        for (const auto& a : args) e.args.push_back(a.as<std::string>());
      }
      if (const YAML::Node env = exec["env"]; env && env.IsSequence()) {
        for (const auto& v : env) e.env.emplace_back(Str(v, "name"), Str(v, "value"));
      }
      c.exec = e;
    }
    if (user["auth-provider"]) {
      return InvalidArgument(fmt::format("user '{}': auth-provider plugins are gone from Kubernetes; use exec", user_name));
    }
    return c;
  } catch (const YAML::Exception& e) {
    return InvalidArgument(fmt::format("kubeconfig {}: unexpected shape at line {}", path, e.mark.line + 1));
  }
}

Result<std::string> ReadToken(const std::string& path) {
  ASSIGN_OR_RETURN(std::string t, ReadFile(path, "token file"));
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  return t;
}

Result<Credentials> InClusterConfig(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !port || !*host || !*port) return NotFound("not in a pod: KUBERNETES_SERVICE_HOST is not set");
  Credentials c;
  std::string h(host);
  c.server = fmt::format("https://{}:{}", h.find(':') != std::string::npos ? "[" + h + "]" : h, port);
  c.token_file = sa_dir + "/token";
  ASSIGN_OR_RETURN(c.token, ReadToken(c.token_file));
  ASSIGN_OR_RETURN(c.ca_pem, ReadFile(sa_dir + "/ca.crt", "service account CA"));
  auto ns = ReadFile(sa_dir + "/namespace", "namespace");
  if (ns.ok()) c.default_namespace = *ns;
  return c;
}

Result<ExecCredential> ParseExecCredential(const std::string& json, const std::string& api_version) {
  auto j = ParseJson(json);
  if (!j || !j->is_object()) return InvalidArgument("the exec plugin did not print an ExecCredential (JSON)");
  if (JStr(*j, "kind") != "ExecCredential") return InvalidArgument("the exec plugin's output is not kind ExecCredential");
  if (JStr(*j, "apiVersion") != api_version) {
    return InvalidArgument(fmt::format("the exec plugin answered {}, not {}", JStr(*j, "apiVersion"), api_version));
  }
  const Json status = j->value("status", Json::object());
  if (!status.is_object()) return InvalidArgument("the ExecCredential's status is not an object");
  ExecCredential c;
  c.token = JStr(status, "token");
  c.client_cert_pem = JStr(status, "clientCertificateData");
  c.client_key_pem = JStr(status, "clientKeyData");
  if (c.token.empty() && c.client_cert_pem.empty()) return InvalidArgument("the ExecCredential has neither a token nor a certificate");
  if (c.client_cert_pem.empty() != c.client_key_pem.empty()) {
    return InvalidArgument("the ExecCredential has a certificate without its key, or a key without its certificate");
  }
  std::string exp = JStr(status, "expirationTimestamp");
  if (!exp.empty()) {
    double t = 0;
    if (!ParseIso8601(exp, &t)) return InvalidArgument("the ExecCredential's expirationTimestamp is not RFC 3339");
    c.expires_at = t;
  }
  return c;
}

Result<ExecCredential> RunExecPlugin(const ExecPlugin& plugin) {
  ProcessOptions o;
  std::string cmd = plugin.command;
  // A command with a slash is a path (relative ones to the kubeconfig); a bare name is
  // looked up in PATH, as kubectl does.
  if (cmd.find('/') != std::string::npos && fs::path(cmd).is_relative()) cmd = (fs::path(plugin.dir) / cmd).string();
  o.argv.push_back(cmd);
  o.argv.insert(o.argv.end(), plugin.args.begin(), plugin.args.end());
  for (const auto& [k, v] : plugin.env) o.env.push_back(k + "=" + v);
  Json info = {{"apiVersion", plugin.api_version},
               {"kind", "ExecCredential"},
               {"spec", {{"interactive", false}}}};
  o.env.push_back("KUBERNETES_EXEC_INFO=" + info.dump());
  o.timeout = std::chrono::seconds(60);
  auto r = RunProcess(o);
  if (!r.ok()) return Unavailable(fmt::format("exec plugin {}: cannot start it", plugin.command));
  if (r->timed_out) return Unavailable(fmt::format("exec plugin {}: no answer in 60 s", plugin.command));
  if (r->exit_code != 0) return Unavailable(fmt::format("exec plugin {}: exit status {}", plugin.command, r->exit_code));
  return ParseExecCredential(r->out, plugin.api_version);
}

}  // namespace kecs::runtime::kubernetes
