#pragma once
// Links, addresses and routes over rtnetlink (libnl-route-3).
//
// A Netlink talks to the network namespace of the thread that opened it; use it on that
// thread only (typically inside netns::Run). Deleting a link that is already gone
// succeeds. libnl's error codes become Status values here.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

struct nl_sock;

namespace kecs::net {

struct LinkInfo {
  std::string name;
  std::string alias;
  int index = 0;
  std::string kind;  // veth, bridge, ...
  int master = 0;
  // The link's counters as the kernel keeps them (rx: what it received).
  uint64_t rx_bytes = 0, rx_packets = 0, rx_dropped = 0;
  uint64_t tx_bytes = 0, tx_packets = 0, tx_dropped = 0;
};

class Netlink {
 public:
  static Result<std::unique_ptr<Netlink>> Open();
  ~Netlink();

  // A veth pair; `peer` goes into the namespace of `peer_netns_fd` when >= 0.
  Status CreateVeth(const std::string& name, const std::string& peer, int peer_netns_fd,
                    const std::string& alias);
  Status CreateBridge(const std::string& name, const std::string& alias);
  Status SetMaster(const std::string& link, const std::string& master);
  Status SetUp(const std::string& link);
  Status SetMac(const std::string& link, const std::string& mac);
  // "0a:58:0a:00:01:05"; "" for a link without a hardware address.
  Result<std::string> GetMac(const std::string& link);
  Status Rename(const std::string& link, const std::string& new_name);
  Status SetAlias(const std::string& link, const std::string& alias);
  // "10.0.1.4/24"; adding an address that is already there succeeds.
  Status AddAddress(const std::string& link, const std::string& cidr);
  // dst "default" or a CIDR; gateway may be empty (on-link). With `replace`, an existing
  // route to dst is replaced; without, AlreadyExists is returned.
  Status AddRoute(const std::string& dst, const std::string& gateway, const std::string& link,
                  bool replace = true);
  // Deletes the main table's route to dst ("default" or a CIDR), whatever its gateway,
  // link or scope; succeeds when there is none.
  Status DeleteRoute(const std::string& dst);
  Status DeleteLink(const std::string& link);
  bool LinkExists(const std::string& link);
  Result<std::vector<LinkInfo>> ListLinks();
  // IPv4 addresses of a link as "a.b.c.d/len" (with `ipv6`, its IPv6 ones as "x::y/len").
  Result<std::vector<std::string>> ListAddresses(const std::string& link, bool ipv6 = false);
  // Removes "10.0.1.4/32" (or an IPv6 "x::y/128") from the link; succeeds when it is not there.
  Status DeleteAddress(const std::string& link, const std::string& cidr);

 private:
  Netlink() = default;
  int IndexOf(const std::string& link);
  nl_sock* sock_ = nullptr;
};

}  // namespace kecs::net
