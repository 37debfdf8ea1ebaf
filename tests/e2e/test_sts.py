"""AWS STS: GetCallerIdentity (what Terraform and most tools call first) and GetAccessKeyInfo,
through boto3 and the aws CLI, and refused with STS's errors when --auth-keys is set and the
request is not signed by one of them."""
import urllib.error
import urllib.parse
import urllib.request

import botocore.exceptions
import pytest

from conftest import boto_client, daemon_with_keys

ACCOUNT = "000000000000"


def test_get_caller_identity_is_the_accounts_root(kecs):
    sts = kecs.client("sts")
    out = sts.get_caller_identity()
    assert {k: out[k] for k in ("UserId", "Account", "Arn")} == {
        "UserId": ACCOUNT, "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:root"}
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert out["ResponseMetadata"]["RequestId"]
    # The aws CLI, in another region: the same identity (STS is global).
    cli = kecs.aws("sts", "get-caller-identity", region="eu-west-1")
    assert cli == {"UserId": ACCOUNT, "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:root"}
    assert sts.get_access_key_info(AccessKeyId="AKIDKECSTEST00000000")["Account"] == ACCOUNT


def test_get_access_key_info_checks_the_key_id(kecs):
    # boto3 and the CLI check the length themselves; a raw Query request gets STS's words.
    body = urllib.parse.urlencode({"Action": "GetAccessKeyInfo", "Version": "2011-06-15",
                                   "AccessKeyId": "short"}).encode()
    req = urllib.request.Request(kecs.endpoint + "/", data=body, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400
    xml = e.value.read().decode()
    assert "<Code>ValidationError</Code>" in xml, xml
    assert ("<Message>1 validation error detected: Value &apos;short&apos; at &apos;accessKeyId&apos; failed to "
            "satisfy constraint: Member must have length greater than or equal to 16</Message>") in xml, xml


@pytest.mark.kecs_args("--account-id", "123456789012")
def test_the_account_is_the_daemons(kecs):
    assert kecs.client("sts").get_caller_identity()["Arn"] == "arn:aws:iam::123456789012:root"


def test_with_auth_keys_an_unsigned_or_unknown_caller_is_refused(tmp_path):
    d = daemon_with_keys(tmp_path, "AKIDKECSSTS:sts-secret\n")
    d.start()
    try:
        def sts(key, secret):
            return boto_client(d, "sts", key, secret)
        assert sts("AKIDKECSSTS", "sts-secret").get_caller_identity()["Account"] == ACCOUNT
        for key, secret, code in [("AKIDKECSSTS", "wrong", "SignatureDoesNotMatch"),
                                  ("AKIDNOBODY", "sts-secret", "InvalidClientTokenId")]:
            with pytest.raises(botocore.exceptions.ClientError) as e:
                sts(key, secret).get_caller_identity()
            assert e.value.response["Error"]["Code"] == code
            assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert "sts-secret" not in d.log()
    finally:
        assert d.stop() == 0
