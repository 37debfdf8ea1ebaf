#include "model/instance_types.h"

#include <set>

#include <gtest/gtest.h>

namespace kecs::model {
namespace {

TEST(InstanceTypeCatalog, HoldsEveryFamilyAndSizeSorted) {
  const auto& all = AllInstanceTypes();
  EXPECT_EQ(all.size(), 119u);
  std::set<std::string> families;
  for (size_t i = 0; i < all.size(); ++i) {
    families.insert(std::string(all[i].family()));
    if (i > 0) {
      EXPECT_LT(all[i - 1].name, all[i].name);
    }
    EXPECT_GT(all[i].max_enis, 1) << all[i].name;
    EXPECT_EQ(all[i].vcpus, all[i].cores * all[i].threads_per_core) << all[i].name;
  }
  EXPECT_EQ(families, (std::set<std::string>{"a1", "c5", "c6g", "c6i", "m5", "m6g", "m6i", "m7g", "r5",
                                             "r6g", "r6i", "t3", "t3a", "t4g"}));
}

TEST(InstanceTypeCatalog, KnownValues) {
  const InstanceType* m5 = FindInstanceType("m5.large");
  ASSERT_NE(m5, nullptr);
  EXPECT_EQ(m5->vcpus, 2);
  EXPECT_EQ(m5->memory_mib, 8192);
  EXPECT_EQ(m5->max_enis, 3);
  EXPECT_EQ(m5->ipv4_per_eni, 10);
  EXPECT_EQ(m5->trunk_tasks, 10);
  EXPECT_EQ(m5->arch, Arch::kX86_64);
  EXPECT_EQ(m5->hypervisor(), "nitro");
  EXPECT_FALSE(m5->burstable);

  const InstanceType* t3 = FindInstanceType("t3.micro");
  ASSERT_NE(t3, nullptr);
  EXPECT_EQ(t3->max_enis, 2);
  EXPECT_EQ(t3->trunk_tasks, 0);
  EXPECT_TRUE(t3->burstable);
  EXPECT_EQ(AwsvpcTaskLimit(*t3, false), 1);
  EXPECT_EQ(AwsvpcTaskLimit(*t3, true), 1);  // not trunking-capable: ENIs - 1

  const InstanceType* metal = FindInstanceType("c6g.metal");
  ASSERT_NE(metal, nullptr);
  EXPECT_TRUE(metal->bare_metal);
  EXPECT_EQ(metal->hypervisor(), "");
  EXPECT_EQ(metal->arch, Arch::kArm64);

  EXPECT_EQ(AwsvpcTaskLimit(*m5, false), 2);
  EXPECT_EQ(AwsvpcTaskLimit(*m5, true), 10);
  EXPECT_EQ(FindInstanceType("m5.huge"), nullptr);
  EXPECT_EQ(FindInstanceType(""), nullptr);
  EXPECT_EQ(FindInstanceType("a1.medium")->memory_mib, 2048);
  EXPECT_EQ(FindInstanceType("r6i.32xlarge")->memory_mib, 1048576);
}

TEST(ImageCatalog, StableIdsPerRegion) {
  const auto& east = ImagesIn("us-east-1");
  ASSERT_EQ(east.size(), 8u);
  EXPECT_EQ(ImagesIn("us-east-1")[0].id, east[0].id);
  EXPECT_NE(ImagesIn("eu-west-1")[0].id, east[0].id);
  EXPECT_EQ(ImagesIn("eu-west-1")[0].name, east[0].name);
  for (const auto& im : east) {
    EXPECT_EQ(im.id.size(), 21u) << im.id;  // ami- + 17 hex
    EXPECT_EQ(im.id.rfind("ami-0", 0), 0u);
    EXPECT_EQ(FindImage("us-east-1", im.id), &im);
    EXPECT_EQ(im.owner_id, "591542846629");
  }
  EXPECT_EQ(FindImage("eu-west-1", east[0].id), nullptr);
  EXPECT_EQ(ImageId("us-east-1", "x"), ImageId("us-east-1", "x"));
  bool found = false;
  for (const auto& im : east) found |= im.name == "al2023-ami-ecs-hvm-2023.0.20241115-kernel-6.1-x86_64";
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace kecs::model
