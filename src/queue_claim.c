/*-------------------------------------------------------------------------
 *
 * queue_claim.c
 *	  What the worker takes from the outbox: which remotes are ready, a
 *	  window of one remote's queued rows coalesced into items, and the
 *	  current rows of items that must be created again.
 *
 * Coalescing folds the rows of one item, in queue order, into its net
 * change: create + update = create with both payloads merged, update +
 * update = update, anything + delete = delete, and create + delete =
 * nothing, unless the create may already have reached the remote (then a
 * delete). A row that cannot be folded in (a create after a delete) waits
 * for the next window, with every later row of its item.
 *
 * Each function runs one transaction of its own (worker_txn.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "directus_sync.h"
#include "keyhash.h"
#include "queue_claim.h"
#include "worker_txn.h"

/* Rows read per window, per item of a remote's batch limit. */
#define WINDOW_ROWS_PER_BATCH_ITEM 8
#define WINDOW_MAX_ROWS 20000

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
		a->ready = result_lappend_int(a->ready, id);
	}
}

/*
 * Ids of the remotes that have queued work and may be sent to now, leaving
 * out the busy ones; *next_retry_ms is when the earliest backed-off one is
 * due (-1: none).
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
	spi_run("SELECT id, name, url, token, connect_timeout_ms, request_timeout_ms,"
			"       batch_max_items, batch_max_bytes, verify_tls"
			"  FROM directus_sync.remote WHERE id = $1 AND enabled AND NOT paused",
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
	load_subscriptions(remote);
	return remote;
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

/* ----------------------------------------------------------------
 * Coalescing
 * ---------------------------------------------------------------- */

/* The coalescing state of one item while the window is read. */
typedef struct ItemEntry
{
	char	   *hash_key;		/* collection \x1f key */
	SyncItem   *item;
	bool		closed;			/* later rows of this item wait for the next window */
} ItemEntry;

/* A queued row as read. */
typedef struct QueuedRow
{
	int64		id;
	char	   *collection;
	char	   *key;
	SyncOp		op;
	char	   *payload;
	int			attempts;		/* failed attempts of this row's item so far */
	bool		maybe_sent;		/* sent before: may have arrived */
} QueuedRow;

static char *
merge_payloads(const char *older, const char *newer)
{
	Datum		a = DirectFunctionCall1(jsonb_in, CStringGetDatum(older));
	Datum		b = DirectFunctionCall1(jsonb_in, CStringGetDatum(newer));
	Datum		merged = DirectFunctionCall2(jsonb_concat, a, b);

	return result_strdup(DatumGetCString(DirectFunctionCall1(jsonb_out, merged)));
}

/*
 * Folds one more queued row into an item. Returns false when the row cannot
 * be folded in: it must wait for the next window, behind what this window
 * ships.
 */
static bool
fold_row(SyncItem *item, const QueuedRow *row)
{
	switch (item->op)
	{
		case SYNC_OP_CREATE:
		case SYNC_OP_UPDATE:
			if (row->op == SYNC_OP_UPDATE)
				item->payload = merge_payloads(item->payload, row->payload);
			else if (row->op == SYNC_OP_DELETE)
			{
				/* a create that may have arrived must be undone */
				bool		cancels = item->op == SYNC_OP_CREATE && !item->maybe_sent;

				item->op = cancels ? SYNC_OP_NONE : SYNC_OP_DELETE;
				item->payload = NULL;
			}
			else
				return false;
			return true;
		case SYNC_OP_DELETE:
			return row->op == SYNC_OP_DELETE;
		case SYNC_OP_NONE:
			if (row->op == SYNC_OP_CREATE)
			{
				item->op = SYNC_OP_CREATE;
				item->payload = result_strdup(row->payload);
				item->maybe_sent = row->maybe_sent;
				return true;
			}
			return row->op == SYNC_OP_DELETE;
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
			: result_alloc(sizeof(int64) * item->maxids);
	}
	item->ids[item->nids++] = id;
}

static SyncItem *
new_item(SyncRemote *remote, const QueuedRow *row)
{
	SyncItem   *item = result_alloc(sizeof(SyncItem));

	item->sub = find_subscription(remote, row->collection);
	item->key = result_strdup(row->key);
	item->op = row->op;
	item->payload = row->payload ? result_strdup(row->payload) : NULL;
	item->maybe_sent = row->maybe_sent && row->op == SYNC_OP_CREATE;
	/* the first row carries the item's attempts and backoff (_record) */
	item->attempts = row->attempts;
	item->outcome = ITEM_PENDING;
	if (item->sub == NULL)
	{
		/* unsubscribe deletes queued rows; this one raced with it */
		item->sub = result_alloc(sizeof(SyncSubscription));
		item->sub->collection = result_strdup(row->collection);
		item->outcome = ITEM_DEAD;
		item->error_code = "NO_SUBSCRIPTION";
		item->error_message = "the remote no longer subscribes to this collection";
	}
	return item;
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

/*
 * A window of the remote's queue in queue order, leaving out every row of an
 * item that backs off alone (its first row carries retry_at), so that it
 * holds up nothing else.
 */
static void
read_window_rows(SyncRemote *remote)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2];

	values[0] = Int32GetDatum(remote->id);
	values[1] = Int32GetDatum(Min(WINDOW_MAX_ROWS, remote->batch_max_items * WINDOW_ROWS_PER_BATCH_ITEM));
	spi_run("SELECT o.id, o.collection, o.item_key, o.op, o.payload::text, o.attempts, o.sent_at IS NOT NULL"
			"  FROM directus_sync.outbox o WHERE o.remote_id = $1"
			"   AND NOT EXISTS (SELECT FROM directus_sync.outbox b"
			"                    WHERE b.remote_id = $1 AND b.retry_at IS NOT NULL AND b.retry_at > now()"
			"                      AND b.collection = o.collection AND b.item_key = o.item_key)"
			" ORDER BY o.id LIMIT $2",
			2, types, values, NULL);
}

static QueuedRow
queued_row(uint64 r)
{
	QueuedRow	row;
	HeapTuple	tuple = SPI_tuptable->vals[r];
	TupleDesc	desc = SPI_tuptable->tupdesc;

	row.id = result_int(r, 1);
	row.collection = SPI_getvalue(tuple, desc, 2);
	row.key = SPI_getvalue(tuple, desc, 3);
	row.op = (SyncOp) SPI_getvalue(tuple, desc, 4)[0];
	row.payload = SPI_getvalue(tuple, desc, 5);
	row.attempts = (int) result_int(r, 6);
	row.maybe_sent = row.attempts > 0 || result_int(r, 7) != 0;
	return row;
}

/* Folds the rows just read into one item per collection and key. */
static void
coalesce_rows(ClaimArgs *a)
{
	KeyHash    *seen = keyhash_create("directus_sync window items", 1024, sizeof(ItemEntry),
									  CurrentMemoryContext);

	for (uint64 r = 0; r < SPI_processed; r++)
	{
		QueuedRow	row = queued_row(r);
		bool		found;
		ItemEntry  *entry = keyhash_enter(seen, item_hash_key(row.collection, row.key), &found);

		if (entry->closed)
			continue;
		if (entry->item == NULL)
		{
			entry->item = new_item(a->remote, &row);
			a->items = result_lappend(a->items, entry->item);
		}
		else if (!fold_row(entry->item, &row))
		{
			entry->closed = true;
			continue;
		}
		item_add_id(entry->item, row.id);
	}
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
	spi_run("UPDATE directus_sync.outbox SET sent_at = now() WHERE remote_id = $1 AND id = ANY ($2)",
			2, types, values, NULL);
}

static void
claim(void *arg)
{
	ClaimArgs  *a = arg;
	ListCell   *lc;
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2];

	a->remote = load_remote(a->remote_id);
	if (a->remote == NULL)
		return;
	read_window_rows(a->remote);
	coalesce_rows(a);

	/* nothing left to ship is delivered as is */
	foreach(lc, a->items)
	{
		SyncItem   *item = lfirst(lc);

		if (item->op == SYNC_OP_NONE)
			item->outcome = ITEM_DELIVERED;
	}
	mark_creates_sent(a->remote_id, a->items);

	values[0] = Int32GetDatum(a->remote_id);
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
