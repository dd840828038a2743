#!/usr/bin/env bash
# scripts/test.sh: every test layer, from a bare Debian 12 machine (run as root).
#   - installs the packages it needs, builds warning-free, installs the extension
#   - starts a throwaway cluster on 127.0.0.1:54391 for pg_regress (sql/, expected/)
#   - installs Node 22 and Directus 12.4.0 (scripts/directus.sh install; reused
#     when already there) for the end-to-end TAP tests (t/02*), which start
#     real Directus instances on clusters of their own
#   - runs the TAP tests (t/), which start clusters of their own
#   - stops everything it started and exits non-zero on any failure
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ds_require_root
ds_install_packages
"$DS_ROOT/scripts/directus.sh" install

WORK=$(ds_workdir test)
PORT=54391
cleanup() {
    ds_cluster_stop "$WORK/pg"
    if [ "${KEEP_TEST_DIR:-}" ]; then echo "test files kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

ds_build_install "$WORK/src"
ds_say "starting a cluster for pg_regress on 127.0.0.1:$PORT"
ds_cluster_start "$WORK/pg" "$PORT"

ds_say "running pg_regress and TAP tests"
set +e
# TAP clusters take their encoding from the locale: UTF8, as Directus's databases are.
ds_as_postgres env PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres LANG=C.UTF-8 LC_ALL=C.UTF-8 \
    DS_DIRECTUS_SCRIPT="$WORK/src/scripts/directus.sh" \
    make -C "$WORK/src" installcheck PROVE_FLAGS=--verbose 2>&1 | tee "$WORK/check.log"
status=${PIPESTATUS[0]}
set -e

if [ -f "$WORK/src/regression.diffs" ]; then
    ds_say "regression.diffs"
    cat "$WORK/src/regression.diffs"
fi
if [ "$status" -ne 0 ] && [ -d "$WORK/src/tmp_check/log" ]; then
    ds_say "TAP logs"
    tail -n 50 "$WORK"/src/tmp_check/log/*.log
fi

# One closing line for all layers: pg_regress tests plus TAP assertions.
regress_ok=$(grep -cE '^(test |     )?[a-z_]+ +\.\.\. ok' "$WORK/check.log" || true)
regress_failed=$(grep -cE '\.\.\. FAILED' "$WORK/check.log" || true)
tap_ok=$(grep -cE '^ok [0-9]+' "$WORK/check.log" || true)
tap_failed=$(grep -cE '^not ok [0-9]+' "$WORK/check.log" || true)
echo
echo "tests: $((regress_ok + tap_ok)) passed, $((regress_failed + tap_failed)) failed"
[ "$status" -eq 0 ] && [ $((regress_failed + tap_failed)) -eq 0 ]
