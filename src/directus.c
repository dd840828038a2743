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
 * Apply is idempotent:
 *	 create meets an existing key (400 RECORD_NOT_UNIQUE) -> those items are
 *	   found by a GET and updated instead, the others created;
 *	 update of an item the remote does not have (missing from the answer's
 *	   data, or 403 for a non-admin token) -> the current row is created;
 *	 delete of an item the remote does not have -> success.
 * Failures (the table failure_classes below): network errors, 3xx, 401,
 * 404 (wrong URL), 408, 429 and 502-504 hold the whole remote back
 * (backoff); other 5xx and 4xx concern the items: a batch is halved until
 * the failing item is alone, which then backs off alone (5xx) or goes to
 * the dead letters (4xx).
 *
 * The protocol never touches the database: when it needs the current rows
 * of items (to create them after all) it asks the worker for them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "directus.h"
#include "directus_wire.h"
#include "keyhash.h"

/* GET /items?filter=... carries the keys in the URL: keep it short. */
#define PROBE_MAX_KEYS 200

typedef enum StepKind
{
	STEP_CREATE,
	STEP_UPDATE,
	STEP_DELETE,
	STEP_SINGLETON,
	STEP_PROBE,					/* GET which keys the remote has */
	STEP_RECREATE				/* the worker reads current rows, then create them */
} StepKind;

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

/* Why a probe was sent: what its answer decides. */
typedef enum ProbeReason
{
	PROBE_CREATE_CONFLICT,
	PROBE_UPDATE_UNCONFIRMED,
	PROBE_UPDATE_FORBIDDEN,
	PROBE_DELETE_FORBIDDEN
} ProbeReason;

typedef struct Step
{
	StepKind	kind;
	SyncSubscription *sub;
	List	   *items;			/* of SyncItem */
	bool		probed;			/* a probe already ran: an error now is real */
	ProbeReason reason;			/* STEP_PROBE only */
	int			status;			/* STEP_PROBE: the error that led to it */
	char	   *code;
	char	   *message;
} Step;

struct DirectusWindow
{
	MemoryContext cxt;			/* steps and outcomes live here */
	SyncRemote *remote;
	List	   *items;
	List	   *steps;			/* to do, head first */
	Step	   *current;		/* its request is in flight */
	char	   *remote_error;	/* set: the remote backs off, the rest waits */
	int			retry_after_ms;
};

static Step *
new_step(StepKind kind, SyncSubscription *sub, List *items, bool probed)
{
	Step	   *step = palloc0(sizeof(Step));

	step->kind = kind;
	step->sub = sub;
	step->items = items;
	step->probed = probed;
	return step;
}

static void
push_front(DirectusWindow *win, Step *step)
{
	if (step->items != NIL)
		win->steps = lcons(step, win->steps);
}

static void
settle(List *items, ItemOutcome outcome, int status, const char *code, const char *message)
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
			group = new_step(kind, item->sub, NIL, false);
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

/*
 * Moves the items beyond the remote's batch limits (count and body bytes)
 * into a new step right behind this one.
 */
static void
split_to_limits(DirectusWindow *win, Step *step)
{
	int			max_items = step->kind == STEP_PROBE ? Min(PROBE_MAX_KEYS, win->remote->batch_max_items)
		: step->kind == STEP_SINGLETON ? 1 : win->remote->batch_max_items;
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
		Step	   *rest = palloc(sizeof(Step));

		*rest = *step;
		rest->items = list_copy_tail(step->items, n);
		step->items = list_truncate(step->items, n);
		push_front(win, rest);
	}
}

static HttpRequest *
build_request(DirectusWindow *win, Step *step)
{
	HttpRequest *req = palloc0(sizeof(HttpRequest));

	switch (step->kind)
	{
		case STEP_CREATE:
		case STEP_UPDATE:
			req->method = step->kind == STEP_CREATE ? "POST" : "PATCH";
			req->url = directus_items_url(win->remote->url, step->sub, true);
			initStringInfo(&req->body);
			directus_append_json_array(&req->body, step->items, false);
			break;
		case STEP_DELETE:
			req->method = "DELETE";
			req->url = directus_items_url(win->remote->url, step->sub, false);
			initStringInfo(&req->body);
			directus_append_json_array(&req->body, step->items, true);
			break;
		case STEP_SINGLETON:
			req->method = "PATCH";
			req->url = directus_items_url(win->remote->url, step->sub, false);
			initStringInfo(&req->body);
			appendStringInfoString(&req->body, ((SyncItem *) linitial(step->items))->payload);
			break;
		case STEP_PROBE:
			req->method = "GET";
			req->url = directus_probe_url(win->remote->url, step->sub, step->items);
			break;
		case STEP_RECREATE:
			elog(ERROR, "a recreate step has no request");
	}
	return req;
}

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
		win->remote_error = pstrdup("could not read the current rows to create missing items");
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
		push_front(win, new_step(STEP_CREATE, step->sub, found, true));
	}
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

typedef struct KeyEntry
{
	char	   *key;
} KeyEntry;

/* Splits items into those whose key is in keys and the others. */
static void
partition(List *items, List *keys, List **listed, List **unlisted)
{
	KeyHash    *set = keyhash_create("directus_sync keys", Max(list_length(keys), 16),
									 sizeof(KeyEntry), CurrentMemoryContext);
	ListCell   *lc;
	bool		found;

	foreach(lc, keys)
		(void) keyhash_enter(set, lfirst(lc), &found);
	*listed = *unlisted = NIL;
	foreach(lc, items)
	{
		SyncItem   *item = lfirst(lc);

		if (keyhash_find(set, item->key) != NULL)
			*listed = lappend(*listed, item);
		else
			*unlisted = lappend(*unlisted, item);
	}
	keyhash_destroy(set);
}

static void
remote_failure(DirectusWindow *win, Step *step, const char *error, int retry_after_ms)
{
	ListCell   *lc;

	/* the request may have been applied before the answer was lost */
	foreach(lc, step->items)
		((SyncItem *) lfirst(lc))->attempted = true;
	win->remote_error = pstrdup(error);
	win->retry_after_ms = retry_after_ms;
	ereport(LOG,
			(errmsg("directus_sync: remote \"%s\" failed, backing off: %s",
					win->remote->name, error)));
}

/* Halves a failing batch; a single item takes the outcome itself. */
static void
item_failure(DirectusWindow *win, Step *step, ItemOutcome outcome,
			 int status, const char *code, const char *message)
{
	int			n = list_length(step->items);

	if (n > 1)
	{
		Step	   *second = palloc(sizeof(Step));

		*second = *step;
		second->items = list_copy_tail(step->items, n / 2);
		push_front(win, second);
		push_front(win, new_step(step->kind, step->sub, list_truncate(list_copy(step->items), n / 2),
								 step->probed));
		return;
	}
	settle(step->items, outcome, status, code, message);
}

static void
probe(DirectusWindow *win, Step *step, ProbeReason reason, int status, const char *code, const char *message)
{
	Step	   *p = new_step(STEP_PROBE, step->sub, step->items, true);

	p->reason = reason;
	p->status = status;
	p->code = code ? pstrdup(code) : NULL;
	p->message = message ? pstrdup(message) : NULL;
	push_front(win, p);
}

/* What the keys the remote has (a probe's answer) decide. */
static void
after_probe(DirectusWindow *win, Step *step, List *existing)
{
	List	   *there,
			   *missing;

	partition(step->items, existing, &there, &missing);
	switch (step->reason)
	{
		case PROBE_CREATE_CONFLICT:
			push_front(win, new_step(STEP_CREATE, step->sub, missing, true));
			push_front(win, new_step(STEP_UPDATE, step->sub, there, true));
			break;
		case PROBE_UPDATE_UNCONFIRMED:
			settle(there, ITEM_DELIVERED, 0, NULL, NULL);
			push_front(win, new_step(STEP_RECREATE, step->sub, missing, true));
			break;
		case PROBE_UPDATE_FORBIDDEN:
			if (missing == NIL)
			{
				item_failure(win, new_step(STEP_UPDATE, step->sub, there, true), ITEM_DEAD,
							 step->status, step->code, step->message);
				break;
			}
			push_front(win, new_step(STEP_UPDATE, step->sub, there, true));
			push_front(win, new_step(STEP_RECREATE, step->sub, missing, true));
			break;
		case PROBE_DELETE_FORBIDDEN:
			settle(missing, ITEM_DELIVERED, 0, NULL, NULL);
			if (there != NIL && missing == NIL)
				item_failure(win, new_step(STEP_DELETE, step->sub, there, true), ITEM_DEAD,
							 step->status, step->code, step->message);
			else
				push_front(win, new_step(STEP_DELETE, step->sub, there, true));
			break;
	}
}

/* A probe that failed: decide without knowing which keys the remote has. */
static void
probe_failed(DirectusWindow *win, Step *step)
{
	switch (step->reason)
	{
		case PROBE_CREATE_CONFLICT:
			if (list_length(step->items) == 1)
				push_front(win, new_step(STEP_UPDATE, step->sub, step->items, true));
			else
				item_failure(win, new_step(STEP_CREATE, step->sub, step->items, false), ITEM_DEAD,
							 step->status, step->code, step->message);
			break;
		case PROBE_UPDATE_UNCONFIRMED:
			/* the remote accepted the update and will not tell more */
			settle(step->items, ITEM_DELIVERED, 0, NULL, NULL);
			break;
		case PROBE_UPDATE_FORBIDDEN:
		case PROBE_DELETE_FORBIDDEN:
			item_failure(win, new_step(step->reason == PROBE_UPDATE_FORBIDDEN ? STEP_UPDATE : STEP_DELETE,
									   step->sub, step->items, true),
						 ITEM_DEAD, step->status, step->code, step->message);
			break;
	}
}

static void
on_success(DirectusWindow *win, Step *step, HttpRequest *req)
{
	List	   *keys;

	switch (step->kind)
	{
		case STEP_CREATE:
		case STEP_DELETE:
		case STEP_SINGLETON:
			settle(step->items, ITEM_DELIVERED, 0, NULL, NULL);
			break;
		case STEP_UPDATE:
			if (req->status == 200 && directus_answer_keys(req->response.data, step->sub->key_column, &keys))
			{
				List	   *there,
						   *missing;

				partition(step->items, keys, &there, &missing);
				settle(there, ITEM_DELIVERED, 0, NULL, NULL);
				push_front(win, new_step(STEP_RECREATE, step->sub, missing, true));
			}
			else
				probe(win, step, PROBE_UPDATE_UNCONFIRMED, 0, NULL, NULL);
			break;
		case STEP_PROBE:
			if (directus_answer_keys(req->response.data, step->sub->key_column, &keys))
				after_probe(win, step, keys);
			else
				probe_failed(win, step);
			break;
		case STEP_RECREATE:
			break;
	}
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
	char	   *code;
	char	   *message;

	directus_parse_error(req->response.data, &code, &message);
	if (class == FAIL_REMOTE)
		remote_failure(win, step, psprintf("HTTP %ld %s: %s", req->status, code ? code : "",
										   message ? message : ""),
					   req->retry_after_ms);
	else if (step->kind == STEP_PROBE)
		probe_failed(win, step);
	else if (req->status == 400 && code && strcmp(code, "RECORD_NOT_UNIQUE") == 0 &&
			 step->kind == STEP_CREATE && !step->probed)
	{
		if (list_length(step->items) == 1)
			push_front(win, new_step(STEP_UPDATE, step->sub, step->items, true));
		else
			probe(win, step, PROBE_CREATE_CONFLICT, (int) req->status, code, message);
	}
	else if (req->status == 403 && !step->probed &&
			 (step->kind == STEP_UPDATE || step->kind == STEP_DELETE))
		probe(win, step, step->kind == STEP_UPDATE ? PROBE_UPDATE_FORBIDDEN : PROBE_DELETE_FORBIDDEN,
			  (int) req->status, code, message);
	else
		item_failure(win, step, class == FAIL_ITEM_RETRY ? ITEM_RETRY : ITEM_DEAD,
					 (int) req->status, code, message);
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
		 * give it as long again before anything for it follows.
		 */
		remote_failure(win, step, psprintf("%s %s: %s", req->method, step->sub->collection,
										   req->transport_error),
					   req->timed_out ? win->remote->http.request_timeout_ms : -1);
	}
	else if (req->status >= 200 && req->status < 300)
		on_success(win, step, req);
	else
		on_failure(win, step, req);
}
