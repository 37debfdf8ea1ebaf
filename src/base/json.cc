#include "base/json.h"

namespace kecs {

const Json* JGet(const Json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

bool JHas(const Json& j, std::string_view key) { return JGet(j, key) != nullptr; }

std::string JStr(const Json& j, std::string_view key, std::string_view def) {
  const Json* v = JGet(j, key);
  if (v && v->is_string()) return v->get<std::string>();
  return std::string(def);
}

std::optional<std::string> JOptStr(const Json& j, std::string_view key) {
  const Json* v = JGet(j, key);
  if (v && v->is_string()) return v->get<std::string>();
  return std::nullopt;
}

int64_t JInt(const Json& j, std::string_view key, int64_t def) {
  const Json* v = JGet(j, key);
  if (v && v->is_number()) return v->get<int64_t>();
  return def;
}

std::optional<int64_t> JOptInt(const Json& j, std::string_view key) {
  const Json* v = JGet(j, key);
  if (v && v->is_number()) return v->get<int64_t>();
  return std::nullopt;
}

bool JBool(const Json& j, std::string_view key, bool def) {
  const Json* v = JGet(j, key);
  if (v && v->is_boolean()) return v->get<bool>();
  return def;
}

std::optional<Json> ParseJson(std::string_view text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

}  // namespace kecs
