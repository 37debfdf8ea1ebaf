#!/usr/bin/python3
"""Task start benchmark for the local runtime (run as root with /usr/bin/python3).

Starts a docker-registry serving a busybox "nginx:latest" (tests/e2e/conftest.py) and a
local-runtime kecs daemon with its own data dir and name prefix, registers an awsvpc
FARGATE busybox httpd task definition, and measures:

  0. runc floor: `runc run -d` alone, timed from this script, of the bundle kecs made for
     the first task (its config.json; the image's unpacked rootfs, read-only; a new network
     namespace of runc's own instead of the task's; no bind mounts of the task's files), N
     times one after another (--floor-runs, default 20); the latency's ratio to it.
  1. latency: first --background tasks (default 100) started (RunTask count=10) and left
     running, then N tasks (default 100) started one after another, each RunTask(count=1)
     followed by DescribeTasks every 10 ms until RUNNING. Client-observed latency is from
     the RunTask response to the first DescribeTasks that shows RUNNING; the server's is
     startedAt - createdAt, split into its stages (createdAt -> pullStartedAt: ENI,
     address and sandbox; pull; pullStoppedAt -> connectivityAt: containers started;
     connectivityAt -> startedAt). The tasks stay running until the phase ends.
  2. throughput: 100 tasks as RunTask count=10 x 10 issued back to back, then 10 RunTask
     count=10 issued concurrently from 10 threads; time from the first request until every
     task is RUNNING (DescribeTasks every 50 ms).
  3. capacity: batches of tasks until a task fails to start, the cap is reached, or the
     machine's memory is 75% used (MemTotal - MemAvailable); the count, MemAvailable
     consumed per task, RSS and PSS per task of its processes (kecs-shim and the
     container's init, from /proc), the daemon's RSS, and the daemon's CPU while idle.
  4. stop: after each phase, StopTask for every task and the time until all are STOPPED.

--quick: 20 background and 20 latency tasks, 50 tasks per throughput phase, a capacity
cap of 100 and 10 floor runs (about a minute and a half; the full run some ten minutes,
most of it stopping tasks). Each phase's wall time is printed and recorded (phase_s).

Prints Markdown tables and writes the raw results as JSON to --out. Every object it makes
is removed at the end, also on failure (bench/benchlib.py: BenchEnv).
"""
import argparse
import concurrent.futures
import glob
import json
import os
import shutil
import subprocess
import threading
import time

import benchlib
from benchlib import BenchEnv, log, percentiles, table

FAMILY = "bench-httpd"
CLUSTER = "bench"


def register(env, stop_timeout):
    benchlib.register_httpd(env.ecs, FAMILY, stop_timeout)


def ts(t, key):
    v = t.get(key)
    return v.timestamp() if v is not None else None


def stages(t):
    c, ps, pe, conn, st = (ts(t, k) for k in ("createdAt", "pullStartedAt", "pullStoppedAt",
                                                "connectivityAt", "startedAt"))
    if None in (c, ps, pe, conn, st):
        return None
    return {"provision_sandbox": ps - c, "pull": pe - ps, "start_containers": conn - pe,
            "activate": st - conn, "total": st - c}


def describe_many(ecs, arns):
    out = []
    for i in range(0, len(arns), 100):
        out += ecs.describe_tasks(cluster=CLUSTER, tasks=arns[i:i + 100])["tasks"]
    return out


def wait_all_running(ecs, arns, interval=0.05, timeout=600):
    """Polls until every task is RUNNING; returns (seconds waited, tasks, failed tasks).
    Stops early when a task is STOPPED (a failure to start)."""
    t0 = time.perf_counter()
    deadline = t0 + timeout
    while True:
        tasks = describe_many(ecs, arns)
        failed = [t for t in tasks if t["lastStatus"] == "STOPPED" or t["desiredStatus"] == "STOPPED"]
        if failed or all(t["lastStatus"] == "RUNNING" for t in tasks):
            return time.perf_counter() - t0, tasks, failed
        if time.perf_counter() > deadline:
            return None, tasks, failed
        time.sleep(interval)


def stop_phase(env, arns, threads=4):
    """StopTask for each task (from `threads` client threads), then DescribeTasks every
    100 ms until all are STOPPED. Returns timings."""
    t0 = time.perf_counter()
    local = threading.local()

    def stop(arn):
        if not hasattr(local, "ecs"):
            local.ecs = env.daemon.client("ecs")
        local.ecs.stop_task(cluster=CLUSTER, task=arn, reason="benchmark")

    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        list(ex.map(stop, arns))
    issued = time.perf_counter() - t0
    deadline = time.perf_counter() + 1800
    crashes = []
    last_count = 0
    while time.perf_counter() < deadline:
        try:
            tasks = describe_many(env.ecs, arns)
        except Exception as e:
            if env.daemon.proc is None or env.daemon.proc.poll() is None:
                raise
            # The daemon died while stopping. Record it, with the end of its log, then start
            # it again on the same data dir (running tasks are adopted) and keep going.
            crash = {"after_s": time.perf_counter() - t0, "rc": env.daemon.proc.returncode,
                     "stopped_before": last_count, "error": repr(e), "log_tail": env.daemon.log()[-1500:]}
            log(f"stop: the daemon DIED (rc {crash['rc']}) {crash['after_s']:.1f}s into stopping "
                f"{len(arns)} tasks, {last_count} STOPPED by then; restarting it")
            crashes.append(crash)
            if len(crashes) > 3:
                raise
            env.daemon.proc = None
            t_r = time.perf_counter()
            env.daemon.start(timeout=120)
            env.ecs = env.daemon.client("ecs")
            env.ec2 = env.daemon.client("ec2")
            crash["restart_s"] = time.perf_counter() - t_r
            continue
        last_count = sum(t["lastStatus"] == "STOPPED" for t in tasks)
        if last_count == len(arns):
            break
        time.sleep(0.1)
    total = time.perf_counter() - t0
    tasks = describe_many(env.ecs, arns)
    not_stopped = [t["taskArn"] for t in tasks if t["lastStatus"] != "STOPPED"]
    # Server-side: StopTask's stoppingAt (first) to the last stoppedAt.
    first_stopping = min((ts(t, "stoppingAt") for t in tasks if ts(t, "stoppingAt")), default=None)
    last_stopped = max((ts(t, "stoppedAt") for t in tasks if ts(t, "stoppedAt")), default=None)
    per_task = [ts(t, "stoppedAt") - ts(t, "stoppingAt") for t in tasks
                if ts(t, "stoppedAt") and ts(t, "stoppingAt")]
    return {"n": len(arns), "stoptask_calls_s": issued, "all_stopped_s": total, "daemon_crashes": crashes,
            "server_span_s": (last_stopped - first_stopping) if first_stopping and last_stopped else None,
            "per_task_stopping_to_stopped_s": percentiles(per_task),
            "not_stopped": not_stopped}


def idle_cpu(pid, seconds=5.0):
    """The daemon's CPU use (fraction of one core) while no request is made."""
    c0, t0 = benchlib.proc_cpu_seconds(pid), time.perf_counter()
    s0 = benchlib.system_cpu_seconds()
    time.sleep(seconds)
    c1, t1 = benchlib.proc_cpu_seconds(pid), time.perf_counter()
    s1 = benchlib.system_cpu_seconds()
    return {"daemon_cores": (c1 - c0) / (t1 - t0), "machine_cores": (s1 - s0) / (t1 - t0)}


def run_tasks(ecs, netcfg, count):
    out = ecs.run_task(cluster=CLUSTER, taskDefinition=FAMILY, launchType="FARGATE", count=count,
                       networkConfiguration=netcfg)
    if out.get("failures"):
        raise RuntimeError(f"RunTask failures: {out['failures']}")
    return [t["taskArn"] for t in out["tasks"]]


def task_id(arn):
    return arn.rsplit("/", 1)[-1]


def overlay_lowerdir(mountpoint):
    """The lowerdir of the overlay mounted at `mountpoint` (the image's unpacked rootfs)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if left.split()[4] != mountpoint:
                continue
            for opt in right.split()[2].split(","):
                if opt.startswith("lowerdir="):
                    return opt[len("lowerdir="):].split(":")[0]
    return None


def floor_bundle(env, arn):
    """A copy of the config.json kecs wrote for the task's container, made runnable alone:
    the image's rootfs read-only, a network namespace of runc's own, no bind mounts of the
    task's files (hosts, resolv.conf, hostname), no cgroup under the daemon's. Returns the
    bundle directory, or None."""
    src = os.path.join(env.daemon.data_dir, "runtime", "tasks", task_id(arn), "containers", "web")
    lower = overlay_lowerdir(os.path.join(src, "rootfs"))
    if lower is None:
        return None
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    cfg["root"] = {"path": lower, "readonly": True}
    task_dir = os.path.join(env.daemon.data_dir, "runtime")
    cfg["mounts"] = [m for m in cfg.get("mounts", []) if not m.get("source", "").startswith(task_dir)]
    for ns in cfg["linux"].get("namespaces", []):
        if ns["type"] == "network":
            ns.pop("path", None)
    cfg.pop("hooks", None)
    bundle = os.path.join(env.root, "runc-floor")
    os.makedirs(bundle, exist_ok=True)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    return bundle


def phase_runc_floor(env, bundle, runs):
    """`runc run -d` of the bundle alone, `runs` times one after another (each container
    left running until all have started, as the latency phase's are), then all removed."""
    log(f"runc floor: {runs} x runc run -d of the first task's bundle alone")
    root = os.path.join(env.root, "runc-floor-state")
    times, ids, errors = [], [], []
    try:
        for i in range(runs):
            cid = f"{env.prefix}-floor-{i}"
            with open(os.path.join(bundle, "config.json")) as f:
                cfg = json.load(f)
            # Nested as kecs nests a task's containers (<prefix>/<task>/<container>): at the top
            # level the container's cpu.shares of 2 would compete with the whole machine.
            cfg["linux"]["cgroupsPath"] = f"{env.prefix}-floor/{cid}"
            with open(os.path.join(bundle, "config.json"), "w") as f:
                json.dump(cfg, f)
            pid_file = os.path.join(env.root, f"floor-{i}.pid")
            # The container keeps runc's stdout and stderr: a file, not a pipe nobody closes.
            out_path = os.path.join(env.root, f"floor-{i}.out")
            with open(out_path, "wb") as out:
                t0 = time.perf_counter()
                r = subprocess.run(["runc", "--root", root, "run", "-d", "--pid-file", pid_file, "--bundle", bundle,
                                    cid], stdin=subprocess.DEVNULL, stdout=out, stderr=out)
                dt = time.perf_counter() - t0
            ids.append(cid)
            if r.returncode != 0:
                with open(out_path, "rb") as f:
                    errors.append(f.read().decode(errors="replace")[-300:])
                break
            times.append(dt)
    finally:
        for cid in ids:
            subprocess.run(["runc", "--root", root, "delete", "--force", cid],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)
        for parent in glob.glob(f"/sys/fs/cgroup/*/{env.prefix}-floor") + glob.glob(f"/sys/fs/cgroup/{env.prefix}-floor"):
            try:
                os.rmdir(parent)
            except OSError:
                pass
    res = {"runs": runs, "started": len(times), "runc_run_s": percentiles(times), "errors": errors}
    if times:
        log(f"runc floor: p50 {res['runc_run_s']['p50'] * 1000:.1f} ms")
    else:
        log(f"runc floor: failed: {errors}")
    return res


def start_background(env, netcfg, n):
    """`n` tasks started (RunTask count=10) and left running; their ARNs."""
    arns = []
    while len(arns) < n:
        arns += run_tasks(env.ecs, netcfg, min(10, n - len(arns)))
    waited, _, failed = wait_all_running(env.ecs, arns, interval=0.1)
    if failed or waited is None:
        raise RuntimeError(f"background tasks did not all start: {failed[:1]}")
    return arns


# ---------------------------------------------------------------------------------------

def phase_latency(env, netcfg, n, poll, background=0):
    log(f"latency: {background} background tasks, then {n} tasks one after another, polling every "
        f"{poll * 1000:.0f} ms")
    bg_arns = start_background(env, netcfg, background) if background else []
    pid = env.daemon.proc.pid
    cpu0, sys0 = benchlib.proc_cpu_seconds(pid), benchlib.system_cpu_seconds()
    rows, arns, failures = [], [], []
    t_phase = time.perf_counter()
    for i in range(n):
        t_req = time.perf_counter()
        [arn] = run_tasks(env.ecs, netcfg, 1)
        t_resp = time.perf_counter()
        arns.append(arn)
        polls = 0
        while True:
            t = env.ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
            polls += 1
            if t["lastStatus"] == "RUNNING":
                t_seen = time.perf_counter()
                break
            if t["lastStatus"] == "STOPPED" or t["desiredStatus"] == "STOPPED":
                failures.append({"i": i, "arn": arn, "stoppedReason": t.get("stoppedReason")})
                t_seen = None
                break
            if time.perf_counter() - t_resp > 120:
                failures.append({"i": i, "arn": arn, "stoppedReason": "timeout: " + t["lastStatus"]})
                t_seen = None
                break
            time.sleep(poll)
        if t_seen is None:
            log(f"latency: task {i} failed: {failures[-1]}")
            break
        rows.append({"i": i, "runtask_call_s": t_resp - t_req, "client_s": t_seen - t_resp,
                     "polls": polls, "server": stages(t)})
    elapsed = time.perf_counter() - t_phase
    cpu = {"daemon_cpu_s": benchlib.proc_cpu_seconds(pid) - cpu0,
           "machine_cpu_s": benchlib.system_cpu_seconds() - sys0, "wall_s": elapsed}
    client = [r["client_s"] for r in rows]
    server = [r["server"]["total"] for r in rows if r["server"]]
    stage_stats = {k: percentiles([r["server"][k] for r in rows if r["server"]])
                   for k in ("provision_sandbox", "pull", "start_containers", "activate")}
    idle = idle_cpu(pid)
    log(f"latency: done, client p50 {percentiles(client)['p50']:.3f}s; daemon idle with {len(rows)} "
        f"running: {idle['daemon_cores']:.2f} cores")
    stop = stop_phase(env, bg_arns + arns)
    log(f"latency: stopped {len(bg_arns) + len(arns)} in {stop['all_stopped_s']:.1f}s")
    first10 = percentiles(client[:10])["p50"] if len(client) >= 10 else None
    last10 = percentiles(client[-10:])["p50"] if len(client) >= 10 else None
    return {"n": n, "background": len(bg_arns), "started": len(rows), "failures": failures,
            "client_s": percentiles(client), "server_s": percentiles(server),
            "server_stages_s": stage_stats,
            "runtask_call_s": percentiles([r["runtask_call_s"] for r in rows]),
            "client_p50_first10_s": first10, "client_p50_last10_s": last10,
            "cpu": cpu, "idle_with_tasks_running": idle, "stop": stop, "per_task": rows}


def phase_throughput(env, netcfg, total, per_call, parallel):
    mode = "concurrent" if parallel else "sequential"
    calls = total // per_call
    log(f"throughput ({mode}): {calls} x RunTask count={per_call}")
    pid = env.daemon.proc.pid
    cpu0, sys0 = benchlib.proc_cpu_seconds(pid), benchlib.system_cpu_seconds()
    clients = [env.daemon.client("ecs") for _ in range(calls)] if parallel else None
    t0 = time.perf_counter()
    if parallel:
        barrier = threading.Barrier(calls)

        def one(i):
            barrier.wait()
            return run_tasks(clients[i], netcfg, per_call)

        with concurrent.futures.ThreadPoolExecutor(calls) as ex:
            arns = [a for chunk in ex.map(one, range(calls)) for a in chunk]
    else:
        arns = []
        for _ in range(calls):
            arns += run_tasks(env.ecs, netcfg, per_call)
    t_issued = time.perf_counter() - t0
    waited, tasks, failed = wait_all_running(env.ecs, arns)
    elapsed = time.perf_counter() - t0 if waited is not None else None
    cpu = {"daemon_cpu_s": benchlib.proc_cpu_seconds(pid) - cpu0,
           "machine_cpu_s": benchlib.system_cpu_seconds() - sys0}
    created = [ts(t, "createdAt") for t in tasks if ts(t, "createdAt")]
    started = [ts(t, "startedAt") for t in tasks if ts(t, "startedAt")]
    server_span = (max(started) - min(created)) if created and len(started) == len(arns) else None
    per_task = [s["total"] for s in (stages(t) for t in tasks) if s]
    res = {"mode": mode, "tasks": len(arns), "runtask_calls": calls, "count_per_call": per_call,
           "runtask_calls_s": t_issued, "all_running_s": elapsed,
           "tasks_per_s": (len(arns) / elapsed) if elapsed else None,
           "server_span_s": server_span,
           "server_tasks_per_s": (len(arns) / server_span) if server_span else None,
           "per_task_created_to_started_s": percentiles(per_task),
           "failed": [{"arn": t["taskArn"], "stoppedReason": t.get("stoppedReason")} for t in failed],
           "cpu": cpu}
    log(f"throughput ({mode}): {len(arns)} RUNNING in {elapsed}s")
    res["stop"] = stop_phase(env, arns)
    log(f"throughput ({mode}): stopped in {res['stop']['all_stopped_s']:.1f}s")
    return res


def task_memory(prefix):
    procs = benchlib.task_processes(prefix)
    rss = pss = nproc = 0
    for pids in procs.values():
        for p in pids:
            rss += benchlib.proc_status(p).get("VmRSS", 0)
            pss += benchlib.proc_pss(p)
            nproc += 1
    return {"containers": len(procs), "processes": nproc, "rss_kib": rss, "pss_kib": pss}


MEMINFO_KEYS = ("MemAvailable", "MemFree", "Cached", "Shmem", "Slab", "SReclaimable", "SUnreclaim",
                "KernelStack", "PageTables", "Percpu")


def memory_snapshot(prefix):
    m = benchlib.meminfo()
    snap = {k: m.get(k) for k in MEMINFO_KEYS}
    # runc puts every container in the memory cgroup <prefix>/<task>/<container> (cgroup v1
    # here, hierarchical): what the containers are charged, page cache and kernel memory
    # included.
    for path in (f"/sys/fs/cgroup/memory/{prefix}/memory.usage_in_bytes",
                 f"/sys/fs/cgroup/unified/{prefix}/memory.current", f"/sys/fs/cgroup/{prefix}/memory.current"):
        try:
            with open(path) as f:
                snap["cgroup_kib"] = int(f.read()) // 1024
                snap["cgroup_path"] = path
                break
        except OSError:
            continue
    return snap


def phase_capacity(env, netcfg, cap, batch, mem_limit):
    log(f"capacity: batches of {batch} up to {cap} tasks or {mem_limit:.0%} memory used")
    pid = env.daemon.proc.pid
    m0 = benchlib.meminfo()
    base = {"mem_available_kib": m0["MemAvailable"], "daemon": benchlib.proc_status(pid),
            "idle": idle_cpu(pid, 3), "memory": memory_snapshot(env.prefix)}
    arns, batches, stop_reason, failed = [], [], None, []
    while True:
        mem = benchlib.meminfo()
        used = 1 - mem["MemAvailable"] / mem["MemTotal"]
        if used >= mem_limit:
            stop_reason = f"memory {used:.1%} used"
            break
        if len(arns) >= cap:
            stop_reason = f"cap of {cap} tasks reached"
            break
        # The first batches are small (to 1, 2, 5 and 10 running) so that the daemon's idle
        # CPU is seen at low counts too; then `batch` at a time.
        n = min(batch, cap - len(arns))
        for target in (1, 2, 5, 10):
            if len(arns) < target:
                n = min(target - len(arns), n)
                break
        t0 = time.perf_counter()
        new = []
        try:
            while len(new) < n:
                new += run_tasks(env.ecs, netcfg, min(10, n - len(new)))
        except Exception as e:  # a refusal by the API is also a limit
            arns += new
            stop_reason = f"RunTask refused: {e}"
            break
        arns += new
        waited, tasks, failed = wait_all_running(env.ecs, new, interval=0.1, timeout=600)
        dt = time.perf_counter() - t0
        mem = benchlib.meminfo()
        running = len(arns) - len(failed)
        idle = idle_cpu(pid, 2)
        batches.append({"running": running, "batch_tasks": len(new), "batch_s": dt,
                        "batch_tasks_per_s": len(new) / dt, "mem_available_kib": mem["MemAvailable"],
                        "idle_daemon_cores": idle["daemon_cores"], "idle_machine_cores": idle["machine_cores"],
                        "loadavg": benchlib.loadavg()})
        log(f"capacity: {running} running, batch {dt:.1f}s, MemAvailable {mem['MemAvailable'] // 1024} MiB, "
            f"daemon idle {idle['daemon_cores']:.2f} cores, load {benchlib.loadavg()}")
        if failed:
            stop_reason = "a task failed to start: " + str(failed[0].get("stoppedReason"))
            break
        if waited is None:
            stop_reason = "a batch did not reach RUNNING within 600 s"
            break
    running_arns = [t["taskArn"] for t in describe_many(env.ecs, arns) if t["lastStatus"] == "RUNNING"]
    mem = benchlib.meminfo()
    mem_end = memory_snapshot(env.prefix)
    procs = task_memory(env.prefix)
    daemon = benchlib.proc_status(pid)
    daemon["pss_kib"] = benchlib.proc_pss(pid)
    try:
        daemon["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    idle = idle_cpu(pid)
    n = len(running_arns)
    res = {"cap": cap, "batch": batch, "mem_limit": mem_limit, "running": n, "stop_reason": stop_reason,
           "failed": [{"arn": t["taskArn"], "stoppedReason": t.get("stoppedReason")} for t in failed],
           "baseline": base, "mem_available_end_kib": mem["MemAvailable"], "mem_total_kib": mem["MemTotal"],
           "mem_available_per_task_kib": (base["mem_available_kib"] - mem["MemAvailable"]) / n if n else None,
           "memory_end": mem_end,
           "meminfo_delta_per_task_kib": {k: (mem_end[k] - base["memory"][k]) / n
                                          for k in MEMINFO_KEYS if n and mem_end.get(k) is not None},
           "cgroup_per_task_kib": (mem_end.get("cgroup_kib", 0) / n) if n and "cgroup_kib" in mem_end else None,
           "task_processes": procs,
           "rss_per_task_kib": procs["rss_kib"] / n if n else None,
           "pss_per_task_kib": procs["pss_kib"] / n if n else None,
           "daemon_end": daemon, "idle_end": idle, "batches": batches}
    log(f"capacity: {n} running ({stop_reason}); daemon idle {idle['daemon_cores']:.2f} cores")
    res["stop"] = stop_phase(env, arns, threads=8)
    log(f"capacity: stopped {len(arns)} in {res['stop']['all_stopped_s']:.1f}s")
    return res


def fmt_s(v, unit="ms"):
    if v is None:
        return "-"
    return f"{v * 1000:.0f} ms" if unit == "ms" else f"{v:.2f} s"


def report(r):
    out = []
    m = r["machine"]
    out.append(f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['mem_total_mib']} MiB, {m['kernel']}; "
               f"{m['date_utc']}; load at start {m['loadavg']}")
    if "first_task" in r:
        ft = r["first_task"]
        out.append(f"\nFirst task (image pull and unpack): {fmt_s(ft['client_s'])} client-observed, "
                   f"server {fmt_s(ft['server']['total'] if ft['server'] else None)} "
                   f"(pull {fmt_s(ft['server']['pull'] if ft['server'] else None)})")
    if "runc_floor" in r:
        fl = r["runc_floor"]
        p = fl["runc_run_s"]
        out.append(f"\n`runc run -d` of the same bundle alone ({fl['started']} runs): p50 {fmt_s(p['p50'])}, "
                   f"p90 {fmt_s(p['p90'])}, p99 {fmt_s(p['p99'])}" + (f"; errors {fl['errors']}" if fl["errors"] else ""))
    if "latency" in r:
        lat = r["latency"]
        out.append(f"\n### RunTask to RUNNING, {lat['started']} awsvpc tasks one after another, "
                   f"{lat.get('background', 0)} already running\n")
        rows = []
        for name, key in (("client: RunTask response to DescribeTasks RUNNING (10 ms polls)", "client_s"),
                          ("server: startedAt - createdAt", "server_s"),
                          ("RunTask call itself", "runtask_call_s")):
            p = lat[key]
            rows.append([name, fmt_s(p["p50"]), fmt_s(p["p90"]), fmt_s(p["p99"]), fmt_s(p["max"])])
        for k, label in (("provision_sandbox", "stage: createdAt -> pullStartedAt (ENI, IP, netns, veth)"),
                         ("pull", "stage: pullStartedAt -> pullStoppedAt (image check)"),
                         ("start_containers", "stage: pullStoppedAt -> connectivityAt (shim, runc run)"),
                         ("activate", "stage: connectivityAt -> startedAt")):
            p = lat["server_stages_s"][k]
            rows.append([label, fmt_s(p["p50"]), fmt_s(p["p90"]), fmt_s(p["p99"]), fmt_s(p["max"])])
        out.append(table(["measure", "p50", "p90", "p99", "max"], rows))
        if r.get("runc_floor", {}).get("started") and lat["client_s"]["p50"] is not None:
            fp = r["runc_floor"]["runc_run_s"]["p50"]
            out.append(f"\nRatio to `runc run -d` alone (p50 / p50): client {lat['client_s']['p50'] / fp:.2f}x, "
                       f"server {lat['server_s']['p50'] / fp:.2f}x.")
        out.append(f"\nClient p50 over the first 10 tasks {fmt_s(lat['client_p50_first10_s'])}, over the last 10 "
                   f"{fmt_s(lat['client_p50_last10_s'])}. Daemon CPU while idle with {lat['started']} tasks running: "
                   f"{lat['idle_with_tasks_running']['daemon_cores']:.2f} cores "
                   f"(machine {lat['idle_with_tasks_running']['machine_cores']:.2f}).")
    tp_rows = []
    for key in ("throughput_sequential", "throughput_concurrent"):
        if key in r:
            t = r[key]
            tp_rows.append([f"{t['runtask_calls']} x RunTask count={t['count_per_call']} ({t['mode']})",
                            t["tasks"], fmt_s(t["runtask_calls_s"], "s"), fmt_s(t["all_running_s"], "s"),
                            f"{t['tasks_per_s']:.1f}" if t["tasks_per_s"] else "-",
                            f"{t['server_tasks_per_s']:.1f}" if t["server_tasks_per_s"] else "-",
                            fmt_s(t["stop"]["all_stopped_s"], "s")])
    if tp_rows:
        out.append("\n### Tasks started per second\n")
        out.append(table(["launch", "tasks", "RunTask calls took", "first request to all RUNNING",
                          "tasks/s (client)", "tasks/s (server: first createdAt to last startedAt)",
                          "stop all"], tp_rows))
    if "capacity" in r:
        c = r["capacity"]
        d = c["daemon_end"]
        out.append("\n### Most tasks running at once\n")
        out.append(table(["measure", "value"], [
            ["tasks running", c["running"]],
            ["why it stopped there", c["stop_reason"]],
            ["MemAvailable consumed per task", f"{c['mem_available_per_task_kib'] / 1024:.2f} MiB"
             if c["mem_available_per_task_kib"] else "-"],
            ["RSS per task (kecs-shim + container processes)", f"{c['rss_per_task_kib'] / 1024:.2f} MiB"
             if c["rss_per_task_kib"] else "-"],
            ["PSS per task (same processes)", f"{c['pss_per_task_kib'] / 1024:.2f} MiB"
             if c["pss_per_task_kib"] else "-"],
            ["memory cgroup charge per task (containers' cgroups: their pages, page cache, kernel memory)",
             f"{c['cgroup_per_task_kib'] / 1024:.2f} MiB" if c.get("cgroup_per_task_kib") else "-"],
            ["Slab (unreclaimable) growth per task",
             f"{c['meminfo_delta_per_task_kib'].get('Slab', 0):.0f} KiB "
             f"({c['meminfo_delta_per_task_kib'].get('SUnreclaim', 0):.0f} KiB)"],
            ["processes per task", f"{c['task_processes']['processes'] / max(1, c['task_processes']['containers']):.1f}"],
            ["daemon RSS at start of phase / at the end (peak)",
             f"{c['baseline']['daemon'].get('VmRSS', 0) / 1024:.1f} MiB / {d.get('VmRSS', 0) / 1024:.1f} MiB "
             f"({d.get('VmHWM', 0) / 1024:.1f} MiB)"],
            ["daemon threads, fds at the end", f"{d.get('Threads')}, {d.get('fds')}"],
            ["daemon CPU while idle: 0 tasks / all running",
             f"{c['baseline']['idle']['daemon_cores']:.2f} / {c['idle_end']['daemon_cores']:.2f} cores"],
            ["stop all: StopTask calls / all STOPPED",
             f"{c['stop']['stoptask_calls_s']:.1f} s / {c['stop']['all_stopped_s']:.1f} s"],
            ["daemon crashes while stopping", "; ".join(
                f"rc {x['rc']} after {x['after_s']:.0f} s with {x['stopped_before']} STOPPED"
                for x in c["stop"].get("daemon_crashes", [])) or "none"],
        ]))
        if c["batches"]:
            b = c["batches"]
            pick = sorted({0, 1, 2, 3, 4, len(b) // 4, len(b) // 2, 3 * len(b) // 4, len(b) - 1} & set(range(len(b))))
            out.append("\nBy batch (tasks running after it; its start rate; the daemon's CPU over 2 s with no request "
                       "made, in cores):\n")
            out.append(table(["running", "batch", "batch start rate", "daemon idle CPU", "MemAvailable"],
                             [[b[i]["running"], b[i]["batch_tasks"], f"{b[i]['batch_tasks_per_s']:.1f}/s",
                               f"{b[i]['idle_daemon_cores']:.2f}", f"{b[i]['mem_available_kib'] // 1024} MiB"]
                              for i in pick]))
    if any(k in r for k in ("latency", "throughput_sequential")):
        out.append("\n### Stopping\n")
        rows = []
        for key, label in (("latency", "latency phase"), ("throughput_sequential", "throughput, sequential"),
                           ("throughput_concurrent", "throughput, concurrent"), ("capacity", "capacity")):
            if key in r:
                s = r[key]["stop"]
                rows.append([label, s["n"], fmt_s(s["stoptask_calls_s"], "s"), fmt_s(s["all_stopped_s"], "s"),
                             fmt_s(s["per_task_stopping_to_stopped_s"]["p50"], "s"),
                             len(s.get("daemon_crashes", []))])
        out.append(table(["phase", "tasks", "StopTask calls", "until all STOPPED",
                          "per task stoppingAt -> stoppedAt p50", "daemon crashes (restarted)"], rows))
    if r.get("phase_s"):
        out.append("\nPhase wall times: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["phase_s"].items()))
    out.append(f"\nLeftover kernel objects: {r.get('leftovers')}")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kecs", default=benchlib.DEFAULT_KECS, help="the kecs binary")
    ap.add_argument("--out", required=True, help="where to write the raw JSON results")
    ap.add_argument("--quick", action="store_true", help="a short run: 20+20 latency, 50 throughput, cap 100")
    ap.add_argument("--latency-tasks", type=int, default=100)
    ap.add_argument("--background", type=int, default=100, help="tasks left running before the latency phase")
    ap.add_argument("--floor-runs", type=int, default=20, help="`runc run -d` alone, this many times (0: none)")
    ap.add_argument("--poll-ms", type=float, default=10)
    ap.add_argument("--throughput-tasks", type=int, default=100)
    ap.add_argument("--cap", type=int, default=1000, help="most tasks in the capacity phase")
    ap.add_argument("--batch", type=int, default=50, help="tasks per capacity batch")
    ap.add_argument("--mem-limit", type=float, default=0.75, help="stop at this fraction of memory used")
    ap.add_argument("--stop-timeout", type=int, default=2, help="the container's stopTimeout (s)")
    ap.add_argument("--phases", default="latency,throughput,capacity")
    args = ap.parse_args()
    if args.quick:
        args.latency_tasks, args.background, args.throughput_tasks = 20, 20, 50
        args.cap, args.floor_runs = 100, 10
    phases = set(args.phases.split(","))
    phase_s = {}

    def timed(name, fn, *a):
        t = time.perf_counter()
        try:
            return fn(*a)
        finally:
            phase_s[name] = time.perf_counter() - t

    results = {"machine": benchlib.machine(), "args": vars(args), "phase_s": phase_s}
    env = BenchEnv(args.kecs, stop_wait_s=1800)
    try:
        with env:
            results["prefix"] = env.prefix
            env.ecs.create_cluster(clusterName=CLUSTER)
            register(env, args.stop_timeout)
            subnet = env.default_subnet()
            netcfg = {"awsvpcConfiguration": {"subnets": [subnet], "assignPublicIp": "DISABLED"}}
            results["subnet"] = subnet
            results["idle_no_tasks"] = idle_cpu(env.daemon.proc.pid, 3)
            # The first task pulls and unpacks the image; measured on its own.
            t0 = time.perf_counter()
            [arn] = run_tasks(env.ecs, netcfg, 1)
            t1 = time.perf_counter()
            waited, [t], failed = wait_all_running(env.ecs, [arn], interval=0.01)
            if failed:
                raise RuntimeError(f"the first task failed: {failed[0].get('stoppedReason')}")
            results["first_task"] = {"client_s": waited, "runtask_call_s": t1 - t0, "server": stages(t)}
            bundle = floor_bundle(env, arn) if args.floor_runs and "latency" in phases else None
            stop_phase(env, [arn])
            if bundle:
                results["runc_floor"] = timed("runc_floor", phase_runc_floor, env, bundle, args.floor_runs)
            if "latency" in phases:
                results["latency"] = timed("latency", phase_latency, env, netcfg, args.latency_tasks,
                                           args.poll_ms / 1000, args.background)
            if "throughput" in phases:
                results["throughput_sequential"] = timed("throughput_sequential", phase_throughput, env, netcfg,
                                                         args.throughput_tasks, 10, False)
                results["throughput_concurrent"] = timed("throughput_concurrent", phase_throughput, env, netcfg,
                                                         args.throughput_tasks, 10, True)
            if "capacity" in phases:
                results["capacity"] = timed("capacity", phase_capacity, env, netcfg, args.cap, args.batch,
                                            args.mem_limit)
            results["machine"]["loadavg_end"] = benchlib.loadavg()
    finally:
        results["leftovers"] = env.leftovers
        env.write_json(args.out, results)
    print(report(results))


if __name__ == "__main__":
    main()
