#include "model/oci.h"

#include "base/json.h"

namespace kecs::model::oci {
namespace {

constexpr const char* kRefName = "org.opencontainers.image.ref.name";

// Thrown inside the decoders only, and turned into an InvalidArgument at their edge.
struct DecodeError {
  std::string message;
};

[[noreturn]] void Fail(const std::string& where, const char* want) {
  throw DecodeError{where + " is not " + want};
}

const Json* Member(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string Str(const Json& j, const std::string& where) {
  if (!j.is_string()) Fail(where, "a string");
  return j.get<std::string>();
}

int64_t Int(const Json& j, const std::string& where) {
  if (!j.is_number_integer()) Fail(where, "an integer");
  return j.get<int64_t>();
}

uint64_t Uint(const Json& j, const std::string& where) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_number_integer() && j.get<int64_t>() >= 0) return static_cast<uint64_t>(j.get<int64_t>());
  Fail(where, "an unsigned integer");
}

bool Bool(const Json& j, const std::string& where) {
  if (!j.is_boolean()) Fail(where, "a boolean");
  return j.get<bool>();
}

const Json& Obj(const Json& j, const std::string& where) {
  if (!j.is_object()) Fail(where, "an object");
  return j;
}

const Json& Arr(const Json& j, const std::string& where) {
  if (!j.is_array()) Fail(where, "an array");
  return j;
}

std::vector<std::string> Strings(const Json& j, const std::string& where) {
  std::vector<std::string> out;
  for (const auto& e : Arr(j, where)) out.push_back(Str(e, where + "[]"));
  return out;
}

Json ParseOrFail(std::string_view text, const char* what) {
  auto j = ParseJson(text);
  if (!j) throw DecodeError{std::string(what) + " is not valid JSON"};
  return *j;
}

template <typename T, typename F>
Result<T> Decode(const char* what, F&& f) {
  try {
    return f();
  } catch (const DecodeError& e) {
    return InvalidArgument(std::string(what) + ": " + e.message);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string(what) + ": " + e.what());
  }
}

Descriptor DecodeDescriptor(const Json& j, const std::string& where) {
  Obj(j, where);
  Descriptor d;
  if (const Json* m = Member(j, "mediaType")) d.media_type = Str(*m, where + ".mediaType");
  if (const Json* m = Member(j, "digest")) d.digest = Str(*m, where + ".digest");
  if (const Json* m = Member(j, "size")) d.size = Int(*m, where + ".size");
  if (const Json* a = Member(j, "annotations")) {
    if (const Json* n = Member(Obj(*a, where + ".annotations"), kRefName)) d.ref_name = Str(*n, where + ".ref.name");
  }
  return d;
}

// ---- Runtime spec members.

User DecodeUser(const Json& j) {
  Obj(j, "process.user");
  User u;
  if (const Json* m = Member(j, "uid")) u.uid = Int(*m, "process.user.uid");
  if (const Json* m = Member(j, "gid")) u.gid = Int(*m, "process.user.gid");
  if (const Json* m = Member(j, "additionalGids")) {
    for (const auto& g : Arr(*m, "process.user.additionalGids")) u.additional_gids.push_back(Int(g, "additionalGids[]"));
  }
  return u;
}

Process DecodeProcess(const Json& j) {
  Obj(j, "process");
  Process p;
  if (const Json* m = Member(j, "terminal")) p.terminal = Bool(*m, "process.terminal");
  if (const Json* m = Member(j, "args")) p.args = Strings(*m, "process.args");
  if (const Json* m = Member(j, "env")) p.env = Strings(*m, "process.env");
  if (const Json* m = Member(j, "cwd")) p.cwd = Str(*m, "process.cwd");
  if (const Json* m = Member(j, "user")) p.user = DecodeUser(*m);
  if (const Json* c = Member(j, "capabilities")) {
    Obj(*c, "process.capabilities");
    auto list = [&](const char* key, std::optional<std::vector<std::string>>& out) {
      if (const Json* m = Member(*c, key)) out = Strings(*m, std::string("process.capabilities.") + key);
    };
    list("bounding", p.capabilities.bounding);
    list("effective", p.capabilities.effective);
    list("inheritable", p.capabilities.inheritable);
    list("permitted", p.capabilities.permitted);
    list("ambient", p.capabilities.ambient);
  }
  if (const Json* m = Member(j, "noNewPrivileges")) p.no_new_privileges = Bool(*m, "process.noNewPrivileges");
  if (const Json* m = Member(j, "rlimits")) {
    for (const auto& r : Arr(*m, "process.rlimits")) {
      Obj(r, "process.rlimits[]");
      Rlimit rl;
      if (const Json* t = Member(r, "type")) rl.type = Str(*t, "rlimits[].type");
      if (const Json* s = Member(r, "soft")) rl.soft = Int(*s, "rlimits[].soft");
      if (const Json* h = Member(r, "hard")) rl.hard = Int(*h, "rlimits[].hard");
      p.rlimits.push_back(rl);
    }
  }
  return p;
}

std::vector<IdMapping> DecodeIdMappings(const Json& j, const std::string& where) {
  std::vector<IdMapping> out;
  for (const auto& m : Arr(j, where)) {
    Obj(m, where + "[]");
    IdMapping id;
    if (const Json* v = Member(m, "containerID")) id.container_id = Int(*v, where + "[].containerID");
    if (const Json* v = Member(m, "hostID")) id.host_id = Int(*v, where + "[].hostID");
    if (const Json* v = Member(m, "size")) id.size = Int(*v, where + "[].size");
    out.push_back(id);
  }
  return out;
}

Resources DecodeResources(const Json& j) {
  Obj(j, "linux.resources");
  Resources r;
  for (const auto& [key, value] : j.items()) {
    if (key == "devices") {
      r.devices.emplace();
      for (const auto& d : Arr(value, "linux.resources.devices")) {
        Obj(d, "linux.resources.devices[]");
        DeviceRule rule;
        if (const Json* m = Member(d, "allow")) rule.allow = Bool(*m, "devices[].allow");
        if (const Json* m = Member(d, "type")) rule.type = Str(*m, "devices[].type");
        if (const Json* m = Member(d, "major")) rule.major = Int(*m, "devices[].major");
        if (const Json* m = Member(d, "minor")) rule.minor = Int(*m, "devices[].minor");
        if (const Json* m = Member(d, "access")) rule.access = Str(*m, "devices[].access");
        r.devices->push_back(rule);
      }
    } else if (key == "memory") {
      Obj(value, "linux.resources.memory");
      if (const Json* m = Member(value, "limit")) r.memory_limit = Int(*m, "memory.limit");
      if (const Json* m = Member(value, "reservation")) r.memory_reservation = Int(*m, "memory.reservation");
    } else if (key == "cpu") {
      Obj(value, "linux.resources.cpu");
      if (const Json* m = Member(value, "shares")) r.cpu_shares = Int(*m, "cpu.shares");
    } else {
      r.unknown.emplace_back(key, value.dump());
    }
  }
  return r;
}

LinuxDevice DecodeDevice(const Json& d) {
  Obj(d, "linux.devices[]");
  LinuxDevice dev;
  if (const Json* m = Member(d, "path")) dev.path = Str(*m, "linux.devices[].path");
  if (const Json* m = Member(d, "type")) dev.type = Str(*m, "linux.devices[].type");
  if (const Json* m = Member(d, "major")) dev.major = Int(*m, "linux.devices[].major");
  if (const Json* m = Member(d, "minor")) dev.minor = Int(*m, "linux.devices[].minor");
  if (const Json* m = Member(d, "fileMode")) dev.file_mode = Int(*m, "linux.devices[].fileMode");
  if (const Json* m = Member(d, "uid")) dev.uid = Int(*m, "linux.devices[].uid");
  if (const Json* m = Member(d, "gid")) dev.gid = Int(*m, "linux.devices[].gid");
  return dev;
}

std::vector<SeccompArg> DecodeSeccompArgs(const Json& j, const std::string& where) {
  std::vector<SeccompArg> out;
  for (const auto& a : Arr(j, where)) {
    Obj(a, where + "[]");
    SeccompArg arg;
    if (const Json* m = Member(a, "index")) arg.index = Int(*m, where + "[].index");
    if (const Json* m = Member(a, "value")) arg.value = Uint(*m, where + "[].value");
    if (const Json* m = Member(a, "valueTwo")) arg.value_two = Uint(*m, where + "[].valueTwo");
    if (const Json* m = Member(a, "op")) arg.op = Str(*m, where + "[].op");
    out.push_back(arg);
  }
  return out;
}

// The members a spec's syscall rule and a profile's share.
template <typename Rule>
void DecodeSyscallCommon(const Json& s, const std::string& where, Rule& rule) {
  Obj(s, where);
  if (const Json* m = Member(s, "names")) rule.names = Strings(*m, where + ".names");
  // Old profiles name one syscall per rule.
  if (const Json* m = Member(s, "name")) rule.names.push_back(Str(*m, where + ".name"));
  if (const Json* m = Member(s, "action")) rule.action = Str(*m, where + ".action");
  if (const Json* m = Member(s, "errnoRet")) rule.errno_ret = Int(*m, where + ".errnoRet");
  if (const Json* m = Member(s, "args")) rule.args = DecodeSeccompArgs(*m, where + ".args");
}

Seccomp DecodeSeccomp(const Json& j) {
  Obj(j, "linux.seccomp");
  Seccomp sc;
  if (const Json* m = Member(j, "defaultAction")) sc.default_action = Str(*m, "linux.seccomp.defaultAction");
  if (const Json* m = Member(j, "defaultErrnoRet")) sc.default_errno_ret = Int(*m, "linux.seccomp.defaultErrnoRet");
  if (const Json* m = Member(j, "architectures")) sc.architectures = Strings(*m, "linux.seccomp.architectures");
  if (const Json* m = Member(j, "syscalls")) {
    for (const auto& s : Arr(*m, "linux.seccomp.syscalls")) {
      SeccompSyscall rule;
      DecodeSyscallCommon(s, "linux.seccomp.syscalls[]", rule);
      sc.syscalls.push_back(std::move(rule));
    }
  }
  return sc;
}

Linux DecodeLinux(const Json& j) {
  Obj(j, "linux");
  Linux l;
  for (const auto& [key, value] : j.items()) {
    if (key == "uidMappings") {
      l.uid_mappings = DecodeIdMappings(value, "linux.uidMappings");
    } else if (key == "gidMappings") {
      l.gid_mappings = DecodeIdMappings(value, "linux.gidMappings");
    } else if (key == "sysctl") {
      l.sysctl.emplace();
      for (const auto& [k, v] : Obj(value, "linux.sysctl").items()) l.sysctl->emplace_back(k, Str(v, "linux.sysctl." + k));
    } else if (key == "devices") {
      l.devices.emplace();
      for (const auto& d : Arr(value, "linux.devices")) l.devices->push_back(DecodeDevice(d));
    } else if (key == "seccomp") {
      l.seccomp = DecodeSeccomp(value);
    } else if (key == "resources") {
      l.resources = DecodeResources(value);
    } else if (key == "namespaces") {
      for (const auto& n : Arr(value, "linux.namespaces")) {
        Obj(n, "linux.namespaces[]");
        Namespace ns;
        if (const Json* m = Member(n, "type")) ns.type = Str(*m, "namespaces[].type");
        if (const Json* m = Member(n, "path")) ns.path = Str(*m, "namespaces[].path");
        l.namespaces.push_back(ns);
      }
    } else if (key == "maskedPaths") {
      l.masked_paths = Strings(value, "linux.maskedPaths");
    } else if (key == "readonlyPaths") {
      l.readonly_paths = Strings(value, "linux.readonlyPaths");
    } else if (key == "cgroupsPath") {
      l.cgroups_path = Str(value, "linux.cgroupsPath");
    } else {
      l.unknown.emplace_back(key, value.dump());
    }
  }
  return l;
}

Json Unknown(Json obj, const UnknownMembers& unknown) {
  for (const auto& [k, text] : unknown) obj[k] = Json::parse(text);
  return obj;
}

Json EncodeProcess(const Process& p) {
  Json j = Json::object();
  j["terminal"] = p.terminal;
  j["args"] = p.args;
  j["env"] = p.env;
  j["cwd"] = p.cwd;
  if (p.user) {
    Json u = {{"uid", p.user->uid}, {"gid", p.user->gid}};
    if (!p.user->additional_gids.empty()) u["additionalGids"] = p.user->additional_gids;
    j["user"] = u;
  }
  Json caps = Json::object();
  auto list = [&](const char* key, const std::optional<std::vector<std::string>>& v) {
    if (v) caps[key] = *v;
  };
  list("bounding", p.capabilities.bounding);
  list("effective", p.capabilities.effective);
  list("inheritable", p.capabilities.inheritable);
  list("permitted", p.capabilities.permitted);
  list("ambient", p.capabilities.ambient);
  j["capabilities"] = caps;
  j["noNewPrivileges"] = p.no_new_privileges;
  Json rl = Json::array();
  for (const auto& r : p.rlimits) rl.push_back({{"type", r.type}, {"soft", r.soft}, {"hard", r.hard}});
  j["rlimits"] = rl;
  return j;
}

Json EncodeIdMappings(const std::vector<IdMapping>& v) {
  Json out = Json::array();
  for (const auto& m : v) out.push_back({{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.size}});
  return out;
}

Json EncodeResources(const Resources& r) {
  Json j = Json::object();
  if (r.devices) {
    Json devs = Json::array();
    for (const auto& d : *r.devices) {
      Json dj = {{"allow", d.allow}};
      if (d.type) dj["type"] = *d.type;
      if (d.major) dj["major"] = *d.major;
      if (d.minor) dj["minor"] = *d.minor;
      if (d.access) dj["access"] = *d.access;
      devs.push_back(dj);
    }
    j["devices"] = devs;
  }
  if (r.memory_limit || r.memory_reservation) {
    Json mem = Json::object();
    if (r.memory_limit) mem["limit"] = *r.memory_limit;
    if (r.memory_reservation) mem["reservation"] = *r.memory_reservation;
    j["memory"] = mem;
  }
  if (r.cpu_shares) j["cpu"] = {{"shares", *r.cpu_shares}};
  return Unknown(std::move(j), r.unknown);
}

Json EncodeSeccompArgs(const std::vector<SeccompArg>& args) {
  Json out = Json::array();
  for (const auto& a : args) {
    out.push_back({{"index", a.index}, {"value", a.value}, {"valueTwo", a.value_two}, {"op", a.op}});
  }
  return out;
}

Json EncodeSeccomp(const Seccomp& sc) {
  Json j = {{"defaultAction", sc.default_action}};
  if (sc.default_errno_ret) j["defaultErrnoRet"] = *sc.default_errno_ret;
  if (!sc.architectures.empty()) j["architectures"] = sc.architectures;
  Json calls = Json::array();
  for (const auto& s : sc.syscalls) {
    Json sj = {{"names", s.names}, {"action", s.action}};
    if (s.errno_ret) sj["errnoRet"] = *s.errno_ret;
    if (!s.args.empty()) sj["args"] = EncodeSeccompArgs(s.args);
    calls.push_back(sj);
  }
  j["syscalls"] = calls;
  return j;
}

Json EncodeLinux(const Linux& l) {
  Json j = Json::object();
  if (l.uid_mappings) j["uidMappings"] = EncodeIdMappings(*l.uid_mappings);
  if (l.gid_mappings) j["gidMappings"] = EncodeIdMappings(*l.gid_mappings);
  if (l.sysctl) {
    Json sys = Json::object();
    for (const auto& [k, v] : *l.sysctl) sys[k] = v;
    j["sysctl"] = sys;
  }
  if (l.resources) j["resources"] = EncodeResources(*l.resources);
  Json ns = Json::array();
  for (const auto& n : l.namespaces) {
    Json nj = {{"type", n.type}};
    if (!n.path.empty()) nj["path"] = n.path;
    ns.push_back(nj);
  }
  j["namespaces"] = ns;
  if (l.devices) {
    Json devs = Json::array();
    for (const auto& d : *l.devices) {
      Json dj = {{"path", d.path}, {"type", d.type}, {"major", d.major}, {"minor", d.minor}};
      if (d.file_mode) dj["fileMode"] = *d.file_mode;
      if (d.uid) dj["uid"] = *d.uid;
      if (d.gid) dj["gid"] = *d.gid;
      devs.push_back(dj);
    }
    j["devices"] = devs;
  }
  if (l.seccomp) j["seccomp"] = EncodeSeccomp(*l.seccomp);
  if (l.masked_paths) j["maskedPaths"] = *l.masked_paths;
  if (l.readonly_paths) j["readonlyPaths"] = *l.readonly_paths;
  j = Unknown(std::move(j), l.unknown);
  if (l.cgroups_path) j["cgroupsPath"] = *l.cgroups_path;
  return j;
}

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) | static_cast<uint8_t>(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (i + 1 == in.size()) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

}  // namespace

std::string EncodeRegistryAuthFile(const std::vector<std::pair<std::string, std::string>>& host_credentials) {
  Json auths = Json::object();
  for (const auto& [host, creds] : host_credentials) auths[host] = {{"auth", Base64(creds)}};
  return Json{{"auths", auths}}.dump();
}

Result<ImageIndex> DecodeImageIndex(std::string_view text) {
  return Decode<ImageIndex>("OCI image index", [&] {
    Json j = ParseOrFail(text, "the index");
    ImageIndex idx;
    if (const Json* m = Member(Obj(j, "the index"), "manifests")) {
      for (const auto& d : Arr(*m, "manifests")) idx.manifests.push_back(DecodeDescriptor(d, "manifests[]"));
    }
    return idx;
  });
}

Result<ImageManifest> DecodeImageManifest(std::string_view text) {
  return Decode<ImageManifest>("OCI image manifest", [&] {
    Json j = ParseOrFail(text, "the manifest");
    ImageManifest man;
    if (const Json* c = Member(Obj(j, "the manifest"), "config")) man.config = DecodeDescriptor(*c, "config");
    if (const Json* l = Member(j, "layers")) {
      for (const auto& d : Arr(*l, "layers")) man.layers.push_back(DecodeDescriptor(d, "layers[]"));
    }
    return man;
  });
}

Result<ImageConfig> DecodeImageConfig(std::string_view text) {
  return Decode<ImageConfig>("OCI image configuration", [&] {
    Json j = ParseOrFail(text, "the image configuration");
    ImageConfig cfg;
    const Json* c = Member(Obj(j, "the image configuration"), "config");
    if (!c) return cfg;
    Obj(*c, "config");
    if (const Json* m = Member(*c, "Entrypoint")) cfg.entrypoint = Strings(*m, "config.Entrypoint");
    if (const Json* m = Member(*c, "Cmd")) cfg.cmd = Strings(*m, "config.Cmd");
    if (const Json* m = Member(*c, "Env")) cfg.env = Strings(*m, "config.Env");
    if (const Json* m = Member(*c, "WorkingDir")) cfg.working_dir = Str(*m, "config.WorkingDir");
    if (const Json* m = Member(*c, "User")) cfg.user = Str(*m, "config.User");
    return cfg;
  });
}

Result<std::vector<std::string>> DecodeDockerArchiveRepoTags(std::string_view text) {
  return Decode<std::vector<std::string>>("docker-archive manifest.json", [&] {
    Json j = ParseOrFail(text, "manifest.json");
    std::vector<std::string> tags;
    for (const auto& entry : Arr(j, "manifest.json")) {
      if (const Json* t = Member(Obj(entry, "manifest.json[]"), "RepoTags")) {
        for (auto& s : Strings(*t, "RepoTags")) tags.push_back(std::move(s));
      }
    }
    return tags;
  });
}

Result<Spec> DecodeSpec(std::string_view text) {
  return Decode<Spec>("OCI runtime spec", [&] {
    Spec s;
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return s;
    Json j = ParseOrFail(text, "config.json");
    for (const auto& [key, value] : Obj(j, "config.json").items()) {
      if (key == "ociVersion") {
        s.oci_version = Str(value, "ociVersion");
      } else if (key == "process") {
        s.process = DecodeProcess(value);
      } else if (key == "root") {
        Obj(value, "root");
        Root r;
        if (const Json* m = Member(value, "path")) r.path = Str(*m, "root.path");
        if (const Json* m = Member(value, "readonly")) r.readonly = Bool(*m, "root.readonly");
        s.root = r;
      } else if (key == "hostname") {
        s.hostname = Str(value, "hostname");
      } else if (key == "mounts") {
        for (const auto& m : Arr(value, "mounts")) {
          Obj(m, "mounts[]");
          Mount mt;
          if (const Json* v = Member(m, "destination")) mt.destination = Str(*v, "mounts[].destination");
          if (const Json* v = Member(m, "type")) mt.type = Str(*v, "mounts[].type");
          if (const Json* v = Member(m, "source")) mt.source = Str(*v, "mounts[].source");
          if (const Json* v = Member(m, "options")) mt.options = Strings(*v, "mounts[].options");
          s.mounts.push_back(mt);
        }
      } else if (key == "annotations") {
        s.annotations.emplace();
        for (const auto& [k, v] : Obj(value, "annotations").items()) s.annotations->emplace_back(k, Str(v, "annotations." + k));
      } else if (key == "linux") {
        s.linux_spec = DecodeLinux(value);
      } else {
        s.unknown.emplace_back(key, value.dump());
      }
    }
    return s;
  });
}

Result<SeccompProfile> DecodeSeccompProfile(std::string_view text) {
  return Decode<SeccompProfile>("seccomp profile", [&] {
    Json j = ParseOrFail(text, "the profile");
    Obj(j, "the profile");
    SeccompProfile p;
    if (const Json* m = Member(j, "defaultAction")) p.default_action = Str(*m, "defaultAction");
    if (const Json* m = Member(j, "defaultErrnoRet")) p.default_errno_ret = Int(*m, "defaultErrnoRet");
    if (const Json* m = Member(j, "architectures")) p.architectures = Strings(*m, "architectures");
    if (const Json* m = Member(j, "archMap")) {
      for (const auto& a : Arr(*m, "archMap")) {
        Obj(a, "archMap[]");
        SeccompArchMap am;
        if (const Json* v = Member(a, "architecture")) am.architecture = Str(*v, "archMap[].architecture");
        if (const Json* v = Member(a, "subArchitectures")) am.sub_architectures = Strings(*v, "archMap[].subArchitectures");
        p.arch_map.push_back(std::move(am));
      }
    }
    auto filter = [](const Json& s, const char* key) {
      SeccompFilter f;
      const Json* m = Member(s, key);
      if (!m) return f;
      std::string where = std::string("syscalls[].") + key;
      Obj(*m, where);
      if (const Json* v = Member(*m, "arches")) f.arches = Strings(*v, where + ".arches");
      if (const Json* v = Member(*m, "caps")) f.caps = Strings(*v, where + ".caps");
      if (const Json* v = Member(*m, "minKernel")) f.min_kernel = Str(*v, where + ".minKernel");
      return f;
    };
    if (const Json* m = Member(j, "syscalls")) {
      for (const auto& s : Arr(*m, "syscalls")) {
        SeccompProfileSyscall rule;
        DecodeSyscallCommon(s, "syscalls[]", rule);
        rule.includes = filter(s, "includes");
        rule.excludes = filter(s, "excludes");
        p.syscalls.push_back(std::move(rule));
      }
    }
    return p;
  });
}

std::string EncodeSpec(const Spec& s) {
  Json j = Json::object();
  if (!s.oci_version.empty()) j["ociVersion"] = s.oci_version;
  if (s.process) j["process"] = EncodeProcess(*s.process);
  if (s.root) {
    Json r = {{"path", s.root->path}};
    if (s.root->readonly) r["readonly"] = *s.root->readonly;
    j["root"] = r;
  }
  if (s.hostname) j["hostname"] = *s.hostname;
  Json mounts = Json::array();
  for (const auto& m : s.mounts) {
    Json mj = {{"destination", m.destination}, {"type", m.type}, {"source", m.source}};
    if (m.options) mj["options"] = *m.options;
    mounts.push_back(mj);
  }
  j["mounts"] = mounts;
  if (s.annotations) {
    Json a = Json::object();
    for (const auto& [k, v] : *s.annotations) a[k] = v;
    j["annotations"] = a;
  }
  if (s.linux_spec) j["linux"] = EncodeLinux(*s.linux_spec);
  return Unknown(std::move(j), s.unknown).dump(2);
}

}  // namespace kecs::model::oci
