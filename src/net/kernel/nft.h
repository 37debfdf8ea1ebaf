#pragma once
// The nftables executor: applies a ruleset script through libnftables, in one atomic
// transaction, in a network namespace. Callers build the rule text; this part is tested
// as root.
#include <string>

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

}  // namespace kecs::net::nft
