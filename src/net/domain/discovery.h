#pragma once
// The AWS Cloud Map model: namespaces, services, instances and operations as store
// objects in the shapes of the servicediscovery API (member names as in its model), plus
// what DNS answers from them.
//
// The servicediscovery API handlers (api/servicediscovery/) validate requests and word
// Cloud Map's errors; the ECS service scheduler registers and deregisters task instances
// here; the in-process DNS server asks LookupDns what a name in a namespace resolves to.
// Members whose names start with "kecs:" are internal and never leave the API. Every
// function runs inside the caller's transaction and is as thread-safe as that.
//
// Objects (all per region):
//   kNamespace  id "ns-<16 [a-z0-9]>", name = Name, status "ACTIVE"; doc = Namespace shape
//               plus "kecs:vpc" (DNS_PRIVATE), "kecs:tags", "kecs:create_operation".
//   kService    id "srv-<16 [a-z0-9]>", parent = namespace id, name = Name, status
//               "ACTIVE"; doc = Service shape (InstanceCount kept current) plus
//               "kecs:tags", "kecs:attributes" (service attributes), "kecs:revision".
//   kInstance   id "<service id>/<instance id>", parent = service id, name = instance id;
//               doc = {"Id", "Attributes", "CreatorRequestId"?, "kecs:health"}.
//   kOperation  id "<32 [a-z0-9]>-<8 [a-z0-9]>", parent = its NAMESPACE or SERVICE target,
//               name = Type, status = Status; doc = Operation shape.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "net/domain/dns_answer.h"
#include "state/store.h"

namespace kecs::net::discovery {

inline constexpr const char* kNamespace = "sd:namespace";   // id "ns-...", doc = the model's Namespace shape (Id, Arn, Name, Type, Properties{DnsProperties{HostedZoneId, SOA{TTL}}, HttpProperties{HttpName}}, CreateDate, ...) plus "kecs:vpc" (VpcId for DNS_PRIVATE)
inline constexpr const char* kService = "sd:service";       // id "srv-...", parent = namespace id, name = service name, doc = the model's Service shape (Id, Arn, Name, NamespaceId, DnsConfig{NamespaceId, RoutingPolicy, DnsRecords[{Type,TTL}]}, HealthCheckCustomConfig, Type, InstanceCount, CreateDate, ...)
inline constexpr const char* kInstance = "sd:instance";     // id "<service id>/<instance id>", parent = service id, name = instance id, doc = {"Id", "Attributes": {...}, "CreatorRequestId"?, "kecs:health": "HEALTHY"|"UNHEALTHY"}
inline constexpr const char* kOperation = "sd:operation";   // id "<operation id>", doc = the model's Operation shape

// Cloud Map's default SOA TTL for a DNS namespace created without Properties.
inline constexpr int64_t kDefaultSoaTtl = 15;

// Identifiers in Cloud Map's formats.
std::string NewNamespaceId();   // "ns-" + 16 lowercase letters/digits
std::string NewServiceId();     // "srv-" + 16 lowercase letters/digits
std::string NewOperationId();   // 32 lowercase letters/digits, "-", 8 more
std::string NewHostedZoneId();  // Route 53's "Z" + 20 uppercase letters/digits
std::string NamespaceArn(const std::string& region, const std::string& account, const std::string& id);
std::string ServiceArn(const std::string& region, const std::string& account, const std::string& id);
// The store id of an instance: "<service id>/<instance id>".
std::string InstanceKey(const std::string& service_id, const std::string& instance_id);
// "ns-..." from "ns-..." or "arn:aws:servicediscovery:...:namespace/ns-..." (services alike).
std::string IdFromArnOrId(const std::string& id_or_arn);

// Records an Operation (SUCCESS unless told otherwise) with its Targets map
// ({"NAMESPACE": id}, {"SERVICE": id, "INSTANCE": id}, ...); returns its id.
Result<std::string> RecordOperation(state::Tx& tx, const std::string& region, const std::string& account,
                                    double now, const std::string& type, const Json& targets,
                                    const std::string& status = "SUCCESS",
                                    const std::string& error_code = "",
                                    const std::string& error_message = "");

struct NamespaceSpec {
  std::string type;         // HTTP, DNS_PRIVATE or DNS_PUBLIC
  std::string name;
  std::string description;  // empty: none
  std::string vpc_id;       // DNS_PRIVATE only; must exist in the region
  int64_t soa_ttl = kDefaultSoaTtl;
  std::string creator_request_id;
  Json tags = Json::array();  // [{"Key","Value"}]
};
// Creates a namespace and its CREATE_NAMESPACE operation (in doc "kecs:create_operation").
// AlreadyExists (message: the existing namespace's id) when an HTTP namespace or another
// namespace's HttpName has that name, a DNS_PRIVATE namespace of that name is bound to the
// same VPC, or a DNS_PUBLIC one has that name. A DNS namespace that reuses another's name
// gets an HttpName with a generated suffix, as Cloud Map does. Does not check the VPC.
Result<state::Object> CreateNamespace(state::Tx& tx, const std::string& region, const std::string& account,
                                      double now, const NamespaceSpec& spec);

// The ACTIVE service with this id (or ARN), if any.
Result<std::optional<state::Object>> FindService(state::Tx& tx, const std::string& region,
                                                 const std::string& id_or_arn);

// InvalidArgument, in Cloud Map's words, when `attributes` lack what the service's records
// and health check need (AWS_INSTANCE_IPV4 for A, AWS_INSTANCE_IPV6 for AAAA,
// AWS_INSTANCE_PORT for SRV or HealthCheckConfig, AWS_INSTANCE_CNAME for CNAME), carry a
// malformed address or port, or exceed Cloud Map's attribute limits.
Status ValidateInstanceAttributes(const Json& service_doc, const Json& attributes);

// Registers (or replaces) an instance; returns the new operation's id (an Operation of type
// REGISTER_INSTANCE, status SUCCESS, targets INSTANCE and SERVICE). Health starts HEALTHY,
// or as AWS_INIT_HEALTH_STATUS says when the service has HealthCheckCustomConfig.
// NotFound when the service does not exist.
// (Also InvalidArgument from ValidateInstanceAttributes, so DNS never holds a record
// Cloud Map would have refused.)
Result<std::string> RegisterInstance(state::Tx& tx, const std::string& region, const std::string& account,
                                     double now, const std::string& service_id, const std::string& instance_id,
                                     const Json& attributes, const std::string& creator_request_id);
// What ECS registers in Cloud Map for one service task, as ECS names the attributes.
struct EcsTaskInstance {
  std::string task_id;                  // the instance id
  std::string ipv4;                     // AWS_INSTANCE_IPV4
  std::optional<std::string> ipv6;      // AWS_INSTANCE_IPV6
  std::optional<int64_t> port;          // AWS_INSTANCE_PORT
  std::string availability_zone;        // AVAILABILITY_ZONE
  std::string region;                   // REGION
  std::string cluster_name;             // ECS_CLUSTER_NAME
  std::string service_name;             // ECS_SERVICE_NAME
  std::string task_definition_family;   // ECS_TASK_DEFINITION_FAMILY
  std::string task_set_external_id;     // ECS_TASK_SET_EXTERNAL_ID when not empty (issue 18)
};
// Registers (or replaces) a task as an instance of the ACTIVE Cloud Map service
// `service_id_or_arn`, with ECS's attributes, and AWS_INIT_HEALTH_STATUS=HEALTHY when the
// service has a custom health check. Returns the operation id. NotFound when there is no
// such ACTIVE service; otherwise as RegisterInstance.
Result<std::string> RegisterEcsTaskInstance(state::Tx& tx, const std::string& account, double now,
                                            const std::string& service_id_or_arn, const EcsTaskInstance& task);

// Removes an instance; returns the operation id. NotFound when there is no such instance.
Result<std::string> DeregisterInstance(state::Tx& tx, const std::string& region, const std::string& account,
                                       double now, const std::string& service_id, const std::string& instance_id);

// Sets an instance's custom health status (HEALTHY or UNHEALTHY). NotFound when there is
// no such service or instance; FailedPrecondition when the service has no
// HealthCheckCustomConfig.
Status SetInstanceHealth(state::Tx& tx, const std::string& region, const std::string& service_id,
                         const std::string& instance_id, const std::string& status);

// What DNS should answer for `fqdn` (lowercase, no trailing dot) asked from inside VPC `vpc_id`
// in `region`: names "<service>.<namespace>" of DNS_PRIVATE namespaces bound to that VPC (and
// DNS_PUBLIC namespaces) resolve to the service's instances; "<instance-id>.<service>.<namespace>"
// to that one instance (the SRV targets).
//
// Details: names compare case-insensitively; the longest matching namespace wins, and a
// private namespace the VPC sees hides public ones for its names (Route 53 Resolver's rule).
// DNS_PUBLIC namespaces of every region are seen (public DNS is global). The namespace's
// own name is found with no endpoints (NODATA). A service without DnsConfig (Type HTTP) has
// no DNS name (nxdomain). For "<instance-id>.<service>.<namespace>" the one endpoint is
// returned whatever its health (with `healthy` set), and has_a/has_aaaa say whether that
// instance has such a record: the service has an A (AAAA) record, or an SRV record, since
// Cloud Map creates A/AAAA records for SRV targets (their TTL then is the SRV record's),
// and the instance has the address.
Result<DnsAnswer> LookupDns(state::Tx& tx, const std::string& region, const std::string& vpc_id, const std::string& fqdn);
// The ids of every VPC that has a DNS_PRIVATE namespace, with the region (for the DNS server to know where to listen).
// Each pair is {vpc_id, region}; one pair per VPC, sorted.
Result<std::vector<std::pair<std::string, std::string>>> PrivateDnsVpcs(state::Tx& tx);

}  // namespace kecs::net::discovery
