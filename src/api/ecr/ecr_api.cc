// The ECR API operations. Messages follow ECR's wording.
#include "api/ecr/ecr_api.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "api/pagination.h"
#include "base/value_cipher.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/strings.h"

namespace kecs::api::ecr {
namespace {

constexpr size_t kMaxTags = 50;

void Check(const Status& st) { ThrowIfError(st); }
template <typename T>
T Check(Result<T> r) {
  Check(r.status());
  return std::move(r).value();
}

AwsError InvalidParameter(std::string message) { return AwsError("InvalidParameterException", std::move(message)); }

std::string RegistryOf(const RequestContext& ctx, const Json& in) {
  return in.contains("registryId") ? in["registryId"].get<std::string>() : ctx.account_id;
}

AwsError RepoNotFound(const std::string& name, const std::string& registry) {
  return AwsError("RepositoryNotFoundException",
                  fmt::format("The repository with name '{}' does not exist in the registry with id '{}'", name,
                              registry));
}

std::string RepoArn(const std::string& region, const std::string& account, const std::string& name) {
  return fmt::format("arn:aws:ecr:{}:{}:repository/{}", region, account, name);
}

std::string ImageId(const std::string& repo, const std::string& digest) { return repo + "@" + digest; }

// The repository row, or RepositoryNotFoundException (also for another registry's id).
state::Object LoadRepo(state::Tx& tx, const std::string& region, const std::string& account,
                       const std::string& registry, const std::string& name) {
  if (registry != account) throw RepoNotFound(name, registry);
  auto row = Check(tx.Get(kRepositoryKind, region, name));
  if (!row) throw RepoNotFound(name, registry);
  return *row;
}

std::vector<state::Object> LoadImages(state::Tx& tx, const std::string& region, const std::string& repo) {
  state::Query q;
  q.kind = kImageKind;
  q.region = region;
  q.parent = repo;
  return Check(tx.List(q));
}

std::vector<std::string> TagsOf(const state::Object& img) {
  std::vector<std::string> tags;
  if (img.doc.contains("imageTags")) {
    for (const auto& t : img.doc["imageTags"]) tags.push_back(t.get<std::string>());
  }
  return tags;
}

void SetTags(state::Object& img, const std::vector<std::string>& tags) {
  if (tags.empty()) {
    img.doc.erase("imageTags");
  } else {
    img.doc["imageTags"] = tags;
  }
}

Json ImageDetail(const state::Object& img, const std::string& account, const std::string& repo) {
  Json d = img.doc;
  d["registryId"] = account;
  d["repositoryName"] = repo;
  return d;
}

bool ValidDigest(const std::string& d) {
  auto colon = d.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == d.size()) return false;
  for (size_t i = 0; i < colon; ++i) {
    char c = d[i];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '+' || c == '.')) return false;
  }
  for (size_t i = colon + 1; i < d.size(); ++i) {
    if (!std::isxdigit(static_cast<unsigned char>(d[i]))) return false;
  }
  return true;
}

// One imageId of a batch request resolved against the repository's images.
struct Lookup {
  const state::Object* image = nullptr;
  std::string failure_code;
  std::string failure_reason;
};

Lookup Find(const std::vector<state::Object>& images, const Json& id) {
  std::string digest = id.value("imageDigest", "");
  std::string tag = id.value("imageTag", "");
  if (digest.empty() && tag.empty()) {
    return {nullptr, "MissingDigestAndTag", "Invalid request parameters: both tag and digest cannot be null"};
  }
  if (!digest.empty() && !ValidDigest(digest)) {
    return {nullptr, "InvalidImageDigest", "Invalid request parameters: image digest should satisfy the regex "
                                           "'[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"};
  }
  const state::Object* by_digest = nullptr;
  const state::Object* by_tag = nullptr;
  for (const auto& img : images) {
    if (!digest.empty() && img.name == digest) by_digest = &img;
    if (!tag.empty()) {
      auto tags = TagsOf(img);
      if (std::find(tags.begin(), tags.end(), tag) != tags.end()) by_tag = &img;
    }
  }
  if (!digest.empty() && !tag.empty()) {
    if (by_digest && by_tag && by_digest != by_tag) {
      return {nullptr, "ImageTagDoesNotMatchDigest", "Invalid image identifier: tag does not match digest"};
    }
    if (!by_digest || !by_tag) return {nullptr, "ImageNotFound", "Requested image not found"};
    return {by_digest};
  }
  const state::Object* found = digest.empty() ? by_tag : by_digest;
  if (!found) return {nullptr, "ImageNotFound", "Requested image not found"};
  return {found};
}

Json IdJson(const Json& id) {
  Json out = Json::object();
  if (id.contains("imageDigest")) out["imageDigest"] = id["imageDigest"];
  if (id.contains("imageTag")) out["imageTag"] = id["imageTag"];
  return out;
}

std::string TagStatusOf(const Json& in) {
  if (in.contains("filter") && in["filter"].contains("tagStatus")) return in["filter"]["tagStatus"].get<std::string>();
  return "ANY";
}

bool TagStatusMatches(const std::string& status, const state::Object& img) {
  bool tagged = !TagsOf(img).empty();
  if (status == "TAGGED") return tagged;
  if (status == "UNTAGGED") return !tagged;
  return true;
}

size_t MaxResults(const Json& in, size_t def) {
  return in.contains("maxResults") ? static_cast<size_t>(in["maxResults"].get<int64_t>()) : def;
}

std::optional<std::string> TokenIn(const Json& in) {
  if (in.contains("nextToken")) return in["nextToken"].get<std::string>();
  return std::nullopt;
}

AwsError BadToken() { return InvalidParameter("Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid token'"); }

std::vector<std::pair<std::string, std::string>> TagList(const Json& tags) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& t : tags) out.emplace_back(t.at("Key").get<std::string>(), t.at("Value").get<std::string>());
  return out;
}

void ValidateTags(const std::vector<std::pair<std::string, std::string>>& tags) {
  for (const auto& [k, v] : tags) {
    if (k.empty() || k.size() > 128) {
      throw AwsError("InvalidTagParameterException", "Tag keys must be between 1 and 128 characters long.");
    }
    if (v.size() > 256) throw AwsError("InvalidTagParameterException", "Tag values can have at most 256 characters.");
    if (ToLower(k.substr(0, 4)) == "aws:") {
      throw AwsError("InvalidTagParameterException", "The 'aws:' prefix is reserved for AWS use and cannot be used in tag keys.");
    }
  }
}

Json MergeTags(const Json& current, const std::vector<std::pair<std::string, std::string>>& add) {
  Json out = current.is_array() ? current : Json::array();
  for (const auto& [k, v] : add) {
    bool replaced = false;
    for (auto& t : out) {
      if (t["Key"] == k) {
        t["Value"] = v;
        replaced = true;
      }
    }
    if (!replaced) out.push_back({{"Key", k}, {"Value", v}});
  }
  if (out.size() > kMaxTags) {
    throw AwsError("TooManyTagsException",
                   fmt::format("A repository can have at most {} tags; this request would give it {}.", kMaxTags,
                               out.size()));
  }
  return out;
}

// The model's RepositoryName pattern: components of [a-z0-9]+ joined by ".", "_", "__"
// or a run of "-", separated by "/".
bool ValidRepoName(const std::string& name) {
  if (name.size() < 2 || name.size() > 256) return false;
  for (const auto& comp : Split(name, '/')) {
    if (comp.empty()) return false;
    size_t i = 0;
    while (i < comp.size()) {
      size_t start = i;
      while (i < comp.size() && (std::islower(static_cast<unsigned char>(comp[i])) ||
                                 std::isdigit(static_cast<unsigned char>(comp[i])))) {
        ++i;
      }
      if (i == start) return false;  // a component starts or a separator ends without [a-z0-9]
      if (i == comp.size()) break;
      std::string sep;
      while (i < comp.size() && (comp[i] == '.' || comp[i] == '_' || comp[i] == '-')) sep += comp[i++];
      bool dashes = !sep.empty() && sep.find_first_not_of('-') == std::string::npos;
      if (!(sep == "." || sep == "_" || sep == "__" || dashes) || i == comp.size()) return false;
    }
  }
  return true;
}

}  // namespace

std::string Sha256Digest(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  return "sha256:" + HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::optional<std::string> RegionOfRegistryHost(const std::string& host, const std::string& account) {
  std::string h = ToLower(host);
  if (auto colon = h.rfind(':'); colon != std::string::npos) h = h.substr(0, colon);
  std::string prefix = account + ".dkr.ecr.";
  const std::string suffix = ".localhost";
  if (!h.starts_with(prefix) || !h.ends_with(suffix) || h.size() <= prefix.size() + suffix.size()) return std::nullopt;
  std::string region = h.substr(prefix.size(), h.size() - prefix.size() - suffix.size());
  if (region.find('.') != std::string::npos) return std::nullopt;
  return region;
}

EcrApi::EcrApi(state::Store& store, Options options, Clock* clock)
    : store_(store), options_(std::move(options)), clock_(clock) {}

std::string EcrApi::RegistryHost(const std::string& region) const {
  return fmt::format("{}.dkr.ecr.{}.localhost:{}", options_.account_id, region, port_.load());
}

std::string EcrApi::BlobPath(const std::string& digest) const {
  auto colon = digest.find(':');
  return options_.data_dir + "/ecr/blobs/" + digest.substr(0, colon) + "/" + digest.substr(colon + 1);
}

std::string EcrApi::MintToken(const std::string& region, double now, double* expires_at) {
  std::string password = RandomHex(64);
  *expires_at = now + kTokenLifetime;
  Check(store_.Write([&](state::Tx& tx) {
    state::Query q;
    q.kind = kTokenKind;
    q.any_region = true;
    ASSIGN_OR_RETURN(auto tokens, tx.List(q));
    for (const auto& t : tokens) {
      if (t.doc.value("expiresAt", 0.0) <= now) RETURN_IF_ERROR(tx.Delete(kTokenKind, t.region, t.id).status());
    }
    state::Object row;
    row.kind = kTokenKind;
    row.region = region;
    row.id = Sha256Digest(password);
    row.doc = {{"expiresAt", *expires_at}};
    return tx.Put(row);
  }));
  return password;
}

bool EcrApi::TokenValid(const std::string& region, const std::string& password, double now) {
  bool ok = false;
  Status st = store_.Read([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto row, tx.Get(kTokenKind, region, Sha256Digest(password)));
    ok = row && row->doc.value("expiresAt", 0.0) > now;
    return Status::Ok();
  });
  if (!st.ok()) KLOG_WARN("ecr: token check failed: {}", st.message());
  return st.ok() && ok;
}

std::optional<std::string> EcrApi::PullCredentials(const std::string& host) {
  auto region = RegionOfRegistryHost(host, options_.account_id);
  if (!region) return std::nullopt;
  auto colon = host.rfind(':');
  if (colon == std::string::npos || host.substr(colon + 1) != std::to_string(port_.load())) return std::nullopt;
  double expires = 0;
  return "AWS:" + MintToken(*region, clock_->Now(), &expires);
}

Json EcrApi::CreateRepository(RequestContext& ctx, const Json& in) {
  std::string name = in.at("repositoryName").get<std::string>();
  std::string registry = RegistryOf(ctx, in);
  if (!ValidRepoName(name)) {
    throw InvalidParameter(
        "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression "
        "'(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''");
  }
  auto tags = in.contains("tags") ? TagList(in["tags"]) : std::vector<std::pair<std::string, std::string>>{};
  ValidateTags(tags);
  Json doc = {
      {"repositoryArn", RepoArn(ctx.region, ctx.account_id, name)},
      {"registryId", ctx.account_id},
      {"repositoryName", name},
      {"repositoryUri", RegistryHost(ctx.region) + "/" + name},
      {"createdAt", ctx.now},
      {"imageTagMutability", in.value("imageTagMutability", "MUTABLE")},
      {"imageScanningConfiguration",
       {{"scanOnPush", in.contains("imageScanningConfiguration")
                           ? in["imageScanningConfiguration"].value("scanOnPush", false)
                           : false}}},
  };
  if (in.contains("imageTagMutabilityExclusionFilters")) {
    doc["imageTagMutabilityExclusionFilters"] = in["imageTagMutabilityExclusionFilters"];
  }
  Json enc = {{"encryptionType", "AES256"}};
  if (in.contains("encryptionConfiguration")) {
    const Json& e = in["encryptionConfiguration"];
    std::string type = e.at("encryptionType").get<std::string>();
    if (type == "AES256" && e.contains("kmsKey")) {
      throw InvalidParameter("Invalid parameter at 'encryptionConfiguration' failed to satisfy constraint: "
                             "'kmsKey can be specified only when encryptionType is KMS or KMS_DSSE'");
    }
    enc = {{"encryptionType", type}};
    if (type != "AES256") {
      enc["kmsKey"] = e.contains("kmsKey") ? e["kmsKey"].get<std::string>()
                                           : fmt::format("arn:aws:kms:{}:{}:alias/aws/ecr", ctx.region, ctx.account_id);
    }
  }
  doc["encryptionConfiguration"] = enc;
  if (registry != ctx.account_id) {
    throw InvalidParameter(fmt::format("Invalid parameter at 'registryId' failed to satisfy constraint: 'The "
                                       "registry id must be your own account id {}'", ctx.account_id));
  }
  Check(store_.Write([&](state::Tx& tx) {
    state::Object row;
    row.kind = kRepositoryKind;
    row.region = ctx.region;
    row.id = name;
    row.name = name;
    row.doc = doc;
    row.internal = {{"tags", MergeTags(Json::array(), tags)}};
    Status st = tx.Insert(row);
    if (st.code() == Code::kAlreadyExists) {
      throw AwsError("RepositoryAlreadyExistsException",
                     fmt::format("The repository with name '{}' already exists in the registry with id '{}'", name,
                                 ctx.account_id));
    }
    return st;
  }));
  return {{"repository", doc}};
}

Json EcrApi::DescribeRepositories(RequestContext& ctx, const Json& in) {
  std::string registry = RegistryOf(ctx, in);
  Json repos = Json::array();
  std::optional<std::string> next;
  Check(store_.Read([&](state::Tx& tx) {
    if (in.contains("repositoryNames")) {
      if (in.contains("maxResults") || in.contains("nextToken")) {
        throw InvalidParameter("Invalid parameter at 'maxResults' failed to satisfy constraint: 'maxResults and "
                               "nextToken cannot be used when repositoryNames are specified'");
      }
      for (const auto& n : in["repositoryNames"]) {
        repos.push_back(LoadRepo(tx, ctx.region, ctx.account_id, registry, n.get<std::string>()).doc);
      }
      return Status::Ok();
    }
    if (registry != ctx.account_id) return Status::Ok();
    state::Query q;
    q.kind = kRepositoryKind;
    q.region = ctx.region;
    ASSIGN_OR_RETURN(auto rows, tx.List(q));
    std::vector<std::string> keys;
    for (const auto& r : rows) keys.push_back(SeqKey(r.seq));
    auto page = Paginate(keys, TokenIn(in), MaxResults(in, 100));
    if (!page) throw BadToken();
    for (size_t i = page->begin; i < page->end; ++i) repos.push_back(rows[i].doc);
    next = page->next_token;
    return Status::Ok();
  }));
  Json out = {{"repositories", repos}};
  if (next) out["nextToken"] = *next;
  return out;
}

Json EcrApi::DeleteRepository(RequestContext& ctx, const Json& in) {
  std::string name = in.at("repositoryName").get<std::string>();
  std::string registry = RegistryOf(ctx, in);
  bool force = in.value("force", false);
  Json doc;
  Check(store_.Write([&](state::Tx& tx) {
    doc = LoadRepo(tx, ctx.region, ctx.account_id, registry, name).doc;
    auto images = LoadImages(tx, ctx.region, name);
    if (!images.empty() && !force) {
      throw AwsError("RepositoryNotEmptyException",
                     fmt::format("The repository with name '{}' in registry with id '{}' cannot be deleted because "
                                 "it still contains images",
                                 name, registry));
    }
    for (const auto& img : images) RETURN_IF_ERROR(tx.Delete(kImageKind, ctx.region, img.id).status());
    return tx.Delete(kRepositoryKind, ctx.region, name).status();
  }));
  SweepBlobs();
  return {{"repository", doc}};
}

Json EcrApi::PutImageTagMutability(RequestContext& ctx, const Json& in) {
  std::string name = in.at("repositoryName").get<std::string>();
  std::string registry = RegistryOf(ctx, in);
  std::string mutability = in.at("imageTagMutability").get<std::string>();
  Json out = {{"registryId", registry}, {"repositoryName", name}, {"imageTagMutability", mutability}};
  Check(store_.Write([&](state::Tx& tx) {
    auto row = LoadRepo(tx, ctx.region, ctx.account_id, registry, name);
    row.doc["imageTagMutability"] = mutability;
    if (in.contains("imageTagMutabilityExclusionFilters")) {
      row.doc["imageTagMutabilityExclusionFilters"] = in["imageTagMutabilityExclusionFilters"];
      out["imageTagMutabilityExclusionFilters"] = in["imageTagMutabilityExclusionFilters"];
    } else {
      row.doc.erase("imageTagMutabilityExclusionFilters");
    }
    return tx.Put(row);
  }));
  return out;
}

Json EcrApi::PutImageScanningConfiguration(RequestContext& ctx, const Json& in) {
  std::string name = in.at("repositoryName").get<std::string>();
  std::string registry = RegistryOf(ctx, in);
  Json conf = {{"scanOnPush", in.at("imageScanningConfiguration").value("scanOnPush", false)}};
  Check(store_.Write([&](state::Tx& tx) {
    auto row = LoadRepo(tx, ctx.region, ctx.account_id, registry, name);
    row.doc["imageScanningConfiguration"] = conf;
    return tx.Put(row);
  }));
  return {{"registryId", registry}, {"repositoryName", name}, {"imageScanningConfiguration", conf}};
}

Json EcrApi::PutLifecyclePolicy(RequestContext& ctx, const Json& in) {
  std::string name = in.at("repositoryName").get<std::string>();
  std::string registry = RegistryOf(ctx, in);
  std::string text = in.at("lifecyclePolicyText").get<std::string>();
  auto rules = ParseLifecyclePolicy(text);
  if (!rules.ok()) {
    throw InvalidParameter(fmt::format(
        "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: '{}'", rules.status().message()));
  }
  Check(store_.Write([&](state::Tx& tx) {
    auto row = LoadRepo(tx, ctx.region, ctx.account_id, registry, name);
    row.internal["lifecyclePolicy"] = text;
    RETURN_IF_ERROR(tx.Put(row));
    ApplyLifecycle(tx, ctx.region, name, ctx.now);
    return Status::Ok();
  }));
  SweepBlobs();
  return {{"registryId", registry}, {"repositoryName", name}, {"lifecyclePolicyText", text}};
}

// GetLifecyclePolicy's answer for a repository's row; LifecyclePolicyNotFoundException
// when it has none.
static Json LifecyclePolicyOf(const state::Object& row, const std::string& name, const std::string& registry) {
  if (!row.internal.contains("lifecyclePolicy")) {
    throw AwsError("LifecyclePolicyNotFoundException",
                   fmt::format("Lifecycle policy does not exist for the repository with name '{}' in the registry "
                               "with id '{}'",
                               name, registry));
  }
  Json out = {{"registryId", registry}, {"repositoryName", name},
              {"lifecyclePolicyText", row.internal["lifecyclePolicy"]}};
  if (row.internal.contains("lastEvaluatedAt")) out["lastEvaluatedAt"] = row.internal["lastEvaluatedAt"];
  return out;
}

Json EcrApi::GetLifecyclePolicy(RequestContext& ctx, const Json& in) {
  std::string name = in.at("repositoryName").get<std::string>();
  std::string registry = RegistryOf(ctx, in);
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    auto row = LoadRepo(tx, ctx.region, ctx.account_id, registry, name);
    out = LifecyclePolicyOf(row, name, registry);
    return Status::Ok();
  }));
  return out;
}

Json EcrApi::DeleteLifecyclePolicy(RequestContext& ctx, const Json& in) {
  std::string name = in.at("repositoryName").get<std::string>();
  std::string registry = RegistryOf(ctx, in);
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    auto row = LoadRepo(tx, ctx.region, ctx.account_id, registry, name);
    out = LifecyclePolicyOf(row, name, registry);
    row.internal.erase("lifecyclePolicy");
    row.internal.erase("lastEvaluatedAt");
    return tx.Put(row);
  }));
  return out;
}

namespace {
// "arn:aws:ecr:<region>:<account>:repository/<name>" -> name, else InvalidParameterException.
std::string RepoOfArn(const RequestContext& ctx, const std::string& arn) {
  std::string prefix = fmt::format("arn:aws:ecr:{}:{}:repository/", ctx.region, ctx.account_id);
  if (!arn.starts_with(prefix) || arn.size() == prefix.size()) {
    throw InvalidParameter("Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN'");
  }
  return arn.substr(prefix.size());
}
}  // namespace

Json EcrApi::TagResource(RequestContext& ctx, const Json& in) {
  std::string name = RepoOfArn(ctx, in.at("resourceArn").get<std::string>());
  auto tags = TagList(in.at("tags"));
  ValidateTags(tags);
  Check(store_.Write([&](state::Tx& tx) {
    auto row = LoadRepo(tx, ctx.region, ctx.account_id, ctx.account_id, name);
    row.internal["tags"] = MergeTags(row.internal.value("tags", Json::array()), tags);
    return tx.Put(row);
  }));
  return Json::object();
}

Json EcrApi::UntagResource(RequestContext& ctx, const Json& in) {
  std::string name = RepoOfArn(ctx, in.at("resourceArn").get<std::string>());
  std::set<std::string> keys;
  for (const auto& k : in.at("tagKeys")) {
    std::string key = k.get<std::string>();
    if (ToLower(key.substr(0, 4)) == "aws:") {
      throw AwsError("InvalidTagParameterException", "The 'aws:' prefix is reserved for AWS use and cannot be used in tag keys.");
    }
    keys.insert(key);
  }
  Check(store_.Write([&](state::Tx& tx) {
    auto row = LoadRepo(tx, ctx.region, ctx.account_id, ctx.account_id, name);
    Json kept = Json::array();
    for (const auto& t : row.internal.value("tags", Json::array())) {
      if (!keys.count(t["Key"].get<std::string>())) kept.push_back(t);
    }
    row.internal["tags"] = kept;
    return tx.Put(row);
  }));
  return Json::object();
}

Json EcrApi::ListTagsForResource(RequestContext& ctx, const Json& in) {
  std::string name = RepoOfArn(ctx, in.at("resourceArn").get<std::string>());
  Json tags;
  Check(store_.Read([&](state::Tx& tx) {
    tags = LoadRepo(tx, ctx.region, ctx.account_id, ctx.account_id, name).internal.value("tags", Json::array());
    return Status::Ok();
  }));
  return {{"tags", tags}};
}

Json EcrApi::DescribeImages(RequestContext& ctx, const Json& in) {
  std::string name = in.at("repositoryName").get<std::string>();
  std::string registry = RegistryOf(ctx, in);
  std::string status = TagStatusOf(in);
  Json details = Json::array();
  std::optional<std::string> next;
  Check(store_.Read([&](state::Tx& tx) {
    LoadRepo(tx, ctx.region, ctx.account_id, registry, name);
    auto images = LoadImages(tx, ctx.region, name);
    if (in.contains("imageIds")) {
      if (in.contains("maxResults") || in.contains("nextToken")) {
        throw InvalidParameter("Invalid parameter at 'maxResults' failed to satisfy constraint: 'maxResults and "
                               "nextToken cannot be used when imageIds are specified'");
      }
      std::set<std::string> seen;
      for (const auto& id : in["imageIds"]) {
        Lookup l = Find(images, id);
        if (!l.image) {
          if (l.failure_code == "ImageNotFound" || l.failure_code == "ImageTagDoesNotMatchDigest") {
            throw AwsError("ImageNotFoundException",
                           fmt::format("The image with imageId {{imageDigest:'{}', imageTag:'{}'}} does not exist "
                                       "within the repository with name '{}' in the registry with id '{}'",
                                       id.value("imageDigest", "null"), id.value("imageTag", "null"), name, registry));
          }
          throw InvalidParameter(l.failure_reason);
        }
        if (TagStatusMatches(status, *l.image) && seen.insert(l.image->name).second) {
          details.push_back(ImageDetail(*l.image, registry, name));
        }
      }
      return Status::Ok();
    }
    std::vector<const state::Object*> matched;
    std::vector<std::string> keys;
    for (const auto& img : images) {
      if (!TagStatusMatches(status, img)) continue;
      matched.push_back(&img);
      keys.push_back(SeqKey(img.seq));
    }
    auto page = Paginate(keys, TokenIn(in), MaxResults(in, 100));
    if (!page) throw BadToken();
    for (size_t i = page->begin; i < page->end; ++i) details.push_back(ImageDetail(*matched[i], registry, name));
    next = page->next_token;
    return Status::Ok();
  }));
  Json out = {{"imageDetails", details}};
  if (next) out["nextToken"] = *next;
  return out;
}

Json EcrApi::ListImages(RequestContext& ctx, const Json& in) {
  std::string name = in.at("repositoryName").get<std::string>();
  std::string registry = RegistryOf(ctx, in);
  std::string status = TagStatusOf(in);
  Json ids = Json::array();
  std::optional<std::string> next;
  Check(store_.Read([&](state::Tx& tx) {
    LoadRepo(tx, ctx.region, ctx.account_id, registry, name);
    std::vector<Json> items;
    std::vector<std::string> keys;
    for (const auto& img : LoadImages(tx, ctx.region, name)) {
      if (!TagStatusMatches(status, img)) continue;
      auto tags = TagsOf(img);
      if (tags.empty()) {
        items.push_back({{"imageDigest", img.name}});
        keys.push_back(SeqKey(img.seq) + "\x1f");
      }
      for (const auto& t : tags) {
        items.push_back({{"imageDigest", img.name}, {"imageTag", t}});
        keys.push_back(SeqKey(img.seq) + "\x1f" + t);
      }
    }
    // Keys sort by image then tag; keep the pairs in that order.
    std::vector<size_t> order(items.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
    std::vector<std::string> sorted;
    for (size_t i : order) sorted.push_back(keys[i]);
    auto page = Paginate(sorted, TokenIn(in), MaxResults(in, 100));
    if (!page) throw BadToken();
    for (size_t i = page->begin; i < page->end; ++i) ids.push_back(items[order[i]]);
    next = page->next_token;
    return Status::Ok();
  }));
  Json out = {{"imageIds", ids}};
  if (next) out["nextToken"] = *next;
  return out;
}

Json EcrApi::BatchGetImage(RequestContext& ctx, const Json& in) {
  std::string name = in.at("repositoryName").get<std::string>();
  std::string registry = RegistryOf(ctx, in);
  // acceptedMediaTypes is accepted and not applied: kecs stores manifests as pushed and
  // converts none.
  Json images = Json::array();
  Json failures = Json::array();
  Check(store_.Read([&](state::Tx& tx) {
    LoadRepo(tx, ctx.region, ctx.account_id, registry, name);
    auto rows = LoadImages(tx, ctx.region, name);
    for (const auto& id : in.at("imageIds")) {
      Lookup l = Find(rows, id);
      if (!l.image) {
        failures.push_back({{"imageId", IdJson(id)}, {"failureCode", l.failure_code}, {"failureReason", l.failure_reason}});
        continue;
      }
      std::string media = l.image->doc.value("imageManifestMediaType", "");
      Json image_id = {{"imageDigest", l.image->name}};
      if (id.contains("imageTag")) image_id["imageTag"] = id["imageTag"];
      images.push_back({{"registryId", registry},
                        {"repositoryName", name},
                        {"imageId", image_id},
                        {"imageManifest", l.image->internal.value("manifest", "")},
                        {"imageManifestMediaType", media}});
    }
    return Status::Ok();
  }));
  return {{"images", images}, {"failures", failures}};
}

Json EcrApi::BatchDeleteImage(RequestContext& ctx, const Json& in) {
  std::string name = in.at("repositoryName").get<std::string>();
  std::string registry = RegistryOf(ctx, in);
  Json deleted = Json::array();
  Json failures = Json::array();
  Check(store_.Write([&](state::Tx& tx) {
    LoadRepo(tx, ctx.region, ctx.account_id, registry, name);
    for (const auto& id : in.at("imageIds")) {
      auto rows = LoadImages(tx, ctx.region, name);  // again: an earlier id may have changed them
      Lookup l = Find(rows, id);
      if (!l.image) {
        failures.push_back({{"imageId", IdJson(id)}, {"failureCode", l.failure_code}, {"failureReason", l.failure_reason}});
        continue;
      }
      state::Object img = *l.image;
      auto tags = TagsOf(img);
      if (id.contains("imageDigest")) {
        // By digest: the image goes with every tag.
        if (tags.empty()) deleted.push_back({{"imageDigest", img.name}});
        for (const auto& t : tags) deleted.push_back({{"imageDigest", img.name}, {"imageTag", t}});
        RETURN_IF_ERROR(tx.Delete(kImageKind, ctx.region, img.id).status());
        continue;
      }
      // By tag: the tag goes; the image goes with its last tag.
      std::string tag = id["imageTag"].get<std::string>();
      tags.erase(std::remove(tags.begin(), tags.end(), tag), tags.end());
      deleted.push_back({{"imageDigest", img.name}, {"imageTag", tag}});
      if (tags.empty()) {
        RETURN_IF_ERROR(tx.Delete(kImageKind, ctx.region, img.id).status());
      } else {
        SetTags(img, tags);
        RETURN_IF_ERROR(tx.Put(img));
      }
    }
    return Status::Ok();
  }));
  SweepBlobs();
  return {{"imageIds", deleted}, {"failures", failures}};
}

std::string EcrApi::PutManifest(const std::string& region, const std::string& repo, const std::string& manifest,
                                std::string media_type, const std::string& tag, const std::string& expected_digest,
                                bool api, double now) {
  // Held from the blob check to the commit, so a sweep never removes a blob in between.
  std::unique_lock<std::mutex> blob_lock(blob_mu_);
  const std::string& account = options_.account_id;
  Json m = Json::parse(manifest, nullptr, /*allow_exceptions=*/false);
  if (m.is_discarded() || !m.is_object()) {
    throw InvalidParameter("Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'");
  }
  if (media_type.empty()) media_type = m.value("mediaType", "");
  if (media_type.empty()) {
    media_type = m.contains("manifests") ? "application/vnd.oci.image.index.v1+json"
                                         : "application/vnd.oci.image.manifest.v1+json";
  }
  std::string digest = Sha256Digest(manifest);
  if (!expected_digest.empty() && expected_digest != digest) {
    throw AwsError("ImageDigestDoesNotMatchException",
                   fmt::format("Invalid parameter at 'imageDigest' failed to satisfy constraint: 'The digest {} does "
                               "not match the digest of the image manifest, {}'",
                               expected_digest, digest));
  }
  int64_t size = 0;
  std::vector<std::string> missing;
  std::vector<std::string> blobs;
  if (m.contains("config") && m["config"].is_object()) blobs.push_back(m["config"].value("digest", ""));
  if (m.contains("layers") && m["layers"].is_array()) {
    for (const auto& l : m["layers"]) {
      if (!l.is_object()) continue;
      blobs.push_back(l.value("digest", ""));
      if (l.contains("size") && l["size"].is_number_integer()) size += l["size"].get<int64_t>();
    }
  }
  for (const auto& b : blobs) {
    if (b.empty() || !ValidDigest(b) || !std::filesystem::exists(BlobPath(b))) missing.push_back(b);
  }
  Check(store_.Write([&](state::Tx& tx) {
    auto repo_row = LoadRepo(tx, region, account, account, repo);
    if (!missing.empty()) {
      throw AwsError("LayersNotFoundException",
                     fmt::format("Layers with digests '[{}]' required for pushing image into repository with name "
                                 "'{}' in the registry with id '{}' do not exist",
                                 fmt::join(missing, ", "), repo, account));
    }
    auto images = LoadImages(tx, region, repo);
    if (m.contains("manifests") && m["manifests"].is_array()) {
      std::vector<std::string> absent;
      for (const auto& c : m["manifests"]) {
        std::string d = c.is_object() ? c.value("digest", "") : "";
        if (std::none_of(images.begin(), images.end(), [&](const auto& i) { return i.name == d; })) absent.push_back(d);
      }
      if (!absent.empty()) {
        throw AwsError("ReferencedImagesNotFoundException",
                       fmt::format("The manifest list references images that do not exist in the repository: [{}]",
                                   fmt::join(absent, ", ")));
      }
    }
    bool immutable = repo_row.doc.value("imageTagMutability", "MUTABLE").starts_with("IMMUTABLE");
    std::optional<state::Object> existing;
    for (const auto& i : images) {
      if (i.name == digest) existing = i;
    }
    if (!tag.empty()) {
      for (const auto& i : images) {
        auto tags = TagsOf(i);
        if (std::find(tags.begin(), tags.end(), tag) == tags.end()) continue;
        if (i.name == digest) {
          if (api) {
            throw AwsError("ImageAlreadyExistsException",
                           fmt::format("Image with digest '{}' and tag '{}' already exists in the repository with "
                                       "name '{}' in registry with id '{}'",
                                       digest, tag, repo, account));
          }
          return Status::Ok();  // the same push again
        }
        if (immutable) {
          throw AwsError("ImageTagAlreadyExistsException",
                         fmt::format("The image tag '{}' already exists in the '{}' repository and cannot be "
                                     "overwritten because the repository is immutable.",
                                     tag, repo));
        }
        state::Object old = i;
        tags.erase(std::remove(tags.begin(), tags.end(), tag), tags.end());
        SetTags(old, tags);
        RETURN_IF_ERROR(tx.Put(old));
      }
    } else if (existing && api) {
      throw AwsError("ImageAlreadyExistsException",
                     fmt::format("Image with digest '{}' already exists in the repository with name '{}' in "
                                 "registry with id '{}'",
                                 digest, repo, account));
    }
    state::Object img;
    if (existing) {
      img = *existing;
    } else {
      img.kind = kImageKind;
      img.region = region;
      img.id = ImageId(repo, digest);
      img.parent = repo;
      img.name = digest;
      img.doc = {{"imageDigest", digest},
                 {"imageSizeInBytes", size},
                 {"imagePushedAt", now},
                 {"imageManifestMediaType", media_type}};
      if (m.contains("config") && m["config"].is_object() && m["config"].contains("mediaType")) {
        img.doc["artifactMediaType"] = m["config"]["mediaType"];
      }
      img.internal = {{"manifest", manifest}};
    }
    if (!tag.empty()) {
      auto tags = TagsOf(img);
      tags.insert(tags.begin(), tag);
      SetTags(img, tags);
    }
    RETURN_IF_ERROR(tx.Put(img));
    ApplyLifecycle(tx, region, repo, now);
    return Status::Ok();
  }));
  blob_lock.unlock();
  SweepBlobs();  // the lifecycle policy may have expired images
  return digest;
}

Json EcrApi::PutImage(RequestContext& ctx, const Json& in) {
  std::string name = in.at("repositoryName").get<std::string>();
  std::string registry = RegistryOf(ctx, in);
  if (registry != ctx.account_id) throw RepoNotFound(name, registry);
  std::string manifest = in.at("imageManifest").get<std::string>();
  std::string media = in.value("imageManifestMediaType", "");
  std::string tag = in.value("imageTag", "");
  std::string digest = PutManifest(ctx.region, name, manifest, media, tag, in.value("imageDigest", ""), true, ctx.now);
  Json id = {{"imageDigest", digest}};
  if (!tag.empty()) id["imageTag"] = tag;
  Json image = {{"registryId", registry}, {"repositoryName", name}, {"imageId", id}, {"imageManifest", manifest}};
  std::string shown = media;
  if (shown.empty()) {
    Json m = Json::parse(manifest, nullptr, false);
    shown = m.is_object() ? m.value("mediaType", "") : "";
  }
  if (!shown.empty()) image["imageManifestMediaType"] = shown;
  return {{"image", image}};
}

Json EcrApi::GetAuthorizationToken(RequestContext& ctx, const Json& in) {
  std::vector<std::string> registries;
  if (in.contains("registryIds")) {
    for (const auto& r : in["registryIds"]) registries.push_back(r.get<std::string>());
  }
  if (registries.empty()) registries.push_back(ctx.account_id);
  Json data = Json::array();
  for (const auto& r : registries) {
    if (r != ctx.account_id) {
      throw InvalidParameter(fmt::format("Invalid parameter at 'registryIds' failed to satisfy constraint: "
                                         "'registry {} is not served by this endpoint'", r));
    }
    double expires = 0;
    std::string password = MintToken(ctx.region, ctx.now, &expires);
    data.push_back({{"authorizationToken", Base64Encode("AWS:" + password)},
                    {"expiresAt", expires},
                    {"proxyEndpoint", "http://" + RegistryHost(ctx.region)}});
  }
  return {{"authorizationData", data}};
}

int EcrApi::ApplyLifecycle(state::Tx& tx, const std::string& region, const std::string& repo, double now) {
  auto row = Check(tx.Get(kRepositoryKind, region, repo));
  if (!row || !row->internal.contains("lifecyclePolicy")) return 0;
  auto rules = ParseLifecyclePolicy(row->internal["lifecyclePolicy"].get<std::string>());
  if (!rules.ok()) return 0;
  auto images = LoadImages(tx, region, repo);
  std::vector<LifecycleImage> infos;
  for (const auto& img : images) infos.push_back({img.name, TagsOf(img), img.doc.value("imagePushedAt", 0.0)});
  auto expired = ExpiredImages(*rules, infos, now);
  for (const auto& d : expired) {
    KLOG_INFO("ecr: lifecycle policy of {} expires {}", repo, d);
    Check(tx.Delete(kImageKind, region, ImageId(repo, d)).status());
  }
  row->internal["lastEvaluatedAt"] = now;
  Check(tx.Put(*row));
  return static_cast<int>(expired.size());
}

int EcrApi::ApplyLifecyclePolicies() {
  int expired = 0;
  double now = clock_->Now();
  Status st = store_.Write([&](state::Tx& tx) {
    state::Query q;
    q.kind = kRepositoryKind;
    q.any_region = true;
    ASSIGN_OR_RETURN(auto repos, tx.List(q));
    for (const auto& r : repos) {
      if (r.internal.contains("lifecyclePolicy")) expired += ApplyLifecycle(tx, r.region, r.id, now);
    }
    return Status::Ok();
  });
  if (!st.ok()) KLOG_WARN("ecr: lifecycle pass failed: {}", st.message());
  if (expired > 0) SweepBlobs();
  return expired;
}

int EcrApi::SweepBlobs(double min_age_seconds) {
  std::lock_guard<std::mutex> lock(blob_mu_);
  namespace fs = std::filesystem;
  std::set<std::string> referenced;
  Status st = store_.Read([&](state::Tx& tx) {
    state::Query q;
    q.kind = kImageKind;
    q.any_region = true;
    ASSIGN_OR_RETURN(auto images, tx.List(q));
    for (const auto& img : images) {
      Json m = Json::parse(img.internal.value("manifest", ""), nullptr, false);
      if (!m.is_object()) continue;
      if (m.contains("config") && m["config"].is_object()) referenced.insert(m["config"].value("digest", ""));
      for (const char* list : {"layers", "blobs"}) {
        if (!m.contains(list) || !m[list].is_array()) continue;
        for (const auto& l : m[list]) {
          if (l.is_object()) referenced.insert(l.value("digest", ""));
        }
      }
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    KLOG_WARN("ecr: blob sweep skipped: {}", st.message());
    return 0;
  }
  int removed = 0;
  std::error_code ec;
  auto now = fs::file_time_type::clock::now();
  auto grace = std::chrono::duration_cast<fs::file_time_type::duration>(std::chrono::duration<double>(min_age_seconds));
  for (const auto& algo : fs::directory_iterator(options_.data_dir + "/ecr/blobs", ec)) {
    if (!algo.is_directory(ec)) continue;
    std::string prefix = algo.path().filename().string() + ":";
    for (const auto& f : fs::directory_iterator(algo.path(), ec)) {
      if (referenced.count(prefix + f.path().filename().string())) continue;
      auto mtime = fs::last_write_time(f.path(), ec);
      if (ec || now - mtime < grace) continue;  // a push may be about to name it
      if (fs::remove(f.path(), ec)) ++removed;
    }
  }
  if (removed > 0) KLOG_INFO("ecr: removed {} blob(s) no image references", removed);
  return removed;
}

void EcrApi::RegisterAll(Service& s) {
#define KECS_OP(name) \
  s.Register(#name, [this](RequestContext& ctx, const Json& in) { return name(ctx, in); })
  KECS_OP(CreateRepository);
  KECS_OP(DescribeRepositories);
  KECS_OP(DeleteRepository);
  KECS_OP(PutImageTagMutability);
  KECS_OP(PutImageScanningConfiguration);
  KECS_OP(PutLifecyclePolicy);
  KECS_OP(GetLifecyclePolicy);
  KECS_OP(DeleteLifecyclePolicy);
  KECS_OP(TagResource);
  KECS_OP(UntagResource);
  KECS_OP(ListTagsForResource);
  KECS_OP(DescribeImages);
  KECS_OP(ListImages);
  KECS_OP(BatchGetImage);
  KECS_OP(BatchDeleteImage);
  KECS_OP(PutImage);
  KECS_OP(GetAuthorizationToken);
#undef KECS_OP
}

}  // namespace kecs::api::ecr
