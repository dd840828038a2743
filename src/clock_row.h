/*-------------------------------------------------------------------------
 *
 * clock_row.h
 *	  The clocks of an item's fields, kept in its row (clock_row.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_CLOCK_ROW_H
#define DIRECTUS_SYNC_CLOCK_ROW_H

#include "utils/jsonb.h"
#include "utils/relcache.h"

#include "capture.h"

/* The decoded clock column of a row (NULL members: absent). */
typedef struct RowClocks
{
	JsonbContainer *root;
	JsonbContainer *fields;		/* "f" */
	bool		from_sync;		/* has "s": written by a sync */
} RowClocks;

extern RowClocks clock_row_read(HeapTuple tuple, AttrNumber attnum, TupleDesc desc);
extern bool clock_row_get(JsonbContainer *object, const char *name, char *out);
extern HeapTuple clock_row_before(Relation rel, HeapTuple old, HeapTuple new, AttrNumber clock_attnum,
								  int nfields, const CaptureField *fields, const char *item);

#endif							/* DIRECTUS_SYNC_CLOCK_ROW_H */
