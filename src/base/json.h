#pragma once
// One JSON type for the whole tree (nlohmann::json, insertion-ordered so responses keep
// the member order that handlers build), and small accessors for optional members.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kecs {

using Json = nlohmann::ordered_json;

// The member as a string, or `def` when it is absent or null.
std::string JStr(const Json& j, std::string_view key, std::string_view def = "");
std::optional<std::string> JOptStr(const Json& j, std::string_view key);
int64_t JInt(const Json& j, std::string_view key, int64_t def = 0);
std::optional<int64_t> JOptInt(const Json& j, std::string_view key);
bool JBool(const Json& j, std::string_view key, bool def = false);
// The member if present and not null.
const Json* JGet(const Json& j, std::string_view key);
bool JHas(const Json& j, std::string_view key);

// Parses text; nullopt when it is not valid JSON.
std::optional<Json> ParseJson(std::string_view text);

// Tag lists ([{key, value}], member names as the service spells them, e.g. "key"/"value"
// for ECS, "Key"/"Value" for Cloud Map): `add` replaces the values of keys already there
// and appends the others; RemoveKeyValues drops the entries whose key is in `keys`.
Json MergeKeyValues(const Json& list, const Json& add, std::string_view key, std::string_view value);
Json RemoveKeyValues(const Json& list, const Json& keys, std::string_view key);

// `doc` without the members whose names start with "kecs:" (kecs's own bookkeeping), at
// every depth: what an API may show of a stored document.
Json WithoutInternalMembers(const Json& doc);

}  // namespace kecs
