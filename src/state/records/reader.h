#pragma once
// Reads typed members of a stored JSON document, remembering the first problem (the
// records' strict decoding). Not thread-safe; one per document.
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "base/json.h"

namespace kecs::state::records {

// Members it reads are marked, so what is left over can be kept as it was.
class Reader {
 public:
  Reader(const Json& j, std::string where) : j_(j), where_(std::move(where)) {
    if (!j_.is_object()) Fail("not an object");
  }

  const Json* Get(const char* key) {
    used_.push_back(key);
    if (!j_.is_object()) return nullptr;
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  std::string Str(const char* key, bool required = true) {
    const Json* v = Get(key);
    if (!v) {
      if (required) Fail(fmt::format("{} is missing", key));
      return "";
    }
    if (!v->is_string()) {
      Fail(fmt::format("{} is not a string", key));
      return "";
    }
    return v->get<std::string>();
  }
  std::optional<std::string> OptStr(const char* key) {
    if (!Has(key)) {
      used_.push_back(key);
      return std::nullopt;
    }
    return Str(key);
  }
  int64_t Int(const char* key, int64_t def) {
    const Json* v = Get(key);
    if (!v) return def;
    if (!v->is_number_integer()) {
      Fail(fmt::format("{} is not an integer", key));
      return def;
    }
    return v->get<int64_t>();
  }
  double Num(const char* key) {
    const Json* v = Get(key);
    if (!v) return 0;
    if (!v->is_number()) {
      Fail(fmt::format("{} is not a number", key));
      return 0;
    }
    return v->get<double>();
  }
  bool Bool(const char* key, bool def = false) {
    const Json* v = Get(key);
    if (!v) return def;
    if (!v->is_boolean()) {
      Fail(fmt::format("{} is not a boolean", key));
      return def;
    }
    return v->get<bool>();
  }
  // The member as it is (null when absent); `type` checks its JSON type.
  Json Raw(const char* key, Json::value_t type, Json def = Json()) {
    const Json* v = Get(key);
    if (!v) return def;
    if (v->type() != type) {
      Fail(fmt::format("{} has the wrong type", key));
      return def;
    }
    return *v;
  }
  template <typename E>
  E Enum(const char* key, std::optional<E> (*parse)(std::string_view), E def, bool required = true) {
    std::string s = Str(key, required);
    if (s.empty() && !required) return def;
    auto e = parse(s);
    if (!e) {
      if (error_.empty() && !s.empty()) Fail(fmt::format("{} has an unknown value \"{}\"", key, s));
      return def;
    }
    return *e;
  }
  bool Has(const char* key) const { return j_.is_object() && j_.contains(key) && !j_.at(key).is_null(); }
  // The members not read.
  Json Rest() const {
    Json rest = Json::object();
    if (!j_.is_object()) return rest;
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (std::find(used_.begin(), used_.end(), it.key()) == used_.end()) rest[it.key()] = it.value();
    }
    return rest;
  }
  void Fail(const std::string& what) {
    if (error_.empty()) error_ = where_.empty() ? what : where_ + ": " + what;
  }
  const std::string& error() const { return error_; }

 private:
  const Json& j_;
  std::string where_;
  std::vector<std::string> used_;
  std::string error_;
};

}  // namespace kecs::state::records
