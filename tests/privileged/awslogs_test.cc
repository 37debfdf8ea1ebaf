// The awslogs driver for real (root, runc): a busybox task prints numbered lines; the
// shipper reads them through LocalRuntime::ReadOutput and appends them to an in-memory
// sink. The shipper is stopped mid-stream and a new one (as after a daemon restart) picks
// up from the store's checkpoint: every line arrives once, in order.
//
// The busybox image is built offline (build_busybox_image.sh). Each test gets its own data
// dir under /tmp and the process's name prefix; TearDown removes every task
// (GarbageCollect), the networks and whatever carries the prefix, also after a failure.
#include <filesystem>
#include <fstream>
#include <mutex>

#include "base/clock.h"
#include "privileged/local_env.h"
#include "reconcile/awslogs_shipper.h"
#include "runtime/local/local_runtime.h"
#include "state/records/tasks.h"
#include "unit/runtime/volume_builders.h"

namespace kecs::runtime::local {
namespace {

namespace fs = std::filesystem;
using privileged::Sh;

using privileged::BusyboxArchive;
using fixtures::HostVolume;

// A sink that keeps what it is given, thread-safe (the shipper appends from its thread).
class MemorySink : public reconcile::LogSink {
 public:
  Result<size_t> Append(std::string_view, std::string_view, std::string_view group, std::string_view stream, bool,
                        std::span<const reconcile::LogEventIn> events) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto& s = streams_[std::string(group) + ":" + std::string(stream)];
    for (const auto& e : events) s.push_back(e.message);
    return events.size();
  }
  std::vector<std::string> Stream(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    return streams_[key];
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<std::string>> streams_;
};

class AwslogsPrivilegedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KECS_REQUIRE_ROOT();
    for (const char* tool : {"runc", "skopeo", "umoci"}) {
      if (Sh({"sh", "-c", std::string("command -v ") + tool}).code != 0) {
        GTEST_SKIP() << "the local runtime needs " << tool << " (scripts/install-deps.sh)";
      }
    }
    auto tar = BusyboxArchive().Ensure();
    ASSERT_TRUE(tar.ok()) << tar.status().ToString();
    data_dir_ = privileged::MakeTempDir("data");
    ASSERT_FALSE(data_dir_.empty());
    nets_ = privileged::PickNetworks();
    LocalOptions o;
    o.data_dir = data_dir_;
    o.shim_exe = KECS_SHIM;
    o.network = privileged::NetworkOptionsFor(nets_);
    rt_ = std::make_unique<LocalRuntime>(o);
    ASSERT_TRUE(rt_->Init().ok());
    ASSERT_TRUE(rt_->images().Load(*tar, "busybox:latest").ok());
    auto s = state::Store::Open(data_dir_ + "/store");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }

  void TearDown() override {
    if (!privileged::IsRoot()) return;
    store_.reset();
    if (rt_) {
      EXPECT_TRUE(rt_->GarbageCollect({}, {}).ok());
      EXPECT_TRUE(rt_->network().RemoveAll().ok());
    }
    privileged::Sweep(privileged::Prefix());
    if (!data_dir_.empty()) {
      std::error_code ec;
      fs::remove_all(data_dir_, ec);
    }
  }

  std::unique_ptr<reconcile::AwslogsShipper> Shipper() {
    reconcile::AwslogsShipper::Options o;
    o.interval = std::chrono::milliseconds(50);
    LocalRuntime* rt = rt_.get();
    return std::make_unique<reconcile::AwslogsShipper>(
        *store_, sink_,
        [rt](const std::string& task, const std::string& container, int64_t offset, size_t max) {
          return rt->ReadOutput(task, container, offset, max);
        },
        o, Clock::Real());
  }

  bool Exited(const TaskSpec& t) {
    auto s = rt_->Inspect(t);
    return s.ok() && !s->containers.empty() && s->containers[0].phase == ContainerState::Phase::kExited;
  }

  std::string data_dir_;
  privileged::TestNetworks nets_;
  std::unique_ptr<LocalRuntime> rt_;
  std::unique_ptr<state::Store> store_;
  MemorySink sink_;
};

TEST_F(AwslogsPrivilegedTest, LinesOfARuncTaskArriveOnceInOrderAcrossAShipperRestart) {
  TaskSpec spec = privileged::ModeTask("none");
  ContainerSpec c;
  c.name = "app";
  c.image = "busybox";
  // 400 lines over about 4 s, stdout and stderr both, the last without a newline. After
  // line 199 it waits (at most 60 s) for /gate/go, which the test makes once the shipper
  // has restarted: the restart always falls mid-stream, however slow the runner.
  c.entry_point = {"/bin/sh", "-c",
                   "i=0; while [ $i -lt 400 ]; do echo \"line $i\"; [ $((i % 50)) = 7 ] && echo \"line $i err\" >&2;"
                   " i=$((i+1)); [ $((i % 10)) = 0 ] && sleep 0.1;"
                   " if [ $i = 200 ]; then n=0; while [ ! -e /gate/go ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; fi;"
                   " done; printf 'last'"};
  std::string gate = data_dir_ + "/gate";
  c.mount_points = {{"gate", "/gate", false}};
  spec.containers = {c};
  spec.volumes = {HostVolume("gate", gate)};

  model::Task task;
  task.region = "us-east-1";
  task.id = spec.task_id;
  task.cluster = "default";
  task.family = spec.family;
  task.task_arn = spec.task_arn;
  task.last_status = model::TaskStatus::kRunning;
  model::ContainerDefinition d;
  d.name = "app";
  d.image = "busybox";
  d.log_configuration = model::LogConfiguration{
      "awslogs", {{"awslogs-group", "g"}, {"awslogs-create-group", "true"}, {"awslogs-stream-prefix", "svc"}, {"mode", "blocking"}}, {}};
  task.internal.containers = {d};
  model::Container mc;
  mc.name = "app";
  mc.last_status = model::ContainerStatus::kRunning;
  task.containers = {mc};
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutTask(tx, task); }).ok());

  auto first = Shipper();
  ASSERT_TRUE(first->Prepare(task).ok());
  first->Start();
  ASSERT_TRUE(rt_->CreateSandbox(spec).ok());
  ASSERT_TRUE(rt_->PullImages(spec).ok());
  Status st = rt_->StartContainers(spec);
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::string key = "g:svc/app/" + spec.task_id;
  // Mid-stream: some lines shipped, the container still writing.
  ASSERT_TRUE(privileged::WaitFor([&] { return sink_.Stream(key).size() >= 50; }, std::chrono::seconds(60)));
  first->Stop();
  first.reset();
  ASSERT_FALSE(Exited(spec)) << "the container ended before the restart";
  size_t before = sink_.Stream(key).size();

  auto second = Shipper();
  second->Start();
  { std::ofstream(gate + "/go") << "go\n"; }
  ASSERT_TRUE(privileged::WaitFor([&] { return Exited(spec); }, std::chrono::seconds(60)));
  task.last_status = model::TaskStatus::kStopped;
  task.containers[0].last_status = model::ContainerStatus::kStopped;
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) { return state::records::PutTask(tx, task); }).ok());
  bool done = privileged::WaitFor(
      [&] {
        bool d = false;
        (void)store_->Read([&](state::Tx& tx) -> Status {
          ASSIGN_OR_RETURN(auto row, tx.Get(reconcile::kAwslogsCheckpointKind, "us-east-1", spec.task_id));
          d = row && row->status == "done";
          return Status::Ok();
        });
        return d;
      },
      std::chrono::seconds(30));
  second->Stop();
  ASSERT_TRUE(done);

  std::vector<std::string> got = sink_.Stream(key);
  std::vector<std::string> want;
  for (int i = 0; i < 400; ++i) {
    want.push_back("line " + std::to_string(i));
    if (i % 50 == 7) want.push_back("line " + std::to_string(i) + " err");
  }
  want.push_back("last");
  EXPECT_GT(got.size(), before);
  EXPECT_EQ(got, want);
  // `kecs logs` reads the same file, unchanged.
  auto all = rt_->ReadOutput(spec.task_id, "app", 0, 1 << 20);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->data.substr(0, 7), "line 0\n");
  EXPECT_TRUE(all->data.size() == static_cast<size_t>(all->size));
}

}  // namespace
}  // namespace kecs::runtime::local
