"""Shared helpers for the Cloud Map (servicediscovery) e2e tests (no tests here).

Debian's boto3 and aws CLI predate DiscoverInstancesRevision and the service-attribute
operations, so both get the model kecs is built from (third_party/aws-models), as a customer
model under the daemon's data dir (the CLI's HOME) and on boto3's search path.

DiscoverInstances is a data-plane operation: SDKs send it to "data-" + the endpoint's host
(data-servicediscovery.<region>.amazonaws.com on AWS). Against a local endpoint such as
http://127.0.0.1:4566 that host ("data-127.0.0.1") does not resolve, so:
  - boto3 clients here turn host prefixes off (Config(inject_host_prefix=False)), and
  - the CLI, which cannot, is pointed at http://data@127.0.0.1:<port>: the prefix then lands
    in the URL's user-info ("data-data@127.0.0.1") and the request reaches kecs unchanged.
"""
import os
import re
import shutil
import urllib.error
import urllib.request
import json

import boto3
import botocore.config
import botocore.exceptions
import botocore.session
import pytest

REGION = "us-east-1"
ACCOUNT = "000000000000"
TARGET = "Route53AutoNaming_v20170314"
MODEL = os.path.join(os.path.dirname(__file__), "..", "..", "third_party", "aws-models",
                     "servicediscovery", "service-2.json")

NS_ID = re.compile(r"^ns-[a-z0-9]{16}$")
SRV_ID = re.compile(r"^srv-[a-z0-9]{16}$")
OP_ID = re.compile(r"^[a-z0-9]{32}-[a-z0-9]{8}$")

_CLI_ERROR = re.compile(r"An error occurred \(([^)]+)\) when calling the (\w+) operation"
                        r"(?: \(reached max retries: \d+\))?: (.*)", re.S)


def install_model(home):
    """Puts kecs's servicediscovery model where botocore looks for customer models under
    `home`; returns the models directory."""
    models = os.path.join(home, ".aws", "models")
    d = os.path.join(models, "servicediscovery", "2017-03-14")
    os.makedirs(d, exist_ok=True)
    shutil.copy(MODEL, os.path.join(d, "service-2.json"))
    return models


def client(kecs, region=REGION, endpoint=None, host_prefix=False):
    """A boto3 servicediscovery client with kecs's model."""
    models = install_model(kecs.data_dir)
    bs = botocore.session.get_session()
    bs.get_component("data_loader").search_paths.insert(0, models)
    cfg = botocore.config.Config(retries={"max_attempts": 1}, inject_host_prefix=host_prefix)
    return boto3.Session(botocore_session=bs).client(
        "servicediscovery", endpoint_url=endpoint or kecs.endpoint, region_name=region,
        aws_access_key_id="AKIDKECSTEST", aws_secret_access_key="secret", config=cfg)


def data_endpoint(kecs):
    """The endpoint the CLI needs for DiscoverInstances (see the module docstring)."""
    return kecs.endpoint.replace("http://", "http://data@")


def cli(kecs, *args, region=REGION):
    """`aws servicediscovery <args>` with kecs's model; parsed JSON output."""
    install_model(kecs.data_dir)
    return kecs.aws("servicediscovery", *args, region=region)


def cli_error(kecs, *args, region=REGION):
    """(code, message) of a CLI call that must fail."""
    install_model(kecs.data_dir)
    p = kecs.aws("servicediscovery", *args, region=region, raw=True)
    assert p.returncode != 0, p.stdout
    m = _CLI_ERROR.search(p.stderr)
    assert m, p.stderr
    return m.group(1), m.group(3).strip()


def error(call, **kwargs):
    """(code, message) of a boto3 call that must fail."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kwargs)
    err = e.value.response["Error"]
    return err["Code"], err["Message"]


def error_response(call, **kwargs):
    """The whole parsed error response of a boto3 call that must fail."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kwargs)
    return e.value.response


def raw_call(kecs, operation, body, host=None):
    """POSTs an AWS JSON 1.1 request; returns (status, parsed body)."""
    headers = {"Content-Type": "application/x-amz-json-1.1",
               "X-Amz-Target": f"{TARGET}.{operation}"}
    if host:
        headers["Host"] = host
    req = urllib.request.Request(kecs.endpoint + "/", data=json.dumps(body).encode(),
                                 method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def operation(sd, op_id):
    return sd.get_operation(OperationId=op_id)["Operation"]


def namespace_id(sd, op_id):
    """The namespace a (successful) namespace operation created or changed."""
    op = operation(sd, op_id)
    assert op["Status"] == "SUCCESS", op
    return op["Targets"]["NAMESPACE"]


def http_namespace(sd, name, **kwargs):
    return namespace_id(sd, sd.create_http_namespace(Name=name, **kwargs)["OperationId"])


def private_namespace(kecs, sd, name, cidr="10.0.0.0/16", **kwargs):
    """A VPC and a private DNS namespace bound to it; returns (namespace id, vpc id)."""
    ec2 = kecs.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    op = sd.create_private_dns_namespace(Name=name, Vpc=vpc, **kwargs)["OperationId"]
    return namespace_id(sd, op), vpc


def a_service(sd, ns, name, records=(("A", 60),), policy="MULTIVALUE", **kwargs):
    dns = {"RoutingPolicy": policy, "DnsRecords": [{"Type": t, "TTL": ttl} for t, ttl in records]}
    return sd.create_service(Name=name, NamespaceId=ns, DnsConfig=dns, **kwargs)["Service"]
