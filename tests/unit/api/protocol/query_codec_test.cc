#include "api/protocol/query_codec.h"

#include <gtest/gtest.h>

#include <string>

namespace kecs::api::protocol {
namespace {

const char kXmlDecl[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const char kEc2Ns[] = "http://ec2.amazonaws.com/doc/2016-11-15/";
const char kElbNs[] = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

int InputOf(const model::ServiceModel& m, const char* op) {
  const model::OperationDesc* d = m.FindOperation(op);
  EXPECT_NE(d, nullptr) << op;
  return d ? d->input : -1;
}

const model::OperationDesc& Op(const model::ServiceModel& m, const char* op) {
  const model::OperationDesc* d = m.FindOperation(op);
  if (!d) throw std::runtime_error(std::string("no operation ") + op);
  return *d;
}

struct Decoded {
  bool ok;
  Json doc;
  DecodeError err;
};

Decoded Ec2Decode(const char* op, const FormParams& params) {
  Decoded d;
  d.ok = DecodeQuery(model::Ec2Model(), InputOf(model::Ec2Model(), op), QueryFlavor::kEc2, params,
                     &d.doc, &d.err);
  return d;
}

Decoded ElbDecode(const char* op, const FormParams& params) {
  Decoded d;
  d.ok = DecodeQuery(model::Elbv2Model(), InputOf(model::Elbv2Model(), op), QueryFlavor::kQuery,
                     params, &d.doc, &d.err);
  return d;
}

// ---- ParseForm ----

TEST(ParseForm, DecodesKeysAndValues) {
  FormParams p;
  ASSERT_TRUE(ParseForm("Action=DescribeVpcs&Filter.1.Name=vpc-id&Filter.1.Value.1=a%20b+c", &p));
  EXPECT_EQ(p.size(), 3u);
  EXPECT_EQ(p["Action"], "DescribeVpcs");
  EXPECT_EQ(p["Filter.1.Name"], "vpc-id");
  EXPECT_EQ(p["Filter.1.Value.1"], "a b c");
}

TEST(ParseForm, DecodesEscapedKeys) {
  FormParams p;
  ASSERT_TRUE(ParseForm("Filter%2E1%2EName=x&Tag.1.Value=a%3Db%26c", &p));
  EXPECT_EQ(p["Filter.1.Name"], "x");
  EXPECT_EQ(p["Tag.1.Value"], "a=b&c");
}

TEST(ParseForm, KeyWithoutValueAndEmptyPairs) {
  FormParams p;
  ASSERT_TRUE(ParseForm("Names=&&DryRun&x=1=2", &p));
  EXPECT_EQ(p.size(), 3u);
  EXPECT_EQ(p.at("Names"), "");
  EXPECT_EQ(p.at("DryRun"), "");
  EXPECT_EQ(p.at("x"), "1=2");
}

TEST(ParseForm, EmptyBodyIsEmptyAndClearsOutput) {
  FormParams p = {{"stale", "1"}};
  ASSERT_TRUE(ParseForm("", &p));
  EXPECT_TRUE(p.empty());
}

TEST(ParseForm, LaterDuplicateWins) {
  FormParams p;
  ASSERT_TRUE(ParseForm("a=1&a=2", &p));
  EXPECT_EQ(p["a"], "2");
}

TEST(ParseForm, RejectsMalformedEscapes) {
  FormParams p;
  EXPECT_FALSE(ParseForm("Action=Describe%ZZ", &p));
  EXPECT_FALSE(ParseForm("Act%on=x", &p));
  EXPECT_FALSE(ParseForm("a=%", &p));
}

// ---- RequestName ----

TEST(RequestName, Ec2UsesCapitalisedLocationNameElseMemberName) {
  const model::ServiceModel& m = model::Ec2Model();
  const model::ShapeDesc& in = m.shape(InputOf(m, "DescribeVpcs"));
  EXPECT_EQ(RequestName(*m.FindMember(in, "Filters"), QueryFlavor::kEc2), "Filter");
  EXPECT_EQ(RequestName(*m.FindMember(in, "VpcIds"), QueryFlavor::kEc2), "VpcId");
  EXPECT_EQ(RequestName(*m.FindMember(in, "DryRun"), QueryFlavor::kEc2), "DryRun");  // "dryRun"
  EXPECT_EQ(RequestName(*m.FindMember(in, "MaxResults"), QueryFlavor::kEc2), "MaxResults");
}

TEST(RequestName, QueryUsesTheMemberName) {
  const model::ServiceModel& m = model::Ec2Model();
  const model::ShapeDesc& in = m.shape(InputOf(m, "DescribeVpcs"));
  EXPECT_EQ(RequestName(*m.FindMember(in, "Filters"), QueryFlavor::kQuery), "Filters");
}

// ---- DecodeQuery, EC2 flavor ----

TEST(DecodeQueryEc2, DescribeVpcsFiltersAndIds) {
  auto d = Ec2Decode("DescribeVpcs", {{"Action", "DescribeVpcs"},
                                      {"Version", "2016-11-15"},
                                      {"Filter.1.Name", "vpc-id"},
                                      {"Filter.1.Value.1", "a"},
                                      {"Filter.1.Value.2", "b"},
                                      {"Filter.2.Name", "is-default"},
                                      {"Filter.2.Value.1", "true"},
                                      {"VpcId.1", "vpc-1"},
                                      {"VpcId.2", "vpc-2"}});
  ASSERT_TRUE(d.ok) << d.err.param << ": " << d.err.message;
  ASSERT_TRUE(d.doc.contains("Filters"));
  const Json& f = d.doc["Filters"];
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0]["Name"], "vpc-id");
  EXPECT_EQ(f[0]["Values"], Json::array({"a", "b"}));
  EXPECT_EQ(f[1]["Name"], "is-default");
  EXPECT_EQ(f[1]["Values"], Json::array({"true"}));
  EXPECT_EQ(d.doc["VpcIds"], Json::array({"vpc-1", "vpc-2"}));
  EXPECT_FALSE(d.doc.contains("MaxResults"));
  EXPECT_FALSE(d.doc.contains("Action"));
  EXPECT_EQ(d.doc.size(), 2u);
}

TEST(DecodeQueryEc2, ListStopsAtTheFirstGapAndTheRestIsUnknown) {
  auto d = Ec2Decode("DescribeVpcs", {{"VpcId.1", "vpc-1"}, {"VpcId.3", "vpc-3"}});
  ASSERT_FALSE(d.ok);
  EXPECT_TRUE(d.err.unknown);
  EXPECT_EQ(d.err.param, "VpcId.3");
}

TEST(DecodeQueryEc2, NoParametersIsAnEmptyObject) {
  auto d = Ec2Decode("DescribeVpcs", {{"Action", "DescribeVpcs"}, {"Version", "2016-11-15"}});
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(d.doc, Json::object());
}

TEST(DecodeQueryEc2, ParsesIntegers) {
  auto d = Ec2Decode("DescribeVpcs", {{"MaxResults", "10"}, {"NextToken", "tok"}});
  ASSERT_TRUE(d.ok) << d.err.message;
  EXPECT_TRUE(d.doc["MaxResults"].is_number_integer());
  EXPECT_EQ(d.doc["MaxResults"], 10);
  EXPECT_EQ(d.doc["NextToken"], "tok");
}

TEST(DecodeQueryEc2, RejectsNonIntegers) {
  for (const char* bad : {"abc", "", "10x", "1.5", "99999999999999999999"}) {
    auto d = Ec2Decode("DescribeVpcs", {{"MaxResults", bad}});
    ASSERT_FALSE(d.ok) << bad;
    EXPECT_FALSE(d.err.unknown);
    EXPECT_EQ(d.err.param, "MaxResults");
    EXPECT_EQ(d.err.message, std::string("Value (") + bad +
                                 ") for parameter MaxResults is invalid. Expected an integer.");
  }
}

TEST(DecodeQueryEc2, ParsesBooleansCaseInsensitively) {
  for (const auto& [raw, want] : {std::pair{"true", true}, std::pair{"false", false},
                                  std::pair{"TRUE", true}, std::pair{"False", false}}) {
    auto d = Ec2Decode("DescribeVpcs", {{"DryRun", raw}});
    ASSERT_TRUE(d.ok) << raw;
    EXPECT_EQ(d.doc["DryRun"], want) << raw;
  }
}

TEST(DecodeQueryEc2, RejectsNonBooleans) {
  auto d = Ec2Decode("DescribeVpcs", {{"DryRun", "yes"}});
  ASSERT_FALSE(d.ok);
  EXPECT_FALSE(d.err.unknown);
  EXPECT_EQ(d.err.param, "DryRun");
  EXPECT_EQ(d.err.message, "Value (yes) for parameter DryRun is invalid. Expected a boolean.");
}

TEST(DecodeQueryEc2, UnknownParameterIsReported) {
  auto d = Ec2Decode("DescribeVpcs", {{"VpcId.1", "vpc-1"}, {"Bogus", "1"}});
  ASSERT_FALSE(d.ok);
  EXPECT_TRUE(d.err.unknown);
  EXPECT_EQ(d.err.param, "Bogus");
  EXPECT_EQ(d.err.message, "The parameter Bogus is not recognized");
}

TEST(DecodeQueryEc2, MemberNamesAreNotWireNames) {
  // The wire name is the locationName "Filter", not the member name "Filters".
  auto d = Ec2Decode("DescribeVpcs", {{"Filters.1.Name", "vpc-id"}});
  ASSERT_FALSE(d.ok);
  EXPECT_TRUE(d.err.unknown);
  EXPECT_EQ(d.err.param, "Filters.1.Name");
}

TEST(DecodeQueryEc2, UnknownNestedParameterIsReported) {
  auto d = Ec2Decode("DescribeVpcs", {{"Filter.1.Name", "x"}, {"Filter.1.Nmae", "y"}});
  ASSERT_FALSE(d.ok);
  EXPECT_TRUE(d.err.unknown);
  EXPECT_EQ(d.err.param, "Filter.1.Nmae");
  EXPECT_EQ(d.err.message, "The parameter Filter.1.Nmae is not recognized");
}

TEST(DecodeQueryEc2, ScalarWithSubKeysIsUnknown) {
  auto d = Ec2Decode("DescribeVpcs", {{"MaxResults.1", "5"}});
  ASSERT_FALSE(d.ok);
  EXPECT_TRUE(d.err.unknown);
}

TEST(DecodeQueryEc2, AuthParametersAreIgnored) {
  auto d = Ec2Decode("DescribeVpcs", {{"Action", "DescribeVpcs"},
                                      {"Version", "2016-11-15"},
                                      {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
                                      {"X-Amz-Credential", "x"},
                                      {"X-Amz-Signature", "y"},
                                      {"AWSAccessKeyId", "AKID"},
                                      {"Signature", "s"},
                                      {"SignatureMethod", "HmacSHA256"},
                                      {"SignatureVersion", "2"},
                                      {"Timestamp", "2026-01-01T00:00:00Z"}});
  ASSERT_TRUE(d.ok) << d.err.param;
  EXPECT_EQ(d.doc, Json::object());
}

TEST(DecodeQueryEc2, StructureMembersCapitaliseTheirLocationName) {
  // Tag.Key has locationName "key": the wire name is "Key".
  auto d = Ec2Decode("CreateTags", {{"ResourceId.1", "vpc-1"},
                                    {"Tag.1.Key", "Name"},
                                    {"Tag.1.Value", "web"},
                                    {"Tag.2.Key", "empty"},
                                    {"Tag.2.Value", ""}});
  ASSERT_TRUE(d.ok) << d.err.param << ": " << d.err.message;
  EXPECT_EQ(d.doc["Resources"], Json::array({"vpc-1"}));
  ASSERT_EQ(d.doc["Tags"].size(), 2u);
  EXPECT_EQ(d.doc["Tags"][0]["Key"], "Name");
  EXPECT_EQ(d.doc["Tags"][0]["Value"], "web");
  EXPECT_EQ(d.doc["Tags"][1]["Key"], "empty");
  EXPECT_EQ(d.doc["Tags"][1]["Value"], "");
}

// ---- DecodeQuery, Query flavor ----

TEST(DecodeQueryQuery, ListsUseMemberN) {
  auto d = ElbDecode("DescribeLoadBalancers", {{"Action", "DescribeLoadBalancers"},
                                               {"Version", "2015-12-01"},
                                               {"Names.member.1", "lb-a"},
                                               {"Names.member.2", "lb-b"},
                                               {"PageSize", "5"},
                                               {"Marker", "m"}});
  ASSERT_TRUE(d.ok) << d.err.param << ": " << d.err.message;
  EXPECT_EQ(d.doc["Names"], Json::array({"lb-a", "lb-b"}));
  EXPECT_EQ(d.doc["PageSize"], 5);
  EXPECT_EQ(d.doc["Marker"], "m");
}

TEST(DecodeQueryQuery, BareKeyWithEmptyValueIsAnEmptyList) {
  auto d = ElbDecode("DescribeLoadBalancers", {{"Names", ""}});
  ASSERT_TRUE(d.ok) << d.err.param << ": " << d.err.message;
  ASSERT_TRUE(d.doc.contains("Names"));
  EXPECT_EQ(d.doc["Names"], Json::array());
}

TEST(DecodeQueryQuery, Ec2StyleListIndexIsUnknown) {
  auto d = ElbDecode("DescribeLoadBalancers", {{"Names.1", "lb-a"}});
  ASSERT_FALSE(d.ok);
  EXPECT_TRUE(d.err.unknown);
  EXPECT_EQ(d.err.param, "Names.1");
}

TEST(DecodeQueryQuery, BadIntegerNamesTheParameter) {
  auto d = ElbDecode("DescribeLoadBalancers", {{"PageSize", "many"}});
  ASSERT_FALSE(d.ok);
  EXPECT_FALSE(d.err.unknown);
  EXPECT_EQ(d.err.message, "Value (many) for parameter PageSize is invalid. Expected an integer.");
}

TEST(DecodeQueryQuery, NestedStructuresListsAndMaps) {
  auto d = ElbDecode(
      "CreateListener",
      {{"LoadBalancerArn", "arn:lb"},
       {"Port", "443"},
       {"DefaultActions.member.1.Type", "authenticate-oidc"},
       {"DefaultActions.member.1.Order", "1"},
       {"DefaultActions.member.1.AuthenticateOidcConfig.Issuer", "https://issuer"},
       {"DefaultActions.member.1.AuthenticateOidcConfig.AuthenticationRequestExtraParams.entry.1.key",
        "prompt"},
       {"DefaultActions.member.1.AuthenticateOidcConfig.AuthenticationRequestExtraParams.entry.1.value",
        "login"},
       {"DefaultActions.member.1.AuthenticateOidcConfig.AuthenticationRequestExtraParams.entry.2.key",
        "display"},
       {"DefaultActions.member.1.AuthenticateOidcConfig.AuthenticationRequestExtraParams.entry.2.value",
        "page"},
       {"DefaultActions.member.2.Type", "forward"},
       {"DefaultActions.member.2.TargetGroupArn", "arn:tg"}});
  ASSERT_TRUE(d.ok) << d.err.param << ": " << d.err.message;
  EXPECT_EQ(d.doc["LoadBalancerArn"], "arn:lb");
  EXPECT_EQ(d.doc["Port"], 443);
  const Json& acts = d.doc["DefaultActions"];
  ASSERT_EQ(acts.size(), 2u);
  EXPECT_EQ(acts[0]["Type"], "authenticate-oidc");
  EXPECT_EQ(acts[0]["Order"], 1);
  const Json& oidc = acts[0]["AuthenticateOidcConfig"];
  EXPECT_EQ(oidc["Issuer"], "https://issuer");
  const Json& extra = oidc["AuthenticationRequestExtraParams"];
  ASSERT_TRUE(extra.is_object());
  EXPECT_EQ(extra.size(), 2u);
  EXPECT_EQ(extra["prompt"], "login");
  EXPECT_EQ(extra["display"], "page");
  EXPECT_EQ(acts[1]["Type"], "forward");
  EXPECT_EQ(acts[1]["TargetGroupArn"], "arn:tg");
}

// ---- EncodeXml, EC2 flavor ----

TEST(EncodeXmlEc2, DescribeVpcsRendersItemsBooleansAndTags) {
  Json out = {{"Vpcs",
               Json::array({{{"VpcId", "vpc-1"},
                             {"CidrBlock", "10.0.0.0/16"},
                             {"IsDefault", false},
                             {"State", "available"},
                             {"Tags", Json::array({{{"Key", "Name"}, {"Value", "a&b"}}})}},
                            {{"VpcId", "vpc-2"}, {"IsDefault", true}}})}};
  const auto& m = model::Ec2Model();
  std::string xml = EncodeXml(m, Op(m, "DescribeVpcs"), QueryFlavor::kEc2, out, "req-1");
  EXPECT_EQ(xml, std::string(kXmlDecl) + "<DescribeVpcsResponse xmlns=\"" + kEc2Ns + "\">" +
                     "<requestId>req-1</requestId>"
                     "<vpcSet>"
                     "<item><isDefault>false</isDefault>"
                     "<tagSet><item><key>Name</key><value>a&amp;b</value></item></tagSet>"
                     "<vpcId>vpc-1</vpcId><state>available</state><cidrBlock>10.0.0.0/16</cidrBlock></item>"
                     "<item><isDefault>true</isDefault><vpcId>vpc-2</vpcId></item>"
                     "</vpcSet>"
                     "</DescribeVpcsResponse>");
}

TEST(EncodeXmlEc2, EmptyListIsAnEmptyElementAndNullsAreOmitted) {
  const auto& m = model::Ec2Model();
  std::string xml = EncodeXml(m, Op(m, "DescribeVpcs"), QueryFlavor::kEc2,
                              {{"Vpcs", Json::array()}, {"NextToken", nullptr}}, "r");
  EXPECT_NE(xml.find("<requestId>r</requestId><vpcSet></vpcSet></DescribeVpcsResponse>"),
            std::string::npos)
      << xml;
  EXPECT_EQ(xml.find("nextToken"), std::string::npos);
}

TEST(EncodeXmlEc2, EmptyOutputHasOnlyTheRequestId) {
  const auto& m = model::Ec2Model();
  EXPECT_EQ(EncodeXml(m, Op(m, "DescribeVpcs"), QueryFlavor::kEc2, Json::object(), "r"),
            std::string(kXmlDecl) + "<DescribeVpcsResponse xmlns=\"" + kEc2Ns +
                "\"><requestId>r</requestId></DescribeVpcsResponse>");
}

TEST(EncodeXmlEc2, TimestampsAreIso8601WithMilliseconds) {
  const auto& m = model::Ec2Model();
  Json out = {{"NatGateways", Json::array({{{"CreateTime", 1767225600}, {"NatGatewayId", "nat-1"}},
                                           {{"CreateTime", 1767225600.25}}})}};
  std::string xml = EncodeXml(m, Op(m, "DescribeNatGateways"), QueryFlavor::kEc2, out, "r");
  EXPECT_NE(xml.find("<natGatewaySet><item><createTime>2026-01-01T00:00:00.000Z</createTime>"
                     "<natGatewayId>nat-1</natGatewayId></item>"
                     "<item><createTime>2026-01-01T00:00:00.250Z</createTime></item>"
                     "</natGatewaySet>"),
            std::string::npos)
      << xml;
}

TEST(EncodeXmlEc2, IntegersAreRenderedAsNumbers) {
  const auto& m = model::Ec2Model();
  Json out = {{"FlowLogs", Json::array({{{"FlowLogId", "fl-1"}, {"MaxAggregationInterval", 600}}})}};
  std::string xml = EncodeXml(m, Op(m, "DescribeFlowLogs"), QueryFlavor::kEc2, out, "r");
  EXPECT_NE(xml.find("<flowLogSet><item><flowLogId>fl-1</flowLogId>"
                     "<maxAggregationInterval>600</maxAggregationInterval></item></flowLogSet>"),
            std::string::npos)
      << xml;
}

TEST(EncodeXmlEc2, MembersNotInTheModelAreDropped) {
  const auto& m = model::Ec2Model();
  std::string xml = EncodeXml(m, Op(m, "DescribeVpcs"), QueryFlavor::kEc2,
                              {{"Vpcs", Json::array({{{"VpcId", "v"}, {"kecs:internal", 1}}})}},
                              "r");
  EXPECT_EQ(xml.find("kecs"), std::string::npos) << xml;
}

// ---- EncodeXml, Query flavor ----

TEST(EncodeXmlQuery, DescribeLoadBalancersWrapsResultAndMetadata) {
  const auto& m = model::Elbv2Model();
  Json out = {{"LoadBalancers",
               Json::array({{{"LoadBalancerArn", "arn:lb"},
                             {"LoadBalancerName", "lb"},
                             {"CreatedTime", 1767225600.5},
                             {"AvailabilityZones",
                              Json::array({{{"ZoneName", "us-east-1a"}, {"SubnetId", "subnet-1"}}})}}})},
              {"NextMarker", "m"}};
  std::string xml =
      EncodeXml(m, Op(m, "DescribeLoadBalancers"), QueryFlavor::kQuery, out, "req-2");
  EXPECT_EQ(xml, std::string(kXmlDecl) + "<DescribeLoadBalancersResponse xmlns=\"" + kElbNs + "\">" +
                     "<DescribeLoadBalancersResult>"
                     "<LoadBalancers><member>"
                     "<LoadBalancerArn>arn:lb</LoadBalancerArn>"
                     "<CreatedTime>2026-01-01T00:00:00.500Z</CreatedTime>"
                     "<LoadBalancerName>lb</LoadBalancerName>"
                     "<AvailabilityZones><member><ZoneName>us-east-1a</ZoneName>"
                     "<SubnetId>subnet-1</SubnetId></member></AvailabilityZones>"
                     "</member></LoadBalancers>"
                     "<NextMarker>m</NextMarker>"
                     "</DescribeLoadBalancersResult>"
                     "<ResponseMetadata><RequestId>req-2</RequestId></ResponseMetadata>"
                     "</DescribeLoadBalancersResponse>");
}

TEST(EncodeXmlQuery, EmptyResultStillEmitsTheResultElement) {
  const auto& m = model::Elbv2Model();
  std::string want = std::string(kXmlDecl) + "<DescribeLoadBalancersResponse xmlns=\"" + kElbNs +
                     "\"><DescribeLoadBalancersResult></DescribeLoadBalancersResult>"
                     "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
                     "</DescribeLoadBalancersResponse>";
  EXPECT_EQ(EncodeXml(m, Op(m, "DescribeLoadBalancers"), QueryFlavor::kQuery, Json::object(), "r"),
            want);
  EXPECT_EQ(EncodeXml(m, Op(m, "DescribeLoadBalancers"), QueryFlavor::kQuery, Json(), "r"), want);
}

TEST(EncodeXmlQuery, MapsRenderAsEntries) {
  const auto& m = model::Elbv2Model();
  Json out = {{"Listeners",
               Json::array({{{"DefaultActions",
                              Json::array({{{"Type", "authenticate-oidc"},
                                            {"AuthenticateOidcConfig",
                                             {{"AuthenticationRequestExtraParams",
                                               {{"prompt", "login"}}}}}}})}}})}};
  std::string xml = EncodeXml(m, Op(m, "DescribeListeners"), QueryFlavor::kQuery, out, "r");
  EXPECT_NE(xml.find("<AuthenticationRequestExtraParams><entry><key>prompt</key>"
                     "<value>login</value></entry></AuthenticationRequestExtraParams>"),
            std::string::npos)
      << xml;
}

// ---- Well-formed XML text (defect 12) ----

// A strict check of XML 1.0 character data: valid UTF-8, only the XML Char production
// (no C0 control but tab, LF, CR; no U+FFFE/U+FFFF), and no raw markup characters.
bool IsWellFormedCharData(std::string_view s) {
  if (!IsValidUtf8(s)) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
    if (c == '<' || c == '>') return false;
    if (c == '&' && s.substr(i, 4) != "&lt;" && s.substr(i, 4) != "&gt;" &&
        s.substr(i, 5) != "&amp;" && s.substr(i, 6) != "&quot;" && s.substr(i, 6) != "&apos;") {
      return false;
    }
    // U+FFFE and U+FFFF: EF BF BE / EF BF BF.
    if (c == 0xEF && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xBF &&
        (static_cast<unsigned char>(s[i + 2]) == 0xBE || static_cast<unsigned char>(s[i + 2]) == 0xBF)) {
      return false;
    }
  }
  return true;
}

TEST(IsValidUtf8, AcceptsUtf8AndRefusesMalformedSequences) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xFF"));
}

TEST(XmlText, EscapesMarkupAndKeepsValidText) {
  EXPECT_EQ(XmlText("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
  EXPECT_EQ(XmlText("caf\xC3\xA9\t\n\r"), "caf\xC3\xA9\t\n\r");
}

TEST(XmlText, ReplacesInvalidUtf8AndControlsWithReplacementCharacter) {
  EXPECT_EQ(XmlText(std::string("a\0b", 3)), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(XmlText("\x1b[0m"), "\xEF\xBF\xBD[0m");
  EXPECT_EQ(XmlText("\x80"), "\xEF\xBF\xBD");
  EXPECT_EQ(XmlText("\xEF\xBF\xBF"), "\xEF\xBF\xBD");  // U+FFFF is no XML character
}

TEST(XmlText, EveryByteStringBecomesWellFormedCharData) {
  // Every single byte, every pair of bytes, and some longer mixes.
  for (int a = 0; a < 256; ++a) {
    std::string one(1, static_cast<char>(a));
    ASSERT_TRUE(IsWellFormedCharData(XmlText(one))) << a;
    for (int b = 0; b < 256; ++b) {
      std::string two = one + static_cast<char>(b);
      ASSERT_TRUE(IsWellFormedCharData(XmlText(two))) << a << " " << b;
    }
  }
  EXPECT_TRUE(IsWellFormedCharData(XmlText("\xE2\x82<&\x01\xF0\x9F\x98\xED\xA0\x80>")));
}

TEST(DecodeQueryEc2, RefusesInvalidUtf8Values) {
  auto d = Ec2Decode("DescribeVpcs", {{"VpcId.1", "vpc-\xff"}});
  EXPECT_FALSE(d.ok);
  EXPECT_FALSE(d.err.unknown);
  EXPECT_EQ(d.err.param, "VpcId.1");
}

TEST(EncodeXml, OutputWithControlsIsWellFormed) {
  Json out = {{"Vpcs", Json::array({{{"VpcId", "vpc-1"}, {"CidrBlock", std::string("1\0<2\x80", 5)}}})}};
  std::string xml = EncodeXml(model::Ec2Model(), Op(model::Ec2Model(), "DescribeVpcs"),
                              QueryFlavor::kEc2, out, "req");
  EXPECT_TRUE(IsValidUtf8(xml));
  EXPECT_EQ(xml.find('\0'), std::string::npos);
  EXPECT_NE(xml.find("1\xEF\xBF\xBD&lt;2\xEF\xBF\xBD"), std::string::npos) << xml;
}

}  // namespace
}  // namespace kecs::api::protocol
