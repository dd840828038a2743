/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The replication worker (worker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_WORKER_H
#define DIRECTUS_SYNC_WORKER_H

extern PGDLLEXPORT void directus_sync_worker_main(Datum arg) pg_attribute_noreturn();

#endif							/* DIRECTUS_SYNC_WORKER_H */
