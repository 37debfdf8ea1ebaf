#!/usr/bin/python3
"""Security-group enforcement benchmark (issue 7; run as root with /usr/bin/python3).

How kecs enforces security groups (src/net/sg_policy.cc, src/reconcile/policy_controller.cc,
src/runtime/local/network.cc): every VPC's router namespace holds one nftables table,
`inet kecs_sg`, rendered from the store by the policy controller: for every ENI of the VPC
that has an address (task ENIs and ENIs made with CreateNetworkInterface alike) an ingress
and an egress chain holding the rules of all its groups, in group order, and verdict maps
from an address to its ENI's chains. The forward hook accepts established flows first,
so only the first packet of a connection walks a chain. Any commit wakes the controller,
which waits a 30 ms debounce, rebuilds every VPC's text and replaces the tables that
changed in one `nft -f` transaction. Traffic from the host skips the ingress chains
unless kecs runs with --strict, so this benchmark runs the daemon with --strict.

The VPC (a VPC 10.N.0.0/16 made for the run, on a range the host does not route yet, in a
fresh daemon with its own data dir and name prefix):

  - 1,000 ingress rules in 17 groups (AWS's quotas, which kecs enforces: 60 rules per group
    and direction, 5 groups per ENI). 999 are filler rules (tcp/80 from 10.x.y.0/24
    ranges that never match); one, the "host rule", allows tcp/80 from the host's
    transit address (the source the router sees for the host's connections);
  - a "filtered" task (busybox httpd) whose ENI carries 5 of the groups: 300 ingress
    rules, the host rule last in its chain (the worst case: every new connection walks
    the whole chain before it is allowed);
  - an "open" task whose ENI carries one group with one rule, tcp/80 from 0.0.0.0/0: the
    same path through the same router and table, but a one-rule chain;
  - ENIs made with CreateNetworkInterface, each in one of the 17 groups, until the VPC has
    200 ENIs (they are in the policy: each has its two chains and its map entries).

Measured:

  (a) rule change to effect: RevokeSecurityGroupIngress of the host rule (by its rule id),
      then AuthorizeSecurityGroupIngress of it again, N times each. From the API call's
      return, a new TCP connection to the filtered task is attempted every 5 ms (non-
      blocking, each given 100 ms to connect); the latency is the start of the first
      attempt that shows the new state (the first refused-by-silence attempt after a
      revoke, the first connected one after an authorize), so its resolution is the probe
      interval. Optionally the same in a second, small VPC (one task, one group, one rule)
      in the same daemon, side by side, to show what the VPC's size costs.
  (b) wrk -t2 -c32 from the host to the filtered task and to the open task, alternating in
      rounds: requests/s (busybox httpd closes every connection, so this is the rate of
      new connections, each of which walks its ENI's chain) and latency, as a ratio. Runs
      are short (5 s) and 30 s apart: each run takes fewer connections than the host has
      ephemeral ports (28,232), and a target's next run starts after the server's 60 s
      TIME_WAIT, so no run reuses a port whose old connection the server still holds.
  Also: the table's size, and how long nft itself takes to load it (the table as `nft list`
  prints it, loaded 5 times into a scratch namespace as the controller loads it), which
  splits (a) into nft's share and the controller's.

Since issue 19 (design.md 17.4) the table grows as ENIs + rules (a chain per group holding
its rules once, ENI chains jumping to their groups' chains, egress and ingress in two base
chains) and a rule change rewrites its group's chain in place, after a 10 ms debounce; the
host rule is then in its group's chain, not in the filtered ENI's (so the "filtered_in_chain"
figures count the ENI chain's jumps). `--rounds 0` skips (b): the issue-19 measurement
(`--rounds 0 --changes 50`) takes about 3 minutes.

Prints Markdown tables and writes the raw results as JSON to --out. Every object it makes
is removed at the end, also on failure (bench/benchlib.py: BenchEnv).
"""
import argparse
import errno
import os
import random
import select
import socket
import subprocess
import time

import benchlib
from benchlib import BenchEnv, log, percentiles, table
from publish_wrk import median, run_wrk, wait_conntrack

CLUSTER = "bench"
FAMILY = "bench-sg"
RULES_PER_GROUP = 60   # AWS's (and kecs's) quota per group and direction
GROUPS_PER_ENI = 5     # AWS's (and kecs's) quota


# ---------------------------------------------------------------------------------------
# Probing: when does a new connection start (stop) getting through?

def probe(ip, port, want_success, interval, conn_timeout, limit):
    """Opens a non-blocking TCP connection every `interval` s. Returns (time of the start of
    the first attempt that shows the wanted state, attempts made), or (None, attempts) after
    `limit` s. want_success: the first attempt that connects; otherwise the first attempt
    that does not connect within conn_timeout (its SYN was dropped)."""
    pending = []  # (start, socket), oldest first
    attempts = 0
    t_end = time.perf_counter() + limit
    next_t = time.perf_counter()
    try:
        while True:
            now = time.perf_counter()
            if now >= next_t:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                start = time.perf_counter()
                rc = s.connect_ex((ip, port))
                attempts += 1
                if rc == 0:
                    if want_success:
                        s.close()
                        return start, attempts
                    s.close()
                elif rc in (errno.EINPROGRESS, errno.EWOULDBLOCK):
                    pending.append((start, s))
                else:  # refused or unreachable: not what a dropping filter does; counts as not connected
                    s.close()
                    if not want_success:
                        return start, attempts
                next_t += interval
                if next_t < now:
                    next_t = now + interval
            # Sockets that have waited too long: their SYN was dropped.
            now = time.perf_counter()
            while pending and now - pending[0][0] > conn_timeout:
                start, s = pending.pop(0)
                s.close()
                if not want_success:
                    return start, attempts
            if now > t_end:
                return None, attempts
            wait = max(0.0, min(next_t - now, 0.005))
            socks = [s for _, s in pending]
            if socks:
                _, w, _ = select.select([], socks, [], wait)
                for s in w:
                    i = next(k for k, (_, x) in enumerate(pending) if x is s)
                    start, _ = pending.pop(i)
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    s.close()
                    if err == 0 and want_success:
                        return start, attempts
                    if err != 0 and not want_success:
                        return start, attempts
            else:
                time.sleep(wait)
    finally:
        for _, s in pending:
            s.close()


def connects(ip, port=80, timeout=1.0):
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------
# Set-up helpers

def wait_running(ecs, arns, timeout=180):
    deadline = time.time() + timeout
    while True:
        tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]
        if all(t["lastStatus"] == "RUNNING" for t in tasks):
            return tasks
        bad = [t for t in tasks if t["lastStatus"] == "STOPPED"]
        if bad or time.time() > deadline:
            raise RuntimeError(f"tasks did not start: {[(t['lastStatus'], t.get('stoppedReason')) for t in tasks]}")
        time.sleep(0.1)


def run_task(env, subnet, groups):
    out = env.ecs.run_task(cluster=CLUSTER, taskDefinition=FAMILY, launchType="FARGATE",
                           networkConfiguration={"awsvpcConfiguration": {
                               "subnets": [subnet], "securityGroups": groups, "assignPublicIp": "DISABLED"}})
    if out.get("failures"):
        raise RuntimeError(f"RunTask failed: {out['failures']}")
    return out["tasks"][0]["taskArn"]


def task_eni(env, arn):
    t = wait_running(env.ecs, [arn])[0]
    details = {d["name"]: d["value"] for d in t["attachments"][0]["details"]}
    return details["networkInterfaceId"], details["privateIPv4Address"]


def host_source(ip):
    """The source address the host uses towards `ip` (the transit link's)."""
    out = subprocess.run(["ip", "-4", "route", "get", ip], capture_output=True, text=True, check=True).stdout
    toks = out.split()
    return toks[toks.index("src") + 1]


def route_dev(ip):
    out = subprocess.run(["ip", "-4", "route", "get", ip], capture_output=True, text=True, check=True).stdout
    toks = out.split()
    return toks[toks.index("dev") + 1]


def free_vpc_cidr(taken=()):
    """A 10.N.0.0/16 (N in 100..199) that the host does not route anywhere yet: another kecs
    on this machine (a test suite's, say) may hold the default VPC's 172.31.0.0/16, and the
    host's route would then lead to its tasks, not ours."""
    for n in random.sample(range(100, 200), 100):
        if n in taken:
            continue
        out = subprocess.run(["ip", "-4", "route", "show", "match", f"10.{n}.0.1"], capture_output=True,
                             text=True).stdout
        if all(l.startswith("default") for l in out.splitlines()):
            return n
    raise SystemExit("no free 10.N.0.0/16 for the benchmark's VPCs")


def check_route(prefix, ip):
    dev = route_dev(ip)
    if not dev.startswith(prefix):
        raise RuntimeError(f"the host routes {ip} through {dev}, not this daemon's link ({prefix}...): "
                           "another VPC on this machine overlaps ours")


def make_group(ec2, vpc, name):
    return ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]


def authorize(ec2, group, cidrs, port=80):
    out = ec2.authorize_security_group_ingress(
        GroupId=group, IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                                       "IpRanges": [{"CidrIp": c} for c in cidrs]}])
    return [r["SecurityGroupRuleId"] for r in out["SecurityGroupRules"]]


def router_ns(prefix, vpc):
    return f"{prefix}-r-{vpc}"


def table_stats(ns, eni_id):
    """Size of the VPC's kecs_sg table, how long `nft list` takes, and the position of the
    host rule in the filtered ENI's ingress chain."""
    t0 = time.perf_counter()
    text = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "table", "inet", "kecs_sg"],
                          capture_output=True, text=True, check=True).stdout
    list_s = time.perf_counter() - t0
    lines = [l.strip() for l in text.splitlines()]
    chains = sum(1 for l in lines if l.startswith("chain "))
    eni_chains = sum(1 for l in lines if l.startswith("chain eni_"))
    rules = sum(1 for l in lines if ("return" in l.split() or l.startswith("drop") or " vmap " in l
                                      or l.startswith("jump") or " jump " in l or l.endswith("accept")
                                      or " accept " in l or " drop " in l) and not l.startswith(("type", "elements")))
    chain_name = eni_id.replace("-", "_") + "_in"
    in_chain, chain_rules = False, []
    for l in lines:
        if l.startswith(f"chain {chain_name} "):
            in_chain = True
            continue
        if in_chain:
            if l == "}":
                break
            chain_rules.append(l)
    return {"bytes": len(text), "lines": len(lines), "chains": chains, "eni_chains": eni_chains, "rules_approx": rules,
            "nft_list_s": list_s, "filtered_in_chain_rules": len(chain_rules),
            "filtered_in_chain_last_allow": chain_rules[-2] if len(chain_rules) >= 2 else None}


def nft_load_times(prefix, router, n=5):
    """How long nft itself takes to replace the VPC's table: the router's kecs_sg table as
    `nft list` prints it, loaded n times into a scratch namespace (named with the run's
    prefix, so that `kecs cleanup` would also remove it) as the controller loads it: `add
    table; delete table; table {...}` in one `nft -f` transaction."""
    text = subprocess.run(["ip", "netns", "exec", router, "nft", "list", "table", "inet", "kecs_sg"],
                          capture_output=True, text=True, check=True).stdout
    script = "add table inet kecs_sg\ndelete table inet kecs_sg\n" + text
    scratch = f"{prefix}-scratch"
    path = f"/tmp/{prefix}-kecs_sg.nft"
    with open(path, "w") as f:
        f.write(script)
    times = []
    try:
        subprocess.run(["ip", "netns", "add", scratch], check=True)
        for _ in range(n):
            t0 = time.perf_counter()
            p = subprocess.run(["ip", "netns", "exec", scratch, "nft", "-f", path], capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if p.returncode != 0:
                return {"error": p.stderr[-500:], "times_s": times}
    finally:
        subprocess.run(["ip", "netns", "del", scratch], capture_output=True)
        os.unlink(path)
    return {"times_s": times, "p50_s": sorted(times)[len(times) // 2], "script_bytes": len(script)}


def conntrack_ns(ns):
    p = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/sys/net/netfilter/nf_conntrack_count"],
                       capture_output=True, text=True)
    try:
        return int(p.stdout)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------
# (a) rule change to effect

def change_latencies(env, target, n, args):
    """Revoke then re-authorize the host rule of target n times; per change: the API call's
    duration and the time from its return until a new connection shows the change."""
    ec2, ip, group = env.ec2, target["ip"], target["host_group"]
    out = []
    for i in range(n):
        for kind in ("revoke", "authorize"):
            time.sleep(args.settle)
            t0 = time.perf_counter()
            if kind == "revoke":
                ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[target["host_rule"]])
            else:
                target["host_rule"] = authorize(ec2, group, [target["host_cidr"]])[0]
            t1 = time.perf_counter()
            effective, attempts = probe(ip, 80, want_success=(kind == "authorize"),
                                        interval=args.probe_interval_ms / 1000,
                                        conn_timeout=args.probe_timeout_ms / 1000, limit=args.probe_limit)
            r = {"i": i, "kind": kind, "api_s": t1 - t0, "attempts": attempts,
                 "effective_s": (effective - t1) if effective is not None else None}
            if effective is None:
                log(f"  {target['name']} {kind} #{i}: NOT effective within {args.probe_limit}s")
            out.append(r)
    return out


def summarize_changes(runs):
    s = {}
    for kind in ("revoke", "authorize"):
        rs = [r for r in runs if r["kind"] == kind]
        eff = [max(0.0, r["effective_s"]) for r in rs if r["effective_s"] is not None]
        s[kind] = {"effective_s": percentiles(eff), "api_s": percentiles([r["api_s"] for r in rs]),
                   "not_effective": sum(r["effective_s"] is None for r in rs),
                   "negative": sum(1 for r in rs if r["effective_s"] is not None and r["effective_s"] < 0)}
    return s


# ---------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kecs", default=benchlib.DEFAULT_KECS, help="the kecs binary")
    ap.add_argument("--out", required=True, help="where to write the raw JSON results")
    ap.add_argument("--enis", type=int, default=200, help="ENIs in the VPC, the two tasks' included")
    ap.add_argument("--rules", type=int, default=1000, help="ingress rules in the VPC's groups, the host rule included")
    ap.add_argument("--changes", type=int, default=20, help="revoke/authorize pairs per VPC")
    ap.add_argument("--settle", type=float, default=0.5, help="seconds between changes")
    ap.add_argument("--probe-interval-ms", type=float, default=5)
    ap.add_argument("--probe-timeout-ms", type=float, default=100)
    ap.add_argument("--probe-limit", type=float, default=10)
    ap.add_argument("--no-small-vpc", action="store_true", help="skip the small-VPC comparison of (a)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--duration", type=int, default=5,
                    help="keep duration x rate under the 28,232 ephemeral ports (see --pause)")
    ap.add_argument("--pause", type=float, default=30,
                    help="seconds after each wrk run: with two targets, a target's next run starts "
                         "after the 60 s TIME_WAIT of its previous run's connections (the server closes)")
    ap.add_argument("--conntrack-limit", type=int, default=100000)
    args = ap.parse_args()

    results = {"machine": benchlib.machine(), "args": vars(args), "daemon_args": ["--strict"]}
    results["wrk_version"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    env = BenchEnv(args.kecs, extra_args=["--strict"])
    try:
        with env:
            results["prefix"] = env.prefix
            ecs, ec2 = env.ecs, env.ec2
            ecs.create_cluster(clusterName=CLUSTER)
            benchlib.register_httpd(ecs, FAMILY)
            # Our own VPC, on a range the host does not route yet (see free_vpc_cidr).
            n_main = free_vpc_cidr()
            vpc = ec2.create_vpc(CidrBlock=f"10.{n_main}.0.0/16")["Vpc"]["VpcId"]
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{n_main}.0.0/22",
                                       AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
            t_setup = time.perf_counter()

            # Groups: the filtered ENI's five first (filled to the quota, the last one leaving
            # room for the host rule), then the rest of the filler rules.
            n_groups = -(-args.rules // RULES_PER_GROUP)
            if n_groups < GROUPS_PER_ENI:
                n_groups = GROUPS_PER_ENI
            groups = [make_group(ec2, vpc, f"bench-sg-{g:02d}") for g in range(n_groups)]
            fillers = args.rules - 1
            per_group = []
            for g in range(n_groups):
                cap = RULES_PER_GROUP - (1 if g == GROUPS_PER_ENI - 1 else 0)
                k = min(cap, fillers)
                per_group.append(k)
                fillers -= k
            if fillers:
                raise SystemExit(f"{args.rules} rules do not fit in {n_groups} groups")
            for g, k in enumerate(per_group):
                if k:
                    authorize(ec2, groups[g], [f"10.{g}.{j}.0/24" for j in range(k)])
            open_group = make_group(ec2, vpc, "bench-sg-open")
            authorize(ec2, open_group, ["0.0.0.0/0"])

            filtered_arn = run_task(env, subnet, groups[:GROUPS_PER_ENI])
            open_arn = run_task(env, subnet, [open_group])
            f_eni, f_ip = task_eni(env, filtered_arn)
            o_eni, o_ip = task_eni(env, open_arn)
            # The chain follows the ENI's group order: the host rule goes in its last group.
            f_groups = [g["GroupId"] for g in
                        ec2.describe_network_interfaces(NetworkInterfaceIds=[f_eni])["NetworkInterfaces"][0]["Groups"]]
            host_group = f_groups[-1]
            check_route(env.prefix, f_ip)
            src = host_source(f_ip)
            if per_group[groups.index(host_group)] >= RULES_PER_GROUP:
                # The ENI lists its groups in another order: make room in its last group.
                raise SystemExit(f"the ENI's last group {host_group} is full; groups {f_groups}")
            host_rule = authorize(ec2, host_group, [f"{src}/32"])[0]
            filtered = {"name": "1,000-rule VPC", "ip": f_ip, "eni": f_eni, "host_group": host_group,
                        "host_rule": host_rule, "host_cidr": f"{src}/32"}

            # The other ENIs, each in one group.
            have = len(ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"])
            made = 0
            for i in range(max(0, args.enis - have)):
                ec2.create_network_interface(SubnetId=subnet, Groups=[groups[i % n_groups]],
                                             Description=f"bench-sg filler {i}")
                made += 1
            enis = ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"]
            rules_in_vpc = 0
            for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]:
                rules_in_vpc += sum(max(1, len(p.get("IpRanges", [])) + len(p.get("UserIdGroupPairs", []))
                                        + len(p.get("Ipv6Ranges", []))) for p in g["IpPermissions"])
            results["setup"] = {"vpc": vpc, "subnet": subnet, "groups": groups, "rules_per_group": per_group,
                                "open_group": open_group, "filtered": filtered, "filtered_groups": f_groups,
                                "open": {"eni": o_eni, "ip": o_ip}, "host_source": src,
                                "enis_created": made, "enis_in_vpc": len(enis),
                                "ingress_rules_in_vpc": rules_in_vpc, "setup_s": time.perf_counter() - t_setup}
            log(f"VPC {vpc}: {len(enis)} ENIs ({made} made with CreateNetworkInterface), {rules_in_vpc} ingress "
                f"rules (all groups, the default group's included); filtered {f_ip} {f_groups}, open {o_ip}; "
                f"host source {src}")

            # Wait until the host rule is in force, then look at the table.
            deadline = time.time() + 30
            while not connects(f_ip) and time.time() < deadline:
                time.sleep(0.1)
            if not connects(f_ip):
                raise RuntimeError(f"the filtered task {f_ip} does not accept the host's connections")
            if not connects(o_ip):
                raise RuntimeError(f"the open task {o_ip} does not accept the host's connections")
            rns = router_ns(env.prefix, vpc)
            # The controller may still be catching up with the ENIs just made: wait until the
            # table has both chains of every ENI of the VPC.
            deadline = time.time() + 60
            while True:
                st = table_stats(rns, f_eni)
                if st["eni_chains"] >= 2 * len(enis) or time.time() > deadline:
                    break
                time.sleep(0.5)
            results["table"] = st
            log(f"kecs_sg table: {results['table']}")
            results["nft_load"] = nft_load_times(env.prefix, rns)
            log(f"nft -f of that table into a scratch namespace: {results['nft_load']}")

            # Optional small VPC: one task, one group with the host rule only.
            targets = [filtered]
            if not args.no_small_vpc:
                n_small = free_vpc_cidr(taken=(n_main,))
                v2 = ec2.create_vpc(CidrBlock=f"10.{n_small}.0.0/16")["Vpc"]["VpcId"]
                s2 = ec2.create_subnet(VpcId=v2, CidrBlock=f"10.{n_small}.1.0/24",
                                       AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
                g2 = make_group(ec2, v2, "bench-sg-small")
                small_arn = run_task(env, s2, [g2])
                s_eni, s_ip = task_eni(env, small_arn)
                check_route(env.prefix, s_ip)
                src2 = host_source(s_ip)
                rule2 = authorize(ec2, g2, [f"{src2}/32"])[0]
                deadline = time.time() + 30
                while not connects(s_ip) and time.time() < deadline:
                    time.sleep(0.1)
                if not connects(s_ip):
                    raise RuntimeError(f"the small VPC's task {s_ip} does not accept the host's connections")
                small = {"name": "small VPC (1 ENI, 1 rule)", "ip": s_ip, "eni": s_eni, "host_group": g2,
                         "host_rule": rule2, "host_cidr": f"{src2}/32", "vpc": v2}
                results["setup"]["small"] = dict(small)
                results["table_small"] = table_stats(router_ns(env.prefix, v2), s_eni)
                results["nft_load_small"] = nft_load_times(env.prefix, router_ns(env.prefix, v2))
                targets.append(small)

            # (a) rule changes, the VPCs interleaved change by change.
            results["changes"] = {t["name"]: [] for t in targets}
            results["machine"]["loadavg_changes_start"] = benchlib.loadavg()
            d0, m0, w0 = benchlib.proc_cpu_seconds(env.daemon.proc.pid), benchlib.system_cpu_seconds(), time.time()
            for i in range(args.changes):
                for t in targets:
                    rs = change_latencies(env, t, 1, args)
                    for r in rs:
                        r["i"] = i
                    results["changes"][t["name"]] += rs
                if i % 5 == 4:
                    log(f"changes: {i + 1}/{args.changes} pairs done")
            wall = time.time() - w0
            results["changes_cpu"] = {"wall_s": wall,
                                      "daemon_cores": (benchlib.proc_cpu_seconds(env.daemon.proc.pid) - d0) / wall,
                                      "machine_cores": (benchlib.system_cpu_seconds() - m0) / wall}
            results["changes_summary"] = {k: summarize_changes(v) for k, v in results["changes"].items()}
            results["machine"]["loadavg_changes_end"] = benchlib.loadavg()
            if not args.no_small_vpc:
                # Stop the small VPC's task so that it does not take part in (b).
                ecs.stop_task(cluster=CLUSTER, task=small_arn, reason="benchmark: (a) done")

            # (b) wrk: filtered against open, alternating.
            if not connects(f_ip):
                raise RuntimeError("the filtered task does not answer after the changes")
            wrk_targets = [("filtered (300-rule chain)", f"http://{f_ip}/"),
                           ("open (1-rule chain)", f"http://{o_ip}/")]
            results["runs"] = []
            for rnd in range(args.rounds):
                for name, url in wrk_targets:
                    waited = wait_conntrack(args.conntrack_limit)
                    t0 = time.time()
                    while (conntrack_ns(rns) or 0) >= args.conntrack_limit and time.time() - t0 < 150:
                        time.sleep(2)
                    waited += time.time() - t0
                    log(f"round {rnd + 1}: wrk {name} {url} (waited {waited:.0f} s for conntrack)")
                    r = run_wrk(url, args.threads, args.connections, args.duration, env.daemon.proc.pid)
                    r.update({"round": rnd + 1, "target": name, "url": url, "conntrack_wait_s": waited,
                              "router_conntrack_after": conntrack_ns(rns)})
                    results["runs"].append(r)
                    log(f"  {r['requests_per_s']} req/s, mean {r.get('latency_mean_ms')} ms, "
                        f"p99 {r.get('latency_p99_ms')} ms, errors {r['socket_errors']}, "
                        f"daemon {r['daemon_cores']:.2f} cores, machine {r['machine_cores']:.2f} cores, "
                        f"{r['syn_retransmits']} SYN retransmits")
                    time.sleep(args.pause)
            results["machine"]["loadavg_end"] = benchlib.loadavg()
    finally:
        results["leftovers"] = env.leftovers
        env.write_json(args.out, results)

    m = results["machine"]
    print(f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['mem_total_mib']} MiB, {m['kernel']}; "
          f"{m['date_utc']}; load at start {m['loadavg']}")
    s = results.get("setup", {})
    print(f"\nnft -f of the 1,000-rule VPC's table: {results.get('nft_load')}; "
          f"of the small VPC's: {results.get('nft_load_small')}")
    print(f"\nVPC {s.get('vpc')}: {s.get('enis_in_vpc')} ENIs ({s.get('enis_created')} by CreateNetworkInterface), "
          f"{s.get('ingress_rules_in_vpc')} ingress rules; table {results.get('table')}")
    rows = []
    for name, summ in results.get("changes_summary", {}).items():
        for kind, v in summ.items():
            e = v["effective_s"]
            if not e["n"]:
                continue
            rows.append([name, kind, e["n"], f"{e['p50'] * 1000:.0f} ms", f"{e['p90'] * 1000:.0f} ms",
                         f"{e['p99'] * 1000:.0f} ms", f"{e['max'] * 1000:.0f} ms",
                         f"{v['api_s']['p50'] * 1000:.1f} ms", v["not_effective"]])
    print("\n### (a) API return to effect in the kernel\n")
    print(table(["VPC", "change", "n", "p50", "p90", "p99", "max", "API call p50", "not effective"], rows))
    rows = []
    for r in results.get("runs", []):
        errs = sum(r["socket_errors"].values()) + r["non_2xx"]
        rows.append([r["round"], r["target"], f"{r['requests_per_s']:.0f}" if r["requests_per_s"] else "-",
                     f"{r.get('latency_mean_ms', 0):.2f} ms", f"{r.get('latency_p99_ms', 0):.2f} ms", errs,
                     r.get("syn_retransmits"), f"{r['machine_cores']:.2f}", r["loadavg"]])
    print(f"\n### (b) wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency\n")
    print(table(["round", "target", "requests/s", "mean latency", "p99 latency", "errors", "SYN retransmits",
                 "machine CPU (cores)", "load average after"], rows))
    summary = {}
    for name in dict.fromkeys(r["target"] for r in results.get("runs", [])):
        rs = [r for r in results["runs"] if r["target"] == name]
        summary[name] = {"requests_per_s": median([r["requests_per_s"] for r in rs]),
                         "latency_mean_ms": median([r.get("latency_mean_ms") for r in rs]),
                         "latency_p99_ms": median([r.get("latency_p99_ms") for r in rs])}
    if len(summary) == 2:
        (fn, f), (on, o) = summary.items()
        ratio = f["requests_per_s"] / o["requests_per_s"] if o["requests_per_s"] else None
        print(f"\nMedian requests/s: {fn} {f['requests_per_s']:.0f}, {on} {o['requests_per_s']:.0f}; "
              f"ratio filtered/open {ratio:.3f}")
        results["summary"] = summary | {"ratio_filtered_to_open": ratio}
        env.write_json(args.out, results)
    print(f"\nLeftover kernel objects: {results.get('leftovers')}")


if __name__ == "__main__":
    main()
