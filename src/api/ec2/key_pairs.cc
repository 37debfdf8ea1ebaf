// EC2 key pairs: CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair.
//
// kecs generates keys with OpenSSL and returns the private key once, in CreateKeyPair's
// KeyMaterial; it is never stored, logged or put in an error. The stored key pair keeps
// its OpenSSH public key (kecs:publicKey; shown with IncludePublicKey, and read by
// RunInstances, once served). Fingerprints are computed as AWS documents them (KeyPairInfo's
// KeyFingerprint in the EC2 API reference): a created RSA key's is the SHA-1 of its DER
// PKCS#8 private key, an imported RSA key's the MD5 of its DER public key, an ED25519
// key's the base64 SHA-256 of its OpenSSH public key blob.
#include "api/ec2/key_pairs.h"

#include <memory>
#include <set>

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "api/ec2/ec2_api.h"
#include "base/clock.h"
#include "base/ids.h"
#include "base/value_cipher.h"  // Base64Encode / Base64Decode

namespace kecs::api::ec2 {
namespace keys {
namespace {

struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct BioFree { void operator()(BIO* b) const { BIO_free(b); } };
struct BnFree { void operator()(BIGNUM* b) const { BN_free(b); } };
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bio = std::unique_ptr<BIO, BioFree>;
using Bn = std::unique_ptr<BIGNUM, BnFree>;

std::string Digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), out, &n, md, nullptr) != 1) return "";
  return std::string(reinterpret_cast<char*>(out), n);
}

// SSH wire format (RFC 4251 5): uint32 length-prefixed strings and mpints.
void PutString(std::string& out, std::string_view s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
  out.append(s);
}
void PutU32(std::string& out, uint32_t n) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
}
void PutMpint(std::string& out, const BIGNUM* bn) {
  std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  if (!bytes.empty() && (static_cast<unsigned char>(bytes[0]) & 0x80)) bytes.insert(bytes.begin(), '\0');
  PutString(out, bytes);
}

struct Reader {
  std::string_view data;
  bool ok = true;
  std::string_view String() {
    if (data.size() < 4) { ok = false; return {}; }
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<unsigned char>(data[i]);
    data.remove_prefix(4);
    if (n > data.size()) { ok = false; return {}; }
    std::string_view s = data.substr(0, n);
    data.remove_prefix(n);
    return s;
  }
};

// Reserved up front, so that no reallocation leaves a copy of key bytes in freed memory.
std::string Wrap(std::string_view b64, size_t width) {
  std::string out;
  out.reserve(b64.size() + b64.size() / width + 1);
  for (size_t i = 0; i < b64.size(); i += width) {
    out.append(b64.substr(i, width));
    out.push_back('\n');
  }
  return out;
}

Result<std::string> BioText(BIO* bio) {
  char* p = nullptr;
  long n = BIO_get_mem_data(bio, &p);
  if (n <= 0) return Internal("empty key output");
  return std::string(p, static_cast<size_t>(n));
}

Result<GeneratedKey> GenerateRsa() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
  if (!key) return Internal("RSA key generation failed");
  GeneratedKey g;
  // PKCS#1 ("BEGIN RSA PRIVATE KEY"), the form AWS's KeyMaterial has for an RSA key.
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey_traditional(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Internal("RSA key encoding failed");
  }
  ASSIGN_OR_RETURN(g.private_pem, BioText(bio.get()));
  PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(key.get());
  if (!p8) return Internal("RSA key encoding failed");
  unsigned char* der = nullptr;
  int n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
  PKCS8_PRIV_KEY_INFO_free(p8);
  if (n <= 0) return Internal("RSA key encoding failed");
  std::string der_s(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_clear_free(der, static_cast<size_t>(n));
  g.fingerprint = ColonHex(Digest(EVP_sha1(), der_s));
  OPENSSL_cleanse(der_s.data(), der_s.size());
  BIGNUM* e = nullptr;
  BIGNUM* m = nullptr;
  if (EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E, &e) != 1 ||
      EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N, &m) != 1) {
    BN_free(e);
    return Internal("RSA key encoding failed");
  }
  Bn eb(e), mb(m);
  std::string blob;
  PutString(blob, "ssh-rsa");
  PutMpint(blob, eb.get());
  PutMpint(blob, mb.get());
  g.public_openssh = "ssh-rsa " + Base64Encode(blob);
  return g;
}

Result<GeneratedKey> GenerateEd25519() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return Internal("ED25519 key generation failed");
  unsigned char pub[32], seed[32];
  size_t pub_n = sizeof pub, seed_n = sizeof seed;
  if (EVP_PKEY_get_raw_public_key(key.get(), pub, &pub_n) != 1 ||
      EVP_PKEY_get_raw_private_key(key.get(), seed, &seed_n) != 1 || pub_n != 32 || seed_n != 32) {
    return Internal("ED25519 key encoding failed");
  }
  std::string_view pub_s(reinterpret_cast<char*>(pub), 32);
  std::string blob;
  PutString(blob, "ssh-ed25519");
  PutString(blob, pub_s);
  GeneratedKey g;
  g.public_openssh = "ssh-ed25519 " + Base64Encode(blob);
  g.fingerprint = Ed25519Fingerprint(blob);
  // The OpenSSH private key format (PROTOCOL.key), unencrypted, as AWS returns an ED25519
  // key's KeyMaterial.
  uint32_t check = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&check), sizeof check);
  // Every buffer that holds key bytes is reserved at its final size (no reallocation leaves
  // a copy in freed memory) and cleansed once used.
  std::string priv;
  priv.reserve(256);
  PutU32(priv, check);
  PutU32(priv, check);
  PutString(priv, "ssh-ed25519");
  PutString(priv, pub_s);
  std::string secret;
  secret.reserve(64);
  secret.append(reinterpret_cast<char*>(seed), 32);
  secret.append(pub_s);
  PutString(priv, secret);
  OPENSSL_cleanse(secret.data(), secret.size());
  OPENSSL_cleanse(seed, sizeof seed);
  PutString(priv, "");  // comment
  for (char pad = 1; priv.size() % 8 != 0; ++pad) priv.push_back(pad);
  std::string body;
  body.reserve(512);
  body.append("openssh-key-v1", 15);  // with its NUL
  PutString(body, "none");
  PutString(body, "none");
  PutString(body, "");
  PutU32(body, 1);
  PutString(body, blob);
  PutString(body, priv);
  OPENSSL_cleanse(priv.data(), priv.size());
  std::string b64 = Base64Encode(body);
  OPENSSL_cleanse(body.data(), body.size());
  std::string wrapped = Wrap(b64, 70);
  OPENSSL_cleanse(b64.data(), b64.size());
  constexpr std::string_view kBegin = "-----BEGIN OPENSSH PRIVATE KEY-----\n", kEnd = "-----END OPENSSH PRIVATE KEY-----\n";
  g.private_pem.reserve(kBegin.size() + wrapped.size() + kEnd.size());
  g.private_pem.append(kBegin).append(wrapped).append(kEnd);
  OPENSSL_cleanse(wrapped.data(), wrapped.size());
  return g;
}

}  // namespace

std::string ColonHex(std::string_view digest) {
  std::string out;
  for (unsigned char c : digest) {
    if (!out.empty()) out.push_back(':');
    out += fmt::format("{:02x}", c);
  }
  return out;
}

std::string Ed25519Fingerprint(std::string_view blob) {
  return Base64Encode(Digest(EVP_sha256(), blob));
}

Result<GeneratedKey> Generate(std::string_view type) {
  if (type == "ed25519") return GenerateEd25519();
  return GenerateRsa();
}

Result<PublicKey> ParseOpenSshPublicKey(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return InvalidArgument("no key type");
  std::string_view type = line.substr(0, sp);
  std::string_view rest = line.substr(sp + 1);
  std::string_view b64 = rest.substr(0, rest.find(' '));
  auto blob = Base64Decode(b64);
  if (!blob.ok()) return InvalidArgument("key data is no base64");
  Reader r{*blob};
  std::string_view inner_type = r.String();
  if (!r.ok || inner_type != type) return InvalidArgument("key type mismatch");
  PublicKey k;
  k.openssh = fmt::format("{} {}", type, b64);
  if (type == "ssh-ed25519") {
    std::string_view pub = r.String();
    if (!r.ok || pub.size() != 32 || !r.data.empty()) return InvalidArgument("bad ed25519 key");
    k.type = "ed25519";
    k.fingerprint = Ed25519Fingerprint(*blob);
    return k;
  }
  if (type != "ssh-rsa") return InvalidArgument("unsupported key type");
  std::string_view e = r.String(), n = r.String();
  if (!r.ok || !r.data.empty() || e.empty() || n.empty()) return InvalidArgument("bad rsa key");
  Bn eb(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr));
  Bn nb(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr));
  // AWS imports RSA keys of 1024 to 4096 bits (EC2 user guide, "Import a public key").
  // The exponent as OpenSSL bounds it: odd, at least 3, at most 64 bits, below the modulus.
  if (!eb || !nb || BN_num_bits(nb.get()) < 1024 || BN_num_bits(nb.get()) > 4096 || !BN_is_odd(eb.get()) ||
      BN_num_bits(eb.get()) < 2 || BN_num_bits(eb.get()) > 64 || BN_cmp(eb.get(), nb.get()) >= 0) {
    return InvalidArgument("bad rsa key");
  }
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  if (bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, nb.get()) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, eb.get()) == 1) {
    params = OSSL_PARAM_BLD_to_param(bld);
  }
  OSSL_PARAM_BLD_free(bld);
  EVP_PKEY* raw = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  bool built = params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
               EVP_PKEY_fromdata(ctx, &raw, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  Pkey key(raw);
  if (!built || !key) return InvalidArgument("bad rsa key");
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key.get(), &der);
  if (len <= 0) return InvalidArgument("bad rsa key");
  std::string der_s(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  k.type = "rsa";
  k.fingerprint = ColonHex(Digest(EVP_md5(), der_s));
  return k;
}

}  // namespace keys

namespace {

constexpr const char* kKeyPair = "ec2:key-pair";

const FilterSpec& KeyPairFilters() {
  static const FilterSpec kSpec = {
      {"key-name", Field("KeyName")},
      {"key-pair-id", Field("KeyPairId")},
      {"fingerprint", Field("KeyFingerprint")},
      {"key-type", Field("KeyType")},
  };
  return kSpec;
}

// AWS's words, as quoted in eksctl-io/eksctl#91 and Nanocloud/nanocloud#47.
AwsError Duplicate(const std::string& name) {
  return Ec2Error("InvalidKeyPair.Duplicate", fmt::format("The keypair '{}' already exists.", name));
}
// EC2's answer to a missing key name, "The key pair '<name>' does not exist" (no quote
// found in the issues corpus; this is the widely reported form). For a missing id kecs
// uses the same form with the id.
AwsError NotFound(const std::string& name_or_id) {
  return Ec2Error("InvalidKeyPair.NotFound", fmt::format("The key pair '{}' does not exist", name_or_id));
}
// As quoted in aws/aws-sdk-js#314 and trailofbits/algo#376.
AwsError BadFormat() {
  return Ec2Error("InvalidKey.Format", "Key is not in valid OpenSSH public key format");
}

void CheckKeyName(const std::string& name) {
  // AWS: "Constraints: Up to 255 ASCII characters" (CreateKeyPair's KeyName); kecs's wording.
  if (name.empty() || name.size() > 255) {
    throw InvalidParameterValue("Value for parameter KeyName is invalid: it must be 1 to 255 ASCII characters");
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c > 0x7e) {
      throw InvalidParameterValue("Value for parameter KeyName is invalid: it must be 1 to 255 ASCII characters");
    }
  }
}

std::optional<state::Object> ByName(state::Tx& tx, const std::string& region, const std::string& name) {
  state::Query q{kKeyPair, region};
  q.name = name;
  auto found = Check(tx.List(q));
  if (found.empty()) return std::nullopt;
  return found.front();
}

// Inserts the key pair, refusing a name already taken in the region.
Json StoreKeyPair(state::Store& store, const RequestContext& ctx, const std::string& name,
                  const std::string& type, const std::string& fingerprint,
                  const std::string& public_openssh, const Json& tags) {
  std::string id = Ec2Id("key");
  Json doc = {{"KeyPairId", id}, {"KeyName", name}, {"KeyFingerprint", fingerprint},
              {"KeyType", type}, {"Tags", tags}, {"CreateTime", EpochMillis(ctx.now)},
              // The public key as DescribeKeyPairs' IncludePublicKey shows it: the OpenSSH
              // line with the key's name as its comment.
              {"kecs:publicKey", public_openssh + " " + name}};
  Check(store.Write([&](state::Tx& tx) {
    if (ByName(tx, ctx.region, name)) throw Duplicate(name);
    Check(tx.Insert({kKeyPair, ctx.region, id, "", name, "", 0, doc}));
    return Status::Ok();
  }));
  return doc;
}

class KeyPairOps {
 public:
  explicit KeyPairOps(state::Store& store) : store_(store) {}

  Json CreateKeyPair(RequestContext& ctx, const Json& in) {
    std::string name = JStr(in, "KeyName");
    CheckKeyName(name);
    std::string type = JStr(in, "KeyType", "rsa");
    if (JStr(in, "KeyFormat", "pem") == "ppk") {
      // kecs's wording: it does not write PuTTY's format (README, Limits).
      throw InvalidParameterValue("kecs does not create keys in the ppk format; use KeyFormat pem");
    }
    Json tags = TagsFor(in, "key-pair");
    Check(store_.Read([&](state::Tx& tx) {
      if (ByName(tx, ctx.region, name)) throw Duplicate(name);
      return Status::Ok();
    }));
    auto key = Check(keys::Generate(type));
    Json doc = StoreKeyPair(store_, ctx, name, type, key.fingerprint, key.public_openssh, tags);
    // The answer holds a copy (its buffers, and the encoded response's, are freed without
    // being wiped); kecs's own copy is cleansed here.
    Json out = {{"KeyFingerprint", doc["KeyFingerprint"]}, {"KeyMaterial", key.private_pem},
                {"KeyName", name}, {"KeyPairId", doc["KeyPairId"]}, {"Tags", tags}};
    OPENSSL_cleanse(key.private_pem.data(), key.private_pem.size());
    return out;
  }

  Json ImportKeyPair(RequestContext& ctx, const Json& in) {
    std::string name = JStr(in, "KeyName");
    CheckKeyName(name);
    Json tags = TagsFor(in, "key-pair");
    // A Blob member: the client sent the key's bytes in base64. An OpenSSH line of a 4096-bit
    // RSA key is under 1 KiB; anything over 16 KiB is no key AWS imports (and is not stored).
    const std::string material = JStr(in, "PublicKeyMaterial");
    if (material.size() > 16 * 1024) throw BadFormat();
    auto text = Base64Decode(material);
    if (!text.ok()) throw BadFormat();
    auto key = keys::ParseOpenSshPublicKey(*text);
    if (!key.ok()) throw BadFormat();
    Json doc = StoreKeyPair(store_, ctx, name, key->type, key->fingerprint, key->openssh, tags);
    return {{"KeyFingerprint", doc["KeyFingerprint"]}, {"KeyName", name},
            {"KeyPairId", doc["KeyPairId"]}, {"Tags", tags}};
  }

  Json DescribeKeyPairs(RequestContext& ctx, const Json& in) {
    const Json filters = in.value("Filters", Json::array());
    CheckFilters(filters, KeyPairFilters());
    bool include_public = JBool(in, "IncludePublicKey");
    std::vector<Json> views;
    Check(store_.Read([&](state::Tx& tx) {
      std::vector<state::Object> objects;
      const Json names = in.value("KeyNames", Json::array());
      const Json ids = in.value("KeyPairIds", Json::array());
      if (names.empty() && ids.empty()) {
        objects = Check(tx.List({kKeyPair, ctx.region}));
      }
      for (const auto& n : names) {
        auto o = ByName(tx, ctx.region, n.get<std::string>());
        if (!o) throw NotFound(n.get<std::string>());
        objects.push_back(*o);
      }
      for (const auto& i : ids) {
        std::string id = i.get<std::string>();
        auto o = IsWellFormedId(id, "key") ? Check(tx.Get(kKeyPair, ctx.region, id)) : std::nullopt;
        if (!o) throw NotFound(id);
        objects.push_back(*o);
      }
      std::set<std::string> seen;
      for (const auto& o : objects) {
        if (!seen.insert(o.id).second) continue;
        Json view = WithoutInternalMembers(o.doc);
        if (include_public) view["PublicKey"] = JStr(o.doc, "kecs:publicKey");
        if (MatchFilters(filters, view, KeyPairFilters())) views.push_back(std::move(view));
      }
      return Status::Ok();
    }));
    return {{"KeyPairs", std::move(views)}};
  }

  Json DeleteKeyPair(RequestContext& ctx, const Json& in) {
    auto name = JOptStr(in, "KeyName");
    auto id = JOptStr(in, "KeyPairId");
    if (!name && !id) {
      // kecs's wording; AWS requires one of the two.
      throw Ec2Error("MissingParameter", "The request must contain the parameter KeyName or KeyPairId");
    }
    Json out = {{"Return", true}};
    Check(store_.Write([&](state::Tx& tx) {
      std::optional<state::Object> o;
      if (id) {
        if (IsWellFormedId(*id, "key")) o = Check(tx.Get(kKeyPair, ctx.region, *id));
      } else {
        o = ByName(tx, ctx.region, *name);
      }
      // Deleting a key pair that does not exist succeeds, as on AWS (EC2 API reference,
      // DeleteKeyPair: the call returns true whether or not the key existed).
      if (!o) return Status::Ok();
      Check(tx.Delete(kKeyPair, ctx.region, o->id));
      out["KeyPairId"] = o->id;
      return Status::Ok();
    }));
    return out;
  }

 private:
  state::Store& store_;
};

}  // namespace

void RegisterKeyPairOps(Service& s, state::Store& store, net::RegionBootstrap&) {
  auto ops = std::make_shared<KeyPairOps>(store);
#define KECS_OP(name) \
  s.Register(#name, [ops](RequestContext& ctx, const Json& in) { CheckDryRun(in); return ops->name(ctx, in); })
  KECS_OP(CreateKeyPair);
  KECS_OP(ImportKeyPair);
  KECS_OP(DescribeKeyPairs);
  KECS_OP(DeleteKeyPair);
#undef KECS_OP
}

}  // namespace kecs::api::ec2
