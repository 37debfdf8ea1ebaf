// EC2: DescribeInstanceTypes and DescribeImages over the fixed catalogs of
// model/instance_types.h (real instance types; the ECS-optimized Amazon Linux images with
// kecs's own per-region ids). Nothing is stored: both answer from the tables.
#include <set>

#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "base/strings.h"
#include "model/instance_types.h"

namespace kecs::api::ec2 {
namespace {

// Filter values at a dotted path of the view; lists on the way are flattened, and
// booleans and numbers are compared as EC2 prints them ("true", "8192").
FilterField At(std::vector<std::string> path) {
  return [path](const Json& view) {
    std::vector<const Json*> cur{&view};
    for (const auto& step : path) {
      std::vector<const Json*> next;
      for (const Json* j : cur) {
        const Json* v = JGet(*j, step);
        if (!v) continue;
        if (v->is_array()) {
          for (const auto& item : *v) next.push_back(&item);
        } else {
          next.push_back(v);
        }
      }
      cur = std::move(next);
    }
    std::vector<std::string> out;
    for (const Json* j : cur) {
      if (j->is_string()) out.push_back(j->get<std::string>());
      else if (j->is_boolean()) out.push_back(j->get<bool>() ? "true" : "false");
      else if (j->is_number_integer()) out.push_back(std::to_string(j->get<long long>()));
    }
    return out;
  };
}

Json InstanceTypeView(const model::InstanceType& t) {
  std::string arch(model::ArchName(t.arch));
  Json network = {
      {"NetworkPerformance", t.network_performance},
      {"MaximumNetworkInterfaces", t.max_enis},
      {"MaximumNetworkCards", 1},
      {"DefaultNetworkCardIndex", 0},
      {"NetworkCards", Json::array({{{"NetworkCardIndex", 0},
                                     {"NetworkPerformance", t.network_performance},
                                     {"MaximumNetworkInterfaces", t.max_enis}}})},
      {"Ipv4AddressesPerInterface", t.ipv4_per_eni},
      {"Ipv6AddressesPerInterface", t.ipv6_per_eni},
      {"Ipv6Supported", true},
      {"EnaSupport", "required"},
      {"EfaSupported", false},
      {"EncryptionInTransitSupported", false},
      {"EnaSrdSupported", false},
  };
  Json vcpu = {{"DefaultVCpus", t.vcpus}, {"DefaultCores", t.cores}, {"DefaultThreadsPerCore", t.threads_per_core}};
  vcpu["ValidThreadsPerCore"] = t.threads_per_core == 2 ? Json::array({1, 2}) : Json::array({1});
  Json v = {
      {"InstanceType", t.name},
      {"CurrentGeneration", t.current_generation},
      {"FreeTierEligible", t.name == "t3.micro"},
      {"SupportedUsageClasses", Json::array({"on-demand", "spot"})},
      {"SupportedRootDeviceTypes", Json::array({"ebs"})},
      {"SupportedVirtualizationTypes", Json::array({"hvm"})},
      {"BareMetal", t.bare_metal},
      {"ProcessorInfo", {{"SupportedArchitectures", Json::array({arch})}, {"Manufacturer", t.manufacturer}}},
      {"VCpuInfo", std::move(vcpu)},
      {"MemoryInfo", {{"SizeInMiB", t.memory_mib}}},
      {"InstanceStorageSupported", false},
      {"EbsInfo", {{"EbsOptimizedSupport", "default"}, {"EncryptionSupport", "supported"}, {"NvmeSupport", "required"}}},
      {"NetworkInfo", std::move(network)},
      {"PlacementGroupInfo", {{"SupportedStrategies", t.burstable ? Json::array({"partition", "spread"})
                                                                  : Json::array({"cluster", "partition", "spread"})}}},
      {"HibernationSupported", false},
      {"BurstablePerformanceSupported", t.burstable},
      {"DedicatedHostsSupported", !t.burstable},
      {"AutoRecoverySupported", !t.bare_metal},
      {"SupportedBootModes", t.arch == model::Arch::kArm64 ? Json::array({"uefi"}) : Json::array({"legacy-bios", "uefi"})},
  };
  if (!t.bare_metal) v["Hypervisor"] = std::string(t.hypervisor());
  return v;
}

const FilterSpec& InstanceTypeFilters() {
  static const FilterSpec kSpec = {
      {"instance-type", At({"InstanceType"})},
      {"current-generation", At({"CurrentGeneration"})},
      {"free-tier-eligible", At({"FreeTierEligible"})},
      {"bare-metal", At({"BareMetal"})},
      {"hypervisor", At({"Hypervisor"})},
      {"burstable-performance-supported", At({"BurstablePerformanceSupported"})},
      {"dedicated-hosts-supported", At({"DedicatedHostsSupported"})},
      {"auto-recovery-supported", At({"AutoRecoverySupported"})},
      {"hibernation-supported", At({"HibernationSupported"})},
      {"instance-storage-supported", At({"InstanceStorageSupported"})},
      {"supported-usage-class", At({"SupportedUsageClasses"})},
      {"supported-root-device-type", At({"SupportedRootDeviceTypes"})},
      {"supported-virtualization-type", At({"SupportedVirtualizationTypes"})},
      {"supported-boot-mode", At({"SupportedBootModes"})},
      {"processor-info.supported-architecture", At({"ProcessorInfo", "SupportedArchitectures"})},
      {"processor-info.manufacturer", At({"ProcessorInfo", "Manufacturer"})},
      {"vcpu-info.default-vcpus", At({"VCpuInfo", "DefaultVCpus"})},
      {"vcpu-info.default-cores", At({"VCpuInfo", "DefaultCores"})},
      {"vcpu-info.default-threads-per-core", At({"VCpuInfo", "DefaultThreadsPerCore"})},
      {"vcpu-info.valid-threads-per-core", At({"VCpuInfo", "ValidThreadsPerCore"})},
      {"memory-info.size-in-mib", At({"MemoryInfo", "SizeInMiB"})},
      {"network-info.maximum-network-interfaces", At({"NetworkInfo", "MaximumNetworkInterfaces"})},
      {"network-info.maximum-network-cards", At({"NetworkInfo", "MaximumNetworkCards"})},
      {"network-info.ipv4-addresses-per-interface", At({"NetworkInfo", "Ipv4AddressesPerInterface"})},
      {"network-info.ipv6-addresses-per-interface", At({"NetworkInfo", "Ipv6AddressesPerInterface"})},
      {"network-info.ipv6-supported", At({"NetworkInfo", "Ipv6Supported"})},
      {"network-info.ena-support", At({"NetworkInfo", "EnaSupport"})},
      {"network-info.efa-supported", At({"NetworkInfo", "EfaSupported"})},
      {"network-info.network-performance", At({"NetworkInfo", "NetworkPerformance"})},
      {"ebs-info.ebs-optimized-support", At({"EbsInfo", "EbsOptimizedSupport"})},
      {"ebs-info.encryption-support", At({"EbsInfo", "EncryptionSupport"})},
      {"ebs-info.nvme-support", At({"EbsInfo", "NvmeSupport"})},
      {"placement-group-info.supported-strategies", At({"PlacementGroupInfo", "SupportedStrategies"})},
  };
  return kSpec;
}

Json DescribeInstanceTypes(RequestContext&, const Json& in) {
  const Json filters = in.value("Filters", Json::array());
  CheckFilters(filters, InstanceTypeFilters());
  std::set<std::string> wanted;
  std::vector<std::string> missing;
  for (const auto& n : in.value("InstanceTypes", Json::array())) {
    std::string name = n.get<std::string>();
    if (!model::FindInstanceType(name)) missing.push_back(name);
    wanted.insert(name);
  }
  if (!missing.empty()) {
    // EC2's wording, e.g. scylladb/scylla-cluster-tests#12419: "The following supplied
    // instance types do not exist: [i8ge.xlarge]".
    throw Ec2Error("InvalidInstanceType", fmt::format("The following supplied instance types do not exist: [{}]",
                                                      fmt::join(missing, ", ")));
  }
  std::vector<Json> views;
  for (const auto& t : model::AllInstanceTypes()) {
    if (!wanted.empty() && !wanted.count(t.name)) continue;
    Json v = InstanceTypeView(t);
    if (MatchFilters(filters, v, InstanceTypeFilters())) views.push_back(std::move(v));
  }
  Json out = Json::object();
  PageInto(out, "InstanceTypes", std::move(views), in);  // MaxResults 5..100: the router checks the model's range
  return out;
}

Json ImageView(const model::Image& im) {
  Json v = {
      {"ImageId", im.id},
      {"ImageLocation", "amazon/" + im.name},
      {"State", "available"},
      {"OwnerId", im.owner_id},
      {"ImageOwnerAlias", im.owner_alias},
      {"CreationDate", im.creation_date},
      {"DeprecationTime", im.deprecation_time},
      {"Public", true},
      {"Architecture", std::string(model::ArchName(im.arch))},
      {"ImageType", "machine"},
      {"PlatformDetails", "Linux/UNIX"},
      {"UsageOperation", "RunInstances"},
      {"Name", im.name},
      {"Description", im.description},
      {"EnaSupport", true},
      {"Hypervisor", "xen"},  // what DescribeImages reports for HVM AMIs, Nitro or not
      {"RootDeviceName", im.root_device_name},
      {"RootDeviceType", "ebs"},
      {"SriovNetSupport", "simple"},
      {"VirtualizationType", "hvm"},
      {"BlockDeviceMappings", Json::array({{{"DeviceName", im.root_device_name},
                                            {"Ebs", {{"DeleteOnTermination", true},
                                                     {"SnapshotId", im.snapshot_id},
                                                     {"VolumeSize", im.volume_size_gib},
                                                     {"VolumeType", im.volume_type},
                                                     {"Encrypted", false}}}}})},
  };
  if (!im.boot_mode.empty()) v["BootMode"] = im.boot_mode;
  if (!im.imds_support.empty()) v["ImdsSupport"] = im.imds_support;
  return v;
}

const FilterSpec& ImageFilters() {
  static const FilterSpec kSpec = {
      {"architecture", At({"Architecture"})},
      {"name", At({"Name"})},
      {"description", At({"Description"})},
      {"image-id", At({"ImageId"})},
      {"image-type", At({"ImageType"})},
      {"is-public", At({"Public"})},
      {"owner-alias", At({"ImageOwnerAlias"})},
      {"owner-id", At({"OwnerId"})},
      {"state", At({"State"})},
      {"root-device-name", At({"RootDeviceName"})},
      {"root-device-type", At({"RootDeviceType"})},
      {"virtualization-type", At({"VirtualizationType"})},
      {"hypervisor", At({"Hypervisor"})},
      {"ena-support", At({"EnaSupport"})},
      {"sriov-net-support", At({"SriovNetSupport"})},
      {"platform-details", At({"PlatformDetails"})},
      {"usage-operation", At({"UsageOperation"})},
      {"creation-date", At({"CreationDate"})},
      {"manifest-location", At({"ImageLocation"})},
      {"block-device-mapping.device-name", At({"BlockDeviceMappings", "DeviceName"})},
      {"block-device-mapping.snapshot-id", At({"BlockDeviceMappings", "Ebs", "SnapshotId"})},
      {"block-device-mapping.volume-size", At({"BlockDeviceMappings", "Ebs", "VolumeSize"})},
      {"block-device-mapping.volume-type", At({"BlockDeviceMappings", "Ebs", "VolumeType"})},
      {"block-device-mapping.delete-on-termination", At({"BlockDeviceMappings", "Ebs", "DeleteOnTermination"})},
      {"block-device-mapping.encrypted", At({"BlockDeviceMappings", "Ebs", "Encrypted"})},
  };
  return kSpec;
}

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

Json DescribeImages(RequestContext& ctx, const Json& in) {
  const Json filters = in.value("Filters", Json::array());
  CheckFilters(filters, ImageFilters());
  if (auto max = JOptInt(in, "MaxResults"); max && (*max < 1 || *max > 1000)) {
    // No source found for EC2's wording of this refusal: kecs's wording.
    throw InvalidParameterValue(fmt::format("Value ( {} ) for parameter maxResults is invalid. "
                                            "Expecting a value between 1 and 1000.", *max));
  }
  std::vector<std::string> ids;
  std::vector<std::string> missing;
  for (const auto& j : in.value("ImageIds", Json::array())) {
    std::string id = j.get<std::string>();
    std::string_view hex = std::string_view(id).substr(std::min<size_t>(id.size(), 4));
    if (!id.starts_with("ami-") || (hex.size() != 8 && hex.size() != 17) || !IsHex(hex)) {
      // e.g. hashicorp/terraform#22172: Invalid id: "{var.ami_id}" (expecting "ami-...")
      throw Ec2Error("InvalidAMIID.Malformed", fmt::format("Invalid id: \"{}\" (expecting \"ami-...\")", id));
    }
    if (!model::FindImage(ctx.region, id)) missing.push_back(id);
    ids.push_back(id);
  }
  if (!missing.empty()) {
    // EC2 prints the ids as a list (aws/aws-sdk#97): "The image id '[ami-fake123]' does not exist".
    throw Ec2Error("InvalidAMIID.NotFound",
                   fmt::format("The image id '[{}]' does not exist", fmt::join(missing, ", ")));
  }
  std::set<std::string> owners;
  for (const auto& o : in.value("Owners", Json::array())) owners.insert(o.get<std::string>());
  bool include_deprecated = JBool(in, "IncludeDeprecated");
  std::vector<Json> views;
  for (const auto& im : model::ImagesIn(ctx.region)) {
    bool asked = std::find(ids.begin(), ids.end(), im.id) != ids.end();
    if (!ids.empty() && !asked) continue;
    // A deprecated image shows when asked for by id or with IncludeDeprecated.
    if (im.deprecated && !include_deprecated && !asked) continue;
    if (!owners.empty() && !owners.count(im.owner_alias) && !owners.count(im.owner_id)) continue;
    Json v = ImageView(im);
    if (MatchFilters(filters, v, ImageFilters())) views.push_back(std::move(v));
  }
  Json out = Json::object();
  PageInto(out, "Images", std::move(views), in);
  return out;
}

}  // namespace

void RegisterInstanceTypeOps(Service& s, state::Store&, net::RegionBootstrap&) {
#define KECS_OP(name) \
  s.Register(#name, [](RequestContext& ctx, const Json& in) { CheckDryRun(in); return name(ctx, in); })
  KECS_OP(DescribeInstanceTypes);
  KECS_OP(DescribeImages);
#undef KECS_OP
}

}  // namespace kecs::api::ec2
