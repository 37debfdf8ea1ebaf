#pragma once
// Amazon Resource Names: arn:<partition>:<service>:<region>:<account>:<resource>.
#include <optional>
#include <string>
#include <string_view>

namespace kecs::model {

struct Arn {
  std::string partition = "aws";
  std::string service;
  std::string region;
  std::string account;
  std::string resource;  // e.g. "task/my-cluster/0123..."

  static std::optional<Arn> Parse(std::string_view s);
  std::string ToString() const;
};

// ECS ARNs in the long format.
std::string EcsArn(std::string_view region, std::string_view account, std::string_view resource);

// The last path segment of an ARN's resource, or `s` itself when it is not an ARN:
// "arn:aws:ecs:us-east-1:0:cluster/web" and "web" both give "web".
std::string NameFromArnOrName(std::string_view s);

}  // namespace kecs::model
