#include "daemon/daemon.h"

#include <cstdlib>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <regex>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "api/autoscaling/autoscaling_api.h"
#include "api/autoscaling/group_controller.h"
#include "api/ec2/ec2_api.h"
#include "api/ecs/ecs_api.h"
#include "api/elbv2/elbv2_api.h"
#include "api/sts/sts_api.h"
#include "api/exec/sessions.h"
#include "api/exec/stream_server.h"
#include "api/http/server.h"
#include "api/ec2/instance_identity.h"
#include "api/metadata/imds.h"
#include "api/metadata/metadata_service.h"
#include "api/protocol/region.h"
#include "api/ecr/ecr_api.h"
#include "api/router.h"
#include "api/elbv2/elbv2_api.h"
#include "api/servicediscovery/servicediscovery_api.h"
#include "api/secretsmanager/secretsmanager_api.h"
#include "api/logs/logs_api.h"
#include "api/secret_sources.h"
#include "api/ssm/ssm_api.h"
#include "api/ui/ui_server.h"
#include "base/host.h"
#include "base/log.h"
#include "base/strings.h"
#include "daemon/kubernetes_setup.h"
#include "daemon/metrics_sources.h"
#include "daemon/version.h"
#include "model/arn.h"
#include "model/autoscaling_model.h"
#include "model/kinds.h"
#include "model/ecr_model.h"
#include "model/sts_model.h"
#include "model/secretsmanager_model.h"
#include "model/shapes.h"
#include "net/domain/discovery.h"
#include "net/kernel/dns_server.h"
#include "net/kernel/metadata_listener.h"
#include "net/domain/vpc.h"
#include "reconcile/awslogs_shipper.h"
#include "reconcile/flow_log_controller.h"
#include "reconcile/discovery_hooks.h"
#include "reconcile/lb_controller.h"
#include "reconcile/lb_hooks.h"
#include "reconcile/network_hooks.h"
#include "reconcile/node_controller.h"
#include "reconcile/policy_controller.h"
#include "reconcile/daemon_controller.h"
#include "reconcile/capacity_controller.h"
#include "reconcile/service_controller.h"
#include "reconcile/traffic_shift.h"
#include "reconcile/task_controller.h"
#include "runtime/kubernetes/kubernetes_runtime.h"
#include "runtime/local/flow_source.h"
#include "runtime/local/local_runtime.h"
#include "runtime/simulated/simulated_runtime.h"
#include "state/records/elb.h"
#include "state/store.h"

namespace kecs::daemon {
namespace {

// kecs-shim lives beside the kecs binary.
std::string ShimExe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "kecs-shim" : (p.parent_path() / "kecs-shim").string();
}

runtime::local::LocalOptions LocalOptionsFrom(const Config& cfg) {
  runtime::local::LocalOptions o;
  o.data_dir = cfg.data_dir;
  o.shim_exe = ShimExe();
  o.network.prefix = cfg.name_prefix;
  o.network.bridge_cidr = cfg.bridge_cidr;
  o.network.publish_address = cfg.publish_address;
  o.registries.mirrors = Config::PairMap(cfg.registry_mirrors);
  for (const auto& r : Split(cfg.insecure_registries, ',')) {
    if (!Trim(r).empty()) o.registries.insecure.insert(std::string(Trim(r)));
  }
  o.registries.credentials = Config::PairMap(cfg.registry_credentials);
  o.registries.pull_behavior = cfg.image_pull_behavior;
  return o;
}

Result<std::unique_ptr<runtime::Runtime>> MakeRuntime(
    const Config& cfg, net::DnsServer* dns, state::Store& store,
    std::function<std::optional<std::string>(const std::string&)> local_registry = nullptr) {
  if (cfg.runtime == "simulated") {
    return std::unique_ptr<runtime::Runtime>(new runtime::SimulatedRuntime());
  }
  if (cfg.runtime == "local") {
    runtime::local::LocalOptions o = LocalOptionsFrom(cfg);
    o.dns = dns;
    o.registries.local_registry = std::move(local_registry);
    auto rt = std::make_unique<runtime::local::LocalRuntime>(o);
    RETURN_IF_ERROR(rt->Init());
    return std::unique_ptr<runtime::Runtime>(std::move(rt));
  }
  // kubernetes (issue 16): digests resolved as the local runtime pulls (mirrors, insecure
  // registries, credentials, kecs's own ECR); auth files only while skopeo runs.
  runtime::local::RegistryConfig registries = LocalOptionsFrom(cfg).registries;
  registries.local_registry = std::move(local_registry);
  ASSIGN_OR_RETURN(auto rt, MakeKubernetesRuntime(cfg, store,
                                                  runtime::kubernetes::SkopeoResolver(std::move(registries),
                                                                                      cfg.data_dir + "/kubernetes-auth")));
  return std::unique_ptr<runtime::Runtime>(std::move(rt));
}

api::HttpResponse JsonReply(int status, const std::string& code, const std::string& message) {
  api::HttpResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = Json{{"__type", code}, {"message", message}}.dump(-1, ' ', false,
                                                             Json::error_handler_t::replace);
  return r;
}

api::HttpResponse BadParameter(const std::string& message) {
  return JsonReply(400, "InvalidParameterException", message);
}

// A task id as ECS makes them, or a task ARN ending in one.
bool ValidTaskRef(const std::string& ref) {
  static const std::regex kRef(
      "^(arn:aws[a-z-]*:ecs:[a-z0-9-]{1,64}:[0-9]{12}:task/([A-Za-z0-9_-]{1,255}/)?)?"
      "([a-f0-9]{32}|[a-f0-9-]{36})$");
  return ref.size() <= 1024 && std::regex_match(ref, kRef);
}

// ECS container names: letters, digits, hyphens and underscores, up to 255.
bool ValidContainerName(const std::string& name) {
  static const std::regex kName("^[A-Za-z0-9_-]{1,255}$");
  return std::regex_match(name, kName);
}

// Reads a container's log from `offset`, refusing anything but a regular file directly
// inside `dir` (no symlink is followed).
api::HttpResponse ReadLog(const std::filesystem::path& dir, const std::string& task,
                          const std::string& container, long long offset) {
  std::filesystem::path file = dir / (container + ".log");
  std::error_code ec;
  // Names are validated already; this keeps the guarantee if that validation ever loosens.
  if (file.parent_path() != dir || file.filename() != container + ".log") {
    return BadParameter("container must name a container of the task");
  }
  int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return JsonReply(404, "ResourceNotFoundException",
                     "no container '" + container + "' in task " + task);
  }
  struct stat st {};
  api::HttpResponse r;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return JsonReply(404, "ResourceNotFoundException",
                     "no container '" + container + "' in task " + task);
  }
  long long size = st.st_size;
  if (offset > size) offset = size;
  r.body.resize(static_cast<size_t>(size - offset));
  size_t got = 0;
  while (got < r.body.size()) {
    ssize_t n = ::pread(fd, r.body.data() + got, r.body.size() - got,
                        static_cast<off_t>(offset + static_cast<long long>(got)));
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  r.body.resize(got);
  r.status = 200;
  r.headers = {{"Content-Type", "text/plain"},
               {"X-Kecs-Log-Offset", std::to_string(offset + static_cast<long long>(got))}};
  return r;
}

// GET /_kecs/v1/logs?task=ID|ARN&container=NAME&offset=N: a container's output from byte N.
// Every parameter is validated before it comes near a path: a task id or ARN, an ECS
// container name, a decimal offset; anything else (unknown, repeated or badly encoded
// parameters included) is a 400 with a JSON message.
api::HttpResponse Logs(runtime::Runtime* rt, const api::HttpRequest& req) {
  if (req.Path() != "/_kecs/v1/logs") {
    return JsonReply(404, "UnknownOperationException", "no such kecs endpoint");
  }
  if (req.method != "GET") {
    return JsonReply(405, "MethodNotAllowed", "the logs endpoint answers GET only");
  }
  std::map<std::string, std::string> params;
  std::string_view qs = req.QueryString();
  for (const auto& kv : Split(qs, '&')) {
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    std::string key = kv.substr(0, eq), value;
    if (eq != std::string::npos && !UrlDecode(kv.substr(eq + 1), &value, false)) {
      return BadParameter("parameter '" + key + "' is not correctly percent-encoded");
    }
    if (key != "task" && key != "container" && key != "offset") {
      return BadParameter("unknown parameter; the logs endpoint takes task, container and offset");
    }
    if (!params.emplace(key, value).second) return BadParameter("parameter '" + key + "' given twice");
  }
  const std::string& task_ref = params["task"];
  const std::string& container_param = params["container"];
  if (!ValidTaskRef(task_ref)) {
    return BadParameter("task must be a task id (32 hexadecimal digits) or a task ARN");
  }
  if (!container_param.empty() && !ValidContainerName(container_param)) {
    return BadParameter(
        "container must be a container name: up to 255 letters, digits, hyphens and underscores");
  }
  long long offset = 0;
  if (params.count("offset")) {
    static const std::regex kOffset("^[0-9]{1,18}$");
    if (!std::regex_match(params["offset"], kOffset)) {
      return BadParameter("offset must be a non-negative decimal byte offset");
    }
    offset = std::stoll(params["offset"]);
  }
  std::string task = model::NameFromArnOrName(task_ref);
  auto* local = dynamic_cast<runtime::local::LocalRuntime*>(rt);
  if (!local && rt->name() == "kubernetes") {
    // The kubelet keeps the logs (issue 16).
    if (container_param.empty()) return BadParameter("name the container: the kubernetes runtime asks the pod for one");
    auto out = rt->ReadOutput(task, container_param, offset, size_t{8} << 20);
    if (!out.ok()) {
      if (out.status().code() == Code::kNotFound) return JsonReply(404, "ResourceNotFoundException", out.status().message());
      return JsonReply(502, "ServerException", "cannot read the pod's log: " + out.status().message());
    }
    api::HttpResponse r;
    r.status = 200;
    r.headers = {{"Content-Type", "text/plain"},
                 {"X-Kecs-Log-Offset", std::to_string(std::min<long long>(offset, out->size) +
                                                      static_cast<long long>(out->data.size()))}};
    r.body = std::move(out->data);
    return r;
  }
  if (!local) {
    return JsonReply(404, "ResourceNotFoundException",
                     "the " + rt->name() + " runtime runs no processes and keeps no logs");
  }
  // The runtime's log dir for this task; only files directly inside it are ever opened.
  std::filesystem::path dir = std::filesystem::path(local->LogPath(task, "x")).parent_path();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return JsonReply(404, "ResourceNotFoundException", "no logs for task '" + task + "'");
  }
  std::string container = container_param;
  if (container.empty()) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      std::string stem = e.path().stem().string();
      if (e.path().extension() == ".log" && ValidContainerName(stem)) names.push_back(stem);
    }
    std::sort(names.begin(), names.end());
    if (names.size() != 1) {
      return BadParameter("the task has containers " + Join(names, ", ") + "; name one");
    }
    container = names.front();
  }
  return ReadLog(dir, task, container, offset);
}

// A load balancer's DNS name in the VPC resolver: every node's address, as Route 53
// answers an ELB name (up to 8 at a time, shuffled; TTL 60 s, the ELB records' TTL).
net::discovery::DnsAnswer LoadBalancerDnsAnswer(const state::records::LbDnsAnswer& lb) {
  net::discovery::DnsAnswer a;
  a.found = true;
  a.routing_policy = "MULTIVALUE";
  a.has_a = true;
  a.has_aaaa = true;
  a.ttl_a = a.ttl_aaaa = 60;
  size_t n = std::max(lb.ipv4.size(), lb.ipv6.size());
  for (size_t i = 0; i < n; ++i) {
    net::discovery::Endpoint e;
    if (i < lb.ipv4.size()) e.ipv4 = lb.ipv4[i];
    if (i < lb.ipv6.size()) e.ipv6 = lb.ipv6[i];
    a.endpoints.push_back(std::move(e));
  }
  return a;
}

// Refuses what the plain GET endpoints below do not take: other methods, any parameter.
std::optional<api::HttpResponse> PlainGet(const api::HttpRequest& req) {
  if (req.method != "GET") return JsonReply(405, "MethodNotAllowed", "this endpoint answers GET only");
  if (!req.QueryString().empty()) return BadParameter("this endpoint takes no parameters");
  return std::nullopt;
}

// GET /_kecs/v1/load-balancers: every load balancer of every region with its listeners and
// where each is published on the host (`kecs elb ls`).
api::HttpResponse LoadBalancers(state::Store& store, const std::string& host_address, const api::HttpRequest& req) {
  if (auto refused = PlainGet(req)) return *refused;
  Json out = Json::array();
  Status st = store.Read([&](state::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto lbs, state::records::ListLoadBalancers(tx, "", /*any_region=*/true));
    for (const auto& lb : lbs) {
      Json listeners = Json::array();
      ASSIGN_OR_RETURN(auto ls, state::records::ListListeners(tx, lb.region, lb.id));
      std::sort(ls.begin(), ls.end(), [](const auto& a, const auto& b) { return a.port < b.port; });
      for (const auto& l : ls) {
        Json j = {{"arn", l.arn}, {"port", l.port}, {"protocol", std::string(model::ToString(l.protocol))}};
        if (l.host_port > 0) {
          j["hostAddress"] = host_address;
          j["hostPort"] = l.host_port;
        }
        listeners.push_back(std::move(j));
      }
      out.push_back(Json{{"name", lb.name},
                         {"arn", lb.arn},
                         {"region", lb.region},
                         {"dnsName", lb.dns_name},
                         {"type", std::string(model::ToString(lb.type))},
                         {"scheme", std::string(model::ToString(lb.scheme))},
                         {"state", std::string(model::ToString(lb.state))},
                         {"listeners", std::move(listeners)}});
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    KLOG_ERROR("/_kecs/v1/load-balancers: {}", st.message());
    return JsonReply(500, "ServerException", "cannot read the load balancers");
  }
  api::HttpResponse r;
  r.status = 200;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = Json{{"loadBalancers", std::move(out)}}.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

// GET /_kecs/v1/elb/ca.pem: the CA of the HTTPS listeners' certificates (`kecs elb ca`).
api::HttpResponse LoadBalancerCa(runtime::Runtime* rt, const api::HttpRequest& req) {
  if (auto refused = PlainGet(req)) return *refused;
  auto pem = rt->LoadBalancerCa();
  if (!pem.ok()) {
    if (pem.status().code() == Code::kFailedPrecondition || pem.status().code() == Code::kNotFound) {
      return JsonReply(404, "ResourceNotFoundException", pem.status().message());
    }
    KLOG_ERROR("/_kecs/v1/elb/ca.pem: {}", pem.status().message());
    return JsonReply(500, "ServerException", "cannot read the load balancers' certificate authority");
  }
  api::HttpResponse r;
  r.status = 200;
  r.headers = {{"Content-Type", "application/x-pem-file"}};
  r.body = std::move(*pem);
  return r;
}

// POST /_kecs/v1/alarms {"alarmName", "state": "ALARM"|"OK", "region"?}: sets a deployment
// alarm of kecs's alarm source (`kecs alarm set`; reconcile/traffic_shift.h), in `region`
// or the daemon's.
api::HttpResponse SetAlarm(state::Store& store, const std::string& default_region, const api::HttpRequest& req) {
  if (req.method != "POST") return JsonReply(405, "MethodNotAllowed", "this endpoint answers POST only");
  auto body = ParseJson(req.body);
  if (!body || !body->is_object()) return BadParameter("the body must be a JSON object");
  const std::string name = JStr(*body, "alarmName");
  const std::string state = JStr(*body, "state");
  const std::string region = JStr(*body, "region", default_region);
  if (!api::protocol::IsValidRegion(region)) return BadParameter("region must be an AWS region name");
  Status st = store.Write([&](state::Tx& tx) {
    return reconcile::SetAlarmState(tx, region, name, state, static_cast<double>(std::time(nullptr)));
  });
  if (st.code() == Code::kInvalidArgument) return BadParameter(st.message());
  if (!st.ok()) {
    KLOG_ERROR("/_kecs/v1/alarms: {}", st.message());
    return JsonReply(500, "ServerException", "cannot set the alarm");
  }
  api::HttpResponse r;
  r.status = 200;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = Json{{"alarmName", name}, {"state", state}, {"region", region}}.dump();
  return r;
}

// GET /_kecs/v1/kubernetes/coredns: the CoreDNS rewrite rules for Cloud Map names
// (`kecs kube coredns`), as text; 404 unless the runtime is kubernetes.
api::HttpResponse KubeCoreDns(runtime::Runtime* rt, const api::HttpRequest& req) {
  if (auto refused = PlainGet(req)) return *refused;
  auto* kube = dynamic_cast<runtime::kubernetes::KubernetesRuntime*>(rt);
  if (!kube) return JsonReply(404, "ResourceNotFoundException", "the " + rt->name() + " runtime is not kubernetes");
  auto text = kube->CoreDnsSnippet();
  if (!text.ok()) {
    KLOG_ERROR("/_kecs/v1/kubernetes/coredns: {}", text.status().message());
    return JsonReply(502, "ServerException", "cannot list the headless services: " + text.status().message());
  }
  api::HttpResponse r;
  r.status = 200;
  r.headers = {{"Content-Type", "text/plain; charset=utf-8"}};
  r.body = std::move(*text);
  return r;
}

// kecs's own endpoints under /_kecs/v1/ (the router authenticates them like the APIs).
api::HttpResponse Internal(runtime::Runtime* rt, state::Store& store, const std::string& host_address,
                           const std::string& region, const api::HttpRequest& req) {
  if (req.Path() == "/_kecs/v1/alarms") return SetAlarm(store, region, req);
  if (req.Path() == "/_kecs/v1/load-balancers") return LoadBalancers(store, host_address, req);
  if (req.Path() == "/_kecs/v1/elb/ca.pem") return LoadBalancerCa(rt, req);
  if (req.Path() == "/_kecs/v1/kubernetes/coredns") return KubeCoreDns(rt, req);
  return Logs(rt, req);
}

}  // namespace

Result<net::discovery::DnsAnswer> LookupVpcName(state::Tx& tx, const std::string& region, const std::string& vpc_id,
                                                const std::string& fqdn) {
  // A load balancer's DNS name first (only names under .elb. are looked for).
  ASSIGN_OR_RETURN(auto lb, state::records::LookupLoadBalancerDns(tx, region, vpc_id, fqdn));
  if (lb) return LoadBalancerDnsAnswer(*lb);
  return net::discovery::LookupDns(tx, region, vpc_id, fqdn);
}

int LoadImage(const Config& cfg, const std::string& archive, const std::string& tag) {
  runtime::local::ImageStore store(cfg.data_dir + "/images", LocalOptionsFrom(cfg).registries);
  auto r = store.Load(archive, tag.empty() ? std::nullopt : std::optional<std::string>(tag));
  if (!r.ok()) {
    std::fprintf(stderr, "kecs: %s\n", r.status().message().c_str());
    return 1;
  }
  for (const auto& n : *r) std::printf("Loaded image: %s\n", n.c_str());
  return 0;
}

int Cleanup(const Config& cfg) {
  // Everything of the data dir's tasks (containers, overlays, namespaces, published
  // ports), then the host-wide pieces of the prefix (bridge, nft table).
  runtime::local::LocalRuntime rt(LocalOptionsFrom(cfg));
  Status st = rt.GarbageCollect({}, {});
  if (st.ok()) st = rt.network().RemoveAll();
  // The host-mode metadata listener's bridge and redirect (a daemon that crashed left them).
  if (st.ok()) st = net::RemoveHostListener(cfg.name_prefix + "-md", cfg.name_prefix + "_metadata");
  if (!st.ok()) {
    std::fprintf(stderr, "kecs: %s\n", st.message().c_str());
    return 1;
  }
  return 0;
}

int Run(const Config& cfg) {
  // Block the shutdown signals in every thread; the main thread waits for them below.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto store = state::Store::Open(cfg.data_dir);
  if (!store.ok()) {
    KLOG_ERROR("cannot open state: {}", store.status().message());
    return 2;
  }
  // Amazon ECR and the registry behind its repository URIs, on the API's port (/v2/).
  api::ecr::EcrApi ecr(**store, {cfg.data_dir, cfg.account_id, cfg.region});
  // The VPC resolvers: Cloud Map names from the store, everything else forwarded.
  std::mutex vpc_regions_mu;
  std::map<std::string, std::string> vpc_regions;  // VPC id -> region; a VPC id never moves
  net::DnsServer dns(
      [&store = **store, &vpc_regions_mu, &vpc_regions](const std::string& vpc, const std::string& fqdn)
          -> Result<net::discovery::DnsAnswer> {
        net::discovery::DnsAnswer out;
        Status st = store.Read([&](state::Tx& tx) -> Status {
          std::string region;
          {
            std::lock_guard<std::mutex> lock(vpc_regions_mu);
            if (auto it = vpc_regions.find(vpc); it != vpc_regions.end()) region = it->second;
          }
          if (region.empty()) {
            state::Query q;
            q.kind = net::kVpc;
            q.any_region = true;
            ASSIGN_OR_RETURN(auto vpcs, tx.List(q));
            for (const auto& v : vpcs) {
              if (v.id == vpc) region = v.region;
            }
            if (region.empty()) return Status::Ok();  // a VPC that is gone sees no namespace
            std::lock_guard<std::mutex> lock(vpc_regions_mu);
            vpc_regions[vpc] = region;
          }
          ASSIGN_OR_RETURN(out, LookupVpcName(tx, region, vpc, fqdn));
          return Status::Ok();
        });
        if (!st.ok()) return st;
        return out;
      },
      net::DnsServer::Options{});
  auto rt = MakeRuntime(cfg, &dns, **store, [&ecr](const std::string& host) { return ecr.PullCredentials(host); });
  if (!rt.ok()) {
    KLOG_ERROR("{}", rt.status().message());
    return 2;
  }
  const auto started = std::chrono::steady_clock::now();

  // The daemon's one clock: every timestamp the controllers and their hooks write.
  Clock& clock = Clock::Real();
  // CloudWatch Logs (Logs_20140328). It is also the reconcile::LogSink the awslogs driver
  // appends container output through, so it is made before the reconciler; its sweep
  // thread deletes expired events and those of deleted groups and streams.
  api::logs::LogsApi logs(**store, cfg.account_id, api::logs::LogsApi::Options{}, clock);
  reconcile::TaskHooks hooks;
  reconcile::NetworkHookOptions nopts;
  nopts.bridge_cidr = cfg.bridge_cidr;
  nopts.public_port_first = cfg.public_port_first;
  nopts.public_port_last = cfg.public_port_last;
  nopts.public_ip = cfg.publish_address.empty() ? PrimaryIpv4() : cfg.publish_address;
  nopts.bind_ip = cfg.publish_address.empty() ? "0.0.0.0" : cfg.publish_address;
  // Only a runtime that publishes on this host needs ports nobody else holds.
  nopts.probe_host_ports = (*rt)->has_data_plane() && cfg.runtime != "kubernetes";
  hooks.provision = [nopts, &clock](state::Tx& tx, model::Task& t) {
    return reconcile::ProvisionNetwork(tx, t, clock.Now(), nopts);
  };
  // Service tasks join their Cloud Map registries at RUNNING and leave as they stop.
  reconcile::DiscoveryHookOptions dopts;
  dopts.host_ip = nopts.public_ip;
  // ... and their load balancers' target groups at RUNNING, draining them as they stop.
  reconcile::LbHookOptions lbopts;
  lbopts.host_ip = nopts.public_ip;
  lbopts.instance_id = [](state::Tx& tx, const model::Task& t) -> Result<std::string> {
    if (!t.internal.placement) return std::string();
    ASSIGN_OR_RETURN(auto row, tx.Get(model::kInstance, t.region, t.internal.placement->instance));
    return row ? row->doc.value("ec2InstanceId", "") : std::string();
  };
  hooks.running = [dopts, lbopts, &clock](state::Tx& tx, model::Task& t) {
    RETURN_IF_ERROR(reconcile::RegisterServiceTask(tx, t, clock.Now(), dopts));
    return reconcile::RegisterTaskTargets(tx, t, clock.Now(), lbopts);
  };
  hooks.health_changed = [](state::Tx& tx, model::Task& t) { return reconcile::UpdateServiceTaskHealth(tx, t); };
  hooks.stopping = [&clock](state::Tx& tx, model::Task& t) {
    RETURN_IF_ERROR(reconcile::DeregisterServiceTask(tx, t, clock.Now()));
    return reconcile::DeregisterTaskTargets(tx, t, clock.Now());
  };
  hooks.deactivated = [lbopts, &clock](state::Tx& tx, const model::Task& t) {
    return reconcile::TaskTargetsDrained(tx, t, clock.Now(), lbopts);
  };
  hooks.release = [&clock](state::Tx& tx, model::Task& t) {
    RETURN_IF_ERROR(reconcile::DeregisterServiceTask(tx, t, clock.Now()));
    RETURN_IF_ERROR(reconcile::ReleaseTaskTargets(tx, t));
    return reconcile::ReleaseNetwork(tx, t);
  };
  reconcile::PolicyController::Options popts;
  popts.host_exempt = !cfg.strict;
  popts.instance_group = cfg.instance_security_group;
  popts.instance_group_region = cfg.region;
  reconcile::PolicyController policies(**store, **rt, popts);
  // The task metadata and credentials endpoint (169.254.170.2:80 in each task's namespace).
  // Its credentials are derived from a key of the data dir's; nothing secret is stored.
  auto issuer = api::metadata::CredentialsIssuer::Open(Env::Default(), cfg.data_dir + "/metadata-credentials.key");
  if (!issuer.ok()) {
    KLOG_ERROR("task credentials: {}", issuer.status().message());
    return 2;
  }
  api::metadata::MetadataService::Options mopts;
  mopts.host_link = cfg.name_prefix + "-md";
  mopts.host_table = cfg.name_prefix + "_metadata";
  api::metadata::MetadataService metadata(api::metadata::MetadataService::StoreReader(**store), **rt, std::move(*issuer), mopts, clock);
  metadata.SetProtection(api::metadata::MetadataService::StoreProtection(**store, clock));
  hooks.before_start = [&policies, &metadata](const model::Task& t, const runtime::TaskSpec& spec) -> Status {
    if (spec.network.mode == model::NetworkMode::kAwsvpc && !spec.network.vpc_id.empty()) {
      RETURN_IF_ERROR(policies.SyncVpc(t.region, spec.network.vpc_id));
    }
    return metadata.Open(t, spec);
  };
  // The awslogs driver (issue 14): the output of awslogs containers goes to CloudWatch Logs
  // through the logs service's LogSink, on the shipper's own thread; `kecs logs` keeps
  // reading the same output.
  std::unique_ptr<reconcile::AwslogsShipper> awslogs;
  {
    runtime::Runtime* output_rt = rt->get();
    awslogs = std::make_unique<reconcile::AwslogsShipper>(
        **store, static_cast<reconcile::LogSink&>(logs),
        [output_rt](const std::string& task, const std::string& container, int64_t offset, size_t max) {
          return output_rt->ReadOutput(task, container, offset, max);
        },
        reconcile::AwslogsShipper::Options{}, clock);
    hooks.before_start = [inner = hooks.before_start, shipper = awslogs.get()](
                             const model::Task& t, const runtime::TaskSpec& spec) -> Status {
      RETURN_IF_ERROR(inner(t, spec));
      return shipper->Prepare(t);  // Docker's driver makes the stream as the container starts
    };
  }
  // VPC flow logs (issue 15): the local runtime's routers are the source of their records;
  // the simulated runtime has none, and its flow logs produce no records.
  std::unique_ptr<runtime::local::LocalFlowSource> flow_source;
  if (auto* local_rt = dynamic_cast<runtime::local::LocalRuntime*>(rt->get())) {
    flow_source = std::make_unique<runtime::local::LocalFlowSource>(
        [local_rt](const std::string& vpc) { return local_rt->network().RouterNamespace(vpc); });
  }
  reconcile::FlowLogController flow_logs(**store, flow_source.get(), static_cast<reconcile::LogSink&>(logs),
                                         {std::chrono::milliseconds(1000), cfg.data_dir + "/s3", cfg.flow_metrics},
                                         clock);
  // A listener's sockets would keep the task's namespace alive after its deletion.
  hooks.before_delete = [&metadata](const model::Task& t, const runtime::TaskSpec&) {
    metadata.Close(t.region, t.id);
  };
  hooks.adopt = [&metadata](const model::Task& t, const runtime::TaskSpec& spec) {
    if (Status st = metadata.Open(t, spec); !st.ok()) {
      KLOG_WARN("task {}: metadata endpoint: {}", t.id, st.message());
    }
  };
  // Load balancers: the data plane follows the ELB records; target health goes back to them.
  reconcile::LbController lbs(**store, **rt, reconcile::LbController::Options{}, clock);
  (*store)->OnCommit([&lbs] { lbs.Notify(); });
  // SSM Parameter Store (AmazonSSM) and Secrets Manager: values are sealed under a key of
  // each service's in the data dir, made on first use (base/value_cipher.h). Made here,
  // before the task controller, because task secrets (issue 14) resolve through them:
  // SSM parameters by SsmApi::ResolveParameter, Secrets Manager ARNs by ResolveReference.
  api::ssm::SsmApi ssm(**store, cfg.data_dir + "/ssm-parameters.key");
  api::secretsmanager::SecretsManagerApi secrets(**store, cfg.data_dir + "/secretsmanager.key");
  api::ServiceSecretSource secret_source(
      [&ssm](std::string_view ref, std::string_view region, std::string_view account) {
        return ssm.ResolveParameter(ref, region, account);
      },
      [&secrets](std::string_view ref, std::string_view region, std::string_view account) {
        return secrets.ResolveReference(ref, region, account);
      });
  reconcile::TaskController::Options copts;
  copts.stopped_retention_s = cfg.stopped_task_retention;
  copts.secrets = &secret_source;
  reconcile::TaskController controller(**store, **rt, hooks, copts, clock);
  (*store)->OnCommit([&controller, &policies] {
    controller.Notify();
    policies.Notify();
  });
  // The kubernetes runtime watches its pods: Inspect reads them from the watch, and a
  // change (a container ended, a pod evicted) wakes the task controller at once.
  auto* kube = dynamic_cast<runtime::kubernetes::KubernetesRuntime*>(rt->get());
  if (kube) kube->Watch([&controller] { controller.Notify(); });

  net::RegionBootstrap regions;
  api::ecs::EcsOptions eopts;
  eopts.host_cpu_units = Host().cpus * 1024;
  eopts.host_memory_mib = Host().memory_mib;
  eopts.instance_type = cfg.instance_type;
  eopts.ephemeral_port_first = cfg.ephemeral_port_first;
  eopts.ephemeral_port_last = cfg.ephemeral_port_last;
  // On a Kubernetes cluster its nodes are the container instances (reconcile/node_controller.h).
  if (kube) eopts.host_instance = false;
  api::ecs::EcsApi ecs(**store, regions, eopts);
  std::unique_ptr<reconcile::NodeController> nodes;
  if (kube) {
    reconcile::NodeController::Options nopts_k8s;
    nopts_k8s.zone_suffix = eopts.availability_zone_suffix;
    nodes = std::make_unique<reconcile::NodeController>(**store, ecs, nopts_k8s, clock);
    ecs.SetNodeController(nodes.get());
    nodes->Start(&kube->client());
  }
  // The service scheduler launches tasks through the API's RunTask path.
  reconcile::ServiceController::Options service_options;
  // Issue 18: a deployment "minute" (bake times, hook timeouts) lasts this many seconds;
  // read once here, for tests that cannot wait real minutes (docs/design.md).
  if (const char* v = std::getenv("KECS_DEPLOYMENT_MINUTE_SECONDS"); v && *v) {
    char* end = nullptr;
    double seconds = std::strtod(v, &end);
    if (end && *end == '\0' && seconds > 0 && seconds <= 3600) {
      service_options.minute_seconds = seconds;
    } else {
      KLOG_WARN("KECS_DEPLOYMENT_MINUTE_SECONDS={} is not a number of seconds in (0, 3600]; using 60", v);
    }
  }
  ecs.SetCapacityMinute(service_options.minute_seconds);  // cluster auto scaling's waits (issue 17)
  reconcile::ServiceController services(**store, ecs, service_options, clock);
  (*store)->OnCommit([&services] { services.Notify(); });
  // The daemon scheduler (managed daemons) launches its tasks through the same path.
  reconcile::DaemonController::Options daemon_options;
  daemon_options.minute_seconds = service_options.minute_seconds;  // bake times
  reconcile::DaemonController daemons(**store, ecs, daemon_options, clock);
  (*store)->OnCommit([&daemons] { daemons.Notify(); });
  // EC2 instances (issue 17): their state machine, the ECS agent on them, and the key that
  // signs their identity documents.
  auto identity = api::ec2::IdentitySigner::Open(Env::Default(), cfg.data_dir + "/instance-identity.key");
  if (!identity.ok()) {
    KLOG_ERROR("instance identity key: {}", identity.status().message());
    return 2;
  }
  ecs.SetIdentitySigner(*identity);
  // The instance metadata service (169.254.169.254) in each running instance's namespace.
  api::metadata::InstanceMetadata imds(api::metadata::InstanceMetadata::StoreReader(**store), *identity, clock);
  api::metadata::InstanceMetadataServer imds_server(imds, **rt);
  reconcile::InstanceController::Options instance_options;
  instance_options.host_running = [&imds_server](const state::Object& i) {
    if (Status st = imds_server.Open(i.region, i.id); !st.ok()) KLOG_WARN("instance {}: {}", i.id, st.message());
  };
  instance_options.host_deleting = [&imds_server](const state::Object& i) { imds_server.Close(i.region, i.id); };
  reconcile::InstanceController instances(**store, **rt, ecs, instance_options, clock);
  (*store)->OnCommit([&instances] { instances.Notify(); });
  if (Status gc = instances.GarbageCollect(); !gc.ok()) KLOG_WARN("instance hosts: {}", gc.message());

  api::Router::Options ropts;
  ropts.default_region = cfg.region;
  ropts.account_id = cfg.account_id;
  ropts.strict = cfg.strict;
  ropts.credentials = cfg.AuthKeyMap();
  // With auth keys, a task's role credentials sign requests too, as an SDK in a task uses them.
  ropts.temporary_credentials = [&metadata](const std::string& key, const std::string& token) {
    return metadata.SecretFor(key, token);
  };
  ropts.validate_responses = cfg.validate_responses;
  ropts.clock = &clock;
  state::Store* st = store->get();
  runtime::Runtime* runtime = rt->get();
  ropts.health = [st, runtime, started, &cfg] {
    Status db = st->db().Ping();
    double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return Json{
        {"status", db.ok() ? "ok" : "degraded"},
        {"version", kVersion},
        {"uptimeSeconds", uptime},
        {"runtime", {{"name", runtime->name()},
                     {"dataPlane", runtime->has_data_plane()},
                     {"description", runtime->Describe()}}},
        // No file paths: /health is for anyone allowed to call the API.
        {"database", {{"status", db.ok() ? "ok" : "degraded"},
                      {"schemaVersion", st->db().schema_version()}}},
        {"region", cfg.region},
        {"accountId", cfg.account_id},
        {"strict", cfg.strict},
    };
  };
  const std::string lb_host_address = nopts.public_ip;  // --publish-address, else the primary IPv4
  ropts.internal = [runtime, st, lb_host_address, region = cfg.region](const api::HttpRequest& r) {
    return Internal(runtime, *st, lb_host_address, region, r);
  };
  api::Router router(ropts);

  api::ErrorStyle ecs_style;
  ecs_style.ecs_enum_wording = true;
  ecs_style.lenient_optional = {"AwsVpcConfiguration.subnets"};
  auto ecs_service = std::make_shared<api::Service>(model::EcsModel(), ecs_style);
  ecs.RegisterAll(*ecs_service);
  router.AddService(ecs_service);

  api::ec2::Ec2Api ec2(**store, regions);
  api::ErrorStyle ec2_style;
  ec2_style.ec2_missing_parameter = true;
  // Create/ReplaceNetworkAclEntry take RuleAction in any case; the handler stores it lowercase.
  ec2_style.constraints.case_insensitive_enums = {"RuleAction"};
  // An instance type EC2 does not know is the handler's InvalidInstanceType, not a front-end
  // InvalidParameterValue (the model's enum also lags AWS's new types).
  ec2_style.constraints.unchecked_enums = {"InstanceType"};
  auto ec2_service = std::make_shared<api::Service>(model::Ec2Model(), ec2_style);
  ec2.RegisterAll(*ec2_service);
  router.AddService(ec2_service);

  // Cloud Map's errors carry "Message"; its model has no server fault, so an unexpected
  // failure is the common InternalFailure.
  api::servicediscovery::ServiceDiscoveryApi sd(**store, regions);
  api::ErrorStyle sd_style;
  sd_style.message_key = "Message";
  auto sd_service = std::make_shared<api::Service>(model::ServiceDiscoveryModel(), sd_style);
  sd.RegisterAll(*sd_service);
  router.AddService(sd_service);

  // SSM Parameter Store (AmazonSSM) and Secrets Manager (secretsmanager), made above.
  auto ssm_service = std::make_shared<api::Service>(model::SsmModel(), api::ErrorStyle{});
  ssm.RegisterAll(*ssm_service);
  router.AddService(ssm_service);
  api::ErrorStyle secrets_style;
  secrets_style.message_key = "Message";
  auto secrets_service = std::make_shared<api::Service>(model::SecretsManagerModel(), secrets_style);
  secrets.RegisterAll(*secrets_service);
  router.AddService(secrets_service);
  // CloudWatch Logs answers its validation errors as InvalidParameterException.
  api::ErrorStyle logs_style;
  logs_style.validation_code = "InvalidParameterException";
  auto logs_service = std::make_shared<api::Service>(model::LogsModel(), logs_style);
  logs.RegisterAll(*logs_service);
  router.AddService(logs_service);

  auto ecr_service = std::make_shared<api::Service>(model::EcrModel(), api::ErrorStyle{});
  ecr.RegisterAll(*ecr_service);
  router.AddService(ecr_service);

  // Elastic Load Balancing v2 (Query protocol; the router picks it by the signing name
  // elasticloadbalancing, or Version 2015-12-01 when unsigned).
  api::elbv2::Options lopts;
  lopts.lb_port_first = cfg.lb_port_first;
  lopts.lb_port_last = cfg.lb_port_last;
  lopts.host_address = lb_host_address;
  api::elbv2::Elbv2Api elbv2(**store, regions, lopts);
  auto elbv2_service = std::make_shared<api::Service>(model::Elbv2Model(), api::ErrorStyle{});
  elbv2.RegisterAll(*elbv2_service);
  router.AddService(elbv2_service);
  // AWS STS (Query protocol, signing name sts): GetCallerIdentity for Terraform and the SDKs.
  auto sts_service = std::make_shared<api::Service>(model::StsModel(), api::ErrorStyle{});
  api::sts::RegisterAll(*sts_service);
  router.AddService(sts_service);
  // EC2 Auto Scaling (Query protocol, signing name autoscaling); its group controller
  // launches and terminates through the EC2 service's handlers.
  api::autoscaling::AutoScalingApi autoscaling(**store, regions);
  auto autoscaling_service = std::make_shared<api::Service>(model::AutoScalingModel(), api::ErrorStyle{});
  autoscaling.RegisterAll(*autoscaling_service);
  router.AddService(autoscaling_service);
  api::autoscaling::GroupController asg_controller(**store, *ec2_service, clock, api::autoscaling::GroupController::Options{});
  (*store)->OnCommit([&asg_controller] { asg_controller.Notify(); });
  // Express Mode services make their security groups and load balancer through these.
  ecs.SetExpressPeers({ec2_service.get(), elbv2_service.get()});
  // ECS's capacity providers read and scale their groups through Auto Scaling's operations.
  ecs.SetAutoScaling(autoscaling_service.get());
  reconcile::CapacityController capacity(ecs, reconcile::CapacityController::Options{}, clock);

  // ECS Exec: ExecuteCommand's sessions, streamed over WebSockets on the API's port.
  api::exec::ExecSessions exec_sessions;
  api::exec::StreamServer exec_streams(exec_sessions, *runtime);
  // The topology page (/ui, issue 15) and its live streams, WebSockets on the same port.
  api::ui::UiServer::Options uopts;
  uopts.credentials = cfg.AuthKeyMap();
  // The page's edges carry what the flow captures saw lately (flow metrics or a flow log).
  uopts.annotate = [&flow_logs](state::Tx&, api::ui::Snapshot& snap) {
    api::ui::AddFlowsToEdges(snap, flow_logs.RecentFlows());
    return Status::Ok();
  };
  api::ui::UiServer ui(**store, *runtime, uopts);
  flow_logs.OnRecentChanged([&ui] { ui.Notify(); });  // new flows redraw the page's edges
  (*store)->OnCommit([&ui] { ui.Notify(); });
  api::HttpServer::Options sopts;
  sopts.threads = cfg.http_threads;
  sopts.max_connections = cfg.max_connections;
  sopts.upgrade_wanted = [](const api::HttpRequest& r) {
    return api::exec::StreamServer::Wants(r) || api::ui::UiServer::Wants(r);
  };
  sopts.large_body_wanted = &api::ecr::EcrApi::IsBlobUpload;  // image layers beyond 16 MiB
  sopts.upgrade = [&exec_streams, &ui](api::HttpRequest r, int fd) {
    if (api::ui::UiServer::Wants(r)) {
      ui.Serve(std::move(r), fd);
    } else {
      exec_streams.Serve(std::move(r), fd);
    }
  };
  api::HttpServer server(
      [&router, &ecr, &ui](const api::HttpRequest& r) {
        if (api::ui::UiServer::IsUiPath(r.Path())) return ui.Handle(r);
        return api::ecr::EcrApi::IsRegistryPath(r.Path()) ? ecr.HandleRegistry(r) : router.Handle(r);
      },
      sopts);
  if (Status s = server.Listen(cfg.host, static_cast<uint16_t>(cfg.port)); !s.ok()) {
    KLOG_ERROR("{}", s.message());
    return 2;
  }
  std::string exec_host = cfg.host == "0.0.0.0" || cfg.host == "::" || cfg.host.empty() ? "127.0.0.1" : cfg.host;
  ecr.SetPort(server.port());
  ecr.SweepBlobs();  // what a crash between an image's deletion and its blobs' left
  // Lifecycle policies also run periodically (sinceImagePushed rules expire with time).
  std::mutex ecr_mu;
  std::condition_variable ecr_cv;
  bool ecr_stop = false;
  std::thread ecr_lifecycle([&] {
    std::unique_lock<std::mutex> lock(ecr_mu);
    while (!ecr_cv.wait_for(lock, std::chrono::seconds(60), [&] { return ecr_stop; })) {
      lock.unlock();
      ecr.ApplyLifecyclePolicies();
      lock.lock();
    }
  });
  ecs.SetExec({&exec_sessions, runtime->has_data_plane(), fmt::format("{}:{}", exec_host, server.port())});

  // /metrics: what is read from the store and the kernel at each scrape.
  int store_metrics = metrics::AddSource([st, ports = PortPool{cfg.public_port_first, cfg.public_port_last}] {
    return StoreFamilies(*st, ports);
  });
  int eni_metrics = metrics::AddSource([runtime] { return EniFamilies(*runtime); });

  controller.Start();
  if (awslogs) awslogs->Start();
  flow_logs.Start();
  policies.Start();
  lbs.Start();
  services.Start();
  daemons.Start();
  imds_server.Start();
  instances.Start();
  asg_controller.Start();
  capacity.Start();
  metadata.Start();
  logs.Start();
  server.Start();
  KLOG_INFO("kecs {} listening on http://{}:{} (region {}, account {}, data dir {})", kVersion,
            cfg.host, server.port(), cfg.region, cfg.account_id, cfg.data_dir);
  if (runtime->has_data_plane()) {
    KLOG_INFO("runtime: {}", runtime->Describe());
  } else {
    KLOG_WARN("runtime: {}", runtime->Describe());
  }
  if (cfg.strict) KLOG_INFO("strict mode: AWS's refusals where kecs is lenient by default");

  int sig = 0;
  sigwait(&sigs, &sig);
  KLOG_INFO("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  server.Shutdown(std::chrono::seconds(10));
  if (nodes) nodes->Stop();  // its passes write container instances through the ECS API
  metrics::RemoveSource(eni_metrics);
  metrics::RemoveSource(store_metrics);
  {
    std::lock_guard<std::mutex> lock(ecr_mu);
    ecr_stop = true;
  }
  ecr_cv.notify_all();
  ecr_lifecycle.join();
  exec_streams.Shutdown();  // ends the exec sessions (their commands are killed)
  ui.Shutdown();  // ends the topology page's streams (they read the store and the runtime)
  services.Stop();
  daemons.Stop();
  asg_controller.Stop();  // before the instance controller: its passes call EC2's handlers
  instances.Stop();
  capacity.Stop();
  imds_server.Stop();
  lbs.Stop();  // before the store closes: its passes read and write it
  if (kube) kube->StopWatch();  // it wakes the controller
  controller.Stop();
  flow_logs.Stop();  // before the store and the logs service close
  if (awslogs) awslogs->Stop();  // after the controller (its hook prepares streams), before the store closes
  metadata.Stop();  // after the controller: its hooks open and close listeners
  policies.Stop();
  logs.Stop();  // its sweep writes the store
  dns.Stop();  // its lookups read the store
  store->reset();
  KLOG_INFO("stopped cleanly");
  return 0;
}

}  // namespace kecs::daemon
