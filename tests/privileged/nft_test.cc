// net::nft against the real kernel: atomic scripts, queries, per-namespace rulesets.
#include "net/kernel/nft.h"

#include "privileged/privileged.h"

namespace kecs::privileged {
namespace {

class NftTest : public PrivilegedTest {
 protected:
  void SetUp() override {
    PrivilegedTest::SetUp();
    if (IsSkipped()) return;
    ns_ = P() + "-nft-" + RandomHex(4);
    ASSERT_TRUE(net::netns::Create(ns_).ok());
  }
  bool HasTable(const std::string& ns, const std::string& family, const std::string& name) {
    auto doc = net::nft::QueryJson(ns, "list tables");
    if (!doc.ok()) return false;
    for (const auto& item : doc->value("nftables", Json::array())) {
      const Json* t = JGet(item, "table");
      if (t && JStr(*t, "family") == family && JStr(*t, "name") == name) return true;
    }
    return false;
  }
  std::string ns_;
};

TEST_F(NftTest, ApplyIsAtomicOneBadLineAppliesNothing) {
  const std::string script = R"(add table ip t
add chain ip t c { type filter hook forward priority filter; policy accept; }
add set ip t s { type ipv4_addr; }
add element ip t s { 10.0.0.1 }
add rule ip t c ip saddr @s drop
add rule ip t c this is not nft syntax
)";
  Status st = net::nft::Apply(ns_, script);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("nft:"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("syntax"), std::string::npos) << "nft's own message: " << st.message();
  EXPECT_FALSE(HasTable(ns_, "ip", "t")) << "a failed script must apply nothing";
  auto text = net::nft::Query(ns_, "list ruleset");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "") << "the namespace's ruleset must still be empty";

  // A semantic error (an undefined set) found by the kernel, not the parser, is just as
  // atomic.
  st = net::nft::Apply(ns_, "add table ip t\nadd chain ip t c\nadd rule ip t c ip saddr @nosuchset drop\n");
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(HasTable(ns_, "ip", "t"));
}

TEST_F(NftTest, FailedScriptLeavesExistingRulesetUntouched) {
  ASSERT_TRUE(net::nft::Apply(ns_, R"(add table ip t
add set ip t s { type ipv4_addr; }
add element ip t s { 10.0.0.1 }
)").ok());
  Status st = net::nft::Apply(ns_, R"(add element ip t s { 10.0.0.2 }
delete element ip t s { 10.0.0.1 }
add element ip t nosuchset { 10.0.0.3 }
)");
  EXPECT_FALSE(st.ok());
  auto doc = net::nft::QueryJson(ns_, "list set ip t s");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  std::vector<std::string> elems;
  for (const auto& item : doc->value("nftables", Json::array())) {
    if (const Json* set = JGet(item, "set")) {
      for (const auto& e : set->value("elem", Json::array())) {
        if (e.is_string()) elems.push_back(e.get<std::string>());
      }
    }
  }
  EXPECT_EQ(elems, std::vector<std::string>{"10.0.0.1"});
}

TEST_F(NftTest, QueryAndQueryJson) {
  ASSERT_TRUE(net::nft::Apply(ns_, R"(add table ip t
add chain ip t pre { type nat hook prerouting priority dstnat; policy accept; }
add map ip t m { type inet_service : ipv4_addr . inet_service; }
add element ip t m { 8080 comment "task:abc" : 10.0.0.5 . 80 }
add rule ip t pre dnat ip to tcp dport map @m comment "kecs:publish"
)").ok());
  auto text = net::nft::Query(ns_, "list table ip t");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_NE(text->find("table ip t"), std::string::npos) << *text;
  EXPECT_NE(text->find("comment \"kecs:publish\""), std::string::npos) << *text;

  auto doc = net::nft::QueryJson(ns_, "list map ip t m");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  Json map;
  for (const auto& item : doc->value("nftables", Json::array())) {
    if (const Json* m = JGet(item, "map")) map = *m;
  }
  ASSERT_TRUE(map.is_object()) << doc->dump();
  auto elems = map.value("elem", Json::array());
  ASSERT_EQ(elems.size(), 1u) << map.dump();
  // [{"elem": {"val": 8080, "comment": "task:abc"}}, {"concat": ["10.0.0.5", 80]}]
  const Json& key = elems[0][0];
  ASSERT_TRUE(key.is_object() && key.contains("elem")) << elems.dump();
  EXPECT_EQ(key["elem"].value("val", 0), 8080);
  EXPECT_EQ(JStr(key["elem"], "comment"), "task:abc");

  // Reading something that is not there is an error with nft's message.
  auto missing = net::nft::QueryJson(ns_, "list table ip nosuchtable");
  EXPECT_FALSE(missing.ok());
  auto bad = net::nft::Query(ns_, "list nonsense");
  EXPECT_FALSE(bad.ok());
}

TEST_F(NftTest, RulesetsArePerNamespace) {
  std::string table = P() + "_t";
  ASSERT_TRUE(net::nft::Apply(ns_, "add table ip " + table + "\n").ok());
  EXPECT_TRUE(HasTable(ns_, "ip", table));
  EXPECT_FALSE(HasTable("", "ip", table)) << "a namespace's table leaked to the host";
  // The host's ruleset, with a table of the test's own (Sweep removes it on failure).
  ASSERT_TRUE(net::nft::Apply("", "add table ip " + table + "\nadd chain ip " + table + " c\n").ok());
  EXPECT_TRUE(HasTable("", "ip", table));
  EXPECT_NE(Sh({"nft", "list", "tables"}).out.find("table ip " + table), std::string::npos);
  // Apply is idempotent for "add" of what exists.
  ASSERT_TRUE(net::nft::Apply("", "add table ip " + table + "\nadd chain ip " + table + " c\n").ok());
  ASSERT_TRUE(net::nft::Apply("", "delete table ip " + table + "\n").ok());
  EXPECT_FALSE(HasTable("", "ip", table));
  EXPECT_TRUE(HasTable(ns_, "ip", table)) << "deleting the host's table touched the namespace's";
}

TEST_F(NftTest, ApplyInMissingNamespaceFails) {
  Status st = net::nft::Apply(P() + "-nft-missing", "add table ip t\n");
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
}

TEST_F(NftTest, ConcurrentAppliesFromManyThreads) {
  std::vector<std::thread> threads;
  std::vector<Status> results(8);
  ASSERT_TRUE(net::nft::Apply(ns_, "add table ip t\nadd set ip t s { type ipv4_addr; }\n").ok());
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      results[i] = net::nft::Apply(ns_, fmt::format("add element ip t s {{ 10.0.0.{} }}\n", i + 1));
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& st : results) EXPECT_TRUE(st.ok()) << st.ToString();
  auto text = net::nft::Query(ns_, "list set ip t s");
  ASSERT_TRUE(text.ok());
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_NE(text->find(fmt::format("10.0.0.{}", i + 1)), std::string::npos) << *text;
  }
}

}  // namespace
}  // namespace kecs::privileged
