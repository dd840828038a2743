#!/usr/bin/env bash
# bench/directus_bench.sh: directus_sync against real Directus 12.4.0 (a
# benchmark, not a test: it checks its set-up and every run's result, then
# reports numbers).
#
# Measures, side by side in one run, on one cluster (127.0.0.1:54380) with
# two Directus instances started by scripts/directus.sh:
#   S  127.0.0.1:54381, database "source": directus_sync installed (its worker
#      runs there), directus-extension-sync 3.0.6 loaded, collection articles.
#   T  127.0.0.1:54382, database "target": collection articles (id integer
#      key, title string, body text, n integer), made through its REST API.
#
#   1. Delivery rate into T, ITEMS creates per run, after a warm-up of
#      WARMUP_ITEMS items each (Node's JIT), ROUNDS rounds of one run each, the
#      two taking turns going first (many short runs rather than few long ones:
#      other users' load on this machine comes and goes); median of each:
#      - direct: a sequential client on one keep-alive connection
#        (bench/directus_client.py direct) POSTs the items, with their ids, as
#        arrays of 500 (the worker's default batch) to /items/articles?fields=id,
#        the URL and bodies the worker sends;
#      - worker: the same rows inserted by SQL into S's articles while the
#        remote is paused (captured, queued); timed from resume() until
#        remote_status shows queued = 0 and in_flight = 0 (polled every 50 ms).
#      Before each run T's table (and its activity and revisions) is emptied;
#      after each run T must hold exactly the ITEMS items, field by field.
#      T logs every request (LOG_LEVEL=info): the report shows each run's
#      requests by method, their body sizes and the time Directus spent on
#      them, so that what the worker adds between requests is visible, and
#      the CPU seconds of each party during the run (from /proc: T's node
#      process, T's backends, the rest of the cluster with the worker, the
#      rest of the machine), so that other users' load shows.
#   2. SyncID lookups on the same map table (10,000 mappings in 4 tables,
#      made with directus_sync.create_mappings in S's database):
#      - REST: GET /directus-extension-sync/table/:t/sync_id/:s on S, LOOKUPS
#        random existing ids per round, sequential, one keep-alive connection;
#      - SQL: directus_sync.get_by_sync_id, one call per lookup, pgbench with
#        one client over TCP for SQL_SECONDS per round (as bench/map_bench.sh);
#      - SQL set-based: directus_sync.get_by_sync_ids with 1,000 ids per call;
#      - one more REST and SQL round with clients and servers all pinned to
#        CPU 0 (taskset): on this KVM machine a wake-up on the other vCPU is
#        slow, so whether a client and its server share a vCPU (the
#        scheduler's choice) changes the single-call SQL rate about twofold.
#      MAP_ROUNDS alternating rounds, medians, and the CPU per call of
#      Directus's node process and of PostgreSQL. Before measuring, a sample
#      of lookups (and misses) must give the same rows through REST and SQL.
#   Both instances run with Directus's pressure limiter off (see
#   start_instances), otherwise with scripts/directus.sh's settings (no cache,
#   no rate limiter).
#
# Run as root on Debian 12: installs packages and Directus (scripts/directus.sh
# install), builds and installs the extension, starts and stops everything
# itself (also on failure); about 5 to 7 minutes once Directus is installed:
#   bash bench/directus_bench.sh
#   ITEMS=20000 ROUNDS=8 MAP_ROUNDS=5 bash bench/directus_bench.sh
# KEEP_BENCH_DIR=1 keeps the work directory (logs of both instances).
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

ITEMS=${ITEMS:-10000}
ROUNDS=${ROUNDS:-6}
WARMUP_ITEMS=${WARMUP_ITEMS:-5000}
LOOKUPS=${LOOKUPS:-2000}
SQL_SECONDS=${SQL_SECONDS:-5}
MAP_ROUNDS=${MAP_ROUNDS:-3}
BATCH=500                           # add_remote's default batch_max_items
PORT=54380
S_HTTP=54381
T_HTTP=54382
S_TOKEN=bench-admin-source
T_TOKEN=bench-admin-target
MAP_TABLES=roles,permissions,flows,items:articles   # also in bench/directus_get_by_sync_id*.sql
PER_TABLE=2500
REMOTE=t

for v in ITEMS ROUNDS WARMUP_ITEMS LOOKUPS SQL_SECONDS MAP_ROUNDS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || ds_die "$v must be a positive integer, not '${!v}'"
done

ds_require_root
LOAD_BEFORE=$(cut -d ' ' -f 1-3 /proc/loadavg)
ds_install_packages
DS_DIRECTUS_VERSIONS=${DS_DIRECTUS_VERSIONS:-12} bash "$DS_ROOT/scripts/directus.sh" install   # the benchmarks run 12

WORK=$(ds_workdir directus_bench)
CLIENT=(/usr/bin/python3 "$WORK/src/bench/directus_client.py")
cleanup() {
    local rc=$? d
    for d in s t; do
        if [ "$rc" != 0 ] && [ -f "$WORK/$d/directus.log" ]; then
            echo "--- the last lines of Directus $d's log ---" >&2
            tail -n 15 "$WORK/$d/directus.log" >&2
        fi
        directus stop "$WORK/$d" >/dev/null 2>&1 || true
    done
    if [ "$rc" != 0 ] && [ -f "$WORK/pg/server.log" ]; then
        echo "--- the last lines of the server log ---" >&2
        tail -n 15 "$WORK/pg/server.log" >&2
    fi
    ds_cluster_stop "$WORK/pg"
    if [ "${KEEP_BENCH_DIR:-0}" = 1 ]; then
        echo "kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

directus() { ds_as_postgres bash "$WORK/src/scripts/directus.sh" "$@"; }
pg() { ds_as_postgres env PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGOPTIONS='-c client_min_messages=warning' "$@"; }
# sql DB STATEMENTS: runs them (in one transaction), prints the result unaligned.
sql() { pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d "$1" -c "$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# ---------------------------------------------------------------------------
# Set-up

setup_cluster() {
    ds_build_install "$WORK/src"
    ds_say "starting a cluster on 127.0.0.1:$PORT"
    ds_cluster_start "$WORK/pg" "$PORT" "directus_sync.databases = 'source'" "max_wal_size = '4GB'"
    sql postgres "CREATE DATABASE source" >/dev/null
    sql postgres "CREATE DATABASE target" >/dev/null
    # Before Directus ever sees the database, as README recommends.
    sql source "CREATE EXTENSION directus_sync"
}

# Both instances start at once (bootstrap included): about 15 s. Directus's
# pressure limiter (503 "Under pressure" when its event loop lags) is off: on
# a busy 2-core machine it fires now and then, and a 503 would fail the
# direct client and send the worker into a backoff.
start_instances() {
    ds_say "starting Directus S on 127.0.0.1:$S_HTTP (source) and T on 127.0.0.1:$T_HTTP (target)"
    local ps pt rs=0 rt=0
    directus start "$WORK/s" --pg-port "$PORT" --database source --port "$S_HTTP" \
        --token "$S_TOKEN" --extension-sync --env PRESSURE_LIMITER_ENABLED=false >"$WORK/s.start" 2>&1 & ps=$!
    directus start "$WORK/t" --pg-port "$PORT" --database target --port "$T_HTTP" \
        --token "$T_TOKEN" --env PRESSURE_LIMITER_ENABLED=false --env LOG_LEVEL=info >"$WORK/t.start" 2>&1 & pt=$!
    # Both finish (started or given up) before a failure ends the script, so
    # that the clean-up finds every instance that came up.
    wait "$ps" || rs=$?
    wait "$pt" || rt=$?
    [ "$rs" = 0 ] || { cat "$WORK/s.start" >&2; ds_die "Directus S did not start"; }
    [ "$rt" = 0 ] || { cat "$WORK/t.start" >&2; ds_die "Directus T did not start"; }
    "${CLIENT[@]}" collection "http://127.0.0.1:$S_HTTP" "$S_TOKEN"
    "${CLIENT[@]}" collection "http://127.0.0.1:$T_HTTP" "$T_TOKEN"
}

# The worker of "source" (which did not exist when the server started) is
# restarted by the postmaster every 5 s until it finds the extension.
setup_remote() {
    ds_say "remote $REMOTE: Directus T as its admin, articles subscribed, paused"
    local ok=f
    for _ in $(seq 150); do
        ok=$(sql source "SELECT directus_sync.wake()")
        [ "$ok" = t ] && break
        sleep 0.1
    done
    [ "$ok" = t ] || ds_die "no directus_sync worker runs for database source"
    sql source "SET log_statement = 'none';
                SELECT directus_sync.add_remote('$REMOTE', 'http://127.0.0.1:$T_HTTP', '$T_TOKEN');
                SELECT directus_sync.subscribe('$REMOTE', 'articles', ARRAY['title', 'body', 'n']);
                SELECT directus_sync.pause('$REMOTE');" >/dev/null
}

# ---------------------------------------------------------------------------
# 1. Delivery

# check_target KIND N: T's articles are exactly items 1..N with their values.
check_target() {
    local n=$2 got
    got=$(sql target "SELECT format('%s %s %s %s', count(*),
                          count(*) FILTER (WHERE title = 'Article ' || id AND n = id
                                             AND body = repeat('lorem ipsum ', 25)),
                          min(id), max(id)) FROM public.articles")
    [ "$got" = "$n $n 1 $n" ] \
        || ds_die "after the $1 run T holds (count, correct, min id, max id) = ($got), expected ($n $n 1 $n)"
}

# Empties T's collection and the activity and revisions that its items left.
reset_target() {
    sql target "TRUNCATE public.articles, directus_revisions, directus_activity"
    sql target "CHECKPOINT"
}

t_log_lines() { wc -l <"$WORK/t/directus.log"; }

# CPU seconds (user + system) that process PID has used so far.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }

# Prints "<items> <seconds> <requests> <CPU s of the client>".
direct_run() {
    "${CLIENT[@]}" direct "http://127.0.0.1:$T_HTTP" "$T_TOKEN" --items "$1" --batch "$BATCH" \
        || ds_die "the direct client failed"
}

# Times the worker from resume() until nothing is queued or in flight; prints
# "<resume epoch> <seconds>". Each look of the DO block is a new snapshot.
time_drain() {
    pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d source <<EOF | tail -n 1
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT directus_sync.resume('$REMOTE');
DO \$\$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '300 s';
BEGIN
    WHILE (SELECT queued + in_flight FROM directus_sync.remote_status WHERE remote = '$REMOTE') > 0 LOOP
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'the queue did not drain in 300 s';
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
END
\$\$;
SELECT :t0 || ' ' || round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3);
EOF
}

# queue_rows N: N rows inserted into S's articles by SQL, captured and queued
# for the paused remote; then the outbox and the table are vacuumed (so that
# no autovacuum of the bulk insert runs during the drain) and checkpointed.
queue_rows() {
    local n=$1 queued
    # TRUNCATE is not captured: the source table empties without queueing deletes.
    sql source "TRUNCATE public.articles"
    [ "$(sql source "SELECT count(*) FROM directus_sync.outbox")" = 0 ] || ds_die "the outbox is not empty"
    sql source "INSERT INTO public.articles (id, title, body, n)
                SELECT g, 'Article ' || g, repeat('lorem ipsum ', 25), g FROM generate_series(1, $n) AS g"
    queued=$(sql source "SELECT queued FROM directus_sync.remote_status WHERE remote = '$REMOTE'")
    [ "$queued" = "$n" ] || ds_die "$queued changes queued, expected $n"
    sql source "VACUUM ANALYZE directus_sync.outbox"
    sql source "VACUUM ANALYZE public.articles"
    sql source "CHECKPOINT"
}

# After a drain: pause the remote again; nothing queued, in flight or dead.
check_drained() {
    local status
    sql source "SELECT directus_sync.pause('$REMOTE')" >/dev/null
    status=$(sql source "SELECT format('%s %s %s', queued, in_flight, dead) FROM directus_sync.remote_status
                          WHERE remote = '$REMOTE'")
    [ "$status" = "0 0 0" ] || ds_die "after the worker run queued/in_flight/dead are $status"
}

# CPU seconds used so far: "<machine> <T's node> <T's backends> <whole cluster>".
cpu_snapshot() {
    "${CLIENT[@]}" cpu --postmaster "$PG_PID" --node "$T_PID" --db target
}

# measure KIND N: one run of the direct client or the worker into an emptied
# T, then T is checked. Prints "<items/s> <items> <seconds> <client requests>
# <sender CPU s> <machine CPU s> <T node CPU s> <T backends CPU s> <cluster
# CPU s> <requests> <POST> <GET> <other> <T busy ms> <first ms> <last ms>
# <bytes per POST>": the CPU seconds used during the run; the last eight from
# T's request log (busy: the sum of Directus's response times; first and
# last: the start of the first request and the end of the last one after
# resume(), "-" for direct).
measure() {
    local kind=$1 n=$2 from c0 c1 out w0 t0='' secs
    reset_target
    [ "$kind" = worker ] && queue_rows "$n"
    from=$(t_log_lines)
    c0=$(cpu_snapshot)
    if [ "$kind" = direct ]; then
        out=$(direct_run "$n")
    else
        w0=$(cpu_seconds "$WORKER_PID")
        out=$(time_drain) || ds_die "the worker did not drain the queue: $out"
        read -r t0 secs <<<"$out"
        out="$n $secs - $(awk -v a="$w0" -v b="$(cpu_seconds "$WORKER_PID")" 'BEGIN { printf "%.2f", b - a }')"
    fi
    c1=$(cpu_snapshot)
    [ "$kind" = worker ] && check_drained
    check_target "$kind" "$n"
    sleep 0.2   # the log line of the last request
    echo "$(awk '{ printf "%.1f", $1 / $2 }' <<<"$out") $out $(
        awk -v a="$c0" -v b="$c1" 'BEGIN { split(a, x, " "); split(b, y, " ")
            printf "%.2f %.2f %.2f %.2f", y[1] - x[1], y[2] - x[2], y[3] - x[3], y[4] - x[4] }') $(
        "${CLIENT[@]}" logstats "$WORK/t/directus.log" --from-line "$from" ${t0:+--t0 "$t0"})"
}

declare -a D_RATES=() W_RATES=() RUN_LINES=()
delivery() {
    ds_say "1. delivery: warm-up, then $ROUNDS rounds of $ITEMS items (direct and worker, taking turns first)"
    T_PID=$(cat "$WORK/t/directus.pid")
    PG_PID=$(head -n 1 "$WORK/pg/data/postmaster.pid")
    WORKER_PID=$(sql source "SELECT pid FROM pg_stat_activity WHERE backend_type = 'directus_sync worker'")
    [ -n "$WORKER_PID" ] || ds_die "cannot find the worker's pid"
    # Node's JIT needs thousands of items before Directus reaches its speed
    # (on this machine 2,000 items went in at 110, then 320, 430, 570 items/s):
    # warm it up with both senders, and let them take turns going first.
    measure direct "$WARMUP_ITEMS" >/dev/null
    measure worker "$WARMUP_ITEMS" >/dev/null
    local round kind line order
    for round in $(seq "$ROUNDS"); do
        order="direct worker"
        [ $((round % 2)) = 0 ] && order="worker direct"
        for kind in $order; do
            line=$(measure "$kind" "$ITEMS")
            RUN_LINES+=("$round $kind $line")
            if [ "$kind" = direct ]; then D_RATES+=("${line%% *}"); else W_RATES+=("${line%% *}"); fi
            printf '  round %d %-6s %10.1f items/s\n' "$round" "$kind" "${line%% *}"
        done
    done
}

# ---------------------------------------------------------------------------
# 2. SyncID lookups

fill_map() {
    ds_say "2. SyncID: $((PER_TABLE * 4)) mappings in 4 tables, made with create_mappings"
    local t
    for t in ${MAP_TABLES//,/ }; do
        sql source "SELECT count(*) FROM directus_sync.create_mappings('$t',
                        ARRAY(SELECT '$t-local-' || g FROM generate_series(1, $PER_TABLE) AS g),
                        ARRAY(SELECT md5('$t:' || g)::uuid::text FROM generate_series(1, $PER_TABLE) AS g))" \
            >/dev/null
    done
    sql source "VACUUM ANALYZE public.directus_sync_id_map"
    local rows
    rows=$(sql source "SELECT count(*) FROM public.directus_sync_id_map")
    [ "$rows" = $((PER_TABLE * 4)) ] || ds_die "the map has $rows rows, expected $((PER_TABLE * 4))"
    COMPARED=$("${CLIENT[@]}" compare "http://127.0.0.1:$S_HTTP" "$S_TOKEN" --tables "$MAP_TABLES" \
        --per-table "$PER_TABLE" --sample 100 --db-port "$PORT" --db source --psql "$PGBIN/psql") \
        || ds_die "REST and SQL lookups disagree"
}

# Prints "<calls/s> <calls>".
rest_lookups() {
    local calls=$1 seed=$2 out
    out=$("${ONE_CPU[@]}" "${CLIENT[@]}" lookups "http://127.0.0.1:$S_HTTP" "$S_TOKEN" --tables "$MAP_TABLES" \
          --per-table "$PER_TABLE" --calls "$calls" --seed "$seed") || ds_die "the REST lookups failed"
    awk '{ printf "%.1f %d", $1 / $2, $1 }' <<<"$out"
}

# pgbench_run SCRIPT SECONDS: one client over TCP, like bench/map_bench.sh;
# prints "<calls/s> <calls>".
pgbench_run() {
    local name=$1 log="$WORK/$1.log" tps calls
    pg "${ONE_CPU[@]}" "$PGBIN/pgbench" -n -f "$WORK/src/bench/$name.sql" -D per_table="$PER_TABLE" \
        -c 1 -j 1 -T "$2" source >"$log" 2>&1 || { cat "$log" >&2; ds_die "pgbench failed on $name.sql"; }
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$log")
    calls=$(sed -n 's/^number of transactions actually processed: \([0-9]*\)$/\1/p' "$log")
    [ -n "$tps" ] && [ -n "$calls" ] || { cat "$log" >&2; ds_die "no tps line in the pgbench output of $name.sql"; }
    grep -q '^number of failed transactions: 0 ' "$log" || { cat "$log" >&2; ds_die "failed calls in $name.sql"; }
    echo "$tps $calls"
}

# with_cpu COMMAND...: runs it and prints its output followed by the CPU
# seconds used meanwhile: "<machine> <S's node> <source's backends> <cluster>".
with_cpu() {
    local c0 c1 out
    c0=$("${CLIENT[@]}" cpu --postmaster "$PG_PID" --node "$S_PID" --db source)
    out=$("$@")
    c1=$("${CLIENT[@]}" cpu --postmaster "$PG_PID" --node "$S_PID" --db source)
    echo "$out $(awk -v a="$c0" -v b="$c1" 'BEGIN { split(a, x, " "); split(b, y, " ")
        printf "%.2f %.2f %.2f %.2f", y[1] - x[1], y[2] - x[2], y[3] - x[3], y[4] - x[4] }')"
}

# pin_servers CPUS: Directus S (every thread) and the cluster (the postmaster,
# whose new backends inherit it, and every process it started) on CPUS.
pin_servers() {
    local f line rest
    taskset -a -p -c "$1" "$S_PID" >/dev/null
    taskset -a -p -c "$1" "$PG_PID" >/dev/null
    for f in /proc/[0-9]*/stat; do
        line=$(cat "$f" 2>/dev/null) || continue
        rest=${line##*) }
        read -r _ ppid _ <<<"$rest"
        [ "$ppid" = "$PG_PID" ] || continue
        f=${f#/proc/}
        taskset -a -p -c "$1" "${f%/stat}" >/dev/null 2>&1 || true
    done
}

# Each line: "<calls/s> <calls> <machine> <node> <backends> <cluster>" (CPU s).
# ONE_CPU prefixes the clients in the one-CPU round.
declare -a REST_RUNS=() SQL_RUNS=() ONE_CPU=()
lookups() {
    ds_say "2. SyncID lookups: warm-up, then $MAP_ROUNDS rounds of REST ($LOOKUPS calls) and SQL ($SQL_SECONDS s)"
    S_PID=$(cat "$WORK/s/directus.pid")
    rest_lookups 500 99 >/dev/null
    pgbench_run directus_get_by_sync_id 1 >/dev/null
    local round r s
    for round in $(seq "$MAP_ROUNDS"); do
        r=$(with_cpu rest_lookups "$LOOKUPS" "$round")
        s=$(with_cpu pgbench_run directus_get_by_sync_id "$SQL_SECONDS")
        REST_RUNS+=("$r")
        SQL_RUNS+=("$s")
        printf '  round %d REST %10.1f calls/s   SQL %10.1f calls/s\n' "$round" "${r%% *}" "${s%% *}"
    done
    SET_RUN=$(pgbench_run directus_get_by_sync_ids_1000 "$SQL_SECONDS")
    printf '  SQL set-based, 1,000 ids per call: %.1f calls/s\n' "${SET_RUN%% *}"
    # On this project's KVM machine a wake-up on another vCPU is slow: a
    # client and its server process ping-ponging on two vCPUs make about half
    # the calls they make on one. The scheduler decides which happens, so one
    # more round runs with clients and servers all on CPU 0.
    pin_servers 0
    ONE_CPU=(taskset -c 0)
    REST_PINNED=$(with_cpu rest_lookups "$LOOKUPS" 7)
    SQL_PINNED=$(with_cpu pgbench_run directus_get_by_sync_id "$SQL_SECONDS")
    ONE_CPU=()
    pin_servers "0-$(($(nproc) - 1))"
    printf '  everything on CPU 0: REST %10.1f calls/s   SQL %10.1f calls/s\n' "${REST_PINNED%% *}" "${SQL_PINNED%% *}"
}

# ---------------------------------------------------------------------------
# Report

report_header() {
    local version
    version=$("$DS_NODE" -p "require('$DS_E2E_HOME/directus/node_modules/directus/package.json').version")
    echo
    echo "directus_sync against real Directus $version"
    echo "  server:    $(sql source "SELECT version()")"
    echo "  machine:   $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "  load avg:  $LOAD_BEFORE before, $(cut -d ' ' -f 1-3 /proc/loadavg) after"
}

# The fields of RUN_LINES are those of measure, after "<round> <kind>".
report_delivery() {
    local line
    echo
    echo "1. Delivery of $ITEMS creates into Directus T (POST /items/articles?fields=id, arrays of $BATCH)"
    printf '  %-5s %-6s %8s %7s %4s %-8s %7s %8s | %6s %6s %6s %6s %6s | %s\n' round sender items/s \
        wall_s req POST/GET T_busy gap_ms/r T_node T_pg S_side worker other first/last_ms
    for line in "${RUN_LINES[@]}"; do
        awk 'function max0(v) { return v < 0 ? 0 : v }
             { py = ($2 == "direct" ? $7 : 0); wk = ($2 == "worker" ? sprintf("%.2f", $7) : "-")
               printf "  %-5s %-6s %8.1f %7.2f %4d %-8s %7.2f %8.1f | %6.2f %6.2f %6.2f %6s %6.2f | %s\n",
                  $1, $2, $3, $5, $12, $13 "/" $14 ($15 > 0 ? "/" $15 : ""), $16 / 1000,
                  ($5 * 1000 - $16) / $12, $9, $10, $11 - $10 + py, wk, max0($8 - $9 - $11 - py),
                  $17 "/" $18 }' <<<"$line"
    done
    cat <<'EOF'
  wall_s: the run (worker: from resume() until queued = in_flight = 0, polled every 50 ms);
  T_busy: the sum of Directus's response times (T's request log); gap_ms/r: (wall - T_busy) per
  request, what the sender adds between requests. CPU seconds during the run: T_node (Directus T's
  node process), T_pg (T's backends), S_side (the rest of the cluster: the worker with its
  transactions, the 50 ms polling, autovacuum; for direct runs also the Python client), worker (the
  worker process alone), other (the rest of the machine: other users' work). first/last_ms: after
  resume(), the start of the first request and the end of the last one.
EOF
    printf '%s\n' "${RUN_LINES[@]}" | awk '
        { n[$2]++; b[$2] += $19; r[$2] += $12; gap[$2] += $5 * 1000 - $16; busy += $16; reqs += $12 }
        END {
            printf "  POST bodies: direct %.0f bytes, worker %.0f bytes on average\n",
                b["direct"] / n["direct"], b["worker"] / n["worker"]
            gd = gap["direct"] / r["direct"]; gw = gap["worker"] / r["worker"]; t = busy / reqs
            printf "  time between requests: direct %.1f ms, worker %.1f ms; Directus: %.0f ms per request\n",
                gd, gw, t
            printf "  (all runs): at equal Directus speed the worker would deliver %.3fx the direct rate\n",
                (t + gd) / (t + gw) }'
    awk -v d="$(median "${D_RATES[@]}")" -v w="$(median "${W_RATES[@]}")" 'BEGIN {
        printf "  median: direct %.1f items/s, worker %.1f items/s; worker / direct = %.2fx [target >= 0.8x: %s]\n",
            d, w, w / d, (w / d >= 0.8 ? "ok" : "LOW") }'
}

# cpu_per_call RUN_LINE...: "<node s/call> <cluster s/call> <CPUs used by the
# rest of the machine>". The whole cluster: pgbench's backend has exited by
# the second snapshot.
cpu_per_call() {
    printf '%s\n' "$@" | awk '{ calls += $2; wall += $2 / $1; node += $4; pg += $6; rest += $3 - $4 - $6 }
        END { printf "%.9f %.9f %.2f", node / calls, pg / calls, rest / wall }'
}

# The fields of REST_RUNS, SQL_RUNS, REST_PINNED, SQL_PINNED: see lookups.
report_lookups() {
    echo
    echo "2. SyncID lookups, $((PER_TABLE * 4)) mappings in 4 tables (REST and SQL gave the same rows"
    echo "   for a sample of $COMPARED lookups, misses included)"
    printf '  %-52s %10s %12s | %16s %16s\n' "" calls/s ids/s "Directus ms/call" "postgres us/call"
    awk -v r="$(median "${REST_RUNS[@]%% *}")" -v s="$(median "${SQL_RUNS[@]%% *}")" \
        -v b="${SET_RUN%% *}" -v n="$LOOKUPS" -v secs="$SQL_SECONDS" \
        -v rc="$(cpu_per_call "${REST_RUNS[@]}")" -v sc="$(cpu_per_call "${SQL_RUNS[@]}")" \
        -v rp="${REST_PINNED%% *}" -v sp="${SQL_PINNED%% *}" \
        -v rpc="$(cpu_per_call "$REST_PINNED")" -v spc="$(cpu_per_call "$SQL_PINNED")" '
        function row(name, calls, ids, node, pg) {
            printf "  %-52s %10.1f %12.1f | %16s %16s\n", name, calls, ids,
                node == "" ? "-" : sprintf("%.2f", node * 1000), pg == "" ? "-" : sprintf("%.0f", pg * 1e6)
        }
        BEGIN {
            split(rc, x, " "); split(sc, y, " "); split(rpc, xp, " "); split(spc, yp, " ")
            row("REST GET .../table/:t/sync_id/:s (" n " calls)", r, r, x[1], x[2])
            row("SQL get_by_sync_id, 1 id per call (" secs " s)", s, s, "", y[2])
            row("SQL get_by_sync_ids, 1,000 ids per call", b, b * 1000, "", "")
            row("REST, clients and servers all on CPU 0", rp, rp, xp[1], xp[2])
            row("SQL get_by_sync_id, all on CPU 0", sp, sp, "", yp[2])
            printf "  get_by_sync_id / REST = %.1fx [target >= 30x: %s]; all on CPU 0: %.1fx\n",
                s / r, (s / r >= 30 ? "ok" : "LOW"), sp / rp
            printf "  get_by_sync_ids (ids/s) / REST = %.0fx\n", b * 1000 / r
            printf "  REST: sequential, one keep-alive connection; SQL: pgbench -c 1 over TCP. CPU per call:\n"
            printf "  Directus S'"'"'s node process; postgres: the whole cluster (mostly the backends serving\n"
            printf "  the lookups). The rest of the machine (the clients, other users) used %.1f CPUs during\n", x[3]
            printf "  the REST rounds, %.1f during the SQL rounds.\n", y[3]
        }'
    echo "  rounds (calls/s): REST $(printf '%.0f ' "${REST_RUNS[@]%% *}"); SQL $(printf '%.0f ' "${SQL_RUNS[@]%% *}")"
}

setup_cluster
start_instances
eval "$(bash "$DS_ROOT/scripts/directus.sh" env)"
setup_remote
delivery
fill_map
lookups
report_header
report_delivery
report_lookups
