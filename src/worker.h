/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The replication worker (worker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_WORKER_H
#define DIRECTUS_SYNC_WORKER_H

#include "compat.h"

pg_noreturn extern PGDLLEXPORT void directus_sync_worker_main(Datum arg);

#endif							/* DIRECTUS_SYNC_WORKER_H */
