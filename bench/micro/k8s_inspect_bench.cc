// The kubernetes runtime's Inspect, side by side in one run: each pod read from the API
// server (a GET per task per resync, what the runtime does without its watch) against the
// pod watch's cache (KubernetesRuntime::Watch). The server is the tests' fake API server on
// loopback (real HTTP, its JSON), so a GET here is a lower bound of one against a real API
// server across a network.
#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "runtime/kubernetes/kubernetes_runtime.h"
#include "unit/support/fake_kube_apiserver.h"

namespace kecs {
namespace {

using runtime::kubernetes::KubernetesRuntime;

struct Pods {
  explicit Pods(int n) {
    runtime::kubernetes::Credentials creds;
    creds.server = fake.url();
    client = std::make_shared<runtime::kubernetes::Client>(creds);
    runtime::kubernetes::KubernetesOptions o;
    o.server = fake.url();
    rt = std::make_unique<KubernetesRuntime>(client, o);
    for (int i = 0; i < n; ++i) {
      runtime::TaskSpec t;
      t.task_id = fmt::format("{:032x}", i + 1);
      t.cluster = "bench";
      t.family = "web";
      t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/bench/" + t.task_id;
      t.network.mode = model::NetworkMode::kAwsvpc;
      runtime::ContainerSpec c;
      c.name = "web";
      c.image = "busybox@sha256:" + std::string(64, 'a');
      t.containers = {c};
      runtime::kubernetes::PodFacts f;
      f.region = "us-east-1";
      Json pod = runtime::kubernetes::PodManifest(t, f);
      pod["status"] = {{"phase", "Running"},
                       {"podIP", fmt::format("10.244.{}.{}", i / 250, i % 250 + 1)},
                       {"containerStatuses",
                        {{{"name", "web"},
                          {"ready", true},
                          {"containerID", "containerd://" + t.task_id},
                          {"imageID", c.image},
                          {"state", {{"running", {{"startedAt", "2026-12-07T00:00:00Z"}}}}}}}}};
      fake.Put("/api/v1/namespaces/bench-us-east-1/pods", pod);
      tasks.push_back(t);
    }
  }
  testing::FakeKubeApiServer fake;
  std::shared_ptr<runtime::kubernetes::Client> client;
  std::unique_ptr<KubernetesRuntime> rt;
  std::vector<runtime::TaskSpec> tasks;
};

void InspectAll(benchmark::State& state, bool watch) {
  Pods pods(static_cast<int>(state.range(0)));
  if (watch) {
    pods.rt->Watch(nullptr);
    // Until the watch's first list is in (a pod then costs no request).
    for (int i = 0; i < 500; ++i) {
      int before = pods.fake.requests("GET");
      (void)pods.rt->Inspect(pods.tasks[0]);
      if (pods.fake.requests("GET") == before) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  int requests_before = pods.fake.requests("GET");
  for (auto _ : state) {
    for (const auto& t : pods.tasks) {
      auto s = pods.rt->Inspect(t);
      if (!s.ok() || s->containers.empty() || s->containers[0].phase != runtime::ContainerState::Phase::kRunning) {
        state.SkipWithError("a pod did not read as running");
        return;
      }
      benchmark::DoNotOptimize(s);
    }
  }
  state.counters["tasks/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * pods.tasks.size()), benchmark::Counter::kIsRate);
  state.counters["GETs/pass"] = static_cast<double>(pods.fake.requests("GET") - requests_before) /
                                static_cast<double>(std::max<int64_t>(1, state.iterations()));
  pods.rt->StopWatch();
}

void BM_K8sInspectByGet(benchmark::State& state) { InspectAll(state, false); }
void BM_K8sInspectFromWatch(benchmark::State& state) { InspectAll(state, true); }

BENCHMARK(BM_K8sInspectByGet)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_K8sInspectFromWatch)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace kecs
