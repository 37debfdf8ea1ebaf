"""Issue 11, defects 1, 7 and 11: kecs's own endpoints (/health, /_kecs/v1/logs) validate
their input and go through the same SigV4 authentication as the APIs; a payload hash that
does not match the body is refused; malformed HTTP gets an answer."""
import hashlib
import os
import json
import shutil
import socket
import subprocess
import tempfile

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from conftest import KECS_BIN, Daemon

ECS = "AmazonEC2ContainerServiceV20141113"
TASK_ID = "0123456789abcdef0123456789abcdef"
SECRET = "s3cr3t-kecs-e2e-value"


def raw(port, data, timeout=10):
    """Sends raw bytes; returns (status, headers text, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, head.decode(errors="replace"), body.decode(errors="replace")


def get(port, target, headers=None):
    lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return raw(port, ("\r\n".join(lines) + "\r\n\r\n").encode())


def signed_headers(kecs, method, target, body=b"", extra=None, secret=SECRET):
    """SigV4 headers by botocore for a request to the daemon."""
    url = kecs.endpoint + target
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=dict(extra or {}))
    creds = botocore.credentials.Credentials("AKIDKECSTEST", secret)
    botocore.auth.SigV4Auth(creds, "ecs", "us-east-1").add_auth(req)
    return {k: v for k, v in req.headers.items()}


@pytest.fixture
def authed(request):
    data_dir = tempfile.mkdtemp(prefix="kecs-e2e-auth-")
    d = Daemon(data_dir, extra_env={"KECS_AUTH_KEYS": f"AKIDKECSTEST:{SECRET}"})
    d.start()
    yield d
    rc = d.stop()
    shutil.rmtree(data_dir, ignore_errors=True)
    assert rc == 0


# --- defect 1: the logs endpoint ------------------------------------------------------------

TRAVERSALS = [
    f"task={TASK_ID}&container=../../../../etc/passwd",
    f"task={TASK_ID}&container=..%2F..%2F..%2Fetc%2Fpasswd",
    f"task={TASK_ID}&container=%2e%2e%2f%2e%2e%2fkecs",
    f"task={TASK_ID}&container=%252e%252e%252fkecs",
    f"task={TASK_ID}&container=web%00",
    f"task={TASK_ID}&container=..%2Fkecs.db%00",
    f"task={TASK_ID}&container=%2Fetc%2Fpasswd",
    f"task={TASK_ID}&container=/etc/passwd",
    f"task={TASK_ID}&container=..",
    f"task={TASK_ID}&container=a%5Cb",
    f"task={TASK_ID}&container=" + "a" * 256,
    "task=..%2F..%2Fetc&container=web",
    "task=../../etc&container=web",
    f"task={TASK_ID}%00&container=web",
    "task=%2Froot&container=web",
    "task=arn:aws:ecs:us-east-1:000000000000:task/c/..%2F..%2Fx&container=web",
    "container=web",
    f"task={TASK_ID}&container=web&offset=-1",
    f"task={TASK_ID}&container=web&offset=1e3",
    f"task={TASK_ID}&container=web&container=other",
    f"task={TASK_ID}&container=web&path=/etc/passwd",
    f"task={TASK_ID}&container=%zz",
]


@pytest.mark.parametrize("query", TRAVERSALS)
def test_logs_endpoint_refuses_traversal_and_bad_input_with_json_400(kecs, query):
    status, head, body = get(kecs.port, "/_kecs/v1/logs?" + query)
    assert status == 400, body
    assert "application/json" in head
    err = json.loads(body)
    assert err["__type"] == "InvalidParameterException" and err["message"]
    assert "root:" not in body


def test_logs_endpoint_accepts_valid_names_and_answers_json_404_without_logs(kecs):
    for query in (f"task={TASK_ID}&container=web-1_a",
                  f"task=arn:aws:ecs:us-east-1:000000000000:task/default/{TASK_ID}&container=web",
                  f"task={TASK_ID}&container={'a' * 255}&offset=0"):
        status, head, body = get(kecs.port, "/_kecs/v1/logs?" + query)
        assert status == 404, (query, body)
        assert json.loads(body)["__type"] == "ResourceNotFoundException"


def test_unknown_internal_endpoint_is_json_404(kecs):
    status, _, body = get(kecs.port, "/_kecs/v1/../../etc/passwd")
    assert status == 404 and json.loads(body)["message"]


# --- defect 7: authentication of every endpoint ---------------------------------------------

def test_health_shows_no_data_dir(kecs):
    status, _, body = get(kecs.port, "/health")
    assert status == 200
    assert kecs.data_dir not in body and "kecs.db" not in body
    assert "path" not in json.loads(body)["database"]


@pytest.mark.parametrize("target", ["/health", f"/_kecs/v1/logs?task={TASK_ID}&container=web"])
def test_unsigned_internal_requests_are_refused_when_keys_are_configured(authed, target):
    status, _, body = get(authed.port, target)
    assert status == 400
    assert json.loads(body)["__type"] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize("target", ["/health", f"/_kecs/v1/logs?task={TASK_ID}&container=web"])
def test_wrongly_signed_internal_requests_are_refused(authed, target):
    status, _, body = get(authed.port, target, signed_headers(authed, "GET", target, secret="wrong"))
    assert status == 400
    assert json.loads(body)["__type"] == "InvalidSignatureException"


def test_signed_internal_requests_are_served(authed):
    status, _, body = get(authed.port, "/health", signed_headers(authed, "GET", "/health"))
    assert status == 200, body
    assert json.loads(body)["status"] == "ok"
    assert authed.data_dir not in body
    target = f"/_kecs/v1/logs?task={TASK_ID}&container=..%2Fkecs"
    status, _, body = get(authed.port, target, signed_headers(authed, "GET", target))
    assert status == 400 and json.loads(body)["__type"] == "InvalidParameterException"


def create_cluster_request(authed, name):
    body = json.dumps({"clusterName": name}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{ECS}.CreateCluster",
               "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}
    return body, signed_headers(authed, "POST", "/", body, headers)


def post(port, headers, body):
    lines = ["POST / HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
             f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("content-length",)]
    return raw(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def test_signed_request_replayed_with_another_body_is_refused(authed):
    body, headers = create_cluster_request(authed, "original")
    status, _, answer = post(authed.port, headers, body)
    assert status == 200, answer
    evil = json.dumps({"clusterName": "replayed"}).encode()
    status, _, answer = post(authed.port, headers, evil)
    assert status == 400, answer
    assert json.loads(answer)["__type"] == "XAmzContentSHA256Mismatch"
    import boto3
    ecs = boto3.client("ecs", endpoint_url=authed.endpoint, region_name="us-east-1",
                       aws_access_key_id="AKIDKECSTEST", aws_secret_access_key=SECRET)
    names = [a.rsplit("/", 1)[1] for a in ecs.list_clusters()["clusterArns"]]
    assert names == ["original"]


def test_unsigned_payload_is_refused(authed):
    body = b"{}"
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{ECS}.ListClusters",
               "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    status, _, answer = post(authed.port, signed_headers(authed, "POST", "/", body, headers), body)
    assert status == 400 and json.loads(answer)["__type"] == "XAmzContentSHA256Mismatch"


def kecs_cli(daemon, *args, env_keys=None):
    env = {"PATH": "/usr/bin:/bin", "KECS_PORT": str(daemon.port), "KECS_HOST": "127.0.0.1"}
    if env_keys:
        env["KECS_AUTH_KEYS"] = env_keys
    return subprocess.run([KECS_BIN] + list(args), env=env, capture_output=True, text=True, timeout=30)


def test_cli_signs_its_requests_with_the_daemons_keys(authed):
    p = kecs_cli(authed, "status", env_keys=f"AKIDKECSTEST:{SECRET}")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["status"] == "ok"
    p = kecs_cli(authed, "logs", TASK_ID, "web", env_keys=f"AKIDKECSTEST:{SECRET}")
    assert p.returncode == 1
    assert "keeps no logs" in p.stderr            # authenticated, then the runtime's answer
    assert SECRET not in p.stderr + p.stdout


def test_cli_without_keys_is_refused_and_never_prints_a_secret(authed):
    p = kecs_cli(authed, "status")
    assert p.returncode == 1
    assert "MissingAuthenticationToken" in p.stderr
    p = kecs_cli(authed, "status", env_keys="AKIDKECSTEST:wrong-secret-value")
    assert p.returncode == 1
    assert "InvalidSignatureException" in p.stderr and "wrong-secret-value" not in p.stderr
    assert SECRET not in authed.log()


# --- defect 11: HTTP edge cases ---------------------------------------------------------------

def test_oversized_headers_get_431(kecs):
    status, _, body = raw(kecs.port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
    assert status == 431 and json.loads(body)["message"]


def test_duplicate_content_length_gets_400(kecs):
    status, _, _ = raw(kecs.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                                  b"Content-Length: 2\r\n\r\n{}")
    assert status == 400
    status, _, _ = raw(kecs.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                                  b"Content-Length: 5\r\n\r\n{}")
    assert status == 400


def test_malformed_request_line_gets_400(kecs):
    status, _, body = raw(kecs.port, b"THIS IS NOT HTTP\r\n\r\n")
    assert status == 400 and json.loads(body)["message"]
    # The daemon still serves afterwards.
    assert kecs.health()["status"] == "ok"


# --- defect 10: the connection cap -----------------------------------------------------------

def test_idle_connections_beyond_the_cap_do_not_lock_the_daemon_out():
    data_dir = tempfile.mkdtemp(prefix="kecs-e2e-cap-")
    d = Daemon(data_dir, extra_env={"KECS_MAX_CONNECTIONS": "4"})
    d.start()
    idle = []
    try:
        for _ in range(12):
            idle.append(socket.create_connection(("127.0.0.1", d.port), timeout=10))
        status, _, body = get(d.port, "/health")
        assert status == 200 and json.loads(body)["status"] == "ok"
        # The oldest idle connections were closed to make room.
        idle[0].settimeout(10)
        assert idle[0].recv(1) == b""
    finally:
        for s in idle:
            s.close()
        rc = d.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    assert rc == 0


# --- defect 1 with the local runtime (root): a real task and its real log dir ---------------

def test_local_logs_are_read_only_from_the_tasks_log_dir(local_kecs):
    from conftest import wait_for
    ecs = local_kecs.client("ecs")
    ecs.create_cluster(clusterName="logs")
    td = ecs.register_task_definition(family="echo", containerDefinitions=[{
        "name": "main", "image": "nginx:latest", "essential": True, "entryPoint": ["sh", "-c"],
        "command": ["echo from-the-container; sleep 60"], "stopTimeout": 1}])["taskDefinition"]["taskDefinitionArn"]
    arn = ecs.run_task(cluster="logs", taskDefinition=td)["tasks"][0]["taskArn"]
    task_id = arn.rsplit("/", 1)[1]

    def logs(query):
        return get(local_kecs.port, "/_kecs/v1/logs?" + query)

    out = wait_for(lambda: (lambda r: r if r[0] == 200 and r[2] else None)(
        logs(f"task={task_id}&container=main")), what="log output")
    assert out[2] == "from-the-container\n"
    status, _, body = logs(f"task={arn}")   # the one container, by ARN
    assert status == 200 and body == "from-the-container\n"
    # A file planted beside the logs as a symlink to a host file is not followed.
    log_dir = os.path.join(local_kecs.data_dir, "runtime", "tasks", task_id, "logs")
    os.symlink("/etc/passwd", os.path.join(log_dir, "planted.log"))
    status, _, body = logs(f"task={task_id}&container=planted")
    assert status == 404 and "root:" not in body
    for bad in ("..%2F..%2F..%2F..%2Fkecs", "..%2Fcontainers%2Fmain%2Fconfig", "%2Fetc%2Fpasswd",
                "main%00", "main.log", "..", "main%2F..%2Fmain"):
        status, _, body = logs(f"task={task_id}&container={bad}")
        assert status == 400, (bad, body)
        assert json.loads(body)["__type"] == "InvalidParameterException"
    # The fixture's teardown stops the task and checks its kernel objects are gone.
