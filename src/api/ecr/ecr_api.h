#pragma once
// Amazon ECR (AmazonEC2ContainerRegistry_V20150921.<Op>, JSON 1.1) and the OCI distribution
// registry that serves its repository URIs, <account>.dkr.ecr.<region>.localhost:<port>/<name>,
// on kecs's own HTTP port (design 14.x "ECR and its registry").
//
// State: repositories are rows of kind "ecr:repository" (id = name; doc = the AWS
// Repository shape; internal = {"tags": [...], "lifecyclePolicy": text, "lastEvaluatedAt"}),
// images rows of kind "ecr:image" (id = "<repo>@<digest>", parent = repo, name = digest;
// doc = {imageDigest, imageTags, imageSizeInBytes, imagePushedAt, imageManifestMediaType};
// internal = {"manifest": text}), authorization tokens rows of kind "ecr:token" (id = the
// SHA-256 of the password, never the password; doc = {"expiresAt"}). Blobs are content
// addressed under <data dir>/ecr/blobs/sha256/<hex>; uploads in progress under
// <data dir>/ecr/uploads/<uuid>. The registry and the API act on the same rows, so
// DescribeImages, tag immutability and lifecycle policies see every push.
//
// Thread-safe: all state is in the store and in files written atomically.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http/server.h"
#include "api/router.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"
#include "state/store.h"

namespace kecs::api::ecr {

inline constexpr const char* kRepositoryKind = "ecr:repository";
inline constexpr const char* kImageKind = "ecr:image";
inline constexpr const char* kTokenKind = "ecr:token";
inline constexpr double kTokenLifetime = 12 * 3600;

// ---- Lifecycle policies (pure; lifecycle.cc) ----
struct LifecycleRule {
  int64_t priority = 0;
  std::string tag_status;                 // tagged | untagged | any
  std::vector<std::string> tag_prefixes;  // tagged: every prefix must match one of the tags
  std::vector<std::string> tag_patterns;  // tagged: '*' wildcards, every pattern must match
  std::string count_type;                 // imageCountMoreThan | sinceImagePushed
  int64_t count_number = 0;
};
// The rules of a policy text, sorted by priority, or InvalidArgument with ECR's
// "Lifecycle policy validation failure: ..." reason.
Result<std::vector<LifecycleRule>> ParseLifecyclePolicy(const std::string& text);

struct LifecycleImage {
  std::string digest;
  std::vector<std::string> tags;
  double pushed_at = 0;
};
// The digests the rules expire at `now`. Rules run by priority; an image selected by one
// rule is never touched by a later one.
std::vector<std::string> ExpiredImages(const std::vector<LifecycleRule>& rules,
                                       const std::vector<LifecycleImage>& images, double now);

// "<account>.dkr.ecr.<region>.localhost:<port>" -> region; nullopt for any other host.
std::optional<std::string> RegionOfRegistryHost(const std::string& host, const std::string& account);
// The SHA-256 of `bytes` as "sha256:<hex>".
std::string Sha256Digest(std::string_view bytes);

class EcrApi {
 public:
  struct Options {
    std::string data_dir;
    std::string account_id = "000000000000";
    std::string default_region = "us-east-1";
  };
  EcrApi(state::Store& store, Options options, Clock* clock = &Clock::Real());

  void RegisterAll(Service& service);
  // The port repository URIs name (kecs's API port); set once it listens.
  void SetPort(uint16_t port) { port_.store(port); }
  std::string RegistryHost(const std::string& region) const;

  // The OCI distribution API (/v2/...). Every request must carry Basic credentials
  // "AWS:<password>" from GetAuthorizationToken, else 401 with a Basic challenge.
  HttpResponse HandleRegistry(const HttpRequest& req);
  static bool IsRegistryPath(std::string_view path) { return path == "/v2" || path.starts_with("/v2/"); }
  // A blob upload's data request (POST, PATCH or PUT on /v2/<name>/blobs/uploads/...), which
  // the HTTP server lets carry up to its large_body_limit.
  static bool IsBlobUpload(std::string_view method, std::string_view target) {
    if (method != "PATCH" && method != "PUT" && method != "POST") return false;
    std::string_view path = target.substr(0, target.find('?'));
    return path.starts_with("/v2/") && path.find("/blobs/uploads/") != std::string_view::npos;
  }

  // For kecs's own pulls: "AWS:<password>" (a fresh token) when `host` is this registry
  // (any region, this account, this port), else nullopt.
  std::optional<std::string> PullCredentials(const std::string& host);

  // Applies every repository's lifecycle policy now (the periodic pass); returns how many
  // images it expired.
  int ApplyLifecyclePolicies();

  // Removes the blobs no image's manifest (config, layers, blobs) in any repository or
  // region references, except those written or named by a push (upload, mount, HEAD)
  // within `min_age_seconds`: a push uploads its blobs before its manifest names them.
  // Runs after every commit that deletes images (BatchDeleteImage, manifest DELETE,
  // DeleteRepository, lifecycle expiry) and at start, which collects what a crash between
  // commit and removal left. Returns how many it removed.
  int SweepBlobs(double min_age_seconds = kBlobGraceSeconds);
  static constexpr double kBlobGraceSeconds = 600;

 private:
  Json CreateRepository(RequestContext& ctx, const Json& in);
  Json DescribeRepositories(RequestContext& ctx, const Json& in);
  Json DeleteRepository(RequestContext& ctx, const Json& in);
  Json PutImageTagMutability(RequestContext& ctx, const Json& in);
  Json PutImageScanningConfiguration(RequestContext& ctx, const Json& in);
  Json PutLifecyclePolicy(RequestContext& ctx, const Json& in);
  Json GetLifecyclePolicy(RequestContext& ctx, const Json& in);
  Json DeleteLifecyclePolicy(RequestContext& ctx, const Json& in);
  Json TagResource(RequestContext& ctx, const Json& in);
  Json UntagResource(RequestContext& ctx, const Json& in);
  Json ListTagsForResource(RequestContext& ctx, const Json& in);
  Json DescribeImages(RequestContext& ctx, const Json& in);
  Json ListImages(RequestContext& ctx, const Json& in);
  Json BatchGetImage(RequestContext& ctx, const Json& in);
  Json BatchDeleteImage(RequestContext& ctx, const Json& in);
  Json PutImage(RequestContext& ctx, const Json& in);
  Json GetAuthorizationToken(RequestContext& ctx, const Json& in);

 public:
  // Stores a manifest in `repo` under `tag` (may be empty), shared by PutImage and the
  // registry's manifest PUT. Throws AwsError with ECR's codes (RepositoryNotFoundException,
  // ImageTagAlreadyExistsException, LayersNotFoundException, ImageDigestDoesNotMatchException,
  // InvalidParameterException, and ImageAlreadyExistsException when `api` and nothing
  // changes). Applies the repository's lifecycle policy after the push. Returns the digest.
  std::string PutManifest(const std::string& region, const std::string& repo, const std::string& manifest,
                          std::string media_type, const std::string& tag, const std::string& expected_digest,
                          bool api, double now);
  std::string BlobPath(const std::string& digest) const;
  // A new token for `region`: the password (returned once, stored only as its hash).
  std::string MintToken(const std::string& region, double now, double* expires_at);
  bool TokenValid(const std::string& region, const std::string& password, double now);

 private:
  int ApplyLifecycle(state::Tx& tx, const std::string& region, const std::string& repo, double now);

  state::Store& store_;
  const Options options_;
  Clock* const clock_;
  std::atomic<uint16_t> port_{0};
  std::mutex blob_mu_;  // a sweep against PutManifest's check-then-commit
};

}  // namespace kecs::api::ecr
