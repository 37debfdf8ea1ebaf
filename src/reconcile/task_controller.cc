#include "reconcile/task_controller.h"

#include <fmt/format.h>

#include "base/log.h"
#include "model/kinds.h"
#include "reconcile/task_spec.h"

namespace kecs::reconcile {
namespace {

using model::kTask;

bool Awsvpc(const state::Object& t) { return JStr(t.internal, "networkMode") == "awsvpc"; }

void SetContainers(Json& doc, const std::string& status) {
  for (auto& c : doc["containers"]) c["lastStatus"] = status;
}

// Records the runtime's view of the containers: status, exit code, reason, runtime id.
void ApplyStates(Json& doc, const runtime::TaskState& st) {
  for (auto& c : doc["containers"]) {
    for (const auto& s : st.containers) {
      if (s.name != JStr(c, "name")) continue;
      if (!s.runtime_id.empty()) c["runtimeId"] = s.runtime_id;
      if (s.phase == runtime::ContainerState::Phase::kExited ||
          s.phase == runtime::ContainerState::Phase::kMissing) {
        c["lastStatus"] = "STOPPED";
        if (s.exit_code && !JGet(c, "exitCode")) c["exitCode"] = *s.exit_code;
        if (!s.reason.empty() && !JGet(c, "reason")) c["reason"] = s.reason;
      }
    }
  }
}

bool Essential(const state::Object& t, const std::string& name) {
  for (const auto& c : t.internal.value("containers", Json::array())) {
    if (JStr(c, "name") == name) return JBool(c, "essential", true);
  }
  return true;
}

// The ENI attachment's details once the interface exists, in AWS's order.
void AttachEni(Json& doc, const Json& internal) {
  const Json& eni = internal.value("network", Json::object()).value("eni", Json::object());
  for (auto& a : doc["attachments"]) {
    if (JStr(a, "type") != "ElasticNetworkInterface") continue;
    a["status"] = "ATTACHED";
    Json details = Json::array({{{"name", "subnetId"}, {"value", JStr(eni, "subnetId")}},
                                {{"name", "networkInterfaceId"}, {"value", JStr(eni, "id")}},
                                {{"name", "macAddress"}, {"value", JStr(eni, "mac")}},
                                {{"name", "privateDnsName"}, {"value", JStr(eni, "privateDnsName")}},
                                {{"name", "privateIPv4Address"}, {"value", JStr(eni, "ip")}}});
    if (auto v6 = JOptStr(eni, "ipv6")) details.push_back({{"name", "ipv6Address"}, {"value", *v6}});
    if (auto pub = JOptStr(eni, "publicIp")) details.push_back({{"name", "publicIPv4Address"}, {"value", *pub}});
    a["details"] = details;
    for (auto& c : doc["containers"]) {
      Json ni = {{"attachmentId", JStr(a, "id")}, {"privateIpv4Address", JStr(eni, "ip")}};
      if (auto v6 = JOptStr(eni, "ipv6")) ni["ipv6Address"] = *v6;
      c["networkInterfaces"] = Json::array({ni});
    }
  }
  // assignPublicIp: where to connect, per container, and (as KECS users expect) as task
  // attributes too.
  const Json& published = internal.value("network", Json::object()).value("published", Json::array());
  if (!published.empty()) {
    for (auto& c : doc["containers"]) {
      Json bindings = Json::array();
      for (const auto& p : published) {
        if (JStr(p, "container") != JStr(c, "name")) continue;
        bindings.push_back({{"bindIP", JStr(p, "bindIp", "0.0.0.0")}, {"containerPort", JInt(p, "containerPort")},
                            {"hostPort", JInt(p, "hostPort")}, {"protocol", JStr(p, "protocol", "tcp")}});
      }
      if (!bindings.empty()) c["networkBindings"] = bindings;
    }
    Json& attrs = doc["attributes"];
    for (const auto& p : published) {
      attrs.push_back({{"name", fmt::format("kecs.dev/host-port/{}/{}/{}", JStr(p, "container"),
                                            JInt(p, "containerPort"), JStr(p, "protocol", "tcp"))},
                       {"value", std::to_string(JInt(p, "hostPort"))}});
    }
  }
}

void SetAttachmentStatus(Json& doc, const std::string& status) {
  for (auto& a : doc["attachments"]) a["status"] = status;
}

// Runs a hook inside a savepoint: when it fails, everything it wrote (rows and the task
// document) is undone, so a half-done allocation cannot outlive the failure.
Status RunHook(const std::function<Status(state::Tx&, state::Object&)>& hook, state::Tx& tx,
               state::Object& t) {
  if (!hook) return Status::Ok();
  RETURN_IF_ERROR(tx.conn().Exec("SAVEPOINT kecs_hook"));
  Json doc = t.doc, internal = t.internal;
  Status st = hook(tx, t);
  if (!st.ok()) {
    (void)tx.conn().Exec("ROLLBACK TO kecs_hook");
    t.doc = std::move(doc);
    t.internal = std::move(internal);
  }
  Status rel = tx.conn().Exec("RELEASE kecs_hook");
  return st.ok() ? rel : st;
}

}  // namespace

TaskController::TaskController(state::Store& store, runtime::Runtime& runtime, TaskHooks hooks,
                               Options options, Clock& clock)
    : store_(store), runtime_(runtime), hooks_(std::move(hooks)), options_(options), clock_(clock) {}

TaskController::~TaskController() { Stop(); }

void TaskController::Start() {
  std::set<std::string> live, known;
  std::vector<runtime::TaskSpec> running;
  Status st = store_.Read([&](state::Tx& tx) {
    state::Query q{kTask};
    q.any_region = true;
    auto tasks = tx.List(q);
    if (!tasks.ok()) return tasks.status();
    for (const auto& t : *tasks) {
      known.insert(t.id);
      if (t.status != "STOPPED") live.insert(t.id);
      if (t.status == "RUNNING" || t.status == "ACTIVATING") running.push_back(SpecFromTask(t.doc, t.internal, t.id, t.parent));
    }
    return Status::Ok();
  });
  if (st.ok()) {
    Status gc = runtime_.GarbageCollect(live, known);
    if (!gc.ok()) KLOG_WARN("runtime garbage collection: {}", gc.message());
    // Adopted tasks get their published ports back (reservations die with a process).
    for (const auto& spec : running) {
      Status pub = runtime_.UpdatePublishing(spec);
      if (!pub.ok()) KLOG_WARN("task {}: cannot publish its ports again: {}", spec.task_id, pub.message());
    }
  } else {
    KLOG_ERROR("task controller: cannot list tasks: {}", st.message());
  }
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

void TaskController::ScanLoop() {
  auto last_retention = std::chrono::steady_clock::now() - std::chrono::hours(1);
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      scan_cv_.wait_for(lock, options_.resync, [&] { return dirty_ || stopping_; });
      if (stopping_) return;
      dirty_ = false;
    }
    Scan();
    if (std::chrono::steady_clock::now() - last_retention > std::chrono::seconds(30)) {
      last_retention = std::chrono::steady_clock::now();
      double cutoff = clock_.Now() - options_.stopped_retention_s;
      Status st = store_.Write([&](state::Tx& tx) {
        state::Query q{kTask};
        q.any_region = true;
        q.status = "STOPPED";
        auto tasks = tx.List(q);
        if (!tasks.ok()) return tasks.status();
        for (const auto& t : *tasks) {
          if (t.doc.value("stoppedAt", 0.0) < cutoff) {
            auto r = tx.Delete(kTask, t.region, t.id);
            if (!r.ok()) return r.status();
          }
        }
        return Status::Ok();
      });
      if (!st.ok()) KLOG_WARN("task retention: {}", st.message());
    }
  }
}

void TaskController::Scan() {
  std::vector<Key> keys;
  Status st = store_.Read([&](state::Tx& tx) {
    state::Query q{kTask};
    q.any_region = true;
    q.status_not = "STOPPED";
    auto tasks = tx.List(q);
    if (!tasks.ok()) return tasks.status();
    for (const auto& t : *tasks) keys.push_back({t.region, t.id});
    return Status::Ok();
  });
  if (!st.ok()) {
    KLOG_ERROR("task controller: scan failed: {}", st.message());
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
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
      // A malformed document or image config must not take the daemon down; the task is
      // tried again on the next pass, and the log says why.
      KLOG_ERROR("task {}: step failed: {}", key.id, e.what());
    }
    std::lock_guard<std::mutex> lock(mu_);
    queued_or_running_.erase(key);
  }
}

void TaskController::Process(const Key& key) {
  // A bounded number of steps per turn, so one task cannot starve the others.
  for (int i = 0; i < 16; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    if (!Step(key)) return;
  }
}

bool TaskController::Update(const Key& key,
                            const std::function<Status(state::Tx&, state::Object&)>& fn) {
  bool found = false;
  Status st = store_.Write([&](state::Tx& tx) {
    auto o = tx.Get(kTask, key.region, key.id);
    if (!o.ok()) return o.status();
    if (!o->has_value()) return Status::Ok();
    found = true;
    state::Object& t = **o;
    std::string before = t.status;
    Json doc_before = t.doc;
    Json internal_before = t.internal;
    RETURN_IF_ERROR(fn(tx, t));
    t.doc["lastStatus"] = t.status;
    if (t.status != before) t.doc["version"] = JInt(t.doc, "version") + 1;
    if (t.doc == doc_before && t.internal == internal_before && t.status == before) return Status::Ok();
    return tx.Put(t);
  });
  if (!st.ok()) {
    KLOG_ERROR("task {}: update failed: {}", key.id, st.message());
    return false;
  }
  return found;
}

void TaskController::FailToStart(const Key& key, const std::string& reason) {
  KLOG_INFO("task {}: failed to start: {}", key.id, reason);
  double now = EpochMillis(clock_.Now());
  Update(key, [&](state::Tx&, state::Object& t) {
    if (JStr(t.doc, "desiredStatus") == "STOPPED") return Status::Ok();
    t.doc["desiredStatus"] = "STOPPED";
    t.doc["stopCode"] = "TaskFailedToStart";
    t.doc["stoppedReason"] = reason;
    t.doc["stoppingAt"] = now;
    return Status::Ok();
  });
}

bool TaskController::Step(const Key& key) {
  std::optional<state::Object> task;
  Status rs = store_.Read([&](state::Tx& tx) {
    auto o = tx.Get(kTask, key.region, key.id);
    if (!o.ok()) return o.status();
    task = std::move(*o);
    return Status::Ok();
  });
  if (!rs.ok() || !task) return false;
  const std::string last = task->status;
  const std::string desired = JStr(task->doc, "desiredStatus");
  runtime::TaskSpec spec = SpecFromTask(task->doc, task->internal, task->id, task->parent);
  auto now = [&] { return EpochMillis(clock_.Now()); };

  if (desired == "RUNNING") {
    if (last == "PROVISIONING") {
      Status hook = Status::Ok();
      Update(key, [&](state::Tx& tx, state::Object& t) {
        if (t.status != "PROVISIONING" || !hooks_.provision) return Status::Ok();
        hook = RunHook(hooks_.provision, tx, t);
        if (!hook.ok()) {
          t.doc["desiredStatus"] = "STOPPED";
          t.doc["stopCode"] = "TaskFailedToStart";
          t.doc["stoppedReason"] = hook.message();
          t.doc["stoppingAt"] = now();
        }
        return Status::Ok();
      });
      if (!hook.ok()) {
        KLOG_INFO("task {}: provisioning failed: {}", key.id, hook.message());
        return true;
      }
      // The hook recorded the network; build the spec again with it.
      (void)store_.Read([&](state::Tx& tx) {
        auto o = tx.Get(kTask, key.region, key.id);
        if (o.ok() && o->has_value()) spec = SpecFromTask((*o)->doc, (*o)->internal, key.id, (*o)->parent);
        return Status::Ok();
      });
      Status st = runtime_.CreateSandbox(spec);
      if (!st.ok()) {
        FailToStart(key, "ResourceInitializationError: failed to configure ENI: " + st.message());
        return true;
      }
      Update(key, [&](state::Tx&, state::Object& t) {
        if (t.status != "PROVISIONING") return Status::Ok();
        AttachEni(t.doc, t.internal);
        t.status = "PENDING";
        return Status::Ok();
      });
      return true;
    }
    if (last == "PENDING") {
      if (!Awsvpc(*task)) {
        // Non-awsvpc tasks take their network resources (a bridge address) here.
        Status hook = Status::Ok();
        Update(key, [&](state::Tx& tx, state::Object& t) {
          if (t.status != "PENDING" || !hooks_.provision) return Status::Ok();
          hook = RunHook(hooks_.provision, tx, t);
          return Status::Ok();
        });
        if (!hook.ok()) {
          FailToStart(key, hook.message());
          return true;
        }
        (void)store_.Read([&](state::Tx& tx) {
          auto o = tx.Get(kTask, key.region, key.id);
          if (o.ok() && o->has_value()) spec = SpecFromTask((*o)->doc, (*o)->internal, key.id, (*o)->parent);
          return Status::Ok();
        });
        Status st = runtime_.CreateSandbox(spec);
        if (!st.ok()) {
          FailToStart(key, "ResourceInitializationError: " + st.message());
          return true;
        }
      }
      Update(key, [&](state::Tx&, state::Object& t) {
        if (!JGet(t.doc, "pullStartedAt")) t.doc["pullStartedAt"] = now();
        return Status::Ok();
      });
      auto digests = runtime_.PullImages(spec);
      if (!digests.ok()) {
        std::string reason = "CannotPullContainerError: " + digests.status().message();
        Update(key, [&](state::Tx&, state::Object& t) {
          for (auto& c : t.doc["containers"]) c["reason"] = reason;
          return Status::Ok();
        });
        FailToStart(key, reason);
        return true;
      }
      Update(key, [&](state::Tx&, state::Object& t) {
        t.doc["pullStoppedAt"] = now();
        for (auto& c : t.doc["containers"]) {
          auto it = digests->find(JStr(c, "name"));
          if (it != digests->end()) c["imageDigest"] = it->second;
        }
        return Status::Ok();
      });
      if (hooks_.before_start) {
        Status pre = hooks_.before_start(*task, spec);
        if (!pre.ok()) {
          FailToStart(key, "ResourceInitializationError: " + pre.message());
          return true;
        }
      }
      Status st = runtime_.StartContainers(spec);
      if (!st.ok()) {
        std::string reason = "CannotStartContainerError: " + st.message();
        Update(key, [&](state::Tx&, state::Object& t) {
          for (auto& c : t.doc["containers"]) c["reason"] = reason;
          return Status::Ok();
        });
        FailToStart(key, reason);
        return true;
      }
      auto states = runtime_.Inspect(spec);
      Update(key, [&](state::Tx&, state::Object& t) {
        if (t.status != "PENDING") return Status::Ok();
        if (states.ok()) ApplyStates(t.doc, *states);
        t.doc["connectivity"] = "CONNECTED";
        t.doc["connectivityAt"] = now();
        t.status = "ACTIVATING";
        return Status::Ok();
      });
      return true;
    }
    if (last == "ACTIVATING") {
      Update(key, [&](state::Tx& tx, state::Object& t) {
        if (t.status != "ACTIVATING" || JStr(t.doc, "desiredStatus") != "RUNNING") return Status::Ok();
        for (auto& c : t.doc["containers"]) {
          if (JStr(c, "lastStatus") != "STOPPED") c["lastStatus"] = "RUNNING";
        }
        t.doc["startedAt"] = now();
        t.status = "RUNNING";
        if (hooks_.running) return hooks_.running(tx, t);
        return Status::Ok();
      });
      return true;
    }
    if (last == "RUNNING") {
      auto states = runtime_.Inspect(spec);
      if (!states.ok()) {
        KLOG_WARN("task {}: inspect failed: {}", key.id, states.status().message());
        return false;
      }
      bool stop = false;
      for (const auto& s : states->containers) {
        bool gone = s.phase == runtime::ContainerState::Phase::kExited ||
                    s.phase == runtime::ContainerState::Phase::kMissing;
        if (gone && Essential(*task, s.name)) stop = true;
      }
      bool changed = false;
      Update(key, [&](state::Tx&, state::Object& t) {
        Json before = t.doc["containers"];
        ApplyStates(t.doc, *states);
        changed = before != t.doc["containers"];
        if (stop && JStr(t.doc, "desiredStatus") == "RUNNING") {
          t.doc["desiredStatus"] = "STOPPED";
          t.doc["stopCode"] = "EssentialContainerExited";
          t.doc["stoppedReason"] = "Essential container in task exited";
          t.doc["stoppingAt"] = now();
          changed = true;
        }
        if (changed) t.doc["version"] = JInt(t.doc, "version") + 1;
        return Status::Ok();
      });
      return stop;
    }
    return false;
  }

  // desired STOPPED
  if (last == "PROVISIONING" || last == "PENDING") {
    // Never started: anything half-made goes, then the task ends.
    auto states = runtime_.StopContainers(spec);
    Update(key, [&](state::Tx&, state::Object& t) {
      if (t.status != last) return Status::Ok();
      if (states.ok()) ApplyStates(t.doc, *states);
      SetContainers(t.doc, "STOPPED");
      t.doc["executionStoppedAt"] = now();
      t.status = "DEPROVISIONING";
      return Status::Ok();
    });
    return true;
  }
  if (last == "ACTIVATING" || last == "RUNNING") {
    Update(key, [&](state::Tx& tx, state::Object& t) {
      if (t.status != last) return Status::Ok();
      if (!JGet(t.doc, "stoppingAt")) t.doc["stoppingAt"] = now();
      t.status = "DEACTIVATING";
      if (hooks_.stopping) return hooks_.stopping(tx, t);
      return Status::Ok();
    });
    return true;
  }
  if (last == "DEACTIVATING") {
    Update(key, [&](state::Tx&, state::Object& t) {
      if (t.status == "DEACTIVATING") t.status = "STOPPING";
      return Status::Ok();
    });
    return true;
  }
  if (last == "STOPPING") {
    std::optional<Result<runtime::TaskState>> done;
    {
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
      KLOG_WARN("task {}: stop failed, will retry: {}", key.id, states.status().message());
      return false;
    }
    Update(key, [&](state::Tx&, state::Object& t) {
      if (t.status != "STOPPING") return Status::Ok();
      ApplyStates(t.doc, *states);
      SetContainers(t.doc, "STOPPED");
      t.doc["executionStoppedAt"] = now();
      if (Awsvpc(t)) SetAttachmentStatus(t.doc, "DETACHING");
      t.status = "DEPROVISIONING";
      return Status::Ok();
    });
    return true;
  }
  if (last == "DEPROVISIONING") {
    Status st = runtime_.Delete(spec);
    if (!st.ok()) {
      KLOG_WARN("task {}: delete failed, will retry: {}", key.id, st.message());
      return false;
    }
    Update(key, [&](state::Tx& tx, state::Object& t) {
      if (t.status != "DEPROVISIONING") return Status::Ok();
      if (hooks_.release) RETURN_IF_ERROR(hooks_.release(tx, t));
      SetAttachmentStatus(t.doc, "DELETED");
      if (!JGet(t.doc, "executionStoppedAt")) t.doc["executionStoppedAt"] = now();
      t.doc["stoppedAt"] = now();
      t.status = "STOPPED";
      return Status::Ok();
    });
    return false;
  }
  return false;
}

}  // namespace kecs::reconcile
