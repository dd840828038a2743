/*-------------------------------------------------------------------------
 *
 * directus_apply.c
 *	  Idempotent apply: what answers about existing and missing items
 *	  decide, so that the remote ends with what we hold whatever it had.
 *
 *	 create meets an existing key (400 RECORD_NOT_UNIQUE) -> the remote is
 *	   asked which keys it has (a probe); those are updated, the others
 *	   created; one item alone is updated at once;
 *	 update of an item the remote does not have (missing from the answer's
 *	   data, or 403 for a non-admin token) -> a probe; the current row of
 *	   each item the remote lacks is created;
 *	 delete of an item the remote does not have (403 for a non-admin
 *	   token) -> a probe; success for the missing ones;
 *	 update with clocks refused (403) after the remote said it has the
 *	   items (an item deleted there in between) -> a probe again.
 *
 * A key missing from an answer is never taken for a missing item without a
 * probe: a Directus with QUERY_LIMIT_MAX lists at most that many items in
 * any answer, an update's read-back included. A probe asks for
 * meta.filter_count, which tells a list cut short from a complete one; the
 * window then learns the cap and sends updates and probes no larger. The
 * keys a probe lists are there; the ones it does not list (of a complete
 * answer) are missing.
 *
 * A remote could answer "exists" to a create and "missing" to the update
 * of the same item (another writer in between, or a read permission that
 * hides items): an item is asked about MAX_TURNS times at most, then it is
 * a dead letter that says so.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "directus_steps.h"

/*
 * How often a window may ask again whether the remote has an item (a
 * probe, or a create turned into an update). The usual paths need two.
 */
#define MAX_TURNS 5

/*
 * Counts one more question whether the remote has these items; returns
 * those that may be asked again. The others got contradicting answers each
 * time (RECORD_NOT_UNIQUE to a create, not found by an update): dead.
 */
static List *
turn(List *items, int status, const char *code, const char *message)
{
	List	   *left = NIL;
	ListCell   *lc;

	foreach(lc, items)
	{
		SyncItem   *item = lfirst(lc);

		if (++item->turns <= MAX_TURNS)
			left = lappend(left, item);
		else
			directus_settle(list_make1(item), ITEM_DEAD, status, code ? code : "INCONSISTENT_REMOTE",
							psprintf("the remote answers both that it has this item and that it does not"
									 " (asked %d times); last answer: %s", MAX_TURNS, message ? message : ""));
	}
	return left;
}

/* Asks the remote which of the items it has, for the reason given. */
static Step *
probe(DirectusWindow *win, Step *step, List *items, ProbeReason reason,
	  int status, const char *code, const char *message)
{
	Step	   *p = directus_new_step(STEP_PROBE, step->sub, turn(items, status, code, message), true);

	p->reason = reason;
	p->status = status;
	p->code = code ? pstrdup(code) : NULL;
	p->message = message ? pstrdup(message) : NULL;
	directus_push_step(win, p);
	return p;
}

/* The remote's answers list n items at most: requests that need a full list carry no more. */
static void
learn_cap(DirectusWindow *win, int n)
{
	if (n > 0 && (win->answer_cap == 0 || n < win->answer_cap))
	{
		win->answer_cap = n;
		elog(DEBUG1, "remote \"%s\" lists at most %d items per answer",
			 win->remote->name, n);
	}
}

/* Why a probe was sent, for the log. */
static const char *
reason_name(ProbeReason reason)
{
	switch (reason)
	{
		case PROBE_CREATE_CONFLICT:
			return "a create met existing keys";
		case PROBE_UPDATE_UNCONFIRMED:
			return "an update did not list them";
		case PROBE_UPDATE_FORBIDDEN:
			return "an update was refused (403)";
		case PROBE_DELETE_FORBIDDEN:
			return "a delete was refused (403)";
	}
	return "?";
}

/* The keys of items (the first PROBE_LOG_KEYS), for the log. */
#define PROBE_LOG_KEYS 20
static char *
keys_text(List *items)
{
	StringInfoData buf;
	ListCell   *lc;
	int			n = 0;

	initStringInfo(&buf);
	foreach(lc, items)
	{
		if (n++ == PROBE_LOG_KEYS)
		{
			appendStringInfo(&buf, " and %d more", list_length(items) - PROBE_LOG_KEYS);
			break;
		}
		appendStringInfo(&buf, "%s%s", n > 1 ? ", " : "", ((SyncItem *) lfirst(lc))->key);
	}
	return buf.data;
}

/* What a probe decides: the remote has the items there, lacks missing. */
static void
after_probe(DirectusWindow *win, Step *step, List *there, List *missing)
{
	/* what idempotent apply decides, per key, so that a failure's log tells why */
	if (there != NIL)
		elog(DEBUG1, "remote \"%s\", collection \"%s\": a probe (%s) found %d items: %s",
			 win->remote->name, step->sub->collection, reason_name(step->reason),
			 list_length(there), keys_text(there));
	if (missing != NIL)
		elog(DEBUG1, "remote \"%s\", collection \"%s\": a probe (%s) found %d items missing: %s",
			 win->remote->name, step->sub->collection, reason_name(step->reason),
			 list_length(missing), keys_text(missing));
	switch (step->reason)
	{
		case PROBE_CREATE_CONFLICT:
			directus_push_step(win, directus_new_step(STEP_CREATE, step->sub, missing, true));
			directus_push_step(win, directus_new_step(STEP_UPDATE, step->sub, there, true));
			break;
		case PROBE_UPDATE_UNCONFIRMED:
			/* the update found these: if its answer left one out, it was cut short */
			if (there != NIL)
				learn_cap(win, step->listed);
			directus_settle(there, ITEM_DELIVERED, 0, NULL, NULL);
			directus_push_step(win, directus_new_step(STEP_RECREATE, step->sub, missing, true));
			break;
		case PROBE_UPDATE_FORBIDDEN:
			/* sent again without the missing items, a 403 is a real refusal */
			directus_push_step(win, directus_new_step(STEP_UPDATE, step->sub, there, true));
			directus_push_step(win, directus_new_step(STEP_RECREATE, step->sub, missing, true));
			break;
		case PROBE_DELETE_FORBIDDEN:
			directus_settle(missing, ITEM_DELIVERED, 0, NULL, NULL);
			directus_push_step(win, directus_new_step(STEP_DELETE, step->sub, there, true));
			break;
	}
}

/* A probe that failed: decide without knowing which keys the remote has. */
void
directus_probe_failed(DirectusWindow *win, Step *step)
{
	elog(DEBUG1, "remote \"%s\", collection \"%s\": a probe (%s) of %d items failed: %s",
		 win->remote->name, step->sub->collection, reason_name(step->reason),
		 list_length(step->items), keys_text(step->items));
	switch (step->reason)
	{
		case PROBE_CREATE_CONFLICT:
			if (list_length(step->items) == 1)
				directus_push_step(win, directus_new_step(STEP_UPDATE, step->sub, step->items, true));
			else
				directus_item_failure(win, directus_new_step(STEP_CREATE, step->sub, step->items, false),
									  ITEM_DEAD, step->status, step->code, step->message);
			break;
		case PROBE_UPDATE_UNCONFIRMED:
			/* the remote accepted the update and will not tell more */
			directus_settle(step->items, ITEM_DELIVERED, 0, NULL, NULL);
			break;
		case PROBE_UPDATE_FORBIDDEN:
		case PROBE_DELETE_FORBIDDEN:
			directus_item_failure(win,
								  directus_new_step(step->reason == PROBE_UPDATE_FORBIDDEN ? STEP_UPDATE
													: STEP_DELETE, step->sub, step->items, true),
								  ITEM_DEAD, step->status, step->code, step->message);
			break;
	}
}

/*
 * A probe's answer. When meta.filter_count says the remote has more of the
 * keys than the answer lists, the list was cut short (QUERY_LIMIT_MAX): the
 * keys listed are there, the rest is asked again, in probes no larger.
 */
void
directus_probe_answered(DirectusWindow *win, Step *step, HttpRequest *req)
{
	DirectusListed a;

	if (!directus_answer_items(req->response.data, step->sub->key_column, step->items, &a))
	{
		directus_probe_failed(win, step);
		return;
	}
	if (a.filter_count > a.nkeys)
	{
		if (a.listed == NIL)
		{
			/* nothing to go on, and asking again would not shrink */
			directus_probe_failed(win, step);
			return;
		}
		learn_cap(win, a.nkeys);
		directus_push_step(win, directus_step_with(step, a.unlisted));
		a.unlisted = NIL;
	}
	after_probe(win, step, a.listed, a.unlisted);
}

/*
 * An update's answer lists the items it found (admin token). One it leaves
 * out may be missing, or beyond what the remote lists: a probe tells.
 */
void
directus_update_answered(DirectusWindow *win, Step *step, HttpRequest *req)
{
	DirectusListed a;

	if (req->status != 200 ||
		!directus_answer_items(req->response.data, step->sub->key_column, step->items, &a))
	{
		/* 204: the token may not read back */
		probe(win, step, step->items, PROBE_UPDATE_UNCONFIRMED, (int) req->status, NULL, NULL);
		return;
	}
	directus_settle(a.listed, ITEM_DELIVERED, 0, NULL, NULL);
	probe(win, step, a.unlisted, PROBE_UPDATE_UNCONFIRMED, (int) req->status, NULL,
		  "an update did not find it")->listed = a.nkeys;
}

/*
 * A create met keys the remote has: those are updated instead. Also when a
 * probe had found them missing (another writer may have created them
 * since): then the batch is split until the item is alone, so that the
 * others are not held up by it.
 */
void
directus_create_conflict(DirectusWindow *win, Step *step, int status, const char *code, const char *message)
{
	if (list_length(step->items) == 1)
		directus_push_step(win, directus_new_step(STEP_UPDATE, step->sub,
												  turn(step->items, status, code, message), true));
	else if (!step->probed)
		probe(win, step, step->items, PROBE_CREATE_CONFLICT, status, code, message);
	else
		directus_item_failure(win, step, ITEM_DEAD, status, code, message);
}

/*
 * 403 to an update or a delete (not probed yet): a non-admin token gets it
 * for a key the remote lacks. A probe tells which.
 */
void
directus_write_forbidden(DirectusWindow *win, Step *step, int status, const char *code, const char *message)
{
	probe(win, step, step->items,
		  step->kind == STEP_UPDATE ? PROBE_UPDATE_FORBIDDEN : PROBE_DELETE_FORBIDDEN,
		  status, code, message);
}

/*
 * 403 to an update with clocks of items the remote had said it has (a
 * probe listed them, or their create met the key): an item went in between. With clocks, other instances' deletes
 * (and the remote's own users') reach the remote at any time. That is no
 * failure of the item: the remote is asked again at once, and an item it
 * now lacks is created by its clocks (the remote's tombstone decides).
 * Backing off instead cost an attempt, and an item whose attempts a long
 * outage of the remote had used up became a dead letter of a change the
 * remote took in the end (t/086). An item asked about MAX_TURNS times
 * in the window backs off alone, as a 5xx does (a real refusal: a field
 * the sync user may not update).
 */
void
directus_update_vanished(DirectusWindow *win, Step *step, int status, const char *code, const char *message)
{
	List	   *again = NIL;
	List	   *spent = NIL;
	ListCell   *lc;

	foreach(lc, step->items)
	{
		SyncItem   *item = lfirst(lc);

		if (item->turns < MAX_TURNS)
			again = lappend(again, item);
		else
			spent = lappend(spent, item);
	}
	ereport(LOG,
			(errmsg("remote \"%s\" refused an update of %d items of \"%s\" that it had said it has; asking again",
					win->remote->name, list_length(step->items), step->sub->collection),
			 errdetail("HTTP %d %s: %s; keys: %s", status, code ? code : "", message ? message : "",
					   keys_text(step->items))));
	if (again != NIL)
		probe(win, step, again, PROBE_UPDATE_FORBIDDEN, status, code, message);
	if (spent != NIL)
		directus_item_failure(win, directus_step_with(step, spent), ITEM_RETRY, status, code, message);
}
