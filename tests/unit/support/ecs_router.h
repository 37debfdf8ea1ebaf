#pragma once
// A test fixture: kecs's real ECS handlers behind the router, on a store in a temp dir.
// Send/Call make one ECS call as the aws CLI would send it (no keys configured, so the
// signature is not checked; its credential scope names the region).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "api/ecs/ecs_api.h"
#include "api/router.h"
#include "model/shapes.h"
#include "net/domain/vpc.h"
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::testing {

class EcsRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    ecs_ = std::make_unique<api::ecs::EcsApi>(*store_, regions_, api::ecs::EcsOptions{});
    api::ErrorStyle style;
    style.ecs_enum_wording = true;
    auto svc = std::make_shared<api::Service>(model::EcsModel(), style);
    ecs_->RegisterAll(*svc);
    router_.AddService(svc);
  }

  api::HttpResponse Send(const std::string& op, const Json& body) {
    api::HttpRequest r;
    r.method = "POST";
    r.target = "/";
    r.body = body.dump();
    r.headers = {
        {"host", "127.0.0.1:8080"},
        {"x-amz-target", "AmazonEC2ContainerServiceV20141113." + op},
        {"content-type", "application/x-amz-json-1.1"},
        {"x-amz-date", "20240101T000000Z"},
        {"authorization",
         "AWS4-HMAC-SHA256 Credential=AKIDKECSTEST/20240101/us-east-1/ecs/aws4_request, "
         "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00"},
        {"content-length", std::to_string(r.body.size())},
    };
    return router_.Handle(r);
  }
  Json Call(const std::string& op, const Json& body, int want_status = 200) {
    auto resp = Send(op, body);
    EXPECT_EQ(resp.status, want_status) << op << ": " << resp.body;
    auto j = ParseJson(resp.body);
    return j ? *j : Json();
  }

  TempDir dir_;
  std::unique_ptr<state::Store> store_;
  net::RegionBootstrap regions_;
  std::unique_ptr<api::ecs::EcsApi> ecs_;
  api::Router router_{api::Router::Options{}};
};

}  // namespace kecs::testing
