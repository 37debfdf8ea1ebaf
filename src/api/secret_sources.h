#pragma once
// The SecretSource the task controller resolves a task's secrets through (issue 14): each
// reference goes to the service that owns it, as the ECS agent decides. A Secrets Manager
// ARN (arn:<partition>:secretsmanager:...) goes to Secrets Manager's reader, with its
// :json-key:version-stage:version-id suffixes as given; everything else (a parameter name,
// or an arn:<partition>:ssm:... ARN) to Parameter Store's. The readers are plain
// functions, so the daemon wires the services in and tests pass fakes. Thread-safe when
// the readers are.
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "reconcile/secret_source.h"

namespace kecs::api {

class ServiceSecretSource : public reconcile::SecretSource {
 public:
  // (value_from, region, account) -> plaintext, as SsmApi::ResolveParameter and
  // SecretsManagerApi::ResolveReference.
  using Reader = std::function<Result<std::string>(std::string_view, std::string_view, std::string_view)>;

  ServiceSecretSource(Reader ssm, Reader secrets_manager)
      : ssm_(std::move(ssm)), secrets_manager_(std::move(secrets_manager)) {}

  Result<std::string> Resolve(std::string_view value_from, std::string_view region,
                              std::string_view account) override;

 private:
  const Reader ssm_;
  const Reader secrets_manager_;
};

// Whether `value_from` names a Secrets Manager secret (arn:<partition>:secretsmanager:...).
bool IsSecretsManagerReference(std::string_view value_from);

}  // namespace kecs::api
