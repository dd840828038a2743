/*-------------------------------------------------------------------------
 *
 * directus_sync.c
 *	  Module entry point: the settings, defined when the library is loaded.
 *
 * The library can be loaded two ways: on demand, the first time a backend
 * calls one of its C functions, or at server start through
 * shared_preload_libraries. The replication worker will need the latter;
 * everything in this file must therefore be safe to run in the postmaster.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "directus_sync.h"

PG_MODULE_MAGIC;

bool		keep_map_on_drop_setting = true;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomBoolVariable("directus_sync.keep_map_on_drop",
							 "Keeps the SyncID map table and its rows when the extension is dropped.",
							 "Turn off only to let DROP EXTENSION drop the mappings, as pg_restore --clean must.",
							 &keep_map_on_drop_setting,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	/*
	 * Settings under directus_sync.* belong to this module: a misspelled one
	 * in postgresql.conf or SET is reported instead of silently ignored.
	 */
	MarkGUCPrefixReserved("directus_sync");
}
