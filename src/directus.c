/*-------------------------------------------------------------------------
 *
 * directus.c
 *	  The Directus REST protocol: a window of items becomes requests, and
 *	  each answer settles items or leads to more requests.
 *
 * Items are grouped per collection and change: an array POST for creates,
 * an array PATCH (each object carries its key) for updates and for deletes
 * with a clock, a DELETE with a JSON array of keys for other deletes, a
 * PATCH without key for a singleton. Each item is in one group only, so
 * the order of one item's changes holds even though groups go out one
 * after the other.
 *
 * Answers that say an item exists or is missing (a create of a key the
 * remote has, an update or delete of one it lacks) are turned around by
 * idempotent apply, in directus_apply.c; directus_steps.h is what the two
 * files share.
 *
 * What a failed answer means (the remote backs off, or the items fail) is
 * directus_failure.c's.
 *
 * The protocol never touches the database: when it needs the current rows
 * of items (to create them after all) it asks the worker for them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "directus_steps.h"

/* GET /items?filter=... carries the keys in the URL: keep it short. */
#define PROBE_MAX_KEYS 200

Step *
directus_new_step(StepKind kind, SyncSubscription *sub, List *items, bool probed)
{
	Step	   *step = palloc0(sizeof(Step));

	step->kind = kind;
	step->sub = sub;
	step->items = items;
	step->probed = probed;
	return step;
}

/* A copy of a step with other items. */
Step *
directus_step_with(const Step *step, List *items)
{
	Step	   *copy = palloc(sizeof(Step));

	*copy = *step;
	copy->items = items;
	return copy;
}

void
directus_push_step(DirectusWindow *win, Step *step)
{
	if (step->items != NIL)
		win->steps = lcons(step, win->steps);
}

void
directus_settle(List *items, ItemOutcome outcome, int status, const char *code, const char *message)
{
	ListCell   *lc;

	foreach(lc, items)
	{
		SyncItem   *item = lfirst(lc);

		item->outcome = outcome;
		item->http_status = status;
		item->error_code = code ? pstrdup(code) : NULL;
		item->error_message = message ? pstrdup(message) : NULL;
	}
}

/* ----------------------------------------------------------------
 * Grouping
 * ---------------------------------------------------------------- */

static StepKind
kind_of(const SyncItem *item)
{
	if (item->sub->singleton)
		return STEP_SINGLETON;
	/* a delete with a clock goes as an update that carries it (tombstone.c) */
	if (item->op == SYNC_OP_DELETE && item->payload != NULL)
		return STEP_UPDATE;
	return item->op == SYNC_OP_CREATE ? STEP_CREATE : item->op == SYNC_OP_UPDATE ? STEP_UPDATE : STEP_DELETE;
}

static bool
any_held(List *items)
{
	ListCell   *lc;

	foreach(lc, items)
	{
		if (((SyncItem *) lfirst(lc))->outcome == ITEM_HELD)
			return true;
	}
	return false;
}

DirectusWindow *
directus_window_begin(SyncRemote *remote, List *items)
{
	DirectusWindow *win = palloc0(sizeof(DirectusWindow));
	List	   *groups = NIL;
	ListCell   *lc;

	win->cxt = CurrentMemoryContext;
	win->remote = remote;
	win->items = items;
	win->retry_after_ms = -1;
	foreach(lc, items)
	{
		SyncItem   *item = lfirst(lc);
		StepKind	kind;
		Step	   *group = NULL;
		ListCell   *gc;

		if (item->outcome != ITEM_PENDING)
			continue;
		kind = kind_of(item);
		if (kind == STEP_SINGLETON && item->op == SYNC_OP_DELETE)
		{
			/* a singleton's item is never deleted through the API */
			item->outcome = ITEM_DELIVERED;
			item->hold_probe = false;	/* the remote took nothing */
			continue;
		}
		/*
		 * A probe of the clock estimate (hold_back.c) goes alone: the
		 * answer is about its clocks only, and its refusal fails no batch.
		 */
		foreach(gc, groups)
		{
			Step	   *g = lfirst(gc);

			if (g->kind == kind && g->sub == item->sub && kind != STEP_SINGLETON &&
				!item->hold_probe && !((SyncItem *) linitial(g->items))->hold_probe)
				group = g;
		}
		if (group == NULL)
		{
			group = directus_new_step(kind, item->sub, NIL, false);
			groups = lappend(groups, group);
		}
		group->items = lappend(group->items, item);
	}
	/*
	 * Nothing to send but changes held back for their clocks (hold_back.c):
	 * the remote's time is asked for, so that they go once it has caught up.
	 */
	if (groups == NIL && any_held(items))
		groups = list_make1(directus_new_step(STEP_PING, NULL, NIL, false));
	win->steps = groups;
	return win;
}

SyncRemote *
directus_window_remote(DirectusWindow *win)
{
	return win->remote;
}

bool
directus_window_done(DirectusWindow *win)
{
	return win->current == NULL && (win->steps == NIL || win->remote_error != NULL);
}

List *
directus_window_items(DirectusWindow *win)
{
	return win->items;
}

/* Why the whole remote failed (NULL: it did not), and its Retry-After. */
const char *
directus_window_remote_error(DirectusWindow *win, int *retry_after_ms)
{
	*retry_after_ms = win->retry_after_ms;
	return win->remote_error;
}

/*
 * The remote's clock minus ours, from its last answer's Date; false when
 * that answer had none, or none came (*answered false). *ping_error: why
 * asking its time failed (NULL: it did not, or it was not asked).
 */
bool
directus_window_clock_offset(DirectusWindow *win, int64 *offset_ms, bool *answered,
							 const char **ping_error)
{
	*offset_ms = win->clock_offset_ms;
	*answered = win->answered;
	*ping_error = win->ping_error;
	return win->has_clock_offset;
}

/* ----------------------------------------------------------------
 * Requests
 * ---------------------------------------------------------------- */

/* The most items one request of a step may carry. */
static int
step_max_items(DirectusWindow *win, const Step *step)
{
	int			max = win->remote->batch_max_items;

	if (step->kind == STEP_SINGLETON)
		return 1;
	if (step->kind == STEP_PROBE)
		max = Min(max, PROBE_MAX_KEYS);
	/* the answers to these must list every key the request carries */
	if ((step->kind == STEP_PROBE || step->kind == STEP_UPDATE) && win->answer_cap > 0)
		max = Min(max, win->answer_cap);
	return max;
}

/*
 * Moves the items beyond the remote's batch limits (count and body bytes)
 * into a new step right behind this one.
 */
static void
split_to_limits(DirectusWindow *win, Step *step)
{
	int			max_items = step_max_items(win, step);
	int			bytes = 2;
	int			n = 0;
	ListCell   *lc;

	foreach(lc, step->items)
	{
		SyncItem   *item = lfirst(lc);
		int			size = (item->payload ? strlen(item->payload) : strlen(item->key) + 2) + 1;

		if (n > 0 && (n >= max_items || bytes + size > win->remote->batch_max_bytes))
			break;
		bytes += size;
		n++;
	}
	if (n < list_length(step->items))
	{
		directus_push_step(win, directus_step_with(step, list_copy_tail(step->items, n)));
		step->items = list_truncate(step->items, n);
	}
}

static HttpRequest *
build_request(DirectusWindow *win, Step *step)
{
	if (step->kind == STEP_RECREATE)
		elog(ERROR, "a recreate step has no request");
	return directus_request(win->remote->url, win->remote->http.token, (DirectusRequestKind) step->kind,
							step->sub, step->items);
}

static void settle_held_when_done(DirectusWindow *win);

/*
 * Does the window want the current rows of some items before it can go on
 * (updates of items the remote does not have)? Then *keys are theirs, of
 * collection *sub.
 */
bool
directus_window_wants_rows(DirectusWindow *win, SyncSubscription **sub, List **keys)
{
	Step	   *step;
	ListCell   *lc;
	MemoryContext old;

	if (win->steps == NIL || win->remote_error != NULL)
		return false;
	step = linitial(win->steps);
	if (step->kind != STEP_RECREATE)
		return false;
	*sub = step->sub;
	*keys = NIL;
	old = MemoryContextSwitchTo(win->cxt);
	foreach(lc, step->items)
		*keys = lappend(*keys, ((SyncItem *) lfirst(lc))->key);
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * The current rows the window wanted, in the order of its keys (NIL: they
 * could not be read): those items are created as they are now; an item
 * deleted meanwhile needs nothing (its delete follows), but one of a table
 * with clocks goes as its delete, which the remote keeps as a tombstone.
 */
void
directus_window_give_rows(DirectusWindow *win, List *payloads)
{
	Step	   *step = linitial(win->steps);
	MemoryContext old = MemoryContextSwitchTo(win->cxt);
	List	   *found = NIL;
	ListCell   *kc;
	ListCell   *pc;

	Assert(step->kind == STEP_RECREATE);
	win->steps = list_delete_first(win->steps);
	if (list_length(payloads) != list_length(step->items))
	{
		/*
		 * The items' own failure, not the remote's (a subscribed column
		 * gone, say): they back off alone, and end as dead letters, while
		 * the remote's other changes go on.
		 */
		foreach(kc, step->items)
			directus_settle_failure(lfirst(kc), ITEM_RETRY, 0, "CURRENT_ROW_UNREADABLE",
						   "could not read the current row to create the item the remote lacks "
						   "(the server log tells why)");
	}
	else
	{
		forboth(kc, step->items, pc, payloads)
		{
			SyncItem   *item = lfirst(kc);

			if (lfirst(pc) == NULL)
				item->outcome = ITEM_DELIVERED;
			else
			{
				item->payload = lfirst(pc);
				found = lappend(found, item);
			}
		}
		directus_push_step(win, directus_new_step(STEP_CREATE, step->sub, found, true));
	}
	settle_held_when_done(win);
	MemoryContextSwitchTo(old);
}

/*
 * The next request of the window, or NULL when the window is done or wants
 * rows first (directus_window_wants_rows).
 */
HttpRequest *
directus_window_next(DirectusWindow *win)
{
	MemoryContext request_cxt = CurrentMemoryContext;
	MemoryContext old = MemoryContextSwitchTo(win->cxt);
	HttpRequest *req = NULL;

	if (win->steps != NIL && win->remote_error == NULL &&
		((Step *) linitial(win->steps))->kind != STEP_RECREATE)
	{
		Step	   *step = linitial(win->steps);

		win->steps = list_delete_first(win->steps);
		split_to_limits(win, step);
		win->current = step;
		/* the request (URL, body) is the caller's to free after the answer */
		MemoryContextSwitchTo(request_cxt);
		req = build_request(win, step);
	}
	MemoryContextSwitchTo(old);
	return req;
}

/* ----------------------------------------------------------------
 * Answers
 * ---------------------------------------------------------------- */

static void
on_success(DirectusWindow *win, Step *step, HttpRequest *req)
{
	if (step->kind == STEP_PROBE)
	{
		directus_probe_answered(win, step, req);
		return;
	}
	/* the remote takes writes: failures are the items' own from now on */
	directus_items_fail_alone(win);
	if (step->kind == STEP_UPDATE)
		directus_update_answered(win, step, req);
	else
		directus_settle(step->items, ITEM_DELIVERED, 0, NULL, NULL);
}

/* Nothing left to send: a failure still held back was the item's own. */
static void
settle_held_when_done(DirectusWindow *win)
{
	if (win->steps == NIL && win->current == NULL && win->remote_error == NULL)
		directus_items_fail_alone(win);
}

/* Settles what the answer to the window's request in flight decides. */
void
directus_window_answer(DirectusWindow *win, HttpRequest *req)
{
	Step	   *step = win->current;

	win->current = NULL;
	if (req->status != 0)
	{
		/* against this server's clock as clock.c reads it (test offset included) */
		win->answered = true;
		win->has_clock_offset = req->has_date;
		win->clock_offset_ms = req->has_date ? req->clock_offset_ms - clock_test_offset_setting : 0;
	}
	if (step->kind == STEP_PING && step->refused != NULL)
		directus_refusal_judged(win, step, req);
	else if (step->kind == STEP_PING)
	{
		/*
		 * Only its Date counts. Without an answer the estimate stays as it
		 * was, and the held changes wait for the next ping; a remote that is
		 * down fails (and backs off) once they go. A failed ping counts no
		 * attempt, but is told (remote_status.last_error, held_reason): the
		 * remote may be down as well as behind.
		 */
		if (req->status == 0)
			win->ping_error = psprintf("GET /server/ping: %s", req->transport_error);
		else if (req->status < 200 || req->status >= 300)
		{
			char	   *code;
			char	   *message;

			directus_parse_error(req->response.data, &code, &message);
			win->ping_error = psprintf("GET /server/ping: HTTP %ld %s: %s", req->status,
									   code ? code : "", message ? message : "");
		}
	}
	else if (req->status == 0)
	{
		/*
		 * After a timeout the remote may still be working on the request:
		 * give it as long again before anything for it follows. A request
		 * that never got a connection cannot have been applied.
		 */
		char	   *error = psprintf("%s %s: %s", req->method, step->sub->collection,
									 req->transport_error);

		if (req->never_sent)
			directus_back_off(win, error, -1);
		else
			directus_remote_failure(win, step, error,
									req->timed_out ? win->remote->http.request_timeout_ms : -1);
	}
	else if (req->status >= 200 && req->status < 300)
		on_success(win, step, req);
	else
		directus_failed_answer(win, step, req);
	settle_held_when_done(win);
}
