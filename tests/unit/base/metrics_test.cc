#include "base/metrics.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace kecs::metrics {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(Metrics, CountsEventsWithTheirLabels) {
  ObserveRequest("ecs", "RunTask", "", 0.002);
  ObserveRequest("ecs", "RunTask", "ClusterNotFoundException", 0.001);
  ObserveRequest("", "", "UnknownOperationException", 0.0001);
  CountDnsQuery("NXDOMAIN");
  ObserveSgApply("full", 0.004);
  ObserveTaskStart("total", 0.2);
  CountFlow("REJECT", "web", "db", 2);
  std::string text = Scrape();
  EXPECT_TRUE(Has(text, "kecs_api_requests_total{code=\"ClusterNotFoundException\",operation=\"RunTask\",service=\"ecs\"}"))
      << text;
  EXPECT_TRUE(Has(text, "kecs_api_requests_total{code=\"UnknownOperationException\",operation=\"unknown\",service=\"none\"}"));
  EXPECT_TRUE(Has(text, "kecs_api_request_duration_seconds_bucket{operation=\"RunTask\",service=\"ecs\",le=\"0.0025\"}"));
  EXPECT_TRUE(Has(text, "kecs_dns_queries_total{rcode=\"NXDOMAIN\"}"));
  EXPECT_TRUE(Has(text, "kecs_sg_policy_apply_duration_seconds_count{kind=\"full\"}"));
  EXPECT_TRUE(Has(text, "kecs_task_start_duration_seconds_count{stage=\"total\"}"));
  EXPECT_TRUE(Has(text, "kecs_flows_total{destination=\"db\",source=\"web\",verdict=\"REJECT\"} 2"));
  EXPECT_TRUE(Has(text, "# TYPE kecs_api_request_duration_seconds histogram"));
}

TEST(Metrics, DropsAddUpPerEniAndAreForgottenWithIt) {
  CountDrop("eni-0aaa", "ingress", "security_group", 1, 60);
  CountDrop("eni-0aaa", "ingress", "security_group", 2, 120);
  CountDrop("eni-0aab", "egress", "network_acl", 1, 40);
  std::string text = Scrape();
  EXPECT_TRUE(Has(text, "kecs_drops_packets_total{eni=\"eni-0aaa\",direction=\"ingress\",reason=\"security_group\"} 3"))
      << text;
  EXPECT_TRUE(Has(text, "kecs_drops_bytes_total{eni=\"eni-0aaa\",direction=\"ingress\",reason=\"security_group\"} 180"));
  ForgetEni("eni-0aaa");
  text = Scrape();
  EXPECT_FALSE(Has(text, "eni-0aaa\"")) << text;
  EXPECT_TRUE(Has(text, "kecs_drops_packets_total{eni=\"eni-0aab\",direction=\"egress\",reason=\"network_acl\"} 1"));
  ForgetEni("eni-0aab");
}

TEST(Metrics, SourcesAreReadAtEachScrapeAndAFailingOneIsLeftOut) {
  int calls = 0;
  int ok = AddSource([&calls] {
    ++calls;
    Family f{"kecs_test_things", "Things", Family::Type::kGauge, {}};
    f.samples.push_back({{{"kind", "a\"b"}}, static_cast<double>(calls)});
    return std::vector<Family>{f};
  });
  int bad = AddSource([]() -> std::vector<Family> { throw std::runtime_error("store closed"); });
  std::string first = Scrape();
  EXPECT_TRUE(Has(first, "kecs_test_things{kind=\"a\\\"b\"} 1")) << first;  // the value escaped
  std::string second = Scrape();
  EXPECT_TRUE(Has(second, "kecs_test_things{kind=\"a\\\"b\"} 2"));
  EXPECT_TRUE(Has(second, "kecs_metrics_source_errors_total 2"));
  RemoveSource(ok);
  RemoveSource(bad);
  EXPECT_FALSE(Has(Scrape(), "kecs_test_things"));
}

}  // namespace
}  // namespace kecs::metrics
