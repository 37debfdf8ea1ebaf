#include "api/errors.h"

namespace kecs::api {

AwsError FromStatus(const Status& st, const std::string& server_code,
                    const std::string& client_code) {
  switch (st.code()) {
    case Code::kOk:
    case Code::kInternal:
    case Code::kUnavailable:
      return AwsError(server_code, st.message(), 500);
    case Code::kNotFound:
    case Code::kAlreadyExists:
    case Code::kInvalidArgument:
    case Code::kFailedPrecondition:
    case Code::kResourceExhausted:
    case Code::kPermissionDenied:
      return AwsError(client_code, st.message(), 400);
  }
  return AwsError(server_code, st.message(), 500);
}

void ThrowIfError(const Status& st, const std::string& server_code,
                  const std::string& client_code) {
  if (!st.ok()) throw FromStatus(st, server_code, client_code);
}

}  // namespace kecs::api
