#include "state/db.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include <fmt/format.h>

#include "base/log.h"

namespace kecs::state {
namespace {

// SQLite's result as a Status. SQLITE_BUSY/LOCKED (another connection held the lock past
// the busy timeout) is the one kUnavailable the store returns: a transient condition the
// API edge answers with a throttling code the SDKs retry (api/errors.cc), never a 500.
// A full disk or a corrupt file is kecs's fault, not the caller's: kInternal, which the
// edge answers as the service's 500 with a generic message (the text stays in the log).
Status SqlError(sqlite3* db, std::string_view what) {
  int rc = sqlite3_extended_errcode(db);
  std::string msg = fmt::format("{}: {}", what, sqlite3_errmsg(db));
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT: return AlreadyExists(msg);
    case SQLITE_BUSY: case SQLITE_LOCKED: return Unavailable(msg);
    default: return Internal(msg);  // SQLITE_FULL, SQLITE_CORRUPT, SQLITE_NOTADB, I/O errors
  }
}

Result<sqlite3*> OpenConn(const std::string& path, bool readonly) {
  sqlite3* db = nullptr;
  int flags = readonly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;  // each connection is used by one thread at a time
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status st = FailedPrecondition(fmt::format("cannot open database {}: {}", path,
                                               db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    sqlite3_close(db);
    return st;
  }
  sqlite3_busy_timeout(db, 10000);
  sqlite3_extended_result_codes(db, 1);
  return db;
}

}  // namespace

Stmt::~Stmt() {
  if (!stmt_) return;
  if (cache_) {
    cache_->Give(stmt_);
  } else {
    sqlite3_finalize(stmt_);
  }
}

StmtCache::~StmtCache() {
  for (auto& [sql, s] : idle_) sqlite3_finalize(s);
}

sqlite3_stmt* StmtCache::Take(std::string_view sql) {
  auto it = idle_.find(sql);
  if (it == idle_.end()) return nullptr;
  sqlite3_stmt* s = it->second;
  it->second = nullptr;  // the entry stays, so giving it back allocates nothing
  return s;
}

void StmtCache::Give(sqlite3_stmt* stmt) {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  const char* sql = sqlite3_sql(stmt);
  if (capacity_ > 0 && sql) {
    auto it = idle_.find(std::string_view(sql));
    if (it != idle_.end() && !it->second) {
      it->second = stmt;
      return;
    }
    if (it == idle_.end()) {
      if (idle_.size() >= capacity_) {
        // Full: drop an idle statement (any; the SQL texts the code writes are few).
        auto victim = std::find_if(idle_.begin(), idle_.end(), [](const auto& e) { return e.second != nullptr; });
        if (victim == idle_.end()) victim = idle_.begin();
        if (victim->second) sqlite3_finalize(victim->second);
        idle_.erase(victim);
      }
      idle_.emplace(sql, stmt);
      return;
    }
  }
  sqlite3_finalize(stmt);  // off, or a second copy of a statement already idle
}

Stmt& Stmt::Bind(int i, std::string_view v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}
Stmt& Stmt::Bind(int i, double v) {
  sqlite3_bind_double(stmt_, i, v);
  return *this;
}
Stmt& Stmt::BindNull(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

bool Stmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) status_ = SqlError(db_, "step");
  return false;
}

Status Stmt::Run() {
  while (Step()) {
  }
  return status_;
}

void Stmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  status_ = Status::Ok();
}

std::string Stmt::Text(int col) const {
  const unsigned char* t = sqlite3_column_text(stmt_, col);
  if (!t) return {};
  return std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(stmt_, col));
}
int64_t Stmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }
double Stmt::Double(int col) const { return sqlite3_column_double(stmt_, col); }
bool Stmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

Result<Stmt> Conn::Prepare(std::string_view sql) {
  if (cache_) {
    if (sqlite3_stmt* s = cache_->Take(sql)) return Stmt(db_, s, cache_);
  }
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &s, nullptr) != SQLITE_OK) {
    return SqlError(db_, fmt::format("prepare `{}`", sql));
  }
  // A statement whose text is not the whole of `sql` (more than one statement, trailing
  // text) is not cached: its key would not be found again.
  const char* text = s ? sqlite3_sql(s) : nullptr;
  bool cacheable = cache_ && text && std::string_view(text) == sql;
  return Stmt(db_, s, cacheable ? cache_ : nullptr);
}

Status Conn::Exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    Status st = SqlError(db_, fmt::format("exec `{}`", sql.substr(0, 80)));
    sqlite3_free(err);
    return st;
  }
  return Status::Ok();
}

int64_t Conn::Changes() const { return sqlite3_changes64(db_); }

Result<std::unique_ptr<Db>> Db::Open(const std::string& path,
                                     const std::vector<Migration>& migrations,
                                     Options options) {
  std::unique_ptr<Db> db(new Db());
  db->path_ = path;
  if (const char* env = std::getenv("KECS_STMT_CACHE"); env && std::string_view(env) == "0") {
    options.statement_cache = 0;
  }
  ASSIGN_OR_RETURN(db->writer_, OpenConn(path, /*readonly=*/false));
  db->writer_cache_ = std::make_unique<StmtCache>(options.statement_cache);
  Conn w(db->writer_, db->writer_cache_.get());

  // Reading the schema version touches the header and the first page: a file that is not
  // a database fails here, before anything is written to it.
  int version = 0;
  {
    auto st = w.Prepare("PRAGMA user_version");
    if (!st.ok()) {
      return FailedPrecondition(fmt::format(
          "{} is not a usable kecs database ({}); move it aside to start afresh", path,
          st.status().message()));
    }
    if (st->Step()) version = static_cast<int>(st->Int(0));
    if (!st->status().ok()) {
      return FailedPrecondition(fmt::format("{} is not a usable kecs database ({})", path,
                                            st->status().message()));
    }
  }
  int latest = migrations.empty() ? 0 : migrations.back().version;
  if (version > latest) {
    return FailedPrecondition(fmt::format(
        "database {} has schema version {}, newer than this kecs understands ({}); "
        "run a newer kecs or point --data-dir elsewhere",
        path, version, latest));
  }
  {
    auto st = w.Prepare("PRAGMA quick_check");
    if (!st.ok()) return FailedPrecondition(st.status().message());
    std::string verdict = st->Step() ? st->Text(0) : st->status().message();
    if (verdict != "ok") {
      return FailedPrecondition(fmt::format(
          "database {} failed its integrity check ({}); kecs will not modify it. Restore a "
          "backup or move it aside to start afresh",
          path, verdict));
    }
  }
  RETURN_IF_ERROR(w.Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(w.Exec(options.synchronous_full ? "PRAGMA synchronous=FULL"
                                                  : "PRAGMA synchronous=NORMAL"));
  RETURN_IF_ERROR(w.Exec("PRAGMA foreign_keys=ON"));

  for (const Migration& m : migrations) {
    if (m.version <= version) continue;
    RETURN_IF_ERROR(w.Exec("BEGIN IMMEDIATE"));
    Status st = m.apply(w);
    if (st.ok()) st = w.Exec(fmt::format("PRAGMA user_version={}", m.version));
    if (st.ok()) st = w.Exec("COMMIT");
    if (!st.ok()) {
      (void)w.Exec("ROLLBACK");
      return Internal(fmt::format("migration {} ({}) failed: {}", m.version, m.description,
                                  st.message()));
    }
    KLOG_INFO("database: applied migration {} ({})", m.version, m.description);
    version = m.version;
  }
  db->schema_version_ = version;

  for (int i = 0; i < options.readers; ++i) {
    ASSIGN_OR_RETURN(sqlite3 * r, OpenConn(path, /*readonly=*/true));
    db->all_readers_.push_back(
        std::make_unique<Reader>(Reader{r, std::make_unique<StmtCache>(options.statement_cache)}));
    db->free_readers_.push_back(db->all_readers_.back().get());
  }
  return db;
}

Db::~Db() {
  for (auto& r : all_readers_) {
    r->cache.reset();  // its statements are finalized before the connection closes
    sqlite3_close_v2(r->conn);
  }
  writer_cache_.reset();
  if (writer_) {
    // Fold the WAL back into the main file so a clean shutdown leaves one file.
    sqlite3_wal_checkpoint_v2(writer_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    sqlite3_close_v2(writer_);
  }
}

Status Db::Write(const std::function<Status(Conn&)>& fn) {
  std::lock_guard<std::mutex> lock(write_mu_);
  Conn c(writer_, writer_cache_.get());
  RETURN_IF_ERROR(c.Exec("BEGIN IMMEDIATE"));
  const auto start = std::chrono::steady_clock::now();
  struct Held {  // records the hold however the callback leaves
    std::chrono::steady_clock::time_point start;
    std::atomic<int64_t>& longest;
    ~Held() {
      int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
      int64_t cur = longest.load();
      while (ns > cur && !longest.compare_exchange_weak(cur, ns)) {
      }
    }
  } held{start, longest_write_ns_};
  Status st;
  try {
    st = fn(c);
  } catch (...) {
    // Callers above the state layer may throw (the API handlers' AwsError); the
    // transaction must not outlive them.
    (void)c.Exec("ROLLBACK");
    throw;
  }
  if (st.ok()) st = c.Exec("COMMIT");
  if (!st.ok()) (void)c.Exec("ROLLBACK");
  return st;
}

Db::Reader* Db::AcquireReader() {
  std::unique_lock<std::mutex> lock(read_mu_);
  read_cv_.wait(lock, [&] { return !free_readers_.empty(); });
  Reader* c = free_readers_.back();
  free_readers_.pop_back();
  return c;
}

void Db::ReleaseReader(Reader* c) {
  {
    std::lock_guard<std::mutex> lock(read_mu_);
    free_readers_.push_back(c);
  }
  read_cv_.notify_one();
}

namespace {
// BEGIN and COMMIT of a read transaction from the connection's statement cache: every
// request runs both, and sqlite3_exec would parse them each time (issue 19).
Status RunCached(Conn& c, std::string_view sql) {
  ASSIGN_OR_RETURN(Stmt s, c.Prepare(sql));
  return s.Run();
}
}  // namespace

Status Db::Read(const std::function<Status(Conn&)>& fn) {
  Reader* raw = AcquireReader();
  Conn c(raw->conn, raw->cache.get());
  Status st = RunCached(c, "BEGIN");
  if (st.ok()) {
    try {
      st = fn(c);
    } catch (...) {
      (void)RunCached(c, "COMMIT");
      ReleaseReader(raw);
      throw;
    }
    (void)RunCached(c, "COMMIT");
  }
  ReleaseReader(raw);
  return st;
}

Status Db::Ping() {
  return Read([](Conn& c) {
    ASSIGN_OR_RETURN(Stmt s, c.Prepare("SELECT count(*) FROM sqlite_master"));
    s.Step();
    return s.status();
  });
}

}  // namespace kecs::state
