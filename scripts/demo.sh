#!/usr/bin/env bash
# scripts/demo.sh: the SyncID map, the permission clean-up and item replication
# at work, step by step, on a throwaway cluster (127.0.0.1:54390) from a bare
# Debian 12 machine. Replication ships to the project's fake Directus
# (t/fake_directus.py on 127.0.0.1:54389), which follows Directus's REST API.
#
#   bash scripts/demo.sh          run the demo, then stop the cluster
#   bash scripts/demo.sh --keep   run it and leave the cluster running to explore
#   bash scripts/demo.sh --stop   stop a cluster left running by --keep
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DEMO_DIR=/tmp/directus_sync_demo
PORT=54390
FAKE_PORT=54389
FAKE="http://127.0.0.1:$FAKE_PORT"
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGDATABASE=directus

ds_require_root
case "${1:-}" in
    --stop) ds_fake_stop "$DEMO_DIR"; ds_cluster_stop "$DEMO_DIR"; rm -rf "$DEMO_DIR"; echo "demo cluster stopped"; exit 0 ;;
    --keep) keep=1 ;;
    "") keep= ;;
    *) ds_die "usage: $0 [--keep | --stop]" ;;
esac

ds_install_packages
WORK=$(ds_workdir demo)
cleanup() {
    rm -rf "$WORK"
    if [ -z "$keep" ]; then ds_fake_stop "$DEMO_DIR"; ds_cluster_stop "$DEMO_DIR"; rm -rf "$DEMO_DIR"; fi
}
trap cleanup EXIT
ds_build_install "$WORK/src"
ds_say "starting a throwaway cluster on 127.0.0.1:$PORT (data in $DEMO_DIR)"
ds_cluster_start "$DEMO_DIR" "$PORT" "directus_sync.databases = 'directus'" \
    "directus_sync.retry_min_delay = 500" "directus_sync.retry_max_delay = 5000"
ds_say "starting the fake Directus on $FAKE (the remote instance)"
ds_fake_start "$DEMO_DIR" "$FAKE_PORT" '{"articles":{"pk":"id"}}'

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

psql -X -q -d postgres -c 'CREATE DATABASE directus'

step "1. A Directus database: directus-extension-sync already made its map table, and one permission is stored three times" "
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

step "2. CREATE EXTENSION adopts the existing table with its rows" \
    "CREATE EXTENSION directus_sync;" \
    "SELECT id, \"table\", sync_id, local_id FROM directus_sync_id_map ORDER BY id;"

step "3. Map local ids (what POST /directus-extension-sync/table/:table did)" \
    "SELECT directus_sync.create_mapping('flows', 'f0d1e2c3-3333-4c4c-8d8d-0123456789ab') AS generated_sync_id;" \
    "SELECT directus_sync.create_mapping('permissions', '42', 'perm-editors-articles-read') AS given_sync_id;"

step "4. Look them up (GET .../sync_id/:id, .../local_id/:id, GET table/:table)" \
    "SELECT \"table\", sync_id, local_id FROM directus_sync.get_by_sync_id('roles', '_sync_default_admin_role');" \
    "SELECT \"table\", sync_id, local_id FROM directus_sync.get_by_local_id('permissions', '42');" \
    "SELECT count(*) AS rows_for_unknown_id FROM directus_sync.get_by_local_id('permissions', '999');" \
    "SELECT id, sync_id, local_id FROM directus_sync.get_all('flows');"

failing_step "5. A local id can be mapped once per table: SQLSTATE 23505 says which key" \
    "SELECT directus_sync.create_mapping('permissions', '42', 'another-sync-id');"

failing_step "6. Bad input is refused with a clear error, never truncated" \
    "SELECT directus_sync.create_mapping('roles', repeat('x', 256));"

step "7. Many ids in one call: create 1,000 item mappings at once, then look up a few" \
    "SELECT count(*) AS created FROM directus_sync.create_mappings('items:articles',
       ARRAY(SELECT n::text FROM generate_series(1, 1000) AS n));" \
    "SELECT local_id, sync_id FROM directus_sync.get_by_local_ids('items:articles', ARRAY['3', '999', 'missing', '1']);"

step "8. Deletes are idempotent and say how many rows went" \
    "SELECT directus_sync.delete_by_local_id('permissions', '42') AS first_delete,
       directus_sync.delete_by_local_id('permissions', '42') AS second_delete;"

step "9. Permission clean-up: a dry run first, then the real thing in one transaction" \
    "SELECT * FROM directus_sync.remove_permission_duplicates(dry_run => true);" \
    "SELECT * FROM directus_sync.remove_permission_duplicates(keep => 'last');" \
    "SELECT id, collection, action, fields FROM directus_permissions ORDER BY id;"

step "10. The CLI's role needs only EXECUTE on the API, no right on the table" \
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

step "11. DROP EXTENSION keeps every mapping; CREATE EXTENSION adopts them again" \
    "DROP EXTENSION directus_sync;" \
    "SELECT count(*) AS mappings_still_there FROM directus_sync_id_map;" \
    "CREATE EXTENSION directus_sync;" \
    "SELECT count(*) AS mappings_through_the_api FROM directus_sync.get_all('items:articles');"

# What the remote has received: one line per request, then its items.
show_remote() {
    ds_say "the remote (fake Directus) received:"
    curl -s "$FAKE/__fake/requests" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["data"]:
    print("  %-6s %-22s %s -> %s" % (r["method"], r["path"], json.dumps(r["body"])[:90], r["status"]))'
    curl -s -X DELETE "$FAKE/__fake/requests" >/dev/null
    echo "  items now: $(curl -s "$FAKE/__fake/items/articles")"
}
# Waits (at most 20 s) until nothing is queued or in flight.
WAIT_DRAINED="DO \$\$ BEGIN FOR i IN 1..200 LOOP
  EXIT WHEN (SELECT sum(queued + in_flight) FROM directus_sync.remote_status) = 0;
  PERFORM pg_sleep(0.1); END LOOP; END \$\$;"

step "12. Replication: Directus's tables, and a remote instance to ship articles to (title and status only)" \
    "CREATE TABLE directus_users (id uuid PRIMARY KEY, email varchar(128));
     INSERT INTO directus_users VALUES ('0000000a-0000-4000-8000-00000000000a', 'admin@example.com'),
                                       ('0000000b-0000-4000-8000-00000000000b', 'sync-from-b@example.com');
     CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45) NOT NULL, \"user\" uuid,
       timestamp timestamptz NOT NULL DEFAULT now(), collection varchar(64) NOT NULL, item varchar(255) NOT NULL);
     CREATE TABLE directus_notifications (id serial PRIMARY KEY, timestamp timestamptz DEFAULT now(),
       status varchar(255) DEFAULT 'inbox', recipient uuid NOT NULL REFERENCES directus_users,
       sender uuid, subject varchar(255) NOT NULL, message text, collection varchar(64), item varchar(255));
     CREATE TABLE articles (id integer PRIMARY KEY, title text, status text, internal_notes text,
       updated_at timestamptz);" \
    "SELECT directus_sync.add_remote('b', '$FAKE', 'test-token',
       notify_users => ARRAY['0000000a-0000-4000-8000-00000000000a']::uuid[],
       inbound_user => '0000000b-0000-4000-8000-00000000000b');" \
    "SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'status', 'updated_at']);" \
    "SELECT name, url, subscriptions FROM directus_sync.remotes;"

step "13. Changes made by any writer ship at commit: inserts in one batch, updates with changed fields only" \
    "INSERT INTO articles SELECT i, 'Article ' || i, 'draft', 'not shipped', '2026-01-01 12:00+00' FROM generate_series(1, 5) i;" \
    "UPDATE articles SET status = 'published' WHERE id <= 2;" \
    "UPDATE articles SET internal_notes = 'changes nothing the remote sees' WHERE id = 3;" \
    "DELETE FROM articles WHERE id = 5;" \
    "$WAIT_DRAINED" \
    "SELECT remote, queued, in_flight, delivered, failed, dead, last_error FROM directus_sync.remote_status;"
show_remote

step "14. Coalescing: while b is paused, an item created, edited three times and another created then deleted" \
    "SELECT directus_sync.pause('b');" \
    "INSERT INTO articles VALUES (10, 'Draft', 'draft'), (11, 'Oops', 'draft');" \
    "UPDATE articles SET title = 'Better title' WHERE id = 10;" \
    "UPDATE articles SET status = 'review' WHERE id = 10;" \
    "UPDATE articles SET status = 'published' WHERE id = 10;" \
    "DELETE FROM articles WHERE id = 11;" \
    "SELECT remote, paused, queued FROM directus_sync.remote_status;" \
    "SELECT directus_sync.resume('b');" \
    "$WAIT_DRAINED"
show_remote

step "15. Loop prevention: what b's sync user wrote here (Directus logs it in directus_activity) is not sent back" \
    "BEGIN;
     UPDATE articles SET title = 'Edited on b' WHERE id = 1;
     INSERT INTO directus_activity (action, \"user\", collection, item)
       VALUES ('update', '0000000b-0000-4000-8000-00000000000b', 'articles', '1');
     COMMIT;" \
    "SELECT count(*) AS queued_for_b FROM directus_sync.outbox;"

ds_say "16. The remote refuses one item (400 INVALID_PAYLOAD): it goes to the dead letters, the rest is delivered, the admin is notified"
curl -s -X POST "$FAKE/__fake/fail" -d '{"status":400,"code":"INVALID_PAYLOAD","message":"\"title\" is too long","key":"21","count":-1}' >/dev/null
run_psql "INSERT INTO articles (id, title) SELECT i, 'Batch ' || i FROM generate_series(20, 22) i;" \
    "$WAIT_DRAINED" \
    "SELECT id, collection, item_key, op, http_status, error_code, error_message FROM directus_sync.dead_letter;" \
    "SELECT recipient, subject, message FROM directus_notifications;"
show_remote

ds_say "17. Once the remote accepts it again, replay the dead letter: the item's current state ships"
curl -s -X DELETE "$FAKE/__fake/fail" >/dev/null
run_psql "SELECT directus_sync.replay('b') AS replayed;" "$WAIT_DRAINED" \
    "SELECT remote, queued, delivered, dead, last_success_at IS NOT NULL AS delivered_lately FROM directus_sync.remote_status;"
show_remote

if [ -n "$keep" ]; then
    ds_say "the demo cluster keeps running"
    echo "  connect: psql -h 127.0.0.1 -p $PORT -U postgres directus"
    echo "  remote:  curl $FAKE/__fake/items/articles"
    echo "  stop:    bash scripts/demo.sh --stop"
else
    ds_say "demo done; the cluster is stopped (run with --keep to explore it)"
fi
