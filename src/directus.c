/*-------------------------------------------------------------------------
 *
 * directus.c
 *	  The Directus REST protocol: a window of items becomes requests, and
 *	  each answer settles items or leads to more requests.
 *
 * Items are grouped per collection and change: an array POST for creates,
 * an array PATCH (each object carries its key) for updates, a DELETE with a
 * JSON array of keys for deletes, a PATCH without key for a singleton. Each
 * item is in one group only, so the order of one item's changes holds even
 * though groups go out one after the other.
 *
 * Answers that say an item exists or is missing (a create of a key the
 * remote has, an update or delete of one it lacks) are turned around by
 * idempotent apply, in directus_apply.c; directus_steps.h is what the two
 * files share.
 *
 * Failures (the table failure_classes below): network errors, 3xx, 401,
 * 404 (wrong URL), 408, 429 and 502-504 hold the whole remote back
 * (backoff); other 5xx and 4xx concern the items: a batch is split until
 * the failing item is alone, which then backs off alone (5xx; a dead letter
 * once it has failed directus_sync.max_item_attempts times) or goes to the
 * dead letters (4xx). A 5xx or a 403 may also be the remote's own failure
 * (its database down, the sync user's permission gone): while nothing of
 * the window has been written, a failing batch is tried as its first item
 * alone, its last item alone and the others together, and when all three
 * fail with the same status and code the whole remote backs off instead
 * (may_be_remote).
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
/* The longest failure of a remote kept (cleaned: one line, whatever it holds). */
#define MAX_REMOTE_ERROR 1500

/* What a failed answer (not 2xx) means, by HTTP status. */
typedef enum FailureClass
{
	FAIL_REMOTE,				/* the whole remote backs off; the rest waits */
	FAIL_ITEM_RETRY,			/* the item(s) back off alone */
	FAIL_ITEM_DEAD				/* the item(s) go to the dead letters */
} FailureClass;

typedef struct StatusRange
{
	long		lo;
	long		hi;
	FailureClass class;
} StatusRange;

/* The first range that holds a status decides. */
static const StatusRange failure_classes[] = {
	{300, 399, FAIL_REMOTE},	/* redirects are not followed: wrong URL */
	{401, 401, FAIL_REMOTE},	/* the token is wrong or gone */
	{404, 404, FAIL_REMOTE},	/* no Directus at that URL */
	{408, 408, FAIL_REMOTE},
	{429, 429, FAIL_REMOTE},	/* rate limited; honours Retry-After */
	{502, 504, FAIL_REMOTE},	/* a proxy in front of Directus */
	{500, 999, FAIL_ITEM_RETRY},
	{0, 499, FAIL_ITEM_DEAD},	/* also 1xx, which libcurl never returns */
};

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
	return item->op == SYNC_OP_CREATE ? STEP_CREATE : item->op == SYNC_OP_UPDATE ? STEP_UPDATE : STEP_DELETE;
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
			continue;
		}
		foreach(gc, groups)
		{
			Step	   *g = lfirst(gc);

			if (g->kind == kind && g->sub == item->sub && kind != STEP_SINGLETON)
				group = g;
		}
		if (group == NULL)
		{
			group = directus_new_step(kind, item->sub, NIL, false);
			groups = lappend(groups, group);
		}
		group->items = lappend(group->items, item);
	}
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
	return directus_request(win->remote->url, (DirectusRequestKind) step->kind, step->sub, step->items);
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

static void settle_failure(SyncItem *item, ItemOutcome outcome, int status, const char *code,
						   const char *message);

/*
 * The current rows the window wanted, in the order of its keys (NIL: they
 * could not be read): those items are created as they are now; an item
 * deleted meanwhile needs nothing (its delete follows).
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
			settle_failure(lfirst(kc), ITEM_RETRY, 0, "CURRENT_ROW_UNREADABLE",
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

/* The whole remote backs off; what is not settled waits for the next window. */
static void
back_off(DirectusWindow *win, const char *error, int retry_after_ms)
{
	win->remote_error = directus_clean_text(error, MAX_REMOTE_ERROR);
	win->retry_after_ms = retry_after_ms;
	ereport(LOG,
			(errmsg("remote \"%s\" failed; retrying later", win->remote->name),
			 errdetail("%s", win->remote_error)));
}

static void
remote_failure(DirectusWindow *win, Step *step, const char *error, int retry_after_ms)
{
	ListCell   *lc;

	/* the request may have been applied before the answer was lost */
	foreach(lc, step->items)
		((SyncItem *) lfirst(lc))->attempted = true;
	back_off(win, error, retry_after_ms);
}

/* An item's own failure; a 5xx of its last allowed attempt makes it dead. */
static void
settle_failure(SyncItem *item, ItemOutcome outcome, int status, const char *code, const char *message)
{
	if (outcome == ITEM_RETRY && item->attempts + 1 >= max_item_attempts_setting)
	{
		outcome = ITEM_DEAD;
		message = psprintf("%s (attempt %d of directus_sync.max_item_attempts = %d)",
						   message ? message : "", item->attempts + 1, max_item_attempts_setting);
	}
	directus_settle(list_make1(item), outcome, status, code, message);
}

/*
 * From now on every failure is the items' own: a write went through, or
 * items failed in different ways. The failures held back are settled.
 */
static void
items_fail_alone(DirectusWindow *win)
{
	win->items_fail_alone = true;
	for (int i = 0; i < win->nheld; i++)
	{
		HeldFailure *h = &win->held[i];

		settle_failure(h->item, h->outcome, h->status, h->code, h->message);
	}
	win->nheld = 0;
	win->sample_rest = NULL;
}

/*
 * Can this failure be the remote's rather than the items'? A 5xx when its
 * database or a hook is down, a 403 when the sync user lost a permission;
 * not once a write of the window went through. Other 4xx are about what an
 * item holds.
 */
static bool
may_be_remote(DirectusWindow *win, int status)
{
	return !win->items_fail_alone && (status >= 500 || status == 403);
}

static bool
same_as_held(DirectusWindow *win, int status, const char *code)
{
	return win->nheld > 0 && win->held[0].status == status &&
		strcmp(win->held[0].code ? win->held[0].code : "", code ? code : "") == 0;
}

/*
 * Every item of a failing batch failed the same way: its first and last
 * item alone, the others together. That is taken for the remote's failure:
 * nothing is settled, the remote backs off. The two items tried alone count
 * an attempt, so that a batch of items that are really at fault alike does
 * not hold the remote back for ever (single_failure).
 */
static void
remote_verdict(DirectusWindow *win, int status, const char *code, const char *message)
{
	for (int i = 0; i < win->nheld; i++)
		win->held[i].item->attempted = true;
	back_off(win, psprintf("HTTP %d %s: %s (so for every item, alone and together: taken for a failure"
						   " of the remote)", status, code ? code : "", message ? message : ""), -1);
}

/*
 * An item failed alone. While that may be the remote's failure, the first
 * and the last item of the batch are held back, unsettled, until the other
 * items of the batch have been tried (sample_rest). An item at its last
 * allowed attempt is no witness: its failure is its own, and the others
 * are judged without it.
 */
static void
single_failure(DirectusWindow *win, SyncItem *item, ItemOutcome outcome,
			   int status, const char *code, const char *message)
{
	if (may_be_remote(win, status) && item->attempts + 1 >= max_item_attempts_setting)
		settle_failure(item, outcome, status, code, message);
	else if (may_be_remote(win, status) && win->nheld < 2 &&
			 (win->nheld == 0 || same_as_held(win, status, code)))
	{
		HeldFailure *h = &win->held[win->nheld++];

		h->item = item;
		h->outcome = outcome;
		h->status = status;
		h->code = code ? pstrdup(code) : NULL;
		h->message = message ? pstrdup(message) : NULL;
		if (win->nheld == 2 && win->sample_rest == NULL)
			remote_verdict(win, status, code, message);
	}
	else
	{
		items_fail_alone(win);
		settle_failure(item, outcome, status, code, message);
	}
}

/*
 * Splits a failing batch until the failing item is alone, in halves. While
 * the failure may be the remote's, the batch goes as its first item alone,
 * its last item alone, then the others together: a remote that fails
 * everything shows after four requests, not after two per item.
 */
void
directus_item_failure(DirectusWindow *win, Step *step, ItemOutcome outcome,
					  int status, const char *code, const char *message)
{
	int			n = list_length(step->items);
	List	   *items = step->items;

	if (step == win->sample_rest)
	{
		win->sample_rest = NULL;
		if (win->nheld > 0 && may_be_remote(win, status) && same_as_held(win, status, code))
		{
			remote_verdict(win, status, code, message);
			return;
		}
	}
	if (n == 1)
		single_failure(win, linitial(items), outcome, status, code, message);
	else if (may_be_remote(win, status) && win->nheld == 0 && win->sample_rest == NULL)
	{
		Step	   *rest = directus_step_with(step,
											  list_copy_tail(list_truncate(list_copy(items), n - 1), 1));

		win->sample_rest = n > 2 ? rest : NULL;
		directus_push_step(win, rest);
		directus_push_step(win, directus_step_with(step, list_make1(llast(items))));
		directus_push_step(win, directus_step_with(step, list_make1(linitial(items))));
	}
	else
	{
		directus_push_step(win, directus_step_with(step, list_copy_tail(items, n / 2)));
		directus_push_step(win, directus_step_with(step, list_truncate(list_copy(items), n / 2)));
	}
}

static void
on_success(DirectusWindow *win, Step *step, HttpRequest *req)
{
	if (step->kind == STEP_PROBE)
	{
		directus_probe_answered(win, step, req);
		return;
	}
	/* the remote takes writes: failures are the items' own from now on */
	items_fail_alone(win);
	if (step->kind == STEP_UPDATE)
		directus_update_answered(win, step, req);
	else
		directus_settle(step->items, ITEM_DELIVERED, 0, NULL, NULL);
}

static FailureClass
failure_class(long status)
{
	for (size_t i = 0; i < lengthof(failure_classes); i++)
		if (status >= failure_classes[i].lo && status <= failure_classes[i].hi)
			return failure_classes[i].class;
	return FAIL_ITEM_DEAD;
}

/*
 * An answer that is not a success: the remote backs off, or the items fail,
 * unless it is one of the answers that idempotent apply turns around (a
 * create of a key the remote has, an update or delete it forbids because
 * the item is not there).
 */
static void
on_failure(DirectusWindow *win, Step *step, HttpRequest *req)
{
	FailureClass class = failure_class(req->status);
	int			status = (int) req->status;
	char	   *code;
	char	   *message;

	directus_parse_error(req->response.data, &code, &message);
	if (class == FAIL_REMOTE)
		remote_failure(win, step, psprintf("HTTP %d %s: %s", status, code ? code : "", message ? message : ""),
					   req->retry_after_ms);
	else if (step->kind == STEP_PROBE)
		directus_probe_failed(win, step);
	else if (status == 400 && code && strcmp(code, "RECORD_NOT_UNIQUE") == 0 && step->kind == STEP_CREATE)
		directus_create_conflict(win, step, status, code, message);
	else if (status == 403 && !step->probed && (step->kind == STEP_UPDATE || step->kind == STEP_DELETE))
		directus_write_forbidden(win, step, status, code, message);
	else
		directus_item_failure(win, step, class == FAIL_ITEM_RETRY ? ITEM_RETRY : ITEM_DEAD,
							  status, code, message);
}

/* Nothing left to send: a failure still held back was the item's own. */
static void
settle_held_when_done(DirectusWindow *win)
{
	if (win->steps == NIL && win->current == NULL && win->remote_error == NULL)
		items_fail_alone(win);
}

/* Settles what the answer to the window's request in flight decides. */
void
directus_window_answer(DirectusWindow *win, HttpRequest *req)
{
	Step	   *step = win->current;

	win->current = NULL;
	if (req->status == 0)
	{
		/*
		 * After a timeout the remote may still be working on the request:
		 * give it as long again before anything for it follows. A request
		 * that never got a connection cannot have been applied.
		 */
		char	   *error = psprintf("%s %s: %s", req->method, step->sub->collection,
									 req->transport_error);

		if (req->never_sent)
			back_off(win, error, -1);
		else
			remote_failure(win, step, error, req->timed_out ? win->remote->http.request_timeout_ms : -1);
	}
	else if (req->status >= 200 && req->status < 300)
		on_success(win, step, req);
	else
		on_failure(win, step, req);
	settle_held_when_done(win);
}
