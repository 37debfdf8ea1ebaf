#pragma once
// The sockets of the task metadata and credentials endpoint, at 169.254.170.2:80 where
// Amazon ECS serves it.
//
// As ecs-init does for the agent, the server does not take port 80 itself: it listens on
// 169.254.170.2:51679 (the agent's credentials port, which ECS reserves on container
// instances) and an nftables rule in the namespace's output hook sends connections to
// 169.254.170.2:80 there. So a container may still listen on 0.0.0.0:80 (nginx does):
// binding the metadata address's port 80 would make its bind fail.
//
// A task with a network namespace of its own (awsvpc, bridge, none) gets a listener inside
// it: the address goes on the namespace's `lo`, the socket and the rule (table
// "ip kecs_metadata") are made there, so only that task's containers reach it. Host-mode
// tasks share the host's namespace, so they share one listener there, on a bridge of
// kecs's own with no ports (named with the runtime prefix and aliased "kecs:metadata", so
// `kecs cleanup` finds it; a bridge rather than a dummy link, which not every kernel
// builds), with the rule in a table of the caller's naming.
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
inline constexpr uint16_t kTaskMetadataListenPort = 51679;

// Where a listener is and what reaches it.
struct MetadataAddress {
  std::string address = kTaskMetadataAddress;
  uint16_t port = kTaskMetadataPort;           // what clients connect to
  uint16_t listen_port = kTaskMetadataListenPort;  // where the socket listens
  // The nftables table of a namespace listener's redirect (OpenNetnsListener). Each
  // endpoint has its own, so that two endpoints in one namespace (an EC2 instance's IMDS
  // and a host-mode task's metadata endpoint on that instance) never replace each other's.
  std::string netns_table = "kecs_metadata";
  // Also redirect connections routed in from behind the namespace (prerouting): bridge-mode
  // tasks behind an EC2 instance reach its IMDS, as containers on an instance do.
  bool routed_clients = false;
};

// The nft script that sends address:port to address:listen_port in table ip `table`.
std::string MetadataRedirectRules(const std::string& table, const MetadataAddress& a);

// Puts the address on `lo` of the network namespace at `netns_path` (a file such as
// /var/run/netns/NAME or /proc/PID/ns/net), the redirect in its table ip `a.netns_table`,
// and returns a listening TCP socket (close-on-exec, non-blocking) made inside it. Fails
// when the namespace cannot be entered or the listen port is taken there.
Result<int> OpenNetnsListener(const std::string& netns_path, const MetadataAddress& a = {});

// The same in the daemon's own namespace, on bridge `link` (made, aliased `alias` and set
// up when missing), with the redirect in table ip `table`. Unavailable when another
// process holds the listen port.
Result<int> OpenHostListener(const std::string& link, const std::string& alias, const std::string& table,
                             const MetadataAddress& a = {});
// Removes the host bridge (and its address) and the table. Succeeds when they are gone.
Status RemoveHostListener(const std::string& link, const std::string& table);

}  // namespace kecs::net
