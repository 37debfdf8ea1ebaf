#!/usr/bin/env bash
# Installs every build, runtime and test dependency of kecs from Debian 12's archive.
# Idempotent: packages already present are left alone, and apt is only asked for the
# missing ones. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config python3
  # libraries (see docs/design.md for why each)
  libboost-dev libboost-system-dev nlohmann-json3-dev libsqlite3-dev
  libspdlog-dev libfmt-dev libcli11-dev libssl-dev libnl-3-dev libnl-route-3-dev libnftables-dev libldns-dev libpcre2-dev
  # VPC flow logs: the router's drops (NFLOG) and accepted flows (conntrack with accounting)
  libnetfilter-log-dev libnetfilter-conntrack-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # data plane (local runtime)
  iproute2 nftables runc skopeo umoci
  # containers as the ECS agent runs them: an init for initProcessEnabled (tini-static)
  # and Docker's default seccomp profile (/usr/share/containers/seccomp.json)
  tini golang-github-containers-common
  # load balancers' data plane: one HAProxy (master-worker) per load balancer, run by kecs
  haproxy
  # ECR repository URIs (<account>.dkr.ecr.<region>.localhost): nss-myhostname resolves
  # *.localhost to the loopback addresses once "myhostname" is on the hosts line (below)
  libnss-myhostname
  # tests and benchmarks
  awscli python3-boto3 python3-pytest python3-pytest-xdist busybox-static docker-registry curl wrk iputils-ping openssl
  # ssh-keygen: the EC2 key pair tests check fingerprints and private keys with it
  openssh-client
  # /metrics (issue 15): prometheus-cpp builds the exposition; the tests scrape it with
  # Prometheus itself and check it with promtool (package prometheus)
  prometheus-cpp-dev prometheus
  # the Kubernetes runtime (issue 16): kubeconfig files are YAML; the API client is libcurl
  libyaml-cpp-dev libcurl4-openssl-dev
  # the topology page's browser test (tests/e2e/test_topology_ui.py): Debian's chromium,
  # driven by npm's playwright-core (tests/ui, installed below) on Node.js
  chromium nodejs
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# kecs starts its own HAProxy per load balancer (/usr/sbin/haproxy, configs under its data
# dir) and never uses the package's service. Debian's package enables and starts
# haproxy.service; on a systemd host, stop and disable it, so that nothing else runs an
# HAProxy of its own beside kecs's (each run of this script checks again).
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  if systemctl is-enabled --quiet haproxy.service 2>/dev/null || systemctl is-active --quiet haproxy.service 2>/dev/null; then
    echo "install-deps: stopping and disabling haproxy.service (kecs runs HAProxy itself)"
    $SUDO systemctl disable --now haproxy.service
  fi
fi

# The tests run Prometheus on a free port with their own configuration; Debian's package
# enables and starts prometheus.service (port 9090). Stop and disable it, as haproxy's.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  if systemctl is-enabled --quiet prometheus.service 2>/dev/null || systemctl is-active --quiet prometheus.service 2>/dev/null; then
    echo "install-deps: stopping and disabling prometheus.service (the tests run Prometheus themselves)"
    $SUDO systemctl disable --now prometheus.service
  fi
fi

# ECR's repository URIs name hosts under .localhost, which "files dns" does not resolve.
# nss-myhostname does: put "myhostname" on the hosts line of /etc/nsswitch.conf, once
# (Debian's package adds it itself on install; this keeps a hand-edited file right too).
if [ -f /etc/nsswitch.conf ] && ! grep -Eq '^hosts:.*\bmyhostname\b' /etc/nsswitch.conf; then
  echo "install-deps: adding myhostname to the hosts line of /etc/nsswitch.conf"
  $SUDO sed -i -E 's/^(hosts:[[:space:]]+files)/\1 myhostname/' /etc/nsswitch.conf
fi

# npm packages of the tests, each directory pinned by its package-lock.json: tests/ui
# (playwright-core, driving Debian's chromium for the topology page's browser test) and
# tests/k8s (kubernetes-models: the Kubernetes OpenAPI schema the e2e suite validates
# kecs's manifests against). Debian ships npm apart from nodejs (another nodejs build may
# bring its own). `npm ci` runs only when the lock file changed since the last install
# (its hash is kept in node_modules/.kecs-lock-sha256).
if ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: installing npm"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq --no-install-recommends npm
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for dir in "$ROOT/tests/ui" "$ROOT/tests/k8s"; do
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  have=$(cat "$dir/node_modules/.kecs-lock-sha256" 2>/dev/null || true)
  if [ "$want" != "$have" ]; then
    echo "install-deps: npm ci in ${dir#"$ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error && echo "$want" > node_modules/.kecs-lock-sha256)
  fi
done
