// The instance metadata service's handler: requests in, responses out.
#include <gtest/gtest.h>

#include <string>

#include "api/ec2/instance_identity.h"
#include "api/ec2/instances.h"
#include "api/metadata/imds.h"
#include "base/clock.h"
#include "base/value_cipher.h"
#include "net/domain/vpc.h"

namespace kecs::api::metadata {
namespace {

constexpr const char* kId = "i-0123456789abcdef0";

class ImdsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ec2::IdentitySigner::InMemory();
    ASSERT_TRUE(s.ok());
    signer_ = *s;
    row_ = state::Object{net::kEc2Instance, "us-east-1", kId, "vpc-0a", "r-0123456789abcdef0", "running", 0, Json{
        {"InstanceId", kId}, {"ImageId", "ami-0123456789abcdef0"}, {"InstanceType", "m5.large"},
        {"Architecture", "x86_64"}, {"AmiLaunchIndex", 0},
        {"Placement", {{"AvailabilityZone", "us-east-1b"}}}, {"PrivateIpAddress", "10.0.1.4"},
        {"PrivateDnsName", "ip-10-0-1-4.ec2.internal"}, {"SubnetId", "subnet-0a"}, {"VpcId", "vpc-0a"},
        {"RootDeviceName", "/dev/xvda"},
        {"SecurityGroups", Json::array({{{"GroupId", "sg-01"}, {"GroupName", "default"}}, {{"GroupId", "sg-02"}, {"GroupName", "web"}}})},
        {"NetworkInterfaces", Json::array({{{"NetworkInterfaceId", "eni-0a"}, {"MacAddress", "0e:11:22:33:44:55"},
                                            {"OwnerId", "000000000000"}, {"Attachment", {{"DeviceIndex", 0}}}}})},
        {"MetadataOptions", {{"HttpTokens", "optional"}, {"HttpEndpoint", "enabled"}}},
        {"kecs:userData", Base64Encode("#!/bin/bash\necho ECS_CLUSTER=x\n")},
        {"kecs:ownerId", "000000000000"}, {"kecs:pendingTime", 1700000000.0}}};
    imds_ = std::make_unique<InstanceMetadata>(
        [this](const std::string& region, const std::string& id) -> Result<std::optional<state::Object>> {
          if (region != row_.region || id != row_.id) return std::optional<state::Object>();
          return std::optional<state::Object>(row_);
        },
        signer_, clock_);
  }
  HttpResponse Call(const std::string& method, const std::string& path,
                    std::vector<std::pair<std::string, std::string>> headers = {}, const std::string& id = kId) {
    HttpRequest r;
    r.method = method;
    r.target = path;
    r.headers = std::move(headers);
    return imds_->Handle(r, "us-east-1", id);
  }
  std::string Token(int ttl = 60) {
    auto r = Call("PUT", "/latest/api/token", {{"x-aws-ec2-metadata-token-ttl-seconds", std::to_string(ttl)}});
    EXPECT_EQ(r.status, 200);
    return r.body;
  }

  FakeClock clock_{1700000000};
  std::shared_ptr<ec2::IdentitySigner> signer_;
  state::Object row_;
  std::unique_ptr<InstanceMetadata> imds_;
};

TEST_F(ImdsTest, TokenTtlBounds) {
  EXPECT_EQ(Call("PUT", "/latest/api/token").status, 400);
  EXPECT_EQ(Call("PUT", "/latest/api/token", {{"x-aws-ec2-metadata-token-ttl-seconds", "0"}}).status, 400);
  EXPECT_EQ(Call("PUT", "/latest/api/token", {{"x-aws-ec2-metadata-token-ttl-seconds", "21601"}}).status, 400);
  EXPECT_EQ(Call("PUT", "/latest/api/token", {{"x-aws-ec2-metadata-token-ttl-seconds", "5x"}}).status, 400);
  auto ok = Call("PUT", "/latest/api/token", {{"x-aws-ec2-metadata-token-ttl-seconds", "21600"}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_FALSE(ok.body.empty());
  EXPECT_EQ(Call("PUT", "/latest/api/token", {{"x-aws-ec2-metadata-token-ttl-seconds", "60"},
                                               {"x-forwarded-for", "1.2.3.4"}}).status, 403);
}

TEST_F(ImdsTest, TokensAndV1) {
  std::string t = Token(60);
  auto r = Call("GET", "/latest/meta-data/instance-id", {{"x-aws-ec2-metadata-token", t}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kId);
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance-id", {{"x-aws-ec2-metadata-token", "bogus"}}).status, 401);
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance-id").status, 200);  // IMDSv1 allowed (optional)
  clock_.Advance(61);
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance-id", {{"x-aws-ec2-metadata-token", t}}).status, 401);
  row_.doc["MetadataOptions"]["HttpTokens"] = "required";
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance-id").status, 401);
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance-id", {{"x-aws-ec2-metadata-token", Token()}}).status, 200);
  row_.doc["MetadataOptions"]["HttpEndpoint"] = "disabled";
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance-id").status, 403);
}

TEST_F(ImdsTest, TokenIsPerInstance) {
  std::string t = Token();
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance-id", {{"x-aws-ec2-metadata-token", t}}, "i-0000000000000000f").status,
            404);  // no such instance
  row_.id = "i-0000000000000000f";
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance-id", {{"x-aws-ec2-metadata-token", t}}, "i-0000000000000000f").status,
            401);
}

TEST_F(ImdsTest, Leaves) {
  auto get = [&](const std::string& p) { return Call("GET", p); };
  EXPECT_EQ(get("/latest/meta-data/ami-id").body, "ami-0123456789abcdef0");
  EXPECT_EQ(get("/latest/meta-data/instance-type").body, "m5.large");
  EXPECT_EQ(get("/latest/meta-data/local-ipv4").body, "10.0.1.4");
  EXPECT_EQ(get("/latest/meta-data/local-hostname").body, "ip-10-0-1-4.ec2.internal");
  EXPECT_EQ(get("/latest/meta-data/hostname").body, "ip-10-0-1-4.ec2.internal");
  EXPECT_EQ(get("/latest/meta-data/mac").body, "0e:11:22:33:44:55");
  EXPECT_EQ(get("/latest/meta-data/placement/availability-zone").body, "us-east-1b");
  EXPECT_EQ(get("/latest/meta-data/placement/region").body, "us-east-1");
  EXPECT_EQ(get("/latest/meta-data/security-groups").body, "default\nweb");
  EXPECT_EQ(get("/latest/meta-data/reservation-id").body, "r-0123456789abcdef0");
  const std::string mac = "/latest/meta-data/network/interfaces/macs/0e:11:22:33:44:55/";
  EXPECT_EQ(get("/latest/meta-data/network/interfaces/macs/").body, "0e:11:22:33:44:55/");
  EXPECT_EQ(get(mac + "device-number").body, "0");
  EXPECT_EQ(get(mac + "interface-id").body, "eni-0a");
  EXPECT_EQ(get(mac + "local-ipv4s").body, "10.0.1.4");
  EXPECT_EQ(get(mac + "subnet-id").body, "subnet-0a");
  EXPECT_EQ(get(mac + "vpc-id").body, "vpc-0a");
  EXPECT_EQ(get(mac + "security-group-ids").body, "sg-01\nsg-02");
  auto listing = get("/latest/meta-data/").body;
  EXPECT_NE(listing.find("instance-id\n"), std::string::npos);
  EXPECT_NE(listing.find("placement/\n"), std::string::npos);
  EXPECT_EQ(get("/latest/meta-data/nope").status, 404);
  EXPECT_EQ(get("/latest/user-data").body, "#!/bin/bash\necho ECS_CLUSTER=x\n");
  row_.doc.erase("kecs:userData");
  EXPECT_EQ(get("/latest/user-data").status, 404);
}

TEST_F(ImdsTest, IdentityDocumentAndSignatures) {
  auto doc = Call("GET", "/latest/dynamic/instance-identity/document");
  ASSERT_EQ(doc.status, 200);
  auto parsed = ParseJson(doc.body);
  ASSERT_TRUE(parsed);
  EXPECT_EQ((*parsed)["instanceId"], kId);
  EXPECT_EQ((*parsed)["accountId"], "000000000000");
  EXPECT_EQ((*parsed)["privateIp"], "10.0.1.4");
  for (const char* leaf : {"signature", "pkcs7", "rsa2048"}) {
    auto sig = Call("GET", std::string("/latest/dynamic/instance-identity/") + leaf);
    ASSERT_EQ(sig.status, 200) << leaf;
    EXPECT_TRUE(signer_->Verify(doc.body, sig.body)) << leaf;
  }
  EXPECT_EQ(Call("GET", "/latest/dynamic/instance-identity/").body, "document\npkcs7\nrsa2048\nsignature");
}

TEST_F(ImdsTest, NotRunningIsNotServed) {
  row_.status = "stopped";
  EXPECT_EQ(Call("GET", "/latest/meta-data/instance-id").status, 404);
}

}  // namespace
}  // namespace kecs::api::metadata
