// kecs: a local Amazon ECS with a real VPC data plane.
//
//   kecs start     run the daemon in the foreground
//   kecs status    ask a running daemon how it is
//   kecs version   print the version
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "base/log.h"
#include "daemon/client.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/version.h"

namespace {

// Binds a flag to its KECS_* variable: the flag wins, then the variable, then the default.
template <typename T>
CLI::Option* Flag(CLI::App* app, const std::string& name, T& target, const std::string& env,
                  const std::string& help) {
  return app->add_option(name, target, help)->envname(env)->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kecs: a local Amazon ECS with a real VPC data plane"};
  app.require_subcommand(1);
  kecs::daemon::Config cfg;

  CLI::App* start = app.add_subcommand("start", "Run the daemon in the foreground");
  Flag(start, "--host", cfg.host, "KECS_HOST", "Address to listen on");
  Flag(start, "--port", cfg.port, "KECS_PORT", "Port to listen on (0 picks a free one)");
  Flag(start, "--data-dir", cfg.data_dir, "KECS_DATA_DIR", "State directory (default ~/.kecs)");
  Flag(start, "--runtime", cfg.runtime, "KECS_RUNTIME",
       "local (default on Linux as root), simulated or kubernetes");
  Flag(start, "--region", cfg.region, "KECS_REGION", "Region for requests that carry none");
  Flag(start, "--account-id", cfg.account_id, "KECS_ACCOUNT_ID", "Account id in ARNs");
  Flag(start, "--log-level", cfg.log_level, "KECS_LOG_LEVEL",
       "trace, debug, info (default), warn, error or off");
  Flag(start, "--log-format", cfg.log_format, "KECS_LOG_FORMAT", "text or json");
  start->add_flag("--strict,!--no-strict", cfg.strict,
                  "Refuse what AWS refuses where kecs is lenient by default")
      ->envname("KECS_STRICT");
  Flag(start, "--auth-keys", cfg.auth_keys, "KECS_AUTH_KEYS",
       "AKID:SECRET[,...]: verify SigV4 signatures against these key pairs");
  Flag(start, "--http-threads", cfg.http_threads, "KECS_HTTP_THREADS", "HTTP worker threads");
  start->add_flag("--validate-responses", cfg.validate_responses,
                  "Check every response against the AWS model (for tests)")
      ->envname("KECS_VALIDATE_RESPONSES");

  std::string status_url;
  CLI::App* status = app.add_subcommand("status", "Show the state of a running daemon");
  Flag(status, "--host", cfg.host, "KECS_HOST", "Daemon address");
  Flag(status, "--port", cfg.port, "KECS_PORT", "Daemon port");

  app.add_subcommand("version", "Print the version");

  CLI11_PARSE(app, argc, argv);

  if (app.got_subcommand("version")) {
    std::printf("kecs %s\n", kecs::daemon::kVersion);
    return 0;
  }
  if (app.got_subcommand("status")) {
    return kecs::daemon::PrintStatus(cfg.host, static_cast<uint16_t>(cfg.port));
  }
  if (!kecs::log::Init(cfg.log_level, cfg.log_format)) {
    std::fprintf(stderr, "kecs: invalid --log-level '%s' or --log-format '%s'\n",
                 cfg.log_level.c_str(), cfg.log_format.c_str());
    return 2;
  }
  if (auto st = cfg.Finalize(); !st.ok()) {
    std::fprintf(stderr, "kecs: %s\n", st.message().c_str());
    return 2;
  }
  return kecs::daemon::Run(cfg);
}
