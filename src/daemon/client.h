#pragma once
// A minimal HTTP client for `kecs status` (and `kecs logs` later): GET a path from the
// daemon and return the body.
#include <cstdint>
#include <string>

#include "base/status.h"

namespace kecs::daemon {

Result<std::string> HttpGet(const std::string& host, uint16_t port, const std::string& path);
// Prints the daemon's /health; returns the process exit code (0 when it answers).
int PrintStatus(const std::string& host, uint16_t port);

}  // namespace kecs::daemon
