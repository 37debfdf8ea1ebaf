#pragma once
// The kecs object store: every API resource as a JSON document in SQLite.
//
// Each object is a row of `objects` keyed by (kind, region, id) with a few indexed
// columns (parent, name, status; see migrations.cc) that the handlers filter on, and its full AWS-shaped
// document in `doc`. What kecs keeps for itself about an object (never shown by an API)
// goes in the row's `internal` column, not as members of the AWS document (migration 4);
// state/records/ holds the typed converters of the kinds that use it. The rowid (`seq`) records insertion order, which gives pagination a
// stable order. Allocation tables (IP addresses, host ports) have their own migrations and
// unique keys, so the database itself refuses a double allocation.
//
// Store::Write runs a callback in one transaction: everything a request changes commits
// together. Callbacks registered with OnCommit run after each successful write that
// changed a row, outside the lock; the reconciler uses this to wake up. Store is
// thread-safe; Tx is not and must not outlive its callback.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "state/db.h"

namespace kecs::state {

struct Object {
  std::string kind;
  std::string region;
  std::string id;
  std::string parent;
  std::string name;
  std::string status;
  int64_t seq = 0;
  Json doc;
  Json internal = Json::object();  // kecs's own part; `{}` for kinds that keep none
};

struct Query {
  std::string kind;
  std::string region;
  std::optional<std::string> parent;
  std::optional<std::string> name;
  std::optional<std::string> status;
  std::optional<std::string> name_prefix;
  std::optional<std::string> status_not;
  // Members of the document that must equal a string: a top-level member such as
  // "desiredStatus", or a dotted path such as "ephemeralStorage.sizeInGiB". Paths are letters,
  // digits, ':', '_' and '.' only (anything else fails the query with InvalidArgument):
  // they are written into the SQL as json_extract(doc, '$."a"."b"'), the form of the
  // expression indexes in migrations.cc, so that an indexed member is read from its index.
  std::vector<std::pair<std::string, std::string>> doc_equals;
  // The same for the row's internal column (kecs's own part of the object, migration 4),
  // e.g. "service" or "placement.instance" of a task.
  std::vector<std::pair<std::string, std::string>> internal_equals;
  // One more term ANDed to the WHERE clause, as SQL written by the code (never from a
  // request): a partial index's own WHERE term, which the planner matches only when the
  // query spells it the same way (see migration 8).
  std::string where_sql;
  bool any_region = false;  // ignore `region`
  // List gives the rows' keys and columns only (seq, kind, region, id, parent, name,
  // status): `doc` null and `internal` {}, neither read nor parsed. For callers that need
  // no document, e.g. every task's id and status: a whole document costs ~10x its text in
  // memory once parsed.
  bool keys_only = false;
  int64_t after_seq = 0;   // rows with seq > after_seq
  int64_t limit = -1;      // -1: no limit
  bool descending = false;
};

class Tx {
 public:
  explicit Tx(Conn& c) : c_(c) {}

  Result<std::optional<Object>> Get(std::string_view kind, std::string_view region,
                                    std::string_view id);
  Result<std::vector<Object>> List(const Query& q);
  // The seq and one member of the document (a path as in Query::doc_equals; "" when it is
  // absent) of each row matching q, in q's order: a page of ids or ARNs without reading
  // whole rows into Objects.
  Result<std::vector<std::pair<int64_t, std::string>>> ListMember(const Query& q, std::string_view member);
  Result<int64_t> Count(const Query& q);
  // Fails with AlreadyExists when (kind, region, id) is taken.
  Status Insert(const Object& o);
  // Inserts or replaces the row; an existing row keeps its seq.
  Status Put(const Object& o);
  // Returns true when a row was deleted; deleting a missing row is not an error.
  Result<bool> Delete(std::string_view kind, std::string_view region, std::string_view id);
  // Deletes the STOPPED tasks whose stoppedAt is before `cutoff` (epoch seconds; a task
  // without one counts as stopped at 0) and returns how many. It reads the stoppedAt index
  // (migration 6), not the documents. Repeat calls delete nothing more. With a limit, at
  // most that many (the oldest by stoppedAt first).
  Result<int64_t> DeleteStoppedTasksBefore(double cutoff, int64_t limit = -1);
  // A durable counter, e.g. a task definition family's last revision. Returns the new value.
  Result<int64_t> NextSequence(std::string_view name);
  Conn& conn() { return c_; }

 private:
  Conn& c_;
};

// Store also keeps the write-ahead log short, and its copying out of the write lock.
// SQLite's own automatic checkpoint runs inside the COMMIT that takes the WAL past 1,000
// pages, holding every writer back meanwhile (~25 ms), only when no reader holds it back,
// and never shrinks the file (under steady load it grew to ~140 MB). The writer has it
// off; Store::Open starts a checkpointer thread with a connection of its own instead:
//   - a PASSIVE checkpoint (beside writers and readers: it waits for neither) once the WAL
//     holds `checkpoint_frames` pages (the writer's WAL hook tells it) or after
//     `checkpoint_every_commits` commits;
//   - a TRUNCATE checkpoint (it waits for readers and holds writers back while it runs,
//     then cuts the file to nothing) every `checkpoint_interval` while there were commits,
//     and at once when a PASSIVE one leaves the WAL at `truncate_frames` pages or more
//     (writes or readers kept it from starting over). A TRUNCATE that finds readers
//     gives up after 100 ms and is not tried again for 5 s: retried at once, it held
//     writers back over and over.
// The writer also caps the WAL file with journal_size_limit. A checkpoint that cannot
// finish (a reader holds an old snapshot) gives up after a short busy wait and is tried
// again next time.
class Store {
 public:
  struct Options {
    int checkpoint_every_commits = 1000;
    std::chrono::seconds checkpoint_interval{30};
    int64_t journal_size_limit = 64 * 1024 * 1024;
    int checkpoint_frames = 1000;   // SQLite's own automatic checkpoint's size
    int truncate_frames = 16384;    // 64 MiB of 4 KiB pages
  };
  // Opens the database file under data_dir (kecs.db) with every migration applied.
  static Result<std::unique_ptr<Store>> Open(const std::string& data_dir);
  static Result<std::unique_ptr<Store>> Open(const std::string& data_dir, Options options);
  explicit Store(std::unique_ptr<Db> db) : db_(std::move(db)) {}
  ~Store();
  // Checkpoints the WAL now (TRUNCATE); what the checkpointer thread runs. Thread-safe.
  Status Checkpoint();
  // The checkpoints run (or running), by mode (for tests and benchmarks).
  int64_t passive_checkpoints() const { return passive_checkpoints_.load(); }
  int64_t truncate_checkpoints() const { return truncate_checkpoints_.load(); }
  // Tx::DeleteStoppedTasksBefore in batches of `batch` tasks, each its own Write (so the
  // write lock is never held for long, and other writers run between batches), until none
  // is left. Returns how many were deleted. A crash between batches leaves the rest for
  // the next sweep.
  Result<int64_t> SweepStoppedTasks(double cutoff, int64_t batch = kSweepBatch);
  static constexpr int64_t kSweepBatch = 100;

  // Runs fn in one write transaction; fn's error rolls everything back.
  Status Write(const std::function<Status(Tx&)>& fn);
  // Write without running the OnCommit callbacks: for rows no controller reads (the
  // CloudWatch Logs tables, awslogs checkpoints), which change many times a second while
  // containers log and would otherwise wake every controller for a full pass each time.
  Status WriteQuiet(const std::function<Status(Tx&)>& fn);
  Status Read(const std::function<Status(Tx&)>& fn);
  void OnCommit(std::function<void()> fn);
  Db& db() { return *db_; }
  // Tests only: `f` runs at the start of every Write; a non-ok Status fails that write
  // with nothing committed (fn is not called). An empty function removes the fault.
  void SetWriteFault(std::function<Status()> f);

 private:
  void CheckpointLoop();
  Status DoWrite(const std::function<Status(Tx&)>& fn, bool notify);

  std::unique_ptr<Db> db_;
  std::mutex fault_mu_;
  std::function<Status()> write_fault_;  // guarded by fault_mu_
  std::vector<std::function<void()>> on_commit_;  // set up before concurrent use
  Options options_;                               // constant after Open

  // The checkpointer.
  std::mutex conn_mu_;
  sqlite3* ckpt_conn_ = nullptr;  // guarded by conn_mu_
  std::atomic<int64_t> commits_{0};  // since the last checkpoint
  std::atomic<bool> wal_full_{false};  // the WAL reached wal_mark_ pages
  // The WAL's size in pages at which the hook next wakes the checkpointer: checkpoint_frames
  // once the log starts over; past what a PASSIVE checkpoint left, by checkpoint_frames
  // more, while writes keep it from starting over (no checkpoint per commit).
  std::atomic<int> wal_mark_{0};
  int hook_frames_ = 0;  // the WAL's size at the last commit; the writer's alone
  std::atomic<int64_t> passive_checkpoints_{0};
  std::atomic<int64_t> truncate_checkpoints_{0};
  // SQLite's WAL hook on the writer, after each commit: wakes the checkpointer once the WAL
  // holds checkpoint_frames pages.
  static int WalHook(void* store, sqlite3* db, const char* name, int frames);
  // A checkpoint of `mode` (SQLITE_CHECKPOINT_*); `log_frames`, when given, gets the WAL's
  // size in pages after it.
  Status RunCheckpoint(int mode, int* log_frames);
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  bool stopping_ = false;  // guarded by ckpt_mu_
  std::thread ckpt_thread_;
};

}  // namespace kecs::state
