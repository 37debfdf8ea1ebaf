// ECS Exec: ExecuteCommand. The session it issues is served by api/exec/stream_server.h at
// the stream URL, speaking the Session Manager data channel protocol.
#include <algorithm>
#include <regex>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "api/exec/sessions.h"
#include "api/exec/stream_server.h"
#include "reconcile/task_spec.h"
#include "state/records/tasks.h"

namespace kecs::api::ecs {
namespace {

// ECS's message for a task run without enableExecuteCommand or whose ExecuteCommandAgent
// is not running, as AWS CLI users quote it (fabfuel/ecs-deploy#193, keidarcy/e1s#206,
// with its typographic apostrophe).
constexpr const char* kNotEnabled =
    "The execute command failed because execute command was not enabled when the task was run or the execute "
    "command agent isn\u2019t running. Wait and try again or run a new task with execute command enabled and try "
    "again.";

bool AgentRunning(const model::Container& c) {
  return std::any_of(c.managed_agents.begin(), c.managed_agents.end(), [](const model::ManagedAgent& m) {
    return m.name == "ExecuteCommandAgent" && m.last_status == "RUNNING";
  });
}

}  // namespace

void EcsApi::SetExec(ExecEndpoint endpoint) { exec_ = endpoint; }

Json EcsApi::ExecuteCommand(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  // The model: "Amazon ECS only supports initiating interactive sessions, so you must
  // specify true for this value." The message is the one the AWS CLI shows for
  // --non-interactive; no source in reach quotes it, so it is unverified.
  if (!JBool(in, "interactive")) throw InvalidParameter("Interactive is the only mode supported currently.");
  static const std::regex kId("^[a-f0-9]{32}$");
  std::string id = IdFromArnOrId(JStr(in, "task"));
  // As StopTask words a task reference that is not a task id, and an unknown task.
  if (!std::regex_match(id, kId)) throw InvalidParameter("Task Identifier is invalid");
  model::Task task;
  Check(store_.Read([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    auto t = Check(state::records::GetTask(tx, ctx.region, id));
    if (!t || t->cluster != cluster) throw InvalidParameter("The referenced task was not found.");
    task = std::move(*t);
    return Status::Ok();
  }));
  if (!task.enable_execute_command || task.last_status != model::TaskStatus::kRunning ||
      task.desired_status != model::TaskStatus::kRunning) {
    throw InvalidParameter(kNotEnabled);
  }
  // The container: named, or the task's only one. The wording of both refusals is kecs's
  // (none of ECS's was found).
  std::string name = JStr(in, "container");
  const model::Container* container = nullptr;
  if (name.empty()) {
    if (task.containers.size() != 1) {
      throw InvalidParameter(fmt::format("The task has {} containers: specify the container to execute the command on.",
                                         task.containers.size()));
    }
    container = &task.containers[0];
  } else {
    for (const auto& c : task.containers) {
      if (c.name == name) container = &c;
    }
    if (!container) throw InvalidParameter(fmt::format("The container {} was not found in the task.", name));
  }
  if (container->last_status != model::ContainerStatus::kRunning || !AgentRunning(*container)) {
    throw InvalidParameter(kNotEnabled);
  }
  // The SSM agent in the container reaches Session Manager with the task role's
  // credentials (ssmmessages:*): without a task role it never connects, and ECS answers
  // with this message (aws/aws-cli#6070, aws-containers/amazon-ecs-exec-checker#47, whose
  // checker names a missing task role as its cause). kecs has no IAM policies to check, so
  // any task role counts as one that allows it.
  if (task.internal.task_role_arn.empty()) {
    throw AwsError("TargetNotConnectedException", "The execute command failed due to an internal error. Try again later.");
  }
  // TargetNotConnectedException is ECS's answer when the task's agent cannot be reached
  // (the model). kecs reaches only the containers its own runtime runs.
  if (!exec_.sessions || !exec_.runs_containers || task.internal.agent) {
    throw AwsError("TargetNotConnectedException",
                   task.internal.agent
                       ? "The execute command failed because the task is run by its container instance's own agent, "
                         "which kecs cannot reach."
                       : "The execute command failed because kecs's runtime runs no containers (the simulated "
                         "runtime): there is no process to execute the command in.");
  }
  auto argv = exec::SplitCommand(JStr(in, "command"));
  if (!argv.ok()) throw InvalidParameter(fmt::format("The command is not valid: {}", argv.status().message()));

  exec::ExecTarget target;
  target.task = reconcile::SpecFromTask(task);
  target.container = container->name;
  target.argv = std::move(*argv);
  target.interactive = true;
  exec::IssuedSession s = exec_.sessions->Issue(std::move(target));
  std::string host = ctx.host.empty() ? exec_.default_host : ctx.host;
  return Json{{"clusterArn", task.cluster_arn},
              {"containerArn", container->container_arn},
              {"containerName", container->name},
              {"interactive", true},
              {"session",
               {{"sessionId", s.session_id},
                {"streamUrl", fmt::format("ws://{}{}{}", host, exec::kStreamPath, s.session_id)},
                {"tokenValue", s.token}}},
              {"taskArn", task.task_arn}};
}

}  // namespace kecs::api::ecs
