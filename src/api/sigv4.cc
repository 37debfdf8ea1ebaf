#include "api/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <ctime>

#include "base/strings.h"
#include "base/value_cipher.h"

namespace kecs::api {
namespace {

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string CanonicalQuery(std::string_view qs) {
  std::vector<std::pair<std::string, std::string>> kv;
  if (!qs.empty()) {
    for (const std::string& p : Split(qs, '&')) {
      if (p.empty()) continue;
      size_t eq = p.find('=');
      std::string k, v;
      UrlDecode(std::string_view(p).substr(0, eq), &k, false);
      if (eq != std::string::npos) UrlDecode(std::string_view(p).substr(eq + 1), &v, false);
      if (k == "X-Amz-Signature") continue;
      kv.emplace_back(UriEncode(k), UriEncode(v));
    }
  }
  std::sort(kv.begin(), kv.end());
  std::string out;
  for (size_t i = 0; i < kv.size(); ++i) {
    if (i) out += '&';
    out += kv[i].first + "=" + kv[i].second;
  }
  return out;
}

std::string CollapseSpaces(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : Trim(v)) {
    if (c == ' ' || c == '\t') {
      if (!space) out.push_back(' ');
      space = true;
    } else {
      out.push_back(c);
      space = false;
    }
  }
  return out;
}

bool ParseAmzDate(const std::string& s, double* out) {
  std::tm tm{};
  const char* rest = strptime(s.c_str(), "%Y%m%dT%H%M%SZ", &tm);
  if (!rest || *rest) return false;
  *out = static_cast<double>(timegm(&tm));
  return true;
}

}  // namespace

std::optional<SigV4Auth> ParseAuthorization(std::string_view header) {
  constexpr std::string_view kAlg = "AWS4-HMAC-SHA256";
  header = Trim(header);
  if (!header.starts_with(kAlg)) return std::nullopt;
  header.remove_prefix(kAlg.size());
  SigV4Auth a;
  for (std::string part : Split(header, ',')) {
    std::string_view p = Trim(part);
    size_t eq = p.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view k = Trim(p.substr(0, eq)), v = Trim(p.substr(eq + 1));
    if (k == "Credential") {
      auto f = Split(v, '/');
      if (f.size() != 5 || f[4] != "aws4_request") return std::nullopt;
      a.access_key = f[0];
      a.date = f[1];
      a.region = f[2];
      a.service = f[3];
    } else if (k == "SignedHeaders") {
      a.signed_headers = Split(v, ';');
    } else if (k == "Signature") {
      a.signature = std::string(v);
    }
  }
  if (a.access_key.empty() || a.region.empty() || a.service.empty()) return std::nullopt;
  return a;
}

std::string CanonicalRequest(const HttpRequest& req,
                             const std::vector<std::string>& signed_headers) {
  std::string out = req.method + "\n";
  std::string path(req.Path());
  out += (path.empty() ? "/" : UriEncode(path, /*encode_slash=*/false)) + "\n";
  out += CanonicalQuery(req.QueryString()) + "\n";
  for (const std::string& h : signed_headers) {
    std::vector<std::string> vals;
    for (const auto& [k, v] : req.headers) {
      if (k == h) vals.push_back(CollapseSpaces(v));
    }
    out += h + ":" + Join(vals, ",") + "\n";
  }
  // Appended piecewise: `"\n" + Join(...)` trips GCC 12's -Wrestrict false positive (GCC
  // bug 105329) in optimised builds.
  out += '\n';
  out += Join(signed_headers, ";");
  out += '\n';
  std::string_view payload_hash = req.Header("x-amz-content-sha256");
  out += payload_hash.empty() ? Sha256Hex(req.body) : std::string(payload_hash);
  return out;
}

std::string ComputeSignature(const HttpRequest& req, const SigV4Auth& auth,
                             const std::string& secret, const std::string& amz_date) {
  std::string scope = auth.date + "/" + auth.region + "/" + auth.service + "/aws4_request";
  std::string sts = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" +
                    Sha256Hex(CanonicalRequest(req, auth.signed_headers));
  std::string k = Hmac("AWS4" + secret, auth.date);
  k = Hmac(k, auth.region);
  k = Hmac(k, auth.service);
  k = Hmac(k, "aws4_request");
  return HexEncode(Hmac(k, sts));
}

SigV4Result VerifySigV4(const HttpRequest& req, const std::map<std::string, std::string>& secrets,
                        double now) {
  std::string_view header = req.Header("authorization");
  if (header.empty()) return SigV4Result::kMissing;
  auto auth = ParseAuthorization(header);
  if (!auth || auth->signature.empty() || auth->signed_headers.empty()) {
    return SigV4Result::kIncomplete;
  }
  std::string amz_date(req.Header("x-amz-date"));
  double t = 0;
  if (amz_date.empty() || !ParseAmzDate(amz_date, &t)) return SigV4Result::kIncomplete;
  auto it = secrets.find(auth->access_key);
  if (it == secrets.end()) return SigV4Result::kUnknownKey;
  if (std::fabs(now - t) > 15 * 60) return SigV4Result::kExpired;
  std::string want = ComputeSignature(req, *auth, it->second, amz_date);
  if (want.size() != auth->signature.size() ||
      CRYPTO_memcmp(want.data(), auth->signature.data(), want.size()) != 0) {
    return SigV4Result::kMismatch;
  }
  std::string_view payload_hash = req.Header("x-amz-content-sha256");
  if (!payload_hash.empty() && ToLower(std::string(Trim(payload_hash))) != Sha256Hex(req.body)) {
    return SigV4Result::kPayloadHashMismatch;
  }
  return SigV4Result::kOk;
}

bool BasicCredentialsMatch(std::string_view authorization, const std::map<std::string, std::string>& secrets) {
  constexpr std::string_view kScheme = "basic ";
  if (authorization.size() <= kScheme.size() || ToLower(authorization.substr(0, kScheme.size())) != kScheme) {
    return false;
  }
  auto decoded = Base64Decode(Trim(authorization.substr(kScheme.size())));
  if (!decoded.ok()) return false;
  size_t colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  auto it = secrets.find(decoded->substr(0, colon));
  if (it == secrets.end()) return false;
  auto digest = [](std::string_view v) {
    std::array<unsigned char, SHA256_DIGEST_LENGTH> d{};
    SHA256(reinterpret_cast<const unsigned char*>(v.data()), v.size(), d.data());
    return d;
  };
  auto want = digest(it->second), got = digest(std::string_view(*decoded).substr(colon + 1));
  return CRYPTO_memcmp(want.data(), got.data(), want.size()) == 0;
}

}  // namespace kecs::api
