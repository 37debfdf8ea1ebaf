// Issue 11, defect 14: task lists read through the indexes of migration 6, the retention
// sweep deletes by index, and the WAL is checkpointed.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include <fmt/format.h>

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
  o.doc = {{"taskArn", "arn:" + o.id}, {"desiredStatus", desired}, {"startedBy", i % 2 ? "odd" : "even"},
           {"kecs:placement", {{"instance", "i-" + std::to_string(i % 3)}}}};
  if (stopped_at) o.doc["stoppedAt"] = *stopped_at;
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

TEST_F(StoreIndexTest, DocEqualsFiltersOnTopLevelAndNestedMembers) {
  for (int i = 0; i < 12; ++i) Put(Task(i, i < 8 ? "STOPPED" : "RUNNING"));
  Query q{"ecs:task", "us-east-1", std::string("c1")};
  q.doc_equals = {{"desiredStatus", "RUNNING"}};
  EXPECT_EQ(List(q).size(), 4u);
  q.doc_equals.emplace_back("startedBy", "odd");
  EXPECT_EQ(List(q).size(), 2u);
  q.doc_equals = {{"kecs:placement.instance", "i-0"}};
  EXPECT_EQ(List(q).size(), 4u);  // 0, 3, 6, 9
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

}  // namespace
}  // namespace kecs::state
