/*-------------------------------------------------------------------------
 *
 * loop_guard.c
 *	  The loop guard: a change a remote made is not shipped back to it.
 *
 * directus_sync._activity() is an AFTER INSERT trigger on
 * directus_activity. Directus writes an activity row after the item, in the
 * same transaction; when that row names a remote's inbound sync user, the
 * outbox rows this transaction queued for the item are deleted again, for
 * that remote (and, unless it forwards, for all). The capture trigger tells
 * the guard which rows it queued (loop_guard_remember) while any remote has
 * an inbound user.
 *
 * When that change sets a field that a change of ours, still queued for the
 * same remote, sets too, both sides changed it concurrently:
 * directus_sync._resolve_conflicts decides which value both instances keep,
 * and the guard writes ours back when ours wins. Not for a table with
 * clocks: there the clocks decided already (clock_row.c).
 *
 * Clocks a write brings (clock_row.c) are taken only from a sync: the
 * guard checks at commit that a remote's inbound user wrote an activity row
 * for every item that got them, and fails the transaction otherwise.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "clock.h"
#include "clock_row.h"
#include "directus_sync.h"
#include "keyhash.h"
#include "loop_guard.h"
#include "queue_write.h"

DIRECTUS_SYNC_FUNCTION(directus_sync_activity);

/* Remotes with an inbound user, and where directus_activity keeps what. */
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

/* What this transaction queued, per collection and item. */
typedef struct QueuedKey
{
	char	   *hash_key;		/* collection \x1f key */
	List	   *rows;			/* QueuedRow */
	bool		clocked;		/* the table has clocks */
} QueuedKey;

/* An item that got clocks in this transaction. */
typedef struct ClockedKey
{
	char	   *hash_key;		/* collection \x1f key */
	bool		by_sync;		/* an inbound user's activity row names it */
	int			signer;			/* the remote whose signature its clocks carried; 0: none */
	SubTransactionId signed_subxact;	/* where the signed write was made */
	int			pending_signer;	/* the signer of its write whose changes are not queued yet */
	bool		unsigned_clocks;	/* a write brought clocks no one signed */
	List	   *conflicts;		/* ClockConflict, logged when by_sync is known */
	SubTransactionId subxact;	/* where the clocks were written */
	bool		undone;			/* that subtransaction rolled back: nothing to check */
	SubTransactionId sync_subxact;	/* where the activity row that set by_sync was written */
} ClockedKey;

typedef struct QueuedRow
{
	int			remote_id;
	int64		id;
} QueuedRow;

/* What _resolve_conflicts decided for one inbound change: our values to write back. */
typedef struct Resolution
{
	char	   *restore_sql;	/* NULL: none of ours won */
	Datum		restore;		/* jsonb, $1 of restore_sql */
} Resolution;

static ActivityConfig activity_config;
static KeyHash *queued_this_xact = NULL;
static KeyHash *clocked_this_xact = NULL;
static SPIPlanPtr unqueue_plan = NULL;

/* A relcache invalidation of relid (InvalidOid: of everything). */
void
loop_guard_invalidate(Oid relid)
{
	if (relid == InvalidOid || relid == activity_config.relid)
		activity_config.valid = false;
}

/* Fails the commit when clocks came from anyone but a sync. */
static void
check_clocks_came_from_syncs(void)
{
	HASH_SEQ_STATUS status;
	ClockedKey *entry;

	if (clocked_this_xact == NULL)
		return;
	hash_seq_init(&status, clocked_this_xact->table);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		/* a signature vouches for its own writes, not for unsigned ones of the item */
		if (!entry->undone && !entry->by_sync && (entry->signer == 0 || entry->unsigned_clocks))
		{
			char	   *sep = strchr(entry->hash_key, '\x1f');

			hash_seq_term(&status);
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only a sync may write column \"%s\"", "directus_sync_meta"),
					 errdetail("Item \"%s\" of collection \"%.*s\" got clocks, and no remote's inbound user wrote its activity.",
							   sep + 1, (int) (sep - entry->hash_key), entry->hash_key),
					 errhint("Leave the column out of writes: directus_sync fills it.")));
		}
	}
}

static void
at_transaction_end(XactEvent event, void *arg)
{
	(void) arg;
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PARALLEL_PRE_COMMIT ||
		event == XACT_EVENT_PRE_PREPARE)
		check_clocks_came_from_syncs();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		/* freed with TopTransactionContext */
		queued_this_xact = NULL;
		clocked_this_xact = NULL;
	}
}

static char *
copy_text(const char *s)
{
	return s ? pstrdup(s) : NULL;
}

/* A copy of conflicts in the current memory context. */
static List *
copy_conflicts(List *conflicts)
{
	List	   *copy = NIL;
	ListCell   *lc;

	foreach(lc, conflicts)
	{
		ClockConflict *c = lfirst(lc);
		ClockConflict *d = palloc(sizeof(ClockConflict));

		d->kind = c->kind;		/* a constant */
		d->field = copy_text(c->field);
		d->local_value = copy_text(c->local_value);
		d->remote_value = copy_text(c->remote_value);
		d->local_clock = copy_text(c->local_clock);
		d->remote_clock = copy_text(c->remote_clock);
		d->remote_won = c->remote_won;
		copy = lappend(copy, d);
	}
	return copy;
}

/* The clocked item of this transaction, made if new (or undone). */
static ClockedKey *
clocked_entry(const char *collection, const char *key)
{
	bool		found;
	ClockedKey *entry;

	if (clocked_this_xact == NULL)
		clocked_this_xact = keyhash_create("directus_sync clocked items", 64, sizeof(ClockedKey),
										   TopTransactionContext);
	entry = keyhash_enter(clocked_this_xact, item_hash_key(collection, key), &found);
	if (!found || entry->undone)
	{
		entry->subxact = GetCurrentSubTransactionId();
		entry->undone = false;
		entry->by_sync = false;
		entry->signer = 0;
		entry->pending_signer = 0;
		entry->unsigned_clocks = false;
		entry->conflicts = NIL;
	}
	return entry;
}

/*
 * A write whose clocks signer signed: a sync's, by that remote (the changes
 * it makes are not queued back to it); its conflicts logged now.
 */
static void
expect_signed_sync(const char *collection, const char *key, List *conflicts, int signer)
{
	ClockedKey *entry = clocked_entry(collection, key);
	AsOwner		as;

	entry->signer = signer;
	entry->signed_subxact = GetCurrentSubTransactionId();
	entry->pending_signer = signer;
	if (conflicts == NIL)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	become_owner(&as);
	loop_guard_log_conflicts(signer, collection, key, conflicts);
	restore_user(&as);
	SPI_finish();
}

/*
 * The remote whose signed sync made the write of the item that the capture
 * trigger is queueing the changes of (0: none); taken once, so that later
 * writes of the item in the transaction go to that remote too.
 */
int
loop_guard_take_signer(const char *collection, const char *key)
{
	ClockedKey *entry;
	int			signer;

	if (clocked_this_xact == NULL)
		return 0;
	entry = keyhash_find(clocked_this_xact, item_hash_key(collection, key));
	if (entry == NULL || entry->undone)
		return 0;
	signer = entry->pending_signer;
	entry->pending_signer = 0;
	return signer;
}

/*
 * Notes an item that a write gave clocks, to be checked at commit, and the
 * conflicts that write resolved, to be logged once the remote is known:
 * now when the write's clocks carry signer's signature (sync_signature.c),
 * else when an inbound user's activity row names the item.
 */
void
loop_guard_expect_sync(const char *collection, const char *key, List *conflicts, int signer)
{
	ClockedKey *entry;
	MemoryContext old;

	if (signer != 0)
	{
		expect_signed_sync(collection, key, conflicts, signer);
		return;
	}

	entry = clocked_entry(collection, key);
	entry->unsigned_clocks = true;
	old = MemoryContextSwitchTo(TopTransactionContext);
	entry->conflicts = list_concat(entry->conflicts, copy_conflicts(conflicts));
	MemoryContextSwitchTo(old);
}

/* Whether a clock (NULL: none) was made by this instance. */
static bool
made_here(const char *clock)
{
	const char *node = clock ? strchr(clock, '@') : NULL;

	return node != NULL && strcmp(node + 1, clock_node()) == 0;
}

/* Our item lost its key to a remote's: the users to notify hear of it. */
static void
notify_key_conflict(int remote_id, const char *collection, const char *key)
{
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		values[3] = {Int32GetDatum(remote_id), CStringGetTextDatum(collection), CStringGetTextDatum(key)};

	if (SPI_execute_with_args("SELECT directus_sync._notify_key_conflict($1, $2, $3)",
							  3, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not notify of item \"%s\" in \"%s\"", key, collection);
}

/*
 * Logs conflicts the clocks resolved in directus_sync.conflict, as the
 * extension's owner (the caller is connected to SPI). remote_id 0: the
 * remote is not known. An item of ours that lost its key to the remote's
 * is told to the remote's users to notify.
 */
void
loop_guard_log_conflicts(int remote_id, const char *collection, const char *key, List *conflicts)
{
	ListCell   *lc;

	foreach(lc, conflicts)
	{
		ClockConflict *c = lfirst(lc);
		const char *texts[9] = {collection, key, c->field, c->kind, c->local_value, c->remote_value,
		c->local_clock, c->remote_clock, c->remote_won ? "remote" : "local"};
		Oid			types[10];
		Datum		values[10];
		char		nulls[10];

		types[0] = INT4OID;
		values[0] = Int32GetDatum(remote_id);
		nulls[0] = remote_id == 0 ? 'n' : ' ';
		for (int i = 0; i < 9; i++)
		{
			types[i + 1] = TEXTOID;
			values[i + 1] = texts[i] ? CStringGetTextDatum(texts[i]) : (Datum) 0;
			nulls[i + 1] = texts[i] ? ' ' : 'n';
		}
		/*
		 * A sync's change that comes again meets the same clocks: logged
		 * once. The unique index makes a copy in an overlapping transaction
		 * wait for the first and log nothing.
		 */
		if (SPI_execute_with_args("INSERT INTO directus_sync.conflict (remote_id, collection, item_key, field, kind,"
								  " local_value, remote_value, local_clock, remote_clock, winner)"
								  " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10)"
								  " ON CONFLICT (collection, item_key, field, local_clock, remote_clock)"
								  "  WHERE local_clock IS NOT NULL AND remote_clock IS NOT NULL DO NOTHING",
								  10, types, values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not log a conflict of item \"%s\" in \"%s\"", key, collection);
		/* the users hear of it where the lost item was made, once */
		if (remote_id != 0 && strcmp(c->kind, "insert_insert") == 0 && c->remote_won && SPI_processed == 1 &&
			made_here(c->local_clock))
			notify_key_conflict(remote_id, collection, key);
	}
}

/*
 * Clocks written in a subtransaction that rolls back are gone: nothing to
 * check. Those of one that commits belong to its parent from then on.
 */
static void
at_subtransaction_end(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	HASH_SEQ_STATUS status;
	ClockedKey *entry;

	(void) arg;
	if (clocked_this_xact == NULL || (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB))
		return;
	hash_seq_init(&status, clocked_this_xact->table);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		/* an activity row rolled back vouches for nothing */
		if (entry->by_sync && entry->sync_subxact == mySubid)
		{
			if (event == SUBXACT_EVENT_ABORT_SUB)
				entry->by_sync = false;
			else
				entry->sync_subxact = parentSubid;
		}
		/* and so does a signed write rolled back */
		if (entry->signer != 0 && entry->signed_subxact == mySubid)
		{
			if (event == SUBXACT_EVENT_ABORT_SUB)
				entry->signer = entry->pending_signer = 0;
			else
				entry->signed_subxact = parentSubid;
		}
		if (entry->subxact != mySubid)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB)
			entry->undone = true;
		else
			entry->subxact = parentSubid;
	}
}

void
loop_guard_register_callbacks(void)
{
	RegisterXactCallback(at_transaction_end, NULL);
	RegisterSubXactCallback(at_subtransaction_end, NULL);
}

/* Notes an outbox row the capture trigger queued in this transaction. */
void
loop_guard_remember(text *collection, const char *key, int remote_id, int64 id, bool clocked)
{
	QueuedKey  *entry;
	QueuedRow  *row;
	bool		found;
	MemoryContext old;

	if (queued_this_xact == NULL)
		queued_this_xact = keyhash_create("directus_sync queued items", 64, sizeof(QueuedKey),
										  TopTransactionContext);
	entry = keyhash_enter(queued_this_xact, item_hash_key(text_to_cstring(collection), key), &found);
	entry->clocked = clocked;
	old = MemoryContextSwitchTo(TopTransactionContext);
	row = palloc(sizeof(QueuedRow));
	row->remote_id = remote_id;
	row->id = id;
	entry->rows = lappend(entry->rows, row);
	MemoryContextSwitchTo(old);
}

static void
find_activity_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

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
}

static void
load_activity_config(Relation rel)
{
	SPITupleTable *tuptable;

	activity_config.valid = false;
	if (activity_config.inbound)
		pfree(activity_config.inbound);
	activity_config.inbound = NULL;
	activity_config.ninbound = 0;
	find_activity_columns(rel);

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

	if (unqueue_plan == NULL)
	{
		Oid			types[2] = {INT4OID, INT8OID};
		const char *sql = "DELETE FROM directus_sync.outbox WHERE remote_id = $1 AND id = $2";
		SPIPlanPtr	plan = SPI_prepare(sql, 2, types);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		unqueue_plan = plan;
	}
	if (SPI_execute_plan(unqueue_plan, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not remove a queued change");
}

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

/*
 * A sync's change of an item of a table with clocks that brought none: taken
 * as it came, it would be stamped as a local write here, with clocks later
 * than what the sender had, and beat edits it should lose to. Refused: the
 * sender tries again once the field goes through.
 */
static void
refuse_change_without_clocks(const char *collection, const char *item)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("a sync changed item \"%s\" of collection \"%s\" without clocks", item, collection),
			 errdetail("Collection \"%s\" has clocks here; every replicated change of it must carry directus_sync_meta.",
					   collection),
			 errhint("Directus drops a field it does not know yet: after enable_clocks, clear its schema cache "
					 "(POST /utils/cache/clear?system=true as an admin). The sending instance needs enable_clocks too.")));
}

/*
 * An inbound user's change of an item this transaction queued rows for:
 * resolves conflicts with our queued changes (not for a delete) and
 * unqueues what must not go back.
 */
static Resolution
guard_item(Datum user, const char *action, const char *collection, const char *item)
{
	Resolution	res = {NULL, (Datum) 0};
	char	   *hash_key = item_hash_key(collection, item);
	QueuedKey  *entry = queued_this_xact ? keyhash_find(queued_this_xact, hash_key) : NULL;
	ClockedKey *clocked = clocked_this_xact ? keyhash_find(clocked_this_xact, hash_key) : NULL;

	for (int i = 0; i < activity_config.ninbound; i++)
	{
		InboundRemote *inbound = &activity_config.inbound[i];
		ListCell   *lc;

		if (memcmp(&inbound->user, DatumGetUUIDP(user), sizeof(pg_uuid_t)) != 0)
			continue;
		/* (a delete without a clock, queued before its table had clocks, is taken as it is) */
		if (clocked == NULL && entry != NULL && entry->clocked && strcmp(action, "delete") != 0)
			refuse_change_without_clocks(collection, item);
		if (clocked != NULL && !clocked->by_sync)
		{
			clocked->by_sync = true;
			clocked->sync_subxact = GetCurrentSubTransactionId();
			loop_guard_log_conflicts(inbound->remote_id, collection, item, clocked->conflicts);
		}
		if (entry == NULL)
			continue;
		if (strcmp(action, "delete") != 0 && !entry->clocked)
			res = resolve_conflicts(inbound->remote_id, collection, item, entry->rows);
		/* with clocks a change is always forwarded: convergence needs it */
		foreach(lc, entry->rows)
		{
			QueuedRow  *row = lfirst(lc);

			if (row->remote_id == inbound->remote_id || (!inbound->forward && !entry->clocked))
				unqueue(row);
		}
	}
	return res;
}

static bool
is_item_action(const char *action)
{
	return action != NULL &&
		(strcmp(action, "create") == 0 || strcmp(action, "update") == 0 || strcmp(action, "delete") == 0);
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
	AsOwner		as;
	Resolution	res = {NULL, (Datum) 0};
	char	   *item = NULL;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("directus_sync._activity() must be an AFTER INSERT ROW trigger")));

	/* nothing queued and no clocks in this transaction: nothing to do */
	if (queued_this_xact == NULL && clocked_this_xact == NULL)
		return PointerGetDatum(NULL);

	tuple = trigdata->tg_trigtuple;
	desc = RelationGetDescr(trigdata->tg_relation);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	become_owner(&as);
	if (!activity_config.valid || activity_config.relid != RelationGetRelid(trigdata->tg_relation))
		load_activity_config(trigdata->tg_relation);

	user = heap_getattr(tuple, activity_config.user_att, desc, &isnull);
	action = isnull ? NULL : SPI_getvalue(tuple, desc, activity_config.action_att);
	if (is_item_action(action))
	{
		char	   *collection = SPI_getvalue(tuple, desc, activity_config.collection_att);

		item = SPI_getvalue(tuple, desc, activity_config.item_att);
		/* an activity row that names no item guards nothing */
		if (collection != NULL && item != NULL)
			res = guard_item(user, action, collection, item);
	}
	restore_user(&as);
	if (res.restore_sql != NULL)
		restore_winning_values(&res, item);
	SPI_finish();
	return PointerGetDatum(NULL);
}
