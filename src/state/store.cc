#include "state/store.h"

#include <sqlite3.h>

#include <filesystem>
#include <variant>

#include <fmt/format.h>

#include "state/migrations.h"

namespace kecs::state {
namespace {

Object Row(Stmt& s) {
  Object o;
  o.seq = s.Int(0);
  o.kind = s.Text(1);
  o.region = s.Text(2);
  o.id = s.Text(3);
  o.parent = s.Text(4);
  o.name = s.Text(5);
  o.status = s.Text(6);
  o.doc = Json::parse(s.Text(7), nullptr, false);
  std::string internal = s.Text(8);
  o.internal = internal.empty() ? Json::object() : Json::parse(internal, nullptr, false);
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

Where BuildWhere(const Query& q) {
  Where w;
  if (q.any_region) {
    w.sql = "kind = ?";
    w.args = {q.kind};
  } else {
    w.sql = "kind = ? AND region = ?";
    w.args = {q.kind, q.region};
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
  return w;
}

}  // namespace

Result<std::optional<Object>> Tx::Get(std::string_view kind, std::string_view region,
                                      std::string_view id) {
  ASSIGN_OR_RETURN(Stmt s, c_.Prepare(fmt::format(
                               "SELECT {} FROM objects WHERE kind=? AND region=? AND id=?", kCols)));
  s.Bind(1, kind).Bind(2, region).Bind(3, id);
  if (s.Step()) return std::optional<Object>(Row(s));
  RETURN_IF_ERROR(s.status());
  return std::optional<Object>();
}

Result<std::vector<Object>> Tx::List(const Query& q) {
  Where w = BuildWhere(q);
  std::string sql = fmt::format("SELECT {} FROM objects WHERE {}", kCols, w.sql);
  if (q.after_seq > 0) sql += q.descending ? " AND seq < ?" : " AND seq > ?";
  sql += q.descending ? " ORDER BY seq DESC" : " ORDER BY seq";
  if (q.limit >= 0) sql += " LIMIT ?";
  ASSIGN_OR_RETURN(Stmt s, c_.Prepare(sql));
  int i = w.BindAll(s);
  if (q.after_seq > 0) s.Bind(i++, q.after_seq);
  if (q.limit >= 0) s.Bind(i++, q.limit);
  std::vector<Object> out;
  while (s.Step()) out.push_back(Row(s));
  RETURN_IF_ERROR(s.status());
  return out;
}

Result<int64_t> Tx::Count(const Query& q) {
  Where w = BuildWhere(q);
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
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return FailedPrecondition(
        fmt::format("cannot create data dir {}: {}", data_dir, ec.message()));
  }
  ASSIGN_OR_RETURN(auto db, Db::Open(data_dir + "/kecs.db", AllMigrations()));
  return std::make_unique<Store>(std::move(db));
}

Status Store::Write(const std::function<Status(Tx&)>& fn) {
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
    for (auto& f : on_commit_) f();
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
