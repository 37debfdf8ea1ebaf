#pragma once
// The dispatcher: HTTP request in, AWS response out.
//
// It picks the protocol and service (X-Amz-Target prefix for AWS JSON 1.1; the SigV4
// credential scope's service together with Version for EC2 and Query form posts), reads
// region and access key from the credential scope, optionally verifies the signature,
// decodes and validates the input against the service model, calls the operation's
// handler and encodes its output or error in the protocol's exact shape. Handlers speak
// JSON keyed by the model's member names whatever the protocol. Thread-safe once built;
// services are added before the server starts.
#include <functional>
#include <optional>
#include <map>
#include <set>
#include <memory>
#include <string>

#include "api/errors.h"
#include "api/http/server.h"
#include "api/protocol/validate.h"
#include "base/clock.h"
#include "base/json.h"
#include "model/shapes.h"

namespace kecs::api {

struct RequestContext {
  std::string request_id;
  std::string region;
  std::string account_id;
  std::string access_key;
  std::string service;
  std::string operation;
  std::string host;  // the Host header, e.g. data-servicediscovery.us-east-1.amazonaws.com
  double now = 0;
  bool strict = false;
};

using OperationFn = std::function<Json(RequestContext&, const Json& input)>;

// How a service words the errors its front end produces before a handler runs. The codes
// themselves come from the service's ErrorFamily (api/errors.h).
struct ErrorStyle {
  std::string message_key = "message";     // JSON 1.1 only: "message" or "Message"
  // ECS words enum failures itself ("include should be one of [A,B]").
  bool ecs_enum_wording = false;
  // EC2 reports a missing member as MissingParameter with its wire name.
  bool ec2_missing_parameter = false;
  protocol::ConstraintOptions constraints;
  // Required members ("Shape.member") that lenient mode lets a request leave out, because
  // kecs fills them in (AwsVpcConfiguration.subnets: the default VPC's default subnet).
  std::set<std::string> lenient_optional;
  // The code of the front end's validation errors when the service's own differs from its
  // family's (CloudWatch Logs answers InvalidParameterException); "" keeps the family's.
  std::string validation_code;
};

class Service {
 public:
  Service(const model::ServiceModel& m, ErrorStyle style);
  // Registers an operation; aborts at start-up if the model has no such operation, so a
  // typo can never ship.
  void Register(const std::string& op, OperationFn fn);
  const model::ServiceModel& model() const { return model_; }
  const ErrorStyle& style() const { return style_; }
  ErrorFamily family() const { return family_; }
  const OperationFn* Find(const std::string& op) const;
  size_t size() const { return ops_.size(); }

 private:
  const model::ServiceModel& model_;
  ErrorStyle style_;
  ErrorFamily family_;
  std::map<std::string, OperationFn> ops_;
};

class Router {
 public:
  struct Options {
    std::string default_region = "us-east-1";
    std::string account_id = "000000000000";
    bool strict = false;
    // When non-empty, every request must carry a valid SigV4 signature by one of these
    // access key -> secret key pairs.
    std::map<std::string, std::string> credentials;
    // Temporary credentials kecs issued itself (task role credentials): the secret of an
    // access key sent with its session token (X-Amz-Security-Token), nullopt when kecs did
    // not issue that pair or it has expired. Asked only when `credentials` is non-empty and
    // does not hold the key.
    std::function<std::optional<std::string>(const std::string& access_key, const std::string& session_token)>
        temporary_credentials;
    // Builds the /health document.
    std::function<Json()> health;
    Clock* clock = &Clock::Real();
    // Check every response against its output shape and log mismatches (tests).
    bool validate_responses = false;
    // kecs's own endpoints under /_kecs/ (logs for `kecs logs`).
    std::function<HttpResponse(const HttpRequest&)> internal;
  };

  explicit Router(Options options) : options_(std::move(options)) {}
  // `Service` is keyed by its model's protocol identity (target prefix or signing name).
  void AddService(std::shared_ptr<Service> s);
  HttpResponse Handle(const HttpRequest& req) const;

 private:
  HttpResponse HandleJson(const HttpRequest& req, std::string_view target, RequestContext& ctx) const;
  HttpResponse HandleForm(const HttpRequest& req, RequestContext& ctx) const;

  Options options_;
  std::map<std::string, std::shared_ptr<Service>> by_target_;    // JSON 1.1 target prefix
  std::map<std::string, std::shared_ptr<Service>> by_signing_;   // ec2, elasticloadbalancing
  std::map<std::string, std::shared_ptr<Service>> by_version_;   // 2016-11-15, 2015-12-01
};

}  // namespace kecs::api
