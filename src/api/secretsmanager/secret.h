#pragma once
// Secrets Manager's record: one secret with its versions, kept as one store row, and the
// codec between it, its row and the AWS shapes the API shows.
//
// Row: kind "secretsmanager:secret", id = name = the secret's name, status "ACTIVE" or
// "DELETING" (scheduled for deletion); doc = the DescribeSecret shape;
// internal = {"arn", "description", "kmsKeyId", "created", "lastChanged", "deletedAt",
// "deletionDate", "versions": [...], "tags": [...]}. A version keeps only its sealed value
// (base/value_cipher.h), sealed under SealContext(arn, version id). Decoding is strict: a
// row that does not parse is Internal naming the secret. Pure functions; thread-safe.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "state/store.h"

namespace kecs::api::secretsmanager {

inline constexpr const char* kSecretKind = "secretsmanager:secret";
inline constexpr const char* kCurrent = "AWSCURRENT";
inline constexpr const char* kPrevious = "AWSPREVIOUS";
inline constexpr size_t kMaxVersions = 100;
inline constexpr size_t kMaxTags = 50;

struct SecretVersion {
  std::string id;
  std::string sealed;  // the sealed SecretString, or the sealed base64 of a SecretBinary
  bool binary = false;
  std::vector<std::string> stages;
  double created = 0;

  bool Has(std::string_view stage) const;
};

struct Tag {
  std::string key;
  std::string value;
};

struct Secret {
  std::string region;
  std::string name;
  std::string arn;
  std::string description;
  std::string kms_key_id;  // "" = the AWS managed key aws/secretsmanager
  double created = 0;
  double last_changed = 0;
  double deleted_at = 0;     // when DeleteSecret was called; 0 = not scheduled
  double deletion_date = 0;  // when the row goes
  std::vector<SecretVersion> versions;  // in creation order
  std::vector<Tag> tags;
  int64_t seq = 0;

  bool scheduled() const { return deleted_at > 0; }
  SecretVersion* Find(std::string_view version_id);
  const SecretVersion* Find(std::string_view version_id) const;
  SecretVersion* WithStage(std::string_view stage);
  const SecretVersion* WithStage(std::string_view stage) const;
};

// "arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 random alnum>".
std::string NewSecretArn(const std::string& region, const std::string& account, const std::string& name);
// "<arn>\n<version id>": the associated data a version's value is sealed under.
std::string SealContext(const std::string& arn, const std::string& version_id);

// A SecretId: a name, a full ARN or a partial ARN (without the 6-character suffix).
struct SecretIdParts {
  std::string name;          // the name part (of an ARN: what follows "secret:")
  std::string region;        // "" for a plain name
  std::string account;       // "" for a plain name
  bool arn = false;
};
SecretIdParts ParseSecretId(std::string_view id);
// Whether `s` (of `account`) is the secret `id` names.
bool Names(const Secret& s, const SecretIdParts& id, std::string_view account);

state::Object EncodeSecret(const Secret& s);
Result<Secret> DecodeSecret(const state::Object& row);

Json TagsToAws(const std::vector<Tag>& tags);
// {version id: [stages]} for the versions that have stages.
Json VersionsToStages(const Secret& s);
Json DescribeToAws(const Secret& s);
Json ListEntryToAws(const Secret& s);

}  // namespace kecs::api::secretsmanager
