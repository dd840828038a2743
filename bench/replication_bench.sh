#!/usr/bin/env bash
# bench/replication_bench.sh: what item replication costs and delivers (a
# benchmark, not a test: it checks its set-up, then only reports numbers).
#
# Measures, side by side in one run, against the fake Directus of the tests
# (t/fake_directus.py):
#   1. capture overhead: pgbench TPS (-n -c 2 -j 2, BENCH_SECONDS per workload
#      and configuration, as BENCH_ROUNDS interleaved runs, median) of
#      INSERT and UPDATE workloads, each as single-row transactions and as
#      100-row statements, on a table (a) not subscribed, (b) subscribed with
#      directus_sync.subscribe (the C capture trigger), (c) carrying a
#      PL/pgSQL AFTER ROW trigger that writes the same outbox rows
#      (bench/replication_setup.sql), (d) subscribed with clocks
#      (directus_sync.enable_clocks: the BEFORE trigger stamps each changed
#      field, the payloads carry the clocks; its 100,000 rows loaded with
#      their clocks). In (b), (c) and (d) the remote is paused:
#      changes are captured and queued, the worker is not woken and ships
#      nothing, so the numbers are the writers' cost and not the worker's
#      and the fake's competition for this machine's CPUs.
#   2. drain rate: 50,000 queued creates shipped by the worker, from
#      directus_sync.resume() until the queue is empty, against a naive
#      sender that POSTs one item per request over keep-alive HTTP, as an
#      add-on inside Directus does (bench/replication_naive_sender.py, a
#      5,000-item sample of the same queue); and the same 50,000 creates of
#      a table with clocks (each item carrying its directus_sync_meta), in
#      DRAIN_ROUNDS interleaved runs of each, median.
#   3. latency: commit-to-arrival p50/p99 of single-row inserts at 100
#      commits/s for LATENCY_SECONDS (the row's clock_timestamp() against the
#      fake's arrival time, bench/replication_latency.py).
#   4. apply: rows/s of inbound changes written by the remote's inbound user
#      (2 clients, a transaction per change: the UPDATE of two fields of an
#      article and Directus's directus_activity row), into the subscribed
#      table with clocks (the sync's clocks in directus_sync_meta) and
#      without (bench/replication_apply_clocks.sql, _plain.sql), as
#      BENCH_ROUNDS interleaved runs, median.
#
# Run as root on Debian 12 (installs packages, builds, starts a throwaway
# cluster on 127.0.0.1:54395 and the fake on 127.0.0.1:55395, removes
# everything on exit); about 7 minutes:
#   bash bench/replication_bench.sh
#   BENCH_SECONDS=30 LATENCY_SECONDS=30 bash bench/replication_bench.sh
# PGBIN (a PostgreSQL 15 bin directory, default Debian's) and PORT may be set
# to run beside other clusters. BENCH_PARTS runs some parts only, and
# BENCH_WORKLOADS and BENCH_CONFIGS some workloads and configurations of part
# 1 (the ratios are then printed where both sides ran), e.g. the 100-row
# statements and the drains:
#   BENCH_PARTS='1 2' BENCH_WORKLOADS='insert_100 update_100' BENCH_CONFIGS='none c clocks' \
#       bash bench/replication_bench.sh
set -euo pipefail
pgbin_from_env=${PGBIN:-}
. "$(dirname "$0")/../scripts/lib.sh"
[ -n "$pgbin_from_env" ] && PGBIN=$pgbin_from_env

BENCH_SECONDS=${BENCH_SECONDS:-15}   # per workload and configuration, in BENCH_ROUNDS runs
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
LATENCY_SECONDS=${LATENCY_SECONDS:-25}
DRAIN_ROUNDS=${DRAIN_ROUNDS:-2}
PORT=${PORT:-54395}
FAKE_PORT=${FAKE_PORT:-55395}
DB=bench
REMOTE=bench
TOKEN=bench-token
BASE_ROWS=100000      # the table every capture run starts from
DRAIN_ITEMS=50000
NAIVE_ITEMS=5000
RATE=100              # commits/s of the latency run
FIELDS="ARRAY['title', 'body', 'n', 'published', 'at']"
SYNC_USER=00000000-0000-0000-0000-00000000000b   # the inbound user of part 4 (bench/replication_apply_*.sql)

# BENCH_PARTS: which parts to run (default all: "1 2 3 4"); BENCH_WORKLOADS and
# BENCH_CONFIGS: which workloads and configurations part 1 runs (default all).
BENCH_PARTS=${BENCH_PARTS:-1 2 3 4}
want_part() { [[ " $BENCH_PARTS " == *" $1 "* ]]; }
for w in ${BENCH_WORKLOADS:-}; do
    [[ " insert_1 insert_100 update_1 update_100 " == *" $w "* ]] || ds_die "unknown workload '$w' in BENCH_WORKLOADS"
done
for c in ${BENCH_CONFIGS:-}; do
    [[ " none c plpgsql clocks " == *" $c "* ]] || ds_die "unknown configuration '$c' in BENCH_CONFIGS"
done
for v in BENCH_SECONDS BENCH_ROUNDS LATENCY_SECONDS DRAIN_ROUNDS PORT FAKE_PORT; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || ds_die "$v must be a positive integer, not '${!v}'"
done
RUN_SECONDS=$(( (BENCH_SECONDS + BENCH_ROUNDS - 1) / BENCH_ROUNDS ))

ds_require_root
LOAD_BEFORE=$(cut -d ' ' -f 1-3 /proc/loadavg)
ds_install_packages
[ -x /usr/bin/python3 ] || ds_die "/usr/bin/python3 is needed for the fake Directus"

WORK=$(ds_workdir replication_bench)
FAKE_PID=
PARTS_DONE=()
cleanup() {
    local rc=$? part
    if [ "$rc" != 0 ]; then
        # A later part failed: what the earlier ones measured is still worth seeing.
        if [ ${#PARTS_DONE[@]} -gt 0 ]; then
            echo >&2
            echo "results of the parts that finished:" >&2
            print_header >&2
            for part in "${PARTS_DONE[@]}"; do "print_part$part" >&2; done
        fi
        if [ -f "$WORK/pg/server.log" ]; then
            echo "--- the last lines of the server log ---" >&2
            tail -n 20 "$WORK/pg/server.log" >&2
        fi
    fi
    if [ -n "$FAKE_PID" ]; then
        kill "$FAKE_PID" 2>/dev/null || true
        wait "$FAKE_PID" 2>/dev/null || true
    fi
    ds_cluster_stop "$WORK/pg"
    # After a crash the server may not stop in a fast shutdown's time.
    if [ -f "$WORK/pg/data/postmaster.pid" ]; then
        ds_as_postgres "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

ds_build_install "$WORK/src"
ds_say "starting a cluster on 127.0.0.1:$PORT"
# Checkpoints are taken between runs (max_wal_size keeps them out of the runs).
ds_cluster_start "$WORK/pg" "$PORT" "directus_sync.databases = '$DB'" "max_wal_size = '8GB'"

pg() { ds_as_postgres env PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGOPTIONS='-c client_min_messages=warning' "$@"; }
sql() { pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d "$DB" -c "$1"; }

# fake METHOD PATH [JSON]: a call to the fake's control API; prints the answer.
fake() {
    /usr/bin/python3 - "$FAKE_PORT" "$@" <<'EOF'
import sys, urllib.request
port, method, path = sys.argv[1], sys.argv[2], sys.argv[3]
data = sys.argv[4].encode() if len(sys.argv) > 4 else None
req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), data=data, method=method,
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=60) as resp:
    sys.stdout.write(resp.read().decode())
EOF
}
# fake_count: how many items the fake holds in articles.
fake_count() {
    fake GET /__fake/collections | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["articles"]["count"])'
}
# fake_item KEY: an item of articles as the fake answers GET /items/articles/KEY.
fake_item() {
    fake GET "/items/articles/$1?access_token=$TOKEN"
}
fake_stat() {
    fake GET /__fake/stats | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"
}

ds_say "starting the fake Directus on 127.0.0.1:$FAKE_PORT"
if fake GET /__fake/stats >/dev/null 2>&1; then
    ds_die "something already listens on 127.0.0.1:$FAKE_PORT: set FAKE_PORT to a free port"
fi
/usr/bin/python3 "$WORK/src/t/fake_directus.py" --port "$FAKE_PORT" --token "$TOKEN" \
    --collections '{"articles":{"pk":"id"}}' --log-max 50000 >"$WORK/fake.log" 2>&1 &
FAKE_PID=$!
for _ in $(seq 100); do
    grep -q 'listening' "$WORK/fake.log" && break
    kill -0 "$FAKE_PID" 2>/dev/null || { cat "$WORK/fake.log" >&2; ds_die "the fake Directus did not start"; }
    sleep 0.1
done
grep -q 'listening' "$WORK/fake.log" || ds_die "the fake Directus did not start listening"

ds_say "setting up database $DB: extension, table, remote (paused), PL/pgSQL trigger"
pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
sql "CREATE EXTENSION directus_sync"
pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$WORK/src/bench/replication_setup.sql"
REMOTE_ID=$(sql "SELECT directus_sync.add_remote('$REMOTE', 'http://127.0.0.1:$FAKE_PORT', '$TOKEN')")
sql "SELECT directus_sync.pause('$REMOTE')"

# The worker of database $DB (restarted by the postmaster every 5 s until the
# database exists) must be there: capture wakes it, and part 2 and 3 need it.
for _ in $(seq 150); do
    [ "$(sql "SELECT directus_sync.wake()")" = t ] && break
    sleep 0.1
done
[ "$(sql "SELECT directus_sync.wake()")" = t ] || ds_die "no directus_sync worker runs for database $DB"
WORKER_PID=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'directus_sync worker' AND datname = '$DB'")
[ -n "$WORKER_PID" ] || ds_die "cannot find the worker's pid"

# configure none|c|plpgsql|clocks: no capture, the subscription (C trigger), the PL/pgSQL
# trigger, or the subscription with clocks (which adds the column directus_sync_meta, kept
# when unsubscribed: prepare_table makes the table afresh).
configure() {
    sql "DROP TRIGGER IF EXISTS replication_bench_plpgsql ON public.articles"
    if [ "$(sql "SELECT count(*) FROM directus_sync.subscription")" != 0 ]; then
        sql "SELECT directus_sync.unsubscribe('$REMOTE', 'articles')" >/dev/null
    fi
    # A table with clocks keeps its triggers when unsubscribed (_apply_config):
    # the other configurations get the table afresh, without the column.
    if [ "$1" != clocks ] && has_clock_column; then
        sql "SELECT public.replication_bench_table()" >/dev/null
    fi
    case $1 in
        none) ;;
        c) sql "SELECT directus_sync.subscribe('$REMOTE', 'articles', $FIELDS, clocks => false)" >/dev/null ;;
        clocks) sql "SELECT directus_sync.subscribe('$REMOTE', 'articles', $FIELDS, clocks => true, key_series => false)" >/dev/null ;;
        plpgsql) sql "CREATE TRIGGER replication_bench_plpgsql AFTER INSERT OR UPDATE OR DELETE ON public.articles
                      FOR EACH ROW EXECUTE FUNCTION public.replication_bench_plpgsql_capture($REMOTE_ID)" ;;
    esac
    local want=1 got
    [ "$1" = none ] && want=0
    [ "$1" = clocks ] && want=2   # the clock trigger (BEFORE) and the capture trigger
    # row triggers (subscribe also adds one that refuses TRUNCATE)
    got=$(sql "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.articles'::regclass AND tgtype::int & 32 = 0")
    [ "$got" = "$want" ] || ds_die "articles has $got triggers in configuration $1, expected $want"
}

# has_clock_column: whether articles has the column enable_clocks adds.
has_clock_column() {
    [ "$(sql "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.articles'::regclass
                 AND attname = 'directus_sync_meta' AND NOT attisdropped")" = 1 ]
}

# prepare_table [clocks]: $BASE_ROWS articles, an empty queue, vacuumed,
# checkpointed. With clocks the rows are written with the clocks on (each
# gets its clocks, as the rows of a table with clocks have them), and the
# table stays configured so; else it is left unconfigured, as it was before
# any clocks (made afresh if it has their column).
prepare_table() {
    configure none
    if has_clock_column; then
        sql "SELECT public.replication_bench_table()" >/dev/null
    fi
    sql "TRUNCATE public.articles RESTART IDENTITY"
    [ "${1:-}" = clocks ] && configure clocks
    sql "INSERT INTO public.articles (title, body, n, published, at)
         SELECT 'Article ' || g, repeat('lorem ipsum ', 25), g, g % 2 = 0, now()
           FROM generate_series(1, $BASE_ROWS) AS g;
         TRUNCATE directus_sync.outbox, public.directus_activity"
    # (the queue was just truncated: nothing to vacuum there)
    pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "VACUUM ANALYZE public.articles" -c "CHECKPOINT"
}

# The two triggers must write the same rows: one insert, one update of two
# fields, one update that changes nothing, one delete, under each.
ds_say "checking that the C and the PL/pgSQL triggers queue the same changes"
queued_by() {
    prepare_table
    configure "$1"
    sql "INSERT INTO public.articles (id, title, body, n, published, at)
         VALUES (1000001, 'Tom \"&\" Jerry', E'line\nbreak', 7, NULL, '2024-05-01 12:00:00.123456+00');
         UPDATE public.articles SET n = 8, published = true WHERE id = 1000001;
         UPDATE public.articles SET title = title WHERE id = 1000001;
         DELETE FROM public.articles WHERE id = 1000001;"
    sql "SELECT string_agg(format('%s %s %s %s', collection, item_key, op, payload::jsonb), ' | ' ORDER BY id)
           FROM directus_sync.outbox"
}
by_c=$(queued_by c)
by_plpgsql=$(queued_by plpgsql)
[ -n "$by_c" ] && [ "$by_c" = "$by_plpgsql" ] || {
    printf 'C:        %s\nPL/pgSQL: %s\n' "$by_c" "$by_plpgsql" >&2
    ds_die "the PL/pgSQL trigger does not queue what the C trigger queues"
}

# The worker's CPU ticks. An idle worker leaves its database (the launcher
# starts one again at the next commit): a run's ticks count only while the
# same worker lives through it, and 0 when none was there.
worker_ticks() {
    WORKER_PID=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'directus_sync worker' AND datname = '$DB'")
    awk '{ print $14 + $15 }' "/proc/${WORKER_PID:-0}/stat" 2>/dev/null || echo 0
}
CLK_TCK=$(getconf CLK_TCK)

# bench_run NAME [pgbench options]: runs bench/NAME.sql, prints its tps.
bench_run() {
    local name=$1 log="$WORK/$1.log" tps
    shift
    if ! pg "$PGBIN/pgbench" -n -f "$WORK/src/bench/$name.sql" -c 2 -j 2 "$@" "$DB" >"$log" 2>&1; then
        cat "$log" >&2
        ds_die "pgbench failed on $name.sql"
    fi
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$log")
    [ -n "$tps" ] || { cat "$log" >&2; ds_die "no tps line in the pgbench output of $name.sql"; }
    echo "$tps"
}

# --------------------------------------------------------------------------
# What is printed: a header and one block per part, at the end of the run
# (or, if a part fails, those of the parts before it).
declare -A TPS CPU RUNS
WORKLOADS=(${BENCH_WORKLOADS:-insert_1 insert_100 update_1 update_100})
CONFIGS=(${BENCH_CONFIGS:-none c plpgsql clocks})
APPLY_CONFIGS=(c clocks)

print_header() {
    echo
    echo "directus_sync replication benchmark"
    echo "  server:         $(sql "SELECT version()" 2>/dev/null || echo unknown)"
    echo "  machine:        $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1); load average before the run $LOAD_BEFORE, now $(cut -d ' ' -f 1-3 /proc/loadavg)"
    echo "  pgbench:        -n -c 2 -j 2, TCP to 127.0.0.1; fsync and synchronous_commit on"
    echo "  table:          articles (id bigint pk, title, body (300 chars), n, published, at); all 5 fields subscribed"
    echo "                  (with clocks: and directus_sync_meta jsonb, the clocks of the 5 fields and the item's born clock)"
    echo "  fake Directus:  t/fake_directus.py (one Python process) on 127.0.0.1"
}

print_part1() {
    echo
    if [ "${WORKLOADS[*]}" != "insert_1 insert_100 update_1 update_100" ] || [ "${CONFIGS[*]}" != "none c plpgsql clocks" ]; then
        print_part1_subset
        return
    fi
    echo "1. Capture overhead: TPS, median of $BENCH_ROUNDS interleaved runs of $RUN_SECONDS s per workload and"
    echo "   configuration, each run from $BASE_ROWS rows and an empty queue; remote paused (changes captured"
    echo "   and queued, the worker not woken, nothing shipped)"
    awk -v i1n="${TPS[insert_1.none]}" -v i1c="${TPS[insert_1.c]}" -v i1p="${TPS[insert_1.plpgsql]}" \
        -v iHn="${TPS[insert_100.none]}" -v iHc="${TPS[insert_100.c]}" -v iHp="${TPS[insert_100.plpgsql]}" \
        -v u1n="${TPS[update_1.none]}" -v u1c="${TPS[update_1.c]}" -v u1p="${TPS[update_1.plpgsql]}" \
        -v uHn="${TPS[update_100.none]}" -v uHc="${TPS[update_100.c]}" -v uHp="${TPS[update_100.plpgsql]}" \
        -v wi1c="${CPU[insert_1.c]}" -v wi1p="${CPU[insert_1.plpgsql]}" \
        -v wu1c="${CPU[update_1.c]}" -v wu1p="${CPU[update_1.plpgsql]}" \
        'function row(name, n, c, p) {
            printf "  %-22s %12.1f %12.1f %12.1f %9.2fx %-4s %9.2fx %-4s\n", name, n, c, p,
                c / n, (c / n >= 0.8 ? "ok" : "LOW"), c / p, (c / p >= 1.5 ? "ok" : "LOW")
        }
        BEGIN {
            printf "  %-22s %12s %12s %12s %15s %15s\n", "workload", "unsubscribed", "C trigger", "PL/pgSQL",
                "C/unsub [0.8x]", "C/PL [1.5x]"
            row("INSERT, 1 row/tx", i1n, i1c, i1p)
            row("INSERT, 100 rows/tx", iHn, iHc, iHp)
            row("UPDATE, 1 row/tx", u1n, u1c, u1p)
            row("UPDATE, 100 rows/tx", uHn, uHc, uHp)
            printf "  rows/s at 100 rows/tx (unsubscribed / C / PL/pgSQL): INSERT %.0f / %.0f / %.0f, UPDATE %.0f / %.0f / %.0f\n",
                iHn * 100, iHc * 100, iHp * 100, uHn * 100, uHc * 100, uHp * 100
            printf "  CPU of the worker while the remote is paused (C / PL/pgSQL): INSERT 1 row/tx %s%% / %s%%, UPDATE 1 row/tx %s%% / %s%% of a CPU\n",
                wi1c, wi1p, wu1c, wu1p
        }'
    echo
    echo "   (d) subscribed with clocks (enable_clocks), the same runs, interleaved with the above"
    awk -v i1n="${TPS[insert_1.none]}" -v i1c="${TPS[insert_1.c]}" -v i1k="${TPS[insert_1.clocks]}" \
        -v iHn="${TPS[insert_100.none]}" -v iHc="${TPS[insert_100.c]}" -v iHk="${TPS[insert_100.clocks]}" \
        -v u1n="${TPS[update_1.none]}" -v u1c="${TPS[update_1.c]}" -v u1k="${TPS[update_1.clocks]}" \
        -v uHn="${TPS[update_100.none]}" -v uHc="${TPS[update_100.c]}" -v uHk="${TPS[update_100.clocks]}" \
        -v wi1k="${CPU[insert_1.clocks]}" -v wu1k="${CPU[update_1.clocks]}" \
        'function row(name, n, c, k, goal) {
            printf "  %-22s %12.1f %12.1f %12.1f %9.2fx %-4s %5s %9.2fx\n", name, n, c, k,
                k / n, (k / n >= goal ? "ok" : "LOW"), sprintf("[%.1fx]", goal), k / c
        }
        BEGIN {
            printf "  %-22s %12s %12s %12s %22s %10s\n", "workload", "(a) unsub", "(b) C", "(d) clocks",
                "(d)/(a) [goal]", "(d)/(b)"
            row("INSERT, 1 row/tx", i1n, i1c, i1k, 0.8)
            row("INSERT, 100 rows/tx", iHn, iHc, iHk, 0.4)
            row("UPDATE, 1 row/tx", u1n, u1c, u1k, 0.8)
            row("UPDATE, 100 rows/tx", uHn, uHc, uHk, 0.4)
            printf "  rows/s at 100 rows/tx (unsubscribed / C / C with clocks): INSERT %.0f / %.0f / %.0f, UPDATE %.0f / %.0f / %.0f\n",
                iHn * 100, iHc * 100, iHk * 100, uHn * 100, uHc * 100, uHk * 100
            printf "  CPU of the worker while the remote is paused (clocks): INSERT 1 row/tx %s%%, UPDATE 1 row/tx %s%% of a CPU\n",
                wi1k, wu1k
        }'
}

# print_part1_subset: part 1 when BENCH_WORKLOADS or BENCH_CONFIGS chose some of them:
# the medians, and (d) clocks against (a) none and (b) c where both ran.
print_part1_subset() {
    local w cfg line
    echo "1. Capture overhead (workloads: ${WORKLOADS[*]}; configurations: ${CONFIGS[*]}): TPS, median of $BENCH_ROUNDS"
    echo "   interleaved runs of $RUN_SECONDS s; remote paused"
    for w in "${WORKLOADS[@]}"; do
        line=$(printf '  %-11s' "$w")
        for cfg in "${CONFIGS[@]}"; do
            line+=$(printf ' %s %10.1f' "$cfg" "${TPS[$w.$cfg]}")
        done
        if [ -n "${TPS[$w.clocks]:-}" ] && [ -n "${TPS[$w.none]:-}" ]; then
            line+=$(awk -v k="${TPS[$w.clocks]}" -v n="${TPS[$w.none]}" 'BEGIN { printf "  (d)/(a) %.2fx", k / n }')
        fi
        if [ -n "${TPS[$w.clocks]:-}" ] && [ -n "${TPS[$w.c]:-}" ]; then
            line+=$(awk -v k="${TPS[$w.clocks]}" -v c="${TPS[$w.c]}" 'BEGIN { printf "  (d)/(b) %.2fx", k / c }')
        fi
        echo "$line"
    done
}

print_part2() {
    echo
    echo "2. Drain rate: creates queued while paused, shipped to the fake (worker: median of $DRAIN_ROUNDS interleaved runs"
    echo "   without and with clocks; runs without: ${DRAIN_RUNS[c]:-} s, with: ${DRAIN_RUNS[clocks]:-} s)"
    awk -v dn="$DRAIN_ITEMS" -v ds="$drain_secs" -v dq="$drain_requests" \
        -v ks="$drain_clock_secs" -v kq="$drain_clock_requests" -v kb="$drain_clock_bytes" -v db="$drain_bytes" \
        -v nn="$naive_items" -v ns="$naive_secs" -v nq="$naive_requests" 'BEGIN {
        dr = dn / ds; nr = nn / ns; kr = dn / ks
        printf "  %-45s %6d items in %7.3f s = %9.1f items/s (%d requests, %.0f bytes/item queued)\n",
            "directus_sync worker (resume to empty queue)", dn, ds, dr, dq, db
        printf "  %-45s %6d items in %7.3f s = %9.1f items/s (%d requests)\n",
            "naive sender (one POST per item, keep-alive)", nn, ns, nr, nq
        printf "  worker / naive: %.1fx [50x: %s]\n", dr / nr, (dr / nr >= 50 ? "ok" : "LOW")
        printf "  %-45s %6d items in %7.3f s = %9.1f items/s (%d requests, %.0f bytes/item queued)\n",
            "the worker, a table with clocks", dn, ks, kr, kq, kb
        printf "  with clocks / without: %.2fx [1.0x: %s]\n", kr / dr, (kr / dr >= 1.0 ? "ok" : "LOW")
    }'
    echo "  CPU seconds of each drain, worker/fake: without clocks ${DRAIN_CPU_RUNS[c]:-}; with clocks ${DRAIN_CPU_RUNS[clocks]:-}"
}

print_part3() {
    echo
    echo "3. Latency: commit to arrival at the fake, single-row inserts at $RATE commits/s for $LATENCY_SECONDS s (2 clients), remote live"
    awk -v n="$lat_items" -v q="$lat_requests" -v p50="$lat_p50" -v p99="$lat_p99" -v mx="$lat_max" \
        -v per="$lat_per_request" -v pgl="$lat_pgbench" 'BEGIN {
        printf "  %d items in %d requests (%.2f items per request); pgbench latency average %s ms\n", n, q, per, pgl
        printf "  p50 %.2f ms, p99 %.2f ms [50 ms: %s], max %.2f ms\n", p50, p99, (p99 <= 50 ? "ok" : "HIGH"), mx
    }'
}

print_part4() {
    echo
    echo "4. Apply: inbound changes written by the remote's inbound user (2 clients, a transaction per change: UPDATE of"
    echo "   2 fields of one of $BASE_ROWS articles + Directus's directus_activity row), the table subscribed; median of"
    echo "   $BENCH_ROUNDS interleaved runs of $RUN_SECONDS s (runs without: ${APPLY_RUNS[c]:-}, with:${APPLY_RUNS[clocks]:-})"
    awk -v c="${APPLY[c]}" -v k="${APPLY[clocks]}" 'BEGIN {
        printf "  %-45s %9.1f rows/s\n", "without clocks", c
        printf "  %-45s %9.1f rows/s\n", "with clocks (the sync'"'"'s clocks merged)", k
        printf "  with clocks / without: %.2fx\n", k / c
    }'
}

# median VALUES...: the median of numbers.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# --------------------------------------------------------------------------
# 1. Capture overhead
if want_part 1; then
# A first heavy run creates the WAL segment files (later runs recycle them)
# and warms the caches: without it the first measured run comes out slow.
ds_say "warming up: $RUN_SECONDS s of 100-row inserts, not measured"
prepare_table
bench_run replication_insert_100 -T "$RUN_SECONDS" >/dev/null
ds_say "1. capture overhead: ${#WORKLOADS[@]} workloads x ${#CONFIGS[@]} configurations x $BENCH_ROUNDS runs of $RUN_SECONDS s"
# The configurations take turns, in a rotating order, so that a slow spell of
# this machine (other load, a noisy neighbour) hits all of them alike; the
# median of the runs is reported.
NCONFIGS=${#CONFIGS[@]}
for w in "${WORKLOADS[@]}"; do
    ticks=0
    for round in $(seq 0 $((BENCH_ROUNDS - 1))); do
        for k in $(seq 0 $((NCONFIGS - 1))); do
            cfg=${CONFIGS[$(( (k + round) % NCONFIGS ))]}
            if [ "$cfg" = clocks ]; then
                prepare_table clocks
            else
                prepare_table
                configure "$cfg"
            fi
            t0=$(worker_ticks)
            tps=$(bench_run "replication_$w" -T "$RUN_SECONDS")
            RUNS[$w.$cfg]="${RUNS[$w.$cfg]:-} $tps"
            t1=$(worker_ticks)
            CPU[$w.$cfg]=$(( ${CPU[$w.$cfg]:-0} + (t1 >= t0 ? t1 - t0 : 0) ))
            queued=$(sql "SELECT count(*) FROM directus_sync.outbox")
            case $cfg in
                none) [ "$queued" = 0 ] || ds_die "$w without capture queued $queued changes" ;;
                *) [ "$queued" -gt 0 ] || ds_die "$w with the $cfg trigger queued nothing" ;;
            esac
            if [ "$cfg" = clocks ]; then
                # (a create's clocks may be compact: "b" alone stands for every field's)
                [ "$(sql "SELECT (m->'f') ? 'n' OR (m ? 'b' AND NOT m ? 'f')
                            FROM (SELECT payload::jsonb->'directus_sync_meta' AS m
                                    FROM directus_sync.outbox ORDER BY id DESC LIMIT 1) AS last")" = t ] \
                    || ds_die "$w with clocks queued a change without the clock of n"
            fi
            printf '  %-11s %-8s %10.1f tps  (%s changes queued)\n' "$w" "$cfg" "$tps" "$queued"
        done
    done
    for cfg in "${CONFIGS[@]}"; do
        TPS[$w.$cfg]=$(median ${RUNS[$w.$cfg]})
        # worker CPU: percent of one CPU over the runs of this configuration
        CPU[$w.$cfg]=$(awk -v t="${CPU[$w.$cfg]}" -v hz="$CLK_TCK" -v s=$((RUN_SECONDS * BENCH_ROUNDS)) \
                           'BEGIN { printf "%.0f", 100 * t / hz / s }')
    done
done
PARTS_DONE+=(1)
fi

# --------------------------------------------------------------------------
# 2. Drain rate
if want_part 2; then
# queue_creates c|clocks: $DRAIN_ITEMS creates of a fresh table queued (the
# remote paused), the outbox vacuumed, a checkpoint.
queue_creates() {
    local queued
    sql "SELECT directus_sync.pause('$REMOTE')"
    configure none
    sql "SELECT public.replication_bench_table()" >/dev/null
    sql "TRUNCATE directus_sync.outbox"
    configure "$1"
    sql "INSERT INTO public.articles (title, body, n, published, at)
         SELECT 'Article ' || g, repeat('lorem ipsum ', 25), g, g % 2 = 0, clock_timestamp()
           FROM generate_series(1, $DRAIN_ITEMS) AS g"
    queued=$(sql "SELECT queued FROM directus_sync.remote_status WHERE remote = '$REMOTE'")
    [ "$queued" = "$DRAIN_ITEMS" ] || ds_die "$queued changes queued, expected $DRAIN_ITEMS"
    sql "VACUUM ANALYZE directus_sync.outbox"
    sql "CHECKPOINT"
}

# proc_ticks PID: the CPU ticks (user + system) of a process, 0 if it is gone.
proc_ticks() {
    awk '{ print $14 + $15 }' "/proc/${1:-0}/stat" 2>/dev/null || echo 0
}

# drain CFG: the queue shipped from resume() until it is empty; sets
# DRAIN_SECS, DRAIN_REQUESTS, DRAIN_BYTES (average payload size queued),
# DRAIN_CPU (CPU seconds of the worker and of the fake during the drain).
drain() {
    local cfg=$1 delivered0 status secs wpid0 wpid1 wt0 wt1 ft0 ft1
    queue_creates "$cfg"
    DRAIN_BYTES=$(sql "SELECT round(avg(octet_length(payload::text))) FROM directus_sync.outbox")
    delivered0=$(sql "SELECT delivered FROM directus_sync.remote_status WHERE remote = '$REMOTE'")
    fake POST /__fake/reset >/dev/null
    wpid0=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'directus_sync worker' AND datname = '$DB'")
    wt0=$(proc_ticks "$wpid0")
    ft0=$(proc_ticks "$FAKE_PID")
    # resume() commits and wakes the worker; the DO block then looks at the
    # queue every 10 ms (each look a new snapshot) until it is empty.
    if ! secs=$(pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d "$DB" 2>&1 <<EOF | tail -n 1
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT directus_sync.resume('$REMOTE');
DO \$\$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '120 s';
BEGIN
    WHILE EXISTS (SELECT FROM directus_sync.outbox WHERE remote_id = $REMOTE_ID) LOOP
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'the queue did not drain in 120 s';
        END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
END
\$\$;
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3);
EOF
    ); then
        grep -q 'directus_sync worker.*terminated by signal' "$WORK/pg/server.log" \
            && ds_die "the directus_sync worker crashed while draining the queue (server log below)"
        ds_die "the drain ($cfg) did not finish: $secs"
    fi
    ft1=$(proc_ticks "$FAKE_PID")
    wpid1=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'directus_sync worker' AND datname = '$DB'")
    wt1=$(proc_ticks "$wpid1")
    # (a worker that started at resume() spent all its ticks on the drain)
    [ "$wpid1" = "$wpid0" ] || wt0=0
    DRAIN_CPU=$(awk -v w=$((wt1 - wt0)) -v f=$((ft1 - ft0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f %.2f", w / hz, f / hz }')
    status=$(sql "SELECT format('%s %s %s', queued, dead, delivered - $delivered0) FROM directus_sync.remote_status WHERE remote = '$REMOTE'")
    [ "$status" = "0 0 $DRAIN_ITEMS" ] || ds_die "after the drain ($cfg) queued/dead/delivered are $status, expected 0 0 $DRAIN_ITEMS"
    [ "$(fake_count)" = "$DRAIN_ITEMS" ] || ds_die "the fake holds $(fake_count) items after the drain ($cfg), expected $DRAIN_ITEMS"
    if [ "$cfg" = clocks ]; then
        # the fake took the clocks as one more field of each item
        fake_item 1 | /usr/bin/python3 -c '
import json, sys
item = json.load(sys.stdin)["data"]
meta = item.get("directus_sync_meta")
# (a create's clocks may be compact: "b" alone stands for every field's)
sys.exit(0 if isinstance(meta, dict) and ("n" in meta.get("f", {}) or ("b" in meta and "f" not in meta)) else 1)' \
            || ds_die "the fake's item 1 has no directus_sync_meta with clocks after the drain with clocks"
    fi
    DRAIN_SECS=$secs
    DRAIN_REQUESTS=$(fake_stat requests)
}

ds_say "2. drain rate: $DRAIN_ITEMS queued creates, without and with clocks ($DRAIN_ROUNDS runs each); the naive sender takes $NAIVE_ITEMS of them"
queue_creates c
fake POST /__fake/reset >/dev/null
naive=$(/usr/bin/python3 "$WORK/src/bench/replication_naive_sender.py" --db-port "$PORT" --db "$DB" \
        --psql "$PGBIN/psql" --fake-port "$FAKE_PORT" --token "$TOKEN" --remote-id "$REMOTE_ID" \
        --collection articles --key id --items "$NAIVE_ITEMS") || ds_die "the naive sender failed"
read -r naive_items naive_secs _ <<<"$naive"
[ "$(fake_count)" = "$NAIVE_ITEMS" ] || ds_die "the fake holds $(fake_count) items after the naive sender"
naive_requests=$(fake_stat requests)

declare -A DRAIN_RUNS DRAIN_CPU_RUNS
for round in $(seq 0 $((DRAIN_ROUNDS - 1))); do
    for k in 0 1; do
        if [ $(( (k + round) % 2 )) = 0 ]; then cfg=c; else cfg=clocks; fi
        drain "$cfg"
        DRAIN_RUNS[$cfg]="${DRAIN_RUNS[$cfg]:-} $DRAIN_SECS"
        read -r wcpu fcpu <<<"$DRAIN_CPU"
        printf '  drain %-8s %8.3f s  (%s requests, %s bytes/item queued; CPU s: worker %s, fake %s)\n' \
            "$cfg" "$DRAIN_SECS" "$DRAIN_REQUESTS" "$DRAIN_BYTES" "$wcpu" "$fcpu"
        DRAIN_CPU_RUNS[$cfg]="${DRAIN_CPU_RUNS[$cfg]:-}${DRAIN_CPU_RUNS[$cfg]:+, }$wcpu/$fcpu"
        if [ "$cfg" = c ]; then
            drain_requests=$DRAIN_REQUESTS drain_bytes=$DRAIN_BYTES
        else
            drain_clock_requests=$DRAIN_REQUESTS drain_clock_bytes=$DRAIN_BYTES
        fi
    done
done
drain_secs=$(median ${DRAIN_RUNS[c]})
drain_clock_secs=$(median ${DRAIN_RUNS[clocks]})
PARTS_DONE+=(2)
fi

# --------------------------------------------------------------------------
# 3. Latency
if want_part 3; then
ds_say "3. latency: single-row inserts at $RATE commits/s for $LATENCY_SECONDS s, remote live"
configure none
sql "SELECT public.replication_bench_table()" >/dev/null
sql "TRUNCATE directus_sync.outbox"
configure c
sql "VACUUM ANALYZE public.articles"
sql "CHECKPOINT"
fake POST /__fake/reset >/dev/null
bench_run replication_latency_insert --rate="$RATE" -T "$LATENCY_SECONDS" >/dev/null
lat_pgbench=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' "$WORK/replication_latency_insert.log")
committed=$(sql "SELECT count(*) FROM public.articles")
for _ in $(seq 300); do
    [ "$(sql "SELECT queued FROM directus_sync.remote_status WHERE remote = '$REMOTE'")" = 0 ] && break
    sleep 0.1
done
[ "$(sql "SELECT queued FROM directus_sync.remote_status WHERE remote = '$REMOTE'")" = 0 ] \
    || ds_die "the queue did not drain after the latency run"
latency=$(/usr/bin/python3 "$WORK/src/bench/replication_latency.py" --fake-port "$FAKE_PORT" \
          --collection articles --expect "$committed") || ds_die "the latency analysis failed"
read -r lat_items lat_requests lat_p50 lat_p99 lat_max lat_per_request <<<"$latency"
PARTS_DONE+=(3)
fi

# --------------------------------------------------------------------------
# 4. Apply
if want_part 4; then
ds_say "4. apply: inbound changes by the sync user, ${#APPLY_CONFIGS[@]} configurations x $BENCH_ROUNDS runs of $RUN_SECONDS s"
# The remote becomes a peer whose sync user writes here (the loop guard's
# trigger on directus_activity appears); paused again, nothing is shipped.
sql "SELECT directus_sync.pause('$REMOTE')"
sql "SELECT directus_sync.alter_remote('$REMOTE', inbound_user => '$SYNC_USER')"
[ "$(sql "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.directus_activity'::regclass AND tgname = 'directus_sync_loop_guard'")" = 1 ] \
    || ds_die "no loop guard trigger on directus_activity after giving the remote an inbound user"
declare -A APPLY APPLY_RUNS
for round in $(seq 0 $((BENCH_ROUNDS - 1))); do
    for k in 0 1; do
        cfg=${APPLY_CONFIGS[$(( (k + round) % 2 ))]}
        if [ "$cfg" = clocks ]; then
            prepare_table clocks
            script=replication_apply_clocks
        else
            prepare_table
            configure c
            script=replication_apply_plain
        fi
        tps=$(bench_run "$script" -T "$RUN_SECONDS")
        APPLY_RUNS[$cfg]="${APPLY_RUNS[$cfg]:-} $tps"
        # Every change applied, none sent back to the remote it came from.
        read -r activity queued <<<"$(sql "SELECT (SELECT count(*) FROM public.directus_activity),
                                                   (SELECT count(*) FROM directus_sync.outbox)" | tr '|' ' ')"
        [ "$queued" = 0 ] || ds_die "apply ($cfg) queued $queued changes: the sync's writes should go back to no one"
        [ "$activity" -gt 0 ] || ds_die "apply ($cfg) wrote no activity rows"
        if [ "$cfg" = clocks ]; then
            synced=$(sql "SELECT count(*) FROM public.articles
                           WHERE directus_sync_meta->'f'->>'n' LIKE '%@00000000-0000-0000-0000-0000000000b0'
                             AND directus_sync_meta->'f'->>'title' NOT LIKE '%@00000000-0000-0000-0000-0000000000b0'")
            [ "$synced" -gt 0 ] || ds_die "apply with clocks: no row kept the sync's clock of n"
        fi
        printf '  %-11s %-8s %10.1f tps  (%s activity rows, %s rows with the sync'"'"'s clocks)\n' \
            apply "$cfg" "$tps" "$activity" "${synced:--}"
        synced=
    done
done
for cfg in "${APPLY_CONFIGS[@]}"; do
    APPLY[$cfg]=$(median ${APPLY_RUNS[$cfg]})
done
PARTS_DONE+=(4)
fi

# --------------------------------------------------------------------------
print_header
for part in "${PARTS_DONE[@]}"; do "print_part$part"; done
