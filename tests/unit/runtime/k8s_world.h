#pragma once
// The kubernetes runtime over the fake API server with its kubelet (fake_kube_apiserver.h):
// one Ready node, busybox in the fake's registry, a client with a token file, and the
// runtime resolving digests with skopeo against that registry (insecure; docker.io
// mirrored to it). Shared by k8s_conformance_test.cc and k8s_runtime_test.cc.
#include <fstream>
#include <functional>
#include <memory>
#include <string>

#include "base/ids.h"
#include "runtime/kubernetes/kubernetes_runtime.h"
#include "unit/support/fake_kube_apiserver.h"
#include "unit/support/temp_dir.h"

namespace kecs::runtime::kubernetes::testing {

class KubeWorld {
 public:
  KubeWorld() : fake(kToken) {
    fake.AddNode("node-1", "2", "4Gi", {{"topology.kubernetes.io/zone", "us-east-1a"}});
    busybox_digest = fake.AddImage("busybox:latest");
    fake.EnableKubelet();
    token_file = scratch.path() + "/token";
    WriteToken(kToken);
    Credentials creds;
    creds.server = fake.url();
    creds.token_file = token_file;
    Client::Options co;
    co.backoff = std::chrono::milliseconds(10);
    co.timeout = std::chrono::seconds(10);
    client = std::make_shared<Client>(creds, co);
    KubernetesOptions o;
    o.server = fake.url();
    o.poll = std::chrono::milliseconds(20);
    o.start_timeout = std::chrono::seconds(10);
    o.stop_slack = std::chrono::seconds(5);
    o.facts = [this](const TaskSpec& t) -> Result<PodFacts> {
      PodFacts f;
      f.region = "us-east-1";
      f.revision = 1;
      f.launch_type = "FARGATE";
      f.subnets = {t.network.subnet_id};
      f.security_groups = groups;
      f.assign_public_ip = !t.network.published.empty();
      return f;
    };
    local::RegistryConfig reg;
    reg.mirrors["docker.io"] = fake.registry_host();
    reg.insecure.insert(fake.registry_host());
    o.resolve_image = SkopeoResolver(reg, scratch.path() + "/auth");
    options = o;
    rt = std::make_unique<KubernetesRuntime>(client, options);
  }

  // A new runtime over the same fake, with `change` made to its options.
  void Rebuild(const std::function<void(KubernetesOptions&)>& change) {
    change(options);
    rt = std::make_unique<KubernetesRuntime>(client, options);
  }

  void WriteToken(const std::string& token) {
    std::ofstream(token_file, std::ios::trunc) << token << "\n";
  }

  // An awsvpc task of `cluster` (its pods in "<cluster>-us-east-1").
  TaskSpec NewTask(int n, const std::string& cluster = "default") {
    TaskSpec t;
    t.task_id = RandomHex(32);
    t.cluster = cluster;
    t.family = "conformance";
    t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/" + cluster + "/" + t.task_id;
    t.network.mode = model::NetworkMode::kAwsvpc;
    t.network.ip = "10.0.1." + std::to_string(10 + n);
    t.network.prefix_len = 24;
    t.network.gateway = "10.0.1.1";
    t.network.vpc_id = "vpc-0123456789abcdef0";
    t.network.subnet_id = "subnet-0123456789abcdef0";
    t.network.subnet_cidr = "10.0.1.0/24";
    return t;
  }
  // A container that the kubelet runs until stopped.
  ContainerSpec Container(const std::string& name) {
    ContainerSpec c;
    c.name = name;
    c.image = image();
    c.command = {"sleep", "3600"};
    c.stop_timeout_s = 2;
    return c;
  }
  std::string image() const { return fake.registry_host() + "/busybox:latest"; }

  static std::string Ns(const TaskSpec& t) { return NamespaceName(t.cluster, "us-east-1"); }
  static std::string Pods(const TaskSpec& t) { return "/api/v1/namespaces/" + Ns(t) + "/pods"; }
  static std::string Services(const TaskSpec& t) { return "/api/v1/namespaces/" + Ns(t) + "/services"; }
  Json Pod(const TaskSpec& t) { return fake.Object(Pods(t), "task-" + t.task_id); }
  Json Service(const TaskSpec& t) { return fake.Object(Services(t), "task-" + t.task_id); }
  // The pod's name for the task's `ecs_name` container.
  static std::string PodContainer(const TaskSpec& t, const std::string& ecs_name) {
    auto names = PodContainerNames(t);
    for (size_t i = 0; i < t.containers.size(); ++i) {
      if (t.containers[i].name == ecs_name) return names[i];
    }
    return ecs_name;
  }

  static constexpr const char* kToken = "fake-token-1";
  kecs::testing::TempDir scratch;
  kecs::testing::FakeKubeApiServer fake;
  std::string busybox_digest;
  std::string token_file;
  std::vector<std::string> groups = {"sg-0123456789abcdef0"};
  std::shared_ptr<Client> client;
  KubernetesOptions options;
  std::unique_ptr<KubernetesRuntime> rt;
};

}  // namespace kecs::runtime::kubernetes::testing
