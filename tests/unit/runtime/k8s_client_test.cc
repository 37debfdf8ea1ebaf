// The Kubernetes API client (runtime/kubernetes/client.h) against the fake API server
// (unit/support/fake_kube_apiserver.h), over real HTTP on loopback: server-side apply,
// 409s retried, 401s answered with fresh credentials, slow answers, and watches that
// reconnect after a dropped connection and relist after a 410.
#include "runtime/kubernetes/client.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <thread>

#include "unit/support/fake_kube_apiserver.h"
#include "unit/support/temp_dir.h"

namespace kecs::runtime::kubernetes {
namespace {

using kecs::testing::FakeKubeApiServer;

const std::string kPods = "/api/v1/namespaces/demo-us-east-1/pods";

Json Pod(const std::string& name, const std::string& image = "busybox") {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "demo-us-east-1"}, {"labels", {{"kecs.dev/managed-by", "kecs"}}}}},
          {"spec", {{"containers", {{{"name", "app"}, {"image", image}}}}}}};
}

Client::Options Fast() {
  Client::Options o;
  o.backoff = std::chrono::milliseconds(10);
  o.timeout = std::chrono::seconds(2);
  o.watch_timeout = std::chrono::seconds(30);
  return o;
}

Credentials Creds(const FakeKubeApiServer& s, const std::string& token = "") {
  Credentials c;
  c.server = s.url();
  c.token = token;
  return c;
}

template <typename F>
bool WaitFor(F f, std::chrono::milliseconds d = std::chrono::seconds(10)) {
  auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return f();
}

TEST(K8sClient, ServerSideApplyCreatesThenUpdatesUnderTheFieldManagerKecs) {
  FakeKubeApiServer s;
  Client c(Creds(s), Fast());
  auto created = c.Apply(kPods + "/task-1", Pod("task-1"));
  ASSERT_TRUE(created.ok()) << created.status().message();
  EXPECT_EQ((*created)["metadata"]["managedFields"][0]["manager"], "kecs");
  auto updated = c.Apply(kPods + "/task-1", Pod("task-1", "nginx"));
  ASSERT_TRUE(updated.ok());
  EXPECT_GT(std::stoll(JStr((*updated)["metadata"], "resourceVersion")),
            std::stoll(JStr((*created)["metadata"], "resourceVersion")));
  EXPECT_EQ(s.Object(kPods, "task-1")["spec"]["containers"][0]["image"], "nginx");
  EXPECT_EQ(s.queries().back(), "fieldManager=kecs&force=true");
  auto got = c.Get(kPods + "/task-1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(JStr((*got)["metadata"], "uid"), JStr((*created)["metadata"], "uid"));
  EXPECT_EQ(c.Get(kPods + "/nope").status().code(), Code::kNotFound);
  // An object whose name is not its URL's is the server's 422, not retried.
  EXPECT_EQ(c.Apply(kPods + "/task-2", Pod("task-3")).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(c.Delete(kPods + "/task-1").ok());
  EXPECT_TRUE(c.Delete(kPods + "/task-1").ok());  // already gone
  EXPECT_EQ(s.Count(kPods), 0u);
}

TEST(K8sClient, ConflictsAndServerErrorsAreRetriedWithinABudget) {
  FakeKubeApiServer s;
  Client c(Creds(s), Fast());
  s.FailNext(409, 2);
  s.FailNext(503, 1);
  ASSERT_TRUE(c.Apply(kPods + "/task-1", Pod("task-1")).ok());
  EXPECT_EQ(s.requests("PATCH"), 4);
  s.FailNext(500, 10);
  auto r = c.Apply(kPods + "/task-2", Pod("task-2"));
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(s.requests("PATCH"), 4 + 6);  // the first try and 5 retries
}

TEST(K8sClient, MergePatchesAndDeletesAreRetriedToo) {
  FakeKubeApiServer s;
  Client c(Creds(s), Fast());
  ASSERT_TRUE(c.Apply(kPods + "/task-1", Pod("task-1")).ok());
  s.FailNext(503, 2, "PATCH");
  auto patched = c.MergePatch(kPods + "/task-1", {{"spec", {{"activeDeadlineSeconds", 5}}}});
  ASSERT_TRUE(patched.ok()) << patched.status().ToString();
  EXPECT_EQ(s.Object(kPods, "task-1")["spec"]["activeDeadlineSeconds"], 5);
  EXPECT_EQ(s.Object(kPods, "task-1")["spec"]["containers"][0]["image"], "busybox") << "a merge patch keeps the rest";
  EXPECT_EQ(c.MergePatch(kPods + "/nope", {{"spec", Json::object()}}).status().code(), Code::kNotFound);
  s.FailNext(409, 1, "DELETE");
  s.FailNext(500, 1, "DELETE");
  EXPECT_TRUE(c.Delete(kPods + "/task-1").ok());
  EXPECT_EQ(s.Count(kPods), 0u);
  // Beyond the budget, the server's answer.
  ASSERT_TRUE(c.Apply(kPods + "/task-2", Pod("task-2")).ok());
  s.FailNext(503, 10, "DELETE");
  EXPECT_EQ(c.Delete(kPods + "/task-2").code(), Code::kUnavailable);
}

TEST(K8sClient, A401IsAnsweredWithTheRotatedToken) {
  kecs::testing::TempDir d;
  FakeKubeApiServer s("token-2");
  std::ofstream(d.path() + "/token") << "token-1\n";
  Credentials creds = Creds(s, "token-1");
  creds.token_file = d.path() + "/token";
  Client c(creds, Fast());
  EXPECT_EQ(c.Get(kPods).status().code(), Code::kPermissionDenied);  // token-1 is refused, the file still says so
  std::ofstream(d.path() + "/token") << "token-2\n";                 // the kubelet rotates it
  auto list = c.Get(kPods);
  ASSERT_TRUE(list.ok()) << list.status().message();
  EXPECT_EQ(s.requests("GET"), 4);  // each call: the refused try, then one with the file read again
  // A bare token with nothing to refresh it from is not retried.
  Client fixed(Creds(s, "wrong"), Fast());
  EXPECT_EQ(fixed.Get(kPods).status().code(), Code::kPermissionDenied);
  EXPECT_EQ(s.requests("GET"), 5);
}

TEST(K8sClient, ExecPluginCredentialsAreUsedAndRefreshedAfterA401) {
  kecs::testing::TempDir d;
  FakeKubeApiServer s("plugin-token-1");
  std::string plugin = d.path() + "/plugin.sh";
  std::ofstream(plugin) << "#!/bin/sh\nprintf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                           "\"status\":{\"token\":\"%s\"}}' \"$(cat " << d.path() << "/current)\"\n";
  chmod(plugin.c_str(), 0700);
  std::ofstream(d.path() + "/current") << "plugin-token-1";
  Credentials creds = Creds(s);
  creds.exec = ExecPlugin{"client.authentication.k8s.io/v1", plugin, {}, {}, d.path()};
  Client c(creds, Fast());
  ASSERT_TRUE(c.Get(kPods).ok());
  s.SetToken("plugin-token-2");
  std::ofstream(d.path() + "/current") << "plugin-token-2";
  auto again = c.Get(kPods);
  EXPECT_TRUE(again.ok()) << again.status().message();
}

TEST(K8sClient, ASlowServerIsATimeoutNotAHang) {
  FakeKubeApiServer s;
  Client::Options o = Fast();
  o.timeout = std::chrono::seconds(1);
  Client c(Creds(s), o);
  s.DelayNext(std::chrono::milliseconds(2500));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(c.Get(kPods).status().code(), Code::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_TRUE(c.Get(kPods).ok());  // the next answer is prompt
}

// What a ListWatch handler saw.
struct Seen {
  std::mutex mu;
  std::vector<std::string> events;  // "ADDED task-1", ...
  int lists = 0;
  size_t last_list_size = 0;
  size_t count() {
    std::lock_guard<std::mutex> l(mu);
    return events.size();
  }
};

TEST(K8sClient, WatchesReconnectFromTheLastVersionAndRelistAfterA410) {
  FakeKubeApiServer s;
  s.bookmark_interval = std::chrono::milliseconds(50);
  Client c(Creds(s), Fast());
  s.Put(kPods, Pod("task-0"));
  Seen seen;
  std::atomic<bool> stop{false};
  Status result = Status::Ok();
  std::thread t([&] {
    result = c.ListWatch(
        kPods + "?labelSelector=kecs.dev%2Fmanaged-by%3Dkecs",
        [&](const Json& list) {
          std::lock_guard<std::mutex> l(seen.mu);
          seen.lists++;
          seen.last_list_size = list["items"].size();
          return Status::Ok();
        },
        [&](const WatchEvent& e) {
          std::lock_guard<std::mutex> l(seen.mu);
          seen.events.push_back(e.type + " " + JStr(e.object["metadata"], "name"));
          return Status::Ok();
        },
        stop);
  });
  ASSERT_TRUE(WaitFor([&] { return s.watches() == 1; }));
  ASSERT_TRUE(c.Apply(kPods + "/task-1", Pod("task-1")).ok());
  ASSERT_TRUE(WaitFor([&] { return seen.count() == 1; }));

  // A dropped connection: the client reconnects from the last version it saw, so the
  // events made meanwhile arrive once each, none lost, none repeated.
  s.DropWatchesAfter(1);
  ASSERT_TRUE(c.Apply(kPods + "/task-2", Pod("task-2")).ok());
  ASSERT_TRUE(c.Apply(kPods + "/task-3", Pod("task-3")).ok());
  ASSERT_TRUE(c.Delete(kPods + "/task-1").ok());
  ASSERT_TRUE(WaitFor([&] { return seen.count() == 4; }));
  EXPECT_GE(c.watch_connections(), 2);

  // Compaction: the open watch gets ERROR 410; the client lists again (all three pods
  // that exist) and watches on from the new list.
  s.Compact();
  ASSERT_TRUE(WaitFor([&] { return c.relists() == 1; }));
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> l(seen.mu);
    return seen.lists == 2;
  }));
  ASSERT_TRUE(c.Apply(kPods + "/task-4", Pod("task-4")).ok());
  ASSERT_TRUE(WaitFor([&] { return seen.count() == 5; }));
  stop = true;
  t.join();
  EXPECT_TRUE(result.ok()) << result.message();
  std::lock_guard<std::mutex> l(seen.mu);
  EXPECT_EQ(seen.events, (std::vector<std::string>{"ADDED task-1", "ADDED task-2", "ADDED task-3", "DELETED task-1",
                                                   "ADDED task-4"}));
  EXPECT_EQ(seen.last_list_size, 3u);  // task-0, task-2, task-3
}

TEST(K8sClient, AnUnreachableServerIsUnavailable) {
  Credentials creds;
  creds.server = "http://127.0.0.1:1";
  Client c(creds, Fast());
  EXPECT_EQ(c.Get(kPods).status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace kecs::runtime::kubernetes
