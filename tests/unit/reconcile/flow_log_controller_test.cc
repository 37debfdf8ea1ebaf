// The flow log controller over a fake FlowSource and LogSink, with real EC2 handlers for
// the VPC, its interfaces and flow logs: attribution to interfaces (both ends of an
// accepted flow, the dropping rule's interface or subnet for a reject), traffic types and
// scopes, aggregation per window, the stream names, the resolver left out.
#include "reconcile/flow_log_controller.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/metrics.h"
#include "unit/support/ec2_handlers.h"

namespace kecs::reconcile {
namespace {

class FakeSource : public runtime::FlowSource {
 public:
  Status Collect(const std::string& vpc, bool dump, std::vector<net::FlowSample>& out) override {
    if (!has_router) return NotFound("no router");
    for (auto& s : drops[vpc]) out.push_back(s);
    drops[vpc].clear();
    if (dump) {
      ++dumps;
      for (auto& s : flows[vpc]) out.push_back(s);
      flows[vpc].clear();
    }
    return Status::Ok();
  }
  void Retain(const std::set<std::string>& vpcs) override { retained = vpcs; }

  bool has_router = true;
  int dumps = 0;
  std::map<std::string, std::vector<net::FlowSample>> drops, flows;
  std::set<std::string> retained;
};

class FakeSink : public LogSink {
 public:
  Result<size_t> Append(std::string_view, std::string_view, std::string_view group, std::string_view stream, bool,
                        std::span<const LogEventIn> events) override {
    for (const auto& e : events) lines[std::string(group) + "/" + std::string(stream)].push_back(e.message);
    return events.size();
  }
  std::map<std::string, std::vector<std::string>> lines;
};

net::FlowSample Flow(const std::string& src, const std::string& dst, int sport, int dport, uint64_t packets,
                     uint64_t bytes) {
  net::FlowSample s;
  s.src = src;
  s.dst = dst;
  s.src_port = sport;
  s.dst_port = dport;
  s.protocol = 6;
  s.packets = packets;
  s.bytes = bytes;
  return s;
}

net::FlowSample Drop(const std::string& prefix, const std::string& src, const std::string& dst, int dport) {
  net::FlowSample s = Flow(src, dst, 50000, dport, 1, 60);
  s.accepted = false;
  s.prefix = prefix;
  s.tcp_flags = 2;
  return s;
}

class FlowLogControllerTest : public testing::Ec2HandlersTest {
 protected:
  void SetUp() override {
    Ec2HandlersTest::SetUp();
    vpc_ = Call("CreateVpc", {{"CidrBlock", "10.0.0.0/16"}})["Vpc"]["VpcId"];
    a_sub_ = Call("CreateSubnet", {{"VpcId", vpc_}, {"CidrBlock", "10.0.1.0/24"}})["Subnet"]["SubnetId"];
    b_sub_ = Call("CreateSubnet", {{"VpcId", vpc_}, {"CidrBlock", "10.0.2.0/24"}})["Subnet"]["SubnetId"];
    a_ = Call("CreateNetworkInterface", {{"SubnetId", a_sub_}, {"PrivateIpAddress", "10.0.1.10"}})
             ["NetworkInterface"]["NetworkInterfaceId"];
    b_ = Call("CreateNetworkInterface", {{"SubnetId", b_sub_}, {"PrivateIpAddress", "10.0.2.10"}})
             ["NetworkInterface"]["NetworkInterfaceId"];
    controller_ = std::make_unique<FlowLogController>(*store_, &source_, sink_, FlowLogController::Options{},
                                                      clock_);
  }

  std::string CreateFlowLog(const std::string& type, const std::string& id, const std::string& traffic,
                            const std::string& format = "") {
    Json in = {{"ResourceType", type}, {"ResourceIds", Json::array({id})}, {"TrafficType", traffic},
               {"LogGroupName", "flows"}, {"DeliverLogsPermissionArn", "arn:aws:iam::000000000000:role/r"},
               {"MaxAggregationInterval", 2}};
    if (!format.empty()) in["LogFormat"] = format;
    return Call("CreateFlowLogs", in)["FlowLogIds"][0];
  }

  // Passes a second apart until `seconds` have passed.
  void Run(int seconds) {
    for (int i = 0; i < seconds; ++i) {
      clock_.Advance(1);
      controller_->Pass();
    }
  }

  std::string vpc_, a_sub_, b_sub_, a_, b_;
  FakeSource source_;
  FakeSink sink_;
  FakeClock clock_{1700000000};
  std::unique_ptr<FlowLogController> controller_;
};

TEST_F(FlowLogControllerTest, AnAcceptedFlowIsRecordedAtBothInterfacesWithItsCounts) {
  CreateFlowLog("VPC", vpc_, "ALL");
  controller_->Pass();  // opens the window
  EXPECT_EQ(source_.retained, (std::set<std::string>{vpc_}));
  source_.flows[vpc_] = {Flow("10.0.1.10", "10.0.2.10", 40000, 80, 5, 320),
                         Flow("10.0.2.10", "10.0.1.10", 80, 40000, 4, 1200)};
  Run(2);
  auto a = sink_.lines["flows/" + a_ + "-all"];
  auto b = sink_.lines["flows/" + b_ + "-all"];
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  std::string out = "2 000000000000 " + a_ + " 10.0.1.10 10.0.2.10 40000 80 6 5 320 ";
  EXPECT_EQ(a[0].substr(0, out.size()), out);
  EXPECT_EQ(a[0].substr(a[0].size() - 9), "ACCEPT OK");
  std::string in = "2 000000000000 " + b_ + " 10.0.1.10 10.0.2.10 40000 80 6 5 320 ";
  EXPECT_TRUE(b[0].starts_with(in) || b[1].starts_with(in)) << b[0] << "\n" << b[1];
}

TEST_F(FlowLogControllerTest, RejectsGoToTheInterfaceOrSubnetTheRuleNames) {
  CreateFlowLog("VPC", vpc_, "REJECT", "${interface-id} ${srcaddr} ${dstaddr} ${dstport} ${packets} ${action} "
                                       "${flow-direction} ${tcp-flags}");
  controller_->Pass();
  source_.drops[vpc_] = {Drop("kf:i:" + b_, "10.0.1.10", "10.0.2.10", 22), Drop("kf:i:" + b_, "10.0.1.10", "10.0.2.10", 22),
                         Drop("kf:ai:" + b_sub_, "10.0.1.10", "10.0.2.10", 23),
                         Drop("kf:ao:" + a_sub_, "10.0.1.10", "10.0.2.10", 24)};
  source_.flows[vpc_] = {Flow("10.0.1.10", "10.0.2.10", 40000, 80, 5, 320)};  // REJECT only: left out
  Run(2);
  auto b = sink_.lines["flows/" + b_ + "-reject"];
  auto a = sink_.lines["flows/" + a_ + "-reject"];
  EXPECT_EQ(b, (std::vector<std::string>{b_ + " 10.0.1.10 10.0.2.10 22 2 REJECT ingress 2",
                                         b_ + " 10.0.1.10 10.0.2.10 23 1 REJECT ingress 2"}));
  EXPECT_EQ(a, (std::vector<std::string>{a_ + " 10.0.1.10 10.0.2.10 24 1 REJECT egress 2"}));
}

TEST_F(FlowLogControllerTest, ScopesTrafficTypesAndTheResolver) {
  CreateFlowLog("NetworkInterface", a_, "ACCEPT");
  CreateFlowLog("Subnet", b_sub_, "REJECT");
  controller_->Pass();
  source_.flows[vpc_] = {Flow("10.0.1.10", "10.0.2.10", 40000, 80, 5, 320),
                         Flow("10.0.1.10", "10.0.0.2", 40001, 53, 1, 60)};  // the VPC resolver
  source_.drops[vpc_] = {Drop("kf:e:" + a_, "10.0.1.10", "10.0.2.10", 25)};
  Run(2);
  EXPECT_EQ(sink_.lines["flows/" + a_ + "-accept"].size(), 1u);
  EXPECT_TRUE(sink_.lines["flows/" + b_ + "-accept"].empty());
  EXPECT_TRUE(sink_.lines["flows/" + b_ + "-reject"].empty());  // the drop is a_'s, in the other subnet
  EXPECT_TRUE(sink_.lines["flows/" + a_ + "-reject"].empty());  // a_'s flow log takes ACCEPT only
}

TEST_F(FlowLogControllerTest, NothingIsDeliveredBeforeTheWindowEndsOrWithoutARouter) {
  CreateFlowLog("VPC", vpc_, "ALL");
  source_.has_router = false;
  Run(3);
  EXPECT_TRUE(sink_.lines.empty());
  source_.has_router = true;
  source_.drops[vpc_] = {Drop("kf:i:" + b_, "10.0.1.10", "10.0.2.10", 22)};
  clock_.Advance(0.5);
  controller_->Pass();
  EXPECT_TRUE(sink_.lines.empty());
  Run(2);
  EXPECT_EQ(sink_.lines["flows/" + b_ + "-all"].size(), 1u);
  // A deleted flow log's VPC is no longer captured.
  std::string id = Call("DescribeFlowLogs", Json::object())["FlowLogs"][0]["FlowLogId"];
  Call("DeleteFlowLogs", {{"FlowLogIds", Json::array({id})}});
  controller_->Pass();
  EXPECT_TRUE(source_.retained.empty());
}

TEST_F(FlowLogControllerTest, FlowMetricsCountNewFlowsAndDropsByReason) {
  FlowLogController::Options o;
  o.metrics = true;
  controller_ = std::make_unique<FlowLogController>(*store_, &source_, sink_, o, clock_);
  controller_->Pass();
  EXPECT_TRUE(source_.retained.empty());  // no ENI in use, no flow log: nothing captured
  CreateFlowLog("VPC", vpc_, "ALL");
  controller_->Pass();
  net::FlowSample accepted = Flow("10.0.1.10", "10.0.2.10", 40000, 80, 5, 320);
  accepted.new_flow = true;
  net::FlowSample from_host = Flow("100.127.0.1", "10.0.2.10", 40001, 80, 1, 60);
  from_host.new_flow = true;
  source_.flows[vpc_] = {accepted, Flow("10.0.2.10", "10.0.1.10", 80, 40000, 4, 1200), from_host};
  source_.drops[vpc_] = {Drop("kf:i:" + b_, "10.0.1.10", "10.0.2.10", 22), Drop("kf:i:" + b_, "10.0.1.10", "10.0.2.10", 22),
                         Drop("kf:ao:" + a_sub_, "10.0.1.10", "10.0.2.10", 24)};
  Run(2);
  const std::string text = metrics::Scrape();
  auto has = [&](const std::string& line) { return text.find(line) != std::string::npos; };
  EXPECT_TRUE(has("kecs_flows_total{destination=\"vpc\",source=\"vpc\",verdict=\"ACCEPT\"} 1")) << text;
  EXPECT_TRUE(has("kecs_flows_total{destination=\"vpc\",source=\"host\",verdict=\"ACCEPT\"} 1")) << text;
  EXPECT_TRUE(has("kecs_flows_total{destination=\"vpc\",source=\"vpc\",verdict=\"REJECT\"} 2")) << text;
  EXPECT_TRUE(has("kecs_drops_packets_total{eni=\"" + b_ + "\",direction=\"ingress\",reason=\"security_group\"} 2"))
      << text;
  EXPECT_TRUE(has("kecs_drops_bytes_total{eni=\"" + a_ + "\",direction=\"egress\",reason=\"network_acl\"} 60"))
      << text;
  metrics::ForgetEni(a_);
  metrics::ForgetEni(b_);
}

}  // namespace
}  // namespace kecs::reconcile
