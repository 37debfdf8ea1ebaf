// CreateFlowLogs, DescribeFlowLogs and DeleteFlowLogs through the real EC2 handlers: what
// is stored, AWS's refusals and its Unsuccessful lists, filters, --strict's intervals.
#include <gtest/gtest.h>

#include <string>

#include "net/domain/flow_log.h"
#include "unit/support/ec2_handlers.h"

namespace kecs::api::ec2 {
namespace {

class FlowLogsTest : public testing::Ec2HandlersTest {
 protected:
  void SetUp() override {
    Ec2HandlersTest::SetUp();
    vpc_ = Call("CreateVpc", {{"CidrBlock", "10.0.0.0/16"}})["Vpc"]["VpcId"];
    subnet_ = Call("CreateSubnet", {{"VpcId", vpc_}, {"CidrBlock", "10.0.1.0/24"}})["Subnet"]["SubnetId"];
  }

  Json Cwl(const std::string& type, const std::string& id, const std::string& traffic = "ALL") {
    return {{"ResourceType", type},
            {"ResourceIds", Json::array({id})},
            {"TrafficType", traffic},
            {"LogGroupName", "flows"},
            {"DeliverLogsPermissionArn", "arn:aws:iam::000000000000:role/flows"}};
  }

  std::string vpc_, subnet_;
};

TEST_F(FlowLogsTest, CreatesDescribesAndDeletesAVpcFlowLog) {
  Json in = Cwl("VPC", vpc_);
  in["TagSpecifications"] = {{{"ResourceType", "vpc-flow-log"}, {"Tags", {{{"Key", "team"}, {"Value", "net"}}}}}};
  Json out = Call("CreateFlowLogs", in);
  ASSERT_EQ(out["FlowLogIds"].size(), 1u);
  EXPECT_TRUE(out["Unsuccessful"].empty());
  std::string id = out["FlowLogIds"][0];
  EXPECT_EQ(id.substr(0, 3), "fl-");
  Json fl = Call("DescribeFlowLogs", Json::object())["FlowLogs"];
  ASSERT_EQ(fl.size(), 1u);
  EXPECT_EQ(fl[0]["FlowLogId"], id);
  EXPECT_EQ(fl[0]["ResourceId"], vpc_);
  EXPECT_EQ(fl[0]["TrafficType"], "ALL");
  EXPECT_EQ(fl[0]["LogDestinationType"], "cloud-watch-logs");
  EXPECT_EQ(fl[0]["LogGroupName"], "flows");
  EXPECT_EQ(fl[0]["LogDestination"], "arn:aws:logs:us-east-1:000000000000:log-group:flows");
  EXPECT_EQ(fl[0]["MaxAggregationInterval"], 600);
  EXPECT_EQ(fl[0]["FlowLogStatus"], "ACTIVE");
  EXPECT_EQ(fl[0]["DeliverLogsStatus"], "SUCCESS");
  EXPECT_EQ(fl[0]["LogFormat"], net::kDefaultFlowLogFormat);
  EXPECT_EQ(fl[0]["Tags"][0]["Key"], "team");
  EXPECT_FALSE(fl[0].contains("kecs:vpc"));
  Json del = Call("DeleteFlowLogs", {{"FlowLogIds", Json::array({id, "fl-0123456789abcdef0"})}});
  ASSERT_EQ(del["Unsuccessful"].size(), 1u);
  EXPECT_EQ(del["Unsuccessful"][0]["ResourceId"], "fl-0123456789abcdef0");
  EXPECT_EQ(del["Unsuccessful"][0]["Error"]["Code"], "InvalidFlowLogId.NotFound");
  EXPECT_TRUE(Call("DescribeFlowLogs", Json::object())["FlowLogs"].empty());
}

TEST_F(FlowLogsTest, AMissingResourceIsUnsuccessfulAndTheOthersAreMade) {
  Json in = Cwl("Subnet", subnet_);
  in["ResourceIds"].push_back("subnet-0123456789abcdef0");
  Json out = Call("CreateFlowLogs", in);
  EXPECT_EQ(out["FlowLogIds"].size(), 1u);
  ASSERT_EQ(out["Unsuccessful"].size(), 1u);
  EXPECT_EQ(out["Unsuccessful"][0]["ResourceId"], "subnet-0123456789abcdef0");
  EXPECT_EQ(out["Unsuccessful"][0]["Error"]["Code"], "InvalidSubnetID.NotFound");
  Json eni = Call("CreateFlowLogs", Cwl("NetworkInterface", "eni-0123456789abcdef0"));
  EXPECT_EQ(eni["Unsuccessful"][0]["Error"]["Code"], "InvalidNetworkInterfaceID.NotFound");
}

TEST_F(FlowLogsTest, TheSameConfigurationTwiceIsUnsuccessful) {
  Call("CreateFlowLogs", Cwl("VPC", vpc_));
  Json again = Call("CreateFlowLogs", Cwl("VPC", vpc_));
  EXPECT_TRUE(again["FlowLogIds"].empty());
  EXPECT_EQ(again["Unsuccessful"][0]["Error"]["Code"], "FlowLogAlreadyExists");
  // Another traffic type is another flow log.
  EXPECT_EQ(Call("CreateFlowLogs", Cwl("VPC", vpc_, "REJECT"))["FlowLogIds"].size(), 1u);
}

TEST_F(FlowLogsTest, RefusesWhatAwsRefuses) {
  Json no_role = Cwl("VPC", vpc_);
  no_role.erase("DeliverLogsPermissionArn");
  EXPECT_EQ(Refusal("CreateFlowLogs", no_role).substr(0, 16), "InvalidParameter");
  Json both = Cwl("VPC", vpc_);
  both["LogDestination"] = "arn:aws:logs:us-east-1:000000000000:log-group:x";
  EXPECT_EQ(Refusal("CreateFlowLogs", both),
            "InvalidParameter: Please only provide LogGroupName or only provide LogDestination.");
  Json format = Cwl("VPC", vpc_);
  format["LogFormat"] = "${srcaddr} ${bogus}";
  EXPECT_EQ(Refusal("CreateFlowLogs", format), "InvalidParameter: LogFormat is invalid: unknown field ${bogus}.");
  Json firehose = Cwl("VPC", vpc_);
  firehose["LogDestinationType"] = "kinesis-data-firehose";
  EXPECT_NE(Refusal("CreateFlowLogs", firehose), "");
  Json bad_s3 = {{"ResourceType", "VPC"}, {"ResourceIds", {vpc_}}, {"TrafficType", "ALL"},
                 {"LogDestinationType", "s3"}, {"LogDestination", "bucket"}};
  EXPECT_NE(Refusal("CreateFlowLogs", bad_s3), "");
  // The bucket and prefix become a path under the data dir: nothing may leave it.
  for (const char* arn : {"arn:aws:s3:::../../etc", "arn:aws:s3:::flows/../../../etc", "arn:aws:s3:::flows//x",
                          "arn:aws:s3:::/etc/cron.d", "arn:aws:s3:::flows/a/./b", "arn:aws:s3:::Flows",
                          "arn:aws:s3:::fl", "arn:aws:s3:::flows/a\\b", "arn:aws:s3:::flows/", "arn:aws:s3:::"}) {
    Json unsafe = bad_s3;
    unsafe["LogDestination"] = arn;
    EXPECT_NE(Refusal("CreateFlowLogs", unsafe), "") << arn;
  }
}

TEST_F(FlowLogsTest, ShortIntervalsAreLenientOnlyOutsideStrictMode) {
  Json in = Cwl("VPC", vpc_);
  in["MaxAggregationInterval"] = 2;
  EXPECT_EQ(Call("CreateFlowLogs", in)["FlowLogIds"].size(), 1u);
  in["TrafficType"] = "ACCEPT";
  try {
    Call("CreateFlowLogs", in, /*strict=*/true);
    ADD_FAILURE() << "--strict took a 2 s interval";
  } catch (const AwsError& e) {
    EXPECT_EQ(e.code(), "InvalidParameter");
  }
  in["MaxAggregationInterval"] = 60;
  EXPECT_EQ(Call("CreateFlowLogs", in, true)["FlowLogIds"].size(), 1u);
  in["MaxAggregationInterval"] = 601;
  in["TrafficType"] = "REJECT";
  EXPECT_NE(Refusal("CreateFlowLogs", in), "");
}

TEST_F(FlowLogsTest, FiltersAndPages) {
  Call("CreateFlowLogs", Cwl("VPC", vpc_, "ACCEPT"));
  Call("CreateFlowLogs", Cwl("Subnet", subnet_, "REJECT"));
  Json s3 = {{"ResourceType", "VPC"}, {"ResourceIds", {vpc_}}, {"TrafficType", "ALL"},
             {"LogDestinationType", "s3"}, {"LogDestination", "arn:aws:s3:::flows/vpc"}};
  Call("CreateFlowLogs", s3);
  auto count = [&](const std::string& name, const std::string& value) {
    return Call("DescribeFlowLogs", {{"Filter", {{{"Name", name}, {"Values", {value}}}}}})["FlowLogs"].size();
  };
  EXPECT_EQ(count("resource-id", subnet_), 1u);
  EXPECT_EQ(count("traffic-type", "ACCEPT"), 1u);
  EXPECT_EQ(count("log-destination-type", "s3"), 1u);
  EXPECT_EQ(count("log-group-name", "flows"), 2u);
  EXPECT_EQ(count("deliver-log-status", "SUCCESS"), 3u);
  EXPECT_EQ(Refusal("DescribeFlowLogs", {{"Filter", {{{"Name", "nope"}, {"Values", {"x"}}}}}}),
            "InvalidParameterValue: The filter 'nope' is invalid");
  Json page = Call("DescribeFlowLogs", {{"MaxResults", 2}});
  EXPECT_EQ(page["FlowLogs"].size(), 2u);
  ASSERT_TRUE(page.contains("NextToken"));
  EXPECT_EQ(Call("DescribeFlowLogs", {{"MaxResults", 2}, {"NextToken", page["NextToken"]}})["FlowLogs"].size(), 1u);
}

}  // namespace
}  // namespace kecs::api::ec2
