#include "api/protocol/validate.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "model/secretsmanager_model.h"

namespace kecs::api::protocol {
namespace {

using Kind = ConstraintIssue::Kind;

int EcsShape(const char* name) {
  int idx = model::EcsModel().FindShape(name);
  EXPECT_GE(idx, 0) << name;
  return idx;
}

// The type issue for `doc` against the ECS shape `shape`, or "" when there is none.
std::string TypeMessage(const char* shape, const Json& doc, std::string* path = nullptr) {
  auto issue = CheckTypes(model::EcsModel(), EcsShape(shape), doc);
  if (!issue) return "";
  if (path) *path = issue->path;
  return issue->message;
}

std::vector<ConstraintIssue> EcsConstraints(const char* shape, const Json& doc,
                                            ConstraintOptions opts = {}) {
  return CheckConstraints(model::EcsModel(), EcsShape(shape), doc, opts);
}

TEST(CheckTypes, AcceptsWellTypedInput) {
  Json doc = {{"taskDefinition", "web:1"},
              {"count", 2},
              {"enableECSManagedTags", true},
              {"placementConstraints", Json::array({{{"type", "memberOf"}, {"expression", "x"}}})},
              {"networkConfiguration",
               {{"awsvpcConfiguration", {{"subnets", Json::array({"subnet-1"})}}}}}};
  EXPECT_EQ(TypeMessage("RunTaskRequest", doc), "");
}

TEST(CheckTypes, NullIsAcceptedForAnyMember) {
  Json doc = {{"taskDefinition", nullptr}, {"count", nullptr}, {"placementConstraints", nullptr},
              {"networkConfiguration", nullptr}};
  EXPECT_EQ(TypeMessage("RunTaskRequest", doc), "");
}

TEST(CheckTypes, NoInputShapeIsNeverAnIssue) {
  EXPECT_FALSE(CheckTypes(model::EcsModel(), -1, Json{{"x", 1}}));
}

TEST(CheckTypes, UnknownMembersAreIgnored) {
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"taskDefinition", "x"}, {"bogus", Json::array()}}), "");
}

TEST(CheckTypes, NumberForStringIsNumberValue) {
  std::string path;
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"taskDefinition", 5}}, &path),
            "NUMBER_VALUE can not be converted to a String");
  EXPECT_EQ(path, "taskDefinition");
}

TEST(CheckTypes, DecimalForStringIsDecimalValue) {
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"taskDefinition", 1.5}}),
            "DECIMAL_VALUE can not be converted to a String");
}

TEST(CheckTypes, BooleansForStringNameTheirValue) {
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"taskDefinition", true}}),
            "TRUE_VALUE can not be converted to a String");
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"taskDefinition", false}}),
            "FALSE_VALUE can not be converted to a String");
}

TEST(CheckTypes, StringForIntegerIsRejected) {
  std::string path;
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"taskDefinition", "x"}, {"count", "3"}}, &path),
            "STRING_VALUE can not be converted to an Integer");
  EXPECT_EQ(path, "count");
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"count", true}}),
            "TRUE_VALUE can not be converted to an Integer");
}

TEST(CheckTypes, DecimalIsAcceptedForAnInteger) {
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"taskDefinition", "x"}, {"count", 1.5}}), "");
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"count", -3}}), "");
}

TEST(CheckTypes, StringForBooleanIsRejected) {
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"enableECSManagedTags", "true"}}),
            "STRING_VALUE can not be converted to a Boolean");
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"enableECSManagedTags", 1}}),
            "NUMBER_VALUE can not be converted to a Boolean");
}

TEST(CheckTypes, ScalarOrObjectForListIsExpectedListOrNull) {
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"placementConstraints", "memberOf"}}),
            "Expected list or null");
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"placementConstraints", Json::object()}}),
            "Expected list or null");
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"placementConstraints", 3}}), "Expected list or null");
}

TEST(CheckTypes, ObjectForScalarIsStartOfStructure) {
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"taskDefinition", {{"a", 1}}}}),
            "Start of structure or map found where not expected.");
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"count", Json::object()}}),
            "Start of structure or map found where not expected.");
}

TEST(CheckTypes, ArrayForScalarOrStructureIsStartOfList) {
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"taskDefinition", Json::array({"a"})}}),
            "Start of list found where not expected");
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"networkConfiguration", Json::array()}}),
            "Start of list found where not expected");
}

TEST(CheckTypes, ScalarForStructureIsExpectedNull) {
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"networkConfiguration", "awsvpc"}}), "Expected null");
}

TEST(CheckTypes, MapMembersAreCheckedAndNamedInThePath) {
  Json td = {{"family", "f"},
             {"containerDefinitions",
              Json::array({{{"name", "a"}, {"dockerLabels", {{"ok", "v"}, {"bad", 1}}}}})}};
  std::string path;
  EXPECT_EQ(TypeMessage("RegisterTaskDefinitionRequest", td, &path),
            "NUMBER_VALUE can not be converted to a String");
  EXPECT_EQ(path, "containerDefinitions.1.member.dockerLabels.bad");
  Json not_map = {{"containerDefinitions", Json::array({{{"dockerLabels", "x"}}})}};
  EXPECT_EQ(TypeMessage("RegisterTaskDefinitionRequest", not_map), "Expected map or null");
  Json list_map = {{"containerDefinitions", Json::array({{{"dockerLabels", Json::array()}}})}};
  EXPECT_EQ(TypeMessage("RegisterTaskDefinitionRequest", list_map),
            "Start of list found where not expected");
}

TEST(CheckTypes, PathNamesTheListElementOneBased) {
  Json td = {{"family", "f"},
             {"containerDefinitions", Json::array({{{"name", "a"}}, {{"name", 5}}})}};
  std::string path;
  EXPECT_EQ(TypeMessage("RegisterTaskDefinitionRequest", td, &path),
            "NUMBER_VALUE can not be converted to a String");
  EXPECT_EQ(path, "containerDefinitions.2.member.name");
  Json pm = {{"containerDefinitions",
              Json::array({{{"portMappings", Json::array({{{"containerPort", "80"}}})}}})}};
  EXPECT_EQ(TypeMessage("RegisterTaskDefinitionRequest", pm, &path),
            "STRING_VALUE can not be converted to an Integer");
  EXPECT_EQ(path, "containerDefinitions.1.member.portMappings.1.member.containerPort");
}

TEST(CheckTypes, ReportsTheFirstIssueInModelMemberOrder) {
  // RunTaskRequest declares `cluster` before `taskDefinition`.
  std::string path;
  TypeMessage("RunTaskRequest", {{"taskDefinition", 1}, {"cluster", 2}}, &path);
  EXPECT_EQ(path, "cluster");
}

TEST(CheckConstraints, ValidInputHasNoIssues) {
  Json td = {{"family", "web"},
             {"networkMode", "awsvpc"},
             {"containerDefinitions",
              Json::array({{{"name", "app"},
                            {"portMappings", Json::array({{{"containerPort", 80},
                                                           {"protocol", "tcp"}}})}}})}};
  EXPECT_TRUE(EcsConstraints("RegisterTaskDefinitionRequest", td).empty());
}

TEST(CheckConstraints, ReportsEveryMissingRequiredMember) {
  auto issues = EcsConstraints("RegisterTaskDefinitionRequest", Json::object());
  ASSERT_EQ(issues.size(), 2u);
  EXPECT_EQ(issues[0].kind, Kind::kMissing);
  EXPECT_EQ(issues[0].path, "family");
  EXPECT_EQ(issues[0].member, "family");
  EXPECT_EQ(issues[0].message,
            "Value null at 'family' failed to satisfy constraint: Member must not be null");
  EXPECT_EQ(issues[1].kind, Kind::kMissing);
  EXPECT_EQ(issues[1].path, "containerDefinitions");
  EXPECT_EQ(issues[1].message,
            "Value null at 'containerDefinitions' failed to satisfy constraint: Member must not "
            "be null");
}

TEST(CheckConstraints, ExplicitNullCountsAsMissing) {
  auto issues = EcsConstraints("RunTaskRequest", {{"taskDefinition", nullptr}});
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].kind, Kind::kMissing);
  EXPECT_EQ(issues[0].path, "taskDefinition");
}

TEST(CheckConstraints, MissingMembersInsideListsUseAwsPaths) {
  Json td = {{"family", "f"},
             {"containerDefinitions",
              Json::array({{{"name", "a"}},
                           {{"name", "b"},
                            {"secrets", Json::array({{{"name", "s"}, {"valueFrom", "arn"}},
                                                     {{"valueFrom", "arn2"}}})}}})}};
  auto issues = EcsConstraints("RegisterTaskDefinitionRequest", td);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].kind, Kind::kMissing);
  EXPECT_EQ(issues[0].path, "containerDefinitions.2.member.secrets.2.member.name");
  EXPECT_EQ(issues[0].member, "name");
  EXPECT_EQ(issues[0].location, "name");
  EXPECT_EQ(issues[0].message,
            "Value null at 'containerDefinitions.2.member.secrets.2.member.name' failed to "
            "satisfy constraint: Member must not be null");
}

TEST(CheckConstraints, MissingMemberOfFirstListElement) {
  Json in = {{"attributes", Json::array({{{"value", "v"}}})}};
  auto issues = EcsConstraints("PutAttributesRequest", in);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].path, "attributes.1.member.name");
}

TEST(CheckConstraints, EnumViolationCarriesTheAllowedValues) {
  Json td = {{"family", "f"}, {"networkMode", "bogus"}, {"containerDefinitions", Json::array()}};
  auto issues = EcsConstraints("RegisterTaskDefinitionRequest", td);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].kind, Kind::kEnum);
  EXPECT_EQ(issues[0].path, "networkMode");
  EXPECT_EQ(issues[0].member, "networkMode");
  EXPECT_EQ(issues[0].allowed, (std::vector<std::string>{"bridge", "host", "awsvpc", "none"}));
  EXPECT_EQ(issues[0].message,
            "Value 'bogus' at 'networkMode' failed to satisfy constraint: Member must satisfy "
            "enum value set: [bridge, host, awsvpc, none]");
}

TEST(CheckConstraints, EnumViolationDeepInAList) {
  Json td = {{"family", "f"},
             {"containerDefinitions",
              Json::array({{{"name", "a"},
                            {"portMappings", Json::array({{{"containerPort", 80},
                                                           {"protocol", "sctp"}}})}}})}};
  auto issues = EcsConstraints("RegisterTaskDefinitionRequest", td);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].kind, Kind::kEnum);
  EXPECT_EQ(issues[0].path, "containerDefinitions.1.member.portMappings.1.member.protocol");
  EXPECT_EQ(issues[0].member, "protocol");
  EXPECT_EQ(issues[0].allowed, (std::vector<std::string>{"tcp", "udp"}));
}

TEST(CheckConstraints, EnumChecksCanBeTurnedOff) {
  Json td = {{"family", "f"}, {"networkMode", "bogus"}, {"containerDefinitions", Json::array()}};
  ConstraintOptions o;
  o.check_enums = false;
  EXPECT_TRUE(EcsConstraints("RegisterTaskDefinitionRequest", td, o).empty());
}

// EC2's RuleAction is taken in any case where the service says so; elsewhere enums match
// exactly.
TEST(CheckConstraints, CaseInsensitiveEnumsMatchInAnyCase) {
  const auto& m = model::Ec2Model();
  int shape = m.FindShape("CreateNetworkAclEntryRequest");
  ASSERT_GE(shape, 0);
  Json in = {{"NetworkAclId", "acl-12345678"}, {"RuleNumber", 100}, {"Protocol", "-1"},
             {"RuleAction", "ALLOW"}, {"Egress", false}};
  auto exact = CheckConstraints(m, shape, in, {});
  ASSERT_EQ(exact.size(), 1u);
  EXPECT_EQ(exact[0].kind, Kind::kEnum);
  ConstraintOptions o;
  o.case_insensitive_enums = {"RuleAction"};
  EXPECT_TRUE(CheckConstraints(m, shape, in, o).empty());
  in["RuleAction"] = "Deny";
  EXPECT_TRUE(CheckConstraints(m, shape, in, o).empty());
  in["RuleAction"] = "permit";
  auto bad = CheckConstraints(m, shape, in, o);
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].kind, Kind::kEnum);
  EXPECT_EQ(bad[0].location, "ruleAction");
}

TEST(CheckConstraints, StringLengthViolations) {
  Json in = {{"serviceName", "s"}, {"tags", Json::array({{{"key", ""}, {"value", "v"}}})}};
  auto issues = EcsConstraints("CreateServiceRequest", in);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].kind, Kind::kLength);
  EXPECT_EQ(issues[0].path, "tags.1.member.key");
  EXPECT_EQ(issues[0].message,
            "Value '' at 'tags.1.member.key' failed to satisfy constraint: Member must have "
            "length greater than or equal to 1");
  ConstraintOptions o;
  o.check_lengths = false;
  EXPECT_TRUE(EcsConstraints("CreateServiceRequest", in, o).empty());
}

TEST(CheckConstraints, ListLengthViolations) {
  Json tags = Json::array();
  for (int i = 0; i < 51; ++i) tags.push_back({{"key", "k" + std::to_string(i)}, {"value", "v"}});
  auto issues = EcsConstraints("CreateServiceRequest", {{"serviceName", "s"}, {"tags", tags}});
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].kind, Kind::kLength);
  EXPECT_EQ(issues[0].path, "tags");
  EXPECT_TRUE(issues[0].message.ends_with("Member must have length less than or equal to 50"))
      << issues[0].message;
  tags.erase(tags.size() - 1);
  EXPECT_TRUE(EcsConstraints("CreateServiceRequest", {{"serviceName", "s"}, {"tags", tags}}).empty());
}

TEST(CheckConstraints, IntegerRangeViolations) {
  const model::ServiceModel& m = model::Elbv2Model();
  int shape = m.FindShape("DescribeLoadBalancersInput");
  ASSERT_GE(shape, 0);
  auto low = CheckConstraints(m, shape, {{"PageSize", 0}}, {});
  ASSERT_EQ(low.size(), 1u);
  EXPECT_EQ(low[0].kind, Kind::kRange);
  EXPECT_EQ(low[0].message,
            "Value '0' at 'PageSize' failed to satisfy constraint: Member must have value "
            "greater than or equal to 1");
  auto high = CheckConstraints(m, shape, {{"PageSize", 401}}, {});
  ASSERT_EQ(high.size(), 1u);
  EXPECT_EQ(high[0].message,
            "Value '401' at 'PageSize' failed to satisfy constraint: Member must have value "
            "less than or equal to 400");
  EXPECT_TRUE(CheckConstraints(m, shape, {{"PageSize", 1}}, {}).empty());
  EXPECT_TRUE(CheckConstraints(m, shape, {{"PageSize", 400}}, {}).empty());
  ConstraintOptions o;
  o.check_ranges = false;
  EXPECT_TRUE(CheckConstraints(m, shape, {{"PageSize", 0}}, o).empty());
}

TEST(CheckConstraints, LocationIsTheWireNameForEc2Members) {
  const model::ServiceModel& m = model::Ec2Model();
  int shape = m.FindShape("CreateTagsRequest");
  ASSERT_GE(shape, 0);
  auto issues = CheckConstraints(m, shape, Json::object(), {});
  ASSERT_EQ(issues.size(), 2u);
  EXPECT_EQ(issues[0].member, "Resources");
  EXPECT_EQ(issues[0].location, "ResourceId");
  EXPECT_EQ(issues[1].member, "Tags");
  EXPECT_EQ(issues[1].location, "Tag");
}

TEST(CheckConstraints, NoInputShapeHasNoIssues) {
  EXPECT_TRUE(CheckConstraints(model::EcsModel(), -1, Json::object(), {}).empty());
}

TEST(ValidationMessage, OneIssueIsSingular) {
  Json td = {{"family", "f"}, {"networkMode", "bogus"}, {"containerDefinitions", Json::array()}};
  EXPECT_EQ(ValidationMessage(EcsConstraints("RegisterTaskDefinitionRequest", td)),
            "1 validation error detected: Value 'bogus' at 'networkMode' failed to satisfy "
            "constraint: Member must satisfy enum value set: [bridge, host, awsvpc, none]");
}

TEST(ValidationMessage, TwoIssuesArePluralAndJoinedWithSemicolons) {
  EXPECT_EQ(ValidationMessage(EcsConstraints("RegisterTaskDefinitionRequest", Json::object())),
            "2 validation errors detected: Value null at 'family' failed to satisfy constraint: "
            "Member must not be null; Value null at 'containerDefinitions' failed to satisfy "
            "constraint: Member must not be null");
}

TEST(CheckTypes, NumbersAnIntegerCannotHoldAreNotConverted) {
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"taskDefinition", "t"}, {"count", 2147483647}}), "");
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"taskDefinition", "t"}, {"count", 1.9}}), "");
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"taskDefinition", "t"}, {"count", 2147483648LL}}),
            "NUMBER_VALUE can not be converted to an Integer");
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"taskDefinition", "t"}, {"count", -2147483649LL}}),
            "NUMBER_VALUE can not be converted to an Integer");
  EXPECT_EQ(TypeMessage("RunTaskRequest", {{"taskDefinition", "t"}, {"count", 1e300}}),
            "DECIMAL_VALUE can not be converted to an Integer");
  EXPECT_EQ(TypeMessage("RunTaskRequest",
                        {{"taskDefinition", "t"}, {"count", std::numeric_limits<uint64_t>::max()}}),
            "NUMBER_VALUE can not be converted to an Integer");
}

// ---- JSON null (defect 8) ----

TEST(Nulls, NullListElementIsAConstraintFailure) {
  auto issues = EcsConstraints("DescribeClustersRequest", {{"clusters", Json::array({"a", nullptr})}});
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].path, "clusters.2.member");
  EXPECT_EQ(issues[0].message,
            "Value null at 'clusters.2.member' failed to satisfy constraint: Member must not be null");
}

TEST(Nulls, NullListElementDeepInsideIsReported) {
  Json in = {{"taskDefinition", "t"},
             {"networkConfiguration", {{"awsvpcConfiguration", {{"subnets", Json::array({nullptr})}}}}}};
  auto issues = EcsConstraints("RunTaskRequest", in);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].path, "networkConfiguration.awsvpcConfiguration.subnets.1.member");
}

TEST(Nulls, NullMapValueIsAConstraintFailure) {
  const auto& m = model::ServiceDiscoveryModel();
  int shape = m.FindOperation("RegisterInstance")->input;
  Json in = {{"ServiceId", "srv-1"}, {"InstanceId", "i"}, {"Attributes", {{"AWS_INSTANCE_IPV4", nullptr}}}};
  auto issues = CheckConstraints(m, shape, in, {});
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].path, "Attributes.AWS_INSTANCE_IPV4");
}

TEST(Nulls, CloudMapNullFilterIsReported) {
  const auto& m = model::ServiceDiscoveryModel();
  int shape = m.FindOperation("ListNamespaces")->input;
  auto issues = CheckConstraints(m, shape, {{"Filters", Json::array({nullptr})}}, {});
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].path, "Filters.1.member");
}

TEST(Nulls, NullRequiredMemberIsMissingAndNullOptionalMemberIsNothing) {
  auto issues = EcsConstraints("RunTaskRequest", {{"taskDefinition", nullptr}, {"cluster", nullptr}});
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].kind, Kind::kMissing);
  EXPECT_EQ(issues[0].path, "taskDefinition");
}

TEST(Nulls, NullSubnetsIsWaivedInLenientMode) {
  Json in = {{"taskDefinition", "t"},
             {"networkConfiguration", {{"awsvpcConfiguration", {{"subnets", nullptr}}}}}};
  EXPECT_EQ(EcsConstraints("RunTaskRequest", in).size(), 1u);
  ConstraintOptions lenient;
  lenient.optional_members = {"AwsVpcConfiguration.subnets"};
  EXPECT_TRUE(EcsConstraints("RunTaskRequest", in, lenient).empty());
}

TEST(Nulls, DropNullMembersRemovesNullMembersAtEveryDepth) {
  Json in = {{"taskDefinition", "t"},
             {"cluster", nullptr},
             {"overrides", {{"containerOverrides", Json::array({{{"name", "a"}, {"command", nullptr}}})}}},
             {"networkConfiguration", {{"awsvpcConfiguration", {{"subnets", nullptr}}}}}};
  DropNullMembers(model::EcsModel(), EcsShape("RunTaskRequest"), in);
  EXPECT_EQ(in, Json::parse(R"({"taskDefinition":"t","overrides":{"containerOverrides":[{"name":"a"}]},
                                "networkConfiguration":{"awsvpcConfiguration":{}}})"));
}

TEST(Nulls, DropNullMembersWithoutInputShapeLeavesTheDocument) {
  Json in = {{"x", nullptr}};
  DropNullMembers(model::EcsModel(), -1, in);
  EXPECT_TRUE(in.contains("x"));
}

TEST(CheckConstraints, SensitiveValuesStayOutOfTheMessage) {
  const auto& m = model::SecretsManagerModel();
  int shape = m.FindShape("CreateSecretRequest");
  ASSERT_GE(shape, 0);
  std::string secret(65537, 'p');
  auto issues = CheckConstraints(m, shape, Json{{"Name", "db"}, {"SecretString", secret}}, {});
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].message,
            "Value at 'SecretString' failed to satisfy constraint: Member must have length less than or equal to "
            "65536");
  EXPECT_EQ(issues[0].value, "");
  // Other members still show theirs.
  issues = CheckConstraints(m, shape, Json{{"Name", std::string(513, 'n')}}, {});
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].message.find("Value '" + std::string(513, 'n') + "' at 'Name'"), std::string::npos);
}

}  // namespace
}  // namespace kecs::api::protocol
