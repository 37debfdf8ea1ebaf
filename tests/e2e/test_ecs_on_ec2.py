"""Issue 17's done-when scenarios on the local runtime: EC2 instances that kecs runs as hosts
in their VPC, registered by their user data as the ECS agent registers them, with real runc
tasks on them. Root only (the `local_kecs` fixture).

Every reachability check runs a real HTTP client inside a task's network namespace and
asserts the page, or a timeout where traffic must be dropped."""
import base64
import json
import subprocess

import pytest

from conftest import http_probe, served, wait_for

PAGE = served("hello from kecs\n")
CLUSTER = "onec2"
USER_DATA = f"#!/bin/bash\necho ECS_CLUSTER={CLUSTER} >> /etc/ecs/ecs.config\n"

pytestmark = pytest.mark.kecs_args("--strict")


def sh(*args, timeout=30):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


class Ec2Cluster:
    """A VPC with two subnets in two zones, an ECS cluster, and the ECS-optimized image."""

    def __init__(self, k):
        self.k = k
        self.ec2, self.ecs = k.client("ec2"), k.client("ecs")
        self.vpc = self.ec2.create_vpc(CidrBlock="10.71.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [
            self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.71.{i}.0/24",
                                   AvailabilityZone=az)["Subnet"]["SubnetId"]
            for i, az in ((1, "us-east-1a"), (2, "us-east-1b"))]
        [self.sg] = [g["GroupId"] for g in self.ec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [self.vpc]}, {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]]
        self.ecs.create_cluster(clusterName=CLUSTER)
        [self.ami] = [i["ImageId"] for i in self.ec2.describe_images(Owners=["amazon"], Filters=[
            {"Name": "name", "Values": ["al2023-ami-ecs-hvm-*-kernel-6.1-x86_64"]}])["Images"]]
        # The page every test task serves (busybox httpd from the test registry).
        self.ecs.register_task_definition(
            family="web-bridge", networkMode="bridge", requiresCompatibilities=["EC2"],
            containerDefinitions=[{"name": "web", "image": "nginx:latest", "memory": 64, "stopTimeout": 1,
                                   "portMappings": [{"containerPort": 80, "hostPort": 0}]}])
        self.ecs.register_task_definition(
            family="web-vpc", networkMode="awsvpc", requiresCompatibilities=["EC2", "FARGATE"],
            cpu="256", memory="512",
            containerDefinitions=[{"name": "web", "image": "nginx:latest", "stopTimeout": 1,
                                   "portMappings": [{"containerPort": 80}]}])

    def run_instances(self, subnet, count=1, user_data=USER_DATA, instance_type="m5.large"):
        out = self.ec2.run_instances(ImageId=self.ami, InstanceType=instance_type, MinCount=count,
                                     MaxCount=count, SubnetId=subnet, UserData=user_data,
                                     SecurityGroupIds=[self.sg])
        ids = [i["InstanceId"] for i in out["Instances"]]
        self.ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        return ids

    def container_instances(self):
        arns = self.ecs.list_container_instances(cluster=CLUSTER, status="ACTIVE")["containerInstanceArns"]
        if not arns:
            return []
        return self.ecs.describe_container_instances(cluster=CLUSTER, containerInstances=arns)["containerInstances"]

    def wait_registered(self, ids):
        def registered():
            by_id = {c["ec2InstanceId"]: c for c in self.container_instances()}
            return by_id if set(ids) <= set(by_id) else None
        return wait_for(registered, timeout=60, what=f"{ids} registered in {CLUSTER}")

    def instance(self, iid):
        return self.ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]

    def probe_task(self):
        """An awsvpc (Fargate) task in the first subnet, whose namespace the checks run in."""
        arn = self.ecs.run_task(cluster=CLUSTER, taskDefinition="web-vpc", launchType="FARGATE",
                                networkConfiguration={"awsvpcConfiguration": {
                                    "subnets": [self.subnets[0]], "securityGroups": [self.sg]}})["tasks"][0]["taskArn"]
        self.wait_tasks([arn])
        return f"{self.k.prefix}-t-{arn.rsplit('/', 1)[1]}"

    def wait_tasks(self, arns, status="RUNNING", timeout=90):
        def done():
            ts = self.ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]
            if status == "RUNNING":
                for t in ts:
                    assert t["lastStatus"] != "STOPPED", (t.get("stopCode"), t.get("stoppedReason"))
            return ts if all(t["lastStatus"] == status for t in ts) else None
        return wait_for(done, timeout=timeout, what=f"{len(arns)} tasks {status}")

    def service_tasks(self, service, n):
        def running():
            arns = self.ecs.list_tasks(cluster=CLUSTER, serviceName=service, desiredStatus="RUNNING")["taskArns"]
            if len(arns) != n:
                return None
            ts = self.ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]
            return ts if all(t["lastStatus"] == "RUNNING" for t in ts) else None
        return wait_for(running, timeout=120, what=f"{n} RUNNING tasks of {service}")

    def host_of(self, task):
        """The EC2 instance id a task runs on."""
        [ci] = self.ecs.describe_container_instances(
            cluster=CLUSTER, containerInstances=[task["containerInstanceArn"]])["containerInstances"]
        return ci["ec2InstanceId"]


@pytest.fixture
def ec2c(local_kecs):
    c = Ec2Cluster(local_kecs)
    yield c
    # Instances (and the tasks on them) go before the fixture's own teardown checks.
    ids = [i["InstanceId"] for r in c.ec2.describe_instances()["Reservations"] for i in r["Instances"]
           if i["State"]["Name"] != "terminated"]
    if ids:
        for s in c.ecs.list_services(cluster=CLUSTER)["serviceArns"]:
            c.ecs.delete_service(cluster=CLUSTER, service=s, force=True)
        c.ec2.terminate_instances(InstanceIds=ids)
        c.ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 90})


def test_instances_register_and_a_bridge_service_spreads_over_them(ec2c):
    """Done-when 1 (and 4): two m5.large instances in two subnets register from their user
    data with m5.large's resources; a 4-task bridge service spreads over them, each task's
    dynamic host port answers at its instance's primary address from a task in the VPC;
    terminating one instance stops its tasks with AWS's reason and the service replaces them
    on the other."""
    [i1] = ec2c.run_instances(ec2c.subnets[0])
    [i2] = ec2c.run_instances(ec2c.subnets[1])
    by_id = ec2c.wait_registered([i1, i2])
    for iid in (i1, i2):
        ci = by_id[iid]
        res = {r["name"]: r for r in ci["registeredResources"]}
        assert res["CPU"]["integerValue"] == 2048
        # 8 GiB less what the agent reserves: 7985 MiB, as AWS documents for an 8 GiB type.
        assert res["MEMORY"]["integerValue"] == 7985
        attrs = {a["name"]: a.get("value") for a in ci["attributes"]}
        assert attrs["ecs.instance-type"] == "m5.large"
        assert attrs["ecs.ami-id"] == ec2c.ami
        assert attrs["ecs.availability-zone"] == ec2c.instance(iid)["Placement"]["AvailabilityZone"]
        assert attrs["ecs.os-type"] == "linux"
    # The aws CLI lists the same two.
    listed = ec2c.k.aws("ecs", "list-container-instances", "--cluster", CLUSTER)
    assert len(listed["containerInstanceArns"]) == 2

    ec2c.ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition="web-bridge", desiredCount=4,
                            launchType="EC2",
                            placementStrategy=[{"type": "spread", "field": "instanceId"}])
    tasks = ec2c.service_tasks("web", 4)
    hosts = [ec2c.host_of(t) for t in tasks]
    assert sorted(hosts) == sorted([i1, i1, i2, i2])
    probe_ns = ec2c.probe_task()
    for t, iid in zip(tasks, hosts):
        [binding] = t["containers"][0]["networkBindings"]
        ip = ec2c.instance(iid)["PrivateIpAddress"]
        got = http_probe(f"http://{ip}:{binding['hostPort']}/", netns=probe_ns, timeout=5)
        assert got == PAGE, (iid, ip, binding, got)

    # A bridge task behind an instance reaches that instance's metadata service (IMDSv2),
    # as a container on an EC2 instance does.
    t0, host0 = tasks[0], hosts[0]
    task_ns = f"{ec2c.k.prefix}-t-{t0['taskArn'].rsplit('/', 1)[1]}"
    token = imds(task_ns, "/latest/api/token", method="PUT", headers=["X-aws-ec2-metadata-token-ttl-seconds: 60"])
    assert imds(task_ns, "/latest/meta-data/instance-id", token) == host0

    # Done-when 4: terminating i1 stops its tasks with AWS's reason; the service replaces
    # them on i2.
    on_i1 = [t["taskArn"] for t, iid in zip(tasks, hosts) if iid == i1]
    ec2c.ec2.terminate_instances(InstanceIds=[i1])
    stopped = ec2c.wait_tasks(on_i1, status="STOPPED")
    for t in stopped:
        assert (t["stopCode"], t["stoppedReason"]) == ("TerminationNotice", f"Host EC2 (instance {i1}) terminated.")
    ec2c.ec2.get_waiter("instance_terminated").wait(InstanceIds=[i1], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    tasks = ec2c.service_tasks("web", 4)
    assert [ec2c.host_of(t) for t in tasks] == [i2] * 4
    ip2 = ec2c.instance(i2)["PrivateIpAddress"]
    for t in tasks:
        [binding] = t["containers"][0]["networkBindings"]
        assert http_probe(f"http://{ip2}:{binding['hostPort']}/", netns=probe_ns, timeout=5) == PAGE
    # i1's container instance is deregistered (INACTIVE).
    assert [c["ec2InstanceId"] for c in ec2c.container_instances()] == [i2]


def test_awsvpc_tasks_count_against_the_instance_types_eni_limit(ec2c):
    """Done-when 2: an m5.large (3 ENIs: its own and two for tasks) takes two EC2 awsvpc
    tasks; the third fails placement with RESOURCE:ENI. An instance launched after
    awsvpcTrunking is enabled registers with the trunk's limit, and the third task fits."""
    [i1] = ec2c.run_instances(ec2c.subnets[0])
    ci1 = ec2c.wait_registered([i1])[i1]["containerInstanceArn"]
    net = {"awsvpcConfiguration": {"subnets": [ec2c.subnets[0]], "securityGroups": [ec2c.sg]}}
    out = ec2c.ecs.run_task(cluster=CLUSTER, taskDefinition="web-vpc", launchType="EC2", count=2,
                            networkConfiguration=net)
    assert out["failures"] == []
    ec2c.wait_tasks([t["taskArn"] for t in out["tasks"]])
    third = ec2c.ecs.run_task(cluster=CLUSTER, taskDefinition="web-vpc", launchType="EC2",
                              networkConfiguration=net)
    assert third["tasks"] == [] and third["failures"] == [{"arn": ci1, "reason": "RESOURCE:ENI"}]

    ec2c.ecs.put_account_setting(name="awsvpcTrunking", value="enabled")
    [i2] = ec2c.run_instances(ec2c.subnets[0])
    ci2 = ec2c.wait_registered([i2])[i2]
    attrs = {a["name"] for a in ci2["attributes"]}
    assert "ecs.awsvpc-trunk-id" in attrs
    third = ec2c.ecs.run_task(cluster=CLUSTER, taskDefinition="web-vpc", launchType="EC2",
                              networkConfiguration=net)
    assert third["failures"] == []
    [t] = ec2c.wait_tasks([third["tasks"][0]["taskArn"]])
    assert t["containerInstanceArn"] == ci2["containerInstanceArn"]
    # The task answers at its own ENI address from another task in the VPC.
    ip = {d["name"]: d["value"] for d in t["attachments"][0]["details"]}["privateIPv4Address"]
    assert http_probe(f"http://{ip}/", netns=ec2c.probe_task(), timeout=5) == PAGE


def imds(ns, path, token=None, method="GET", headers=()):
    cmd = ["ip", "netns", "exec", ns, "curl", "-sS", "--max-time", "5", "-X", method]
    if token:
        cmd += ["-H", f"X-aws-ec2-metadata-token: {token}"]
    for h in headers:
        cmd += ["-H", h]
    p = sh(*cmd, f"http://169.254.169.254{path}")
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_identity_document_from_imdsv2_registers_a_container_instance(ec2c):
    """Done-when 5: inside an instance's namespace, IMDSv2 (a token PUT, then GETs) serves
    the instance identity document and its signature; boto3 registers a container instance
    with them, and it carries the instance's type, zone and id."""
    [iid] = ec2c.run_instances(ec2c.subnets[1], user_data="#!/bin/bash\necho ECS_CLUSTER=elsewhere >> /etc/ecs/ecs.config\n")
    inst = ec2c.instance(iid)
    ns = f"{ec2c.k.prefix}-i-{iid[2:]}"
    token = imds(ns, "/latest/api/token", method="PUT", headers=["X-aws-ec2-metadata-token-ttl-seconds: 60"])
    assert token
    assert imds(ns, "/latest/meta-data/instance-id", token) == iid
    assert imds(ns, "/latest/meta-data/local-ipv4", token) == inst["PrivateIpAddress"]
    doc_text = imds(ns, "/latest/dynamic/instance-identity/document", token)
    sig = imds(ns, "/latest/dynamic/instance-identity/signature", token)
    doc = json.loads(doc_text)
    assert (doc["instanceId"], doc["instanceType"], doc["privateIp"], doc["imageId"]) == (
        iid, "m5.large", inst["PrivateIpAddress"], ec2c.ami)
    assert doc["availabilityZone"] == "us-east-1b" and doc["region"] == "us-east-1"

    out = ec2c.ecs.register_container_instance(cluster=CLUSTER, instanceIdentityDocument=doc_text,
                                               instanceIdentityDocumentSignature=sig)["containerInstance"]
    assert out["ec2InstanceId"] == iid
    attrs = {a["name"]: a.get("value") for a in out["attributes"]}
    assert attrs["ecs.instance-type"] == "m5.large" and attrs["ecs.availability-zone"] == "us-east-1b"
    # A signature that is not the document's is refused.
    with pytest.raises(ec2c.ecs.exceptions.ClientException):
        ec2c.ecs.register_container_instance(cluster=CLUSTER, instanceIdentityDocument=doc_text.replace('"m5.large"', '"m5.24xlarge"'),
                                             instanceIdentityDocumentSignature=sig)


@pytest.mark.kecs_env(KECS_DEPLOYMENT_MINUTE_SECONDS="0.2")
def test_capacity_provider_grows_and_shrinks_its_auto_scaling_group(ec2c):
    """Done-when 3: a capacity provider with managed scaling over an Auto Scaling group of
    desired capacity 0. RunTask of 6 tasks that need 3 m5.large instances answers them in
    PROVISIONING, grows the group to 3, and the tasks run on the 3 instances once they
    register. After the tasks stop, the group scales back in to 0 (AWS waits 15 minutes of
    low reservation; the daemon's minute is 0.2 s here)."""
    asc = ec2c.k.client("autoscaling")
    ec2c.ec2.create_launch_template(LaunchTemplateName="ecs-hosts", LaunchTemplateData={
        "ImageId": ec2c.ami, "InstanceType": "m5.large", "SecurityGroupIds": [ec2c.sg],
        "UserData": base64.b64encode(USER_DATA.encode()).decode()})
    asc.create_auto_scaling_group(
        AutoScalingGroupName="ecs-hosts", LaunchTemplate={"LaunchTemplateName": "ecs-hosts", "Version": "$Latest"},
        MinSize=0, MaxSize=4, DesiredCapacity=0, VPCZoneIdentifier=",".join(ec2c.subnets),
        NewInstancesProtectedFromScaleIn=True)
    try:
        [group] = asc.describe_auto_scaling_groups(AutoScalingGroupNames=["ecs-hosts"])["AutoScalingGroups"]
        cp = ec2c.ecs.create_capacity_provider(name="hosts", autoScalingGroupProvider={
            "autoScalingGroupArn": group["AutoScalingGroupARN"],
            "managedScaling": {"status": "ENABLED", "targetCapacity": 100, "instanceWarmupPeriod": 0},
            "managedTerminationProtection": "ENABLED"})["capacityProvider"]
        # AWS's defaults for what the request left out.
        assert (cp["autoScalingGroupProvider"]["managedScaling"]["minimumScalingStepSize"],
                cp["autoScalingGroupProvider"]["managedScaling"]["maximumScalingStepSize"]) == (1, 10000)
        ec2c.ecs.put_cluster_capacity_providers(cluster=CLUSTER, capacityProviders=["hosts"],
                                                defaultCapacityProviderStrategy=[{"capacityProvider": "hosts", "weight": 1}])
        # Half an m5.large's 2048 CPU units each: 6 tasks need 3 instances.
        ec2c.ecs.register_task_definition(
            family="half-host", networkMode="bridge", requiresCompatibilities=["EC2"],
            containerDefinitions=[{"name": "web", "image": "nginx:latest", "cpu": 1024, "memory": 128,
                                   "stopTimeout": 1, "portMappings": [{"containerPort": 80, "hostPort": 0}]}])
        out = ec2c.k.aws("ecs", "run-task", "--cluster", CLUSTER, "--task-definition", "half-host", "--count", "6",
                         "--capacity-provider-strategy", "capacityProvider=hosts,weight=1")
        assert out["failures"] == []
        arns = [t["taskArn"] for t in out["tasks"]]
        assert len(arns) == 6 and {t["lastStatus"] for t in out["tasks"]} == {"PROVISIONING"}
        assert {t["capacityProviderName"] for t in out["tasks"]} == {"hosts"}

        def group_of(n):
            [g] = asc.describe_auto_scaling_groups(AutoScalingGroupNames=["ecs-hosts"])["AutoScalingGroups"]
            in_service = [i for i in g["Instances"] if i["LifecycleState"] == "InService"]
            return g if g["DesiredCapacity"] == n and len(in_service) == n and len(g["Instances"]) == n else None
        g = wait_for(lambda: group_of(3), timeout=60, what="the group grown to 3 InService instances")
        members = {i["InstanceId"] for i in g["Instances"]}
        tasks = ec2c.wait_tasks(arns, timeout=120)
        hosts = [ec2c.host_of(t) for t in tasks]
        assert set(hosts) == members and sorted(hosts.count(i) for i in members) == [2, 2, 2]
        # Managed termination protection: instances that run tasks are protected.
        assert all(i["ProtectedFromScaleIn"] for i in g["Instances"])
        # The instances' container instances belong to the provider.
        assert {c["capacityProviderName"] for c in ec2c.container_instances()} == {"hosts"}
        # Each task's port answers at its instance's address from a task in the VPC.
        probe_ns = ec2c.probe_task()
        t0 = tasks[0]
        [binding] = t0["containers"][0]["networkBindings"]
        ip = ec2c.instance(ec2c.host_of(t0))["PrivateIpAddress"]
        assert http_probe(f"http://{ip}:{binding['hostPort']}/", netns=probe_ns, timeout=5) == PAGE
        for a in arns:
            ec2c.ecs.stop_task(cluster=CLUSTER, task=a)
        ec2c.wait_tasks(arns, status="STOPPED")
        wait_for(lambda: group_of(0), timeout=90, what="the group scaled back in to 0")
        ec2c.ec2.get_waiter("instance_terminated").wait(InstanceIds=sorted(members),
                                                        WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    finally:
        asc.delete_auto_scaling_group(AutoScalingGroupName="ecs-hosts", ForceDelete=True)
        wait_for(lambda: not asc.describe_auto_scaling_groups(AutoScalingGroupNames=["ecs-hosts"])["AutoScalingGroups"],
                 timeout=90, what="the group deleted")
