#include "api/protocol/region.h"

#include <array>
#include <cctype>

namespace kecs::api::protocol {
namespace {

bool IsWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// `rest` after a partition's prefix: \w+-\d+ (the \w+ cannot hold a '-').
bool WordDashDigits(std::string_view rest) {
  size_t dash = rest.find('-');
  if (dash == 0 || dash == std::string_view::npos || dash + 1 == rest.size()) return false;
  for (size_t i = 0; i < dash; ++i) {
    if (!IsWordChar(rest[i])) return false;
  }
  for (size_t i = dash + 1; i < rest.size(); ++i) {
    if (!IsDigit(rest[i])) return false;
  }
  return true;
}

}  // namespace

bool IsValidRegion(std::string_view region) {
  if (region.empty() || region.size() > kMaxRegionLength) return false;
  // Any partition may match: "us-gov-west-1" fails the aws pattern ("west-1" is not
  // digits) and passes aws-us-gov.
  static constexpr std::array<std::string_view, 16> kPrefixes = {
      "us-gov-", "us-iso-", "us-isob-", "us-isof-", "eu-isoe-", "eusc-de-", "cn-", "us-",
      "eu-",     "ap-",     "sa-",      "ca-",      "me-",      "af-",      "il-", "mx-"};
  for (std::string_view p : kPrefixes) {
    if (region.starts_with(p) && WordDashDigits(region.substr(p.size()))) return true;
  }
  return false;
}

}  // namespace kecs::api::protocol
