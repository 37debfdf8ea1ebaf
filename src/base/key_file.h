#pragma once
// Secret keys kept in files of the data dir (the task credentials key, the SecureString
// key). Thread-safe as far as `env` is.
#include <string>
#include <string_view>

#include "base/env.h"
#include "base/status.h"

namespace kecs {

// A secret key kept in a file: reads `path` when it exists, refusing a file that other
// users may read or whose size is not `bytes` (FailedPrecondition); otherwise writes
// `bytes` random bytes there with mode 0600 and returns them. `what` names the key in
// errors ("task credentials key"). Callers in one process serialise their calls; two
// processes making the same file at once could each write a key.
Result<std::string> ReadOrMakeKeyFile(Env* env, const std::string& path, size_t bytes, std::string_view what);

}  // namespace kecs
