#include "model/instance_types.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>

#include <fmt/format.h>

namespace kecs::model {

std::string_view ArchName(Arch a) { return a == Arch::kArm64 ? "arm64" : "x86_64"; }

namespace {

// One size of a family: name, default vCPUs / cores / threads per core, memory (MiB),
// maximum network interfaces, IPv4 (= IPv6) addresses per interface, awsvpc tasks with
// ENI trunking (0: not supported), network performance.
struct Row {
  const char* name;
  int vcpus, cores, threads;
  long long mib;
  int enis, ipv4, trunk;
  const char* perf;
};
struct Family {
  Arch arch;
  const char* manufacturer;
  std::vector<Row> rows;
};

// Sources:
//  - vCPUs, cores, threads per core, memory and network performance: the Amazon EC2
//    instance type specifications (docs.aws.amazon.com/ec2/latest/instancetypes/gp.html,
//    co.html, mo.html) as DescribeInstanceTypes reports them.
//  - Maximum network interfaces and IPv4 addresses per interface: AWS's
//    aws/amazon-vpc-resource-controller-k8s pkg/aws/vpc/limits.go ("Interface",
//    "IPv4PerInterface"; e.g. c5.large 3 / 10, c5.4xlarge 8 / 30, c5.18xlarge 15 / 50,
//    a1.medium 2 / 4); on these Nitro types IPv6 per interface equals IPv4 per interface.
//    Checked entry by entry against limits.go for a1, c5, t3, t3a and t4g; the m*, c6*, r*
//    rows follow the per-size pattern limits.go shows for every Nitro family (medium 2 / 4,
//    large 3 / 10, (2)xlarge 4 / 15, 4xlarge..12xlarge 8 / 30, 16xlarge and up 15 / 50).
//  - awsvpc tasks with trunking: Amazon ECS's "Increasing Amazon ECS Linux container
//    instance network interfaces" table (container-instance-eni.html: c5.large 2 -> 10
//    tasks). It is ECS's count of branch interfaces, not limits.go's "BranchInterface",
//    which counts EKS pods (c5.large 9). Burstable (t*) types do not support trunking.
const std::vector<Family>& Families() {
  static const std::vector<Family> kFamilies = {
      {Arch::kArm64, "AWS", {
          {"a1.medium", 1, 1, 1, 2048, 2, 4, 10, "Up to 10 Gigabit"},
          {"a1.large", 2, 2, 1, 4096, 3, 10, 10, "Up to 10 Gigabit"},
          {"a1.xlarge", 4, 4, 1, 8192, 4, 15, 20, "Up to 10 Gigabit"},
          {"a1.2xlarge", 8, 8, 1, 16384, 4, 15, 40, "Up to 10 Gigabit"},
          {"a1.4xlarge", 16, 16, 1, 32768, 8, 30, 60, "Up to 10 Gigabit"},
      }},
      {Arch::kX86_64, "Intel", {
          {"t3.nano", 2, 1, 2, 512, 2, 2, 0, "Up to 5 Gigabit"},
          {"t3.micro", 2, 1, 2, 1024, 2, 2, 0, "Up to 5 Gigabit"},
          {"t3.small", 2, 1, 2, 2048, 3, 4, 0, "Up to 5 Gigabit"},
          {"t3.medium", 2, 1, 2, 4096, 3, 6, 0, "Up to 5 Gigabit"},
          {"t3.large", 2, 1, 2, 8192, 3, 12, 0, "Up to 5 Gigabit"},
          {"t3.xlarge", 4, 2, 2, 16384, 4, 15, 0, "Up to 5 Gigabit"},
          {"t3.2xlarge", 8, 4, 2, 32768, 4, 15, 0, "Up to 5 Gigabit"},
      }},
      {Arch::kX86_64, "AMD", {
          {"t3a.nano", 2, 1, 2, 512, 2, 2, 0, "Up to 5 Gigabit"},
          {"t3a.micro", 2, 1, 2, 1024, 2, 2, 0, "Up to 5 Gigabit"},
          {"t3a.small", 2, 1, 2, 2048, 2, 4, 0, "Up to 5 Gigabit"},
          {"t3a.medium", 2, 1, 2, 4096, 3, 6, 0, "Up to 5 Gigabit"},
          {"t3a.large", 2, 1, 2, 8192, 3, 12, 0, "Up to 5 Gigabit"},
          {"t3a.xlarge", 4, 2, 2, 16384, 4, 15, 0, "Up to 5 Gigabit"},
          {"t3a.2xlarge", 8, 4, 2, 32768, 4, 15, 0, "Up to 5 Gigabit"},
      }},
      {Arch::kArm64, "AWS", {
          {"t4g.nano", 2, 2, 1, 512, 2, 2, 0, "Up to 5 Gigabit"},
          {"t4g.micro", 2, 2, 1, 1024, 2, 2, 0, "Up to 5 Gigabit"},
          {"t4g.small", 2, 2, 1, 2048, 3, 4, 0, "Up to 5 Gigabit"},
          {"t4g.medium", 2, 2, 1, 4096, 3, 6, 0, "Up to 5 Gigabit"},
          {"t4g.large", 2, 2, 1, 8192, 3, 12, 0, "Up to 5 Gigabit"},
          {"t4g.xlarge", 4, 4, 1, 16384, 4, 15, 0, "Up to 5 Gigabit"},
          {"t4g.2xlarge", 8, 8, 1, 32768, 4, 15, 0, "Up to 5 Gigabit"},
      }},
      {Arch::kX86_64, "Intel", {
          {"m5.large", 2, 1, 2, 8192, 3, 10, 10, "Up to 10 Gigabit"},
          {"m5.xlarge", 4, 2, 2, 16384, 4, 15, 20, "Up to 10 Gigabit"},
          {"m5.2xlarge", 8, 4, 2, 32768, 4, 15, 40, "Up to 10 Gigabit"},
          {"m5.4xlarge", 16, 8, 2, 65536, 8, 30, 60, "Up to 10 Gigabit"},
          {"m5.8xlarge", 32, 16, 2, 131072, 8, 30, 60, "10 Gigabit"},
          {"m5.12xlarge", 48, 24, 2, 196608, 8, 30, 60, "12 Gigabit"},
          {"m5.16xlarge", 64, 32, 2, 262144, 15, 50, 120, "20 Gigabit"},
          {"m5.24xlarge", 96, 48, 2, 393216, 15, 50, 120, "25 Gigabit"},
          {"m5.metal", 96, 48, 2, 393216, 15, 50, 120, "25 Gigabit"},
      }},
      {Arch::kX86_64, "Intel", {
          {"m6i.large", 2, 1, 2, 8192, 3, 10, 10, "Up to 12.5 Gigabit"},
          {"m6i.xlarge", 4, 2, 2, 16384, 4, 15, 20, "Up to 12.5 Gigabit"},
          {"m6i.2xlarge", 8, 4, 2, 32768, 4, 15, 40, "Up to 12.5 Gigabit"},
          {"m6i.4xlarge", 16, 8, 2, 65536, 8, 30, 60, "Up to 12.5 Gigabit"},
          {"m6i.8xlarge", 32, 16, 2, 131072, 8, 30, 60, "12.5 Gigabit"},
          {"m6i.12xlarge", 48, 24, 2, 196608, 8, 30, 60, "18.75 Gigabit"},
          {"m6i.16xlarge", 64, 32, 2, 262144, 15, 50, 120, "25 Gigabit"},
          {"m6i.24xlarge", 96, 48, 2, 393216, 15, 50, 120, "37.5 Gigabit"},
          {"m6i.32xlarge", 128, 64, 2, 524288, 15, 50, 120, "50 Gigabit"},
          {"m6i.metal", 128, 64, 2, 524288, 15, 50, 120, "50 Gigabit"},
      }},
      {Arch::kArm64, "AWS", {
          {"m6g.medium", 1, 1, 1, 4096, 2, 4, 4, "Up to 10 Gigabit"},
          {"m6g.large", 2, 2, 1, 8192, 3, 10, 10, "Up to 10 Gigabit"},
          {"m6g.xlarge", 4, 4, 1, 16384, 4, 15, 20, "Up to 10 Gigabit"},
          {"m6g.2xlarge", 8, 8, 1, 32768, 4, 15, 40, "Up to 10 Gigabit"},
          {"m6g.4xlarge", 16, 16, 1, 65536, 8, 30, 60, "Up to 10 Gigabit"},
          {"m6g.8xlarge", 32, 32, 1, 131072, 8, 30, 60, "12 Gigabit"},
          {"m6g.12xlarge", 48, 48, 1, 196608, 8, 30, 60, "20 Gigabit"},
          {"m6g.16xlarge", 64, 64, 1, 262144, 15, 50, 120, "25 Gigabit"},
          {"m6g.metal", 64, 64, 1, 262144, 15, 50, 120, "25 Gigabit"},
      }},
      {Arch::kArm64, "AWS", {
          {"m7g.medium", 1, 1, 1, 4096, 2, 4, 4, "Up to 12.5 Gigabit"},
          {"m7g.large", 2, 2, 1, 8192, 3, 10, 10, "Up to 12.5 Gigabit"},
          {"m7g.xlarge", 4, 4, 1, 16384, 4, 15, 20, "Up to 12.5 Gigabit"},
          {"m7g.2xlarge", 8, 8, 1, 32768, 4, 15, 40, "Up to 15 Gigabit"},
          {"m7g.4xlarge", 16, 16, 1, 65536, 8, 30, 60, "Up to 15 Gigabit"},
          {"m7g.8xlarge", 32, 32, 1, 131072, 8, 30, 60, "15 Gigabit"},
          {"m7g.12xlarge", 48, 48, 1, 196608, 8, 30, 60, "22.5 Gigabit"},
          {"m7g.16xlarge", 64, 64, 1, 262144, 15, 50, 120, "30 Gigabit"},
          {"m7g.metal", 64, 64, 1, 262144, 15, 50, 120, "30 Gigabit"},
      }},
      {Arch::kX86_64, "Intel", {
          {"c5.large", 2, 1, 2, 4096, 3, 10, 10, "Up to 10 Gigabit"},
          {"c5.xlarge", 4, 2, 2, 8192, 4, 15, 20, "Up to 10 Gigabit"},
          {"c5.2xlarge", 8, 4, 2, 16384, 4, 15, 40, "Up to 10 Gigabit"},
          {"c5.4xlarge", 16, 8, 2, 32768, 8, 30, 60, "Up to 10 Gigabit"},
          {"c5.9xlarge", 36, 18, 2, 73728, 8, 30, 60, "10 Gigabit"},
          {"c5.12xlarge", 48, 24, 2, 98304, 8, 30, 60, "12 Gigabit"},
          {"c5.18xlarge", 72, 36, 2, 147456, 15, 50, 120, "25 Gigabit"},
          {"c5.24xlarge", 96, 48, 2, 196608, 15, 50, 120, "25 Gigabit"},
          {"c5.metal", 96, 48, 2, 196608, 15, 50, 120, "25 Gigabit"},
      }},
      {Arch::kX86_64, "Intel", {
          {"c6i.large", 2, 1, 2, 4096, 3, 10, 10, "Up to 12.5 Gigabit"},
          {"c6i.xlarge", 4, 2, 2, 8192, 4, 15, 20, "Up to 12.5 Gigabit"},
          {"c6i.2xlarge", 8, 4, 2, 16384, 4, 15, 40, "Up to 12.5 Gigabit"},
          {"c6i.4xlarge", 16, 8, 2, 32768, 8, 30, 60, "Up to 12.5 Gigabit"},
          {"c6i.8xlarge", 32, 16, 2, 65536, 8, 30, 60, "12.5 Gigabit"},
          {"c6i.12xlarge", 48, 24, 2, 98304, 8, 30, 60, "18.75 Gigabit"},
          {"c6i.16xlarge", 64, 32, 2, 131072, 15, 50, 120, "25 Gigabit"},
          {"c6i.24xlarge", 96, 48, 2, 196608, 15, 50, 120, "37.5 Gigabit"},
          {"c6i.32xlarge", 128, 64, 2, 262144, 15, 50, 120, "50 Gigabit"},
          {"c6i.metal", 128, 64, 2, 262144, 15, 50, 120, "50 Gigabit"},
      }},
      {Arch::kArm64, "AWS", {
          {"c6g.medium", 1, 1, 1, 2048, 2, 4, 4, "Up to 10 Gigabit"},
          {"c6g.large", 2, 2, 1, 4096, 3, 10, 10, "Up to 10 Gigabit"},
          {"c6g.xlarge", 4, 4, 1, 8192, 4, 15, 20, "Up to 10 Gigabit"},
          {"c6g.2xlarge", 8, 8, 1, 16384, 4, 15, 40, "Up to 10 Gigabit"},
          {"c6g.4xlarge", 16, 16, 1, 32768, 8, 30, 60, "Up to 10 Gigabit"},
          {"c6g.8xlarge", 32, 32, 1, 65536, 8, 30, 60, "12 Gigabit"},
          {"c6g.12xlarge", 48, 48, 1, 98304, 8, 30, 60, "20 Gigabit"},
          {"c6g.16xlarge", 64, 64, 1, 131072, 15, 50, 120, "25 Gigabit"},
          {"c6g.metal", 64, 64, 1, 131072, 15, 50, 120, "25 Gigabit"},
      }},
      {Arch::kX86_64, "Intel", {
          {"r5.large", 2, 1, 2, 16384, 3, 10, 10, "Up to 10 Gigabit"},
          {"r5.xlarge", 4, 2, 2, 32768, 4, 15, 20, "Up to 10 Gigabit"},
          {"r5.2xlarge", 8, 4, 2, 65536, 4, 15, 40, "Up to 10 Gigabit"},
          {"r5.4xlarge", 16, 8, 2, 131072, 8, 30, 60, "Up to 10 Gigabit"},
          {"r5.8xlarge", 32, 16, 2, 262144, 8, 30, 60, "10 Gigabit"},
          {"r5.12xlarge", 48, 24, 2, 393216, 8, 30, 60, "12 Gigabit"},
          {"r5.16xlarge", 64, 32, 2, 524288, 15, 50, 120, "20 Gigabit"},
          {"r5.24xlarge", 96, 48, 2, 786432, 15, 50, 120, "25 Gigabit"},
          {"r5.metal", 96, 48, 2, 786432, 15, 50, 120, "25 Gigabit"},
      }},
      {Arch::kX86_64, "Intel", {
          {"r6i.large", 2, 1, 2, 16384, 3, 10, 10, "Up to 12.5 Gigabit"},
          {"r6i.xlarge", 4, 2, 2, 32768, 4, 15, 20, "Up to 12.5 Gigabit"},
          {"r6i.2xlarge", 8, 4, 2, 65536, 4, 15, 40, "Up to 12.5 Gigabit"},
          {"r6i.4xlarge", 16, 8, 2, 131072, 8, 30, 60, "Up to 12.5 Gigabit"},
          {"r6i.8xlarge", 32, 16, 2, 262144, 8, 30, 60, "12.5 Gigabit"},
          {"r6i.12xlarge", 48, 24, 2, 393216, 8, 30, 60, "18.75 Gigabit"},
          {"r6i.16xlarge", 64, 32, 2, 524288, 15, 50, 120, "25 Gigabit"},
          {"r6i.24xlarge", 96, 48, 2, 786432, 15, 50, 120, "37.5 Gigabit"},
          {"r6i.32xlarge", 128, 64, 2, 1048576, 15, 50, 120, "50 Gigabit"},
          {"r6i.metal", 128, 64, 2, 1048576, 15, 50, 120, "50 Gigabit"},
      }},
      {Arch::kArm64, "AWS", {
          {"r6g.medium", 1, 1, 1, 8192, 2, 4, 4, "Up to 10 Gigabit"},
          {"r6g.large", 2, 2, 1, 16384, 3, 10, 10, "Up to 10 Gigabit"},
          {"r6g.xlarge", 4, 4, 1, 32768, 4, 15, 20, "Up to 10 Gigabit"},
          {"r6g.2xlarge", 8, 8, 1, 65536, 4, 15, 40, "Up to 10 Gigabit"},
          {"r6g.4xlarge", 16, 16, 1, 131072, 8, 30, 60, "Up to 10 Gigabit"},
          {"r6g.8xlarge", 32, 32, 1, 262144, 8, 30, 60, "12 Gigabit"},
          {"r6g.12xlarge", 48, 48, 1, 393216, 8, 30, 60, "20 Gigabit"},
          {"r6g.16xlarge", 64, 64, 1, 524288, 15, 50, 120, "25 Gigabit"},
          {"r6g.metal", 64, 64, 1, 524288, 15, 50, 120, "25 Gigabit"},
      }},
  };
  return kFamilies;
}

uint64_t Fnv1a64(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

const std::vector<InstanceType>& AllInstanceTypes() {
  static const std::vector<InstanceType> kAll = [] {
    std::vector<InstanceType> out;
    for (const auto& f : Families()) {
      for (const auto& r : f.rows) {
        InstanceType t;
        t.name = r.name;
        t.vcpus = r.vcpus;
        t.cores = r.cores;
        t.threads_per_core = r.threads;
        t.memory_mib = r.mib;
        t.arch = f.arch;
        t.manufacturer = f.manufacturer;
        t.max_enis = r.enis;
        t.ipv4_per_eni = r.ipv4;
        t.ipv6_per_eni = r.ipv4;
        t.trunk_tasks = r.trunk;
        t.network_performance = r.perf;
        t.bare_metal = t.name.ends_with(".metal");
        t.burstable = t.name.starts_with("t");
        out.push_back(std::move(t));
      }
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
  }();
  return kAll;
}

const InstanceType* FindInstanceType(std::string_view name) {
  const auto& all = AllInstanceTypes();
  auto it = std::lower_bound(all.begin(), all.end(), name,
                             [](const InstanceType& t, std::string_view n) { return t.name < n; });
  return it != all.end() && it->name == name ? &*it : nullptr;
}

int AwsvpcTaskLimit(const InstanceType& t, bool trunking) {
  if (trunking && t.trunk_tasks > 0) return t.trunk_tasks;
  return t.max_enis - 1;
}

std::string ImageId(const std::string& region, std::string_view name, std::string_view prefix) {
  return fmt::format("{}-0{:016x}", prefix, Fnv1a64(region + "/" + std::string(name)));
}

namespace {

// The ECS-optimized Amazon Linux AMIs: names as AWS publishes them (the AL2023 name
// "al2023-ami-ecs-hvm-2023.0.<date>-kernel-6.1-<arch>", the AL2 name
// "amzn2-ami-ecs-hvm-2.0.<date>-<arch>-ebs"; Amazon ECS developer guide,
// "Retrieving Amazon ECS-optimized Linux AMI metadata" and the AMI version tables), owned
// by Amazon's ECS AMI account 591542846629 (alias "amazon"). Two releases: 20241115 (the
// recommended one) and 20240709, deprecated, which DescribeImages shows only with
// IncludeDeprecated or when asked for by id. Creation and deprecation times, snapshot ids
// and image ids are kecs's, not AWS's.
struct ImageRow {
  bool al2023;
  const char* date;         // "20241115"
  const char* created;      // CreationDate
  const char* deprecation;  // DeprecationTime
  bool deprecated;
};

std::vector<Image> BuildImages(const std::string& region) {
  static const ImageRow kRows[] = {
      {true, "20241115", "2024-11-15T23:04:21.000Z", "2028-11-15T23:04:00.000Z", false},
      {false, "20241115", "2024-11-15T22:48:05.000Z", "2028-11-15T22:48:00.000Z", false},
      {true, "20240709", "2024-07-09T21:31:12.000Z", "2025-07-09T21:31:00.000Z", true},
      {false, "20240709", "2024-07-09T21:12:40.000Z", "2025-07-09T21:12:00.000Z", true},
  };
  std::vector<Image> out;
  for (const auto& r : kRows) {
    for (Arch a : {Arch::kX86_64, Arch::kArm64}) {
      std::string arch(ArchName(a));
      Image im;
      if (r.al2023) {
        im.name = fmt::format("al2023-ami-ecs-hvm-2023.0.{}-kernel-6.1-{}", r.date, arch);
        im.description = fmt::format("Amazon Linux AMI 2023.0.{} {} ECS HVM EBS", r.date, arch);
        im.volume_type = "gp3";
        im.boot_mode = "uefi-preferred";
        im.imds_support = "v2.0";
        im.ssm_parameter = a == Arch::kArm64 ? "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended"
                                             : "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended";
      } else {
        im.name = fmt::format("amzn2-ami-ecs-hvm-2.0.{}-{}-ebs", r.date, arch);
        im.description = fmt::format("Amazon Linux AMI 2.0.{} {} ECS HVM GP2", r.date, arch);
        im.volume_type = "gp2";
        im.ssm_parameter = a == Arch::kArm64 ? "/aws/service/ecs/optimized-ami/amazon-linux-2/arm64/recommended"
                                             : "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended";
      }
      if (r.deprecated) im.ssm_parameter.clear();  // "recommended" names the newest release only
      im.arch = a;
      im.id = ImageId(region, im.name);
      im.snapshot_id = ImageId(region, im.name, "snap");
      im.owner_id = "591542846629";
      im.owner_alias = "amazon";
      im.creation_date = r.created;
      im.deprecation_time = r.deprecation;
      im.deprecated = r.deprecated;
      out.push_back(std::move(im));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
  return out;
}

}  // namespace

const std::vector<Image>& ImagesIn(const std::string& region) {
  static std::mutex mu;
  static std::map<std::string, std::vector<Image>> cache;  // entries are never erased
  std::lock_guard lock(mu);
  auto it = cache.find(region);
  if (it == cache.end()) it = cache.emplace(region, BuildImages(region)).first;
  return it->second;
}

const Image* FindImage(const std::string& region, std::string_view id) {
  for (const auto& im : ImagesIn(region)) {
    if (im.id == id) return &im;
  }
  return nullptr;
}

}  // namespace kecs::model
