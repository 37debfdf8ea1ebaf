// The awslogs driver's shipper: events as Docker's awslogs driver makes them (lines,
// multiline patterns, datetime formats, size limits), PutLogEvents batches, checkpoints in
// the store that a new shipper resumes from, and non-blocking mode's drops.
#include "reconcile/awslogs_shipper.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "base/clock.h"
#include "model/kinds.h"
#include "state/records/tasks.h"
#include "unit/support/temp_dir.h"

namespace kecs::reconcile {
namespace {

constexpr const char* kRegion = "us-east-1";
constexpr const char* kTaskId = "0123456789abcdef0123456789abcdef";

std::vector<std::string> Messages(const std::vector<SplitEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.message);
  return out;
}

std::vector<SplitEvent> Split(const std::string& pattern, const std::vector<std::string>& chunks, bool finish) {
  auto sp = EventSplitter::Create(pattern, 0);
  EXPECT_TRUE(sp.ok()) << sp.status().ToString();
  std::vector<SplitEvent> out;
  for (const auto& c : chunks) (*sp)->Feed(c, 1000, out);
  if (finish) (*sp)->Finish(1000, out);
  return out;
}

TEST(AwslogsSplitterTest, OneEventPerLineAcrossChunksWithoutEmptyLines) {
  auto events = Split("", {"alpha\nbe", "ta\n\ngam", "ma"}, false);
  EXPECT_EQ(Messages(events), (std::vector<std::string>{"alpha", "beta"}));
  EXPECT_EQ(events[0].end_offset, 6);
  EXPECT_EQ(events[1].end_offset, 11);
  auto finished = Split("", {"alpha\nbe", "ta\n\ngam", "ma"}, true);
  EXPECT_EQ(Messages(finished), (std::vector<std::string>{"alpha", "beta", "gamma"}));
  EXPECT_EQ(finished.back().end_offset, 17);
}

TEST(AwslogsSplitterTest, MultilinePatternGroupsLinesUntilTheNextStart) {
  auto sp = EventSplitter::Create("^INFO|^ERROR", 0);
  ASSERT_TRUE(sp.ok());
  std::vector<SplitEvent> out;
  (*sp)->Feed("INFO one\nERROR two\n  at a\n  at b\nINFO three\n", 1000, out);
  EXPECT_EQ(Messages(out), (std::vector<std::string>{"INFO one\n", "ERROR two\n  at a\n  at b\n"}));
  // The held event restarts from where it began.
  EXPECT_EQ((*sp)->held_from(), out.back().end_offset);
  // Docker flushes a held event after 5 seconds.
  (*sp)->Tick(1000 + kAwslogsForceFlushMs - 1, out);
  EXPECT_EQ(out.size(), 2u);
  (*sp)->Tick(1000 + kAwslogsForceFlushMs, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].message, "INFO three\n");
  EXPECT_EQ(out[2].timestamp_ms, 1000);
}

TEST(AwslogsSplitterTest, DatetimeFormatBecomesDockersRegex) {
  EXPECT_EQ(StrftimeToRegex("%Y-%m-%d"), "\\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[1,2][0-9]|3[0,1])");
  EXPECT_EQ(StrftimeToRegex("[%b %d, %Y %H:%M:%S]%Q"),
            "[(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?:0[1-9]|[1,2][0-9]|3[0,1]), \\d{4} "
            "(?:[0,1][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]]");
  model::LogConfiguration lc{"awslogs", {{"awslogs-group", "g"}, {"awslogs-datetime-format", "%Y-%m-%d"}}, {}};
  auto opts = ParseAwslogsOptions(lc);
  ASSERT_TRUE(opts.ok()) << opts.status().ToString();
  auto events = Split(opts->multiline, {"2026-12-06 start\ntrace 1\ntrace 2\n2026-12-07 next\n"}, true);
  EXPECT_EQ(Messages(events), (std::vector<std::string>{"2026-12-06 start\ntrace 1\ntrace 2\n", "2026-12-07 next\n"}));
}

TEST(AwslogsSplitterTest, LongLinesSplitAtTheEventLimitOnCharacterBoundaries) {
  // "é" is two bytes; the limit falls inside one, which moves to the next event.
  std::string line = std::string(kAwslogsMaxEventBytes - 1, 'a') + "\xc3\xa9" + "bc";
  auto events = Split("", {line + "\n"}, false);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].message.size(), kAwslogsMaxEventBytes - 1);
  EXPECT_EQ(events[1].message, "\xc3\xa9" "bc");
  // A line that never ends is cut once it passes the limit.
  auto open = Split("", {std::string(kAwslogsMaxEventBytes + 10, 'x')}, false);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].message.size(), kAwslogsMaxEventBytes);
  EXPECT_EQ(open[0].end_offset, static_cast<int64_t>(kAwslogsMaxEventBytes));
}

TEST(AwslogsSplitterTest, PiecesOfALongLineCarryTheirOwnEndOffsets) {
  // A checkpoint taken between two pieces must resume at the second, not after the line.
  const int64_t max = kAwslogsMaxEventBytes;
  auto events = Split("", {"hi\n" + std::string(2 * max + 5, 'x') + "\n"}, false);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[1].end_offset, 3 + max);
  EXPECT_EQ(events[2].end_offset, 3 + 2 * max);
  EXPECT_EQ(events[3].end_offset, 3 + 2 * max + 5 + 1);
  // In a multiline event too (no newline added after a line at the limit).
  auto multi = Split("^S", {"S" + std::string(max + 9, 'y') + "\nS\n"}, false);
  ASSERT_EQ(multi.size(), 2u);
  EXPECT_EQ(multi[0].end_offset, max);
  EXPECT_EQ(multi[1].end_offset, max + 11);
}

TEST(AwslogsSplitterTest, BadMultilinePatternIsRefused) {
  model::LogConfiguration lc{"awslogs", {{"awslogs-group", "g"}, {"awslogs-multiline-pattern", "(unclosed"}}, {}};
  auto opts = ParseAwslogsOptions(lc);
  ASSERT_FALSE(opts.ok());
  EXPECT_NE(opts.status().message().find("awslogs could not parse multiline pattern key"), std::string::npos);
}

TEST(AwslogsOptionsTest, ModesSizesAndStreamNames) {
  model::LogConfiguration lc{"awslogs", {{"awslogs-group", "g"}}, {}};
  auto d = ParseAwslogsOptions(lc);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->non_blocking);  // ECS's default since June 2025
  EXPECT_EQ(d->max_buffer_size, 10 * 1024 * 1024);
  lc.options = {{"awslogs-group", "g"}, {"mode", "non-blocking"}, {"max-buffer-size", "4k"}, {"awslogs-create-group", "true"}};
  auto nb = ParseAwslogsOptions(lc);
  ASSERT_TRUE(nb.ok());
  EXPECT_EQ(nb->max_buffer_size, 4096);
  EXPECT_TRUE(nb->create_group);
  lc.options = {{"awslogs-group", "g"}, {"mode", "sometimes"}};
  EXPECT_EQ(ParseAwslogsOptions(lc).status().message(), "logger: logging mode not supported: sometimes");
  lc.options = {{"awslogs-group", "g"}, {"mode", "blocking"}, {"max-buffer-size", "1m"}};
  EXPECT_FALSE(ParseAwslogsOptions(lc).ok());
  EXPECT_EQ(ParseRamBytes("1m"), 1048576);
  EXPECT_EQ(ParseRamBytes("10MB"), 10485760);
  EXPECT_EQ(ParseRamBytes("12"), 12);
  EXPECT_EQ(ParseRamBytes("lots"), std::nullopt);
  EXPECT_EQ(AwslogsStreamName("web", "app", kTaskId), std::string("web/app/") + kTaskId);
  EXPECT_EQ(AwslogsStreamName("", "app", kTaskId), std::string("app/") + kTaskId);
}

TEST(AwslogsBatchTest, BatchesKeepPutLogEventsLimits) {
  std::vector<SplitEvent> many(25000, SplitEvent{1000, "x", 0});
  EXPECT_EQ(BatchSizes(many), (std::vector<size_t>{10000, 10000, 5000}));
  // 1 MiB counting 26 bytes per event: 1048576 / (1000 + 26) = 1022 events of 1000 bytes.
  std::vector<SplitEvent> big(2500, SplitEvent{1000, std::string(1000, 'y'), 0});
  auto sizes = BatchSizes(big);
  EXPECT_EQ(sizes[0], 1022u);
  size_t total = 0;
  for (size_t n : sizes) total += n;
  EXPECT_EQ(total, 2500u);
  // A batch spans at most 24 hours.
  std::vector<SplitEvent> span = {{0, "a", 0}, {kAwslogsMaxBatchSpanMs, "b", 0}, {kAwslogsMaxBatchSpanMs + 1, "c", 0}};
  EXPECT_EQ(BatchSizes(span), (std::vector<size_t>{2, 1}));
}

// ---- The shipper over a store, a fake output and a fake sink ----

class FakeSink : public LogSink {
 public:
  Result<size_t> Append(std::string_view region, std::string_view account, std::string_view group,
                        std::string_view stream, bool create_group, std::span<const LogEventIn> events) override {
    ++calls;
    if (fail) return Unavailable("sink down");
    std::string g(group);
    if (!groups.count(g)) {
      if (!create_group) return NotFound("The specified log group does not exist.");
      groups.insert(g);
    }
    last_region = std::string(region);
    last_account = std::string(account);
    if (events.size() > kAwslogsMaxBatchEvents) return InvalidArgument("too many events");
    size_t bytes = 0;
    for (const auto& e : events) bytes += e.message.size() + kAwslogsPerEventBytes;
    if (bytes > kAwslogsMaxBatchBytes) return InvalidArgument("batch too large");
    auto& s = streams[g + ":" + std::string(stream)];
    for (const auto& e : events) s.push_back(e.message);
    return events.size();
  }
  std::set<std::string> groups;
  std::map<std::string, std::vector<std::string>> streams;
  std::string last_region, last_account;
  bool fail = false;
  int calls = 0;
};

class AwslogsShipperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }

  AwslogsShipper::OutputReader Reader() {
    return [this](const std::string& task, const std::string& container, int64_t offset,
                  size_t max) -> Result<runtime::ContainerOutput> {
      auto it = output_.find(task + "/" + container);
      if (it == output_.end()) return NotFound("no output");
      runtime::ContainerOutput out;
      out.size = static_cast<int64_t>(it->second.size());
      if (offset < out.size) out.data = it->second.substr(static_cast<size_t>(offset), max);
      return out;
    };
  }

  std::unique_ptr<AwslogsShipper> Shipper(AwslogsShipper::Options o = {}) {
    return std::make_unique<AwslogsShipper>(*store_, sink_, Reader(), o, clock_);
  }

  model::Task MakeTask(std::vector<model::KeyValuePair> options) {
    model::Task t;
    t.region = kRegion;
    t.id = kTaskId;
    t.cluster = "default";
    t.family = "web";
    t.task_arn = std::string("arn:aws:ecs:us-east-1:000000000000:task/default/") + kTaskId;
    t.last_status = model::TaskStatus::kRunning;
    model::ContainerDefinition d;
    d.name = "app";
    d.image = "busybox";
    d.log_configuration = model::LogConfiguration{"awslogs", std::move(options), {}};
    t.internal.containers.push_back(d);
    model::Container c;
    c.name = "app";
    c.last_status = model::ContainerStatus::kRunning;
    t.containers.push_back(c);
    EXPECT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutTask(tx, t); }).ok());
    return t;
  }

  void StopTask(model::Task& t) {
    t.last_status = model::TaskStatus::kStopped;
    t.containers[0].last_status = model::ContainerStatus::kStopped;
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutTask(tx, t); }).ok());
  }

  std::optional<state::Object> Checkpoint() {
    std::optional<state::Object> out;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(out, tx.Get(kAwslogsCheckpointKind, kRegion, kTaskId));
      return Status::Ok();
    }).ok());
    return out;
  }

  std::vector<std::string>& Stream(const std::string& group = "g") {
    return sink_.streams[group + ":web/app/" + kTaskId];
  }

  kecs::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  FakeSink sink_;
  FakeClock clock_{1800000000};
  std::map<std::string, std::string> output_;
};

TEST_F(AwslogsShipperTest, ShipsLinesToThePrefixedStreamAndFinishesAfterTheStop) {
  sink_.groups.insert("g");
  model::Task t = MakeTask({{"awslogs-group", "g"}, {"awslogs-region", "eu-west-1"}, {"awslogs-stream-prefix", "web"}});
  auto shipper = Shipper();
  ASSERT_TRUE(shipper->Prepare(t).ok());
  EXPECT_TRUE(sink_.streams.count(std::string("g:web/app/") + kTaskId));  // made at start
  output_[std::string(kTaskId) + "/app"] = "one\ntwo\nthr";
  shipper->Pass();
  EXPECT_EQ(Stream(), (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(sink_.last_region, "eu-west-1");
  EXPECT_EQ(sink_.last_account, "000000000000");
  auto row = Checkpoint();
  ASSERT_TRUE(row);
  EXPECT_EQ(row->doc["containers"][0]["offset"], 8);
  EXPECT_EQ(row->status, "shipping");
  StopTask(t);
  shipper->Pass();
  EXPECT_EQ(Stream(), (std::vector<std::string>{"one", "two", "thr"}));
  row = Checkpoint();
  EXPECT_EQ(row->status, "done");
  EXPECT_EQ(row->doc["containers"][0]["offset"], 11);
  // Nothing more once done.
  int calls = sink_.calls;
  shipper->Pass();
  EXPECT_EQ(sink_.calls, calls);
}

TEST_F(AwslogsShipperTest, ANewShipperResumesFromTheCheckpointWithNoLossAndNoRepeat) {
  sink_.groups.insert("g");
  model::Task t = MakeTask({{"awslogs-group", "g"}, {"awslogs-stream-prefix", "web"}});
  std::string& out = output_[std::string(kTaskId) + "/app"];
  {
    auto shipper = Shipper();
    ASSERT_TRUE(shipper->Prepare(t).ok());
    out = "a1\na2\n";
    shipper->Pass();
  }
  out += "a3\na4\n";  // written while no shipper runs
  auto again = Shipper();
  ASSERT_TRUE(again->Prepare(t).ok());  // a repeated start keeps the offsets
  again->Pass();
  EXPECT_EQ(Stream(), (std::vector<std::string>{"a1", "a2", "a3", "a4"}));
}

TEST_F(AwslogsShipperTest, AHeldMultilineEventIsReadAgainAfterARestart) {
  sink_.groups.insert("g");
  model::Task t = MakeTask({{"awslogs-group", "g"}, {"awslogs-stream-prefix", "web"}, {"awslogs-multiline-pattern", "^START"}});
  std::string& out = output_[std::string(kTaskId) + "/app"];
  {
    auto shipper = Shipper();
    ASSERT_TRUE(shipper->Prepare(t).ok());
    out = "START 1\n more\nSTART 2\n held\n";
    shipper->Pass();
    EXPECT_EQ(Stream(), (std::vector<std::string>{"START 1\n more\n"}));
  }
  out += " still\n";
  auto again = Shipper();
  StopTask(t);
  again->Pass();
  EXPECT_EQ(Stream(), (std::vector<std::string>{"START 1\n more\n", "START 2\n held\n still\n"}));
}

TEST_F(AwslogsShipperTest, AMissingGroupFailsABlockingStartAndHoldsNonBlockingEvents) {
  model::Task t = MakeTask({{"awslogs-group", "missing"}, {"mode", "blocking"}});
  auto shipper = Shipper();
  Status st = shipper->Prepare(t);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(),
            "CannotStartContainerError: Error response from daemon: failed to initialize logging driver: failed to "
            "create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist.");

  model::Task nb = MakeTask({{"awslogs-group", "missing"}, {"awslogs-stream-prefix", "web"}});
  ASSERT_TRUE(shipper->Prepare(nb).ok());
  output_[std::string(kTaskId) + "/app"] = "kept\n";
  shipper->Pass();
  EXPECT_TRUE(Stream("missing").empty());
  EXPECT_EQ(Checkpoint()->doc["containers"][0]["offset"], 0);
  sink_.groups.insert("missing");  // the group appears: the held events go
  shipper->Pass();
  EXPECT_EQ(Stream("missing"), (std::vector<std::string>{"kept"}));
}

TEST_F(AwslogsShipperTest, CreateGroupMakesTheGroup) {
  model::Task t = MakeTask({{"awslogs-group", "new"}, {"awslogs-create-group", "true"}, {"mode", "blocking"}});
  auto shipper = Shipper();
  ASSERT_TRUE(shipper->Prepare(t).ok());
  EXPECT_TRUE(sink_.groups.count("new"));
}

TEST_F(AwslogsShipperTest, NonBlockingDropsTheOldestBacklogBeyondMaxBufferSize) {
  sink_.groups.insert("g");
  model::Task t = MakeTask({{"awslogs-group", "g"}, {"awslogs-stream-prefix", "web"}, {"max-buffer-size", "16"}});
  auto shipper = Shipper();
  ASSERT_TRUE(shipper->Prepare(t).ok());
  sink_.fail = true;
  output_[std::string(kTaskId) + "/app"] = "old-1\nold-2\nold-3\nnew-4\nnew-5\n";  // 30 bytes
  shipper->Pass();
  sink_.fail = false;
  shipper->Pass();
  // The last 16 bytes begin inside "old-3": that line goes too, whole lines are kept.
  EXPECT_EQ(Stream(), (std::vector<std::string>{"new-4", "new-5"}));
  EXPECT_EQ(Checkpoint()->doc["containers"][0]["dropped"], 18);
  EXPECT_EQ(shipper->stats().dropped_bytes, 18);
}

TEST_F(AwslogsShipperTest, BlockingNeverDropsAndLargeOutputGoesInBoundedBatches) {
  sink_.groups.insert("g");
  model::Task t = MakeTask({{"awslogs-group", "g"}, {"awslogs-stream-prefix", "web"}, {"mode", "blocking"}});
  AwslogsShipper::Options o;
  o.read_chunk = 64 * 1024;
  auto shipper = Shipper(o);
  ASSERT_TRUE(shipper->Prepare(t).ok());
  std::string& out = output_[std::string(kTaskId) + "/app"];
  for (int i = 0; i < 30000; ++i) out += "line " + std::to_string(i) + "\n";
  sink_.fail = true;
  shipper->Pass();
  sink_.fail = false;
  StopTask(t);
  for (int i = 0; i < 100 && Checkpoint()->status != "done"; ++i) shipper->Pass();
  ASSERT_EQ(Stream().size(), 30000u);
  EXPECT_EQ(Stream()[29999], "line 29999");
  EXPECT_EQ(shipper->stats().dropped_bytes, 0);
}

TEST_F(AwslogsShipperTest, RowsOfDeletedTasksGo) {
  sink_.groups.insert("g");
  model::Task t = MakeTask({{"awslogs-group", "g"}});
  auto shipper = Shipper();
  ASSERT_TRUE(shipper->Prepare(t).ok());
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return tx.Delete(model::kTask, kRegion, kTaskId).status(); }).ok());
  shipper->Pass();
  EXPECT_FALSE(Checkpoint());
}

}  // namespace
}  // namespace kecs::reconcile
