#include "base/value_cipher.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

#include <fmt/format.h>

#include "base/key_file.h"
#include "base/log.h"

namespace kecs {
namespace {

constexpr int kNonceBytes = 12;
constexpr int kTagBytes = 16;

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const unsigned char* U(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
unsigned char* U(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(U(out), U(bytes), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return InvalidArgument("not base64");
  std::string out(3 * (text.size() / 4), '\0');
  int n = EVP_DecodeBlock(U(out), U(text), static_cast<int>(text.size()));
  if (n < 0) return InvalidArgument("not base64");
  size_t pad = 0;
  if (text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

Result<ValueCipher> ValueCipher::Open(Env* env, const std::string& path, std::string_view what) {
  auto key = ReadOrMakeKeyFile(env, path, kKeyBytes, what);
  if (!key.ok()) return key.status();
  return ValueCipher(std::move(*key));
}

Result<std::string> ValueCipher::Seal(std::string_view plaintext, std::string_view context) const {
  std::string out(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  if (RAND_bytes(U(out), kNonceBytes) != 1) return Internal("cannot seal a value: no randomness");
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int len = 0;
  bool ok = ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
            EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, U(key_), U(out)) == 1 &&
            EVP_EncryptUpdate(ctx.get(), nullptr, &len, U(context), static_cast<int>(context.size())) == 1 &&
            EVP_EncryptUpdate(ctx.get(), U(out) + kNonceBytes, &len, U(plaintext),
                              static_cast<int>(plaintext.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx.get(), U(out) + kNonceBytes + len, &len) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                                U(out) + kNonceBytes + plaintext.size()) == 1;
  if (!ok) return Internal("cannot seal a value: OpenSSL failed");
  return Base64Encode(out);
}

Result<std::string> ValueCipher::Unseal(std::string_view sealed, std::string_view context) const {
  auto raw = Base64Decode(sealed);
  if (!raw.ok() || raw->size() < static_cast<size_t>(kNonceBytes + kTagBytes)) {
    return InvalidArgument("not a sealed value");
  }
  const std::string& in = *raw;
  size_t body = in.size() - kNonceBytes - kTagBytes;
  std::string out(body, '\0');
  std::string tag = in.substr(kNonceBytes + body);
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int len = 0;
  bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
            EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, U(key_), U(in)) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(context), static_cast<int>(context.size())) == 1 &&
            EVP_DecryptUpdate(ctx.get(), U(out), &len, U(in) + kNonceBytes, static_cast<int>(body)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, U(tag)) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), U(out) + len, &len) == 1;
  if (!ok) return InvalidArgument("a sealed value does not open under this key");
  return out;
}

Result<const ValueCipher*> LazyValueCipher::Get(const std::function<bool()>& sealed_values_exist) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cipher_) return &*cipher_;
  auto existing = env_->ReadFile(path_);
  if (!existing.ok() && existing.status().code() == Code::kNotFound && sealed_values_exist()) {
    std::string message = fmt::format(
        "The {} file {} is missing, but the store holds {} sealed under it. Restore the file: kecs does not make "
        "a new key while such values exist.",
        what_, path_, values_);
    if (!missing_key_logged_) {
      missing_key_logged_ = true;
      KLOG_ERROR("{}: {}", log_tag_, message);
    }
    return Internal(message);
  }
  auto cipher = ValueCipher::Open(env_, path_, what_);
  if (!cipher.ok()) return Internal(fmt::format("kecs cannot open its {}: {}", what_, cipher.status().message()));
  cipher_.emplace(std::move(*cipher));
  return &*cipher_;
}

}  // namespace kecs
