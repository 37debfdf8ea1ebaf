#pragma once
// Helpers shared by the microbenchmarks: a temporary data dir removed at exit, a store
// opened in it with every migration applied (the daemon's own Store::Open), and an AWS
// JSON 1.1 request as the aws CLI sends it.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "api/router.h"
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

  // KECS_BENCH_CHECKPOINTER=0: the store's checkpointer thread stays idle (no WAL
  // checkpoint beside the benchmark's writes).
  static state::Store::Options Options() {
    state::Store::Options o;
    if (const char* env = std::getenv("KECS_BENCH_CHECKPOINTER"); env && std::string(env) == "0") {
      o.checkpoint_frames = 1 << 30;
      o.truncate_frames = 1 << 30;
      o.checkpoint_every_commits = 1 << 30;
      o.checkpoint_interval = std::chrono::seconds(1 << 20);
    }
    return o;
  }

  TempStore() {
    auto s = state::Store::Open(dir.path(), Options());
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

// A JSON 1.1 request for `target` ("<prefix>.<Op>"), signed (with a signature the router
// does not check without credentials) for `service` in us-east-1, as the aws CLI sends it.
inline api::HttpRequest AwsJsonRequest(const std::string& target, const std::string& service, std::string body) {
  api::HttpRequest r;
  r.method = "POST";
  r.target = "/";
  r.body = std::move(body);
  r.remote_addr = "127.0.0.1";
  r.headers = {
      {"host", "127.0.0.1:8080"},
      {"accept-encoding", "identity"},
      {"x-amz-target", target},
      {"content-type", "application/x-amz-json-1.1"},
      {"user-agent", "aws-cli/2.9.19 Python/3.11.2 Linux/6.1 source/x86_64.debian.12 prompt/off"},
      {"x-amz-date", "20240101T000000Z"},
      {"authorization",
       "AWS4-HMAC-SHA256 Credential=AKIDKECSTEST/20240101/us-east-1/" + service + "/aws4_request, "
       "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
       "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
      {"content-length", std::to_string(r.body.size())},
  };
  return r;
}

}  // namespace kecs::bench
