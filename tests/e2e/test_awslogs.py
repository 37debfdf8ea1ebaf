"""The awslogs log driver: RegisterTaskDefinition's checks of logConfiguration (boto3), and
real runc tasks whose output reaches their CloudWatch Logs stream and shows in
`aws logs tail --follow` (/usr/bin/aws)."""
import os
import queue
import subprocess
import threading
import time

import botocore

from conftest import wait_for
from test_ecs_support import client_error

AWS = "/usr/bin/aws"


def container(name="app", **extra):
    c = {"name": name, "image": "busybox", "memory": 64, "essential": True}
    c.update(extra)
    return c


def awslogs(**options):
    return {"logDriver": "awslogs", "options": options}


def register(ecs, log_configuration, **extra):
    return ecs.register_task_definition(family="logs", containerDefinitions=[
        container(logConfiguration=log_configuration)], **extra)


GOOD = {"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}


def test_awslogs_options_are_accepted_and_kept(kecs):
    ecs = kecs.client("ecs")
    options = dict(GOOD, **{"awslogs-create-group": "true", "mode": "non-blocking", "max-buffer-size": "4m",
                            "awslogs-multiline-pattern": "^INFO"})
    td = register(ecs, awslogs(**options))["taskDefinition"]
    assert td["containerDefinitions"][0]["logConfiguration"] == {"logDriver": "awslogs", "options": options}


def test_log_driver_must_be_one_of_the_models(kecs):
    ecs = kecs.client("ecs")
    # A value outside the model's enum is refused by the request validation, before the
    # task definition's own checks.
    code, message = client_error(register, ecs=ecs, log_configuration={"logDriver": "journal"})
    assert code == "InvalidParameterException" and message.startswith("logDriver should be one of"), message
    # Fargate takes three of them.
    err = client_error(ecs.register_task_definition, family="logs", requiresCompatibilities=["FARGATE"],
                       networkMode="awsvpc", cpu="256", memory="512",
                       containerDefinitions=[container(logConfiguration={"logDriver": "syslog"})])
    assert err == ("ClientException", "syslog is not a valid log driver. Must be one of [awslogs,splunk,awsfirelens]")


def test_awslogs_option_names_and_required_options(kecs):
    ecs = kecs.client("ecs")
    assert client_error(register, ecs=ecs, log_configuration=awslogs(**GOOD, log_key="x")) == (
        "ClientException", "Log driver awslogs disallows options: log_key")
    assert client_error(register, ecs=ecs, log_configuration=awslogs(**{"awslogs-stream-prefix": "p"})) == (
        "ClientException", "Log driver awslogs requires options: awslogs-region, awslogs-group")
    assert client_error(register, ecs=ecs,
                        log_configuration=awslogs(**GOOD, **{"awslogs-create-group": "false"})) == (
        "ClientException", "Log driver awslogs option 'awslogs-create-group' should only be set to 'true', else omit option.")
    err = client_error(ecs.register_task_definition, family="logs", requiresCompatibilities=["FARGATE"],
                       networkMode="awsvpc", cpu="256", memory="512",
                       containerDefinitions=[container(logConfiguration=awslogs(**GOOD))])
    assert err == ("ClientException",
                   "Fargate requires task definition to have execution role ARN to support log driver awslogs.")


# ---- Through the CloudWatch Logs service ----

def follow_logs(d, group, wanted, timeout=30):
    """Runs `aws logs tail GROUP --follow` until every string in `wanted` has been printed
    (or `timeout` seconds pass) and returns what it printed."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDKECSTEST", AWS_SECRET_ACCESS_KEY="secret",
               AWS_DEFAULT_REGION="us-east-1", PYTHONUNBUFFERED="1", AWS_PAGER="")
    tail = subprocess.Popen([AWS, "--endpoint-url", d.endpoint, "logs", "tail", group,
                             "--follow", "--since", "1h", "--format", "short"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    # A reader thread feeds a queue, so the deadline holds even when aws logs tail prints
    # nothing (a bare readline() would block forever).
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in tail.stdout], daemon=True).start()
    seen = ""
    try:
        deadline = time.time() + timeout
        while time.time() < deadline and not all(w in seen for w in wanted):
            try:
                seen += lines.get(timeout=0.5)
            except queue.Empty:
                if tail.poll() is not None:
                    break
    finally:
        tail.kill()
        tail.wait(timeout=10)
    return seen


def run_printer(d, group, script, **options):
    ecs = d.client("ecs")
    opts = {"awslogs-group": group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "e2e"}
    opts.update(options)
    ecs.register_task_definition(family="printer", containerDefinitions=[
        container(image="nginx", entryPoint=["/bin/sh", "-c", script], logConfiguration=awslogs(**opts))])
    task = ecs.run_task(taskDefinition="printer")["tasks"][0]
    return ecs, task, task["taskArn"].rsplit("/", 1)[1]


def test_task_output_reaches_its_stream_and_logs_tail(local_kecs):
    logs = local_kecs.client("logs")
    logs.create_log_group(logGroupName="/e2e/printer")
    ecs, task, task_id = run_printer(local_kecs, "/e2e/printer",
                                     "for i in 1 2 3 4 5; do echo hello $i; sleep 0.2; done; sleep 30")
    stream = f"e2e/app/{task_id}"

    def messages():
        try:
            out = logs.get_log_events(logGroupName="/e2e/printer", logStreamName=stream, startFromHead=True)
        except botocore.exceptions.ClientError:
            return []
        return [e["message"] for e in out["events"]]

    wait_for(lambda: len(messages()) >= 5, timeout=60, what="five events")
    assert messages() == [f"hello {i}" for i in range(1, 6)]
    seen = follow_logs(local_kecs, "/e2e/printer", ["hello 1", "hello 5"])
    assert "hello 1" in seen and "hello 5" in seen, seen
    # Wait for it: the fixture's teardown stops only tasks still listed as RUNNING, then
    # expects every task namespace gone.
    ecs.stop_task(task=task["taskArn"])
    wait_for(lambda: ecs.describe_tasks(tasks=[task["taskArn"]])["tasks"][0]["lastStatus"] == "STOPPED",
             timeout=90, what="the task stopped")


def test_a_missing_group_stops_a_blocking_task(local_kecs):
    ecs, task, _ = run_printer(local_kecs, "/e2e/missing", "echo hi", mode="blocking")
    wait_for(lambda: ecs.describe_tasks(tasks=[task["taskArn"]])["tasks"][0]["lastStatus"] == "STOPPED",
             timeout=60, what="the task stopped")
    t = ecs.describe_tasks(tasks=[task["taskArn"]])["tasks"][0]
    assert t["stopCode"] == "TaskFailedToStart"
    assert "ResourceNotFoundException: The specified log group does not exist." in t["stoppedReason"]
    assert t["containers"][0]["reason"].startswith("CannotStartContainerError: ")

