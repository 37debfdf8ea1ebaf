"""Issue 17, done-when scenario 6: two peered VPCs on the local runtime. A task in one
reaches a task in the other only while the connection is active and both VPCs' route tables
send the other's addresses through it; the receiver's security groups still decide, and it
sees the sender's own address (no NAT). Deleting a route, or the connection, stops it.
Root only (the local_kecs fixture)."""
import subprocess
import time

import pytest

from conftest import TIMEOUT, http_probe, served, wait_answered, wait_dropped, wait_for

PAGE = served("hello from kecs\n")


class Two:
    def __init__(self, kecs):
        self.k = kecs
        self.ec2 = kecs.client("ec2")
        self.ecs = kecs.client("ecs")
        self.a = self.ec2.create_vpc(CidrBlock="10.71.0.0/16")["Vpc"]["VpcId"]
        self.b = self.ec2.create_vpc(CidrBlock="10.72.0.0/16")["Vpc"]["VpcId"]
        self.sa = self.ec2.create_subnet(VpcId=self.a, CidrBlock="10.71.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        self.sb = self.ec2.create_subnet(VpcId=self.b, CidrBlock="10.72.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        self.ga = self.ec2.create_security_group(GroupName="a", Description="a", VpcId=self.a)["GroupId"]
        self.gb = self.ec2.create_security_group(GroupName="b", Description="b", VpcId=self.b)["GroupId"]
        self.ecs.create_cluster(clusterName="peer")
        self.ecs.register_task_definition(
            family="web", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": "web", "image": "nginx:latest", "portMappings": [{"containerPort": 80}],
                                   "stopTimeout": 1}])

    def main_table(self, vpc):
        return self.ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                       {"Name": "association.main", "Values": ["true"]}])[
            "RouteTables"][0]["RouteTableId"]

    def task(self, subnet, group):
        arn = self.ecs.run_task(cluster="peer", taskDefinition="web", launchType="FARGATE", networkConfiguration={
            "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}})["tasks"][0]["taskArn"]

        def running():
            t = self.ecs.describe_tasks(cluster="peer", tasks=[arn])["tasks"][0]
            assert t["lastStatus"] != "STOPPED", t.get("stoppedReason")
            return t if t["lastStatus"] == "RUNNING" else None
        t = wait_for(running, timeout=60, what="RUNNING")
        d = {x["name"]: x["value"] for x in t["attachments"][0]["details"]}
        return {"ip": d["privateIPv4Address"], "ns": f"{self.k.prefix}-t-{arn.rsplit('/', 1)[1]}"}


def source_address_seen(listener_ns, client_ns, ip, port=8081):
    """The peer address a TCP listener in `listener_ns` sees for a connection from `client_ns`."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", listener_ns, "python3", "-c",
         "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
         f"s.bind(('0.0.0.0',{port}))\ns.listen()\ns.settimeout(20)\nc,a=s.accept()\nprint(a[0])"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        http_probe(f"http://{ip}:{port}/", netns=client_ns, timeout=2)
        out, err = server.communicate(timeout=25)
        return out.strip()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_peered_vpcs_carry_traffic_only_along_routes_both_ways(local_kecs):
    v = Two(local_kecs)
    ta, tb = v.task(v.sa, v.ga), v.task(v.sb, v.gb)
    url = f"http://{tb['ip']}/"

    def get():
        return http_probe(url, netns=ta["ns"], timeout=2)

    # Not peered: the host drops traffic between the two VPCs.
    assert get().outcome == TIMEOUT

    pcx = v.ec2.create_vpc_peering_connection(VpcId=v.a, PeerVpcId=v.b)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    rta, rtb = v.main_table(v.a), v.main_table(v.b)
    # Routes to a pending connection are blackholes: still nothing.
    v.ec2.create_route(RouteTableId=rta, DestinationCidrBlock="10.72.0.0/16", VpcPeeringConnectionId=pcx)
    v.ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="10.71.0.0/16", VpcPeeringConnectionId=pcx)
    time.sleep(1)
    assert get().outcome == TIMEOUT
    v.ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    # Active and routed both ways, but B's group admits nothing from A yet: its groups are
    # enforced on peered traffic (the host's lenient exemption does not cover it).
    time.sleep(1)
    assert get().outcome == TIMEOUT
    v.ec2.authorize_security_group_ingress(GroupId=v.gb, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.71.0.0/16"}]},
        {"IpProtocol": "tcp", "FromPort": 8081, "ToPort": 8081, "IpRanges": [{"CidrIp": "10.71.0.0/16"}]}])
    assert wait_answered(get, "B's page from A over the peering") == PAGE
    # B sees A's own address: no NAT on the way.
    assert source_address_seen(tb["ns"], ta["ns"], tb["ip"]) == ta["ip"]

    # Without B's route back, replies have no way: AWS needs both.
    v.ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="10.71.0.0/16")
    wait_dropped(get, "B's page once B's route back is deleted")
    v.ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="10.71.0.0/16", VpcPeeringConnectionId=pcx)
    assert wait_answered(get, "B's page with the route back again") == PAGE
    # A's own route deleted: the same.
    v.ec2.delete_route(RouteTableId=rta, DestinationCidrBlock="10.72.0.0/16")
    wait_dropped(get, "B's page once A's route is deleted")
    v.ec2.create_route(RouteTableId=rta, DestinationCidrBlock="10.72.0.0/16", VpcPeeringConnectionId=pcx)
    assert wait_answered(get, "B's page with both routes again") == PAGE

    # The connection deleted: its routes are blackholes, and the traffic stops.
    v.ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    wait_dropped(get, "B's page once the peering is deleted")
    host = subprocess.run(["nft", "list", "chain", "ip", local_kecs.prefix, "peering"],
                          capture_output=True, text=True).stdout
    assert "accept" not in host, host


def resolv_conf(kecs, task):
    """The resolv.conf kecs wrote for the task (bind-mounted into its containers)."""
    tid = task["ns"].rsplit("-t-", 1)[1]
    with open(f"{kecs.data_dir}/runtime/tasks/{tid}/resolv.conf") as f:
        return f.read()


def test_dhcp_options_feed_the_resolv_conf_of_tasks_started_after(local_kecs):
    v = Two(local_kecs)
    # No set associated: the VPC resolver (base+2) alone.
    plain = v.task(v.sa, v.ga)
    assert resolv_conf(local_kecs, plain) == "nameserver 10.71.0.2\n"
    dopt = v.ec2.create_dhcp_options(DhcpConfigurations=[
        {"Key": "domain-name", "Values": ["corp.example svc.example"]},
        {"Key": "domain-name-servers", "Values": ["10.71.0.53", "AmazonProvidedDNS"]}])["DhcpOptions"]["DhcpOptionsId"]
    v.ec2.associate_dhcp_options(DhcpOptionsId=dopt, VpcId=v.a)
    with_set = v.task(v.sa, v.ga)
    assert resolv_conf(local_kecs, with_set) == (
        "search corp.example svc.example\nnameserver 10.71.0.53\nnameserver 10.71.0.2\n")
    # Back to no set: new tasks get the VPC resolver again, running ones keep theirs (on
    # AWS a new set takes effect at the next DHCP lease renewal).
    v.ec2.associate_dhcp_options(DhcpOptionsId="default", VpcId=v.a)
    after = v.task(v.sa, v.ga)
    assert resolv_conf(local_kecs, after) == "nameserver 10.71.0.2\n"
    assert resolv_conf(local_kecs, with_set) == (
        "search corp.example svc.example\nnameserver 10.71.0.53\nnameserver 10.71.0.2\n")
