#!/usr/bin/env bash
# scripts/demo.sh: directus_sync at work, step by step, from a bare Debian 12
# machine: two live Directus 12.4.0 instances, A (127.0.0.1:54385) and B
# (127.0.0.1:54386), each on its own database of one throwaway cluster
# (127.0.0.1:54390) with directus_sync installed, replicating a collection
# both ways; then the real directus-sync CLI keeping its SyncID map in our
# table; then the map's SQL API and the permission clean-up in depth.
#
#   bash scripts/demo.sh          run the demo, then stop everything it started
#   bash scripts/demo.sh --keep   run it and leave the cluster and Directus running
#   bash scripts/demo.sh --stop   stop what --keep left running
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DEMO_DIR=/tmp/directus_sync_demo
PORT=54390
A_PORT=54385
B_PORT=54386
A="http://127.0.0.1:$A_PORT"
B="http://127.0.0.1:$B_PORT"
DIRECTUS="$DS_ROOT/scripts/directus.sh"
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres

stop_all() {
    "$DIRECTUS" stop "$DEMO_DIR/a" >/dev/null 2>&1 || true
    "$DIRECTUS" stop "$DEMO_DIR/b" >/dev/null 2>&1 || true
    ds_cluster_stop "$DEMO_DIR/pg"
    rm -rf "$DEMO_DIR"
}

ds_require_root
case "${1:-}" in
    --stop) stop_all; echo "demo stopped"; exit 0 ;;
    --keep) keep=1 ;;
    "") keep= ;;
    *) ds_die "usage: $0 [--keep | --stop]" ;;
esac

ds_install_packages
WORK=$(ds_workdir demo)
cleanup() {
    rm -rf "$WORK"
    if [ -z "$keep" ]; then stop_all; fi
}
trap cleanup EXIT
stop_all
ds_build_install "$WORK/src"
# The demo runs Directus 12 only.
DS_DIRECTUS_VERSIONS=${DS_DIRECTUS_VERSIONS:-12} "$DIRECTUS" install
ds_say "starting a throwaway cluster on 127.0.0.1:$PORT (data in $DEMO_DIR/pg)"
ds_cluster_start "$DEMO_DIR/pg" "$PORT" "directus_sync.databases = 'directus_a, directus_b'" \
    "directus_sync.retry_min_delay = 500" "directus_sync.retry_max_delay = 5000"
mkdir -p "$DEMO_DIR/a" "$DEMO_DIR/b"
chmod 755 "$DEMO_DIR"

# step TITLE SQL...: prints the title, then each statement followed by its result.
run_psql() {
    local args=() sql
    for sql in "$@"; do args+=(-c "$sql"); done
    psql -X -q -e -v ON_ERROR_STOP=1 -c '\set SHOW_CONTEXT never' "${args[@]}"
}
step() { ds_say "$1"; shift; run_psql "$@"; }
# failing_step TITLE SQL: the same for a statement that is meant to fail.
failing_step() {
    ds_say "$1"; shift
    if run_psql "$@"; then ds_die "this step should have failed"; fi
}

# rest URL TOKEN METHOD PATH [JSON]: a REST call as a user makes it, shown
# with its answer (abridged); the answer's data is left in $REPLY.
rest() {
    local url=$1 token=$2 method=$3 path=$4 body=${5:-} args=()
    [ -n "$body" ] && args=(-H 'Content-Type: application/json' -d "$body")
    # (a token in the body is shown abridged)
    local shown
    shown=$(printf '%s' "$body" | sed -E 's/("token":"[^"]{10})[^"]*"/\1..."/g')
    printf '$ curl -X %s %s%s%s\n' "$method" "$url" "$path" "${shown:+ -d '$shown'}"
    REPLY=$(curl -sS -X "$method" -H "Authorization: Bearer $token" "${args[@]}" "$url$path")
    [ -n "$REPLY" ] && printf '%s\n' "$REPLY" | python3 -c '
import json, sys
text = json.dumps(json.load(sys.stdin))
print("  " + (text if len(text) < 300 else text[:300] + " ..."))'
    return 0
}
# json_get EXPR: a value out of the last answer ($REPLY), e.g. json_get '["data"]["id"]'
json_get() { printf '%s' "$REPLY" | python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# wait_for DESC COMMAND...: polls (at most 30 s) until COMMAND succeeds.
wait_for() {
    local desc=$1 i; shift
    for i in $(seq 300); do "$@" >/dev/null 2>&1 && { echo "  ($desc: after $((i / 10)).$((i % 10)) s)"; return 0; }; sleep 0.1; done
    ds_die "timed out waiting for $desc"
}
WAIT_DRAINED="DO \$\$ BEGIN FOR i IN 1..300 LOOP
  EXIT WHEN (SELECT sum(queued + in_flight) FROM directus_sync.remote_status) = 0;
  PERFORM pg_sleep(0.1); END LOOP; END \$\$;"

ds_say "1. Two databases, with directus_sync installed before Directus ever sees them"
for db in directus_a directus_b; do
    PGDATABASE=postgres run_psql "CREATE DATABASE $db" >/dev/null
    PGDATABASE=$db run_psql "CREATE EXTENSION directus_sync;"
done

ds_say "2. Two live Directus 12.4.0 instances on them: A on $A, B on $B"
"$DIRECTUS" start "$DEMO_DIR/a" --pg-port $PORT --database directus_a --port $A_PORT --token admin-token-a --extension-sync
"$DIRECTUS" start "$DEMO_DIR/b" --pg-port $PORT --database directus_b --port $B_PORT --token admin-token-b --extension-sync
rest $A admin-token-a GET /server/health
rest $B admin-token-b GET /server/health

ds_say "3. The same collection on both, made through Directus's REST API: articles (title, body, internal notes)"
ARTICLES='{"collection":"articles","schema":{},"meta":{"icon":"article"},"fields":[
 {"field":"id","type":"integer","meta":{"hidden":true},"schema":{"is_primary_key":true,"has_auto_increment":true}},
 {"field":"title","type":"string","schema":{}},{"field":"body","type":"text","schema":{}},
 {"field":"internal_notes","type":"text","schema":{}}]}'
rest $A admin-token-a POST /collections "$ARTICLES"
rest $B admin-token-b POST /collections "$ARTICLES"

ds_say "4. Each side makes, by SQL, the Directus user the other writes to it as (a policy with create, read, update and delete on articles, and a static token, returned once)"
# create_sync_user's token is shown abridged; the full one goes into the app's remote below.
TOKEN_A_WRITES_B=$(psql -X -qAt -d directus_b -c "SELECT directus_sync.create_sync_user('a', ARRAY['articles'])")
TOKEN_B_WRITES_A=$(psql -X -qAt -d directus_a -c "SELECT directus_sync.create_sync_user('b', ARRAY['articles'])")
echo "  on B: create_sync_user('a', ARRAY['articles']) -> ${TOKEN_A_WRITES_B:0:10}... (the token A writes to B with)"
echo "  on A: create_sync_user('b', ARRAY['articles']) -> ${TOKEN_B_WRITES_A:0:10}..."
PGDATABASE=directus_b run_psql "SELECT peer, user_id, access_id FROM directus_sync.sync_user;"
rest $A admin-token-a GET /users/me >/dev/null; ADMIN_A=$(json_get '["data"]["id"]')

ds_say "5. Each database gets its number (integer keys from series of their own) and the replication collections in the app; Directus is told to read its schema again"
for db in directus_a directus_b; do
    n=1; [ $db = directus_b ] && n=2
    PGDATABASE=$db run_psql "SELECT directus_sync.set_instance($n, 2);" \
        "SELECT directus_sync.enable_app_config();" "SELECT directus_sync.enable_app_status();" >/dev/null
done
rest $A admin-token-a POST '/utils/cache/clear?system=true'
rest $B admin-token-b POST '/utils/cache/clear?system=true'

ds_say "6. Replication configured once in the app, both ways, through its REST API as the app does: a remote with its token and the users to notify, and what to ship (articles: title, body)"
rest $A admin-token-a POST /items/sync_remotes "{\"name\":\"b\",\"url\":\"$B\",\"token\":\"$TOKEN_A_WRITES_B\",
 \"notify_users\":{\"create\":[{\"directus_users_id\":\"$ADMIN_A\"}],\"update\":[],\"delete\":[]},
 \"subscriptions\":{\"create\":[{\"collection\":\"articles\",\"fields\":[\"title\",\"body\"]}],\"update\":[],\"delete\":[]}}"
rest $B admin-token-b POST /items/sync_remotes "{\"name\":\"a\",\"url\":\"$A\",\"token\":\"$TOKEN_B_WRITES_A\",
 \"subscriptions\":{\"create\":[{\"collection\":\"articles\",\"fields\":[\"title\",\"body\"]}],\"update\":[],\"delete\":[]}}"
echo "  The token is write-only: the app never shows it again"
rest $A admin-token-a GET '/items/sync_remotes?fields=name,url,token,enabled,paused,inbound_user,subscriptions.collection,subscriptions.fields'
# subscribing gave articles per-field clocks (a hidden field directus_sync_meta): Directus reads its schema again
rest $A admin-token-a POST '/utils/cache/clear?system=true'
rest $B admin-token-b POST '/utils/cache/clear?system=true'
PGDATABASE=directus_a run_psql "SELECT name, url, inbound_user IS NOT NULL AS has_inbound_user, notify_users FROM directus_sync.remote;" \
    "SELECT r.name AS remote, s.collection, s.fields, s.clocks FROM directus_sync.subscription s
       JOIN directus_sync.remote r ON r.id = s.remote_id;"

item_on() { curl -sf -H "Authorization: Bearer $2" "$1/items/articles/$3?fields=title,body,internal_notes"; }
item_title_is() { item_on "$1" "$2" "$3" | grep -qF "\"title\":\"$4\""; }
item_gone() { ! item_on "$1" "$2" "$3"; }

ds_say "7. An item created through A's REST API appears in B (internal notes are not subscribed: they stay on A)"
rest $A admin-token-a POST /items/articles '{"title":"Hello from A","body":"Written in instance A","internal_notes":"A only"}'
ID=$(json_get '["data"]["id"]')
wait_for "in B" item_title_is $B admin-token-b "$ID" "Hello from A"
rest $B admin-token-b GET "/items/articles/$ID"

ds_say "8. An edit made in B comes back to A"
rest $B admin-token-b PATCH "/items/articles/$ID" '{"title":"Edited in B"}'
wait_for "in A" item_title_is $A admin-token-a "$ID" "Edited in B"
rest $A admin-token-a GET "/items/articles/$ID"

ds_say "9. A change made without Directus (plain SQL on A) travels too"
SQL_ID=$(psql -X -qAt -d directus_a -c "INSERT INTO articles (title, body) VALUES ('Imported by SQL', 'no Directus involved') RETURNING id")
echo "  INSERT INTO articles ... RETURNING id -> $SQL_ID"
wait_for "in B" item_title_is $B admin-token-b "$SQL_ID" "Imported by SQL"
rest $B admin-token-b GET "/items/articles/$SQL_ID"

ds_say "10. A delete travels"
rest $A admin-token-a DELETE "/items/articles/$SQL_ID"
wait_for "gone from B" item_gone $B admin-token-b "$SQL_ID"
rest $B admin-token-b GET "/items/articles/$SQL_ID"

PGDATABASE=directus_a step "11. The status view on A: one change shipped per edit made on A, none echoed back; B's sync user wrote once" \
    "$WAIT_DRAINED" \
    "SELECT remote, queued, in_flight, delivered, failed, dead, conflicts, last_error, lag FROM directus_sync.remote_status;" \
    "SELECT action, collection, item FROM directus_activity
      WHERE \"user\" = (SELECT user_id FROM directus_sync.sync_user WHERE peer = 'b') ORDER BY id;"
PGDATABASE=directus_b run_psql "$WAIT_DRAINED" \
    "SELECT remote, queued, in_flight, delivered, failed, dead, conflicts, last_error, lag FROM directus_sync.remote_status;"
ds_say "    The same figures in the app, for an admin without SQL: the collection sync_remotes_status through Directus's REST API (the worker keeps it a few seconds behind at most)"
app_status_delivered() { curl -sf -H "Authorization: Bearer admin-token-a" "$A/items/sync_remotes_status?fields=delivered" | grep -Eq '"delivered":"?[1-9]'; }
wait_for "the app's status" app_status_delivered
rest $A admin-token-a GET '/items/sync_remotes_status?fields=remote,state,queued,delivered,failed,dead,conflicts,lag_seconds,changed_at'

ds_say "12. Concurrent edits of one field on A and B (both queues held): both end with the same value, the conflict is logged"
PGDATABASE=directus_a run_psql "SELECT directus_sync.pause('b');" >/dev/null
PGDATABASE=directus_b run_psql "SELECT directus_sync.pause('a');" >/dev/null
rest $A admin-token-a PATCH "/items/articles/$ID" '{"title":"Title by A"}' >/dev/null
rest $B admin-token-b PATCH "/items/articles/$ID" '{"title":"Title by B"}' >/dev/null
PGDATABASE=directus_a run_psql "SELECT directus_sync.resume('b');" >/dev/null
PGDATABASE=directus_b run_psql "SELECT directus_sync.resume('a');" >/dev/null
wait_for "A to agree" item_title_is $A admin-token-a "$ID" "Title by B"
wait_for "B to agree" item_title_is $B admin-token-b "$ID" "Title by B"
for db in directus_a directus_b; do
    PGDATABASE=$db run_psql "$WAIT_DRAINED" \
        "SELECT '$db' AS instance, (SELECT title FROM articles WHERE id = $ID),
                (SELECT count(*) FROM directus_sync.conflict) AS conflicts_logged;"
done
PGDATABASE=directus_b run_psql \
    "SELECT collection, item_key, field, local_value, remote_value, winner FROM directus_sync.conflict;"

ds_say "13. The real directus-sync CLI 3.4.1 pulls A's configuration and pushes it to B; directus-extension-sync 3.0.6 keeps the SyncID map in our table"
eval "$("$DIRECTUS" env)"
(cd "$DEMO_DIR" && "$DS_NODE" "$DS_DIRECTUS_SYNC_CLI" pull --directus-url $A --directus-token admin-token-a \
    --dump-path "$DEMO_DIR/config" 2>&1 | tail -3)
(cd "$DEMO_DIR" && "$DS_NODE" "$DS_DIRECTUS_SYNC_CLI" push --directus-url $B --directus-token admin-token-b \
    --dump-path "$DEMO_DIR/config" 2>&1 | tail -3)
PGDATABASE=directus_b run_psql \
    "SELECT \"table\", count(*) AS mappings FROM directus_sync_id_map GROUP BY 1 ORDER BY 1;" \
    "SELECT * FROM directus_sync.get_all('policies');"
rest $B admin-token-b GET /directus-extension-sync/table/policies

ds_say "The SyncID map and the permission clean-up in depth, on a database of their own"
PGDATABASE=postgres run_psql "CREATE DATABASE directus" >/dev/null
export PGDATABASE=directus

step "14. A Directus database: directus-extension-sync already made its map table, and one permission is stored three times" "
-- The tables as Directus 12 and directus-extension-sync 3.x create them (abridged to what matters here).
CREATE TABLE directus_policies (id uuid PRIMARY KEY, name varchar(100) NOT NULL);
CREATE TABLE directus_permissions (
  id serial PRIMARY KEY, collection varchar(64) NOT NULL, action varchar(10) NOT NULL,
  permissions json, validation json, presets json, fields text,
  policy uuid NOT NULL REFERENCES directus_policies (id) ON DELETE CASCADE);
CREATE TABLE directus_sync_id_map (id serial PRIMARY KEY, \"table\" varchar(255) NOT NULL,
  sync_id varchar(255) NOT NULL, local_id varchar(255) NOT NULL, created_at timestamptz DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT directus_sync_id_map_table_sync_id_unique UNIQUE (\"table\", sync_id),
  CONSTRAINT directus_sync_id_map_table_local_id_unique UNIQUE (\"table\", local_id));
CREATE INDEX directus_sync_id_map_created_at_index ON directus_sync_id_map (created_at);
INSERT INTO directus_sync_id_map (\"table\", sync_id, local_id) VALUES
  ('roles', '_sync_default_admin_role', '8d1f2c3a-1111-4a4a-9b9b-0123456789ab'),
  ('dashboards', '4e0b7a52-5d2c-4f7e-a8a1-6b1c2d3e4f50', '3c9e1f20-2222-4b4b-8c8c-0123456789ab');
INSERT INTO directus_policies VALUES ('aaaaaaaa-0000-4000-8000-000000000001', 'Editors');
INSERT INTO directus_permissions (policy, collection, action, fields) VALUES
  ('aaaaaaaa-0000-4000-8000-000000000001', 'articles', 'read', '*'),
  ('aaaaaaaa-0000-4000-8000-000000000001', 'articles', 'read', 'id,title'),
  ('aaaaaaaa-0000-4000-8000-000000000001', 'articles', 'read', 'title'),
  ('aaaaaaaa-0000-4000-8000-000000000001', 'articles', 'update', '*');"

step "15. CREATE EXTENSION adopts the existing table with its rows" \
    "CREATE EXTENSION directus_sync;" \
    "SELECT id, \"table\", sync_id, local_id FROM directus_sync_id_map ORDER BY id;"

step "16. Map local ids (what POST /directus-extension-sync/table/:table did)" \
    "SELECT directus_sync.create_mapping('flows', 'f0d1e2c3-3333-4c4c-8d8d-0123456789ab') AS generated_sync_id;" \
    "SELECT directus_sync.create_mapping('permissions', '42', 'perm-editors-articles-read') AS given_sync_id;"

step "17. Look them up (GET .../sync_id/:id, .../local_id/:id, GET table/:table)" \
    "SELECT \"table\", sync_id, local_id FROM directus_sync.get_by_sync_id('roles', '_sync_default_admin_role');" \
    "SELECT \"table\", sync_id, local_id FROM directus_sync.get_by_local_id('permissions', '42');" \
    "SELECT count(*) AS rows_for_unknown_id FROM directus_sync.get_by_local_id('permissions', '999');" \
    "SELECT id, sync_id, local_id FROM directus_sync.get_all('flows');"

failing_step "18. A local id can be mapped once per table: SQLSTATE 23505 says which key" \
    "SELECT directus_sync.create_mapping('permissions', '42', 'another-sync-id');"

failing_step "19. Bad input is refused with a clear error, never truncated" \
    "SELECT directus_sync.create_mapping('roles', repeat('x', 256));"

step "20. Many ids in one call: create 1,000 item mappings at once, then look up a few" \
    "SELECT count(*) AS created FROM directus_sync.create_mappings('items:articles',
       ARRAY(SELECT n::text FROM generate_series(1, 1000) AS n));" \
    "SELECT local_id, sync_id FROM directus_sync.get_by_local_ids('items:articles', ARRAY['3', '999', 'missing', '1']);"

step "21. Deletes are idempotent and say how many rows went" \
    "SELECT directus_sync.delete_by_local_id('permissions', '42') AS first_delete,
       directus_sync.delete_by_local_id('permissions', '42') AS second_delete;"

step "22. Permission clean-up: a dry run first, then the real thing in one transaction" \
    "SELECT * FROM directus_sync.remove_permission_duplicates(dry_run => true);" \
    "SELECT * FROM directus_sync.remove_permission_duplicates(keep => 'last');" \
    "SELECT id, collection, action, fields FROM directus_permissions ORDER BY id;"

step "23. The CLI's role needs only EXECUTE on the API, no right on the table" \
    "CREATE ROLE directus_sync_cli LOGIN;" \
    "GRANT USAGE ON SCHEMA directus_sync TO directus_sync_cli;" \
    "GRANT EXECUTE ON FUNCTION directus_sync.get_by_sync_id(text, text), directus_sync.get_by_local_id(text, text),
  directus_sync.get_all(text), directus_sync.create_mapping(text, text, text),
  directus_sync.delete_by_sync_id(text, text), directus_sync.delete_by_local_id(text, text),
  directus_sync.get_by_local_ids(text, text[]), directus_sync.get_by_sync_ids(text, text[]),
  directus_sync.create_mappings(text, text[], text[]) TO directus_sync_cli;" \
    "SET ROLE directus_sync_cli;" \
    "SELECT sync_id FROM directus_sync.get_by_local_id('items:articles', '7');" \
    "SELECT has_table_privilege('directus_sync_id_map', 'SELECT') AS can_read_table_directly;" \
    "RESET ROLE;"


if [ -n "$keep" ]; then
    ds_say "the demo keeps running"
    echo "  Directus A: $A (admin@example.com / admin-pass, token admin-token-a)"
    echo "  Directus B: $B (admin@example.com / admin-pass, token admin-token-b)"
    echo "  databases:  psql -h 127.0.0.1 -p $PORT -U postgres directus_a   (or directus_b)"
    echo "  stop:       bash scripts/demo.sh --stop"
else
    ds_say "demo done; Directus and the cluster are stopped (run with --keep to explore them)"
fi
