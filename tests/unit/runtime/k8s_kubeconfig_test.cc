// Reading a kubeconfig (runtime/kubernetes/kubeconfig.h): contexts, inline and file
// credentials, token files, exec credential plugins (a real script run as kubectl would),
// the in-cluster configuration, and errors that never quote a secret.
#include "runtime/kubernetes/kubeconfig.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "base/value_cipher.h"
#include "unit/support/temp_dir.h"

namespace kecs::runtime::kubernetes {
namespace {

void Write(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
}

constexpr const char* kCa = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
constexpr const char* kToken = "tok-7f3c9e1d-SECRET";

std::string Config(const std::string& users) {
  return std::string(R"(apiVersion: v1
kind: Config
current-context: kind-kecs
clusters:
- name: kind-kecs
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: )") + Base64Encode(kCa) + R"(
- name: k3d
  cluster:
    server: https://0.0.0.0:40000
    certificate-authority: certs/ca.crt
    tls-server-name: kubernetes
contexts:
- name: kind-kecs
  context: {cluster: kind-kecs, user: admin, namespace: team-a}
- name: k3d-token
  context: {cluster: k3d, user: token-file}
- name: k3d-exec
  context: {cluster: k3d, user: plugin}
users:
)" + users;
}

const std::string kUsers = std::string(R"(- name: admin
  user:
    client-certificate-data: )") + Base64Encode("CERT-PEM") + R"(
    client-key-data: )" + Base64Encode("KEY-PEM") + R"(
- name: token-file
  user:
    tokenFile: token
- name: plugin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./plugin.sh
      args: [get-token, --cluster, k3d]
      env: [{name: PLUGIN_MODE, value: token}]
)";

TEST(Kubeconfig, CurrentContextWithInlineCertificates) {
  kecs::testing::TempDir d;
  Write(d.path() + "/config", Config(kUsers));
  auto c = LoadKubeconfig(d.path() + "/config");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->context, "kind-kecs");
  EXPECT_EQ(c->server, "https://127.0.0.1:6443");
  EXPECT_EQ(c->ca_pem, kCa);
  EXPECT_EQ(c->client_cert_pem, "CERT-PEM");
  EXPECT_EQ(c->client_key_pem, "KEY-PEM");
  EXPECT_EQ(c->default_namespace, "team-a");
  EXPECT_FALSE(c->exec);
}

TEST(Kubeconfig, PathsAreRelativeToTheFileAndTokenFilesAreRead) {
  kecs::testing::TempDir d;
  std::filesystem::create_directories(d.path() + "/certs");
  Write(d.path() + "/certs/ca.crt", kCa);
  Write(d.path() + "/token", std::string(kToken) + "\n");
  Write(d.path() + "/config", Config(kUsers));
  auto c = LoadKubeconfig(d.path() + "/config", "k3d-token");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->ca_pem, kCa);
  EXPECT_EQ(c->tls_server_name, "kubernetes");
  EXPECT_EQ(c->token, kToken);  // the newline trimmed
  EXPECT_EQ(c->token_file, d.path() + "/token");
}

TEST(Kubeconfig, ExecPluginsRunAsKubectlRunsThem) {
  kecs::testing::TempDir d;
  std::filesystem::create_directories(d.path() + "/certs");
  Write(d.path() + "/certs/ca.crt", kCa);
  Write(d.path() + "/config", Config(kUsers));
  // The plugin checks what kubectl gives it: its args, its env, KUBERNETES_EXEC_INFO.
  Write(d.path() + "/plugin.sh", R"(#!/bin/sh
[ "$1 $2 $3" = "get-token --cluster k3d" ] || exit 3
[ "$PLUGIN_MODE" = token ] || exit 4
case "$KUBERNETES_EXEC_INFO" in *'"apiVersion":"client.authentication.k8s.io/v1"'*) ;; *) exit 5;; esac
echo "$PLUGIN_MODE leaked to stderr: tok-SECRET" >&2
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-from-plugin","expirationTimestamp":"2026-12-06T10:00:00+01:00"}}'
)", 0700);
  auto c = LoadKubeconfig(d.path() + "/config", "k3d-exec");
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE(c->exec);
  EXPECT_EQ(c->exec->args.size(), 3u);
  auto cred = RunExecPlugin(*c->exec);
  ASSERT_TRUE(cred.ok()) << cred.status().message();
  EXPECT_EQ(cred->token, "tok-from-plugin");
  ASSERT_TRUE(cred->expires_at);
  EXPECT_DOUBLE_EQ(*cred->expires_at, 1796547600.0);  // 09:00 UTC

  // A plugin that fails: its exit status, never its output.
  Write(d.path() + "/plugin.sh", "#!/bin/sh\necho 'token tok-SECRET-2' >&2\necho tok-SECRET-3\nexit 7\n", 0700);
  auto failed = RunExecPlugin(*c->exec);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("exit status 7"), std::string::npos);
  EXPECT_EQ(failed.status().message().find("SECRET"), std::string::npos);
}

TEST(Kubeconfig, ExecCredentialsAreChecked) {
  const std::string v1 = "client.authentication.k8s.io/v1";
  EXPECT_FALSE(ParseExecCredential("not json", v1).ok());
  EXPECT_FALSE(ParseExecCredential(R"({"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"t"}})", v1).ok());
  EXPECT_FALSE(ParseExecCredential(R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}})", v1).ok());
  EXPECT_FALSE(ParseExecCredential(R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"C"}})", v1).ok());
  auto cert = ParseExecCredential(
      R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"C","clientKeyData":"K","expirationTimestamp":"2026-12-06T09:00:00Z"}})", v1);
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(cert->client_key_pem, "K");
  EXPECT_DOUBLE_EQ(*cert->expires_at, 1796547600.0);
}

TEST(Kubeconfig, ErrorsNameTheMemberNeverTheSecret) {
  kecs::testing::TempDir d;
  Write(d.path() + "/config", Config(kUsers));
  EXPECT_EQ(LoadKubeconfig(d.path() + "/config", "nope").status().code(), Code::kNotFound);
  std::filesystem::create_directories(d.path() + "/certs");
  Write(d.path() + "/certs/ca.crt", kCa);
  EXPECT_EQ(LoadKubeconfig(d.path() + "/missing").status().code(), Code::kNotFound);
  // The token file is missing.
  EXPECT_EQ(LoadKubeconfig(d.path() + "/config", "k3d-token").status().code(), Code::kNotFound);

  Write(d.path() + "/bad", std::string("users:\n- name: u\n  user: {token: ") + kToken + "\n  bad: [\n");
  auto bad = LoadKubeconfig(d.path() + "/bad");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.status().message().find("SECRET"), std::string::npos) << bad.status().message();

  std::string half = Config(std::string("- name: admin\n  user:\n    client-key-data: ") + Base64Encode("KEY") + "\n");
  Write(d.path() + "/half", half);
  auto h = LoadKubeconfig(d.path() + "/half");
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("without"), std::string::npos);

  Write(d.path() + "/b64", Config("- name: admin\n  user:\n    client-certificate-data: '%%%'\n    client-key-data: '%%%'\n"));
  EXPECT_EQ(LoadKubeconfig(d.path() + "/b64").status().code(), Code::kInvalidArgument);
}

TEST(Kubeconfig, InClusterConfigurationFromTheServiceAccount) {
  kecs::testing::TempDir d;
  unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_EQ(InClusterConfig(d.path()).status().code(), Code::kNotFound);
  Write(d.path() + "/token", kToken);
  Write(d.path() + "/ca.crt", kCa);
  Write(d.path() + "/namespace", "kecs-system");
  setenv("KUBERNETES_SERVICE_HOST", "10.43.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto c = InClusterConfig(d.path());
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->server, "https://10.43.0.1:443");
  EXPECT_EQ(c->token, kToken);
  EXPECT_EQ(c->ca_pem, kCa);
  EXPECT_EQ(c->default_namespace, "kecs-system");
}

}  // namespace
}  // namespace kecs::runtime::kubernetes
