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

Json MergeKeyValues(const Json& list, const Json& add, std::string_view key, std::string_view value) {
  Json out = list.is_array() ? list : Json::array();
  for (const auto& t : add) {
    std::string k = JStr(t, key);
    bool replaced = false;
    for (auto& e : out) {
      if (JStr(e, key) == k) {
        e[std::string(value)] = JStr(t, value);
        replaced = true;
      }
    }
    if (!replaced) out.push_back({{std::string(key), k}, {std::string(value), JStr(t, value)}});
  }
  return out;
}

Json RemoveKeyValues(const Json& list, const Json& keys, std::string_view key) {
  Json out = Json::array();
  for (const auto& e : list) {
    bool drop = false;
    for (const auto& k : keys) drop = drop || (k.is_string() && k.get<std::string>() == JStr(e, key));
    if (!drop) out.push_back(e);
  }
  return out;
}

Json WithoutInternalMembers(const Json& doc) {
  if (doc.is_object()) {
    Json out = Json::object();
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      if (it.key().starts_with("kecs:")) continue;
      out[it.key()] = WithoutInternalMembers(it.value());
    }
    return out;
  }
  if (doc.is_array()) {
    Json out = Json::array();
    for (const auto& e : doc) out.push_back(WithoutInternalMembers(e));
    return out;
  }
  return doc;
}

}  // namespace kecs
