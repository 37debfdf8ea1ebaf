#pragma once
// Secret values at rest (SSM SecureStrings, Secrets Manager secrets): AES-256-GCM under
// one key kept in the data dir, one key file per service.
//
// The key is 32 random bytes in a file of the data dir (<data dir>/ssm-parameters.key,
// <data dir>/secretsmanager.key; mode 0600, made on first use; a key file readable by
// others, or of the wrong size, is refused). A sealed value is
// base64(12-byte nonce | ciphertext | 16-byte tag); the nonce is random per value and the
// associated data (the caller's context: region, name and version) binds the value to its
// owner, so a sealed value copied onto another parameter, secret or version does not open.
// The sealed text is what the store keeps (and what SSM's GetParameter shows without
// WithDecryption: AWS shows its encrypted blob in base64 there too). Nothing here logs or
// words a plaintext. Thread-safe (immutable after Open).
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/env.h"
#include "base/status.h"

namespace kecs {

class ValueCipher {
 public:
  static constexpr size_t kKeyBytes = 32;
  // Reads the key at `path`, or makes one there when the file is missing. `what` names the
  // key in errors ("SecureString key").
  static Result<ValueCipher> Open(Env* env, const std::string& path, std::string_view what = "SecureString key");
  // A fixed key (tests); `key` must be kKeyBytes long.
  explicit ValueCipher(std::string key) : key_(std::move(key)) {}

  // Internal only when OpenSSL fails.
  Result<std::string> Seal(std::string_view plaintext, std::string_view context) const;
  // InvalidArgument when `sealed` is not ours or was sealed under another context or key
  // (the message never holds the value).
  Result<std::string> Unseal(std::string_view sealed, std::string_view context) const;

 private:
  std::string key_;
};

// A service's cipher, opened on first use (SSM's, Secrets Manager's). When the key file is
// missing and the store still holds values sealed under it, it refuses to make a new key (the
// values would never open again) and says so, logging it once. Thread-safe.
class LazyValueCipher {
 public:
  // `what` names the key ("SecureString key"); `values` the sealed things ("SecureString
  // values"); `log_tag` prefixes the one log line ("ssm").
  LazyValueCipher(Env* env, std::string path, std::string what, std::string values, std::string log_tag)
      : env_(env), path_(std::move(path)), what_(std::move(what)), values_(std::move(values)),
        log_tag_(std::move(log_tag)) {}

  // The cipher; `sealed_values_exist` is asked only when the key file is missing. Internal
  // (with a message for the operator, never a value) when the key cannot be had.
  Result<const ValueCipher*> Get(const std::function<bool()>& sealed_values_exist);
  const std::string& path() const { return path_; }

 private:
  Env* env_;
  const std::string path_, what_, values_, log_tag_;
  std::mutex mu_;
  std::optional<ValueCipher> cipher_;  // guarded by mu_; never reset once set
  bool missing_key_logged_ = false;    // guarded by mu_
};

// Standard base64 (with padding), and back (nullopt-like failure as an empty Result).
std::string Base64Encode(std::string_view bytes);
Result<std::string> Base64Decode(std::string_view text);

}  // namespace kecs
