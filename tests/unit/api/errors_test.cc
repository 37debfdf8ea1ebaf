#include "api/errors.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "api/protocol/query_codec.h"
#include "api/router.h"
#include "base/json.h"
#include "model/shapes.h"

namespace kecs::api {
namespace {

struct Row {
  ErrorFamily family;
  Code code;
  const char* aws_code;
  int http_status;
};

// The whole table, written out: a change to a row must change this test too.
TEST(MapStatus, TableMatchesEachFamilysCodes) {
  using F = ErrorFamily;
  const Row rows[] = {
      {F::kEcs, Code::kInvalidArgument, "InvalidParameterException", 400},
      {F::kEcs, Code::kNotFound, "ResourceNotFoundException", 400},
      {F::kEcs, Code::kAlreadyExists, "ResourceInUseException", 400},
      {F::kEcs, Code::kFailedPrecondition, "ClientException", 400},
      {F::kEcs, Code::kResourceExhausted, "ClientException", 400},
      {F::kEcs, Code::kUnavailable, "ThrottlingException", 400},
      {F::kEcs, Code::kPermissionDenied, "AccessDeniedException", 400},
      {F::kEcs, Code::kInternal, "ServerException", 500},
      {F::kEcs, Code::kOk, "ServerException", 500},
      {F::kCloudMap, Code::kInvalidArgument, "InvalidInput", 400},
      {F::kCloudMap, Code::kNotFound, "ResourceNotFoundException", 400},
      {F::kCloudMap, Code::kAlreadyExists, "ResourceInUse", 400},
      {F::kCloudMap, Code::kFailedPrecondition, "ResourceInUse", 400},
      {F::kCloudMap, Code::kResourceExhausted, "ResourceLimitExceeded", 400},
      {F::kCloudMap, Code::kUnavailable, "ThrottlingException", 400},
      {F::kCloudMap, Code::kPermissionDenied, "AccessDeniedException", 400},
      {F::kCloudMap, Code::kInternal, "InternalFailure", 500},
      {F::kJson, Code::kInvalidArgument, "ValidationException", 400},
      {F::kJson, Code::kUnavailable, "ThrottlingException", 400},
      {F::kJson, Code::kInternal, "InternalFailure", 500},
      {F::kEc2, Code::kInvalidArgument, "InvalidParameterValue", 400},
      {F::kEc2, Code::kNotFound, "InvalidParameterValue", 400},
      {F::kEc2, Code::kAlreadyExists, "IncorrectState", 400},
      {F::kEc2, Code::kFailedPrecondition, "IncorrectState", 400},
      {F::kEc2, Code::kResourceExhausted, "ResourceLimitExceeded", 400},
      {F::kEc2, Code::kUnavailable, "RequestLimitExceeded", 503},
      {F::kEc2, Code::kPermissionDenied, "UnauthorizedOperation", 403},
      {F::kEc2, Code::kInternal, "InternalError", 500},
      {F::kQuery, Code::kInvalidArgument, "ValidationError", 400},
      {F::kQuery, Code::kResourceExhausted, "LimitExceeded", 400},
      {F::kQuery, Code::kUnavailable, "Throttling", 400},
      {F::kQuery, Code::kPermissionDenied, "AccessDenied", 403},
      {F::kQuery, Code::kInternal, "InternalFailure", 500},
  };
  for (const Row& r : rows) {
    WireError w = MapStatus(r.family, r.code);
    EXPECT_EQ(w.code, r.aws_code) << static_cast<int>(r.family) << " " << CodeName(r.code);
    EXPECT_EQ(w.http_status, r.http_status) << static_cast<int>(r.family) << " " << CodeName(r.code);
    EXPECT_FALSE(w.message.empty());
  }
}

// Only kInternal (and a bogus kOk) is a server fault; every other code is the client's or
// a retryable condition, which must never be a 500. The one 5xx besides is EC2's busy
// answer, RequestLimitExceeded, which EC2 sends with 503 (and botocore retries as such).
TEST(MapStatus, OnlyInternalIsAServerFault) {
  for (ErrorFamily f : {ErrorFamily::kEcs, ErrorFamily::kCloudMap, ErrorFamily::kJson,
                        ErrorFamily::kEc2, ErrorFamily::kQuery}) {
    for (Code c : {Code::kInvalidArgument, Code::kNotFound, Code::kAlreadyExists,
                   Code::kFailedPrecondition, Code::kResourceExhausted, Code::kUnavailable,
                   Code::kPermissionDenied}) {
      if (f == ErrorFamily::kEc2 && c == Code::kUnavailable) continue;
      EXPECT_LT(MapStatus(f, c).http_status, 500) << CodeName(c);
    }
    EXPECT_EQ(MapStatus(f, Code::kInternal).http_status, 500);
  }
}

// The busy-store answer is one of botocore's throttling codes (retries/standard.py
// _THROTTLED_ERROR_CODES; data/_retry.json: ThrottlingException/400, EC2
// RequestLimitExceeded/503, Throttling/400).
TEST(MapStatus, BusyStoreIsAThrottlingCodeBotocoreRetries) {
  EXPECT_EQ(MapStatus(ErrorFamily::kEcs, Code::kUnavailable).code, "ThrottlingException");
  EXPECT_EQ(MapStatus(ErrorFamily::kEc2, Code::kUnavailable).http_status, 503);
  EXPECT_EQ(MapStatus(ErrorFamily::kQuery, Code::kUnavailable).code, "Throttling");
}

TEST(MapException, JsonLibraryErrorsAreValidationErrors) {
  try {
    Json j = nullptr;
    (void)j.at("x");
    FAIL();
  } catch (const std::exception& e) {
    AwsError a = MapException(ErrorFamily::kEcs, e);
    EXPECT_EQ(a.code(), "InvalidParameterException");
    EXPECT_EQ(a.http_status(), 400);
    EXPECT_EQ(a.message().find("json.exception"), std::string::npos) << a.message();
  }
}

TEST(MapException, StollFailuresAreValidationErrors) {
  try {
    (void)std::stoll("not-a-number");
    FAIL();
  } catch (const std::exception& e) {
    AwsError a = MapException(ErrorFamily::kEc2, e);
    EXPECT_EQ(a.code(), "InvalidParameterValue");
    EXPECT_EQ(a.http_status(), 400);
    EXPECT_EQ(a.message().find("stoll"), std::string::npos);
  }
  try {
    (void)std::stoi("99999999999999999999");
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_EQ(MapException(ErrorFamily::kCloudMap, e).code(), "InvalidInput");
  }
}

TEST(MapException, OtherExceptionsAreTheFamilysServerErrorWithoutTheirText) {
  std::runtime_error e("sqlite: database disk image is malformed /var/lib/kecs/kecs.db");
  AwsError a = MapException(ErrorFamily::kEcs, e);
  EXPECT_EQ(a.code(), "ServerException");
  EXPECT_EQ(a.http_status(), 500);
  EXPECT_EQ(a.message().find("sqlite"), std::string::npos);
}

// ---- Through the dispatcher: what a client sees ----

HttpRequest JsonRequest(const std::string& target, const std::string& body,
                        const std::string& region = "us-east-1") {
  HttpRequest r;
  r.method = "POST";
  r.target = "/";
  r.body = body;
  r.headers = {{"x-amz-target", target},
               {"content-type", "application/x-amz-json-1.1"},
               {"authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/" + region +
                                     "/ecs/aws4_request, SignedHeaders=host, Signature=00"}};
  return r;
}

HttpRequest Ec2Request(const std::string& body, const std::string& region = "us-east-1") {
  HttpRequest r;
  r.method = "POST";
  r.target = "/";
  r.body = body;
  r.headers = {{"content-type", "application/x-www-form-urlencoded"},
               {"authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/" + region +
                                     "/ec2/aws4_request, SignedHeaders=host, Signature=00"}};
  return r;
}

class DispatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ErrorStyle ecs_style;
    ecs_style.lenient_optional = {"AwsVpcConfiguration.subnets"};
    ecs_ = std::make_shared<Service>(model::EcsModel(), ecs_style);
    ErrorStyle ec2_style;
    ec2_style.ec2_missing_parameter = true;
    ec2_ = std::make_shared<Service>(model::Ec2Model(), ec2_style);
    router_.AddService(ecs_);
    router_.AddService(ec2_);
  }

  Json JsonBody(const HttpResponse& r) {
    auto j = ParseJson(r.body);
    EXPECT_TRUE(j) << r.body;
    return j ? *j : Json();
  }

  Router router_{Router::Options{}};
  std::shared_ptr<Service> ecs_, ec2_;
};

TEST_F(DispatchTest, BusyStoreIsThrottlingNot500AndHidesSqliteText) {
  ecs_->Register("ListClusters", [](RequestContext&, const Json&) -> Json {
    throw StatusError(Unavailable("exec `BEGIN IMMEDIATE`: database is locked"));
  });
  HttpResponse r = router_.Handle(JsonRequest("AmazonEC2ContainerServiceV20141113.ListClusters", "{}"));
  EXPECT_EQ(r.status, 400);
  Json b = JsonBody(r);
  EXPECT_EQ(b["__type"], "ThrottlingException");
  EXPECT_EQ(r.body.find("locked"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("BEGIN"), std::string::npos) << r.body;
}

TEST_F(DispatchTest, InternalStatusIsA500WithAGenericMessage) {
  ecs_->Register("ListClusters", [](RequestContext&, const Json&) -> Json {
    throw StatusError(Internal("step: disk I/O error at /var/lib/kecs/kecs.db"));
  });
  HttpResponse r = router_.Handle(JsonRequest("AmazonEC2ContainerServiceV20141113.ListClusters", "{}"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(JsonBody(r)["__type"], "ServerException");
  EXPECT_EQ(r.body.find("kecs.db"), std::string::npos) << r.body;
}

TEST_F(DispatchTest, LibraryExceptionInHandlerIsAValidationError) {
  ecs_->Register("ListClusters", [](RequestContext&, const Json& in) -> Json {
    return {{"n", std::stoll(in.value("nextToken", std::string("x")))}};
  });
  HttpResponse r = router_.Handle(
      JsonRequest("AmazonEC2ContainerServiceV20141113.ListClusters", R"({"nextToken":"abc"})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(JsonBody(r)["__type"], "InvalidParameterException");
}

TEST_F(DispatchTest, NullListElementIsAValidationErrorBeforeTheHandler) {
  bool called = false;
  ecs_->Register("DescribeClusters", [&](RequestContext&, const Json&) -> Json {
    called = true;
    return Json::object();
  });
  HttpResponse r = router_.Handle(
      JsonRequest("AmazonEC2ContainerServiceV20141113.DescribeClusters", R"({"clusters":[null]})"));
  EXPECT_FALSE(called);
  EXPECT_EQ(r.status, 400);
  Json b = JsonBody(r);
  EXPECT_EQ(b["__type"], "InvalidParameterException");
  EXPECT_NE(b["message"].get<std::string>().find("clusters.1.member"), std::string::npos);
}

TEST_F(DispatchTest, NullMemberReachesTheHandlerAsAbsent) {
  Json seen;
  ecs_->Register("RunTask", [&](RequestContext&, const Json& in) -> Json {
    seen = in;
    return Json::object();
  });
  HttpResponse r = router_.Handle(JsonRequest(
      "AmazonEC2ContainerServiceV20141113.RunTask",
      R"({"taskDefinition":"web","cluster":null,"networkConfiguration":{"awsvpcConfiguration":{"subnets":null}}})"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(seen.contains("cluster"));
  EXPECT_FALSE(seen["networkConfiguration"]["awsvpcConfiguration"].contains("subnets"));
}

TEST_F(DispatchTest, NullRequiredMemberIsMissing) {
  ecs_->Register("RunTask", [](RequestContext&, const Json&) -> Json { return Json::object(); });
  HttpResponse r = router_.Handle(
      JsonRequest("AmazonEC2ContainerServiceV20141113.RunTask", R"({"taskDefinition":null})"));
  EXPECT_EQ(r.status, 400);
  Json b = JsonBody(r);
  EXPECT_EQ(b["__type"], "InvalidParameterException");
  EXPECT_NE(b["message"].get<std::string>().find("Member must not be null"), std::string::npos);
}

TEST_F(DispatchTest, InvalidRegionIsRefusedInJsonShape) {
  bool called = false;
  ecs_->Register("ListClusters", [&](RequestContext&, const Json&) -> Json {
    called = true;
    return Json::object();
  });
  HttpResponse r = router_.Handle(
      JsonRequest("AmazonEC2ContainerServiceV20141113.ListClusters", "{}", std::string(5000, 'x')));
  EXPECT_FALSE(called);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(JsonBody(r)["__type"], "InvalidSignatureException");
  EXPECT_LT(r.body.size(), 1000u);
}

TEST_F(DispatchTest, InvalidRegionIsRefusedInEc2Shape) {
  bool called = false;
  ec2_->Register("DescribeVpcs", [&](RequestContext&, const Json&) -> Json {
    called = true;
    return Json::object();
  });
  HttpResponse r = router_.Handle(Ec2Request("Action=DescribeVpcs&Version=2016-11-15", "us-east-1x"));
  EXPECT_FALSE(called);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("<Code>AuthFailure</Code>"), std::string::npos) << r.body;
}

TEST_F(DispatchTest, ValidRegionsOfEveryPartitionReachTheHandler) {
  std::string region_seen;
  ec2_->Register("DescribeVpcs", [&](RequestContext& ctx, const Json&) -> Json {
    region_seen = ctx.region;
    return Json::object();
  });
  for (const char* region : {"eu-west-3", "cn-northwest-1", "us-gov-west-1", "us-isob-east-1"}) {
    HttpResponse r = router_.Handle(Ec2Request("Action=DescribeVpcs&Version=2016-11-15", region));
    EXPECT_EQ(r.status, 200) << region << ": " << r.body;
    EXPECT_EQ(region_seen, region);
  }
}

TEST_F(DispatchTest, Ec2ErrorNeverEchoesInvalidUtf8OrControls) {
  ec2_->Register("DescribeVpcs", [](RequestContext&, const Json&) -> Json { return Json::object(); });
  // An unknown parameter whose name holds a NUL, an escape, a lone continuation byte and a
  // truncated sequence: its name is echoed in the error.
  HttpResponse r = router_.Handle(
      Ec2Request("Action=DescribeVpcs&Version=2016-11-15&Bad%00%1b%80%E2%82=1"));
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(protocol::IsValidUtf8(r.body)) << r.body;
  for (unsigned char c : r.body) {
    EXPECT_FALSE(c < 0x20 && c != '\t' && c != '\n' && c != '\r') << static_cast<int>(c);
  }
  EXPECT_EQ(r.body.find('\x80'), std::string::npos);
}

}  // namespace
}  // namespace kecs::api
