#pragma once
// What a Pod's status says of an ECS task's containers (issue 16), in one place: the
// kubelet's container states become the runtime's ContainerState, with ECS's reasons.
//
//   running                                    -> kRunning (startedAt); each state's runtime
//                                                 id is the kubelet's containerID
//   terminated                                 -> kExited (exit code, startedAt, finishedAt);
//                                                 OOMKilled -> "OutOfMemoryError: Container killed due to memory usage"
//   waiting ContainerCreating, PodInitializing -> kCreated
//   waiting ErrImagePull, ImagePullBackOff,
//           InvalidImageName, ErrImageNeverPull -> kExited, "CannotPullContainerError: <message>"
//   waiting CreateContainerConfigError,
//           CreateContainerError, RunContainerError,
//           CrashLoopBackOff                    -> kExited, "CannotStartContainerError: <message>"
//   no status yet (pod pending)                -> kCreated
//   pod evicted                                -> every container not ended: kExited, "PodEvicted: <message>"
//   pod being deleted (deletionTimestamp)      -> each container that ended: "PodDeleted: ..."
//   pod gone (null)                            -> kMissing
//   ready (with a readinessProbe)              -> health HEALTHY; not ready while running: UNKNOWN
//     (Kubernetes does not tell a probe that has not run yet from one that fails)
//
// Pod container names map back to ECS names through the pod's `kecs.dev/containers`
// annotation (manifests.h). Pure; no I/O.
#include <map>
#include <string>

#include "base/json.h"
#include "runtime/runtime.h"

namespace kecs::runtime::kubernetes {

struct PodObservation {
  TaskState state;
  std::string pod_ip;                          // the task ENI's private address
  std::string node;                            // where the pod runs
  std::map<std::string, std::string> digests;  // ECS container name -> sha256:...
};

// `pod` is the object the API server returned, or null when it is gone. `task` names the
// containers expected (in order).
PodObservation ObservePod(const Json& pod, const TaskSpec& task);

}  // namespace kecs::runtime::kubernetes
