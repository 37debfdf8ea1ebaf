// Secrets Manager's GetSecretValue through api::Router::Handle as the aws CLI sends it:
// target dispatch, JSON parse, model checks, a read transaction, the row's decode, one
// AES-256-GCM open and the response's encoding.
//
//   BM_SecretsManagerGetSecretValue/N   GetSecretValue by name of a 64-byte JSON secret
//                                       in a store holding N secrets (1 and 1,000), each
//                                       with two versions (AWSCURRENT, AWSPREVIOUS).
//   BM_SecretsManagerResolveReference   ResolveReference of "<arn>:password::", as the
//                                       ECS integration calls it at task start.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "api/router.h"
#include "api/secretsmanager/secretsmanager_api.h"
#include "bench_util.h"
#include "model/secretsmanager_model.h"
#include "model/shapes.h"

namespace kecs::bench {
namespace {

api::HttpRequest SecretsRequest(const std::string& op, std::string body) {
  return AwsJsonRequest("secretsmanager." + op, "secretsmanager", std::move(body));
}

struct Fixture {
  TempStore ts;
  std::unique_ptr<api::secretsmanager::SecretsManagerApi> api;
  api::Router router{api::Router::Options{}};
  std::string arn;

  explicit Fixture(benchmark::State& state, int secrets) {
    api = std::make_unique<api::secretsmanager::SecretsManagerApi>(*ts.store, ts.dir.path() + "/secretsmanager.key");
    api::ErrorStyle style;
    style.message_key = "Message";
    auto svc = std::make_shared<api::Service>(model::SecretsManagerModel(), style);
    api->RegisterAll(*svc);
    router.AddService(svc);
    const std::string value = R"({"username":"admin","password":"0123456789abcdef0123456"})";
    for (int i = 0; i < secrets; ++i) {
      std::string name = "app/secret-" + std::to_string(i);
      auto r = router.Handle(SecretsRequest("CreateSecret", Json{{"Name", name}, {"SecretString", value}}.dump()));
      if (r.status != 200) state.SkipWithError(("CreateSecret: " + r.body).c_str());
      if (i == 0) arn = Json::parse(r.body)["ARN"];
      r = router.Handle(SecretsRequest("PutSecretValue", Json{{"SecretId", name}, {"SecretString", value}}.dump()));
      if (r.status != 200) state.SkipWithError(("PutSecretValue: " + r.body).c_str());
    }
  }
};

void BM_SecretsManagerGetSecretValue(benchmark::State& state) {
  Fixture f(state, static_cast<int>(state.range(0)));
  auto req = SecretsRequest("GetSecretValue", R"({"SecretId":"app/secret-0"})");
  for (auto _ : state) {
    auto r = f.router.Handle(req);
    if (r.status != 200) state.SkipWithError(("GetSecretValue: " + r.body).c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SecretsManagerGetSecretValue)->Arg(1)->Arg(1000)->UseRealTime();

void BM_SecretsManagerResolveReference(benchmark::State& state) {
  Fixture f(state, 1);
  const std::string ref = f.arn + ":password::";
  for (auto _ : state) {
    auto v = f.api->ResolveReference(ref, "us-east-1", "000000000000");
    if (!v.ok()) state.SkipWithError(v.status().message().c_str());
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SecretsManagerResolveReference)->UseRealTime();

}  // namespace
}  // namespace kecs::bench
