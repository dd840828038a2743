#!/usr/bin/env bash
# bench/queue_hygiene.sh: does the outbox return to a small size after
# millions of events? (a measurement, not a test)
#
# Subscribes a table to the fake Directus and runs EVENTS_K thousand inserts,
# then as many updates, then as many deletes (3 x EVENTS_K thousand events, in
# transactions of 10,000 rows) while the worker ships them. Reports the
# outbox's size (table and indexes) when it was largest, once drained, and
# once settled: autovacuum empties the heap (autovacuum_naptime is 5 s here
# instead of 60 s, only to keep the run short), and the idle worker truncates
# an empty outbox over 4 MB, indexes included, within 10 s.
#
# Also reports how much was delivered while the writes went on, and the
# longest time delivery made no progress (one claim that takes minutes shows
# there). DRAIN_TIMEOUT (s, default 300) bounds the wait for the drain.
#
#   bash bench/queue_hygiene.sh              1,000 thousand rows: 3 million events
#   EVENTS_K=200 bash bench/queue_hygiene.sh
# PGBIN (a PostgreSQL 15 bin directory), PORT and FAKE_PORT may be set to run
# beside other clusters.
set -euo pipefail
pgbin_from_env=${PGBIN:-}
. "$(dirname "$0")/../scripts/lib.sh"
[ -n "$pgbin_from_env" ] && PGBIN=$pgbin_from_env

EVENTS_K=${EVENTS_K:-1000}
PORT=${PORT:-54396}
FAKE_PORT=${FAKE_PORT:-54397}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-300}
for v in EVENTS_K PORT FAKE_PORT DRAIN_TIMEOUT; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || ds_die "$v must be a positive integer"
done
LOAD_BEFORE=$(cut -d ' ' -f 1-3 /proc/loadavg)

ds_require_root
ds_install_packages
WORK=$(ds_workdir hygiene)
cleanup() {
    ds_fake_stop "$WORK"
    ds_cluster_stop "$WORK/pg"
    rm -rf "$WORK"
}
trap cleanup EXIT
ds_build_install "$WORK/src"
ds_cluster_start "$WORK/pg" "$PORT" "autovacuum_naptime = 5s" "directus_sync.retry_min_delay = 100"
ds_fake_start "$WORK" "$FAKE_PORT" '{"articles":{"pk":"id"}}'

export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }

q "CREATE EXTENSION directus_sync;
   CREATE TABLE articles (id integer PRIMARY KEY, title text, n integer);
   SELECT directus_sync.add_remote('fake', 'http://127.0.0.1:$FAKE_PORT', 'test-token', batch_max_items => 1000);
   SELECT directus_sync.subscribe('fake', 'articles', ARRAY['title', 'n']);"

size() { q "SELECT pg_total_relation_size('directus_sync.outbox')"; }
pretty() { numfmt --to=iec --suffix=B "$1"; }
peak=0
delivered() { q "SELECT delivered FROM directus_sync.remote_status"; }
# progress: the longest time (s) in which the delivered count did not move
last_count=0; last_move=$(date +%s); stall=0
sample() {
    local s d now; s=$(size); [ "$s" -gt "$peak" ] && peak=$s
    d=$(delivered); now=$(date +%s)
    if [ "$d" != "$last_count" ]; then last_count=$d; last_move=$now
    elif [ $((now - last_move)) -gt "$stall" ]; then stall=$((now - last_move)); fi
    return 0
}

ROWS=$((EVENTS_K * 1000))
start=$(date +%s.%N)
for phase in insert update delete; do
    ds_say "$phase: $ROWS rows in transactions of 10,000"
    for ((lo = 1; lo <= ROWS; lo += 10000)); do
        hi=$((lo + 9999 > ROWS ? ROWS : lo + 9999))
        case $phase in
            insert) q "INSERT INTO articles SELECT i, 'title ' || i, 0 FROM generate_series($lo, $hi) i" ;;
            update) q "UPDATE articles SET n = n + 1 WHERE id BETWEEN $lo AND $hi" ;;
            delete) q "DELETE FROM articles WHERE id BETWEEN $lo AND $hi" ;;
        esac
        (( (lo / 10000) % 10 == 0 )) && sample
    done
    sample
done
write_secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
during_writes=$(delivered)

ds_say "waiting for the queue to drain (at most $DRAIN_TIMEOUT s)"
drain_start=$(date +%s)
drained_ok=yes
until [ "$(q "SELECT NOT EXISTS (SELECT FROM directus_sync.outbox) AND in_flight = 0 FROM directus_sync.remote_status")" = t ]; do
    sample; sleep 1
    if [ $(( $(date +%s) - drain_start )) -gt "$DRAIN_TIMEOUT" ]; then drained_ok=no; break; fi
done
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
if [ "$drained_ok" = no ]; then
    ds_say "results"
    printf '  load average before the run     %s, now %s\n' "$LOAD_BEFORE" "$(cut -d ' ' -f 1-3 /proc/loadavg)"
    printf '  events written                  %s in %.0f s\n' "$((3 * EVENTS_K * 1000))" "$write_secs"
    printf '  delivered while writing         %s\n' "$during_writes"
    printf '  NOT DRAINED                     %s delivered after %.0f s; longest time without progress %s s\n' \
        "$(delivered)" "$elapsed" "$stall"
    printf '  worker: %s\n' "$(q "SELECT coalesce(state, '') || ' ' || coalesce(now() - query_start, '0')::text || ' ' || left(query, 60)
                                FROM pg_stat_activity WHERE backend_type = 'directus_sync worker'")"
    exit 0
fi
drained=$(size)
delivered=$(q "SELECT delivered FROM directus_sync.remote_status")
remote_items=$(curl -s "127.0.0.1:$FAKE_PORT/__fake/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items_received"])')

ds_say "waiting for the drained outbox to shrink (at most 3 minutes)"
vacuums() { q "SELECT coalesce(autovacuum_count, 0) FROM pg_stat_user_tables WHERE relid = 'directus_sync.outbox'::regclass"; }
before=$(vacuums)
waited=0
while [ "$(size)" -gt 1048576 ] && [ $waited -lt 180 ]; do
    sleep 1; waited=$((waited + 1))
done
after=$(size)
runs=$(( $(vacuums) - before ))
heap_after=$(q "SELECT pg_relation_size('directus_sync.outbox')")

ds_say "results"
printf '  load average before the run     %s, now %s\n' "$LOAD_BEFORE" "$(cut -d ' ' -f 1-3 /proc/loadavg)"
printf '  delivered while writing         %s of %s events in %.0f s; longest time without progress %s s\n' \
    "$during_writes" "$((3 * EVENTS_K * 1000))" "$write_secs" "$stall"
printf '  events captured and delivered   %s (3 x %s rows; fake received %s items)\n' "$delivered" "$ROWS" "$remote_items"
printf '  total time                      %.0f s (%.0f events/s end to end)\n' "$elapsed" "$(awk -v d="$delivered" -v e="$elapsed" 'BEGIN { print d / e }')"
printf '  outbox at its largest           %s (table + indexes, sampled)\n' "$(pretty "$peak")"
printf '  outbox when drained             %s\n' "$(pretty "$drained")"
printf '  outbox %3s s after draining     %s (heap %s; autovacuum ran %s times meanwhile)\n' \
    "$waited" "$(pretty "$after")" "$(pretty "$heap_after")" "$runs"
printf '  largest / settled               %.0fx\n' "$(awk -v p="$peak" -v a="$after" 'BEGIN { print p / a }')"
