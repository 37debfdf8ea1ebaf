#pragma once
// Wiring: store, runtime, controllers, API services, HTTP server, signals.
#include <string>

#include "daemon/config.h"

namespace kecs::daemon {

// Runs the daemon in the foreground until SIGINT or SIGTERM; returns the exit code.
int Run(const Config& cfg);
// `kecs image load`: loads an archive into <data-dir>/images.
int LoadImage(const Config& cfg, const std::string& archive, const std::string& tag);
// `kecs cleanup`: removes every kernel object named with cfg.name_prefix.
int Cleanup(const Config& cfg);

}  // namespace kecs::daemon
