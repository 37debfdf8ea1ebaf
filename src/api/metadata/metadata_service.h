#pragma once
// The task metadata (v3, v4) and task role credentials endpoint at 169.254.170.2:80.
//
// Each task with a network namespace of its own gets a listener inside it (opened at
// before_start, re-opened at adopt after a daemon restart, closed at before_delete); a
// request on it is answered for that task only, so another task's metadata or
// credentials id is refused there as unknown. Host-mode tasks share one listener in the
// host's namespace, where a request is answered for the host-mode task the id in its
// URI belongs to. All listeners are served by one api::HttpServer (AddListener), whose
// request tag says which listener a request came in on.
//
// Paths, as the ECS agent serves them: /v4/<id>, /v4/<id>/task, /v4/<id>/taskWithTags,
// /v4/<id>/stats, /v4/<id>/task/stats, the same under /v3 (no taskWithTags), and
// /v2/credentials/<credentials id> (and /v1/credentials?id=). Errors are the agent's:
// metadata errors a JSON string with 404 (v4) or 400/500 (v3), credentials errors
// {"code","message","HTTPErrorCode"} with 400.
//
// Stats come from Runtime::Stats; the sample a request reads becomes the next request's
// precpu_stats once it is a second old. Thread-safe.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "api/http/server.h"
#include "api/metadata/credentials.h"
#include "api/metadata/metadata_json.h"
#include "base/clock.h"
#include "model/task.h"
#include "net/kernel/metadata_listener.h"
#include "runtime/runtime.h"
#include "state/store.h"

namespace kecs::api::metadata {

// Opens a listener at `address` inside network namespace `netns` and serves it on `server`
// under `tag`, unless a listener with that tag is open already (a task's metadata
// endpoint, an instance's IMDS). `what` names the endpoint in errors.
Status OpenNetnsListenerOnce(HttpServer& server, const std::string& netns, const std::string& tag,
                             const net::MetadataAddress& address, const char* what);

class MetadataService {
 public:
  struct Options {
    // The host-mode listener's bridge: "<runtime prefix>-md", aliased "kecs:metadata".
    std::string host_link = "kecs-md";
    // The host-mode redirect's nft table: "<runtime prefix>_metadata".
    std::string host_table = "kecs_metadata";
    int threads = 2;
  };

  // The task's current record; nullopt when there is none. Called on the I/O threads.
  using TaskReader = std::function<Result<std::optional<model::Task>>(const std::string& region, const std::string& id)>;
  // Reads tasks from the store.
  static TaskReader StoreReader(state::Store& store);

  // `runtime` and `clock` must outlive the service.
  MetadataService(TaskReader tasks, runtime::Runtime& runtime, CredentialsIssuer issuer, Options options,
                  const Clock& clock);
  ~MetadataService();

  // Starts serving (the listeners opened so far and those opened later).
  void Start();
  // Closes every listener and the host bridge; idempotent.
  void Stop();

  // Opens the task's listener: in its namespace, or (host mode) registers it with the
  // shared host listener, opening that when needed. A runtime without a data plane has
  // no namespace: nothing is opened. Idempotent. A host listener that cannot be opened
  // (another daemon holds 169.254.170.2:80 in the host's namespace) is logged, not
  // returned: the task runs without the endpoint.
  Status Open(const model::Task& task, const runtime::TaskSpec& spec);
  // Closes the task's listener and its connections. No-op when it has none.
  void Close(const std::string& region, const std::string& task_id);

  // The tag of a task's own listener.
  static std::string TaskTag(const std::string& region, const std::string& task_id);
  static constexpr const char* kHostTag = "host";
  // Lets the host listener answer for a host-mode task (Open does it; tests call it).
  void RegisterHostTask(const model::Task& task);
  // Lets SecretFor know the task's credentials (Open does it; tests call it).
  void RegisterCredentials(const model::Task& task);

  // The secret of task role credentials this service issued and that have not expired:
  // for SigV4 (Router::Options::temporary_credentials), so a task's SDK may call kecs's
  // API with its role's credentials when kecs checks signatures. nullopt for a key or
  // token it did not issue, or a task whose endpoint is closed.
  std::optional<std::string> SecretFor(const std::string& access_key, const std::string& session_token);

  // Answers one request (public for tests: `r.listener` says which listener it came on).
  HttpResponse Handle(const HttpRequest& r);

  // Issue 18: the agent's task scale-in protection endpoint, $ECS_AGENT_URI/task-protection/v1/state
  // (ECS_AGENT_URI = http://169.254.170.2/api/<metadata id>): GET is GetTaskProtection and
  // PUT {"ProtectionEnabled", "ExpiresInMinutes"} UpdateTaskProtection for the task, in the
  // agent's shapes (amazon-ecs-agent agent/handlers/agentapi/taskprotection/v1):
  // {"protection": ProtectedTask}, {"failure": Failure} or {"error": {Arn, Code, Message}}.
  // As the agent, it calls ECS with the task role's credentials: a task without a role is
  // refused (403 AccessDeniedException).
  struct ProtectionUpdate {
    bool enabled = false;
    std::optional<int64_t> minutes;
  };
  // ECS's answer ({"protectedTasks", "failures"}) for the task; `update` nullopt: get.
  // InvalidArgument is ECS's InvalidParameterException.
  using ProtectionFn = std::function<Result<Json>(const model::Task& task, const std::optional<ProtectionUpdate>& update)>;
  // Through the ECS API's own functions (api/ecs/task_protection.h) on the store.
  static ProtectionFn StoreProtection(state::Store& store, const Clock& clock);
  // Serves the endpoint (without it the path is not found). Call before Start.
  void SetProtection(ProtectionFn fn) { protection_ = std::move(fn); }

 private:
  struct Key {
    std::string region, id;
    auto operator<=>(const Key&) const = default;
  };
  // The task a request on `listener` may see for metadata id `id` (or credentials id, with
  // `credentials`); nullopt when the listener does not serve it.
  Result<std::optional<model::Task>> Lookup(const std::string& listener, const std::string& id, bool credentials);
  HttpResponse Metadata(const HttpRequest& r, int version, const std::string& id, const std::string& rest);
  HttpResponse Credentials(const HttpRequest& r, const std::string& id, bool v1);
  HttpResponse TaskProtection(const HttpRequest& r, const std::string& id);
  // One container's stats (`container`), or the task's by DockerId ("").
  HttpResponse Stats(const model::Task& task, const std::string& container, int version);
  Status EnsureHostListener();  // requires mu_
  std::optional<Context::Clock> ClockState() const;

  const TaskReader tasks_;
  runtime::Runtime& runtime_;
  const CredentialsIssuer issuer_;
  const Options options_;
  const Clock& clock_;
  HttpServer server_;
  ProtectionFn protection_;  // set before Start

  std::mutex mu_;
  // Guarded by mu_.
  std::map<std::string, Key> host_metadata_ids_;     // metadata id -> host-mode task
  std::map<std::string, Key> host_credentials_ids_;  // credentials id -> host-mode task
  std::set<Key> host_tasks_;
  std::map<std::string, Key> role_credentials_;      // credentials id -> task with a role and an endpoint
  bool host_listener_ = false;
  bool stopped_ = false;
  // Per container ("<task id>/<name>"): the sample before the last one, and the last.
  struct Samples {
    std::optional<runtime::ContainerStats> prev, last;
  };
  std::map<std::string, Samples> samples_;
};

}  // namespace kecs::api::metadata
