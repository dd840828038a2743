#!/usr/bin/python3
"""bench/replication_latency.py: commit-to-arrival latency from the fake's log.

Reads the request log of t/fake_directus.py (GET /__fake/requests): every
item that arrived in a successful POST or PATCH /items/<collection> carries
"at", the clock_timestamp() its row was written with just before its commit
(bench/replication_latency_insert.sql); the log's "ts" is when the request
arrived. Both clocks are this machine's. An item that arrived more than once
counts at its first arrival.

Prints one line: "<items> <requests> <p50 ms> <p99 ms> <max ms> <mean items per request>".
Exits non-zero if the log does not hold exactly --expect items.
"""

import argparse
import datetime
import json
import sys
import urllib.request


def percentile(sorted_values, p):
    """Nearest rank."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fake-port", type=int, required=True)
    parser.add_argument("--collection", default="articles")
    parser.add_argument("--expect", type=int, required=True)
    args = parser.parse_args()

    with urllib.request.urlopen("http://127.0.0.1:%d/__fake/requests" % args.fake_port) as resp:
        log = json.load(resp)["data"]
    first_arrival = {}
    requests = 0
    for entry in log:
        if entry["method"] not in ("POST", "PATCH") or entry["path"] != "/items/" + args.collection \
                or not 200 <= entry["status"] < 300:
            continue
        requests += 1
        body = entry["body"]
        for item in body if isinstance(body, list) else [body]:
            key = item["id"]
            if key in first_arrival:
                continue
            at = datetime.datetime.fromisoformat(item["at"]).timestamp()
            first_arrival[key] = entry["ts"] - at
    if len(first_arrival) != args.expect:
        sys.exit("latency: the fake received %d distinct items, expected %d" % (len(first_arrival), args.expect))
    lat = sorted(v * 1000 for v in first_arrival.values())
    print("%d %d %.2f %.2f %.2f %.2f" % (len(lat), requests, percentile(lat, 50), percentile(lat, 99),
                                         lat[-1], len(lat) / max(requests, 1)))


if __name__ == "__main__":
    main()
