#include "runtime/local/volumes.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include <fmt/format.h>

#include "base/strings.h"

namespace kecs::runtime::local {
namespace {

// Docker's local volume names (moby volume/local: "[a-zA-Z0-9][a-zA-Z0-9_.-]"), which also
// keeps every name a single path component.
bool ValidVolumeName(const std::string& name) {
  if (name.empty() || name.size() > 255 || !std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// EFS ids ("fs-0123abcd", "fsap-0123abcd"): letters, digits and dashes.
bool ValidEfsId(const std::string& id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
  });
}

const model::Volume* FindVolume(const TaskSpec& task, const std::string& name) {
  for (const auto& v : task.volumes) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

const ContainerSpec* FindContainer(const TaskSpec& task, const std::string& name) {
  for (const auto& c : task.containers) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

size_t Depth(const std::string& path) { return static_cast<size_t>(std::count(path.begin(), path.end(), '/')); }

// Adds the mounts of container `c` (and, first, of the containers it takes volumes from)
// to `out`, keyed by container path; `seen` guards against volumesFrom cycles.
Status Collect(const TaskSpec& task, const ContainerSpec& c, const VolumePaths& p, std::set<std::string>& seen,
               std::map<std::string, VolumeMount>& out) {
  if (!seen.insert(c.name).second) return Status::Ok();
  for (const auto& vf : c.volumes_from) {
    const ContainerSpec* src = FindContainer(task, vf.source_container);
    if (src == nullptr) {
      return InvalidArgument(fmt::format("container \"{}\": volumesFrom names \"{}\", which is not a container of the task",
                                         c.name, vf.source_container));
    }
    std::map<std::string, VolumeMount> from;
    RETURN_IF_ERROR(Collect(task, *src, p, seen, from));
    for (auto& [path, m] : from) {
      if (vf.read_only) m.read_only = true;
      out[path] = m;
    }
  }
  std::set<std::string> own;
  for (const auto& mp : c.mount_points) {
    const model::Volume* v = FindVolume(task, mp.source_volume);
    if (v == nullptr) {
      return InvalidArgument(fmt::format("container \"{}\": mountPoint sourceVolume \"{}\" is not a volume of the task",
                                         c.name, mp.source_volume));
    }
    std::string dst = CleanAbsolutePath(mp.container_path);
    if (dst.empty() || dst == "/") {
      return InvalidArgument(fmt::format("container \"{}\": invalid mount path: '{}' mount path must be absolute", c.name,
                                         mp.container_path));
    }
    // moby volume/mounts: "Duplicate mount point: %s".
    if (!own.insert(dst).second) return InvalidArgument(fmt::format("container \"{}\": Duplicate mount point: {}", c.name, dst));
    out[dst] = VolumeMount{v->name, VolumeHostPath(*v, p), dst, mp.read_only};
  }
  return Status::Ok();
}

}  // namespace

std::string CleanAbsolutePath(const std::string& path) {
  if (path.empty() || path[0] != '/') return "";
  std::string out;
  for (const auto& part : Split(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") return "";
    out += "/" + part;
  }
  return out.empty() ? "/" : out;
}

bool IsTaskScoped(const model::Volume& v) {
  switch (v.kind) {
    case model::Volume::Kind::kHost: return v.host_source_path.empty();
    case model::Volume::Kind::kDocker: return v.docker.scope != "shared";
    case model::Volume::Kind::kEfs: return false;
  }
  return false;
}

bool SeedsFromImage(const model::Volume& v) {
  return v.kind == model::Volume::Kind::kDocker || (v.kind == model::Volume::Kind::kHost && v.host_source_path.empty());
}

std::string VolumeHostPath(const model::Volume& v, const VolumePaths& p) {
  switch (v.kind) {
    case model::Volume::Kind::kHost:
      if (!v.host_source_path.empty()) return CleanAbsolutePath(v.host_source_path);
      return p.task_dir + "/volumes/" + v.name;
    case model::Volume::Kind::kDocker:
      if (v.docker.scope != "shared") return p.task_dir + "/volumes/" + v.name;
      return p.data_dir + "/volumes/" + v.name + "/_data";
    case model::Volume::Kind::kEfs: {
      std::string base = p.data_dir + "/efs/" + v.efs.file_system_id;
      if (!v.efs.access_point_id.empty()) return base + "/access-points/" + v.efs.access_point_id;
      std::string root = CleanAbsolutePath(v.efs.root_directory.empty() ? "/" : v.efs.root_directory);
      return root == "/" ? base : base + root;
    }
  }
  return "";
}

Status CheckVolumes(const TaskSpec& task) {
  std::set<std::string> names;
  for (const auto& v : task.volumes) {
    if (!ValidVolumeName(v.name)) {
      return InvalidArgument(fmt::format("volume \"{}\": a volume name has 1 to 255 letters, numbers, hyphens, "
                                         "underscores and dots, and starts with a letter or number", v.name));
    }
    if (!names.insert(v.name).second) return InvalidArgument(fmt::format("volume \"{}\" is defined twice", v.name));
    switch (v.kind) {
      case model::Volume::Kind::kHost:
        if (!v.host_source_path.empty() && CleanAbsolutePath(v.host_source_path).empty()) {
          return InvalidArgument(fmt::format("volume \"{}\": host sourcePath '{}' must be an absolute path without '..'",
                                             v.name, v.host_source_path));
        }
        break;
      case model::Volume::Kind::kDocker:
        if (v.docker.scope != "task" && v.docker.scope != "shared") {
          return InvalidArgument(fmt::format("volume \"{}\": scope must be task or shared", v.name));
        }
        break;
      case model::Volume::Kind::kEfs:
        if (!ValidEfsId(v.efs.file_system_id)) {
          return InvalidArgument(fmt::format("volume \"{}\": invalid EFS fileSystemId '{}'", v.name, v.efs.file_system_id));
        }
        if (!v.efs.access_point_id.empty() && !ValidEfsId(v.efs.access_point_id)) {
          return InvalidArgument(fmt::format("volume \"{}\": invalid EFS accessPointId '{}'", v.name, v.efs.access_point_id));
        }
        if (!v.efs.root_directory.empty() && CleanAbsolutePath(v.efs.root_directory).empty()) {
          return InvalidArgument(fmt::format("volume \"{}\": EFS rootDirectory '{}' must be an absolute path without '..'",
                                             v.name, v.efs.root_directory));
        }
        if (!v.efs.access_point_id.empty() && CleanAbsolutePath(v.efs.root_directory.empty() ? "/" : v.efs.root_directory) != "/") {
          return InvalidArgument(fmt::format("volume \"{}\": with an EFS access point, rootDirectory must be omitted or "
                                             "set to '/', which uses the access point's path", v.name));
        }
        break;
    }
  }
  VolumePaths none;
  for (const auto& c : task.containers) {
    std::set<std::string> seen;
    std::map<std::string, VolumeMount> out;
    RETURN_IF_ERROR(Collect(task, c, none, seen, out));
  }
  return Status::Ok();
}

Result<std::vector<VolumeMount>> ContainerVolumeMounts(const TaskSpec& task, const ContainerSpec& c, const VolumePaths& p) {
  std::set<std::string> seen;
  std::map<std::string, VolumeMount> by_path;
  RETURN_IF_ERROR(Collect(task, c, p, seen, by_path));
  std::vector<VolumeMount> out;
  for (auto& [path, m] : by_path) out.push_back(std::move(m));
  // Parents before children (moby's sort by the number of separators), else by path.
  std::stable_sort(out.begin(), out.end(), [](const VolumeMount& a, const VolumeMount& b) {
    return Depth(a.container_path) < Depth(b.container_path);
  });
  return out;
}

std::vector<model::oci::Mount> OciMounts(const std::vector<VolumeMount>& mounts) {
  std::vector<model::oci::Mount> out;
  for (const auto& m : mounts) {
    std::vector<std::string> opts = {"rbind", "rprivate"};
    if (m.read_only) opts.push_back("ro");
    out.push_back({m.container_path, "bind", m.host_path, opts});
  }
  return out;
}

Status PrepareVolumes(Env* env, const TaskSpec& task, const VolumePaths& p) {
  RETURN_IF_ERROR(CheckVolumes(task));
  for (const auto& v : task.volumes) {
    std::string dir = VolumeHostPath(v, p);
    if (v.kind == model::Volume::Kind::kDocker) {
      if (v.docker.driver != "local" && !v.docker.driver.empty()) {
        // No volume plugins here; Docker's own words for a missing plugin.
        return FailedPrecondition(fmt::format(
            "CannotCreateVolumeError: create {}: error looking up volume plugin {}: plugin \"{}\" not found "
            "(kecs offers only the local driver)", v.name, v.docker.driver, v.docker.driver));
      }
      if (v.docker.scope == "shared") {
        std::string root = p.data_dir + "/volumes/" + v.name;
        if (!env->Exists(dir)) {
          if (!v.docker.autoprovision) {
            // amazon-ecs-agent agent/api/task/task.go addSharedVolumes wraps Docker's
            // inspect error ("Error: No such volume: <name>") in these words.
            return FailedPrecondition(fmt::format(
                "CannotCreateVolumeError: initialize volume: volume detection failed, volume '{}' does not exist and "
                "autoprovision is set to false: Error: No such volume: {}", v.name, v.name));
          }
          std::string config = "driver local\n";
          for (const auto& kv : v.docker.labels) config += "label " + kv.name + "=" + kv.value + "\n";
          for (const auto& kv : v.docker.driver_opts) config += "opt " + kv.name + "=" + kv.value + "\n";
          RETURN_IF_ERROR(env->CreateDirs(root, 0701));
          RETURN_IF_ERROR(env->WriteFileAtomic(root + "/config", config, 0600));
        }
      }
    }
    // A host path that exists is bound as it is (a file such as /var/run/docker.sock too);
    // a missing one is made a directory, as Docker's -v does.
    if (v.kind == model::Volume::Kind::kHost && !v.host_source_path.empty() && env->Exists(dir)) continue;
    Status st = env->CreateDirs(dir);
    if (!st.ok()) {
      return FailedPrecondition(fmt::format("CannotCreateVolumeError: create {}: {}", v.name, st.message()));
    }
  }
  return Status::Ok();
}

Status SeedVolume(Env* env, const std::string& rootfs, const std::string& container_path, const std::string& host_dir) {
  auto entries = env->ListDir(host_dir);
  if (!entries.ok() || !entries->empty()) return Status::Ok();
  std::string clean = CleanAbsolutePath(container_path);
  if (clean.empty() || clean == "/") return Status::Ok();
  std::string at = rootfs;
  for (const auto& part : Split(clean.substr(1), '/')) {
    at += "/" + part;
    struct stat st {};
    if (lstat(at.c_str(), &st) != 0 || S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) return Status::Ok();
  }
  auto r = env->Run({"cp", "-a", "--", at + "/.", host_dir + "/"}, std::chrono::minutes(5));
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) return Internal("copy the image's " + clean + " into its volume: " + std::string(Trim(r->err)));
  return Status::Ok();
}

}  // namespace kecs::runtime::local
