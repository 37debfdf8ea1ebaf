// The topology page's server (api/ui/ui_server.h) behind a real HttpServer on a free
// loopback port, as the daemon wires it: the page, its Basic authentication, the snapshot
// stream over a WebSocket (a change shows up; Shutdown ends it) and a container's live
// output. No root.
#include "api/ui/ui_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <mutex>
#include <string>

#include "api/http/server.h"
#include "api/ui/snapshot.h"
#include "base/value_cipher.h"
#include "net/domain/vpc.h"
#include "runtime/simulated/simulated_runtime.h"
#include "state/store.h"
#include "unit/support/temp_dir.h"

namespace kecs::api::ui {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// A runtime whose containers' output is whatever the test appends.
class OutputRuntime : public runtime::SimulatedRuntime {
 public:
  void Append(const std::string& s) {
    std::lock_guard lock(mu_);
    out_ += s;
  }
  Result<runtime::ContainerOutput> ReadOutput(const std::string& task_id, const std::string& container,
                                              int64_t offset, size_t max) override {
    if (task_id != kTask || container != "app") return NotFound("no such container");
    std::lock_guard lock(mu_);
    runtime::ContainerOutput o;
    o.size = static_cast<int64_t>(out_.size());
    if (offset < o.size) o.data = out_.substr(static_cast<size_t>(offset), max);
    return o;
  }
  static constexpr const char* kTask = "0123456789abcdef0123456789abcdef";

 private:
  std::mutex mu_;
  std::string out_;
};

class UiServerTest : public ::testing::Test {
 protected:
  void Start(std::map<std::string, std::string> credentials = {}, UiServer::Options o = {}) {
    auto s = state::Store::Open(dir_.path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    o.credentials = std::move(credentials);
    o.poll = std::chrono::milliseconds(20);
    ui_ = std::make_unique<UiServer>(*store_, runtime_, o);
    store_->OnCommit([this] { ui_->Notify(); });
    HttpServer::Options so;
    so.threads = 2;
    so.upgrade_wanted = &UiServer::Wants;
    so.upgrade = [this](HttpRequest r, int fd) { ui_->Serve(std::move(r), fd); };
    server_ = std::make_unique<HttpServer>(
        [this](const HttpRequest& r) {
          HttpResponse nf;
          nf.status = 404;
          return UiServer::IsUiPath(r.Path()) ? ui_->Handle(r) : nf;
        },
        so);
    ASSERT_TRUE(server_->Listen("127.0.0.1", 0).ok());
    server_->Start();
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(500));
    if (ui_) ui_->Shutdown();
  }

  http::response<http::string_body> Get(const std::string& target, const std::string& auth = "",
                                        http::verb verb = http::verb::get) {
    tcp::socket sock(ioc_);
    sock.connect(tcp::endpoint(asio::ip::address_v4::loopback(), server_->port()));
    http::request<http::empty_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!auth.empty()) req.set(http::field::authorization, auth);
    http::write(sock, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(sock, buf, res);
    return res;
  }

  // The status a WebSocket upgrade request of `target` is answered with (101 when taken).
  int UpgradeStatus(const std::string& target, const std::string& auth = "", const std::string& origin = "") {
    tcp::socket sock(ioc_);
    sock.connect(tcp::endpoint(asio::ip::address_v4::loopback(), server_->port()));
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::upgrade, "websocket");
    req.set(http::field::connection, "Upgrade");
    req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    req.set(http::field::sec_websocket_version, "13");
    if (!auth.empty()) req.set(http::field::authorization, auth);
    if (!origin.empty()) req.set(http::field::origin, origin);
    http::write(sock, req);
    beast::flat_buffer buf;
    http::response_parser<http::empty_body> res;
    res.skip(true);  // the header only: a refusal's body is not needed
    http::read_header(sock, buf, res);
    return res.get().result_int();
  }

  using Ws = websocket::stream<tcp::socket>;
  // A WebSocket client of `target`; nullptr when the upgrade is refused.
  std::unique_ptr<Ws> Connect(const std::string& target, const std::string& auth = "") {
    auto ws = std::make_unique<Ws>(ioc_);
    ws->next_layer().connect(tcp::endpoint(asio::ip::address_v4::loopback(), server_->port()));
    ws->set_option(websocket::stream_base::decorator([auth](websocket::request_type& r) {
      if (!auth.empty()) r.set(http::field::authorization, auth);
    }));
    beast::error_code ec;
    ws->handshake("127.0.0.1", target, ec);
    if (ec) return nullptr;
    return ws;
  }

  static std::string Read(Ws& ws) {
    beast::flat_buffer buf;
    ws.read(buf);
    return beast::buffers_to_string(buf.data());
  }

  static std::string Basic(const std::string& user, const std::string& password) {
    return "Basic " + Base64Encode(user + ":" + password);
  }

  testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  OutputRuntime runtime_;
  std::unique_ptr<UiServer> ui_;
  std::unique_ptr<HttpServer> server_;
  asio::io_context ioc_;
};

TEST_F(UiServerTest, ServesThePageWithEverythingInline) {
  Start();
  auto res = Get("/ui");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_NE(res[http::field::content_type].find("text/html"), std::string::npos);
  EXPECT_NE(res.body().find("kecs topology"), std::string::npos);
  // Nothing is loaded from elsewhere: no external script, style or font.
  EXPECT_EQ(res.body().find("src=\"http"), std::string::npos);
  EXPECT_EQ(res.body().find("href=\"http"), std::string::npos);
  EXPECT_NE(std::string(res["Content-Security-Policy"]).find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(Get("/ui/snapshot.json").result_int(), 200);
  EXPECT_EQ(Get("/ui/nothing").result_int(), 404);
  EXPECT_EQ(Get("/ui", "", http::verb::post).result_int(), 405);
  EXPECT_EQ(Get("/ui/events").result_int(), 426);  // not an upgrade
}

TEST_F(UiServerTest, WithAccessKeysThePageAndItsStreamsNeedBasicCredentials) {
  Start({{"AKIDUI", "s3cret"}});
  auto res = Get("/ui");
  EXPECT_EQ(res.result_int(), 401);
  EXPECT_NE(std::string(res[http::field::www_authenticate]).find("Basic realm=\"kecs\""), std::string::npos);
  EXPECT_EQ(Get("/ui", Basic("AKIDUI", "wrong")).result_int(), 401);
  EXPECT_EQ(Get("/ui", Basic("AKIDOTHER", "s3cret")).result_int(), 401);
  EXPECT_EQ(Get("/ui", "Basic !!!notbase64").result_int(), 401);
  EXPECT_EQ(Get("/ui/snapshot.json").result_int(), 401);
  EXPECT_EQ(Get("/ui", Basic("AKIDUI", "s3cret")).result_int(), 200);
  EXPECT_EQ(Get("/ui/snapshot.json", Basic("AKIDUI", "s3cret")).result_int(), 200);

  EXPECT_EQ(UpgradeStatus("/ui/events"), 401);
  EXPECT_EQ(UpgradeStatus("/ui/events", Basic("AKIDUI", "wrong")), 401);
  EXPECT_EQ(Connect("/ui/events"), nullptr);
  auto ws = Connect("/ui/events", Basic("AKIDUI", "s3cret"));
  ASSERT_NE(ws, nullptr);
  EXPECT_NE(Read(*ws).find("\"type\":\"snapshot\""), std::string::npos);
  // Another site's page, which the browser would hand the kept credentials to: refused.
  EXPECT_EQ(UpgradeStatus("/ui/events", Basic("AKIDUI", "s3cret"), "http://evil.example"), 403);
  EXPECT_EQ(UpgradeStatus("/ui/logs?task=0123456789abcdef0123456789abcdef&container=app", Basic("AKIDUI", "s3cret"),
                          "http://127.0.0.1.evil.example"), 403);
  EXPECT_EQ(UpgradeStatus("/ui/events", Basic("AKIDUI", "s3cret"), "http://127.0.0.1"), 101);
}

TEST_F(UiServerTest, TheEventStreamSendsAChangeAndEndsAtShutdown) {
  Start();
  auto ws = Connect("/ui/events");
  ASSERT_NE(ws, nullptr);
  auto first = ParseJson(Read(*ws));
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)["type"], "snapshot");
  EXPECT_TRUE((*first)["snapshot"]["vpcs"].empty());
  EXPECT_EQ(ui_->Active(), 1);

  // A VPC appears in the store: the next frame shows it.
  net::Scope scope{"us-east-1", "000000000000", 1700000000};
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) -> Status {
    return net::CreateVpc(tx, scope, *net::Ipv4Cidr::Parse("10.5.0.0/16"), false, Json::array(), "default", false)
        .status();
  }).ok());
  auto next = ParseJson(Read(*ws));
  ASSERT_TRUE(next);
  ASSERT_EQ((*next)["snapshot"]["vpcs"].size(), 1u);
  EXPECT_EQ((*next)["snapshot"]["vpcs"][0]["cidr"], "10.5.0.0/16");
  EXPECT_GT((*next)["version"].get<int64_t>(), (*first)["version"].get<int64_t>());

  // Shutdown ends the stream with a close frame ("going away"), which the client answers.
  auto closed = std::async(std::launch::async, [&] {
    beast::flat_buffer buf;
    beast::error_code ec;
    ws->read(buf, ec);
    return ec;
  });
  server_->Shutdown(std::chrono::milliseconds(500));
  ui_->Shutdown();
  EXPECT_EQ(closed.get(), websocket::error::closed);
  EXPECT_EQ(ws->reason().code, websocket::close_code::going_away);
  EXPECT_EQ(ui_->Active(), 0);
}

TEST_F(UiServerTest, AnnotateFillsTheEdgesFlows) {
  UiServer::Options o;
  o.annotate = [](state::Tx&, Snapshot& s) {
    for (auto& e : s.edges) e.flows = FlowCount{7, 700, 6, 1};
    return Status::Ok();
  };
  Start({}, o);
  // A VPC's default group admits itself: one edge.
  net::Scope scope{"us-east-1", "000000000000", 1700000000};
  ASSERT_TRUE(store_->Write([&](state::Tx& tx) -> Status {
    return net::CreateVpc(tx, scope, *net::Ipv4Cidr::Parse("10.6.0.0/16"), false, Json::array(), "default", false)
        .status();
  }).ok());
  auto snap = ParseJson(Get("/ui/snapshot.json").body());
  ASSERT_TRUE(snap);
  ASSERT_FALSE((*snap)["edges"].empty());
  EXPECT_EQ((*snap)["edges"][0]["flows"]["packets"], 7);
  EXPECT_EQ((*snap)["edges"][0]["flows"]["rejected"], 1);
}

TEST_F(UiServerTest, TheLogStreamSendsTheTailThenWhatFollows) {
  Start();
  std::string big(kLogTailBytes + 100, 'x');
  big += "END-OF-OLD\n";
  runtime_.Append(big);
  auto ws = Connect(std::string("/ui/logs?task=") + OutputRuntime::kTask + "&container=app");
  ASSERT_NE(ws, nullptr);
  std::string got = Read(*ws);
  EXPECT_TRUE(ws->got_binary());
  EXPECT_EQ(got.size(), kLogTailBytes);  // the last 16 KiB, not the whole output
  EXPECT_TRUE(got.ends_with("END-OF-OLD\n"));
  runtime_.Append("a new line\n");
  EXPECT_EQ(Read(*ws), "a new line\n");
}

TEST_F(UiServerTest, TheLogStreamChecksItsParametersAndSaysWhenThereIsNoOutput) {
  Start();
  for (const char* bad : {"/ui/logs", "/ui/logs?task=xyz&container=app", "/ui/logs?task=0123456789abcdef0123456789abcdef",
                          "/ui/logs?task=0123456789abcdef0123456789abcdef&container=a%20b",
                          "/ui/logs?task=0123456789abcdef0123456789abcdef&container=app&extra=1"}) {
    EXPECT_EQ(UpgradeStatus(bad), 400) << bad;
    EXPECT_EQ(Connect(bad), nullptr) << bad;
  }
  auto ws = Connect("/ui/logs?task=fedcba9876543210fedcba9876543210&container=app");
  ASSERT_NE(ws, nullptr);
  auto msg = ParseJson(Read(*ws));
  ASSERT_TRUE(msg);
  EXPECT_EQ((*msg)["type"], "error");
  EXPECT_NE((*msg)["message"].get<std::string>().find("no output yet"), std::string::npos);
}

}  // namespace
}  // namespace kecs::api::ui
