#pragma once
// The EC2 instance metadata service (issue 17) of the instances kecs runs, at
// 169.254.169.254:80 in each running instance's namespace (Runtime::InstanceNetns).
//
// As IMDS serves it: IMDSv2's PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds
// 1..21600, else 400; a request with X-Forwarded-For is refused 403), GETs that carry
// X-aws-ec2-metadata-token (401 for a token that is unknown, expired or another
// instance's), and IMDSv1 GETs without a token unless the instance's MetadataOptions
// HttpTokens is "required" (401). HttpEndpoint "disabled": 403 for everything. Paths:
//   /latest/meta-data/ (listings end a directory's name with '/') and its leaves ami-id,
//     ami-launch-index, hostname, instance-id, instance-type, local-hostname, local-ipv4,
//     mac, reservation-id, security-groups, placement/{availability-zone,region},
//     network/interfaces/macs/<mac>/{device-number,interface-id,local-hostname,
//     local-ipv4s,mac,owner-id,security-group-ids,security-groups,subnet-id,vpc-id}
//   /latest/user-data (the decoded user data; 404 without)
//   /latest/dynamic/instance-identity/{document,signature,pkcs7,rsa2048}
// The instance is read on every request (its state, user data and groups are current).
// Thread-safe.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "api/ec2/instance_identity.h"
#include "api/http/server.h"
#include "base/clock.h"
#include "base/status.h"
#include "net/kernel/metadata_listener.h"
#include "runtime/runtime.h"
#include "state/store.h"

namespace kecs::api::metadata {

// IMDS's address, and where its socket listens (the redirect sends port 80 there, as for
// the task metadata endpoint): 51680, one of the ports ECS reserves for the agent.
// Its redirect has a table of its own (a host-mode task's metadata endpoint may share the
// instance's namespace) and also serves bridge-mode tasks routed in behind the instance.
inline net::MetadataAddress ImdsAddress() { return {"169.254.169.254", 80, 51680, "kecs_imds", true}; }

class InstanceMetadata {
 public:
  // The instance's stored row (net::kEc2Instance); nullopt when there is none.
  using InstanceReader = std::function<Result<std::optional<state::Object>>(const std::string& region, const std::string& id)>;
  static InstanceReader StoreReader(state::Store& store);

  InstanceMetadata(InstanceReader instances, std::shared_ptr<const ec2::IdentitySigner> signer, const Clock& clock)
      : instances_(std::move(instances)), signer_(std::move(signer)), clock_(clock) {}

  // Live tokens one instance may hold; a PUT past it drops the one that expires first.
  static constexpr size_t kMaxTokensPerInstance = 64;

  // Answers one request made from inside instance `instance_id` of `region`.
  HttpResponse Handle(const HttpRequest& r, const std::string& region, const std::string& instance_id);

 private:
  HttpResponse Get(const HttpRequest& r, const state::Object& instance);
  struct Token {
    std::string region, instance;
    double expires = 0;
  };
  const InstanceReader instances_;
  const std::shared_ptr<const ec2::IdentitySigner> signer_;
  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, Token> tokens_;  // guarded by mu_
};

// The listeners: one per running instance whose runtime has a namespace for it, all served
// by one HttpServer whose listener tag names the instance ("<region>/<id>").
class InstanceMetadataServer {
 public:
  InstanceMetadataServer(InstanceMetadata& handler, runtime::Runtime& runtime, int threads = 1);
  ~InstanceMetadataServer();
  void Start();
  void Stop();
  // Opens instance `id`'s listener in its namespace (nothing when the runtime has none).
  // Idempotent.
  Status Open(const std::string& region, const std::string& id);
  // Closes it; no-op when it has none.
  void Close(const std::string& region, const std::string& id);

 private:
  InstanceMetadata& handler_;
  runtime::Runtime& runtime_;
  HttpServer server_;
};

}  // namespace kecs::api::metadata
