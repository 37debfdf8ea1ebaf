#pragma once
// kecs's Prometheus metrics (issue 15): one process-wide registry, served at /metrics in
// the text exposition format (version 0.0.4) through prometheus-cpp.
//
// Two kinds of metric:
//   - events counted where they happen (an API request, a DNS answer, a task reaching
//     RUNNING, a policy applied, a flow seen): the functions below, each a counter or a
//     histogram in prometheus-cpp's registry. They are cheap (a hashed label lookup under
//     the family's mutex, then an atomic add) and safe from any thread.
//   - state read when scraped (tasks by status, addresses used per subnet, bytes per ENI):
//     a Source registered with AddSource returns whole families at each scrape, so a
//     series vanishes with its object and nothing is kept between scrapes.
//
// Labels stay bounded: operation names come from the service models, error codes from
// kecs's own answers, subnets and ENIs exist only while they do (ForgetEni drops the
// counted series of an ENI that is gone), and no task id is ever a label.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kecs::metrics {

// ---- counted where they happen ----

// One API request: `service` as the model names it ("ecs", "ec2", ...; "none" when the
// request named none), `operation` the model's operation name ("unknown" when the service
// has none such), `code` the AWS error code answered or "" for success, and its latency.
void ObserveRequest(std::string_view service, std::string_view operation, std::string_view code,
                    double seconds);

// A task reached RUNNING: `stage` is one of "provisioning" (created to the image pull's
// start: the ENI, its address, the sandbox), "pull" (the image pull), "start" (pulled to
// RUNNING: the policy applied, the containers started) and "total" (created to RUNNING).
void ObserveTaskStart(std::string_view stage, double seconds);

// A security-group/network-ACL policy written to the kernel: `kind` "full" (a VPC's whole
// table replaced) or "incremental" (rules changed in place) or "instance" (a container
// instance's bridge table).
void ObserveSgApply(std::string_view kind, double seconds);

// One DNS answer of a VPC resolver, by its response code ("NOERROR", "NXDOMAIN", ...).
void CountDnsQuery(std::string_view rcode);

// Hubble-style flow metrics. A flow's verdict ("ACCEPT" or "REJECT") between `source` and
// `destination`, each a task family or service name, "host", "world" or "vpc" (never a
// task id).
void CountFlow(std::string_view verdict, std::string_view source, std::string_view destination,
               uint64_t flows = 1);
// Packets the kernel dropped at ENI `eni`, in `direction` ("ingress" or "egress"), for
// `reason` ("security_group", "network_acl" or "no_route").
void CountDrop(std::string_view eni, std::string_view direction, std::string_view reason, uint64_t packets,
               uint64_t bytes);
// Removes every counted series labelled with `eni` (the ENI was deleted).
void ForgetEni(std::string_view eni);

// ---- read when scraped ----

struct Sample {
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

struct Family {
  enum class Type { kGauge, kCounter };
  std::string name;  // kecs_...
  std::string help;
  Type type = Type::kGauge;
  std::vector<Sample> samples;
};

using Source = std::function<std::vector<Family>()>;

// Adds a source read at every scrape (from the scraping thread; it must be thread-safe and
// quick). Returns a handle for RemoveSource, which waits for a scrape in progress to end.
int AddSource(Source source);
void RemoveSource(int handle);

// Every metric in the text exposition format, sources included. A source that throws is
// left out of that scrape (and counted in kecs_metrics_source_errors_total).
std::string Scrape();

// The content type of Scrape()'s text.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace kecs::metrics
