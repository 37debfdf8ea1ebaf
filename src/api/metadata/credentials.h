#pragma once
// Task role credentials without an STS: each task's credentials are derived, not stored.
//
// kecs has no IAM or STS to assume a task role, so the credentials endpoint serves
// credentials derived with HMAC-SHA256 from a random 256-bit key kept in the data dir
// (<data dir>/metadata-credentials.key, mode 0600, made at first start), the task's
// credentials id (random, per task) and the rotation window. Nothing secret is stored in
// the database and nothing secret is logged: the same inputs give the same credentials
// after a restart, and a new window gives new ones.
//
// Windows are kRotationSeconds long; credentials issued in window w expire
// kGraceSeconds after it ends, so every answer expires at least kGraceSeconds (over the
// 15 minutes before expiry at which the AWS SDKs refresh) in the future, and an SDK that
// refreshes then gets the next window's credentials rather than the same ones again.
// AccessKeyId has the shape of an STS key ("ASIA" and 16 of [A-Z2-7]); SecretAccessKey
// 40 base64 characters. Thread-safe (immutable after Open).
#include <string>

#include "api/metadata/metadata_json.h"
#include "base/env.h"
#include "base/status.h"

namespace kecs::api::metadata {

class CredentialsIssuer {
 public:
  static constexpr double kRotationSeconds = 6 * 3600;
  static constexpr double kGraceSeconds = 3600;

  // Reads the key at `path`, or makes one there when the file is missing. Fails on a key
  // file of the wrong size or one others may read.
  static Result<CredentialsIssuer> Open(Env* env, const std::string& path);
  // A fixed key (tests).
  explicit CredentialsIssuer(std::string key) : key_(std::move(key)) {}

  RoleCredentials Issue(const std::string& credentials_id, const std::string& role_arn, double now) const;

 private:
  std::string Mac(const std::string& purpose, const std::string& credentials_id, long window) const;
  std::string key_;
};

}  // namespace kecs::api::metadata
