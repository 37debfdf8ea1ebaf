"""End-to-end harness: a real kecs daemon on a free port with its own data dir, driven by
the real aws CLI (Debian's awscli, /usr/bin/aws) and boto3 (Debian's python3-boto3)."""
import ipaddress
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import boto3
import botocore.config
import pytest

KECS_BIN = os.environ.get("KECS_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "src", "daemon", "kecs")
AWS_BIN = "/usr/bin/aws"


def free_port():
    """A free port for a daemon or server of a test, from 20000-30999: outside the host ports
    kecs forwards (load balancers 31000-31999, public ports 32000-32999, bridge ports
    49153-65535) and the kernel's ephemeral range (32768-60999), so that a local-runtime
    test's forwarding on the other xdist worker never captures another test's server."""
    for _ in range(1000):
        port = random.randint(20000, 30999)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-30999")


class PortTaken(RuntimeError):
    pass


class Daemon:
    """A kecs daemon process. start() and stop() may be called repeatedly (restarts)."""

    def __init__(self, data_dir, runtime="simulated", extra_env=None, extra_args=None):
        self.data_dir = data_dir
        self.port = free_port()
        self.runtime = runtime
        self.extra_env = extra_env or {}
        self.extra_args = extra_args or []
        self.proc = None
        self.started = False
        self.log_path = os.path.join(data_dir, "kecs.log")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self, timeout=20):
        # A port from free_port() is free when picked, not when kecs binds it: another test
        # process may take it in between. On a first start, another port is tried.
        for attempt in range(5):
            try:
                return self._start(timeout)
            except PortTaken:
                if self.started or attempt == 4:
                    raise
                self.port = free_port()
                self.endpoint = f"http://127.0.0.1:{self.port}"

    def _start(self, timeout):
        env = dict(os.environ)
        env.update({"KECS_PORT": str(self.port), "KECS_DATA_DIR": self.data_dir,
                    "KECS_RUNTIME": self.runtime, "KECS_LOG_LEVEL": "debug",
                    "KECS_VALIDATE_RESPONSES": "true"})
        env.update(self.extra_env)
        log = open(self.log_path, "ab")
        offset = log.tell()
        self.proc = subprocess.Popen([KECS_BIN, "start"] + self.extra_args, env=env,
                                     stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                with open(self.log_path, "rb") as f:
                    f.seek(offset)
                    this_start = f.read().decode(errors="replace")
                if f":{self.port}: Address already in use" in this_start:
                    raise PortTaken(this_start)
                raise RuntimeError("kecs exited at start:\n" + self.log())
            try:
                urllib.request.urlopen(self.endpoint + "/health", timeout=1).read()
                self.started = True
                return self
            except urllib.error.HTTPError:
                self.started = True
                return self   # it answers; with --auth-keys an unsigned /health is refused
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("kecs did not answer /health:\n" + self.log())

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def health(self):
        return json.loads(urllib.request.urlopen(self.endpoint + "/health", timeout=5).read())

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-8000:]
        except OSError:
            return ""

    # --- clients ---
    def aws(self, *args, region="us-east-1", check=True, raw=False):
        """Runs the real aws CLI; returns parsed JSON (or the CompletedProcess if raw)."""
        env = {"PATH": "/usr/bin:/bin", "HOME": self.data_dir, "AWS_ACCESS_KEY_ID": "AKIDKECSTEST",
               "AWS_SECRET_ACCESS_KEY": "secret", "AWS_DEFAULT_REGION": region,
               "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1"}
        cmd = [AWS_BIN, "--endpoint-url", self.endpoint, "--output", "json"] + list(args)
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if raw:
            return p
        if check and p.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
        return json.loads(p.stdout) if p.stdout.strip() else {}

    def client(self, service, region="us-east-1"):
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region,
                            aws_access_key_id="AKIDKECSTEST", aws_secret_access_key="secret",
                            config=botocore.config.Config(retries={"max_attempts": 1}))


@pytest.fixture
def kecs(request):
    """A fresh simulated-runtime daemon per test."""
    data_dir = tempfile.mkdtemp(prefix="kecs-e2e-")
    marker = request.node.get_closest_marker("kecs_args")
    env_marker = request.node.get_closest_marker("kecs_env")
    d = Daemon(data_dir, extra_args=list(marker.args) if marker else [],
               extra_env=dict(env_marker.kwargs) if env_marker else None)
    d.start()
    yield d
    rc = d.stop()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        print("---- kecs log ----\n" + d.log())
    shutil.rmtree(data_dir, ignore_errors=True)
    assert rc == 0, "kecs did not shut down cleanly"


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def daemon_with_keys(tmp_path, keys_text):
    """A simulated daemon (not started) whose --auth-keys-file, mode 0600, holds keys_text
    ("KEY:SECRET" lines); its data dir is tmp_path/data."""
    keys = tmp_path / "keys"
    keys.write_text(keys_text)
    keys.chmod(0o600)
    (tmp_path / "data").mkdir()
    return Daemon(str(tmp_path / "data"), extra_args=["--auth-keys-file", str(keys)])


def boto_client(daemon, service, key, secret):
    """A boto3 client of `daemon` signing with `key` and `secret`, without retries."""
    return boto3.client(service, endpoint_url=daemon.endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def pytest_configure(config):
    config.addinivalue_line("markers", "kecs_args(*args): extra `kecs start` arguments")
    config.addinivalue_line("markers", "kecs_env(**vars): extra environment of `kecs start` (secrets go here)")
    config.addinivalue_line("markers", "host_wide: uses something the whole host shares; never beside another")


# Under pytest-xdist (`-n 2 --dist loadgroup`, as CI runs the suite), tests that use the host
# itself run one at a time on one worker: the local runtime's daemons (kernel objects, the
# default VPC's route, published host ports, HAProxy) and the image registry. Simulated-runtime
# daemons share nothing (a data dir and a port each) and run beside them. tryfirst: xdist reads
# the group in its own hook of the same name.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if {"local_kecs", "registry"} & set(item.fixturenames) or item.get_closest_marker("host_wide"):
            item.add_marker(pytest.mark.xdist_group("host"))


def wait_for(fn, timeout=15, interval=0.05, what="condition", until=bool):
    """Calls fn() until until(its value) holds (by default: the value is truthy) and returns
    that value; fails after `timeout` seconds naming `what` and the last value."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if until(last):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


def controller_passes(ecs, cluster, task_definition, **run_task_args):
    """Works one probe task through its whole life: RunTask, RUNNING, StopTask, STOPPED.
    Each of its steps is a store commit, and each commit makes the task controller scan and
    step every task it has (and the service scheduler pass over every service): when this
    returns, the controllers have been over everything else several times since the call.
    The probe is left STOPPED in `cluster`."""
    out = ecs.run_task(cluster=cluster, taskDefinition=task_definition, startedBy="kecs-e2e-probe", **run_task_args)
    assert out["failures"] == [], out["failures"]
    arn = out["tasks"][0]["taskArn"]

    def status():
        return ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]["lastStatus"]
    wait_for(status, until=lambda s: s in ("RUNNING", "STOPPED"), timeout=60, what="the probe task RUNNING")
    ecs.stop_task(cluster=cluster, task=arn, reason="probe done")
    wait_for(status, until=lambda s: s == "STOPPED", timeout=60, what="the probe task STOPPED")
    return arn


# ---------------------------------------------------------------------------------------
# The local runtime (root only): a real registry serving a busybox "nginx:latest" built
# offline, and daemons that run real containers under their own name prefix.

def v6_subnet(vpc_block, index):
    """The index-th /64 of a VPC's /56. The block's text may compress its fourth group away
    ("2600:1f82:58ba::/56" when the random byte is 0), so it is computed, never edited as text."""
    return str(list(ipaddress.IPv6Network(vpc_block).subnets(new_prefix=64))[index])


def is_root():
    return os.geteuid() == 0


BUSYBOX_APPLETS = ["sh", "httpd", "nc", "wget", "ls", "cat", "echo", "sleep", "ping", "nslookup",
                   "ip", "hostname", "id", "touch", "ulimit", "grep", "head", "true", "false", "kill",
                   "seq", "date", "printf", "env", "pwd", "timeout"]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def build_busybox_image(workdir, name, cmd, index_html="hello from kecs\n", files=None):
    """An OCI image of Debian's busybox-static, built offline with umoci; returns a
    docker-archive tarball path tagged `name`. `files` maps paths in the rootfs (relative)
    to their contents: text, or bytes for a program; programs and names ending in .sh are
    made executable."""
    layout = os.path.join(workdir, "oci")
    bundle = os.path.join(workdir, "bundle")
    run(["umoci", "init", "--layout", layout])
    run(["umoci", "new", "--image", layout + ":latest"])
    run(["umoci", "unpack", "--image", layout + ":latest", bundle])
    rootfs = os.path.join(bundle, "rootfs")
    for d in ("bin", "www", "etc", "tmp", "root"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
    for a in BUSYBOX_APPLETS:
        os.symlink("busybox", os.path.join(rootfs, "bin", a))
    with open(os.path.join(rootfs, "www", "index.html"), "w") as f:
        f.write(index_html)
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
    with open(os.path.join(rootfs, "etc", "group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")
    for path, content in (files or {}).items():
        full = os.path.join(rootfs, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb" if isinstance(content, bytes) else "w") as f:
            f.write(content)
        if isinstance(content, bytes) or path.endswith(".sh"):
            os.chmod(full, 0o755)
    run(["umoci", "repack", "--image", layout + ":latest", bundle])
    args = ["umoci", "config", "--image", layout + ":latest"]
    for c in cmd:
        args += ["--config.cmd", c]
    run(args)
    tar = os.path.join(workdir, "image.tar")
    run(["skopeo", "--insecure-policy", "copy", "oci:" + layout + ":latest", "docker-archive:" + tar + ":" + name])
    return tar


class Registry:
    def __init__(self, root):
        self.root = root
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        cfg = os.path.join(root, "config.yml")
        with open(cfg, "w") as f:
            f.write(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
                    f"http:\n  addr: {self.addr}\n")
        self.proc = subprocess.Popen(["docker-registry", "serve", cfg], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://{self.addr}/v2/", timeout=1)
                return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("docker-registry did not start")

    def push(self, tarball, repo):
        run(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false",
             "docker-archive:" + tarball, f"docker://{self.addr}/{repo}"])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def registry():
    if not is_root():
        pytest.skip("the local runtime needs root")
    root = tempfile.mkdtemp(prefix="kecs-registry-")
    reg = Registry(root)
    tar = build_busybox_image(os.path.join(root, "nginx"), "nginx:latest",
                              ["/bin/httpd", "-f", "-p", "80", "-h", "/www"])
    reg.push(tar, "library/nginx:latest")
    yield reg
    reg.stop()
    shutil.rmtree(root, ignore_errors=True)


def kecs_objects(prefix):
    """What the kernel holds with this prefix: namespaces, links, the nft table."""
    netns = [n.split()[0] for n in run(["ip", "netns", "list"]).stdout.splitlines()
             if n.startswith(prefix + "-")]
    links = [l.split(":")[1].strip().split("@")[0] for l in run(["ip", "-o", "link"]).stdout.splitlines()
             if l.split(":")[1].strip().startswith(prefix)]
    tables = [t for t in run(["nft", "list", "tables"]).stdout.splitlines() if t.strip() == f"table ip {prefix}"]
    return netns, links, tables


@pytest.fixture
def local_kecs(request, registry):
    """A local-runtime daemon with its own data dir and name prefix. At teardown every task
    is stopped through the API; the task-level kernel objects must then be gone (only the
    host-wide bridge and nft table may stay), and `kecs cleanup` removes those."""
    import secrets
    data_dir = tempfile.mkdtemp(prefix="kecs-local-")
    prefix = "kt" + secrets.token_hex(2)
    marker = request.node.get_closest_marker("kecs_args")
    env_marker = request.node.get_closest_marker("kecs_env")
    # A bridge network of its own, so that no other daemon's (or Docker's) can clash.
    bridge = f"192.168.{100 + secrets.randbelow(150)}.0/24"
    d = Daemon(data_dir, runtime="local",
               extra_env={"KECS_NAME_PREFIX": prefix, "KECS_BRIDGE_CIDR": bridge,
                          "KECS_REGISTRY_MIRRORS": f"docker.io={registry.addr}",
                          "KECS_INSECURE_REGISTRIES": registry.addr,
                          **(dict(env_marker.kwargs) if env_marker else {})},
               extra_args=list(marker.args) if marker else [])
    d.prefix = prefix
    d.registry = registry
    try:
        d.start()
        yield d
        if d.proc is None:
            d.start()
        ecs = d.client("ecs")
        stopping = []
        for c in ecs.list_clusters()["clusterArns"]:
            arns = ecs.list_tasks(cluster=c)["taskArns"]
            for t in arns:
                ecs.stop_task(cluster=c, task=t, reason="test teardown")
            stopping.append((c, arns))
        for c, arns in stopping:
            for i in range(0, len(arns), 100):
                wait_for(lambda: all(t["lastStatus"] == "STOPPED" for t in
                                     ecs.describe_tasks(cluster=c, tasks=arns[i:i + 100])["tasks"]),
                         timeout=90, what="every task stopped")
        netns, links, _ = kecs_objects(prefix)
        assert netns == [], f"namespaces left after every task stopped: {netns}"
        assert set(links) <= {prefix + "0"}, f"links left after every task stopped: {links}"
    finally:
        rc = d.stop()
        subprocess.run([KECS_BIN, "cleanup", "--name-prefix", prefix, "--data-dir", data_dir], check=False)
        netns, links, tables = kecs_objects(prefix)
        shutil.rmtree(data_dir, ignore_errors=True)
        assert (netns, links, tables) == ([], [], []), "kecs objects left behind"
    assert rc == 0


# ---------------------------------------------------------------------------------------
# How a request failed. A "blocked" check must say which failure it expects: a packet that a
# security group or network ACL drops makes the client time out; a port nobody listens on
# refuses the connection. A client that crashed, or a name that did not resolve, proves
# neither.

OK = "ok"
TIMEOUT = "timeout"              # no answer at all: the packets were dropped
REFUSED = "refused"              # a TCP reset to the SYN: reachable, nothing listening
RESET = "reset"                  # connected, then reset (or closed without a reply)
UNREACHABLE = "unreachable"      # an ICMP error: no route to host, network unreachable
DNS_FAILURE = "dns-failure"      # the name did not resolve
HTTP_ERROR = "http-error"        # the server answered with a 4xx or 5xx status
CLIENT_ERROR = "client-error"    # the client crashed, hung, or failed in a way not above


class Probe:
    """What one request did: `outcome` (one of the constants above), `body` (the page, for
    OK and HTTP_ERROR) and `detail` (the client's own words). Two probes are equal when
    their outcome and body are."""

    def __init__(self, outcome, body="", detail=""):
        self.outcome, self.body, self.detail = outcome, body, detail

    def __eq__(self, other):
        return isinstance(other, Probe) and (self.outcome, self.body) == (other.outcome, other.body)

    def __repr__(self):
        return f"Probe({self.outcome!r}, body={self.body!r}, detail={self.detail.strip()[-300:]!r})"


def served(page):
    """The Probe of a GET that got `page`."""
    return Probe(OK, page)


def _classify_error_text(text):
    """The outcome that an error message of curl, busybox wget or ping names, or None."""
    t = text.lower()
    for needle, outcome in (("connection refused", REFUSED), ("connection reset", RESET),
                            ("empty reply from server", RESET), ("recv failure", RESET),
                            ("no route to host", UNREACHABLE), ("network is unreachable", UNREACHABLE),
                            ("host is unreachable", UNREACHABLE), ("could not resolve", DNS_FAILURE),
                            ("bad address", DNS_FAILURE), ("server returned error", HTTP_ERROR),
                            ("timed out", TIMEOUT)):
        if needle in t:
            return outcome
    return None


def http_probe(url, netns=None, timeout=3):
    """GET `url` with curl, from the host or from inside network namespace `netns`, and
    classify the result (curl's exit codes: 6 resolve, 7 connect, 28 timeout, 52/56 reset;
    for 7, only -v's "connect to ... failed: <errno text>" says why)."""
    cmd = (["ip", "netns", "exec", netns] if netns else []) + [
        "curl", "-sS", "-v", "--max-time", str(timeout), "--write-out", "\n%{http_code}", url]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 10)
    except subprocess.TimeoutExpired as e:
        return Probe(CLIENT_ERROR, detail=f"curl did not exit within {timeout + 10}s: {e}")
    if p.returncode < 0:
        return Probe(CLIENT_ERROR, detail=f"curl died of signal {-p.returncode}: {p.stderr}")
    if p.returncode == 0:
        body, _, code = p.stdout.rpartition("\n")
        if code.isdigit() and int(code) >= 400:
            return Probe(HTTP_ERROR, body, f"HTTP {code}")
        return Probe(OK, body, f"HTTP {code}")
    by_code = {6: DNS_FAILURE, 28: TIMEOUT, 52: RESET, 56: RESET}
    outcome = by_code.get(p.returncode) or (_classify_error_text(p.stderr) if p.returncode == 7 else None)
    return Probe(outcome or CLIENT_ERROR, detail=f"curl exit {p.returncode}: {p.stderr}")


def classify_busybox(p, timeout_codes=(124, 143, -signal.SIGTERM)):
    """The outcome of a busybox client (wget, nc, nslookup) run under `timeout`: coreutils'
    timeout exits 124 when it had to stop the client; busybox's sends the client SIGTERM
    (143, or -15 through nsenter, which dies of its child's signal). A client killed by any
    other signal crashed."""
    if p.returncode == 0:
        return Probe(OK, p.stdout, p.stderr)
    if p.returncode in timeout_codes:
        return Probe(TIMEOUT, detail=f"stopped by timeout (exit {p.returncode}): {p.stderr}")
    if p.returncode < 0 or p.returncode > 128:
        return Probe(CLIENT_ERROR, detail=f"client died (exit {p.returncode}): {p.stderr}")
    return Probe(_classify_error_text(p.stderr + p.stdout) or CLIENT_ERROR, p.stdout,
                 f"exit {p.returncode}: {p.stderr}")


def ping_probe(netns, ip):
    """One ICMP echo from `netns` with busybox ping: OK on a reply, TIMEOUT when the request
    (or its reply) was dropped, UNREACHABLE on an ICMP error."""
    p = subprocess.run(["ip", "netns", "exec", netns, "busybox", "ping", "-c", "1", "-W", "1", ip],
                       capture_output=True, text=True, timeout=15)
    if p.returncode == 0:
        return Probe(OK, detail=p.stdout)
    if p.returncode < 0:
        return Probe(CLIENT_ERROR, detail=f"ping died of signal {-p.returncode}: {p.stderr}")
    if "0 packets received" in p.stdout and not p.stderr.strip():
        return Probe(TIMEOUT, detail=p.stdout)
    return Probe(_classify_error_text(p.stderr + p.stdout) or CLIENT_ERROR, detail=p.stdout + p.stderr)


def wait_answered(probe, what, timeout=30):
    """After a change that should let traffic through: polls `probe` until it succeeds."""
    return wait_for(probe, timeout=timeout, until=lambda p: p.outcome == OK, what=what)


def wait_dropped(probe, what, timeout=30):
    """After a change that should drop traffic: polls `probe` until it stops succeeding,
    then requires the failure to be a timeout (dropped), not a refusal or a client error."""
    p = wait_for(probe, timeout=timeout, until=lambda p: p.outcome != OK, what=what)
    assert p.outcome == TIMEOUT, f"{what}: expected the request to be dropped (a timeout), got {p}"
    return p
