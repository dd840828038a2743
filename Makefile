# directus_sync: build with PGXS.
#   make && make install    build and install into the PostgreSQL that pg_config names
#   make installcheck       pg_regress (sql/) against a running server, then TAP (t/)
# scripts/test.sh does all of this, server included; see README.md.

EXTENSION = directus_sync
MODULE_big = directus_sync
OBJS = src/directus_sync.o src/map_guard.o
DATA = directus_sync--0.1.sql
PGFILEDESC = "directus_sync - Directus SyncID map and replication inside PostgreSQL"

REGRESS = adopt map_api map_input map_bulk privileges permissions drop_keeps_map
TAP_TESTS = 1

PG_CONFIG ?= pg_config

# libcurl carries the replication worker's HTTP; linked from the start so the
# shared library's dependencies do not change between releases.
PG_CPPFLAGS += $(shell curl-config --cflags)
SHLIB_LINK += $(shell curl-config --libs)

PG_CFLAGS += -Wall -Wextra
# The server headers are not -Wextra clean (unused parameters in inline
# functions); included as system headers they stay quiet while ours is checked.
PG_CPPFLAGS += -isystem $(shell $(PG_CONFIG) --includedir-server)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
