"""/metrics (issue 15) with real clients: Debian's promtool checks the exposition and
Debian's Prometheus scrapes it, with and without access keys (HTTP Basic credentials)."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import base64

import pytest

from conftest import daemon_with_keys, free_port, wait_for
from test_ecs_support import container, default_subnet

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
FAST = {"Delay": 1, "MaxAttempts": 30}


def scrape(daemon, auth=None):
    req = urllib.request.Request(daemon.endpoint + "/metrics")
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def sample(text, series):
    """The value of one series (name and labels exactly as exposed), or None."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


class Prometheus:
    """Debian's Prometheus on a free port with its own data dir, scraping one target every
    second."""

    def __init__(self, target_port, basic_auth=None):
        self.dir = tempfile.mkdtemp(prefix="kecs-prom-")
        self.port = free_port()
        job = {"job_name": "kecs", "scrape_interval": "1s", "scrape_timeout": "1s",
               "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}]}
        if basic_auth:
            user, secret = basic_auth
            pw = os.path.join(self.dir, "password")
            with open(pw, "w") as f:
                f.write(secret)
            os.chmod(pw, 0o600)
            job["basic_auth"] = {"username": user, "password_file": pw}
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:  # YAML is a superset of JSON
            json.dump({"global": {"scrape_interval": "1s"}, "scrape_configs": [job]}, f)
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={self.dir}/data",
             f"--web.listen-address=127.0.0.1:{self.port}"], stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, q):
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                body = json.loads(r.read())
        except (urllib.error.URLError, ConnectionError):
            return []
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, q):
        res = self.query(q)
        return float(res[0]["value"][1]) if res else None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def output(self):
        with open(os.path.join(self.dir, "log"), "rb") as f:
            return f.read().decode(errors="replace")[-4000:]


def test_metrics_pass_promtool_and_count_the_api_tasks_and_addresses(kecs):
    ecs = kecs.client("ecs")
    subnet = default_subnet(kecs)
    ecs.create_cluster(clusterName="m")
    ecs.register_task_definition(family="m", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                 cpu="256", memory="512", containerDefinitions=[
                                     container("app", portMappings=[{"containerPort": 80}])])
    net = {"awsvpcConfiguration": {"subnets": [subnet], "assignPublicIp": "ENABLED"}}
    arns = [t["taskArn"] for t in ecs.run_task(cluster="m", taskDefinition="m", count=2, launchType="FARGATE",
                                                networkConfiguration=net)["tasks"]]
    ecs.get_waiter("tasks_running").wait(cluster="m", tasks=arns, WaiterConfig=FAST)
    with pytest.raises(Exception):
        ecs.describe_clusters(clusters=["m"], include=["NOT_AN_OPTION"])

    text = scrape(kecs)
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    assert sample(text, 'kecs_api_requests_total{code="",operation="RunTask",service="ecs"}') == 1
    assert sample(text, 'kecs_api_requests_total{code="InvalidParameterException",operation="DescribeClusters",'
                        'service="ecs"}') == 1
    assert sample(text, 'kecs_tasks{region="us-east-1",status="RUNNING"}') == 2
    # The task's start by stage: each of the two tasks observed once.
    assert sample(text, 'kecs_task_start_duration_seconds_count{stage="total"}') == 2
    # Two ENIs hold two addresses of the default subnet; the rest is free.
    used = sample(text, f'kecs_subnet_ip_addresses{{region="us-east-1",vpc="{vpc_of(kecs, subnet)}",'
                        f'subnet="{subnet}",state="used"}}')
    free = sample(text, f'kecs_subnet_ip_addresses{{region="us-east-1",vpc="{vpc_of(kecs, subnet)}",'
                        f'subnet="{subnet}",state="free"}}')
    avail = kecs.client("ec2").describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailableIpAddressCount"]
    assert used == 2 and free == avail
    # Each task's port 80 is published on a host port of 32000-32999.
    assert sample(text, 'kecs_host_ports{protocol="tcp",state="used"}') == 2
    assert sample(text, 'kecs_host_ports{protocol="tcp",state="free"}') == 998
    # No task id anywhere in a label.
    for arn in arns:
        assert arn.split("/")[-1] not in text

    ecs.stop_task(cluster="m", task=arns[0])
    ecs.get_waiter("tasks_stopped").wait(cluster="m", tasks=arns[:1], WaiterConfig=FAST)
    text = scrape(kecs)
    assert sample(text, 'kecs_tasks{region="us-east-1",status="RUNNING"}') == 1
    assert sample(text, 'kecs_tasks{region="us-east-1",status="STOPPED"}') == 1


def vpc_of(kecs, subnet):
    return kecs.client("ec2").describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]


def test_prometheus_scrapes_kecs(kecs):
    ecs = kecs.client("ecs")
    ecs.create_cluster(clusterName="scraped")
    prom = Prometheus(kecs.port)
    try:
        wait_for(lambda: prom.value('up{job="kecs"}') == 1, timeout=60, what="Prometheus scraping kecs: "
                 + prom.output())
        wait_for(lambda: prom.value('kecs_api_requests_total{operation="CreateCluster"}') == 1, timeout=30,
                 what="CreateCluster counted in Prometheus")
        ecs.list_clusters()
        wait_for(lambda: (prom.value('sum(kecs_api_requests_total{operation="ListClusters"})') or 0) >= 1,
                 timeout=30, what="a later request seen by the next scrapes")
        assert prom.value('kecs_api_request_duration_seconds_count{operation="CreateCluster"}') == 1
    finally:
        prom.stop()


def test_with_access_keys_metrics_need_them_and_prometheus_sends_them(tmp_path):
    d = daemon_with_keys(tmp_path, "AKIDPROM:prom-secret-1\n")
    d.start()
    try:
        with pytest.raises(urllib.error.HTTPError) as e:
            scrape(d)
        assert e.value.code == 401 and e.value.headers["WWW-Authenticate"].startswith("Basic")
        with pytest.raises(urllib.error.HTTPError) as e:
            scrape(d, auth="AKIDPROM:wrong")
        assert e.value.code == 401
        assert "# TYPE kecs_tasks gauge" in scrape(d, auth="AKIDPROM:prom-secret-1")

        prom = Prometheus(d.port, basic_auth=("AKIDPROM", "prom-secret-1"))
        try:
            wait_for(lambda: prom.value('up{job="kecs"}') == 1, timeout=60,
                     what="Prometheus scraping kecs with basic_auth: " + prom.output())
        finally:
            prom.stop()
        assert "prom-secret-1" not in d.log()
    finally:
        assert d.stop() == 0


# ---- the local runtime: counters from the kernel ------------------------------------------

def test_eni_counters_come_from_the_kernel(local_kecs):
    from test_security_groups import PAGE, Vpc, get
    vpc = Vpc(local_kecs)
    ga, gb = vpc.group("ga"), vpc.group("gb")
    vpc.allow_tcp80_from_group(gb, ga)
    b = vpc.task([gb])
    a = vpc.task([ga])
    series = (lambda eni, d: f'kecs_eni_bytes_total{{eni="{eni}",vpc="{vpc.vpc}",direction="{d}"}}')
    before = scrape(local_kecs)
    b_in0 = sample(before, series(b["eni"], "ingress"))
    assert b_in0 is not None, before
    for _ in range(5):
        assert get(a["ns"], b["ip"]) == PAGE
    after = scrape(local_kecs)
    # Five requests of ~100 bytes went in to B and five pages came out; A sent the requests.
    assert sample(after, series(b["eni"], "ingress")) >= b_in0 + 5 * 60
    assert sample(after, series(b["eni"], "egress")) >= sample(before, series(b["eni"], "egress")) + 5 * len("hello from kecs\n")
    assert sample(after, series(a["eni"], "egress")) > sample(before, series(a["eni"], "egress"))
    assert sample(after, f'kecs_eni_packets_total{{eni="{b["eni"]}",vpc="{vpc.vpc}",direction="ingress"}}') >= 10
    # The policy was applied at least once for the VPC, and timed.
    assert (sample(after, 'kecs_sg_policy_apply_duration_seconds_count{kind="full"}') or 0) + \
        (sample(after, 'kecs_sg_policy_apply_duration_seconds_count{kind="incremental"}') or 0) >= 1
    # A lookup at the VPC's resolver (base+2) is counted by its response code.
    dns = lambda text: sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith("kecs_dns_queries_total{"))
    subprocess.run(["ip", "netns", "exec", a["ns"], "busybox", "timeout", "5", "nslookup", "-type=a",
                    "no-such-name.ec2.internal", "10.60.0.2"], capture_output=True, timeout=15)
    assert dns(scrape(local_kecs)) >= dns(after) + 1
    # Once B stops, its ENI's series are gone.
    vpc.ecs.stop_task(cluster="sg", task=b["arn"])
    vpc.ecs.get_waiter("tasks_stopped").wait(cluster="sg", tasks=[b["arn"]], WaiterConfig=FAST)
    assert b["eni"] not in scrape(local_kecs)


def test_a_blocked_connection_is_a_drop_for_the_right_eni_and_reason_within_one_scrape(local_kecs):
    """Issue 15, done when 2: /metrics counts a connection a security group blocks as a drop
    of the receiving ENI, reason security_group, by the next scrape."""
    from test_security_groups import TIMEOUT, Vpc, get
    vpc = Vpc(local_kecs)
    ga, gb, gc = vpc.group("ga"), vpc.group("gb"), vpc.group("gc")
    vpc.allow_tcp80_from_group(gb, ga)
    b = vpc.task([gb])
    c = vpc.task([gc])
    series = f'kecs_drops_packets_total{{eni="{b["eni"]}",direction="ingress",reason="security_group"}}'
    before = sample(scrape(local_kecs), series) or 0
    # A VPC's capture opens at the first flow pass after its first ENI is in use, and a pass
    # drains it every second: the attempt is made again (a SYN and one retransmission each)
    # until a capture has seen it, and each time scrapes a second apart (Prometheus's
    # shortest interval) stand for "the next scrape". Never counted: the test fails.
    after = None
    for attempt in range(3):
        assert get(c["ns"], b["ip"], timeout=2).outcome == TIMEOUT   # gc is not admitted by gb
        for _ in range(3):
            after = sample(scrape(local_kecs), series)
            if after is not None and after >= before + 1:
                break
            time.sleep(1)
        if after is not None and after >= before + 1:
            break
    assert after is not None and after >= before + 1, scrape(local_kecs)
