// LbProxies (lb_proxy.h): one master-worker HAProxy per load balancer, driven through its
// files, its admin socket's runtime API and its master CLI.
#include "runtime/local/lb_proxy.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "base/env.h"
#include "base/log.h"
#include "base/strings.h"
#include "base/subprocess.h"
#include "runtime/local/haproxy_admin.h"

namespace kecs::runtime::local {
namespace {

using model::TargetHealthState;

constexpr auto kStartTimeout = std::chrono::seconds(15);
constexpr auto kPoll = std::chrono::milliseconds(20);
// HAProxy's server admin-state bits (`show servers state`).
constexpr int kForcedMaint = 0x1;
constexpr int kForcedDrain = 0x8;

// One server of the configuration: a slot of a group's backend on one node.
struct ServerRef {
  std::string backend;
  std::string server;
  const LbTargetGroupSpec* tg = nullptr;
  const LbTargetSpec* target = nullptr;  // nullptr: a free slot
  size_t node = 0;
  bool checked = false;  // the health-checked backend (not the fail-open one)
};

std::vector<ServerRef> Servers(const LoadBalancerSpec& lb, const ServerSlots& slots) {
  std::vector<ServerRef> out;
  const std::set<std::string> proxied = ProxiedGroups(lb);
  for (const auto& tg : lb.target_groups) {
    auto it = slots.find(tg.id);
    if (it == slots.end()) continue;
    for (size_t node = 0; node < lb.nodes.size(); ++node) {
      for (bool checked : {true, false}) {
        if (!checked && !proxied.count(tg.id)) continue;
        for (size_t k = 0; k < it->second.size(); ++k) {
          ServerRef r;
          r.backend = fmt::format("bk_{}_n{}{}", tg.id, node, checked ? "" : "_all");
          r.server = fmt::format("s{}", k + 1);
          r.tg = &tg;
          r.node = node;
          r.checked = checked;
          for (const auto& t : tg.targets) {
            if (!it->second[k].empty() && SlotKey(t) == it->second[k]) r.target = &t;
          }
          out.push_back(r);
        }
      }
    }
  }
  return out;
}

std::string RowKey(const haproxy::ServerStateRow& r) {
  bool v6 = r.addr.find(':') != std::string::npos;
  return (v6 ? "[" + r.addr + "]" : r.addr) + ":" + std::to_string(r.port);
}

// The part of a server-state file (`show servers state`) that still applies to `lb` with
// `slots`: rows of servers that hold the same target in the same admin state (so their
// health survives a reload or restart); a slot that now holds another target starts
// afresh. `known` gets the names ("<backend>/<server>") of the rows kept.
std::string KeepState(const std::string& state, const LoadBalancerSpec& lb, const ServerSlots& slots,
                      std::set<std::string>& known) {
  std::map<std::string, std::pair<std::string, bool>> want;  // server -> (key, draining)
  for (const auto& s : Servers(lb, slots)) {
    if (s.target) want[s.backend + "/" + s.server] = {SlotKey(*s.target), s.target->draining};
  }
  std::string kept;
  for (const auto& line : Split(state, '\n')) {
    if (line.rfind("#", 0) == 0 || line == "1") kept += line + "\n";
  }
  for (const auto& r : haproxy::ParseServersState(state)) {
    std::string name = r.backend + "/" + r.server;
    auto it = want.find(name);
    if (it == want.end() || it->second.first != RowKey(r)) continue;
    // A slot enabled at run time keeps the config-maint bit of its `disabled` line;
    // HAProxy ignores that bit when the new configuration no longer says `disabled`.
    if (r.admin_state & kForcedMaint) continue;
    if (((r.admin_state & kForcedDrain) != 0) != it->second.second) continue;
    kept += r.line + "\n";
    known.insert(name);
  }
  return kept;
}

// Slots file: one line per group, "<group id> <key or -> ...".
std::string FormatSlots(const ServerSlots& slots) {
  std::string out;
  for (const auto& [tg, keys] : slots) {
    out += tg;
    for (const auto& k : keys) out += " " + (k.empty() ? std::string("-") : k);
    out += "\n";
  }
  return out;
}

ServerSlots ParseSlots(const std::string& text) {
  ServerSlots out;
  for (const auto& line : Split(text, '\n')) {
    auto f = Split(line, ' ');
    if (f.size() < 2 || f[0].empty()) continue;
    auto& keys = out[f[0]];
    for (size_t i = 1; i < f.size(); ++i) keys.push_back(f[i] == "-" ? "" : f[i]);
  }
  return out;
}

// `lb` less what the runtime API changes without a reload: its targets, and the weights of
// its weighted forwards (they live in the weight maps; the groups they name stay).
LoadBalancerSpec WithoutTargetsAndWeights(LoadBalancerSpec lb) {
  for (auto& tg : lb.target_groups) tg.targets.clear();
  auto clear = [](std::vector<model::Action>& actions) {
    for (auto& a : actions) {
      for (auto& w : a.forward) w.weight = 0;
    }
  };
  for (auto& l : lb.listeners) {
    clear(l.default_actions);
    for (auto& r : l.rules) clear(r.actions);
  }
  return lb;
}

// Writes the weight maps (RenderWeightMaps) into their files.
Status WriteWeightMaps(const std::map<std::string, std::string>& maps) {
  for (const auto& [path, text] : maps) RETURN_IF_ERROR(Env::Default()->WriteFileAtomic(path, text, 0600));
  return Status::Ok();
}

bool SameSizes(const ServerSlots& a, const ServerSlots& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [tg, keys] : a) {
    auto it = b.find(tg);
    if (it == b.end() || it->second.size() != keys.size()) return false;
  }
  return true;
}

Status Run(const std::string& socket, const std::string& command) {
  ASSIGN_OR_RETURN(std::string answer, haproxy::Command(socket, command));
  if (haproxy::CommandFailed(answer)) {
    return Internal(fmt::format("HAProxy refused `{}`: {}", command, LastLine(answer)));
  }
  return Status::Ok();
}

// Waits until the admin socket answers `show info` from a worker other than `old_pid`.
Result<std::string> WaitForWorker(const std::string& admin, const std::string& old_pid) {
  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto info = haproxy::Command(admin, "show info", std::chrono::seconds(1));
    if (info.ok()) {
      std::string pid = haproxy::InfoField(*info, "Pid");
      if (!pid.empty() && pid != old_pid) return pid;
    }
    std::this_thread::sleep_for(kPoll);
  }
  return Unavailable("HAProxy's admin socket " + admin + " did not answer from a new worker");
}

// New servers start not yet healthy (AWS's `initial`): they need `rise` passing checks.
// `known` lists "<backend>/<server>" whose health came from the server-state file.
Status HealthDownNew(const std::string& admin, const LoadBalancerSpec& lb, const ServerSlots& slots,
                     const std::set<std::string>& known) {
  for (const auto& s : Servers(lb, slots)) {
    if (!s.checked || !s.target || !s.tg->health_check.enabled) continue;
    std::string name = s.backend + "/" + s.server;
    if (known.count(name)) continue;
    RETURN_IF_ERROR(Run(admin, "set server " + name + " health down"));
  }
  return Status::Ok();
}

bool ProcessAlive(int pid) {
  auto stat = Env::Default()->ReadFile(fmt::format("/proc/{}/stat", pid));
  if (!stat.ok()) return false;
  auto close = stat->rfind(')');
  return close != std::string::npos && close + 2 < stat->size() && (*stat)[close + 2] != 'Z';
}

std::string CheckFailureReason(const std::string& check_status) {
  if (check_status == "L7STS") return "Target.ResponseCodeMismatch";
  if (check_status.size() > 4 && check_status.ends_with("TOUT")) return model::kReasonTimeout;
  return model::kReasonFailedHealthChecks;
}

bool CheckPassed(const std::string& check_status) {
  return check_status == "L4OK" || check_status == "L6OK" || check_status == "L7OK" || check_status == "L7OKC";
}

// AWS's reason descriptions: "Target health status" / "Health check reason codes" in
// https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
// ("Health checks failed with these codes: [%s]" is the ALB's Target.ResponseCodeMismatch
// text as DescribeTargetHealth shows it). Timeout and ResponseCodeMismatch apply only to
// Application Load Balancers; a Network Load Balancer says Target.FailedHealthChecks.
TargetObservation Unhealthy(bool alb, const haproxy::ServerStat& s) {
  TargetObservation o;
  o.state = TargetHealthState::kUnhealthy;
  o.reason = alb ? CheckFailureReason(s.check_status) : model::kReasonFailedHealthChecks;
  if (o.reason == "Target.ResponseCodeMismatch") {
    o.description = "Health checks failed with these codes: [" + s.check_code + "]";
  } else {
    o.description = model::TargetHealthDescription(o.reason);
  }
  return o;
}

TargetObservation Initial(const char* reason) {
  TargetObservation o;
  o.state = TargetHealthState::kInitial;
  o.reason = reason;
  o.description = model::TargetHealthDescription(reason);
  return o;
}

}  // namespace

int LbProxies::RunningPid(const std::string& lb_id) const {
  std::string dir = DirOf(lb_id);
  auto text = Env::Default()->ReadFile(dir + "/haproxy.pid");
  if (!text.ok()) return 0;
  int pid = std::atoi(std::string(Trim(*text)).c_str());
  if (pid <= 1 || !ProcessAlive(pid)) return 0;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink(fmt::format("/proc/{}/exe", pid), ec);
  if (ec || exe.filename() != std::filesystem::path(options_.haproxy).filename()) return 0;
  auto cmdline = Env::Default()->ReadFile(fmt::format("/proc/{}/cmdline", pid));
  if (!cmdline.ok()) return 0;
  std::string want = dir + "/haproxy.cfg";
  for (const auto& arg : Split(*cmdline, '\0')) {
    if (arg == want) return pid;
  }
  return 0;
}

Status LbProxies::WriteConfig(const LoadBalancerSpec& lb, const ProxyInputs& in, const ServerSlots& slots) {
  std::string dir = DirOf(lb.id);
  std::string cfg = RenderHaproxyConfig(lb, in, dir, slots);
  Env* env = Env::Default();
  // The maps first: the check loads them, and the running HAProxy's are in memory.
  const auto maps = RenderWeightMaps(lb, dir);
  RETURN_IF_ERROR(WriteWeightMaps(maps));
  RETURN_IF_ERROR(env->WriteFileAtomic(dir + "/haproxy.cfg.new", cfg, 0600));
  ASSIGN_OR_RETURN(auto check, RunProcess({options_.haproxy, "-c", "-f", dir + "/haproxy.cfg.new"},
                                          std::chrono::seconds(30)));
  if (check.exit_code != 0) {
    (void)env->RemoveFile(dir + "/haproxy.cfg.new");
    return Internal(fmt::format("HAProxy rejects the configuration of load balancer {}: {}", lb.id,
                                LastLine(check.err.empty() ? check.out : check.err)));
  }
  RETURN_IF_ERROR(env->Rename(dir + "/haproxy.cfg.new", dir + "/haproxy.cfg"));
  // The maps of rules that are gone, or no longer weighted.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("w_") && name.ends_with(".map") && !maps.count(entry.path().string())) {
      (void)env->RemoveFile(entry.path().string());
    }
  }
  return env->WriteFileAtomic(dir + "/slots", FormatSlots(slots), 0600);
}

Status LbProxies::Start(const LoadBalancerSpec& lb, const ProxyInputs& in, const ServerSlots& slots) {
  std::string dir = DirOf(lb.id);
  RETURN_IF_ERROR(WriteConfig(lb, in, slots));
  // A state file left by an earlier proxy (the host restarted) still tells the health of
  // the servers it names.
  std::set<std::string> known;
  auto state = Env::Default()->ReadFile(dir + "/servers.state");
  // Without one, an empty state file (its version line): HAProxy warns of a missing one.
  RETURN_IF_ERROR(Env::Default()->WriteFileAtomic(
      dir + "/servers.state", state.ok() ? KeepState(*state, lb, slots, known) : std::string("1\n"), 0600));
  (void)Env::Default()->RemoveFile(dir + "/admin.sock");
  (void)Env::Default()->RemoveFile(dir + "/master.sock");
  // A minimal environment: nothing of the daemon's leaks into HAProxy's.
  ASSIGN_OR_RETURN(auto r, RunProcess({"/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", options_.haproxy,
                                       "-W", "-D", "-f", dir + "/haproxy.cfg", "-S", dir + "/master.sock"},
                                      std::chrono::seconds(30)));
  if (r.exit_code != 0) {
    return Internal(fmt::format("HAProxy for load balancer {} did not start: {}", lb.id,
                                LastLine(r.err.empty() ? r.out : r.err)));
  }
  RETURN_IF_ERROR(WaitForWorker(dir + "/admin.sock", "").status());
  return HealthDownNew(dir + "/admin.sock", lb, slots, known);
}

Status LbProxies::Reload(const LoadBalancerSpec& lb, const ProxyInputs& in, const ServerSlots& slots) {
  std::string dir = DirOf(lb.id);
  std::string admin = dir + "/admin.sock";
  ASSIGN_OR_RETURN(std::string state, haproxy::Command(admin, "show servers state"));
  std::set<std::string> known;
  std::string kept = KeepState(state, lb, slots, known);
  RETURN_IF_ERROR(Env::Default()->WriteFileAtomic(dir + "/servers.state", kept, 0600));
  RETURN_IF_ERROR(WriteConfig(lb, in, slots));
  ASSIGN_OR_RETURN(std::string info, haproxy::Command(admin, "show info"));
  std::string old_pid = haproxy::InfoField(info, "Pid");
  // The master re-executes and closes the connection; its answer is not needed.
  (void)haproxy::Command(dir + "/master.sock", "reload");
  RETURN_IF_ERROR(WaitForWorker(admin, old_pid).status());
  return HealthDownNew(admin, lb, slots, known);
}

Status LbProxies::ApplyTargets(const LoadBalancerSpec& old_lb, const ServerSlots& old_slots,
                               const LoadBalancerSpec& lb, const ServerSlots& slots, TargetPhase phase) {
  std::string admin = DirOf(lb.id) + "/admin.sock";
  auto old_servers = Servers(old_lb, old_slots);
  auto servers = Servers(lb, slots);
  if (old_servers.size() != servers.size()) return FailedPrecondition("server slots changed");
  for (size_t i = 0; i < servers.size(); ++i) {
    const ServerRef& o = old_servers[i];
    const ServerRef& n = servers[i];
    std::string name = n.backend + "/" + n.server;
    std::string old_key = o.target ? SlotKey(*o.target) : "";
    std::string new_key = n.target ? SlotKey(*n.target) : "";
    // What gives a group servers (a target into a free slot, one no longer draining) goes
    // before new weights; what takes servers away goes after them.
    bool gives = (old_key != new_key && !o.target) ||
                 (old_key == new_key && n.target && o.target->draining && !n.target->draining);
    if (gives != (phase == TargetPhase::kAdditions)) continue;
    if (old_key != new_key && o.target) {
      RETURN_IF_ERROR(Run(admin, "set server " + name + " state maint"));
      RETURN_IF_ERROR(Run(admin, "shutdown sessions server " + name));
    }
    if (old_key != new_key && n.target) {
      RETURN_IF_ERROR(Run(admin, fmt::format("set server {} addr {} port {}", name, n.target->address, n.target->port)));
      RETURN_IF_ERROR(Run(admin, "set weight " + name + " 1"));
      if (n.checked && n.tg->health_check.enabled) {
        // One line: HAProxy runs these in order before serving anything else, so the
        // server is never up before its checks pass.
        RETURN_IF_ERROR(
            Run(admin, fmt::format("enable health {0}; enable server {0}; set server {0} health down", name)));
      } else {
        RETURN_IF_ERROR(Run(admin, "enable server " + name));
      }
      if (n.target->draining) RETURN_IF_ERROR(Run(admin, "set server " + name + " state drain"));
    } else if (n.target && o.target && n.target->draining != o.target->draining) {
      if (n.target->draining) {
        RETURN_IF_ERROR(Run(admin, "set server " + name + " state drain"));
      } else {
        RETURN_IF_ERROR(Run(admin, "set server " + name + " state ready; set weight " + name + " 1"));
      }
    }
  }
  return Status::Ok();
}

Status LbProxies::ApplyWeights(const LoadBalancerSpec& old_lb, const LoadBalancerSpec& lb) {
  std::string dir = DirOf(lb.id);
  std::string admin = dir + "/admin.sock";
  auto old_maps = RenderWeightMaps(old_lb, dir);
  auto maps = RenderWeightMaps(lb, dir);
  for (const auto& [path, text] : maps) {
    if (auto it = old_maps.find(path); it != old_maps.end() && it->second == text) continue;
    // A new version of the map, filled, then made current at once: a request sees the
    // old weights or the new ones, never a map half written.
    ASSIGN_OR_RETURN(std::string answer, haproxy::Command(admin, "prepare map " + path));
    auto colon = answer.rfind(':');
    std::string version = colon == std::string::npos ? "" : std::string(Trim(answer.substr(colon + 1)));
    if (haproxy::CommandFailed(answer) || version.empty() ||
        version.find_first_not_of("0123456789") != std::string::npos) {
      return Internal(fmt::format("HAProxy refused `prepare map {}`: {}", path, LastLine(answer)));
    }
    // Both answer nothing when they succeed: any answer is a refusal ("Version number out
    // of range.", "Missing value ...", ...).
    auto silent = [&](const std::string& command) -> Status {
      ASSIGN_OR_RETURN(std::string out, haproxy::Command(admin, command));
      if (!Trim(out).empty()) return Internal(fmt::format("HAProxy refused `{}`: {}", command, LastLine(out)));
      return Status::Ok();
    };
    for (const auto& line : Split(text, '\n')) {
      if (line.empty()) continue;
      RETURN_IF_ERROR(silent(fmt::format("add map @{} {} {}", version, path, line)));
    }
    RETURN_IF_ERROR(silent(fmt::format("commit map @{} {}", version, path)));
  }
  // So that a later reload (or restart) has them.
  return WriteWeightMaps(maps);
}

Status LbProxies::Apply(const LoadBalancerSpec& lb, const ProxyInputs& in) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string dir = DirOf(lb.id);
  Env* env = Env::Default();
  RETURN_IF_ERROR(env->CreateDirs(dir, 0700));
  ServerSlots previous;
  if (auto it = slots_.find(lb.id); it != slots_.end()) {
    previous = it->second;
  } else if (auto text = env->ReadFile(dir + "/slots"); text.ok()) {
    previous = ParseSlots(*text);
  }
  ServerSlots slots = AssignSlots(lb, previous);
  auto record = [&] {
    applied_[lb.id] = lb;
    applied_inputs_[lb.id] = in;
    slots_[lb.id] = slots;
    return Status::Ok();
  };
  if (RunningPid(lb.id) == 0) {
    RETURN_IF_ERROR(Start(lb, in, slots));
    return record();
  }
  auto applied = applied_.find(lb.id);
  if (applied != applied_.end() && applied_inputs_[lb.id] == in) {
    if (applied->second == lb && slots_[lb.id] == slots) return Status::Ok();
    if (WithoutTargetsAndWeights(applied->second) == WithoutTargetsAndWeights(lb) &&
        SameSizes(slots_[lb.id], slots)) {
      // Targets that a group gains come before the new weights, targets it loses after
      // them, so that a request is never sent to a group the weights leave with no server.
      Status st = ApplyTargets(applied->second, slots_[lb.id], lb, slots, TargetPhase::kAdditions);
      if (st.ok()) st = ApplyWeights(applied->second, lb);
      if (st.ok()) st = ApplyTargets(applied->second, slots_[lb.id], lb, slots, TargetPhase::kRemovals);
      if (st.ok()) {
        // So that a later reload (or restart) keeps them.
        RETURN_IF_ERROR(env->WriteFileAtomic(dir + "/haproxy.cfg", RenderHaproxyConfig(lb, in, dir, slots), 0600));
        RETURN_IF_ERROR(env->WriteFileAtomic(dir + "/slots", FormatSlots(slots), 0600));
        return record();
      }
      KLOG_WARN("load balancer {}: runtime API update failed ({}); reloading HAProxy", lb.id, st.message());
      // Part of it may be in HAProxy: should the reload fail too, the next Apply must not
      // take the half-applied proxy for the old spec (it adopts it: the maps go in again).
      applied_.erase(lb.id);
    }
  } else {
    // Adopting a proxy that outlived the daemon: nothing to do when it runs this config.
    // Its weight maps are put in again: the daemon may have stopped between writing a
    // map's file and putting it into HAProxy.
    auto current = env->ReadFile(dir + "/haproxy.cfg");
    if (current.ok() && *current == RenderHaproxyConfig(lb, in, dir, slots)) {
      LoadBalancerSpec none = lb;
      none.listeners.clear();
      Status st = ApplyWeights(none, lb);
      if (st.ok()) return record();
      KLOG_WARN("load balancer {}: could not put its weights into HAProxy ({}); reloading", lb.id, st.message());
    }
  }
  Status st = Reload(lb, in, slots);
  if (st.code() == Code::kUnavailable) {
    // Its sockets do not answer (removed, or a wedged master): start it afresh.
    KLOG_WARN("load balancer {}: {}; restarting HAProxy", lb.id, st.message());
    KillLocked(lb.id);
    st = Start(lb, in, slots);
  }
  RETURN_IF_ERROR(st);
  return record();
}

std::vector<TargetObservation> TargetHealthFromStat(const LoadBalancerSpec& lb, const ServerSlots& slots,
                                                    const std::map<std::string, haproxy::ServerStat>* rows,
                                                    TargetMemo& memo, double now, bool old_workers) {
  bool alb = lb.type == model::LbType::kApplication;
  const std::set<std::string> proxied = ProxiedGroups(lb);
  std::vector<TargetObservation> out;
  TargetMemo seen;
  static const std::vector<std::string> kNone;
  for (const auto& tg : lb.target_groups) {
    auto it = slots.find(tg.id);
    const auto& keys = it == slots.end() ? kNone : it->second;
    for (const auto& t : tg.targets) {
      std::string key = SlotKey(t);
      TargetObservation o;
      double failing_since = -1;
      auto prev = memo.find(tg.id + "/" + key);
      auto slot = std::find(keys.begin(), keys.end(), key);
      if (!rows) {
        o.state = TargetHealthState::kUnavailable;
      } else if (slot == keys.end()) {
        // AWS's descriptions (see Unhealthy above).
        o = Initial(model::kReasonRegistrationInProgress);
      } else {
        size_t k = static_cast<size_t>(slot - keys.begin());
        size_t healthy = 0, nodes = 0;
        int connections = 0;
        bool counted = true;  // every row that can carry its requests was found
        const bool fail_open = proxied.count(tg.id) > 0;
        std::optional<TargetObservation> bad;
        bool mid_check = false;  // a failing row whose next check runs
        for (size_t node = 0; node < lb.nodes.size(); ++node) {
          if (fail_open) {
            // Requests also reach it through the fail-open backend (no target healthy).
            auto all = rows->find(fmt::format("bk_{}_n{}_all/s{}", tg.id, node, k + 1));
            if (all == rows->end()) {
              counted = false;
            } else {
              connections += all->second.scur + all->second.qcur;
            }
          }
          auto row = rows->find(fmt::format("bk_{}_n{}/s{}", tg.id, node, k + 1));
          if (row == rows->end()) {
            counted = false;
            continue;
          }
          ++nodes;
          const haproxy::ServerStat& s = row->second;
          connections += s.scur + s.qcur;
          bool passed = CheckPassed(s.check_status) || s.check_status.empty();
          if (s.status.rfind("UP", 0) == 0 || s.status == "no check" || (s.status.rfind("DRAIN", 0) == 0 && passed)) {
            ++healthy;
          } else if ((s.status.rfind("DOWN", 0) == 0 || s.status.rfind("DRAIN", 0) == 0) && !passed &&
                     s.check_status != "INI" && !bad) {
            // While a check runs HAProxy shows the last one's status but not its code
            // (it reads 0 until the check ends): such a row concludes nothing.
            if (s.check_running) {
              mid_check = true;
            } else {
              bad = Unhealthy(alb, s);
            }
          }
          // Otherwise (no check yet, rising, or MAINT before it is enabled): not conclusive.
        }
        const bool was_concluded = prev != memo.end() && (prev->second.last.state == TargetHealthState::kHealthy ||
                                                          prev->second.last.state == TargetHealthState::kUnhealthy);
        if (bad && !was_concluded) {
          // Never healthy yet: initial until the checks have failed the threshold's times.
          failing_since = prev != memo.end() && prev->second.failing_since >= 0 ? prev->second.failing_since : now;
          const double window = static_cast<double>(tg.health_check.interval_s) *
                                std::max(0, tg.health_check.unhealthy_threshold - 1);
          o = now - failing_since >= window ? *bad : Initial(model::kReasonInitialHealthChecking);
        } else if (bad) {
          o = *bad;
        } else if (mid_check && prev != memo.end()) {
          // What the last pass concluded stands until the running check ends.
          o = prev->second.last;
          failing_since = prev->second.failing_since;
        } else if (nodes > 0 && healthy == nodes) {
          o.state = TargetHealthState::kHealthy;
        } else if (prev != memo.end() && prev->second.last.state == TargetHealthState::kUnhealthy) {
          // Rising again after failing: still unhealthy until the checks pass, as on AWS.
          o = prev->second.last;
        } else {
          o = Initial(model::kReasonInitialHealthChecking);
        }
        // Counted only where HAProxy already drains it (no new request can reach it), and
        // only for an application load balancer: a network load balancer's traffic does
        // not pass through HAProxy (the kernel forwards it), and its deregistration lasts
        // the whole delay, as on AWS.
        o.connections = alb && t.draining && counted && !old_workers ? connections : -1;
      }
      o.target_group_id = tg.id;
      o.target_id = t.id;
      o.port = t.port;
      // The proxy did not answer: what was known before stands for the next pass.
      seen[tg.id + "/" + key] =
          o.state == TargetHealthState::kUnavailable && prev != memo.end() ? prev->second : ObservedTarget{o, failing_since};
      out.push_back(o);
    }
  }
  memo = std::move(seen);  // targets that are gone are forgotten
  return out;
}

Result<std::vector<TargetObservation>> LbProxies::Observe(const LoadBalancerSpec& lb) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string dir = DirOf(lb.id);
  ServerSlots slots;
  if (auto it = slots_.find(lb.id); it != slots_.end()) {
    slots = it->second;
  } else if (auto text = Env::Default()->ReadFile(dir + "/slots"); text.ok()) {
    slots = ParseSlots(*text);
  }
  auto stat = haproxy::Command(dir + "/admin.sock", "show stat");
  std::map<std::string, haproxy::ServerStat> rows;
  if (stat.ok()) rows = haproxy::ParseStat(*stat);
  const double now =
      std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  // The admin socket reaches the newest worker only: after a reload, the old one may still
  // carry requests to a draining target. Asked only when a target drains.
  bool draining = false;
  for (const auto& tg : lb.target_groups) {
    for (const auto& t : tg.targets) draining = draining || t.draining;
  }
  bool old_workers = false;
  if (draining) {
    // The master CLI keeps the connection open after a command; `quit` ends it.
    auto procs = haproxy::Command(dir + "/master.sock", "show proc;quit");
    old_workers = !procs.ok() || haproxy::HasOldWorkers(*procs);
  }
  return TargetHealthFromStat(lb, slots, stat.ok() ? &rows : nullptr, observed_[lb.id], now, old_workers);
}

void LbProxies::KillLocked(const std::string& lb_id) {
  int pid = RunningPid(lb_id);
  if (pid <= 0) return;
  // The master stops its workers and exits.
  kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ProcessAlive(pid) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(kPoll);
  if (ProcessAlive(pid)) kill(pid, SIGKILL);
}

Status LbProxies::StopLocked(const std::string& lb_id) {
  KillLocked(lb_id);
  applied_.erase(lb_id);
  applied_inputs_.erase(lb_id);
  slots_.erase(lb_id);
  observed_.erase(lb_id);
  return Env::Default()->RemoveAll(DirOf(lb_id));
}

Status LbProxies::Remove(const std::string& lb_id) {
  if (lb_id.empty() || lb_id.find('/') != std::string::npos || lb_id == "." || lb_id == "..") {
    return InvalidArgument("bad load balancer id: " + lb_id);
  }
  std::lock_guard<std::mutex> lock(mu_);
  return StopLocked(lb_id);
}

Status LbProxies::GarbageCollect(const std::set<std::string>& live) {
  std::lock_guard<std::mutex> lock(mu_);
  auto entries = Env::Default()->ListDir(options_.dir);
  if (!entries.ok()) return entries.status().code() == Code::kNotFound ? Status::Ok() : entries.status();
  Status first;
  for (const auto& id : *entries) {
    if (live.count(id) || id.find('/') != std::string::npos || id == "." || id == "..") continue;
    Status st = StopLocked(id);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

}  // namespace kecs::runtime::local
