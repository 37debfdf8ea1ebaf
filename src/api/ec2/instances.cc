// EC2 instances (issue 17): RunInstances, DescribeInstances, DescribeInstanceStatus,
// TerminateInstances, StopInstances, StartInstances, RebootInstances,
// DescribeInstanceAttribute, ModifyInstanceAttribute.
//
// The API only records what the user asked for: RunInstances stores instances in pending,
// Stop/Terminate move them to stopping/shutting-down, Start back to pending. The instance
// controller (reconcile/instance_controller.h) finishes each transition off the request
// path: running once the runtime has made the instance's host, stopped/terminated once its
// tasks are stopped and the host is gone. Each instance owns a primary network interface
// (interface type "interface", DeviceIndex 0, DeleteOnTermination) made through
// net::CreateEni, so IPAM gives its address. GetConsoleOutput is served by
// sg_references_console.cc (with no Output: kecs keeps no console).
#include "api/ec2/instances.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "api/ec2/launch_templates.h"
#include "base/clock.h"
#include "base/utc_time.h"
#include "base/ids.h"
#include "base/value_cipher.h"
#include "model/instance_types.h"
#include "net/domain/ip.h"

namespace kecs::api::ec2 {


namespace {

constexpr const char* kKeyPairKind = "ec2:key-pair";  // key_pairs.cc's kind

// EC2's words for a user's stop or terminate, e.g. as DescribeInstances shows a stopped
// instance: StateTransitionReason "User initiated (2024-01-01 12:00:00 GMT)" and
// StateReason Client.UserInitiatedShutdown (AWS API reference, StateReason).
void UserInitiated(Json& doc, double now) {
  doc["StateTransitionReason"] = fmt::format("User initiated ({} GMT)", FormatUtc(now, "%Y-%m-%d %H:%M:%S"));
  doc["StateReason"] = {{"Code", "Client.UserInitiatedShutdown"},
                        {"Message", "Client.UserInitiatedShutdown: User initiated shutdown"}};
}

// A terminated instance older than an hour is gone, as on AWS.
bool Expired(const state::Object& o, double now) {
  return o.status == "terminated" && now - o.doc.value("kecs:terminatedAt", now) > kTerminatedVisibleSeconds;
}

// Ids as EC2 checks them: "Invalid id: "x"" (cluster-glue#29 quotes EC2's
// InvalidInstanceID.Malformed for StopInstances and DescribeInstances).
void CheckInstanceId(const std::string& id) {
  if (!IsWellFormedId(id, "i")) throw Ec2Error("InvalidInstanceID.Malformed", fmt::format("Invalid id: \"{}\"", id));
}

AwsError NotFound(const std::vector<std::string>& ids) {
  // EC2's words: "The instance ID 'i-1' does not exist", and for several
  // "The instance IDs 'i-1, i-2' do not exist".
  if (ids.size() == 1) {
    return Ec2Error("InvalidInstanceID.NotFound", fmt::format("The instance ID '{}' does not exist", ids[0]));
  }
  return Ec2Error("InvalidInstanceID.NotFound",
                  fmt::format("The instance IDs '{}' do not exist", fmt::join(ids, ", ")));
}

// The instances `ids` names, in the order given; every one must exist (not expired).
std::vector<state::Object> RequireInstances(state::Tx& tx, const std::string& region, const Json& ids, double now) {
  std::vector<state::Object> out;
  std::vector<std::string> missing;
  for (const auto& j : ids) {
    std::string id = j.get<std::string>();
    CheckInstanceId(id);
  }
  for (const auto& j : ids) {
    std::string id = j.get<std::string>();
    auto o = Check(tx.Get(net::kEc2Instance, region, id));
    if (!o || Expired(*o, now)) {
      missing.push_back(id);
      continue;
    }
    out.push_back(std::move(*o));
  }
  if (!missing.empty()) throw NotFound(missing);
  return out;
}

// The instances in.InstanceIds names (each must exist), else every one not yet gone, in
// launch order.
std::vector<state::Object> AskedInstances(state::Tx& tx, const std::string& region, const Json& in, double now) {
  if (const Json* ids = JGet(in, "InstanceIds"); ids && !ids->empty()) return RequireInstances(tx, region, *ids, now);
  std::vector<state::Object> objects;
  for (auto& o : Check(tx.List({net::kEc2Instance, region}))) {
    if (!Expired(o, now)) objects.push_back(std::move(o));
  }
  std::stable_sort(objects.begin(), objects.end(), [](const state::Object& a, const state::Object& b) {
    return a.doc.value("LaunchTime", 0.0) < b.doc.value("LaunchTime", 0.0) ||
           (a.doc.value("LaunchTime", 0.0) == b.doc.value("LaunchTime", 0.0) && a.seq < b.seq);
  });
  return objects;
}

std::vector<std::string> LaunchTimeIso(const Json& view) {
  const Json* t = JGet(view, "LaunchTime");
  if (!t || !t->is_number()) return {};
  return {Iso8601(t->get<double>())};
}

const FilterSpec& InstanceFilters() {
  static const FilterSpec kSpec = {
      {"instance-id", Field("InstanceId")},
      {"instance-state-name", [](const Json& v) { return std::vector<std::string>{JStr(v["State"], "Name")}; }},
      {"instance-state-code",
       [](const Json& v) { return std::vector<std::string>{std::to_string(JInt(v["State"], "Code"))}; }},
      {"instance-type", Field("InstanceType")},
      {"image-id", Field("ImageId")},
      {"subnet-id", Field("SubnetId")},
      {"vpc-id", Field("VpcId")},
      {"availability-zone", [](const Json& v) { return std::vector<std::string>{JStr(v["Placement"], "AvailabilityZone")}; }},
      {"private-ip-address", Field("PrivateIpAddress")},
      {"private-dns-name", Field("PrivateDnsName")},
      {"network-interface.network-interface-id", Nested("NetworkInterfaces", "NetworkInterfaceId")},
      {"instance.group-id", Nested("SecurityGroups", "GroupId")},
      {"instance.group-name", Nested("SecurityGroups", "GroupName")},
      {"key-name", Field("KeyName")},
      {"launch-time", LaunchTimeIso},
      {"architecture", Field("Architecture")},
      {"reservation-id", Field("kecs:reservationId")},
      {"owner-id", Field("kecs:ownerId")},
      {"iam-instance-profile.arn", [](const Json& v) {
         const Json* p = JGet(v, "IamInstanceProfile");
         return p ? std::vector<std::string>{JStr(*p, "Arn")} : std::vector<std::string>{};
       }},
  };
  return kSpec;
}

const FilterSpec& StatusFilters() {
  static const FilterSpec kSpec = {
      {"availability-zone", Field("AvailabilityZone")},
      {"instance-state-name", [](const Json& v) { return std::vector<std::string>{JStr(v["InstanceState"], "Name")}; }},
      {"instance-state-code",
       [](const Json& v) { return std::vector<std::string>{std::to_string(JInt(v["InstanceState"], "Code"))}; }},
      {"instance-status.status", [](const Json& v) { return std::vector<std::string>{JStr(v["InstanceStatus"], "Status")}; }},
      {"system-status.status", [](const Json& v) { return std::vector<std::string>{JStr(v["SystemStatus"], "Status")}; }},
  };
  return kSpec;
}

// The instance as DescribeInstances shows it; `filter_view` keeps the reservation and owner
// (filters only) and is stripped before answering.
Json FilterView(const state::Object& o) {
  Json v = WithoutInternalMembers(o.doc);
  v["kecs:reservationId"] = o.name;
  v["kecs:ownerId"] = JStr(o.doc, "kecs:ownerId");
  return v;
}

Json ReservationView(const std::string& reservation, const std::string& owner, std::vector<Json> instances) {
  Json groups = Json::array();
  return {{"ReservationId", reservation}, {"OwnerId", owner}, {"Groups", groups}, {"Instances", std::move(instances)}};
}

// The TagSpecifications of RunInstances: instance, network-interface and volume tags.
struct LaunchTags {
  Json instance = Json::array(), eni = Json::array(), volume = Json::array();
};
LaunchTags SplitTags(const Json& in) {
  LaunchTags t;
  for (const auto& spec : in.value("TagSpecifications", Json::array())) {
    std::string type = JStr(spec, "ResourceType");
    Json one = {{"TagSpecifications", Json::array({spec})}};
    Json* into = type == "instance" ? &t.instance : type == "network-interface" ? &t.eni : type == "volume" ? &t.volume : nullptr;
    if (!into) {
      throw InvalidParameterValue(fmt::format("'{}' is not a valid taggable resource type for this operation.", type));
    }
    for (auto& tag : TagsFor(one, type)) into->push_back(tag);
  }
  return t;
}

// The security groups of the request (ids, or names in the VPC), else the VPC's default.
std::vector<state::Object> LaunchGroups(state::Tx& tx, const std::string& region, const std::string& vpc_id,
                                        const Json& ids, const Json& names) {
  std::vector<state::Object> out;
  for (const auto& j : ids) {
    std::string id = j.get<std::string>();
    CheckId(id, "sg", "InvalidGroupId.Malformed");
    auto g = Check(tx.Get(net::kSecurityGroup, region, id));
    if (!g || g->parent != vpc_id) {
      // EC2's words for a group of another VPC or none (e.g. terraform-provider-aws#1993).
      throw Ec2Error("InvalidGroup.NotFound", fmt::format("The security group '{}' does not exist in VPC '{}'", id, vpc_id));
    }
    out.push_back(*g);
  }
  for (const auto& j : names) {
    std::string name = j.get<std::string>();
    std::optional<state::Object> found;
    for (auto& g : Check(tx.List({net::kSecurityGroup, region, vpc_id}))) {
      if (JStr(g.doc, "GroupName") == name) found = g;
    }
    if (!found) {
      throw Ec2Error("InvalidGroup.NotFound", fmt::format("The security group '{}' does not exist in VPC '{}'", name, vpc_id));
    }
    out.push_back(*found);
  }
  if (out.empty()) {
    auto def = Check(net::DefaultSecurityGroup(tx, region, vpc_id));
    if (def) out.push_back(*def);
  }
  return out;
}

class InstanceOps {
 public:
  InstanceOps(state::Store& store, net::RegionBootstrap& regions) : store_(store), regions_(regions) {}

  Json RunInstances(RequestContext& ctx, const Json& in);
  Json DescribeInstances(RequestContext& ctx, const Json& in);
  Json DescribeInstanceStatus(RequestContext& ctx, const Json& in);
  Json TerminateInstances(RequestContext& ctx, const Json& in);
  Json StopInstances(RequestContext& ctx, const Json& in);
  Json StartInstances(RequestContext& ctx, const Json& in);
  Json RebootInstances(RequestContext& ctx, const Json& in);
  Json DescribeInstanceAttribute(RequestContext& ctx, const Json& in);
  Json ModifyInstanceAttribute(RequestContext& ctx, const Json& in);

 private:
  net::Scope ScopeOf(const RequestContext& ctx) {
    return RequestScope(store_, regions_, ctx);
  }
  // Moves each instance named by in.InstanceIds with `change` (which returns the new state
  // or throws), answering InstanceStateChange entries under `member`.
  Json ChangeStates(RequestContext& ctx, const Json& in, const char* member,
                    const std::function<std::string(state::Object&)>& change);

  state::Store& store_;
  net::RegionBootstrap& regions_;
};

// The launch parameters: the launch template's data, each member the request gives
// replacing the template's (RunInstances' documented precedence).
Json LaunchParameters(state::Tx& tx, const std::string& region, const Json& in) {
  const Json* spec = JGet(in, "LaunchTemplate");
  if (!spec) return in;
  std::string id = JStr(*spec, "LaunchTemplateId"), name = JStr(*spec, "LaunchTemplateName");
  if (id.empty() == name.empty()) {
    // No source found for EC2's wording: kecs's.
    throw Ec2Error("InvalidParameterCombination",
                   "A launch template must be given by exactly one of LaunchTemplateId and LaunchTemplateName.");
  }
  auto data = LaunchTemplateData(tx, region, id.empty() ? name : id, JStr(*spec, "Version"));
  if (!data.ok()) {
    const std::string& msg = data.status().message();
    if (data.status().code() == Code::kInvalidArgument) throw InvalidParameterValue(msg);
    if (msg.find("ersion") != std::string::npos) throw Ec2Error("InvalidLaunchTemplateId.VersionNotFound", msg);
    throw Ec2Error(id.empty() ? "InvalidLaunchTemplateName.NotFoundException" : "InvalidLaunchTemplateId.NotFound", msg);
  }
  Json merged = *data;
  for (auto it = in.begin(); it != in.end(); ++it) {
    if (it.key() != "LaunchTemplate") merged[it.key()] = it.value();
  }
  return merged;
}

Json InstanceOps::RunInstances(RequestContext& ctx, const Json& in) {
  net::Scope s = ScopeOf(ctx);
  int64_t min_count = JInt(in, "MinCount"), max_count = JInt(in, "MaxCount");
  if (min_count < 1) {
    // No source found for EC2's wording: kecs's.
    throw InvalidParameterValue(fmt::format("Value ({}) for parameter minCount is invalid. Expecting a value greater than 0.", min_count));
  }
  if (max_count < min_count) {
    throw InvalidParameterValue(fmt::format(
        "Value ({}) for parameter maxCount is invalid. Expecting a value greater than or equal to minCount ({}).", max_count, min_count));
  }
  if (max_count > 100) max_count = std::max<int64_t>(min_count, 100);  // kecs's cap on one call
  std::string token = JStr(in, "ClientToken");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    // A repeated ClientToken answers the reservation the first call made.
    if (!token.empty()) {
      std::vector<Json> same;
      std::string reservation;
      for (const auto& o : Check(tx.List({net::kEc2Instance, ctx.region}))) {
        if (JStr(o.doc, "kecs:clientToken") != token) continue;
        reservation = o.name;
        same.push_back(WithoutInternalMembers(o.doc));
      }
      if (!same.empty()) {
        out = ReservationView(reservation, ctx.account_id, std::move(same));
        return Status::Ok();
      }
    }
    Json p = LaunchParameters(tx, ctx.region, in);
    std::string image_id = JStr(p, "ImageId");
    if (image_id.empty()) throw Ec2Error("MissingParameter", "The request must contain the parameter ImageId");
    if (!IsWellFormedId(image_id, "ami")) {
      // hashicorp/terraform#22172 quotes EC2: Invalid id: "{var.ami_id}" (expecting "ami-...")
      throw Ec2Error("InvalidAMIID.Malformed", fmt::format("Invalid id: \"{}\" (expecting \"ami-...\")", image_id));
    }
    const model::Image* image = model::FindImage(ctx.region, image_id);
    if (!image) {
      // aws/aws-sdk#97: "The image id '[ami-fake123]' does not exist".
      throw Ec2Error("InvalidAMIID.NotFound", fmt::format("The image id '[{}]' does not exist", image_id));
    }
    std::string type_name = JStr(p, "InstanceType");
    // AWS defaults to m1.small, which kecs's catalog does not have: kecs asks for a type.
    if (type_name.empty()) throw Ec2Error("MissingParameter", "The request must contain the parameter InstanceType");
    const model::InstanceType* type = model::FindInstanceType(type_name);
    if (!type) {
      throw Ec2Error("InvalidParameterValue", fmt::format("Invalid value '{}' for InstanceType.", type_name));
    }
    if (type->arch != image->arch) {
      // EC2's wording as quoted in aws/aws-cli issues about Graviton launches.
      throw InvalidParameterValue(fmt::format(
          "The architecture '{}' of the specified instance type does not match the architecture '{}' of the specified AMI. "
          "Specify an instance type and an AMI that have matching architectures, and try again.",
          model::ArchName(type->arch), model::ArchName(image->arch)));
    }
    std::string key_name = JStr(p, "KeyName");
    if (!key_name.empty()) {
      state::Query q{kKeyPairKind, ctx.region};
      q.name = key_name;
      if (Check(tx.List(q)).empty()) {
        throw Ec2Error("InvalidKeyPair.NotFound", fmt::format("The key pair '{}' does not exist", key_name));
      }
    }
    // The primary interface's subnet, groups and address.
    Json nic0 = Json::object();
    for (const auto& n : p.value("NetworkInterfaces", Json::array())) {
      if (JInt(n, "DeviceIndex", -1) == 0) nic0 = n;
    }
    if (JHas(p, "NetworkInterfaces") && nic0.empty()) {
      throw InvalidParameterValue("Each network interface requires a device index; the primary must have device index 0.");
    }
    if (!nic0.empty() && (JHas(p, "SubnetId") || JHas(p, "SecurityGroupIds") || JHas(p, "SecurityGroups"))) {
      // EC2's words (e.g. terraform-provider-aws#4186).
      throw Ec2Error("InvalidParameterCombination",
                     "Network interfaces and an instance-level subnet ID or security groups may not be specified on the same request");
    }
    std::string subnet_id = nic0.empty() ? JStr(p, "SubnetId") : JStr(nic0, "SubnetId");
    std::optional<state::Object> subnet;
    if (!subnet_id.empty()) {
      subnet = RequireSubnet(tx, ctx.region, subnet_id);
    } else {
      subnet = Check(net::DefaultSubnet(tx, ctx.region));
      if (!subnet) {
        throw Ec2Error("VPCIdNotSpecified", "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.");
      }
    }
    std::string vpc_id = subnet->parent;
    if (JStr(subnet->doc, "CidrBlock").empty()) {
      throw InvalidParameterValue(fmt::format("The subnet '{}' has no IPv4 CIDR block; kecs's instances need one.", subnet->id));
    }
    auto groups = LaunchGroups(tx, ctx.region, vpc_id, nic0.empty() ? p.value("SecurityGroupIds", Json::array()) : nic0.value("Groups", Json::array()),
                               nic0.empty() ? p.value("SecurityGroups", Json::array()) : Json::array());
    std::optional<std::string> private_ip = nic0.empty() ? JOptStr(p, "PrivateIpAddress") : JOptStr(nic0, "PrivateIpAddress");
    if (private_ip && max_count > 1) {
      if (min_count > 1) {
        throw Ec2Error("InvalidParameterCombination", "Cannot specify a private IP address when launching more than one instance.");
      }
      max_count = 1;
    }
    // User data: base64, at most 16 KB decoded (EC2's documented limit).
    std::string user_data = JStr(p, "UserData");
    std::optional<std::string> cluster;
    if (!user_data.empty()) {
      auto decoded = Base64Decode(user_data);
      if (!decoded.ok()) throw InvalidParameterValue("Invalid BASE64 encoding of user data.");
      if (decoded->size() > 16384) throw InvalidParameterValue("User data is limited to 16384 bytes");
      cluster = EcsClusterFromUserData(*decoded);
    }
    // The ECS agent of an ECS-optimized image registers into "default" when nothing names
    // a cluster (ECS_CLUSTER's documented default, "Amazon ECS container agent
    // configuration"); kecs's images are all ECS-optimized.
    if (!cluster) cluster = "default";
    Json metadata_in = p.value("MetadataOptions", Json::object());
    bool v2_image = image->imds_support == "v2.0";
    std::string tokens = JStr(metadata_in, "HttpTokens", v2_image ? "required" : "optional");
    int64_t hop = JInt(metadata_in, "HttpPutResponseHopLimit", v2_image ? 2 : 1);
    if (hop < 1 || hop > 64) {
      throw InvalidParameterValue(fmt::format("The HttpPutResponseHopLimit '{}' is not valid. Specify a value from 1 to 64.", hop));
    }
    Json metadata = {{"State", "applied"},
                     {"HttpTokens", tokens},
                     {"HttpPutResponseHopLimit", hop},
                     {"HttpEndpoint", JStr(metadata_in, "HttpEndpoint", "enabled")},
                     {"HttpProtocolIpv6", JStr(metadata_in, "HttpProtocolIpv6", "disabled")},
                     {"InstanceMetadataTags", JStr(metadata_in, "InstanceMetadataTags", "disabled")}};
    Json profile;
    if (const Json* ip = JGet(p, "IamInstanceProfile")) {
      std::string arn = JStr(*ip, "Arn");
      std::string pname = JStr(*ip, "Name");
      if (arn.empty() && pname.empty()) throw InvalidParameterValue("An IAM instance profile needs an Arn or a Name.");
      if (arn.empty()) arn = fmt::format("arn:aws:iam::{}:instance-profile/{}", ctx.account_id, pname);
      profile = {{"Arn", arn}, {"Id", "AIPA" + RandomHex(17)}};
      for (char& c : profile["Id"].get_ref<std::string&>()) c = static_cast<char>(std::toupper(c));
    }
    LaunchTags tags = SplitTags(p);
    Json group_ids = Json::array();
    for (const auto& g : groups) group_ids.push_back({{"GroupId", g.id}, {"GroupName", JStr(g.doc, "GroupName")}});
    std::string reservation = Ec2Id("r");
    std::vector<Json> views;
    for (int64_t i = 0; i < max_count; ++i) {
      std::string id = Ec2Id("i");
      net::EniSpec spec;
      spec.subnet = &*subnet;
      for (const auto& g : groups) spec.groups.push_back(g.id);
      spec.description = JStr(nic0, "Description");
      spec.tags = tags.eni;
      spec.attached = true;
      spec.attachment_owner = ctx.account_id;
      state::Object eni;
      try {
        eni = CreateEniAt(tx, s, spec, private_ip);
      } catch (const AwsError& e) {
        // As many as the subnet holds, at least MinCount.
        if (e.code() == "InsufficientFreeAddressesInSubnet" && i >= min_count) break;
        throw;
      }
      eni.doc["Attachment"]["DeviceIndex"] = 0;
      eni.doc["Attachment"]["DeleteOnTermination"] = true;
      eni.doc["Attachment"]["InstanceId"] = id;
      eni.doc["Attachment"]["InstanceOwnerId"] = ctx.account_id;
      Check(tx.Put(eni));
      std::string ip = JStr(eni.doc, "PrivateIpAddress");
      Json nic = {
          {"Attachment", {{"AttachTime", EpochMillis(ctx.now)},
                          {"AttachmentId", JStr(eni.doc["Attachment"], "AttachmentId")},
                          {"DeleteOnTermination", true},
                          {"DeviceIndex", 0},
                          {"Status", "attached"},
                          {"NetworkCardIndex", 0}}},
          {"Description", JStr(eni.doc, "Description")},
          {"Groups", group_ids},
          {"Ipv6Addresses", eni.doc.value("Ipv6Addresses", Json::array())},
          {"MacAddress", JStr(eni.doc, "MacAddress")},
          {"NetworkInterfaceId", eni.id},
          {"OwnerId", ctx.account_id},
          {"PrivateDnsName", JStr(eni.doc, "PrivateDnsName")},
          {"PrivateIpAddress", ip},
          {"PrivateIpAddresses", eni.doc.value("PrivateIpAddresses", Json::array())},
          {"SourceDestCheck", true},
          {"Status", "in-use"},
          {"SubnetId", subnet->id},
          {"VpcId", vpc_id},
          {"InterfaceType", "interface"},
      };
      std::string volume = Ec2Id("vol");
      Json doc = {
          {"Architecture", std::string(model::ArchName(type->arch))},
          {"BlockDeviceMappings", Json::array({{{"DeviceName", image->root_device_name},
                                                {"Ebs", {{"AttachTime", EpochMillis(ctx.now)},
                                                         {"DeleteOnTermination", true},
                                                         {"Status", "attached"},
                                                         {"VolumeId", volume}}}}})},
          {"ClientToken", token},
          {"EbsOptimized", JBool(p, "EbsOptimized")},
          {"EnaSupport", true},
          {"Hypervisor", "xen"},
          {"NetworkInterfaces", Json::array({nic})},
          {"RootDeviceName", image->root_device_name},
          {"RootDeviceType", "ebs"},
          {"SecurityGroups", group_ids},
          {"SourceDestCheck", true},
          {"Tags", tags.instance},
          {"VirtualizationType", "hvm"},
          {"CpuOptions", {{"CoreCount", type->cores}, {"ThreadsPerCore", type->threads_per_core}}},
          {"CapacityReservationSpecification", {{"CapacityReservationPreference", "open"}}},
          {"HibernationOptions", {{"Configured", false}}},
          {"MetadataOptions", metadata},
          {"EnclaveOptions", {{"Enabled", false}}},
          {"PlatformDetails", "Linux/UNIX"},
          {"UsageOperation", "RunInstances"},
          {"PrivateDnsNameOptions", {{"HostnameType", "ip-name"},
                                     {"EnableResourceNameDnsARecord", false},
                                     {"EnableResourceNameDnsAAAARecord", false}}},
          {"MaintenanceOptions", {{"AutoRecovery", "default"}}},
          {"InstanceId", id},
          {"ImageId", image_id},
          {"State", InstanceState("pending")},
          {"PrivateDnsName", JStr(eni.doc, "PrivateDnsName")},
          {"PublicDnsName", ""},
          {"StateTransitionReason", ""},
          {"AmiLaunchIndex", static_cast<int64_t>(views.size())},
          {"ProductCodes", Json::array()},
          {"InstanceType", type->name},
          {"LaunchTime", EpochMillis(ctx.now)},
          {"Placement", {{"AvailabilityZone", JStr(subnet->doc, "AvailabilityZone")},
                         {"GroupName", ""},
                         {"Tenancy", "default"}}},
          {"Monitoring", {{"State", JBool(p.value("Monitoring", Json::object()), "Enabled") ? "enabled" : "disabled"}}},
          {"SubnetId", subnet->id},
          {"VpcId", vpc_id},
          {"PrivateIpAddress", ip},
          {"kecs:ownerId", ctx.account_id},
          {"kecs:clientToken", token},
          {"kecs:disableApiTermination", JBool(p, "DisableApiTermination")},
          {"kecs:disableApiStop", JBool(p, "DisableApiStop")},
          {"kecs:shutdownBehavior", JStr(p, "InstanceInitiatedShutdownBehavior", "stop")},
          {"kecs:pendingTime", ctx.now},
          {"kecs:ecsCluster", *cluster},
          {"kecs:volumeTags", tags.volume},
      };
      if (token.empty()) doc.erase("ClientToken");
      if (!key_name.empty()) doc["KeyName"] = key_name;
      if (!profile.is_null()) doc["IamInstanceProfile"] = profile;
      if (!image->boot_mode.empty()) doc["BootMode"] = image->boot_mode, doc["CurrentInstanceBootMode"] = "uefi";
      if (!user_data.empty()) doc["kecs:userData"] = user_data;
      Check(tx.Insert({net::kEc2Instance, ctx.region, id, vpc_id, reservation, "pending", 0, doc}));
      views.push_back(WithoutInternalMembers(doc));
    }
    out = ReservationView(reservation, ctx.account_id, std::move(views));
    return Status::Ok();
  }));
  return out;
}

Json InstanceOps::DescribeInstances(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  const Json filters = in.value("Filters", Json::array());
  CheckFilters(filters, InstanceFilters());
  if (auto max = JOptInt(in, "MaxResults")) {
    if (JHas(in, "InstanceIds") && !in["InstanceIds"].empty()) {
      // EC2's words (e.g. aws-sdk-go#2043).
      throw Ec2Error("InvalidParameterCombination",
                     "The parameter instancesSet cannot be used with the parameter maxResults");
    }
    if (*max < 5 || *max > 1000) {
      throw InvalidParameterValue(fmt::format(
          "Value ( {} ) for parameter maxResults is invalid. Expecting a value greater than 5.", *max));
    }
  }
  std::vector<std::pair<std::string, Json>> matched;  // reservation, view
  Check(store_.Read([&](state::Tx& tx) {
    std::vector<state::Object> objects = AskedInstances(tx, ctx.region, in, ctx.now);
    for (const auto& o : objects) {
      Json fv = FilterView(o);
      if (MatchFilters(filters, fv, InstanceFilters())) matched.emplace_back(o.name, WithoutInternalMembers(o.doc));
    }
    return Status::Ok();
  }));
  // One Reservation per RunInstances call, in launch order.
  std::vector<Json> reservations;
  std::map<std::string, size_t> index;
  for (auto& [r, v] : matched) {
    auto it = index.find(r);
    if (it == index.end()) {
      index[r] = reservations.size();
      reservations.push_back(ReservationView(r, ctx.account_id, {}));
      it = index.find(r);
    }
    reservations[it->second]["Instances"].push_back(std::move(v));
  }
  Json out = Json::object();
  PageInto(out, "Reservations", std::move(reservations), in);
  return out;
}

Json StatusSummary(bool running) {
  if (!running) return {{"Status", "not-applicable"}};
  return {{"Details", Json::array({{{"Name", "reachability"}, {"Status", "passed"}}})}, {"Status", "ok"}};
}

Json InstanceOps::DescribeInstanceStatus(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  const Json filters = in.value("Filters", Json::array());
  CheckFilters(filters, StatusFilters());
  bool all = JBool(in, "IncludeAllInstances");
  std::vector<Json> views;
  Check(store_.Read([&](state::Tx& tx) {
    std::vector<state::Object> objects = AskedInstances(tx, ctx.region, in, ctx.now);
    for (const auto& o : objects) {
      bool running = o.status == "running";
      if (!running && !all) continue;
      Json v = {{"AvailabilityZone", JStr(o.doc["Placement"], "AvailabilityZone")},
                {"InstanceId", o.id},
                {"InstanceState", o.doc["State"]},
                {"InstanceStatus", StatusSummary(running)},
                {"SystemStatus", StatusSummary(running)},
                {"Events", Json::array()}};
      if (MatchFilters(filters, v, StatusFilters())) views.push_back(v);
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  PageInto(out, "InstanceStatuses", std::move(views), in);
  return out;
}

Json InstanceOps::ChangeStates(RequestContext& ctx, const Json& in, const char* member,
                               const std::function<std::string(state::Object&)>& change) {
  ScopeOf(ctx);
  Json changes = Json::array();
  Check(store_.Write([&](state::Tx& tx) {
    for (auto& o : RequireInstances(tx, ctx.region, in.value("InstanceIds", Json::array()), ctx.now)) {
      Json previous = o.doc["State"];
      std::string next = change(o);
      if (next != o.status) {
        o.status = next;
        o.doc["State"] = InstanceState(next);
        Check(tx.Put(o));
      }
      changes.push_back({{"InstanceId", o.id}, {"CurrentState", o.doc["State"]}, {"PreviousState", previous}});
    }
    return Status::Ok();
  }));
  return {{member, changes}};
}

// Termination and stop protection, in EC2's words (cloud-custodian#10594 quotes the stop
// one: "The instance 'i-12345678' may not be stopped. Modify its 'disableApiStop' instance
// attribute and try again.").
void RefuseIfProtected(const state::Object& o, const std::string& attribute, const char* verb) {
  if (!JBool(o.doc, "kecs:" + attribute)) return;
  throw Ec2Error("OperationNotPermitted",
                 fmt::format("The instance '{}' may not be {}. Modify its '{}' instance attribute and try again.",
                             o.id, verb, attribute));
}

Json InstanceOps::TerminateInstances(RequestContext& ctx, const Json& in) {
  return ChangeStates(ctx, in, "TerminatingInstances", [&](state::Object& o) -> std::string {
    if (o.status == "terminated" || o.status == "shutting-down") return o.status;
    RefuseIfProtected(o, "disableApiTermination", "terminated");
    UserInitiated(o.doc, ctx.now);
    return "shutting-down";
  });
}

Json InstanceOps::StopInstances(RequestContext& ctx, const Json& in) {
  if (JBool(in, "Hibernate")) {
    // kecs's instances are never configured for hibernation (HibernationOptions.Configured
    // false), which EC2 refuses so; no source found for the exact text, kecs's wording.
    std::string first;
    Check(store_.Read([&](state::Tx& tx) {
      first = RequireInstances(tx, ctx.region, in.value("InstanceIds", Json::array()), ctx.now).at(0).id;
      return Status::Ok();
    }));
    throw Ec2Error("UnsupportedOperation", fmt::format("The instance '{}' is not enabled for hibernation.", first));
  }
  return ChangeStates(ctx, in, "StoppingInstances", [&](state::Object& o) -> std::string {
    if (o.status == "stopped" || o.status == "stopping") return o.status;
    if (o.status == "terminated" || o.status == "shutting-down") {
      // EC2's words for stopping a terminated instance.
      throw Ec2Error("IncorrectInstanceState",
                     fmt::format("This instance '{}' is not in a state from which it can be stopped.", o.id));
    }
    RefuseIfProtected(o, "disableApiStop", "stopped");
    UserInitiated(o.doc, ctx.now);
    return "stopping";
  });
}

Json InstanceOps::StartInstances(RequestContext& ctx, const Json& in) {
  return ChangeStates(ctx, in, "StartingInstances", [&](state::Object& o) -> std::string {
    if (o.status == "running" || o.status == "pending") return o.status;
    if (o.status != "stopped") {
      throw Ec2Error("IncorrectInstanceState",
                     fmt::format("The instance '{}' is not in a state from which it can be started.", o.id));
    }
    o.doc["StateTransitionReason"] = "";
    o.doc.erase("StateReason");
    o.doc["kecs:pendingTime"] = ctx.now;
    o.doc["LaunchTime"] = EpochMillis(ctx.now);
    return "pending";
  });
}

Json InstanceOps::RebootInstances(RequestContext& ctx, const Json& in) {
  ChangeStates(ctx, in, "Ignored", [&](state::Object& o) -> std::string {
    if (o.status == "terminated" || o.status == "shutting-down") {
      throw Ec2Error("IncorrectInstanceState",
                     fmt::format("The instance '{}' is not in a state from which it can be rebooted.", o.id));
    }
    return o.status;  // a reboot keeps the instance running
  });
  return Json::object();
}

// ---- attributes ----

Json BoolValue(bool v) { return {{"Value", v}}; }

Json InstanceOps::DescribeInstanceAttribute(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  std::string attr = JStr(in, "Attribute");
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    state::Object o = RequireInstances(tx, ctx.region, Json::array({JStr(in, "InstanceId")}), ctx.now).at(0);
    out = {{"InstanceId", o.id}};
    const Json& d = o.doc;
    if (attr == "instanceType") out["InstanceType"] = {{"Value", JStr(d, "InstanceType")}};
    else if (attr == "userData") out["UserData"] = d.contains("kecs:userData") ? Json{{"Value", JStr(d, "kecs:userData")}} : Json::object();
    else if (attr == "disableApiTermination") out["DisableApiTermination"] = BoolValue(JBool(d, "kecs:disableApiTermination"));
    else if (attr == "disableApiStop") out["DisableApiStop"] = BoolValue(JBool(d, "kecs:disableApiStop"));
    else if (attr == "instanceInitiatedShutdownBehavior") out["InstanceInitiatedShutdownBehavior"] = {{"Value", JStr(d, "kecs:shutdownBehavior", "stop")}};
    else if (attr == "rootDeviceName") out["RootDeviceName"] = {{"Value", JStr(d, "RootDeviceName")}};
    else if (attr == "blockDeviceMapping") out["BlockDeviceMappings"] = d["BlockDeviceMappings"];
    else if (attr == "productCodes") out["ProductCodes"] = Json::array();
    else if (attr == "sourceDestCheck") out["SourceDestCheck"] = BoolValue(JBool(d, "SourceDestCheck", true));
    else if (attr == "groupSet") out["Groups"] = d["SecurityGroups"];
    else if (attr == "ebsOptimized") out["EbsOptimized"] = BoolValue(JBool(d, "EbsOptimized"));
    else if (attr == "enaSupport") out["EnaSupport"] = BoolValue(true);
    else if (attr == "sriovNetSupport") out["SriovNetSupport"] = Json::object();
    else if (attr == "kernel") out["KernelId"] = Json::object();
    else if (attr == "ramdisk") out["RamdiskId"] = Json::object();
    else if (attr == "enclaveOptions") out["EnclaveOptions"] = {{"Enabled", false}};
    else throw InvalidParameterValue(fmt::format("Value ({}) for parameter attribute is invalid. Unknown attribute.", attr));
    return Status::Ok();
  }));
  return out;
}

Json InstanceOps::ModifyInstanceAttribute(RequestContext& ctx, const Json& in) {
  ScopeOf(ctx);
  // The Attribute/Value form is the same as the member form.
  Json req = in;
  if (auto attr = JOptStr(in, "Attribute")) {
    std::string value = JStr(in, "Value");
    if (*attr == "instanceType") req["InstanceType"] = {{"Value", value}};
    else if (*attr == "userData") req["UserData"] = {{"Value", value}};
    else if (*attr == "disableApiTermination") req["DisableApiTermination"] = BoolValue(value == "true");
    else if (*attr == "disableApiStop") req["DisableApiStop"] = BoolValue(value == "true");
    else if (*attr == "sourceDestCheck") req["SourceDestCheck"] = BoolValue(value == "true");
    else if (*attr == "instanceInitiatedShutdownBehavior") req["InstanceInitiatedShutdownBehavior"] = {{"Value", value}};
    else throw InvalidParameterValue(fmt::format("Value ({}) for parameter attribute is not supported by kecs.", *attr));
  }
  Check(store_.Write([&](state::Tx& tx) {
    state::Object o = RequireInstances(tx, ctx.region, Json::array({JStr(in, "InstanceId")}), ctx.now).at(0);
    auto require_stopped = [&] {
      if (o.status != "stopped") {
        throw Ec2Error("IncorrectInstanceState", fmt::format("The instance '{}' is not in the 'stopped' state.", o.id));
      }
    };
    if (const Json* t = JGet(req, "InstanceType")) {
      require_stopped();
      std::string name = JStr(*t, "Value");
      const model::InstanceType* type = model::FindInstanceType(name);
      if (!type) throw InvalidParameterValue(fmt::format("Invalid value '{}' for InstanceType.", name));
      if (std::string(model::ArchName(type->arch)) != JStr(o.doc, "Architecture")) {
        throw InvalidParameterValue(fmt::format("The instance type '{}' does not match the architecture of instance '{}'.", name, o.id));
      }
      o.doc["InstanceType"] = name;
      o.doc["CpuOptions"] = {{"CoreCount", type->cores}, {"ThreadsPerCore", type->threads_per_core}};
    }
    if (const Json* u = JGet(req, "UserData")) {
      require_stopped();
      std::string v = JStr(*u, "Value");
      auto decoded = Base64Decode(v);
      if (!decoded.ok()) throw InvalidParameterValue("Invalid BASE64 encoding of user data.");
      if (decoded->size() > 16384) throw InvalidParameterValue("User data is limited to 16384 bytes");
      if (v.empty()) o.doc.erase("kecs:userData");
      else o.doc["kecs:userData"] = v;
      o.doc["kecs:ecsCluster"] = EcsClusterFromUserData(*decoded).value_or("default");
    }
    if (const Json* b = JGet(req, "DisableApiTermination")) o.doc["kecs:disableApiTermination"] = JBool(*b, "Value");
    if (const Json* b = JGet(req, "DisableApiStop")) o.doc["kecs:disableApiStop"] = JBool(*b, "Value");
    if (const Json* b = JGet(req, "SourceDestCheck")) o.doc["SourceDestCheck"] = JBool(*b, "Value");
    if (const Json* b = JGet(req, "InstanceInitiatedShutdownBehavior")) {
      std::string v = JStr(*b, "Value");
      if (v != "stop" && v != "terminate") throw InvalidParameterValue(fmt::format("Value ({}) for parameter instanceInitiatedShutdownBehavior is invalid.", v));
      o.doc["kecs:shutdownBehavior"] = v;
    }
    if (const Json* g = JGet(req, "Groups")) {
      auto groups = LaunchGroups(tx, ctx.region, JStr(o.doc, "VpcId"), *g, Json::array());
      Json ids = Json::array();
      for (const auto& sg : groups) ids.push_back({{"GroupId", sg.id}, {"GroupName", JStr(sg.doc, "GroupName")}});
      o.doc["SecurityGroups"] = ids;
      for (auto& nic : o.doc["NetworkInterfaces"]) {
        if (JInt(nic["Attachment"], "DeviceIndex") != 0) continue;
        nic["Groups"] = ids;
        if (auto eni = Check(tx.Get(net::kEni, ctx.region, JStr(nic, "NetworkInterfaceId")))) {
          eni->doc["Groups"] = ids;
          Check(tx.Put(*eni));
        }
      }
    }
    Check(tx.Put(o));
    return Status::Ok();
  }));
  return Json::object();
}

}  // namespace

void RegisterInstanceOps(Service& s, state::Store& store, net::RegionBootstrap& regions) {
  auto ops = std::make_shared<InstanceOps>(store, regions);
#define KECS_OP(name) \
  s.Register(#name, [ops](RequestContext& ctx, const Json& in) { CheckDryRun(in); return ops->name(ctx, in); })
  KECS_OP(RunInstances);
  KECS_OP(DescribeInstances);
  KECS_OP(DescribeInstanceStatus);
  KECS_OP(TerminateInstances);
  KECS_OP(StopInstances);
  KECS_OP(StartInstances);
  KECS_OP(RebootInstances);
  KECS_OP(DescribeInstanceAttribute);
  KECS_OP(ModifyInstanceAttribute);
#undef KECS_OP
}

}  // namespace kecs::api::ec2
