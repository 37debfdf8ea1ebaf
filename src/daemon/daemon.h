#pragma once
// Wiring: store, runtime, controllers, API services, HTTP server, signals.
#include "daemon/config.h"

namespace kecs::daemon {

// Runs the daemon in the foreground until SIGINT or SIGTERM; returns the exit code.
int Run(const Config& cfg);

}  // namespace kecs::daemon
