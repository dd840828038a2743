/*-------------------------------------------------------------------------
 *
 * clock_row.h
 *	  The clocks of an item's fields, kept in its row (clock_row.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_CLOCK_ROW_H
#define DIRECTUS_SYNC_CLOCK_ROW_H

#include "nodes/bitmapset.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"
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
	bool		compact;		/* a sync's "b" without "f": every column has that clock */
	char		sender[CLOCK_TEXT_LEN - CLOCK_STAMP_LEN];	/* "s", a node id; "" when not one */
} RowClocks;

/* What deciding a table's clocks needs (cached per table by capture.c). */
typedef struct ClockedTable
{
	AttrNumber	attnum;			/* the clock column; 0: the table has none */
	int			nfields;
	CaptureField *fields;		/* the fields local writes stamp: every subscribed one but the key */
	CaptureField *columns;		/* by attnum - 1; attnum 0: the key, the clock column, dropped */
	HTAB	   *columns_by_name;	/* of ClockedColumn: the columns that take clocks */
	int			ncolumns;		/* how many columns take clocks */
	bool		delete_wins;	/* a delete beats every write of the item it deleted */
} ClockedTable;

/* An entry of ClockedTable.columns_by_name. */
typedef struct ClockedColumn
{
	char		name[NAMEDATALEN];	/* hash key */
	const CaptureField *field;
} ClockedColumn;

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

extern HTAB *clock_row_columns_by_name(CaptureField *columns, int ncolumns, MemoryContext cxt);
extern RowClocks clock_row_read(HeapTuple tuple, AttrNumber attnum, TupleDesc desc);
extern bool clock_row_get(JsonbContainer *object, const char *name, char *out);
extern HeapTuple clock_row_before(Relation rel, const ClockedTable *table, HeapTuple old, HeapTuple new,
								  const Bitmapset *set_columns, const char *item, const char *activity_item,
								  int signer, char *deleted, List **conflicts);
extern int	clock_row_signer(Relation rel, const ClockedTable *table, HeapTuple new, const char *item);
extern bool clock_row_is_tombstone(Relation rel, const ClockedTable *table, HeapTuple new, char *clock,
								   char *born, char *swept);
extern bool clock_row_keep_tombstone(Relation rel, const char *item, const char *activity_item,
									 int signer, const char *clock, const char *born, const char *swept);
extern void clock_row_alive(const RowClocks *stored, char *out);
extern void clock_row_delete_clock(HeapTuple old, AttrNumber clock_attnum, TupleDesc desc, char *out);

#endif							/* DIRECTUS_SYNC_CLOCK_ROW_H */
