#include "api/protocol/validate.h"

#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "base/strings.h"

namespace kecs::api::protocol {
namespace {

using model::ShapeDesc;
using model::ShapeType;

std::string JsonTypeToken(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string: return "STRING_VALUE";
    case Json::value_t::boolean: return v.get<bool>() ? "TRUE_VALUE" : "FALSE_VALUE";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "NUMBER_VALUE";
    case Json::value_t::number_float: return "DECIMAL_VALUE";
    default: return "VALUE";
  }
}

const char* TypeNoun(ShapeType t) {
  switch (t) {
    case ShapeType::kString: return "a String";
    case ShapeType::kInteger: return "an Integer";
    case ShapeType::kLong: return "a Long";
    case ShapeType::kBoolean: return "a Boolean";
    case ShapeType::kDouble: return "a Double";
    case ShapeType::kFloat: return "a Float";
    case ShapeType::kTimestamp: return "a Timestamp";
    case ShapeType::kBlob: return "a Blob";
    default: return "a value";
  }
}

// Whether the JSON number, truncated, lies in [lo, hi].
bool FitsIn(const Json& v, int64_t lo, int64_t hi) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= static_cast<uint64_t>(hi);
  if (v.is_number_integer()) {
    int64_t n = v.get<int64_t>();
    return n >= lo && n <= hi;
  }
  double d = std::trunc(v.get<double>());
  // 2^63 is exactly representable; every double below it fits in an int64.
  return std::isfinite(d) && d >= static_cast<double>(lo) && d < -static_cast<double>(INT64_MIN) &&
         (hi == INT64_MAX || d <= static_cast<double>(hi));
}

std::optional<TypeIssue> Walk(const model::ServiceModel& m, int idx, const Json& v,
                              const std::string& path) {
  if (v.is_null()) return std::nullopt;
  const ShapeDesc& s = m.shape(idx);
  auto issue = [&](std::string msg) { return TypeIssue{path, std::move(msg)}; };
  switch (s.type) {
    case ShapeType::kStructure: {
      if (s.document) return std::nullopt;  // free-form JSON
      if (!v.is_object()) {
        if (v.is_array()) return issue("Start of list found where not expected");
        return issue("Expected null");
      }
      for (const auto& mem : m.MembersOf(s)) {
        auto it = v.find(mem.name);
        if (it == v.end()) continue;
        std::string p = path.empty() ? std::string(mem.name) : path + "." + std::string(mem.name);
        if (auto r = Walk(m, mem.shape, *it, p)) return r;
      }
      return std::nullopt;
    }
    case ShapeType::kList: {
      if (!v.is_array()) return issue("Expected list or null");
      int i = 1;
      for (const auto& e : v) {
        if (auto r = Walk(m, s.list_member, e, fmt::format("{}.{}.member", path, i++))) return r;
      }
      return std::nullopt;
    }
    case ShapeType::kMap: {
      if (!v.is_object()) {
        if (v.is_array()) return issue("Start of list found where not expected");
        return issue("Expected map or null");
      }
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (auto r = Walk(m, s.map_value, it.value(), path + "." + it.key())) return r;
      }
      return std::nullopt;
    }
    default:
      break;
  }
  // Scalars.
  if (v.is_object()) return issue("Start of structure or map found where not expected.");
  if (v.is_array()) return issue("Start of list found where not expected");
  bool ok = false;
  switch (s.type) {
    case ShapeType::kString:
    case ShapeType::kBlob: ok = v.is_string(); break;
    // AWS accepts a decimal for an integer member and truncates it; a number the type
    // cannot hold (2^31 for an Integer, 2^64 for a Long) it cannot convert.
    case ShapeType::kInteger:
      ok = v.is_number() && FitsIn(v, INT32_MIN, INT32_MAX);
      break;
    case ShapeType::kLong: ok = v.is_number() && FitsIn(v, INT64_MIN, INT64_MAX); break;
    case ShapeType::kBoolean: ok = v.is_boolean(); break;
    case ShapeType::kDouble:
    case ShapeType::kFloat: ok = v.is_number(); break;
    case ShapeType::kTimestamp: ok = v.is_number(); break;
    default: ok = true;
  }
  if (ok) return std::nullopt;
  return issue(fmt::format("{} can not be converted to {}", JsonTypeToken(v), TypeNoun(s.type)));
}

const model::MemberDesc* FindMember(const model::ServiceModel& m, const ShapeDesc& s,
                                    std::string_view name) {
  for (const auto& mem : m.MembersOf(s)) {
    if (mem.name == name) return &mem;
  }
  return nullptr;
}

std::string Render(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// A null where a list element or map value must be. The models kecs serves have no sparse
// list or map, and botocore never serializes a null element, so such a request is not one
// an SDK sends: AWS's JSON front end answers it as a constraint failure in the service's
// validation error ("Value null at 'clusters.1.member' failed to satisfy constraint: Member
// must not be null"), not as a SerializationException, and so does kecs.
ConstraintIssue NullElement(const std::string& path, std::string_view member,
                            std::string_view location) {
  return {ConstraintIssue::Kind::kMissing, path, std::string(member), std::string(location),
          fmt::format("Value null at '{}' failed to satisfy constraint: Member must not be null",
                      path),
          {}, "null"};
}

void Constraints(const model::ServiceModel& m, int idx, const Json& v, const std::string& path,
                 std::string_view member, std::string_view location, const ConstraintOptions& o,
                 std::vector<ConstraintIssue>& out, bool within_sensitive = false) {
  const ShapeDesc& s = m.shape(idx);
  const bool hidden = within_sensitive || s.sensitive;  // inside a sensitive list/structure too
  using K = ConstraintIssue::Kind;
  // A `sensitive` value (a secret, an SSM parameter's value) stays out of the message, as
  // AWS leaves it out: "Value at 'SecretString' failed to satisfy constraint: ...".
  auto add = [&](K k, std::string clause) {
    std::string shown = k == K::kMissing ? "null " : hidden ? "" : fmt::format("'{}' ", Render(v));
    out.push_back({k, path, std::string(member), std::string(location),
                   fmt::format("Value {}at '{}' failed to satisfy constraint: {}", shown, path, clause),
                   {}, hidden ? "" : Render(v)});
  };
  switch (s.type) {
    case ShapeType::kStructure: {
      if (!v.is_object() || s.document) return;
      for (const auto& mem : m.MembersOf(s)) {
        std::string p = path.empty() ? std::string(mem.name) : path + "." + std::string(mem.name);
        std::string loc(mem.location_name.empty() ? mem.name : mem.location_name);
        auto it = v.find(mem.name);
        if (it == v.end() || it->is_null()) {
          bool waived = !o.optional_members.empty() &&
                        o.optional_members.count(std::string(s.name) + "." + std::string(mem.name));
          if (mem.required && !waived) {
            out.push_back({K::kMissing, p, std::string(mem.name), loc,
                           fmt::format("Value null at '{}' failed to satisfy constraint: Member "
                                       "must not be null",
                                       p)});
          }
          continue;
        }
        Constraints(m, mem.shape, *it, p, mem.name, loc, o, out, hidden);
      }
      return;
    }
    case ShapeType::kList: {
      if (!v.is_array()) return;
      if (o.check_lengths && s.has_min && static_cast<long long>(v.size()) < s.min) {
        add(K::kLength, fmt::format("Member must have length greater than or equal to {}", s.min));
      }
      if (o.check_lengths && s.has_max && static_cast<long long>(v.size()) > s.max) {
        add(K::kLength, fmt::format("Member must have length less than or equal to {}", s.max));
      }
      int i = 1;
      for (const auto& e : v) {
        std::string p = fmt::format("{}.{}.member", path, i++);
        if (e.is_null()) {
          out.push_back(NullElement(p, member, location));
          continue;
        }
        Constraints(m, s.list_member, e, p, member, location, o, out, hidden);
      }
      return;
    }
    case ShapeType::kMap: {
      if (!v.is_object()) return;
      for (auto it = v.begin(); it != v.end(); ++it) {
        std::string p = path + "." + it.key();
        if (it->is_null()) {
          out.push_back(NullElement(p, member, location));
          continue;
        }
        Constraints(m, s.map_value, it.value(), p, member, location, o, out, hidden);
      }
      return;
    }
    case ShapeType::kString: {
      if (!v.is_string()) return;
      const auto& str = v.get_ref<const std::string&>();
      auto en = m.EnumOf(s);
      if (o.check_enums && !en.empty() && !o.unchecked_enums.count(std::string(s.name))) {
        bool found = false;
        if (o.case_insensitive_enums.count(std::string(s.name))) {
          std::string lower = ToLower(str);
          for (auto e : en) found = found || ToLower(e) == lower;
        } else {
          for (auto e : en) found = found || e == str;
        }
        if (!found) {
          std::vector<std::string> vals(en.begin(), en.end());
          add(K::kEnum, fmt::format("Member must satisfy enum value set: [{}]", Join(vals, ", ")));
          out.back().allowed = std::move(vals);
        }
      }
      if (o.check_lengths && s.has_min && static_cast<long long>(str.size()) < s.min) {
        add(K::kLength, fmt::format("Member must have length greater than or equal to {}", s.min));
      }
      if (o.check_lengths && s.has_max && static_cast<long long>(str.size()) > s.max) {
        add(K::kLength, fmt::format("Member must have length less than or equal to {}", s.max));
      }
      return;
    }
    case ShapeType::kInteger:
    case ShapeType::kLong: {
      if (!v.is_number() || !o.check_ranges) return;
      long long n = v.get<long long>();
      if (s.has_min && n < s.min) {
        add(K::kRange, fmt::format("Member must have value greater than or equal to {}", s.min));
      }
      if (s.has_max && n > s.max) {
        add(K::kRange, fmt::format("Member must have value less than or equal to {}", s.max));
      }
      return;
    }
    default:
      return;
  }
}

void DropNulls(const model::ServiceModel& m, int idx, Json& v) {
  const ShapeDesc& s = m.shape(idx);
  switch (s.type) {
    case ShapeType::kStructure: {
      if (!v.is_object() || s.document) return;
      for (auto it = v.begin(); it != v.end();) {
        if (it->is_null()) {
          it = v.erase(it);
          continue;
        }
        if (const auto* mem = FindMember(m, s, it.key())) DropNulls(m, mem->shape, it.value());
        ++it;
      }
      return;
    }
    case ShapeType::kList:
      if (!v.is_array()) return;
      for (auto& e : v) DropNulls(m, s.list_member, e);
      return;
    case ShapeType::kMap:
      if (!v.is_object()) return;
      for (auto it = v.begin(); it != v.end(); ++it) DropNulls(m, s.map_value, it.value());
      return;
    default:
      return;
  }
}

}  // namespace

void DropNullMembers(const model::ServiceModel& m, int shape, Json& value) {
  if (shape >= 0) DropNulls(m, shape, value);
}

std::optional<TypeIssue> CheckTypes(const model::ServiceModel& m, int shape, const Json& value) {
  if (shape < 0) return std::nullopt;
  return Walk(m, shape, value, "");
}

std::vector<ConstraintIssue> CheckConstraints(const model::ServiceModel& m, int shape,
                                              const Json& value, ConstraintOptions opts) {
  std::vector<ConstraintIssue> out;
  if (shape >= 0) Constraints(m, shape, value, "", "", "", opts, out);
  return out;
}

std::string ValidationMessage(const std::vector<ConstraintIssue>& issues) {
  std::vector<std::string> parts;
  for (const auto& i : issues) parts.push_back(i.message);
  return fmt::format("{} validation error{} detected: {}", issues.size(),
                     issues.size() == 1 ? "" : "s", Join(parts, "; "));
}

}  // namespace kecs::api::protocol
