"""Issue 13: Application Load Balancers with a real data plane, end to end. Root only.

ECS services of real runc tasks (busybox httpd, the "lbweb" image of test_elbv2_support.py,
whose who.sh pages say which task answered and what the request looked like there) behind
an ALB in a VPC of the test's own. Requests come from the host through the listener's host
port (GET /_kecs/v1/load-balancers) and from inside tasks through the load balancer's DNS name,
which the VPC resolver answers with the nodes' addresses.

The issue's "Done when" 1, 2, 4 and 5 are test_path_rules_*, test_host_header_*_weighted_*,
test_failing_target_*, test_task_group_*_only_the_alb and test_rolling_deployment_*.
Nothing here sleeps for a fixed time: every wait polls for the condition with a bound."""
import re
import subprocess
import threading
import time

from conftest import OK, TIMEOUT, wait_for
from test_elbv2_support import (FAILED_HEALTH_CHECKS, Reply, get, health, internal_load_balancers, kecs_cli, lb_image,
                                lbenv, parse_who, try_get)

__all__ = ["lb_image", "lbenv"]  # fixtures

INTERVAL, UNHEALTHY = 5, 2  # the test target groups' health checks (test_elbv2_support.LbEnv.create_tg)


def http_listener(lbenv, lb, default_actions, port=80):
    return lbenv.elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                                       DefaultActions=default_actions)["Listeners"][0]["ListenerArn"]


def forward(tg):
    return [{"Type": "forward", "TargetGroupArn": tg}]


def rule(lbenv, listener, priority, conditions, actions):
    return lbenv.elbv2.create_rule(ListenerArn=listener, Priority=priority, Conditions=conditions,
                                   Actions=actions)["Rules"][0]["RuleArn"]


def service_behind(lbenv, name, tg, count, family=None, **kw):
    """Service `name` of `count` lbweb tasks (NAME=<name>) in target group `tg`; returns the
    tasks' addresses once the service is stable and they are healthy targets."""
    lbenv.register(family or name, name)
    lbenv.create_service(name, family or name, count, [tg], **kw)
    ips = lbenv.service_ips(name, count)
    lbenv.wait_healthy(tg, ips)
    return ips


def who(url, n, headers=None):
    """n GETs, each on a new connection; every one must be a 200. Returns the who.sh pages."""
    out = []
    for _ in range(n):
        r = get(url, headers)
        assert r.status == 200, r
        out.append(r.who)
    return out


# ---- Done when 1: rules, fixed response, DNS ----------------------------------------------

def test_path_rules_route_to_services_and_the_default_is_a_fixed_response(lbenv):
    lb = lbenv.create_alb()
    a, b = lbenv.create_tg("a"), lbenv.create_tg("b")
    listener = http_listener(lbenv, lb, [{"Type": "fixed-response", "FixedResponseConfig": {
        "StatusCode": "404", "ContentType": "text/plain", "MessageBody": "no route"}}])
    rule(lbenv, listener, 10, [{"Field": "path-pattern", "Values": ["/api/*"]}], forward(a))
    rule(lbenv, listener, 20, [{"Field": "path-pattern", "Values": ["/web/*"]}], forward(b))
    ips_a = service_behind(lbenv, "A", a, 2)
    ips_b = service_behind(lbenv, "B", b, 1)

    # From the host, through the listener's host port.
    port = lbenv.host_port(listener)
    base = f"http://127.0.0.1:{port}"
    pages = who(base + "/api/who.sh", 20)
    assert {p["name"] for p in pages} == {"A"} and {p["uri"] for p in pages} == {"/api/who.sh"}
    assert sorted({p["ip"] for p in pages}) == ips_a          # both of A's tasks take requests
    pages = who(base + "/web/who.sh?x=1", 5)
    assert {(p["name"], p["ip"], p["uri"]) for p in pages} == {("B", ips_b[0], "/web/who.sh?x=1")}
    for path in ("/", "/apix", "/API/who.sh"):                 # path patterns are case-sensitive
        r = get(base + path)
        assert (r.status, r.body) == (404, "no route"), (path, r)
        assert r.headers["content-type"].startswith("text/plain"), r

    # Where to find the port: DescribeLoadBalancers (the host address), `kecs elb ls` and
    # the daemon's own endpoint.
    [described] = lbenv.elbv2.describe_load_balancers(LoadBalancerArns=[lb["LoadBalancerArn"]])["LoadBalancers"]
    host_addresses = {a.get("IpAddress") for z in described["AvailabilityZones"] for a in z["LoadBalancerAddresses"]}
    assert len(host_addresses) == 1 and None not in host_addresses, described["AvailabilityZones"]
    [host_address] = host_addresses
    local = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
    assert f" {host_address}/" in local, (host_address, local)
    assert {p["name"] for p in who(f"http://{host_address}:{port}/api/who.sh", 3)} == {"A"}
    p = kecs_cli(lbenv.k, "elb", "ls")
    assert p.returncode == 0, p.stderr
    assert "web" in p.stdout and str(port) in p.stdout, p.stdout
    doc = internal_load_balancers(lbenv.k)
    [mine] = [x for x in doc["loadBalancers"] if x["arn"] == lb["LoadBalancerArn"]]
    assert (mine["name"], mine["dnsName"], mine["type"]) == ("web", lb["DNSName"], "application"), mine
    assert [(x["arn"], x["port"], x["protocol"], x.get("hostAddress"), x.get("hostPort")) for x in mine["listeners"]] == [
        (listener, 80, "HTTP", host_address, port)], mine

    # From inside a task, through the load balancer's DNS name: the VPC resolver answers it
    # with the nodes' addresses.
    [client] = lbenv.running_tasks("B")
    nodes = lbenv.lb_node_ips(lb)
    assert len(nodes) == 2, nodes
    p = lbenv.in_container(client["taskArn"], "nslookup", "-type=a", lb["DNSName"])
    assert p.returncode == 0, p.stdout + p.stderr
    assert sorted(re.findall(r"Address: *([0-9.]+)", p.stdout.split("Name:", 1)[1])) == nodes, p.stdout
    rc, body, err = lbenv.wget(client["taskArn"], f"http://{lb['DNSName']}/api/who.sh")
    assert rc == 0, err
    page = parse_who(body)
    assert page["name"] == "A" and page["ip"] in ips_a and page["host"] == lb["DNSName"]


def test_host_header_rules_and_a_weighted_forward_split_as_configured(lbenv):
    lb = lbenv.create_alb()
    a, b = lbenv.create_tg("a"), lbenv.create_tg("b")
    listener = http_listener(lbenv, lb, [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": a, "Weight": 70}, {"TargetGroupArn": b, "Weight": 30}]}}])
    rule(lbenv, listener, 10, [{"Field": "host-header", "HostHeaderConfig": {"Values": ["api.example.com"]}}], forward(a))
    rule(lbenv, listener, 20, [{"Field": "host-header", "HostHeaderConfig": {"Values": ["*.web.example.com"]}}], forward(b))
    service_behind(lbenv, "A", a, 1)
    service_behind(lbenv, "B", b, 1)
    url = lbenv.url(listener, "/who.sh")

    assert {p["name"] for p in who(url, 10, {"Host": "api.example.com"})} == {"A"}
    assert {p["name"] for p in who(url, 10, {"Host": "x.web.example.com"})} == {"B"}
    assert {p["name"] for p in who(url, 5, {"Host": "X.Web.Example.COM"})} == {"B"}   # host names match case-blind
    # Neither rule: the default action's weighted forward, 70/30 within +-10% over 1,000.
    names = [p["name"] for p in who(url, 1000, {"Host": "other.example.org"})]
    share = names.count("A") / len(names)
    assert 0.6 <= share <= 0.8, f"A took {share:.1%} of 1000 requests (weight 70%)"


def test_redirect_templates_and_fixed_responses(lbenv):
    lb = lbenv.create_alb()
    listener = http_listener(lbenv, lb, [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}])
    rule(lbenv, listener, 5, [{"Field": "path-pattern", "Values": ["/old/*"]}],
         [{"Type": "redirect", "RedirectConfig": {"Host": "#{host}", "Path": "/new/#{path}", "StatusCode": "HTTP_301"}}])
    rule(lbenv, listener, 6, [{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET"]}},
                              {"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}]}}],
         [{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "Host": "secure.#{host}",
                                                  "Query": "from=#{query}", "StatusCode": "HTTP_302"}}])
    base = lbenv.url(listener, "")  # no trailing "/": base + "/old/..." must not ask for "//old/..."
    # Rules made after the listener reach the data plane a moment later, as on AWS.
    r = wait_for(lambda: get(base + "/old/x/y?z=1", {"Host": "h.example.com"}), until=lambda r: r.status != 503,
                 timeout=30, what="the redirect rules in force")
    # #{path} is the path without its leading "/"; #{port} the listener's port, which AWS
    # writes into the Location even when it is the scheme's default (users ask how to stop
    # ":443" being added: aws-load-balancer-controller#487).
    assert (r.status, r.headers.get("location")) == (301, "http://h.example.com:80/new/old/x/y?z=1"), r
    r = get(base + "/any?v=2", {"Host": "h.example.com"})
    assert (r.status, r.headers.get("location")) == (302, "https://secure.h.example.com:443/any?from=v=2"), r
    r = get(base + "/any?v=3")
    assert r.status == 503 and r.body == "", r


# ---- Done when 2: a failing target leaves rotation; the service replaces its task ----------

def test_failing_target_turns_unhealthy_leaves_rotation_and_its_task_is_replaced(lbenv):
    lb = lbenv.create_alb()
    tg = lbenv.create_tg("a")
    # The default deregistration delay (300 s) stands: as on AWS, the replaced task's target
    # has no connection left, so its deregistration (and the task's stop) ends at once.
    listener = http_listener(lbenv, lb, forward(tg))
    ips = service_behind(lbenv, "A", tg, 2)
    url = lbenv.url(listener, "/who.sh")
    assert sorted({p["ip"] for p in who(url, 10)}) == ips

    victim = next(t for t in lbenv.running_tasks("A") if lbenv.ip_of(t) == ips[0])
    lbenv.kill_httpd(victim["taskArn"])
    t0 = time.monotonic()
    # Unhealthy within the window: interval x unhealthy threshold, plus one interval for the
    # phase of the checks and a few seconds for the controller to record it.
    window = INTERVAL * UNHEALTHY + INTERVAL + 5
    h = wait_for(lambda: health(lbenv.elbv2, tg).get(ips[0], {}),
                 until=lambda h: h.get("State") in ("unhealthy", "draining"), timeout=window,
                 what=f"{ips[0]} unhealthy within {window} s")
    elapsed = time.monotonic() - t0
    # The service deregisters the target as soon as it sees it unhealthy (ECS does not wait),
    # so a poll may find it draining already; the stopped reason below says why.
    assert (h["State"], h.get("Reason"), h.get("Description")) in [
        ("unhealthy",) + FAILED_HEALTH_CHECKS,
        ("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")], (h, elapsed)
    # Traffic avoids it (each node checks for itself: the other may need up to one more
    # interval to agree).
    def answered_by():
        return {r.who.get("ip") if isinstance(r, Reply) and r.status == 200 else repr(r)
                for r in (try_get(url) for _ in range(20))}
    wait_for(answered_by, until=lambda s: s == {ips[1]}, timeout=INTERVAL * UNHEALTHY + INTERVAL,
             what=f"every request answered by {ips[1]}")

    # The service stops the task for its failed ELB health checks and starts another.
    def stopped():
        t = lbenv.ecs.describe_tasks(cluster="lb", tasks=[victim["taskArn"]])["tasks"][0]
        return t if t["desiredStatus"] == "STOPPED" else None
    t = wait_for(stopped, timeout=120, what="the unhealthy task stopped by the service")
    assert "failed ELB health checks" in t.get("stoppedReason", "") and tg in t["stoppedReason"], t.get("stoppedReason")
    wait_for(lambda: len(lbenv.running_tasks("A")) == 2 and ips[0] not in [lbenv.ip_of(x) for x in lbenv.running_tasks("A")],
             timeout=180, what="a replacement task RUNNING")
    new_ips = lbenv.service_ips("A", 2)
    assert ips[1] in new_ips
    lbenv.wait_healthy(tg, new_ips)
    assert sorted({p["ip"] for p in who(url, 20)}) == new_ips


# ---- Done when 4: security groups ---------------------------------------------------------

def test_task_group_admitting_only_the_alb_serves_through_the_alb_only(lbenv):
    lb = lbenv.create_alb()
    tg = lbenv.create_tg("a")
    http_listener(lbenv, lb, forward(tg))
    [ip] = service_behind(lbenv, "A", tg, 1)     # its group (app) admits only the ALB's group
    lbenv.register("client", "client")
    client = lbenv.run_task("client", groups=[lbenv.net.group("client")])
    # Directly: the task's group drops the packets.
    direct = lbenv.probe(client["taskArn"], f"http://{ip}/who.sh")
    assert direct.outcome == TIMEOUT, direct
    # Through the load balancer (its group admits anyone on 80; it reaches the task as a
    # member of the ALB's group).
    through = lbenv.probe(client["taskArn"], f"http://{lb['DNSName']}/who.sh", timeout=10)
    assert through.outcome == OK and "name=A" in through.body, through
    # And the task's group really is what stands between: admitting the client's address
    # opens the direct path too.
    lbenv.ec2.authorize_security_group_ingress(GroupId=lbenv.app_group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": lbenv.ip_of(client) + "/32"}]}])
    wait_for(lambda: lbenv.probe(client["taskArn"], f"http://{ip}/who.sh"), until=lambda p: p.outcome == OK,
             timeout=30, what="the direct path admitted by a rule for the client's address")


# ---- Done when 5: a rolling deployment drops nothing ---------------------------------------

def test_rolling_deployment_behind_the_alb_drops_no_request(lbenv):
    lb = lbenv.create_alb()
    tg = lbenv.create_tg("a")
    lbenv.set_tg_attributes(tg, **{"deregistration_delay.timeout_seconds": 5})
    listener = http_listener(lbenv, lb, forward(tg))
    old = service_behind(lbenv, "A", tg, 2)
    url = lbenv.url(listener, "/who.sh")

    results, stop = [], threading.Event()

    def client():
        while not stop.is_set():
            r = try_get(url, timeout=10)
            results.append((time.monotonic(), r))
            time.sleep(0.02)
    th = threading.Thread(target=client, daemon=True)
    th.start()
    try:
        wait_for(lambda: len(results) >= 20, timeout=30, what="the client loop running")
        lbenv.ecs.update_service(cluster="lb", service="A", forceNewDeployment=True)

        def rolled():
            s = lbenv.ecs.describe_services(cluster="lb", services=["A"])["services"][0]
            ips = sorted(lbenv.ip_of(t) for t in lbenv.running_tasks("A"))
            done = (len(s["deployments"]) == 1 and s["deployments"][0]["rolloutState"] == "COMPLETED"
                    and s["runningCount"] == 2 and len(ips) == 2 and not set(ips) & set(old))
            return ips if done else None
        new = wait_for(rolled, timeout=300, interval=0.5, what="the deployment COMPLETED on new tasks")
        lbenv.wait_healthy(tg, new)   # the old targets have drained and are gone
        n = len(results)
        wait_for(lambda: len(results) >= n + 20, timeout=30, what="requests after the deployment")
    finally:
        stop.set()
        th.join(timeout=30)
    errors = [(t, r) for t, r in results if not (isinstance(r, Reply) and r.status == 200)]
    assert errors == [], f"{len(errors)} of {len(results)} requests failed during the deployment: {errors[:5]}"
    seen = {r.who["ip"] for _, r in results}
    assert set(old) <= seen and set(new) <= seen, (old, new, seen)


# ---- HTTPS, X-Forwarded-*, stickiness -----------------------------------------------------

def test_https_listener_serves_a_certificate_the_kecs_ca_signs(lbenv, tmp_path):
    lb = lbenv.create_alb()
    tg = lbenv.create_tg("a")
    cert = "arn:aws:acm:us-east-1:000000000000:certificate/0b1b2c3d-1111-2222-3333-444455556666"
    listener = lbenv.elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=443,
                                           Certificates=[{"CertificateArn": cert}],
                                           DefaultActions=forward(tg))["Listeners"][0]["ListenerArn"]
    service_behind(lbenv, "A", tg, 1)
    port = lbenv.host_port(listener)
    p = kecs_cli(lbenv.k, "elb", "ca")
    assert p.returncode == 0 and p.stdout.startswith("-----BEGIN CERTIFICATE-----"), p.stdout + p.stderr
    assert "PRIVATE KEY" not in p.stdout
    ca = tmp_path / "ca.pem"
    ca.write_text(p.stdout)
    dns = lb["DNSName"]

    def curl(*extra):
        return subprocess.run(["curl", "-sS", "--max-time", "10", "--resolve", f"{dns}:{port}:127.0.0.1", *extra,
                               f"https://{dns}:{port}/who.sh"], capture_output=True, text=True, timeout=30)
    ok = curl("--cacert", str(ca))
    assert ok.returncode == 0, ok.stderr
    page = parse_who(ok.stdout)
    assert (page["name"], page["proto"], page["port"]) == ("A", "https", "443"), page
    untrusted = curl()   # the system's CAs do not know kecs's
    assert untrusted.returncode == 60, (untrusted.returncode, untrusted.stderr)

    # The listener's SSL policy: the default (ELBSecurityPolicy-2016-08) stops at TLS 1.2;
    # TLS13-1-3 takes TLS 1.3 only.
    assert curl("--cacert", str(ca), "--tls-max", "1.2").returncode == 0
    assert curl("--cacert", str(ca), "--tlsv1.3").returncode != 0
    lbenv.elbv2.modify_listener(ListenerArn=listener, SslPolicy="ELBSecurityPolicy-TLS13-1-3-2021-06")
    wait_for(lambda: curl("--cacert", str(ca), "--tlsv1.3").returncode, until=lambda rc: rc == 0, timeout=30,
             what="the listener taking TLS 1.3")
    assert curl("--cacert", str(ca), "--tls-max", "1.2").returncode != 0


def test_targets_see_x_forwarded_headers_and_the_node_as_peer(lbenv):
    lb = lbenv.create_alb()
    tg = lbenv.create_tg("a")
    http_listener(lbenv, lb, forward(tg))
    service_behind(lbenv, "A", tg, 1)
    lbenv.register("client", "client")
    client = lbenv.run_task("client", groups=[lbenv.net.group("client")])
    me = lbenv.ip_of(client)
    url = f"http://{lb['DNSName']}/who.sh"
    rc, body, err = lbenv.wget(client["taskArn"], url)
    assert rc == 0, err
    page = parse_who(body)
    assert (page["xff"], page["proto"], page["port"]) == (me, "http", "80"), page
    assert page["remote"] in lbenv.lb_node_ips(lb), page      # the target's peer is a node
    # An X-Forwarded-For the client sent is kept, with the client's address appended.
    rc, body, err = lbenv.wget(client["taskArn"], url, headers=["X-Forwarded-For: 203.0.113.7"])
    assert rc == 0, err
    assert f"xff=203.0.113.7, {me}" in body.splitlines(), body


def test_lb_cookie_stickiness_pins_a_client_to_one_target(lbenv):
    lb = lbenv.create_alb()
    tg = lbenv.create_tg("a")
    lbenv.set_tg_attributes(tg, **{"stickiness.enabled": "true", "stickiness.type": "lb_cookie",
                                   "stickiness.lb_cookie.duration_seconds": 60})
    listener = http_listener(lbenv, lb, forward(tg))
    ips = service_behind(lbenv, "A", tg, 2)
    url = lbenv.url(listener, "/who.sh")
    first = get(url)
    assert first.status == 200, first
    cookie = next((c.split(";", 1)[0] for c in first.cookies if c.startswith("AWSALB=")), None)
    assert cookie, first.cookies
    pinned = {p["ip"] for p in who(url, 20, {"Cookie": cookie})}
    assert pinned == {first.who["ip"]}
    # Without the cookie, both targets take requests.
    assert sorted({p["ip"] for p in who(url, 20)}) == ips
