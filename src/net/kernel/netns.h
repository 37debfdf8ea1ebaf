#pragma once
// Named network namespaces, as `ip netns` keeps them: a file under /var/run/netns
// bind-mounted to a namespace.
//
// Namespace work runs on a dedicated thread that enters the namespace (setns is per
// thread) and ends with the work, so no thread ever returns to a pool in the wrong
// namespace. All functions are thread-safe; Create and Delete are idempotent, and those of
// one name are serialised within the process.
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"

namespace kecs::net::netns {

inline constexpr const char* kRunDir = "/var/run/netns";

Status Create(const std::string& name);
// Succeeds when the namespace is already gone.
Status Delete(const std::string& name);
bool Exists(const std::string& name);
std::vector<std::string> List();
// Runs `fn` on a new thread inside namespace `name` ("" = the host's) and returns its
// Status.
Status Run(const std::string& name, const std::function<Status()>& fn);
// The same for the namespace at `path` (a /run/netns file or /proc/<pid>/ns/net; "" = the
// host's).
Status RunAt(const std::string& path, const std::function<Status()>& fn);
// Writes a sysctl of the calling thread's network namespace, e.g.
// WriteSysctl("net/ipv4/ip_forward", "1").
Status WriteSysctl(const std::string& key, const std::string& value);
std::string ReadSysctl(const std::string& key);

}  // namespace kecs::net::netns
