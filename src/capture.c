/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  The capture trigger: what a change of a subscribed table queues.
 *
 * directus_sync._capture() is an AFTER ROW trigger on each subscribed
 * table. For every enabled remote that subscribes to the table it queues one
 * outbox row in the changing transaction (queue_write.c): on insert the key
 * and the subscribed fields, on update the key and the subscribed fields
 * whose value changed (nothing if none did), on delete the key. A value has
 * changed when its bytes have, detoasted: not when an out-of-line value was
 * merely written again. Values are rendered by PostgreSQL's to_json, as
 * Directus's REST API renders them: numbers, booleans, ISO timestamps, json
 * as JSON, uuid as a string. A key that is NaN or infinite is refused.
 *
 * What a table's trigger needs (its subscriptions, attribute numbers,
 * rendering functions) is cached per backend and rebuilt after a relcache
 * invalidation of the table, which every configuration change sends
 * (directus_sync._invalidate).
 *
 * While any remote has an inbound user, the rows queued are also handed to
 * the loop guard (loop_guard.c); at commit the worker is woken (wake.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"

#include "capture.h"
#include "clock.h"
#include "clock_row.h"
#include "directus_sync.h"
#include "directus_wire.h"
#include "key_series.h"
#include "loop_guard.h"
#include "queue_write.h"
#include "tombstone.h"
#include "wake.h"

DIRECTUS_SYNC_FUNCTION(directus_sync_capture);
DIRECTUS_SYNC_FUNCTION(directus_sync_invalidate);

typedef struct CaptureSub
{
	int			remote_id;
	text	   *collection;
	bool		singleton;
	bool		paused;			/* queue, but do not wake the worker */
	int			nfields;
	CaptureField *fields;		/* the key first, unless a singleton */
} CaptureSub;

typedef struct CaptureTable
{
	Oid			relid;			/* hash key */
	bool		valid;
	MemoryContext cxt;
	CaptureField key;
	FmgrInfo	key_out;		/* the key's text form, for item_key */
	bool		key_may_be_nonfinite;	/* numeric or float: NaN, Infinity */
	int			nsubs;
	CaptureSub *subs;
	bool		tell_loop_guard;	/* a remote has an inbound user */
	ClockedTable clocks;		/* clocks.attnum 0: a table without clocks */
	KeySeries	key_series;		/* with clocks: the key's series, if any (key_series.c) */
} CaptureTable;

static HTAB *capture_tables = NULL;

/* ----------------------------------------------------------------
 * The per-table cache
 * ---------------------------------------------------------------- */

/* A relcache invalidation of relid (InvalidOid: of everything). */
void
capture_invalidate(Oid relid)
{
	HASH_SEQ_STATUS status;
	CaptureTable *table;

	if (capture_tables == NULL)
		return;
	hash_seq_init(&status, capture_tables);
	while ((table = hash_seq_search(&status)) != NULL)
		if (relid == InvalidOid || table->relid == relid)
			table->valid = false;
}

/*
 * How append_value renders a column's values: the types Directus's
 * collections mostly have are rendered here, exactly as to_json renders
 * them (datum_to_json: booleans and integers bare, text escaped, dates and
 * timestamps in ISO form); to_json looks up the type's category and output
 * function for each value, which cost as much as the rendering. Built-in
 * types only: a type of its own may have a cast to json, which to_json
 * would use.
 */
#define RENDER_TO_JSON	'j'
#define RENDER_BOOL		'b'
#define RENDER_INT2		'2'
#define RENDER_INT4		'4'
#define RENDER_INT8		'8'
#define RENDER_TEXT		't'
#define RENDER_DATETIME	'd'

static char
render_of(Oid base_type)
{
	switch (base_type)
	{
		case BOOLOID:
			return RENDER_BOOL;
		case INT2OID:
			return RENDER_INT2;
		case INT4OID:
			return RENDER_INT4;
		case INT8OID:
			return RENDER_INT8;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return RENDER_TEXT;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return RENDER_DATETIME;
		default:
			return RENDER_TO_JSON;
	}
}

static void
init_field(CaptureField *field, Relation rel, AttrNumber attnum, MemoryContext cxt)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
	StringInfoData name;
	MemoryContext old = MemoryContextSwitchTo(cxt);

	field->attnum = attnum;
	field->name = pstrdup(NameStr(att->attname));
	field->typlen = att->attlen;
	field->typbyval = att->attbyval;
	field->exact_numbers = getBaseType(att->atttypid) == INT8OID ||
		getBaseType(att->atttypid) == NUMERICOID;
	field->json_column = getBaseType(att->atttypid) == JSONOID ||
		getBaseType(att->atttypid) == JSONBOID;
	field->base_type = getBaseType(att->atttypid);
	field->render = render_of(field->base_type);
	initStringInfo(&name);
	escape_json(&name, NameStr(att->attname));
	appendStringInfoChar(&name, ':');
	field->json_name = name.data;

	/* to_json finds the argument's type in the call expression */
	fmgr_info_cxt(F_TO_JSON, &field->to_json, cxt);
	fmgr_info_set_expr((Node *) makeFuncExpr(F_TO_JSON, JSONOID,
											 list_make1(makeNullConst(att->atttypid, att->atttypmod,
																	  att->attcollation)),
											 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL),
					   &field->to_json);
	MemoryContextSwitchTo(old);
}

/* The key first (unless a singleton), then the subscribed fields that still exist. */
static void
init_sub_fields(CaptureTable *table, CaptureSub *sub, Relation rel, ArrayType *names)
{
	Datum	   *name_datums;
	int			nnames;

	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &name_datums, NULL, &nnames);
	sub->fields = MemoryContextAllocZero(table->cxt, sizeof(CaptureField) * (nnames + 1));
	if (!sub->singleton)
		sub->fields[sub->nfields++] = table->key;
	for (int f = 0; f < nnames; f++)
	{
		char	   *name = TextDatumGetCString(name_datums[f]);
		AttrNumber	attnum = SPI_fnumber(RelationGetDescr(rel), name);

		/* a dropped or renamed column is left out until subscribed again */
		if (attnum <= 0 || (attnum == table->key.attnum && !sub->singleton))
			continue;
		init_field(&sub->fields[sub->nfields++], rel, attnum, table->cxt);
	}
}

/*
 * Reads configuration for the cache with the latest snapshot: a REPEATABLE
 * READ transaction that began before a change of it would otherwise cache
 * what was before, and no later invalidation would correct it.
 */
static void
read_config(const char *sql, Oid type, Datum value, Relation rel)
{
	SPIPlanPtr	plan = SPI_prepare(sql, 1, &type);
	int			rc;

	if (plan == NULL)
		elog(ERROR, "could not prepare a query of the configuration of table \"%s\": %s",
			 RelationGetRelationName(rel), SPI_result_code_string(SPI_result));
	rc = SPI_execute_snapshot(plan, &value, NULL, GetLatestSnapshot(), InvalidSnapshot, true, false, 0);
	/* a failing query throws: another result is a bug */
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the configuration of table \"%s\": %s",
			 RelationGetRelationName(rel), SPI_result_code_string(rc));
	SPI_freeplan(plan);
}

static void
load_subscriptions(CaptureTable *table, Relation rel)
{
	SPITupleTable *tuptable;

	read_config("SELECT s.remote_id, s.collection, s.singleton, s.fields,"
				"       EXISTS (SELECT FROM directus_sync.remote i WHERE i.inbound_user IS NOT NULL),"
				"       r.paused"
				"  FROM directus_sync.subscription s JOIN directus_sync.remote r ON r.id = s.remote_id"
				" WHERE s.relid = $1 AND r.enabled ORDER BY s.remote_id",
				OIDOID, ObjectIdGetDatum(table->relid), rel);
	tuptable = SPI_tuptable;
	table->nsubs = (int) SPI_processed;
	table->subs = MemoryContextAllocZero(table->cxt, sizeof(CaptureSub) * Max(table->nsubs, 1));
	for (int i = 0; i < table->nsubs; i++)
	{
		HeapTuple	tup = tuptable->vals[i];
		TupleDesc	desc = tuptable->tupdesc;
		CaptureSub *sub = &table->subs[i];
		bool		isnull;
		MemoryContext old;

		sub->remote_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		old = MemoryContextSwitchTo(table->cxt);
		sub->collection = DatumGetTextPCopy(SPI_getbinval(tup, desc, 2, &isnull));
		MemoryContextSwitchTo(old);
		sub->singleton = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		sub->paused = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		table->tell_loop_guard = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		init_sub_fields(table, sub, rel, DatumGetArrayTypeP(SPI_getbinval(tup, desc, 4, &isnull)));
	}
}

/*
 * The clock column, every column a sync may bring a clock for, and the
 * fields that local writes stamp: those of every subscription, of remotes
 * disabled too (a remote enabled again must not meet rows whose clocks a
 * write in between dropped), the key left out (it names the item).
 */
static void
init_clocked(CaptureTable *table, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	table->clocks.attnum = SPI_fnumber(desc, CLOCK_COLUMN);
	if (table->clocks.attnum <= 0 || TupleDescAttr(desc, table->clocks.attnum - 1)->atttypid != JSONBOID)
	{
		table->clocks.attnum = 0;
		return;
	}
	table->clocks.columns = MemoryContextAllocZero(table->cxt, sizeof(CaptureField) * Max(desc->natts, 1));
	for (AttrNumber att = 1; att <= desc->natts; att++)
	{
		if (att != table->key.attnum && att != table->clocks.attnum && !TupleDescAttr(desc, att - 1)->attisdropped)
		{
			init_field(&table->clocks.columns[att - 1], rel, att, table->cxt);
			table->clocks.ncolumns++;
		}
	}
	table->clocks.columns_by_name = clock_row_columns_by_name(table->clocks.columns, desc->natts, table->cxt);
	read_config("SELECT DISTINCT f FROM directus_sync.subscription, unnest(fields) AS f WHERE relid = $1",
				OIDOID, ObjectIdGetDatum(table->relid), rel);
	table->clocks.fields = MemoryContextAllocZero(table->cxt, sizeof(CaptureField) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		AttrNumber	att = SPI_fnumber(desc, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));

		if (att > 0 && table->clocks.columns[att - 1].attnum != 0)
			table->clocks.fields[table->clocks.nfields++] = table->clocks.columns[att - 1];
	}

	read_config("SELECT delete_wins FROM directus_sync.clocked_collection WHERE collection = $1",
				TEXTOID, CStringGetTextDatum(RelationGetRelationName(rel)), rel);
	if (SPI_processed == 1)
	{
		bool		isnull;

		table->clocks.delete_wins = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
}

/* The key column and its text output function. */
static void
init_key(CaptureTable *table, Relation rel)
{
	Bitmapset  *pk = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	Oid			type;
	Oid			outfunc;
	bool		varlena;

	if (bms_num_members(pk) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no single-column primary key", RelationGetRelationName(rel)),
				 errdetail("directus_sync addresses items by a primary key of one column.")));
	init_field(&table->key, rel, bms_next_member(pk, -1) + FirstLowInvalidHeapAttributeNumber,
			   table->cxt);
	type = TupleDescAttr(RelationGetDescr(rel), table->key.attnum - 1)->atttypid;
	getTypeOutputInfo(type, &outfunc, &varlena);
	fmgr_info_cxt(outfunc, &table->key_out, table->cxt);
	type = getBaseType(type);
	table->key_may_be_nonfinite = type == NUMERICOID || type == FLOAT4OID || type == FLOAT8OID;
}

static CaptureTable *
capture_table(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	CaptureTable *table;
	bool		found;

	if (capture_tables == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CaptureTable);
		ctl.hcxt = CacheMemoryContext;
		capture_tables = hash_create("directus_sync capture tables", 32, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	table = hash_search(capture_tables, &relid, HASH_ENTER, &found);
	if (found && table->valid)
		return table;
	if (found)
		MemoryContextDelete(table->cxt);
	table->valid = false;
	table->cxt = AllocSetContextCreate(CacheMemoryContext, "directus_sync capture table",
									   ALLOCSET_SMALL_SIZES);
	table->nsubs = 0;
	table->tell_loop_guard = false;
	memset(&table->clocks, 0, sizeof(table->clocks));
	memset(&table->key_series, 0, sizeof(table->key_series));
	init_key(table, rel);

	/*
	 * Valid from before the build: an invalidation that arrives while it
	 * runs (its queries take locks, which processes them) clears this and
	 * the next row builds again.
	 */
	table->valid = true;
	PG_TRY();
	{
		AsOwner		as;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		become_owner(&as);
		load_subscriptions(table, rel);
		init_clocked(table, rel);
		if (table->clocks.attnum != 0)
		{
			(void) clock_node();	/* loaded as the owner, for clock texts */
			table->key_series = key_series_find(rel, table->key.attnum);
		}
		restore_user(&as);
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
	}
	PG_CATCH();
	{
		table->valid = false;
		PG_RE_THROW();
	}
	PG_END_TRY();
	return table;
}

/* ----------------------------------------------------------------
 * Rendering and queuing
 * ---------------------------------------------------------------- */

/* Whether JSON text is a string (json keeps the whitespace it was given before it). */
static bool
is_json_string(const char *data, int len)
{
	int			i = 0;

	while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
		i++;
	return i < len && data[i] == '"';
}

/* The row's columns (NULL for no row), deformed once. */
ItemRow *
capture_row(HeapTuple tuple, TupleDesc desc)
{
	ItemRow    *row;

	if (tuple == NULL)
		return NULL;
	row = palloc(sizeof(ItemRow));
	row->tuple = tuple;
	row->values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	row->nulls = palloc(sizeof(bool) * Max(desc->natts, 1));
	/* (columns added after the row was written take their defaults, as with heap_getattr) */
	heap_deform_tuple(tuple, desc, row->values, row->nulls);
	return row;
}

static void
append_value(StringInfo buf, CaptureField *field, Datum value, bool isnull)
{
	if (buf->len > 1)
		appendStringInfoChar(buf, ',');
	appendStringInfoString(buf, field->json_name);
	if (isnull)
		appendStringInfoString(buf, "null");
	else
	{
		char		scratch[MAXDATELEN + 1];
		text	   *json = NULL;
		const char *data;
		int			len;

		switch (field->render)
		{
			case RENDER_TEXT:
				escape_json(buf, TextDatumGetCString(value));
				return;
			case RENDER_DATETIME:
				appendStringInfoChar(buf, '"');
				appendStringInfoString(buf, JsonEncodeDateTime(scratch, value, field->base_type, NULL));
				appendStringInfoChar(buf, '"');
				return;
			case RENDER_BOOL:
				data = DatumGetBool(value) ? "true" : "false";
				len = strlen(data);
				break;
			case RENDER_INT2:
				len = pg_ltoa(DatumGetInt16(value), scratch);
				data = scratch;
				break;
			case RENDER_INT4:
				len = pg_ltoa(DatumGetInt32(value), scratch);
				data = scratch;
				break;
			case RENDER_INT8:
				len = pg_lltoa(DatumGetInt64(value), scratch);
				data = scratch;
				break;
			default:
				json = DatumGetTextPP(FunctionCall1(&field->to_json, value));
				data = VARDATA_ANY(json);
				len = VARSIZE_ANY_EXHDR(json);
				break;
		}

		/* Directus reads JSON numbers as doubles: 2^53 + 1 would arrive as 2^53 */
		if (field->exact_numbers && len > 0 && data[0] != '"' && !directus_exact_number(data, len))
		{
			appendStringInfoChar(buf, '"');
			appendBinaryStringInfo(buf, data, len);
			appendStringInfoChar(buf, '"');
		}

		/*
		 * Directus hands a string given for a json field to PostgreSQL as the
		 * field's JSON text: a JSON string value must go as the string of its
		 * JSON text ("\"text\""), or it arrives as invalid JSON.
		 */
		else if (field->json_column && is_json_string(data, len))
			escape_json(buf, text_to_cstring(json));	/* (json: rendered by to_json) */
		else
			appendBinaryStringInfo(buf, data, len);
	}
}

static void
append_field(StringInfo buf, CaptureField *field, const ItemRow *row)
{
	append_value(buf, field, row->values[field->attnum - 1], row->nulls[field->attnum - 1]);
}

bool
capture_field_changed(const CaptureField *field, const ItemRow *old, const ItemRow *new)
{
	bool		old_null = old->nulls[field->attnum - 1];
	bool		new_null = new->nulls[field->attnum - 1];
	Datum		a = old->values[field->attnum - 1];
	Datum		b = new->values[field->attnum - 1];

	if (old_null || new_null)
		return old_null != new_null;

	/*
	 * Equal images: datumIsEqual compares out-of-line values by their TOAST
	 * pointers, and the same text written again (SET body = body || '') gets
	 * a new one. Identical datums (an untouched column keeps its pointer)
	 * are equal without fetching; datum_image_eq compares the sizes, then
	 * the detoasted contents.
	 */
	if (datumIsEqual(a, b, field->typbyval, field->typlen))
		return false;
	return !datum_image_eq(a, b, field->typbyval, field->typlen);
}

/* The clocks of a row's change, for a table with clocks. */
typedef struct ChangeClocks
{
	RowClocks	new;
	RowClocks	old;			/* all NULL for an insert */
	int			ncolumns;		/* how many columns of the table take clocks */
	char		alive[CLOCK_TEXT_LEN + 1];	/* the new row's alive clock (clock_row_alive) */
	char		swept[CLOCK_TEXT_LEN + 1];	/* the sweep a sync's item came with, news here: "" none */
} ChangeClocks;

/* The clocks of a change of a table with clocks from tuple (and old, NULL for an insert). */
static void
read_change_clocks(ChangeClocks *clocks, CaptureTable *table, HeapTuple tuple, HeapTuple old, TupleDesc desc)
{
	clocks->new = clock_row_read(tuple, table->clocks.attnum, desc);
	clocks->old = clock_row_read(old, table->clocks.attnum, desc);
	clocks->ncolumns = table->clocks.ncolumns;
	clock_row_alive(&clocks->new, clocks->alive);
	clocks->swept[0] = '\0';
}

/* Whether a field's clock changed (a sync's value may equal ours). */
static bool
clock_changed(const CaptureField *field, ChangeClocks *clocks)
{
	char		a[CLOCK_TEXT_LEN + 1];
	char		b[CLOCK_TEXT_LEN + 1];
	bool		has_new = clock_row_get(clocks->new.fields, field->name, a);
	bool		has_old = clock_row_get(clocks->old.fields, field->name, b);

	return has_new != has_old || (has_new && strcmp(a, b) != 0);
}

/*
 * A clock as a payload carries it: one of this node as its 16 hex digits
 * alone (the receiver completes it with "s", the sender's node id: a
 * payload is half as large), others whole (forwarded ones).
 */
static void
append_clock_value(StringInfo buf, const char *clock)
{
	/* (no appendStringInfo: its formatting cost as much as the rest of a payload's clocks) */
	appendStringInfoChar(buf, '"');
	if (strcmp(clock + CLOCK_STAMP_LEN + 1, clock_node()) == 0)
		appendBinaryStringInfo(buf, clock, CLOCK_STAMP_LEN);
	else
		appendStringInfoString(buf, clock);
	appendStringInfoChar(buf, '"');
}

/*
 * opening (,"name":{) and field: clock of the shipped fields that have one
 * in object, and }; their latest clock kept in latest (when not NULL).
 */
static void
append_field_clocks(StringInfo buf, const char *opening, CaptureSub *sub, bool *shipped,
					JsonbContainer *object, char *latest)
{
	char		clock[CLOCK_TEXT_LEN + 1];

	appendStringInfoString(buf, opening);
	for (int i = 0, n = 0; i < sub->nfields; i++)
	{
		if (!shipped[i] || !clock_row_get(object, sub->fields[i].name, clock))
			continue;
		if (n++ > 0)
			appendStringInfoChar(buf, ',');
		/* "name": */
		appendStringInfoString(buf, sub->fields[i].json_name);
		append_clock_value(buf, clock);
		if (latest != NULL && strcmp(clock, latest) > 0)
			strcpy(latest, clock);
	}
	appendStringInfoChar(buf, '}');
}

/*
 * Whether a create's clocks can go compact, {"s", "b"} without "f" and "p"
 * (most of a create's bytes on the wire): every shipped field's clock is
 * the born clock and replaced none, the create ships every column the
 * table clocks, and the item's alive clock is no later than born (no "a"
 * to send: a compact meta never carries one). The receiver (clock_row.c)
 * reads a "b" without "f" as every column of its table clocked at "b" with
 * no previous clock, which is then what "f" would have listed; a create
 * that ships fewer columns (a subscription of some fields) goes in full,
 * as does a singleton's, and so does one whose alive clock is later (a
 * sync's create that brought "a", forwarded).
 */
static bool
clocks_compact(CaptureSub *sub, bool *shipped, ChangeClocks *clocks, const char *born)
{
	char		clock[CLOCK_TEXT_LEN + 1];
	int			nshipped = 0;

	if (sub->singleton || strcmp(clocks->alive, born) > 0)
		return false;
	for (int i = 1; i < sub->nfields; i++)
	{
		if (!shipped[i])
			continue;
		nshipped++;
		if (!clock_row_get(clocks->new.fields, sub->fields[i].name, clock) || strcmp(clock, born) != 0 ||
			clock_row_get(clocks->new.prev, sub->fields[i].name, clock))
			return false;
	}
	return nshipped == clocks->ncolumns;
}

/*
 * The clocks of the fields a payload carries, as the directus_sync_meta
 * field the receiving database applies (clock_row.c): this node as sender,
 * the item's born clock, each field's clock and the clock it replaced; and
 * the item's alive clock as "a" when it is later than all those (a field
 * this remote does not get was written later): the remote decides a delete
 * against it, as every instance does. Of a create whose fields all have
 * the born clock, the born clock alone (clocks_compact). A sync's item that
 * came with a sweep it survived that is news here ("u", now kept in the
 * tombstone) passes it on, as the sender's resync did: the instances
 * behind this one would never get it otherwise (review 14).
 */
static void
append_clocks(StringInfo buf, CaptureSub *sub, bool *shipped, ChangeClocks *clocks, bool create)
{
	char		clock[CLOCK_TEXT_LEN + 1];
	bool		has_born = clock_row_get(clocks->new.root, "b", clock);
	char		latest[CLOCK_TEXT_LEN + 1] = "";

	appendStringInfoString(buf, ",\"" CLOCK_COLUMN "\":{\"s\":\"");
	appendStringInfoString(buf, clock_node());
	appendStringInfoChar(buf, '"');
	if (has_born)
	{
		appendStringInfoString(buf, ",\"b\":");
		append_clock_value(buf, clock);
		strcpy(latest, clock);
	}
	if (clocks->swept[0] != '\0')
	{
		appendStringInfoString(buf, ",\"u\":");
		append_clock_value(buf, clocks->swept);
	}
	if (create && has_born && clocks_compact(sub, shipped, clocks, clock))
	{
		appendStringInfoChar(buf, '}');
		return;
	}
	append_field_clocks(buf, ",\"f\":{", sub, shipped, clocks->new.fields, latest);
	append_field_clocks(buf, ",\"p\":{", sub, shipped, clocks->new.prev, NULL);
	if (strcmp(clocks->alive, latest) > 0)
	{
		appendStringInfoString(buf, ",\"a\":");
		append_clock_value(buf, clocks->alive);
	}
	appendStringInfoChar(buf, '}');
}

/*
 * The payload of a change for one subscription: the key (fields[0] unless a
 * singleton) and the fields to ship; with old given, only changed ones (in
 * value or, with clocks, in clock). NULL when an update changed none of
 * them. With clocks (not NULL), the shipped fields' clocks go too.
 */
static char *
render_payload(CaptureSub *sub, const ItemRow *row, const ItemRow *old, ChangeClocks *clocks)
{
	StringInfoData buf;
	int			first_data = sub->singleton ? 0 : 1;
	bool		any = false;
	bool	   *shipped = palloc0(sizeof(bool) * Max(sub->nfields, 1));

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	if (!sub->singleton)
		append_field(&buf, &sub->fields[0], row);
	for (int i = first_data; i < sub->nfields; i++)
	{
		if (old != NULL && !capture_field_changed(&sub->fields[i], old, row) &&
			(clocks == NULL || !clock_changed(&sub->fields[i], clocks)))
			continue;
		append_field(&buf, &sub->fields[i], row);
		shipped[i] = any = true;
	}
	if (clocks != NULL && (old == NULL || any))
		append_clocks(&buf, sub, shipped, clocks, old == NULL);
	appendStringInfoChar(&buf, '}');
	return (old == NULL || any) ? buf.data : NULL;
}

/*
 * Queues a change for a remote, unless it is signer, whose signed sync made
 * it (the loop guard does the same for a sync it knows by its activity
 * row, later).
 */
static void
queue_change(CaptureTable *table, CaptureSub *sub, const char *key, SyncOp op, const char *payload,
			 int signer)
{
	int64		id;

	if (sub->remote_id == signer)
		return;
	id = queue_write_change(sub->remote_id, sub->collection, key, op, payload);

	if (table->tell_loop_guard)
		loop_guard_remember(sub->collection, key, sub->remote_id, id, table->clocks.attnum != 0);
	if (!sub->paused)
		wake_at_commit();
}

static char *
key_text(CaptureTable *table, HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Datum		key = heap_getattr(tuple, table->key.attnum, desc, &isnull);

	return isnull ? NULL : OutputFunctionCall(&table->key_out, key);
}

/*
 * A numeric or float key can be NaN or infinite, which JSON has no number
 * for: Directus's REST API could not be told the item (it reads a float NaN
 * back as null). A row cannot get or keep such a key while the table ships
 * to a remote; deleting one from before the subscription, or giving it a
 * finite key, is allowed (directus_wire.c writes its old key as a string).
 */
static void
refuse_nonfinite_key(CaptureTable *table, Relation rel, const char *key)
{
	if (table->nsubs > 0 && table->key_may_be_nonfinite &&
		(strcmp(key, "NaN") == 0 || strcmp(key, "Infinity") == 0 || strcmp(key, "-Infinity") == 0))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot replicate key %s of table \"%s\"", key, RelationGetRelationName(rel)),
				 errdetail("Directus's REST API cannot address an item whose key is NaN or infinite."),
				 errhint("Give the row a finite key, or unsubscribe the table.")));
}

/*
 * Renders every subscription's payload before anything is queued: to_json
 * runs the columns' output functions, as the writer.
 */
static char **
render_payloads(CaptureTable *table, TriggerData *trigdata, HeapTuple tuple, HeapTuple old, const char *key,
				char *beside)
{
	char	  **payloads = palloc0(sizeof(char *) * Max(table->nsubs, 1));
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	ChangeClocks clocks;
	ItemRow    *new_row;
	ItemRow    *old_row;

	beside[0] = '\0';
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) || table->nsubs == 0)
		return payloads;
	new_row = capture_row(tuple, desc);
	old_row = capture_row(old, desc);
	if (table->clocks.attnum != 0)
	{
		read_change_clocks(&clocks, table, tuple, old, desc);
		tombstone_take_sweep_beside(RelationGetRelid(trigdata->tg_relation), key, tuple, clocks.swept);
		strlcpy(beside, clocks.swept, CLOCK_TEXT_LEN + 1);
	}
	for (int i = 0; i < table->nsubs; i++)
		payloads[i] = render_payload(&table->subs[i], new_row, old_row,
									 table->clocks.attnum != 0 ? &clocks : NULL);
	return payloads;
}

/*
 * The clock of a delete of an item of a table with clocks (a sync's, that
 * clock_row.c expects, or a new one), kept as its tombstone with the item's
 * born clock (into born, "" none: an item from before clocks) and, of a
 * sync's, the sweep that came with it (into swept, "" none). NULL for a
 * table without clocks.
 */
static char *
delete_clock(CaptureTable *table, Relation rel, HeapTuple old, const char *key, char *born, char *swept)
{
	char	   *clock;
	char		item_born[CLOCK_TEXT_LEN + 1];
	RowClocks	stored;
	bool		expected;

	born[0] = '\0';
	swept[0] = '\0';
	if (table->clocks.attnum == 0)
		return NULL;
	clock = palloc(CLOCK_TEXT_LEN + 1);
	stored = clock_row_read(old, table->clocks.attnum, RelationGetDescr(rel));
	/* a sync's delete: as the sender made it (of the item it names, or a sweep; and its sweep) */
	expected = tombstone_expected_delete(RelationGetRelid(rel), key, clock, born, swept);
	if (!expected)
	{
		clock_row_delete_clock(old, table->clocks.attnum, RelationGetDescr(rel), clock);
		if (!clock_row_get(stored.root, "b", born))
			born[0] = '\0';
	}
	else if ((born[0] == '\0' || swept[0] != '\0') && clock_row_get(stored.root, "b", item_born))
		tombstone_keep_swept_born(RelationGetRelationName(rel), key, item_born);
	else
		item_born[0] = '\0';
	tombstone_write(RelationGetRelationName(rel), key, clock, born);
	if (swept[0] != '\0')
		tombstone_write(RelationGetRelationName(rel), key, swept, "");
	/*
	 * A sweep killed an item born later than the one the delete names: it
	 * goes on as the delete of that item at the sweep's clock, with the
	 * sweep (a superset of the delete as it came, deciding every item as
	 * this tombstone does: an item born earlier lost the key to the one
	 * killed). As it came, the next instance would keep an item born between
	 * the two that this one removes.
	 */
	if (expected && item_born[0] != '\0' && strcmp(item_born, born) > 0)
	{
		if (born[0] == '\0' && strcmp(clock, swept) > 0)
			strlcpy(swept, clock, CLOCK_TEXT_LEN + 1);
		strlcpy(clock, swept, CLOCK_TEXT_LEN + 1);
		strlcpy(born, item_born, CLOCK_TEXT_LEN + 1);
	}
	return clock;
}

/*
 * The payload of a delete with a clock: the key, the delete's clock and the
 * born clock of the item it deleted (born, "" or NULL: unknown, none sent),
 * which the worker sends as an update (Directus's DELETE carries no
 * fields): a receiver keeps an item born later with that key, another
 * item. swept ("" or NULL: none) is the sweep a sync's delete carried
 * beside it ("u"), passed on with it: without it the next instance's
 * tombstone would lack it and decide a later create otherwise. NULL
 * without a clock: a plain DELETE.
 */
static char *
render_delete(CaptureTable *table, CaptureSub *sub, HeapTuple old, TupleDesc desc, const char *clock,
			  const char *born, const char *swept)
{
	StringInfoData buf;

	if (clock == NULL)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	if (!sub->singleton)
	{
		bool		isnull;
		Datum		key = heap_getattr(old, sub->fields[0].attnum, desc, &isnull);

		append_value(&buf, &sub->fields[0], key, isnull);
		appendStringInfoChar(&buf, ',');
	}
	appendStringInfo(&buf, "\"%s\":{\"s\":\"%s\",", CLOCK_COLUMN, clock_node());
	if (born != NULL && born[0] != '\0')
	{
		appendStringInfoString(&buf, "\"b\":");
		append_clock_value(&buf, born);
		appendStringInfoChar(&buf, ',');
	}
	appendStringInfoString(&buf, "\"d\":");
	append_clock_value(&buf, clock);
	if (swept != NULL && swept[0] != '\0')
	{
		appendStringInfoString(&buf, ",\"u\":");
		append_clock_value(&buf, swept);
	}
	/* the rule it was made under: an instance with the other one refuses it */
	if (table->clocks.delete_wins)
		appendStringInfoString(&buf, ",\"w\":true");
	appendStringInfoString(&buf, "}}");
	return buf.data;
}

/*
 * Queues a delete for every remote, past the loop guard: the sender of the
 * sync in this transaction too, which has the item and lacks the delete (a
 * sync's create the tombstone here skipped or killed).
 */
static void
queue_delete_everywhere(CaptureTable *table, HeapTuple tuple, TupleDesc desc, const char *key,
						const char *deleted, const char *born, const char *swept)
{
	for (int i = 0; i < table->nsubs; i++)
	{
		CaptureSub *sub = &table->subs[i];

		(void) queue_write_change(sub->remote_id, sub->collection, key, SYNC_OP_DELETE,
								  render_delete(table, sub, tuple, desc, deleted, born, swept));
		if (!sub->paused)
			wake_at_commit();
	}
}

/*
 * The item whole, for each subscription, as an upsert (a create, which the
 * outbox fold writes out in full when it is compact): its clocks, and the
 * sweep swept ("" none) it came with, news here.
 */
static char **
whole_payloads(CaptureTable *table, HeapTuple tuple, TupleDesc desc, const char *swept)
{
	char	  **payloads = palloc0(sizeof(char *) * Max(table->nsubs, 1));
	ChangeClocks clocks;
	ItemRow    *row = capture_row(tuple, desc);

	read_change_clocks(&clocks, table, tuple, NULL, desc);
	strlcpy(clocks.swept, swept, CLOCK_TEXT_LEN + 1);
	for (int i = 0; i < table->nsubs; i++)
		payloads[i] = render_payload(&table->subs[i], row, NULL, &clocks);
	return payloads;
}

/*
 * A sync's item came with a sweep that is news here (swept), yet changed
 * nothing that goes to some remotes (payloads[i] NULL): it goes to them
 * whole with the sweep, as a news delete goes on; else the remotes behind
 * this instance would never get the sweep (review 14).
 */
static void
queue_sweep_with_item(CaptureTable *table, HeapTuple tuple, TupleDesc desc, const char *key, const char *swept,
					  char **payloads, int signer)
{
	char	  **whole = whole_payloads(table, tuple, desc, swept);

	for (int i = 0; i < table->nsubs; i++)
	{
		if (payloads[i] == NULL)
			queue_change(table, &table->subs[i], key, SYNC_OP_CREATE, whole[i], signer);
	}
}

/*
 * A sync brought something older than what the item has (clock_row.c): the
 * item goes to every remote, whole, with its clocks and the sweep swept it
 * came with, news here ("" none), as an upsert (not through the loop
 * guard: the sender is the one that must get it).
 */
static void
write_back(CaptureTable *table, HeapTuple tuple, TupleDesc desc, const char *key, const char *swept)
{
	char	  **whole = whole_payloads(table, tuple, desc, swept);

	for (int i = 0; i < table->nsubs; i++)
	{
		CaptureSub *sub = &table->subs[i];

		(void) queue_write_change(sub->remote_id, sub->collection, key, SYNC_OP_CREATE, whole[i]);
		if (!sub->paused)
			wake_at_commit();
	}
}

/* Whether two rows of a table with clocks have one born clock (or none). */
static bool
same_born(CaptureTable *table, TupleDesc desc, HeapTuple a, HeapTuple b)
{
	RowClocks	clocks_a = clock_row_read(a, table->clocks.attnum, desc);
	RowClocks	clocks_b = clock_row_read(b, table->clocks.attnum, desc);
	char		born_a[CLOCK_TEXT_LEN + 1];
	char		born_b[CLOCK_TEXT_LEN + 1];

	if (!clock_row_get(clocks_a.root, "b", born_a))
		born_a[0] = '\0';
	if (!clock_row_get(clocks_b.root, "b", born_b))
		born_b[0] = '\0';
	return strcmp(born_a, born_b) == 0;
}

/*
 * The newest version of the row at tid that this transaction sees, into
 * tid; false when there is none or it is another item than written's. A
 * command nested in the write (another AFTER trigger's) may have updated
 * the row since, or given it another key: that is another item, made
 * after the delete, and so is one that got the key back (a key change
 * makes a new item, born later).
 */
static bool
newest_version(CaptureTable *table, Relation rel, ItemPointer tid, HeapTuple written, const char *key)
{
	Snapshot	snapshot;
	TableScanDesc scan;
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	bool		same = false;

	/* the write's own row is seen, as by the DELETE that follows (SPI's) */
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan_tid(rel, snapshot);

	table_tuple_get_latest_tid(scan, tid);
	table_endscan(scan);
	if (table_tuple_fetch_row_version(rel, tid, snapshot, slot))
	{
		bool		should_free;
		HeapTuple	newest = ExecFetchSlotHeapTuple(slot, false, &should_free);
		char	   *newest_key = key_text(table, newest, RelationGetDescr(rel));

		same = newest_key != NULL && strcmp(newest_key, key) == 0 &&
			same_born(table, RelationGetDescr(rel), newest, written);
		if (should_free)
			heap_freetuple(newest);
	}
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	return same;
}

/*
 * A sync's delete that found no row to make (newest_version): a nested
 * command deleted the item or gave the row another key (perhaps the key
 * back too, to a new item), with a delete of its own, later. The sync's
 * delete is kept and goes on all the same, as a made one would
 * (delete_clock): its sweep is not in the nested delete, and without it
 * the tombstones here and behind this instance would decide a later create
 * otherwise than the sender's (review 14).
 */
static void
keep_unmade_delete(CaptureTable *table, Relation rel, HeapTuple tuple, const char *key)
{
	char		clock[CLOCK_TEXT_LEN + 1];
	char		born[CLOCK_TEXT_LEN + 1];
	char		swept[CLOCK_TEXT_LEN + 1];
	TupleDesc	desc = RelationGetDescr(rel);

	if (!tombstone_expected_delete(RelationGetRelid(rel), key, clock, born, swept))
		return;
	tombstone_write(RelationGetRelationName(rel), key, clock, born);
	if (swept[0] != '\0')
		tombstone_write(RelationGetRelationName(rel), key, swept, "");
	if (tombstone_take_delete_to_sender(RelationGetRelid(rel), key))
		queue_delete_everywhere(table, tuple, desc, key, clock, born, swept);
	else
		for (int i = 0; i < table->nsubs; i++)
			queue_change(table, &table->subs[i], key, SYNC_OP_DELETE,
						 render_delete(table, &table->subs[i], tuple, desc, clock, born, swept), 0);
}

/*
 * A sync's update decided that its item goes (clock_row.c): deletes the
 * row, as the writer, now that the update is done. The delete fires this
 * trigger again, which ships it on with the sync's clock.
 */
static void
make_expected_delete(CaptureTable *table, Relation rel, HeapTuple tuple, const char *key)
{
	Oid			types[1] = {TIDOID};
	Datum		values[1];
	ItemPointerData tid = tuple->t_self;
	char	   *sql;

	if (table->clocks.attnum == 0 || !tombstone_make_expected_delete(RelationGetRelid(rel), key, tuple))
		return;
	if (newest_version(table, rel, &tid, tuple, key))
	{
		values[0] = PointerGetDatum(&tid);
		sql = psprintf("DELETE FROM ONLY %s WHERE ctid = $1",
					   quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												  RelationGetRelationName(rel)));
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args(sql, 1, types, values, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete item \"%s\" of \"%s\"", key, RelationGetRelationName(rel));
		SPI_finish();
	}
	else
		keep_unmade_delete(table, rel, tuple, key);
	tombstone_made_expected_delete(RelationGetRelid(rel), key);
}

/*
 * The key as Directus writes it in directus_activity.item: a JavaScript
 * number's text for a numeric or float key (1.50 is 1.5, 1e21 is 1e+21,
 * as float8's), so that the check of who wrote clocks finds the item.
 */
static const char *
activity_key(CaptureTable *table, const char *key)
{
	if (key == NULL)
		return "";
	if (!table->key_may_be_nonfinite)
		return key;
	return DatumGetCString(DirectFunctionCall1(float8out, DirectFunctionCall1(float8in, CStringGetDatum(key))));
}

/* Logs conflicts whose remote is not known (a skipped write has no activity row). */
static void
log_conflicts_now(const char *collection, const char *key, List *conflicts)
{
	AsOwner		as;

	if (conflicts == NIL)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	become_owner(&as);
	loop_guard_log_conflicts(0, collection, key, conflicts);
	restore_user(&as);
	SPI_finish();
}

/*
 * Whether the table has a row with the key of tuple, locked (FOR KEY SHARE)
 * so that a delete of it in progress either commits first (then there is
 * none) or waits for us. Run as the table's owner (row security does not
 * hide rows from it, and the writer may not read the table), as a
 * security-restricted operation with search_path pinned.
 */
static bool
item_exists(CaptureTable *table, Relation rel, HeapTuple tuple)
{
	Oid			types[1] = {TupleDescAttr(RelationGetDescr(rel), table->key.attnum - 1)->atttypid};
	Datum		values[1];
	bool		isnull;
	bool		found;
	Oid			saved_user;
	int			saved_context;
	int			guc_level;
	char	   *sql = psprintf("SELECT FROM ONLY %s WHERE %s = $1 FOR KEY SHARE",
							   quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
														  RelationGetRelationName(rel)),
							   quote_identifier(table->key.name));

	values[0] = heap_getattr(tuple, table->key.attnum, RelationGetDescr(rel), &isnull);
	GetUserIdAndSecContext(&saved_user, &saved_context);
	guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(rel->rd_rel->relowner,
						   saved_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(sql, 1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for an item of \"%s\"", RelationGetRelationName(rel));
	found = SPI_processed > 0;
	SPI_finish();
	SetUserIdAndSecContext(saved_user, saved_context);
	AtEOXact_GUC(true, guc_level);
	return found;
}

/*
 * The BEFORE half, on a table with clocks: the new row with its clocks
 * (clock_row.c). A sync's create older than the item's delete here is
 * skipped, and the delete goes again to every remote (not through the loop
 * guard: the sender is the one that must learn of it). A table whose clock
 * column is gone keeps its rows as they are. A key written by value passes
 * the key's series when the series would hand it out later (key_series.c).
 */
static HeapTuple
stamp_clocks(TriggerData *trigdata)
{
	Relation	rel = trigdata->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	CaptureTable *table = capture_table(rel);
	bool		update = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event);
	HeapTuple	new = update ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	HeapTuple	result;
	char	   *key;
	char		deleted[CLOCK_TEXT_LEN + 1];
	char		born[CLOCK_TEXT_LEN + 1];
	char		swept[CLOCK_TEXT_LEN + 1];
	List	   *conflicts;
	int			signer;

	if (table->clocks.attnum == 0)
		return new;
	key = key_text(table, new, desc);
	signer = key ? clock_row_signer(rel, &table->clocks, new, key) : 0;
	/* a changed key: another item, created now (its clocks later than a delete of that key) */
	if (update && key != NULL && strcmp(key_text(table, trigdata->tg_trigtuple, desc), key) != 0)
		update = false;
	/* a key written by value that the series would hand out again: the series passes it */
	if (!update)
		key_series_pass(&table->key_series, rel, new);
	/*
	 * A sync's delete of an item we lack: kept as a tombstone, no row. (One
	 * we have after all, created since the sender asked: the insert meets
	 * its key, and the sender sends the delete as an update.)
	 */
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) && key != NULL &&
		clock_row_is_tombstone(rel, &table->clocks, new, deleted, born, swept) &&
		!item_exists(table, rel, new))
	{
		/* news here: on to the other remotes, through the loop guard (not back to the sender) */
		if (clock_row_keep_tombstone(rel, key, activity_key(table, key), signer, deleted, born, swept))
			for (int i = 0; i < table->nsubs; i++)
				queue_change(table, &table->subs[i], key, SYNC_OP_DELETE,
							 render_delete(table, &table->subs[i], new, desc, deleted, born, swept), signer);
		return NULL;
	}
	result = clock_row_before(rel, &table->clocks, update ? trigdata->tg_trigtuple : NULL, new,
							  update ? trigdata->tg_updatedcols : NULL, key ? key : "", activity_key(table, key), signer, deleted, &conflicts);
	if (result == NULL)
	{
		char		known[CLOCK_TEXT_LEN + 1];

		log_conflicts_now(RelationGetRelationName(rel), key, conflicts);
		/*
		 * the delete the create lost to (deleted) goes again, as the whole
		 * tombstone: the delete of the item it names and the sweep beside
		 * it; a tombstone of unknown born is its sweep alone
		 */
		if (tombstone_read(RelationGetRelationName(rel), key, known, born, swept) && born[0] != '\0')
			/*
			 * (a known item's born clock without its delete, "": a sweep
			 * killed it; sent as its delete at the sweep's clock, which
			 * decides every item alike, as _tombstone_payload does)
			 */
			strlcpy(deleted, known[0] != '\0' ? known : swept, CLOCK_TEXT_LEN + 1);
		else
			born[0] = swept[0] = '\0';
	}
	if (result == NULL && deleted[0] != '\0')
		queue_delete_everywhere(table, new, desc, key, deleted, born, swept);
	return result;
}

Datum
directus_sync_capture(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	CaptureTable *table;
	HeapTuple	tuple;
	HeapTuple	old = NULL;
	char	   *key;
	char	   *old_key = NULL;
	char	  **payloads;
	char	   *deleted = NULL;
	char		born[CLOCK_TEXT_LEN + 1];
	char		swept[CLOCK_TEXT_LEN + 1];
	char		scratch[CLOCK_TEXT_LEN + 1];
	char		beside[CLOCK_TEXT_LEN + 1];
	int			signer;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_INSTEAD(trigdata->tg_event) ||
		(TRIGGER_FIRED_BEFORE(trigdata->tg_event) && TRIGGER_FIRED_BY_DELETE(trigdata->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("directus_sync._capture() must be an AFTER ROW trigger, or a BEFORE INSERT OR UPDATE ROW trigger")));
	if (TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		return PointerGetDatum(stamp_clocks(trigdata));

	desc = RelationGetDescr(trigdata->tg_relation);
	tuple = trigdata->tg_trigtuple;
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		old = tuple;
		tuple = trigdata->tg_newtuple;
	}
	table = capture_table(trigdata->tg_relation);

	key = key_text(table, tuple, desc);
	if (!TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		refuse_nonfinite_key(table, trigdata->tg_relation, key);
	if (old != NULL)
	{
		old_key = key_text(table, old, desc);
		if (strcmp(old_key, key) == 0)
			old_key = NULL;
	}
	/* a changed key: Directus sees another item, created whole */
	payloads = render_payloads(table, trigdata, tuple, old_key ? NULL : old, key, beside);

	signer = table->clocks.attnum != 0
		? loop_guard_take_signer(RelationGetRelationName(trigdata->tg_relation), activity_key(table, key)) : 0;
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		deleted = delete_clock(table, trigdata->tg_relation, tuple, key, born, swept);
	else if (old_key != NULL)
		deleted = delete_clock(table, trigdata->tg_relation, old, old_key, born, swept);
	else
		born[0] = swept[0] = '\0';

	/* a sync's item that the tombstone killed: its delete goes to its sender too */
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) && deleted != NULL &&
		tombstone_take_delete_to_sender(RelationGetRelid(trigdata->tg_relation), key))
		queue_delete_everywhere(table, tuple, desc, key, deleted, born, swept);
	else
	{
		for (int i = 0; i < table->nsubs; i++)
		{
			CaptureSub *sub = &table->subs[i];

			if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
				queue_change(table, sub, key, SYNC_OP_CREATE, payloads[i], signer);
			else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
				queue_change(table, sub, key, SYNC_OP_DELETE,
							 render_delete(table, sub, tuple, desc, deleted, born, swept), signer);
			else if (old_key != NULL)
			{
				queue_change(table, sub, old_key, SYNC_OP_DELETE,
							 render_delete(table, sub, old, desc, deleted, born, swept), signer);
				queue_change(table, sub, key, SYNC_OP_CREATE, payloads[i], signer);
			}
			else if (payloads[i] != NULL)
				queue_change(table, sub, key, SYNC_OP_UPDATE, payloads[i], signer);
		}
	}
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) && old_key == NULL && table->clocks.attnum != 0)
	{
		if (tombstone_take_write_back(RelationGetRelid(trigdata->tg_relation), key, tuple))
			write_back(table, tuple, desc, key, beside);
		else if (beside[0] != '\0')
			queue_sweep_with_item(table, tuple, desc, key, beside, payloads, signer);
	}
	if ((TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) && old_key == NULL) ||
		(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) && table->clocks.attnum != 0 &&
		 tombstone_create_lost(RelationGetRelid(trigdata->tg_relation),
							   RelationGetRelationName(trigdata->tg_relation), key, tuple, scratch)))
		make_expected_delete(table, trigdata->tg_relation, tuple, key);
	return PointerGetDatum(NULL);
}

/* Makes every backend rebuild its cache of a table at its next change. */
Datum
directus_sync_invalidate(PG_FUNCTION_ARGS)
{
	CacheInvalidateRelcacheByRelid(PG_GETARG_OID(0));
	PG_RETURN_VOID();
}
