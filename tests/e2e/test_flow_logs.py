"""Issue 15: VPC flow logs.

The API (CreateFlowLogs, DescribeFlowLogs, DeleteFlowLogs) with the real aws CLI and boto3
on the simulated runtime; then, on the local runtime (root), records from the kernel's real
verdicts: a connection a security group allows gives ACCEPT records with its addresses,
ports, protocol, packets and bytes; one a group blocks gives REJECT; a network ACL deny
gives REJECT too. Records reach a CloudWatch Logs group, one stream per interface."""
import subprocess
import time
import urllib.request

import pytest

from conftest import TIMEOUT, http_probe, served, wait_for
from test_security_groups import Vpc as SgVpc

ROLE = "arn:aws:iam::000000000000:role/flow-logs"
PAGE = served("hello from kecs\n")


def test_flow_log_api_with_the_cli_and_boto3(kecs):
    ec2 = kecs.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.70.1.0/24")["Subnet"]["SubnetId"]
    out = kecs.aws("ec2", "create-flow-logs", "--resource-type", "VPC", "--resource-ids", vpc,
                   "subnet-0123456789abcdef0", "--traffic-type", "ALL", "--log-group-name", "flows",
                   "--deliver-logs-permission-arn", ROLE, "--max-aggregation-interval", "60",
                   "--log-format", "${version} ${vpc-id} ${srcaddr} ${flow-direction}")
    # The subnet id given as a VPC is no VPC: reported, and the VPC's flow log made anyway.
    assert len(out["FlowLogIds"]) == 1 and out["FlowLogIds"][0].startswith("fl-")
    assert [u["ResourceId"] for u in out["Unsuccessful"]] == ["subnet-0123456789abcdef0"]
    assert out["Unsuccessful"][0]["Error"]["Code"] == "InvalidVpcId.Malformed"
    fl_id = out["FlowLogIds"][0]

    s3 = ec2.create_flow_logs(ResourceType="Subnet", ResourceIds=[sub], TrafficType="REJECT",
                              LogDestinationType="s3", LogDestination="arn:aws:s3:::my-bucket/flows",
                              TagSpecifications=[{"ResourceType": "vpc-flow-log",
                                                  "Tags": [{"Key": "team", "Value": "net"}]}])
    assert s3["Unsuccessful"] == []
    logs = {f["FlowLogId"]: f for f in ec2.describe_flow_logs()["FlowLogs"]}
    assert set(logs) == {fl_id, s3["FlowLogIds"][0]}
    f = logs[fl_id]
    assert (f["ResourceId"], f["TrafficType"], f["LogDestinationType"], f["LogGroupName"]) == \
        (vpc, "ALL", "cloud-watch-logs", "flows")
    assert f["MaxAggregationInterval"] == 60 and f["FlowLogStatus"] == "ACTIVE"
    assert f["LogFormat"] == "${version} ${vpc-id} ${srcaddr} ${flow-direction}"
    tagged = ec2.describe_flow_logs(Filter=[{"Name": "tag:team", "Values": ["net"]}])["FlowLogs"]
    assert [x["FlowLogId"] for x in tagged] == s3["FlowLogIds"]
    by_type = ec2.describe_flow_logs(Filter=[{"Name": "log-destination-type", "Values": ["s3"]}])["FlowLogs"]
    assert [x["LogDestination"] for x in by_type] == ["arn:aws:s3:::my-bucket/flows"]

    # The same configuration again: AWS's FlowLogAlreadyExists, in Unsuccessful.
    again = ec2.create_flow_logs(ResourceType="VPC", ResourceIds=[vpc], TrafficType="ALL", LogGroupName="flows",
                                 DeliverLogsPermissionArn=ROLE)
    assert again["FlowLogIds"] == [] and again["Unsuccessful"][0]["Error"]["Code"] == "FlowLogAlreadyExists"
    # A bad format is refused outright.
    p = kecs.aws("ec2", "create-flow-logs", "--resource-type", "VPC", "--resource-ids", vpc, "--traffic-type",
                 "ACCEPT", "--log-group-name", "g", "--deliver-logs-permission-arn", ROLE, "--log-format",
                 "${srcaddr} ${nope}", raw=True)
    assert p.returncode != 0 and "InvalidParameter" in p.stderr and "${nope}" in p.stderr

    deleted = kecs.aws("ec2", "delete-flow-logs", "--flow-log-ids", fl_id, "fl-0123456789abcdef0")
    assert [u["ResourceId"] for u in deleted["Unsuccessful"]] == ["fl-0123456789abcdef0"]
    assert [x["FlowLogId"] for x in ec2.describe_flow_logs()["FlowLogs"]] == s3["FlowLogIds"]


@pytest.mark.kecs_args("--strict")
def test_strict_mode_takes_only_awss_intervals(kecs):
    ec2 = kecs.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.71.0.0/16")["Vpc"]["VpcId"]
    p = kecs.aws("ec2", "create-flow-logs", "--resource-type", "VPC", "--resource-ids", vpc, "--traffic-type",
                 "ALL", "--log-group-name", "g", "--deliver-logs-permission-arn", ROLE,
                 "--max-aggregation-interval", "2", raw=True)
    assert p.returncode != 0 and "InvalidParameter" in p.stderr and "60 and 600" in p.stderr


# ---- the local runtime: records from the kernel ----

class Vpc(SgVpc):
    """test_security_groups.py's VPC of busybox httpd tasks (10.60.1.0/24 and 10.60.2.0/24),
    with the flow log records of an interface."""

    def __init__(self, kecs):
        super().__init__(kecs)
        self.logs = kecs.client("logs")

    def records(self, eni):
        """The records of `eni`'s stream so far, as dicts of the format's fields."""
        try:
            events = self.logs.get_log_events(logGroupName="flows", logStreamName=f"{eni}-all",
                                              startFromHead=True)["events"]
        except self.logs.exceptions.ResourceNotFoundException:
            return []
        return [dict(zip(FIELDS, e["message"].split())) for e in events]

    def total(self, eni, what, **match):
        """Waits for `eni`'s records matching `match`, lets one more window pass (a flow may
        straddle two), and returns the first record with packets and bytes summed over all."""
        self.wait_record(eni, what, **match)
        time.sleep(4)
        found = self.wait_record(eni, what, **match)
        first = dict(found[0])
        first["packets"] = sum(int(r["packets"]) for r in found)
        first["bytes"] = sum(int(r["bytes"]) for r in found)
        return first

    def wait_record(self, eni, what, **match):
        def found():
            return [r for r in self.records(eni) if all(r[k] == v for k, v in match.items())]
        return wait_for(found, timeout=30, interval=0.5, what=what)


FIELDS = ["version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
          "packets", "bytes", "start", "end", "action", "log-status", "vpc-id", "subnet-id", "tcp-flags",
          "type", "flow-direction", "traffic-path"]


def get(netns, ip):
    return http_probe(f"http://{ip}:80/", netns=netns, timeout=2)


def test_records_from_the_kernels_verdicts(local_kecs):
    v = Vpc(local_kecs)
    ga, gb, gc = v.group("ga"), v.group("gb"), v.group("gc")
    v.ec2.authorize_security_group_ingress(GroupId=gb, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": ga}]}, {
        "IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "UserIdGroupPairs": [{"GroupId": ga}]}])
    # Subnet 2's ACL denies TCP 80 from subnet 1's second half (rule 100) and allows the rest.
    acl = v.ec2.create_network_acl(VpcId=v.vpc)["NetworkAcl"]["NetworkAclId"]
    for egress in (False, True):
        v.ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=200, Protocol="-1", RuleAction="allow",
                                       Egress=egress, CidrBlock="0.0.0.0/0")
    fmt = " ".join("${%s}" % f for f in FIELDS)
    out = v.ec2.create_flow_logs(ResourceType="VPC", ResourceIds=[v.vpc], TrafficType="ALL", LogGroupName="flows",
                                 DeliverLogsPermissionArn=ROLE, MaxAggregationInterval=2, LogFormat=fmt)
    assert out["Unsuccessful"] == []

    b = v.task([gb], v.s2)
    a = v.task([ga], v.s1)
    c = v.task([gc], v.s1)
    # The controller opens the router's capture within a second of its creation; a packet
    # dropped before that has no listener to be logged to.
    time.sleep(2)

    # Allowed: ACCEPT at both interfaces, each direction its own record.
    assert get(a["ns"], b["ip"]) == PAGE
    req = v.total(b["eni"], "ACCEPT of a -> b:80 at b", srcaddr=a["ip"], dstaddr=b["ip"], dstport="80",
                  action="ACCEPT")
    assert req["protocol"] == "6" and req["flow-direction"] == "ingress" and req["type"] == "IPv4"
    assert req["vpc-id"] == v.vpc and req["subnet-id"] == v.s2 and req["account-id"] == "000000000000"
    # An HTTP GET: SYN, ACK, the request, ACKs and FIN: at least 4 packets, each 40 to 1500 bytes.
    packets, nbytes = req["packets"], req["bytes"]
    assert packets >= 4 and 40 * packets <= nbytes <= 1500 * packets, req
    assert int(req["tcp-flags"]) & 2, req                         # it saw the SYN
    resp = v.total(b["eni"], "ACCEPT of b:80 -> a at b", srcaddr=b["ip"], dstaddr=a["ip"], srcport="80",
                   action="ACCEPT")
    assert resp["flow-direction"] == "egress" and resp["traffic-path"] == "1"
    assert resp["bytes"] > len("hello from kecs\n") + 40 * resp["packets"]
    at_a = v.total(a["eni"], "ACCEPT of a -> b:80 at a", srcaddr=a["ip"], dstaddr=b["ip"], dstport="80",
                   action="ACCEPT")
    assert at_a["flow-direction"] == "egress" and (at_a["packets"], at_a["bytes"]) == (req["packets"], req["bytes"])

    # Exact counts: three echo requests of 100 bytes of data are 3 packets of 20 + 8 + 100
    # bytes each way.
    p = subprocess.run(["ip", "netns", "exec", a["ns"], "busybox", "ping", "-c", "3", "-s", "100", "-W", "1",
                        b["ip"]], capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stdout + p.stderr
    echo = v.total(b["eni"], "ACCEPT of a's pings at b", srcaddr=a["ip"], dstaddr=b["ip"], protocol="1")
    assert (echo["packets"], echo["bytes"], echo["action"]) == (3, 384, "ACCEPT"), echo
    reply = v.total(b["eni"], "ACCEPT of b's echo replies at b", srcaddr=b["ip"], dstaddr=a["ip"], protocol="1")
    assert (reply["packets"], reply["bytes"], reply["flow-direction"]) == (3, 384, "egress"), reply

    # Blocked by b's groups: REJECT at b.
    assert get(c["ns"], b["ip"]).outcome == TIMEOUT
    rej = v.wait_record(b["eni"], "REJECT of c -> b:80", srcaddr=c["ip"], dstaddr=b["ip"], dstport="80",
                        action="REJECT")[0]
    assert rej["protocol"] == "6" and int(rej["packets"]) >= 1 and rej["flow-direction"] == "ingress"

    # A network ACL deny: REJECT at b, for a packet b's groups allow.
    v.ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="6", RuleAction="deny", Egress=False,
                                   CidrBlock=a["ip"] + "/32", PortRange={"From": 80, "To": 80})
    assoc = [x for x in v.ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [v.s2]}])
             ["NetworkAcls"][0]["Associations"] if x["SubnetId"] == v.s2][0]["NetworkAclAssociationId"]
    v.ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=acl)
    wait_for(lambda: get(a["ns"], b["ip"]), until=lambda p: p.outcome == TIMEOUT, timeout=30,
             what="a -> b dropped by the ACL")
    nacl = v.wait_record(b["eni"], "REJECT of a -> b:80 by the ACL", srcaddr=a["ip"], dstaddr=b["ip"],
                         dstport="80", action="REJECT")[0]
    assert nacl["flow-direction"] == "ingress"

    # Flow metrics (on by default) saw the same verdicts, named by task family.
    text = urllib.request.urlopen(local_kecs.endpoint + "/metrics", timeout=5).read().decode()
    assert 'kecs_flows_total{destination="web",source="web",verdict="ACCEPT"}' in text, text
    assert 'kecs_flows_total{destination="web",source="web",verdict="REJECT"}' in text, text
    for reason in ("security_group", "network_acl"):
        assert f'kecs_drops_packets_total{{eni="{b["eni"]}",direction="ingress",reason="{reason}"}}' in text, text

    # Deleted, the flow log delivers no more records: a new rejected connection stays out.
    assert v.ec2.delete_flow_logs(FlowLogIds=out["FlowLogIds"])["Unsuccessful"] == []
    time.sleep(2)
    before = len(v.records(b["eni"]))
    assert get(c["ns"], b["ip"]).outcome == TIMEOUT
    time.sleep(4)
    assert len(v.records(b["eni"])) == before
