// Key pairs' fingerprints and key material, and launch templates' version logic, through
// the helpers and the real EC2 handlers (no router, no HTTP).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "api/ec2/ec2_api.h"
#include "api/ec2/key_pairs.h"
#include "api/ec2/launch_templates.h"
#include "api/router.h"
#include "base/value_cipher.h"
#include "model/shapes.h"
#include "net/domain/vpc.h"
#include "state/store.h"
#include "unit/support/ec2_handlers.h"
#include "unit/support/temp_dir.h"

namespace kecs::api::ec2 {
namespace {

// Fixtures made with ssh-keygen; the expected values are what `ssh-keygen -lf` and
// `ssh-keygen -e -m PKCS8 | openssl pkey -pubin -outform DER | openssl md5 -c` print.
constexpr const char* kEd25519Pub =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMmpSi8YEMd+B64lc3WXXv3YJOwaQuLh3qsVvRhfpkjg c";
constexpr const char* kRsaPub =
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDV+7R7OySrdhP6cG2PPJM1zQKHJLspX0U8Fn/mxpQw8OudVGsh0t1TJoR7qCAHncx3SzJ7AEZ9ee"
    "7VtN9ddTy4tbCSDZg190R4DsEJYqnL17CqghhlWxC9uUt8pqMXxWfine4m1tSpufMO1SWi6day301aMKg7unsN+VrC11kcqLViB7MWp0J/6JmHhagP"
    "rRfDdCophjfPpYre3faW4Wu01128TPahmvS4qs78vhS0uvaiz7az1aLPm/6bXnUDeyYN5mq1PFxf6Zum9rkMc5qzxYO6POB0lUAVUmxgisii+dTjbRCx"
    "nGVV1IreazO381hRNjJeYwUYQx5PHj4Tf+sl c";

TEST(KeyPairFingerprints, ImportedKeysAsAwsComputesThem) {
  auto ed = keys::ParseOpenSshPublicKey(kEd25519Pub);
  ASSERT_TRUE(ed.ok()) << ed.status().ToString();
  EXPECT_EQ(ed->type, "ed25519");
  EXPECT_EQ(ed->fingerprint, "M1SDiFvM4f1BvO63dipfBKG79/MfPRorAWeWyul7YIQ=");
  EXPECT_EQ(ed->openssh, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMmpSi8YEMd+B64lc3WXXv3YJOwaQuLh3qsVvRhfpkjg");
  auto rsa = keys::ParseOpenSshPublicKey(kRsaPub);
  ASSERT_TRUE(rsa.ok()) << rsa.status().ToString();
  EXPECT_EQ(rsa->type, "rsa");
  EXPECT_EQ(rsa->fingerprint, "40:47:f5:2a:d9:63:dd:d9:fc:76:af:a9:ae:39:26:ed");
}

TEST(KeyPairFingerprints, GarbageIsRefused) {
  for (const char* bad : {"", "ssh-rsa", "ssh-rsa !!!", "ssh-dss AAAAB3NzaC1kc3MAAAA=",
                          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMmp",  // truncated blob
                          "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIMmpSi8YEMd+B64lc3WXXv3YJOwaQuLh3qsVvRhfpkjg",  // type mismatch
                          "-----BEGIN RSA PRIVATE KEY-----"}) {
    EXPECT_FALSE(keys::ParseOpenSshPublicKey(bad).ok()) << bad;
  }
}

TEST(KeyPairFingerprints, CreatedRsaKeyIsPkcs1WithSha1OfPkcs8) {
  auto g = keys::Generate("rsa");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_TRUE(g->private_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
  BIO* bio = BIO_new_mem_buf(g->private_pem.data(), static_cast<int>(g->private_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(EVP_PKEY_get_bits(key), 2048);
  PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(key);
  unsigned char* der = nullptr;
  int n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
  unsigned char md[20];
  unsigned int md_n = 0;
  EVP_Digest(der, static_cast<size_t>(n), md, &md_n, EVP_sha1(), nullptr);
  OPENSSL_free(der);
  PKCS8_PRIV_KEY_INFO_free(p8);
  EVP_PKEY_free(key);
  EXPECT_EQ(g->fingerprint, keys::ColonHex(std::string(reinterpret_cast<char*>(md), md_n)));
  EXPECT_EQ(g->fingerprint.size(), 59u);  // 20 bytes as aa:bb:...
  // Its public key reads back as an OpenSSH key.
  EXPECT_TRUE(keys::ParseOpenSshPublicKey(g->public_openssh).ok());
}

TEST(KeyPairFingerprints, CreatedEd25519KeyIsOpenSshFormat) {
  auto g = keys::Generate("ed25519");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_TRUE(g->private_pem.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
  EXPECT_TRUE(g->private_pem.ends_with("-----END OPENSSH PRIVATE KEY-----\n"));
  auto pub = keys::ParseOpenSshPublicKey(g->public_openssh);
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(pub->fingerprint, g->fingerprint);
  std::string b64;
  size_t begin = g->private_pem.find('\n') + 1;
  size_t end = g->private_pem.find("-----END");
  for (char c : g->private_pem.substr(begin, end - begin)) {
    if (c != '\n') b64.push_back(c);
  }
  auto body = Base64Decode(b64);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->substr(0, 15), std::string("openssh-key-v1", 15));
}

TEST(LaunchTemplateVersions, ResolveAliasesAndNumbers) {
  EXPECT_EQ(lt::ResolveVersion("$Latest", 2, 5), 5);
  EXPECT_EQ(lt::ResolveVersion("$Default", 2, 5), 2);
  EXPECT_EQ(lt::ResolveVersion("3", 2, 5), 3);
  EXPECT_EQ(lt::ResolveVersion("9", 2, 5), 9);  // existence is the caller's check
  EXPECT_EQ(lt::ResolveVersion("0", 2, 5), std::nullopt);
  EXPECT_EQ(lt::ResolveVersion("-1", 2, 5), std::nullopt);
  EXPECT_EQ(lt::ResolveVersion("$latest", 2, 5), std::nullopt);
  EXPECT_EQ(lt::ResolveVersion("", 2, 5), std::nullopt);
  EXPECT_EQ(lt::ResolveVersion("1x", 2, 5), std::nullopt);
  EXPECT_EQ(lt::ResolveVersion("99999999999999999999", 2, 5), std::nullopt);
}

TEST(LaunchTemplateVersions, SourceVersionMergesTopLevelMembers) {
  Json source = {{"ImageId", "ami-1"}, {"InstanceType", "t3.micro"}, {"SecurityGroupIds", {"sg-1", "sg-2"}}};
  Json merged = lt::MergeData(source, {{"InstanceType", "m5.large"}, {"SecurityGroupIds", {"sg-3"}}});
  EXPECT_EQ(merged, (Json{{"ImageId", "ami-1"}, {"InstanceType", "m5.large"}, {"SecurityGroupIds", {"sg-3"}}}));
  EXPECT_EQ(lt::MergeData(source, Json::object()), source);
}

TEST(LaunchTemplateVersions, Names) {
  EXPECT_TRUE(lt::ValidName("abc"));
  EXPECT_TRUE(lt::ValidName("a-b_c.(d)/e"));
  EXPECT_TRUE(lt::ValidName(std::string(128, 'x')));
  EXPECT_FALSE(lt::ValidName("ab"));
  EXPECT_FALSE(lt::ValidName(std::string(129, 'x')));
  EXPECT_FALSE(lt::ValidName("has space"));
  EXPECT_FALSE(lt::ValidName("star*"));
}

class LaunchTemplatesTest : public testing::Ec2HandlersTest {
 protected:
  Result<Json> Data(const std::string& id_or_name, const std::string& version) {
    Result<Json> out = Internal("unset");
    EXPECT_TRUE(store_->Read([&](state::Tx& tx) {
      out = LaunchTemplateData(tx, "us-east-1", id_or_name, version);
      return Status::Ok();
    }).ok());
    return out;
  }
};

TEST_F(LaunchTemplatesTest, VersionsDefaultLatestAndTheAccessor) {
  Json t = Call("CreateLaunchTemplate", {{"LaunchTemplateName", "web"},
                                         {"LaunchTemplateData", {{"ImageId", "ami-1"}, {"InstanceType", "t3.micro"}}}});
  std::string id = t["LaunchTemplate"]["LaunchTemplateId"];
  EXPECT_EQ(t["LaunchTemplate"]["DefaultVersionNumber"], 1);
  EXPECT_EQ(t["LaunchTemplate"]["LatestVersionNumber"], 1);
  Json v2 = Call("CreateLaunchTemplateVersion", {{"LaunchTemplateId", id}, {"SourceVersion", "1"},
                                                 {"LaunchTemplateData", {{"InstanceType", "m5.large"}}}});
  EXPECT_EQ(v2["LaunchTemplateVersion"]["VersionNumber"], 2);
  EXPECT_EQ(v2["LaunchTemplateVersion"]["DefaultVersion"], false);
  EXPECT_EQ(v2["LaunchTemplateVersion"]["LaunchTemplateData"],
            (Json{{"ImageId", "ami-1"}, {"InstanceType", "m5.large"}}));
  Call("CreateLaunchTemplateVersion", {{"LaunchTemplateName", "web"}, {"LaunchTemplateData", {{"ImageId", "ami-3"}}}});

  EXPECT_EQ(*Data(id, ""), (Json{{"ImageId", "ami-1"}, {"InstanceType", "t3.micro"}}));
  EXPECT_EQ(*Data("web", "$Latest"), (Json{{"ImageId", "ami-3"}}));
  EXPECT_EQ(*Data("web", "2"), v2["LaunchTemplateVersion"]["LaunchTemplateData"]);
  EXPECT_EQ(Data("web", "4").status().code(), Code::kNotFound);
  EXPECT_EQ(Data("nope", "").status().code(), Code::kNotFound);

  Json m = Call("ModifyLaunchTemplate", {{"LaunchTemplateName", "web"}, {"DefaultVersion", "2"}});
  EXPECT_EQ(m["LaunchTemplate"]["DefaultVersionNumber"], 2);
  EXPECT_EQ(m["LaunchTemplate"]["LatestVersionNumber"], 3);
  EXPECT_EQ(*Data("web", "$Default"), v2["LaunchTemplateVersion"]["LaunchTemplateData"]);
  EXPECT_EQ(Refusal("ModifyLaunchTemplate", {{"LaunchTemplateId", id}, {"DefaultVersion", "7"}}),
            "InvalidLaunchTemplateId.VersionNotFound: Could not find the specified version 7 for the launch "
            "template with ID " + id + ".");
  // A refused change leaves the default where it was.
  EXPECT_EQ(*Data("web", ""), v2["LaunchTemplateVersion"]["LaunchTemplateData"]);

  Json all = Call("DescribeLaunchTemplateVersions", {{"LaunchTemplateId", id}});
  ASSERT_EQ(all["LaunchTemplateVersions"].size(), 3u);
  EXPECT_EQ(all["LaunchTemplateVersions"][0]["VersionNumber"], 3);  // newest first
  Json ranged = Call("DescribeLaunchTemplateVersions", {{"LaunchTemplateId", id}, {"MinVersion", "2"}, {"MaxVersion", "$Latest"}});
  EXPECT_EQ(ranged["LaunchTemplateVersions"].size(), 2u);
  Json dflt = Call("DescribeLaunchTemplateVersions", {{"LaunchTemplateId", id}, {"Versions", {"$Default"}}});
  ASSERT_EQ(dflt["LaunchTemplateVersions"].size(), 1u);
  EXPECT_EQ(dflt["LaunchTemplateVersions"][0]["VersionNumber"], 2);
  EXPECT_EQ(dflt["LaunchTemplateVersions"][0]["DefaultVersion"], true);

  // Without a template, $Latest and $Default are read from every template.
  Call("CreateLaunchTemplate", {{"LaunchTemplateName", "dbs"}, {"LaunchTemplateData", {{"ImageId", "ami-9"}}}});
  Json across = Call("DescribeLaunchTemplateVersions", {{"Versions", {"$Latest"}}});
  ASSERT_EQ(across["LaunchTemplateVersions"].size(), 2u);
  EXPECT_EQ(across["LaunchTemplateVersions"][0]["LaunchTemplateName"], "web");
  EXPECT_EQ(across["LaunchTemplateVersions"][0]["VersionNumber"], 3);
  EXPECT_EQ(across["LaunchTemplateVersions"][1]["LaunchTemplateName"], "dbs");
  EXPECT_EQ(Refusal("DescribeLaunchTemplateVersions", {{"Versions", {"1"}}}),
            "MissingParameter: The request must contain the parameter LaunchTemplateName or LaunchTemplateId");

  Call("DeleteLaunchTemplate", {{"LaunchTemplateId", id}});
  EXPECT_EQ(Data(id, "").status().code(), Code::kNotFound);
  // The name can be used again.
  Call("CreateLaunchTemplate", {{"LaunchTemplateName", "web"}, {"LaunchTemplateData", Json::object()}});
}

}  // namespace
}  // namespace kecs::api::ec2
