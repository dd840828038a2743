/*-------------------------------------------------------------------------
 *
 * queue_mark.c
 *	  The low-water mark of each remote's queue: where the claim's scan
 *	  in id order starts (queue_claim.c).
 *
 * Delivered rows are deleted, and their index entries stay at the head of
 * the queue until vacuum: a scan from the start would walk them all, in
 * every window. The mark is the first row the last scan could take (or a
 * lower one a window left queued), so that a scan walks the dead entries
 * of one window.
 *
 * Ids are drawn before commit: a transaction that drew a lower id can commit
 * after a higher one was seen. That never breaks an item's order (two
 * changes of one item are serialized by the row lock, so the later change
 * draws its id after the earlier one committed; and an item is gathered
 * with all its rows), but the scan must still meet such a row. So a row
 * seen becomes the mark only once every transaction running at the scan that
 * saw it has ended (a later snapshot's xmin has reached the next xid as it
 * stood after that scan): a scan from the old mark then meets all they
 * committed. A transaction open
 * while MARK_PIN_ROWS rows are scanned holds the mark back no more (each
 * scan would walk ever more dead entries); what it commits below the mark,
 * like a row whose id was drawn before its transaction had an xid (an
 * INSERT's default), is met by the scan from the start every FULL_SCAN_MS,
 * or with a later change of its item.
 *
 * The marks live in the worker's memory: a worker that starts scans from
 * the start.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "queue_mark.h"

#define MARK_PIN_ROWS 50000
#define FULL_SCAN_MS 10000

typedef struct QueueMark
{
	int			remote_id;
	int64		from;			/* the scan starts here (0: the start) */
	int64		next;			/* the next mark, or QUEUE_NO_ID */
	TransactionId next_bound;	/* every xid below it had begun at its scan */
	int64		pinned_rows;	/* rows scanned since */
	TimestampTz full_at;		/* the last scan from the start */
} QueueMark;

static List *marks = NIL;		/* of QueueMark *, in TopMemoryContext */
static Oid	marks_outbox = InvalidOid;

/*
 * Forgets every mark when the outbox is another one than the marks were
 * made on (the extension was created again: ids start again).
 */
static void
check_outbox(void)
{
	Oid			outbox = get_relname_relid("outbox", get_namespace_oid("directus_sync", true));

	if (outbox != marks_outbox)
	{
		list_free_deep(marks);
		marks = NIL;
		marks_outbox = outbox;
	}
}

static QueueMark *
find_mark(int remote_id)
{
	ListCell   *lc;
	QueueMark  *m;
	MemoryContext old;

	foreach(lc, marks)
	{
		m = lfirst(lc);
		if (m->remote_id == remote_id)
			return m;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	m = palloc0(sizeof(QueueMark));
	m->remote_id = remote_id;
	m->next = QUEUE_NO_ID;
	marks = lappend(marks, m);
	MemoryContextSwitchTo(old);
	return m;
}

static int64
scan_start(QueueMark *m, TimestampTz now)
{
	return TimestampDifferenceExceeds(m->full_at, now, FULL_SCAN_MS) ? 0 : m->from;
}

/* Where the next scan of the remote's queue starts (0: the start). */
int64
queue_mark_start(int remote_id, TimestampTz now)
{
	check_outbox();
	return scan_start(find_mark(remote_id), now);
}

/*
 * The remotes that have a mark and where their scans would start, as an
 * integer[] and a bigint[].
 */
void
queue_mark_starts(TimestampTz now, Datum *remote_ids, Datum *starts)
{
	int			n;
	Datum	   *ids;
	Datum	   *from;
	ListCell   *lc;

	check_outbox();
	n = list_length(marks);
	ids = palloc(sizeof(Datum) * Max(n, 1));
	from = palloc(sizeof(Datum) * Max(n, 1));
	n = 0;
	foreach(lc, marks)
	{
		QueueMark  *m = lfirst(lc);

		ids[n] = Int32GetDatum(m->remote_id);
		from[n++] = Int64GetDatum(scan_start(m, now));
	}
	*remote_ids = PointerGetDatum(construct_array(ids, n, INT4OID, 4, true, TYPALIGN_INT));
	*starts = PointerGetDatum(construct_array(from, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * After a scan from start that read rows rows in snapshot snap: seen is the
 * lowest id the scan could take or the window leaves queued (QUEUE_NO_ID:
 * none).
 */
void
queue_mark_move(int remote_id, int64 start, int rows, int64 seen, Snapshot snap, TimestampTz now)
{
	QueueMark  *m = find_mark(remote_id);

	if (start == 0)
		m->full_at = now;
	/* a row below the mark: it was too high */
	m->from = Min(m->from, seen);
	m->pinned_rows += rows;
	if (m->next != QUEUE_NO_ID &&
		(TransactionIdPrecedesOrEquals(m->next_bound, snap->xmin) || m->pinned_rows > MARK_PIN_ROWS))
	{
		m->from = Min(m->next, seen);
		m->next = QUEUE_NO_ID;
	}
	if (m->next == QUEUE_NO_ID && seen != QUEUE_NO_ID)
	{
		m->next = seen;
		/*
		 * Not the scan's xmax: a transaction that took its xid after the last
		 * one that completed is running and yet at or above it.
		 */
		m->next_bound = ReadNextTransactionId();
		m->pinned_rows = 0;
	}
}

/*
 * Forgets the marks of remotes not in remote_ids (removed, disabled or
 * paused: they start from the start again).
 */
void
queue_mark_forget(List *remote_ids)
{
	ListCell   *lc;

	foreach(lc, marks)
	{
		QueueMark  *m = lfirst(lc);

		if (!list_member_int(remote_ids, m->remote_id))
		{
			marks = foreach_delete_current(marks, lc);
			pfree(m);
		}
	}
}
