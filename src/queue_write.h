/*-------------------------------------------------------------------------
 *
 * queue_write.h
 *	  Writing outbox rows from the capture trigger (queue_write.c), and
 *	  running as the extension's owner.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_QUEUE_WRITE_H
#define DIRECTUS_SYNC_QUEUE_WRITE_H

#include "directus_sync.h"

/* A user and security context saved by become_owner. */
typedef struct AsOwner
{
	Oid			saved_user;
	int			saved_context;
	int			guc_level;
} AsOwner;

extern void queue_write_invalidate(Oid relid);
extern int64 queue_write_change(int remote_id, text *collection, const char *key,
								SyncOp op, const char *payload);
extern void become_owner(AsOwner *as);
extern void restore_user(AsOwner *as);

#endif							/* DIRECTUS_SYNC_QUEUE_WRITE_H */
