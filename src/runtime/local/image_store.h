#pragma once
// The local image store: images pulled with skopeo into one OCI layout, each manifest
// digest unpacked once with umoci into a read-only rootfs that containers overlay.
//
// Names resolve as Docker resolves them ("nginx" is docker.io/library/nginx:latest).
// Registry mirrors, insecure (plain HTTP or unverified TLS) registries and credentials
// come from RegistryConfig. Pulls and loads hold an exclusive file lock on the store, so
// the daemon and `kecs image load` can share it. Thread-safe.
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"

namespace kecs::runtime::local {

struct RegistryConfig {
  std::map<std::string, std::string> mirrors;      // "docker.io" -> "127.0.0.1:5000"
  std::set<std::string> insecure;                  // registry hosts
  std::map<std::string, std::string> credentials;  // registry host -> "user:password"
  // "once": pull a tag the store does not have yet; "always": pull every time.
  std::string pull_behavior = "once";
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

struct Image {
  std::string ref;          // canonical name
  std::string digest;       // manifest digest
  std::string bundle;       // directory with rootfs/ and umoci's config.json
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  Json config;              // umoci's runtime config (defaults for the OCI spec)
};

class ImageStore {
 public:
  ImageStore(std::string root, RegistryConfig config);

  // The image, pulled and unpacked if needed. Errors carry the registry's own words, e.g.
  // "reading manifest latest in ...: manifest unknown".
  Result<Image> Ensure(const std::string& name);
  // Loads a docker-archive or OCI archive tarball; returns the names it now holds.
  Result<std::vector<std::string>> Load(const std::string& archive,
                                        const std::optional<std::string>& name);
  const std::string& root() const { return root_; }

 private:
  Result<Image> Unpack(const std::string& canonical, const std::string& tag_name);
  std::optional<std::string> DigestOfTag(const std::string& tag_name);

  const std::string root_;
  const RegistryConfig config_;
  std::mutex mu_;
};

// The OCI layout tag kecs uses for a canonical name.
std::string LayoutTag(const std::string& canonical);

}  // namespace kecs::runtime::local
