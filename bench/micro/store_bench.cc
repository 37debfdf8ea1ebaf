// state::Store write transactions: one Store::Write per iteration, each inserting one
// object whose document serialises to ~2 KB (BEGIN IMMEDIATE, INSERT, COMMIT in WAL mode
// with synchronous=NORMAL, the daemon's settings). items_per_second is transactions per
// second.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <string>

#include <fmt/format.h>

#include "bench_util.h"

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

}  // namespace
}  // namespace kecs::bench
