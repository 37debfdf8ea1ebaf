"""EC2 Auto Scaling's limits and refusals (review 30, items 4, 7 and 11): kecs's cap on a
group's size, tag keys in the aws: prefix on CreateOrUpdateTags and DeleteTags, and AWS's
words for TerminateInstanceInAutoScalingGroup below the group's minimum; through boto3 and
the aws CLI."""
from test_autoscaling import group, in_service, model_mismatches, network  # noqa: F401 (network is a fixture)
from test_ec2_security_groups import boto_error, cli_error

CAP = "is above kecs's limit of 1000 instances per Auto Scaling group."
RESERVED = "Tag keys starting with 'aws:' are reserved for internal use."
BELOW_MIN = ("Currently, desiredSize equals minSize (1). Terminating instance without replacement will violate "
             "group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's "
             "min size.")


def test_sizes_tags_and_terminate_below_min_are_refused(kecs, network):
    asg = kecs.client("autoscaling")
    lt = {"LaunchTemplateId": network["lt"]}
    assert boto_error(asg.create_auto_scaling_group, AutoScalingGroupName="big", MinSize=50000, MaxSize=50000,
                      LaunchTemplate=lt, VPCZoneIdentifier=network["a"]) == ("ValidationError", f"MaxSize 50000 {CAP}")
    assert cli_error(kecs, "autoscaling", "create-auto-scaling-group", "--auto-scaling-group-name", "big",
                     "--min-size", "0", "--max-size", "5000", "--launch-template",
                     f"LaunchTemplateId={network['lt']}", "--vpc-zone-identifier", network["a"]).endswith(
        f"(ValidationError) when calling the CreateAutoScalingGroup operation: MaxSize 5000 {CAP}")
    assert group(asg, "big") is None
    asg.create_auto_scaling_group(AutoScalingGroupName="lim", MinSize=1, MaxSize=2, LaunchTemplate=lt,
                                  VPCZoneIdentifier=network["a"])
    assert boto_error(asg.update_auto_scaling_group, AutoScalingGroupName="lim", MaxSize=1001) == (
        "ValidationError", f"MaxSize 1001 {CAP}")
    # aws: keys: refused whole, by CreateOrUpdateTags and DeleteTags alike.
    assert cli_error(kecs, "autoscaling", "create-or-update-tags", "--tags",
                     "ResourceId=lim,ResourceType=auto-scaling-group,Key=team,Value=x,PropagateAtLaunch=true",
                     "ResourceId=lim,ResourceType=auto-scaling-group,Key=aws:foo,Value=x,PropagateAtLaunch=true"
                     ).endswith(f"(ValidationError) when calling the CreateOrUpdateTags operation: {RESERVED}")
    assert boto_error(asg.delete_tags, Tags=[{"ResourceId": "lim", "ResourceType": "auto-scaling-group",
                                               "Key": "aws:autoscaling:groupName"}]) == ("ValidationError", RESERVED)
    assert asg.describe_tags()["Tags"] == []
    # The group still launches; its only member cannot go without a replacement.
    victim = in_service(asg, "lim", 1)[0]["InstanceId"]
    assert boto_error(asg.terminate_instance_in_auto_scaling_group, InstanceId=victim,
                      ShouldDecrementDesiredCapacity=True) == ("ValidationError", BELOW_MIN)
    assert cli_error(kecs, "autoscaling", "terminate-instance-in-auto-scaling-group", "--instance-id", victim,
                     "--should-decrement-desired-capacity").endswith(
        f"(ValidationError) when calling the TerminateInstanceInAutoScalingGroup operation: {BELOW_MIN}")
    assert group(asg, "lim")["DesiredCapacity"] == 1
    assert model_mismatches(kecs) == []
