#!/usr/bin/env python3
"""Issue 19.1: the daemon's memory with 100,000 stored tasks, and its WAL under steady writes.

Needs no root (simulated runtime). Runs about 2-3 minutes:

1. A daemon on a fresh data dir makes one cluster's real task rows (RunTask, a few STOPPED
   by StopTask) and is stopped.
2. The rows are copied (new ids and ARNs) with Python's sqlite3 to 100,000 tasks in three
   clusters: 95,000 STOPPED (stopped ten minutes ago, inside the retention) and 5,000
   RUNNING (desired STOPPED, so the simulated runtime only has to stop them).
3. The daemon starts on that data dir; every task is listed (ListTasks, every page, both
   desired statuses) and described (DescribeTasks, 100 at a time). RSS (VmRSS, VmHWM) is
   read from /proc before and after.
4. Steady writes for --write-seconds (TagResource/UntagResource on a cluster from 4
   threads): the size of kecs.db-wal is sampled every 0.5 s.

Prints the figures and writes them as JSON to --out (default bench/results/store_daemon.json).
KECS_BIN picks the daemon binary (default: build/src/daemon/kecs of this tree).
"""
import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
from benchlib import Daemon, log  # noqa: E402

TARGET = "AmazonEC2ContainerServiceV20141113."


def call(endpoint, op, body):
    req = urllib.request.Request(endpoint + "/", data=json.dumps(body).encode(), method="POST", headers={
        "X-Amz-Target": TARGET + op, "Content-Type": "application/x-amz-json-1.1",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDKECSTEST/20240101/us-east-1/ecs/aws4_request, "
                         "SignedHeaders=host, Signature=00"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def seed(db_path, total, now):
    con = sqlite3.connect(db_path)
    rows = con.execute("SELECT kind, region, id, parent, name, status, doc, internal FROM objects "
                       "WHERE kind = 'ecs:task' ORDER BY seq").fetchall()
    stopped = next(r for r in rows if r[5] == "STOPPED")
    running = next(r for r in rows if r[5] == "RUNNING")
    batch = []
    for i in range(total):
        is_running = i % 20 == 0
        kind, region, old_id, parent, name, status, doc, internal = running if is_running else stopped
        new_id = f"{i + 1:032x}"
        cluster = f"c{i % 3}"
        d = json.loads(doc.replace(old_id, new_id).replace(f"cluster/{parent}", f"cluster/{cluster}")
                       .replace(f"task/{parent}/", f"task/{cluster}/"))
        if is_running:
            d["desiredStatus"] = "STOPPED"
        else:
            d["stoppedAt"] = now - 600
        batch.append((kind, region, new_id, cluster, name, status, json.dumps(d), internal))
        if len(batch) == 5000:
            con.executemany("INSERT INTO objects(kind, region, id, parent, name, status, doc, internal) "
                            "VALUES(?,?,?,?,?,?,?,?)", batch)
            batch = []
    if batch:
        con.executemany("INSERT INTO objects(kind, region, id, parent, name, status, doc, internal) "
                        "VALUES(?,?,?,?,?,?,?,?)", batch)
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def rss(pid):
    s = benchlib.proc_status(pid)
    return {"rss_mib": round(s.get("VmRSS", 0) / 1024, 1), "hwm_mib": round(s.get("VmHWM", 0) / 1024, 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=100000)
    ap.add_argument("--write-seconds", type=float, default=60)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "store_daemon.json"))
    args = ap.parse_args()
    results = {"machine": benchlib.machine(), "args": vars(args),
               "kecs": os.environ.get("KECS_BIN") or "build/src/daemon/kecs"}
    data_dir = tempfile.mkdtemp(prefix="kecs-store-bench-")
    d = Daemon(data_dir)
    try:
        d.start()
        call(d.endpoint, "CreateCluster", {"clusterName": "seed"})
        for c in range(3):
            call(d.endpoint, "CreateCluster", {"clusterName": f"c{c}"})
        call(d.endpoint, "RegisterTaskDefinition", {
            "family": "web", "containerDefinitions": [
                {"name": "web", "image": "nginx:latest", "memory": 128, "essential": True,
                 "portMappings": [{"containerPort": 80}]},
                {"name": "sidecar", "image": "busybox", "memory": 64, "command": ["sleep", "3600"]}]})
        arns = [t["taskArn"] for t in call(d.endpoint, "RunTask", {"cluster": "seed", "taskDefinition": "web",
                                                                   "count": 4})["tasks"]]
        deadline = time.time() + 30
        while time.time() < deadline:
            st = [t["lastStatus"] for t in call(d.endpoint, "DescribeTasks", {"cluster": "seed", "tasks": arns})["tasks"]]
            if all(s == "RUNNING" for s in st):
                break
            time.sleep(0.2)
        for a in arns[:2]:
            call(d.endpoint, "StopTask", {"cluster": "seed", "task": a})
        deadline = time.time() + 30
        while time.time() < deadline:
            st = [t["lastStatus"] for t in call(d.endpoint, "DescribeTasks", {"cluster": "seed", "tasks": arns[:2]})["tasks"]]
            if all(s == "STOPPED" for s in st):
                break
            time.sleep(0.2)
        d.stop()
        t0 = time.time()
        seed(os.path.join(data_dir, "kecs.db"), args.tasks, time.time())
        results["seed_s"] = round(time.time() - t0, 1)
        results["db_mib"] = round(os.path.getsize(os.path.join(data_dir, "kecs.db")) / 2**20, 1)
        log(f"seeded {args.tasks} tasks in {results['seed_s']} s ({results['db_mib']} MiB)")

        d.start(timeout=120)
        time.sleep(2)
        results["rss_after_start"] = rss(d.proc.pid)
        t0 = time.time()
        listed = 0
        pages = 0
        for c in range(3):
            for desired in ("RUNNING", "STOPPED"):
                body = {"cluster": f"c{c}", "desiredStatus": desired}
                while True:
                    out = call(d.endpoint, "ListTasks", body)
                    pages += 1
                    listed += len(out["taskArns"])
                    for k in range(0, len(out["taskArns"]), 100):
                        call(d.endpoint, "DescribeTasks", {"cluster": f"c{c}", "tasks": out["taskArns"][k:k + 100]})
                    if "nextToken" not in out:
                        break
                    body["nextToken"] = out["nextToken"]
        results["list_describe_all"] = {"tasks": listed, "pages": pages, "seconds": round(time.time() - t0, 1)}
        results["rss_after_listing"] = rss(d.proc.pid)
        log(f"listed and described {listed} tasks in {results['list_describe_all']['seconds']} s; "
            f"RSS {results['rss_after_listing']}")

        wal = os.path.join(data_dir, "kecs.db-wal")
        cluster_arn = call(d.endpoint, "DescribeClusters", {"clusters": ["c0"]})["clusters"][0]["clusterArn"]
        stop = threading.Event()
        writes = [0] * 4

        def writer(k):
            while not stop.is_set():
                key = f"k{k}"
                call(d.endpoint, "TagResource", {"resourceArn": cluster_arn, "tags": [{"key": key, "value": str(writes[k])}]})
                call(d.endpoint, "UntagResource", {"resourceArn": cluster_arn, "tagKeys": [key]})
                writes[k] += 2

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        sizes = []
        t0 = time.time()
        while time.time() - t0 < args.write_seconds:
            sizes.append(os.path.getsize(wal) if os.path.exists(wal) else 0)
            time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        n = len(sizes)
        results["wal"] = {"writes": sum(writes), "seconds": args.write_seconds,
                          "max_mib": round(max(sizes) / 2**20, 2),
                          "last_quarter_max_mib": round(max(sizes[3 * n // 4:]) / 2**20, 2),
                          "end_mib": round(sizes[-1] / 2**20, 2)}
        results["rss_end"] = rss(d.proc.pid)
        log(f"WAL under {sum(writes)} writes in {args.write_seconds} s: {results['wal']}")
    finally:
        d.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(json.dumps({k: v for k, v in results.items() if k not in ("machine", "args")}, indent=2))


if __name__ == "__main__":
    main()
