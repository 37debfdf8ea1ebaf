#pragma once
// The nftables executor: applies a ruleset script through libnftables, in one atomic
// transaction, in a network namespace. Callers build the rule text; this part is tested
// as root.
#include <cstdint>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"

namespace kecs::net::nft {

// Runs `script` (nft syntax, possibly many commands) as one transaction in namespace
// `netns` ("" = the host's). On failure nothing of the script is applied, and the error
// carries nft's own message.
Status Apply(const std::string& netns, const std::string& script);
// Runs a read command such as "list table ip kecs" and returns its output.
Result<std::string> Query(const std::string& netns, const std::string& command);
// As Query, with nft's JSON output (`nft -j`).
Result<Json> QueryJson(const std::string& netns, const std::string& command);

// One element of a set, or the key of one element of a map.
struct Element {
  std::string text;      // an address, or a number as nft prints it ("8080")
  int64_t number = 0;    // the key as a number, when it is one
  std::string comment;   // the element's comment, if any
};
// The elements of the set or map that `command` lists ("list set ip kecs_router noegress",
// "list map ip kecs publish_tcp"), from nft's JSON output.
Result<std::vector<Element>> ListElements(const std::string& netns, const std::string& command);

}  // namespace kecs::net::nft
