"""EC2 Auto Scaling (issue 17): launch configurations and templates, groups kept at their
desired capacity across subnets by the group controller (through EC2's own RunInstances and
TerminateInstances), scale-in protection, replacement of an instance terminated behind the
group's back, ForceDelete, AWS's refusals, and the CLI's waiters."""
import base64
import re
import time

import botocore
import botocore.waiter
import pytest

from conftest import wait_for
from test_ec2_instances import image_id
from test_ec2_security_groups import boto_error, cli_error

ACCOUNT = "000000000000"
ARN = re.compile(r"^arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:"
                 r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:autoScalingGroupName/(.+)$")


def model_mismatches(kecs):
    """Responses KECS_VALIDATE_RESPONSES found off their model's shapes."""
    return [l for l in kecs.log().splitlines() if "does not match its model" in l]


def group(asg, name):
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return groups[0] if groups else None


def in_service(asg, name, n):
    """The group's members once exactly `n` are InService and nothing else is in it."""
    def check():
        g = group(asg, name)
        insts = g["Instances"] if g else []
        if len(insts) == n and all(i["LifecycleState"] == "InService" for i in insts):
            return insts
        return None
    return wait_for(check, timeout=60, what=f"{n} InService instances in {name}")


# AWS's three Auto Scaling waiters (botocore's data/autoscaling/2011-01-01/waiters-2.json),
# which this host's botocore and aws CLI were packaged without.
_EXISTS = "length(AutoScalingGroups) > `0`"
_IN_SERVICE = "contains(AutoScalingGroups[].[length(Instances[?LifecycleState=='InService']) >= MinSize][], `false`)"
WAITERS = botocore.waiter.WaiterModel({"version": 2, "waiters": {
    "GroupExists": {"operation": "DescribeAutoScalingGroups", "delay": 1, "maxAttempts": 60, "acceptors": [
        {"argument": _EXISTS, "expected": True, "matcher": "path", "state": "success"},
        {"argument": _EXISTS, "expected": False, "matcher": "path", "state": "retry"}]},
    "GroupInService": {"operation": "DescribeAutoScalingGroups", "delay": 1, "maxAttempts": 60, "acceptors": [
        {"argument": _IN_SERVICE, "expected": False, "matcher": "path", "state": "success"},
        {"argument": _IN_SERVICE, "expected": True, "matcher": "path", "state": "retry"}]},
    "GroupNotExists": {"operation": "DescribeAutoScalingGroups", "delay": 1, "maxAttempts": 60, "acceptors": [
        {"argument": _EXISTS, "expected": False, "matcher": "path", "state": "success"},
        {"argument": _EXISTS, "expected": True, "matcher": "path", "state": "retry"}]},
}})


def fast(client, waiter):
    if client.meta.service_model.service_name == "autoscaling":
        name = "".join(p.capitalize() for p in waiter.split("_"))
        return botocore.waiter.create_waiter_with_client(name, WAITERS, client)
    w = client.get_waiter(waiter)
    w.config.delay = 1
    w.config.max_attempts = 60
    return w


@pytest.fixture
def network(kecs):
    ec2 = kecs.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    user_data = base64.b64encode(b"#!/bin/bash\necho ECS_CLUSTER=fleet >> /etc/ecs/ecs.config\n").decode()
    lt = ec2.create_launch_template(LaunchTemplateName="fleet", LaunchTemplateData={
        "ImageId": image_id(ec2), "InstanceType": "m5.large", "UserData": user_data,
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "from", "Value": "template"}]}]})
    return {"vpc": vpc, "a": a, "b": b, "lt": lt["LaunchTemplate"]["LaunchTemplateId"]}


def test_group_over_two_subnets_scales_protects_replaces_and_force_deletes_boto(kecs, network):
    asg, ec2, ecs = kecs.client("autoscaling"), kecs.client("ec2"), kecs.client("ecs")
    ecs.create_cluster(clusterName="fleet")
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web", MinSize=0, MaxSize=4, DesiredCapacity=2,
        LaunchTemplate={"LaunchTemplateName": "fleet", "Version": "$Latest"},
        VPCZoneIdentifier=f"{network['a']},{network['b']}", DefaultCooldown=0,
        Tags=[{"Key": "team", "Value": "blue", "PropagateAtLaunch": True},
              {"Key": "cost", "Value": "x", "PropagateAtLaunch": False}])
    fast(asg, "group_exists").wait(AutoScalingGroupNames=["web"])
    fast(asg, "group_in_service").wait(AutoScalingGroupNames=["web"])
    insts = in_service(asg, "web", 2)
    g = group(asg, "web")
    assert ARN.match(g["AutoScalingGroupARN"]).group(1) == "web"
    assert g["LaunchTemplate"] == {"LaunchTemplateId": network["lt"], "LaunchTemplateName": "fleet", "Version": "$Latest"}
    assert sorted(g["AvailabilityZones"]) == ["us-east-1a", "us-east-1b"]
    assert (g["MinSize"], g["MaxSize"], g["DesiredCapacity"], g["HealthCheckType"]) == (0, 4, 2, "EC2")
    assert g["TerminationPolicies"] == ["Default"] and "Status" not in g
    assert sorted(i["AvailabilityZone"] for i in insts) == ["us-east-1a", "us-east-1b"]
    for i in insts:
        assert i["HealthStatus"] == "Healthy" and i["InstanceType"] == "m5.large" and not i["ProtectedFromScaleIn"]
        assert i["LaunchTemplate"] == {"LaunchTemplateId": network["lt"], "LaunchTemplateName": "fleet", "Version": "1"}
    # The instances EC2 ran: running, in the group's subnets, with its tags.
    ids = [i["InstanceId"] for i in insts]
    described = [i for r in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]]
    assert {i["State"]["Name"] for i in described} == {"running"}
    assert {i["SubnetId"] for i in described} == {network["a"], network["b"]}
    for i in described:
        tags = {t["Key"]: t["Value"] for t in i["Tags"]}
        assert tags == {"aws:autoscaling:groupName": "web", "team": "blue", "from": "template"}
    # The ECS agent on each (ECS_CLUSTER in the template's user data) registered it.
    # (In lenient mode the cluster also has the host's own container instance.)
    def registered():
        arns = ecs.list_container_instances(cluster="fleet")["containerInstanceArns"]
        cis = ecs.describe_container_instances(cluster="fleet", containerInstances=arns)["containerInstances"] if arns else []
        return set(ids) <= {c["ec2InstanceId"] for c in cis}
    wait_for(registered, timeout=60, what="the group's instances as container instances")
    acts = asg.describe_scaling_activities(AutoScalingGroupName="web")["Activities"]
    assert len(acts) == 2 and {a["StatusCode"] for a in acts} == {"Successful"}
    assert {a["Description"] for a in acts} == {f"Launching a new EC2 instance: {i}" for i in ids}
    assert re.search(r"a user request created an AutoScalingGroup changing the desired capacity from 0 to 2\.  At "
                     r"\S+ an instance was started in response to a difference between desired and actual capacity, "
                     r"increasing the capacity from 0 to 2\.$", acts[-1]["Cause"]), acts[-1]["Cause"]
    details = asg.describe_auto_scaling_instances(InstanceIds=ids)["AutoScalingInstances"]
    assert {d["AutoScalingGroupName"] for d in details} == {"web"} and len(details) == 2

    # Scale out to 3, then protect one of the two in the same zone and scale in to 1: the
    # protected one stays.
    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=3)
    insts = in_service(asg, "web", 3)
    zones = {}
    for i in insts:
        zones.setdefault(i["AvailabilityZone"], []).append(i["InstanceId"])
    crowded = max(zones.values(), key=len)
    assert len(crowded) == 2
    keep = crowded[1]
    asg.set_instance_protection(AutoScalingGroupName="web", InstanceIds=[keep], ProtectedFromScaleIn=True)
    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=1)
    insts = in_service(asg, "web", 1)
    assert insts[0]["InstanceId"] == keep and insts[0]["ProtectedFromScaleIn"]
    causes = [a["Cause"] for a in asg.describe_scaling_activities(AutoScalingGroupName="web")["Activities"]
              if a["Description"].startswith("Terminating")]
    assert len(causes) == 2 and "a user request explicitly set group desired capacity changing the desired " \
        "capacity from 3 to 1." in causes[-1] and "was selected for termination." in causes[0]

    # Terminated behind the group's back: marked unhealthy, terminated, replaced.
    ec2.terminate_instances(InstanceIds=[keep])
    insts = wait_for(lambda: (lambda i: i if len(i) == 1 and i[0]["InstanceId"] != keep and
                              i[0]["LifecycleState"] == "InService" else None)(group(asg, "web")["Instances"]),
                     timeout=60, what="a replacement")
    acts = asg.describe_scaling_activities(AutoScalingGroupName="web")["Activities"]
    assert any(a["Description"] == f"Terminating EC2 instance: {keep}" and a["Cause"].endswith(
        "an instance was taken out of service in response to a EC2 health check indicating it has been "
        "terminated or stopped.") for a in acts)

    # Refusals, in AWS's words.
    assert boto_error(asg.delete_auto_scaling_group, AutoScalingGroupName="web") == (
        "ResourceInUse", "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance "
                         "request(s) still in the group.")
    assert boto_error(asg.set_desired_capacity, AutoScalingGroupName="web", DesiredCapacity=5) == (
        "ValidationError", "New SetDesiredCapacity value 5 is above max value 4 for the AutoScalingGroup.")

    # ForceDelete: Delete in progress, then gone, and its instances terminated.
    last = insts[0]["InstanceId"]
    asg.delete_auto_scaling_group(AutoScalingGroupName="web", ForceDelete=True)
    g = group(asg, "web")
    assert g is None or g["Status"] == "Delete in progress"
    fast(asg, "group_not_exists").wait(AutoScalingGroupNames=["web"])
    fast(ec2, "instance_terminated").wait(InstanceIds=[last])
    assert model_mismatches(kecs) == []


def test_launch_configuration_refusals_and_waiters_cli(kecs):
    ami = image_id(kecs.client("ec2"))
    kecs.aws("autoscaling", "create-launch-configuration", "--launch-configuration-name", "lc1",
             "--image-id", ami, "--instance-type", "t3.micro")
    lcs = kecs.aws("autoscaling", "describe-launch-configurations")["LaunchConfigurations"]
    assert [(c["LaunchConfigurationName"], c["ImageId"], c["InstanceType"]) for c in lcs] == [("lc1", ami, "t3.micro")]
    assert re.match(r"^arn:aws:autoscaling:us-east-1:000000000000:launchConfiguration:[0-9a-f-]{36}:"
                    r"launchConfigurationName/lc1$", lcs[0]["LaunchConfigurationARN"])
    assert cli_error(kecs, "autoscaling", "create-launch-configuration", "--launch-configuration-name", "lc1",
                     "--image-id", ami, "--instance-type", "t3.micro").endswith(
        "(AlreadyExists) when calling the CreateLaunchConfiguration operation: Launch Configuration by this name "
        "already exists - A launch configuration already exists with the name lc1")
    create = ["autoscaling", "create-auto-scaling-group", "--auto-scaling-group-name", "g1",
              "--launch-configuration-name", "lc1", "--availability-zones", "us-east-1a", "us-east-1c"]
    assert cli_error(kecs, *create, "--min-size", "3", "--max-size", "2").endswith(
        "(ValidationError) when calling the CreateAutoScalingGroup operation: Max bound, 2, must be greater than or "
        "equal to min bound, 3")
    assert cli_error(kecs, *create, "--min-size", "1", "--max-size", "2", "--desired-capacity", "5").endswith(
        "Desired capacity:5 must be between the specified min size:1 and max size:2")
    assert cli_error(kecs, "autoscaling", "create-auto-scaling-group", "--auto-scaling-group-name", "g1",
                     "--min-size", "0", "--max-size", "1", "--availability-zones", "us-east-1a").endswith(
        "Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or "
        "MixedInstancesPolicy parameter.")
    assert cli_error(kecs, "autoscaling", "create-auto-scaling-group", "--auto-scaling-group-name", "g1",
                     "--min-size", "0", "--max-size", "1", "--vpc-zone-identifier", "subnet-0123456789abcdef0",
                     "--launch-template", "LaunchTemplateName=nope").endswith(
        "You must use a valid fully-formed launch template. The specified launch template, with template name nope, "
        "does not exist.")
    kecs.aws(*create, "--min-size", "1", "--max-size", "3", "--desired-capacity", "2")
    assert cli_error(kecs, *create, "--min-size", "1", "--max-size", "3").endswith(
        "(AlreadyExists) when calling the CreateAutoScalingGroup operation: AutoScalingGroup by this name already "
        "exists - A group with the name g1 already exists")
    asg = kecs.client("autoscaling")
    fast(asg, "group_exists").wait(AutoScalingGroupNames=["g1"])
    fast(asg, "group_in_service").wait(AutoScalingGroupNames=["g1"])
    g = kecs.aws("autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", "g1")["AutoScalingGroups"][0]
    assert sorted(i["AvailabilityZone"] for i in g["Instances"]) == ["us-east-1a", "us-east-1c"]
    assert all(i["LaunchConfigurationName"] == "lc1" for i in g["Instances"])
    assert cli_error(kecs, "autoscaling", "delete-launch-configuration", "--launch-configuration-name", "lc1").endswith(
        "(ResourceInUse) when calling the DeleteLaunchConfiguration operation: Cannot delete launch configuration lc1 "
        "because it is attached to AutoScalingGroup g1")
    assert cli_error(kecs, "autoscaling", "set-desired-capacity", "--auto-scaling-group-name", "g1",
                     "--desired-capacity", "0").endswith(
        "New SetDesiredCapacity value 0 is below min value 1 for the AutoScalingGroup.")
    # HonorCooldown: the default 300 s cooldown follows the launches.
    assert "(ScalingActivityInProgress) when calling the SetDesiredCapacity operation" in cli_error(
        kecs, "autoscaling", "set-desired-capacity", "--auto-scaling-group-name", "g1", "--desired-capacity", "3",
        "--honor-cooldown")
    # Tags and filters.
    kecs.aws("autoscaling", "create-or-update-tags", "--tags",
             "ResourceId=g1,ResourceType=auto-scaling-group,Key=env,Value=dev,PropagateAtLaunch=true")
    assert [t["Key"] for t in kecs.aws("autoscaling", "describe-tags")["Tags"]] == ["env"]
    found = kecs.aws("autoscaling", "describe-auto-scaling-groups", "--filters", "Name=tag:env,Values=dev")
    assert [x["AutoScalingGroupName"] for x in found["AutoScalingGroups"]] == ["g1"]
    assert kecs.aws("autoscaling", "describe-auto-scaling-groups", "--filters",
                    "Name=tag-value,Values=prod")["AutoScalingGroups"] == []
    # TerminateInstanceInAutoScalingGroup with a decrement: the group shrinks to 1.
    victim = g["Instances"][0]["InstanceId"]
    act = kecs.aws("autoscaling", "terminate-instance-in-auto-scaling-group", "--instance-id", victim,
                   "--should-decrement-desired-capacity")["Activity"]
    assert act["Description"] == f"Terminating EC2 instance: {victim}"
    assert act["Cause"].endswith(f"instance {victim} was taken out of service in response to a user request, "
                                 "shrinking the capacity from 2 to 1.")
    wait_for(lambda: len(kecs.aws("autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", "g1")
                         ["AutoScalingGroups"][0]["Instances"]) == 1, timeout=60, what="the member to leave")
    kecs.aws("autoscaling", "update-auto-scaling-group", "--auto-scaling-group-name", "g1", "--min-size", "0",
             "--max-size", "0")
    assert kecs.aws("autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names",
                    "g1")["AutoScalingGroups"][0]["DesiredCapacity"] == 0
    wait_for(lambda: not kecs.aws("autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", "g1")
             ["AutoScalingGroups"][0]["Instances"], timeout=60, what="the group to empty")
    kecs.aws("autoscaling", "delete-auto-scaling-group", "--auto-scaling-group-name", "g1")
    fast(asg, "group_not_exists").wait(AutoScalingGroupNames=["g1"])
    kecs.aws("autoscaling", "delete-launch-configuration", "--launch-configuration-name", "lc1")
    assert kecs.aws("autoscaling", "describe-launch-configurations")["LaunchConfigurations"] == []
    assert model_mismatches(kecs) == []


def test_group_survives_a_restart_without_doubling_instances(kecs, network):
    asg, ec2 = kecs.client("autoscaling"), kecs.client("ec2")
    asg.create_auto_scaling_group(AutoScalingGroupName="r", MinSize=2, MaxSize=2,
                                  LaunchTemplate={"LaunchTemplateId": network["lt"]},
                                  VPCZoneIdentifier=f"{network['a']},{network['b']}")
    before = sorted(i["InstanceId"] for i in in_service(asg, "r", 2))
    kecs.restart()
    asg, ec2 = kecs.client("autoscaling"), kecs.client("ec2")
    assert sorted(i["InstanceId"] for i in in_service(asg, "r", 2)) == before
    time.sleep(2)  # a few controller passes: still exactly the same two instances
    assert sorted(i["InstanceId"] for i in group(asg, "r")["Instances"]) == before
    running = [i["InstanceId"] for r in ec2.describe_instances(Filters=[
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"] for i in r["Instances"]]
    assert sorted(running) == before
    assert model_mismatches(kecs) == []
