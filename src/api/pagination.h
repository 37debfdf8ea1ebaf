#pragma once
// Token pagination over a sorted list.
//
// Items are keyed by a string that orders them strictly (a zero-padded seq, or
// "family\x1f000000007"); the token carries the key of the last item returned, so a page
// boundary survives inserts and deletes between calls, as AWS's tokens do. Tokens are
// opaque to clients (base64 of a versioned key).
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kecs::api {

std::string EncodeToken(std::string_view key);
// nullopt when the token is not one of ours.
std::optional<std::string> DecodeToken(std::string_view token);

std::string SeqKey(long long seq);

struct Page {
  size_t begin = 0;
  size_t end = 0;
  std::optional<std::string> next_token;
};

// `keys` must be sorted ascending (or descending when `descending`). Returns the slice to
// return and the token for the next call. Throws nothing; an unknown token yields nullopt
// so each service can word its own error.
std::optional<Page> Paginate(const std::vector<std::string>& keys, std::optional<std::string> token,
                             size_t max_results, bool descending = false);

}  // namespace kecs::api
