"""Issue 2: the daemon, the protocols' error shapes, and durable state."""
import json
import urllib.error
import urllib.request

import botocore.exceptions
import pytest


def raw_post(kecs, body, headers):
    req = urllib.request.Request(kecs.endpoint + "/", data=body.encode(), method="POST",
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


ECS = "AmazonEC2ContainerServiceV20141113"
JSON_HEADERS = {"Content-Type": "application/x-amz-json-1.1"}


def test_list_clusters_empty_for_any_credentials_and_region(kecs):
    for region in ("us-east-1", "eu-west-3", "ap-southeast-2"):
        assert kecs.aws("ecs", "list-clusters", region=region) == {"clusterArns": []}


def test_health_reports_version_runtime_and_database(kecs):
    h = kecs.health()
    assert h["status"] == "ok"
    assert h["runtime"]["name"] == "simulated" and h["runtime"]["dataPlane"] is False
    assert "no data plane" in h["runtime"]["description"]
    assert h["database"]["status"] == "ok" and h["database"]["schemaVersion"] >= 1
    assert h["uptimeSeconds"] >= 0 and h["version"]


def test_unknown_operation_is_unknown_operation_exception(kecs):
    status, headers, body = raw_post(kecs, "{}", {**JSON_HEADERS, "X-Amz-Target": f"{ECS}.MakeCoffee"})
    assert status == 400
    assert json.loads(body) == {"__type": "UnknownOperationException"}
    assert headers.get("x-amzn-RequestId")


def test_unknown_operation_through_boto3(kecs):
    # boto3 cannot send a made-up operation, so send a real one to a made-up service prefix.
    status, _, body = raw_post(kecs, "{}", {**JSON_HEADERS, "X-Amz-Target": "NoSuchService_20200101.ListThings"})
    assert status == 400 and json.loads(body)["__type"] == "UnknownOperationException"


def test_malformed_json_body_is_serialization_exception(kecs):
    status, headers, body = raw_post(kecs, '{"clusterName": ', {**JSON_HEADERS, "X-Amz-Target": f"{ECS}.CreateCluster"})
    assert status == 400
    assert json.loads(body)["__type"] == "SerializationException"
    assert headers["Content-Type"] == "application/x-amz-json-1.1"


def test_wrong_member_type_is_serialization_exception(kecs):
    status, _, body = raw_post(kecs, '{"clusterName": 42}', {**JSON_HEADERS, "X-Amz-Target": f"{ECS}.CreateCluster"})
    assert status == 400
    assert json.loads(body) == {"__type": "SerializationException",
                                "Message": "NUMBER_VALUE can not be converted to a String"}
    status, _, body = raw_post(kecs, '{"clusters": "web"}', {**JSON_HEADERS, "X-Amz-Target": f"{ECS}.DescribeClusters"})
    assert json.loads(body)["Message"] == "Expected list or null"


def test_missing_required_member(kecs):
    status, _, body = raw_post(kecs, "{}", {**JSON_HEADERS, "X-Amz-Target": f"{ECS}.DescribeTaskDefinition"})
    assert status == 400
    err = json.loads(body)
    assert err["__type"] == "InvalidParameterException"
    assert err["message"] == ("1 validation error detected: Value null at 'taskDefinition' failed "
                              "to satisfy constraint: Member must not be null")


def test_missing_required_member_through_boto3_without_client_validation(kecs):
    import boto3
    import botocore.config
    c = boto3.client("ecs", endpoint_url=kecs.endpoint, region_name="us-east-1",
                     aws_access_key_id="a", aws_secret_access_key="b",
                     config=botocore.config.Config(parameter_validation=False,
                                                   retries={"max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        c.describe_task_definition()
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "Member must not be null" in e.value.response["Error"]["Message"]


def test_invalid_enum_in_ecs_wording(kecs):
    status, _, body = raw_post(kecs, '{"include": ["EVERYTHING"]}',
                               {**JSON_HEADERS, "X-Amz-Target": f"{ECS}.DescribeClusters"})
    assert status == 400
    err = json.loads(body)
    assert err["__type"] == "InvalidParameterException"
    assert err["message"].startswith("include should be one of [")


def test_ec2_unknown_action_is_xml_invalid_action(kecs):
    status, headers, body = raw_post(kecs, "Action=DescribeUnicorns&Version=2016-11-15",
                                     {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400
    assert headers["Content-Type"].startswith("text/xml")
    assert "<Response><Errors><Error><Code>InvalidAction</Code>" in body
    assert "The action DescribeUnicorns is not valid for this web service." in body
    assert "<RequestID>" in body


def test_data_survives_restart(kecs):
    kecs.aws("ecs", "create-cluster", "--cluster-name", "durable")
    kecs.aws("ecs", "register-task-definition", "--family", "keep",
             "--container-definitions", json.dumps([{"name": "c", "image": "busybox", "memory": 64}]))
    kecs.restart()
    assert kecs.aws("ecs", "list-clusters")["clusterArns"] == [
        "arn:aws:ecs:us-east-1:000000000000:cluster/durable"]
    td = kecs.aws("ecs", "describe-task-definition", "--task-definition", "keep")
    assert td["taskDefinition"]["revision"] == 1


def test_regions_are_separate(kecs):
    kecs.aws("ecs", "create-cluster", "--cluster-name", "east", region="us-east-1")
    assert kecs.aws("ecs", "list-clusters", region="us-west-2") == {"clusterArns": []}
    west = kecs.client("ecs", region="us-west-2")
    west.create_cluster(clusterName="west")
    assert west.list_clusters()["clusterArns"] == ["arn:aws:ecs:us-west-2:000000000000:cluster/west"]


def test_keep_alive_and_concurrent_connections(kecs):
    import concurrent.futures
    import http.client
    def worker(_):
        conn = http.client.HTTPConnection("127.0.0.1", kecs.port, timeout=10)
        for _ in range(20):
            conn.request("POST", "/", body="{}", headers={**JSON_HEADERS, "X-Amz-Target": f"{ECS}.ListClusters"})
            r = conn.getresponse()
            assert r.status == 200
            r.read()
        conn.close()
        return True
    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        assert all(ex.map(worker, range(64)))


@pytest.mark.kecs_env(KECS_AUTH_KEYS="AKIDKECSTEST:secret")
def test_signature_verification_when_keys_configured(kecs):
    assert kecs.aws("ecs", "list-clusters") == {"clusterArns": []}   # signed with the right secret
    import boto3
    import botocore.config
    bad = boto3.client("ecs", endpoint_url=kecs.endpoint, region_name="us-east-1",
                       aws_access_key_id="AKIDKECSTEST", aws_secret_access_key="wrong",
                       config=botocore.config.Config(retries={"max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bad.list_clusters()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    unknown = boto3.client("ec2", endpoint_url=kecs.endpoint, region_name="us-east-1",
                           aws_access_key_id="NOSUCHKEY", aws_secret_access_key="x",
                           config=botocore.config.Config(retries={"max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        unknown.describe_vpcs()
    assert e.value.response["Error"]["Code"] == "AuthFailure"
    status, _, body = raw_post(kecs, "{}", {**JSON_HEADERS, "X-Amz-Target": f"{ECS}.ListClusters"})
    assert status == 400 and json.loads(body)["__type"] == "MissingAuthenticationTokenException"


def test_graceful_shutdown_closes_database(kecs):
    kecs.aws("ecs", "create-cluster", "--cluster-name", "c1")
    import os
    import signal
    rc = kecs.stop(sig=signal.SIGINT)
    assert rc == 0
    assert "stopped cleanly" in kecs.log()
    # A clean close folds the WAL back into the database file.
    wal = os.path.join(kecs.data_dir, "kecs.db-wal")
    assert not os.path.exists(wal) or os.path.getsize(wal) == 0
    kecs.start()
    assert len(kecs.aws("ecs", "list-clusters")["clusterArns"]) == 1


def test_corrupt_database_stops_startup_with_clear_message(tmp_path):
    import subprocess
    from conftest import KECS_BIN, free_port
    db = tmp_path / "kecs.db"
    db.write_bytes(b"this is not a sqlite database" * 200)
    p = subprocess.run([KECS_BIN, "start", "--runtime", "simulated", "--data-dir", str(tmp_path),
                        "--port", str(free_port())], capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    assert "not a usable kecs database" in p.stderr
    assert db.read_bytes() == b"this is not a sqlite database" * 200   # untouched


def test_secrets_are_refused_on_the_command_line(tmp_path):
    """A key pair or registry password on argv is readable by every user in /proc: refused,
    without echoing it."""
    import subprocess
    from conftest import KECS_BIN, free_port
    for flag, value in (("--auth-keys", "AKIDKECSTEST:s3cr3t-argv"),
                        ("--registry-credentials", "docker.io=u:s3cr3t-argv")):
        p = subprocess.run([KECS_BIN, "start", "--runtime", "simulated", "--data-dir", str(tmp_path),
                            "--port", str(free_port()), flag, value],
                           capture_output=True, text=True, timeout=20)
        assert p.returncode == 2, p.stderr
        assert f"{flag} takes no value on the command line" in p.stderr
        assert "s3cr3t-argv" not in p.stderr + p.stdout


def test_auth_keys_from_a_file(tmp_path):
    from conftest import boto_client, daemon_with_keys
    d = daemon_with_keys(tmp_path, "AKIDKECSFILE:from-a-file\n")
    d.start()
    try:
        assert boto_client(d, "ecs", "AKIDKECSFILE", "from-a-file").list_clusters()["clusterArns"] == []
        bad = boto_client(d, "ecs", "AKIDKECSFILE", "wrong")
        with pytest.raises(botocore.exceptions.ClientError) as e:
            bad.list_clusters()
        assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
        assert "from-a-file" not in d.log()
    finally:
        assert d.stop() == 0


def test_newer_schema_stops_startup(tmp_path):
    import sqlite3
    import subprocess
    from conftest import KECS_BIN, free_port
    con = sqlite3.connect(tmp_path / "kecs.db")
    con.execute("PRAGMA user_version = 9999")
    con.commit()
    con.close()
    p = subprocess.run([KECS_BIN, "start", "--runtime", "simulated", "--data-dir", str(tmp_path),
                        "--port", str(free_port())], capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    assert "schema version 9999, newer than this kecs understands" in p.stderr


def test_cli_version_status_and_env_vars(kecs):
    import os
    import subprocess
    from conftest import KECS_BIN
    v = subprocess.run([KECS_BIN, "version"], capture_output=True, text=True)
    assert v.returncode == 0 and v.stdout.startswith("kecs ")
    s = subprocess.run([KECS_BIN, "status"], env={**os.environ, "KECS_PORT": str(kecs.port)},
                       capture_output=True, text=True)
    assert s.returncode == 0 and json.loads(s.stdout)["status"] == "ok"
    from conftest import free_port
    dead = subprocess.run([KECS_BIN, "status", "--port", str(free_port())], capture_output=True, text=True)
    assert dead.returncode != 0 and "no kecs daemon" in dead.stderr
    bad = subprocess.run([KECS_BIN, "start", "--runtime", "docker"], capture_output=True, text=True)
    assert bad.returncode != 0 and "--runtime must be local, simulated or kubernetes" in bad.stderr


@pytest.mark.kecs_args("--log-format", "json")
def test_json_log_format(kecs):
    kecs.aws("ecs", "list-clusters")
    lines = [l for l in kecs.log().splitlines() if l.startswith("{")]
    assert lines, kecs.log()
    for l in lines:
        rec = json.loads(l)
        assert {"time", "level", "msg"} <= rec.keys()
