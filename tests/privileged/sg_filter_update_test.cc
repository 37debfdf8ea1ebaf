// net::BuildVpcFilterUpdate against the real kernel (design.md 17.4): a VPC's filter
// changed in place (rules, members, ENIs and groups added and removed) is the table the
// whole script for the new policy makes, and one that does not match what it was built
// against is refused whole.
#include <algorithm>
#include <sstream>

#include "net/domain/sg_policy.h"
#include "net/domain/sg_filter_update.h"
#include "net/kernel/nft.h"
#include "privileged/privileged.h"

namespace kecs::privileged {
namespace {

class SgFilterUpdateTest : public PrivilegedTest {
 protected:
  void SetUp() override {
    PrivilegedTest::SetUp();
    if (IsSkipped()) return;
    a_ = P() + "-sgu-a-" + RandomHex(4);
    b_ = P() + "-sgu-b-" + RandomHex(4);
    ASSERT_TRUE(net::netns::Create(a_).ok());
    ASSERT_TRUE(net::netns::Create(b_).ok());
  }

  // The table as nft lists it, its top-level blocks (sets, chains, maps) sorted: chains
  // added in place are listed after the others.
  std::string Canonical(const std::string& ns) {
    auto text = net::nft::Query(ns, "list table inet kecs_sg");
    EXPECT_TRUE(text.ok()) << text.status().ToString();
    if (!text.ok()) return "";
    std::vector<std::string> blocks;
    std::istringstream in(*text);
    std::string line, cur;
    while (std::getline(in, line)) {
      if (line.rfind("\t\t", 0) == 0 || line == "\t}") {
        cur += line + "\n";
        if (line == "\t}") {
          blocks.push_back(cur);
          cur.clear();
        }
        continue;
      }
      if (!cur.empty()) blocks.push_back(cur);
      cur = line.rfind("\t", 0) == 0 ? line + "\n" : "";
      if (cur.empty()) blocks.push_back(line + "\n");
    }
    if (!cur.empty()) blocks.push_back(cur);
    std::sort(blocks.begin(), blocks.end());
    std::string out;
    for (const auto& b : blocks) out += b;
    return out;
  }

  static net::VpcPolicy Base() {
    net::VpcPolicy p;
    p.vpc_id = "vpc-0123456789abcdef0";
    for (int g = 0; g < 4; ++g) {
      net::SecurityGroupPolicy sg{"sg-00000000000000" + std::to_string(100 + g), {}};
      sg.rules.push_back({"sgr-e" + std::to_string(g), true, "-1", -1, -1, "0.0.0.0/0", "", "", ""});
      for (int r = 0; r < 5; ++r) {
        sg.rules.push_back({"sgr-" + std::to_string(g) + "-" + std::to_string(r), false, "tcp", 80 + r, 80 + r,
                            "10." + std::to_string(g) + "." + std::to_string(r) + ".0/24", "", "", ""});
      }
      sg.rules.push_back({"sgr-ref" + std::to_string(g), false, "tcp", 443, 443, "", "", "sg-00000000000000100", ""});
      p.groups.push_back(sg);
    }
    for (int e = 0; e < 6; ++e) {
      net::EniPolicy eni{"eni-0000000000000" + std::to_string(1000 + e), "10.9.0." + std::to_string(4 + e),
                         e % 2 ? "2600:1f18::" + std::to_string(4 + e) : "", "subnet-0000000000000000a",
                         {"sg-00000000000000" + std::to_string(100 + e % 4)}};
      p.enis.push_back(eni);
    }
    p.subnets = {{"subnet-0000000000000000a", "", "acl-01", {}}};
    return p;
  }

  std::string a_, b_;
};

TEST_F(SgFilterUpdateTest, AnUpdateInPlaceMakesTheTableTheWholeScriptMakes) {
  net::VpcPolicy p = Base();
  ASSERT_TRUE(net::nft::Apply(a_, net::BuildVpcFilter(p)).ok());
  std::vector<std::function<void(net::VpcPolicy&)>> changes = {
      // A rule authorized, then revoked.
      [](net::VpcPolicy& q) { q.groups[1].rules.push_back({"sgr-new", false, "udp", 53, 53, "10.1.0.0/16", "", "", ""}); },
      [](net::VpcPolicy& q) { q.groups[1].rules.erase(q.groups[1].rules.begin() + 2); },
      // An ENI's groups changed; a secondary address.
      [](net::VpcPolicy& q) { q.enis[2].groups.push_back("sg-00000000000000101"); },
      [](net::VpcPolicy& q) { q.enis[3].secondary_ips.push_back("10.9.1.9"); },
      // An ENI added, one removed.
      [](net::VpcPolicy& q) {
        q.enis.push_back({"eni-00000000000002000", "10.9.0.99", "2600:1f18::99", "subnet-0000000000000000a",
                          {"sg-00000000000000103", "sg-00000000000000100"}});
      },
      [](net::VpcPolicy& q) { q.enis.erase(q.enis.begin()); },
      // A group added, its members and rules; another group's members all gone and the
      // group deleted.
      [](net::VpcPolicy& q) {
        q.groups.push_back({"sg-00000000000000200", {{"sgr-x", false, "icmp", 8, -1, "10.0.0.0/8", "", "", ""}}});
        q.enis[1].groups = {"sg-00000000000000200"};
      },
      [](net::VpcPolicy& q) {
        for (auto& e : q.enis) {
          std::erase(e.groups, std::string("sg-00000000000000102"));
        }
        std::erase_if(q.groups, [](const auto& g) { return g.id == "sg-00000000000000102"; });
      },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    net::VpcPolicy next = p;
    changes[i](next);
    std::string update = net::BuildVpcFilterUpdate(p, next);
    ASSERT_FALSE(update.empty()) << "change " << i;
    EXPECT_EQ(update.find("table inet kecs_sg {"), std::string::npos) << "change " << i << ": not in place";
    Status st = net::nft::Apply(a_, update);
    ASSERT_TRUE(st.ok()) << "change " << i << ": " << st.ToString() << "\n" << update;
    ASSERT_TRUE(net::nft::Apply(b_, net::BuildVpcFilter(next)).ok());
    EXPECT_EQ(Canonical(a_), Canonical(b_)) << "change " << i << "\n" << update;
    p = next;
  }
}

TEST_F(SgFilterUpdateTest, AnUpdateAgainstAnotherTableAppliesNothing) {
  net::VpcPolicy p = Base();
  net::VpcPolicy next = p;
  next.enis.erase(next.enis.begin());
  // No table at all: refused.
  EXPECT_FALSE(net::nft::Apply(a_, net::BuildVpcFilterUpdate(p, next)).ok());
  // A table that already lost that ENI: refused, and the table is as it was.
  ASSERT_TRUE(net::nft::Apply(a_, net::BuildVpcFilter(next)).ok());
  std::string before = Canonical(a_);
  EXPECT_FALSE(net::nft::Apply(a_, net::BuildVpcFilterUpdate(p, next)).ok());
  EXPECT_EQ(Canonical(a_), before);
}

}  // namespace
}  // namespace kecs::privileged
