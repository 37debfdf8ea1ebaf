#include "api/ecs/placement.h"

#include <algorithm>
#include <functional>
#include <map>
#include <random>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "base/strings.h"
#include "model/cluster_query.h"
#include "model/instance_types.h"
#include "net/domain/vpc.h"

namespace kecs::api::ecs {

namespace {

// What placement reads of a task that is not STOPPED: its row's status and region, its
// internal "placement" and its group. Read with SQLite's json_extract rather than through
// Tx::List, which decodes every task's whole document and internal object: RunTask reads
// this for every live task of the cluster (or of the host) inside the write transaction.
struct LivePlacement {
  std::string region;
  std::string status;
  Json placement;  // null when the task has none
  std::string group;
};

std::vector<LivePlacement> LivePlacements(state::Tx& tx, const std::string* region,
                                          const std::string* cluster, bool groups) {
  std::string sql = fmt::format(
      "SELECT region, status, json_extract(internal, '$.\"placement\"'), {} FROM objects "
      "WHERE kind = ? AND status <> 'STOPPED'",
      groups ? "json_extract(doc, '$.\"group\"')" : "NULL");
  if (region) sql += " AND region = ? AND parent = ?";
  sql += " ORDER BY seq";
  auto stmt = tx.conn().Prepare(sql);
  if (!stmt.ok()) Check(stmt.status());
  state::Stmt& st = *stmt;
  st.Bind(1, std::string_view(kTask));
  if (region) st.Bind(2, *region).Bind(3, *cluster);
  std::vector<LivePlacement> out;
  while (st.Step()) {
    LivePlacement& p = out.emplace_back();
    p.region = st.Text(0);
    p.status = st.Text(1);
    if (!st.IsNull(2)) p.placement = ParseJson(st.Text(2)).value_or(Json());
    p.group = st.Text(3);
  }
  Check(st.status());
  return out;
}

}  // namespace

std::map<std::string, InstanceUsage> UsageByInstance(state::Tx& tx, const std::string& region,
                                                     const std::string& cluster, bool groups) {
  std::map<std::string, InstanceUsage> out;
  for (const auto& t : LivePlacements(tx, &region, &cluster, groups)) {
    const Json* p = t.placement.is_object() ? &t.placement : nullptr;
    if (!p) continue;
    InstanceUsage& u = out[JStr(*p, "instance")];
    u.cpu += JInt(*p, "cpu");
    u.memory += JInt(*p, "memory");
    if (const Json* ports = JGet(*p, "ports")) {
      for (const auto& pp : *ports) u.ports.insert({JStr(pp, "protocol"), JInt(pp, "port")});
    }
    if (JBool(*p, "eni")) ++u.enis;
    if (t.status == "RUNNING") ++u.running; else ++u.pending;
    if (groups) ++u.groups[t.group];
  }
  return out;
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
  for (const auto& t : LivePlacements(tx, nullptr, nullptr, /*groups=*/false)) {
    const Json* p = t.placement.is_object() ? &t.placement : nullptr;
    if (!p || !counts(t.region, JStr(*p, "instance"))) continue;
    for (const auto& pp : p->value("ports", Json::array())) out.insert({JStr(pp, "protocol"), JInt(pp, "port")});
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
