#pragma once
// The local image store: images pulled with skopeo, each manifest digest unpacked once
// with umoci into a read-only rootfs that containers overlay.
//
// Names resolve as Docker resolves them ("nginx" is docker.io/library/nginx:latest).
// Registry mirrors, insecure (plain HTTP or unverified TLS) registries and credentials
// come from RegistryConfig.
//
// Layout under `root`:
//   layout/blobs/sha256/<hex>   every blob, shared by all images (skopeo's shared blob
//                               dir; kecs before 0.2 kept one OCI layout here, whose blobs
//                               are reused as they are)
//   refs/<key>/                 one OCI layout per image reference: index.json (tag
//                               "image"), oci-layout, and `blobs` linking to layout/blobs
//   refs/<key>.lock             the reference's lock, shared with `kecs image load`
//   bundles/<manifest hex>/     umoci's unpacked rootfs and config.json
//   auth/                       (0700) a pull's credentials, only while it runs
// <key> is ImageKey(): a hash of the whole normalised reference, so two references never
// share a layout. A reference from an older store (one shared layout, tags that could
// collide) is not looked up: it is pulled again, reusing the blobs already here.
//
// Concurrency: each reference has its own lock, held across its pull. Different images
// pull in parallel; concurrent requests for one image wait for one pull and share it; an
// image already here is served without waiting for any other image's pull. Thread-safe.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "model/oci.h"

namespace kecs::runtime::local {

struct RegistryConfig {
  std::map<std::string, std::string> mirrors;      // "docker.io" -> "127.0.0.1:5000"
  std::set<std::string> insecure;                  // registry hosts
  std::map<std::string, std::string> credentials;  // registry host -> "user:password"
  // kecs's own registry (ECR, api/ecr): for a host it serves, "user:password" minted for
  // one pull, else nullopt. Its hosts are plain HTTP (--src-tls-verify=false for them only).
  std::function<std::optional<std::string>(const std::string& host)> local_registry;
  // "once": pull a tag the store does not have yet; "always": pull every time.
  std::string pull_behavior = "once";
  // Attempts at a pull that fails for a reason that may pass (the registry unreachable,
  // a timeout), with backoff between them; a registry's "no such image" or "denied" is
  // final at once. As the ECS agent does, kecs retries pulls.
  int pull_attempts = 3;
  std::chrono::milliseconds pull_backoff = std::chrono::seconds(1);  // doubles each retry
};

struct ImageRef {
  std::string registry;    // docker.io, ghcr.io, 127.0.0.1:5000
  std::string repository;  // library/nginx
  std::string tag;         // latest (empty with a digest)
  std::string digest;      // sha256:... (optional)
  std::string Canonical() const;  // docker.io/library/nginx:latest
};

// Docker's reference grammar, simplified: [registry/]repo[:tag][@digest].
Result<ImageRef> ParseImageRef(const std::string& s);

// The store's name for a reference: hex SHA-256 of its canonical form (registry,
// repository, tag and digest), so distinct references never share one.
std::string ImageKey(const ImageRef& ref);

// How kecs reaches an image's registry for one request: the host it asks (a mirror stands
// in for the registry), whether TLS verification is off, and the credentials it gives.
struct RegistryAccess {
  std::string host;
  bool insecure = false;
  std::string secret;  // "user:password", or empty
};

// `credentials` (a task's repositoryCredentials, may be empty) are for the image's own
// registry, never for a mirror; otherwise the configured credentials for the host, then
// for the registry. kecs's own registry (ECR) is plain HTTP with a token minted for the
// request, whatever else applies.
RegistryAccess AccessFor(const RegistryConfig& config, const ImageRef& ref, const std::string& credentials);

// Runs `skopeo <options> [--<dir>tls-verify=false] [--<dir>authfile F] <operands>`, where
// `dir` is "src-" for a copy's source and "" for inspect. The secret reaches skopeo only in
// an auth file under `auth_dir` that only root can read and that lives only as long as the
// run: never on the command line, where /proc shows it to every user.
Result<ProcessResult> RunSkopeo(Env* env, const RegistryAccess& access, const std::vector<std::string>& options,
                                const std::string& dir, const std::vector<std::string>& operands,
                                const std::string& auth_dir, std::chrono::milliseconds timeout);

// What a failed skopeo run said: the last line of its standard error, without logrus's
// `time=... level=fatal msg="..."` frame, or its exit code when it said nothing.
std::string SkopeoError(const ProcessResult& r);

struct Image {
  std::string ref;          // canonical name
  std::string digest;       // manifest digest
  std::string bundle;       // directory with rootfs/ and umoci's config.json
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  model::oci::Spec config;  // umoci's runtime config (defaults for the OCI spec)
};

class ImageStore {
 public:
  // `env` must outlive the store.
  ImageStore(std::string root, RegistryConfig config, Env* env = Env::Default());

  // The image, pulled and unpacked if needed. A pull error carries the registry's own
  // words, e.g. "failed to resolve ref docker.io/library/nginx:nope: reading manifest nope
  // in docker.io/library/nginx: manifest unknown", and says how often it was retried.
  // `credentials` ("user:password", e.g. a task's repositoryCredentials) are used for
  // this pull instead of the configured ones for the registry; like those, they reach
  // skopeo only through a private auth file, never its command line.
  Result<Image> Ensure(const std::string& name, const std::string& credentials = "");
  // Loads a docker-archive or OCI archive tarball; returns the names it now holds.
  Result<std::vector<std::string>> Load(const std::string& archive,
                                        const std::optional<std::string>& name);
  const std::string& root() const { return root_; }
  // How many Ensure calls for `name` are in progress (waiting for its lock or pulling).
  int RequestsInProgress(const std::string& name);

 private:
  // One reference's lock, held across its pull, and the outcome of its last pull, which
  // requests that waited for that pull share rather than pulling again.
  struct RefSlot {
    std::mutex mu;
    std::atomic<uint64_t> pulls_done{0};  // written under mu
    std::atomic<int> in_progress{0};
    Status last_pull;                     // guarded by mu
    std::string last_credentials_hash;    // guarded by mu: SHA-256 of last_pull's credentials
  };
  RefSlot& Slot(const std::string& key);
  std::string RefDir(const std::string& key) const;
  Status PrepareRefDir(const std::string& key);
  std::optional<std::string> DigestOf(const std::string& key);
  Result<Image> Unpack(const std::string& canonical, const std::string& key);
  Status Pull(const ImageRef& ref, const std::string& canonical, const std::string& key,
              const std::string& credentials);

  // Constant after construction.
  const std::string root_;
  const RegistryConfig config_;
  Env* const env_;

  std::mutex slots_mu_;
  // Guarded by slots_mu_; entries live as long as the store (one per reference used).
  std::map<std::string, std::unique_ptr<RefSlot>> slots_;
};

}  // namespace kecs::runtime::local
