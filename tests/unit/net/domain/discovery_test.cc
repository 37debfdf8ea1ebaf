#include "net/domain/discovery.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::net::discovery {
namespace {

constexpr const char* kRegion = "us-east-1";
constexpr const char* kAccount = "000000000000";
constexpr const char* kVpc = "vpc-0123456789abcdef0";
constexpr double kNow = 1.7e9;

using kecs::testing::TempDir;

// A store with a private namespace "corp.local" in kVpc; services are added by the tests.
class DiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    ns_id_ = Namespace("DNS_PRIVATE", "corp.local", kVpc, kRegion);
  }

  std::string Namespace(const std::string& type, const std::string& name, const std::string& vpc,
                        const std::string& region) {
    std::string id;
    Status st = store_->Write([&](state::Tx& tx) {
      NamespaceSpec spec;
      spec.type = type;
      spec.name = name;
      spec.vpc_id = vpc;
      ASSIGN_OR_RETURN(auto o, CreateNamespace(tx, region, kAccount, kNow, spec));
      id = o.id;
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return id;
  }

  // A service as CreateService stores it (the parts discovery reads).
  std::string Service(const std::string& ns_id, const std::string& name, const Json& records,
                      const std::string& policy = "MULTIVALUE", bool custom_health = false,
                      const std::string& region = kRegion) {
    std::string id = NewServiceId();
    Json doc = {{"Id", id}, {"Arn", ServiceArn(region, kAccount, id)}, {"Name", name},
                {"NamespaceId", ns_id}, {"InstanceCount", 0}};
    if (!records.empty()) {
      doc["DnsConfig"] = {{"NamespaceId", ns_id}, {"RoutingPolicy", policy}, {"DnsRecords", records}};
    }
    doc["Type"] = records.empty() ? "HTTP" : "DNS_HTTP";
    if (custom_health) doc["HealthCheckCustomConfig"] = {{"FailureThreshold", 1}};
    Status st = store_->Write([&](state::Tx& tx) {
      return tx.Insert({kService, region, id, ns_id, name, "ACTIVE", 0, doc});
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return id;
  }

  Result<std::string> Register(const std::string& service, const std::string& instance, const Json& attrs) {
    Result<std::string> r = Internal("unset");
    Status st = store_->Write([&](state::Tx& tx) {
      r = RegisterInstance(tx, kRegion, kAccount, kNow, service, instance, attrs, "");
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok());
    return r;
  }

  void SetHealth(const std::string& service, const std::string& instance, const std::string& status) {
    Status st = store_->Write([&](state::Tx& tx) {
      return SetInstanceHealth(tx, kRegion, service, instance, status);
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
  }

  DnsAnswer Lookup(const std::string& fqdn, const std::string& vpc = kVpc,
                   const std::string& region = kRegion) {
    DnsAnswer a;
    Status st = store_->Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(a, LookupDns(tx, region, vpc, fqdn));
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return a;
  }

  static std::vector<std::string> Ips(const DnsAnswer& a) {
    std::vector<std::string> out;
    for (const auto& e : a.endpoints) out.push_back(e.ipv4);
    std::sort(out.begin(), out.end());
    return out;
  }

  static Json A(int ttl = 10) { return Json::array({{{"Type", "A"}, {"TTL", ttl}}}); }

  TempDir dir_;
  std::unique_ptr<state::Store> store_;
  std::string ns_id_;
};

TEST_F(DiscoveryTest, IdsLookLikeCloudMaps) {
  EXPECT_EQ(NewNamespaceId().size(), 3u + 16u);
  EXPECT_TRUE(NewServiceId().starts_with("srv-"));
  std::string op = NewOperationId();
  ASSERT_EQ(op.size(), 41u);
  EXPECT_EQ(op[32], '-');
  for (char c : NewServiceId().substr(4)) EXPECT_TRUE(std::islower(c) || std::isdigit(c)) << c;
  EXPECT_EQ(IdFromArnOrId("arn:aws:servicediscovery:us-east-1:0:service/srv-abc"), "srv-abc");
  EXPECT_EQ(IdFromArnOrId("srv-abc"), "srv-abc");
}

TEST_F(DiscoveryTest, MultivalueAnswersEveryHealthyInstance) {
  std::string svc = Service(ns_id_, "web", A(30));
  ASSERT_TRUE(Register(svc, "i-1", {{"AWS_INSTANCE_IPV4", "10.0.0.1"}}).ok());
  ASSERT_TRUE(Register(svc, "i-2", {{"AWS_INSTANCE_IPV4", "10.0.0.2"}}).ok());
  ASSERT_TRUE(Register(svc, "i-3", {{"AWS_INSTANCE_IPV4", "10.0.0.3"}}).ok());
  DnsAnswer a = Lookup("web.corp.local");
  EXPECT_TRUE(a.found);
  EXPECT_FALSE(a.nxdomain);
  EXPECT_EQ(a.routing_policy, "MULTIVALUE");
  EXPECT_TRUE(a.has_a);
  EXPECT_FALSE(a.has_aaaa);
  EXPECT_FALSE(a.has_srv);
  EXPECT_EQ(a.ttl_a, 30);
  EXPECT_EQ(Ips(a), (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  // Names are case-insensitive, and a trailing dot is tolerated.
  EXPECT_EQ(Ips(Lookup("WEB.Corp.Local.")).size(), 3u);
}

TEST_F(DiscoveryTest, AnUnhealthyCustomStatusRemovesAnInstanceAndAllUnhealthyFailsOpen) {
  std::string svc = Service(ns_id_, "api", A(), "MULTIVALUE", /*custom_health=*/true);
  ASSERT_TRUE(Register(svc, "i-1", {{"AWS_INSTANCE_IPV4", "10.0.0.1"}}).ok());
  ASSERT_TRUE(Register(svc, "i-2", {{"AWS_INSTANCE_IPV4", "10.0.0.2"}}).ok());
  SetHealth(svc, "i-1", "UNHEALTHY");
  EXPECT_EQ(Ips(Lookup("api.corp.local")), (std::vector<std::string>{"10.0.0.2"}));
  SetHealth(svc, "i-2", "UNHEALTHY");
  DnsAnswer all = Lookup("api.corp.local");
  EXPECT_EQ(Ips(all), (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  for (const auto& e : all.endpoints) EXPECT_FALSE(e.healthy);
  SetHealth(svc, "i-1", "HEALTHY");
  EXPECT_EQ(Ips(Lookup("api.corp.local")), (std::vector<std::string>{"10.0.0.1"}));
}

TEST_F(DiscoveryTest, InitialHealthFollowsAwsInitHealthStatusOnlyWithACustomHealthCheck) {
  std::string custom = Service(ns_id_, "c", A(), "MULTIVALUE", true);
  ASSERT_TRUE(Register(custom, "i-1", {{"AWS_INSTANCE_IPV4", "10.0.0.1"}, {"AWS_INIT_HEALTH_STATUS", "UNHEALTHY"}}).ok());
  ASSERT_TRUE(Register(custom, "i-2", {{"AWS_INSTANCE_IPV4", "10.0.0.2"}}).ok());
  EXPECT_EQ(Ips(Lookup("c.corp.local")), (std::vector<std::string>{"10.0.0.2"}));
  std::string plain = Service(ns_id_, "p", A());
  ASSERT_TRUE(Register(plain, "i-1", {{"AWS_INSTANCE_IPV4", "10.0.0.1"}, {"AWS_INIT_HEALTH_STATUS", "UNHEALTHY"}}).ok());
  ASSERT_TRUE(Register(plain, "i-2", {{"AWS_INSTANCE_IPV4", "10.0.0.2"}}).ok());
  EXPECT_EQ(Ips(Lookup("p.corp.local")).size(), 2u);
  // No custom health check: no custom status to set.
  Status st = store_->Write([&](state::Tx& tx) { return SetInstanceHealth(tx, kRegion, plain, "i-1", "HEALTHY"); });
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
}

TEST_F(DiscoveryTest, SrvRecordsAndTheirTargets) {
  Json records = Json::array({{{"Type", "SRV"}, {"TTL", 20}}, {{"Type", "A"}, {"TTL", 5}}});
  std::string svc = Service(ns_id_, "_db._tcp", records);
  ASSERT_TRUE(Register(svc, "i-1", {{"AWS_INSTANCE_IPV4", "10.0.0.1"}, {"AWS_INSTANCE_PORT", "5432"}}).ok());
  DnsAnswer a = Lookup("_db._tcp.corp.local");
  EXPECT_TRUE(a.has_srv);
  EXPECT_TRUE(a.has_a);
  EXPECT_EQ(a.ttl_srv, 20);
  ASSERT_EQ(a.endpoints.size(), 1u);
  EXPECT_EQ(a.endpoints[0].port, 5432);
  EXPECT_EQ(a.endpoints[0].instance_id, "i-1");
  // The SRV target "<instance>.<service>.<namespace>" is that one instance.
  DnsAnswer t = Lookup("i-1._db._tcp.corp.local");
  EXPECT_TRUE(t.found);
  EXPECT_FALSE(t.nxdomain);
  ASSERT_EQ(t.endpoints.size(), 1u);
  EXPECT_EQ(t.endpoints[0].ipv4, "10.0.0.1");
  EXPECT_TRUE(t.has_a);
  EXPECT_EQ(t.ttl_a, 5);
  EXPECT_TRUE(Lookup("i-9._db._tcp.corp.local").nxdomain);

  // SRV alone: its targets still have A records, with the SRV record's TTL.
  std::string only = Service(ns_id_, "queue", Json::array({{{"Type", "SRV"}, {"TTL", 7}}}));
  ASSERT_TRUE(Register(only, "q.1", {{"AWS_INSTANCE_IPV4", "10.0.0.9"}, {"AWS_INSTANCE_PORT", "80"}}).ok());
  DnsAnswer q = Lookup("q.1.queue.corp.local");  // instance ids may hold dots
  ASSERT_EQ(q.endpoints.size(), 1u);
  EXPECT_TRUE(q.has_a);
  EXPECT_FALSE(q.has_aaaa);
  EXPECT_EQ(q.ttl_a, 7);
  EXPECT_FALSE(Lookup("queue.corp.local").has_a);
}

TEST_F(DiscoveryTest, AaaaAndWeighted) {
  Json records = Json::array({{{"Type", "A"}, {"TTL", 60}}, {{"Type", "AAAA"}, {"TTL", 61}}});
  std::string svc = Service(ns_id_, "six", records, "WEIGHTED");
  ASSERT_TRUE(Register(svc, "i-1", {{"AWS_INSTANCE_IPV4", "10.0.0.1"}, {"AWS_INSTANCE_IPV6", "2600:1f18::5"}}).ok());
  DnsAnswer a = Lookup("six.corp.local");
  EXPECT_EQ(a.routing_policy, "WEIGHTED");
  EXPECT_TRUE(a.has_aaaa);
  EXPECT_EQ(a.ttl_aaaa, 61);
  ASSERT_EQ(a.endpoints.size(), 1u);
  EXPECT_EQ(a.endpoints[0].ipv6, "2600:1f18::5");
}

TEST_F(DiscoveryTest, WhatTheVpcSees) {
  std::string svc = Service(ns_id_, "web", A());
  ASSERT_TRUE(Register(svc, "i-1", {{"AWS_INSTANCE_IPV4", "10.0.0.1"}}).ok());
  // Another VPC does not see the private namespace; nor does the same VPC id elsewhere.
  EXPECT_FALSE(Lookup("web.corp.local", "vpc-other").found);
  EXPECT_FALSE(Lookup("web.corp.local", kVpc, "eu-west-1").found);
  // Names outside every namespace are not found; unknown names inside are NXDOMAIN.
  EXPECT_FALSE(Lookup("example.com").found);
  EXPECT_FALSE(Lookup("xcorp.local").found);
  DnsAnswer nx = Lookup("nope.corp.local");
  EXPECT_TRUE(nx.found);
  EXPECT_TRUE(nx.nxdomain);
  // The apex exists, with no addresses.
  DnsAnswer apex = Lookup("corp.local");
  EXPECT_TRUE(apex.found);
  EXPECT_FALSE(apex.nxdomain);
  EXPECT_TRUE(apex.endpoints.empty());
  // An API-only service (no DnsConfig) has no DNS name.
  std::string http = Service(ns_id_, "hidden", Json::array());
  ASSERT_TRUE(Register(http, "i-1", {{"anything", "x"}}).ok());
  EXPECT_TRUE(Lookup("hidden.corp.local").nxdomain);
}

TEST_F(DiscoveryTest, PublicNamespacesAreSeenEverywhereAndPrivateOnesHideThem) {
  std::string pub = Namespace("DNS_PUBLIC", "example.com", "", "eu-west-1");
  std::string psvc = Service(pub, "www", A(), "MULTIVALUE", false, "eu-west-1");
  Status st = store_->Write([&](state::Tx& tx) {
    return RegisterInstance(tx, "eu-west-1", kAccount, kNow, psvc, "i-1",
                            {{"AWS_INSTANCE_IPV4", "192.0.2.1"}}, "").status();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Ips(Lookup("www.example.com", "vpc-any")), (std::vector<std::string>{"192.0.2.1"}));
  // A private zone for the same name in this VPC wins, even without the record.
  Namespace("DNS_PRIVATE", "example.com", kVpc, kRegion);
  DnsAnswer hidden = Lookup("www.example.com");
  EXPECT_TRUE(hidden.found);
  EXPECT_TRUE(hidden.nxdomain);
  EXPECT_EQ(Ips(Lookup("www.example.com", "vpc-any")).size(), 1u);
  // The longest namespace wins.
  std::string sub = Namespace("DNS_PRIVATE", "svc.corp.local", kVpc, kRegion);
  std::string s = Service(sub, "db", A());
  ASSERT_TRUE(Register(s, "i-1", {{"AWS_INSTANCE_IPV4", "10.1.0.1"}}).ok());
  EXPECT_EQ(Ips(Lookup("db.svc.corp.local")), (std::vector<std::string>{"10.1.0.1"}));
}

TEST_F(DiscoveryTest, RegisterReplacesDeregisterRemoves) {
  std::string svc = Service(ns_id_, "web", A());
  auto op = Register(svc, "i-1", {{"AWS_INSTANCE_IPV4", "10.0.0.1"}});
  ASSERT_TRUE(op.ok());
  ASSERT_TRUE(Register(svc, "i-1", {{"AWS_INSTANCE_IPV4", "10.0.0.7"}}).ok());
  EXPECT_EQ(Ips(Lookup("web.corp.local")), (std::vector<std::string>{"10.0.0.7"}));
  Status st = store_->Read([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(auto o, tx.Get(kOperation, kRegion, *op));
    EXPECT_TRUE(o.has_value());
    if (o) {
      EXPECT_EQ(JStr(o->doc, "Type"), "REGISTER_INSTANCE");
      EXPECT_EQ(JStr(o->doc, "Status"), "SUCCESS");
      EXPECT_EQ(JStr(o->doc["Targets"], "INSTANCE"), "i-1");
      EXPECT_EQ(JStr(o->doc["Targets"], "SERVICE"), svc);
    }
    ASSIGN_OR_RETURN(auto s, tx.Get(kService, kRegion, svc));
    EXPECT_EQ(JInt(s->doc, "InstanceCount"), 1);
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok());
  st = store_->Write([&](state::Tx& tx) {
    EXPECT_TRUE(DeregisterInstance(tx, kRegion, kAccount, kNow, svc, "i-1").ok());
    EXPECT_EQ(DeregisterInstance(tx, kRegion, kAccount, kNow, svc, "i-1").status().code(), Code::kNotFound);
    EXPECT_EQ(DeregisterInstance(tx, kRegion, kAccount, kNow, "srv-none", "i-1").status().code(), Code::kNotFound);
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(Lookup("web.corp.local").endpoints.empty());
  EXPECT_EQ(Register("srv-none", "i-1", {{"AWS_INSTANCE_IPV4", "10.0.0.1"}}).status().code(), Code::kNotFound);
}

TEST_F(DiscoveryTest, RegisterRefusesAttributesTheRecordsNeed) {
  std::string a = Service(ns_id_, "a", A());
  EXPECT_EQ(Register(a, "i-1", {{"x", "y"}}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Register(a, "i-1", {{"AWS_INSTANCE_IPV4", "10.0.0.300"}}).status().code(), Code::kInvalidArgument);
  std::string srv = Service(ns_id_, "s", Json::array({{{"Type", "SRV"}, {"TTL", 1}}}));
  EXPECT_EQ(Register(srv, "i-1", {{"AWS_INSTANCE_IPV4", "10.0.0.1"}}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Register(srv, "i-1", {{"AWS_INSTANCE_PORT", "80"}}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Register(srv, "i-1", {{"AWS_INSTANCE_IPV4", "10.0.0.1"}, {"AWS_INSTANCE_PORT", "0"}}).status().code(),
            Code::kInvalidArgument);
  EXPECT_TRUE(Lookup("a.corp.local").endpoints.empty());
}

TEST_F(DiscoveryTest, PrivateDnsVpcsListsEachVpcOnce) {
  Namespace("DNS_PRIVATE", "other.local", kVpc, kRegion);
  Namespace("DNS_PRIVATE", "corp.local", "vpc-eu", "eu-west-1");
  Namespace("HTTP", "api-only", "", kRegion);
  Namespace("DNS_PUBLIC", "example.org", "", kRegion);
  std::vector<std::pair<std::string, std::string>> vpcs;
  Status st = store_->Read([&](state::Tx& tx) {
    ASSIGN_OR_RETURN(vpcs, PrivateDnsVpcs(tx));
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok());
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(vpcs, (std::vector<P>{P{kVpc, kRegion}, P{"vpc-eu", "eu-west-1"}}));
}

TEST_F(DiscoveryTest, NamespaceNamesClash) {
  Status st = store_->Write([&](state::Tx& tx) {
    NamespaceSpec spec;
    spec.type = "DNS_PRIVATE";
    spec.name = "corp.local";
    spec.vpc_id = kVpc;
    EXPECT_EQ(CreateNamespace(tx, kRegion, kAccount, kNow, spec).status().code(), Code::kAlreadyExists);
    // The same name in another VPC is another zone, with a distinct HttpName.
    spec.vpc_id = "vpc-2";
    ASSIGN_OR_RETURN(auto o, CreateNamespace(tx, kRegion, kAccount, kNow, spec));
    std::string http = o.doc["Properties"]["HttpProperties"]["HttpName"];
    EXPECT_TRUE(http.starts_with("corp.local-")) << http;
    spec.type = "HTTP";
    EXPECT_EQ(CreateNamespace(tx, kRegion, kAccount, kNow, spec).status().code(), Code::kAlreadyExists);
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
}

}  // namespace
}  // namespace kecs::net::discovery
