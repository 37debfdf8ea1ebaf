// The SecretSource the daemon gives the task controller: Secrets Manager ARNs to Secrets
// Manager's reader, everything else to Parameter Store's, with the task's region and account.
#include "api/secret_sources.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kecs::api {
namespace {

struct Calls {
  std::vector<std::string> ssm, sm;
};

ServiceSecretSource::Reader Recorder(std::vector<std::string>& calls, std::string answer) {
  return [&calls, answer](std::string_view ref, std::string_view region, std::string_view account)
             -> Result<std::string> {
    calls.push_back(std::string(region) + " " + std::string(account) + " " + std::string(ref));
    if (ref.find("missing") != std::string_view::npos) return NotFound(std::string(ref) + " not found");
    return answer;
  };
}

TEST(ServiceSecretSource, DispatchesByTheReferencesService) {
  Calls calls;
  ServiceSecretSource source(Recorder(calls.ssm, "from-ssm"), Recorder(calls.sm, "from-sm"));
  const std::string sm = "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf:password:AWSCURRENT:";
  EXPECT_EQ(*source.Resolve(sm, "us-east-1", "000000000000"), "from-sm");
  EXPECT_EQ(*source.Resolve("arn:aws-cn:secretsmanager:cn-north-1:000000000000:secret:x-AbCdEf", "us-east-1",
                            "000000000000"),
            "from-sm");
  EXPECT_EQ(*source.Resolve("/app/api-url", "eu-west-1", "111111111111"), "from-ssm");
  EXPECT_EQ(*source.Resolve("plain:3", "eu-west-1", "111111111111"), "from-ssm");
  EXPECT_EQ(*source.Resolve("arn:aws:ssm:us-east-1:000000000000:parameter/app/api-url", "us-east-1", "000000000000"),
            "from-ssm");
  // A name that merely contains "secretsmanager" is a parameter name.
  EXPECT_EQ(*source.Resolve("/secretsmanager/x", "us-east-1", "000000000000"), "from-ssm");
  EXPECT_EQ(calls.sm, (std::vector<std::string>{
                          "us-east-1 000000000000 " + sm,
                          "us-east-1 000000000000 arn:aws-cn:secretsmanager:cn-north-1:000000000000:secret:x-AbCdEf"}));
  EXPECT_EQ(calls.ssm.size(), 4u);
  EXPECT_EQ(calls.ssm[0], "eu-west-1 111111111111 /app/api-url");
  EXPECT_TRUE(IsSecretsManagerReference(sm));
  EXPECT_FALSE(IsSecretsManagerReference("arn:aws:ssm:us-east-1:0:parameter/secretsmanager:x"));
}

TEST(ServiceSecretSource, ErrorsComeBackAsTheReaderSaysAndEmptyIsRefused) {
  Calls calls;
  ServiceSecretSource source(Recorder(calls.ssm, "v"), Recorder(calls.sm, "v"));
  auto r = source.Resolve("/app/missing", "us-east-1", "000000000000");
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(), "/app/missing not found");
  EXPECT_EQ(source.Resolve("", "us-east-1", "000000000000").status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(calls.ssm.size() == 1 && calls.sm.empty());
  // A service that is not wired: NotFound naming the reference.
  ServiceSecretSource half(Recorder(calls.ssm, "v"), nullptr);
  auto h = half.Resolve("arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf", "us-east-1", "0");
  EXPECT_EQ(h.status().code(), Code::kNotFound);
  EXPECT_NE(h.status().message().find("secret:db-AbCdEf"), std::string::npos);
}

}  // namespace
}  // namespace kecs::api
