// state::Store write transactions: one Store::Write per iteration, each inserting one
// object whose document serialises to ~2 KB (BEGIN IMMEDIATE, INSERT, COMMIT in WAL mode
// with synchronous=NORMAL, the daemon's settings). items_per_second is transactions per
// second.
#include <benchmark/benchmark.h>

#include <string>

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

}  // namespace
}  // namespace kecs::bench
