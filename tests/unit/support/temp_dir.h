#pragma once
// A fresh directory under /tmp for one test, removed with everything in it at the end.
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace kecs::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/kecs-unit-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace kecs::testing
