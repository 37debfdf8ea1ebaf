#include "model/service.h"

#include "base/clock.h"
#include "base/ids.h"

namespace kecs::model {
namespace {

template <typename E, size_t N>
std::optional<E> ParseIn(const std::pair<E, std::string_view> (&table)[N], std::string_view s) {
  for (const auto& [e, name] : table) {
    if (name == s) return e;
  }
  return std::nullopt;
}

template <typename E, size_t N>
std::string_view NameIn(const std::pair<E, std::string_view> (&table)[N], E e) {
  for (const auto& [v, name] : table) {
    if (v == e) return name;
  }
  return "";
}

constexpr std::pair<ServiceStatus, std::string_view> kServiceStatus[] = {
    {ServiceStatus::kActive, "ACTIVE"}, {ServiceStatus::kDraining, "DRAINING"}, {ServiceStatus::kInactive, "INACTIVE"}};
constexpr std::pair<DeploymentStatus, std::string_view> kDeploymentStatus[] = {
    {DeploymentStatus::kPrimary, "PRIMARY"}, {DeploymentStatus::kActive, "ACTIVE"},
    {DeploymentStatus::kInactive, "INACTIVE"}};
constexpr std::pair<RolloutState, std::string_view> kRolloutState[] = {
    {RolloutState::kInProgress, "IN_PROGRESS"}, {RolloutState::kCompleted, "COMPLETED"},
    {RolloutState::kFailed, "FAILED"}};
constexpr std::pair<SchedulingStrategy, std::string_view> kSchedulingStrategy[] = {
    {SchedulingStrategy::kReplica, "REPLICA"}, {SchedulingStrategy::kDaemon, "DAEMON"}};

}  // namespace

std::string_view ToString(ServiceStatus s) { return NameIn(kServiceStatus, s); }
std::string_view ToString(DeploymentStatus s) { return NameIn(kDeploymentStatus, s); }
std::string_view ToString(RolloutState s) { return NameIn(kRolloutState, s); }
std::string_view ToString(SchedulingStrategy s) { return NameIn(kSchedulingStrategy, s); }
std::optional<ServiceStatus> ParseServiceStatus(std::string_view s) { return ParseIn(kServiceStatus, s); }
std::optional<DeploymentStatus> ParseDeploymentStatus(std::string_view s) { return ParseIn(kDeploymentStatus, s); }
std::optional<RolloutState> ParseRolloutState(std::string_view s) { return ParseIn(kRolloutState, s); }
std::optional<SchedulingStrategy> ParseSchedulingStrategy(std::string_view s) {
  return ParseIn(kSchedulingStrategy, s);
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
