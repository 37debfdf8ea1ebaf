#pragma once
// Networks and task specs for tests of the local data plane (LocalNetwork, LocalRuntime).
//
// Every address range is picked at random among ones the host does not use (no address,
// no route), so that tests never clash with the host, Docker, or a kecs daemon running on
// the same machine: VPCs are 10.X.0.0/16 (X in 200..249), the VPC transit range is
// 100.64.Y.0/24 (Y in 0..255, instead of the daemon's 100.127.0.0/16), the bridge network
// 192.168.Z.0/24 (Z in 100..249).
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/ids.h"
#include "privileged/privileged.h"
#include "runtime/local/network.h"
#include "runtime/runtime.h"

namespace kecs::privileged {

// Whether `needle` (e.g. "10.203.") starts an address or route the host has.
inline bool HostUses(const std::string& needle) {
  std::string text = Sh({"ip", "-o", "-4", "addr"}).out + "\n" + Sh({"ip", "-4", "route", "show", "table", "all"}).out;
  for (const auto& line : Lines(text)) {
    for (size_t pos = line.find(needle); pos != std::string::npos; pos = line.find(needle, pos + 1)) {
      if (pos == 0 || line[pos - 1] == ' ') return true;
    }
  }
  return false;
}

inline int PickFree(int lo, int hi, const std::string& fmt_prefix, const std::set<int>& taken = {}) {
  for (int i = 0; i < 200; ++i) {
    int v = lo + static_cast<int>(std::stoul(RandomHex(4), nullptr, 16) % static_cast<unsigned>(hi - lo + 1));
    if (taken.count(v)) continue;
    if (!HostUses(fmt::format(fmt::runtime(fmt_prefix), v))) return v;
  }
  return lo;
}

struct TestNetworks {
  int vpc_a = 0;  // 10.<vpc_a>.0.0/16
  int vpc_b = 0;  // 10.<vpc_b>.0.0/16
  int transit = 0;
  int bridge = 0;
  std::string transit_cidr() const { return fmt::format("100.64.{}.0/24", transit); }
  std::string bridge_cidr() const { return fmt::format("192.168.{}.0/24", bridge); }
};

inline TestNetworks PickNetworks() {
  TestNetworks n;
  n.vpc_a = PickFree(200, 249, "10.{}.");
  n.vpc_b = PickFree(200, 249, "10.{}.", {n.vpc_a});
  n.transit = PickFree(0, 255, "100.64.{}.");
  n.bridge = PickFree(100, 249, "192.168.{}.");
  return n;
}

inline runtime::local::NetworkOptions NetworkOptionsFor(const TestNetworks& n) {
  runtime::local::NetworkOptions o;
  o.prefix = Prefix();
  o.bridge_cidr = n.bridge_cidr();
  o.transit_cidr = n.transit_cidr();
  return o;
}

struct Vpc {
  std::string id;
  int octet = 0;     // 10.<octet>.0.0/16
  int slot = 0;      // transit slot
  std::string subnet_a, subnet_b;  // 10.<octet>.1.0/24, 10.<octet>.2.0/24
};

inline Vpc MakeVpc(int octet, int slot) {
  return {"vpc-" + RandomHex(17), octet, slot, "subnet-" + RandomHex(17), "subnet-" + RandomHex(17)};
}

// busybox:latest as a docker-archive (build_busybox_image.sh), built once per process.
inline ImageArchive& BusyboxArchive() {
  static ImageArchive archive([](const std::string& dir) -> Result<std::string> {
    std::string script = std::string(KECS_SOURCE_DIR) + "/tests/privileged/build_busybox_image.sh";
    auto r = RunProcess({"/bin/sh", script, dir, "-", "busybox:latest"}, std::chrono::minutes(3));
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) return Internal("build_busybox_image.sh failed: " + r->out + r->err);
    return dir + "/image.tar";
  });
  return archive;
}

inline runtime::TaskSpec BaseTask() {
  runtime::TaskSpec t;
  t.task_id = RandomHex(32);
  t.cluster = "default";
  t.family = "conformance";
  t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/default/" + t.task_id;
  return t;
}

// An awsvpc task with address 10.<octet>.<subnet>.<host> (subnet 1 or 2).
inline runtime::TaskSpec AwsvpcTask(const Vpc& vpc, int subnet, int host, bool internet_egress = false) {
  runtime::TaskSpec t = BaseTask();
  runtime::NetworkSpec& n = t.network;
  n.mode = model::NetworkMode::kAwsvpc;
  n.eni_id = "eni-" + RandomHex(17);
  n.mac = "0a:" + RandomHex(2) + ":" + RandomHex(2) + ":" + RandomHex(2) + ":" + RandomHex(2) + ":" + RandomHex(2);
  n.ip = fmt::format("10.{}.{}.{}", vpc.octet, subnet, host);
  n.prefix_len = 24;
  n.gateway = fmt::format("10.{}.{}.1", vpc.octet, subnet);
  n.subnet_id = subnet == 1 ? vpc.subnet_a : vpc.subnet_b;
  n.subnet_cidr = fmt::format("10.{}.{}.0/24", vpc.octet, subnet);
  n.vpc_id = vpc.id;
  n.vpc_cidr = fmt::format("10.{}.0.0/16", vpc.octet);
  n.vpc_cidrs = {n.vpc_cidr};
  n.dns_server = fmt::format("10.{}.0.2", vpc.octet);
  n.internet_egress = internet_egress;
  n.hostname = fmt::format("ip-10-{}-{}-{}", vpc.octet, subnet, host);
  n.transit_slot = vpc.slot;
  return t;
}

inline runtime::TaskSpec BridgeTask(const TestNetworks& nets, int host) {
  runtime::TaskSpec t = BaseTask();
  t.network.mode = model::NetworkMode::kBridge;
  t.network.bridge_ip = fmt::format("192.168.{}.{}", nets.bridge, host);
  return t;
}

inline runtime::TaskSpec ModeTask(const std::string& mode) {
  runtime::TaskSpec t = BaseTask();
  t.network.mode = model::ParseNetworkMode(mode).value_or(model::NetworkMode::kNone);
  return t;
}

// `ping -c1 -W1` from a namespace; a few tries for the first ARP exchange.
inline bool Ping(const std::string& from_ns, const std::string& ip, int tries = 3) {
  for (int i = 0; i < tries; ++i) {
    if (Sh({"ip", "netns", "exec", from_ns, "ping", "-c1", "-W1", ip}).code == 0) return true;
  }
  return false;
}

// Links in namespace `ns` ("" = host) whose alias is `alias`.
inline std::vector<std::string> LinksWithAlias(const std::string& ns, const std::string& alias) {
  std::vector<std::string> out;
  (void)InNs(ns, [&](net::Netlink& nl) -> Status {
    ASSIGN_OR_RETURN(auto links, nl.ListLinks());
    for (const auto& l : links) {
      if (l.alias == alias) out.push_back(l.name);
    }
    return Status::Ok();
  });
  return out;
}

}  // namespace kecs::privileged
