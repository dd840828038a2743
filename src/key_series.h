/*-------------------------------------------------------------------------
 *
 * key_series.h
 *	  Keeping an instance's key series ahead of the keys written with an
 *	  explicit value (key_series.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_KEY_SERIES_H
#define DIRECTUS_SYNC_KEY_SERIES_H

#include "access/attnum.h"
#include "access/htup.h"
#include "utils/relcache.h"

/* The key series of a table's key column, and how to read its keys. */
typedef struct KeySeries
{
	Oid			seq;			/* InvalidOid: the key has no series */
	AttrNumber	attnum;			/* the key column */
	Oid			type;			/* INT2OID, INT4OID or INT8OID (the base type) */
} KeySeries;

extern KeySeries key_series_find(Relation rel, AttrNumber key_attnum);
extern void key_series_pass(const KeySeries *series, Relation rel, HeapTuple tuple);

#endif							/* DIRECTUS_SYNC_KEY_SERIES_H */
