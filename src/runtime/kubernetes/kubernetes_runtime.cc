#include "runtime/kubernetes/kubernetes_runtime.h"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "base/ids.h"
#include "base/log.h"
#include "base/strings.h"
#include "model/oci.h"

namespace kecs::runtime::kubernetes {
namespace {

constexpr const char* kManagedSelector = "kecs.dev%2Fmanaged-by%3Dkecs";

std::string PodPath(const std::string& ns, const std::string& task_id) {
  return "/api/v1/namespaces/" + ns + "/pods/task-" + task_id;
}
std::string ServicePath(const std::string& ns, const std::string& task_id) {
  return "/api/v1/namespaces/" + ns + "/services/task-" + task_id;
}
std::string SecretPath(const std::string& ns, const std::string& task_id) {
  return "/api/v1/namespaces/" + ns + "/secrets/task-" + task_id;
}
std::string PolicyPath(const std::string& ns, const std::string& name) {
  return "/apis/networking.k8s.io/v1/namespaces/" + ns + "/networkpolicies/" + name;
}

// The region of a task ARN (arn:aws:ecs:<region>:<account>:task/...); "" if it has none.
std::string RegionOfArn(const std::string& arn) {
  auto parts = Split(arn, ':');
  return parts.size() >= 6 && parts[0] == "arn" ? parts[3] : "";
}

double EpochOf(const std::string& rfc3339) {
  std::tm tm{};
  if (!strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
  return static_cast<double>(timegm(&tm));
}

double NowEpoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// "repo[:tag]" -> "repo@<digest>"; a reference with a digest stays as it is.
std::string PinnedImage(const std::string& image, const std::string& digest) {
  if (digest.empty() || image.find('@') != std::string::npos) return image;
  size_t slash = image.rfind('/');
  size_t colon = image.rfind(':');
  std::string repo = colon != std::string::npos && (slash == std::string::npos || colon > slash)
                         ? image.substr(0, colon)
                         : image;
  return repo + "@" + digest;
}

// Equal as JSON values, whatever the order of their members (a server writes its own).
bool SameJson(const Json& a, const Json& b) { return nlohmann::json(a) == nlohmann::json(b); }

bool Settled(const ContainerState& c) {
  return c.phase == ContainerState::Phase::kRunning || c.phase == ContainerState::Phase::kExited;
}

}  // namespace

ImageResolver SkopeoResolver(local::RegistryConfig registries, std::string scratch_dir, Env* env) {
  return [registries = std::move(registries), scratch_dir = std::move(scratch_dir),
          env](const ContainerSpec& c) -> Result<std::string> {
    ASSIGN_OR_RETURN(local::ImageRef ref, local::ParseImageRef(c.image));
    if (!ref.digest.empty()) return ref.digest;
    std::string task_credentials =
        c.registry_auth ? c.registry_auth->username + ":" + c.registry_auth->password : std::string();
    local::RegistryAccess access = local::AccessFor(registries, ref, task_credentials);
    auto r = local::RunSkopeo(env, access, {"--insecure-policy", "inspect", "--raw", "--retry-times", "2"}, "",
                              {"docker://" + access.host + "/" + ref.repository + ":" + (ref.tag.empty() ? "latest" : ref.tag)},
                              scratch_dir, std::chrono::minutes(2));
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) {
      return NotFound(fmt::format("failed to resolve ref {}: {}", ref.Canonical(), local::SkopeoError(*r)));
    }
    return "sha256:" + Sha256Hex(r->out);
  };
}

KubernetesRuntime::KubernetesRuntime(std::shared_ptr<Client> client, KubernetesOptions options)
    : client_(std::move(client)), options_(std::move(options)) {}

KubernetesRuntime::~KubernetesRuntime() { StopWatch(); }

void KubernetesRuntime::Watch(std::function<void()> on_change) {
  if (watcher_.joinable()) return;
  watcher_ = std::thread([this, on_change = std::move(on_change)] {
    auto key = [](const Json& pod) {
      const Json md = pod.value("metadata", Json::object());
      return JStr(md, "namespace") + "/" + JStr(md, "name");
    };
    client_->ListWatchUntilStopped(
        fmt::format("/api/v1/pods?labelSelector={}", kManagedSelector),
        [&](const Json& list) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            pods_.clear();
            for (const auto& p : list.value("items", Json::array())) pods_[key(p)] = p;
            synced_ = true;
          }
          if (on_change) on_change();
          return Status::Ok();
        },
        [&](const WatchEvent& e) {
          if (e.type == "BOOKMARK") return Status::Ok();
          {
            std::lock_guard<std::mutex> lock(mu_);
            if (e.type == "DELETED") {
              pods_.erase(key(e.object));
            } else {
              pods_[key(e.object)] = e.object;
            }
          }
          if (on_change) on_change();
          return Status::Ok();
        },
        stop_, std::chrono::seconds(5), [&](const Status& st) {
          KLOG_WARN("kubernetes: watching pods: {}; reading them one by one until the watch is back", st.message());
          std::lock_guard<std::mutex> lock(mu_);
          synced_ = false;
        });
  });
}

void KubernetesRuntime::StopWatch() {
  stop_ = true;
  if (watcher_.joinable()) watcher_.join();
  std::lock_guard<std::mutex> lock(mu_);
  synced_ = false;
}

void KubernetesRuntime::Forget(const std::string& ns, const std::string& task_id) {
  std::lock_guard<std::mutex> lock(mu_);
  pods_.erase(ns + "/task-" + task_id);
  digests_.erase(task_id);
}

std::string KubernetesRuntime::Describe() const {
  return fmt::format("kubernetes at {}: a namespace per ECS cluster, a pod per task", options_.server);
}

Result<std::string> KubernetesRuntime::NamespaceOf(const TaskSpec& task) {
  std::string region = RegionOfArn(task.task_arn);
  if (region.empty()) region = options_.region;
  return NamespaceName(task.cluster, region);
}

Result<Json> KubernetesRuntime::GetPod(const std::string& ns, const TaskSpec& task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (synced_) {
      if (auto it = pods_.find(ns + "/task-" + task.task_id); it != pods_.end()) return it->second;
    }
  }
  auto pod = client_->Get(PodPath(ns, task.task_id));
  if (!pod.ok() && pod.status().code() == Code::kNotFound) return Json();
  return pod;
}

Status KubernetesRuntime::CreateSandbox(const TaskSpec& task) {
  std::string region = RegionOfArn(task.task_arn);
  if (region.empty()) region = options_.region;
  Json ns = NamespaceManifest(task.cluster, region);
  const std::string name = JStr(ns["metadata"], "name");
  auto applied = client_->Apply("/api/v1/namespaces/" + name, ns);
  if (!applied.ok()) return Status(applied.status().code(), "namespace " + name + ": " + applied.status().message());
  if (task.network.mode == model::NetworkMode::kNone) {
    auto none = client_->Apply(PolicyPath(name, "network-none"), NoNetworkPolicyManifest(name));
    if (!none.ok()) return none.status();
  }
  return Status::Ok();
}

Result<std::map<std::string, std::string>> KubernetesRuntime::PullImages(const TaskSpec& task) {
  std::map<std::string, std::string> digests;
  for (const auto& c : task.containers) {
    auto d = options_.resolve_image(c);
    if (!d.ok()) return Status(d.status().code(), d.status().message());
    digests[c.name] = *d;
  }
  std::lock_guard<std::mutex> lock(mu_);
  digests_[task.task_id] = digests;
  return digests;
}

Status KubernetesRuntime::ApplyService(const std::string& ns, const TaskSpec& task, const std::string& region) {
  Json svc = NodePortServiceManifest(task, region, options_.public_port_first, options_.public_port_last,
                                     options_.node_port_first);
  if (svc.is_null()) return client_->Delete(ServicePath(ns, task.task_id));
  auto applied = client_->Apply(ServicePath(ns, task.task_id), svc);
  return applied.ok() ? Status::Ok() : applied.status();
}

Status KubernetesRuntime::StartContainers(const TaskSpec& task, const std::set<std::string>& names) {
  ASSIGN_OR_RETURN(std::string ns, NamespaceOf(task));
  ASSIGN_OR_RETURN(Json pod, GetPod(ns, task));
  if (!options_.facts) return FailedPrecondition("the kubernetes runtime has no source of task facts");
  ASSIGN_OR_RETURN(PodFacts facts, options_.facts(task));
  if (facts.region.empty()) facts.region = options_.region;
  if (pod.is_null()) {
    // The images by the digests PullImages resolved (again after a restart).
    std::map<std::string, std::string> digests;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = digests_.find(task.task_id); it != digests_.end()) digests = it->second;
    }
    TaskSpec pinned = task;
    for (auto& c : pinned.containers) {
      if (!digests.count(c.name)) {
        auto d = options_.resolve_image(c);
        if (!d.ok()) return Status(d.status().code(), "CannotPullContainerError: " + d.status().message());
        digests[c.name] = *d;
      }
      c.image = PinnedImage(c.image, digests[c.name]);
    }
    // Secret values go in the task's Secret, which the Pod reads; never in the Pod.
    if (Json secret = SecretManifest(task, facts); !secret.is_null()) {
      auto stored = client_->Apply(SecretPath(ns, task.task_id), secret);
      if (!stored.ok()) {
        return Status(stored.status().code(), "ResourceInitializationError: the task's secrets: " +
                                                  stored.status().message());
      }
    }
    auto applied = client_->Apply(PodPath(ns, task.task_id), PodManifest(pinned, facts));
    if (!applied.ok()) {
      return Status(applied.status().code(), "CannotStartContainerError: pod task-" + task.task_id + ": " +
                                                 applied.status().message());
    }
  }
  // Its Services: applied again by a repeated call (after a crash between the pod and them).
  RETURN_IF_ERROR(ApplyService(ns, task, facts.region));
  for (size_t i = 0; i < facts.discovery_services.size(); ++i) {
    const std::string& id = facts.discovery_services[i];
    Json svc = HeadlessServiceManifest(id, i < facts.discovery_names.size() ? facts.discovery_names[i] : id, ns);
    auto done = client_->Apply("/api/v1/namespaces/" + ns + "/services/" + JStr(svc["metadata"], "name"), svc);
    if (!done.ok()) return done.status();
  }
  // Wait for the kubelet: the named containers run or have run, or cannot start.
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  for (;;) {
    ASSIGN_OR_RETURN(PodObservation seen, Observe(task));
    bool all = true;
    for (const auto& c : seen.state.containers) {
      if (!names.count(c.name)) continue;
      if (c.phase == ContainerState::Phase::kMissing) {
        return Internal("pod task-" + task.task_id + " is gone: it was deleted while its containers started");
      }
      if (c.phase == ContainerState::Phase::kExited && !c.reason.empty() &&
          (c.reason.rfind("CannotPullContainerError", 0) == 0 || c.reason.rfind("CannotStartContainerError", 0) == 0)) {
        return Internal(c.reason);
      }
      all = all && Settled(c);
    }
    if (all) return Status::Ok();
    if (std::chrono::steady_clock::now() >= deadline) {
      return Unavailable(fmt::format("CannotStartContainerError: pod task-{} did not start its containers in {} s",
                                     task.task_id, options_.start_timeout.count()));
    }
    std::this_thread::sleep_for(options_.poll);
  }
}

Result<PodObservation> KubernetesRuntime::Observe(const TaskSpec& task) {
  ASSIGN_OR_RETURN(std::string ns, NamespaceOf(task));
  ASSIGN_OR_RETURN(Json pod, GetPod(ns, task));
  return ObservePod(pod, task);
}

Result<TaskState> KubernetesRuntime::Inspect(const TaskSpec& task) {
  ASSIGN_OR_RETURN(PodObservation seen, Observe(task));
  seen.state.address = seen.pod_ip;
  return seen.state;
}

Result<TaskState> KubernetesRuntime::StopContainers(const TaskSpec& task) {
  ASSIGN_OR_RETURN(std::string ns, NamespaceOf(task));
  ASSIGN_OR_RETURN(Json pod, GetPod(ns, task));
  PodObservation seen = ObservePod(pod, task);
  auto all_done = [](const TaskState& s) {
    for (const auto& c : s.containers) {
      if (c.phase == ContainerState::Phase::kRunning || c.phase == ContainerState::Phase::kCreated) return false;
    }
    return true;
  };
  if (pod.is_null() || all_done(seen.state)) {
    seen.state.address = seen.pod_ip;
    return seen.state;
  }
  const Json status = pod.value("status", Json::object());
  const std::string started = JStr(status, "startTime");
  if (started.empty()) {
    // Never started on a node: there is nothing for a kubelet to stop.
    RETURN_IF_ERROR(client_->Delete(PodPath(ns, task.task_id) + "?gracePeriodSeconds=0"));
    Forget(ns, task.task_id);
    ASSIGN_OR_RETURN(PodObservation gone, Observe(task));
    return gone.state;
  }
  // No kubelet will stop a pod whose node is gone (Kubernetes's pod garbage collector
  // deletes such pods): kecs deletes it, and its containers end with that reason.
  const std::string node = JStr(pod.value("spec", Json::object()), "nodeName");
  if (!node.empty()) {
    auto n = client_->Get("/api/v1/nodes/" + node);
    if (!n.ok() && n.status().code() == Code::kNotFound) {
      return ForceStop(ns, task, seen, "NodeLost: node " + node + " is gone");
    }
  }
  // The kubelet stops a pod past its active deadline: SIGTERM to every container, SIGKILL
  // after the grace period, and the pod stays (phase Failed) with its exit codes.
  int64_t deadline_s = std::max<int64_t>(1, static_cast<int64_t>(NowEpoch() - EpochOf(started)));
  if (int64_t current = JInt(pod["spec"], "activeDeadlineSeconds", 0); current == 0 || current > deadline_s) {
    Json patch = {{"spec", {{"activeDeadlineSeconds", deadline_s}}}};
    auto patched = client_->MergePatch(PodPath(ns, task.task_id), patch);
    if (!patched.ok() && patched.status().code() == Code::kNotFound) return ObservePod(Json(), task).state;
    if (!patched.ok()) return Status(patched.status().code(), "stopping pod task-" + task.task_id + ": " +
                                                               patched.status().message());
  }
  int grace = static_cast<int>(JInt(pod["spec"], "terminationGracePeriodSeconds", 30));
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(grace) + options_.stop_slack;
  for (;;) {
    ASSIGN_OR_RETURN(seen, Observe(task));
    if (all_done(seen.state)) break;
    if (std::chrono::steady_clock::now() >= until) {
      // A kubelet that does not answer (a node NotReady): the pod is deleted without it.
      return ForceStop(ns, task, seen,
                       fmt::format("PodDeleted: node {} did not stop the pod within {} s", node.empty() ? "?" : node,
                                   grace + options_.stop_slack.count()));
    }
    std::this_thread::sleep_for(options_.poll);
  }
  seen.state.address = seen.pod_ip;
  return seen.state;
}

Result<TaskState> KubernetesRuntime::ForceStop(const std::string& ns, const TaskSpec& task, PodObservation seen,
                                                const std::string& reason) {
  KLOG_WARN("task {}: {}; deleting pod task-{} without waiting for a kubelet", task.task_id, reason, task.task_id);
  RETURN_IF_ERROR(client_->Delete(PodPath(ns, task.task_id) + "?gracePeriodSeconds=0"));
  Forget(ns, task.task_id);
  for (auto& c : seen.state.containers) {
    if (c.phase == ContainerState::Phase::kExited || c.phase == ContainerState::Phase::kMissing) continue;
    c.phase = ContainerState::Phase::kExited;
    c.reason = reason;
  }
  seen.state.address = seen.pod_ip;
  return seen.state;
}

Status KubernetesRuntime::Delete(const TaskSpec& task) {
  ASSIGN_OR_RETURN(std::string ns, NamespaceOf(task));
  RETURN_IF_ERROR(client_->Delete(ServicePath(ns, task.task_id)));
  RETURN_IF_ERROR(client_->Delete(PodPath(ns, task.task_id) + "?gracePeriodSeconds=0"));
  RETURN_IF_ERROR(client_->Delete(SecretPath(ns, task.task_id)));
  Forget(ns, task.task_id);
  return Status::Ok();
}

Status KubernetesRuntime::GarbageCollect(const std::set<std::string>& live_task_ids,
                                         const std::set<std::string>& known_task_ids) {
  (void)known_task_ids;  // the cluster keeps the logs; kecs keeps none of its own
  for (const char* kind : {"services", "pods", "secrets"}) {
    ASSIGN_OR_RETURN(Json list, client_->Get(fmt::format("/api/v1/{}?labelSelector={}", kind, kManagedSelector)));
    for (const auto& item : list.value("items", Json::array())) {
      const Json md = item.value("metadata", Json::object());
      std::string id = JStr(md.value("labels", Json::object()), "kecs.dev/task-id");
      if (id.empty() || live_task_ids.count(id)) continue;
      std::string path = fmt::format("/api/v1/namespaces/{}/{}/{}", JStr(md, "namespace"), kind, JStr(md, "name"));
      if (std::string(kind) == "pods") path += "?gracePeriodSeconds=0";
      KLOG_INFO("kubernetes: deleting {} {}/{} of task {}, which is not live", kind, JStr(md, "namespace"),
                JStr(md, "name"), id);
      RETURN_IF_ERROR(client_->Delete(path));
      if (std::string(kind) == "pods") Forget(JStr(md, "namespace"), id);
    }
  }
  // Headless Services of Cloud Map services no live pod of their namespace is in.
  ASSIGN_OR_RETURN(Json pods, client_->Get(fmt::format("/api/v1/pods?labelSelector={}", kManagedSelector)));
  std::set<std::string> selected;  // "<namespace>/<label>"
  for (const auto& p : pods.value("items", Json::array())) {
    const Json md = p.value("metadata", Json::object());
    const Json labels = md.value("labels", Json::object());
    if (!live_task_ids.count(JStr(labels, "kecs.dev/task-id"))) continue;
    for (const auto& [k, v] : labels.items()) {
      if (k.rfind("kecs.dev/sd-", 0) == 0) selected.insert(JStr(md, "namespace") + "/" + k);
    }
  }
  ASSIGN_OR_RETURN(Json discovery, client_->Get(fmt::format("/api/v1/services?labelSelector={},kecs.dev%2Ftype%3Ddiscovery",
                                                             kManagedSelector)));
  for (const auto& svc : discovery.value("items", Json::array())) {
    const Json md = svc.value("metadata", Json::object());
    bool used = false;
    const Json selector = svc.value("spec", Json::object()).value("selector", Json::object());
    for (const auto& [k, v] : selector.items()) {
      used = used || selected.count(JStr(md, "namespace") + "/" + k);
    }
    if (used) continue;
    RETURN_IF_ERROR(client_->Delete(
        fmt::format("/api/v1/namespaces/{}/services/{}", JStr(md, "namespace"), JStr(md, "name"))));
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = digests_.begin(); it != digests_.end();) {
    it = live_task_ids.count(it->first) ? std::next(it) : digests_.erase(it);
  }
  return Status::Ok();
}

Result<std::vector<TargetObservation>> KubernetesRuntime::ObserveTargets(const LoadBalancerSpec& lb) {
  struct PodHealth {
    bool running = false;
    bool ready = false;
  };
  std::map<std::string, PodHealth> by_ip;
  ASSIGN_OR_RETURN(Json pods, client_->Get(fmt::format("/api/v1/pods?labelSelector={}", kManagedSelector)));
  for (const auto& p : pods.value("items", Json::array())) {
    const Json status = p.value("status", Json::object());
    const std::string ip = JStr(status, "podIP");
    if (ip.empty()) continue;
    PodHealth h;
    h.running = JStr(status, "phase") == "Running";
    for (const auto& c : status.value("conditions", Json::array())) {
      if (JStr(c, "type") == "Ready") h.ready = JStr(c, "status") == "True";
    }
    by_ip[ip] = h;
  }
  std::vector<TargetObservation> out;
  for (const auto& g : lb.target_groups) {
    for (const auto& t : g.targets) {
      TargetObservation o;
      o.target_group_id = g.id;
      o.target_id = t.id;
      o.port = t.port;
      auto it = by_ip.find(t.address);
      if (t.draining) {
        o.state = model::TargetHealthState::kInitial;
        o.connections = 0;  // nothing flows through kecs here: nothing to wait for
      } else if (it == by_ip.end() || !it->second.running) {
        o.state = model::TargetHealthState::kInitial;
      } else if (it->second.ready) {
        o.state = model::TargetHealthState::kHealthy;
      } else {
        o.state = model::TargetHealthState::kUnhealthy;
        o.reason = "Target.FailedHealthChecks";
        o.description = "Health checks failed";
      }
      out.push_back(std::move(o));
    }
  }
  return out;
}

Result<ContainerOutput> KubernetesRuntime::ReadOutput(const std::string& task_id, const std::string& container,
                                                      int64_t offset, size_t max) {
  for (char c : task_id) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return InvalidArgument("a task id is hexadecimal");
  }
  ASSIGN_OR_RETURN(Json list, client_->Get("/api/v1/pods?labelSelector=kecs.dev%2Ftask-id%3D" + task_id));
  const Json items = list.value("items", Json::array());
  if (items.empty()) return NotFound("task " + task_id + " has no pod");
  const Json md = items[0].value("metadata", Json::object());
  auto names = ParseJson(JStr(md.value("annotations", Json::object()), "kecs.dev/containers"));
  std::string pod_container;
  if (names && names->is_object()) {
    for (const auto& [pod_name, ecs_name] : names->items()) {
      if (ecs_name.is_string() && ecs_name.get<std::string>() == container) pod_container = pod_name;
    }
  }
  if (pod_container.empty()) return NotFound("task " + task_id + " has no container " + container);
  ASSIGN_OR_RETURN(Response r, client_->Request("GET", fmt::format("/api/v1/namespaces/{}/pods/{}/log?container={}",
                                                                   JStr(md, "namespace"), JStr(md, "name"),
                                                                   pod_container)));
  ContainerOutput out;
  if (r.status == 400) return out;  // "container ... is waiting to start": nothing written yet
  if (r.status / 100 != 2) return StatusOf(r, "the log of " + container);
  out.size = static_cast<int64_t>(r.body.size());
  if (offset < out.size) out.data = r.body.substr(static_cast<size_t>(offset), max);
  return out;
}

namespace {

std::string RegexQuoted(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == '.') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

Result<std::string> KubernetesRuntime::CoreDnsSnippet() {
  ASSIGN_OR_RETURN(Json list, client_->Get(fmt::format("/api/v1/services?labelSelector={},kecs.dev%2Ftype%3Ddiscovery",
                                                        kManagedSelector)));
  std::string out;
  for (const auto& svc : list.value("items", Json::array())) {
    const Json md = svc.value("metadata", Json::object());
    std::string name = JStr(md.value("annotations", Json::object()), "kecs.dev/discovery-service");
    // Only DNS names: a name that is not one (never made by kecs) is left out.
    bool ok = !name.empty() && name.size() <= 253;
    for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_');
    if (!ok) continue;
    std::string target = JStr(md, "name") + "." + JStr(md, "namespace") + ".svc.cluster.local.";
    out += fmt::format("rewrite stop {{\n    name regex ^{}\\.$ {}\n    answer name ^{}$ {}.\n}}\n",
                       RegexQuoted(name), target, RegexQuoted(target), name);
  }
  return out;
}

Status KubernetesRuntime::UpdatePublishing(const TaskSpec& task) {
  ASSIGN_OR_RETURN(std::string ns, NamespaceOf(task));
  std::string region = RegionOfArn(task.task_arn);
  return ApplyService(ns, task, region.empty() ? options_.region : region);
}

Status KubernetesRuntime::ApplyVpcPolicy(const net::VpcPolicy& policy) {
  // Security groups are the VPC's; the pods of its tasks may be in any ECS cluster's
  // namespace, so each namespace kecs manages gets the VPC's policies.
  ASSIGN_OR_RETURN(Json namespaces, client_->Get(fmt::format("/api/v1/namespaces?labelSelector={}", kManagedSelector)));
  const std::string vpc_label = LabelValue(policy.vpc_id);
  for (const auto& n : namespaces.value("items", Json::array())) {
    const std::string ns = JStr(n.value("metadata", Json::object()), "name");
    // What the namespace holds of this VPC's policies: one applied already, with the same
    // spec and labels, is not written again (a sync changes one group, not all).
    ASSIGN_OR_RETURN(Json existing,
                     client_->Get(fmt::format("/apis/networking.k8s.io/v1/namespaces/{}/networkpolicies?labelSelector="
                                              "{},kecs.dev%2Fvpc-id%3D{}",
                                              ns, kManagedSelector, vpc_label)));
    std::map<std::string, Json> held;
    for (const auto& item : existing.value("items", Json::array())) {
      held[JStr(item.value("metadata", Json::object()), "name")] = item;
    }
    std::set<std::string> wanted;
    for (const auto& g : policy.groups) {
      Json np = NetworkPolicyManifest(g, ns);
      np["metadata"]["labels"]["kecs.dev/vpc-id"] = vpc_label;
      const std::string name = JStr(np["metadata"], "name");
      wanted.insert(name);
      if (auto h = held.find(name); h != held.end() && SameJson(h->second.value("spec", Json()), np["spec"]) &&
                                    SameJson(h->second["metadata"].value("labels", Json()), np["metadata"]["labels"])) {
        continue;
      }
      auto applied = client_->Apply(PolicyPath(ns, name), np);
      if (!applied.ok()) return applied.status();
    }
    // Groups deleted from the VPC.
    for (const auto& [name, item] : held) {
      if (!wanted.count(name)) RETURN_IF_ERROR(client_->Delete(PolicyPath(ns, name)));
    }
  }
  return Status::Ok();
}

}  // namespace kecs::runtime::kubernetes
