#include "net/kernel/host_ports.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

namespace kecs::net {
namespace {

int BindAny(const std::string& protocol, int port) {
  int fd = socket(AF_INET, (protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

}  // namespace

bool HostPortFree(const std::string& protocol, int port) {
  int fd = BindAny(protocol, port);
  if (fd < 0) return false;
  close(fd);
  return true;
}

HostPortReservations::~HostPortReservations() {
  for (auto& [k, h] : held_) close(h.fd);
}

Status HostPortReservations::Reserve(const std::string& protocol, int port, const std::string& owner) {
  std::lock_guard<std::mutex> lock(mu_);
  auto key = std::make_pair(protocol, port);
  if (auto it = held_.find(key); it != held_.end()) {
    if (it->second.owner == owner) return Status::Ok();
    // The port changed hands inside kecs (its old task is gone): move the reservation.
    it->second.owner = owner;
    return Status::Ok();
  }
  int fd = BindAny(protocol, port);
  if (fd < 0) {
    return AlreadyExists(fmt::format("host port {}/{} is in use by another program", port, protocol));
  }
  held_[key] = {fd, owner};
  return Status::Ok();
}

void HostPortReservations::Release(const std::string& owner) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->second.owner == owner) {
      close(it->second.fd);
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
}

void HostPortReservations::ReleaseAllBut(const std::set<std::string>& keep) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = held_.begin(); it != held_.end();) {
    if (!keep.count(it->second.owner)) {
      close(it->second.fd);
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace kecs::net
