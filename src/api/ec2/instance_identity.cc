// The instance identity document, the user data's ECS_CLUSTER, and the document's
// signatures (see instance_identity.h and instances.h).
#include "api/ec2/instance_identity.h"

#include <sys/stat.h>


#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "api/ec2/instances.h"
#include "base/clock.h"
#include "base/value_cipher.h"

namespace kecs::api::ec2 {

// ---- the document ----

Json InstanceIdentityDocument(const Json& instance, const std::string& region, const std::string& account) {
  // AWS's members in AWS's order ("Instance identity documents", EC2 User Guide).
  Json doc = Json::object();
  doc["accountId"] = account;
  doc["architecture"] = JStr(instance, "Architecture");
  doc["availabilityZone"] = JStr(instance.value("Placement", Json::object()), "AvailabilityZone");
  doc["billingProducts"] = nullptr;
  doc["devpayProductCodes"] = nullptr;
  doc["marketplaceProductCodes"] = nullptr;
  doc["imageId"] = JStr(instance, "ImageId");
  doc["instanceId"] = JStr(instance, "InstanceId");
  doc["instanceType"] = JStr(instance, "InstanceType");
  doc["kernelId"] = nullptr;
  doc["pendingTime"] = Iso8601(instance.value("kecs:pendingTime", instance.value("LaunchTime", 0.0))).substr(0, 19) + "Z";
  doc["privateIp"] = JStr(instance, "PrivateIpAddress");
  doc["ramdiskId"] = nullptr;
  doc["region"] = region;
  doc["version"] = "2017-09-30";
  return doc;
}

std::string IdentityDocumentText(const Json& document) { return document.dump(2); }

// ---- ECS_CLUSTER in user data ----

namespace {

std::string QuotedPrintable(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '=' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (s[i] == '=' && i + 1 < s.size() && (s[i + 1] == '\n' || s[i + 1] == '\r')) {
      while (i + 1 < s.size() && (s[i + 1] == '\n' || s[i + 1] == '\r')) ++i;  // soft break
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The last ECS_CLUSTER=value assignment of plain text (a later line wins, as a later write
// to ecs.config does): `ECS_CLUSTER` at a word start (after a blank, a quote or a shell
// operator), optional blanks, `=`, optional blanks, then a quoted value (to its closing
// quote on the same line) or a bare [A-Za-z0-9_-]+ name. Scanned by hand: std::regex
// recurses per character and user data comes from the request (up to 16 KB).
std::optional<std::string> ClusterInText(std::string_view s) {
  constexpr std::string_view kKey = "ECS_CLUSTER";
  constexpr std::string_view kBefore = " \t\r\n\v\f'\"|;>&(";
  auto blank = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  auto name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; };
  std::optional<std::string> found;
  for (size_t at = s.find(kKey); at != std::string_view::npos; at = s.find(kKey, at + 1)) {
    if (at > 0 && kBefore.find(s[at - 1]) == std::string_view::npos) continue;
    size_t i = at + kKey.size();
    while (i < s.size() && blank(s[i])) ++i;
    if (i >= s.size() || s[i] != '=') continue;
    ++i;
    while (i < s.size() && blank(s[i])) ++i;
    if (i >= s.size()) continue;
    std::string v;
    if (s[i] == '"' || s[i] == '\'') {
      size_t close = s.find_first_of(std::string{s[i], '\n'}, i + 1);
      if (close == std::string_view::npos || s[close] != s[i]) continue;
      v = std::string(s.substr(i + 1, close - i - 1));
    } else {
      size_t end = i;
      while (end < s.size() && name_char(s[end])) ++end;
      v = std::string(s.substr(i, end - i));
    }
    if (!v.empty()) found = v;
  }
  return found;
}

// The boundary parameter of a MIME multipart's Content-Type (case-insensitive name,
// optionally quoted value), or "".
std::string MultipartBoundary(const std::string& s) {
  std::string lower = s;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (size_t at = lower.find("boundary"); at != std::string::npos; at = lower.find("boundary", at + 1)) {
    size_t i = at + 8;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i >= s.size() || s[i] != '=') continue;
    ++i;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i < s.size() && s[i] == '"') ++i;
    size_t end = s.find_first_of("\"\r\n;", i);
    std::string b = s.substr(i, end == std::string::npos ? std::string::npos : end - i);
    if (!b.empty()) return b;
  }
  return "";
}

}  // namespace

std::optional<std::string> EcsClusterFromUserData(std::string_view decoded) {
  // A MIME multipart (cloud-init): each part by itself, decoded per its
  // Content-Transfer-Encoding.
  std::string s(decoded);
  std::string mime_boundary;
  if (s.find("Content-Type: multipart") != std::string::npos &&
      !(mime_boundary = MultipartBoundary(s)).empty()) {
    std::string boundary = "--" + mime_boundary;
    std::optional<std::string> found;
    size_t pos = s.find(boundary);
    while (pos != std::string::npos) {
      size_t start = pos + boundary.size();
      size_t next = s.find(boundary, start);
      std::string part = s.substr(start, next == std::string::npos ? std::string::npos : next - start);
      size_t body_at = part.find("\n\n");
      if (body_at == std::string::npos) body_at = part.find("\r\n\r\n");
      if (body_at != std::string::npos) {
        std::string headers = part.substr(0, body_at), body = part.substr(body_at);
        std::string lower = headers;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (lower.find("content-transfer-encoding: base64") != std::string::npos) {
          std::string compact;
          for (char c : body) if (!std::isspace(static_cast<unsigned char>(c))) compact.push_back(c);
          auto d = Base64Decode(compact);
          body = d.ok() ? *d : "";
        } else if (lower.find("quoted-printable") != std::string::npos) {
          body = QuotedPrintable(body);
        }
        if (auto c = ClusterInText(body)) found = c;
      }
      pos = next;
    }
    return found;
  }
  return ClusterInText(s);
}

// ---- signatures ----

namespace {

struct BioFree { void operator()(BIO* b) const { BIO_free(b); } };
struct KeyFree { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
struct X509Free { void operator()(X509* x) const { X509_free(x); } };
struct Pkcs7Free { void operator()(PKCS7* p) const { PKCS7_free(p); } };
struct MdCtxFree { void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); } };
using BioPtr = std::unique_ptr<BIO, BioFree>;

Status SslError(const char* what) {
  ERR_clear_error();  // OpenSSL's queue may name key internals: not passed on
  return Internal(fmt::format("instance identity: {} failed", what));
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

struct IdentitySigner::Keys {
  std::unique_ptr<EVP_PKEY, KeyFree> key;
  std::unique_ptr<X509, X509Free> cert;
};

IdentitySigner::IdentitySigner(std::unique_ptr<Keys> keys) : keys_(std::move(keys)) {}
IdentitySigner::~IdentitySigner() = default;

namespace {

Result<std::unique_ptr<X509, X509Free>> SelfSigned(EVP_PKEY* key) {
  std::unique_ptr<X509, X509Free> x(X509_new());
  if (!x || X509_set_version(x.get(), 2) != 1) return SslError("X509_new");
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -86400);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 3650L * 86400);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("kecs"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("kecs instance identity"), -1, -1, 0);
  X509_set_issuer_name(x.get(), name);
  if (X509_set_pubkey(x.get(), key) != 1 || X509_sign(x.get(), key, EVP_sha256()) <= 0) return SslError("certificate");
  return x;
}

Result<std::shared_ptr<IdentitySigner>> FromKey(std::unique_ptr<EVP_PKEY, KeyFree> key,
                                                std::function<std::shared_ptr<IdentitySigner>(std::unique_ptr<IdentitySigner::Keys>)> make) {
  auto keys = std::make_unique<IdentitySigner::Keys>();
  ASSIGN_OR_RETURN(keys->cert, SelfSigned(key.get()));
  keys->key = std::move(key);
  return make(std::move(keys));
}

}  // namespace

Result<std::shared_ptr<IdentitySigner>> IdentitySigner::InMemory() {
  std::unique_ptr<EVP_PKEY, KeyFree> key(EVP_RSA_gen(2048));
  if (!key) return SslError("RSA key generation");
  return FromKey(std::move(key), [](std::unique_ptr<Keys> k) {
    return std::shared_ptr<IdentitySigner>(new IdentitySigner(std::move(k)));
  });
}

Result<std::shared_ptr<IdentitySigner>> IdentitySigner::Open(Env* env, const std::string& path) {
  std::unique_ptr<EVP_PKEY, KeyFree> key;
  auto text = env->ReadFile(path);
  if (text.ok()) {
    struct stat st{};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      return FailedPrecondition(fmt::format("instance identity key {} may be read by other users; make it mode 0600", path));
    }
    BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
    key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
      ERR_clear_error();
      return FailedPrecondition(fmt::format("instance identity key {} is no RSA private key; remove it to make a new one", path));
    }
  } else {
    key.reset(EVP_RSA_gen(2048));
    if (!key) return SslError("RSA key generation");
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
      return SslError("PEM_write_bio_PrivateKey");
    }
    std::string pem = BioText(bio.get());
    Status st = env->WriteFileAtomic(path, pem, 0600);
    OPENSSL_cleanse(pem.data(), pem.size());
    RETURN_IF_ERROR(st);
  }
  return FromKey(std::move(key), [](std::unique_ptr<Keys> k) {
    return std::shared_ptr<IdentitySigner>(new IdentitySigner(std::move(k)));
  });
}

Result<std::string> IdentitySigner::Signature(std::string_view document) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  size_t n = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, keys_->key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(document.data()), document.size()) != 1) {
    return SslError("signing");
  }
  std::string sig(n, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &n,
                     reinterpret_cast<const unsigned char*>(document.data()), document.size()) != 1) {
    return SslError("signing");
  }
  sig.resize(n);
  return Base64Encode(sig);
}

Result<std::string> IdentitySigner::Pkcs7(std::string_view document) const {
  BioPtr in(BIO_new_mem_buf(document.data(), static_cast<int>(document.size())));
  std::unique_ptr<PKCS7, Pkcs7Free> p7(
      PKCS7_sign(keys_->cert.get(), keys_->key.get(), nullptr, in.get(), PKCS7_BINARY | PKCS7_NOSMIMECAP));
  if (!p7) return SslError("PKCS7_sign");
  int len = i2d_PKCS7(p7.get(), nullptr);
  if (len <= 0) return SslError("i2d_PKCS7");
  std::string der(static_cast<size_t>(len), '\0');
  unsigned char* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_PKCS7(p7.get(), &p);
  std::string b64 = Base64Encode(der), out;
  for (size_t i = 0; i < b64.size(); i += 64) {
    if (i) out += '\n';
    out += b64.substr(i, 64);
  }
  return out;
}

bool IdentitySigner::Verify(std::string_view document, std::string_view signature) const {
  std::string compact;
  for (char c : signature) if (!std::isspace(static_cast<unsigned char>(c))) compact.push_back(c);
  // PEM armour around a PKCS#7 signature is allowed.
  static const std::string kBegin = "-----BEGINPKCS7-----", kEnd = "-----ENDPKCS7-----";
  if (compact.starts_with(kBegin)) compact = compact.substr(kBegin.size());
  if (compact.ends_with(kEnd)) compact.resize(compact.size() - kEnd.size());
  auto raw = Base64Decode(compact);
  if (!raw.ok() || raw->empty()) return false;
  // The plain RSA-SHA256 form.
  {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    if (ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, keys_->key.get()) == 1 &&
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(raw->data()), raw->size(),
                         reinterpret_cast<const unsigned char*>(document.data()), document.size()) == 1) {
      return true;
    }
    ERR_clear_error();
  }
  // The PKCS#7 form: its embedded content must be `document`, signed by this key.
  const unsigned char* p = reinterpret_cast<const unsigned char*>(raw->data());
  std::unique_ptr<PKCS7, Pkcs7Free> p7(d2i_PKCS7(nullptr, &p, static_cast<long>(raw->size())));
  if (!p7) {
    ERR_clear_error();
    return false;
  }
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  STACK_OF(X509)* certs = sk_X509_new_null();
  sk_X509_push(certs, keys_->cert.get());
  BioPtr content(BIO_new_mem_buf(document.data(), static_cast<int>(document.size())));
  BioPtr out(BIO_new(BIO_s_mem()));
  int ok = PKCS7_verify(p7.get(), certs, store.get(), PKCS7_is_detached(p7.get()) ? content.get() : nullptr, out.get(),
                        PKCS7_NOVERIFY | PKCS7_NOINTERN | PKCS7_BINARY);
  sk_X509_free(certs);
  ERR_clear_error();
  if (ok != 1) return false;
  return PKCS7_is_detached(p7.get()) || BioText(out.get()) == document;
}

std::string IdentitySigner::CertificatePem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), keys_->cert.get()) != 1) return "";
  return BioText(bio.get());
}

}  // namespace kecs::api::ec2
