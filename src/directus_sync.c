/*-------------------------------------------------------------------------
 *
 * directus_sync.c
 *	  Module entry point: what happens when the shared library is loaded.
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

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/*
	 * Settings under directus_sync.* belong to this module: a misspelled one
	 * in postgresql.conf or SET is reported instead of silently ignored.
	 */
	MarkGUCPrefixReserved("directus_sync");
}
