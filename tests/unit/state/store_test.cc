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

// Log writes (CloudWatch Logs events, awslogs checkpoints) go through WriteQuiet: they
// commit like any write but wake no controller.
TEST(Store, WriteQuietCommitsWithoutOnCommit) {
  TempDir d;
  auto store = Store::Open(d.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  int fired = 0;
  (*store)->OnCommit([&fired] { ++fired; });
  Object o{"test:thing", "us-east-1", "t-1", "", "one", "ACTIVE", 0, Json{{"n", 1}}};
  ASSERT_TRUE((*store)->WriteQuiet([&](Tx& tx) { return tx.Put(o); }).ok());
  EXPECT_EQ(fired, 0);
  bool found = false;
  ASSERT_TRUE((*store)->Read([&](Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto got, tx.Get("test:thing", "us-east-1", "t-1"));
    found = got.has_value();
    return Status::Ok();
  }).ok());
  EXPECT_TRUE(found);
  ASSERT_TRUE((*store)->Write([&](Tx& tx) { return tx.Delete("test:thing", "us-east-1", "t-1").status(); }).ok());
  EXPECT_EQ(fired, 1);
}

}  // namespace
}  // namespace kecs::state

// A stored document that is not JSON is an error naming the object where it is read (Get
// and List alike), not a discarded value that a reader would take for missing members.
TEST(Store, UnparsableDocumentIsAnErrorNamingTheObject) {
  kecs::testing::TempDir dir;
  auto store = kecs::state::Store::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  kecs::state::Object o;
  o.kind = "ec2:vpc";
  o.region = "us-east-1";
  o.id = "vpc-0123456789abcdef0";
  o.doc = {{"VpcId", o.id}};
  ASSERT_TRUE((*store)->Write([&](kecs::state::Tx& tx) { return tx.Insert(o); }).ok());
  ASSERT_TRUE((*store)
                  ->Write([&](kecs::state::Tx& tx) {
                    return tx.conn().Exec("UPDATE objects SET doc = '{\"VpcId\": ' WHERE kind = 'ec2:vpc'");
                  })
                  .ok());
  kecs::Status get = (*store)->Read([&](kecs::state::Tx& tx) { return tx.Get(o.kind, o.region, o.id).status(); });
  EXPECT_EQ(get.code(), kecs::Code::kInternal);
  EXPECT_NE(get.message().find("vpc-0123456789abcdef0"), std::string::npos) << get.message();
  kecs::Status list = (*store)->Read([&](kecs::state::Tx& tx) {
    return tx.List({"ec2:vpc", "us-east-1"}).status();
  });
  EXPECT_NE(list.message().find("vpc-0123456789abcdef0"), std::string::npos) << list.message();
}
