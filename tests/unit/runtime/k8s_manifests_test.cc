// Golden-file tests of the Kubernetes mapping (runtime/kubernetes/manifests.h): the objects
// a task, its public ports, its security groups and a Cloud Map service become, compared
// byte for byte with testdata/k8s/<case>.json. tests/e2e/test_k8s_manifests_schema.py
// validates every golden against the Kubernetes OpenAPI schema (npm kubernetes-models).
// After an intended change:
//   KECS_UPDATE_GOLDEN=1 build/tests/kecs_unit_tests --gtest_filter='K8sManifests*'
#include "runtime/kubernetes/manifests.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "model/task.h"
#include "unit/support/golden.h"

namespace kecs::runtime::kubernetes {
namespace {

namespace fs = std::filesystem;

fs::path Golden(const std::string& name) { return fs::path(KECS_TESTDATA_DIR) / "k8s" / (name + ".json"); }

void ExpectGolden(const std::string& name, const Json& j) { testing::ExpectGoldenText(Golden(name), j.dump(2) + "\n"); }

TaskSpec Task(model::NetworkMode mode) {
  TaskSpec t;
  t.task_id = "0123456789abcdef0123456789abcdef";
  t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/demo/" + t.task_id;
  t.cluster = "demo";
  t.family = "web";
  t.network.mode = mode;
  ContainerSpec web;
  web.name = "web";
  web.image = "public.ecr.aws/docker/library/busybox:latest";
  web.entry_point = {"/bin/httpd"};
  web.command = {"-f", "-p", "80"};
  web.environment = {{"STAGE", "test"}};
  web.working_directory = "/www";
  web.user = "1000:1000";
  web.cpu_units = 256;
  web.memory_mib = 512;
  web.memory_reservation_mib = 128;
  web.stop_timeout_s = 10;
  web.ports = {{"tcp", 80, mode == model::NetworkMode::kBridge ? 49153 : 0, ""}};
  web.health_check = model::HealthCheck{{"CMD-SHELL", "wget -q -O- localhost/ || exit 1"}, 10, 3, 2, 5};
  web.depends_on = {{"Init_Job", model::DependencyCondition::kSuccess}};
  ContainerSpec init;
  init.name = "Init_Job";
  init.image = "public.ecr.aws/docker/library/busybox:latest";
  init.command = {"sh", "-c", "echo ready"};
  init.essential = false;
  t.containers = {web, init};
  if (mode == model::NetworkMode::kAwsvpc) {
    t.network.eni_id = "eni-0a1b2c3d4e5f60718";
    t.network.ip = "10.0.1.10";
  }
  return t;
}

PodFacts Facts(model::NetworkMode mode) {
  PodFacts f;
  f.region = "us-east-1";
  f.revision = 3;
  f.launch_type = mode == model::NetworkMode::kAwsvpc ? "FARGATE" : "EC2";
  if (mode == model::NetworkMode::kAwsvpc) {
    f.subnets = {"subnet-0aa", "subnet-0bb"};
    f.security_groups = {"sg-0frontend", "sg-0web"};
  }
  f.node = "node-a";
  return f;
}

TEST(K8sManifestsGolden, PodPerNetworkMode) {
  for (auto [mode, name] : {std::pair{model::NetworkMode::kAwsvpc, "pod-awsvpc"},
                            std::pair{model::NetworkMode::kBridge, "pod-bridge"},
                            std::pair{model::NetworkMode::kHost, "pod-host"},
                            std::pair{model::NetworkMode::kNone, "pod-none"}}) {
    SCOPED_TRACE(name);
    ExpectGolden(name, PodManifest(Task(mode), Facts(mode)));
  }
  ExpectGolden("namespace", NamespaceManifest("demo", "us-east-1"));
  ExpectGolden("networkpolicy-none", NoNetworkPolicyManifest("demo-us-east-1"));
}

TEST(K8sManifestsGolden, AssignPublicIpIsANodePortService) {
  TaskSpec t = Task(model::NetworkMode::kAwsvpc);
  t.network.published = {{"tcp", 80, 32007, ""}, {"udp", 53, 32999, ""}};
  Json svc = NodePortServiceManifest(t, "us-east-1");
  ExpectGolden("service-nodeport", svc);
  EXPECT_EQ(svc["spec"]["ports"][0]["nodePort"], 30007);  // 30000 + (32007 - 32000)
  EXPECT_EQ(svc["spec"]["ports"][1]["nodePort"], 30999);
  t.network.published = {{"tcp", 80, 49153, ""}};  // a bridge mapping: not a public port
  EXPECT_TRUE(NodePortServiceManifest(t, "us-east-1").is_null());
}

TEST(K8sManifestsGolden, SecurityGroupWithAGroupReferenceACidrAndEgress) {
  net::SecurityGroupPolicy g;
  g.id = "sg-0web";
  g.rules = {
      {"sgr-1", false, "tcp", 80, 80, "", "", "sg-0frontend", ""},
      {"sgr-2", false, "tcp", 8000, 8100, "10.0.0.0/16", "", "", ""},
      {"sgr-3", false, "icmp", 8, -1, "0.0.0.0/0", "", "", ""},  // not expressible: left out
      {"sgr-4", true, "-1", -1, -1, "0.0.0.0/0", "", "", ""},
      {"sgr-5", true, "udp", 53, 53, "", "::/0", "", ""},
  };
  Json p = NetworkPolicyManifest(g, "demo-us-east-1");
  ExpectGolden("networkpolicy-sg", p);
  EXPECT_EQ(p["spec"]["ingress"].size(), 2u);
  EXPECT_EQ(p["spec"]["egress"].size(), 2u);
}

// A secret variable's value goes in the task's Secret; the Pod names it with secretKeyRef.
TEST(K8sManifestsGolden, SecretsAreASecretThePodReads) {
  TaskSpec t = Task(model::NetworkMode::kAwsvpc);
  t.containers[0].environment = {{"STAGE", "test"}, {"DB_PASSWORD", "s3cret-value"}, {"api key!", "k-123"}};
  PodFacts f = Facts(model::NetworkMode::kAwsvpc);
  EXPECT_TRUE(SecretManifest(t, f).is_null()) << "no secret variables, no Secret";
  f.secret_env["web"] = {"DB_PASSWORD", "api key!"};
  Json secret = SecretManifest(t, f);
  ExpectGolden("secret", secret);
  Json pod = PodManifest(t, f);
  ExpectGolden("pod-secrets", pod);
  EXPECT_EQ(pod.dump().find("s3cret-value"), std::string::npos) << "a secret value in the Pod";
  EXPECT_EQ(pod.dump().find("k-123"), std::string::npos);
  EXPECT_EQ(secret["data"][SecretKey(0, "DB_PASSWORD")], "czNjcmV0LXZhbHVl");  // base64("s3cret-value")
  EXPECT_EQ(SecretKey(0, "api key!"), "c0.api_20key_21");
  EXPECT_NE(SecretKey(0, "a_b"), SecretKey(0, "a.b"));
}

// Volumes: task-scoped ones are emptyDirs, host paths, shared Docker volumes and EFS file
// systems directories of the node; mountPoints and volumesFrom are volumeMounts.
TEST(K8sManifestsGolden, VolumesAndMounts) {
  TaskSpec t = Task(model::NetworkMode::kAwsvpc);
  model::Volume scratch;
  scratch.name = "scratch";
  model::Volume host;
  host.name = "Host_Data";
  host.host_source_path = "/srv/data";
  model::Volume shared;
  shared.name = "cache";
  shared.kind = model::Volume::Kind::kDocker;
  shared.docker.scope = "shared";
  model::Volume efs;
  efs.name = "efs";
  efs.kind = model::Volume::Kind::kEfs;
  efs.efs.file_system_id = "fs-0123";
  efs.efs.root_directory = "/exports";
  t.volumes = {scratch, host, shared, efs};
  t.containers[0].mount_points = {{"scratch", "/tmp/s", false}, {"Host_Data", "/data", true}, {"efs", "/mnt/efs", false}};
  t.containers[1].mount_points = {{"cache", "/cache", false}};
  t.containers[1].volumes_from = {{"web", true}};
  Json pod = PodManifest(t, Facts(model::NetworkMode::kAwsvpc));
  ExpectGolden("pod-volumes", pod);
  ASSERT_EQ(pod["spec"]["volumes"].size(), 4u);
  EXPECT_TRUE(pod["spec"]["volumes"][0].contains("emptyDir"));
  EXPECT_EQ(pod["spec"]["volumes"][1]["hostPath"]["path"], "/srv/data");
  EXPECT_EQ(pod["spec"]["volumes"][3]["hostPath"]["path"], "/var/lib/kecs/efs/fs-0123/exports");
  // Init_Job (an init container) mounts web's volumes read-only, then its own.
  const Json& init_mounts = pod["spec"]["initContainers"][0]["volumeMounts"];
  ASSERT_EQ(init_mounts.size(), 4u);
  EXPECT_EQ(init_mounts[0]["mountPath"], "/tmp/s");
  EXPECT_EQ(init_mounts[0]["readOnly"], true);
  EXPECT_EQ(init_mounts[3]["mountPath"], "/cache");
  EXPECT_FALSE(init_mounts[3].contains("readOnly"));
}

TEST(K8sManifestsGolden, CloudMapServiceIsAHeadlessService) {
  ExpectGolden("service-headless", HeadlessServiceManifest("srv-0123456789abcdef", "backend", "demo-us-east-1"));
}

TEST(K8sManifests, NamesAreDnsLabelsAndLabelValuesAreBounded) {
  EXPECT_EQ(NamespaceName("My_Cluster", "eu-west-1"), "my-cluster-eu-west-1");
  std::string long_name(200, 'a');
  std::string ns = NamespaceName(long_name, "us-east-1");
  EXPECT_EQ(ns.size(), 63u);
  EXPECT_NE(ns, NamespaceName(long_name + "b", "us-east-1"));  // the hash tells them apart
  EXPECT_EQ(LabelValue("-web:app_1-"), "web-app_1");
  EXPECT_EQ(LabelValue(std::string(100, 'x')).size(), 63u);
  TaskSpec t = Task(model::NetworkMode::kAwsvpc);
  t.containers[1].name = "WEB";  // the same label as "web" once lowercased
  auto names = PodContainerNames(t);
  EXPECT_EQ(names[0], "web");
  EXPECT_EQ(names[1], "web-2");
}

TEST(K8sManifests, PodLabelsAndAnnotationsAreTheDesignNotes) {
  Json pod = PodManifest(Task(model::NetworkMode::kAwsvpc), Facts(model::NetworkMode::kAwsvpc));
  const Json& l = pod["metadata"]["labels"];
  EXPECT_EQ(l["kecs.dev/task-id"], "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(l["kecs.dev/cluster"], "demo");
  EXPECT_EQ(l["kecs.dev/task-family"], "web");
  EXPECT_EQ(l["kecs.dev/task-revision"], "3");
  EXPECT_EQ(l["kecs.dev/launch-type"], "FARGATE");
  EXPECT_EQ(l["kecs.dev/managed-by"], "kecs");
  EXPECT_EQ(l["kecs.dev/sg-sg-0web"], "true");
  const Json& a = pod["metadata"]["annotations"];
  EXPECT_EQ(a["ecs.amazonaws.com/network-mode"], "awsvpc");
  EXPECT_EQ(a["ecs.amazonaws.com/subnets"], "subnet-0aa,subnet-0bb");
  EXPECT_EQ(a["ecs.amazonaws.com/security-groups"], "sg-0frontend,sg-0web");
  EXPECT_EQ(a["ecs.amazonaws.com/assign-public-ip"], "DISABLED");
  EXPECT_EQ(a["kecs.dev/task-arn"], "arn:aws:ecs:us-east-1:000000000000:task/demo/0123456789abcdef0123456789abcdef");
  // The non-essential container the web container waits for with SUCCESS runs first.
  EXPECT_EQ(pod["spec"]["initContainers"][0]["name"], "init-job");
  EXPECT_EQ(pod["spec"]["nodeName"], "node-a");
}

}  // namespace
}  // namespace kecs::runtime::kubernetes
