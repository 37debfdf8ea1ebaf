// ECS container instances and attributes: RegisterContainerInstance,
// DeregisterContainerInstance, DescribeContainerInstances, ListContainerInstances,
// UpdateContainerInstancesState, PutAttributes, DeleteAttributes, ListAttributes.
#include <regex>

#include <fmt/format.h>

#include "api/ec2/instance_identity.h"
#include "api/ecs/agent.h"
#include "api/ecs/capacity_scaling.h"
#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "api/ecs/placement.h"
#include "api/pagination.h"
#include "base/host.h"
#include "base/ids.h"
#include "model/arn.h"
#include "model/cluster_query.h"
#include "model/instance_types.h"
#include "net/domain/vpc.h"

namespace kecs::api::ecs {
namespace {

Json Resource(const char* name, int64_t value) {
  return {{"name", name}, {"type", "INTEGER"}, {"doubleValue", 0.0}, {"longValue", 0},
          {"integerValue", value}};
}

Json PortsResource(const char* name, const std::vector<std::string>& ports) {
  return {{"name", name}, {"type", "STRINGSET"}, {"doubleValue", 0.0}, {"longValue", 0},
          {"integerValue", 0}, {"stringSetValue", ports}};
}

std::string InstanceArn(const RequestContext& ctx, const std::string& cluster, const std::string& id) {
  return model::EcsArn(ctx.region, ctx.account_id, fmt::format("container-instance/{}/{}", cluster, id));
}

bool TrunkingEnabled(state::Tx& tx, const RequestContext& ctx) {
  auto o = Check(tx.Get(kAccountSetting, ctx.region, "default/awsvpcTrunking"));
  auto p = Check(tx.Get(kAccountSetting, ctx.region, "root/awsvpcTrunking"));
  if (p) return JStr(p->doc, "value") == "enabled";
  return o && JStr(o->doc, "value") == "enabled";
}

state::Object RequireInstance(state::Tx& tx, const RequestContext& ctx, const std::string& cluster,
                              const std::string& ref) {
  auto o = Check(tx.Get(kInstance, ctx.region, IdFromArnOrId(ref)));
  if (!o || o->parent != cluster) {
    throw InvalidParameter("The referenced container instance was not found.");
  }
  return *o;
}

const std::regex kAttrName(R"(^[a-zA-Z0-9_./\\-]{1,128}$)");

}  // namespace

// The MEMORY the ECS agent registers for an instance type: the memory the operating
// system sees, which is less than the type's installed memory. AWS documents one figure
// ("Reserving Amazon ECS Linux container instance memory": an m4.large's 8 GiB shows as
// 7985 MiB available for tasks); kecs scales every type by that ratio (m5.large: 7985)
// and reserves nothing more (ECS_RESERVED_MEMORY defaults to 0).
int64_t AgentMemoryMib(const model::InstanceType& t) { return t.memory_mib * 7985 / 8192; }

Json EcsApi::NewContainerInstance(state::Tx& tx, const RequestContext& ctx,
                                  const std::string& cluster, bool managed, const Json& in,
                                  const Json* ec2_instance) {
  Json ident = Json::object();
  if (auto doc = JOptStr(in, "instanceIdentityDocument")) {
    if (auto j = ParseJson(*doc)) ident = *j;
  }
  std::string id = RandomHex(32);
  std::string type = JStr(ident, "instanceType", options_.instance_type);
  std::string az = JStr(ident, "availabilityZone", ctx.region + options_.availability_zone_suffix);
  std::string ami = "ami-" + RandomHex(17), arch = Host().arch, ec2_id = JStr(ident, "instanceId", Ec2Id("i"));
  std::string vpc_id, subnet_id;
  bool trunk = TrunkingEnabled(tx, ctx);
  int64_t cpu = options_.host_cpu_units, mem = options_.host_memory_mib;
  if (ec2_instance) {
    // An EC2 instance kecs runs: what the agent on it reports (issue 17).
    const Json& e = *ec2_instance;
    type = JStr(e, "InstanceType");
    az = JStr(e.value("Placement", Json::object()), "AvailabilityZone");
    ami = JStr(e, "ImageId");
    ec2_id = JStr(e, "InstanceId");
    arch = JStr(e, "Architecture") == "arm64" ? "arm64" : "x86_64";
    vpc_id = JStr(e, "VpcId");
    subnet_id = JStr(e, "SubnetId");
    if (const model::InstanceType* t = model::FindInstanceType(type)) {
      cpu = int64_t{t->vcpus} * 1024;
      mem = AgentMemoryMib(*t);
    }
  }
  if (const Json* total = JGet(in, "totalResources")) {
    for (const auto& r : *total) {
      if (JStr(r, "name") == "CPU") cpu = JInt(r, "integerValue", cpu);
      if (JStr(r, "name") == "MEMORY") mem = JInt(r, "integerValue", mem);
    }
  }
  std::vector<std::string> reserved;
  for (int p : kReservedPorts) reserved.push_back(std::to_string(p));
  Json attrs = Json::array();
  auto attr = [&](const std::string& n, std::optional<std::string> v = std::nullopt) {
    Json a = {{"name", n}};
    if (v) a["value"] = *v;
    attrs.push_back(a);
  };
  attr("ecs.ami-id", ami);
  attr("ecs.availability-zone", az);
  attr("ecs.instance-type", type);
  attr("ecs.os-type", "linux");
  attr("ecs.os-family", "LINUX");
  attr("ecs.cpu-architecture", arch);
  if (!vpc_id.empty()) attr("ecs.vpc-id", vpc_id);
  if (!subnet_id.empty()) attr("ecs.subnet-id", subnet_id);
  attr("ecs.capability.task-eni");
  attr("ecs.capability.container-health-check");
  attr("ecs.capability.execution-role-awslogs");
  attr("com.amazonaws.ecs.capability.task-iam-role");
  attr("com.amazonaws.ecs.capability.logging-driver.json-file");
  attr("com.amazonaws.ecs.capability.logging-driver.awslogs");
  for (int v = 17; v <= 44; ++v) attr(fmt::format("com.amazonaws.ecs.capability.docker-remote-api.1.{}", v));
  if (trunk) attr("ecs.awsvpc-trunk-id", Ec2Id("eni"));
  if (const Json* extra = JGet(in, "attributes")) {
    for (const auto& a : *extra) attrs.push_back(a);
  }
  Json doc = {
      {"containerInstanceArn", InstanceArn(ctx, cluster, id)},
      {"ec2InstanceId", ec2_id},
      {"version", 1},
      {"versionInfo", in.value("versionInfo", Json{{"agentVersion", kLatestAgentVersion},
                                                    {"agentHash", "kecs"},
                                                    {"dockerVersion", "DockerVersion: runc"}})},
      {"status", "ACTIVE"},
      {"agentConnected", true},
      {"registeredResources", Json::array({Resource("CPU", cpu), Resource("MEMORY", mem),
                                           PortsResource("PORTS", reserved),
                                           PortsResource("PORTS_UDP", {})})},
      {"attributes", attrs},
      {"registeredAt", Ts(ctx)},
      {"attachments", Json::array()},
      {"tags", in.value("tags", Json::array())},
      {"kecs:managed", managed},
      {"kecs:eniLimit", EniTaskLimit(type, trunk)},
  };
  // An instance of a capacity provider's Auto Scaling group belongs to that provider
  // (ContainerInstance.capacityProviderName): Auto Scaling tags its instances with
  // aws:autoscaling:groupName. The capacity controller also names the group's instances
  // it finds through DescribeAutoScalingGroups (capacity_scaling.cc).
  if (auto ec2 = Check(tx.Get(net::kEc2Instance, ctx.region, ec2_id))) {
    std::string group;
    for (const auto& t : ec2->doc.value("Tags", Json::array())) {
      if (JStr(t, "Key") == "aws:autoscaling:groupName") group = JStr(t, "Value");
    }
    for (const auto& cp : group.empty() ? std::vector<state::Object>{} : Check(tx.List({kCapacityProvider, ctx.region}))) {
      if (cp.status == "ACTIVE" && JStr(cp.internal, "asgName") == group) doc["capacityProviderName"] = cp.name;
    }
  }
  Check(tx.Insert({kInstance, ctx.region, id, cluster, id, "ACTIVE", 0, doc}));
  return doc;
}

Json EcsApi::InstanceView(state::Tx& tx, const RequestContext& ctx, const state::Object& inst) {
  auto usage = UsageByInstance(tx, ctx.region, inst.parent);
  const InstanceUsage& u = usage[inst.id];
  Json doc = Public(inst.doc);
  ShowAgentUpdate(inst.doc, Ts(ctx), doc);
  std::vector<std::string> tcp, udp;
  for (int p : kReservedPorts) tcp.push_back(std::to_string(p));
  for (const auto& [proto, port] : u.ports) (proto == "udp" ? udp : tcp).push_back(std::to_string(port));
  doc["remainingResources"] = Json::array(
      {Resource("CPU", RegisteredInt(inst.doc, "CPU") - u.cpu),
       Resource("MEMORY", RegisteredInt(inst.doc, "MEMORY") - u.memory),
       PortsResource("PORTS", tcp), PortsResource("PORTS_UDP", udp)});
  doc["runningTasksCount"] = u.running;
  doc["pendingTasksCount"] = u.pending;
  // Keep AWS's member order: remainingResources sits before registeredResources.
  Json ordered = Json::object();
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (it.key() == "registeredResources") ordered["remainingResources"] = doc["remainingResources"];
    if (it.key() != "remainingResources") ordered[it.key()] = it.value();
  }
  return ordered;
}

namespace {

// The registration itself, for RegisterContainerInstance and the agent of an instance kecs
// runs: into `cluster` (the agent registers into "default" even before anyone created
// it), returning the container instance row.
state::Object RegisterInto(EcsApi& api, state::Tx& tx, RequestContext& ctx, const std::string& cluster,
                           const Json& in, const Json* ec2_instance) {
  auto c = Check(tx.Get(kCluster, ctx.region, cluster));
  if (!c || c->status != "ACTIVE") {
    if (cluster != "default") throw ClientException("Cluster not found.");
    api.CreateClusterRecord(tx, ctx, cluster, Json::object());
  }
  Json doc = api.NewContainerInstance(tx, ctx, cluster, false, in, ec2_instance);
  return *Check(tx.Get(kInstance, ctx.region, IdFromArnOrId(JStr(doc, "containerInstanceArn"))));
}

// The tasks placed on container instance `inst` that are not STOPPED.
std::vector<state::Object> LiveTasksOn(state::Tx& tx, const RequestContext& ctx, const state::Object& inst) {
  std::vector<state::Object> live;
  for (auto& t : Check(tx.List({kTask, ctx.region, inst.parent}))) {
    const Json* p = JGet(t.internal, "placement");
    if (t.status != "STOPPED" && p && JStr(*p, "instance") == inst.id) live.push_back(std::move(t));
  }
  return live;
}

// DeregisterContainerInstance's work once allowed: the live tasks stopped with `reason`,
// the instance INACTIVE.
void Deregister(state::Tx& tx, const RequestContext& ctx, state::Object& inst, std::vector<state::Object>& live,
                const std::string& reason) {
  for (auto& t : live) {
    if (JStr(t.doc, "desiredStatus") == "STOPPED") continue;
    t.doc["desiredStatus"] = "STOPPED";
    t.doc["stopCode"] = "TaskFailedToStart";
    t.doc["stoppedReason"] = reason;
    t.doc["stoppingAt"] = Ts(ctx);
    t.doc["version"] = JInt(t.doc, "version") + 1;
    Check(tx.Put(t));
  }
  inst.status = "INACTIVE";
  inst.doc["status"] = "INACTIVE";
  inst.doc["agentConnected"] = false;
  Check(tx.Put(inst));
}

// The context of the kecs-side callers (the agent, the node controller) acting in
// `region` of `account` at `now`.
RequestContext InternalContext(const std::string& region, const std::string& account, double now) {
  RequestContext ctx;
  ctx.region = region;
  ctx.account_id = account;
  ctx.now = now;
  ctx.service = "ecs";
  ctx.operation = "RegisterContainerInstance";
  return ctx;
}

}  // namespace

Json EcsApi::RegisterContainerInstance(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  // An identity document that names an EC2 instance kecs runs registers that instance, as
  // the agent on it would (issue 17); one naming another instance (test suites make them
  // up) keeps kecs's older behaviour: its type and zone, the host's resources.
  std::optional<std::string> text = JOptStr(in, "instanceIdentityDocument");
  std::optional<std::string> signature = JOptStr(in, "instanceIdentityDocumentSignature");
  Json ident = Json::object();
  if (text) {
    if (auto j = ParseJson(*text); j && j->is_object()) ident = *j;
  }
  if (text && signature && !signature->empty()) {
    // Moto-style suites send no signature, which is accepted; a given one must verify.
    if (!identity_signer_ || !identity_signer_->Verify(*text, *signature)) {
      throw ClientException(
          "The instance identity document signature does not verify: sign the document exactly as the instance "
          "metadata service served it (/latest/dynamic/instance-identity/signature or pkcs7).");
    }
  }
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    std::optional<state::Object> ec2;
    if (std::string iid = JStr(ident, "instanceId"); !iid.empty()) {
      ec2 = Check(tx.Get(net::kEc2Instance, ctx.region, iid));
      if (!ec2 && JStr(ident, "region", ctx.region) == ctx.region) {
        // Not an instance kecs runs here: the old behaviour, above.
      } else if (ec2) {
        if (JStr(ident, "region", ctx.region) != ctx.region ||
            JStr(ident, "accountId", ctx.account_id) != ctx.account_id) {
          throw ClientException(fmt::format(
              "The instance identity document names instance {} in region {} of account {}, not this region and account.",
              iid, JStr(ident, "region"), JStr(ident, "accountId")));
        }
        if (ec2->status != "running") {
          throw ClientException(fmt::format("Instance {} is not running (its state is {}).", iid, ec2->status));
        }
      }
    }
    state::Object o = RegisterInto(*this, tx, ctx, cluster, in, ec2 ? &ec2->doc : nullptr);
    out = {{"containerInstance", InstanceView(tx, ctx, o)}};
    return Status::Ok();
  }));
  return out;
}

Result<std::string> EcsApi::RegisterInstance(state::Tx& tx, const state::Object& instance, const std::string& cluster,
                                             double now) {
  RequestContext ctx = InternalContext(instance.region, JStr(instance.doc, "kecs:ownerId"), now);
  try {
    return RegisterInto(*this, tx, ctx, cluster, Json::object(), &instance.doc).id;
  } catch (const AwsError& e) {
    return FailedPrecondition(e.message());
  }
}

Result<std::string> EcsApi::RegisterNode(state::Tx& tx, const state::Object& cluster,
                                         const reconcile::NodeRegistration& node, double now) {
  auto arn = model::Arn::Parse(JStr(cluster.doc, "clusterArn"));
  RequestContext ctx = InternalContext(cluster.region, arn ? arn->account : "", now);
  // What the node's agent would send: its identity (id, type, zone) and its resources.
  Json ident = {{"instanceId", node.ec2_instance_id}, {"instanceType", node.instance_type},
                {"availabilityZone", node.zone}, {"region", cluster.region}, {"accountId", ctx.account_id}};
  Json in = {{"instanceIdentityDocument", ident.dump()},
             {"totalResources", Json::array({Resource("CPU", node.cpu_units), Resource("MEMORY", node.memory_mib)})}};
  try {
    // Managed: a node's instance goes with its cluster (DeleteCluster), as the host's does.
    Json doc = NewContainerInstance(tx, ctx, cluster.name, /*managed=*/true, in);
    return IdFromArnOrId(JStr(doc, "containerInstanceArn"));
  } catch (const AwsError& e) {
    return FailedPrecondition(e.message());
  } catch (const StatusError& e) {
    return e.status();
  }
}

Status EcsApi::DeregisterNode(state::Tx& tx, const state::Object& instance, const std::string& reason, double now) {
  auto arn = model::Arn::Parse(JStr(instance.doc, "containerInstanceArn"));
  RequestContext ctx = InternalContext(instance.region, arn ? arn->account : "", now);
  ctx.operation = "DeregisterContainerInstance";
  try {
    state::Object inst = instance;
    std::vector<state::Object> live = LiveTasksOn(tx, ctx, inst);
    Deregister(tx, ctx, inst, live, reason);
    return Status::Ok();
  } catch (const AwsError& e) {
    return FailedPrecondition(e.message());
  } catch (const StatusError& e) {
    return e.status();
  }
}

Json EcsApi::DeregisterContainerInstance(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  bool force = JBool(in, "force");
  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    state::Object inst = RequireInstance(tx, ctx, cluster, JStr(in, "containerInstance"));
    std::vector<state::Object> live = LiveTasksOn(tx, ctx, inst);
    if (!live.empty() && !force) {
      throw InvalidParameter(
          "Found running tasks on the instance. Use force to deregister it anyway.");
    }
    Deregister(tx, ctx, inst, live, "Container instance deregistration forced by user");
    out = {{"containerInstance", InstanceView(tx, ctx, inst)}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::DescribeContainerInstances(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  const Json& refs = in.at("containerInstances");
  if (refs.empty()) throw InvalidParameter("Container Instances cannot be empty.");
  if (refs.size() > 100) throw InvalidParameter("containerInstances can have at most 100 items.");
  bool tags = false;
  if (const Json* inc = JGet(in, "include")) {
    for (const auto& i : *inc) tags = tags || i == "TAGS";
  }
  Json list = Json::array(), failures = Json::array();
  Check(store_.Read([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    for (const auto& r : refs) {
      std::string id = IdFromArnOrId(r.get<std::string>());
      auto o = Check(tx.Get(kInstance, ctx.region, id));
      if (!o || o->parent != cluster) {
        failures.push_back({{"arn", InstanceArn(ctx, cluster, id)}, {"reason", "MISSING"}});
        continue;
      }
      Json v = InstanceView(tx, ctx, *o);
      if (!tags) v.erase("tags");
      list.push_back(v);
    }
    return Status::Ok();
  }));
  return {{"containerInstances", list}, {"failures", failures}};
}

Json EcsApi::ListContainerInstances(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  size_t max = MaxResults(in, 100, 100);
  std::optional<model::ClusterQuery> filter;
  if (auto f = JOptStr(in, "filter")) {
    auto q = model::ClusterQuery::Parse(*f);
    if (!q.ok()) throw InvalidParameter("The filter expression is invalid: " + q.status().message());
    filter = std::move(*q);
  }
  std::optional<std::string> status = JOptStr(in, "status");
  std::vector<std::string> keys, arns;
  Check(store_.Read([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    auto usage = UsageByInstance(tx, ctx.region, cluster);
    for (const auto& o : Check(tx.List({kInstance, ctx.region, cluster}))) {
      if (status ? o.status != *status : o.status == "INACTIVE") continue;
      if (filter) {
        const InstanceUsage& u = usage[o.id];
        bool ok = filter->Matches([&](const std::string& s) -> std::vector<std::string> {
          if (s.starts_with("attribute:")) {
            for (const auto& a : o.doc.value("attributes", Json::array())) {
              if (JStr(a, "name") == s.substr(10)) return {JOptStr(a, "value").value_or("")};
            }
            return {};
          }
          if (s == "ec2InstanceId") return {JStr(o.doc, "ec2InstanceId")};
          if (s == "runningTasksCount") return {std::to_string(u.running)};
          if (s == "agentConnected") return {JBool(o.doc, "agentConnected") ? "true" : "false"};
          return {};
        });
        if (!ok) continue;
      }
      keys.push_back(SeqKey(o.seq));
      arns.push_back(JStr(o.doc, "containerInstanceArn"));
    }
    return Status::Ok();
  }));
  auto page = Paginate(keys, JOptStr(in, "nextToken"), max);
  if (!page) BadToken();
  Json out = {{"containerInstanceArns", std::vector<std::string>(arns.begin() + page->begin,
                                                                 arns.begin() + page->end)}};
  if (page->next_token) out["nextToken"] = *page->next_token;
  return out;
}

Json EcsApi::UpdateContainerInstancesState(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  const Json& refs = in.at("containerInstances");
  if (refs.size() > 10) throw InvalidParameter("instanceIds can have at most 10 items.");
  std::string status = JStr(in, "status");
  if (status != "ACTIVE" && status != "DRAINING") {
    throw InvalidParameter("Container instance status should be one of [ACTIVE, DRAINING]");
  }
  Json list = Json::array(), failures = Json::array();
  Check(store_.Write([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    for (const auto& r : refs) {
      std::string id = IdFromArnOrId(r.get<std::string>());
      auto o = Check(tx.Get(kInstance, ctx.region, id));
      if (!o || o->parent != cluster || o->status == "INACTIVE") {
        failures.push_back({{"arn", InstanceArn(ctx, cluster, id)}, {"reason", "MISSING"}});
        continue;
      }
      if (o->status != status) {
        o->status = status;
        o->doc["status"] = status;
        o->doc["version"] = JInt(o->doc, "version") + 1;
        Check(tx.Put(*o));
      }
      list.push_back(InstanceView(tx, ctx, *o));
    }
    return Status::Ok();
  }));
  return {{"containerInstances", list}, {"failures", failures}};
}

Json EcsApi::PutAttributes(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  const Json& attrs = in.at("attributes");
  if (attrs.size() > 10) throw InvalidParameter("attributes can have at most 10 items.");
  Check(store_.Write([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    for (const auto& a : attrs) {
      std::string name = JStr(a, "name");
      if (!std::regex_match(name, kAttrName)) {
        throw InvalidParameter(fmt::format("The attribute name '{}' is invalid.", name));
      }
      std::string target = JStr(a, "targetId");
      if (target.empty()) throw InvalidParameter("Attribute targetId can not be blank.");
      auto o = Check(tx.Get(kInstance, ctx.region, IdFromArnOrId(target)));
      if (!o || o->parent != cluster) {
        throw AwsError("TargetNotFoundException", fmt::format("Could not find {}", target));
      }
      Json list = o->doc.value("attributes", Json::array()), next = Json::array();
      for (const auto& e : list) {
        if (JStr(e, "name") != name) next.push_back(e);
      }
      Json entry = {{"name", name}};
      if (auto v = JOptStr(a, "value")) entry["value"] = *v;
      next.push_back(entry);
      o->doc["attributes"] = next;
      Check(tx.Put(*o));
    }
    return Status::Ok();
  }));
  return {{"attributes", attrs}};
}

Json EcsApi::DeleteAttributes(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  const Json& attrs = in.at("attributes");
  Check(store_.Write([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    for (const auto& a : attrs) {
      std::string target = JStr(a, "targetId");
      auto o = Check(tx.Get(kInstance, ctx.region, IdFromArnOrId(target)));
      if (!o || o->parent != cluster) {
        throw AwsError("TargetNotFoundException", fmt::format("Could not find {}", target));
      }
      Json next = Json::array();
      for (const auto& e : o->doc.value("attributes", Json::array())) {
        if (JStr(e, "name") != JStr(a, "name")) next.push_back(e);
      }
      o->doc["attributes"] = next;
      Check(tx.Put(*o));
    }
    return Status::Ok();
  }));
  return {{"attributes", attrs}};
}

Json EcsApi::ListAttributes(RequestContext& ctx, const Json& in) {
  std::string cluster = ClusterName(in);
  size_t max = MaxResults(in, 100, 100);
  std::optional<std::string> name = JOptStr(in, "attributeName"), value = JOptStr(in, "attributeValue");
  if (value && !name) {
    throw InvalidParameter("attributeName must be specified when attributeValue is specified.");
  }
  std::vector<std::string> keys;
  std::vector<Json> rows;
  Check(store_.Read([&](state::Tx& tx) {
    RequireCluster(tx, ctx, cluster);
    for (const auto& o : Check(tx.List({kInstance, ctx.region, cluster}))) {
      if (o.status == "INACTIVE") continue;
      int i = 0;
      for (const auto& a : o.doc.value("attributes", Json::array())) {
        ++i;
        if (name && JStr(a, "name") != *name) continue;
        if (value && JStr(a, "value") != *value) continue;
        Json r = {{"name", JStr(a, "name")}};
        if (auto v = JOptStr(a, "value")) r["value"] = *v;
        r["targetType"] = "container-instance";
        r["targetId"] = JStr(o.doc, "containerInstanceArn");
        keys.push_back(fmt::format("{}/{:06}", SeqKey(o.seq), i));
        rows.push_back(r);
      }
    }
    return Status::Ok();
  }));
  auto page = Paginate(keys, JOptStr(in, "nextToken"), max);
  if (!page) BadToken();
  Json out = {{"attributes", std::vector<Json>(rows.begin() + page->begin, rows.begin() + page->end)}};
  if (page->next_token) out["nextToken"] = *page->next_token;
  return out;
}

}  // namespace kecs::api::ecs
