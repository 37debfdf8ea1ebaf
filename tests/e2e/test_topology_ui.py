"""Issue 15: the live topology page at /ui, in a real browser (Debian's chromium, driven by
npm's playwright-core through tests/ui/drive.mjs), against a simulated-runtime daemon driven
by boto3 and the aws CLI.

The page loads; a task started through the API appears; a service of three tasks with a
Cloud Map name shows its tasks, its security-group edges and its DNS name; scaling the
service shows on the page within a second of the API call's return (the DOM is polled, not
slept on); a click on a task opens its details and its log stream; a revoked ingress rule
removes its edge. With access keys, the page and its streams take the key and secret as
HTTP Basic credentials. The screenshot goes to the data dir (and to docs/images/topology.png
with KECS_UI_SCREENSHOT_DOCS=1)."""
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import daemon_with_keys
from test_cloudmap_support import a_service, client as sd_client, namespace_id

HERE = os.path.dirname(os.path.abspath(__file__))
UI_DIR = os.path.join(HERE, "..", "ui")
CHROMIUM = "/usr/bin/chromium"
NODE = shutil.which("node") or "/usr/bin/node"



class Browser:
    """tests/ui/drive.mjs: one JSON command a line in, one JSON answer a line out."""

    def __init__(self):
        # Not a skip: scripts/install-deps.sh installs both, and a missing one is a failure.
        assert os.path.exists(CHROMIUM), "Debian's chromium is missing: run scripts/install-deps.sh"
        assert os.path.isdir(os.path.join(UI_DIR, "node_modules", "playwright-core")), \
            "tests/ui's playwright-core is missing: run scripts/install-deps.sh"
        self.proc = subprocess.Popen([NODE, os.path.join(UI_DIR, "drive.mjs")], cwd=UI_DIR, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def do(self, cmd, **kw):
        assert self.proc.poll() is None, "drive.mjs ended: " + self.proc.stderr.read()
        self.proc.stdin.write(json.dumps(dict(cmd=cmd, **kw)) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "drive.mjs ended: " + self.proc.stderr.read()
        return json.loads(line)

    def must(self, cmd, **kw):
        r = self.do(cmd, **kw)
        assert r["ok"], f"{cmd} {kw}: {r.get('error')}"
        return r

    def close(self):
        if self.proc.poll() is None:
            try:
                self.do("close")
            except (AssertionError, OSError, ValueError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def browser():
    b = Browser()
    yield b
    b.close()


def task_id(arn):
    return arn.rsplit("/", 1)[1]


def default_network(ec2):
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    return vpc, sorted(subnets, key=lambda s: s["AvailabilityZone"])[0]["SubnetId"]


def from_group(group, port):
    return [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "UserIdGroupPairs": [{"GroupId": group}]}]


def test_topology_page_live(kecs, browser):
    ecs, ec2, sd = kecs.client("ecs"), kecs.client("ec2"), sd_client(kecs)
    vpc, subnet = default_network(ec2)

    assert browser.must("open", url=kecs.endpoint + "/ui")["status"] == 200
    browser.must("wait", selector="#conn.live", timeout=10000)

    # Security groups: `web` admits `lb` on 80, `lb` admits the world on 80.
    web = ec2.create_security_group(GroupName="web", Description="web tasks", VpcId=vpc)["GroupId"]
    lb = ec2.create_security_group(GroupName="lb", Description="load balancer", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=from_group(lb, 80))
    kecs.aws("ec2", "authorize-security-group-ingress", "--group-id", lb, "--protocol", "tcp", "--port", "80",
             "--cidr", "0.0.0.0/0")

    ecs.create_cluster(clusterName="shop")
    td = ecs.register_task_definition(
        family="web", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "nginx:latest", "essential": True,
                               "portMappings": [{"containerPort": 80}]}])["taskDefinition"]["taskDefinitionArn"]
    net = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [web]}}

    # A task started through the API appears, in its subnet, with its address.
    run = ecs.run_task(cluster="shop", taskDefinition=td, launchType="FARGATE", networkConfiguration=net)
    one = task_id(run["tasks"][0]["taskArn"])
    browser.must("wait", selector=f'.subnet[data-subnet-id="{subnet}"] .task[data-task-id="{one}"]', timeout=5000)
    browser.must("waitText", selector=f'.task[data-task-id="{one}"]', contains="RUNNING", timeout=10000)

    # A service of three tasks with a Cloud Map name.
    ns = namespace_id(sd, sd.create_private_dns_namespace(Name="shop.local", Vpc=vpc)["OperationId"])
    registry = a_service(sd, ns, "web")
    ecs.create_service(cluster="shop", serviceName="web", taskDefinition=td, desiredCount=3, launchType="FARGATE",
                       networkConfiguration=net, serviceRegistries=[{"registryArn": registry["Arn"]}])
    browser.must("count", selector='.task[data-service="web"]', count=3, timeout=10000)
    browser.must("waitText", selector='.service[data-name="web"] .counts', contains="running 3", timeout=10000)
    browser.must("waitText", selector='.service[data-name="web"] .dns-name', contains="web.shop.local")
    browser.must("wait", selector=f'.discovery[data-dns="web.shop.local"]')
    # Its group edges: drawn in the graph and listed.
    browser.must("wait", selector=f'#graph .edge[data-from="{lb}"][data-to="{web}"][data-port="80"]')
    browser.must("wait", selector=f'#graph .edge[data-from="0.0.0.0/0"][data-to="{lb}"][data-port="80"]')
    text = browser.must("text", selector=f'.edge-row[data-from="{lb}"][data-to="{web}"]')["text"]
    assert text.startswith(f"web ({web}) admits lb ({lb}) on tcp 80"), text

    # Scaling shows within a second of the API call's return (the page is polled, not slept on).
    ecs.update_service(cluster="shop", service="web", desiredCount=4)
    scaled = browser.do("count", selector='.task[data-service="web"]', count=4, timeout=1000)
    assert scaled["ok"], f"the fourth task was not on the page within 1 s: {scaled.get('error')}"
    print(f"scale to 4 shown after {scaled['ms']} ms")
    browser.must("waitText", selector='.service[data-name="web"] .counts', contains="running 4", timeout=10000)

    browser.must("screenshot", path=os.path.join(kecs.data_dir, "topology.png"))
    if os.environ.get("KECS_UI_SCREENSHOT_DOCS") == "1":
        docs = os.path.join(HERE, "..", "..", "docs", "images")
        os.makedirs(docs, exist_ok=True)
        shutil.copy(os.path.join(kecs.data_dir, "topology.png"), os.path.join(docs, "topology.png"))

    # A click on a task shows its details and opens its log stream (the simulated runtime
    # keeps no output, and the page says so).
    browser.must("click", selector=f'.task[data-task-id="{one}"]')
    browser.must("wait", selector=f'#detail.open[data-task-id="{one}"]')
    details = browser.must("text", selector="#detail-fields")["text"]
    assert run["tasks"][0]["taskArn"] in details and web in details
    browser.must("waitText", selector="#log-state", contains="keeps no output", timeout=5000)

    # Scaling in: the tasks leave the page.
    ecs.update_service(cluster="shop", service="web", desiredCount=1)
    browser.must("count", selector='.task[data-service="web"]', count=1, timeout=15000)

    # A revoked rule removes its edge; the other stays.
    ec2.revoke_security_group_ingress(GroupId=web, IpPermissions=from_group(lb, 80))
    browser.must("wait", selector=f'#graph .edge[data-from="{lb}"][data-to="{web}"]', state="detached", timeout=2000)
    browser.must("wait", selector=f'#graph .edge[data-from="0.0.0.0/0"][data-to="{lb}"]')

    # The stopped task leaves the page.
    ecs.stop_task(cluster="shop", task=one)
    browser.must("wait", selector=f'.task[data-task-id="{one}"]', state="detached", timeout=15000)


def test_topology_page_with_access_keys(tmp_path, browser):
    d = daemon_with_keys(tmp_path, "AKIDUITEST:uisecret\n")
    d.start()
    try:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(d.endpoint + "/ui", timeout=5)
        assert e.value.code == 401
        assert e.value.headers["WWW-Authenticate"].startswith('Basic realm="kecs"')
        assert "uisecret" not in e.value.read().decode()
        # The browser sends the key and secret as Basic credentials, to the page and to its
        # WebSocket stream, which then goes live.
        assert browser.must("open", url=d.endpoint + "/ui", user="AKIDUITEST", password="uisecret")["status"] == 200
        browser.must("wait", selector="#conn.live", timeout=10000)
        browser.must("close")
        wrong = Browser()
        try:
            assert wrong.must("open", url=d.endpoint + "/ui", user="AKIDUITEST", password="nope")["status"] == 401
        finally:
            wrong.close()
    finally:
        assert d.stop() == 0
    assert "uisecret" not in open(d.log_path).read()


def test_topology_page_shows_load_balancers_and_target_health(kecs, browser):
    ecs, ec2, elbv2 = kecs.client("ecs"), kecs.client("ec2"), kecs.client("elbv2")
    vpc, _ = default_network(ec2)
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    two = [s["SubnetId"] for s in sorted(subnets, key=lambda s: s["AvailabilityZone"])[:2]]
    lb_group = ec2.create_security_group(GroupName="front", Description="alb", VpcId=vpc)["GroupId"]
    lb = elbv2.create_load_balancer(Name="front", Subnets=two, SecurityGroups=[lb_group])["LoadBalancers"][0]
    tg = elbv2.create_target_group(Name="api", Protocol="HTTP", Port=80, VpcId=vpc,
                                   TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    ecs.create_cluster(clusterName="lbs")
    td = ecs.register_task_definition(
        family="api", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "nginx:latest", "essential": True,
                               "portMappings": [{"containerPort": 80}]}])["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="lbs", serviceName="api", taskDefinition=td, desiredCount=2, launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": {"subnets": two}},
                       loadBalancers=[{"targetGroupArn": tg, "containerName": "app", "containerPort": 80}])

    assert browser.must("open", url=kecs.endpoint + "/ui")["status"] == 200
    browser.must("waitText", selector='.lb[data-name="front"]', contains=lb["DNSName"], timeout=10000)
    # The service's two tasks are its target group's targets, with their health.
    browser.must("count", selector='.lb[data-name="front"] .target', count=2, timeout=20000)
    tasks = ecs.describe_tasks(cluster="lbs", tasks=ecs.list_tasks(cluster="lbs")["taskArns"])["tasks"]
    for t in tasks:
        ip = {d["name"]: d["value"] for d in t["attachments"][0]["details"]}["privateIPv4Address"]
        browser.must("wait", selector=f'.lb[data-name="front"] .target[data-target="{ip}:80"]')
    health = elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    want = health[0]["TargetHealth"]["State"]
    target = f'{health[0]["Target"]["Id"]}:{health[0]["Target"]["Port"]}'
    browser.must("waitText", selector=f'.target[data-target="{target}"]', contains=want, timeout=10000)
    # Scaled to zero, the service's targets drain (for the group's deregistration delay).
    ecs.update_service(cluster="lbs", service="api", desiredCount=0)
    browser.must("waitText", selector=f'.target[data-target="{target}"]', contains="draining", timeout=20000)


def test_topology_page_shows_names_as_text(kecs, browser):
    """Names come from users: a tag that looks like markup is shown as text, never parsed."""
    ec2 = kecs.client("ec2")
    evil = '<img src=x onerror="document.body.dataset.pwned=1"><script>document.body.dataset.pwned=1</script>'
    vpc = ec2.create_vpc(CidrBlock="10.44.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": evil}]}])["Vpc"]["VpcId"]
    assert browser.must("open", url=kecs.endpoint + "/ui")["status"] == 200
    browser.must("waitText", selector=f'.vpc[data-vpc-id="{vpc}"] .title', contains=evil, timeout=10000)
    browser.must("count", selector="#vpcs img, #vpcs script", count=0)
    browser.must("count", selector="body[data-pwned]", count=0)


def test_flows_seen_by_the_kernel_are_drawn_on_the_edges_that_admit_them(local_kecs):
    """The page's edges carry the traffic the VPC router's conntrack saw (flow metrics, on
    by default): connections from group A's task to group B's on port 80 count on the edge
    "B admits A on tcp/80", and on no other."""
    from test_security_groups import PAGE, Vpc, get
    from conftest import wait_for
    vpc = Vpc(local_kecs)
    ga, gb, gc = vpc.group("ga"), vpc.group("gb"), vpc.group("gc")
    vpc.allow_tcp80_from_group(gb, ga)
    vpc.allow_tcp80_from_group(gc, ga)
    b = vpc.task([gb])
    a = vpc.task([ga])
    vpc.task([gc])
    for _ in range(3):
        assert get(a["ns"], b["ip"]) == PAGE

    def edges():
        with urllib.request.urlopen(local_kecs.endpoint + "/ui/snapshot.json", timeout=10) as r:
            snap = json.loads(r.read())
        return {(e["from"], e["to"], e["fromPort"]): e["flows"] for e in snap["edges"]}

    # Accepted connections show once the router's conntrack is read (every 10 s with flow
    # metrics on), whichever comes first of that and their end.
    flows = wait_for(lambda: (edges().get((ga, gb, 80)) or {}).get("accepted", 0) >= 3 and edges()[(ga, gb, 80)],
                     timeout=40, what="the three connections on the edge gb admits ga")
    assert flows["packets"] >= 3 * 4 and flows["bytes"] > 3 * len("hello from kecs\n")
    assert edges()[(ga, gc, 80)] is None   # no traffic went to gc's task
