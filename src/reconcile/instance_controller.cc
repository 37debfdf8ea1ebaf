#include "reconcile/instance_controller.h"

#include "model/ec2_instance.h"

#include <set>

#include <fmt/format.h>

#include "base/log.h"
#include "model/kinds.h"
#include "net/domain/ip.h"
#include "net/domain/vpc.h"
#include "reconcile/network_hooks.h"
#include "reconcile/task_spec.h"
#include "state/records/tasks.h"

namespace kecs::reconcile {
namespace {



// The container instance row the instance's agent registered, if any.
Result<std::optional<state::Object>> ContainerInstanceOf(state::Tx& tx, const state::Object& inst) {
  std::string id = JStr(inst.doc, "kecs:containerInstance");
  if (id.empty()) return std::optional<state::Object>();
  return tx.Get(model::kInstance, inst.region, id);
}

// Every ACTIVE container instance that names this EC2 instance: the one its agent
// registered, and any registered by hand with its identity document
// (RegisterContainerInstance), in whatever cluster.
Result<std::vector<state::Object>> ContainerInstancesOn(state::Tx& tx, const state::Object& inst) {
  state::Query q{model::kInstance, inst.region};
  q.doc_equals = {{"ec2InstanceId", inst.id}};
  ASSIGN_OR_RETURN(auto rows, tx.List(q));
  std::erase_if(rows, [](const state::Object& o) { return o.status != "ACTIVE"; });
  return rows;
}

// Stops the live tasks placed on container instance `ci` with `reason`; returns how many
// have not reached STOPPED yet.
Result<int> StopTasksOn(state::Tx& tx, const state::Object& ci, const std::string& reason, double now) {
  state::Query q{model::kTask, ci.region, ci.parent};
  q.internal_equals.emplace_back("placement.instance", ci.id);
  ASSIGN_OR_RETURN(auto tasks, state::records::ListTasks(tx, q));
  int live = 0;
  for (auto& t : tasks) {
    if (t.last_status == model::TaskStatus::kStopped) continue;
    ++live;
    if (t.desired_status == model::TaskStatus::kStopped) continue;
    t.desired_status = model::TaskStatus::kStopped;
    t.stopped_reason = reason;
    // As ECS reports a task whose host went away ("StopCode: TerminationNotice" beside
    // "Host EC2 (instance i-...) terminated." in tasks users have dumped from AWS).
    t.stop_code = model::StopCode::kTerminationNotice;
    t.stopping_at = EpochMillis(now);
    ++t.version;
    RETURN_IF_ERROR(state::records::PutTask(tx, t));
  }
  return live;
}

Status SetAgent(state::Tx& tx, state::Object& ci, bool connected, bool active) {
  bool changed = JBool(ci.doc, "agentConnected") != connected || (ci.status == "ACTIVE") != active;
  if (!changed) return Status::Ok();
  ci.doc["agentConnected"] = connected;
  if (!active) {
    ci.status = "INACTIVE";
    ci.doc["status"] = "INACTIVE";
  }
  ci.doc["version"] = JInt(ci.doc, "version") + 1;
  return tx.Put(ci);
}

}  // namespace

std::string HostStoppedReason(const std::string& instance_id, bool terminated) {
  // ECS's text, as tasks and AWS Batch jobs of a reclaimed host quote it: "Host EC2
  // (instance i-03dba81187d65ce7e) terminated." and "Host EC2 (instance i-06aab...)
  // stopped." (found in public code and incident notes that match on it).
  return fmt::format("Host EC2 (instance {}) {}.", instance_id, terminated ? "terminated" : "stopped");
}

InstanceController::InstanceController(state::Store& store, runtime::Runtime& runtime, InstanceAgent& agent,
                                       Options options, Clock& clock)
    : store_(store), runtime_(runtime), agent_(agent), clock_(clock), options_(options),
      loop_(options_.resync, [this] { RunOnce(); }) {}

Status InstanceController::GarbageCollect() {
  std::set<std::string> live;
  RETURN_IF_ERROR(store_.Read([&](state::Tx& tx) {
    state::Query q{net::kEc2Instance};
    q.any_region = true;
    ASSIGN_OR_RETURN(auto all, tx.List(q));
    for (const auto& o : all) {
      if (o.status != "terminated") live.insert(o.id);
    }
    return Status::Ok();
  }));
  return runtime_.GarbageCollectInstanceHosts(live);
}

void InstanceController::RunOnce() {
  std::vector<state::Object> all;
  Status st = store_.Read([&](state::Tx& tx) {
    state::Query q{net::kEc2Instance};
    q.any_region = true;
    ASSIGN_OR_RETURN(all, tx.List(q));
    return Status::Ok();
  });
  if (!st.ok()) {
    KLOG_WARN("instances: {}", st.message());
    return;
  }
  double now = clock_.Now();
  for (const auto& o : all) {
    if (Status s = Advance(o, now); !s.ok()) KLOG_WARN("instance {}: {}", o.id, s.message());
  }
}

Status InstanceController::Advance(const state::Object& seen, double now) {
  const std::string& state = seen.status;
  // Re-reads the instance in a write transaction and applies `step` when it is still in
  // the state this pass saw.
  auto write = [&](const std::function<Status(state::Tx&, state::Object&)>& step) {
    return store_.Write([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto o, tx.Get(net::kEc2Instance, seen.region, seen.id));
      if (!o || o->status != state) return Status::Ok();
      return step(tx, *o);
    });
  };
  auto set_state = [](state::Object& o, const std::string& next) {
    o.status = next;
    o.doc["State"] = model::InstanceState(next);
  };
  // The ECS agent: register, or reconnect the container instance registered before.
  auto agent = [&](state::Tx& tx, state::Object& o) -> Status {
    std::string cluster = JStr(o.doc, "kecs:ecsCluster");
    if (cluster.empty()) return Status::Ok();
    ASSIGN_OR_RETURN(auto ci, ContainerInstanceOf(tx, o));
    if (ci && ci->status == "ACTIVE") {
      if (JBool(ci->doc, "agentConnected")) return Status::Ok();
      RETURN_IF_ERROR(SetAgent(tx, *ci, true, true));
      return tx.Put(o);
    }
    auto id = agent_.RegisterInstance(tx, o, cluster, now);
    if (!id.ok()) {
      if (JStr(o.doc, "kecs:agentError") != id.status().message()) {
        KLOG_WARN("instance {}: the ECS agent cannot register into cluster {}: {}", o.id, cluster, id.status().message());
        o.doc["kecs:agentError"] = id.status().message();
        return tx.Put(o);
      }
      return Status::Ok();
    }
    o.doc["kecs:containerInstance"] = *id;
    o.doc.erase("kecs:agentError");
    return tx.Put(o);
  };

  // The host's network: the primary ENI's facts, as an awsvpc task's (EniFacts may assign
  // the VPC's transit slot, hence a write transaction).
  auto host_spec = [&](runtime::InstanceHostSpec& spec) -> Status {
    spec.instance_id = seen.id;
    return store_.Write([&](state::Tx& tx) -> Status {
      std::string eni_id, subnet_id = JStr(seen.doc, "SubnetId");
      for (const auto& n : seen.doc.value("NetworkInterfaces", Json::array())) {
        if (JInt(n.value("Attachment", Json::object()), "DeviceIndex", -1) == 0) eni_id = JStr(n, "NetworkInterfaceId");
      }
      ASSIGN_OR_RETURN(auto eni, tx.Get(net::kEni, seen.region, eni_id));
      ASSIGN_OR_RETURN(auto subnet, tx.Get(net::kSubnet, seen.region, subnet_id));
      if (!eni || !subnet) return NotFound(fmt::format("the primary interface {} or subnet {} is gone", eni_id, subnet_id));
      ASSIGN_OR_RETURN(model::TaskEni facts, EniFacts(tx, seen.region, *eni, *subnet));
      ASSIGN_OR_RETURN(facts.internet_egress, net::SubnetIsPublic(tx, seen.region, *subnet));
      spec.network = EniNetworkSpec(facts);
      return Status::Ok();
    });
  };
  const std::string key = seen.region + "/" + seen.id;

  if (state == "pending") {
    runtime::InstanceHostSpec spec;
    RETURN_IF_ERROR(host_spec(spec));
    RETURN_IF_ERROR(runtime_.ApplyInstanceHost(spec));
    applied_.insert(key);
    RETURN_IF_ERROR(write([&](state::Tx& tx, state::Object& o) -> Status {
      set_state(o, "running");
      RETURN_IF_ERROR(tx.Put(o));
      return agent(tx, o);
    }));
    if (options_.host_running) options_.host_running(seen);
    return Status::Ok();
  }
  if (state == "running") {
    // Once per controller (after a daemon restart: the VPC resolver listens again, what
    // exists is adopted), and whenever the host is gone (`kecs cleanup`, a reboot).
    if (!applied_.contains(key) || (runtime_.has_data_plane() && !runtime_.InstanceNetns(seen.id))) {
      runtime::InstanceHostSpec spec;
      RETURN_IF_ERROR(host_spec(spec));
      RETURN_IF_ERROR(runtime_.ApplyInstanceHost(spec));
      applied_.insert(key);
    }
    if (options_.host_running) options_.host_running(seen);
    if (JStr(seen.doc, "kecs:ecsCluster").empty() || !JStr(seen.doc, "kecs:containerInstance").empty()) {
      return Status::Ok();
    }
    return write(agent);
  }
  if (state == "stopping" || state == "shutting-down") {
    bool terminating = state == "shutting-down";
    int live = 0;
    RETURN_IF_ERROR(write([&](state::Tx& tx, state::Object& o) -> Status {
      live = 0;  // the transaction may run again
      ASSIGN_OR_RETURN(auto cis, ContainerInstancesOn(tx, o));
      for (auto& ci : cis) {
        RETURN_IF_ERROR(SetAgent(tx, ci, false, true));
        ASSIGN_OR_RETURN(int n, StopTasksOn(tx, ci, HostStoppedReason(o.id, terminating), now));
        live += n;
      }
      return Status::Ok();
    }));
    if (live > 0) return Status::Ok();  // the task controller stops them; a later pass goes on
    if (options_.host_deleting) options_.host_deleting(seen);
    RETURN_IF_ERROR(runtime_.DeleteInstanceHost(seen.id));
    applied_.erase(key);
    return write([&](state::Tx& tx, state::Object& o) -> Status {
      if (!terminating) {
        set_state(o, "stopped");
        return tx.Put(o);
      }
      ASSIGN_OR_RETURN(auto cis, ContainerInstancesOn(tx, o));
      for (auto& ci : cis) RETURN_IF_ERROR(SetAgent(tx, ci, false, false));
      // DeleteOnTermination interfaces go, and their addresses with them; a terminated
      // instance shows no network, as EC2 shows it.
      for (const auto& n : o.doc.value("NetworkInterfaces", Json::array())) {
        if (JBool(n.value("Attachment", Json::object()), "DeleteOnTermination")) {
          RETURN_IF_ERROR(net::DeleteEni(tx, o.region, JStr(n, "NetworkInterfaceId")));
        }
      }
      o.doc["NetworkInterfaces"] = Json::array();
      o.doc["SecurityGroups"] = Json::array();
      o.doc["PrivateDnsName"] = "";
      for (const char* k : {"PrivateIpAddress", "PublicIpAddress", "SubnetId", "VpcId"}) o.doc.erase(k);
      o.doc["PublicDnsName"] = "";
      o.doc["BlockDeviceMappings"] = Json::array();
      o.doc["kecs:terminatedAt"] = now;
      set_state(o, "terminated");
      return tx.Put(o);
    });
  }
  if (state == "terminated" && now - seen.doc.value("kecs:terminatedAt", now) > model::kTerminatedVisibleSeconds) {
    return write([&](state::Tx& tx, state::Object& o) -> Status {
      ASSIGN_OR_RETURN(bool gone, tx.Delete(net::kEc2Instance, o.region, o.id));
      (void)gone;
      return Status::Ok();
    });
  }
  return Status::Ok();
}

}  // namespace kecs::reconcile
