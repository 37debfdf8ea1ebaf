// Express Mode services (issue 18): CreateExpressGatewayService,
// DescribeExpressGatewayService, UpdateExpressGatewayService, DeleteExpressGatewayService.
//
// An Express service is an ordinary ECS service plus the infrastructure Express Mode makes
// for it. AWS's list ("Resources created by Amazon ECS Express Mode services",
// docs.aws.amazon.com/AmazonECS/latest/developerguide/express-service-work.html): the
// default cluster if missing, a task definition, a service, an Application Load Balancer
// with a listener, listener rules and target groups, security groups with minimal ingress,
// an Application Auto Scaling target and target tracking policy, a log group, a metric
// alarm and an ACM certificate. kecs makes the real ones it has, each through the public
// operation a client would call (RegisterTaskDefinition and CreateService here; EC2's
// CreateSecurityGroup / AuthorizeSecurityGroupIngress and ELBv2's CreateLoadBalancer,
// CreateTargetGroup, CreateListener, CreateRule through the peer services' registered
// handlers, ExpressPeers), so they are visible and behave as any other:
//   - a task definition (family = the service name) whose one container "Main" is the
//     primaryContainer, awsvpc, FARGATE, cpu/memory (defaults 256 / 512, the model's
//     documentation of CreateExpressGatewayService);
//   - a security group for the load balancer (HTTP 80 from anywhere) and, unless the
//     request names its own, one for the tasks (the container port from the load
//     balancer's group only);
//   - an internet-facing ALB in the service's subnets (the default VPC's when none are
//     given), one per Express service (AWS shares one among up to 25 services, routing by
//     host name; one each lets the URL work locally without a Host header);
//   - an HTTP:80 listener (kecs has no ACM, so no HTTPS listener) whose default action is a
//     fixed 404, a rule (priority 1, path /*) forwarding to
//   - an ip target group on the container port with the healthCheckPath (default /ping);
//   - the ECS service (FARGATE, desiredCount = scalingTarget.minTaskCount) in that group.
// Scaling: kecs has no Application Auto Scaling, so min/max/metric/target are validated,
// stored and reported; only minTaskCount is applied (the desired count). No log group,
// alarm or certificate is made.
//
// The URL (ingressPaths[].endpoint) is http://HOST:PORT/, the listener's host port on the
// address kecs publishes load balancers on (as DescribeLoadBalancers shows); inside the
// VPC the ALB's DNS name on port 80 answers too.
//
// DescribeServiceRevisions shows, for the ECS service's revisions, what was made
// (ServiceRevision.ecsManagedResources; AddExpressManagedResources).
//
// Delete follows AWS's documentation of DeleteExpressGatewayService: the service goes
// DRAINING, and "after all tasks stop, the service and infrastructure are permanently
// removed". FinishExpressDeletions does that removal once the ECS service is INACTIVE; the
// service scheduler calls it before each pass, and every Express operation calls it first.
// It also finishes what a failed Create or a kecs stopped midway left (Create writes its
// record first, PROVISIONING, and adds each resource as it is made), notices a plain
// DeleteService of an Express service's ECS service, and revokes a port an Update left.
//
// Error wording: where the model and AWS's documentation give none, messages are kecs's
// own and say so in a comment.
#include <chrono>
#include <functional>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "api/ecs/common.h"
#include "api/ecs/ecs_api.h"
#include "base/ids.h"
#include "base/log.h"
#include "model/arn.h"
#include "model/elb.h"
#include "net/domain/vpc.h"
#include "reconcile/deployment_history.h"
#include "state/records/elb.h"
#include "state/records/services.h"

namespace kecs::api::ecs {
namespace {

constexpr const char* kExpress = "ecs:express-service";
const std::regex kServiceName("^[a-zA-Z0-9_-]{1,255}$");

// Defaults from the model's documentation strings (third_party/aws-models/ecs/service-2.json):
// cpu 256, memory 512 (CreateExpressGatewayServiceRequest; the developer guide's
// express-service-work page says 1024 / 2048 instead, the API reference is followed),
// containerPort 80 (ExpressGatewayContainer), healthCheckPath /ping, autoScalingMetric
// CPU (AVERAGE_CPU), autoScalingTargetValue 60 (ExpressGatewayScalingTarget). No source
// gives minTaskCount's or maxTaskCount's default: kecs uses 1 and 20.
constexpr const char* kDefaultCpu = "256";
constexpr const char* kDefaultMemory = "512";
constexpr int kDefaultPort = 80;
constexpr const char* kDefaultHealthPath = "/ping";
constexpr int kDefaultMinTasks = 1;
constexpr int kDefaultMaxTasks = 20;
constexpr const char* kMainContainer = "Main";  // the container name AWS requires (taskDefinitionArn's docs)

std::string RecordId(const std::string& cluster, const std::string& name) { return cluster + "/" + name; }

// "arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME" -> {cluster, name}; nullopt otherwise.
std::optional<std::pair<std::string, std::string>> ParseServiceArn(const std::string& arn) {
  static const std::regex kArn("^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:service/([^/]+)/([^/]+)$");
  std::smatch m;
  if (!std::regex_match(arn, m, kArn)) return std::nullopt;
  return std::make_pair(m[1].str(), m[2].str());
}

const Json* Given(const Json& in, const char* key) {
  const Json* v = JGet(in, key);
  return v && !v->is_null() ? v : nullptr;
}

// The scaling target with its defaults, checked. No source gives ECS's words for these
// refusals: kecs's own.
Json ScalingTarget(const Json& given, const Json& base) {
  Json st = base.is_object() ? base : Json{{"minTaskCount", kDefaultMinTasks}, {"maxTaskCount", kDefaultMaxTasks},
                                          {"autoScalingMetric", "AVERAGE_CPU"}, {"autoScalingTargetValue", 60}};
  if (given.is_object()) {
    // ExpressGatewayScalingTarget's members only: anything else is not kept.
    for (const char* k : {"minTaskCount", "maxTaskCount", "autoScalingMetric", "autoScalingTargetValue"}) {
      if (const Json* v = JGet(given, k); v && !v->is_null()) st[k] = *v;
    }
  }
  // ExpressGatewayServiceScalingMetric (the model). The router checks it for a request;
  // this keeps a handler called directly (or a stored value) from taking another.
  static const std::set<std::string> kMetrics = {"AVERAGE_CPU", "AVERAGE_MEMORY", "REQUEST_COUNT_PER_TARGET"};
  if (!kMetrics.count(JStr(st, "autoScalingMetric"))) {
    throw InvalidParameter("scalingTarget.autoScalingMetric must be one of AVERAGE_CPU, AVERAGE_MEMORY, REQUEST_COUNT_PER_TARGET.");
  }
  int64_t min = JInt(st, "minTaskCount"), max = JInt(st, "maxTaskCount");
  if (min < 0) throw InvalidParameter("scalingTarget.minTaskCount must be greater than or equal to 0.");
  if (max < 1) throw InvalidParameter("scalingTarget.maxTaskCount must be greater than or equal to 1.");
  if (min > max) {
    throw InvalidParameter("scalingTarget.minTaskCount must be less than or equal to scalingTarget.maxTaskCount.");
  }
  if (JInt(st, "autoScalingTargetValue") <= 0) {
    throw InvalidParameter("scalingTarget.autoScalingTargetValue must be greater than 0.");
  }
  return st;
}

// The primary container with its default port, checked.
Json PrimaryContainer(const Json& given) {
  Json c = given;
  if (JStr(c, "image").empty()) throw InvalidParameter("primaryContainer.image must not be empty.");
  if (!Given(c, "containerPort")) c["containerPort"] = kDefaultPort;
  int64_t port = JInt(c, "containerPort");
  if (port < 1 || port > 65535) throw InvalidParameter("primaryContainer.containerPort must be between 1 and 65535.");
  return c;
}

// healthCheckPath: "must start with a forward slash" (the model's documentation).
std::string HealthPath(const std::string& p) {
  if (p.empty() || p.front() != '/') throw InvalidParameter("healthCheckPath must start with a forward slash (/).");
  if (p.size() > 1024) throw InvalidParameter("healthCheckPath must be at most 1024 characters.");
  return p;
}

// The task definition Express Mode registers for a configuration.
Json TaskDefinitionInput(const std::string& family, const Json& cfg, const std::string& region) {
  const Json& pc = cfg["primaryContainer"];
  Json c{{"name", kMainContainer},
         {"image", pc["image"]},
         {"essential", true},
         {"portMappings", Json::array({{{"containerPort", pc["containerPort"]}, {"protocol", "tcp"},
                                        {"name", "main"}, {"appProtocol", "http"}}})}};
  if (const Json* v = Given(pc, "command")) c["command"] = *v;
  if (const Json* v = Given(pc, "environment")) c["environment"] = *v;
  if (const Json* v = Given(pc, "secrets")) c["secrets"] = *v;
  if (const Json* v = Given(pc, "repositoryCredentials")) c["repositoryCredentials"] = *v;
  if (const Json* logs = Given(pc, "awsLogsConfiguration")) {
    c["logConfiguration"] = {{"logDriver", "awslogs"},
                             {"options", {{"awslogs-group", JStr(*logs, "logGroup")},
                                          {"awslogs-region", region},
                                          {"awslogs-stream-prefix", JStr(*logs, "logStreamPrefix", "ecs")}}}};
  }
  Json td{{"family", family},
          {"containerDefinitions", Json::array({c})},
          {"networkMode", "awsvpc"},
          {"requiresCompatibilities", Json::array({"FARGATE"})},
          {"cpu", cfg["cpu"]},
          {"memory", cfg["memory"]}};
  if (auto v = JOptStr(cfg, "executionRoleArn")) td["executionRoleArn"] = *v;
  if (auto v = JOptStr(cfg, "taskRoleArn")) td["taskRoleArn"] = *v;
  return td;
}

RequestContext PeerContext(const RequestContext& ctx, const char* op) {
  RequestContext c = ctx;
  c.operation = op;
  return c;
}

bool IsGone(const AwsError& e) {
  const std::string& c = e.code();
  return c.find("NotFound") != std::string::npos;
}

// One tag naming the Express service on everything made for it (when the ARN fits a tag
// value's 256 characters); EC2 and ELBv2 both spell tags {Key, Value}.
Json ExpressTags(const std::string& service_arn) {
  if (service_arn.size() > 256) return Json::array();
  return Json::array({{{"Key", "ecs:express-service"}, {"Value", service_arn}}});
}

// A peer's refusal in ECS's terms: ECS's own errors pass; an EC2 or ELBv2 one becomes an
// InvalidParameterException naming it (how ECS words such failures is not documented).
[[noreturn]] void RethrowAsEcs(const AwsError& e) {
  static const std::set<std::string> kEcs = {"InvalidParameterException", "ClientException", "ServerException",
                                              "ClusterNotFoundException", "UnsupportedFeatureException",
                                              "ServiceNotFoundException", "ServiceNotActiveException",
                                              "AccessDeniedException"};
  if (kEcs.count(e.code()) || e.http_status() >= 500) throw e;
  throw InvalidParameter(fmt::format("{}: {}", e.code(), e.message()));
}

// "If you provide a task definition ARN, you cannot also specify primaryContainer,
// executionRoleArn, taskRoleArn, cpu, or memory." (the model). kecs makes the task
// definition itself and does not take a customer's (see docs/design.md); the wording is
// kecs's own.
void RefuseTaskDefinitionArn(const Json& in) {
  if (Given(in, "taskDefinitionArn")) {
    throw AwsError("UnsupportedFeatureException",
                   "kecs creates Express services from primaryContainer only; taskDefinitionArn is not supported.");
  }
}

// The Express record's status while Create makes its infrastructure (never answered: the
// service does not exist for Describe, Update and Delete until it is ACTIVE).
constexpr const char* kProvisioning = "PROVISIONING";

// Which process is making a PROVISIONING record (kecs:creator). One kecs daemon owns a
// store, so a record made by another id was left by a process that died mid-Create (or by
// a failed Create, which clears it): FinishExpressDeletions finishes or removes it.
const std::string& ProcessId() {
  static const std::string id = RandomHex(16);
  return id;
}

// Steps to undo in reverse when a later one fails.
class UndoList {
 public:
  explicit UndoList(std::string what) : what_(std::move(what)) {}
  void Add(std::function<void()> f) { steps_.push_back(std::move(f)); }
  void Run() {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
      try {
        (*it)();
      } catch (const std::exception& e) {
        KLOG_WARN("express {}: undo step failed: {}", what_, e.what());
      }
    }
    steps_.clear();
  }

 private:
  std::string what_;
  std::vector<std::function<void()>> steps_;
};

// The ingress rule kecs's task security group has for the container port.
Json PortRule(int port, const Json& lb_group) {
  return Json::array({{{"IpProtocol", "tcp"}, {"FromPort", port}, {"ToPort", port},
                       {"UserIdGroupPairs", Json::array({{{"GroupId", lb_group}}})}}});
}

// The Express service has its ECS service: it exists, is not INACTIVE, and is behind the
// target group Express made (not another service that took the name).
bool MadeEcsService(const std::optional<model::Service>& svc, const Json& res) {
  if (!svc || svc->status == model::ServiceStatus::kInactive) return false;
  for (const auto& lb : svc->load_balancers) {
    if (!lb.target_group_arn.empty() && lb.target_group_arn == JStr(res, "targetGroupArn")) return true;
  }
  return false;
}

// A PROVISIONING record whose ECS service was made becomes the ACTIVE Express service.
void FinishCreation(state::Object& rec) {
  rec.status = "ACTIVE";
  rec.doc.erase("kecs:creator");
  rec.doc["kecs:resources"].erase("taskDefinitionArn");  // recorded to undo a failed Create only
  rec.doc["kecs:made"] = rec.doc["kecs:resources"];
}

}  // namespace

Json EcsApi::PeerCall(const Service* peer, const char* op, const RequestContext& ctx, const Json& in) {
  if (!peer) throw AwsError("ServerException", "Express services are not available on this server.", 500);
  const OperationFn* fn = peer->Find(op);
  if (!fn) throw AwsError("ServerException", fmt::format("{} is not available on this server.", op), 500);
  RequestContext c = PeerContext(ctx, op);
  return (*fn)(c, in);
}

Json EcsApi::ExpressView(state::Tx& tx, const RequestContext& ctx, const state::Object& rec, bool tags) {
  const Json& d = rec.doc;
  Json out{{"serviceArn", d["serviceArn"]},
           {"serviceName", d["serviceName"]},
           {"cluster", d["cluster"]},
           {"infrastructureRoleArn", d["infrastructureRoleArn"]},
           {"status", {{"statusCode", rec.status}}},
           {"createdAt", d["createdAt"]},
           {"updatedAt", d["updatedAt"]}};
  if (auto reason = JOptStr(d, "statusReason")) out["status"]["statusReason"] = *reason;
  if (tags) out["tags"] = d.value("tags", Json::array());
  const Json& res = d["kecs:resources"];
  Json ingress = Json::array({{{"accessType", "PUBLIC"}, {"endpoint", JStr(res, "endpoint")}}});
  auto svc = Check(state::records::GetService(tx, ctx.region, rec.parent, rec.name));
  // A configuration is active while a deployment of the ECS service runs its task
  // definition; once the service is gone, the last one is shown.
  Json active = Json::array();
  for (const auto& cfg : d.value("configurations", Json::array())) {
    std::string td = JStr(cfg, "taskDefinitionArn");
    const model::Deployment* dep = nullptr;
    if (svc && svc->status == model::ServiceStatus::kActive) {
      for (const auto& x : svc->deployments) {
        if (x.task_definition == td && !dep) dep = &x;
      }
      if (!dep) continue;
    } else if (!active.empty()) {
      break;
    }
    Json c = cfg;
    c["ingressPaths"] = ingress;
    if (dep) {
      std::string rev = Check(reconcile::RevisionArnOf(tx, *svc, dep->id));
      if (!rev.empty()) c["serviceRevisionArn"] = rev;
    }
    active.push_back(c);
  }
  out["activeConfigurations"] = active;
  if (svc && svc->status == model::ServiceStatus::kActive && svc->Primary()) {
    auto sd = Check(reconcile::FindServiceDeployment(tx, *svc, svc->Primary()->id));
    if (sd) out["currentDeployment"] = sd->arn;
  }
  return out;
}

Json EcsApi::CreateExpressGatewayService(RequestContext& ctx, const Json& in) {
  FinishExpressDeletions(ctx);
  if (!express_.ec2 || !express_.elbv2) {
    throw AwsError("ServerException", "Express services are not available on this server.", 500);
  }
  std::string cluster = ClusterName(in);
  std::string name = JStr(in, "serviceName");
  // "If you don't specify a service name, Amazon ECS generates a unique name" (the model);
  // the form of AWS's generated names is not documented.
  if (name.empty()) name = "express-" + model::NewElbId().substr(0, 12);
  if (!std::regex_match(name, kServiceName)) {
    throw InvalidParameter("Service names can have up to 255 letters (uppercase and lowercase), numbers, underscores and hyphens.");
  }
  RefuseTaskDefinitionArn(in);
  // kecs's words (ECS's for a request with neither primaryContainer nor a task definition
  // are not documented).
  if (!Given(in, "primaryContainer")) throw InvalidParameter("primaryContainer must be specified.");
  Json cfg{{"primaryContainer", PrimaryContainer(in["primaryContainer"])},
           {"cpu", JStr(in, "cpu", kDefaultCpu)},
           {"memory", JStr(in, "memory", kDefaultMemory)},
           {"healthCheckPath", HealthPath(JStr(in, "healthCheckPath", kDefaultHealthPath))},
           {"scalingTarget", ScalingTarget(in.value("scalingTarget", Json()), Json())}};
  if (auto v = JOptStr(in, "executionRoleArn")) cfg["executionRoleArn"] = *v;
  if (auto v = JOptStr(in, "taskRoleArn")) cfg["taskRoleArn"] = *v;
  Json tags = in.value("tags", Json::array());
  ValidateTags(tags);
  Check(regions_.Ensure(store_, ctx.region, ctx.account_id, ctx.now));

  std::string service_arn = model::EcsArn(ctx.region, ctx.account_id, fmt::format("service/{}/{}", cluster, name));
  std::string vpc_id;
  Json subnets = Json::array(), given_groups = Json::array();
  if (const Json* net = Given(in, "networkConfiguration")) {
    subnets = net->value("subnets", Json::array());
    given_groups = net->value("securityGroups", Json::array());
  }
  Check(store_.Write([&](state::Tx& tx) {
    // "The ECS default cluster (if it does not already exist)" is created; another must exist.
    try {
      RequireCluster(tx, ctx, cluster);
    } catch (const AwsError&) {
      if (cluster != "default") throw;
      CreateClusterRecord(tx, ctx, cluster, Json::object());
    }
    auto existing = Check(state::records::GetService(tx, ctx.region, cluster, name));
    if (existing && existing->status != model::ServiceStatus::kInactive) {
      throw InvalidParameter("Creation of service was not idempotent.");  // CreateService's words
    }
    auto rec = Check(tx.Get(kExpress, ctx.region, RecordId(cluster, name)));
    if (rec && rec->status != "INACTIVE") throw InvalidParameter("Creation of service was not idempotent.");
    // The subnets: the request's (all in one VPC), else the default VPC's.
    if (subnets.empty()) {
      for (const auto& v : Check(tx.List({net::kVpc, ctx.region}))) {
        if (JBool(v.doc, "IsDefault")) vpc_id = v.id;
      }
      if (vpc_id.empty()) throw InvalidParameter("No default VPC exists; specify networkConfiguration.subnets.");
      for (const auto& s : Check(tx.List({net::kSubnet, ctx.region}))) {
        if (JStr(s.doc, "VpcId") == vpc_id && JBool(s.doc, "DefaultForAz")) subnets.push_back(s.id);
      }
    } else {
      for (const auto& sid : subnets) {
        auto s = sid.is_string() ? Check(tx.Get(net::kSubnet, ctx.region, sid.get<std::string>())) : std::nullopt;
        // kecs's words (ECS's for an unknown subnet of an Express service are not documented).
        if (!s) {
          throw InvalidParameter(
              fmt::format("The subnet ID '{}' does not exist.", sid.is_string() ? sid.get<std::string>() : sid.dump()));
        }
        std::string v = JStr(s->doc, "VpcId");
        if (!vpc_id.empty() && v != vpc_id) throw InvalidParameter("Subnets must all be in the same VPC.");
        vpc_id = v;
      }
    }
    if (!given_groups.empty()) cfg["networkConfiguration"]["securityGroups"] = given_groups;
    cfg["networkConfiguration"]["subnets"] = subnets;
    // The record first (PROVISIONING), each resource added as it is made: a Create that
    // fails, or a kecs that stops midway, leaves a record FinishExpressDeletions finishes
    // or removes, never an untracked load balancer holding the name.
    state::Object r;
    r.kind = kExpress;
    r.region = ctx.region;
    r.id = RecordId(cluster, name);
    r.parent = cluster;
    r.name = name;
    r.status = kProvisioning;
    r.doc = {{"serviceArn", service_arn},
             {"serviceName", name},
             {"cluster", ClusterArn(ctx, cluster)},
             {"infrastructureRoleArn", JStr(in, "infrastructureRoleArn")},
             {"createdAt", Ts(ctx)},
             {"updatedAt", Ts(ctx)},
             {"tags", tags},
             {"configurations", Json::array({cfg})},
             {"kecs:account", ctx.account_id},
             {"kecs:creator", ProcessId()},
             {"kecs:made", Json::object()},  // what Create made; kecs:resources loses what is deleted
             {"kecs:resources", Json::object()}};
    Check(tx.Put(r));
    return Status::Ok();
  }));
  const std::string record_id = RecordId(cluster, name);
  // Writes `resources` (and the configuration) into the record.
  Json resources = Json::object();
  auto remember = [&](bool abandon) {
    Check(store_.Write([&](state::Tx& tx) {
      auto cur = Check(tx.Get(kExpress, ctx.region, record_id));
      if (!cur || cur->status != kProvisioning) throw AwsError("ServerException", "The Express service record changed during its creation.", 500);
      cur->doc["kecs:resources"] = resources;
      cur->doc["kecs:made"] = resources;
      cur->doc["configurations"] = Json::array({cfg});
      if (abandon) cur->doc["kecs:creator"] = "";
      return tx.Put(*cur);
    }));
  };

  std::string rid = model::NewElbId();
  try {
    RequestContext tctx = PeerContext(ctx, "RegisterTaskDefinition");
    Json td = RegisterTaskDefinition(tctx, TaskDefinitionInput(name, cfg, ctx.region));
    cfg["taskDefinitionArn"] = td["taskDefinition"]["taskDefinitionArn"];
    cfg["createdAt"] = Ts(ctx);
    resources["taskDefinitionArn"] = cfg["taskDefinitionArn"];
    remember(false);

    auto make_group = [&](const std::string& gname, const std::string& what) {
      std::string desc = fmt::format("{} of the Express service {}", what, name).substr(0, 255);
      Json sg = PeerCall(express_.ec2, "CreateSecurityGroup", ctx,
                         {{"GroupName", gname}, {"Description", desc}, {"VpcId", vpc_id},
                          {"TagSpecifications", Json::array({{{"ResourceType", "security-group"},
                                                              {"Tags", ExpressTags(service_arn)}}})}});
      return JStr(sg, "GroupId");
    };
    std::string lb_sg = make_group("ecs-express-lb-" + rid, "Load balancer security group");
    resources["loadBalancerSecurityGroup"] = lb_sg;
    remember(false);
    PeerCall(express_.ec2, "AuthorizeSecurityGroupIngress", ctx,
             {{"GroupId", lb_sg},
              {"IpPermissions", Json::array({{{"IpProtocol", "tcp"}, {"FromPort", 80}, {"ToPort", 80},
                                              {"IpRanges", Json::array({{{"CidrIp", "0.0.0.0/0"}}})}}})}});
    int port = static_cast<int>(JInt(cfg["primaryContainer"], "containerPort"));
    Json task_groups = given_groups;
    if (task_groups.empty()) {
      std::string svc_sg = make_group("ecs-express-svc-" + rid, "Task security group");
      resources["serviceSecurityGroup"] = svc_sg;
      remember(false);
      PeerCall(express_.ec2, "AuthorizeSecurityGroupIngress", ctx,
               {{"GroupId", svc_sg}, {"IpPermissions", PortRule(port, lb_sg)}});
      task_groups = Json::array({svc_sg});
    }

    Json tg = PeerCall(express_.elbv2, "CreateTargetGroup", ctx,
                       {{"Name", "ecs-express-tg-" + rid.substr(0, 15)}, {"Protocol", "HTTP"}, {"Port", port},
                        {"VpcId", vpc_id}, {"TargetType", "ip"}, {"HealthCheckProtocol", "HTTP"},
                        {"HealthCheckPath", cfg["healthCheckPath"]},
                        {"Tags", ExpressTags(service_arn)}})["TargetGroups"][0];
    std::string tg_arn = JStr(tg, "TargetGroupArn");
    resources["targetGroupArn"] = tg_arn;
    remember(false);

    Json lb = PeerCall(express_.elbv2, "CreateLoadBalancer", ctx,
                       {{"Name", "ecs-express-" + rid}, {"Subnets", subnets}, {"SecurityGroups", {lb_sg}},
                        {"Scheme", "internet-facing"}, {"Type", "application"},
                        {"Tags", ExpressTags(service_arn)}})["LoadBalancers"][0];
    std::string lb_arn = JStr(lb, "LoadBalancerArn");
    resources["loadBalancerArn"] = lb_arn;
    resources["loadBalancerDnsName"] = lb["DNSName"];
    remember(false);

    Json listener = PeerCall(
        express_.elbv2, "CreateListener", ctx,
        {{"LoadBalancerArn", lb_arn}, {"Protocol", "HTTP"}, {"Port", 80},
         {"DefaultActions", Json::array({{{"Type", "fixed-response"},
                                          {"FixedResponseConfig", {{"StatusCode", "404"}, {"ContentType", "text/plain"},
                                                                   {"MessageBody", "Not Found"}}}}})}})["Listeners"][0];
    std::string listener_arn = JStr(listener, "ListenerArn");
    resources["listenerArn"] = listener_arn;
    remember(false);
    Json rule = PeerCall(express_.elbv2, "CreateRule", ctx,
                         {{"ListenerArn", listener_arn}, {"Priority", 1},
                          {"Conditions", Json::array({{{"Field", "path-pattern"}, {"PathPatternConfig", {{"Values", {"/*"}}}}}})},
                          {"Actions", Json::array({{{"Type", "forward"}, {"TargetGroupArn", tg_arn}}})}})["Rules"][0];
    resources["ruleArn"] = rule["RuleArn"];
    remember(false);

    // The URL: the listener's host port on the address load balancers are published on;
    // without one (no --publish-address, no primary address), the DNS name inside the VPC.
    std::string host;
    for (const auto& z : lb.value("AvailabilityZones", Json::array())) {
      for (const auto& a : z.value("LoadBalancerAddresses", Json::array())) {
        if (host.empty()) host = JStr(a, "IpAddress");
      }
    }
    int host_port = 0;
    Check(store_.Read([&](state::Tx& tx) {
      auto l = Check(state::records::GetListener(tx, ctx.region, model::IdFromArn(listener_arn, "listener")));
      if (l) host_port = l->host_port;
      return Status::Ok();
    }));
    resources["endpoint"] = !host.empty() && host_port ? fmt::format("http://{}:{}/", host, host_port)
                                                         : fmt::format("http://{}/", JStr(lb, "DNSName"));
    remember(false);

    const Json& st = cfg["scalingTarget"];
    RequestContext sctx = PeerContext(ctx, "CreateService");
    CreateService(sctx, {{"cluster", cluster},
                         {"serviceName", name},
                         {"taskDefinition", cfg["taskDefinitionArn"]},
                         {"desiredCount", JInt(st, "minTaskCount")},
                         {"launchType", "FARGATE"},
                         {"networkConfiguration", {{"awsvpcConfiguration", {{"subnets", subnets},
                                                                             {"securityGroups", task_groups},
                                                                             {"assignPublicIp", "DISABLED"}}}}},
                         {"loadBalancers", Json::array({{{"targetGroupArn", tg_arn},
                                                         {"containerName", kMainContainer},
                                                         {"containerPort", port}}})},
                         {"tags", tags}});
  } catch (...) {
    // What was made is removed as a stopped kecs's half-made service is: the record,
    // abandoned, goes to FinishExpressDeletions (in reverse order of making; the record
    // goes once all is gone, and whatever cannot go yet stays recorded for its next call).
    try {
      remember(true);
    } catch (const std::exception& e) {
      KLOG_WARN("express {}: {}", service_arn, e.what());
    }
    FinishExpressDeletions(ctx);
    try {
      throw;
    } catch (const AwsError& e) {
      RethrowAsEcs(e);
    }
  }

  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    auto rec = Check(tx.Get(kExpress, ctx.region, record_id));
    if (!rec || rec->status != kProvisioning) throw AwsError("ServerException", "The Express service record changed during its creation.", 500);
    FinishCreation(*rec);
    Check(tx.Put(*rec));
    out = {{"service", ExpressView(tx, ctx, *rec, true)}};
    return Status::Ok();
  }));
  return out;
}

namespace {

// The Express record a serviceArn names. Describe answers ResourceNotFoundException, the
// others ServiceNotFoundException (the error lists of their models); the messages are
// kecs's own, as ECS's are not documented, ServiceNotFoundException's as RequireService's.
state::Object RequireExpress(state::Tx& tx, const RequestContext& ctx, const Json& in, bool describe) {
  std::string arn = JStr(in, "serviceArn");
  auto parts = ParseServiceArn(arn);
  if (!parts) throw InvalidParameter(fmt::format("Invalid service ARN: {}", arn));
  auto rec = Check(tx.Get(kExpress, ctx.region, RecordId(parts->first, parts->second)));
  if (!rec || JStr(rec->doc, "serviceArn") != arn || rec->status == kProvisioning) {
    if (describe) throw AwsError("ResourceNotFoundException", fmt::format("The Express service {} was not found.", arn));
    throw AwsError("ServiceNotFoundException", "Service not found.");
  }
  return *rec;
}

// Update and Delete: the record, which must be ACTIVE.
state::Object ActiveExpress(state::Store& store, const RequestContext& ctx, const Json& in) {
  state::Object rec;
  Check(store.Read([&](state::Tx& tx) {
    rec = RequireExpress(tx, ctx, in, false);
    return Status::Ok();
  }));
  if (rec.status != "ACTIVE") throw AwsError("ServiceNotActiveException", "Service was not ACTIVE.");
  return rec;
}

}  // namespace

Json EcsApi::DescribeExpressGatewayService(RequestContext& ctx, const Json& in) {
  FinishExpressDeletions(ctx);
  bool tags = false;
  for (const auto& i : in.value("include", Json::array())) tags = tags || i == "TAGS";
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    auto rec = RequireExpress(tx, ctx, in, true);
    out = {{"service", ExpressView(tx, ctx, rec, tags)}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::UpdateExpressGatewayService(RequestContext& ctx, const Json& in) {
  FinishExpressDeletions(ctx);
  state::Object rec = ActiveExpress(store_, ctx, in);
  RefuseTaskDefinitionArn(in);
  Json old = rec.doc["configurations"][0];
  Json cfg = old;
  cfg.erase("createdAt");
  if (const Json* pc = Given(in, "primaryContainer")) cfg["primaryContainer"] = PrimaryContainer(*pc);
  for (const char* k : {"cpu", "memory", "executionRoleArn", "taskRoleArn"}) {
    if (auto v = JOptStr(in, k)) cfg[k] = *v;
  }
  if (auto v = JOptStr(in, "healthCheckPath")) cfg["healthCheckPath"] = HealthPath(*v);
  if (const Json* st = Given(in, "scalingTarget")) cfg["scalingTarget"] = ScalingTarget(*st, old["scalingTarget"]);
  if (const Json* net = Given(in, "networkConfiguration")) {
    // kecs keeps an Express service in the VPC and subnets it was created in (its load
    // balancer's); only the tasks' security groups may change.
    if (Given(*net, "subnets") && (*net)["subnets"] != old["networkConfiguration"]["subnets"]) {
      throw InvalidParameter("The subnets of an Express service cannot be changed.");
    }
    if (const Json* g = Given(*net, "securityGroups")) cfg["networkConfiguration"]["securityGroups"] = *g;
  }
  const Json& res = rec.doc["kecs:resources"];
  std::string cluster = rec.parent, name = rec.name;
  bool new_td = false;
  for (const char* k : {"primaryContainer", "cpu", "memory", "executionRoleArn", "taskRoleArn"}) {
    new_td = new_td || cfg.value(k, Json()) != old.value(k, Json());
  }
  const int port = static_cast<int>(JInt(cfg["primaryContainer"], "containerPort"));
  const int old_port = static_cast<int>(JInt(old["primaryContainer"], "containerPort"));
  auto svc_sg = JOptStr(res, "serviceSecurityGroup");
  // All or nothing: what is changed before UpdateService (which may still refuse) is undone
  // when a later step fails.
  UndoList undo(JStr(rec.doc, "serviceArn"));
  try {
    if (new_td) {
      RequestContext tctx = PeerContext(ctx, "RegisterTaskDefinition");
      Json td = RegisterTaskDefinition(tctx, TaskDefinitionInput(name, cfg, ctx.region));
      cfg["taskDefinitionArn"] = td["taskDefinition"]["taskDefinitionArn"];
      undo.Add([this, ctx, arn = JStr(cfg, "taskDefinitionArn")] {
        RequestContext c = PeerContext(ctx, "DeregisterTaskDefinition");
        DeregisterTaskDefinition(c, {{"taskDefinition", arn}});
      });
    }
    if (cfg["healthCheckPath"] != old["healthCheckPath"]) {
      PeerCall(express_.elbv2, "ModifyTargetGroup", ctx,
               {{"TargetGroupArn", res["targetGroupArn"]}, {"HealthCheckPath", cfg["healthCheckPath"]}});
      undo.Add([this, ctx, tg = res["targetGroupArn"], path = old["healthCheckPath"]] {
        PeerCall(express_.elbv2, "ModifyTargetGroup", ctx, {{"TargetGroupArn", tg}, {"HealthCheckPath", path}});
      });
    }
    if (port != old_port && svc_sg) {
      // The target group's port only names the default; targets register with the task's
      // port. The task security group kecs made must let the new port in (an earlier
      // update's rule for it may still be there, kecs:stalePorts).
      Json rule{{"GroupId", *svc_sg}, {"IpPermissions", PortRule(port, res["loadBalancerSecurityGroup"])}};
      try {
        PeerCall(express_.ec2, "AuthorizeSecurityGroupIngress", ctx, rule);
        undo.Add([this, ctx, rule] { PeerCall(express_.ec2, "RevokeSecurityGroupIngress", ctx, rule); });
      } catch (const AwsError& e) {
        if (e.code() != "InvalidPermission.Duplicate") throw;
      }
    }
    Json update{{"cluster", cluster},
                {"service", name},
                {"desiredCount", JInt(cfg["scalingTarget"], "minTaskCount")}};
    if (new_td) {
      update["taskDefinition"] = cfg["taskDefinitionArn"];
      update["loadBalancers"] = Json::array({{{"targetGroupArn", res["targetGroupArn"]},
                                              {"containerName", kMainContainer}, {"containerPort", port}}});
    }
    if (cfg["networkConfiguration"] != old["networkConfiguration"]) {
      Json groups = cfg["networkConfiguration"].value("securityGroups", Json::array());
      if (groups.empty() && res.contains("serviceSecurityGroup")) groups = Json::array({res["serviceSecurityGroup"]});
      update["networkConfiguration"] = {{"awsvpcConfiguration", {{"subnets", cfg["networkConfiguration"]["subnets"]},
                                                                 {"securityGroups", groups},
                                                                 {"assignPublicIp", "DISABLED"}}}};
    }
    RequestContext uctx = PeerContext(ctx, "UpdateService");
    UpdateService(uctx, update);
  } catch (const AwsError& e) {
    undo.Run();
    RethrowAsEcs(e);
  } catch (...) {
    undo.Run();
    throw;
  }

  Json out;
  Check(store_.Write([&](state::Tx& tx) {
    auto cur = RequireExpress(tx, ctx, in, false);
    if (cur.status != "ACTIVE") throw AwsError("ServiceNotActiveException", "Service was not ACTIVE.");
    cfg["createdAt"] = Ts(ctx);
    if (port != old_port && svc_sg) {
      // The old port's rule goes once no task of an older configuration is left (the
      // rolling deployment's old tasks still take traffic on it): FinishExpressDeletions.
      Json stale = Json::array();
      for (const auto& p : cur.doc.value("kecs:stalePorts", Json::array())) {
        if (p != port && p != old_port) stale.push_back(p);
      }
      stale.push_back(old_port);
      cur.doc["kecs:stalePorts"] = stale;
    }
    Json configs = Json::array({cfg});
    for (const auto& c : cur.doc["configurations"]) {
      if (configs.size() < 10) configs.push_back(c);  // the newest ten are kept
    }
    cur.doc["configurations"] = configs;
    cur.doc["updatedAt"] = Ts(ctx);
    Check(tx.Put(cur));
    Json target = cfg;
    target["ingressPaths"] = Json::array({{{"accessType", "PUBLIC"}, {"endpoint", JStr(res, "endpoint")}}});
    out = {{"service", {{"serviceArn", cur.doc["serviceArn"]},
                        {"cluster", cur.doc["cluster"]},
                        {"serviceName", cur.name},
                        {"status", {{"statusCode", cur.status}}},
                        {"targetConfiguration", target},
                        {"createdAt", cur.doc["createdAt"]},
                        {"updatedAt", cur.doc["updatedAt"]}}}};
    return Status::Ok();
  }));
  return out;
}

Json EcsApi::DeleteExpressGatewayService(RequestContext& ctx, const Json& in) {
  FinishExpressDeletions(ctx);
  // DRAINING first, then the ECS service's deletion: a kecs that stops between the two
  // leaves a DRAINING record whose ECS service FinishExpressDeletions deletes.
  state::Object rec;
  auto mark = [&](const char* from, const char* to) {
    Check(store_.Write([&](state::Tx& tx) {
      auto cur = RequireExpress(tx, ctx, in, false);
      if (cur.status != from) throw AwsError("ServiceNotActiveException", "Service was not ACTIVE.");
      cur.status = to;
      if (std::string(to) == "DRAINING") {
        cur.doc["statusReason"] = "The service is being deleted; its infrastructure is removed once its tasks stop.";
      } else {
        cur.doc.erase("statusReason");
      }
      cur.doc["updatedAt"] = Ts(ctx);
      Check(tx.Put(cur));
      rec = cur;
      return Status::Ok();
    }));
  };
  mark("ACTIVE", "DRAINING");
  RequestContext dctx = PeerContext(ctx, "DeleteService");
  try {
    DeleteService(dctx, {{"cluster", rec.parent}, {"service", rec.name}, {"force", true}});
  } catch (const AwsError& e) {
    if (e.code() != "ServiceNotFoundException") {  // not found: deleted by DeleteService already
      try {
        mark("DRAINING", "ACTIVE");  // refused: the service stays as it was
      } catch (const std::exception& undo) {
        KLOG_WARN("express {}: {}", JStr(rec.doc, "serviceArn"), undo.what());
      }
      throw;
    }
  }
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    auto cur = RequireExpress(tx, ctx, in, false);
    out = {{"service", ExpressView(tx, ctx, cur, false)}};
    return Status::Ok();
  }));
  return out;
}

void AddExpressManagedResources(state::Tx& tx, const RequestContext& ctx, const model::ServiceRevision& rev,
                                Json& out) {
  auto rec = Check(tx.Get(kExpress, ctx.region, RecordId(rev.cluster, rev.service)));
  if (!rec || JStr(rec->doc, "serviceArn") != rev.service_arn) return;
  const Json& made = rec->doc["kecs:made"];
  const Json& left = rec->doc["kecs:resources"];
  const Json updated = rec->doc["updatedAt"];
  // ManagedResourceStatus: ACTIVE while there, DEPROVISIONING while the service drains,
  // DELETED once removed.
  auto managed = [&](const char* key) {
    Json m{{"arn", made[key]}, {"updatedAt", updated}};
    m["status"] = !left.contains(key)                                          ? "DELETED"
                  : rec->status == "DRAINING" || rec->status == "INACTIVE" ? "DEPROVISIONING"
                                                                           : "ACTIVE";
    return m;
  };
  auto group = [&](const char* key) {
    Json g = managed(key);
    g["arn"] = fmt::format("arn:aws:ec2:{}:{}:security-group/{}", ctx.region, ctx.account_id, JStr(made, key));
    return g;
  };
  // The configuration of the revision's task definition (the newest when none matches).
  Json cfg = rec->doc["configurations"][0];
  for (const auto& c : rec->doc["configurations"]) {
    if (JStr(c, "taskDefinitionArn") == rev.task_definition) {
      cfg = c;
      break;
    }
  }
  int port = static_cast<int>(JInt(cfg["primaryContainer"], "containerPort", 80));
  Json lb = managed("loadBalancerArn");
  lb["scheme"] = "internet-facing";
  lb["subnetIds"] = cfg["networkConfiguration"]["subnets"];
  lb["securityGroupIds"] = Json::array({made["loadBalancerSecurityGroup"]});
  Json tg = managed("targetGroupArn");
  tg["healthCheckPath"] = cfg["healthCheckPath"];
  tg["healthCheckPort"] = port;
  tg["port"] = port;
  Json path{{"accessType", "PUBLIC"},
            {"endpoint", JStr(made, "endpoint")},
            {"loadBalancer", lb},
            {"loadBalancerSecurityGroups", Json::array({group("loadBalancerSecurityGroup")})},
            {"listener", managed("listenerArn")},
            {"rule", managed("ruleArn")},
            {"targetGroups", Json::array({tg})}};
  // kecs has no Application Auto Scaling: the scaling settings are reported with FAILED and
  // the reason (only minTaskCount is applied, as the desired count). The metric names are
  // the ones the model lists for ManagedApplicationAutoScalingPolicy.metric (its
  // "ALBRequestCOuntPerTarget" spelled as Application Auto Scaling's predefined metric).
  const Json& st = cfg["scalingTarget"];
  const char* metric = JStr(st, "autoScalingMetric") == "AVERAGE_MEMORY"       ? "ECSServiceAverageMemoryUtilization"
                       : JStr(st, "autoScalingMetric") == "REQUEST_COUNT_PER_TARGET" ? "ALBRequestCountPerTarget"
                                                                                   : "ECSServiceAverageCPUUtilization";
  const std::string no_scaling = "kecs has no Application Auto Scaling: minTaskCount is applied as the desired count.";
  Json scaling{{"scalableTarget", {{"status", "FAILED"}, {"statusReason", no_scaling}, {"updatedAt", updated},
                                   {"minCapacity", st["minTaskCount"]}, {"maxCapacity", st["maxTaskCount"]}}},
               {"applicationAutoScalingPolicies",
                Json::array({{{"status", "FAILED"}, {"statusReason", no_scaling}, {"updatedAt", updated},
                              {"policyType", "TargetTrackingScaling"},
                              {"targetValue", JInt(st, "autoScalingTargetValue")}, {"metric", metric}}})}};
  Json res{{"ingressPaths", Json::array({path})}, {"autoScaling", scaling}};
  if (made.contains("serviceSecurityGroup")) res["serviceSecurityGroups"] = Json::array({group("serviceSecurityGroup")});
  out["ecsManagedResources"] = res;
}

// The sweep, per Express record (every Express operation and each scheduler pass call it):
//   - PROVISIONING, made by no running Create (kecs stopped midway, or the Create failed):
//     with its ECS service made, it becomes ACTIVE; otherwise what was made is removed, the
//     task definition deregistered, and the record deleted (the name is free again);
//   - ACTIVE whose ECS service is gone or deleted (a plain DeleteService): DRAINING;
//   - DRAINING whose ECS service is still ACTIVE (kecs stopped between the two steps of
//     DeleteExpressGatewayService): the service is deleted;
//   - DRAINING whose ECS service is INACTIVE or gone: the infrastructure is removed, then
//     INACTIVE;
//   - ACTIVE with a container port left from an update (kecs:stalePorts): its ingress rule
//     is revoked once the ECS service runs only the current configuration's tasks.
void EcsApi::FinishExpressDeletions(RequestContext& ctx) {
  enum class Todo { kFinishCreate, kRemoveHalfMade, kMarkDraining, kDeleteService, kRemove, kRevokePorts };
  std::vector<std::pair<Todo, state::Object>> todo;
  Status st = store_.Read([&](state::Tx& tx) {
    state::Query q{kExpress, ctx.region};
    q.any_region = ctx.region.empty();
    for (auto& rec : Check(tx.List(q))) {
      if (rec.status == "INACTIVE") continue;
      auto svc = Check(state::records::GetService(tx, rec.region, rec.parent, rec.name));
      const bool gone = !svc || svc->status == model::ServiceStatus::kInactive;
      const bool active = svc && svc->status == model::ServiceStatus::kActive;
      if (rec.status == kProvisioning) {
        if (JStr(rec.doc, "kecs:creator") == ProcessId()) continue;  // a Create still running
        bool made = MadeEcsService(svc, rec.doc["kecs:resources"]);
        todo.emplace_back(made ? Todo::kFinishCreate : Todo::kRemoveHalfMade, std::move(rec));
      } else if (rec.status == "ACTIVE" && !active) {
        todo.emplace_back(Todo::kMarkDraining, std::move(rec));
      } else if (rec.status == "DRAINING" && active) {
        todo.emplace_back(Todo::kDeleteService, std::move(rec));
      } else if (rec.status == "DRAINING" && gone) {
        todo.emplace_back(Todo::kRemove, std::move(rec));
      } else if (rec.status == "ACTIVE" && !rec.doc.value("kecs:stalePorts", Json::array()).empty() &&
                 svc->deployments.size() == 1 &&
                 svc->deployments[0].task_definition == JStr(rec.doc["configurations"][0], "taskDefinitionArn")) {
        todo.emplace_back(Todo::kRevokePorts, std::move(rec));
      }
    }
    return Status::Ok();
  });
  if (!st.ok()) return;
  for (auto& item : todo) {
    Todo& what = item.first;
    state::Object& rec = item.second;
    RequestContext c = ctx;
    c.region = rec.region;
    c.account_id = JStr(rec.doc, "kecs:account", ctx.account_id);
    const std::string arn = JStr(rec.doc, "serviceArn");
    if (what == Todo::kMarkDraining) {
      // A plain DeleteService of the Express service's ECS service.
      bool gone = false;
      Status w = store_.Write([&](state::Tx& tx) {
        auto cur = Check(tx.Get(kExpress, rec.region, rec.id));
        if (!cur || cur->status != "ACTIVE") return Status::Ok();
        auto svc = Check(state::records::GetService(tx, rec.region, rec.parent, rec.name));
        if (svc && svc->status == model::ServiceStatus::kActive) return Status::Ok();
        gone = !svc || svc->status == model::ServiceStatus::kInactive;
        cur->status = "DRAINING";
        cur->doc["statusReason"] = "The ECS service was deleted; its infrastructure is removed once its tasks stop.";
        if (c.now > 0) cur->doc["updatedAt"] = c.now;
        rec = *cur;
        return tx.Put(*cur);
      });
      if (!w.ok()) KLOG_WARN("express {}: {}", arn, w.message());
      if (!w.ok() || !gone) continue;
      what = Todo::kRemove;  // the ECS service is INACTIVE already: on to the removal
    }
    if (what == Todo::kDeleteService) {
      RequestContext dctx = PeerContext(c, "DeleteService");
      try {
        DeleteService(dctx, {{"cluster", rec.parent}, {"service", rec.name}, {"force", true}});
      } catch (const AwsError& e) {
        KLOG_WARN("express {}: DeleteService: {}", arn, e.message());
      }
      continue;
    }
    if (what == Todo::kRevokePorts) {
      const Json& res = rec.doc["kecs:resources"];
      Json left = Json::array();
      for (const auto& p : rec.doc["kecs:stalePorts"]) {
        try {
          PeerCall(express_.ec2, "RevokeSecurityGroupIngress", c,
                   {{"GroupId", res["serviceSecurityGroup"]},
                    {"IpPermissions", PortRule(static_cast<int>(p.get<int64_t>()), res["loadBalancerSecurityGroup"])}});
        } catch (const AwsError& e) {
          if (!IsGone(e)) left.push_back(p);
        }
      }
      if (left == rec.doc["kecs:stalePorts"]) continue;  // no progress: no write (it would wake the scheduler)
      Status w = store_.Write([&](state::Tx& tx) {
        auto cur = Check(tx.Get(kExpress, rec.region, rec.id));
        if (!cur || cur->status != "ACTIVE") return Status::Ok();
        cur->doc["kecs:stalePorts"] = left;
        return tx.Put(*cur);
      });
      if (!w.ok()) KLOG_WARN("express {}: {}", arn, w.message());
      continue;
    }
    if (what == Todo::kFinishCreate) {
      Status w = store_.Write([&](state::Tx& tx) {
        auto cur = Check(tx.Get(kExpress, rec.region, rec.id));
        if (!cur || cur->status != kProvisioning) return Status::Ok();
        FinishCreation(*cur);
        return tx.Put(*cur);
      });
      if (!w.ok()) KLOG_WARN("express {}: {}", arn, w.message());
      continue;
    }
    Json& res = rec.doc["kecs:resources"];
    // Each step that succeeds (or finds the resource gone) is forgotten; one that fails
    // stays for the next call (a security group still on an interface, for one).
    size_t before = res.size();
    auto step = [&](const char* key, const Service* peer, const char* op, const char* member) {
      if (!res.contains(key)) return true;
      try {
        PeerCall(peer, op, c, {{member, res[key]}});
      } catch (const AwsError& e) {
        if (!IsGone(e)) {
          KLOG_DEBUG("express {}: {} {} not yet: {}", arn, op, res[key].dump(), e.message());
          return false;
        }
      }
      res.erase(key);
      return true;
    };
    bool done = step("ruleArn", express_.elbv2, "DeleteRule", "RuleArn") &&
                step("listenerArn", express_.elbv2, "DeleteListener", "ListenerArn") &&
                step("loadBalancerArn", express_.elbv2, "DeleteLoadBalancer", "LoadBalancerArn") &&
                step("targetGroupArn", express_.elbv2, "DeleteTargetGroup", "TargetGroupArn") &&
                step("serviceSecurityGroup", express_.ec2, "DeleteSecurityGroup", "GroupId") &&
                step("loadBalancerSecurityGroup", express_.ec2, "DeleteSecurityGroup", "GroupId");
    if (done && res.contains("taskDefinitionArn")) {
      // A half-made service's task definition (an ACTIVE one's stays, as ECS keeps a
      // deleted service's task definitions).
      RequestContext tctx = PeerContext(c, "DeregisterTaskDefinition");
      try {
        DeregisterTaskDefinition(tctx, {{"taskDefinition", res["taskDefinitionArn"]}});
      } catch (const AwsError& e) {
        KLOG_DEBUG("express {}: DeregisterTaskDefinition: {}", arn, e.message());
      }
      res.erase("taskDefinitionArn");
    }
    // Nothing removed and nothing left to finish: no write, so that a retry that cannot
    // progress yet does not itself wake the scheduler for another pass.
    if (!done && res.size() == before) continue;
    Status w = store_.Write([&](state::Tx& tx) {
      auto cur = Check(tx.Get(kExpress, rec.region, rec.id));
      const char* want = what == Todo::kRemoveHalfMade ? kProvisioning : "DRAINING";
      if (!cur || cur->status != want) return Status::Ok();
      if (what == Todo::kRemoveHalfMade && JStr(cur->doc, "kecs:creator") == ProcessId()) return Status::Ok();
      for (const char* k : {"ruleArn", "listenerArn", "loadBalancerArn", "targetGroupArn", "serviceSecurityGroup",
                            "loadBalancerSecurityGroup", "taskDefinitionArn"}) {
        if (!res.contains(k)) cur->doc["kecs:resources"].erase(k);
      }
      if (done && what == Todo::kRemoveHalfMade) return tx.Delete(kExpress, rec.region, rec.id).status();
      if (done) {
        cur->status = "INACTIVE";
        cur->doc.erase("statusReason");
        if (c.now > 0) cur->doc["updatedAt"] = c.now;
      }
      return tx.Put(*cur);
    });
    if (!w.ok()) KLOG_WARN("express {}: {}", arn, w.message());
  }
}

}  // namespace kecs::api::ecs
