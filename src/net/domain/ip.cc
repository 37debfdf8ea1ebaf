#include "net/domain/ip.h"

#include <arpa/inet.h>

#include <fmt/format.h>

namespace kecs::net {

std::optional<uint32_t> ParseIpv4(std::string_view s) {
  if (s.empty() || s.size() > 15) return std::nullopt;
  std::string str(s);
  in_addr a{};
  if (inet_pton(AF_INET, str.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string Ipv4ToString(uint32_t ip) {
  return fmt::format("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

std::optional<Ipv4Cidr> Ipv4Cidr::Parse(std::string_view s) {
  size_t slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto ip = ParseIpv4(s.substr(0, slash));
  std::string_view p = s.substr(slash + 1);
  if (!ip || p.empty() || p.size() > 2) return std::nullopt;
  int prefix = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return std::nullopt;
    prefix = prefix * 10 + (c - '0');
  }
  if (prefix > 32) return std::nullopt;
  Ipv4Cidr c;
  c.prefix = prefix;
  uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  c.base = *ip & mask;
  return c;
}

std::string Ipv4Cidr::ToString() const { return fmt::format("{}/{}", Ipv4ToString(base), prefix); }

std::optional<Ipv6> ParseIpv6(std::string_view s) {
  std::string str(s);
  Ipv6 a{};
  if (inet_pton(AF_INET6, str.c_str(), a.data()) != 1) return std::nullopt;
  return a;
}

std::string Ipv6ToString(const Ipv6& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
  return buf;
}

std::optional<Ipv6Cidr> Ipv6Cidr::Parse(std::string_view s) {
  size_t slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto a = ParseIpv6(s.substr(0, slash));
  if (!a) return std::nullopt;
  int prefix = 0;
  std::string_view p = s.substr(slash + 1);
  if (p.empty() || p.size() > 3) return std::nullopt;
  for (char c : p) {
    if (c < '0' || c > '9') return std::nullopt;
    prefix = prefix * 10 + (c - '0');
  }
  if (prefix > 128) return std::nullopt;
  Ipv6Cidr c;
  c.prefix = prefix;
  for (int i = 0; i < 16; ++i) {
    int bits = std::max(0, std::min(8, prefix - i * 8));
    uint8_t mask = bits == 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
    c.base[i] = (*a)[i] & mask;
  }
  return c;
}

std::string Ipv6Cidr::ToString() const { return fmt::format("{}/{}", Ipv6ToString(base), prefix); }

bool Ipv6Cidr::Contains(const Ipv6& a) const {
  for (int i = 0; i < 16; ++i) {
    int bits = std::max(0, std::min(8, prefix - i * 8));
    uint8_t mask = bits == 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != base[i]) return false;
  }
  return true;
}

bool Ipv6Cidr::Overlaps(const Ipv6Cidr& o) const { return Contains(o.base) || o.Contains(base); }

std::string IpHostname(uint32_t ip) {
  return fmt::format("ip-{}-{}-{}-{}", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

std::string PrivateDnsName(const std::string& region, uint32_t ip) {
  if (region == "us-east-1") return IpHostname(ip) + ".ec2.internal";
  return IpHostname(ip) + "." + region + ".compute.internal";
}

}  // namespace kecs::net
