#include "api/metadata/imds.h"

#include <fmt/format.h>

#include "api/ec2/instances.h"
#include "api/metadata/metadata_service.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/value_cipher.h"
#include "net/domain/vpc.h"

namespace kecs::api::metadata {
namespace {

HttpResponse Text(int status, std::string body) {
  return {status, {{"Content-Type", "text/plain"}}, std::move(body)};
}

// IMDS answers errors with a small HTML page naming the status.
HttpResponse Error(int status) {
  const char* what = status == 400 ? "Bad Request" : status == 401 ? "Unauthorized" : status == 403 ? "Forbidden"
                   : status == 404 ? "Not Found" : status == 405 ? "Method Not Allowed" : "Error";
  return {status, {{"Content-Type", "text/html"}},
          fmt::format("<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 "
                      "Transitional//EN\"\n\t\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n<html "
                      "xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n <head>\n  <title>{0} - "
                      "{1}</title>\n </head>\n <body>\n  <h1>{0} - {1}</h1>\n </body>\n</html>\n",
                      status, what)};
}

std::string Lines(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : "\n") + i;
  return out;
}

std::string Trim(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return std::string(path);
}

}  // namespace

InstanceMetadata::InstanceReader InstanceMetadata::StoreReader(state::Store& store) {
  return [&store](const std::string& region, const std::string& id) -> Result<std::optional<state::Object>> {
    std::optional<state::Object> out;
    RETURN_IF_ERROR(store.Read([&](state::Tx& tx) {
      ASSIGN_OR_RETURN(out, tx.Get(net::kEc2Instance, region, id));
      return Status::Ok();
    }));
    return out;
  };
}

HttpResponse InstanceMetadata::Handle(const HttpRequest& r, const std::string& region, const std::string& instance_id) {
  auto inst = instances_(region, instance_id);
  if (!inst.ok()) return Error(500);
  if (!*inst || (*inst)->status != "running") return Error(404);
  const Json& doc = (*inst)->doc;
  const Json meta = doc.value("MetadataOptions", Json::object());
  if (JStr(meta, "HttpEndpoint", "enabled") == "disabled") return Error(403);
  double now = clock_.Now();
  std::string path(r.Path());
  if (path == "/latest/api/token") {
    if (r.method != "PUT") return Error(405);
    // A proxied request (X-Forwarded-For) gets no token, as IMDS refuses them.
    if (!r.Header("x-forwarded-for").empty()) return Error(403);
    std::string ttl_text(r.Header("x-aws-ec2-metadata-token-ttl-seconds"));
    int64_t ttl = 0;
    try {
      size_t used = 0;
      ttl = std::stoll(ttl_text, &used);
      if (used != ttl_text.size()) ttl = 0;
    } catch (...) {
      ttl = 0;
    }
    if (ttl < 1 || ttl > 21600) return Error(400);
    std::string token = Base64Encode(RandomHex(32) + RandomHex(24));
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::erase_if(tokens_, [&](const auto& kv) { return kv.second.expires <= now; });
      // Bounded: a PUT loop inside an instance must not grow the daemon. Past the cap the
      // instance's token that expires first goes (a client holds one token at a time).
      auto soonest = tokens_.end();
      size_t held = 0;
      for (auto it = tokens_.begin(); it != tokens_.end(); ++it) {
        if (it->second.region != region || it->second.instance != instance_id) continue;
        ++held;
        if (soonest == tokens_.end() || it->second.expires < soonest->second.expires) soonest = it;
      }
      if (held >= kMaxTokensPerInstance) tokens_.erase(soonest);
      tokens_[token] = {region, instance_id, now + static_cast<double>(ttl)};
    }
    return {200, {{"Content-Type", "text/plain"}, {"X-aws-ec2-metadata-token-ttl-seconds", std::to_string(ttl)}}, token};
  }
  if (r.method != "GET" && r.method != "HEAD") return Error(405);
  std::string token(r.Header("x-aws-ec2-metadata-token"));
  if (!token.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tokens_.find(token);
    if (it == tokens_.end() || it->second.expires <= now || it->second.region != region ||
        it->second.instance != instance_id) {
      return Error(401);
    }
  } else if (JStr(meta, "HttpTokens", "optional") == "required") {
    return Error(401);  // IMDSv2 only
  }
  return Get(r, **inst);
}

HttpResponse InstanceMetadata::Get(const HttpRequest& r, const state::Object& o) {
  const Json& d = o.doc;
  std::string path = Trim(r.Path());
  Json nic = Json::object();
  for (const auto& n : d.value("NetworkInterfaces", Json::array())) {
    if (JInt(n.value("Attachment", Json::object()), "DeviceIndex", -1) == 0) nic = n;
  }
  std::string mac = JStr(nic, "MacAddress");
  std::string ip = JStr(d, "PrivateIpAddress");
  std::string dns = JStr(d, "PrivateDnsName");
  std::vector<std::string> group_names, group_ids;
  for (const auto& g : d.value("SecurityGroups", Json::array())) {
    group_names.push_back(JStr(g, "GroupName"));
    group_ids.push_back(JStr(g, "GroupId"));
  }
  if (path == "/" ) return Text(200, "latest");
  if (path == "/latest") return Text(200, Lines({"dynamic", "meta-data", "user-data"}));
  if (path == "/latest/user-data") {
    std::string ud = JStr(d, "kecs:userData");
    if (ud.empty()) return Error(404);
    auto decoded = Base64Decode(ud);
    if (!decoded.ok()) return Error(404);
    return {200, {{"Content-Type", "application/octet-stream"}}, *decoded};
  }
  const std::string md = "/latest/meta-data";
  if (path == md) {
    return Text(200, Lines({"ami-id", "ami-launch-index", "block-device-mapping/", "hostname", "instance-id",
                            "instance-type", "local-hostname", "local-ipv4", "mac", "network/", "placement/",
                            "reservation-id", "security-groups"}));
  }
  const std::map<std::string, std::string> leaves = {
      {md + "/ami-id", JStr(d, "ImageId")},
      {md + "/ami-launch-index", std::to_string(JInt(d, "AmiLaunchIndex"))},
      {md + "/hostname", dns},
      {md + "/local-hostname", dns},
      {md + "/instance-id", o.id},
      {md + "/instance-type", JStr(d, "InstanceType")},
      {md + "/local-ipv4", ip},
      {md + "/mac", mac},
      {md + "/reservation-id", o.name},
      {md + "/security-groups", Lines(group_names)},
      {md + "/block-device-mapping", Lines({"ami", "root"})},
      {md + "/block-device-mapping/ami", JStr(d, "RootDeviceName")},
      {md + "/block-device-mapping/root", JStr(d, "RootDeviceName")},
      {md + "/placement", Lines({"availability-zone", "region"})},
      {md + "/placement/availability-zone", JStr(d.value("Placement", Json::object()), "AvailabilityZone")},
      {md + "/placement/region", o.region},
      {md + "/network", "interfaces/"},
      {md + "/network/interfaces", "macs/"},
      {md + "/network/interfaces/macs", mac + "/"},
  };
  if (auto it = leaves.find(path); it != leaves.end()) return Text(200, it->second);
  const std::string per_mac = md + "/network/interfaces/macs/" + mac;
  if (!mac.empty() && path.starts_with(per_mac)) {
    std::string rest = path.substr(per_mac.size());
    std::map<std::string, std::string> m = {
        {"/device-number", "0"},
        {"/interface-id", JStr(nic, "NetworkInterfaceId")},
        {"/local-hostname", dns},
        {"/local-ipv4s", ip},
        {"/mac", mac},
        {"/owner-id", JStr(nic, "OwnerId")},
        {"/security-group-ids", Lines(group_ids)},
        {"/security-groups", Lines(group_names)},
        {"/subnet-id", JStr(d, "SubnetId")},
        {"/vpc-id", JStr(d, "VpcId")},
    };
    if (rest.empty()) {
      std::vector<std::string> names;
      for (const auto& [k, v] : m) names.push_back(k.substr(1));
      return Text(200, Lines(names));
    }
    if (auto it = m.find(rest); it != m.end()) return Text(200, it->second);
    return Error(404);
  }
  if (path == "/latest/dynamic") return Text(200, "instance-identity/");
  const std::string ii = "/latest/dynamic/instance-identity";
  if (path == ii) return Text(200, Lines({"document", "pkcs7", "rsa2048", "signature"}));
  if (path.starts_with(ii + "/")) {
    std::string leaf = path.substr(ii.size() + 1);
    std::string text = ec2::IdentityDocumentText(
        ec2::InstanceIdentityDocument(d, o.region, JStr(d, "kecs:ownerId")));
    if (leaf == "document") return {200, {{"Content-Type", "text/plain"}}, text};
    if (!signer_) return Error(404);
    Result<std::string> sig = leaf == "signature" ? signer_->Signature(text)
                             : (leaf == "pkcs7" || leaf == "rsa2048") ? signer_->Pkcs7(text)
                                                                     : Result<std::string>(NotFound(leaf));
    if (!sig.ok()) return Error(sig.status().code() == Code::kNotFound ? 404 : 500);
    return Text(200, *sig);
  }
  return Error(404);
}

InstanceMetadataServer::InstanceMetadataServer(InstanceMetadata& handler, runtime::Runtime& runtime, int threads)
    : handler_(handler), runtime_(runtime),
      server_([this](const HttpRequest& r) {
        // The listener's tag names the instance: "<region>/<id>".
        size_t slash = r.listener.find('/');
        if (slash == std::string::npos) return HttpResponse{404, {}, ""};
        return handler_.Handle(r, r.listener.substr(0, slash), r.listener.substr(slash + 1));
      }, HttpServer::Options{.threads = threads}) {}

InstanceMetadataServer::~InstanceMetadataServer() { Stop(); }

void InstanceMetadataServer::Start() { server_.Start(); }
void InstanceMetadataServer::Stop() { server_.Shutdown(std::chrono::milliseconds(500)); }

Status InstanceMetadataServer::Open(const std::string& region, const std::string& id) {
  std::optional<std::string> ns = runtime_.InstanceNetns(id);
  if (!ns || ns->empty()) return Status::Ok();
  return OpenNetnsListenerOnce(server_, *ns, region + "/" + id, ImdsAddress(), "the instance metadata service");
}

void InstanceMetadataServer::Close(const std::string& region, const std::string& id) {
  server_.RemoveListener(region + "/" + id);
}

}  // namespace kecs::api::metadata
