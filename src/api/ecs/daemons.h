#pragma once
// What the daemon operation files (daemon_task_definitions.cc, daemons.cc) share, and the
// pure conversions their unit tests reach without a store.
#include <optional>
#include <string>

#include "api/router.h"
#include "base/json.h"
#include "state/store.h"

namespace kecs::api::ecs {

// RegisterDaemonTaskDefinition's request as the task definition the daemon's tasks run
// (what RunTask's launch path takes), validated by RegisterTaskDefinition's own rules
// (NormalizeTaskDefinition: ECS's ClientException wording). Daemon tasks run in the
// `host` network mode: the daemon shapes carry no networkMode and no portMappings, and an
// agent on an instance sees the instance's network (AWS's docs found name no mode; this
// is kecs's choice). pidMode/ipcMode `shared` join the host's namespace (the model's
// documentation of DaemonPidMode/DaemonIpcMode), so they become `host`; `none` is the
// task's own namespace, the task definition default.
Json DaemonLaunchDefinition(const Json& in, bool strict);

// The DaemonTaskDefinition document DescribeDaemonTaskDefinition shows for a request:
// the daemon members given, containers' `essential` defaulted to true.
Json DaemonTaskDefinitionDocument(const Json& in);

// "family", "family:revision" or a daemon-task-definition ARN into family and revision
// (0: the latest ACTIVE). false when malformed.
bool SplitDaemonTaskDefinition(const std::string& ref, std::string* family, int64_t* revision);

// The daemon task definition a reference names (the latest ACTIVE revision for a bare
// family), in any status but DELETED; nullopt when there is none.
std::optional<state::Object> FindDaemonTaskDefinition(state::Tx& tx, const RequestContext& ctx,
                                                      const std::string& ref);

}  // namespace kecs::api::ecs
