#include "api/secret_sources.h"

namespace kecs::api {

bool IsSecretsManagerReference(std::string_view value_from) {
  // arn:<partition>:secretsmanager:...; the partition is aws, aws-cn, aws-us-gov, ...
  if (!value_from.starts_with("arn:")) return false;
  size_t colon = value_from.find(':', 4);
  return colon != std::string_view::npos && value_from.substr(colon + 1).starts_with("secretsmanager:");
}

Result<std::string> ServiceSecretSource::Resolve(std::string_view value_from, std::string_view region,
                                                 std::string_view account) {
  if (value_from.empty()) return InvalidArgument("the secret reference is empty");
  const Reader& reader = IsSecretsManagerReference(value_from) ? secrets_manager_ : ssm_;
  if (!reader) return NotFound(std::string(value_from) + ": its service is not served");
  return reader(value_from, region, account);
}

}  // namespace kecs::api
