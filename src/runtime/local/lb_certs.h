#pragma once
// Certificates for the load balancers' HTTPS and TLS listeners (lb_network.h), made with
// OpenSSL's libcrypto (no `openssl` program):
//
//   <ca dir>/ca.pem, ca.key   A certificate authority per data dir (<data>/elb), made once:
//                             ECDSA P-256, self-signed, 10 years. The directory is 0700
//                             and the key 0600. `kecs elb ca` prints ca.pem so that
//                             clients can trust it.
//   <lb dir>/crt.pem          Per load balancer: its certificate (ECDSA P-256, 825 days,
//                             serverAuth, the names and addresses it is reached by as
//                             subject alternative names), the CA's certificate and the
//                             key, in one 0600 PEM file as HAProxy's `crt` wants it.
//
// Keys never leave these files: nothing here logs them or puts them in an error.
// Thread-safe.
#include <mutex>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"

namespace kecs::runtime::local {

// What a server certificate is for.
struct CertificateNames {
  std::string common_name;            // "" for none (a name longer than 64 has none)
  std::vector<std::string> dns_names;
  std::vector<std::string> ips;       // IPv4 or IPv6 literals
};

class LbCertificates {
 public:
  explicit LbCertificates(std::string ca_dir, Env* env = Env::Default())
      : ca_dir_(std::move(ca_dir)), env_(env) {}

  // The CA's certificate (PEM), made if needed.
  Result<std::string> CaPem();
  // Makes `path` a bundle with a certificate for `names`, unless the one there already
  // has exactly these names, is signed by the current CA and is valid for 30 more days.
  // Returns whether it wrote a new one.
  Result<bool> Ensure(const std::string& path, const CertificateNames& names);

 private:
  struct Ca;
  // Loads the CA, making it first when it does not exist. Caller holds mu_.
  Result<Ca> LoadCa();

  const std::string ca_dir_;
  Env* const env_;
  std::mutex mu_;
};

// ---- Inspection (tests, and Ensure's check of an existing bundle) ----

// The subject alternative names of the first certificate in `pem`, as "DNS:<name>" and
// "IP:<address>", in the certificate's order.
Result<std::vector<std::string>> CertificateSans(const std::string& pem);
// Whether the first certificate in `pem` carries a signature that `ca_pem`'s key made.
bool SignedBy(const std::string& pem, const std::string& ca_pem);
// Days from now until the first certificate in `pem` expires (negative when it has).
Result<int> DaysLeft(const std::string& pem);
// The SHA-256 fingerprint of the first certificate in `pem`, as lowercase hex.
Result<std::string> Fingerprint(const std::string& pem);

}  // namespace kecs::runtime::local
