# directus_sync: build with PGXS.
#   make && make install    build and install into the PostgreSQL that pg_config names
#   make installcheck       pg_regress (sql/) against a running server, then TAP (t/)
# scripts/test.sh does all of this, server included; see README.md.

EXTENSION = directus_sync
MODULE_big = directus_sync
OBJS = src/directus_sync.o src/map_guard.o src/keyhash.o \
       src/capture.o src/queue_write.o src/loop_guard.o src/wake.o \
       src/launcher.o src/worker.o src/worker_txn.o \
       src/queue_claim.o src/queue_mark.o src/queue_coalesce.o src/queue_record.o \
       src/directus.o src/directus_failure.o src/directus_apply.o src/directus_wire.o src/http.o src/owner_query.o src/token_calls.o \
       src/clock.o src/clock_row.o src/key_series.o src/tombstone.o src/sync_signature.o src/hold_back.o src/app_status.o
DATA = directus_sync--0.1.sql directus_sync--0.1--0.2.sql directus_sync--0.2--0.3.sql directus_sync--0.3.sql
PGFILEDESC = "directus_sync - Directus SyncID map and replication inside PostgreSQL"

REGRESS = adopt map_api map_input map_bulk privileges permissions drop_keeps_map \
          replication_config replication_capture capture_noop capture_big_numbers upgrade remote_tokens remove_remote loop_guard_replica subscribe_guards \
          messages_nan_keys messages_notify clock_merge clock_rows compact_meta delete_wins clock_review clock_review2 subscribe_defaults sync_user app_status app_config \
          review3_sync_user review3_defaults review4_signed \
          review5_app_own_tables review5_app_credentials review5_sync_user_app_tables review5_app_config_key_series review5_app_config_on_conflict \
          review5_app_schema_apply key_series_explicit review5_app_status_cost review6_tombstone_dead_letter review6_resync_deletes review6_delete_other_item review6_clock_without_value review6_key_series_count review7_app_config_foreign_table review7_subscribe_sessions review7_app_folder review6_equal_clocks review6_insert_insert_merge review6_false_conflicts review6_asymmetric_delete review6_asymmetric_compact review8_compact_extra_column review8_tie_default review8_app_status_log review7_app_config_remote_url review9_app_config_verify_tls review9_app_status_payload review10_tombstone_order review10_reset_domain review10_forged_sender review10_tie_order review9_app_nested_collection app_status_refreshed_at review11a_app_disable_deps review11_reset_domain_cancel review11a_app_rls review11a_app_status_recreated review11_tie_copy_not_default review11_tombstone_create_order review11_known_known_deletes \
          review12_tombstone_payload review12_tombstone_forward review12_sweep_create_orders review12_unborn_known_delete review12_dropped_column_clock review13_killed_item_to_sender review13_conflict_empty_clock review13_swept_state_resync review13_stale_expected_delete review14_cancelled_sync_write review14_forward_sweep
ISOLATION = concurrent_create outbox_index_ddl outbox_index_concurrently clock_delete_race delete_rule_snapshot key_series_concurrent conflict_log_concurrent review9_truncate_fold review13_killed_forward_both
TAP_TESTS = 1

PG_CONFIG ?= pg_config

# libcurl carries the replication worker's HTTP (src/http.c).
CURL_CONFIG ?= curl-config
ifeq ($(shell command -v $(CURL_CONFIG)),)
$(error $(CURL_CONFIG) not found: install libcurl4-openssl-dev)
endif
PG_CPPFLAGS += $(shell $(CURL_CONFIG) --cflags)
SHLIB_LINK += $(shell $(CURL_CONFIG) --libs)

PG_CFLAGS += -Wall -Wextra
# The server headers are not -Wextra clean (unused parameters in inline
# functions); included as system headers they stay quiet while ours is checked.
PG_CPPFLAGS += -isystem $(shell $(PG_CONFIG) --includedir-server)

# The version the library was built for: the worker compares it with the
# installed extension's, and it names us in the HTTP user agent.
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)
PG_CPPFLAGS += -DDIRECTUS_SYNC_VERSION='"$(EXTVERSION)"'

# Only the SQL-callable functions, _PG_init and the worker's entry point are
# exported (PGDLLEXPORT); names like http_start stay inside the library.
# PostgreSQL 16 and later do this themselves; 15 needs it spelled out.
PG_CFLAGS += -fvisibility=hidden
PG_CPPFLAGS += -DPGDLLEXPORT='__attribute__((visibility("default")))'

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS knows no header dependencies: rebuild everything when one changes.
$(OBJS): $(wildcard src/*.h) $(EXTENSION).control
