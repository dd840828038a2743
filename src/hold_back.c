/*-------------------------------------------------------------------------
 *
 * hold_back.c
 *	  The sender's half of the clock-skew rule: a change whose clocks the
 *	  remote would refuse, as too far ahead of its own clock, is not sent.
 *
 * A receiving database refuses a clock more than directus_sync.max_clock_skew
 * ahead of its wall clock (clock_row.c): the write fails with a 500, and
 * sending it again is useless until the remote's clock has caught up.
 * Counting those refusals as failed attempts would make dead letters of
 * good changes; clamping their clocks would make instances diverge. So the
 * sender estimates the remote's clock from the Date header of its answers
 * (http.c; remote_state.clock_offset_ms) and holds back every item whose
 * latest clock is beyond what the remote takes now: the item stays queued
 * as it is (no attempt counted, no backoff, clocks untouched) and goes in a
 * later window, once the remote's clock, estimated again, has caught up.
 * While a window has nothing else to send, it asks the remote's time with
 * GET /server/ping (directus.c).
 *
 * The clocks that count are those the receiver observes: the item's born
 * clock "b", a delete's "d" and the sweep "u" beside it, the item's alive
 * clock "a", and each field's clock in "f" of the payload's
 * directus_sync_meta (a compact create's,
 * {"s", "b"}, has its fields at "b"). Ours travel as 16 hex digits, a
 * forwarded change's (another instance's) as whole clock texts: their
 * stamps read alike. A payload without directus_sync_meta (a table without
 * clocks) never waits.
 *
 * Date has whole seconds: the estimate (http.c takes the middle of the
 * second, plus Age when a cache answered) is up to half a second above the
 * remote's clock. The remote's clock is taken as the least it can be, so a
 * change may wait up to half a second longer than needed, and is never sent
 * early because of it. A remote that has never sent a Date gets everything:
 * its database decides.
 *
 * Every pending payload of a window is read (without parsing: the walkers
 * of queue_coalesce.c), whenever the remote's clock is known. No cheaper
 * bound on the queued clocks holds: a queued change carries clocks made
 * long before it was queued (the item's born clock with each update, a
 * field's stamp that only had to beat the one it replaced, whole rows that
 * resync renders in SQL), and those made before a restart across which the
 * wall clock went back, or max_clock_skew was lowered, can be anywhere
 * ahead of this server's clock now. The walk is one pass over bytes the
 * claim has just copied, and that the request copies again.
 *
 * Never forever: the estimate may be wrong (the Date is that of Directus's
 * Node host, not of its database's; a proxy or cache answers with a stale
 * Date). Once changes have been held for HOLD_PROBE_FIRST_MS, the one the
 * remote should take soonest goes anyway, alone, as a probe (then again
 * after as long as they have been held, at most HOLD_PROBE_MAX_MS). Refused
 * as the Date explains (hold_back_refused), it is held again, counting no
 * attempt. Taken, it refutes the Date: nothing is held back for that remote
 * while its Date stays behind what the remote takes (hold_back_trusts_date;
 * each change it takes meanwhile tells more, hold_back_taken_offset), and
 * the worker logs it; a refusal is then a failure, as from a remote without
 * a Date. A Date that comes to agree with what the remote takes (its host's
 * clock set right, say) is trusted again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tupdesc.h"
#include "datatype/timestamp.h"
#include "utils/timestamp.h"

#include "capture.h"
#include "clock.h"
#include "directus_sync.h"
#include "hold_back.h"
#include "queue_coalesce.h"

/* How far above the remote's clock the estimate from a whole-second Date can be. */
#define DATE_HALF_SECOND_MS 500

/* This server's clock as clock.c reads it: Unix ms, the test offset included. */
static int64
now_ms(void)
{
	return GetCurrentTimestamp() / 1000
		+ (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000
		+ clock_test_offset_setting;
}

/* The latest clock (Unix ms) the remote takes now, at the least. */
static int64
remote_limit_ms(int64 offset_ms)
{
	return now_ms() + offset_ms - DATE_HALF_SECOND_MS + max_clock_skew_setting;
}

/* The ms of a clock value at p (a JSON string); -1 when it is not one. */
static int64
clock_value_ms(const char *p)
{
	uint64		stamp = 0;

	if (*p != '"')
		return -1;
	for (int i = 1; i <= CLOCK_STAMP_LEN; i++)
	{
		char		c = p[i];

		if (c >= '0' && c <= '9')
			stamp = (stamp << 4) | (uint64) (c - '0');
		else if (c >= 'a' && c <= 'f')
			stamp = (stamp << 4) | (uint64) (c - 'a' + 10);
		else
			return -1;
	}
	return (int64) (stamp >> CLOCK_COUNTER_BITS);
}

static bool
named(const char *name, int len, const char *want)
{
	return len == (int) strlen(want) && memcmp(name, want, len) == 0;
}

/* Each value of "f": a field's clock. */
static void
visit_field_clock(const char *name, int name_len, const char *value, int value_len, void *arg)
{
	int64	   *latest = arg;

	(void) name;
	(void) name_len;
	(void) value_len;
	*latest = Max(*latest, clock_value_ms(value));
}

/* The members of directus_sync_meta: "b", "d", "u" and "a" are clocks, "f" holds them. */
static void
visit_meta(const char *name, int name_len, const char *value, int value_len, void *arg)
{
	int64	   *latest = arg;

	(void) value_len;
	if (named(name, name_len, "\"b\"") || named(name, name_len, "\"d\"") ||
		named(name, name_len, "\"u\"") || named(name, name_len, "\"a\""))
		*latest = Max(*latest, clock_value_ms(value));
	else if (named(name, name_len, "\"f\""))
		(void) jtext_each_member(value, visit_field_clock, latest);
}

static void
visit_payload(const char *name, int name_len, const char *value, int value_len, void *arg)
{
	(void) value_len;
	if (named(name, name_len, "\"" CLOCK_COLUMN "\""))
		(void) jtext_each_member(value, visit_meta, arg);
}

/* The latest clock (Unix ms) a payload brings to the remote; -1: none. */
static int64
payload_latest_ms(const char *payload)
{
	int64		latest = -1;

	if (payload != NULL)
		(void) jtext_each_member(payload, visit_payload, &latest);
	return latest;
}

/* How long until the remote takes the item (> 0: hold it back), about. */
static int64
item_wait_ms(const SyncItem *item, int64 limit)
{
	if (item->outcome != ITEM_PENDING)
		return 0;
	return payload_latest_ms(item->payload) - limit;
}

static void
hold(SyncItem *item, int64 wait_ms)
{
	item->outcome = ITEM_HELD;
	item->hold_ms = wait_ms;
}

/*
 * Whether the remote's clock as its Date tells it (offset_ms from ours) is
 * to be believed: not while it stays below what a change the remote took
 * showed (see the header).
 */
bool
hold_back_trusts_date(const SyncRemote *remote, int64 offset_ms)
{
	return !remote->date_refuted || offset_ms >= remote->date_refuted_below_ms;
}

/*
 * The least offset (the remote's clock minus ours) that agrees with what
 * the remote took in this window: it took each delivered item's clocks, so
 * its clock was at most max_clock_skew behind them (the same setting on
 * both is assumed), and has gone on from there. PG_INT64_MIN: it took no
 * clocks.
 */
int64
hold_back_taken_offset(List *items)
{
	int64		least = PG_INT64_MIN;
	int64		now = now_ms();
	ListCell   *lc;

	foreach(lc, items)
	{
		SyncItem   *item = lfirst(lc);
		int64		latest;

		/* a singleton's delete is settled without a request */
		if (item->outcome != ITEM_DELIVERED || (item->sub->singleton && item->op == SYNC_OP_DELETE))
			continue;
		latest = payload_latest_ms(item->payload);
		if (latest >= 0)
			least = Max(least, latest - now + DATE_HALF_SECOND_MS - max_clock_skew_setting);
	}
	return least;
}

/*
 * Holds back the pending items of a window that the remote, whose clock is
 * offset_ms from ours, would refuse now; returns how many. With probe, the
 * one it should take soonest goes anyway, as a probe of the estimate (see
 * the header).
 */
int
hold_back_items(List *items, int64 offset_ms, bool probe)
{
	int64		limit = remote_limit_ms(offset_ms);
	int			held = 0;
	SyncItem   *soonest = NULL;
	ListCell   *lc;

	foreach(lc, items)
	{
		SyncItem   *item = lfirst(lc);
		int64		wait_ms = item_wait_ms(item, limit);

		if (wait_ms > 0)
		{
			hold(item, wait_ms);
			held++;
			if (soonest == NULL || wait_ms < soonest->hold_ms)
				soonest = item;
		}
	}
	if (probe && soonest != NULL)
	{
		soonest->outcome = ITEM_PENDING;
		soonest->hold_probe = true;
		held--;
	}
	return held;
}

/*
 * A batch the remote refused with a 5xx: when the answer's Date shows that
 * it refused every item's clocks (they are all too far ahead of its clock,
 * offset_ms from ours: its clock went back, say, since the window was
 * claimed), they are held back instead of failing. True when so.
 */
bool
hold_back_refused(List *items, int64 offset_ms)
{
	int64		limit = remote_limit_ms(offset_ms);
	ListCell   *lc;

	if (items == NIL)
		return false;
	foreach(lc, items)
	{
		if (item_wait_ms(lfirst(lc), limit) <= 0)
			return false;
	}
	foreach(lc, items)
		hold(lfirst(lc), item_wait_ms(lfirst(lc), limit));
	return true;
}

/*
 * Why n items were held back, for remote_status.held_reason: how far the
 * remote's clock is from ours, and what the changes wait for.
 */
char *
hold_back_reason(int n, int64 offset_ms)
{
	const char *changes = n == 1 ? "change" : "changes";

	if (offset_ms < 0)
		return psprintf("%d %s with clocks held back: the remote's clock is %lld ms behind this server's"
						" (its Date header), and their clocks are more than directus_sync.max_clock_skew"
						" (%d ms) ahead of it, which its database refuses; they go once its clock has caught up"
						" (check NTP on both)",
						n, changes, (long long) -offset_ms, max_clock_skew_setting);
	return psprintf("%d %s with clocks held back: their clocks (another instance's) are more than"
					" directus_sync.max_clock_skew (%d ms) ahead of the remote's clock (%lld ms ahead of this"
					" server's), which its database refuses; they go once its clock has caught up"
					" (check NTP on every instance)",
					n, changes, max_clock_skew_setting, (long long) offset_ms);
}
