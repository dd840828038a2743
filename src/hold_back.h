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

extern int	hold_back_items(List *items, int64 offset_ms);
extern bool hold_back_refused(List *items, int64 offset_ms);
extern char *hold_back_reason(int n, int64 offset_ms);

#endif							/* DIRECTUS_SYNC_HOLD_BACK_H */
