"""EC2 DescribeInstanceTypes and DescribeImages over kecs's fixed catalogs (real instance
types; the ECS-optimized Amazon Linux AMIs under kecs's per-region ids), through boto3 and
the real aws CLI: filters, pagination and EC2's errors."""
import re
import urllib.parse
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials

from test_ec2_security_groups import boto_error as error_of, cli_error


def ec2_query(kecs, action="DescribeImages", **params):
    """A signed EC2 Query request (this botocore's model predates DescribeImages'
    MaxResults/NextToken); returns (HTTP status, body)."""
    body = urllib.parse.urlencode({"Action": action, "Version": "2016-11-15", **params})
    req = botocore.awsrequest.AWSRequest(method="POST", url=kecs.endpoint + "/", data=body,
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("AKIDKECSTEST", "secret"), "ec2",
                            "us-east-1").add_auth(req)
    r = urllib.request.Request(req.url, data=body.encode(), headers=dict(req.headers), method="POST")
    try:
        with urllib.request.urlopen(r) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_describe_instance_types_values(kecs):
    ec2 = kecs.client("ec2")
    [m5] = ec2.describe_instance_types(InstanceTypes=["m5.large"])["InstanceTypes"]
    assert m5["InstanceType"] == "m5.large"
    assert m5["VCpuInfo"]["DefaultVCpus"] == 2
    assert m5["VCpuInfo"]["DefaultCores"] == 1
    assert m5["VCpuInfo"]["DefaultThreadsPerCore"] == 2
    assert m5["MemoryInfo"]["SizeInMiB"] == 8192
    assert m5["ProcessorInfo"]["SupportedArchitectures"] == ["x86_64"]
    net = m5["NetworkInfo"]
    assert (net["MaximumNetworkInterfaces"], net["Ipv4AddressesPerInterface"], net["Ipv6AddressesPerInterface"]) == (3, 10, 10)
    assert net["NetworkCards"] == [{"NetworkCardIndex": 0, "NetworkPerformance": "Up to 10 Gigabit",
                                    "MaximumNetworkInterfaces": 3}]
    assert net["EnaSupport"] == "required" and net["Ipv6Supported"] is True
    assert m5["Hypervisor"] == "nitro"
    assert m5["CurrentGeneration"] is True and m5["BurstablePerformanceSupported"] is False
    assert m5["SupportedUsageClasses"] == ["on-demand", "spot"]
    assert m5["SupportedRootDeviceTypes"] == ["ebs"]

    got = {t["InstanceType"]: t for t in ec2.describe_instance_types(
        InstanceTypes=["t3.micro", "m6g.medium", "c5.metal"])["InstanceTypes"]}
    assert set(got) == {"t3.micro", "m6g.medium", "c5.metal"}
    assert got["t3.micro"]["BurstablePerformanceSupported"] is True
    assert got["t3.micro"]["NetworkInfo"]["MaximumNetworkInterfaces"] == 2
    assert got["m6g.medium"]["ProcessorInfo"]["SupportedArchitectures"] == ["arm64"]
    assert got["c5.metal"]["BareMetal"] is True and "Hypervisor" not in got["c5.metal"]


def test_describe_instance_types_filters(kecs):
    ec2 = kecs.client("ec2")

    def names(*filters):
        out = ec2.describe_instance_types(Filters=[{"Name": n, "Values": v} for n, v in filters])
        return sorted(t["InstanceType"] for t in out["InstanceTypes"])

    assert names(("instance-type", ["t3.*"])) == sorted(
        f"t3.{s}" for s in ["nano", "micro", "small", "medium", "large", "xlarge", "2xlarge"])
    assert names(("instance-type", ["m5.?xlarge"])) == ["m5.2xlarge", "m5.4xlarge", "m5.8xlarge"]
    assert names(("instance-type", ["c6g.*"]), ("bare-metal", ["true"])) == ["c6g.metal"]
    assert names(("processor-info.supported-architecture", ["arm64"]), ("vcpu-info.default-vcpus", ["1"])) == [
        "a1.medium", "c6g.medium", "m6g.medium", "m7g.medium", "r6g.medium"]
    assert names(("memory-info.size-in-mib", ["1048576"])) == ["r6i.32xlarge", "r6i.metal"]
    assert names(("burstable-performance-supported", ["true"]), ("network-info.maximum-network-interfaces", ["2"]),
                 ("processor-info.supported-architecture", ["x86_64"])) == [
        "t3.micro", "t3.nano", "t3a.micro", "t3a.nano", "t3a.small"]
    assert names(("hypervisor", ["nitro"]), ("instance-type", ["m5.*"])) == sorted(
        f"m5.{s}" for s in ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge"])
    assert len(names(("current-generation", ["true"]))) == 119
    assert names(("current-generation", ["false"])) == []

    code, msg = error_of(ec2.describe_instance_types, Filters=[{"Name": "colour", "Values": ["blue"]}])
    assert (code, msg) == ("InvalidParameterValue", "The filter 'colour' is invalid")


def test_describe_instance_types_errors(kecs):
    ec2 = kecs.client("ec2")
    # A real type that is not in kecs's catalog, and one that does not exist at all (outside
    # the model's InstanceType enum too): both EC2's InvalidInstanceType, as AWS answers.
    assert error_of(ec2.describe_instance_types, InstanceTypes=["m5.large", "p4d.24xlarge"]) == (
        "InvalidInstanceType", "The following supplied instance types do not exist: [p4d.24xlarge]")
    assert error_of(ec2.describe_instance_types, InstanceTypes=["m5.huge"]) == (
        "InvalidInstanceType", "The following supplied instance types do not exist: [m5.huge]")
    # MaxResults outside the model's 5..100 (boto3 refuses it before sending).
    status, body = ec2_query(kecs, "DescribeInstanceTypes", MaxResults="4")
    assert status == 400 and "<Code>InvalidParameterValue</Code>" in body, body
    err = cli_error(kecs, "ec2", "describe-instance-types", "--instance-types", "g5.xlarge", "x2gd.large")
    assert "(InvalidInstanceType)" in err
    assert "The following supplied instance types do not exist: [g5.xlarge, x2gd.large]" in err


def test_describe_instance_types_pagination(kecs):
    ec2 = kecs.client("ec2")
    first = ec2.describe_instance_types(MaxResults=5)
    assert len(first["InstanceTypes"]) == 5 and first["NextToken"]
    second = ec2.describe_instance_types(MaxResults=5, NextToken=first["NextToken"])
    assert not {t["InstanceType"] for t in first["InstanceTypes"]} & {t["InstanceType"] for t in second["InstanceTypes"]}
    pages = list(ec2.get_paginator("describe_instance_types").paginate(PaginationConfig={"PageSize": 20}))
    assert len(pages) == 6
    all_names = [t["InstanceType"] for p in pages for t in p["InstanceTypes"]]
    assert len(all_names) == len(set(all_names)) == 119
    # The CLI's own auto-pagination over pages of 7, and --max-items.
    out = kecs.aws("ec2", "describe-instance-types", "--page-size", "7")
    assert len(out["InstanceTypes"]) == 119
    out = kecs.aws("ec2", "describe-instance-types", "--max-items", "12", "--page-size", "5",
                   "--filters", "Name=processor-info.supported-architecture,Values=arm64")
    assert len(out["InstanceTypes"]) == 12 and out.get("NextToken")
    arm = kecs.aws("ec2", "describe-instance-types", "--filters",
                   "Name=processor-info.supported-architecture,Values=arm64",
                   "--query", "InstanceTypes[].InstanceType")
    assert len(arm) == 5 + 7 + 9 + 9 + 9 + 9  # a1, t4g, m6g, m7g, c6g, r6g
    assert error_of(ec2.describe_instance_types, MaxResults=5, NextToken="garbage")[0] == "InvalidParameterValue"


def test_describe_images_ecs_optimized(kecs):
    ec2 = kecs.client("ec2")
    out = ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": ["al2023-ami-ecs-hvm-*-kernel-6.1-x86_64"]}])["Images"]
    assert [i["Name"] for i in out] == ["al2023-ami-ecs-hvm-2023.0.20241115-kernel-6.1-x86_64"]
    im = out[0]
    assert im["OwnerId"] == "591542846629" and im["ImageOwnerAlias"] == "amazon"
    assert im["Architecture"] == "x86_64" and im["State"] == "available" and im["Public"] is True
    assert im["RootDeviceType"] == "ebs" and im["VirtualizationType"] == "hvm" and im["RootDeviceName"] == "/dev/xvda"
    assert im["ImageId"].startswith("ami-0") and len(im["ImageId"]) == 21
    assert im["BlockDeviceMappings"][0]["Ebs"]["VolumeType"] == "gp3"
    # Stable: the same id on a second call and on a second daemon start; another region has its own.
    assert ec2.describe_images(ImageIds=[im["ImageId"]])["Images"][0]["Name"] == im["Name"]
    west = kecs.client("ec2", region="eu-west-1").describe_images(
        Filters=[{"Name": "name", "Values": [im["Name"]]}])["Images"]
    assert west[0]["ImageId"] != im["ImageId"]

    arm = ec2.describe_images(Owners=["591542846629"], Filters=[
        {"Name": "architecture", "Values": ["arm64"]}])["Images"]
    assert sorted(i["Name"] for i in arm) == ["al2023-ami-ecs-hvm-2023.0.20241115-kernel-6.1-arm64",
                                               "amzn2-ami-ecs-hvm-2.0.20241115-arm64-ebs"]
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    assert len(ec2.describe_images()["Images"]) == 4
    assert len(ec2.describe_images(IncludeDeprecated=True)["Images"]) == 8
    assert len(ec2.describe_images(Filters=[{"Name": "owner-alias", "Values": ["amazon"]},
                                            {"Name": "root-device-type", "Values": ["ebs"]},
                                            {"Name": "virtualization-type", "Values": ["hvm"]},
                                            {"Name": "state", "Values": ["available"]}])["Images"]) == 4
    old = ec2.describe_images(IncludeDeprecated=True, Filters=[
        {"Name": "name", "Values": ["amzn2-ami-ecs-hvm-2.0.20240709-x86_64-ebs"]}])["Images"]
    assert len(old) == 1
    # A deprecated image asked for by id is shown without IncludeDeprecated.
    assert ec2.describe_images(ImageIds=[old[0]["ImageId"]])["Images"][0]["Name"] == old[0]["Name"]
    by_id = ec2.describe_images(Filters=[{"Name": "image-id", "Values": [im["ImageId"]]}])["Images"]
    assert [i["ImageId"] for i in by_id] == [im["ImageId"]]

    cli = kecs.aws("ec2", "describe-images", "--owners", "amazon", "--filters",
                   "Name=name,Values=amzn2-ami-ecs-hvm-*-x86_64-ebs",
                   "--query", "sort_by(Images,&CreationDate)[-1].Name", "--output", "json")
    assert cli == "amzn2-ami-ecs-hvm-2.0.20241115-x86_64-ebs"


def test_describe_images_errors_and_pages(kecs):
    ec2 = kecs.client("ec2")
    assert error_of(ec2.describe_images, ImageIds=["ami-0123456789abcdef0"]) == (
        "InvalidAMIID.NotFound", "The image id '[ami-0123456789abcdef0]' does not exist")
    assert error_of(ec2.describe_images, ImageIds=["ami-xyz"]) == (
        "InvalidAMIID.Malformed", 'Invalid id: "ami-xyz" (expecting "ami-...")')
    assert error_of(ec2.describe_images, Filters=[{"Name": "flavour", "Values": ["x"]}]) == (
        "InvalidParameterValue", "The filter 'flavour' is invalid")
    err = cli_error(kecs, "ec2", "describe-images", "--image-ids", "ami-00000000")
    assert "(InvalidAMIID.NotFound)" in err and "The image id '[ami-00000000]' does not exist" in err

    # MaxResults / NextToken (sent raw: this botocore does not know them for DescribeImages).
    seen, token, pages = [], None, 0
    while True:
        params = {"IncludeDeprecated": "true", "MaxResults": "3"}
        if token:
            params["NextToken"] = token
        status, body = ec2_query(kecs, **params)
        assert status == 200, body
        seen += re.findall(r"<imageId>(ami-[0-9a-f]+)</imageId>", body)
        pages += 1
        m = re.search(r"<nextToken>([^<]+)</nextToken>", body)
        if not m:
            break
        token = m.group(1)
    assert pages == 3 and len(seen) == len(set(seen)) == 8
    status, body = ec2_query(kecs, MaxResults="0")
    assert status == 400 and "<Code>InvalidParameterValue</Code>" in body
