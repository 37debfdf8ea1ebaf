"""Cloud Map instances: registration with the attributes each record type needs, custom
health, DiscoverInstances (also on the data-servicediscovery host) and its revision,
through the aws CLI and boto3, with Cloud Map's errors."""
import pytest

from test_cloudmap_support import (ACCOUNT, OP_ID, a_service, cli, cli_error, client, data_endpoint,
                                   error, http_namespace, operation, private_namespace, raw_call)

SERVICE_NOT_FOUND = ("ServiceNotFound", "Service not found.")
INSTANCE_NOT_FOUND = ("InstanceNotFound", "Instance not found.")


def discover(sd, ns="corp.local", svc="web", **kw):
    out = sd.discover_instances(NamespaceName=ns, ServiceName=svc, **kw)
    return sorted(i["InstanceId"] for i in out["Instances"])


def test_register_get_list_discover_deregister_through_the_cli(kecs):
    sd = client(kecs)
    ns, _ = private_namespace(kecs, sd, "corp.local")
    svc = a_service(sd, ns, "web")["Id"]
    out = cli(kecs, "register-instance", "--service-id", svc, "--instance-id", "i-1",
              "--attributes", "AWS_INSTANCE_IPV4=10.0.0.1,color=blue")
    op = operation(sd, out["OperationId"])
    assert OP_ID.match(op["Id"]) and (op["Type"], op["Status"]) == ("REGISTER_INSTANCE", "SUCCESS")
    cli(kecs, "register-instance", "--service-id", svc, "--instance-id", "i-2", "--creator-request-id", "r2",
        "--attributes", "AWS_INSTANCE_IPV4=10.0.0.2,color=green")

    got = cli(kecs, "get-instance", "--service-id", svc, "--instance-id", "i-2")
    assert got["ResourceOwner"] == ACCOUNT
    assert got["Instance"] == {"Id": "i-2", "CreatorRequestId": "r2",
                               "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.2", "color": "green"},
                               "CreatedByAccount": ACCOUNT}
    listed = cli(kecs, "list-instances", "--service-id", svc)["Instances"]
    assert [i["Id"] for i in listed] == ["i-1", "i-2"]
    assert sd.get_service(Id=svc)["Service"]["InstanceCount"] == 2

    # DiscoverInstances through the CLI goes to the data-plane host (see test_cloudmap_support).
    found = cli(kecs, "--endpoint-url", data_endpoint(kecs), "discover-instances",
                "--namespace-name", "corp.local", "--service-name", "web",
                "--query-parameters", "color=blue")
    assert found["Instances"] == [{"InstanceId": "i-1", "NamespaceName": "corp.local", "ServiceName": "web",
                                   "HealthStatus": "UNKNOWN",
                                   "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.1", "color": "blue"}}]

    # Re-registering replaces the instance.
    sd.register_instance(ServiceId=svc, InstanceId="i-1", Attributes={"AWS_INSTANCE_IPV4": "10.0.0.9"})
    assert sd.get_instance(ServiceId=svc, InstanceId="i-1")["Instance"]["Attributes"] == {
        "AWS_INSTANCE_IPV4": "10.0.0.9"}
    assert sd.get_service(Id=svc)["Service"]["InstanceCount"] == 2

    assert error(sd.delete_service, Id=svc) == (
        "ResourceInUse", "Service contains registered instances; delete the instances before deleting the service")
    dereg = cli(kecs, "deregister-instance", "--service-id", svc, "--instance-id", "i-1")["OperationId"]
    assert operation(sd, dereg)["Targets"] == {"INSTANCE": "i-1", "SERVICE": svc}
    assert cli_error(kecs, "deregister-instance", "--service-id", svc, "--instance-id", "i-1") == INSTANCE_NOT_FOUND
    assert cli_error(kecs, "get-instance", "--service-id", svc, "--instance-id", "i-1") == INSTANCE_NOT_FOUND
    sd.deregister_instance(ServiceId=svc, InstanceId="i-2")
    assert sd.list_instances(ServiceId=svc)["Instances"] == []
    sd.delete_service(Id=svc)


def test_unknown_service_and_instance(kecs):
    sd = client(kecs)
    ghost = "srv-0000000000000000"
    assert error(sd.register_instance, ServiceId=ghost, InstanceId="i", Attributes={}) == SERVICE_NOT_FOUND
    assert error(sd.deregister_instance, ServiceId=ghost, InstanceId="i") == SERVICE_NOT_FOUND
    assert error(sd.get_instance, ServiceId=ghost, InstanceId="i") == SERVICE_NOT_FOUND
    assert error(sd.list_instances, ServiceId=ghost) == SERVICE_NOT_FOUND
    assert error(sd.get_instances_health_status, ServiceId=ghost) == SERVICE_NOT_FOUND
    assert error(sd.update_instance_custom_health_status, ServiceId=ghost, InstanceId="i",
                 Status="HEALTHY") == SERVICE_NOT_FOUND
    assert cli_error(kecs, "list-instances", "--service-id", ghost) == SERVICE_NOT_FOUND
    ns = http_namespace(sd, "api")
    svc = sd.create_service(Name="web", NamespaceId=ns)["Service"]
    assert error(sd.get_instance, ServiceId=svc["Id"], InstanceId="nope") == INSTANCE_NOT_FOUND
    # The service ARN names it as well as its id.
    sd.register_instance(ServiceId=svc["Arn"], InstanceId="i-1", Attributes={"a": "b"})
    assert sd.get_instance(ServiceId=svc["Arn"], InstanceId="i-1")["Instance"]["Id"] == "i-1"
    # Cloud Map's data plane words its not-found errors without a full stop.
    assert error(sd.discover_instances, NamespaceName="nope", ServiceName="web") == (
        "NamespaceNotFound", "Namespace not found")
    assert error(sd.discover_instances, NamespaceName="api", ServiceName="nope") == (
        "ServiceNotFound", "Service not found")
    assert error(sd.discover_instances_revision, NamespaceName="nope", ServiceName="web")[0] == "NamespaceNotFound"
    assert error(sd.discover_instances, NamespaceName="api", ServiceName="web", OwnerAccount="111111111111")[0] == (
        "NamespaceNotFound")


def test_attributes_each_record_type_needs(kecs):
    sd = client(kecs)
    ns, _ = private_namespace(kecs, sd, "corp.local")
    a = a_service(sd, ns, "a")["Id"]
    aaaa = a_service(sd, ns, "six", records=(("AAAA", 60),))["Id"]
    srv = a_service(sd, ns, "srv", records=(("SRV", 60),))["Id"]
    cname = a_service(sd, ns, "alias", records=(("CNAME", 60),), policy="WEIGHTED")["Id"]

    def refused(svc, attrs):
        code, message = error(sd.register_instance, ServiceId=svc, InstanceId="i-1", Attributes=attrs)
        assert code == "InvalidInput"
        return message

    assert refused(a, {"color": "blue"}) == (
        "AWS_INSTANCE_IPV4 is required because the service has an A record in its DnsConfig.")
    assert refused(a, {"AWS_INSTANCE_IPV4": "10.0.0.300"}) == (
        "AWS_INSTANCE_IPV4 value 10.0.0.300 is not a valid IPv4 address.")
    assert refused(aaaa, {"AWS_INSTANCE_IPV4": "10.0.0.1"}) == (
        "AWS_INSTANCE_IPV6 is required because the service has an AAAA record in its DnsConfig.")
    assert refused(aaaa, {"AWS_INSTANCE_IPV6": "2600::zz"}) == (
        "AWS_INSTANCE_IPV6 value 2600::zz is not a valid IPv6 address.")
    assert refused(srv, {"AWS_INSTANCE_IPV4": "10.0.0.1"}) == (
        "AWS_INSTANCE_PORT is required because the service has an SRV record in its DnsConfig.")
    assert refused(srv, {"AWS_INSTANCE_PORT": "80"}) == (
        "AWS_INSTANCE_IPV4, AWS_INSTANCE_IPV6 or both are required because the service has an SRV "
        "record in its DnsConfig.")
    assert refused(srv, {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "65536"}) == (
        "AWS_INSTANCE_PORT value 65536 is not a valid port: it must be an integer between 1 and 65535.")
    assert refused(cname, {"AWS_INSTANCE_IPV4": "10.0.0.1"}) == (
        "AWS_INSTANCE_CNAME is required because the service has a CNAME record in its DnsConfig.")
    assert refused(a, {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INIT_HEALTH_STATUS": "SICK"}) == (
        "AWS_INIT_HEALTH_STATUS value SICK is not valid: it must be HEALTHY or UNHEALTHY.")
    assert refused(a, {"AWS_INSTANCE_IPV4": "10.0.0.1", **{f"k{i}": "v" for i in range(31)}}) == (
        "You can specify up to 30 custom attributes for an instance.")
    assert refused(a, {"AWS_INSTANCE_IPV4": "10.0.0.1", "a": "x" * 1000, "b": "x" * 1000, "c": "x" * 1000,
                       "d": "x" * 1000, "e": "x" * 1000}) == (
        "The total size of all attributes (keys and values) must not exceed 5,000 characters.")
    assert refused(a, {"AWS_INSTANCE_IPV4": "10.0.0.1", "bad key": "v"}) == (
        "1 validation error detected: Value 'bad key' at 'Attributes' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[a-zA-Z0-9!-~]+$")
    assert error(sd.register_instance, ServiceId=a, InstanceId="no spaces", Attributes={})[1] == (
        "1 validation error detected: Value 'no spaces' at 'InstanceId' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[0-9a-zA-Z_/:.@-]+$")
    # The CLI sees the same refusal.
    assert cli_error(kecs, "register-instance", "--service-id", srv, "--instance-id", "i-1",
                     "--attributes", "AWS_INSTANCE_IPV4=10.0.0.1") == (
        "InvalidInput", "AWS_INSTANCE_PORT is required because the service has an SRV record in its DnsConfig.")
    # Nothing refused was registered; the right attributes are accepted.
    assert sd.list_instances(ServiceId=srv)["Instances"] == []
    sd.register_instance(ServiceId=srv, InstanceId="i-1",
                         Attributes={"AWS_INSTANCE_IPV6": "2600:1f18::1", "AWS_INSTANCE_PORT": "8080"})
    sd.register_instance(ServiceId=cname, InstanceId="i-1", Attributes={"AWS_INSTANCE_CNAME": "example.com"})
    sd.register_instance(ServiceId=a, InstanceId="arn:aws:ecs:us-east-1:0:task/c/0123",
                         Attributes={"AWS_INSTANCE_IPV4": "10.0.0.1", "spaced": "a value with spaces"})


def test_custom_health_and_discover_health_filters(kecs):
    sd = client(kecs)
    ns, _ = private_namespace(kecs, sd, "corp.local")
    svc = a_service(sd, ns, "web", HealthCheckCustomConfig={})["Id"]
    for i in range(1, 4):
        sd.register_instance(ServiceId=svc, InstanceId=f"i-{i}", Attributes={"AWS_INSTANCE_IPV4": f"10.0.0.{i}"})
    # A custom health check starts as AWS_INIT_HEALTH_STATUS says (HEALTHY by default).
    sd.register_instance(ServiceId=svc, InstanceId="i-4",
                         Attributes={"AWS_INSTANCE_IPV4": "10.0.0.4", "AWS_INIT_HEALTH_STATUS": "UNHEALTHY"})
    status = sd.get_instances_health_status(ServiceId=svc)["Status"]
    assert status == {"i-1": "HEALTHY", "i-2": "HEALTHY", "i-3": "HEALTHY", "i-4": "UNHEALTHY"}
    revision = sd.discover_instances_revision(NamespaceName="corp.local", ServiceName="web")["InstancesRevision"]

    sd.update_instance_custom_health_status(ServiceId=svc, InstanceId="i-1", Status="UNHEALTHY")
    cli(kecs, "update-instance-custom-health-status", "--service-id", svc, "--instance-id", "i-2",
        "--status", "UNHEALTHY")
    assert sd.get_instances_health_status(ServiceId=svc, Instances=["i-1", "i-3"])["Status"] == {
        "i-1": "UNHEALTHY", "i-3": "HEALTHY"}
    assert discover(sd) == ["i-3"]  # HEALTHY by default
    assert discover(sd, HealthStatus="HEALTHY") == ["i-3"]
    assert discover(sd, HealthStatus="UNHEALTHY") == ["i-1", "i-2", "i-4"]
    assert discover(sd, HealthStatus="ALL") == ["i-1", "i-2", "i-3", "i-4"]
    assert discover(sd, HealthStatus="HEALTHY_OR_ELSE_ALL") == ["i-3"]
    found = sd.discover_instances(NamespaceName="corp.local", ServiceName="web", HealthStatus="ALL")["Instances"]
    assert {i["InstanceId"]: i["HealthStatus"] for i in found} == {
        "i-1": "UNHEALTHY", "i-2": "UNHEALTHY", "i-3": "HEALTHY", "i-4": "UNHEALTHY"}
    # With none healthy, HEALTHY_OR_ELSE_ALL fails open.
    sd.update_instance_custom_health_status(ServiceId=svc, InstanceId="i-3", Status="UNHEALTHY")
    assert discover(sd, HealthStatus="HEALTHY") == []
    assert discover(sd, HealthStatus="HEALTHY_OR_ELSE_ALL") == ["i-1", "i-2", "i-3", "i-4"]
    # Health changes leave the revision alone.
    assert sd.discover_instances_revision(NamespaceName="corp.local",
                                          ServiceName="web")["InstancesRevision"] == revision

    assert error(sd.update_instance_custom_health_status, ServiceId=svc, InstanceId="nope",
                 Status="HEALTHY") == INSTANCE_NOT_FOUND
    assert error(sd.get_instances_health_status, ServiceId=svc, Instances=["nope"]) == INSTANCE_NOT_FOUND
    plain = a_service(sd, ns, "plain")["Id"]
    sd.register_instance(ServiceId=plain, InstanceId="i-1",
                         Attributes={"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INIT_HEALTH_STATUS": "UNHEALTHY"})
    assert error(sd.update_instance_custom_health_status, ServiceId=plain, InstanceId="i-1",
                 Status="UNHEALTHY") == (
        "CustomHealthNotFound", f"No custom health check configuration found for service {plain}.")
    # No health check: UNKNOWN, and HealthStatus does not filter.
    assert sd.get_instances_health_status(ServiceId=plain)["Status"] == {"i-1": "UNKNOWN"}
    assert discover(sd, svc="plain", HealthStatus="UNHEALTHY") == ["i-1"]


def test_discover_parameters_limits_and_revision(kecs):
    sd = client(kecs)
    ns = http_namespace(sd, "api")
    svc = sd.create_service(Name="web", NamespaceId=ns)["Service"]["Id"]
    rev0 = sd.discover_instances_revision(NamespaceName="api", ServiceName="web")["InstancesRevision"]
    attrs = {"i-1": {"env": "prod", "az": "a"}, "i-2": {"env": "prod", "az": "b"},
             "i-3": {"env": "dev", "az": "a"}}
    for iid, a in attrs.items():
        sd.register_instance(ServiceId=svc, InstanceId=iid, Attributes=a)
    rev1 = sd.discover_instances(NamespaceName="api", ServiceName="web")["InstancesRevision"]
    assert rev1 > rev0

    assert discover(sd, "api") == ["i-1", "i-2", "i-3"]
    assert discover(sd, "api", QueryParameters={"env": "prod"}) == ["i-1", "i-2"]
    assert discover(sd, "api", QueryParameters={"env": "prod", "az": "b"}) == ["i-2"]
    assert discover(sd, "api", QueryParameters={"env": "junk"}) == []
    # OptionalParameters narrow the answer only when something matches them.
    assert discover(sd, "api", QueryParameters={"env": "prod"}, OptionalParameters={"az": "a"}) == ["i-1"]
    assert discover(sd, "api", QueryParameters={"env": "prod"}, OptionalParameters={"az": "z"}) == ["i-1", "i-2"]
    assert len(discover(sd, "api", MaxResults=2)) == 2
    # The list comes back in random order: every instance comes first sometimes.
    firsts = {sd.discover_instances(NamespaceName="api", ServiceName="web")["Instances"][0]["InstanceId"]
              for _ in range(40)}
    assert firsts == {"i-1", "i-2", "i-3"}

    sd.deregister_instance(ServiceId=svc, InstanceId="i-3")
    rev2 = sd.discover_instances_revision(NamespaceName="api", ServiceName="web")["InstancesRevision"]
    assert rev2 > rev1
    assert cli(kecs, "--endpoint-url", data_endpoint(kecs), "discover-instances-revision",
               "--namespace-name", "api", "--service-name", "web")["InstancesRevision"] == rev2


def test_discover_instances_on_the_data_plane_host(kecs):
    sd = client(kecs)
    ns = http_namespace(sd, "api")
    svc = sd.create_service(Name="web", NamespaceId=ns)["Service"]["Id"]
    sd.register_instance(ServiceId=svc, InstanceId="i-1", Attributes={"k": "v"})
    # As an SDK sends it to AWS: same path and target, Cloud Map's data-plane host.
    status, body = raw_call(kecs, "DiscoverInstances", {"NamespaceName": "api", "ServiceName": "web"},
                            host="data-servicediscovery.us-east-1.amazonaws.com")
    assert status == 200
    assert [i["InstanceId"] for i in body["Instances"]] == ["i-1"]
    status, body = raw_call(kecs, "DiscoverInstances", {"NamespaceName": "nope", "ServiceName": "web"},
                            host="data-servicediscovery.us-east-1.amazonaws.com")
    assert (status, body) == (400, {"__type": "NamespaceNotFound", "Message": "Namespace not found"})
    # boto3 with its host prefix on reaches kecs through the user-info endpoint.
    prefixed = client(kecs, endpoint=data_endpoint(kecs), host_prefix=True)
    assert [i["InstanceId"] for i in prefixed.discover_instances(
        NamespaceName="api", ServiceName="web")["Instances"]] == ["i-1"]


def test_list_instances_and_health_pagination(kecs):
    sd = client(kecs)
    ns = http_namespace(sd, "api")
    svc = sd.create_service(Name="web", NamespaceId=ns, HealthCheckCustomConfig={})["Service"]["Id"]
    ids = [f"i-{n}" for n in range(7)]
    for iid in ids:
        sd.register_instance(ServiceId=svc, InstanceId=iid, Attributes={"n": iid})
    page = sd.list_instances(ServiceId=svc, MaxResults=3)
    assert [i["Id"] for i in page["Instances"]] == ids[:3]
    seen = [i["Id"] for i in page["Instances"]]
    while "NextToken" in page:
        page = sd.list_instances(ServiceId=svc, MaxResults=3, NextToken=page["NextToken"])
        seen += [i["Id"] for i in page["Instances"]]
    assert seen == ids
    pages = sd.get_paginator("list_instances").paginate(ServiceId=svc, PaginationConfig={"PageSize": 2})
    assert [i["Id"] for p in pages for i in p["Instances"]] == ids
    assert [i["Id"] for i in cli(kecs, "list-instances", "--service-id", svc, "--page-size", "4")["Instances"]] == ids

    h = sd.get_instances_health_status(ServiceId=svc, MaxResults=5)
    assert list(h["Status"]) == ids[:5]
    rest = sd.get_instances_health_status(ServiceId=svc, MaxResults=5, NextToken=h["NextToken"])
    assert list(rest["Status"]) == ids[5:] and "NextToken" not in rest
    assert error(sd.list_instances, ServiceId=svc, NextToken="junk") == (
        "InvalidInput", "The NextToken value is not valid.")
