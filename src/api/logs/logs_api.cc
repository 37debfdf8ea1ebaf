// The CloudWatch Logs operations over the log_* tables (migration 7). Messages follow
// CloudWatch Logs' wording where AWS documents it or clients are known to see it.
#include "api/logs/logs_api.h"

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>

#include "api/logs/filter_pattern.h"
#include "api/pagination.h"
#include "base/log.h"
#include "base/strings.h"

namespace kecs::api::logs {
namespace {

constexpr const char* kRetentionValues =
    "[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]";
constexpr int64_t kDayMs = 24LL * 3600 * 1000;

AwsError InvalidParameter(std::string message) { return AwsError("InvalidParameterException", std::move(message)); }
AwsError GroupNotFound() { return AwsError("ResourceNotFoundException", "The specified log group does not exist."); }
AwsError StreamNotFound() { return AwsError("ResourceNotFoundException", "The specified log stream does not exist."); }
AwsError BadToken() { return InvalidParameter("The specified nextToken is invalid."); }

void Check(const Status& st) { ThrowIfError(st); }
template <typename T>
T Check(Result<T> r) {
  Check(r.status());
  return std::move(r).value();
}
state::Stmt Prep(state::Tx& tx, std::string_view sql) { return Check(tx.conn().Prepare(sql)); }

int64_t NowMs(double now) { return static_cast<int64_t>(std::llround(now * 1000.0)); }

struct Group {
  int64_t id = 0;
  std::string region, name;
  int64_t creation = 0;
  std::optional<int64_t> retention;
  std::string cls, kms;
  Json tags = Json::object();
  int64_t stored_bytes = 0;
};

struct Stream {
  int64_t id = 0;
  int64_t group_id = 0;
  std::string name;
  int64_t creation = 0;
  std::optional<int64_t> first, last, ingestion;
  int64_t stored_bytes = 0;
  int64_t uploads = 0;
};

constexpr const char* kGroupCols = "id, region, name, creation_time, retention, class, kms_key_id, tags, stored_bytes";
Group ReadGroup(const state::Stmt& s) {
  Group g;
  g.id = s.Int(0);
  g.region = s.Text(1);
  g.name = s.Text(2);
  g.creation = s.Int(3);
  if (!s.IsNull(4)) g.retention = s.Int(4);
  g.cls = s.Text(5);
  g.kms = s.Text(6);
  g.tags = ParseJson(s.Text(7)).value_or(Json::object());
  g.stored_bytes = s.Int(8);
  return g;
}

constexpr const char* kStreamCols =
    "id, group_id, name, creation_time, first_event, last_event, last_ingestion, stored_bytes, uploads";
Stream ReadStream(const state::Stmt& s) {
  Stream st;
  st.id = s.Int(0);
  st.group_id = s.Int(1);
  st.name = s.Text(2);
  st.creation = s.Int(3);
  if (!s.IsNull(4)) st.first = s.Int(4);
  if (!s.IsNull(5)) st.last = s.Int(5);
  if (!s.IsNull(6)) st.ingestion = s.Int(6);
  st.stored_bytes = s.Int(7);
  st.uploads = s.Int(8);
  return st;
}

std::optional<Group> LoadGroup(state::Tx& tx, std::string_view region, std::string_view name) {
  auto s = Prep(tx, fmt::format("SELECT {} FROM log_groups WHERE region = ? AND name = ?", kGroupCols));
  s.Bind(1, region).Bind(2, name);
  if (s.Step()) return ReadGroup(s);
  Check(s.status());
  return std::nullopt;
}

std::vector<Group> LoadGroups(state::Tx& tx, std::string_view region) {
  auto s = Prep(tx, fmt::format("SELECT {} FROM log_groups WHERE region = ? ORDER BY name", kGroupCols));
  s.Bind(1, region);
  std::vector<Group> out;
  while (s.Step()) out.push_back(ReadGroup(s));
  Check(s.status());
  return out;
}

std::optional<Stream> LoadStream(state::Tx& tx, int64_t group_id, std::string_view name) {
  auto s = Prep(tx, fmt::format("SELECT {} FROM log_streams WHERE group_id = ? AND name = ?", kStreamCols));
  s.Bind(1, group_id).Bind(2, name);
  if (s.Step()) return ReadStream(s);
  Check(s.status());
  return std::nullopt;
}

std::vector<Stream> LoadStreams(state::Tx& tx, int64_t group_id, std::string_view prefix) {
  // The prefix is compared here, in bytes (SQLite's substr counts characters).
  auto s = Prep(tx, fmt::format("SELECT {} FROM log_streams WHERE group_id = ? ORDER BY name", kStreamCols));
  s.Bind(1, group_id);
  std::vector<Stream> out;
  while (s.Step()) {
    Stream st = ReadStream(s);
    if (st.name.starts_with(prefix)) out.push_back(std::move(st));
  }
  Check(s.status());
  return out;
}

std::string GroupArn(std::string_view region, std::string_view account, std::string_view name) {
  return fmt::format("arn:aws:logs:{}:{}:log-group:{}", region, account, name);
}

Json GroupToAws(const Group& g, const std::string& account) {
  Json j = {{"logGroupName", g.name}, {"creationTime", g.creation}};
  if (g.retention) j["retentionInDays"] = *g.retention;
  j["metricFilterCount"] = 0;
  j["arn"] = GroupArn(g.region, account, g.name) + ":*";
  j["storedBytes"] = g.stored_bytes;
  if (!g.kms.empty()) j["kmsKeyId"] = g.kms;
  j["logGroupClass"] = g.cls;
  j["logGroupArn"] = GroupArn(g.region, account, g.name);
  return j;
}

std::string UploadToken(int64_t uploads) { return fmt::format("{:056d}", uploads); }

Json StreamToAws(const Group& g, const Stream& s, const std::string& account) {
  Json j = {{"logStreamName", s.name}, {"creationTime", s.creation}};
  if (s.first) j["firstEventTimestamp"] = *s.first;
  if (s.last) j["lastEventTimestamp"] = *s.last;
  if (s.ingestion) j["lastIngestionTime"] = *s.ingestion;
  j["uploadSequenceToken"] = UploadToken(s.uploads + 1);
  j["arn"] = fmt::format("{}:log-stream:{}", GroupArn(g.region, account, g.name), s.name);
  j["storedBytes"] = 0;  // deprecated by AWS, which sends 0
  return j;
}

// The name in a logGroupIdentifier (a name or an ARN, with or without ":*").
std::string NameFromIdentifier(const std::string& id) {
  if (!id.starts_with("arn:")) return id;
  auto at = id.find(":log-group:");
  if (at == std::string::npos) throw InvalidParameter("Invalid log group identifier: " + id);
  std::string name = id.substr(at + 11);
  if (name.ends_with(":*")) name.resize(name.size() - 2);
  return name;
}

// The group a request names by logGroupName or logGroupIdentifier (exactly one).
std::string GroupNameOf(const Json& in) {
  auto name = JOptStr(in, "logGroupName");
  auto id = JOptStr(in, "logGroupIdentifier");
  if (name && id) throw InvalidParameter("LogGroup name and LogGroup ARN are mutually exclusive parameters.");
  if (!name && !id) throw InvalidParameter("Should provide either a log group name or log group ARN");
  return name ? *name : NameFromIdentifier(*id);
}

// The model's name patterns, which the router does not check: [\.\-_/#A-Za-z0-9]+ for a
// group, [^:*]* for a stream.
void ValidateGroupName(const std::string& name) {
  bool ok = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == '/' || c == '#';
  });
  if (!ok) {
    throw InvalidParameter(fmt::format(
        "1 validation error detected: Value '{}' at 'logGroupName' failed to satisfy constraint: Member must "
        "satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
        name));
  }
}
void ValidateStreamName(const std::string& name) {
  if (name.find_first_of(":*") != std::string::npos) {
    throw InvalidParameter(fmt::format(
        "1 validation error detected: Value '{}' at 'logStreamName' failed to satisfy constraint: Member must "
        "satisfy regular expression pattern: [^:*]*",
        name));
  }
}

Group MustGroup(state::Tx& tx, const std::string& region, const std::string& name) {
  auto g = LoadGroup(tx, region, name);
  if (!g) throw GroupNotFound();
  return *g;
}

int64_t InsertGroup(state::Tx& tx, const std::string& region, const std::string& name, int64_t now_ms,
                    const std::string& cls, const std::string& kms, const Json& tags) {
  auto s = Prep(tx, "INSERT INTO log_groups(region, name, creation_time, class, kms_key_id, tags) "
                    "VALUES (?, ?, ?, ?, ?, ?)");
  s.Bind(1, region).Bind(2, name).Bind(3, now_ms).Bind(4, cls).Bind(5, kms).Bind(6, tags.dump());
  Check(s.Run());
  return sqlite3_last_insert_rowid(tx.conn().raw());
}

int64_t InsertStream(state::Tx& tx, int64_t group_id, std::string_view name, int64_t now_ms) {
  auto s = Prep(tx, "INSERT INTO log_streams(group_id, name, creation_time) VALUES (?, ?, ?)");
  s.Bind(1, group_id).Bind(2, name).Bind(3, now_ms);
  Check(s.Run());
  return sqlite3_last_insert_rowid(tx.conn().raw());
}

void Purge(state::Tx& tx, std::string_view kind, int64_t id) {
  auto s = Prep(tx, "INSERT OR IGNORE INTO log_purges(kind, id) VALUES (?, ?)");
  s.Bind(1, kind).Bind(2, id);
  Check(s.Run());
}

// Events older than this are gone (retention), whatever the sweep has done so far.
int64_t Cutoff(const Group& g, int64_t now_ms) {
  return g.retention ? now_ms - *g.retention * kDayMs : std::numeric_limits<int64_t>::min();
}

void SetTags(state::Tx& tx, const Group& g, const Json& tags) {
  if (tags.size() > 50) {
    throw AwsError("TooManyTagsException", "A resource can have no more than 50 tags.");
  }
  auto s = Prep(tx, "UPDATE log_groups SET tags = ? WHERE id = ?");
  s.Bind(1, tags.dump()).Bind(2, g.id);
  Check(s.Run());
}

void ValidateTags(const Json& tags) {
  for (auto it = tags.begin(); it != tags.end(); ++it) {
    if (it.key().starts_with("aws:")) throw InvalidParameter("Tag keys prefixed with 'aws:' are reserved.");
  }
}

// The group an ARN names, for the newer tag operations.
std::string GroupNameFromArn(const std::string& arn) {
  if (!arn.starts_with("arn:") || arn.find(":log-group:") == std::string::npos) {
    throw InvalidParameter(fmt::format("Invalid resource ARN: {}", arn));
  }
  return NameFromIdentifier(arn);
}

// The positions GetLogEvents' tokens carry: (timestamp, event id).
struct Key {
  int64_t ts = 0;
  int64_t id = 0;
};
std::string KeyToken(char dir, Key k) { return fmt::format("{}/{:020d}{:036d}/s", dir, k.ts, k.id); }
std::optional<std::pair<char, Key>> ParseKeyToken(const std::string& t) {
  if (t.size() != 60 || (t[0] != 'f' && t[0] != 'b') || t[1] != '/' || !t.ends_with("/s")) return std::nullopt;
  std::string digits = t.substr(2, 56);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  try {
    return std::make_pair(t[0], Key{std::stoll(digits.substr(0, 20)), std::stoll(digits.substr(20))});
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<int64_t> OptLong(const Json& in, std::string_view key) { return JOptInt(in, key); }

// Stores `events` (already checked) in `stream` and updates its bookkeeping; returns the
// bytes stored.
int64_t StoreEvents(state::Tx& tx, const Group& g, Stream& st, std::span<const BatchEvent> events, int64_t now_ms) {
  if (events.empty()) return 0;
  auto ins = Prep(tx, "INSERT INTO log_events(group_id, stream_id, ts, ingestion, message) VALUES (?, ?, ?, ?, ?)");
  int64_t bytes = 0;
  for (const auto& e : events) {
    ins.Reset();
    ins.Bind(1, g.id).Bind(2, st.id).Bind(3, e.timestamp).Bind(4, now_ms).Bind(5, e.message);
    Check(ins.Run());
    bytes += static_cast<int64_t>(e.message.size());
  }
  int64_t lo = events.front().timestamp, hi = events.back().timestamp;
  auto up = Prep(tx, "UPDATE log_streams SET first_event = min(coalesce(first_event, ?1), ?1), "
                     "last_event = max(coalesce(last_event, ?2), ?2), last_ingestion = ?3, "
                     "stored_bytes = stored_bytes + ?4 WHERE id = ?5");
  up.Bind(1, lo).Bind(2, hi).Bind(3, now_ms).Bind(4, bytes).Bind(5, st.id);
  Check(up.Run());
  auto ug = Prep(tx, "UPDATE log_groups SET stored_bytes = stored_bytes + ? WHERE id = ?");
  ug.Bind(1, bytes).Bind(2, g.id);
  Check(ug.Run());
  return bytes;
}

}  // namespace

bool ValidRetention(int64_t d) {
  static const std::set<int64_t> kAllowed = {1,   3,   5,   7,   14,   30,   60,   90,   120,  150,  180,
                                             365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653};
  return kAllowed.count(d) > 0;
}

BatchVerdict CheckBatch(std::span<const BatchEvent> events, int64_t now_ms, std::optional<int64_t> retention_days) {
  if (events.empty()) {
    throw InvalidParameter(
        "1 validation error detected: Value '[]' at 'logEvents' failed to satisfy constraint: Member must have "
        "length greater than or equal to 1");
  }
  if (static_cast<int64_t>(events.size()) > kMaxBatchEvents) {
    throw InvalidParameter(fmt::format(
        "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length "
        "less than or equal to {}",
        kMaxBatchEvents));
  }
  int64_t total = 0;
  for (const auto& e : events) {
    int64_t size = static_cast<int64_t>(e.message.size()) + kEventOverhead;
    if (size > kMaxEventBytes) {
      throw InvalidParameter(fmt::format("Log event too large: {} bytes exceeds limit of {}", size, kMaxEventBytes));
    }
    total += size;
  }
  if (total > kMaxBatchBytes) {
    throw InvalidParameter(fmt::format("Upload too large: {} bytes exceeds limit of {}", total, kMaxBatchBytes));
  }
  for (size_t i = 1; i < events.size(); ++i) {
    if (events[i].timestamp < events[i - 1].timestamp) {
      throw InvalidParameter("Log events in a single PutLogEvents request must be in chronological order.");
    }
  }
  if (events.back().timestamp - events.front().timestamp > kMaxSpanMs) {
    throw InvalidParameter("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.");
  }
  BatchVerdict v;
  v.first = 0;
  v.last = events.size();
  const int64_t too_old = now_ms - kTooOldMs;
  const int64_t expired = retention_days ? now_ms - *retention_days * kDayMs : std::numeric_limits<int64_t>::min();
  for (size_t i = 0; i < events.size(); ++i) {
    int64_t ts = events[i].timestamp;
    if (ts < too_old) {
      v.too_old_end = static_cast<int64_t>(i + 1);
      v.first = i + 1;
    } else if (ts < expired) {
      v.expired_end = static_cast<int64_t>(i + 1);
      v.first = i + 1;
    }
  }
  for (size_t i = v.first; i < events.size(); ++i) {
    if (events[i].timestamp > now_ms + kTooNewMs) {
      v.too_new_start = static_cast<int64_t>(i);
      v.last = i;
      break;
    }
  }
  if (v.last < v.first) v.last = v.first;
  return v;
}

LogsApi::LogsApi(state::Store& store, std::string account, Options options, Clock& clock)
    : store_(store), account_(std::move(account)), options_(options), clock_(clock) {}

LogsApi::~LogsApi() { Stop(); }

void LogsApi::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (sweeper_.joinable()) return;
  stopping_ = false;
  sweeper_ = std::thread([this] { SweepLoop(); });
}

void LogsApi::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

void LogsApi::SweepLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stopping_) {
    cv_.wait_for(l, options_.sweep_interval, [this] { return stopping_; });
    if (stopping_) break;
    l.unlock();
    auto r = Sweep();
    if (!r.ok()) KLOG_WARN("logs: retention sweep failed: {}", r.status().ToString());
    l.lock();
  }
}

Result<int64_t> LogsApi::Sweep() {
  const int64_t now_ms = NowMs(clock_.Now());
  // What to delete, read once: each group with a retention, and each purge.
  std::vector<std::pair<int64_t, int64_t>> expiring;  // group id, cutoff
  std::vector<std::pair<std::string, int64_t>> purges;
  RETURN_IF_ERROR(store_.Read([&](state::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto s, tx.conn().Prepare("SELECT id, retention FROM log_groups WHERE retention IS NOT NULL"));
    while (s.Step()) expiring.emplace_back(s.Int(0), now_ms - s.Int(1) * kDayMs);
    RETURN_IF_ERROR(s.status());
    ASSIGN_OR_RETURN(auto p, tx.conn().Prepare("SELECT kind, id FROM log_purges"));
    while (p.Step()) purges.emplace_back(p.Text(0), p.Int(1));
    return p.status();
  }));
  int64_t deleted = 0;
  const int64_t batch = options_.sweep_batch;
  // Expired events: one bounded batch per write, bookkeeping (stored bytes) kept exact.
  for (const auto& expiry : expiring) {
    const int64_t gid = expiry.first, cutoff = expiry.second;
    for (;;) {
      int64_t n = 0;
      RETURN_IF_ERROR(store_.WriteQuiet([&](state::Tx& tx) -> Status {
        ASSIGN_OR_RETURN(auto s, tx.conn().Prepare("SELECT id, stream_id, length(CAST(message AS BLOB)) FROM "
                                                   "log_events WHERE group_id = ? AND ts < ? ORDER BY ts LIMIT ?"));
        s.Bind(1, gid).Bind(2, cutoff).Bind(3, batch);
        std::vector<int64_t> ids;
        std::map<int64_t, int64_t> bytes;  // stream id -> bytes
        int64_t total = 0;
        while (s.Step()) {
          ids.push_back(s.Int(0));
          bytes[s.Int(1)] += s.Int(2);
          total += s.Int(2);
        }
        RETURN_IF_ERROR(s.status());
        ASSIGN_OR_RETURN(auto d, tx.conn().Prepare("DELETE FROM log_events WHERE id = ?"));
        for (int64_t id : ids) {
          d.Reset();
          d.Bind(1, id);
          RETURN_IF_ERROR(d.Run());
        }
        for (const auto& [sid, b] : bytes) {
          ASSIGN_OR_RETURN(auto u, tx.conn().Prepare(
                                       "UPDATE log_streams SET stored_bytes = max(0, stored_bytes - ?) WHERE id = ?"));
          u.Bind(1, b).Bind(2, sid);
          RETURN_IF_ERROR(u.Run());
        }
        ASSIGN_OR_RETURN(auto g, tx.conn().Prepare(
                                     "UPDATE log_groups SET stored_bytes = max(0, stored_bytes - ?) WHERE id = ?"));
        g.Bind(1, total).Bind(2, gid);
        RETURN_IF_ERROR(g.Run());
        n = static_cast<int64_t>(ids.size());
        return Status::Ok();
      }));
      deleted += n;
      if (n < batch) break;
    }
  }
  // Deleted groups and streams: their events go in batches, then the purge row.
  for (const auto& purge : purges) {
    const std::string& kind = purge.first;
    const int64_t id = purge.second;
    const std::string col = kind == "group" ? "group_id" : "stream_id";
    for (;;) {
      int64_t n = 0;
      RETURN_IF_ERROR(store_.WriteQuiet([&](state::Tx& tx) -> Status {
        ASSIGN_OR_RETURN(auto d, tx.conn().Prepare(fmt::format(
                                     "DELETE FROM log_events WHERE id IN (SELECT id FROM log_events WHERE {} = ? "
                                     "LIMIT ?)",
                                     col)));
        d.Bind(1, id).Bind(2, batch);
        RETURN_IF_ERROR(d.Run());
        n = tx.conn().Changes();
        if (n < batch) {
          ASSIGN_OR_RETURN(auto p, tx.conn().Prepare("DELETE FROM log_purges WHERE kind = ? AND id = ?"));
          p.Bind(1, kind).Bind(2, id);
          RETURN_IF_ERROR(p.Run());
        }
        return Status::Ok();
      }));
      deleted += n;
      if (n < batch) break;
    }
  }
  return deleted;
}

Result<size_t> LogsApi::Append(std::string_view region, std::string_view account, std::string_view group,
                               std::string_view stream, bool create_group,
                               std::span<const reconcile::LogEventIn> events) {
  (void)account;  // one account per kecs; ARNs use the daemon's
  const int64_t now_ms = NowMs(clock_.Now());
  size_t stored = 0;
  // The shipper calls this from its own thread: a database error (Prep/Check throw
  // StatusError) comes back as a Status, never as an exception there.
  Status st;
  try {
    st = store_.WriteQuiet([&](state::Tx& tx) -> Status {
    auto g = LoadGroup(tx, region, group);
    if (!g) {
      if (!create_group) return Status(Code::kNotFound, fmt::format("log group {} does not exist", group));
      InsertGroup(tx, std::string(region), std::string(group), now_ms, "STANDARD", "", Json::object());
      g = LoadGroup(tx, region, group);
    }
    auto s = LoadStream(tx, g->id, stream);
    if (!s) {
      InsertStream(tx, g->id, stream, now_ms);
      s = LoadStream(tx, g->id, stream);
    }
    // The group's rules, event by event: what AWS would reject is dropped, and the rest
    // is stored in timestamp order.
    const int64_t too_old = std::max(now_ms - kTooOldMs, Cutoff(*g, now_ms));
    std::vector<BatchEvent> keep;
    for (const auto& e : events) {
      if (e.timestamp_ms < too_old || e.timestamp_ms > now_ms + kTooNewMs) continue;
      if (static_cast<int64_t>(e.message.size()) + kEventOverhead > kMaxEventBytes) continue;
      if (e.message.empty()) continue;
      keep.push_back({e.timestamp_ms, e.message});
    }
    std::stable_sort(keep.begin(), keep.end(),
                     [](const BatchEvent& a, const BatchEvent& b) { return a.timestamp < b.timestamp; });
    StoreEvents(tx, *g, *s, keep, now_ms);
    stored = keep.size();
    return Status::Ok();
  });
  } catch (const StatusError& e) {
    st = e.status();
  }
  if (!st.ok()) return st;
  return stored;
}

// ---- groups ----

Json LogsApi::CreateLogGroup(RequestContext& ctx, const Json& in) {
  const std::string name = JStr(in, "logGroupName");
  const std::string cls = JStr(in, "logGroupClass", "STANDARD");
  const std::string kms = JStr(in, "kmsKeyId");
  ValidateGroupName(name);
  Json tags = in.value("tags", Json::object());
  ValidateTags(tags);
  if (tags.size() > 50) throw InvalidParameter("A log group can have no more than 50 tags.");
  Check(store_.WriteQuiet([&](state::Tx& tx) -> Status {
    if (LoadGroup(tx, ctx.region, name)) {
      throw AwsError("ResourceAlreadyExistsException", "The specified log group already exists");
    }
    InsertGroup(tx, ctx.region, name, NowMs(ctx.now), cls, kms, tags);
    return Status::Ok();
  }));
  return Json::object();
}

Json LogsApi::DeleteLogGroup(RequestContext& ctx, const Json& in) {
  const std::string name = JStr(in, "logGroupName");
  Check(store_.WriteQuiet([&](state::Tx& tx) -> Status {
    Group g = MustGroup(tx, ctx.region, name);
    auto s = Prep(tx, "DELETE FROM log_streams WHERE group_id = ?");
    s.Bind(1, g.id);
    Check(s.Run());
    auto d = Prep(tx, "DELETE FROM log_groups WHERE id = ?");
    d.Bind(1, g.id);
    Check(d.Run());
    Purge(tx, "group", g.id);
    return Status::Ok();
  }));
  cv_.notify_all();
  return Json::object();
}

Json LogsApi::DescribeLogGroups(RequestContext& ctx, const Json& in) {
  auto prefix = JOptStr(in, "logGroupNamePrefix");
  auto pattern = JOptStr(in, "logGroupNamePattern");
  if (prefix && pattern) {
    throw InvalidParameter("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.");
  }
  const std::string cls = JStr(in, "logGroupClass");
  std::vector<Group> groups;
  Check(store_.Read([&](state::Tx& tx) -> Status {
    groups = LoadGroups(tx, ctx.region);
    return Status::Ok();
  }));
  const std::string low_pattern = pattern ? ToLower(*pattern) : "";
  std::vector<Group> kept;
  for (auto& g : groups) {
    if (prefix && !g.name.starts_with(*prefix)) continue;
    if (pattern && ToLower(g.name).find(low_pattern) == std::string::npos) continue;
    if (!cls.empty() && g.cls != cls) continue;
    kept.push_back(std::move(g));
  }
  std::vector<std::string> keys;
  for (const auto& g : kept) keys.push_back(g.name);
  auto page = Paginate(keys, JOptStr(in, "nextToken"), static_cast<size_t>(JInt(in, "limit", 50)));
  if (!page) throw BadToken();
  Json out = {{"logGroups", Json::array()}};
  for (size_t i = page->begin; i < page->end; ++i) out["logGroups"].push_back(GroupToAws(kept[i], account_));
  if (page->next_token) out["nextToken"] = *page->next_token;
  return out;
}

Json LogsApi::PutRetentionPolicy(RequestContext& ctx, const Json& in) {
  const std::string name = JStr(in, "logGroupName");
  const int64_t days = JInt(in, "retentionInDays");
  if (!ValidRetention(days)) {
    throw InvalidParameter(fmt::format(
        "1 validation error detected: Value '{}' at 'retentionInDays' failed to satisfy constraint: Member must "
        "satisfy enum value set: {}",
        days, kRetentionValues));
  }
  Check(store_.WriteQuiet([&](state::Tx& tx) -> Status {
    Group g = MustGroup(tx, ctx.region, name);
    auto s = Prep(tx, "UPDATE log_groups SET retention = ? WHERE id = ?");
    s.Bind(1, days).Bind(2, g.id);
    Check(s.Run());
    return Status::Ok();
  }));
  cv_.notify_all();
  return Json::object();
}

Json LogsApi::DeleteRetentionPolicy(RequestContext& ctx, const Json& in) {
  const std::string name = JStr(in, "logGroupName");
  Check(store_.WriteQuiet([&](state::Tx& tx) -> Status {
    Group g = MustGroup(tx, ctx.region, name);
    auto s = Prep(tx, "UPDATE log_groups SET retention = NULL WHERE id = ?");
    s.Bind(1, g.id);
    Check(s.Run());
    return Status::Ok();
  }));
  return Json::object();
}

// ---- streams ----

Json LogsApi::CreateLogStream(RequestContext& ctx, const Json& in) {
  const std::string group = JStr(in, "logGroupName");
  const std::string name = JStr(in, "logStreamName");
  ValidateStreamName(name);
  Check(store_.WriteQuiet([&](state::Tx& tx) -> Status {
    Group g = MustGroup(tx, ctx.region, group);
    if (LoadStream(tx, g.id, name)) {
      throw AwsError("ResourceAlreadyExistsException", "The specified log stream already exists");
    }
    InsertStream(tx, g.id, name, NowMs(ctx.now));
    return Status::Ok();
  }));
  return Json::object();
}

Json LogsApi::DeleteLogStream(RequestContext& ctx, const Json& in) {
  const std::string group = JStr(in, "logGroupName");
  const std::string name = JStr(in, "logStreamName");
  Check(store_.WriteQuiet([&](state::Tx& tx) -> Status {
    Group g = MustGroup(tx, ctx.region, group);
    auto s = LoadStream(tx, g.id, name);
    if (!s) throw StreamNotFound();
    auto d = Prep(tx, "DELETE FROM log_streams WHERE id = ?");
    d.Bind(1, s->id);
    Check(d.Run());
    auto u = Prep(tx, "UPDATE log_groups SET stored_bytes = max(0, stored_bytes - ?) WHERE id = ?");
    u.Bind(1, s->stored_bytes).Bind(2, g.id);
    Check(u.Run());
    Purge(tx, "stream", s->id);
    return Status::Ok();
  }));
  cv_.notify_all();
  return Json::object();
}

Json LogsApi::DescribeLogStreams(RequestContext& ctx, const Json& in) {
  const std::string group = GroupNameOf(in);
  auto prefix = JOptStr(in, "logStreamNamePrefix");
  const std::string order = JStr(in, "orderBy", "LogStreamName");
  const bool descending = JBool(in, "descending");
  if (prefix && order == "LastEventTime") {
    throw InvalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.");
  }
  Group g;
  std::vector<Stream> streams;
  Check(store_.Read([&](state::Tx& tx) -> Status {
    g = MustGroup(tx, ctx.region, group);
    streams = LoadStreams(tx, g.id, prefix.value_or(""));
    return Status::Ok();
  }));
  // Keys order the streams: the name, or the last event time (streams without events
  // first) then the name.
  std::vector<std::pair<std::string, size_t>> keyed;
  for (size_t i = 0; i < streams.size(); ++i) {
    std::string key = streams[i].name;
    if (order == "LastEventTime") {
      key = fmt::format("{:020d}\x1f{}", streams[i].last.value_or(0) + 1, streams[i].name);
    }
    keyed.emplace_back(std::move(key), i);
  }
  std::sort(keyed.begin(), keyed.end());
  if (descending) std::reverse(keyed.begin(), keyed.end());
  std::vector<std::string> keys;
  for (const auto& k : keyed) keys.push_back(k.first);
  auto page = Paginate(keys, JOptStr(in, "nextToken"), static_cast<size_t>(JInt(in, "limit", 50)), descending);
  if (!page) throw BadToken();
  Json out = {{"logStreams", Json::array()}};
  for (size_t i = page->begin; i < page->end; ++i) {
    out["logStreams"].push_back(StreamToAws(g, streams[keyed[i].second], account_));
  }
  if (page->next_token) out["nextToken"] = *page->next_token;
  return out;
}

// ---- events ----

Json LogsApi::PutLogEvents(RequestContext& ctx, const Json& in) {
  const std::string group = JStr(in, "logGroupName");
  const std::string stream = JStr(in, "logStreamName");
  const Json& list = in.at("logEvents");
  std::vector<std::string> messages;
  std::vector<BatchEvent> events;
  messages.reserve(list.size());
  for (const auto& e : list) messages.push_back(JStr(e, "message"));
  for (size_t i = 0; i < list.size(); ++i) events.push_back({JInt(list[i], "timestamp"), messages[i]});
  const int64_t now_ms = NowMs(ctx.now);
  Json out = Json::object();
  Check(store_.WriteQuiet([&](state::Tx& tx) -> Status {
    Group g = MustGroup(tx, ctx.region, group);
    auto s = LoadStream(tx, g.id, stream);
    if (!s) throw StreamNotFound();
    BatchVerdict v = CheckBatch(events, now_ms, g.retention);
    StoreEvents(tx, g, *s, std::span<const BatchEvent>(events).subspan(v.first, v.last - v.first), now_ms);
    auto u = Prep(tx, "UPDATE log_streams SET uploads = uploads + 1 WHERE id = ?");
    u.Bind(1, s->id);
    Check(u.Run());
    out["nextSequenceToken"] = UploadToken(s->uploads + 2);
    if (v.too_new_start || v.too_old_end || v.expired_end) {
      Json r = Json::object();
      if (v.too_new_start) r["tooNewLogEventStartIndex"] = *v.too_new_start;
      if (v.too_old_end) r["tooOldLogEventEndIndex"] = *v.too_old_end;
      if (v.expired_end) r["expiredLogEventEndIndex"] = *v.expired_end;
      out["rejectedLogEventsInfo"] = r;
    }
    return Status::Ok();
  }));
  return out;
}

Json LogsApi::GetLogEvents(RequestContext& ctx, const Json& in) {
  const std::string group = GroupNameOf(in);
  const std::string stream = JStr(in, "logStreamName");
  const int64_t limit = JInt(in, "limit", 10000);
  const int64_t now_ms = NowMs(ctx.now);
  auto token = JOptStr(in, "nextToken");
  std::optional<std::pair<char, Key>> parsed;
  if (token) {
    parsed = ParseKeyToken(*token);
    if (!parsed) throw BadToken();
  }
  const bool forward = parsed ? parsed->first == 'f' : JBool(in, "startFromHead");
  Json out;
  Check(store_.Read([&](state::Tx& tx) -> Status {
    Group g = MustGroup(tx, ctx.region, group);
    auto s = LoadStream(tx, g.id, stream);
    if (!s) throw StreamNotFound();
    int64_t start = std::max(OptLong(in, "startTime").value_or(0), Cutoff(g, now_ms));
    int64_t end = OptLong(in, "endTime").value_or(std::numeric_limits<int64_t>::max());
    Key from = parsed ? parsed->second
                      : (forward ? Key{std::numeric_limits<int64_t>::min(), 0}
                                 : Key{std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max()});
    auto q = Prep(tx, forward ? "SELECT id, ts, ingestion, message FROM log_events WHERE stream_id = ?1 AND "
                                "ts >= ?2 AND ts < ?3 AND (ts > ?4 OR (ts = ?4 AND id > ?5)) ORDER BY ts, id LIMIT ?6"
                              : "SELECT id, ts, ingestion, message FROM log_events WHERE stream_id = ?1 AND "
                                "ts >= ?2 AND ts < ?3 AND (ts < ?4 OR (ts = ?4 AND id < ?5)) ORDER BY ts DESC, "
                                "id DESC LIMIT ?6");
    q.Bind(1, s->id).Bind(2, start).Bind(3, end).Bind(4, from.ts).Bind(5, from.id).Bind(6, limit);
    struct Row {
      Key key;
      int64_t ingestion;
      std::string message;
    };
    std::vector<Row> rows;
    int64_t bytes = 0;
    while (q.Step()) {
      Row r{{q.Int(1), q.Int(0)}, q.Int(2), q.Text(3)};
      bytes += static_cast<int64_t>(r.message.size()) + kEventOverhead;
      if (bytes > kMaxBatchBytes && !rows.empty()) break;
      rows.push_back(std::move(r));
    }
    Check(q.status());
    if (!forward) std::reverse(rows.begin(), rows.end());
    out["events"] = Json::array();
    for (const auto& r : rows) {
      out["events"].push_back({{"timestamp", r.key.ts}, {"message", r.message}, {"ingestionTime", r.ingestion}});
    }
    if (rows.empty()) {
      // The end of the stream in this direction: the same token again.
      Key at = parsed ? parsed->second : Key{0, 0};
      out["nextForwardToken"] = parsed && forward ? *token : KeyToken('f', at);
      out["nextBackwardToken"] = parsed && !forward ? *token : KeyToken('b', at);
    } else {
      out["nextForwardToken"] = KeyToken('f', rows.back().key);
      out["nextBackwardToken"] = KeyToken('b', rows.front().key);
    }
    return Status::Ok();
  }));
  return out;
}

Json LogsApi::FilterLogEvents(RequestContext& ctx, const Json& in) {
  const std::string group = GroupNameOf(in);
  const Pattern pattern = Pattern::Parse(JStr(in, "filterPattern"));
  auto names = JGet(in, "logStreamNames");
  auto prefix = JOptStr(in, "logStreamNamePrefix");
  if (names && prefix) {
    throw InvalidParameter("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.");
  }
  const int64_t limit = JInt(in, "limit", 10000);
  const int64_t now_ms = NowMs(ctx.now);
  Key after{std::numeric_limits<int64_t>::min(), 0};
  if (auto token = JOptStr(in, "nextToken")) {
    auto key = DecodeToken(*token);
    auto parts = key ? Split(*key, '/') : std::vector<std::string>{};
    if (parts.size() != 2) throw BadToken();
    try {
      after = Key{std::stoll(parts[0]), std::stoll(parts[1])};
    } catch (const std::exception&) {
      throw BadToken();
    }
  }
  Json out = {{"events", Json::array()}};
  Check(store_.Read([&](state::Tx& tx) -> Status {
    Group g = MustGroup(tx, ctx.region, group);
    // The streams searched, by id (all of the group's when none are named).
    std::map<int64_t, std::string> stream_names;
    bool restricted = names || prefix;
    if (names) {
      for (const auto& n : *names) {
        if (auto s = LoadStream(tx, g.id, n.get<std::string>())) stream_names[s->id] = s->name;
      }
    } else {
      for (auto& s : LoadStreams(tx, g.id, prefix.value_or(""))) stream_names[s.id] = s.name;
    }
    if (restricted && stream_names.empty()) return Status::Ok();
    int64_t start = std::max(OptLong(in, "startTime").value_or(0), Cutoff(g, now_ms));
    int64_t end = OptLong(in, "endTime").value_or(std::numeric_limits<int64_t>::max());
    // Terms every match must contain are tested by SQLite first (instr), so rows that
    // cannot match are never copied out (their message column is NULL); the pattern then
    // decides on the rest. Every row examined counts toward the scan budget, so a rare
    // term cannot make one call read the whole group.
    std::string candidate = "1";
    for (size_t i = 0; i < pattern.required().size(); ++i) {
      candidate += fmt::format(" AND instr(e.message, ?{}) > 0", 7 + i);
    }
    std::string sql = fmt::format(
        "SELECT e.id, e.ts, e.ingestion, CASE WHEN {} THEN e.message END, e.stream_id FROM log_events e "
        "JOIN log_streams s ON s.id = e.stream_id "
        "WHERE e.group_id = ?1 AND e.ts >= ?2 AND e.ts <= ?3 AND (e.ts > ?4 OR (e.ts = ?4 AND e.id > ?5))",
        candidate);
    if (restricted) {
      std::vector<std::string> ids;
      for (const auto& [id, n] : stream_names) ids.push_back(std::to_string(id));
      sql += " AND e.stream_id IN (" + Join(ids, ",") + ")";
    }
    sql += " ORDER BY e.ts, e.id LIMIT ?6";
    const int64_t chunk = 4096;
    int64_t scanned = 0;
    int64_t returned = 0;
    int64_t bytes = 0;  // the response's size as AWS counts it: message + 26 per event
    bool more = false;
    Key cursor = after;
    for (;;) {
      auto q = Prep(tx, sql);
      q.Bind(1, g.id).Bind(2, start).Bind(3, end).Bind(4, cursor.ts).Bind(5, cursor.id).Bind(6, chunk);
      int param = 7;
      for (const auto& r : pattern.required()) q.Bind(param++, std::string_view(r));
      int64_t got = 0;
      bool stop = false;
      while (q.Step()) {
        ++got;
        ++scanned;
        const Key prev = cursor;
        cursor = Key{q.Int(1), q.Int(0)};
        const bool candidate_row = !q.IsNull(3);
        std::string message = candidate_row ? q.Text(3) : std::string();
        if (candidate_row && pattern.Matches(message)) {
          const int64_t size = static_cast<int64_t>(message.size()) + kEventOverhead;
          if (returned > 0 && bytes + size > kMaxFilterResponseBytes) {
            cursor = prev;  // this event starts the next page
            stop = true;
            break;
          }
          bytes += size;
          auto sid = q.Int(4);
          auto it = stream_names.find(sid);
          std::string sname;
          if (it != stream_names.end()) {
            sname = it->second;
          } else {
            auto sq = Prep(tx, "SELECT name FROM log_streams WHERE id = ?");
            sq.Bind(1, sid);
            if (sq.Step()) sname = sq.Text(0);
            stream_names[sid] = sname;
          }
          out["events"].push_back({{"logStreamName", sname},
                                   {"timestamp", cursor.ts},
                                   {"message", std::move(message)},
                                   {"ingestionTime", q.Int(2)},
                                   {"eventId", fmt::format("{:056d}", cursor.id)}});
          ++returned;
        }
        if (returned >= limit || scanned >= options_.filter_scan_budget) {
          stop = true;
          break;
        }
      }
      Check(q.status());
      if (stop) {
        more = true;
        break;
      }
      if (got < chunk) break;
    }
    if (more) out["nextToken"] = EncodeToken(fmt::format("{}/{}", cursor.ts, cursor.id));
    out["searchedLogStreams"] = Json::array();
    return Status::Ok();
  }));
  return out;
}

// ---- tags ----

Json LogsApi::TagResource(RequestContext& ctx, const Json& in) {
  const std::string name = GroupNameFromArn(JStr(in, "resourceArn"));
  Json add = in.value("tags", Json::object());
  ValidateTags(add);
  Check(store_.WriteQuiet([&](state::Tx& tx) -> Status {
    Group g = MustGroup(tx, ctx.region, name);
    for (auto it = add.begin(); it != add.end(); ++it) g.tags[it.key()] = it.value();
    SetTags(tx, g, g.tags);
    return Status::Ok();
  }));
  return Json::object();
}

Json LogsApi::UntagResource(RequestContext& ctx, const Json& in) {
  const std::string name = GroupNameFromArn(JStr(in, "resourceArn"));
  Check(store_.WriteQuiet([&](state::Tx& tx) -> Status {
    Group g = MustGroup(tx, ctx.region, name);
    for (const auto& k : in.value("tagKeys", Json::array())) g.tags.erase(k.get<std::string>());
    SetTags(tx, g, g.tags);
    return Status::Ok();
  }));
  return Json::object();
}

Json LogsApi::ListTagsForResource(RequestContext& ctx, const Json& in) {
  const std::string name = GroupNameFromArn(JStr(in, "resourceArn"));
  Json out;
  Check(store_.Read([&](state::Tx& tx) -> Status {
    out = {{"tags", MustGroup(tx, ctx.region, name).tags}};
    return Status::Ok();
  }));
  return out;
}

Json LogsApi::TagLogGroup(RequestContext& ctx, const Json& in) {
  Json arn_in = {{"resourceArn", GroupArn(ctx.region, account_, JStr(in, "logGroupName"))},
                 {"tags", in.value("tags", Json::object())}};
  return TagResource(ctx, arn_in);
}

Json LogsApi::UntagLogGroup(RequestContext& ctx, const Json& in) {
  Json arn_in = {{"resourceArn", GroupArn(ctx.region, account_, JStr(in, "logGroupName"))},
                 {"tagKeys", in.value("tags", Json::array())}};
  return UntagResource(ctx, arn_in);
}

Json LogsApi::ListTagsLogGroup(RequestContext& ctx, const Json& in) {
  return ListTagsForResource(ctx, {{"resourceArn", GroupArn(ctx.region, account_, JStr(in, "logGroupName"))}});
}

void LogsApi::RegisterAll(Service& s) {
#define KECS_OP(name) \
  s.Register(#name, [this](RequestContext& ctx, const Json& in) { return name(ctx, in); })
  KECS_OP(CreateLogGroup);
  KECS_OP(DeleteLogGroup);
  KECS_OP(DescribeLogGroups);
  KECS_OP(CreateLogStream);
  KECS_OP(DeleteLogStream);
  KECS_OP(DescribeLogStreams);
  KECS_OP(PutLogEvents);
  KECS_OP(GetLogEvents);
  KECS_OP(FilterLogEvents);
  KECS_OP(PutRetentionPolicy);
  KECS_OP(DeleteRetentionPolicy);
  KECS_OP(TagResource);
  KECS_OP(UntagResource);
  KECS_OP(ListTagsForResource);
  KECS_OP(TagLogGroup);
  KECS_OP(UntagLogGroup);
  KECS_OP(ListTagsLogGroup);
#undef KECS_OP
}

}  // namespace kecs::api::logs
