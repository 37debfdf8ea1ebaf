"""Issue 12's container settings at the API, on the simulated runtime: health checks,
dependsOn, volumes, mount points, volumesFrom, Linux parameters, privileged, systemControls,
dockerLabels, pidMode/ipcMode. RegisterTaskDefinition refuses bad input with ECS's error code
and message (through boto3 and the aws CLI), DescribeTaskDefinition shows what was sent, and
a task of such a definition runs and shows healthStatus as DescribeTasks does on AWS.

Messages ECS's own wording was found for (quoted in public error reports) are marked
"ECS's wording" in src/api/ecs/task_definition_rules.cc; the others are kecs's."""
import pytest

from conftest import wait_for
from test_ecs_support import Ecs, all_status, container

CHECK = {"command": ["CMD-SHELL", "test -f /tmp/ok"], "interval": 5, "timeout": 2, "retries": 2,
         "startPeriod": 10}


@pytest.fixture
def ecs(kecs):
    return Ecs(kecs, "boto3")


def td(containers, **kw):
    return dict(family="settings", containerDefinitions=containers, **kw)


def c(name, **kw):
    return container(name, memory=64, **kw)


def fargate(containers, **kw):
    return td(containers, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
              memory="512", **kw)


# (request, expected error message): every refusal is a ClientException.
REFUSALS = [
    # dependsOn
    (td([c("app", dependsOn=[{"containerName": "ghost", "condition": "START"}])]),
     "Cannot depend on container + 'ghost' because it does not exist"),
    (td([c("app", dependsOn=[{"containerName": "init", "condition": "SUCCESS"}]), c("init")]),
     "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"),
    (td([c("app", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]), c("db")]),
     "Container 'app' depends on container 'db' with condition HEALTHY, but 'db' has no healthCheck."),
    (td([c("a", dependsOn=[{"containerName": "b", "condition": "START"}]),
         c("b", dependsOn=[{"containerName": "a", "condition": "START"}])]),
     "Container dependencies must not form a cycle: a -> b -> a."),
    # healthCheck
    (td([c("app", healthCheck={"command": ["curl", "-f", "http://localhost/"]})]),
     "Health check command must start with 'CMD' or 'CMD-SHELL' for container 'app'."),
    (td([c("app", healthCheck=dict(CHECK, retries=11))]),
     "Health check retries must be less than or equal to the maximum allowed value 10 for container 'app'"),
    (td([c("app", healthCheck=dict(CHECK, interval=4))]),
     "Health check interval must be greater than or equal to the minimum allowed value 5 for container 'app'"),
    (td([c("app", healthCheck=dict(CHECK, timeout=61))]),
     "Health check timeout must be less than or equal to the maximum allowed value 60 for container 'app'"),
    (td([c("app", healthCheck=dict(CHECK, startPeriod=301))]),
     "Health check startPeriod must be less than or equal to the maximum allowed value 300 for container 'app'"),
    # volumes, mountPoints, volumesFrom
    (td([c("app", mountPoints=[{"sourceVolume": "nope", "containerPath": "/x"}])]),
     "Unknown volume 'nope'."),
    (td([c("app", mountPoints=[{"containerPath": "/x"}])]), "Unknown volume 'null'."),
    (td([c("app", volumesFrom=[{"sourceContainer": "ghost"}])]),
     "Invalid 'volumesFrom' setting. Unknown container: 'ghost'."),
    (td([c("app")], volumes=[{"name": "v"}, {"name": "v"}]), "Volume name 'v' is used more than once."),
    (td([c("app")], volumes=[{"name": "bad name"}]),
     "Volume name should be 1-255 letters (uppercase and lowercase), numbers, underscores and hyphens."),
    (td([c("app")], volumes=[{"name": "v", "host": {"sourcePath": "/srv"},
                              "dockerVolumeConfiguration": {"scope": "shared"}}]),
     "Volume 'v' can have only one of 'host', 'dockerVolumeConfiguration' and 'efsVolumeConfiguration'."),
    (td([c("app")], volumes=[{"name": "v", "dockerVolumeConfiguration": {"scope": "task", "autoprovision": False}}]),
     "When 'scope' parameter is 'task', 'autoprovision' must either not be specified or set to 'True'."),
    (td([c("app")], volumes=[{"name": "v", "efsVolumeConfiguration": {
        "fileSystemId": "fs-1", "authorizationConfig": {"iam": "ENABLED"}}}]),
     "Volume 'v': transit encryption must be enabled in efsVolumeConfiguration when IAM authorization or an "
     "access point is used."),
    (td([c("app")], volumes=[{"name": "v", "efsVolumeConfiguration": {
        "fileSystemId": "fs-1", "rootDirectory": "/data", "transitEncryption": "ENABLED",
        "authorizationConfig": {"accessPointId": "fsap-1"}}}]),
     'When using an EFS access point, the root directory must either be set to "/" or be omitted.'),
    # Linux parameters
    (td([c("app", linuxParameters={"capabilities": {"add": ["CAP_NET_ADMIN"]}})]),
     "Invalid 'linuxParameters.capabilities.add' setting for container 'app': 'CAP_NET_ADMIN' is not a Linux "
     "capability ECS supports."),
    (td([c("app", linuxParameters={"tmpfs": [{"containerPath": "/scratch", "size": 0}]})]),
     "Invalid 'linuxParameters.tmpfs' setting for container 'app': size must be greater than 0."),
    # Fargate
    (fargate([c("app")], ipcMode="task"), "Tasks using the Fargate launch type do not support ipcMode."),
    (fargate([c("app")], pidMode="host"),
     "Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is "
     "'task'."),
    (fargate([c("app", privileged=True)]),
     "Tasks using the Fargate launch type do not support privileged containers (container 'app')."),
    (fargate([c("app", linuxParameters={"devices": [{"hostPath": "/dev/fuse"}]})]),
     "Tasks using the Fargate launch type do not support linuxParameters.devices (container 'app')."),
    (fargate([c("app")], volumes=[{"name": "v", "dockerVolumeConfiguration": {"scope": "shared"}}]),
     "Tasks using the Fargate launch type do not support dockerVolumeConfiguration."),
]


def test_every_refusal_has_ecs_code_and_message(ecs):
    for request, message in REFUSALS:
        assert ecs.error("RegisterTaskDefinition", **request) == ("ClientException", message), request
    # Nothing was registered on the way.
    assert ecs("ListTaskDefinitionFamilies")["families"] == []


def test_refusals_through_the_aws_cli(kecs):
    cli = Ecs(kecs, "cli")
    # One of each kind: the CLI sends the same JSON as boto3, so the rest follow.
    for i in (0, 3, 5, 9, 11, 15, 21):
        request, message = REFUSALS[i]
        assert cli.error("RegisterTaskDefinition", **request) == ("ClientException", message), request


def test_model_checks_answer_first_in_ecs_words(ecs):
    # The front end's enum check, in ECS's "<member> should be one of [...]" wording.
    code, message = ecs.error("RegisterTaskDefinition", **td(
        [c("app", dependsOn=[{"containerName": "side", "condition": "READY"}]), c("side")]))
    assert (code, message) == ("InvalidParameterException",
                               "condition should be one of [START,COMPLETE,SUCCESS,HEALTHY]")
    code, message = ecs.error("RegisterTaskDefinition", **td([c("app")], pidMode="container"))
    assert (code, message) == ("InvalidParameterException", "pidMode should be one of [host,task]")


FULL = [
    c("app",
      essential=True,
      healthCheck=CHECK,
      dependsOn=[{"containerName": "init", "condition": "SUCCESS"},
                 {"containerName": "db", "condition": "HEALTHY"}],
      startTimeout=60,
      stopTimeout=10,
      mountPoints=[{"sourceVolume": "data", "containerPath": "/data", "readOnly": True},
                   {"sourceVolume": "scratch", "containerPath": "/scratch", "readOnly": False}],
      linuxParameters={"capabilities": {"add": ["NET_ADMIN"], "drop": ["NET_RAW"]},
                       "initProcessEnabled": True, "sharedMemorySize": 64,
                       "tmpfs": [{"containerPath": "/run", "size": 16, "mountOptions": ["noexec"]}],
                       "devices": [{"hostPath": "/dev/null", "containerPath": "/dev/nothing",
                                    "permissions": ["read"]}]},
      privileged=True,
      systemControls=[{"namespace": "net.core.somaxconn", "value": "1024"}],
      dockerLabels={"team": "web", "tier": "front"}),
    c("init", essential=False, command=["true"], volumesFrom=[{"sourceContainer": "app", "readOnly": True}]),
    c("db", essential=False, healthCheck={"command": ["CMD", "true"]}),
]
VOLUMES = [
    {"name": "data", "host": {"sourcePath": "/srv/data"}},
    {"name": "scratch", "host": {}},
    {"name": "cache", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": True, "driver": "local",
                                                    "labels": {"a": "b"}}},
    {"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-12345678", "rootDirectory": "/",
                                               "transitEncryption": "ENABLED",
                                               "authorizationConfig": {"accessPointId": "fsap-1",
                                                                       "iam": "ENABLED"}}},
]


@pytest.mark.parametrize("mode", ["boto3", "cli"])
def test_describe_task_definition_shows_the_settings_as_sent(kecs, mode):
    ecs = Ecs(kecs, mode)
    sent = td(FULL, volumes=VOLUMES, pidMode="task", ipcMode="host",
              taskRoleArn="arn:aws:iam::000000000000:role/app")
    registered = ecs("RegisterTaskDefinition", **sent)["taskDefinition"]
    described = ecs("DescribeTaskDefinition", taskDefinition="settings")["taskDefinition"]
    assert registered == described
    for got, want in zip(described["containerDefinitions"], FULL):
        for key, value in want.items():
            assert got[key] == value, (want["name"], key)
    assert described["volumes"] == VOLUMES
    assert described["pidMode"] == "task"
    assert described["ipcMode"] == "host"
    assert described["taskRoleArn"] == "arn:aws:iam::000000000000:role/app"


def test_a_task_of_such_a_definition_runs_with_health_shown(kecs, ecs):
    poll = kecs.client("ecs")
    ecs("RegisterTaskDefinition", **td(FULL, volumes=VOLUMES, networkMode="bridge"))
    [task] = ecs("RunTask", taskDefinition="settings",
                 overrides={"taskRoleArn": "arn:aws:iam::000000000000:role/override"})["tasks"]
    # DescribeTasks shows healthStatus on the task and on each container, as on AWS.
    assert task["healthStatus"] == "UNKNOWN"
    assert [x["healthStatus"] for x in task["containers"]] == ["UNKNOWN"] * 3
    assert task["overrides"]["taskRoleArn"] == "arn:aws:iam::000000000000:role/override"
    # kecs's own part (metadata and credentials ids) never shows.
    text = str(poll.describe_tasks(cluster="default", tasks=[task["taskArn"]]))
    for secret in ("credentialsId", "metadataId", "169.254.170.2"):
        assert secret not in text
    # The simulated runtime takes the task to RUNNING with these settings.
    wait_for(lambda: all_status(poll, "default", [task["taskArn"]], "RUNNING"), what="task RUNNING")
    [shown] = poll.describe_tasks(cluster="default", tasks=[task["taskArn"]])["tasks"]
    assert "healthStatus" in shown and all("healthStatus" in x for x in shown["containers"])


def test_a_role_override_that_names_no_role_is_refused(ecs):
    ecs("RegisterTaskDefinition", **td([c("app")]))
    assert ecs.error("RunTask", taskDefinition="settings", overrides={"taskRoleArn": "not a role"}) == (
        "InvalidParameterException", "overrides.taskRoleArn should be the ARN or the name of an IAM role.")


@pytest.mark.parametrize("mode", ["boto3", "cli"])
def test_an_efs_volume_without_root_directory_comes_back_with_slash(kecs, mode):
    # ECS fills rootDirectory with "/" (the file system's root); the rest stays as sent.
    ecs = Ecs(kecs, mode)
    sent = td([c("app")], volumes=[{"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-12345678"}},
                                   {"name": "sub", "efsVolumeConfiguration": {"fileSystemId": "fs-12345678",
                                                                              "rootDirectory": "/data"}}])
    registered = ecs("RegisterTaskDefinition", **sent)["taskDefinition"]
    assert registered["volumes"] == [
        {"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-12345678", "rootDirectory": "/"}},
        {"name": "sub", "efsVolumeConfiguration": {"fileSystemId": "fs-12345678", "rootDirectory": "/data"}}]
    described = ecs("DescribeTaskDefinition", taskDefinition=sent["family"])["taskDefinition"]
    assert described["volumes"] == registered["volumes"]
