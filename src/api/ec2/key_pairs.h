#pragma once
// EC2 key pairs' key material: generation, OpenSSH public keys and AWS's fingerprints.
// Private key material only ever lives in the returned GeneratedKey; nothing here logs.
#include <string>
#include <string_view>

#include "base/status.h"

namespace kecs::api::ec2::keys {

struct GeneratedKey {
  std::string private_pem;  // what CreateKeyPair returns once as KeyMaterial
  std::string public_openssh;  // "<type> <base64 blob>"
  std::string fingerprint;  // as CreateKeyPair reports it
};

// An RSA 2048-bit key (PKCS#1 PEM, fingerprint SHA-1 of the DER PKCS#8 private key, as
// colon-separated hex) or an ED25519 key (OpenSSH private key format, fingerprint the
// base64 SHA-256 of the public key blob). `type` is "rsa" or "ed25519".
Result<GeneratedKey> Generate(std::string_view type);

struct PublicKey {
  std::string type;        // "rsa" or "ed25519"
  std::string openssh;     // "<ssh-type> <base64 blob>", without the comment
  std::string fingerprint; // as ImportKeyPair reports it
};

// Parses an OpenSSH public key line ("ssh-rsa AAAA... comment" or "ssh-ed25519 ..."):
// InvalidArgument unless it is one whose blob is well formed. The fingerprint of an RSA
// key is the MD5 of its DER SubjectPublicKeyInfo as colon-separated hex; of an ED25519
// key the base64 SHA-256 of its blob.
Result<PublicKey> ParseOpenSshPublicKey(std::string_view line);

// The two fingerprints by themselves, for tests.
std::string ColonHex(std::string_view digest);
std::string Ed25519Fingerprint(std::string_view blob);

}  // namespace kecs::api::ec2::keys
