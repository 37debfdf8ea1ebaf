// kecs-fake-kube-apiserver: the tests' fake Kubernetes API server (fake_kube_apiserver.h)
// as a program, for the e2e tests of `kecs start --runtime kubernetes` (design.md 19.2).
// Built with the tests, never installed.
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "base/ids.h"
#include "base/strings.h"
#include "unit/support/fake_kube_apiserver.h"

namespace {

constexpr const char* kUsage = R"(usage: kecs-fake-kube-apiserver [flags]

A fake Kubernetes API server for kecs's tests: real HTTP on 127.0.0.1, resourceVersions,
watches, server-side apply, merge patches and the status subresource, a registry
(the Distribution API under /v2/) and, with --kubelet, a simulated kubelet that schedules,
starts and stops pods. Runs until SIGTERM or SIGINT.

  --port N             listen on port N (default 0: a free port)
  --port-file F        write the port to F once listening
  --kubeconfig-out F   write a kubeconfig (mode 0600) naming the server and its token
  --token-file F       the bearer token clients must send, read from F (default: a
                       random one, written only into the --kubeconfig-out file)
  --node NAME[:CPU[:MEMORY[:ZONE]]]
                       a Ready node (CPU default 2, MEMORY 4Gi; ZONE sets
                       topology.kubernetes.io/zone); repeatable
  --image REPO[:TAG]   an image in the registry (TAG default latest); repeatable
  --kubelet            run the simulated kubelet (off: clients write pod status)
  --help               this text
)";

bool WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return false;
    out << text;
    if (!out.flush()) return false;
  }
  if (::chmod(tmp.c_str(), mode) != 0) return false;
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

int Fail(const std::string& message) {
  std::cerr << "kecs-fake-kube-apiserver: " << message << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  std::string port_file, kubeconfig_out, token_file;
  struct Node {
    std::string name, cpu = "2", memory = "4Gi", zone;
  };
  std::vector<Node> nodes;
  std::vector<std::string> images;
  bool kubelet = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--kubelet") {
      kubelet = true;
    } else if (a == "--port" && value(&v)) {
      char* end = nullptr;
      long p = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || p < 0 || p > 65535) return Fail("--port: not a port: " + v);
      port = static_cast<int>(p);
    } else if (a == "--port-file" && value(&v)) {
      port_file = v;
    } else if (a == "--kubeconfig-out" && value(&v)) {
      kubeconfig_out = v;
    } else if (a == "--token-file" && value(&v)) {
      token_file = v;
    } else if (a == "--node" && value(&v)) {
      auto parts = kecs::Split(v, ':');
      if (parts.empty() || parts[0].empty() || parts.size() > 4) return Fail("--node: want NAME[:CPU[:MEMORY[:ZONE]]]: " + v);
      Node n{parts[0]};
      if (parts.size() > 1 && !parts[1].empty()) n.cpu = parts[1];
      if (parts.size() > 2 && !parts[2].empty()) n.memory = parts[2];
      if (parts.size() > 3) n.zone = parts[3];
      nodes.push_back(n);
    } else if (a == "--image" && value(&v)) {
      if (v.empty()) return Fail("--image: empty");
      images.push_back(v);
    } else {
      std::cerr << kUsage;
      return Fail("unknown flag or missing value: " + a);
    }
  }
  std::string token;
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in) return Fail("--token-file: cannot read " + token_file);
    std::stringstream ss;
    ss << in.rdbuf();
    token = std::string(kecs::Trim(ss.str()));
    if (token.empty()) return Fail("--token-file: " + token_file + " is empty");
  } else {
    token = kecs::RandomHex(40);
  }

  // SIGTERM and SIGINT are taken by sigwait below; block them before any thread starts.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  std::unique_ptr<kecs::testing::FakeKubeApiServer> server;
  try {
    server = std::make_unique<kecs::testing::FakeKubeApiServer>(token, static_cast<uint16_t>(port));
  } catch (const std::exception& e) {
    return Fail("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + e.what());
  }
  for (const auto& n : nodes) {
    std::map<std::string, std::string> labels;
    if (!n.zone.empty()) labels["topology.kubernetes.io/zone"] = n.zone;
    server->AddNode(n.name, n.cpu, n.memory, labels);
  }
  for (const auto& img : images) server->AddImage(img);
  if (kubelet) server->EnableKubelet();

  if (!kubeconfig_out.empty()) {
    std::string kc = "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: " + server->url() +
                     "\nusers:\n- name: fake\n  user:\n    token: " + token +
                     "\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n"
                     "current-context: fake\n";
    if (!WriteFile(kubeconfig_out, kc, 0600)) return Fail("--kubeconfig-out: cannot write " + kubeconfig_out);
  }
  if (!port_file.empty() && !WriteFile(port_file, std::to_string(server->port()) + "\n", 0644)) {
    return Fail("--port-file: cannot write " + port_file);
  }
  std::cerr << "kecs-fake-kube-apiserver: listening on " << server->url() << (kubelet ? " with a kubelet" : "") << "\n";
  int sig = 0;
  sigwait(&stop, &sig);
  server.reset();
  return 0;
}
