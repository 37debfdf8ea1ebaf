// The metadata and credentials endpoint's routing, isolation between listeners,
// credentials derivation and the agent's errors, without root (no listener is opened:
// requests are handed to Handle with the listener tag the server would set).
#include "api/metadata/metadata_service.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include "runtime/simulated/simulated_runtime.h"
#include "unit/support/temp_dir.h"

namespace kecs::api::metadata {
namespace {

// Stats as a runtime with a data plane would report them.
class StatsRuntime : public runtime::SimulatedRuntime {
 public:
  Result<std::vector<runtime::ContainerStats>> Stats(const runtime::TaskSpec& spec) override {
    std::vector<runtime::ContainerStats> out;
    for (const auto& c : spec.containers) {
      runtime::ContainerStats s;
      s.name = c.name;
      s.read_at = now;
      s.cpu_total_ns = static_cast<uint64_t>(now) * 10;
      out.push_back(s);
    }
    return out;
  }
  double now = 1000;
};

model::Task MakeTask(const std::string& id, const std::string& metadata_id, const std::string& credentials_id,
                     model::NetworkMode mode = model::NetworkMode::kAwsvpc) {
  model::Task t;
  t.region = "us-east-1";
  t.id = id;
  t.cluster = "default";
  t.family = "web";
  t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/default/" + id;
  t.task_definition_arn = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3";
  t.last_status = model::TaskStatus::kRunning;
  t.internal.network_mode = mode;
  t.internal.task_role_arn = "arn:aws:iam::000000000000:role/app";
  t.internal.credentials_id = credentials_id;
  model::ContainerDefinition d;
  d.name = "app";
  d.image = "busybox";
  d.metadata_id = metadata_id;
  t.internal.containers.push_back(d);
  model::Container c;
  c.name = "app";
  t.containers.push_back(c);
  return t;
}

class MetadataServiceTest : public ::testing::Test {
 protected:
  MetadataServiceTest()
      : service_([this](const std::string& region, const std::string& id) -> Result<std::optional<model::Task>> {
                   for (const auto& t : tasks_) {
                     if (t.region == region && t.id == id) return std::optional<model::Task>(t);
                   }
                   return std::optional<model::Task>();
                 },
                 runtime_, CredentialsIssuer(std::string(32, 'k')), MetadataService::Options{}, clock_) {
    tasks_.push_back(MakeTask("aaaa", "meta-a", "cred-a"));
    tasks_.push_back(MakeTask("bbbb", "meta-b", "cred-b"));
  }

  HttpResponse Get(const std::string& listener, const std::string& target) {
    HttpRequest r;
    r.method = "GET";
    r.target = target;
    r.listener = listener;
    return service_.Handle(r);
  }
  static std::string Own(const std::string& id) { return MetadataService::TaskTag("us-east-1", id); }

  FakeClock clock_{1764889200.0};  // 2025-12-04T23:00:00Z
  StatsRuntime runtime_;
  std::vector<model::Task> tasks_;
  MetadataService service_;
};

TEST_F(MetadataServiceTest, ServesTheTaskAndContainerOfItsOwnListener) {
  auto r = Get(Own("aaaa"), "/v4/meta-a/task");
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = Json::parse(r.body);
  EXPECT_EQ(j["TaskARN"], tasks_[0].task_arn);
  EXPECT_EQ(j["Containers"][0]["Name"], "app");
  r = Get(Own("aaaa"), "/v4/meta-a");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Json::parse(r.body)["Name"], "app");
  r = Get(Own("aaaa"), "/v3/meta-a/task");
  ASSERT_EQ(r.status, 200);
  EXPECT_FALSE(Json::parse(r.body).contains("LaunchType"));
}

TEST_F(MetadataServiceTest, AnotherTasksIdIsUnknownOnThisListener) {
  auto r = Get(Own("aaaa"), "/v4/meta-b/task");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Json::parse(r.body),
            "V4 task metadata handler: unable to get task arn from request: unable to get task Arn from v3 "
            "endpoint ID: meta-b");
  r = Get(Own("aaaa"), "/v4/meta-b");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Json::parse(r.body),
            "V4 container metadata handler: unable to get container ID from request: unable to get docker ID "
            "from v3 endpoint ID: meta-b");
  EXPECT_EQ(Get(Own("aaaa"), "/v3/meta-b").status, 400);
  EXPECT_EQ(Get(Own("aaaa"), "/v3/meta-b/task").status, 500);
  // A listener that is not a metadata listener's sees nothing.
  EXPECT_EQ(Get("", "/v4/meta-a/task").status, 404);
}

TEST_F(MetadataServiceTest, CredentialsAreServedOnlyForTheListenersTask) {
  auto r = Get(Own("aaaa"), "/v2/credentials/cred-a");
  ASSERT_EQ(r.status, 200) << r.body;
  Json c = Json::parse(r.body);
  EXPECT_EQ(c["RoleArn"], "arn:aws:iam::000000000000:role/app");
  std::string akid = c["AccessKeyId"];
  EXPECT_EQ(akid.size(), 20u);
  EXPECT_TRUE(akid.starts_with("ASIA"));
  EXPECT_EQ(c["SecretAccessKey"].get<std::string>().size(), 40u);
  EXPECT_FALSE(c["Token"].get<std::string>().empty());
  EXPECT_EQ(c["Expiration"], "2025-12-05T01:00:00Z");  // the window (18:00-24:00) ends, +1 h

  r = Get(Own("aaaa"), "/v2/credentials/cred-b");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Json::parse(r.body), Json::parse(R"({"code":"InvalidIdInRequest",
      "message":"CredentialsV2Request: Credentials not found","HTTPErrorCode":400})"));
  r = Get(Own("aaaa"), "/v2/credentials/");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Json::parse(r.body)["code"], "NoIdInRequest");
  EXPECT_EQ(Get(Own("aaaa"), "/v1/credentials?id=cred-a").status, 200);
  EXPECT_EQ(Json::parse(Get(Own("aaaa"), "/v1/credentials?id=cred-b").body)["message"],
            "CredentialsV1Request: Credentials not found");
}

TEST_F(MetadataServiceTest, ATaskWithoutARoleOrThatStoppedHasNoCredentials) {
  tasks_[0].internal.task_role_arn.clear();
  EXPECT_EQ(Get(Own("aaaa"), "/v2/credentials/cred-a").status, 400);
  tasks_[1].last_status = model::TaskStatus::kStopped;
  EXPECT_EQ(Get(Own("bbbb"), "/v2/credentials/cred-b").status, 400);
}

TEST_F(MetadataServiceTest, HostListenerAnswersForRegisteredHostTasksByTheirIds) {
  tasks_.push_back(MakeTask("cccc", "meta-c", "cred-c", model::NetworkMode::kHost));
  EXPECT_EQ(Get(MetadataService::kHostTag, "/v4/meta-c/task").status, 404);
  service_.RegisterHostTask(tasks_.back());
  auto r = Get(MetadataService::kHostTag, "/v4/meta-c/task");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json::parse(r.body)["TaskARN"], tasks_.back().task_arn);
  EXPECT_EQ(Get(MetadataService::kHostTag, "/v2/credentials/cred-c").status, 200);
  // Tasks with namespaces of their own are not reachable from the host's listener.
  EXPECT_EQ(Get(MetadataService::kHostTag, "/v4/meta-a/task").status, 404);
  EXPECT_EQ(Get(MetadataService::kHostTag, "/v2/credentials/cred-a").status, 400);
  service_.Close("us-east-1", "cccc");
  EXPECT_EQ(Get(MetadataService::kHostTag, "/v4/meta-c/task").status, 404);
}

TEST_F(MetadataServiceTest, StatsCarryThePreviousSampleOnceItIsASecondOld) {
  auto r = Get(Own("aaaa"), "/v4/meta-a/stats");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json::parse(r.body)["preread"], "0001-01-01T00:00:00Z");
  runtime_.now = 1000.5;  // too soon to be "before"
  EXPECT_EQ(Json::parse(Get(Own("aaaa"), "/v4/meta-a/stats").body)["preread"], "0001-01-01T00:00:00Z");
  runtime_.now = 1002;
  Json j = Json::parse(Get(Own("aaaa"), "/v4/meta-a/stats").body);
  EXPECT_EQ(j["precpu_stats"]["cpu_usage"]["total_usage"], 10000);
  EXPECT_EQ(j["cpu_stats"]["cpu_usage"]["total_usage"], 10020);
  Json task = Json::parse(Get(Own("aaaa"), "/v4/meta-a/task/stats").body);
  ASSERT_TRUE(task.contains("aaaa-app")) << task.dump();
  EXPECT_EQ(task["aaaa-app"]["id"], "aaaa-app");
}

TEST_F(MetadataServiceTest, IssuedCredentialsSignRequestsUntilTheyExpireOrTheTaskCloses) {
  service_.RegisterCredentials(tasks_[0]);
  Json c = Json::parse(Get(Own("aaaa"), "/v2/credentials/cred-a").body);
  std::string akid = c["AccessKeyId"], token = c["Token"];
  auto secret = service_.SecretFor(akid, token);
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(*secret, c["SecretAccessKey"]);
  EXPECT_FALSE(service_.SecretFor(akid, "another-token").has_value());
  EXPECT_FALSE(service_.SecretFor(akid, "").has_value());
  // Task b's credentials were issued by nobody asking: b is not registered.
  EXPECT_FALSE(service_.SecretFor("ASIAAAAAAAAAAAAAAAAA", token).has_value());
  // Valid until their Expiration (01:00), though the next window begins at 00:00.
  clock_.Advance(3600);
  EXPECT_TRUE(service_.SecretFor(akid, token).has_value());
  clock_.Advance(3600 - 1);
  EXPECT_TRUE(service_.SecretFor(akid, token).has_value());
  clock_.Advance(1);
  EXPECT_FALSE(service_.SecretFor(akid, token).has_value());
  Json next = Json::parse(Get(Own("aaaa"), "/v2/credentials/cred-a").body);
  EXPECT_NE(next["AccessKeyId"], akid);
  EXPECT_TRUE(service_.SecretFor(next["AccessKeyId"], next["Token"]).has_value());
  service_.Close("us-east-1", "aaaa");
  EXPECT_FALSE(service_.SecretFor(next["AccessKeyId"], next["Token"]).has_value());
}

TEST_F(MetadataServiceTest, UnknownPathsAndMethodsAreRefusedAsTheAgentsRouterDoes) {
  EXPECT_EQ(Get(Own("aaaa"), "/v4/meta-a/nothing").status, 404);
  EXPECT_EQ(Get(Own("aaaa"), "/").body, "404 page not found\n");
  HttpRequest r;
  r.method = "POST";
  r.target = "/v4/meta-a/task";
  r.listener = Own("aaaa");
  EXPECT_EQ(service_.Handle(r).status, 405);
}

TEST(CredentialsIssuer, SameInputsSameCredentialsNewWindowNewOnes) {
  CredentialsIssuer a(std::string(32, 'x'));
  const double start = 1764892800;  // 2025-12-05T00:00:00Z, a window's start
  auto c1 = a.Issue("id-1", "arn:aws:iam::1:role/r", start);
  auto c2 = a.Issue("id-1", "arn:aws:iam::1:role/r", start + CredentialsIssuer::kRotationSeconds - 1);
  EXPECT_EQ(c1.access_key_id, c2.access_key_id);
  EXPECT_EQ(c1.secret_access_key, c2.secret_access_key);
  EXPECT_EQ(c1.token, c2.token);
  auto c3 = a.Issue("id-1", "arn:aws:iam::1:role/r", start + CredentialsIssuer::kRotationSeconds);
  EXPECT_NE(c1.access_key_id, c3.access_key_id);
  EXPECT_NE(c1.secret_access_key, c3.secret_access_key);
  EXPECT_GT(c3.expiration, c1.expiration);
  EXPECT_NE(a.Issue("id-2", "arn:aws:iam::1:role/r", start).access_key_id, c1.access_key_id);
  EXPECT_NE(CredentialsIssuer(std::string(32, 'y')).Issue("id-1", "r", start).secret_access_key,
            c1.secret_access_key);
  for (const char ch : c1.access_key_id.substr(4)) {
    EXPECT_TRUE((ch >= 'A' && ch <= 'Z') || (ch >= '2' && ch <= '7')) << c1.access_key_id;
  }
}

TEST(CredentialsIssuer, ExpiryIsAlwaysMoreThanFifteenMinutesAhead) {
  CredentialsIssuer a(std::string(32, 'x'));
  double start = 1764889200;
  for (double t = start; t < start + 2 * CredentialsIssuer::kRotationSeconds; t += 299) {
    EXPECT_GT(a.Issue("id", "r", t).expiration - t, 15 * 60) << t;
  }
}

TEST(CredentialsIssuer, KeyIsMadeOnceWithMode0600AndReadBack) {
  kecs::testing::TempDir d;
  std::string path = d.path() + "/metadata-credentials.key";
  auto a = CredentialsIssuer::Open(Env::Default(), path);
  ASSERT_TRUE(a.ok()) << a.status().message();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto b = CredentialsIssuer::Open(Env::Default(), path);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->Issue("id", "r", 1).secret_access_key, b->Issue("id", "r", 1).secret_access_key);
  ::chmod(path.c_str(), 0644);
  EXPECT_EQ(CredentialsIssuer::Open(Env::Default(), path).status().code(), Code::kFailedPrecondition);
}

// ---- The agent's task-protection endpoint (issue 18) ----

class TaskProtectionEndpointTest : public MetadataServiceTest {
 protected:
  void SetUp() override {
    service_.SetProtection([this](const model::Task& task, const std::optional<MetadataService::ProtectionUpdate>& u)
                               -> Result<Json> {
      calls_.push_back(u);
      asked_ = task.id;
      if (!answer_.ok()) return answer_.status();
      return *answer_;
    });
  }
  HttpResponse Send(const std::string& method, const std::string& body, const std::string& listener = Own("aaaa"),
                    const std::string& id = "meta-a") {
    HttpRequest r;
    r.method = method;
    r.target = "/api/" + id + "/task-protection/v1/state";
    r.listener = listener;
    r.body = body;
    return service_.Handle(r);
  }
  std::vector<std::optional<MetadataService::ProtectionUpdate>> calls_;
  std::string asked_;
  Result<Json> answer_ = Json::object();
};

TEST_F(MetadataServiceTest, WithoutProtectionTheAgentPathIsNotFound) {
  EXPECT_EQ(Get(Own("aaaa"), "/api/meta-a/task-protection/v1/state").status, 404);
}

TEST_F(TaskProtectionEndpointTest, PutCallsUpdateForItsTaskAndAnswersTheProtection) {
  const std::string arn = tasks_[0].task_arn;
  answer_ = Json{{"protectedTasks", {{{"taskArn", arn}, {"protectionEnabled", true}, {"expirationDate", 1764892800.25}}}},
                 {"failures", Json::array()}};
  auto r = Send("PUT", R"({"ProtectionEnabled": true, "ExpiresInMinutes": 60})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json::parse(r.body),
            (Json{{"protection", {{"ExpirationDate", "2025-12-05T00:00:00.25Z"}, {"ProtectionEnabled", true},
                                  {"TaskArn", arn}}}}));
  ASSERT_EQ(calls_.size(), 1u);
  ASSERT_TRUE(calls_[0]);
  EXPECT_TRUE(calls_[0]->enabled);
  EXPECT_EQ(calls_[0]->minutes, 60);
  EXPECT_EQ(asked_, "aaaa");
  // Go matches member names regardless of case; no ExpiresInMinutes: none passed on.
  answer_ = Json{{"protectedTasks", {{{"taskArn", arn}, {"protectionEnabled", false}}}}, {"failures", Json::array()}};
  r = Send("PUT", R"({"protectionEnabled": false})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json::parse(r.body)["protection"],
            (Json{{"ExpirationDate", nullptr}, {"ProtectionEnabled", false}, {"TaskArn", arn}}));
  EXPECT_FALSE(calls_[1]->minutes);
}

TEST_F(TaskProtectionEndpointTest, GetCallsGetAndFailuresPassThrough) {
  answer_ = Json{{"protectedTasks", Json::array()},
                 {"failures", {{{"arn", tasks_[0].task_arn}, {"reason", "TASK_NOT_VALID"}}}}};
  auto r = Send("GET", "");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json::parse(r.body),
            (Json{{"failure", {{"Arn", tasks_[0].task_arn}, {"Detail", nullptr}, {"Reason", "TASK_NOT_VALID"}}}}));
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_FALSE(calls_[0]);
}

TEST_F(TaskProtectionEndpointTest, BadRequestsGetTheAgentsErrors) {
  const std::string arn = tasks_[0].task_arn;
  auto error = [](const HttpResponse& r) { return Json::parse(r.body)["error"]; };
  for (const char* body : {"", "[]", R"({"ProtectionEnabled": "yes"})", R"({"ProtectionEnabled": true, "Other": 1})",
                           R"({"ProtectionEnabled": true, "ExpiresInMinutes": 1.5})"}) {
    auto r = Send("PUT", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(error(r), (Json{{"Code", "InvalidParameterException"},
                              {"Message", "UpdateTaskProtection: failed to decode request"}}))
        << body;
  }
  auto r = Send("PUT", R"({"ExpiresInMinutes": 5})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error(r), (Json{{"Arn", arn}, {"Code", "InvalidParameterException"},
                            {"Message", "Invalid request: does not contain 'ProtectionEnabled' field"}}));
  // Another task's id on this listener: no task.
  r = Send("GET", "", Own("aaaa"), "meta-b");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error(r), (Json{{"Code", "ResourceNotFoundException"}, {"Message", "Invalid request: no task was found"}}));
  EXPECT_EQ(Send("DELETE", "").status, 405);
  // ECS's InvalidParameterException, with a request id.
  answer_ = InvalidArgument("expiresInMinutes must be between 1 and 2880 minutes.");
  r = Send("PUT", R"({"ProtectionEnabled": true, "ExpiresInMinutes": 0})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error(r)["Code"], "InvalidParameterException");
  EXPECT_EQ(error(r)["Arn"], arn);
  EXPECT_TRUE(Json::parse(r.body).contains("requestID"));
  EXPECT_TRUE(calls_.size() == 1u);
  // The agent calls ECS with the task role's credentials: none, no call.
  tasks_[0].internal.task_role_arn.clear();
  r = Send("GET", "");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(error(r), (Json{{"Arn", arn}, {"Code", "AccessDeniedException"},
                            {"Message", "Invalid Request: no task IAM role credentials available for task"}}));
  EXPECT_EQ(calls_.size(), 1u);
}

}  // namespace
}  // namespace kecs::api::metadata
