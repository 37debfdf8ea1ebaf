"""ECS Exec end to end (issue 18): ExecuteCommand through boto3 (with kecs's ECS model),
its errors, and its session: the Session Manager data channel over the returned stream URL
(a WebSocket on kecs's own port), spoken by `kecs exec` and by a small client here written
from the session-manager-plugin's protocol (src/message/clientmessage.go,
src/datachannel/streaming.go): the token message, the handshake, acknowledgements.

The error-path tests run on the simulated runtime; the sessions run real containers on the
local runtime (root only)."""
import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import time
import urllib.parse
import uuid

import botocore.exceptions
import pytest

from conftest import KECS_BIN, is_root, wait_for
from test_ecs_support import container, ecs_client_with_model, install_ecs_model

ROLE = "arn:aws:iam::000000000000:role/ecs-exec-task-role"
NOT_ENABLED = ("The execute command failed because execute command was not enabled when the task was run or the "
               "execute command agent isn\u2019t running. Wait and try again or run a new task with execute command "
               "enabled and try again.")


def error(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    r = e.value.response
    return r["Error"]["Code"], r["Error"]["Message"]


# ---- a minimal WebSocket client (RFC 6455), enough for the data channel ----

class WebSocket:
    def __init__(self, url, timeout=30):
        u = urllib.parse.urlparse(url)
        assert u.scheme == "ws", url
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, "connection closed during the WebSocket handshake"
            head += chunk
        lines = head.decode().split("\r\n")
        assert " 101 " in lines[0], head
        headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        assert headers.get("sec-websocket-accept") == accept.decode(), head

    def send(self, data, text=False):
        data = data.encode() if isinstance(data, str) else data
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x80 | (0x1 if text else 0x2)])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError
            out += chunk
        return out

    def recv(self):
        """(opcode, payload) of the next whole message; opcode 8 is a close."""
        payload, opcode = b"", None
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            data = self._exact(n)
            if opcode is None:
                opcode = b0 & 0x0F  # later frames of a message are continuations (0)
            payload += data
            if b0 & 0x80:
                return opcode, payload

    def close(self):
        self.sock.close()


# ---- the data channel's messages (clientmessage.go) ----

def encode(message_type, seq, payload_type, payload, flags=0):
    payload = payload.encode() if isinstance(payload, str) else payload
    mid = uuid.uuid4().bytes
    return (struct.pack(">I", 116) + message_type.encode().ljust(32, b" ") + struct.pack(">I", 1)
            + struct.pack(">Q", int(time.time() * 1000)) + struct.pack(">q", seq) + struct.pack(">Q", flags)
            + mid[8:] + mid[:8] + hashlib.sha256(payload).digest() + struct.pack(">I", payload_type)
            + struct.pack(">I", len(payload)) + payload)


def decode(frame):
    hl = struct.unpack(">I", frame[0:4])[0]
    assert hl == 116
    m = {"type": frame[4:36].strip(b" \0").decode(), "seq": struct.unpack(">q", frame[48:56])[0],
         "id": uuid.UUID(bytes=frame[72:80] + frame[64:72]), "payload_type": struct.unpack(">I", frame[112:116])[0]}
    n = struct.unpack(">I", frame[116:120])[0]
    m["payload"] = frame[120:120 + n]
    assert len(m["payload"]) == n
    if n:
        assert hashlib.sha256(m["payload"]).digest() == frame[80:112], "payload digest"
    return m


def ack(m):
    return encode("acknowledge", 0, 0, json.dumps({
        "AcknowledgedMessageType": m["type"], "AcknowledgedMessageId": str(m["id"]),
        "AcknowledgedMessageSequenceNumber": m["seq"], "IsSequentialMessage": True}))


def run_session(session, stdin=b""):
    """Speaks the plugin's protocol over the session's stream URL: returns (output, the
    channel_closed JSON, acknowledged sequence numbers of what this client sent)."""
    ws = WebSocket(session["streamUrl"])
    ws.send(json.dumps({"MessageSchemaVersion": "1.0", "RequestId": str(uuid.uuid4()),
                        "TokenValue": session["tokenValue"], "ClientId": str(uuid.uuid4()),
                        "ClientVersion": "e2e"}), text=True)
    out, closed, seq, acked, expected = b"", None, 0, set(), 0
    try:
        while closed is None:
            op, data = ws.recv()
            if op == 8:
                break
            m = decode(data)
            if m["type"] == "acknowledge":
                acked.add(json.loads(m["payload"])["AcknowledgedMessageSequenceNumber"])
                continue
            if m["type"] == "channel_closed":
                closed = json.loads(m["payload"])
                break
            assert m["type"] == "output_stream_data", m
            ws.send(ack(m))
            assert m["seq"] == expected, (m["seq"], expected)
            expected += 1
            if m["payload_type"] == 5:  # HandshakeRequest
                req = json.loads(m["payload"])
                assert req["RequestedClientActions"][0]["ActionType"] == "SessionType"
                ws.send(encode("input_stream_data", seq, 6, json.dumps({
                    "ClientVersion": "e2e", "ProcessedClientActions": [
                        {"ActionType": "SessionType", "ActionStatus": 1}], "Errors": []})))
                seq += 1
            elif m["payload_type"] == 7:  # HandshakeComplete
                ws.send(encode("input_stream_data", seq, 3, json.dumps({"cols": 100, "rows": 30})))
                seq += 1
                if stdin:
                    ws.send(encode("input_stream_data", seq, 1, stdin))
                    seq += 1
            elif m["payload_type"] == 1:
                out += m["payload"]
    finally:
        ws.close()
    return out, closed, acked, seq


# ---- errors (simulated runtime) ----

@pytest.fixture
def ecs(kecs):
    return ecs_client_with_model(kecs, install_ecs_model(kecs.data_dir))


def running_task(ecs, cluster, **kw):
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(family="x", containerDefinitions=[container("app", memory=32)])
    arn = ecs.run_task(cluster=cluster, taskDefinition="x", **kw)["tasks"][0]["taskArn"]
    return wait_for(lambda: (lambda t: t if t["lastStatus"] == "RUNNING" else None)(
        ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]), what="task RUNNING")


def test_execute_command_errors(ecs, kecs):
    plain = running_task(ecs, "ex")
    assert plain["enableExecuteCommand"] is False
    assert "managedAgents" not in plain["containers"][0]
    code, msg = error(ecs.execute_command, cluster="ex", task=plain["taskArn"], command="sh", interactive=True)
    assert (code, msg) == ("InvalidParameterException", NOT_ENABLED)

    enabled = running_task(ecs, "ex", enableExecuteCommand=True)
    assert enabled["enableExecuteCommand"] is True
    [agent] = enabled["containers"][0]["managedAgents"]
    assert (agent["name"], agent["lastStatus"]) == ("ExecuteCommandAgent", "RUNNING") and "lastStartedAt" in agent

    code, msg = error(ecs.execute_command, cluster="ex", task=enabled["taskArn"], command="sh", interactive=False)
    assert (code, msg) == ("InvalidParameterException", "Interactive is the only mode supported currently.")
    code, _ = error(ecs.execute_command, cluster="nope", task=enabled["taskArn"], command="sh", interactive=True)
    assert code == "ClusterNotFoundException"
    code, msg = error(ecs.execute_command, cluster="ex", task="0" * 32, command="sh", interactive=True)
    assert (code, msg) == ("InvalidParameterException", "The referenced task was not found.")
    code, _ = error(ecs.execute_command, cluster="ex", task=enabled["taskArn"], container="other",
                    command="sh", interactive=True)
    assert code == "InvalidParameterException"
    # Without a task role the SSM agent cannot connect (ECS's message for it).
    code, msg = error(ecs.execute_command, cluster="ex", task=enabled["taskArn"], command="sh", interactive=True)
    assert (code, msg) == ("TargetNotConnectedException",
                           "The execute command failed due to an internal error. Try again later.")
    # With one, the simulated runtime still runs no process to enter.
    with_role = running_task(ecs, "ex", enableExecuteCommand=True, overrides={"taskRoleArn": ROLE})
    code, msg = error(ecs.execute_command, cluster="ex", task=with_role["taskArn"], command="sh", interactive=True)
    assert code == "TargetNotConnectedException" and "simulated" in msg

    # A stopped task cannot be entered either.
    ecs.stop_task(cluster="ex", task=enabled["taskArn"])
    wait_for(lambda: ecs.describe_tasks(cluster="ex", tasks=[enabled["taskArn"]])["tasks"][0]["lastStatus"] == "STOPPED",
             what="task STOPPED")
    code, msg = error(ecs.execute_command, cluster="ex", task=enabled["taskArn"], command="sh", interactive=True)
    assert (code, msg) == ("InvalidParameterException", NOT_ENABLED)


def test_stream_refuses_an_unknown_session(kecs):
    ws = WebSocket(f"ws://127.0.0.1:{kecs.port}/_kecs/v1/exec/ecs-execute-command-0123456789abcdef0")
    ws.send(json.dumps({"MessageSchemaVersion": "1.0", "RequestId": str(uuid.uuid4()), "TokenValue": "x" * 64,
                        "ClientId": "c", "ClientVersion": "e2e"}), text=True)
    op, data = ws.recv()
    ws.close()
    assert op == 8 and struct.unpack(">H", data[:2])[0] == 1008  # policy violation
    assert "x" * 64 not in kecs.log()  # tokens are never logged


def test_kecs_exec_reports_api_errors(kecs):
    ecs = kecs.client("ecs")
    ecs.create_cluster(clusterName="default")
    p = subprocess.run([KECS_BIN, "exec", "--port", str(kecs.port), "0" * 32, "--", "sh"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 1
    assert "InvalidParameterException: The referenced task was not found." in p.stderr


# ---- sessions (local runtime, root) ----

@pytest.fixture
def local_ecs(local_kecs):
    if not is_root():
        pytest.skip("the local runtime needs root")
    client = ecs_client_with_model(local_kecs, install_ecs_model(local_kecs.data_dir))
    client.create_cluster(clusterName="default")
    client.register_task_definition(family="sleeper", containerDefinitions=[{
        "name": "app", "image": "nginx:latest", "essential": True, "entryPoint": ["sleep", "600"],
        "stopTimeout": 1}], taskRoleArn=ROLE)
    return client


def test_exec_runs_commands_in_the_container(local_kecs, local_ecs):
    arn = local_ecs.run_task(taskDefinition="sleeper", enableExecuteCommand=True)["tasks"][0]["taskArn"]
    t = wait_for(lambda: (lambda t: t if t["lastStatus"] == "RUNNING" else None)(
        local_ecs.describe_tasks(tasks=[arn])["tasks"][0]), timeout=90, what="task RUNNING")
    assert t["containers"][0]["managedAgents"][0]["lastStatus"] == "RUNNING"

    # `kecs exec`: output streamed, the command's exit code returned.
    p = subprocess.run([KECS_BIN, "exec", "--port", str(local_kecs.port), arn, "--",
                        "sh", "-c", "echo hi; exit 3"], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert b"hi" in p.stdout

    # The plugin's protocol, spoken by hand; the command runs in the container's own
    # filesystem (busybox's /www) and reads what is typed.
    out = local_ecs.execute_command(task=arn, command="sh -c 'ls /www; read x; echo got-$x; exit 3'",
                                    interactive=True)
    assert out["interactive"] is True and out["containerName"] == "app" and out["taskArn"] == arn
    assert out["containerArn"] == t["containers"][0]["containerArn"]
    session = out["session"]
    assert session["streamUrl"] == f"ws://127.0.0.1:{local_kecs.port}/_kecs/v1/exec/{session['sessionId']}"
    output, closed, acked, sent = run_session(session, stdin=b"abc\r")
    assert b"index.html" in output and b"got-abc" in output, output
    assert closed["ExitCode"] == 3 and closed["SessionId"] == session["sessionId"], closed
    assert acked == set(range(sent)), (acked, sent)  # every message this client sent, acknowledged

    # The token is single use.
    ws = WebSocket(session["streamUrl"])
    ws.send(json.dumps({"TokenValue": session["tokenValue"]}), text=True)
    op, data = ws.recv()
    ws.close()
    assert op == 8 and struct.unpack(">H", data[:2])[0] == 1008
    assert session["tokenValue"] not in local_kecs.log()


def sleepers(marker):
    """Host pids of processes whose command line is `sleep <marker>`."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().split(b"\0")[:2] == [b"sleep", marker.encode()]:
                    pids.append(pid)
        except OSError:
            pass
    return pids


def test_exec_reads_stdin_and_a_client_that_leaves_takes_its_command_along(local_kecs, local_ecs):
    arn = local_ecs.run_task(taskDefinition="sleeper", enableExecuteCommand=True)["tasks"][0]["taskArn"]
    wait_for(lambda: local_ecs.describe_tasks(tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING",
             timeout=90, what="task RUNNING")
    # `kecs exec` with a pipe on stdin: its bytes reach the command.
    p = subprocess.run([KECS_BIN, "exec", "--port", str(local_kecs.port), arn, "--", "sh", "-c",
                        "read x; echo got-$x"], input=b"abc\n", capture_output=True, timeout=60)
    assert p.returncode == 0 and b"got-abc" in p.stdout, (p.stdout, p.stderr)

    # A client that goes away mid-command: the command is killed.
    session = local_ecs.execute_command(task=arn, command="sleep 4321", interactive=True)["session"]
    ws = WebSocket(session["streamUrl"])
    ws.send(json.dumps({"TokenValue": session["tokenValue"]}), text=True)
    wait_for(lambda: sleepers("4321"), what="the command running")
    ws.close()
    wait_for(lambda: sleepers("4321"), until=lambda pids: pids == [], what="the command killed")
