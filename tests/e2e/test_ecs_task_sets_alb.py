"""Task sets with real tasks behind a real ALB (issue 18, "Done when": task sets created,
scaled, swapped and deleted end to end, their tasks registered in and removed from their
target groups). Root only: the local runtime runs the lbweb tasks of test_elbv2_support.py.

An EXTERNAL service gets a blue task set in one target group and a green one in another,
as an external deployment controller sets them up; the listener's traffic is moved from
blue to green by the test (the controller's job, not ECS's), then the blue set is scaled to
0 and deleted. Every request through the ALB is answered (200) by the set it is routed to.
"""
from conftest import wait_for
from test_elbv2_alb import http_listener, forward, who
from test_elbv2_support import lb_image, lbenv, states

__all__ = ["lb_image", "lbenv"]  # fixtures


def task_set(lbenv, family, tg, scale):
    return lbenv.ecs.create_task_set(
        cluster="lb", service="ext", taskDefinition=family, launchType="FARGATE",
        networkConfiguration=lbenv.awsvpc(), scale={"value": scale, "unit": "PERCENT"},
        loadBalancers=[{"targetGroupArn": tg, "containerName": "web", "containerPort": 80}])["taskSet"]


def set_ips(lbenv, ts_id, n):
    """The addresses of the task set's n RUNNING tasks, once it has exactly n."""
    def ips():
        tasks = [t for t in lbenv.running_tasks("ext") if t["startedBy"] == ts_id and t["desiredStatus"] == "RUNNING"]
        return sorted(lbenv.ip_of(t) for t in tasks) if len(tasks) == n else None
    return wait_for(ips, timeout=120, until=lambda v: v is not None, what=f"{n} running tasks of task set {ts_id}")


def test_task_sets_serve_behind_the_alb_swap_scale_and_delete(lbenv):
    lbenv.register("blue", "blue")
    lbenv.register("green", "green")
    blue_tg, green_tg = lbenv.create_tg("ts-blue"), lbenv.create_tg("ts-green")
    lb = lbenv.create_alb()
    listener = http_listener(lbenv, lb, forward(blue_tg))
    test_listener = http_listener(lbenv, lb, forward(green_tg), port=8080)  # a test listener for green
    url, test_url = lbenv.url(listener), lbenv.url(test_listener)
    lbenv.ecs.create_service(cluster="lb", serviceName="ext", desiredCount=2,
                             deploymentController={"type": "EXTERNAL"})

    blue = task_set(lbenv, "blue", blue_tg, 100)
    blue_ips = set_ips(lbenv, blue["id"], 2)
    lbenv.wait_healthy(blue_tg, blue_ips)
    assert {w["name"] for w in who(url + "who.sh", 10)} == {"blue"}

    # Green at 50%: one task, in the green group only; production still goes to blue, the
    # test listener to green.
    green = task_set(lbenv, "green", green_tg, 50)
    green_ips = set_ips(lbenv, green["id"], 1)
    lbenv.wait_healthy(green_tg, green_ips)
    assert states(lbenv.elbv2, blue_tg) == {ip: "healthy" for ip in blue_ips}
    assert {w["name"] for w in who(url + "who.sh", 10)} == {"blue"}
    assert {w["name"] for w in who(test_url + "who.sh", 5)} == {"green"}

    # The external controller scales green up, moves the traffic and makes green primary.
    lbenv.ecs.update_task_set(cluster="lb", service="ext", taskSet=green["id"], scale={"value": 100, "unit": "PERCENT"})
    green_ips = set_ips(lbenv, green["id"], 2)
    lbenv.wait_healthy(green_tg, green_ips)
    lbenv.elbv2.modify_listener(ListenerArn=listener, DefaultActions=forward(green_tg))
    wait_for(lambda: {w["name"] for w in who(url + "who.sh", 10)} == {"green"}, timeout=30, what="traffic on green")
    p = lbenv.ecs.update_service_primary_task_set(cluster="lb", service="ext", primaryTaskSet=green["taskSetArn"])
    assert p["taskSet"]["status"] == "PRIMARY"

    # Blue scaled to 0: its tasks stop and leave their target group; then it is deleted.
    lbenv.ecs.update_task_set(cluster="lb", service="ext", taskSet=blue["id"], scale={"value": 0, "unit": "PERCENT"})
    wait_for(lambda: states(lbenv.elbv2, blue_tg) == {}, timeout=120, what="blue's targets deregistered")
    assert set_ips(lbenv, blue["id"], 0) == []
    assert {w["name"] for w in who(url + "who.sh", 10)} == {"green"}
    assert lbenv.ecs.delete_task_set(cluster="lb", service="ext", taskSet=blue["id"])["taskSet"]["status"] == "DRAINING"
    wait_for(lambda: [t["id"] for t in lbenv.ecs.describe_task_sets(cluster="lb", service="ext")["taskSets"]]
             == [green["id"]], timeout=60, what="the blue task set gone")
    assert states(lbenv.elbv2, green_tg) == {ip: "healthy" for ip in green_ips}
