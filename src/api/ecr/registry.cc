// The OCI distribution API (distribution-spec v1.1, the subset clients push and pull with)
// behind ECR's repository URIs. Blobs are content addressed under <data dir>/ecr/blobs;
// manifests and tags live in the store's image rows (ecr_api.cc's PutManifest), so the
// ECR API sees every push.
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>

#include <fmt/format.h>

#include "api/ecr/ecr_api.h"
#include "base/value_cipher.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/strings.h"

namespace kecs::api::ecr {
namespace {

namespace fs = std::filesystem;

HttpResponse Reply(int status, std::vector<std::pair<std::string, std::string>> headers = {}, std::string body = "") {
  HttpResponse r;
  r.status = status;
  r.headers = std::move(headers);
  r.headers.emplace_back("Docker-Distribution-API-Version", "registry/2.0");
  r.body = std::move(body);
  return r;
}

HttpResponse Error(int status, const std::string& code, const std::string& message) {
  Json body = {{"errors", Json::array({{{"code", code}, {"message", message}, {"detail", nullptr}}})}};
  return Reply(status, {{"Content-Type", "application/json"}}, body.dump());
}

std::string Query(const HttpRequest& req, const std::string& key) {
  for (const auto& part : Split(req.QueryString(), '&')) {
    auto eq = part.find('=');
    std::string k = part.substr(0, eq);
    if (k != key) continue;
    std::string v;
    if (eq == std::string::npos || !UrlDecode(part.substr(eq + 1), &v, false)) return "";
    return v;
  }
  return "";
}

bool Sha256Ref(const std::string& d) {
  if (!d.starts_with("sha256:") || d.size() != 7 + 64) return false;
  for (size_t i = 7; i < d.size(); ++i) {
    if (!std::isxdigit(static_cast<unsigned char>(d[i])) || std::isupper(static_cast<unsigned char>(d[i]))) return false;
  }
  return true;
}

bool ValidTag(const std::string& t) {
  if (t.empty() || t.size() > 128) return false;
  if (!(std::isalnum(static_cast<unsigned char>(t[0])) || t[0] == '_')) return false;
  for (char c : t) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
  }
  return true;
}

bool ValidUuid(const std::string& u) {
  return u.size() == 32 && std::all_of(u.begin(), u.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

// The SHA-256 of a file, as "sha256:<hex>"; "" when it cannot be read.
std::string FileDigest(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "";
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 16);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (f.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(f.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return "sha256:" + HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

bool Append(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::app);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  return static_cast<bool>(f);
}

bool ReadAll(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return true;
}

int RegistryStatus(const std::string& code) {
  if (code == "RepositoryNotFoundException") return 404;
  if (code == "ServerException") return 500;
  return 400;
}

std::string RegistryCode(const std::string& code) {
  if (code == "RepositoryNotFoundException") return "NAME_UNKNOWN";
  if (code == "ImageTagAlreadyExistsException") return "TAG_INVALID";
  if (code == "LayersNotFoundException") return "MANIFEST_BLOB_UNKNOWN";
  if (code == "ReferencedImagesNotFoundException") return "MANIFEST_UNKNOWN";
  if (code == "ImageDigestDoesNotMatchException") return "DIGEST_INVALID";
  return "MANIFEST_INVALID";
}

}  // namespace

HttpResponse EcrApi::HandleRegistry(const HttpRequest& req) {
  std::string host(req.Header("host"));
  std::string region = RegionOfRegistryHost(host, options_.account_id).value_or(options_.default_region);
  double now = clock_->Now();
  const std::string& account = options_.account_id;

  // Authentication: Basic "AWS:<password>" from GetAuthorizationToken.
  std::string auth(req.Header("authorization"));
  bool authed = false;
  if (auth.size() > 6 && ToLower(auth.substr(0, 6)) == "basic ") {
    auto decoded = Base64Decode(Trim(auth.substr(6)));
    if (decoded.ok() && decoded->starts_with("AWS:")) authed = TokenValid(region, decoded->substr(4), now);
  }
  if (!authed) {
    HttpResponse r = Error(401, "UNAUTHORIZED", "authentication required");
    r.headers.emplace_back("WWW-Authenticate", fmt::format("Basic realm=\"http://{}/\",service=\"ecr.amazonaws.com\"", host));
    return r;
  }

  std::string path(req.Path());
  if (path == "/v2" || path == "/v2/") return Reply(200, {{"Content-Type", "application/json"}}, "{}");
  std::string rest = path.substr(4);  // after "/v2/"
  const std::string& m = req.method;

  auto repo_exists = [&](const std::string& name) {
    bool found = false;
    Status st = store_.Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto row, tx.Get(kRepositoryKind, region, name));
      found = row.has_value();
      return Status::Ok();
    });
    return st.ok() && found;
  };
  auto name_unknown = [&](const std::string& name) {
    return Error(404, "NAME_UNKNOWN",
                 fmt::format("The repository with name '{}' does not exist in the registry with id '{}'", name, account));
  };

  // /v2/<name>/tags/list
  if (rest.ends_with("/tags/list")) {
    std::string name = rest.substr(0, rest.size() - 10);
    if (m != "GET") return Error(405, "UNSUPPORTED", "method not allowed");
    Json tags = Json::array();
    bool found = false;
    Status st = store_.Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto row, tx.Get(kRepositoryKind, region, name));
      if (!row) return Status::Ok();
      found = true;
      state::Query q;
      q.kind = kImageKind;
      q.region = region;
      q.parent = name;
      ASSIGN_OR_RETURN(auto images, tx.List(q));
      std::vector<std::string> all;
      for (const auto& i : images) {
        for (const auto& t : i.doc.value("imageTags", Json::array())) all.push_back(t.get<std::string>());
      }
      std::sort(all.begin(), all.end());
      tags = all;
      return Status::Ok();
    });
    if (!st.ok()) return Error(500, "UNKNOWN", "internal error");
    if (!found) return name_unknown(name);
    return Reply(200, {{"Content-Type", "application/json"}}, Json{{"name", name}, {"tags", tags}}.dump());
  }

  // /v2/<name>/blobs/uploads/[<uuid>]
  if (auto pos = rest.find("/blobs/uploads"); pos != std::string::npos) {
    std::string name = rest.substr(0, pos);
    std::string uuid = rest.substr(pos + 14);
    if (uuid.starts_with("/")) uuid = uuid.substr(1);
    if (!repo_exists(name)) return name_unknown(name);
    std::string dir = options_.data_dir + "/ecr/uploads";
    std::error_code ec;
    fs::create_directories(dir, ec);
    auto location = [&](const std::string& u) { return fmt::format("/v2/{}/blobs/uploads/{}", name, u); };
    auto finish = [&](const std::string& file, const std::string& digest) -> HttpResponse {
      if (!Sha256Ref(digest)) {
        fs::remove(file, ec);
        return Error(400, "DIGEST_INVALID", "provided digest is not a sha256 digest");
      }
      std::string actual = FileDigest(file);
      if (actual != digest) {
        fs::remove(file, ec);
        return Error(400, "DIGEST_INVALID", "provided digest did not match uploaded content");
      }
      std::string blob = BlobPath(digest);
      fs::create_directories(fs::path(blob).parent_path(), ec);
      fs::rename(file, blob, ec);
      if (ec) return Error(500, "UNKNOWN", "cannot store the blob");
      return Reply(201, {{"Location", fmt::format("/v2/{}/blobs/{}", name, digest)},
                         {"Docker-Content-Digest", digest},
                         {"Content-Length", "0"}});
    };
    if (m == "POST" && uuid.empty()) {
      std::string mount = Query(req, "mount");
      if (!mount.empty() && Sha256Ref(mount) && fs::exists(BlobPath(mount))) {
        fs::last_write_time(BlobPath(mount), fs::file_time_type::clock::now(), ec);  // see SweepBlobs
        return Reply(201, {{"Location", fmt::format("/v2/{}/blobs/{}", name, mount)}, {"Docker-Content-Digest", mount}});
      }
      std::string u = RandomHex(32);
      std::string file = dir + "/" + u;
      { std::ofstream f(file, std::ios::binary); }
      std::string digest = Query(req, "digest");
      if (!digest.empty()) {
        if (!Append(file, req.body)) return Error(500, "UNKNOWN", "cannot write the upload");
        return finish(file, digest);
      }
      return Reply(202, {{"Location", location(u)}, {"Range", "0-0"}, {"Docker-Upload-UUID", u}});
    }
    if (!ValidUuid(uuid)) return Error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry");
    std::string file = dir + "/" + uuid;
    if (!fs::exists(file)) return Error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry");
    if (m == "PATCH" || m == "PUT") {
      if (!req.body.empty() && !Append(file, req.body)) return Error(500, "UNKNOWN", "cannot write the upload");
      if (m == "PUT") return finish(file, Query(req, "digest"));
      auto size = fs::file_size(file, ec);
      return Reply(202, {{"Location", location(uuid)},
                         {"Range", fmt::format("0-{}", size == 0 ? 0 : size - 1)},
                         {"Docker-Upload-UUID", uuid}});
    }
    if (m == "GET") {
      auto size = fs::file_size(file, ec);
      return Reply(204, {{"Location", location(uuid)},
                         {"Range", fmt::format("0-{}", size == 0 ? 0 : size - 1)},
                         {"Docker-Upload-UUID", uuid}});
    }
    if (m == "DELETE") {
      fs::remove(file, ec);
      return Reply(204);
    }
    return Error(405, "UNSUPPORTED", "method not allowed");
  }

  // /v2/<name>/blobs/<digest>
  if (auto pos = rest.rfind("/blobs/"); pos != std::string::npos) {
    std::string name = rest.substr(0, pos);
    std::string digest = rest.substr(pos + 7);
    if (!repo_exists(name)) return name_unknown(name);
    if (!Sha256Ref(digest)) return Error(400, "DIGEST_INVALID", "invalid digest");
    std::string blob = BlobPath(digest);
    std::error_code ec;
    if (m == "HEAD" || m == "GET") {
      if (!fs::exists(blob)) return Error(404, "BLOB_UNKNOWN", "blob unknown to registry");
      auto size = fs::file_size(blob, ec);
      std::vector<std::pair<std::string, std::string>> h = {
          {"Content-Type", "application/octet-stream"}, {"Docker-Content-Digest", digest}, {"ETag", "\"" + digest + "\""}};
      if (m == "HEAD") {
        // A client that finds the blob skips its upload: keep it from the sweep a while.
        fs::last_write_time(blob, fs::file_time_type::clock::now(), ec);
        h.emplace_back("Content-Length", std::to_string(size));
        return Reply(200, h);
      }
      std::string body;
      if (!ReadAll(blob, &body)) return Error(500, "UNKNOWN", "cannot read the blob");
      return Reply(200, h, std::move(body));
    }
    if (m == "DELETE") return Error(405, "UNSUPPORTED", "blobs are deleted with their images");
    return Error(405, "UNSUPPORTED", "method not allowed");
  }

  // /v2/<name>/manifests/<reference>
  if (auto pos = rest.rfind("/manifests/"); pos != std::string::npos) {
    std::string name = rest.substr(0, pos);
    std::string ref = rest.substr(pos + 11);
    bool by_digest = ref.starts_with("sha256:");
    if (by_digest ? !Sha256Ref(ref) : !ValidTag(ref)) {
      return Error(400, by_digest ? "DIGEST_INVALID" : "TAG_INVALID", "invalid manifest reference");
    }
    if (m == "PUT") {
      try {
        std::string digest = PutManifest(region, name, req.body, std::string(req.Header("content-type")),
                                         by_digest ? "" : ref, by_digest ? ref : "", /*api=*/false, now);
        KLOG_INFO("ecr: pushed {}:{} ({})", name, ref, digest);
        return Reply(201, {{"Location", fmt::format("/v2/{}/manifests/{}", name, digest)},
                           {"Docker-Content-Digest", digest},
                           {"Content-Length", "0"}});
      } catch (const AwsError& e) {
        return Error(RegistryStatus(e.code()), RegistryCode(e.code()), e.message());
      } catch (const StatusError& e) {
        KLOG_WARN("ecr: manifest push failed: {}", e.status().message());
        return Error(500, "UNKNOWN", "internal error");
      }
    }
    std::optional<state::Object> image;
    bool found_repo = false;
    Status st = store_.Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(auto row, tx.Get(kRepositoryKind, region, name));
      if (!row) return Status::Ok();
      found_repo = true;
      state::Query q;
      q.kind = kImageKind;
      q.region = region;
      q.parent = name;
      ASSIGN_OR_RETURN(auto images, tx.List(q));
      for (auto& i : images) {
        bool hit = by_digest ? i.name == ref : false;
        if (!by_digest) {
          for (const auto& t : i.doc.value("imageTags", Json::array())) hit = hit || t.get<std::string>() == ref;
        }
        if (hit) image = std::move(i);
      }
      return Status::Ok();
    });
    if (!st.ok()) return Error(500, "UNKNOWN", "internal error");
    if (!found_repo) return name_unknown(name);
    if (!image) {
      return Error(404, "MANIFEST_UNKNOWN",
                   fmt::format("Requested image not found: {}:{} in the repository with name '{}'", name, ref, name));
    }
    std::string manifest = image->internal.value("manifest", "");
    std::vector<std::pair<std::string, std::string>> h = {
        {"Content-Type", image->doc.value("imageManifestMediaType", "application/vnd.oci.image.manifest.v1+json")},
        {"Docker-Content-Digest", image->name},
        {"ETag", "\"" + image->name + "\""}};
    if (m == "HEAD") {
      h.emplace_back("Content-Length", std::to_string(manifest.size()));
      return Reply(200, h);
    }
    if (m == "GET") return Reply(200, h, manifest);
    if (m == "DELETE") {
      Status del = store_.Write([&](state::Tx& tx) {
        if (by_digest) return tx.Delete(kImageKind, region, image->id).status();
        // By tag: the tag goes; the image goes with its last tag.
        state::Object img = *image;
        Json kept = Json::array();
        for (const auto& t : img.doc.value("imageTags", Json::array())) {
          if (t.get<std::string>() != ref) kept.push_back(t);
        }
        if (kept.empty()) return tx.Delete(kImageKind, region, img.id).status();
        img.doc["imageTags"] = kept;
        return tx.Put(img);
      });
      if (!del.ok()) return Error(500, "UNKNOWN", "internal error");
      SweepBlobs();
      return Reply(202);
    }
    return Error(405, "UNSUPPORTED", "method not allowed");
  }
  return Error(404, "NOT_FOUND", "unknown registry path");
}

}  // namespace kecs::api::ecr
