/*-------------------------------------------------------------------------
 *
 * queue_coalesce.h
 *	  Folding an item's queued rows into one change (queue_coalesce.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_QUEUE_COALESCE_H
#define DIRECTUS_SYNC_QUEUE_COALESCE_H

#include "directus_sync.h"

/* A queued row as the claim read it. */
typedef struct QueuedRow
{
	int64		id;
	char	   *collection;
	char	   *key;
	SyncOp		op;
	char	   *payload;
	int			attempts;		/* failed attempts of this row's item so far */
	bool		maybe_sent;		/* sent before: may have arrived */
	bool		backing_off;	/* retry_at is still to come */
} QueuedRow;

extern SyncItem *coalesce_rows(SyncRemote *remote, QueuedRow *rows, int nrows, int *folded);

/*
 * Walking JSON text as capture writes it, without parsing or de-escaping
 * (also used by hold_back.c): each returns the position after what starts
 * at p, NULL when it does not end.
 */
extern const char *jtext_skip_space(const char *p);
extern const char *jtext_skip_string(const char *p);
extern const char *jtext_skip_value(const char *p);

/*
 * Calls visit for each member of the JSON object at p, with its name (as
 * written, quotes included) and value; false if p is no object.
 */
typedef void (*MemberVisit) (const char *name, int name_len, const char *value, int value_len, void *arg);
extern bool jtext_each_member(const char *p, MemberVisit visit, void *arg);

#endif							/* DIRECTUS_SYNC_QUEUE_COALESCE_H */
