#pragma once
// The sockets of the task metadata and credentials endpoint, at 169.254.170.2:80 where
// Amazon ECS serves it.
//
// A task with a network namespace of its own (awsvpc, bridge, none) gets a listener inside
// it: the address goes on the namespace's `lo` and a TCP socket is bound there, so only
// that task's containers can reach it, whatever their routes. Host-mode tasks share the
// host's namespace, so they share one listener there, on a bridge of kecs's own with no
// ports (named with the runtime prefix and aliased "kecs:metadata", so `kecs cleanup`
// finds it; a bridge rather than a dummy link, which not every kernel builds).
//
// Sockets are made on a short-lived thread that enters the namespace (setns is per
// thread); the caller serves them (api::HttpServer::AddListener) and closes them. A
// socket keeps its namespace alive, so a listener must be closed before its task's
// namespace is deleted. Thread-safe; every function is idempotent.
#include <cstdint>
#include <string>

#include "base/status.h"

namespace kecs::net {

inline constexpr const char* kTaskMetadataAddress = "169.254.170.2";
inline constexpr uint16_t kTaskMetadataPort = 80;

// Puts `address`/32 on `lo` of the network namespace at `netns_path` (a file such as
// /var/run/netns/NAME or /proc/PID/ns/net) and returns a listening TCP socket bound to
// address:port inside it (close-on-exec, non-blocking). Fails when the namespace cannot be
// entered or the port is taken there.
Result<int> OpenNetnsListener(const std::string& netns_path, const std::string& address = kTaskMetadataAddress,
                              uint16_t port = kTaskMetadataPort);

// The same in the daemon's own namespace: `address`/32 on bridge `link` (made, aliased
// `alias` and set up when missing). Unavailable when another process holds the port.
Result<int> OpenHostListener(const std::string& link, const std::string& alias,
                             const std::string& address = kTaskMetadataAddress, uint16_t port = kTaskMetadataPort);
// Removes the host bridge (and its address). Succeeds when it is gone.
Status RemoveHostListenerLink(const std::string& link);

}  // namespace kecs::net
