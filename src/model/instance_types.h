#pragma once
// A catalog of real EC2 instance types that ECS users run, and the public ECS-optimized
// images kecs offers in every region.
//
// Instance types feed DescribeInstanceTypes, RunInstances and ECS placement (how many
// awsvpc tasks an instance holds). Images feed DescribeImages and RunInstances' ImageId
// check. Both are fixed tables: nothing here is stored.
#include <string>
#include <string_view>
#include <vector>

namespace kecs::model {

enum class Arch { kX86_64, kArm64 };
std::string_view ArchName(Arch a);  // "x86_64" / "arm64"

struct InstanceType {
  std::string name;             // "m5.large"
  int vcpus = 0;                // default vCPUs
  int cores = 0;                // default cores
  int threads_per_core = 0;     // default threads per core
  long long memory_mib = 0;
  Arch arch = Arch::kX86_64;
  std::string manufacturer;     // "Intel", "AMD", "AWS"
  int max_enis = 0;             // maximum network interfaces (primary included)
  int ipv4_per_eni = 0;
  int ipv6_per_eni = 0;
  // awsvpc tasks with ENI trunking on (ECS's published table); 0 = not trunking-capable.
  int trunk_tasks = 0;
  std::string network_performance;  // "Up to 10 Gigabit"
  bool current_generation = true;
  bool bare_metal = false;      // *.metal: no hypervisor
  bool burstable = false;       // t*
  std::string_view hypervisor() const { return bare_metal ? "" : "nitro"; }
  std::string_view family() const { return std::string_view(name).substr(0, name.find('.')); }
};

// Every type, ordered by name.
const std::vector<InstanceType>& AllInstanceTypes();
// nullptr when `name` is not in the catalog.
const InstanceType* FindInstanceType(std::string_view name);
// awsvpc tasks one instance can hold: ENIs - 1 (the primary is the instance's own), or
// the trunk's branch count when trunking is on and the type supports it.
int AwsvpcTaskLimit(const InstanceType& t, bool trunking);

struct Image {
  std::string id;             // "ami-" + 17 hex, kecs's own (see ImageId)
  std::string name;           // AWS's name, "al2023-ami-ecs-hvm-2023.0.20241115-kernel-6.1-x86_64"
  std::string description;
  Arch arch = Arch::kX86_64;
  std::string owner_id;       // "591542846629"
  std::string owner_alias;    // "amazon"
  std::string creation_date;  // ISO 8601
  std::string deprecation_time;
  bool deprecated = false;    // an older release: hidden unless IncludeDeprecated or asked by id
  std::string root_device_name = "/dev/xvda";
  std::string volume_type;    // "gp3" / "gp2"
  int volume_size_gib = 30;
  std::string boot_mode;      // "uefi-preferred" for AL2023, "" for AL2
  std::string imds_support;   // "v2.0" for AL2023
  std::string snapshot_id;
  std::string ssm_parameter;  // the public SSM parameter that names it
};

// The ECS-optimized Amazon Linux images of `region` (the same names in every region,
// region-specific ids), ordered by name.
const std::vector<Image>& ImagesIn(const std::string& region);
// nullptr when `region` has no image `id`.
const Image* FindImage(const std::string& region, std::string_view id);
// kecs's stable id for an image named `name` in `region`: "ami-0" + 16 hex digits of a
// 64-bit FNV-1a hash of "<region>/<name>" (the same id every run; never AWS's own id).
std::string ImageId(const std::string& region, std::string_view name, std::string_view prefix = "ami");

}  // namespace kecs::model
