#include "runtime/local/image_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "base/ids.h"
#include "base/log.h"
#include "base/strings.h"
#include "base/subprocess.h"

namespace kecs::runtime::local {
namespace fs = std::filesystem;
namespace {

// An exclusive lock on the store, shared with other kecs processes.
class StoreLock {
 public:
  explicit StoreLock(const std::string& path) {
    fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0) flock(fd_, LOCK_EX);
  }
  ~StoreLock() {
    if (fd_ >= 0) {
      flock(fd_, LOCK_UN);
      close(fd_);
    }
  }

 private:
  int fd_ = -1;
};

std::optional<Json> ReadJson(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return ParseJson(text);
}

std::string Blob(const fs::path& layout, const std::string& digest) {
  auto colon = digest.find(':');
  return (layout / "blobs" / digest.substr(0, colon) / digest.substr(colon + 1)).string();
}

// skopeo prints `time="..." level=fatal msg="..."`; keep the message.
std::string SkopeoError(const ProcessResult& r) {
  std::string line = LastLine(r.err);
  size_t m = line.find("msg=\"");
  if (m != std::string::npos) {
    line = line.substr(m + 5);
    if (!line.empty() && line.back() == '"') line.pop_back();
  }
  return line.empty() ? fmt::format("skopeo exited with {}", r.exit_code) : line;
}

}  // namespace

std::string ImageRef::Canonical() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

Result<ImageRef> ParseImageRef(const std::string& in) {
  if (in.empty()) return InvalidArgument("empty image name");
  ImageRef r;
  std::string s = in;
  size_t at = s.find('@');
  if (at != std::string::npos) {
    r.digest = s.substr(at + 1);
    s = s.substr(0, at);
  }
  // The first component is a registry when it has a dot or a port, or is "localhost".
  size_t slash = s.find('/');
  std::string first = slash == std::string::npos ? "" : s.substr(0, slash);
  if (!first.empty() && (first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
                         first == "localhost")) {
    r.registry = first;
    s = s.substr(slash + 1);
  } else {
    r.registry = "docker.io";
  }
  size_t colon = s.rfind(':');
  if (colon != std::string::npos && s.find('/', colon) == std::string::npos) {
    r.tag = s.substr(colon + 1);
    s = s.substr(0, colon);
  }
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  if (r.registry == "docker.io" && s.find('/') == std::string::npos) s = "library/" + s;
  if (s.empty()) return InvalidArgument("invalid image name '" + in + "'");
  for (char c : s) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
          c == '/' || c == '.' || c == '_' || c == '-')) {
      return InvalidArgument("invalid reference format: repository name must be lowercase: '" + in + "'");
    }
  }
  r.repository = s;
  return r;
}

std::string LayoutTag(const std::string& canonical) {
  std::string t;
  for (char c : canonical) {
    t += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '_';
  }
  return t;
}

ImageStore::ImageStore(std::string root, RegistryConfig config)
    : root_(std::move(root)), config_(std::move(config)) {
  std::error_code ec;
  fs::create_directories(fs::path(root_) / "bundles", ec);
}

std::optional<std::string> ImageStore::DigestOfTag(const std::string& tag_name) {
  auto index = ReadJson(fs::path(root_) / "layout" / "index.json");
  if (!index) return std::nullopt;
  for (const auto& m : index->value("manifests", Json::array())) {
    const Json& ann = m.value("annotations", Json::object());
    if (JStr(ann, "org.opencontainers.image.ref.name") == tag_name) return JStr(m, "digest");
  }
  return std::nullopt;
}

Result<Image> ImageStore::Unpack(const std::string& canonical, const std::string& tag_name) {
  auto digest = DigestOfTag(tag_name);
  if (!digest) return NotFound("image " + canonical + " is not in the store");
  fs::path layout = fs::path(root_) / "layout";
  std::string hex = digest->substr(digest->find(':') + 1);
  fs::path bundle = fs::path(root_) / "bundles" / hex;
  if (!fs::exists(bundle / "rootfs")) {
    // Unpack beside and rename, so a crash never leaves a half-unpacked image in place.
    fs::path tmp = fs::path(root_) / "bundles" / (hex + ".tmp-" + RandomHex(8));
    auto r = RunProcess({"umoci", "unpack", "--image", layout.string() + ":" + tag_name, tmp.string()});
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) {
      std::error_code ec;
      fs::remove_all(tmp, ec);
      return Internal("umoci unpack " + canonical + ": " + LastLine(r->err));
    }
    std::error_code ec;
    fs::rename(tmp, bundle, ec);
    if (ec && !fs::exists(bundle / "rootfs")) return Internal("rename unpacked image: " + ec.message());
    if (ec) fs::remove_all(tmp, ec);
  }
  Image img;
  img.ref = canonical;
  img.digest = *digest;
  img.bundle = bundle.string();
  if (auto cfg = ReadJson(bundle / "config.json")) img.config = *cfg;
  // Entrypoint and Cmd apart, from the image configuration blob.
  if (auto manifest = ReadJson(Blob(layout, *digest))) {
    std::string cfg_digest = JStr(manifest->value("config", Json::object()), "digest");
    if (auto image_cfg = ReadJson(Blob(layout, cfg_digest))) {
      const Json& c = image_cfg->value("config", Json::object());
      if (const Json* e = JGet(c, "Entrypoint")) img.entrypoint = e->get<std::vector<std::string>>();
      if (const Json* e = JGet(c, "Cmd")) img.cmd = e->get<std::vector<std::string>>();
    }
  }
  return img;
}

Result<Image> ImageStore::Ensure(const std::string& name) {
  ASSIGN_OR_RETURN(ImageRef ref, ParseImageRef(name));
  std::string canonical = ref.Canonical();
  std::string tag_name = LayoutTag(canonical);
  std::lock_guard<std::mutex> lock(mu_);
  StoreLock flock_(root_ + "/lock");
  bool have = DigestOfTag(tag_name).has_value();
  if (!have || config_.pull_behavior == "always") {
    std::string host = ref.registry;
    if (auto m = config_.mirrors.find(ref.registry); m != config_.mirrors.end()) host = m->second;
    std::string src = "docker://" + host + "/" + ref.repository;
    if (!ref.tag.empty()) src += ":" + ref.tag;
    if (!ref.digest.empty()) src += "@" + ref.digest;
    std::vector<std::string> argv = {"skopeo", "--insecure-policy", "copy", "--quiet"};
    if (config_.insecure.count(host) || config_.insecure.count(ref.registry)) {
      argv.push_back("--src-tls-verify=false");
    }
    if (auto c = config_.credentials.find(host); c != config_.credentials.end()) {
      argv.push_back("--src-creds=" + c->second);
    } else if (auto c2 = config_.credentials.find(ref.registry); c2 != config_.credentials.end()) {
      argv.push_back("--src-creds=" + c2->second);
    }
    argv.push_back(src);
    argv.push_back("oci:" + root_ + "/layout:" + tag_name);
    KLOG_INFO("image: pulling {} from {}", canonical, src);
    auto r = RunProcess(argv, std::chrono::minutes(30));
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) {
      // With "always", an unreachable registry still leaves the cached copy usable.
      if (!have) return Unavailable(SkopeoError(*r));
      KLOG_WARN("image: pull of {} failed, using the cached copy: {}", canonical, SkopeoError(*r));
    }
  }
  return Unpack(canonical, tag_name);
}

Result<std::vector<std::string>> ImageStore::Load(const std::string& archive,
                                                  const std::optional<std::string>& name) {
  if (!fs::exists(archive)) return NotFound("no such file: " + archive);
  std::lock_guard<std::mutex> lock(mu_);
  StoreLock flock_(root_ + "/lock");
  // A docker-archive names its images in manifest.json's RepoTags; an OCI archive in its
  // index annotations. Try docker-archive first.
  std::vector<std::string> names;
  std::string transport = "docker-archive:";
  auto inspect = RunProcess({"skopeo", "--insecure-policy", "inspect", "--raw", "docker-archive:" + archive});
  if (!inspect.ok()) return inspect.status();
  if (inspect->exit_code != 0) transport = "oci-archive:";
  if (name) {
    names.push_back(*name);
  } else if (transport == "docker-archive:") {
    auto tar = RunProcess({"tar", "-xOf", archive, "manifest.json"});
    if (tar.ok() && tar->exit_code == 0) {
      if (auto m = ParseJson(tar->out)) {
        for (const auto& entry : *m) {
          for (const auto& t : entry.value("RepoTags", Json::array())) names.push_back(t.get<std::string>());
        }
      }
    }
  } else {
    auto tar = RunProcess({"tar", "-xOf", archive, "index.json"});
    if (tar.ok() && tar->exit_code == 0) {
      if (auto idx = ParseJson(tar->out)) {
        for (const auto& m : idx->value("manifests", Json::array())) {
          std::string n = JStr(m.value("annotations", Json::object()), "org.opencontainers.image.ref.name");
          if (!n.empty()) names.push_back(n);
        }
      }
    }
  }
  if (names.empty()) return InvalidArgument("the archive names no image; pass a name with --tag");
  std::vector<std::string> loaded;
  for (const auto& n : names) {
    ASSIGN_OR_RETURN(ImageRef ref, ParseImageRef(n));
    std::string canonical = ref.Canonical();
    std::string src = transport + archive;
    if (transport == "docker-archive:" && !name) src += ":" + n;
    auto r = RunProcess({"skopeo", "--insecure-policy", "copy", "--quiet", src,
                         "oci:" + root_ + "/layout:" + LayoutTag(canonical)});
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) return Internal("load " + archive + ": " + SkopeoError(*r));
    ASSIGN_OR_RETURN(Image img, Unpack(canonical, LayoutTag(canonical)));
    loaded.push_back(canonical + " (" + img.digest + ")");
  }
  return loaded;
}

}  // namespace kecs::runtime::local
