// The kubernetes runtime (runtime/kubernetes/kubernetes_runtime.h) over the fake API server
// and its kubelet (fake_kube_apiserver.h), for what the conformance suite does not cover:
// digests, NodePort services, garbage collection and NetworkPolicies across namespaces,
// the kubelet's failures as ECS reasons, stops that keep exit codes, and faults on writes.
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "unit/runtime/k8s_world.h"

namespace kecs::runtime::kubernetes {
namespace {

using testing::KubeWorld;

class K8sRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/usr/bin/skopeo", X_OK) != 0) GTEST_SKIP() << "skopeo (Debian skopeo) resolves digests";
    w_ = std::make_unique<KubeWorld>();
  }
  KubernetesRuntime& rt() { return *w_->rt; }

  // CreateSandbox, PullImages and StartContainers, each required to succeed.
  void Start(const TaskSpec& t) {
    ASSERT_TRUE(rt().CreateSandbox(t).ok());
    auto d = rt().PullImages(t);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    Status st = rt().StartContainers(t);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  TaskSpec TwoContainers(int n, const std::string& cluster = "default") {
    TaskSpec t = w_->NewTask(n, cluster);
    t.containers = {w_->Container("app"), w_->Container("sidecar")};
    return t;
  }

  std::unique_ptr<KubeWorld> w_;
};

TEST_F(K8sRuntime, ThePodRunsTheImagePinnedByItsRegistryDigest) {
  TaskSpec t = TwoContainers(1);
  ASSERT_TRUE(rt().CreateSandbox(t).ok());
  auto d = rt().PullImages(t);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->at("app"), w_->busybox_digest) << "the digest is the registry's manifest digest";
  ASSERT_NO_FATAL_FAILURE(Start(t));
  Json pod = w_->Pod(t);
  ASSERT_FALSE(pod.is_null());
  for (const auto& c : pod["spec"]["containers"]) {
    EXPECT_EQ(JStr(c, "image"), w_->fake.registry_host() + "/busybox@" + w_->busybox_digest);
  }
  auto seen = rt().Observe(t);
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->digests.at("app"), w_->busybox_digest) << "the kubelet's imageID";
  EXPECT_EQ(seen->node, "node-1");
  EXPECT_EQ(seen->pod_ip.rfind("10.244.", 0), 0u) << seen->pod_ip;
  auto s = rt().Inspect(t);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->address, seen->pod_ip) << "the pod IP is the task's address";
}

TEST_F(K8sRuntime, PublicPortsMakeANodePortServiceThatDeleteAndUpdatePublishingRemove) {
  TaskSpec t = TwoContainers(2);
  t.network.published = {PortBinding{.protocol = "tcp", .container_port = 80, .host_port = 32005}};
  ASSERT_NO_FATAL_FAILURE(Start(t));
  Json svc = w_->Service(t);
  ASSERT_FALSE(svc.is_null()) << "no NodePort service for a public port";
  EXPECT_EQ(JStr(svc["spec"], "type"), "NodePort");
  EXPECT_EQ(svc["spec"]["ports"][0]["nodePort"], 30005);
  EXPECT_EQ(JStr(svc["metadata"]["labels"], "kecs.dev/type"), "task-nodeport");
  // No public port left: UpdatePublishing deletes it; one again: it is back.
  TaskSpec none = t;
  none.network.published.clear();
  ASSERT_TRUE(rt().UpdatePublishing(none).ok());
  EXPECT_TRUE(w_->Service(t).is_null()) << "UpdatePublishing kept a service with no port";
  ASSERT_TRUE(rt().UpdatePublishing(none).ok()) << "deleting an absent service is fine";
  t.network.published = {PortBinding{.protocol = "tcp", .container_port = 8080, .host_port = 32007}};
  ASSERT_TRUE(rt().UpdatePublishing(t).ok());
  ASSERT_FALSE(w_->Service(t).is_null());
  EXPECT_EQ(w_->Service(t)["spec"]["ports"][0]["nodePort"], 30007);
  ASSERT_TRUE(rt().Delete(t).ok());
  EXPECT_TRUE(w_->Service(t).is_null()) << "Delete kept the service";
  EXPECT_TRUE(w_->Pod(t).is_null()) << "Delete kept the pod";
}

TEST_F(K8sRuntime, GarbageCollectRemovesDeadTasksInEveryNamespaceAndKeepsLiveOnes) {
  TaskSpec live_a = TwoContainers(3, "alpha"), dead_a = TwoContainers(4, "alpha");
  TaskSpec live_b = TwoContainers(5, "beta"), dead_b = TwoContainers(6, "beta");
  dead_b.network.published = {PortBinding{.container_port = 80, .host_port = 32001}};
  live_b.network.published = {PortBinding{.container_port = 80, .host_port = 32002}};
  for (const TaskSpec* t : {&live_a, &dead_a, &live_b, &dead_b}) ASSERT_NO_FATAL_FAILURE(Start(*t));
  ASSERT_NE(KubeWorld::Ns(live_a), KubeWorld::Ns(live_b));
  // A pod kecs does not manage stays, whatever its name.
  Json foreign = w_->Pod(dead_a);
  foreign["metadata"]["name"] = "someone-elses";
  foreign["metadata"]["labels"] = {{"app", "other"}};
  w_->fake.Put(KubeWorld::Pods(dead_a), foreign);
  ASSERT_TRUE(rt().GarbageCollect({live_a.task_id, live_b.task_id}, {}).ok());
  EXPECT_FALSE(w_->Pod(live_a).is_null());
  EXPECT_FALSE(w_->Pod(live_b).is_null());
  EXPECT_FALSE(w_->Service(live_b).is_null());
  EXPECT_TRUE(w_->Pod(dead_a).is_null());
  EXPECT_TRUE(w_->Pod(dead_b).is_null());
  EXPECT_TRUE(w_->Service(dead_b).is_null());
  EXPECT_FALSE(w_->fake.Object(KubeWorld::Pods(dead_a), "someone-elses").is_null());
  auto s = rt().Inspect(live_a);
  ASSERT_TRUE(s.ok());
  for (const auto& c : s->containers) EXPECT_EQ(c.phase, ContainerState::Phase::kRunning) << c.name;
}

TEST_F(K8sRuntime, ApplyVpcPolicyMakesAPolicyPerGroupInEveryManagedNamespace) {
  TaskSpec a = TwoContainers(7, "alpha"), b = TwoContainers(8, "beta");
  ASSERT_TRUE(rt().CreateSandbox(a).ok());
  ASSERT_TRUE(rt().CreateSandbox(b).ok());
  w_->fake.Put("/api/v1/namespaces", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "kube-system"}}}});
  net::VpcPolicy p;
  p.vpc_id = "vpc-0123456789abcdef0";
  net::SecurityGroupPolicy web{.id = "sg-0000000000000web1", .rules = {}};
  web.rules.push_back(net::SgRule{.id = "sgr-1", .protocol = "tcp", .from = 80, .to = 80, .cidr4 = "10.0.0.0/16"});
  net::SecurityGroupPolicy db{.id = "sg-00000000000000db1", .rules = {}};
  db.rules.push_back(net::SgRule{.id = "sgr-2", .protocol = "tcp", .from = 5432, .to = 5432, .group = web.id});
  p.groups = {web, db};
  ASSERT_TRUE(rt().ApplyVpcPolicy(p).ok());
  auto policies = [&](const std::string& ns) {
    std::set<std::string> names;
    for (const auto& o : w_->fake.List("/apis/networking.k8s.io/v1/namespaces/" + ns + "/networkpolicies")) {
      names.insert(JStr(o["metadata"], "name"));
    }
    return names;
  };
  // NetworkPolicy "sg-<group id>" (manifests.h).
  std::set<std::string> both = {"sg-sg-0000000000000web1", "sg-sg-00000000000000db1"};
  EXPECT_EQ(policies(KubeWorld::Ns(a)), both);
  EXPECT_EQ(policies(KubeWorld::Ns(b)), both);
  EXPECT_TRUE(policies("kube-system").empty()) << "a namespace kecs does not manage got policies";
  // Another VPC's policy in the same namespace is not this VPC's to delete.
  net::VpcPolicy other;
  other.vpc_id = "vpc-0fedcba9876543210";
  other.groups = {net::SecurityGroupPolicy{.id = "sg-000000000000other", .rules = {}}};
  ASSERT_TRUE(rt().ApplyVpcPolicy(other).ok());
  // The db group is deleted from the VPC: its policy goes, in every namespace.
  p.groups = {web};
  ASSERT_TRUE(rt().ApplyVpcPolicy(p).ok());
  std::set<std::string> left = {"sg-sg-0000000000000web1", "sg-sg-000000000000other"};
  EXPECT_EQ(policies(KubeWorld::Ns(a)), left);
  EXPECT_EQ(policies(KubeWorld::Ns(b)), left);
  // The cluster-wide list a controller would watch sees all of them.
  EXPECT_EQ(w_->fake.Count("/apis/networking.k8s.io/v1/networkpolicies"), 4u);
}

TEST_F(K8sRuntime, AnImageTheRegistryLacksIsCannotPullContainerError) {
  TaskSpec t = w_->NewTask(9);
  ContainerSpec c = w_->Container("app");
  // A digest reference is not resolved again: the kubelet finds no such manifest.
  c.image = w_->fake.registry_host() + "/busybox@sha256:" + std::string(64, '0');
  t.containers = {c};
  ASSERT_TRUE(rt().CreateSandbox(t).ok());
  ASSERT_TRUE(rt().PullImages(t).ok());
  Status st = rt().StartContainers(t);
  ASSERT_FALSE(st.ok()) << "a container whose image cannot be pulled started";
  EXPECT_EQ(st.message().rfind("CannotPullContainerError", 0), 0u) << st.message();
  EXPECT_NE(st.message().find(c.image), std::string::npos) << "the reason names the image: " << st.message();
  auto s = rt().Inspect(t);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->containers.size(), 1u);
  EXPECT_EQ(s->containers[0].phase, ContainerState::Phase::kExited);
  EXPECT_EQ(s->containers[0].reason.rfind("CannotPullContainerError", 0), 0u) << s->containers[0].reason;
  ASSERT_TRUE(rt().Delete(t).ok());
  EXPECT_TRUE(w_->Pod(t).is_null());
}

TEST_F(K8sRuntime, OomKillAndEvictionComeBackThroughInspectWithEcsReasons) {
  TaskSpec oom = TwoContainers(10), evicted = TwoContainers(11);
  ASSERT_NO_FATAL_FAILURE(Start(oom));
  ASSERT_NO_FATAL_FAILURE(Start(evicted));
  ASSERT_TRUE(w_->fake.ExitContainer(KubeWorld::Ns(oom), "task-" + oom.task_id, KubeWorld::PodContainer(oom, "app"), 137,
                                     "OOMKilled"));
  auto s = rt().Inspect(oom);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->containers[0].phase, ContainerState::Phase::kExited);
  EXPECT_EQ(s->containers[0].exit_code, 137);
  EXPECT_EQ(s->containers[0].reason, "OutOfMemoryError: Container killed due to memory usage");
  EXPECT_EQ(s->containers[1].phase, ContainerState::Phase::kRunning) << "only app was killed";

  ASSERT_TRUE(w_->fake.Evict(KubeWorld::Ns(evicted), "task-" + evicted.task_id));
  s = rt().Inspect(evicted);
  ASSERT_TRUE(s.ok());
  for (const auto& c : s->containers) {
    EXPECT_EQ(c.phase, ContainerState::Phase::kExited) << c.name;
    EXPECT_EQ(c.reason, "PodEvicted: The node was low on resource: memory.") << c.name;
  }
  // The kubelet leaves an evicted pod alone: a stop reports the same.
  auto stopped = rt().StopContainers(evicted);
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  EXPECT_EQ(stopped->containers[0].reason, "PodEvicted: The node was low on resource: memory.");
}

TEST_F(K8sRuntime, StopContainersKeepsExitCodesAndThePodUntilDelete) {
  TaskSpec t = TwoContainers(12);
  ASSERT_NO_FATAL_FAILURE(Start(t));
  w_->fake.SetStopExitCode(KubeWorld::Ns(t), "task-" + t.task_id, KubeWorld::PodContainer(t, "sidecar"), 137);
  auto stopped = rt().StopContainers(t);
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  ASSERT_EQ(stopped->containers.size(), 2u);
  EXPECT_EQ(stopped->containers[0].exit_code, 0);
  EXPECT_EQ(stopped->containers[1].exit_code, 137);
  Json pod = w_->Pod(t);
  ASSERT_FALSE(pod.is_null()) << "the stop deleted the pod and its exit codes";
  EXPECT_EQ(JStr(pod["status"], "reason"), "DeadlineExceeded");
  EXPECT_GT(JInt(pod["spec"], "activeDeadlineSeconds", 0), 0);
  for (int i = 0; i < 2; ++i) {
    auto again = rt().Inspect(t);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->containers[0].exit_code, 0);
    EXPECT_EQ(again->containers[1].exit_code, 137);
  }
  ASSERT_TRUE(rt().Delete(t).ok());
  EXPECT_TRUE(w_->Pod(t).is_null());
}

// A pod whose spec changes in any other way is refused (as a real API server does), so a
// runtime that re-applied a different pod would fail here.
TEST_F(K8sRuntime, TheFakeRefusesPodSpecChangesARealServerRefuses) {
  TaskSpec t = TwoContainers(13);
  ASSERT_NO_FATAL_FAILURE(Start(t));
  Json pod = w_->Pod(t);
  const std::string path = KubeWorld::Pods(t) + "/task-" + t.task_id;
  Json changed = {{"spec", {{"restartPolicy", "Always"}}}};
  auto r = w_->client->Request("PATCH", path, changed.dump(), "application/merge-patch+json");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 422) << r->body;
  EXPECT_NE(r->body.find("Forbidden: pod updates may not change fields"), std::string::npos) << r->body;
  Json raised = {{"spec", {{"activeDeadlineSeconds", 100}}}};
  r = w_->client->Request("PATCH", path, raised.dump(), "application/merge-patch+json");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << "setting a deadline is allowed: " << r->body;
  raised["spec"]["activeDeadlineSeconds"] = 200;
  r = w_->client->Request("PATCH", path, raised.dump(), "application/merge-patch+json");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 422) << "raising a deadline is not: " << r->body;
  // The status subresource takes a kubelet's merge patch and nothing of the spec.
  Json status = {{"status", {{"message", "hello"}}}, {"spec", {{"restartPolicy", "Always"}}}};
  r = w_->client->Request("PATCH", path + "/status", status.dump(), "application/merge-patch+json");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(JStr(w_->Pod(t)["status"], "message"), "hello");
  EXPECT_EQ(JStr(w_->Pod(t)["spec"], "restartPolicy"), "Never");
  EXPECT_EQ(JStr(w_->Pod(t)["status"], "podIP"), JStr(pod["status"], "podIP")) << "a merge patch keeps the rest";
}

TEST_F(K8sRuntime, SurvivesConflictsServerErrorsAndExpiredTokensOnItsWrites) {
  TaskSpec t = TwoContainers(14);
  t.network.published = {PortBinding{.container_port = 80, .host_port = 32003}};
  ASSERT_TRUE(rt().CreateSandbox(t).ok());
  ASSERT_TRUE(rt().PullImages(t).ok());
  // Applies are retried: two conflicts and a 503 on the pod's and service's writes.
  w_->fake.FailNext(409, 2, "PATCH");
  w_->fake.FailNext(503, 1, "PATCH");
  Status st = rt().StartContainers(t);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(w_->Pod(t).is_null());
  EXPECT_FALSE(w_->Service(t).is_null());
  // The token rotates: a 401 makes the client read the token file again.
  w_->fake.SetToken("fake-token-2");
  w_->WriteToken("fake-token-2");
  auto s = rt().Inspect(t);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  for (const auto& c : s->containers) EXPECT_EQ(c.phase, ContainerState::Phase::kRunning) << c.name;
  // The stop's patch and the DELETEs are retried as applies are.
  w_->fake.FailNext(500, 1, "PATCH");
  auto stopped = rt().StopContainers(t);
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  for (const auto& c : stopped->containers) EXPECT_EQ(c.exit_code, 0) << c.name;
  // Beyond the client's budget the failure is the caller's; repeating the call finishes the job.
  w_->fake.FailNext(500, 6, "DELETE");  // the first try and the client's 5 retries
  st = rt().Delete(t);
  EXPECT_FALSE(st.ok()) << "a DELETE failing past the retries went unnoticed";
  EXPECT_TRUE(rt().Delete(t).ok());
  EXPECT_TRUE(w_->Pod(t).is_null());
  EXPECT_TRUE(w_->Service(t).is_null());
}

TEST_F(K8sRuntime, HostModeHasTheNodesAddressAndNoneModeTheLoopbackOnlyPolicy) {
  TaskSpec host = TwoContainers(17);
  host.network.mode = model::NetworkMode::kHost;
  ASSERT_NO_FATAL_FAILURE(Start(host));
  EXPECT_EQ(w_->Pod(host)["spec"].value("hostNetwork", false), true);
  auto s = rt().Inspect(host);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->address, "172.18.0.2") << "a host-network pod has its node's address";

  TaskSpec none = TwoContainers(18);
  none.network.mode = model::NetworkMode::kNone;
  ASSERT_NO_FATAL_FAILURE(Start(none));
  Json policy = w_->fake.Object("/apis/networking.k8s.io/v1/namespaces/" + KubeWorld::Ns(none) + "/networkpolicies",
                                "network-none");
  ASSERT_FALSE(policy.is_null()) << "CreateSandbox of a none task made no loopback-only policy";
  EXPECT_EQ(JStr(w_->Pod(none)["metadata"]["labels"], "kecs.dev/network-none"), "true") << "the policy selects the pod";
}

// No Ready node: the pod stays Pending and unscheduled, StartContainers gives up after its
// timeout, and a stop deletes the pod (no kubelet would ever stop it).
TEST_F(K8sRuntime, APodNoReadyNodeTakesNeverStartsAndAStopDeletesIt) {
  w_->fake.SetNodeReady("node-1", false);
  w_->Rebuild([](KubernetesOptions& o) { o.start_timeout = std::chrono::seconds(1); });
  TaskSpec t = TwoContainers(19);
  ASSERT_TRUE(rt().CreateSandbox(t).ok());
  ASSERT_TRUE(rt().PullImages(t).ok());
  Status st = rt().StartContainers(t);
  ASSERT_FALSE(st.ok()) << "a pod no node took started";
  EXPECT_EQ(st.message().rfind("CannotStartContainerError", 0), 0u) << st.message();
  Json pod = w_->Pod(t);
  ASSERT_FALSE(pod.is_null());
  EXPECT_EQ(JStr(pod["status"], "phase"), "Pending");
  EXPECT_EQ(JStr(pod["spec"], "nodeName"), "") << "bound to a node that is not Ready";
  auto s = rt().Inspect(t);
  ASSERT_TRUE(s.ok());
  for (const auto& c : s->containers) EXPECT_EQ(c.phase, ContainerState::Phase::kCreated) << c.name;
  auto stopped = rt().StopContainers(t);
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  EXPECT_TRUE(w_->Pod(t).is_null()) << "the unscheduled pod was kept";
  for (const auto& c : stopped->containers) EXPECT_EQ(c.phase, ContainerState::Phase::kMissing) << c.name;
}

// A cluster-wide watch (as a controller would run one) sees the kubelet's status writes
// for pods in every namespace, each a new resourceVersion.
TEST_F(K8sRuntime, AClusterWideWatchSeesTheKubeletsStatusWritesInEveryNamespace) {
  TaskSpec a = TwoContainers(15, "alpha"), b = TwoContainers(16, "beta");
  std::mutex mu;
  std::map<std::string, std::string> phase;  // pod -> last phase seen
  std::vector<int64_t> versions;
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    (void)w_->client->ListWatch(
        "/api/v1/pods?labelSelector=kecs.dev%2Fmanaged-by%3Dkecs", [](const Json&) { return Status::Ok(); },
        [&](const WatchEvent& e) {
          std::lock_guard<std::mutex> l(mu);
          phase[JStr(e.object["metadata"], "name")] = JStr(e.object.value("status", Json::object()), "phase");
          versions.push_back(std::stoll(JStr(e.object["metadata"], "resourceVersion")));
          return Status::Ok();
        },
        stop);
  });
  ASSERT_NO_FATAL_FAILURE(Start(a));
  ASSERT_NO_FATAL_FAILURE(Start(b));
  bool both_running = false;
  for (int i = 0; i < 200 && !both_running; ++i) {
    {
      std::lock_guard<std::mutex> l(mu);
      both_running = phase["task-" + a.task_id] == "Running" && phase["task-" + b.task_id] == "Running";
    }
    if (!both_running) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop = true;
  watcher.join();
  EXPECT_TRUE(both_running) << "the watch did not see both pods run";
  std::lock_guard<std::mutex> l(mu);
  EXPECT_GE(versions.size(), 6u) << "created, scheduled and started, for each pod";
  EXPECT_TRUE(std::is_sorted(versions.begin(), versions.end()));
}

// kecs-fake-kube-apiserver, as the e2e tests run it: a kubeconfig with the token from
// --token-file, nodes, images and the kubelet from flags, and an exit on SIGTERM.
TEST(KubeFakeProgram, ServesWhatItsFlagsSayWithItsKubeconfigsTokenAndStopsOnSigterm) {
  std::string program = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "kecs-fake-kube-apiserver";
  ASSERT_EQ(access(program.c_str(), X_OK), 0) << program << " is built with the unit tests";
  kecs::testing::TempDir dir;
  const std::string port_file = dir.path() + "/port", kubeconfig = dir.path() + "/kubeconfig",
                    token_file = dir.path() + "/token";
  std::ofstream(token_file) << "program-token-1\n";
  std::vector<std::string> args = {program, "--port", "0", "--port-file", port_file, "--kubeconfig-out", kubeconfig,
                                   "--token-file", token_file, "--node", "n1:4:8Gi:us-east-1b", "--image",
                                   "nginx:1.25", "--kubelet"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv.data(), environ), 0);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
  } reaper{pid};
  for (int i = 0; i < 500 && !std::filesystem::exists(port_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(std::filesystem::exists(port_file)) << "no port file";
  struct stat st {};
  ASSERT_EQ(stat(kubeconfig.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the kubeconfig holds a token";
  auto creds = LoadKubeconfig(kubeconfig);
  ASSERT_TRUE(creds.ok()) << creds.status().ToString();
  EXPECT_EQ(creds->token, "program-token-1");
  Client c(*creds);
  auto nodes = c.Get("/api/v1/nodes");
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  ASSERT_EQ((*nodes)["items"].size(), 1u);
  const Json& node = (*nodes)["items"][0];
  EXPECT_EQ(JStr(node["metadata"]["labels"], "topology.kubernetes.io/zone"), "us-east-1b");
  EXPECT_EQ(JStr(node["status"]["allocatable"], "cpu"), "4");
  EXPECT_EQ(JStr(node["status"]["allocatable"], "memory"), "8Gi");
  Credentials anonymous = *creds;
  anonymous.token.clear();
  EXPECT_EQ(Client(anonymous).Get("/api/v1/nodes").status().code(), Code::kPermissionDenied);
  // The kubelet runs a pod whose image the registry has.
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "web"}, {"namespace", "demo"}}},
              {"spec", {{"containers", {{{"name", "web"}, {"image", "nginx:1.25"}}}}}}};
  ASSERT_TRUE(c.Apply("/api/v1/namespaces/demo/pods/web", pod).ok());
  std::string image_id;
  for (int i = 0; i < 250 && image_id.empty(); ++i) {
    auto got = c.Get("/api/v1/namespaces/demo/pods/web");
    ASSERT_TRUE(got.ok());
    for (const auto& s : got->value("status", Json::object()).value("containerStatuses", Json::array())) {
      if (s["state"].contains("running")) image_id = JStr(s, "imageID");
    }
    if (image_id.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(image_id.rfind("nginx@sha256:", 0), 0u) << image_id;
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  reaper.pid = 0;
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << "exit status " << wstatus;
}

}  // namespace
}  // namespace kecs::runtime::kubernetes
