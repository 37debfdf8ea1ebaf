#!/usr/bin/python3
"""Health checks through the daemon: what 200 running tasks' container health checks cost
the kecs daemon, side by side with the same 200 tasks without checks (run as root with
/usr/bin/python3).

Starts a docker-registry serving a busybox "nginx:latest" and a local-runtime kecs daemon
with its own data dir and name prefix (bench/benchlib.py: BenchEnv), then, in one run:

  1. plain: N awsvpc busybox httpd tasks (default 200) through RunTask, without a health
     check; once all are RUNNING and a settle time has passed, the daemon's CPU (utime +
     stime from /proc/<pid>/stat) and the whole machine's busy CPU over --window seconds;
     then every task is stopped.
  2. checked: the same tasks with a container health check
     (CMD-SHELL `wget -q -O /dev/null http://127.0.0.1/ || exit 1`, --interval seconds,
     retries 3), started the same way and measured the same way once every task reports
     healthStatus HEALTHY.

The daemon's share of the checks is checked minus plain; the machine's is the cost of the
checks themselves (kecs-shim's monitors, the check's processes and httpd answering them).
Prints a Markdown table and writes the raw results as JSON to --out. Everything it makes is
removed at the end, also on failure.
"""
import argparse
import time

import benchlib
from benchlib import BenchEnv, log, table

CLUSTER = "bench"


def register(ecs, family, interval):
    c = {"name": "web", "image": "nginx:latest", "essential": True, "stopTimeout": 2,
         "portMappings": [{"containerPort": 80, "protocol": "tcp"}]}
    if interval:
        c["healthCheck"] = {"command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/ || exit 1"],
                            "interval": interval, "timeout": 5, "retries": 3}
    ecs.register_task_definition(family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                 cpu="256", memory="512", containerDefinitions=[c])


def describe_many(ecs, arns):
    out = []
    for i in range(0, len(arns), 100):
        out += ecs.describe_tasks(cluster=CLUSTER, tasks=arns[i:i + 100])["tasks"]
    return out


def start(env, family, netcfg, n, want_healthy, timeout=900):
    arns = []
    while len(arns) < n:
        out = env.ecs.run_task(cluster=CLUSTER, taskDefinition=family, launchType="FARGATE",
                               count=min(10, n - len(arns)), networkConfiguration=netcfg)
        if out.get("failures"):
            raise RuntimeError(f"RunTask failures: {out['failures']}")
        arns += [t["taskArn"] for t in out["tasks"]]
    t0 = time.perf_counter()
    while True:
        tasks = describe_many(env.ecs, arns)
        failed = [t for t in tasks if t["desiredStatus"] == "STOPPED"]
        if failed:
            raise RuntimeError(f"a task stopped: {failed[0].get('stoppedReason')}")
        ready = [t for t in tasks if t["lastStatus"] == "RUNNING"
                 and (not want_healthy or t.get("healthStatus") == "HEALTHY")]
        if len(ready) == len(arns):
            return arns, time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"only {len(ready)} of {len(arns)} tasks ready after {timeout}s")
        time.sleep(0.5)


def stop_all(env, arns):
    for arn in arns:
        env.ecs.stop_task(cluster=CLUSTER, task=arn, reason="benchmark")
    deadline = time.perf_counter() + 600
    while time.perf_counter() < deadline:
        if all(t["lastStatus"] == "STOPPED" for t in describe_many(env.ecs, arns)):
            return
        time.sleep(0.5)
    raise RuntimeError("tasks did not stop within 600s")


def measure(pid, window):
    d0, s0, t0 = benchlib.proc_cpu_seconds(pid), benchlib.system_cpu_seconds(), time.perf_counter()
    time.sleep(window)
    d1, s1, t1 = benchlib.proc_cpu_seconds(pid), benchlib.system_cpu_seconds(), time.perf_counter()
    return {"daemon_core_pct": 100 * (d1 - d0) / (t1 - t0), "machine_core_pct": 100 * (s1 - s0) / (t1 - t0),
            "window_s": t1 - t0}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kecs", default=benchlib.DEFAULT_KECS, help="the kecs binary")
    ap.add_argument("--out", required=True, help="where to write the raw JSON results")
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--interval", type=int, default=5, help="the health check's interval (s)")
    ap.add_argument("--window", type=float, default=60, help="measurement window (s)")
    ap.add_argument("--settle", type=float, default=15, help="wait before measuring (s)")
    args = ap.parse_args()
    results = {"machine": benchlib.machine(), "args": vars(args)}
    env = BenchEnv(args.kecs, stop_wait_s=900)
    try:
        with env:
            results["prefix"] = env.prefix
            env.ecs.create_cluster(clusterName=CLUSTER)
            register(env.ecs, "bench-plain", 0)
            register(env.ecs, "bench-checked", args.interval)
            netcfg = {"awsvpcConfiguration": {"subnets": [env.default_subnet()], "assignPublicIp": "DISABLED"}}
            pid = env.daemon.proc.pid
            for name, family, healthy in (("plain", "bench-plain", False), ("checked", "bench-checked", True)):
                log(f"{name}: starting {args.tasks} tasks")
                arns, ready_s = start(env, family, netcfg, args.tasks, healthy)
                log(f"{name}: ready after {ready_s:.1f}s; settling {args.settle}s, measuring {args.window}s")
                time.sleep(args.settle)
                results[name] = measure(pid, args.window) | {"ready_s": ready_s, "tasks": len(arns)}
                log(f"{name}: {results[name]}")
                stop_all(env, arns)
            results["machine"]["loadavg_end"] = benchlib.loadavg()
    finally:
        results["leftovers"] = env.leftovers
        env.write_json(args.out, results)
    p, c = results["plain"], results["checked"]
    print(table(["Tasks", "Daemon CPU", "Machine CPU"], [
        [f"{p['tasks']} without health checks", f"{p['daemon_core_pct']:.2f}%", f"{p['machine_core_pct']:.1f}%"],
        [f"{c['tasks']} with a check every {args.interval} s", f"{c['daemon_core_pct']:.2f}%",
         f"{c['machine_core_pct']:.1f}%"],
        ["the checks' share", f"{c['daemon_core_pct'] - p['daemon_core_pct']:.2f}%",
         f"{c['machine_core_pct'] - p['machine_core_pct']:.1f}%"]]))


if __name__ == "__main__":
    main()
