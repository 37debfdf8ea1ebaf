// FilterLogEvents over 1,000,000 stored events (issue 14): one log group of 20 streams,
// events ~90 bytes each, one in 100 holding the term ERROR and ten in all holding the term
// needle. Each benchmark reports the latency of one FilterLogEvents call (through its
// registered handler: pattern parse, the store read, the match) as p50 and p99 counters.
//   FilterTermCommon: filterPattern "ERROR", limit 100 (a page of matches, ~10,000 rows read).
//   FilterTermRare:   filterPattern "needle", default limit: each call reads up to the scan
//                     budget (250,000 events) and returns its matches and a nextToken; the
//                     counter "pages" is the calls one full search of the group takes.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "api/logs/logs_api.h"
#include "api/router.h"
#include "bench_util.h"
#include "model/shapes.h"

namespace kecs::bench {
namespace {

constexpr int64_t kEvents = 1000000;
constexpr double kNow = 1700000000.0;

struct LogsFixture {
  TempStore ts;
  FakeClock clock{kNow};
  std::unique_ptr<api::logs::LogsApi> api;
  std::shared_ptr<api::Service> service;

  LogsFixture() {
    api = std::make_unique<api::logs::LogsApi>(*ts.store, "000000000000", api::logs::LogsApi::Options{}, clock);
    service = std::make_shared<api::Service>(model::LogsModel(), api::ErrorStyle{});
    api->RegisterAll(*service);
    const int64_t start = static_cast<int64_t>(kNow * 1000) - kEvents;  // one event per ms, ending now
    std::vector<reconcile::LogEventIn> batch;
    for (int64_t i = 0; i < kEvents; ++i) {
      std::string msg = fmt::format("{} GET /api/items/{} {} {}ms request_id=r{:012d}",
                                    i % 100 == 7 ? "ERROR" : "INFO", i % 9973, 200 + i % 5, i % 300, i);
      if (i % (kEvents / 10) == 12345) msg += " needle";
      batch.push_back({start + i, std::move(msg)});
      if (batch.size() == 10000) {
        auto r = api->Append("us-east-1", "000000000000", "/bench/app", fmt::format("web/app/{}", (i / 10000) % 20),
                             true, batch);
        CheckOk(r.status(), "Append");
        batch.clear();
      }
    }
  }

  Json Call(const Json& in) {
    api::RequestContext ctx;
    ctx.region = "us-east-1";
    ctx.account_id = "000000000000";
    ctx.now = kNow;
    return (*service->Find("FilterLogEvents"))(ctx, in);
  }
};

LogsFixture& Fixture() {
  static LogsFixture* f = new LogsFixture();  // built once, for every benchmark here
  return *f;
}

void Percentiles(benchmark::State& state, std::vector<double>& ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))]; };
  state.counters["p50_ms"] = at(0.50);
  state.counters["p99_ms"] = at(0.99);
}

void BM_LogsFilterTermCommon(benchmark::State& state) {
  LogsFixture& f = Fixture();
  std::vector<double> ms;
  size_t found = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    Json out = f.Call({{"logGroupName", "/bench/app"}, {"filterPattern", "ERROR"}, {"limit", 100}});
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    found = out["events"].size();
  }
  state.counters["events"] = static_cast<double>(found);
  Percentiles(state, ms);
}
BENCHMARK(BM_LogsFilterTermCommon)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(200);

void BM_LogsFilterTermRare(benchmark::State& state) {
  LogsFixture& f = Fixture();
  std::vector<double> ms;
  size_t pages = 0, found = 0;
  for (auto _ : state) {
    Json in = {{"logGroupName", "/bench/app"}, {"filterPattern", "needle"}};
    pages = found = 0;
    for (;;) {
      auto t0 = std::chrono::steady_clock::now();
      Json out = f.Call(in);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      ++pages;
      found += out["events"].size();
      if (!out.contains("nextToken")) break;
      in["nextToken"] = out["nextToken"];
    }
  }
  state.counters["pages"] = static_cast<double>(pages);
  state.counters["events"] = static_cast<double>(found);
  Percentiles(state, ms);
}
BENCHMARK(BM_LogsFilterTermRare)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

}  // namespace
}  // namespace kecs::bench
