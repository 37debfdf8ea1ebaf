#pragma once
// A fake Kubernetes API server for the kubernetes runtime's tests (issue 16): real HTTP on
// a loopback port, and honest about what clients depend on. Every write gets the next
// resourceVersion; lists carry the collection's; watches replay the event history from a
// resourceVersion, then stream live events, with BOOKMARKs; a resourceVersion older than
// the last compaction gets an ERROR event with code 410, as etcd's compaction makes real
// servers answer. Faults on demand: the next requests answered 409, 401 or 5xx, slow
// answers, dropped watch connections, compaction.
//
// Paths: /api/v1/namespaces[/<name>], /api/v1/namespaces/<ns>/<resource>[/<name>[/status]],
// /apis/<group>/<version>/namespaces/<ns>/<resource>[/<name>[/status]], the cluster-scoped
// /api/v1/nodes[/<name>], and every namespaced resource across namespaces
// (/api/v1/pods, /apis/networking.k8s.io/v1/networkpolicies) for lists and watches.
// labelSelector: equality and set-less terms ("a=b,c==d,e!=f,g,!h"), URL-encoded or not.
//
// Writes, as a real API server takes them:
//   PATCH application/apply-patch+yaml   server-side apply: needs a fieldManager; creates
//                                        or merges maps deeply (lists are replaced whole)
//   PATCH application/merge-patch+json   RFC 7386 on an existing object; a
//                                        metadata.resourceVersion that is not the current
//                                        one is a 409 Conflict
//   PATCH .../<name>/status              merge patch of the status only (as a kubelet writes)
//   DELETE [?gracePeriodSeconds=N]       immediate (the fake has no graceful deletion); a
//                                        namespace takes its objects with it
// Writes to the main resource keep the stored status. A Pod's spec is immutable but for
// container and init container images, terminationGracePeriodSeconds and
// activeDeadlineSeconds (set, or lowered): any other change is 422 Invalid.
//
// The simulated kubelet (EnableKubelet; off by default) is the nodes' side: AddNode makes
// Ready Nodes, AddImage puts a manifest in the registry the fake also serves (the
// Distribution API under /v2/, no credentials, so skopeo resolves digests against it; it
// stands for every registry: a reference's host is ignored). Every 20 ms it moves each
// Pod on one step, writing status through the store as a kubelet's PATCHes would (a new
// resourceVersion, a watch event):
//   unbound       bound to the first Ready node (spec.nodeName), or PodScheduled False
//   bound         startTime, hostIP, podIP (10.244.0.0/16; the node's with hostNetwork),
//                 conditions, every container waiting ContainerCreating (PodInitializing
//                 behind init containers)
//   then          per container: running (imageID <repo>@sha256:.., containerID), or
//                 waiting ErrImagePull and then ImagePullBackOff, with a message naming
//                 the image, until the image is added; init containers run to exit 0 first
//   deadline      past activeDeadlineSeconds: every container terminated (exit 0,
//                 Completed, or the code SetStopExitCode chose), phase Failed, reason
//                 DeadlineExceeded; the pod stays until deleted
//   all ended     phase Succeeded (every exit 0) or Failed (restartPolicy Never)
// Test hooks: ExitContainer (a container ends by itself: its code and reason, e.g.
// OOMKilled), Evict (phase Failed, reason Evicted; container states stay as they were),
// SetNodeReady. The kubelet only advances states, so statuses written by a client
// (status PATCHes) stay.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/json.h"

namespace kecs::testing {

class FakeKubeApiServer {
 public:
  explicit FakeKubeApiServer(std::string token = "", uint16_t port = 0);

  ~FakeKubeApiServer();

  std::string url() const;
  uint16_t port() const;
  // The registry's host, as image references name it.
  std::string registry_host() const;

  // ---- faults ----
  // The next `n` requests (not watches, not the registry's) are answered `status` with a
  // Status body. With `methods` ("PATCH,DELETE"), only requests of those methods count.
  void FailNext(int status, int n = 1, const std::string& methods = "");
  void DelayNext(std::chrono::milliseconds d);
  // Watch connections close (without a terminating chunk) after `n` more events each.
  void DropWatchesAfter(int n);
  // Forgets the history: a watch from an older resourceVersion gets 410, and open watches
  // get an ERROR 410 event now.
  void Compact();
  void SetToken(std::string t);
  std::chrono::milliseconds bookmark_interval{200};

  // ---- state ----
  // Writes an object directly (as another client would), at `collection`/`name`.
  void Put(const std::string& collection, Json obj);
  Json Object(const std::string& collection, const std::string& name);
  // Objects of `collection` (a namespaced one, or a resource across namespaces).
  std::vector<Json> List(const std::string& collection, const std::string& selector = "");
  size_t Count(const std::string& collection);
  int requests(const std::string& method);
  int watches() const;
  // The query strings of the requests received, in order.
  std::vector<std::string> queries();

  // ---- the registry ----
  // Puts "repo[:tag]" (tag "latest" by default; a host in front is ignored) in the
  // registry; returns its manifest digest.
  std::string AddImage(const std::string& ref);

  // ---- the simulated kubelet ----
  void EnableKubelet();
  // A Ready Node with `cpu` ("2", "1500m") and `memory` ("4Gi") allocatable; `labels` are
  // added to the usual ones (kubernetes.io/hostname, /os, /arch).
  void AddNode(const std::string& name, const std::string& cpu = "2", const std::string& memory = "4Gi",
               const std::map<std::string, std::string>& labels = {});
  // Output of container `container` of pod `pod` (in `pods`, a namespace's pods
  // collection), served at .../pods/<pod>/log?container=<container>.
  void AppendLog(const std::string& pods, const std::string& pod, const std::string& container,
                 const std::string& text);
  void SetNodeReady(const std::string& name, bool ready);
  // The container (its name in the pod) ends by itself with `code` and `reason` ("" :
  // Completed for 0, else Error). False when it is not running.
  bool ExitContainer(const std::string& ns, const std::string& pod, const std::string& container, int code,
                     const std::string& reason = "");
  // The kubelet evicts the pod (phase Failed, reason Evicted).
  bool Evict(const std::string& ns, const std::string& pod,
             const std::string& message = "The node was low on resource: memory.");
  // The exit code a container reports when its pod's deadline stops it (default 0).
  void SetStopExitCode(const std::string& ns, const std::string& pod, const std::string& container, int code);

 private:
  // Boost.Asio's types, defined in fake_kube_apiserver.cc so that the files including this
  // header do not parse Boost.Asio and Boost.Beast.
  class Socket;  // a connection's socket (a tcp::socket)
  struct Net;    // the io_context and the listening socket

  struct Event {
    int64_t rv;
    std::string collection;
    std::string type;
    Json object;
  };
  struct Failure {
    int status;
    std::string methods;
  };
  struct Image {
    std::string manifest;
    std::string digest;
  };

  // Caller holds mu_.
  Json Store(const std::string& collection, Json obj, bool existed);
  // Caller holds mu_.
  void Remove(const std::string& key);
  void AcceptLoop();
  // Answers one API request (not a watch, not the registry) under mu_.
  void Handle(const std::string& method, const std::string& collection, const std::string& name,
              const std::string& sub, std::map<std::string, std::string>& params, const std::string& content_type,
              const std::string& request_body, int* status, Json* body);
  void Serve(Socket& sock);
  // Caller holds mu_. The image a pod names, if the registry has it.
  const Image* FindImage(const std::string& ref);
  // The Distribution API's reading side: /v2/ and manifests by tag or digest.
  template <typename Req>
  bool ServeRegistry(Socket& sock, const Req& req, const std::string& method, const std::string& path);
  void Watch(Socket& sock, const std::string& collection, std::map<std::string, std::string> params);
  // Caller holds mu_. A waiting container starts, or its image pull fails.
  void Advance(Json& st, const Json& container, double now, bool run_to_end);
  // Caller holds mu_. One step of one pod; true when it changed.
  bool KubeletStep(const std::string& key, Json& pod, double now);
  void KubeletLoop();

  std::unique_ptr<Net> net_;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<Socket*> sockets_;
  std::vector<std::thread> threads_;
  std::string token_;
  int64_t rv_ = 100;
  int64_t compacted_below_ = 0;
  int compactions_ = 0;
  std::map<std::string, std::string> logs_;  // "<pods>/<pod>/<container>" -> output
  std::map<std::string, Json> objects_;
  std::vector<Event> events_;
  std::deque<Failure> failures_;
  std::chrono::milliseconds delay_{0};
  std::atomic<int> drop_after_{0};
  std::atomic<int> watches_{0};
  std::map<std::string, int> method_counts_;
  std::vector<std::string> queries_;
  // The registry and the kubelet (guarded by mu_).
  std::map<std::string, Image> images_;  // "<repo>:<tag>"
  int registry_requests_ = 0;
  bool kubelet_on_ = false;
  std::thread kubelet_thread_;
  std::condition_variable kubelet_cv_;  // wakes the kubelet to stop
  int nodes_added_ = 0;
  int next_pod_ip_ = 1;
  uint64_t containers_started_ = 0;
  std::map<std::string, int> stop_codes_;  // "<ns>/<pod>/<container>"
};

}  // namespace kecs::testing
