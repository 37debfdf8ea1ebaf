#pragma once
// The Kubernetes objects that stand for ECS ones (issue 16), as the design notes
// (shared/reference/kecs-*.md) map them, built as JSON for server-side apply:
//
//   ECS cluster          -> Namespace "<cluster>-<region>"
//   task                 -> Pod "task-<task id>", bound to the node kecs's placement chose
//   assignPublicIp ports -> NodePort Service "task-<task id>", nodePort = 30000 + (hostPort - 32000)
//   security group       -> NetworkPolicy "sg-<group id>" over the pods labelled kecs.dev/sg-<id>
//   Cloud Map service    -> headless Service "sd-<service id>" over the pods labelled with it
//   secrets              -> Secret "task-<task id>", read by the Pod's env with secretKeyRef
//
// Pure functions of typed input: no I/O, deterministic output (golden files pin it, and the
// e2e suite validates every golden against the Kubernetes OpenAPI schema). What Kubernetes
// cannot say is left out and listed in design.md 19.1 (ICMP rules, non-numeric users,
// log drivers, Linux parameters).
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/json.h"
#include "net/domain/sg_policy.h"
#include "runtime/runtime.h"

namespace kecs::runtime::kubernetes {

// What a Pod names beside the TaskSpec: the task's ECS facts.
struct PodFacts {
  std::string region;
  int revision = 0;
  std::string launch_type;       // EC2 | FARGATE | EXTERNAL
  std::vector<std::string> subnets;
  std::vector<std::string> security_groups;
  bool assign_public_ip = false;
  std::string node;              // the node kecs placed the task on ("" : the scheduler's choice)
  std::vector<std::string> discovery_services;  // Cloud Map service ids the task is registered in
  std::vector<std::string> discovery_names;     // and their DNS names (service.namespace), alike
  // The environment variables of each container (by ECS name) whose values are secrets
  // (the definition's `secrets`): they go in the task's Secret, never in the Pod.
  std::map<std::string, std::set<std::string>> secret_env;
};

// "<cluster>-<region>", made a DNS-1123 label: lowercase, other characters '-', at most 63
// characters (a longer name keeps 54 and adds '-' and 8 hex digits of its SHA-256).
std::string NamespaceName(const std::string& cluster, const std::string& region);
// A label value: at most 63 characters of [A-Za-z0-9_.-], starting and ending alphanumeric.
std::string LabelValue(const std::string& s);
// Each ECS container's name in the Pod (a DNS-1123 label, unique in the Pod), in order.
std::vector<std::string> PodContainerNames(const TaskSpec& task);

Json NamespaceManifest(const std::string& cluster, const std::string& region);
Json PodManifest(const TaskSpec& task, const PodFacts& facts);
// Null when the task publishes no port in the public range.
// The Secret "task-<task id>" holding the values of the task's secret environment
// variables (PodFacts::secret_env; the Pod reads them with secretKeyRef); null when the
// task has none.
Json SecretManifest(const TaskSpec& task, const PodFacts& facts);
// The key of container `index`'s secret variable `name` in that Secret.
std::string SecretKey(size_t container_index, const std::string& name);
Json NodePortServiceManifest(const TaskSpec& task, const std::string& region, int public_first = 32000,
                             int public_last = 32999, int node_port_first = 30000);
Json NetworkPolicyManifest(const net::SecurityGroupPolicy& group, const std::string& ns);
// The pods of `none` tasks (label kecs.dev/network-none) may send and receive nothing:
// their network is the loopback only, as a `none` task's on ECS.
Json NoNetworkPolicyManifest(const std::string& ns);
Json HeadlessServiceManifest(const std::string& service_id, const std::string& service_name,
                             const std::string& ns);

}  // namespace kecs::runtime::kubernetes
