/*-------------------------------------------------------------------------
 *
 * queue_claim.h
 *	  What the worker takes from the outbox (queue_claim.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_QUEUE_CLAIM_H
#define DIRECTUS_SYNC_QUEUE_CLAIM_H

#include "directus_sync.h"

extern List *queue_ready_remotes(List *busy_ids, long *next_retry_ms);
extern SyncRemote *queue_claim(int remote_id, List **items);
extern List *queue_current_rows(SyncRemote *remote, SyncSubscription *sub, List *keys);

#endif							/* DIRECTUS_SYNC_QUEUE_CLAIM_H */
