// kecs: a local Amazon ECS with a real VPC data plane.
//
//   kecs start          run the daemon in the foreground
//   kecs status         ask a running daemon how it is
//   kecs logs TASK [C]  a container's output (--follow to keep reading)
//   kecs exec TASK -- CMD  run a command in a task's container (ECS Exec)
//   kecs image load F   load a docker-archive or OCI archive into the image store
//   kecs elb ls         the load balancers' listeners as published on the host
//   kecs elb ca         the PEM of the CA that signs HTTPS listeners' certificates
//   kecs kube coredns   CoreDNS rules for Cloud Map names (kubernetes runtime)
//   kecs alarm set N S  sets deployment alarm N to ALARM or OK (kecs's alarm source)
//   kecs cleanup        remove every kernel object of a name prefix (after a crash, or tests)
//   kecs version        print the version
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <tuple>
#include <vector>

#include "base/log.h"
#include "daemon/client.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/version.h"

namespace {

// Binds a flag to its KECS_* variable: the flag wins, then the variable, then the default.
template <typename T>
CLI::Option* Flag(CLI::App* app, const std::string& name, T& target, const std::string& env,
                  const std::string& help) {
  return app->add_option(name, target, help)->envname(env)->capture_default_str();
}

// A secret flag (key pairs, registry passwords) is taken from its KECS_* variable or from
// a file (--NAME-file, KECS_*_FILE), never from the command line, where /proc/PID/cmdline
// shows it to every user of the host. Given on the command line it is refused.
void SecretFlag(CLI::App* app, const std::string& name, std::string& argv_value, std::string& file,
                const std::string& env, const std::string& help) {
  app->add_option(name, argv_value, help + " (refused here: set " + env + " or " + name + "-file)");
  app->add_option(name + "-file", file, "File holding " + help)->envname(env + "_FILE");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kecs: a local Amazon ECS with a real VPC data plane"};
  app.require_subcommand(1);
  kecs::daemon::Config cfg;

  CLI::App* start = app.add_subcommand("start", "Run the daemon in the foreground");
  Flag(start, "--host", cfg.host, "KECS_HOST", "Address to listen on");
  Flag(start, "--port", cfg.port, "KECS_PORT", "Port to listen on (0 picks a free one)");
  Flag(start, "--data-dir", cfg.data_dir, "KECS_DATA_DIR", "State directory (default ~/.kecs)");
  Flag(start, "--runtime", cfg.runtime, "KECS_RUNTIME",
       "local (the default; needs root on Linux), simulated (no data plane) or kubernetes (pods on a cluster)");
  Flag(start, "--kubeconfig", cfg.kubeconfig, "KECS_KUBECONFIG",
       "kubernetes runtime: the kubeconfig (default: $KUBECONFIG, ~/.kube/config, else in-cluster)");
  Flag(start, "--context", cfg.kube_context, "KECS_KUBE_CONTEXT",
       "kubernetes runtime: the kubeconfig's context (default: its current-context)");
  Flag(start, "--region", cfg.region, "KECS_REGION", "Region for requests that carry none");
  Flag(start, "--account-id", cfg.account_id, "KECS_ACCOUNT_ID", "Account id in ARNs");
  Flag(start, "--log-level", cfg.log_level, "KECS_LOG_LEVEL",
       "trace, debug, info (default), warn, error or off");
  Flag(start, "--log-format", cfg.log_format, "KECS_LOG_FORMAT", "text or json");
  start->add_flag("--strict,!--no-strict", cfg.strict,
                  "Refuse what AWS refuses where kecs is lenient by default")
      ->envname("KECS_STRICT");
  start->add_flag("--flow-metrics,!--no-flow-metrics", cfg.flow_metrics,
                  "Count every VPC's flows and drops for /metrics, with or without a flow log (default on)")
      ->envname("KECS_FLOW_METRICS");
  std::string auth_keys_argv, auth_keys_file, registry_credentials_argv, registry_credentials_file;
  SecretFlag(start, "--auth-keys", auth_keys_argv, auth_keys_file, "KECS_AUTH_KEYS",
             "AKID:SECRET[,...]: verify SigV4 signatures against these key pairs");
  Flag(start, "--http-threads", cfg.http_threads, "KECS_HTTP_THREADS", "HTTP worker threads");
  Flag(start, "--max-connections", cfg.max_connections, "KECS_MAX_CONNECTIONS",
       "Open HTTP connections at most; beyond it the oldest idle one is closed (0: 3/4 of the "
       "descriptor limit)");
  start->add_flag("--validate-responses", cfg.validate_responses,
                  "Check every response against the AWS model (for tests)")
      ->envname("KECS_VALIDATE_RESPONSES");
  Flag(start, "--name-prefix", cfg.name_prefix, "KECS_NAME_PREFIX",
       "Prefix of every kernel object the local runtime makes (namespaces, links, nft table)");
  Flag(start, "--bridge-cidr", cfg.bridge_cidr, "KECS_BRIDGE_CIDR", "Network of bridge-mode tasks");
  Flag(start, "--registry-mirror", cfg.registry_mirrors, "KECS_REGISTRY_MIRRORS",
       "REGISTRY=MIRROR[,...], e.g. docker.io=127.0.0.1:5000");
  Flag(start, "--insecure-registry", cfg.insecure_registries, "KECS_INSECURE_REGISTRIES",
       "Registries reached over plain HTTP or unverified TLS, comma-separated");
  SecretFlag(start, "--registry-credentials", registry_credentials_argv, registry_credentials_file,
             "KECS_REGISTRY_CREDENTIALS", "REGISTRY=USER:PASSWORD[,...]");
  Flag(start, "--image-pull-behavior", cfg.image_pull_behavior, "KECS_IMAGE_PULL_BEHAVIOR",
       "once (pull a tag the store lacks) or always");
  Flag(start, "--public-port-range", cfg.public_port_range, "KECS_PUBLIC_PORT_RANGE",
       "Host ports for assignPublicIp tasks");
  Flag(start, "--publish-address", cfg.publish_address, "KECS_PUBLISH_ADDRESS",
       "Host address published ports answer on (default: all of them, 127.0.0.1 included)");
  Flag(start, "--ephemeral-port-range", cfg.ephemeral_port_range, "KECS_EPHEMERAL_PORT_RANGE",
       "Dynamic host ports for bridge-mode mappings");
  Flag(start, "--instance-type", cfg.instance_type, "KECS_INSTANCE_TYPE",
       "EC2 instance type of the host's container instance (sets its ENI limit)");
  Flag(start, "--instance-security-group", cfg.instance_security_group, "KECS_INSTANCE_SECURITY_GROUP",
       "Security group (in --region) of the container instance, governing bridge-mode tasks "
       "(default: none, everything allowed)");
  Flag(start, "--lb-port-range", cfg.lb_port_range, "KECS_LB_PORT_RANGE",
       "Host ports load balancer listeners are published on (kecs elb ls shows them)");
  Flag(start, "--stopped-task-retention", cfg.stopped_task_retention, "KECS_STOPPED_TASK_RETENTION",
       "Seconds a STOPPED task stays visible");

  CLI::App* status = app.add_subcommand("status", "Show the state of a running daemon");
  Flag(status, "--host", cfg.host, "KECS_HOST", "Daemon address");
  Flag(status, "--port", cfg.port, "KECS_PORT", "Daemon port");

  std::string task, container;
  bool follow = false;
  CLI::App* logs = app.add_subcommand("logs", "Print a container's stdout and stderr");
  logs->add_option("task", task, "Task id or ARN")->required();
  logs->add_option("container", container, "Container name (optional with one container)");
  logs->add_flag("-f,--follow", follow, "Keep printing new output");
  Flag(logs, "--host", cfg.host, "KECS_HOST", "Daemon address");
  Flag(logs, "--port", cfg.port, "KECS_PORT", "Daemon port");

  std::string exec_cluster;
  std::vector<std::string> exec_command;
  CLI::App* exec = app.add_subcommand("exec", "Run a command in a task's container (ECS Exec, ExecuteCommand)");
  exec->add_option("task", task, "Task id or ARN")->required();
  exec->add_option("command", exec_command, "The command, after --")->required();
  exec->add_option("-c,--container", container, "Container name (optional with one container)");
  exec->add_option("--cluster", exec_cluster, "Cluster (default: default)");
  Flag(exec, "--host", cfg.host, "KECS_HOST", "Daemon address");
  Flag(exec, "--port", cfg.port, "KECS_PORT", "Daemon port");

  CLI::App* elb = app.add_subcommand("elb", "Load balancers of a running daemon");
  elb->require_subcommand(1);
  CLI::App* elb_ls = elb->add_subcommand("ls", "List each listener and the host address and port it is published on");
  CLI::App* elb_ca = elb->add_subcommand("ca", "Print the PEM of the CA that signs HTTPS listeners' certificates");
  for (CLI::App* sub : {elb_ls, elb_ca}) {
    Flag(sub, "--host", cfg.host, "KECS_HOST", "Daemon address");
    Flag(sub, "--port", cfg.port, "KECS_PORT", "Daemon port");
  }

  CLI::App* kube = app.add_subcommand("kube", "The kubernetes runtime of a running daemon");
  kube->require_subcommand(1);
  CLI::App* kube_coredns = kube->add_subcommand(
      "coredns", "Print the CoreDNS rewrite rules that make Cloud Map names resolve in the cluster's pods");
  Flag(kube_coredns, "--host", cfg.host, "KECS_HOST", "Daemon address");
  Flag(kube_coredns, "--port", cfg.port, "KECS_PORT", "Daemon port");

  std::string alarm_name, alarm_state;
  CLI::App* alarm = app.add_subcommand("alarm", "Deployment alarms (kecs's stand-in for CloudWatch alarms)");
  alarm->require_subcommand(1);
  CLI::App* alarm_set = alarm->add_subcommand("set", "Set an alarm named in a service's deploymentConfiguration.alarms");
  alarm_set->add_option("name", alarm_name, "Alarm name")->required();
  alarm_set->add_option("state", alarm_state, "ALARM or OK")->required()->check(CLI::IsMember({"ALARM", "OK"}));
  Flag(alarm_set, "--host", cfg.host, "KECS_HOST", "Daemon address");
  Flag(alarm_set, "--port", cfg.port, "KECS_PORT", "Daemon port");

  CLI::App* image = app.add_subcommand("image", "Manage the local image store");
  image->require_subcommand(1);
  std::string archive, tag;
  CLI::App* load = image->add_subcommand("load", "Load a docker-archive or OCI archive tarball");
  load->add_option("file", archive, "The tarball")->required();
  load->add_option("--tag", tag, "Name to give the image (default: the archive's own)");
  Flag(load, "--data-dir", cfg.data_dir, "KECS_DATA_DIR", "State directory (default ~/.kecs)");

  CLI::App* cleanup = app.add_subcommand("cleanup", "Remove every kernel object with a name prefix");
  Flag(cleanup, "--name-prefix", cfg.name_prefix, "KECS_NAME_PREFIX", "Prefix to remove");
  Flag(cleanup, "--data-dir", cfg.data_dir, "KECS_DATA_DIR", "State directory whose tasks to remove");

  app.add_subcommand("version", "Print the version");

  CLI11_PARSE(app, argc, argv);

  if (app.got_subcommand("version")) {
    std::printf("kecs %s\n", kecs::daemon::kVersion);
    return 0;
  }
  if (app.got_subcommand("status")) {
    return kecs::daemon::PrintStatus(cfg.host, static_cast<uint16_t>(cfg.port));
  }
  if (app.got_subcommand("logs")) {
    return kecs::daemon::PrintLogs(cfg.host, static_cast<uint16_t>(cfg.port), task, container, follow);
  }
  if (exec->parsed()) {
    return kecs::daemon::RunExec(cfg.host, static_cast<uint16_t>(cfg.port), exec_cluster, task, container,
                                 exec_command);
  }
  if (elb_ls->parsed()) return kecs::daemon::PrintLoadBalancers(cfg.host, static_cast<uint16_t>(cfg.port));
  if (elb_ca->parsed()) return kecs::daemon::PrintLoadBalancerCa(cfg.host, static_cast<uint16_t>(cfg.port));
  if (kube_coredns->parsed()) return kecs::daemon::PrintKubeCoreDns(cfg.host, static_cast<uint16_t>(cfg.port));
  if (alarm_set->parsed()) {
    return kecs::daemon::SetAlarm(cfg.host, static_cast<uint16_t>(cfg.port), alarm_name, alarm_state);
  }
  kecs::log::Init(cfg.log_level, cfg.log_format);
  if (app.got_subcommand("image")) {
    if (auto st = cfg.Finalize(); !st.ok()) {
      std::fprintf(stderr, "kecs: %s\n", st.message().c_str());
      return 2;
    }
    return kecs::daemon::LoadImage(cfg, archive, tag);
  }
  if (app.got_subcommand("cleanup")) {
    if (auto st = cfg.Finalize(); !st.ok()) {
      std::fprintf(stderr, "kecs: %s\n", st.message().c_str());
      return 2;
    }
    return kecs::daemon::Cleanup(cfg);
  }
  for (const auto& [flag, argv_value] : {std::pair<const char*, const std::string*>{"--auth-keys", &auth_keys_argv},
                                        {"--registry-credentials", &registry_credentials_argv}}) {
    if (!argv_value->empty()) {
      std::fprintf(stderr,
                   "kecs: %s takes no value on the command line, where every user of the host can read "
                   "it; set it in the environment or in a file (%s-file)\n",
                   flag, flag);
      return 2;
    }
  }
  for (auto [env, file, target] : {std::tuple<const char*, const std::string*, std::string*>{
                                       "KECS_AUTH_KEYS", &auth_keys_file, &cfg.auth_keys},
                                   {"KECS_REGISTRY_CREDENTIALS", &registry_credentials_file,
                                    &cfg.registry_credentials}}) {
    if (auto st = kecs::daemon::ReadSecret(env, *file, target); !st.ok()) {
      std::fprintf(stderr, "kecs: %s\n", st.message().c_str());
      return 2;
    }
  }
  if (!kecs::log::Init(cfg.log_level, cfg.log_format)) {
    std::fprintf(stderr, "kecs: invalid --log-level '%s' or --log-format '%s'\n",
                 cfg.log_level.c_str(), cfg.log_format.c_str());
    return 2;
  }
  if (auto st = cfg.Finalize(); !st.ok()) {
    std::fprintf(stderr, "kecs: %s\n", st.message().c_str());
    return 2;
  }
  return kecs::daemon::Run(cfg);
}
