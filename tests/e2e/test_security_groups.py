"""Issue 7: security groups and network ACLs enforced by the kernel (nftables), live.

Tasks are busybox httpd containers in a VPC of their own; traffic is real TCP and ICMP from
inside the tasks' network namespaces. Root only.

A group or ACL that does not admit a packet drops it: the client times out. Every "blocked"
check asserts exactly that (a refused connection or a failed client is another failure), and
after a change to a group or ACL the check polls until the change shows."""
import subprocess

import pytest

from conftest import (REFUSED, TIMEOUT, http_probe, ping_probe, served, wait_answered, wait_dropped,
                      wait_for)

PAGE = served("hello from kecs\n")


def sh(*args, timeout=15):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


def get(netns, ip, port=80, timeout=2):
    """A GET of the task's page from inside network namespace `netns`, classified."""
    return http_probe(f"http://{ip}:{port}/", netns=netns, timeout=timeout)


class Vpc:
    def __init__(self, kecs):
        self.k = kecs
        self.ec2 = kecs.client("ec2")
        self.ecs = kecs.client("ecs")
        self.vpc = self.ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
        self.s1 = self.ec2.create_subnet(VpcId=self.vpc, CidrBlock="10.60.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        self.s2 = self.ec2.create_subnet(VpcId=self.vpc, CidrBlock="10.60.2.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        self.ecs.create_cluster(clusterName="sg")
        self.ecs.register_task_definition(
            family="web", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": "web", "image": "nginx:latest", "portMappings": [{"containerPort": 80}],
                                   "stopTimeout": 1}])

    def group(self, name):
        return self.ec2.create_security_group(GroupName=name, Description=name, VpcId=self.vpc)["GroupId"]

    def task(self, groups, subnet=None):
        arn = self.ecs.run_task(cluster="sg", taskDefinition="web", launchType="FARGATE", networkConfiguration={
            "awsvpcConfiguration": {"subnets": [subnet or self.s1], "securityGroups": groups}})["tasks"][0]["taskArn"]

        def running():
            t = self.ecs.describe_tasks(cluster="sg", tasks=[arn])["tasks"][0]
            assert t["lastStatus"] != "STOPPED", t.get("stoppedReason")
            return t if t["lastStatus"] == "RUNNING" else None
        t = wait_for(running, timeout=60, what="RUNNING")
        d = {x["name"]: x["value"] for x in t["attachments"][0]["details"]}
        return {"arn": arn, "ip": d["privateIPv4Address"], "eni": d["networkInterfaceId"],
                "ns": f"{self.k.prefix}-t-{arn.rsplit('/', 1)[1]}"}

    def use_acl(self, subnet, acl):
        """Moves `subnet`'s network ACL association to `acl`."""
        assoc = [x for x in self.ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])
                 ["NetworkAcls"][0]["Associations"] if x["SubnetId"] == subnet][0]["NetworkAclAssociationId"]
        self.ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=acl)

    def allow_tcp80_from_group(self, target, source):
        return self.ec2.authorize_security_group_ingress(GroupId=target, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": source}]}])


@pytest.fixture
def vpc(local_kecs):
    return Vpc(local_kecs)


def test_group_chaining_live_authorize_and_revoke(vpc):
    ga, gb, gc = vpc.group("ga"), vpc.group("gb"), vpc.group("gc")
    vpc.allow_tcp80_from_group(gb, ga)
    b = vpc.task([gb])
    a = vpc.task([ga])
    c = vpc.task([gc])
    assert get(a["ns"], b["ip"]) == PAGE                 # A is in the allowed group
    assert get(c["ns"], b["ip"]).outcome == TIMEOUT      # C is not: its packets are dropped
    assert get(b["ns"], a["ip"]).outcome == TIMEOUT      # A's group admits nobody

    # Revoking takes effect; authorizing again restores it.
    vpc.ec2.revoke_security_group_ingress(GroupId=gb, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": ga}]}])
    wait_dropped(lambda: get(a["ns"], b["ip"]), "A -> B dropped after the revoke")
    vpc.allow_tcp80_from_group(gb, ga)
    assert wait_answered(lambda: get(a["ns"], b["ip"]), "A -> B admitted again") == PAGE

    # Membership is live too: giving C's interface group A lets it in.
    vpc.ec2.modify_network_interface_attribute(NetworkInterfaceId=c["eni"], Groups=[gc, ga])
    assert wait_answered(lambda: get(c["ns"], b["ip"]), "C -> B admitted as a member of A") == PAGE
    # And a new task in group A is admitted from its first packet.
    a2 = vpc.task([ga])
    assert get(a2["ns"], b["ip"]) == PAGE


def test_cidr_rules_and_port_ranges(vpc):
    ga, gb = vpc.group("ga"), vpc.group("gb")
    b = vpc.task([gb])
    a = vpc.task([ga])
    vpc.ec2.authorize_security_group_ingress(GroupId=gb, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 81, "ToPort": 90, "IpRanges": [{"CidrIp": a["ip"] + "/32"}]}])
    # The rule is in force once port 81 (nothing listens there) refuses instead of dropping.
    p81 = wait_for(lambda: get(a["ns"], b["ip"], port=81), until=lambda p: p.outcome != TIMEOUT,
                   timeout=30, what="A -> B:81 admitted by the 81-90 rule")
    assert p81.outcome == REFUSED, p81
    assert get(a["ns"], b["ip"]).outcome == TIMEOUT    # 80 is outside 81-90: still dropped
    vpc.ec2.authorize_security_group_ingress(GroupId=gb, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 70, "ToPort": 80, "IpRanges": [{"CidrIp": "10.60.1.0/24"}]}])
    assert wait_answered(lambda: get(a["ns"], b["ip"]), "A -> B:80 admitted by the 70-80 rule") == PAGE


def test_revoking_default_egress_blocks_outbound_but_not_replies(vpc):
    ga, gb = vpc.group("ga"), vpc.group("gb")
    vpc.allow_tcp80_from_group(gb, ga)
    vpc.allow_tcp80_from_group(ga, gb)
    a, b = vpc.task([ga]), vpc.task([gb])
    assert get(b["ns"], a["ip"]) == PAGE and get(a["ns"], b["ip"]) == PAGE
    rules = vpc.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [gb]}])["SecurityGroupRules"]
    egress = [r["SecurityGroupRuleId"] for r in rules if r["IsEgress"]]
    assert len(egress) == 1  # the default allow-all
    vpc.ec2.revoke_security_group_egress(GroupId=gb, SecurityGroupRuleIds=egress)
    wait_dropped(lambda: get(b["ns"], a["ip"]), "B's outbound connection dropped")
    assert get(a["ns"], b["ip"]) == PAGE   # replies to allowed inbound traffic still pass


def test_icmp_rule_lets_ping_through_and_removing_it_stops_it(vpc):
    ga, gb = vpc.group("ga"), vpc.group("gb")
    a, b = vpc.task([ga]), vpc.task([gb])
    assert ping_probe(a["ns"], b["ip"]).outcome == TIMEOUT    # the echo request is dropped
    perm = [{"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "UserIdGroupPairs": [{"GroupId": ga}]}]
    vpc.ec2.authorize_security_group_ingress(GroupId=gb, IpPermissions=perm)
    wait_answered(lambda: ping_probe(a["ns"], b["ip"]), "a ping reply once ICMP is admitted")
    vpc.ec2.revoke_security_group_ingress(GroupId=gb, IpPermissions=perm)
    wait_dropped(lambda: ping_probe(a["ns"], b["ip"]), "pings dropped once the ICMP rule is revoked")


def test_default_group_self_reference(vpc):
    default = vpc.ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc.vpc]}, {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    other = vpc.group("other")
    a, b = vpc.task([default]), vpc.task([default])
    c = vpc.task([other])
    assert get(a["ns"], b["ip"]) == PAGE and get(b["ns"], a["ip"]) == PAGE   # members admit each other
    assert get(c["ns"], a["ip"]).outcome == TIMEOUT                         # outsiders are dropped


def test_network_acl_lower_deny_beats_allow(vpc):
    ga, gb = vpc.group("ga"), vpc.group("gb")
    vpc.allow_tcp80_from_group(gb, ga)
    a = vpc.task([ga], subnet=vpc.s1)
    b = vpc.task([gb], subnet=vpc.s2)
    assert get(a["ns"], b["ip"]) == PAGE  # across subnets, through the default ACL
    acl = vpc.ec2.create_network_acl(VpcId=vpc.vpc)["NetworkAcl"]["NetworkAclId"]
    for egress in (False, True):
        vpc.ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="6", RuleAction="deny",
                                         Egress=egress, CidrBlock=a["ip"] + "/32" if not egress else "0.0.0.0/0",
                                         PortRange={"From": 80, "To": 80} if not egress else {"From": 0, "To": 65535})
        vpc.ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=200, Protocol="-1", RuleAction="allow",
                                         Egress=egress, CidrBlock="0.0.0.0/0")
    vpc.use_acl(vpc.s2, acl)
    # Rule 100 (deny) is matched before rule 200 (allow).
    wait_dropped(lambda: get(a["ns"], b["ip"]), "A -> B dropped by the new ACL's rule 100")
    vpc.ec2.replace_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="6", RuleAction="allow",
                                      Egress=False, CidrBlock=a["ip"] + "/32", PortRange={"From": 80, "To": 80})
    vpc.ec2.replace_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="6", RuleAction="allow",
                                      Egress=True, CidrBlock="0.0.0.0/0", PortRange={"From": 0, "To": 65535})
    assert wait_answered(lambda: get(a["ns"], b["ip"]), "A -> B admitted by the replaced rule 100") == PAGE


def test_host_reaches_tasks_in_lenient_mode(vpc):
    gb = vpc.group("gb")
    b = vpc.task([gb])
    assert http_probe(f"http://{b['ip']}/") == PAGE


@pytest.mark.kecs_args("--strict")
def test_strict_mode_applies_groups_to_the_host_too(vpc):
    gb = vpc.group("gb")
    b = vpc.task([gb])
    assert http_probe(f"http://{b['ip']}/", timeout=2).outcome == TIMEOUT   # the host's packets are dropped
    vpc.ec2.authorize_security_group_ingress(GroupId=gb, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert wait_answered(lambda: http_probe(f"http://{b['ip']}/"), "the host admitted by 0.0.0.0/0") == PAGE


def test_every_rule_names_its_owner_and_teardown_leaves_none(vpc):
    ga, gb = vpc.group("ga"), vpc.group("gb")
    vpc.allow_tcp80_from_group(gb, ga)
    b = vpc.task([gb])
    router = f"{vpc.k.prefix}-r-{vpc.vpc}"
    ruleset = sh("ip", "netns", "exec", router, "nft", "list", "table", "inet", "kecs_sg").stdout
    rules = [l.strip() for l in ruleset.splitlines()
             if l.strip() and not l.strip().startswith(("table", "chain", "set", "map", "type", "elements",
                                                         "comment", "}", "policy"))]
    assert rules, ruleset
    for r in rules:
        assert 'comment "' in r, r
    assert b["eni"] in ruleset and gb in ruleset
    vpc.ecs.stop_task(cluster="sg", task=b["arn"])
    wait_for(lambda: vpc.ecs.describe_tasks(cluster="sg", tasks=[b["arn"]])["tasks"][0]["lastStatus"] == "STOPPED",
             timeout=30, what="stopped")
    # The VPC's last task is gone: its router, and every rule in it, went with it.
    assert router not in sh("ip", "netns", "list").stdout


def test_container_instance_group_governs_bridge_tasks(local_kecs):
    ec2 = local_kecs.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(GroupName="instance", Description="instance", VpcId=vpc)["GroupId"]
    local_kecs.stop()
    local_kecs.extra_args = ["--instance-security-group", group]
    local_kecs.start()
    ecs = local_kecs.client("ecs")
    ecs.create_cluster(clusterName="br")
    ecs.register_task_definition(family="br", containerDefinitions=[
        {"name": "web", "image": "nginx:latest", "memory": 64, "stopTimeout": 1,
         "portMappings": [{"containerPort": 80, "hostPort": 0}]}])
    arn = ecs.run_task(cluster="br", taskDefinition="br")["tasks"][0]["taskArn"]
    t = wait_for(lambda: (lambda t: t if t["lastStatus"] == "RUNNING" else None)(
        ecs.describe_tasks(cluster="br", tasks=[arn])["tasks"][0]), timeout=60, what="RUNNING")
    port = t["containers"][0]["networkBindings"][0]["hostPort"]
    host_ip = sh("hostname", "-I").stdout.split()[0]
    # A client on the network: an awsvpc task of the default VPC, reaching the host's
    # address (the host's own connections are local and never cross the filter).
    ecs.register_task_definition(family="client", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                 cpu="256", memory="512", containerDefinitions=[
        {"name": "c", "image": "nginx:latest", "stopTimeout": 1, "portMappings": [{"containerPort": 80}]}])
    subnet = sorted(ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"],
                    key=lambda x: x["AvailabilityZone"])[0]["SubnetId"]
    client = ecs.run_task(cluster="br", taskDefinition="client", launchType="FARGATE", networkConfiguration={
        "awsvpcConfiguration": {"subnets": [subnet]}})["tasks"][0]["taskArn"]
    wait_for(lambda: ecs.describe_tasks(cluster="br", tasks=[client])["tasks"][0]["lastStatus"] == "RUNNING",
             timeout=60, what="client RUNNING")
    ns = f"{local_kecs.prefix}-t-{client.rsplit('/', 1)[1]}"
    # The group admits nothing: the published port drops packets from the network.
    assert get(ns, host_ip, port).outcome == TIMEOUT
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert wait_answered(lambda: get(ns, host_ip, port), "the published port admitted by the group") == PAGE
    table = f"{local_kecs.prefix}_instance"
    assert table in sh("nft", "list", "tables").stdout
