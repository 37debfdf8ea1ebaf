// api::Router::Handle for AWS JSON 1.1 requests as the aws CLI sends them: target
// dispatch, JSON parse, type check and constraint check against the ECS model, the
// handler, and encoding of the response.
//
//   BM_RouterListClusters   ListClusters through the real EcsApi over a temporary store
//                           holding 3 clusters (a read transaction per request).
//   BM_RouterRunTaskDecode  a RunTask-sized body (~1.7 KB: network configuration, container
//                           overrides with environment, tags) through decode and model
//                           validation, to a trivial handler, so no store work is counted.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "api/ecs/ecs_api.h"
#include "api/router.h"
#include "bench_util.h"
#include "model/shapes.h"
#include "net/domain/vpc.h"

namespace kecs::bench {
namespace {

constexpr const char* kTargetPrefix = "AmazonEC2ContainerServiceV20141113.";

api::ErrorStyle EcsStyle() {
  // As daemon.cc sets it up.
  api::ErrorStyle s;
  s.ecs_enum_wording = true;
  s.lenient_optional = {"AwsVpcConfiguration.subnets"};
  return s;
}

api::HttpRequest EcsRequest(const std::string& op, std::string body) {
  return AwsJsonRequest(std::string(kTargetPrefix) + op, "ecs", std::move(body));
}

std::string RunTaskBody() {
  Json env = Json::array();
  for (int i = 0; i < 12; ++i) {
    env.push_back({{"name", "SETTING_" + std::to_string(i)}, {"value", "value-" + std::to_string(i * 7919)}});
  }
  Json body = {
      {"cluster", "bench"},
      {"taskDefinition", "web:1"},
      {"count", 10},
      {"launchType", "FARGATE"},
      {"startedBy", "bench"},
      {"group", "family:web"},
      {"enableECSManagedTags", true},
      {"propagateTags", "TASK_DEFINITION"},
      {"networkConfiguration",
       {{"awsvpcConfiguration",
         {{"subnets", {"subnet-0123456789abcdef0", "subnet-0fedcba9876543210"}},
          {"securityGroups", {"sg-0123456789abcdef0"}},
          {"assignPublicIp", "ENABLED"}}}}},
      {"overrides",
       {{"containerOverrides",
         {{{"name", "web"},
           {"command", {"/bin/httpd", "-f", "-p", "80", "-h", "/www"}},
           {"environment", env},
           {"cpu", 256},
           {"memory", 512}},
          {{"name", "sidecar"}, {"command", {"sleep", "3600"}}, {"memoryReservation", 64}}}},
        {"cpu", "512"},
        {"memory", "1024"}}},
      {"tags",
       {{{"key", "team"}, {"value", "platform"}},
        {{"key", "env"}, {"value", "bench"}},
        {{"key", "cost-center"}, {"value", "1234"}},
        {{"key", "owner"}, {"value", "someone@example.com"}},
        {{"key", "purpose"}, {"value", "microbenchmark of the API front end"}}}},
  };
  return body.dump();
}

void BM_RouterListClusters(benchmark::State& state) {
  TempStore ts;
  net::RegionBootstrap regions;
  api::ecs::EcsApi ecs(*ts.store, regions, api::ecs::EcsOptions{});
  auto svc = std::make_shared<api::Service>(model::EcsModel(), EcsStyle());
  ecs.RegisterAll(*svc);
  api::Router router(api::Router::Options{});
  router.AddService(svc);
  for (const char* name : {"alpha", "beta", "gamma"}) {
    auto r = router.Handle(EcsRequest("CreateCluster", Json{{"clusterName", name}}.dump()));
    if (r.status != 200) state.SkipWithError(("CreateCluster: " + r.body).c_str());
  }
  auto req = EcsRequest("ListClusters", "{}");
  size_t bytes = 0;
  for (auto _ : state) {
    auto r = router.Handle(req);
    bytes = r.body.size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["response_bytes"] = static_cast<double>(bytes);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RouterListClusters)->UseRealTime();

void BM_RouterRunTaskDecode(benchmark::State& state) {
  auto svc = std::make_shared<api::Service>(model::EcsModel(), EcsStyle());
  int calls = 0;
  svc->Register("RunTask", [&calls](api::RequestContext&, const Json& in) {
    calls += in.contains("networkConfiguration") ? 1 : 0;
    return Json{{"tasks", Json::array()}, {"failures", Json::array()}};
  });
  api::Router router(api::Router::Options{});
  router.AddService(svc);
  auto req = EcsRequest("RunTask", RunTaskBody());
  {
    auto r = router.Handle(req);
    if (r.status != 200 || calls != 1) state.SkipWithError(("RunTask was refused: " + r.body).c_str());
  }
  for (auto _ : state) {
    auto r = router.Handle(req);
    benchmark::DoNotOptimize(r);
  }
  state.counters["request_bytes"] = static_cast<double>(req.body.size());
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(req.body.size()));
}
BENCHMARK(BM_RouterRunTaskDecode)->UseRealTime();

}  // namespace
}  // namespace kecs::bench
