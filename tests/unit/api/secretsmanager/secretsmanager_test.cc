// The Secrets Manager operations against a temporary store, through the registered
// handlers, ResolveReference as the ECS integration calls it, and requests through the
// router as the aws CLI sends them (JSON 1.1).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include <memory>
#include <set>
#include <string>

#include "api/router.h"
#include "api/secretsmanager/secret.h"
#include "api/secretsmanager/secretsmanager_api.h"
#include "model/secretsmanager_model.h"
#include "model/shapes.h"
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::api::secretsmanager {
namespace {

constexpr const char* kRegion = "us-east-1";
constexpr const char* kAccount = "000000000000";
constexpr const char* kToken1 = "11111111-1111-1111-1111-111111111111";
constexpr const char* kToken2 = "22222222-2222-2222-2222-222222222222";

class SecretsManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    Restart();
    router_.AddService(service_);
  }

  std::string key_path() const { return dir_.path() + "/secretsmanager.key"; }

  // A fresh API over the same store, as after a restart (the cipher is opened anew).
  void Restart() {
    api_ = std::make_unique<SecretsManagerApi>(*store_, key_path(), Env::Default(), &clock_);
    service_ = std::make_shared<Service>(model::SecretsManagerModel(), ErrorStyle{"Message"});
    api_->RegisterAll(*service_);
  }

  Json Call(const std::string& op, const Json& in) {
    RequestContext ctx;
    ctx.region = kRegion;
    ctx.account_id = kAccount;
    ctx.operation = op;
    clock_.Advance(1);
    ctx.now = clock_.Now();
    const OperationFn* fn = service_->Find(op);
    EXPECT_NE(fn, nullptr) << op;
    return (*fn)(ctx, in);
  }

  std::pair<std::string, std::string> Fail(const std::string& op, const Json& in) {
    try {
      Call(op, in);
    } catch (const AwsError& e) {
      return {e.code(), e.message()};
    }
    return {"", ""};
  }

  Json Create(const std::string& name, const std::string& value, Json extra = Json::object()) {
    extra["Name"] = name;
    extra["SecretString"] = value;
    return Call("CreateSecret", extra);
  }

  Result<std::string> Resolve(const std::string& ref) { return api_->ResolveReference(ref, kRegion, kAccount); }

  std::string AllRowsText() {
    std::string text;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      auto rows = tx.List({kSecretKind, kRegion});
      for (const auto& r : *rows) text += r.doc.dump() + r.internal.dump();
      return Status::Ok();
    }).ok());
    return text;
  }

  testing::TempDir dir_;
  FakeClock clock_{1700000000};
  std::unique_ptr<state::Store> store_;
  std::unique_ptr<SecretsManagerApi> api_;
  std::shared_ptr<Service> service_;
  Router router_{Router::Options{}};
};

using Err = std::pair<std::string, std::string>;
const Err kNotFound{"ResourceNotFoundException", "Secrets Manager can't find the specified secret."};
const Err kMarked{"InvalidRequestException",
                  "You can't perform this operation on the secret because it was marked for deletion."};

TEST_F(SecretsManagerTest, CreateGivesAnArnWithSixRandomCharactersAndGetReadsByNameOrArn) {
  Json c = Create("prod/db", "s3cret", {{"Description", "the db"}, {"ClientRequestToken", kToken1}});
  std::string arn = c["ARN"];
  EXPECT_TRUE(arn.starts_with("arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-")) << arn;
  EXPECT_EQ(arn.size(), std::string("arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-").size() + 6);
  EXPECT_EQ(c["Name"], "prod/db");
  EXPECT_EQ(c["VersionId"], kToken1);
  for (const std::string& id : {std::string("prod/db"), arn, arn.substr(0, arn.size() - 7)}) {
    Json v = Call("GetSecretValue", {{"SecretId", id}});
    EXPECT_EQ(v["SecretString"], "s3cret") << id;
    EXPECT_EQ(v["VersionStages"], Json::array({"AWSCURRENT"}));
    EXPECT_EQ(v["ARN"], arn);
  }
  EXPECT_EQ(Fail("GetSecretValue", {{"SecretId", "nope"}}), kNotFound);
  // Another region's or account's ARN is another secret.
  std::string other = arn;
  other.replace(other.find("us-east-1"), 9, "eu-west-1");
  EXPECT_EQ(Fail("GetSecretValue", {{"SecretId", other}}), kNotFound);
  // A full ARN with other random characters is another secret.
  std::string wrong = arn.substr(0, arn.size() - 1) + (arn.back() == 'Z' ? "Y" : "Z");
  EXPECT_EQ(Fail("GetSecretValue", {{"SecretId", wrong}}), kNotFound);
}

TEST_F(SecretsManagerTest, CreateIsIdempotentOnItsTokenAndRefusesAnExistingName) {
  Json a = Create("x", "v", {{"ClientRequestToken", kToken1}});
  EXPECT_EQ(Create("x", "v", {{"ClientRequestToken", kToken1}}), a);
  EXPECT_EQ(Fail("CreateSecret", {{"Name", "x"}, {"SecretString", "other"}, {"ClientRequestToken", kToken1}}),
            (Err{"ResourceExistsException", "The operation failed because the secret x already exists."}));
  EXPECT_EQ(Fail("CreateSecret", {{"Name", "x"}, {"SecretString", "v"}}).first, "ResourceExistsException");
  EXPECT_EQ(Fail("CreateSecret", {{"Name", "bad name"}, {"SecretString", "v"}}).first, "InvalidParameterException");
  EXPECT_EQ(Fail("CreateSecret", {{"Name", "y"}, {"SecretString", "v"}, {"SecretBinary", "AAAA"}}).first,
            "InvalidParameterException");
  EXPECT_EQ(Fail("CreateSecret", {{"Name", "y"}, {"SecretString", std::string(65537, 'a')}}).first,
            "LimitExceededException");
  // No value: a secret without versions, whose AWSCURRENT is missing.
  Json e = Call("CreateSecret", {{"Name", "empty"}});
  EXPECT_FALSE(e.contains("VersionId"));
  EXPECT_EQ(Fail("GetSecretValue", {{"SecretId", "empty"}}),
            (Err{"ResourceNotFoundException",
                 "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT"}));
}

TEST_F(SecretsManagerTest, BinarySecretsRoundTripAsBase64) {
  Call("CreateSecret", {{"Name", "bin"}, {"SecretBinary", "AAEC/w=="}});
  Json v = Call("GetSecretValue", {{"SecretId", "bin"}});
  EXPECT_EQ(v["SecretBinary"], "AAEC/w==");
  EXPECT_FALSE(v.contains("SecretString"));
  EXPECT_EQ(Fail("CreateSecret", {{"Name", "bin2"}, {"SecretBinary", "!!!"}}).first, "InvalidParameterException");
}

TEST_F(SecretsManagerTest, PutAndUpdateMoveCurrentAndPreviousAsAws) {
  Create("s", "v1", {{"ClientRequestToken", kToken1}});
  Json p = Call("PutSecretValue", {{"SecretId", "s"}, {"SecretString", "v2"}, {"ClientRequestToken", kToken2}});
  EXPECT_EQ(p["VersionStages"], Json::array({"AWSCURRENT"}));
  EXPECT_EQ(Call("GetSecretValue", {{"SecretId", "s"}})["SecretString"], "v2");
  EXPECT_EQ(Call("GetSecretValue", {{"SecretId", "s"}, {"VersionStage", "AWSPREVIOUS"}})["SecretString"], "v1");
  EXPECT_EQ(Call("GetSecretValue", {{"SecretId", "s"}, {"VersionId", kToken1}})["SecretString"], "v1");
  // The same token and value again is a no-op; another value under it is refused.
  EXPECT_EQ(Call("PutSecretValue", {{"SecretId", "s"}, {"SecretString", "v2"}, {"ClientRequestToken", kToken2}})["VersionId"],
            kToken2);
  EXPECT_EQ(Fail("PutSecretValue", {{"SecretId", "s"}, {"SecretString", "zz"}, {"ClientRequestToken", kToken2}}).first,
            "ResourceExistsException");
  // A pending version leaves AWSCURRENT where it is.
  Json pend = Call("PutSecretValue", {{"SecretId", "s"}, {"SecretString", "v3"}, {"VersionStages", {"AWSPENDING"}}});
  EXPECT_EQ(Call("GetSecretValue", {{"SecretId", "s"}})["SecretString"], "v2");
  EXPECT_EQ(Call("GetSecretValue", {{"SecretId", "s"}, {"VersionStage", "AWSPENDING"}})["SecretString"], "v3");
  Json u = Call("UpdateSecret", {{"SecretId", "s"}, {"SecretString", "v4"}, {"Description", "d"}});
  ASSERT_TRUE(u.contains("VersionId"));
  Json d = Call("DescribeSecret", {{"SecretId", "s"}});
  EXPECT_EQ(d["Description"], "d");
  EXPECT_EQ(d["VersionIdsToStages"][u["VersionId"].get<std::string>()], Json::array({"AWSCURRENT"}));
  EXPECT_EQ(d["VersionIdsToStages"][kToken2], Json::array({"AWSPREVIOUS"}));
  EXPECT_FALSE(d["VersionIdsToStages"].contains(kToken1));  // deprecated: no stages left
  EXPECT_EQ(Fail("GetSecretValue", {{"SecretId", "s"}, {"VersionId", kToken2}, {"VersionStage", "AWSCURRENT"}}).first,
            "InvalidRequestException");
  EXPECT_EQ(Fail("GetSecretValue", {{"SecretId", "s"}, {"VersionStage", "NOPE"}}).second,
            "Secrets Manager can't find the specified secret value for staging label: NOPE");
  EXPECT_EQ(Fail("PutSecretValue", {{"SecretId", "s"}}).first, "InvalidRequestException");
  // Metadata only: no new version.
  EXPECT_FALSE(Call("UpdateSecret", {{"SecretId", "s"}, {"KmsKeyId", "alias/mine"}}).contains("VersionId"));
  EXPECT_EQ(Call("DescribeSecret", {{"SecretId", "s"}})["KmsKeyId"], "alias/mine");
  // ListSecretVersionIds: deprecated versions only when asked.
  EXPECT_EQ(Call("ListSecretVersionIds", {{"SecretId", "s"}})["Versions"].size(), 3u);
  EXPECT_EQ(Call("ListSecretVersionIds", {{"SecretId", "s"}, {"IncludeDeprecated", true}})["Versions"].size(), 4u);
  Json page = Call("ListSecretVersionIds", {{"SecretId", "s"}, {"MaxResults", 2}});
  EXPECT_EQ(page["Versions"].size(), 2u);
  EXPECT_EQ(Call("ListSecretVersionIds", {{"SecretId", "s"}, {"NextToken", page["NextToken"]}})["Versions"].size(), 1u);
  (void)pend;
}

TEST_F(SecretsManagerTest, UpdateSecretVersionStageMovesLabels) {
  Create("s", "v1", {{"ClientRequestToken", kToken1}});
  Call("PutSecretValue", {{"SecretId", "s"}, {"SecretString", "v2"}, {"ClientRequestToken", kToken2},
                          {"VersionStages", {"AWSPENDING"}}});
  EXPECT_EQ(Fail("UpdateSecretVersionStage", {{"SecretId", "s"}, {"VersionStage", "AWSCURRENT"}, {"MoveToVersionId", kToken2}})
                .first,
            "InvalidParameterException");
  Call("UpdateSecretVersionStage", {{"SecretId", "s"}, {"VersionStage", "AWSCURRENT"}, {"MoveToVersionId", kToken2},
                                    {"RemoveFromVersionId", kToken1}});
  EXPECT_EQ(Call("GetSecretValue", {{"SecretId", "s"}})["SecretString"], "v2");
  EXPECT_EQ(Call("GetSecretValue", {{"SecretId", "s"}, {"VersionStage", "AWSPREVIOUS"}})["SecretString"], "v1");
  Call("UpdateSecretVersionStage", {{"SecretId", "s"}, {"VersionStage", "AWSPENDING"}, {"RemoveFromVersionId", kToken2}});
  EXPECT_EQ(Fail("GetSecretValue", {{"SecretId", "s"}, {"VersionStage", "AWSPENDING"}}).first,
            "ResourceNotFoundException");
  EXPECT_EQ(Fail("UpdateSecretVersionStage", {{"SecretId", "s"}, {"VersionStage", "AWSCURRENT"}, {"RemoveFromVersionId", kToken2}})
                .first,
            "InvalidParameterException");
}

TEST_F(SecretsManagerTest, DeleteSchedulesRestoreCancelsAndTheWindowsEndDeletes) {
  Create("s", "v");
  EXPECT_EQ(Fail("DeleteSecret", {{"SecretId", "s"}, {"RecoveryWindowInDays", 7}, {"ForceDeleteWithoutRecovery", true}})
                .second,
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
  EXPECT_EQ(Fail("DeleteSecret", {{"SecretId", "s"}, {"RecoveryWindowInDays", 6}}).second,
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).");
  Json d = Call("DeleteSecret", {{"SecretId", "s"}});
  EXPECT_NEAR(d["DeletionDate"].get<double>() - clock_.Now(), 30 * 86400.0, 1);
  EXPECT_EQ(Fail("GetSecretValue", {{"SecretId", "s"}}), kMarked);
  EXPECT_EQ(Fail("PutSecretValue", {{"SecretId", "s"}, {"SecretString", "x"}}), kMarked);
  EXPECT_TRUE(Call("DescribeSecret", {{"SecretId", "s"}}).contains("DeletedDate"));
  EXPECT_EQ(Call("ListSecrets", Json::object())["SecretList"].size(), 0u);
  EXPECT_EQ(Call("ListSecrets", {{"IncludePlannedDeletion", true}})["SecretList"].size(), 1u);
  EXPECT_EQ(Fail("CreateSecret", {{"Name", "s"}, {"SecretString", "v"}}).first, "InvalidRequestException");
  Call("RestoreSecret", {{"SecretId", "s"}});
  EXPECT_EQ(Call("GetSecretValue", {{"SecretId", "s"}})["SecretString"], "v");
  EXPECT_FALSE(Call("DescribeSecret", {{"SecretId", "s"}}).contains("DeletedDate"));
  // A 7-day window passes: the secret is gone, and its name is free again.
  Call("DeleteSecret", {{"SecretId", "s"}, {"RecoveryWindowInDays", 7}});
  clock_.Advance(7 * 86400.0 + 1);
  EXPECT_EQ(Fail("DescribeSecret", {{"SecretId", "s"}}), kNotFound);
  Create("s", "new");
  EXPECT_EQ(Call("GetSecretValue", {{"SecretId", "s"}})["SecretString"], "new");
  // Force: gone at once.
  Call("DeleteSecret", {{"SecretId", "s"}, {"ForceDeleteWithoutRecovery", true}});
  EXPECT_EQ(Fail("DescribeSecret", {{"SecretId", "s"}}), kNotFound);
  EXPECT_EQ(Fail("RestoreSecret", {{"SecretId", "s"}}), kNotFound);
}

TEST_F(SecretsManagerTest, ListSecretsFiltersNegatesSortsAndPages) {
  Create("app/db", "1", {{"Description", "Database password"}, {"Tags", {{{"Key", "env"}, {"Value", "prod"}}}}});
  Create("app/api", "2", {{"Description", "API key"}, {"Tags", {{{"Key", "env"}, {"Value", "dev"}}}}});
  Create("other", "3");
  auto names = [&](Json in) {
    std::vector<std::string> out;
    Json listed = Call("ListSecrets", in);
    for (const auto& e : listed["SecretList"]) out.push_back(e["Name"]);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names(Json::object()), (V{"other", "app/api", "app/db"}));  // newest first
  EXPECT_EQ(names({{"SortOrder", "asc"}}), (V{"app/db", "app/api", "other"}));
  EXPECT_EQ(names({{"Filters", {{{"Key", "name"}, {"Values", {"app/"}}}}}, {"SortOrder", "asc"}}),
            (V{"app/db", "app/api"}));
  EXPECT_EQ(names({{"Filters", {{{"Key", "name"}, {"Values", {"!app/"}}}}}}), (V{"other"}));
  EXPECT_EQ(names({{"Filters", {{{"Key", "description"}, {"Values", {"database"}}}}}}), (V{"app/db"}));
  EXPECT_EQ(names({{"Filters", {{{"Key", "tag-key"}, {"Values", {"env"}}}}}}).size(), 2u);
  EXPECT_EQ(names({{"Filters", {{{"Key", "tag-value"}, {"Values", {"prod"}}}}}}), (V{"app/db"}));
  EXPECT_EQ(names({{"Filters", {{{"Key", "tag-value"}, {"Values", {"prod", "dev"}}}}}}).size(), 2u);
  EXPECT_EQ(names({{"Filters", {{{"Key", "primary-region"}, {"Values", {"us-east"}}}}}}).size(), 3u);
  EXPECT_EQ(names({{"Filters", {{{"Key", "owning-service"}, {"Values", {"ecs"}}}}}}).size(), 0u);
  EXPECT_EQ(names({{"Filters", {{{"Key", "all"}, {"Values", {"password"}}}}}}), (V{"app/db"}));
  EXPECT_EQ(names({{"Filters", {{{"Key", "name"}, {"Values", {"app"}}}, {{"Key", "tag-value"}, {"Values", {"!prod"}}}}}}),
            (V{"app/api"}));
  EXPECT_EQ(Fail("ListSecrets", {{"Filters", {{{"Key", "name"}, {"Values", {"a!b"}}}}}}).first,
            "InvalidParameterException");
  Json p1 = Call("ListSecrets", {{"MaxResults", 2}});
  ASSERT_EQ(p1["SecretList"].size(), 2u);
  Json p2 = Call("ListSecrets", {{"MaxResults", 2}, {"NextToken", p1["NextToken"]}});
  EXPECT_EQ(p2["SecretList"].size(), 1u);
  EXPECT_EQ(p2["SecretList"][0]["Name"], "app/db");
  EXPECT_FALSE(p2.contains("NextToken"));
  EXPECT_EQ(Fail("ListSecrets", {{"NextToken", "garbage"}}).first, "InvalidNextTokenException");
  Json entry = Call("ListSecrets", {{"Filters", {{{"Key", "name"}, {"Values", {"app/db"}}}}}})["SecretList"][0];
  EXPECT_EQ(entry["Tags"], Json::array({{{"Key", "env"}, {"Value", "prod"}}}));
  EXPECT_EQ(entry["SecretVersionsToStages"].size(), 1u);
}

TEST_F(SecretsManagerTest, BatchGetByIdsOrFiltersWithErrors) {
  Create("a", "1");
  Create("b", "2");
  Create("gone", "3");
  Call("DeleteSecret", {{"SecretId", "gone"}});
  Json r = Call("BatchGetSecretValue", {{"SecretIdList", {"a", "b", "missing", "gone"}}});
  ASSERT_EQ(r["SecretValues"].size(), 2u);
  EXPECT_EQ(r["SecretValues"][0]["SecretString"], "1");
  ASSERT_EQ(r["Errors"].size(), 2u);
  EXPECT_EQ(r["Errors"][0], (Json{{"SecretId", "missing"}, {"ErrorCode", "ResourceNotFoundException"},
                                  {"Message", "Secrets Manager can't find the specified secret."}}));
  EXPECT_EQ(r["Errors"][1]["ErrorCode"], "InvalidRequestException");
  Json f = Call("BatchGetSecretValue", {{"Filters", {{{"Key", "name"}, {"Values", {"a", "b"}}}}}, {"MaxResults", 1}});
  EXPECT_EQ(f["SecretValues"].size(), 1u);
  EXPECT_TRUE(f.contains("NextToken"));
  EXPECT_EQ(Fail("BatchGetSecretValue", Json::object()).first, "InvalidParameterException");
  EXPECT_EQ(Fail("BatchGetSecretValue", {{"SecretIdList", {"a"}}, {"Filters", Json::array()}}).first,
            "InvalidParameterException");
}

TEST_F(SecretsManagerTest, TagsMergeAndGo) {
  Create("t", "v", {{"Tags", {{{"Key", "a"}, {"Value", "1"}}}}});
  Call("TagResource", {{"SecretId", "t"}, {"Tags", {{{"Key", "a"}, {"Value", "2"}}, {{"Key", "b"}, {"Value", "3"}}}}});
  EXPECT_EQ(Call("DescribeSecret", {{"SecretId", "t"}})["Tags"],
            Json::array({{{"Key", "a"}, {"Value", "2"}}, {{"Key", "b"}, {"Value", "3"}}}));
  Call("UntagResource", {{"SecretId", "t"}, {"TagKeys", {"a"}}});
  EXPECT_EQ(Call("DescribeSecret", {{"SecretId", "t"}})["Tags"], Json::array({{{"Key", "b"}, {"Value", "3"}}}));
  EXPECT_EQ(Fail("TagResource", {{"SecretId", "nope"}, {"Tags", Json::array()}}), kNotFound);
  Json many = Json::array();
  for (int i = 0; i < 51; ++i) many.push_back({{"Key", "k" + std::to_string(i)}, {"Value", ""}});
  EXPECT_EQ(Fail("TagResource", {{"SecretId", "t"}, {"Tags", many}}).first, "LimitExceededException");
}

TEST_F(SecretsManagerTest, GetRandomPasswordHonoursEveryOption) {
  std::string p = Call("GetRandomPassword", Json::object())["RandomPassword"];
  EXPECT_EQ(p.size(), 32u);
  auto has = [](const std::string& s, auto pred) { return std::any_of(s.begin(), s.end(), pred); };
  for (int i = 0; i < 50; ++i) {
    std::string q = Call("GetRandomPassword", {{"PasswordLength", 4}})["RandomPassword"];
    ASSERT_EQ(q.size(), 4u);
    EXPECT_TRUE(has(q, ::islower) && has(q, ::isupper) && has(q, ::isdigit) && has(q, ::ispunct)) << q;
  }
  std::string n = Call("GetRandomPassword", {{"PasswordLength", 200}, {"ExcludePunctuation", true},
                                             {"ExcludeUppercase", true}, {"ExcludeCharacters", "abc0"}})["RandomPassword"];
  EXPECT_FALSE(has(n, ::ispunct) || has(n, ::isupper) || has(n, [](char c) { return c == 'a' || c == 'b' || c == 'c' || c == '0'; }));
  std::string sp = Call("GetRandomPassword", {{"PasswordLength", 5}, {"IncludeSpace", true}, {"ExcludeLowercase", true},
                                              {"ExcludeUppercase", true}, {"ExcludeNumbers", true},
                                              {"ExcludePunctuation", true}})["RandomPassword"];
  EXPECT_EQ(sp, "     ");
  EXPECT_EQ(Fail("GetRandomPassword", {{"ExcludeLowercase", true}, {"ExcludeUppercase", true}, {"ExcludeNumbers", true},
                                       {"ExcludePunctuation", true}})
                .first,
            "InvalidParameterException");
  EXPECT_EQ(Fail("GetRandomPassword", {{"PasswordLength", 3}}).first, "InvalidParameterException");
  EXPECT_EQ(Call("GetRandomPassword", {{"PasswordLength", 3}, {"RequireEachIncludedType", false}})["RandomPassword"]
                .get<std::string>()
                .size(),
            3u);
  // Every digit turns up in a long numeric password: no value is unreachable.
  std::string digits = Call("GetRandomPassword", {{"PasswordLength", 4096}, {"ExcludeLowercase", true},
                                                  {"ExcludeUppercase", true}, {"ExcludePunctuation", true}})["RandomPassword"];
  EXPECT_EQ(std::set<char>(digits.begin(), digits.end()).size(), 10u);
}

TEST_F(SecretsManagerTest, ValuesAreSealedAtRestAndSurviveARestart) {
  Create("db", "hunter2-plaintext", {{"Description", "described"}});
  Call("PutSecretValue", {{"SecretId", "db"}, {"SecretString", "second-plaintext"}});
  std::string text = AllRowsText();
  EXPECT_EQ(text.find("hunter2-plaintext"), std::string::npos);
  EXPECT_EQ(text.find("second-plaintext"), std::string::npos);
  EXPECT_NE(text.find("described"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(stat(key_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  Restart();
  EXPECT_EQ(Call("GetSecretValue", {{"SecretId", "db"}})["SecretString"], "second-plaintext");
  // A lost key is not remade while sealed values exist: a server fault, never a new key.
  ASSERT_EQ(::unlink(key_path().c_str()), 0);
  Restart();
  try {
    Call("GetSecretValue", {{"SecretId", "db"}});
    ADD_FAILURE() << "no error";
  } catch (const AwsError& e) {
    EXPECT_EQ(e.code(), "InternalServiceError");
    EXPECT_EQ(e.http_status(), 500);
    EXPECT_EQ(std::string(e.message()).find("plaintext"), std::string::npos);
  }
  EXPECT_NE(::access(key_path().c_str(), F_OK), 0);
}

TEST_F(SecretsManagerTest, ResolveReferenceReadsWholeSecretsJsonKeysStagesAndVersions) {
  std::string arn = Create("prod/db", R"({"username":"admin","password":"pw1","port":5432,"nested":{"a":1}})",
                           {{"ClientRequestToken", kToken1}})["ARN"];
  Call("PutSecretValue", {{"SecretId", "prod/db"}, {"SecretString", R"({"password":"pw2"})"},
                          {"ClientRequestToken", kToken2}});
  EXPECT_EQ(*Resolve(arn), R"({"password":"pw2"})");
  EXPECT_EQ(*Resolve("prod/db"), R"({"password":"pw2"})");
  EXPECT_EQ(*Resolve(arn + ":password::"), "pw2");
  EXPECT_EQ(*Resolve(arn + ":password"), "pw2");
  EXPECT_EQ(*Resolve(arn + ":password:AWSPREVIOUS:"), "pw1");
  EXPECT_EQ(*Resolve(arn + ":password::" + kToken1), "pw1");
  EXPECT_EQ(*Resolve(arn + ":password:AWSPREVIOUS:" + kToken1), "pw1");
  EXPECT_EQ(*Resolve(arn + ":port:AWSPREVIOUS:"), "5432");
  EXPECT_EQ(*Resolve(arn + ":nested:AWSPREVIOUS:"), R"({"a":1})");
  EXPECT_EQ(Resolve(arn + "::AWSPREVIOUS:")->substr(0, 12), R"({"username":)");
  // A partial ARN (without the six characters) names it too.
  EXPECT_EQ(*Resolve(arn.substr(0, arn.size() - 7) + ":password::"), "pw2");

  auto fails = [&](const std::string& ref, Code code) {
    Result<std::string> r = Resolve(ref);
    EXPECT_FALSE(r.ok()) << ref;
    if (r.ok()) return;
    EXPECT_EQ(r.status().code(), code) << ref << ": " << r.status().ToString();
    EXPECT_EQ(r.status().message().find("pw1"), std::string::npos);
    EXPECT_EQ(r.status().message().find("pw2"), std::string::npos);
    EXPECT_EQ(r.status().message().find("admin"), std::string::npos);
    EXPECT_NE(r.status().message().find(ref), std::string::npos) << r.status().message();
  };
  fails("arn:aws:secretsmanager:us-east-1:000000000000:secret:missing-AbCdEf", Code::kNotFound);
  fails("missing", Code::kNotFound);
  fails(arn + ":username::", Code::kNotFound);  // not in the current version
  fails(arn + ":password:AWSPENDING:", Code::kNotFound);
  fails(arn + ":password::33333333-3333-3333-3333-333333333333", Code::kNotFound);
  fails(arn + ":password:AWSCURRENT:" + kToken1, Code::kNotFound);
  fails(arn + ":a:b:c:d", Code::kInvalidArgument);
  fails("arn:aws:ssm:us-east-1:000000000000:parameter/x", Code::kInvalidArgument);
  // Another account's ARN is not found.
  std::string other = arn;
  other.replace(other.find(kAccount), 12, "111111111111");
  fails(other, Code::kNotFound);

  Create("plain", "not json");
  fails("plain:key::", Code::kInvalidArgument);
  EXPECT_EQ(*Resolve("plain"), "not json");
  Call("CreateSecret", {{"Name", "bin"}, {"SecretBinary", "AAEC"}});
  fails("bin", Code::kInvalidArgument);
  Call("DeleteSecret", {{"SecretId", "plain"}});
  fails("plain", Code::kInvalidArgument);
}

TEST_F(SecretsManagerTest, TheRouterServesSecretsManagerTargets) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/";
  r.body = R"({"Name":"r","SecretString":"v"})";
  r.headers = {{"content-type", "application/x-amz-json-1.1"},
               {"x-amz-target", "secretsmanager.CreateSecret"},
               {"authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/secretsmanager/aws4_request, "
                                 "SignedHeaders=host, Signature=00"}};
  HttpResponse resp = router_.Handle(r);
  EXPECT_EQ(resp.status, 200) << resp.body;
  EXPECT_NE(resp.body.find("\"VersionId\""), std::string::npos) << resp.body;
  r.headers[1] = {"x-amz-target", "secretsmanager.GetSecretValue"};
  r.body = R"({"SecretId":"missing"})";
  resp = router_.Handle(r);
  EXPECT_EQ(resp.status, 400);
  EXPECT_NE(resp.body.find("ResourceNotFoundException"), std::string::npos) << resp.body;
  EXPECT_NE(resp.body.find("\"Message\""), std::string::npos) << resp.body;
}

}  // namespace
}  // namespace kecs::api::secretsmanager
