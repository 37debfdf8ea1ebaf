// ECR: the repository and image operations through the registered handlers, lifecycle
// policies, and the registry's HTTP API (uploads with digest checks, manifests, tags,
// the Basic challenge) against a temporary store and data dir.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <vector>
#include <string>

#include "api/ecr/ecr_api.h"
#include "api/router.h"
#include "model/ecr_model.h"
#include "base/value_cipher.h"
#include "base/clock.h"
#include "model/shapes.h"
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::api::ecr {
namespace {

constexpr const char* kRegion = "us-east-1";
constexpr const char* kAccount = "000000000000";
constexpr const char* kHost = "000000000000.dkr.ecr.us-east-1.localhost:4566";

class EcrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    api_ = std::make_unique<EcrApi>(*store_, EcrApi::Options{dir_.path(), kAccount, kRegion}, &clock_);
    api_->SetPort(4566);
    service_ = std::make_shared<Service>(model::EcrModel(), ErrorStyle{});
    api_->RegisterAll(*service_);
  }

  Json Call(const std::string& op, const Json& in) {
    RequestContext ctx;
    ctx.region = kRegion;
    ctx.account_id = kAccount;
    ctx.operation = op;
    ctx.now = clock_.Now();
    const OperationFn* fn = service_->Find(op);
    EXPECT_NE(fn, nullptr) << op;
    return (*fn)(ctx, in);
  }

  std::pair<std::string, std::string> Fail(const std::string& op, const Json& in) {
    try {
      Call(op, in);
    } catch (const AwsError& e) {
      return {e.code(), e.message()};
    }
    return {"", ""};
  }

  std::string Blob(const std::string& content) {
    std::string d = Sha256Digest(content);
    std::string path = api_->BlobPath(d);
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << content;
    return d;
  }

  std::string Manifest(const std::string& layer_content) {
    std::string config = Blob("{\"config\":{}}");
    std::string layer = Blob(layer_content);
    Json m = {{"schemaVersion", 2},
              {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
              {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", config}, {"size", 13}}},
              {"layers", Json::array({{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                                       {"digest", layer},
                                       {"size", static_cast<int64_t>(layer_content.size())}}})}};
    return m.dump();
  }

  std::string Token() {
    Json out = Call("GetAuthorizationToken", Json::object());
    return out["authorizationData"][0]["authorizationToken"].get<std::string>();
  }

  HttpResponse Registry(const std::string& method, const std::string& target, const std::string& body = "",
                        const std::string& token = "", const std::string& content_type = "") {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.headers.emplace_back("host", kHost);
    if (!token.empty()) r.headers.emplace_back("authorization", "Basic " + token);
    if (!content_type.empty()) r.headers.emplace_back("content-type", content_type);
    return api_->HandleRegistry(r);
  }

  static std::string HeaderOf(const HttpResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return "";
  }

  kecs::testing::TempDir dir_;
  FakeClock clock_{1700000000};
  std::unique_ptr<state::Store> store_;
  std::unique_ptr<EcrApi> api_;
  std::shared_ptr<Service> service_;
};

TEST_F(EcrTest, CreateDescribeDeleteRepository) {
  Json repo = Call("CreateRepository", {{"repositoryName", "team/app"},
                                        {"imageTagMutability", "IMMUTABLE"},
                                        {"tags", Json::array({{{"Key", "k"}, {"Value", "v"}}})}})["repository"];
  EXPECT_EQ(repo["repositoryUri"], std::string(kHost) + "/team/app");
  EXPECT_EQ(repo["repositoryArn"], "arn:aws:ecr:us-east-1:000000000000:repository/team/app");
  EXPECT_EQ(repo["imageTagMutability"], "IMMUTABLE");
  EXPECT_EQ(repo["encryptionConfiguration"]["encryptionType"], "AES256");
  EXPECT_EQ(Fail("CreateRepository", {{"repositoryName", "team/app"}}).first, "RepositoryAlreadyExistsException");
  for (const char* bad : {"Bad_Name", "a//b", "a-", "-a", "a___b", "a._b"}) {
    EXPECT_EQ(Fail("CreateRepository", {{"repositoryName", bad}}).first, "InvalidParameterException") << bad;
  }
  for (const char* good : {"a__b", "a---b", "ns/a.b_c", "x1"}) {
    EXPECT_EQ(Call("CreateRepository", {{"repositoryName", good}})["repository"]["repositoryName"], good);
  }
  EXPECT_EQ(Fail("DescribeRepositories", {{"repositoryNames", {"nope"}}}).first, "RepositoryNotFoundException");
  Json tags = Call("ListTagsForResource", {{"resourceArn", repo["repositoryArn"]}})["tags"];
  ASSERT_EQ(tags.size(), 1u);
  EXPECT_EQ(tags[0]["Key"], "k");
  EXPECT_EQ(Fail("TagResource", {{"resourceArn", "arn:nope"}, {"tags", Json::array()}}).first,
            "InvalidParameterException");
  EXPECT_EQ(Fail("TagResource", {{"resourceArn", repo["repositoryArn"]},
                                 {"tags", Json::array({{{"Key", "aws:x"}, {"Value", "v"}}})}})
                .first,
            "InvalidTagParameterException");
  Call("DeleteRepository", {{"repositoryName", "team/app"}});
  EXPECT_EQ(Fail("DeleteRepository", {{"repositoryName", "team/app"}}).first, "RepositoryNotFoundException");
}

TEST_F(EcrTest, DescribeRepositoriesPaginates) {
  for (int i = 0; i < 5; ++i) Call("CreateRepository", {{"repositoryName", "r" + std::to_string(i)}});
  Json page = Call("DescribeRepositories", {{"maxResults", 2}});
  ASSERT_EQ(page["repositories"].size(), 2u);
  EXPECT_EQ(page["repositories"][0]["repositoryName"], "r0");
  std::vector<std::string> names;
  std::optional<std::string> token;
  do {
    Json in = {{"maxResults", 2}};
    if (token) in["nextToken"] = *token;
    Json out = Call("DescribeRepositories", in);
    for (const auto& r : out["repositories"]) names.push_back(r["repositoryName"].get<std::string>());
    token = out.contains("nextToken") ? std::optional<std::string>(out["nextToken"].get<std::string>()) : std::nullopt;
  } while (token);
  EXPECT_EQ(names.size(), 5u);
}

TEST_F(EcrTest, PutImageDescribeAndImmutability) {
  Call("CreateRepository", {{"repositoryName", "app"}, {"imageTagMutability", "IMMUTABLE"}});
  std::string m1 = Manifest("layer-one");
  Json put = Call("PutImage", {{"repositoryName", "app"}, {"imageManifest", m1}, {"imageTag", "v1"}});
  std::string d1 = put["image"]["imageId"]["imageDigest"];
  EXPECT_EQ(d1, Sha256Digest(m1));
  EXPECT_EQ(Fail("PutImage", {{"repositoryName", "app"}, {"imageManifest", m1}, {"imageTag", "v1"}}).first,
            "ImageAlreadyExistsException");
  EXPECT_EQ(Fail("PutImage", {{"repositoryName", "app"}, {"imageManifest", Manifest("two")}, {"imageTag", "v1"}}).first,
            "ImageTagAlreadyExistsException");
  EXPECT_EQ(Fail("PutImage", {{"repositoryName", "app"}, {"imageManifest", "{"}}).first, "InvalidParameterException");
  Json missing = {{"schemaVersion", 2},
                  {"config", {{"digest", "sha256:" + std::string(64, 'a')}, {"size", 1}}},
                  {"layers", Json::array()}};
  EXPECT_EQ(Fail("PutImage", {{"repositoryName", "app"}, {"imageManifest", missing.dump()}}).first,
            "LayersNotFoundException");
  EXPECT_EQ(Fail("PutImage", {{"repositoryName", "app"}, {"imageManifest", Manifest("3")}, {"imageDigest", d1}}).first,
            "ImageDigestDoesNotMatchException");

  Json details = Call("DescribeImages", {{"repositoryName", "app"}})["imageDetails"];
  ASSERT_EQ(details.size(), 1u);
  EXPECT_EQ(details[0]["imageDigest"], d1);
  EXPECT_EQ(details[0]["imageTags"], Json::array({"v1"}));
  EXPECT_EQ(details[0]["imageSizeInBytes"], 9);
  EXPECT_EQ(details[0]["imageManifestMediaType"], "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(Fail("DescribeImages", {{"repositoryName", "app"}, {"imageIds", {{{"imageTag", "nope"}}}}}).first,
            "ImageNotFoundException");

  Json got = Call("BatchGetImage", {{"repositoryName", "app"},
                                    {"imageIds", {{{"imageTag", "v1"}}, {{"imageTag", "nope"}}, Json::object()}}});
  ASSERT_EQ(got["images"].size(), 1u);
  EXPECT_EQ(got["images"][0]["imageManifest"], m1);
  ASSERT_EQ(got["failures"].size(), 2u);
  EXPECT_EQ(got["failures"][0]["failureCode"], "ImageNotFound");
  EXPECT_EQ(got["failures"][1]["failureCode"], "MissingDigestAndTag");

  EXPECT_EQ(Fail("DeleteRepository", {{"repositoryName", "app"}}).first, "RepositoryNotEmptyException");
  Json del = Call("BatchDeleteImage", {{"repositoryName", "app"}, {"imageIds", {{{"imageTag", "v1"}}}}});
  EXPECT_EQ(del["imageIds"][0]["imageDigest"], d1);
  EXPECT_TRUE(Call("ListImages", {{"repositoryName", "app"}})["imageIds"].empty());
}

TEST_F(EcrTest, MutableTagMovesAndUntaggedFilter) {
  Call("CreateRepository", {{"repositoryName", "app"}});
  Call("PutImage", {{"repositoryName", "app"}, {"imageManifest", Manifest("a")}, {"imageTag", "latest"}});
  clock_.Advance(1);
  Call("PutImage", {{"repositoryName", "app"}, {"imageManifest", Manifest("b")}, {"imageTag", "latest"}});
  EXPECT_EQ(Call("DescribeImages", {{"repositoryName", "app"}, {"filter", {{"tagStatus", "UNTAGGED"}}}})["imageDetails"].size(),
            1u);
  Json ids = Call("ListImages", {{"repositoryName", "app"}})["imageIds"];
  EXPECT_EQ(ids.size(), 2u);
}

TEST_F(EcrTest, LifecyclePolicyValidatesAndExpires) {
  Call("CreateRepository", {{"repositoryName", "app"}});
  EXPECT_EQ(Fail("GetLifecyclePolicy", {{"repositoryName", "app"}}).first, "LifecyclePolicyNotFoundException");
  Json bad = {{"rules", Json::array({{{"rulePriority", 1},
                                      {"selection", {{"tagStatus", "tagged"}, {"countType", "imageCountMoreThan"}, {"countNumber", 1}}},
                                      {"action", {{"type", "expire"}}}}})}};
  auto f = Fail("PutLifecyclePolicy", {{"repositoryName", "app"}, {"lifecyclePolicyText", bad.dump()}});
  EXPECT_EQ(f.first, "InvalidParameterException");
  EXPECT_NE(f.second.find("Lifecycle policy validation failure"), std::string::npos) << f.second;
  Json policy = {{"rules", Json::array({{{"rulePriority", 1},
                                         {"description", "keep two"},
                                         {"selection", {{"tagStatus", "any"}, {"countType", "imageCountMoreThan"}, {"countNumber", 2}}},
                                         {"action", {{"type", "expire"}}}}})}};
  Call("PutLifecyclePolicy", {{"repositoryName", "app"}, {"lifecyclePolicyText", policy.dump()}});
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(10);
    Call("PutImage", {{"repositoryName", "app"}, {"imageManifest", Manifest("l" + std::to_string(i))},
                      {"imageTag", "t" + std::to_string(i)}});
  }
  Json details = Call("DescribeImages", {{"repositoryName", "app"}})["imageDetails"];
  ASSERT_EQ(details.size(), 2u);
  EXPECT_EQ(details[0]["imageTags"][0], "t2");
  EXPECT_EQ(details[1]["imageTags"][0], "t3");
  EXPECT_EQ(Call("GetLifecyclePolicy", {{"repositoryName", "app"}})["lifecyclePolicyText"], policy.dump());
  Call("DeleteLifecyclePolicy", {{"repositoryName", "app"}});
  EXPECT_EQ(Fail("DeleteLifecyclePolicy", {{"repositoryName", "app"}}).first, "LifecyclePolicyNotFoundException");
}

TEST(EcrLifecycle, SinceImagePushedAndPrefixes) {
  auto rules = ParseLifecyclePolicy(
      R"({"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},
                   {"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]})");
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  std::vector<LifecycleImage> images = {{"a", {"prod-1"}, 100}, {"b", {"prod-2"}, 200}, {"c", {}, 0}, {"d", {}, 86400 * 2}};
  auto expired = ExpiredImages(*rules, images, 86400 * 2 + 10);
  EXPECT_EQ(expired, (std::vector<std::string>{"a", "c"}));
  EXPECT_FALSE(ParseLifecyclePolicy(
                   R"({"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},
                                {"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]})")
                   .ok());
  EXPECT_FALSE(ParseLifecyclePolicy("not json").ok());
}

TEST_F(EcrTest, RegistryPushAndPull) {
  Call("CreateRepository", {{"repositoryName", "app"}});
  // No credentials: the Basic challenge.
  HttpResponse r = Registry("GET", "/v2/");
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(HeaderOf(r, "WWW-Authenticate").find("Basic realm="), std::string::npos);
  EXPECT_EQ(Registry("GET", "/v2/", "", kecs::Base64Encode("AWS:wrong")).status, 401);
  std::string token = Token();
  EXPECT_EQ(Registry("GET", "/v2/", "", token).status, 200);

  // A chunked upload with a wrong digest is refused; the right one stores the blob.
  std::string layer = "layer bytes";
  r = Registry("POST", "/v2/app/blobs/uploads/", "", token);
  ASSERT_EQ(r.status, 202);
  std::string loc = HeaderOf(r, "Location");
  r = Registry("PATCH", loc, layer.substr(0, 5), token);
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(HeaderOf(r, "Range"), "0-4");
  r = Registry("PUT", loc + "?digest=" + Sha256Digest("other"), layer.substr(5), token);
  EXPECT_EQ(r.status, 400);
  r = Registry("POST", "/v2/app/blobs/uploads/", "", token);
  loc = HeaderOf(r, "Location");
  Registry("PATCH", loc, layer.substr(0, 5), token);
  r = Registry("PUT", loc + "?digest=" + Sha256Digest(layer), layer.substr(5), token);
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(HeaderOf(r, "Docker-Content-Digest"), Sha256Digest(layer));
  std::string config = "{}";
  r = Registry("POST", "/v2/app/blobs/uploads/?digest=" + Sha256Digest(config), config, token);
  ASSERT_EQ(r.status, 201);
  r = Registry("HEAD", "/v2/app/blobs/" + Sha256Digest(layer), "", token);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(HeaderOf(r, "Content-Length"), std::to_string(layer.size()));
  EXPECT_EQ(Registry("GET", "/v2/app/blobs/" + Sha256Digest(layer), "", token).body, layer);
  EXPECT_EQ(Registry("HEAD", "/v2/app/blobs/" + Sha256Digest("none"), "", token).status, 404);
  EXPECT_EQ(Registry("HEAD", "/v2/nope/blobs/" + Sha256Digest(layer), "", token).status, 404);

  Json m = {{"schemaVersion", 2},
            {"mediaType", "application/vnd.docker.distribution.manifest.v2+json"},
            {"config", {{"mediaType", "application/vnd.docker.container.image.v1+json"}, {"digest", Sha256Digest(config)}, {"size", 2}}},
            {"layers", Json::array({{{"mediaType", "application/vnd.docker.image.rootfs.diff.tar.gzip"},
                                     {"digest", Sha256Digest(layer)},
                                     {"size", static_cast<int64_t>(layer.size())}}})}};
  std::string body = m.dump();
  r = Registry("PUT", "/v2/app/manifests/latest", body, token, "application/vnd.docker.distribution.manifest.v2+json");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(HeaderOf(r, "Docker-Content-Digest"), Sha256Digest(body));
  r = Registry("GET", "/v2/app/manifests/latest", "", token);
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(HeaderOf(r, "Content-Type"), "application/vnd.docker.distribution.manifest.v2+json");
  EXPECT_EQ(Registry("GET", "/v2/app/manifests/" + Sha256Digest(body), "", token).status, 200);
  EXPECT_EQ(Registry("GET", "/v2/app/manifests/nope", "", token).status, 404);
  EXPECT_EQ(Json::parse(Registry("GET", "/v2/app/tags/list", "", token).body)["tags"], Json::array({"latest"}));

  Json details = Call("DescribeImages", {{"repositoryName", "app"}})["imageDetails"];
  ASSERT_EQ(details.size(), 1u);
  EXPECT_EQ(details[0]["imageDigest"], Sha256Digest(body));
  EXPECT_EQ(details[0]["imageSizeInBytes"], static_cast<int64_t>(layer.size()));

  // Immutable: the same tag on another manifest is TAG_INVALID.
  Call("PutImageTagMutability", {{"repositoryName", "app"}, {"imageTagMutability", "IMMUTABLE"}});
  Json m2 = m;
  m2["annotations"] = {{"x", "y"}};
  r = Registry("PUT", "/v2/app/manifests/latest", m2.dump(), token, "application/vnd.docker.distribution.manifest.v2+json");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("TAG_INVALID"), std::string::npos);
  // The same push again is fine.
  EXPECT_EQ(Registry("PUT", "/v2/app/manifests/latest", body, token).status, 201);
  // A manifest naming a blob that is not here.
  m2["layers"][0]["digest"] = Sha256Digest("absent");
  r = Registry("PUT", "/v2/app/manifests/other", m2.dump(), token);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("MANIFEST_BLOB_UNKNOWN"), std::string::npos);
}

TEST_F(EcrTest, TokensExpireAndPullCredentials) {
  Json data = Call("GetAuthorizationToken", Json::object())["authorizationData"][0];
  EXPECT_EQ(data["expiresAt"].get<double>(), clock_.Now() + 12 * 3600);
  EXPECT_EQ(data["proxyEndpoint"], std::string("http://") + kHost);
  auto decoded = kecs::Base64Decode(data["authorizationToken"].get<std::string>());
  ASSERT_TRUE(decoded.ok());
  ASSERT_TRUE(decoded->starts_with("AWS:"));
  EXPECT_TRUE(api_->TokenValid(kRegion, decoded->substr(4), clock_.Now()));
  EXPECT_FALSE(api_->TokenValid(kRegion, decoded->substr(4), clock_.Now() + 12 * 3600 + 1));
  EXPECT_TRUE(api_->PullCredentials(kHost).has_value());
  EXPECT_FALSE(api_->PullCredentials("000000000000.dkr.ecr.us-east-1.localhost:9999").has_value());
  EXPECT_FALSE(api_->PullCredentials("docker.io").has_value());
  EXPECT_EQ(RegionOfRegistryHost("000000000000.dkr.ecr.eu-west-2.localhost:1", kAccount), "eu-west-2");
}

}  // namespace
}  // namespace kecs::api::ecr
