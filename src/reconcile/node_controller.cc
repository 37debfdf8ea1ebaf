#include "reconcile/node_controller.h"

#include <set>

#include <fmt/format.h>

#include "base/log.h"
#include "model/kinds.h"
#include "runtime/kubernetes/client.h"

namespace kecs::reconcile {
namespace {

using runtime::kubernetes::NodeInfo;
using Attr = std::pair<std::string, std::optional<std::string>>;

bool ValidAttributeName(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '/' || c == '\\' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string> AttributeOf(const Json& doc, const std::string& name) {
  for (const auto& a : doc.value("attributes", Json::array())) {
    if (JStr(a, "name") == name) return JOptStr(a, "value").value_or("");
  }
  return std::nullopt;
}

std::string EcsArchitecture(const std::string& arch) {
  if (arch == "amd64" || arch.empty()) return "x86_64";
  return arch;  // arm64 is arm64 in both
}

std::string Zone(const NodeInfo& n, const std::string& region, const std::string& suffix) {
  return n.zone.empty() ? region + suffix : n.zone;
}

// The attributes a node gives its container instance, in this order.
std::vector<Attr> NodeAttributes(const NodeInfo& n, const std::string& zone) {
  std::vector<Attr> out = {
      {"ecs.availability-zone", zone},
      {"ecs.instance-type", n.instance_type.empty() ? kDefaultInstanceType : n.instance_type},
      {"ecs.cpu-architecture", EcsArchitecture(n.arch)},
      {"ecs.os-type", n.os.empty() ? "linux" : n.os},
      {kNodeAttribute, n.name},
  };
  for (const auto& [key, value] : n.labels) {
    if (!ValidAttributeName(key) || key == kNodeAttribute || key.starts_with("ecs.") ||
        key.starts_with("com.amazonaws.ecs.")) {
      continue;
    }
    out.push_back({key, value.empty() ? std::nullopt : std::optional<std::string>(value)});
  }
  return out;
}

// What changes when a cluster's instance rows do (without reading their documents): each
// row's seq, version and status. PutAttributes changes neither (the full pass covers it).
Result<std::string> Fingerprint(state::Tx& tx, const state::Object& cluster) {
  state::Query q{model::kInstance, cluster.region, cluster.name};
  ASSIGN_OR_RETURN(auto versions, tx.ListMember(q, "version"));
  ASSIGN_OR_RETURN(auto statuses, tx.ListMember(q, "status"));
  std::string out;
  for (size_t i = 0; i < versions.size() && i < statuses.size(); ++i) {
    out += fmt::format("{}:{}:{};", versions[i].first, versions[i].second, statuses[i].second);
  }
  return out;
}

bool Draining(const NodeInfo& n) {
  if (n.unschedulable) return true;
  for (const auto& t : n.taints) {
    if (t.effect == "NoSchedule" || t.effect == "NoExecute") return true;
  }
  return false;
}

// Brings a container instance row to its node's facts; true when it changed.
bool ApplyNode(state::Object& row, const NodeInfo& n, const std::string& zone) {
  Json& doc = row.doc;
  const Json before = doc;
  const std::string before_status = row.status;

  std::vector<Attr> want = NodeAttributes(n, zone);
  std::map<std::string, const Attr*> by_name;
  for (const auto& a : want) by_name[a.first] = &a;
  std::set<std::string> owned;
  for (const auto& name : doc.value("kecs:nodeAttributes", Json::array())) {
    if (name.is_string()) owned.insert(name.get<std::string>());
  }
  // In place where the attribute is (AWS's order stays), dropped when the node no longer
  // has it, appended when new; the user's own attributes are kept.
  Json attrs = Json::array(), names = Json::array();
  std::set<std::string> placed;
  auto entry = [](const Attr& a) {
    Json e = {{"name", a.first}};
    if (a.second) e["value"] = *a.second;
    return e;
  };
  for (const auto& a : doc.value("attributes", Json::array())) {
    std::string name = JStr(a, "name");
    if (auto it = by_name.find(name); it != by_name.end()) {
      if (placed.insert(name).second) attrs.push_back(entry(*it->second));
    } else if (!owned.contains(name)) {
      attrs.push_back(a);
    }
  }
  for (const auto& a : want) {
    if (!placed.contains(a.first)) attrs.push_back(entry(a));
    names.push_back(a.first);
  }
  doc["attributes"] = attrs;
  doc["kecs:nodeAttributes"] = names;

  for (auto& r : doc["registeredResources"]) {
    if (JStr(r, "name") == "CPU") r["integerValue"] = n.cpu_units;
    if (JStr(r, "name") == "MEMORY") r["integerValue"] = n.memory_mib;
  }
  doc["ec2InstanceId"] = runtime::kubernetes::NodeEc2InstanceId(n);
  doc["agentConnected"] = n.ready;
  if (n.pods > 0) doc["kecs:eniLimit"] = n.pods;  // every task is a Pod: the node's pod capacity bounds them

  bool draining = Draining(n);
  if (draining && row.status == "ACTIVE") {
    row.status = "DRAINING";
    doc["kecs:nodeDrained"] = true;
  } else if (!draining && row.status == "DRAINING" && JBool(doc, "kecs:nodeDrained")) {
    row.status = "ACTIVE";
  }
  if (row.status == "ACTIVE") doc.erase("kecs:nodeDrained");
  doc["status"] = row.status;

  if (doc == before && row.status == before_status) return false;
  doc["version"] = JInt(before, "version") + 1;
  return true;
}

}  // namespace

NodeController::NodeController(state::Store& store, NodeRegistrar& registrar, Options options, Clock& clock)
    : store_(store), registrar_(registrar), clock_(clock), options_(std::move(options)),
      loop_(options_.resync, [this] { RunOnce(); }) {}

NodeController::~NodeController() { Stop(); }

void NodeController::Start(runtime::kubernetes::Client* client) {
  loop_.Start();
  if (client) watch_ = std::thread([this, client] { WatchLoop(client); });
}

void NodeController::Stop() {
  stop_ = true;
  if (watch_.joinable()) watch_.join();
  loop_.Stop();
}

void NodeController::WatchLoop(runtime::kubernetes::Client* client) {
  client->ListWatchUntilStopped(
      "/api/v1/nodes",
      [this](const Json& list) {
        ApplyList(list);
        return Status::Ok();
      },
      [this](const runtime::kubernetes::WatchEvent& e) {
        ApplyEvent(e);
        return Status::Ok();
      },
      stop_, options_.watch_backoff,
      // Only a list the server refuses for good (403 aside: retried inside) comes back here.
      [](const Status& st) { KLOG_WARN("kubernetes nodes: cannot list /api/v1/nodes: {}", st.message()); });
}

void NodeController::SetNodes(const std::vector<NodeInfo>& nodes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    nodes_.clear();
    for (const auto& n : nodes) nodes_[n.name] = n;
    has_list_ = true;
    ++generation_;
  }
  loop_.Notify();
}

void NodeController::ApplyList(const Json& list) {
  std::vector<NodeInfo> nodes;
  for (const auto& item : list.value("items", Json::array())) {
    auto n = runtime::kubernetes::NodeFromJson(item);
    if (!n.ok()) {
      KLOG_WARN("kubernetes nodes: {}; left out", n.status().message());
      // Keep what was known of it, so that its instance is not deregistered.
      std::lock_guard<std::mutex> lock(mu_);
      auto it = nodes_.find(JStr(item.value("metadata", Json::object()), "name"));
      if (it != nodes_.end()) nodes.push_back(it->second);
      continue;
    }
    nodes.push_back(std::move(*n));
  }
  SetNodes(nodes);
}

void NodeController::ApplyEvent(const runtime::kubernetes::WatchEvent& event) {
  if (event.type == "DELETED") {
    std::string name = JStr(event.object.value("metadata", Json::object()), "name");
    std::lock_guard<std::mutex> lock(mu_);
    nodes_.erase(name);
    ++generation_;
  } else if (event.type == "ADDED" || event.type == "MODIFIED") {
    auto n = runtime::kubernetes::NodeFromJson(event.object);
    if (!n.ok()) {
      KLOG_WARN("kubernetes nodes: {}; its last facts are kept", n.status().message());
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    nodes_[n->name] = std::move(*n);
    ++generation_;
  } else {
    return;
  }
  loop_.Notify();
}

std::map<std::string, NodeInfo> NodeController::nodes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return nodes_;
}

bool NodeController::has_list() const {
  std::lock_guard<std::mutex> lock(mu_);
  return has_list_;
}

std::optional<NodeController::Known> NodeController::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!has_list_) return std::nullopt;
  return Known{nodes_, generation_};
}

Status NodeController::SyncCluster(state::Tx& tx, const state::Object& cluster, double now) {
  std::optional<Known> known = Snapshot();
  if (!known) return Status::Ok();
  return Sync(tx, cluster, known->nodes, now, true).status();
}

void NodeController::RunOnce() {
  std::optional<Known> known = Snapshot();
  if (!known) return;
  const Nodes* nodes = &known->nodes;
  double now = clock_.Now();
  if (known->generation != clean_generation_ || now - last_full_pass_ >= kFullPassSeconds) {
    clean_.clear();
    clean_generation_ = known->generation;
    last_full_pass_ = now;
  }
  // Read first: a pass that finds nothing to do opens no write transaction, and reads no
  // document of a cluster it found in sync before and whose rows have not changed since.
  std::vector<state::Object> stale;
  Status st = store_.Read([&](state::Tx& tx) -> Status {
    stale.clear();
    state::Query q{model::kCluster};
    q.any_region = true;
    q.status = "ACTIVE";
    ASSIGN_OR_RETURN(auto clusters, tx.List(q));
    for (auto& c : clusters) {
      std::string key = c.region + "/" + c.name;
      ASSIGN_OR_RETURN(std::string fingerprint, Fingerprint(tx, c));
      if (auto it = clean_.find(key); it != clean_.end() && it->second == fingerprint) continue;
      ASSIGN_OR_RETURN(bool differs, Sync(tx, c, *nodes, now, false));
      if (differs) {
        clean_.erase(key);
        stale.push_back(std::move(c));
      } else {
        clean_[key] = fingerprint;
      }
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    KLOG_WARN("kubernetes nodes: {}", st.message());
    return;
  }
  for (const auto& c : stale) {
    Status s = store_.Write([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto current, tx.Get(model::kCluster, c.region, c.id));
      if (!current || current->status != "ACTIVE") return Status::Ok();
      return Sync(tx, *current, *nodes, now, true).status();
    });
    if (!s.ok()) KLOG_WARN("kubernetes nodes: cluster {} ({}): {}", c.name, c.region, s.message());
  }
}

Result<bool> NodeController::Sync(state::Tx& tx, const state::Object& cluster, const Nodes& nodes, double now,
                                  bool write) {
  ASSIGN_OR_RETURN(auto rows, tx.List({model::kInstance, cluster.region, cluster.name}));
  std::map<std::string, state::Object> by_node;
  std::vector<std::pair<std::string, state::Object>> gone;  // node name, instance
  for (auto& r : rows) {
    if (r.status == "INACTIVE") continue;
    // Only the instances this controller made: a user's PutAttributes of kecs.dev/node on
    // another instance does not make it a node's.
    std::optional<std::string> node = AttributeOf(r.doc, kNodeAttribute);
    if (!node || !r.doc.contains("kecs:nodeAttributes")) continue;
    if (by_node.contains(*node) || !nodes.contains(*node)) {
      gone.emplace_back(*node, std::move(r));  // a second instance of one node cannot happen; if it did, one goes
    } else {
      by_node.emplace(*node, std::move(r));
    }
  }
  bool changed = false;
  for (const auto& [name, node] : nodes) {
    std::string zone = Zone(node, cluster.region, options_.zone_suffix);
    state::Object row;
    if (auto it = by_node.find(name); it != by_node.end()) {
      row = std::move(it->second);
    } else {
      if (!write) return true;
      NodeRegistration reg{runtime::kubernetes::NodeEc2InstanceId(node),
                           node.instance_type.empty() ? kDefaultInstanceType : node.instance_type, zone,
                           node.cpu_units, node.memory_mib};
      ASSIGN_OR_RETURN(std::string id, registrar_.RegisterNode(tx, cluster, reg, now));
      ASSIGN_OR_RETURN(auto made, tx.Get(model::kInstance, cluster.region, id));
      if (!made) return Internal(fmt::format("the container instance {} registered for node {} is gone", id, name));
      row = std::move(*made);
      changed = true;
      KLOG_INFO("kubernetes nodes: node {} is container instance {} of cluster {} ({})", name, id, cluster.name,
                cluster.region);
    }
    if (ApplyNode(row, node, zone)) {
      if (!write) return true;
      RETURN_IF_ERROR(tx.Put(row));
      changed = true;
    }
  }
  for (const auto& [name, row] : gone) {
    if (!write) return true;
    RETURN_IF_ERROR(registrar_.DeregisterNode(tx, row, fmt::format("Kubernetes node {} was deleted.", name), now));
    changed = true;
    KLOG_INFO("kubernetes nodes: node {} is gone; container instance {} of cluster {} ({}) deregistered", name,
              row.id, cluster.name, cluster.region);
  }
  return changed;
}

}  // namespace kecs::reconcile
