#include "daemon/daemon.h"

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "api/ec2/ec2_api.h"
#include "api/ecs/ecs_api.h"
#include "api/http/server.h"
#include "api/router.h"
#include "base/host.h"
#include "base/log.h"
#include "daemon/version.h"
#include "model/shapes.h"
#include "net/vpc.h"
#include "reconcile/network_hooks.h"
#include "reconcile/task_controller.h"
#include "runtime/simulated/simulated_runtime.h"
#include "state/store.h"

namespace kecs::daemon {
namespace {

Result<std::unique_ptr<runtime::Runtime>> MakeRuntime(const Config& cfg) {
  if (cfg.runtime == "simulated") return std::unique_ptr<runtime::Runtime>(new runtime::SimulatedRuntime());
  if (cfg.runtime == "local") {
    if (!Host().is_root) {
      return FailedPrecondition(
          "the local runtime needs root: it creates network namespaces, veth pairs, bridges "
          "and nftables rules and runs containers with runc. Run kecs as root, or start it "
          "with --runtime simulated (no data plane: tasks go through their states but nothing "
          "runs)");
    }
    return FailedPrecondition(
        "the local runtime is not available in this build yet; start with --runtime simulated");
  }
  return FailedPrecondition("the kubernetes runtime is not available in this build yet; start "
                            "with --runtime simulated");
}

}  // namespace

int Run(const Config& cfg) {
  // Block the shutdown signals in every thread; the main thread waits for them below.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto rt = MakeRuntime(cfg);
  if (!rt.ok()) {
    KLOG_ERROR("{}", rt.status().message());
    return 2;
  }
  auto store = state::Store::Open(cfg.data_dir);
  if (!store.ok()) {
    KLOG_ERROR("cannot open state: {}", store.status().message());
    return 2;
  }
  const auto started = std::chrono::steady_clock::now();

  reconcile::TaskHooks hooks;
  hooks.provision = [](state::Tx& tx, state::Object& t) {
    return reconcile::ProvisionNetwork(tx, t, Clock::Real().Now());
  };
  hooks.release = [](state::Tx& tx, state::Object& t) { return reconcile::ReleaseNetwork(tx, t); };
  reconcile::TaskController::Options copts;
  reconcile::TaskController controller(**store, **rt, hooks, copts);
  (*store)->OnCommit([&controller] { controller.Notify(); });

  api::ecs::EcsOptions eopts;
  eopts.host_cpu_units = Host().cpus * 1024;
  eopts.host_memory_mib = Host().memory_mib;
  net::RegionBootstrap regions;
  api::ecs::EcsApi ecs(**store, regions, eopts);

  api::Router::Options ropts;
  ropts.default_region = cfg.region;
  ropts.account_id = cfg.account_id;
  ropts.strict = cfg.strict;
  ropts.credentials = cfg.AuthKeyMap();
  ropts.validate_responses = cfg.validate_responses;
  state::Store* st = store->get();
  runtime::Runtime* runtime = rt->get();
  ropts.health = [st, runtime, started, &cfg] {
    Status db = st->db().Ping();
    double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return Json{
        {"status", db.ok() ? "ok" : "degraded"},
        {"version", kVersion},
        {"uptimeSeconds", uptime},
        {"runtime", {{"name", runtime->name()},
                     {"dataPlane", runtime->has_data_plane()},
                     {"description", runtime->Describe()}}},
        {"database", {{"status", db.ok() ? "ok" : db.message()},
                      {"path", st->db().path()},
                      {"schemaVersion", st->db().schema_version()}}},
        {"region", cfg.region},
        {"accountId", cfg.account_id},
        {"strict", cfg.strict},
    };
  };
  api::Router router(ropts);

  api::ErrorStyle ecs_style;
  ecs_style.validation_code = "InvalidParameterException";
  ecs_style.server_code = "ServerException";
  ecs_style.ecs_enum_wording = true;
  auto ecs_service = std::make_shared<api::Service>(model::EcsModel(), ecs_style);
  ecs.RegisterAll(*ecs_service);
  router.AddService(ecs_service);

  api::ec2::Ec2Api ec2(**store, regions);
  api::ErrorStyle ec2_style;
  ec2_style.validation_code = "InvalidParameterValue";
  ec2_style.server_code = "InternalError";
  ec2_style.ec2_missing_parameter = true;
  auto ec2_service = std::make_shared<api::Service>(model::Ec2Model(), ec2_style);
  ec2.RegisterAll(*ec2_service);
  router.AddService(ec2_service);

  api::HttpServer::Options sopts;
  sopts.threads = cfg.http_threads;
  api::HttpServer server([&router](const api::HttpRequest& r) { return router.Handle(r); }, sopts);
  if (Status s = server.Listen(cfg.host, static_cast<uint16_t>(cfg.port)); !s.ok()) {
    KLOG_ERROR("{}", s.message());
    return 2;
  }

  controller.Start();
  server.Start();
  KLOG_INFO("kecs {} listening on http://{}:{} (region {}, account {}, data dir {})", kVersion,
            cfg.host, server.port(), cfg.region, cfg.account_id, cfg.data_dir);
  KLOG_INFO("runtime: {}", (*rt)->Describe());
  if (cfg.strict) KLOG_INFO("strict mode: AWS's refusals where kecs is lenient by default");

  int sig = 0;
  sigwait(&sigs, &sig);
  KLOG_INFO("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  server.Shutdown(std::chrono::seconds(10));
  controller.Stop();
  store->reset();
  KLOG_INFO("stopped cleanly");
  return 0;
}

}  // namespace kecs::daemon
