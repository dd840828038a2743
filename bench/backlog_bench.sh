#!/usr/bin/env bash
# bench/backlog_bench.sh: does delivery keep its pace with a large backlog,
# and does a backlog collapse to one request per item? (a benchmark, not a
# test: it checks its set-up and the end state, then only reports numbers)
#
# Measures, side by side in one run, against the fake Directus of the tests:
#   1. drain rate of a mixed backlog built while the remote is paused: N
#      inserts, then an update of every row, then deletes of half of them
#      (2.5 x N events; an item's three changes lie far apart in the queue),
#      at SMALL_EVENTS and at LARGE_EVENTS queued; events/s from resume() until
#      the queue is empty, and the ratio large / small (goal >= 0.8);
#   2. the same MIX_ITEMS items as a mixed backlog and as creates only (one
#      insert per item): the mixed one must drain at least as fast, since it
#      ships at most one request per item (a create or, for an item deleted
#      before it was ever shipped, nothing).
# After each drain the fake must hold exactly the table (count, sum of keys,
# every update arrived) and nothing may be queued or dead. Objects sent per
# item (the fake's items_received / items) shows the coalescing.
#
# Run as root on Debian 12 (builds and installs the tree this script is in,
# starts a throwaway cluster and the fake, removes everything on exit). By
# default about 6 minutes on a 2-core machine:
#   bash bench/backlog_bench.sh
#   LARGE_EVENTS=500000 bash bench/backlog_bench.sh        a shorter run
#   STATS=empty bash bench/backlog_bench.sh     planned with the statistics of
#                                                an empty outbox (default: of the
#                                                full one, ANALYZE after the build)
# PGBIN (a PostgreSQL 15 bin directory, default Debian's), PORT and FAKE_PORT
# may be set to run beside other clusters; DRAIN_TIMEOUT (s) bounds each drain.
set -euo pipefail
pgbin_from_env=${PGBIN:-}
. "$(dirname "$0")/../scripts/lib.sh"
[ -n "$pgbin_from_env" ] && PGBIN=$pgbin_from_env

SMALL_EVENTS=${SMALL_EVENTS:-50000}
LARGE_EVENTS=${LARGE_EVENTS:-2500000}
MIX_ITEMS=${MIX_ITEMS:-200000}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-400}
STATS=${STATS:-analyze}
[[ "$STATS" =~ ^(analyze|empty)$ ]] || ds_die "STATS must be analyze or empty"
PORT=${PORT:-54393}
FAKE_PORT=${FAKE_PORT:-55393}
CHUNK=100000          # rows per statement while the backlog is built
for v in SMALL_EVENTS LARGE_EVENTS MIX_ITEMS DRAIN_TIMEOUT PORT FAKE_PORT; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || ds_die "$v must be a positive integer, not '${!v}'"
done

ds_require_root
LOAD_BEFORE=$(cut -d ' ' -f 1-3 /proc/loadavg)
ds_install_packages
WORK=$(ds_workdir backlog_bench)
cleanup() {
    [ -f "$WORK/fake.pid" ] && kill "$(cat "$WORK/fake.pid")" 2>/dev/null || true
    ds_cluster_stop "$WORK/pg"
    rm -rf "$WORK"
}
trap cleanup EXIT
ds_build_install "$WORK/src"
ds_say "starting a cluster on 127.0.0.1:$PORT ($PGBIN)"
ds_cluster_start "$WORK/pg" "$PORT" "max_wal_size = '8GB'"

sql() { ds_as_postgres env PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres \
        PGOPTIONS='-c client_min_messages=warning' "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d postgres -c "$1"; }
fake() {
    /usr/bin/python3 - "$FAKE_PORT" "$@" <<'EOF'
import sys, urllib.request
port, method, path = sys.argv[1], sys.argv[2], sys.argv[3]
req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), data=b"{}" if method == "POST" else None,
                             method=method, headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=120) as resp:
    sys.stdout.write(resp.read().decode())
EOF
}
# fake_state: "count sum-of-keys items-with-n=1 requests items_received" of the fake.
fake_state() {
    { fake GET /__fake/items/articles; echo; fake GET /__fake/stats; } | /usr/bin/python3 -c '
import json, sys
items = json.loads(sys.stdin.readline())["data"]
stats = json.loads(sys.stdin.readline())
print(len(items), sum(i["id"] for i in items), sum(1 for i in items if i.get("n") == 1),
      stats["requests"], stats["items_received"])'
}

ds_say "starting the fake Directus on 127.0.0.1:$FAKE_PORT"
fake GET /__fake/stats >/dev/null 2>&1 && ds_die "something already listens on 127.0.0.1:$FAKE_PORT: set FAKE_PORT"
ds_as_postgres /usr/bin/python3 "$WORK/src/t/fake_directus.py" --port "$FAKE_PORT" --token bench \
    --collections '{"articles":{"pk":"id"}}' --log-max 100 --pid-file "$WORK/fake.pid" >"$WORK/fake.log" 2>&1 &
for _ in $(seq 100); do grep -q listening "$WORK/fake.log" && break; sleep 0.1; done
grep -q listening "$WORK/fake.log" || { cat "$WORK/fake.log" >&2; ds_die "the fake did not start"; }

sql "CREATE EXTENSION directus_sync;
     CREATE TABLE articles (id integer PRIMARY KEY, title text, n integer);
     SELECT directus_sync.add_remote('fake', 'http://127.0.0.1:$FAKE_PORT', 'bench');
     SELECT directus_sync.subscribe('fake', 'articles', ARRAY['title', 'n']);" >/dev/null
RID=$(sql "SELECT id FROM directus_sync.remote WHERE name = 'fake'")
for _ in $(seq 150); do [ "$(sql "SELECT directus_sync.wake()")" = t ] && break; sleep 0.1; done
[ "$(sql "SELECT directus_sync.wake()")" = t ] || ds_die "no directus_sync worker runs"

# backlog KIND ITEMS: queues, with the remote paused, either "mixed" (ITEMS
# inserts, then an update of each, then deletes of every second item) or
# "creates" (ITEMS inserts with the final values). Sets EVENTS.
backlog() {
    local kind=$1 items=$2 lo hi
    # TRUNCATE of a subscribed table is refused: unsubscribe around it
    sql "SELECT directus_sync.pause('fake'); TRUNCATE directus_sync.outbox;
         SELECT directus_sync.unsubscribe('fake', 'articles'); TRUNCATE articles;
         SELECT directus_sync.subscribe('fake', 'articles', ARRAY['title', 'n']);" >/dev/null
    [ "$STATS" = empty ] && sql "ANALYZE directus_sync.outbox"
    fake POST /__fake/reset >/dev/null
    for ((lo = 1; lo <= items; lo += CHUNK)); do
        hi=$((lo + CHUNK - 1 > items ? items : lo + CHUNK - 1))
        if [ "$kind" = creates ]; then
            sql "INSERT INTO articles SELECT i, 'title ' || i, 1 FROM generate_series($lo, $hi) i"
        else
            sql "INSERT INTO articles SELECT i, 'title ' || i, 0 FROM generate_series($lo, $hi) i"
        fi
    done
    if [ "$kind" = mixed ]; then
        for ((lo = 1; lo <= items; lo += CHUNK)); do
            hi=$((lo + CHUNK - 1 > items ? items : lo + CHUNK - 1))
            sql "UPDATE articles SET n = n + 1 WHERE id BETWEEN $lo AND $hi"
        done
        for ((lo = 1; lo <= items; lo += CHUNK)); do
            hi=$((lo + CHUNK - 1 > items ? items : lo + CHUNK - 1))
            sql "DELETE FROM articles WHERE id BETWEEN $lo AND $hi AND id % 2 = 0"
        done
    fi
    EVENTS=$(sql "SELECT count(*) FROM directus_sync.outbox")
    # the statistics the claim is planned with: those of the full queue, or
    # (STATS=empty) those of the empty outbox, taken before the backlog
    if [ "$STATS" = analyze ]; then sql "VACUUM ANALYZE directus_sync.outbox"; else sql "VACUUM directus_sync.outbox"; fi
    sql "CHECKPOINT"
}

# drain NAME: resumes the remote and waits until the queue is empty; the
# time is the server's, from resume() to the start of the last transaction
# that recorded deliveries. Checks the end state; adds a line to RESULTS.
RESULTS=()
drain() {
    local name=$1 t0 base delivered secs state want status requests received waited=0
    base=$(sql "SELECT delivered FROM directus_sync.remote_state WHERE remote_id = $RID")
    t0=$(sql "SELECT extract(epoch FROM now()) FROM directus_sync.resume('fake')")
    while :; do
        delivered=$(( $(sql "SELECT delivered FROM directus_sync.remote_state WHERE remote_id = $RID") - base ))
        [ "$delivered" -ge "$EVENTS" ] && break
        if [ "$waited" -ge $((DRAIN_TIMEOUT * 10)) ]; then
            RATE[$name]=$(awk -v d="$delivered" -v s="$DRAIN_TIMEOUT" 'BEGIN { print d / s }')
            SECS[$name]=$DRAIN_TIMEOUT
            RESULTS+=("$(printf '%-34s %9d events  NOT DRAINED in %d s: %d delivered = %.0f events/s' \
                "$name" "$EVENTS" "$DRAIN_TIMEOUT" "$delivered" "${RATE[$name]}")")
            sql "SELECT directus_sync.pause('fake')" >/dev/null
            return 0
        fi
        sleep 0.1; waited=$((waited + 1))
    done
    secs=$(sql "SELECT extract(epoch FROM last_success_at) - $t0 FROM directus_sync.remote_state WHERE remote_id = $RID")
    status=$(sql "SELECT format('%s %s %s', (SELECT count(*) FROM directus_sync.outbox), dead, in_flight)
                    FROM directus_sync.remote_status")
    [ "$status" = "0 0 0" ] || ds_die "$name: queued/dead/in flight are $status after the drain"
    state=$(fake_state)
    want=$(sql "SELECT format('%s %s %s', count(*), coalesce(sum(id), 0), count(*) FILTER (WHERE n = 1)) FROM articles")
    [ "$(cut -d ' ' -f 1-3 <<<"$state")" = "$want" ] || ds_die "$name: the fake holds '$state', the table '$want'"
    read -r _ _ _ requests received <<<"$state"
    RATE[$name]=$(awk -v e="$EVENTS" -v s="$secs" 'BEGIN { print e / s }')
    SECS[$name]=$secs
    RESULTS+=("$(printf '%-34s %9d events in %7.2f s = %8.0f events/s; %6d requests, %8d objects sent' \
        "$name" "$EVENTS" "$secs" "${RATE[$name]}" "$requests" "$received")")
}
declare -A RATE SECS

small_items=$((SMALL_EVENTS * 2 / 5))
large_items=$((LARGE_EVENTS * 2 / 5))
ds_say "1. mixed backlog of $SMALL_EVENTS events ($small_items items), three times"
for i in 1 2 3; do backlog mixed "$small_items"; drain "mixed, $SMALL_EVENTS queued, run $i"; done
small_rate=$(for i in 1 2 3; do echo "${RATE["mixed, $SMALL_EVENTS queued, run $i"]}"; done | sort -g | sed -n 2p)
ds_say "1. mixed backlog of $LARGE_EVENTS events ($large_items items)"
backlog mixed "$large_items"; drain "mixed, $LARGE_EVENTS queued"
ds_say "2. $MIX_ITEMS items as creates only, then as a mixed backlog"
backlog creates "$MIX_ITEMS"; drain "creates only, $MIX_ITEMS items"
backlog mixed "$MIX_ITEMS"; drain "mixed, $MIX_ITEMS items"

echo
echo "directus_sync backlog benchmark"
echo "  server:  $(sql "SELECT version()")"
echo "  machine: $(nproc) CPUs; load average before the run $LOAD_BEFORE, now $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "  remote:  the fake Directus, batch_max_items 500; shared_buffers $(sql "SHOW shared_buffers"); statistics: $STATS"
echo
printf '  %s\n' "${RESULTS[@]}"
echo
awk -v s="$small_rate" -v l="${RATE["mixed, $LARGE_EVENTS queued"]}" \
    -v c="${SECS["creates only, $MIX_ITEMS items"]}" -v m="${SECS["mixed, $MIX_ITEMS items"]}" 'BEGIN {
    printf "  drain rate, %s queued / %s queued (median of 3): %.2fx [goal >= 0.8: %s]\n", "'"$LARGE_EVENTS"'", "'"$SMALL_EVENTS"'",
        l / s, (l / s >= 0.8 ? "ok" : "LOW")
    printf "  time, creates only / mixed (same items): %.2fx [goal >= 1: %s]\n", c / m, (c / m >= 1 ? "ok" : "LOW")
}'
