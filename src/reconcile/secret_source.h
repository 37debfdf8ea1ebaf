#pragma once
// Where a task's secrets come from (issue 14): SSM Parameter Store and Secrets Manager, as
// the API layer serves them. The daemon wires the services' readers in; the task controller
// resolves a container's `secrets`, its log configuration's `secretOptions` and its
// `repositoryCredentials` through this interface when the task starts, and keeps the values
// in memory only (never in the task record, a log line or an error).
#include <string>
#include <string_view>

#include "base/status.h"

namespace kecs::reconcile {

class SecretSource {
 public:
  virtual ~SecretSource() = default;
  // The plaintext `value_from` names, read in the task's `region` and `account`:
  //  - an SSM parameter name ("/a/b", "name") or ARN (arn:aws:ssm:...:parameter/...),
  //    optionally with a :version or :label selector; SecureStrings decrypted;
  //  - a Secrets Manager secret ARN (arn:aws:secretsmanager:...:secret:name-AbCdEf),
  //    optionally followed by :json-key:version-stage:version-id (each may be empty).
  // NotFound (or InvalidArgument for a malformed reference) with a message that names the
  // reference and never a value.
  virtual Result<std::string> Resolve(std::string_view value_from, std::string_view region,
                                      std::string_view account) = 0;
};

}  // namespace kecs::reconcile
