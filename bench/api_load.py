#!/usr/bin/python3
"""The ECS API under concurrency (issue 19.2), with wrk against a simulated-runtime daemon.

For each kecs binary given (--kecs, and --before for a baseline measured in the same run),
starts a daemon with `--runtime simulated` on a free port and its own data dir (no root
needed), seeds it, and drives it with wrk (bench/api_load.lua: POST, X-Amz-Target,
application/x-amz-json-1.1):

  - listclusters:  ListClusters ({}), 10 clusters seeded, -c 8
  - describetasks: DescribeTasks of 100 tasks (seeded with RunTask), -c 8
  - runtask:       RunTask count=1 of a bridge task definition, -c 20 (every call creates
                   a task the reconciler then drives to RUNNING)

Each case runs --duration seconds (default 10) with `wrk -t2 --latency`; the script prints
requests/s, p50/p90/p99 latency and the daemon's CPU seconds per case, and writes them
with the machine facts to --out (bench/results/api_load.json). Benchmark settings:
KECS_LOG_LEVEL=info, KECS_VALIDATE_RESPONSES=false. About 45 s per binary with the defaults.
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

import benchlib
from benchlib import log, table
from publish_wrk import parse_wrk

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "api_load.lua")
CASES = ("listclusters", "describetasks", "runtask")
GOALS = {"runtask": "≥ 500 calls/s, p99 ≤ 50 ms", "describetasks": "≥ 1,500 req/s",
         "listclusters": "≥ 20,000 req/s"}


def wrk(endpoint, op, body, connections, duration, threads=2):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(body, f)
        body_file = f.name
    try:
        env = dict(os.environ, KECS_OP=op, KECS_BODY_FILE=body_file)
        p = subprocess.run(["wrk", f"-t{min(threads, connections)}", f"-c{connections}",
                            f"-d{duration}s", "--latency", "--timeout", "10s", "-s", LUA, endpoint + "/"],
                           env=env, capture_output=True, text=True, check=True)
        return parse_wrk(p.stdout)
    finally:
        os.unlink(body_file)


def run_binary(kecs_bin, label, duration, cases, task_memory=32):
    benchlib.conftest.KECS_BIN = os.path.abspath(kecs_bin)
    data_dir = tempfile.mkdtemp(prefix=f"kecs-api-load-{label}-")
    d = benchlib.Daemon(data_dir, runtime="simulated",
                        extra_env={"KECS_LOG_LEVEL": "info", "KECS_VALIDATE_RESPONSES": "false"})
    out = {"binary": os.path.abspath(kecs_bin), "cases": {}}
    try:
        d.start()
        pid = d.proc.pid
        log(f"{label}: kecs pid {pid} on {d.endpoint}")
        ecs = d.client("ecs")
        for i in range(10):
            ecs.create_cluster(clusterName=f"bench-{i}")
        ecs.register_task_definition(family="bench", containerDefinitions=[
            {"name": "app", "image": "busybox", "memory": task_memory, "essential": True}])
        arns = []
        for _ in range(10):
            arns += [t["taskArn"] for t in ecs.run_task(cluster="bench-0", taskDefinition="bench", count=10)["tasks"]]
        time.sleep(2)  # let the reconciler take the seeded tasks to RUNNING
        bodies = {
            "listclusters": ("ListClusters", {}, 8),
            "describetasks": ("DescribeTasks", {"cluster": "bench-0", "tasks": arns}, 8),
            "runtask": ("RunTask", {"cluster": "bench-1", "taskDefinition": "bench", "count": 1}, 20),
        }
        for case in cases:
            op, body, conns = bodies[case]
            cpu0 = benchlib.proc_cpu_seconds(pid)
            r = wrk(d.endpoint, op, body, conns, duration)
            r["daemon_cpu_s"] = round(benchlib.proc_cpu_seconds(pid) - cpu0, 2)
            r["connections"] = conns
            out["cases"][case] = r
            log(f"{label} {case}: {r['requests_per_s']} req/s, p50 {r.get('latency_p50_ms')} ms, "
                f"p99 {r.get('latency_p99_ms')} ms, non-2xx {r['non_2xx']}, daemon CPU {r['daemon_cpu_s']} s")
            time.sleep(1)
        if "runtask" in cases:
            # The tasks RunTask created: all there, and the reconciler keeps up.
            c = ecs.describe_clusters(clusters=["bench-1"])["clusters"][0]
            out["runtask_cluster_counts"] = {k: c[k] for k in ("runningTasksCount", "pendingTasksCount")}
            # RunTask answers 200 with a failure (RESOURCE:MEMORY) once the simulated
            # instance is full: the tasks placed per second, beside the calls per second.
            placed = c["runningTasksCount"] + c["pendingTasksCount"]
            r = out["cases"]["runtask"]
            r["tasks_placed"] = placed
            r["tasks_placed_per_s"] = round(placed / duration, 1)
            log(f"{label} runtask: {placed} tasks placed ({r['tasks_placed_per_s']}/s); "
                f"the other calls answered with failures")
        out["status"] = benchlib.proc_status(pid)
    finally:
        d.stop(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kecs", default=os.path.join(benchlib.REPO, "build", "src", "daemon", "kecs"))
    ap.add_argument("--before", help="a baseline kecs binary, measured first in the same run")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--task-memory", type=int, default=32,
                    help="MiB of the bench task definition (smaller: more RunTasks fit the simulated instance)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "api_load.json"))
    a = ap.parse_args()
    cases = [c for c in a.cases.split(",") if c]
    doc = {"machine": benchlib.machine(), "duration_s": a.duration, "runs": {}}
    if a.before:
        doc["runs"]["before"] = run_binary(a.before, "before", a.duration, cases, a.task_memory)
    doc["runs"]["after"] = run_binary(a.kecs, "after", a.duration, cases, a.task_memory)
    rows = []
    for label, run in doc["runs"].items():
        for case, r in run["cases"].items():
            rows.append([label, case, r["connections"], r["requests_per_s"], r.get("latency_p50_ms"),
                         r.get("latency_p90_ms"), r.get("latency_p99_ms"), r["non_2xx"],
                         r["daemon_cpu_s"], GOALS[case]])
    print(table(["binary", "case", "conns", "req/s", "p50 ms", "p90 ms", "p99 ms", "non-2xx",
                 "daemon CPU s", "goal"], rows))
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1, default=str)
    log(f"wrote {a.out}")


if __name__ == "__main__":
    main()
