#!/usr/bin/python3
"""The cost of VPC flow logs (issue 15; run as root with /usr/bin/python3).

One local-runtime daemon (bench/benchlib.py: BenchEnv), one VPC of its own on a range the
host does not route yet, one busybox httpd task in it whose group admits tcp/80 from
anywhere. wrk runs from the host to the task (through the VPC's router namespace, where
the security groups are enforced and where flow logs capture): busybox httpd closes every
connection, so requests/s is new connections/s, and each connection is a new conntrack
entry in the router (the flow log's ACCEPT records come from exactly those entries).

Two daemons in one run, one after the other: with --no-flow-metrics, then with flow
metrics (the default). In each, rounds alternate: no flow log, then a flow log on the VPC
(ALL traffic, MaxAggregationInterval --interval s, delivered to a CloudWatch Logs group),
deleted again before the next round. So four modes: nothing, a flow log, metrics, both. Per run: requests/s,
latency, the daemon's CPU (cores) and the whole machine's, as publish_wrk.py measures
them. Before each run it waits until the host's conntrack table has room (publish_wrk.py:
wait_conntrack). Prints a Markdown table and writes the raw results as JSON to --out."""
import argparse
import json
import random
import subprocess
import time

import benchlib
from benchlib import BenchEnv, log, table
from publish_wrk import median, run_wrk, wait_conntrack

CLUSTER = "flow-bench"
FAMILY = "flow-bench-httpd"
ROLE = "arn:aws:iam::000000000000:role/flow-logs"


def free_vpc_cidr():
    """A 10.N.0.0/16 the host routes nowhere yet (as sg_policy.py picks one)."""
    for n in random.sample(range(100, 200), 100):
        out = subprocess.run(["ip", "-4", "route", "show", "match", f"10.{n}.0.1"], capture_output=True,
                             text=True).stdout
        if all(line.startswith("default") for line in out.splitlines()):
            return n
    raise SystemExit("no free 10.N.0.0/16 for the benchmark's VPC")


def wait_running(ecs, arn, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        t = ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
        if t["lastStatus"] == "RUNNING":
            return t
        if t["lastStatus"] == "STOPPED":
            raise RuntimeError(t.get("stoppedReason"))
        time.sleep(0.1)
    raise RuntimeError("task did not start")


def run_phase(args, metrics, results):
    """One daemon (flow metrics on or off): rounds of [no flow log, a flow log on the VPC]."""
    with BenchEnv(args.kecs, extra_args=[] if metrics else ["--no-flow-metrics"]) as env:
        ecs, ec2 = env.ecs, env.ec2
        logs = env.daemon.client("logs")
        ecs.create_cluster(clusterName=CLUSTER)
        benchlib.register_httpd(ecs, FAMILY)
        n = free_vpc_cidr()
        vpc = ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{n}.0.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        arn = ecs.run_task(cluster=CLUSTER, taskDefinition=FAMILY, launchType="FARGATE", networkConfiguration={
            "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}})["tasks"][0]["taskArn"]
        t = wait_running(ecs, arn)
        d = {x["name"]: x["value"] for x in t["attachments"][0]["details"]}
        ip, eni = d["privateIPv4Address"], d["networkInterfaceId"]
        url = f"http://{ip}/"
        log(f"task {ip} ({eni}) in {vpc}; flow metrics {'on' if metrics else 'off'}")
        for rnd in range(args.rounds):
            for flow_log in (False, True):
                mode = ("metrics" if metrics else "nothing") + (" + flow log" if flow_log else "")
                fl = None
                if flow_log:
                    fl = ec2.create_flow_logs(ResourceType="VPC", ResourceIds=[vpc], TrafficType="ALL",
                                              LogGroupName="bench-flows", DeliverLogsPermissionArn=ROLE,
                                              MaxAggregationInterval=args.interval)["FlowLogIds"][0]
                    time.sleep(2)  # the controller's next pass opens the capture
                waited = wait_conntrack(args.conntrack_limit)
                log(f"round {rnd + 1} {mode}: wrk {url} (waited {waited:.0f} s for conntrack)")
                r = run_wrk(url, args.threads, args.connections, args.duration, env.daemon.proc.pid)
                r.update({"round": rnd + 1, "mode": mode})
                if fl:
                    time.sleep(args.interval + 2)  # the last window is delivered
                    events = logs.get_log_events(logGroupName="bench-flows", logStreamName=f"{eni}-all",
                                                 startFromHead=False, limit=10000)["events"]
                    r["records_last_page"] = len(events)
                    ec2.delete_flow_logs(FlowLogIds=[fl])
                results["runs"].append(r)
                log(f"  {r.get('requests_per_s')} req/s, daemon {r['daemon_cores']:.2f} cores, "
                    f"machine {r['machine_cores']:.2f} cores")
                time.sleep(args.pause)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kecs", default=benchlib.DEFAULT_KECS)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--interval", type=int, default=5, help="the flow log's MaxAggregationInterval (lenient)")
    ap.add_argument("--pause", type=float, default=20, help="seconds after each run")
    ap.add_argument("--conntrack-limit", type=int, default=100000)
    args = ap.parse_args()
    results = {"machine": benchlib.machine(), "args": vars(args), "runs": []}
    run_phase(args, False, results)
    run_phase(args, True, results)
    rows = []
    summary = {}
    for mode in ("nothing", "nothing + flow log", "metrics", "metrics + flow log"):
        runs = [r for r in results["runs"] if r["mode"] == mode]
        summary[mode] = {"requests_per_s": median([r.get("requests_per_s") for r in runs]),
                         "daemon_cores": median([r["daemon_cores"] for r in runs]),
                         "machine_cores": median([r["machine_cores"] for r in runs])}
        rows.append([mode, len(runs), f"{summary[mode]['requests_per_s']:.0f}",
                     f"{summary[mode]['daemon_cores']:.3f}", f"{summary[mode]['machine_cores']:.2f}"])
    base = summary["nothing"]["requests_per_s"]
    for mode in ("nothing + flow log", "metrics", "metrics + flow log"):
        if base and summary[mode]["requests_per_s"]:
            summary[mode]["throughput_cost"] = 1 - summary[mode]["requests_per_s"] / base
    results["summary"] = summary
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(table(["", "runs", "connections/s (median)", "daemon cores", "machine cores"], rows))
    for mode in ("nothing + flow log", "metrics", "metrics + flow log"):
        if "throughput_cost" in summary[mode]:
            print(f"throughput cost of {mode}: {100 * summary[mode]['throughput_cost']:.1f}%")


if __name__ == "__main__":
    main()
