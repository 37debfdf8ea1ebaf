// Issue 11, defect 14: task lists read through the indexes of migration 6, the retention
// sweep deletes by index, and the WAL is checkpointed. Issue 19.1: ListTasks' ARN pages,
// the service controller's task read, the batched sweep and migration 8's indexes.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include <fmt/format.h>

#include "state/records/tasks.h"
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::state {
namespace {

using kecs::testing::TempDir;

Object Task(int i, const std::string& desired, std::optional<double> stopped_at = std::nullopt) {
  Object o;
  o.kind = "ecs:task";
  o.region = "us-east-1";
  o.id = fmt::format("{:032x}", i);
  o.parent = "c1";
  o.name = "web";
  o.status = desired == "STOPPED" ? "STOPPED" : "RUNNING";
  o.doc = {{"taskArn", "arn:" + o.id}, {"desiredStatus", desired}, {"startedBy", i % 2 ? "odd" : "even"}};
  o.internal = {{"placement", {{"instance", "i-" + std::to_string(i % 3)}}}};
  if (stopped_at) o.doc["stoppedAt"] = *stopped_at;
  return o;
}

// Issue 19.1: a task of `service`, its failure `counted` or not.
Object ServiceTask(int i, const std::string& status, const std::string& service, bool counted,
            std::optional<double> stopped_at = std::nullopt) {
  Object o;
  o.kind = "ecs:task";
  o.region = "us-east-1";
  o.id = fmt::format("{:032x}", i);
  o.parent = "c1";
  o.name = i % 2 ? "odd" : "even";
  o.status = status;
  o.doc = {{"taskArn", "arn:task/" + o.id}, {"desiredStatus", status == "STOPPED" ? "STOPPED" : "RUNNING"}};
  if (stopped_at) o.doc["stoppedAt"] = *stopped_at;
  o.internal = {{"service", service}, {"counted", counted}};
  return o;
}

class StoreIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  void Put(const Object& o) {
    ASSERT_TRUE(store_->Write([&](Tx& tx) { return tx.Insert(o); }).ok());
  }
  std::vector<Object> List(const Query& q) {
    std::vector<Object> out;
    Status st = store_->Read([&](Tx& tx) -> Status {
      ASSIGN_OR_RETURN(out, tx.List(q));
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }
  // SQLite's plan for `sql`, one line per step.
  std::string Plan(const std::string& sql) {
    std::string plan;
    Status st = store_->Read([&](Tx& tx) -> Status {
      ASSIGN_OR_RETURN(Stmt s, tx.conn().Prepare("EXPLAIN QUERY PLAN " + sql));
      while (s.Step()) plan += s.Text(3) + "\n";
      return s.status();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return plan;
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreIndexTest, DocAndInternalEqualsFilterOnTopLevelAndNestedMembers) {
  for (int i = 0; i < 12; ++i) Put(Task(i, i < 8 ? "STOPPED" : "RUNNING"));
  Query q{"ecs:task", "us-east-1", std::string("c1")};
  q.doc_equals = {{"desiredStatus", "RUNNING"}};
  EXPECT_EQ(List(q).size(), 4u);
  q.doc_equals.emplace_back("startedBy", "odd");
  EXPECT_EQ(List(q).size(), 2u);
  q.doc_equals.clear();
  q.internal_equals = {{"placement.instance", "i-0"}};
  EXPECT_EQ(List(q).size(), 4u);  // 0, 3, 6, 9
  q.doc_equals = {{"desiredStatus", "RUNNING"}};
  EXPECT_EQ(List(q).size(), 1u);  // 9
}

TEST_F(StoreIndexTest, DocEqualsPagesInSeqOrderWithLimitAndAfterSeq) {
  for (int i = 0; i < 10; ++i) Put(Task(i, "RUNNING"));
  Query q{"ecs:task", "us-east-1", std::string("c1")};
  q.doc_equals = {{"desiredStatus", "RUNNING"}};
  q.limit = 4;
  auto first = List(q);
  ASSERT_EQ(first.size(), 4u);
  q.after_seq = first.back().seq;
  auto second = List(q);
  ASSERT_EQ(second.size(), 4u);
  EXPECT_GT(second.front().seq, first.back().seq);
}

TEST_F(StoreIndexTest, DocPathsOutsideTheSafeAlphabetAreRefused) {
  Query q{"ecs:task", "us-east-1", std::string("c1")};
  for (const char* bad : {"a'b", "a b", "", "a..b", "$.x", "a\"b"}) {
    q.doc_equals = {{bad, "x"}};
    Status st = store_->Read([&](Tx& tx) { return tx.List(q).status(); });
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << bad;
  }
}

TEST_F(StoreIndexTest, TaskPagesReadTheDesiredStatusIndex) {
  std::string plan = Plan(
      "SELECT seq FROM objects WHERE kind = 'ecs:task' AND region = 'us-east-1' AND parent = 'c1' "
      "AND json_extract(doc, '$.\"desiredStatus\"') = 'RUNNING' ORDER BY seq LIMIT 101");
  EXPECT_NE(plan.find("objects_tasks_by_desired_status"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;  // no sort of every row
}

TEST_F(StoreIndexTest, RetentionSweepReadsTheStoppedAtIndex) {
  std::string plan = Plan(
      "DELETE FROM objects WHERE kind = 'ecs:task' AND status = 'STOPPED' "
      "AND coalesce(json_extract(doc, '$.\"stoppedAt\"'), 0) < 5");
  EXPECT_NE(plan.find("objects_tasks_stopped_at"), std::string::npos) << plan;
}

TEST_F(StoreIndexTest, DeleteStoppedTasksBeforeDeletesOnlyOldStoppedTasks) {
  Put(Task(1, "STOPPED", 100.0));
  Put(Task(2, "STOPPED", 300.0));
  Put(Task(3, "STOPPED"));         // no stoppedAt: as old as can be
  Put(Task(4, "RUNNING"));
  Object other = Task(5, "STOPPED", 100.0);
  other.kind = "ecs:service";       // another kind is never swept
  Put(other);
  int64_t deleted = 0;
  ASSERT_TRUE(store_->Write([&](Tx& tx) -> Status {
    ASSIGN_OR_RETURN(deleted, tx.DeleteStoppedTasksBefore(200));
    return Status::Ok();
  }).ok());
  EXPECT_EQ(deleted, 2);
  std::vector<std::string> left;
  Query q{"ecs:task"};
  q.any_region = true;
  for (const auto& o : List(q)) left.push_back(o.id);
  EXPECT_EQ(left, (std::vector<std::string>{fmt::format("{:032x}", 2), fmt::format("{:032x}", 4)}));
  // A repeat deletes nothing more.
  ASSERT_TRUE(store_->Write([&](Tx& tx) -> Status {
    ASSIGN_OR_RETURN(deleted, tx.DeleteStoppedTasksBefore(200));
    return Status::Ok();
  }).ok());
  EXPECT_EQ(deleted, 0);
}

TEST_F(StoreIndexTest, CheckpointTruncatesTheWal) {
  for (int i = 0; i < 200; ++i) Put(Task(i, "RUNNING"));
  std::string wal = dir_.path() + "/kecs.db-wal";
  ASSERT_GT(std::filesystem::file_size(wal), 0u);
  ASSERT_TRUE(store_->Checkpoint().ok());
  EXPECT_EQ(std::filesystem::file_size(wal), 0u);
  Put(Task(1000, "RUNNING"));  // the store writes on after a checkpoint
  EXPECT_EQ(List(Query{"ecs:task", "us-east-1"}).size(), 201u);
}

TEST_F(StoreIndexTest, ListTaskArnsGivesTheSeqAndArnOfListInItsOrder) {
  for (int i = 0; i < 9; ++i) Put(ServiceTask(i, i % 3 ? "RUNNING" : "STOPPED", "", false));
  Query q{"ecs:task", "us-east-1", std::string("c1")};
  q.doc_equals = {{"desiredStatus", "RUNNING"}};
  q.limit = 4;
  for (int page = 0; page < 2; ++page) {
    std::vector<Object> rows;
    std::vector<std::pair<int64_t, std::string>> arns;
    ASSERT_TRUE(store_->Read([&](Tx& tx) -> Status {
      ASSIGN_OR_RETURN(rows, tx.List(q));
      ASSIGN_OR_RETURN(arns, records::ListTaskArns(tx, q));
      return Status::Ok();
    }).ok());
    ASSERT_EQ(arns.size(), rows.size());
    ASSERT_FALSE(rows.empty());
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(arns[i].first, rows[i].seq);
      EXPECT_EQ(arns[i].second, rows[i].doc.at("taskArn").get<std::string>());
    }
    q.after_seq = rows.back().seq;
  }
}

TEST_F(StoreIndexTest, ListServiceTasksSkipsOnlyStoppedCountedTasks) {
  Put(ServiceTask(1, "RUNNING", "a", false));
  Put(ServiceTask(2, "STOPPED", "a", true));    // counted: skipped
  Put(ServiceTask(3, "STOPPED", "a", false));   // not yet counted: read
  Put(ServiceTask(4, "RUNNING", "b", false));   // another service
  Put(ServiceTask(5, "PENDING", "a", true));    // not STOPPED: read whatever counted says
  Put(ServiceTask(6, "RUNNING", "", false));    // no service
  std::vector<std::string> ids;
  ASSERT_TRUE(store_->Read([&](Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto tasks, records::ListServiceTasks(tx, "us-east-1", "c1", "a"));
    for (const auto& t : tasks) ids.push_back(t.id);
    return Status::Ok();
  }).ok());
  EXPECT_EQ(ids, (std::vector<std::string>{fmt::format("{:032x}", 1), fmt::format("{:032x}", 3),
                                           fmt::format("{:032x}", 5)}));
}

TEST_F(StoreIndexTest, SweepDeletesInBatchesEachItsOwnWrite) {
  for (int i = 0; i < 5; ++i) Put(ServiceTask(i, "STOPPED", "", true, 100.0 + i));
  Put(ServiceTask(5, "STOPPED", "", true, 500.0));  // not old enough
  Put(ServiceTask(6, "RUNNING", "", false));
  int commits = 0;
  store_->OnCommit([&] { ++commits; });
  auto n = store_->SweepStoppedTasks(200, 2);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 5);
  EXPECT_GE(commits, 3);  // 2 + 2 + 1, or smaller batches on a slow machine
  int64_t left = 0;
  ASSERT_TRUE(store_->Read([&](Tx& tx) -> Status {
    Query q{"ecs:task", "us-east-1"};
    ASSIGN_OR_RETURN(left, tx.Count(q));
    return Status::Ok();
  }).ok());
  EXPECT_EQ(left, 2);
  auto again = store_->SweepStoppedTasks(200);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
  EXPECT_GT(store_->db().longest_write_ns(), 0);
}

TEST_F(StoreIndexTest, FamilyServiceAndSweepQueriesReadTheirIndexes) {
  std::string plan = Plan(
      "SELECT seq FROM objects WHERE kind = 'ecs:task' AND region = 'us-east-1' AND parent = 'c1' "
      "AND name = 'web' AND json_extract(doc, '$.\"desiredStatus\"') = 'RUNNING' ORDER BY seq LIMIT 101");
  EXPECT_NE(plan.find("objects_tasks_by_family"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
  plan = Plan(
      "SELECT seq FROM objects WHERE kind = 'ecs:task' AND region = 'us-east-1' AND parent = 'c1' "
      "AND json_extract(doc, '$.\"desiredStatus\"') = 'RUNNING' "
      "AND json_extract(internal, '$.\"service\"') = 'a' ORDER BY seq LIMIT 101");
  EXPECT_NE(plan.find("objects_tasks_by_service"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
  plan = Plan(
      "SELECT seq FROM objects WHERE kind = 'ecs:task' AND region = 'us-east-1' AND parent = 'c1' "
      "AND json_extract(internal, '$.\"service\"') = 'a' "
      "AND (status <> 'STOPPED' OR coalesce(json_extract(internal, '$.\"counted\"'), 0) = 0) ORDER BY seq");
  EXPECT_NE(plan.find("objects_tasks_open_by_service"), std::string::npos) << plan;
  plan = Plan(
      "DELETE FROM objects WHERE seq IN (SELECT seq FROM objects WHERE kind = 'ecs:task' AND status = 'STOPPED' "
      "AND coalesce(json_extract(doc, '$.\"stoppedAt\"'), 0) < 5 "
      "ORDER BY coalesce(json_extract(doc, '$.\"stoppedAt\"'), 0) LIMIT 100)");
  EXPECT_NE(plan.find("objects_tasks_stopped_at"), std::string::npos) << plan;
}

}  // namespace
}  // namespace kecs::state
