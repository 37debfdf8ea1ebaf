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
// Implementations: simulated/ (no data plane), local/ (netns, veth, nftables, runc) and
// kubernetes/ (Pods over the Kubernetes API).
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "model/task.h"
#include "net/domain/peering.h"
#include "net/domain/sg_policy.h"
#include "runtime/load_balancer.h"

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
  // Issue 12: containers as the ECS agent runs them.
  std::optional<model::HealthCheck> health_check;      // runs inside the container
  std::vector<model::ContainerDependency> depends_on;  // also orders the stop (StopOrder)
  std::vector<model::MountPoint> mount_points;         // of TaskSpec::volumes
  std::vector<model::VolumeFrom> volumes_from;
  model::LinuxParameters linux_parameters;
  bool privileged = false;
  std::vector<std::pair<std::string, std::string>> system_controls;  // sysctl key, value
  std::vector<std::pair<std::string, std::string>> docker_labels;
  // Issue 14. The log driver and its options (the definition's, then its secretOptions
  // resolved), and the registry credentials its repositoryCredentials resolve to. Secret
  // values (these, and the secrets' variables in `environment`) are resolved by the task
  // controller when the task starts and live in memory only: never in the task record.
  std::string log_driver;
  std::vector<std::pair<std::string, std::string>> log_options;
  struct RegistryAuth {
    std::string username;
    std::string password;
  };
  std::optional<RegistryAuth> registry_auth;
};

struct NetworkSpec {
  model::NetworkMode mode = model::NetworkMode::kBridge;
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
  // The VPC's DHCP options (model::TaskEni): resolv.conf's nameservers and search list
  // when the containers name none. Empty nameservers: dns_server alone.
  std::vector<std::string> dhcp_nameservers;
  std::vector<std::string> dhcp_search;
  bool internet_egress = false;  // the subnet's route table leads to an internet gateway
  std::string hostname;       // ip-a-b-c-d
  std::vector<std::string> vpc_cidrs;  // every IPv4 CIDR of the VPC (host routes)
  int transit_slot = -1;      // the VPC's link to the host: 100.127.0.0/16 in /30 slots
  std::string ipv6;           // the ENI's IPv6 address, if any
  std::string ipv6_prefix;    // its subnet's IPv6 block (/44 to /64)
  // bridge: the task's address on the host bridge (from the bridge pool).
  std::string bridge_ip;
  // bridge and host (issue 17): the EC2 instance the task is placed on, when kecs runs
  // that instance (RunInstances), and its primary private address. The task then lives in
  // the instance's namespace (host) or behind the instance's own bridge (bridge), with
  // its host ports published on `instance_ip`. Empty: this host, as before.
  std::string instance_id;
  std::string instance_ip;
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
  std::vector<model::Volume> volumes;
  std::string pid_mode;  // "" (each container its own) | "task" | "host"
  std::string ipc_mode;  // "" (each container its own) | "task" | "host" | "none"
};

struct ContainerState {
  std::string name;
  enum class Phase { kCreated, kRunning, kExited, kMissing } phase = Phase::kMissing;
  std::optional<int> exit_code;
  std::string reason;
  std::string runtime_id;
  // The container's health by its healthCheck (UNKNOWN without one, or before the first
  // verdict), the last check's exit code and output (at most 1 KiB).
  model::HealthStatus health = model::HealthStatus::kUnknown;
  std::optional<int> health_exit_code;
  std::string health_output;
  // When it was seen running and when it exited (epoch seconds), if the runtime knows.
  std::optional<double> started_at;
  std::optional<double> finished_at;
};

struct TaskState {
  std::vector<ContainerState> containers;
  // The task's private address when the runtime chooses it rather than the spec (the
  // kubernetes runtime: the pod IP, which DescribeTasks reports as the ENI's); empty
  // when the spec's address is the task's, or none is known yet.
  std::string address;
};

// A container's resource usage, read from its cgroups and its network namespace: what
// the task metadata endpoint turns into Docker's stats format.
struct ContainerStats {
  std::string name;
  double read_at = 0;  // epoch seconds
  uint64_t cpu_total_ns = 0;
  uint64_t cpu_kernel_ns = 0;
  uint64_t cpu_user_ns = 0;
  std::vector<uint64_t> percpu_ns;
  uint64_t system_cpu_ns = 0;  // the host's, as Docker's system_cpu_usage
  int online_cpus = 0;
  uint64_t throttling_periods = 0;
  uint64_t throttled_periods = 0;
  uint64_t throttled_time_ns = 0;
  uint64_t memory_usage = 0;
  uint64_t memory_max_usage = 0;
  uint64_t memory_limit = 0;
  std::vector<std::pair<std::string, uint64_t>> memory_stat;  // memory.stat, as read
  uint64_t pids = 0;
  struct Blkio {
    uint64_t major = 0;
    uint64_t minor = 0;
    std::string op;  // "Read", "Write", "Sync", "Async", "Total"
    uint64_t value = 0;
  };
  std::vector<Blkio> io_service_bytes;
  std::vector<Blkio> io_serviced;
  struct NetDev {
    std::string name;
    uint64_t rx_bytes = 0, rx_packets = 0, rx_errors = 0, rx_dropped = 0;
    uint64_t tx_bytes = 0, tx_packets = 0, tx_errors = 0, tx_dropped = 0;
  };
  std::vector<NetDev> networks;  // the task's interfaces (not lo); empty in host mode
};

// A slice of a container's output (Runtime::ReadOutput).
struct ContainerOutput {
  std::string data;
  int64_t size = 0;  // bytes written so far; data ends at offset + data.size() <= size
};

// The order in which a task's containers stop: dependents before what they depend on
// (reverse dependency order). Each wave's containers stop together; a wave starts once
// the one before it has stopped. Cycles (refused by validation) fall into one last wave.
std::vector<std::vector<std::string>> StopOrder(const TaskSpec& task);

// The addresses a network interface has beyond its primary ones (secondary private IPv4
// addresses and further IPv6 addresses, EC2's AssignPrivateIpAddresses and
// AssignIpv6Addresses), for the runtime that plumbs the interface.
struct EniAddresses {
  std::string eni_id;
  std::string vpc_id;
  std::string primary_ip;          // finds the interface: the address its eth0 carries
  std::vector<std::string> ipv4;   // secondary private IPv4 addresses
  std::vector<std::string> ipv6;   // every IPv6 address (none is fixed: ApplyEniAddresses)

  bool operator==(const EniAddresses&) const = default;
};

// An EC2 instance that kecs runs (issue 17) as a host in its VPC: a network namespace
// whose eth0 is the instance's primary ENI, attached to its subnet exactly as an awsvpc
// task's ENI is (so the VPC's security groups govern it). `network` carries the ENI's
// facts with mode kAwsvpc and `hostname` ip-a-b-c-d.
struct InstanceHostSpec {
  std::string instance_id;  // i-<17 hex>
  NetworkSpec network;
  bool operator==(const InstanceHostSpec&) const = default;
};

// ECS Exec: a command to run in a task's container.
struct ExecSpec {
  std::string container;
  std::vector<std::string> argv;
  // On a pseudo-terminal (interactive, what ExecuteCommand asks for), else on pipes.
  bool tty = true;
  uint16_t cols = 80;
  uint16_t rows = 24;
};

// A process started by Runtime::Exec. Its stdout and stderr come through one stream (the
// terminal's, or one pipe); its stdin is written. Thread-safe for one reader (Read), one
// writer (Write, Resize, CloseInput) and Wait/Kill from any thread. The destructor kills
// the process if it still runs and reaps it.
// Read and Write block until they can go on or Interrupt is called (from any thread):
// a process may leave its terminal open in a background process, or never read its input.
class ExecProcess {
 public:
  // Takes ownership of the descriptors: `input` (stdin, the terminal master when tty),
  // `output` (the same descriptor when tty). `target_pid_file`, when not empty, is where
  // the front process writes the host pid of the command it starts (runc exec --pid-file):
  // Kill kills that command directly; the file is removed with the ExecProcess.
  ExecProcess(int pid, int input, int output, bool tty, std::string target_pid_file = "");
  ~ExecProcess();
  ExecProcess(const ExecProcess&) = delete;
  ExecProcess& operator=(const ExecProcess&) = delete;

  // Up to `max` bytes of output; "" at its end (the process and every holder of its
  // output closed it), or once interrupted and nothing is left to read at once. Blocks
  // until output comes.
  Result<std::string> Read(size_t max = 4096);
  // Writes all of `data`, blocking while the process does not read; Unavailable once
  // interrupted (some of `data` may have been written).
  Status Write(std::string_view data);
  // Ends every Read and Write in progress and to come (see above). Idempotent.
  void Interrupt();
  // Sets the terminal's size (no-op without a terminal).
  Status Resize(uint16_t cols, uint16_t rows);
  // Ends the input: the process reads end-of-file (on a terminal: sends ^D).
  void CloseInput();
  // Waits for the process to exit; its exit code (128 + signal when killed).
  Result<int> Wait();
  // SIGKILL to the process and to the command it started (its target pid file's, and that
  // command's process group: the front process cannot pass SIGKILL on). When the pid
  // file is not written yet, waits for it (at most 2 s) while the front process lives.
  // No-op once Wait has reaped the process.
  void Kill();
  bool tty() const { return tty_; }

 private:
  bool WaitFor(int fd, short events);

  const int pid_;
  int input_;
  const int output_;
  const bool tty_;
  const std::string target_pid_file_;
  const int wake_;  // an eventfd, readable once Interrupt was called
  std::mutex mu_;
  std::optional<int> exit_code_;  // guarded by mu_
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
  // Creates and starts the named containers; ones already running, or that already ran,
  // are left alone (an ECS task never runs a container twice). The task controller calls
  // it once per dependency wave (dependsOn).
  virtual Status StartContainers(const TaskSpec& task, const std::set<std::string>& names) = 0;
  // Starts every container of the task.
  Status StartContainers(const TaskSpec& task);
  // Observed state of the task's containers.
  virtual Result<TaskState> Inspect(const TaskSpec& task) = 0;
  // Stops the containers in StopOrder: SIGTERM to each container of a wave, SIGKILL after
  // its stopTimeout; returns the final states.
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
  // Lets traffic flow between peered VPCs exactly along `paths` (net/domain/peering.h: the
  // active peering connections routed both ways), without NAT, replacing the previous set
  // in one step; an empty set isolates every VPC again. Runtimes without a data plane
  // ignore it.
  virtual Status ApplyVpcPeerings(const std::vector<net::PeeringPath>& paths) { (void)paths; return Status::Ok(); }
  // Enforces the container instance's security group on bridge-mode tasks; nullptr means
  // none is configured (everything allowed, AWS's default for an open instance group).
  virtual Status ApplyInstancePolicy(const net::SecurityGroupPolicy* group,
                                     const std::map<std::string, std::vector<std::string>>& members) {
    (void)group;
    (void)members;
    return Status::Ok();
  }
  // The containers' resource usage (task metadata /stats). Runtimes without a data plane
  // answer FailedPrecondition.
  virtual Result<std::vector<ContainerStats>> Stats(const TaskSpec& task) {
    (void)task;
    return FailedPrecondition("this runtime runs no containers, so it has no stats");
  }
  // The network namespace the task's containers live in, where the task metadata and
  // credentials endpoint (169.254.170.2:80) is served: a path under /run/netns, "" for
  // the host's (host mode), nullopt when nothing runs (no data plane).
  virtual std::optional<std::string> MetadataNetns(const TaskSpec& task) {
    (void)task;
    return std::nullopt;
  }

  // ---- Container output (issue 14) ----
  // Up to `max` bytes of container `container`'s combined stdout and stderr from byte
  // `offset`, and the output's size so far (what `kecs logs` and the awslogs shipper read).
  // NotFound when the runtime keeps no output for it (yet); runtimes without a data plane
  // answer FailedPrecondition (nothing runs, nothing is written).
  virtual Result<ContainerOutput> ReadOutput(const std::string& task_id, const std::string& container,
                                             int64_t offset, size_t max) {
    (void)task_id;
    (void)container;
    (void)offset;
    (void)max;
    return FailedPrecondition("this runtime runs no processes and keeps no output");
  }

  // ---- Load balancers (issue 13) ----
  // Makes the load balancer real, or brings it in line with `lb`: a node per LbNodeSpec
  // (a namespace with the ENI, attached to the VPC's router like a task), the proxy that
  // serves its listeners and checks its targets' health, and the listeners published on
  // the host. Target changes (register, drain, deregister) take effect without restarting
  // the proxy; other changes may reload it without dropping established connections.
  // Idempotent. Runtimes without a data plane record nothing and succeed.
  virtual Status ApplyLoadBalancer(const LoadBalancerSpec& lb) { (void)lb; return Status::Ok(); }
  // Removes everything ApplyLoadBalancer made for load balancer `lb_id`. Succeeds when gone.
  virtual Status DeleteLoadBalancer(const std::string& lb_id) { (void)lb_id; return Status::Ok(); }
  // The health of every target of `lb`'s target groups as the data plane's checks see it.
  // A target group used by several load balancers is checked by each; the controller
  // merges them. The simulated runtime reports every target that is not draining
  // healthy; the default reports nothing (every target stays `initial`).
  virtual Result<std::vector<TargetObservation>> ObserveTargets(const LoadBalancerSpec& lb) {
    (void)lb;
    return std::vector<TargetObservation>{};
  }
  // Removes the data-plane objects of every load balancer not in `live_lb_ids`.
  virtual Status GarbageCollectLoadBalancers(const std::set<std::string>& live_lb_ids) {
    (void)live_lb_ids;
    return Status::Ok();
  }
  // The PEM of the certificate authority that signs the HTTPS listeners' certificates
  // (`kecs elb ca`), FailedPrecondition without a data plane.
  virtual Result<std::string> LoadBalancerCa() {
    return FailedPrecondition("this runtime serves no load balancer, so it has no certificate authority");
  }

  // ---- Secondary addresses of network interfaces (issue 20) ----
  // Configures exactly `eni`'s extra addresses on the interface where this runtime plumbs
  // it (a running awsvpc task's eth0), removing extra addresses configured before that it
  // no longer lists. Repeating it changes nothing. NotFound when this runtime plumbs no
  // such interface (yet); runtimes without a data plane succeed.
  virtual Status ApplyEniAddresses(const EniAddresses& eni) { (void)eni; return Status::Ok(); }

  // ---- EC2 instances as hosts (issue 17) ----
  // Makes instance `host.instance_id` a host in its VPC (its namespace, its ENI on its
  // subnet's bridge), or brings it in line with `host`. Idempotent. Runtimes without a
  // data plane record nothing and succeed.
  virtual Status ApplyInstanceHost(const InstanceHostSpec& host) { (void)host; return Status::Ok(); }
  // Removes what ApplyInstanceHost made for `instance_id` (its tasks are deleted first by
  // the caller). Succeeds when already gone.
  virtual Status DeleteInstanceHost(const std::string& instance_id) { (void)instance_id; return Status::Ok(); }
  // Removes the hosts of every instance not in `live_instance_ids` (not yet terminated).
  virtual Status GarbageCollectInstanceHosts(const std::set<std::string>& live_instance_ids) {
    (void)live_instance_ids;
    return Status::Ok();
  }
  // The network namespace of a running instance's host (a path under /run/netns), where
  // the instance metadata service (169.254.169.254:80) is served; nullopt when this
  // runtime has no such host (no data plane, or not applied).
  virtual std::optional<std::string> InstanceNetns(const std::string& instance_id) {
    (void)instance_id;
    return std::nullopt;
  }

  // ---- ECS Exec (issue 18) ----
  // Starts `spec.argv` in running container `spec.container` of `task`, in its namespaces,
  // cgroup, user, environment and working directory, as ExecuteCommand's session runs it.
  // Each call starts a new process. NotFound when the container is not running;
  // runtimes without a data plane answer FailedPrecondition (nothing runs there to enter).
  virtual Result<std::unique_ptr<ExecProcess>> Exec(const TaskSpec& task, const ExecSpec& spec) {
    (void)task;
    (void)spec;
    return FailedPrecondition("this runtime runs no containers, so there is nothing to execute a command in");
  }
};

}  // namespace kecs::runtime
