#include "api/metadata/metadata_service.h"

#include <sys/timex.h>

#include <algorithm>

#include <openssl/crypto.h>

#include "api/ecs/task_protection.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/strings.h"
#include "model/arn.h"
#include "net/kernel/metadata_listener.h"
#include "reconcile/task_spec.h"
#include "state/records/tasks.h"

namespace kecs::api::metadata {
namespace {

HttpResponse JsonResponse(int status, const Json& body) {
  HttpResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

// The agent answers metadata errors with a JSON string (utils.WriteJSONResponse of the
// message).
HttpResponse MessageResponse(int status, const std::string& message) { return JsonResponse(status, Json(message)); }

// The agent's credentials errors (ecs-agent/tmds/handlers/utils ErrorMessage:
// {"code","message","HTTPErrorCode"}), codes and messages from
// ecs-agent/tmds/handlers/v1/credentials_handler.go.
HttpResponse CredentialsError(int status, const std::string& code, const std::string& message) {
  return JsonResponse(status, Json{{"code", code}, {"message", message}, {"HTTPErrorCode", status}});
}

// What gorilla/mux answers for a path no route matches.
HttpResponse NotFoundPage() {
  HttpResponse r;
  r.status = 404;
  r.headers = {{"Content-Type", "text/plain; charset=utf-8"}};
  r.body = "404 page not found\n";
  return r;
}

// The agent's task-protection answers (agent/handlers/agentapi/taskprotection/v1/types:
// TaskProtectionResponse, written by Go's encoding/json: members named as the Go fields,
// nil pointers null, the error's Arn left out when empty, requestID only with one).
HttpResponse ProtectionError(int status, const std::string& arn, const std::string& code, const std::string& message,
                             const std::string& request_id = "") {
  // Members in the Go structs' order, as encoding/json writes them.
  Json e = Json::object();
  if (!arn.empty()) e["Arn"] = arn;
  e["Code"] = code;
  e["Message"] = message;
  Json body = Json::object();
  if (!request_id.empty()) body["requestID"] = request_id;
  body["error"] = e;
  return JsonResponse(status, body);
}

// A time.Time as Go's encoding/json writes it: RFC 3339, the fraction without trailing
// zeros ("2026-12-05T11:00:00Z", "2026-12-05T11:00:00.25Z").
std::string GoTime(double epoch_seconds) {
  std::string s = Iso8601(epoch_seconds);  // "...:ss.mmmZ"
  size_t dot = s.rfind('.');
  if (dot == std::string::npos) return s;
  size_t end = s.size() - 1;  // the 'Z'
  size_t last = end;
  while (last > dot + 1 && s[last - 1] == '0') --last;
  if (last == dot + 1) return s.substr(0, dot) + "Z";
  return s.substr(0, last) + "Z";
}

// ECS's ProtectedTask and Failure as the agent's aws-sdk-go structs encode them.
Json AgentProtection(const Json& p) {
  Json out = {{"ExpirationDate", nullptr}, {"ProtectionEnabled", p.value("protectionEnabled", false)},
              {"TaskArn", p.value("taskArn", "")}};
  if (const Json* exp = JGet(p, "expirationDate")) out["ExpirationDate"] = GoTime(exp->get<double>());
  return out;
}
Json AgentFailure(const Json& f) {
  Json out = {{"Arn", f.value("arn", "")}, {"Detail", nullptr}, {"Reason", f.value("reason", "")}};
  if (const Json* d = JGet(f, "detail")) out["Detail"] = *d;
  return out;
}

// The PUT body as the agent decodes it (a json.Decoder with DisallowUnknownFields into
// {ProtectionEnabled *bool; ExpiresInMinutes *int64}; Go matches member names without
// regard to case). nullopt when it does not decode.
struct ProtectionRequest {
  std::optional<bool> enabled;
  std::optional<int64_t> minutes;
};
std::optional<ProtectionRequest> DecodeProtectionRequest(const std::string& body) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  ProtectionRequest out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string key = ToLower(it.key());
    if (key == "protectionenabled") {
      if (it->is_boolean()) {
        out.enabled = it->get<bool>();
      } else if (!it->is_null()) {
        return std::nullopt;
      }
    } else if (key == "expiresinminutes") {
      if (it->is_number_integer()) {
        out.minutes = it->get<int64_t>();
      } else if (!it->is_null()) {
        return std::nullopt;
      }
    } else {
      return std::nullopt;
    }
  }
  return out;
}

bool SameSecret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

const model::ContainerDefinition* ByMetadataId(const model::Task& t, const std::string& id) {
  if (id.empty()) return nullptr;
  for (const auto& c : t.internal.containers) {
    if (c.metadata_id == id) return &c;
  }
  return nullptr;
}

}  // namespace

std::string MetadataService::TaskTag(const std::string& region, const std::string& task_id) {
  return "task:" + region + "/" + task_id;
}

MetadataService::TaskReader MetadataService::StoreReader(state::Store& store) {
  return [&store](const std::string& region, const std::string& id) -> Result<std::optional<model::Task>> {
    std::optional<model::Task> task;
    RETURN_IF_ERROR(store.Read([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(task, state::records::GetTask(tx, region, id));
      return Status::Ok();
    }));
    return task;
  };
}

MetadataService::MetadataService(TaskReader tasks, runtime::Runtime& runtime, CredentialsIssuer issuer,
                                 Options options, const Clock& clock)
    : tasks_(std::move(tasks)),
      runtime_(runtime),
      issuer_(std::move(issuer)),
      options_(std::move(options)),
      clock_(clock),
      server_([this](const HttpRequest& r) { return Handle(r); },
              HttpServer::Options{.threads = options_.threads, .body_limit = 64 * 1024}) {}

MetadataService::~MetadataService() { Stop(); }

void MetadataService::Start() { server_.Start(); }

void MetadataService::Stop() {
  bool remove_link = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    remove_link = host_listener_;
    host_listener_ = false;
  }
  server_.Shutdown(std::chrono::seconds(1));
  if (remove_link) {
    if (Status st = net::RemoveHostListener(options_.host_link, options_.host_table); !st.ok()) {
      KLOG_WARN("metadata: cannot remove {}: {}", options_.host_link, st.message());
    }
  }
}

void MetadataService::RegisterHostTask(const model::Task& task) {
  std::lock_guard<std::mutex> lock(mu_);
  Key key{task.region, task.id};
  host_tasks_.insert(key);
  for (const auto& c : task.internal.containers) {
    if (!c.metadata_id.empty()) host_metadata_ids_[c.metadata_id] = key;
  }
  if (!task.internal.credentials_id.empty()) host_credentials_ids_[task.internal.credentials_id] = key;
}

void MetadataService::RegisterCredentials(const model::Task& task) {
  if (task.internal.credentials_id.empty() || task.internal.task_role_arn.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  role_credentials_[task.internal.credentials_id] = Key{task.region, task.id};
}

std::optional<std::string> MetadataService::SecretFor(const std::string& access_key,
                                                      const std::string& session_token) {
  if (!access_key.starts_with("ASIA") || session_token.empty()) return std::nullopt;
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, key] : role_credentials_) ids.push_back(id);
  }
  double now = clock_.Now();
  // This window's credentials, and the last window's while they have not expired.
  for (double at : {now, now - CredentialsIssuer::kRotationSeconds}) {
    for (const auto& id : ids) {
      RoleCredentials c = issuer_.Issue(id, "", at);
      if (c.expiration <= now) continue;
      if (SameSecret(c.access_key_id, access_key) && SameSecret(c.token, session_token)) return c.secret_access_key;
    }
  }
  return std::nullopt;
}

Status MetadataService::EnsureHostListener() {
  if (host_listener_) return Status::Ok();
  ASSIGN_OR_RETURN(int fd, net::OpenHostListener(options_.host_link, "kecs:metadata", options_.host_table));
  RETURN_IF_ERROR(server_.AddListener(fd, kHostTag));
  host_listener_ = true;
  return Status::Ok();
}

Status MetadataService::Open(const model::Task& task, const runtime::TaskSpec& spec) {
  std::optional<std::string> ns = runtime_.MetadataNetns(spec);
  if (!ns) return Status::Ok();  // nothing runs: no namespace to serve in
  RegisterCredentials(task);
  if (ns->empty()) {
    RegisterHostTask(task);
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return Status::Ok();
    if (Status st = EnsureHostListener(); !st.ok()) {
      KLOG_WARN("task {}: no task metadata endpoint for host-mode tasks: {}", task.id, st.message());
    }
    return Status::Ok();
  }
  Status st = OpenNetnsListenerOnce(server_, *ns, TaskTag(task.region, task.id), {}, "the task metadata endpoint");
  if (st.ok()) KLOG_DEBUG("task {}: metadata endpoint open in {}", task.id, *ns);
  return st;
}

Status OpenNetnsListenerOnce(HttpServer& server, const std::string& netns, const std::string& tag,
                             const net::MetadataAddress& address, const char* what) {
  for (const auto& t : server.ListenerTags()) {
    if (t == tag) return Status::Ok();
  }
  auto fd = net::OpenNetnsListener(netns, address);
  if (!fd.ok()) return Status(fd.status().code(), fmt::format("cannot serve {}: {}", what, fd.status().message()));
  Status st = server.AddListener(*fd, tag);
  if (st.code() == Code::kAlreadyExists) return Status::Ok();
  return st;
}

void MetadataService::Close(const std::string& region, const std::string& task_id) {
  server_.RemoveListener(TaskTag(region, task_id));
  bool close_host = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Key key{region, task_id};
    std::erase_if(host_metadata_ids_, [&](const auto& kv) { return kv.second == key; });
    std::erase_if(host_credentials_ids_, [&](const auto& kv) { return kv.second == key; });
    std::erase_if(role_credentials_, [&](const auto& kv) { return kv.second == key; });
    std::erase_if(samples_, [&](const auto& kv) { return kv.first.starts_with(task_id + "/"); });
    if (host_tasks_.erase(key) && host_tasks_.empty() && host_listener_) {
      host_listener_ = false;
      close_host = true;
    }
  }
  if (close_host) {
    // The last host-mode task is gone: so is the shared listener and its bridge.
    server_.RemoveListener(kHostTag);
    if (Status st = net::RemoveHostListener(options_.host_link, options_.host_table); !st.ok()) {
      KLOG_WARN("metadata: cannot remove {}: {}", options_.host_link, st.message());
    }
  }
}

Result<std::optional<model::Task>> MetadataService::Lookup(const std::string& listener, const std::string& id,
                                                           bool credentials) {
  Key key;
  if (listener.starts_with("task:")) {
    std::string rest = listener.substr(5);
    size_t slash = rest.find('/');
    if (slash == std::string::npos) return std::optional<model::Task>();
    key = Key{rest.substr(0, slash), rest.substr(slash + 1)};
  } else if (listener == kHostTag) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto& ids = credentials ? host_credentials_ids_ : host_metadata_ids_;
    auto it = ids.find(id);
    if (it == ids.end()) return std::optional<model::Task>();
    key = it->second;
  } else {
    return std::optional<model::Task>();  // not a metadata listener
  }
  ASSIGN_OR_RETURN(std::optional<model::Task> task, tasks_(key.region, key.id));
  if (!task) return task;
  bool match = credentials ? SameSecret(task->internal.credentials_id, id) && !id.empty()
                           : ByMetadataId(*task, id) != nullptr;
  if (!match) return std::optional<model::Task>();
  return task;
}

HttpResponse MetadataService::Handle(const HttpRequest& r) {
  {
    // /api/<metadata id>/task-protection/v1/state (GET, PUT).
    std::string path(r.Path());
    constexpr std::string_view kApi = "/api/", kState = "/task-protection/v1/state";
    if (protection_ && path.starts_with(kApi) && path.ends_with(kState) &&
        path.size() > kApi.size() + kState.size()) {
      std::string id = path.substr(kApi.size(), path.size() - kApi.size() - kState.size());
      if (id.find('/') == std::string::npos) return TaskProtection(r, id);
    }
  }
  if (r.method != "GET") {
    HttpResponse out;
    out.status = 405;  // gorilla/mux: a route matched but not its method
    return out;
  }
  std::string path(r.Path());
  for (int version : {4, 3}) {
    std::string prefix = "/v" + std::to_string(version) + "/";
    if (!path.starts_with(prefix)) continue;
    std::string rest = path.substr(prefix.size());
    size_t slash = rest.find('/');
    std::string id = rest.substr(0, slash);
    std::string sub = slash == std::string::npos ? "" : rest.substr(slash);
    return Metadata(r, version, id, sub);
  }
  if (path == "/v2/credentials" || path == "/v2/credentials/") return Credentials(r, "", false);
  if (path.starts_with("/v2/credentials/")) {
    std::string id = path.substr(std::string("/v2/credentials/").size());
    if (id.find('/') != std::string::npos) return NotFoundPage();
    return Credentials(r, id, false);
  }
  if (path == "/v1/credentials") {
    std::string id;
    for (const auto& kv : Split(r.QueryString(), '&')) {
      if (kv.rfind("id=", 0) == 0) UrlDecode(kv.substr(3), &id, false);
    }
    return Credentials(r, id, true);
  }
  return NotFoundPage();
}

std::optional<Context::Clock> MetadataService::ClockState() const {
  timex tx{};
  int state = ntp_adjtime(&tx);
  if (state < 0) return std::nullopt;
  Context::Clock c;
  c.error_bound_ms = static_cast<double>(tx.maxerror) / 1000.0;
  c.synchronized = state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
  c.reference = clock_.Now();
  return c;
}

HttpResponse MetadataService::Metadata(const HttpRequest& r, int version, const std::string& id,
                                       const std::string& sub) {
  enum class What { kContainer, kTask, kTaskWithTags, kStats, kTaskStats } what;
  if (sub.empty()) {
    what = What::kContainer;
  } else if (sub == "/task") {
    what = What::kTask;
  } else if (sub == "/taskWithTags" && version == 4) {
    what = What::kTaskWithTags;
  } else if (sub == "/stats") {
    what = What::kStats;
  } else if (sub == "/task/stats") {
    what = What::kTaskStats;
  } else {
    return NotFoundPage();
  }
  auto found = Lookup(r.listener, id, false);
  if (!found.ok()) {
    KLOG_WARN("metadata: {}", found.status().message());
    return MessageResponse(500, what == What::kContainer ? "failed to get container metadata"
                                                         : what == What::kStats || what == What::kTaskStats
                                                               ? "failed to get stats"
                                                               : "failed to get task metadata");
  }
  if (!*found) {
    // The agent's words for an endpoint id it does not know (amazon-ecs-agent
    // agent/handlers/v4/tmdsstate.go and v3/*_handler.go). v4 answers 404; v3 answers 400,
    // except its task handler, which answers 500.
    const std::string docker = "unable to get container ID from request: unable to get docker ID from v3 endpoint ID: " + id;
    const std::string arn = "unable to get task arn from request: unable to get task Arn from v3 endpoint ID: " + id;
    if (version == 4) {
      switch (what) {
        case What::kContainer: return MessageResponse(404, "V4 container metadata handler: " + docker);
        case What::kTask:
        case What::kTaskWithTags: return MessageResponse(404, "V4 task metadata handler: " + arn);
        case What::kStats: return MessageResponse(404, "V4 container stats handler: " + arn);
        case What::kTaskStats: return MessageResponse(404, "V4 task stats handler: " + arn);
      }
    }
    switch (what) {
      case What::kContainer: return MessageResponse(400, "V3 container metadata handler: " + docker);
      case What::kTask:
      case What::kTaskWithTags: return MessageResponse(500, "V3 task metadata handler: " + arn);
      case What::kStats: return MessageResponse(400, "V3 container stats handler: " + arn);
      case What::kTaskStats: return MessageResponse(400, "V3 task stats handler: " + arn);
    }
  }
  model::Task& task = **found;
  // A container started a moment ago may ask before the task controller has recorded its
  // runtime id: take it from the runtime, so its DockerId never changes under it.
  if (std::any_of(task.containers.begin(), task.containers.end(),
                  [](const model::Container& c) { return !c.runtime_id || c.runtime_id->empty(); })) {
    if (auto states = runtime_.Inspect(reconcile::SpecFromTask(task)); states.ok()) {
      for (const auto& s : states->containers) {
        for (auto& c : task.containers) {
          if (c.name == s.name && (!c.runtime_id || c.runtime_id->empty()) && !s.runtime_id.empty()) {
            c.runtime_id = s.runtime_id;
          }
        }
      }
    }
  }
  const model::ContainerDefinition* def = ByMetadataId(task, id);
  Context ctx;
  ctx.version = version;
  if (version >= 4) ctx.clock = ClockState();
  switch (what) {
    case What::kContainer: return JsonResponse(200, ContainerDocument(task, *def, ctx));
    case What::kTask: return JsonResponse(200, TaskDocument(task, ctx));
    case What::kTaskWithTags: {
      Json doc = TaskDocument(task, ctx);
      Json tags = Json::object();
      for (const auto& t : task.tags) tags[t.key] = t.value;
      if (!tags.empty()) doc["TaskTags"] = std::move(tags);
      return JsonResponse(200, doc);
    }
    case What::kStats: return Stats(task, def->name, version);
    case What::kTaskStats: return Stats(task, "", version);
  }
  return NotFoundPage();
}

HttpResponse MetadataService::Stats(const model::Task& task, const std::string& container, int version) {
  auto stats = runtime_.Stats(reconcile::SpecFromTask(task));
  if (!stats.ok()) {
    KLOG_DEBUG("task {}: stats: {}", task.id, stats.status().message());
    // ecs-agent's ErrorStatsFetchFailure reasons.
    return MessageResponse(500, container.empty() ? "Unable to get task stats for: " + task.task_arn
                                                  : "Unable to get container stats for: " + DockerId(task, container));
  }
  Json out = Json::object();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& s : *stats) {
    if (!container.empty() && s.name != container) continue;
    Samples& samples = samples_[task.id + "/" + s.name];
    // A sample becomes the next one's "before" once it is a second old, so precpu_stats
    // spans at least a second, as Docker's stream (one sample a second) does.
    if (samples.last && s.read_at - samples.last->read_at >= 1.0) {
      samples.prev = samples.last;
      samples.last = s;
    } else if (!samples.last) {
      samples.last = s;
    }
    std::optional<runtime::ContainerStats> before = samples.prev;
    if (before && before->read_at >= s.read_at) before.reset();
    Json doc = StatsDocument(task, s, before, version);
    if (!container.empty()) return JsonResponse(200, doc);
    out[DockerId(task, s.name)] = std::move(doc);
  }
  if (!container.empty()) {
    return MessageResponse(500, "Unable to get container stats for: " + DockerId(task, container));
  }
  return JsonResponse(200, out);
}

MetadataService::ProtectionFn MetadataService::StoreProtection(state::Store& store, const Clock& clock) {
  return [&store, &clock](const model::Task& task, const std::optional<ProtectionUpdate>& update) -> Result<Json> {
    std::optional<model::Arn> arn = model::Arn::Parse(task.task_arn);
    api::ecs::ProtectionScope scope{task.region, arn ? arn->account : "", task.cluster};
    double now = EpochMillis(clock.Now());
    api::ecs::ProtectionAnswer answer;
    if (!update) {
      RETURN_IF_ERROR(store.Read([&](state::Tx& tx) -> Status {
        ASSIGN_OR_RETURN(answer, api::ecs::GetTaskProtection(tx, scope, {task.task_arn}, now));
        return Status::Ok();
      }));
      return answer.ToJson();
    }
    int minutes = api::ecs::kDefaultProtectionMinutes;
    if (update->enabled) {
      ASSIGN_OR_RETURN(minutes, api::ecs::ProtectionMinutes(update->minutes));
    }
    RETURN_IF_ERROR(store.Write([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(answer, api::ecs::UpdateTaskProtection(tx, scope, {task.task_arn}, update->enabled, minutes, now));
      return Status::Ok();
    }));
    return answer.ToJson();
  };
}

// As the agent's UpdateTaskProtectionHandler / GetTaskProtectionHandler: the request is
// decoded (PUT), the task found by the endpoint id, the task role's credentials required,
// then ECS is called for the one task and its answer passed on.
HttpResponse MetadataService::TaskProtection(const HttpRequest& r, const std::string& id) {
  bool put = r.method == "PUT";
  if (!put && r.method != "GET") {
    HttpResponse out;
    out.status = 405;  // gorilla/mux: a route matched but not its method
    return out;
  }
  std::optional<ProtectionRequest> req;
  if (put) {
    req = DecodeProtectionRequest(r.body);
    if (!req) {
      return ProtectionError(400, "", "InvalidParameterException", "UpdateTaskProtection: failed to decode request");
    }
  }
  auto found = Lookup(r.listener, id, false);
  if (!found.ok()) {
    KLOG_WARN("metadata: {}", found.status().message());
    return ProtectionError(500, "", "ServerException", "Failed to find a task for the request");
  }
  if (!*found) return ProtectionError(404, "", "ResourceNotFoundException", "Invalid request: no task was found");
  const model::Task& task = **found;
  if (put && !req->enabled) {
    return ProtectionError(400, task.task_arn, "InvalidParameterException",
                           "Invalid request: does not contain 'ProtectionEnabled' field");
  }
  if (task.internal.task_role_arn.empty()) {
    return ProtectionError(403, task.task_arn, "AccessDeniedException",
                           "Invalid Request: no task IAM role credentials available for task");
  }
  std::optional<ProtectionUpdate> update;
  if (put) update = ProtectionUpdate{*req->enabled, req->minutes};
  Result<Json> answer = protection_(task, update);
  if (!answer.ok()) {
    if (answer.status().code() == Code::kInvalidArgument) {
      return ProtectionError(400, task.task_arn, "InvalidParameterException", answer.status().message(), Uuid4());
    }
    KLOG_WARN("metadata: task protection: {}", answer.status().message());
    return ProtectionError(500, task.task_arn, "ServerException", "Unexpected error occurred");
  }
  const Json& failures = (*answer)["failures"];
  if (!failures.empty()) return JsonResponse(200, Json{{"failure", AgentFailure(failures[0])}});
  const Json& tasks = (*answer)["protectedTasks"];
  if (tasks.size() != 1) return ProtectionError(500, task.task_arn, "ServerException", "Unexpected error occurred");
  return JsonResponse(200, Json{{"protection", AgentProtection(tasks[0])}});
}

HttpResponse MetadataService::Credentials(const HttpRequest& r, const std::string& id, bool v1) {
  const std::string prefix = v1 ? "CredentialsV1Request: " : "CredentialsV2Request: ";
  if (id.empty()) return CredentialsError(400, "NoIdInRequest", prefix + "No Credential ID in the request");
  auto found = Lookup(r.listener, id, true);
  if (!found.ok()) {
    KLOG_WARN("metadata: {}", found.status().message());
    return CredentialsError(500, "InternalServerError", "Internal server error");
  }
  // A task of another namespace, one without a role, or one that has stopped: its
  // credentials are not found here, as the agent answers for a revoked or unknown id.
  const auto& task = *found;
  bool live = task && task->last_status != model::TaskStatus::kStopped &&
              task->last_status != model::TaskStatus::kDeprovisioning;
  if (!live || task->internal.task_role_arn.empty()) {
    return CredentialsError(400, "InvalidIdInRequest", prefix + "Credentials not found");
  }
  RoleCredentials c = issuer_.Issue(task->internal.credentials_id, task->internal.task_role_arn, clock_.Now());
  return JsonResponse(200, CredentialsDocument(c));
}

}  // namespace kecs::api::metadata
