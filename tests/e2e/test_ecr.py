"""Amazon ECR through boto3 and the aws CLI (/usr/bin/aws): repositories, tag mutability,
scanning configuration, lifecycle policies, tags, images (PutImage, DescribeImages,
ListImages, BatchGetImage, BatchDeleteImage), GetAuthorizationToken, ECR's errors, and the
registry behind the repository URIs: skopeo pushes a busybox image built offline, and a
task runs it on the local runtime."""
import base64
import hashlib
import json
import os
import shutil
import tempfile

import pytest

from conftest import build_busybox_image, is_root, run, wait_for
from test_ecs_support import client_error as boto_error
from test_elbv2_support import cli_error as elbv2_cli_error

ACCOUNT = "000000000000"


@pytest.fixture(autouse=True)
def responses_match_the_model(request):
    """Every answer matched ECR's output shapes (KECS_VALIDATE_RESPONSES logs mismatches)."""
    daemons = [request.getfixturevalue(n) for n in ("kecs", "local_kecs") if n in request.fixturenames]
    yield
    for d in daemons:
        assert "does not match its model" not in d.log()


def cli(kecs, *args):
    return kecs.aws("ecr", *args)


def cli_error(kecs, *args):
    return elbv2_cli_error(kecs, *args, service="ecr")


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def push_blobs(kecs, repo, token, blobs):
    """Uploads blobs through the registry API (POST + PUT ?digest=) with urllib."""
    import urllib.request
    host = f"{ACCOUNT}.dkr.ecr.us-east-1.localhost:{kecs.port}"
    for b in blobs:
        req = urllib.request.Request(f"http://127.0.0.1:{kecs.port}/v2/{repo}/blobs/uploads/?digest={sha(b)}",
                                     data=b, method="POST",
                                     headers={"Host": host, "Authorization": "Basic " + token})
        assert urllib.request.urlopen(req, timeout=10).status == 201


def manifest(kecs, repo, token, layer=b"layer"):
    config = b'{"architecture":"amd64","os":"linux"}'
    push_blobs(kecs, repo, token, [config, layer])
    return json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(layer),
                    "size": len(layer)}]})


def token_of(ecr):
    return ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]


def test_repositories_through_boto3_and_the_cli(kecs):
    ecr = kecs.client("ecr")
    repo = ecr.create_repository(repositoryName="team/web", imageTagMutability="IMMUTABLE",
                                 imageScanningConfiguration={"scanOnPush": True},
                                 encryptionConfiguration={"encryptionType": "KMS"},
                                 tags=[{"Key": "env", "Value": "dev"}])["repository"]
    assert repo["repositoryUri"] == f"{ACCOUNT}.dkr.ecr.us-east-1.localhost:{kecs.port}/team/web"
    assert repo["repositoryArn"] == f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/web"
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfiguration"]["encryptionType"] == "KMS"
    assert repo["encryptionConfiguration"]["kmsKey"].startswith("arn:aws:kms:us-east-1:")
    assert boto_error(ecr.create_repository, repositoryName="team/web") == (
        "RepositoryAlreadyExistsException",
        f"The repository with name 'team/web' already exists in the registry with id '{ACCOUNT}'")
    assert cli_error(kecs, "create-repository", "--repository-name", "Bad_Name")[0] == "InvalidParameterException"

    out = cli(kecs, "create-repository", "--repository-name", "cli-repo")["repository"]
    assert out["imageTagMutability"] == "MUTABLE"
    for i in range(3):
        ecr.create_repository(repositoryName=f"page-{i}")
    # Pagination: maxResults and nextToken through boto3; the CLI pages by itself.
    seen, token = [], None
    while True:
        kw = {"maxResults": 2}
        if token:
            kw["nextToken"] = token
        page = ecr.describe_repositories(**kw)
        assert len(page["repositories"]) <= 2
        seen += [r["repositoryName"] for r in page["repositories"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == ["team/web", "cli-repo", "page-0", "page-1", "page-2"]
    assert [r["repositoryName"] for r in cli(kecs, "describe-repositories", "--page-size", "1")["repositories"]] == seen
    assert [r["repositoryName"] for r in
            ecr.describe_repositories(repositoryNames=["page-1"])["repositories"]] == ["page-1"]
    assert boto_error(ecr.describe_repositories, repositoryNames=["nope"]) == (
        "RepositoryNotFoundException",
        f"The repository with name 'nope' does not exist in the registry with id '{ACCOUNT}'")
    assert boto_error(ecr.describe_repositories, nextToken="garbage")[0] == "InvalidParameterException"

    # Tag mutability and scanning configuration.
    assert ecr.put_image_tag_mutability(repositoryName="cli-repo", imageTagMutability="IMMUTABLE")[
        "imageTagMutability"] == "IMMUTABLE"
    assert cli(kecs, "put-image-scanning-configuration", "--repository-name", "cli-repo",
               "--image-scanning-configuration", "scanOnPush=true")["imageScanningConfiguration"] == {"scanOnPush": True}
    got = ecr.describe_repositories(repositoryNames=["cli-repo"])["repositories"][0]
    assert (got["imageTagMutability"], got["imageScanningConfiguration"]) == ("IMMUTABLE", {"scanOnPush": True})
    assert boto_error(ecr.put_image_tag_mutability, repositoryName="nope",
                      imageTagMutability="MUTABLE")[0] == "RepositoryNotFoundException"
    assert boto_error(ecr.put_image_scanning_configuration, repositoryName="nope",
                      imageScanningConfiguration={"scanOnPush": False})[0] == "RepositoryNotFoundException"
    assert cli_error(kecs, "put-image-tag-mutability", "--repository-name", "cli-repo",
                     "--image-tag-mutability", "SOMETIMES")[0] == "InvalidParameterException"

    # Tags.
    arn = repo["repositoryArn"]
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "prod"}])
    assert {t["Key"]: t["Value"] for t in ecr.list_tags_for_resource(resourceArn=arn)["tags"]} == \
        {"env": "prod", "team": "a"}
    cli(kecs, "untag-resource", "--resource-arn", arn, "--tag-keys", "team")
    assert cli(kecs, "list-tags-for-resource", "--resource-arn", arn)["tags"] == [{"Key": "env", "Value": "prod"}]
    assert boto_error(ecr.tag_resource, resourceArn="arn:aws:ecr:us-east-1:000000000000:repository/nope",
                      tags=[{"Key": "a", "Value": "b"}])[0] == "RepositoryNotFoundException"
    assert boto_error(ecr.tag_resource, resourceArn="not-an-arn", tags=[])[0] == "InvalidParameterException"
    assert boto_error(ecr.tag_resource, resourceArn=arn, tags=[{"Key": "aws:x", "Value": "b"}])[0] == \
        "InvalidTagParameterException"
    assert boto_error(ecr.untag_resource, resourceArn=arn, tagKeys=["aws:x"])[0] == "InvalidTagParameterException"
    assert boto_error(ecr.tag_resource, resourceArn=arn, tags=[
        {"Key": f"k{i}", "Value": "v"} for i in range(60)])[0] == "TooManyTagsException"
    assert boto_error(ecr.list_tags_for_resource, resourceArn="nope")[0] == "InvalidParameterException"
    assert boto_error(ecr.untag_resource, resourceArn=arn.replace("team/web", "gone"),
                      tagKeys=["a"])[0] == "RepositoryNotFoundException"

    # Delete: not found, not empty (below, with images), force.
    assert ecr.delete_repository(repositoryName="page-0")["repository"]["repositoryName"] == "page-0"
    assert cli(kecs, "delete-repository", "--repository-name", "page-1")["repository"]["repositoryName"] == "page-1"
    assert boto_error(ecr.delete_repository, repositoryName="page-0")[0] == "RepositoryNotFoundException"


def test_images_put_describe_list_get_delete(kecs):
    ecr = kecs.client("ecr")
    ecr.create_repository(repositoryName="app")
    token = token_of(ecr)
    m1 = manifest(kecs, "app", token, b"layer-1")
    out = ecr.put_image(repositoryName="app", imageManifest=m1, imageTag="v1")["image"]
    d1 = out["imageId"]["imageDigest"]
    assert d1 == sha(m1.encode()) and out["imageId"]["imageTag"] == "v1"
    assert out["imageManifestMediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert boto_error(ecr.put_image, repositoryName="app", imageManifest=m1, imageTag="v1")[0] == \
        "ImageAlreadyExistsException"
    assert boto_error(ecr.put_image, repositoryName="nope", imageManifest=m1)[0] == "RepositoryNotFoundException"
    assert boto_error(ecr.put_image, repositoryName="app", imageManifest="{not json")[0] == "InvalidParameterException"
    missing = json.loads(m1)
    missing["layers"][0]["digest"] = sha(b"absent")
    assert boto_error(ecr.put_image, repositoryName="app", imageManifest=json.dumps(missing))[0] == \
        "LayersNotFoundException"
    assert boto_error(ecr.put_image, repositoryName="app", imageManifest=manifest(kecs, "app", token, b"x"),
                      imageDigest=d1)[0] == "ImageDigestDoesNotMatchException"
    # The CLI too, then a third image left untagged when its tag moves.
    m2 = manifest(kecs, "app", token, b"layer-2")
    cli(kecs, "put-image", "--repository-name", "app", "--image-manifest", m2, "--image-tag", "v2")
    m3 = manifest(kecs, "app", token, b"layer-3")
    d3 = ecr.put_image(repositoryName="app", imageManifest=m3, imageTag="v2")["image"]["imageId"]["imageDigest"]

    details = ecr.describe_images(repositoryName="app")["imageDetails"]
    assert [d.get("imageTags") for d in details] == [["v1"], None, ["v2"]]
    d = details[0]
    assert d["imageDigest"] == d1 and d["imageSizeInBytes"] == len(b"layer-1")
    assert d["registryId"] == ACCOUNT and d["repositoryName"] == "app"
    assert d["imageManifestMediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert d["imagePushedAt"].year >= 2024
    assert len(ecr.describe_images(repositoryName="app", filter={"tagStatus": "UNTAGGED"})["imageDetails"]) == 1
    assert len(ecr.describe_images(repositoryName="app", filter={"tagStatus": "TAGGED"})["imageDetails"]) == 2
    page = ecr.describe_images(repositoryName="app", maxResults=2)
    assert len(page["imageDetails"]) == 2 and page["nextToken"]
    assert len(ecr.describe_images(repositoryName="app", maxResults=2, nextToken=page["nextToken"])["imageDetails"]) == 1
    assert len(cli(kecs, "describe-images", "--repository-name", "app", "--page-size", "1")["imageDetails"]) == 3
    assert ecr.describe_images(repositoryName="app", imageIds=[{"imageTag": "v2"}])["imageDetails"][0][
        "imageDigest"] == d3
    assert boto_error(ecr.describe_images, repositoryName="app", imageIds=[{"imageTag": "nope"}])[0] == \
        "ImageNotFoundException"
    assert boto_error(ecr.describe_images, repositoryName="nope")[0] == "RepositoryNotFoundException"

    ids = ecr.list_images(repositoryName="app")["imageIds"]
    assert {(i["imageDigest"], i.get("imageTag")) for i in ids} == \
        {(d1, "v1"), (sha(m2.encode()), None), (d3, "v2")}
    first = ecr.list_images(repositoryName="app", maxResults=1)
    assert len(first["imageIds"]) == 1 and first["nextToken"]
    assert ecr.list_images(repositoryName="app", filter={"tagStatus": "UNTAGGED"})["imageIds"] == \
        [{"imageDigest": sha(m2.encode())}]
    assert len(cli(kecs, "list-images", "--repository-name", "app")["imageIds"]) == 3
    assert boto_error(ecr.list_images, repositoryName="nope")[0] == "RepositoryNotFoundException"

    got = ecr.batch_get_image(repositoryName="app", imageIds=[
        {"imageTag": "v1"}, {"imageTag": "nope"}, {"imageDigest": "bad"}, {"imageDigest": d3, "imageTag": "v1"}])
    assert [i["imageManifest"] for i in got["images"]] == [m1]
    assert [f["failureCode"] for f in got["failures"]] == \
        ["ImageNotFound", "InvalidImageDigest", "ImageTagDoesNotMatchDigest"]
    assert got["failures"][0]["failureReason"] == "Requested image not found"
    assert boto_error(ecr.batch_get_image, repositoryName="nope", imageIds=[{"imageTag": "v1"}])[0] == \
        "RepositoryNotFoundException"

    assert boto_error(ecr.delete_repository, repositoryName="app") == (
        "RepositoryNotEmptyException",
        f"The repository with name 'app' in registry with id '{ACCOUNT}' cannot be deleted because it still "
        "contains images")
    out = ecr.batch_delete_image(repositoryName="app", imageIds=[{"imageTag": "v1"}, {"imageTag": "nope"}])
    assert out["imageIds"] == [{"imageDigest": d1, "imageTag": "v1"}]
    assert out["failures"][0]["failureCode"] == "ImageNotFound"
    out = cli(kecs, "batch-delete-image", "--repository-name", "app", "--image-ids", f"imageDigest={d3}")
    assert out["imageIds"] == [{"imageDigest": d3, "imageTag": "v2"}]
    assert boto_error(ecr.batch_delete_image, repositoryName="nope", imageIds=[{"imageTag": "x"}])[0] == \
        "RepositoryNotFoundException"
    assert ecr.delete_repository(repositoryName="app", force=True)["repository"]["repositoryName"] == "app"


def test_immutable_tags(kecs):
    ecr = kecs.client("ecr")
    ecr.create_repository(repositoryName="frozen", imageTagMutability="IMMUTABLE")
    token = token_of(ecr)
    ecr.put_image(repositoryName="frozen", imageManifest=manifest(kecs, "frozen", token, b"a"), imageTag="v1")
    assert boto_error(ecr.put_image, repositoryName="frozen", imageManifest=manifest(kecs, "frozen", token, b"b"),
                      imageTag="v1") == (
        "ImageTagAlreadyExistsException",
        "The image tag 'v1' already exists in the 'frozen' repository and cannot be overwritten because the "
        "repository is immutable.")


POLICY = {"rules": [{"rulePriority": 1, "description": "keep two",
                     "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 2},
                     "action": {"type": "expire"}}]}


def test_lifecycle_policies_are_stored_validated_and_applied(kecs):
    ecr = kecs.client("ecr")
    ecr.create_repository(repositoryName="lc")
    assert boto_error(ecr.get_lifecycle_policy, repositoryName="lc") == (
        "LifecyclePolicyNotFoundException",
        f"Lifecycle policy does not exist for the repository with name 'lc' in the registry with id '{ACCOUNT}'")
    assert boto_error(ecr.delete_lifecycle_policy, repositoryName="lc")[0] == "LifecyclePolicyNotFoundException"
    bad = {"rules": [{"rulePriority": 1, "selection": {"tagStatus": "tagged", "countType": "imageCountMoreThan",
                                                       "countNumber": 1}, "action": {"type": "expire"}}]}
    code, message = boto_error(ecr.put_lifecycle_policy, repositoryName="lc", lifecyclePolicyText=json.dumps(bad))
    assert code == "InvalidParameterException" and "Lifecycle policy validation failure" in message
    assert boto_error(ecr.put_lifecycle_policy, repositoryName="nope",
                      lifecyclePolicyText=json.dumps(POLICY))[0] == "RepositoryNotFoundException"
    text = json.dumps(POLICY)
    assert cli(kecs, "put-lifecycle-policy", "--repository-name", "lc", "--lifecycle-policy-text", text)[
        "lifecyclePolicyText"] == text
    token = token_of(ecr)
    for i in range(4):
        ecr.put_image(repositoryName="lc", imageManifest=manifest(kecs, "lc", token, f"l{i}".encode()),
                      imageTag=f"t{i}")
    # On push: only the two newest remain.
    assert [d["imageTags"] for d in ecr.describe_images(repositoryName="lc")["imageDetails"]] == [["t2"], ["t3"]]
    got = ecr.get_lifecycle_policy(repositoryName="lc")
    assert got["lifecyclePolicyText"] == text and got["lastEvaluatedAt"]
    assert cli(kecs, "delete-lifecycle-policy", "--repository-name", "lc")["lifecyclePolicyText"] == text
    assert boto_error(ecr.get_lifecycle_policy, repositoryName="lc")[0] == "LifecyclePolicyNotFoundException"


def test_get_authorization_token_and_the_registry_challenge(kecs):
    import urllib.error
    import urllib.request
    ecr = kecs.client("ecr")
    data = cli(kecs, "get-authorization-token")["authorizationData"][0]
    user, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    assert user == "AWS" and password
    assert data["proxyEndpoint"] == f"http://{ACCOUNT}.dkr.ecr.us-east-1.localhost:{kecs.port}"
    issued = ecr.get_authorization_token()["authorizationData"][0]
    life = issued["expiresAt"].timestamp() - __import__("time").time()
    assert 11.9 * 3600 < life <= 12 * 3600
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://127.0.0.1:{kecs.port}/v2/", timeout=5)
    assert e.value.code == 401 and e.value.headers["WWW-Authenticate"].startswith("Basic realm=")
    req = urllib.request.Request(f"http://127.0.0.1:{kecs.port}/v2/",
                                 headers={"Authorization": "Basic " + data["authorizationToken"]})
    assert urllib.request.urlopen(req, timeout=5).status == 200
    assert "password" not in kecs.log() and password not in kecs.log()


def test_skopeo_push_then_describe_images_then_run_task(local_kecs):
    """Done-when #3: a busybox image built offline, pushed with skopeo to the repository URI
    with GetAuthorizationToken's credentials, listed by DescribeImages, and run as a task
    pulled from kecs's own registry (no internet)."""
    ecr = local_kecs.client("ecr")
    uri = ecr.create_repository(repositoryName="demo/busybox")["repository"]["repositoryUri"]
    work = tempfile.mkdtemp(prefix="kecs-ecr-")
    try:
        tar = build_busybox_image(work, "demo:latest", ["/bin/sh", "-c", "echo from-ecr; sleep 600"])
        user, password = base64.b64decode(token_of(ecr)).decode().split(":", 1)
        authfile = os.path.join(work, "auth.json")
        fd = os.open(authfile, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            auth = base64.b64encode(f"{user}:{password}".encode()).decode()
            json.dump({"auths": {uri.split("/")[0]: {"auth": auth}}}, f)
        run(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false", "--dest-authfile", authfile,
             "docker-archive:" + tar, f"docker://{uri}:v1"], timeout=120)
        # Without credentials the registry refuses the push.
        p = __import__("subprocess").run(
            ["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false", "--dest-creds", "AWS:wrong",
             "docker-archive:" + tar, f"docker://{uri}:v2"], capture_output=True, text=True, timeout=120)
        assert p.returncode != 0 and ("unauthorized" in p.stderr.lower() or "authentication" in p.stderr.lower())
    finally:
        shutil.rmtree(work, ignore_errors=True)

    [d] = ecr.describe_images(repositoryName="demo/busybox")["imageDetails"]
    assert d["imageTags"] == ["v1"] and d["imageDigest"].startswith("sha256:")
    assert d["imageSizeInBytes"] > 100000 and d["imagePushedAt"]

    ecs = local_kecs.client("ecs")
    ecs.create_cluster(clusterName="default")
    ecs.register_task_definition(family="from-ecr", containerDefinitions=[{
        "name": "app", "image": f"{uri}:v1", "essential": True, "memory": 64, "stopTimeout": 1}])
    arn = ecs.run_task(taskDefinition="from-ecr")["tasks"][0]["taskArn"]
    task = wait_for(lambda: (lambda t: t if t["lastStatus"] in ("RUNNING", "STOPPED") else None)(
        ecs.describe_tasks(tasks=[arn])["tasks"][0]), timeout=120, what="the task RUNNING")
    assert task["lastStatus"] == "RUNNING", (task.get("stoppedReason"), task["containers"][0].get("reason"))
    assert task["containers"][0]["image"] == f"{uri}:v1"
    # The credentials kecs minted for its pull went through a file that is gone.
    assert os.listdir(os.path.join(local_kecs.data_dir, "images", "auth")) == []


def test_skopeo_pushes_and_pulls_a_layer_beyond_16_mib(kecs):
    """The API's 16 MiB body limit does not apply to blob uploads: skopeo sends a 20 MiB
    random (incompressible) layer in one PATCH, DescribeImages counts it, and it pulls back."""
    ecr = kecs.client("ecr")
    uri = ecr.create_repository(repositoryName="big")["repository"]["repositoryUri"]
    creds = base64.b64decode(token_of(ecr)).decode()
    work = tempfile.mkdtemp(prefix="kecs-ecr-big-")
    try:
        big = os.urandom(20 * 1024 * 1024)
        tar = build_busybox_image(work, "big:latest", ["/bin/sh"], files={"data/big.bin": big})
        run(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false", "--dest-creds", creds,
             "docker-archive:" + tar, f"docker://{uri}:v1"], timeout=180)
        [d] = ecr.describe_images(repositoryName="big")["imageDetails"]
        assert d["imageSizeInBytes"] > len(big)
        out = os.path.join(work, "pulled")
        run(["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", "--src-creds", creds,
             f"docker://{uri}:v1", "dir:" + out], timeout=180)
        sizes = sorted(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
        assert sizes[-1] > len(big)
        assert sizes[-1] == max(layer["size"] for layer in json.loads(
            ecr.batch_get_image(repositoryName="big", imageIds=[{"imageTag": "v1"}])["images"][0]["imageManifest"]
        )["layers"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # The ordinary API keeps its limit: the server answers 413 on the header alone (a
    # client still sending the 17 MiB body would see its pipe broken instead).
    import socket
    with socket.create_connection(("127.0.0.1", kecs.port), timeout=10) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.1\r\n"
                  b"Content-Length: %d\r\n\r\n" % (17 * 1024 * 1024))
        assert s.recv(64).startswith(b"HTTP/1.1 413"), "the API took a 17 MiB body"


def test_deleted_images_take_their_unshared_blobs(kecs):
    """A blob goes when no image in any repository references it (BatchDeleteImage,
    DeleteRepository with force, a manifest DELETE); shared ones stay, and a blob pushed
    in the last minutes stays for the manifest about to name it."""
    import urllib.request
    ecr = kecs.client("ecr")
    ecr.create_repository(repositoryName="ra")
    ecr.create_repository(repositoryName="rb")
    token = token_of(ecr)
    blobs = os.path.join(kecs.data_dir, "ecr", "blobs", "sha256")

    def present(b):
        return os.path.exists(os.path.join(blobs, sha(b)[7:]))

    def age_all():  # as if pushed an hour ago, past the sweep's grace for pushes in progress
        for f in os.listdir(blobs):
            os.utime(os.path.join(blobs, f), (1, 1))

    config = b'{"architecture":"amd64","os":"linux"}'
    only_a = ecr.put_image(repositoryName="ra", imageManifest=manifest(kecs, "ra", token, b"only-a"),
                           imageTag="1")["image"]["imageId"]
    ecr.put_image(repositoryName="ra", imageManifest=manifest(kecs, "ra", token, b"shared"), imageTag="2")
    mb = manifest(kecs, "rb", token, b"shared")
    db = ecr.put_image(repositoryName="rb", imageManifest=mb, imageTag="1")["image"]["imageId"]["imageDigest"]
    age_all()
    push_blobs(kecs, "ra", token, [b"fresh-upload"])  # named by no manifest yet

    ecr.batch_delete_image(repositoryName="ra", imageIds=[only_a])
    assert not present(b"only-a")
    assert present(b"shared") and present(config) and present(b"fresh-upload")

    ecr.delete_repository(repositoryName="ra", force=True)
    assert present(b"shared") and present(config)

    host = f"{ACCOUNT}.dkr.ecr.us-east-1.localhost:{kecs.port}"
    req = urllib.request.Request(f"http://127.0.0.1:{kecs.port}/v2/rb/manifests/{db}", method="DELETE",
                                 headers={"Host": host, "Authorization": "Basic " + token})
    assert urllib.request.urlopen(req, timeout=10).status == 202
    assert not present(b"shared") and not present(config)
    assert present(b"fresh-upload")
    assert ecr.describe_images(repositoryName="rb")["imageDetails"] == []
