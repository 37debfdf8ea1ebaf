// The awslogs shipper's ingestion: 20 busy containers' outputs (in memory, 20,000 lines of
// ~100 bytes each) split into events, batched and appended to a sink that only counts
// them, with the checkpoint write of every pass in a real store. items_per_second is
// events per second; the CPU time is the shipper's (passes run on the benchmark's thread),
// i.e. what ingestion costs the daemon. Multiline mode adds a PCRE2 match per line.
// The IntoLogs variant delivers to the real CloudWatch Logs service (api::logs::LogsApi,
// SQLite in the same store) instead of the counting sink: the shipper's cost plus the
// store's, which is what 20 busy awslogs containers cost the daemon in all.
#include <benchmark/benchmark.h>

#include <map>
#include <string>

#include <fmt/format.h>

#include "api/logs/logs_api.h"
#include "base/clock.h"
#include "bench_util.h"
#include "reconcile/awslogs_shipper.h"
#include "state/records/tasks.h"

namespace kecs::bench {
namespace {

class CountingSink : public reconcile::LogSink {
 public:
  Result<size_t> Append(std::string_view region, std::string_view account, std::string_view group,
                        std::string_view stream, bool create_group,
                        std::span<const reconcile::LogEventIn> events) override {
    if (next_) {
      auto stored = next_->Append(region, account, group, stream, create_group, events);
      if (!stored.ok()) return stored;
    }
    events_ += static_cast<int64_t>(events.size());
    return events.size();
  }
  reconcile::LogSink* next_ = nullptr;  // where events go on to, if anywhere
  int64_t events_ = 0;
};

void Ingest(benchmark::State& state, bool multiline, bool into_logs = false) {
  constexpr int kContainers = 20;
  constexpr int kLines = 20000;
  std::string output;
  for (int i = 0; i < kLines; ++i) {
    output += fmt::format("2026-12-06T01:00:00Z INFO request {:06d} served in 12ms path=/api/items/{} status=200\n",
                          i, i % 997);
  }
  int64_t total = 0;
  for (auto _ : state) {
    state.PauseTiming();
    TempStore ts;
    CountingSink sink;
    api::logs::LogsApi logs(*ts.store, "000000000000", api::logs::LogsApi::Options{}, Clock::Real());
    if (into_logs) sink.next_ = &logs;
    std::vector<model::Task> tasks;
    for (int c = 0; c < kContainers; ++c) {
      model::Task t;
      t.region = "us-east-1";
      t.id = fmt::format("{:032x}", c + 1);
      t.cluster = "bench";
      t.family = "busy";
      t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/bench/" + t.id;
      t.last_status = model::TaskStatus::kStopped;  // read everything, then finish
      model::ContainerDefinition d;
      d.name = "app";
      d.image = "busybox";
      std::vector<model::KeyValuePair> opts = {{"awslogs-group", "g"}, {"awslogs-stream-prefix", "b"}, {"mode", "blocking"}};
      if (multiline) opts.push_back({"awslogs-datetime-format", "%Y-%m-%dT%H:%M:%S"});
      if (into_logs) opts.push_back({"awslogs-create-group", "true"});
      d.log_configuration = model::LogConfiguration{"awslogs", opts, {}};
      t.internal.containers = {d};
      model::Container mc;
      mc.name = "app";
      mc.last_status = model::ContainerStatus::kStopped;
      t.containers = {mc};
      CheckOk(ts.store->Write([&](state::Tx& tx) { return state::records::PutTask(tx, t); }), "put task");
      tasks.push_back(t);
    }
    reconcile::AwslogsShipper shipper(
        *ts.store, sink,
        [&output](const std::string&, const std::string&, int64_t offset, size_t max) -> Result<runtime::ContainerOutput> {
          runtime::ContainerOutput o;
          o.size = static_cast<int64_t>(output.size());
          if (offset < o.size) o.data = output.substr(static_cast<size_t>(offset), max);
          return o;
        },
        reconcile::AwslogsShipper::Options{}, Clock::Real());
    for (const auto& t : tasks) CheckOk(shipper.Prepare(t), "prepare");
    state.ResumeTiming();
    for (int pass = 0; pass < 1000 && sink.events_ < int64_t{kContainers} * kLines; ++pass) shipper.Pass();
    state.PauseTiming();
    if (sink.events_ != int64_t{kContainers} * kLines) {
      state.SkipWithError("not every event was shipped");
      break;
    }
    total += sink.events_;
    state.ResumeTiming();
  }
  state.SetItemsProcessed(total);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kContainers * static_cast<int64_t>(output.size()));
}

void BM_AwslogsIngest20Containers(benchmark::State& state) { Ingest(state, false); }
void BM_AwslogsIngest20ContainersMultiline(benchmark::State& state) { Ingest(state, true); }
BENCHMARK(BM_AwslogsIngest20Containers)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_AwslogsIngest20ContainersMultiline)->Unit(benchmark::kMillisecond)->Iterations(3);
void BM_AwslogsIngest20ContainersIntoLogs(benchmark::State& state) { Ingest(state, false, true); }
BENCHMARK(BM_AwslogsIngest20ContainersIntoLogs)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace kecs::bench
