#include "base/status.h"

namespace kecs {

const char* CodeName(Code c) {
  switch (c) {
    case Code::kOk: return "OK";
    case Code::kNotFound: return "NotFound";
    case Code::kAlreadyExists: return "AlreadyExists";
    case Code::kInvalidArgument: return "InvalidArgument";
    case Code::kFailedPrecondition: return "FailedPrecondition";
    case Code::kResourceExhausted: return "ResourceExhausted";
    case Code::kUnavailable: return "Unavailable";
    case Code::kPermissionDenied: return "PermissionDenied";
    case Code::kInternal: return "Internal";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + message_;
}

Status PosixError(const std::string& context, int err) {
  Code code = Code::kInternal;
  switch (err) {
    case ENOENT: case ESRCH: case ENODEV: code = Code::kNotFound; break;
    case EEXIST: code = Code::kAlreadyExists; break;
    case EINVAL: code = Code::kInvalidArgument; break;
    case EPERM: case EACCES: code = Code::kPermissionDenied; break;
    case ENOSPC: case ENOMEM: case EMFILE: code = Code::kResourceExhausted; break;
    case EAGAIN: case EBUSY: code = Code::kUnavailable; break;
    default: break;
  }
  return Status(code, context + ": " + std::strerror(err));
}

}  // namespace kecs
