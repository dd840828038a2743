/*-------------------------------------------------------------------------
 *
 * clock_row.h
 *	  The clocks of an item's fields, kept in its row (clock_row.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_CLOCK_ROW_H
#define DIRECTUS_SYNC_CLOCK_ROW_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"

#include "capture.h"
#include "clock.h"

/* The decoded clock column of a row (NULL members: absent). */
typedef struct RowClocks
{
	JsonbContainer *root;
	JsonbContainer *fields;		/* "f" */
	JsonbContainer *prev;		/* "p" */
	bool		from_sync;		/* has "s": written by a sync */
	char		sender[CLOCK_TEXT_LEN - CLOCK_STAMP_LEN];	/* "s", a node id; "" when not one */
} RowClocks;

/* A conflict the clocks resolved, logged by the loop guard (loop_guard.c). */
typedef struct ClockConflict
{
	const char *kind;			/* update_update, update_delete, insert_insert */
	char	   *field;			/* NULL: the whole item */
	char	   *local_value;	/* JSON text; NULL: none */
	char	   *remote_value;
	char	   *local_clock;
	char	   *remote_clock;
	bool		remote_won;
} ClockConflict;

extern RowClocks clock_row_read(HeapTuple tuple, AttrNumber attnum, TupleDesc desc);
extern bool clock_row_get(JsonbContainer *object, const char *name, char *out);
extern HeapTuple clock_row_before(Relation rel, HeapTuple old, HeapTuple new, AttrNumber clock_attnum,
								  int nfields, const CaptureField *fields,
								  const CaptureField *columns, const char *item,
								  const char *activity_item, char *deleted, List **conflicts);
extern void clock_row_delete_clock(HeapTuple old, AttrNumber clock_attnum, TupleDesc desc, char *out);

#endif							/* DIRECTUS_SYNC_CLOCK_ROW_H */
