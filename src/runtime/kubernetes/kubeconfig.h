#pragma once
// How kecs reaches a Kubernetes API server (issue 16): a kubeconfig file (`--kubeconfig`,
// `--context`), or the in-cluster configuration when kecs runs as a pod.
//
// A kubeconfig (YAML, read with yaml-cpp) names clusters, users and contexts; a context
// pairs a cluster with a user. LoadKubeconfig resolves one context into what a request
// needs: the server's URL and CA, and the user's credentials: a client certificate and key,
// a bearer token (inline or a file, re-read when the server answers 401, since service
// account tokens rotate), or an exec credential plugin (client.authentication.k8s.io
// ExecCredential: the plugin prints a token or a certificate, with an expiry). Paths in a
// kubeconfig are relative to its own directory; `*-data` members are base64.
//
// Credentials are secrets: no error message, log line or command line here carries a
// token, key or certificate, only file names and member names.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace kecs::runtime::kubernetes {

struct ExecPlugin {
  std::string api_version;  // client.authentication.k8s.io/v1 or v1beta1
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string dir;          // the kubeconfig's directory: where a relative command is found
};

struct Credentials {
  std::string context;                 // the context's name ("" in cluster)
  std::string server;                  // https://host:port
  std::string ca_pem;                  // PEM; empty: the system's CAs
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string token;
  std::string token_file;              // read again after a 401
  std::optional<ExecPlugin> exec;
  std::string default_namespace;       // the context's namespace, if any
};

// `context` empty: the file's current-context. NotFound for a missing file or context;
// InvalidArgument for a malformed file, naming the member at fault.
Result<Credentials> LoadKubeconfig(const std::string& path, const std::string& context = "");

// A token file's token (a trailing newline dropped). NotFound when it is missing.
Result<std::string> ReadToken(const std::string& path);

// In a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, and the service account's
// token, CA and namespace under `sa_dir` (/var/run/secrets/kubernetes.io/serviceaccount).
// NotFound when not in a pod.
Result<Credentials> InClusterConfig(const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// What an exec plugin printed (its ExecCredential's status).
struct ExecCredential {
  std::string token;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::optional<double> expires_at;  // epoch seconds; nullopt: until the server refuses it
};

// Runs the plugin (its env on top of kecs's own, KUBERNETES_EXEC_INFO set as the
// plugin's API expects) and reads its ExecCredential. The plugin's stderr is not quoted
// in errors (plugins print tokens there by mistake); its exit code is.
Result<ExecCredential> RunExecPlugin(const ExecPlugin& plugin);

// Parses an ExecCredential document (RFC 3339 expirationTimestamp).
Result<ExecCredential> ParseExecCredential(const std::string& json, const std::string& api_version);

}  // namespace kecs::runtime::kubernetes
