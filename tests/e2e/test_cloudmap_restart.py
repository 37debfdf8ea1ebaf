"""Cloud Map state survives a daemon restart: namespaces, services, instances with their
health, tags, service attributes, operations, revisions and pagination tokens."""
from test_cloudmap_support import a_service, cli, client, error, http_namespace, private_namespace


def test_everything_survives_a_restart(kecs):
    sd = client(kecs)
    ns, vpc = private_namespace(kecs, sd, "corp.local", Tags=[{"Key": "team", "Value": "a"}])
    api = http_namespace(sd, "api")
    svc = a_service(sd, ns, "web", records=(("A", 10), ("SRV", 20)), HealthCheckCustomConfig={})
    other = sd.create_service(Name="jobs", NamespaceId=api)["Service"]
    for i in range(1, 4):
        sd.register_instance(ServiceId=svc["Id"], InstanceId=f"i-{i}",
                             Attributes={"AWS_INSTANCE_IPV4": f"10.0.0.{i}", "AWS_INSTANCE_PORT": "80"})
    sd.update_instance_custom_health_status(ServiceId=svc["Id"], InstanceId="i-2", Status="UNHEALTHY")
    sd.update_service_attributes(ServiceId=svc["Id"], Attributes={"version": "7"})
    ops = [o["Id"] for o in sd.list_operations()["Operations"]]
    revision = sd.discover_instances_revision(NamespaceName="corp.local", ServiceName="web")["InstancesRevision"]
    token = sd.list_instances(ServiceId=svc["Id"], MaxResults=2)["NextToken"]
    before = {
        "namespaces": sd.list_namespaces()["Namespaces"],
        "ns": sd.get_namespace(Id=ns)["Namespace"],
        "services": sd.list_services()["Services"],
        "svc": sd.get_service(Id=svc["Id"])["Service"],
        "instances": sd.list_instances(ServiceId=svc["Id"])["Instances"],
        "health": sd.get_instances_health_status(ServiceId=svc["Id"])["Status"],
    }

    kecs.restart()
    sd = client(kecs)
    after = {
        "namespaces": sd.list_namespaces()["Namespaces"],
        "ns": sd.get_namespace(Id=ns)["Namespace"],
        "services": sd.list_services()["Services"],
        "svc": sd.get_service(Id=svc["Id"])["Service"],
        "instances": sd.list_instances(ServiceId=svc["Id"])["Instances"],
        "health": sd.get_instances_health_status(ServiceId=svc["Id"])["Status"],
    }
    assert after == before
    assert after["health"] == {"i-1": "HEALTHY", "i-2": "UNHEALTHY", "i-3": "HEALTHY"}
    assert sd.list_tags_for_resource(ResourceARN=after["ns"]["Arn"])["Tags"] == [{"Key": "team", "Value": "a"}]
    assert sd.get_service_attributes(ServiceId=svc["Id"])["ServiceAttributes"]["Attributes"] == {"version": "7"}
    assert [o["Id"] for o in sd.list_operations()["Operations"]] == ops
    assert all(sd.get_operation(OperationId=o)["Operation"]["Status"] == "SUCCESS" for o in ops)
    assert sd.discover_instances_revision(NamespaceName="corp.local",
                                          ServiceName="web")["InstancesRevision"] == revision
    # A token from before the restart still pages on.
    assert [i["Id"] for i in sd.list_instances(ServiceId=svc["Id"], NextToken=token)["Instances"]] == ["i-3"]
    found = sd.discover_instances(NamespaceName="corp.local", ServiceName="web")["Instances"]
    assert sorted(i["InstanceId"] for i in found) == ["i-1", "i-3"]

    # ...and the daemon goes on: revisions keep increasing, names stay taken.
    sd.deregister_instance(ServiceId=svc["Id"], InstanceId="i-3")
    assert sd.discover_instances_revision(NamespaceName="corp.local",
                                          ServiceName="web")["InstancesRevision"] > revision
    assert cli(kecs, "get-service", "--id", other["Id"])["Service"]["Name"] == "jobs"
    assert error(sd.create_private_dns_namespace, Name="corp.local", Vpc=vpc) == (
        "NamespaceAlreadyExists", "Namespace already exists.")
