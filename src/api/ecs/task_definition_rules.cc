#include "api/ecs/task_definition_rules.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/placement.h"
#include "base/strings.h"
#include "model/task.h"

namespace kecs::api::ecs {
namespace {

const std::regex kFamilyRe("^[a-zA-Z0-9_-]{1,255}$");

std::optional<double> ParseNumberWithUnit(const std::string& raw, const std::string& unit) {
  std::string s = ToLower(Trim(raw));
  bool has_unit = false;
  if (s.size() > unit.size() && s.ends_with(unit)) {
    s = std::string(Trim(s.substr(0, s.size() - unit.size())));
    has_unit = true;
  }
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  // Finite and far below anything int64 cannot hold (1e12 MiB is a petabyte).
  if (*end != '\0' || !std::isfinite(v) || v < 0 || v > 1e12) return std::nullopt;
  return has_unit ? v : -v - 1;  // negative marks "no unit" to the callers below
}

// ---- Issue 12: health checks, dependsOn, volumes, Linux parameters ------------------------
//
// Where ECS's wording for a refusal was found (error reports quoting ECS), the comment says
// where; the others are kecs's own wording, in ECS's style, because no source quoting ECS
// was found.

const std::regex kVolumeNameRe("^[a-zA-Z0-9_-]{1,255}$");

// The capabilities ECS accepts in linuxParameters.capabilities (the API reference's list
// for KernelCapabilities).
const std::set<std::string> kCapabilities = {
    "ALL", "AUDIT_CONTROL", "AUDIT_WRITE", "BLOCK_SUSPEND", "CHOWN", "DAC_OVERRIDE",
    "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE",
    "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE",
    "NET_BROADCAST", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_ADMIN",
    "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE",
    "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG", "WAKE_ALARM"};

std::vector<std::string> StringsOf(const Json& o, std::string_view key) {
  std::vector<std::string> out;
  if (const Json* v = JGet(o, key); v && v->is_array()) {
    for (const auto& e : *v) out.push_back(e.is_string() ? e.get<std::string>() : e.dump());
  }
  return out;
}

// Elements of the list member `key` (none when absent or not a list: the front end's
// model checks refuse a member of the wrong type before this runs).
const Json& ListOf(const Json& o, std::string_view key) {
  static const Json kEmpty = Json::array();
  const Json* v = JGet(o, key);
  return v && v->is_array() ? *v : kEmpty;
}

void CheckHealthCheck(const Json& hc, const std::string& container) {
  std::vector<std::string> cmd = StringsOf(hc, "command");
  // No source quotes ECS refusing these two; HealthCheck.command is required by the model
  // and the API reference says it "must start with CMD ... or CMD-SHELL".
  if (cmd.empty()) {
    throw ClientException(fmt::format(
        "Health check command should not be empty for container '{}'.", container));
  }
  if (cmd[0] != "CMD" && cmd[0] != "CMD-SHELL") {
    throw ClientException(fmt::format(
        "Health check command must start with 'CMD' or 'CMD-SHELL' for container '{}'.",
        container));
  }
  if (cmd.size() < 2) {
    throw ClientException(fmt::format(
        "Health check command has nothing to run after '{}' for container '{}'.", cmd[0],
        container));
  }
  // The ranges are the API reference's (HealthCheck). ECS words the upper bound as quoted
  // in PostHog/posthog#8647: "Health check retries must be less than or equal to the
  // maximum allowed value 10 for container '<name>'"; the lower bound is worded to match.
  struct Range {
    const char* member;
    int64_t min, max;
  };
  for (const Range& r : {Range{"interval", 5, 300}, Range{"timeout", 2, 60},
                         Range{"retries", 1, 10}, Range{"startPeriod", 0, 300}}) {
    auto v = JOptInt(hc, r.member);
    if (!v) continue;
    if (*v > r.max) {
      throw ClientException(fmt::format(
          "Health check {} must be less than or equal to the maximum allowed value {} for "
          "container '{}'",
          r.member, r.max, container));
    }
    if (*v < r.min) {
      throw ClientException(fmt::format(
          "Health check {} must be greater than or equal to the minimum allowed value {} for "
          "container '{}'",
          r.member, r.min, container));
    }
  }
}

void CheckLinuxParameters(const Json& lp, const std::string& container, bool fargate) {
  const Json* caps = JGet(lp, "capabilities");
  for (const char* list : {"add", "drop"}) {
    for (const auto& cap : caps ? StringsOf(*caps, list) : std::vector<std::string>{}) {
      if (!kCapabilities.count(cap)) {
        throw ClientException(fmt::format(
            "Invalid 'linuxParameters.capabilities.{}' setting for container '{}': '{}' is "
            "not a Linux capability ECS supports.",
            list, container, cap));
      }
      // The API reference: "Tasks launched on Fargate only support adding the SYS_PTRACE
      // kernel capability."
      if (fargate && std::string_view(list) == "add" && cap != "SYS_PTRACE") {
        throw ClientException(fmt::format(
            "Tasks using the Fargate launch type only support adding the SYS_PTRACE "
            "capability; container '{}' adds '{}'.",
            container, cap));
      }
    }
  }
  if (fargate) {
    // The API reference lists these as not supported on Fargate.
    for (const char* member : {"devices", "sharedMemorySize", "tmpfs", "maxSwap", "swappiness"}) {
      if (JGet(lp, member)) {
        throw ClientException(fmt::format(
            "Tasks using the Fargate launch type do not support linuxParameters.{} "
            "(container '{}').",
            member, container));
      }
    }
  }
  for (const auto& t : ListOf(lp, "tmpfs")) {
    std::string path = JStr(t, "containerPath");
    if (path.empty() || path[0] != '/') {
      throw ClientException(fmt::format(
          "Invalid 'linuxParameters.tmpfs' setting for container '{}': containerPath must be "
          "an absolute path.",
          container));
    }
    if (JInt(t, "size") <= 0) {
      throw ClientException(fmt::format(
          "Invalid 'linuxParameters.tmpfs' setting for container '{}': size must be greater "
          "than 0.",
          container));
    }
  }
  for (const auto& d : ListOf(lp, "devices")) {
    if (JStr(d, "hostPath").empty()) {
      throw ClientException(fmt::format(
          "Invalid 'linuxParameters.devices' setting for container '{}': hostPath should not "
          "be blank.",
          container));
    }
  }
  if (auto shm = JOptInt(lp, "sharedMemorySize"); shm && *shm <= 0) {
    throw ClientException(fmt::format(
        "Invalid 'linuxParameters.sharedMemorySize' setting for container '{}': it must be "
        "greater than 0.",
        container));
  }
}

// The task definition's volumes, checked; returns their names.
std::set<std::string> CheckVolumes(const Json& in, bool fargate) {
  std::set<std::string> names;
  for (const auto& v : ListOf(in, "volumes")) {
    std::string name = JStr(v, "name");
    if (!std::regex_match(name, kVolumeNameRe)) {
      throw ClientException(
          "Volume name should be 1-255 letters (uppercase and lowercase), numbers, underscores "
          "and hyphens.");
    }
    if (!names.insert(name).second) {
      throw ClientException(fmt::format("Volume name '{}' is used more than once.", name));
    }
    const Json* host = JGet(v, "host");
    const Json* docker = JGet(v, "dockerVolumeConfiguration");
    const Json* efs = JGet(v, "efsVolumeConfiguration");
    if (int(host != nullptr) + int(docker != nullptr) + int(efs != nullptr) > 1) {
      throw ClientException(fmt::format(
          "Volume '{}' can have only one of 'host', 'dockerVolumeConfiguration' and "
          "'efsVolumeConfiguration'.",
          name));
    }
    if (docker) {
      // The API reference: "Docker volumes aren't supported by tasks run on Fargate."
      if (fargate) {
        throw ClientException(
            "Tasks using the Fargate launch type do not support dockerVolumeConfiguration.");
      }
      // ECS's wording, quoted in hashicorp/terraform-provider-aws#5907 and aws-cdk#26697:
      // with scope task, an explicit autoprovision false is refused (true is accepted).
      const Json* ap = JGet(*docker, "autoprovision");
      if (JStr(*docker, "scope", "task") == "task" && ap && ap->is_boolean() && !ap->get<bool>()) {
        throw ClientException(
            "When 'scope' parameter is 'task', 'autoprovision' must either not be specified "
            "or set to 'True'.");
      }
    }
    if (efs) {
      if (JStr(*efs, "fileSystemId").empty()) {
        throw ClientException(fmt::format(
            "Volume '{}': efsVolumeConfiguration.fileSystemId should not be blank.", name));
      }
      const Json* auth = JGet(*efs, "authorizationConfig");
      std::string ap = auth ? JStr(*auth, "accessPointId") : "";
      bool iam = auth && JStr(*auth, "iam") == "ENABLED";
      bool tls = JStr(*efs, "transitEncryption") == "ENABLED";
      // The API reference requires transit encryption with IAM authorization or an
      // access point; no source quotes ECS's refusal.
      if ((iam || !ap.empty()) && !tls) {
        throw ClientException(fmt::format(
            "Volume '{}': transit encryption must be enabled in efsVolumeConfiguration when "
            "IAM authorization or an access point is used.",
            name));
      }
      // ECS's wording, quoted in aws/aws-cdk#10683 (the quote ends at "or be omi", so the
      // last word is inferred).
      std::string root = JStr(*efs, "rootDirectory", "/");
      if (!ap.empty() && root != "/") {
        throw ClientException(
            "When using an EFS access point, the root directory must either be set to \"/\" "
            "or be omitted.");
      }
    }
  }
  return names;
}

// dependsOn, mountPoints and volumesFrom name containers and volumes that exist, and
// dependsOn has no cycle.
void CheckReferences(const Json& containers, const std::set<std::string>& volumes) {
  std::map<std::string, const Json*> by_name;
  for (const auto& c : containers) by_name[JStr(c, "name")] = &c;
  for (const auto& c : containers) {
    std::string name = JStr(c, "name");
    for (const auto& mp : ListOf(c, "mountPoints")) {
      // ECS's wording, quoted in ansible/ansible#35751 and others; a mount point without
      // sourceVolume is "Unknown volume 'null'." (aws/aws-cdk, dask-cloudprovider#107).
      std::string source = JStr(mp, "sourceVolume", "null");
      if (!volumes.count(source)) throw ClientException(fmt::format("Unknown volume '{}'.", source));
      std::string path = JStr(mp, "containerPath");
      if (path.empty() || path[0] != '/') {
        throw ClientException(fmt::format(
            "Invalid 'mountPoints' setting for container '{}': containerPath must be an "
            "absolute path.",
            name));
      }
    }
    for (const auto& vf : ListOf(c, "volumesFrom")) {
      // ECS's wording, quoted in eagletmt/hako#54.
      std::string source = JStr(vf, "sourceContainer");
      if (!by_name.count(source) || source == name) {
        throw ClientException(
            fmt::format("Invalid 'volumesFrom' setting. Unknown container: '{}'.", source));
      }
    }
    for (const auto& dep : ListOf(c, "dependsOn")) {
      std::string target = JStr(dep, "containerName");
      // ECS's wording, " + " included, as quoted in dagster-io/dagster#6926 and
      // eagletmt/hako#99.
      auto it = by_name.find(target);
      if (it == by_name.end()) {
        throw ClientException(fmt::format(
            "Cannot depend on container + '{}' because it does not exist", target));
      }
      std::string cond = JStr(dep, "condition");
      if (!model::ParseDependencyCondition(cond)) {
        // The front end's enum check answers first, in these words; this guards direct callers.
        throw InvalidParameter("condition should be one of [START,COMPLETE,SUCCESS,HEALTHY]");
      }
      // ECS's wording, quoted in boto/boto3#2436.
      if ((cond == "COMPLETE" || cond == "SUCCESS") && JBool(*it->second, "essential", true)) {
        throw ClientException(
            "A dependency container with SUCCESS or COMPLETE condition cannot be an essential "
            "container");
      }
      if (cond == "HEALTHY" && !JGet(*it->second, "healthCheck")) {
        throw ClientException(fmt::format(
            "Container '{}' depends on container '{}' with condition HEALTHY, but '{}' has no "
            "healthCheck.",
            name, target, target));
      }
    }
  }
  // Cycles: a depth-first walk; a container met again on the current path closes one.
  enum class Mark { kNone, kOnPath, kDone };
  std::map<std::string, Mark> mark;
  std::vector<std::string> path;
  std::function<void(const std::string&)> visit = [&](const std::string& n) {
    mark[n] = Mark::kOnPath;
    path.push_back(n);
    for (const auto& dep : ListOf(*by_name[n], "dependsOn")) {
      std::string t = JStr(dep, "containerName");
      if (mark[t] == Mark::kOnPath) {
        auto from = std::find(path.begin(), path.end(), t);
        std::string cycle;
        for (auto p = from; p != path.end(); ++p) cycle += *p + " -> ";
        throw ClientException(fmt::format(
            "Container dependencies must not form a cycle: {}{}.", cycle, t));
      }
      if (mark[t] == Mark::kNone) visit(t);
    }
    path.pop_back();
    mark[n] = Mark::kDone;
  };
  for (const auto& c : containers) {
    std::string n = JStr(c, "name");
    if (mark[n] == Mark::kNone) visit(n);
  }
}

void CheckTaskModes(const Json& in, bool fargate) {
  // The front end's enum checks refuse other values first, in these words; these guard
  // direct callers.
  auto pid = JOptStr(in, "pidMode");
  auto ipc = JOptStr(in, "ipcMode");
  if (pid && *pid != "host" && *pid != "task") throw InvalidParameter("pidMode should be one of [host,task]");
  if (ipc && *ipc != "host" && *ipc != "task" && *ipc != "none") {
    throw InvalidParameter("ipcMode should be one of [host,task,none]");
  }
  if (!fargate) return;
  // ECS's wording, quoted in cn-terraform/terraform-aws-ecs-fargate#2.
  if (ipc) throw ClientException("Tasks using the Fargate launch type do not support ipcMode.");
  // ECS's wording, quoted in aws/aws-cdk#29619.
  if (pid && *pid != "task") {
    throw ClientException(fmt::format(
        "Tasks using the Fargate launch type do not support pidMode '{}'. The supported value "
        "for pidMode is 'task'.",
        *pid));
  }
}

// A container's logConfiguration, as RegisterTaskDefinition checks it: the driver one of
// the model's LogDriver values (Fargate: awslogs, splunk, awsfirelens), and awslogs' option
// names and required options (awslogs takes none from secretOptions). Option values (mode, max-buffer-size, the patterns) are
// checked when the container starts, where Docker's driver checks them.
void CheckLogConfiguration(const Json& lc, bool fargate) {
  static const std::vector<std::string> kDrivers = {"json-file", "syslog", "journald", "gelf",
                                                    "fluentd",   "awslogs", "splunk",   "awsfirelens"};
  static const std::vector<std::string> kFargateDrivers = {"awslogs", "splunk", "awsfirelens"};
  const auto& allowed = fargate ? kFargateDrivers : kDrivers;
  std::string driver = JStr(lc, "logDriver");
  if (std::find(allowed.begin(), allowed.end(), driver) == allowed.end()) {
    std::string list;
    for (const auto& d : allowed) list += (list.empty() ? "" : ",") + d;
    throw ClientException(fmt::format("{} is not a valid log driver. Must be one of [{}]", driver, list));
  }
  if (driver != "awslogs") return;
  static const std::set<std::string> kAwslogsOptions = {
      "awslogs-group",           "awslogs-region",            "awslogs-stream-prefix", "awslogs-create-group",
      "awslogs-datetime-format", "awslogs-multiline-pattern", "awslogs-endpoint",      "mode",
      "max-buffer-size"};
  std::set<std::string> given;
  std::vector<std::string> disallowed;
  const Json* opts = JGet(lc, "options");
  if (opts && opts->is_object()) {
    for (const auto& [k, v] : opts->items()) {
      given.insert(k);
      if (!kAwslogsOptions.count(k)) disallowed.push_back(k);
    }
  }
  // kecs' awslogs driver reads its options from the task definition only: an option taken
  // from a secret (awslogs-group, say) would register and then fail every task.
  std::string secret_names;
  for (const auto& so : ListOf(lc, "secretOptions")) {
    secret_names += (secret_names.empty() ? "" : ", ") + JStr(so, "name");
  }
  if (!secret_names.empty()) {
    throw ClientException("Log driver awslogs takes no secretOptions; set these in options instead: " +
                          secret_names);
  }
  if (!disallowed.empty()) {
    std::string list;
    for (const auto& d : disallowed) list += (list.empty() ? "" : ", ") + d;
    throw ClientException("Log driver awslogs disallows options: " + list);
  }
  std::string missing;
  for (const char* k : {"awslogs-region", "awslogs-group"}) {
    if (!given.count(k)) missing += (missing.empty() ? "" : ", ") + std::string(k);
  }
  if (!missing.empty()) throw ClientException("Log driver awslogs requires options: " + missing);
  if (opts && opts->contains("awslogs-create-group") && JStr(*opts, "awslogs-create-group") != "true") {
    throw ClientException(
        "Log driver awslogs option 'awslogs-create-group' should only be set to 'true', else omit option.");
  }
}

// The settings of one container definition that depend on nothing else.
void CheckContainerSettings(const Json& c, const std::string& name, bool fargate) {
  if (const Json* lc = JGet(c, "logConfiguration")) CheckLogConfiguration(*lc, fargate);
  if (const Json* hc = JGet(c, "healthCheck")) CheckHealthCheck(*hc, name);
  if (const Json* lp = JGet(c, "linuxParameters")) CheckLinuxParameters(*lp, name, fargate);
  // The API reference: privileged "is not supported for ... tasks run on Fargate".
  if (fargate && JBool(c, "privileged")) {
    throw ClientException(fmt::format(
        "Tasks using the Fargate launch type do not support privileged containers (container "
        "'{}').",
        name));
  }
  if (auto st = JOptInt(c, "startTimeout"); st && *st < 0) {
    throw ClientException(fmt::format("Invalid 'startTimeout' setting for container '{}'.", name));
  }
  for (const auto& sc : ListOf(c, "systemControls")) {
    if (JStr(sc, "namespace").empty()) {
      throw ClientException(fmt::format(
          "Invalid 'systemControls' setting for container '{}': namespace should not be blank.",
          name));
    }
  }
}

// Issue 14: `secrets`, `logConfiguration.secretOptions` and `repositoryCredentials` name
// what resolves when a task starts; each entry needs its name and reference. ECS refuses
// them without an executionRoleArn (the role the agent reads them with); kecs has no IAM,
// so only strict mode asks for one.
void CheckSecretSettings(const Json& c, const std::string& name, bool has_execution_role, bool strict) {
  auto check_list = [&](const Json& owner, const char* key, const std::string& setting) {
    const Json* list = JGet(owner, key);
    if (!list) return false;
    if (!list->is_array()) {
      throw ClientException(fmt::format("Invalid '{}' setting for container '{}': it should be a list.", setting, name));
    }
    for (const auto& e : *list) {
      for (const char* member : {"name", "valueFrom"}) {
        if (!e.is_object() || JStr(e, member).empty()) {
          throw ClientException(fmt::format("Invalid '{}' setting for container '{}': {} should not be blank.",
                                            setting, name, member));
        }
      }
    }
    return true;
  };
  // As on ECS, a `secrets` list (even an empty one) asks for the role.
  bool secrets = check_list(c, "secrets", "secrets");
  if (const Json* lc = JGet(c, "logConfiguration"); lc && lc->is_object()) {
    secrets = check_list(*lc, "secretOptions", "logConfiguration.secretOptions") || secrets;
  }
  if (strict && secrets && !has_execution_role) {
    throw ClientException("When you are specifying container secrets, you must also specify a value for "
                          "'executionRoleArn'.");
  }
  if (const Json* rc = JGet(c, "repositoryCredentials")) {
    if (!rc->is_object() || JStr(*rc, "credentialsParameter").empty()) {
      throw ClientException(fmt::format(
          "Invalid 'repositoryCredentials' setting for container '{}': credentialsParameter should not be blank.",
          name));
    }
    if (strict && !has_execution_role) {
      throw ClientException(
          "Private repository authentication requires that the task definition specify a value for "
          "executionRoleArn.");
    }
  }
}

// The capabilities ECS lists in requiresAttributes for the containers' secrets.
void AddSecretAttributes(const Json& containers, Json& attrs) {
  bool ssm = false, asm_ = false, auth = false;
  for (const auto& c : containers) {
    std::vector<const Json*> lists = {JGet(c, "secrets")};
    if (const Json* lc = JGet(c, "logConfiguration"); lc && lc->is_object()) lists.push_back(JGet(*lc, "secretOptions"));
    for (const Json* list : lists) {
      if (!list) continue;
      for (const auto& e : *list) {
        bool sm = JStr(e, "valueFrom").find(":secretsmanager:") != std::string::npos;
        (sm ? asm_ : ssm) = true;
      }
    }
    auth = auth || JGet(c, "repositoryCredentials") != nullptr;
  }
  if (ssm) attrs.push_back({{"name", "ecs.capability.secrets.ssm.environment-variables"}});
  if (asm_) attrs.push_back({{"name", "ecs.capability.secrets.asm.environment-variables"}});
  if (auth) attrs.push_back({{"name", "com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager"}});
}

}  // namespace

std::optional<int64_t> ParseCpu(const std::string& s) {
  auto v = ParseNumberWithUnit(s, "vcpu");
  if (!v) return std::nullopt;
  if (*v >= 0) return static_cast<int64_t>(std::llround(*v * 1024));
  double units = -*v - 1;
  if (units != std::floor(units)) return std::nullopt;
  return static_cast<int64_t>(units);
}

std::optional<int64_t> ParseMemory(const std::string& s) {
  auto v = ParseNumberWithUnit(s, "gb");
  if (!v) return std::nullopt;
  if (*v >= 0) return static_cast<int64_t>(std::llround(*v * 1024));
  double mib = -*v - 1;
  if (mib != std::floor(mib)) return std::nullopt;
  return static_cast<int64_t>(mib);
}

bool FargateSizeValid(int64_t cpu, int64_t mem) {
  auto range = [&](int64_t lo, int64_t hi, int64_t step) {
    return mem >= lo && mem <= hi && (mem - lo) % step == 0;
  };
  switch (cpu) {
    case 256: return mem == 512 || mem == 1024 || mem == 2048;
    case 512: return range(1024, 4096, 1024);
    case 1024: return range(2048, 8192, 1024);
    case 2048: return range(4096, 16384, 1024);
    case 4096: return range(8192, 30720, 1024);
    case 8192: return range(16384, 61440, 4096);
    case 16384: return range(32768, 122880, 8192);
    default: return false;
  }
}

std::string NetworkModeOf(const Json& td) { return JStr(td, "networkMode", "bridge"); }

Json NormalizeTaskDefinition(const Json& in, bool strict) {
  std::string family = JStr(in, "family");
  if (family.empty()) throw ClientException("Family can not be blank.");
  if (!std::regex_match(family, kFamilyRe)) throw ClientException("Family contains invalid characters.");

  const Json& defs = in.at("containerDefinitions");
  if (defs.empty()) throw ClientException("Container list cannot be empty.");
  std::string mode = NetworkModeOf(in);
  bool awsvpc = mode == "awsvpc", host = mode == "host", none = mode == "none";

  std::set<std::string> compat_req;
  if (const Json* rc = JGet(in, "requiresCompatibilities")) {
    for (const auto& c : *rc) compat_req.insert(c.get<std::string>());
  }
  bool wants_fargate = compat_req.count("FARGATE") > 0;

  std::optional<int64_t> task_cpu, task_mem;
  if (auto c = JOptStr(in, "cpu")) {
    task_cpu = ParseCpu(*c);
    if (!task_cpu || *task_cpu <= 0) throw ClientException("Invalid 'cpu' setting for task.");
  }
  if (auto m = JOptStr(in, "memory")) {
    task_mem = ParseMemory(*m);
    if (!task_mem || *task_mem <= 0) throw ClientException("Invalid 'memory' setting for task.");
  }
  if (wants_fargate) {
    // Observed: ECS's message for this uses typographic quotes around awsvpc.
    if (!awsvpc) throw ClientException("Fargate only supports network mode \u2018awsvpc\u2019.");
    if (!task_cpu) throw ClientException("Fargate requires that 'cpu' be defined at the task level.");
    if (!task_mem) throw ClientException("Fargate requires that 'memory' be defined at the task level.");
    if (!FargateSizeValid(*task_cpu, *task_mem)) {
      throw ClientException(fmt::format(
          "No Fargate configuration exists for given values: {} CPU, {} memory. See the Amazon "
          "ECS documentation for the valid values.",
          *task_cpu, *task_mem));
    }
  }

  Json containers = Json::array();
  std::set<std::string> names;
  std::set<std::pair<std::string, int64_t>> host_ports;
  bool any_essential = false;
  int64_t cpu_sum = 0;
  static const std::regex kNameRe("^[a-zA-Z0-9_-]{1,255}$");
  for (const auto& d : defs) {
    Json c = d;
    std::string name = JStr(c, "name");
    if (name.empty()) throw ClientException("Container.name should not be null or empty.");
    if (!std::regex_match(name, kNameRe)) throw ClientException("Container.name contains invalid characters.");
    if (JStr(c, "image").empty()) throw ClientException("Container.image should not be null or empty.");
    if (!names.insert(name).second) {
      throw ClientException("Container names must be unique within a Task Definition.");
    }
    if (!c.contains("cpu")) c["cpu"] = 0;
    if (!c.contains("essential")) c["essential"] = true;
    any_essential = any_essential || JBool(c, "essential", true);
    cpu_sum += JInt(c, "cpu");
    auto mem = JOptInt(c, "memory");
    auto res = JOptInt(c, "memoryReservation");
    if (strict && !task_mem && !mem && !res) {
      throw ClientException(fmt::format(
          "Invalid setting for container '{}'. At least one of 'memory' or 'memoryReservation' "
          "must be specified.",
          name));
    }
    if (mem && res && *res > *mem) {
      throw ClientException(fmt::format(
          "Invalid setting for container '{}'. The memory reservation value must be less than "
          "or equal to the memory limit.",
          name));
    }
    if (mem && *mem < 6) {
      throw ClientException(fmt::format(
          "Invalid setting for container '{}'. The memory limit must be at least 6 MiB.", name));
    }
    if (awsvpc && c.contains("hostname") && !c["hostname"].is_null()) {
      throw ClientException("hostname is not supported on container when networkMode=awsvpc.");
    }
    if (awsvpc && JGet(c, "links") && !c["links"].empty()) {
      throw ClientException("Links are not supported when networkMode=awsvpc.");
    }
    Json pms = c.value("portMappings", Json::array());
    if (none && !pms.empty()) {
      // AWS documents that port mappings cannot be given with networkMode none.
      throw ClientException("Port mappings are not supported when networkMode=none.");
    }
    for (auto& pm : pms) {
      auto cp = JOptInt(pm, "containerPort");
      if (!cp || *cp < 1 || *cp > 65535) {
        if (!JGet(pm, "containerPortRange")) {
          throw ClientException(fmt::format("Invalid 'containerPort' setting for container '{}'.", name));
        }
      }
      if (!pm.contains("protocol")) pm["protocol"] = "tcp";
      auto hp = JOptInt(pm, "hostPort");
      if ((awsvpc || host) && cp) {
        if (hp && *hp != *cp) {
          throw ClientException(fmt::format(
              "When networkMode={}, the host ports and container ports in port mappings must "
              "match.",
              mode));
        }
        pm["hostPort"] = *cp;
        hp = *cp;
      }
      if (hp && (*hp < 0 || *hp > 65535)) {
        throw ClientException(fmt::format("Invalid 'hostPort' setting for container '{}'.", name));
      }
      if (hp && *hp != 0) {
        std::string proto = JStr(pm, "protocol", "tcp");
        if (!host_ports.insert({proto, *hp}).second) {
          std::string upper = proto == "udp" ? "UDP" : "TCP";
          throw ClientException(fmt::format("{} host port '{}' is mapped multiple times in task.",
                                            upper, *hp));
        }
      }
    }
    c["portMappings"] = pms;
    CheckContainerSettings(c, name, wants_fargate);
    if (wants_fargate && JStr(in, "executionRoleArn").empty() && JGet(c, "logConfiguration") &&
        JStr(*JGet(c, "logConfiguration"), "logDriver") == "awslogs") {
      throw ClientException("Fargate requires task definition to have execution role ARN to support log driver awslogs.");
    }
    CheckSecretSettings(c, name, !JStr(in, "executionRoleArn").empty(), strict);
    for (const char* list : {"environment", "mountPoints", "volumesFrom", "systemControls"}) {
      if (!c.contains(list)) c[list] = Json::array();
    }
    containers.push_back(std::move(c));
  }
  CheckTaskModes(in, wants_fargate);
  CheckReferences(containers, CheckVolumes(in, wants_fargate));
  if (!any_essential) {
    throw ClientException("Task definition must have at least one essential container.");
  }
  if (task_cpu && cpu_sum > *task_cpu) {
    throw ClientException(
        "The sum of all container 'cpu' values cannot be greater than the value of the task "
        "'cpu'.");
  }

  Json td = {{"containerDefinitions", containers}, {"family", JStr(in, "family")}};
  for (const char* k : {"taskRoleArn", "executionRoleArn", "networkMode"}) {
    if (JGet(in, k)) td[k] = in[k];
  }
  td["volumes"] = in.value("volumes", Json::array());
  // ECS fills an EFS volume's rootDirectory with "/" when it is left out (the task runs with
  // the file system's root), and DescribeTaskDefinition shows it.
  for (auto& v : td["volumes"]) {
    if (v.is_object() && v.contains("efsVolumeConfiguration") && v["efsVolumeConfiguration"].is_object() &&
        !v["efsVolumeConfiguration"].contains("rootDirectory")) {
      v["efsVolumeConfiguration"]["rootDirectory"] = "/";
    }
  }
  // A memberOf expression that does not parse is refused here, not at each placement.
  ValidatePlacementConstraints(in.value("placementConstraints", Json::array()));
  td["placementConstraints"] = in.value("placementConstraints", Json::array());
  Json req_attrs = Json::array({{{"name", "com.amazonaws.ecs.capability.docker-remote-api.1.18"}}});
  if (awsvpc) req_attrs.push_back({{"name", "ecs.capability.task-eni"}});
  AddSecretAttributes(containers, req_attrs);
  td["requiresAttributes"] = req_attrs;
  Json compat = Json::array({"EC2"});
  if (awsvpc && task_cpu && task_mem && FargateSizeValid(*task_cpu, *task_mem)) {
    compat.push_back("FARGATE");
  }
  if (compat_req.count("EXTERNAL")) compat.push_back("EXTERNAL");
  td["compatibilities"] = compat;
  if (!compat_req.empty()) td["requiresCompatibilities"] = in["requiresCompatibilities"];
  if (task_cpu) td["cpu"] = std::to_string(*task_cpu);
  if (task_mem) td["memory"] = std::to_string(*task_mem);
  for (const char* k : {"pidMode", "ipcMode", "proxyConfiguration", "inferenceAccelerators",
                        "ephemeralStorage", "runtimePlatform", "enableFaultInjection"}) {
    if (JGet(in, k)) td[k] = in[k];
  }
  return td;
}

}  // namespace kecs::api::ecs
