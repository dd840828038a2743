#!/usr/bin/env bash
# scripts/test.sh: every test layer, from a bare Debian 12 machine (run as root).
#   - installs the packages it needs, builds warning-free, installs the extension
#   - checks the counting of the closing line first (scripts/test_counting.sh)
#   - starts a throwaway cluster on 127.0.0.1:54391 for pg_regress (sql/, expected/)
#     and the isolation specs (specs/)
#   - installs Node 22, Directus 12.4.0, 11.17.4 and 10.13.4
#     (scripts/directus.sh install; reused when already there) for the
#     end-to-end TAP tests (t/02*, t/074: the files using DirectusE2E), which start real Directus instances on
#     clusters of their own: the tap layer runs them against the first
#     version of DS_DIRECTUS_VERSIONS (default "12 11 10"), one more layer per
#     other version (e2e@directus11, e2e@directus10) runs them again
#     (a part of them: e2e_files);
#     DS_DIRECTUS_VERSIONS=12 runs only 12
#   - runs the TAP tests (t/), which start clusters of their own
#   - runs each layer even when one before it failed, counts each from its own
#     output (scripts/count_tests.pl), prints a table of the layers and one
#     closing line, "tests: P passed, F failed, S skipped"
#   - beside those (in the background, run_roots_beside), for PostgreSQL 17
#     and 18, one after the other, in a minimal Debian root each (trixie,
#     forky; made once and kept in /var/cache/directus_sync/pg by
#     scripts/pg_root.sh): builds the Debian package (debian/, pg_buildext),
#     installs it and runs pg_regress, isolation and the TAP tests that need
#     no real Directus against it, as the layers NAME@17, NAME@18; for 15 the
#     package is built, checked (dpkg -c, lintian) and installed in a bookworm
#     root (package@15)
#   - DS_PG_VERSIONS="17" (a list of 15, 17, 18; default all three) runs only
#     those versions; without 15 the layers on this machine and Directus are
#     left out
#   - stops everything it started and exits non-zero on any failure
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DS_PG_VERSIONS=${DS_PG_VERSIONS:-15 17 18}
for v in $DS_PG_VERSIONS; do
    case $v in 15|17|18) ;; *) ds_die "DS_PG_VERSIONS: $v is not one of 15 17 18" ;; esac
done
want_version() { [[ " $DS_PG_VERSIONS " == *" $1 "* ]]; }
export DS_PG_ROOTS=${DS_PG_ROOTS:-/var/cache/directus_sync/pg}

ds_require_root
ds_install_packages
# The Directus major versions the end-to-end tests run against, the first in
# the tap layer, each other one in a layer of its own (run_e2e_again).
read -ra DIRECTUS_VERSIONS <<<"${DS_DIRECTUS_VERSIONS:-12 11 10}"
[ ${#DIRECTUS_VERSIONS[@]} -gt 0 ] || ds_die "DS_DIRECTUS_VERSIONS names no Directus version"
if want_version 15; then
    DS_DIRECTUS_VERSIONS="${DIRECTUS_VERSIONS[*]}" "$DS_ROOT/scripts/directus.sh" install
fi

WORK=$(ds_workdir test)
PORT=${DS_TEST_PORT:-54391}   # DS_TEST_PORT: another port, e.g. next to a run that uses 54391
# In the roots (scripts/pg_root.sh): the build directory of this run.
ROOT_BUILD=/tmp/$(basename "$WORK")
cleanup() {
    local v
    ds_cluster_stop "$WORK/pg"
    # the roots' clusters (run_roots_beside starts them in the background)
    for v in $DS_PG_VERSIONS; do
        [ "$v" != 15 ] && [ -d "$DS_PG_ROOTS/$v/root$ROOT_BUILD/pg" ] || continue
        "$DS_ROOT/scripts/pg_root.sh" run "$v" bash "$ROOT_BUILD/src/scripts/in_root.sh" \
            cluster-stop "$v" "$ROOT_BUILD/pg" >/dev/null 2>&1 || true
    done
    if [ "${KEEP_TEST_DIR:-}" ]; then
        echo "test files kept in $WORK (and in $ROOT_BUILD of the roots in $DS_PG_ROOTS)"
    else
        rm -rf "$WORK"
        for v in $DS_PG_VERSIONS; do rm -rf "$DS_PG_ROOTS/$v/root$ROOT_BUILD"; done
    fi
}
trap cleanup EXIT

# The layers in the order they run, each with make's exit status, then with
# its counts ("PASSED FAILED SKIPPED").
LAYERS=()
declare -A STATUS COUNTS

# tee_split OUT ERR CMD...: runs CMD with its standard output to OUT and its
# standard error to ERR, both also to the terminal; returns CMD's status. The
# two streams stay apart because a test's unbuffered standard error can land
# in the middle of a line of prove's buffered standard output, and the
# counting reads prove's lines.
tee_split() {
    local out=$1 err=$2
    shift 2
    { "$@" 2>&1 1>&3 3>&- | tee "$err" 3>&- >&2; } 3>&1 | tee "$out"
}

# run_counting: the counting layer. The closing line is what CI reads, so the
# code that makes it is checked first, on logs whose counts are known.
run_counting() {
    local rc=0 counts
    ds_say "layer counting: scripts/test_counting.sh"
    tee_split "$WORK/counting.log" "$WORK/counting.stderr.log" \
        bash "$DS_ROOT/scripts/test_counting.sh" || rc=$?
    counts=$(sed -n 's/^counting checks: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2 0/p' \
        "$WORK/counting.log")
    LAYERS+=(counting)
    STATUS[counting]=$rc
    set_counts counting "$counts"
}

# set_counts NAME "PASSED FAILED SKIPPED": a layer's counts; anything else
# (the counter broke) is one failure.
set_counts() {
    if [[ "$2" =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]]; then
        COUNTS[$1]=$2
    else
        echo "  $1: could not be counted (\"$2\"): counted as one failure" >&2
        COUNTS[$1]="0 1 0"
    fi
}

# run_layer NAME MAKE_ARGS...: one layer, `make installcheck` as postgres with
# the other layers switched off on the command line (PGXS's installcheck runs
# REGRESS, then ISOLATION, then TAP_TESTS, and stops at the first failure).
# Its output goes to $WORK/NAME.log (standard output, counted) and
# $WORK/NAME.stderr.log.
run_layer() {
    local name=$1
    shift
    # TAP clusters take their encoding from the locale: UTF8, as Directus's databases are.
    record_layer "$name" ds_as_postgres env PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER=postgres \
        LANG=C.UTF-8 LC_ALL=C.UTF-8 DS_DIRECTUS_SCRIPT="$WORK/src/scripts/directus.sh" \
        make -C "$WORK/src" PG_CONFIG="$PGBIN/pg_config" installcheck "$@"
}

# record_layer NAME COMMAND...: runs a layer's command, its output to
# $WORK/NAME.log and $WORK/NAME.stderr.log, and records it with its status.
record_layer() {
    local name=$1 rc=0
    shift
    ds_say "layer $name"
    tee_split "$WORK/$name.log" "$WORK/$name.stderr.log" "$@" || rc=$?
    LAYERS+=("$name")
    STATUS[$name]=$rc
}

# make_var VAR: a variable of the Makefile (REGRESS, ISOLATION) as make sees it.
# shellcheck disable=SC2016 # $($*) is make's, not the shell's
make_var() {
    make -s --no-print-directory -C "$WORK/src" PG_CONFIG="$PGBIN/pg_config" \
        --eval 'ds-print-%: ; @echo $($*)' "ds-print-$1" 2>/dev/null || true
}

# count_layer NAME KIND EXPECTED...: the layer's counts from its log
# (scripts/count_tests.pl); every EXPECTED test it never mentions is a failure.
count_layer() {
    local name=$1 kind=$2
    shift 2
    set_counts "$name" "$(perl "$DS_ROOT/scripts/count_tests.pl" "$kind" "$WORK/$name.log" \
        "${STATUS[$name]}" "$@" || true)"
}

# print_summary: the table of the layers, then the closing line, last and
# alone on its line: CI reads "P passed, F failed" with an optional ", S skipped".
# Returns non-zero when a layer failed or a count of failures is not zero.
print_summary() {
    local name p f s state total_p=0 total_f=0 total_s=0 bad=0
    echo
    printf '%-14s %7s %7s %8s  %s\n' layer passed failed skipped status
    for name in "${LAYERS[@]}"; do
        read -r p f s <<<"${COUNTS[$name]}"
        state=ok
        if [ "${STATUS[$name]}" -ne 0 ]; then
            state="FAILED (exit ${STATUS[$name]})"
        elif [ "$f" -ne 0 ]; then
            state=FAILED
        fi
        [ "$state" = ok ] || bad=1
        printf '%-14s %7d %7d %8d  %s\n' "$name" "$p" "$f" "$s" "$state"
        total_p=$((total_p + p)) total_f=$((total_f + f)) total_s=$((total_s + s))
    done
    echo
    echo "tests: $total_p passed, $total_f failed, $total_s skipped"
    [ "$bad" -eq 0 ] && [ "$total_f" -eq 0 ]
}

# tap_failures LOG: the failing lines of a TAP layer's prove --verbose output
# (not ok, a file that died), each after the name of its file.
tap_failures() {
    awk '/^t\/[^ ]+\.pl \.+/ { file = $1 }
         /^[ \t]*not ok/ || /^Dubious/ || /^Parse errors/ || /^No subtests run/ { print (file == "" ? "" : file ": ") $0 }' "$1" 2>/dev/null
}

# show_failures SRC TAP_LAYER: what to read after a failure: the diffs of
# pg_regress and isolation in SRC, and show_tap_logs of TAP_LAYER.
show_failures() {
    local src=$1 tap=$2 diffs
    for diffs in "$src/regression.diffs" "$src/output_iso/regression.diffs"; do
        if [ -f "$diffs" ]; then
            ds_say "$diffs"
            cat "$diffs"
        fi
    done
    show_tap_logs "$src/tmp_check/log" "$tap"
}

# show_tap_logs DIR LAYER: when LAYER failed, the tails of the logs in DIR of
# its failing TAP files (tap_failures).
show_tap_logs() {
    local dir=$1 layer=$2 file
    [ "${STATUS[$layer]}" -ne 0 ] && [ -d "$dir" ] || return 0
    ds_say "TAP logs of the failing files of $layer"
    for file in $(tap_failures "$WORK/$layer.log" | cut -d: -f1 | sort -u); do
        file=$(basename "$file" .pl)
        tail -n 80 "$dir/regress_log_$file" "$dir/${file}"_*.log 2>/dev/null || true
    done
}

# show_failed_tests: every failing TAP line of every layer, last before the
# summary, where a short look at CI's output finds them.
show_failed_tests() {
    local name
    for name in "${LAYERS[@]}"; do
        [ -f "$WORK/$name.log" ] || continue
        tap_failures "$WORK/$name.log" | sed "s/^/$name: /"
    done
}

# in_root VERSION STEP ARGS...: a step of scripts/in_root.sh, run inside the
# root of VERSION from this run's copy of the tree there.
in_root() {
    local v=$1
    shift
    "$DS_ROOT/scripts/pg_root.sh" run "$v" bash "$ROOT_BUILD/src/scripts/in_root.sh" "$@"
}

# package_in_root VERSION: the root made or reused, this tree copied into
# it, the Debian package built, checked and installed there.
package_in_root() {
    local v=$1 root
    root=$("$DS_ROOT/scripts/pg_root.sh" path "$v")
    DS_PG_ROOT_LOCKED=1 "$DS_ROOT/scripts/pg_root.sh" ensure "$v" || return 1
    rm -rf "$root$ROOT_BUILD"
    mkdir -p "$root$ROOT_BUILD/src"
    ds_copy_tree "$root$ROOT_BUILD/src"
    in_root "$v" package "$v" "$ROOT_BUILD/src"
}

# run_pg_root VERSION: PostgreSQL VERSION in its Debian root. First the layer
# package@VERSION (package_in_root; one test). Then, except for 15, whose
# tests run on this machine with real Directus, pg_regress@VERSION,
# isolation@VERSION and tap@VERSION (the TAP files that need no real
# Directus) as postgres against the installed package, with a cluster of the
# root on 127.0.0.1:56000+VERSION. When the package layer failed, the others
# cannot run: they are recorded as failed, each of their tests counted as a
# failure. Two runs of one version take turns on its root (a lock).
run_pg_root() {
    local v=$1 lockfd port=$((56000 + $1)) layer
    mkdir -p "$DS_PG_ROOTS"
    exec {lockfd}>"$DS_PG_ROOTS/$v.lock"
    flock -n "$lockfd" || { ds_say "PostgreSQL $v: waiting for another run's use of its root"; flock "$lockfd"; }
    record_layer "package@$v" package_in_root "$v"
    if [ "${STATUS[package@$v]}" -eq 0 ]; then COUNTS[package@$v]="1 0 0"; else COUNTS[package@$v]="0 1 0"; fi
    if [ "$v" != 15 ]; then
        # The root's postgres has its own uid: chown inside the root.
        if [ "${STATUS[package@$v]}" -eq 0 ] \
            && "$DS_ROOT/scripts/pg_root.sh" run "$v" chown -R postgres:postgres "$ROOT_BUILD/src" \
            && in_root "$v" cluster-start "$v" "$ROOT_BUILD/pg" "$port"; then
            record_layer "pg_regress@$v" in_root "$v" installcheck "$v" "$ROOT_BUILD/src" "$port" \
                ISOLATION= TAP_TESTS=
            record_layer "isolation@$v" in_root "$v" installcheck "$v" "$ROOT_BUILD/src" "$port" \
                REGRESS= TAP_TESTS=
            # one seed per randomized convergence test (15 runs two or three)
            record_layer "tap@$v" in_root "$v" installcheck "$v" "$ROOT_BUILD/src" "$port" \
                REGRESS= ISOLATION= PROVE_FLAGS=--verbose PROVE_TESTS="${root_tap_files[*]}" \
                DS_CONVERGENCE_SEEDS=1
            in_root "$v" cluster-stop "$v" "$ROOT_BUILD/pg" || true
            show_failures "$("$DS_ROOT/scripts/pg_root.sh" path "$v")$ROOT_BUILD/src" "tap@$v"
        else
            echo "PostgreSQL $v: no package or no cluster in its root: its tests cannot run" >&2
            for layer in pg_regress isolation tap; do
                LAYERS+=("$layer@$v")
                STATUS[$layer@$v]=1
            done
        fi
        count_layer "pg_regress@$v" regress "${regress_tests[@]}"
        count_layer "isolation@$v" regress "${isolation_tests[@]}"
        count_layer "tap@$v" tap "${root_tap_files[@]}"
    fi
    exec {lockfd}>&-
}

# e2e_files VERSION: the TAP files that start real Directus (those using
# DirectusE2E: t/02*, t/07x) that run again on Directus VERSION. On 11,
# every one but the three-instance mesh soak (t/026: issue 10 asks it of
# 12.4.0, and it is the longest). On 10, what users of 10 rely on: the
# replication end to end (t/020), the meta field through its API (t/025),
# the permission clean-up on its layout (t/023), the sync user and the app
# surface (t/027, t/028, t/074); the directus-sync CLI does not support 10.
# The rest runs on 12 (the tap layer) and 11: the whole matrix on each
# ran past CI's time.
e2e_files() {
    case $1 in
        11) printf '%s\n' "${E2E_FILES[@]}" | grep -v '^t/026_' ;;
        10) printf '%s\n' "${E2E_FILES[@]}" | grep -E '^t/0(20|23|25|27|28|74)_' ;;
        *) printf '%s\n' "${E2E_FILES[@]}" ;;
    esac
}

# run_roots_beside VERSIONS...: run_pg_root for each of VERSIONS (17, 18),
# one after the other, in the background while the layers of 15 run. They
# share only the machine (their own roots, clusters and ports), and their
# tests mostly wait, so the run takes about as long as the longer of the
# two: one after the other ran past CI's time on a new machine. Their
# output goes to $WORK/roots.log, shown by wait_roots.
ROOTS_PID=
ROOT_VERSIONS=()
run_roots_beside() {
    [ $# -gt 0 ] || return 0
    ROOT_VERSIONS=("$@")
    (
        LAYERS=()
        for v in "$@"; do run_pg_root "$v" || true; done
        for name in "${LAYERS[@]}"; do
            echo "$name ${STATUS[$name]} ${COUNTS[$name]}"
        done >"$WORK/roots.state"
    ) >"$WORK/roots.log" 2>&1 &
    ROOTS_PID=$!
}

# wait_roots: waits for run_roots_beside, shows its output and takes its
# layers in; a layer of a root it never recorded counts as one failure.
wait_roots() {
    local v name layer st p f s
    local -A seen=()
    [ -n "$ROOTS_PID" ] || return 0
    wait "$ROOTS_PID" || true
    ROOTS_PID=
    ds_say "PostgreSQL ${ROOT_VERSIONS[*]} (run beside 15): their output"
    cat "$WORK/roots.log"
    if [ -f "$WORK/roots.state" ]; then
        while read -r name st p f s; do
            LAYERS+=("$name")
            STATUS[$name]=$st
            set_counts "$name" "$p $f $s"
            seen[$name]=1
        done <"$WORK/roots.state"
    fi
    for v in "${ROOT_VERSIONS[@]}"; do
        for layer in package pg_regress isolation tap; do
            name=$layer@$v
            [ -z "${seen[$name]:-}" ] || continue
            echo "  $name: never recorded: counted as one failure" >&2
            LAYERS+=("$name")
            STATUS[$name]=1
            COUNTS[$name]="0 1 0"
        done
    done
}

# run_e2e_again: the end-to-end files (e2e_files) once more for each
# Directus version but the first, as layer e2e@directusN. PGXS empties
# tmp_check/ before prove: the tap layer's is kept aside meanwhile, and
# each run's logs end in tmp_check/e2e@directusN/log.
E2E_FILES=()
run_e2e_again() {
    local v t=$WORK/src/tmp_check files
    mapfile -t E2E_FILES < <(cd "$WORK/src" && grep -l DirectusE2E t/*.pl)
    for v in "${DIRECTUS_VERSIONS[@]:1}"; do
        mapfile -t files < <(e2e_files "$v")
        if [ -d "$t" ]; then mv "$t" "$t.tap"; else mkdir "$t.tap"; fi
        run_layer "e2e@directus$v" REGRESS= ISOLATION= DS_DIRECTUS_VERSION="$v" \
            PROVE_TESTS="${files[*]}" PROVE_FLAGS=--verbose
        [ -d "$t" ] && mv "$t" "$t.tap/e2e@directus$v"
        mv "$t.tap" "$t"
    done
}

# What should have run: a test that never printed a line counts as a failure.
read -ra regress_tests <<<"$(make_var REGRESS)"
read -ra isolation_tests <<<"$(make_var ISOLATION)"
mapfile -t tap_files < <(cd "$WORK/src" && printf '%s\n' t/*.pl)
# In the roots: the TAP files that need no real Directus (no DirectusE2E).
mapfile -t root_tap_files < <(cd "$WORK/src" && grep -L DirectusE2E t/*.pl)

run_counting

roots=()
for v in $DS_PG_VERSIONS; do [ "$v" = 15 ] || roots+=("$v"); done
run_roots_beside "${roots[@]}"

if want_version 15; then
    ds_build_install "$WORK/src"
    ds_say "starting a cluster for pg_regress and isolation on 127.0.0.1:$PORT"
    ds_cluster_start "$WORK/pg" "$PORT"

    run_layer pg_regress@15 ISOLATION= TAP_TESTS=
    run_layer isolation@15 REGRESS= TAP_TESTS=
    run_layer tap@15 REGRESS= ISOLATION= DS_DIRECTUS_VERSION="${DIRECTUS_VERSIONS[0]}" PROVE_FLAGS=--verbose
    run_e2e_again
    ds_cluster_stop "$WORK/pg"

    show_failures "$WORK/src" tap@15
    for v in "${DIRECTUS_VERSIONS[@]:1}"; do
        show_tap_logs "$WORK/src/tmp_check/e2e@directus$v/log" "e2e@directus$v"
    done
    count_layer pg_regress@15 regress "${regress_tests[@]}"
    count_layer isolation@15 regress "${isolation_tests[@]}"
    count_layer tap@15 tap "${tap_files[@]}"
    for v in "${DIRECTUS_VERSIONS[@]:1}"; do
        mapfile -t files < <(e2e_files "$v")
        count_layer "e2e@directus$v" tap "${files[@]}"
    done
fi

want_version 15 && run_pg_root 15
wait_roots

ds_say "failing TAP tests, if any"
show_failed_tests
ds_say "summary"
print_summary
