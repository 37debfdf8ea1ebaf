"""EC2 instances (issue 17): RunInstances and friends, the state machine with the CLI's
waiters, and the ECS agent on an instance (registration, identity document, stop/terminate)."""
import base64
import json
import re
import time

import pytest

from test_ec2_security_groups import boto_error, cli_error

ACCOUNT = "000000000000"
USER_INITIATED = re.compile(r"^User initiated \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT\)$")


def image_id(ec2, arch="x86_64"):
    out = ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": [f"al2023-ami-ecs-hvm-*-kernel-6.1-{arch}"]}])["Images"]
    return out[0]["ImageId"]


def fast(waiter_name, ec2):
    w = ec2.get_waiter(waiter_name)
    w.config.delay = 1
    w.config.max_attempts = 60
    return w


def wait_for(pred, timeout=30, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_run_describe_stop_start_terminate_boto(kecs):
    ec2 = kecs.client("ec2")
    ami = image_id(ec2)
    r = ec2.run_instances(ImageId=ami, InstanceType="m5.large", MinCount=2, MaxCount=2,
                          TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "app", "Value": "web"}]},
                                             {"ResourceType": "network-interface", "Tags": [{"Key": "nic", "Value": "1"}]}])
    assert r["ReservationId"].startswith("r-") and r["OwnerId"] == ACCOUNT
    insts = r["Instances"]
    assert [i["State"] for i in insts] == [{"Code": 0, "Name": "pending"}] * 2
    i0 = insts[0]
    assert i0["InstanceType"] == "m5.large" and i0["ImageId"] == ami and i0["Architecture"] == "x86_64"
    assert i0["RootDeviceName"] == "/dev/xvda" and i0["Tags"] == [{"Key": "app", "Value": "web"}]
    ip = i0["PrivateIpAddress"]
    assert i0["PrivateDnsName"] == "ip-" + ip.replace(".", "-") + ".ec2.internal"
    subnet = ec2.describe_subnets(SubnetIds=[i0["SubnetId"]])["Subnets"][0]
    assert subnet["DefaultForAz"] and i0["Placement"]["AvailabilityZone"] == subnet["AvailabilityZone"]
    default_sg = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [i0["VpcId"]]},
                                                       {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]
    assert i0["SecurityGroups"] == [{"GroupId": default_sg["GroupId"], "GroupName": "default"}]
    nic = i0["NetworkInterfaces"][0]
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[nic["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    assert eni["Status"] == "in-use" and eni["InterfaceType"] == "interface" and eni["PrivateIpAddress"] == ip
    assert eni["Attachment"]["InstanceId"] == i0["InstanceId"] and eni["Attachment"]["DeviceIndex"] == 0
    assert eni["Attachment"]["DeleteOnTermination"] is True and eni["TagSet"] == [{"Key": "nic", "Value": "1"}]
    ids = [i["InstanceId"] for i in insts]
    fast("instance_running", ec2).wait(InstanceIds=ids)
    fast("instance_status_ok", ec2).wait(InstanceIds=ids)
    d = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    assert len(d) == 1 and d[0]["ReservationId"] == r["ReservationId"]
    assert {i["State"]["Name"] for i in d[0]["Instances"]} == {"running"}

    # Filters.
    def found(*filters):
        res = ec2.describe_instances(Filters=[{"Name": n, "Values": v} for n, v in filters])["Reservations"]
        return sorted(i["InstanceId"] for rr in res for i in rr["Instances"])
    assert found(("private-ip-address", [ip])) == [ids[0]]
    assert found(("tag:app", ["web"]), ("instance-state-name", ["running"])) == sorted(ids)
    assert found(("instance-state-code", ["16"]), ("reservation-id", [r["ReservationId"]])) == sorted(ids)
    assert found(("network-interface.network-interface-id", [nic["NetworkInterfaceId"]])) == [ids[0]]
    assert found(("instance.group-id", [default_sg["GroupId"]]), ("vpc-id", [i0["VpcId"]])) == sorted(ids)
    assert found(("instance-type", ["t3.micro"])) == []
    assert boto_error(ec2.describe_instances, Filters=[{"Name": "colour", "Values": ["x"]}]) == (
        "InvalidParameterValue", "The filter 'colour' is invalid")

    # Stop, start, reboot.
    st = ec2.stop_instances(InstanceIds=[ids[0]])["StoppingInstances"][0]
    assert st["PreviousState"] == {"Code": 16, "Name": "running"} and st["CurrentState"]["Name"] == "stopping"
    fast("instance_stopped", ec2).wait(InstanceIds=[ids[0]])
    i = ec2.describe_instances(InstanceIds=[ids[0]])["Reservations"][0]["Instances"][0]
    assert USER_INITIATED.match(i["StateTransitionReason"]), i["StateTransitionReason"]
    assert i["StateReason"] == {"Code": "Client.UserInitiatedShutdown",
                                "Message": "Client.UserInitiatedShutdown: User initiated shutdown"}
    assert i["PrivateIpAddress"] == ip  # a stopped instance keeps its interface
    assert ec2.describe_instance_status(InstanceIds=[ids[0]])["InstanceStatuses"] == []
    all_status = ec2.describe_instance_status(InstanceIds=[ids[0]], IncludeAllInstances=True)["InstanceStatuses"]
    assert all_status[0]["InstanceState"]["Name"] == "stopped"
    assert all_status[0]["InstanceStatus"] == {"Status": "not-applicable"}
    ec2.start_instances(InstanceIds=[ids[0]])
    fast("instance_running", ec2).wait(InstanceIds=[ids[0]])
    ec2.reboot_instances(InstanceIds=[ids[0]])
    assert ec2.describe_instances(InstanceIds=[ids[0]])["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"

    # Terminate: the interface goes and its address is free again.
    t = ec2.terminate_instances(InstanceIds=ids)["TerminatingInstances"]
    assert {x["CurrentState"]["Name"] for x in t} == {"shutting-down"}
    fast("instance_terminated", ec2).wait(InstanceIds=ids)
    gone = ec2.describe_instances(InstanceIds=[ids[0]])["Reservations"][0]["Instances"][0]
    assert gone["State"] == {"Code": 48, "Name": "terminated"} and gone["NetworkInterfaces"] == []
    assert boto_error(ec2.describe_network_interfaces, NetworkInterfaceIds=[nic["NetworkInterfaceId"]])[0] == \
        "InvalidNetworkInterfaceID.NotFound"
    assert boto_error(ec2.start_instances, InstanceIds=[ids[0]]) == (
        "IncorrectInstanceState", f"The instance '{ids[0]}' is not in a state from which it can be started.")
    again = ec2.run_instances(ImageId=ami, InstanceType="m5.large", MinCount=1, MaxCount=1,
                              PrivateIpAddress=ip, SubnetId=i0["SubnetId"])["Instances"][0]
    assert again["PrivateIpAddress"] == ip
    ec2.terminate_instances(InstanceIds=[again["InstanceId"]])


def test_errors_and_protection(kecs):
    ec2 = kecs.client("ec2")
    ami = image_id(ec2)
    assert boto_error(ec2.describe_instances, InstanceIds=["i-0123456789abcdef0"]) == (
        "InvalidInstanceID.NotFound", "The instance ID 'i-0123456789abcdef0' does not exist")
    assert boto_error(ec2.describe_instances, InstanceIds=["i-0123456789abcdef0", "i-0123456789abcdef1"]) == (
        "InvalidInstanceID.NotFound", "The instance IDs 'i-0123456789abcdef0, i-0123456789abcdef1' do not exist")
    assert boto_error(ec2.stop_instances, InstanceIds=["ma1"]) == ("InvalidInstanceID.Malformed", 'Invalid id: "ma1"')
    assert boto_error(ec2.run_instances, ImageId="ami-0000000000000dead", InstanceType="m5.large",
                      MinCount=1, MaxCount=1) == (
        "InvalidAMIID.NotFound", "The image id '[ami-0000000000000dead]' does not exist")
    assert boto_error(ec2.run_instances, ImageId=ami, InstanceType="m5.large", KeyName="nokey",
                      MinCount=1, MaxCount=1) == ("InvalidKeyPair.NotFound", "The key pair 'nokey' does not exist")
    assert boto_error(ec2.run_instances, ImageId=ami, InstanceType="m6g.large", MinCount=1, MaxCount=1)[0] == \
        "InvalidParameterValue"
    assert boto_error(ec2.run_instances, ImageId=ami, InstanceType="m5.large", MinCount=1, MaxCount=1,
                      SecurityGroupIds=["sg-0123456789abcdef0"])[0] == "InvalidGroup.NotFound"
    i = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1, DisableApiTermination=True,
                          DisableApiStop=True, ClientToken="tok-1")["Instances"][0]
    iid = i["InstanceId"]
    # ClientToken: the same call answers the same instance.
    assert ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                             ClientToken="tok-1")["Instances"][0]["InstanceId"] == iid
    fast("instance_running", ec2).wait(InstanceIds=[iid])
    assert boto_error(ec2.terminate_instances, InstanceIds=[iid]) == (
        "OperationNotPermitted", f"The instance '{iid}' may not be terminated. Modify its 'disableApiTermination' "
                                 "instance attribute and try again.")
    assert boto_error(ec2.stop_instances, InstanceIds=[iid]) == (
        "OperationNotPermitted", f"The instance '{iid}' may not be stopped. Modify its 'disableApiStop' instance "
                                 "attribute and try again.")
    assert boto_error(ec2.modify_instance_attribute, InstanceId=iid, InstanceType={"Value": "t3.small"}) == (
        "IncorrectInstanceState", f"The instance '{iid}' is not in the 'stopped' state.")
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiStop={"Value": False})
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": False})
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiTermination")[
        "DisableApiTermination"] == {"Value": False}
    # groupSet: the instance's and its primary interface's groups.
    sg = ec2.create_security_group(GroupName="swap", Description="swap", VpcId=i["VpcId"])["GroupId"]
    ec2.modify_instance_attribute(InstanceId=iid, Groups=[sg])
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="groupSet")["Groups"] == [
        {"GroupId": sg, "GroupName": "swap"}]
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[i["NetworkInterfaces"][0]["NetworkInterfaceId"]])
    assert [g["GroupId"] for g in eni["NetworkInterfaces"][0]["Groups"]] == [sg]
    assert boto_error(ec2.modify_instance_attribute, InstanceId=iid, Groups=["sg-0123456789abcdef0"]) == (
        "InvalidGroup.NotFound", f"The security group 'sg-0123456789abcdef0' does not exist in VPC '{i['VpcId']}'")
    ec2.stop_instances(InstanceIds=[iid])
    fast("instance_stopped", ec2).wait(InstanceIds=[iid])
    ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t3.small"})
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="instanceType")["InstanceType"] == {
        "Value": "t3.small"}
    ec2.terminate_instances(InstanceIds=[iid])
    fast("instance_terminated", ec2).wait(InstanceIds=[iid])


def test_pagination(kecs):
    ec2 = kecs.client("ec2")
    ami = image_id(ec2)
    ids = [ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
           for _ in range(6)]
    page = ec2.describe_instances(MaxResults=5)
    assert len(page["Reservations"]) == 5 and page["NextToken"]
    rest = ec2.describe_instances(MaxResults=5, NextToken=page["NextToken"])
    seen = [i["InstanceId"] for p in (page, rest) for r in p["Reservations"] for i in r["Instances"]]
    assert seen == ids and "NextToken" not in rest
    assert boto_error(ec2.describe_instances, MaxResults=5, InstanceIds=[ids[0]]) == (
        "InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
    ec2.terminate_instances(InstanceIds=ids)


def test_cli_waiters_and_attributes(kecs):
    ami = image_id(kecs.client("ec2"))
    out = kecs.aws("ec2", "run-instances", "--image-id", ami, "--instance-type", "m5.large", "--count", "1",
                   "--user-data", "#!/bin/bash\necho hello\n", "--metadata-options", "HttpTokens=required")
    iid = out["Instances"][0]["InstanceId"]
    assert out["Instances"][0]["MetadataOptions"]["HttpTokens"] == "required"
    kecs.aws("ec2", "wait", "instance-exists", "--instance-ids", iid)
    kecs.aws("ec2", "wait", "instance-running", "--instance-ids", iid)
    kecs.aws("ec2", "wait", "instance-status-ok", "--instance-ids", iid)
    ud = kecs.aws("ec2", "describe-instance-attribute", "--instance-id", iid, "--attribute", "userData")
    assert base64.b64decode(ud["UserData"]["Value"]) == b"#!/bin/bash\necho hello\n"
    assert "An error occurred (IncorrectInstanceState) when calling the ModifyInstanceAttribute operation: " \
           f"The instance '{iid}' is not in the 'stopped' state." in cli_error(
               kecs, "ec2", "modify-instance-attribute", "--instance-id", iid, "--instance-type", "m5.xlarge")
    kecs.aws("ec2", "stop-instances", "--instance-ids", iid)
    kecs.aws("ec2", "wait", "instance-stopped", "--instance-ids", iid)
    kecs.aws("ec2", "modify-instance-attribute", "--instance-id", iid, "--instance-type", "m5.xlarge")
    kecs.aws("ec2", "start-instances", "--instance-ids", iid)
    kecs.aws("ec2", "wait", "instance-running", "--instance-ids", iid)
    d = kecs.aws("ec2", "describe-instances", "--instance-ids", iid)["Reservations"][0]["Instances"][0]
    assert d["InstanceType"] == "m5.xlarge" and d["State"]["Name"] == "running"
    kecs.aws("ec2", "terminate-instances", "--instance-ids", iid)
    kecs.aws("ec2", "wait", "instance-terminated", "--instance-ids", iid)
    assert "InvalidInstanceID.NotFound" in cli_error(kecs, "ec2", "describe-instances", "--instance-ids",
                                                     "i-0123456789abcdef0")


def container_instances(ecs, cluster):
    arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    if not arns:
        return []
    return ecs.describe_container_instances(cluster=cluster, containerInstances=arns)["containerInstances"]


def test_ecs_agent_registers_and_host_termination(kecs):
    ec2, ecs = kecs.client("ec2"), kecs.client("ecs")
    ami = image_id(ec2)
    ecs.create_cluster(clusterName="fleet")
    vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.61.{n}.0/24", AvailabilityZone=az)["Subnet"]["SubnetId"]
               for n, az in ((1, "us-east-1a"), (2, "us-east-1b"))]
    user_data = ("Content-Type: multipart/mixed; boundary=\"==B==\"\nMIME-Version: 1.0\n\n--==B==\n"
                 "Content-Type: text/x-shellscript; charset=\"us-ascii\"\n\n#!/bin/bash\n"
                 "echo ECS_CLUSTER=fleet >> /etc/ecs/ecs.config\n--==B==--\n")
    ids = []
    for s in subnets:
        ids.append(ec2.run_instances(ImageId=ami, InstanceType="m5.large", MinCount=1, MaxCount=1, SubnetId=s,
                                     UserData=user_data)["Instances"][0]["InstanceId"])
    fast("instance_running", ec2).wait(InstanceIds=ids)
    cis = wait_for(lambda: [c for c in container_instances(ecs, "fleet") if c["ec2InstanceId"] in ids]
                   if len([c for c in container_instances(ecs, "fleet") if c["ec2InstanceId"] in ids]) == 2 else None,
                   what="two registrations")
    by_id = {c["ec2InstanceId"]: c for c in cis}
    c0 = by_id[ids[0]]
    res = {r["name"]: r.get("integerValue") for r in c0["registeredResources"]}
    assert res["CPU"] == 2048 and res["MEMORY"] == 7985
    attrs = {a["name"]: a.get("value") for a in c0["attributes"]}
    assert attrs["ecs.instance-type"] == "m5.large" and attrs["ecs.ami-id"] == ami
    assert attrs["ecs.availability-zone"] == "us-east-1a" and attrs["ecs.vpc-id"] == vpc
    assert attrs["ecs.subnet-id"] == subnets[0] and attrs["ecs.os-type"] == "linux"
    assert attrs["ecs.cpu-architecture"] == "x86_64" and c0["agentConnected"] is True

    # A service pinned to the two instances' VPC; terminating the instance of its task
    # stops the task with the host's reason and the service starts a new one on the other.
    ecs.register_task_definition(family="pinned", containerDefinitions=[
        {"name": "app", "image": "busybox", "memory": 64, "essential": True}])
    ecs.create_service(cluster="fleet", serviceName="pinned", taskDefinition="pinned", desiredCount=1,
                       placementConstraints=[{"type": "memberOf", "expression": f"attribute:ecs.vpc-id == {vpc}"}])

    def running_task():
        arns = ecs.list_tasks(cluster="fleet", serviceName="pinned", desiredStatus="RUNNING")["taskArns"]
        if not arns:
            return None
        t = ecs.describe_tasks(cluster="fleet", tasks=arns)["tasks"][0]
        return t if t["lastStatus"] == "RUNNING" else None
    first = wait_for(running_task, what="the service's task")
    host = {c["containerInstanceArn"]: c["ec2InstanceId"] for c in cis}[first["containerInstanceArn"]]
    other = [i for i in ids if i != host][0]
    ec2.terminate_instances(InstanceIds=[host])
    stopped = wait_for(lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
        ecs.describe_tasks(cluster="fleet", tasks=[first["taskArn"]])["tasks"][0]), what="the task to stop")
    assert stopped["stoppedReason"] == f"Host EC2 (instance {host}) terminated."
    fast("instance_terminated", ec2).wait(InstanceIds=[host])
    second = wait_for(lambda: (lambda t: t if t and t["taskArn"] != first["taskArn"] else None)(running_task()),
                      what="the replacement")
    assert {c["containerInstanceArn"]: c["ec2InstanceId"] for c in cis}[second["containerInstanceArn"]] == other
    gone = ecs.describe_container_instances(cluster="fleet", containerInstances=[by_id[host]["containerInstanceArn"]])
    assert gone["containerInstances"][0]["status"] == "INACTIVE"
    assert ec2.describe_instances(InstanceIds=[host])["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"

    # Stopping the other: its container instance is disconnected, not deregistered.
    ecs.update_service(cluster="fleet", service="pinned", desiredCount=0)
    ec2.stop_instances(InstanceIds=[other])
    fast("instance_stopped", ec2).wait(InstanceIds=[other])
    ci = ecs.describe_container_instances(cluster="fleet", containerInstances=[by_id[other]["containerInstanceArn"]])
    assert ci["containerInstances"][0]["agentConnected"] is False
    assert ci["containerInstances"][0]["status"] == "ACTIVE"
    ec2.start_instances(InstanceIds=[other])
    wait_for(lambda: ecs.describe_container_instances(cluster="fleet", containerInstances=[
        by_id[other]["containerInstanceArn"]])["containerInstances"][0]["agentConnected"], what="reconnect")


def test_register_with_identity_document(kecs):
    ec2, ecs = kecs.client("ec2"), kecs.client("ecs")
    ami = image_id(ec2)
    ecs.create_cluster(clusterName="byhand")
    i = ec2.run_instances(ImageId=ami, InstanceType="c5.xlarge", MinCount=1, MaxCount=1,
                          UserData="#!/bin/bash\necho ECS_CLUSTER=nosuchcluster >> /etc/ecs/ecs.config\n")["Instances"][0]
    iid = i["InstanceId"]
    fast("instance_running", ec2).wait(InstanceIds=[iid])
    doc = json.dumps({"accountId": ACCOUNT, "architecture": "x86_64",
                      "availabilityZone": i["Placement"]["AvailabilityZone"], "imageId": ami, "instanceId": iid,
                      "instanceType": "c5.xlarge", "privateIp": i["PrivateIpAddress"], "region": "us-east-1",
                      "version": "2017-09-30"})
    code, msg = boto_error(ecs.register_container_instance, cluster="byhand", instanceIdentityDocument=doc,
                           instanceIdentityDocumentSignature=base64.b64encode(b"not a signature").decode())
    assert code == "ClientException" and "signature does not verify" in msg
    ci = ecs.register_container_instance(cluster="byhand", instanceIdentityDocument=doc)["containerInstance"]
    res = {r["name"]: r.get("integerValue") for r in ci["registeredResources"]}
    assert ci["ec2InstanceId"] == iid and res["CPU"] == 4096 and res["MEMORY"] == 7985
    attrs = {a["name"]: a.get("value") for a in ci["attributes"]}
    assert attrs["ecs.instance-type"] == "c5.xlarge" and attrs["ecs.subnet-id"] == i["SubnetId"]
    ec2.stop_instances(InstanceIds=[iid])
    fast("instance_stopped", ec2).wait(InstanceIds=[iid])
    assert boto_error(ecs.register_container_instance, cluster="byhand", instanceIdentityDocument=doc) == (
        "ClientException", f"Instance {iid} is not running (its state is stopped).")
    ec2.terminate_instances(InstanceIds=[iid])


def test_launch_template_key_pair_and_cli_registration(kecs):
    ec2 = kecs.client("ec2")
    ami = image_id(ec2)
    ec2.create_key_pair(KeyName="ops")
    sg = ec2.create_security_group(GroupName="lt-web", Description="web",
                                   VpcId=ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])[
                                       "Vpcs"][0]["VpcId"])["GroupId"]
    ec2.create_launch_template(LaunchTemplateName="fleet-lt", LaunchTemplateData={
        "ImageId": ami, "InstanceType": "t3.small", "KeyName": "ops", "SecurityGroupIds": [sg],
        "UserData": base64.b64encode(b"#!/bin/bash\necho ECS_CLUSTER=ltc >> /etc/ecs/ecs.config\n").decode(),
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "from", "Value": "template"}]}]})
    kecs.client("ecs").create_cluster(clusterName="ltc")
    # The request's InstanceType replaces the template's; the rest comes from the template.
    out = kecs.aws("ec2", "run-instances", "--launch-template", "LaunchTemplateName=fleet-lt,Version=$Latest",
                   "--instance-type", "m5.large", "--count", "1")
    i = out["Instances"][0]
    assert i["InstanceType"] == "m5.large" and i["KeyName"] == "ops" and i["ImageId"] == ami
    assert i["SecurityGroups"][0]["GroupId"] == sg and i["Tags"] == [{"Key": "from", "Value": "template"}]
    kecs.aws("ec2", "wait", "instance-running", "--instance-ids", i["InstanceId"])
    def mine():
        arns = kecs.aws("ecs", "list-container-instances", "--cluster", "ltc")["containerInstanceArns"]
        cis = kecs.aws("ecs", "describe-container-instances", "--cluster", "ltc", "--container-instances",
                       *arns)["containerInstances"] if arns else []
        return [c for c in cis if c["ec2InstanceId"] == i["InstanceId"]]
    ci = wait_for(mine, what="the registration")[0]
    arns = [ci["containerInstanceArn"]]
    assert {r["name"]: r.get("integerValue") for r in ci["registeredResources"]}["MEMORY"] == 7985
    assert "An error occurred (InvalidLaunchTemplateName.NotFoundException)" in cli_error(
        kecs, "ec2", "run-instances", "--launch-template", "LaunchTemplateName=nope", "--count", "1")
    assert boto_error(ec2.stop_instances, InstanceIds=[i["InstanceId"]], Hibernate=True) == (
        "UnsupportedOperation", f"The instance '{i['InstanceId']}' is not enabled for hibernation.")
    kecs.aws("ec2", "terminate-instances", "--instance-ids", i["InstanceId"])
    kecs.aws("ec2", "wait", "instance-terminated", "--instance-ids", i["InstanceId"])
    ci = kecs.aws("ecs", "describe-container-instances", "--cluster", "ltc", "--container-instances",
                  *arns)["containerInstances"][0]
    assert ci["status"] == "INACTIVE"
