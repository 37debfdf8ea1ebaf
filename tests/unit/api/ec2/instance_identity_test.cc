// The instance identity document, its signatures, and ECS_CLUSTER in user data.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <string>

#include "api/ec2/instance_identity.h"
#include "api/ec2/instances.h"
#include "base/env.h"
#include "base/value_cipher.h"

namespace kecs::api::ec2 {
namespace {

Json Instance() {
  return {{"InstanceId", "i-0123456789abcdef0"}, {"ImageId", "ami-0123456789abcdef0"},
          {"InstanceType", "m5.large"}, {"Architecture", "x86_64"},
          {"Placement", {{"AvailabilityZone", "us-east-1a"}}}, {"PrivateIpAddress", "10.0.1.4"},
          {"LaunchTime", 1700000000.0}, {"kecs:pendingTime", 1700000000.0}};
}

TEST(InstanceIdentityTest, DocumentHasAwsMembersInOrder) {
  Json d = InstanceIdentityDocument(Instance(), "us-east-1", "000000000000");
  std::vector<std::string> keys;
  for (auto it = d.begin(); it != d.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"accountId", "architecture", "availabilityZone", "billingProducts",
                                            "devpayProductCodes", "marketplaceProductCodes", "imageId", "instanceId",
                                            "instanceType", "kernelId", "pendingTime", "privateIp", "ramdiskId",
                                            "region", "version"}));
  EXPECT_EQ(d["pendingTime"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(d["version"], "2017-09-30");
  EXPECT_TRUE(d["kernelId"].is_null());
}

TEST(InstanceIdentityTest, SignatureRoundTrip) {
  auto signer = IdentitySigner::InMemory();
  ASSERT_TRUE(signer.ok()) << signer.status().message();
  std::string text = IdentityDocumentText(InstanceIdentityDocument(Instance(), "us-east-1", "000000000000"));
  auto sig = (*signer)->Signature(text);
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE((*signer)->Verify(text, *sig));
  auto p7 = (*signer)->Pkcs7(text);
  ASSERT_TRUE(p7.ok());
  EXPECT_NE(p7->find('\n'), std::string::npos);  // 64-column lines
  EXPECT_TRUE((*signer)->Verify(text, *p7));
  EXPECT_TRUE((*signer)->Verify(text, "-----BEGIN PKCS7-----\n" + *p7 + "\n-----END PKCS7-----\n"));
  // A changed document, a foreign key or garbage do not verify.
  std::string changed = text;
  changed.replace(changed.find("m5.large"), 8, "m5.xlarg");
  EXPECT_FALSE((*signer)->Verify(changed, *sig));
  EXPECT_FALSE((*signer)->Verify(changed, *p7));
  auto other = IdentitySigner::InMemory();
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE((*other)->Verify(text, *sig));
  EXPECT_FALSE((*other)->Verify(text, *p7));
  EXPECT_FALSE((*signer)->Verify(text, Base64Encode("not a signature")));
  EXPECT_FALSE((*signer)->Verify(text, "%%%"));
}

TEST(InstanceIdentityTest, KeyFileIsMadeOnceWithMode0600) {
  std::string dir = ::testing::TempDir() + "/identity-key-" + std::to_string(::getpid());
  ASSERT_TRUE(Env::Default()->CreateDirs(dir, 0700).ok());
  std::string path = dir + "/instance-identity.key";
  auto a = IdentitySigner::Open(Env::Default(), path);
  ASSERT_TRUE(a.ok()) << a.status().message();
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto b = IdentitySigner::Open(Env::Default(), path);
  ASSERT_TRUE(b.ok());
  auto sig = (*a)->Signature("doc");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE((*b)->Verify("doc", *sig));  // the same key read back
  ::chmod(path.c_str(), 0644);
  auto c = IdentitySigner::Open(Env::Default(), path);
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.status().message().find("PRIVATE"), std::string::npos);
  (void)Env::Default()->RemoveAll(dir);
}

TEST(UserDataClusterTest, ShellScripts) {
  EXPECT_EQ(EcsClusterFromUserData("#!/bin/bash\necho ECS_CLUSTER=prod >> /etc/ecs/ecs.config\n"), "prod");
  EXPECT_EQ(EcsClusterFromUserData("#!/bin/bash\necho \"ECS_CLUSTER=my-cluster\" >> /etc/ecs/ecs.config"), "my-cluster");
  EXPECT_EQ(EcsClusterFromUserData("#!/bin/bash\ncat <<EOF >> /etc/ecs/ecs.config\nECS_CLUSTER='q_1'\nECS_ENABLE_TASK_IAM_ROLE=true\nEOF\n"),
            "q_1");
  EXPECT_EQ(EcsClusterFromUserData("echo ECS_CLUSTER=a >> /etc/ecs/ecs.config; echo ECS_CLUSTER=b >> /etc/ecs/ecs.config"), "b");
  EXPECT_EQ(EcsClusterFromUserData("#!/bin/bash\necho hello\n"), std::nullopt);
  EXPECT_EQ(EcsClusterFromUserData("MY_ECS_CLUSTER=x\n"), std::nullopt);
  EXPECT_EQ(EcsClusterFromUserData(""), std::nullopt);
  // Unclosed quotes and a key without '=' name nothing.
  EXPECT_EQ(EcsClusterFromUserData("echo \"ECS_CLUSTER=\"oops\nECS_CLUSTER\n"), std::nullopt);
  EXPECT_EQ(EcsClusterFromUserData("ECS_CLUSTER = spaced"), "spaced");
}

TEST(UserDataClusterTest, LargeUserDataIsScannedWithoutRecursion) {
  // 16 KB (EC2's limit) in one value, and 16 KB of a key that never completes: both in one
  // pass, no stack growth per character.
  std::string big(16 * 1024, 'x');
  EXPECT_EQ(EcsClusterFromUserData("ECS_CLUSTER=\"" + big + "\""), big);
  std::string noise;
  while (noise.size() < 16 * 1024) noise += "ECS_CLUSTER ";
  EXPECT_EQ(EcsClusterFromUserData(noise), std::nullopt);
  EXPECT_EQ(EcsClusterFromUserData("Content-Type: multipart/mixed; boundary=" + big + "\n\n"), std::nullopt);
}

TEST(UserDataClusterTest, MimeMultipart) {
  std::string mime =
      "Content-Type: multipart/mixed; boundary=\"==MYBOUNDARY==\"\nMIME-Version: 1.0\n\n"
      "--==MYBOUNDARY==\nContent-Type: text/cloud-config; charset=\"us-ascii\"\n\npackages:\n- jq\n\n"
      "--==MYBOUNDARY==\nContent-Type: text/x-shellscript; charset=\"us-ascii\"\n\n#!/bin/bash\n"
      "echo ECS_CLUSTER=from-mime >> /etc/ecs/ecs.config\n--==MYBOUNDARY==--\n";
  EXPECT_EQ(EcsClusterFromUserData(mime), "from-mime");
  std::string b64 =
      "Content-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\nContent-Type: text/x-shellscript\n"
      "Content-Transfer-Encoding: base64\n\n" + Base64Encode("echo ECS_CLUSTER=b64part >> /etc/ecs/ecs.config\n") +
      "\n--XYZ--\n";
  EXPECT_EQ(EcsClusterFromUserData(b64), "b64part");
  std::string qp =
      "Content-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\nContent-Type: text/x-shellscript\n"
      "Content-Transfer-Encoding: quoted-printable\n\necho ECS_CLUSTER=3Dqp >> /etc/ecs/ecs.config\n--XYZ--\n";
  EXPECT_EQ(EcsClusterFromUserData(qp), "qp");  // "=3D" is the "=" itself
  std::string qp2 =
      "Content-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\nContent-Type: text/x-shellscript\n"
      "Content-Transfer-Encoding: quoted-printable\n\necho ECS_CLUSTER=3Dqp-name >> /etc/ecs/ecs.conf=\nig\n--XYZ--\n";
  EXPECT_EQ(EcsClusterFromUserData(qp2), "qp-name");  // with a soft line break
}

TEST(UserDataClusterTest, CloudConfigWriteFiles) {
  std::string cc =
      "#cloud-config\nwrite_files:\n  - path: /etc/ecs/ecs.config\n    content: |\n      ECS_CLUSTER=cc-cluster\n"
      "      ECS_LOGLEVEL=debug\n";
  EXPECT_EQ(EcsClusterFromUserData(cc), "cc-cluster");
}


}  // namespace
}  // namespace kecs::api::ec2
