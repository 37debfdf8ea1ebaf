"""Issue 16: `kecs start --runtime kubernetes` against the fake API server of the tests
(tests/unit/support/fake_kube_apiserver.h, run as the program kecs-fake-kube-apiserver with
its simulated kubelet and registry). The README tour's commands, through the real aws CLI,
must produce the namespace, the pods, the NodePort Service, the NetworkPolicies and the
headless Service, each valid against the Kubernetes OpenAPI schema (tests/k8s/validate.mjs);
DescribeTasks must report what the pods' status says; a restart must adopt every pod and
leak nothing."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

from conftest import Daemon, free_port, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "..", "..", "build")
FAKE_BIN = os.environ.get("KECS_FAKE_KUBE_BIN") or os.path.join(BUILD, "tests", "kecs-fake-kube-apiserver")
VALIDATE = os.path.join(HERE, "..", "k8s", "validate.mjs")
REGION = "us-east-1"
NS = "tour-us-east-1"
IMAGE = "demo/httpd:latest"

pytestmark = pytest.mark.xdist_group("k8s")


class FakeKube:
    """The fake API server as a process: its URL, token and kubeconfig, and plain HTTP reads
    and writes of its objects (as kubectl would make them)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.port_file = os.path.join(workdir, "fake.port")
        self.kubeconfig = os.path.join(workdir, "kubeconfig")
        self.log_path = os.path.join(workdir, "fake.log")
        args = [FAKE_BIN, "--port", "0", "--port-file", self.port_file, "--kubeconfig-out", self.kubeconfig,
                "--kubelet", "--node", "node-a:4:8Gi:us-east-1a", "--node", "node-b:4:8Gi:us-east-1b",
                "--image", IMAGE]
        self.proc = subprocess.Popen(args, stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(self.port_file) and open(self.port_file).read().strip()
                 and os.path.exists(self.kubeconfig), timeout=20, what="the fake API server")
        self.port = int(open(self.port_file).read().strip())
        self.url = f"http://127.0.0.1:{self.port}"
        import yaml  # python3-yaml (Debian), a dependency of awscli
        cfg = yaml.safe_load(open(self.kubeconfig))
        self.token = cfg["users"][0]["user"].get("token", "")

    def request(self, method, path, body=None, content_type="application/json"):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        if body is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get(self, path):
        code, body = self.request("GET", path)
        return body if code == 200 else None

    def items(self, path):
        body = self.get(path)
        return body["items"] if body else []

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        try:
            return open(self.log_path, errors="replace").read()[-4000:]
        except OSError:
            return ""


def as_sent(obj):
    """The object without what the API server and the kubelet add (status, resourceVersion,
    uid, managedFields, timestamps): what kecs applied."""
    obj = json.loads(json.dumps(obj))
    obj.pop("status", None)
    md = obj.get("metadata", {})
    for k in ("resourceVersion", "uid", "managedFields", "creationTimestamp", "deletionTimestamp",
              "deletionGracePeriodSeconds", "generation"):
        md.pop(k, None)
    return obj


def validate(objects):
    """validate.mjs over each object, one file each."""
    with tempfile.TemporaryDirectory(prefix="kecs-k8s-objects-") as d:
        paths = []
        for i, o in enumerate(objects):
            paths.append(os.path.join(d, f"{i:03d}-{o['kind']}.json"))
            with open(paths[-1], "w") as f:
                json.dump(o, f)
        return subprocess.run(["node", VALIDATE, *paths], capture_output=True, text=True, timeout=120)


@pytest.fixture
def kube():
    if not os.path.exists(FAKE_BIN):
        pytest.fail(f"{FAKE_BIN} is not built (it is built with the tests)")
    work = tempfile.mkdtemp(prefix="kecs-k8s-e2e-")
    fake = FakeKube(work)
    data_dir = os.path.join(work, "data")
    os.makedirs(data_dir)
    d = Daemon(data_dir, runtime="kubernetes", extra_args=[
        "--kubeconfig", fake.kubeconfig,
        "--registry-mirror", f"docker.io=127.0.0.1:{fake.port}",
        "--insecure-registry", f"127.0.0.1:{fake.port}"])
    d.start()
    yield fake, d
    rc = d.stop()
    fake.stop()
    print("---- kecs log ----\n" + d.log())
    print("---- fake log ----\n" + fake.log())
    shutil.rmtree(work, ignore_errors=True)
    assert rc == 0, "kecs did not shut down cleanly"


def pods(fake):
    return {p["metadata"]["name"]: p for p in fake.items(f"/api/v1/namespaces/{NS}/pods")}


def running_task(d, arn):
    t = d.aws("ecs", "describe-tasks", "--cluster", "tour", "--tasks", arn)["tasks"][0]
    return t if t["lastStatus"] == "RUNNING" else None


def tour_cluster(d):
    """The tour's cluster and `web` task definition; the subnet of us-east-1a."""
    subnet = d.aws("ec2", "describe-subnets", "--filters", "Name=availability-zone,Values=us-east-1a",
                   "--query", "Subnets[0].SubnetId")
    d.aws("ecs", "create-cluster", "--cluster-name", "tour")
    d.aws("ecs", "register-task-definition", "--family", "web", "--network-mode", "awsvpc",
          "--requires-compatibilities", "FARGATE", "--cpu", "256", "--memory", "512",
          "--container-definitions", json.dumps([{"name": "web", "image": IMAGE, "stopTimeout": 2,
                                                  "portMappings": [{"containerPort": 80}]}]))
    return subnet


def test_the_tour_makes_the_objects_and_describe_tasks_reports_the_pods(kube):
    fake, d = kube
    subnet = tour_cluster(d)
    net = {"awsvpcConfiguration": {"subnets": [subnet], "assignPublicIp": "ENABLED"}}
    arn = d.aws("ecs", "run-task", "--cluster", "tour", "--task-definition", "web", "--launch-type", "FARGATE",
                "--network-configuration", json.dumps(net))["tasks"][0]["taskArn"]
    task_id = arn.rsplit("/", 1)[1]
    task = wait_for(lambda: running_task(d, arn), timeout=60, what="the task RUNNING")

    # The namespace, the pod and its NodePort Service.
    assert fake.get(f"/api/v1/namespaces/{NS}") is not None
    pod = fake.get(f"/api/v1/namespaces/{NS}/pods/task-{task_id}")
    assert pod is not None, pods(fake).keys()
    labels, ann = pod["metadata"]["labels"], pod["metadata"]["annotations"]
    assert labels["kecs.dev/task-id"] == task_id and labels["kecs.dev/managed-by"] == "kecs"
    assert labels["kecs.dev/task-family"] == "web" and labels["kecs.dev/task-revision"] == "1"
    assert labels["kecs.dev/launch-type"] == "FARGATE" and labels["kecs.dev/cluster"] == "tour"
    assert ann["kecs.dev/task-arn"] == arn
    assert ann["ecs.amazonaws.com/network-mode"] == "awsvpc"
    assert ann["ecs.amazonaws.com/subnets"] == subnet
    assert ann["ecs.amazonaws.com/assign-public-ip"] == "ENABLED"
    assert "@sha256:" in pod["spec"]["containers"][0]["image"], "the pod runs the digest PullImages resolved"
    digest = pod["spec"]["containers"][0]["image"].split("@", 1)[1]
    assert task["containers"][0]["imageDigest"] == digest
    svc = fake.get(f"/api/v1/namespaces/{NS}/services/task-{task_id}")
    assert svc and svc["spec"]["type"] == "NodePort"
    host_port = int(task["containers"][0]["networkBindings"][0]["hostPort"])
    assert svc["spec"]["ports"][0]["nodePort"] == 30000 + (host_port - 32000)
    assert svc["metadata"]["labels"]["kecs.dev/type"] == "task-nodeport"

    # DescribeTasks reports the pod's IP as the ENI's.
    pod_ip = pod["status"]["podIP"]
    details = {x["name"]: x["value"] for x in task["attachments"][0]["details"]}
    assert details["privateIPv4Address"] == pod_ip
    assert task["containers"][0]["networkInterfaces"][0]["privateIpv4Address"] == pod_ip

    # Security groups: the backend admits tcp/80 from the frontend's group only.
    vpc = d.aws("ec2", "describe-vpcs", "--filters", "Name=is-default,Values=true")["Vpcs"][0]["VpcId"]
    front = d.aws("ec2", "create-security-group", "--group-name", "frontend", "--description", "f",
                  "--vpc-id", vpc)["GroupId"]
    back = d.aws("ec2", "create-security-group", "--group-name", "backend", "--description", "b",
                 "--vpc-id", vpc)["GroupId"]
    d.aws("ec2", "authorize-security-group-ingress", "--group-id", back, "--ip-permissions",
          json.dumps([{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                       "UserIdGroupPairs": [{"GroupId": front}]}]))
    # A Cloud Map service and an ECS service of three tasks in it.
    op = d.aws("servicediscovery", "create-private-dns-namespace", "--name", "shop.local", "--vpc", vpc)["OperationId"]
    cm_ns = d.aws("servicediscovery", "get-operation", "--operation-id", op)["Operation"]["Targets"]["NAMESPACE"]
    reg = d.aws("servicediscovery", "create-service", "--name", "backend", "--namespace-id", cm_ns,
                "--dns-config", "RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=A,TTL=10}]")["Service"]
    d.aws("ecs", "create-service", "--cluster", "tour", "--service-name", "backend", "--task-definition", "web",
          "--desired-count", "3", "--launch-type", "FARGATE",
          "--network-configuration", json.dumps({"awsvpcConfiguration": {"subnets": [subnet],
                                                                         "securityGroups": [back]}}),
          "--service-registries", f"registryArn={reg['Arn']}")
    d.aws("ecs", "wait", "services-stable", "--cluster", "tour", "--services", "backend")
    service_tasks = d.aws("ecs", "list-tasks", "--cluster", "tour", "--service-name", "backend")["taskArns"]
    assert len(service_tasks) == 3
    sd_label = "kecs.dev/sd-" + reg["Id"]
    members = [p for p in pods(fake).values() if p["metadata"]["labels"].get(sd_label) == "true"]
    assert len(members) == 3
    for p in members:
        assert p["metadata"]["labels"].get("kecs.dev/sg-" + back) == "true"
        assert p["metadata"]["annotations"]["ecs.amazonaws.com/security-groups"] == back
    headless = fake.get(f"/api/v1/namespaces/{NS}/services/sd-{reg['Id']}")
    assert headless and headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["selector"] == {sd_label: "true"}
    # Cloud Map answers with the pods' addresses.
    described = d.aws("ecs", "describe-tasks", "--cluster", "tour", "--tasks", *service_tasks)["tasks"]
    ips = sorted(t["containers"][0]["networkInterfaces"][0]["privateIpv4Address"] for t in described)
    assert ips == sorted(p["status"]["podIP"] for p in members)
    inst = d.client("servicediscovery").list_instances(ServiceId=reg["Id"])["Instances"]
    assert sorted(i["Attributes"]["AWS_INSTANCE_IPV4"] for i in inst) == ips
    # The CoreDNS rules name the headless Service.
    coredns = subprocess.run([os.environ.get("KECS_BIN") or os.path.join(BUILD, "src", "daemon", "kecs"), "kube",
                              "coredns", "--port", str(d.port)], capture_output=True, text=True, timeout=20)
    assert coredns.returncode == 0, coredns.stderr
    assert f"sd-{reg['Id']}.{NS}.svc.cluster.local." in coredns.stdout and "backend\\.shop\\.local" in coredns.stdout

    policy = wait_for(lambda: fake.get(
        f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies/sg-{back}"), timeout=10,
        what="the backend group's NetworkPolicy")
    ingress = policy["spec"]["ingress"]
    assert len(ingress) == 1 and ingress[0]["ports"] == [{"protocol": "TCP", "port": 80}]
    assert any(peer.get("podSelector", {}).get("matchLabels") == {"kecs.dev/sg-" + front: "true"}
               for peer in ingress[0]["from"])
    assert policy["spec"]["podSelector"]["matchLabels"] == {"kecs.dev/sg-" + back: "true"}
    # A rule change reaches the policy.
    d.aws("ec2", "authorize-security-group-ingress", "--group-id", back, "--protocol", "tcp", "--port", "8080",
          "--cidr", "10.0.0.0/8")
    wait_for(lambda: len(fake.get(f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies/sg-{back}")
                         ["spec"]["ingress"]) == 2, timeout=10, what="the new rule in the NetworkPolicy")

    # Everything kecs made is valid against the OpenAPI schema.
    made = [fake.get(f"/api/v1/namespaces/{NS}")]
    made += fake.items(f"/api/v1/namespaces/{NS}/pods")
    made += fake.items(f"/api/v1/namespaces/{NS}/services")
    made += fake.items(f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies")
    kinds = sorted({o["kind"] for o in made})
    assert kinds == ["Namespace", "NetworkPolicy", "Pod", "Service"], kinds
    p = validate([as_sent(o) for o in made])
    assert p.returncode == 0, p.stdout + p.stderr

    # The kubelet reports a container killed for its memory: the task stops with ECS's reason.
    victim = members[0]
    name = victim["metadata"]["name"]
    cname = victim["spec"]["containers"][0]["name"]
    status = victim["status"]
    status["containerStatuses"][0]["state"] = {"terminated": {
        "exitCode": 137, "reason": "OOMKilled", "startedAt": "2026-12-07T00:00:00Z",
        "finishedAt": "2026-12-07T00:00:05Z"}}
    status["containerStatuses"][0]["ready"] = False
    code, _ = fake.request("PATCH", f"/api/v1/namespaces/{NS}/pods/{name}/status", {"status": status},
                           "application/merge-patch+json")
    assert code == 200
    victim_arn = victim["metadata"]["annotations"]["kecs.dev/task-arn"]
    assert cname
    stopped = wait_for(lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
        d.aws("ecs", "describe-tasks", "--cluster", "tour", "--tasks", victim_arn)["tasks"][0]),
        timeout=30, what="the OOM-killed task STOPPED")
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert stopped["containers"][0]["exitCode"] == 137
    assert stopped["containers"][0]["reason"].startswith("OutOfMemoryError")
    # The service replaces it.
    d.aws("ecs", "wait", "services-stable", "--cluster", "tour", "--services", "backend")
    wait_for(lambda: len([p for p in pods(fake).values()
                          if p["metadata"]["labels"].get(sd_label) == "true"
                          and p.get("status", {}).get("phase") == "Running"]) == 3,
             timeout=60, what="three running backend pods again")


def test_a_restart_adopts_every_pod_and_leaks_nothing(kube):
    fake, d = kube
    subnet = tour_cluster(d)
    net = {"awsvpcConfiguration": {"subnets": [subnet], "assignPublicIp": "ENABLED"}}
    d.aws("ecs", "create-service", "--cluster", "tour", "--service-name", "web", "--task-definition", "web",
          "--desired-count", "3", "--launch-type", "FARGATE", "--network-configuration", json.dumps(net))
    d.aws("ecs", "wait", "services-stable", "--cluster", "tour", "--services", "web")
    before = {n: p["metadata"]["uid"] for n, p in pods(fake).items()}
    assert len(before) == 3
    services_before = {s["metadata"]["name"] for s in fake.items(f"/api/v1/namespaces/{NS}/services")}
    assert len(services_before) == 3

    d.stop()
    # While kecs is down, a pod of a task kecs never ran appears with its labels (left by
    # an earlier data dir): the restart's garbage collection deletes it.
    orphan = {"apiVersion": "v1", "kind": "Pod",
              "metadata": {"name": "task-" + "f" * 32, "namespace": NS,
                           "labels": {"kecs.dev/task-id": "f" * 32, "kecs.dev/managed-by": "kecs"}},
              "spec": {"containers": [{"name": "c", "image": IMAGE}], "restartPolicy": "Never"}}
    code, _ = fake.request("PATCH", f"/api/v1/namespaces/{NS}/pods/task-{'f' * 32}?fieldManager=test",
                           orphan, "application/apply-patch+yaml")
    assert code in (200, 201)
    d.start()
    wait_for(lambda: fake.get(f"/api/v1/namespaces/{NS}/pods/task-{'f' * 32}") is None, timeout=20,
             what="the orphan pod deleted")
    time.sleep(3)  # a few resyncs of the task controller
    after = {n: p["metadata"]["uid"] for n, p in pods(fake).items()}
    assert after == before, "the restart made or deleted pods of live tasks"
    d.aws("ecs", "wait", "services-stable", "--cluster", "tour", "--services", "web")
    assert len(d.aws("ecs", "list-tasks", "--cluster", "tour")["taskArns"]) == 3

    d.aws("ecs", "delete-service", "--cluster", "tour", "--service", "web", "--force")
    d.aws("ecs", "wait", "services-inactive", "--cluster", "tour", "--services", "web")
    wait_for(lambda: not pods(fake) and not fake.items(f"/api/v1/namespaces/{NS}/services"), timeout=60,
             what="every pod and service of the stopped tasks deleted")
    d.restart()
    time.sleep(1)
    assert not pods(fake) and not fake.items("/api/v1/services?labelSelector=kecs.dev%2Fmanaged-by%3Dkecs")


def test_nodes_are_container_instances_and_placement_binds_the_pod(kube):
    fake, d = kube
    d.aws("ecs", "create-cluster", "--cluster-name", "tour")
    arns = wait_for(lambda: (lambda a: a if len(a) == 2 else None)(
        d.aws("ecs", "list-container-instances", "--cluster", "tour")["containerInstanceArns"]),
        timeout=20, what="a container instance per node")
    described = d.aws("ecs", "describe-container-instances", "--cluster", "tour",
                      "--container-instances", *arns)["containerInstances"]
    by_node = {}
    for ci in described:
        attrs = {a["name"]: a.get("value") for a in ci["attributes"]}
        by_node[attrs["kecs.dev/node"]] = (ci, attrs)
    assert sorted(by_node) == ["node-a", "node-b"]
    ci, attrs = by_node["node-b"]
    assert attrs["ecs.availability-zone"] == "us-east-1b"
    cpu = {r["name"]: r.get("integerValue") for r in ci["registeredResources"]}
    assert cpu["CPU"] == 4096 and cpu["MEMORY"] == 8192
    # An EC2 task placed in us-east-1b runs on node-b: kecs's placement binds the pod.
    d.aws("ecs", "register-task-definition", "--family", "bridge", "--network-mode", "bridge",
          "--container-definitions", json.dumps([{"name": "web", "image": IMAGE, "memory": 64, "stopTimeout": 2}]))
    arn = d.aws("ecs", "run-task", "--cluster", "tour", "--task-definition", "bridge", "--launch-type", "EC2",
                "--placement-constraints", "type=memberOf,expression=attribute:ecs.availability-zone==us-east-1b"
                )["tasks"][0]["taskArn"]
    task = wait_for(lambda: running_task(d, arn), timeout=60, what="the EC2 task RUNNING")
    assert task["containerInstanceArn"] == ci["containerInstanceArn"]
    pod = fake.get(f"/api/v1/namespaces/{NS}/pods/task-{arn.rsplit('/', 1)[1]}")
    assert pod["spec"]["nodeName"] == "node-b"
    assert pod["metadata"]["annotations"]["ecs.amazonaws.com/network-mode"] == "bridge"
    # A node going away takes its instance, and the task on it stops.
    code, _ = fake.request("DELETE", "/api/v1/nodes/node-b")
    assert code == 200
    stopped = wait_for(lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
        d.aws("ecs", "describe-tasks", "--cluster", "tour", "--tasks", arn)["tasks"][0]),
        timeout=60, what="the task on the deleted node STOPPED")
    assert "node-b" in stopped["stoppedReason"]
    wait_for(lambda: len(d.aws("ecs", "list-container-instances", "--cluster", "tour")["containerInstanceArns"]) == 1,
             timeout=20, what="node-b's instance deregistered")
