#pragma once
// A thin, exception-free wrapper over SQLite3.
//
// Db owns one writer connection and a small pool of reader connections to one database
// file in WAL mode, so reads run beside a write. Write() serialises writers and wraps the
// callback in BEGIN IMMEDIATE ... COMMIT: the callback's writes land together or not at
// all, and an exception thrown by the callback rolls it back before it propagates. Read()
// runs the callback inside a read transaction on a pooled connection and sees one
// consistent snapshot. Both are safe to call from any thread. Statements and the Conn
// handed to a callback must not escape it.
#include <sqlite3.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kecs::state {

class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Stmt(Stmt&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  // Binds are 1-based, as in SQLite.
  Stmt& Bind(int i, std::string_view v);
  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, double v);
  Stmt& BindNull(int i);
  // Steps once: true with a row, false when done. Errors are reported by status().
  bool Step();
  // Runs to completion; for statements that return no rows.
  Status Run();
  Status status() const { return status_; }
  void Reset();

  std::string Text(int col) const;
  int64_t Int(int col) const;
  double Double(int col) const;
  bool IsNull(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  Status status_;
};

// A connection inside a transaction, handed to Read/Write callbacks.
class Conn {
 public:
  explicit Conn(sqlite3* db) : db_(db) {}
  Result<Stmt> Prepare(std::string_view sql);
  Status Exec(std::string_view sql);
  int64_t Changes() const;
  sqlite3* raw() const { return db_; }

 private:
  sqlite3* db_;
};

struct Migration {
  int version;
  std::string description;
  std::function<Status(Conn&)> apply;
};

class Db {
 public:
  struct Options {
    int readers = 4;
    // synchronous=NORMAL in WAL mode: a crash of the process never loses a committed
    // transaction; a power cut may lose the last ones but never corrupts the file.
    bool synchronous_full = false;
  };

  // Opens (creating if needed) the database at `path`, checks its integrity and schema
  // version, and applies the pending migrations in order, each in its own transaction.
  // Fails with FailedPrecondition, and leaves the file untouched, when the file is not a
  // SQLite database, fails its integrity check, or has a schema newer than `migrations`.
  static Result<std::unique_ptr<Db>> Open(const std::string& path,
                                          const std::vector<Migration>& migrations,
                                          Options options);
  static Result<std::unique_ptr<Db>> Open(const std::string& path,
                                          const std::vector<Migration>& migrations) {
    return Open(path, migrations, Options{});
  }
  ~Db();

  Status Write(const std::function<Status(Conn&)>& fn);
  Status Read(const std::function<Status(Conn&)>& fn);

  int schema_version() const { return schema_version_; }
  const std::string& path() const { return path_; }
  // A cheap liveness probe for /health.
  Status Ping();

 private:
  Db() = default;
  sqlite3* AcquireReader();
  void ReleaseReader(sqlite3* c);

  std::string path_;
  int schema_version_ = 0;

  std::mutex write_mu_;
  sqlite3* writer_ = nullptr;  // guarded by write_mu_

  std::mutex read_mu_;
  std::condition_variable read_cv_;
  std::vector<sqlite3*> free_readers_;  // guarded by read_mu_
  std::vector<sqlite3*> all_readers_;   // constant after Open
};

}  // namespace kecs::state
