#pragma once
// IPv4 and IPv6 addresses and CIDR blocks as values.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kecs::net {

std::optional<uint32_t> ParseIpv4(std::string_view s);
std::string Ipv4ToString(uint32_t ip);

struct Ipv4Cidr {
  uint32_t base = 0;  // network address (host bits cleared)
  int prefix = 0;

  // "10.0.1.0/24". Host bits set in the address are cleared, as EC2 does.
  static std::optional<Ipv4Cidr> Parse(std::string_view s);
  std::string ToString() const;
  uint64_t size() const { return uint64_t{1} << (32 - prefix); }
  uint32_t last() const { return base + static_cast<uint32_t>(size() - 1); }
  bool Contains(uint32_t ip) const { return ip >= base && ip <= last(); }
  bool Contains(const Ipv4Cidr& o) const { return o.prefix >= prefix && Contains(o.base); }
  bool Overlaps(const Ipv4Cidr& o) const { return Contains(o.base) || o.Contains(base); }
  // AWS reserves the network address, +1 (router), +2 (DNS), +3 and the broadcast.
  uint32_t router() const { return base + 1; }
  uint32_t dns() const { return base + 2; }
  bool Reserved(uint32_t ip) const { return ip < base + 4 || ip == last(); }
};

using Ipv6 = std::array<uint8_t, 16>;
std::optional<Ipv6> ParseIpv6(std::string_view s);
std::string Ipv6ToString(const Ipv6& a);

struct Ipv6Cidr {
  Ipv6 base{};
  int prefix = 0;
  static std::optional<Ipv6Cidr> Parse(std::string_view s);
  std::string ToString() const;
  bool Contains(const Ipv6& a) const;
  // Whether `o` lies wholly inside this block (an equal block does).
  bool Contains(const Ipv6Cidr& o) const { return o.prefix >= prefix && Contains(o.base); }
  bool Overlaps(const Ipv6Cidr& o) const;
  bool operator==(const Ipv6Cidr& o) const = default;
};

// "ip-10-0-1-5.ec2.internal" in us-east-1, "ip-10-0-1-5.<region>.compute.internal" elsewhere.
std::string PrivateDnsName(const std::string& region, uint32_t ip);
// "ip-10-0-1-5"
std::string IpHostname(uint32_t ip);

}  // namespace kecs::net
