#include "api/router.h"

#include <chrono>
#include <cstdlib>

#include <fmt/format.h>

#include "api/errors.h"
#include "api/protocol/query_codec.h"
#include "api/protocol/region.h"
#include "api/sigv4.h"
#include "base/utc_time.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/strings.h"

namespace kecs::api {
namespace {

using protocol::QueryFlavor;

constexpr std::string_view kJsonContentType = "application/x-amz-json-1.1";
constexpr std::string_view kXmlContentType = "text/xml;charset=UTF-8";
constexpr std::string_view kSignatureMismatch =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";

// The AWS error code of the request this thread is answering ("" while none): set where
// the error shapes are made, read once by Router::Handle for /metrics. Handlers run
// synchronously on the server's I/O thread, so a thread-local is the request's own.
thread_local std::string tl_error_code;
// The service and operation as the models name them, once the request's operation is found
// ("" until then): the bounded labels of /metrics, never the request's own words.
thread_local std::string tl_service;
thread_local std::string tl_operation;

HttpResponse JsonResponse(int status, const Json& body, const std::string& request_id) {
  HttpResponse r;
  r.status = status;
  r.headers = {{"Content-Type", std::string(kJsonContentType)},
               {"x-amzn-RequestId", request_id}};
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

// {"__type": code} plus the message when there is one. Front-end errors such as
// UnknownOperationException carry no message at all, as AWS sends them.
HttpResponse JsonError(int status, const std::string& code, const std::string& message_key,
                       const std::optional<std::string>& message, const std::string& request_id,
                       const std::vector<std::pair<std::string, std::string>>& members = {}) {
  tl_error_code = code;
  Json body = {{"__type", code}};
  if (message) body[message_key] = *message;
  for (const auto& [k, v] : members) {
    if (!v.empty()) body[k] = v;
  }
  return JsonResponse(status, body, request_id);
}

HttpResponse XmlResponse(int status, std::string body, const std::string& request_id) {
  HttpResponse r;
  r.status = status;
  r.headers = {{"Content-Type", std::string(kXmlContentType)}, {"x-amzn-RequestId", request_id}};
  r.body = std::move(body);
  return r;
}

HttpResponse XmlError(QueryFlavor flavor, const model::ServiceModel* m, int status,
                      const std::string& code, const std::string& message,
                      const std::string& request_id) {
  tl_error_code = code;
  if (flavor == QueryFlavor::kEc2) {
    return XmlResponse(status,
                       fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors>"
                                   "<Error><Code>{}</Code><Message>{}</Message></Error></Errors>"
                                   "<RequestID>{}</RequestID></Response>",
                                   protocol::XmlText(code), protocol::XmlText(message),
                                   request_id),
                       request_id);
  }
  std::string ns = m ? std::string(m->xml_namespace) : "";
  return XmlResponse(
      status,
      fmt::format("<ErrorResponse xmlns=\"{}\">\n  <Error>\n    <Type>{}</Type>\n    <Code>{}</Code>\n"
                  "    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n"
                  "</ErrorResponse>\n",
                  ns, status >= 500 ? "Receiver" : "Sender", protocol::XmlText(code),
                  protocol::XmlText(message), request_id),
      request_id);
}

// Coral leaves absent members out rather than sending null.
void StripNulls(Json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end();) {
      if (it->is_null()) {
        it = j.erase(it);
      } else {
        StripNulls(*it);
        ++it;
      }
    }
  } else if (j.is_array()) {
    for (auto& e : j) StripNulls(e);
  }
}

std::string AmzNow(double now) { return FormatUtc(now, "%Y%m%dT%H%M%SZ"); }

struct AuthFailure {
  int status;
  std::string code;
  std::string message;
};

// Maps a failed verification to each protocol's own refusal.
std::optional<AuthFailure> CheckAuth(const HttpRequest& req, const Router::Options& options, double now,
                                     std::string_view protocol) {
  const std::map<std::string, std::string>& creds = options.credentials;
  if (creds.empty()) return std::nullopt;
  SigV4Result r = VerifySigV4(req, creds, now);
  if (r == SigV4Result::kUnknownKey && options.temporary_credentials) {
    // A task's role credentials: verified against the one secret issued with that token.
    auto auth = ParseAuthorization(req.Header("authorization"));
    if (auth) {
      auto secret = options.temporary_credentials(auth->access_key, std::string(req.Header("x-amz-security-token")));
      if (secret) r = VerifySigV4(req, {{auth->access_key, *secret}}, now);
    }
  }
  bool json = protocol == "json", ec2 = protocol == "ec2";
  switch (r) {
    case SigV4Result::kOk:
      return std::nullopt;
    case SigV4Result::kMissing:
      if (json) return AuthFailure{400, "MissingAuthenticationTokenException", "Missing Authentication Token"};
      if (ec2) return AuthFailure{401, "AuthFailure", "AWS was not able to validate the provided access credentials"};
      return AuthFailure{403, "MissingAuthenticationToken", "Request is missing Authentication Token"};
    case SigV4Result::kIncomplete: {
      std::string msg = fmt::format(
          "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' "
          "parameters and an 'X-Amz-Date' header. Authorization={}",
          req.Header("authorization"));
      if (json) return AuthFailure{400, "IncompleteSignatureException", msg};
      if (ec2) return AuthFailure{401, "AuthFailure", "AWS was not able to validate the provided access credentials"};
      return AuthFailure{400, "IncompleteSignature", msg};
    }
    case SigV4Result::kUnknownKey:
      if (json) return AuthFailure{400, "UnrecognizedClientException", "The security token included in the request is invalid."};
      if (ec2) return AuthFailure{401, "AuthFailure", "AWS was not able to validate the provided access credentials"};
      return AuthFailure{403, "InvalidClientTokenId", "The security token included in the request is invalid."};
    case SigV4Result::kExpired: {
      std::string msg = fmt::format("Signature expired: {} is now earlier than {} ({} - 15 min.)",
                                    req.Header("x-amz-date"), AmzNow(now - 15 * 60), AmzNow(now));
      if (json) return AuthFailure{400, "InvalidSignatureException", msg};
      return AuthFailure{403, ec2 ? "AuthFailure" : "SignatureDoesNotMatch", msg};
    }
    case SigV4Result::kMismatch:
      if (json) return AuthFailure{400, "InvalidSignatureException", std::string(kSignatureMismatch)};
      return AuthFailure{403, "SignatureDoesNotMatch", std::string(kSignatureMismatch)};
    case SigV4Result::kPayloadHashMismatch:
      return AuthFailure{400, "XAmzContentSHA256Mismatch",
                         "The provided 'x-amz-content-sha256' header does not match what was "
                         "computed."};
  }
  return std::nullopt;
}

// GET /metrics: every metric in Prometheus's text format. With access keys configured the
// scraper signs with SigV4 or sends one pair as HTTP Basic credentials (Prometheus's
// basic_auth with password_file).
HttpResponse MetricsResponse(const HttpRequest& req, const Router::Options& options, double now,
                             const std::string& request_id) {
  HttpResponse r;
  r.headers = {{"x-amzn-RequestId", request_id}};
  if (req.method != "GET" && req.method != "HEAD") {
    r.status = 405;
    r.headers.emplace_back("Allow", "GET, HEAD");
    r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
    r.body = "kecs: /metrics answers GET\n";
    return r;
  }
  if (!options.credentials.empty() && !BasicCredentialsMatch(req.Header("authorization"), options.credentials) &&
      CheckAuth(req, options, now, "json")) {
    r.status = 401;
    r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"kecs\", charset=\"UTF-8\"");
    r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
    r.body = "kecs: /metrics needs a SigV4 signature or HTTP Basic credentials of a configured access key\n";
    return r;
  }
  r.headers.emplace_back("Content-Type", std::string(metrics::kContentType));
  if (req.method == "GET") r.body = metrics::Scrape();
  return r;
}

std::string Capitalize(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

// The wording of the first failed constraint, in the service's own style.
// Query-protocol services (STS, ELBv2) name a member in lower camel case in their validation
// messages ("Value '' at 'roleArn' failed to satisfy constraint", STS's AssumeRole), where
// the model and the wire say RoleArn: every segment of the path loses its capital.
std::vector<protocol::ConstraintIssue> QueryWording(std::vector<protocol::ConstraintIssue> issues) {
  for (auto& i : issues) {
    std::string lower = i.path;
    bool segment_start = true;
    for (char& c : lower) {
      if (segment_start) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      segment_start = c == '.';
    }
    const std::string was = "at '" + i.path + "'";
    if (auto pos = i.message.find(was); pos != std::string::npos) i.message.replace(pos, was.size(), "at '" + lower + "'");
    i.path = lower;
  }
  return issues;
}

AwsError ConstraintError(const Service& svc, std::vector<protocol::ConstraintIssue> issues) {
  if (svc.family() == ErrorFamily::kQuery) issues = QueryWording(std::move(issues));
  const ErrorStyle& style = svc.style();
  const std::string validation_code =
      style.validation_code.empty() ? std::string(ValidationCode(svc.family())) : style.validation_code;
  using K = protocol::ConstraintIssue::Kind;
  const auto& first = issues.front();
  if (style.ec2_missing_parameter) {
    if (first.kind == K::kMissing) {
      return AwsError("MissingParameter",
                      "The request must contain the parameter " + Capitalize(first.location));
    }
    if (first.kind == K::kRange) {
      return AwsError("InvalidParameterValue",
                      fmt::format("Value ( {} ) for parameter {} is invalid. {}", first.value,
                                  first.location, first.message.substr(first.message.find("Member must") )));
    }
    return AwsError("InvalidParameterValue",
                    fmt::format("Value ({}) for parameter {} is invalid.", first.value, first.location));
  }
  if (style.ecs_enum_wording && first.kind == K::kEnum) {
    return AwsError(validation_code,
                    fmt::format("{} should be one of [{}]", first.member, Join(first.allowed, ",")));
  }
  return AwsError(validation_code, protocol::ValidationMessage(issues));
}

ErrorFamily FamilyOf(const model::ServiceModel& m) {
  if (m.protocol == "ec2") return ErrorFamily::kEc2;
  if (m.protocol == "query") return ErrorFamily::kQuery;
  // ECR words its errors as ECS does (InvalidParameterException, ServerException).
  if (m.endpoint_prefix == "ecs" || m.endpoint_prefix == "api.ecr") return ErrorFamily::kEcs;
  if (m.endpoint_prefix == "servicediscovery") return ErrorFamily::kCloudMap;
  return ErrorFamily::kJson;
}

// The error for the exception being handled: an AwsError as thrown; anything else through
// errors.h's table, its own text logged with the request id and never sent.
AwsError CurrentError(ErrorFamily family, const RequestContext& ctx) {
  try {
    throw;
  } catch (const AwsError& e) {
    if (e.server_fault()) {
      KLOG_ERROR("{} {}.{}: {}: {}", ctx.request_id, ctx.service, ctx.operation, e.code(),
                 e.message());
    }
    return e;
  } catch (const StatusError& e) {
    WireError w = MapStatus(family, e.status().code());
    if (w.http_status >= 500) {
      KLOG_ERROR("{} {}.{}: {}", ctx.request_id, ctx.service, ctx.operation, e.what());
    } else {
      KLOG_WARN("{} {}.{}: answered {}: {}", ctx.request_id, ctx.service, ctx.operation, w.code,
                e.what());
    }
    return AwsError(std::string(w.code), std::string(w.message), w.http_status);
  } catch (const std::exception& e) {
    AwsError mapped = MapException(family, e);
    KLOG_WARN("{} {}.{}: answered {} for an exception: {}", ctx.request_id, ctx.service,
              ctx.operation, mapped.code(), e.what());
    return mapped;
  } catch (...) {
    KLOG_ERROR("{} {}.{}: unknown exception", ctx.request_id, ctx.service, ctx.operation);
    WireError w = MapStatus(family, Code::kInternal);
    return AwsError(std::string(w.code), std::string(w.message), w.http_status);
  }
}

// A region from the request's credential scope that no AWS partition defines. The
// configured default region is accepted whatever it is (the operator chose it).
std::optional<AwsError> RegionError(ErrorFamily family, const RequestContext& ctx,
                                    const std::string& default_region) {
  if (ctx.region == default_region || protocol::IsValidRegion(ctx.region)) return std::nullopt;
  std::string shown = ctx.region.size() > 64 ? ctx.region.substr(0, 64) + "..." : ctx.region;
  std::string msg = fmt::format(
      "Credential should be scoped to a valid region, not '{}'. A region name is a partition's "
      "prefix, a word and a number, such as us-east-1.",
      shown);
  switch (family) {
    case ErrorFamily::kEc2: return AwsError("AuthFailure", msg, 401);
    case ErrorFamily::kQuery: return AwsError("SignatureDoesNotMatch", msg, 403);
    default: return AwsError("InvalidSignatureException", msg, 400);
  }
}

// The part of dispatch both protocols share, once the input is decoded: model checks,
// nulls dropped, the handler, and the output's own check.
Json Invoke(const Service& svc, const model::OperationDesc& desc, const OperationFn& fn,
            RequestContext& ctx, Json input, bool validate_responses) {
  const model::ServiceModel& m = svc.model();
  protocol::ConstraintOptions copts = svc.style().constraints;
  if (!ctx.strict) copts.optional_members = svc.style().lenient_optional;
  auto issues = protocol::CheckConstraints(m, desc.input, input, copts);
  if (!issues.empty()) throw ConstraintError(svc, std::move(issues));
  protocol::DropNullMembers(m, desc.input, input);
  Json out = fn(ctx, input);
  if (out.is_null()) out = Json::object();
  StripNulls(out);
  if (validate_responses) {
    if (auto bad = protocol::CheckTypes(m, desc.output, out)) {
      KLOG_ERROR("{} kecs response for {} does not match its model at '{}': {}", ctx.request_id,
                 ctx.operation, bad->path, bad->message);
      throw StatusError(Internal("response does not match its model"));
    }
  }
  return out;
}

}  // namespace

Service::Service(const model::ServiceModel& m, ErrorStyle style)
    : model_(m), style_(std::move(style)), family_(FamilyOf(m)) {}

void Service::Register(const std::string& op, OperationFn fn) {
  if (!model_.FindOperation(op)) {
    KLOG_ERROR("api: {} has no operation {}", model_.service, op);
    std::abort();
  }
  ops_[op] = std::move(fn);
}

const OperationFn* Service::Find(const std::string& op) const {
  auto it = ops_.find(op);
  return it == ops_.end() ? nullptr : &it->second;
}

void Router::AddService(std::shared_ptr<Service> s) {
  const auto& m = s->model();
  if (m.protocol == "json") {
    by_target_[std::string(m.target_prefix)] = s;
  } else {
    std::string signing = m.endpoint_prefix == "elasticloadbalancing" ? "elasticloadbalancing"
                                                                      : std::string(m.endpoint_prefix);
    by_signing_[signing] = s;
    by_version_[std::string(m.api_version)] = s;
  }
}

HttpResponse Router::Handle(const HttpRequest& req) const {
  auto t0 = std::chrono::steady_clock::now();
  RequestContext ctx;
  ctx.request_id = Uuid4();
  ctx.account_id = options_.account_id;
  ctx.region = options_.default_region;
  ctx.now = options_.clock->Now();
  ctx.strict = options_.strict;
  ctx.host = std::string(req.Header("host"));
  if (auto auth = ParseAuthorization(req.Header("authorization"))) {
    ctx.region = auth->region;
    ctx.access_key = auth->access_key;
    ctx.service = auth->service;
  }

  HttpResponse resp;
  std::string_view target = req.Header("x-amz-target");
  bool health = req.Path() == "/health" && req.method == "GET";
  bool internal = req.Path().starts_with("/_kecs/") && options_.internal;
  if (req.Path() == "/metrics") return MetricsResponse(req, options_, ctx.now, ctx.request_id);
  std::optional<AuthFailure> internal_auth;
  // kecs's own endpoints go through the same authentication as the APIs.
  if (health || internal) internal_auth = CheckAuth(req, options_, ctx.now, "json");
  tl_error_code.clear();
  tl_service.clear();
  tl_operation.clear();
  if (internal_auth) {
    resp = JsonError(internal_auth->status, internal_auth->code, "message", internal_auth->message,
                     ctx.request_id);
  } else if (health) {
    resp = JsonResponse(200, options_.health ? options_.health() : Json::object(), ctx.request_id);
    resp.headers[0].second = "application/json";
  } else if (internal) {
    resp = options_.internal(req);
  } else if (!target.empty()) {
    resp = HandleJson(req, target, ctx);
  } else if (req.method == "POST" || req.QueryString().find("Action=") != std::string_view::npos) {
    resp = HandleForm(req, ctx);
  } else {
    resp.status = 404;
    resp.body = "kecs: this request names no AWS operation (no X-Amz-Target header, no Action)\n";
    tl_error_code = "NoOperation";  // kecs's own word, for /metrics
  }
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - t0).count();
  // Only operations a service model names become labels (the set is bounded); anything
  // else counts under "unknown".
  if (!health && !internal) {
    metrics::ObserveRequest(tl_service, tl_operation, tl_error_code, us / 1e6);
  }
  KLOG_DEBUG("{} {} {}.{} region={} status={} {}us", req.method, req.target, ctx.service,
             ctx.operation, ctx.region, resp.status, us);
  return resp;
}

HttpResponse Router::HandleJson(const HttpRequest& req, std::string_view target,
                                RequestContext& ctx) const {
  size_t dot = target.rfind('.');
  std::string prefix(dot == std::string_view::npos ? "" : target.substr(0, dot));
  std::string op(dot == std::string_view::npos ? target : target.substr(dot + 1));
  auto sit = by_target_.find(prefix);
  if (sit == by_target_.end()) {
    return JsonError(400, "UnknownOperationException", "message", std::nullopt, ctx.request_id);
  }
  const Service& svc = *sit->second;
  const ErrorStyle& style = svc.style();
  const model::ServiceModel& m = svc.model();
  ctx.service = std::string(m.service);
  ctx.operation = op;
  tl_service = ctx.service;
  const model::OperationDesc* desc = m.FindOperation(op);
  const OperationFn* fn = svc.Find(op);
  if (!desc || !fn) {
    return JsonError(400, "UnknownOperationException", style.message_key, std::nullopt, ctx.request_id);
  }
  tl_operation = op;
  std::optional<Json> input = ParseJson(req.body);
  if (!input || input->is_null() || input->is_string() || input->is_number() || input->is_boolean()) {
    return JsonError(400, "SerializationException", "Message", std::nullopt, ctx.request_id);
  }
  if (input->is_array()) {
    return JsonError(400, "SerializationException", "Message",
                     "Start of list found where not expected", ctx.request_id);
  }
  if (auto fail = CheckAuth(req, options_, ctx.now, "json")) {
    return JsonError(fail->status, fail->code, style.message_key, fail->message, ctx.request_id);
  }
  if (auto bad = RegionError(svc.family(), ctx, options_.default_region)) {
    return JsonError(bad->http_status(), bad->code(), style.message_key, bad->message(),
                     ctx.request_id);
  }
  if (auto issue = protocol::CheckTypes(m, desc->input, *input)) {
    return JsonError(400, "SerializationException", "Message", issue->message, ctx.request_id);
  }
  try {
    Json out = Invoke(svc, *desc, *fn, ctx, std::move(*input), options_.validate_responses);
    return JsonResponse(200, out, ctx.request_id);
  } catch (...) {
    AwsError e = CurrentError(svc.family(), ctx);
    return JsonError(e.http_status(), e.code(), style.message_key, e.message(), ctx.request_id,
                     e.members());
  }
}

HttpResponse Router::HandleForm(const HttpRequest& req, RequestContext& ctx) const {
  protocol::FormParams params;
  std::string_view raw = req.method == "POST" && !req.body.empty() ? std::string_view(req.body)
                                                                    : req.QueryString();
  bool form_ok = protocol::ParseForm(raw, &params);
  std::string version = params.count("Version") ? params["Version"] : "";

  std::shared_ptr<Service> svc;
  if (auto it = by_signing_.find(ctx.service); it != by_signing_.end()) svc = it->second;
  if (!svc) {
    if (auto it = by_version_.find(version); it != by_version_.end()) svc = it->second;
  }
  QueryFlavor flavor = QueryFlavor::kEc2;
  if (svc && svc->model().protocol == "query") flavor = QueryFlavor::kQuery;
  const model::ServiceModel* m = svc ? &svc->model() : nullptr;

  if (!form_ok) {
    return XmlError(flavor, m, 400, "MalformedQueryString", "The query string is malformed.",
                    ctx.request_id);
  }
  auto ait = params.find("Action");
  if (ait == params.end() || ait->second.empty()) {
    return XmlError(flavor, m, 400, "MissingAction", "The request must contain the parameter Action",
                    ctx.request_id);
  }
  std::string op = ait->second;
  ctx.operation = op;
  if (!svc) {
    return XmlError(flavor, m, 400, "InvalidAction",
                    fmt::format("The action {} is not valid for this web service.", op),
                    ctx.request_id);
  }
  ctx.service = std::string(m->service);
  tl_service = ctx.service;
  const model::OperationDesc* desc = m->FindOperation(op);
  const OperationFn* fn = svc->Find(op);
  if (!desc || !fn) {
    std::string msg = flavor == QueryFlavor::kEc2
                          ? fmt::format("The action {} is not valid for this web service.", op)
                          : fmt::format("Could not find operation {} for version {}", op,
                                        m->api_version);
    return XmlError(flavor, m, 400, "InvalidAction", msg, ctx.request_id);
  }
  tl_operation = op;
  if (auto fail = CheckAuth(req, options_, ctx.now,
                            flavor == QueryFlavor::kEc2 ? "ec2" : "query")) {
    return XmlError(flavor, m, fail->status, fail->code, fail->message, ctx.request_id);
  }
  if (auto bad = RegionError(svc->family(), ctx, options_.default_region)) {
    return XmlError(flavor, m, bad->http_status(), bad->code(), bad->message(), ctx.request_id);
  }
  const std::string validation_code(ValidationCode(svc->family()));
  Json input;
  protocol::DecodeError derr;
  if (!protocol::DecodeQuery(*m, desc->input, flavor, params, &input, &derr)) {
    if (derr.unknown && flavor == QueryFlavor::kEc2) {
      return XmlError(flavor, m, 400, "UnknownParameter", derr.message, ctx.request_id);
    }
    if (!derr.unknown) {
      return XmlError(flavor, m, 400, validation_code, derr.message, ctx.request_id);
    }
    // Query services ignore parameters they do not know; decode again without them.
    protocol::FormParams known = params;
    while (derr.unknown) {
      known.erase(derr.param);
      derr = {};
      if (protocol::DecodeQuery(*m, desc->input, flavor, known, &input, &derr)) break;
      if (!derr.unknown) {
        return XmlError(flavor, m, 400, validation_code, derr.message, ctx.request_id);
      }
    }
  }
  try {
    Json out = Invoke(*svc, *desc, *fn, ctx, std::move(input), options_.validate_responses);
    return XmlResponse(200, protocol::EncodeXml(*m, *desc, flavor, out, ctx.request_id),
                       ctx.request_id);
  } catch (...) {
    AwsError e = CurrentError(svc->family(), ctx);
    return XmlError(flavor, m, e.http_status(), e.code(), e.message(), ctx.request_id);
  }
}

}  // namespace kecs::api
