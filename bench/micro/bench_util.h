#pragma once
// Helpers shared by the microbenchmarks: a temporary data dir removed at exit, and a store
// opened in it with every migration applied (the daemon's own Store::Open).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "state/store.h"

namespace kecs::bench {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kecs-bench-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A store in its own temporary directory; the directory goes with it.
struct TempStore {
  TempDir dir;
  std::unique_ptr<state::Store> store;

  TempStore() {
    auto s = state::Store::Open(dir.path());
    if (!s.ok()) {
      std::fprintf(stderr, "Store::Open: %s\n", s.status().message().c_str());
      std::abort();
    }
    store = std::move(*s);
  }
};

inline void CheckOk(const Status& st, const char* what) {
  if (!st.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, st.message().c_str());
    std::abort();
  }
}

}  // namespace kecs::bench
