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

}  // namespace kecs
