#include "runtime/local/lb_certs.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

#include <fmt/format.h>

#include "base/log.h"
#include "base/strings.h"

namespace kecs::runtime::local {
namespace {

constexpr int kCaDays = 3650;
// The longest validity Apple's clients (and so many others) accept for a server
// certificate from a private CA made after 2019-07-01.
constexpr int kLeafDays = 825;
constexpr int kRenewDays = 30;

struct BioFree { void operator()(BIO* b) const { BIO_free(b); } };
struct X509Free { void operator()(X509* x) const { X509_free(x); } };
struct KeyFree { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
struct ExtFree { void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); } };
struct NamesFree { void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); } };
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

// OpenSSL's error queue says what failed; it never holds key material.
Status SslError(const std::string& what) {
  std::string detail;
  if (unsigned long e = ERR_get_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    detail = std::string(": ") + buf;
  }
  ERR_clear_error();
  return Internal("certificates: " + what + detail);
}

Result<X509Ptr> ReadCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return SslError("BIO_new_mem_buf");
  X509Ptr x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!x) return SslError("no certificate in the PEM");
  return x;
}

Result<KeyPtr> ReadKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return SslError("BIO_new_mem_buf");
  KeyPtr k(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!k) return SslError("no private key in the PEM");
  return k;
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

Result<std::string> CertPem(X509* x) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), x) != 1) return SslError("PEM_write_bio_X509");
  return BioText(bio.get());
}

Result<std::string> KeyPem(EVP_PKEY* k) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), k, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return SslError("PEM_write_bio_PrivateKey");
  }
  return BioText(bio.get());
}

Result<KeyPtr> NewKey() {
  KeyPtr k(EVP_EC_gen("P-256"));
  if (!k) return SslError("EVP_EC_gen");
  return k;
}

// A certificate with a random positive 127-bit serial, valid from an hour ago (clocks of
// clients differ a little) for `days`.
Result<X509Ptr> NewCert(const std::string& common_name, int days, EVP_PKEY* key) {
  X509Ptr x(X509_new());
  if (!x || X509_set_version(x.get(), 2) != 1) return SslError("X509_new");
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_new(), BN_free);
  if (!bn || BN_rand(bn.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x.get()))) {
    return SslError("serial number");
  }
  if (!X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600) ||
      !X509_time_adj_ex(X509_getm_notAfter(x.get()), days, 0, nullptr)) {
    return SslError("validity");
  }
  X509_NAME* name = X509_get_subject_name(x.get());
  auto add = [&](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0) == 1;
  };
  if (!add("O", "kecs")) return SslError("subject");
  if (!common_name.empty() && !add("CN", common_name)) return SslError("subject");
  if (X509_set_pubkey(x.get(), key) != 1) return SslError("X509_set_pubkey");
  return x;
}

// Adds an extension in OpenSSL's configuration syntax (`value` is a constant here, never
// a name from a request).
Status AddExt(X509* x, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, ExtFree> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(x, ext.get(), -1) != 1) return SslError(std::string("extension ") + value);
  return Status::Ok();
}

// The subject alternative names, built as ASN.1 values (not configuration text, so a name
// with a comma cannot add another).
Status AddSans(X509* x, const CertificateNames& names) {
  std::unique_ptr<GENERAL_NAMES, NamesFree> gens(sk_GENERAL_NAME_new_null());
  if (!gens) return SslError("GENERAL_NAMES");
  for (const auto& dns : names.dns_names) {
    GENERAL_NAME* g = GENERAL_NAME_new();
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    if (!g || !s || ASN1_STRING_set(s, dns.data(), static_cast<int>(dns.size())) != 1) {
      GENERAL_NAME_free(g);
      ASN1_IA5STRING_free(s);
      return SslError("DNS name");
    }
    GENERAL_NAME_set0_value(g, GEN_DNS, s);
    sk_GENERAL_NAME_push(gens.get(), g);
  }
  for (const auto& ip : names.ips) {
    ASN1_OCTET_STRING* a = a2i_IPADDRESS(ip.c_str());
    if (!a) return InvalidArgument("certificates: not an IP address: " + ip);
    GENERAL_NAME* g = GENERAL_NAME_new();
    if (!g) {
      ASN1_OCTET_STRING_free(a);
      return SslError("IP address");
    }
    GENERAL_NAME_set0_value(g, GEN_IPADD, a);
    sk_GENERAL_NAME_push(gens.get(), g);
  }
  if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return SslError("subjectAltName");
  }
  return Status::Ok();
}

std::vector<std::string> SanStrings(const CertificateNames& names) {
  std::vector<std::string> out;
  for (const auto& d : names.dns_names) out.push_back("DNS:" + d);
  for (const auto& ip : names.ips) {
    // As the certificate prints it (a2i_IPADDRESS normalises "::0001" and the like).
    unsigned char buf[16];
    char text[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, ip.c_str(), buf) == 1 && inet_ntop(AF_INET, buf, text, sizeof text)) {
      out.push_back(std::string("IP:") + text);
    } else if (inet_pton(AF_INET6, ip.c_str(), buf) == 1 && inet_ntop(AF_INET6, buf, text, sizeof text)) {
      out.push_back(std::string("IP:") + text);
    } else {
      out.push_back("IP:" + ip);
    }
  }
  return out;
}

}  // namespace

struct LbCertificates::Ca {
  X509Ptr cert;
  KeyPtr key;
  std::string pem;
};

Result<LbCertificates::Ca> LbCertificates::LoadCa() {
  std::string cert_path = ca_dir_ + "/ca.pem";
  std::string key_path = ca_dir_ + "/ca.key";
  RETURN_IF_ERROR(env_->CreateDirs(ca_dir_, 0700));
  if (chmod(ca_dir_.c_str(), 0700) != 0) return PosixError("chmod " + ca_dir_, errno);
  auto cert_pem = env_->ReadFile(cert_path);
  auto key_pem = env_->ReadFile(key_path);
  if (cert_pem.ok() && key_pem.ok()) {
    Ca ca;
    ASSIGN_OR_RETURN(ca.cert, ReadCert(*cert_pem));
    ASSIGN_OR_RETURN(ca.key, ReadKey(*key_pem));
    if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
      ERR_clear_error();
      return FailedPrecondition(fmt::format("certificates: {} does not belong to {}; remove both to make a new "
                                            "certificate authority", key_path, cert_path));
    }
    ca.pem = *cert_pem;
    return ca;
  }
  if (cert_pem.ok() != key_pem.ok()) {
    return FailedPrecondition(fmt::format("certificates: only one of {} and {} exists; remove it to make a new "
                                          "certificate authority", cert_path, key_path));
  }
  Ca ca;
  ASSIGN_OR_RETURN(ca.key, NewKey());
  ASSIGN_OR_RETURN(ca.cert, NewCert("kecs local load balancer CA", kCaDays, ca.key.get()));
  X509* c = ca.cert.get();
  if (X509_set_issuer_name(c, X509_get_subject_name(c)) != 1) return SslError("issuer");
  RETURN_IF_ERROR(AddExt(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  RETURN_IF_ERROR(AddExt(c, c, NID_key_usage, "critical,keyCertSign,cRLSign"));
  RETURN_IF_ERROR(AddExt(c, c, NID_subject_key_identifier, "hash"));
  if (X509_sign(c, ca.key.get(), EVP_sha256()) <= 0) return SslError("signing the CA");
  ASSIGN_OR_RETURN(std::string key_text, KeyPem(ca.key.get()));
  ASSIGN_OR_RETURN(ca.pem, CertPem(c));
  // The key first: a certificate without its key would be refused above.
  RETURN_IF_ERROR(env_->WriteFileAtomic(key_path, key_text, 0600));
  RETURN_IF_ERROR(env_->WriteFileAtomic(cert_path, ca.pem, 0644));
  KLOG_INFO("certificates: made the load balancers' certificate authority {}", cert_path);
  return ca;
}

Result<std::string> LbCertificates::CaPem() {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Ca ca, LoadCa());
  return ca.pem;
}

Result<bool> LbCertificates::Ensure(const std::string& path, const CertificateNames& names) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Ca ca, LoadCa());
  if (auto existing = env_->ReadFile(path); existing.ok()) {
    auto sans = CertificateSans(*existing);
    auto days = DaysLeft(*existing);
    if (sans.ok() && *sans == SanStrings(names) && days.ok() && *days >= kRenewDays && SignedBy(*existing, ca.pem)) {
      return false;
    }
  }
  ASSIGN_OR_RETURN(KeyPtr key, NewKey());
  std::string cn = names.common_name.size() <= 64 ? names.common_name : "";
  ASSIGN_OR_RETURN(X509Ptr x, NewCert(cn, kLeafDays, key.get()));
  if (X509_set_issuer_name(x.get(), X509_get_subject_name(ca.cert.get())) != 1) return SslError("issuer");
  RETURN_IF_ERROR(AddExt(x.get(), ca.cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExt(x.get(), ca.cert.get(), NID_key_usage, "critical,digitalSignature"));
  RETURN_IF_ERROR(AddExt(x.get(), ca.cert.get(), NID_ext_key_usage, "serverAuth"));
  RETURN_IF_ERROR(AddExt(x.get(), ca.cert.get(), NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExt(x.get(), ca.cert.get(), NID_authority_key_identifier, "keyid:always"));
  RETURN_IF_ERROR(AddSans(x.get(), names));
  if (X509_sign(x.get(), ca.key.get(), EVP_sha256()) <= 0) return SslError("signing the certificate");
  ASSIGN_OR_RETURN(std::string cert_text, CertPem(x.get()));
  ASSIGN_OR_RETURN(std::string key_text, KeyPem(key.get()));
  size_t slash = path.rfind('/');
  if (slash != std::string::npos) RETURN_IF_ERROR(env_->CreateDirs(path.substr(0, slash), 0700));
  RETURN_IF_ERROR(env_->WriteFileAtomic(path, cert_text + ca.pem + key_text, 0600));
  return true;
}

Result<std::vector<std::string>> CertificateSans(const std::string& pem) {
  ASSIGN_OR_RETURN(X509Ptr x, ReadCert(pem));
  std::unique_ptr<GENERAL_NAMES, NamesFree> gens(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x.get(), NID_subject_alt_name, nullptr, nullptr)));
  std::vector<std::string> out;
  if (!gens) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(gens.get()); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(gens.get(), i);
    int type = 0;
    const auto* v = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(g, &type));
    const unsigned char* data = ASN1_STRING_get0_data(v);
    int len = ASN1_STRING_length(v);
    if (type == GEN_DNS) {
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(len)));
    } else if (type == GEN_IPADD && (len == 4 || len == 16)) {
      char text[INET6_ADDRSTRLEN];
      if (inet_ntop(len == 4 ? AF_INET : AF_INET6, data, text, sizeof text)) out.push_back(std::string("IP:") + text);
    }
  }
  return out;
}

Result<std::string> Fingerprint(const std::string& pem) {
  ASSIGN_OR_RETURN(X509Ptr x, ReadCert(pem));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(x.get(), EVP_sha256(), md, &n) != 1) return SslError("hashing the certificate");
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), n));
}

bool SignedBy(const std::string& pem, const std::string& ca_pem) {
  auto x = ReadCert(pem);
  auto ca = ReadCert(ca_pem);
  if (!x.ok() || !ca.ok()) return false;
  EVP_PKEY* ca_key = X509_get0_pubkey(ca->get());
  bool ok = ca_key && X509_verify(x->get(), ca_key) == 1;
  ERR_clear_error();
  return ok;
}

Result<int> DaysLeft(const std::string& pem) {
  ASSIGN_OR_RETURN(X509Ptr x, ReadCert(pem));
  int days = 0, secs = 0;
  if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(x.get())) != 1) return SslError("notAfter");
  return days;
}

}  // namespace kecs::runtime::local
