// /metrics through the dispatcher: what each request counts, with bounded labels, and the
// endpoint's authentication when access keys are configured.
#include <gtest/gtest.h>

#include <memory>
#include <regex>
#include <string>

#include "api/errors.h"
#include "api/router.h"
#include "base/value_cipher.h"
#include "model/shapes.h"

namespace kecs::api {
namespace {

HttpRequest Json11(const std::string& target) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/";
  r.body = "{}";
  r.headers = {{"x-amz-target", target}, {"content-type", "application/x-amz-json-1.1"}};
  return r;
}

HttpRequest Get(const std::string& path, const std::string& authorization = "") {
  HttpRequest r;
  r.method = "GET";
  r.target = path;
  if (!authorization.empty()) r.headers = {{"authorization", authorization}};
  return r;
}

// The value of the one sample `series` (its name and labels as written), or -1.
double Sample(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

class RouterMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ecs_ = std::make_shared<Service>(model::EcsModel(), ErrorStyle{});
    ecs_->Register("ListAccountSettings", [](RequestContext&, const Json&) { return Json{{"settings", Json::array()}}; });
    ecs_->Register("DescribeCapacityProviders", [](RequestContext&, const Json&) -> Json {
      throw AwsError("ClientException", "no such capacity provider");
    });
  }
  std::shared_ptr<Service> ecs_;
};

TEST_F(RouterMetricsTest, CountsEachOperationByItsErrorCodeAndKeepsUnknownNamesOutOfLabels) {
  Router router{Router::Options{}};
  router.AddService(ecs_);
  const std::string ok = "kecs_api_requests_total{code=\"\",operation=\"ListAccountSettings\",service=\"ecs\"}";
  const std::string failed =
      "kecs_api_requests_total{code=\"ClientException\",operation=\"DescribeCapacityProviders\",service=\"ecs\"}";
  std::string before = router.Handle(Get("/metrics")).body;
  double ok0 = std::max(0.0, Sample(before, ok)), failed0 = std::max(0.0, Sample(before, failed));

  router.Handle(Json11("AmazonEC2ContainerServiceV20141113.ListAccountSettings"));
  router.Handle(Json11("AmazonEC2ContainerServiceV20141113.ListAccountSettings"));
  router.Handle(Json11("AmazonEC2ContainerServiceV20141113.DescribeCapacityProviders"));
  // An operation no model names, with a name chosen by the caller: never a label.
  router.Handle(Json11("AmazonEC2ContainerServiceV20141113.Made_Up_Op_x1"));

  HttpResponse m = router.Handle(Get("/metrics"));
  EXPECT_EQ(m.status, 200);
  bool text_type = false;
  for (const auto& [k, v] : m.headers) text_type |= k == "Content-Type" && v.starts_with("text/plain; version=0.0.4");
  EXPECT_TRUE(text_type);
  EXPECT_EQ(Sample(m.body, ok), ok0 + 2) << m.body;
  EXPECT_EQ(Sample(m.body, failed), failed0 + 1);
  EXPECT_EQ(m.body.find("Made_Up_Op_x1"), std::string::npos);
  EXPECT_GE(Sample(m.body, "kecs_api_requests_total{code=\"UnknownOperationException\",operation=\"unknown\",service=\"ecs\"}"), 1);
  // /metrics and /health are not API requests.
  EXPECT_EQ(m.body.find("operation=\"/metrics\""), std::string::npos);
}

TEST_F(RouterMetricsTest, WithKeysConfiguredTheScraperMustProveItHoldsOne) {
  Router::Options o;
  o.credentials = {{"AKIDMETRICS", "s3cr3t-metrics-key"}};
  Router router{o};
  router.AddService(ecs_);

  HttpResponse none = router.Handle(Get("/metrics"));
  EXPECT_EQ(none.status, 401);
  bool challenge = false;
  for (const auto& [k, v] : none.headers) challenge |= k == "WWW-Authenticate" && v.starts_with("Basic realm=");
  EXPECT_TRUE(challenge);
  EXPECT_EQ(none.body.find("kecs_"), std::string::npos);

  EXPECT_EQ(router.Handle(Get("/metrics", "Basic " + Base64Encode("AKIDMETRICS:wrong"))).status, 401);
  EXPECT_EQ(router.Handle(Get("/metrics", "Basic " + Base64Encode("AKIDOTHER:s3cr3t-metrics-key"))).status, 401);
  EXPECT_EQ(router.Handle(Get("/metrics", "Basic !!notbase64")).status, 401);
  HttpResponse wrong = router.Handle(Get("/metrics", "Basic " + Base64Encode("AKIDMETRICS:wrong")));
  EXPECT_EQ(wrong.body.find("s3cr3t"), std::string::npos);

  HttpResponse good = router.Handle(Get("/metrics", "basic " + Base64Encode("AKIDMETRICS:s3cr3t-metrics-key")));
  EXPECT_EQ(good.status, 200);
  EXPECT_NE(good.body.find("# TYPE kecs_drops_packets_total counter"), std::string::npos);

  HttpRequest post = Get("/metrics", "Basic " + Base64Encode("AKIDMETRICS:s3cr3t-metrics-key"));
  post.method = "POST";
  EXPECT_EQ(router.Handle(post).status, 405);
}

}  // namespace
}  // namespace kecs::api
