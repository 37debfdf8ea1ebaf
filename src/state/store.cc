#include "state/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <variant>

#include <fmt/format.h>

#include "base/log.h"
#include "base/strings.h"
#include "state/migrations.h"

namespace kecs::state {
namespace {

// The row's keys and columns (the first seven of kCols).
Object Keys(Stmt& s) {
  Object o;
  o.seq = s.Int(0);
  o.kind = s.Text(1);
  o.region = s.Text(2);
  o.id = s.Text(3);
  o.parent = s.Text(4);
  o.name = s.Text(5);
  o.status = s.Text(6);
  return o;
}

// A row as an Object. A document (or internal part) that is not valid JSON is an error
// naming the object where it is read, never a discarded value that fails later: a reader
// cannot tell a defaulted member from a missing one, and would act on it.
Result<Object> Row(Stmt& s) {
  Object o = Keys(s);
  o.doc = Json::parse(s.Text(7), nullptr, false);
  std::string internal = s.Text(8);
  o.internal = internal.empty() ? Json::object() : Json::parse(internal, nullptr, false);
  for (const auto& [what, j] : {std::pair<const char*, const Json*>{"document", &o.doc}, {"internal part", &o.internal}}) {
    if (j->is_discarded()) {
      return Internal(fmt::format("stored {} {} (region {}): its {} is not valid JSON", o.kind, o.id,
                                  o.region, what));
    }
  }
  return o;
}

constexpr std::string_view kCols = "seq, kind, region, id, parent, name, status, doc, internal";

std::string InternalText(const Object& o) { return o.internal.is_null() ? "{}" : o.internal.dump(); }

// Builds the WHERE clause of a Query; binds in the order the placeholders appear.
struct Where {
  std::string sql;
  std::vector<std::variant<std::string, int64_t>> args;

  int BindAll(Stmt& s) const {
    int i = 1;
    for (const auto& a : args) {
      if (const auto* str = std::get_if<std::string>(&a)) {
        s.Bind(i++, *str);
      } else {
        s.Bind(i++, std::get<int64_t>(a));
      }
    }
    return i;
  }
};

// An SQL string literal.
std::string Quote(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

// json_extract(<column>, '$."a"."b"') for "a.b": the exact form the expression indexes use.
Result<std::string> DocPath(std::string_view column, std::string_view member) {
  if (member.empty()) return InvalidArgument("empty document path");
  std::string path = "$";
  for (const std::string& seg : Split(member, '.')) {
    if (seg.empty()) return InvalidArgument(fmt::format("bad document path '{}'", member));
    for (char c : seg) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != ':' && c != '_') {
        return InvalidArgument(fmt::format("bad document path '{}'", member));
      }
    }
    path += ".\"" + seg + "\"";
  }
  return fmt::format("json_extract({}, {})", column, Quote(path));
}

Result<Where> BuildWhere(const Query& q) {
  Where w;
  // The kind is written as a literal so that the planner can use the partial indexes
  // (WHERE kind = 'ecs:task') of migration 6; kinds are constants of the code.
  w.sql = "kind = " + Quote(q.kind);
  if (!q.any_region) {
    w.sql += " AND region = ?";
    w.args = {q.region};
  }
  if (q.status_not) { w.sql += " AND status <> ?"; w.args.push_back(*q.status_not); }
  if (q.parent) { w.sql += " AND parent = ?"; w.args.push_back(*q.parent); }
  if (q.name) { w.sql += " AND name = ?"; w.args.push_back(*q.name); }
  if (q.status) { w.sql += " AND status = ?"; w.args.push_back(*q.status); }
  if (q.name_prefix) {
    w.sql += " AND substr(name, 1, ?) = ?";
    w.args.push_back(static_cast<int64_t>(q.name_prefix->size()));
    w.args.push_back(*q.name_prefix);
  }
  for (const auto& [column, members] : {std::pair{"doc", &q.doc_equals}, {"internal", &q.internal_equals}}) {
    for (const auto& [member, value] : *members) {
      ASSIGN_OR_RETURN(std::string expr, DocPath(column, member));
      w.sql += " AND " + expr + " = ?";
      w.args.push_back(value);
    }
  }
  if (!q.where_sql.empty()) w.sql += " AND " + q.where_sql;
  return w;
}

// SELECT <cols> ... for Tx::List and Tx::ListMember, bound and ready to step.
Result<Stmt> PrepareList(Conn& c, const Query& q, std::string_view cols) {
  ASSIGN_OR_RETURN(Where w, BuildWhere(q));
  std::string sql = fmt::format("SELECT {} FROM objects WHERE {}", cols, w.sql);
  if (q.after_seq > 0) sql += q.descending ? " AND seq < ?" : " AND seq > ?";
  sql += q.descending ? " ORDER BY seq DESC" : " ORDER BY seq";
  if (q.limit >= 0) sql += " LIMIT ?";
  ASSIGN_OR_RETURN(Stmt s, c.Prepare(sql));
  int i = w.BindAll(s);
  if (q.after_seq > 0) s.Bind(i++, q.after_seq);
  if (q.limit >= 0) s.Bind(i++, q.limit);
  return s;
}

}  // namespace

Result<std::optional<Object>> Tx::Get(std::string_view kind, std::string_view region,
                                      std::string_view id) {
  ASSIGN_OR_RETURN(Stmt s, c_.Prepare(fmt::format(
                               "SELECT {} FROM objects WHERE kind=? AND region=? AND id=?", kCols)));
  s.Bind(1, kind).Bind(2, region).Bind(3, id);
  if (s.Step()) {
    ASSIGN_OR_RETURN(Object o, Row(s));
    return std::optional<Object>(std::move(o));
  }
  RETURN_IF_ERROR(s.status());
  return std::optional<Object>();
}

Result<std::vector<Object>> Tx::List(const Query& q) {
  if (q.keys_only) {
    ASSIGN_OR_RETURN(Stmt s, PrepareList(c_, q, "seq, kind, region, id, parent, name, status"));
    std::vector<Object> out;
    while (s.Step()) out.push_back(Keys(s));
    RETURN_IF_ERROR(s.status());
    return out;
  }
  ASSIGN_OR_RETURN(Stmt s, PrepareList(c_, q, kCols));
  std::vector<Object> out;
  while (s.Step()) {
    ASSIGN_OR_RETURN(Object o, Row(s));
    out.push_back(std::move(o));
  }
  RETURN_IF_ERROR(s.status());
  return out;
}

Result<std::vector<std::pair<int64_t, std::string>>> Tx::ListMember(const Query& q, std::string_view member) {
  ASSIGN_OR_RETURN(std::string expr, DocPath("doc", member));
  ASSIGN_OR_RETURN(Stmt s, PrepareList(c_, q, "seq, " + expr));
  std::vector<std::pair<int64_t, std::string>> out;
  while (s.Step()) out.emplace_back(s.Int(0), s.Text(1));
  RETURN_IF_ERROR(s.status());
  return out;
}

Result<int64_t> Tx::Count(const Query& q) {
  ASSIGN_OR_RETURN(Where w, BuildWhere(q));
  ASSIGN_OR_RETURN(Stmt s, c_.Prepare("SELECT count(*) FROM objects WHERE " + w.sql));
  w.BindAll(s);
  int64_t n = s.Step() ? s.Int(0) : 0;
  RETURN_IF_ERROR(s.status());
  return n;
}

Status Tx::Insert(const Object& o) {
  ASSIGN_OR_RETURN(Stmt s, c_.Prepare("INSERT INTO objects(kind, region, id, parent, name, status, "
                                      "doc, internal) VALUES(?,?,?,?,?,?,?,?)"));
  s.Bind(1, o.kind).Bind(2, o.region).Bind(3, o.id).Bind(4, o.parent).Bind(5, o.name)
      .Bind(6, o.status).Bind(7, o.doc.dump()).Bind(8, InternalText(o));
  Status st = s.Run();
  if (st.code() == Code::kAlreadyExists) {
    return AlreadyExists(fmt::format("{} {} already exists", o.kind, o.id));
  }
  return st;
}

Status Tx::Put(const Object& o) {
  ASSIGN_OR_RETURN(Stmt s, c_.Prepare(
                               "INSERT INTO objects(kind, region, id, parent, name, status, doc, internal) "
                               "VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(kind, region, id) DO UPDATE SET "
                               "parent=excluded.parent, name=excluded.name, "
                               "status=excluded.status, doc=excluded.doc, internal=excluded.internal"));
  s.Bind(1, o.kind).Bind(2, o.region).Bind(3, o.id).Bind(4, o.parent).Bind(5, o.name)
      .Bind(6, o.status).Bind(7, o.doc.dump()).Bind(8, InternalText(o));
  return s.Run();
}

Result<bool> Tx::Delete(std::string_view kind, std::string_view region, std::string_view id) {
  ASSIGN_OR_RETURN(Stmt s, c_.Prepare("DELETE FROM objects WHERE kind=? AND region=? AND id=?"));
  s.Bind(1, kind).Bind(2, region).Bind(3, id);
  RETURN_IF_ERROR(s.Run());
  return c_.Changes() > 0;
}

Result<int64_t> Tx::DeleteStoppedTasksBefore(double cutoff, int64_t limit) {
  // The expression and the WHERE terms are those of objects_tasks_stopped_at (migration 6);
  // a limited delete picks its rows from that index, oldest first.
  ASSIGN_OR_RETURN(Stmt s, c_.Prepare(
                               "DELETE FROM objects WHERE seq IN (SELECT seq FROM objects "
                               "WHERE kind = 'ecs:task' AND status = 'STOPPED' "
                               "AND coalesce(json_extract(doc, '$.\"stoppedAt\"'), 0) < ? "
                               "ORDER BY coalesce(json_extract(doc, '$.\"stoppedAt\"'), 0) LIMIT ?)"));
  s.Bind(1, cutoff).Bind(2, limit);
  RETURN_IF_ERROR(s.Run());
  return c_.Changes();
}

Result<int64_t> Tx::NextSequence(std::string_view name) {
  ASSIGN_OR_RETURN(Stmt s, c_.Prepare(
                               "INSERT INTO sequences(name, value) VALUES(?, 1) ON CONFLICT(name) "
                               "DO UPDATE SET value = value + 1 RETURNING value"));
  s.Bind(1, name);
  int64_t v = s.Step() ? s.Int(0) : 0;
  RETURN_IF_ERROR(s.status());
  s.Reset();
  return v;
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& data_dir) {
  return Open(data_dir, Options{});
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& data_dir, Options options) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return FailedPrecondition(
        fmt::format("cannot create data dir {}: {}", data_dir, ec.message()));
  }
  ASSIGN_OR_RETURN(auto db, Db::Open(data_dir + "/kecs.db", AllMigrations()));
  auto store = std::make_unique<Store>(std::move(db));
  store->options_ = options;
  store->wal_mark_ = options.checkpoint_frames;
  // Connection settings of the writer: after a checkpoint resets the WAL, SQLite cuts the
  // file back to this size; and the WAL hook (which replaces SQLite's own automatic
  // checkpoint inside COMMIT) hands checkpoints to the checkpointer (store.h).
  RETURN_IF_ERROR(store->db_->Write([&](Conn& c) {
    sqlite3_wal_hook(c.raw(), &Store::WalHook, store.get());
    return c.Exec(fmt::format("PRAGMA journal_size_limit={}", options.journal_size_limit));
  }));
  sqlite3* conn = nullptr;
  int rc = sqlite3_open_v2(store->db_->path().c_str(), &conn, SQLITE_OPEN_READWRITE, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = conn ? sqlite3_errmsg(conn) : sqlite3_errstr(rc);
    sqlite3_close_v2(conn);
    return Unavailable("cannot open the database for checkpoints: " + msg);
  }
  // Short: a checkpoint waiting on readers holds writers back meanwhile.
  sqlite3_busy_timeout(conn, 100);
  // Reading the journal mode makes the connection open the database and see that it is
  // in WAL mode; until then a checkpoint on it is a silent no-op.
  std::string setup = fmt::format("PRAGMA journal_mode; PRAGMA journal_size_limit={};",
                                  options.journal_size_limit);
  if (sqlite3_exec(conn, setup.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(conn);
    sqlite3_close_v2(conn);
    return Unavailable("cannot open the database for checkpoints: " + msg);
  }
  store->ckpt_conn_ = conn;
  store->ckpt_thread_ = std::thread([s = store.get()] { s->CheckpointLoop(); });
  return store;
}

Store::~Store() {
  {
    std::lock_guard<std::mutex> lock(ckpt_mu_);
    stopping_ = true;
  }
  ckpt_cv_.notify_all();
  if (ckpt_thread_.joinable()) ckpt_thread_.join();
  if (db_) {
    (void)db_->Write([](Conn& c) {
      sqlite3_wal_hook(c.raw(), nullptr, nullptr);
      return Status::Ok();
    });
  }
  std::lock_guard<std::mutex> lock(conn_mu_);
  if (ckpt_conn_) sqlite3_close_v2(ckpt_conn_);
  ckpt_conn_ = nullptr;
}

Status Store::Checkpoint() { return RunCheckpoint(SQLITE_CHECKPOINT_TRUNCATE, nullptr); }

Status Store::RunCheckpoint(int mode, int* log_frames) {
  std::lock_guard<std::mutex> lock(conn_mu_);
  if (!ckpt_conn_) return Status::Ok();
  commits_ = 0;
  (mode == SQLITE_CHECKPOINT_PASSIVE ? passive_checkpoints_ : truncate_checkpoints_)++;
  int log = 0, copied = 0;
  int rc = sqlite3_wal_checkpoint_v2(ckpt_conn_, nullptr, mode, &log, &copied);
  if (log_frames) *log_frames = log;
  if (rc == SQLITE_BUSY) return Unavailable("WAL checkpoint: a reader holds the log; will retry");
  if (rc != SQLITE_OK) {
    return Internal(fmt::format("WAL checkpoint failed: {}", sqlite3_errmsg(ckpt_conn_)));
  }
  return Status::Ok();
}

int Store::WalHook(void* store, sqlite3*, const char*, int frames) {
  auto* s = static_cast<Store*>(store);
  if (frames < s->hook_frames_) s->wal_mark_ = s->options_.checkpoint_frames;  // started over
  s->hook_frames_ = frames;
  if (frames >= s->wal_mark_ && !s->wal_full_.exchange(true)) {
    { std::lock_guard<std::mutex> lock(s->ckpt_mu_); }  // no wake-up lost to a waiter's check
    s->ckpt_cv_.notify_one();
  }
  return SQLITE_OK;
}

void Store::CheckpointLoop() {
  using Clock = std::chrono::steady_clock;
  constexpr auto kTruncateBackoff = std::chrono::seconds(5);
  Clock::time_point truncate_after{};  // a TRUNCATE that found readers waits this out
  auto truncate = [&] {
    if (Clock::now() < truncate_after) return Status::Ok();
    Status st = Checkpoint();
    if (st.code() == Code::kUnavailable) truncate_after = Clock::now() + kTruncateBackoff;
    return st;
  };
  std::unique_lock<std::mutex> lock(ckpt_mu_);
  while (!stopping_) {
    bool woken = ckpt_cv_.wait_for(lock, options_.checkpoint_interval, [&] {
      return stopping_ || wal_full_ || commits_ >= options_.checkpoint_every_commits;
    });
    if (stopping_) return;
    bool full = wal_full_.exchange(false);
    if (commits_ == 0 && !full) continue;
    lock.unlock();
    // store.h: PASSIVE beside the writers when the log has grown; TRUNCATE on the interval,
    // or when readers kept the log from starting over.
    Status st;
    if (woken) {
      int log = 0;
      st = RunCheckpoint(SQLITE_CHECKPOINT_PASSIVE, &log);
      wal_mark_ = log + options_.checkpoint_frames;
      if (st.ok() && log >= options_.truncate_frames) st = truncate();
    } else {
      st = truncate();
    }
    if (!st.ok() && st.code() != Code::kUnavailable) KLOG_WARN("store: {}", st.message());
    lock.lock();
  }
}

Result<int64_t> Store::SweepStoppedTasks(double cutoff, int64_t batch) {
  // `batch` is the most a write deletes. A row costs more or less with the machine and its
  // indexes, so the batch adapts to hold each write about 2 ms: halved after a longer
  // write, doubled (up to `batch`) after a write under 1 ms.
  using Clock = std::chrono::steady_clock;
  int64_t total = 0, size = std::max<int64_t>(1, std::min<int64_t>(batch, 16));
  for (;;) {
    int64_t n = 0;
    auto t0 = Clock::now();
    RETURN_IF_ERROR(Write([&](Tx& tx) {
      ASSIGN_OR_RETURN(n, tx.DeleteStoppedTasksBefore(cutoff, size));
      return Status::Ok();
    }));
    auto took = Clock::now() - t0;
    total += n;
    if (n < size) return total;
    if (took > std::chrono::milliseconds(2)) {
      size = std::max<int64_t>(1, size / 2);
    } else if (took < std::chrono::milliseconds(1)) {
      size = std::min(batch, size * 2);
    }
  }
}

Status Store::Write(const std::function<Status(Tx&)>& fn) { return DoWrite(fn, true); }

Status Store::WriteQuiet(const std::function<Status(Tx&)>& fn) { return DoWrite(fn, false); }

Status Store::DoWrite(const std::function<Status(Tx&)>& fn, bool notify) {
  {
    std::lock_guard<std::mutex> lock(fault_mu_);
    if (write_fault_) RETURN_IF_ERROR(write_fault_());
  }
  bool changed = false;
  Status st = db_->Write([&](Conn& c) {
    Tx tx(c);
    int64_t before = sqlite3_total_changes64(c.raw());
    Status s = fn(tx);
    changed = sqlite3_total_changes64(c.raw()) != before;
    return s;
  });
  // A transaction that changed no row wakes nobody: controllers that write only when
  // there is work would otherwise wake each other (and themselves) forever.
  if (st.ok() && changed) {
    if (++commits_ == options_.checkpoint_every_commits) ckpt_cv_.notify_one();
    if (notify) {
      for (auto& f : on_commit_) f();
    }
  }
  return st;
}

Status Store::Read(const std::function<Status(Tx&)>& fn) {
  return db_->Read([&](Conn& c) {
    Tx tx(c);
    return fn(tx);
  });
}

void Store::SetWriteFault(std::function<Status()> f) {
  std::lock_guard<std::mutex> lock(fault_mu_);
  write_fault_ = std::move(f);
}

void Store::OnCommit(std::function<void()> fn) { on_commit_.push_back(std::move(fn)); }

}  // namespace kecs::state
