// Cloud Map namespaces: CreateHttpNamespace, CreatePrivateDnsNamespace,
// CreatePublicDnsNamespace, DeleteNamespace, GetNamespace, ListNamespaces,
// UpdateHttpNamespace, UpdatePrivateDnsNamespace, UpdatePublicDnsNamespace.
#include <fmt/format.h>

#include "api/pagination.h"
#include "api/servicediscovery/common.h"
#include "api/servicediscovery/servicediscovery_api.h"
#include "base/ids.h"
#include "net/domain/vpc.h"

namespace kecs::api::servicediscovery {
namespace {

constexpr const char* kHttpNamePattern = R"(^(?!arn:)[!-~]{1,1024}$)";
constexpr const char* kPrivateNamePattern = R"(^(?!arn:)[!-~]{1,253}$)";
constexpr const char* kPublicNamePattern =
    R"(^([a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$)";

const char* TypeWords(const std::string& type) {
  if (type == "HTTP") return "an HTTP";
  if (type == "DNS_PRIVATE") return "a private DNS";
  return "a public DNS";
}

std::string HttpNameOf(const Json& doc) {
  return JStr(doc.value("Properties", Json::object()).value("HttpProperties", Json::object()), "HttpName");
}

// GetNamespace's Namespace, or ListNamespaces' NamespaceSummary, with a live ServiceCount.
Json NamespaceView(state::Tx& tx, const state::Object& ns, bool summary) {
  const Json& d = ns.doc;
  auto get = [&](const char* key) { return d.value(key, Json()); };
  Json out = {{"Id", ns.id}, {"Arn", get("Arn")}, {"ResourceOwner", get("ResourceOwner")},
              {"Name", get("Name")}, {"Type", get("Type")}, {"Description", get("Description")},
              {"ServiceCount", Check(tx.Count({sd::kService, ns.region, ns.id}))},
              {"Properties", get("Properties")}, {"CreateDate", get("CreateDate")}};
  if (!summary) out["CreatorRequestId"] = get("CreatorRequestId");
  return out;  // the dispatcher drops the members that are null
}

// Cloud Map names the existing namespace in the error (NamespaceId, CreatorRequestId).
AwsError NamespaceAlreadyExists(state::Tx& tx, const std::string& region, const std::string& existing_id) {
  AwsError e("NamespaceAlreadyExists", "Namespace already exists.");
  e.WithMember("NamespaceId", existing_id);
  auto ns = tx.Get(sd::kNamespace, region, existing_id);
  if (ns.ok() && *ns) e.WithMember("CreatorRequestId", JStr((*ns)->doc, "CreatorRequestId"));
  return e;
}

}  // namespace

Json ServiceDiscoveryApi::CreateNamespace(RequestContext& ctx, const Json& in, const std::string& type) {
  std::string name = JStr(in, "Name");
  CheckPattern(name, "Name",
               type == "HTTP" ? kHttpNamePattern
                              : (type == "DNS_PRIVATE" ? kPrivateNamePattern : kPublicNamePattern));
  Json tags = in.value("Tags", Json::array());
  ValidateTags(tags);
  sd::NamespaceSpec spec;
  spec.type = type;
  spec.name = name;
  spec.description = JStr(in, "Description");
  spec.vpc_id = JStr(in, "Vpc");
  spec.creator_request_id = JStr(in, "CreatorRequestId");
  spec.tags = tags;
  if (const Json* props = JGet(in, "Properties")) {
    spec.soa_ttl = JInt(props->value("DnsProperties", Json::object()).value("SOA", Json::object()), "TTL",
                        sd::kDefaultSoaTtl);
  }
  // The region's default VPC is a VPC a private namespace may name before any EC2 call.
  if (type == "DNS_PRIVATE") Check(regions_.Ensure(store_, ctx.region, ctx.account_id, ctx.now));

  std::string op;
  Check(store_.Write([&](state::Tx& tx) {
    // A retry of the same request (same CreatorRequestId) gets the first one's operation.
    if (!spec.creator_request_id.empty()) {
      for (const auto& ns : Check(tx.List({sd::kNamespace, ctx.region}))) {
        if (JStr(ns.doc, "CreatorRequestId") == spec.creator_request_id && ns.name == name &&
            JStr(ns.doc, "Type") == type) {
          op = JStr(ns.doc, "kecs:create_operation");
          return Status::Ok();
        }
      }
    }
    if (type == "DNS_PRIVATE" && !Check(tx.Get(net::kVpc, ctx.region, spec.vpc_id))) {
      // Cloud Map accepts the request and its operation fails when Route 53 refuses the
      // hosted zone's VPC association.
      op = Check(sd::RecordOperation(
          tx, ctx.region, ctx.account_id, ctx.now, "CREATE_NAMESPACE",
          {{"NAMESPACE", sd::NewNamespaceId()}}, "FAIL", "CANNOT_CREATE_HOSTED_ZONE",
          fmt::format("The VPC: {} in region {} that you provided is not authorized to make the "
                      "association. (Service: AmazonRoute53; Status Code: 400; Error Code: "
                      "InvalidVPCId; Request ID: {}; Proxy: null)",
                      spec.vpc_id, ctx.region, Uuid4())));
      return Status::Ok();
    }
    auto created = sd::CreateNamespace(tx, ctx.region, ctx.account_id, ctx.now, spec);
    if (created.status().code() == Code::kAlreadyExists) {
      throw NamespaceAlreadyExists(tx, ctx.region, created.status().message());
    }
    op = JStr(Check(std::move(created)).doc, "kecs:create_operation");
    return Status::Ok();
  }));
  return {{"OperationId", op}};
}

Json ServiceDiscoveryApi::CreateHttpNamespace(RequestContext& ctx, const Json& in) {
  return CreateNamespace(ctx, in, "HTTP");
}

Json ServiceDiscoveryApi::CreatePrivateDnsNamespace(RequestContext& ctx, const Json& in) {
  return CreateNamespace(ctx, in, "DNS_PRIVATE");
}

Json ServiceDiscoveryApi::CreatePublicDnsNamespace(RequestContext& ctx, const Json& in) {
  return CreateNamespace(ctx, in, "DNS_PUBLIC");
}

Json ServiceDiscoveryApi::DeleteNamespace(RequestContext& ctx, const Json& in) {
  std::string op;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object ns = RequireNamespace(tx, ctx, JStr(in, "Id"));
    if (Check(tx.Count({sd::kService, ctx.region, ns.id})) > 0) {
      throw AwsError("ResourceInUse",
                     "Namespace has associated services; delete the services before deleting the namespace");
    }
    Check(tx.Delete(sd::kNamespace, ctx.region, ns.id));
    op = Check(sd::RecordOperation(tx, ctx.region, ctx.account_id, ctx.now, "DELETE_NAMESPACE",
                                   {{"NAMESPACE", ns.id}}));
    return Status::Ok();
  }));
  return {{"OperationId", op}};
}

Json ServiceDiscoveryApi::GetNamespace(RequestContext& ctx, const Json& in) {
  Json out;
  Check(store_.Read([&](state::Tx& tx) {
    out = {{"Namespace", NamespaceView(tx, RequireNamespace(tx, ctx, JStr(in, "Id")), false)}};
    return Status::Ok();
  }));
  return out;
}

Json ServiceDiscoveryApi::ListNamespaces(RequestContext& ctx, const Json& in) {
  auto filters = ParseFilters(in, {"TYPE:EQ,BEGINS_WITH", "NAME:EQ,BEGINS_WITH",
                                   "HTTP_NAME:EQ,BEGINS_WITH", "RESOURCE_OWNER:EQ"});
  std::vector<std::string> keys;
  std::vector<Json> items;
  Check(store_.Read([&](state::Tx& tx) {
    for (const auto& ns : Check(tx.List({sd::kNamespace, ctx.region}))) {
      bool keep = true;
      for (const auto& f : filters) {
        if (f.name == "TYPE") keep = keep && Matches(f, JStr(ns.doc, "Type"));
        if (f.name == "NAME") keep = keep && Matches(f, ns.name);
        if (f.name == "HTTP_NAME") keep = keep && Matches(f, HttpNameOf(ns.doc));
        if (f.name == "RESOURCE_OWNER") keep = keep && Matches(f, "SELF");
      }
      if (!keep) continue;
      keys.push_back(SeqKey(ns.seq));
      items.push_back(NamespaceView(tx, ns, true));
    }
    return Status::Ok();
  }));
  Json out = Json::object();
  PageInto(out, "Namespaces", keys, std::move(items), in);
  return out;
}

Json ServiceDiscoveryApi::UpdateNamespace(RequestContext& ctx, const Json& in, const std::string& type) {
  const Json& change = in.at("Namespace");
  std::string op;
  Check(store_.Write([&](state::Tx& tx) {
    state::Object ns = RequireNamespace(tx, ctx, JStr(in, "Id"));
    if (JStr(ns.doc, "Type") != type) {
      throw InvalidInput(fmt::format("Namespace {} is not {} namespace.", ns.id, TypeWords(type)));
    }
    if (const Json* d = JGet(change, "Description")) ns.doc["Description"] = *d;
    if (const Json* p = JGet(change, "Properties")) {
      Json soa = p->value("DnsProperties", Json::object()).value("SOA", Json::object());
      if (const Json* ttl = JGet(soa, "TTL")) ns.doc["Properties"]["DnsProperties"]["SOA"]["TTL"] = *ttl;
    }
    Check(tx.Put(ns));
    op = Check(sd::RecordOperation(tx, ctx.region, ctx.account_id, ctx.now, "UPDATE_NAMESPACE",
                                   {{"NAMESPACE", ns.id}}));
    return Status::Ok();
  }));
  return {{"OperationId", op}};
}

Json ServiceDiscoveryApi::UpdateHttpNamespace(RequestContext& ctx, const Json& in) {
  return UpdateNamespace(ctx, in, "HTTP");
}

Json ServiceDiscoveryApi::UpdatePrivateDnsNamespace(RequestContext& ctx, const Json& in) {
  return UpdateNamespace(ctx, in, "DNS_PRIVATE");
}

Json ServiceDiscoveryApi::UpdatePublicDnsNamespace(RequestContext& ctx, const Json& in) {
  return UpdateNamespace(ctx, in, "DNS_PUBLIC");
}

}  // namespace kecs::api::servicediscovery
