/*-------------------------------------------------------------------------
 *
 * capture.h
 *	  The capture trigger (capture.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_CAPTURE_H
#define DIRECTUS_SYNC_CAPTURE_H

#include "access/htup.h"
#include "fmgr.h"

/* A column as it goes into a payload. */
typedef struct CaptureField
{
	AttrNumber	attnum;
	char	   *name;			/* the column's name */
	char	   *json_name;		/* "name": already escaped */
	int16		typlen;
	bool		typbyval;
	FmgrInfo	to_json;		/* to_json() bound to the column's type */
	bool		exact_numbers;	/* bigint or numeric: quote what a double cannot hold */
	bool		json_column;	/* json or jsonb: a JSON string in it goes encoded */
} CaptureField;

/* The column that carries an item's clocks (clock_row.c). */
#define CLOCK_COLUMN "directus_sync_meta"

extern void capture_invalidate(Oid relid);
extern bool capture_field_changed(const CaptureField *field, HeapTuple old, HeapTuple new, TupleDesc desc);

#endif							/* DIRECTUS_SYNC_CAPTURE_H */
