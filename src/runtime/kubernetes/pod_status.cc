#include "runtime/kubernetes/pod_status.h"

#include <set>

#include "base/utc_time.h"

namespace kecs::runtime::kubernetes {
namespace {

std::optional<double> Time(const Json& j, const char* key) {
  double t = 0;
  std::string s = JStr(j, key);
  if (s.empty() || !ParseIso8601(s, &t)) return std::nullopt;
  return t;
}

std::string With(const std::string& prefix, const std::string& message) {
  return message.empty() ? prefix : prefix + ": " + message;
}

ContainerState FromStatus(const std::string& name, const Json& st) {
  ContainerState c;
  c.name = name;
  c.runtime_id = JStr(st, "containerID");  // the kubelet's, e.g. containerd://<id>
  Json state = st.value("state", Json::object());
  if (!state.is_object()) state = Json::object();
  if (state.contains("running")) {
    c.phase = ContainerState::Phase::kRunning;
    c.started_at = Time(state["running"], "startedAt");
  } else if (state.contains("terminated")) {
    const Json& t = state["terminated"];
    c.phase = ContainerState::Phase::kExited;
    c.exit_code = t.is_object() && t.contains("exitCode") && t["exitCode"].is_number_integer() ? t["exitCode"].get<int>() : 0;
    c.started_at = Time(t, "startedAt");
    c.finished_at = Time(t, "finishedAt");
    if (JStr(t, "reason") == "OOMKilled") c.reason = "OutOfMemoryError: Container killed due to memory usage";
  } else if (state.contains("waiting")) {
    const Json& w = state["waiting"];
    static const std::set<std::string> kPull = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                                                "ErrImageNeverPull"};
    static const std::set<std::string> kStart = {"CreateContainerConfigError", "CreateContainerError",
                                                 "RunContainerError", "CrashLoopBackOff"};
    std::string reason = JStr(w, "reason");
    if (kPull.count(reason)) {
      c.phase = ContainerState::Phase::kExited;
      c.reason = With("CannotPullContainerError", JStr(w, "message"));
    } else if (kStart.count(reason)) {
      c.phase = ContainerState::Phase::kExited;
      c.reason = With("CannotStartContainerError", JStr(w, "message"));
    } else {
      c.phase = ContainerState::Phase::kCreated;
    }
  } else {
    c.phase = ContainerState::Phase::kCreated;
  }
  return c;
}

}  // namespace

PodObservation ObservePod(const Json& pod, const TaskSpec& task) {
  PodObservation o;
  if (pod.is_null() || !pod.is_object()) {
    for (const auto& c : task.containers) {
      ContainerState s;
      s.name = c.name;
      s.phase = ContainerState::Phase::kMissing;
      o.state.containers.push_back(s);
    }
    return o;
  }
  // An API server's pod is well formed; anything else reads as empty, never throws.
  auto member = [&](const char* key) {
    Json v = pod.value(key, Json::object());
    return v.is_object() ? v : Json::object();
  };
  const Json status = member("status");
  o.pod_ip = JStr(status, "podIP");
  const Json metadata = member("metadata"), spec_doc = member("spec");
  o.node = JStr(spec_doc, "nodeName");
  // Pod container name -> ECS name.
  std::map<std::string, std::string> ecs_name;
  const Json annotations = metadata.value("annotations", Json::object());
  if (auto m = ParseJson(annotations.is_object() ? JStr(annotations, "kecs.dev/containers") : "");
      m && m->is_object()) {
    for (const auto& [k, v] : m->items()) {
      if (v.is_string()) ecs_name[k] = v.get<std::string>();
    }
  }
  std::map<std::string, Json> by_ecs;  // ECS name -> its container status
  std::map<std::string, bool> probed;
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    const Json statuses = status.value(list, Json::array());
    if (!statuses.is_array()) continue;
    for (const auto& st : statuses) {
      if (!st.is_object()) continue;
      auto it = ecs_name.find(JStr(st, "name"));
      if (it != ecs_name.end()) by_ecs[it->second] = st;
    }
  }
  for (const char* list : {"initContainers", "containers"}) {
    const Json containers = spec_doc.value(list, Json::array());
    if (!containers.is_array()) continue;
    for (const auto& c : containers) {
      if (!c.is_object()) continue;
      auto it = ecs_name.find(JStr(c, "name"));
      if (it != ecs_name.end()) probed[it->second] = c.contains("readinessProbe");
    }
  }
  const bool evicted = JStr(status, "reason") == "Evicted";
  // Deleted by someone else (kecs deletes a pod only once it has stopped): its containers
  // end with the kubelet's SIGTERM, and that is why.
  const bool deleted = metadata.contains("deletionTimestamp") && !JStr(metadata, "deletionTimestamp").empty();
  const std::string phase = JStr(status, "phase");
  for (const auto& spec : task.containers) {
    ContainerState s;
    auto it = by_ecs.find(spec.name);
    if (it != by_ecs.end()) {
      s = FromStatus(spec.name, it->second);
      if (probed[spec.name] && s.phase == ContainerState::Phase::kRunning) {
        s.health = it->second.value("ready", false) ? model::HealthStatus::kHealthy : model::HealthStatus::kUnknown;
      }
      std::string image_id = JStr(it->second, "imageID");
      if (size_t at = image_id.find("@sha256:"); at != std::string::npos) o.digests[spec.name] = image_id.substr(at + 1);
    } else {
      s.name = spec.name;
      // Not started yet, or the pod ended before it was made.
      s.phase = phase == "Failed" || phase == "Succeeded" ? ContainerState::Phase::kMissing
                                                          : ContainerState::Phase::kCreated;
    }
    if (evicted && s.phase != ContainerState::Phase::kExited) {
      s.phase = ContainerState::Phase::kExited;
      s.reason = With("PodEvicted", JStr(status, "message"));
    }
    if (deleted && s.phase == ContainerState::Phase::kExited && s.reason.empty()) {
      s.reason = "PodDeleted: the task's pod was deleted";
    }
    o.state.containers.push_back(s);
  }
  return o;
}

}  // namespace kecs::runtime::kubernetes
