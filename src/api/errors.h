#pragma once
// AWS errors at the API edge: the one place where failures become AWS error codes.
//
// Three kinds of failure reach the dispatcher (api/router.cc), and it is the only place
// that catches them and renders them in the protocol's error shape (JSON 1.1 body, EC2 or
// Query XML):
//   - AwsError: a refusal a handler words itself (ClusterNotFoundException, an exhausted
//     subnet), thrown as `throw AwsError(code, message)`.
//   - StatusError: a lower layer's Status that no handler worded (each service's Check()
//     throws it). MapStatus() below is the one table from Status code to AWS error code
//     and HTTP status per error family; the client gets the table's generic message and
//     the request id, the Status's own text (SQLite's, a path) is only logged.
//   - any other exception from a library a handler called: nlohmann's at/get/type_error
//     and std::stoll's invalid_argument/out_of_range are a client-caused bad value, which
//     MapException() makes the family's validation error (never a 500); anything else
//     (bad_alloc, system_error) is the family's generic server error.
// Thread-safe: everything here is stateless.
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace kecs::api {

class AwsError : public std::runtime_error {
 public:
  AwsError(std::string code, std::string message, int http_status = 400)
      : std::runtime_error(message), code_(std::move(code)), message_(std::move(message)),
        http_status_(http_status) {}

  // Members an error shape has beside its message (Cloud Map's NamespaceAlreadyExists
  // names the existing namespace, for one), as {"Name": "value"}; JSON 1.1 only.
  AwsError& WithMember(const std::string& name, std::string value) {
    members_.emplace_back(name, std::move(value));
    return *this;
  }

  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }
  int http_status() const { return http_status_; }
  bool server_fault() const { return http_status_ >= 500; }
  const std::vector<std::pair<std::string, std::string>>& members() const { return members_; }

 private:
  std::string code_;
  std::string message_;
  int http_status_;
  std::vector<std::pair<std::string, std::string>> members_;
};

// A lower layer's failure that the handler did not word; see MapStatus.
class StatusError : public std::runtime_error {
 public:
  explicit StatusError(Status st) : std::runtime_error(st.ToString()), status_(std::move(st)) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// Throws StatusError when `st` is not ok; each service's Check() calls this.
void ThrowIfError(const Status& st);

// Who words an error: each AWS service (or protocol) has its own codes.
enum class ErrorFamily {
  kEcs,       // JSON 1.1, AmazonEC2ContainerServiceV20141113
  kCloudMap,  // JSON 1.1, Route53AutoNaming_v20170314
  kJson,      // any other JSON 1.1 service
  kEc2,       // EC2 Query/XML
  kQuery,     // AWS Query/XML (elasticloadbalancing and the like)
};

// One row of the table: the AWS error code, its HTTP status and the message a client
// sees (never the Status's own text).
struct WireError {
  std::string_view code;
  int http_status;
  std::string_view message;
};

// The table: every Status code to the family's AWS error. kOk maps to the family's server
// error (a handler that threw an ok Status is a kecs bug). kUnavailable (a busy store:
// SQLITE_BUSY/LOCKED past the busy timeout) maps to a throttling code botocore retries:
// ThrottlingException/400 for JSON 1.1, RequestLimitExceeded/503 for EC2, Throttling/400
// for Query (botocore data/_retry.json and retries/standard.py).
WireError MapStatus(ErrorFamily family, Code code);

// The family's validation error for a library exception thrown inside a handler.
AwsError MapException(ErrorFamily family, const std::exception& e);

// The family's code for a request whose input fails validation (missing member, bad
// value): InvalidParameterException, InvalidInput, InvalidParameterValue...
std::string_view ValidationCode(ErrorFamily family);

}  // namespace kecs::api
