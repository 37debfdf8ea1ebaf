// The task metadata endpoint inside a real network namespace: the listener at
// 169.254.170.2:80 there answers /v4/<id>/task from inside the namespace, refuses another
// task's credentials, and once closed leaves no socket of ours in the namespace, so its
// deletion frees it. Also the host-mode listener on a bridge of our own.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <set>

#include "api/metadata/metadata_service.h"
#include "net/kernel/metadata_listener.h"
#include "privileged/privileged.h"
#include "runtime/simulated/simulated_runtime.h"

namespace kecs::privileged {
namespace {

// A runtime whose tasks live in one named namespace.
class NetnsRuntime : public runtime::SimulatedRuntime {
 public:
  explicit NetnsRuntime(std::string path) : path_(std::move(path)) {}
  std::optional<std::string> MetadataNetns(const runtime::TaskSpec&) override { return path_; }

 private:
  std::string path_;
};

// GET `target` from address:port in the calling thread's namespace; "" when it cannot
// connect. Reads give up after 30 s so a silent server fails the test, not hangs it.
std::string HttpGet(const std::string& address, uint16_t port, const std::string& target) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: " + address + "\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

std::string Body(const std::string& response) {
  size_t p = response.find("\r\n\r\n");
  return p == std::string::npos ? "" : response.substr(p + 4);
}

// The inodes of the sockets this process has open.
std::set<std::string> OurSocketInodes() {
  std::set<std::string> out;
  DIR* d = opendir("/proc/self/fd");
  while (dirent* e = d ? readdir(d) : nullptr) {
    char target[256];
    std::string link = std::string("/proc/self/fd/") + e->d_name;
    ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    std::string t(target, static_cast<size_t>(n));
    if (t.starts_with("socket:[")) out.insert(t.substr(8, t.size() - 9));
  }
  if (d) closedir(d);
  return out;
}

// The inodes of the TCP sockets of the calling thread's namespace (TIME_WAIT ones have 0).
std::set<std::string> NetnsTcpInodes() {
  std::set<std::string> out;
  std::ifstream in("/proc/thread-self/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string f[10];
    for (auto& x : f) l >> x;
    if (f[9] != "0" && !f[9].empty()) out.insert(f[9]);
  }
  return out;
}

// How many sockets of this process live in namespace `ns`.
size_t OurSocketsIn(const std::string& ns) {
  std::set<std::string> ours = OurSocketInodes();
  size_t count = 0;
  Status st = net::netns::Run(ns, [&]() -> Status {
    for (const auto& ino : NetnsTcpInodes()) count += ours.count(ino);
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return count;
}

model::Task MakeTask(const std::string& id, const std::string& metadata_id, const std::string& credentials_id) {
  model::Task t;
  t.region = "us-east-1";
  t.id = id;
  t.cluster = "default";
  t.family = "web";
  t.task_arn = "arn:aws:ecs:us-east-1:000000000000:task/default/" + id;
  t.task_definition_arn = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1";
  t.last_status = model::TaskStatus::kRunning;
  t.internal.network_mode = model::NetworkMode::kAwsvpc;
  t.internal.task_role_arn = "arn:aws:iam::000000000000:role/app";
  t.internal.credentials_id = credentials_id;
  model::ContainerDefinition d;
  d.name = "app";
  d.image = "busybox";
  d.metadata_id = metadata_id;
  t.internal.containers.push_back(d);
  return t;
}

class MetadataListenerTest : public PrivilegedTest {};

TEST_F(MetadataListenerTest, ServesTheTaskInsideItsNamespaceAndLetsGoOfItWhenClosed) {
  std::string ns = P() + "-md-task";
  ASSERT_TRUE(net::netns::Create(ns).ok());
  std::vector<model::Task> tasks = {MakeTask("aaaa", "meta-a", "cred-a"), MakeTask("bbbb", "meta-b", "cred-b")};
  NetnsRuntime rt(std::string(net::netns::kRunDir) + "/" + ns);
  FakeClock clock(1764892800);
  api::metadata::MetadataService service(
      [&](const std::string& region, const std::string& id) -> Result<std::optional<model::Task>> {
        for (const auto& t : tasks) {
          if (t.region == region && t.id == id) return std::optional<model::Task>(t);
        }
        return std::optional<model::Task>();
      },
      rt, api::metadata::CredentialsIssuer(std::string(32, 'k')), api::metadata::MetadataService::Options{}, clock);
  service.Start();
  ASSERT_TRUE(service.Open(tasks[0], runtime::TaskSpec{}).ok());
  ASSERT_TRUE(service.Open(tasks[0], runtime::TaskSpec{}).ok());  // again: already open

  // A container may still listen on 0.0.0.0:80 beside the endpoint (nginx does).
  int app = -1;
  ASSERT_TRUE(net::netns::Run(ns, [&]() -> Status {
                app = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                sockaddr_in any{};
                any.sin_family = AF_INET;
                any.sin_port = htons(80);
                if (::bind(app, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0 || ::listen(app, 4) != 0) {
                  return PosixError("bind 0.0.0.0:80", errno);
                }
                return Status::Ok();
              }).ok());

  std::string task_doc, other_creds, own_creds;
  ASSERT_TRUE(net::netns::Run(ns, [&]() -> Status {
                task_doc = HttpGet(net::kTaskMetadataAddress, net::kTaskMetadataPort, "/v4/meta-a/task");
                own_creds = HttpGet(net::kTaskMetadataAddress, net::kTaskMetadataPort, "/v2/credentials/cred-a");
                other_creds = HttpGet(net::kTaskMetadataAddress, net::kTaskMetadataPort, "/v2/credentials/cred-b");
                return Status::Ok();
              }).ok());
  ASSERT_NE(task_doc.find("HTTP/1.1 200"), std::string::npos) << task_doc;
  Json j = Json::parse(Body(task_doc));
  EXPECT_EQ(j["TaskARN"], tasks[0].task_arn);
  EXPECT_EQ(j["Containers"][0]["Name"], "app");
  EXPECT_NE(own_creds.find("HTTP/1.1 200"), std::string::npos) << own_creds;
  EXPECT_TRUE(Json::parse(Body(own_creds))["AccessKeyId"].get<std::string>().starts_with("ASIA"));
  EXPECT_NE(other_creds.find("HTTP/1.1 400"), std::string::npos) << other_creds;
  // The host's namespace has no such listener of ours.
  EXPECT_EQ(HttpGet(net::kTaskMetadataAddress, net::kTaskMetadataPort, "/v4/meta-a/task").find("meta-a"),
            std::string::npos);

  ::close(app);
  EXPECT_GT(OurSocketsIn(ns), 0u);  // the listener, at least: the check below can fail
  service.Close("us-east-1", "aaaa");
  EXPECT_EQ(OurSocketsIn(ns), 0u);
  std::string after;
  ASSERT_TRUE(net::netns::Run(ns, [&]() -> Status {
                after = HttpGet(net::kTaskMetadataAddress, net::kTaskMetadataPort, "/v4/meta-a/task");
                return Status::Ok();
              }).ok());
  EXPECT_EQ(after, "");  // refused: nothing listens any more
  EXPECT_TRUE(net::netns::Delete(ns).ok());
  service.Stop();
}

TEST_F(MetadataListenerTest, HostListenerLivesOnABridgeOfOurOwn) {
  // Not 169.254.170.2: a daemon on this machine may serve that in the host's namespace.
  std::string link = P() + "-md", table = P() + "_metadata";
  net::MetadataAddress addr{.address = "169.254.170.99", .port = 80, .listen_port = 51699};
  auto fd = net::OpenHostListener(link, "kecs:metadata", table, addr);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  api::HttpServer server([](const api::HttpRequest& r) { return api::HttpResponse{200, {}, r.listener}; },
                         api::HttpServer::Options{.threads = 1});
  ASSERT_TRUE(server.AddListener(*fd, "host").ok());
  server.Start();
  // Port 80 reaches it through the redirect; port 80 itself stays free for the host's
  // own servers (a host-mode nginx).
  EXPECT_EQ(Body(HttpGet("169.254.170.99", 80, "/")), "host");
  int other = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(80);
  inet_pton(AF_INET, "169.254.170.99", &a.sin_addr);
  EXPECT_EQ(::bind(other, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  ::close(other);
  server.Shutdown(std::chrono::seconds(1));
  EXPECT_TRUE(net::RemoveHostListener(link, table).ok());
  EXPECT_TRUE(net::RemoveHostListener(link, table).ok());  // gone already
  EXPECT_EQ(Sh({"nft", "list", "table", "ip", table}).code != 0, true);
}

}  // namespace
}  // namespace kecs::privileged
