#pragma once
// The instance identity document's signatures (issue 17): what IMDS serves under
// /latest/dynamic/instance-identity/{signature,pkcs7,rsa2048}, and what
// RegisterContainerInstance checks an instanceIdentityDocumentSignature against.
//
// One RSA-2048 key per data dir (<data>/instance-identity.key, PKCS#8 PEM, mode 0600),
// made on first use; a self-signed certificate for it is made in memory for the PKCS#7
// forms. The key never leaves this file's objects: nothing here logs it or puts it in an
// error. Thread-safe after Open.
#include <memory>
#include <string>
#include <string_view>

#include "base/env.h"
#include "base/status.h"

namespace kecs::api::ec2 {

class IdentitySigner {
 public:
  // Reads the key at `path`, or makes it there (0600). FailedPrecondition when the file
  // is readable by others or is no RSA key.
  static Result<std::shared_ptr<IdentitySigner>> Open(Env* env, const std::string& path);
  // A signer with a fresh key kept in memory only (tests).
  static Result<std::shared_ptr<IdentitySigner>> InMemory();
  ~IdentitySigner();

  // base64 of the RSA PKCS#1 v1.5 SHA-256 signature of `document` (the `signature` leaf).
  Result<std::string> Signature(std::string_view document) const;
  // base64 of a detached-content-free PKCS#7 SignedData over `document` with SHA-256 and
  // the signer's certificate, in 64-column lines without PEM armour (the `pkcs7` and
  // `rsa2048` leaves, as IMDS serves them).
  Result<std::string> Pkcs7(std::string_view document) const;
  // Whether `signature` (either form above) signs `document` with this key.
  bool Verify(std::string_view document, std::string_view signature) const;
  // The certificate (PEM) that verifies the PKCS#7 forms.
  std::string CertificatePem() const;

  struct Keys;
 private:
  explicit IdentitySigner(std::unique_ptr<Keys> keys);
  std::unique_ptr<Keys> keys_;
};

}  // namespace kecs::api::ec2
