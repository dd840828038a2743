/*-------------------------------------------------------------------------
 *
 * queue_write.c
 *	  The outbox as the capture trigger writes it: straight into the heap,
 *	  then into the indexes through the executor's ExecInsertIndexTuples, as
 *	  logical replication's apply worker does; no plan, no SPI per row.
 *
 * The outbox's columns (checked by name and type), its owner and its id
 * sequence are looked up under the lock on the outbox and kept until a
 * relcache invalidation of the outbox (TRUNCATE, DDL) or of everything.
 * A writer takes the lock first and checks the cache after it: the lock
 * brings in the invalidations of DDL that committed while it waited.
 *
 * Each row opens the indexes after the lock, so a writer that waited
 * behind CREATE or DROP INDEX sees the indexes as they are now.
 * ExecInsertIndexTuples leaves out an index that is not ready for inserts
 * (CREATE INDEX CONCURRENTLY, REINDEX CONCURRENTLY, or one left invalid by a
 * failed build; their validation adds what was left out) and handles
 * expressions, predicates and unique checks as an INSERT does. What it reads
 * of each index (its IndexInfo, a partial index's predicate ready to run) is
 * built once and kept until a relcache invalidation of the outbox or of one
 * of its indexes, which every change of an index sends (its readiness too);
 * ExecOpenIndices built them for every row, which with the predicate of
 * outbox_retry_idx cost a sixth of the outbox write. Indexes other than
 * plain btrees (expressions, exclusion constraints, other access methods,
 * whose state may live in the IndexInfo) are opened by ExecOpenIndices for
 * every row, as before.
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
#include "catalog/pg_am.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "compat.h"
#include "queue_write.h"

typedef struct OutboxTarget
{
	bool		valid;
	Oid			relid;
	Oid			owner;
	Oid			seqid;
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

/* What the writer inserts into the outbox's indexes with (see the top). */
typedef struct OutboxIndexes
{
	bool		valid;
	bool		invalidated;	/* since read_outbox_indexes began */
	bool		plain;			/* all plain btrees: the cached way */
	MemoryContext cxt;
	Oid			relid;			/* the outbox they are of */
	int			count;
	Oid		   *oids;
	IndexInfo **infos;
} OutboxIndexes;

static OutboxIndexes outbox_indexes;

/* A relcache invalidation of relid (InvalidOid: of everything). */
void
queue_write_invalidate(Oid relid)
{
	bool		ours = relid == InvalidOid || relid == outbox_target.relid || relid == outbox_indexes.relid;

	if (relid == InvalidOid || relid == outbox_target.relid)
		outbox_target.valid = false;
	for (int i = 0; !ours && i < outbox_indexes.count; i++)
		ours = outbox_indexes.oids[i] == relid;
	if (ours)
	{
		outbox_indexes.valid = false;
		outbox_indexes.invalidated = true;
	}
}

/* A column the writer fills: it must exist with the type written into it. */
static AttrNumber
outbox_attnum(TupleDesc desc, const char *name, Oid type)
{
	AttrNumber	attnum = SPI_fnumber(desc, name);
	Oid			found;

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("directus_sync.outbox has no column \"%s\"", name),
				 errdetail("This library writes the outbox of directus_sync %s.", DIRECTUS_SYNC_VERSION),
				 errhint("Run ALTER EXTENSION directus_sync UPDATE.")));
	found = TupleDescAttr(desc, attnum - 1)->atttypid;
	if (found != type)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("column \"%s\" of directus_sync.outbox is of type %s, not %s",
						name, format_type_be(found), format_type_be(type)),
				 errdetail("This library writes the outbox of directus_sync %s.", DIRECTUS_SYNC_VERSION),
				 errhint("Run ALTER EXTENSION directus_sync UPDATE.")));
	return attnum;
}

static void
find_outbox_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	outbox_target.att_id = outbox_attnum(desc, "id", INT8OID);
	outbox_target.att_remote_id = outbox_attnum(desc, "remote_id", INT4OID);
	outbox_target.att_collection = outbox_attnum(desc, "collection", TEXTOID);
	outbox_target.att_item_key = outbox_attnum(desc, "item_key", TEXTOID);
	outbox_target.att_op = outbox_attnum(desc, "op", CHAROID);
	outbox_target.att_payload = outbox_attnum(desc, "payload", JSONOID);
	outbox_target.att_queued_at = outbox_attnum(desc, "queued_at", TIMESTAMPTZOID);
	outbox_target.att_attempts = outbox_attnum(desc, "attempts", INT4OID);
}

static Oid
outbox_relid(void)
{
	Oid			nsp = get_namespace_oid("directus_sync", true);

	return OidIsValid(nsp) ? get_relname_relid("outbox", nsp) : InvalidOid;
}

/*
 * Finds the outbox, locks it, and then reads its owner, columns and id
 * sequence. Looked up by name without a permission check on the schema:
 * the writer may have none.
 */
static void
find_outbox(void)
{
	Oid			relid;
	Oid			nsp;
	Relation	rel;

	outbox_target.valid = false;
	for (;;)
	{
		relid = outbox_relid();
		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("directus_sync is not installed at version 0.2 or later in this database"),
					 errhint("Run ALTER EXTENSION directus_sync UPDATE.")));
		LockRelationOid(relid, RowExclusiveLock);
		/* the lock brought in the invalidations: is it still the outbox? */
		if (outbox_relid() == relid)
			break;
		UnlockRelationOid(relid, RowExclusiveLock);
	}
	nsp = get_namespace_oid("directus_sync", false);
	outbox_target.relid = relid;
	outbox_target.seqid = get_relname_relid("outbox_id_seq", nsp);
	if (!OidIsValid(outbox_target.seqid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("directus_sync.outbox_id_seq does not exist"),
				 errhint("Run ALTER EXTENSION directus_sync UPDATE.")));
	rel = table_open(relid, NoLock);
	outbox_target.owner = rel->rd_rel->relowner;
	find_outbox_columns(rel);
	table_close(rel, NoLock);	/* the lock stays until the end of the transaction */

	/*
	 * Nothing read above can change while the lock is held (ALTER TABLE and
	 * DROP need stronger locks); an invalidation from now on clears this.
	 */
	outbox_target.valid = true;
}

/*
 * Opens the outbox with RowExclusiveLock and a cache that is valid after
 * the lock.
 */
static Relation
open_outbox(void)
{
	if (outbox_target.valid)
	{
		Relation	rel = try_table_open(outbox_target.relid, RowExclusiveLock);

		if (rel != NULL && outbox_target.valid)
			return rel;
		/* dropped or changed while we waited for the lock */
		if (rel != NULL)
			table_close(rel, NoLock);
	}
	find_outbox();
	return table_open(outbox_target.relid, NoLock);
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
	AtEOXact_GUC(false, as->guc_level);
}

/*
 * Reads the outbox's indexes (rel, locked) into outbox_indexes. Valid only
 * when done and no invalidation came in meanwhile (the indexes' locks may
 * bring some): else the caller takes the indexes as ExecOpenIndices does,
 * and the next row reads them again.
 */
static void
read_outbox_indexes(Relation rel)
{
	List	   *oids;
	MemoryContext old;

	if (outbox_indexes.cxt == NULL)
		outbox_indexes.cxt = AllocSetContextCreate(TopMemoryContext, "directus_sync outbox indexes",
												   ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(outbox_indexes.cxt);
	outbox_indexes.valid = false;
	outbox_indexes.invalidated = false;
	outbox_indexes.plain = true;
	outbox_indexes.relid = RelationGetRelid(rel);
	outbox_indexes.count = 0;
	old = MemoryContextSwitchTo(outbox_indexes.cxt);
	oids = RelationGetIndexList(rel);
	outbox_indexes.oids = palloc(sizeof(Oid) * Max(list_length(oids), 1));
	outbox_indexes.infos = palloc0(sizeof(IndexInfo *) * Max(list_length(oids), 1));
	/* all of them first: an invalidation of any while the others are read counts */
	for (int i = 0; i < list_length(oids); i++)
		outbox_indexes.oids[i] = list_nth_oid(oids, i);
	outbox_indexes.count = list_length(oids);
	for (int i = 0; i < outbox_indexes.count; i++)
	{
		Relation	index = index_open(outbox_indexes.oids[i], RowExclusiveLock);
		IndexInfo  *info = BuildIndexInfo(index);

		if (index->rd_rel->relam != BTREE_AM_OID || info->ii_Expressions != NIL ||
			info->ii_ExclusionOps != NULL)
			outbox_indexes.plain = false;
		/* as ExecPrepareQual makes it, here once */
		if (info->ii_Predicate != NIL)
			info->ii_PredicateState = ExecInitQual((List *) expression_planner((Expr *) info->ii_Predicate),
												   NULL);
		outbox_indexes.infos[i] = info;
		index_close(index, NoLock);
	}
	MemoryContextSwitchTo(old);
	outbox_indexes.valid = !outbox_indexes.invalidated;
}

/* The outbox's indexes opened into rinfo, as ExecOpenIndices opens them. */
static void
open_outbox_indexes(Relation rel, ResultRelInfo *rinfo)
{
	if (!outbox_indexes.valid || outbox_indexes.relid != RelationGetRelid(rel))
		read_outbox_indexes(rel);
	if (!outbox_indexes.valid || !outbox_indexes.plain || outbox_indexes.count == 0)
	{
		ExecOpenIndices(rinfo, false);
		return;
	}
	rinfo->ri_NumIndices = outbox_indexes.count;
	rinfo->ri_IndexRelationDescs = palloc(sizeof(Relation) * outbox_indexes.count);
	rinfo->ri_IndexRelationInfo = palloc(sizeof(IndexInfo *) * outbox_indexes.count);
	for (int i = 0; i < outbox_indexes.count; i++)
	{
		rinfo->ri_IndexRelationDescs[i] = index_open(outbox_indexes.oids[i], RowExclusiveLock);
		rinfo->ri_IndexRelationInfo[i] = outbox_indexes.infos[i];
	}
}

/*
 * The new row's index entries, as an INSERT makes them: the indexes opened
 * now, under the lock, with a ResultRelInfo and an EState of their own.
 */
static void
insert_index_entries(Relation rel, HeapTuple tuple)
{
	EState	   *estate = CreateExecutorState();
	MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);
	ResultRelInfo *rinfo = makeNode(ResultRelInfo);

	InitResultRelInfo(rinfo, rel, 1, NULL, 0);
	open_outbox_indexes(rel, rinfo);
	if (rinfo->ri_NumIndices > 0)
	{
		TupleTableSlot *slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel),
													  &TTSOpsHeapTuple);
		List	   *recheck;

		ExecStoreHeapTuple(tuple, slot, false);
		recheck = insert_index_tuples(rinfo, slot, estate);

		/*
		 * Indexes of deferred constraints with a possible conflict: an
		 * INSERT hands them to the constraint triggers it fires, the writer
		 * fires no triggers. Refused rather than left unchecked.
		 */
		if (recheck != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("deferrable constraints on directus_sync.outbox are not supported"),
					 errdetail("The capture trigger cannot defer the check of index \"%s\".",
							   get_rel_name(linitial_oid(recheck)))));
	}
	ExecCloseIndices(rinfo);
	ExecResetTupleTable(estate->es_tupleTable, false);
	MemoryContextSwitchTo(old);
	FreeExecutorState(estate);
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

	rel = open_outbox();
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
