"""Cloud Map namespaces, operations and tags through the aws CLI and boto3, with Cloud Map's
errors."""
import time

import pytest

from test_cloudmap_support import (ACCOUNT, NS_ID, OP_ID, REGION, cli, cli_error, client, error,
                                   error_response, http_namespace, namespace_id, operation,
                                   private_namespace)

NOT_FOUND = ("NamespaceNotFound", "Namespace not found.")


def test_http_namespace_lifecycle_through_the_cli(kecs):
    op_id = cli(kecs, "create-http-namespace", "--name", "demo", "--description", "first")["OperationId"]
    assert OP_ID.match(op_id)
    # Cloud Map works asynchronously; kecs has finished by the time it answers.
    op = cli(kecs, "get-operation", "--operation-id", op_id)["Operation"]
    assert (op["Id"], op["Type"], op["Status"]) == (op_id, "CREATE_NAMESPACE", "SUCCESS")
    ns_id = op["Targets"]["NAMESPACE"]
    assert NS_ID.match(ns_id)
    assert op["CreateDate"] == op["UpdateDate"]

    ns = cli(kecs, "get-namespace", "--id", ns_id)["Namespace"]
    assert ns["Id"] == ns_id
    assert ns["Arn"] == f"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:namespace/{ns_id}"
    assert (ns["Name"], ns["Type"], ns["Description"], ns["ServiceCount"]) == ("demo", "HTTP", "first", 0)
    assert ns["Properties"]["HttpProperties"] == {"HttpName": "demo"}
    assert ns["CreatorRequestId"]  # the CLI fills in the idempotency token
    # The ARN names it as well as the id.
    assert cli(kecs, "get-namespace", "--id", ns["Arn"])["Namespace"]["Id"] == ns_id

    [summary] = cli(kecs, "list-namespaces")["Namespaces"]
    assert summary["Id"] == ns_id and "CreatorRequestId" not in summary

    up = cli(kecs, "update-http-namespace", "--id", ns_id, "--namespace", "Description=second")
    assert cli(kecs, "get-operation", "--operation-id", up["OperationId"])["Operation"]["Type"] == "UPDATE_NAMESPACE"
    assert cli(kecs, "get-namespace", "--id", ns_id)["Namespace"]["Description"] == "second"

    gone = cli(kecs, "delete-namespace", "--id", ns_id)["OperationId"]
    op = cli(kecs, "get-operation", "--operation-id", gone)["Operation"]
    assert (op["Type"], op["Status"], op["Targets"]) == ("DELETE_NAMESPACE", "SUCCESS", {"NAMESPACE": ns_id})
    assert cli_error(kecs, "get-namespace", "--id", ns_id) == NOT_FOUND
    assert cli_error(kecs, "delete-namespace", "--id", ns_id) == NOT_FOUND
    assert cli(kecs, "list-namespaces")["Namespaces"] == []


def test_private_dns_namespace_is_bound_to_an_existing_vpc(kecs):
    sd = client(kecs)
    ns_id, vpc = private_namespace(kecs, sd, "corp.local",
                                   Properties={"DnsProperties": {"SOA": {"TTL": 60}}})
    ns = sd.get_namespace(Id=ns_id)["Namespace"]
    assert ns["Type"] == "DNS_PRIVATE"
    dns = ns["Properties"]["DnsProperties"]
    assert dns["HostedZoneId"].startswith("Z") and len(dns["HostedZoneId"]) == 21
    assert dns["SOA"] == {"TTL": 60}
    assert ns["Properties"]["HttpProperties"] == {"HttpName": "corp.local"}

    # Cloud Map's default SOA TTL.
    other, _ = private_namespace(kecs, sd, "other.local", cidr="10.1.0.0/16")
    assert sd.get_namespace(Id=other)["Namespace"]["Properties"]["DnsProperties"]["SOA"] == {"TTL": 15}

    # The same name in the same VPC exists already; in another VPC it is another zone, whose
    # HttpName Cloud Map makes unique.
    assert error(sd.create_private_dns_namespace, Name="corp.local", Vpc=vpc) == (
        "NamespaceAlreadyExists", "Namespace already exists.")
    again, _ = private_namespace(kecs, sd, "corp.local", cidr="10.2.0.0/16")
    http_name = sd.get_namespace(Id=again)["Namespace"]["Properties"]["HttpProperties"]["HttpName"]
    assert http_name.startswith("corp.local-") and http_name != "corp.local"

    # Route 53 refuses a VPC that does not exist: the request is accepted and its operation fails.
    op_id = sd.create_private_dns_namespace(Name="ghost.local", Vpc="vpc-0123456789abcdef0")["OperationId"]
    op = operation(sd, op_id)
    assert (op["Type"], op["Status"], op["ErrorCode"]) == ("CREATE_NAMESPACE", "FAIL", "CANNOT_CREATE_HOSTED_ZONE")
    assert op["ErrorMessage"].startswith(
        f"The VPC: vpc-0123456789abcdef0 in region {REGION} that you provided is not authorized "
        "to make the association. (Service: AmazonRoute53; Status Code: 400; Error Code: InvalidVPCId;")
    assert "ghost.local" not in [n["Name"] for n in sd.list_namespaces()["Namespaces"]]
    # A VPC of another region is no VPC here either.
    eu_vpc = kecs.client("ec2", region="eu-west-1").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    op_id = sd.create_private_dns_namespace(Name="eu.local", Vpc=eu_vpc)["OperationId"]
    assert operation(sd, op_id)["Status"] == "FAIL"

    # Updates: the SOA TTL and the description; the HTTP update is not for a DNS namespace.
    op_id = sd.update_private_dns_namespace(
        Id=ns_id, Namespace={"Description": "d", "Properties": {"DnsProperties": {"SOA": {"TTL": 300}}}})["OperationId"]
    assert operation(sd, op_id)["Type"] == "UPDATE_NAMESPACE"
    ns = sd.get_namespace(Id=ns_id)["Namespace"]
    assert (ns["Description"], ns["Properties"]["DnsProperties"]["SOA"]["TTL"]) == ("d", 300)
    assert error(sd.update_http_namespace, Id=ns_id, Namespace={"Description": "x"}) == (
        "InvalidInput", f"Namespace {ns_id} is not an HTTP namespace.")
    assert error(sd.update_public_dns_namespace, Id=ns_id, Namespace={"Description": "x"}) == (
        "InvalidInput", f"Namespace {ns_id} is not a public DNS namespace.")
    assert error(sd.update_private_dns_namespace, Id="ns-0000000000000000",
                 Namespace={"Description": "x"}) == NOT_FOUND


def test_public_dns_namespace_and_name_rules(kecs):
    sd = client(kecs)
    ns_id = namespace_id(sd, sd.create_public_dns_namespace(Name="example.com")["OperationId"])
    ns = sd.get_namespace(Id=ns_id)["Namespace"]
    assert ns["Type"] == "DNS_PUBLIC" and ns["Properties"]["DnsProperties"]["SOA"] == {"TTL": 15}
    assert error(sd.create_public_dns_namespace, Name="example.com") == (
        "NamespaceAlreadyExists", "Namespace already exists.")
    pattern = (r"^([a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}"
               r"[a-zA-Z0-9])?$")
    assert error(sd.create_public_dns_namespace, Name="nodots") == (
        "InvalidInput", "1 validation error detected: Value 'nodots' at 'Name' failed to satisfy "
                        f"constraint: Member must satisfy regular expression pattern: {pattern}")
    assert error(sd.create_http_namespace, Name="arn:x")[0] == "InvalidInput"
    op_id = sd.update_public_dns_namespace(
        Id=ns_id, Namespace={"Properties": {"DnsProperties": {"SOA": {"TTL": 30}}}})["OperationId"]
    assert operation(sd, op_id)["Status"] == "SUCCESS"
    assert sd.get_namespace(Id=ns_id)["Namespace"]["Properties"]["DnsProperties"]["SOA"]["TTL"] == 30


def test_creator_request_id_makes_a_retry_idempotent(kecs):
    sd = client(kecs)
    first = sd.create_http_namespace(Name="api", CreatorRequestId="req-1")["OperationId"]
    assert sd.create_http_namespace(Name="api", CreatorRequestId="req-1")["OperationId"] == first
    assert len(sd.list_namespaces()["Namespaces"]) == 1
    # Another request for the name is refused.
    assert error(sd.create_http_namespace, Name="api", CreatorRequestId="req-2") == (
        "NamespaceAlreadyExists", "Namespace already exists.")
    assert cli_error(kecs, "create-http-namespace", "--name", "api") == (
        "NamespaceAlreadyExists", "Namespace already exists.")


def test_namespace_already_exists_names_the_existing_namespace(kecs):
    sd = client(kecs)
    ns_id = http_namespace(sd, "api", CreatorRequestId="req-1")
    resp = error_response(sd.create_http_namespace, Name="api", CreatorRequestId="req-2")
    assert (resp.get("NamespaceId"), resp.get("CreatorRequestId")) == (ns_id, "req-1")


def test_list_namespaces_filters_and_pagination(kecs):
    sd = client(kecs)
    ids = [http_namespace(sd, f"team-{i}") for i in range(5)]
    pub = namespace_id(sd, sd.create_public_dns_namespace(Name="example.org")["OperationId"])

    def names(**kw):
        return [n["Name"] for n in sd.list_namespaces(**kw)["Namespaces"]]

    assert names() == [f"team-{i}" for i in range(5)] + ["example.org"]
    assert names(Filters=[{"Name": "TYPE", "Values": ["DNS_PUBLIC"]}]) == ["example.org"]
    assert names(Filters=[{"Name": "TYPE", "Values": ["HTTP"], "Condition": "EQ"},
                          {"Name": "NAME", "Values": ["team-3"]}]) == ["team-3"]
    assert names(Filters=[{"Name": "NAME", "Values": ["team-"], "Condition": "BEGINS_WITH"}]) == [
        f"team-{i}" for i in range(5)]
    assert names(Filters=[{"Name": "HTTP_NAME", "Values": ["sfsdf"]}]) == []
    assert names(Filters=[{"Name": "RESOURCE_OWNER", "Values": ["SELF"]}])[-1] == "example.org"
    assert names(Filters=[{"Name": "RESOURCE_OWNER", "Values": ["OTHER_ACCOUNTS"]}]) == []
    assert error(sd.list_namespaces, Filters=[{"Name": "NAME", "Values": ["a", "b"], "Condition": "IN"}]) == (
        "InvalidInput", "The IN condition is not supported for the NAME filter.")
    assert error(sd.list_namespaces, Filters=[{"Name": "TYPE", "Values": ["HTTP", "DNS_PUBLIC"]}]) == (
        "InvalidInput", "The EQ condition requires exactly one value for the TYPE filter.")

    # Pages of two: three calls, nothing lost or repeated.
    seen, token, calls = [], None, 0
    while True:
        kw = {"MaxResults": 2, **({"NextToken": token} if token else {})}
        page = sd.list_namespaces(**kw)
        calls += 1
        seen += [n["Id"] for n in page["Namespaces"]]
        token = page.get("NextToken")
        if not token:
            break
    assert (seen, calls) == (ids + [pub], 3)
    # boto3's paginator and the CLI's own paging agree.
    pages = sd.get_paginator("list_namespaces").paginate(PaginationConfig={"PageSize": 4})
    assert [n["Id"] for p in pages for n in p["Namespaces"]] == ids + [pub]
    first = cli(kecs, "list-namespaces", "--no-paginate", "--max-results", "5")
    assert len(first["Namespaces"]) == 5 and first["NextToken"]
    rest = cli(kecs, "list-namespaces", "--no-paginate", "--next-token", first["NextToken"])
    assert [n["Id"] for n in rest["Namespaces"]] == [pub] and "NextToken" not in rest
    assert [n["Id"] for n in cli(kecs, "list-namespaces", "--page-size", "2")["Namespaces"]] == ids + [pub]
    assert error(sd.list_namespaces, NextToken="bogus") == ("InvalidInput", "The NextToken value is not valid.")
    # The model's range for MaxResults.
    assert error(sd.list_namespaces, MaxResults=101)[0] == "InvalidInput"


def test_delete_namespace_refuses_while_it_has_services(kecs):
    sd = client(kecs)
    ns = http_namespace(sd, "busy")
    svc = sd.create_service(Name="web", NamespaceId=ns)["Service"]["Id"]
    assert error(sd.delete_namespace, Id=ns) == (
        "ResourceInUse", "Namespace has associated services; delete the services before deleting the namespace")
    assert sd.get_namespace(Id=ns)["Namespace"]["ServiceCount"] == 1
    sd.delete_service(Id=svc)
    assert operation(sd, sd.delete_namespace(Id=ns)["OperationId"])["Status"] == "SUCCESS"


def test_operations_are_listed_and_filtered(kecs):
    sd = client(kecs)
    t0 = time.time() - 1
    ns = http_namespace(sd, "ops")
    svc = sd.create_service(Name="web", NamespaceId=ns)["Service"]["Id"]
    reg = sd.register_instance(ServiceId=svc, InstanceId="i-1", Attributes={"k": "v"})["OperationId"]
    op = operation(sd, reg)
    assert (op["Type"], op["Status"], op["Targets"]) == (
        "REGISTER_INSTANCE", "SUCCESS", {"INSTANCE": "i-1", "SERVICE": svc})
    assert op["OwnerAccount"] == ACCOUNT
    dereg = sd.deregister_instance(ServiceId=svc, InstanceId="i-1")["OperationId"]
    assert operation(sd, dereg)["Type"] == "DEREGISTER_INSTANCE"
    upd = sd.update_service(Id=svc, Service={"Description": "d"})["OperationId"]
    assert operation(sd, upd)["Targets"] == {"SERVICE": svc}
    failed = sd.create_private_dns_namespace(Name="x.local", Vpc="vpc-00000000")["OperationId"]

    def ids(*filters):
        return [o["Id"] for o in sd.list_operations(Filters=list(filters))["Operations"]]

    everything = sd.list_operations()["Operations"]
    assert [o["Id"] for o in everything][1:] == [reg, dereg, upd, failed]
    assert all(set(o) == {"Id", "Status"} for o in everything)
    assert ids({"Name": "TYPE", "Values": ["REGISTER_INSTANCE", "DEREGISTER_INSTANCE"], "Condition": "IN"}) == [reg, dereg]
    assert ids({"Name": "STATUS", "Values": ["FAIL"]}) == [failed]
    assert ids({"Name": "SERVICE_ID", "Values": [svc]}) == [reg, dereg, upd]
    assert len(ids({"Name": "NAMESPACE_ID", "Values": [ns]})) == 1
    assert len(ids({"Name": "UPDATE_DATE", "Values": [str(t0), str(time.time() + 1)], "Condition": "BETWEEN"})) == 5
    assert ids({"Name": "UPDATE_DATE", "Values": ["0", "1"], "Condition": "BETWEEN"}) == []
    assert error(sd.list_operations, Filters=[{"Name": "UPDATE_DATE", "Values": ["0"], "Condition": "BETWEEN"}])[0] == "InvalidInput"
    page = sd.list_operations(MaxResults=3)
    assert len(page["Operations"]) == 3
    assert len(sd.list_operations(NextToken=page["NextToken"])["Operations"]) == 2
    assert error(sd.get_operation, OperationId="nope") == ("OperationNotFound", "Operation not found.")
    assert cli_error(kecs, "get-operation", "--operation-id", "nope") == ("OperationNotFound", "Operation not found.")


def test_tags_on_namespaces_and_services(kecs):
    sd = client(kecs)
    ns = http_namespace(sd, "tagged", Tags=[{"Key": "team", "Value": "a"}])
    ns_arn = sd.get_namespace(Id=ns)["Namespace"]["Arn"]
    assert sd.list_tags_for_resource(ResourceARN=ns_arn)["Tags"] == [{"Key": "team", "Value": "a"}]
    sd.tag_resource(ResourceARN=ns_arn, Tags=[{"Key": "team", "Value": "b"}, {"Key": "env", "Value": "dev"}])
    assert sd.list_tags_for_resource(ResourceARN=ns_arn)["Tags"] == [
        {"Key": "team", "Value": "b"}, {"Key": "env", "Value": "dev"}]
    sd.untag_resource(ResourceARN=ns_arn, TagKeys=["team"])
    assert sd.list_tags_for_resource(ResourceARN=ns_arn)["Tags"] == [{"Key": "env", "Value": "dev"}]

    svc = sd.create_service(Name="web", NamespaceId=ns, Tags=[{"Key": "k", "Value": "v"}])["Service"]
    assert cli(kecs, "list-tags-for-resource", "--resource-arn", svc["Arn"])["Tags"] == [{"Key": "k", "Value": "v"}]
    cli(kecs, "tag-resource", "--resource-arn", svc["Arn"], "--tags", "Key=x,Value=y")
    assert len(sd.list_tags_for_resource(ResourceARN=svc["Arn"])["Tags"]) == 2

    missing = f"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:service/srv-0000000000000000"
    not_found = ("ResourceNotFoundException", "The operation can't be completed because the resource was not found.")
    assert error(sd.list_tags_for_resource, ResourceARN=missing) == not_found
    assert error(sd.tag_resource, ResourceARN=missing, Tags=[{"Key": "a", "Value": "b"}]) == not_found
    assert error(sd.list_tags_for_resource, ResourceARN="arn:aws:ecs:us-east-1:0:cluster/x") == (
        "InvalidInput", "arn:aws:ecs:us-east-1:0:cluster/x is not a valid Cloud Map resource ARN.")
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert error(sd.tag_resource, ResourceARN=ns_arn, Tags=many) == (
        "TooManyTagsException", "The resource can have up to 50 tags.")
    assert error(sd.tag_resource, ResourceARN=ns_arn, Tags=[{"Key": "aws:x", "Value": "v"}]) == (
        "InvalidInput", "Tag keys starting with 'aws:' are reserved for system use.")
    # Deleted, the service has no tags to list.
    sd.delete_service(Id=svc["Id"])
    assert error(sd.list_tags_for_resource, ResourceARN=svc["Arn"]) == not_found


def test_namespaces_are_regional(kecs):
    east, west = client(kecs), client(kecs, region="eu-west-1")
    ns = http_namespace(west, "api")
    assert [n["Id"] for n in west.list_namespaces()["Namespaces"]] == [ns]
    assert west.get_namespace(Id=ns)["Namespace"]["Arn"].startswith("arn:aws:servicediscovery:eu-west-1:")
    assert east.list_namespaces()["Namespaces"] == []
    assert error(east.get_namespace, Id=ns) == NOT_FOUND
    # The name is free in another region.
    assert operation(east, east.create_http_namespace(Name="api")["OperationId"])["Status"] == "SUCCESS"
    assert cli(kecs, "list-namespaces", region="eu-west-1")["Namespaces"][0]["Id"] == ns
