#include "runtime/simulated/simulated_runtime.h"

#include "base/strings.h"

namespace kecs::runtime {
namespace {

// A stable, made-up digest per image name, so DescribeTasks has something to show.
std::string FakeDigest(const std::string& image) {
  return "sha256:" + Sha256Hex(image);
}

// Another container waits for this one to COMPLETE or SUCCEED: it runs as an init container.
bool RunsToCompletion(const TaskSpec& task, const std::string& name) {
  for (const auto& c : task.containers) {
    for (const auto& d : c.depends_on) {
      if (d.container_name == name && (d.condition == model::DependencyCondition::kComplete ||
                                       d.condition == model::DependencyCondition::kSuccess)) {
        return true;
      }
    }
  }
  return false;
}

ContainerState StateOf(const TaskSpec& task, const ContainerSpec& c, bool started, bool stopped) {
  ContainerState cs;
  cs.name = c.name;
  cs.runtime_id = task.task_id + "-" + c.name;
  if (stopped || (started && RunsToCompletion(task, c.name))) {
    cs.phase = ContainerState::Phase::kExited;
    cs.exit_code = 0;
  } else if (started) {
    cs.phase = ContainerState::Phase::kRunning;
    if (c.health_check) cs.health = model::HealthStatus::kHealthy;
  } else {
    cs.phase = ContainerState::Phase::kMissing;
    cs.runtime_id.clear();
  }
  return cs;
}

}  // namespace

Status SimulatedRuntime::CreateSandbox(const TaskSpec&) { return Status::Ok(); }

Result<std::map<std::string, std::string>> SimulatedRuntime::PullImages(const TaskSpec& task) {
  std::map<std::string, std::string> out;
  for (const auto& c : task.containers) out[c.name] = FakeDigest(c.image);
  return out;
}

Status SimulatedRuntime::StartContainers(const TaskSpec& task, const std::set<std::string>& names) {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_.erase(task.task_id);
  started_[task.task_id].insert(names.begin(), names.end());
  return Status::Ok();
}

Result<TaskState> SimulatedRuntime::Inspect(const TaskSpec& task) {
  std::lock_guard<std::mutex> lock(mu_);
  bool stopped = stopped_.count(task.task_id) > 0;
  auto it = started_.find(task.task_id);
  TaskState s;
  for (const auto& c : task.containers) {
    bool started = it == started_.end() || it->second.count(c.name) > 0;  // unknown: started before a restart
    s.containers.push_back(StateOf(task, c, started, stopped));
  }
  return s;
}

Result<TaskState> SimulatedRuntime::StopContainers(const TaskSpec& task) {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_.insert(task.task_id);
  started_.erase(task.task_id);
  // Wave by wave, as a real runtime stops them: dependents first.
  TaskState s;
  for (const auto& wave : StopOrder(task)) {
    for (const auto& name : wave) {
      for (const auto& c : task.containers) {
        if (c.name == name) s.containers.push_back(StateOf(task, c, true, true));
      }
    }
  }
  return s;
}

Status SimulatedRuntime::Delete(const TaskSpec& task) {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_.erase(task.task_id);
  started_.erase(task.task_id);
  return Status::Ok();
}

Status SimulatedRuntime::GarbageCollect(const std::set<std::string>&, const std::set<std::string>&) {
  return Status::Ok();
}

Result<std::vector<TargetObservation>> SimulatedRuntime::ObserveTargets(const LoadBalancerSpec& lb) {
  std::vector<TargetObservation> out;
  for (const auto& g : lb.target_groups) {
    for (const auto& t : g.targets) {
      if (t.draining) continue;
      TargetObservation o;
      o.target_group_id = g.id;
      o.target_id = t.id;
      o.port = t.port;
      o.state = model::TargetHealthState::kHealthy;
      out.push_back(std::move(o));
    }
  }
  return out;
}

}  // namespace kecs::runtime
