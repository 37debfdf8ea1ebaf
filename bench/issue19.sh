#!/usr/bin/env bash
# Issue 19's benchmarks in one run on one machine (docs/benchmarks.md, "Issue 19: the goals
# from one run"). As root, with the build in ../build; about 25 minutes. BEFORE=<dir> names a
# directory holding an older kecs and kecs-shim to measure beside this build where a bench
# takes a baseline (api_load.py). Results go to bench/results/issue19/.
set -euo pipefail
cd "$(dirname "$0")"
OUT=results/issue19
mkdir -p "$OUT"
ROOT=$(cd .. && pwd)
BIN=$ROOT/build/src/daemon/kecs
step() { echo; echo "==== $* ($(date -u +%H:%M:%S))"; }
step "machine"; uname -r; nproc; grep MemTotal /proc/meminfo; uptime
step "microbench: 100,000 tasks through the handler; IPAM"
"$ROOT/build/bench/kecs_microbench" --benchmark_filter='Tasks100k|Ipv4' --benchmark_min_time=0.3 \
  --benchmark_out="$OUT/micro.json" --benchmark_out_format=json | tee "$OUT/micro.txt"
step "microbench: the sweep with the store's checkpointer idle (its disk syncs' share of the holds)"
KECS_BENCH_CHECKPOINTER=0 "$ROOT/build/bench/kecs_microbench" --benchmark_filter='Tasks100k_Sweep' \
  --benchmark_out="$OUT/micro_sweep_no_checkpointer.json" --benchmark_out_format=json | tee "$OUT/micro_sweep_no_checkpointer.txt"
step "api_load.py"
/usr/bin/python3 api_load.py --kecs "$BIN" ${BEFORE:+--before "$BEFORE/kecs"} --out "$OUT/api_load.json" | tee "$OUT/api_load.txt"
step "sg_policy.py"
/usr/bin/python3 sg_policy.py --kecs "$BIN" --rounds 0 --out "$OUT/sg_policy.json" | tee "$OUT/sg_policy.txt"
step "task_start.py: latency with 100 running, the runc floor, throughput"
/usr/bin/python3 task_start.py --kecs "$BIN" --phases latency,throughput --out "$OUT/task_start.json" | tee "$OUT/task_start.txt"
step "task_start.py: 1,000 tasks at once"
/usr/bin/python3 task_start.py --kecs "$BIN" --phases capacity --cap 1000 --batch 50 --out "$OUT/task_capacity.json" | tee "$OUT/task_capacity.txt"
step "store_daemon.py: the daemon over 100,000 tasks (RSS, WAL)"
KECS_BIN="$BIN" /usr/bin/python3 store_daemon.py --out "$OUT/store_daemon.json" | tee "$OUT/store_daemon.txt"
step "done"
