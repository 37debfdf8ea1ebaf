#include "state/records/tasks.h"

#include <unordered_map>

#include <fmt/format.h>

#include "model/kinds.h"

namespace kecs::state::records {
namespace {

using model::Task;

// Reads members strictly: absent or null gives the default, a wrong type records the
// first error (with the member's path) and gives the default too, so a decode reports one
// precise error instead of throwing.
class Reader {
 public:
  // `subject` names the record in errors: "task <id>", "task definition <arn>".
  explicit Reader(std::string subject) : subject_(std::move(subject)) {}

  Status status() const { return status_; }

  const Json* Member(const Json& o, std::string_view key) {
    if (!o.is_object()) return nullptr;
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return nullptr;
    return &*it;
  }

  std::optional<std::string> OptStr(const Json& o, std::string_view key, std::string_view where) {
    const Json* v = Member(o, key);
    if (!v) return std::nullopt;
    if (!v->is_string()) return Fail<std::string>(where, key, "a string");
    return v->get<std::string>();
  }
  std::string Str(const Json& o, std::string_view key, std::string_view where) {
    return OptStr(o, key, where).value_or("");
  }
  std::optional<int64_t> OptInt(const Json& o, std::string_view key, std::string_view where) {
    const Json* v = Member(o, key);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) return Fail<int64_t>(where, key, "an integer");
    return v->get<int64_t>();
  }
  int64_t Int(const Json& o, std::string_view key, std::string_view where, int64_t def = 0) {
    return OptInt(o, key, where).value_or(def);
  }
  std::optional<double> OptDouble(const Json& o, std::string_view key, std::string_view where) {
    const Json* v = Member(o, key);
    if (!v) return std::nullopt;
    if (!v->is_number()) return Fail<double>(where, key, "a number");
    return v->get<double>();
  }
  bool Bool(const Json& o, std::string_view key, std::string_view where, bool def = false) {
    const Json* v = Member(o, key);
    if (!v) return def;
    if (!v->is_boolean()) return Fail<bool>(where, key, "a boolean").value_or(def);
    return v->get<bool>();
  }
  // The member's elements (empty when absent); a non-array is an error.
  std::vector<const Json*> Items(const Json& o, std::string_view key, std::string_view where) {
    std::vector<const Json*> out;
    const Json* v = Member(o, key);
    if (!v) return out;
    if (!v->is_array()) {
      Fail<int>(where, key, "a list");
      return out;
    }
    for (const auto& e : *v) out.push_back(&e);
    return out;
  }
  std::vector<std::string> StrList(const Json& o, std::string_view key, std::string_view where) {
    std::vector<std::string> out;
    for (const Json* e : Items(o, key, where)) {
      if (!e->is_string()) {
        Fail<int>(where, key, "a list of strings");
        break;
      }
      out.push_back(e->get<std::string>());
    }
    return out;
  }
  // A map of strings (AWS's StringMap: dockerLabels, driverOpts), in its member order.
  std::vector<model::KeyValuePair> StrMap(const Json& o, std::string_view key, std::string_view where) {
    std::vector<model::KeyValuePair> out;
    const Json* v = Member(o, key);
    if (!v) return out;
    if (!v->is_object()) {
      Fail<int>(where, key, "a map");
      return out;
    }
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it->is_string()) {
        Fail<int>(where, key, "a map of strings");
        break;
      }
      out.push_back({it.key(), it->get<std::string>()});
    }
    return out;
  }
  template <typename E>
  std::optional<E> OptEnum(const Json& o, std::string_view key, std::string_view where,
                           std::optional<E> (*parse)(std::string_view)) {
    auto s = OptStr(o, key, where);
    if (!s) return std::nullopt;
    auto e = parse(*s);
    if (!e) return Fail<E>(where, key, fmt::format("a known value (got \"{}\")", *s));
    return e;
  }
  template <typename E>
  E Enum(const Json& o, std::string_view key, std::string_view where,
         std::optional<E> (*parse)(std::string_view), E def) {
    return OptEnum(o, key, where, parse).value_or(def);
  }

 private:
  template <typename T>
  std::optional<T> Fail(std::string_view where, std::string_view key, std::string_view want) {
    if (status_.ok()) {
      status_ = Internal(fmt::format("{}: the stored record is malformed: {}{}{} is not {}", subject_,
                                     where, where.empty() ? "" : ".", key, want));
    }
    return std::nullopt;
  }

  std::string subject_;
  Status status_;
};

std::string At(std::string_view where, std::string_view key, size_t i) {
  return fmt::format("{}{}{}[{}]", where, where.empty() ? "" : ".", key, i);
}

// ---- AWS's part -------------------------------------------------------------------------

Json KeyValues(const std::vector<model::KeyValuePair>& kvs) {
  Json out = Json::array();
  for (const auto& kv : kvs) out.push_back({{"name", kv.name}, {"value", kv.value}});
  return out;
}

std::vector<model::KeyValuePair> ReadKeyValues(Reader& r, const Json& o, std::string_view key,
                                               std::string_view where) {
  std::vector<model::KeyValuePair> out;
  size_t i = 0;
  for (const Json* e : r.Items(o, key, where)) {
    std::string at = At(where, key, i++);
    out.push_back({r.Str(*e, "name", at), r.Str(*e, "value", at)});
  }
  return out;
}

Json ContainerToAws(const model::Container& c) {
  Json j = {{"containerArn", c.container_arn}, {"taskArn", c.task_arn}, {"name", c.name}, {"image", c.image}};
  if (c.image_digest) j["imageDigest"] = *c.image_digest;
  if (c.runtime_id) j["runtimeId"] = *c.runtime_id;
  j["lastStatus"] = model::ToString(c.last_status);
  if (c.exit_code) j["exitCode"] = *c.exit_code;
  if (c.reason) j["reason"] = *c.reason;
  if (!c.network_bindings.empty()) {
    Json bs = Json::array();
    for (const auto& b : c.network_bindings) {
      bs.push_back({{"bindIP", b.bind_ip}, {"containerPort", b.container_port}, {"hostPort", b.host_port},
                    {"protocol", b.protocol}});
    }
    j["networkBindings"] = bs;
  }
  Json nis = Json::array();
  for (const auto& n : c.network_interfaces) {
    Json ni = {{"attachmentId", n.attachment_id}, {"privateIpv4Address", n.private_ipv4_address}};
    if (n.ipv6_address) ni["ipv6Address"] = *n.ipv6_address;
    nis.push_back(ni);
  }
  j["networkInterfaces"] = nis;
  j["healthStatus"] = model::ToString(c.health_status);
  j["cpu"] = c.cpu;
  if (c.memory) j["memory"] = *c.memory;
  if (c.memory_reservation) j["memoryReservation"] = *c.memory_reservation;
  if (!c.managed_agents.empty()) {
    Json ms = Json::array();
    for (const auto& m : c.managed_agents) {
      Json mj = Json::object();
      if (m.last_started_at) mj["lastStartedAt"] = *m.last_started_at;
      mj["name"] = m.name;
      if (m.reason) mj["reason"] = *m.reason;
      mj["lastStatus"] = m.last_status;
      ms.push_back(mj);
    }
    j["managedAgents"] = ms;
  }
  return j;
}

model::Container ReadContainer(Reader& r, const Json& j, const std::string& at) {
  model::Container c;
  c.container_arn = r.Str(j, "containerArn", at);
  c.task_arn = r.Str(j, "taskArn", at);
  c.name = r.Str(j, "name", at);
  c.image = r.Str(j, "image", at);
  c.image_digest = r.OptStr(j, "imageDigest", at);
  c.runtime_id = r.OptStr(j, "runtimeId", at);
  c.last_status = r.Enum(j, "lastStatus", at, model::ParseContainerStatus, model::ContainerStatus::kPending);
  if (auto e = r.OptInt(j, "exitCode", at)) c.exit_code = static_cast<int>(*e);
  c.reason = r.OptStr(j, "reason", at);
  size_t i = 0;
  for (const Json* b : r.Items(j, "networkBindings", at)) {
    std::string bat = At(at, "networkBindings", i++);
    c.network_bindings.push_back({r.Str(*b, "bindIP", bat), static_cast<int>(r.Int(*b, "containerPort", bat)),
                                  static_cast<int>(r.Int(*b, "hostPort", bat)),
                                  r.OptStr(*b, "protocol", bat).value_or("tcp")});
  }
  i = 0;
  for (const Json* n : r.Items(j, "networkInterfaces", at)) {
    std::string nat = At(at, "networkInterfaces", i++);
    c.network_interfaces.push_back({r.Str(*n, "attachmentId", nat), r.Str(*n, "privateIpv4Address", nat),
                                    r.OptStr(*n, "ipv6Address", nat)});
  }
  c.health_status = r.Enum(j, "healthStatus", at, model::ParseHealthStatus, model::HealthStatus::kUnknown);
  c.cpu = r.OptStr(j, "cpu", at).value_or("0");
  c.memory = r.OptStr(j, "memory", at);
  c.memory_reservation = r.OptStr(j, "memoryReservation", at);
  i = 0;
  for (const Json* m : r.Items(j, "managedAgents", at)) {
    std::string mat = At(at, "managedAgents", i++);
    c.managed_agents.push_back({r.Str(*m, "name", mat), r.Str(*m, "lastStatus", mat), r.OptStr(*m, "reason", mat),
                                r.OptDouble(*m, "lastStartedAt", mat)});
  }
  return c;
}

// ---- kecs's part ------------------------------------------------------------------------

// ---- Issue 12's members, in AWS's ContainerDefinition and Volume shapes ---------------------
// The internal column stores them as AWS spells them, so the same reader takes them from a
// task definition at RunTask (ReadContainerSettings, ReadVolumes).

Json StrMapToJson(const std::vector<model::KeyValuePair>& kvs) {
  Json out = Json::object();
  for (const auto& kv : kvs) out[kv.name] = kv.value;
  return out;
}

Json SecretsToJson(const std::vector<model::SecretRef>& secrets) {
  Json out = Json::array();
  for (const auto& s : secrets) out.push_back({{"name", s.name}, {"valueFrom", s.value_from}});
  return out;
}

std::vector<model::SecretRef> ReadSecrets(Reader& r, const Json& j, std::string_view key, const std::string& at) {
  std::vector<model::SecretRef> out;
  size_t i = 0;
  for (const Json* s : r.Items(j, key, at)) {
    std::string sat = At(at, key, i++);
    out.push_back({r.Str(*s, "name", sat), r.Str(*s, "valueFrom", sat)});
  }
  return out;
}

Json SettingsToJson(const model::ContainerDefinition& d) {
  Json j = Json::object();
  if (d.health_check) {
    const model::HealthCheck& h = *d.health_check;
    j["healthCheck"] = {{"command", h.command}, {"interval", h.interval_s}, {"timeout", h.timeout_s},
                        {"retries", h.retries}, {"startPeriod", h.start_period_s}};
  }
  Json deps = Json::array();
  for (const auto& dep : d.depends_on) {
    deps.push_back({{"containerName", dep.container_name}, {"condition", model::ToString(dep.condition)}});
  }
  j["dependsOn"] = deps;
  if (d.start_timeout) j["startTimeout"] = *d.start_timeout;
  Json mps = Json::array();
  for (const auto& m : d.mount_points) {
    mps.push_back({{"sourceVolume", m.source_volume}, {"containerPath", m.container_path}, {"readOnly", m.read_only}});
  }
  j["mountPoints"] = mps;
  Json vfs = Json::array();
  for (const auto& v : d.volumes_from) vfs.push_back({{"sourceContainer", v.source_container}, {"readOnly", v.read_only}});
  j["volumesFrom"] = vfs;
  const model::LinuxParameters& lp = d.linux_parameters;
  Json tmpfs = Json::array();
  for (const auto& t : lp.tmpfs) {
    tmpfs.push_back({{"containerPath", t.container_path}, {"size", t.size_mib}, {"mountOptions", t.mount_options}});
  }
  Json devices = Json::array();
  for (const auto& dev : lp.devices) {
    devices.push_back({{"hostPath", dev.host_path}, {"containerPath", dev.container_path}, {"permissions", dev.permissions}});
  }
  Json lpj = {{"capabilities", {{"add", lp.capabilities_add}, {"drop", lp.capabilities_drop}}},
              {"initProcessEnabled", lp.init_process_enabled}, {"tmpfs", tmpfs}, {"devices", devices}};
  if (lp.shared_memory_size_mib) lpj["sharedMemorySize"] = *lp.shared_memory_size_mib;
  j["linuxParameters"] = lpj;
  j["privileged"] = d.privileged;
  Json sysctls = Json::array();
  for (const auto& kv : d.system_controls) sysctls.push_back({{"namespace", kv.name}, {"value", kv.value}});
  j["systemControls"] = sysctls;
  j["dockerLabels"] = StrMapToJson(d.docker_labels);
  j["secrets"] = SecretsToJson(d.secrets);
  if (d.log_configuration) {
    const model::LogConfiguration& lc = *d.log_configuration;
    j["logConfiguration"] = {{"logDriver", lc.log_driver}, {"options", StrMapToJson(lc.options)},
                             {"secretOptions", SecretsToJson(lc.secret_options)}};
  }
  if (!d.repository_credentials.empty()) {
    j["repositoryCredentials"] = {{"credentialsParameter", d.repository_credentials}};
  }
  j["metadataId"] = d.metadata_id;
  return j;
}

void ReadSettings(Reader& r, const Json& j, const std::string& at, model::ContainerDefinition& d) {
  if (const Json* h = r.Member(j, "healthCheck")) {
    std::string hat = at + ".healthCheck";
    model::HealthCheck hc;
    hc.command = r.StrList(*h, "command", hat);
    hc.interval_s = static_cast<int>(r.Int(*h, "interval", hat, hc.interval_s));
    hc.timeout_s = static_cast<int>(r.Int(*h, "timeout", hat, hc.timeout_s));
    hc.retries = static_cast<int>(r.Int(*h, "retries", hat, hc.retries));
    hc.start_period_s = static_cast<int>(r.Int(*h, "startPeriod", hat, hc.start_period_s));
    d.health_check = std::move(hc);
  }
  size_t i = 0;
  for (const Json* dep : r.Items(j, "dependsOn", at)) {
    std::string dat = At(at, "dependsOn", i++);
    d.depends_on.push_back({r.Str(*dep, "containerName", dat),
                            r.Enum(*dep, "condition", dat, model::ParseDependencyCondition,
                                   model::DependencyCondition::kStart)});
  }
  if (auto t = r.OptInt(j, "startTimeout", at)) d.start_timeout = static_cast<int>(*t);
  i = 0;
  for (const Json* m : r.Items(j, "mountPoints", at)) {
    std::string mat = At(at, "mountPoints", i++);
    d.mount_points.push_back({r.Str(*m, "sourceVolume", mat), r.Str(*m, "containerPath", mat),
                              r.Bool(*m, "readOnly", mat)});
  }
  i = 0;
  for (const Json* v : r.Items(j, "volumesFrom", at)) {
    std::string vat = At(at, "volumesFrom", i++);
    d.volumes_from.push_back({r.Str(*v, "sourceContainer", vat), r.Bool(*v, "readOnly", vat)});
  }
  if (const Json* lp = r.Member(j, "linuxParameters")) {
    std::string lat = at + ".linuxParameters";
    model::LinuxParameters& out = d.linux_parameters;
    if (const Json* caps = r.Member(*lp, "capabilities")) {
      out.capabilities_add = r.StrList(*caps, "add", lat + ".capabilities");
      out.capabilities_drop = r.StrList(*caps, "drop", lat + ".capabilities");
    }
    out.init_process_enabled = r.Bool(*lp, "initProcessEnabled", lat);
    size_t k = 0;
    for (const Json* t : r.Items(*lp, "tmpfs", lat)) {
      std::string tat = At(lat, "tmpfs", k++);
      out.tmpfs.push_back({r.Str(*t, "containerPath", tat), r.Int(*t, "size", tat), r.StrList(*t, "mountOptions", tat)});
    }
    out.shared_memory_size_mib = r.OptInt(*lp, "sharedMemorySize", lat);
    k = 0;
    for (const Json* dev : r.Items(*lp, "devices", lat)) {
      std::string dat = At(lat, "devices", k++);
      out.devices.push_back({r.Str(*dev, "hostPath", dat), r.Str(*dev, "containerPath", dat),
                             r.StrList(*dev, "permissions", dat)});
    }
  }
  d.privileged = r.Bool(j, "privileged", at);
  i = 0;
  for (const Json* sc : r.Items(j, "systemControls", at)) {
    std::string sat = At(at, "systemControls", i++);
    d.system_controls.push_back({r.Str(*sc, "namespace", sat), r.Str(*sc, "value", sat)});
  }
  d.docker_labels = r.StrMap(j, "dockerLabels", at);
  d.secrets = ReadSecrets(r, j, "secrets", at);
  if (const Json* lc = r.Member(j, "logConfiguration")) {
    std::string lat = at + ".logConfiguration";
    model::LogConfiguration out;
    out.log_driver = r.Str(*lc, "logDriver", lat);
    out.options = r.StrMap(*lc, "options", lat);
    out.secret_options = ReadSecrets(r, *lc, "secretOptions", lat);
    d.log_configuration = std::move(out);
  }
  if (const Json* rc = r.Member(j, "repositoryCredentials")) {
    d.repository_credentials = r.Str(*rc, "credentialsParameter", at + ".repositoryCredentials");
  }
  d.metadata_id = r.Str(j, "metadataId", at);
}

Json VolumeToJson(const model::Volume& v) {
  Json j = {{"name", v.name}};
  switch (v.kind) {
    case model::Volume::Kind::kHost:
      j["host"] = v.host_source_path.empty() ? Json::object() : Json{{"sourcePath", v.host_source_path}};
      break;
    case model::Volume::Kind::kDocker:
      j["dockerVolumeConfiguration"] = {{"scope", v.docker.scope}, {"autoprovision", v.docker.autoprovision},
                                        {"driver", v.docker.driver}, {"driverOpts", StrMapToJson(v.docker.driver_opts)},
                                        {"labels", StrMapToJson(v.docker.labels)}};
      break;
    case model::Volume::Kind::kEfs: {
      Json efs = {{"fileSystemId", v.efs.file_system_id}, {"rootDirectory", v.efs.root_directory}};
      if (!v.efs.transit_encryption.empty()) efs["transitEncryption"] = v.efs.transit_encryption;
      Json auth = Json::object();
      if (!v.efs.access_point_id.empty()) auth["accessPointId"] = v.efs.access_point_id;
      if (!v.efs.iam.empty()) auth["iam"] = v.efs.iam;
      if (!auth.empty()) efs["authorizationConfig"] = auth;
      j["efsVolumeConfiguration"] = efs;
      break;
    }
  }
  return j;
}

// A task definition's volume: the configuration present says its kind (efs, docker, else
// host; no configuration at all is a task-scoped host volume, as on ECS).
model::Volume ReadVolume(Reader& r, const Json& j, const std::string& at) {
  model::Volume v;
  v.name = r.Str(j, "name", at);
  if (const Json* efs = r.Member(j, "efsVolumeConfiguration")) {
    std::string eat = at + ".efsVolumeConfiguration";
    v.kind = model::Volume::Kind::kEfs;
    v.efs.file_system_id = r.Str(*efs, "fileSystemId", eat);
    v.efs.root_directory = r.OptStr(*efs, "rootDirectory", eat).value_or("/");
    v.efs.transit_encryption = r.Str(*efs, "transitEncryption", eat);
    if (const Json* auth = r.Member(*efs, "authorizationConfig")) {
      v.efs.access_point_id = r.Str(*auth, "accessPointId", eat + ".authorizationConfig");
      v.efs.iam = r.Str(*auth, "iam", eat + ".authorizationConfig");
    }
  } else if (const Json* docker = r.Member(j, "dockerVolumeConfiguration")) {
    std::string dat = at + ".dockerVolumeConfiguration";
    v.kind = model::Volume::Kind::kDocker;
    v.docker.scope = r.OptStr(*docker, "scope", dat).value_or("task");
    v.docker.autoprovision = r.Bool(*docker, "autoprovision", dat);
    v.docker.driver = r.OptStr(*docker, "driver", dat).value_or("local");
    v.docker.driver_opts = r.StrMap(*docker, "driverOpts", dat);
    v.docker.labels = r.StrMap(*docker, "labels", dat);
  } else if (const Json* host = r.Member(j, "host")) {
    v.host_source_path = r.Str(*host, "sourcePath", at + ".host");
  }
  return v;
}

std::vector<model::Volume> ReadVolumeList(Reader& r, const Json& o, std::string_view key, std::string_view where) {
  std::vector<model::Volume> out;
  size_t i = 0;
  for (const Json* v : r.Items(o, key, where)) out.push_back(ReadVolume(r, *v, At(where, key, i++)));
  return out;
}

Json ProgressToJson(const model::ContainerProgress& p) {
  Json j = {{"name", p.name}};
  if (p.created_at) j["createdAt"] = *p.created_at;
  if (p.started_at) j["startedAt"] = *p.started_at;
  if (p.finished_at) j["finishedAt"] = *p.finished_at;
  if (p.health_since) j["healthSince"] = *p.health_since;
  if (p.health_exit_code) j["healthExitCode"] = *p.health_exit_code;
  j["healthOutput"] = p.health_output;
  return j;
}

model::ContainerProgress ReadProgress(Reader& r, const Json& j, const std::string& at) {
  model::ContainerProgress p;
  p.name = r.Str(j, "name", at);
  p.created_at = r.OptDouble(j, "createdAt", at);
  p.started_at = r.OptDouble(j, "startedAt", at);
  p.finished_at = r.OptDouble(j, "finishedAt", at);
  p.health_since = r.OptDouble(j, "healthSince", at);
  if (auto e = r.OptInt(j, "healthExitCode", at)) p.health_exit_code = static_cast<int>(*e);
  p.health_output = r.Str(j, "healthOutput", at);
  return p;
}

Json DefinitionToJson(const model::ContainerDefinition& d) {
  Json j = {{"name", d.name}, {"image", d.image}, {"entryPoint", d.entry_point}, {"command", d.command},
            {"environment", KeyValues(d.environment)}, {"workingDirectory", d.working_directory},
            {"user", d.user}, {"cpu", d.cpu}};
  if (d.memory) j["memory"] = *d.memory;
  if (d.memory_reservation) j["memoryReservation"] = *d.memory_reservation;
  j["essential"] = d.essential;
  j["readonlyRootFilesystem"] = d.readonly_root_filesystem;
  Json ul = Json::array();
  for (const auto& u : d.ulimits) ul.push_back({{"name", u.name}, {"softLimit", u.soft_limit}, {"hardLimit", u.hard_limit}});
  j["ulimits"] = ul;
  if (d.stop_timeout) j["stopTimeout"] = *d.stop_timeout;
  j["hostname"] = d.hostname;
  j["dnsServers"] = d.dns_servers;
  j["dnsSearchDomains"] = d.dns_search_domains;
  Json hosts = Json::array();
  for (const auto& h : d.extra_hosts) hosts.push_back({{"hostname", h.hostname}, {"ipAddress", h.ip_address}});
  j["extraHosts"] = hosts;
  Json pms = Json::array();
  for (const auto& p : d.port_mappings) {
    pms.push_back({{"containerPort", p.container_port}, {"hostPort", p.host_port}, {"protocol", p.protocol}});
  }
  j["portMappings"] = pms;
  Json settings = SettingsToJson(d);
  for (auto it = settings.begin(); it != settings.end(); ++it) j[it.key()] = it.value();
  return j;
}

// Also reads the full AWS container definitions older rows carry (unknown members ignored).
model::ContainerDefinition ReadDefinition(Reader& r, const Json& j, const std::string& at) {
  model::ContainerDefinition d;
  d.name = r.Str(j, "name", at);
  d.image = r.Str(j, "image", at);
  d.entry_point = r.StrList(j, "entryPoint", at);
  d.command = r.StrList(j, "command", at);
  d.environment = ReadKeyValues(r, j, "environment", at);
  d.working_directory = r.Str(j, "workingDirectory", at);
  d.user = r.Str(j, "user", at);
  d.cpu = r.Int(j, "cpu", at);
  d.memory = r.OptInt(j, "memory", at);
  d.memory_reservation = r.OptInt(j, "memoryReservation", at);
  d.essential = r.Bool(j, "essential", at, true);
  d.readonly_root_filesystem = r.Bool(j, "readonlyRootFilesystem", at);
  size_t i = 0;
  for (const Json* u : r.Items(j, "ulimits", at)) {
    std::string uat = At(at, "ulimits", i++);
    d.ulimits.push_back({r.Str(*u, "name", uat), r.Int(*u, "softLimit", uat), r.Int(*u, "hardLimit", uat)});
  }
  if (auto t = r.OptInt(j, "stopTimeout", at)) d.stop_timeout = static_cast<int>(*t);
  d.hostname = r.Str(j, "hostname", at);
  d.dns_servers = r.StrList(j, "dnsServers", at);
  d.dns_search_domains = r.StrList(j, "dnsSearchDomains", at);
  i = 0;
  for (const Json* h : r.Items(j, "extraHosts", at)) {
    std::string hat = At(at, "extraHosts", i++);
    d.extra_hosts.push_back({r.Str(*h, "hostname", hat), r.Str(*h, "ipAddress", hat)});
  }
  i = 0;
  for (const Json* p : r.Items(j, "portMappings", at)) {
    std::string pat = At(at, "portMappings", i++);
    d.port_mappings.push_back({static_cast<int>(r.Int(*p, "containerPort", pat)),
                               static_cast<int>(r.Int(*p, "hostPort", pat)),
                               r.OptStr(*p, "protocol", pat).value_or("tcp")});
  }
  ReadSettings(r, j, at, d);
  return d;
}

Json EniToJson(const model::TaskEni& e) {
  Json j = {{"id", e.id}, {"mac", e.mac}, {"ip", e.ip}, {"prefixLen", e.prefix_len}, {"gateway", e.gateway},
            {"subnetId", e.subnet_id}, {"subnetCidr", e.subnet_cidr}, {"vpcId", e.vpc_id},
            {"vpcCidr", e.vpc_cidr}, {"dnsServer", e.dns_server}, {"internetEgress", e.internet_egress},
            {"hostname", e.hostname}, {"privateDnsName", e.private_dns_name}, {"vpcCidrs", e.vpc_cidrs},
            {"transitSlot", e.transit_slot}};
  if (!e.dhcp_nameservers.empty()) j["dhcpNameservers"] = e.dhcp_nameservers;
  if (!e.dhcp_search.empty()) j["dhcpSearch"] = e.dhcp_search;
  if (e.public_ip) j["publicIp"] = *e.public_ip;
  if (e.ipv6) j["ipv6"] = *e.ipv6;
  if (e.ipv6_prefix) j["ipv6Prefix"] = *e.ipv6_prefix;
  return j;
}

model::TaskEni ReadEni(Reader& r, const Json& j) {
  const std::string at = "internal.network.eni";
  model::TaskEni e;
  e.id = r.Str(j, "id", at);
  e.mac = r.Str(j, "mac", at);
  e.ip = r.Str(j, "ip", at);
  e.prefix_len = static_cast<int>(r.Int(j, "prefixLen", at));
  e.gateway = r.Str(j, "gateway", at);
  e.subnet_id = r.Str(j, "subnetId", at);
  e.subnet_cidr = r.Str(j, "subnetCidr", at);
  e.vpc_id = r.Str(j, "vpcId", at);
  e.vpc_cidr = r.Str(j, "vpcCidr", at);
  e.dns_server = r.Str(j, "dnsServer", at);
  e.internet_egress = r.Bool(j, "internetEgress", at);
  e.hostname = r.Str(j, "hostname", at);
  e.private_dns_name = r.Str(j, "privateDnsName", at);
  e.vpc_cidrs = r.StrList(j, "vpcCidrs", at);
  e.transit_slot = static_cast<int>(r.Int(j, "transitSlot", at, -1));
  e.dhcp_nameservers = r.StrList(j, "dhcpNameservers", at);
  e.dhcp_search = r.StrList(j, "dhcpSearch", at);
  e.public_ip = r.OptStr(j, "publicIp", at);
  e.ipv6 = r.OptStr(j, "ipv6", at);
  e.ipv6_prefix = r.OptStr(j, "ipv6Prefix", at);
  return e;
}

Json NetworkToJson(const model::TaskNetwork& n) {
  Json j = {{"subnets", n.subnets}, {"securityGroups", n.security_groups}, {"assignPublicIp", n.assign_public_ip},
            {"vpcId", n.vpc_id}, {"availabilityZone", n.availability_zone}};
  if (n.eni) j["eni"] = EniToJson(*n.eni);
  if (n.bridge_ip) j["bridgeIp"] = *n.bridge_ip;
  if (n.instance) j["instance"] = {{"instanceId", n.instance->instance_id}, {"ip", n.instance->ip}};
  Json pub = Json::array();
  for (const auto& p : n.published) {
    pub.push_back({{"container", p.container}, {"protocol", p.protocol}, {"containerPort", p.container_port},
                   {"hostPort", p.host_port}, {"bindIp", p.bind_ip}});
  }
  j["published"] = pub;
  return j;
}

model::TaskNetwork ReadNetwork(Reader& r, const Json& j) {
  const std::string at = "internal.network";
  model::TaskNetwork n;
  n.subnets = r.StrList(j, "subnets", at);
  n.security_groups = r.StrList(j, "securityGroups", at);
  n.assign_public_ip = r.Bool(j, "assignPublicIp", at);
  n.vpc_id = r.Str(j, "vpcId", at);
  n.availability_zone = r.Str(j, "availabilityZone", at);
  if (const Json* e = r.Member(j, "eni")) n.eni = ReadEni(r, *e);
  n.bridge_ip = r.OptStr(j, "bridgeIp", at);
  if (const Json* h = r.Member(j, "instance")) {
    n.instance = model::TaskInstanceHost{r.Str(*h, "instanceId", at + ".instance"), r.Str(*h, "ip", at + ".instance")};
  }
  size_t i = 0;
  for (const Json* p : r.Items(j, "published", at)) {
    std::string pat = At(at, "published", i++);
    n.published.push_back({r.Str(*p, "container", pat), r.OptStr(*p, "protocol", pat).value_or("tcp"),
                           static_cast<int>(r.Int(*p, "containerPort", pat)),
                           static_cast<int>(r.Int(*p, "hostPort", pat)), r.Str(*p, "bindIp", pat)});
  }
  return n;
}

Json InternalToJson(const model::TaskInternal& in) {
  Json containers = Json::array();
  for (const auto& d : in.containers) containers.push_back(DefinitionToJson(d));
  Json j = {{"networkMode", model::ToString(in.network_mode)}, {"containers", containers},
            {"network", NetworkToJson(in.network)}, {"service", in.service}, {"deployment", in.deployment},
            {"counted", in.counted}};
  if (in.agent) j["agent"] = true;
  if (in.placement) {
    Json ports = Json::array();
    for (const auto& p : in.placement->ports) ports.push_back({{"protocol", p.protocol}, {"port", p.port}});
    j["placement"] = {{"instance", in.placement->instance}, {"cpu", in.placement->cpu},
                      {"memory", in.placement->memory}, {"ports", ports}, {"eni", in.placement->eni}};
  }
  j["registries"] = in.registries;
  Json volumes = Json::array();
  for (const auto& v : in.volumes) volumes.push_back(VolumeToJson(v));
  j["volumes"] = volumes;
  j["pidMode"] = in.pid_mode;
  j["ipcMode"] = in.ipc_mode;
  j["taskRoleArn"] = in.task_role_arn;
  j["executionRoleArn"] = in.execution_role_arn;
  j["credentialsId"] = in.credentials_id;
  Json progress = Json::array();
  for (const auto& p : in.progress) progress.push_back(ProgressToJson(p));
  j["progress"] = progress;
  if (!in.targets.empty()) {
    Json targets = Json::array();
    for (const auto& t : in.targets) {
      targets.push_back({{"targetGroupArn", t.target_group_arn}, {"id", t.target_id}, {"port", t.port},
                         {"registeredAt", t.registered_at}});
    }
    j["targets"] = targets;
  }
  if (in.protected_until) j["protectedUntil"] = *in.protected_until;
  return j;
}

model::TaskInternal ReadInternal(Reader& r, const Json& j) {
  const std::string at = "internal";
  model::TaskInternal in;
  in.network_mode = r.Enum(j, "networkMode", at, model::ParseNetworkMode, model::NetworkMode::kBridge);
  size_t i = 0;
  for (const Json* c : r.Items(j, "containers", at)) in.containers.push_back(ReadDefinition(r, *c, At(at, "containers", i++)));
  if (const Json* n = r.Member(j, "network")) in.network = ReadNetwork(r, *n);
  in.service = r.Str(j, "service", at);
  in.deployment = r.Str(j, "deployment", at);
  in.counted = r.Bool(j, "counted", at);
  in.agent = r.Bool(j, "agent", at);
  if (const Json* p = r.Member(j, "placement")) {
    const std::string pat = "internal.placement";
    model::TaskPlacement pl;
    pl.instance = r.Str(*p, "instance", pat);
    pl.cpu = r.Int(*p, "cpu", pat);
    pl.memory = r.Int(*p, "memory", pat);
    pl.eni = r.Bool(*p, "eni", pat);
    size_t k = 0;
    for (const Json* port : r.Items(*p, "ports", pat)) {
      std::string ppat = At(pat, "ports", k++);
      pl.ports.push_back({r.OptStr(*port, "protocol", ppat).value_or("tcp"), r.Int(*port, "port", ppat)});
    }
    in.placement = std::move(pl);
  }
  in.registries = r.StrList(j, "registries", at);
  in.volumes = ReadVolumeList(r, j, "volumes", at);
  in.pid_mode = r.Str(j, "pidMode", at);
  in.ipc_mode = r.Str(j, "ipcMode", at);
  in.task_role_arn = r.Str(j, "taskRoleArn", at);
  in.execution_role_arn = r.Str(j, "executionRoleArn", at);
  in.credentials_id = r.Str(j, "credentialsId", at);
  i = 0;
  for (const Json* p : r.Items(j, "progress", at)) in.progress.push_back(ReadProgress(r, *p, At(at, "progress", i++)));
  i = 0;
  for (const Json* t : r.Items(j, "targets", at)) {
    std::string tat = At(at, "targets", i++);
    in.targets.push_back({r.Str(*t, "targetGroupArn", tat), r.Str(*t, "id", tat),
                          static_cast<int>(r.Int(*t, "port", tat)), r.OptDouble(*t, "registeredAt", tat).value_or(0)});
  }
  in.protected_until = r.OptDouble(j, "protectedUntil", at);
  return in;
}

}  // namespace

Json TaskToAws(const Task& t, bool include_tags) {
  Json attachments = Json::array();
  for (const auto& a : t.attachments) {
    attachments.push_back({{"id", a.id}, {"type", a.type}, {"status", model::ToString(a.status)},
                           {"details", KeyValues(a.details)}});
  }
  Json containers = Json::array();
  for (const auto& c : t.containers) containers.push_back(ContainerToAws(c));
  Json j = {{"attachments", attachments}, {"attributes", KeyValues(t.attributes)},
            {"availabilityZone", t.availability_zone}};
  if (t.capacity_provider_name) j["capacityProviderName"] = *t.capacity_provider_name;
  j["clusterArn"] = t.cluster_arn;
  if (t.connectivity) j["connectivity"] = model::ToString(*t.connectivity);
  if (t.connectivity_at) j["connectivityAt"] = *t.connectivity_at;
  if (t.container_instance_arn) j["containerInstanceArn"] = *t.container_instance_arn;
  j["containers"] = containers;
  j["cpu"] = t.cpu;
  if (t.created_at) j["createdAt"] = *t.created_at;
  j["desiredStatus"] = model::ToString(t.desired_status);
  j["enableExecuteCommand"] = t.enable_execute_command;
  if (t.execution_stopped_at) j["executionStoppedAt"] = *t.execution_stopped_at;
  j["group"] = t.group;
  j["healthStatus"] = model::ToString(t.health_status);
  j["lastStatus"] = model::ToString(t.last_status);
  j["launchType"] = model::ToString(t.launch_type);
  j["memory"] = t.memory;
  j["overrides"] = t.overrides;
  if (t.platform_version) j["platformVersion"] = *t.platform_version;
  if (t.platform_family) j["platformFamily"] = *t.platform_family;
  if (t.pull_started_at) j["pullStartedAt"] = *t.pull_started_at;
  if (t.pull_stopped_at) j["pullStoppedAt"] = *t.pull_stopped_at;
  if (t.started_at) j["startedAt"] = *t.started_at;
  if (t.started_by) j["startedBy"] = *t.started_by;
  if (t.stop_code) j["stopCode"] = model::ToString(*t.stop_code);
  if (t.stopped_at) j["stoppedAt"] = *t.stopped_at;
  if (t.stopped_reason) j["stoppedReason"] = *t.stopped_reason;
  if (t.stopping_at) j["stoppingAt"] = *t.stopping_at;
  if (include_tags) {
    Json tags = Json::array();
    for (const auto& tag : t.tags) tags.push_back({{"key", tag.key}, {"value", tag.value}});
    j["tags"] = tags;
  }
  j["taskArn"] = t.task_arn;
  j["taskDefinitionArn"] = t.task_definition_arn;
  j["version"] = t.version;
  if (t.ephemeral_storage_gib) j["ephemeralStorage"] = {{"sizeInGiB", *t.ephemeral_storage_gib}};
  return j;
}

Result<Task> DecodeTask(const Object& row) {
  Task t;
  t.region = row.region;
  t.id = row.id;
  t.cluster = row.parent;
  t.family = row.name;
  t.seq = row.seq;
  if (!row.doc.is_object()) {
    return Internal(fmt::format("task {}: the stored document is not a JSON object", row.id));
  }
  if (!row.internal.is_object()) {
    return Internal(fmt::format("task {}: the stored internal record is not a JSON object", row.id));
  }
  Reader r("task " + row.id);
  const Json& d = row.doc;
  size_t i = 0;
  for (const Json* a : r.Items(d, "attachments", "")) {
    std::string at = At("", "attachments", i++);
    t.attachments.push_back({r.Str(*a, "id", at), r.Str(*a, "type", at),
                             r.Enum(*a, "status", at, model::ParseAttachmentStatus, model::AttachmentStatus::kPrecreated),
                             ReadKeyValues(r, *a, "details", at)});
  }
  t.attributes = ReadKeyValues(r, d, "attributes", "");
  t.availability_zone = r.Str(d, "availabilityZone", "");
  t.capacity_provider_name = r.OptStr(d, "capacityProviderName", "");
  t.cluster_arn = r.Str(d, "clusterArn", "");
  t.connectivity = r.OptEnum(d, "connectivity", "", model::ParseConnectivity);
  t.connectivity_at = r.OptDouble(d, "connectivityAt", "");
  t.container_instance_arn = r.OptStr(d, "containerInstanceArn", "");
  i = 0;
  for (const Json* c : r.Items(d, "containers", "")) t.containers.push_back(ReadContainer(r, *c, At("", "containers", i++)));
  t.cpu = r.Str(d, "cpu", "");
  t.created_at = r.OptDouble(d, "createdAt", "");
  t.desired_status = r.Enum(d, "desiredStatus", "", model::ParseTaskStatus, model::TaskStatus::kRunning);
  t.enable_execute_command = r.Bool(d, "enableExecuteCommand", "");
  t.execution_stopped_at = r.OptDouble(d, "executionStoppedAt", "");
  t.group = r.Str(d, "group", "");
  t.health_status = r.Enum(d, "healthStatus", "", model::ParseHealthStatus, model::HealthStatus::kUnknown);
  // The status column is what the store filters on; the document's member mirrors it.
  auto last = model::ParseTaskStatus(row.status);
  t.last_status = last ? *last : r.Enum(d, "lastStatus", "", model::ParseTaskStatus, model::TaskStatus::kPending);
  if (!last && !row.status.empty()) {
    return Internal(fmt::format("task {}: the stored status \"{}\" is not a task status", row.id, row.status));
  }
  t.launch_type = r.Enum(d, "launchType", "", model::ParseLaunchType, model::LaunchType::kEc2);
  t.memory = r.Str(d, "memory", "");
  if (const Json* o = r.Member(d, "overrides")) {
    if (!o->is_object()) {
      return Internal(fmt::format("task {}: the stored record is malformed: overrides is not an object", row.id));
    }
    t.overrides = *o;
  }
  t.platform_version = r.OptStr(d, "platformVersion", "");
  t.platform_family = r.OptStr(d, "platformFamily", "");
  t.pull_started_at = r.OptDouble(d, "pullStartedAt", "");
  t.pull_stopped_at = r.OptDouble(d, "pullStoppedAt", "");
  t.started_at = r.OptDouble(d, "startedAt", "");
  t.started_by = r.OptStr(d, "startedBy", "");
  t.stop_code = r.OptEnum(d, "stopCode", "", model::ParseStopCode);
  t.stopped_at = r.OptDouble(d, "stoppedAt", "");
  t.stopped_reason = r.OptStr(d, "stoppedReason", "");
  t.stopping_at = r.OptDouble(d, "stoppingAt", "");
  i = 0;
  for (const Json* tag : r.Items(d, "tags", "")) {
    std::string at = At("", "tags", i++);
    t.tags.push_back({r.Str(*tag, "key", at), r.Str(*tag, "value", at)});
  }
  t.task_arn = r.Str(d, "taskArn", "");
  t.task_definition_arn = r.Str(d, "taskDefinitionArn", "");
  t.version = r.Int(d, "version", "", 1);
  if (const Json* e = r.Member(d, "ephemeralStorage")) {
    if (auto g = r.OptInt(*e, "sizeInGiB", "ephemeralStorage")) t.ephemeral_storage_gib = static_cast<int>(*g);
  }
  t.internal = ReadInternal(r, row.internal);
  RETURN_IF_ERROR(r.status());
  return t;
}

Status ReadContainerSettings(std::string_view subject, const Json& def, model::ContainerDefinition& d) {
  Reader r{std::string(subject)};
  ReadSettings(r, def, "", d);
  return r.status();
}

Result<std::vector<model::Volume>> ReadVolumes(std::string_view subject, const Json& task_definition) {
  Reader r{std::string(subject)};
  auto volumes = ReadVolumeList(r, task_definition, "volumes", "");
  RETURN_IF_ERROR(r.status());
  return volumes;
}

Object EncodeTask(const Task& t) {
  Object o;
  o.kind = model::kTask;
  o.region = t.region;
  o.id = t.id;
  o.parent = t.cluster;
  o.name = t.family;
  o.status = std::string(model::ToString(t.last_status));
  o.seq = t.seq;
  o.doc = TaskToAws(t, /*include_tags=*/true);
  o.internal = InternalToJson(t.internal);
  return o;
}

Result<std::optional<Task>> GetTask(Tx& tx, std::string_view region, std::string_view id) {
  ASSIGN_OR_RETURN(auto row, tx.Get(model::kTask, region, id));
  if (!row) return std::optional<Task>();
  ASSIGN_OR_RETURN(Task t, DecodeTask(*row));
  return std::optional<Task>(std::move(t));
}

Result<std::vector<std::optional<Json>>> TaskViews(Tx& tx, std::string_view region, std::string_view cluster,
                                                   const std::vector<std::string>& ids, bool include_tags) {
  // One statement for the batch (the ids as one JSON array, so the SQL text, and with it
  // the cached statement, is the same for every batch size); `internal` is not selected.
  ASSIGN_OR_RETURN(Stmt s, tx.conn().Prepare(
                               "SELECT seq, id, parent, name, status, doc FROM objects WHERE kind=? AND region=? "
                               "AND id IN (SELECT value FROM json_each(?))"));
  s.Bind(1, std::string_view(model::kTask)).Bind(2, region).Bind(3, Json(ids).dump());
  std::unordered_map<std::string, Json> views;
  while (s.Step()) {
    Object o;
    o.kind = model::kTask;
    o.region = std::string(region);
    o.seq = s.Int(0);
    o.id = s.Text(1);
    o.parent = s.Text(2);
    if (o.parent != cluster) continue;
    o.name = s.Text(3);
    o.status = s.Text(4);
    o.doc = Json::parse(s.Text(5), nullptr, false);
    if (o.doc.is_discarded()) {  // as Tx::Get reports it
      return Internal(fmt::format("stored {} {} (region {}): its document is not valid JSON", o.kind, o.id, o.region));
    }
    o.internal = Json::object();
    ASSIGN_OR_RETURN(Task t, DecodeTask(o));
    views.emplace(o.id, TaskToAws(t, include_tags));
  }
  RETURN_IF_ERROR(s.status());
  std::vector<std::optional<Json>> out;
  out.reserve(ids.size());
  std::unordered_map<std::string_view, size_t> first;  // a repeated id copies its first view
  for (size_t i = 0; i < ids.size(); ++i) {
    if (auto seen = first.find(ids[i]); seen != first.end()) {
      out.push_back(out[seen->second]);
      continue;
    }
    first.emplace(ids[i], i);
    auto it = views.find(ids[i]);
    out.push_back(it == views.end() ? std::nullopt : std::optional<Json>(std::move(it->second)));
  }
  return out;
}

Status PutTask(Tx& tx, const Task& task) { return tx.Put(EncodeTask(task)); }

Status InsertTask(Tx& tx, const Task& task) { return tx.Insert(EncodeTask(task)); }

Result<std::vector<Task>> ListTasks(Tx& tx, const Query& q) {
  Query tq = q;
  tq.kind = model::kTask;
  ASSIGN_OR_RETURN(auto rows, tx.List(tq));
  std::vector<Task> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    ASSIGN_OR_RETURN(Task t, DecodeTask(row));
    out.push_back(std::move(t));
  }
  return out;
}

Result<std::vector<std::pair<int64_t, std::string>>> ListTaskArns(Tx& tx, const Query& q) {
  Query tq = q;
  tq.kind = model::kTask;
  return tx.ListMember(tq, "taskArn");
}

Result<std::vector<Task>> ListServiceTasks(Tx& tx, std::string_view region, std::string_view cluster,
                                           std::string_view service) {
  Query q{model::kTask, std::string(region), std::string(cluster)};
  q.internal_equals.emplace_back("service", std::string(service));
  // objects_tasks_open_by_service's WHERE term, spelled as migration 8 spells it.
  q.where_sql = "(status <> 'STOPPED' OR coalesce(json_extract(internal, '$.\"counted\"'), 0) = 0)";
  return ListTasks(tx, q);
}

}  // namespace kecs::state::records
