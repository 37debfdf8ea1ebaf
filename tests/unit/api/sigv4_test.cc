#include "api/sigv4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "api/router.h"
#include "base/clock.h"
#include "model/shapes.h"

namespace kecs::api {
namespace {

HttpRequest EcsListClusters() {
  HttpRequest r;
  r.method = "POST";
  r.target = "/";
  r.body = "{}";
  r.headers = {{"content-type", "application/x-amz-json-1.1"},
               {"host", "localhost:8080"},
               {"x-amz-date", "20260101T000000Z"},
               {"x-amz-target", "AmazonEC2ContainerServiceV20141113.ListClusters"}};
  return r;
}

// Vectors computed with botocore's SigV4Auth for the same request.
TEST(SigV4, MatchesBotocoreForEcs) {
  HttpRequest r = EcsListClusters();
  SigV4Auth a{"AKIDEXAMPLE", "20260101", "us-east-1", "ecs",
              {"content-type", "host", "x-amz-date", "x-amz-target"}, ""};
  EXPECT_EQ(ComputeSignature(r, a, "secret", "20260101T000000Z"),
            "dcc3268842d26f8da0947bd90c5fde7048a0efac6b3dc38cda5f173667cb4f49");
}

TEST(SigV4, ParsesCredentialScope) {
  auto a = ParseAuthorization(
      "AWS4-HMAC-SHA256 Credential=AKID/20261123/eu-west-1/ec2/aws4_request, "
      "SignedHeaders=content-type;host;x-amz-date, Signature=abc");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->access_key, "AKID");
  EXPECT_EQ(a->region, "eu-west-1");
  EXPECT_EQ(a->service, "ec2");
  EXPECT_EQ(a->signed_headers.size(), 3u);
  EXPECT_EQ(a->signature, "abc");
  EXPECT_FALSE(ParseAuthorization("Basic dXNlcg=="));
  EXPECT_FALSE(ParseAuthorization("AWS4-HMAC-SHA256 Credential=AKID/2026/us-east-1/ecs"));
}

TEST(SigV4, VerifyAcceptsGoodAndRejectsTamperedRequests) {
  HttpRequest r = EcsListClusters();
  SigV4Auth a{"AKIDEXAMPLE", "20260101", "us-east-1", "ecs",
              {"content-type", "host", "x-amz-date", "x-amz-target"}, ""};
  std::string sig = ComputeSignature(r, a, "secret", "20260101T000000Z");
  r.headers.emplace_back("authorization",
                         "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/ecs/aws4_request, "
                         "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + sig);
  std::map<std::string, std::string> keys = {{"AKIDEXAMPLE", "secret"}};
  double t = 1767225600;  // 2026-01-01T00:00:00Z
  EXPECT_EQ(VerifySigV4(r, keys, t), SigV4Result::kOk);
  EXPECT_EQ(VerifySigV4(r, keys, t + 3600), SigV4Result::kExpired);
  EXPECT_EQ(VerifySigV4(r, {{"OTHER", "secret"}}, t), SigV4Result::kUnknownKey);
  EXPECT_EQ(VerifySigV4(r, {{"AKIDEXAMPLE", "wrong"}}, t), SigV4Result::kMismatch);
  r.body = "{\"maxResults\": 1}";
  EXPECT_EQ(VerifySigV4(r, keys, t), SigV4Result::kMismatch);
  HttpRequest none = EcsListClusters();
  EXPECT_EQ(VerifySigV4(none, keys, t), SigV4Result::kMissing);
}

constexpr double kJan1 = 1767225600;  // 2026-01-01T00:00:00Z
// SHA-256 of "{}".
constexpr const char* kEmptyObjectSha =
    "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

// Signs `r` as the SDKs do, over every header it carries.
void SignRequest(HttpRequest& r, const std::string& secret = "secret") {
  std::vector<std::string> names;
  for (const auto& [k, v] : r.headers) names.push_back(k);
  std::sort(names.begin(), names.end());
  SigV4Auth a{"AKIDEXAMPLE", "20260101", "us-east-1", "ecs", names, ""};
  std::string sig = ComputeSignature(r, a, secret, "20260101T000000Z");
  std::string signed_headers;
  for (const auto& n : names) signed_headers += (signed_headers.empty() ? "" : ";") + n;
  r.headers.emplace_back("authorization",
                         "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/ecs/aws4_request, "
                         "SignedHeaders=" + signed_headers + ", Signature=" + sig);
}

TEST(SigV4, PayloadHashHeaderMustMatchTheBody) {
  HttpRequest r = EcsListClusters();
  r.headers.emplace_back("x-amz-content-sha256", kEmptyObjectSha);
  SignRequest(r);
  std::map<std::string, std::string> keys = {{"AKIDEXAMPLE", "secret"}};
  EXPECT_EQ(VerifySigV4(r, keys, kJan1), SigV4Result::kOk);
  // The signature covers the header's value, not the body: the same signed headers with
  // another body (a replay) still verify as a signature, and must fail on the hash.
  r.body = "{\"clusterName\": \"evil\"}";
  EXPECT_EQ(VerifySigV4(r, keys, kJan1), SigV4Result::kPayloadHashMismatch);
}

TEST(SigV4, PayloadHashHeaderOutsideSignedHeadersIsCheckedToo) {
  HttpRequest r = EcsListClusters();
  SignRequest(r);
  r.headers.emplace_back("x-amz-content-sha256", std::string(64, '0'));
  EXPECT_EQ(VerifySigV4(r, {{"AKIDEXAMPLE", "secret"}}, kJan1), SigV4Result::kMismatch);
}

TEST(SigV4, UnsignedPayloadIsRefusedOverKecsPlainHttp) {
  HttpRequest r = EcsListClusters();
  r.headers.emplace_back("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
  SignRequest(r);
  EXPECT_EQ(VerifySigV4(r, {{"AKIDEXAMPLE", "secret"}}, kJan1), SigV4Result::kPayloadHashMismatch);
}

TEST(SigV4, PayloadHashIsComparedCaseInsensitively) {
  HttpRequest r = EcsListClusters();
  std::string upper = kEmptyObjectSha;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  r.headers.emplace_back("x-amz-content-sha256", upper);
  SignRequest(r);
  EXPECT_EQ(VerifySigV4(r, {{"AKIDEXAMPLE", "secret"}}, kJan1), SigV4Result::kOk);
}

class RouterAuthTest : public ::testing::Test {
 protected:
  RouterAuthTest() : clock_(kJan1) {
    Router::Options o;
    o.credentials = {{"AKIDEXAMPLE", "secret"}};
    o.clock = &clock_;
    o.health = [] { return Json{{"status", "ok"}}; };
    o.internal = [](const HttpRequest&) {
      HttpResponse r;
      r.body = "internal";
      return r;
    };
    router_ = std::make_unique<Router>(o);
  }

  static HttpRequest Get(const std::string& target) {
    HttpRequest r;
    r.method = "GET";
    r.target = target;
    r.headers = {{"host", "localhost:8080"}, {"x-amz-date", "20260101T000000Z"}};
    return r;
  }

  FakeClock clock_;
  std::unique_ptr<Router> router_;
};

TEST_F(RouterAuthTest, HealthAndInternalEndpointsRefuseUnsignedRequests) {
  for (const char* target : {"/health", "/_kecs/v1/logs?task=0123456789abcdef0123456789abcdef"}) {
    HttpResponse r = router_->Handle(Get(target));
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_NE(r.body.find("MissingAuthenticationTokenException"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("internal"), std::string::npos);
  }
}

TEST_F(RouterAuthTest, HealthAndInternalEndpointsRefuseWrongSecrets) {
  for (const char* target : {"/health", "/_kecs/v1/logs"}) {
    HttpRequest req = Get(target);
    SignRequest(req, "wrong");
    HttpResponse r = router_->Handle(req);
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_NE(r.body.find("InvalidSignatureException"), std::string::npos) << r.body;
  }
}

TEST_F(RouterAuthTest, HealthAndInternalEndpointsAnswerSignedRequests) {
  HttpRequest health = Get("/health");
  SignRequest(health);
  HttpResponse r = router_->Handle(health);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"ok\""), std::string::npos);
  HttpRequest logs = Get("/_kecs/v1/logs?task=0123456789abcdef0123456789abcdef&offset=0");
  SignRequest(logs);
  r = router_->Handle(logs);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "internal");
}

TEST_F(RouterAuthTest, ReplayedJsonRequestWithAnotherBodyIsXAmzContentSha256Mismatch) {
  auto ecs = std::make_shared<Service>(model::EcsModel(), ErrorStyle{});
  ecs->Register("ListClusters", [](RequestContext&, const Json&) {
    return Json{{"clusterArns", Json::array()}};
  });
  router_->AddService(ecs);
  HttpRequest r = EcsListClusters();
  r.headers.emplace_back("x-amz-content-sha256", kEmptyObjectSha);
  SignRequest(r);
  ASSERT_EQ(router_->Handle(r).status, 200);
  r.body = "{\"maxResults\": 1}";
  HttpResponse resp = router_->Handle(r);
  EXPECT_EQ(resp.status, 400);
  EXPECT_NE(resp.body.find("XAmzContentSHA256Mismatch"), std::string::npos) << resp.body;
}

}  // namespace
}  // namespace kecs::api
