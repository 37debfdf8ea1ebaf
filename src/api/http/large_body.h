#pragma once
// Requests that may carry a larger body than HttpServer::Options::body_limit: a registry's
// blob upload, say, where one PATCH carries a whole image layer. `wanted` judges the
// method and target once the header is read; the requests it picks may carry up to
// `limit` bytes, all others keep body_limit (413 beyond it). The body is still held in
// memory. Process-wide: an HttpServer takes the rule in force when it is constructed.
// (Kept out of HttpServer::Options only to spare server.h's dependents a rebuild; it
// belongs there when server.h next changes.)
#include <cstdint>
#include <functional>
#include <string_view>

namespace kecs::api {

struct LargeBodyRule {
  uint64_t limit = uint64_t{4} * 1024 * 1024 * 1024;
  std::function<bool(std::string_view method, std::string_view target)> wanted;  // empty: none
};

void SetLargeBodyRule(LargeBodyRule rule);
LargeBodyRule CurrentLargeBodyRule();

}  // namespace kecs::api
