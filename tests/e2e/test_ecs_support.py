"""Shared helpers for the ECS control-plane e2e tests (no tests here).

`Ecs` drives the daemon through either the real aws CLI or boto3 with one calling
convention, so a scripted tour can run unchanged through both:

    ecs = Ecs(kecs, "cli")              # or "boto3"
    out = ecs("RunTask", cluster="c", taskDefinition="web", count=2)
    code, message = ecs.error("StopTask", cluster="c", task="0" * 32)

The CLI form runs `aws ecs <operation> --cli-input-json <params> --no-paginate`, so
maxResults/nextToken go to the service as given (no client-side paging). Timestamps come
back as datetimes from boto3 and ISO strings from the CLI; `ts()` turns either into epoch
seconds. Debian's boto3 and aws CLI predate DeleteTaskDefinitions, so both get a model that
adds it (see install_ecs_model).
"""
import concurrent.futures
import datetime
import json
import os
import re

import botocore
import botocore.exceptions
import pytest

ACCOUNT = "000000000000"
REGION = "us-east-1"


def arn(resource):
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:{resource}"


def ts(v):
    """Epoch seconds from a boto3 datetime or a CLI ISO-8601 string."""
    if isinstance(v, datetime.datetime):
        return v.timestamp()
    if isinstance(v, (int, float)):
        return float(v)
    return datetime.datetime.fromisoformat(v).timestamp()


_CLI_ERROR = re.compile(r"An error occurred \(([^)]+)\) when calling the (\w+) operation"
                        r"(?: \(reached max retries: \d+\))?: (.*)", re.S)


ECS_OPERATIONS = {
    "CreateCluster", "DescribeClusters", "ListClusters", "UpdateCluster", "UpdateClusterSettings",
    "PutClusterCapacityProviders", "DeleteCluster", "RegisterTaskDefinition", "DescribeTaskDefinition",
    "ListTaskDefinitions", "ListTaskDefinitionFamilies", "DeregisterTaskDefinition",
    "DeleteTaskDefinitions", "RunTask", "StartTask", "StopTask", "DescribeTasks", "ListTasks",
    "RegisterContainerInstance", "DeregisterContainerInstance", "DescribeContainerInstances",
    "ListContainerInstances", "UpdateContainerInstancesState", "PutAttributes", "DeleteAttributes",
    "ListAttributes", "PutAccountSetting", "PutAccountSettingDefault", "DeleteAccountSetting",
    "ListAccountSettings", "TagResource", "UntagResource", "ListTagsForResource",
    "CreateCapacityProvider", "DescribeCapacityProviders", "UpdateCapacityProvider",
    "DeleteCapacityProvider",
}


def client_error(call, **kw):
    """(code, message) of a boto3 call that must fail with a 400."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    r = e.value.response
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 400, r
    return r["Error"]["Code"], r["Error"]["Message"]


class Ecs:
    """One calling convention over the aws CLI ("cli") or boto3 ("boto3").

    Each aws process takes most of a second (seconds on a loaded host) to start, so with
    cli_repeats=False the CLI driver sends the first call of each operation, every call
    that carries a nextToken, and every error() through the aws CLI, and other repeats of
    an operation through boto3. `via_cli` records which operations went through the CLI."""

    def __init__(self, kecs, mode, region=REGION, cli_repeats=True):
        assert mode in ("cli", "boto3")
        self.kecs = kecs
        self.mode = mode
        self.region = region
        self.cli_repeats = cli_repeats
        self.via_cli = set()
        self.used = set()
        # Both clients get the ECS model with the operations newer than they are.
        self._client = ecs_client_with_model(kecs, install_ecs_model(kecs.data_dir), region)

    def _route(self, op, params, force_cli=False):
        cli = self.mode == "cli" and (force_cli or self.cli_repeats or op not in self.via_cli
                                      or "nextToken" in params)
        self.used.add(op)
        if cli:
            self.via_cli.add(op)
        return "cli" if cli else "boto3"

    def _cli(self, op, params):
        return self.kecs.aws("ecs", botocore.xform_name(op).replace("_", "-"),
                             "--cli-input-json", json.dumps(params), "--no-paginate",
                             region=self.region, raw=True)

    def _call(self, route, op, params):
        if route == "boto3":
            out = getattr(self._client, botocore.xform_name(op))(**params)
            out.pop("ResponseMetadata", None)
            return out
        p = self._cli(op, params)
        assert p.returncode == 0, f"aws ecs {op} {params} failed ({p.returncode}):\n{p.stderr}"
        return json.loads(p.stdout) if p.stdout.strip() else {}

    def __call__(self, op, **params):
        return self._call(self._route(op, params), op, params)

    def error(self, op, **params):
        """Calls an operation that must fail; returns (error code, message)."""
        if self._route(op, params, force_cli=True) == "boto3":
            try:
                out = getattr(self._client, botocore.xform_name(op))(**params)
            except botocore.exceptions.ClientError as e:
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
                return e.response["Error"]["Code"], e.response["Error"]["Message"]
            raise AssertionError(f"{op} {params} succeeded: {out}")
        p = self._cli(op, params)
        assert p.returncode != 0, f"aws ecs {op} {params} succeeded:\n{p.stdout}"
        m = _CLI_ERROR.search(p.stderr)
        assert m, f"aws ecs {op}: unexpected stderr:\n{p.stderr}"
        assert m.group(2) == op
        return m.group(1), m.group(3).rstrip("\n")

    def many(self, calls):
        """Runs independent (op, params) calls, the CLI ones concurrently."""
        routed = [(self._route(op, params), op, params) for op, params in calls]
        with concurrent.futures.ThreadPoolExecutor(len(calls)) as ex:
            return list(ex.map(lambda c: self._call(*c), routed))


def container(name, image="public.ecr.aws/docker/library/busybox:latest", **kw):
    c = {"name": name, "image": image}
    c.update(kw)
    return c


def default_subnet(kecs, region=REGION):
    """A subnet id the daemon's EC2 side knows: the default VPC's first default subnet."""
    ec2 = kecs.client("ec2", region=region)
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    assert subnets, "the region has no default subnet"
    return sorted(subnets, key=lambda s: s["AvailabilityZone"])[0]["SubnetId"]


def awsvpc_config(subnet, public=False):
    return {"awsvpcConfiguration": {"subnets": [subnet],
                                    "assignPublicIp": "ENABLED" if public else "DISABLED"}}


def task_status(client, cluster, arns):
    out = client.describe_tasks(cluster=cluster, tasks=list(arns))
    assert not out["failures"], out["failures"]
    return {t["taskArn"]: t["lastStatus"] for t in out["tasks"]}


def all_status(client, cluster, arns, status):
    """For wait_for: true once every task has reached `status`."""
    return all(s == status for s in task_status(client, cluster, arns).values())


def resources(instance, which="remainingResources"):
    return {r["name"]: r.get("integerValue") for r in instance[which] if r["type"] == "INTEGER"}


# ---- operations newer than the installed clients ---------------------------------------
# Debian's botocore 1.29 (used by both boto3 and aws CLI 2.9) predates DeleteTaskDefinitions.
# Both clients read extra models from ~/.aws/models, so we put there the client's own ECS
# model plus the missing operations taken from the AWS model kecs is built from.
_KECS_MODEL = os.path.join(os.path.dirname(__file__), "..", "..", "third_party", "aws-models",
                           "ecs", "service-2.json")


def _shape_refs(shape):
    for key in ("members",):
        for m in shape.get(key, {}).values():
            yield m["shape"]
    for key in ("member", "key", "value"):
        if key in shape:
            yield shape[key]["shape"]


def merged_ecs_model(ops=("DeleteTaskDefinitions",)):
    import botocore.loaders
    own = botocore.loaders.Loader().load_service_model("ecs", "service-2", "2014-11-13")
    own = json.loads(json.dumps(own))
    with open(_KECS_MODEL) as f:
        new = json.load(f)
    todo = []
    for op in ops:
        if op in own["operations"]:
            continue
        o = new["operations"][op]
        own["operations"][op] = o
        todo += [o["input"]["shape"], o["output"]["shape"]] + [e["shape"] for e in o.get("errors", [])]
    while todo:
        name = todo.pop()
        if name in own["shapes"]:
            continue
        own["shapes"][name] = new["shapes"][name]
        todo += list(_shape_refs(new["shapes"][name]))
    return own


def install_ecs_model(home):
    """Writes the merged model where botocore looks for customer models under `home`;
    returns the models directory."""
    models = os.path.join(home, ".aws", "models")
    d = os.path.join(models, "ecs", "2014-11-13")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "service-2.json"), "w") as f:
        json.dump(merged_ecs_model(), f)
    return models


def ecs_client_with_model(kecs, models, region=REGION):
    import boto3
    import botocore.config
    import botocore.session
    bs = botocore.session.get_session()
    bs.get_component("data_loader").search_paths.insert(0, models)
    return boto3.Session(botocore_session=bs).client(
        "ecs", endpoint_url=kecs.endpoint, region_name=region, aws_access_key_id="AKIDKECSTEST",
        aws_secret_access_key="secret", config=botocore.config.Config(retries={"max_attempts": 1}))


def ecs_client_with_ops(kecs, ops, name):
    """boto3 ECS client whose model adds `ops` from kecs's newer model, written under the
    daemon's data dir in `name`."""
    models = os.path.join(kecs.data_dir, name)
    d = os.path.join(models, "ecs", "2014-11-13")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "service-2.json"), "w") as f:
        json.dump(merged_ecs_model(ops), f)
    return ecs_client_with_model(kecs, models)
