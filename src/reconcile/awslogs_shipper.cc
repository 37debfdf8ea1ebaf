#include "reconcile/awslogs_shipper.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include <fmt/format.h>

#include "base/json.h"
#include "base/log.h"
#include "model/arn.h"
#include "model/kinds.h"
#include "state/records/tasks.h"

namespace kecs::reconcile {

namespace {

// Docker's daemon/logger/awslogs strftimeToRegex.
const std::map<std::string, std::string>& StrftimeTable() {
  static const std::map<std::string, std::string> t = {
      {"%a", "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"},
      {"%A", "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"},
      {"%w", "[0-6]"},
      {"%d", "(?:0[1-9]|[1,2][0-9]|3[0,1])"},
      {"%b", "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"},
      {"%B", "(?:January|February|March|April|May|June|July|August|September|October|November|December)"},
      {"%m", "(?:0[1-9]|1[0-2])"},
      {"%Y", "\\d{4}"},
      {"%y", "\\d{2}"},
      {"%H", "(?:[0,1][0-9]|2[0-3])"},
      {"%I", "(?:0[0-9]|1[0-2])"},
      {"%p", "[A,P]M"},
      {"%M", "[0-5][0-9]"},
      {"%S", "[0-5][0-9]"},
      {"%f", "\\d{6}"},
      {"%z", "[+-]\\d{4}"},
      {"%Z", "[A-Z]{1,4}T"},
      {"%j", "(?:0[0-9][1-9]|[1,2][0-9][0-9]|3[0-5][0-9]|36[0-6])"},
      {"%L", "\\.\\d{3}"},
  };
  return t;
}

std::string OptionValue(const model::LogConfiguration& lc, std::string_view key, bool* present = nullptr) {
  for (const auto& kv : lc.options) {
    if (kv.name == key) {
      if (present) *present = true;
      return kv.value;
    }
  }
  if (present) *present = false;
  return "";
}

// PCRE2's limits for patterns from task definitions, as SSM's AllowedPattern uses them.
constexpr uint32_t kMatchLimit = 100000;
constexpr uint32_t kDepthLimit = 1000;
constexpr uint32_t kHeapLimitKiB = 1024;

// The longest prefix of `s` of at most `max` bytes that ends on a UTF-8 character boundary
// (at least one byte, so invalid input still moves on).
size_t ValidSplit(std::string_view s, size_t max) {
  if (s.size() <= max) return s.size();
  size_t cut = max;
  for (int back = 0; back < 3 && cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80; ++back) --cut;
  return cut == 0 ? max : cut;
}

int64_t NowMs(Clock& clock) { return static_cast<int64_t>(std::floor(clock.Now() * 1000)); }

}  // namespace

std::string StrftimeToRegex(std::string_view format) {
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    // Go's regexp "%." matches '%' and any one character but a newline.
    if (format[i] == '%' && i + 1 < format.size() && format[i + 1] != '\n') {
      auto it = StrftimeTable().find(std::string(format.substr(i, 2)));
      if (it != StrftimeTable().end()) out += it->second;
      ++i;
      continue;
    }
    out += format[i];
  }
  return out;
}

std::string AwslogsStreamName(std::string_view prefix, std::string_view container, std::string_view task_id) {
  std::string s;
  if (!prefix.empty()) s = std::string(prefix) + "/";
  return s + std::string(container) + "/" + std::string(task_id);
}

std::optional<int64_t> ParseRamBytes(std::string_view s) {
  // docker/go-units RAMInBytes: a number, then an optional unit b, k, m, g, t, p with an
  // optional "b"/"ib", case-insensitive, powers of 1024.
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  double n = 0;
  try {
    size_t used = 0;
    n = std::stod(std::string(s.substr(0, i)), &used);
    if (used != i) return std::nullopt;
  } catch (...) {
    return std::nullopt;
  }
  std::string unit;
  for (char c : s.substr(i)) {
    if (c == ' ' && unit.empty()) continue;
    unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  static const std::map<std::string, double> kUnits = {
      {"", 1}, {"b", 1}, {"k", 1024.0}, {"kb", 1024.0}, {"kib", 1024.0}, {"m", 1048576.0}, {"mb", 1048576.0},
      {"mib", 1048576.0}, {"g", 1073741824.0}, {"gb", 1073741824.0}, {"gib", 1073741824.0}};
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) return std::nullopt;
  double bytes = n * it->second;
  if (bytes > 1e15) return std::nullopt;
  return static_cast<int64_t>(bytes);
}

Result<AwslogsOptions> ParseAwslogsOptions(const model::LogConfiguration& lc) {
  AwslogsOptions o;
  o.group = OptionValue(lc, "awslogs-group");
  o.region = OptionValue(lc, "awslogs-region");
  o.stream_prefix = OptionValue(lc, "awslogs-stream-prefix");
  o.endpoint = OptionValue(lc, "awslogs-endpoint");
  bool has = false;
  std::string create = OptionValue(lc, "awslogs-create-group", &has);
  if (has) {
    // Go's strconv.ParseBool, as Docker reads it.
    static const std::vector<std::string> kTrue = {"1", "t", "T", "TRUE", "true", "True"};
    static const std::vector<std::string> kFalse = {"0", "f", "F", "FALSE", "false", "False"};
    if (std::find(kTrue.begin(), kTrue.end(), create) != kTrue.end()) {
      o.create_group = true;
    } else if (std::find(kFalse.begin(), kFalse.end(), create) == kFalse.end()) {
      return InvalidArgument(fmt::format("strconv.ParseBool: parsing \"{}\": invalid syntax", create));
    }
  }
  if (o.group.empty()) return InvalidArgument("must specify a value for log opt 'awslogs-group'");
  std::string mode = OptionValue(lc, "mode", &has);
  if (has) {
    if (mode == "blocking") {
      o.non_blocking = false;
    } else if (mode == "non-blocking") {
      o.non_blocking = true;
    } else {
      return InvalidArgument(fmt::format("logger: logging mode not supported: {}", mode));
    }
  }
  std::string size = OptionValue(lc, "max-buffer-size", &has);
  if (has) {
    if (!o.non_blocking) {
      return InvalidArgument("logger: max-buffer-size option is only supported with 'mode=non-blocking'");
    }
    auto n = ParseRamBytes(size);
    if (!n || *n <= 0) return InvalidArgument(fmt::format("logger: could not parse max-buffer-size: {}", size));
    o.max_buffer_size = *n;
  }
  std::string datetime = OptionValue(lc, "awslogs-datetime-format");
  std::string pattern = OptionValue(lc, "awslogs-multiline-pattern");
  // ECS: awslogs-multiline-pattern "is ignored if awslogs-datetime-format is also configured".
  o.multiline = !datetime.empty() ? StrftimeToRegex(datetime) : pattern;
  if (!o.multiline.empty()) {
    auto probe = EventSplitter::Create(o.multiline, 0);
    if (!probe.ok()) return probe.status();
  }
  return o;
}

// ---- EventSplitter ----

struct EventSplitter::Impl {
  pcre2_code* code = nullptr;
  pcre2_match_data* md = nullptr;
  pcre2_match_context* mc = nullptr;
  ~Impl() {
    if (md) pcre2_match_data_free(md);
    if (mc) pcre2_match_context_free(mc);
    if (code) pcre2_code_free(code);
  }
  bool Match(std::string_view line) const {
    int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(line.data()), line.size(), 0, 0, md, mc);
    return rc >= 0;  // no match, or a match that hit a limit: not a start
  }
};

EventSplitter::EventSplitter(std::unique_ptr<Impl> impl, int64_t offset)
    : impl_(std::move(impl)), fed_(offset), held_from_(offset), buffer_end_(offset) {}
EventSplitter::~EventSplitter() = default;

Result<std::unique_ptr<EventSplitter>> EventSplitter::Create(const std::string& multiline, int64_t offset) {
  std::unique_ptr<Impl> impl;
  if (!multiline.empty()) {
    impl = std::make_unique<Impl>();
    int err = 0;
    PCRE2_SIZE at = 0;
    impl->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(multiline.data()), multiline.size(),
                               PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &err, &at, nullptr);
    if (!impl->code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      return InvalidArgument(fmt::format("awslogs could not parse multiline pattern key: error parsing regexp: {} at offset {}",
                                         reinterpret_cast<const char*>(msg), at));
    }
    impl->md = pcre2_match_data_create_from_pattern(impl->code, nullptr);
    impl->mc = pcre2_match_context_create(nullptr);
    if (!impl->md || !impl->mc) return Internal("out of memory compiling the multiline pattern");
    pcre2_set_match_limit(impl->mc, kMatchLimit);
    pcre2_set_depth_limit(impl->mc, kDepthLimit);
    pcre2_set_heap_limit(impl->mc, kHeapLimitKiB);
  }
  return std::unique_ptr<EventSplitter>(new EventSplitter(std::move(impl), offset));
}

void EventSplitter::Emit(std::string_view bytes, int64_t ts, int64_t end, int trailer,
                         std::vector<SplitEvent>& out) {
  // Docker's processEvent: pieces of at most maximumBytesPerEvent, on character boundaries.
  ts = std::max(ts, last_ts_);  // chronological even if the clock steps back
  last_ts_ = ts;
  while (!bytes.empty()) {
    size_t n = ValidSplit(bytes, kAwslogsMaxEventBytes);
    // Each piece its own end: a checkpoint between two pieces must not skip the second.
    size_t rest = bytes.size() - n;
    int64_t piece_end = rest == 0 ? end : end - static_cast<int64_t>(rest) - trailer;
    out.push_back({ts, std::string(bytes.substr(0, n)), piece_end});
    bytes.remove_prefix(n);
  }
  held_from_ = end;
}

void EventSplitter::FlushBuffer(std::vector<SplitEvent>& out) {
  if (buffer_.empty()) return;
  Emit(buffer_, buffer_ts_, buffer_end_, buffer_trailer_, out);
  buffer_.clear();
}

void EventSplitter::Line(std::string_view line, int64_t end, bool newline, int64_t ts,
                         std::vector<SplitEvent>& out) {
  if (!impl_) {
    if (line.empty()) {
      held_from_ = end;  // no event: Docker sends none for an empty line
      return;
    }
    Emit(line, ts, end, newline ? 1 : 0, out);
    return;
  }
  // Docker's collectBatch with a multiline pattern.
  if (impl_->Match(line) || buffer_.size() + line.size() > kAwslogsMaxEventBytes) {
    FlushBuffer(out);
    buffer_ts_ = ts;
  }
  if (buffer_.empty()) buffer_ts_ = ts;
  buffer_.append(line);
  bool added = line.size() < kAwslogsMaxEventBytes;
  if (added) buffer_ += '\n';
  buffer_end_ = end;
  buffer_trailer_ = (newline ? 1 : 0) - (added ? 1 : 0);
}

void EventSplitter::Feed(std::string_view bytes, int64_t now_ms, std::vector<SplitEvent>& out) {
  int64_t start = fed_;
  fed_ += static_cast<int64_t>(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    if (nl == std::string_view::npos) {
      if (partial_.empty()) partial_ts_ = now_ms;
      partial_.append(bytes.substr(pos));
      // A line longer than an event is cut, as Docker's copier cuts long lines.
      while (partial_.size() > kAwslogsMaxEventBytes) {
        size_t n = ValidSplit(partial_, kAwslogsMaxEventBytes);
        int64_t end = fed_ - static_cast<int64_t>(partial_.size() - n);
        std::string piece = partial_.substr(0, n);
        partial_.erase(0, n);
        Line(piece, end, false, partial_ts_, out);
      }
      return;
    }
    int64_t end = start + static_cast<int64_t>(nl) + 1;
    if (!partial_.empty()) {
      partial_.append(bytes.substr(pos, nl - pos));
      std::string line = std::move(partial_);
      partial_.clear();
      Line(line, end, true, partial_ts_, out);
    } else {
      Line(bytes.substr(pos, nl - pos), end, true, now_ms, out);
    }
    pos = nl + 1;
  }
}

void EventSplitter::Tick(int64_t now_ms, std::vector<SplitEvent>& out) {
  if (!buffer_.empty() && now_ms - buffer_ts_ >= kAwslogsForceFlushMs) FlushBuffer(out);
}

void EventSplitter::Finish(int64_t now_ms, std::vector<SplitEvent>& out) {
  if (!partial_.empty()) {
    std::string line = std::move(partial_);
    partial_.clear();
    Line(line, fed_, false, partial_ts_ ? partial_ts_ : now_ms, out);
  }
  FlushBuffer(out);
  held_from_ = fed_;
}

void EventSplitter::Reset(int64_t offset) {
  partial_.clear();
  buffer_.clear();
  fed_ = held_from_ = buffer_end_ = offset;
}

std::vector<size_t> BatchSizes(const std::vector<SplitEvent>& events, size_t from) {
  std::vector<size_t> out;
  size_t i = from;
  while (i < events.size()) {
    size_t n = 0, bytes = 0;
    int64_t first = events[i].timestamp_ms;
    while (i + n < events.size()) {
      const SplitEvent& e = events[i + n];
      size_t b = e.message.size() + kAwslogsPerEventBytes;
      if (n == kAwslogsMaxBatchEvents || bytes + b > kAwslogsMaxBatchBytes ||
          e.timestamp_ms - first > kAwslogsMaxBatchSpanMs) {
        break;
      }
      bytes += b;
      ++n;
    }
    if (n == 0) n = 1;  // cannot happen (an event is at most 256 KiB); never loop forever
    out.push_back(n);
    i += n;
  }
  return out;
}

// ---- AwslogsShipper ----

struct AwslogsShipper::Stream {
  std::string container;
  AwslogsOptions opts;
  std::string name;
  std::unique_ptr<EventSplitter> splitter;
  std::vector<SplitEvent> queue;
  size_t queued_bytes = 0;
  int64_t shipped = 0;  // every byte before it is in an appended event (or dropped)
  int64_t dropped = 0;
  bool align = false;   // after a drop: skip to the next line start
  bool done = false;
  bool dirty = false;
  std::string error;    // the last failure reported (reported once)
};

struct AwslogsShipper::TaskShip {
  std::string region;
  std::string id;
  std::string account;
  std::vector<Stream> streams;
  bool gone = false;
};

namespace {

Json CheckpointDoc(const std::string& account, const std::vector<Json>& containers) {
  Json cs = Json::array();
  for (const auto& c : containers) cs.push_back(c);
  return Json{{"account", account}, {"containers", std::move(cs)}};
}

std::string AccountOf(const model::Task& t) {
  auto arn = model::Arn::Parse(t.task_arn);
  return arn ? arn->account : std::string();
}

}  // namespace

AwslogsShipper::AwslogsShipper(state::Store& store, LogSink& sink, OutputReader reader, Options options, Clock& clock)
    : store_(store), sink_(sink), reader_(std::move(reader)), options_(options), clock_(clock) {}

AwslogsShipper::~AwslogsShipper() { Stop(); }

void AwslogsShipper::Start() {
  loop_ = std::make_unique<PassLoop>(options_.interval, [this] { Pass(); });
  loop_->Start();
}

void AwslogsShipper::Stop() {
  if (loop_) loop_->Stop();
}

void AwslogsShipper::Notify() {
  if (loop_) loop_->Notify();
}

AwslogsShipper::Stats AwslogsShipper::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

Status AwslogsShipper::Prepare(const model::Task& task) {
  std::vector<Json> rows;
  std::string account = AccountOf(task);
  for (const auto& c : task.internal.containers) {
    if (!c.log_configuration || c.log_configuration->log_driver != "awslogs") continue;
    auto opts = ParseAwslogsOptions(*c.log_configuration);
    if (!opts.ok()) {
      return FailedPrecondition(fmt::format(
          "CannotStartContainerError: Error response from daemon: failed to initialize logging driver: {}",
          opts.status().message()));
    }
    std::string region = opts->region.empty() ? task.region : opts->region;
    std::string stream = AwslogsStreamName(opts->stream_prefix, c.name, task.id);
    // Docker's driver creates the stream (and the group) as it initialises; in non-blocking
    // mode it keeps trying in the background instead of failing the container.
    auto made = sink_.Append(region, account, opts->group, stream, opts->create_group, {});
    if (!made.ok()) {
      if (!opts->non_blocking) {
        std::string what = made.status().code() == Code::kNotFound
                               ? "ResourceNotFoundException: The specified log group does not exist."
                               : made.status().message();
        return FailedPrecondition(fmt::format(
            "CannotStartContainerError: Error response from daemon: failed to initialize logging driver: "
            "failed to create Cloudwatch log stream: {}",
            what));
      }
      KLOG_WARN("task {}: awslogs stream {} of group {} not created yet: {}", task.id, stream, opts->group,
                made.status().message());
    }
    rows.push_back(Json{{"name", c.name}, {"offset", 0}, {"dropped", 0}, {"done", false}});
  }
  if (rows.empty()) return Status::Ok();
  return store_.Write([&](state::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, tx.Get(kAwslogsCheckpointKind, task.region, task.id));
    if (existing) return Status::Ok();  // a repeated start keeps its offsets
    state::Object o;
    o.kind = kAwslogsCheckpointKind;
    o.region = task.region;
    o.id = task.id;
    o.parent = task.cluster;
    o.name = task.id;
    o.status = "shipping";
    o.doc = CheckpointDoc(account, rows);
    return tx.Insert(o);
  });
}

bool AwslogsShipper::ShipStream(const std::string& region, const std::string& account, const std::string& task_id,
                                Stream& s, bool stopped, bool& more) {
  int64_t now = NowMs(clock_);
  std::string sink_region = s.opts.region.empty() ? region : s.opts.region;
  if (!s.splitter) {
    auto sp = EventSplitter::Create(s.opts.multiline, s.shipped);
    if (!sp.ok()) {  // Prepare refuses such a task; an older row gives up
      s.done = s.dirty = true;
      return false;
    }
    s.splitter = std::move(*sp);
  }
  bool eof = false;
  if (s.queued_bytes < options_.max_queued_bytes) {
    int64_t offset = s.splitter->fed();
    auto r = reader_(task_id, s.container, offset, options_.read_chunk);
    if (!r.ok()) {
      if (r.status().code() == Code::kNotFound || r.status().code() == Code::kFailedPrecondition) {
        eof = stopped;  // no output (never started, or a runtime that writes none)
      } else if (s.error != r.status().message()) {
        s.error = r.status().message();
        KLOG_WARN("task {}: awslogs: reading container {}'s output: {}", task_id, s.container, s.error);
      }
    } else {
      std::string data = std::move(r->data);
      int64_t size = r->size;
      // Non-blocking: the backlog beyond max-buffer-size is dropped, oldest first, as
      // Docker's ring buffer drops the oldest messages.
      if (s.opts.non_blocking && size - s.shipped > s.opts.max_buffer_size) {
        int64_t keep_from = size - s.opts.max_buffer_size;
        int64_t lost = keep_from - s.shipped;
        s.dropped += lost;
        {
          std::lock_guard<std::mutex> lock(stats_mu_);
          stats_.dropped_bytes += lost;
        }
        KLOG_WARN("task {}: awslogs: container {}'s output is {} bytes behind (max-buffer-size {}); dropping the oldest {}",
                  task_id, s.container, size - s.shipped, s.opts.max_buffer_size, lost);
        s.queue.clear();
        s.queued_bytes = 0;
        s.splitter->Reset(keep_from);
        s.shipped = keep_from;
        s.align = true;
        s.dirty = true;
        auto again = reader_(task_id, s.container, keep_from, options_.read_chunk);
        if (!again.ok()) return false;
        data = std::move(again->data);
        size = again->size;
        offset = keep_from;
      }
      std::string_view view(data);
      if (s.align && !view.empty()) {
        size_t nl = view.find('\n');
        size_t skip = nl == std::string_view::npos ? view.size() : nl + 1;
        s.splitter->Reset(offset + static_cast<int64_t>(skip));
        s.shipped = offset + static_cast<int64_t>(skip);
        s.dropped += static_cast<int64_t>(skip);
        std::lock_guard<std::mutex> lock(stats_mu_);
        stats_.dropped_bytes += static_cast<int64_t>(skip);
        if (nl != std::string_view::npos) s.align = false;
        view.remove_prefix(skip);
      }
      size_t before = s.queue.size();
      s.splitter->Feed(view, now, s.queue);
      for (size_t i = before; i < s.queue.size(); ++i) s.queued_bytes += s.queue[i].message.size();
      if (data.size() == options_.read_chunk) more = true;
      if (stopped && s.splitter->fed() >= size) eof = true;
    }
  }
  size_t before = s.queue.size();
  if (eof) {
    s.splitter->Finish(now, s.queue);
  } else {
    s.splitter->Tick(now, s.queue);
  }
  for (size_t i = before; i < s.queue.size(); ++i) s.queued_bytes += s.queue[i].message.size();

  // Appends the queue, batch by batch; a failure leaves the rest queued for the next pass.
  size_t sent = 0;
  bool failed = false;
  for (size_t n : BatchSizes(s.queue)) {
    std::vector<LogEventIn> batch;
    batch.reserve(n);
    for (size_t i = sent; i < sent + n; ++i) batch.push_back({s.queue[i].timestamp_ms, s.queue[i].message});
    auto r = sink_.Append(sink_region, account, s.opts.group, s.name, s.opts.create_group, batch);
    if (!r.ok()) {
      std::string why = r.status().code() == Code::kNotFound
                            ? "ResourceNotFoundException: The specified log group does not exist."
                            : r.status().message();
      if (s.error != why) {
        s.error = why;
        KLOG_WARN("task {}: awslogs: events of container {} for group {} stay pending: {}", task_id, s.container,
                  s.opts.group, why);
      }
      failed = true;
      break;
    }
    s.error.clear();
    s.shipped = s.queue[sent + n - 1].end_offset;
    s.dirty = true;
    sent += n;
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.events += static_cast<int64_t>(n);
    stats_.batches += 1;
  }
  for (size_t i = 0; i < sent; ++i) s.queued_bytes -= s.queue[i].message.size();
  s.queue.erase(s.queue.begin(), s.queue.begin() + static_cast<std::ptrdiff_t>(sent));
  if (s.queue.empty() && s.splitter->held_from() > s.shipped) {
    s.shipped = s.splitter->held_from();  // what lies between was no event (empty lines)
    s.dirty = true;
  }
  if (!failed && eof && s.queue.empty()) {
    s.done = true;
    s.dirty = true;
  }
  if (failed) return false;
  return true;
}

void AwslogsShipper::ShipTask(TaskShip& ts, const model::Task* task, bool& more) {
  bool task_stopped = task->last_status == model::TaskStatus::kStopped;
  for (auto& s : ts.streams) {
    if (s.done) continue;
    bool stopped = task_stopped;
    for (const auto& c : task->containers) {
      if (c.name == s.container && c.last_status == model::ContainerStatus::kStopped) stopped = true;
    }
    ShipStream(ts.region, ts.account, ts.id, s, stopped, more);
  }
}

void AwslogsShipper::Pass() {
  std::lock_guard<std::mutex> lock(mu_);
  struct Seen {
    state::Object row;
    std::optional<model::Task> task;
  };
  std::vector<Seen> seen;
  Status st = store_.Read([&](state::Tx& tx) -> Status {
    state::Query q;
    q.kind = kAwslogsCheckpointKind;
    q.any_region = true;
    q.status = "shipping";
    ASSIGN_OR_RETURN(auto rows, tx.List(q));
    for (auto& row : rows) {
      Seen s{std::move(row), std::nullopt};
      auto t = state::records::GetTask(tx, s.row.region, s.row.id);
      if (!t.ok()) {
        KLOG_WARN("awslogs: task {}: {}", s.row.id, t.status().message());
        continue;  // a row that does not decode is left alone, not taken for gone
      }
      s.task = std::move(*t);
      seen.push_back(std::move(s));
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    KLOG_WARN("awslogs: reading checkpoints: {}", st.message());
    return;
  }
  bool more = false;
  std::set<std::pair<std::string, std::string>> live;
  for (auto& s : seen) {
    auto key = std::make_pair(s.row.region, s.row.id);
    live.insert(key);
    auto it = tasks_.find(key);
    if (it == tasks_.end()) {
      auto ts = std::make_unique<TaskShip>();
      ts->region = s.row.region;
      ts->id = s.row.id;
      ts->account = s.row.doc.value("account", "");
      if (s.task) {
        const Json& cs = s.row.doc.contains("containers") ? s.row.doc["containers"] : Json::array();
        for (const auto& c : s.task->internal.containers) {
          if (!c.log_configuration || c.log_configuration->log_driver != "awslogs") continue;
          auto opts = ParseAwslogsOptions(*c.log_configuration);
          if (!opts.ok()) continue;
          Stream st;
          st.container = c.name;
          st.opts = std::move(*opts);
          st.name = AwslogsStreamName(st.opts.stream_prefix, c.name, s.row.id);
          for (const auto& j : cs) {
            if (j.value("name", "") != c.name) continue;
            st.shipped = j.value("offset", int64_t{0});
            st.dropped = j.value("dropped", int64_t{0});
            st.done = j.value("done", false);
          }
          ts->streams.push_back(std::move(st));
        }
      } else {
        ts->gone = true;
      }
      it = tasks_.emplace(key, std::move(ts)).first;
    }
    if (!s.task) {
      it->second->gone = true;
      continue;
    }
    ShipTask(*it->second, &*s.task, more);
  }
  // One write records every shipped offset of the pass; rows of deleted tasks go.
  std::vector<std::pair<std::string, std::string>> finished;
  bool sweep = passes_++ % 300 == 0;
  bool changed = sweep;
  for (const auto& [key, ts] : tasks_) {
    if (!live.count(key)) continue;
    bool all_done = true;
    for (const auto& s : ts->streams) {
      changed = changed || s.dirty;
      all_done = all_done && s.done;
    }
    changed = changed || ts->gone || all_done;
  }
  st = !changed ? Status::Ok() : store_.WriteQuiet([&](state::Tx& tx) -> Status {
    if (sweep) {
      // Finished rows go with their tasks (deleted after the STOPPED retention).
      state::Query q;
      q.kind = kAwslogsCheckpointKind;
      q.any_region = true;
      q.status = "done";
      ASSIGN_OR_RETURN(auto rows, tx.List(q));
      for (const auto& row : rows) {
        ASSIGN_OR_RETURN(auto task, tx.Get(model::kTask, row.region, row.id));
        if (!task) RETURN_IF_ERROR(tx.Delete(kAwslogsCheckpointKind, row.region, row.id).status());
      }
    }
    for (auto& [key, ts] : tasks_) {
      if (!live.count(key)) continue;
      if (ts->gone) {
        ASSIGN_OR_RETURN(bool deleted, tx.Delete(kAwslogsCheckpointKind, key.first, key.second));
        (void)deleted;
        continue;
      }
      bool dirty = false, all_done = true;
      std::vector<Json> cs;
      for (const auto& s : ts->streams) {
        dirty = dirty || s.dirty;
        all_done = all_done && s.done;
        cs.push_back(Json{{"name", s.container}, {"offset", s.shipped}, {"dropped", s.dropped}, {"done", s.done}});
      }
      if (!dirty && !all_done) continue;
      ASSIGN_OR_RETURN(auto row, tx.Get(kAwslogsCheckpointKind, key.first, key.second));
      if (!row) continue;
      row->doc = CheckpointDoc(ts->account, cs);
      row->status = all_done ? "done" : "shipping";
      RETURN_IF_ERROR(tx.Put(*row));
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    // The offsets stay in memory and are written by the next pass; a crash before then
    // sends those events again (at least once).
    KLOG_WARN("awslogs: recording shipped offsets: {}", st.message());
  } else {
    for (auto& [key, ts] : tasks_) {
      bool all_done = true;
      for (auto& s : ts->streams) {
        s.dirty = false;
        all_done = all_done && s.done;
      }
      if (ts->gone || all_done) finished.push_back(key);
    }
  }
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    if (!live.count(it->first)) {
      it = tasks_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& k : finished) tasks_.erase(k);
  if (more && loop_) loop_->Notify();
}

}  // namespace kecs::reconcile
