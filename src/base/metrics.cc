#include "base/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <tuple>
#include <unordered_map>

namespace kecs::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildHistogram;
using prometheus::Histogram;

// Seconds, from a cached read (~0.3 ms) to a slow write or a long pull.
const Histogram::BucketBoundaries& ApiBuckets() {
  static const Histogram::BucketBoundaries b{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return b;
}
const Histogram::BucketBoundaries& StartBuckets() {
  static const Histogram::BucketBoundaries b{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
  return b;
}
const Histogram::BucketBoundaries& ApplyBuckets() {
  static const Histogram::BucketBoundaries b{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  return b;
}

// Drops per ENI are kept here rather than in the registry, so that ForgetEni can drop an
// ENI's series whole.
struct DropKey {
  std::string eni, direction, reason;
  bool operator<(const DropKey& o) const {
    return std::tie(eni, direction, reason) < std::tie(o.eni, o.direction, o.reason);
  }
};
struct DropCount {
  uint64_t packets = 0, bytes = 0;
};

struct State {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& requests =
      BuildCounter().Name("kecs_api_requests_total").Help("API requests by service, operation and error code ('' for success)").Register(*registry);
  prometheus::Family<Histogram>& request_seconds =
      BuildHistogram().Name("kecs_api_request_duration_seconds").Help("API request latency by service and operation").Register(*registry);
  prometheus::Family<Histogram>& task_start =
      BuildHistogram().Name("kecs_task_start_duration_seconds").Help("Task start latency by stage (provisioning, pull, start, total)").Register(*registry);
  prometheus::Family<Histogram>& sg_apply =
      BuildHistogram().Name("kecs_sg_policy_apply_duration_seconds").Help("Security group and network ACL policy apply latency by kind").Register(*registry);
  prometheus::Family<prometheus::Counter>& dns =
      BuildCounter().Name("kecs_dns_queries_total").Help("DNS queries answered by the VPC resolvers, by response code").Register(*registry);
  prometheus::Family<prometheus::Counter>& flows =
      BuildCounter().Name("kecs_flows_total").Help("Flows by verdict, source and destination (task family or service, host, world, vpc)").Register(*registry);
  prometheus::Family<prometheus::Counter>& source_errors =
      BuildCounter().Name("kecs_metrics_source_errors_total").Help("Metric sources that failed during a scrape").Register(*registry);

  std::mutex drops_mu;
  std::map<DropKey, DropCount> drops;

  std::mutex sources_mu;  // held through a scrape: RemoveSource waits for it
  std::map<int, Source> sources;
  int next_source = 1;
};

State& S() {
  static State* s = new State();  // never destroyed: threads may count until exit
  return *s;
}

prometheus::ClientMetric::Label L(std::string name, std::string value) {
  prometheus::ClientMetric::Label l;
  l.name = std::move(name);
  l.value = std::move(value);
  return l;
}

prometheus::MetricFamily ToFamily(const Family& f) {
  prometheus::MetricFamily out;
  out.name = f.name;
  out.help = f.help;
  out.type = f.type == Family::Type::kCounter ? prometheus::MetricType::Counter : prometheus::MetricType::Gauge;
  out.metric.reserve(f.samples.size());
  for (const auto& s : f.samples) {
    prometheus::ClientMetric m;
    for (const auto& [k, v] : s.labels) m.label.push_back(L(k, v));
    if (f.type == Family::Type::kCounter) {
      m.counter.value = s.value;
    } else {
      m.gauge.value = s.value;
    }
    out.metric.push_back(std::move(m));
  }
  return out;
}

std::vector<Family> DropFamilies() {
  Family packets{"kecs_drops_packets_total", "Packets the security groups, network ACLs or routing dropped at an ENI, by direction and reason",
                 Family::Type::kCounter, {}};
  Family bytes{"kecs_drops_bytes_total", "Bytes the security groups, network ACLs or routing dropped at an ENI, by direction and reason",
               Family::Type::kCounter, {}};
  auto& s = S();
  std::lock_guard<std::mutex> lock(s.drops_mu);
  for (const auto& [k, c] : s.drops) {
    std::vector<std::pair<std::string, std::string>> labels{
        {"eni", k.eni}, {"direction", k.direction}, {"reason", k.reason}};
    packets.samples.push_back({labels, static_cast<double>(c.packets)});
    bytes.samples.push_back({std::move(labels), static_cast<double>(c.bytes)});
  }
  return {std::move(packets), std::move(bytes)};
}

}  // namespace

void ObserveRequest(std::string_view service, std::string_view operation, std::string_view code,
                    double seconds) {
  // Each thread keeps the series it has counted: prometheus-cpp's Add builds a label map
  // and takes the family's lock, ~0.8 us, on every call; a series, once added, lives as
  // long as the registry, so its address can be kept.
  struct Series {
    prometheus::Counter* count;
    Histogram* latency;
  };
  thread_local std::unordered_map<std::string, Series> cache;
  thread_local std::string key;
  key.assign(service).append(1, '\0').append(operation).append(1, '\0').append(code);
  auto it = cache.find(key);
  if (it == cache.end()) {
    auto& s = S();
    std::string svc(service.empty() ? "none" : service);
    std::string op(operation.empty() ? "unknown" : operation);
    Series series{&s.requests.Add({{"service", svc}, {"operation", op}, {"code", std::string(code)}}),
                  &s.request_seconds.Add({{"service", std::move(svc)}, {"operation", std::move(op)}}, ApiBuckets())};
    it = cache.emplace(key, series).first;
  }
  it->second.count->Increment();
  it->second.latency->Observe(seconds);
}

void ObserveTaskStart(std::string_view stage, double seconds) {
  S().task_start.Add({{"stage", std::string(stage)}}, StartBuckets()).Observe(seconds);
}

void ObserveSgApply(std::string_view kind, double seconds) {
  S().sg_apply.Add({{"kind", std::string(kind)}}, ApplyBuckets()).Observe(seconds);
}

void CountDnsQuery(std::string_view rcode) { S().dns.Add({{"rcode", std::string(rcode)}}).Increment(); }

void CountFlow(std::string_view verdict, std::string_view source, std::string_view destination, uint64_t flows) {
  S().flows
      .Add({{"verdict", std::string(verdict)}, {"source", std::string(source)},
            {"destination", std::string(destination)}})
      .Increment(static_cast<double>(flows));
}

void CountDrop(std::string_view eni, std::string_view direction, std::string_view reason, uint64_t packets,
               uint64_t bytes) {
  auto& s = S();
  std::lock_guard<std::mutex> lock(s.drops_mu);
  auto& c = s.drops[DropKey{std::string(eni), std::string(direction), std::string(reason)}];
  c.packets += packets;
  c.bytes += bytes;
}

void ForgetEni(std::string_view eni) {
  auto& s = S();
  std::lock_guard<std::mutex> lock(s.drops_mu);
  auto it = s.drops.lower_bound(DropKey{std::string(eni), "", ""});
  while (it != s.drops.end() && it->first.eni == eni) it = s.drops.erase(it);
}

int AddSource(Source source) {
  auto& s = S();
  std::lock_guard<std::mutex> lock(s.sources_mu);
  int h = s.next_source++;
  s.sources.emplace(h, std::move(source));
  return h;
}

void RemoveSource(int handle) {
  auto& s = S();
  std::lock_guard<std::mutex> lock(s.sources_mu);
  s.sources.erase(handle);
}

std::string Scrape() {
  auto& s = S();
  std::vector<prometheus::MetricFamily> all;
  {
    std::lock_guard<std::mutex> lock(s.sources_mu);
    for (const auto& [h, source] : s.sources) {
      try {
        for (const auto& f : source()) all.push_back(ToFamily(f));
      } catch (const std::exception&) {
        s.source_errors.Add({}).Increment();
      }
    }
  }
  for (const auto& f : DropFamilies()) all.push_back(ToFamily(f));
  auto reg = s.registry->Collect();
  all.insert(all.end(), std::make_move_iterator(reg.begin()), std::make_move_iterator(reg.end()));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, all);
  return out.str();
}

}  // namespace kecs::metrics
