#pragma once
// The Runtime contract (runtime/runtime.h) as one parameterized suite, run against every
// implementation: the simulated runtime in the unit tests (simulated_conformance_test.cc),
// the local runtime in the privileged tests (privileged/local_conformance_test.cc, root,
// runc and a local registry), the kubernetes runtime over the fake API server in the unit
// tests (k8s_conformance_test.cc). The tests are defined by the one .cc per test binary
// that includes this header plainly; any other .cc of that binary defines
// KECS_CONFORMANCE_FIXTURE_ONLY before including it (the fixture and Harness only).
// Instantiate RuntimeConformance with each runtime's factory:
//
//   INSTANTIATE_TEST_SUITE_P(Simulated, RuntimeConformance,
//                            ::testing::Values(RuntimeFactory{"simulated", [] { ... }}),
//                            RuntimeFactoryName);
//
// A Harness owns one runtime and knows how to look behind it: what of a task is still on
// the machine (Leftovers), which inspection files it keeps (KeptFiles), and how to remove
// everything at the end of a test, even a failed one (CleanUp).
//
// What a runtime's harness cannot show is a capability below, each with the weaker
// assertion the runtime must still meet (never a skip of the whole test): the kubernetes
// runtime over the fake API server (k8s_conformance_test.cc) runs no process of its own
// (the fake's kubelet reports states), and a pod has one grace period for all its
// containers.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "runtime/runtime.h"

namespace kecs::runtime::conformance {

class Harness {
 public:
  virtual ~Harness() = default;
  // Why the runtime cannot be tested here ("" when it can): the tests skip with it.
  virtual std::string SkipReason() { return ""; }
  // Creates the runtime (and whatever it needs); a failure fails the test.
  virtual Status Start() = 0;
  virtual Runtime& runtime() = 0;
  // A fresh task (new id) whose network this runtime can make; `n` (0..15) tells apart
  // the tasks of one test (their addresses).
  virtual TaskSpec NewTask(int n) = 0;
  // An image with busybox's /bin/sh and sleep, and an empty Entrypoint.
  virtual std::string Image() = 0;
  // What of the task's runtime objects remain (namespaces, links, containers, processes,
  // mounts, writable layers), one description each; empty when nothing does.
  virtual std::vector<std::string> Leftovers(const TaskSpec& task) = 0;
  // Files the runtime keeps for inspection after Delete (logs).
  virtual std::vector<std::string> KeptFiles(const TaskSpec& task) = 0;
  // Removes everything the runtime made; runs in TearDown, also after a failure.
  virtual void CleanUp() = 0;
  // For a runtime whose exit codes settle late: right after a container ends, it may report
  // a made-up exit code (137) before the real one. While true, exit codes are compared only
  // once they have settled. No harness returns true today: the local runtime's shim records
  // the code before it reaps the container, which the privileged
  // LocalRuntimeTest.ExitCodeIsNeverMadeUp checks.
  virtual bool exit_codes_settle_late() { return false; }
  // Whether the containers are real processes (their own exits, signals). When false (a
  // runtime whose node is simulated), EndContainer plays a container's own exit, and the
  // runtime must still report it.
  virtual bool runs_processes() { return runtime().has_data_plane(); }
  // Whether each container gets SIGKILL after its own stopTimeout. When false (a pod: one
  // grace period, the largest stopTimeout), StopContainers must still report every
  // container exited, each with the exit code its node reported, the same on each Inspect.
  virtual bool per_container_stop_timeouts() { return runs_processes(); }
  // Whether the runtime keeps files of its own for inspection after Delete (logs). A
  // cluster keeps its pods' logs itself.
  virtual bool keeps_files() { return runtime().has_data_plane(); }
  // Ends the named container of a started task with `code`, as if it exited by itself;
  // only asked of a harness whose runs_processes() is false.
  virtual Status EndContainer(const TaskSpec& task, const std::string& container, int code) {
    (void)task;
    (void)container;
    (void)code;
    return FailedPrecondition("this harness runs real processes: they end by themselves");
  }
};

struct RuntimeFactory {
  std::string name;
  std::function<std::unique_ptr<Harness>()> make;
};

// gtest prints a parameter with this (rather than its bytes).
inline void PrintTo(const RuntimeFactory& f, std::ostream* os) { *os << f.name; }

inline std::string RuntimeFactoryName(const ::testing::TestParamInfo<RuntimeFactory>& info) {
  return info.param.name;
}

inline const char* PhaseName(ContainerState::Phase p) {
  switch (p) {
    case ContainerState::Phase::kCreated: return "created";
    case ContainerState::Phase::kRunning: return "running";
    case ContainerState::Phase::kExited: return "exited";
    case ContainerState::Phase::kMissing: return "missing";
  }
  return "?";
}

inline std::string StatesText(const TaskState& s) {
  std::string out;
  for (const auto& c : s.containers) {
    out += c.name + "=" + PhaseName(c.phase);
    if (c.exit_code) out += "(" + std::to_string(*c.exit_code) + ")";
    if (!c.reason.empty()) out += "[" + c.reason + "]";
    out += " ";
  }
  return out;
}

inline std::string JoinAll(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "; ") + s;
  return out;
}

class RuntimeConformance : public ::testing::TestWithParam<RuntimeFactory> {
 protected:
  void SetUp() override {
    h_ = GetParam().make();
    ASSERT_NE(h_, nullptr);
    std::string why = h_->SkipReason();
    if (!why.empty()) {
      h_.reset();
      GTEST_SKIP() << why;
    }
    Status st = h_->Start();
    ASSERT_TRUE(st.ok()) << "starting the " << GetParam().name << " runtime: " << st.ToString();
  }
  void TearDown() override {
    if (h_) h_->CleanUp();
  }
  Runtime& rt() { return h_->runtime(); }
  bool data_plane() { return rt().has_data_plane(); }

  // Two containers: "app" exits 0 on SIGTERM; "sidecar" ignores SIGTERM (it is PID 1 with
  // no handler) and is killed after its 1 s stopTimeout.
  TaskSpec NewTask(int n) {
    TaskSpec t = h_->NewTask(n);
    ContainerSpec app;
    app.name = "app";
    app.image = h_->Image();
    app.entry_point = {"/bin/sh", "-c"};
    app.command = {"trap 'exit 0' TERM; while true; do sleep 1; done"};
    app.cpu_units = 128;
    app.memory_mib = 64;
    app.stop_timeout_s = 10;
    ContainerSpec sidecar;
    sidecar.name = "sidecar";
    sidecar.image = h_->Image();
    sidecar.command = {"sleep", "3600"};
    sidecar.essential = false;
    sidecar.stop_timeout_s = 1;
    t.containers = {app, sidecar};
    return t;
  }

  // A task whose only container runs `script` with /bin/sh and ends.
  TaskSpec ExitingTask(int n, const std::string& script) {
    TaskSpec t = h_->NewTask(n);
    ContainerSpec c;
    c.name = "oneshot";
    c.image = h_->Image();
    c.entry_point = {"/bin/sh", "-c", script};
    t.containers = {c};
    return t;
  }

  // Inspect until every container has exited (at most 10 s); with a runtime whose exit
  // codes settle late, until two observations 300 ms apart agree.
  TaskState WaitExited(const TaskSpec& t) {
    TaskState s;
    std::string last;
    for (int i = 0; i < 200; ++i) {
      auto r = rt().Inspect(t);
      if (!r.ok()) break;
      s = *r;
      bool all = !s.containers.empty();
      for (const auto& c : s.containers) all = all && c.phase == ContainerState::Phase::kExited;
      if (all && !h_->exit_codes_settle_late()) break;
      if (all && StatesText(s) == last) break;
      last = all ? StatesText(s) : "";
      std::this_thread::sleep_for(std::chrono::milliseconds(all ? 300 : 50));
    }
    return s;
  }

  // What of the task remains, once the kernel's asynchronous clean-up (links of deleted
  // namespaces) has had up to 5 s; "" when nothing does.
  std::string Remaining(const TaskSpec& t) {
    std::string left;
    for (int i = 0; i < 100; ++i) {
      left = JoinAll(h_->Leftovers(t));
      if (left.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return left;
  }

  void ExpectPhases(const TaskState& s, const TaskSpec& t, ContainerState::Phase want, const std::string& when) {
    ASSERT_EQ(s.containers.size(), t.containers.size()) << when << ": " << StatesText(s);
    for (size_t i = 0; i < s.containers.size(); ++i) {
      EXPECT_EQ(s.containers[i].name, t.containers[i].name) << when << ": states follow the task's container order";
      EXPECT_EQ(s.containers[i].phase, want)
          << when << ": " << s.containers[i].name << " is " << PhaseName(s.containers[i].phase) << ", want "
          << PhaseName(want) << " (" << StatesText(s) << ")";
    }
  }

  // Every step of a task's life up to running containers, each call made twice.
  void StartTwice(const TaskSpec& t) {
    for (int i = 0; i < 2; ++i) {
      Status st = rt().CreateSandbox(t);
      ASSERT_TRUE(st.ok()) << "CreateSandbox #" << i + 1 << ": " << st.ToString();
    }
    std::map<std::string, std::string> first;
    for (int i = 0; i < 2; ++i) {
      auto digests = rt().PullImages(t);
      ASSERT_TRUE(digests.ok()) << "PullImages #" << i + 1 << ": " << digests.status().ToString();
      ASSERT_EQ(digests->size(), t.containers.size());
      for (const auto& c : t.containers) {
        ASSERT_TRUE(digests->count(c.name)) << "no digest for " << c.name;
        EXPECT_EQ(digests->at(c.name).rfind("sha256:", 0), 0u) << digests->at(c.name);
      }
      if (i == 0) first = *digests;
      else EXPECT_EQ(*digests, first) << "the same image must have the same digest";
    }
    for (int i = 0; i < 2; ++i) {
      Status st = rt().StartContainers(t);
      ASSERT_TRUE(st.ok()) << "StartContainers #" << i + 1 << ": " << st.ToString();
    }
  }

  void StopAndDeleteTwice(const TaskSpec& t) {
    for (int i = 0; i < 2; ++i) {
      auto s = rt().StopContainers(t);
      ASSERT_TRUE(s.ok()) << "StopContainers #" << i + 1 << ": " << s.status().ToString();
    }
    for (int i = 0; i < 2; ++i) {
      Status st = rt().Delete(t);
      ASSERT_TRUE(st.ok()) << "Delete #" << i + 1 << ": " << st.ToString();
    }
  }

  std::unique_ptr<Harness> h_;
};

#ifndef KECS_CONFORMANCE_FIXTURE_ONLY

TEST_P(RuntimeConformance, DescribesItself) {
  EXPECT_FALSE(rt().name().empty());
  EXPECT_FALSE(rt().Describe().empty());
}

// The controller's order, every call repeated (as after a crash or a restart).
TEST_P(RuntimeConformance, LifecycleInOrderEveryCallTwice) {
  TaskSpec t = NewTask(1);
  ASSERT_NO_FATAL_FAILURE(StartTwice(t));

  for (int i = 0; i < 2; ++i) {
    auto s = rt().Inspect(t);
    ASSERT_TRUE(s.ok()) << "Inspect #" << i + 1 << ": " << s.status().ToString();
    ExpectPhases(*s, t, ContainerState::Phase::kRunning, "Inspect #" + std::to_string(i + 1) + " after start");
    for (const auto& c : s->containers) {
      EXPECT_FALSE(c.runtime_id.empty()) << c.name;
      EXPECT_FALSE(c.exit_code.has_value()) << c.name << " runs but has an exit code";
    }
  }

  auto stopped = rt().StopContainers(t);
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  ExpectPhases(*stopped, t, ContainerState::Phase::kExited, "StopContainers");
  for (const auto& c : stopped->containers) EXPECT_TRUE(c.exit_code.has_value()) << c.name << " exited without an exit code";
  if (h_->exit_codes_settle_late()) {
    stopped = WaitExited(t);  // compare settled codes (see Harness::exit_codes_settle_late)
  }
  auto again = rt().StopContainers(t);
  ASSERT_TRUE(again.ok()) << "StopContainers #2: " << again.status().ToString();
  ExpectPhases(*again, t, ContainerState::Phase::kExited, "StopContainers #2");
  for (size_t i = 0; i < again->containers.size() && i < stopped->containers.size(); ++i) {
    EXPECT_EQ(again->containers[i].exit_code, stopped->containers[i].exit_code)
        << again->containers[i].name << ": a repeated stop must report the same exit";
  }
  auto after = rt().Inspect(t);
  ASSERT_TRUE(after.ok());
  ExpectPhases(*after, t, ContainerState::Phase::kExited, "Inspect after stop");
  for (size_t i = 0; i < after->containers.size() && i < stopped->containers.size(); ++i) {
    EXPECT_EQ(after->containers[i].exit_code, stopped->containers[i].exit_code) << after->containers[i].name;
  }

  for (int i = 0; i < 2; ++i) {
    Status st = rt().Delete(t);
    ASSERT_TRUE(st.ok()) << "Delete #" << i + 1 << ": " << st.ToString();
  }
  EXPECT_EQ(Remaining(t), "") << "Delete left objects of the task";
  if (data_plane()) {
    auto gone = rt().Inspect(t);
    ASSERT_TRUE(gone.ok());
    ExpectPhases(*gone, t, ContainerState::Phase::kMissing, "Inspect after Delete");
  }
}

// SIGTERM first; SIGKILL after the container's stopTimeout.
TEST_P(RuntimeConformance, StopContainersReportsExitCodes) {
  TaskSpec t = NewTask(2);
  ASSERT_NO_FATAL_FAILURE(StartTwice(t));
  auto t0 = std::chrono::steady_clock::now();
  auto stopped = rt().StopContainers(t);
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  ExpectPhases(*stopped, t, ContainerState::Phase::kExited, "StopContainers");
  if (data_plane() && !h_->per_container_stop_timeouts()) {
    // One grace period for the task: each container reports the code its node gave it,
    // and reports it again (the weaker contract; see Harness::per_container_stop_timeouts).
    for (const auto& c : stopped->containers) EXPECT_TRUE(c.exit_code.has_value()) << c.name << ": " << StatesText(*stopped);
    auto again = rt().Inspect(t);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(StatesText(*again), StatesText(*stopped)) << "Inspect after StopContainers reports other exits";
  } else if (data_plane()) {
    if (h_->exit_codes_settle_late()) stopped = WaitExited(t);
    ASSERT_EQ(stopped->containers.size(), 2u);
    EXPECT_EQ(stopped->containers[0].exit_code, 0) << "app exits 0 on SIGTERM: " << StatesText(*stopped);
    EXPECT_EQ(stopped->containers[1].exit_code, 137) << "sidecar ignores SIGTERM and is killed: " << StatesText(*stopped);
    EXPECT_GE(took, std::chrono::seconds(1)) << "sidecar was killed before its 1 s stopTimeout";
    EXPECT_LT(took, std::chrono::seconds(10)) << "containers are stopped together, each after its own stopTimeout";
  } else {
    for (const auto& c : stopped->containers) EXPECT_EQ(c.exit_code, 0) << c.name;
  }
  ASSERT_NO_FATAL_FAILURE(StopAndDeleteTwice(t));
  EXPECT_EQ(Remaining(t), "");
}

// A container that ends by itself is reported exited with its own code, before and after
// StopContainers.
TEST_P(RuntimeConformance, ContainerExitingByItselfKeepsItsExitCode) {
  if (!data_plane()) GTEST_SKIP() << GetParam().name << " runs no process: containers never exit by themselves";
  TaskSpec t = ExitingTask(3, "exit 3");
  ASSERT_TRUE(rt().CreateSandbox(t).ok());
  ASSERT_TRUE(rt().PullImages(t).ok());
  Status st = rt().StartContainers(t);
  ASSERT_TRUE(st.ok()) << "a container that runs and exits started fine: " << st.ToString();
  if (!h_->runs_processes()) {
    Status ended = h_->EndContainer(t, "oneshot", 3);
    ASSERT_TRUE(ended.ok()) << ended.ToString();
  }
  TaskState s = WaitExited(t);
  ExpectPhases(s, t, ContainerState::Phase::kExited, "Inspect after the container ended");
  ASSERT_FALSE(s.containers.empty());
  EXPECT_EQ(s.containers[0].exit_code, 3) << StatesText(s);
  EXPECT_EQ(s.containers[0].reason, "") << "a normal exit has no reason";
  auto stopped = rt().StopContainers(t);
  ASSERT_TRUE(stopped.ok());
  ASSERT_FALSE(stopped->containers.empty());
  EXPECT_EQ(stopped->containers[0].exit_code, 3) << StatesText(*stopped);
  ASSERT_NO_FATAL_FAILURE(StopAndDeleteTwice(t));
  EXPECT_EQ(Remaining(t), "");
}

// StartContainers repeated (after a crash) leaves containers that already ran alone, as it
// leaves running ones: an ECS task never runs a container twice.
TEST_P(RuntimeConformance, StartContainersAgainDoesNotRerunExitedContainers) {
  if (!data_plane()) GTEST_SKIP() << GetParam().name << " runs no process: containers never exit by themselves";
  // Exits 3 the first time and 4 on any later run (its writable layer remembers).
  TaskSpec t = ExitingTask(4, "if [ -e /ran ]; then exit 4; fi; touch /ran; exit 3");
  ASSERT_TRUE(rt().CreateSandbox(t).ok());
  ASSERT_TRUE(rt().PullImages(t).ok());
  ASSERT_TRUE(rt().StartContainers(t).ok());
  if (!h_->runs_processes()) {
    Status ended = h_->EndContainer(t, "oneshot", 3);
    ASSERT_TRUE(ended.ok()) << ended.ToString();
  }
  TaskState s = WaitExited(t);
  ASSERT_FALSE(s.containers.empty());
  ASSERT_EQ(s.containers[0].exit_code, 3) << StatesText(s);
  Status st = rt().StartContainers(t);
  EXPECT_TRUE(st.ok()) << st.ToString();
  s = WaitExited(t);
  ASSERT_FALSE(s.containers.empty());
  EXPECT_EQ(s.containers[0].exit_code, 3) << "the repeated StartContainers ran the container again: " << StatesText(s);
  ASSERT_NO_FATAL_FAILURE(StopAndDeleteTwice(t));
}

TEST_P(RuntimeConformance, DeleteSucceedsWhenNothingExists) {
  // Never created.
  TaskSpec never = NewTask(4);
  for (int i = 0; i < 2; ++i) {
    Status st = rt().Delete(never);
    EXPECT_TRUE(st.ok()) << "Delete #" << i + 1 << " of a task never created: " << st.ToString();
  }
  EXPECT_EQ(Remaining(never), "");
  // Only the sandbox.
  TaskSpec sandbox = NewTask(5);
  ASSERT_TRUE(rt().CreateSandbox(sandbox).ok());
  for (int i = 0; i < 2; ++i) {
    Status st = rt().Delete(sandbox);
    EXPECT_TRUE(st.ok()) << "Delete #" << i + 1 << " of a task with only a sandbox: " << st.ToString();
  }
  EXPECT_EQ(Remaining(sandbox), "");
  // Sandbox and images, no containers.
  TaskSpec pulled = NewTask(6);
  ASSERT_TRUE(rt().CreateSandbox(pulled).ok());
  ASSERT_TRUE(rt().PullImages(pulled).ok());
  for (int i = 0; i < 2; ++i) {
    Status st = rt().Delete(pulled);
    EXPECT_TRUE(st.ok()) << "Delete #" << i + 1 << " of a task never started: " << st.ToString();
  }
  EXPECT_EQ(Remaining(pulled), "");
  // Running containers: Delete alone takes everything down.
  TaskSpec running = NewTask(7);
  ASSERT_NO_FATAL_FAILURE(StartTwice(running));
  for (int i = 0; i < 2; ++i) {
    Status st = rt().Delete(running);
    EXPECT_TRUE(st.ok()) << "Delete #" << i + 1 << " of a running task: " << st.ToString();
  }
  EXPECT_EQ(Remaining(running), "");
}

TEST_P(RuntimeConformance, InspectOfNeverStartedTaskReportsMissing) {
  if (!data_plane()) {
    // simulated_runtime.h: "tasks it never heard of (after a daemon restart) count as
    // running" -- it keeps no record of which tasks were started.
    GTEST_SKIP() << GetParam().name << " reports tasks it never heard of as running (by design, "
                 << "simulated_runtime.h)";
  }
  TaskSpec t = NewTask(8);
  auto s = rt().Inspect(t);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ExpectPhases(*s, t, ContainerState::Phase::kMissing, "Inspect of a task never created");
  for (const auto& c : s->containers) EXPECT_FALSE(c.exit_code.has_value()) << c.name;
  ASSERT_TRUE(rt().CreateSandbox(t).ok());
  ASSERT_TRUE(rt().PullImages(t).ok());
  s = rt().Inspect(t);
  ASSERT_TRUE(s.ok());
  ExpectPhases(*s, t, ContainerState::Phase::kMissing, "Inspect before StartContainers");
  ASSERT_TRUE(rt().Delete(t).ok());
}

TEST_P(RuntimeConformance, GarbageCollectRemovesEverythingOfTasksItDoesNotKnow) {
  TaskSpec running = NewTask(9);
  TaskSpec stopped = NewTask(10);
  TaskSpec sandbox_only = NewTask(11);
  ASSERT_NO_FATAL_FAILURE(StartTwice(running));
  ASSERT_NO_FATAL_FAILURE(StartTwice(stopped));
  ASSERT_TRUE(rt().StopContainers(stopped).ok());
  ASSERT_TRUE(rt().CreateSandbox(sandbox_only).ok());
  for (int i = 0; i < 2; ++i) {
    Status st = rt().GarbageCollect({}, {});
    ASSERT_TRUE(st.ok()) << "GarbageCollect #" << i + 1 << ": " << st.ToString();
  }
  for (const TaskSpec* t : {&running, &stopped, &sandbox_only}) {
    EXPECT_EQ(Remaining(*t), "") << "GC left objects of task " << t->task_id;
    EXPECT_EQ(JoinAll(h_->KeptFiles(*t)), "") << "GC kept files of a task it does not know";
    if (data_plane()) {
      auto s = rt().Inspect(*t);
      ASSERT_TRUE(s.ok());
      ExpectPhases(*s, *t, ContainerState::Phase::kMissing, "Inspect after GC");
    }
    Status st = rt().Delete(*t);
    EXPECT_TRUE(st.ok()) << "Delete after GC: " << st.ToString();
  }
}

TEST_P(RuntimeConformance, GarbageCollectKeepsLiveTasksAndLogsOfKnownOnes) {
  TaskSpec live = NewTask(12);
  TaskSpec gone = NewTask(13);
  ASSERT_NO_FATAL_FAILURE(StartTwice(live));
  ASSERT_NO_FATAL_FAILURE(StartTwice(gone));
  Status st = rt().GarbageCollect({live.task_id}, {live.task_id, gone.task_id});
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto s = rt().Inspect(live);
  ASSERT_TRUE(s.ok());
  ExpectPhases(*s, live, ContainerState::Phase::kRunning, "Inspect of a live task after GC");
  EXPECT_EQ(Remaining(gone), "") << "GC left objects of a task not live";
  if (data_plane()) {
    EXPECT_FALSE(h_->Leftovers(live).empty()) << "GC removed objects of a live task";
  }
  if (h_->keeps_files()) {
    EXPECT_FALSE(h_->KeptFiles(gone).empty()) << "GC removed the logs of a task still known";
  }
  // Once the task is forgotten, its logs go too.
  st = rt().GarbageCollect({live.task_id}, {live.task_id});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(JoinAll(h_->KeptFiles(gone)), "");
  ASSERT_NO_FATAL_FAILURE(StopAndDeleteTwice(live));
  EXPECT_EQ(Remaining(live), "");
}

// The controller drives different tasks from different threads.
TEST_P(RuntimeConformance, DifferentTasksFromDifferentThreads) {
  constexpr int kTasks = 3;
  std::vector<TaskSpec> tasks;
  for (int i = 0; i < kTasks; ++i) tasks.push_back(NewTask(14 + i));
  std::vector<std::string> errors(kTasks);
  std::vector<std::thread> threads;
  for (int i = 0; i < kTasks; ++i) {
    threads.emplace_back([&, i] {
      const TaskSpec& t = tasks[i];
      auto fail = [&](const std::string& what, const Status& st) { errors[i] = what + ": " + st.ToString(); };
      if (Status st = rt().CreateSandbox(t); !st.ok()) return fail("CreateSandbox", st);
      if (auto d = rt().PullImages(t); !d.ok()) return fail("PullImages", d.status());
      if (Status st = rt().StartContainers(t); !st.ok()) return fail("StartContainers", st);
      auto s = rt().Inspect(t);
      if (!s.ok()) return fail("Inspect", s.status());
      for (const auto& c : s->containers) {
        if (c.phase != ContainerState::Phase::kRunning) return fail("Inspect", Internal(StatesText(*s)));
      }
      if (auto r = rt().StopContainers(t); !r.ok()) return fail("StopContainers", r.status());
      if (Status st = rt().Delete(t); !st.ok()) return fail("Delete", st);
    });
  }
  for (auto& th : threads) th.join();
  for (int i = 0; i < kTasks; ++i) {
    EXPECT_EQ(errors[i], "") << "task " << i;
    EXPECT_EQ(Remaining(tasks[i]), "") << "task " << i;
  }
}

TEST_P(RuntimeConformance, PullImagesOfUnknownImageFails) {
  if (!data_plane()) GTEST_SKIP() << GetParam().name << " pulls nothing: every image exists";
  TaskSpec t = h_->NewTask(0);
  ContainerSpec c;
  c.name = "ghost";
  c.image = "kecs-conformance-no-such-image:latest";
  t.containers = {c};
  ASSERT_TRUE(rt().CreateSandbox(t).ok());
  auto d = rt().PullImages(t);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("kecs-conformance-no-such-image"), std::string::npos) << d.status().message();
  EXPECT_FALSE(rt().StartContainers(t).ok()) << "a container whose image cannot be pulled started";
  ASSERT_TRUE(rt().Delete(t).ok());
  EXPECT_EQ(Remaining(t), "");
}

#endif  // KECS_CONFORMANCE_FIXTURE_ONLY

}  // namespace kecs::runtime::conformance
