#pragma once
// The kubernetes runtime (issue 16): the Runtime contract (runtime/runtime.h) over the
// Kubernetes API, as manifests.h maps ECS onto Kubernetes. kecs's controllers keep ECS's
// semantics (placement, deployments, Cloud Map); the cluster's kubelets run the pods.
//
//   CreateSandbox    the cluster's Namespace (and, for a `none` task, the policy that
//                    leaves its pods the loopback only)
//   PullImages       each image's manifest digest, resolved at its registry as the ECS
//                    agent does (ImageResolver); the Pod then runs exactly that digest
//   StartContainers  the Pod (every container: Kubernetes starts a pod's containers
//                    together, init containers first), its Secret (the values of its
//                    secret variables), its NodePort Service and the headless Service
//                    of each Cloud Map service it is in; waits
//                    until the named containers run, have run, or cannot start
//   Inspect          the Pod's status (pod_status.h), its IP and node
//   StopContainers   activeDeadlineSeconds: the kubelet stops every container (SIGTERM,
//                    SIGKILL after terminationGracePeriodSeconds, the largest stopTimeout)
//                    and keeps the Pod with its exit codes until Delete; a pod whose node
//                    is gone, or whose kubelet does not stop it in time, is deleted
//   Delete           the Pod, its Service and its Secret
//   GarbageCollect   every Pod, Service and Secret labelled kecs.dev/managed-by=kecs whose task is
//                    not live, in any namespace
//   UpdatePublishing the NodePort Service, applied or deleted
//   ApplyVpcPolicy   a NetworkPolicy per security group in each namespace kecs manages
//   ReadOutput       the container's log from the kubelet (pods/<name>/log)
//   ObserveTargets   load balancer targets' health from their pods' readiness
//
// Every write is a server-side apply under the field manager "kecs" (or a DELETE), so every
// call is idempotent, and nothing is kept in memory that the cluster does not hold: after
// a restart, Inspect reads the same pods (adoption by label).
#include <chrono>
#include <functional>
#include <map>
#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "runtime/kubernetes/client.h"
#include "runtime/kubernetes/manifests.h"
#include "runtime/kubernetes/pod_status.h"
#include "runtime/local/image_store.h"
#include "runtime/runtime.h"

namespace kecs::runtime::kubernetes {

// An image reference's manifest digest ("sha256:<64 hex>"), resolved at its registry.
// Failures are the registry's words ("... manifest unknown"); the caller words them as
// CannotPullContainerError.
using ImageResolver = std::function<Result<std::string>(const ContainerSpec& container)>;

// The default resolver: `skopeo inspect --raw` of docker://<registry>/<repository>:<tag>
// (mirrors, insecure registries and credentials from `registries`; a container's
// registry_auth for its own registry), hashed with SHA-256. Credentials reach skopeo
// through a private auth file under `scratch_dir` only, never its command line.
ImageResolver SkopeoResolver(local::RegistryConfig registries, std::string scratch_dir, Env* env = Env::Default());

struct KubernetesOptions {
  std::string region = "us-east-1";      // a task whose facts name none
  std::string server;                    // the API server's URL (Describe)
  int public_port_first = 32000;         // assignPublicIp host ports ...
  int public_port_last = 32999;
  int node_port_first = 30000;           // ... and the NodePorts they map to
  std::chrono::milliseconds poll{200};   // while waiting for the kubelet
  std::chrono::seconds start_timeout{600};  // StartContainers: pulls and starts
  std::chrono::seconds stop_slack{30};      // StopContainers waits grace + this
  // Each task's ECS facts for its Pod (region, revision, launch type, subnets, groups, the
  // node placement chose, Cloud Map services). Required.
  std::function<Result<PodFacts>(const TaskSpec&)> facts;
  // Required.
  ImageResolver resolve_image;
};

class KubernetesRuntime : public Runtime {
 public:
  KubernetesRuntime(std::shared_ptr<Client> client, KubernetesOptions options);
  ~KubernetesRuntime() override;

  // Watches the pods kecs manages (Client::ListWatch: a list, then a watch with bookmarks
  // that reconnects and lists again after a 410), so that Inspect reads them from memory
  // rather than asking the API server for each task at each resync, and `on_change` (the
  // task controller's Notify) hears of a change at once. A pod the cache does not hold is
  // still read from the API server: a pod just made is never taken for a missing one.
  // Without Watch, Inspect GETs each pod. Call once; StopWatch (or the destructor) ends it.
  void Watch(std::function<void()> on_change);
  void StopWatch();

  std::string name() const override { return "kubernetes"; }
  bool has_data_plane() const override { return true; }
  std::string Describe() const override;

  Status CreateSandbox(const TaskSpec& task) override;
  Result<std::map<std::string, std::string>> PullImages(const TaskSpec& task) override;
  using Runtime::StartContainers;
  Status StartContainers(const TaskSpec& task, const std::set<std::string>& names) override;
  Result<TaskState> Inspect(const TaskSpec& task) override;
  Result<TaskState> StopContainers(const TaskSpec& task) override;
  Status Delete(const TaskSpec& task) override;
  Status GarbageCollect(const std::set<std::string>& live_task_ids,
                        const std::set<std::string>& known_task_ids) override;
  Status UpdatePublishing(const TaskSpec& task) override;
  Status ApplyVpcPolicy(const net::VpcPolicy& policy) override;
  // Target health as the cluster sees it: a target whose address is a kecs pod's IP is
  // healthy while the pod is Ready (its readiness probe is the container's health check),
  // unhealthy while it runs and is not. The load balancer's traffic itself is not carried
  // on the cluster (design 19.4): ApplyLoadBalancer keeps the default.
  Result<std::vector<TargetObservation>> ObserveTargets(const LoadBalancerSpec& lb) override;
  // The container's log as the kubelet keeps it (GET .../pods/<name>/log?container=),
  // sliced at `offset`: what `kecs logs` and the awslogs shipper read. NotFound when the
  // task has no pod (any more).
  Result<ContainerOutput> ReadOutput(const std::string& task_id, const std::string& container, int64_t offset,
                                     size_t max) override;

  // The CoreDNS configuration that makes every Cloud Map name kecs has a headless Service
  // for resolve in the cluster's pods: one `rewrite` block per name, mapping
  // <service>.<namespace> to the Service's cluster name and the answers back. Pasted into
  // the Corefile's server block (kubectl -n kube-system edit configmap coredns).
  Result<std::string> CoreDnsSnippet();
  // What Inspect saw of the task's Pod: its IP and node besides the container states
  // (the daemon writes the IP into the task's ENI, as DescribeTasks reports it).
  Result<PodObservation> Observe(const TaskSpec& task);
  // The namespace of a task's pods.
  Result<std::string> NamespaceOf(const TaskSpec& task);
  Client& client() { return *client_; }

 private:
  Result<Json> GetPod(const std::string& ns, const TaskSpec& task);
  Status ApplyService(const std::string& ns, const TaskSpec& task, const std::string& region);
  // Deletes the pod at once (no kubelet will stop it) and reports its containers that had
  // not ended as ended for `reason`.
  Result<TaskState> ForceStop(const std::string& ns, const TaskSpec& task, PodObservation seen,
                              const std::string& reason);

  std::shared_ptr<Client> client_;
  KubernetesOptions options_;
  void Forget(const std::string& ns, const std::string& task_id);

  std::mutex mu_;
  // The digests PullImages resolved, by task id, until the pod is made (or the task goes).
  std::map<std::string, std::map<std::string, std::string>> digests_;  // guarded by mu_
  // The watch's view of kecs's pods, by "<namespace>/<name>", once its first list is in.
  bool synced_ = false;                 // guarded by mu_
  std::map<std::string, Json> pods_;    // guarded by mu_
  std::atomic<bool> stop_{false};
  std::thread watcher_;
};

}  // namespace kecs::runtime::kubernetes
