// The topology page's snapshot (api/ui/snapshot.h), built from a real store through the
// real EC2 handlers and the task and service records: what it shows of VPCs, subnets,
// security-group edges, tasks, services and Cloud Map names. No root.
#include "api/ui/snapshot.h"

#include <gtest/gtest.h>

#include <string>

#include "model/kinds.h"
#include "model/service.h"
#include "model/task.h"
#include "net/domain/discovery.h"
#include "state/records/services.h"
#include "state/records/tasks.h"
#include "unit/support/ec2_handlers.h"

namespace kecs::api::ui {
namespace {

class SnapshotTest : public testing::Ec2HandlersTest {
 protected:
  void SetUp() override {
    Ec2HandlersTest::SetUp();
    vpc_ = Call("CreateVpc", {{"CidrBlock", "10.0.0.0/16"}})["Vpc"]["VpcId"];
    subnet_ = Call("CreateSubnet", {{"VpcId", vpc_}, {"CidrBlock", "10.0.1.0/24"}})["Subnet"]["SubnetId"];
    web_ = Call("CreateSecurityGroup", {{"GroupName", "web"}, {"Description", "web"}, {"VpcId", vpc_}})["GroupId"];
    lb_ = Call("CreateSecurityGroup", {{"GroupName", "lb"}, {"Description", "lb"}, {"VpcId", vpc_}})["GroupId"];
  }

  Json FromGroup(const std::string& group, int port) {
    return Json::array({{{"IpProtocol", "tcp"}, {"FromPort", port}, {"ToPort", port},
                         {"UserIdGroupPairs", Json::array({{{"GroupId", group}}})}}});
  }

  Snapshot Build() {
    Snapshot out;
    Status st = store_->Read([&](state::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(out, BuildSnapshot(tx));
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  const GroupEdge* FindEdge(const Snapshot& s, const std::string& from, const std::string& to, int64_t port) {
    for (const auto& e : s.edges) {
      if (e.from == from && e.to == to && e.from_port == port) return &e;
    }
    return nullptr;
  }

  model::Task Task(const std::string& id, model::TaskStatus status, const std::string& ip) {
    model::Task t;
    t.region = "us-east-1";
    t.id = id;
    t.cluster = "default";
    t.family = "web";
    t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/default/" + id;
    t.task_definition_arn = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3";
    t.cluster_arn = "arn:aws:ecs:us-east-1:000000000000:cluster/default";
    t.last_status = status;
    t.group = "service:web";
    t.internal.network_mode = model::NetworkMode::kAwsvpc;
    t.internal.network.security_groups = {web_};
    model::TaskEni eni;
    eni.id = "eni-0123456789abcdef0";
    eni.ip = ip;
    eni.subnet_id = subnet_;
    eni.vpc_id = vpc_;
    t.internal.network.eni = eni;
    t.internal.network.published = {{"app", "tcp", 80, 32001, "0.0.0.0"}};
    model::Container c;
    c.name = "app";
    t.containers = {c};
    return t;
  }

  std::string vpc_, subnet_, web_, lb_;
};

TEST_F(SnapshotTest, VpcsSubnetsAndTheirAddressUsage) {
  Snapshot s = Build();
  const VpcNode* vpc = nullptr;
  for (const auto& v : s.vpcs) {
    if (v.id == vpc_) vpc = &v;
  }
  ASSERT_NE(vpc, nullptr);
  EXPECT_EQ(vpc->cidr, "10.0.0.0/16");
  ASSERT_EQ(vpc->subnets.size(), 1u);
  EXPECT_EQ(vpc->subnets[0].id, subnet_);
  EXPECT_EQ(vpc->subnets[0].total, 251);  // a /24 less AWS's five
  EXPECT_EQ(vpc->subnets[0].available, 251);
  // An interface takes an address: the subnet's usage shows it.
  Call("CreateNetworkInterface", {{"SubnetId", subnet_}});
  s = Build();
  for (const auto& v : s.vpcs) {
    if (v.id == vpc_) {
      EXPECT_EQ(v.subnets[0].available, 250);
    }
  }
}

TEST_F(SnapshotTest, IngressRulesAreEdgesAndARevokedRuleRemovesItsEdge) {
  Call("AuthorizeSecurityGroupIngress", {{"GroupId", web_}, {"IpPermissions", FromGroup(lb_, 80)}});
  Call("AuthorizeSecurityGroupIngress",
       {{"GroupId", lb_},
        {"IpPermissions", Json::array({{{"IpProtocol", "tcp"}, {"FromPort", 443}, {"ToPort", 443},
                                        {"IpRanges", Json::array({{{"CidrIp", "0.0.0.0/0"}}})}}})}});
  Snapshot s = Build();
  const GroupEdge* e = FindEdge(s, lb_, web_, 80);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->from_kind, "group");
  EXPECT_EQ(e->protocol, "tcp");
  EXPECT_EQ(e->to_port, 80);
  EXPECT_FALSE(e->flows.has_value());  // no flow data yet
  const GroupEdge* world = FindEdge(s, "0.0.0.0/0", lb_, 443);
  ASSERT_NE(world, nullptr);
  EXPECT_EQ(world->from_kind, "cidr");
  // Egress rules are not edges (every group has its allow-all egress rule).
  for (const auto& edge : s.edges) EXPECT_FALSE(edge.protocol == "-1" && edge.from == "0.0.0.0/0") << edge.to;

  Call("RevokeSecurityGroupIngress", {{"GroupId", web_}, {"IpPermissions", FromGroup(lb_, 80)}});
  s = Build();
  EXPECT_EQ(FindEdge(s, lb_, web_, 80), nullptr);
  EXPECT_NE(FindEdge(s, "0.0.0.0/0", lb_, 443), nullptr);
}

TEST_F(SnapshotTest, TasksServicesAndCloudMapNames) {
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) -> Status {
    RETURN_IF_ERROR(state::records::PutTask(tx, Task("0123456789abcdef0123456789abcdef", model::TaskStatus::kRunning, "10.0.1.10")));
    RETURN_IF_ERROR(state::records::PutTask(tx, Task("fedcba9876543210fedcba9876543210", model::TaskStatus::kPending, "10.0.1.11")));
    RETURN_IF_ERROR(state::records::PutTask(tx, Task("00000000000000000000000000000000", model::TaskStatus::kStopped, "10.0.1.12")));
    state::Object ns{net::discovery::kNamespace, "us-east-1", "ns-abcdefabcdefabcd"};
    ns.name = "internal.local";
    ns.doc = {{"Id", ns.id}, {"Name", "internal.local"}};
    RETURN_IF_ERROR(tx.Put(ns));
    state::Object srv{net::discovery::kService, "us-east-1", "srv-abcdefabcdefabcd", ns.id, "web"};
    srv.doc = {{"Id", srv.id}, {"Name", "web"}, {"NamespaceId", ns.id},
               {"Arn", "arn:aws:servicediscovery:us-east-1:000000000000:service/srv-abcdefabcdefabcd"}};
    RETURN_IF_ERROR(tx.Put(srv));
    state::Object inst{net::discovery::kInstance, "us-east-1", "srv-abcdefabcdefabcd/0123", srv.id, "0123"};
    inst.doc = {{"Id", "0123"}, {"Attributes", {{"AWS_INSTANCE_IPV4", "10.0.1.10"}, {"AWS_INSTANCE_PORT", "80"}}},
                {"kecs:health", "HEALTHY"}};
    RETURN_IF_ERROR(tx.Put(inst));
    model::Service svc;
    svc.region = "us-east-1";
    svc.cluster = "default";
    svc.name = "web";
    svc.arn = "arn:aws:ecs:us-east-1:000000000000:service/default/web";
    svc.desired_count = 3;
    model::Deployment d;
    d.id = "ecs-svc/1234567890123456789";
    d.task_definition = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3";
    d.desired_count = 3;
    svc.deployments = {d};
    svc.service_registries = {{srv.doc["Arn"], std::nullopt, std::nullopt, std::nullopt}};
    svc.network_configuration = {{"awsvpcConfiguration", {{"subnets", {subnet_}}, {"securityGroups", {web_}}}}};
    return state::records::PutService(tx, svc);
  }).ok());

  Snapshot s = Build();
  ASSERT_EQ(s.tasks.size(), 2u);  // the STOPPED one is left out
  const TaskNode& t = s.tasks[0].id == "0123456789abcdef0123456789abcdef" ? s.tasks[0] : s.tasks[1];
  EXPECT_EQ(t.last_status, "RUNNING");
  EXPECT_EQ(t.service, "web");
  ASSERT_TRUE(t.eni.has_value());
  EXPECT_EQ(t.eni->private_ip, "10.0.1.10");
  EXPECT_EQ(t.eni->subnet_id, subnet_);
  EXPECT_EQ(t.eni->security_groups, std::vector<std::string>{web_});
  ASSERT_EQ(t.host_ports.size(), 1u);
  EXPECT_EQ(t.host_ports[0].host_port, 32001);
  EXPECT_EQ(t.containers, std::vector<std::string>{"app"});

  ASSERT_EQ(s.services.size(), 1u);
  const ServiceNode& svc = s.services[0];
  EXPECT_EQ(svc.desired, 3);
  EXPECT_EQ(svc.running, 1);
  EXPECT_EQ(svc.pending, 1);
  EXPECT_EQ(svc.dns_names, std::vector<std::string>{"web.internal.local"});
  EXPECT_EQ(svc.security_groups, std::vector<std::string>{web_});
  ASSERT_EQ(svc.deployments.size(), 1u);
  EXPECT_EQ(svc.deployments[0].status, "PRIMARY");

  ASSERT_EQ(s.discovery.size(), 1u);
  EXPECT_EQ(s.discovery[0].dns_name, "web.internal.local");
  ASSERT_EQ(s.discovery[0].instances.size(), 1u);
  EXPECT_EQ(s.discovery[0].instances[0].ipv4, "10.0.1.10");
}

TEST_F(SnapshotTest, JsonKeepsAPlaceForFlowsAndShowsNoInternalMembers) {
  Call("AuthorizeSecurityGroupIngress", {{"GroupId", web_}, {"IpPermissions", FromGroup(lb_, 80)}});
  Snapshot s = Build();
  Json j = SnapshotToJson(s);
  for (const char* k : {"vpcs", "securityGroups", "edges", "tasks", "services", "loadBalancers", "cloudMap"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  bool found = false;
  for (const auto& e : j["edges"]) {
    if (e["from"] == lb_ && e["to"] == web_) {
      found = true;
      EXPECT_TRUE(e.contains("flows"));
      EXPECT_TRUE(e["flows"].is_null());
    }
  }
  EXPECT_TRUE(found);
  // Filled in, the counts appear on the edge.
  s.edges[0].flows = FlowCount{10, 1500, 9, 1};
  Json filled = SnapshotToJson(s);
  EXPECT_EQ(filled["edges"][0]["flows"]["packets"], 10);
  EXPECT_EQ(filled["edges"][0]["flows"]["rejected"], 1);
  EXPECT_EQ(j.dump().find("kecs:"), std::string::npos);
}

}  // namespace
}  // namespace kecs::api::ui

namespace kecs::api::ui {
namespace {

// Flows on edges: built by hand (the snapshot's own tests cover BuildSnapshot).
Snapshot TwoTierSnapshot() {
  Snapshot s;
  s.groups = {{"sg-web", "web", "vpc-1"}, {"sg-lb", "lb", "vpc-1"}, {"sg-other", "other", "vpc-2"}};
  GroupEdge from_lb{"sg-lb", "group", "sg-web", "tcp", 80, 80, std::nullopt};
  GroupEdge from_cidr{"10.9.0.0/16", "cidr", "sg-web", "tcp", 8000, 8100, std::nullopt};
  GroupEdge icmp{"sg-lb", "group", "sg-web", "icmp", -1, -1, std::nullopt};
  s.edges = {from_lb, from_cidr, icmp};
  auto task = [](const std::string& ip, const std::string& group, const std::string& vpc) {
    TaskNode t;
    t.eni = EniNode{"eni-" + ip, "subnet-1", vpc, ip, std::nullopt, std::nullopt, {group}};
    return t;
  };
  s.tasks = {task("10.0.1.10", "sg-web", "vpc-1"), task("10.0.1.20", "sg-lb", "vpc-1"),
             task("10.0.1.10", "sg-lb", "vpc-2")};  // the same address in another VPC
  return s;
}

TEST(UiFlowsOnEdges, EachFlowCountsOnTheEdgesThatAdmitIt) {
  Snapshot s = TwoTierSnapshot();
  AddFlowsToEdges(s, {
      {"vpc-1", "10.0.1.20", "10.0.1.10", 6, 80, true, 3, 30, 4000},    // lb -> web:80
      {"vpc-1", "10.9.3.4", "10.0.1.10", 6, 8050, true, 1, 5, 600},     // the CIDR -> web:8050
      {"vpc-1", "10.9.3.4", "10.0.1.10", 6, 8200, false, 2, 2, 120},    // outside the port range
      {"vpc-1", "10.0.1.20", "10.0.1.10", 6, 81, false, 1, 3, 180},     // port 81: no edge admits it
      {"vpc-2", "10.0.1.20", "10.0.1.10", 6, 80, true, 7, 7, 700},      // another VPC's addresses
      {"vpc-1", "10.0.1.20", "10.0.1.10", 1, 0, true, 1, 2, 168},       // ping lb -> web
  });
  ASSERT_TRUE(s.edges[0].flows);
  EXPECT_EQ(s.edges[0].flows->accepted, 3);
  EXPECT_EQ(s.edges[0].flows->packets, 30);
  EXPECT_EQ(s.edges[0].flows->bytes, 4000);
  EXPECT_EQ(s.edges[0].flows->rejected, 0);
  ASSERT_TRUE(s.edges[1].flows);
  EXPECT_EQ(s.edges[1].flows->accepted, 1);
  EXPECT_EQ(s.edges[1].flows->bytes, 600);
  ASSERT_TRUE(s.edges[2].flows);
  EXPECT_EQ(s.edges[2].flows->packets, 2);
  Snapshot quiet = TwoTierSnapshot();
  AddFlowsToEdges(quiet, {});
  for (const auto& e : quiet.edges) EXPECT_FALSE(e.flows);
}

}  // namespace
}  // namespace kecs::api::ui
