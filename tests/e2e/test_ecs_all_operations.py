"""Every operation in AWS's ECS model is routed by kecs (issue 18).

boto3 gets kecs's copy of the model (third_party/aws-models/ecs, newer than Debian's
botocore) and calls each of its operations with an empty request, skipping client-side
validation so the request reaches kecs as sent. Whatever the operation, kecs must answer
it as ECS would a request missing its parameters: success, or one of the errors the model
lists for that operation, with a message, and never "unknown operation" or a server
error. Each operation's behaviour is tested in its own file; this one guards the count.
"""
import json
import os
import shutil

import boto3
import botocore.config
import botocore.exceptions
import botocore.session

from test_ecs_support import REGION

MODEL = os.path.join(os.path.dirname(__file__), "..", "..", "third_party", "aws-models", "ecs", "service-2.json")

# Errors any ECS operation may answer although the model does not list them for each one:
# the JSON protocol's own (a request that is not valid at all).
COMMON = {"ValidationException", "SerializationException"}


def full_model_client(kecs):
    models = os.path.join(kecs.data_dir, "all-ops-models")
    d = os.path.join(models, "ecs", "2014-11-13")
    os.makedirs(d, exist_ok=True)
    shutil.copy(MODEL, os.path.join(d, "service-2.json"))
    bs = botocore.session.get_session()
    bs.get_component("data_loader").search_paths.insert(0, models)
    return boto3.Session(botocore_session=bs).client(
        "ecs", endpoint_url=kecs.endpoint, region_name=REGION, aws_access_key_id="AKIDKECSTEST",
        aws_secret_access_key="secret",
        config=botocore.config.Config(retries={"max_attempts": 1}, parameter_validation=False))


def test_every_operation_of_the_model_is_answered(kecs):
    with open(MODEL) as f:
        model = json.load(f)
    ops = model["operations"]
    assert len(ops) == 77, "AWS's ECS model changed: review the new operations"
    client = full_model_client(kecs)
    wrong = {}
    for name, op in sorted(ops.items()):
        allowed = {e["shape"] for e in op.get("errors", [])} | COMMON
        try:
            client._make_api_call(name, {})
        except botocore.exceptions.ClientError as e:
            err = e.response["Error"]
            status = e.response["ResponseMetadata"]["HTTPStatusCode"]
            if err.get("Code") not in allowed or status >= 500 or not err.get("Message"):
                wrong[name] = (status, err.get("Code"), err.get("Message"))
    assert wrong == {}, "\n".join(f"{k}: {v}" for k, v in wrong.items())
