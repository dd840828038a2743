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
 * Failures: network errors, 3xx, 401, 404 (wrong URL), 408, 429 and 502-504 hold
 * the whole remote back (backoff); 500 and other 4xx concern the items: a
 * batch is halved until the failing item is alone, which then backs off
 * alone (500) or goes to the dead letters (4xx).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "directus_sync.h"

/* GET /items?filter=... carries the keys in the URL: keep it short. */
#define PROBE_MAX_KEYS 200
#define MAX_ERROR_MESSAGE 1000

typedef enum StepKind
{
	STEP_CREATE,
	STEP_UPDATE,
	STEP_DELETE,
	STEP_SINGLETON,
	STEP_PROBE,					/* GET which keys the remote has */
	STEP_RECREATE				/* read current rows, then create them */
} StepKind;

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
	bool		checked;		/* a probe already ran: an error now is real */
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
new_step(StepKind kind, SyncSubscription *sub, List *items, bool checked)
{
	Step	   *step = palloc0(sizeof(Step));

	step->kind = kind;
	step->sub = sub;
	step->items = items;
	step->checked = checked;
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
	return item->op == 'c' ? STEP_CREATE : item->op == 'u' ? STEP_UPDATE : STEP_DELETE;
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
		if (kind == STEP_SINGLETON && item->op == 'd')
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

void
directus_window_finish(DirectusWindow *win)
{
	outbox_record(win->remote, win->items, win->remote_error, win->retry_after_ms);
}

/* ----------------------------------------------------------------
 * Requests
 * ---------------------------------------------------------------- */

static void
append_url_encoded(StringInfo buf, const char *s)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
			appendStringInfoChar(buf, c);
		else
			appendStringInfo(buf, "%%%02X", c);
	}
}

static void
append_key_json(StringInfo buf, const SyncItem *item)
{
	if (item->sub->key_is_number)
		appendStringInfoString(buf, item->key);
	else
		escape_json(buf, item->key);
}

static char *
items_url(const DirectusWindow *win, const Step *step, bool with_key_fields)
{
	StringInfoData url;

	initStringInfo(&url);
	appendStringInfo(&url, "%s/items/", win->remote->url);
	append_url_encoded(&url, step->sub->collection);
	if (with_key_fields)
	{
		appendStringInfoString(&url, "?fields=");
		append_url_encoded(&url, step->sub->key_column);
	}
	return url.data;
}

/* Appends the items' payloads, or their keys, as one JSON array. */
static void
append_json_array(StringInfo body, List *items, bool keys_only)
{
	ListCell   *lc;

	appendStringInfoChar(body, '[');
	foreach(lc, items)
	{
		SyncItem   *item = lfirst(lc);

		if (lc != list_head(items))
			appendStringInfoChar(body, ',');
		if (keys_only)
			append_key_json(body, item);
		else
			appendStringInfoString(body, item->payload);
	}
	appendStringInfoChar(body, ']');
}

static char *
probe_url(const DirectusWindow *win, const Step *step)
{
	StringInfoData filter;
	StringInfoData url;

	initStringInfo(&filter);
	appendStringInfoChar(&filter, '{');
	escape_json(&filter, step->sub->key_column);
	appendStringInfoString(&filter, ":{\"_in\":");
	append_json_array(&filter, step->items, true);
	appendStringInfoString(&filter, "}}");

	initStringInfo(&url);
	appendStringInfoString(&url, items_url(win, step, true));
	appendStringInfoString(&url, "&limit=-1&filter=");
	append_url_encoded(&url, filter.data);
	return url.data;
}

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
			req->url = items_url(win, step, true);
			initStringInfo(&req->body);
			append_json_array(&req->body, step->items, false);
			break;
		case STEP_DELETE:
			req->method = "DELETE";
			req->url = items_url(win, step, false);
			initStringInfo(&req->body);
			append_json_array(&req->body, step->items, true);
			break;
		case STEP_SINGLETON:
			req->method = "PATCH";
			req->url = items_url(win, step, false);
			initStringInfo(&req->body);
			appendStringInfoString(&req->body, ((SyncItem *) linitial(step->items))->payload);
			break;
		case STEP_PROBE:
			req->method = "GET";
			req->url = probe_url(win, step);
			break;
		case STEP_RECREATE:
			elog(ERROR, "a recreate step has no request");
	}
	return req;
}

/*
 * Updates of items the remote does not have become creates of the items as
 * they are now; an item deleted meanwhile needs nothing (its delete follows).
 */
static void
recreate(DirectusWindow *win, Step *step)
{
	List	   *keys = NIL;
	List	   *payloads;
	List	   *found = NIL;
	ListCell   *kc;
	ListCell   *pc;

	foreach(kc, step->items)
		keys = lappend(keys, ((SyncItem *) lfirst(kc))->key);
	payloads = outbox_current_rows(win->remote, step->sub, keys);
	if (list_length(payloads) != list_length(step->items))
	{
		win->remote_error = pstrdup("could not read the current rows to create missing items");
		return;
	}
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

/*
 * The next request of the window, or NULL when the window is done. Steps
 * that need no network (reading current rows) run here.
 */
HttpRequest *
directus_window_next(DirectusWindow *win)
{
	MemoryContext request_cxt = CurrentMemoryContext;
	MemoryContext old = MemoryContextSwitchTo(win->cxt);
	HttpRequest *req = NULL;

	while (win->steps != NIL && win->remote_error == NULL)
	{
		Step	   *step = linitial(win->steps);

		win->steps = list_delete_first(win->steps);
		if (step->kind == STEP_RECREATE)
		{
			recreate(win, step);
			continue;
		}
		split_to_limits(win, step);
		win->current = step;
		/* the request (URL, body) is the caller's to free after the answer */
		MemoryContextSwitchTo(request_cxt);
		req = build_request(win, step);
		break;
	}
	MemoryContextSwitchTo(old);
	return req;
}

/* ----------------------------------------------------------------
 * Answers
 * ---------------------------------------------------------------- */

/* Parses JSON text; NULL if it is not JSON. Never throws. */
static Jsonb *
parse_json(const char *text)
{
	MemoryContext cxt = CurrentMemoryContext;
	Jsonb	   *volatile result = NULL;

	if (text == NULL || text[0] == '\0' ||
		!pg_verify_mbstr(GetDatabaseEncoding(), text, strlen(text), true))
		return NULL;
	PG_TRY();
	{
		result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		result = NULL;
	}
	PG_END_TRY();
	return result;
}

static bool
json_field(JsonbContainer *container, const char *name, JsonbValue *out)
{
	if (container == NULL || !JsonContainerIsObject(container))
		return false;
	return getKeyJsonValueFromContainer(container, name, strlen(name), out) != NULL;
}

static char *
json_scalar_text(const JsonbValue *v)
{
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	return NULL;
}

/* The first error's code and message of a Directus error body. */
static void
parse_error(const char *body, char **code, char **message)
{
	Jsonb	   *json = parse_json(body);
	JsonbValue	errors,
				first,
				v;
	JsonbValue *elem;

	*code = NULL;
	*message = NULL;
	if (json == NULL || !json_field(&json->root, "errors", &errors) || errors.type != jbvBinary)
		return;
	elem = getIthJsonbValueFromContainer(errors.val.binary.data, 0);
	if (elem == NULL || elem->type != jbvBinary)
		return;
	first = *elem;
	if (json_field(first.val.binary.data, "message", &v))
	{
		*message = json_scalar_text(&v);
		if (*message && strlen(*message) > MAX_ERROR_MESSAGE)
			(*message)[pg_mbcliplen(*message, strlen(*message), MAX_ERROR_MESSAGE)] = '\0';
	}
	if (json_field(first.val.binary.data, "extensions", &v) && v.type == jbvBinary)
	{
		JsonbValue	c;

		if (json_field(v.val.binary.data, "code", &c))
			*code = json_scalar_text(&c);
	}
}

/*
 * The keys in the data array of an answer ({"data":[{"<key>":...},...]});
 * false when the answer has no such array.
 */
static bool
answer_keys(const char *body, const char *key_column, List **keys)
{
	Jsonb	   *json = parse_json(body);
	JsonbValue	data;
	uint32		n;

	*keys = NIL;
	if (json == NULL || !json_field(&json->root, "data", &data) ||
		data.type != jbvBinary || !JsonContainerIsArray(data.val.binary.data))
		return false;
	n = JsonContainerSize(data.val.binary.data);
	for (uint32 i = 0; i < n; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(data.val.binary.data, i);
		JsonbValue	key;
		char	   *text;

		if (elem && elem->type == jbvBinary && json_field(elem->val.binary.data, key_column, &key) &&
			(text = json_scalar_text(&key)) != NULL)
			*keys = lappend(*keys, text);
	}
	return true;
}

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
	hash_destroy(set->table);
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
								 step->checked));
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
			if (req->status == 200 && answer_keys(req->response.data, step->sub->key_column, &keys))
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
			if (answer_keys(req->response.data, step->sub->key_column, &keys))
				after_probe(win, step, keys);
			else
				probe_failed(win, step);
			break;
		case STEP_RECREATE:
			break;
	}
}

static bool
holds_back_remote(long status)
{
	return (status >= 300 && status < 400) || status == 401 || status == 404 ||
		status == 408 || status == 429 || (status >= 502 && status <= 504);
}

void
directus_window_answer(DirectusWindow *win, HttpRequest *req)
{
	Step	   *step = win->current;
	char	   *code;
	char	   *message;
	char	   *error;

	win->current = NULL;
	if (req->status == 0)
	{
		/*
		 * After a timeout the remote may still be working on the request:
		 * give it as long again before anything for it follows.
		 */
		remote_failure(win, step, psprintf("%s %s: %s", req->method, step->sub->collection,
										   req->transport_error),
					   req->timed_out ? win->remote->request_timeout_ms : -1);
		return;
	}
	if (req->status >= 200 && req->status < 300)
	{
		on_success(win, step, req);
		return;
	}

	parse_error(req->response.data, &code, &message);
	error = psprintf("HTTP %ld %s: %s", req->status, code ? code : "", message ? message : "");
	if (step->kind == STEP_PROBE && !holds_back_remote(req->status))
	{
		probe_failed(win, step);
		return;
	}
	if (holds_back_remote(req->status))
		remote_failure(win, step, error, req->retry_after_ms);
	else if (req->status == 400 && code && strcmp(code, "RECORD_NOT_UNIQUE") == 0 &&
			 step->kind == STEP_CREATE && !step->checked)
	{
		if (list_length(step->items) == 1)
			push_front(win, new_step(STEP_UPDATE, step->sub, step->items, true));
		else
			probe(win, step, PROBE_CREATE_CONFLICT, (int) req->status, code, message);
	}
	else if (req->status == 403 && !step->checked &&
			 (step->kind == STEP_UPDATE || step->kind == STEP_DELETE))
		probe(win, step, step->kind == STEP_UPDATE ? PROBE_UPDATE_FORBIDDEN : PROBE_DELETE_FORBIDDEN,
			  (int) req->status, code, message);
	else
		item_failure(win, step, req->status >= 500 ? ITEM_RETRY : ITEM_DEAD,
					 (int) req->status, code, message);
}
