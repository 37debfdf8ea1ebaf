// The node controller (reconcile/node_controller.h): what an idle pass costs (no write;
// clusters whose instance rows have not changed are not read), which runs every resync,
// the pass after a node event (every cluster read and compared), and what CreateCluster's
// sync of every node into a new cluster costs.
// Args: clusters, nodes. The nodes carry ten labels each, as a cloud's nodes do.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "api/ecs/ecs_api.h"
#include "api/router.h"
#include "bench_util.h"
#include "model/shapes.h"
#include "net/domain/vpc.h"
#include "reconcile/node_controller.h"

namespace kecs::bench {
namespace {

std::vector<runtime::kubernetes::NodeInfo> Nodes(int n) {
  std::vector<runtime::kubernetes::NodeInfo> out;
  for (int i = 0; i < n; ++i) {
    Json labels = {{"kubernetes.io/arch", "amd64"}, {"kubernetes.io/os", "linux"},
                   {"node.kubernetes.io/instance-type", "m5.xlarge"},
                   {"topology.kubernetes.io/zone", fmt::format("us-east-1{}", "abc"[i % 3])},
                   {"topology.kubernetes.io/region", "us-east-1"}, {"kubernetes.io/hostname", fmt::format("n{}", i)},
                   {"beta.kubernetes.io/arch", "amd64"}, {"beta.kubernetes.io/os", "linux"},
                   {"eks.amazonaws.com/nodegroup", "workers"}, {"eks.amazonaws.com/capacityType", "ON_DEMAND"}};
    Json node = {{"metadata", {{"name", fmt::format("n{}", i)}, {"uid", fmt::format("uid-{}", i)}, {"labels", labels}}},
                 {"status", {{"allocatable", {{"cpu", "3920m"}, {"memory", "15155Mi"}, {"pods", "58"}}},
                             {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
    out.push_back(*runtime::kubernetes::NodeFromJson(node));
  }
  return out;
}

struct Fixture {
  TempStore ts;
  net::RegionBootstrap regions;
  std::unique_ptr<api::ecs::EcsApi> ecs;
  std::shared_ptr<api::Service> svc;
  std::unique_ptr<reconcile::NodeController> nodes;

  Fixture(int clusters, int n) {
    api::ecs::EcsOptions o;
    o.host_instance = false;
    ecs = std::make_unique<api::ecs::EcsApi>(*ts.store, regions, o);
    svc = std::make_shared<api::Service>(model::EcsModel(), api::ErrorStyle{});
    ecs->RegisterAll(*svc);
    nodes = std::make_unique<reconcile::NodeController>(*ts.store, *ecs, reconcile::NodeController::Options{});
    nodes->SetNodes(Nodes(n));
    ecs->SetNodeController(nodes.get());
    for (int c = 0; c < clusters; ++c) CreateCluster(fmt::format("c{}", c));
  }
  void CreateCluster(const std::string& name) {
    api::RequestContext ctx;
    ctx.region = "us-east-1";
    ctx.account_id = "000000000000";
    ctx.now = 1'800'000'000;
    (*svc->Find("CreateCluster"))(ctx, {{"clusterName", name}});
  }
};

void BM_NodePassIdle(benchmark::State& state) {
  Fixture f(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) f.nodes->RunOnce();
  state.counters["instances"] = static_cast<double>(state.range(0) * state.range(1));
}
BENCHMARK(BM_NodePassIdle)->Args({1, 3})->Args({10, 10})->Args({50, 20})->Unit(benchmark::kMicrosecond);

// The same after a node event (the set replaced by an equal one): every cluster's
// instances read and compared, as in the full pass once a minute.
void BM_NodePassAfterNodeEvent(benchmark::State& state) {
  Fixture f(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  auto same = Nodes(static_cast<int>(state.range(1)));
  for (auto _ : state) {
    state.PauseTiming();
    f.nodes->SetNodes(same);
    state.ResumeTiming();
    f.nodes->RunOnce();
  }
  state.counters["instances"] = static_cast<double>(state.range(0) * state.range(1));
}
BENCHMARK(BM_NodePassAfterNodeEvent)->Args({1, 3})->Args({10, 10})->Args({50, 20})->Unit(benchmark::kMicrosecond);

void BM_NodeCreateClusterSync(benchmark::State& state) {
  Fixture f(0, static_cast<int>(state.range(0)));
  int i = 0;
  for (auto _ : state) f.CreateCluster(fmt::format("new{}", i++));
}
BENCHMARK(BM_NodeCreateClusterSync)->Arg(3)->Arg(20)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace kecs::bench
