#pragma once
// AWS Signature Version 4: reading the credential scope, and verifying a signature.
//
// kecs routes by the credential scope (region and service) and, by default, trusts it
// without checking the signature, as local emulators do. With configured key pairs
// (--auth-keys) Verify recomputes the signature with OpenSSL and compares it in
// constant time. Stateless and thread-safe.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http/server.h"

namespace kecs::api {

struct SigV4Auth {
  std::string access_key;
  std::string date;     // yyyymmdd
  std::string region;
  std::string service;  // signing name: ecs, ec2, elasticloadbalancing, servicediscovery, logs
  std::vector<std::string> signed_headers;
  std::string signature;
};

// Parses "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ecs/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=hex". nullopt when absent or malformed.
std::optional<SigV4Auth> ParseAuthorization(std::string_view header);

enum class SigV4Result {
  kOk,
  kMissing,
  kIncomplete,
  kUnknownKey,
  kMismatch,
  kExpired,
  kPayloadHashMismatch,  // x-amz-content-sha256 is not the SHA-256 of the body
};

// Verifies the request against `secrets` (access key -> secret key). `now` is epoch
// seconds; requests more than 15 minutes off are kExpired, as AWS does.
//
// A client may send x-amz-content-sha256, and the canonical request then carries that
// header's value instead of the body's hash, so the signature alone no longer covers the
// body. A correctly signed request is therefore kPayloadHashMismatch unless the header is
// the hex SHA-256 of the body. UNSIGNED-PAYLOAD (and the STREAMING-* forms) are S3's and
// only over HTTPS; kecs serves plain HTTP and no S3, where the SDKs always sign the
// payload, so they are refused the same way.
SigV4Result VerifySigV4(const HttpRequest& req, const std::map<std::string, std::string>& secrets,
                        double now);

// Exposed for tests: the canonical request and the signature for a secret.
// HTTP Basic credentials ("Basic base64(key:secret)") that name one of `secrets`' pairs:
// how a client that cannot sign SigV4 (Prometheus, a browser) proves it holds a key. The
// secret is compared in constant time (SHA-256 digests of both, so its length leaks
// nothing either); nothing here is logged.
bool BasicCredentialsMatch(std::string_view authorization, const std::map<std::string, std::string>& secrets);

std::string CanonicalRequest(const HttpRequest& req, const std::vector<std::string>& signed_headers);
std::string ComputeSignature(const HttpRequest& req, const SigV4Auth& auth,
                             const std::string& secret, const std::string& amz_date);

}  // namespace kecs::api
