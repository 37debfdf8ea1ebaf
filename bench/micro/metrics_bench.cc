// The cost /metrics adds (base/metrics.h): what every API request pays to be counted, and
// a scrape of a daemon-sized exposition.
//
//   BM_ObserveRequest  one request counted (counter + histogram), from 1 and 4 threads
//                      over 40 operations (the router does this once per request).
//   BM_Scrape          Scrape() with the request families filled and a source of 1,000
//                      ENIs x 2 directions x 3 families (a 1,000-task host).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "base/metrics.h"

namespace kecs::bench {
namespace {

const std::vector<std::string>& Ops() {
  static const std::vector<std::string> ops = [] {
    std::vector<std::string> v;
    for (int i = 0; i < 40; ++i) v.push_back("Operation" + std::to_string(i));
    return v;
  }();
  return ops;
}

void BM_ObserveRequest(benchmark::State& state) {
  size_t i = static_cast<size_t>(state.thread_index()) * 7;
  for (auto _ : state) {
    metrics::ObserveRequest("ecs", Ops()[i++ % Ops().size()], "", 0.0007);
  }
}
BENCHMARK(BM_ObserveRequest)->Threads(1)->Threads(4)->UseRealTime();

void BM_Scrape(benchmark::State& state) {
  for (const auto& op : Ops()) metrics::ObserveRequest("ecs", op, "", 0.001);
  int h = metrics::AddSource([] {
    std::vector<metrics::Family> out;
    for (const char* name : {"kecs_bench_bytes_total", "kecs_bench_packets_total", "kecs_bench_drops_total"}) {
      metrics::Family f{name, "bench", metrics::Family::Type::kCounter, {}};
      for (int e = 0; e < 1000; ++e) {
        for (const char* dir : {"ingress", "egress"}) {
          f.samples.push_back({{{"eni", "eni-" + std::to_string(100000 + e)}, {"direction", dir}}, 12345.0 * e});
        }
      }
      out.push_back(std::move(f));
    }
    return out;
  });
  size_t bytes = 0;
  for (auto _ : state) bytes = metrics::Scrape().size();
  metrics::RemoveSource(h);
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Scrape)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kecs::bench
