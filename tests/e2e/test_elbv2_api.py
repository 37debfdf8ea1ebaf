"""Elastic Load Balancing (v2) API end to end, against a simulated-runtime daemon: load
balancers, target groups, listeners and rules, targets and their health, tags, attributes,
account limits, SSL policies and paging, through the real aws CLI and boto3.

The simulated runtime has no data plane: it reports every registered target of a load
balancer's groups healthy (runtime.h: ObserveTargets), so the states go initial -> healthy.
Error codes are the model's (third_party/aws-models/elbv2/service-2.json); messages are
asserted exactly where AWS's wording is on record (cited beside each), else by the facts
they must name."""
import ipaddress
import re

import pytest

from conftest import wait_for
from test_elbv2_support import (DEREGISTRATION_IN_PROGRESS, LB_ARN, LISTENER_ARN, NOT_IN_USE, NOT_REGISTERED,
                                REGISTRATION_IN_PROGRESS, RULE_ARN, TG_ARN, cli, cli_error, error, health, states,
                                tags_of)

FAST = {"Delay": 1, "MaxAttempts": 60}


class Net:
    """The default VPC's default subnets in two zones, and a security group."""

    def __init__(self, kecs):
        self.ec2 = kecs.client("ec2")
        subnets = sorted(self.ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"],
                         key=lambda s: s["AvailabilityZone"])
        self.subnets = [s["SubnetId"] for s in subnets[:2]]
        self.zones = [s["AvailabilityZone"] for s in subnets[:2]]
        self.subnet_cidrs = [s["CidrBlock"] for s in subnets[:2]]
        self.vpc = subnets[0]["VpcId"]
        self.cidr = self.ec2.describe_vpcs(VpcIds=[self.vpc])["Vpcs"][0]["CidrBlock"]
        self.group = self.ec2.create_security_group(GroupName="lb", Description="lb", VpcId=self.vpc)["GroupId"]


@pytest.fixture
def net(kecs):
    return Net(kecs)


def create_alb(elbv2, net, name="web", **kw):
    lb = elbv2.create_load_balancer(Name=name, Subnets=net.subnets, SecurityGroups=[net.group], **kw)["LoadBalancers"][0]
    elbv2.get_waiter("load_balancer_available").wait(LoadBalancerArns=[lb["LoadBalancerArn"]], WaiterConfig=FAST)
    return lb


def create_tg(elbv2, net, name, protocol="HTTP", port=80, target_type="ip", **kw):
    return elbv2.create_target_group(Name=name, Protocol=protocol, Port=port, VpcId=net.vpc, TargetType=target_type,
                                     **kw)["TargetGroups"][0]


def attrs(items):
    return {a["Key"]: a["Value"] for a in items}


# ---- load balancers -----------------------------------------------------------------------

def test_alb_lifecycle_through_the_cli(kecs, net):
    out = cli(kecs, "create-load-balancer", "--name", "web", "--subnets", *net.subnets,
              "--security-groups", net.group, "--tags", "Key=team,Value=blue")
    [lb] = out["LoadBalancers"]
    arn = lb["LoadBalancerArn"]
    assert LB_ARN.match(arn) and "/app/web/" in arn, arn
    assert re.fullmatch(r"web-\d+\.us-east-1\.elb\.amazonaws\.com", lb["DNSName"]), lb["DNSName"]
    # Route 53's hosted zone of Application Load Balancers in us-east-1 (AWS's endpoints table).
    assert lb["CanonicalHostedZoneId"] == "Z35SXDOTRQ7X7K"
    assert lb["Scheme"] == "internet-facing" and lb["Type"] == "application" and lb["IpAddressType"] == "ipv4"
    assert lb["VpcId"] == net.vpc and lb["SecurityGroups"] == [net.group]
    assert lb["State"]["Code"] in ("provisioning", "active")
    assert sorted((z["ZoneName"], z["SubnetId"]) for z in lb["AvailabilityZones"]) == sorted(zip(net.zones, net.subnets))
    assert "CreatedTime" in lb

    # The CLI's waiter polls every 15 s: wait with boto3's at 1 s first, then check that the
    # CLI's agrees at once.
    kecs.client("elbv2").get_waiter("load_balancer_available").wait(LoadBalancerArns=[arn], WaiterConfig=FAST)
    p = kecs.aws("elbv2", "wait", "load-balancer-available", "--load-balancer-arns", arn, raw=True)
    assert p.returncode == 0, p.stderr
    [by_name] = cli(kecs, "describe-load-balancers", "--names", "web")["LoadBalancers"]
    assert by_name["LoadBalancerArn"] == arn and by_name["State"]["Code"] == "active"
    assert tags_of(kecs.client("elbv2"), arn) == {"team": "blue"}

    # The same settings again: the same load balancer (CreateLoadBalancer is idempotent,
    # the model's documentation says); other settings under the same name are refused.
    again = cli(kecs, "create-load-balancer", "--name", "web", "--subnets", *net.subnets,
                "--security-groups", net.group, "--tags", "Key=team,Value=blue")["LoadBalancers"][0]
    assert again["LoadBalancerArn"] == arn
    # AWS's wording: aws-load-balancer-controller#3173, terraform#10837.
    assert cli_error(kecs, "create-load-balancer", "--name", "web", "--subnets", *net.subnets,
                     "--security-groups", net.group, "--scheme", "internal") == (
        "DuplicateLoadBalancerName", "A load balancer with the same name 'web' exists, but with different settings")

    cli(kecs, "delete-load-balancer", "--load-balancer-arn", arn)
    p = kecs.aws("elbv2", "wait", "load-balancers-deleted", "--load-balancer-arns", arn, raw=True)
    assert p.returncode == 0, p.stderr
    assert cli_error(kecs, "describe-load-balancers", "--load-balancer-arns", arn) == (
        "LoadBalancerNotFound", "One or more load balancers not found")
    # By name, AWS names what it did not find (as the aws CLI prints it in many reports,
    # e.g. "Load balancers '[EngineeringLB]' not found").
    assert cli_error(kecs, "describe-load-balancers", "--names", "web") == (
        "LoadBalancerNotFound", "Load balancers '[web]' not found")
    # "If the load balancer does not exist or has already been deleted, the call succeeds."
    cli(kecs, "delete-load-balancer", "--load-balancer-arn", arn)


def test_internal_alb_and_nlb_shapes(kecs, net):
    elbv2 = kecs.client("elbv2")
    internal = create_alb(elbv2, net, name="inside", Scheme="internal")
    assert re.fullmatch(r"internal-inside-\d+\.us-east-1\.elb\.amazonaws\.com", internal["DNSName"]), internal["DNSName"]
    assert internal["Scheme"] == "internal"

    # A network load balancer: one subnet is enough, and it has no security groups unless given.
    nlb = elbv2.create_load_balancer(Name="tcp", Type="network", Subnets=net.subnets[:1])["LoadBalancers"][0]
    assert LB_ARN.match(nlb["LoadBalancerArn"]) and "/net/tcp/" in nlb["LoadBalancerArn"]
    assert nlb["Type"] == "network" and len(nlb["AvailabilityZones"]) == 1
    assert nlb["DNSName"].startswith("tcp-") and nlb["DNSName"].endswith(".amazonaws.com"), nlb["DNSName"]
    assert "SecurityGroups" not in nlb or nlb["SecurityGroups"] == []
    # Route 53's hosted zone of Network Load Balancers in us-east-1.
    assert nlb["CanonicalHostedZoneId"] == "Z26RNL4JYFTOTI"
    elbv2.get_waiter("load_balancer_available").wait(LoadBalancerArns=[nlb["LoadBalancerArn"]], WaiterConfig=FAST)

    # Attributes: every one of the type, with AWS's defaults.
    a = attrs(elbv2.describe_load_balancer_attributes(LoadBalancerArn=internal["LoadBalancerArn"])["Attributes"])
    assert a["idle_timeout.timeout_seconds"] == "60"
    assert a["deletion_protection.enabled"] == "false"
    assert a["routing.http2.enabled"] == "true"
    assert a["load_balancing.cross_zone.enabled"] == "true"
    assert a["routing.http.xff_header_processing.mode"] == "append"
    n = attrs(elbv2.describe_load_balancer_attributes(LoadBalancerArn=nlb["LoadBalancerArn"])["Attributes"])
    assert n["load_balancing.cross_zone.enabled"] == "false"
    assert n["deletion_protection.enabled"] == "false"
    assert "idle_timeout.timeout_seconds" not in n

    out = elbv2.modify_load_balancer_attributes(LoadBalancerArn=internal["LoadBalancerArn"], Attributes=[
        {"Key": "idle_timeout.timeout_seconds", "Value": "30"}, {"Key": "deletion_protection.enabled", "Value": "true"}])
    changed = attrs(out["Attributes"])
    assert changed["idle_timeout.timeout_seconds"] == "30" and changed["deletion_protection.enabled"] == "true"
    code, message = error(elbv2.delete_load_balancer, LoadBalancerArn=internal["LoadBalancerArn"])
    assert code == "OperationNotPermitted" and "deletion protection is enabled" in message, message
    code, message = error(elbv2.modify_load_balancer_attributes, LoadBalancerArn=internal["LoadBalancerArn"],
                          Attributes=[{"Key": "no.such.attribute", "Value": "1"}])
    assert code == "ValidationError" and "no.such.attribute" in message, message
    elbv2.modify_load_balancer_attributes(LoadBalancerArn=internal["LoadBalancerArn"], Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "false"}])
    elbv2.delete_load_balancer(LoadBalancerArn=internal["LoadBalancerArn"])


def test_create_load_balancer_errors(kecs, net):
    elbv2 = kecs.client("elbv2")
    # AWS's wording: aws-samples/aws-cdk-examples#226, kasmtech/terraform#5.
    assert error(elbv2.create_load_balancer, Name="one", Subnets=net.subnets[:1], SecurityGroups=[net.group]) == (
        "ValidationError", "At least two subnets in two different Availability Zones must be specified")
    same_zone = net.ec2.create_subnet(VpcId=net.vpc, CidrBlock=str(_spare_block(net)),
                                      AvailabilityZone=net.zones[0])["Subnet"]["SubnetId"]
    # AWS's wording: aws-samples/aws-scalable-big-blue-button-example#51.
    assert error(elbv2.create_load_balancer, Name="two", Subnets=[net.subnets[0], same_zone]) == (
        "InvalidConfigurationRequest", "A load balancer cannot be attached to multiple subnets in the same Availability Zone")
    # SubnetNotFound: AWS's message is not on record (reports show only the code), so the
    # test asks that it names the subnet.
    code, message = error(elbv2.create_load_balancer, Name="three", Subnets=[net.subnets[0], "subnet-0123456789abcdef0"])
    assert code == "SubnetNotFound" and "subnet-0123456789abcdef0" in message, message
    code, message = error(elbv2.create_load_balancer, Name="four", Subnets=net.subnets, SecurityGroups=["sg-0123456789abcdef0"])
    assert code == "InvalidSecurityGroup" and "sg-0123456789abcdef0" in message, message
    assert error(elbv2.describe_load_balancers,
                 LoadBalancerArns=["arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/x/0123456789abcdef"]) == (
        "LoadBalancerNotFound", "One or more load balancers not found")
    # Internet-facing needs an internet gateway on the VPC (an internal one does not). AWS's
    # message is not on record; it must name the VPC.
    vpc = net.ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    private = [net.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.99.{i}.0/24", AvailabilityZone=z)["Subnet"]["SubnetId"]
               for i, z in enumerate(net.zones)]
    code, message = error(elbv2.create_load_balancer, Name="five", Subnets=private)
    assert code == "InvalidSubnet" and vpc in message, (code, message)
    # Nothing was left behind by the refusals.
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    enis = net.ec2.describe_network_interfaces()["NetworkInterfaces"]
    assert [e["NetworkInterfaceId"] for e in enis if e.get("Description", "").startswith("ELB ")] == []
    inside = elbv2.create_load_balancer(Name="five", Subnets=private, Scheme="internal")["LoadBalancers"][0]
    assert inside["VpcId"] == vpc


def _spare_block(net):
    vpc = ipaddress.ip_network(net.cidr)
    used = [ipaddress.ip_network(s["CidrBlock"]) for s in net.ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [net.vpc]}])["Subnets"]]
    return next(b for b in vpc.subnets(new_prefix=24) if not any(b.overlaps(u) for u in used))


def test_load_balancer_nodes_are_enis_in_its_subnets(kecs, net):
    elbv2 = kecs.client("elbv2")
    lb = create_alb(elbv2, net)
    lb_id = lb["LoadBalancerArn"].rsplit("/", 1)[1]
    enis = lb_enis(net, f"ELB app/web/{lb_id}")
    assert sorted(e["SubnetId"] for e in enis) == sorted(net.subnets)
    for e in enis:
        assert e["RequesterManaged"] is True and e["Status"] == "in-use"
        assert (e["RequesterId"], e["Attachment"]["InstanceOwnerId"]) == ("amazon-elb", "amazon-elb")
        assert [g["GroupId"] for g in e["Groups"]] == [net.group]
    # Deleting the load balancer releases them.
    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    wait_for(lambda: lb_enis(net, f"ELB app/web/{lb_id}") == [], what="the load balancer's ENIs released")


def lb_enis(net, description):
    return [e for e in net.ec2.describe_network_interfaces()["NetworkInterfaces"] if e.get("Description") == description]


# ---- target groups ------------------------------------------------------------------------

def test_target_group_defaults_per_protocol(kecs, net):
    elbv2 = kecs.client("elbv2")
    # The fewest arguments the CLI takes.
    [http] = cli(kecs, "create-target-group", "--name", "web", "--protocol", "HTTP", "--port", "80",
                 "--vpc-id", net.vpc)["TargetGroups"]
    assert TG_ARN.match(http["TargetGroupArn"]) and "/web/" in http["TargetGroupArn"]
    assert http["TargetType"] == "instance"
    assert (http["HealthCheckProtocol"], http["HealthCheckPort"], http["HealthCheckPath"]) == ("HTTP", "traffic-port", "/")
    assert http["HealthCheckEnabled"] is True
    assert http["HealthCheckIntervalSeconds"] == 30
    # The model documents 6 s for HTTP groups, the ALB user guide 5 s: either is AWS's.
    assert http["HealthCheckTimeoutSeconds"] in (5, 6)
    assert (http["HealthyThresholdCount"], http["UnhealthyThresholdCount"]) == (5, 2)
    assert http["Matcher"] == {"HttpCode": "200"}
    assert http["ProtocolVersion"] == "HTTP1"
    assert http["LoadBalancerArns"] == [] and http["VpcId"] == net.vpc
    a = attrs(elbv2.describe_target_group_attributes(TargetGroupArn=http["TargetGroupArn"])["Attributes"])
    assert a["deregistration_delay.timeout_seconds"] == "300"
    assert a["stickiness.enabled"] == "false" and a["stickiness.type"] == "lb_cookie"
    assert a["stickiness.lb_cookie.duration_seconds"] == "86400"
    assert a["load_balancing.algorithm.type"] == "round_robin"
    assert a["slow_start.duration_seconds"] == "0"

    tcp = create_tg(elbv2, net, "tcp", protocol="TCP", port=5000)
    assert tcp["HealthCheckProtocol"] == "TCP" and tcp["HealthCheckPort"] == "traffic-port"
    assert tcp["HealthCheckIntervalSeconds"] == 30 and tcp["HealthCheckTimeoutSeconds"] == 10
    assert (tcp["HealthyThresholdCount"], tcp["UnhealthyThresholdCount"]) == (5, 2)
    assert "HealthCheckPath" not in tcp and "ProtocolVersion" not in tcp
    t = attrs(elbv2.describe_target_group_attributes(TargetGroupArn=tcp["TargetGroupArn"])["Attributes"])
    assert t["stickiness.type"] == "source_ip" and t["stickiness.enabled"] == "false"
    # Client IP preservation: off by default for TCP (and TLS) groups of `ip` targets, on
    # for UDP and TCP_UDP ones (the NLB guide, "Client IP preservation").
    assert t["preserve_client_ip.enabled"] == "false"
    udp = create_tg(elbv2, net, "udp", protocol="UDP", port=5000, HealthCheckProtocol="TCP")
    u = attrs(elbv2.describe_target_group_attributes(TargetGroupArn=udp["TargetGroupArn"])["Attributes"])
    assert u["preserve_client_ip.enabled"] == "true"

    # Same settings: the same group; other settings under the name: refused (AWS's wording:
    # aws-load-balancer-controller#3774, fortinet/fortigate-terraform-deploy#21).
    assert create_tg(elbv2, net, "tcp", protocol="TCP", port=5000)["TargetGroupArn"] == tcp["TargetGroupArn"]
    assert error(elbv2.create_target_group, Name="tcp", Protocol="TCP", Port=5001, VpcId=net.vpc, TargetType="ip") == (
        "DuplicateTargetGroupName", "A target group with the same name 'tcp' exists, but with different settings")
    assert error(elbv2.describe_target_groups, Names=["nope"]) == (
        "TargetGroupNotFound", "One or more target groups not found")

    out = elbv2.modify_target_group(TargetGroupArn=http["TargetGroupArn"], HealthCheckPath="/health",
                                    HealthCheckIntervalSeconds=10, Matcher={"HttpCode": "200-299"})["TargetGroups"][0]
    assert (out["HealthCheckPath"], out["HealthCheckIntervalSeconds"], out["Matcher"]) == ("/health", 10, {"HttpCode": "200-299"})
    out = elbv2.modify_target_group_attributes(TargetGroupArn=http["TargetGroupArn"], Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "5"}, {"Key": "stickiness.enabled", "Value": "true"}])
    a = attrs(out["Attributes"])
    assert a["deregistration_delay.timeout_seconds"] == "5" and a["stickiness.enabled"] == "true"


def test_target_group_in_use_cannot_be_deleted(kecs, net):
    elbv2 = kecs.client("elbv2")
    lb = create_alb(elbv2, net)
    tg = create_tg(elbv2, net, "web")["TargetGroupArn"]
    listener = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                     DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]
    assert elbv2.describe_target_groups(TargetGroupArns=[tg])["TargetGroups"][0]["LoadBalancerArns"] == [lb["LoadBalancerArn"]]
    # AWS's wording: terraform#13076, cloudposse/terraform-aws-alb-ingress#24.
    assert error(elbv2.delete_target_group, TargetGroupArn=tg) == (
        "ResourceInUse", f"Target group '{tg}' is currently in use by a listener or a rule")
    elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
    assert elbv2.describe_target_groups(TargetGroupArns=[tg])["TargetGroups"][0]["LoadBalancerArns"] == []
    elbv2.delete_target_group(TargetGroupArn=tg)
    assert error(elbv2.describe_target_groups, TargetGroupArns=[tg]) == (
        "TargetGroupNotFound", "One or more target groups not found")


# ---- listeners and rules ------------------------------------------------------------------

def test_listeners_rules_priorities_and_the_default_rule(kecs, net):
    elbv2 = kecs.client("elbv2")
    lb = create_alb(elbv2, net)
    lb_arn = lb["LoadBalancerArn"]
    a = create_tg(elbv2, net, "a")["TargetGroupArn"]
    b = create_tg(elbv2, net, "b")["TargetGroupArn"]

    [listener] = cli(kecs, "create-listener", "--load-balancer-arn", lb_arn, "--protocol", "HTTP", "--port", "80",
                     "--default-actions", f"Type=forward,TargetGroupArn={a}")["Listeners"]
    larn = listener["ListenerArn"]
    assert LISTENER_ARN.match(larn) and larn.startswith(lb_arn.replace(":loadbalancer/", ":listener/") + "/"), larn
    assert (listener["Port"], listener["Protocol"], listener["LoadBalancerArn"]) == (80, "HTTP", lb_arn)
    [action] = listener["DefaultActions"]
    assert action["Type"] == "forward" and action["TargetGroupArn"] == a
    assert action["ForwardConfig"]["TargetGroups"] == [{"TargetGroupArn": a, "Weight": 1}]

    # Same port, other settings (AWS's wording: terraform#26407).
    assert error(elbv2.create_listener, LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                 DefaultActions=[{"Type": "forward", "TargetGroupArn": b}]) == (
        "DuplicateListener", f"A listener already exists on this port for this load balancer '{lb_arn}'")

    r1 = elbv2.create_rule(ListenerArn=larn, Priority=10, Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
                           Actions=[{"Type": "forward", "TargetGroupArn": a}])["Rules"][0]
    assert RULE_ARN.match(r1["RuleArn"]) and r1["Priority"] == "10" and r1["IsDefault"] is False
    # The legacy Values form is echoed with its config form, as AWS does.
    assert r1["Conditions"] == [{"Field": "path-pattern", "Values": ["/api/*"], "PathPatternConfig": {"Values": ["/api/*"]}}]
    # AWS's wording: terraform#24239, stelligent/mu#324.
    assert error(elbv2.create_rule, ListenerArn=larn, Priority=10,
                 Conditions=[{"Field": "path-pattern", "Values": ["/web/*"]}],
                 Actions=[{"Type": "forward", "TargetGroupArn": b}]) == ("PriorityInUse", "Priority '10' is currently in use")
    r2 = elbv2.create_rule(ListenerArn=larn, Priority=20,
                           Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": ["*.example.com"]}}],
                           Actions=[{"Type": "fixed-response", "FixedResponseConfig": {
                               "StatusCode": "418", "ContentType": "text/plain", "MessageBody": "teapot"}}])["Rules"][0]

    rules = cli(kecs, "describe-rules", "--listener-arn", larn)["Rules"]
    assert [r["Priority"] for r in rules] == ["10", "20", "default"]
    default = rules[-1]
    assert default["IsDefault"] is True and default["Conditions"] == [] and RULE_ARN.match(default["RuleArn"])
    assert default["Actions"][0]["TargetGroupArn"] == a

    # Swapping two priorities in one call is no conflict.
    out = elbv2.set_rule_priorities(RulePriorities=[{"RuleArn": r1["RuleArn"], "Priority": 20},
                                                    {"RuleArn": r2["RuleArn"], "Priority": 10}])["Rules"]
    assert {r["RuleArn"]: r["Priority"] for r in out} == {r1["RuleArn"]: "20", r2["RuleArn"]: "10"}
    assert [r["RuleArn"] for r in elbv2.describe_rules(ListenerArn=larn)["Rules"]] == [r2["RuleArn"], r1["RuleArn"], default["RuleArn"]]
    # A priority another rule keeps is in use.
    assert error(elbv2.set_rule_priorities, RulePriorities=[{"RuleArn": r1["RuleArn"], "Priority": 10}]) == (
        "PriorityInUse", "Priority '10' is currently in use")

    # ModifyRule replaces the actions (and keeps the priority and conditions).
    out = elbv2.modify_rule(RuleArn=r1["RuleArn"], Actions=[{"Type": "redirect", "RedirectConfig": {
        "Host": "#{host}", "Path": "/v2/#{path}", "StatusCode": "HTTP_301"}}])["Rules"][0]
    assert out["Priority"] == "20" and out["Conditions"][0]["Values"] == ["/api/*"]
    redirect = out["Actions"][0]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"] == {"Protocol": "#{protocol}", "Port": "#{port}", "Host": "#{host}",
                                          "Path": "/v2/#{path}", "Query": "#{query}", "StatusCode": "HTTP_301"}

    # A target group is used by one load balancer only.
    lb2 = create_alb(elbv2, net, name="other")
    code, message = error(elbv2.create_listener, LoadBalancerArn=lb2["LoadBalancerArn"], Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": a}])
    # AWS's wording: terraform-provider-aws#22005.
    assert code == "TargetGroupAssociationLimit", (code, message)
    assert message.startswith("The following target groups cannot be associated with more than one load balancer") and a in message

    elbv2.delete_rule(RuleArn=r2["RuleArn"])
    assert error(elbv2.describe_rules, RuleArns=[r2["RuleArn"]]) == ("RuleNotFound", "One or more rules not found")
    elbv2.delete_listener(ListenerArn=larn)
    assert error(elbv2.describe_listeners, ListenerArns=[larn]) == ("ListenerNotFound", "One or more listeners not found")
    assert error(elbv2.describe_rules, RuleArns=[r1["RuleArn"]]) == ("RuleNotFound", "One or more rules not found")


def test_weighted_forward_and_https_listener_shapes(kecs, net):
    elbv2 = kecs.client("elbv2")
    lb = create_alb(elbv2, net)
    a = create_tg(elbv2, net, "a")["TargetGroupArn"]
    b = create_tg(elbv2, net, "b")["TargetGroupArn"]
    listener = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": a, "Weight": 70},
                                                               {"TargetGroupArn": b, "Weight": 30}],
                                              "TargetGroupStickinessConfig": {"Enabled": False}}}])["Listeners"][0]
    fc = listener["DefaultActions"][0]["ForwardConfig"]
    assert fc["TargetGroups"] == [{"TargetGroupArn": a, "Weight": 70}, {"TargetGroupArn": b, "Weight": 30}]
    assert "TargetGroupArn" not in listener["DefaultActions"][0]
    for tg in (a, b):
        assert elbv2.describe_target_groups(TargetGroupArns=[tg])["TargetGroups"][0]["LoadBalancerArns"] == [lb["LoadBalancerArn"]]

    # HTTPS needs a certificate (AWS's wording: many aws-load-balancer-controller reports).
    assert error(elbv2.create_listener, LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=443,
                 DefaultActions=[{"Type": "forward", "TargetGroupArn": a}]) == (
        "ValidationError", "A certificate must be specified for HTTPS listeners")
    cert = "arn:aws:acm:us-east-1:000000000000:certificate/0b1b2c3d-1111-2222-3333-444455556666"
    https = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=443,
                                  Certificates=[{"CertificateArn": cert}],
                                  DefaultActions=[{"Type": "forward", "TargetGroupArn": a}])["Listeners"][0]
    assert https["Certificates"] == [{"CertificateArn": cert}]
    # The API's default policy when none is given.
    assert https["SslPolicy"] == "ELBSecurityPolicy-2016-08"


# ---- targets and health -------------------------------------------------------------------

def test_target_health_unused_initial_healthy_and_draining(kecs, net):
    elbv2 = kecs.client("elbv2")
    tg = create_tg(elbv2, net, "web")["TargetGroupArn"]
    base = ipaddress.ip_network(net.subnet_cidrs[0]).network_address   # addresses in one of the VPC's subnets
    t1, t2, t3 = (str(base + n) for n in (10, 11, 12))
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": t1}, {"Id": t2, "Port": 8080}])

    # No load balancer uses the group: its targets are unused.
    descs = elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    assert [(d["Target"]["Id"], d["Target"]["Port"], d["HealthCheckPort"]) for d in descs] == [
        (t1, 80, "80"), (t2, 8080, "8080")]
    for d in descs:
        assert (d["TargetHealth"]["State"], d["TargetHealth"]["Reason"], d["TargetHealth"]["Description"]) == (
            "unused",) + NOT_IN_USE
    # A target that is not registered.
    h = health(elbv2, tg, [{"Id": t3}])[t3]
    assert (h["State"], h["Reason"], h["Description"]) == ("unused",) + NOT_REGISTERED

    # Used by a listener: initial while registration is in progress, then healthy.
    lb = create_alb(elbv2, net)
    elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    first = health(elbv2, tg)
    for h in first.values():
        assert h["State"] in ("initial", "healthy"), h
        if h["State"] == "initial":
            assert (h["Reason"], h["Description"]) == REGISTRATION_IN_PROGRESS
    elbv2.get_waiter("target_in_service").wait(TargetGroupArn=tg, WaiterConfig=FAST)
    p = kecs.aws("elbv2", "wait", "target-in-service", "--target-group-arn", tg, raw=True)
    assert p.returncode == 0, p.stderr
    assert states(elbv2, tg) == {t1: "healthy", t2: "healthy"}
    assert all("Reason" not in h for h in health(elbv2, tg).values())

    # Deregistered: draining for the deregistration delay (300 s by default).
    elbv2.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": t1}])
    h = health(elbv2, tg)[t1]
    assert (h["State"], h["Reason"], h["Description"]) == ("draining",) + DEREGISTRATION_IN_PROGRESS
    # With no delay, a deregistered target is gone at once; the waiter agrees.
    elbv2.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "0"}])
    elbv2.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": t2, "Port": 8080}])
    p = kecs.aws("elbv2", "wait", "target-deregistered", "--target-group-arn", tg,
                 "--targets", f"Id={t2},Port=8080", raw=True)
    assert p.returncode == 0, p.stderr
    assert t2 not in health(elbv2, tg)


def test_register_targets_errors(kecs, net):
    elbv2 = kecs.client("elbv2")
    missing = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/none/0123456789abcdef"
    assert error(elbv2.register_targets, TargetGroupArn=missing, Targets=[{"Id": "10.0.0.1"}]) == (
        "TargetGroupNotFound", "One or more target groups not found")
    assert error(elbv2.describe_target_health, TargetGroupArn=missing) == (
        "TargetGroupNotFound", "One or more target groups not found")
    instances = create_tg(elbv2, net, "inst", target_type="instance")["TargetGroupArn"]
    code, message = error(elbv2.register_targets, TargetGroupArn=instances, Targets=[{"Id": "i-0123456789abcdef0"}])
    assert code == "InvalidTarget" and "i-0123456789abcdef0" in message, message
    ips = create_tg(elbv2, net, "ips")["TargetGroupArn"]
    code, message = error(elbv2.register_targets, TargetGroupArn=ips, Targets=[{"Id": "i-0123456789abcdef0"}])
    assert code in ("ValidationError", "InvalidTarget") and "i-0123456789abcdef0" in message, message
    assert elbv2.describe_target_health(TargetGroupArn=ips)["TargetHealthDescriptions"] == []


# ---- tags, limits, SSL policies, paging ---------------------------------------------------

def test_tags_on_load_balancers_target_groups_listeners_and_rules(kecs, net):
    elbv2 = kecs.client("elbv2")
    lb = create_alb(elbv2, net)["LoadBalancerArn"]
    tg = create_tg(elbv2, net, "web", Tags=[{"Key": "a", "Value": "1"}])["TargetGroupArn"]
    listener = elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                                     DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]
    cli(kecs, "add-tags", "--resource-arns", lb, tg, "--tags", "Key=env,Value=dev", "Key=team,Value=blue")
    elbv2.add_tags(ResourceArns=[listener], Tags=[{"Key": "x", "Value": "y"}])
    out = {d["ResourceArn"]: {t["Key"]: t["Value"] for t in d["Tags"]}
           for d in elbv2.describe_tags(ResourceArns=[lb, tg])["TagDescriptions"]}
    assert out == {lb: {"env": "dev", "team": "blue"}, tg: {"a": "1", "env": "dev", "team": "blue"}}
    assert tags_of(elbv2, listener)["x"] == "y"
    elbv2.remove_tags(ResourceArns=[tg], TagKeys=["env", "a"])
    assert tags_of(elbv2, tg) == {"team": "blue"}
    assert error(elbv2.describe_tags, ResourceArns=[lb.replace(lb.rsplit("/", 1)[1], "0123456789abcdef")]) == (
        "LoadBalancerNotFound", "One or more load balancers not found")


def test_account_limits_and_ssl_policies(kecs):
    elbv2 = kecs.client("elbv2")
    limits = {l["Name"]: l["Max"] for l in cli(kecs, "describe-account-limits")["Limits"]}
    # Names from the model's Limit shape; maxima as AWS's CLI example shows them.
    for name, mx in (("application-load-balancers", "50"), ("network-load-balancers", "50"),
                     ("target-groups", "3000"), ("listeners-per-application-load-balancer", "50"),
                     ("rules-per-application-load-balancer", "100"),
                     ("targets-per-application-load-balancer", "1000"),
                     ("target-groups-per-action-on-application-load-balancer", "5")):
        assert limits.get(name) == mx, (name, limits.get(name))
    # Paged by Marker.
    first = elbv2.describe_account_limits(PageSize=3)
    assert len(first["Limits"]) == 3 and first["NextMarker"]
    paged = [l["Name"] for page in elbv2.get_paginator("describe_account_limits").paginate(
        PaginationConfig={"PageSize": 3}) for l in page["Limits"]]
    assert paged == list(limits)

    policies = {p["Name"]: p for p in cli(kecs, "describe-ssl-policies")["SslPolicies"]}
    for name in ("ELBSecurityPolicy-2016-08", "ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS-1-2-2017-01"):
        assert name in policies, sorted(policies)
    p = policies["ELBSecurityPolicy-TLS-1-2-2017-01"]
    assert p["SslProtocols"] == ["TLSv1.2"]
    assert p["Ciphers"] and all(set(c) == {"Name", "Priority"} for c in p["Ciphers"])
    assert "TLSv1.3" in policies["ELBSecurityPolicy-TLS13-1-2-2021-06"]["SslProtocols"]
    [one] = elbv2.describe_ssl_policies(Names=["ELBSecurityPolicy-2016-08"])["SslPolicies"]
    assert set(one["SslProtocols"]) == {"TLSv1", "TLSv1.1", "TLSv1.2"}
    code, message = error(elbv2.describe_ssl_policies, Names=["NoSuchPolicy"])
    assert code == "SSLPolicyNotFound", (code, message)


def test_paging_by_marker(kecs, net):
    elbv2 = kecs.client("elbv2")
    names = [f"tg{i}" for i in range(5)]
    arns = [create_tg(elbv2, net, n)["TargetGroupArn"] for n in names]
    page = elbv2.describe_target_groups(PageSize=2)
    assert [t["TargetGroupName"] for t in page["TargetGroups"]] == names[:2] and page["NextMarker"]
    page2 = elbv2.describe_target_groups(PageSize=2, Marker=page["NextMarker"])
    assert [t["TargetGroupName"] for t in page2["TargetGroups"]] == names[2:4]
    last = elbv2.describe_target_groups(PageSize=2, Marker=page2["NextMarker"])
    assert [t["TargetGroupName"] for t in last["TargetGroups"]] == names[4:] and "NextMarker" not in last
    # The aws CLI: --page-size is the operation's own PageSize here (its name clashes with the
    # CLI's paging option), so it shows one page and its NextMarker; --marker goes on.
    out = cli(kecs, "describe-target-groups", "--page-size", "2")
    assert [t["TargetGroupArn"] for t in out["TargetGroups"]] == arns[:2] and out["NextMarker"]
    out = cli(kecs, "describe-target-groups", "--page-size", "2", "--marker", out["NextMarker"])
    assert [t["TargetGroupArn"] for t in out["TargetGroups"]] == arns[2:4]
    assert [t["TargetGroupArn"] for t in cli(kecs, "describe-target-groups")["TargetGroups"]] == arns
    assert error(elbv2.describe_target_groups, Marker="not-a-marker") == ("ValidationError", "Invalid Marker")

    for n in ("lb0", "lb1", "lb2"):
        elbv2.create_load_balancer(Name=n, Subnets=net.subnets)
    lbs = [lb["LoadBalancerName"] for page in elbv2.get_paginator("describe_load_balancers").paginate(
        PaginationConfig={"PageSize": 2}) for lb in page["LoadBalancers"]]
    assert lbs == ["lb0", "lb1", "lb2"]
