"""ECS control plane, acceptance 3: validation and error paths, each with AWS's exact error
code and message (see the research notes on real ECS behaviour (AWS docs, SDK issues))."""
import pytest

from conftest import wait_for
from test_ecs_support import Ecs, all_status, arn, awsvpc_config, container, default_subnet

NOT_FOUND = ("ClusterNotFoundException", "Cluster not found.")


@pytest.fixture
def ecs(kecs):
    return Ecs(kecs, "boto3")


# ---- clusters ---------------------------------------------------------------------------

@pytest.mark.kecs_args("--strict")
def test_unknown_cluster_is_cluster_not_found_in_strict_mode(kecs, ecs):
    ecs("RegisterTaskDefinition", family="t", containerDefinitions=[container("c", memory=32)])
    assert ecs.error("RunTask", cluster="ghost", taskDefinition="t") == NOT_FOUND
    assert ecs.error("ListTasks", cluster="ghost") == NOT_FOUND
    assert ecs.error("DescribeTasks", cluster="ghost", tasks=["0" * 32]) == NOT_FOUND
    assert ecs.error("StopTask", cluster="ghost", task="0" * 32) == NOT_FOUND
    assert ecs.error("UpdateClusterSettings", cluster="ghost",
                     settings=[{"name": "containerInsights", "value": "enabled"}]) == NOT_FOUND
    assert ecs.error("DeleteCluster", cluster="ghost") == NOT_FOUND
    # ...and nothing was created on the way.
    assert ecs("ListClusters")["clusterArns"] == []
    # The same through the aws CLI.
    assert Ecs(kecs, "cli").error("RunTask", cluster="ghost", taskDefinition="t") == NOT_FOUND


def test_lenient_mode_creates_the_cluster_a_run_task_names(ecs):
    ecs("RegisterTaskDefinition", family="t", containerDefinitions=[container("c", memory=32)])
    out = ecs("RunTask", cluster="auto", taskDefinition="t")
    assert len(out["tasks"]) == 1 and out["tasks"][0]["clusterArn"] == arn("cluster/auto")
    assert ecs("ListClusters")["clusterArns"] == [arn("cluster/auto")]
    # Read-only calls never create one.
    assert ecs.error("ListTasks", cluster="ghost") == NOT_FOUND
    # A refused RunTask rolls back everything, the cluster it would have created included,
    # and the daemon goes on writing.
    assert ecs.error("RunTask", cluster="ghost", taskDefinition="t", count=0)[0] == "InvalidParameterException"
    assert ecs.error("RunTask", cluster="ghost", taskDefinition="nope")[0] == "ClientException"
    assert ecs("ListClusters")["clusterArns"] == [arn("cluster/auto")]
    assert ecs("CreateCluster", clusterName="after")["cluster"]["status"] == "ACTIVE"


def test_delete_cluster_refuses_while_tasks_or_instances_are_active(kecs, ecs):
    poll = kecs.client("ecs")
    ecs("CreateCluster", clusterName="busy")
    ecs("RegisterTaskDefinition", family="t", containerDefinitions=[container("c", memory=32)])
    [task] = ecs("RunTask", cluster="busy", taskDefinition="t")["tasks"]
    assert ecs.error("DeleteCluster", cluster="busy") == (
        "ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.")
    ci = ecs("RegisterContainerInstance", cluster="busy")["containerInstance"]["containerInstanceArn"]
    ecs("StopTask", cluster="busy", task=task["taskArn"])
    # A task stopping but not yet STOPPED is still active; wait for it to end.
    wait_for(lambda: all_status(poll, "busy", [task["taskArn"]], "STOPPED"), what="task STOPPED")
    assert ecs.error("DeleteCluster", cluster="busy") == (
        "ClusterContainsContainerInstancesException",
        "The Cluster cannot be deleted while Container Instances are active or draining.")
    ecs("UpdateContainerInstancesState", cluster="busy", containerInstances=[ci], status="DRAINING")
    assert ecs.error("DeleteCluster", cluster="busy")[0] == "ClusterContainsContainerInstancesException"
    ecs("DeregisterContainerInstance", cluster="busy", containerInstance=ci)
    assert ecs("DeleteCluster", cluster="busy")["cluster"]["status"] == "INACTIVE"
    # Deleted, it is no cluster for anything else.
    assert ecs.error("ListTasks", cluster="busy") == NOT_FOUND
    # The same refusal through the CLI.
    ecs("CreateCluster", clusterName="busy2")
    ecs("RunTask", cluster="busy2", taskDefinition="t")
    assert Ecs(kecs, "cli").error("DeleteCluster", cluster="busy2") == (
        "ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.")


def test_cluster_setting_and_name_validation(ecs):
    assert ecs.error("CreateCluster", clusterName="bad name!")[0] == "InvalidParameterException"
    assert ecs.error("CreateCluster", clusterName="c",
                     settings=[{"name": "containerInsights", "value": "ON"}]) == (
        "InvalidParameterException", "Invalid setting 'value'")
    assert ecs("ListClusters")["clusterArns"] == []


# ---- task definitions ---------------------------------------------------------------------

def test_describe_unknown_task_definition(kecs, ecs):
    ecs("RegisterTaskDefinition", family="known", containerDefinitions=[container("c", memory=32)])
    msg = ("ClientException", "Unable to describe task definition.")
    for ref in ("nope", "known:2", arn("task-definition/nope:1"), "known:0"):
        assert ecs.error("DescribeTaskDefinition", taskDefinition=ref) == msg, ref
    assert Ecs(kecs, "cli").error("DescribeTaskDefinition", taskDefinition="nope") == msg
    # Still healthy after a run of refusals (each failed inside a read transaction).
    assert ecs("DescribeTaskDefinition", taskDefinition="known")["taskDefinition"]["revision"] == 1


def pm(container_port, host_port=None, protocol=None):
    m = {"containerPort": container_port}
    if host_port is not None:
        m["hostPort"] = host_port
    if protocol:
        m["protocol"] = protocol
    return m


TD_RULES = [
    ("awsvpc-host-port",
     dict(networkMode="awsvpc", containerDefinitions=[container("c", memory=64, portMappings=[pm(80, 8080)])]),
     "When networkMode=awsvpc, the host ports and container ports in port mappings must match."),
    ("host-host-port",
     dict(networkMode="host", containerDefinitions=[container("c", memory=64, portMappings=[pm(80, 81)])]),
     "When networkMode=host, the host ports and container ports in port mappings must match."),
    ("none-port-mappings",
     dict(networkMode="none", containerDefinitions=[container("c", memory=64, portMappings=[pm(80)])]),
     "Port mappings are not supported when networkMode=none."),
    ("duplicate-host-port",
     dict(containerDefinitions=[container("a", memory=64, portMappings=[pm(80, 8080)]),
                                container("b", memory=64, portMappings=[pm(81, 8080)])]),
     "TCP host port '8080' is mapped multiple times in task."),
    ("duplicate-udp-host-port",
     dict(containerDefinitions=[container("a", memory=64, portMappings=[pm(53, 5353, "udp"), pm(54, 5353, "udp")])]),
     "UDP host port '5353' is mapped multiple times in task."),
    ("fargate-needs-awsvpc",
     dict(requiresCompatibilities=["FARGATE"], cpu="256", memory="512", containerDefinitions=[container("c")]),
     "Fargate only supports network mode \u2018awsvpc\u2019."),
    ("fargate-size",
     dict(requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="512", memory="512",
          containerDefinitions=[container("c")]),
     "No Fargate configuration exists for given values: 512 CPU, 512 memory. See the Amazon ECS "
     "documentation for the valid values."),
    ("fargate-size-units",
     dict(requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="1 vCPU", memory="1GB",
          containerDefinitions=[container("c")]),
     "No Fargate configuration exists for given values: 1024 CPU, 1024 memory. See the Amazon ECS "
     "documentation for the valid values."),
    ("fargate-task-cpu",
     dict(requiresCompatibilities=["FARGATE"], networkMode="awsvpc", memory="512", containerDefinitions=[container("c")]),
     "Fargate requires that 'cpu' be defined at the task level."),
    ("duplicate-container-names",
     dict(containerDefinitions=[container("web", memory=64), container("web", memory=64)]),
     "Container names must be unique within a Task Definition."),
    ("no-essential-container",
     dict(containerDefinitions=[container("a", memory=64, essential=False), container("b", memory=64, essential=False)]),
     "Task definition must have at least one essential container."),
    ("hostname-under-awsvpc",
     dict(networkMode="awsvpc", containerDefinitions=[container("c", memory=64, hostname="box")]),
     "hostname is not supported on container when networkMode=awsvpc."),
    ("links-under-awsvpc",
     dict(networkMode="awsvpc", containerDefinitions=[container("a", memory=64), container("b", memory=64, links=["a"])]),
     "Links are not supported when networkMode=awsvpc."),
    ("container-cpu-sum",
     dict(cpu="256", memory="512", containerDefinitions=[container("a", cpu=200), container("b", cpu=100)]),
     "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'."),
    ("container-port",
     dict(containerDefinitions=[container("web", memory=64, portMappings=[{"containerPort": 0}])]),
     "Invalid 'containerPort' setting for container 'web'."),
    ("family-characters",
     dict(family="bad:family", containerDefinitions=[container("c", memory=64)]),
     "Family contains invalid characters."),
    ("container-name-characters",
     dict(containerDefinitions=[container("bad name", memory=64)]),
     "Container.name contains invalid characters."),
]


@pytest.mark.parametrize("kw,message", [r[1:] for r in TD_RULES], ids=[r[0] for r in TD_RULES])
def test_task_definition_rules(ecs, kw, message):
    kw = dict(kw)
    kw.setdefault("family", "rules")
    assert ecs.error("RegisterTaskDefinition", **kw) == ("ClientException", message)
    assert ecs("ListTaskDefinitions")["taskDefinitionArns"] == []   # nothing registered


def test_typographic_quotes_survive_the_cli(kecs):
    assert Ecs(kecs, "cli").error(
        "RegisterTaskDefinition", family="fg", requiresCompatibilities=["FARGATE"], cpu="256",
        memory="512", containerDefinitions=[container("c")]) == (
        "ClientException", "Fargate only supports network mode \u2018awsvpc\u2019.")


@pytest.mark.kecs_args("--strict")
def test_container_memory_is_required_for_ec2_in_strict_mode(ecs):
    assert ecs.error("RegisterTaskDefinition", family="m", containerDefinitions=[container("app")]) == (
        "ClientException", "Invalid setting for container 'app'. At least one of 'memory' or "
                           "'memoryReservation' must be specified.")
    # A task-level memory, or a reservation, satisfies it.
    ecs("RegisterTaskDefinition", family="m", memory="512", containerDefinitions=[container("app")])
    ecs("RegisterTaskDefinition", family="m", containerDefinitions=[container("app", memoryReservation=64)])


# ---- RunTask -------------------------------------------------------------------------------

@pytest.fixture
def run_setup(kecs, ecs):
    ecs("CreateCluster", clusterName="rt")
    ecs("RegisterTaskDefinition", family="bridge", containerDefinitions=[container("c", memory=32)])
    ecs("RegisterTaskDefinition", family="vpc", networkMode="awsvpc", cpu="256", memory="512",
        requiresCompatibilities=["FARGATE"], containerDefinitions=[container("c")])
    return default_subnet(kecs)


def test_run_task_count_bounds(ecs, run_setup):
    for n in (0, 11):
        assert ecs.error("RunTask", cluster="rt", taskDefinition="bridge", count=n) == (
            "InvalidParameterException", "count must be between 1 and 10.")
    assert ecs("ListTasks", cluster="rt")["taskArns"] == []


def test_launch_type_with_capacity_provider_strategy(kecs, ecs, run_setup):
    expected = ("InvalidParameterException",
                "Specifying both a launch type and capacity provider strategy is not supported. "
                "Remove one and try again.")
    kw = dict(cluster="rt", taskDefinition="vpc", launchType="FARGATE",
              capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
              networkConfiguration=awsvpc_config(run_setup))
    assert ecs.error("RunTask", **kw) == expected
    assert Ecs(kecs, "cli").error("RunTask", **kw) == expected


def test_awsvpc_needs_a_network_configuration_with_explicit_ec2(ecs, run_setup):
    assert ecs.error("RunTask", cluster="rt", taskDefinition="vpc", launchType="EC2") == (
        "InvalidParameterException",
        "Network Configuration must be provided when networkMode 'awsvpc' is specified.")


@pytest.mark.kecs_args("--strict")
def test_awsvpc_needs_a_network_configuration_in_strict_mode(ecs, run_setup):
    for kw in ({}, {"launchType": "FARGATE"}):
        assert ecs.error("RunTask", cluster="rt", taskDefinition="vpc", **kw) == (
            "InvalidParameterException",
            "Network Configuration must be provided when networkMode 'awsvpc' is specified."), kw


NOT_VALID = ("InvalidParameterException",
             "Network Configuration is not valid for the given networkMode of this task definition.")


def test_network_configuration_for_bridge_and_host_tasks(ecs, run_setup):
    for mode in ("bridge", "host"):
        ecs("RegisterTaskDefinition", family=mode, networkMode=mode,
            containerDefinitions=[container("c", memory=32)])
        for kw in ({"launchType": "EC2"}, {}):
            assert ecs.error("RunTask", cluster="rt", taskDefinition=mode,
                             networkConfiguration=awsvpc_config(run_setup), **kw) == NOT_VALID, (mode, kw)
    assert ecs("ListTasks", cluster="rt")["taskArns"] == []


@pytest.mark.kecs_args("--strict")
def test_network_configuration_for_a_default_mode_task_in_strict_mode(ecs, run_setup):
    # No networkMode means bridge; only lenient mode reads a network configuration as awsvpc.
    assert ecs.error("RunTask", cluster="rt", taskDefinition="bridge", launchType="EC2",
                     networkConfiguration=awsvpc_config(run_setup)) == NOT_VALID


def test_public_ip_with_ec2_launch_type(kecs, ecs, run_setup):
    expected = ("InvalidParameterException", "Assign public IP is not supported for this launch type.")
    kw = dict(cluster="rt", taskDefinition="vpc", launchType="EC2",
              networkConfiguration=awsvpc_config(run_setup, public=True))
    assert ecs.error("RunTask", **kw) == expected
    p = kecs.aws("ecs", "run-task", "--cluster", "rt", "--task-definition", "vpc", "--launch-type", "EC2",
                 "--network-configuration",
                 f"awsvpcConfiguration={{subnets=[{run_setup}],assignPublicIp=ENABLED}}", raw=True)
    assert p.returncode != 0
    assert "(InvalidParameterException)" in p.stderr and p.stderr.rstrip().endswith(expected[1])
    # Without the public IP the same EC2 task runs.
    ok = ecs("RunTask", cluster="rt", taskDefinition="vpc", launchType="EC2",
             networkConfiguration=awsvpc_config(run_setup))
    assert len(ok["tasks"]) == 1 and ok["tasks"][0]["launchType"] == "EC2"


def test_placement_failures_name_the_container_instance(kecs, ecs):
    """With the host's own instance drained, a small registered instance is the only
    candidate: what does not fit comes back in failures[], not as an error."""
    ecs("CreateCluster", clusterName="tight")
    [host] = ecs("ListContainerInstances", cluster="tight")["containerInstanceArns"]
    ecs("UpdateContainerInstancesState", cluster="tight", containerInstances=[host], status="DRAINING")
    small = ecs("RegisterContainerInstance", cluster="tight",
                totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 512},
                                {"name": "MEMORY", "type": "INTEGER", "integerValue": 512}])
    small = small["containerInstance"]["containerInstanceArn"]
    ecs("RegisterTaskDefinition", family="cpu", containerDefinitions=[container("c", cpu=1024, memory=64)])
    ecs("RegisterTaskDefinition", family="mem", containerDefinitions=[container("c", cpu=128, memory=1024)])
    ecs("RegisterTaskDefinition", family="port", containerDefinitions=[
        container("c", cpu=128, memory=64, portMappings=[pm(80, 8080)])])
    ecs("RegisterTaskDefinition", family="ssh", containerDefinitions=[
        container("c", cpu=128, memory=64, portMappings=[pm(22, 22)])])

    def fails(family, reason):
        out = ecs("RunTask", cluster="tight", taskDefinition=family)
        assert out["tasks"] == [] and out["failures"] == [{"arn": small, "reason": reason}], out

    fails("cpu", "RESOURCE:CPU")
    fails("mem", "RESOURCE:MEMORY")
    first = ecs("RunTask", cluster="tight", taskDefinition="port")
    assert len(first["tasks"]) == 1 and first["tasks"][0]["containerInstanceArn"] == small
    assert first["tasks"][0]["containers"][0]["networkBindings"][0]["hostPort"] == 8080
    fails("port", "RESOURCE:PORTS")      # 8080 is taken by the first
    fails("ssh", "RESOURCE:PORTS")       # 22 is reserved by the agent
    # count=3 where only one more fits by memory: one task, and the rest as failures.
    ecs("RegisterTaskDefinition", family="half", containerDefinitions=[container("c", cpu=64, memory=300)])
    out = ecs("RunTask", cluster="tight", taskDefinition="half", count=3)
    assert len(out["tasks"]) == 1 and out["failures"] == [{"arn": small, "reason": "RESOURCE:MEMORY"}]
    # StartTask reports the same way.
    out = ecs("StartTask", cluster="tight", taskDefinition="cpu", containerInstances=[small])
    assert out["tasks"] == [] and out["failures"] == [{"arn": small, "reason": "RESOURCE:CPU"}]
    # Through the CLI, the failure is data, not an error.
    out = Ecs(kecs, "cli")("RunTask", cluster="tight", taskDefinition="cpu")
    assert out["failures"] == [{"arn": small, "reason": "RESOURCE:CPU"}]


# ---- tasks -----------------------------------------------------------------------------

def test_stop_and_describe_task_errors(kecs, ecs):
    ecs("CreateCluster", clusterName="c")
    assert ecs.error("StopTask", cluster="c", task="0123456789abcdef0123456789abcdef") == (
        "InvalidParameterException", "The referenced task was not found.")
    assert ecs.error("StopTask", cluster="c", task=arn("task/c/0123456789abcdef0123456789abcdef")) == (
        "InvalidParameterException", "The referenced task was not found.")
    assert ecs.error("StopTask", cluster="c", task="not-a-task") == (
        "InvalidParameterException", "Task Identifier is invalid")
    assert ecs.error("DescribeTasks", cluster="c", tasks=[]) == (
        "InvalidParameterException", "Tasks cannot be empty.")
    cli = Ecs(kecs, "cli")
    assert cli.error("DescribeTasks", cluster="c", tasks=[]) == (
        "InvalidParameterException", "Tasks cannot be empty.")
    assert cli.error("StopTask", cluster="c", task="0123456789abcdef0123456789abcdef") == (
        "InvalidParameterException", "The referenced task was not found.")
    # A task of another cluster is not found in this one.
    ecs("CreateCluster", clusterName="other")
    ecs("RegisterTaskDefinition", family="t", containerDefinitions=[container("c", memory=32)])
    [t] = ecs("RunTask", cluster="other", taskDefinition="t")["tasks"]
    assert ecs.error("StopTask", cluster="c", task=t["taskArn"].rsplit("/", 1)[1]) == (
        "InvalidParameterException", "The referenced task was not found.")
    out = ecs("DescribeTasks", cluster="c", tasks=[t["taskArn"]])
    assert out["tasks"] == [] and out["failures"] == [{"arn": t["taskArn"], "reason": "MISSING"}]


def test_list_tasks_filter_combinations(ecs):
    ecs("CreateCluster", clusterName="c")
    assert ecs.error("ListTasks", cluster="c", serviceName="svc", family="web") == (
        "InvalidParameterException", "cannot specify serviceName with other arguments")
    assert ecs.error("ListTasks", cluster="c", startedBy="me", family="web") == (
        "InvalidParameterException", "cannot specify startedBy with other arguments")
    assert ecs.error("ListTasks", cluster="c", family="web:2") == (
        "InvalidParameterException", "family must match ^[a-zA-Z0-9\\-_]+$")


def test_deregister_container_instance_with_running_tasks_needs_force(kecs, ecs):
    poll = kecs.client("ecs")
    ecs("CreateCluster", clusterName="c")
    ci = ecs("RegisterContainerInstance", cluster="c")["containerInstance"]["containerInstanceArn"]
    ecs("RegisterTaskDefinition", family="t", containerDefinitions=[container("c", memory=32)])
    [t] = ecs("StartTask", cluster="c", taskDefinition="t", containerInstances=[ci])["tasks"]
    code, _ = ecs.error("DeregisterContainerInstance", cluster="c", containerInstance=ci)
    assert code == "InvalidParameterException"
    out = ecs("DeregisterContainerInstance", cluster="c", containerInstance=ci, force=True)
    assert out["containerInstance"]["status"] == "INACTIVE"
    wait_for(lambda: all_status(poll, "c", [t["taskArn"]], "STOPPED"), what="task STOPPED")
    [d] = ecs("DescribeTasks", cluster="c", tasks=[t["taskArn"]])["tasks"]
    assert d["stoppedReason"] == "Container instance deregistration forced by user"


# ---- tagging, account settings -----------------------------------------------------------

def test_tagging_needs_long_arns(kecs, ecs):
    ecs("CreateCluster", clusterName="c")
    ecs("RegisterTaskDefinition", family="t", containerDefinitions=[container("c", memory=32)])
    [t] = ecs("RunTask", cluster="c", taskDefinition="t")["tasks"]
    task_id = t["taskArn"].rsplit("/", 1)[1]
    [ci] = ecs("ListContainerInstances", cluster="c")["containerInstanceArns"]
    expected = ("InvalidParameterException", "Long arn format must be used for tagging operations")
    for short in (arn("task/" + task_id), arn("container-instance/" + ci.rsplit("/", 1)[1])):
        assert ecs.error("TagResource", resourceArn=short, tags=[{"key": "k", "value": "v"}]) == expected
        assert ecs.error("ListTagsForResource", resourceArn=short) == expected
    assert Ecs(kecs, "cli").error("UntagResource", resourceArn=arn("task/" + task_id), tagKeys=["k"]) == expected
    # The long form works, and the refused calls tagged nothing.
    assert ecs("ListTagsForResource", resourceArn=t["taskArn"])["tags"] == []
    assert ecs.error("ListTagsForResource", resourceArn="arn:aws:ecr:us-east-1:000000000000:repository/x") == (
        "InvalidParameterException", "The ARN provided is invalid.")


def test_invalid_account_setting_value(kecs, ecs):
    expected = ("InvalidParameterException", "Invalid setting 'value'")
    assert ecs.error("PutAccountSetting", name="awsvpcTrunking", value="ENABLED") == expected
    assert ecs.error("PutAccountSettingDefault", name="containerInsights", value="on") == expected
    assert Ecs(kecs, "cli").error("PutAccountSetting", name="taskLongArnFormat", value="yes") == expected
    assert ecs("ListAccountSettings")["settings"] == []


def test_a_task_definition_over_64_kib_is_refused_in_ecs_words(kecs):
    """ECS's quota: a task definition is at most 64 KiB."""
    import json
    from test_ecs_support import client_error
    ecs = kecs.client("ecs")
    containers = [{"name": "app", "image": "busybox", "memory": 64, "command": ["x" * 70000]}]
    code, message = client_error(ecs.register_task_definition, family="huge", containerDefinitions=containers)
    assert code == "ClientException"
    assert message.startswith("Actual length: '") and message.endswith("'. Max allowed length is '65536' bytes."), message
    length = int(message.split("'")[1])
    assert length > 70000 and length > len(json.dumps({"family": "huge", "containerDefinitions": containers})) - 100
    # Just under the quota is taken.
    containers[0]["command"] = ["x" * 60000]
    assert ecs.register_task_definition(family="huge", containerDefinitions=containers)["taskDefinition"]["revision"] == 1
