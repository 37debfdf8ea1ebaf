#pragma once
// ECS's cluster query language, as used by memberOf placement constraints and
// ListContainerInstances' filter:
//
//   attribute:ecs.instance-type == t2.small
//   attribute:ecs.availability-zone in [us-east-1a, us-east-1b]
//   attribute:ecs.instance-type =~ t2.*  and  not(attribute:ecs.os-type == windows)
//   ec2InstanceId in ['i-0123'] or runningTasksCount > 2
//   attribute:stack exists
//
// Operators: ==, !=, >, >=, <, <=, =~, !~ (with * wildcards), in, not in, exists,
// !exists; combined with and / or / not(...) and parentheses (and binds tighter). Parse
// once, evaluate against many instances; immutable after Parse and thread-safe.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kecs::model {

class ClusterQuery {
 public:
  // Returns the values of a subject ("attribute:ecs.os-type", "ec2InstanceId",
  // "runningTasksCount", "task:group", ...): empty when the instance has none, several
  // when it has several (the groups of the tasks it runs).
  using Lookup = std::function<std::vector<std::string>(const std::string& subject)>;

  static Result<ClusterQuery> Parse(std::string_view expr);
  bool Matches(const Lookup& lookup) const;

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
};

// Wildcard match with '*' as "any run of characters".
bool WildcardMatch(std::string_view pattern, std::string_view s);

}  // namespace kecs::model
