#!/usr/bin/env bash
# Set-up command 1: installs the dependencies, builds kecs, and starts the daemon in the
# foreground on 127.0.0.1:8080 with the embedded defaults. Extra arguments go to
# `kecs start` (e.g. --runtime simulated).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
exec ./build/src/daemon/kecs start "$@"
