/*-------------------------------------------------------------------------
 *
 * queue_mark.h
 *	  Where the scan of each remote's queue starts (queue_mark.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_QUEUE_MARK_H
#define DIRECTUS_SYNC_QUEUE_MARK_H

#include "utils/snapshot.h"
#include "utils/timestamp.h"

/* No row: higher than every outbox id. */
#define QUEUE_NO_ID PG_INT64_MAX

extern int64 queue_mark_start(int remote_id, TimestampTz now);
extern void queue_mark_starts(TimestampTz now, Datum *remote_ids, Datum *starts);
extern void queue_mark_move(int remote_id, int64 start, int rows, int64 seen, Snapshot snap,
							TimestampTz now);
extern void queue_mark_forget(List *remote_ids);

#endif							/* DIRECTUS_SYNC_QUEUE_MARK_H */
