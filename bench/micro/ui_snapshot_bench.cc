// The topology page's snapshot (api/ui/snapshot.h): one BuildSnapshot and its JSON text,
// as the page's stream makes it after a change, for a store of N running awsvpc tasks in
// one VPC (a subnet, two security groups with an edge between them). This is the cost a
// change pays before it reaches the page, beside the stream's 200 ms poll
// (docs/design.md 18.3, docs/benchmarks.md).
#include <benchmark/benchmark.h>

#include <string>

#include <fmt/format.h>

#include "api/ui/snapshot.h"
#include "bench_util.h"
#include "model/task.h"
#include "net/domain/ip.h"
#include "net/domain/vpc.h"
#include "state/records/tasks.h"

namespace kecs::bench {
namespace {

void BM_UiSnapshot(benchmark::State& state) {
  TempStore ts;
  const int n = static_cast<int>(state.range(0));
  net::Scope scope{"us-east-1", "000000000000", 1700000000};
  Status st = ts.store->Write([&](state::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto vpc, net::CreateVpc(tx, scope, *net::Ipv4Cidr::Parse("10.0.0.0/16"), false, Json::array(),
                                              "default", false));
    auto zone = net::FindZone("us-east-1", "us-east-1a");
    ASSIGN_OR_RETURN(auto subnet, net::CreateSubnet(tx, scope, vpc, net::Ipv4Cidr::Parse("10.0.0.0/20"), *zone, false,
                                                    false, Json::array(), std::nullopt));
    ASSIGN_OR_RETURN(auto web, net::CreateSecurityGroup(tx, scope, vpc.id, "web", "web", Json::array(), false));
    for (int i = 0; i < n; ++i) {
      model::Task t;
      t.region = "us-east-1";
      t.id = fmt::format("{:032x}", i + 1);
      t.cluster = "bench";
      t.family = "web";
      t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/bench/" + t.id;
      t.task_definition_arn = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1";
      t.last_status = model::TaskStatus::kRunning;
      t.group = "service:web";
      t.internal.network_mode = model::NetworkMode::kAwsvpc;
      t.internal.network.security_groups = {web.id};
      model::TaskEni eni;
      eni.id = fmt::format("eni-{:017x}", i + 1);
      eni.ip = fmt::format("10.0.{}.{}", 1 + i / 250, 1 + i % 250);
      eni.subnet_id = subnet.id;
      eni.vpc_id = vpc.id;
      t.internal.network.eni = eni;
      model::Container c;
      c.name = "app";
      t.containers = {c};
      RETURN_IF_ERROR(state::records::PutTask(tx, t));
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    state.SkipWithError(st.message().c_str());
    return;
  }
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text;
    Status rs = ts.store->Read([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto snap, api::ui::BuildSnapshot(tx));
      text = api::ui::SnapshotToJson(snap).dump();
      return Status::Ok();
    });
    if (!rs.ok()) {
      state.SkipWithError(rs.message().c_str());
      return;
    }
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["snapshot_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_UiSnapshot)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kecs::bench
