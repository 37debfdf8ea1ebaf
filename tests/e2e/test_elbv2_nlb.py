"""Issue 13: Network Load Balancers, end to end (the issue's "Done when" 3). Root only.

An ECS service of real runc tasks running `peer` (the lbpeer image of test_elbv2_support.py),
which answers every TCP connection and UDP datagram on port 7000 with the address it saw the
client at and the address the client reached. A network load balancer forwards in the
kernel (DNAT in the VPC router, lb_network.h), so a target sees the client's own address,
for TCP and UDP, as NLB's client IP preservation does. Clients are tasks of the same VPC
that reach the load balancer at its nodes' addresses (the VPC resolver's answer for its DNS
name)."""
import re
import socket
import ssl

import pytest

from conftest import wait_for
from test_elbv2_support import PEER_IMAGE, PEER_PORT, kecs_cli, lb_image, lbenv, listener_host_port, peer_image

__all__ = ["lb_image", "lbenv", "peer_image"]  # fixtures

PEER_LINE = re.compile(r"^peer=([0-9.]+):(\d+) self=([0-9.]*) name=(\S*)$")


class Nlb:
    def __init__(self, lbenv):
        self.e = lbenv
        # The targets admit the VPC (clients keep their own addresses, and the nodes' checks
        # come from the nodes'), on the peer's port, TCP and UDP.
        cidr = lbenv.net.cidr
        self.group = lbenv.net.group("peer", [("tcp", PEER_PORT, cidr), ("udp", PEER_PORT, cidr)])
        lbenv.ecs.register_task_definition(
            family="peer", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": "web", "image": PEER_IMAGE, "stopTimeout": 2,
                                   "environment": [{"name": "NAME", "value": "P"}],
                                   "linuxParameters": {"initProcessEnabled": True},
                                   "portMappings": [{"containerPort": PEER_PORT, "protocol": "tcp"},
                                                    {"containerPort": PEER_PORT, "protocol": "udp"}]}])
        lbenv.ecs.register_task_definition(
            family="client", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": "web", "image": PEER_IMAGE, "stopTimeout": 2,
                                   "linuxParameters": {"initProcessEnabled": True}}])

    def create(self, name, **kw):
        lb = self.e.elbv2.create_load_balancer(Name=name, Type="network", Subnets=self.e.net.subnets,
                                               **kw)["LoadBalancers"][0]
        self.e.elbv2.get_waiter("load_balancer_available").wait(
            LoadBalancerArns=[lb["LoadBalancerArn"]], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        return lb

    def tg(self, name, protocol, preserve_client_ip=True):
        """An `ip` target group. AWS always preserves the client's address for UDP and
        TCP_UDP groups; for TCP and TLS ones with `ip` targets it is off by default and set
        by the attribute (the NLB guide, "Client IP preservation"): `preserve_client_ip`."""
        arn = self.e.elbv2.create_target_group(
            Name=name, Protocol=protocol, Port=PEER_PORT, VpcId=self.e.net.vpc, TargetType="ip",
            # AWS's default timeout for TCP checks is 10 s, and a timeout must be smaller than
            # the interval (CreateTargetGroup refuses it otherwise): 5 s needs its own timeout.
            HealthCheckProtocol="TCP", HealthCheckPort=str(PEER_PORT), HealthCheckIntervalSeconds=5,
            HealthCheckTimeoutSeconds=2,
            HealthyThresholdCount=2, UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
        if protocol in ("TCP", "TLS"):
            self.e.set_tg_attributes(arn, **{"preserve_client_ip.enabled": str(preserve_client_ip).lower()})
        return arn

    def listener(self, lb, protocol, port, tg):
        return self.e.elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol=protocol, Port=port,
                                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}]
                                            )["Listeners"][0]["ListenerArn"]

    def service(self, tgs, count):
        self.e.ecs.create_service(
            cluster="lb", serviceName="P", taskDefinition="peer", desiredCount=count, launchType="FARGATE",
            networkConfiguration=self.e.awsvpc([self.group]),
            loadBalancers=[{"targetGroupArn": tg, "containerName": "web", "containerPort": PEER_PORT} for tg in tgs])
        ips = self.e.service_ips("P", count)
        for tg in tgs:
            self.e.wait_healthy(tg, ips)
        return ips

    def client(self):
        t = self.e.run_task("client", groups=[self.e.net.group("client")])
        return t["taskArn"], self.e.ip_of(t)

    def resolve(self, task, name):
        p = self.e.in_container(task, "nslookup", "-type=a", name)
        assert p.returncode == 0, p.stdout + p.stderr
        return sorted(re.findall(r"Address: *([0-9.]+)", p.stdout.split("Name:", 1)[1]))

    def tcp(self, task, ip, port):
        """One TCP connection from the task: the peer's line, parsed."""
        p = self.e.in_container(task, "nc", "-w", "5", ip, str(port), timeout=10)
        m = PEER_LINE.match(p.stdout.strip())
        assert m, (p.returncode, p.stdout, p.stderr)
        return m.groups()

    def udp(self, task, ip, port):
        p = self.e.in_container(task, "/bin/peer", "udp", ip, str(port), timeout=10)
        m = PEER_LINE.match(p.stdout.strip())
        assert m, (p.returncode, p.stdout, p.stderr)
        return m.groups()


@pytest.fixture
def nlb(lbenv, peer_image):
    return Nlb(lbenv)


def test_nlb_forwards_tcp_and_udp_and_the_target_sees_the_client(nlb, lbenv):
    lb = nlb.create("peer")
    tcp_tg, udp_tg = nlb.tg("tcp", "TCP"), nlb.tg("udp", "UDP")
    tcp_listener = nlb.listener(lb, "TCP", PEER_PORT, tcp_tg)
    nlb.listener(lb, "UDP", PEER_PORT + 1, udp_tg)
    ips = nlb.service([tcp_tg, udp_tg], 2)
    client, me = nlb.client()
    nodes = nlb.resolve(client, lb["DNSName"])
    assert nodes == lbenv.lb_node_ips(lb) and len(nodes) == 2, nodes

    # TCP: the target sees the client's address (not a node's), at every node.
    for node in nodes:
        for _ in range(5):
            peer, _, target, name = nlb.tcp(client, node, PEER_PORT)
            assert (peer, name) == (me, "P"), (node, peer, name)
            assert target in ips, (target, ips)
    # UDP, on the other listener: the same.
    for node in nodes:
        peer, _, _, name = nlb.udp(client, node, PEER_PORT + 1)
        assert (peer, name) == (me, "P"), (node, peer, name)

    # The TCP listener is published on the host too.
    port = int(wait_for(lambda: listener_host_port(lbenv.k, tcp_listener), timeout=60,
                        what="the TCP listener's host port"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        line = s.makefile().readline().strip()
    assert PEER_LINE.match(line) and line.endswith("name=P"), line


def test_nlb_tcp_udp_listener(nlb, lbenv):
    lb = nlb.create("both")
    tg = nlb.tg("both", "TCP_UDP")
    nlb.listener(lb, "TCP_UDP", PEER_PORT, tg)
    nlb.service([tg], 1)
    client, me = nlb.client()
    [node, *_] = nlb.resolve(client, lb["DNSName"])
    assert nlb.tcp(client, node, PEER_PORT)[0] == me
    assert nlb.udp(client, node, PEER_PORT)[0] == me


# Cross-zone off, the client, the node it connects to and that node's target share a
# subnet: the router must route the DNATed flow back into the subnet (with br_netfilter
# loaded, the kernel would bridge it port to port, which kecs drops).
def test_nlb_cross_zone_as_configured(nlb, lbenv):
    lb = nlb.create("zones")
    tg = nlb.tg("tcp", "TCP")
    nlb.listener(lb, "TCP", PEER_PORT, tg)
    # One target in each zone: standalone tasks, one per subnet, registered by hand.
    zone_of = {}
    for subnet, zone in zip(lbenv.net.subnets, ("us-east-1a", "us-east-1b")):
        t = lbenv.run_task("peer", groups=[nlb.group], subnets=[subnet])
        zone_of[lbenv.ip_of(t)] = zone
    lbenv.elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": ip} for ip in zone_of])
    lbenv.wait_healthy(tg, list(zone_of))
    assert {h["Target"]["AvailabilityZone"] for h in lbenv.elbv2.describe_target_health(
        TargetGroupArn=tg)["TargetHealthDescriptions"]} == {"us-east-1a", "us-east-1b"}
    client, _ = nlb.client()
    node_zone = {z["LoadBalancerAddresses"][0]["PrivateIPv4Address"]: z["ZoneName"]
                 for z in lbenv.elbv2.describe_load_balancers(LoadBalancerArns=[lb["LoadBalancerArn"]])
                 ["LoadBalancers"][0]["AvailabilityZones"]}
    nodes = lbenv.lb_node_ips(lb)
    assert sorted(node_zone) == nodes, (node_zone, nodes)

    def targets_from(node, n=12):
        return {nlb.tcp(client, node, PEER_PORT)[2] for _ in range(n)}
    # Off (NLB's default): a node forwards only to the targets in its own zone.
    for node in nodes:
        assert {zone_of[t] for t in targets_from(node)} == {node_zone[node]}, node
    # On: every node forwards to every target.
    lbenv.elbv2.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[
        {"Key": "load_balancing.cross_zone.enabled", "Value": "true"}])
    for node in nodes:
        wait_for(lambda: targets_from(node), until=lambda s: s == set(zone_of), timeout=30,
                 what=f"node {node} forwarding to both zones' targets")
    # source_ip stickiness: every flow of a client goes to one target.
    lbenv.set_tg_attributes(tg, **{"stickiness.enabled": "true", "stickiness.type": "source_ip"})
    for node in nodes:
        wait_for(lambda: targets_from(node), until=lambda s: len(s) == 1, timeout=30,
                 what=f"node {node} sending every flow of the client to one target")
        assert len(targets_from(node, 20)) == 1, node


def test_nlb_without_client_ip_preservation_targets_see_a_node(nlb, lbenv):
    lb = nlb.create("nat")
    tg = nlb.tg("tcp", "TCP")
    nlb.listener(lb, "TCP", PEER_PORT, tg)
    nlb.service([tg], 1)
    client, me = nlb.client()
    nodes = lbenv.lb_node_ips(lb)
    assert nlb.tcp(client, nodes[0], PEER_PORT)[0] == me
    lbenv.set_tg_attributes(tg, **{"preserve_client_ip.enabled": "false"})
    # Off: the target sees the node that forwarded the connection.
    peer = wait_for(lambda: nlb.tcp(client, nodes[0], PEER_PORT)[0], until=lambda p: p != me, timeout=30,
                    what="the target seeing a node's address")
    assert peer in nodes, (peer, nodes)


def test_nlb_tls_listener_terminates_tls_with_its_policy(nlb, lbenv, tmp_path):
    lb = nlb.create("tls")
    # ip targets of a TCP group: AWS's default is not to preserve the client's address.
    tg = nlb.tg("tls", "TCP", preserve_client_ip=False)
    cert = "arn:aws:acm:us-east-1:000000000000:certificate/0b1b2c3d-1111-2222-3333-444455556666"
    listener = lbenv.elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TLS", Port=7443, Certificates=[{"CertificateArn": cert}],
        SslPolicy="ELBSecurityPolicy-TLS13-1-3-2021-06",
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]
    nlb.service([tg], 1)
    port = int(wait_for(lambda: listener_host_port(lbenv.k, listener), timeout=60, what="the TLS listener's host port"))
    p = kecs_cli(lbenv.k, "elb", "ca")
    assert p.returncode == 0, p.stderr
    ca = tmp_path / "ca.pem"
    ca.write_text(p.stdout)

    def hello(max_version=None):
        ctx = ssl.create_default_context(cafile=str(ca))
        if max_version:
            ctx.maximum_version = max_version
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=lb["DNSName"]) as s:
                return s.version(), s.makefile().readline().strip()
    version, line = hello()
    m = PEER_LINE.match(line)
    assert m and m.group(4) == "P", line
    assert version == "TLSv1.3"
    # HAProxy terminated TLS on the node and opened its own connection to the target.
    assert m.group(1) in lbenv.lb_node_ips(lb), (line, lbenv.lb_node_ips(lb))
    # The policy takes TLS 1.3 only.
    with pytest.raises(ssl.SSLError):
        hello(ssl.TLSVersion.TLSv1_2)



def test_targets_that_admit_only_the_nlbs_group_serve_its_clients(nlb, lbenv):
    cidr = lbenv.net.cidr
    nlb_group = lbenv.net.group("nlb", [("tcp", PEER_PORT, cidr)])
    only_nlb = lbenv.net.group("only-nlb", [("tcp", PEER_PORT, nlb_group)])
    lb = nlb.create("sg", SecurityGroups=[nlb_group])
    tg = nlb.tg("sg", "TCP")   # the client's address preserved
    nlb.listener(lb, "TCP", PEER_PORT, tg)
    t = lbenv.run_task("peer", groups=[only_nlb])
    ip = lbenv.ip_of(t)
    lbenv.elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": ip}])
    lbenv.wait_healthy(tg, [ip])   # the nodes' checks come from members of the NLB's group
    client, me = nlb.client()
    # Through either node: admitted as the NLB's traffic, and the target still sees the client.
    for node in lbenv.lb_node_ips(lb):
        peer, _, target, name = nlb.tcp(client, node, PEER_PORT)
        assert (peer, target, name) == (me, ip, "P"), node
    # Straight to the target: its group refuses the client.
    p = lbenv.in_container(client, "nc", "-w", "3", ip, str(PEER_PORT), timeout=10)
    assert not PEER_LINE.match(p.stdout.strip()), p.stdout
    # The NLB's own group decides who reaches it: without its rule, nobody does (the
    # nodes' health checks still pass).
    lbenv.net.ec2.revoke_security_group_ingress(GroupId=nlb_group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": PEER_PORT, "ToPort": PEER_PORT, "IpRanges": [{"CidrIp": cidr}]}])

    def refused(node):
        p = lbenv.in_container(client, "nc", "-w", "3", node, str(PEER_PORT), timeout=10)
        return not PEER_LINE.match(p.stdout.strip())
    for node in lbenv.lb_node_ips(lb):
        wait_for(lambda: refused(node), timeout=30, what=f"{node} refusing the client")
    assert lbenv.elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"][0][
        "TargetHealth"]["State"] == "healthy"
