"""EC2 key pairs (fingerprints checked against ssh-keygen and openssl) and launch templates."""
import base64
import os
import re
import subprocess

from test_ec2_security_groups import boto_error, cli_error

ACCOUNT = "000000000000"


def run(cmd, data=None):
    p = subprocess.run(cmd, input=data, capture_output=True, check=True, shell=isinstance(cmd, str))
    return p.stdout


def secret_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


def delete_raw(ec2, **kwargs):
    """DeleteKeyPair's <return> and <keyPairId>, read from the XML: the Debian boto3 and CLI
    have a model in which DeleteKeyPair answers nothing."""
    seen = {}
    ec2.meta.events.register("after-call.ec2.DeleteKeyPair",
                             lambda http_response, **kw: seen.update(text=http_response.text))
    ec2.delete_key_pair(**kwargs)
    ret = re.search(r"<return>(\w+)</return>", seen["text"])
    kid = re.search(r"<keyPairId>([\w-]+)</keyPairId>", seen["text"])
    return (ret.group(1) if ret else None, kid.group(1) if kid else None)


def assert_not_kept(kecs, material):
    """No line of the private key's body is in the data dir's files or the daemon's log."""
    lines = [l for l in material.splitlines() if l and not l.startswith("-----")]
    probes = [lines[1].encode(), lines[-2].encode()]
    files = [kecs.log_path]
    for root, _, names in os.walk(kecs.data_dir):
        files += [os.path.join(root, n) for n in names]
    checked = 0
    for f in files:
        try:
            with open(f, "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        checked += 1
        for p in probes:
            assert p not in data, f"private key material found in {f}"
    # The store (with its write-ahead log while the daemon runs: the key would be there
    # first) and the log were among the files read.
    names = {os.path.basename(f) for f in files}
    assert checked >= 2
    assert {"kecs.db", "kecs.log"} <= names, names
    assert kecs.proc is None or "kecs.db-wal" in names, names


def test_create_rsa_key_pair_boto(kecs, tmp_path):
    ec2 = kecs.client("ec2")
    kp = ec2.create_key_pair(KeyName="rsa-one", TagSpecifications=[
        {"ResourceType": "key-pair", "Tags": [{"Key": "team", "Value": "blue"}]}])
    assert re.fullmatch(r"key-[0-9a-f]{17}", kp["KeyPairId"])
    assert kp["Tags"] == [{"Key": "team", "Value": "blue"}]
    material = kp["KeyMaterial"]
    assert material.startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    path = secret_file(tmp_path, "rsa.pem", material)
    # A valid PEM that openssl reads, 2048 bits.
    text = run(["openssl", "pkey", "-in", path, "-noout", "-text"]).decode()
    assert "2048 bit" in text
    # AWS's fingerprint of a key it creates: SHA-1 of the DER PKCS#8 private key.
    der = run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", path, "-outform", "DER"])
    sha1 = run(["openssl", "sha1", "-c"], der).decode().split("= ")[1].strip()
    assert kp["KeyFingerprint"] == sha1
    # IncludePublicKey shows the public half of that private key.
    pub = run(["ssh-keygen", "-y", "-f", path]).decode().split()
    info = ec2.describe_key_pairs(KeyNames=["rsa-one"], IncludePublicKey=True)["KeyPairs"][0]
    assert info["PublicKey"].split()[:2] == pub[:2]
    assert info["KeyType"] == "rsa" and info["KeyFingerprint"] == sha1 and "CreateTime" in info
    assert "PublicKey" not in ec2.describe_key_pairs(KeyNames=["rsa-one"])["KeyPairs"][0]
    assert "KeyMaterial" not in info

    assert boto_error(ec2.create_key_pair, KeyName="rsa-one") == (
        "InvalidKeyPair.Duplicate", "The keypair 'rsa-one' already exists.")
    # AWS makes ppk keys; kecs does not (its own refusal, README Limits).
    assert boto_error(ec2.create_key_pair, KeyName="putty", KeyFormat="ppk")[0] == "InvalidParameterValue"
    assert boto_error(ec2.describe_key_pairs, KeyNames=["nope"]) == (
        "InvalidKeyPair.NotFound", "The key pair 'nope' does not exist")
    kecs.stop()
    assert_not_kept(kecs, material)
    kecs.start()
    assert ec2.describe_key_pairs(KeyPairIds=[kp["KeyPairId"]])["KeyPairs"][0]["KeyName"] == "rsa-one"


def test_create_ed25519_key_pair_cli(kecs, tmp_path):
    kp = kecs.aws("ec2", "create-key-pair", "--key-name", "ed-one", "--key-type", "ed25519")
    material = kp["KeyMaterial"]
    assert material.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    path = secret_file(tmp_path, "ed", material)
    pub = run(["ssh-keygen", "-y", "-f", path]).decode()
    assert pub.startswith("ssh-ed25519 ")
    (tmp_path / "ed.pub").write_text(pub)
    shown = run(["ssh-keygen", "-l", "-f", str(tmp_path / "ed.pub")]).decode().split()[1]
    assert shown.startswith("SHA256:")
    assert kp["KeyFingerprint"].rstrip("=") == shown[len("SHA256:"):]
    d = kecs.aws("ec2", "describe-key-pairs", "--filters", "Name=key-type,Values=ed25519", "--include-public-key")
    assert [k["KeyName"] for k in d["KeyPairs"]] == ["ed-one"]
    assert d["KeyPairs"][0]["PublicKey"].split()[:2] == pub.split()[:2]
    assert_not_kept(kecs, material)
    # (The CLI here, 2.9, has a model in which DeleteKeyPair answers nothing.)
    assert kecs.aws("ec2", "delete-key-pair", "--key-name", "ed-one") == {}
    # Deleting it again (or any missing key) succeeds, as on AWS.
    assert delete_raw(kecs.client("ec2"), KeyName="ed-one") == ("true", None)
    assert kecs.aws("ec2", "describe-key-pairs")["KeyPairs"] == []


def with_exponent(pub_line, e):
    """The OpenSSH RSA public key line `pub_line` with its exponent replaced by the bytes `e`."""
    blob = base64.b64decode(pub_line.split()[1])

    def read(at):
        n = int.from_bytes(blob[at:at + 4], "big")
        return blob[at + 4:at + 4 + n], at + 4 + n
    _, at = read(0)
    _, at = read(at)
    modulus, _ = read(at)

    def string(x):
        return len(x).to_bytes(4, "big") + x
    return b"ssh-rsa " + base64.b64encode(string(b"ssh-rsa") + string(e) + string(modulus))


def test_import_key_pairs(kecs, tmp_path):
    ec2 = kecs.client("ec2")
    run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "me@host", "-f", str(tmp_path / "r")])
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@host", "-f", str(tmp_path / "e")])
    # RSA through the CLI, from a file (fileb:// sends its bytes, base64-encoded on the wire).
    r = kecs.aws("ec2", "import-key-pair", "--key-name", "imported-rsa",
                 "--public-key-material", f"fileb://{tmp_path / 'r.pub'}",
                 "--tag-specifications", "ResourceType=key-pair,Tags=[{Key=k,Value=v}]")
    # AWS's fingerprint of an imported RSA key: MD5 of its DER public key.
    der = run(f"ssh-keygen -e -m PKCS8 -f {tmp_path / 'r.pub'} | openssl pkey -pubin -outform DER")
    md5 = run(["openssl", "md5", "-c"], der).decode().split("= ")[1].strip()
    assert r["KeyFingerprint"] == md5
    assert re.fullmatch(r"key-[0-9a-f]{17}", r["KeyPairId"])
    # ED25519 through boto3.
    e = ec2.import_key_pair(KeyName="imported-ed", PublicKeyMaterial=(tmp_path / "e.pub").read_bytes())
    shown = run(["ssh-keygen", "-l", "-f", str(tmp_path / "e.pub")]).decode().split()[1]
    assert e["KeyFingerprint"].rstrip("=") == shown[len("SHA256:"):]

    d = ec2.describe_key_pairs(Filters=[{"Name": "tag:k", "Values": ["v"]}])["KeyPairs"]
    assert [k["KeyName"] for k in d] == ["imported-rsa"]
    d = ec2.describe_key_pairs(Filters=[{"Name": "fingerprint", "Values": [md5]}])["KeyPairs"]
    assert [k["KeyPairId"] for k in d] == [r["KeyPairId"]]
    d = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["imported-*"]}])["KeyPairs"]
    assert sorted(k["KeyName"] for k in d) == ["imported-ed", "imported-rsa"]
    assert boto_error(ec2.describe_key_pairs, Filters=[{"Name": "colour", "Values": ["x"]}]) == (
        "InvalidParameterValue", "The filter 'colour' is invalid")

    # Over 16 KiB is no key (and is never stored); nor is an RSA key whose exponent is 1 or
    # longer than 64 bits (the real key's modulus with another exponent).
    rsa_line = (tmp_path / "r.pub").read_bytes()
    for garbage in [b"not a key", b"ssh-rsa AAAA", (tmp_path / "e").read_bytes(), b"ssh-rsa " + b"A" * 20000,
                    with_exponent(rsa_line, b"\x01"), with_exponent(rsa_line, b"\x01" + b"\x00" * 8 + b"\x01")]:
        assert boto_error(ec2.import_key_pair, KeyName="bad", PublicKeyMaterial=garbage) == (
            "InvalidKey.Format", "Key is not in valid OpenSSH public key format")
    assert boto_error(ec2.import_key_pair, KeyName="imported-ed",
                      PublicKeyMaterial=(tmp_path / "r.pub").read_bytes()) == (
        "InvalidKeyPair.Duplicate", "The keypair 'imported-ed' already exists.")
    assert "InvalidKeyPair.NotFound" in cli_error(kecs, "ec2", "describe-key-pairs", "--key-pair-ids", "key-0123456789abcdef0")

    assert delete_raw(ec2, KeyPairId=r["KeyPairId"]) == ("true", r["KeyPairId"])
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["imported-ed"]


DATA = {
    "ImageId": "ami-0123456789abcdef0",
    "InstanceType": "t3.micro",
    "KeyName": "ops",
    "SecurityGroupIds": ["sg-0123456789abcdef0"],
    "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": True,
                           "Groups": ["sg-0123456789abcdef0"], "SubnetId": "subnet-0123456789abcdef0"}],
    "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
    "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "web"}]}],
    "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 30, "VolumeType": "gp3"}}],
    "UserData": base64.b64encode(b"#!/bin/sh\necho hi\n").decode(),
}


def test_launch_template_versions_cli_and_boto(kecs):
    import json
    lt = kecs.aws("ec2", "create-launch-template", "--launch-template-name", "web-lt",
                  "--version-description", "first", "--launch-template-data", json.dumps(DATA),
                  "--tag-specifications", "ResourceType=launch-template,Tags=[{Key=app,Value=web}]")["LaunchTemplate"]
    lt_id = lt["LaunchTemplateId"]
    assert re.fullmatch(r"lt-[0-9a-f]{17}", lt_id)
    assert lt["DefaultVersionNumber"] == 1 and lt["LatestVersionNumber"] == 1
    assert lt["CreatedBy"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert lt["Tags"] == [{"Key": "app", "Value": "web"}]
    ec2 = kecs.client("ec2")
    v1 = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id)["LaunchTemplateVersions"]
    assert len(v1) == 1 and v1[0]["DefaultVersion"] is True and v1[0]["VersionDescription"] == "first"
    assert v1[0]["LaunchTemplateData"] == DATA  # request shape in, response shape out, member for member

    v2 = ec2.create_launch_template_version(LaunchTemplateName="web-lt", SourceVersion="1",
                                            VersionDescription="bigger",
                                            LaunchTemplateData={"InstanceType": "m5.large"})["LaunchTemplateVersion"]
    assert v2["VersionNumber"] == 2 and v2["DefaultVersion"] is False
    assert v2["LaunchTemplateData"] == dict(DATA, InstanceType="m5.large")
    v3 = ec2.create_launch_template_version(LaunchTemplateId=lt_id, LaunchTemplateData={"ImageId": "ami-0fedcba9876543210"})
    assert v3["LaunchTemplateVersion"]["LaunchTemplateData"] == {"ImageId": "ami-0fedcba9876543210"}

    t = ec2.describe_launch_templates(LaunchTemplateNames=["web-lt"])["LaunchTemplates"][0]
    assert (t["DefaultVersionNumber"], t["LatestVersionNumber"]) == (1, 3)
    m = kecs.aws("ec2", "modify-launch-template", "--launch-template-id", lt_id, "--default-version", "2")
    assert m["LaunchTemplate"]["DefaultVersionNumber"] == 2
    got = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id, Versions=["$Default", "$Latest"])
    assert sorted(v["VersionNumber"] for v in got["LaunchTemplateVersions"]) == [2, 3]
    got = ec2.describe_launch_template_versions(LaunchTemplateName="web-lt", MinVersion="2")
    assert [v["VersionNumber"] for v in got["LaunchTemplateVersions"]] == [3, 2]
    got = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id, Filters=[
        {"Name": "instance-type", "Values": ["m5.*"]}])
    assert [v["VersionNumber"] for v in got["LaunchTemplateVersions"]] == [2]
    got = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id, Filters=[
        {"Name": "is-default-version", "Values": ["true"]}])
    assert [v["VersionNumber"] for v in got["LaunchTemplateVersions"]] == [2]
    # Pagination of versions through the CLI (it follows NextToken by itself) and boto3.
    page = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id, MaxResults=2)
    assert len(page["LaunchTemplateVersions"]) == 2 and "NextToken" in page
    rest = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id, MaxResults=2, NextToken=page["NextToken"])
    assert [v["VersionNumber"] for v in rest["LaunchTemplateVersions"]] == [1] and "NextToken" not in rest
    cli = kecs.aws("ec2", "describe-launch-template-versions", "--launch-template-id", lt_id, "--page-size", "1")
    assert [v["VersionNumber"] for v in cli["LaunchTemplateVersions"]] == [3, 2, 1]

    # Errors, with EC2's codes and words.
    assert boto_error(ec2.create_launch_template, LaunchTemplateName="web-lt", LaunchTemplateData={"InstanceType": "t3.micro"}) == (
        "InvalidLaunchTemplateName.AlreadyExistsException", "Launch template name already in use.")
    assert boto_error(ec2.create_launch_template, LaunchTemplateName="no spaces", LaunchTemplateData={"InstanceType": "t3.micro"}) == (
        "InvalidLaunchTemplateName.MalformedException",
        "A launch template name must be between 3 and 128 characters, and may contain letters, numbers, "
        "and the following characters: - ( ) . / _.")
    assert boto_error(ec2.modify_launch_template, LaunchTemplateId=lt_id, DefaultVersion="9") == (
        "InvalidLaunchTemplateId.VersionNotFound",
        f"Could not find the specified version 9 for the launch template with ID {lt_id}.")
    assert boto_error(ec2.describe_launch_template_versions, LaunchTemplateName="ghost") == (
        "InvalidLaunchTemplateName.NotFoundException",
        "The specified launch template, with template name ghost, does not exist.")
    assert boto_error(ec2.create_launch_template_version, LaunchTemplateId="lt-0123456789abcdef0",
                      LaunchTemplateData={"InstanceType": "t3.micro"}) == (
        "InvalidLaunchTemplateId.NotFound",
        "The specified launch template, with template ID lt-0123456789abcdef0, does not exist.")
    assert boto_error(ec2.describe_launch_templates, LaunchTemplateNames=["ghost"])[0] == (
        "InvalidLaunchTemplateName.NotFoundException")
    assert "InvalidLaunchTemplateId.VersionNotFound" in cli_error(
        kecs, "ec2", "create-launch-template-version", "--launch-template-id", lt_id,
        "--source-version", "7", "--launch-template-data", '{"InstanceType": "t3.micro"}')
    # A refused version leaves the template as it was.
    t = ec2.describe_launch_templates(LaunchTemplateIds=[lt_id])["LaunchTemplates"][0]
    assert (t["DefaultVersionNumber"], t["LatestVersionNumber"]) == (2, 3)

    d = kecs.aws("ec2", "delete-launch-template", "--launch-template-name", "web-lt")["LaunchTemplate"]
    assert d["LaunchTemplateId"] == lt_id
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []
    assert boto_error(ec2.describe_launch_template_versions, LaunchTemplateId=lt_id)[0] == "InvalidLaunchTemplateId.NotFound"
    # Its name is free again.
    ec2.create_launch_template(LaunchTemplateName="web-lt", LaunchTemplateData={"InstanceType": "t3.micro"})


def test_describe_launch_templates_pages_and_filters(kecs):
    ec2 = kecs.client("ec2")
    names = [f"tmpl-{i}" for i in range(5)]
    for i, n in enumerate(names):
        ec2.create_launch_template(LaunchTemplateName=n, LaunchTemplateData={"InstanceType": "t3.micro"},
                                   TagSpecifications=[{"ResourceType": "launch-template",
                                                       "Tags": [{"Key": "even", "Value": str(i % 2 == 0)}]}])
    seen, token = [], None
    while True:
        kw = {"MaxResults": 2}
        if token:
            kw["NextToken"] = token
        page = ec2.describe_launch_templates(**kw)
        assert len(page["LaunchTemplates"]) <= 2
        seen += [t["LaunchTemplateName"] for t in page["LaunchTemplates"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == names
    got = ec2.describe_launch_templates(Filters=[{"Name": "tag:even", "Values": ["True"]}])["LaunchTemplates"]
    assert [t["LaunchTemplateName"] for t in got] == ["tmpl-0", "tmpl-2", "tmpl-4"]
    got = ec2.describe_launch_templates(Filters=[{"Name": "launch-template-name", "Values": ["tmpl-3"]}])
    assert [t["LaunchTemplateName"] for t in got["LaunchTemplates"]] == ["tmpl-3"]
    # create-time matches the ISO 8601 time the answer shows (with a wildcard on the seconds).
    shown = ec2.describe_launch_templates(LaunchTemplateNames=["tmpl-1"])["LaunchTemplates"][0]["CreateTime"]
    minute = shown.strftime("%Y-%m-%dT%H:%M")
    got = ec2.describe_launch_templates(Filters=[{"Name": "create-time", "Values": [minute + ":*"]}])
    assert "tmpl-1" in [t["LaunchTemplateName"] for t in got["LaunchTemplates"]]
    # UserData is bounded as EC2 bounds it (16 KB before base64), and a version's data at 64 KiB.
    ec2.create_launch_template(LaunchTemplateName="at-limit",
                               LaunchTemplateData={"UserData": base64.b64encode(b"x" * 16384).decode()})
    ec2.delete_launch_template(LaunchTemplateName="at-limit")
    big = base64.b64encode(b"x" * 16385).decode()
    assert boto_error(ec2.create_launch_template, LaunchTemplateName="big",
                      LaunchTemplateData={"UserData": big}) == (
        "InvalidParameterValue", "User data is limited to 16384 bytes")
    assert boto_error(ec2.create_launch_template_version, LaunchTemplateName="tmpl-0",
                      LaunchTemplateData={"TagSpecifications": [{"ResourceType": "instance", "Tags": [
                          {"Key": f"k{i}", "Value": "v" * 250} for i in range(300)]}]})[0] == "InvalidParameterValue"
    assert ec2.describe_launch_templates(LaunchTemplateNames=["tmpl-0"])["LaunchTemplates"][0][
        "LatestVersionNumber"] == 1
    cli = kecs.aws("ec2", "describe-launch-templates", "--page-size", "2")
    assert [t["LaunchTemplateName"] for t in cli["LaunchTemplates"]] == names
    assert boto_error(ec2.describe_launch_templates, Filters=[{"Name": "colour", "Values": ["x"]}]) == (
        "InvalidParameterValue", "The filter 'colour' is invalid")
