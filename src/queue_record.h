/*-------------------------------------------------------------------------
 *
 * queue_record.h
 *	  The outcome of a window, back into the database (queue_record.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_QUEUE_RECORD_H
#define DIRECTUS_SYNC_QUEUE_RECORD_H

#include "directus_sync.h"

extern void queue_record(SyncRemote *remote, List *items, const char *remote_error,
						 int retry_after_ms, bool answered, const int64 *clock_offset_ms,
						 const char *ping_error);

#endif							/* DIRECTUS_SYNC_QUEUE_RECORD_H */
