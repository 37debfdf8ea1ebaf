#!/usr/bin/python3
"""Published-port (assignPublicIp) HTTP benchmark with wrk (run as root with /usr/bin/python3).

Starts a registry and a local-runtime kecs daemon with its own data dir and name prefix
(bench/benchlib.py), runs one awsvpc FARGATE busybox httpd task with assignPublicIp
ENABLED, and runs `wrk -t2 -c32 -d10s --latency` in rounds against:

  - host port:      http://127.0.0.1:<hostPort>/   (nft output-chain DNAT, 127/8 masquerade)
  - direct:         http://<ENI IP>/               (routed to the VPC router, no DNAT)
  - host address:   http://<host address>:<hostPort>/ (the task's public IP as kecs reports
                    it, the host's primary non-loopback IPv4; output-chain DNAT, no masquerade)

The targets alternate within each round (default 2 rounds: 6 runs of 10 s). Reports
requests/s, mean and p99 latency per run and the median per target, and the ratio host
port / direct. Every target is an address on this machine: the script refuses a host
address that is not assigned to a local interface. Raw results go to --out as JSON.

The host-port and direct targets share one source address (127.0.0.1 is masqueraded to the
host's transit address) and one server, so a run leaves TIME_WAIT and conntrack state on
the 4-tuples the next run on the other target may reuse, and that run's SYNs are dropped
(TCPSynRetrans, recorded per run, jumps): see docs/benchmarks.md. For clean numbers keep
runs short (--duration 5: fewer connections than the 28,232 ephemeral ports) and spaced
(--direct-first --pause-after-host-port 125). It also refuses to measure when the host's
route to the ENI does not go through this daemon's link (another kecs holding the default
VPC's range).
"""
import argparse
import re
import subprocess
import time

import benchlib
from benchlib import BenchEnv, log, table

FAMILY = "bench-public"
CLUSTER = "bench"


def local_ipv4s():
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    return {l.split()[3].split("/")[0] for l in out.splitlines()}


def to_ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(text):
    r = {"raw": text}
    m = re.search(r"Latency\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)", text)
    if m:
        r["latency_mean_ms"] = to_ms(m.group(1), m.group(2))
        r["latency_stdev_ms"] = to_ms(m.group(3), m.group(4))
        r["latency_max_ms"] = to_ms(m.group(5), m.group(6))
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)", text, re.M)
        if m:
            r[f"latency_p{pct}_ms"] = to_ms(m.group(1), m.group(2))
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    r["requests_per_s"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(s|m)", text)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["socket_errors"] = {k: int(v) for k, v in zip(("connect", "read", "write", "timeout"), m.groups())} if m else {}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non_2xx"] = int(m.group(1)) if m else 0
    return r


def conntrack_count():
    try:
        with open("/proc/sys/net/netfilter/nf_conntrack_count") as f:
            return int(f.read())
    except OSError:
        return None


def wait_conntrack(limit, timeout=150):
    """busybox httpd closes every connection, so each request is a new connection and a new
    conntrack entry, which lingers in TIME_WAIT for 120 s. Waits (bounded) until the table
    holds fewer than `limit` entries, so that no run fills it (a full table drops packets
    for every program on the machine). Returns the seconds waited."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        n = conntrack_count()
        if n is None or n < limit:
            break
        time.sleep(2)
    return time.time() - t0


def tcp_ext(name):
    """A TcpExt counter of the host's namespace (/proc/net/netstat), e.g. TCPSynRetrans: SYNs
    sent again because the first got no answer within the 1 s initial RTO."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for keys, vals in zip(lines[::2], lines[1::2]):
        if keys.startswith("TcpExt:"):
            d = dict(zip(keys.split()[1:], vals.split()[1:]))
            return int(d.get(name, 0))
    return None


def run_wrk(url, threads, conns, duration, daemon_pid):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", url]
    ct0 = conntrack_count()
    syn0 = tcp_ext("TCPSynRetrans")
    d0, m0 = benchlib.proc_cpu_seconds(daemon_pid), benchlib.system_cpu_seconds()
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    wall = time.time() - t0
    r = parse_wrk(p.stdout)
    r.update({"cmd": " ".join(cmd), "rc": p.returncode, "stderr": p.stderr[-2000:], "started": t0,
              "conntrack_before": ct0, "conntrack_after": conntrack_count(), "loadavg": benchlib.loadavg(),
              "syn_retransmits": tcp_ext("TCPSynRetrans") - syn0,
              "daemon_cores": (benchlib.proc_cpu_seconds(daemon_pid) - d0) / wall,
              "machine_cores": (benchlib.system_cpu_seconds() - m0) / wall})
    return r


def curl_ok(url):
    p = subprocess.run(["curl", "-s", "-m", "5", url], capture_output=True, text=True, timeout=15)
    return p.returncode == 0 and "hello from kecs" in p.stdout


def median(v):
    v = sorted(x for x in v if x is not None)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kecs", default=benchlib.DEFAULT_KECS, help="the kecs binary")
    ap.add_argument("--out", required=True, help="where to write the raw JSON results")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--conntrack-limit", type=int, default=100000,
                    help="before each run, wait until nf_conntrack_count is below this")
    ap.add_argument("--pause", type=float, default=2,
                    help="seconds to wait after each run")
    ap.add_argument("--direct-first", action="store_true",
                    help="in each round, run the direct target first (see --pause-after-host-port)")
    ap.add_argument("--pause-after-host-port", type=float, default=None,
                    help="seconds to wait after a host-port run (default: --pause). The host port's "
                         "connections are masqueraded to the host's transit address, the same source "
                         "as the direct target's: their conntrack entries (TIME_WAIT: 120 s) clash with "
                         "new direct connections on the same ports, whose SYNs are then dropped")
    ap.add_argument("--no-host-address", action="store_true",
                    help="skip the host's non-loopback address target")
    args = ap.parse_args()

    results = {"machine": benchlib.machine(), "args": vars(args), "runs": []}
    results["wrk_version"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    try:
        with open("/proc/sys/net/netfilter/nf_conntrack_max") as f:
            results["nf_conntrack_max"] = int(f.read())
    except OSError:
        pass
    env = BenchEnv(args.kecs)
    try:
        with env:
            results["prefix"] = env.prefix
            ecs = env.ecs
            ecs.create_cluster(clusterName=CLUSTER)
            benchlib.register_httpd(ecs, FAMILY)
            subnet = env.default_subnet()
            out = ecs.run_task(cluster=CLUSTER, taskDefinition=FAMILY, launchType="FARGATE",
                               networkConfiguration={"awsvpcConfiguration": {
                                   "subnets": [subnet], "assignPublicIp": "ENABLED"}})
            arn = out["tasks"][0]["taskArn"]
            deadline = time.time() + 120
            while True:
                t = ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
                if t["lastStatus"] == "RUNNING":
                    break
                if t["lastStatus"] == "STOPPED" or time.time() > deadline:
                    raise RuntimeError(f"task did not start: {t.get('stoppedReason')} ({t['lastStatus']})")
                time.sleep(0.05)
            c = t["containers"][0]
            host_port = c["networkBindings"][0]["hostPort"]
            eni_ip = c["networkInterfaces"][0]["privateIpv4Address"]
            details = {d["name"]: d["value"] for d in t["attachments"][0]["details"]}
            public_ip = details.get("publicIPv4Address") or c["networkBindings"][0].get("bindIP")
            results.update({"task": arn, "host_port": host_port, "eni_ip": eni_ip, "public_ip": public_ip})
            # Another kecs on this machine (a test suite's) may hold the default VPC's range:
            # the host's route would then lead to its tasks, and "direct" would measure them.
            route = subprocess.run(["ip", "-4", "route", "get", eni_ip], capture_output=True, text=True).stdout.split()
            dev = route[route.index("dev") + 1] if "dev" in route else "?"
            if not dev.startswith(env.prefix):
                raise RuntimeError(f"the host routes {eni_ip} through {dev}, not this daemon's link: another "
                                   "kecs holds an overlapping VPC; run again when it is gone")
            targets = [("host port (127.0.0.1)", f"http://127.0.0.1:{host_port}/"),
                       ("direct (ENI IP)", f"http://{eni_ip}/")]
            if not args.no_host_address:
                if public_ip and public_ip != "127.0.0.1" and public_ip in local_ipv4s():
                    targets.append((f"host address ({public_ip})", f"http://{public_ip}:{host_port}/"))
                else:
                    log(f"host address {public_ip!r} is not a local non-loopback address; skipping it")
                    results["host_address_skipped"] = public_ip
            if args.direct_first:
                # direct, host address, host port: the host-port run last, then its long pause.
                targets.sort(key=lambda t: 0 if t[0].startswith("direct") else 2 if t[0].startswith("host port") else 1)
            for name, url in targets:
                if not curl_ok(url):
                    raise RuntimeError(f"{name}: {url} does not answer 'hello from kecs'")
            log(f"task {arn.rsplit('/', 1)[1]}: host port {host_port}, ENI {eni_ip}, public {public_ip}")
            for rnd in range(args.rounds):
                for name, url in targets:
                    waited = wait_conntrack(args.conntrack_limit)
                    log(f"round {rnd + 1}: wrk {name} {url} (waited {waited:.0f} s for conntrack)")
                    r = run_wrk(url, args.threads, args.connections, args.duration, env.daemon.proc.pid)
                    r.update({"round": rnd + 1, "target": name, "url": url, "conntrack_wait_s": waited})
                    results["runs"].append(r)
                    log(f"  {r['requests_per_s']} req/s, mean {r.get('latency_mean_ms')} ms, "
                        f"p99 {r.get('latency_p99_ms')} ms, errors {r['socket_errors']}, "
                        f"daemon {r['daemon_cores']:.2f} cores, machine {r['machine_cores']:.2f} cores, "
                        f"{r['syn_retransmits']} SYN retransmits")
                    if name.startswith("host port") and args.pause_after_host_port is not None:
                        time.sleep(args.pause_after_host_port)
                    else:
                        time.sleep(args.pause)
            results["machine"]["loadavg_end"] = benchlib.loadavg()
    finally:
        results["leftovers"] = env.leftovers
        env.write_json(args.out, results)

    rows = []
    for r in results["runs"]:
        errs = sum(r["socket_errors"].values()) + r["non_2xx"]
        rows.append([r["round"], r["target"], f"{r['requests_per_s']:.0f}" if r["requests_per_s"] else "-",
                     f"{r.get('latency_mean_ms', 0):.2f} ms", f"{r.get('latency_p99_ms', 0):.2f} ms", errs,
                     r.get("syn_retransmits", "-"), f"{r['daemon_cores']:.2f}", f"{r['machine_cores']:.2f}"])
    m = results["machine"]
    print(f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['mem_total_mib']} MiB, {m['kernel']}; "
          f"{m['date_utc']}; load at start {m['loadavg']}")
    print(f"\n### wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency ({results.get('wrk_version')})\n")
    print(table(["round", "target", "requests/s", "mean latency", "p99 latency", "errors", "SYN retransmits",
                 "kecs daemon CPU (cores)", "machine CPU (cores)"], rows))
    summary = {}
    for name in dict.fromkeys(r["target"] for r in results["runs"]):
        rs = [r for r in results["runs"] if r["target"] == name]
        summary[name] = {"requests_per_s": median([r["requests_per_s"] for r in rs]),
                         "latency_mean_ms": median([r.get("latency_mean_ms") for r in rs]),
                         "latency_p99_ms": median([r.get("latency_p99_ms") for r in rs])}
    if summary:
        names = list(summary)
        direct = summary.get("direct (ENI IP)", {}).get("requests_per_s")
        rows = []
        for n in names:
            s = summary[n]
            ratio = f"{s['requests_per_s'] / direct:.2f}" if direct and s["requests_per_s"] else "-"
            rows.append([n, f"{s['requests_per_s']:.0f}", f"{s['latency_mean_ms']:.2f} ms",
                         f"{s['latency_p99_ms']:.2f} ms", ratio])
        print("\nMedian over the rounds:\n")
        print(table(["target", "requests/s", "mean latency", "p99 latency", "requests/s ratio to direct"], rows))
        results["summary"] = summary
        env.write_json(args.out, results)
    print(f"\nLeftover kernel objects: {results.get('leftovers')}")


if __name__ == "__main__":
    main()
