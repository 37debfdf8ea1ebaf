#!/usr/bin/env bash
# Configures and builds kecs (Release with debug info) into ./build. Warnings are errors
# here (KECS_WERROR): this is the build the project's developers and CI use.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKECS_WERROR=ON >/dev/null
cmake --build build --parallel "$(nproc)"
