#!/usr/bin/python3
"""bench/directus_client.py: the Directus side of bench/directus_bench.sh.

A REST client on one keep-alive connection (http.client, TCP_NODELAY),
standard library only. Subcommands:

  collection URL TOKEN
      Creates the collection "articles" (id integer primary key with
      auto-increment, title string, body text, n integer) through the REST
      API, as a user does in the Data Studio.
  direct URL TOKEN --items N --batch B
      The direct client of the delivery benchmark: POSTs items 1..N, with
      their ids, as JSON arrays of B items to /items/articles?fields=id (the
      URL and the bodies the worker sends: the key and the subscribed
      fields, as PostgreSQL's to_json renders the rows directus_bench.sh
      inserts), one request after the other. Prints "<items> <seconds>
      <requests> <CPU seconds of the client while sending>". Fails unless every
      answer is 200 with the batch's ids.
  lookups URL TOKEN --tables T1,T2 --per-table K --calls M --seed S
      GET /directus-extension-sync/table/:t/sync_id/:s for M random
      existing mappings (sync id of mapping n of table t: md5("t:n") as a
      uuid, as directus_bench.sh fills the map), sequentially. Prints
      "<calls> <seconds>". Fails unless every answer is 200 with that sync id.
  compare URL TOKEN --tables ... --per-table K --sample S --psql P --db-port N --db D
      The same lookups of a sample through REST and through
      directus_sync.get_by_sync_id (one psql call, one function call per id),
      plus one missing sync id per table (404 / no row); prints how many
      lookups agreed, and fails on any difference.
  logstats LOG --from-line L [--t0 EPOCH]
      Summarises the requests Directus logged (LOG_LEVEL=info, LOG_STYLE=raw:
      one JSON line per request with its end time and responseTime, in ms)
      after line L: prints "<requests> <POST> <GET> <other> <busy ms>
      <first ms> <last ms> <bytes per POST body>", busy being the sum of
      responseTime, first and last the start of the first request and the
      end of the last one in ms after EPOCH (a Unix time in seconds), or "-"
      without it.
  cpu --postmaster PID --node PID --db DB
      A snapshot of CPU seconds used so far (user + system, from /proc):
      "<machine, all CPUs> <the node process> <the cluster's backends of DB>
      <the whole cluster>", the cluster being the postmaster and its
      children, with the children that have exited (cutime, cstime).
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from datetime import datetime

BODY = "lorem ipsum " * 25  # repeat('lorem ipsum ', 25) of directus_bench.sh


def sync_id(table, n):
    return str(uuid.UUID(hashlib.md5(("%s:%d" % (table, n)).encode()).hexdigest()))


class Client:
    def __init__(self, url, token):
        parsed = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.headers = {"Authorization": "Bearer " + token, "Accept": "application/json"}

    def request(self, method, path, body=None):
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        return resp.status, resp.read()


def fail(msg):
    sys.exit("directus_client: " + msg)


def cmd_collection(args):
    client = Client(args.url, args.token)
    fields = [
        {"field": "id", "type": "integer", "meta": {"hidden": True},
         "schema": {"is_primary_key": True, "has_auto_increment": True}},
        {"field": "title", "type": "string", "schema": {}},
        {"field": "body", "type": "text", "schema": {}},
        {"field": "n", "type": "integer", "schema": {}},
    ]
    body = json.dumps({"collection": "articles", "schema": {}, "meta": {}, "fields": fields})
    status, answer = client.request("POST", "/collections", body.encode())
    if status != 200:
        fail("POST /collections: HTTP %d %s" % (status, answer[:300]))


def item_json(i):
    return json.dumps({"id": i, "title": "Article %d" % i, "body": BODY, "n": i},
                      separators=(",", ":"))


def cmd_direct(args):
    batches = []
    for start in range(1, args.items + 1, args.batch):
        ids = list(range(start, min(start + args.batch, args.items + 1)))
        batches.append((ids, ("[" + ",".join(item_json(i) for i in ids) + "]").encode()))
    client = Client(args.url, args.token)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for ids, body in batches:
        status, answer = client.request("POST", "/items/articles?fields=id", body)
        if status != 200:
            fail("direct POST: HTTP %d %s" % (status, answer[:300]))
        got = [row["id"] for row in json.loads(answer)["data"]]
        if got != ids:
            fail("direct POST: the answer carries other ids than the batch")
    elapsed = time.perf_counter() - t0
    print("%d %.6f %d %.2f" % (args.items, elapsed, len(batches), time.process_time() - cpu0))


def lookup_path(table, sid):
    return "/directus-extension-sync/table/%s/sync_id/%s" % (
        urllib.parse.quote(table, safe=""), urllib.parse.quote(sid, safe=""))


def random_keys(args, count):
    rng = random.Random(args.seed)
    tables = args.tables.split(",")
    return [(t, n, sync_id(t, n)) for t, n in
            ((rng.choice(tables), rng.randint(1, args.per_table)) for _ in range(count))]


def cmd_lookups(args):
    keys = random_keys(args, args.calls)
    client = Client(args.url, args.token)
    t0 = time.perf_counter()
    for table, _, sid in keys:
        status, answer = client.request("GET", lookup_path(table, sid))
        if status != 200:
            fail("lookup %s %s: HTTP %d %s" % (table, sid, status, answer[:300]))
        if json.loads(answer)["sync_id"] != sid:
            fail("lookup %s %s: another row came back" % (table, sid))
    elapsed = time.perf_counter() - t0
    print("%d %.6f" % (len(keys), elapsed))


def normal(row):
    """The comparable part of a map row from either side; created_at to the ms."""
    at = datetime.fromisoformat(row["created_at"].replace("Z", "+00:00"))
    return (int(row["id"]), row["table"], row["sync_id"], str(row["local_id"]),
            at.isoformat(timespec="milliseconds"))


def cmd_compare(args):
    keys = [(t, sid) for t, _, sid in random_keys(args, args.sample)]
    keys += [(t, "no-such-sync-id") for t in args.tables.split(",")]
    client = Client(args.url, args.token)
    rest = []
    for table, sid in keys:
        status, answer = client.request("GET", lookup_path(table, sid))
        if status == 404:
            rest.append(None)
        elif status == 200:
            rest.append(normal(json.loads(answer)))
        else:
            fail("compare: HTTP %d for %s %s" % (status, table, sid))
    values = ",".join("(%d, '%s', '%s')" % (i, t.replace("'", "''"), s.replace("'", "''"))
                      for i, (t, s) in enumerate(keys))
    query = ("SELECT coalesce(json_agg(json_build_array(v.i, to_json(m)) ORDER BY v.i), '[]') "
             "FROM (VALUES %s) AS v(i, t, s) "
             "CROSS JOIN LATERAL directus_sync.get_by_sync_id(v.t, v.s) AS m" % values)
    out = subprocess.run([args.psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                          "-p", str(args.db_port), "-U", "postgres", "-d", args.db, "-c", query],
                         check=True, capture_output=True, text=True).stdout
    sql = [None] * len(keys)
    for i, row in json.loads(out):
        sql[i] = normal(row)
    for key, r, s in zip(keys, rest, sql):
        if r != s:
            fail("compare: %s: REST %s, SQL %s" % (key, r, s))
    if sum(r is not None for r in rest) != args.sample:
        fail("compare: not every sampled mapping was found")
    print(len(keys))


def cmd_logstats(args):
    counts = {"POST": 0, "GET": 0}
    other = busy = post_bytes = 0
    first = last = None
    with open(args.log) as f:
        for lineno, line in enumerate(f, 1):
            if lineno <= args.from_line or not line.startswith("{"):
                continue
            entry = json.loads(line)
            if "responseTime" not in entry or "req" not in entry:
                continue
            method = entry["req"]["method"]
            if method in counts:
                counts[method] += 1
            else:
                other += 1
            if method == "POST":
                post_bytes += int(entry["req"]["headers"].get("content-length", 0))
            busy += entry["responseTime"]
            start = entry["time"] - entry["responseTime"]
            first = start if first is None else min(first, start)
            last = entry["time"] if last is None else max(last, entry["time"])
    requests = counts["POST"] + counts["GET"] + other
    if args.t0 is None or first is None:
        span = "- -"
    else:
        span = "%.0f %.0f" % (first - args.t0 * 1000, last - args.t0 * 1000)
    print("%d %d %d %d %d %s %d" % (requests, counts["POST"], counts["GET"], other, busy, span,
                                    post_bytes // max(counts["POST"], 1)))


def proc_times(pid):
    """(ppid, own CPU ticks, CPU ticks of waited-for children) of a process."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def cmd_cpu(args):
    hz = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    machine = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait
    node = sum(proc_times(args.node)[1:])
    _, own, waited = proc_times(args.postmaster)
    cluster, db = own + waited, 0
    prefix = "postgres: postgres %s " % args.db
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid, own, waited = proc_times(int(entry))
            if ppid != args.postmaster:
                continue
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                title = f.read().decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError):
            continue
        cluster += own + waited
        if title.startswith(prefix):
            db += own + waited
    print(" ".join("%.2f" % (v / hz) for v in (machine, node, db, cluster)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("cpu")
    p.add_argument("--postmaster", type=int, required=True)
    p.add_argument("--node", type=int, required=True)
    p.add_argument("--db", required=True)
    p = sub.add_parser("logstats")
    p.add_argument("log")
    p.add_argument("--from-line", type=int, default=0)
    p.add_argument("--t0", type=float)
    for name in ("collection", "direct", "lookups", "compare"):
        p = sub.add_parser(name)
        p.add_argument("url")
        p.add_argument("token")
        if name == "direct":
            p.add_argument("--items", type=int, required=True)
            p.add_argument("--batch", type=int, default=500)
        if name in ("lookups", "compare"):
            p.add_argument("--tables", required=True)
            p.add_argument("--per-table", type=int, required=True)
            p.add_argument("--seed", type=int, default=1)
        if name == "lookups":
            p.add_argument("--calls", type=int, required=True)
        if name == "compare":
            p.add_argument("--sample", type=int, default=50)
            p.add_argument("--psql", default="/usr/lib/postgresql/15/bin/psql")
            p.add_argument("--db-port", type=int, required=True)
            p.add_argument("--db", required=True)
    args = parser.parse_args()
    globals()["cmd_" + args.cmd](args)


if __name__ == "__main__":
    main()
