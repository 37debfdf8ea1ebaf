#!/usr/bin/python3
"""Application Load Balancer benchmark (issue 13; run as root with /usr/bin/python3).

Starts a registry and a local-runtime kecs daemon with its own data dir and name prefix
(bench/benchlib.py), a VPC of its own with two subnets, an internet-facing ALB with one HTTP
listener forwarding to an `ip` target group (health checks every 5 s, healthy and unhealthy
thresholds 2), and three awsvpc tasks of the "lbweb" busybox httpd image of the e2e tests
(tests/e2e/test_elbv2_support.py): two registered as targets, one kept aside. Then:

  A. throughput and latency: `wrk -t2 -c32 -d10s --latency` in rounds against
       - direct:        http://<task ENI IP>/         (busybox httpd closes every connection)
       - ALB node:      http://<node ENI IP>/         (the listener in the node's namespace;
                                                       keep-alive from wrk to HAProxy)
       - ALB host port: http://127.0.0.1:<host port>/ (the listener as published on the host)
     and reports requests/s, the ratio ALB / direct, and the added latency at p50 and p99,
     with HAProxy's connection errors and retries towards the targets and the SYNs the
     targets' kernels dropped on a full accept queue during each run;
  B. RegisterTargets and DeregisterTargets to effect, --target-rounds times: the third task
     is registered and deregistered while a client sends one request per new connection
     through the host port. Reported: the API call's own time; when HAProxy's runtime API
     (its admin socket under <data-dir>/runtime/lb/<lb id>/) first lists the new server; the
     first request the new target serves (gated by its health checks: at least interval x
     healthy threshold = 10 s, as on AWS); and, after DeregisterTargets, the last request it
     serves, and when DescribeTargetHealth stops listing it (the default 300 s delay ends as
     soon as no request is in flight to it). Whether the proxy reloaded (its worker pids
     changed) is recorded;
  C. a failing target leaving rotation, --fail-rounds times: httpd is killed in one target
     (the task keeps running), and the time until DescribeTargetHealth says `unhealthy`,
     the last request that reached it (failed), and the number of failed client requests
     are compared with interval x unhealthy threshold = 10 s; httpd is then started again
     and the target waited healthy.

Raw results go to --out as JSON; Markdown tables to stdout.
"""
import argparse
import glob
import http.client
import os
import socket
import stat
import subprocess
import sys
import threading
import time

import benchlib
from benchlib import BenchEnv, log, percentiles, table
from publish_wrk import median, run_wrk

sys.path.insert(0, os.path.join(benchlib.REPO, "tests", "e2e"))
import test_elbv2_support as lbs  # noqa: E402  (the e2e ELB helpers: LbEnv, the lbweb image)

INTERVAL, HEALTHY, UNHEALTHY = 5, 2, 2


def one_get(port, timeout=5):
    """One GET of /who.sh through the host port on a new connection: (status, target ip)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/who.sh")
        r = conn.getresponse()
        body = r.read().decode(errors="replace")
        return r.status, lbs.parse_who(body).get("ip") if r.status == 200 else None
    except (OSError, http.client.HTTPException) as e:
        return repr(e), None
    finally:
        conn.close()


def admin_sockets(data_dir, lb_id):
    out = []
    for p in glob.glob(os.path.join(data_dir, "runtime", "lb", lb_id, "**"), recursive=True):
        try:
            if stat.S_ISSOCK(os.stat(p).st_mode) and "master" not in os.path.basename(p):
                out.append(p)
        except OSError:
            pass
    return out


def admin(path, command, timeout=2):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode(errors="replace")


def haproxy_pids(lb_id):
    """pid -> ppid of the HAProxy processes of this load balancer (its dir in their argv)."""
    out = {}
    for pid, (ppid, argv) in benchlib.processes().items():
        if argv and os.path.basename(argv[0]) == "haproxy" and any(lb_id in a for a in argv):
            out[pid] = ppid
    return out


def wait(fn, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what}")


def measure_register(e, tg, port, ip, sock, timeout=60):
    """RegisterTargets of `ip`: the API call, the proxy listing it, its first request."""
    t0 = time.monotonic()
    e.elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": ip}])
    api = time.monotonic() - t0
    proxy = first = None
    while time.monotonic() - t0 < timeout and first is None:
        if proxy is None and sock:
            try:
                if ip in admin(sock, "show servers state"):
                    proxy = time.monotonic() - t0
            except OSError:
                pass
        status, who = one_get(port)
        if who == ip:
            first = time.monotonic() - t0
        time.sleep(0.005)
    return {"api_ms": api * 1000, "proxy_ms": proxy * 1000 if proxy is not None else None,
            "first_request_s": first}


def measure_deregister(e, tg, port, ip, observe_s=3.0):
    """DeregisterTargets of `ip`: the last request it serves after the call (0 when none), and
    when DescribeTargetHealth stops listing it (the deregistration delay is the default 300 s;
    with no request in flight it ends at once, as on AWS)."""
    t0 = time.monotonic()
    e.elbv2.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": ip}])
    api = time.monotonic() - t0
    last = 0.0
    gone = None
    n = 0
    while time.monotonic() - t0 < observe_s or gone is None:
        if time.monotonic() - t0 > 60:
            break
        status, who = one_get(port)
        n += 1
        if who == ip:
            last = time.monotonic() - t0
        if gone is None and ip not in lbs.health(e.elbv2, tg):
            gone = time.monotonic() - t0
        time.sleep(0.005)
    return {"api_ms": api * 1000, "last_served_ms": last * 1000, "requests": n,
            "gone_ms": gone * 1000 if gone is not None else None}


STAT_COUNTERS = ("econ", "wretr", "wredis", "eresp")


def proxy_counters(sock):
    """HAProxy's connection errors, retries, redispatches and response errors towards the
    servers (summed over the server rows of `show stat`)."""
    out = dict.fromkeys(STAT_COUNTERS, 0)
    if not sock:
        return out
    lines = admin(sock, "show stat").splitlines()
    if not lines or not lines[0].startswith("# "):
        return out
    head = lines[0][2:].split(",")
    for line in lines[1:]:
        row = dict(zip(head, line.split(",")))
        if row.get("svname") in (None, "FRONTEND", "BACKEND"):
            continue
        for k in STAT_COUNTERS:
            out[k] += int(row.get(k) or 0)
    return out


def listen_drops(e, tasks):
    """TcpExt ListenOverflows + ListenDrops summed over the tasks' network namespaces (a
    full accept queue drops the SYN; the client retries it after 1 s)."""
    total = 0
    for t in tasks:
        p = e.in_container(t["taskArn"], "busybox", "cat", "/proc/net/netstat")
        if p.returncode != 0:
            return None
        rows = [line.split() for line in p.stdout.splitlines() if line.startswith("TcpExt:")]
        if len(rows) >= 2:
            vals = dict(zip(rows[0][1:], rows[1][1:]))
            total += int(vals.get("ListenOverflows", 0)) + int(vals.get("ListenDrops", 0))
    return total


def measure_failure(e, tg, port, task, ip, timeout=60):
    """Kills httpd in `task`; returns when its target is unhealthy and nothing reaches it."""
    results = []
    stop = threading.Event()

    def client():
        while not stop.is_set():
            status, who = one_get(port)
            results.append((time.monotonic(), status, who))
            time.sleep(0.01)
    th = threading.Thread(target=client, daemon=True)
    th.start()
    time.sleep(1)
    t0 = time.monotonic()
    e.kill_httpd(task)
    unhealthy = None
    try:
        while time.monotonic() - t0 < timeout:
            h = lbs.health(e.elbv2, tg).get(ip, {})
            if h.get("State") == "unhealthy":
                unhealthy = time.monotonic() - t0
                break
            time.sleep(0.1)
        time.sleep(3)   # keep the client going: requests after the verdict must all succeed
    finally:
        stop.set()
        th.join(timeout=30)
    failed = [(t - t0, s) for t, s, _ in results if t >= t0 and s != 200]
    return {"unhealthy_s": unhealthy, "failed_requests": len(failed),
            "last_failure_s": max((t for t, _ in failed), default=None),
            "requests": sum(1 for t, _, _ in results if t >= t0),
            "failed_after_unhealthy": sum(1 for t, _ in failed if unhealthy is not None and t > unhealthy + 0.5)}


def restart_httpd(e, task, tg, ip, others):
    p = e.in_container(task, "httpd", "-p", "80", "-h", "/www", "-c", "/etc/httpd.conf")
    if p.returncode != 0:
        raise RuntimeError(f"httpd did not start again: {p.stderr}")
    wait(lambda: lbs.states(e.elbv2, tg) == {x: "healthy" for x in [ip] + others}, 120, f"{ip} healthy again")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kecs", default=benchlib.DEFAULT_KECS, help="the kecs binary")
    ap.add_argument("--out", required=True, help="where to write the raw JSON results")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--pause", type=float, default=5, help="seconds between wrk runs")
    ap.add_argument("--target-rounds", type=int, default=5)
    ap.add_argument("--fail-rounds", type=int, default=3)
    ap.add_argument("--phases", default="A,B,C", help="which of the phases A, B and C to run")
    args = ap.parse_args()

    results = {"machine": benchlib.machine(), "args": vars(args), "wrk": [], "register": [], "deregister": [],
               "failure": []}
    results["wrk_version"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    results["haproxy_version"] = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    env = BenchEnv(args.kecs)
    try:
        with env:
            results["prefix"] = env.prefix
            env.daemon.prefix = env.prefix
            root = os.path.join(env.root, "lbweb")
            os.makedirs(root)
            tar = benchlib.build_busybox_image(root, lbs.LB_IMAGE, ["/bin/sh", "-c",
                                               "httpd -p 80 -h /www -c /etc/httpd.conf && exec sleep 2147483647"],
                                               files=lbs._lbweb_files())
            env.registry.push(tar, "library/" + lbs.LB_IMAGE)
            e = lbs.LbEnv(env.daemon)
            try:
                run_bench(e, env, args, results)
            finally:
                # The load balancers go first (their proxies and node namespaces with them);
                # a failure here must not hide the run's own.
                try:
                    for lb in e.elbv2.describe_load_balancers()["LoadBalancers"]:
                        e.elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
                    wait(lambda: not [n for n in benchlib.kecs_objects(env.prefix)[0] if n.startswith(env.prefix + "-l-")],
                         60, "the load balancer's nodes removed", interval=0.5)
                except Exception as err:  # noqa: BLE001  (teardown goes on: BenchEnv cleans up)
                    log(f"teardown: deleting the load balancers: {err!r}")
            results["machine"]["loadavg_end"] = benchlib.loadavg()
    finally:
        results["leftovers"] = env.leftovers
        env.write_json(args.out, results)
    report(results, args)


def run_bench(e, env, args, results):
    lb = e.create_alb(name="bench")
    lb_id = lb["LoadBalancerArn"].rsplit("/", 1)[1]
    tg = e.create_tg("bench")
    listener = e.elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                       DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]
    e.register("web", "W")
    tasks = [e.run_task("web") for _ in range(3)]
    ips = [e.ip_of(t) for t in tasks]
    e.elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": ip} for ip in ips[:2]])
    e.wait_healthy(tg, ips[:2])
    port = e.host_port(listener)
    nodes = e.lb_node_ips(lb)
    results.update({"lb": lb["LoadBalancerArn"], "host_port": port, "nodes": nodes, "targets": ips[:2], "spare": ips[2]})
    log(f"ALB {lb_id}: nodes {nodes}, host port {port}; targets {ips[:2]}, spare {ips[2]}")

    # A. throughput and latency
    targets = [("direct (task ENI)", f"http://{ips[0]}/"), ("ALB node", f"http://{nodes[0]}/"),
               ("ALB host port", f"http://127.0.0.1:{port}/")]
    for name, url in targets:
        p = subprocess.run(["curl", "-s", "-m", "5", url], capture_output=True, text=True, timeout=15)
        if p.returncode != 0 or "hello from kecs" not in p.stdout:
            raise RuntimeError(f"{name}: {url} does not answer 'hello from kecs' ({p.returncode})")
    socks = admin_sockets(env.daemon.data_dir, lb_id)
    sock = None
    for s in socks:
        try:
            if "show servers state" not in admin(s, "help"):
                continue
            sock = s
            break
        except OSError:
            continue
    results["admin_socket"] = sock
    phases = set(args.phases.upper().split(","))
    for rnd in range(args.rounds if "A" in phases else 0):
        for name, url in targets:
            log(f"round {rnd + 1}: wrk {name} {url}")
            c0, d0 = proxy_counters(sock), listen_drops(e, tasks[:2])
            r = run_wrk(url, args.threads, args.connections, args.duration, env.daemon.proc.pid)
            c1, d1 = proxy_counters(sock), listen_drops(e, tasks[:2])
            r["proxy_counters"] = {k: c1[k] - c0[k] for k in STAT_COUNTERS}
            r["listen_drops"] = d1 - d0 if d0 is not None and d1 is not None else None
            r.update({"round": rnd + 1, "target": name, "url": url})
            results["wrk"].append(r)
            log(f"  {r['requests_per_s']} req/s, p50 {r.get('latency_p50_ms')} ms, p99 {r.get('latency_p99_ms')} ms, "
                f"errors {r['socket_errors']}, non-2xx {r['non_2xx']}, HAProxy {r['proxy_counters']}, "
                f"targets' listen drops {r['listen_drops']}")
            time.sleep(args.pause)

    # B. RegisterTargets / DeregisterTargets to effect
    pids0 = haproxy_pids(lb_id)
    for i in range(args.target_rounds if "B" in phases else 0):
        r = measure_register(e, tg, port, ips[2], sock)
        results["register"].append(r)
        log(f"register {i + 1}: {r}")
        e.wait_healthy(tg, ips)
        d = measure_deregister(e, tg, port, ips[2])
        results["deregister"].append(d)
        log(f"deregister {i + 1}: {d}")
        wait(lambda: ips[2] not in lbs.health(e.elbv2, tg), 60, "the spare target gone")
    results["haproxy_pids_before"], results["haproxy_pids_after"] = pids0, haproxy_pids(lb_id)
    results["reloaded_during_target_changes"] = set(pids0) != set(results["haproxy_pids_after"])

    # C. a failing target leaves rotation
    for i in range(args.fail_rounds if "C" in phases else 0):
        r = measure_failure(e, tg, port, tasks[1]["taskArn"], ips[1])
        results["failure"].append(r)
        log(f"failure {i + 1}: {r}")
        restart_httpd(e, tasks[1]["taskArn"], tg, ips[1], [ips[0]])


def fmt(v, unit="", digits=1):
    return "-" if v is None else f"{v:.{digits}f}{unit}"


def report(results, args):
    m = results["machine"]
    print(f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['mem_total_mib']} MiB, {m['kernel']}; "
          f"{m['date_utc']}; load at start {m['loadavg']}; {results.get('haproxy_version')}")
    runs = results["wrk"]
    if runs:
        print(f"\n### A. wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency "
              f"({results.get('wrk_version')})\n")
        print(table(["round", "target", "requests/s", "p50", "p99", "errors", "HAProxy to targets: conn errors / retries",
                     "targets' SYNs dropped (accept queue full)", "daemon CPU (cores)", "machine CPU (cores)"],
                    [[r["round"], r["target"], fmt(r["requests_per_s"], digits=0), fmt(r.get("latency_p50_ms"), " ms", 2),
                      fmt(r.get("latency_p99_ms"), " ms", 2), sum(r["socket_errors"].values()) + r["non_2xx"],
                      f"{r['proxy_counters']['econ']} / {r['proxy_counters']['wretr']}",
                      "-" if r["listen_drops"] is None else r["listen_drops"],
                      f"{r['daemon_cores']:.2f}", f"{r['machine_cores']:.2f}"] for r in runs]))
        summary = {}
        for name in dict.fromkeys(r["target"] for r in runs):
            rs = [r for r in runs if r["target"] == name]
            summary[name] = {k: median([r.get(k) for r in rs]) for k in ("requests_per_s", "latency_p50_ms", "latency_p99_ms")}
        direct = summary.get("direct (task ENI)", {})
        rows = []
        for name, s in summary.items():
            ratio = s["requests_per_s"] / direct["requests_per_s"] if direct.get("requests_per_s") and s["requests_per_s"] else None
            add50 = s["latency_p50_ms"] - direct["latency_p50_ms"] if direct.get("latency_p50_ms") is not None and s["latency_p50_ms"] is not None else None
            add99 = s["latency_p99_ms"] - direct["latency_p99_ms"] if direct.get("latency_p99_ms") is not None and s["latency_p99_ms"] is not None else None
            rows.append([name, fmt(s["requests_per_s"], digits=0), fmt(ratio, digits=2), fmt(s["latency_p50_ms"], " ms", 2),
                         fmt(add50, " ms", 2), fmt(s["latency_p99_ms"], " ms", 2), fmt(add99, " ms", 2)])
        print("\nMedian over the rounds:\n")
        print(table(["target", "requests/s", "ratio to direct", "p50", "added p50", "p99", "added p99"], rows))
        results["summary"] = summary
    if results["register"]:
        reg, dereg = results["register"], results["deregister"]
        print("\n### B. RegisterTargets / DeregisterTargets to effect\n")
        print(table(["measure", "p50", "max", "n"], [
            ["RegisterTargets call (ms)"] + stats([r["api_ms"] for r in reg]),
            ["register -> HAProxy's runtime API lists the server (ms)"] + stats([r["proxy_ms"] for r in reg]),
            [f"register -> first request served (s; {HEALTHY} passing checks {INTERVAL} s apart, the first within "
             f"one interval: {INTERVAL * (HEALTHY - 1)} to {INTERVAL * HEALTHY} s)"]
            + stats([r["first_request_s"] for r in reg], digits=2),
            ["DeregisterTargets call (ms)"] + stats([r["api_ms"] for r in dereg]),
            ["deregister -> last request served (ms; 0: none after the call)"] + stats([r["last_served_ms"] for r in dereg]),
            ["deregister -> deregistration complete (ms; delay 300 s, ends when no request is in flight)"]
            + stats([r.get("gone_ms") for r in dereg]),
        ]))
        print(f"\nHAProxy reloaded during the target changes: {results.get('reloaded_during_target_changes')} "
              f"(worker pids {sorted(results.get('haproxy_pids_before', {}))} -> "
              f"{sorted(results.get('haproxy_pids_after', {}))}); admin socket {results.get('admin_socket')}")
    if results["failure"]:
        print(f"\n### C. A failing target leaves rotation (interval x unhealthy threshold = {INTERVAL * UNHEALTHY} s)\n")
        print(table(["round", "unhealthy after (s)", "last failed request (s)", "failed requests", "requests",
                     "failed after the verdict"],
                    [[i + 1, fmt(r["unhealthy_s"], digits=2), fmt(r["last_failure_s"], digits=2), r["failed_requests"],
                      r["requests"], r["failed_after_unhealthy"]] for i, r in enumerate(results["failure"])]))
    print(f"\nLeftover kernel objects: {results.get('leftovers')}")


def stats(values, digits=1):
    p = percentiles([v for v in values if v is not None])
    return [fmt(p["p50"], digits=digits), fmt(p["max"], digits=digits), p["n"]]


if __name__ == "__main__":
    main()
