#pragma once
// The store converter for ECS services: model::Service to and from its stored row, and the
// AWS `Service` document the API shows.
//
// A service row (kind model::kService, id "<cluster>/<name>", parent = cluster, name =
// serviceName, status = ServiceStatus) holds the AWS Service shape as its document (other
// handlers read `tags` and `launchType` there) and kecs's own bookkeeping
// (model::ServiceInternal: steady, strict, clientToken, lastCompleted) in the row's
// internal column. Migration 5 moved the older "kecs:*" document members there. Functions taking a Tx run inside
// the caller's transaction and are as thread-safe as that.
#include <optional>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "model/service.h"
#include "state/store.h"

namespace kecs::state::records {

// Internal, naming the service's id, when the stored document is not JSON, lacks a
// member the record needs, or has one of the wrong type or an unknown enum value.
Result<model::Service> DecodeService(const Object& row);
Object EncodeService(const model::Service& service);

// The AWS `Service` document, exactly as DescribeServices shows it: no internal members,
// the counts as filled in on the record, each deployment's desiredCount the service's for
// the PRIMARY one and 0 for the others, `tags` only with `include_tags`.
Json ServiceToAws(const model::Service& service, bool include_tags);

// The deploymentConfiguration member, and back (InvalidArgument when a member has the
// wrong type).
Json DeploymentConfigurationToJson(const model::DeploymentConfiguration& c);
Result<model::DeploymentConfiguration> DeploymentConfigurationFromJson(const Json& j);

// serviceRegistries, and back (InvalidArgument when a member has the wrong type).
Result<model::ServiceRegistry> ServiceRegistryFromJson(const Json& j);
Result<std::vector<model::ServiceRegistry>> ServiceRegistriesFromJson(const Json& j);
Json ServiceRegistriesToJson(const std::vector<model::ServiceRegistry>& regs);

// loadBalancers, and back (InvalidArgument naming the member when one has the wrong
// type). Members not given stay absent, so the document shows what the client sent.
Result<std::vector<model::ServiceLoadBalancer>> ServiceLoadBalancersFromJson(const Json& j);
Json ServiceLoadBalancersToJson(const std::vector<model::ServiceLoadBalancer>& lbs);

// The deployment as stored (and shown) in a service document, and back.
Json DeploymentToJson(const model::Deployment& d);
Result<model::Deployment> DeploymentFromJson(const Json& j, const std::string& service_id);

// A task set as stored (and shown: DescribeTaskSets, the service's taskSets), and back.
// `include_tags` adds `tags` (DescribeTaskSets' include TAGS; Create/Update answer them).
Json TaskSetToAws(const model::TaskSet& ts, bool include_tags = true);
Result<model::TaskSet> TaskSetFromJson(const Json& j, const std::string& service_id);

// Migration 5: a service document of the older layout, with its "kecs:*" members, as the
// AWS document and the internal column's JSON.
struct SplitService {
  Json doc;
  Json internal;
};
SplitService SplitLegacyServiceDocument(const Json& doc);

// NotFound-free lookups: nullopt when there is no such service (any status).
Result<std::optional<model::Service>> GetService(Tx& tx, const std::string& region, const std::string& cluster,
                                                 const std::string& name);
Status PutService(Tx& tx, const model::Service& service);

struct ServiceQuery {
  std::string region;
  bool any_region = false;
  std::optional<std::string> cluster;
};
// In creation order. One unreadable row fails the whole list (its id in the error).
Result<std::vector<model::Service>> ListServices(Tx& tx, const ServiceQuery& q);


// ---- Service deployments and service revisions (model/service.h) ----------------------
// A row of kind kServiceDeployment or kServiceRevision has id "<cluster>/<service>/<id>",
// parent "<cluster>/<service>", name <id> and (deployments) status the deployment's status;
// its document is the AWS shape as Describe* shows it, and kecs's own members (the
// service's "ecs-svc/..." deployment ids) are in the internal column.

// The AWS ServiceDeployment, ServiceDeploymentBrief and ServiceRevision documents.
Json ServiceDeploymentToAws(const model::ServiceDeployment& d);
Json ServiceDeploymentBriefToAws(const model::ServiceDeployment& d);
Json ServiceRevisionToAws(const model::ServiceRevision& r);

Object EncodeServiceDeployment(const model::ServiceDeployment& d);
// Internal, naming the row, when the stored document cannot be read.
Result<model::ServiceDeployment> DecodeServiceDeployment(const Object& row);
Object EncodeServiceRevision(const model::ServiceRevision& r);
Result<model::ServiceRevision> DecodeServiceRevision(const Object& row);

Status PutServiceDeployment(Tx& tx, const model::ServiceDeployment& d);
Status PutServiceRevision(Tx& tx, const model::ServiceRevision& r);
// nullopt when there is no such record.
Result<std::optional<model::ServiceDeployment>> GetServiceDeployment(Tx& tx, const std::string& region,
                                                                    const std::string& key);
Result<std::optional<model::ServiceRevision>> GetServiceRevision(Tx& tx, const std::string& region,
                                                                const std::string& key);
// A service's records, oldest first. One unreadable row fails the list.
Result<std::vector<model::ServiceDeployment>> ListServiceDeployments(Tx& tx, const std::string& region,
                                                                     const std::string& cluster,
                                                                     const std::string& service);
Result<std::vector<model::ServiceRevision>> ListServiceRevisions(Tx& tx, const std::string& region,
                                                                 const std::string& cluster,
                                                                 const std::string& service);

}  // namespace kecs::state::records
