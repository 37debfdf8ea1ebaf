// What kecs reads of a Kubernetes Node (runtime/kubernetes/nodes.h): every quantity form
// the API server may send, each label and its deprecated fallback, and bad input as errors.
#include "runtime/kubernetes/nodes.h"

#include <gtest/gtest.h>

namespace kecs::runtime::kubernetes {
namespace {

TEST(K8sQuantity, CpuInEveryFormIsEcsCpuUnitsRoundedDown) {
  struct Case {
    const char* q;
    int64_t units;
  } cases[] = {
      {"2", 2048},  {"1500m", 1536}, {"0.5", 512},  {".5", 512},   {"1.", 1024}, {"+4", 4096},
      {"100m", 102}, {"0.1", 102},   {"1", 1024},   {"3900m", 3993}, {"1k", 1024000},
      {"2e0", 2048}, {"500000u", 512}, {"500000000n", 512}, {"0", 0},
  };
  for (const auto& c : cases) {
    auto r = CpuUnits(c.q);
    ASSERT_TRUE(r.ok()) << c.q << ": " << r.status().message();
    EXPECT_EQ(*r, c.units) << c.q;
  }
}

TEST(K8sQuantity, MemoryInEveryFormIsMibRoundedDown) {
  struct Case {
    const char* q;
    int64_t mib;
  } cases[] = {
      {"8Gi", 8192},      {"8192Mi", 8192},     {"8388608Ki", 8192}, {"8G", 7629},
      {"1e9", 953},       {"1E9", 953},         {"1e+9", 953},       {"8589934592", 8192},
      {"16279500Ki", 15897}, {"1Ti", 1048576}, {"0.5Gi", 512},      {"1048575", 0},
      {"1000M", 953},     {"2048k", 1},
  };
  for (const auto& c : cases) {
    auto r = MemoryMib(c.q);
    ASSERT_TRUE(r.ok()) << c.q << ": " << r.status().message();
    EXPECT_EQ(*r, c.mib) << c.q;
  }
}

TEST(K8sQuantity, BadQuantitiesAreErrorsNotZeros) {
  for (const char* q : {"", "abc", "Gi", "8 Gi", "8gi", "8GiB", "-1", "1.2.3", "1e", "1e9999", "0x10", "1Xi",
                        "NaN", "inf", "e9", "8Gi ", " 8Gi", "1e1000000000"}) {
    EXPECT_FALSE(ParseQuantity(q).ok()) << "'" << q << "'";
    EXPECT_FALSE(MemoryMib(q).ok()) << "'" << q << "'";
  }
  EXPECT_EQ(ParseQuantity("-1").status().code(), Code::kInvalidArgument);
}

Json Node(Json labels, Json allocatable = {{"cpu", "3900m"}, {"memory", "16279500Ki"}, {"pods", "110"}}) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", "ip-10-0-1-5.ec2.internal"}, {"uid", "5a1c-77"}, {"labels", labels}}},
          {"spec", {{"providerID", "aws:///us-east-1b/i-0abc1234def567890"}}},
          {"status",
           {{"capacity", {{"cpu", "4"}, {"memory", "16381900Ki"}, {"pods", "110"}}},
            {"allocatable", allocatable},
            {"conditions", {{{"type", "MemoryPressure"}, {"status", "False"}}, {{"type", "Ready"}, {"status", "True"}}}},
            {"addresses", {{{"type", "Hostname"}, {"address", "ip-10-0-1-5"}}, {{"type", "InternalIP"}, {"address", "10.0.1.5"}},
                           {{"type", "InternalIP"}, {"address", "10.0.1.6"}}}},
            {"nodeInfo", {{"architecture", "arm64"}, {"operatingSystem", "linux"}}}}}};
}

TEST(K8sNodes, ReadsAnEksNodeWithCurrentLabels) {
  Json labels = {{"topology.kubernetes.io/zone", "us-east-1b"},
                 {"topology.kubernetes.io/region", "us-east-1"},
                 {"node.kubernetes.io/instance-type", "m5.xlarge"},
                 {"kubernetes.io/arch", "amd64"},
                 {"kubernetes.io/os", "linux"},
                 {"failure-domain.beta.kubernetes.io/zone", "us-east-1z"},
                 {"beta.kubernetes.io/instance-type", "t3.old"}};
  auto n = NodeFromJson(Node(labels));
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(n->name, "ip-10-0-1-5.ec2.internal");
  EXPECT_EQ(n->uid, "5a1c-77");
  EXPECT_EQ(n->cpu_units, 3993);
  EXPECT_EQ(n->memory_mib, 15897);
  EXPECT_EQ(n->pods, 110);
  EXPECT_EQ(n->zone, "us-east-1b");  // the current label wins over the deprecated one
  EXPECT_EQ(n->region, "us-east-1");
  EXPECT_EQ(n->instance_type, "m5.xlarge");
  EXPECT_EQ(n->arch, "amd64");  // the label wins over nodeInfo
  EXPECT_EQ(n->os, "linux");
  EXPECT_TRUE(n->ready);
  EXPECT_FALSE(n->unschedulable);
  EXPECT_EQ(n->internal_ip, "10.0.1.5");
  EXPECT_EQ(n->ec2_instance_id, "i-0abc1234def567890");
  EXPECT_EQ(NodeEc2InstanceId(*n), "i-0abc1234def567890");
  EXPECT_EQ(n->labels.at("beta.kubernetes.io/instance-type"), "t3.old");
}

TEST(K8sNodes, FallsBackToDeprecatedLabelsThenNodeInfo) {
  Json labels = {{"failure-domain.beta.kubernetes.io/zone", "eu-west-1c"},
                 {"failure-domain.beta.kubernetes.io/region", "eu-west-1"},
                 {"beta.kubernetes.io/instance-type", "c5.large"},
                 {"beta.kubernetes.io/os", "linux"}};
  auto n = NodeFromJson(Node(labels));
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(n->zone, "eu-west-1c");
  EXPECT_EQ(n->region, "eu-west-1");
  EXPECT_EQ(n->instance_type, "c5.large");
  EXPECT_EQ(n->os, "linux");
  EXPECT_EQ(n->arch, "arm64");  // no arch label: status.nodeInfo
  labels["beta.kubernetes.io/arch"] = "amd64";
  labels.erase("beta.kubernetes.io/os");
  n = NodeFromJson(Node(labels));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->arch, "amd64");  // the beta label before nodeInfo
  EXPECT_EQ(n->os, "linux");    // no os label: status.nodeInfo
  Json bare = Node(Json::object());
  bare["status"].erase("nodeInfo");
  n = NodeFromJson(bare);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->zone, "");
  EXPECT_EQ(n->instance_type, "");
  EXPECT_EQ(n->arch, "");
}

TEST(K8sNodes, ReadinessCordonTaintsAndAKindNodeWithoutProviderId) {
  Json j = Node(Json::object());
  j["metadata"]["name"] = "kind-worker";
  j["spec"] = {{"unschedulable", true},
               {"taints", {{{"key", "node.kubernetes.io/unschedulable"}, {"effect", "NoSchedule"}},
                           {{"key", "dedicated"}, {"value", "gpu"}, {"effect", "NoExecute"}}}},
               {"providerID", "kind://docker/kind/kind-worker"}};
  j["status"]["conditions"] = {{{"type", "Ready"}, {"status", "Unknown"}}};
  auto n = NodeFromJson(j);
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_FALSE(n->ready);
  EXPECT_TRUE(n->unschedulable);
  ASSERT_EQ(n->taints.size(), 2u);
  EXPECT_EQ(n->taints[1], (NodeTaint{"dedicated", "gpu", "NoExecute"}));
  EXPECT_EQ(n->ec2_instance_id, "");
  // A derived id: stable, EC2-shaped, from the uid (the name only without one).
  std::string id = NodeEc2InstanceId(*n);
  EXPECT_EQ(id.size(), 19u);
  EXPECT_TRUE(id.starts_with("i-"));
  EXPECT_EQ(id, NodeEc2InstanceId(*NodeFromJson(j)));
  NodeInfo other = *n;
  other.uid = "another-uid";
  EXPECT_NE(NodeEc2InstanceId(other), id);
  other.uid = "";
  EXPECT_NE(NodeEc2InstanceId(other), NodeEc2InstanceId(NodeInfo{.name = "kind-worker2"}));
}

TEST(K8sNodes, CapacityStandsInForMissingAllocatable) {
  auto n = NodeFromJson(Node(Json::object(), Json::object()));
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(n->cpu_units, 4096);
  EXPECT_EQ(n->memory_mib, 15997);
}

TEST(K8sNodes, BadInputIsAnErrorThatNamesTheNodeAndField) {
  auto n = NodeFromJson(Node(Json::object(), {{"cpu", "4 cores"}, {"memory", "8Gi"}}));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), Code::kInvalidArgument);
  EXPECT_NE(n.status().message().find("ip-10-0-1-5.ec2.internal"), std::string::npos) << n.status().message();
  EXPECT_NE(n.status().message().find("allocatable.cpu"), std::string::npos) << n.status().message();
  EXPECT_FALSE(NodeFromJson(Node(Json::object(), {{"cpu", "2"}, {"memory", "-8Gi"}})).ok());
  Json no_resources = Node(Json::object());
  no_resources["status"].erase("allocatable");
  no_resources["status"].erase("capacity");
  EXPECT_FALSE(NodeFromJson(no_resources).ok());
  Json unnamed = Node(Json::object());
  unnamed["metadata"].erase("name");
  EXPECT_FALSE(NodeFromJson(unnamed).ok());
  EXPECT_FALSE(NodeFromJson(Json::array()).ok());
  EXPECT_FALSE(NodeFromJson(Json()).ok());
}

}  // namespace
}  // namespace kecs::runtime::kubernetes
