/*-------------------------------------------------------------------------
 *
 * outbox.c
 *	  The worker's transactions: which remotes are ready, a window of one
 *	  remote's queued changes coalesced into items, the outcome of a window,
 *	  the current rows of items, and resync chunks.
 *
 * Each exported function runs one short transaction of its own and never
 * throws: an error is logged, the transaction rolled back, and the caller
 * sees "nothing" (no remotes, no items), so the worker lives on and retries
 * at its next round. Nothing is held across network I/O.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "directus_sync.h"

/* Rows read per window, per item of a remote's batch limit. */
#define WINDOW_ROWS_PER_BATCH_ITEM 8
#define WINDOW_MAX_ROWS 20000
#define RESYNC_CHUNK_ROWS 1000

static bool extension_ready = false;

/* Where results outlive the transaction. */
static MemoryContext result_cxt;

typedef void (*TransactionBody) (void *arg);

/*
 * Runs body in a transaction with SPI connected and a snapshot set. On error
 * logs it, rolls back and returns false.
 */
static bool
run_transaction(const char *activity, TransactionBody body, void *arg)
{
	MemoryContext caller = CurrentMemoryContext;
	volatile bool ok = true;

	result_cxt = caller;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, activity);
		body(arg);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		/* autovacuum learns of the outbox's dead rows from these */
		pgstat_report_stat(false);
	}
	PG_CATCH();
	{
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(caller);
		EmitErrorReport();
		AbortOutOfAnyTransaction();
		FlushErrorState();
		RESUME_INTERRUPTS();
		ok = false;
		extension_ready = false;	/* maybe dropped: look again */
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

static void
spi_run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute_with_args failed (%d): %s", rc, sql);
}

/* Column i (1-based) of row r of the last result, as a string in result_cxt. */
static char *
result_text(uint64 r, int i)
{
	char	   *val = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, i);

	return val ? MemoryContextStrdup(result_cxt, val) : NULL;
}

static int64
result_int(uint64 r, int i)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, i, &isnull);

	if (isnull)
		return 0;
	switch (SPI_gettypeid(SPI_tuptable->tupdesc, i))
	{
		case INT8OID:
			return DatumGetInt64(d);
		case INT4OID:
			return DatumGetInt32(d);
		case BOOLOID:
			return DatumGetBool(d) ? 1 : 0;
		default:
			elog(ERROR, "unexpected result type");
	}
	return 0;
}

/* ----------------------------------------------------------------
 * Is the extension there, at 0.2 or later?
 * ---------------------------------------------------------------- */

static void
check_extension(void *arg)
{
	bool	   *ready = arg;

	spi_run("SELECT to_regclass('directus_sync.outbox') IS NOT NULL", 0, NULL, NULL, NULL);
	*ready = result_int(0, 1) != 0;
}

bool
outbox_extension_ready(void)
{
	bool		ready = false;

	if (!extension_ready && run_transaction("looking for the extension", check_extension, &ready))
		extension_ready = ready;
	return extension_ready;
}

/* ----------------------------------------------------------------
 * Ready remotes
 * ---------------------------------------------------------------- */

typedef struct ReadyArgs
{
	List	   *busy;
	List	   *ready;
	long		next_retry_ms;
} ReadyArgs;

static void
find_ready(void *arg)
{
	ReadyArgs  *a = arg;

	spi_run("SELECT r.id, (extract(epoch FROM st.retry_at - now()) * 1000)::bigint AS wait_ms"
			"  FROM directus_sync.remote r LEFT JOIN directus_sync.remote_state st ON st.remote_id = r.id"
			" WHERE r.enabled AND NOT r.paused"
			"   AND EXISTS (SELECT FROM directus_sync.outbox o WHERE o.remote_id = r.id)"
			" ORDER BY r.id", 0, NULL, NULL, NULL);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		int			id = (int) result_int(r, 1);
		int64		wait_ms = result_int(r, 2);

		if (list_member_int(a->busy, id))
			continue;
		if (wait_ms > 0)
		{
			if (a->next_retry_ms < 0 || wait_ms < a->next_retry_ms)
				a->next_retry_ms = wait_ms;
			continue;
		}
		{
			MemoryContext old = MemoryContextSwitchTo(result_cxt);

			a->ready = lappend_int(a->ready, id);
			MemoryContextSwitchTo(old);
		}
	}
}

/*
 * Ids of the remotes that have queued work and may be sent to now, leaving
 * out the busy ones; *next_retry_ms is when the earliest backed-off one is
 * due (-1: none).
 */
List *
outbox_ready_remotes(List *busy_ids, long *next_retry_ms)
{
	ReadyArgs	a = {busy_ids, NIL, -1};

	if (!run_transaction("finding ready remotes", find_ready, &a))
		a.ready = NIL;
	*next_retry_ms = a.next_retry_ms;
	return a.ready;
}

/* ----------------------------------------------------------------
 * Claim: a window of queued rows, coalesced into items
 * ---------------------------------------------------------------- */

/*
 * The coalescing state of one item while the window is read. Its op 'n' is
 * "nothing left to ship": a create and a delete cancelled each other.
 */
typedef struct ItemEntry
{
	char	   *hash_key;		/* collection \x1f key */
	SyncItem   *item;
	bool		closed;			/* later rows of this item wait for the next window */
} ItemEntry;

static char *
merge_payloads(const char *older, const char *newer)
{
	Datum		a = DirectFunctionCall1(jsonb_in, CStringGetDatum(older));
	Datum		b = DirectFunctionCall1(jsonb_in, CStringGetDatum(newer));
	Datum		merged = DirectFunctionCall2(jsonb_concat, a, b);

	return MemoryContextStrdup(result_cxt, DatumGetCString(DirectFunctionCall1(jsonb_out, merged)));
}

/*
 * Folds one more queued row into an item. Returns false when the row cannot
 * be folded in (a create after a delete, say): it must wait for the next
 * window, behind what this window ships.
 */
static bool
fold_row(SyncItem *item, char op, const char *payload, bool maybe_sent)
{
	switch (item->op)
	{
		case 'c':
			if (op == 'u')
				item->payload = merge_payloads(item->payload, payload);
			else if (op == 'd')
			{
				/* a create that may have arrived must be undone */
				item->op = item->maybe_sent ? 'd' : 'n';
				item->payload = NULL;
			}
			else
				return false;
			return true;
		case 'u':
			if (op == 'u')
				item->payload = merge_payloads(item->payload, payload);
			else if (op == 'd')
			{
				item->op = 'd';
				item->payload = NULL;
			}
			else
				return false;
			return true;
		case 'd':
			return op == 'd';
		case 'n':
			if (op == 'c')
			{
				item->op = 'c';
				item->payload = MemoryContextStrdup(result_cxt, payload);
				item->maybe_sent = maybe_sent;
				return true;
			}
			return op == 'd';
	}
	return false;
}

static void
item_add_id(SyncItem *item, int64 id)
{
	if (item->nids == item->maxids)
	{
		item->maxids = Max(4, item->maxids * 2);
		item->ids = item->ids
			? repalloc(item->ids, sizeof(int64) * item->maxids)
			: MemoryContextAlloc(result_cxt, sizeof(int64) * item->maxids);
	}
	item->ids[item->nids++] = id;
}

static SyncSubscription *
find_subscription(SyncRemote *remote, const char *collection)
{
	ListCell   *lc;

	foreach(lc, remote->subscriptions)
	{
		SyncSubscription *sub = lfirst(lc);

		if (strcmp(sub->collection, collection) == 0)
			return sub;
	}
	return NULL;
}

typedef struct ClaimArgs
{
	int			remote_id;
	SyncRemote *remote;
	List	   *items;
} ClaimArgs;

static SyncRemote *
load_remote(int remote_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(remote_id)};
	SyncRemote *remote;
	MemoryContext old;

	/* pg_dump keeps remotes, not their state: a restored remote gets it here */
	spi_run("INSERT INTO directus_sync.remote_state (remote_id) VALUES ($1) ON CONFLICT DO NOTHING",
			1, types, values, NULL);
	spi_run("SELECT id, name, url, token, connect_timeout_ms, request_timeout_ms,"
			"       batch_max_items, batch_max_bytes, verify_tls"
			"  FROM directus_sync.remote WHERE id = $1 AND enabled AND NOT paused",
			1, types, values, NULL);
	if (SPI_processed != 1)
		return NULL;
	remote = MemoryContextAllocZero(result_cxt, sizeof(SyncRemote));
	remote->id = remote_id;
	remote->name = result_text(0, 2);
	remote->url = result_text(0, 3);
	remote->token = result_text(0, 4);
	remote->connect_timeout_ms = (int) result_int(0, 5);
	remote->request_timeout_ms = (int) result_int(0, 6);
	remote->batch_max_items = (int) result_int(0, 7);
	remote->batch_max_bytes = (int) result_int(0, 8);
	remote->verify_tls = result_int(0, 9) != 0;

	spi_run("SELECT collection, key_column, key_is_number, singleton"
			"  FROM directus_sync.subscription WHERE remote_id = $1",
			1, types, values, NULL);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		SyncSubscription *sub = MemoryContextAllocZero(result_cxt, sizeof(SyncSubscription));

		sub->collection = result_text(r, 1);
		sub->key_column = result_text(r, 2);
		sub->key_is_number = result_int(r, 3) != 0;
		sub->singleton = result_int(r, 4) != 0;
		old = MemoryContextSwitchTo(result_cxt);
		remote->subscriptions = lappend(remote->subscriptions, sub);
		MemoryContextSwitchTo(old);
	}
	return remote;
}

static SyncItem *
new_item(SyncRemote *remote, const char *collection, const char *key, char op, const char *payload,
		 bool maybe_sent)
{
	SyncItem   *item = MemoryContextAllocZero(result_cxt, sizeof(SyncItem));

	item->sub = find_subscription(remote, collection);
	item->key = MemoryContextStrdup(result_cxt, key);
	item->op = op;
	item->payload = payload ? MemoryContextStrdup(result_cxt, payload) : NULL;
	item->maybe_sent = maybe_sent && op == 'c';
	item->outcome = ITEM_PENDING;
	if (item->sub == NULL)
	{
		/* unsubscribe deletes queued rows; this one raced with it */
		item->sub = MemoryContextAllocZero(result_cxt, sizeof(SyncSubscription));
		item->sub->collection = MemoryContextStrdup(result_cxt, collection);
		item->outcome = ITEM_DEAD;
		item->error_code = "NO_SUBSCRIPTION";
		item->error_message = "the remote no longer subscribes to this collection";
	}
	return item;
}

static void
claim(void *arg)
{
	ClaimArgs  *a = arg;
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2];
	KeyHash    *seen;
	MemoryContext old;
	ListCell   *lc;

	a->remote = load_remote(a->remote_id);
	if (a->remote == NULL)
		return;

	/*
	 * In queue order, leaving out every row of an item that backs off alone
	 * (its first row carries retry_at), so that it holds up nothing else.
	 */
	values[0] = Int32GetDatum(a->remote_id);
	values[1] = Int32GetDatum(Min(WINDOW_MAX_ROWS, a->remote->batch_max_items * WINDOW_ROWS_PER_BATCH_ITEM));
	spi_run("SELECT o.id, o.collection, o.item_key, o.op, o.payload::text, o.attempts"
			"  FROM directus_sync.outbox o WHERE o.remote_id = $1"
			"   AND NOT EXISTS (SELECT FROM directus_sync.outbox b"
			"                    WHERE b.remote_id = $1 AND b.retry_at IS NOT NULL AND b.retry_at > now()"
			"                      AND b.collection = o.collection AND b.item_key = o.item_key)"
			" ORDER BY o.id LIMIT $2",
			2, types, values, NULL);

	seen = keyhash_create("directus_sync window items", 1024, sizeof(ItemEntry), CurrentMemoryContext);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		int64		id = result_int(r, 1);
		char	   *collection = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
		char	   *key = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3);
		char	   *opstr = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 4);
		char	   *payload = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 5);
		bool		maybe_sent = result_int(r, 6) > 0;
		ItemEntry  *entry;
		bool		found;

		entry = keyhash_enter(seen, item_hash_key(collection, key), &found);
		if (entry->closed)
			continue;
		if (entry->item == NULL)
		{
			entry->item = new_item(a->remote, collection, key, opstr[0], payload, maybe_sent);
			old = MemoryContextSwitchTo(result_cxt);
			a->items = lappend(a->items, entry->item);
			MemoryContextSwitchTo(old);
		}
		else if (!fold_row(entry->item, opstr[0], payload, maybe_sent))
		{
			entry->closed = true;
			continue;
		}
		item_add_id(entry->item, id);
	}

	/* nothing left to ship is delivered as is */
	foreach(lc, a->items)
	{
		SyncItem   *item = lfirst(lc);

		if (item->op == 'n')
			item->outcome = ITEM_DELIVERED;
	}

	values[1] = Int32GetDatum(list_length(a->items));
	spi_run("UPDATE directus_sync.remote_state SET in_flight = $2 WHERE remote_id = $1",
			2, types, values, NULL);
}

/*
 * Loads a remote (settings, subscriptions) and a window of its queued rows
 * as items, in queue order of their first row. NULL when the remote is gone,
 * disabled or paused.
 */
SyncRemote *
outbox_claim(int remote_id, List **items)
{
	ClaimArgs	a = {remote_id, NULL, NIL};

	if (!run_transaction("claiming queued changes", claim, &a))
		return NULL;
	*items = a.items;
	return a.remote;
}

/* ----------------------------------------------------------------
 * Record the outcome of a window
 * ---------------------------------------------------------------- */

typedef struct RecordArgs
{
	SyncRemote *remote;
	List	   *items;
	const char *remote_error;
	int			retry_after_ms;
} RecordArgs;

typedef struct ArrayAccum
{
	Datum	   *values;
	bool	   *nulls;
	int			n;
} ArrayAccum;

static void
accum_init(ArrayAccum *acc, int capacity)
{
	acc->values = palloc(sizeof(Datum) * Max(capacity, 1));
	acc->nulls = palloc(sizeof(bool) * Max(capacity, 1));
	acc->n = 0;
}

static void
accum_add(ArrayAccum *acc, Datum value, bool isnull)
{
	acc->values[acc->n] = value;
	acc->nulls[acc->n] = isnull;
	acc->n++;
}

static Datum
accum_text(ArrayAccum *acc, const char *s)
{
	accum_add(acc, s ? CStringGetTextDatum(s) : (Datum) 0, s == NULL);
	return (Datum) 0;
}

static Datum
accum_array(ArrayAccum *acc, Oid elemtype)
{
	int			dims[1] = {acc->n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(acc->values, acc->nulls, 1, dims, lbs,
											  elemtype, typlen, typbyval, typalign));
}

static const char *
event_name(char op)
{
	return op == 'c' ? "create" : op == 'u' ? "update" : "delete";
}

static char *
item_error_text(const SyncItem *item)
{
	if (item->http_status > 0)
		return psprintf("HTTP %d %s: %s", item->http_status,
						item->error_code ? item->error_code : "",
						item->error_message ? item->error_message : "");
	return psprintf("%s: %s", item->error_code ? item->error_code : "error",
					item->error_message ? item->error_message : "");
}

static void
record(void *arg)
{
	RecordArgs *a = arg;
	int			nitems = 0;
	ArrayAccum	delivered,
				dead_ids,
				dead_status,
				dead_code,
				dead_message,
				retry_ids,
				retry_errors,
				attempted_ids;
	SyncItem   *first_failed = NULL;
	char	   *first_error = NULL;
	ListCell   *lc;
	Oid			types[15] = {INT4OID, INT8ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTOID, INT4OID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8ARRAYOID};
	Datum		values[15];
	char		nulls[15];

	foreach(lc, a->items)
		nitems += ((SyncItem *) lfirst(lc))->nids;
	accum_init(&delivered, nitems);
	accum_init(&dead_ids, nitems);
	accum_init(&dead_status, nitems);
	accum_init(&dead_code, nitems);
	accum_init(&dead_message, nitems);
	accum_init(&retry_ids, nitems);
	accum_init(&retry_errors, nitems);
	accum_init(&attempted_ids, nitems);

	foreach(lc, a->items)
	{
		SyncItem   *item = lfirst(lc);

		switch (item->outcome)
		{
			case ITEM_DELIVERED:
				for (int i = 0; i < item->nids; i++)
					accum_add(&delivered, Int64GetDatum(item->ids[i]), false);
				break;
			case ITEM_DEAD:
				for (int i = 0; i < item->nids; i++)
				{
					accum_add(&dead_ids, Int64GetDatum(item->ids[i]), false);
					accum_add(&dead_status, Int32GetDatum(item->http_status), item->http_status == 0);
					accum_text(&dead_code, item->error_code);
					accum_text(&dead_message, item->error_message);
				}
				break;
			case ITEM_RETRY:
				/* the first row holds the item's backoff */
				accum_add(&retry_ids, Int64GetDatum(item->ids[0]), false);
				accum_text(&retry_errors, item_error_text(item));
				break;
			case ITEM_PENDING:
				if (item->attempted)
					accum_add(&attempted_ids, Int64GetDatum(item->ids[0]), false);
				break;
		}
		if (first_failed == NULL &&
			(item->outcome == ITEM_DEAD || item->outcome == ITEM_RETRY ||
			 (item->outcome == ITEM_PENDING && a->remote_error != NULL)))
		{
			first_failed = item;
			first_error = item->outcome == ITEM_PENDING ? pstrdup(a->remote_error) : item_error_text(item);
		}
	}

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int32GetDatum(a->remote->id);
	values[1] = accum_array(&delivered, INT8OID);
	values[2] = accum_array(&dead_ids, INT8OID);
	values[3] = accum_array(&dead_status, INT4OID);
	values[4] = accum_array(&dead_code, TEXTOID);
	values[5] = accum_array(&dead_message, TEXTOID);
	values[6] = accum_array(&retry_ids, INT8OID);
	values[7] = accum_array(&retry_errors, TEXTOID);
	values[8] = a->remote_error ? CStringGetTextDatum(a->remote_error) : (Datum) 0;
	nulls[8] = a->remote_error ? ' ' : 'n';
	values[9] = Int32GetDatum(a->retry_after_ms);
	if (first_failed)
	{
		values[10] = CStringGetTextDatum(first_failed->sub->collection);
		values[11] = CStringGetTextDatum(first_failed->key);
		values[12] = CStringGetTextDatum(event_name(first_failed->op));
		values[13] = CStringGetTextDatum(first_error);
	}
	else
		nulls[10] = nulls[11] = nulls[12] = nulls[13] = 'n';
	values[14] = accum_array(&attempted_ids, INT8OID);

	spi_run("SELECT directus_sync._record($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
			15, types, values, nulls);
}

/*
 * Settles a window: delivered rows leave the queue, dead ones move to the
 * dead letters, items that failed alone back off, and a failure of the whole
 * remote (remote_error) backs the remote off; pending rows stay queued as
 * they are. Failures notify the remote's users, rate-limited.
 */
void
outbox_record(SyncRemote *remote, List *items, const char *remote_error, int retry_after_ms)
{
	RecordArgs	a = {remote, items, remote_error, retry_after_ms};

	(void) run_transaction("recording deliveries", record, &a);
}

/* ----------------------------------------------------------------
 * Current rows of items: the "update of a missing item" case
 * ---------------------------------------------------------------- */

typedef struct CurrentArgs
{
	SyncRemote *remote;
	SyncSubscription *sub;
	List	   *keys;			/* of char * */
	List	   *payloads;		/* of char *, NULL where the row is gone */
} CurrentArgs;

static void
current_rows(void *arg)
{
	CurrentArgs *a = arg;
	ArrayAccum	keys;
	ListCell   *lc;
	Oid			types[3] = {INT4OID, TEXTOID, TEXTARRAYOID};
	Datum		values[3];

	accum_init(&keys, list_length(a->keys));
	foreach(lc, a->keys)
		accum_text(&keys, lfirst(lc));
	values[0] = Int32GetDatum(a->remote->id);
	values[1] = CStringGetTextDatum(a->sub->collection);
	values[2] = accum_array(&keys, TEXTOID);
	spi_run("SELECT k.key, c.payload::text FROM unnest($3) WITH ORDINALITY AS k(key, ord)"
			"  LEFT JOIN directus_sync._current_rows($1, $2, $3) c ON c.item_key = k.key"
			" ORDER BY k.ord", 3, types, values, NULL);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		char	   *payload = result_text(r, 2);
		MemoryContext old = MemoryContextSwitchTo(result_cxt);

		a->payloads = lappend(a->payloads, payload);
		MemoryContextSwitchTo(old);
	}
}

/*
 * The payloads the items of these keys would have if created now (key and
 * subscribed fields), in the order of keys; NULL for an item no longer
 * there. NIL if the transaction failed.
 */
List *
outbox_current_rows(SyncRemote *remote, SyncSubscription *sub, List *keys)
{
	CurrentArgs a = {remote, sub, keys, NIL};

	if (!run_transaction("reading current rows", current_rows, &a))
		return NIL;
	return a.payloads;
}

/* ----------------------------------------------------------------
 * Resync: one chunk per job and round
 * ---------------------------------------------------------------- */

typedef struct ResyncJob
{
	int			remote_id;
	const char *collection;
} ResyncJob;

static void
list_resync_jobs(void *arg)
{
	List	  **jobs = arg;

	spi_run("SELECT j.remote_id, j.collection FROM directus_sync.resync_job j"
			"  JOIN directus_sync.remote r ON r.id = j.remote_id WHERE r.enabled ORDER BY 1, 2",
			0, NULL, NULL, NULL);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		ResyncJob  *job = MemoryContextAlloc(result_cxt, sizeof(ResyncJob));
		MemoryContext old;

		job->remote_id = (int) result_int(r, 1);
		job->collection = result_text(r, 2);
		old = MemoryContextSwitchTo(result_cxt);
		*jobs = lappend(*jobs, job);
		MemoryContextSwitchTo(old);
	}
}

static void
resync_step(void *arg)
{
	ResyncJob  *job = arg;
	Oid			types[3] = {INT4OID, TEXTOID, INT4OID};
	Datum		values[3] = {Int32GetDatum(job->remote_id), CStringGetTextDatum(job->collection),
	Int32GetDatum(RESYNC_CHUNK_ROWS)};

	spi_run("SELECT directus_sync._resync_step($1, $2, $3)", 3, types, values, NULL);
}

/*
 * Queues the next chunk of every running resync, each chunk in a transaction
 * of its own so that progress shows and nothing is held long.
 */
void
outbox_resync_steps(void)
{
	List	   *jobs = NIL;
	ListCell   *lc;

	if (!run_transaction("listing resync jobs", list_resync_jobs, &jobs))
		return;
	foreach(lc, jobs)
	{
		(void) run_transaction("queuing a resync chunk", resync_step, lfirst(lc));
	}
}

/* ----------------------------------------------------------------
 * Queue hygiene
 * ---------------------------------------------------------------- */

/* A drained outbox larger than this is truncated. */
#define SHRINK_MIN_BYTES (4 * 1024 * 1024)

static void
shrink(void *arg)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(SHRINK_MIN_BYTES)};

	(void) arg;
	spi_run("SELECT directus_sync._shrink_outbox($1)", 1, types, values, NULL);
}

/*
 * Truncates the outbox if it is empty but large (see _shrink_outbox); for
 * the worker to call when it has nothing on its way.
 */
void
outbox_shrink_if_empty(void)
{
	(void) run_transaction("shrinking the outbox", shrink, NULL);
}
