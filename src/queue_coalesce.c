/*-------------------------------------------------------------------------
 *
 * queue_coalesce.c
 *	  Folding the queued rows of one item, in queue order, into its net
 *	  change: what the worker sends for the item in one request.
 *
 * create + update = create with both payloads merged, update + update =
 * update, anything + delete = delete, and create + delete = nothing, unless
 * the create may already have reached the remote (then a delete). A row
 * that cannot be folded in (a create after a delete) waits for the next
 * window, with every later row of its item.
 *
 * No database access: the claim (queue_claim.c) reads the rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/json.h"
#include "utils/jsonfuncs.h"

#include "queue_coalesce.h"
#include "worker_txn.h"

/* Since PostgreSQL 16 the JSON parser's callbacks return an error code. */
#if PG_VERSION_NUM >= 160000
#define JSON_CALLBACK JsonParseErrorType
#define JSON_CALLBACK_DONE JSON_SUCCESS
#else
#define JSON_CALLBACK void
#define JSON_CALLBACK_DONE
#endif

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

/* The top-level fields of JSON objects, by name; a later value replaces an earlier one. */
typedef struct Fields
{
	JsonLexContext *lex;
	List	   *names;
	List	   *values;			/* JSON texts, as written */
	const char *value_start;
} Fields;

static JSON_CALLBACK
field_start(void *arg, char *fname, bool isnull)
{
	Fields	   *f = arg;

	(void) fname;
	(void) isnull;
	if (f->lex->lex_level == 1)
		f->value_start = f->lex->token_start;
	return JSON_CALLBACK_DONE;
}

static JSON_CALLBACK
field_end(void *arg, char *fname, bool isnull)
{
	Fields	   *f = arg;
	char	   *value;
	ListCell   *name;
	ListCell   *old;

	(void) isnull;
	if (f->lex->lex_level != 1)
		return JSON_CALLBACK_DONE;
	value = pnstrdup(f->value_start, f->lex->prev_token_terminator - f->value_start);
	forboth(name, f->names, old, f->values)
	{
		if (strcmp(lfirst(name), fname) == 0)
		{
			lfirst(old) = value;
			return JSON_CALLBACK_DONE;
		}
	}
	f->names = lappend(f->names, fname);
	f->values = lappend(f->values, value);
	return JSON_CALLBACK_DONE;
}

static JsonLexContext *
lex_payload(char *payload)
{
#if PG_VERSION_NUM >= 170000
	return makeJsonLexContextCstringLen(NULL, payload, strlen(payload), GetDatabaseEncoding(), true);
#else
	return makeJsonLexContextCstringLen(payload, strlen(payload), GetDatabaseEncoding(), true);
#endif
}

/*
 * The payload of an item whose last create (or first row) is base and whose
 * later rows up to end are updates: the later values win. The values are
 * copied as written, not parsed (an item's rows are many in a backlog).
 */
static char *
merge_payloads(const QueuedRow *rows, int base, int end)
{
	Fields		f = {0};
	JsonSemAction sem = {.semstate = &f, .object_field_start = field_start,
	.object_field_end = field_end};
	StringInfoData out;
	ListCell   *name;
	ListCell   *value;

	for (int i = base; i < end; i++)
	{
		f.lex = lex_payload(rows[i].payload);
		pg_parse_json_or_ereport(f.lex, &sem);
	}
	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	forboth(name, f.names, value, f.values)
	{
		if (name != list_head(f.names))
			appendStringInfoChar(&out, ',');
		escape_json(&out, lfirst(name));
		appendStringInfo(&out, ":%s", (char *) lfirst(value));
	}
	appendStringInfoChar(&out, '}');
	return result_strdup(out.data);
}

/*
 * Folds one more queued row into an item. Returns false when the row cannot
 * be folded in: it must wait for the next window, behind what this window
 * ships. The payloads of updates are merged afterwards (merge_payloads).
 */
static bool
fold_row(SyncItem *item, const QueuedRow *row)
{
	switch (item->op)
	{
		case SYNC_OP_CREATE:
		case SYNC_OP_UPDATE:
			if (row->op == SYNC_OP_DELETE)
			{
				/* a create that may have arrived must be undone */
				bool		cancels = item->op == SYNC_OP_CREATE && !item->maybe_sent;

				item->op = cancels ? SYNC_OP_NONE : SYNC_OP_DELETE;
				item->payload = NULL;
			}
			return row->op != SYNC_OP_CREATE;
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


static int
by_id(const void *a, const void *b)
{
	int64		x = ((const QueuedRow *) a)->id;
	int64		y = ((const QueuedRow *) b)->id;

	return x < y ? -1 : x > y;
}

/*
 * Sorts the rows of one item by id and folds them into one SyncItem, in the
 * result context. *folded is how many of the sorted rows it covers: the
 * rest cannot be folded in and stay queued. NULL when there are no rows.
 */
SyncItem *
coalesce_rows(SyncRemote *remote, QueuedRow *rows, int nrows, int *folded)
{
	SyncItem   *item = NULL;
	int			base = 0,		/* the row whose payload the item's starts from */
				end;

	qsort(rows, nrows, sizeof(QueuedRow), by_id);
	for (end = 0; end < nrows; end++)
	{
		if (item == NULL)
			item = new_item(remote, &rows[end]);
		else if (!fold_row(item, &rows[end]))
			break;
		else if (rows[end].op == SYNC_OP_CREATE)
			base = end;
		item->attempts = Max(item->attempts, rows[end].attempts);
		item_add_id(item, rows[end].id);
	}
	*folded = end;
	if (item != NULL && (item->op == SYNC_OP_CREATE || item->op == SYNC_OP_UPDATE) && end - base > 1)
		item->payload = merge_payloads(rows, base, end);
	return item;
}
