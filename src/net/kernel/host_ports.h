#pragma once
// Host ports kecs publishes: reserved with a bound socket so that no other program can
// take one while kecs forwards it (nftables DNAT never reaches a socket, so without the
// reservation another listener would silently lose its traffic), and probed before they
// are handed out.
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "base/status.h"

namespace kecs::net {

// Whether `port` can be bound on every IPv4 host address right now.
bool HostPortFree(const std::string& protocol, int port);

class HostPortReservations {
 public:
  ~HostPortReservations();
  // Binds the port on every IPv4 host address for `owner`. Repeating it for the same owner
  // is a no-op; a port this object already holds for another owner moves to `owner` (kecs
  // handed it on); AlreadyExists when another program has the port.
  Status Reserve(const std::string& protocol, int port, const std::string& owner);
  // Closes every reservation of `owner`.
  void Release(const std::string& owner);
  // Closes reservations whose owner is not in `keep`.
  void ReleaseAllBut(const std::set<std::string>& keep);

 private:
  struct Held {
    int fd;
    std::string owner;
  };
  std::mutex mu_;
  std::map<std::pair<std::string, int>, Held> held_;  // guarded by mu_
};

}  // namespace kecs::net
