#include "runtime/local/image_store.h"

#include <fmt/format.h>

#include "base/ids.h"
#include "base/log.h"
#include "base/strings.h"

namespace kecs::runtime::local {
namespace oci = model::oci;

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

namespace {

// The tag each reference's own layout holds its image under.
constexpr const char* kTag = "image";

// Whether a failed pull may succeed when tried again: not when the registry answered that
// the image does not exist or that we may not have it.
bool Retryable(const std::string& error) {
  for (const char* final_error : {"manifest unknown", "name unknown", "not found", "unauthorized",
                                  "denied", "authentication required", "invalid reference"}) {
    if (error.find(final_error) != std::string::npos) return false;
  }
  return true;
}

// "sha256:<hex>", with nothing that could leave the blobs directory.
bool ValidDigest(const std::string& d) {
  size_t colon = d.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == d.size()) return false;
  return std::all_of(d.begin(), d.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'z') || c == ':';
  });
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


std::string ImageKey(const ImageRef& ref) { return Sha256Hex(ref.Canonical()); }

ImageStore::ImageStore(std::string root, RegistryConfig config, Env* env)
    : root_(std::move(root)), config_(std::move(config)), env_(env) {
  // Failures show again, with their reason, at the first pull.
  (void)env_->CreateDirs(root_ + "/bundles");
  (void)env_->CreateDirs(root_ + "/refs");
  (void)env_->CreateDirs(root_ + "/layout/blobs");
  // Auth files live only as long as a copy; one left behind by a daemon that died during a
  // copy still holds plaintext credentials.
  (void)env_->RemoveAll(root_ + "/auth");
}

ImageStore::RefSlot& ImageStore::Slot(const std::string& key) {
  std::lock_guard<std::mutex> lock(slots_mu_);
  auto& slot = slots_[key];
  if (!slot) slot = std::make_unique<RefSlot>();
  return *slot;
}

std::string ImageStore::RefDir(const std::string& key) const { return root_ + "/refs/" + key; }

Status ImageStore::PrepareRefDir(const std::string& key) {
  RETURN_IF_ERROR(env_->CreateDirs(root_ + "/layout/blobs"));
  RETURN_IF_ERROR(env_->CreateDirs(RefDir(key)));
  // umoci reads blobs from the layout itself; skopeo writes them to the shared directory.
  return env_->Symlink("../../layout/blobs", RefDir(key) + "/blobs");
}

std::optional<std::string> ImageStore::DigestOf(const std::string& key) {
  auto text = env_->ReadFile(RefDir(key) + "/index.json");
  if (!text.ok()) return std::nullopt;
  auto index = oci::DecodeImageIndex(*text);
  if (!index.ok()) {
    KLOG_WARN("image store: {}/index.json: {}", RefDir(key), index.status().message());
    return std::nullopt;
  }
  for (const auto& m : index->manifests) {
    if (m.ref_name == kTag && ValidDigest(m.digest)) return m.digest;
  }
  return std::nullopt;
}

Result<Image> ImageStore::Unpack(const std::string& canonical, const std::string& key) {
  auto digest = DigestOf(key);
  if (!digest) return NotFound("image " + canonical + " is not in the store");
  auto blob = [&](const std::string& d) {
    size_t colon = d.find(':');
    return root_ + "/layout/blobs/" + d.substr(0, colon) + "/" + d.substr(colon + 1);
  };
  std::string hex = digest->substr(digest->find(':') + 1);
  std::string bundle = root_ + "/bundles/" + hex;
  if (!env_->Exists(bundle + "/rootfs")) {
    // Unpack beside and rename, so a crash never leaves a half-unpacked image in place.
    std::string tmp = bundle + ".tmp-" + RandomHex(8);
    auto r = env_->Run({"umoci", "unpack", "--image", RefDir(key) + ":" + kTag, tmp});
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) {
      (void)env_->RemoveAll(tmp);
      return Internal("umoci unpack " + canonical + ": " + LastLine(r->err));
    }
    Status moved = env_->Rename(tmp, bundle);
    if (!moved.ok()) {
      (void)env_->RemoveAll(tmp);
      // Another reference to the same manifest unpacked it first.
      if (!env_->Exists(bundle + "/rootfs")) return Internal("unpacked image " + canonical + ": " + moved.message());
    }
  }
  Image img;
  img.ref = canonical;
  img.digest = *digest;
  img.bundle = bundle;
  auto context = [&](const Status& st) { return Internal("image " + canonical + ": " + st.message()); };
  auto runtime_config = env_->ReadFile(bundle + "/config.json");
  if (!runtime_config.ok()) return context(runtime_config.status());
  auto spec = oci::DecodeSpec(*runtime_config);
  if (!spec.ok()) return context(spec.status());
  img.config = std::move(*spec);
  // Entrypoint and Cmd apart, from the image configuration blob.
  auto manifest_text = env_->ReadFile(blob(*digest));
  if (!manifest_text.ok()) return context(manifest_text.status());
  auto manifest = oci::DecodeImageManifest(*manifest_text);
  if (!manifest.ok()) return context(manifest.status());
  if (!ValidDigest(manifest->config.digest)) return context(InvalidArgument("the manifest names no configuration"));
  auto config_text = env_->ReadFile(blob(manifest->config.digest));
  if (!config_text.ok()) return context(config_text.status());
  auto config = oci::DecodeImageConfig(*config_text);
  if (!config.ok()) return context(config.status());
  img.entrypoint = config->entrypoint;
  img.cmd = config->cmd;
  return img;
}

RegistryAccess AccessFor(const RegistryConfig& config, const ImageRef& ref, const std::string& credentials) {
  RegistryAccess a;
  a.host = ref.registry;
  if (auto m = config.mirrors.find(ref.registry); m != config.mirrors.end()) a.host = m->second;
  a.insecure = config.insecure.count(a.host) || config.insecure.count(ref.registry);
  if (a.host == ref.registry) a.secret = credentials;
  if (a.secret.empty()) {
    auto creds = config.credentials.find(a.host);
    if (creds == config.credentials.end()) creds = config.credentials.find(ref.registry);
    if (creds != config.credentials.end()) a.secret = creds->second;
  }
  // kecs's own registry: a token minted for this request (12 h), which stands in for the
  // task's repositoryCredentials (those name other registries).
  if (config.local_registry) {
    if (auto minted = config.local_registry(a.host)) {
      a.insecure = true;
      a.secret = *minted;
    }
  }
  return a;
}

Result<ProcessResult> RunSkopeo(Env* env, const RegistryAccess& access, const std::vector<std::string>& options,
                                const std::string& dir, const std::vector<std::string>& operands,
                                const std::string& auth_dir, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {"skopeo"};
  argv.insert(argv.end(), options.begin(), options.end());
  if (access.insecure) argv.push_back("--" + dir + "tls-verify=false");
  std::string authfile;
  if (!access.secret.empty()) {
    RETURN_IF_ERROR(env->CreateDirs(auth_dir, 0700));
    authfile = auth_dir + "/" + RandomHex(16) + ".json";
    Status written = env->WriteFileAtomic(authfile, oci::EncodeRegistryAuthFile({{access.host, access.secret}}), 0600);
    if (!written.ok()) return Status(written.code(), "cannot write the registry auth file: " + written.message());
    argv.push_back("--" + dir + "authfile");
    argv.push_back(authfile);
  }
  argv.insert(argv.end(), operands.begin(), operands.end());
  auto r = env->Run(argv, timeout);
  if (!authfile.empty()) {
    if (Status rm = env->RemoveFile(authfile); !rm.ok()) KLOG_WARN("skopeo: {}", rm.message());
  }
  return r;
}

Status ImageStore::Pull(const ImageRef& ref, const std::string& canonical, const std::string& key,
                        const std::string& credentials) {
  RETURN_IF_ERROR(PrepareRefDir(key));
  RegistryAccess access = AccessFor(config_, ref, credentials);
  std::string src = "docker://" + access.host + "/" + ref.repository;
  if (!ref.tag.empty()) src += ":" + ref.tag;
  if (!ref.digest.empty()) src += "@" + ref.digest;
  int attempts = std::max(1, config_.pull_attempts);
  auto backoff = config_.pull_backoff;
  std::string error;
  int tried = 0;
  for (tried = 1; tried <= attempts; ++tried) {
    KLOG_INFO("image: pulling {} from {}{}", canonical, src, tried > 1 ? fmt::format(" (attempt {})", tried) : "");
    ASSIGN_OR_RETURN(ProcessResult r,
                     RunSkopeo(env_, access, {"--insecure-policy", "copy", "--quiet", "--dest-shared-blob-dir", root_ + "/layout/blobs"},
                               "src-", {src, "oci:" + RefDir(key) + ":" + kTag}, root_ + "/auth", std::chrono::minutes(30)));
    if (r.exit_code == 0) return Status::Ok();
    error = SkopeoError(r);
    if (!Retryable(error) || tried == attempts) break;
    KLOG_WARN("image: pull of {} failed, retrying in {} ms: {}", canonical, backoff.count(), error);
    env_->SleepFor(backoff);
    backoff *= 2;
  }
  std::string message = fmt::format("failed to resolve ref {}: {}", canonical, error);
  if (tried > 1) message = fmt::format("pull image manifest has been retried {} time(s): {}", tried - 1, message);
  return Unavailable(message);
}

Result<Image> ImageStore::Ensure(const std::string& name, const std::string& credentials) {
  ASSIGN_OR_RETURN(ImageRef ref, ParseImageRef(name));
  std::string canonical = ref.Canonical();
  std::string key = ImageKey(ref);
  RefSlot& slot = Slot(key);
  std::string credentials_hash = Sha256Hex(credentials);
  // Read before this request counts as in progress: a pull that finishes after that
  // moment serves this request.
  uint64_t seen = slot.pulls_done.load();
  slot.in_progress.fetch_add(1);
  struct Done {
    RefSlot& s;
    ~Done() { s.in_progress.fetch_sub(1); }
  } done{slot};
  std::unique_lock<std::mutex> lock(slot.mu);
  ASSIGN_OR_RETURN(auto file_lock, env_->LockFile(RefDir(key) + ".lock"));
  bool have = DigestOf(key).has_value();
  // A pull of this reference that finished while this request waited serves it too.
  // Only a pull made with the same credentials: one without them (or with others) failing
  // says nothing about this request's.
  bool shared = slot.pulls_done.load() != seen && slot.last_credentials_hash == credentials_hash;
  if (shared && !have) return slot.last_pull;
  if (!have || (config_.pull_behavior == "always" && !shared)) {
    Status pulled = Pull(ref, canonical, key, credentials);
    slot.last_pull = pulled;
    slot.last_credentials_hash = credentials_hash;
    slot.pulls_done.fetch_add(1);
    if (!pulled.ok()) {
      // With "always", an unreachable registry still leaves the cached copy usable.
      if (!have) return pulled;
      KLOG_WARN("image: pull of {} failed, using the cached copy: {}", canonical, pulled.message());
    }
  }
  return Unpack(canonical, key);
}

int ImageStore::RequestsInProgress(const std::string& name) {
  auto ref = ParseImageRef(name);
  return ref.ok() ? Slot(ImageKey(*ref)).in_progress.load() : 0;
}

Result<std::vector<std::string>> ImageStore::Load(const std::string& archive,
                                                  const std::optional<std::string>& name) {
  if (!env_->Exists(archive)) return NotFound("no such file: " + archive);
  // A docker-archive names its images in manifest.json's RepoTags; an OCI archive in its
  // index annotations. Try docker-archive first.
  std::vector<std::string> names;
  std::string transport = "docker-archive:";
  auto inspect = env_->Run({"skopeo", "--insecure-policy", "inspect", "--raw", "docker-archive:" + archive});
  if (!inspect.ok()) return inspect.status();
  if (inspect->exit_code != 0) transport = "oci-archive:";
  if (name) {
    names.push_back(*name);
  } else if (transport == "docker-archive:") {
    auto tar = env_->Run({"tar", "-xOf", archive, "manifest.json"});
    if (tar.ok() && tar->exit_code == 0) {
      if (auto tags = oci::DecodeDockerArchiveRepoTags(tar->out); tags.ok()) names = *tags;
    }
  } else {
    auto tar = env_->Run({"tar", "-xOf", archive, "index.json"});
    if (tar.ok() && tar->exit_code == 0) {
      if (auto idx = oci::DecodeImageIndex(tar->out); idx.ok()) {
        for (const auto& m : idx->manifests) {
          if (!m.ref_name.empty()) names.push_back(m.ref_name);
        }
      }
    }
  }
  if (names.empty()) return InvalidArgument("the archive names no image; pass a name with --tag");
  std::vector<std::string> loaded;
  for (const auto& n : names) {
    ASSIGN_OR_RETURN(ImageRef ref, ParseImageRef(n));
    std::string canonical = ref.Canonical();
    std::string key = ImageKey(ref);
    RefSlot& slot = Slot(key);
    std::lock_guard<std::mutex> lock(slot.mu);
    ASSIGN_OR_RETURN(auto file_lock, env_->LockFile(RefDir(key) + ".lock"));
    RETURN_IF_ERROR(PrepareRefDir(key));
    std::string src = transport + archive;
    if (transport == "docker-archive:" && !name) src += ":" + n;
    auto r = env_->Run({"skopeo", "--insecure-policy", "copy", "--quiet", "--dest-shared-blob-dir",
                        root_ + "/layout/blobs", src, "oci:" + RefDir(key) + ":" + kTag});
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) return Internal("load " + archive + ": " + SkopeoError(*r));
    ASSIGN_OR_RETURN(Image img, Unpack(canonical, key));
    loaded.push_back(canonical + " (" + img.digest + ")");
  }
  return loaded;
}

}  // namespace kecs::runtime::local
