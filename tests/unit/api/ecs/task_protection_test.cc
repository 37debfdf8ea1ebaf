// Task scale-in protection (issue 18) over a real store: what GetTaskProtection and
// UpdateTaskProtection answer and record, with the time given, so expiry is checked
// without waiting for it.
#include "api/ecs/task_protection.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "model/kinds.h"
#include "model/service.h"
#include "state/records/services.h"
#include "state/records/tasks.h"
#include "unit/support/temp_dir.h"

namespace kecs::api::ecs {
namespace {

constexpr const char* kRegion = "us-east-1";
constexpr const char* kCluster = "prod";
constexpr double kNow = 1700000000;

class TaskProtectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }

  // A RUNNING task, of `service` ("" = standalone).
  std::string AddTask(const std::string& service, const std::string& id) {
    model::Task t;
    t.region = kRegion;
    t.cluster = kCluster;
    t.id = id;
    t.family = "web";
    t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/prod/" + id;
    t.last_status = model::TaskStatus::kRunning;
    t.internal.service = service;
    EXPECT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::InsertTask(tx, t); }).ok());
    return t.task_arn;
  }

  void AddService(int desired) {
    model::Service s;
    s.region = kRegion;
    s.cluster = kCluster;
    s.name = "web";
    s.arn = "arn:aws:ecs:us-east-1:000000000000:service/prod/web";
    s.desired_count = desired;
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutService(tx, s); }).ok());
  }

  model::Task Load(const std::string& id) {
    model::Task out;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto t, state::records::GetTask(tx, kRegion, id));
      if (t) out = *t;
      return Status::Ok();
    }).ok());
    return out;
  }

  ProtectionAnswer Update(const std::vector<std::string>& refs, bool enabled, int minutes, double now) {
    ProtectionAnswer out;
    Status st = store_->Write([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(out, UpdateTaskProtection(tx, scope_, refs, enabled, minutes, now));
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  ProtectionAnswer Get(const std::vector<std::string>& refs, double now) {
    ProtectionAnswer out;
    Status st = store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(out, GetTaskProtection(tx, scope_, refs, now));
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  static std::string Id(char c) { return std::string(32, c); }

  ProtectionScope scope_{kRegion, "000000000000", kCluster};
  kecs::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
};

TEST_F(TaskProtectionTest, ProtectsForTheGivenMinutesAndRecordsIt) {
  AddService(2);
  std::string arn = AddTask("web", Id('a'));
  ProtectionAnswer a = Update({arn}, true, 60, kNow);
  ASSERT_EQ(a.failures.size(), 0u) << a.failures.dump();
  ASSERT_EQ(a.protected_tasks.size(), 1u);
  EXPECT_EQ(a.protected_tasks[0], (Json{{"taskArn", arn}, {"protectionEnabled", true}, {"expirationDate", kNow + 3600}}));
  EXPECT_EQ(Load(Id('a')).internal.protected_until, kNow + 3600);
  // By id as well as by ARN.
  EXPECT_EQ(Get({Id('a')}, kNow + 10).protected_tasks[0]["expirationDate"], kNow + 3600);
}

TEST_F(TaskProtectionTest, ExpiredProtectionShowsAsDisabledWithoutADate) {
  AddService(2);
  std::string arn = AddTask("web", Id('a'));
  Update({arn}, true, 1, kNow);
  EXPECT_EQ(Get({arn}, kNow + 59.9).protected_tasks[0]["protectionEnabled"], true);
  Json expired = Get({arn}, kNow + 60).protected_tasks[0];
  EXPECT_EQ(expired, (Json{{"taskArn", arn}, {"protectionEnabled", false}}));
  // Not among the cluster's protected tasks any more.
  EXPECT_EQ(Get({}, kNow + 60).protected_tasks, Json::array());
  EXPECT_EQ(Get({}, kNow).protected_tasks.size(), 1u);
}

TEST_F(TaskProtectionTest, UpdatingAgainRestartsTheExpiry) {
  AddService(2);
  std::string arn = AddTask("web", Id('a'));
  Update({arn}, true, 10, kNow);
  Update({arn}, true, 5, kNow + 300);
  EXPECT_EQ(Load(Id('a')).internal.protected_until, kNow + 300 + 300);
}

TEST_F(TaskProtectionTest, DisablingClearsIt) {
  AddService(2);
  std::string arn = AddTask("web", Id('a'));
  Update({arn}, true, 10, kNow);
  ProtectionAnswer a = Update({arn}, false, kDefaultProtectionMinutes, kNow + 1);
  EXPECT_EQ(a.protected_tasks[0], (Json{{"taskArn", arn}, {"protectionEnabled", false}}));
  EXPECT_FALSE(Load(Id('a')).internal.protected_until);
}

TEST_F(TaskProtectionTest, StandaloneUnknownAndStoppedTasksAreFailures) {
  AddService(2);
  std::string standalone = AddTask("", Id('b'));
  std::string stopped = AddTask("web", Id('c'));
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto t, state::records::GetTask(tx, kRegion, Id('c')));
    t->desired_status = model::TaskStatus::kStopped;
    return state::records::PutTask(tx, *t);
  }).ok());
  ProtectionAnswer a = Update({standalone, Id('d'), stopped}, true, 10, kNow);
  EXPECT_EQ(a.protected_tasks, Json::array());
  ASSERT_EQ(a.failures.size(), 3u);
  EXPECT_EQ(a.failures[0]["arn"], standalone);
  EXPECT_EQ(a.failures[0]["reason"], "TASK_NOT_VALID");
  EXPECT_EQ(a.failures[1]["arn"], "arn:aws:ecs:us-east-1:000000000000:task/prod/" + Id('d'));
  EXPECT_EQ(a.failures[1]["reason"], "MISSING");
  EXPECT_EQ(a.failures[2]["reason"], "TASK_NOT_VALID");
  EXPECT_FALSE(Load(Id('b')).internal.protected_until);
  // A task of another cluster is not found in this one.
  ProtectionScope other{kRegion, "000000000000", "other"};
  ProtectionAnswer b;
  ASSERT_TRUE(store_->Read([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(b, GetTaskProtection(tx, other, {Id('c')}, kNow));
    return Status::Ok();
  }).ok());
  ASSERT_EQ(b.failures.size(), 1u);
  EXPECT_EQ(b.failures[0]["reason"], "MISSING");
  EXPECT_EQ(b.failures[0]["arn"], "arn:aws:ecs:us-east-1:000000000000:task/other/" + Id('c'));
  // GetTaskProtection refuses a standalone task too.
  EXPECT_EQ(Get({standalone}, kNow).failures[0]["reason"], "TASK_NOT_VALID");
}

TEST_F(TaskProtectionTest, MoreProtectedTasksThanDesiredIsDeploymentBlocked) {
  AddService(2);
  std::string a = AddTask("web", Id('a')), b = AddTask("web", Id('b')), c = AddTask("web", Id('c'));
  ProtectionAnswer ans = Update({a, b, c}, true, 10, kNow);
  ASSERT_EQ(ans.protected_tasks.size(), 2u);
  ASSERT_EQ(ans.failures.size(), 1u);
  EXPECT_EQ(ans.failures[0]["arn"], c);
  EXPECT_EQ(ans.failures[0]["reason"], "DEPLOYMENT_BLOCKED");
  EXPECT_FALSE(Load(Id('c')).internal.protected_until);
  // Extending one already protected is not a new one.
  EXPECT_EQ(Update({a}, true, 20, kNow + 1).failures, Json::array());
  // Once one has expired, another may take its place.
  Update({b}, true, 1, kNow + 2);
  EXPECT_EQ(Update({c}, true, 10, kNow + 2 + 60).failures, Json::array());
}

}  // namespace
}  // namespace kecs::api::ecs
