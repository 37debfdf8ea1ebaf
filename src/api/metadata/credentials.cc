#include "api/metadata/credentials.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cmath>

#include "base/key_file.h"

namespace kecs::api::metadata {
namespace {

constexpr size_t kKeyBytes = 32;

std::string Base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// RFC 4648 base32 of the first `chars` * 5 bits.
std::string Base32(const std::string& bytes, size_t chars) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5 && out.size() < chars) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
    if (out.size() == chars) break;
  }
  return out;
}

}  // namespace

Result<CredentialsIssuer> CredentialsIssuer::Open(Env* env, const std::string& path) {
  auto key = ReadOrMakeKeyFile(env, path, kKeyBytes, "task credentials key");
  if (!key.ok()) return key.status();
  return CredentialsIssuer(std::move(*key));
}

std::string CredentialsIssuer::Mac(const std::string& purpose, const std::string& credentials_id, long window) const {
  std::string msg = purpose + "\n" + credentials_id + "\n" + std::to_string(window);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

RoleCredentials CredentialsIssuer::Issue(const std::string& credentials_id, const std::string& role_arn,
                                         double now) const {
  long window = static_cast<long>(std::floor(now / kRotationSeconds));
  RoleCredentials c;
  c.role_arn = role_arn;
  c.access_key_id = "ASIA" + Base32(Mac("access-key-id", credentials_id, window), 16);
  c.secret_access_key = Base64(Mac("secret-access-key", credentials_id, window).substr(0, 30));
  c.token = Base64(Mac("session-token-1", credentials_id, window) + Mac("session-token-2", credentials_id, window) +
                   Mac("session-token-3", credentials_id, window));
  c.expiration = static_cast<double>(window + 1) * kRotationSeconds + kGraceSeconds;
  return c;
}

}  // namespace kecs::api::metadata
