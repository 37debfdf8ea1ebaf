#pragma once
// Daemon configuration: every `kecs start` flag, each with its KECS_* variable.
#include <map>
#include <string>

#include "base/status.h"

namespace kecs::daemon {

struct Config {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string data_dir;       // default: $HOME/.kecs
  std::string runtime;        // default: local (which refuses to start without root)
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  std::string log_level;
  std::string log_format = "text";
  bool strict = false;
  // "AKID:SECRET,AKID2:SECRET2": when set, every request must be SigV4-signed by one.
  std::string auth_keys;
  int http_threads = 4;
  int max_connections = 0;  // 0: three quarters of the descriptor limit
  bool validate_responses = false;
  // Hubble-style flow metrics (kecs_flows_total, kecs_drops_*): every VPC router with a
  // task is captured, flow log or not (design.md 18.2).
  bool flow_metrics = true;

  // Local runtime.
  std::string name_prefix = "kecs";       // kernel object names, nft table, runc ids
  std::string bridge_cidr = "172.17.0.0/16";
  std::string registry_mirrors;           // "docker.io=127.0.0.1:5000[,...]"
  std::string insecure_registries;        // "127.0.0.1:5000[,...]"
  std::string registry_credentials;       // "host=user:password[,...]"
  std::string image_pull_behavior = "once";
  std::string public_port_range = "32000-32999";
  std::string publish_address;            // "" = every host address
  std::string ephemeral_port_range = "49153-65535";
  std::string instance_type = "m5.large";
  double stopped_task_retention = 3600;
  std::string instance_security_group;    // sg-... in --region; governs bridge-mode tasks
  std::string lb_port_range = "31000-31999";  // host ports of load balancer listeners

  // Kubernetes runtime (issue 16): the kubeconfig and its context ("" : KUBECONFIG, else
  // ~/.kube/config, else the in-cluster service account when running in a pod).
  std::string kubeconfig;
  std::string kube_context;

  // Parsed by Finalize.
  int public_port_first = 32000, public_port_last = 32999;
  int ephemeral_port_first = 49153, ephemeral_port_last = 65535;
  int lb_port_first = 31000, lb_port_last = 31999;

  std::map<std::string, std::string> AuthKeyMap() const;
  // "a=b,c=d" lists.
  static std::map<std::string, std::string> PairMap(const std::string& text);
  // Checks values and fills the defaults that depend on the host.
  Status Finalize();
};

// A secret setting: the value of environment variable `env`, or else the contents of
// `file` (trailing whitespace dropped) when a file is named. The secret never appears in an
// error: a file that cannot be read is named, its contents are not.
Status ReadSecret(const char* env, const std::string& file, std::string* out);

}  // namespace kecs::daemon
