"""Shared pieces of the end-to-end benchmarks (task_start.py, publish_wrk.py, sg_policy.py).

They reuse the e2e harness in tests/e2e/conftest.py (a busybox "nginx:latest" built offline,
a real docker-registry on 127.0.0.1, the Daemon wrapper and kecs_objects) and add:

- BenchEnv: a registry and a local-runtime daemon with its own data dir under /tmp and
  its own name prefix ("kb" + 2 hex digits), torn down whatever happens: every task
  stopped through the API, the daemon stopped, `kecs cleanup --name-prefix P --data-dir D`,
  and a check that no namespace, link or nft table with the prefix is left;
- machine facts from /proc and uname, /proc readers (MemAvailable, RSS, PSS, CPU time);
- percentiles and a Markdown table printer.
"""
import datetime
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

import conftest  # noqa: E402  (tests/e2e/conftest.py: the e2e harness)
from conftest import Daemon, Registry, build_busybox_image, kecs_objects  # noqa: E402,F401

DEFAULT_KECS = os.path.join(REPO, "build-bench", "src", "daemon", "kecs")
ECS_TARGET = "AmazonEC2ContainerServiceV20141113"


# ---------------------------------------------------------------------------------------
# Machine facts and /proc readers

def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = meminfo()
    u = platform.uname()
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "mem_total_mib": mem["MemTotal"] // 1024,
        "kernel": f"{u.system} {u.release} {u.version} {u.machine}",
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "loadavg": loadavg(),
    }


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0])  # kB
    return out


def proc_status(pid):
    """VmRSS/VmHWM (kB) and Threads of a process, from /proc/PID/status."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, v = line.split(":", 1)
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
                elif k == "Threads":
                    out[k] = int(v)
    except OSError:
        pass
    return out


def proc_pss(pid):
    """Proportional set size (kB): shared pages divided among the processes sharing them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def system_cpu_seconds():
    """Busy CPU seconds of the whole machine (every CPU, everything but idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = sum(v[:8]) - v[3] - v[4]
    return busy / os.sysconf("SC_CLK_TCK")


def processes():
    """pid -> (ppid, argv) for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except (OSError, ValueError, IndexError):
            continue
        out[int(d)] = (ppid, argv)
    return out


def task_processes(prefix):
    """The processes behind each container of this daemon: its `kecs-shim` (whose container
    id is <prefix>-<task>-<container>) and every descendant (the container's init and whatever
    it started). Returns {container id: [pid, ...]} with the shim first."""
    procs = processes()
    children = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    out = {}
    for pid, (_, argv) in procs.items():
        if not argv or not os.path.basename(argv[0]).startswith("kecs"):
            continue
        # `kecs-shim RUNC_ROOT BUNDLE ID LOG` (src/runtime/local/shim_main.cc), or the older
        # `kecs shim --runc-root R --bundle B --id ID --log L`.
        if os.path.basename(argv[0]) == "kecs-shim" and len(argv) >= 5 and argv[1] == "detach":
            cid = argv[4]  # `kecs-shim detach RUNC_ROOT BUNDLE ID LOG`
        elif os.path.basename(argv[0]) == "kecs-shim" and len(argv) >= 4:
            cid = argv[3]
        elif "--id" in argv and argv.index("--id") + 1 < len(argv):
            cid = argv[argv.index("--id") + 1]
        else:
            continue
        if not cid.startswith(prefix + "-"):
            continue
        pids, stack = [pid], list(children.get(pid, []))
        while stack:
            p = stack.pop()
            pids.append(p)
            stack.extend(children.get(p, []))
        out[cid] = pids
    return out


def register_httpd(ecs, family, stop_timeout=2):
    """An awsvpc FARGATE task definition of one busybox httpd ("nginx:latest" from the
    bench registry) serving tcp/80."""
    ecs.register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
        memory="512",
        containerDefinitions=[{"name": "web", "image": "nginx:latest", "essential": True,
                               "portMappings": [{"containerPort": 80, "protocol": "tcp"}],
                               "stopTimeout": stop_timeout}])


def percentiles(values, ps=(50, 90, 99)):
    """Nearest-rank percentiles and the max."""
    if not values:
        return {f"p{p}": None for p in ps} | {"max": None, "n": 0}
    s = sorted(values)
    out = {}
    for p in ps:
        k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
        out[f"p{p}"] = s[k]
    out["max"] = s[-1]
    out["mean"] = sum(s) / len(s)
    out["n"] = len(s)
    return out


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(lines)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# A registry and a local-runtime daemon with guaranteed teardown

def _prefix_taken(prefix):
    netns, links, tables = kecs_objects(prefix)
    return bool(netns or links or tables)


class BenchEnv:
    """with BenchEnv(kecs_bin) as env: env.daemon, env.ecs, env.ec2, env.prefix ...

    Teardown always runs, in this order: StopTask for every task that is not STOPPED and a
    bounded wait for them; daemon stop (SIGTERM); `kecs cleanup`; the leftover check
    (recorded in env.leftovers); registry stop; removal of the temporary directories."""

    def __init__(self, kecs_bin=DEFAULT_KECS, extra_env=None, extra_args=None, stop_wait_s=900,
                 log_dir="/tmp/kb-logs"):
        self.kecs_bin = os.path.abspath(kecs_bin)
        self.extra_env = extra_env or {}
        self.extra_args = extra_args or []
        self.stop_wait_s = stop_wait_s
        self.log_dir = log_dir  # the daemon's log is copied here before the data dir goes
        self.saved_log = None
        self.daemon = None
        self.registry = None
        self.root = None
        self.prefix = None
        self.leftovers = None

    def __enter__(self):
        if os.geteuid() != 0:
            raise SystemExit("the local runtime needs root")
        if not os.access(self.kecs_bin, os.X_OK):
            raise SystemExit(f"no kecs binary at {self.kecs_bin}; build it (see docs/benchmarks.md)")
        conftest.KECS_BIN = self.kecs_bin  # Daemon.start and cleanup read the module global
        for _ in range(50):
            self.prefix = "kb" + secrets.token_hex(1)
            if not _prefix_taken(self.prefix):
                break
        else:
            raise SystemExit("no free kb?? name prefix")
        self.root = tempfile.mkdtemp(prefix=f"{self.prefix}-bench-", dir="/tmp")
        try:
            reg_root = os.path.join(self.root, "registry")
            os.makedirs(reg_root)
            log(f"prefix {self.prefix}, root {self.root}: building the busybox image, starting the registry")
            self.registry = Registry(reg_root)
            tar = build_busybox_image(os.path.join(reg_root, "nginx"), "nginx:latest",
                                      ["/bin/httpd", "-f", "-p", "80", "-h", "/www"])
            self.registry.push(tar, "library/nginx:latest")
            data_dir = os.path.join(self.root, "data")
            os.makedirs(data_dir)
            env = {"KECS_NAME_PREFIX": self.prefix,
                   "KECS_BRIDGE_CIDR": f"192.168.{100 + secrets.randbelow(150)}.0/24",
                   "KECS_REGISTRY_MIRRORS": f"docker.io={self.registry.addr}",
                   "KECS_INSECURE_REGISTRIES": self.registry.addr,
                   # Benchmark settings: no debug logging, no response validation.
                   "KECS_LOG_LEVEL": "info",
                   "KECS_VALIDATE_RESPONSES": "false"}
            env.update(self.extra_env)
            self.daemon = Daemon(data_dir, runtime="local", extra_env=env, extra_args=self.extra_args)
            self.daemon.start()
            log(f"kecs pid {self.daemon.proc.pid} on {self.daemon.endpoint}")
            self.ecs = self.daemon.client("ecs")
            self.ec2 = self.daemon.client("ec2")
        except BaseException:
            self._teardown()
            raise
        return self

    def __exit__(self, *exc):
        self._teardown()
        return False

    # -- helpers used by the benchmarks
    def default_subnet(self, az="us-east-1a"):
        subnets = self.ec2.describe_subnets(Filters=[{"Name": "availability-zone", "Values": [az]},
                                                     {"Name": "default-for-az", "Values": ["true"]}])
        return subnets["Subnets"][0]["SubnetId"]

    def live_tasks(self):
        """(cluster, arn) of every task that is not STOPPED, in every cluster."""
        out = []
        clusters = []
        for page in self.ecs.get_paginator("list_clusters").paginate():
            clusters += page["clusterArns"]
        for c in clusters:
            # ListTasks lists desiredStatus RUNNING by default; a task being stopped has
            # desiredStatus STOPPED while its lastStatus is not yet.
            for desired in ("RUNNING", "STOPPED"):
                for page in self.ecs.get_paginator("list_tasks").paginate(cluster=c, desiredStatus=desired):
                    arns = page["taskArns"]
                    for i in range(0, len(arns), 100):
                        for t in self.ecs.describe_tasks(cluster=c, tasks=arns[i:i + 100])["tasks"]:
                            if t["lastStatus"] != "STOPPED":
                                out.append((c, t["taskArn"]))
        return out

    def stop_all(self, timeout=None):
        """StopTask for every live task, then wait until all are STOPPED."""
        tasks = self.live_tasks()
        for c, arn in tasks:
            self.ecs.stop_task(cluster=c, task=arn, reason="benchmark teardown")
        deadline = time.time() + (timeout or self.stop_wait_s)
        while time.time() < deadline:
            if not self.live_tasks():
                return len(tasks)
            time.sleep(0.5)
        raise RuntimeError(f"tasks still not STOPPED after {timeout or self.stop_wait_s}s")

    def _teardown(self):
        err = None
        if self.daemon is not None and self.daemon.proc is not None and self.daemon.proc.poll() is not None:
            # It died under us: start it again on its data dir (its running tasks are
            # adopted), so that they are stopped through the API like any other.
            log(f"teardown: the daemon had exited (rc {self.daemon.proc.returncode}); starting it again")
            self.daemon.proc = None
            try:
                self.daemon.start(timeout=120)
                self.ecs = self.daemon.client("ecs")
                self.ec2 = self.daemon.client("ec2")
            except Exception as e:
                log(f"teardown: restart failed: {e!r}; kecs cleanup will remove the tasks")
                self.daemon.proc = None
        if self.daemon is not None and self.daemon.proc is not None:
            try:
                n = self.stop_all()
                log(f"teardown: {n} task(s) stopped through the API")
            except Exception as e:  # keep going: the daemon and cleanup must still happen
                err = e
                log(f"teardown: stopping tasks failed: {e!r}")
            rc = self.daemon.stop(timeout=60)
            log(f"teardown: kecs exited with {rc}")
        if self.prefix is not None and self.daemon is not None:
            p = subprocess.run([self.kecs_bin, "cleanup", "--name-prefix", self.prefix,
                                "--data-dir", self.daemon.data_dir], capture_output=True, text=True)
            if p.returncode != 0:
                log(f"teardown: kecs cleanup rc={p.returncode}: {p.stderr.strip()[-500:]}")
        if self.prefix is not None:
            netns, links, tables = kecs_objects(self.prefix)
            ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
            nft_lines = [l.strip() for l in ruleset.splitlines() if self.prefix in l]
            self.leftovers = {"netns": netns, "links": links, "nft_tables": tables, "nft_lines": nft_lines}
            if any(self.leftovers.values()):
                log(f"teardown: LEFTOVER kernel objects for {self.prefix}: {self.leftovers}")
            else:
                log(f"teardown: nothing left with prefix {self.prefix} (ip netns, ip link, nft)")
        if self.daemon is not None and self.log_dir:
            try:
                os.makedirs(self.log_dir, exist_ok=True)
                self.saved_log = os.path.join(self.log_dir, f"{self.prefix}-kecs.log")
                shutil.copy(self.daemon.log_path, self.saved_log)
                log(f"teardown: daemon log kept at {self.saved_log}")
            except OSError as e:
                log(f"teardown: could not keep the daemon log: {e!r}")
        if self.registry is not None:
            try:
                self.registry.stop()
            except Exception as e:
                log(f"teardown: registry stop: {e!r}")
        if self.root is not None:
            with open("/proc/mounts") as f:
                mounts = [l.split()[1] for l in f if l.split()[1].startswith(self.root)]
            if mounts:
                log(f"teardown: mounts left under {self.root}, not removing it: {mounts[:5]}")
                self.leftovers = (self.leftovers or {}) | {"mounts": mounts}
            else:
                shutil.rmtree(self.root, ignore_errors=True)
        if err is not None:
            log("teardown finished after an error (see above)")

    def write_json(self, path, doc):
        if not path:
            return
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(doc, f, indent=1, default=str)
