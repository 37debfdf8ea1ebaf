#pragma once
// A fixture for tests of the real EC2 handlers (no router, no HTTP): a fresh store, Ec2Api
// registered on a Service of EC2's model, and calls as account 000000000000 in us-east-1.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "api/ec2/ec2_api.h"
#include "api/router.h"
#include "model/shapes.h"
#include "net/domain/vpc.h"
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::testing {

class Ec2HandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    api_ = std::make_unique<api::ec2::Ec2Api>(*store_, regions_);
    api::ErrorStyle style;
    style.ec2_missing_parameter = true;
    svc_ = std::make_shared<api::Service>(model::Ec2Model(), style);
    api_->RegisterAll(*svc_);
  }

  // `strict`: as a daemon started with --strict serves it.
  Json Call(const std::string& op, const Json& in, bool strict = false) {
    api::RequestContext ctx;
    ctx.strict = strict;
    ctx.region = "us-east-1";
    ctx.account_id = "000000000000";
    ctx.now = 1700000000;
    return (*svc_->Find(op))(ctx, in);
  }

  // The code and message a call is refused with; "" when it succeeds.
  std::string Refusal(const std::string& op, const Json& in) {
    try {
      Call(op, in);
    } catch (const api::AwsError& e) {
      return e.code() + ": " + e.message();
    }
    return "";
  }

  TempDir dir_;
  std::unique_ptr<state::Store> store_;
  net::RegionBootstrap regions_;
  std::unique_ptr<api::ec2::Ec2Api> api_;
  std::shared_ptr<api::Service> svc_;
};

}  // namespace kecs::testing
