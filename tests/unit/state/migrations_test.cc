#include "state/migrations.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::state {
namespace {

using kecs::testing::TempDir;

TEST(Migrations, AreOrderedAndContiguous) {
  const auto& all = AllMigrations();
  ASSERT_FALSE(all.empty());
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].version, static_cast<int>(i + 1));
}

// Each migration applies on top of the previous ones, and leaves the schema it promises.
TEST(Migrations, Migration1CreatesObjectsAndSequences) {
  TempDir d;
  std::vector<Migration> first(AllMigrations().begin(), AllMigrations().begin() + 1);
  auto db = Db::Open(d.path() + "/t.db", first);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  EXPECT_EQ((*db)->schema_version(), 1);
  Status st = (*db)->Write([](Conn& c) {
    RETURN_IF_ERROR(c.Exec("INSERT INTO objects(kind, region, id, doc) VALUES('k','r','i','{}')"));
    return c.Exec("INSERT INTO sequences(name, value) VALUES('s', 1)");
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST(Migrations, Migration2CreatesAllocationTablesThatRefuseDoubles) {
  TempDir d;
  std::vector<Migration> two(AllMigrations().begin(), AllMigrations().begin() + 2);
  auto db = Db::Open(d.path() + "/t.db", two);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  EXPECT_EQ((*db)->schema_version(), 2);
  Status st = (*db)->Write([](Conn& c) {
    RETURN_IF_ERROR(c.Exec("INSERT INTO ip_allocations(region, pool, ip, owner) VALUES('r','s',1,'a')"));
    return c.Exec("INSERT INTO ip_allocations(region, pool, ip, owner) VALUES('r','s',1,'b')");
  });
  EXPECT_EQ(st.code(), Code::kAlreadyExists);
  st = (*db)->Write([](Conn& c) {
    RETURN_IF_ERROR(c.Exec("INSERT INTO port_allocations(pool, protocol, port, owner) VALUES('p','tcp',32000,'a')"));
    return c.Exec("INSERT INTO port_allocations(pool, protocol, port, owner) VALUES('p','tcp',32000,'b')");
  });
  EXPECT_EQ(st.code(), Code::kAlreadyExists);
}

TEST(Migrations, Migration3IndexesObjectsByStatus) {
  TempDir d;
  std::vector<Migration> three(AllMigrations().begin(), AllMigrations().begin() + 3);
  auto db = Db::Open(d.path() + "/t.db", three);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  bool found = false;
  ASSERT_TRUE((*db)->Read([&](Conn& c) {
    auto s = c.Prepare("SELECT name FROM sqlite_master WHERE type='index' AND name='objects_by_status'");
    if (!s.ok()) return s.status();
    found = s->Step();
    return s->status();
  }).ok());
  EXPECT_TRUE(found);
}

TEST(Migrations, ReopeningAppliesNothingTwice) {
  TempDir d;
  {
    auto s = Store::Open(d.path());
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Write([](Tx& tx) {
      return tx.Insert({"k", "r", "id1", "", "n", "", 0, Json{{"a", 1}}});
    }).ok());
  }
  auto s = Store::Open(d.path());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->db().schema_version(), AllMigrations().back().version);
  std::optional<Object> got;
  ASSERT_TRUE((*s)->Read([&](Tx& tx) {
    auto o = tx.Get("k", "r", "id1");
    if (!o.ok()) return o.status();
    got = *o;
    return Status::Ok();
  }).ok());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->doc["a"], 1);
}

TEST(Db, RefusesNewerSchema) {
  TempDir d;
  std::string path = d.path() + "/kecs.db";
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  sqlite3_exec(raw, "PRAGMA user_version=999", nullptr, nullptr, nullptr);
  sqlite3_close(raw);
  auto db = Db::Open(path, AllMigrations());
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(db.status().message().find("newer than this kecs understands"), std::string::npos);
}

TEST(Db, RefusesAFileThatIsNotADatabaseAndLeavesItAlone) {
  TempDir d;
  std::string path = d.path() + "/kecs.db";
  std::string junk(8192, 'x');
  std::ofstream(path) << junk;
  auto db = Db::Open(path, AllMigrations());
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.status().message().find("not a usable kecs database"), std::string::npos);
  std::ifstream in(path);
  std::string back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(back, junk);
}

TEST(Store, WriteIsAllOrNothing) {
  TempDir d;
  auto s = Store::Open(d.path());
  ASSERT_TRUE(s.ok());
  Status st = (*s)->Write([](Tx& tx) {
    RETURN_IF_ERROR(tx.Insert({"k", "r", "a", "", "", "", 0, Json::object()}));
    return tx.Insert({"k", "r", "a", "", "", "", 0, Json::object()});  // duplicate
  });
  EXPECT_EQ(st.code(), Code::kAlreadyExists);
  int64_t n = -1;
  ASSERT_TRUE((*s)->Read([&](Tx& tx) {
    auto c = tx.Count({"k", "r"});
    if (!c.ok()) return c.status();
    n = *c;
    return Status::Ok();
  }).ok());
  EXPECT_EQ(n, 0);
}

TEST(Store, SequencesAreDurableAndIncreasing) {
  TempDir d;
  for (int round = 1; round <= 3; ++round) {
    auto s = Store::Open(d.path());
    ASSERT_TRUE(s.ok());
    int64_t v = 0;
    ASSERT_TRUE((*s)->Write([&](Tx& tx) {
      auto r = tx.NextSequence("family");
      if (!r.ok()) return r.status();
      v = *r;
      return Status::Ok();
    }).ok());
    EXPECT_EQ(v, round);
  }
}

}  // namespace
}  // namespace kecs::state

namespace kecs::state {
namespace {

// API handlers throw from inside their transactions; the store must roll back and stay
// usable (a regression found by the e2e suite).
TEST(Store, AnExceptionInsideWriteRollsBackAndLeavesTheStoreUsable) {
  char tmpl[] = "/tmp/kecs-unit-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto s = Store::Open(dir);
  ASSERT_TRUE(s.ok());
  EXPECT_THROW((void)(*s)->Write([](Tx& tx) -> Status {
    RETURN_IF_ERROR(tx.Insert({"k", "r", "a", "", "", "", 0, Json::object()}));
    throw std::runtime_error("refused");
  }), std::runtime_error);
  for (int i = 0; i < 8; ++i) {  // more than the reader pool holds
    EXPECT_THROW((void)(*s)->Read([](Tx&) -> Status { throw std::runtime_error("refused"); }),
                 std::runtime_error);
  }
  EXPECT_TRUE((*s)->Write([](Tx& tx) { return tx.Insert({"k", "r", "b", "", "", "", 0, Json::object()}); }).ok());
  int64_t n = -1;
  ASSERT_TRUE((*s)->Read([&](Tx& tx) {
    auto c = tx.Count({"k", "r"});
    if (!c.ok()) return c.status();
    n = *c;
    return Status::Ok();
  }).ok());
  EXPECT_EQ(n, 1);  // "a" was rolled back, "b" committed
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kecs::state
