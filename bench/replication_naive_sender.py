#!/usr/bin/python3
"""bench/replication_naive_sender.py: the baseline of the drain benchmark.

Ships queued changes the way an add-on inside Directus does (one request per
changed item, as the Node extension's hooks do): reads the payloads of the
first N queued changes of a remote from directus_sync.outbox with psql and
COPY (CSV, so any payload survives), then POSTs each item as its own request,
one after the other, over one keep-alive connection (http.client), to
/items/<collection>?fields=<key> -- the same URL and read-back the worker
uses. It is generous to the baseline: the read is not timed, and nothing is
written back to the database after a delivery.

Prints one line: "<items> <seconds> <items/s>". Exits non-zero unless every
request answered 200 with the item.

    replication_naive_sender.py --db-port 54395 --db bench --fake-port 54396 \
        --remote-id 1 --collection articles --key id --items 5000
"""

import argparse
import csv
import http.client
import io
import json
import socket
import subprocess
import sys
import time


def read_payloads(args):
    query = ("COPY (SELECT payload FROM directus_sync.outbox WHERE remote_id = %d AND op = 'c' "
             "ORDER BY id LIMIT %d) TO STDOUT WITH (FORMAT csv)" % (args.remote_id, args.items))
    out = subprocess.run([args.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                          "-p", str(args.db_port), "-U", "postgres", "-d", args.db, "-c", query],
                         check=True, capture_output=True, text=True).stdout
    return [row[0].encode() for row in csv.reader(io.StringIO(out))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-port", type=int, required=True)
    parser.add_argument("--db", default="bench")
    parser.add_argument("--psql", default="/usr/lib/postgresql/15/bin/psql")
    parser.add_argument("--fake-port", type=int, required=True)
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--remote-id", type=int, required=True)
    parser.add_argument("--collection", default="articles")
    parser.add_argument("--key", default="id")
    parser.add_argument("--items", type=int, default=5000)
    args = parser.parse_args()

    bodies = read_payloads(args)
    if len(bodies) != args.items:
        sys.exit("naive sender: found %d queued creates, wanted %d" % (len(bodies), args.items))
    url = "/items/%s?fields=%s" % (args.collection, args.key)
    headers = {"Authorization": "Bearer " + args.token, "Content-Type": "application/json",
               "Accept": "application/json"}

    conn = http.client.HTTPConnection("127.0.0.1", args.fake_port, timeout=30)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    start = time.perf_counter()
    for body in bodies:
        conn.request("POST", url, body=body, headers=headers)
        resp = conn.getresponse()
        answer = resp.read()
        if resp.status != 200:
            sys.exit("naive sender: HTTP %d for %s: %s" % (resp.status, body[:80], answer[:200]))
    elapsed = time.perf_counter() - start
    conn.close()
    # The last answer carries the last item's key: a cheap check that items went through.
    if str(json.loads(answer)["data"][args.key]) != str(json.loads(bodies[-1])[args.key]):
        sys.exit("naive sender: the last answer does not carry the last item")
    print("%d %.6f %.1f" % (len(bodies), elapsed, len(bodies) / elapsed))


if __name__ == "__main__":
    main()
