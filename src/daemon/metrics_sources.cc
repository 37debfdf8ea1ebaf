#include "daemon/metrics_sources.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>

#include "base/json.h"
#include "base/log.h"
#include "model/kinds.h"
#include "net/domain/ipam.h"
#include "net/domain/vpc.h"
#include "runtime/local/local_runtime.h"

namespace kecs::daemon {
namespace {

using metrics::Family;

Family Gauge(std::string name, std::string help) { return Family{std::move(name), std::move(help), Family::Type::kGauge, {}}; }
Family Counter(std::string name, std::string help) {
  return Family{std::move(name), std::move(help), Family::Type::kCounter, {}};
}

}  // namespace

std::vector<Family> StoreFamilies(state::Store& store, PortPool public_ports) {
  Family tasks = Gauge("kecs_tasks", "Tasks by region and last status");
  Family addresses = Gauge("kecs_subnet_ip_addresses",
                           "IPv4 addresses of each subnet by state (used: allocated to an interface; free: "
                           "allocatable; AWS's five reserved addresses are neither)");
  Family ports = Gauge("kecs_host_ports", "Public host ports (assignPublicIp) by protocol and state");
  Status st = store.Read([&](state::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.conn().Prepare(
                                 "SELECT region, status, COUNT(*) FROM objects WHERE kind = ? GROUP BY region, status"));
    q.Bind(1, std::string_view(model::kTask));
    while (q.Step()) {
      tasks.samples.push_back({{{"region", q.Text(0)}, {"status", q.Text(1)}}, static_cast<double>(q.Int(2))});
    }
    RETURN_IF_ERROR(q.status());

    state::Query sq;
    sq.kind = net::kSubnet;
    sq.any_region = true;
    ASSIGN_OR_RETURN(auto subnets, tx.List(sq));
    for (const auto& s : subnets) {
      if (JStr(s.doc, "CidrBlock").empty()) continue;  // IPv6-only
      ASSIGN_OR_RETURN(int64_t used, net::CountAllocated(tx, s.region, s.id));
      ASSIGN_OR_RETURN(int64_t free, net::AvailableIpAddressCount(tx, s.region, s));
      std::string vpc = JStr(s.doc, "VpcId");
      addresses.samples.push_back(
          {{{"region", s.region}, {"vpc", vpc}, {"subnet", s.id}, {"state", "used"}}, static_cast<double>(used)});
      addresses.samples.push_back({{{"region", s.region}, {"vpc", vpc}, {"subnet", s.id}, {"state", "free"}},
                                   static_cast<double>(std::max<int64_t>(0, free))});
    }

    std::map<std::string, int64_t> by_proto{{"tcp", 0}, {"udp", 0}};
    ASSIGN_OR_RETURN(auto p, tx.conn().Prepare(
                                 "SELECT protocol, COUNT(*) FROM port_allocations WHERE pool = 'public' GROUP BY protocol"));
    while (p.Step()) by_proto[p.Text(0)] = p.Int(1);
    RETURN_IF_ERROR(p.status());
    int64_t size = public_ports.last >= public_ports.first ? public_ports.last - public_ports.first + 1 : 0;
    for (const auto& [proto, n] : by_proto) {
      ports.samples.push_back({{{"protocol", proto}, {"state", "used"}}, static_cast<double>(n)});
      ports.samples.push_back({{{"protocol", proto}, {"state", "free"}}, static_cast<double>(size > n ? size - n : 0)});
    }
    return Status::Ok();
  });
  if (!st.ok()) throw std::runtime_error(st.message());  // Scrape leaves the source out and counts it
  return {std::move(tasks), std::move(addresses), std::move(ports)};
}

std::vector<Family> EniFamilies(runtime::Runtime& rt) {
  auto* local = dynamic_cast<runtime::local::LocalRuntime*>(&rt);
  if (!local) return {};
  Family bytes = Counter("kecs_eni_bytes_total", "Bytes through each task ENI by direction (ingress: to the task)");
  Family packets = Counter("kecs_eni_packets_total", "Packets through each task ENI by direction");
  Family drops = Counter("kecs_eni_link_drops_total",
                         "Packets the kernel dropped at each task ENI's link by direction (queue and "
                         "buffer drops; policy drops are kecs_drops_packets_total)");
  for (const auto& c : local->network().ReadEniCounters()) {
    auto add = [&](Family& f, std::string_view dir, uint64_t v) {
      f.samples.push_back({{{"eni", c.eni_id}, {"vpc", c.vpc_id}, {"direction", std::string(dir)}}, static_cast<double>(v)});
    };
    add(bytes, "ingress", c.in_bytes);
    add(bytes, "egress", c.out_bytes);
    add(packets, "ingress", c.in_packets);
    add(packets, "egress", c.out_packets);
    add(drops, "ingress", c.in_dropped);
    add(drops, "egress", c.out_dropped);
  }
  return {std::move(bytes), std::move(packets), std::move(drops)};
}

}  // namespace kecs::daemon
