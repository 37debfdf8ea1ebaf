#pragma once
// The local runtime: tasks as runc containers in real network namespaces on this host.
//
// Layout under <data_dir>/runtime: tasks/<task>/{hosts,hostname,resolv.conf},
// tasks/<task>/containers/<name>/{config.json,rootfs,upper,work,pid,exit},
// tasks/<task>/logs/<name>.log, tasks/<task>/volumes/<name> (task-scoped volumes),
// tasks/<task>/{ns-holder.pid,shm} (pidMode/ipcMode task), and runc's state in runc/.
// Shared docker volumes and EFS directories live in <data_dir>/volumes and <data_dir>/efs
// (volumes.h) and outlive tasks. Images live in
// <data_dir>/images (image_store.h). Names of kernel objects start with the configured
// prefix so that two daemons (or two test runs) never touch each other's.
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/env.h"
#include "net/kernel/dns_server.h"
#include "runtime/local/containers.h"
#include "runtime/local/image_store.h"
#include "runtime/local/lb_network.h"
#include "runtime/local/lb_proxy.h"
#include "runtime/local/network.h"
#include "runtime/local/oci_spec.h"
#include "runtime/runtime.h"

namespace kecs::runtime::local {

// Where Stats reads a container's usage: cgroupfs and procfs (unit tests point them at a
// fixture tree).
struct StatsSources {
  std::string cgroup_root = "/sys/fs/cgroup";
  std::string proc_root = "/proc";
};

// One container's usage (task_stats.cc): its cgroups as /proc/<pid>/cgroup names them, in
// the cgroup v1 controllers (cpuacct, cpu, memory, pids, blkio) when it is in them, else
// in the unified hierarchy (<cgroup_root>, or <cgroup_root>/unified on a hybrid host);
// the host's CPU time and CPU count from /proc/stat; and, unless `host_network`, the
// interfaces of /proc/<pid>/net/dev other than lo. NotFound when the process is gone.
Result<ContainerStats> ReadContainerStats(Env* env, const StatsSources& sources, int pid, const std::string& name,
                                          bool host_network, double now);

struct LocalOptions {
  // Files under data_dir, the helper programs (skopeo, umoci, runc, kecs-shim) and time go
  // through it; it must outlive the runtime.
  Env* env = Env::Default();
  std::string data_dir;
  std::string shim_exe;  // the kecs-shim binary (installed beside kecs)
  NetworkOptions network;
  RegistryConfig registries;
  // Serves each VPC's resolver (base+2) inside its router; nullptr: tasks get the address
  // in resolv.conf but nothing answers there.
  net::DnsServer* dns = nullptr;
  // The load balancers' proxy (lb_proxy.h); its files live in <data_dir>/runtime/lb.
  std::string haproxy = "/usr/sbin/haproxy";
};

class LocalRuntime : public Runtime {
 public:
  explicit LocalRuntime(LocalOptions options);

  // Checks what the runtime needs (root, runc, skopeo, umoci, overlayfs) and sets up the
  // host-wide pieces. Creates nothing when a check fails.
  Status Init();

  std::string name() const override { return "local"; }
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
  Status ApplyVpcPeerings(const std::vector<net::PeeringPath>& paths) override {
    return network_.ApplyPeerings(paths);
  }
  Status ApplyInstancePolicy(const net::SecurityGroupPolicy* group,
                             const std::map<std::string, std::vector<std::string>>& members) override;
  Status ApplyEniAddresses(const EniAddresses& eni) override { return network_.ApplyEniAddresses(eni); }

  // EC2 instances as hosts in their VPC (issue 17, network.h): the namespace and ENI, and
  // the instance's own hosts, hostname and resolv.conf (its VPC's resolver) in
  // <data_dir>/runtime/instances/<id>, which its host-mode tasks take.
  Status ApplyInstanceHost(const InstanceHostSpec& host) override;
  Status DeleteInstanceHost(const std::string& instance_id) override;
  Status GarbageCollectInstanceHosts(const std::set<std::string>& live_instance_ids) override;
  std::optional<std::string> InstanceNetns(const std::string& instance_id) override;

  // Load balancers: nodes, publishing, NLB forwarding and certificates (lb_network.h)
  // with one HAProxy per load balancer (lb_proxy.h).
  Status ApplyLoadBalancer(const LoadBalancerSpec& lb) override;
  Status DeleteLoadBalancer(const std::string& lb_id) override;
  Result<std::vector<TargetObservation>> ObserveTargets(const LoadBalancerSpec& lb) override;
  Status GarbageCollectLoadBalancers(const std::set<std::string>& live_lb_ids) override;
  Result<std::string> LoadBalancerCa() override;

  // The running containers' usage (task_stats.cc); stopped ones are left out.
  Result<std::vector<ContainerStats>> Stats(const TaskSpec& task) override;
  // Reads LogPath's file (what the shim points the container's stdout and stderr at).
  Result<ContainerOutput> ReadOutput(const std::string& task_id, const std::string& container, int64_t offset,
                                     size_t max) override;
  // The task's namespace under /var/run/netns; "" for host mode.
  std::optional<std::string> MetadataNetns(const TaskSpec& task) override;
  // ECS Exec: `runc exec` in the container (ContainerDriver::Exec).
  Result<std::unique_ptr<ExecProcess>> Exec(const TaskSpec& task, const ExecSpec& spec) override;

  // The combined stdout and stderr of a container, for `kecs logs`.
  std::string LogPath(const std::string& task_id, const std::string& container) const;
  LocalNetwork& network() { return network_; }
  ImageStore& images() { return images_; }

 private:
  std::string TaskDir(const std::string& task_id) const;
  std::string InstanceDir(const std::string& instance_id) const;
  std::string BundleDir(const std::string& task_id, const std::string& container) const;
  std::string ContainerId(const std::string& task_id, const std::string& container) const;
  Status WriteTaskFiles(const TaskSpec& task);
  Status PrepareBundle(const TaskSpec& task, const ContainerSpec& c, const Image& image);
  Status RemoveTaskDir(const std::string& task_id);
  // What the runtime reports of container `c` in status `s`: its state and, with a health
  // check, the shim's verdict.
  ContainerState Observed(const TaskSpec& task, const ContainerSpec& c, const ContainerStatus& s);
  // Fills the volume, device and Linux-setting inputs of a container's spec.
  Status LinuxInputs(const TaskSpec& task, const ContainerSpec& c, SpecInputs& in);
  // The VPC resolver for an awsvpc task's VPC: its address in the router and a DNS
  // listener there. With `adopt_only` (Inspect, for every task on every pass) a VPC
  // already served costs a map lookup; otherwise the router's inode is checked too.
  Status EnsureResolver(const TaskSpec& task, bool adopt_only = false);
  // Stops serving VPCs whose router is gone (its last task left).
  void DropResolversWithoutRouter();
  // Brings a network load balancer's kernel forwarding in line with `lb` and the targets'
  // last observed health, unless it already is (`force`: apply anyway).
  Status ForwardNlb(const LoadBalancerSpec& lb, bool force);

  const LocalOptions options_;
  Env* const env_;
  LocalNetwork network_;
  ImageStore images_;
  ContainerDriver driver_;
  // Set by Init: Docker's default seccomp profile (none when its package is missing), the
  // init for initProcessEnabled ("" when tini is missing), and the kernel's release.
  std::optional<model::oci::SeccompProfile> seccomp_;
  std::string init_path_;
  std::string kernel_release_;
  std::vector<std::string> host_caps_;  // this process's bounding set
  std::mutex resolvers_mu_;
  // VPC -> the inode of the router namespace its resolver listens in; guarded by
  // resolvers_mu_. A router that was removed and made again is a new namespace.
  std::map<std::string, uint64_t> resolvers_;
  LbNetwork lb_network_;
  LbProxies proxies_;
  // What the load balancers' data plane last saw and forwards to, by load balancer id.
  struct LbSeen {
    std::vector<TargetObservation> observed;
    std::map<std::string, std::vector<LbTargetSpec>> in_rotation;  // as forwarded
    bool forwarded = false;
  };
  std::mutex lbs_mu_;  // also serialises each NLB's forwarding changes
  std::map<std::string, LbSeen> lbs_;  // guarded by lbs_mu_
};

}  // namespace kecs::runtime::local
