#include "model/oci.h"

#include <gtest/gtest.h>

#include "base/json.h"

namespace kecs::model::oci {
namespace {

TEST(OciSpecCodec, KeepsMembersItDoesNotModelVerbatim) {
  const std::string text = R"({
  "ociVersion": "1.0.2",
  "process": {"terminal": false, "args": ["sh"], "env": [], "cwd": "/", "user": {"uid": 1, "gid": 2, "additionalGids": [3]},
              "capabilities": {}, "noNewPrivileges": true, "rlimits": []},
  "root": {"path": "rootfs", "readonly": true},
  "hooks": {"prestart": [{"path": "/bin/true"}]},
  "linux": {"resources": {"pids": {"limit": 10}, "cpu": {"shares": 5}}, "namespaces": [{"type": "pid"}],
            "seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}, "cgroupsPath": "a/b"}
})";
  auto spec = DecodeSpec(text);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ(spec->oci_version, "1.0.2");
  ASSERT_TRUE(spec->process && spec->process->user);
  EXPECT_EQ(spec->process->user->additional_gids, std::vector<int64_t>{3});
  ASSERT_TRUE(spec->linux_spec && spec->linux_spec->resources);
  EXPECT_EQ(spec->linux_spec->resources->cpu_shares, 5);
  auto again = ParseJson(EncodeSpec(*spec));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ((*again)["hooks"], Json::parse(R"({"prestart": [{"path": "/bin/true"}]})"));
  EXPECT_EQ((*again)["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ALLOW");
  EXPECT_EQ((*again)["linux"]["resources"]["pids"]["limit"], 10);
  EXPECT_EQ((*again)["linux"]["cgroupsPath"], "a/b");
  EXPECT_EQ((*again)["root"]["readonly"], true);
  // Decoding what it wrote gives the same record.
  auto twice = DecodeSpec(EncodeSpec(*spec));
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(EncodeSpec(*twice), EncodeSpec(*spec));
}

TEST(OciSpecCodec, WrongTypesAreInvalidArgumentsNamingTheMember) {
  auto bad = DecodeSpec(R"({"process": {"args": "sh"}})");
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("process.args"), std::string::npos) << bad.status().message();
  EXPECT_EQ(DecodeSpec("{not json").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DecodeSpec(R"({"linux": {"resources": {"memory": {"limit": "1G"}}}})").status().code(),
            Code::kInvalidArgument);
  EXPECT_TRUE(DecodeSpec("").ok()) << "no config: an empty spec";
}

TEST(ImageLayoutCodec, ReadsIndexManifestAndConfiguration) {
  auto idx = DecodeImageIndex(
      R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
      R"("digest":"sha256:ab","size":192,"annotations":{"org.opencontainers.image.ref.name":"image"}}]})");
  ASSERT_TRUE(idx.ok()) << idx.status().message();
  ASSERT_EQ(idx->manifests.size(), 1u);
  EXPECT_EQ(idx->manifests[0].digest, "sha256:ab");
  EXPECT_EQ(idx->manifests[0].ref_name, "image");
  EXPECT_EQ(idx->manifests[0].size, 192);
  auto man = DecodeImageManifest(R"({"config":{"digest":"sha256:cd"},"layers":[{"digest":"sha256:ef"}]})");
  ASSERT_TRUE(man.ok());
  EXPECT_EQ(man->config.digest, "sha256:cd");
  ASSERT_EQ(man->layers.size(), 1u);
  auto cfg = DecodeImageConfig(R"({"config":{"Entrypoint":["/e"],"Cmd":null,"Env":["A=1"],"WorkingDir":"/w","User":"1"}})");
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->entrypoint, std::vector<std::string>{"/e"});
  EXPECT_TRUE(cfg->cmd.empty()) << "a null Cmd is none";
  EXPECT_EQ(cfg->working_dir, "/w");
  EXPECT_EQ(DecodeImageConfig(R"({"config":{"Cmd":[1]}})").status().code(), Code::kInvalidArgument);
  auto tags = DecodeDockerArchiveRepoTags(R"([{"RepoTags":["a:1","b:2"]},{"RepoTags":null},{"Config":"x"}])");
  ASSERT_TRUE(tags.ok());
  EXPECT_EQ(*tags, (std::vector<std::string>{"a:1", "b:2"}));
}

TEST(RegistryAuthFile, IsContainersAuthJsonWithBase64Credentials) {
  EXPECT_EQ(EncodeRegistryAuthFile({{"ghcr.io", "user:pass"}}), R"({"auths":{"ghcr.io":{"auth":"dXNlcjpwYXNz"}}})");
  // Every padding length.
  EXPECT_EQ(EncodeRegistryAuthFile({{"h", "a"}}), R"({"auths":{"h":{"auth":"YQ=="}}})");
  EXPECT_EQ(EncodeRegistryAuthFile({{"h", "ab"}}), R"({"auths":{"h":{"auth":"YWI="}}})");
  EXPECT_EQ(EncodeRegistryAuthFile({{"h", "abc"}}), R"({"auths":{"h":{"auth":"YWJj"}}})");
  EXPECT_EQ(EncodeRegistryAuthFile({{"h", "u:p\"w"}}), R"({"auths":{"h":{"auth":"dTpwInc="}}})");
}

}  // namespace
}  // namespace kecs::model::oci
