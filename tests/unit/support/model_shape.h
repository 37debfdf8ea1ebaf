#pragma once
// Checks a JSON document against a shape of an AWS service model (model/shapes.h), for the
// converters' tests: every member the JSON carries exists in the shape, at every depth,
// with the JSON type the JSON 1.1 protocol gives that shape's type; enum strings are words
// of the enum; required members are present.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "base/json.h"
#include "model/shapes.h"

namespace kecs::testing {

inline void ExpectMatchesShape(const model::ServiceModel& m, int idx, const Json& j, const std::string& path) {
  const model::ShapeDesc& s = m.shape(idx);
  using model::ShapeType;
  switch (s.type) {
    case ShapeType::kStructure:
      ASSERT_TRUE(j.is_object()) << path << " is not an object";
      for (auto it = j.begin(); it != j.end(); ++it) {
        const model::MemberDesc* mem = m.FindMember(s, it.key());
        ASSERT_NE(mem, nullptr) << path << "." << it.key() << " is not a member of " << s.name;
        ExpectMatchesShape(m, mem->shape, it.value(), path + "." + it.key());
      }
      for (const auto& mem : m.MembersOf(s)) {
        if (mem.required) {
          EXPECT_TRUE(j.contains(mem.name)) << path << " lacks " << mem.name;
        }
      }
      break;
    case ShapeType::kList:
      ASSERT_TRUE(j.is_array()) << path << " is not a list";
      for (size_t i = 0; i < j.size(); ++i) {
        ExpectMatchesShape(m, s.list_member, j[i], path + "[" + std::to_string(i) + "]");
      }
      break;
    case ShapeType::kMap: EXPECT_TRUE(j.is_object()) << path; break;
    case ShapeType::kString:
      EXPECT_TRUE(j.is_string()) << path;
      if (s.enum_count > 0 && j.is_string()) {
        auto words = m.EnumOf(s);
        EXPECT_NE(std::find(words.begin(), words.end(), j.get<std::string>()), words.end())
            << path << " = " << j << " is not in enum " << s.name;
      }
      break;
    case ShapeType::kInteger:
    case ShapeType::kLong: EXPECT_TRUE(j.is_number_integer()) << path; break;
    case ShapeType::kBoolean: EXPECT_TRUE(j.is_boolean()) << path; break;
    case ShapeType::kDouble:
    case ShapeType::kFloat:
    case ShapeType::kTimestamp: EXPECT_TRUE(j.is_number()) << path; break;
    case ShapeType::kBlob: EXPECT_TRUE(j.is_string()) << path; break;
  }
}

}  // namespace kecs::testing
