#include "model/task.h"

#include <array>
#include <utility>

namespace kecs::model {
namespace {

// One table per enum, in the enum's order: ToString indexes it, Parse searches it.
template <typename E, size_t N>
struct Words {
  std::array<std::string_view, N> words;
  std::string_view Get(E e) const { return words[static_cast<size_t>(e)]; }
  std::optional<E> Parse(std::string_view s) const {
    for (size_t i = 0; i < N; ++i) {
      if (words[i] == s) return static_cast<E>(i);
    }
    return std::nullopt;
  }
};

constexpr Words<TaskStatus, 8> kTaskStatus{{"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING",
                                            "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"}};
constexpr Words<ContainerStatus, 3> kContainerStatus{{"PENDING", "RUNNING", "STOPPED"}};
constexpr Words<AttachmentStatus, 8> kAttachmentStatus{{"PRECREATED", "CREATED", "ATTACHING", "ATTACHED",
                                                        "DETACHING", "DETACHED", "DELETED", "FAILED"}};
constexpr Words<StopCode, 6> kStopCode{{"TaskFailedToStart", "EssentialContainerExited", "UserInitiated",
                                        "ServiceSchedulerInitiated", "SpotInterruption", "TerminationNotice"}};
constexpr Words<Connectivity, 2> kConnectivity{{"CONNECTED", "DISCONNECTED"}};
constexpr Words<LaunchType, 3> kLaunchType{{"EC2", "FARGATE", "EXTERNAL"}};
constexpr Words<NetworkMode, 4> kNetworkMode{{"awsvpc", "bridge", "host", "none"}};
constexpr Words<HealthStatus, 3> kHealthStatus{{"HEALTHY", "UNHEALTHY", "UNKNOWN"}};

}  // namespace

std::string_view ToString(TaskStatus s) { return kTaskStatus.Get(s); }
std::string_view ToString(ContainerStatus s) { return kContainerStatus.Get(s); }
std::string_view ToString(AttachmentStatus s) { return kAttachmentStatus.Get(s); }
std::string_view ToString(StopCode s) { return kStopCode.Get(s); }
std::string_view ToString(Connectivity s) { return kConnectivity.Get(s); }
std::string_view ToString(LaunchType s) { return kLaunchType.Get(s); }
std::string_view ToString(NetworkMode s) { return kNetworkMode.Get(s); }
std::string_view ToString(HealthStatus s) { return kHealthStatus.Get(s); }

std::optional<TaskStatus> ParseTaskStatus(std::string_view s) { return kTaskStatus.Parse(s); }
std::optional<ContainerStatus> ParseContainerStatus(std::string_view s) { return kContainerStatus.Parse(s); }
std::optional<AttachmentStatus> ParseAttachmentStatus(std::string_view s) { return kAttachmentStatus.Parse(s); }
std::optional<StopCode> ParseStopCode(std::string_view s) { return kStopCode.Parse(s); }
std::optional<Connectivity> ParseConnectivity(std::string_view s) { return kConnectivity.Parse(s); }
std::optional<LaunchType> ParseLaunchType(std::string_view s) { return kLaunchType.Parse(s); }
std::optional<NetworkMode> ParseNetworkMode(std::string_view s) { return kNetworkMode.Parse(s); }
std::optional<HealthStatus> ParseHealthStatus(std::string_view s) { return kHealthStatus.Parse(s); }

}  // namespace kecs::model
