// `kecs start --runtime kubernetes` before any task: where the credentials come from, and
// the first request that proves the API server answers and takes them, against the fake
// API server (unit/support/fake_kube_apiserver.h).
#include "daemon/kubernetes_setup.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <optional>

#include "unit/support/fake_kube_apiserver.h"
#include "unit/support/temp_dir.h"

namespace kecs::daemon {
namespace {

using kecs::testing::FakeKubeApiServer;
using kecs::testing::TempDir;

// Sets an environment variable for one scope, restoring what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::string WriteKubeconfig(const std::string& dir, const std::string& name, const std::string& server,
                            const std::string& token, const std::string& context = "ctx") {
  std::string path = dir + "/" + name;
  std::ofstream(path) << "apiVersion: v1\nkind: Config\ncurrent-context: " << context << "\n"
                      << "clusters:\n- name: c\n  cluster:\n    server: " << server << "\n"
                      << "users:\n- name: u\n  user:\n    token: " << token << "\n"
                      << "contexts:\n- name: " << context << "\n  context:\n    cluster: c\n    user: u\n";
  return path;
}

Config Kube(const std::string& data_dir) {
  Config c;
  c.data_dir = data_dir;
  c.runtime = "kubernetes";
  return c;
}

TEST(KubernetesSetup, CredentialsComeFromTheFlagThenKubeconfigThenHome) {
  TempDir dir;
  std::string flag = WriteKubeconfig(dir.path(), "flag.yaml", "https://flag.example:6443", "t1");
  std::string first = WriteKubeconfig(dir.path(), "first.yaml", "https://first.example:6443", "t2");
  std::filesystem::create_directories(dir.path() + "/home/.kube");
  WriteKubeconfig(dir.path() + "/home/.kube", "config", "https://home.example:6443", "t3");
  ScopedEnv home("HOME", dir.path() + "/home");
  {
    ScopedEnv env("KUBECONFIG", first + ":" + dir.path() + "/missing.yaml");
    Config c = Kube(dir.path());
    c.kubeconfig = flag;
    auto creds = KubernetesCredentials(c);
    ASSERT_TRUE(creds.ok()) << creds.status().ToString();
    EXPECT_EQ(creds->server, "https://flag.example:6443");
    c.kubeconfig.clear();
    creds = KubernetesCredentials(c);
    ASSERT_TRUE(creds.ok()) << creds.status().ToString();
    EXPECT_EQ(creds->server, "https://first.example:6443") << "KUBECONFIG's first file";
  }
  {
    ScopedEnv env("KUBECONFIG", std::nullopt);
    auto creds = KubernetesCredentials(Kube(dir.path()));
    ASSERT_TRUE(creds.ok()) << creds.status().ToString();
    EXPECT_EQ(creds->server, "https://home.example:6443");
  }
}

TEST(KubernetesSetup, AContextThatIsNotThereIsRefused) {
  TempDir dir;
  Config c = Kube(dir.path());
  c.kubeconfig = WriteKubeconfig(dir.path(), "k.yaml", "https://x.example", "t");
  c.kube_context = "nope";
  auto creds = KubernetesCredentials(c);
  ASSERT_FALSE(creds.ok());
  EXPECT_NE(creds.status().message().find("nope"), std::string::npos) << creds.status().message();
}

TEST(KubernetesSetup, NoCredentialsAnywhereSaysWhatWasTried) {
  TempDir dir;
  ScopedEnv env("KUBECONFIG", std::nullopt);
  ScopedEnv home("HOME", dir.path());
  ScopedEnv host("KUBERNETES_SERVICE_HOST", std::nullopt);
  auto creds = KubernetesCredentials(Kube(dir.path()));
  ASSERT_FALSE(creds.ok());
  EXPECT_NE(creds.status().message().find("--kubeconfig"), std::string::npos) << creds.status().message();
}

TEST(KubernetesSetup, TheFirstRequestProvesTheServerAndTheCredentials) {
  TempDir dir;
  FakeKubeApiServer server("right-token");
  auto store = state::Store::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto resolver = [](const runtime::ContainerSpec&) -> Result<std::string> { return std::string("sha256:x"); };
  Config c = Kube(dir.path());
  c.kubeconfig = WriteKubeconfig(dir.path(), "ok.yaml", server.url(), "right-token");
  auto rt = MakeKubernetesRuntime(c, **store, resolver);
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  EXPECT_EQ((*rt)->name(), "kubernetes");
  EXPECT_NE((*rt)->Describe().find(server.url()), std::string::npos);

  c.kubeconfig = WriteKubeconfig(dir.path(), "bad.yaml", server.url(), "wrong-token-value");
  auto refused = MakeKubernetesRuntime(c, **store, resolver);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("refused"), std::string::npos) << refused.status().message();
  EXPECT_EQ(refused.status().message().find("wrong-token-value"), std::string::npos) << "a secret in an error";

  c.kubeconfig = WriteKubeconfig(dir.path(), "down.yaml", "http://127.0.0.1:1", "t");
  auto down = MakeKubernetesRuntime(c, **store, resolver);
  ASSERT_FALSE(down.ok());
  EXPECT_NE(down.status().message().find("cannot be reached"), std::string::npos) << down.status().message();
}

}  // namespace
}  // namespace kecs::daemon
