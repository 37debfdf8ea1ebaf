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
//
// Each connection keeps its prepared statements (a StmtCache, keyed by SQL text): a Stmt
// from Conn::Prepare goes back to its connection's cache when destroyed (reset, bindings
// cleared) instead of being finalized, so a request does not compile the same SQL again.
// A statement already handed out and still alive when the same SQL is prepared again (two
// at once in one transaction) is not shared: the second is prepared afresh and finalized
// after use. The cache is bounded (Options::statement_cache; 0 turns it off, and so does
// KECS_STMT_CACHE=0 in the environment, for benchmarks) and needs no lock: a connection
// is used by one thread at a time (the writer under the write lock, a reader while it is
// taken from the pool).
#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace kecs::state {

class StmtCache;

class Stmt {
 public:
  // `cache`: where the statement goes back when destroyed; none: it is finalized.
  Stmt(sqlite3* db, sqlite3_stmt* stmt, StmtCache* cache = nullptr) : db_(db), stmt_(stmt), cache_(cache) {}
  Stmt(Stmt&& o) noexcept : db_(o.db_), stmt_(o.stmt_), cache_(o.cache_), status_(o.status_) { o.stmt_ = nullptr; }
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
  StmtCache* cache_;
  Status status_;
};

// One connection's idle prepared statements by SQL text (see above). Not thread-safe: it
// belongs to its connection.
class StmtCache {
 public:
  explicit StmtCache(size_t capacity) : capacity_(capacity) {}
  ~StmtCache();
  StmtCache(const StmtCache&) = delete;
  StmtCache& operator=(const StmtCache&) = delete;
  // An idle statement for `sql` (taken out of the cache), or null.
  sqlite3_stmt* Take(std::string_view sql);
  // Gives a statement back (reset, bindings cleared); it is finalized when the cache is
  // off or full, or already holds one for its SQL.
  void Give(sqlite3_stmt* stmt);
  size_t capacity() const { return capacity_; }
  size_t size() const { return idle_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  size_t capacity_;
  std::unordered_map<std::string, sqlite3_stmt*, Hash, std::equal_to<>> idle_;
};

// A connection inside a transaction, handed to Read/Write callbacks.
class Conn {
 public:
  explicit Conn(sqlite3* db, StmtCache* cache = nullptr) : db_(db), cache_(cache) {}
  // From the connection's statement cache when it holds one for `sql`.
  Result<Stmt> Prepare(std::string_view sql);
  Status Exec(std::string_view sql);
  int64_t Changes() const;
  sqlite3* raw() const { return db_; }

 private:
  sqlite3* db_;
  StmtCache* cache_;
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
    // Prepared statements kept per connection (see StmtCache); 0: none.
    size_t statement_cache = 128;
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
  // The longest a Write held the write lock (its callback and COMMIT), in nanoseconds,
  // since the last reset: for benchmarks of what blocks writers.
  int64_t longest_write_ns() const { return longest_write_ns_.load(); }
  void reset_longest_write() { longest_write_ns_ = 0; }

 private:
  Db() = default;
  struct Reader {
    sqlite3* conn;
    std::unique_ptr<StmtCache> cache;
  };
  Reader* AcquireReader();
  void ReleaseReader(Reader* r);

  std::string path_;
  int schema_version_ = 0;

  std::mutex write_mu_;
  sqlite3* writer_ = nullptr;  // guarded by write_mu_
  std::unique_ptr<StmtCache> writer_cache_;  // guarded by write_mu_
  std::atomic<int64_t> longest_write_ns_{0};

  std::mutex read_mu_;
  std::condition_variable read_cv_;
  std::vector<Reader*> free_readers_;  // guarded by read_mu_
  std::vector<std::unique_ptr<Reader>> all_readers_;  // constant after Open
};

}  // namespace kecs::state
