#pragma once
// Model-driven checks of a decoded request.
//
// CheckTypes walks a JSON document against an input shape and reports the first member
// whose JSON type cannot be converted to the modelled type (what AWS's JSON front end
// reports as SerializationException). CheckConstraints then reports every required member
// that is missing and every enum, length or range constraint that fails, in AWS's
// "Value X at 'path' failed to satisfy constraint: ..." wording, with the paths AWS uses
// (`containerDefinitions.1.member.name`). Stateless and thread-safe.
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/json.h"
#include "model/shapes.h"

namespace kecs::api::protocol {

struct TypeIssue {
  std::string path;
  std::string message;  // e.g. "NUMBER_VALUE can not be converted to a String"
};

struct ConstraintIssue {
  enum class Kind { kMissing, kEnum, kLength, kRange, kPattern };
  Kind kind;
  std::string path;      // e.g. "containerDefinitions.1.member.name"
  std::string member;    // the member's own name, e.g. "name"
  std::string location;  // its locationName, else its name (EC2 wire names derive from it)
  std::string message;   // the whole "Value ... failed to satisfy constraint: ..." clause
  std::vector<std::string> allowed;  // kEnum: the enum's values
  std::string value;                 // the offending value, rendered
};

std::optional<TypeIssue> CheckTypes(const model::ServiceModel& m, int shape, const Json& value);

struct ConstraintOptions {
  bool check_enums = true;
  bool check_lengths = true;
  bool check_ranges = true;
  // "Shape.member" entries whose model `required` is not enforced (kecs's lenient mode).
  std::set<std::string> optional_members;
  // Enum shapes whose values match in any case (EC2's RuleAction takes "ALLOW" and "Deny").
  std::set<std::string> case_insensitive_enums;
  // Enum shapes the front end does not check, because the service answers an unknown value
  // with an error of its own (EC2's InstanceType: InvalidInstanceType, naming the values).
  std::set<std::string> unchecked_enums;
};

std::vector<ConstraintIssue> CheckConstraints(const model::ServiceModel& m, int shape,
                                              const Json& value, ConstraintOptions opts);

// How kecs treats JSON null in a request, as AWS's JSON front end does: a null member of a
// structure is an absent member (a required one then fails CheckConstraints as missing);
// a null list element or map value is a constraint failure CheckConstraints reports.
// DropNullMembers removes the null members, so a handler never sees a null; call it once
// the checks passed.
void DropNullMembers(const model::ServiceModel& m, int shape, Json& value);

// "1 validation error detected: <issue>" / "N validation errors detected: a; b".
std::string ValidationMessage(const std::vector<ConstraintIssue>& issues);

}  // namespace kecs::api::protocol
