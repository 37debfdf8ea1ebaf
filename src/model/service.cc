#include "model/service.h"

#include "base/clock.h"
#include "base/ids.h"
#include "model/enum_words.h"

namespace kecs::model {
namespace {

constexpr EnumWords<ServiceStatus, 3> kServiceStatus{{"ACTIVE", "DRAINING", "INACTIVE"}};
constexpr EnumWords<DeploymentStatus, 3> kDeploymentStatus{{"PRIMARY", "ACTIVE", "INACTIVE"}};
constexpr EnumWords<RolloutState, 3> kRolloutState{{"IN_PROGRESS", "COMPLETED", "FAILED"}};
constexpr EnumWords<SchedulingStrategy, 2> kSchedulingStrategy{{"REPLICA", "DAEMON"}};

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
