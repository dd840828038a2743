/*-------------------------------------------------------------------------
 *
 * queue_record.c
 *	  The outcome of a window, back into the database: one call of
 *	  directus_sync._record with the ids of the queued rows sorted by what
 *	  became of their items.
 *
 * Delivered rows leave the queue, dead ones move to the dead letters, an
 * item that failed alone backs off (its first row carries the backoff), an
 * item sent without a definite answer counts an attempt (its create may
 * have arrived), and a failure of the whole remote backs the remote off.
 * Rows of items still pending stay queued as they are, and so do those of
 * items held back for their clocks (hold_back.c), which count no attempt.
 * _record also notifies the remote's users of the first failure,
 * rate-limited.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "directus_sync.h"
#include "hold_back.h"
#include "queue_record.h"
#include "worker_txn.h"

/* An array argument of _record, built up one element at a time. */
typedef struct ArrayAccum
{
	Oid			elemtype;
	Datum	   *values;
	bool	   *nulls;
	int			n;
} ArrayAccum;

/* The arguments of _record, sorted by outcome. */
typedef struct Outcomes
{
	ArrayAccum	delivered;
	ArrayAccum	dead_ids,
				dead_status,
				dead_code,
				dead_message;
	ArrayAccum	retry_ids,
				retry_errors;
	ArrayAccum	attempted_ids;
	ArrayAccum	answered_ids;	/* queued creates whose fate is known: not sent, or refused */
	SyncItem   *first_failed;	/* what the notification and last_error name */
	char	   *first_error;
} Outcomes;

typedef struct RecordArgs
{
	SyncRemote *remote;
	List	   *items;
	const char *remote_error;
	int			retry_after_ms;
	bool		answered;		/* an HTTP answer came, */
	const int64 *clock_offset_ms;	/* and the last one's Date (NULL: none) */
	const char *ping_error;		/* asking the remote's time failed: why */
} RecordArgs;

static void
accum_init(ArrayAccum *acc, Oid elemtype, int capacity)
{
	acc->elemtype = elemtype;
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

static void
accum_text(ArrayAccum *acc, const char *s)
{
	accum_add(acc, s ? CStringGetTextDatum(s) : (Datum) 0, s == NULL);
}

static Datum
accum_array(ArrayAccum *acc)
{
	int			dims[1] = {acc->n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(acc->elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(acc->values, acc->nulls, 1, dims, lbs,
											  acc->elemtype, typlen, typbyval, typalign));
}

static const char *
event_name(SyncOp op)
{
	return op == SYNC_OP_CREATE ? "create" : op == SYNC_OP_UPDATE ? "update" : "delete";
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
outcomes_init(Outcomes *o, List *items)
{
	int			nrows = 0;
	ListCell   *lc;

	foreach(lc, items)
		nrows += ((SyncItem *) lfirst(lc))->nids;
	accum_init(&o->delivered, INT8OID, nrows);
	accum_init(&o->dead_ids, INT8OID, nrows);
	accum_init(&o->dead_status, INT4OID, nrows);
	accum_init(&o->dead_code, TEXTOID, nrows);
	accum_init(&o->dead_message, TEXTOID, nrows);
	accum_init(&o->retry_ids, INT8OID, nrows);
	accum_init(&o->retry_errors, TEXTOID, nrows);
	accum_init(&o->attempted_ids, INT8OID, nrows);
	accum_init(&o->answered_ids, INT8OID, nrows);
	o->first_failed = NULL;
	o->first_error = NULL;
}

/* Sorts the rows of one item by its outcome. */
static void
add_item(Outcomes *o, const SyncItem *item)
{
	switch (item->outcome)
	{
		case ITEM_DELIVERED:
			for (int i = 0; i < item->nids; i++)
				accum_add(&o->delivered, Int64GetDatum(item->ids[i]), false);
			break;
		case ITEM_DEAD:
			for (int i = 0; i < item->nids; i++)
			{
				accum_add(&o->dead_ids, Int64GetDatum(item->ids[i]), false);
				accum_add(&o->dead_status, Int32GetDatum(item->http_status), item->http_status == 0);
				accum_text(&o->dead_code, item->error_code);
				accum_text(&o->dead_message, item->error_message);
			}
			break;
		case ITEM_RETRY:
			/* the first row holds the item's backoff */
			accum_add(&o->retry_ids, Int64GetDatum(item->ids[0]), false);
			accum_text(&o->retry_errors, item_error_text(item));
			accum_add(&o->answered_ids, Int64GetDatum(item->ids[0]), false);
			break;
		case ITEM_HELD:
			/* not sent, not marked as sent: it stays queued as it is */
			break;
		case ITEM_PENDING:
			if (item->attempted)
				accum_add(&o->attempted_ids, Int64GetDatum(item->ids[0]), false);
			else
				accum_add(&o->answered_ids, Int64GetDatum(item->ids[0]), false);
			break;
	}
}

/* The first item that failed, alone or with the whole remote. */
static void
note_first_failure(Outcomes *o, SyncItem *item, const char *remote_error)
{
	if (o->first_failed != NULL)
		return;
	if (item->outcome == ITEM_DEAD || item->outcome == ITEM_RETRY)
		o->first_error = item_error_text(item);
	else if (item->outcome == ITEM_PENDING && remote_error != NULL)
		o->first_error = pstrdup(remote_error);
	else
		return;
	o->first_failed = item;
}

/*
 * How many items the window held back for their clocks (hold_back.c), and
 * how long until the first may go (-1: wait for nothing: something else of
 * the window was sent or settled, and the next window comes at once).
 */
static int
count_held(List *items, int64 *wait_ms)
{
	int			held = 0;
	bool		only_held = true;
	ListCell   *lc;

	*wait_ms = PG_INT64_MAX;
	foreach(lc, items)
	{
		SyncItem   *item = lfirst(lc);

		if (item->outcome == ITEM_HELD)
		{
			held++;
			*wait_ms = Min(*wait_ms, item->hold_ms);
		}
		else if (item->op != SYNC_OP_NONE)
			only_held = false;
	}
	if (held == 0 || !only_held)
		*wait_ms = -1;
	return held;
}

/*
 * The held change the window sent as a probe of the clock estimate
 * (hold_back.c), or NULL.
 */
static SyncItem *
hold_probe(List *items)
{
	ListCell   *lc;

	foreach(lc, items)
	{
		SyncItem   *item = lfirst(lc);

		if (item->hold_probe)
			return item;
	}
	return NULL;
}

/*
 * Whether the remote's Date is refuted after this window, and below which
 * offset (hold_back.c): a probe it took refutes it; while refuted, each
 * change it takes tells more, and a Date that agrees with all it took ends
 * it. The worker logs both turns.
 */
static bool
date_refuted(RecordArgs *a, const SyncItem *probe, int64 *below_ms)
{
	SyncRemote *remote = a->remote;
	bool		taken = probe != NULL && probe->outcome == ITEM_DELIVERED;
	int64		offset_ms = a->clock_offset_ms ? *a->clock_offset_ms : remote->clock_offset_ms;

	*below_ms = remote->date_refuted_below_ms;
	if (!taken && !remote->date_refuted)
		return false;
	*below_ms = Max(remote->date_refuted ? *below_ms : PG_INT64_MIN, hold_back_taken_offset(a->items));
	if (taken && !remote->date_refuted)
	{
		ereport(LOG,
				(errmsg("remote \"%s\" took a change whose clocks its Date header said it would refuse;"
						" changes are no longer held back for their clocks there", remote->name),
				 errdetail("Its Date puts its clock at %lld ms from this server's; what it took puts it at %lld ms"
						   " or later. Its Date is not its database's clock (Directus and its database on"
						   " hosts whose clocks disagree, or a proxy or cache answering with an old Date)."
						   " Holding back resumes once its Date agrees; meanwhile its database decides.",
						   (long long) offset_ms, (long long) *below_ms),
				 errhint("Check NTP on every host of the remote.")));
		return true;
	}
	if (a->answered && a->clock_offset_ms && *a->clock_offset_ms >= *below_ms)
	{
		ereport(LOG,
				(errmsg("the Date header of remote \"%s\" agrees again with the clocks its database takes;"
						" changes whose clocks it would refuse are held back again", remote->name)));
		return false;
	}
	return true;
}

/*
 * The remote's clock as the last answer's Date tells it (remote_status.
 * clock_offset; NULL when that answer had none), and the changes held back
 * for their clocks (held, held_reason). A window that held back all it had
 * makes the remote wait, with no failure counted, until the first may go,
 * or the poll interval, whichever comes first: the next window asks the
 * remote's time again (a clock set right is seen then).
 *
 * While changes are held, held_since says since when, and hold_probe_at
 * when one may go as a probe (hold_back.c): HOLD_PROBE_FIRST_MS after the
 * holding began, then after as long as it has lasted, at most
 * HOLD_PROBE_MAX_MS; date_refuted_below_ms is date_refuted's. A ping that
 * failed is told in last_error and held_reason, counting no failure: the
 * remote may be down as well as behind.
 */
static void
record_clock(RecordArgs *a)
{
	Oid			types[12] = {INT4OID, BOOLOID, INT8OID, INT4OID, TEXTOID, INT8OID,
		BOOLOID, BOOLOID, INT8OID, TEXTOID, INT8OID, INT8OID};
	Datum		values[12];
	char		nulls[12] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int64		wait_ms;
	int			held = count_held(a->items, &wait_ms);
	int64		offset_ms = a->clock_offset_ms ? *a->clock_offset_ms : a->remote->clock_offset_ms;
	SyncItem   *probe = hold_probe(a->items);
	int64		refuted_below_ms;
	bool		refuted = date_refuted(a, probe, &refuted_below_ms);
	char	   *reason = NULL;

	if (held > 0)
	{
		reason = hold_back_reason(held, offset_ms);
		if (a->ping_error)
			reason = psprintf("%s; asking its time failed: %s", reason, a->ping_error);
	}
	values[0] = Int32GetDatum(a->remote->id);
	values[1] = BoolGetDatum(a->answered);
	values[2] = Int64GetDatum(a->clock_offset_ms ? *a->clock_offset_ms : 0);
	nulls[2] = a->clock_offset_ms ? ' ' : 'n';
	values[3] = Int32GetDatum(held);
	values[4] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[4] = reason ? ' ' : 'n';
	if (a->remote_error == NULL && wait_ms >= 0)
		values[5] = Int64GetDatum(Max(Min(wait_ms, (int64) poll_interval_setting), 10));
	else
		nulls[5] = 'n';
	values[6] = BoolGetDatum(held > 0);
	values[7] = BoolGetDatum(probe != NULL);
	values[8] = Int64GetDatum(refuted_below_ms);
	nulls[8] = refuted ? ' ' : 'n';
	values[9] = a->ping_error ? CStringGetTextDatum(a->ping_error) : (Datum) 0;
	nulls[9] = a->ping_error ? ' ' : 'n';
	values[10] = Int64GetDatum(HOLD_PROBE_FIRST_MS);
	values[11] = Int64GetDatum(HOLD_PROBE_MAX_MS);
	spi_run("UPDATE directus_sync.remote_state"
			"   SET clock_offset_ms = CASE WHEN $2 THEN $3 ELSE clock_offset_ms END,"
			"       held = $4, held_reason = $5,"
			"       retry_at = CASE WHEN $6 IS NULL THEN retry_at ELSE now() + $6 * interval '1 ms' END,"
			"       held_since = CASE WHEN $7 THEN coalesce(held_since, now()) END,"
			"       hold_probe_at = CASE WHEN NOT $7 THEN NULL"
			"                            WHEN $8 THEN now() + least(greatest(now() - coalesce(held_since, now()),"
			"                                                                $11 * interval '1 ms'),"
			"                                                       $12 * interval '1 ms')"
			"                            ELSE coalesce(hold_probe_at, now() + $11 * interval '1 ms') END,"
			"       date_refuted_below_ms = $9,"
			"       last_error = coalesce($10, last_error),"
			"       last_error_at = CASE WHEN $10 IS NULL THEN last_error_at ELSE now() END"
			" WHERE remote_id = $1",
			12, types, values, nulls);
}

static void
record(void *arg)
{
	RecordArgs *a = arg;
	Outcomes	o;
	ListCell   *lc;
	Oid			types[15] = {INT4OID, INT8ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTOID, INT4OID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8ARRAYOID};
	Datum		values[15];
	char		nulls[15];

	outcomes_init(&o, a->items);
	foreach(lc, a->items)
	{
		add_item(&o, lfirst(lc));
		note_first_failure(&o, lfirst(lc), a->remote_error);
	}

	memset(nulls, SPI_ARG_NOT_NULL, sizeof(nulls));
	values[0] = Int32GetDatum(a->remote->id);
	values[1] = accum_array(&o.delivered);
	values[2] = accum_array(&o.dead_ids);
	values[3] = accum_array(&o.dead_status);
	values[4] = accum_array(&o.dead_code);
	values[5] = accum_array(&o.dead_message);
	values[6] = accum_array(&o.retry_ids);
	values[7] = accum_array(&o.retry_errors);
	values[8] = a->remote_error ? CStringGetTextDatum(a->remote_error) : (Datum) 0;
	nulls[8] = a->remote_error ? SPI_ARG_NOT_NULL : SPI_ARG_NULL;
	values[9] = Int32GetDatum(a->retry_after_ms);
	if (o.first_failed)
	{
		values[10] = CStringGetTextDatum(o.first_failed->sub->collection);
		values[11] = CStringGetTextDatum(o.first_failed->key);
		values[12] = CStringGetTextDatum(event_name(o.first_failed->op));
		values[13] = CStringGetTextDatum(o.first_error);
	}
	else
		nulls[10] = nulls[11] = nulls[12] = nulls[13] = SPI_ARG_NULL;
	values[14] = accum_array(&o.attempted_ids);

	spi_run("SELECT directus_sync._record(rid => $1, delivered => $2,"
			" dead_ids => $3, dead_status => $4, dead_code => $5, dead_message => $6,"
			" retry_ids => $7, retry_errors => $8,"
			" remote_error => $9, retry_after_ms => $10,"
			" fail_collection => $11, fail_item => $12, fail_event => $13, fail_error => $14,"
			" attempted_ids => $15)",
			15, types, values, nulls);

	/*
	 * A create marked as sent at the claim whose fate is known now (it was
	 * refused, or never went out) is no longer possibly on its way.
	 */
	values[1] = accum_array(&o.answered_ids);
	spi_run("UPDATE directus_sync.outbox SET sent_at = NULL"
			" WHERE ctid = ANY (directus_sync._queued_tids($1, $2)) AND sent_at IS NOT NULL",
			2, types, values, NULL);

	record_clock(a);
}

/* Settles a window in one transaction (see the file header). */
void
queue_record(SyncRemote *remote, List *items, const char *remote_error, int retry_after_ms,
			 bool answered, const int64 *clock_offset_ms, const char *ping_error)
{
	RecordArgs	a = {remote, items, remote_error, retry_after_ms, answered, clock_offset_ms, ping_error};

	(void) run_transaction("recording deliveries", record, &a);
}
