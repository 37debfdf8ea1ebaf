// The VPC resolver answers a load balancer's DNS name with its nodes' addresses: the
// daemon's lookup (LookupVpcName) over ELB records in a store, through DnsServer::Respond.
#include <gtest/gtest.h>
#include <ldns/ldns.h>

#include <set>

#include "daemon/daemon.h"
#include "net/kernel/dns_server.h"
#include "state/records/elb.h"
#include "unit/support/dns_wire.h"
#include "unit/support/temp_dir.h"

namespace kecs::daemon {
namespace {

constexpr const char* kRegion = "us-east-1";

// "<ttl> <address>" of each answer record of `type`.
std::set<std::string> Answers(const std::vector<uint8_t>& wire, ldns_rr_type type) {
  kecs::testing::Pkt p = kecs::testing::Parse(wire);
  std::set<std::string> out;
  ldns_rr_list* list = ldns_pkt_answer(p.get());
  for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
    ldns_rr* rr = ldns_rr_list_rr(list, i);
    if (ldns_rr_get_type(rr) != type) continue;
    char* s = ldns_rdf2str(ldns_rr_rdf(rr, 0));
    out.insert(std::to_string(ldns_rr_ttl(rr)) + " " + s);
    free(s);  // NOLINT
  }
  return out;
}

class LbDnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    model::LoadBalancer lb;
    lb.region = kRegion;
    lb.id = "0123456789abcdef";
    lb.name = "web";
    lb.arn = model::LoadBalancerArn(kRegion, "000000000000", model::LbType::kApplication, "web", lb.id);
    lb.dns_name = "internal-web-1.us-east-1.elb.amazonaws.com";
    lb.scheme = model::LbScheme::kInternal;
    lb.vpc_id = "vpc-1";
    lb.ip_address_type = "dualstack";
    lb.nodes = {model::LbNode{"us-east-1a", "use1-az1", "subnet-a", "eni-a", "10.0.1.5", "2600:1f18::5"},
                model::LbNode{"us-east-1b", "use1-az2", "subnet-b", "eni-b", "10.0.2.5", "2600:1f18:0:1::5"}};
    ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutLoadBalancer(tx, lb); }).ok());
  }

  std::vector<uint8_t> Ask(const std::string& vpc, const std::string& name, ldns_rr_type type) {
    using kecs::testing::Query;
    net::DnsServer server(
        [this](const std::string& vpc_id, const std::string& fqdn) -> Result<net::discovery::DnsAnswer> {
          net::discovery::DnsAnswer out;
          RETURN_IF_ERROR(store_->Read([&](state::Tx& tx) -> Status {
            ASSIGN_OR_RETURN(out, LookupVpcName(tx, kRegion, vpc_id, fqdn));
            return Status::Ok();
          }));
          return out;
        },
        net::DnsServer::Options{{"127.0.0.1:1"}, std::chrono::milliseconds(100)});
    auto r = server.Respond(vpc, Query(name, type), false);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : std::vector<uint8_t>{};
  }

  kecs::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
};

TEST_F(LbDnsTest, TheNameResolvesToEveryNodeAddress) {
  EXPECT_EQ(Answers(Ask("vpc-1", "internal-web-1.us-east-1.elb.amazonaws.com", LDNS_RR_TYPE_A), LDNS_RR_TYPE_A),
            (std::set<std::string>{"60 10.0.1.5", "60 10.0.2.5"}));
  EXPECT_EQ(Answers(Ask("vpc-1", "Internal-Web-1.us-east-1.elb.amazonaws.com.", LDNS_RR_TYPE_AAAA),
                    LDNS_RR_TYPE_AAAA),
            (std::set<std::string>{"60 2600:1f18::5", "60 2600:1f18:0:1::5"}));
}

TEST_F(LbDnsTest, AnInternalLoadBalancerIsNotSeenFromOtherVpcs) {
  // Not ours: an empty answer, which the resolver forwards.
  EXPECT_TRUE(Ask("vpc-2", "internal-web-1.us-east-1.elb.amazonaws.com", LDNS_RR_TYPE_A).empty());
  EXPECT_TRUE(Ask("vpc-1", "other-1.us-east-1.elb.amazonaws.com", LDNS_RR_TYPE_A).empty());
}

}  // namespace
}  // namespace kecs::daemon
