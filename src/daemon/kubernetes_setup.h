#pragma once
// The kubernetes runtime as the daemon runs it (issue 16): the credentials (a kubeconfig
// and its context, else in-cluster), the API client, a first request that proves the API
// server answers and accepts them, and each pod's ECS facts read from the store.
#include <memory>
#include <string>

#include "base/status.h"
#include "daemon/config.h"
#include "runtime/kubernetes/kubernetes_runtime.h"
#include "state/store.h"

namespace kecs::daemon {

// The credentials `kecs start --runtime kubernetes` uses: --kubeconfig (and --context),
// else the first file of $KUBECONFIG, else ~/.kube/config if it exists, else the pod's
// service account (in-cluster). NotFound, saying what was tried, when none is there.
Result<runtime::kubernetes::Credentials> KubernetesCredentials(const Config& cfg);

// The task's ECS facts for its Pod, read from the store: its region (from its ARN), task
// definition revision, launch type, subnets, security groups and assignPublicIp, the node
// its container instance stands for (attribute kecs.dev/node), the Cloud Map services its
// service registers it in (with their DNS names), and which variables are secrets.
Result<runtime::kubernetes::PodFacts> PodFactsOf(state::Store& store, const runtime::TaskSpec& spec);

// The runtime, connected: fails when the API server cannot be reached or refuses the
// credentials (the message names the server, never a secret).
Result<std::unique_ptr<runtime::kubernetes::KubernetesRuntime>> MakeKubernetesRuntime(
    const Config& cfg, state::Store& store, runtime::kubernetes::ImageResolver resolver);

}  // namespace kecs::daemon
