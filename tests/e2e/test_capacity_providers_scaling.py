"""Capacity providers with managed scaling (issue 17), the API parts: AWS's managedScaling
defaults, the providers' validation, and DeleteCapacityProvider's DELETE_IN_PROGRESS then
INACTIVE, through boto3 and the aws CLI. Each provider names a real Auto Scaling group of
desired capacity 0."""
import pytest

from conftest import wait_for
from test_ec2_security_groups import boto_error as error, cli_error
from test_ecs_support import default_subnet

ACCOUNT = "000000000000"
DEFAULTS = {"targetCapacity": 100, "minimumScalingStepSize": 1, "maximumScalingStepSize": 10000,
            "instanceWarmupPeriod": 300}


def make_group(kecs, name, protect=True):
    """The ARN of a new Auto Scaling group of desired capacity 0."""
    asg = kecs.client("autoscaling")
    ec2 = kecs.client("ec2")
    ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large"})
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=3, DesiredCapacity=0,
                                  LaunchTemplate={"LaunchTemplateName": name, "Version": "$Latest"},
                                  VPCZoneIdentifier=default_subnet(kecs), NewInstancesProtectedFromScaleIn=protect)
    [g] = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return g["AutoScalingGroupARN"]


def test_managed_scaling_defaults_are_awss(kecs):
    ecs = kecs.client("ecs")
    arn = make_group(kecs, "defaults-a")
    cp = ecs.create_capacity_provider(name="defaults-a", autoScalingGroupProvider={
        "autoScalingGroupArn": arn, "managedScaling": {"status": "ENABLED"}})["capacityProvider"]
    assert cp["autoScalingGroupProvider"]["managedScaling"] == {"status": "ENABLED", **DEFAULTS}
    assert cp["autoScalingGroupProvider"]["managedTerminationProtection"] == "DISABLED"
    assert cp["autoScalingGroupProvider"]["autoScalingGroupArn"] == arn

    # Through the CLI, with no managedScaling at all: DISABLED, with the same defaults.
    arn_b = make_group(kecs, "defaults-b")
    out = kecs.aws("ecs", "create-capacity-provider", "--name", "defaults-b", "--auto-scaling-group-provider",
                   f"autoScalingGroupArn={arn_b}")["capacityProvider"]
    assert out["autoScalingGroupProvider"]["managedScaling"] == {"status": "DISABLED", **DEFAULTS}
    described = kecs.aws("ecs", "describe-capacity-providers", "--capacity-providers", "defaults-a",
                         "defaults-b")["capacityProviders"]
    assert [d["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] for d in described] == [100, 100]

    # An update's managedScaling replaces the old one, defaults filled again.
    up = ecs.update_capacity_provider(name="defaults-a", autoScalingGroupProvider={
        "managedScaling": {"status": "ENABLED", "targetCapacity": 75, "instanceWarmupPeriod": 60}})["capacityProvider"]
    assert up["autoScalingGroupProvider"]["managedScaling"] == {
        **DEFAULTS, "status": "ENABLED", "targetCapacity": 75, "instanceWarmupPeriod": 60}
    assert up["updateStatus"] == "UPDATE_COMPLETE"


def test_invalid_settings_are_refused_in_ecss_words(kecs):
    ecs = kecs.client("ecs")
    arn = make_group(kecs, "rules")
    code, msg = error(ecs.create_capacity_provider, name="rules", autoScalingGroupProvider={
        "autoScalingGroupArn": arn,
        "managedScaling": {"status": "ENABLED", "minimumScalingStepSize": 5, "maximumScalingStepSize": 2}})
    assert code == "InvalidParameterException"
    assert "minimum scaling step size must be less than or equal to the maximum" in msg
    code, msg = error(ecs.create_capacity_provider, name="rules", autoScalingGroupProvider={
        "autoScalingGroupArn": arn, "managedTerminationProtection": "ENABLED"})
    assert code == "ClientException"
    assert msg.startswith("The managed termination protection setting for the capacity provider is invalid.")
    # The model's ranges, as the front end refuses them.
    err = cli_error(kecs, "ecs", "create-capacity-provider", "--name", "rules", "--auto-scaling-group-provider",
                    f"autoScalingGroupArn={arn},managedScaling={{status=ENABLED,targetCapacity=0}}")
    assert "targetCapacity" in err
    # Nothing was stored.
    assert ecs.describe_capacity_providers(capacityProviders=["rules"])["failures"] == [
        {"arn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:capacity-provider/rules", "reason": "MISSING"}]

    ecs.create_capacity_provider(name="rules", autoScalingGroupProvider={"autoScalingGroupArn": arn})
    # One group, one provider (the words a boto3 ClientException quotes in
    # aws/containers-roadmap#632).
    assert error(ecs.create_capacity_provider, name="rules-2",
                 autoScalingGroupProvider={"autoScalingGroupArn": arn}) == (
        "ClientException",
        "The specified Auto Scaling group ARN is already being used by another capacity provider. "
        "Specify a unique Auto Scaling group ARN and try again.")
    unprotected = make_group(kecs, "rules-unprotected", protect=False)
    code, msg = error(ecs.create_capacity_provider, name="rules-3", autoScalingGroupProvider={
        "autoScalingGroupArn": unprotected, "managedScaling": {"status": "ENABLED"},
        "managedTerminationProtection": "ENABLED"})
    assert (code, msg.endswith("the Auto Scaling group must have instance protection from scale in enabled.")) == \
        ("ClientException", True)


def scaled_provider_cluster(kecs, provider, cluster, default_strategy):
    """A provider with managed scaling over a new group, the only one of a new cluster; the
    group's ARN."""
    ecs = kecs.client("ecs")
    arn = make_group(kecs, provider)
    ecs.create_capacity_provider(name=provider, autoScalingGroupProvider={
        "autoScalingGroupArn": arn, "managedScaling": {"status": "ENABLED"}})
    ecs.create_cluster(clusterName=cluster)
    ecs.put_cluster_capacity_providers(cluster=cluster, capacityProviders=[provider],
                                       defaultCapacityProviderStrategy=default_strategy)
    return arn


@pytest.mark.kecs_args("--strict")
def test_strict_refuses_a_group_auto_scaling_does_not_know(kecs):
    ecs = kecs.client("ecs")
    ghost = f"arn:aws:autoscaling:us-east-1:{ACCOUNT}:autoScalingGroup:0:autoScalingGroupName/ghost"
    code, msg = error(ecs.create_capacity_provider, name="ghost",
                      autoScalingGroupProvider={"autoScalingGroupArn": ghost})
    assert (code, msg) == ("ClientException", "The specified Auto Scaling group ARN does not exist. "
                                              "Specify a valid Auto Scaling group ARN and try again.")


def test_delete_is_in_progress_then_inactive_and_stays_describable(kecs):
    ecs = kecs.client("ecs")
    arn = scaled_provider_cluster(kecs, "gone", "cp-del", [])
    # Only a provider no cluster uses can be deleted.
    assert error(ecs.delete_capacity_provider, capacityProvider="gone")[0] == "ResourceInUseException"
    ecs.put_cluster_capacity_providers(cluster="cp-del", capacityProviders=[], defaultCapacityProviderStrategy=[])

    out = kecs.aws("ecs", "delete-capacity-provider", "--capacity-provider",
                   f"arn:aws:ecs:us-east-1:{ACCOUNT}:capacity-provider/gone")["capacityProvider"]
    assert (out["status"], out["updateStatus"]) == ("ACTIVE", "DELETE_IN_PROGRESS")
    # While it is being deleted, it is neither deleted again nor updated.
    answer = error(ecs.delete_capacity_provider, capacityProvider="gone")
    if answer[0] != "UpdateInProgressException":
        # Only when the controller's pass finished the deletion first (a race): then it is
        # INACTIVE, and the provider no longer exists for DeleteCapacityProvider.
        [cp] = ecs.describe_capacity_providers(capacityProviders=["gone"])["capacityProviders"]
        assert cp["status"] == "INACTIVE", answer
        assert answer[0] == "InvalidParameterException"
    else:
        assert answer[1] == "The specified capacity provider is being deleted. Wait for the deletion to complete."

    def inactive():
        [cp] = ecs.describe_capacity_providers(capacityProviders=["gone"])["capacityProviders"]
        return cp if cp["status"] == "INACTIVE" else None
    cp = wait_for(inactive, what="the provider INACTIVE")
    assert cp["updateStatus"] == "DELETE_COMPLETE"
    assert cp["name"] == "gone"
    # Describable by name, gone from the full list; the name can be used again.
    listed = [p["name"] for p in ecs.describe_capacity_providers()["capacityProviders"]]
    assert "gone" not in listed and "FARGATE" in listed
    assert error(ecs.delete_capacity_provider, capacityProvider="gone")[0] == "InvalidParameterException"
    again = ecs.create_capacity_provider(name="gone", autoScalingGroupProvider={"autoScalingGroupArn": arn})
    assert again["capacityProvider"]["status"] == "ACTIVE"


def test_a_provider_in_use_cannot_leave_its_cluster(kecs):
    """Review 30: removing a provider that a task (waiting ones included) or a service still
    uses is refused in ECS's words (ResourceInUseException)."""
    ecs = kecs.client("ecs")
    scaled_provider_cluster(kecs, "busy-cp", "cp-busy", [{"capacityProvider": "busy-cp", "weight": 1}])
    ecs.register_task_definition(family="cp-busy", containerDefinitions=[
        {"name": "w", "image": "busybox", "cpu": 256, "memory": 128}])
    [task] = ecs.run_task(cluster="cp-busy", taskDefinition="cp-busy")["tasks"]
    assert task["capacityProviderName"] == "busy-cp"
    in_use = ("ResourceInUseException", "The specified capacity provider is in use and cannot be removed.")
    assert error(ecs.put_cluster_capacity_providers, cluster="cp-busy", capacityProviders=[],
                 defaultCapacityProviderStrategy=[]) == in_use
    stderr = cli_error(kecs, "ecs", "put-cluster-capacity-providers", "--cluster", "cp-busy",
                       "--capacity-providers", "[]", "--default-capacity-provider-strategy", "[]")
    assert "ResourceInUseException" in stderr and in_use[1] in stderr
    [cl] = ecs.describe_clusters(clusters=["cp-busy"])["clusters"]
    assert cl["capacityProviders"] == ["busy-cp"]
    ecs.stop_task(cluster="cp-busy", task=task["taskArn"], reason="done")

    def stopped():
        [t] = ecs.describe_tasks(cluster="cp-busy", tasks=[task["taskArn"]])["tasks"]
        return t["lastStatus"] == "STOPPED"
    wait_for(stopped, what="the task STOPPED")
    ecs.put_cluster_capacity_providers(cluster="cp-busy", capacityProviders=[], defaultCapacityProviderStrategy=[])
    [cl] = ecs.describe_clusters(clusters=["cp-busy"])["clusters"]
    assert cl["capacityProviders"] == []
