#pragma once
// The awslogs log driver (issue 14): ships the output of containers whose definition has
// logConfiguration.logDriver "awslogs" to CloudWatch Logs, through a LogSink, on its own
// thread, off the request path. docs/design.md "14.2 The awslogs driver" has the design;
// in short:
//
// - Before a task's containers start (TaskHooks::before_start) Prepare creates each awslogs
//   container's stream (and its group with awslogs-create-group "true"), as Docker's
//   driver does when it initialises. A missing group stops a blocking-mode task with
//   "CannotStartContainerError: ... ResourceNotFoundException: The specified log group
//   does not exist."; in non-blocking mode the shipper keeps trying, as Docker does.
//   Prepare also writes the task's checkpoint row (kind kAwslogsCheckpointKind).
// - Each pass reads every shipping container's new output from the runtime
//   (Runtime::ReadOutput, from the checkpointed byte offset), splits it into events (a line
//   each; awslogs-multiline-pattern or awslogs-datetime-format group lines), batches them
//   within PutLogEvents' limits and appends them to `group`, stream
//   `<prefix>/<container>/<task-id>`. After the batches of a pass are appended, one store
//   write records each container's shipped offset; a restarted daemon resumes there.
//   Delivery is at least once: a crash between an Append and that write sends the pass's
//   last events again; nothing is lost.
// - A container's stream is finished once its task's container is STOPPED and every byte
//   of its output is shipped (a last line without a newline included); the row then turns
//   "done" and is deleted with its task.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "model/task.h"
#include "reconcile/log_sink.h"
#include "reconcile/pass_loop.h"
#include "runtime/runtime.h"
#include "state/store.h"

namespace kecs::reconcile {

// The store kind of the shipper's checkpoints: one row per task (region, task id).
inline constexpr const char* kAwslogsCheckpointKind = "kecs:awslogs-checkpoint";

// PutLogEvents' limits (CloudWatch Logs quotas) and Docker's awslogs constants.
inline constexpr size_t kAwslogsMaxBatchEvents = 10000;
inline constexpr size_t kAwslogsMaxBatchBytes = 1048576;     // messages + 26 bytes each
inline constexpr size_t kAwslogsPerEventBytes = 26;
inline constexpr size_t kAwslogsMaxEventBytes = 262144 - 26;  // Docker's maximumBytesPerEvent
inline constexpr int64_t kAwslogsMaxBatchSpanMs = 24LL * 3600 * 1000;
inline constexpr int64_t kAwslogsForceFlushMs = 5000;        // Docker's multiline flush

// A container's awslogs options, checked.
struct AwslogsOptions {
  std::string group;
  std::string region;  // "" = the task's
  std::string stream_prefix;
  std::string endpoint;  // accepted; the sink is always kecs's own Logs service
  bool create_group = false;
  // The start-of-event regex (awslogs-datetime-format converted, else
  // awslogs-multiline-pattern); "" = one event per line.
  std::string multiline;
  bool non_blocking = true;  // ECS's default mode since June 2025
  int64_t max_buffer_size = 10 * 1024 * 1024;  // ECS's documented default (10m)
};

// The options as Docker's driver reads them; InvalidArgument (worded as Docker words it)
// for a bad mode, max-buffer-size, create-group or pattern.
Result<AwslogsOptions> ParseAwslogsOptions(const model::LogConfiguration& lc);
// Docker's strftime-to-regex conversion of awslogs-datetime-format (unknown %x vanish).
std::string StrftimeToRegex(std::string_view format);
// `<prefix>/<container>/<task-id>`; without a prefix `<container>/<task-id>` (see design).
std::string AwslogsStreamName(std::string_view prefix, std::string_view container, std::string_view task_id);
// "1m", "10MB", "512k", "4096" ... (Docker's units.RAMInBytes); nullopt when not a size.
std::optional<int64_t> ParseRamBytes(std::string_view s);

// One event the splitter produced: its message, timestamp and the output offset just past
// the bytes it covers.
struct SplitEvent {
  int64_t timestamp_ms = 0;
  std::string message;
  int64_t end_offset = 0;
};

// Turns a container's output, fed in order, into events, as Docker's awslogs driver does:
// each line (without its newline) is an event, empty lines none; with a multiline pattern
// a line matching it starts a new event and the lines after it join it (each followed by
// "\n"), flushed by the next start, by exceeding the event size limit, or after
// kAwslogsForceFlushMs. Events longer than kAwslogsMaxEventBytes are split on UTF-8
// boundaries. A line is timestamped when it is fed (Docker stamps at receipt).
class EventSplitter {
 public:
  // `multiline` is a PCRE2 pattern ("" = none); `offset` where the first Feed starts.
  static Result<std::unique_ptr<EventSplitter>> Create(const std::string& multiline, int64_t offset);
  ~EventSplitter();

  // Feeds the bytes that follow what was fed before; complete events are appended to out.
  void Feed(std::string_view bytes, int64_t now_ms, std::vector<SplitEvent>& out);
  // Flushes the multiline event when it is older than the force-flush interval.
  void Tick(int64_t now_ms, std::vector<SplitEvent>& out);
  // The output has ended: everything held (a last line without newline, the multiline
  // event) becomes events.
  void Finish(int64_t now_ms, std::vector<SplitEvent>& out);
  // Forgets what it holds and goes on from `offset` (non-blocking drops).
  void Reset(int64_t offset);

  // Bytes fed so far (the offset of the next Feed).
  int64_t fed() const { return fed_; }
  // The offset of the first byte not yet in an emitted event (where a restart reads again).
  int64_t held_from() const { return held_from_; }
  size_t held_bytes() const { return partial_.size() + buffer_.size(); }

 private:
  struct Impl;
  explicit EventSplitter(std::unique_ptr<Impl> impl, int64_t offset);
  // `newline`: the line ended with a newline in the file (at end - 1).
  void Line(std::string_view line, int64_t end, bool newline, int64_t now_ms, std::vector<SplitEvent>& out);
  // `trailer`: how many more bytes the file holds before `end` than `bytes` ends with (1:
  // a newline not in the event; -1: a newline the event added). A piece of an event cut
  // in several carries the offset where that piece ends in the file.
  void Emit(std::string_view bytes, int64_t ts, int64_t end, int trailer, std::vector<SplitEvent>& out);
  void FlushBuffer(std::vector<SplitEvent>& out);

  std::unique_ptr<Impl> impl_;  // the compiled pattern, or null
  int64_t fed_ = 0;
  int64_t held_from_ = 0;
  std::string partial_;        // a line not yet ended
  int64_t partial_ts_ = 0;
  std::string buffer_;         // the multiline event being gathered
  int64_t buffer_ts_ = 0;
  int64_t buffer_end_ = 0;
  int buffer_trailer_ = 0;     // Emit's trailer for buffer_
  int64_t last_ts_ = 0;
};

// Cuts events (chronological) into PutLogEvents batches: at most kAwslogsMaxBatchEvents,
// kAwslogsMaxBatchBytes counting kAwslogsPerEventBytes each, and a span of 24 hours.
// Returns the batches' sizes (numbers of events) in order.
std::vector<size_t> BatchSizes(const std::vector<SplitEvent>& events, size_t from = 0);

class AwslogsShipper {
 public:
  struct Options {
    std::chrono::milliseconds interval{200};
    size_t read_chunk = 1 << 20;       // bytes read per container per pass
    size_t max_queued_bytes = 4 << 20;  // events held per container before reading pauses
  };
  // Reads a container's output (Runtime::ReadOutput, or a fake in tests).
  using OutputReader = std::function<Result<runtime::ContainerOutput>(
      const std::string& task_id, const std::string& container, int64_t offset, size_t max)>;

  AwslogsShipper(state::Store& store, LogSink& sink, OutputReader reader, Options options, Clock& clock);
  ~AwslogsShipper();

  // Before the task's containers start: creates each awslogs container's stream (and group
  // with awslogs-create-group) and the task's checkpoint row (kept when it exists). An
  // error is worded for the task's stop reason ("CannotStartContainerError: ...").
  Status Prepare(const model::Task& task);

  void Start();
  void Stop();
  void Notify();
  // One pass over every task still shipping (what the thread runs; tests call it).
  void Pass();

  // Totals since start, for tests and benchmarks.
  struct Stats {
    int64_t events = 0;
    int64_t batches = 0;
    int64_t dropped_bytes = 0;
  };
  Stats stats() const;

 private:
  struct Stream;
  struct TaskShip;
  void ShipTask(TaskShip& ts, const model::Task* task, bool& more);
  bool ShipStream(const std::string& region, const std::string& account, const std::string& task_id,
                  Stream& s, bool stopped, bool& more);

  state::Store& store_;
  LogSink& sink_;
  const OutputReader reader_;
  const Options options_;
  Clock& clock_;
  std::mutex mu_;  // one pass at a time; guards tasks_ and stats_
  std::map<std::pair<std::string, std::string>, std::unique_ptr<TaskShip>> tasks_;
  Stats stats_;
  int64_t passes_ = 0;  // guarded by mu_
  mutable std::mutex stats_mu_;
  std::unique_ptr<PassLoop> loop_;
};

}  // namespace kecs::reconcile
