#pragma once
// The CloudWatch Logs API (Logs_20140328.<Op>, JSON 1.1) and the LogSink the awslogs
// driver appends through.
//
// Served: CreateLogGroup, DeleteLogGroup, DescribeLogGroups, CreateLogStream,
// DeleteLogStream, DescribeLogStreams, PutLogEvents, GetLogEvents, FilterLogEvents,
// PutRetentionPolicy, DeleteRetentionPolicy, TagResource, UntagResource,
// ListTagsForResource, TagLogGroup, UntagLogGroup and ListTagsLogGroup. Storage is the
// log_* tables of migration 7, read and written with SQL through state::Store's
// transactions (one per request), written with Store::WriteQuiet: no controller reads
// these tables, so a log write wakes none of them. Retention is enforced twice: reads never return an event
// older than its group's retention, and a sweep thread deletes them (and the events of
// deleted groups and streams) in batches of `sweep_batch` rows, one short write
// transaction each. FilterLogEvents answers at most kMaxFilterResponseBytes (1 MiB,
// message + 26 bytes per event, as AWS) and examines at most `filter_scan_budget` rows
// per call, counting rows the filter pattern rejects, then returns a nextToken.
// Thread-safe.
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "api/router.h"
#include "base/clock.h"
#include "base/json.h"
#include "reconcile/log_sink.h"
#include "state/store.h"

namespace kecs::api::logs {

inline constexpr int64_t kMaxBatchEvents = 10000;
inline constexpr int64_t kMaxBatchBytes = 1048576;
inline constexpr int64_t kMaxFilterResponseBytes = 1048576;
inline constexpr int64_t kEventOverhead = 26;
inline constexpr int64_t kMaxEventBytes = 262144;  // message + 26
inline constexpr int64_t kMaxSpanMs = 24LL * 3600 * 1000;
inline constexpr int64_t kTooNewMs = 2LL * 3600 * 1000;
inline constexpr int64_t kTooOldMs = 14LL * 24 * 3600 * 1000;

// PutLogEvents' batch rules over one batch (timestamps in epoch ms), apart from the store.
struct BatchVerdict {
  // Events [first, last) are stored; the others are rejected as the indexes say. Both end
  // indexes are exclusive, as AWS documents tooOldLogEventEndIndex (events [0, end) were
  // rejected); tooNewLogEventStartIndex is inclusive.
  size_t first = 0;
  size_t last = 0;
  std::optional<int64_t> too_new_start;
  std::optional<int64_t> too_old_end;
  std::optional<int64_t> expired_end;
};
struct BatchEvent {
  int64_t timestamp = 0;
  std::string_view message;
};
// Throws AwsError (InvalidParameterException, AWS's wording) when the batch breaks a rule
// that fails the whole call: more than 10,000 events, over 1,048,576 bytes, an event over
// 256 KiB, out of chronological order, or spanning more than 24 hours.
BatchVerdict CheckBatch(std::span<const BatchEvent> events, int64_t now_ms, std::optional<int64_t> retention_days);

// The retention values PutRetentionPolicy accepts.
bool ValidRetention(int64_t days);

class LogsApi : public reconcile::LogSink {
 public:
  struct Options {
    std::chrono::milliseconds sweep_interval{std::chrono::seconds(30)};
    int64_t sweep_batch = 5000;
    // FilterLogEvents reads at most this many events per call, then returns a nextToken
    // (as AWS does, possibly with no events) so one call never holds a reader for long.
    int64_t filter_scan_budget = 250000;
  };
  LogsApi(state::Store& store, std::string account, Options options, Clock& clock = Clock::Real());
  ~LogsApi() override;

  void RegisterAll(Service& service);
  // The sweep thread; Stop joins it. Start is optional (tests call Sweep directly).
  void Start();
  void Stop();
  // One sweep pass: deletes expired events and those of deleted groups and streams, in
  // bounded batches. Returns how many events it deleted.
  Result<int64_t> Sweep();

  Result<size_t> Append(std::string_view region, std::string_view account, std::string_view group,
                        std::string_view stream, bool create_group,
                        std::span<const reconcile::LogEventIn> events) override;

 private:
  Json CreateLogGroup(RequestContext& ctx, const Json& in);
  Json DeleteLogGroup(RequestContext& ctx, const Json& in);
  Json DescribeLogGroups(RequestContext& ctx, const Json& in);
  Json CreateLogStream(RequestContext& ctx, const Json& in);
  Json DeleteLogStream(RequestContext& ctx, const Json& in);
  Json DescribeLogStreams(RequestContext& ctx, const Json& in);
  Json PutLogEvents(RequestContext& ctx, const Json& in);
  Json GetLogEvents(RequestContext& ctx, const Json& in);
  Json FilterLogEvents(RequestContext& ctx, const Json& in);
  Json PutRetentionPolicy(RequestContext& ctx, const Json& in);
  Json DeleteRetentionPolicy(RequestContext& ctx, const Json& in);
  Json TagResource(RequestContext& ctx, const Json& in);
  Json UntagResource(RequestContext& ctx, const Json& in);
  Json ListTagsForResource(RequestContext& ctx, const Json& in);
  Json TagLogGroup(RequestContext& ctx, const Json& in);
  Json UntagLogGroup(RequestContext& ctx, const Json& in);
  Json ListTagsLogGroup(RequestContext& ctx, const Json& in);

  void SweepLoop();

  state::Store& store_;
  const std::string account_;
  const Options options_;
  Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread sweeper_;
};

}  // namespace kecs::api::logs
