/*-------------------------------------------------------------------------
 *
 * hold_back.h
 *	  Changes whose clocks the remote would refuse wait (hold_back.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_HOLD_BACK_H
#define DIRECTUS_SYNC_HOLD_BACK_H

#include "nodes/pg_list.h"

#include "directus_sync.h"

/*
 * Changes held back this long go, one at a time, as probes of the estimate;
 * then again after as long as they have been held, at most the max.
 */
#define HOLD_PROBE_FIRST_MS 60000
#define HOLD_PROBE_MAX_MS 600000

extern bool hold_back_trusts_date(const SyncRemote *remote, int64 offset_ms);
extern int64 hold_back_taken_offset(List *items);
extern int	hold_back_items(List *items, int64 offset_ms, bool probe);
extern bool hold_back_refused(List *items, int64 offset_ms);
extern char *hold_back_reason(int n, int64 offset_ms);

#endif							/* DIRECTUS_SYNC_HOLD_BACK_H */
