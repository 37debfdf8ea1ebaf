"""Cloud Map services and service attributes through the aws CLI and boto3, with Cloud Map's
errors."""
import json

import pytest

from test_cloudmap_support import (ACCOUNT, REGION, SRV_ID, a_service, cli, cli_error, client, error,
                                   error_response, http_namespace, operation, private_namespace,
                                   raw_call)

NOT_FOUND = ("ServiceNotFound", "Service not found.")


def test_dns_service_lifecycle_through_the_cli(kecs):
    sd = client(kecs)
    ns, _ = private_namespace(kecs, sd, "corp.local")
    dns = json.dumps({"RoutingPolicy": "MULTIVALUE",
                      "DnsRecords": [{"Type": "A", "TTL": 10}, {"Type": "SRV", "TTL": 20}]})
    svc = cli(kecs, "create-service", "--name", "web", "--namespace-id", ns, "--dns-config", dns,
              "--health-check-custom-config", "FailureThreshold=3", "--description", "front")["Service"]
    assert SRV_ID.match(svc["Id"])
    assert svc["Arn"] == f"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:service/{svc['Id']}"
    assert (svc["Name"], svc["NamespaceId"], svc["Type"], svc["Description"]) == ("web", ns, "DNS_HTTP", "front")
    assert svc["DnsConfig"] == {"NamespaceId": ns, "RoutingPolicy": "MULTIVALUE",
                                "DnsRecords": [{"Type": "A", "TTL": 10}, {"Type": "SRV", "TTL": 20}]}
    # FailureThreshold is no longer supported and always 1.
    assert svc["HealthCheckCustomConfig"] == {"FailureThreshold": 1}
    assert svc["InstanceCount"] == 0 and svc["CreatorRequestId"]

    got = cli(kecs, "get-service", "--id", svc["Id"])["Service"]
    assert got == svc
    assert cli(kecs, "get-service", "--id", svc["Arn"])["Service"]["Id"] == svc["Id"]
    [summary] = cli(kecs, "list-services")["Services"]
    assert summary["Id"] == svc["Id"] and "NamespaceId" not in summary
    assert sd.get_namespace(Id=ns)["Namespace"]["ServiceCount"] == 1

    # UpdateService changes TTLs; record types stay.
    change = json.dumps({"DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 30}, {"Type": "SRV", "TTL": 40}]}})
    op = cli(kecs, "update-service", "--id", svc["Id"], "--service", change)["OperationId"]
    assert operation(sd, op)["Type"] == "UPDATE_SERVICE"
    assert sd.get_service(Id=svc["Id"])["Service"]["DnsConfig"]["DnsRecords"] == [
        {"Type": "A", "TTL": 30}, {"Type": "SRV", "TTL": 40}]
    assert cli_error(kecs, "update-service", "--id", svc["Id"], "--service",
                     json.dumps({"DnsConfig": {"DnsRecords": [{"Type": "AAAA", "TTL": 30}]}})) == (
        "InvalidInput", "The record type of a service specified in a DnsRecord object can't be updated. To "
                        "change a record type, you need to delete the service and recreate it with a new DnsConfig.")

    cli(kecs, "delete-service", "--id", svc["Id"])
    assert cli_error(kecs, "get-service", "--id", svc["Id"]) == NOT_FOUND
    assert cli_error(kecs, "delete-service", "--id", svc["Id"]) == NOT_FOUND
    assert sd.list_services()["Services"] == []


def test_http_services(kecs):
    sd = client(kecs)
    ns = http_namespace(sd, "api")
    svc = sd.create_service(Name="orders", NamespaceId=ns)["Service"]
    assert svc["Type"] == "HTTP" and "DnsConfig" not in svc
    # Names differ by case in an HTTP namespace.
    assert sd.create_service(Name="Orders", NamespaceId=ns)["Service"]["Name"] == "Orders"
    assert error(sd.create_service, Name="web", NamespaceId=ns,
                 DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 10}]}) == (
        "InvalidInput", "When you specify an HTTP service, you can't include a DnsConfig element.")
    # A DNS namespace can hold an API-only (Type HTTP) service too.
    dns_ns, _ = private_namespace(kecs, sd, "corp.local")
    only_api = sd.create_service(Name="jobs", NamespaceId=dns_ns, Type="HTTP")["Service"]
    assert only_api["Type"] == "HTTP" and "DnsConfig" not in only_api
    assert error(sd.create_service, Name="jobs2", NamespaceId=dns_ns, Type="HTTP",
                 DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 10}]})[1] == (
        "When you specify an HTTP service, you can't include a DnsConfig element.")
    # The deprecated DnsConfig.NamespaceId still names the namespace.
    legacy = sd.create_service(Name="legacy", DnsConfig={"NamespaceId": dns_ns,
                                                         "DnsRecords": [{"Type": "A", "TTL": 5}]})["Service"]
    assert legacy["NamespaceId"] == dns_ns and legacy["Type"] == "DNS_HTTP"


def test_create_service_refusals(kecs):
    sd = client(kecs)
    ns, _ = private_namespace(kecs, sd, "corp.local")
    pub = operation(sd, sd.create_public_dns_namespace(Name="example.com")["OperationId"])["Targets"]["NAMESPACE"]
    a_service(sd, ns, "web")

    assert error(sd.create_service, Name="web", NamespaceId=ns,
                 DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 10}]}) == (
        "ServiceAlreadyExists", "Service already exists.")
    # DNS names ignore case.
    assert error(sd.create_service, Name="WEB", NamespaceId=ns)[0] == "ServiceAlreadyExists"
    assert error(sd.create_service, Name="x", NamespaceId="ns-0000000000000000") == (
        "NamespaceNotFound", "Namespace not found.")
    assert error(sd.create_service, Name="x") == (
        "InvalidInput", "NamespaceId is required: specify it in the request or in DnsConfig.")
    assert error(sd.create_service, Name="bad name", NamespaceId=ns)[1].startswith(
        "1 validation error detected: Value 'bad name' at 'Name' failed to satisfy constraint: Member "
        "must satisfy regular expression pattern: ")
    assert error(sd.create_service, Name="both", NamespaceId=pub,
                 HealthCheckConfig={"Type": "HTTP"}, HealthCheckCustomConfig={}) == (
        "InvalidInput", "You can specify either HealthCheckConfig or HealthCheckCustomConfig, but not both.")
    assert error(sd.create_service, Name="hc", NamespaceId=ns, HealthCheckConfig={"Type": "TCP"}) == (
        "InvalidInput", "HealthCheckConfig is supported only for services in public DNS and HTTP "
                        "namespaces; use HealthCheckCustomConfig for a private DNS namespace.")
    assert error(sd.create_service, Name="c", NamespaceId=ns,
                 DnsConfig={"DnsRecords": [{"Type": "CNAME", "TTL": 10}]}) == (
        "InvalidInput", "When DnsRecords contains a CNAME record, RoutingPolicy must be WEIGHTED.")
    assert error(sd.create_service, Name="c", NamespaceId=ns,
                 DnsConfig={"RoutingPolicy": "WEIGHTED",
                            "DnsRecords": [{"Type": "CNAME", "TTL": 10}, {"Type": "A", "TTL": 10}]}) == (
        "InvalidInput", "A CNAME DnsRecord can't be combined with DnsRecords of other types.")
    assert error(sd.create_service, Name="c", NamespaceId=pub, HealthCheckConfig={"Type": "HTTP"},
                 DnsConfig={"RoutingPolicy": "WEIGHTED", "DnsRecords": [{"Type": "CNAME", "TTL": 10}]}) == (
        "InvalidInput", "You can't specify both CNAME for Type and settings for HealthCheckConfig.")
    assert error(sd.create_service, Name="d", NamespaceId=ns,
                 DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 10}, {"Type": "A", "TTL": 20}]}) == (
        "InvalidInput", "DnsRecords can contain only one DnsRecord of type A.")
    assert error(sd.create_service, Name="e", NamespaceId=ns, DnsConfig={"DnsRecords": []}) == (
        "InvalidInput", "DnsRecords must contain at least one DnsRecord.")
    # The model's front-end checks: required members and enums.
    assert error(sd.create_service, Name="f", NamespaceId=ns,
                 DnsConfig={"DnsRecords": [{"Type": "MX", "TTL": 10}]})[0] == "InvalidInput"
    status, body = raw_call(kecs, "CreateService", {"Name": "f", "NamespaceId": ns,
                                                    "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": -1}]}})
    assert (status, body["__type"]) == (400, "InvalidInput")
    assert "Member must have value greater than or equal to 0" in body["Message"]
    # Nothing refused was created.
    assert [s["Name"] for s in sd.list_services()["Services"]] == ["web"]

    # A public namespace takes a Route 53 health check, with Cloud Map's defaults.
    hc = sd.create_service(Name="www", NamespaceId=pub, HealthCheckConfig={"Type": "HTTPS"},
                           DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 10}]})["Service"]
    assert hc["HealthCheckConfig"] == {"Type": "HTTPS", "ResourcePath": "/", "FailureThreshold": 1}
    assert error(sd.create_service, Name="tcp", NamespaceId=pub,
                 HealthCheckConfig={"Type": "TCP", "ResourcePath": "/x"}) == (
        "InvalidInput", "You can't specify ResourcePath for a TCP health check.")
    # An UpdateService without HealthCheckConfig removes it, as Cloud Map documents.
    sd.update_service(Id=hc["Id"], Service={"DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 99}]}})
    assert "HealthCheckConfig" not in sd.get_service(Id=hc["Id"])["Service"]
    sd.update_service(Id=hc["Id"], Service={"HealthCheckConfig": {"Type": "TCP"}})
    assert sd.get_service(Id=hc["Id"])["Service"]["HealthCheckConfig"] == {"Type": "TCP", "FailureThreshold": 1}
    assert error(sd.update_service, Id="srv-0000000000000000", Service={}) == NOT_FOUND


def test_creator_request_id_makes_a_retry_idempotent(kecs):
    sd = client(kecs)
    ns = http_namespace(sd, "api")
    first = sd.create_service(Name="web", NamespaceId=ns, CreatorRequestId="r1")["Service"]
    assert sd.create_service(Name="web", NamespaceId=ns, CreatorRequestId="r1")["Service"]["Id"] == first["Id"]
    assert error(sd.create_service, Name="web", NamespaceId=ns, CreatorRequestId="r2")[0] == "ServiceAlreadyExists"
    assert len(sd.list_services()["Services"]) == 1


def test_service_already_exists_names_the_existing_service(kecs):
    sd = client(kecs)
    ns = http_namespace(sd, "api")
    svc = sd.create_service(Name="web", NamespaceId=ns, CreatorRequestId="r1")["Service"]
    resp = error_response(sd.create_service, Name="web", NamespaceId=ns, CreatorRequestId="r2")
    assert (resp.get("ServiceId"), resp.get("ServiceArn"), resp.get("CreatorRequestId")) == (
        svc["Id"], svc["Arn"], "r1")


def test_list_services_filter_and_pagination(kecs):
    sd = client(kecs)
    ns1 = http_namespace(sd, "one")
    ns2 = http_namespace(sd, "two")
    ids1 = [sd.create_service(Name=f"s{i}", NamespaceId=ns1)["Service"]["Id"] for i in range(3)]
    ids2 = [sd.create_service(Name=f"t{i}", NamespaceId=ns2)["Service"]["Id"] for i in range(2)]

    def ids(**kw):
        return [s["Id"] for s in sd.list_services(**kw)["Services"]]

    assert ids() == ids1 + ids2
    assert ids(Filters=[{"Name": "NAMESPACE_ID", "Values": [ns2]}]) == ids2
    ns1_arn = sd.get_namespace(Id=ns1)["Namespace"]["Arn"]
    assert ids(Filters=[{"Name": "NAMESPACE_ID", "Values": [ns1_arn], "Condition": "EQ"}]) == ids1
    assert ids(Filters=[{"Name": "NAMESPACE_ID", "Values": ["junk"]}]) == []
    assert error(sd.list_services, Filters=[{"Name": "NAMESPACE_ID", "Values": [ns1],
                                             "Condition": "BETWEEN"}]) == (
        "InvalidInput", "The BETWEEN condition is not supported for the NAMESPACE_ID filter.")
    page = sd.list_services(MaxResults=2, Filters=[{"Name": "NAMESPACE_ID", "Values": [ns1]}])
    assert [s["Id"] for s in page["Services"]] == ids1[:2]
    rest = sd.list_services(MaxResults=2, NextToken=page["NextToken"],
                            Filters=[{"Name": "NAMESPACE_ID", "Values": [ns1]}])
    assert [s["Id"] for s in rest["Services"]] == ids1[2:] and "NextToken" not in rest
    out = cli(kecs, "list-services", "--filters", f"Name=NAMESPACE_ID,Values={ns2},Condition=EQ")
    assert [s["Id"] for s in out["Services"]] == ids2
    assert [s["Id"] for s in cli(kecs, "list-services", "--page-size", "1")["Services"]] == ids1 + ids2


def test_service_attributes(kecs):
    sd = client(kecs)
    ns = http_namespace(sd, "api")
    svc = sd.create_service(Name="web", NamespaceId=ns)["Service"]
    got = sd.get_service_attributes(ServiceId=svc["Id"])["ServiceAttributes"]
    assert got == {"ServiceArn": svc["Arn"], "ResourceOwner": ACCOUNT, "Attributes": {}}
    sd.update_service_attributes(ServiceId=svc["Id"], Attributes={"version": "1", "team": "a"})
    sd.update_service_attributes(ServiceId=svc["Arn"], Attributes={"version": "2"})
    assert sd.get_service_attributes(ServiceId=svc["Id"])["ServiceAttributes"]["Attributes"] == {
        "version": "2", "team": "a"}
    cli(kecs, "delete-service-attributes", "--service-id", svc["Id"], "--attributes", "team", "missing")
    assert cli(kecs, "get-service-attributes", "--service-id", svc["Id"])["ServiceAttributes"]["Attributes"] == {
        "version": "2"}
    assert error(sd.update_service_attributes, ServiceId=svc["Id"],
                 Attributes={f"k{i}": "v" for i in range(30)}) == (
        "ServiceAttributesLimitExceededException", "The service can have up to 30 attributes.")
    assert error(sd.get_service_attributes, ServiceId="srv-0000000000000000") == NOT_FOUND
    assert error(sd.delete_service_attributes, ServiceId="srv-0000000000000000", Attributes=["a"]) == NOT_FOUND
    # An empty map is below the model's minimum.
    assert error(sd.update_service_attributes, ServiceId=svc["Id"], Attributes={}) == (
        "InvalidInput", "1 validation error detected: Value '{}' at 'Attributes' failed to satisfy "
                        "constraint: Member must have length greater than or equal to 1")
