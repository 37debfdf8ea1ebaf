// The Parameter Store operations against a temporary store, through the registered
// handlers, and one request through the router as the aws CLI sends it (JSON 1.1).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string>
#include <tuple>

#include "api/router.h"
#include "api/ssm/parameter.h"
#include "api/ssm/ssm_api.h"
#include "model/shapes.h"
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::api::ssm {
namespace {

constexpr const char* kRegion = "us-east-1";
constexpr const char* kAccount = "000000000000";

class SsmParametersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    api_ = std::make_unique<SsmApi>(*store_, key_path());
    service_ = std::make_shared<Service>(model::SsmModel(), ErrorStyle{});
    api_->RegisterAll(*service_);
    router_.AddService(service_);
  }

  std::string key_path() const { return dir_.path() + "/ssm-parameters.key"; }

  // A fresh SsmApi over the same store, as after a restart (the cipher is opened anew).
  void Restart() {
    api_ = std::make_unique<SsmApi>(*store_, key_path());
    service_ = std::make_shared<Service>(model::SsmModel(), ErrorStyle{});
    api_->RegisterAll(*service_);
  }

  // The error `op` answers, with its HTTP status.
  std::tuple<std::string, std::string, int> FailHttp(const std::string& op, const Json& in) {
    try {
      Call(op, in);
    } catch (const AwsError& e) {
      return {e.code(), e.message(), e.http_status()};
    }
    return {"", "", 0};
  }

  Json Call(const std::string& op, const Json& in) {
    RequestContext ctx;
    ctx.region = kRegion;
    ctx.account_id = kAccount;
    ctx.operation = op;
    ctx.now = 1700000000 + (++clock_);
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

  Json Put(const std::string& name, const std::string& value, const std::string& type = "String",
           Json extra = Json::object()) {
    extra["Name"] = name;
    extra["Value"] = value;
    extra["Type"] = type;
    return Call("PutParameter", extra);
  }

  // Every stored row's document and internal part, as SQLite holds them.
  std::string AllRowsText() {
    std::string text;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      auto rows = tx.List({kParameterKind, kRegion});
      for (const auto& r : *rows) text += r.doc.dump() + r.internal.dump();
      return Status::Ok();
    }).ok());
    return text;
  }

  testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  std::unique_ptr<SsmApi> api_;
  std::shared_ptr<Service> service_;
  Router router_{Router::Options{}};
  int clock_ = 0;
};

TEST_F(SsmParametersTest, PutCreatesVersionOneAndOverwriteAddsVersions) {
  EXPECT_EQ(Put("/app/url", "http://a"), (Json{{"Version", 1}, {"Tier", "Standard"}}));
  EXPECT_EQ(Fail("PutParameter", {{"Name", "/app/url"}, {"Value", "x"}, {"Type", "String"}}).first,
            "ParameterAlreadyExists");
  EXPECT_EQ(Call("PutParameter", {{"Name", "/app/url"}, {"Value", "http://b"}, {"Overwrite", true}})["Version"], 2);
  Json p = Call("GetParameter", {{"Name", "/app/url"}})["Parameter"];
  EXPECT_EQ(p["Value"], "http://b");
  EXPECT_EQ(p["Type"], "String");
  EXPECT_EQ(p["ARN"], "arn:aws:ssm:us-east-1:000000000000:parameter/app/url");
  EXPECT_EQ(Call("GetParameter", {{"Name", "/app/url:1"}})["Parameter"]["Value"], "http://a");
  EXPECT_EQ(Call("GetParameter", {{"Name", "/app/url:1"}})["Parameter"]["Selector"], ":1");
  auto [code, msg] = Fail("GetParameter", {{"Name", "/app/url:7"}});
  EXPECT_EQ(code, "ParameterVersionNotFound");
  EXPECT_EQ(msg, "Systems Manager could not find version 7 of /app/url. Verify the version and try again.");
  EXPECT_EQ(Fail("GetParameter", {{"Name", "/nope"}}).first, "ParameterNotFound");
  // The ARN names it too.
  EXPECT_EQ(Call("GetParameter", {{"Name", p["ARN"]}})["Parameter"]["Name"], "/app/url");
}

TEST_F(SsmParametersTest, NamesFollowSsmRules) {
  EXPECT_EQ(Fail("PutParameter", {{"Name", "a/b"}, {"Value", "x"}, {"Type", "String"}}).second,
            "Parameter name must be a fully qualified name.");
  // "aws" (any case) is AWS's own: writes there are AccessDeniedException; reads find nothing.
  EXPECT_EQ(Fail("PutParameter", {{"Name", "/aws/x"}, {"Value", "x"}, {"Type", "String"}}),
            (std::pair<std::string, std::string>{"AccessDeniedException",
                                                 "No access to reserved parameter name: /aws/x."}));
  EXPECT_EQ(Fail("PutParameter", {{"Name", "AWSthing"}, {"Value", "x"}, {"Type", "String"}}).first,
            "AccessDeniedException");
  EXPECT_EQ(Fail("DeleteParameter", {{"Name", "/Aws/x"}}),
            (std::pair<std::string, std::string>{"AccessDeniedException",
                                                 "No access to reserved parameter name: /Aws/x."}));
  EXPECT_EQ(Call("GetParametersByPath", {{"Path", "/aws/service"}, {"Recursive", true}})["Parameters"], Json::array());
  EXPECT_EQ(Call("DescribeParameters", {{"ParameterFilters", {{{"Key", "Path"}, {"Values", {"/aws"}}}}}})["Parameters"],
            Json::array());
  EXPECT_EQ(Fail("PutParameter", {{"Name", "ssmthing"}, {"Value", "x"}, {"Type", "String"}}).first,
            "ValidationException");
  EXPECT_EQ(Fail("PutParameter", {{"Name", "/a b"}, {"Value", "x"}, {"Type", "String"}}).first,
            "ValidationException");
  std::string deep;
  for (int i = 0; i < 15; ++i) deep += "/l" + std::to_string(i);
  EXPECT_EQ(Put(deep, "ok")["Version"], 1);
  EXPECT_EQ(Fail("PutParameter", {{"Name", deep + "/l15"}, {"Value", "x"}, {"Type", "String"}}).first,
            "HierarchyLevelLimitExceededException");
  EXPECT_EQ(Fail("PutParameter", {{"Name", "/new"}, {"Value", "x"}}).second,
            "A parameter type is required when you create a parameter.");
}

TEST_F(SsmParametersTest, SecureStringIsSealedAtRestAndOpenedOnlyWithDecryption) {
  const std::string secret = "hunter2-very-secret";
  Put("/db/password", secret, "SecureString");
  EXPECT_EQ(AllRowsText().find(secret), std::string::npos);
  struct stat st {};
  ASSERT_EQ(stat(key_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  Json sealed = Call("GetParameter", {{"Name", "/db/password"}})["Parameter"];
  EXPECT_NE(sealed["Value"], secret);
  EXPECT_EQ(sealed["Value"], Call("GetParameter", {{"Name", "/db/password"}})["Parameter"]["Value"]);  // stable
  EXPECT_EQ(Call("GetParameter", {{"Name", "/db/password"}, {"WithDecryption", true}})["Parameter"]["Value"], secret);
  Json meta = Call("DescribeParameters", Json::object())["Parameters"][0];
  EXPECT_EQ(meta["KeyId"], "alias/aws/ssm");
  // A pattern mismatch names the pattern, never the value.
  auto [code, msg] = Fail("PutParameter", {{"Name", "/db/password"}, {"Value", secret}, {"Overwrite", true},
                                           {"AllowedPattern", "^[0-9]+$"}});
  EXPECT_EQ(code, "ParameterPatternMismatchException");
  EXPECT_EQ(msg.find(secret), std::string::npos);
}

TEST_F(SsmParametersTest, AllowedPatternIsMatchedUnderLimits) {
  // Catastrophic backtracking hits PCRE2's limits and is refused; the call simply returns.
  auto [code, msg] = Fail("PutParameter", {{"Name", "/p/slow"}, {"Value", std::string(4000, 'a')},
                                           {"Type", "String"}, {"AllowedPattern", "^(a|a)*b$"}});
  EXPECT_EQ(code, "ParameterPatternMismatchException");
  EXPECT_EQ(Fail("GetParameter", {{"Name", "/p/slow"}}).first, "ParameterNotFound");
  // A long value under a simple pattern is accepted, and the pattern carries to the next version.
  EXPECT_EQ(Put("/p/long", std::string(4000, 'a'), "String", {{"AllowedPattern", "^a+$"}})["Version"], 1);
  EXPECT_EQ(Fail("PutParameter", {{"Name", "/p/long"}, {"Value", "b"}, {"Overwrite", true}}).first,
            "ParameterPatternMismatchException");
  EXPECT_EQ(Call("PutParameter", {{"Name", "/p/long"}, {"Value", "aa"}, {"Overwrite", true}})["Version"], 2);
  // The write's own refusals come first, as before the match moved out of the write.
  EXPECT_EQ(Fail("PutParameter", {{"Name", "/p/long"}, {"Value", "b"}, {"Type", "String"}}).first,
            "ParameterAlreadyExists");
  // The whole value must match, as before.
  EXPECT_EQ(Fail("PutParameter", {{"Name", "/p/part"}, {"Value", "12x"}, {"Type", "String"},
                                  {"AllowedPattern", "[0-9]+"}}).first,
            "ParameterPatternMismatchException");
  EXPECT_EQ(Fail("PutParameter", {{"Name", "/p/bad"}, {"Value", "1"}, {"Type", "String"},
                                  {"AllowedPattern", "([0-9"}}).first,
            "InvalidAllowedPatternException");
}

TEST_F(SsmParametersTest, ValueCipherRefusesAnotherContextOrKey) {
  ValueCipher a(std::string(32, 'a')), b(std::string(32, 'b'));
  auto sealed = a.Seal("v", SealContext("r", "/n", 1));
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(*a.Unseal(*sealed, SealContext("r", "/n", 1)), "v");
  EXPECT_FALSE(a.Unseal(*sealed, SealContext("r", "/n", 2)).ok());
  EXPECT_FALSE(b.Unseal(*sealed, SealContext("r", "/n", 1)).ok());
  EXPECT_FALSE(a.Unseal("!!notbase64", "x").ok());
}

TEST(ValueCipherKey, IsMadeOnceAndRefusedWhenOthersMayReadIt) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/ssm-parameters.key";
  auto a = ValueCipher::Open(Env::Default(), path);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto sealed = a->Seal("v", "c");
  ASSERT_TRUE(sealed.ok());
  auto b = ValueCipher::Open(Env::Default(), path);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b->Unseal(*sealed, "c"), "v");  // the same key, read back
  ::chmod(path.c_str(), 0644);
  EXPECT_EQ(ValueCipher::Open(Env::Default(), path).status().code(), Code::kFailedPrecondition);
}

TEST(LazyValueCipher, MakesAKeyOnlyWhenNoSealedValueNeedsTheOldOne) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/k.key";
  int asked = 0;
  {
    // Sealed values stored but the key file gone: refused, nothing made, the question asked.
    LazyValueCipher lost(Env::Default(), path, "test key", "test values", "test");
    auto c = lost.Get([&] { return ++asked, true; });
    ASSERT_EQ(c.status().code(), Code::kInternal);
    EXPECT_NE(c.status().message().find("The test key file " + path + " is missing, but the store holds test "
                                        "values sealed under it."),
              std::string::npos)
        << c.status().message();
    EXPECT_FALSE(std::filesystem::exists(path));
  }
  // Nothing sealed yet: the key is made, once, and the same cipher is answered after.
  LazyValueCipher fresh(Env::Default(), path, "test key", "test values", "test");
  auto a = fresh.Get([&] { return ++asked, false; });
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(*fresh.Get([] { return true; }), *a);
  EXPECT_EQ(asked, 2);
  // The key file present: opened without asking.
  LazyValueCipher reopened(Env::Default(), path, "test key", "test values", "test");
  auto b = reopened.Get([&] { return ++asked, true; });
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(asked, 2);
  auto sealed = (*a)->Seal("v", "c");
  EXPECT_EQ(*(*b)->Unseal(*sealed, "c"), "v");
}

TEST_F(SsmParametersTest, AReplacedKeyOrCorruptedRowIsAServerFault) {
  const std::string secret = "s3cret-value";
  Put("/k/secret", secret, "SecureString");
  const Json get = {{"Name", "/k/secret"}, {"WithDecryption", true}};
  // A replaced key file: the value does not open, which is the server's fault.
  ASSERT_TRUE(Env::Default()->WriteFileAtomic(key_path(), std::string(32, 'z'), 0600).ok());
  Restart();
  auto [code, msg, http] = FailHttp("GetParameter", get);
  EXPECT_EQ(code, "InternalServerError");
  EXPECT_EQ(http, 500);
  EXPECT_EQ(msg.find(secret), std::string::npos);
  // A key file others may read is refused, also as a server fault.
  ::chmod(key_path().c_str(), 0644);
  Restart();
  EXPECT_EQ(std::get<2>(FailHttp("GetParameter", get)), 500);
  // A corrupted row (the sealed text altered) under the right key.
  ::chmod(key_path().c_str(), 0600);
  Restart();
  Put("/k/two", "v2", "SecureString");
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    auto row = tx.Get(kParameterKind, kRegion, "/k/two");
    auto p = DecodeParameter(**row);
    p->versions[0].value = Base64Encode(std::string(40, 'x'));
    return tx.Put(EncodeParameter(*p, kAccount));
  }).ok());
  EXPECT_EQ(std::get<2>(FailHttp("GetParameter", {{"Name", "/k/two"}, {"WithDecryption", true}})), 500);
}

TEST_F(SsmParametersTest, ALostKeyIsNotRemadeWhileSecureStringsExist) {
  Put("/k/secret", "v1", "SecureString");
  ASSERT_EQ(::unlink(key_path().c_str()), 0);
  Restart();
  auto [code, msg, http] = FailHttp("GetParameter", {{"Name", "/k/secret"}, {"WithDecryption", true}});
  EXPECT_EQ(code, "InternalServerError");
  EXPECT_EQ(http, 500);
  EXPECT_NE(msg.find(key_path()), std::string::npos) << msg;
  EXPECT_EQ(msg.find("v1"), std::string::npos) << msg;
  EXPECT_EQ(std::get<2>(FailHttp("PutParameter", {{"Name", "/k/other"}, {"Value", "v2"}, {"Type", "SecureString"}})),
            500);
  struct stat st {};
  EXPECT_NE(::stat(key_path().c_str(), &st), 0);  // no new key was made
  // Without SecureStrings in the store, a lost key is simply made anew.
  Call("DeleteParameter", {{"Name", "/k/secret"}});
  Restart();
  EXPECT_EQ(Put("/k/fresh", "v3", "SecureString")["Version"], 1);
  EXPECT_EQ(::stat(key_path().c_str(), &st), 0);
}

TEST_F(SsmParametersTest, LabelsMoveBetweenVersionsAndSelectThem) {
  Put("/l", "one");
  Call("PutParameter", {{"Name", "/l"}, {"Value", "two"}, {"Overwrite", true}});
  Json r = Call("LabelParameterVersion", {{"Name", "/l"}, {"ParameterVersion", 1}, {"Labels", {"prod", "9bad", "awsx"}}});
  EXPECT_EQ(r["ParameterVersion"], 1);
  EXPECT_EQ(r["InvalidLabels"], (Json{"9bad", "awsx"}));
  EXPECT_EQ(Call("GetParameter", {{"Name", "/l:prod"}})["Parameter"]["Value"], "one");
  Call("LabelParameterVersion", {{"Name", "/l"}, {"Labels", {"prod"}}});
  EXPECT_EQ(Call("GetParameter", {{"Name", "/l:prod"}})["Parameter"]["Value"], "two");
  Json history = Call("GetParameterHistory", {{"Name", "/l"}})["Parameters"];
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0]["Labels"], Json::array());
  EXPECT_EQ(history[1]["Labels"], Json{"prod"});
  EXPECT_EQ(Fail("LabelParameterVersion", {{"Name", "/l"}, {"ParameterVersion", 5}, {"Labels", {"x"}}}).first,
            "ParameterVersionNotFound");
  Json many = Json::array();
  for (int i = 0; i < 11; ++i) many.push_back("l" + std::to_string(i));
  EXPECT_EQ(Fail("LabelParameterVersion", {{"Name", "/l"}, {"Labels", many}}).first,
            "ParameterVersionLabelLimitExceeded");
}

TEST_F(SsmParametersTest, TheHundredAndFirstVersionDropsTheOldestUnlessItIsLabelled) {
  Put("/v", "0");
  for (int i = 1; i < 100; ++i) Call("PutParameter", {{"Name", "/v"}, {"Value", std::to_string(i)}, {"Overwrite", true}});
  Call("LabelParameterVersion", {{"Name", "/v"}, {"ParameterVersion", 1}, {"Labels", {"keep"}}});
  EXPECT_EQ(Fail("PutParameter", {{"Name", "/v"}, {"Value", "x"}, {"Overwrite", true}}).first,
            "ParameterMaxVersionLimitExceeded");
  Call("LabelParameterVersion", {{"Name", "/v"}, {"ParameterVersion", 2}, {"Labels", {"keep"}}});
  EXPECT_EQ(Call("PutParameter", {{"Name", "/v"}, {"Value", "x"}, {"Overwrite", true}})["Version"], 101);
  EXPECT_EQ(Fail("GetParameter", {{"Name", "/v:1"}}).first, "ParameterVersionNotFound");
  EXPECT_EQ(Call("GetParameterHistory", {{"Name", "/v"}, {"MaxResults", 50}})["Parameters"][0]["Version"], 2);
}

TEST_F(SsmParametersTest, ByPathHonoursRecursionFiltersAndPages) {
  Put("/a/one", "1");
  Put("/a/two", "2", "SecureString");
  Put("/a/b/three", "3");
  Put("/other", "4");
  Put("plain", "5");
  auto names = [](const Json& out) {
    std::vector<std::string> n;
    for (const auto& p : out["Parameters"]) n.push_back(p["Name"]);
    return n;
  };
  EXPECT_EQ(names(Call("GetParametersByPath", {{"Path", "/a"}})), (std::vector<std::string>{"/a/one", "/a/two"}));
  EXPECT_EQ(names(Call("GetParametersByPath", {{"Path", "/a/"}, {"Recursive", true}})),
            (std::vector<std::string>{"/a/b/three", "/a/one", "/a/two"}));
  // "/" holds names outside any hierarchy too, as on AWS.
  EXPECT_EQ(names(Call("GetParametersByPath", {{"Path", "/"}})), (std::vector<std::string>{"/other", "plain"}));
  EXPECT_EQ(names(Call("GetParametersByPath",
                       {{"Path", "/a"}, {"ParameterFilters", {{{"Key", "Type"}, {"Values", {"SecureString"}}}}}})),
            (std::vector<std::string>{"/a/two"}));
  EXPECT_EQ(Fail("GetParametersByPath", {{"Path", "/a"}, {"ParameterFilters", {{{"Key", "Name"}, {"Values", {"x"}}}}}}).first,
            "InvalidFilterKey");
  EXPECT_EQ(Fail("GetParametersByPath", {{"Path", "/a"}, {"ParameterFilters", {{{"Key", "tag:team"}, {"Values", {"x"}}}}}}).first,
            "InvalidFilterKey");
  EXPECT_EQ(Fail("GetParametersByPath", {{"Path", "/a"}, {"ParameterFilters", {{{"Key", "Label"}, {"Option", "BeginsWith"},
                                                                               {"Values", {"x"}}}}}}).first,
            "InvalidFilterOption");
  EXPECT_EQ(names(Call("GetParametersByPath", {{"Path", "/a"}, {"ParameterFilters", {{{"Key", "Type"}, {"Option", "BeginsWith"},
                                                                                     {"Values", {"Secure"}}}}}})),
            (std::vector<std::string>{"/a/two"}));
  EXPECT_EQ(Fail("GetParametersByPath", {{"Path", "a"}}).first, "ValidationException");
  Json page = Call("GetParametersByPath", {{"Path", "/"}, {"Recursive", true}, {"MaxResults", 2}});
  EXPECT_EQ(names(page), (std::vector<std::string>{"/a/b/three", "/a/one"}));
  Json rest = Call("GetParametersByPath", {{"Path", "/"}, {"Recursive", true}, {"MaxResults", 2}, {"NextToken", page["NextToken"]}});
  EXPECT_EQ(names(rest), (std::vector<std::string>{"/a/two", "/other"}));
  Json last = Call("GetParametersByPath", {{"Path", "/"}, {"Recursive", true}, {"MaxResults", 2}, {"NextToken", rest["NextToken"]}});
  EXPECT_EQ(names(last), (std::vector<std::string>{"plain"}));
  EXPECT_FALSE(last.contains("NextToken"));
  EXPECT_EQ(Fail("GetParametersByPath", {{"Path", "/"}, {"NextToken", "bogus"}}).first, "InvalidNextToken");
}

TEST_F(SsmParametersTest, DescribeFiltersAndTags) {
  Put("/x/a", "1", "String", {{"Tags", {{{"Key", "team"}, {"Value", "blue"}}}}});
  Put("/x/b", "2", "StringList", {{"Tier", "Advanced"}});
  Put("/y", "3");
  auto names = [](const Json& out) {
    std::vector<std::string> n;
    for (const auto& p : out["Parameters"]) n.push_back(p["Name"]);
    return n;
  };
  EXPECT_EQ(names(Call("DescribeParameters", {{"ParameterFilters", {{{"Key", "Path"}, {"Values", {"/x"}}}}}})),
            (std::vector<std::string>{"/x/a", "/x/b"}));
  EXPECT_EQ(names(Call("DescribeParameters", {{"ParameterFilters", {{{"Key", "Tier"}, {"Values", {"Advanced"}}}}}})),
            (std::vector<std::string>{"/x/b"}));
  EXPECT_EQ(names(Call("DescribeParameters", {{"ParameterFilters", {{{"Key", "tag:team"}}}}})),
            (std::vector<std::string>{"/x/a"}));
  EXPECT_EQ(names(Call("DescribeParameters", {{"Filters", {{{"Key", "Name"}, {"Values", {"/x"}}}}}})),
            (std::vector<std::string>{"/x/a", "/x/b"}));
  EXPECT_EQ(Fail("DescribeParameters", {{"Filters", {{{"Key", "Name"}, {"Values", {"/x"}}}}},
                                        {"ParameterFilters", {{{"Key", "Name"}, {"Values", {"/x"}}}}}}).first,
            "ValidationException");
  EXPECT_EQ(Fail("DescribeParameters", {{"ParameterFilters", {{{"Key", "Path"}, {"Option", "Equals"}, {"Values", {"/x"}}}}}}).first,
            "InvalidFilterOption");
  // Label is GetParametersByPath's only; a bare "tag:" is no key.
  EXPECT_EQ(Fail("DescribeParameters", {{"ParameterFilters", {{{"Key", "Label"}, {"Values", {"prod"}}}}}}).first,
            "InvalidFilterKey");
  EXPECT_EQ(Fail("DescribeParameters", {{"ParameterFilters", {{{"Key", "tag:"}, {"Values", {"x"}}}}}}).first,
            "InvalidFilterKey");
  // BeginsWith for Type, Tier, DataType and KeyId.
  auto begins = [&](const std::string& key, const std::string& value) {
    return names(Call("DescribeParameters", {{"ParameterFilters", {{{"Key", key}, {"Option", "BeginsWith"},
                                                                    {"Values", {value}}}}}}));
  };
  EXPECT_EQ(begins("Type", "StringL"), (std::vector<std::string>{"/x/b"}));
  EXPECT_EQ(begins("Tier", "Adv"), (std::vector<std::string>{"/x/b"}));
  EXPECT_EQ(begins("DataType", "te"), (std::vector<std::string>{"/x/a", "/x/b", "/y"}));
  EXPECT_EQ(begins("KeyId", "alias/"), (std::vector<std::string>{}));

  Json res = {{"ResourceType", "Parameter"}, {"ResourceId", "/x/a"}};
  EXPECT_EQ(Call("ListTagsForResource", res)["TagList"], (Json{{{"Key", "team"}, {"Value", "blue"}}}));
  Json add = res;
  add["Tags"] = {{{"Key", "env"}, {"Value", "dev"}}};
  Call("AddTagsToResource", add);
  Json rm = res;
  rm["TagKeys"] = {"team"};
  Call("RemoveTagsFromResource", rm);
  EXPECT_EQ(Call("ListTagsForResource", res)["TagList"], (Json{{{"Key", "env"}, {"Value", "dev"}}}));
  EXPECT_EQ(Fail("ListTagsForResource", {{"ResourceType", "Parameter"}, {"ResourceId", "/none"}}).first,
            "InvalidResourceId");
  EXPECT_EQ(Fail("ListTagsForResource", {{"ResourceType", "Document"}, {"ResourceId", "/x/a"}}).first,
            "InvalidResourceType");
  EXPECT_EQ(Fail("PutParameter", {{"Name", "/x/a"}, {"Value", "9"}, {"Overwrite", true},
                                  {"Tags", {{{"Key", "k"}, {"Value", "v"}}}}}).first,
            "ValidationException");
}

TEST_F(SsmParametersTest, TiersAndDeletes) {
  EXPECT_EQ(Put("/big", std::string(5000, 'x'), "String", {{"Tier", "Intelligent-Tiering"}})["Tier"], "Advanced");
  EXPECT_EQ(Fail("PutParameter", {{"Name", "/big2"}, {"Value", std::string(5000, 'x')}, {"Type", "String"}}).first,
            "ValidationException");
  EXPECT_EQ(Fail("PutParameter", {{"Name", "/big"}, {"Value", "s"}, {"Overwrite", true}, {"Tier", "Standard"}}).first,
            "ValidationException");
  Put("/d1", "1");
  Put("/d2", "2");
  Json r = Call("DeleteParameters", {{"Names", {"/d1", "/nope"}}});
  EXPECT_EQ(r["DeletedParameters"], Json{"/d1"});
  EXPECT_EQ(r["InvalidParameters"], Json{"/nope"});
  Call("DeleteParameter", {{"Name", "/d2"}});
  EXPECT_EQ(Fail("DeleteParameter", {{"Name", "/d2"}}).first, "ParameterNotFound");
  Json g = Call("GetParameters", {{"Names", {"/big", "/d2", "/big:1"}}});
  EXPECT_EQ(g["Parameters"].size(), 2u);
  EXPECT_EQ(g["InvalidParameters"], Json{"/d2"});
  // Parameters come back in name order, whatever the request's order.
  Put("/b", "1");
  Put("/a", "2");
  Json sorted = Call("GetParameters", {{"Names", {"/big", "/b", "/a"}}})["Parameters"];
  ASSERT_EQ(sorted.size(), 3u);
  EXPECT_EQ(sorted[0]["Name"], "/a");
  EXPECT_EQ(sorted[1]["Name"], "/b");
  EXPECT_EQ(sorted[2]["Name"], "/big");
}

TEST_F(SsmParametersTest, TheRouterServesAmazonSsmTargets) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/";
  r.body = R"({"Name":"/r","Value":"v","Type":"String"})";
  r.headers = {{"content-type", "application/x-amz-json-1.1"},
               {"x-amz-target", "AmazonSSM.PutParameter"},
               {"authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=00"}};
  HttpResponse resp = router_.Handle(r);
  EXPECT_EQ(resp.status, 200) << resp.body;
  EXPECT_NE(resp.body.find("\"Version\":1"), std::string::npos) << resp.body;
  r.headers[1] = {"x-amz-target", "AmazonSSM.GetParameter"};
  r.body = R"({"Name":"/missing"})";
  resp = router_.Handle(r);
  EXPECT_EQ(resp.status, 400);
  EXPECT_NE(resp.body.find("ParameterNotFound"), std::string::npos) << resp.body;
}

// Issue 14: what a task's secret reads. Names and ARNs (the ARN of "/a/b" is
// ...:parameter/a/b), selectors, SecureStrings decrypted; errors name the reference only.
TEST_F(SsmParametersTest, ResolveParameterReadsNamesArnsAndSelectors) {
  Put("/app/api-url", "http://one");
  Put("/app/api-url", "http://two", "String", {{"Overwrite", true}});
  Put("plain", "p-value");
  Put("/app/token", "s3cr3t-token", "SecureString");
  Call("LabelParameterVersion", {{"Name", "/app/api-url"}, {"ParameterVersion", 1}, {"Labels", {"first"}}});

  auto read = [&](const std::string& ref) { return api_->ResolveParameter(ref, kRegion, kAccount); };
  EXPECT_EQ(*read("/app/api-url"), "http://two");
  EXPECT_EQ(*read("/app/api-url:1"), "http://one");
  EXPECT_EQ(*read("/app/api-url:first"), "http://one");
  EXPECT_EQ(*read("plain"), "p-value");
  EXPECT_EQ(*read("/app/token"), "s3cr3t-token");
  EXPECT_EQ(*read("arn:aws:ssm:us-east-1:000000000000:parameter/app/api-url"), "http://two");
  EXPECT_EQ(*read("arn:aws:ssm:us-east-1:000000000000:parameter/app/api-url:1"), "http://one");
  EXPECT_EQ(*read("arn:aws:ssm:us-east-1:000000000000:parameter/plain"), "p-value");
  EXPECT_EQ(*read("arn:aws:ssm:us-east-1:000000000000:parameter/app/token"), "s3cr3t-token");
  // The ARN's region is where the parameter is read.
  auto other = api_->ResolveParameter("arn:aws:ssm:eu-west-1:000000000000:parameter/plain", kRegion, kAccount);
  EXPECT_EQ(other.status().code(), Code::kNotFound);

  for (const std::string ref : {"/app/missing", "/app/api-url:7", "/app/api-url:nolabel"}) {
    auto r = read(ref);
    ASSERT_FALSE(r.ok()) << ref;
    EXPECT_EQ(r.status().code(), Code::kNotFound) << ref;
    EXPECT_NE(r.status().message().find(ref), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find("http://"), std::string::npos) << r.status().message();
  }
  for (const std::string ref : {"", "arn:aws:ssm:us-east-1:000000000000:parameter/",
                                "arn:aws:s3:::bucket/key"}) {
    EXPECT_EQ(read(ref).status().code(), Code::kInvalidArgument) << ref;
  }
}

}  // namespace
}  // namespace kecs::api::ssm
