#pragma once
// A minimal HTTP client for `kecs status`, `kecs logs` and `kecs elb`: GET a path from the
// daemon.
#include <cstdint>
#include <string>
#include <vector>

#include "base/json.h"

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
// `kecs kube coredns`: the CoreDNS rewrite rules for the Cloud Map names of the kubernetes
// runtime's headless Services.
int PrintKubeCoreDns(const std::string& host, uint16_t port);
// An ECS API call (JSON 1.1, signed with KECS_AUTH_KEYS's first pair when it is set).
Result<HttpReply> CallEcs(const std::string& host, uint16_t port, const std::string& operation, const Json& input);
// "Code: message" of an API error body (or the body).
std::string ApiErrorText(const std::string& body);
// `kecs exec` (exec_client.cc): runs `command` in a task's container through
// ExecuteCommand and its stream; returns the command's exit code (1 when the session
// failed).
int RunExec(const std::string& host, uint16_t port, const std::string& cluster, const std::string& task,
            const std::string& container, const std::vector<std::string>& command);
// `kecs alarm set NAME ALARM|OK`: sets a deployment alarm of kecs's alarm source
// (POST /_kecs/v1/alarms); returns the process exit code.
int SetAlarm(const std::string& host, uint16_t port, const std::string& name, const std::string& state);
// Prints the daemon's /health; returns the process exit code (0 when it answers).
int PrintStatus(const std::string& host, uint16_t port);

}  // namespace kecs::daemon
