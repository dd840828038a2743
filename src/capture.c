/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  The capture trigger, the loop guard, and the wake-up at commit.
 *
 * directus_sync._capture() is an AFTER ROW trigger on each subscribed
 * table. For every enabled remote that subscribes to the table it queues one
 * outbox row in the changing transaction: on insert the key and the
 * subscribed fields, on update the key and the subscribed fields whose value
 * changed (nothing if none did), on delete the key. Values are rendered by
 * PostgreSQL's to_json, as Directus's REST API renders them: numbers,
 * booleans, ISO timestamps, json as JSON, uuid as a string.
 *
 * What a table's trigger needs (its subscriptions, attribute numbers,
 * rendering functions) is cached per backend and rebuilt after a relcache
 * invalidation of the table, which every configuration change sends.
 *
 * directus_sync._activity() is an AFTER INSERT trigger on
 * directus_activity. Directus writes an activity row after the item, in the
 * same transaction; when that row names a remote's inbound sync user, the
 * outbox rows this transaction queued for the item are deleted again, for
 * that remote (and, unless it forwards, for all), so a change a remote made
 * is not shipped back to it. When that change sets a field that a change of
 * ours, still queued for the same remote, sets too, both sides changed it
 * concurrently: directus_sync._resolve_conflicts decides which value both
 * instances keep, and the loop guard writes ours back when ours wins.
 *
 * At commit of a transaction that queued something the worker's latch is
 * set; never before commit, and not on every row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/genam.h"
#include "access/heapam.h"
#include "access/table.h"
#include "catalog/index.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "directus_sync.h"

PG_FUNCTION_INFO_V1(directus_sync_capture);
PG_FUNCTION_INFO_V1(directus_sync_activity);
PG_FUNCTION_INFO_V1(directus_sync_invalidate);
PG_FUNCTION_INFO_V1(directus_sync_wake_at_commit);
PG_FUNCTION_INFO_V1(directus_sync_wake);

/* A column as it goes into a payload. */
typedef struct CaptureField
{
	AttrNumber	attnum;
	char	   *json_name;		/* "name": already escaped */
	int16		typlen;
	bool		typbyval;
	FmgrInfo	to_json;		/* to_json() bound to the column's type */
} CaptureField;

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
	int			nsubs;
	CaptureSub *subs;
	bool		track;			/* loop guard active: remember queued ids */
} CaptureTable;

/* The loop guard's configuration: remotes with an inbound user. */
typedef struct InboundRemote
{
	int			remote_id;
	pg_uuid_t	user;
	bool		forward;
} InboundRemote;

typedef struct ActivityConfig
{
	bool		valid;
	Oid			relid;
	AttrNumber	user_att,
				collection_att,
				item_att,
				action_att;
	int			ninbound;
	InboundRemote *inbound;
} ActivityConfig;

/* What this transaction queued, per collection and item, for the loop guard. */
typedef struct QueuedKey
{
	char	   *hash_key;		/* collection \x1f key */
	List	   *rows;			/* QueuedRow */
} QueuedKey;

typedef struct QueuedRow
{
	int			remote_id;
	int64		id;
} QueuedRow;

static HTAB *capture_tables = NULL;
static ActivityConfig activity_config;
static KeyHash *queued_this_xact = NULL;
static bool wake_pending = false;

static void find_outbox(void);

/*
 * The outbox as the trigger writes it: straight into the heap and its
 * indexes, as logical replication's apply does, without an executor run or
 * SPI per row. Found again whenever the table's cache is rebuilt.
 */
typedef struct OutboxTarget
{
	bool		valid;
	MemoryContext cxt;			/* of the index lists */
	Oid			relid;
	Oid			owner;
	Oid			seqid;
	int			nindexes;		/* those a new row goes into */
	Oid		   *index_oids;
	IndexInfo **index_infos;
	AttrNumber	att_id,
				att_remote_id,
				att_collection,
				att_item_key,
				att_op,
				att_payload,
				att_queued_at,
				att_attempts;
} OutboxTarget;

static OutboxTarget outbox_target;

static SPIPlanPtr delete_plan = NULL;

/* ----------------------------------------------------------------
 * Callbacks
 * ---------------------------------------------------------------- */

static void
invalidate_tables(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	CaptureTable *table;

	(void) arg;
	if (capture_tables != NULL)
	{
		hash_seq_init(&status, capture_tables);
		while ((table = hash_seq_search(&status)) != NULL)
			if (relid == InvalidOid || table->relid == relid)
				table->valid = false;
	}
	if (relid == InvalidOid || relid == activity_config.relid)
		activity_config.valid = false;
	if (relid == InvalidOid || relid == outbox_target.relid)
		outbox_target.valid = false;
}

static void
at_transaction_end(XactEvent event, void *arg)
{
	(void) arg;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_pending)
				(void) worker_wake(MyDatabaseId);
			/* FALLTHROUGH */
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* a prepared transaction is found by the worker's poll */
			wake_pending = false;
			queued_this_xact = NULL;	/* freed with TopTransactionContext */
			break;
		default:
			break;
	}
}

void
capture_register_callbacks(void)
{
	CacheRegisterRelcacheCallback(invalidate_tables, (Datum) 0);
	RegisterXactCallback(at_transaction_end, NULL);
}

/* ----------------------------------------------------------------
 * Building the cache of a table
 * ---------------------------------------------------------------- */

static void
init_field(CaptureField *field, Relation rel, AttrNumber attnum, MemoryContext cxt)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
	StringInfoData name;
	MemoryContext old = MemoryContextSwitchTo(cxt);

	field->attnum = attnum;
	field->typlen = att->attlen;
	field->typbyval = att->attbyval;
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

/* The owner of directus_sync.outbox, who owns the extension's objects. */
static Oid
extension_owner(void)
{
	if (!outbox_target.valid)
		find_outbox();
	return outbox_target.owner;
}

/*
 * The trigger's own queries run as the extension's owner: the roles that
 * write Directus's tables have no rights on the schema directus_sync.
 */
typedef struct AsOwner
{
	Oid			saved_user;
	int			saved_context;
	int			guc_level;
} AsOwner;

/*
 * As the owner, with search_path pinned as for a SECURITY DEFINER function:
 * the writer's search_path must not choose the operators our queries run.
 */
static void
become_owner(AsOwner *as)
{
	Oid			owner = extension_owner();

	GetUserIdAndSecContext(&as->saved_user, &as->saved_context);
	as->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(owner, as->saved_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

static void
restore_user(AsOwner *as)
{
	SetUserIdAndSecContext(as->saved_user, as->saved_context);
	AtEOXact_GUC(true, as->guc_level);
}

static void
load_subscriptions(CaptureTable *table, Relation rel)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(table->relid)};
	SPITupleTable *tuptable;

	if (SPI_execute_with_args("SELECT s.remote_id, s.collection, s.singleton, s.fields,"
							  "       EXISTS (SELECT FROM directus_sync.remote i WHERE i.inbound_user IS NOT NULL),"
							  "       r.paused"
							  "  FROM directus_sync.subscription s JOIN directus_sync.remote r ON r.id = s.remote_id"
							  " WHERE s.relid = $1 AND r.enabled ORDER BY s.remote_id",
							  1, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the subscriptions of table %u", table->relid);
	tuptable = SPI_tuptable;
	table->nsubs = (int) SPI_processed;
	table->subs = MemoryContextAllocZero(table->cxt, sizeof(CaptureSub) * Max(table->nsubs, 1));
	for (int i = 0; i < table->nsubs; i++)
	{
		HeapTuple	tup = tuptable->vals[i];
		TupleDesc	desc = tuptable->tupdesc;
		CaptureSub *sub = &table->subs[i];
		bool		isnull;
		Datum	   *names;
		int			nnames;
		MemoryContext old;

		sub->remote_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		old = MemoryContextSwitchTo(table->cxt);
		sub->collection = DatumGetTextPCopy(SPI_getbinval(tup, desc, 2, &isnull));
		MemoryContextSwitchTo(old);
		sub->singleton = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		sub->paused = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		table->track = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 4, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &names, NULL, &nnames);

		sub->fields = MemoryContextAllocZero(table->cxt, sizeof(CaptureField) * (nnames + 1));
		if (!sub->singleton)
			sub->fields[sub->nfields++] = table->key;
		for (int f = 0; f < nnames; f++)
		{
			char	   *name = TextDatumGetCString(names[f]);
			AttrNumber	attnum = SPI_fnumber(RelationGetDescr(rel), name);

			/* a dropped or renamed column is left out until subscribed again */
			if (attnum <= 0 || (attnum == table->key.attnum && !sub->singleton))
				continue;
			init_field(&sub->fields[sub->nfields++], rel, attnum, table->cxt);
		}
	}
}

static CaptureTable *
capture_table(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	CaptureTable *table;
	bool		found;
	Bitmapset  *pk;
	Oid			outfunc;
	bool		varlena;

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
	table->track = false;

	pk = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	if (bms_num_members(pk) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no single-column primary key", RelationGetRelationName(rel)),
				 errdetail("directus_sync addresses items by a primary key of one column.")));
	init_field(&table->key, rel, bms_next_member(pk, -1) + FirstLowInvalidHeapAttributeNumber,
			   table->cxt);
	getTypeOutputInfo(TupleDescAttr(RelationGetDescr(rel), table->key.attnum - 1)->atttypid,
					  &outfunc, &varlena);
	fmgr_info_cxt(outfunc, &table->key_out, table->cxt);

	/*
	 * Valid from before the build: an invalidation that arrives while it
	 * runs (its queries take locks, which processes them) clears this and
	 * the next row builds again.
	 */
	table->valid = true;
	PG_TRY();
	{
		AsOwner		as;

		SPI_connect();
		become_owner(&as);
		load_subscriptions(table, rel);
		restore_user(&as);
		SPI_finish();
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

static void
append_field(StringInfo buf, CaptureField *field, HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Datum		value = heap_getattr(tuple, field->attnum, desc, &isnull);

	if (buf->len > 1)
		appendStringInfoChar(buf, ',');
	appendStringInfoString(buf, field->json_name);
	if (isnull)
		appendStringInfoString(buf, "null");
	else
	{
		text	   *json = DatumGetTextPP(FunctionCall1(&field->to_json, value));

		appendBinaryStringInfo(buf, VARDATA_ANY(json), VARSIZE_ANY_EXHDR(json));
	}
}

static bool
field_changed(CaptureField *field, HeapTuple old, HeapTuple new, TupleDesc desc)
{
	bool		old_null,
				new_null;
	Datum		a = heap_getattr(old, field->attnum, desc, &old_null);
	Datum		b = heap_getattr(new, field->attnum, desc, &new_null);

	if (old_null || new_null)
		return old_null != new_null;
	return !datumIsEqual(a, b, field->typbyval, field->typlen);
}

/*
 * The payload of a change for one subscription: the key (fields[0] unless a
 * singleton) and the fields to ship; with old given, only changed ones.
 * NULL when an update changed none of them.
 */
static char *
render_payload(CaptureSub *sub, HeapTuple tuple, HeapTuple old, TupleDesc desc)
{
	StringInfoData buf;
	int			first_data = sub->singleton ? 0 : 1;
	bool		any = false;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	if (!sub->singleton)
		append_field(&buf, &sub->fields[0], tuple, desc);
	for (int i = first_data; i < sub->nfields; i++)
	{
		if (old != NULL && !field_changed(&sub->fields[i], old, tuple, desc))
			continue;
		append_field(&buf, &sub->fields[i], tuple, desc);
		any = true;
	}
	appendStringInfoChar(&buf, '}');
	return (old == NULL || any) ? buf.data : NULL;
}

static SPIPlanPtr
prepare_saved(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

	if (plan == NULL || SPI_keepplan(plan) != 0)
		elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	return plan;
}

static void
remember_queued(text *collection, const char *key, int remote_id, int64 id)
{
	QueuedKey  *entry;
	QueuedRow  *row;
	bool		found;
	MemoryContext old;

	if (queued_this_xact == NULL)
		queued_this_xact = keyhash_create("directus_sync queued items", 64, sizeof(QueuedKey),
										  TopTransactionContext);
	entry = keyhash_enter(queued_this_xact, item_hash_key(text_to_cstring(collection), key), &found);
	old = MemoryContextSwitchTo(TopTransactionContext);
	row = palloc(sizeof(QueuedRow));
	row->remote_id = remote_id;
	row->id = id;
	entry->rows = lappend(entry->rows, row);
	MemoryContextSwitchTo(old);
}


static AttrNumber
outbox_attnum(TupleDesc desc, const char *name)
{
	AttrNumber	attnum = SPI_fnumber(desc, name);

	if (attnum <= 0)
		elog(ERROR, "directus_sync.outbox has no column \"%s\"", name);
	return attnum;
}

/*
 * Finds the outbox, its owner, columns and indexes, kept until
 * a relcache invalidation of the outbox (TRUNCATE, DDL) or of everything.
 */
static void
find_outbox(void)
{
	Oid			nsp = get_namespace_oid("directus_sync", true);
	Relation	rel;
	TupleDesc	desc;
	List	   *indexes;
	ListCell   *lc;
	MemoryContext old;

	outbox_target.valid = false;
	outbox_target.relid = get_relname_relid("outbox", nsp);
	outbox_target.seqid = get_relname_relid("outbox_id_seq", nsp);
	if (!OidIsValid(outbox_target.relid) || !OidIsValid(outbox_target.seqid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("directus_sync is not installed at version 0.2 or later in this database"),
				 errhint("Run ALTER EXTENSION directus_sync UPDATE.")));
	rel = table_open(outbox_target.relid, RowExclusiveLock);
	desc = RelationGetDescr(rel);
	outbox_target.owner = rel->rd_rel->relowner;
	outbox_target.att_id = outbox_attnum(desc, "id");
	outbox_target.att_remote_id = outbox_attnum(desc, "remote_id");
	outbox_target.att_collection = outbox_attnum(desc, "collection");
	outbox_target.att_item_key = outbox_attnum(desc, "item_key");
	outbox_target.att_op = outbox_attnum(desc, "op");
	outbox_target.att_payload = outbox_attnum(desc, "payload");
	outbox_target.att_queued_at = outbox_attnum(desc, "queued_at");
	outbox_target.att_attempts = outbox_attnum(desc, "attempts");

	if (outbox_target.cxt == NULL)
		outbox_target.cxt = AllocSetContextCreate(CacheMemoryContext, "directus_sync outbox",
												  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(outbox_target.cxt);
	indexes = RelationGetIndexList(rel);
	old = MemoryContextSwitchTo(outbox_target.cxt);
	outbox_target.index_oids = palloc(sizeof(Oid) * Max(list_length(indexes), 1));
	outbox_target.index_infos = palloc(sizeof(IndexInfo *) * Max(list_length(indexes), 1));
	outbox_target.nindexes = 0;
	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), RowExclusiveLock);
		IndexInfo  *info = BuildIndexInfo(index);

		/* a predicate or expressions would need an executor */
		if (info->ii_Expressions != NIL || info->ii_Predicate != NIL)
			elog(ERROR, "index %s of directus_sync.outbox is partial or has expressions",
				 RelationGetRelationName(index));
		outbox_target.index_oids[outbox_target.nindexes] = lfirst_oid(lc);
		outbox_target.index_infos[outbox_target.nindexes] = info;
		outbox_target.nindexes++;
		index_close(index, NoLock);
	}
	MemoryContextSwitchTo(old);
	list_free(indexes);
	table_close(rel, NoLock);
	outbox_target.valid = true;
}

static void
insert_index_entries(Relation rel, HeapTuple tuple)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);

	ExecStoreHeapTuple(tuple, slot, false);
	for (int i = 0; i < outbox_target.nindexes; i++)
	{
		Relation	index = index_open(outbox_target.index_oids[i], RowExclusiveLock);
		IndexInfo  *info = outbox_target.index_infos[i];
		Datum		values[INDEX_MAX_KEYS];
		bool		isnull[INDEX_MAX_KEYS];

		FormIndexDatum(info, slot, NULL, values, isnull);
		index_insert(index, values, isnull, &tuple->t_self, rel,
					 index->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
					 false, info);
		index_close(index, NoLock);
	}
	ExecDropSingleTupleTableSlot(slot);
}

/* Queues one change; returns its outbox id. */
static int64
insert_outbox_row(int remote_id, text *collection, const char *key, char op, const char *payload)
{
	Relation	rel;
	TupleDesc	desc;
	Datum	   *values;
	bool	   *nulls;
	int64		id;
	HeapTuple	tuple;

	if (!outbox_target.valid)
		find_outbox();
	rel = table_open(outbox_target.relid, RowExclusiveLock);
	desc = RelationGetDescr(rel);
	values = palloc0(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	id = nextval_internal(outbox_target.seqid, false);

	memset(nulls, true, sizeof(bool) * desc->natts);
#define SET_COLUMN(att, value) (values[(att) - 1] = (value), nulls[(att) - 1] = false)
	SET_COLUMN(outbox_target.att_id, Int64GetDatum(id));
	SET_COLUMN(outbox_target.att_remote_id, Int32GetDatum(remote_id));
	SET_COLUMN(outbox_target.att_collection, PointerGetDatum(collection));
	SET_COLUMN(outbox_target.att_item_key, CStringGetTextDatum(key));
	SET_COLUMN(outbox_target.att_op, CharGetDatum(op));
	if (payload != NULL)
		SET_COLUMN(outbox_target.att_payload, CStringGetTextDatum(payload));
	SET_COLUMN(outbox_target.att_queued_at, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	SET_COLUMN(outbox_target.att_attempts, Int32GetDatum(0));
#undef SET_COLUMN

	tuple = heap_form_tuple(desc, values, nulls);
	simple_heap_insert(rel, tuple);
	insert_index_entries(rel, tuple);
	table_close(rel, NoLock);	/* the lock stays until the end of the transaction */
	return id;
}

static void
queue_change(CaptureTable *table, CaptureSub *sub, const char *key, char op, const char *payload)
{
	int64		id = insert_outbox_row(sub->remote_id, sub->collection, key, op, payload);

	if (table->track)
		remember_queued(sub->collection, key, sub->remote_id, id);
	if (!sub->paused)
		wake_pending = true;
}

static char *
key_text(CaptureTable *table, HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Datum		key = heap_getattr(tuple, table->key.attnum, desc, &isnull);

	return isnull ? NULL : OutputFunctionCall(&table->key_out, key);
}

Datum
directus_sync_capture(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	CaptureTable *table;
	HeapTuple	tuple;
	HeapTuple	old = NULL;
	char	   *key;
	char	   *old_key = NULL;
	char	  **payloads;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("directus_sync._capture() must be an AFTER ROW trigger")));

	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		tuple = trigdata->tg_newtuple;
		old = trigdata->tg_trigtuple;
	}
	else
		tuple = trigdata->tg_trigtuple;

	table = capture_table(rel);

	/* render as the writer: to_json runs the columns' output functions */
	key = key_text(table, tuple, desc);
	if (old != NULL)
	{
		old_key = key_text(table, old, desc);
		if (strcmp(old_key, key) == 0)
			old_key = NULL;
	}
	payloads = palloc0(sizeof(char *) * Max(table->nsubs, 1));
	for (int i = 0; i < table->nsubs; i++)
	{
		CaptureSub *sub = &table->subs[i];

		if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
			payloads[i] = NULL;
		else
			payloads[i] = render_payload(sub, tuple, old_key ? NULL : old, desc);
	}

	for (int i = 0; i < table->nsubs; i++)
	{
		CaptureSub *sub = &table->subs[i];

		if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
			queue_change(table, sub, key, 'c', payloads[i]);
		else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
			queue_change(table, sub, key, 'd', NULL);
		else if (old_key != NULL)
		{
			/* a changed key: Directus sees another item */
			queue_change(table, sub, old_key, 'd', NULL);
			queue_change(table, sub, key, 'c', payloads[i]);
		}
		else if (payloads[i] != NULL)
			queue_change(table, sub, key, 'u', payloads[i]);
	}
	return PointerGetDatum(NULL);
}

/* ----------------------------------------------------------------
 * Loop guard
 * ---------------------------------------------------------------- */

static void
load_activity_config(Relation rel)
{
	SPITupleTable *tuptable;
	TupleDesc	desc = RelationGetDescr(rel);

	activity_config.valid = false;
	if (activity_config.inbound)
		pfree(activity_config.inbound);
	activity_config.inbound = NULL;
	activity_config.ninbound = 0;
	activity_config.relid = RelationGetRelid(rel);
	activity_config.user_att = SPI_fnumber(desc, "user");
	activity_config.collection_att = SPI_fnumber(desc, "collection");
	activity_config.item_att = SPI_fnumber(desc, "item");
	activity_config.action_att = SPI_fnumber(desc, "action");
	if (activity_config.user_att <= 0 || activity_config.collection_att <= 0 ||
		activity_config.item_att <= 0 || activity_config.action_att <= 0 ||
		TupleDescAttr(desc, activity_config.user_att - 1)->atttypid != UUIDOID)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not a Directus activity table", RelationGetRelationName(rel)),
				 errdetail("Expected columns \"user\" (uuid), collection, item and action.")));

	if (SPI_execute("SELECT id, inbound_user, forward_inbound FROM directus_sync.remote"
					" WHERE inbound_user IS NOT NULL", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the inbound users of remotes");
	tuptable = SPI_tuptable;
	activity_config.ninbound = (int) SPI_processed;
	activity_config.inbound = MemoryContextAllocZero(CacheMemoryContext,
													 sizeof(InboundRemote) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		InboundRemote *r = &activity_config.inbound[i];
		bool		isnull;

		r->remote_id = DatumGetInt32(SPI_getbinval(tuptable->vals[i], tuptable->tupdesc, 1, &isnull));
		r->user = *DatumGetUUIDP(SPI_getbinval(tuptable->vals[i], tuptable->tupdesc, 2, &isnull));
		r->forward = DatumGetBool(SPI_getbinval(tuptable->vals[i], tuptable->tupdesc, 3, &isnull));
	}
	activity_config.valid = true;
}

static void
unqueue(const QueuedRow *row)
{
	Datum		values[2] = {Int32GetDatum(row->remote_id), Int64GetDatum(row->id)};

	if (delete_plan == NULL)
	{
		Oid			types[2] = {INT4OID, INT8OID};

		delete_plan = prepare_saved("DELETE FROM directus_sync.outbox WHERE remote_id = $1 AND id = $2",
									2, types);
	}
	if (SPI_execute_plan(delete_plan, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not remove a queued change");
}

/* What _resolve_conflicts decided for one inbound change: our values to write back. */
typedef struct Resolution
{
	char	   *restore_sql;	/* NULL: none of ours won */
	Datum		restore;		/* jsonb, $1 of restore_sql */
} Resolution;

/*
 * Runs directus_sync._resolve_conflicts for the rows this transaction queued
 * for the remote whose inbound user changed the item.
 */
static Resolution
resolve_conflicts(int remote_id, const char *collection, const char *item, List *rows)
{
	Resolution	res = {NULL, (Datum) 0};
	Datum	   *ids = palloc(sizeof(Datum) * Max(list_length(rows), 1));
	int			nids = 0;
	ListCell   *lc;
	Oid			types[4] = {INT4OID, TEXTOID, TEXTOID, INT8ARRAYOID};
	Datum		values[4];
	bool		isnull;

	foreach(lc, rows)
	{
		QueuedRow  *row = lfirst(lc);

		if (row->remote_id == remote_id)
			ids[nids++] = Int64GetDatum(row->id);
	}
	if (nids == 0)
		return res;
	values[0] = Int32GetDatum(remote_id);
	values[1] = CStringGetTextDatum(collection);
	values[2] = CStringGetTextDatum(item);
	values[3] = PointerGetDatum(construct_array(ids, nids, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_with_args("SELECT restore_sql, restore FROM directus_sync._resolve_conflicts($1, $2, $3, $4)",
							  4, types, values, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not resolve conflicts of item \"%s\" in \"%s\"", item, collection);
	res.restore_sql = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	res.restore = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	return res;
}

/*
 * Our values won a conflict: write them back, as the user whose transaction
 * this is (it just wrote the row). The capture trigger queues them anew.
 */
static void
restore_winning_values(const Resolution *res, const char *item)
{
	Oid			types[2] = {JSONBOID, TEXTOID};
	Datum		values[2] = {res->restore, CStringGetTextDatum(item)};

	if (SPI_execute_with_args(res->restore_sql, 2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not write back the values of item \"%s\" that won a conflict", item);
}

Datum
directus_sync_activity(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	Datum		user;
	char	   *action;
	QueuedKey  *entry;
	AsOwner		as;
	Resolution	res = {NULL, (Datum) 0};
	char	   *item = NULL;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("directus_sync._activity() must be an AFTER INSERT ROW trigger")));

	/* nothing queued in this transaction: nothing to hold back */
	if (queued_this_xact == NULL)
		return PointerGetDatum(NULL);

	tuple = trigdata->tg_trigtuple;
	desc = RelationGetDescr(trigdata->tg_relation);
	SPI_connect();
	become_owner(&as);
	if (!activity_config.valid || activity_config.relid != RelationGetRelid(trigdata->tg_relation))
		load_activity_config(trigdata->tg_relation);

	user = heap_getattr(tuple, activity_config.user_att, desc, &isnull);
	action = isnull ? NULL : SPI_getvalue(tuple, desc, activity_config.action_att);
	if (action != NULL &&
		(strcmp(action, "create") == 0 || strcmp(action, "update") == 0 || strcmp(action, "delete") == 0))
	{
		char	   *collection = SPI_getvalue(tuple, desc, activity_config.collection_att);

		item = SPI_getvalue(tuple, desc, activity_config.item_att);
		entry = keyhash_find(queued_this_xact, item_hash_key(collection ? collection : "", item ? item : ""));
		for (int i = 0; entry != NULL && i < activity_config.ninbound; i++)
		{
			InboundRemote *inbound = &activity_config.inbound[i];
			ListCell   *lc;

			if (memcmp(&inbound->user, DatumGetUUIDP(user), sizeof(pg_uuid_t)) != 0)
				continue;
			if (strcmp(action, "delete") != 0)
				res = resolve_conflicts(inbound->remote_id, collection, item, entry->rows);
			foreach(lc, entry->rows)
			{
				QueuedRow  *row = lfirst(lc);

				if (row->remote_id == inbound->remote_id || !inbound->forward)
					unqueue(row);
			}
		}
	}
	restore_user(&as);
	if (res.restore_sql != NULL)
		restore_winning_values(&res, item);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/* ----------------------------------------------------------------
 * SQL-callable helpers
 * ---------------------------------------------------------------- */

Datum
directus_sync_invalidate(PG_FUNCTION_ARGS)
{
	CacheInvalidateRelcacheByRelid(PG_GETARG_OID(0));
	PG_RETURN_VOID();
}

Datum
directus_sync_wake_at_commit(PG_FUNCTION_ARGS)
{
	(void) fcinfo;
	wake_pending = true;
	PG_RETURN_VOID();
}

Datum
directus_sync_wake(PG_FUNCTION_ARGS)
{
	(void) fcinfo;
	PG_RETURN_BOOL(worker_wake(MyDatabaseId));
}
