#!/usr/bin/env bash
# scripts/test_counting.sh: checks scripts/count_tests.pl, which makes the
# closing line of scripts/test.sh. Every way a test can go wrong must count as
# a failure there, and CI reads that line. Tiny TAP files written here run
# under the real prove (through make, as in test.sh); pg_regress logs are
# written here in the formats of PostgreSQL 15 and of 16 and later. Needs perl, prove and make only: no
# server, a few seconds. scripts/test.sh runs it first, as the layer
# "counting". Ends with "counting checks: P passed, F failed"; exits non-zero
# when a check fails.
# shellcheck disable=SC2016 # the single-quoted $ are Perl's and make's
set -euo pipefail

COUNT="$(cd "$(dirname "$0")" && pwd)/count_tests.pl"
DIR=$(mktemp -d /tmp/directus_sync_counting.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
checks_passed=0
checks_failed=0

# check WHAT "P F S" NOTE_REGEX KIND LOG STATUS [NAME...]
# Counts LOG with count_tests.pl and wants "P F S"; when NOTE_REGEX is not
# empty, the counter's explanation must match it too.
check() {
    local what=$1 want=$2 note=$3 got
    shift 3
    got=$(perl "$COUNT" "$@" 2>"$DIR/notes") || got="count_tests.pl failed"
    if [ "$got" = "$want" ] && { [ -z "$note" ] || grep -qE -- "$note" "$DIR/notes"; }; then
        checks_passed=$((checks_passed + 1))
        printf 'ok      %-44s %s\n' "$what" "$got"
    else
        checks_failed=$((checks_failed + 1))
        printf 'FAILED  %-44s got "%s", want "%s"%s\n' "$what" "$got" "$want" \
            "${note:+ and a note matching /$note/}"
        sed 's/^/        /' "$DIR/notes"
    fi
}

# --- TAP: one small file per way a test file can end --------------------------
mkdir "$DIR/t"
tap() { printf '%s\n' "use strict; use warnings; use Test::More;" "$2" > "$DIR/t/$1.pl"; }
tap pass      'plan tests => 3; ok(1, "a"); ok(1, "b"); ok(1, "c");'
tap skip      'plan tests => 3; ok(1, "a"); SKIP: { skip "no directus", 1; ok(1) } ok(1, "c");'
tap notok     'plan tests => 3; ok(1, "a"); ok(0, "b"); ok(1, "c");'
tap notok2    'ok(0, "a"); ok(1, "b"); ok(0, "c"); done_testing;'
tap die_plan  'plan tests => 4; ok(1, "a"); ok(1, "b"); die "the cluster did not start\n";'
tap die       'ok(1, "a"); ok(1, "b"); die "the cluster did not start\n"; done_testing;'
tap bail      'plan tests => 3; ok(1, "a"); BAIL_OUT("the fake did not start");'
tap after     'plan tests => 1; ok(1, "runs only when nothing bailed out before");'
tap plan_more 'plan tests => 5; ok(1, "a"); ok(1, "b"); ok(1, "c");'
tap plan_less 'plan tests => 2; ok(1, "a"); ok(1, "b"); ok(1, "c");'
tap exit1     'ok(1, "a"); ok(1, "b"); done_testing; exit 1;'
tap empty     'exit 0;'
tap todo      'ok(1); TODO: { local $TODO = "known"; ok(0, "broken"); ok(1, "fixed") } done_testing;'
tap skip_all  'plan skip_all => "DS_DIRECTUS_SCRIPT is not set";'
tap subtest   'ok(1); subtest in => sub { ok(1); ok(0) }; subtest f => sub { plan skip_all => "fake only" }; done_testing;'
tap killed    'ok(1, "a"); kill "KILL", $$;'

# As test.sh does: make runs prove --verbose, its standard output is the log.
printf 'check:\n\tcd %s && prove --verbose $(FLAGS) $(FILES)\n' "$DIR" > "$DIR/Makefile"
prove_log() {   # prove_log NAME FILE...: runs them, leaves NAME.log and NAME.rc
    local name=$1 rc=0
    shift
    make -s -f "$DIR/Makefile" check FILES="$*" FLAGS="${FLAGS:-}" \
        >"$DIR/$name.log" 2>"$DIR/$name.err" || rc=$?
    echo "$rc" > "$DIR/$name.rc"
}
tap_check() {   # tap_check WHAT "P F S" NOTE_REGEX NAME [FILE...]
    local what=$1 want=$2 note=$3 name=$4
    shift 4
    check "$what" "$want" "$note" tap "$DIR/$name.log" "$(cat "$DIR/$name.rc")" "$@"
}
for f in pass skip notok notok2 die_plan die plan_more plan_less exit1 empty todo skip_all subtest killed; do
    prove_log "$f" "t/$f.pl"
done
prove_log bail t/bail.pl t/after.pl

tap_check 'tap: all pass'                    '3 0 0' ''                pass      t/pass.pl
tap_check 'tap: a skip is no pass'           '2 0 1' ''                skip      t/skip.pl
tap_check 'tap: not ok'                      '2 1 0' ''                notok     t/notok.pl
tap_check 'tap: die, planned ones never ran' '2 2 0' 'Dubious'         die_plan  t/die_plan.pl
tap_check 'tap: die after 2 ok (no plan)'    '2 1 0' 'Dubious'         die       t/die.pl
tap_check 'tap: bail out, next file unrun'   '1 3 0' 'never ran.*after' bail     t/bail.pl t/after.pl
tap_check 'tap: bail out, said of its file'  '1 3 0' 'bail.pl: .*Bailout called' \
                                                                       bail      t/bail.pl t/after.pl
tap_check 'tap: planned 5, ran 3'            '3 2 0' 'Bad plan'        plan_more t/plan_more.pl
tap_check 'tap: planned 2, ran 3'            '3 1 0' 'Bad plan'        plan_less t/plan_less.pl
tap_check 'tap: exit 1, every test ok'       '2 1 0' 'exit status: 1'  exit1     t/exit1.pl
tap_check 'tap: no tests at all'             '0 1 0' 'No subtests run' empty     t/empty.pl
tap_check 'tap: TODO is no failure'          '2 0 1' ''                todo      t/todo.pl
tap_check 'tap: skip_all is one skip'        '0 0 1' ''                skip_all  t/skip_all.pl
tap_check 'tap: failing subtest'             '1 1 1' ''                subtest   t/subtest.pl
tap_check 'tap: killed by a signal'          '1 1 0' 'wait status: 9'  killed    t/killed.pl

# All of them in one run, as make installcheck runs t/*.pl: one run, the sums.
all=(pass skip notok die_plan die plan_more plan_less exit1 empty todo skip_all subtest killed)
all=("${all[@]/#/t/}")
all=("${all[@]/%/.pl}")
prove_log all "${all[@]}"
tap_check 'tap: every case in one run' '23 11 4' '' all "${all[@]}"
FLAGS=--timer prove_log timer t/pass.pl t/notok.pl
tap_check 'tap: prove --timer'         '5 1 0'   '' timer t/pass.pl t/notok.pl

# "not ok" lines lost from the log: prove's "Failed N/M" and its summary
# still count them.
grep -v '^not ok' "$DIR/notok.log" > "$DIR/lost.log"
check 'tap: prove counts a lost "not ok"'   '2 1 0' '' tap "$DIR/lost.log" 1 t/notok.pl
grep -vE '^(not ok|Failed)' "$DIR/notok2.log" > "$DIR/lost2.log"
check 'tap: summary counts lost "not ok"s'  '1 2 0' '' tap "$DIR/lost2.log" 1 t/notok2.pl
# prove killed in the middle of a file, and before its summary.
sed '/^ok 2/q' "$DIR/pass.log" > "$DIR/killed_prove.log"
check 'tap: prove killed inside a file'     '2 1 0' 'pass.pl: .*did not finish' \
                                                    tap "$DIR/killed_prove.log" 143 t/pass.pl
# prove killed before its summary: no Result line.
sed -E '/^(All tests successful|Test Summary Report|Files=)/,$d' "$DIR/pass.log" > "$DIR/cut.log"
check 'tap: no Result line'                 '3 1 0' 'no "Result:"' tap "$DIR/cut.log" 143 t/pass.pl
check 'tap: make failed, prove passed'      '3 1 0' 'status 2'     tap "$DIR/pass.log" 2 t/pass.pl
check 'tap: layer never ran'                '0 2 0' 'never ran'    tap "$DIR/nothing.log" 2 t/a.pl t/b.pl
check 'tap: layer never ran, no names'      '0 1 0' 'no "Result:"' tap "$DIR/nothing.log" 2

# --- pg_regress and isolation (PostgreSQL 15's output) --------------------------
cat > "$DIR/regress_ok.log" <<'EOF'
+++ regress install-check in  +++
============== running regression test queries        ==============
test adopt                        ... ok           45 ms
parallel group (2 tests):  map_input map_api
     map_api                      ... ok           30 ms
     map_input                    ... ok           12 ms
test upgrade                      ... ok          101 ms

=====================
 All 4 tests passed. 
=====================

EOF
cat > "$DIR/regress_failed.log" <<'EOF'
============== running regression test queries        ==============
test adopt                        ... ok           45 ms
test map_api                      ... FAILED       30 ms
test upgrade                      ... FAILED (test process exited with exit code 2)       10 ms
test map_input                    ... ok           12 ms

======================
 2 of 4 tests failed. 
======================

The differences that caused some tests to fail can be viewed in the
file "/tmp/x/src/regression.diffs".  A copy of the test summary that you see
above is saved in the file "/tmp/x/src/regression.out".

make: *** [/usr/lib/postgresql/15/lib/pgxs/src/makefiles/pgxs.mk:433: installcheck] Error 1
EOF
# The server went away after two tests: no closing line.
head -n 3 "$DIR/regress_failed.log" | sed 's/FAILED /ok     /' > "$DIR/regress_cut.log"
# What pg_regress prints when it cannot reach the server.
cat > "$DIR/regress_noserver.log" <<'EOF'
(using postmaster on 127.0.0.1, port 54391)
============== dropping database "contrib_regression" ==============
psql: error: connection to server at "127.0.0.1", port 54391 failed: Connection refused
	Is the server running on that host and accepting TCP/IP connections?
command failed: "/usr/lib/postgresql/15/bin/psql" -X -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"contrib_regression\"" "postgres"
EOF
cat > "$DIR/regress_ignored.log" <<'EOF'
test adopt                        ... ok           45 ms
test map_api                      ... failed (ignored)       30 ms
test upgrade                      ... ok          101 ms
 2 of 3 tests passed, 1 failed test(s) ignored. 
EOF
# The closing line disagrees with the test lines (one FAILED line lost).
sed '/map_api/d' "$DIR/regress_failed.log" > "$DIR/regress_disagree.log"
cat > "$DIR/isolation_ok.log" <<'EOF'
+++ isolation install-check in  +++
============== running regression test queries        ==============
test concurrent_create            ... ok          602 ms
test outbox_index_ddl             ... ok          310 ms
=====================
 All 2 tests passed. 
=====================
EOF
# --- the same in the format of PostgreSQL 16 and later ----------------------------
cat > "$DIR/regress17_ok.log" <<'EOF'
# +++ regress install-check in  +++
# using postmaster on 127.0.0.1, port 56017
ok 1         - adopt                                     271 ms
# parallel group (2 tests):  map_input map_api
ok 2         + map_api                                    68 ms
ok 3         + map_input                                  56 ms
ok 4         - upgrade                                   119 ms
1..4
# All 4 tests passed.
EOF
cat > "$DIR/regress17_failed.log" <<'EOF'
# using postmaster on 127.0.0.1, port 56017
ok 1         - adopt                                     252 ms
not ok 2     - map_api                                    29 ms
not ok 3     - upgrade                                    10 ms
# (test process exited with exit code 2)
ok 4         - map_input                                  40 ms
1..4
# 2 of 4 tests failed.
# The differences that caused some tests to fail can be viewed in the file "/build/src/regression.diffs".
EOF
head -n 3 "$DIR/regress17_failed.log" | sed 's/^not ok/ok/' > "$DIR/regress17_cut.log"
sed '/map_api/d' "$DIR/regress17_failed.log" > "$DIR/regress17_disagree.log"
cat > "$DIR/regress17_noserver.log" <<'EOF'
# +++ regress install-check in  +++
# using postmaster on 127.0.0.1, port 56018
psql: error: connection to server at "127.0.0.1", port 56018 failed: Connection refused
# command failed: "/usr/lib/postgresql/18/bin/psql" -X -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"contrib_regression\"" "postgres"
Bail out!
EOF

four=(adopt map_api map_input upgrade)
check '16+: all pass, parallel group'        '4 0 0' ''                  regress "$DIR/regress17_ok.log" 0 "${four[@]}"
check '16+: two not ok'                      '2 2 0' ''                  regress "$DIR/regress17_failed.log" 2 "${four[@]}"
check '16+: no closing line, 2 unrun'        '2 2 0' 'never ran.*: map_input upgrade' \
                                                                         regress "$DIR/regress17_cut.log" 2 "${four[@]}"
check '16+: closing line disagrees'          '2 2 0' 'closing line says' regress "$DIR/regress17_disagree.log" 2
check '16+: no server, 4 unrun'              '0 4 0' 'never ran'         regress "$DIR/regress17_noserver.log" 2 "${four[@]}"
check 'regress: all pass, parallel group'    '4 0 0' ''                  regress "$DIR/regress_ok.log" 0 "${four[@]}"
check 'regress: two FAILED'                  '2 2 0' ''                  regress "$DIR/regress_failed.log" 2 "${four[@]}"
check 'regress: no closing line'             '2 1 0' 'did not finish'    regress "$DIR/regress_cut.log" 2
check 'regress: no closing line, 2 unrun'    '2 2 0' 'never ran.*: map_input upgrade' \
                                                                         regress "$DIR/regress_cut.log" 2 "${four[@]}"
check 'regress: no server'                   '0 1 0' 'did not finish'    regress "$DIR/regress_noserver.log" 2
check 'regress: no server, 4 unrun'          '0 4 0' 'never ran'         regress "$DIR/regress_noserver.log" 2 "${four[@]}"
check 'regress: failed (ignored) is a skip'  '2 0 1' ''                  regress "$DIR/regress_ignored.log" 0
check 'regress: closing line disagrees'      '2 2 0' 'closing line says' regress "$DIR/regress_disagree.log" 2
check 'regress: make failed, tests passed'   '4 1 0' 'status 2'          regress "$DIR/regress_ok.log" 2 "${four[@]}"
check 'regress: layer never ran'             '0 1 0' 'did not finish'    regress "$DIR/nothing.log" 2
check 'isolation: all pass'                  '2 0 0' ''                  regress "$DIR/isolation_ok.log" 0 \
                                                                         concurrent_create outbox_index_ddl
check 'isolation: a spec never ran'          '2 1 0' 'never ran.*: outbox_index_concurrently' \
                                                     regress "$DIR/isolation_ok.log" 0 \
                                                     concurrent_create outbox_index_ddl outbox_index_concurrently

echo "counting checks: $checks_passed passed, $checks_failed failed"
[ "$checks_failed" -eq 0 ]
