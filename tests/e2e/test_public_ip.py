"""Issue 6: assignPublicIp publishes task ports on the host (32000-32999) through nftables.

The documented KECS flow runs exactly as written (with the aws CLI's own client-side
parameter validation off, as its `parameter_validation` setting allows), against a
local-runtime daemon whose "nginx:latest" comes from a local registry set up as the
docker.io mirror."""
import concurrent.futures
import json
import os
import subprocess

import pytest

from conftest import OK, REFUSED, http_probe, wait_for

TD = {
    "family": "web-app",
    "containerDefinitions": [
        {
            "name": "nginx",
            "image": "nginx:latest",
            "portMappings": [
                {
                    "containerPort": 80,
                    "protocol": "tcp"
                }
            ]
        }
    ]
}


def curl(port, host="localhost", timeout=3):
    """The page at host:port, or the Probe that says how the GET failed."""
    p = http_probe(f"http://{host}:{port}", timeout=timeout)
    return p.body if p.outcome == OK else p


def aws_flow(kecs, *args):
    """The aws CLI as a user of the KECS docs runs it: default profile, client-side
    validation off, JSON out."""
    cfg = os.path.join(kecs.data_dir, "aws-config")
    with open(cfg, "w") as f:
        f.write("[default]\nregion = us-east-1\nparameter_validation = false\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": kecs.data_dir, "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_CONFIG_FILE": cfg, "AWS_PAGER": ""}
    p = subprocess.run(["/usr/bin/aws", *args, "--endpoint-url", kecs.endpoint, "--output", "json"],
                       env=env, capture_output=True, text=True, timeout=120)
    return p


def public_port(task):
    return task["containers"][0]["networkBindings"][0]["hostPort"]


def describe(kecs, cluster, arn):
    return kecs.client("ecs").describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]


def wait_running(kecs, cluster, arn):
    def check():
        t = describe(kecs, cluster, arn)
        assert t["lastStatus"] != "STOPPED", t.get("stoppedReason")
        return t if t["lastStatus"] == "RUNNING" else None
    return wait_for(check, timeout=60, what="RUNNING")


def test_documented_flow_as_written(local_kecs):
    td_file = os.path.join(local_kecs.data_dir, "td.json")
    with open(td_file, "w") as f:
        json.dump(TD, f)
    p = aws_flow(local_kecs, "ecs", "register-task-definition", "--cli-input-json", "file://" + td_file)
    assert p.returncode == 0, p.stderr
    # Step 2, exactly as the KECS document writes it (bar the endpoint's port).
    p = aws_flow(local_kecs, "ecs", "run-task",
                 "--cluster", "my-cluster",
                 "--task-definition", "web-app:1",
                 "--network-configuration", '{\n    "awsvpcConfiguration": {\n      "assignPublicIp": "ENABLED"\n    }\n  }')
    assert p.returncode == 0, p.stderr
    arn = json.loads(p.stdout)["tasks"][0]["taskArn"]
    # Step 3: describe-tasks says where to connect.
    t = wait_running(local_kecs, "my-cluster", arn)
    p = aws_flow(local_kecs, "ecs", "describe-tasks", "--cluster", "my-cluster", "--tasks", arn)
    task = json.loads(p.stdout)["tasks"][0]
    port = public_port(task)
    assert 32000 <= port <= 32999
    binding = task["containers"][0]["networkBindings"][0]
    assert binding == {"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": port, "protocol": "tcp"}
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    assert details["publicIPv4Address"]
    assert {"name": "kecs.dev/host-port/nginx/80/tcp", "value": str(port)} in task["attributes"]
    assert task["launchType"] == "FARGATE"
    # Step 4: curl the port: on localhost and on the host's address.
    assert curl(port) == "hello from kecs\n"
    assert curl(port, host=details["publicIPv4Address"]) == "hello from kecs\n"
    # The ENI's association shows the public address.
    eni = local_kecs.client("ec2").describe_network_interfaces(
        NetworkInterfaceIds=[details["networkInterfaceId"]])["NetworkInterfaces"][0]
    assert eni["Association"]["PublicIp"] == details["publicIPv4Address"]
    assert t["lastStatus"] == "RUNNING"


def run_public(kecs, cluster="pub", family="pubweb", stop_timeout=1):
    ecs = kecs.client("ecs")
    ecs.register_task_definition(family=family, containerDefinitions=[
        {"name": "nginx", "image": "nginx:latest", "portMappings": [{"containerPort": 80}],
         "stopTimeout": stop_timeout}])
    out = ecs.run_task(cluster=cluster, taskDefinition=family, launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": {
                           "subnets": [default_subnet(kecs)], "assignPublicIp": "ENABLED"}})
    assert out["failures"] == []
    return out["tasks"][0]["taskArn"]


def default_subnet(kecs):
    ec2 = kecs.client("ec2")
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    return sorted(subnets, key=lambda s: s["AvailabilityZone"])[0]["SubnetId"]


def test_stop_releases_the_port_for_the_next_task(local_kecs):
    ecs = local_kecs.client("ecs")
    ecs.create_cluster(clusterName="pub")
    a = run_public(local_kecs)
    port = public_port(wait_running(local_kecs, "pub", a))
    assert curl(port) == "hello from kecs\n"
    ecs.stop_task(cluster="pub", task=a)
    wait_for(lambda: describe(local_kecs, "pub", a)["lastStatus"] == "STOPPED", timeout=30, what="stopped")
    gone = http_probe(f"http://localhost:{port}", timeout=2)
    assert gone.outcome == REFUSED, gone          # the forwarding is gone: nothing listens there
    b = run_public(local_kecs)
    assert public_port(wait_running(local_kecs, "pub", b)) == port  # handed to the next task
    assert curl(port) == "hello from kecs\n"


def test_restart_keeps_port_and_forwarding(local_kecs):
    local_kecs.client("ecs").create_cluster(clusterName="pub")
    a = run_public(local_kecs)
    port = public_port(wait_running(local_kecs, "pub", a))
    local_kecs.restart()
    t = describe(local_kecs, "pub", a)
    assert t["lastStatus"] == "RUNNING" and public_port(t) == port
    assert curl(port) == "hello from kecs\n"
    # The allocation is durable: a new task does not get the same port.
    b = run_public(local_kecs)
    assert public_port(wait_running(local_kecs, "pub", b)) != port


def test_container_exit_and_failed_start_release_ports(local_kecs):
    ecs = local_kecs.client("ecs")
    ecs.create_cluster(clusterName="pub")
    ecs.register_task_definition(family="quits", containerDefinitions=[
        {"name": "nginx", "image": "nginx:latest", "command": ["sh", "-c", "sleep 2; exit 1"],
         "portMappings": [{"containerPort": 80}]}])
    ecs.register_task_definition(family="nopull", containerDefinitions=[
        {"name": "nginx", "image": "nosuchimage:1", "portMappings": [{"containerPort": 80}]}])
    net = {"awsvpcConfiguration": {"subnets": [default_subnet(local_kecs)], "assignPublicIp": "ENABLED"}}
    q = ecs.run_task(cluster="pub", taskDefinition="quits", launchType="FARGATE", networkConfiguration=net)["tasks"][0]["taskArn"]
    n = ecs.run_task(cluster="pub", taskDefinition="nopull", launchType="FARGATE", networkConfiguration=net)["tasks"][0]["taskArn"]
    for arn in (q, n):
        wait_for(lambda: describe(local_kecs, "pub", arn)["lastStatus"] == "STOPPED", timeout=60, what="stopped")
    assert describe(local_kecs, "pub", q)["stopCode"] == "EssentialContainerExited"
    assert describe(local_kecs, "pub", n)["stopCode"] == "TaskFailedToStart"
    # Both ports are free again: the next two tasks take 32000 and 32001.
    a, b = run_public(local_kecs), run_public(local_kecs)
    ports = sorted(public_port(wait_running(local_kecs, "pub", x)) for x in (a, b))
    assert ports == [32000, 32001]


@pytest.mark.kecs_args("--public-port-range", "32100-32101")
def test_exhausted_range_fails_the_task_clearly_and_leaks_nothing(local_kecs):
    local_kecs.client("ecs").create_cluster(clusterName="pub")
    a, b = run_public(local_kecs), run_public(local_kecs)
    ports = sorted(public_port(wait_running(local_kecs, "pub", x)) for x in (a, b))
    assert ports == [32100, 32101]
    c = run_public(local_kecs)
    t = wait_for(lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(describe(local_kecs, "pub", c)),
                 timeout=30, what="third task stopped")
    assert t["stopCode"] == "TaskFailedToStart"
    assert "32100-32101" in t["stoppedReason"] and "in use" in t["stoppedReason"]
    # Its ENI went with it, and nothing else was held.
    enis = local_kecs.client("ec2").describe_network_interfaces(
        Filters=[{"Name": "requester-managed", "Values": ["true"]}])["NetworkInterfaces"]
    assert len(enis) == 2
    local_kecs.client("ecs").stop_task(cluster="pub", task=a)
    wait_for(lambda: describe(local_kecs, "pub", a)["lastStatus"] == "STOPPED", timeout=30, what="stopped")
    d = run_public(local_kecs)
    assert public_port(wait_running(local_kecs, "pub", d)) == ports[0]


def test_fifty_concurrent_clients_never_share_a_port(local_kecs):
    ecs = local_kecs.client("ecs")
    ecs.create_cluster(clusterName="pub")
    ecs.register_task_definition(family="pubweb", containerDefinitions=[
        {"name": "nginx", "image": "nginx:latest", "portMappings": [{"containerPort": 80}], "stopTimeout": 1}])
    subnet = default_subnet(local_kecs)

    def start(_):
        c = local_kecs.client("ecs")  # one client (one connection) per caller
        return c.run_task(cluster="pub", taskDefinition="pubweb", launchType="FARGATE",
                          networkConfiguration={"awsvpcConfiguration": {
                              "subnets": [subnet], "assignPublicIp": "ENABLED"}})["tasks"][0]["taskArn"]
    with concurrent.futures.ThreadPoolExecutor(50) as ex:
        arns = list(ex.map(start, range(50)))

    def all_running():
        tasks = []
        for i in range(0, 50, 100):
            tasks += ecs.describe_tasks(cluster="pub", tasks=arns[i:i + 100])["tasks"]
        assert not any(t["lastStatus"] == "STOPPED" for t in tasks), [t.get("stoppedReason") for t in tasks]
        return tasks if all(t["lastStatus"] == "RUNNING" for t in tasks) else None
    tasks = wait_for(all_running, timeout=180, interval=0.5, what="50 tasks RUNNING")
    ports = [public_port(t) for t in tasks]
    assert len(set(ports)) == 50
    assert all(32000 <= p <= 32999 for p in ports)
    # Every one of them really forwards to its own task.
    for p in ports[:10]:
        assert curl(p) == "hello from kecs\n"


def test_ec2_launch_type_refuses_assign_public_ip(kecs):
    ecs = kecs.client("ecs")
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="w", networkMode="awsvpc", containerDefinitions=[
        {"name": "nginx", "image": "nginx:latest", "memory": 64, "portMappings": [{"containerPort": 80}]}])
    subnet = default_subnet(kecs)
    p = kecs.aws("ecs", "run-task", "--cluster", "c", "--task-definition", "w", "--launch-type", "EC2",
                 "--network-configuration",
                 json.dumps({"awsvpcConfiguration": {"subnets": [subnet], "assignPublicIp": "ENABLED"}}), raw=True)
    assert p.returncode != 0
    assert "InvalidParameterException" in p.stderr
    assert "Assign public IP is not supported for this launch type." in p.stderr


@pytest.mark.kecs_args("--strict")
def test_strict_mode_refuses_the_lenient_defaults(kecs):
    td_file = os.path.join(kecs.data_dir, "td.json")
    with open(td_file, "w") as f:
        json.dump(TD, f)
    kecs.client("ecs").create_cluster(clusterName="my-cluster")
    p = aws_flow(kecs, "ecs", "register-task-definition", "--cli-input-json", "file://" + td_file)
    assert p.returncode != 0 and "At least one of 'memory' or 'memoryReservation'" in p.stderr
    td = dict(TD)
    td["containerDefinitions"] = [dict(TD["containerDefinitions"][0], memory=128)]
    with open(td_file, "w") as f:
        json.dump(td, f)
    assert aws_flow(kecs, "ecs", "register-task-definition", "--cli-input-json", "file://" + td_file).returncode == 0
    # No networkMode: a networkConfiguration is not valid for it.
    subnet = default_subnet(kecs)
    p = aws_flow(kecs, "ecs", "run-task", "--cluster", "my-cluster", "--task-definition", "web-app:1",
                 "--network-configuration",
                 json.dumps({"awsvpcConfiguration": {"subnets": [subnet], "assignPublicIp": "ENABLED"}}))
    assert p.returncode != 0
    assert "Network Configuration is not valid for the given networkMode of this task definition." in p.stderr
    # With awsvpc but no subnets: AWS's own validation of the missing member.
    kecs.client("ecs").register_task_definition(family="web-vpc", networkMode="awsvpc", containerDefinitions=td["containerDefinitions"])
    p = aws_flow(kecs, "ecs", "run-task", "--cluster", "my-cluster", "--task-definition", "web-vpc",
                 "--launch-type", "FARGATE",
                 "--network-configuration", '{"awsvpcConfiguration": {"assignPublicIp": "ENABLED"}}')
    assert p.returncode != 0
    assert "InvalidParameterException" in p.stderr and "subnets" in p.stderr
    # And a cluster that does not exist is not created for you.
    p = aws_flow(kecs, "ecs", "run-task", "--cluster", "nope", "--task-definition", "web-vpc")
    assert "ClusterNotFoundException" in p.stderr


def test_lenient_mode_defaults_are_the_documented_ones(kecs):
    """Without --strict: no networkMode + networkConfiguration = awsvpc; no subnets = the
    default subnet; an unknown cluster is created (simulated runtime: allocation only)."""
    td_file = os.path.join(kecs.data_dir, "td.json")
    with open(td_file, "w") as f:
        json.dump(TD, f)
    assert aws_flow(kecs, "ecs", "register-task-definition", "--cli-input-json", "file://" + td_file).returncode == 0
    p = aws_flow(kecs, "ecs", "run-task", "--cluster", "my-cluster", "--task-definition", "web-app:1",
                 "--network-configuration", '{"awsvpcConfiguration": {"assignPublicIp": "ENABLED"}}')
    assert p.returncode == 0, p.stderr
    arn = json.loads(p.stdout)["tasks"][0]["taskArn"]
    t = wait_for(lambda: (lambda t: t if t["lastStatus"] == "RUNNING" else None)(describe(kecs, "my-cluster", arn)),
                 what="RUNNING")
    details = {d["name"]: d["value"] for d in t["attachments"][0]["details"]}
    subnet = kecs.client("ec2").describe_subnets(SubnetIds=[details["subnetId"]])["Subnets"][0]
    assert subnet["DefaultForAz"] and subnet["AvailabilityZone"] == "us-east-1a"
    assert public_port(t) == 32000
