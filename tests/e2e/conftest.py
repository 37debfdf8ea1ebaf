"""End-to-end harness: a real kecs daemon on a free port with its own data dir, driven by
the real aws CLI (Debian's awscli, /usr/bin/aws) and boto3 (Debian's python3-boto3)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import boto3
import botocore.config
import pytest

KECS_BIN = os.environ.get("KECS_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "src", "daemon", "kecs")
AWS_BIN = "/usr/bin/aws"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """A kecs daemon process. start() and stop() may be called repeatedly (restarts)."""

    def __init__(self, data_dir, runtime="simulated", extra_env=None, extra_args=None):
        self.data_dir = data_dir
        self.port = free_port()
        self.runtime = runtime
        self.extra_env = extra_env or {}
        self.extra_args = extra_args or []
        self.proc = None
        self.log_path = os.path.join(data_dir, "kecs.log")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self, timeout=20):
        env = dict(os.environ)
        env.update({"KECS_PORT": str(self.port), "KECS_DATA_DIR": self.data_dir,
                    "KECS_RUNTIME": self.runtime, "KECS_LOG_LEVEL": "debug",
                    "KECS_VALIDATE_RESPONSES": "true"})
        env.update(self.extra_env)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([KECS_BIN, "start"] + self.extra_args, env=env,
                                     stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("kecs exited at start:\n" + self.log())
            try:
                urllib.request.urlopen(self.endpoint + "/health", timeout=1).read()
                return self
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
    d = Daemon(data_dir, extra_args=list(marker.args) if marker else [])
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


def pytest_configure(config):
    config.addinivalue_line("markers", "kecs_args(*args): extra `kecs start` arguments")


def wait_for(fn, timeout=15, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")
