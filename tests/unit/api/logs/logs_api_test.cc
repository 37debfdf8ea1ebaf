// CloudWatch Logs: PutLogEvents' batch rules, and the operations against a temporary store
// through the registered handlers (tokens, retention and the sweep, the LogSink).
#include "api/logs/logs_api.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/router.h"
#include "model/shapes.h"
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::api::logs {
namespace {

constexpr const char* kRegion = "us-east-1";
constexpr const char* kAccount = "000000000000";
constexpr double kNow = 1700000000.0;
constexpr int64_t kNowMs = 1700000000000LL;
constexpr int64_t kHour = 3600 * 1000LL;
constexpr int64_t kDay = 24 * kHour;

std::string BatchError(const std::vector<BatchEvent>& events, std::optional<int64_t> retention = std::nullopt) {
  try {
    CheckBatch(events, kNowMs, retention);
  } catch (const AwsError& e) {
    EXPECT_EQ(e.code(), "InvalidParameterException");
    return e.message();
  }
  return "";
}

TEST(LogsBatchRulesTest, ChronologicalOrder) {
  EXPECT_EQ(BatchError({{kNowMs, "b"}, {kNowMs - 1, "a"}}),
            "Log events in a single PutLogEvents request must be in chronological order.");
  EXPECT_EQ(BatchError({{kNowMs - 1, "a"}, {kNowMs - 1, "b"}, {kNowMs, "c"}}), "");
}

TEST(LogsBatchRulesTest, Span) {
  EXPECT_EQ(BatchError({{kNowMs - kDay - 1, "a"}, {kNowMs, "b"}}),
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.");
  EXPECT_EQ(BatchError({{kNowMs - kDay, "a"}, {kNowMs, "b"}}), "");
}

TEST(LogsBatchRulesTest, Sizes) {
  std::string big(kMaxEventBytes - kEventOverhead, 'x');
  EXPECT_EQ(BatchError({{kNowMs, big}}), "");
  std::string too_big(kMaxEventBytes - kEventOverhead + 1, 'x');
  EXPECT_EQ(BatchError({{kNowMs, too_big}}), "Log event too large: 262145 bytes exceeds limit of 262144");
  // Four full events fit (4 * 262144 = 1048576); a fifth byte does not.
  std::vector<BatchEvent> four(4, BatchEvent{kNowMs, big});
  EXPECT_EQ(BatchError(four), "");
  four.push_back({kNowMs, "y"});
  EXPECT_EQ(BatchError(four), "Upload too large: 1048603 bytes exceeds limit of 1048576");
  // UTF-8 bytes count, not characters.
  std::string utf8;
  for (int i = 0; i < 87373; ++i) utf8 += "\xE2\x82\xAC";  // 262119 bytes
  EXPECT_EQ(BatchError({{kNowMs, utf8}}), "Log event too large: 262145 bytes exceeds limit of 262144");
  std::vector<BatchEvent> many(10001, BatchEvent{kNowMs, "m"});
  EXPECT_NE(BatchError(many), "");
  many.pop_back();
  EXPECT_EQ(BatchError(many), "");
  EXPECT_NE(BatchError({}), "");
}

TEST(LogsBatchRulesTest, RejectedEvents) {
  std::vector<BatchEvent> ev = {{kNowMs - 15 * kDay, "old"}, {kNowMs - 15 * kDay + 1, "old2"}};
  // 15 days old is too old; the batch spans little, so it is checked event by event.
  BatchVerdict v = CheckBatch(ev, kNowMs, std::nullopt);
  EXPECT_EQ(v.too_old_end, 2);
  EXPECT_EQ(v.first, 2u);
  EXPECT_EQ(v.last, 2u);

  ev = {{kNowMs - kDay - 10, "expired"}, {kNowMs - kDay - 5, "expired"}, {kNowMs - kDay + 5, "kept"}};
  v = CheckBatch(ev, kNowMs, 1);
  EXPECT_EQ(v.expired_end, 2);
  EXPECT_FALSE(v.too_old_end);
  EXPECT_EQ(v.first, 2u);
  EXPECT_EQ(v.last, 3u);

  ev = {{kNowMs, "now"}, {kNowMs + 2 * kHour, "edge"}, {kNowMs + 2 * kHour + 1, "new"}, {kNowMs + 3 * kHour, "new"}};
  v = CheckBatch(ev, kNowMs, std::nullopt);
  EXPECT_EQ(v.too_new_start, 2);
  EXPECT_EQ(v.first, 0u);
  EXPECT_EQ(v.last, 2u);
}

TEST(LogsBatchRulesTest, RetentionValues) {
  for (int64_t d : {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                    3288, 3653}) {
    EXPECT_TRUE(ValidRetention(d)) << d;
  }
  for (int64_t d : {0, 2, 4, 8, 366, 3654, -1}) EXPECT_FALSE(ValidRetention(d)) << d;
}

class LogsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    LogsApi::Options o;
    o.sweep_batch = 3;
    o.filter_scan_budget = 1000;
    api_ = std::make_unique<LogsApi>(*store_, kAccount, o, clock_);
    service_ = std::make_shared<Service>(model::LogsModel(), ErrorStyle{});
    api_->RegisterAll(*service_);
  }

  Json Call(const std::string& op, const Json& in) {
    RequestContext ctx;
    ctx.region = kRegion;
    ctx.account_id = kAccount;
    ctx.operation = op;
    ctx.now = clock_.Now();
    const OperationFn* fn = service_->Find(op);
    EXPECT_NE(fn, nullptr) << op;
    return (*fn)(ctx, in);
  }

  std::pair<std::string, std::string> Fail(const std::string& op, const Json& in) {
    try {
      Call(op, in);
    } catch (const AwsError& e) {
      return {e.code(), e.message()};
    }
    return {"", ""};
  }

  void Put(const std::string& group, const std::string& stream, std::vector<std::pair<int64_t, std::string>> ev) {
    Json list = Json::array();
    for (auto& [ts, m] : ev) list.push_back({{"timestamp", ts}, {"message", m}});
    Call("PutLogEvents", {{"logGroupName", group}, {"logStreamName", stream}, {"logEvents", list}});
  }

  int64_t EventRows() {
    int64_t n = 0;
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      auto s = tx.conn().Prepare("SELECT count(*) FROM log_events");
      if (s->Step()) n = s->Int(0);
      return Status::Ok();
    }).ok());
    return n;
  }

  testing::TempDir dir_;
  FakeClock clock_{kNow};
  std::unique_ptr<state::Store> store_;
  std::unique_ptr<LogsApi> api_;
  std::shared_ptr<Service> service_;
};

TEST_F(LogsApiTest, GroupsAndStreams) {
  Call("CreateLogGroup", {{"logGroupName", "/ecs/web"}, {"tags", {{"team", "a"}}}});
  EXPECT_EQ(Fail("CreateLogGroup", {{"logGroupName", "/ecs/web"}}).first, "ResourceAlreadyExistsException");
  Call("CreateLogStream", {{"logGroupName", "/ecs/web"}, {"logStreamName", "s1"}});
  EXPECT_EQ(Fail("CreateLogStream", {{"logGroupName", "/ecs/web"}, {"logStreamName", "s1"}}).first,
            "ResourceAlreadyExistsException");
  EXPECT_EQ(Fail("CreateLogStream", {{"logGroupName", "/nope"}, {"logStreamName", "s1"}}),
            std::make_pair(std::string("ResourceNotFoundException"),
                           std::string("The specified log group does not exist.")));
  Json g = Call("DescribeLogGroups", {{"logGroupNamePrefix", "/ecs"}})["logGroups"][0];
  EXPECT_EQ(g["arn"], "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web:*");
  EXPECT_EQ(g["logGroupArn"], "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web");
  EXPECT_EQ(g["logGroupClass"], "STANDARD");
  EXPECT_EQ(g["storedBytes"], 0);
  Put("/ecs/web", "s1", {{kNowMs - 10, "hello"}, {kNowMs, "world!"}});
  g = Call("DescribeLogGroups", {{"logGroupNamePattern", "WEB"}})["logGroups"][0];
  EXPECT_EQ(g["storedBytes"], 11);
  Json s = Call("DescribeLogStreams", {{"logGroupName", "/ecs/web"}})["logStreams"][0];
  EXPECT_EQ(s["firstEventTimestamp"], kNowMs - 10);
  EXPECT_EQ(s["lastEventTimestamp"], kNowMs);
  EXPECT_EQ(s["lastIngestionTime"], kNowMs);
  EXPECT_EQ(Call("ListTagsLogGroup", {{"logGroupName", "/ecs/web"}})["tags"], Json({{"team", "a"}}));
  Call("CreateLogGroup", {{"logGroupName", "/ia"}, {"logGroupClass", "INFREQUENT_ACCESS"}, {"kmsKeyId", "k"}});
  Json ia = Call("DescribeLogGroups", {{"logGroupNamePrefix", "/ia"}})["logGroups"][0];
  EXPECT_EQ(ia["logGroupClass"], "INFREQUENT_ACCESS");
  EXPECT_EQ(ia["kmsKeyId"], "k");
  EXPECT_EQ(Fail("DescribeLogGroups", {{"logGroupNamePrefix", "a"}, {"logGroupNamePattern", "b"}}).first,
            "InvalidParameterException");
}

TEST_F(LogsApiTest, GetLogEventsTokens) {
  Call("CreateLogGroup", {{"logGroupName", "g"}});
  Call("CreateLogStream", {{"logGroupName", "g"}, {"logStreamName", "s"}});
  Put("g", "s", {{kNowMs - 5, "e1"}, {kNowMs - 4, "e2"}, {kNowMs - 3, "e3"}, {kNowMs - 2, "e4"}, {kNowMs - 1, "e5"}});
  Json in = {{"logGroupName", "g"}, {"logStreamName", "s"}, {"limit", 2}};
  // Default: the latest events.
  Json last = Call("GetLogEvents", in);
  ASSERT_EQ(last["events"].size(), 2u);
  EXPECT_EQ(last["events"][0]["message"], "e4");
  EXPECT_EQ(last["events"][1]["message"], "e5");
  // Backward from there.
  Json older = Call("GetLogEvents", {{"logGroupName", "g"}, {"logStreamName", "s"}, {"limit", 2},
                                     {"nextToken", last["nextBackwardToken"]}});
  EXPECT_EQ(older["events"][0]["message"], "e2");
  EXPECT_EQ(older["events"][1]["message"], "e3");
  // From the head, forward to the end, where the same token comes back.
  in["startFromHead"] = true;
  Json page = Call("GetLogEvents", in);
  std::vector<std::string> seen;
  std::string token;
  for (int i = 0; i < 10; ++i) {
    for (const auto& e : page["events"]) seen.push_back(e["message"]);
    if (page["nextForwardToken"] == token) break;
    token = page["nextForwardToken"];
    EXPECT_TRUE(token.starts_with("f/"));
    page = Call("GetLogEvents", {{"logGroupName", "g"}, {"logStreamName", "s"}, {"limit", 2}, {"nextToken", token}});
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"e1", "e2", "e3", "e4", "e5"}));
  EXPECT_EQ(page["nextForwardToken"], token);
  EXPECT_TRUE(page["events"].empty());
  EXPECT_EQ(Fail("GetLogEvents", {{"logGroupName", "g"}, {"logStreamName", "s"}, {"nextToken", "junk"}}).first,
            "InvalidParameterException");
  EXPECT_EQ(Fail("GetLogEvents", {{"logGroupName", "g"}, {"logStreamName", "x"}}).second,
            "The specified log stream does not exist.");
}

TEST_F(LogsApiTest, FilterLogEventsPagesAndPatterns) {
  Call("CreateLogGroup", {{"logGroupName", "g"}});
  Call("CreateLogStream", {{"logGroupName", "g"}, {"logStreamName", "a"}});
  Call("CreateLogStream", {{"logGroupName", "g"}, {"logStreamName", "b"}});
  Put("g", "a", {{kNowMs - 10, "ERROR one"}, {kNowMs - 8, "INFO two"}, {kNowMs - 6, R"({"level":"ERROR","n":3})"}});
  Put("g", "b", {{kNowMs - 9, "ERROR three"}, {kNowMs - 7, "WARN four"}});
  Json all = Call("FilterLogEvents", {{"logGroupName", "g"}});
  ASSERT_EQ(all["events"].size(), 5u);
  EXPECT_EQ(all["events"][1]["logStreamName"], "b");  // interleaved by time
  EXPECT_FALSE(all.contains("nextToken"));
  Json errors = Call("FilterLogEvents", {{"logGroupName", "g"}, {"filterPattern", "ERROR"}});
  EXPECT_EQ(errors["events"].size(), 3u);
  Json json = Call("FilterLogEvents", {{"logGroupName", "g"}, {"filterPattern", "{ $.n > 2 }"}});
  EXPECT_EQ(json["events"].size(), 1u);
  Json only_b = Call("FilterLogEvents", {{"logGroupIdentifier", "arn:aws:logs:us-east-1:000000000000:log-group:g"},
                                         {"logStreamNames", {"b"}}});
  EXPECT_EQ(only_b["events"].size(), 2u);
  // Pages of two, in order, with no event twice.
  std::vector<std::string> ids;
  Json in = {{"logGroupName", "g"}, {"limit", 2}};
  for (int i = 0; i < 10; ++i) {
    Json p = Call("FilterLogEvents", in);
    for (const auto& e : p["events"]) ids.push_back(e["eventId"]);
    if (!p.contains("nextToken")) break;
    in["nextToken"] = p["nextToken"];
  }
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(Fail("FilterLogEvents", {{"logGroupName", "g"}, {"filterPattern", "a@b"}}).second,
            "Invalid character(s) in term 'a@b'");
  EXPECT_EQ(Fail("FilterLogEvents", {{"logGroupName", "g"}, {"nextToken", "bad"}}).first,
            "InvalidParameterException");
}

// AWS caps a FilterLogEvents response at 1 MB (message + 26 bytes per event): the event
// that would pass it starts the next page.
TEST_F(LogsApiTest, FilterLogEventsStopsAtOneMebibyte) {
  Call("CreateLogGroup", {{"logGroupName", "g"}});
  Call("CreateLogStream", {{"logGroupName", "g"}, {"logStreamName", "a"}});
  const std::string big(200000, 'x');
  Put("g", "a", {{kNowMs - 60, big}, {kNowMs - 50, big}, {kNowMs - 40, big}});
  Put("g", "a", {{kNowMs - 30, big}, {kNowMs - 20, big}, {kNowMs - 10, big}});
  Json first = Call("FilterLogEvents", {{"logGroupName", "g"}});
  EXPECT_EQ(first["events"].size(), 5u);  // 5 * 200026 fits, 6 * 200026 does not
  ASSERT_TRUE(first.contains("nextToken"));
  Json second = Call("FilterLogEvents", {{"logGroupName", "g"}, {"nextToken", first["nextToken"]}});
  ASSERT_EQ(second["events"].size(), 1u);
  EXPECT_EQ(second["events"][0]["timestamp"], kNowMs - 10);
  EXPECT_FALSE(second.contains("nextToken"));
}

// Rows the pattern's required terms reject still count toward the scan budget (1000 here):
// a rare term returns a nextToken instead of reading the whole group in one call.
TEST_F(LogsApiTest, FilterLogEventsCountsRejectedRowsTowardTheBudget) {
  Call("CreateLogGroup", {{"logGroupName", "g"}});
  Call("CreateLogStream", {{"logGroupName", "g"}, {"logStreamName", "a"}});
  std::vector<std::pair<int64_t, std::string>> ev;
  for (int i = 0; i < 1500; ++i) ev.push_back({kNowMs - 2000 + i, "hay"});
  ev.push_back({kNowMs - 1, "needle"});
  Put("g", "a", ev);
  Json in = {{"logGroupName", "g"}, {"filterPattern", "needle"}};
  Json first = Call("FilterLogEvents", in);
  EXPECT_EQ(first["events"].size(), 0u);
  ASSERT_TRUE(first.contains("nextToken"));
  in["nextToken"] = first["nextToken"];
  Json second = Call("FilterLogEvents", in);
  ASSERT_EQ(second["events"].size(), 1u);
  EXPECT_EQ(second["events"][0]["message"], "needle");
  EXPECT_FALSE(second.contains("nextToken"));
}

TEST_F(LogsApiTest, RetentionHidesThenSweeps) {
  Call("CreateLogGroup", {{"logGroupName", "g"}});
  Call("CreateLogStream", {{"logGroupName", "g"}, {"logStreamName", "s"}});
  std::vector<std::pair<int64_t, std::string>> old;
  for (int i = 0; i < 7; ++i) old.push_back({kNowMs - 2 * kDay + i, "old"});
  Put("g", "s", old);
  Put("g", "s", {{kNowMs - 1000, "new"}});
  EXPECT_EQ(Fail("PutRetentionPolicy", {{"logGroupName", "g"}, {"retentionInDays", 2}}).first,
            "InvalidParameterException");
  Call("PutRetentionPolicy", {{"logGroupName", "g"}, {"retentionInDays", 1}});
  // Hidden at once...
  EXPECT_EQ(Call("FilterLogEvents", {{"logGroupName", "g"}})["events"].size(), 1u);
  EXPECT_EQ(Call("GetLogEvents", {{"logGroupName", "g"}, {"logStreamName", "s"}})["events"].size(), 1u);
  EXPECT_EQ(EventRows(), 8);
  // ...and deleted by the sweep, in batches of three.
  auto n = api_->Sweep();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 7);
  EXPECT_EQ(EventRows(), 1);
  EXPECT_EQ(Call("DescribeLogGroups", {})["logGroups"][0]["storedBytes"], 3);
  // An event older than the retention is now rejected as expired.
  Json r = Call("PutLogEvents", {{"logGroupName", "g"}, {"logStreamName", "s"},
                                 {"logEvents", {{{"timestamp", kNowMs - 2 * kDay}, {"message", "late"}}}}});
  EXPECT_EQ(r["rejectedLogEventsInfo"]["expiredLogEventEndIndex"], 1);
  Call("DeleteRetentionPolicy", {{"logGroupName", "g"}});
  EXPECT_FALSE(Call("DescribeLogGroups", {})["logGroups"][0].contains("retentionInDays"));
}

TEST_F(LogsApiTest, DeletedGroupsArePurged) {
  Call("CreateLogGroup", {{"logGroupName", "g"}});
  Call("CreateLogStream", {{"logGroupName", "g"}, {"logStreamName", "s"}});
  Put("g", "s", {{kNowMs - 3, "a"}, {kNowMs - 2, "b"}, {kNowMs - 1, "c"}, {kNowMs, "d"}});
  Call("DeleteLogGroup", {{"logGroupName", "g"}});
  Call("CreateLogGroup", {{"logGroupName", "g"}});
  Call("CreateLogStream", {{"logGroupName", "g"}, {"logStreamName", "s"}});
  EXPECT_TRUE(Call("FilterLogEvents", {{"logGroupName", "g"}})["events"].empty());
  EXPECT_TRUE(Call("GetLogEvents", {{"logGroupName", "g"}, {"logStreamName", "s"}})["events"].empty());
  auto n = api_->Sweep();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4);
  EXPECT_EQ(EventRows(), 0);
  EXPECT_EQ(Fail("DeleteLogGroup", {{"logGroupName", "zz"}}).first, "ResourceNotFoundException");
}

TEST_F(LogsApiTest, SinkAppends) {
  std::vector<reconcile::LogEventIn> ev = {{kNowMs - 20 * kDay, "too old"}, {kNowMs - 2, "one"}, {kNowMs - 1, "two"}};
  auto missing = api_->Append(kRegion, kAccount, "/ecs/app", "p/c/t", false, ev);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  auto r = api_->Append(kRegion, kAccount, "/ecs/app", "p/c/t", true, ev);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, 2u);
  Json got = Call("GetLogEvents", {{"logGroupName", "/ecs/app"}, {"logStreamName", "p/c/t"}, {"startFromHead", true}});
  ASSERT_EQ(got["events"].size(), 2u);
  EXPECT_EQ(got["events"][1]["message"], "two");
}

// Append runs on the shipper's thread: a database error comes back as a Status (the
// write rolled back), never as an exception that would end the daemon.
TEST_F(LogsApiTest, SinkAppendReturnsDatabaseErrors) {
  ASSERT_TRUE(store_->Write([](state::Tx& tx) { return tx.conn().Exec("DROP TABLE log_events"); }).ok());
  std::vector<reconcile::LogEventIn> ev = {{kNowMs - 1, "one"}};
  std::optional<Result<size_t>> r;
  EXPECT_NO_THROW(r.emplace(api_->Append(kRegion, kAccount, "/ecs/app", "p/c/t", true, ev)));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->ok());
  // Nothing of the failed write stays: the group it would have made is not there.
  EXPECT_EQ(Fail("DescribeLogStreams", {{"logGroupName", "/ecs/app"}}).first, "ResourceNotFoundException");
}

TEST_F(LogsApiTest, Tags) {
  Call("CreateLogGroup", {{"logGroupName", "g"}});
  const std::string arn = "arn:aws:logs:us-east-1:000000000000:log-group:g";
  Call("TagResource", {{"resourceArn", arn}, {"tags", {{"a", "1"}, {"b", "2"}}}});
  Call("UntagResource", {{"resourceArn", arn}, {"tagKeys", {"a"}}});
  EXPECT_EQ(Call("ListTagsForResource", {{"resourceArn", arn}})["tags"], Json({{"b", "2"}}));
  Call("TagLogGroup", {{"logGroupName", "g"}, {"tags", {{"c", "3"}}}});
  Call("UntagLogGroup", {{"logGroupName", "g"}, {"tags", {"b"}}});
  EXPECT_EQ(Call("ListTagsLogGroup", {{"logGroupName", "g"}})["tags"], Json({{"c", "3"}}));
  EXPECT_EQ(Fail("ListTagsForResource", {{"resourceArn", arn + "x"}}).first, "ResourceNotFoundException");
  EXPECT_EQ(Fail("TagResource", {{"resourceArn", "nope"}, {"tags", {{"a", "1"}}}}).first,
            "InvalidParameterException");
}

}  // namespace
}  // namespace kecs::api::logs
