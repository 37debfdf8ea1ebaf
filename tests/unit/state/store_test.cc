#include "state/store.h"

#include <gtest/gtest.h>

#include "unit/support/temp_dir.h"

namespace kecs::state {
namespace {

using kecs::testing::TempDir;

// Controllers wake each other through OnCommit and write back what they saw; a commit that
// changed nothing must wake nobody, or they would wake each other forever.
TEST(Store, OnCommitFiresOnlyForWritesThatChangedRows) {
  TempDir d;
  auto store = Store::Open(d.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  int fired = 0;
  (*store)->OnCommit([&fired] { ++fired; });

  Object o{"test:thing", "us-east-1", "t-1", "", "one", "ACTIVE", 0, Json{{"n", 1}}};
  ASSERT_TRUE((*store)->Write([&](Tx& tx) { return tx.Put(o); }).ok());
  EXPECT_EQ(fired, 1);

  // Reads inside a write, and a write that fails, change nothing.
  ASSERT_TRUE((*store)->Write([&](Tx& tx) { return tx.Get("test:thing", "us-east-1", "t-1").status(); }).ok());
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE((*store)->Write([&](Tx& tx) -> Status {
    RETURN_IF_ERROR(tx.Put(o));
    return Internal("abandoned");
  }).ok());
  EXPECT_EQ(fired, 1);
  // Deleting a row that is not there changes nothing either.
  ASSERT_TRUE((*store)->Write([&](Tx& tx) { return tx.Delete("test:thing", "us-east-1", "nope").status(); }).ok());
  EXPECT_EQ(fired, 1);

  ASSERT_TRUE((*store)->Write([&](Tx& tx) { return tx.Delete("test:thing", "us-east-1", "t-1").status(); }).ok());
  EXPECT_EQ(fired, 2);
}

}  // namespace
}  // namespace kecs::state
