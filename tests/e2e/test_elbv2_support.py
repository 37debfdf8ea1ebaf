"""Shared helpers for the Elastic Load Balancing (v2) end-to-end tests (no tests here).

- error() and cli_error(): AWS's (code, message) of a refused call, through boto3 or the
  real aws CLI (`aws elbv2 ... --endpoint-url`);
- Vpc: a VPC of the test's own (so that no other daemon on the host shares its range), two
  subnets in two zones, and security groups;
- the "lbweb" image (busybox httpd, built offline and pushed to the e2e registry), whose
  `who.sh` pages are CGI scripts that say which task answered and what the request looked
  like to the target (the peer's address, X-Forwarded-*, Host, cookies);
- LbEnv: an ECS cluster on such a VPC with services behind target groups, on the local
  runtime (real runc tasks), and the ways to reach a load balancer: its listener's host port
  (GET /_kecs/v1/load-balancers, also `kecs elb
  ls`) and its DNS name from inside a task (the VPC resolver answers it).

AWS's wording of errors and of DescribeTargetHealth reasons is quoted where a test asserts
it, with the source beside it."""
import http.client
import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
import urllib.request

import pytest

import conftest
from conftest import build_busybox_image, is_root, wait_for
from test_service_discovery_dns import Env as _DnsEnv
from test_services import error  # noqa: F401  (code, message) of a refused boto3 call

ACCOUNT = "000000000000"
REGION = "us-east-1"

LB_ARN = re.compile(r"^arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/(app|net)/[A-Za-z0-9-]+/[0-9a-f]{16}$")
TG_ARN = re.compile(r"^arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/[A-Za-z0-9-]+/[0-9a-f]{16}$")
LISTENER_ARN = re.compile(r"^arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/(app|net)/[A-Za-z0-9-]+/[0-9a-f]{16}/[0-9a-f]{16}$")
RULE_ARN = re.compile(r"^arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/(app|net)/[A-Za-z0-9-]+/[0-9a-f]{16}/[0-9a-f]{16}/[0-9a-f]{16}$")

# DescribeTargetHealth's reasons and descriptions, as AWS's documentation tables them
# ("Health check reason codes", Elastic Load Balancing user guides: awsdocs
# elb-application-load-balancers-user-guide, target-group-health-checks.md).
REGISTRATION_IN_PROGRESS = ("Elb.RegistrationInProgress", "Target registration is in progress")
DEREGISTRATION_IN_PROGRESS = ("Target.DeregistrationInProgress", "Target deregistration is in progress")
NOT_REGISTERED = ("Target.NotRegistered", "Target is not registered to the target group")
NOT_IN_USE = ("Target.NotInUse", "Target group is not configured to receive traffic from the load balancer")
FAILED_HEALTH_CHECKS = ("Target.FailedHealthChecks", "Health checks failed")


_CLI_ERROR = re.compile(r"An error occurred \(([^)]+)\) when calling the \w+ operation"
                        r"(?: \(reached max retries: \d+\))?: (.*)", re.S)


def cli(kecs, *args):
    return kecs.aws("elbv2", *args)


def cli_error(kecs, *args, service="elbv2"):
    """(code, message) of a CLI call of `service` that must fail."""
    p = kecs.aws(service, *args, raw=True)
    assert p.returncode != 0, p.stdout
    m = _CLI_ERROR.search(p.stderr)
    assert m, p.stderr
    return m.group(1), m.group(2).strip()


def tags_of(elbv2, arn):
    [d] = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"]
    return {t["Key"]: t["Value"] for t in d.get("Tags", [])}


def health(elbv2, tg_arn, targets=None):
    """{target id: TargetHealth} of a target group (or of the given targets)."""
    kw = {"Targets": targets} if targets is not None else {}
    out = elbv2.describe_target_health(TargetGroupArn=tg_arn, **kw)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: d["TargetHealth"] for d in out}


def states(elbv2, tg_arn):
    return {i: h["State"] for i, h in health(elbv2, tg_arn).items()}


class Vpc:
    """A VPC of the test's own: 10.X.0.0/16 with X picked at random (other daemons on the
    host use the default VPC's 172.31.0.0/16), two subnets in us-east-1a and us-east-1b,
    and an internet gateway."""

    def __init__(self, kecs):
        self.ec2 = kecs.client("ec2")
        x = 100 + secrets.randbelow(150)
        self.cidr = f"10.{x}.0.0/16"
        self.vpc = self.ec2.create_vpc(CidrBlock=self.cidr)["Vpc"]["VpcId"]
        self.subnets = [self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.{x}.{i + 1}.0/24",
                                               AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
                        for i, z in enumerate("ab")]
        self.resolver = str(ipaddress.ip_network(self.cidr).network_address + 2)
        # An internet-facing load balancer needs an internet gateway on its VPC (AWS
        # refuses one without: InvalidSubnet).
        igw = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=self.vpc)

    def group(self, name, ingress=()):
        """A security group; `ingress` is a list of (port, source) where source is a CIDR or a
        group id (tcp), or (protocol, port, source)."""
        g = self.ec2.create_security_group(GroupName=name, Description=name, VpcId=self.vpc)["GroupId"]
        for rule in ingress:
            proto, port, src = rule if len(rule) == 3 else ("tcp",) + tuple(rule)
            perm = {"IpProtocol": proto, "FromPort": port, "ToPort": port}
            if src.startswith("sg-"):
                perm["UserIdGroupPairs"] = [{"GroupId": src}]
            else:
                perm["IpRanges"] = [{"CidrIp": src}]
            self.ec2.authorize_security_group_ingress(GroupId=g, IpPermissions=[perm])
        return g


# ---------------------------------------------------------------------------------------
# The lbweb image: busybox httpd whose who.sh pages are CGI scripts (httpd.conf maps *.sh to
# /bin/sh), at /who.sh, /api/who.sh and /web/who.sh, so that path rules can route them.
# httpd runs as a daemon beside a `sleep` that keeps the container up: killing httpd makes
# the task's target fail its health checks while the task keeps running, as a hung server
# does. Task definitions run it with initProcessEnabled, so tini forwards SIGTERM.

WHO = r"""#!/bin/sh
echo "Content-Type: text/plain"
echo
set -- $(ip -4 -o addr show dev eth0)
echo "name=$NAME"
echo "ip=${4%/*}"
echo "remote=$REMOTE_ADDR"
echo "uri=$REQUEST_URI"
echo "host=$HTTP_HOST"
echo "xff=$HTTP_X_FORWARDED_FOR"
echo "proto=$HTTP_X_FORWARDED_PROTO"
echo "port=$HTTP_X_FORWARDED_PORT"
echo "cookie=$HTTP_COOKIE"
"""

LB_IMAGE = "lbweb:latest"


def _lbweb_files():
    return {"www/who.sh": WHO, "www/api/who.sh": WHO, "www/web/who.sh": WHO, "www/old/index.html": "old\n",
            "etc/httpd.conf": "*.sh:/bin/sh\n"}


@pytest.fixture(scope="session")
def lb_image(registry):
    """Pushes the lbweb image to the e2e registry (as docker.io/library/lbweb:latest)."""
    root = tempfile.mkdtemp(prefix="kecs-lbweb-")
    try:
        tar = build_busybox_image(root, LB_IMAGE, ["/bin/sh", "-c",
                                                   "httpd -p 80 -h /www -c /etc/httpd.conf && exec sleep 2147483647"],
                                  files=_lbweb_files())
        registry.push(tar, "library/" + LB_IMAGE)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return LB_IMAGE


# ---------------------------------------------------------------------------------------
# The lbpeer image, for network load balancers: `peer serve 7000` answers every TCP
# connection and UDP datagram with the address it saw the client at (busybox has no UDP
# server, and Debian's busybox nc no UDP at all), and `peer udp IP PORT` is the UDP client.
# It is compiled here, statically, with the C compiler the build needs anyway.

PEER_C = r"""/* peer: `peer serve PORT` answers every TCP connection and UDP datagram on PORT with
   a line naming the address the server saw the client at (see describe);
   `peer udp IP PORT` sends one datagram and prints the answer (exit 1 after 3 s without). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* "peer=<client address>:<port> self=<the address the client reached> name=<$NAME>" */
static int describe(char *out, size_t n, const struct sockaddr_in *a, int conn) {
  char ip[INET_ADDRSTRLEN], self[INET_ADDRSTRLEN] = "";
  inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
  struct sockaddr_in me;
  socklen_t len = sizeof me;
  if (conn >= 0 && getsockname(conn, (struct sockaddr *)&me, &len) == 0)
    inet_ntop(AF_INET, &me.sin_addr, self, sizeof self);
  const char *name = getenv("NAME");
  return snprintf(out, n, "peer=%s:%d self=%s name=%s\n", ip, ntohs(a->sin_port), self, name ? name : "");
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "udp") == 0) {
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
    if (inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) return 2;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (sendto(s, "hi\n", 3, 0, (struct sockaddr *)&to, sizeof to) < 0) { perror("sendto"); return 1; }
    struct pollfd p = {.fd = s, .events = POLLIN};
    if (poll(&p, 1, 3000) <= 0) { fprintf(stderr, "no answer\n"); return 1; }
    char buf[256];
    ssize_t r = recv(s, buf, sizeof buf - 1, 0);
    if (r < 0) { perror("recv"); return 1; }
    fwrite(buf, 1, (size_t)r, stdout);
    return 0;
  }
  if (argc != 3 || strcmp(argv[1], "serve") != 0) {
    fprintf(stderr, "usage: peer serve PORT | peer udp IP PORT\n");
    return 2;
  }
  struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2])), .sin_addr.s_addr = INADDR_ANY};
  int one = 1;
  int t = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
  setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(t, (struct sockaddr *)&me, sizeof me) < 0 || listen(t, 64) < 0 ||
      bind(u, (struct sockaddr *)&me, sizeof me) < 0) { perror("bind"); return 1; }
  struct pollfd fds[2] = {{.fd = t, .events = POLLIN}, {.fd = u, .events = POLLIN}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) continue;
    char out[256], buf[512];
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    if (fds[0].revents & POLLIN) {
      int c = accept(t, (struct sockaddr *)&from, &len);
      if (c >= 0) {
        int n = describe(out, sizeof out, &from, c);
        if (write(c, out, (size_t)n) < 0) perror("write");
        close(c);
      }
    }
    if (fds[1].revents & POLLIN) {
      len = sizeof from;
      ssize_t r = recvfrom(u, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
      if (r >= 0) {
        int n = describe(out, sizeof out, &from, -1);
        sendto(u, out, (size_t)n, 0, (struct sockaddr *)&from, len);
      }
    }
  }
}
"""

PEER_IMAGE = "lbpeer:latest"
PEER_PORT = 7000


@pytest.fixture(scope="session")
def peer_image(registry):
    root = tempfile.mkdtemp(prefix="kecs-lbpeer-")
    try:
        with open(os.path.join(root, "peer.c"), "w") as f:
            f.write(PEER_C)
        subprocess.run(["cc", "-static", "-O2", "-o", os.path.join(root, "peer"), os.path.join(root, "peer.c")],
                       check=True, capture_output=True, text=True)
        with open(os.path.join(root, "peer"), "rb") as f:
            peer = f.read()
        image = os.path.join(root, "image")
        os.makedirs(image)
        tar = build_busybox_image(image, PEER_IMAGE, ["/bin/peer", "serve", str(PEER_PORT)],
                                  files={"bin/peer": peer})
        registry.push(tar, "library/" + PEER_IMAGE)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return PEER_IMAGE


def parse_who(text):
    """The key=value lines of a who.sh page. busybox httpd listens on an IPv6 socket and
    gives an IPv4 peer as "[::ffff:a.b.c.d]": `remote` is the plain address."""
    page = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    if "remote" in page:
        page["remote"] = re.sub(r"^\[(?:::ffff:)?(.*)\]$", r"\1", page["remote"])
    return page


# ---------------------------------------------------------------------------------------
# Requests

class Reply:
    """A response: status, headers (lower-case names; the last of repeated ones), every
    Set-Cookie value, the body, and the who.sh page parsed (on a 200)."""

    def __init__(self, status, header_list, body):
        self.status, self.body = status, body
        self.headers = {k.lower(): v for k, v in header_list}
        self.cookies = [v for k, v in header_list if k.lower() == "set-cookie"]
        self.who = parse_who(body) if status == 200 else {}

    def __repr__(self):
        return f"Reply({self.status}, {self.headers!r}, {self.body[:300]!r})"


def get(url, headers=None, timeout=5):
    """One GET on a new connection (no redirects followed): Reply, or the exception."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    try:
        conn.request("GET", (u.path or "/") + (f"?{u.query}" if u.query else ""), headers=headers or {})
        r = conn.getresponse()
        return Reply(r.status, r.getheaders(), r.read().decode(errors="replace"))
    finally:
        conn.close()


def try_get(url, headers=None, timeout=5):
    try:
        return get(url, headers, timeout)
    except (OSError, http.client.HTTPException) as e:
        return e


class LbEnv:
    """A cluster on a Vpc of its own with the lbweb image, on a local-runtime daemon."""

    def __init__(self, kecs):
        self.k = kecs
        self.ecs = kecs.client("ecs")
        self.elbv2 = kecs.client("elbv2")
        self.net = Vpc(kecs)
        self.ec2 = self.net.ec2
        self.ecs.create_cluster(clusterName="lb")
        # The load balancer's group admits anyone on its listener ports; the tasks' group
        # admits the load balancer's group (and itself).
        self.lb_group = self.net.group("alb", [(80, "0.0.0.0/0"), (443, "0.0.0.0/0")])
        self.app_group = self.net.group("app", [(80, self.lb_group)])

    # -- task definitions, tasks and services
    def register(self, family, name, **container):
        c = {"name": "web", "image": LB_IMAGE, "portMappings": [{"containerPort": 80}], "stopTimeout": 2,
             "environment": [{"name": "NAME", "value": name}],
             "linuxParameters": {"initProcessEnabled": True}}
        c.update(container)
        return self.ecs.register_task_definition(
            family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[c])["taskDefinition"]["taskDefinitionArn"]

    def awsvpc(self, groups=None, subnets=None):
        return {"awsvpcConfiguration": {"subnets": subnets or self.net.subnets,
                                        "securityGroups": groups or [self.app_group]}}

    def create_service(self, name, family, count, tg_arns, groups=None, **kw):
        return self.ecs.create_service(
            cluster="lb", serviceName=name, taskDefinition=family, desiredCount=count, launchType="FARGATE",
            networkConfiguration=self.awsvpc(groups),
            loadBalancers=[{"targetGroupArn": tg, "containerName": "web", "containerPort": 80} for tg in tg_arns],
            **kw)["service"]

    def run_task(self, family, groups=None, subnets=None):
        out = self.ecs.run_task(cluster="lb", taskDefinition=family, launchType="FARGATE",
                                networkConfiguration=self.awsvpc(groups, subnets))
        assert out["failures"] == [], out["failures"]
        arn = out["tasks"][0]["taskArn"]

        def running():
            t = self.ecs.describe_tasks(cluster="lb", tasks=[arn])["tasks"][0]
            assert t["lastStatus"] != "STOPPED", t.get("stoppedReason")
            return t if t["lastStatus"] == "RUNNING" else None
        return wait_for(running, timeout=90, what=f"task {arn} RUNNING")

    def running_tasks(self, service):
        arns = self.ecs.list_tasks(cluster="lb", serviceName=service, desiredStatus="RUNNING")["taskArns"]
        if not arns:
            return []
        return [t for t in self.ecs.describe_tasks(cluster="lb", tasks=arns)["tasks"] if t["lastStatus"] == "RUNNING"]

    def wait_stable(self, service, timeout=180):
        self.ecs.get_waiter("services_stable").wait(
            cluster="lb", services=[service], WaiterConfig={"Delay": 1, "MaxAttempts": timeout})

    @staticmethod
    def ip_of(task):
        return {d["name"]: d["value"] for d in task["attachments"][0]["details"]}["privateIPv4Address"]

    def wait_healthy(self, tg_arn, ips, timeout=120):
        """Waits until exactly `ips` are the group's targets and all are healthy."""
        want = {ip: "healthy" for ip in ips}
        return wait_for(lambda: states(self.elbv2, tg_arn), until=lambda s: s == want, timeout=timeout,
                        what=f"targets {sorted(ips)} healthy in {tg_arn}")

    def service_ips(self, service, count, timeout=180):
        """The addresses of the service's `count` RUNNING tasks, once it is stable."""
        self.wait_stable(service, timeout)
        tasks = self.running_tasks(service)
        assert len(tasks) == count, tasks
        return sorted(self.ip_of(t) for t in tasks)

    # -- load balancers
    def create_alb(self, name="web", groups=None, scheme="internet-facing"):
        lb = self.elbv2.create_load_balancer(Name=name, Subnets=self.net.subnets, Scheme=scheme,
                                             SecurityGroups=groups or [self.lb_group],
                                             Type="application")["LoadBalancers"][0]
        self.elbv2.get_waiter("load_balancer_available").wait(
            LoadBalancerArns=[lb["LoadBalancerArn"]], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        return lb

    def create_tg(self, name, protocol="HTTP", port=80, **kw):
        hc = {"HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 2, "HealthyThresholdCount": 2,
              "UnhealthyThresholdCount": 2}
        if protocol in ("HTTP", "HTTPS"):
            hc["HealthCheckPath"] = "/"
        hc.update(kw)
        return self.elbv2.create_target_group(Name=name, Protocol=protocol, Port=port, VpcId=self.net.vpc,
                                              TargetType="ip", **hc)["TargetGroups"][0]["TargetGroupArn"]

    def set_tg_attributes(self, tg_arn, **attrs):
        self.elbv2.modify_target_group_attributes(
            TargetGroupArn=tg_arn, Attributes=[{"Key": k, "Value": str(v)} for k, v in attrs.items()])

    def host_port(self, listener_arn, timeout=60):
        """The host port the listener is published on (GET /_kecs/v1/load-balancers)."""
        port = wait_for(lambda: listener_host_port(self.k, listener_arn), timeout=timeout,
                        what=f"the host port of {listener_arn}")
        # The data plane opens the port after the API answered (as AWS's listeners take a
        # moment): wait until it accepts connections.
        def accepting():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                return True
            except OSError:
                return False
        wait_for(accepting, timeout=timeout, what=f"host port {port} accepting connections")
        return port

    def url(self, listener_arn, path="/"):
        return f"http://127.0.0.1:{self.host_port(listener_arn)}{path}"

    # -- inside tasks: the container's namespaces, rootfs and resolv.conf (nsenter), as the
    # service discovery tests do
    container_pid = _DnsEnv.container_pid
    in_container = _DnsEnv.in_container

    def wget(self, task_arn, url, headers=(), timeout=5):
        """busybox wget inside the task: (exit code, body, stderr). The container's `timeout`
        bounds it: Debian's busybox 1.35 wget dies of SIGSEGV when its own -T expires."""
        args = ["wget", "-q", "-O", "-"]
        for h in headers:
            args += ["--header", h]
        p = self.in_container(task_arn, *args, url, timeout=timeout + 2)
        return p.returncode, p.stdout, p.stderr

    def probe(self, task_arn, url, timeout=3):
        """A GET from inside the task, classified (conftest.Probe): a dropped packet is a
        TIMEOUT (the container's `timeout` stops wget), a refusal REFUSED."""
        p = self.in_container(task_arn, "wget", "-q", "-O", "-", url, timeout=timeout)
        return conftest.classify_busybox(p)

    def lb_node_ips(self, lb):
        """The addresses of the load balancer's nodes: its ENIs ("ELB app/<name>/<id>")."""
        kind, name, lb_id = lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1].split("/")
        want = f"ELB {kind}/{name}/{lb_id}"
        return sorted(e["PrivateIpAddress"] for e in self.ec2.describe_network_interfaces()["NetworkInterfaces"]
                      if e.get("Description") == want)

    def kill_httpd(self, task_arn):
        p = self.in_container(task_arn, "busybox", "killall", "-9", "httpd")
        assert p.returncode == 0, p.stderr

    def teardown(self):
        names = [a.rsplit("/", 1)[1] for a in self.ecs.list_services(cluster="lb")["serviceArns"]]
        for n in names:
            self.ecs.delete_service(cluster="lb", service=n, force=True)
        if names:
            self.ecs.get_waiter("services_inactive").wait(cluster="lb", services=names,
                                                          WaiterConfig={"Delay": 1, "MaxAttempts": 180})
        for lb in self.elbv2.describe_load_balancers()["LoadBalancers"]:
            self.elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        # The nodes' namespaces ("<p>-l-<eni>") go with their load balancer, and so does the
        # VPC's router when no task uses it any more; the daemon fixture then requires every
        # namespace of its prefix gone once the tasks are stopped.
        router = f"{self.k.prefix}-r-{self.net.vpc}"

        def gone():
            netns = conftest.kecs_objects(self.k.prefix)[0]
            nodes = [n for n in netns if n.startswith(f"{self.k.prefix}-l-")]
            tasks = self.ecs.list_tasks(cluster="lb")["taskArns"]
            return not nodes and (router not in netns or tasks)
        wait_for(gone, timeout=60, what="the load balancers' node namespaces (and an unused router) removed")


def kecs_cli(kecs, *args, timeout=30):
    """`kecs <args>` against this daemon (KECS_HOST/KECS_PORT name it)."""
    env = dict(os.environ, KECS_HOST="127.0.0.1", KECS_PORT=str(kecs.port))
    return subprocess.run([conftest.KECS_BIN, *args], env=env, capture_output=True, text=True, timeout=timeout)


def internal_load_balancers(kecs):
    """GET /_kecs/v1/load-balancers, parsed."""
    return json.loads(urllib.request.urlopen(kecs.endpoint + "/_kecs/v1/load-balancers", timeout=10).read())


def listener_host_port(kecs, listener_arn):
    """The host port kecs publishes the listener on, or None while it holds none."""
    for lb in internal_load_balancers(kecs)["loadBalancers"]:
        for listener in lb["listeners"]:
            if listener["arn"] == listener_arn:
                return listener.get("hostPort")
    return None


@pytest.fixture
def lbenv(local_kecs, lb_image):
    if not is_root():
        pytest.skip("the local runtime needs root")
    e = LbEnv(local_kecs)
    yield e
    e.teardown()
