#include "daemon/kubernetes_setup.h"

#include <cstdlib>

#include <fmt/format.h>

#include "base/env.h"
#include "base/strings.h"
#include "model/arn.h"
#include "model/kinds.h"
#include "model/service.h"
#include "net/domain/discovery.h"
#include "state/records/services.h"
#include "state/records/tasks.h"

namespace kecs::daemon {

namespace k8s = runtime::kubernetes;

Result<k8s::Credentials> KubernetesCredentials(const Config& cfg) {
  std::string path = cfg.kubeconfig;
  if (path.empty()) {
    if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
      for (const auto& p : Split(env, ':')) {
        if (!p.empty()) {
          path = p;
          break;
        }
      }
    }
  }
  if (path.empty()) {
    const char* home = std::getenv("HOME");
    std::string fallback = std::string(home && *home ? home : "/root") + "/.kube/config";
    if (Env::Default()->Exists(fallback)) path = fallback;
  }
  if (!path.empty()) return k8s::LoadKubeconfig(path, cfg.kube_context);
  auto in_cluster = k8s::InClusterConfig();
  if (in_cluster.ok()) return in_cluster;
  return NotFound(
      "no kubeconfig: pass --kubeconfig, set KUBECONFIG, write ~/.kube/config, or run kecs in a pod "
      "with a service account (" + in_cluster.status().message() + ")");
}

Result<k8s::PodFacts> PodFactsOf(state::Store& store, const runtime::TaskSpec& spec) {
  auto arn = model::Arn::Parse(spec.task_arn);
  if (!arn) return InvalidArgument("task " + spec.task_id + " has no task ARN");
  k8s::PodFacts facts;
  facts.region = arn->region;
  Status st = store.Read([&](state::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto row, tx.Get(model::kTask, arn->region, spec.task_id));
    if (!row) return NotFound("task " + spec.task_id + " is not in the store");
    ASSIGN_OR_RETURN(model::Task t, state::records::DecodeTask(*row));
    const std::string& def = t.task_definition_arn;
    if (size_t colon = def.rfind(':'); colon != std::string::npos) {
      facts.revision = std::atoi(def.c_str() + colon + 1);
    }
    facts.launch_type = std::string(model::ToString(t.launch_type));
    facts.subnets = t.internal.network.subnets;
    facts.security_groups = t.internal.network.security_groups;
    facts.assign_public_ip = t.internal.network.assign_public_ip;
    for (const auto& c : t.internal.containers) {
      for (const auto& secret : c.secrets) facts.secret_env[c.name].insert(secret.name);
    }
    if (t.internal.placement && !t.internal.placement->instance.empty()) {
      ASSIGN_OR_RETURN(auto inst, tx.Get(model::kInstance, t.region, t.internal.placement->instance));
      if (inst) {
        for (const auto& a : inst->doc.value("attributes", Json::array())) {
          if (JStr(a, "name") == "kecs.dev/node") facts.node = JStr(a, "value");
        }
      }
    }
    if (!t.internal.service.empty()) {
      ASSIGN_OR_RETURN(auto service, state::records::GetService(tx, t.region, t.cluster, t.internal.service));
      if (service) {
        for (const auto& r : model::RegistriesOf(*service, t.internal.deployment)) {
          std::string id = net::discovery::IdFromArnOrId(r.registry_arn);
          ASSIGN_OR_RETURN(auto sd, tx.Get(net::discovery::kService, t.region, id));
          if (!sd) continue;  // a registry that is gone: RegisterServiceTask reports it
          ASSIGN_OR_RETURN(auto ns, tx.Get(net::discovery::kNamespace, t.region, sd->parent));
          facts.discovery_services.push_back(id);
          facts.discovery_names.push_back(sd->name + (ns ? "." + JStr(ns->doc, "Name") : ""));
        }
      }
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return facts;
}

Result<std::unique_ptr<k8s::KubernetesRuntime>> MakeKubernetesRuntime(const Config& cfg, state::Store& store,
                                                                       k8s::ImageResolver resolver) {
  ASSIGN_OR_RETURN(k8s::Credentials creds, KubernetesCredentials(cfg));
  const std::string server = creds.server;
  auto client = std::make_shared<k8s::Client>(std::move(creds));
  // One request proves the server answers and takes the credentials.
  auto probe = client->Request("GET", "/api/v1/namespaces?limit=1");
  if (!probe.ok()) {
    return Status(probe.status().code(), fmt::format("the Kubernetes API server {} cannot be reached: {}", server,
                                                     probe.status().message()));
  }
  if (probe->status / 100 != 2) {
    Status why = k8s::StatusOf(*probe, "listing namespaces");
    return Status(why.code(), fmt::format("the Kubernetes API server {} refused kecs: {}", server, why.message()));
  }
  k8s::KubernetesOptions o;
  o.region = cfg.region;
  o.server = server;
  o.public_port_first = cfg.public_port_first;
  o.public_port_last = cfg.public_port_last;
  o.facts = [&store](const runtime::TaskSpec& spec) { return PodFactsOf(store, spec); };
  o.resolve_image = std::move(resolver);
  return std::make_unique<k8s::KubernetesRuntime>(std::move(client), std::move(o));
}

}  // namespace kecs::daemon
