// ImageStore through a FakeEnv: skopeo and umoci are fakes that write what the real tools
// write (a per-reference index.json, manifest and config blobs, an unpacked bundle), so the
// store's naming, locking, credentials and retries are tested without root, network or
// the tools. No sleeps: blocking pulls wait on promises the test fulfils.
#include "runtime/local/image_store.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <thread>

#include "base/strings.h"
#include "unit/support/temp_dir.h"

namespace kecs::runtime::local {
namespace {

using kecs::testing::TempDir;

bool Has(const std::vector<std::string>& argv, const std::string& word) {
  return std::find(argv.begin(), argv.end(), word) != argv.end();
}

std::string After(const std::vector<std::string>& argv, const std::string& flag) {
  auto it = std::find(argv.begin(), argv.end(), flag);
  return it == argv.end() || it + 1 == argv.end() ? "" : *(it + 1);
}

// The docker:// source of a skopeo copy, "" for other commands.
std::string Source(const ProcessOptions& p) {
  for (const auto& a : p.argv) {
    if (a.rfind("docker://", 0) == 0) return a;
  }
  return "";
}

class ImageStoreTest : public ::testing::Test {
 protected:
  ImageStoreTest() {
    env_.SetProcessHandler([this](const ProcessOptions& p) { return Handle(p); });
  }

  std::unique_ptr<ImageStore> Store(RegistryConfig cfg = {}) {
    return std::make_unique<ImageStore>(dir_.path(), cfg, &env_);
  }

  // What the fake skopeo does for a source before it copies; default: copy.
  std::function<Result<ProcessResult>(const ProcessOptions&)> before_copy_;

  Result<ProcessResult> Handle(const ProcessOptions& p) {
    ProcessResult ok;
    ok.exit_code = 0;
    const auto& argv = p.argv;
    if (argv.size() >= 3 && argv[0] == "skopeo" && argv[2] == "copy") {
      if (before_copy_) {
        auto r = before_copy_(p);
        if (!r.ok() || r->exit_code != 0) return r;
      }
      // oci:<layout>:image, blobs into --dest-shared-blob-dir, each image's own digest.
      std::string dest = argv.back().substr(4);
      std::string layout = dest.substr(0, dest.rfind(':'));
      std::string blobs = After(argv, "--dest-shared-blob-dir");
      std::string src = Source(p);
      std::string manifest_hex = HexEncode("m" + src), config_hex = HexEncode("c" + src);
      EXPECT_TRUE(env_.CreateDirs(blobs + "/sha256").ok());
      EXPECT_TRUE(env_.WriteFileAtomic(blobs + "/sha256/" + config_hex,
                                       R"({"config":{"Entrypoint":["/e"],"Cmd":[")" + src + R"("]}})").ok());
      EXPECT_TRUE(env_.WriteFileAtomic(blobs + "/sha256/" + manifest_hex,
                                       R"({"config":{"digest":"sha256:)" + config_hex + R"("}})").ok());
      EXPECT_TRUE(env_.WriteFileAtomic(layout + "/index.json",
                                       R"({"manifests":[{"digest":"sha256:)" + manifest_hex +
                                           R"(","annotations":{"org.opencontainers.image.ref.name":"image"}}]})").ok());
      return ok;
    }
    if (argv.size() == 5 && argv[0] == "umoci" && argv[1] == "unpack") {
      EXPECT_TRUE(env_.CreateDirs(argv[4] + "/rootfs").ok());
      EXPECT_TRUE(env_.WriteFileAtomic(argv[4] + "/config.json", R"({"ociVersion":"1.0.0"})").ok());
      return ok;
    }
    ADD_FAILURE() << "unexpected command " << argv[0];
    return ok;
  }

  std::vector<ProcessOptions> Copies() {
    std::vector<ProcessOptions> out;
    for (const auto& p : env_.processes()) {
      if (!Source(p).empty()) out.push_back(p);
    }
    return out;
  }

  // Two Ensure calls for one image, the second made while the first one's pull is blocked
  // and released only once both are in progress; the pull answers `outcome`.
  std::pair<Result<Image>, Result<Image>> TwoRequestsDuringOnePull(ImageStore& store, const std::string& a,
                                                                   const std::string& b, ProcessResult outcome,
                                                                   const std::string& creds_a = "",
                                                                   const std::string& creds_b = "") {
    std::promise<void> started, release_pull;
    std::shared_future<void> release = release_pull.get_future().share();
    std::atomic<bool> first_copy{true};
    before_copy_ = [&](const ProcessOptions&) -> Result<ProcessResult> {
      // A request that does not share the first pull (other credentials) copies again.
      if (first_copy.exchange(false)) started.set_value();
      release.wait();
      return outcome;
    };
    Result<Image> first = Internal("unset"), second = Internal("unset");
    std::thread ta([&] { first = store.Ensure(a, creds_a); });
    started.get_future().wait();
    std::thread tb([&] { second = store.Ensure(b, creds_b); });
    // Both requests are in: one pulling, one waiting for that pull.
    while (store.RequestsInProgress(a) < 2) std::this_thread::yield();
    release_pull.set_value();
    ta.join();
    tb.join();
    before_copy_ = nullptr;
    return {first, second};
  }

  static ProcessResult Succeeded() {
    ProcessResult ok;
    ok.exit_code = 0;
    return ok;
  }

  static ProcessResult Failed(const std::string& msg) {
    ProcessResult r;
    r.exit_code = 1;
    r.err = "time=\"2026-12-04T00:00:00Z\" level=fatal msg=\"" + msg + "\"\n";
    return r;
  }

  TempDir dir_;
  FakeEnv env_;
};

// ---- Naming (defect: "ghcr.io/a/b:c" and "ghcr.io/a_b:c" shared one cache tag).

TEST(ImageKey, DistinctReferencesNeverShareAKey) {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"ghcr.io/a/b:c", "ghcr.io/a_b:c"},
      {"ghcr.io/a/b:c", "ghcr.io/a/b_c"},
      {"localhost:5000/a:b", "localhost_5000/a:b"},
      {"example.com/a:1.0", "example.com/a:1_0"},
      {"example.com/a@sha256:00", "example.com/a:sha256_00"},
      {"a/b-c", "a/b.c"},
  };
  for (const auto& [x, y] : pairs) {
    auto rx = ParseImageRef(x), ry = ParseImageRef(y);
    ASSERT_TRUE(rx.ok() && ry.ok()) << x << " " << y;
    EXPECT_NE(ImageKey(*rx), ImageKey(*ry)) << x << " and " << y;
  }
}

TEST(ImageKey, OneImageSpelledTwoWaysSharesAKey) {
  auto a = ParseImageRef("nginx"), b = ParseImageRef("docker.io/library/nginx:latest");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(ImageKey(*a), ImageKey(*b));
  EXPECT_EQ(ImageKey(*a).size(), 64u);
}

TEST_F(ImageStoreTest, CollidingNamesAreDifferentImages) {
  auto store = Store();
  auto a = store->Ensure("ghcr.io/a/b:c");
  auto b = store->Ensure("ghcr.io/a_b:c");
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_NE(a->digest, b->digest);
  EXPECT_EQ(a->cmd, std::vector<std::string>{"docker://ghcr.io/a/b:c"});
  EXPECT_EQ(b->cmd, std::vector<std::string>{"docker://ghcr.io/a_b:c"});
  EXPECT_EQ(a->entrypoint, std::vector<std::string>{"/e"});
  EXPECT_EQ(Copies().size(), 2u);
}

TEST_F(ImageStoreTest, CachedImageIsNotPulledAgain) {
  auto store = Store();
  ASSERT_TRUE(store->Ensure("nginx").ok());
  auto again = store->Ensure("docker.io/library/nginx:latest");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(Copies().size(), 1u);
}

TEST_F(ImageStoreTest, AlwaysPullsEveryTimeAndFallsBackToTheCachedCopy) {
  RegistryConfig cfg;
  cfg.pull_behavior = "always";
  cfg.pull_attempts = 1;
  auto store = Store(cfg);
  ASSERT_TRUE(store->Ensure("nginx").ok());
  before_copy_ = [](const ProcessOptions&) -> Result<ProcessResult> { return Failed("connection refused"); };
  auto again = store->Ensure("nginx");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(Copies().size(), 2u);
}

// A store written by an older kecs (one shared layout, old tags): its images are pulled
// again into their own layouts, reusing its blob directory.
TEST_F(ImageStoreTest, OldStoreIsPulledAgainIntoTheSharedBlobs) {
  ASSERT_TRUE(env_.CreateDirs(dir_.path() + "/layout/blobs/sha256").ok());
  ASSERT_TRUE(env_.WriteFileAtomic(dir_.path() + "/layout/index.json",
                                   R"({"manifests":[{"digest":"sha256:aa","annotations":)"
                                   R"({"org.opencontainers.image.ref.name":"docker.io_library_nginx_latest"}}]})").ok());
  auto store = Store();
  auto img = store->Ensure("nginx");
  ASSERT_TRUE(img.ok()) << img.status().message();
  ASSERT_EQ(Copies().size(), 1u);
  EXPECT_EQ(After(Copies()[0].argv, "--dest-shared-blob-dir"), dir_.path() + "/layout/blobs");
}

// ---- Locking (defect: one slow pull blocked every task start).

TEST_F(ImageStoreTest, SlowPullBlocksNeitherOtherImagesNorCachedOnes) {
  auto store = Store();
  ASSERT_TRUE(store->Ensure("cached").ok());
  std::promise<void> slow_started, release_slow;
  std::shared_future<void> release = release_slow.get_future().share();
  before_copy_ = [&](const ProcessOptions& p) -> Result<ProcessResult> {
    if (Source(p).find("/slow:") != std::string::npos) {
      slow_started.set_value();
      release.wait();
    }
    ProcessResult ok;
    ok.exit_code = 0;
    return ok;
  };
  std::thread slow([&] { EXPECT_TRUE(store->Ensure("slow").ok()); });
  slow_started.get_future().wait();
  // The slow pull is under way and holds its own lock: these return without it.
  auto cached = store->Ensure("cached");
  EXPECT_TRUE(cached.ok()) << cached.status().message();
  auto other = store->Ensure("other");
  EXPECT_TRUE(other.ok()) << other.status().message();
  release_slow.set_value();
  slow.join();
  EXPECT_EQ(Copies().size(), 3u);
}

class ConcurrentPullTest : public ImageStoreTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(ConcurrentPullTest, ConcurrentRequestsForOneImageShareOnePull) {
  RegistryConfig cfg;
  cfg.pull_behavior = GetParam();
  auto store = Store(cfg);
  auto [first, second] = TwoRequestsDuringOnePull(*store, "nginx", "nginx:latest", Succeeded());
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(first->digest, second->digest);
  EXPECT_EQ(Copies().size(), 1u);
  EXPECT_EQ(store->RequestsInProgress("nginx"), 0);
}

INSTANTIATE_TEST_SUITE_P(PullBehaviors, ConcurrentPullTest, ::testing::Values("once", "always"));

TEST_F(ImageStoreTest, RequestsWaitingForAFailedPullShareItsError) {
  RegistryConfig cfg;
  cfg.pull_attempts = 1;
  auto store = Store(cfg);
  auto [first, second] = TwoRequestsDuringOnePull(
      *store, "nginx", "nginx", Failed("reading manifest latest in docker.io/library/nginx: manifest unknown"));
  EXPECT_FALSE(first.ok());
  EXPECT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("manifest unknown"), std::string::npos);
  EXPECT_EQ(Copies().size(), 1u);
}

TEST_F(ImageStoreTest, AFailedPullIsNotSharedWithRequestsHoldingOtherCredentials) {
  RegistryConfig cfg;
  cfg.pull_attempts = 1;
  auto store = Store(cfg);
  // The first request has no credentials and fails; the waiting one has its own and pulls.
  auto [first, second] = TwoRequestsDuringOnePull(
      *store, "registry.example.com/app:1", "registry.example.com/app:1",
      Failed("reading manifest 1 in registry.example.com/app: unauthorized"), "", "robot:pw");
  EXPECT_FALSE(first.ok());
  EXPECT_EQ(Copies().size(), 2u);
  EXPECT_TRUE(Has(Copies()[1].argv, "--src-authfile"));
}

// ---- Credentials (defect: they went on skopeo's argv, visible in /proc).

TEST_F(ImageStoreTest, AuthFilesLeftByADeadDaemonAreRemovedAtStart) {
  ASSERT_TRUE(env_.CreateDirs(dir_.path() + "/auth").ok());
  ASSERT_TRUE(env_.WriteFileAtomic(dir_.path() + "/auth/old.json", R"({"auths":{}})").ok());
  auto store = Store();
  EXPECT_FALSE(env_.Exists(dir_.path() + "/auth/old.json"));
}

TEST_F(ImageStoreTest, TaskCredentialsNeverGoToAMirror) {
  RegistryConfig cfg;
  cfg.mirrors["docker.io"] = "127.0.0.1:5000";
  auto store = Store(cfg);
  ASSERT_TRUE(store->Ensure("nginx", "robot:private-pw").ok());
  ASSERT_EQ(Copies().size(), 1u);
  EXPECT_FALSE(Has(Copies()[0].argv, "--src-authfile"));
}

// The rules the store's pulls and the kubernetes runtime's digest lookups share.
TEST(AccessFor, MirrorsInsecureHostsCredentialsAndKecsOwnRegistry) {
  RegistryConfig cfg;
  cfg.mirrors["docker.io"] = "mirror.local:5000";
  cfg.insecure = {"mirror.local:5000"};
  cfg.credentials["mirror.local:5000"] = "m:pw";
  cfg.credentials["ghcr.io"] = "g:pw";
  auto ref = [](const std::string& s) { return *ParseImageRef(s); };
  RegistryAccess a = AccessFor(cfg, ref("nginx"), "task:pw");
  EXPECT_EQ(a.host, "mirror.local:5000");
  EXPECT_TRUE(a.insecure);
  EXPECT_EQ(a.secret, "m:pw") << "a task's credentials never go to a mirror";
  a = AccessFor(cfg, ref("ghcr.io/o/app:1"), "task:pw");
  EXPECT_EQ(a.host, "ghcr.io");
  EXPECT_FALSE(a.insecure);
  EXPECT_EQ(a.secret, "task:pw") << "the task's own, for the image's own registry";
  EXPECT_EQ(AccessFor(cfg, ref("ghcr.io/o/app:1"), "").secret, "g:pw");
  EXPECT_EQ(AccessFor(cfg, ref("quay.io/o/app:1"), "").secret, "");
  // kecs's own registry, even behind a mirror: plain HTTP and a token minted for the request.
  cfg.mirrors["123456789012.dkr.ecr.us-east-1.amazonaws.com"] = "127.0.0.1:8080";
  cfg.local_registry = [](const std::string& host) -> std::optional<std::string> {
    if (host == "127.0.0.1:8080") return "AWS:minted";
    return std::nullopt;
  };
  a = AccessFor(cfg, ref("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1"), "task:pw");
  EXPECT_EQ(a.host, "127.0.0.1:8080");
  EXPECT_TRUE(a.insecure);
  EXPECT_EQ(a.secret, "AWS:minted");
}

TEST_F(ImageStoreTest, CredentialsGoInAPrivateAuthFileNeverOnArgv) {
  const std::string secret = "s3cr3t-Pa55";
  RegistryConfig cfg;
  cfg.credentials["registry.example.com"] = "robot:" + secret;
  auto store = Store(cfg);
  std::string authfile;
  before_copy_ = [&](const ProcessOptions& p) -> Result<ProcessResult> {
    authfile = After(p.argv, "--src-authfile");
    EXPECT_FALSE(authfile.empty());
    struct stat st {};
    EXPECT_EQ(stat(authfile.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    struct stat dir {};
    EXPECT_EQ(stat((dir_.path() + "/auth").c_str(), &dir), 0);
    EXPECT_EQ(dir.st_mode & 0777, 0700u);
    auto text = env_.ReadFile(authfile);
    EXPECT_TRUE(text.ok());
    // {"auths":{"registry.example.com":{"auth":base64("robot:s3cr3t-Pa55")}}}
    EXPECT_NE(text->find(R"("registry.example.com":{"auth":"cm9ib3Q6czNjcjN0LVBhNTU="})"), std::string::npos) << *text;
    return Failed("reading manifest 1 in registry.example.com/app: unauthorized: bad credentials");
  };
  auto img = store->Ensure("registry.example.com/app:1");
  ASSERT_FALSE(img.ok());
  EXPECT_EQ(img.status().message().find(secret), std::string::npos) << img.status().message();
  ASSERT_FALSE(authfile.empty());
  EXPECT_FALSE(env_.Exists(authfile)) << "the auth file outlived the pull";
  for (const auto& p : env_.processes()) {
    for (const auto& a : p.argv) {
      EXPECT_EQ(a.find(secret), std::string::npos) << a;
      EXPECT_EQ(a.find("--src-creds"), std::string::npos) << a;
    }
    for (const auto& e : p.env) EXPECT_EQ(e.find(secret), std::string::npos) << e;
  }
}

TEST_F(ImageStoreTest, MirrorGetsTheCredentialsOfItsHost) {
  RegistryConfig cfg;
  cfg.mirrors["docker.io"] = "127.0.0.1:5000";
  cfg.credentials["127.0.0.1:5000"] = "u:p";
  auto store = Store(cfg);
  std::string text;
  before_copy_ = [&](const ProcessOptions& p) -> Result<ProcessResult> {
    EXPECT_EQ(Source(p), "docker://127.0.0.1:5000/library/nginx:latest");
    auto t = env_.ReadFile(After(p.argv, "--src-authfile"));
    if (t.ok()) text = *t;
    ProcessResult ok;
    ok.exit_code = 0;
    return ok;
  };
  ASSERT_TRUE(store->Ensure("nginx").ok());
  EXPECT_NE(text.find(R"("127.0.0.1:5000":{"auth":"dTpw"})"), std::string::npos) << text;
}

TEST_F(ImageStoreTest, NoCredentialsNoAuthFile) {
  auto store = Store();
  ASSERT_TRUE(store->Ensure("nginx").ok());
  ASSERT_EQ(Copies().size(), 1u);
  EXPECT_FALSE(Has(Copies()[0].argv, "--src-authfile"));
}

TEST_F(ImageStoreTest, UnwritableAuthFileFailsThePullWithoutRunningSkopeo) {
  RegistryConfig cfg;
  cfg.credentials["docker.io"] = "u:hunter2";
  auto store = Store(cfg);
  env_.FailOn(EnvOp::kWrite, "/auth/", Status(Code::kResourceExhausted, "write: no space left on device"));
  auto img = store->Ensure("nginx");
  ASSERT_FALSE(img.ok());
  EXPECT_EQ(img.status().message().find("hunter2"), std::string::npos);
  EXPECT_TRUE(Copies().empty());
}

// ---- Retries (defect: the error claimed a retry that never happened).

TEST_F(ImageStoreTest, TransientPullErrorsAreRetriedWithBackoff) {
  RegistryConfig cfg;
  cfg.pull_attempts = 3;
  cfg.pull_backoff = std::chrono::milliseconds(500);
  auto store = Store(cfg);
  int calls = 0;
  before_copy_ = [&](const ProcessOptions&) -> Result<ProcessResult> {
    if (++calls < 3) return Failed("pinging container registry: dial tcp: connection refused");
    ProcessResult ok;
    ok.exit_code = 0;
    return ok;
  };
  auto img = store->Ensure("nginx");
  ASSERT_TRUE(img.ok()) << img.status().message();
  EXPECT_EQ(Copies().size(), 3u);
  EXPECT_EQ(env_.sleeps(), (std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(500),
                                                                   std::chrono::milliseconds(1000)}));
}

TEST_F(ImageStoreTest, ExhaustedRetriesSayHowOftenTheyRetried) {
  RegistryConfig cfg;
  cfg.pull_attempts = 3;
  auto store = Store(cfg);
  before_copy_ = [](const ProcessOptions&) -> Result<ProcessResult> {
    return Failed("pinging container registry: dial tcp: connection refused");
  };
  auto img = store->Ensure("nginx");
  ASSERT_FALSE(img.ok());
  EXPECT_EQ(img.status().code(), Code::kUnavailable);
  EXPECT_EQ(img.status().message(),
            "pull image manifest has been retried 2 time(s): failed to resolve ref "
            "docker.io/library/nginx:latest: pinging container registry: dial tcp: connection refused");
  EXPECT_EQ(Copies().size(), 3u);
  EXPECT_EQ(env_.sleeps().size(), 2u);
}

TEST_F(ImageStoreTest, FinalPullErrorIsNotRetriedNorClaimsARetry) {
  auto store = Store();
  before_copy_ = [](const ProcessOptions&) -> Result<ProcessResult> {
    return Failed("reading manifest nope in docker.io/library/nginx: manifest unknown");
  };
  auto img = store->Ensure("nginx:nope");
  ASSERT_FALSE(img.ok());
  EXPECT_EQ(img.status().message(),
            "failed to resolve ref docker.io/library/nginx:nope: reading manifest nope in "
            "docker.io/library/nginx: manifest unknown");
  EXPECT_EQ(Copies().size(), 1u);
  EXPECT_TRUE(env_.sleeps().empty());
}

// ---- Files through the Env.

TEST_F(ImageStoreTest, UnreadableRuntimeConfigIsAnErrorNamingTheImage) {
  auto store = Store();
  before_copy_ = nullptr;
  ASSERT_TRUE(store->Ensure("nginx").ok());
  env_.FailOn(EnvOp::kRead, "/config.json", Status(Code::kInternal, "read: input/output error"));
  auto img = store->Ensure("nginx");
  ASSERT_FALSE(img.ok());
  EXPECT_NE(img.status().message().find("docker.io/library/nginx:latest"), std::string::npos)
      << img.status().message();
}

TEST_F(ImageStoreTest, FailedUnpackLeavesNoPartialBundle) {
  auto store = Store();
  env_.FailOn(EnvOp::kRename, "/bundles/", Status(Code::kInternal, "rename: input/output error"));
  auto img = store->Ensure("nginx");
  ASSERT_FALSE(img.ok());
  auto names = env_.ListDir(dir_.path() + "/bundles");
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty()) << names->front();
}

}  // namespace
}  // namespace kecs::runtime::local
