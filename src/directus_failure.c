/*-------------------------------------------------------------------------
 *
 * directus_failure.c
 *	  What a failed answer from Directus means: the remote backs off, or the
 *	  items fail, and how the two are told apart.
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
 * (may_be_remote). Answers that idempotent apply turns around go to
 * directus_apply.c. A 5xx that refused clocks too far ahead of the remote's
 * clock (its Date says so) is no failure: the items are held back
 * (hold_back.c).
 *
 * A refusal of the whole remote (503, 429, 401, ...) costs the items no
 * attempt: nothing was written. But a remote that answers 503 to every
 * request carrying one item (a hook or a gateway rule that chokes on its
 * payload) and to nothing else would hold the remote back for ever. So
 * once the remote has failed REFUSALS_BEFORE_PING windows in a row, a 503
 * of a write is checked with GET /server/ping: a remote that answers its
 * ping refused the batch, not every request, and the batch fails as its
 * items' (split, an attempt each, a dead letter after max_item_attempts);
 * a ping that fails too leaves it the remote's (directus_refusal_judged).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "directus_steps.h"
#include "hold_back.h"

/* The longest failure of a remote kept (cleaned: one line, whatever it holds). */
#define MAX_REMOTE_ERROR 1500

/*
 * Windows in a row the remote failed as a whole before a 503 of a write is
 * checked with a ping. A short outage (with the default delays, the first
 * half minute of rounds) costs nothing more than before; after that each
 * refused round asks once.
 */
#define REFUSALS_BEFORE_PING 5

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

/* The whole remote backs off; what is not settled waits for the next window. */
void
directus_back_off(DirectusWindow *win, const char *error, int retry_after_ms)
{
	win->remote_error = directus_clean_text(error, MAX_REMOTE_ERROR);
	win->retry_after_ms = retry_after_ms;
	ereport(LOG,
			(errmsg("remote \"%s\" failed; retrying later", win->remote->name),
			 errdetail("%s", win->remote_error)));
}

/*
 * The remote failed as a whole after a request that may have been applied
 * (no answer came, or a gateway's 502 or 504): its items count an attempt.
 */
void
directus_remote_failure(DirectusWindow *win, Step *step, const char *error, int retry_after_ms)
{
	ListCell   *lc;

	/* the request may have been applied before the answer was lost */
	foreach(lc, step->items)
		((SyncItem *) lfirst(lc))->attempted = true;
	directus_back_off(win, error, retry_after_ms);
}

/* An item's own failure; a 5xx of its last allowed attempt makes it dead. */
void
directus_settle_failure(SyncItem *item, ItemOutcome outcome, int status, const char *code, const char *message)
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
void
directus_items_fail_alone(DirectusWindow *win)
{
	win->items_fail_alone = true;
	for (int i = 0; i < win->nheld; i++)
	{
		HeldFailure *h = &win->held[i];

		directus_settle_failure(h->item, h->outcome, h->status, h->code, h->message);
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
	directus_back_off(win, psprintf("HTTP %d %s: %s (so for every item, alone and together: taken for a failure"
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
		directus_settle_failure(item, outcome, status, code, message);
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
		directus_items_fail_alone(win);
		directus_settle_failure(item, outcome, status, code, message);
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

static FailureClass
failure_class(long status)
{
	for (size_t i = 0; i < lengthof(failure_classes); i++)
		if (status >= failure_classes[i].lo && status <= failure_classes[i].hi)
			return failure_classes[i].class;
	return FAIL_ITEM_DEAD;
}

/*
 * Why a remote whose clock is behind ours by more than max_clock_skew fails:
 * its database refuses our clocks as being ahead of its own (clock_row.c)
 * until the clocks agree. "" when it is not behind.
 */
static const char *
clock_behind(DirectusWindow *win)
{
	if (!win->has_clock_offset || win->clock_offset_ms >= -(int64) max_clock_skew_setting)
		return "";
	return psprintf(" (the remote's clock is %lld ms behind this server's, more than directus_sync.max_clock_skew:"
					" its database refuses changes with clocks until the clocks agree; check NTP on both)",
					(long long) -win->clock_offset_ms);
}

/*
 * An answer that is not a success: the remote backs off, or the items fail,
 * unless it is one of the answers that idempotent apply turns around (a
 * create of a key the remote has, an update or delete it forbids because
 * the item is not there).
 */
void
directus_failed_answer(DirectusWindow *win, Step *step, HttpRequest *req)
{
	FailureClass class = failure_class(req->status);
	int			status = (int) req->status;
	char	   *code;
	char	   *message;

	/*
	 * A 5xx whose own Date shows every item's clocks too far ahead of the
	 * remote's clock (it went back since the window was claimed, or was
	 * never told, or a held change went as a probe): its database refused
	 * them for that (clock_row.c). They are held back, not failed
	 * (hold_back.c). Not while a change the remote took refutes its Date.
	 */
	if (status >= 500 && class != FAIL_REMOTE && step->kind != STEP_PROBE && win->has_clock_offset &&
		hold_back_trusts_date(win->remote, win->clock_offset_ms) &&
		hold_back_refused(step->items, win->clock_offset_ms))
	{
		if (step == win->sample_rest)
			win->sample_rest = NULL;
		return;
	}
	directus_parse_error(req->response.data, &code, &message);
	if (status >= 500)
		message = psprintf("%s%s", message ? message : "", clock_behind(win));
	if (class == FAIL_REMOTE)
	{
		char	   *error = psprintf("HTTP %d %s: %s", status, code ? code : "", message ? message : "");

		/*
		 * Only a gateway's 502 or 504 may come after Directus applied the
		 * request: then the items count an attempt, as when no answer came.
		 * The other answers (503, 429, 401, ...) refused the request before
		 * anything was written. They cost the items nothing: an item's
		 * attempts are its own failures (max_item_attempts), and a remote
		 * down or held back for long used them up, so that the item's first
		 * failure of its own afterwards made it a dead letter (t/086).
		 */
		if (status == 502 || status == 504)
			directus_remote_failure(win, step, error, req->retry_after_ms);
		else if (status == 503 && step->kind != STEP_PROBE &&
				 win->remote->consecutive_failures >= REFUSALS_BEFORE_PING)
		{
			/*
			 * Refused for long: every request, or only those carrying some
			 * item? The ping tells (directus_refusal_judged). Only 503:
			 * Directus answers 429 (its rate limiter) and its own 503 (its
			 * pressure limiter) to the ping too, and a 401 (the token) not
			 * at all: a ping could not tell those apart.
			 */
			Step	   *ping = directus_new_step(STEP_PING, NULL, NIL, false);

			ping->refused = step;
			ping->status = status;
			ping->code = code;
			ping->message = message;
			ping->retry_after_ms = req->retry_after_ms;
			/* a step without items: directus_push_step would drop it */
			win->steps = lcons(ping, win->steps);
		}
		else
			directus_back_off(win, error, req->retry_after_ms);
	}
	else if (status == 403 && message && strstr(message, "\"directus_sync_meta\"") &&
			 directus_items_carry_clocks(step->items) &&
			 (step->kind == STEP_PROBE || step->kind == STEP_CREATE || step->probed))
	{
		/*
		 * Not the items' fault: every change with clocks fails there until
		 * it is set up. A refusal, nothing written: no attempt counted.
		 */
		directus_back_off(win,
						  psprintf("the remote's collection \"%s\" has no field directus_sync_meta (HTTP 403: %s):"
								   " run SELECT directus_sync.enable_clocks('%s') in its database, then restart"
								   " its Directus or clear its cache",
								   step->sub->collection, message, step->sub->collection),
						  -1);
	}
	else if (step->kind == STEP_PROBE)
		directus_probe_failed(win, step);
	else if (status == 400 && code && strcmp(code, "RECORD_NOT_UNIQUE") == 0 && step->kind == STEP_CREATE)
		directus_create_conflict(win, step, status, code, message);
	/*
	 * Directus 11 and 12 answer an update of a key they lack with a 403 that
	 * names the payload's fields: the probe comes first (an update that
	 * meets a delete made there would otherwise block the remote).
	 */
	else if (status == 403 && !step->probed && (step->kind == STEP_UPDATE || step->kind == STEP_DELETE))
		directus_write_forbidden(win, step, status, code, message);
	else if (status == 403 && step->kind == STEP_UPDATE && directus_items_carry_clocks(step->items))
	{
		/*
		 * The probe found the items, and now one is gone: with clocks,
		 * other instances' deletes and re-creates reach the remote at any
		 * time. Asked again (directus_apply.c).
		 */
		directus_update_vanished(win, step, status, code, message);
	}
	else
		directus_item_failure(win, step, class == FAIL_ITEM_RETRY ? ITEM_RETRY : ITEM_DEAD,
							  status, code, message);
}

/*
 * The answer to the ping that judges a write the remote refused with 503
 * (directus_failed_answer). Answered: the remote is up and refused that
 * batch, which fails as its items' failure (ITEM_RETRY: split until the
 * item at fault is alone, which counts an attempt and becomes a dead letter
 * after max_item_attempts; while nothing of the window went through, its
 * first and last items alone and the rest together first, as for a 5xx).
 * Not answered: the remote is down (or held back) as a whole, no attempt
 * counted.
 */
void
directus_refusal_judged(DirectusWindow *win, Step *ping, HttpRequest *req)
{
	Step	   *step = ping->refused;
	const char *error = psprintf("HTTP %d %s: %s", ping->status, ping->code ? ping->code : "",
								 ping->message ? ping->message : "");

	if (req->status >= 200 && req->status < 300)
	{
		ereport(LOG,
				(errmsg("remote \"%s\" refused %d items of \"%s\" with HTTP %d after %d failed rounds, but answers GET /server/ping:"
						" the refusal is taken for the items'",
						win->remote->name, list_length(step->items), step->sub->collection, ping->status,
						win->remote->consecutive_failures)));
		directus_item_failure(win, step, ITEM_RETRY, ping->status, ping->code,
							  psprintf("%s (refused while the remote answers GET /server/ping)",
									   ping->message ? ping->message : ""));
	}
	else if (req->status == 0)
		directus_back_off(win, psprintf("%s; GET /server/ping: %s", error, req->transport_error),
						  ping->retry_after_ms);
	else
		directus_back_off(win, psprintf("%s; GET /server/ping: HTTP %ld", error, req->status),
						  ping->retry_after_ms);
}
