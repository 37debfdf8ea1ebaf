#pragma once
// The runtime contract: how the task controller makes a task real.
//
// A Runtime turns a TaskSpec into a sandbox (the task's network: a namespace and its
// interfaces, or the host's) and containers in it. The controller calls, in order:
// CreateSandbox, PullImages, StartContainers; then Inspect while the task runs; then
// StopContainers and Delete. Every call is idempotent: repeating it after a crash or a
// daemon restart finds what is already there and carries on, and Delete succeeds when the
// objects are already gone. GarbageCollect removes everything the runtime owns that
// belongs to no live task; the daemon runs it at start. Implementations are thread-safe:
// the controller drives different tasks from different threads, never one task from two.
//
// Implementations: simulated/ (no data plane) and local/ (netns, veth, nftables, runc).
// A kubernetes/ implementation (Pods over the Kubernetes API) is planned.
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "net/domain/sg_policy.h"

namespace kecs::runtime {

struct PortBinding {
  std::string protocol = "tcp";
  int container_port = 0;
  int host_port = 0;
  std::string host_ip;  // empty: every host address
};

struct ContainerSpec {
  std::string name;
  std::string image;
  std::vector<std::string> entry_point;
  std::vector<std::string> command;
  std::vector<std::pair<std::string, std::string>> environment;
  std::string working_directory;
  std::string user;
  int64_t cpu_units = 0;
  int64_t memory_mib = 0;              // hard limit; 0 = none
  int64_t memory_reservation_mib = 0;
  bool essential = true;
  bool readonly_rootfs = false;
  struct Ulimit { std::string name; int64_t soft = 0; int64_t hard = 0; };
  std::vector<Ulimit> ulimits;
  int stop_timeout_s = 30;
  std::string hostname;
  std::vector<std::string> dns_servers;
  std::vector<std::string> dns_search_domains;
  std::vector<std::pair<std::string, std::string>> extra_hosts;  // hostname, ip
  std::vector<PortBinding> ports;
};

struct NetworkSpec {
  std::string mode;  // awsvpc, bridge, host, none
  // awsvpc: the ENI.
  std::string eni_id;
  std::string mac;
  std::string ip;             // private IPv4
  int prefix_len = 0;         // of the subnet
  std::string gateway;        // subnet base + 1
  std::string subnet_id;
  std::string subnet_cidr;
  std::string vpc_id;
  std::string vpc_cidr;
  std::string dns_server;     // VPC resolver (base + 2)
  bool internet_egress = false;  // the subnet's route table leads to an internet gateway
  std::string hostname;       // ip-a-b-c-d
  std::vector<std::string> vpc_cidrs;  // every IPv4 CIDR of the VPC (host routes)
  int transit_slot = -1;      // the VPC's link to the host: 100.127.0.0/16 in /30 slots
  std::string ipv6;           // the ENI's IPv6 address, if any
  std::string ipv6_prefix;    // its subnet's /64
  // bridge: the task's address on the host bridge (from the bridge pool).
  std::string bridge_ip;
  // Ports published on the host (bridge mappings, or assignPublicIp host ports).
  std::vector<PortBinding> published;
};

struct TaskSpec {
  std::string task_id;   // 32 hex
  std::string task_arn;
  std::string cluster;
  std::string family;
  NetworkSpec network;
  std::vector<ContainerSpec> containers;
};

struct ContainerState {
  std::string name;
  enum class Phase { kCreated, kRunning, kExited, kMissing } phase = Phase::kMissing;
  std::optional<int> exit_code;
  std::string reason;
  std::string runtime_id;
};

struct TaskState {
  std::vector<ContainerState> containers;
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  virtual std::string name() const = 0;
  // False for the simulated runtime: nothing actually runs.
  virtual bool has_data_plane() const = 0;
  // A one-line description for /health and the start-up log.
  virtual std::string Describe() const = 0;

  // Creates the task's network sandbox. Fails with a reason AWS would word as
  // "ResourceInitializationError: ...".
  virtual Status CreateSandbox(const TaskSpec& task) = 0;
  // Makes every container image available; returns image digests by container name.
  // Failures are worded as "CannotPullContainerError: ...".
  virtual Result<std::map<std::string, std::string>> PullImages(const TaskSpec& task) = 0;
  // Creates and starts the containers; ones already running are left alone.
  virtual Status StartContainers(const TaskSpec& task) = 0;
  // Observed state of the task's containers.
  virtual Result<TaskState> Inspect(const TaskSpec& task) = 0;
  // SIGTERM to each container, SIGKILL after its stopTimeout; returns the final states.
  virtual Result<TaskState> StopContainers(const TaskSpec& task) = 0;
  // Removes the containers and the sandbox. Succeeds when already gone.
  virtual Status Delete(const TaskSpec& task) = 0;
  // Removes every object owned by a task not in `live_task_ids` (tasks not STOPPED), and
  // also the files kept for inspection (logs) of tasks not in `known_task_ids`.
  virtual Status GarbageCollect(const std::set<std::string>& live_task_ids,
                                const std::set<std::string>& known_task_ids) = 0;
  // Brings publishing (host-port forwarding) in line with `task`, for a running task.
  virtual Status UpdatePublishing(const TaskSpec& task) { (void)task; return Status::Ok(); }
  // Enforces a VPC's security groups and network ACLs on its tasks' traffic, replacing
  // what was enforced before in one step. A VPC with no task on this runtime has nothing
  // to enforce; runtimes without a data plane ignore it.
  virtual Status ApplyVpcPolicy(const net::VpcPolicy& policy) { (void)policy; return Status::Ok(); }
  // Enforces the container instance's security group on bridge-mode tasks; nullptr means
  // none is configured (everything allowed, AWS's default for an open instance group).
  virtual Status ApplyInstancePolicy(const net::SecurityGroupPolicy* group,
                                     const std::map<std::string, std::vector<std::string>>& members) {
    (void)group;
    (void)members;
    return Status::Ok();
  }
};

}  // namespace kecs::runtime
