#!/usr/bin/env bash
# scripts/demo.sh: the SyncID map and the permission clean-up at work, step by
# step, on a throwaway cluster (127.0.0.1:54390) from a bare Debian 12 machine.
#
#   bash scripts/demo.sh          run the demo, then stop the cluster
#   bash scripts/demo.sh --keep   run it and leave the cluster running to explore
#   bash scripts/demo.sh --stop   stop a cluster left running by --keep
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DEMO_DIR=/tmp/directus_sync_demo
PORT=54390
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGDATABASE=directus

ds_require_root
case "${1:-}" in
    --stop) ds_cluster_stop "$DEMO_DIR"; rm -rf "$DEMO_DIR"; echo "demo cluster stopped"; exit 0 ;;
    --keep) keep=1 ;;
    "") keep= ;;
    *) ds_die "usage: $0 [--keep | --stop]" ;;
esac

ds_install_packages
WORK=$(ds_workdir demo)
cleanup() {
    rm -rf "$WORK"
    if [ -z "$keep" ]; then ds_cluster_stop "$DEMO_DIR"; rm -rf "$DEMO_DIR"; fi
}
trap cleanup EXIT
ds_build_install "$WORK/src"
ds_say "starting a throwaway cluster on 127.0.0.1:$PORT (data in $DEMO_DIR)"
ds_cluster_start "$DEMO_DIR" "$PORT"

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

if [ -n "$keep" ]; then
    ds_say "the demo cluster keeps running"
    echo "  connect: psql -h 127.0.0.1 -p $PORT -U postgres directus"
    echo "  stop:    bash scripts/demo.sh --stop"
else
    ds_say "demo done; the cluster is stopped (run with --keep to explore it)"
fi
