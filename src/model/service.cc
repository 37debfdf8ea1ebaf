#include "model/service.h"

#include <algorithm>
#include <cmath>

#include "base/clock.h"
#include "base/ids.h"
#include "model/enum_words.h"

namespace kecs::model {
namespace {

constexpr EnumWords<ServiceStatus, 3> kServiceStatus{{"ACTIVE", "DRAINING", "INACTIVE"}};
constexpr EnumWords<DeploymentStatus, 3> kDeploymentStatus{{"PRIMARY", "ACTIVE", "INACTIVE"}};
constexpr EnumWords<RolloutState, 3> kRolloutState{{"IN_PROGRESS", "COMPLETED", "FAILED"}};
constexpr EnumWords<SchedulingStrategy, 2> kSchedulingStrategy{{"REPLICA", "DAEMON"}};
constexpr EnumWords<TaskSetStatus, 3> kTaskSetStatus{{"PRIMARY", "ACTIVE", "DRAINING"}};
constexpr EnumWords<StabilityStatus, 2> kStabilityStatus{{"STEADY_STATE", "STABILIZING"}};

}  // namespace

std::string_view ToString(ServiceStatus s) { return kServiceStatus.Get(s); }
std::string_view ToString(DeploymentStatus s) { return kDeploymentStatus.Get(s); }
std::string_view ToString(RolloutState s) { return kRolloutState.Get(s); }
std::string_view ToString(SchedulingStrategy s) { return kSchedulingStrategy.Get(s); }
std::optional<ServiceStatus> ParseServiceStatus(std::string_view s) { return kServiceStatus.Parse(s); }
std::optional<DeploymentStatus> ParseDeploymentStatus(std::string_view s) { return kDeploymentStatus.Parse(s); }
std::optional<RolloutState> ParseRolloutState(std::string_view s) { return kRolloutState.Parse(s); }
std::optional<SchedulingStrategy> ParseSchedulingStrategy(std::string_view s) {
  return kSchedulingStrategy.Parse(s);
}

void AddServiceEvent(Service& service, double now, const std::string& message) {
  auto& events = service.events;
  if (!events.empty() && events.front().message == message) return;
  events.insert(events.begin(), ServiceEvent{Uuid4(), EpochMillis(now), message});
  if (events.size() > kMaxServiceEvents) events.resize(kMaxServiceEvents);
}

std::string NewDeploymentId() {
  return "ecs-svc/" + std::to_string(RandomU64() % 9000000000000000000ULL + 1000000000000000000ULL);
}

std::string_view ToString(TaskSetStatus s) { return kTaskSetStatus.Get(s); }
std::string_view ToString(StabilityStatus s) { return kStabilityStatus.Get(s); }
std::optional<TaskSetStatus> ParseTaskSetStatus(std::string_view s) { return kTaskSetStatus.Parse(s); }
std::optional<StabilityStatus> ParseStabilityStatus(std::string_view s) { return kStabilityStatus.Parse(s); }

int ComputedDesiredCount(int service_desired, double scale_percent) {
  double product = service_desired * scale_percent / 100.0;
  if (!std::isfinite(product) || product <= 0) return 0;
  double whole = std::round(product);
  if (std::abs(product - whole) < 1e-9) return static_cast<int>(whole);
  return static_cast<int>(std::ceil(product));
}

TaskSet* Service::FindTaskSet(const std::string& id_or_arn) {
  for (auto& ts : task_sets) {
    if (ts.id == id_or_arn || ts.arn == id_or_arn) return &ts;
  }
  return nullptr;
}

std::vector<ServiceLoadBalancer> LoadBalancersOf(const Service& service, const std::string& deployment_id) {
  for (const auto& ts : service.task_sets) {
    if (ts.id == deployment_id) return ts.load_balancers;
  }
  const auto& alt = service.internal.alternate_deployments;
  if (std::find(alt.begin(), alt.end(), deployment_id) == alt.end()) return service.load_balancers;
  // A traffic-shifting deployment's tasks on the alternate side (issue 18).
  std::vector<ServiceLoadBalancer> out = service.load_balancers;
  for (auto& lb : out) {
    if (lb.advanced && !lb.advanced->alternate_target_group_arn.empty()) {
      lb.target_group_arn = lb.advanced->alternate_target_group_arn;
    }
  }
  return out;
}

bool RecomputeTaskSetCounts(Service& service, double now) {
  bool changed = false;
  for (auto& ts : service.task_sets) {
    int count = service.status != ServiceStatus::kActive || ts.status == TaskSetStatus::kDraining
                    ? 0
                    : ComputedDesiredCount(service.desired_count, ts.scale);
    if (count == ts.computed_desired_count) continue;
    ts.computed_desired_count = count;
    ts.updated_at = now;
    changed = true;
  }
  return changed;
}

const std::vector<ServiceRegistry>& RegistriesOf(const Service& service, const std::string& deployment_id) {
  for (const auto& ts : service.task_sets) {
    if (ts.id == deployment_id) return ts.service_registries;
  }
  return service.service_registries;
}

}  // namespace kecs::model

namespace kecs::model {
namespace {

constexpr EnumWords<ServiceDeploymentStatus, 9> kServiceDeploymentStatus{
    {"PENDING", "SUCCESSFUL", "STOPPED", "STOP_REQUESTED", "IN_PROGRESS", "ROLLBACK_REQUESTED",
     "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"}};

}  // namespace

std::string_view ToString(ServiceDeploymentStatus s) { return kServiceDeploymentStatus.Get(s); }
std::optional<ServiceDeploymentStatus> ParseServiceDeploymentStatus(std::string_view s) {
  return kServiceDeploymentStatus.Parse(s);
}

bool IsOngoing(ServiceDeploymentStatus s) {
  switch (s) {
    case ServiceDeploymentStatus::kPending:
    case ServiceDeploymentStatus::kInProgress:
    case ServiceDeploymentStatus::kStopRequested:
    case ServiceDeploymentStatus::kRollbackRequested:
    case ServiceDeploymentStatus::kRollbackInProgress:
      return true;
    default:
      return false;
  }
}

std::string NewServiceDeploymentId() {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
  std::string id;
  uint64_t bits = 0;
  int left = 0;
  while (id.size() < 21) {
    if (left < 6) {
      bits = RandomU64();
      left = 64;
    }
    id += kAlphabet[bits & 63];
    bits >>= 6;
    left -= 6;
  }
  return id;
}

std::string NewServiceRevisionId() {
  return std::to_string(RandomU64() % 9000000000000000000ULL + 1000000000000000000ULL);
}

}  // namespace kecs::model
