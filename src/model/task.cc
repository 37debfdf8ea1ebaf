#include "model/task.h"

#include <utility>

#include "model/enum_words.h"

namespace kecs::model {
namespace {

constexpr EnumWords<TaskStatus, 8> kTaskStatus{{"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING",
                                                "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"}};
constexpr EnumWords<ContainerStatus, 3> kContainerStatus{{"PENDING", "RUNNING", "STOPPED"}};
constexpr EnumWords<AttachmentStatus, 8> kAttachmentStatus{{"PRECREATED", "CREATED", "ATTACHING", "ATTACHED",
                                                            "DETACHING", "DETACHED", "DELETED", "FAILED"}};
constexpr EnumWords<StopCode, 6> kStopCode{{"TaskFailedToStart", "EssentialContainerExited", "UserInitiated",
                                            "ServiceSchedulerInitiated", "SpotInterruption", "TerminationNotice"}};
constexpr EnumWords<Connectivity, 2> kConnectivity{{"CONNECTED", "DISCONNECTED"}};
constexpr EnumWords<LaunchType, 3> kLaunchType{{"EC2", "FARGATE", "EXTERNAL"}};
constexpr EnumWords<NetworkMode, 4> kNetworkMode{{"awsvpc", "bridge", "host", "none"}};
constexpr EnumWords<HealthStatus, 3> kHealthStatus{{"HEALTHY", "UNHEALTHY", "UNKNOWN"}};
constexpr EnumWords<DependencyCondition, 4> kDependencyCondition{{"START", "COMPLETE", "SUCCESS", "HEALTHY"}};

}  // namespace

std::string_view ToString(TaskStatus s) { return kTaskStatus.Get(s); }
std::string_view ToString(ContainerStatus s) { return kContainerStatus.Get(s); }
std::string_view ToString(AttachmentStatus s) { return kAttachmentStatus.Get(s); }
std::string_view ToString(StopCode s) { return kStopCode.Get(s); }
std::string_view ToString(Connectivity s) { return kConnectivity.Get(s); }
std::string_view ToString(LaunchType s) { return kLaunchType.Get(s); }
std::string_view ToString(NetworkMode s) { return kNetworkMode.Get(s); }
std::string_view ToString(HealthStatus s) { return kHealthStatus.Get(s); }
std::string_view ToString(DependencyCondition s) { return kDependencyCondition.Get(s); }

std::optional<TaskStatus> ParseTaskStatus(std::string_view s) { return kTaskStatus.Parse(s); }
std::optional<ContainerStatus> ParseContainerStatus(std::string_view s) { return kContainerStatus.Parse(s); }
std::optional<AttachmentStatus> ParseAttachmentStatus(std::string_view s) { return kAttachmentStatus.Parse(s); }
std::optional<StopCode> ParseStopCode(std::string_view s) { return kStopCode.Parse(s); }
std::optional<Connectivity> ParseConnectivity(std::string_view s) { return kConnectivity.Parse(s); }
std::optional<LaunchType> ParseLaunchType(std::string_view s) { return kLaunchType.Parse(s); }
std::optional<NetworkMode> ParseNetworkMode(std::string_view s) { return kNetworkMode.Parse(s); }
std::optional<HealthStatus> ParseHealthStatus(std::string_view s) { return kHealthStatus.Parse(s); }
std::optional<DependencyCondition> ParseDependencyCondition(std::string_view s) {
  return kDependencyCondition.Parse(s);
}

bool ProtectedAt(const Task& task, double now) {
  const auto& until = task.internal.protected_until;
  return until && now < *until && task.desired_status != TaskStatus::kStopped &&
         task.last_status != TaskStatus::kStopped;
}

}  // namespace kecs::model
