// The WAL's checkpoints (store.h): the writer's commits never run one (SQLite's automatic
// checkpoint, inside COMMIT and so inside the write lock, is off); the checkpointer thread
// copies the log back with PASSIVE checkpoints once it holds checkpoint_frames pages.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::state {
namespace {

using kecs::testing::TempDir;

// About 8 KiB of document: two pages or more per commit.
Object Bulky(int i) {
  Object o;
  o.kind = "ecs:task";
  o.region = "us-east-1";
  o.id = fmt::format("{:032x}", i);
  o.parent = "c1";
  o.name = "web";
  o.status = "RUNNING";
  o.doc = {{"taskArn", "arn:" + o.id}, {"desiredStatus", "RUNNING"}, {"pad", std::string(8192, 'x')}};
  return o;
}

std::unique_ptr<Store> Open(const std::string& dir, Store::Options o) {
  auto s = Store::Open(dir, o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

void PutMany(Store& store, int from, int n) {
  for (int i = from; i < from + n; ++i) {
    ASSERT_TRUE(store.Write([&](Tx& tx) { return tx.Insert(Bulky(i)); }).ok());
  }
}

TEST(StoreCheckpointTest, CommitsNeverCheckpointTheLogThemselves) {
  TempDir dir;
  Store::Options o;
  o.checkpoint_frames = 1 << 30;  // the checkpointer is never woken by the log's size...
  o.checkpoint_every_commits = 1 << 30;  // ...nor by commits
  o.checkpoint_interval = std::chrono::seconds(3600);
  auto store = Open(dir.path(), o);
  ASSERT_TRUE(store);
  // 1,500 commits of ~3 pages: past SQLite's automatic checkpoint at 1,000 pages, which
  // would have started the log over (and kept the file near 4 MB).
  PutMany(*store, 0, 1500);
  auto wal = std::filesystem::file_size(dir.path() + "/kecs.db-wal");
  EXPECT_GT(wal, 8u * 1024 * 1024) << "a commit checkpointed the log";
  EXPECT_EQ(store->passive_checkpoints(), 0);
  EXPECT_EQ(store->truncate_checkpoints(), 0);
}

TEST(StoreCheckpointTest, TheCheckpointerCopiesTheLogBackOnceItHoldsEnoughPages) {
  TempDir dir;
  Store::Options o;
  o.checkpoint_frames = 200;
  o.checkpoint_every_commits = 1 << 30;
  o.checkpoint_interval = std::chrono::seconds(3600);
  auto store = Open(dir.path(), o);
  ASSERT_TRUE(store);
  PutMany(*store, 0, 200);  // ~600 pages
  for (int i = 0; i < 1000 && store->passive_checkpoints() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(store->passive_checkpoints(), 1);
  EXPECT_EQ(store->truncate_checkpoints(), 0);
  PutMany(*store, 200, 1300);
  // Every row is there.
  int64_t rows = 0;
  ASSERT_TRUE(store->Read([&](Tx& tx) -> Status {
    Query q{"ecs:task", "us-east-1"};
    q.keys_only = true;
    ASSIGN_OR_RETURN(auto all, tx.List(q));
    rows = static_cast<int64_t>(all.size());
    return Status::Ok();
  }).ok());
  EXPECT_EQ(rows, 1500);
}

// Under writes without a pause the log never starts over (a PASSIVE checkpoint never
// catches up with the writer); at truncate_frames pages a TRUNCATE one cuts it.
TEST(StoreCheckpointTest, ALogThatCannotStartOverIsTruncatedAtItsLimit) {
  TempDir dir;
  Store::Options o;
  o.checkpoint_frames = 100;
  o.truncate_frames = 400;
  o.checkpoint_every_commits = 1 << 30;
  o.checkpoint_interval = std::chrono::seconds(3600);
  auto store = Open(dir.path(), o);
  ASSERT_TRUE(store);
  PutMany(*store, 0, 1500);  // ~4,500 pages
  for (int i = 0; i < 1000 && store->truncate_checkpoints() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(store->truncate_checkpoints(), 1);
  EXPECT_GE(store->passive_checkpoints(), 1);
}

TEST(StoreCheckpointTest, TheIntervalTruncatesTheLog) {
  TempDir dir;
  Store::Options o;
  o.checkpoint_frames = 1 << 30;
  o.checkpoint_every_commits = 1 << 30;
  o.checkpoint_interval = std::chrono::seconds(1);
  auto store = Open(dir.path(), o);
  ASSERT_TRUE(store);
  PutMany(*store, 0, 20);
  std::string wal = dir.path() + "/kecs.db-wal";
  for (int i = 0; i < 1000 && std::filesystem::file_size(wal) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(std::filesystem::file_size(wal), 0u);
  EXPECT_GE(store->truncate_checkpoints(), 1);
}

}  // namespace
}  // namespace kecs::state
