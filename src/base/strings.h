#pragma once
// String helpers the standard library lacks.
#include <string>
#include <string_view>
#include <vector>

namespace kecs {

std::vector<std::string> Split(std::string_view s, char sep);
std::string Join(const std::vector<std::string>& parts, std::string_view sep);
std::string ToLower(std::string_view s);
std::string_view Trim(std::string_view s);
// application/x-www-form-urlencoded decoding ('+' is a space); false on a bad escape.
bool UrlDecode(std::string_view in, std::string* out, bool plus_is_space = true);
// RFC 3986 encoding of everything but unreserved characters (SigV4's UriEncode).
std::string UriEncode(std::string_view in, bool encode_slash = true);
std::string XmlEscape(std::string_view in);
std::string HexEncode(std::string_view bytes);
// The SHA-256 of `data`, as 64 lowercase hex digits.
std::string Sha256Hex(std::string_view data);

}  // namespace kecs
