#include "reconcile/task_controller.h"

#include <algorithm>
#include <array>
#include <optional>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "base/log.h"
#include "base/metrics.h"
#include "model/kinds.h"
#include "reconcile/capacity_controller.h"
#include "reconcile/task_secrets.h"
#include "reconcile/task_spec.h"
#include "state/records/tasks.h"

namespace kecs::reconcile {
namespace {

// A task's start by stage (base/metrics.h), from its own timestamps: created to the pull's
// start (the ENI, its address and the sandbox), the image pull, pulled to RUNNING (the
// policy, the containers' start), and the whole. A stage whose timestamps are missing is
// left out.
void ObserveStartStages(std::optional<double> created, std::optional<double> pull_started,
                        std::optional<double> pull_stopped, double running) {
  auto observe = [](std::string_view stage, std::optional<double> from, std::optional<double> to) {
    if (from && to && *to >= *from) metrics::ObserveTaskStart(stage, *to - *from);
  };
  observe("provisioning", created, pull_started);
  observe("pull", pull_started, pull_stopped);
  observe("start", pull_stopped, running);
  observe("total", created, running);
}

using model::AttachmentStatus;
using model::ContainerStatus;
using model::NetworkMode;
using model::StopCode;
using model::Task;
using model::TaskStatus;
using runtime::ContainerState;

constexpr const char* kEniAttachment = "ElasticNetworkInterface";

bool Gone(const ContainerState& s) {
  return s.phase == ContainerState::Phase::kExited || s.phase == ContainerState::Phase::kMissing;
}

void SetContainers(Task& t, ContainerStatus status) {
  for (auto& c : t.containers) c.last_status = status;
}

void SetAttachments(Task& t, AttachmentStatus status) {
  for (auto& a : t.attachments) a.status = status;
}

const model::ContainerDefinition* Definition(const Task& t, const std::string& name) {
  for (const auto& c : t.internal.containers) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

const model::ContainerProgress* FindProgress(const Task& t, const std::string& name) {
  for (const auto& p : t.internal.progress) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

model::ContainerProgress& ProgressOf(Task& t, const std::string& name) {
  for (auto& p : t.internal.progress) {
    if (p.name == name) return p;
  }
  t.internal.progress.push_back({});
  t.internal.progress.back().name = name;
  return t.internal.progress.back();
}

// The controller asked the runtime to start the container (dependsOn's waves).
bool StartRequested(const Task& t, const std::string& name) {
  const model::ContainerProgress* p = FindProgress(t, name);
  return p && p->created_at;
}

bool AnyStartRequested(const Task& t) {
  for (const auto& p : t.internal.progress) {
    if (p.created_at) return true;
  }
  return false;
}

// Records the runtime's view of the containers: status, exit code, reason, runtime id,
// health, and their progress (timestamps, the last health check); then the task's health.
void ApplyStates(Task& t, const runtime::TaskState& st, double now) {
  for (auto& c : t.containers) {
    for (const auto& s : st.containers) {
      if (s.name != c.name) continue;
      // While PENDING, a container the runtime does not have yet waits for its wave.
      if (s.phase == ContainerState::Phase::kMissing && t.last_status == TaskStatus::kPending) continue;
      if (!s.runtime_id.empty()) c.runtime_id = s.runtime_id;
      if (Gone(s)) {
        c.last_status = ContainerStatus::kStopped;
        if (s.exit_code && !c.exit_code) c.exit_code = *s.exit_code;
        if (!s.reason.empty() && !c.reason) c.reason = s.reason;
      }
      const model::ContainerDefinition* def = Definition(t, c.name);
      bool checked = def && def->health_check;
      model::HealthStatus health_before = c.health_status;
      if (checked && s.phase == ContainerState::Phase::kRunning) c.health_status = s.health;
      bool seen = s.phase == ContainerState::Phase::kRunning || s.phase == ContainerState::Phase::kExited;
      if (!seen && !FindProgress(t, c.name)) continue;
      model::ContainerProgress& p = ProgressOf(t, c.name);
      if (seen) {
        if (s.started_at) {
          p.started_at = s.started_at;
        } else if (!p.started_at) {
          p.started_at = now;
        }
      }
      if (s.phase == ContainerState::Phase::kExited) {
        if (s.finished_at) {
          p.finished_at = s.finished_at;
        } else if (!p.finished_at) {
          p.finished_at = now;
        }
      }
      if (checked && s.phase == ContainerState::Phase::kRunning) {
        if (!p.health_since || c.health_status != health_before) p.health_since = now;
        if (s.health_exit_code) p.health_exit_code = s.health_exit_code;
        if (!s.health_output.empty()) p.health_output = s.health_output;
      }
    }
  }
  // A runtime that chose the task's address (the kubernetes runtime's pod IP): the ENI's
  // private address as DescribeTasks shows it (task_address.h).
  if (!st.address.empty() && t.internal.network.eni) {
    for (auto& a : t.attachments) {
      if (a.type != kEniAttachment) continue;
      for (auto& d : a.details) {
        if (d.name == "privateIPv4Address") d.value = st.address;
      }
      for (auto& c : t.containers) {
        for (auto& ni : c.network_interfaces) {
          if (ni.attachment_id == a.id) ni.private_ipv4_address = st.address;
        }
      }
    }
  }
  t.health_status = TaskHealth(t);
}

bool Essential(const Task& t, const std::string& name) {
  const model::ContainerDefinition* d = Definition(t, name);
  return d == nullptr || d->essential;
}

// What PENDING's next wave does (dependsOn), from the containers' observed states.
struct WavePlan {
  std::set<std::string> start;  // not started, dependencies met (or asked for and not made)
  // Containers whose dependency can never be met, and why in the ECS agent's words.
  std::vector<std::pair<std::string, std::string>> never;
  bool essential_exited = false;  // an essential container started and exited already
  bool waiting = false;           // some container still waits for its dependencies
};

// How the agent names a container in its dependency errors: "name(image)" (the agent adds
// its known and desired statuses, which kecs does not track per container).
std::string Named(const model::ContainerDefinition& d) { return fmt::format("{}({})", d.name, d.image); }

WavePlan PlanWave(const Task& t, const runtime::TaskState& st, double now) {
  using Phase = ContainerState::Phase;
  auto phase_of = [&](const std::string& name) -> const ContainerState* {
    for (const auto& s : st.containers) {
      if (s.name == name) return &s;
    }
    return nullptr;
  };
  // A container stopped by a dependency that can never be met never starts.
  auto never_starts = [&](const std::string& name) {
    if (StartRequested(t, name)) return false;
    for (const auto& c : t.containers) {
      if (c.name == name) return c.last_status == ContainerStatus::kStopped;
    }
    return false;
  };
  WavePlan plan;
  for (const auto& def : t.internal.containers) {
    const ContainerState* s = phase_of(def.name);
    Phase phase = s ? s->phase : Phase::kMissing;
    if (StartRequested(t, def.name)) {
      if (phase == Phase::kExited && def.essential) plan.essential_exited = true;
      // Asked for before a restart and never made: ask again (StartContainers is idempotent).
      if (phase == Phase::kMissing) plan.start.insert(def.name);
      continue;
    }
    if (never_starts(def.name)) continue;
    // The wording is the agent's (agent/engine/dependencygraph/graph.go,
    // verifyContainerOrderingStatusResolvable; aws/amazon-ecs-agent PR #3218 made these
    // errors terminal). The HEALTHY-but-exited case is kecs's: the agent waits for the
    // dependency's startTimeout there.
    std::optional<std::string> never;
    bool met = true;
    for (const auto& d : def.depends_on) {
      const model::ContainerDefinition* dep = Definition(t, d.container_name);
      if (!dep) continue;  // RegisterTaskDefinition refuses it
      std::string unresolved =
          fmt::format("dependency graph: failed to resolve container ordering dependency [{}] for target [{}]",
                      Named(*dep), Named(def));
      if (never_starts(dep->name)) {
        never = unresolved + " because dependency will never start";
        break;
      }
      if (!StartRequested(t, dep->name)) {
        met = false;
        continue;
      }
      const ContainerState* ds = phase_of(dep->name);
      Phase dp = ds ? ds->phase : Phase::kMissing;
      bool exited = dp == Phase::kExited;
      bool ok = false;
      switch (d.condition) {
        case model::DependencyCondition::kStart:
          ok = dp == Phase::kRunning || exited;
          break;
        case model::DependencyCondition::kComplete:
          ok = exited;
          break;
        case model::DependencyCondition::kSuccess:
          ok = exited && ds->exit_code == 0;
          if (exited && !ok) never = unresolved + " as dependency did not exit successfully.";
          break;
        case model::DependencyCondition::kHealthy:
          ok = dp == Phase::kRunning && ds->health == model::HealthStatus::kHealthy;
          if (exited) never = unresolved + " as dependency exited before it was healthy.";
          break;
      }
      if (never) break;
      if (ok) continue;
      met = false;
      // startTimeout is the dependency's: how long it may take to reach COMPLETE, SUCCESS
      // or HEALTHY once started (the agent's hasDependencyTimedOut; AWS's ContainerDefinition
      // startTimeout), timed from its start request on the controller's clock.
      const model::ContainerProgress* p = FindProgress(t, dep->name);
      if (d.condition != model::DependencyCondition::kStart && dep->start_timeout && *dep->start_timeout > 0 && p &&
          p->created_at && now >= *p->created_at + *dep->start_timeout) {
        never = fmt::format("dependency graph: container ordering dependency [{}] for target [{}] has timed out.",
                            Named(*dep), Named(def));
        break;
      }
    }
    if (never) {
      plan.never.emplace_back(def.name, *never);
    } else if (met) {
      plan.start.insert(def.name);
    } else {
      plan.waiting = true;
    }
  }
  return plan;
}

// The ENI attachment's details once the interface exists, in AWS's order; the containers'
// network interfaces; and, with assignPublicIp, where to connect (per container, and as
// KECS users expect, as task attributes too).
void AttachEni(Task& t) {
  if (!t.internal.network.eni) return;
  const model::TaskEni& eni = *t.internal.network.eni;
  for (auto& a : t.attachments) {
    if (a.type != kEniAttachment) continue;
    a.status = AttachmentStatus::kAttached;
    a.details = {{"subnetId", eni.subnet_id},
                 {"networkInterfaceId", eni.id},
                 {"macAddress", eni.mac},
                 {"privateDnsName", eni.private_dns_name},
                 {"privateIPv4Address", eni.ip}};
    if (eni.ipv6) a.details.push_back({"ipv6Address", *eni.ipv6});
    if (eni.public_ip) a.details.push_back({"publicIPv4Address", *eni.public_ip});
    for (auto& c : t.containers) c.network_interfaces = {{a.id, eni.ip, eni.ipv6}};
  }
  const auto& published = t.internal.network.published;
  if (published.empty()) return;
  for (auto& c : t.containers) {
    std::vector<model::NetworkBinding> bindings;
    for (const auto& p : published) {
      if (p.container == c.name) bindings.push_back({p.bind_ip, p.container_port, p.host_port, p.protocol});
    }
    if (!bindings.empty()) c.network_bindings = std::move(bindings);
  }
  for (const auto& p : published) {
    t.attributes.push_back({fmt::format("kecs.dev/host-port/{}/{}/{}", p.container, p.container_port, p.protocol),
                            std::to_string(p.host_port)});
  }
}

void MarkEssentialExit(Task& t, double now) {
  if (t.desired_status == TaskStatus::kStopped) return;
  t.desired_status = TaskStatus::kStopped;
  t.stop_code = StopCode::kEssentialContainerExited;
  t.stopped_reason = "Essential container in task exited";
  t.stopping_at = now;
}

void MarkFailedToStart(Task& t, const std::string& reason, double now) {
  if (t.desired_status == TaskStatus::kStopped) return;
  t.desired_status = TaskStatus::kStopped;
  t.stop_code = StopCode::kTaskFailedToStart;
  t.stopped_reason = reason;
  t.stopping_at = now;
}

// Runs a hook inside a savepoint: when it fails, everything it wrote (rows and the task)
// is undone, so a half-done allocation cannot outlive the failure.
Status RunHook(const std::function<Status(state::Tx&, Task&)>& hook, state::Tx& tx, Task& t) {
  if (!hook) return Status::Ok();
  RETURN_IF_ERROR(tx.conn().Exec("SAVEPOINT kecs_hook"));
  Task before = t;
  Status st = hook(tx, t);
  if (!st.ok()) {
    (void)tx.conn().Exec("ROLLBACK TO kecs_hook");
    t = std::move(before);
  }
  Status rel = tx.conn().Exec("RELEASE kecs_hook");
  return st.ok() ? rel : st;
}

}  // namespace

model::HealthStatus TaskHealth(const Task& t) {
  using model::HealthStatus;
  auto over = [&](bool essential) -> std::optional<HealthStatus> {
    bool any = false, unknown = false, unhealthy = false;
    for (const auto& d : t.internal.containers) {
      if (!d.health_check || d.essential != essential) continue;
      any = true;
      HealthStatus h = HealthStatus::kUnknown;
      for (const auto& c : t.containers) {
        if (c.name == d.name) h = c.health_status;
      }
      unhealthy = unhealthy || h == HealthStatus::kUnhealthy;
      unknown = unknown || h == HealthStatus::kUnknown;
    }
    if (!any) return std::nullopt;
    if (unhealthy) return HealthStatus::kUnhealthy;
    return unknown ? HealthStatus::kUnknown : HealthStatus::kHealthy;
  };
  if (auto h = over(true)) return *h;
  if (auto h = over(false)) return *h;
  return HealthStatus::kUnknown;
}

TaskController::TaskController(state::Store& store, runtime::Runtime& runtime, TaskHooks hooks,
                               Options options, Clock& clock)
    : store_(store), runtime_(runtime), hooks_(std::move(hooks)), options_(options), clock_(clock) {}

TaskController::~TaskController() { Stop(); }

double TaskController::Now() const { return EpochMillis(clock_.Now()); }

void TaskController::Recover() {
  std::set<std::string> live, known;
  std::vector<runtime::TaskSpec> running;
  std::vector<std::pair<Task, runtime::TaskSpec>> adopted;  // sandboxes that may exist
  Status st = store_.Read([&](state::Tx& tx) {
    // Every task's id, without its document: with 100,000 retained STOPPED tasks, parsing
    // them all here cost 1.8 GB of memory that the allocator kept (benchmarks.md, 19.1).
    state::Query all{model::kTask};
    all.any_region = true;
    all.keys_only = true;
    ASSIGN_OR_RETURN(auto keys, tx.List(all));
    for (const auto& row : keys) known.insert(row.id);
    state::Query q{model::kTask};
    q.any_region = true;
    q.status_not = std::string(model::ToString(TaskStatus::kStopped));
    ASSIGN_OR_RETURN(auto rows, tx.List(q));
    for (const auto& row : rows) {
      known.insert(row.id);
      live.insert(row.id);
      bool runs = row.status == model::ToString(TaskStatus::kRunning) ||
                  row.status == model::ToString(TaskStatus::kActivating);
      bool adopt = hooks_.adopt && row.status != model::ToString(TaskStatus::kProvisioning);
      if (!runs && !adopt) continue;
      auto t = state::records::DecodeTask(row);
      if (!t.ok()) {
        KLOG_ERROR("{}", t.status().message());
        continue;
      }
      if (t->internal.agent) continue;  // its agent runs it elsewhere: nothing to adopt
      if (runs) running.push_back(SpecFromTask(*t));
      if (adopt) adopted.emplace_back(*t, SpecFromTask(*t));
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    KLOG_ERROR("task controller: cannot list tasks: {}", st.message());
    return;
  }
  Status gc = runtime_.GarbageCollect(live, known);
  if (!gc.ok()) KLOG_WARN("runtime garbage collection: {}", gc.message());
  for (const auto& spec : running) {
    Status pub = runtime_.UpdatePublishing(spec);
    if (!pub.ok()) KLOG_WARN("task {}: cannot publish its ports again: {}", spec.task_id, pub.message());
  }
  for (const auto& [task, spec] : adopted) hooks_.adopt(task, spec);
}

void TaskController::Start() {
  Recover();
  threads_.emplace_back([this] { ScanLoop(); });
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { WorkerLoop(); });
}

void TaskController::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  scan_cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  // Stops in flight finish (their tasks stay STOPPING in the store and are taken up again
  // at the next start).
  std::map<Key, std::future<Result<runtime::TaskState>>> stops;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stops.swap(stops_);
  }
  for (auto& [key, f] : stops) f.wait();
}

void TaskController::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    dirty_ = true;
  }
  scan_cv_.notify_one();
}

Status TaskController::SweepRetention() {
  // By the stoppedAt index of migration 6: no stopped task's document is parsed. In
  // bounded batches, each its own write, so the write lock is never held for long.
  double cutoff = clock_.Now() - options_.stopped_retention_s;
  return store_.SweepStoppedTasks(cutoff).status();
}

namespace {

// (region, id) of the live tasks with a step to take: every live status but RUNNING, and
// the RUNNING tasks asked to stop (StopTask, an essential exit, a service scaling in); by
// the objects_by_status index, so the steady RUNNING tasks' documents are not parsed.
std::vector<std::pair<std::string, std::string>> MovingTasks(state::Store& store) {
  std::vector<std::pair<std::string, std::string>> keys;
  Status st = store.Read([&](state::Tx& tx) {
    for (TaskStatus s : {TaskStatus::kProvisioning, TaskStatus::kPending, TaskStatus::kActivating,
                         TaskStatus::kDeactivating, TaskStatus::kStopping, TaskStatus::kDeprovisioning,
                         TaskStatus::kRunning}) {
      state::Query q{model::kTask};
      q.any_region = true;
      q.status = std::string(model::ToString(s));
      if (s == TaskStatus::kRunning) q.doc_equals = {{"desiredStatus", std::string(model::ToString(TaskStatus::kStopped))}};
      q.keys_only = true;  // the key is all a worker needs: it reads the task itself
      ASSIGN_OR_RETURN(auto rows, tx.List(q));
      for (const auto& row : rows) keys.emplace_back(row.region, row.id);
    }
    return Status::Ok();
  });
  if (!st.ok()) KLOG_ERROR("task controller: scan failed: {}", st.message());
  return keys;
}

}  // namespace

void TaskController::ScanLoop() {
  auto last_retention = std::chrono::steady_clock::now() - std::chrono::hours(1);
  auto last_full = std::chrono::steady_clock::now() - std::chrono::hours(1);
  auto last_discovery = last_full;
  // How often the resync lists every live task rather than the steady and moving ones.
  constexpr auto kDiscovery = std::chrono::seconds(10);
  const auto sweep = std::chrono::duration<double>(options_.retention_sweep_s);
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto next_full = last_full + options_.resync;
      scan_cv_.wait_until(lock, next_full, [&] { return dirty_ || stopping_; });
      if (stopping_) return;
      dirty_ = false;
    }
    // A commit wakes only the tasks that have a step to take (Moving); a task that runs as
    // it should changes only by its containers, which the resync inspects. Every task is
    // looked at once per resync period however many commits come in between.
    std::vector<std::pair<std::string, std::string>> moving = MovingTasks(store_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++commit_scans_;
      for (auto& [region, id] : moving) {
        Key k{std::move(region), std::move(id)};
        steady_.erase(k);  // asked to stop: its next step reads the store
        if (queued_or_running_.insert(k).second) queue_.push_back(std::move(k));
      }
    }
    cv_.notify_all();
    auto now = std::chrono::steady_clock::now();
    if (now >= last_full + options_.resync) {
      last_full = now;
      if (now >= last_discovery + kDiscovery) {
        last_discovery = now;
        Scan();
      } else {
        // Every live task but the steady ones is in `moving` or recheck_ (a task reaches
        // RUNNING by a step, whose Running makes its steady_ entry or marks it for a
        // recheck), so the list of every live task, and the decoding of each one's
        // document, is needed only now and then, as a safety net.
        std::lock_guard<std::mutex> lock(mu_);
        std::vector<Key> keys;
        for (const auto& [k, v] : steady_) keys.push_back(k);
        keys.insert(keys.end(), recheck_.begin(), recheck_.end());
        recheck_.clear();
        for (auto& k : keys) {
          if (queued_or_running_.insert(k).second) queue_.push_back(std::move(k));
        }
        cv_.notify_all();
      }
    }
    if (std::chrono::steady_clock::now() - last_retention > sweep) {
      last_retention = std::chrono::steady_clock::now();
      Status st = SweepRetention();
      if (!st.ok()) KLOG_WARN("task retention: {}", st.message());
    }
  }
}

std::vector<TaskController::Key> TaskController::LiveTasks() {
  std::vector<Key> keys;
  Status st = store_.Read([&](state::Tx& tx) {
    state::Query q{model::kTask};
    q.any_region = true;
    q.status_not = std::string(model::ToString(TaskStatus::kStopped));
    q.keys_only = true;  // no live task's document is decoded on every scan
    ASSIGN_OR_RETURN(auto rows, tx.List(q));
    for (const auto& row : rows) keys.push_back({row.region, row.id});
    return Status::Ok();
  });
  if (!st.ok()) KLOG_ERROR("task controller: scan failed: {}", st.message());
  return keys;
}

void TaskController::Scan() {
  std::vector<Key> keys = LiveTasks();
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Tasks no longer live (deleted with their cluster, say) leave the steady set.
    std::set<Key> live(keys.begin(), keys.end());
    std::erase_if(steady_, [&](const auto& e) { return !live.count(e.first); });
    recheck_.clear();  // every live task is queued below
    for (auto& k : keys) {
      if (queued_or_running_.insert(k).second) queue_.push_back(std::move(k));
    }
  }
  cv_.notify_all();
}

void TaskController::WorkerLoop() {
  while (true) {
    Key key;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      key = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      Process(key);
    } catch (const std::exception& e) {
      // A runtime's unexpected exception must not take the daemon down; the task is tried
      // again on the next pass, and the log says why.
      KLOG_ERROR("task {}: step failed: {}", key.id, e.what());
    }
    std::lock_guard<std::mutex> lock(mu_);
    queued_or_running_.erase(key);
  }
}

namespace {

bool SameState(const runtime::TaskState& a, const runtime::TaskState& b) {
  if (a.containers.size() != b.containers.size()) return false;
  for (size_t i = 0; i < a.containers.size(); ++i) {
    const auto& x = a.containers[i];
    const auto& y = b.containers[i];
    if (x.name != y.name || x.phase != y.phase || x.exit_code != y.exit_code || x.reason != y.reason ||
        x.runtime_id != y.runtime_id || x.health != y.health || x.health_exit_code != y.health_exit_code ||
        x.health_output != y.health_output || x.started_at != y.started_at || x.finished_at != y.finished_at) {
      return false;
    }
  }
  return true;
}

}  // namespace

void TaskController::Process(const Key& key) {
  // A steady RUNNING task whose containers look as its last step saw them: nothing to do,
  // and nothing read from the store.
  std::optional<std::pair<runtime::TaskSpec, runtime::TaskState>> steady;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = steady_.find(key); it != steady_.end()) steady = it->second;
  }
  if (steady) {
    auto now = runtime_.Inspect(steady->first);
    if (now.ok() && SameState(*now, steady->second)) return;
    std::lock_guard<std::mutex> lock(mu_);
    steady_.erase(key);
  }
  // A bounded number of steps per turn, so one task cannot starve the others.
  for (int i = 0; i < 16; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    if (!Step(key)) return;
  }
}

bool TaskController::StepForTest(const std::string& region, const std::string& id) {
  return Step({region, id});
}

int TaskController::RunPending(int max_rounds) {
  // What a round may change: each live task's statuses and version.
  auto snapshot = [&] {
    std::map<Key, std::tuple<TaskStatus, TaskStatus, int64_t>> out;
    (void)store_.Read([&](state::Tx& tx) {
      state::Query q{model::kTask};
      q.any_region = true;
      q.status_not = std::string(model::ToString(TaskStatus::kStopped));
      ASSIGN_OR_RETURN(auto rows, tx.List(q));
      for (const auto& row : rows) {
        auto t = state::records::DecodeTask(row);
        if (t.ok()) out[{row.region, row.id}] = {t->last_status, t->desired_status, t->version};
      }
      return Status::Ok();
    });
    return out;
  };
  int rounds = 0;
  while (rounds < max_rounds) {
    ++rounds;
    auto before = snapshot();
    for (const auto& k : LiveTasks()) {
      for (int i = 0; i < 16 && Step(k); ++i) {
      }
    }
    // Stops in flight finish before the next round (the workers' threads are not running,
    // so nothing else touches stops_; their Notify needs mu_, so wait outside it).
    std::vector<std::future<Result<runtime::TaskState>>*> in_flight;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [key, f] : stops_) in_flight.push_back(&f);
    }
    for (auto* f : in_flight) f->wait();
    if (in_flight.empty() && snapshot() == before) break;
  }
  return rounds;
}

bool TaskController::Step(const Key& key) {
  std::optional<Task> task;
  Status rs = store_.Read([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(task, state::records::GetTask(tx, key.region, key.id));
    return Status::Ok();
  });
  if (!rs.ok()) {
    // Said once per task (a malformed record stays malformed), not on every pass.
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      first = unreadable_.insert(key).second;
    }
    if (first) KLOG_ERROR("task {}: cannot read it, skipping it: {}", key.id, rs.message());
    return false;
  }
  if (!task) return false;
  // A task its container instance's own agent drives (TaskInternal::agent) moves only by
  // that agent's reports (api/ecs/agent.cc); kecs's runtime never runs it.
  if (task->internal.agent) return false;
  // A task waiting for capacity moves on once the capacity controller places it (or asks
  // it to stop: then it stops from PROVISIONING as any task that never started).
  if (AwaitingCapacity(*task) && task->desired_status != TaskStatus::kStopped) return false;
  // The transition table: the function that does each state's work.
  static constexpr std::array<std::pair<TaskStatus, StateStep>, 7> kTransitions = {{
      {TaskStatus::kProvisioning, &TaskController::Provisioning},
      {TaskStatus::kPending, &TaskController::Pending},
      {TaskStatus::kActivating, &TaskController::Activating},
      {TaskStatus::kRunning, &TaskController::Running},
      {TaskStatus::kDeactivating, &TaskController::Deactivating},
      {TaskStatus::kStopping, &TaskController::Stopping},
      {TaskStatus::kDeprovisioning, &TaskController::Deprovisioning},
  }};
  for (const auto& [status, step] : kTransitions) {
    if (status == task->last_status) return (this->*step)(*task);
  }
  return false;  // STOPPED: nothing left to do
}

Result<TaskController::Applied> TaskController::Update(Task& t, const Mutation& fn) {
  Applied applied = Applied::kWritten;
  Task written;
  Status st = store_.Write([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto cur, state::records::GetTask(tx, t.region, t.id));
    if (!cur) {
      applied = Applied::kGone;
      return Status::Ok();
    }
    if (cur->last_status != t.last_status) {
      applied = Applied::kMoved;
      written = std::move(*cur);
      return Status::Ok();
    }
    Task before = *cur;
    RETURN_IF_ERROR(fn(tx, *cur));
    if (cur->last_status != before.last_status) cur->version += 1;
    written = *cur;
    if (*cur == before) return Status::Ok();
    return state::records::PutTask(tx, *cur);
  });
  if (!st.ok()) return st;
  if (applied != Applied::kGone) t = std::move(written);
  return applied;
}

bool TaskController::Apply(Task& t, const Mutation& fn) {
  TaskStatus from = t.last_status;
  auto r = Update(t, fn);
  if (!r.ok()) {
    KLOG_WARN("task {}: write failed in {}, the step will be retried: {}", t.id, model::ToString(from),
              r.status().message());
    return false;
  }
  return *r == Applied::kWritten;
}

bool TaskController::FailToStart(Task& t, const std::string& reason) {
  KLOG_INFO("task {}: failed to start: {}", t.id, reason);
  double now = Now();
  return Apply(t, [&](state::Tx&, Task& cur) {
    MarkFailedToStart(cur, reason, now);
    return Status::Ok();
  });
}

bool TaskController::Provision(Task& t) {
  Status hook = Status::Ok();
  double now = Now();
  bool ok = Apply(t, [&](state::Tx& tx, Task& cur) {
    hook = RunHook(hooks_.provision, tx, cur);
    if (!hook.ok()) MarkFailedToStart(cur, hook.message(), now);
    return Status::Ok();
  });
  if (!ok) return false;
  if (!hook.ok()) {
    KLOG_INFO("task {}: provisioning failed: {}", t.id, hook.message());
    return false;
  }
  return true;
}

bool TaskController::Provisioning(Task& t) {
  if (t.desired_status == TaskStatus::kStopped) return NeverStarted(t);
  if (!Provision(t)) return t.desired_status == TaskStatus::kStopped;
  Status st = runtime_.CreateSandbox(SpecFromTask(t));
  if (!st.ok()) {
    return FailToStart(t, "ResourceInitializationError: failed to configure ENI: " + st.message());
  }
  return Apply(t, [&](state::Tx&, Task& cur) {
    AttachEni(cur);
    cur.last_status = TaskStatus::kPending;
    return Status::Ok();
  });
}

bool TaskController::Pending(Task& t) {
  if (t.desired_status == TaskStatus::kStopped) return NeverStarted(t);
  // The waves have begun: the network, sandbox, pull and before_start are done.
  if (AnyStartRequested(t)) return StartWaves(t);
  if (t.internal.network_mode != NetworkMode::kAwsvpc) {
    // Other modes take their network resources (a bridge address) and sandbox here.
    if (!Provision(t)) return t.desired_status == TaskStatus::kStopped;
    Status st = runtime_.CreateSandbox(SpecFromTask(t));
    if (!st.ok()) return FailToStart(t, "ResourceInitializationError: " + st.message());
  }
  // The secrets and registry credentials, as the agent resolves them before the pull.
  auto resolved = ResolvedSpec(t);
  if (!resolved.ok()) return FailToStart(t, resolved.status().message());
  runtime::TaskSpec spec = std::move(*resolved);
  double now = Now();
  if (!Apply(t, [&](state::Tx&, Task& cur) {
        if (!cur.pull_started_at) cur.pull_started_at = now;
        return Status::Ok();
      })) {
    return false;
  }
  auto digests = runtime_.PullImages(spec);
  if (!digests.ok()) {
    std::string reason = "CannotPullContainerError: " + digests.status().message();
    KLOG_INFO("task {}: failed to start: {}", t.id, reason);
    return Apply(t, [&](state::Tx&, Task& cur) {
      for (auto& c : cur.containers) c.reason = reason;
      MarkFailedToStart(cur, reason, Now());
      return Status::Ok();
    });
  }
  now = Now();
  if (!Apply(t, [&](state::Tx&, Task& cur) {
        cur.pull_stopped_at = now;
        for (auto& c : cur.containers) {
          auto it = digests->find(c.name);
          if (it != digests->end()) c.image_digest = it->second;
        }
        return Status::Ok();
      })) {
    return false;
  }
  if (hooks_.before_start) {
    Status pre = hooks_.before_start(t, spec);
    if (!pre.ok()) {
      // A container's start failure in the agent's words (the awslogs driver's
      // "CannotStartContainerError: ...") is the containers' reason too.
      if (pre.message().rfind("CannotStartContainerError: ", 0) == 0) return StartFailed(t, pre);
      return FailToStart(t, "ResourceInitializationError: " + pre.message());
    }
  }
  return StartWaves(t);
}

bool TaskController::StartFailed(Task& t, const Status& st) {
  // A runtime error already in the agent's words (CannotCreateVolumeError: ...) is kept
  // as it is; any other is a CannotStartContainerError.
  const std::string& m = st.message();
  size_t colon = m.find(": ");
  bool worded = m.rfind("Cannot", 0) == 0 && colon != std::string::npos &&
                m.compare(colon - 5, 5, "Error") == 0 && m.find(' ') > colon;
  std::string reason = worded ? m : "CannotStartContainerError: " + m;
  KLOG_INFO("task {}: failed to start: {}", t.id, reason);
  return Apply(t, [&](state::Tx&, Task& cur) {
    for (auto& c : cur.containers) c.reason = reason;
    MarkFailedToStart(cur, reason, Now());
    return Status::Ok();
  });
}

Result<runtime::TaskSpec> TaskController::ResolvedSpec(const Task& t) {
  runtime::TaskSpec spec = SpecFromTask(t);
  if (!HasSecrets(t)) return spec;
  struct NoSecrets : SecretSource {
    Result<std::string> Resolve(std::string_view value_from, std::string_view, std::string_view) override {
      return NotFound(std::string(value_from) + ": no secret source is configured");
    }
  } none;
  SecretSource& source = options_.secrets ? *options_.secrets : none;
  RETURN_IF_ERROR(ResolveTaskSecrets(source, t, spec));
  return spec;
}

bool TaskController::StartWaves(Task& t) {
  runtime::TaskSpec spec = SpecFromTask(t);
  // The spec the containers start from, with the secrets' values: resolved (again, after
  // a restart: they are never stored) only when a wave starts.
  std::optional<runtime::TaskSpec> start_spec;
  // Each round starts one wave; a START dependency is usually met at once, so several
  // waves may go in one step. Bounded, like Process.
  for (size_t round = 0; round <= t.internal.containers.size(); ++round) {
    runtime::TaskState states;
    if (AnyStartRequested(t)) {
      auto inspected = runtime_.Inspect(spec);
      if (!inspected.ok()) {
        KLOG_WARN("task {}: inspect failed: {}", t.id, inspected.status().message());
        return false;
      }
      states = std::move(*inspected);
    }
    double now = Now();
    WavePlan plan = PlanWave(t, states, now);
    if (plan.essential_exited || !plan.never.empty()) {
      for (const auto& [name, why] : plan.never) KLOG_INFO("task {}: container {} cannot start: {}", t.id, name, why);
      // As the agent (task_manager.go, handleTerminalDependencyError): the container is
      // STOPPED with exit code 143 and a CannotStartContainerError; an essential one stops
      // the task as an essential container's exit does.
      return Apply(t, [&](state::Tx&, Task& cur) {
        ApplyStates(cur, states, now);
        for (const auto& [name, why] : plan.never) {
          for (auto& c : cur.containers) {
            if (c.name != name) continue;
            c.last_status = ContainerStatus::kStopped;
            c.exit_code = 143;
            c.reason = "CannotStartContainerError: " + why;
          }
          if (Essential(cur, name)) MarkEssentialExit(cur, now);
        }
        if (plan.essential_exited) MarkEssentialExit(cur, now);
        return Status::Ok();
      });
    }
    if (!plan.start.empty()) {
      // The start request is written first: a restart then resumes the waves.
      if (!Apply(t, [&](state::Tx&, Task& cur) {
            if (cur.desired_status == TaskStatus::kStopped) return Status::Ok();  // a StopTask landed
            ApplyStates(cur, states, now);
            for (const auto& name : plan.start) {
              model::ContainerProgress& p = ProgressOf(cur, name);
              if (!p.created_at) p.created_at = now;
            }
            return Status::Ok();
          })) {
        return false;
      }
      if (t.desired_status == TaskStatus::kStopped) return true;
      if (!start_spec) {
        auto resolved = ResolvedSpec(t);
        if (!resolved.ok()) return FailToStart(t, resolved.status().message());
        start_spec = std::move(*resolved);
      }
      Status st = runtime_.StartContainers(*start_spec, plan.start);
      if (!st.ok()) return StartFailed(t, st);
      continue;
    }
    if (plan.waiting) {
      // Health and timestamps of what runs; the resync wakes the task again.
      Apply(t, [&](state::Tx&, Task& cur) {
        ApplyStates(cur, states, now);
        return Status::Ok();
      });
      return false;
    }
    // Every container has been started.
    return Apply(t, [&](state::Tx&, Task& cur) {
      ApplyStates(cur, states, now);
      cur.connectivity = model::Connectivity::kConnected;
      cur.connectivity_at = now;
      cur.last_status = TaskStatus::kActivating;
      return Status::Ok();
    });
  }
  return false;
}

bool TaskController::Activating(Task& t) {
  if (t.desired_status == TaskStatus::kStopped) return BeginStopping(t);
  double now = Now();
  // The start's stages for /metrics, from the timestamps of the write that made it RUNNING.
  struct {
    bool running = false;
    std::optional<double> created, pull_started, pull_stopped;
  } stages;
  bool written = Apply(t, [&](state::Tx& tx, Task& cur) {
    stages.running = false;
    if (cur.desired_status != TaskStatus::kRunning) return Status::Ok();  // a StopTask landed
    stages = {true, cur.created_at, cur.pull_started_at, cur.pull_stopped_at};
    for (auto& c : cur.containers) {
      if (c.last_status != ContainerStatus::kStopped) c.last_status = ContainerStatus::kRunning;
      // ECS Exec (issue 18): kecs itself serves ExecuteCommand, so the container's
      // ExecuteCommandAgent runs as soon as the container does, as ECS shows it.
      bool has_agent = std::any_of(c.managed_agents.begin(), c.managed_agents.end(),
                                   [](const model::ManagedAgent& m) { return m.name == "ExecuteCommandAgent"; });
      if (cur.enable_execute_command && c.last_status == ContainerStatus::kRunning && !has_agent) {
        c.managed_agents.push_back({"ExecuteCommandAgent", "RUNNING", std::nullopt, now});
      }
    }
    cur.started_at = now;
    cur.last_status = TaskStatus::kRunning;
    if (hooks_.running) RETURN_IF_ERROR(hooks_.running(tx, cur));
    // Registered (Cloud Map) as healthy: tell it at once when the task is not.
    if (cur.health_status == model::HealthStatus::kUnhealthy && hooks_.health_changed) {
      return hooks_.health_changed(tx, cur);
    }
    return Status::Ok();
  });
  if (written && stages.running) ObserveStartStages(stages.created, stages.pull_started, stages.pull_stopped, now);
  return written;
}

bool TaskController::Running(Task& t) {
  if (t.desired_status == TaskStatus::kStopped) return BeginStopping(t);
  auto states = runtime_.Inspect(SpecFromTask(t));
  if (!states.ok()) {
    KLOG_WARN("task {}: inspect failed: {}", t.id, states.status().message());
    std::lock_guard<std::mutex> lock(mu_);
    recheck_.insert({t.region, t.id});
    return false;
  }
  bool stop = false;
  for (const auto& s : states->containers) {
    if (Gone(s) && Essential(t, s.name)) stop = true;
  }
  double now = Now();
  uint64_t scans_before = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    scans_before = commit_scans_;
  }
  bool ok = Apply(t, [&](state::Tx& tx, Task& cur) {
    auto before = cur.containers;
    model::HealthStatus health_before = cur.health_status;
    ApplyStates(cur, *states, now);
    bool changed = before != cur.containers || health_before != cur.health_status;
    if (health_before != cur.health_status && hooks_.health_changed) RETURN_IF_ERROR(hooks_.health_changed(tx, cur));
    if (stop && cur.desired_status == TaskStatus::kRunning) {
      cur.desired_status = TaskStatus::kStopped;
      cur.stop_code = StopCode::kEssentialContainerExited;
      cur.stopped_reason = "Essential container in task exited";
      cur.stopping_at = now;
      changed = true;
    }
    if (changed) cur.version += 1;
    return Status::Ok();
  });
  if (!ok) {
    std::lock_guard<std::mutex> lock(mu_);
    recheck_.insert({t.region, t.id});
  } else if (!stop && t.last_status == TaskStatus::kRunning && t.desired_status == TaskStatus::kRunning) {
    // t is the record as of this step's transaction. A commit after it is followed by a
    // commit scan, which drops the entry; one that ran since scans_before was read may have
    // come between, so the entry is then not made.
    std::lock_guard<std::mutex> lock(mu_);
    if (commit_scans_ == scans_before) {
      steady_[{t.region, t.id}] = {SpecFromTask(t), *states};
    } else {
      recheck_.insert({t.region, t.id});
    }
  }
  return ok && stop;
}

bool TaskController::NeverStarted(Task& t) {
  // Anything half-made goes, then the task ends.
  auto states = runtime_.StopContainers(SpecFromTask(t));
  double now = Now();
  return Apply(t, [&](state::Tx&, Task& cur) {
    if (states.ok()) ApplyStates(cur, *states, now);
    SetContainers(cur, ContainerStatus::kStopped);
    cur.execution_stopped_at = now;
    cur.last_status = TaskStatus::kDeprovisioning;
    return Status::Ok();
  });
}

bool TaskController::BeginStopping(Task& t) {
  double now = Now();
  return Apply(t, [&](state::Tx& tx, Task& cur) {
    if (!cur.stopping_at) cur.stopping_at = now;
    cur.last_status = TaskStatus::kDeactivating;
    if (hooks_.stopping) return hooks_.stopping(tx, cur);
    return Status::Ok();
  });
}

bool TaskController::Deactivating(Task& t) {
  bool waiting = false;
  bool ok = Apply(t, [&](state::Tx& tx, Task& cur) {
    if (hooks_.deactivated) {
      // A service task behind a load balancer waits here for its targets to drain; the
      // resync wakes it again.
      ASSIGN_OR_RETURN(bool go, hooks_.deactivated(tx, cur));
      if (!go) {
        waiting = true;
        return Status::Ok();
      }
    }
    cur.last_status = TaskStatus::kStopping;
    return Status::Ok();
  });
  return ok && !waiting;
}

bool TaskController::Stopping(Task& t) {
  runtime::TaskSpec spec = SpecFromTask(t);
  std::optional<Result<runtime::TaskState>> done;
  if (!options_.stop_beside_workers) {
    done.emplace(runtime_.StopContainers(spec));
  } else {
    Key key{t.region, t.id};
    std::lock_guard<std::mutex> lock(mu_);
    auto it = stops_.find(key);
    if (it == stops_.end()) {
      stops_.emplace(key, std::async(std::launch::async, [this, spec]() -> Result<runtime::TaskState> {
        Result<runtime::TaskState> r = Internal("stop did not finish");
        try {
          r = runtime_.StopContainers(spec);
        } catch (const std::exception& e) {
          r = Internal(std::string("stop failed: ") + e.what());
        }
        Notify();  // the task's next step need not wait for the resync
        return r;
      }));
      return false;
    }
    if (it->second.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return false;
    done.emplace(it->second.get());
    stops_.erase(it);
  }
  auto& states = *done;
  if (!states.ok()) {
    KLOG_WARN("task {}: stop failed, will retry: {}", t.id, states.status().message());
    return false;
  }
  double now = Now();
  return Apply(t, [&](state::Tx&, Task& cur) {
    ApplyStates(cur, *states, now);
    SetContainers(cur, ContainerStatus::kStopped);
    cur.execution_stopped_at = now;
    if (cur.internal.network_mode == NetworkMode::kAwsvpc) SetAttachments(cur, AttachmentStatus::kDetaching);
    cur.last_status = TaskStatus::kDeprovisioning;
    return Status::Ok();
  });
}

bool TaskController::Deprovisioning(Task& t) {
  runtime::TaskSpec spec = SpecFromTask(t);
  if (hooks_.before_delete) hooks_.before_delete(t, spec);
  Status st = runtime_.Delete(spec);
  if (!st.ok()) {
    KLOG_WARN("task {}: delete failed, will retry: {}", t.id, st.message());
    return false;
  }
  double now = Now();
  Apply(t, [&](state::Tx& tx, Task& cur) {
    if (hooks_.release) RETURN_IF_ERROR(hooks_.release(tx, cur));
    SetAttachments(cur, AttachmentStatus::kDeleted);
    if (!cur.execution_stopped_at) cur.execution_stopped_at = now;
    cur.stopped_at = now;
    cur.last_status = TaskStatus::kStopped;
    return Status::Ok();
  });
  return false;
}

}  // namespace kecs::reconcile
