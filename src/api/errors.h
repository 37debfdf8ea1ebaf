#pragma once
// AWS errors at the API edge.
//
// Handlers validate in many places; each refusal is one `throw AwsError(...)`, and the
// dispatcher (api/router.cc) is the only place that catches it and renders it in the
// protocol's error shape (JSON 1.1 body, EC2 or Query XML). Lower layers never throw; their
// Status values are mapped here, once, by FromStatus.
#include <stdexcept>
#include <string>

#include "base/status.h"

namespace kecs::api {

class AwsError : public std::runtime_error {
 public:
  AwsError(std::string code, std::string message, int http_status = 400)
      : std::runtime_error(message), code_(std::move(code)), message_(std::move(message)),
        http_status_(http_status) {}

  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }
  int http_status() const { return http_status_; }
  bool server_fault() const { return http_status_ >= 500; }

 private:
  std::string code_;
  std::string message_;
  int http_status_;
};

// The generic AWS error for a lower-layer Status that a handler did not map itself.
// `server_code` names the service's own 500 error (ECS: "ServerException").
AwsError FromStatus(const Status& st, const std::string& server_code,
                    const std::string& client_code);

// Throws FromStatus(st, ...) when st is not ok.
void ThrowIfError(const Status& st, const std::string& server_code,
                  const std::string& client_code);

}  // namespace kecs::api
