#pragma once
// A task's volumes on this host, as the ECS agent sets them up with Docker.
//
// Where each kind of model::Volume lives (data_dir is the runtime's data directory):
//  - host with sourcePath: that host directory, bind-mounted (made when missing, as
//    Docker's -v does);
//  - host without sourcePath, and docker volumes with scope "task": a directory under the
//    task, <task_dir>/volumes/<name>, shared by the task's containers and removed with it;
//  - docker volumes with scope "shared": Docker's local driver layout,
//    <data_dir>/volumes/<name>/_data, with the volume's driver, labels and driverOpts in
//    <data_dir>/volumes/<name>/config (one "key value" line each). They outlive tasks and
//    are never garbage-collected. With autoprovision a missing one is made; without, the
//    task fails as the agent's does. Only driver "local" exists here;
//  - EFS: <data_dir>/efs/<fileSystemId><rootDirectory>, and with an access point
//    <data_dir>/efs/<fileSystemId>/access-points/<accessPointId>. kecs has no EFS API, so
//    an access point's root directory is this one directory per access point (visible as
//    /access-points/<id> from the file system's root); a missing rootDirectory is made.
//    Transit encryption and IAM authorization have nothing to enforce locally. Every task
//    naming the file system sees the same files, and they outlive tasks.
//
// A container mounts its mountPoints and, through volumesFrom, every mount of the named
// containers (read-only when volumesFrom says so). Docker copies the image's files at the
// mount path into an empty docker volume when a container first mounts it; SeedVolume does
// the same for docker and task-scoped volumes.
//
// The planning functions are pure; PrepareVolumes and SeedVolume touch the host.
#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "model/oci.h"
#include "runtime/runtime.h"

namespace kecs::runtime::local {

struct VolumePaths {
  std::string data_dir;  // the runtime's data directory
  std::string task_dir;  // <data_dir>/runtime/tasks/<task>
};

// The host directory of volume `v`.
std::string VolumeHostPath(const model::Volume& v, const VolumePaths& p);
// Whether `v` lives and dies with its task.
bool IsTaskScoped(const model::Volume& v);
// Whether Docker would fill `v` from the image when it is empty (a named volume).
bool SeedsFromImage(const model::Volume& v);

// Checks the task's volumes and the containers' use of them: names, kinds, drivers,
// absolute and clean paths, mountPoints naming volumes of the task, volumesFrom naming
// containers of the task. InvalidArgument, worded for a stoppedReason.
Status CheckVolumes(const TaskSpec& task);

struct VolumeMount {
  std::string volume;          // the task's volume it comes from
  std::string host_path;
  std::string container_path;  // normalized
  bool read_only = false;
};

// The container's volume mounts: what volumesFrom copies (recursively), then its own
// mountPoints (which win for the same path), sorted parents first as Docker mounts them.
Result<std::vector<VolumeMount>> ContainerVolumeMounts(const TaskSpec& task, const ContainerSpec& c,
                                                       const VolumePaths& p);
// As OCI bind mounts (rbind, rprivate, ro when read-only).
std::vector<model::oci::Mount> OciMounts(const std::vector<VolumeMount>& mounts);

// Makes the task's volume directories (idempotent). A shared docker volume that is missing
// without autoprovision, or a driver other than "local", is FailedPrecondition with
// "CannotCreateVolumeError: ..." (the agent's words where it has them).
Status PrepareVolumes(Env* env, const TaskSpec& task, const VolumePaths& p);

// Docker's copy-up: when `host_dir` is empty and the container's root filesystem has a
// directory at `container_path` (reached without symbolic links, so an image cannot point
// the copy at the host's files), copies its content, owners and modes into `host_dir`.
Status SeedVolume(Env* env, const std::string& rootfs, const std::string& container_path, const std::string& host_dir);

// A path made absolute and clean ("/a//b/" -> "/a/b"); "" when it is not absolute or has
// a ".." component.
std::string CleanAbsolutePath(const std::string& path);

}  // namespace kecs::runtime::local
