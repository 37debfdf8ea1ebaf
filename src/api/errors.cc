#include "api/errors.h"

#include <regex>

#include "base/json.h"

namespace kecs::api {

void ThrowIfError(const Status& st) {
  if (!st.ok()) throw StatusError(st);
}

namespace {

constexpr std::string_view kInternalMessage =
    "The server encountered an internal error. Retry the request; if it fails again, the "
    "kecs log has the details under this request's id.";
constexpr std::string_view kBusyMessage = "Rate exceeded: the store is busy. Retry the request.";
constexpr std::string_view kNotFoundMessage = "The requested resource was not found.";
constexpr std::string_view kExistsMessage = "The resource already exists or is being changed.";
constexpr std::string_view kInvalidMessage = "A request parameter is not valid.";
constexpr std::string_view kStateMessage =
    "The resource is not in a state that allows this request.";
constexpr std::string_view kLimitMessage = "A limit for this resource was reached.";
constexpr std::string_view kDeniedMessage = "The request is not authorized for this resource.";

// Column per family: ECS, Cloud Map, other JSON 1.1, EC2, Query.
constexpr WireError Row(ErrorFamily f, WireError ecs, WireError cloud_map, WireError json,
                        WireError ec2, WireError query) {
  switch (f) {
    case ErrorFamily::kEcs: return ecs;
    case ErrorFamily::kCloudMap: return cloud_map;
    case ErrorFamily::kJson: return json;
    case ErrorFamily::kEc2: return ec2;
    case ErrorFamily::kQuery: return query;
  }
  return json;
}

}  // namespace

WireError MapStatus(ErrorFamily f, Code code) {
  switch (code) {
    case Code::kInvalidArgument:
      return Row(f, {"InvalidParameterException", 400, kInvalidMessage},
                 {"InvalidInput", 400, kInvalidMessage},
                 {"ValidationException", 400, kInvalidMessage},
                 {"InvalidParameterValue", 400, kInvalidMessage},
                 {"ValidationError", 400, kInvalidMessage});
    case Code::kNotFound:
      return Row(f, {"ResourceNotFoundException", 400, kNotFoundMessage},
                 {"ResourceNotFoundException", 400, kNotFoundMessage},
                 {"ResourceNotFoundException", 400, kNotFoundMessage},
                 {"InvalidParameterValue", 400, kNotFoundMessage},
                 {"ValidationError", 400, kNotFoundMessage});
    case Code::kAlreadyExists:
      return Row(f, {"ResourceInUseException", 400, kExistsMessage},
                 {"ResourceInUse", 400, kExistsMessage},
                 {"ResourceInUseException", 400, kExistsMessage},
                 {"IncorrectState", 400, kExistsMessage},
                 {"ValidationError", 400, kExistsMessage});
    case Code::kFailedPrecondition:
      return Row(f, {"ClientException", 400, kStateMessage},
                 {"ResourceInUse", 400, kStateMessage},
                 {"ValidationException", 400, kStateMessage},
                 {"IncorrectState", 400, kStateMessage},
                 {"ValidationError", 400, kStateMessage});
    case Code::kResourceExhausted:
      // Not ECS's LimitExceededException: botocore's standard retry mode treats that as
      // throttling and would retry a limit that will not go away.
      return Row(f, {"ClientException", 400, kLimitMessage},
                 {"ResourceLimitExceeded", 400, kLimitMessage},
                 {"ServiceQuotaExceededException", 400, kLimitMessage},
                 {"ResourceLimitExceeded", 400, kLimitMessage},
                 {"LimitExceeded", 400, kLimitMessage});
    case Code::kUnavailable:
      return Row(f, {"ThrottlingException", 400, kBusyMessage},
                 {"ThrottlingException", 400, kBusyMessage},
                 {"ThrottlingException", 400, kBusyMessage},
                 {"RequestLimitExceeded", 503, kBusyMessage},
                 {"Throttling", 400, kBusyMessage});
    case Code::kPermissionDenied:
      return Row(f, {"AccessDeniedException", 400, kDeniedMessage},
                 {"AccessDeniedException", 400, kDeniedMessage},
                 {"AccessDeniedException", 400, kDeniedMessage},
                 {"UnauthorizedOperation", 403, kDeniedMessage},
                 {"AccessDenied", 403, kDeniedMessage});
    case Code::kOk:
    case Code::kInternal:
      break;
  }
  return Row(f, {"ServerException", 500, kInternalMessage},
             {"InternalFailure", 500, kInternalMessage},
             {"InternalFailure", 500, kInternalMessage},
             {"InternalError", 500, kInternalMessage},
             {"InternalFailure", 500, kInternalMessage});
}

std::string_view ValidationCode(ErrorFamily f) {
  return MapStatus(f, Code::kInvalidArgument).code;
}

AwsError MapException(ErrorFamily f, const std::exception& e) {
  // A handler reads its input with the model's types already checked, so these come from
  // values the model allows but the handler cannot use: a null, a number past int64, a
  // numeric string that is not one. The library's own text names no member and stays in
  // the log.
  const char* message = nullptr;
  if (dynamic_cast<const Json::exception*>(&e)) {
    message = "A request parameter has a value or type this operation cannot use.";
  } else if (dynamic_cast<const std::invalid_argument*>(&e) ||
             dynamic_cast<const std::out_of_range*>(&e)) {
    message = "A numeric request parameter is not a number or is out of range.";
  } else if (dynamic_cast<const std::regex_error*>(&e) ||
             dynamic_cast<const std::length_error*>(&e)) {
    message = "A request parameter is too long or not a valid pattern.";
  }
  if (message) return AwsError(std::string(ValidationCode(f)), message);
  WireError w = MapStatus(f, Code::kInternal);
  return AwsError(std::string(w.code), std::string(w.message), w.http_status);
}

}  // namespace kecs::api
