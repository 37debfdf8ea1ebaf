#include "api/sigv4.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace kecs::api
