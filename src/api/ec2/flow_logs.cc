// EC2 VPC flow logs (issue 15): CreateFlowLogs, DescribeFlowLogs, DeleteFlowLogs.
//
// A flow log is a store object of kind net::kFlowLog (net/domain/flow_log.h) in the
// FlowLog shape, plus "kecs:fields" (its LogFormat, parsed) and "kecs:vpc" (the VPC of the
// resource it watches), which the flow log controller (reconcile/flow_log_controller.h)
// reads to decide which routers to capture and how to word the records. A resource that
// does not exist, or one that already has a flow log of the same traffic type and
// destination, goes into Unsuccessful and the others are still created, as AWS does.
#include <memory>
#include <set>

#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "base/clock.h"
#include "base/ids.h"
#include "net/domain/flow_log.h"

namespace kecs::api::ec2 {
namespace {

AwsError InvalidParameter(std::string message) { return Ec2Error("InvalidParameter", std::move(message)); }

const FilterSpec& FlowLogFilters() {
  static const FilterSpec kSpec = {
      {"deliver-log-status", Field("DeliverLogsStatus")},
      {"log-destination-type", Field("LogDestinationType")},
      {"flow-log-id", Field("FlowLogId")},
      {"log-group-name", Field("LogGroupName")},
      {"resource-id", Field("ResourceId")},
      {"traffic-type", Field("TrafficType")},
  };
  return kSpec;
}

// The VPC of the resource, or throws its NotFound (which the caller reports in
// Unsuccessful).
std::string VpcOfResource(state::Tx& tx, const std::string& region, const std::string& type, const std::string& id) {
  if (type == "VPC") return RequireVpc(tx, region, id).id;
  if (type == "Subnet") return JStr(RequireSubnet(tx, region, id).doc, "VpcId");
  CheckId(id, "eni", "InvalidNetworkInterfaceId.Malformed");
  auto o = Check(tx.Get(net::kEni, region, id));
  if (!o) {
    throw Ec2Error("InvalidNetworkInterfaceID.NotFound", fmt::format("The networkInterface ID '{}' does not exist", id));
  }
  return JStr(o->doc, "VpcId");
}

// The log group a cloud-watch-logs destination names: LogGroupName, or the group of a
// LogDestination ARN (arn:aws:logs:<region>:<account>:log-group:<name>[:*]).
std::string GroupFromArn(const std::string& arn) {
  auto at = arn.find(":log-group:");
  if (!arn.starts_with("arn:") || at == std::string::npos) {
    throw InvalidParameter(fmt::format("LogDestination {} is not a CloudWatch Logs log group ARN.", arn));
  }
  std::string name = arn.substr(at + 11);
  if (name.ends_with(":*")) name.resize(name.size() - 2);
  if (name.empty()) throw InvalidParameter(fmt::format("LogDestination {} names no log group.", arn));
  return name;
}

class FlowLogOps {
 public:
  FlowLogOps(state::Store& store, net::RegionBootstrap& regions) : store_(store), regions_(regions) {}

  Json CreateFlowLogs(RequestContext& ctx, const Json& in) {
    net::Scope s = RequestScope(store_, regions_, ctx);
    const std::string type = JStr(in, "ResourceType");
    if (type != "VPC" && type != "Subnet" && type != "NetworkInterface") {
      // kecs has no transit gateways (the model's other resource types).
      throw InvalidParameter(fmt::format("Resource type {} is not supported by kecs: flow logs watch a VPC, a subnet "
                                         "or a network interface.", type));
    }
    const std::string traffic = JStr(in, "TrafficType");
    if (traffic.empty()) throw Ec2Error("MissingParameter", "The request must contain the parameter TrafficType");
    const std::string dest_type = JStr(in, "LogDestinationType", "cloud-watch-logs");
    std::string group = JStr(in, "LogGroupName"), destination = JStr(in, "LogDestination");
    const std::string role = JStr(in, "DeliverLogsPermissionArn");
    if (dest_type == "cloud-watch-logs") {
      // moto's wording for both given; AWS asks for the role with cloud-watch-logs.
      if (!group.empty() && !destination.empty()) {
        throw InvalidParameter("Please only provide LogGroupName or only provide LogDestination.");
      }
      if (group.empty() && destination.empty()) {
        throw InvalidParameter("Please provide either LogGroupName or LogDestination.");
      }
      if (role.empty()) {
        throw InvalidParameter("DeliverLogsPermissionArn is required when the destination type is cloud-watch-logs.");
      }
      if (group.empty()) group = GroupFromArn(destination);
      if (destination.empty()) {
        destination = fmt::format("arn:aws:logs:{}:{}:log-group:{}", ctx.region, s.account, group);
      }
    } else if (dest_type == "s3") {
      if (!group.empty()) throw InvalidParameter("LogGroupName is only valid with the destination type cloud-watch-logs.");
      if (!destination.starts_with("arn:aws:s3:::") || !net::SafeS3Destination(destination.substr(13))) {
        throw InvalidParameter(fmt::format("LogDestination {} is not an S3 bucket ARN.", destination));
      }
    } else {
      throw InvalidParameter(fmt::format("Destination type {} is not supported by kecs (cloud-watch-logs or s3).", dest_type));
    }
    const std::string format = JStr(in, "LogFormat", net::kDefaultFlowLogFormat);
    auto fields = net::ParseFlowLogFormat(format);
    if (!fields.ok()) {
      throw InvalidParameter(fmt::format("LogFormat is invalid: {}.", fields.status().message()));
    }
    int interval = in.value("MaxAggregationInterval", 600);
    if (interval != 60 && interval != 600) {
      // AWS takes 60 or 600 only; lenient kecs also takes 1 to 600 s for local use.
      if (ctx.strict || interval < 1 || interval > 600) {
        throw InvalidParameter(fmt::format("Invalid MaxAggregationInterval value {}. Valid values are 60 and 600.", interval));
      }
    }
    Json tags = net::TagsOrEmpty(TagsFor(in, "vpc-flow-log"));
    Json ids = Json::array(), unsuccessful = Json::array();
    for (const auto& r : in.value("ResourceIds", Json::array())) {
      const std::string rid = r.get<std::string>();
      try {
        Check(store_.Write([&](state::Tx& tx) {
          const std::string vpc = VpcOfResource(tx, ctx.region, type, rid);
          for (const auto& o : Check(tx.List({net::kFlowLog, ctx.region}))) {
            if (JStr(o.doc, "ResourceId") == rid && JStr(o.doc, "TrafficType") == traffic &&
                JStr(o.doc, "LogDestinationType") == dest_type && JStr(o.doc, "LogDestination") == destination) {
              throw Ec2Error("FlowLogAlreadyExists",
                             "Error. There is an existing Flow Log with the same configuration and log destination.");
            }
          }
          const std::string id = Ec2Id("fl");
          Json doc = {{"CreationTime", EpochMillis(s.now)},
                      {"DeliverLogsStatus", "SUCCESS"},
                      {"FlowLogId", id},
                      {"FlowLogStatus", "ACTIVE"},
                      {"ResourceId", rid},
                      {"TrafficType", traffic},
                      {"LogDestinationType", dest_type},
                      {"LogDestination", destination},
                      {"LogFormat", format},
                      {"Tags", tags},
                      {"MaxAggregationInterval", interval},
                      {"kecs:fields", *fields},
                      {"kecs:vpc", vpc},
                      {"kecs:resourceType", type},
                      {"kecs:account", s.account}};
          if (!group.empty()) doc["LogGroupName"] = group;
          if (!role.empty()) doc["DeliverLogsPermissionArn"] = role;
          Check(tx.Insert({net::kFlowLog, ctx.region, id, vpc, "", "", 0, doc}));
          ids.push_back(id);
          return Status::Ok();
        }));
      } catch (const AwsError& e) {
        unsuccessful.push_back({{"Error", {{"Code", e.code()}, {"Message", e.message()}}}, {"ResourceId", rid}});
      }
    }
    Json out = {{"FlowLogIds", ids}, {"Unsuccessful", unsuccessful}};
    if (in.contains("ClientToken")) out["ClientToken"] = in["ClientToken"];
    return out;
  }

  Json DescribeFlowLogs(RequestContext& ctx, const Json& in) {
    RequestScope(store_, regions_, ctx);
    const Json filters = in.value("Filter", Json::array());
    CheckFilters(filters, FlowLogFilters());
    std::set<std::string> wanted;
    for (const auto& id : in.value("FlowLogIds", Json::array())) wanted.insert(id.get<std::string>());
    std::vector<Json> views;
    Check(store_.Read([&](state::Tx& tx) {
      for (const auto& o : Check(tx.List({net::kFlowLog, ctx.region}))) {
        if (!wanted.empty() && !wanted.count(o.id)) continue;
        Json view = WithoutInternalMembers(o.doc);
        if (MatchFilters(filters, view, FlowLogFilters())) views.push_back(std::move(view));
      }
      return Status::Ok();
    }));
    Json out = Json::object();
    PageInto(out, "FlowLogs", std::move(views), in);
    return out;
  }

  Json DeleteFlowLogs(RequestContext& ctx, const Json& in) {
    RequestScope(store_, regions_, ctx);
    Json unsuccessful = Json::array();
    for (const auto& v : in.value("FlowLogIds", Json::array())) {
      const std::string id = v.get<std::string>();
      try {
        Check(store_.Write([&](state::Tx& tx) {
          if (!Check(tx.Get(net::kFlowLog, ctx.region, id))) {
            // moto's wording of EC2's code.
            throw Ec2Error("InvalidFlowLogId.NotFound",
                           fmt::format("These flow log ids in the input list are not found: [TotalCount: 1] {}", id));
          }
          Check(tx.Delete(net::kFlowLog, ctx.region, id));
          return Status::Ok();
        }));
      } catch (const AwsError& e) {
        unsuccessful.push_back({{"Error", {{"Code", e.code()}, {"Message", e.message()}}}, {"ResourceId", id}});
      }
    }
    return {{"Unsuccessful", unsuccessful}};
  }

 private:
  state::Store& store_;
  net::RegionBootstrap& regions_;
};

}  // namespace

void RegisterFlowLogOps(Service& s, state::Store& store, net::RegionBootstrap& regions) {
  auto ops = std::make_shared<FlowLogOps>(store, regions);
#define KECS_OP(name) \
  s.Register(#name, [ops](RequestContext& ctx, const Json& in) { CheckDryRun(in); return ops->name(ctx, in); })
  KECS_OP(CreateFlowLogs);
  KECS_OP(DescribeFlowLogs);
  KECS_OP(DeleteFlowLogs);
#undef KECS_OP
}

}  // namespace kecs::api::ec2
