#!/usr/bin/env bash
# Set-up command 2: installs the dependencies, builds kecs, and runs every test suite:
# unit tests (no root), privileged integration tests (as root: netns, nftables, runc) and
# end-to-end tests (the real daemon driven by the aws CLI and boto3). Ends with a summary
# and exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh || exit 1
./scripts/build.sh || exit 1

declare -A result
run() {
  local name=$1; shift
  echo "==== $name"
  local t0=$SECONDS
  if "$@"; then result[$name]="PASS ($((SECONDS - t0))s)"; else result[$name]="FAIL ($((SECONDS - t0))s)"; fi
}

run unit ctest --test-dir build -L unit --output-on-failure --no-tests=error -j "$(nproc)"
if [ "$(id -u)" -eq 0 ]; then
  run privileged ctest --test-dir build -L privileged --output-on-failure --no-tests=error
else
  echo "==== privileged: skipped (needs root: network namespaces, nftables, runc)"
fi
run e2e ctest --test-dir build -L e2e --output-on-failure --no-tests=error -V

echo
echo "==== summary"
failed=0
for k in unit privileged e2e; do
  [ -n "${result[$k]:-}" ] || continue
  echo "  $k: ${result[$k]}"
  [[ ${result[$k]} == PASS* ]] || failed=1
done
if [ $failed -eq 0 ]; then echo "ALL TESTS PASSED"; else echo "SOME TESTS FAILED"; fi
exit $failed
