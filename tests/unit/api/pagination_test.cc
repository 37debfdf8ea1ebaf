#include "api/pagination.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace kecs::api {
namespace {

std::vector<std::string> Keys(int n, bool descending = false) {
  std::vector<std::string> keys;
  for (int i = 1; i <= n; ++i) keys.push_back(SeqKey(i));
  if (descending) std::reverse(keys.begin(), keys.end());
  return keys;
}

// Pages through `keys` collecting every key returned.
std::vector<std::string> Drain(const std::vector<std::string>& keys, size_t max_results,
                               bool descending, int* pages) {
  std::vector<std::string> got;
  std::optional<std::string> token;
  *pages = 0;
  while (true) {
    auto p = Paginate(keys, token, max_results, descending);
    EXPECT_TRUE(p.has_value());
    if (!p) break;
    ++*pages;
    for (size_t i = p->begin; i < p->end; ++i) got.push_back(keys[i]);
    if (!p->next_token) break;
    token = p->next_token;
    if (*pages > 100) break;
  }
  return got;
}

TEST(PaginationToken, RoundTripsKeys) {
  for (std::string key : {"00000000000000000007", "family\x1f" "000000007", "a", "ab", "abc", "",
                          "arn:aws:ecs:us-east-1:000000000000:cluster/default", "\xff\xfez"}) {
    std::string tok = EncodeToken(key);
    auto back = DecodeToken(tok);
    ASSERT_TRUE(back.has_value()) << tok;
    EXPECT_EQ(*back, key);
  }
}

TEST(PaginationToken, RoundTripsKeysWithEmbeddedNul) {
  std::string key("a\0b", 3);
  auto back = DecodeToken(EncodeToken(key));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, key);
}

TEST(PaginationToken, IsOpaqueBase64) {
  std::string tok = EncodeToken("00000000000000000005");
  EXPECT_EQ(tok.find("0000000000"), std::string::npos);
  EXPECT_EQ(tok.size() % 4, 0u);
  for (char c : tok) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')
        << tok;
  }
}

TEST(PaginationToken, ForeignTokensAreRejected) {
  EXPECT_FALSE(DecodeToken(""));
  EXPECT_FALSE(DecodeToken("abc"));           // not a multiple of 4
  EXPECT_FALSE(DecodeToken("!!!!"));          // not base64
  EXPECT_FALSE(DecodeToken("Zm9vYmFy"));      // base64 of "foobar": no version prefix
  EXPECT_FALSE(DecodeToken("a2VjczI6eA=="));  // "kecs2:x": another version
  EXPECT_FALSE(DecodeToken("a2VjczE="));      // "kecs1" without the colon
}

TEST(PaginationToken, VersionPrefixAloneDecodesToEmptyKey) {
  auto k = DecodeToken(EncodeToken(""));
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(*k, "");
}

TEST(SeqKey, IsZeroPaddedToTwentyDigitsAndSortsNumerically) {
  EXPECT_EQ(SeqKey(7), "00000000000000000007");
  EXPECT_EQ(SeqKey(0), "00000000000000000000");
  EXPECT_LT(SeqKey(9), SeqKey(10));
  EXPECT_LT(SeqKey(99), SeqKey(100));
}

TEST(Paginate, FirstPageAndToken) {
  auto keys = Keys(5);
  auto p = Paginate(keys, std::nullopt, 2);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->begin, 0u);
  EXPECT_EQ(p->end, 2u);
  ASSERT_TRUE(p->next_token);
  EXPECT_EQ(DecodeToken(*p->next_token), keys[1]);
}

TEST(Paginate, WalksAscendingWithoutGapsOrRepeats) {
  auto keys = Keys(7);
  int pages = 0;
  EXPECT_EQ(Drain(keys, 3, false, &pages), keys);
  EXPECT_EQ(pages, 3);
}

TEST(Paginate, WalksDescendingWithoutGapsOrRepeats) {
  auto keys = Keys(7, /*descending=*/true);
  int pages = 0;
  EXPECT_EQ(Drain(keys, 3, true, &pages), keys);
  EXPECT_EQ(pages, 3);
}

TEST(Paginate, LastPageHasNoToken) {
  auto keys = Keys(4);
  auto first = Paginate(keys, std::nullopt, 2);
  ASSERT_TRUE(first && first->next_token);
  auto last = Paginate(keys, first->next_token, 2);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->begin, 2u);
  EXPECT_EQ(last->end, 4u);
  EXPECT_FALSE(last->next_token);  // exactly full last page: no empty extra page
}

TEST(Paginate, EverythingFitsInOnePage) {
  auto keys = Keys(3);
  auto p = Paginate(keys, std::nullopt, 100);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->begin, 0u);
  EXPECT_EQ(p->end, 3u);
  EXPECT_FALSE(p->next_token);
}

TEST(Paginate, EmptyList) {
  auto p = Paginate({}, std::nullopt, 10);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->begin, 0u);
  EXPECT_EQ(p->end, 0u);
  EXPECT_FALSE(p->next_token);
}

TEST(Paginate, ForeignTokenYieldsNullopt) {
  EXPECT_FALSE(Paginate(Keys(3), std::string("Zm9vYmFy"), 2));
  EXPECT_FALSE(Paginate(Keys(3), std::string("not a token"), 2));
}

TEST(Paginate, BoundaryIsStableWhenItemsAreInsertedBeforeIt) {
  // Keys 2, 4, 6, 8, 10; first page is {2, 4}.
  std::vector<std::string> keys;
  for (int i = 2; i <= 10; i += 2) keys.push_back(SeqKey(i));
  auto first = Paginate(keys, std::nullopt, 2);
  ASSERT_TRUE(first && first->next_token);
  // Items appear before the boundary (1 and 3) and after it (5).
  std::vector<std::string> grown = {SeqKey(1), SeqKey(2), SeqKey(3), SeqKey(4),
                                    SeqKey(5), SeqKey(6), SeqKey(8), SeqKey(10)};
  auto second = Paginate(grown, first->next_token, 2);
  ASSERT_TRUE(second);
  ASSERT_EQ(second->end - second->begin, 2u);
  EXPECT_EQ(grown[second->begin], SeqKey(5));
  EXPECT_EQ(grown[second->begin + 1], SeqKey(6));
}

TEST(Paginate, BoundarySurvivesDeletionOfTheLastReturnedItem) {
  auto keys = Keys(6);
  auto first = Paginate(keys, std::nullopt, 2);  // {1, 2}
  ASSERT_TRUE(first && first->next_token);
  std::vector<std::string> shrunk = {SeqKey(1), SeqKey(3), SeqKey(4), SeqKey(5), SeqKey(6)};
  auto second = Paginate(shrunk, first->next_token, 2);
  ASSERT_TRUE(second);
  EXPECT_EQ(shrunk[second->begin], SeqKey(3));
}

TEST(Paginate, DescendingBoundaryIsStableWhenItemsAreInserted) {
  auto keys = Keys(6, /*descending=*/true);  // 6 5 4 3 2 1
  auto first = Paginate(keys, std::nullopt, 2, true);  // {6, 5}
  ASSERT_TRUE(first && first->next_token);
  std::vector<std::string> grown = {SeqKey(9), SeqKey(8), SeqKey(6), SeqKey(5),
                                    SeqKey(4), SeqKey(3), SeqKey(2), SeqKey(1)};
  auto second = Paginate(grown, first->next_token, 2, true);
  ASSERT_TRUE(second);
  EXPECT_EQ(grown[second->begin], SeqKey(4));
  EXPECT_EQ(grown[second->begin + 1], SeqKey(3));
}

TEST(Paginate, TokenPastTheEndIsAnEmptyPage) {
  auto keys = Keys(3);
  auto p = Paginate(keys, EncodeToken(SeqKey(99)), 2);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->begin, 3u);
  EXPECT_EQ(p->end, 3u);
  EXPECT_FALSE(p->next_token);
}

}  // namespace
}  // namespace kecs::api
