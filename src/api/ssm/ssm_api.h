#pragma once
// The AWS Systems Manager Parameter Store API (AmazonSSM.<Op>, JSON 1.1) over the
// parameter record in parameter.h.
//
// Served: PutParameter, GetParameter, GetParameters, GetParametersByPath,
// DescribeParameters, GetParameterHistory, LabelParameterVersion, DeleteParameter,
// DeleteParameters, and AddTagsToResource / RemoveTagsFromResource / ListTagsForResource
// for ResourceType Parameter. Every other SSM operation is answered as unknown by the
// router. Each operation validates its input in SSM's words and reads or writes the store
// in one transaction. SecureString values are sealed (base/value_cipher.h) before they reach the
// store and opened only for WithDecryption; no value appears in an error or a log line.
// Thread-safe: all state lives in the store; the cipher is opened once, on first use.
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "api/router.h"
#include "api/ssm/parameter.h"
#include "base/env.h"
#include "base/json.h"
#include "base/value_cipher.h"
#include "base/status.h"
#include "state/store.h"

namespace kecs::api::ssm {

class SsmApi {
 public:
  // `key_path`: the SecureString key file (<data dir>/ssm-parameters.key), made 0600 the
  // first time a SecureString is written or read.
  SsmApi(state::Store& store, std::string key_path, Env* env = Env::Default())
      : store_(store), cipher_(env, std::move(key_path), "SecureString key", "SecureString values", "ssm") {}
  // Registers every implemented operation on `service`.
  void RegisterAll(Service& service);
  // The plaintext value a task's secret names (issue 14): a parameter name ("/a/b",
  // "name") or ARN (arn:aws:ssm:<region>:<account>:parameter/a/b, read in the ARN's
  // region), with an optional ":version" or ":label" selector; SecureStrings decrypted.
  // NotFound (no such parameter, version or label) or InvalidArgument (a malformed
  // reference) names the reference, never a value; Internal when a SecureString does not
  // open. Thread-safe.
  Result<std::string> ResolveParameter(std::string_view name_or_arn, std::string_view region,
                                       std::string_view account);

 private:
  Json PutParameter(RequestContext& ctx, const Json& in);
  Json GetParameter(RequestContext& ctx, const Json& in);
  Json GetParameters(RequestContext& ctx, const Json& in);
  Json GetParametersByPath(RequestContext& ctx, const Json& in);
  Json DescribeParameters(RequestContext& ctx, const Json& in);
  Json GetParameterHistory(RequestContext& ctx, const Json& in);
  Json LabelParameterVersion(RequestContext& ctx, const Json& in);
  Json DeleteParameter(RequestContext& ctx, const Json& in);
  Json DeleteParameters(RequestContext& ctx, const Json& in);
  Json AddTagsToResource(RequestContext& ctx, const Json& in);
  Json RemoveTagsFromResource(RequestContext& ctx, const Json& in);
  Json ListTagsForResource(RequestContext& ctx, const Json& in);

  // The cipher, opened (and its key made) on first use. Throws an InternalServerError
  // (500) when the key file cannot be read or made, or when it is missing while `tx`'s
  // store holds SecureString versions (a new key would never open them; logged once).
  const ValueCipher& Cipher(state::Tx& tx);
  // The value a caller sees: plain, or for a SecureString the sealed text unless `decrypt`.
  // A sealed value that does not open is an InternalServerError (500).
  std::string Shown(state::Tx& tx, const Parameter& p, const ParameterVersion& v, bool decrypt);

  state::Store& store_;
  LazyValueCipher cipher_;
};

// "<region>\n<name>\n<version>": the associated data a version's value is sealed under.
std::string SealContext(const std::string& region, const std::string& name, int64_t version);

}  // namespace kecs::api::ssm
