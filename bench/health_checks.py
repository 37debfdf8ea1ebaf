#!/usr/bin/python3
"""Health-check cost benchmark for the local runtime (run as root with /usr/bin/python3).

What a container health check costs when kecs-shim runs it (src/runtime/local/shim_main.cc:
one monitor per container, inside the container's namespaces; each check a fork into the
container's cgroups and an exec), against one `runc exec` per check (what a runtime that
shells out to runc, as Docker does through containerd, pays), measured in the same run.

For each run in --runs (default: the `wget` check every 5 s, AWS's minimum interval, and
every 30 s, its default; and the cheapest check, CMD ["true"], every 5 s):

  1. starts --tasks containers (default 200) exactly as the local runtime does: a bundle
     with an OCI config.json and a health.conf (health_files.h), and `kecs-shim RUNC_ROOT
     BUNDLE ID LOG` detached. Each runs busybox `httpd -f` in its own network namespace
     and checks itself with CMD-SHELL `wget -q -O /dev/null http://127.0.0.1/ || exit 1`
     (or CMD ["true"]), timeout 5 s, retries 3;
  2. waits until every container is HEALTHY (the shim's <bundle>/health), then measures
     over --window seconds, in nanoseconds from cpuacct.usage (cgroup v1):
       - the shims and their monitors, started in a cpuacct cgroup of their own: waking
         up, forking each check, waiting for it, writing the state file;
       - the containers' cgroups, which every check joins: the check's command (sh, wget)
         and httpd answering it, plus the part of the fork and exec after the join;
       - the checks run (each shim's checked_at advancing) and the containers not HEALTHY
         at the end (must be none);
  3. the daemon's share: the local runtime's Inspect reads <bundle>/health for each
     container on each resync (500 ms); measured as reading and parsing all --tasks
     state files twice a second in this process (Python: an upper bound for the C++);
  4. --runc-samples checks as `runc exec ID CHECK...` on the same running containers, one
     after another: their CPU per check (getrusage of children: runc, runc init and the
     check), and what that load would cost with them.

Everything is made under a fresh name prefix ("kh" + 2 hex digits) and a temporary
directory, and removed at the end, also on failure (containers killed and deleted, cgroups
removed). Prints a Markdown table and writes raw JSON to --out.
"""
import argparse
import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import benchlib
from benchlib import log, table

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_SHIM = os.path.join(REPO, "build", "src", "daemon", "kecs-shim")
# The checks: a typical one (an HTTP request to the container's server) and the cheapest
# possible one (CMD ["true"]), which shows what the machinery itself costs.
CHECKS = {"wget": ["/bin/sh", "-c", "wget -q -O /dev/null http://127.0.0.1/ || exit 1"],
          "true": ["true"]}
APPLETS = ["sh", "httpd", "wget", "ip", "sleep", "cat", "true", "false", "test", "echo"]
CAPS = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5,
        "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_NET_BIND_SERVICE": 10,
        "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_CHROOT": 18, "CAP_MKNOD": 27,
        "CAP_AUDIT_WRITE": 29, "CAP_SETFCAP": 31}
TICK = os.sysconf("SC_CLK_TCK")


def esc(v):
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def health_conf(argv, interval_s, timeout_s, retries, env, caps):
    """health.conf (src/runtime/local/health_files.h), as LocalRuntime writes it."""
    mask = 0
    for c in caps:
        mask |= 1 << CAPS[c]
    lines = [f"arg {esc(a)}" for a in argv]
    lines += [f"interval_ms {interval_s * 1000}", f"timeout_ms {timeout_s * 1000}", "start_period_ms 0",
              f"retries {retries}", "uid 0", "gid 0", "cwd /"]
    lines += [f"env {esc(e)}" for e in env]
    for k in ("bounding", "effective", "permitted"):
        lines.append(f"cap_{k} {mask:x}")
    lines += ["cap_inheritable 0", "cap_ambient 0", "no_new_privs 0"]
    return "\n".join(lines) + "\n"


def make_rootfs(path):
    os.makedirs(os.path.join(path, "bin"))
    for d in ("www", "etc", "tmp", "proc", "dev", "sys"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(path, "bin", "busybox"))
    for a in APPLETS:
        os.symlink("busybox", os.path.join(path, "bin", a))
    with open(os.path.join(path, "www", "index.html"), "w") as f:
        f.write("ok\n")
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")


class Fleet:
    """--tasks containers under one prefix, each watched by a kecs-shim."""

    def __init__(self, root, prefix, shim, rootfs, n, interval, check):
        self.root, self.prefix, self.shim, self.rootfs, self.n, self.interval = root, prefix, shim, rootfs, n, interval
        self.check = check
        self.name = f"i{interval}{check}"
        self.runc_root = os.path.join(root, "runc")
        # The shims (and so their monitors) run in a cpuacct cgroup of their own, which
        # counts their CPU in nanoseconds; the containers (and so the checks, which join
        # them) are in <prefix>/<name>/<i>.
        self.shim_cgroup = f"/sys/fs/cgroup/cpuacct/{prefix}/shims-{self.name}"
        self.ids, self.bundles, self.shims = [], [], []
        os.makedirs(self.runc_root, exist_ok=True)
        tmpl = os.path.join(root, "template")
        if not os.path.exists(os.path.join(tmpl, "config.json")):
            os.makedirs(tmpl, exist_ok=True)
            subprocess.run(["runc", "spec", "--bundle", tmpl], check=True)
        with open(os.path.join(tmpl, "config.json")) as f:
            self.spec = json.load(f)

    def start(self):
        os.makedirs(self.shim_cgroup, exist_ok=True)
        for i in range(self.n):
            cid = f"{self.prefix}-{self.name}-{i}"
            bundle = os.path.join(self.root, self.name, str(i))
            os.makedirs(bundle)
            spec = json.loads(json.dumps(self.spec))
            p = spec["process"]
            p["terminal"] = False
            p["args"] = ["/bin/sh", "-c", "ip link set lo up && exec httpd -f -p 80 -h /www"]
            caps = sorted(set(p["capabilities"]["bounding"]) | {"CAP_NET_ADMIN"})
            for k in ("bounding", "effective", "permitted"):
                p["capabilities"][k] = caps
            p["capabilities"].pop("inheritable", None)
            p["capabilities"].pop("ambient", None)
            spec["root"] = {"path": self.rootfs, "readonly": True}
            spec["hostname"] = f"h{i}"
            spec["linux"]["cgroupsPath"] = f"/{self.prefix}/{self.name}/{i}"  # absolute: not under the shims' cgroup
            with open(os.path.join(bundle, "config.json"), "w") as f:
                json.dump(spec, f)
            with open(os.path.join(bundle, "health.conf"), "w") as f:
                f.write(health_conf(CHECKS[self.check], self.interval, 5, 3, p["env"], caps))
            log_file = os.path.join(bundle, "log")
            procs = os.path.join(self.shim_cgroup, "cgroup.procs")

            def join_cgroup(procs=procs):
                with open(procs, "w") as f:
                    f.write("0")

            proc = subprocess.Popen([self.shim, self.runc_root, bundle, cid, log_file], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                    preexec_fn=join_cgroup)
            self.ids.append(cid)
            self.bundles.append(bundle)
            self.shims.append(proc)
        deadline = time.time() + 600
        while time.time() < deadline:
            started = sum(os.path.exists(os.path.join(b, "pid")) or os.path.exists(os.path.join(b, "exit"))
                          for b in self.bundles)
            if started == self.n:
                break
            time.sleep(0.2)
        errors = [b for b in self.bundles if os.path.exists(os.path.join(b, "exit"))]
        if errors:
            with open(os.path.join(errors[0], "exit")) as f:
                raise RuntimeError(f"{len(errors)} containers did not start: {f.read().strip()}")

    def states(self):
        out = []
        for b in self.bundles:
            try:
                with open(os.path.join(b, "health")) as f:
                    out.append(parse_state(f.read()))
            except OSError:
                out.append({})
        return out

    def monitors(self):
        """pid of each shim's health monitor (its child named kecs-health)."""
        shim_pids = {p.pid for p in self.shims}
        out = []
        for pid, (ppid, _) in benchlib.processes().items():
            if ppid in shim_pids:
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        if f.read().strip() == "kecs-health":
                            out.append(pid)
                except OSError:
                    pass
        return out

    def stop(self):
        for cid in self.ids:
            subprocess.run(["runc", "--root", self.runc_root, "kill", cid, "KILL"], capture_output=True)
        for p in self.shims:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for cid in self.ids:
            subprocess.run(["runc", "--root", self.runc_root, "delete", "--force", cid], capture_output=True)


def parse_state(text):
    s = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        s[k] = v
    return s


def stat_ticks(pid, children=False):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    t = int(fields[11]) + int(fields[12])
    if children:
        t += int(fields[13]) + int(fields[14])
    return t


def cpuacct_ns(path):
    try:
        with open(os.path.join(path, "cpuacct.usage")) as f:
            return int(f.read())
    except OSError:
        return None


def measure(fleet, window):
    log(f"{fleet.name}: waiting for {fleet.n} containers to be HEALTHY")
    deadline = time.time() + fleet.interval * 4 + 120
    while time.time() < deadline:
        st = fleet.states()
        healthy = sum(s.get("status") == "healthy" for s in st)
        if healthy == fleet.n:
            break
        time.sleep(1)
    else:
        raise RuntimeError(f"only {healthy} of {fleet.n} containers HEALTHY")
    monitors = fleet.monitors()
    before_checked = [float(s.get("checked_at", 0)) for s in fleet.states()]
    containers_cg = f"/sys/fs/cgroup/cpuacct/{fleet.prefix}/{fleet.name}"
    t0 = time.perf_counter()
    shim0, cg0 = cpuacct_ns(fleet.shim_cgroup), cpuacct_ns(containers_cg)
    log(f"{fleet.name}: measuring {window}s ({len(monitors)} monitors)")
    time.sleep(window)
    shim1, cg1 = cpuacct_ns(fleet.shim_cgroup), cpuacct_ns(containers_cg)
    wall = time.perf_counter() - t0
    after = fleet.states()
    # Checks in the window: a monitor's checks are `interval` apart (plus the check's own
    # time); count the whole intervals its checked_at moved by.
    checks = 0
    for b, s in zip(before_checked, after):
        moved = float(s.get("checked_at", 0)) - b
        if moved > 0:
            checks += int(moved / fleet.interval + 0.5)
    unhealthy = sum(s.get("status") != "healthy" for s in after)
    res = {"interval_s": fleet.interval, "check": fleet.check, "tasks": fleet.n, "window_s": wall,
           "monitors": len(monitors), "checks": checks, "not_healthy_at_end": unhealthy,
           "shims_cores": (shim1 - shim0) / 1e9 / wall, "containers_cores": (cg1 - cg0) / 1e9 / wall}
    res["total_cores"] = res["shims_cores"] + res["containers_cores"]
    res["cpu_ms_per_check"] = (res["total_cores"] * wall * 1000 / checks) if checks else None
    return res


def daemon_share(fleet, seconds=10.0, resync=0.5):
    """The runtime's Inspect reads each container's health file once per resync."""
    passes = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fleet.states()
        passes += 1
    cpu = time.process_time() - c0
    per_pass = cpu / passes
    return {"passes": passes, "cpu_ms_per_pass": per_pass * 1000, "cores_at_resync": per_pass / resync}


def runc_exec(fleet, samples):
    """`runc exec` per check on the running containers, one after another."""
    log(f"runc exec: {samples} checks")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    fails = 0
    for i in range(samples):
        cid = fleet.ids[i % len(fleet.ids)]
        r = subprocess.run(["runc", "--root", fleet.runc_root, "exec", cid] + CHECKS[fleet.check],
                           capture_output=True)
        fails += r.returncode != 0
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"samples": samples, "failed": fails, "cpu_ms_per_check": cpu / samples * 1000,
            "wall_ms_per_check": wall / samples * 1000}


def cleanup_cgroups(prefix):
    for top in os.listdir("/sys/fs/cgroup"):
        base = os.path.join("/sys/fs/cgroup", top, prefix)
        if not os.path.isdir(base):
            continue
        for dirpath, _, _ in sorted(os.walk(base), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shim", default=DEFAULT_SHIM, help="the kecs-shim binary")
    ap.add_argument("--out", required=True, help="where to write the raw JSON results")
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--runs", default="5:wget,30:wget,5:true",
                    help="INTERVAL:CHECK,... (CHECK: wget or true); each run starts --tasks containers")
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--runc-samples", type=int, default=100)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (runc)")
    if not os.access(args.shim, os.X_OK):
        raise SystemExit(f"no kecs-shim at {args.shim}")
    prefix = "kh" + secrets.token_hex(1)
    root = tempfile.mkdtemp(prefix=f"{prefix}-health-", dir="/tmp")
    results = {"machine": benchlib.machine(), "args": vars(args), "prefix": prefix, "runs": []}
    rootfs = os.path.join(root, "rootfs")
    make_rootfs(rootfs)
    fleets = []
    try:
        for spec in args.runs.split(","):
            interval, check = int(spec.split(":")[0]), spec.split(":")[1]
            fleet = Fleet(root, prefix, args.shim, rootfs, args.tasks, interval, check)
            fleets.append(fleet)
            t0 = time.perf_counter()
            fleet.start()
            log(f"{fleet.name}: {args.tasks} containers started in {time.perf_counter() - t0:.1f}s")
            run = measure(fleet, args.window)
            run["daemon_inspect"] = daemon_share(fleet)
            if args.runc_samples:
                run["runc_exec"] = runc_exec(fleet, args.runc_samples)
            results["runs"].append(run)
            log(f"{fleet.name}: {json.dumps(run)}")
            fleet.stop()
        results["machine"]["loadavg_end"] = benchlib.loadavg()
    finally:
        for f in fleets:
            try:
                f.stop()
            except Exception as e:  # keep cleaning
                log(f"stop failed: {e!r}")
        cleanup_cgroups(prefix)
        shutil.rmtree(root, ignore_errors=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    print(report(results))


def report(r):
    m = r["machine"]
    out = [f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['kernel']}; {m['date_utc']}; "
           f"load at start {m['loadavg']}, at end {m.get('loadavg_end')}"]
    rows = []
    for run in r["runs"]:
        per_s = run["tasks"] / run["interval_s"]
        rx = run.get("runc_exec")
        pct = lambda cores: f"{cores * 100:.2f}%"  # noqa: E731
        rows.append([f"{run['tasks']} tasks, `{run['check']}` every {run['interval_s']} s ({per_s:.1f} checks/s)",
                     pct(run["daemon_inspect"]["cores_at_resync"]), pct(run["shims_cores"]),
                     pct(run["containers_cores"]), pct(run["total_cores"]),
                     f"{run['cpu_ms_per_check']:.2f} ms" if run["cpu_ms_per_check"] else "-",
                     f"{rx['cpu_ms_per_check']:.1f} ms" if rx else "-",
                     pct(rx["cpu_ms_per_check"] / 1000 * per_s) if rx else "-",
                     run["not_healthy_at_end"]])
    out.append("")
    out.append(table(["load", "daemon (reading health files)", "shims and monitors", "checks (containers' cgroups)",
                      "kecs total", "CPU per check", "CPU per `runc exec` check", "same load with `runc exec`",
                      "not HEALTHY at end"], rows))
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
