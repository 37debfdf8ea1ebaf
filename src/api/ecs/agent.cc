// The agent-facing ECS operations: DiscoverPollEndpoint, SubmitTaskStateChange,
// SubmitContainerStateChange, SubmitAttachmentStateChanges, UpdateContainerAgent.
//
// Who runs a task. kecs runs every task on its own runtime, the host's container instance
// and the instances users register alike (a registered instance is capacity kecs runs
// itself), until an instance's own ECS agent connects: an agent calls
// DiscoverPollEndpoint with its container instance right after registering, to find the
// endpoint it polls for work. From then on the instance is agent-driven
// ("kecs:agent" in its document): the tasks placed on it are marked
// (TaskInternal::agent), the task controller leaves them alone, and they stay in the
// status RunTask gave them (PENDING, or PROVISIONING for awsvpc) until the agent reports.
// Tasks placed before the agent connected stay kecs's. The agent's reports then move the
// task as ECS's backend does: SubmitContainerStateChange and SubmitTaskStateChange set
// the containers' and the task's lastStatus, exit codes, reasons, network bindings,
// managed agents and timestamps; a STOPPED task report stops the task for good, which
// frees its share of the instance (placement counts only tasks not STOPPED) and lets a
// service replace it. kecs has no ACS channel (the WebSocket the agent polls), so a
// StopTask on an agent-driven task sets desiredStatus STOPPED and waits for the agent's
// STOPPED report, as ECS shows a task on an instance whose agent is disconnected.
// The task controller's hooks do not run for an agent-driven task either: kecs provisions
// no network for it (it runs on the agent's host) and registers it in no target group or
// Cloud Map service (not yet: the agent's reported bindings would be the targets).
//
// Reports about tasks kecs runs itself are refused with AccessDeniedException: only the
// agent that runs a task reports it, and a report about a task kecs's own runtime runs
// would contradict what kecs observes (kecs's wording: AWS's for this case is not
// published). Reports arrive at least once (the agent retries): a report that would move
// a container or the task backwards (RUNNING after STOPPED) is acknowledged and changes
// nothing, as is any report about a task already STOPPED.
//
// Thread-safe: all state lives in the store; each operation is one transaction.
#include "api/ecs/agent.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <regex>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "state/records/tasks.h"

namespace kecs::api::ecs {
namespace {

using model::Task;

// What an operation answers once it has taken a report. The value AWS returns is not
// documented (the model says only "Acknowledgement of the state change"); kecs says "ACK".
Json Ack() { return {{"acknowledgment", "ACK"}}; }

// UpdateContainerAgent's stages (AgentUpdateStatus), each kStageSeconds long on an
// instance kecs runs itself.
constexpr std::array<const char*, 5> kUpdateStages = {"PENDING", "STAGING", "STAGED", "UPDATING", "UPDATED"};
constexpr double kStageSeconds = 1.0;

std::string TaskIdOf(const Json& in) {
  static const std::regex kId("^[a-f0-9]{32}$");
  std::string id = IdFromArnOrId(JStr(in, "task"));
  // As StopTask words a task reference that is not a task id.
  if (!std::regex_match(id, kId)) throw InvalidParameter("Task Identifier is invalid");
  return id;
}

// The task the report is about: in `cluster`, and driven by its instance's agent.
Task RequireAgentTask(state::Tx& tx, const RequestContext& ctx, const std::string& cluster, const std::string& id) {
  auto t = Check(state::records::GetTask(tx, ctx.region, id));
  // As StopTask words an unknown task.
  if (!t || t->cluster != cluster) throw InvalidParameter("The referenced task was not found.");
  if (!t->internal.agent) {
    throw AwsError("AccessDeniedException",
                   fmt::format("The task {} is run by kecs on its own runtime, not by a container agent: "
                               "only the agent of the container instance that runs a task reports its state.",
                               t->task_arn));
  }
  return std::move(*t);
}

int Rank(model::ContainerStatus s) { return static_cast<int>(s); }
int Rank(model::TaskStatus s) { return static_cast<int>(s); }

std::optional<double> TimeOf(const Json& in, const char* key) {
  const Json* v = JGet(in, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw InvalidParameter(fmt::format("{} must be a timestamp.", key));
  return v->get<double>();
}

model::Container& ContainerOf(Task& t, const std::string& name) {
  for (auto& c : t.containers) {
    if (c.name == name) return c;
  }
  throw InvalidParameter(fmt::format("The container {} does not exist in the task {}.", name, t.task_arn));
}

// One ContainerStateChange (or SubmitContainerStateChange's request, which has the same
// members). Returns whether the container changed.
bool ApplyContainerChange(Task& t, const Json& change) {
  std::string name = JStr(change, "containerName");
  if (name.empty()) throw InvalidParameter("containerName can not be blank.");
  model::Container& c = ContainerOf(t, name);
  std::optional<model::ContainerStatus> status;
  if (auto s = JOptStr(change, "status")) {
    status = model::ParseContainerStatus(*s);
    if (!status) throw InvalidParameter(fmt::format("Container status should be one of [PENDING, RUNNING, STOPPED]: {}", *s));
    if (Rank(*status) < Rank(c.last_status)) return false;  // stale: the container is past it
  }
  Task before = t;
  if (status) c.last_status = *status;
  if (auto v = JOptStr(change, "runtimeId")) c.runtime_id = *v;
  if (auto v = JOptStr(change, "imageDigest")) c.image_digest = *v;
  if (auto v = JOptInt(change, "exitCode")) c.exit_code = static_cast<int>(*v);
  if (auto v = JOptStr(change, "reason")) c.reason = *v;
  if (const Json* nb = JGet(change, "networkBindings")) {
    c.network_bindings.clear();
    for (const auto& b : *nb) {
      model::NetworkBinding n;
      n.bind_ip = JStr(b, "bindIP");
      n.container_port = static_cast<int>(JInt(b, "containerPort"));
      n.host_port = static_cast<int>(JInt(b, "hostPort"));
      n.protocol = JStr(b, "protocol", "tcp");
      c.network_bindings.push_back(std::move(n));
    }
  }
  return !(before == t);
}

// One AttachmentStateChange for one of the task's attachments. Returns whether it changed.
bool ApplyAttachment(Task& t, const std::string& id, model::AttachmentStatus status) {
  for (auto& a : t.attachments) {
    if (a.id != id) continue;
    if (a.status == status) return false;
    a.status = status;
    return true;
  }
  return false;
}

// The attachment id of an AttachmentStateChange (its ARN ends in "attachment/<id>"; a
// bare id is taken as well) and its status.
std::pair<std::string, model::AttachmentStatus> AttachmentChange(const Json& change) {
  std::string arn = JStr(change, "attachmentArn");
  if (arn.empty()) throw InvalidParameter("attachmentArn can not be blank.");
  std::string id = arn.substr(arn.rfind('/') == std::string::npos ? 0 : arn.rfind('/') + 1);
  std::string s = JStr(change, "status");
  auto status = model::ParseAttachmentStatus(s);
  if (!status) {
    throw InvalidParameter(fmt::format(
        "Attachment status should be one of [PRECREATED, CREATED, ATTACHING, ATTACHED, DETACHING, DETACHED, "
        "DELETED, FAILED]: {}",
        s));
  }
  return {id, *status};
}

bool HasAttachment(const Task& t, const std::string& id) {
  return std::any_of(t.attachments.begin(), t.attachments.end(), [&](const auto& a) { return a.id == id; });
}

void ApplyManagedAgent(Task& t, const Json& change, double now) {
  model::Container& c = ContainerOf(t, JStr(change, "containerName"));
  std::string name = JStr(change, "managedAgentName");
  auto it = std::find_if(c.managed_agents.begin(), c.managed_agents.end(),
                         [&](const auto& m) { return m.name == name; });
  if (it == c.managed_agents.end()) {
    it = c.managed_agents.insert(c.managed_agents.end(), model::ManagedAgent{name, "", std::nullopt, std::nullopt});
  }
  it->last_status = JStr(change, "status");
  if (auto r = JOptStr(change, "reason")) it->reason = *r;
  if (it->last_status == "RUNNING") it->last_started_at = now;
}

// The task's new lastStatus as its agent reported it, with what goes with it on ECS.
void ApplyTaskStatus(Task& t, model::TaskStatus status, const std::optional<std::string>& reason, double now) {
  using model::TaskStatus;
  t.last_status = status;
  if (Rank(status) >= Rank(TaskStatus::kRunning) && !t.started_at && status != TaskStatus::kStopped) t.started_at = now;
  if (status == TaskStatus::kRunning) {
    t.connectivity = model::Connectivity::kConnected;
    if (!t.connectivity_at) t.connectivity_at = now;
  }
  if (Rank(status) >= Rank(TaskStatus::kDeactivating)) {
    t.desired_status = TaskStatus::kStopped;
    if (!t.stopping_at) t.stopping_at = now;
  }
  if (status != TaskStatus::kStopped) return;
  if (!t.execution_stopped_at) t.execution_stopped_at = now;
  t.stopped_at = now;
  if (!t.stopped_reason && reason) t.stopped_reason = *reason;
  bool essential_exited = false;
  for (auto& c : t.containers) {
    auto d = std::find_if(t.internal.containers.begin(), t.internal.containers.end(),
                          [&](const auto& def) { return def.name == c.name; });
    bool essential = d == t.internal.containers.end() || d->essential;
    if (essential && c.last_status == model::ContainerStatus::kStopped) essential_exited = true;
    c.last_status = model::ContainerStatus::kStopped;  // a stopped task has no live container
  }
  if (!t.stop_code) {
    if (essential_exited && t.started_at) {
      t.stop_code = model::StopCode::kEssentialContainerExited;
    } else if (!t.started_at) {
      t.stop_code = model::StopCode::kTaskFailedToStart;
    }
  }
}

// "1.82.0" as numbers; nullopt when it is not a version kecs can compare.
std::optional<std::vector<int>> ParseVersion(const std::string& v) {
  static const std::regex kVersion(R"(^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$)");
  std::smatch m;
  if (!std::regex_match(v, m, kVersion)) return std::nullopt;
  return std::vector<int>{std::stoi(m[1]), std::stoi(m[2]), std::stoi(m[3])};
}

}  // namespace

void ShowAgentUpdate(const Json& stored, double now, Json& view) {
  const Json* u = JGet(stored, "kecs:agentUpdate");
  if (!u) return;
  // An agent-driven instance takes its update from ECS over ACS, which kecs does not
  // serve: the update stays PENDING, as ECS shows one whose agent has not acted on it.
  size_t stage = 0;
  if (!JBool(*u, "agent")) {
    double elapsed = now - u->value("startedAt", now);
    stage = std::min(kUpdateStages.size() - 1, static_cast<size_t>(std::max(0.0, std::floor(elapsed / kStageSeconds))));
  }
  view["agentUpdateStatus"] = kUpdateStages[stage];
  if (stage == kUpdateStages.size() - 1) {
    Json vi = view.value("versionInfo", Json::object());
    vi["agentVersion"] = JStr(*u, "to");
    view["versionInfo"] = vi;
  }
}

Json EcsApi::DiscoverPollEndpoint(RequestContext& ctx, const Json& in) {
  std::optional<std::string> ref = JOptStr(in, "containerInstance");
  if (ref || JOptStr(in, "cluster")) {
    std::string cluster = ClusterName(in);
    Check(store_.Write([&](state::Tx& tx) {
      auto c = Check(tx.Get(kCluster, ctx.region, cluster));
      // DiscoverPollEndpoint has no ClusterNotFoundException in its model; ECS's generic
      // ClientException with RegisterContainerInstance's wording.
      if (!c || c->status != "ACTIVE") throw ClientException("Cluster not found.");
      if (!ref) return Status::Ok();
      auto inst = Check(tx.Get(kInstance, ctx.region, IdFromArnOrId(*ref)));
      if (!inst || inst->parent != cluster || inst->status == "INACTIVE") {
        throw InvalidParameter("The referenced container instance was not found.");
      }
      // The host's own instance is kecs's: its "agent" is kecs itself.
      if (!JBool(inst->doc, "kecs:managed") && !JBool(inst->doc, "kecs:agent")) {
        inst->doc["kecs:agent"] = true;
        inst->doc["agentConnected"] = true;
        Check(tx.Put(*inst));
      }
      return Status::Ok();
    }));
  }
  // ECS answers its own agent endpoints (https://ecs-a-1.<region>.amazonaws.com/ and
  // ecs-t-1 for telemetry: "Amazon ECS endpoint naming patterns" in the developer guide).
  // kecs serves the agent at its own endpoint, the one the request came to, over HTTP.
  std::string base = ctx.host.empty() ? fmt::format("ecs.{}.amazonaws.com", ctx.region) : ctx.host;
  std::string url = fmt::format("http://{}/", base);
  return {{"endpoint", url}, {"telemetryEndpoint", url}, {"serviceConnectEndpoint", url}};
}

Json EcsApi::SubmitContainerStateChange(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  std::string id = TaskIdOf(in);
  Check(store_.Write([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    Task t = RequireAgentTask(tx, ctx, cluster, id);
    if (t.last_status == model::TaskStatus::kStopped) return Status::Ok();
    if (ApplyContainerChange(t, in)) {
      if (t.last_status == model::TaskStatus::kRunning) t.version += 1;
      Check(state::records::PutTask(tx, t));
    }
    return Status::Ok();
  }));
  return Ack();
}

Json EcsApi::SubmitTaskStateChange(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  std::string id = TaskIdOf(in);
  std::optional<model::TaskStatus> status;
  if (auto s = JOptStr(in, "status")) {
    status = model::ParseTaskStatus(*s);
    if (!status) {
      throw InvalidParameter(fmt::format(
          "Task status should be one of [PROVISIONING, PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING, "
          "DEPROVISIONING, STOPPED]: {}",
          *s));
    }
  }
  double now = Ts(ctx);
  Check(store_.Write([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    Task t = RequireAgentTask(tx, ctx, cluster, id);
    if (t.last_status == model::TaskStatus::kStopped) return Status::Ok();
    Task before = t;
    if (const Json* cs = JGet(in, "containers")) {
      for (const auto& c : *cs) ApplyContainerChange(t, c);
    }
    if (const Json* as = JGet(in, "attachments")) {
      for (const auto& a : *as) {
        auto [aid, astatus] = AttachmentChange(a);
        if (!HasAttachment(t, aid)) throw InvalidParameter(fmt::format("The attachment {} was not found.", JStr(a, "attachmentArn")));
        ApplyAttachment(t, aid, astatus);
      }
    }
    if (const Json* ms = JGet(in, "managedAgents")) {
      for (const auto& m : *ms) ApplyManagedAgent(t, m, now);
    }
    if (auto v = TimeOf(in, "pullStartedAt")) t.pull_started_at = *v;
    if (auto v = TimeOf(in, "pullStoppedAt")) t.pull_stopped_at = *v;
    if (auto v = TimeOf(in, "executionStoppedAt")) t.execution_stopped_at = *v;
    if (status && Rank(*status) > Rank(t.last_status)) ApplyTaskStatus(t, *status, JOptStr(in, "reason"), now);
    if (t.last_status != before.last_status) t.version += 1;
    if (!(t == before)) Check(state::records::PutTask(tx, t));
    return Status::Ok();
  }));
  return Ack();
}

Json EcsApi::SubmitAttachmentStateChanges(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  const Json& changes = in.at("attachments");
  if (changes.empty()) throw InvalidParameter("attachments can not be empty.");
  Check(store_.Write([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    auto tasks = Check(state::records::ListTasks(tx, {kTask, ctx.region, cluster}));
    for (const auto& change : changes) {
      auto [id, status] = AttachmentChange(change);
      auto it = std::find_if(tasks.begin(), tasks.end(), [&](const Task& t) { return HasAttachment(t, id); });
      if (it == tasks.end()) {
        throw InvalidParameter(fmt::format("The attachment {} was not found.", JStr(change, "attachmentArn")));
      }
      Task& t = *it;
      RequireAgentTask(tx, ctx, cluster, t.id);
      if (t.last_status == model::TaskStatus::kStopped) continue;
      if (ApplyAttachment(t, id, status)) Check(state::records::PutTask(tx, t));
    }
    return Status::Ok();
  }));
  return Ack();
}

Json EcsApi::UpdateContainerAgent(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  std::string ref = JStr(in, "containerInstance");
  double now = Ts(ctx);
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    auto inst = Check(tx.Get(kInstance, ctx.region, IdFromArnOrId(ref)));
    if (!inst || inst->parent != cluster || inst->status == "INACTIVE") {
      throw InvalidParameter("The referenced container instance was not found.");
    }
    // Where the update stands now, and the version it left the agent at.
    Json current = inst->doc;
    ShowAgentUpdate(inst->doc, now, current);
    std::string stage = JStr(current, "agentUpdateStatus");
    // AWS's runtime messages for these three are not published: each says its error
    // shape's documentation in the ECS model (service-2.json).
    if (stage == "PENDING" || stage == "STAGING" || stage == "STAGED" || stage == "UPDATING") {
      throw AwsError("UpdateInProgressException",
                     "There's already a current Amazon ECS container agent update in progress on the container "
                     "instance that's specified.");
    }
    const Json* vi = JGet(current, "versionInfo");
    auto version = vi ? ParseVersion(JStr(*vi, "agentVersion")) : std::nullopt;
    if (!version) {
      throw AwsError("MissingVersionException",
                     "Amazon ECS can't determine the current version of the Amazon ECS container agent on the "
                     "container instance and doesn't have enough information to proceed with an update.");
    }
    if (*version >= *ParseVersion(kLatestAgentVersion)) {
      throw AwsError("NoUpdateAvailableException",
                     "There's no update available for this Amazon ECS container agent: it already runs the "
                     "latest version.");
    }
    inst->doc["versionInfo"] = *vi;  // a finished earlier update's version, kept
    inst->doc["agentUpdateStatus"] = "PENDING";
    inst->doc["kecs:agentUpdate"] = {{"startedAt", now}, {"to", kLatestAgentVersion},
                                     {"agent", JBool(inst->doc, "kecs:agent")}};
    inst->doc["version"] = JInt(inst->doc, "version") + 1;
    Check(tx.Put(*inst));
    out = {{"containerInstance", InstanceView(tx, ctx, *inst)}};
    return Status::Ok();
  }));
  return out;
}

}  // namespace kecs::api::ecs
