#pragma once
// AWS errors at the API edge.
//
// Handlers validate in many places; each refusal is one `throw AwsError(...)`, and the
// dispatcher (api/router.cc) is the only place that catches it and renders it in the
// protocol's error shape (JSON 1.1 body, EC2 or Query XML). Lower layers return Status;
// a handler words the failures it expects (an exhausted subnet, a missing object) itself,
// and each service's Check() turns any other failure into its 500 error (ECS
// ServerException, EC2 InternalError).
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>


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

}  // namespace kecs::api
