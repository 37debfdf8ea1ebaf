#include "model/shapes.h"
#include "model/sts_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace kecs::model {
namespace {

std::vector<const ServiceModel*> AllModels() {
  return {&EcsModel(), &Ec2Model(), &Elbv2Model(), &ServiceDiscoveryModel(), &LogsModel(), &SsmModel()};
}

TEST(ServiceModels, CarryTheirMetadata) {
  EXPECT_EQ(EcsModel().service, "ecs");
  EXPECT_EQ(EcsModel().protocol, "json");
  EXPECT_EQ(EcsModel().api_version, "2014-11-13");
  EXPECT_EQ(EcsModel().target_prefix, "AmazonEC2ContainerServiceV20141113");
  EXPECT_EQ(Ec2Model().service, "ec2");
  EXPECT_EQ(Ec2Model().protocol, "ec2");
  EXPECT_EQ(Ec2Model().api_version, "2016-11-15");
  EXPECT_EQ(Ec2Model().xml_namespace, "http://ec2.amazonaws.com/doc/2016-11-15");
  EXPECT_EQ(Elbv2Model().service, "elbv2");
  EXPECT_EQ(Elbv2Model().protocol, "query");
  EXPECT_EQ(Elbv2Model().endpoint_prefix, "elasticloadbalancing");
  EXPECT_EQ(ServiceDiscoveryModel().target_prefix, "Route53AutoNaming_v20170314");
  EXPECT_EQ(LogsModel().target_prefix, "Logs_20140328");
  EXPECT_EQ(SsmModel().target_prefix, "AmazonSSM");
}

TEST(ServiceModels, OperationCountsMatchTheModels) {
  EXPECT_EQ(EcsModel().operation_count, 77u);
  // shared/aws-models' subset (VPC networking, instances, images, key pairs, templates).
  EXPECT_EQ(Ec2Model().operation_count, 119u);
  EXPECT_NE(Ec2Model().FindOperation("ModifyNetworkInterfaceAttribute"), nullptr);
  EXPECT_EQ(Elbv2Model().operation_count, 51u);
  EXPECT_EQ(ServiceDiscoveryModel().operation_count, 30u);
  EXPECT_EQ(LogsModel().operation_count, 118u);
  EXPECT_EQ(SsmModel().operation_count, 152u);
  EXPECT_EQ(StsModel().operation_count, 11u);
}

TEST(FindOperation, FindsEcsRunTaskWithItsInputAndOutput) {
  const ServiceModel& m = EcsModel();
  const OperationDesc* op = m.FindOperation("RunTask");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->name, "RunTask");
  ASSERT_GE(op->input, 0);
  EXPECT_EQ(m.shape(op->input).name, "RunTaskRequest");
  EXPECT_EQ(m.shape(op->input).type, ShapeType::kStructure);
  ASSERT_GE(op->output, 0);
  EXPECT_EQ(m.shape(op->output).name, "RunTaskResponse");
  EXPECT_GT(op->error_count, 0);
}

TEST(FindOperation, ReturnsNullForUnknownOrWronglyCasedNames) {
  const ServiceModel& m = EcsModel();
  EXPECT_EQ(m.FindOperation("NoSuchOperation"), nullptr);
  EXPECT_EQ(m.FindOperation("runTask"), nullptr);
  EXPECT_EQ(m.FindOperation(""), nullptr);
  EXPECT_EQ(m.FindOperation("RunTaskX"), nullptr);
  EXPECT_EQ(m.FindOperation("RunTas"), nullptr);
  EXPECT_EQ(Ec2Model().FindOperation("RunTask"), nullptr);
}

TEST(FindMember, RunTaskRequestRequiresTaskDefinitionOnly) {
  const ServiceModel& m = EcsModel();
  int idx = m.FindShape("RunTaskRequest");
  ASSERT_GE(idx, 0);
  const ShapeDesc& s = m.shape(idx);
  const MemberDesc* td = m.FindMember(s, "taskDefinition");
  ASSERT_NE(td, nullptr);
  EXPECT_TRUE(td->required);
  EXPECT_EQ(m.shape(td->shape).type, ShapeType::kString);
  const MemberDesc* count = m.FindMember(s, "count");
  ASSERT_NE(count, nullptr);
  EXPECT_FALSE(count->required);
  EXPECT_EQ(m.shape(count->shape).type, ShapeType::kInteger);
  const MemberDesc* lt = m.FindMember(s, "launchType");
  ASSERT_NE(lt, nullptr);
  auto en = m.EnumOf(m.shape(lt->shape));
  std::vector<std::string_view> values(en.begin(), en.end());
  EXPECT_NE(std::find(values.begin(), values.end(), "FARGATE"), values.end());
  EXPECT_NE(std::find(values.begin(), values.end(), "EC2"), values.end());
  int required = 0;
  for (const auto& mem : m.MembersOf(s)) required += mem.required;
  EXPECT_EQ(required, 1);
  EXPECT_EQ(m.FindMember(s, "TaskDefinition"), nullptr);
  EXPECT_EQ(m.FindMember(s, "nope"), nullptr);
}

TEST(FindShape, FindsShapesAndRejectsUnknownNames) {
  const ServiceModel& m = EcsModel();
  int idx = m.FindShape("ContainerDefinitions");
  ASSERT_GE(idx, 0);
  const ShapeDesc& list = m.shape(idx);
  EXPECT_EQ(list.type, ShapeType::kList);
  EXPECT_EQ(m.shape(list.list_member).name, "ContainerDefinition");
  int nm = m.FindShape("NetworkMode");
  ASSERT_GE(nm, 0);
  auto en = m.EnumOf(m.shape(nm));
  EXPECT_EQ(std::vector<std::string_view>(en.begin(), en.end()),
            (std::vector<std::string_view>{"bridge", "host", "awsvpc", "none"}));
  EXPECT_EQ(m.FindShape("NoSuchShape"), -1);
  EXPECT_EQ(m.FindShape(""), -1);
  EXPECT_EQ(m.FindShape("networkMode"), -1);
}

TEST(FindShape, MapShapesKnowTheirKeyAndValue) {
  const ServiceModel& m = EcsModel();
  int idx = m.FindShape("DockerLabelsMap");
  ASSERT_GE(idx, 0);
  const ShapeDesc& s = m.shape(idx);
  EXPECT_EQ(s.type, ShapeType::kMap);
  EXPECT_EQ(m.shape(s.map_key).type, ShapeType::kString);
  EXPECT_EQ(m.shape(s.map_value).type, ShapeType::kString);
}

TEST(FindShape, ExceptionShapesAreMarked) {
  const ServiceModel& m = EcsModel();
  int idx = m.FindShape("ClusterNotFoundException");
  ASSERT_GE(idx, 0);
  EXPECT_TRUE(m.shape(idx).exception);
  int srv = m.FindShape("ServerException");
  ASSERT_GE(srv, 0);
  EXPECT_TRUE(m.shape(srv).exception);
  EXPECT_TRUE(m.shape(srv).fault);
}

TEST(FindOperation, Ec2DescribeVpcsFiltersUseLocationNameFilter) {
  const ServiceModel& m = Ec2Model();
  const OperationDesc* op = m.FindOperation("DescribeVpcs");
  ASSERT_NE(op, nullptr);
  ASSERT_GE(op->input, 0);
  const ShapeDesc& in = m.shape(op->input);
  EXPECT_EQ(in.name, "DescribeVpcsRequest");
  const MemberDesc* filters = m.FindMember(in, "Filters");
  ASSERT_NE(filters, nullptr);
  EXPECT_EQ(filters->location_name, "Filter");
  EXPECT_FALSE(filters->required);
  const ShapeDesc& fl = m.shape(filters->shape);
  EXPECT_EQ(fl.type, ShapeType::kList);
  const ShapeDesc& f = m.shape(fl.list_member);
  EXPECT_EQ(f.name, "Filter");
  const MemberDesc* values = m.FindMember(f, "Values");
  ASSERT_NE(values, nullptr);
  EXPECT_EQ(values->location_name, "Value");
  EXPECT_EQ(m.shape(values->shape).list_member_location, "item");
  const MemberDesc* vpc_ids = m.FindMember(in, "VpcIds");
  ASSERT_NE(vpc_ids, nullptr);
  EXPECT_EQ(vpc_ids->location_name, "VpcId");
  const MemberDesc* dry = m.FindMember(in, "DryRun");
  ASSERT_NE(dry, nullptr);
  EXPECT_EQ(dry->location_name, "dryRun");
  const MemberDesc* max = m.FindMember(in, "MaxResults");
  ASSERT_NE(max, nullptr);
  const ShapeDesc& ms = m.shape(max->shape);
  EXPECT_EQ(ms.type, ShapeType::kInteger);
  EXPECT_TRUE(ms.has_min);
  EXPECT_EQ(ms.min, 5);
  EXPECT_TRUE(ms.has_max);
  EXPECT_EQ(ms.max, 1000);
}

TEST(FindOperation, Ec2OutputMembersKeepTheirXmlNames) {
  const ServiceModel& m = Ec2Model();
  const OperationDesc* op = m.FindOperation("DescribeVpcs");
  ASSERT_NE(op, nullptr);
  ASSERT_GE(op->output, 0);
  const ShapeDesc& out = m.shape(op->output);
  const MemberDesc* vpcs = m.FindMember(out, "Vpcs");
  ASSERT_NE(vpcs, nullptr);
  EXPECT_EQ(vpcs->location_name, "vpcSet");
  EXPECT_EQ(m.shape(vpcs->shape).list_member_location, "item");
}

TEST(FindOperation, Elbv2OperationsHaveResultWrappers) {
  const ServiceModel& m = Elbv2Model();
  const OperationDesc* op = m.FindOperation("DescribeLoadBalancers");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->result_wrapper, "DescribeLoadBalancersResult");
  EXPECT_EQ(m.shape(op->input).name, "DescribeLoadBalancersInput");
}

// Every row of every table points inside its table: the generator's indices are sound.
TEST(ServiceModels, EveryIndexIsInRange) {
  for (const ServiceModel* mp : AllModels()) {
    const ServiceModel& m = *mp;
    SCOPED_TRACE(std::string(m.service));
    const int n = static_cast<int>(m.shape_count);
    ASSERT_GT(n, 0);
    for (size_t i = 0; i < m.operation_count; ++i) {
      const OperationDesc& op = m.operations[i];
      EXPECT_GE(op.input, -1) << op.name;
      EXPECT_LT(op.input, n) << op.name;
      EXPECT_GE(op.output, -1) << op.name;
      EXPECT_LT(op.output, n) << op.name;
      if (op.input >= 0) {
        EXPECT_EQ(m.shape(op.input).type, ShapeType::kStructure) << op.name;
      }
      if (op.output >= 0) {
        EXPECT_EQ(m.shape(op.output).type, ShapeType::kStructure) << op.name;
      }
      for (int e = 0; e < op.error_count; ++e) {
        int ei = m.errors[op.error_offset + e];
        EXPECT_GE(ei, 0) << op.name;
        EXPECT_LT(ei, n) << op.name;
        if (ei >= 0 && ei < n) {
          EXPECT_TRUE(m.shape(ei).exception) << op.name;
        }
      }
      EXPECT_EQ(m.FindOperation(op.name), &op) << op.name;
    }
    for (int i = 0; i < n; ++i) {
      const ShapeDesc& s = m.shape(i);
      EXPECT_EQ(m.FindShape(s.name), i) << s.name;
      for (const MemberDesc& mem : m.MembersOf(s)) {
        EXPECT_GE(mem.shape, 0) << s.name << "." << mem.name;
        EXPECT_LT(mem.shape, n) << s.name << "." << mem.name;
        EXPECT_EQ(m.FindMember(s, mem.name), &mem);
      }
      if (s.type == ShapeType::kList) {
        EXPECT_GE(s.list_member, 0) << s.name;
        EXPECT_LT(s.list_member, n) << s.name;
      }
      if (s.type == ShapeType::kMap) {
        EXPECT_GE(s.map_key, 0) << s.name;
        EXPECT_LT(s.map_key, n) << s.name;
        EXPECT_GE(s.map_value, 0) << s.name;
        EXPECT_LT(s.map_value, n) << s.name;
      }
      if (s.type != ShapeType::kStructure) {
        EXPECT_EQ(s.member_count, 0) << s.name;
      }
    }
  }
}

TEST(ServiceModels, OperationsAndShapesAreSortedForBinarySearch) {
  for (const ServiceModel* mp : AllModels()) {
    const ServiceModel& m = *mp;
    SCOPED_TRACE(std::string(m.service));
    for (size_t i = 1; i < m.operation_count; ++i) {
      EXPECT_LT(m.operations[i - 1].name, m.operations[i].name);
    }
    for (size_t i = 1; i < m.shape_count; ++i) {
      EXPECT_LT(m.shapes[i - 1].name, m.shapes[i].name);
    }
  }
}

}  // namespace
}  // namespace kecs::model
