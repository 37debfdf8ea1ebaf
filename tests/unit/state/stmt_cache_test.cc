// Issue 19.1: the per-connection statement cache of state/db.h.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fmt/format.h>

#include "state/db.h"
#include "unit/support/temp_dir.h"

namespace kecs::state {
namespace {

using kecs::testing::TempDir;

// The statements a connection holds (handed out or cached).
int Statements(sqlite3* db) {
  int n = 0;
  for (sqlite3_stmt* s = sqlite3_next_stmt(db, nullptr); s; s = sqlite3_next_stmt(db, s)) ++n;
  return n;
}

Result<std::unique_ptr<Db>> OpenDb(const std::string& dir, size_t cache) {
  Db::Options o;
  o.readers = 1;
  o.statement_cache = cache;
  return Db::Open(dir + "/t.db", {}, o);
}

TEST(StmtCacheTest, AStatementIsReusedAfterUseAndNeverSharedWhileInUse) {
  TempDir dir;
  auto db = OpenDb(dir.path(), 8);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  Status st = (*db)->Read([&](Conn& c) -> Status {
    const int base = Statements(c.raw());
    {
      ASSIGN_OR_RETURN(Stmt a, c.Prepare("SELECT ?"));
      a.Bind(1, int64_t{1});
      EXPECT_TRUE(a.Step());
      EXPECT_EQ(a.Int(0), 1);
    }
    EXPECT_EQ(Statements(c.raw()), base + 1);  // kept, not finalized
    {
      ASSIGN_OR_RETURN(Stmt a, c.Prepare("SELECT ?"));
      EXPECT_EQ(Statements(c.raw()), base + 1);  // the cached one, reset and unbound
      EXPECT_TRUE(a.Step());
      EXPECT_TRUE(a.IsNull(0));
      a.Reset();
      a.Bind(1, int64_t{2});
      // The same SQL again while `a` is in use: a statement of its own.
      ASSIGN_OR_RETURN(Stmt b, c.Prepare("SELECT ?"));
      EXPECT_EQ(Statements(c.raw()), base + 2);
      b.Bind(1, int64_t{3});
      EXPECT_TRUE(a.Step());
      EXPECT_TRUE(b.Step());
      EXPECT_EQ(a.Int(0), 2);
      EXPECT_EQ(b.Int(0), 3);
    }
    EXPECT_EQ(Statements(c.raw()), base + 1);  // the second copy was finalized
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST(StmtCacheTest, TheCacheIsBoundedAndCanBeOff) {
  TempDir dir;
  auto db = OpenDb(dir.path(), 2);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ASSERT_TRUE((*db)->Write([&](Conn& c) -> Status {
    const int base = Statements(c.raw());
    for (int i = 0; i < 5; ++i) {
      ASSIGN_OR_RETURN(Stmt s, c.Prepare(fmt::format("SELECT {}", i)));
      EXPECT_TRUE(s.Step());
      EXPECT_EQ(s.Int(0), i);
    }
    EXPECT_LE(Statements(c.raw()), base + 2);
    return Status::Ok();
  }).ok());
  TempDir dir2;
  auto off = OpenDb(dir2.path(), 0);
  ASSERT_TRUE(off.ok());
  ASSERT_TRUE((*off)->Read([&](Conn& c) -> Status {
    const int base = Statements(c.raw());
    {
      ASSIGN_OR_RETURN(Stmt s, c.Prepare("SELECT 1"));
      EXPECT_TRUE(s.Step());
    }
    EXPECT_EQ(Statements(c.raw()), base);
    return Status::Ok();
  }).ok());
}

TEST(StmtCacheTest, AnErrorInAStatementDoesNotCarryOverToItsNextUse) {
  TempDir dir;
  auto db = OpenDb(dir.path(), 8);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Write([](Conn& c) { return c.Exec("CREATE TABLE t(k INTEGER PRIMARY KEY)"); }).ok());
  for (int round = 0; round < 2; ++round) {
    Status st = (*db)->Write([&](Conn& c) -> Status {
      ASSIGN_OR_RETURN(Stmt s, c.Prepare("INSERT INTO t(k) VALUES(?)"));
      s.Bind(1, int64_t{7});
      return s.Run();
    });
    if (round == 0) {
      EXPECT_TRUE(st.ok()) << st.ToString();
    } else {
      EXPECT_EQ(st.code(), Code::kAlreadyExists) << st.ToString();
    }
  }
  Status st = (*db)->Write([&](Conn& c) -> Status {
    ASSIGN_OR_RETURN(Stmt s, c.Prepare("INSERT INTO t(k) VALUES(?)"));
    s.Bind(1, int64_t{8});
    return s.Run();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
}

}  // namespace
}  // namespace kecs::state
