#include "base/key_file.h"

#include <openssl/rand.h>

namespace kecs {

Result<std::string> ReadOrMakeKeyFile(Env* env, const std::string& path, size_t bytes, std::string_view what) {
  auto existing = env->ReadFile(path);
  if (existing.ok()) {
    auto info = env->Stat(path);
    if (info.ok() && (info->mode & 077) != 0) {
      return FailedPrecondition(path + " may be read by other users; it must be mode 0600");
    }
    if (existing->size() != bytes) {
      return FailedPrecondition(path + " is not a " + std::string(what) + " (" + std::to_string(bytes) + " bytes)");
    }
    return std::move(*existing);
  }
  if (existing.status().code() != Code::kNotFound) return existing.status();
  std::string key(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    return Internal("cannot make a " + std::string(what) + ": no randomness");
  }
  RETURN_IF_ERROR(env->WriteFileAtomic(path, key, 0600));
  return key;
}

}  // namespace kecs
