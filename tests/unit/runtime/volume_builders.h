#pragma once
// model::Volume of each kind, for the volume tests (unit and privileged).
#include <string>

#include "model/task.h"

namespace kecs::runtime::fixtures {

inline model::Volume HostVolume(const std::string& name, const std::string& source_path = "") {
  model::Volume v;
  v.name = name;
  v.kind = model::Volume::Kind::kHost;
  v.host_source_path = source_path;
  return v;
}

inline model::Volume DockerVolume(const std::string& name, const std::string& scope, bool autoprovision = false) {
  model::Volume v;
  v.name = name;
  v.kind = model::Volume::Kind::kDocker;
  v.docker.scope = scope;
  v.docker.autoprovision = autoprovision;
  return v;
}

inline model::Volume EfsVolume(const std::string& name, const std::string& file_system_id,
                               const std::string& root_directory = "/", const std::string& access_point_id = "") {
  model::Volume v;
  v.name = name;
  v.kind = model::Volume::Kind::kEfs;
  v.efs.file_system_id = file_system_id;
  v.efs.root_directory = root_directory;
  v.efs.access_point_id = access_point_id;
  return v;
}

}  // namespace kecs::runtime::fixtures
