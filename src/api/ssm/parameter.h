#pragma once
// The SSM Parameter Store's record: one parameter with its versions, kept as one store row,
// and the codec between it, its row and the AWS shapes the API shows.
//
// Row: kind "ssm:parameter", id = name = the parameter's name exactly as created ("/a/b"
// and "a" are different parameters), parent = the name's path ("/a" for "/a/b", "/" for
// "/a", "" for a name outside any hierarchy) so that one level of a path is one indexed
// lookup; doc = the AWS ParameterMetadata shape of the current version;
// internal = {"versions": [...], "tags": [...]}. A SecureString version keeps only its
// sealed value (base/value_cipher.h). Decoding is strict: a row that does not parse is
// Internal naming the parameter. Pure functions; thread-safe.
#include <optional>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "state/store.h"

namespace kecs::api::ssm {

inline constexpr const char* kParameterKind = "ssm:parameter";
inline constexpr int kMaxVersions = 100;
inline constexpr int kMaxLabelsPerVersion = 10;
inline constexpr int kMaxHierarchyLevels = 15;
inline constexpr const char* kDefaultKeyId = "alias/aws/ssm";

struct ParameterVersion {
  int64_t version = 0;
  std::string type;            // String | StringList | SecureString
  std::string value;           // plain text; the sealed value for SecureString
  std::string key_id;          // SecureString only
  std::string description;
  std::string allowed_pattern;
  std::string tier;            // Standard | Advanced (Intelligent-Tiering resolved)
  std::string data_type;       // text | aws:ec2:image | aws:ssm:integration
  double last_modified = 0;
  std::string last_modified_user;
  std::vector<std::string> labels;
};

struct Tag {
  std::string key;
  std::string value;
};

struct Parameter {
  std::string region;
  std::string name;
  std::vector<ParameterVersion> versions;  // ascending; never empty once stored
  std::vector<Tag> tags;
  int64_t seq = 0;

  const ParameterVersion& current() const { return versions.back(); }
  const ParameterVersion* Find(int64_t version) const;
  const ParameterVersion* FindLabel(const std::string& label) const;
};

// "/a/b" -> "/a", "/a" -> "/", "a" -> "".
std::string ParentPath(const std::string& name);
// "arn:aws:ssm:<region>:<account>:parameter/a/b" for "/a/b" and for "a/b".
std::string ParameterArn(const std::string& region, const std::string& account, const std::string& name);

state::Object EncodeParameter(const Parameter& p, const std::string& account);
Result<Parameter> DecodeParameter(const state::Object& row);

// The AWS shapes. `value` is what the caller chose to show (plain or sealed); `selector`
// is ":3" or ":label" when the request named one.
Json ParameterToAws(const Parameter& p, const ParameterVersion& v, const std::string& value,
                    const std::string& account, const std::string& selector = "");
Json MetadataToAws(const Parameter& p, const std::string& account);
Json HistoryToAws(const Parameter& p, const ParameterVersion& v, const std::string& value);
Json TagsToAws(const std::vector<Tag>& tags);

// A request's name with an optional selector: "name", "name:3", "name:label", or the ARN.
struct NameSelector {
  std::string name;
  std::optional<int64_t> version;
  std::optional<std::string> label;
  std::string selector;  // as given, with its colon; "" without one
};
NameSelector ParseSelector(const std::string& text);

}  // namespace kecs::api::ssm
