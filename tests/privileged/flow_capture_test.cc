// net::FlowCapture against the real kernel, in a namespace of its own: a packet an nft rule
// logs to NFLOG group 15 and drops comes back as a drop sample with the rule's prefix and
// the packet's addresses, ports and length; an accepted flow's packets and bytes come from
// conntrack's counters, once: a dump resets them.
#include "net/kernel/flow_capture.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "net/kernel/netns.h"
#include "net/kernel/nft.h"
#include "privileged/privileged.h"

namespace kecs::privileged {
namespace {

class FlowCaptureTest : public PrivilegedTest {
 protected:
  void SetUp() override {
    PrivilegedTest::SetUp();
    if (IsSkipped()) return;
    ns_ = P() + "-flow-" + RandomHex(4);
    ASSERT_TRUE(net::netns::Create(ns_).ok());
    ASSERT_EQ(Sh({"ip", "-n", ns_, "link", "set", "lo", "up"}).code, 0);
  }

  // `count` UDP datagrams of `size` bytes from one socket (one flow) inside the namespace.
  void SendUdp(const std::string& ip, int port, int count, size_t size) {
    ASSERT_TRUE(net::netns::Run(ns_, [&]() -> Status {
                  int fd = socket(AF_INET, SOCK_DGRAM, 0);
                  if (fd < 0) return Internal("socket");
                  sockaddr_in to{};
                  to.sin_family = AF_INET;
                  to.sin_port = htons(static_cast<uint16_t>(port));
                  inet_pton(AF_INET, ip.c_str(), &to.sin_addr);
                  std::string data(size, 'x');
                  for (int i = 0; i < count; ++i) {
                    (void)sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
                  }
                  close(fd);
                  return Status::Ok();
                }).ok());
  }

  std::string ns_;
};

TEST_F(FlowCaptureTest, DropsFromNflogAndAcceptedFlowsFromConntrackCounters) {
  ASSERT_TRUE(net::nft::Apply(ns_, "add table inet t\n"
                                   "add chain inet t out { type filter hook output priority 0; policy accept; }\n"
                                   // A ct expression turns conntrack on in the namespace, as the
                                   // routers' `ct state` rules do.
                                   "add rule inet t out ct state invalid drop\n"
                                   "add rule inet t out ip daddr 127.0.0.2 udp dport 9 log prefix "
                                   "\"kf:i:eni-0123456789abcdef0\" group 15 drop\n")
                  .ok());
  auto cap = net::FlowCapture::Open(ns_);
  ASSERT_TRUE(cap.ok()) << cap.status().ToString();
  SendUdp("127.0.0.2", 9, 2, 100);   // dropped by the rule
  SendUdp("127.0.0.3", 10, 3, 100);  // accepted: 3 packets of 20 + 8 + 100 bytes

  std::vector<net::FlowSample> drops;
  for (int i = 0; i < 40 && drops.size() < 2; ++i) {  // NFLOG flushes its batch within 0.1 s
    std::vector<net::FlowSample> got;
    ASSERT_TRUE((*cap)->Drain(got).ok());
    for (auto& s : got) {
      if (!s.accepted) drops.push_back(s);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(drops.size(), 2u);
  for (const auto& d : drops) {
    EXPECT_EQ(d.prefix, "kf:i:eni-0123456789abcdef0");
    EXPECT_EQ(d.src, "127.0.0.1");
    EXPECT_EQ(d.dst, "127.0.0.2");
    EXPECT_EQ(d.dst_port, 9);
    EXPECT_EQ(d.protocol, 17);
    EXPECT_EQ(d.packets, 1u);
    EXPECT_EQ(d.bytes, 128u);
  }

  std::vector<net::FlowSample> flows;
  ASSERT_TRUE((*cap)->Dump(flows).ok());
  const net::FlowSample* flow = nullptr;
  for (const auto& s : flows) {
    if (s.accepted && s.dst == "127.0.0.3" && s.dst_port == 10) flow = &s;
  }
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->src, "127.0.0.1");
  EXPECT_EQ(flow->protocol, 17);
  EXPECT_EQ(flow->packets, 3u);
  EXPECT_EQ(flow->bytes, 384u);
  EXPECT_TRUE(flow->new_flow);
  // Reset by the dump: the next one has nothing new of it.
  std::vector<net::FlowSample> again;
  ASSERT_TRUE((*cap)->Dump(again).ok());
  for (const auto& s : again) EXPECT_FALSE(s.accepted && s.dst == "127.0.0.3" && s.src == "127.0.0.1") << s.packets;
  EXPECT_FALSE((*cap)->Stale());
  cap->reset();
  ASSERT_TRUE(net::netns::Delete(ns_).ok());
}

}  // namespace
}  // namespace kecs::privileged
