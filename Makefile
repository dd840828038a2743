# directus_sync: build with PGXS.
#   make && make install    build and install into the PostgreSQL that pg_config names
#   make installcheck       pg_regress (sql/) against a running server, then TAP (t/)
# scripts/test.sh does all of this, server included; see README.md.

EXTENSION = directus_sync
MODULE_big = directus_sync
OBJS = src/directus_sync.o src/map_guard.o src/capture.o src/worker.o src/keyhash.o \
       src/outbox.o src/http.o src/directus.o
DATA = directus_sync--0.1.sql directus_sync--0.1--0.2.sql
PGFILEDESC = "directus_sync - Directus SyncID map and replication inside PostgreSQL"

REGRESS = adopt map_api map_input map_bulk privileges permissions drop_keeps_map \
          replication_config replication_capture upgrade
ISOLATION = concurrent_create
TAP_TESTS = 1

PG_CONFIG ?= pg_config

# libcurl carries the replication worker's HTTP. Nothing calls it yet, so
# --as-needed (Debian's default) leaves it out of the library until then.
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

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS knows no header dependencies: every file includes this one.
$(OBJS): src/directus_sync.h
