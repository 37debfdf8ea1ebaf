#include "api/pagination.h"

#include <openssl/evp.h>

#include <algorithm>

#include <fmt/format.h>

namespace kecs::api {

std::string EncodeToken(std::string_view key) {
  std::string raw = "kecs1:" + std::string(key);
  std::string out(4 * ((raw.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> DecodeToken(std::string_view token) {
  if (token.empty() || token.size() % 4 != 0) return std::nullopt;
  std::string out(3 * token.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(token.data()),
                          static_cast<int>(token.size()));
  if (n < 0) return std::nullopt;
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock counts the padding bytes; drop them.
  if (token.size() >= 1 && token.back() == '=') --len;
  if (token.size() >= 2 && token[token.size() - 2] == '=') --len;
  out.resize(len);
  if (!out.starts_with("kecs1:")) return std::nullopt;
  return out.substr(6);
}

std::string SeqKey(long long seq) { return fmt::format("{:020}", seq); }

std::optional<Page> Paginate(const std::vector<std::string>& keys, std::optional<std::string> token,
                             size_t max_results, bool descending) {
  Page p;
  if (token) {
    auto key = DecodeToken(*token);
    if (!key) return std::nullopt;
    auto it = descending ? std::upper_bound(keys.begin(), keys.end(), *key, std::greater<>())
                         : std::upper_bound(keys.begin(), keys.end(), *key);
    p.begin = static_cast<size_t>(it - keys.begin());
  }
  p.end = std::min(keys.size(), p.begin + max_results);
  if (p.end < keys.size() && p.end > p.begin) p.next_token = EncodeToken(keys[p.end - 1]);
  return p;
}

}  // namespace kecs::api
