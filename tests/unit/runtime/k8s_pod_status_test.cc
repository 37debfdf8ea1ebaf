// The one mapping from a Pod's status to the runtime's container states
// (runtime/kubernetes/pod_status.h), over pods as the kubelet reports them.
#include "runtime/kubernetes/pod_status.h"

#include <gtest/gtest.h>

#include "runtime/kubernetes/manifests.h"

namespace kecs::runtime::kubernetes {
namespace {

using Phase = ContainerState::Phase;

TaskSpec Task() {
  TaskSpec t;
  t.task_id = "0123456789abcdef0123456789abcdef";
  t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/demo/" + t.task_id;
  t.cluster = "demo";
  t.family = "web";
  t.network.mode = model::NetworkMode::kAwsvpc;
  ContainerSpec web;
  web.name = "Web_App";  // "web-app" in the pod
  web.image = "nginx";
  web.health_check = model::HealthCheck{{"CMD", "true"}, 5, 2, 3, 0};
  ContainerSpec side;
  side.name = "sidecar";
  side.image = "busybox";
  t.containers = {web, side};
  return t;
}

Json PodWith(const Json& statuses, const Json& status_extra = Json::object()) {
  PodFacts f;
  f.region = "us-east-1";
  Json pod = PodManifest(Task(), f);
  Json status = {{"phase", "Running"}, {"podIP", "10.42.0.7"}, {"containerStatuses", statuses}};
  for (const auto& [k, v] : status_extra.items()) status[k] = v;
  pod["status"] = status;
  pod["spec"]["nodeName"] = "node-b";
  return pod;
}

Json Running(const std::string& name, bool ready) {
  return {{"name", name}, {"ready", ready},
          {"imageID", "docker.io/library/nginx@sha256:0a1b2c"}, {"containerID", "containerd://" + name + "-1"},
          {"state", {{"running", {{"startedAt", "2026-12-06T09:00:00Z"}}}}}};
}

TEST(K8sPodStatus, RunningContainersWithReadinessAsHealth) {
  auto o = ObservePod(PodWith({Running("web-app", true), Running("sidecar", false)}), Task());
  ASSERT_EQ(o.state.containers.size(), 2u);
  const auto& web = o.state.containers[0];
  EXPECT_EQ(web.name, "Web_App");
  EXPECT_EQ(web.phase, Phase::kRunning);
  EXPECT_EQ(web.health, model::HealthStatus::kHealthy);
  EXPECT_DOUBLE_EQ(*web.started_at, 1796547600.0);
  // No readinessProbe: no health to report.
  EXPECT_EQ(o.state.containers[1].health, model::HealthStatus::kUnknown);
  EXPECT_EQ(o.pod_ip, "10.42.0.7");
  EXPECT_EQ(o.node, "node-b");
  EXPECT_EQ(o.digests["Web_App"], "sha256:0a1b2c");
  EXPECT_EQ(web.runtime_id, "containerd://web-app-1") << "the kubelet's containerID";
  // Running but not (yet) ready: unknown, not unhealthy.
  auto later = ObservePod(PodWith({Running("web-app", false), Running("sidecar", false)}), Task());
  EXPECT_EQ(later.state.containers[0].health, model::HealthStatus::kUnknown);
}

TEST(K8sPodStatus, ExitsKeepTheirCodesAndOomIsOutOfMemoryError) {
  Json oom = {{"name", "web-app"},
              {"state", {{"terminated", {{"exitCode", 137}, {"reason", "OOMKilled"},
                                         {"startedAt", "2026-12-06T09:00:00Z"}, {"finishedAt", "2026-12-06T09:00:05Z"}}}}}};
  Json done = {{"name", "sidecar"}, {"state", {{"terminated", {{"exitCode", 3}, {"reason", "Error"}}}}}};
  auto o = ObservePod(PodWith({oom, done}, {{"phase", "Failed"}}), Task());
  EXPECT_EQ(o.state.containers[0].phase, Phase::kExited);
  EXPECT_EQ(*o.state.containers[0].exit_code, 137);
  EXPECT_EQ(o.state.containers[0].reason, "OutOfMemoryError: Container killed due to memory usage");
  EXPECT_DOUBLE_EQ(*o.state.containers[0].finished_at, 1796547605.0);
  EXPECT_EQ(*o.state.containers[1].exit_code, 3);
  EXPECT_EQ(o.state.containers[1].reason, "");
}

TEST(K8sPodStatus, PullAndStartFailuresAreEcsErrors) {
  Json pull = {{"name", "web-app"},
               {"state", {{"waiting", {{"reason", "ImagePullBackOff"}, {"message", "Back-off pulling image \"nginx:nope\""}}}}}};
  Json config = {{"name", "sidecar"},
                 {"state", {{"waiting", {{"reason", "CreateContainerConfigError"}, {"message", "secret \"x\" not found"}}}}}};
  auto o = ObservePod(PodWith({pull, config}, {{"phase", "Pending"}}), Task());
  EXPECT_EQ(o.state.containers[0].phase, Phase::kExited);
  EXPECT_EQ(o.state.containers[0].reason, "CannotPullContainerError: Back-off pulling image \"nginx:nope\"");
  EXPECT_FALSE(o.state.containers[0].exit_code);
  EXPECT_EQ(o.state.containers[1].reason, "CannotStartContainerError: secret \"x\" not found");
  Json creating = {{"name", "web-app"}, {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}};
  auto c = ObservePod(PodWith(Json::array({creating}), {{"phase", "Pending"}}), Task());
  EXPECT_EQ(c.state.containers[0].phase, Phase::kCreated);
  EXPECT_EQ(c.state.containers[1].phase, Phase::kCreated);  // no status yet
}

TEST(K8sPodStatus, AnEvictedOrDeletedPodEndsTheTask) {
  Json status_extra = {{"phase", "Failed"}, {"reason", "Evicted"},
                       {"message", "The node was low on resource: memory."}};
  auto o = ObservePod(PodWith(Json::array({Running("web-app", true)}), status_extra), Task());
  for (const auto& c : o.state.containers) {
    EXPECT_EQ(c.phase, Phase::kExited);
    EXPECT_EQ(c.reason, "PodEvicted: The node was low on resource: memory.");
  }
  // Deleted by someone else: the containers the kubelet stopped say why.
  Json deleting = PodWith(Json::array({Json{{"name", "web-app"}, {"state", {{"terminated", {{"exitCode", 143}, {"reason", "Error"}}}}}},
                                      Running("sidecar", false)}));
  deleting["metadata"]["deletionTimestamp"] = "2026-12-07T01:00:00Z";
  auto d = ObservePod(deleting, Task());
  EXPECT_EQ(d.state.containers[0].phase, Phase::kExited);
  EXPECT_EQ(d.state.containers[0].exit_code, 143);
  EXPECT_EQ(d.state.containers[0].reason, "PodDeleted: the task's pod was deleted");
  EXPECT_EQ(d.state.containers[1].phase, Phase::kRunning) << "still stopping";
  EXPECT_EQ(d.state.containers[1].reason, "");
  auto gone = ObservePod(Json(), Task());
  ASSERT_EQ(gone.state.containers.size(), 2u);
  EXPECT_EQ(gone.state.containers[0].phase, Phase::kMissing);
  EXPECT_EQ(gone.state.containers[1].name, "sidecar");
}

TEST(K8sPodStatus, AMalformedPodReadsAsNotStartedNeverThrows) {
  Json junk = {{"metadata", 3}, {"spec", "x"}, {"status", {{"containerStatuses", {1, "a", {{"state", 7}}}}}}};
  auto o = ObservePod(junk, Task());
  ASSERT_EQ(o.state.containers.size(), 2u);
  EXPECT_EQ(o.state.containers[0].phase, Phase::kCreated);
  Json bad_exit = {{"name", "web-app"}, {"state", {{"terminated", {{"exitCode", "x"}}}}}};
  auto b = ObservePod(PodWith(Json::array({bad_exit})), Task());
  EXPECT_EQ(b.state.containers[0].phase, Phase::kExited);
}

}  // namespace
}  // namespace kecs::runtime::kubernetes
