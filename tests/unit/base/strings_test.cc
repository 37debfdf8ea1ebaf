#include "base/strings.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kecs {
namespace {

using Parts = std::vector<std::string>;

TEST(Split, SplitsOnEverySeparatorKeepingEmptyParts) {
  EXPECT_EQ(Split("a,b,,c", ','), (Parts{"a", "b", "", "c"}));
  EXPECT_EQ(Split("abc", ','), (Parts{"abc"}));
  EXPECT_EQ(Split("", ','), (Parts{""}));
  EXPECT_EQ(Split(",", ','), (Parts{"", ""}));
  EXPECT_EQ(Split(",a,", ','), (Parts{"", "a", ""}));
  EXPECT_EQ(Split("k=v&x=y", '&'), (Parts{"k=v", "x=y"}));
}

TEST(Join, JoinsWithTheSeparator) {
  EXPECT_EQ(Join({}, ", "), "");
  EXPECT_EQ(Join({"a"}, ", "), "a");
  EXPECT_EQ(Join({"a", "b", "c"}, ", "), "a, b, c");
  EXPECT_EQ(Join({"", ""}, "-"), "-");
  EXPECT_EQ(Join({"a", "b"}, ""), "ab");
}

TEST(Join, InvertsSplit) {
  for (const char* s : {"a,b,,c", "", ",", "x"}) EXPECT_EQ(Join(Split(s, ','), ","), s);
}

TEST(Trim, RemovesLeadingAndTrailingWhitespace) {
  EXPECT_EQ(Trim("  a b \t\r\n"), "a b");
  EXPECT_EQ(Trim("a"), "a");
  EXPECT_EQ(Trim("   "), "");
  EXPECT_EQ(Trim(""), "");
  EXPECT_EQ(Trim("\tx\v"), "x");
}

TEST(ToLower, LowersAsciiOnly) {
  EXPECT_EQ(ToLower("Hello WORLD 1-2"), "hello world 1-2");
  EXPECT_EQ(ToLower(""), "");
}

TEST(UrlDecode, DecodesPercentEscapesAndPlus) {
  std::string out;
  ASSERT_TRUE(UrlDecode("a+b%20c", &out));
  EXPECT_EQ(out, "a b c");
  ASSERT_TRUE(UrlDecode("%41%62%2f%2F", &out));
  EXPECT_EQ(out, "Ab//");
  ASSERT_TRUE(UrlDecode("%2B", &out));
  EXPECT_EQ(out, "+");
  ASSERT_TRUE(UrlDecode("", &out));
  EXPECT_EQ(out, "");
  ASSERT_TRUE(UrlDecode("%C3%A9", &out));
  EXPECT_EQ(out, "\xC3\xA9");
  ASSERT_TRUE(UrlDecode("%00", &out));
  EXPECT_EQ(out, std::string(1, '\0'));
}

TEST(UrlDecode, PlusStaysPlusWhenNotASpace) {
  std::string out;
  ASSERT_TRUE(UrlDecode("a+b%20c", &out, /*plus_is_space=*/false));
  EXPECT_EQ(out, "a+b c");
}

TEST(UrlDecode, RejectsBadEscapes) {
  std::string out;
  EXPECT_FALSE(UrlDecode("%", &out));
  EXPECT_FALSE(UrlDecode("abc%", &out));
  EXPECT_FALSE(UrlDecode("%4", &out));
  EXPECT_FALSE(UrlDecode("x%4", &out));
  EXPECT_FALSE(UrlDecode("%G1", &out));
  EXPECT_FALSE(UrlDecode("%4G", &out));
  EXPECT_FALSE(UrlDecode("%%41", &out));
  EXPECT_FALSE(UrlDecode("% 1", &out));
}

TEST(UrlDecode, EscapeAtTheVeryEndIsAccepted) {
  std::string out;
  ASSERT_TRUE(UrlDecode("ab%41", &out));
  EXPECT_EQ(out, "abA");
}

TEST(UrlDecode, ClearsTheOutputFirst) {
  std::string out = "stale";
  ASSERT_TRUE(UrlDecode("x", &out));
  EXPECT_EQ(out, "x");
}

TEST(UriEncode, KeepsUnreservedCharacters) {
  EXPECT_EQ(UriEncode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(UriEncode(""), "");
}

TEST(UriEncode, EncodesEverythingElseInUppercaseHex) {
  EXPECT_EQ(UriEncode("a b"), "a%20b");
  EXPECT_EQ(UriEncode("a+b=c&d"), "a%2Bb%3Dc%26d");
  EXPECT_EQ(UriEncode("*"), "%2A");
  EXPECT_EQ(UriEncode("\xC3\xA9"), "%C3%A9");
  EXPECT_EQ(UriEncode(std::string(1, '\0')), "%00");
}

TEST(UriEncode, SlashIsEncodedUnlessAsked) {
  EXPECT_EQ(UriEncode("/a/b c"), "%2Fa%2Fb%20c");
  EXPECT_EQ(UriEncode("/a/b c", /*encode_slash=*/false), "/a/b%20c");
}

TEST(UriEncode, RoundTripsThroughUrlDecode) {
  const std::string in = "Filter.1.Value.1=a b+c/d&e~f%";
  std::string out;
  ASSERT_TRUE(UrlDecode(UriEncode(in), &out));
  EXPECT_EQ(out, in);
}

TEST(XmlEscape, EscapesTheFiveXmlCharacters) {
  EXPECT_EQ(XmlEscape("<a href=\"x\">Tom & Jerry's</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&apos;s&lt;/a&gt;");
  EXPECT_EQ(XmlEscape("plain text"), "plain text");
  EXPECT_EQ(XmlEscape(""), "");
  EXPECT_EQ(XmlEscape("&amp;"), "&amp;amp;");
}

TEST(HexEncode, EncodesBytesInLowercase) {
  EXPECT_EQ(HexEncode(std::string("\x00\xff\x10\xab", 4)), "00ff10ab");
  EXPECT_EQ(HexEncode("AZ"), "415a");
  EXPECT_EQ(HexEncode(""), "");
}

}  // namespace
}  // namespace kecs
