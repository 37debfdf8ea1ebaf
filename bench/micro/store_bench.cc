// state::Store write transactions: one Store::Write per iteration, each inserting one
// object whose document serialises to ~2 KB (BEGIN IMMEDIATE, INSERT, COMMIT in WAL mode
// with synchronous=NORMAL, the daemon's settings). items_per_second is transactions per
// second.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "api/ecs/ecs_api.h"
#include "api/router.h"
#include "bench_util.h"
#include "model/kinds.h"
#include "model/shapes.h"
#include "model/task.h"
#include "net/domain/vpc.h"
#include "state/records/tasks.h"

namespace kecs::bench {
namespace {

Json TwoKbDoc() {
  Json containers = Json::array();
  for (int i = 0; i < 4; ++i) {
    containers.push_back({{"containerArn", "arn:aws:ecs:us-east-1:000000000000:container/bench/" +
                                               std::string(32, static_cast<char>('a' + i))},
                          {"name", "c" + std::to_string(i)},
                          {"image", "docker.io/library/nginx:latest"},
                          {"lastStatus", "PENDING"},
                          {"cpu", "256"},
                          {"memory", "512"},
                          {"networkInterfaces", {{{"attachmentId", std::string(36, 'f')},
                                                  {"privateIpv4Address", "172.31.0.10"}}}}});
  }
  Json doc = {{"taskArn", "arn:aws:ecs:us-east-1:000000000000:task/bench/0123456789abcdef0123456789abcdef"},
              {"clusterArn", "arn:aws:ecs:us-east-1:000000000000:cluster/bench"},
              {"taskDefinitionArn", "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1"},
              {"lastStatus", "PROVISIONING"},
              {"desiredStatus", "RUNNING"},
              {"launchType", "FARGATE"},
              {"containers", containers},
              {"padding", ""}};
  std::string s = doc.dump();
  if (s.size() < 2048) doc["padding"] = std::string(2048 - s.size(), 'x');
  return doc;
}

void BM_StoreInsert2K(benchmark::State& state) {
  TempStore ts;
  state::Object o;
  o.kind = "ecs:task";
  o.region = "us-east-1";
  o.parent = "arn:aws:ecs:us-east-1:000000000000:cluster/bench";
  o.status = "PROVISIONING";
  o.doc = TwoKbDoc();
  int64_t n = 0;
  for (auto _ : state) {
    o.id = "task-" + std::to_string(n++);
    CheckOk(ts.store->Write([&](state::Tx& tx) { return tx.Insert(o); }), "insert");
  }
  state.counters["doc_bytes"] = static_cast<double>(o.doc.dump().size());
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(o.doc.dump().size()));
}
BENCHMARK(BM_StoreInsert2K)->UseRealTime();

// ListTasks with retained STOPPED tasks (issue 11, defect 14): one cluster holding 5,000
// STOPPED tasks and 50 RUNNING ones, ~2 KB documents, and one page of the default
// ListTasks (desiredStatus RUNNING, maxResults 100).
//   BM_ListTasksPage_ScanCluster  what ListTasks did before migration 6: read and parse
//                                 every task of the cluster, filter in C++.
//   BM_ListTasksPage_Indexed      what it does now: the (cluster, desiredStatus, seq) index,
//                                 LIMIT 101.
// page_heap_bytes is the heap the page's rows hold (mallinfo2 before/after the read).
constexpr const char* kCluster = "bench";
constexpr int kStopped = 5000, kRunning = 50;

state::Store& TasksStore() {
  static TempStore* ts = [] {
    auto* t = new TempStore();
    state::Object o;
    o.kind = "ecs:task";
    o.region = "us-east-1";
    o.parent = kCluster;
    o.name = "web";
    CheckOk(t->store->Write([&](state::Tx& tx) {
      for (int i = 0; i < kStopped + kRunning; ++i) {
        bool running = i % ((kStopped + kRunning) / kRunning) == 0;
        o.id = fmt::format("{:032x}", i);
        o.status = running ? "RUNNING" : "STOPPED";
        o.doc = TwoKbDoc();
        o.doc["taskArn"] = "arn:aws:ecs:us-east-1:000000000000:task/bench/" + o.id;
        o.doc["lastStatus"] = o.status;
        o.doc["desiredStatus"] = o.status;
        o.doc["startedBy"] = "bench";
        if (!running) o.doc["stoppedAt"] = 1767225600.0 + i;
        Status st = tx.Insert(o);
        if (!st.ok()) return st;
      }
      return Status::Ok();
    }), "populate");
    return t;
  }();
  return *ts->store;
}

template <typename ReadPage>
void RunPage(benchmark::State& state, ReadPage read) {
  state::Store& store = TasksStore();
  size_t heap = 0, arns = 0;
  for (auto _ : state) {
    CheckOk(store.Read([&](state::Tx& tx) {
      size_t before = mallinfo2().uordblks;
      auto rows = tx.List(read());
      if (!rows.ok()) return rows.status();
      heap = mallinfo2().uordblks - before;
      std::vector<std::string> page;
      for (const auto& t : *rows) {
        if (t.doc.value("desiredStatus", "") != "RUNNING") continue;
        page.push_back(t.doc.value("taskArn", ""));
        if (page.size() == 100) break;
      }
      arns = page.size();
      benchmark::DoNotOptimize(page);
      return Status::Ok();
    }), "list");
  }
  state.counters["page_heap_bytes"] = static_cast<double>(heap);
  state.counters["arns"] = static_cast<double>(arns);
}

void BM_ListTasksPage_ScanCluster(benchmark::State& state) {
  RunPage(state, [] { return state::Query{"ecs:task", "us-east-1", std::string(kCluster)}; });
}
BENCHMARK(BM_ListTasksPage_ScanCluster)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ListTasksPage_Indexed(benchmark::State& state) {
  RunPage(state, [] {
    state::Query q{"ecs:task", "us-east-1", std::string(kCluster)};
    q.doc_equals = {{"desiredStatus", "RUNNING"}};
    q.limit = 101;
    return q;
  });
}
BENCHMARK(BM_ListTasksPage_Indexed)->Unit(benchmark::kMillisecond)->UseRealTime();

// The retention sweep with nothing yet old enough to delete (its common case): before,
// every STOPPED task read and parsed under the write lock; now one index range.
void BM_RetentionSweep_ParseAll(benchmark::State& state) {
  state::Store& store = TasksStore();
  for (auto _ : state) {
    CheckOk(store.Write([&](state::Tx& tx) {
      state::Query q{"ecs:task"};
      q.any_region = true;
      q.status = "STOPPED";
      auto tasks = tx.List(q);
      if (!tasks.ok()) return tasks.status();
      size_t old = 0;
      for (const auto& t : *tasks) old += t.doc.value("stoppedAt", 0.0) < 0;
      benchmark::DoNotOptimize(old);
      return Status::Ok();
    }), "sweep");
  }
}
BENCHMARK(BM_RetentionSweep_ParseAll)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_RetentionSweep_Indexed(benchmark::State& state) {
  state::Store& store = TasksStore();
  for (auto _ : state) {
    CheckOk(store.Write([&](state::Tx& tx) { return tx.DeleteStoppedTasksBefore(0).status(); }),
            "sweep");
  }
}
BENCHMARK(BM_RetentionSweep_Indexed)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- Issue 19.1: 100,000 stored tasks, read through the ECS handler -------------------
// Three clusters, four services each (plus tasks of no service), ten families; one task in
// ten RUNNING, the rest STOPPED; realistic task rows (~2.5 KB: two containers with their
// definitions, an ENI attachment, tags). Every request goes through api::Router::Handle
// (dispatch, JSON parse, model validation, the handler, encoding), as the daemon serves it.
//   BM_Tasks100k_ListTasksPage/<filter>  one page (maxResults 100): 0 default (RUNNING),
//                                        1 desiredStatus STOPPED (second page, by its token),
//                                        2 family, 3 serviceName
//   BM_Tasks100k_ListAllStopped          every STOPPED task of one cluster, page by page
//   BM_Tasks100k_DescribeTasks100        DescribeTasks of 100 tasks (RUNNING and STOPPED)
//   BM_Tasks100k_Sweep                   the retention sweep deleting 30,000 STOPPED tasks
//                                        of a 100,000-task store; longest_hold_ms is the
//                                        longest write transaction (Db::Write) of the sweep.
// KECS_STMT_CACHE=0 turns the per-connection statement cache off (state/db.h).
constexpr const char* kEcsPrefix = "AmazonEC2ContainerServiceV20141113.";
constexpr int kBigTasks = 100000, kBigClusters = 3;

api::HttpRequest Ecs(const std::string& op, const Json& body) {
  return AwsJsonRequest(std::string(kEcsPrefix) + op, "ecs", body.dump());
}

model::Task BigTask(int i) {
  model::Task t;
  t.region = "us-east-1";
  t.id = fmt::format("{:032x}", i + 1);
  t.cluster = fmt::format("c{}", i % kBigClusters);
  t.family = fmt::format("fam{}", (i / 30) % 10);
  const std::string acct = "arn:aws:ecs:us-east-1:000000000000:";
  t.task_arn = acct + "task/" + t.cluster + "/" + t.id;
  t.cluster_arn = acct + "cluster/" + t.cluster;
  t.task_definition_arn = acct + "task-definition/" + t.family + ":1";
  t.availability_zone = "us-east-1a";
  t.cpu = "512";
  t.memory = "1024";
  t.launch_type = model::LaunchType::kFargate;
  t.platform_version = "1.4.0";
  t.platform_family = "Linux";
  t.group = "family:" + t.family;
  t.created_at = 1767225600.0 + i;
  t.started_at = 1767225601.0 + i;
  int svc = (i / 11) % 5;  // 4: no service
  if (svc < 4) {
    t.internal.service = fmt::format("svc{}", svc);
    t.internal.deployment = "ecs-svc/1234567890123456789";
    t.started_by = t.internal.deployment;
    t.group = "service:" + t.internal.service;
  }
  bool running = i % 10 == 0;
  t.last_status = running ? model::TaskStatus::kRunning : model::TaskStatus::kStopped;
  t.desired_status = t.last_status;
  if (!running) {
    t.stopped_at = 1767225700.0 + i;
    t.stopping_at = 1767225690.0 + i;
    t.execution_stopped_at = 1767225699.0 + i;
    t.stop_code = model::StopCode::kUserInitiated;
    t.stopped_reason = "Task stopped by user";
    t.internal.counted = true;
  }
  t.attachments.push_back({"att-" + t.id, "ElasticNetworkInterface", model::AttachmentStatus::kAttached,
                           {{"subnetId", "subnet-0123456789abcdef0"}, {"networkInterfaceId", "eni-0123456789abcdef0"},
                            {"macAddress", "0a:58:0a:00:00:01"}, {"privateIPv4Address", "172.31.0.10"}}});
  t.tags = {{"team", "platform"}, {"env", "bench"}};
  t.internal.network_mode = model::NetworkMode::kAwsvpc;
  for (const char* name : {"web", "sidecar"}) {
    model::Container c;
    c.name = name;
    c.task_arn = t.task_arn;
    c.container_arn = acct + "container/" + t.cluster + "/" + t.id + "/" + name;
    c.image = "docker.io/library/nginx:latest";
    c.runtime_id = t.id + "-" + name;
    c.last_status = running ? model::ContainerStatus::kRunning : model::ContainerStatus::kStopped;
    if (!running) c.exit_code = 0;
    c.network_interfaces.push_back({"att-" + t.id, "172.31.0.10", std::nullopt});
    c.cpu = "256";
    c.memory = "512";
    t.containers.push_back(c);
    model::ContainerDefinition d;
    d.name = name;
    d.image = c.image;
    d.command = {"/bin/sh", "-c", "exec nginx -g 'daemon off;'"};
    d.environment = {{"MODE", "bench"}, {"INDEX", std::to_string(i)}};
    d.cpu = 256;
    d.memory = 512;
    d.port_mappings.push_back({80, 0, "tcp"});
    t.internal.containers.push_back(d);
  }
  return t;
}

struct BigFixture {
  TempStore ts;
  net::RegionBootstrap regions;
  std::unique_ptr<api::ecs::EcsApi> ecs;
  std::unique_ptr<api::Router> router;

  explicit BigFixture(int tasks) {
    ecs = std::make_unique<api::ecs::EcsApi>(*ts.store, regions, api::ecs::EcsOptions{});
    api::ErrorStyle style;  // as daemon.cc sets it up
    style.ecs_enum_wording = true;
    style.lenient_optional = {"AwsVpcConfiguration.subnets"};
    auto svc = std::make_shared<api::Service>(model::EcsModel(), style);
    ecs->RegisterAll(*svc);
    router = std::make_unique<api::Router>(api::Router::Options{});
    router->AddService(svc);
    for (int c = 0; c < kBigClusters; ++c) {
      Call("CreateCluster", {{"clusterName", fmt::format("c{}", c)}});
    }
    CheckOk(ts.store->Write([&](state::Tx& tx) {
      for (int c = 0; c < kBigClusters; ++c) {
        for (int s = 0; s < 4; ++s) {
          state::Object o;
          o.kind = model::kService;
          o.region = "us-east-1";
          o.parent = fmt::format("c{}", c);
          o.name = fmt::format("svc{}", s);
          o.id = o.parent + "/" + o.name;
          o.status = "ACTIVE";
          o.doc = {{"serviceName", o.name}};
          RETURN_IF_ERROR(tx.Insert(o));
        }
      }
      return Status::Ok();
    }), "services");
    for (int base = 0; base < tasks; base += 5000) {
      CheckOk(ts.store->Write([&](state::Tx& tx) {
        for (int i = base; i < std::min(tasks, base + 5000); ++i) {
          RETURN_IF_ERROR(state::records::InsertTask(tx, BigTask(i)));
        }
        return Status::Ok();
      }), "populate");
    }
    CheckOk(ts.store->Checkpoint(), "checkpoint");
  }

  Json Call(const std::string& op, const Json& body) {
    api::HttpResponse r = router->Handle(Ecs(op, body));
    if (r.status != 200) {
      std::fprintf(stderr, "%s: %d %s\n", op.c_str(), r.status, r.body.c_str());
      std::abort();
    }
    return Json::parse(r.body);
  }
};

BigFixture& Big() {
  static BigFixture* f = new BigFixture(kBigTasks);
  return *f;
}

void BM_Tasks100k_ListTasksPage(benchmark::State& state) {
  BigFixture& f = Big();
  Json body = {{"cluster", "c0"}};
  if (state.range(0) == 1) {
    body["desiredStatus"] = "STOPPED";
    body["nextToken"] = f.Call("ListTasks", body).at("nextToken");
  }
  if (state.range(0) == 2) body["family"] = "fam3";
  if (state.range(0) == 3) body["serviceName"] = "svc1";
  api::HttpRequest req = Ecs("ListTasks", body);
  size_t bytes = 0, heap = 0;
  for (auto _ : state) {
    size_t before = mallinfo2().uordblks;
    api::HttpResponse r = f.router->Handle(req);
    heap = std::max(heap, mallinfo2().uordblks - before);
    if (r.status != 200) state.SkipWithError(r.body.c_str());
    bytes = r.body.size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["response_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Tasks100k_ListTasksPage)->Arg(0)->Arg(1)->Arg(2)->Arg(3)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Tasks100k_ListAllStopped(benchmark::State& state) {
  BigFixture& f = Big();
  size_t arns = 0, pages = 0;
  for (auto _ : state) {
    Json body = {{"cluster", "c0"}, {"desiredStatus", "STOPPED"}};
    arns = pages = 0;
    for (;;) {
      Json out = f.Call("ListTasks", body);
      arns += out.at("taskArns").size();
      ++pages;
      if (!out.contains("nextToken")) break;
      body["nextToken"] = out.at("nextToken");
    }
  }
  state.counters["arns"] = static_cast<double>(arns);
  state.counters["pages"] = static_cast<double>(pages);
}
BENCHMARK(BM_Tasks100k_ListAllStopped)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

void BM_Tasks100k_DescribeTasks100(benchmark::State& state) {
  BigFixture& f = Big();
  Json ids = Json::array();
  for (int i = 0; i < 100; ++i) ids.push_back(BigTask(i * 3 * 97 % kBigTasks / 3 * 3).task_arn);  // cluster c0
  api::HttpRequest req = Ecs("DescribeTasks", {{"cluster", "c0"}, {"tasks", ids}, {"include", {"TAGS"}}});
  // The client's parse of the answer is left out of the timing (it was inside it before
  // issue 19.5: ~1/4 of the figure); the last answer is checked once, after the loop.
  api::HttpResponse last;
  for (auto _ : state) {
    api::HttpResponse r = f.router->Handle(req);
    if (r.status != 200) state.SkipWithError(r.body.c_str());
    benchmark::DoNotOptimize(r);
    last = std::move(r);
  }
  state.counters["tasks"] = static_cast<double>(Json::parse(last.body).at("tasks").size());
}
BENCHMARK(BM_Tasks100k_DescribeTasks100)->Unit(benchmark::kMillisecond)->UseRealTime();

// Last: it deletes 30,000 of the fixture's STOPPED tasks, as TaskController::SweepRetention
// does (Store::SweepStoppedTasks, batches of Store::kSweepBatch), in 300 sweeps whose
// cutoffs step 111 s apart (about 100 expired tasks each, as a sweep every few minutes
// finds them). Each sweep's longest write transaction (Db::longest_write_ns) is a sample:
// hold_p50_ms, hold_p99_ms and longest_hold_ms over the 300; over_5ms counts the sweeps
// that held the lock longer. KECS_SWEEP_BATCH sets another batch size (0: one transaction
// per sweep, as before issue 19). KECS_BENCH_CHECKPOINTER=0 keeps the store's checkpointer
// idle during the sweep (bench_util.h), to tell its disk syncs' effect apart.
void BM_Tasks100k_Sweep(benchmark::State& state) {
  BigFixture& f = Big();
  int64_t batch = state::Store::kSweepBatch;
  if (const char* env = std::getenv("KECS_SWEEP_BATCH")) batch = std::atoll(env);
  constexpr int kSweeps = 300;
  std::vector<double> holds;
  int64_t deleted = 0;
  for (auto _ : state) {
    for (int i = 1; i <= kSweeps; ++i) {
      f.ts.store->db().reset_longest_write();
      double cutoff = 1767225700.0 + 33334.0 * i / kSweeps;
      auto n = f.ts.store->SweepStoppedTasks(cutoff, batch > 0 ? batch : int64_t{1} << 40);
      CheckOk(n.status(), "sweep");
      deleted += *n;
      holds.push_back(static_cast<double>(f.ts.store->db().longest_write_ns()) / 1e6);
    }
  }
  std::sort(holds.begin(), holds.end());
  auto at = [&](double q) { return holds[std::min(holds.size() - 1, static_cast<size_t>(q * holds.size()))]; };
  state.counters["deleted"] = static_cast<double>(deleted);
  state.counters["batch"] = static_cast<double>(batch);
  state.counters["hold_p50_ms"] = at(0.50);
  state.counters["hold_p99_ms"] = at(0.99);
  state.counters["longest_hold_ms"] = holds.back();
  state.counters["over_5ms"] = static_cast<double>(holds.end() - std::upper_bound(holds.begin(), holds.end(), 5.0));
}
BENCHMARK(BM_Tasks100k_Sweep)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace
}  // namespace kecs::bench
