// net::AllocateIpv4 in a /16 subnet holding 0, 1000, 10000 and 60000 addresses (allocated
// contiguously from base+4, as IPAM hands them out), inside Store::Write. Fill ends with
// one automatic allocation and its release, so the pool's free ranges (design.md 17.4)
// are built before the clock starts.
//
//   BM_AllocateIpv4         the whole transaction: BEGIN IMMEDIATE, AllocateIpv4, ReleaseIpv4 of
//                           the address just taken (so the held count stays N), COMMIT.
//   BM_AllocateIpv4Only     the same transaction, but the clock covers AllocateIpv4 alone
//                           (manual time).
//   BM_ReleaseIpv4Only      the same transaction, the clock covering ReleaseIpv4 alone.
// The *Only ones also report cpu_us: the calling thread's CPU time in the timed call, per
// call, which preemption by other processes on a busy machine does not inflate.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <string>

#include "bench_util.h"
#include "net/domain/ip.h"
#include "net/domain/ipam.h"

namespace kecs::bench {
namespace {

const char* kRegion = "us-east-1";
const char* kPool = "subnet-0123456789abcdef0";

void Fill(state::Store& store, const net::Ipv4Cidr& cidr, int64_t n) {
  CheckOk(store.Write([&](state::Tx& tx) {
            for (int64_t i = 0; i < n; ++i) {
              auto r = net::AllocateIpv4(tx, kRegion, kPool, cidr, "eni-held" + std::to_string(i),
                                         cidr.base + 4 + static_cast<uint32_t>(i));
              if (!r.ok()) return r.status();
            }
            auto r = net::AllocateIpv4(tx, kRegion, kPool, cidr, "eni-warm");
            if (!r.ok()) return r.status();
            return net::ReleaseIpv4(tx, kRegion, kPool, *r);
          }),
          "fill");
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void BM_AllocateIpv4(benchmark::State& state) {
  TempStore ts;
  auto cidr = *net::Ipv4Cidr::Parse("10.20.0.0/16");
  Fill(*ts.store, cidr, state.range(0));
  uint32_t got = 0;
  for (auto _ : state) {
    CheckOk(ts.store->Write([&](state::Tx& tx) {
              auto r = net::AllocateIpv4(tx, kRegion, kPool, cidr, "eni-bench");
              if (!r.ok()) return r.status();
              got = *r;
              return net::ReleaseIpv4(tx, kRegion, kPool, got);
            }),
            "allocate");
  }
  if (got != cidr.base + 4 + static_cast<uint32_t>(state.range(0))) state.SkipWithError("unexpected address");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AllocateIpv4)->Arg(0)->Arg(1000)->Arg(10000)->Arg(60000)->UseRealTime();

void BM_AllocateIpv4Only(benchmark::State& state) {
  TempStore ts;
  auto cidr = *net::Ipv4Cidr::Parse("10.20.0.0/16");
  Fill(*ts.store, cidr, state.range(0));
  double cpu = 0;
  for (auto _ : state) {
    double secs = 0;
    CheckOk(ts.store->Write([&](state::Tx& tx) {
              double c0 = ThreadCpuSeconds();
              auto t0 = std::chrono::steady_clock::now();
              auto r = net::AllocateIpv4(tx, kRegion, kPool, cidr, "eni-bench");
              secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
              cpu += ThreadCpuSeconds() - c0;
              if (!r.ok()) return r.status();
              return net::ReleaseIpv4(tx, kRegion, kPool, *r);
            }),
            "allocate");
    state.SetIterationTime(secs);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["cpu_us"] = cpu * 1e6 / static_cast<double>(std::max<int64_t>(1, state.iterations()));
}
BENCHMARK(BM_AllocateIpv4Only)->Arg(0)->Arg(1000)->Arg(10000)->Arg(60000)->UseManualTime();

void BM_ReleaseIpv4Only(benchmark::State& state) {
  TempStore ts;
  auto cidr = *net::Ipv4Cidr::Parse("10.20.0.0/16");
  Fill(*ts.store, cidr, state.range(0));
  double cpu = 0;
  for (auto _ : state) {
    double secs = 0;
    CheckOk(ts.store->Write([&](state::Tx& tx) {
              auto r = net::AllocateIpv4(tx, kRegion, kPool, cidr, "eni-bench");
              if (!r.ok()) return r.status();
              double c0 = ThreadCpuSeconds();
              auto t0 = std::chrono::steady_clock::now();
              Status st = net::ReleaseIpv4(tx, kRegion, kPool, *r);
              secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
              cpu += ThreadCpuSeconds() - c0;
              return st;
            }),
            "release");
    state.SetIterationTime(secs);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["cpu_us"] = cpu * 1e6 / static_cast<double>(std::max<int64_t>(1, state.iterations()));
}
BENCHMARK(BM_ReleaseIpv4Only)->Arg(0)->Arg(1000)->Arg(10000)->Arg(60000)->UseManualTime();

}  // namespace
}  // namespace kecs::bench
