/*-------------------------------------------------------------------------
 *
 * key_series.c
 *	  Keeping an instance's key series ahead of the keys written with an
 *	  explicit value.
 *
 * enable_clocks gives an integer key a series of this instance's own
 * (directus_sync._key_series): a sequence <table>_directus_sync_keys, which
 * the column does not own, stepping by the number of instances. A create
 * that brings its key (an import, Directus's POST with an id, a sync's
 * create) leaves the series where it is: Directus moves only the column's
 * own sequence (pg_get_serial_sequence), which is not the series. When that
 * key is one the series would hand out later, the series would hand it out
 * again, and that create would fail (RECORD_NOT_UNIQUE).
 *
 * So the BEFORE row trigger of a table with clocks (capture.c) passes the
 * series past every key that is written and that the series would still
 * hand out: a key of its residue (key = last_value + j * increment), ahead
 * of it. Keys of other instances' residues need nothing: this series never
 * hands them out; nor keys behind it.
 *
 * Race-free without waiting: the check and the move are done as nextval and
 * setval do them, with the sequence's page locked exclusively (the lock
 * nextval takes, for microseconds), so no nextval can run between reading
 * the series and moving it; the series only ever moves forward here. This
 * is setval's own code (sequence.c, do_setval), done only when the key is
 * ahead: setval itself would have to read first and move later, and could
 * move the series back past keys a concurrent nextval handed out meanwhile.
 * Like setval, it is not transactional: a rolled-back insert leaves the
 * series moved, which only skips keys.
 *
 * No privilege is checked: the writer already has the right to write the
 * row (INSERT, or UPDATE of the key), and the series only moves past that
 * key. The series needs CACHE 1 (_key_series sets it): values a backend
 * cached are taken from the sequence already and would not be seen here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "access/xloginsert.h"
#include "catalog/pg_class.h"
#include "catalog/pg_sequence.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "key_series.h"

/* The special space of a sequence's page (sequence.c: sequence_magic). */
#define SEQUENCE_PAGE_MAGIC 0x1717

typedef struct SequencePageMagic
{
	uint32		magic;
} SequencePageMagic;

/* The relation whose changes a sequence WAL record redoes (renamed in 16). */
#if PG_VERSION_NUM >= 160000
#define SET_SEQ_REC_RELATION(xlrec, rel) ((xlrec).locator = (rel)->rd_locator)
#else
#define SET_SEQ_REC_RELATION(xlrec, rel) ((xlrec).node = (rel)->rd_node)
#endif

/*
 * The key series of rel's key column: the sequence named
 * <table>_directus_sync_keys that the column's default depends on, of the
 * table's owner (as _key_series makes it and set_instance finds it). Read
 * with the latest snapshot, as the rest of capture.c's cache. The caller
 * is connected to SPI.
 */
KeySeries
key_series_find(Relation rel, AttrNumber key_attnum)
{
	KeySeries	series;
	Oid			types[2] = {OIDOID, INT2OID};
	Datum		values[2];
	SPIPlanPtr	plan;
	int			rc;

	memset(&series, 0, sizeof(series));
	series.attnum = key_attnum;
	series.type = getBaseType(TupleDescAttr(RelationGetDescr(rel), key_attnum - 1)->atttypid);
	if (series.type != INT2OID && series.type != INT4OID && series.type != INT8OID)
		return series;
	plan = SPI_prepare("SELECT s.oid"
					   "  FROM pg_catalog.pg_attrdef d"
					   "  JOIN pg_catalog.pg_depend dep"
					   "    ON dep.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND dep.objid = d.oid"
					   "   AND dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
					   "  JOIN pg_catalog.pg_class s ON s.oid = dep.refobjid"
					   "  JOIN pg_catalog.pg_class t ON t.oid = d.adrelid"
					   " WHERE d.adrelid = $1 AND d.adnum = $2 AND s.relkind = 'S'"
					   "   AND s.relowner = t.relowner"
					   "   AND s.relname OPERATOR(pg_catalog.~~) '%\\_directus\\_sync\\_keys'",
					   2, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare the query of the key series of table \"%s\": %s",
			 RelationGetRelationName(rel), SPI_result_code_string(SPI_result));
	values[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	values[1] = Int16GetDatum(key_attnum);
	rc = SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(), InvalidSnapshot, true, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the key series of table \"%s\": %s",
			 RelationGetRelationName(rel), SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		bool		isnull;

		series.seq = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_freeplan(plan);
	return series;
}

/*
 * Whether the series, at last_value (handed out when is_called), would
 * still hand out key: one of its keys, ahead of it. The difference is taken
 * unsigned: key >= last_value, so it fits whatever their signs.
 */
static bool
would_hand_out(int64 last_value, bool is_called, int64 increment, int64 key)
{
	if (is_called ? key <= last_value : key < last_value)
		return false;
	return ((uint64) key - (uint64) last_value) % (uint64) increment == 0;
}

/* The key of tuple as int64; false when it is NULL. */
static bool
key_of(const KeySeries *series, Relation rel, HeapTuple tuple, int64 *key)
{
	bool		isnull;
	Datum		value = heap_getattr(tuple, series->attnum, RelationGetDescr(rel), &isnull);

	if (isnull)
		return false;
	if (series->type == INT2OID)
		*key = DatumGetInt16(value);
	else if (series->type == INT4OID)
		*key = DatumGetInt32(value);
	else
		*key = DatumGetInt64(value);
	return true;
}

/*
 * Moves rel's key series past the key of tuple (an inserted row, or one
 * whose key changed) when the series would still hand that key out.
 */
void
key_series_pass(const KeySeries *series, Relation rel, HeapTuple tuple)
{
	int64		key;
	Relation	seqrel;
	HeapTuple	pgstuple;
	int64		increment;
	int64		max_value;
	Buffer		buf;
	Page		page;
	ItemId		lp;
	HeapTupleData seqtuple;
	Form_pg_sequence_data seq;

	if (!OidIsValid(series->seq) || !key_of(series, rel, tuple, &key))
		return;
	/* the lock nextval takes, kept to the end of the transaction as it does */
	seqrel = try_relation_open(series->seq, RowExclusiveLock);
	if (seqrel == NULL)
		return;
	if (seqrel->rd_rel->relkind != RELKIND_SEQUENCE)
	{
		relation_close(seqrel, RowExclusiveLock);
		return;
	}
	pgstuple = SearchSysCache1(SEQRELID, ObjectIdGetDatum(series->seq));
	if (!HeapTupleIsValid(pgstuple))
		elog(ERROR, "cache lookup failed for sequence %u", series->seq);
	increment = ((Form_pg_sequence) GETSTRUCT(pgstuple))->seqincrement;
	max_value = ((Form_pg_sequence) GETSTRUCT(pgstuple))->seqmax;
	ReleaseSysCache(pgstuple);
	/* a descending series, or a key it never reaches: nothing to pass */
	if (increment <= 0 || key > max_value)
	{
		relation_close(seqrel, NoLock);
		return;
	}

	/*
	 * The sequence's WAL must reach disk before a commit that used it: the
	 * transaction gets its id now, as setval does, and not under the page
	 * lock.
	 */
	if (RelationNeedsWAL(seqrel))
		(void) GetTopTransactionId();

	/* as sequence.c's read_seq_tuple: the page locked, its one tuple */
	buf = ReadBuffer(seqrel, 0);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	if (((SequencePageMagic *) PageGetSpecialPointer(page))->magic != SEQUENCE_PAGE_MAGIC)
		elog(ERROR, "bad magic number in sequence \"%s\": %08X", RelationGetRelationName(seqrel),
			 ((SequencePageMagic *) PageGetSpecialPointer(page))->magic);
	lp = PageGetItemId(page, FirstOffsetNumber);
	Assert(ItemIdIsNormal(lp));
	seqtuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
	seqtuple.t_len = ItemIdGetLength(lp);
	seq = (Form_pg_sequence_data) GETSTRUCT(&seqtuple);

	if (would_hand_out(seq->last_value, seq->is_called, increment, key))
	{
		/* as do_setval(seq, key, true) */
		START_CRIT_SECTION();
		seq->last_value = key;
		seq->is_called = true;
		seq->log_cnt = 0;
		MarkBufferDirty(buf);
		if (RelationNeedsWAL(seqrel))
		{
			xl_seq_rec	xlrec;
			XLogRecPtr	recptr;

			XLogBeginInsert();
			XLogRegisterBuffer(0, buf, REGBUF_WILL_INIT);
			SET_SEQ_REC_RELATION(xlrec, seqrel);
			XLogRegisterData((char *) &xlrec, sizeof(xl_seq_rec));
			XLogRegisterData((char *) seqtuple.t_data, seqtuple.t_len);
			recptr = XLogInsert(RM_SEQ_ID, XLOG_SEQ_LOG);
			PageSetLSN(page, recptr);
		}
		END_CRIT_SECTION();
	}
	UnlockReleaseBuffer(buf);
	relation_close(seqrel, NoLock);
}
