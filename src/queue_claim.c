/*-------------------------------------------------------------------------
 *
 * queue_claim.c
 *	  What the worker takes from the outbox: which remotes are ready, a
 *	  window of one remote's queued rows coalesced into items, and the
 *	  current rows of items that must be created again.
 *
 * A claim reads in three steps, each through one index, in plans that
 * statistics cannot change (fix_plans), so that its cost follows the window
 * and not the backlog:
 *	 1. the remote's items in trouble (outbox_retry_idx: rows that counted an
 *		attempt): those backing off are left out, the others are due and
 *		come first;
 *	 2. the queue in id order from the remote's low-water mark (outbox_pkey,
 *		queue_mark.c) until a window's rows are seen: which items come next;
 *	 3. every queued row of those items, in id order (outbox_item_idx), so
 *		that each item is coalesced whole however far apart its rows lie: a
 *		backlog ships at most one request per item.
 *
 * The rows of each item are then folded into its net change
 * (queue_coalesce.c).
 *
 * Each function runs one transaction of its own (worker_txn.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "directus_sync.h"
#include "hold_back.h"
#include "keyhash.h"
#include "queue_claim.h"
#include "queue_coalesce.h"
#include "queue_mark.h"
#include "worker_txn.h"

/* Rows read per window, per item of a remote's batch limit. */
#define WINDOW_ROWS_PER_BATCH_ITEM 8
#define WINDOW_MAX_ROWS 20000
/* Rows fetched at a time from the claim's cursors. */
#define FETCH_ROWS 1000

/*
 * The claim's plans may not depend on statistics: an outbox analyzed while
 * empty, or while it held one hot item, must not turn a window's index scan
 * into a walk of the whole queue. With these off (as SET LOCAL: the
 * transaction's end resets them) the index each query names is its only
 * plan without a penalty; outbox.item_key's n_distinct keeps an item's rows
 * few in every estimate. t/040 checks the plans.
 */
static void
fix_plans(void)
{
	static const char *const off[] = {"enable_seqscan", "enable_bitmapscan", "enable_sort",
		"enable_incremental_sort", "enable_hashjoin", "enable_mergejoin", "enable_material"};

	for (size_t i = 0; i < lengthof(off); i++)
		(void) set_config_option(off[i], "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
								 true, 0, false);
}

/*
 * A read in the transaction's first snapshot: every read of a claim sees
 * the same queue, and the low-water mark knows which snapshot that was.
 */
static void
spi_read(const char *sql, int nargs, Oid *types, Datum *values)
{
	debug_query_string = sql;
	if (SPI_execute_with_args(sql, nargs, types, values, NULL, true, 0) < 0)
		elog(ERROR, "could not run \"%s\"", sql);
	debug_query_string = NULL;
}

static Portal
open_cursor(const char *sql, int nargs, Oid *types, Datum *values)
{
	debug_query_string = sql;
	return SPI_cursor_open_with_args(NULL, sql, nargs, types, values, NULL, true, 0);
}

static void
close_cursor(Portal portal)
{
	SPI_cursor_close(portal);
	debug_query_string = NULL;
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

/*
 * Per remote: the wait of its backoff; whether it has rows from where its
 * scan would start, or items due again (wherever they are); and the wait
 * until its next item backoff ends (outbox_retry_idx: the least retry_at in
 * the future, one index probe).
 */
#define READY_SQL \
"SELECT r.id, (extract(epoch FROM st.retry_at - now()) * 1000)::bigint," \
"       EXISTS (SELECT FROM directus_sync.outbox o WHERE o.remote_id = r.id AND o.id >= coalesce(m.start, 0))" \
"       OR EXISTS (SELECT FROM directus_sync.outbox o WHERE o.remote_id = r.id AND o.attempts > 0" \
"                   AND (o.retry_at IS NULL OR o.retry_at <= now()))," \
"       ceil(extract(epoch FROM (SELECT o.retry_at FROM directus_sync.outbox o" \
"                                 WHERE o.remote_id = r.id AND o.attempts > 0 AND o.retry_at > now()" \
"                                 ORDER BY o.retry_at LIMIT 1) - now()) * 1000)::bigint" \
"  FROM directus_sync.remote r LEFT JOIN directus_sync.remote_state st ON st.remote_id = r.id" \
"  LEFT JOIN unnest($1::integer[], $2::bigint[]) AS m(remote_id, start) ON m.remote_id = r.id" \
" WHERE r.enabled AND NOT r.paused ORDER BY r.id"

static void
note_wait(ReadyArgs *a, int64 wait_ms)
{
	if (wait_ms > 0 && (a->next_retry_ms < 0 || wait_ms < a->next_retry_ms))
		a->next_retry_ms = wait_ms;
}

static void
find_ready(void *arg)
{
	ReadyArgs  *a = arg;
	Oid			types[2] = {INT4ARRAYOID, INT8ARRAYOID};
	Datum		values[2];
	List	   *listed = NIL;

	queue_mark_starts(GetCurrentTimestamp(), &values[0], &values[1]);
	fix_plans();
	spi_read(READY_SQL, 2, types, values);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		int			id = (int) result_int(r, 1);
		int64		wait_ms = result_int(r, 2);

		listed = lappend_int(listed, id);
		if (list_member_int(a->busy, id))
			continue;
		if (wait_ms > 0)
		{
			note_wait(a, wait_ms);
			continue;
		}
		note_wait(a, result_int(r, 4));
		if (result_int(r, 3))
			a->ready = result_lappend_int(a->ready, id);
	}
	queue_mark_forget(listed);
}

/*
 * Ids of the remotes that have queued work and may be sent to now, leaving
 * out the busy ones; *next_retry_ms is when the earliest backoff of a remote
 * or of an item ends (-1: none).
 */
List *
queue_ready_remotes(List *busy_ids, long *next_retry_ms)
{
	ReadyArgs	a = {busy_ids, NIL, -1};

	if (!run_transaction("finding ready remotes", find_ready, &a))
		a.ready = NIL;
	*next_retry_ms = a.next_retry_ms;
	return a.ready;
}

/* ----------------------------------------------------------------
 * The remote and its subscriptions
 * ---------------------------------------------------------------- */

static void
load_subscriptions(SyncRemote *remote)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(remote->id)};

	spi_run("SELECT collection, key_column, key_is_number, singleton"
			"  FROM directus_sync.subscription WHERE remote_id = $1",
			1, types, values, NULL);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		SyncSubscription *sub = result_alloc(sizeof(SyncSubscription));

		sub->collection = result_text(r, 1);
		sub->key_column = result_text(r, 2);
		sub->key_is_number = result_int(r, 3) != 0;
		sub->singleton = result_int(r, 4) != 0;
		remote->subscriptions = result_lappend(remote->subscriptions, sub);
	}
}

/* A remote that may be sent to; NULL when gone, disabled or paused. */
static SyncRemote *
load_remote(int remote_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(remote_id)};
	SyncRemote *remote;

	/* pg_dump keeps remotes, not their state: a restored remote gets it here */
	spi_run("INSERT INTO directus_sync.remote_state (remote_id) VALUES ($1) ON CONFLICT DO NOTHING",
			1, types, values, NULL);
	spi_run("SELECT r.id, r.name, r.url, r.token, r.connect_timeout_ms, r.request_timeout_ms,"
			"       r.batch_max_items, r.batch_max_bytes, r.verify_tls, st.clock_offset_ms,"
			"       st.hold_probe_at <= now(), st.date_refuted_below_ms, st.consecutive_failures"
			"  FROM directus_sync.remote r JOIN directus_sync.remote_state st ON st.remote_id = r.id"
			" WHERE r.id = $1 AND r.enabled AND NOT r.paused",
			1, types, values, NULL);
	if (SPI_processed != 1)
		return NULL;
	remote = result_alloc(sizeof(SyncRemote));
	remote->id = remote_id;
	remote->name = result_text(0, 2);
	remote->url = result_text(0, 3);
	remote->http.token = result_text(0, 4);
	remote->http.connect_timeout_ms = (int) result_int(0, 5);
	remote->http.request_timeout_ms = (int) result_int(0, 6);
	remote->batch_max_items = (int) result_int(0, 7);
	remote->batch_max_bytes = (int) result_int(0, 8);
	remote->http.verify_tls = result_int(0, 9) != 0;
	remote->has_clock_offset = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 10) != NULL;
	remote->clock_offset_ms = remote->has_clock_offset ? result_int(0, 10) : 0;
	remote->hold_probe_due = result_int(0, 11) != 0;	/* NULL: nothing held */
	remote->date_refuted = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 12) != NULL;
	remote->date_refuted_below_ms = remote->date_refuted ? result_int(0, 12) : 0;
	remote->consecutive_failures = (int) result_int(0, 13);
	load_subscriptions(remote);
	return remote;
}

/* ----------------------------------------------------------------
 * Claim: a window of queued rows, coalesced into items
 * ---------------------------------------------------------------- */

typedef struct ClaimArgs
{
	int			remote_id;
	SyncRemote *remote;
	List	   *items;
} ClaimArgs;

/* An item of the remote's queue while the window is chosen. */
typedef struct ItemEntry
{
	char	   *hash_key;		/* collection \x1f key */
	char	   *collection;
	char	   *key;
	bool		backing_off;	/* left out of this window */
	bool		chosen;			/* in this window */
} ItemEntry;

typedef struct Window
{
	ClaimArgs  *claim;
	int			max_rows;		/* rows the scan reads, and of one item */
	int			max_gathered;	/* rows of the window's items */
	KeyHash    *entries;		/* ItemEntry by collection and key */
	List	   *chosen;			/* of ItemEntry *, in window order */
	int64		seen;			/* lowest id the scan could take or the window leaves */
} Window;

static ItemEntry *
enter_item(Window *w, const char *collection, const char *key)
{
	bool		found;
	ItemEntry  *e = keyhash_enter(w->entries, item_hash_key(collection, key), &found);

	if (!found)
	{
		e->collection = pstrdup(collection);
		e->key = pstrdup(key);
	}
	return e;
}

static void
choose_item(Window *w, ItemEntry *e)
{
	e->chosen = true;
	w->chosen = lappend(w->chosen, e);
}

/*
 * 1. The items in trouble: a row of each counts its attempts (_record).
 * Those backing off are left out of the window, so that they hold up
 * nothing else; the others are due again (their backoff is over, was ended
 * by resume(), or an answer never came) and come first, so that no mark
 * can leave them behind.
 */
static void
read_troubled(Window *w)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(w->claim->remote_id)};
	ItemEntry **entries;

	spi_read("SELECT o.collection, o.item_key, o.retry_at > now() FROM directus_sync.outbox o"
			 " WHERE o.remote_id = $1 AND o.attempts > 0 ORDER BY o.retry_at",
			 1, types, values);
	entries = palloc(sizeof(ItemEntry *) * Max(SPI_processed, 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		entries[r] = enter_item(w, SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1),
								SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2));
		entries[r]->backing_off |= result_int(r, 3) != 0;
	}
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		if (!entries[r]->backing_off && !entries[r]->chosen)
			choose_item(w, entries[r]);
	}
}

/*
 * 2. The queue in id order from start, until the window's rows are seen:
 * the items they belong to are the window's.
 */
static int
scan_queue(Window *w, int64 start)
{
	Oid			types[2] = {INT4OID, INT8OID};
	Datum		values[2] = {Int32GetDatum(w->claim->remote_id), Int64GetDatum(start)};
	Portal		portal = open_cursor("SELECT o.id, o.collection, o.item_key FROM directus_sync.outbox o"
									 " WHERE o.remote_id = $1 AND o.id >= $2 ORDER BY o.id",
									 2, types, values);
	int			rows = 0;

	while (rows < w->max_rows)
	{
		SPI_cursor_fetch(portal, true, Min(FETCH_ROWS, w->max_rows - rows));
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[r];
			ItemEntry  *e = enter_item(w, SPI_getvalue(tuple, SPI_tuptable->tupdesc, 2),
									   SPI_getvalue(tuple, SPI_tuptable->tupdesc, 3));

			if (e->backing_off)
				continue;
			w->seen = Min(w->seen, result_int(r, 1));
			rows++;
			if (!e->chosen)
				choose_item(w, e);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	close_cursor(portal);
	return rows;
}

static QueuedRow
queued_row(uint64 r)
{
	QueuedRow	row;
	HeapTuple	tuple = SPI_tuptable->vals[r];
	TupleDesc	desc = SPI_tuptable->tupdesc;

	row.id = result_int(r, 2);
	row.collection = NULL;
	row.key = NULL;
	row.op = (SyncOp) SPI_getvalue(tuple, desc, 3)[0];
	row.payload = SPI_getvalue(tuple, desc, 4);
	/* only the extension's owner could queue such a row: the remote refuses it */
	if (row.payload == NULL && row.op != SYNC_OP_DELETE)
		row.payload = "null";
	row.attempts = (int) result_int(r, 5);
	row.maybe_sent = row.attempts > 0 || result_int(r, 6) != 0;
	row.backing_off = result_int(r, 7) != 0;
	return row;
}

/*
 * Folds the rows of one item (read up to per_item of them) into one
 * SyncItem. Rows it cannot fold, and those not read, stay queued; an item
 * with a row backing off waits whole.
 */
static void
coalesce_item(Window *w, ItemEntry *e, QueuedRow *rows, int nrows, int per_item)
{
	SyncItem   *item;
	int			folded;

	for (int i = 0; i < nrows; i++)
	{
		if (rows[i].backing_off)
			return;
		rows[i].collection = e->collection;
		rows[i].key = e->key;
	}
	item = coalesce_rows(w->claim->remote, rows, nrows, &folded);
	if (nrows == per_item)
		w->seen = Min(w->seen, rows[nrows - 1].id + 1);
	if (folded < nrows)
		w->seen = Min(w->seen, rows[folded].id);
	if (item != NULL)
		w->claim->items = result_lappend(w->claim->items, item);
}

#define GATHER_SQL \
"SELECT k.ord, o.id, o.op, o.payload::text, o.attempts, o.sent_at IS NOT NULL, o.retry_at > now()" \
"  FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS k(collection, key, ord)," \
"       LATERAL (SELECT o.id, o.op, o.payload, o.attempts, o.sent_at, o.retry_at FROM directus_sync.outbox o" \
"                 WHERE o.remote_id = $1 AND o.collection = k.collection AND o.item_key = k.key" \
"                 ORDER BY o.id LIMIT $4) o" \
" ORDER BY k.ord"

/*
 * 3. Every queued row of the chosen items, up to a window's rows of each,
 * item by item: all of an item or nothing, until the window is full. What
 * an item needs while it is folded goes with it (scratch).
 */
static void
gather_items(Window *w)
{
	int			nitems = list_length(w->chosen);
	Datum	   *colls = palloc(sizeof(Datum) * Max(nitems, 1));
	Datum	   *keys = palloc(sizeof(Datum) * Max(nitems, 1));
	Oid			types[4] = {INT4OID, TEXTARRAYOID, TEXTARRAYOID, INT4OID};
	Datum		values[4];
	MemoryContext scratch;
	QueuedRow  *rows;
	Portal		portal;
	int			nrows = 0,
				taken = 0;
	int64		ord = 0;

	if (nitems == 0)
		return;
	scratch = AllocSetContextCreate(CurrentMemoryContext, "directus_sync item", ALLOCSET_DEFAULT_SIZES);
	rows = palloc(sizeof(QueuedRow) * w->max_rows);
	for (int i = 0; i < nitems; i++)
	{
		colls[i] = CStringGetTextDatum(((ItemEntry *) list_nth(w->chosen, i))->collection);
		keys[i] = CStringGetTextDatum(((ItemEntry *) list_nth(w->chosen, i))->key);
	}
	values[0] = Int32GetDatum(w->claim->remote_id);
	values[1] = PointerGetDatum(construct_array(colls, nitems, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(keys, nitems, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = Int32GetDatum(w->max_rows);
	portal = open_cursor(GATHER_SQL, 4, types, values);
	while (taken < w->max_gathered)
	{
		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed && taken < w->max_gathered; r++)
		{
			MemoryContext old;

			if (result_int(r, 1) != ord && nrows > 0)
			{
				old = MemoryContextSwitchTo(scratch);
				coalesce_item(w, list_nth(w->chosen, ord - 1), rows, nrows, w->max_rows);
				MemoryContextSwitchTo(old);
				MemoryContextReset(scratch);
				taken += nrows;
				nrows = 0;
			}
			ord = result_int(r, 1);
			old = MemoryContextSwitchTo(scratch);
			if (taken < w->max_gathered)
				rows[nrows++] = queued_row(r);
			MemoryContextSwitchTo(old);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	close_cursor(portal);
	if (nrows > 0)
		coalesce_item(w, list_nth(w->chosen, ord - 1), rows, nrows, w->max_rows);
	MemoryContextDelete(scratch);
}

/* The window: its items in w->claim->items; moves the remote's mark. */
static void
read_window(ClaimArgs *a)
{
	Window		w = {a, 0, 0, NULL, NIL, QUEUE_NO_ID};
	TimestampTz now = GetCurrentTimestamp();
	int64		start = queue_mark_start(a->remote_id, now);
	int			rows;

	w.max_rows = Min(WINDOW_MAX_ROWS, a->remote->batch_max_items * WINDOW_ROWS_PER_BATCH_ITEM);
	/* an item's later rows fold into it: they cost reading, not sending */
	w.max_gathered = 2 * w.max_rows;
	w.entries = keyhash_create("directus_sync window items", 1024, sizeof(ItemEntry),
							   CurrentMemoryContext);
	read_troubled(&w);
	rows = scan_queue(&w, start);
	gather_items(&w);
	queue_mark_move(a->remote_id, start, rows, w.seen, GetActiveSnapshot(), now);
}

/*
 * Marks the creates about to be sent as sent, in the claim's transaction:
 * once a create may have reached the remote, a later delete of the item
 * must be shipped, not cancelled against it, even when the worker dies
 * before it hears back.
 */
static void
mark_creates_sent(int remote_id, List *items)
{
	Datum	   *ids = palloc(sizeof(Datum) * Max(list_length(items), 1));
	int			nids = 0;
	ListCell   *lc;
	Oid			types[2] = {INT4OID, INT8ARRAYOID};
	Datum		values[2];

	foreach(lc, items)
	{
		SyncItem   *item = lfirst(lc);

		if (item->outcome == ITEM_PENDING && item->op == SYNC_OP_CREATE && !item->maybe_sent)
			ids[nids++] = Int64GetDatum(item->ids[0]);
	}
	if (nids == 0)
		return;
	values[0] = Int32GetDatum(remote_id);
	values[1] = PointerGetDatum(construct_array(ids, nids, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	/* one probe per id, whatever the statistics (see _queued_tids) */
	spi_run("UPDATE directus_sync.outbox SET sent_at = now()"
			" WHERE ctid = ANY (directus_sync._queued_tids($1, $2))", 2, types, values, NULL);
}

static void
claim(void *arg)
{
	ClaimArgs  *a = arg;
	ListCell   *lc;
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2];

	fix_plans();
	a->remote = load_remote(a->remote_id);
	if (a->remote == NULL)
		return;
	read_window(a);

	/* nothing left to ship is delivered as is */
	foreach(lc, a->items)
	{
		SyncItem   *item = lfirst(lc);

		if (item->op == SYNC_OP_NONE)
			item->outcome = ITEM_DELIVERED;
	}
	/*
	 * Changes the remote would refuse for their clocks are not sent, and so
	 * not marked as sent either (hold_back.c); one of them may go as a probe
	 * of the estimate. A remote that has never told its time gets
	 * everything, and so does one whose Date a change it took refuted.
	 */
	if (a->remote->has_clock_offset &&
		hold_back_trusts_date(a->remote, a->remote->clock_offset_ms))
		(void) hold_back_items(a->items, a->remote->clock_offset_ms, a->remote->hold_probe_due);
	mark_creates_sent(a->remote_id, a->items);

	values[0] = Int32GetDatum(a->remote_id);
	values[1] = Int32GetDatum(list_length(a->items));
	spi_run("UPDATE directus_sync.remote_state SET in_flight = $2 WHERE remote_id = $1",
			2, types, values, NULL);
}

/*
 * Loads a remote (settings, subscriptions) and a window of its queued rows
 * as items: those due again first, then in queue order. NULL when the remote
 * is gone, disabled or paused.
 */
SyncRemote *
queue_claim(int remote_id, List **items)
{
	ClaimArgs	a = {remote_id, NULL, NIL};

	if (!run_transaction("claiming queued changes", claim, &a))
		return NULL;
	*items = a.items;
	return a.remote;
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
	Datum	   *keys = palloc(sizeof(Datum) * Max(list_length(a->keys), 1));
	int			nkeys = 0;
	ListCell   *lc;
	Oid			types[3] = {INT4OID, TEXTOID, TEXTARRAYOID};
	Datum		values[3];

	foreach(lc, a->keys)
		keys[nkeys++] = CStringGetTextDatum(lfirst(lc));
	values[0] = Int32GetDatum(a->remote->id);
	values[1] = CStringGetTextDatum(a->sub->collection);
	values[2] = PointerGetDatum(construct_array(keys, nkeys, TEXTOID, -1, false, TYPALIGN_INT));
	spi_run("SELECT k.key, c.payload::text FROM unnest($3) WITH ORDINALITY AS k(key, ord)"
			"  LEFT JOIN directus_sync._current_rows($1, $2, $3) c ON c.item_key = k.key"
			" ORDER BY k.ord", 3, types, values, NULL);
	for (uint64 r = 0; r < SPI_processed; r++)
		a->payloads = result_lappend(a->payloads, result_text(r, 2));
}

/*
 * The payloads the items of these keys would have if created now (key and
 * subscribed fields), in the order of keys; NULL for an item no longer
 * there. NIL if the transaction failed.
 */
List *
queue_current_rows(SyncRemote *remote, SyncSubscription *sub, List *keys)
{
	CurrentArgs a = {remote, sub, keys, NIL};

	if (!run_transaction("reading current rows", current_rows, &a))
		return NIL;
	return a.payloads;
}
