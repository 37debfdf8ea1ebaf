// net::AllocateIpv4 in a /16 subnet holding 0, 1000 and 10000 addresses (allocated
// contiguously from base+4, as IPAM hands them out), inside Store::Write.
//
//   BM_AllocateIpv4         the whole transaction: BEGIN IMMEDIATE, AllocateIpv4, ReleaseIpv4 of
//                           the address just taken (so the held count stays N), COMMIT.
//   BM_AllocateIpv4Only     the same transaction, but the clock covers AllocateIpv4 alone
//                           (manual time).
#include <benchmark/benchmark.h>

#include <chrono>
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
            return Status::Ok();
          }),
          "fill");
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
BENCHMARK(BM_AllocateIpv4)->Arg(0)->Arg(1000)->Arg(10000)->UseRealTime();

void BM_AllocateIpv4Only(benchmark::State& state) {
  TempStore ts;
  auto cidr = *net::Ipv4Cidr::Parse("10.20.0.0/16");
  Fill(*ts.store, cidr, state.range(0));
  for (auto _ : state) {
    double secs = 0;
    CheckOk(ts.store->Write([&](state::Tx& tx) {
              auto t0 = std::chrono::steady_clock::now();
              auto r = net::AllocateIpv4(tx, kRegion, kPool, cidr, "eni-bench");
              secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
              if (!r.ok()) return r.status();
              return net::ReleaseIpv4(tx, kRegion, kPool, *r);
            }),
            "allocate");
    state.SetIterationTime(secs);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AllocateIpv4Only)->Arg(0)->Arg(1000)->Arg(10000)->UseManualTime();

}  // namespace
}  // namespace kecs::bench
