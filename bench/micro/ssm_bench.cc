// SSM Parameter Store's GetParameter through api::Router::Handle as the aws CLI sends it:
// target dispatch, JSON parse, model checks, a read transaction, the row's decode and the
// response's encoding (with WithDecryption, one AES-256-GCM open as well).
//
//   BM_SsmGetParameter/N            GetParameter of a String parameter, in a store holding
//                                   N parameters (1 and 1,000), each with two versions.
//   BM_SsmGetParameterDecrypted     GetParameter WithDecryption of a SecureString.
//   BM_SsmResolveParameter          ResolveParameter, as the ECS integration calls it at
//                                   task start.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "api/router.h"
#include "api/ssm/ssm_api.h"
#include "bench_util.h"
#include "model/shapes.h"

namespace kecs::bench {
namespace {

api::HttpRequest SsmRequest(const std::string& op, std::string body) {
  return AwsJsonRequest("AmazonSSM." + op, "ssm", std::move(body));
}

struct SsmFixture {
  TempStore ts;
  std::unique_ptr<api::ssm::SsmApi> api;
  api::Router router{api::Router::Options{}};

  SsmFixture(benchmark::State& state, int parameters) {
    api = std::make_unique<api::ssm::SsmApi>(*ts.store, ts.dir.path() + "/ssm-parameters.key");
    auto svc = std::make_shared<api::Service>(model::SsmModel(), api::ErrorStyle{});
    api->RegisterAll(*svc);
    router.AddService(svc);
    auto put = [&](const Json& in) {
      auto r = router.Handle(SsmRequest("PutParameter", in.dump()));
      if (r.status != 200) state.SkipWithError(("PutParameter: " + r.body).c_str());
    };
    for (int i = 0; i < parameters; ++i) {
      std::string name = "/app/param-" + std::to_string(i);
      put({{"Name", name}, {"Value", "https://api.example.test/v1"}, {"Type", "String"}});
      put({{"Name", name}, {"Value", "https://api.example.test/v2"}, {"Type", "String"}, {"Overwrite", true}});
    }
    put({{"Name", "/app/token"}, {"Value", "0123456789abcdef0123456"}, {"Type", "SecureString"}});
  }
};

void Loop(benchmark::State& state, SsmFixture& f, const api::HttpRequest& req) {
  for (auto _ : state) {
    auto r = f.router.Handle(req);
    if (r.status != 200) state.SkipWithError(("GetParameter: " + r.body).c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_SsmGetParameter(benchmark::State& state) {
  SsmFixture f(state, static_cast<int>(state.range(0)));
  Loop(state, f, SsmRequest("GetParameter", R"({"Name":"/app/param-0"})"));
}
BENCHMARK(BM_SsmGetParameter)->Arg(1)->Arg(1000)->UseRealTime();

void BM_SsmGetParameterDecrypted(benchmark::State& state) {
  SsmFixture f(state, 1);
  Loop(state, f, SsmRequest("GetParameter", R"({"Name":"/app/token","WithDecryption":true})"));
}
BENCHMARK(BM_SsmGetParameterDecrypted)->UseRealTime();

void BM_SsmResolveParameter(benchmark::State& state) {
  SsmFixture f(state, 1);
  for (auto _ : state) {
    auto v = f.api->ResolveParameter("/app/token", "us-east-1", "000000000000");
    if (!v.ok()) state.SkipWithError(v.status().message().c_str());
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SsmResolveParameter)->UseRealTime();

}  // namespace
}  // namespace kecs::bench
