#include "model/arn.h"

#include <fmt/format.h>

namespace kecs::model {

std::optional<Arn> Arn::Parse(std::string_view s) {
  if (!s.starts_with("arn:")) return std::nullopt;
  Arn a;
  std::string_view rest = s.substr(4);
  std::string* fields[] = {&a.partition, &a.service, &a.region, &a.account};
  for (std::string* f : fields) {
    size_t c = rest.find(':');
    if (c == std::string_view::npos) return std::nullopt;
    *f = std::string(rest.substr(0, c));
    rest.remove_prefix(c + 1);
  }
  if (a.partition.empty() || a.service.empty() || rest.empty()) return std::nullopt;
  a.resource = std::string(rest);
  return a;
}

std::string Arn::ToString() const {
  return fmt::format("arn:{}:{}:{}:{}:{}", partition, service, region, account, resource);
}

std::string EcsArn(std::string_view region, std::string_view account, std::string_view resource) {
  return fmt::format("arn:aws:ecs:{}:{}:{}", region, account, resource);
}

std::string NameFromArnOrName(std::string_view s) {
  if (!s.starts_with("arn:")) return std::string(s);
  size_t slash = s.rfind('/');
  if (slash == std::string_view::npos) return std::string(s);
  return std::string(s.substr(slash + 1));
}

}  // namespace kecs::model
