#include "api/ecs/placement.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <unordered_map>

#include <sqlite3.h>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "base/strings.h"
#include "model/cluster_query.h"
#include "model/instance_types.h"
#include "net/domain/vpc.h"

namespace kecs::api::ecs {

namespace {

// What placement reads of a task that is not STOPPED, besides its status: its row's
// region and cluster, its internal "placement" and its group.
struct TaskPlacementFacts {
  std::string region;
  std::string cluster;
  bool placed = false;
  std::string instance;
  int64_t cpu = 0;
  int64_t memory = 0;
  std::vector<std::pair<std::string, int64_t>> ports;
  bool eni = false;
  std::string group;
};

struct LivePlacement {
  bool running = false;  // RUNNING (else another live status)
  std::shared_ptr<const TaskPlacementFacts> facts;
};

// A task row's region and cluster never change, nor its placement once set (RunTask sets
// it when it inserts the task, capacity_scaling's PlaceTask when a waiting task is placed),
// nor its group; a task without a placement past PROVISIONING (FARGATE's) never gets one
// (only a task waiting for capacity, PROVISIONING, is placed later). So these facts, read
// once from a committed row, stay true for as long as the row lives, and its seq names no
// other row ever after (AUTOINCREMENT never hands out a seq that was committed). The memo
// keeps them by seq, so that each RunTask reads of the live tasks only the (seq, status)
// of the objects_by_status index (no row of the table, no JSON), and reads and decodes the
// rows of only the tasks it has not seen yet. Only a read-only connection (Store::Read: a
// snapshot of committed rows) fills it, so nothing a transaction later rolled back (whose
// seq may then be handed out again) is ever in it; a write transaction uses it and reads
// the rest itself. It lives in memory only, starts empty and is derived from the store: a
// restart loses nothing.
class PlacementMemo {
 public:
  static PlacementMemo& Get() {
    static PlacementMemo memo;
    return memo;
  }

  // The memo's facts for each seq, or null; switches to (and empties for) the database at
  // `path` when it serves another one.
  void Lookup(const std::string& path, const std::vector<int64_t>& seqs,
              std::vector<std::shared_ptr<const TaskPlacementFacts>>& out) {
    std::lock_guard<std::mutex> lock(mu_);
    SwitchTo(path);
    out.assign(seqs.size(), nullptr);
    for (size_t i = 0; i < seqs.size(); ++i) {
      auto it = by_seq_.find(seqs[i]);
      if (it != by_seq_.end()) out[i] = it->second;
    }
  }

  // Records the facts of `fresh`, read from committed rows; `live` is every live task of
  // the snapshot they were read in: the others (stopped or deleted since) are dropped.
  void Fill(const std::string& path, const std::vector<int64_t>& live,
            const std::vector<std::pair<int64_t, std::shared_ptr<const TaskPlacementFacts>>>& fresh) {
    std::lock_guard<std::mutex> lock(mu_);
    SwitchTo(path);
    std::unordered_map<int64_t, std::shared_ptr<const TaskPlacementFacts>> kept;
    kept.reserve(live.size());
    for (int64_t seq : live) {
      auto it = by_seq_.find(seq);
      if (it != by_seq_.end()) kept.emplace(seq, std::move(it->second));
    }
    by_seq_.swap(kept);
    for (const auto& [seq, facts] : fresh) by_seq_[seq] = facts;
    unseen_.store(0);
  }

  // Tasks a write transaction found missing since the last Fill (WarmPlacements).
  void NoteUnseen(int n) { unseen_ += n; }
  int unseen() const { return unseen_.load(); }

 private:
  void SwitchTo(const std::string& path) {
    if (path == path_) return;
    path_ = path;
    by_seq_.clear();
  }

  std::atomic<int> unseen_{0};
  std::mutex mu_;
  std::string path_;
  std::unordered_map<int64_t, std::shared_ptr<const TaskPlacementFacts>> by_seq_;
};

std::shared_ptr<const TaskPlacementFacts> ReadFacts(state::Tx& tx, int64_t seq) {
  auto stmt = tx.conn().Prepare(
      "SELECT region, parent, json_extract(internal, '$.\"placement\"'), json_extract(doc, '$.\"group\"') "
      "FROM objects WHERE seq = ?");
  if (!stmt.ok()) Check(stmt.status());
  state::Stmt& st = *stmt;
  st.Bind(1, seq);
  auto f = std::make_shared<TaskPlacementFacts>();
  if (st.Step()) {
    f->region = st.Text(0);
    f->cluster = st.Text(1);
    if (!st.IsNull(2)) {
      Json p = ParseJson(st.Text(2)).value_or(Json());
      if (p.is_object()) {
        f->placed = true;
        f->instance = JStr(p, "instance");
        f->cpu = JInt(p, "cpu");
        f->memory = JInt(p, "memory");
        if (const Json* ports = JGet(p, "ports")) {
          for (const auto& pp : *ports) f->ports.emplace_back(JStr(pp, "protocol"), JInt(pp, "port"));
        }
        f->eni = JBool(p, "eni");
      }
    }
    f->group = st.Text(3);
  }
  Check(st.status());
  return f;
}

// The live tasks (of one cluster, or of every region and cluster), in no particular order.
std::vector<LivePlacement> LivePlacements(state::Tx& tx, const std::string* region,
                                          const std::string* cluster) {
  // (kind, status) and the rowid: objects_by_status covers it, no row of the table is read.
  std::vector<int64_t> seqs;
  std::vector<int> statuses;  // 1 RUNNING, 2 PROVISIONING, 0 another live status
  {
    auto stmt = tx.conn().Prepare(
        "SELECT seq, CASE status WHEN 'RUNNING' THEN 1 WHEN 'PROVISIONING' THEN 2 ELSE 0 END FROM objects "
        "WHERE kind = ? AND status <> 'STOPPED'");
    if (!stmt.ok()) Check(stmt.status());
    state::Stmt& st = *stmt;
    st.Bind(1, std::string_view(kTask));
    while (st.Step()) {
      seqs.push_back(st.Int(0));
      statuses.push_back(static_cast<int>(st.Int(1)));
    }
    Check(st.status());
  }
  sqlite3* db = tx.conn().raw();
  const char* file = sqlite3_db_filename(db, "main");
  std::string path = file ? file : "";
  PlacementMemo& memo = PlacementMemo::Get();
  std::vector<std::shared_ptr<const TaskPlacementFacts>> known;
  if (!path.empty()) memo.Lookup(path, seqs, known);
  known.resize(seqs.size());
  std::vector<std::pair<int64_t, std::shared_ptr<const TaskPlacementFacts>>> fresh;
  std::vector<LivePlacement> out;
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (!known[i]) {
      known[i] = ReadFacts(tx, seqs[i]);
      // One still PROVISIONING without a placement may be waiting for capacity: it is
      // read again until it has one or is past PROVISIONING.
      if (known[i]->placed || statuses[i] != 2) fresh.emplace_back(seqs[i], known[i]);
    }
    if (region && (known[i]->region != *region || known[i]->cluster != *cluster)) continue;
    out.push_back({statuses[i] == 1, std::move(known[i])});
  }
  if (path.empty()) return out;
  if (sqlite3_db_readonly(db, "main") == 1) {
    memo.Fill(path, seqs, fresh);
  } else if (!fresh.empty()) {
    memo.NoteUnseen(static_cast<int>(fresh.size()));
  }
  return out;
}

}  // namespace

std::map<std::string, InstanceUsage> UsageByInstance(state::Tx& tx, const std::string& region,
                                                     const std::string& cluster, bool groups) {
  std::map<std::string, InstanceUsage> out;
  for (const auto& t : LivePlacements(tx, &region, &cluster)) {
    const TaskPlacementFacts& f = *t.facts;
    if (!f.placed) continue;
    InstanceUsage& u = out[f.instance];
    u.cpu += f.cpu;
    u.memory += f.memory;
    for (const auto& pp : f.ports) u.ports.insert(pp);
    if (f.eni) ++u.enis;
    if (t.running) ++u.running; else ++u.pending;
    if (groups) ++u.groups[f.group];
  }
  return out;
}

void WarmPlacements(state::Tx& tx, const std::string& region, const std::string& cluster) {
  // Once write transactions have met a few tasks the memo lacks: a read of every live
  // task's (seq, status) is not free either, so not on every call.
  constexpr int kWarmAfter = 16;
  if (PlacementMemo::Get().unseen() < kWarmAfter) return;
  LivePlacements(tx, &region, &cluster);
}

bool PlacementReadsGroups(const PlacementRequest& req) {
  for (const auto& s : req.strategy) {
    if (JStr(s, "type") == "spread") return true;
  }
  for (const auto& c : req.constraints) {
    // Any expression that mentions a group, however it is spelled.
    if (JStr(c, "type") == "memberOf" && ToLower(JStr(c, "expression")).find("group") != std::string::npos) return true;
  }
  return false;
}

bool OnEc2Instance(state::Tx& tx, const std::string& region, const state::Object& inst) {
  std::string id = JStr(inst.doc, "ec2InstanceId");
  return !id.empty() && Check(tx.Get(net::kEc2Instance, region, id)).has_value();
}

namespace {
// The ports of the live tasks whose container instance `counts`.
std::set<std::pair<std::string, int64_t>> PortsOfTasks(
    state::Tx& tx, const std::function<bool(const std::string& region, const std::string& instance)>& counts) {
  std::set<std::pair<std::string, int64_t>> out;
  for (const auto& t : LivePlacements(tx, nullptr, nullptr)) {
    const TaskPlacementFacts& f = *t.facts;
    if (!f.placed || !counts(f.region, f.instance)) continue;
    for (const auto& pp : f.ports) out.insert(pp);
  }
  return out;
}
}  // namespace

std::set<std::pair<std::string, int64_t>> HostPortsInUse(state::Tx& tx) {
  std::map<std::string, bool> on_ec2;  // "<region>/<container instance>" -> OnEc2Instance
  return PortsOfTasks(tx, [&](const std::string& region, const std::string& instance) {
    auto [it, fresh] = on_ec2.try_emplace(region + "/" + instance, false);
    if (fresh) {
      auto ci = Check(tx.Get(kInstance, region, instance));
      it->second = ci && OnEc2Instance(tx, region, *ci);
    }
    return !it->second;
  });
}

std::set<std::pair<std::string, int64_t>> HostPortsOn(state::Tx& tx, const std::string& instance_id) {
  return PortsOfTasks(tx, [&](const std::string&, const std::string& instance) { return instance == instance_id; });
}

int64_t RegisteredInt(const Json& inst, const std::string& name) {
  for (const auto& r : inst.value("registeredResources", Json::array())) {
    if (JStr(r, "name") == name) return JInt(r, "integerValue");
  }
  return 0;
}

int EniTaskLimit(const std::string& type, bool trunking) {
  // From the instance-type catalog (model/instance_types.h); an unlisted type is treated
  // as m5.large.
  const model::InstanceType* t = model::FindInstanceType(type);
  if (!t) t = model::FindInstanceType("m5.large");
  return model::AwsvpcTaskLimit(*t, trunking);
}

namespace {

std::optional<std::string> Attribute(const Json& inst, const std::string& name) {
  for (const auto& a : inst.value("attributes", Json::array())) {
    if (JStr(a, "name") == name) return JOptStr(a, "value").value_or("");
  }
  return std::nullopt;
}

}  // namespace

void ValidatePlacementConstraints(const Json& constraints) {
  if (!constraints.is_array()) return;
  for (const auto& c : constraints) {
    if (JStr(c, "type") != "memberOf") continue;
    auto q = model::ClusterQuery::Parse(JStr(c, "expression"));
    if (!q.ok()) throw InvalidParameter("The placement constraint expression is invalid: " + q.status().message());
  }
}

PlacementResult PlaceInto(const std::vector<state::Object>& candidates,
                          std::map<std::string, InstanceUsage>& usage, const PlacementRequest& req) {
  PlacementResult out;
  bool distinct = false;
  std::vector<model::ClusterQuery> member_of;
  for (const auto& c : req.constraints) {
    std::string type = JStr(c, "type");
    if (type == "distinctInstance") {
      distinct = true;
    } else if (type == "memberOf") {
      auto q = model::ClusterQuery::Parse(JStr(c, "expression"));
      if (!q.ok()) throw InvalidParameter("The placement constraint expression is invalid: " + q.status().message());
      member_of.push_back(std::move(*q));
    }
  }
  std::set<std::string> used_by_this_call;
  std::mt19937_64 rng(std::random_device{}());

  for (int n = 0; n < req.count; ++n) {
    struct Fit { const state::Object* inst; int64_t cpu_left, mem_left; };
    std::vector<Fit> fits;
    std::string closest_arn, closest_reason;
    for (const auto& inst : candidates) {
      const InstanceUsage& u = usage[inst.id];
      std::string reason;
      auto lookup = [&](const std::string& subject) -> std::vector<std::string> {
        auto one = [](std::optional<std::string> v) {
          return v ? std::vector<std::string>{*v} : std::vector<std::string>{};
        };
        if (subject.starts_with("attribute:")) return one(Attribute(inst.doc, subject.substr(10)));
        if (subject == "ec2InstanceId") return one(JOptStr(inst.doc, "ec2InstanceId"));
        // As ListContainerInstances filters it: the stored value (false once the
        // instance is deregistered or its agent is gone).
        if (subject == "agentConnected") return {JBool(inst.doc, "agentConnected") ? "true" : "false"};
        if (subject == "runningTasksCount") return {std::to_string(u.running)};
        if (subject == "task:group") {
          std::vector<std::string> groups;
          for (const auto& [g, cnt] : u.groups) {
            if (cnt > 0) groups.push_back(g);
          }
          return groups;
        }
        return {};
      };
      int64_t cpu_left = RegisteredInt(inst.doc, "CPU") - u.cpu;
      int64_t mem_left = RegisteredInt(inst.doc, "MEMORY") - u.memory;
      if (inst.status != "ACTIVE") {
        reason = "INACTIVE";
      } else if (req.needs.cpu > cpu_left) {
        reason = "RESOURCE:CPU";
      } else if (req.needs.memory > mem_left) {
        reason = "RESOURCE:MEMORY";
      } else {
        for (const auto& [proto, port] : req.needs.static_ports) {
          bool reserved = proto == "tcp" && std::find(kReservedPorts.begin(), kReservedPorts.end(),
                                                      port) != kReservedPorts.end();
          bool this_host = req.host_ports && !(req.own_host_ports && req.own_host_ports->count(inst.id));
          bool taken = u.ports.count({proto, port}) || (this_host && req.host_ports->count({proto, port}));
          if (reserved || taken) reason = "RESOURCE:PORTS";
        }
        if (reason.empty() && !req.needs.zones.empty()) {
          std::string az = Attribute(inst.doc, "ecs.availability-zone").value_or("");
          if (std::find(req.needs.zones.begin(), req.needs.zones.end(), az) == req.needs.zones.end()) {
            reason = "LOCATION";
          }
        }
        if (reason.empty() && req.needs.eni &&
            u.enis >= JInt(inst.doc, "kecs:eniLimit", EniTaskLimit("m5.large", false))) {
          reason = "RESOURCE:ENI";
        }
        if (reason.empty()) {
          for (const auto& a : req.needs.required_attributes) {
            if (!Attribute(inst.doc, a)) reason = "ATTRIBUTE";
          }
        }
        if (reason.empty()) {
          for (const auto& q : member_of) {
            if (!q.Matches(lookup)) reason = "ATTRIBUTE";
          }
        }
        if (reason.empty() && distinct && used_by_this_call.count(inst.id)) {
          reason = "DistinctInstance placement constraint unsatisfied.";
        }
      }
      if (!reason.empty()) {
        if (closest_arn.empty()) {
          closest_arn = JStr(inst.doc, "containerInstanceArn");
          closest_reason = reason;
        }
        continue;
      }
      fits.push_back({&inst, cpu_left, mem_left});
    }
    if (fits.empty()) {
      Json f = {{"arn", closest_arn}, {"reason", closest_reason}};
      bool dup = false;
      for (const auto& e : out.failures) dup = dup || e == f;
      if (!dup && !closest_arn.empty()) out.failures.push_back(f);
      continue;
    }
    // Order by the strategies, the first strategy deciding first.
    std::shuffle(fits.begin(), fits.end(), rng);
    for (auto it = req.strategy.rbegin(); it != req.strategy.rend(); ++it) {
      std::string type = JStr(*it, "type"), field = JStr(*it, "field");
      if (type == "binpack") {
        bool mem = field == "memory" || field == "MEMORY";
        std::stable_sort(fits.begin(), fits.end(), [&](const Fit& a, const Fit& b) {
          return mem ? a.mem_left < b.mem_left : a.cpu_left < b.cpu_left;
        });
      } else if (type == "spread") {
        // Fewest tasks of this request's group in the same value of `field`.
        std::map<std::string, int> per_value;
        auto value_of = [&](const state::Object& inst) -> std::string {
          if (field == "instanceId" || field == "host") return inst.id;
          if (field.starts_with("attribute:")) return Attribute(inst.doc, field.substr(10)).value_or("");
          return inst.id;
        };
        for (const auto& inst : candidates) {
          per_value[value_of(inst)] += usage[inst.id].groups[req.needs.group];
        }
        std::stable_sort(fits.begin(), fits.end(), [&](const Fit& a, const Fit& b) {
          return per_value[value_of(*a.inst)] < per_value[value_of(*b.inst)];
        });
      }
    }
    const state::Object& chosen = *fits.front().inst;
    out.instances.push_back(chosen.id);
    used_by_this_call.insert(chosen.id);
    InstanceUsage& u = usage[chosen.id];
    u.cpu += req.needs.cpu;
    u.memory += req.needs.memory;
    for (const auto& p : req.needs.static_ports) {
      u.ports.insert(p);
      if (req.host_ports && !(req.own_host_ports && req.own_host_ports->count(chosen.id))) req.host_ports->insert(p);
    }
    if (req.needs.eni) ++u.enis;
    ++u.pending;
    ++u.groups[req.needs.group];
  }
  return out;
}

}  // namespace kecs::api::ecs
