// The kubernetes runtime's objects beside the pod and what it reads back, over the fake API
// server and its kubelet: the task's Secret, Cloud Map's headless Services and their CoreDNS
// rules, container logs, load balancer target health from readiness, and the pod watch
// that serves Inspect.
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "base/value_cipher.h"
#include "unit/runtime/k8s_world.h"

namespace kecs::runtime::kubernetes {
namespace {

using testing::KubeWorld;

class K8sRuntimeExtras : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/usr/bin/skopeo", X_OK) != 0) GTEST_SKIP() << "skopeo (Debian skopeo) resolves digests";
    w_ = std::make_unique<KubeWorld>();
    // The world's runtime, with facts this test chooses.
    KubernetesOptions o;
    o.server = w_->fake.url();
    o.poll = std::chrono::milliseconds(20);
    o.start_timeout = std::chrono::seconds(10);
    o.stop_slack = std::chrono::seconds(5);
    o.facts = [this](const TaskSpec&) -> Result<PodFacts> { return facts_; };
    local::RegistryConfig reg;
    reg.mirrors["docker.io"] = w_->fake.registry_host();
    reg.insecure.insert(w_->fake.registry_host());
    o.resolve_image = SkopeoResolver(reg, w_->scratch.path() + "/auth2");
    rt_ = std::make_unique<KubernetesRuntime>(w_->client, o);
    facts_.region = "us-east-1";
    facts_.revision = 1;
    facts_.launch_type = "FARGATE";
  }
  void Start(const TaskSpec& t) {
    ASSERT_TRUE(rt_->CreateSandbox(t).ok());
    auto d = rt_->PullImages(t);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    Status st = rt_->StartContainers(t);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  TaskSpec OneContainer(int n) {
    TaskSpec t = w_->NewTask(n);
    t.containers = {w_->Container("app")};
    return t;
  }
  std::string Secrets(const TaskSpec& t) { return "/api/v1/namespaces/" + KubeWorld::Ns(t) + "/secrets"; }

  std::unique_ptr<KubeWorld> w_;
  PodFacts facts_;
  std::unique_ptr<KubernetesRuntime> rt_;
};

TEST_F(K8sRuntimeExtras, SecretVariablesLiveInTheTasksSecretNeverInThePod) {
  TaskSpec t = OneContainer(1);
  t.containers[0].environment = {{"STAGE", "dev"}, {"DB_PASSWORD", "hunter2-value"}};
  facts_.secret_env["app"] = {"DB_PASSWORD"};
  ASSERT_NO_FATAL_FAILURE(Start(t));
  Json secret = w_->fake.Object(Secrets(t), "task-" + t.task_id);
  ASSERT_FALSE(secret.is_null()) << "no Secret";
  EXPECT_EQ(secret["data"][SecretKey(0, "DB_PASSWORD")], Base64Encode("hunter2-value"));
  Json pod = w_->Pod(t);
  EXPECT_EQ(pod.dump().find("hunter2-value"), std::string::npos) << "a secret value in the Pod";
  const Json& env = pod["spec"]["containers"][0]["env"];
  ASSERT_EQ(env.size(), 2u);
  EXPECT_EQ(env[0]["value"], "dev");
  EXPECT_EQ(env[1]["valueFrom"]["secretKeyRef"]["name"], "task-" + t.task_id);
  // Delete takes it away; so does GC for a task that is not live.
  ASSERT_TRUE(rt_->StopContainers(t).ok());
  ASSERT_TRUE(rt_->Delete(t).ok());
  EXPECT_TRUE(w_->fake.Object(Secrets(t), "task-" + t.task_id).is_null());
  TaskSpec u = OneContainer(2);
  u.containers[0].environment = {{"DB_PASSWORD", "x"}};
  ASSERT_NO_FATAL_FAILURE(Start(u));
  ASSERT_FALSE(w_->fake.Object(Secrets(u), "task-" + u.task_id).is_null());
  ASSERT_TRUE(rt_->GarbageCollect({}, {}).ok());
  EXPECT_TRUE(w_->fake.Object(Secrets(u), "task-" + u.task_id).is_null());
}

TEST_F(K8sRuntimeExtras, CloudMapServicesAreHeadlessServicesWithCoreDnsRules) {
  facts_.discovery_services = {"srv-0123456789abcdef"};
  facts_.discovery_names = {"backend.shop.local"};
  TaskSpec a = OneContainer(1), b = OneContainer(2);
  ASSERT_NO_FATAL_FAILURE(Start(a));
  ASSERT_NO_FATAL_FAILURE(Start(b));
  const std::string ns = KubeWorld::Ns(a);
  Json svc = w_->fake.Object(KubeWorld::Services(a), "sd-srv-0123456789abcdef");
  ASSERT_FALSE(svc.is_null());
  EXPECT_EQ(svc["spec"]["clusterIP"], "None");
  EXPECT_EQ(w_->Pod(a)["metadata"]["labels"]["kecs.dev/sd-srv-0123456789abcdef"], "true");
  auto rules = rt_->CoreDnsSnippet();
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  EXPECT_NE(rules->find("name regex ^backend\\.shop\\.local\\.$ sd-srv-0123456789abcdef." + ns + ".svc.cluster.local."),
            std::string::npos)
      << *rules;
  EXPECT_NE(rules->find("answer name ^sd-srv-0123456789abcdef\\." + ns + "\\.svc\\.cluster\\.local\\.$ backend.shop.local."),
            std::string::npos)
      << *rules;
  // The Service stays while a live pod is in it, and goes with the last one.
  ASSERT_TRUE(rt_->GarbageCollect({b.task_id}, {b.task_id}).ok());
  EXPECT_FALSE(w_->fake.Object(KubeWorld::Services(a), "sd-srv-0123456789abcdef").is_null());
  ASSERT_TRUE(rt_->GarbageCollect({}, {}).ok());
  EXPECT_TRUE(w_->fake.Object(KubeWorld::Services(a), "sd-srv-0123456789abcdef").is_null());
  rules = rt_->CoreDnsSnippet();
  ASSERT_TRUE(rules.ok());
  EXPECT_EQ(*rules, "");
}

TEST_F(K8sRuntimeExtras, ReadOutputSlicesTheKubeletsLog) {
  TaskSpec t = OneContainer(1);
  t.containers[0].name = "App_1";  // "app-1" in the pod
  auto none = rt_->ReadOutput(t.task_id, "App_1", 0, 100);
  EXPECT_EQ(none.status().code(), Code::kNotFound) << "no pod yet";
  ASSERT_NO_FATAL_FAILURE(Start(t));
  w_->fake.AppendLog(KubeWorld::Pods(t), "task-" + t.task_id, "app-1", "hello\nworld\n");
  auto all = rt_->ReadOutput(t.task_id, "App_1", 0, 100);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->data, "hello\nworld\n");
  EXPECT_EQ(all->size, 12);
  auto tail = rt_->ReadOutput(t.task_id, "App_1", 6, 3);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->data, "wor");
  auto past = rt_->ReadOutput(t.task_id, "App_1", 50, 10);
  ASSERT_TRUE(past.ok());
  EXPECT_EQ(past->data, "");
  EXPECT_EQ(rt_->ReadOutput(t.task_id, "nope", 0, 10).status().code(), Code::kNotFound);
  EXPECT_EQ(rt_->ReadOutput("../etc", "App_1", 0, 10).status().code(), Code::kInvalidArgument);
}

TEST_F(K8sRuntimeExtras, TargetHealthFollowsThePodsReadiness) {
  TaskSpec t = OneContainer(1);
  ASSERT_NO_FATAL_FAILURE(Start(t));
  auto seen = rt_->Observe(t);
  ASSERT_TRUE(seen.ok());
  ASSERT_FALSE(seen->pod_ip.empty());
  LoadBalancerSpec lb;
  LbTargetGroupSpec g;
  g.id = "tg-1";
  g.targets = {{seen->pod_ip, seen->pod_ip, 80, "us-east-1a", false},
               {"10.99.0.1", "10.99.0.1", 80, "us-east-1a", false},
               {seen->pod_ip, seen->pod_ip, 81, "us-east-1a", true}};
  lb.target_groups = {g};
  auto obs = rt_->ObserveTargets(lb);
  ASSERT_TRUE(obs.ok()) << obs.status().ToString();
  ASSERT_EQ(obs->size(), 3u);
  EXPECT_EQ((*obs)[0].state, model::TargetHealthState::kHealthy) << "a ready pod";
  EXPECT_EQ((*obs)[1].state, model::TargetHealthState::kInitial) << "no pod has that address";
  EXPECT_EQ((*obs)[2].connections, 0) << "a draining target has nothing in flight through kecs";
  // Not ready while it runs: unhealthy.
  Json pod = w_->Pod(t);
  Json status = pod["status"];
  for (auto& c : status["conditions"]) {
    if (c["type"] == "Ready") c["status"] = "False";
  }
  auto r = w_->client->Request("PATCH", KubeWorld::Pods(t) + "/task-" + t.task_id + "/status",
                               Json{{"status", status}}.dump(), "application/merge-patch+json");
  ASSERT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.status().ToString());
  obs = rt_->ObserveTargets(lb);
  ASSERT_TRUE(obs.ok());
  EXPECT_EQ((*obs)[0].state, model::TargetHealthState::kUnhealthy);
  EXPECT_EQ((*obs)[0].reason, "Target.FailedHealthChecks");
}

TEST_F(K8sRuntimeExtras, TheWatchServesInspectAndWakesTheController) {
  std::atomic<int> changes{0};
  rt_->Watch([&] { changes++; });
  TaskSpec t = OneContainer(1);
  ASSERT_NO_FATAL_FAILURE(Start(t));
  auto seen_running = [&] {
    auto s = rt_->Inspect(t);
    return s.ok() && !s->containers.empty() && s->containers[0].phase == ContainerState::Phase::kRunning;
  };
  for (int i = 0; i < 200 && !seen_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(seen_running());
  EXPECT_GT(changes.load(), 0) << "the pod's changes reached on_change";
  // Once the watch holds the pod, Inspect asks the server nothing.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int gets = w_->fake.requests("GET");
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(rt_->Inspect(t).ok());
  EXPECT_EQ(w_->fake.requests("GET"), gets);
  // A change the kubelet writes comes through the watch.
  w_->fake.ExitContainer(KubeWorld::Ns(t), "task-" + t.task_id, "app", 7, "Error");
  bool exited = false;
  for (int i = 0; i < 300 && !exited; ++i) {
    auto s = rt_->Inspect(t);
    exited = s.ok() && s->containers[0].phase == ContainerState::Phase::kExited && s->containers[0].exit_code == 7;
    if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(exited);
  // After Delete, Inspect says missing at once (not what the watch last held).
  ASSERT_TRUE(rt_->Delete(t).ok());
  auto gone = rt_->Inspect(t);
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->containers[0].phase, ContainerState::Phase::kMissing);
  rt_->StopWatch();
}

}  // namespace
}  // namespace kecs::runtime::kubernetes

namespace kecs::runtime::kubernetes {
namespace {

// No kubelet stops a pod whose node is gone: the stop deletes it and says why.
TEST_F(K8sRuntimeExtras, AStopOnANodeThatIsGoneDeletesThePod) {
  TaskSpec t = OneContainer(1);
  ASSERT_NO_FATAL_FAILURE(Start(t));
  ASSERT_TRUE(w_->client->Delete("/api/v1/nodes/node-1").ok());
  auto t0 = std::chrono::steady_clock::now();
  auto stopped = rt_->StopContainers(t);
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5)) << "it waited for a kubelet";
  ASSERT_EQ(stopped->containers.size(), 1u);
  EXPECT_EQ(stopped->containers[0].phase, ContainerState::Phase::kExited);
  EXPECT_EQ(stopped->containers[0].reason, "NodeLost: node node-1 is gone");
  EXPECT_TRUE(w_->Pod(t).is_null());
  EXPECT_TRUE(rt_->Delete(t).ok());
}

}  // namespace
}  // namespace kecs::runtime::kubernetes

namespace kecs::runtime::kubernetes {
namespace {

// A policy sync writes only what changed: the same groups again write nothing, a changed
// rule rewrites its group's policy alone.
TEST_F(K8sRuntimeExtras, APolicySyncWritesOnlyTheGroupsThatChanged) {
  TaskSpec t = OneContainer(1);
  ASSERT_TRUE(rt_->CreateSandbox(t).ok());
  net::VpcPolicy policy;
  policy.vpc_id = "vpc-0123456789abcdef0";
  net::SecurityGroupPolicy a, b;
  a.id = "sg-0a";
  a.rules = {{"sgr-1", false, "tcp", 80, 80, "10.0.0.0/16", "", "", ""}};
  b.id = "sg-0b";
  b.rules = {{"sgr-2", false, "tcp", 443, 443, "", "", "sg-0a", ""}};
  policy.groups = {a, b};
  ASSERT_TRUE(rt_->ApplyVpcPolicy(policy).ok());
  const std::string policies = "/apis/networking.k8s.io/v1/namespaces/" + KubeWorld::Ns(t) + "/networkpolicies";
  ASSERT_EQ(w_->fake.Count(policies), 2u);
  int patches = w_->fake.requests("PATCH");
  ASSERT_TRUE(rt_->ApplyVpcPolicy(policy).ok());
  EXPECT_EQ(w_->fake.requests("PATCH"), patches) << "an unchanged policy was written again";
  policy.groups[1].rules[0].from = policy.groups[1].rules[0].to = 8443;
  ASSERT_TRUE(rt_->ApplyVpcPolicy(policy).ok());
  EXPECT_EQ(w_->fake.requests("PATCH"), patches + 1) << "only sg-0b changed";
  Json b_policy = w_->fake.Object(policies, "sg-sg-0b");
  EXPECT_EQ(b_policy["spec"]["ingress"][0]["ports"][0]["port"], 8443) << b_policy.dump();
}

}  // namespace
}  // namespace kecs::runtime::kubernetes
