#pragma once
// The AWS Secrets Manager API (secretsmanager.<Op>, JSON 1.1) over the secret record in
// secret.h.
//
// Served: CreateSecret, GetSecretValue, PutSecretValue, UpdateSecret,
// UpdateSecretVersionStage, ListSecretVersionIds, DescribeSecret, ListSecrets,
// BatchGetSecretValue, DeleteSecret, RestoreSecret, GetRandomPassword, TagResource and
// UntagResource. Every other operation (rotation, replication, resource policies) is
// answered as unknown by the router. Each operation validates its input in Secrets
// Manager's words and reads or writes the store in one transaction. Secret values are
// sealed (base/value_cipher.h) under <data dir>/secretsmanager.key before they reach the
// store; no value appears in an error or a log line. A secret scheduled for deletion is
// gone once its deletion date passes: reads treat it as absent and the next write removes
// its row. Thread-safe: all state lives in the store; the cipher is opened once.
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "api/router.h"
#include "api/secretsmanager/secret.h"
#include "base/clock.h"
#include "base/env.h"
#include "base/json.h"
#include "base/status.h"
#include "base/value_cipher.h"
#include "state/store.h"

namespace kecs::api::secretsmanager {

class SecretsManagerApi {
 public:
  // `key_path`: the key file (<data dir>/secretsmanager.key), made 0600 the first time a
  // value is written or read.
  SecretsManagerApi(state::Store& store, std::string key_path, Env* env = Env::Default(),
                    Clock* clock = &Clock::Real())
      : store_(store),
        cipher_(env, std::move(key_path), "Secrets Manager key", "secret values", "secretsmanager"),
        clock_(clock) {}
  // Registers every implemented operation on `service`.
  void RegisterAll(Service& service);

  // The value a container's `secrets` entry (or a log driver's secretOptions) names:
  // `value_from` is a secret ARN or name, optionally followed by
  // ":json-key:version-stage:version-id" (each part may be empty), as ECS documents. A name
  // (or partial ARN) is looked up in `region`; a full ARN in its own region and only for
  // `account`. Returns the SecretString, or the json-key's value (a string as is, any other
  // JSON value as its JSON text), of AWSCURRENT unless a stage or version id is given.
  // NotFound when the secret, version, stage or json-key is missing; InvalidArgument when
  // the reference is malformed, the secret is scheduled for deletion, holds only a
  // SecretBinary, or is not a JSON object while a json-key is asked. Messages name the
  // reference, never a value.
  Result<std::string> ResolveReference(std::string_view value_from, std::string_view region,
                                       std::string_view account);

 private:
  Json CreateSecret(RequestContext& ctx, const Json& in);
  Json GetSecretValue(RequestContext& ctx, const Json& in);
  Json PutSecretValue(RequestContext& ctx, const Json& in);
  Json UpdateSecret(RequestContext& ctx, const Json& in);
  Json UpdateSecretVersionStage(RequestContext& ctx, const Json& in);
  Json ListSecretVersionIds(RequestContext& ctx, const Json& in);
  Json DescribeSecret(RequestContext& ctx, const Json& in);
  Json ListSecrets(RequestContext& ctx, const Json& in);
  Json BatchGetSecretValue(RequestContext& ctx, const Json& in);
  Json DeleteSecret(RequestContext& ctx, const Json& in);
  Json RestoreSecret(RequestContext& ctx, const Json& in);
  Json GetRandomPassword(RequestContext& ctx, const Json& in);
  Json TagResource(RequestContext& ctx, const Json& in);
  Json UntagResource(RequestContext& ctx, const Json& in);

  // The cipher, opened (and its key made) on first use. Throws an InternalServiceError
  // (500) when the key file cannot be read or made, or when it is missing while `tx`'s
  // store holds sealed secret values (a new key would never open them; logged once).
  const ValueCipher& Cipher(state::Tx& tx);
  // The plaintext of `v` (a SecretString, or a SecretBinary's base64 text). A value that
  // does not open is an InternalServiceError (500) naming the secret, never the value.
  std::string Open(state::Tx& tx, const Secret& s, const SecretVersion& v);
  // Seals `plain` for version `version_id` of `s`.
  std::string Seal(state::Tx& tx, const Secret& s, const std::string& version_id, const std::string& plain);
  // Adds a version holding `value` with `stages`, moving those stages off other versions
  // (AWSCURRENT's old holder becomes AWSPREVIOUS). Idempotent on `version_id`: the same
  // value again is a no-op (returns false), another value is ResourceExistsException.
  bool AddVersion(state::Tx& tx, Secret& s, const std::string& version_id, const std::string& value,
                  bool binary, std::vector<std::string> stages, double now);
  // The GetSecretValue answer for `id` (and the optional version id and stage).
  Json ValueOf(state::Tx& tx, const Secret& s, const std::optional<std::string>& version_id,
               const std::optional<std::string>& stage);

  state::Store& store_;
  LazyValueCipher cipher_;
  Clock* const clock_;
};

}  // namespace kecs::api::secretsmanager
