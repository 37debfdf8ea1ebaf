// Flow log formats, drop prefixes and records (net/domain/flow_log.h), and the parser of
// the packets NFLOG hands over (net/kernel/flow_capture.h). No root.
#include "net/domain/flow_log.h"

#include <gtest/gtest.h>

#include <vector>

#include "net/kernel/flow_capture.h"

namespace kecs::net {
namespace {

TEST(FlowLogFormat, DefaultFormatIsVersionTwoWithFourteenFields) {
  auto f = ParseFlowLogFormat(kDefaultFlowLogFormat);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->size(), 14u);
  EXPECT_EQ(f->front(), "version");
  EXPECT_EQ(f->back(), "log-status");
  EXPECT_EQ(FlowLogFormatVersion(*f), 2);
}

TEST(FlowLogFormat, CustomFieldsSetTheVersion) {
  auto f = ParseFlowLogFormat("${vpc-id} ${srcaddr}");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(FlowLogFormatVersion(*f), 3);
  EXPECT_EQ(FlowLogFormatVersion(*ParseFlowLogFormat("${flow-direction} ${traffic-path}")), 5);
}

TEST(FlowLogFormat, RefusesUnknownFieldsAndLooseText) {
  EXPECT_EQ(ParseFlowLogFormat("${srcaddr} ${nope}").status().message(), "unknown field ${nope}");
  EXPECT_FALSE(ParseFlowLogFormat("srcaddr").ok());
  EXPECT_FALSE(ParseFlowLogFormat("${srcaddr").ok());
  EXPECT_FALSE(ParseFlowLogFormat("").ok());
}

TEST(FlowDropPrefixTest, RoundTripsEveryKind) {
  using K = FlowDrop::Kind;
  for (const FlowDrop& d : std::vector<FlowDrop>{{K::kEniIngress, "eni-0123456789abcdef0"},
                                                 {K::kEniEgress, "eni-0123456789abcdef0"},
                                                 {K::kAclInbound, "subnet-0123456789abcdef0"},
                                                 {K::kAclOutbound, "subnet-0123456789abcdef0"},
                                                 {K::kPrivateSubnet, ""}}) {
    std::string p = FlowDropPrefix(d);
    EXPECT_LE(p.size(), 31u) << p;
    auto back = ParseFlowDropPrefix(p);
    ASSERT_TRUE(back) << p;
    EXPECT_EQ(back->kind, d.kind);
    EXPECT_EQ(back->id, d.id);
  }
  EXPECT_FALSE(ParseFlowDropPrefix("kf:i:"));
  EXPECT_FALSE(ParseFlowDropPrefix("something else"));
  EXPECT_EQ(FlowDropLog({K::kEniIngress, "eni-1"}), "log prefix \"kf:i:eni-1\" group 15");
}

FlowRecord Sample() {
  FlowRecord r;
  r.account = "000000000000";
  r.interface_id = "eni-0a";
  r.vpc_id = "vpc-01";
  r.subnet_id = "subnet-01";
  r.src = "10.0.1.4";
  r.dst = "10.0.1.5";
  r.src_port = 40000;
  r.dst_port = 80;
  r.protocol = 6;
  r.packets = 6;
  r.bytes = 400;
  r.start = 1700000000;
  r.end = 1700000060;
  r.tcp_flags = 3;
  r.egress = true;
  r.traffic_path = 1;
  return r;
}

TEST(FlowRecordTest, DefaultFormatReadsAsAwsVersionTwo) {
  auto f = *ParseFlowLogFormat(kDefaultFlowLogFormat);
  EXPECT_EQ(FormatFlowRecord(Sample(), f),
            "2 000000000000 eni-0a 10.0.1.4 10.0.1.5 40000 80 6 6 400 1700000000 1700000060 ACCEPT OK");
  FlowRecord r = Sample();
  r.accept = false;
  EXPECT_EQ(FormatFlowRecord(r, f).substr(FormatFlowRecord(r, f).size() - 9), "REJECT OK");
}

TEST(FlowRecordTest, CustomFieldsAndUnknownValuesAsDash) {
  auto f = *ParseFlowLogFormat(
      "${vpc-id} ${subnet-id} ${instance-id} ${tcp-flags} ${type} ${pkt-srcaddr} ${flow-direction} "
      "${traffic-path} ${az-id}");
  EXPECT_EQ(FormatFlowRecord(Sample(), f), "vpc-01 subnet-01 - 3 IPv4 10.0.1.4 egress 1 -");
  FlowRecord in = Sample();
  in.egress = false;
  EXPECT_EQ(FormatFlowRecord(in, *ParseFlowLogFormat("${flow-direction} ${traffic-path}")), "ingress -");
}

TEST(FlowPacketTest, ParsesAnIpv4TcpSyn) {
  // 10.0.1.4:40000 -> 10.0.1.5:80, SYN, IP total length 60.
  std::vector<uint8_t> p(60, 0);
  p[0] = 0x45;
  p[3] = 60;
  p[9] = 6;
  p[12] = 10, p[13] = 0, p[14] = 1, p[15] = 4;
  p[16] = 10, p[17] = 0, p[18] = 1, p[19] = 5;
  p[20] = 40000 >> 8, p[21] = 40000 & 0xff;
  p[22] = 0, p[23] = 80;
  p[33] = 0x02;
  FlowSample s;
  ASSERT_TRUE(ParsePacket(p.data(), p.size(), s));
  EXPECT_EQ(s.src, "10.0.1.4");
  EXPECT_EQ(s.dst, "10.0.1.5");
  EXPECT_EQ(s.src_port, 40000);
  EXPECT_EQ(s.dst_port, 80);
  EXPECT_EQ(s.protocol, 6);
  EXPECT_EQ(s.packets, 1u);
  EXPECT_EQ(s.bytes, 60u);
  EXPECT_EQ(s.tcp_flags, 2);
  EXPECT_FALSE(s.ipv6);
  EXPECT_FALSE(ParsePacket(p.data(), 10, s));
}

TEST(FlowPacketTest, ParsesAnIpv6UdpDatagram) {
  std::vector<uint8_t> p(48, 0);
  p[0] = 0x60;
  p[5] = 8;  // payload length
  p[6] = 17;
  p[8] = 0xfd, p[23] = 1;
  p[24] = 0xfd, p[39] = 2;
  p[40] = 0x30, p[41] = 0x39;  // 12345
  p[42] = 0, p[43] = 53;
  FlowSample s;
  ASSERT_TRUE(ParsePacket(p.data(), p.size(), s));
  EXPECT_TRUE(s.ipv6);
  EXPECT_EQ(s.src, "fd00::1");
  EXPECT_EQ(s.dst, "fd00::2");
  EXPECT_EQ(s.src_port, 12345);
  EXPECT_EQ(s.dst_port, 53);
  EXPECT_EQ(s.bytes, 48u);
}

}  // namespace
}  // namespace kecs::net
