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
	Oid			base_type;		/* the type, domains looked through */
	char		render;			/* how capture renders it (capture.c) */
	bool		exact_numbers;	/* bigint or numeric: quote what a double cannot hold */
	bool		json_column;	/* json or jsonb: a JSON string in it goes encoded */
} CaptureField;

/* The column that carries an item's clocks (clock_row.c). */
#define CLOCK_COLUMN "directus_sync_meta"

/*
 * A row's columns, deformed once: heap_getattr walks a wide row from its
 * first column for each column after a null or variable-length one.
 */
typedef struct ItemRow
{
	HeapTuple	tuple;
	Datum	   *values;			/* by attnum - 1 */
	bool	   *nulls;
} ItemRow;

extern void capture_invalidate(Oid relid);
extern ItemRow *capture_row(HeapTuple tuple, TupleDesc desc);
extern bool capture_field_changed(const CaptureField *field, const ItemRow *old, const ItemRow *new);

#endif							/* DIRECTUS_SYNC_CAPTURE_H */
