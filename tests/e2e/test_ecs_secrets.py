"""Issue 14: container `secrets` resolve when a task starts (root only: real runc tasks).

SSM parameters (String and SecureString, by name, ARN and version selector) reach the
container's environment; the values never show in DescribeTasks, the task definition, the
task metadata endpoint, the daemon's log or the task record, and the bundle's config.json
that holds them is readable by root only. A parameter that does not exist stops the task
with ECS's ResourceInitializationError, naming the parameter and no value. Secrets Manager
cases come with the Secrets Manager service."""
import crypt  # bcrypt for docker-registry's htpasswd (libxcrypt's $2b$)
import glob
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import build_busybox_image, free_port, run as run_cmd, wait_for
from test_awslogs import follow_logs
from test_local_runtime import Env

API_URL = "https://api.example.test/v1-first"
API_URL_2 = "https://api.example.test/v2-current"
TOKEN = "tok-S3cr3t-e2e-value"
VALUES = (API_URL, API_URL_2, TOKEN)
ROLE = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"
RESOURCE_INIT = ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
                 "retrieval failed: ")

# Prints the variables, then asks the task metadata endpoint for the task and counts the
# lines that hold the token's value (grep -c -F "$TOKEN": the value itself is never in the
# definition).
SCRIPT = r'''
echo "API_URL=$API_URL"
echo "API_URL_V1=$API_URL_V1"
echo "TOKEN=$TOKEN"
for i in 1 2 3 4 5; do timeout 5 wget -qO- "$ECS_CONTAINER_METADATA_URI_V4/task" > /tmp/m && break; sleep 1; done
echo "metadata-task-arn=$(grep -c -F TaskARN /tmp/m)"
echo "metadata-token=$(grep -c -F "$TOKEN" /tmp/m) metadata-url=$(grep -c -F "$API_URL" /tmp/m)"
sleep 60
'''


@pytest.fixture
def env(local_kecs):
    e = Env(local_kecs)
    e.ssm = local_kecs.client("ssm")
    e.ssm.put_parameter(Name="/e2e/api-url", Value=API_URL, Type="String")
    e.ssm.put_parameter(Name="/e2e/api-url", Value=API_URL_2, Type="String", Overwrite=True)
    e.ssm.put_parameter(Name="/e2e/token", Value=TOKEN, Type="SecureString")
    return e


def register(env, family, secrets, **kw):
    return env.register(family, [{
        "name": "app", "image": "nginx:latest", "essential": True, "entryPoint": ["sh", "-c"],
        "command": [SCRIPT], "stopTimeout": 1, "secrets": secrets}],
        networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        executionRoleArn=ROLE, **kw)


def run(env, td):
    return env.run(td, [env.default_subnets()[0]["SubnetId"]])


def assert_no_values(text, where):
    for v in VALUES:
        assert v not in text, f"a secret value shows in {where}"


def test_ssm_string_and_secure_string_reach_the_container_and_nowhere_else(env, local_kecs):
    td = register(env, "secrets-ok", [
        {"name": "API_URL", "valueFrom": "/e2e/api-url"},
        {"name": "API_URL_V1", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/e2e/api-url:1"},
        {"name": "TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/e2e/token"},
    ])
    arn = run(env, td)
    env.wait_running(arn)
    out = wait_for(lambda: (lambda o: o if "metadata-token=" in o else None)(env.logs(arn)),
                   timeout=30, what="the container's output")
    lines = out.splitlines()
    assert f"API_URL={API_URL_2}" in lines
    assert f"API_URL_V1={API_URL}" in lines
    assert f"TOKEN={TOKEN}" in lines
    # The metadata endpoint answered, and shows no value.
    assert "metadata-task-arn=1" in lines, out
    assert "metadata-token=0 metadata-url=0" in lines, out

    task = env.describe(arn)
    assert_no_values(json.dumps(task, default=str), "DescribeTasks")
    tdesc = env.ecs.describe_task_definition(taskDefinition=td)["taskDefinition"]
    assert tdesc["containerDefinitions"][0]["secrets"][0] == {"name": "API_URL", "valueFrom": "/e2e/api-url"}
    assert {"name": "ecs.capability.secrets.ssm.environment-variables"} in tdesc["requiresAttributes"]
    assert_no_values(json.dumps(tdesc, default=str), "DescribeTaskDefinition")

    # The bundle's config.json holds the values: root only.
    task_id = arn.rsplit("/", 1)[1]
    configs = glob.glob(os.path.join(local_kecs.data_dir, "**", task_id, "containers", "app", "config.json"),
                        recursive=True)
    assert configs, "no config.json for the task"
    for c in configs:
        assert stat.S_IMODE(os.stat(c).st_mode) == 0o600, c

    env.ecs.stop_task(cluster="local", task=arn)
    env.wait_stopped(arn)
    assert_no_values(local_kecs.log(), "the daemon's log")
    # The store (SQLite) keeps the task's references only, and the SecureString sealed.
    dbs = glob.glob(os.path.join(local_kecs.data_dir, "*.db*"))
    assert dbs
    for db in dbs:
        with open(db, "rb") as f:
            assert TOKEN.encode() not in f.read(), db


def test_a_missing_parameter_stops_the_task_naming_it_and_no_value(env, local_kecs):
    td = register(env, "secrets-missing", [
        {"name": "TOKEN", "valueFrom": "/e2e/token"},
        {"name": "API_URL", "valueFrom": "/e2e/does-not-exist"},
        {"name": "API_URL_V1", "valueFrom": "/e2e/api-url:9"},
    ])
    arn = run(env, td)
    t = env.wait_stopped(arn)
    assert t["stopCode"] == "TaskFailedToStart"
    assert t["stoppedReason"] == (RESOURCE_INIT + "unable to retrieve secrets from ssm: service call has been "
                                  "retried 1 time(s): invalid ssm parameters: /e2e/does-not-exist,/e2e/api-url:9")
    assert_no_values(json.dumps(t, default=str), "DescribeTasks")
    assert_no_values(local_kecs.log(), "the daemon's log")
    assert env.logs(arn) == ""


def test_secret_shapes_are_validated_at_registration(env):
    def error(containers, **kw):
        with pytest.raises(ClientError) as e:
            env.register("bad-secrets", containers, **kw)
        return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]

    base = {"name": "app", "image": "nginx:latest", "memory": 64}
    assert error([dict(base, secrets=[{"name": "X", "valueFrom": ""}])]) == (
        "ClientException", "Invalid 'secrets' setting for container 'app': valueFrom should not be blank.")
    assert error([dict(base, secrets=[{"name": "", "valueFrom": "/a"}])]) == (
        "ClientException", "Invalid 'secrets' setting for container 'app': name should not be blank.")
    assert error([dict(base, logConfiguration={"logDriver": "splunk", "secretOptions": [
        {"name": "splunk-token", "valueFrom": ""}]})]) == (
        "ClientException",
        "Invalid 'logConfiguration.secretOptions' setting for container 'app': valueFrom should not be blank.")
    # kecs' awslogs driver reads its options from the task definition only.
    assert error([dict(base, logConfiguration={"logDriver": "awslogs", "options": {"awslogs-region": "us-east-1"},
                                               "secretOptions": [{"name": "awslogs-group", "valueFrom": "/e2e/g"}]})]) == (
        "ClientException", "Log driver awslogs takes no secretOptions; set these in options instead: awslogs-group")
    assert error([dict(base, repositoryCredentials={"credentialsParameter": ""})]) == (
        "ClientException",
        "Invalid 'repositoryCredentials' setting for container 'app': credentialsParameter should not be blank.")
    # kecs is lenient about roles (it has no IAM): no executionRoleArn is needed here.
    env.register("roleless-secrets", [dict(base, secrets=[{"name": "X", "valueFrom": "/e2e/api-url"}])])


@pytest.mark.kecs_args("--strict")
def test_strict_mode_asks_for_the_execution_role_as_ecs_does(kecs):
    ecs = kecs.client("ecs")
    base = {"name": "app", "image": "nginx:latest", "memory": 64}

    def error(container, **kw):
        with pytest.raises(ClientError) as e:
            ecs.register_task_definition(family="strict-secrets", containerDefinitions=[container], **kw)
        return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]

    assert error(dict(base, secrets=[{"name": "X", "valueFrom": "/a"}])) == (
        "ClientException",
        "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.")
    assert error(dict(base, repositoryCredentials={"credentialsParameter": "pull-creds"})) == (
        "ClientException",
        "Private repository authentication requires that the task definition specify a value for executionRoleArn.")
    ecs.register_task_definition(family="strict-secrets", executionRoleArn=ROLE,
                                 containerDefinitions=[dict(base, secrets=[{"name": "X", "valueFrom": "/a"}])])


DB_PASSWORD = "DB-pa55-e2e-value"


def test_a_secrets_manager_json_key_and_a_parameter_reach_awslogs_and_logs_tail(env, local_kecs):
    """The issue's first check: a container prints DB_PASSWORD (a JSON key of a Secrets
    Manager secret) and API_URL (an SSM parameter) through awslogs, and both show in
    `aws logs tail --follow`."""
    sm = local_kecs.client("secretsmanager")
    arn = sm.create_secret(Name="e2e/db", SecretString=json.dumps({"username": "app", "password": DB_PASSWORD}))["ARN"]
    td = env.register("secrets-awslogs", [{
        "name": "app", "image": "nginx:latest", "essential": True, "entryPoint": ["sh", "-c"],
        "command": ['echo "DB_PASSWORD=$DB_PASSWORD"; echo "API_URL=$API_URL"; sleep 60'], "stopTimeout": 1,
        "secrets": [{"name": "DB_PASSWORD", "valueFrom": arn + ":password::"},
                    {"name": "API_URL", "valueFrom": "/e2e/api-url"}],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": "/e2e/secrets", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web",
            "awslogs-create-group": "true"}}}],
        networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512", executionRoleArn=ROLE)
    task = run(env, td)
    env.wait_running(task)
    seen = follow_logs(local_kecs, "/e2e/secrets", [f"DB_PASSWORD={DB_PASSWORD}", f"API_URL={API_URL_2}"],
                       timeout=60)
    assert f"DB_PASSWORD={DB_PASSWORD}" in seen and f"API_URL={API_URL_2}" in seen, seen
    task_id = task.rsplit("/", 1)[1]
    streams = local_kecs.client("logs").describe_log_streams(logGroupName="/e2e/secrets")["logStreams"]
    assert [s["logStreamName"] for s in streams] == [f"web/app/{task_id}"]
    assert DB_PASSWORD not in json.dumps(env.describe(task), default=str)
    env.ecs.stop_task(cluster="local", task=task)
    env.wait_stopped(task)
    assert DB_PASSWORD not in local_kecs.log()


def test_a_missing_secrets_manager_secret_stops_the_task_naming_it(env, local_kecs):
    """The issue's second check, for Secrets Manager: the reason names the secret, never a
    value."""
    sm = local_kecs.client("secretsmanager")
    arn = sm.create_secret(Name="e2e/present", SecretString=json.dumps({"password": DB_PASSWORD}))["ARN"]
    missing = "arn:aws:secretsmanager:us-east-1:000000000000:secret:e2e/missing-AbCdEf"
    td = register(env, "secrets-asm-missing", [
        {"name": "DB_PASSWORD", "valueFrom": arn + ":password::"},
        {"name": "OTHER", "valueFrom": missing}])
    t = env.wait_stopped(run(env, td))
    assert t["stopCode"] == "TaskFailedToStart"
    assert t["stoppedReason"].startswith(RESOURCE_INIT + "unable to retrieve secret from asm: "), t["stoppedReason"]
    assert missing in t["stoppedReason"], t["stoppedReason"]
    assert DB_PASSWORD not in json.dumps(t, default=str)
    assert DB_PASSWORD not in local_kecs.log()


# A registry that asks for a password, on a port chosen now so that the daemon's
# --insecure-registry flag can name it (plain HTTP on the loopback).
AUTH_REGISTRY = f"127.0.0.1:{free_port()}"
PULL_PASSWORD = "Pu11-e2e-value"


def start_password_registry(root, user, password):
    with open(os.path.join(root, "htpasswd"), "w") as f:
        f.write(f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))}\n")
    cfg = os.path.join(root, "config.yml")
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
                f"http:\n  addr: {AUTH_REGISTRY}\n"
                f"auth:\n  htpasswd:\n    realm: kecs-e2e\n    path: {root}/htpasswd\n")
    proc = subprocess.Popen(["docker-registry", "serve", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://{AUTH_REGISTRY}/v2/", timeout=1)
        except urllib.error.HTTPError as e:
            if e.code == 401:  # it answers, and asks for credentials
                return proc
        except Exception:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("docker-registry did not start")


@pytest.mark.kecs_args("--insecure-registry", AUTH_REGISTRY)
def test_repository_credentials_pull_from_a_registry_that_asks_for_a_password(env, local_kecs):
    """repositoryCredentials: a Secrets Manager secret holding a username and password is
    what the pull presents; without it the same registry refuses the pull."""
    root = tempfile.mkdtemp(prefix="kecs-authreg-")
    proc = start_password_registry(root, "puller", PULL_PASSWORD)
    try:
        tar = build_busybox_image(os.path.join(root, "img"), "private:latest",
                                  ["/bin/sh", "-c", "echo from-private; sleep 600"])
        for tag in ("v1", "v2"):
            run_cmd(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false", "--dest-creds",
                     "puller:" + PULL_PASSWORD, "docker-archive:" + tar, f"docker://{AUTH_REGISTRY}/team/private:{tag}"])
        sm = local_kecs.client("secretsmanager")
        secret = sm.create_secret(Name="e2e/pull",
                                  SecretString=json.dumps({"username": "puller", "password": PULL_PASSWORD}))["ARN"]

        def definition(family, tag, **extra):
            return env.register(family, [dict({
                "name": "app", "image": f"{AUTH_REGISTRY}/team/private:{tag}", "essential": True,
                "stopTimeout": 1}, **extra)],
                networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
                executionRoleArn=ROLE)

        ok = run(env, definition("private-ok", "v1", repositoryCredentials={"credentialsParameter": secret}))
        env.wait_running(ok, timeout=120)
        wait_for(lambda: "from-private" in env.logs(ok), timeout=30, what="the container's output")
        # By name too (ECS accepts the secret's name in the task's region).
        by_name = run(env, definition("private-name", "v1", repositoryCredentials={"credentialsParameter": "e2e/pull"}))
        env.wait_running(by_name, timeout=120)

        refused = env.wait_stopped(run(env, definition("private-none", "v2")), timeout=120)
        assert refused["stopCode"] == "TaskFailedToStart"
        assert refused["containers"][0]["reason"].startswith("CannotPullContainerError"), refused["containers"][0]
        for arn in (ok, by_name):
            env.ecs.stop_task(cluster="local", task=arn)
            env.wait_stopped(arn)
        assert PULL_PASSWORD not in local_kecs.log()
        assert os.listdir(os.path.join(local_kecs.data_dir, "images", "auth")) == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
