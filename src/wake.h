/*-------------------------------------------------------------------------
 *
 * wake.h
 *	  The shared memory that ties backends, the launcher and the
 *	  per-database workers together (wake.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_WAKE_H
#define DIRECTUS_SYNC_WAKE_H

#include "datatype/timestamp.h"

/* Backends */
extern void wake_register_callbacks(void);
extern void wake_at_commit(void);
extern bool wake_worker(Oid dboid);

/* Shared memory */
extern void wake_request_shmem(void);
extern void wake_startup_shmem(void);

/* The launcher */
extern void wake_attach_launcher(void);
extern void wake_set_database(int slot, Oid dboid);
extern bool wake_take_wanted(int slot);
extern bool wake_take_recheck(void);
extern TimestampTz wake_due(int slot);
extern void wake_set_due(int slot, TimestampTz due);

/* A worker */
extern void wake_attach_worker(int slot);
extern bool wake_detach_worker(int slot);
extern bool wake_version_reported(int slot, const char *version);

#endif							/* DIRECTUS_SYNC_WAKE_H */
