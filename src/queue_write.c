/*-------------------------------------------------------------------------
 *
 * queue_write.c
 *	  The outbox as the capture trigger writes it: straight into the heap
 *	  and its indexes, as logical replication's apply does, without an
 *	  executor run or SPI per row.
 *
 * What the writer needs (the outbox's columns, its indexes, its owner and
 * its id sequence) is looked up once and kept until a relcache invalidation
 * of the outbox (TRUNCATE, DDL) or of everything.
 *
 * The owner of the outbox owns every object of the extension; the triggers
 * run their own queries as that role (become_owner), because the roles that
 * write Directus's tables have no rights on the schema directus_sync.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "queue_write.h"

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

static void
invalidate_outbox(Datum arg, Oid relid)
{
	(void) arg;
	if (relid == InvalidOid || relid == outbox_target.relid)
		outbox_target.valid = false;
}

void
queue_write_register_callbacks(void)
{
	CacheRegisterRelcacheCallback(invalidate_outbox, (Datum) 0);
}

static AttrNumber
outbox_attnum(TupleDesc desc, const char *name)
{
	AttrNumber	attnum = SPI_fnumber(desc, name);

	if (attnum <= 0)
		elog(ERROR, "directus_sync.outbox has no column \"%s\"", name);
	return attnum;
}

static void
find_outbox_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	outbox_target.att_id = outbox_attnum(desc, "id");
	outbox_target.att_remote_id = outbox_attnum(desc, "remote_id");
	outbox_target.att_collection = outbox_attnum(desc, "collection");
	outbox_target.att_item_key = outbox_attnum(desc, "item_key");
	outbox_target.att_op = outbox_attnum(desc, "op");
	outbox_target.att_payload = outbox_attnum(desc, "payload");
	outbox_target.att_queued_at = outbox_attnum(desc, "queued_at");
	outbox_target.att_attempts = outbox_attnum(desc, "attempts");
}

static void
find_outbox_indexes(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	MemoryContext old;

	if (outbox_target.cxt == NULL)
		outbox_target.cxt = AllocSetContextCreate(CacheMemoryContext, "directus_sync outbox",
												  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(outbox_target.cxt);
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
}

/* Finds the outbox, its owner, columns and indexes. */
static void
find_outbox(void)
{
	Oid			nsp = get_namespace_oid("directus_sync", true);
	Relation	rel;

	outbox_target.valid = false;
	outbox_target.relid = get_relname_relid("outbox", nsp);
	outbox_target.seqid = get_relname_relid("outbox_id_seq", nsp);
	if (!OidIsValid(outbox_target.relid) || !OidIsValid(outbox_target.seqid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("directus_sync is not installed at version 0.2 or later in this database"),
				 errhint("Run ALTER EXTENSION directus_sync UPDATE.")));
	rel = table_open(outbox_target.relid, RowExclusiveLock);
	outbox_target.owner = rel->rd_rel->relowner;
	find_outbox_columns(rel);
	find_outbox_indexes(rel);
	table_close(rel, NoLock);
	outbox_target.valid = true;
}

/*
 * As the owner of the extension's objects, with search_path pinned as for a
 * SECURITY DEFINER function: the writer's search_path must not choose the
 * operators our queries run.
 */
void
become_owner(AsOwner *as)
{
	if (!outbox_target.valid)
		find_outbox();
	GetUserIdAndSecContext(&as->saved_user, &as->saved_context);
	as->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(outbox_target.owner, as->saved_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
restore_user(AsOwner *as)
{
	SetUserIdAndSecContext(as->saved_user, as->saved_context);
	AtEOXact_GUC(true, as->guc_level);
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
int64
queue_write_change(int remote_id, text *collection, const char *key, SyncOp op, const char *payload)
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
	SET_COLUMN(outbox_target.att_op, CharGetDatum((char) op));
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
