#include "reconcile/task_secrets.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/json.h"
#include "base/strings.h"

namespace kecs::reconcile {
namespace {

constexpr const char* kPrefix =
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: ";
constexpr const char* kRetried = "service call has been retried 1 time(s): ";
constexpr const char* kAsmNotFound = "ResourceNotFoundException: Secrets Manager can't find the specified secret.";

bool IsSecretsManager(const std::string& ref) {
  if (!ref.starts_with("arn:")) return false;
  size_t colon = ref.find(':', 4);
  return colon != std::string::npos && ref.compare(colon + 1, 15, "secretsmanager:") == 0;
}

// arn:aws:ecs:<region>:<account>:task/...
std::string AccountOf(const model::Task& task) {
  std::vector<std::string> parts = Split(task.task_arn, ':');
  return parts.size() > 4 ? parts[4] : "";
}

void Set(std::vector<std::pair<std::string, std::string>>& kvs, const std::string& name, std::string value) {
  for (auto& [k, v] : kvs) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  kvs.emplace_back(name, std::move(value));
}

// The part of a Secrets Manager failure after "from secrets manager: ".
std::string AsmCause(const Status& st) {
  return st.code() == Code::kNotFound ? std::string(kAsmNotFound) : st.message();
}

}  // namespace

bool HasSecrets(const model::Task& task) {
  for (const auto& c : task.internal.containers) {
    if (!c.secrets.empty() || !c.repository_credentials.empty()) return true;
    if (c.log_configuration && !c.log_configuration->secret_options.empty()) return true;
  }
  return false;
}

Status ResolveTaskSecrets(SecretSource& source, const model::Task& task, runtime::TaskSpec& spec) {
  const std::string account = AccountOf(task);
  std::vector<std::string> invalid_ssm;  // every SSM reference that names nothing
  std::string ssm_failure;               // the first other SSM failure
  std::string asm_failure;               // the first Secrets Manager failure
  auto resolve = [&](const model::SecretRef& ref) -> std::optional<std::string> {
    auto value = source.Resolve(ref.value_from, task.region, account);
    if (value.ok()) return std::move(*value);
    const Status& st = value.status();
    if (IsSecretsManager(ref.value_from)) {
      if (asm_failure.empty()) {
        asm_failure = std::string(kPrefix) + "unable to retrieve secret from asm: " + kRetried + "failed to fetch secret " +
                      ref.value_from + " from secrets manager: " + AsmCause(st);
      }
    } else if (st.code() == Code::kNotFound || st.code() == Code::kInvalidArgument) {
      bool seen = false;
      for (const auto& r : invalid_ssm) seen = seen || r == ref.value_from;
      if (!seen) invalid_ssm.push_back(ref.value_from);
    } else if (ssm_failure.empty()) {
      ssm_failure = std::string(kPrefix) + "unable to retrieve secrets from ssm: " + kRetried + st.message();
    }
    return std::nullopt;
  };

  for (size_t i = 0; i < task.internal.containers.size() && i < spec.containers.size(); ++i) {
    const model::ContainerDefinition& def = task.internal.containers[i];
    runtime::ContainerSpec& cs = spec.containers[i];
    // Registry credentials first: the pull comes before any container starts.
    if (!def.repository_credentials.empty()) {
      std::string ref = def.repository_credentials;
      // credentialsParameter may be the secret's name; Secrets Manager is asked either way.
      if (!ref.starts_with("arn:")) ref = "arn:aws:secretsmanager:" + task.region + ":" + account + ":secret:" + ref;
      std::string why = std::string(kPrefix) + "unable to get registry auth from asm: " + kRetried +
                        "asm fetching secret from the service for " + def.repository_credentials + ": ";
      auto value = source.Resolve(ref, task.region, account);
      if (!value.ok()) return Status(value.status().code(), why + AsmCause(value.status()));
      // Never quote the parser's error: it may echo part of the value.
      Json doc = Json::parse(*value, nullptr, false);
      if (doc.is_discarded() || !doc.is_object() || !doc.contains("username") || !doc.contains("password") ||
          !doc["username"].is_string() || !doc["password"].is_string()) {
        return InvalidArgument(why + "the secret's value is not a JSON object with a \"username\" and a \"password\"");
      }
      cs.registry_auth = runtime::ContainerSpec::RegistryAuth{doc["username"].get<std::string>(),
                                                              doc["password"].get<std::string>()};
    }
    for (const auto& ref : def.secrets) {
      if (auto v = resolve(ref)) Set(cs.environment, ref.name, std::move(*v));
    }
    if (def.log_configuration) {
      for (const auto& ref : def.log_configuration->secret_options) {
        if (auto v = resolve(ref)) Set(cs.log_options, ref.name, std::move(*v));
      }
    }
  }
  if (!invalid_ssm.empty()) {
    return NotFound(std::string(kPrefix) + "unable to retrieve secrets from ssm: " + kRetried +
                    "invalid ssm parameters: " + Join(invalid_ssm, ","));
  }
  if (!ssm_failure.empty()) return Unavailable(ssm_failure);
  if (!asm_failure.empty()) return NotFound(asm_failure);
  return Status::Ok();
}

}  // namespace kecs::reconcile
