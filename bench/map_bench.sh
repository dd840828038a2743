#!/usr/bin/env bash
# bench/map_bench.sh: throughput of the directus_sync SyncID map API (a
# benchmark, not a test: it checks its set-up, then only reports numbers).
#
# Measures, with pgbench, one client, BENCH_SECONDS seconds per workload:
#   - get_by_local_id        one lookup by local id per call
#   - get_by_local_ids       1,000 random local ids in one call
#   - get_by_sync_id         one lookup by sync id per call
#   - create_mapping         one new mapping per call
# against a map of 100,000 rows, and reports how much faster the set-based
# lookup is than the same 1,000 ids looked up one call at a time.
#
# Run as root on Debian 12 (installs packages, builds, starts a throwaway
# cluster on 127.0.0.1:54392, removes everything on exit):
#   bash bench/map_bench.sh
#   BENCH_SECONDS=30 bash bench/map_bench.sh
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

BENCH_SECONDS=${BENCH_SECONDS:-10}
PORT=54392
ROWS=100000
DB=bench

[[ "$BENCH_SECONDS" =~ ^[1-9][0-9]*$ ]] || ds_die "BENCH_SECONDS must be a positive integer, not '$BENCH_SECONDS'"

ds_require_root
ds_install_packages

WORK=$(ds_workdir bench)
cleanup() {
    ds_cluster_stop "$WORK/pg"
    rm -rf "$WORK"
}
trap cleanup EXIT

ds_build_install "$WORK/src"
ds_say "starting a cluster on 127.0.0.1:$PORT"
ds_cluster_start "$WORK/pg" "$PORT"

pg() { ds_as_postgres env PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres "$@"; }
sql() { pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d "$DB" -c "$1"; }

ds_say "filling the map with $ROWS rows"
pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
# A plain INSERT ... SELECT: the API's create_mappings would work too but
# would make the set-up, not the benchmark, take most of the time. Sync ids
# are md5(n)::uuid so the pgbench scripts can compute the sync id of any n.
sql "CREATE EXTENSION directus_sync;
     CREATE SEQUENCE public.bench_create_seq;
     INSERT INTO public.directus_sync_id_map (\"table\", sync_id, local_id)
     SELECT 'items:bench', md5(n::text)::uuid::text, n::text
       FROM generate_series(1, $ROWS) AS n;"
# Its own command: psql -c runs several statements in one transaction, and
# VACUUM cannot run inside one.
sql "VACUUM ANALYZE public.directus_sync_id_map"

# Numbers from a map that is not what we think it is would be meaningless:
# check the row count and that each lookup workload really finds its rows.
rows=$(sql "SELECT count(*) FROM public.directus_sync_id_map WHERE \"table\" = 'items:bench'")
[ "$rows" = "$ROWS" ] || ds_die "the map has $rows rows in items:bench, expected $ROWS"
[ "$(sql "SELECT count(*) FROM directus_sync.get_by_local_id('items:bench', '$ROWS')")" = 1 ] \
    || ds_die "get_by_local_id does not find local id $ROWS"
[ "$(sql "SELECT local_id FROM directus_sync.get_by_sync_id('items:bench', md5('$ROWS')::uuid::text)")" = "$ROWS" ] \
    || ds_die "get_by_sync_id does not find the sync id of local id $ROWS"
[ "$(sql "SELECT count(*) FROM directus_sync.get_by_local_ids('items:bench',
            ARRAY(SELECT n::text FROM generate_series($ROWS - 999, $ROWS) AS n))")" = 1000 ] \
    || ds_die "get_by_local_ids does not find 1,000 ids"

pg_version=$(sql "SELECT version()")

# bench_run NAME: runs bench/NAME.sql and prints its tps. The scripts are
# read from the work directory's copy, which the postgres user can read.
bench_run() {
    local name=$1 log="$WORK/$1.log" tps
    if ! pg "$PGBIN/pgbench" -n -f "$WORK/src/bench/$name.sql" -c 1 -j 1 -T "$BENCH_SECONDS" "$DB" \
            >"$log" 2>&1; then
        cat "$log" >&2
        ds_die "pgbench failed on $name.sql"
    fi
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$log")
    [ -n "$tps" ] || { cat "$log" >&2; ds_die "no tps line in the pgbench output of $name.sql"; }
    echo "$tps"
}

# The read workloads run first, so that they all see the same map; the
# create workload adds rows (to another Directus table, but the same indexes).
ds_say "running pgbench, $BENCH_SECONDS s per workload"
tps_local=$(bench_run get_by_local_id)
tps_set=$(bench_run get_by_local_ids_1000)
tps_sync=$(bench_run get_by_sync_id)
tps_create=$(bench_run create_mapping)

echo
echo "directus_sync map benchmark"
echo "  server:         $pg_version"
echo "  map rows:       $rows in table 'items:bench'"
echo "  BENCH_SECONDS:  $BENCH_SECONDS per workload (pgbench -n -c 1 -j 1, TCP to 127.0.0.1)"
echo "  machine:        $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo
awk -v l="$tps_local" -v s="$tps_set" -v y="$tps_sync" -v c="$tps_create" 'BEGIN {
    fmt = "  %-46s %12s %14s\n"
    printf fmt, "workload", "calls/s", "ids/s"
    printf fmt, "get_by_local_id (1 id per call)", sprintf("%.1f", l), sprintf("%.1f", l)
    printf fmt, "get_by_local_ids (1,000 ids per call)", sprintf("%.1f", s), sprintf("%.1f", s * 1000)
    printf fmt, "get_by_sync_id (1 id per call)", sprintf("%.1f", y), sprintf("%.1f", y)
    printf fmt, "create_mapping (1 new mapping per call)", sprintf("%.1f", c), sprintf("%.1f", c)
    print ""
    printf "  set-based lookup of 1,000 ids vs 1,000 single calls: %.1fx\n", (s * 1000) / l
    printf "  1,000 get_by_local_id calls: %.1f ms; one get_by_local_ids call of 1,000 ids: %.2f ms\n",
        1000 * 1000 / l, 1000 / s
}'
