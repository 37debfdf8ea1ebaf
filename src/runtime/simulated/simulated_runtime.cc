#include "runtime/simulated/simulated_runtime.h"

#include <openssl/sha.h>

#include "base/strings.h"

namespace kecs::runtime {
namespace {

// A stable, made-up digest per image name, so DescribeTasks has something to show.
std::string FakeDigest(const std::string& image) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(image.data()), image.size(), md);
  return "sha256:" + HexEncode(std::string_view(reinterpret_cast<char*>(md), sizeof md));
}

TaskState States(const TaskSpec& task, bool stopped) {
  TaskState s;
  for (const auto& c : task.containers) {
    ContainerState cs;
    cs.name = c.name;
    cs.phase = stopped ? ContainerState::Phase::kExited : ContainerState::Phase::kRunning;
    if (stopped) cs.exit_code = 0;
    cs.runtime_id = task.task_id + "-" + c.name;
    s.containers.push_back(cs);
  }
  return s;
}

}  // namespace

Status SimulatedRuntime::CreateSandbox(const TaskSpec&) { return Status::Ok(); }

Result<std::map<std::string, std::string>> SimulatedRuntime::PullImages(const TaskSpec& task) {
  std::map<std::string, std::string> out;
  for (const auto& c : task.containers) out[c.name] = FakeDigest(c.image);
  return out;
}

Status SimulatedRuntime::StartContainers(const TaskSpec& task, const std::set<std::string>&) {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_.erase(task.task_id);
  return Status::Ok();
}

Result<TaskState> SimulatedRuntime::Inspect(const TaskSpec& task) {
  std::lock_guard<std::mutex> lock(mu_);
  return States(task, stopped_.count(task.task_id) > 0);
}

Result<TaskState> SimulatedRuntime::StopContainers(const TaskSpec& task) {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_.insert(task.task_id);
  return States(task, true);
}

Status SimulatedRuntime::Delete(const TaskSpec& task) {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_.erase(task.task_id);
  return Status::Ok();
}

Status SimulatedRuntime::GarbageCollect(const std::set<std::string>&, const std::set<std::string>&) {
  return Status::Ok();
}

}  // namespace kecs::runtime
