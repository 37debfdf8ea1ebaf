#pragma once
// A minimal HTTP client for `kecs status`, `kecs logs` and `kecs elb`: GET a path from the
// daemon.
#include <cstdint>
#include <string>

#include "base/status.h"

namespace kecs::daemon {

struct HttpReply {
  int status = 0;
  std::string body;
  std::string next_offset;  // X-Kecs-Log-Offset
};
Result<HttpReply> HttpGetReply(const std::string& host, uint16_t port, const std::string& path);
Result<std::string> HttpGet(const std::string& host, uint16_t port, const std::string& path);
// `kecs logs`: prints the container's output, and with `follow` keeps polling for more.
int PrintLogs(const std::string& host, uint16_t port, const std::string& task,
              const std::string& container, bool follow);
// `kecs elb ls`: one line per listener with the host address and port it is published on.
int PrintLoadBalancers(const std::string& host, uint16_t port);
// `kecs elb ca`: the PEM of the CA that signs the HTTPS listeners' certificates.
int PrintLoadBalancerCa(const std::string& host, uint16_t port);
// Prints the daemon's /health; returns the process exit code (0 when it answers).
int PrintStatus(const std::string& host, uint16_t port);

}  // namespace kecs::daemon
