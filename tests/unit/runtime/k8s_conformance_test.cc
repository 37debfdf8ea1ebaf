// The runtime conformance suite (conformance.h) against the kubernetes runtime, over the
// fake API server and its simulated kubelet (fake_kube_apiserver.h), with digests resolved
// by skopeo at the fake's registry. The kubelet runs no process: a container's own exit is
// the kubelet's (EndContainer), and a pod has one grace period for all its containers
// (Harness::runs_processes, per_container_stop_timeouts).
#include <unistd.h>

// The tests themselves are defined once, in simulated_conformance_test.cc.
#define KECS_CONFORMANCE_FIXTURE_ONLY
#include "unit/runtime/conformance.h"
#include "unit/runtime/k8s_world.h"

namespace kecs::runtime::conformance {
namespace {

using kubernetes::testing::KubeWorld;

class KubernetesHarness : public Harness {
 public:
  std::string SkipReason() override {
    return access("/usr/bin/skopeo", X_OK) == 0 ? "" : "skopeo (Debian skopeo) resolves digests; it is not installed";
  }
  Status Start() override {
    world_ = std::make_unique<KubeWorld>();
    return Status::Ok();
  }
  Runtime& runtime() override { return *world_->rt; }
  TaskSpec NewTask(int n) override { return world_->NewTask(n); }
  std::string Image() override { return world_->image(); }
  // The task's pod and service, wherever they are.
  std::vector<std::string> Leftovers(const TaskSpec& task) override {
    std::vector<std::string> out;
    for (const char* kind : {"pods", "services"}) {
      for (const auto& o : world_->fake.List(std::string("/api/v1/") + kind, "kecs.dev/task-id=" + task.task_id)) {
        out.push_back(std::string(kind) + " " + JStr(o["metadata"], "namespace") + "/" + JStr(o["metadata"], "name"));
      }
    }
    return out;
  }
  // The cluster keeps its pods' logs; kecs keeps no file of its own.
  std::vector<std::string> KeptFiles(const TaskSpec&) override { return {}; }
  void CleanUp() override {
    if (world_) (void)world_->rt->GarbageCollect({}, {});
  }
  bool runs_processes() override { return false; }
  bool per_container_stop_timeouts() override { return false; }
  bool keeps_files() override { return false; }
  Status EndContainer(const TaskSpec& task, const std::string& container, int code) override {
    if (!world_->fake.ExitContainer(KubeWorld::Ns(task), "task-" + task.task_id, KubeWorld::PodContainer(task, container),
                                    code)) {
      return NotFound("container " + container + " of task " + task.task_id + " is not running in the fake");
    }
    return Status::Ok();
  }

 private:
  std::unique_ptr<KubeWorld> world_;
};

INSTANTIATE_TEST_SUITE_P(Kubernetes, RuntimeConformance,
                         ::testing::Values(RuntimeFactory{"kubernetes",
                                                          [] { return std::make_unique<KubernetesHarness>(); }}),
                         RuntimeFactoryName);

}  // namespace
}  // namespace kecs::runtime::conformance
