/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The replication worker: one per database named in
 *	  directus_sync.databases, started by the postmaster.
 *
 * Each round of the loop: take a window of queued changes for every ready
 * remote that has none on its way (a short transaction, queue_claim.c);
 * turn each window into Directus requests (directus.c) that libcurl runs in
 * parallel across remotes (http.c) with no transaction open; record each
 * finished window in another short transaction (queue_record.c). With
 * nothing on its way the worker sleeps on its latch, which committing
 * writers set (wake.c), with directus_sync.poll_interval as a fallback.
 *
 * An error inside one of the worker's transactions is logged and the
 * transaction rolled back (worker_txn.c). Any other error (a cancel by
 * pg_cancel_backend, a failure in libcurl) is logged too and drops the
 * windows on their way: their rows are still queued and go out again, as
 * after a crash. The worker lives on; only FATAL ends it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "app_status.h"
#include "directus.h"
#include "directus_sync.h"
#include "http.h"
#include "queue_claim.h"
#include "queue_record.h"
#include "wake.h"
#include "worker.h"
#include "worker_txn.h"

/* How often an idle worker looks whether the drained outbox needs shrinking. */
#define SHRINK_EVERY_MS 10000

/* A window of one remote's changes on its way. */
typedef struct ActiveWindow
{
	DirectusWindow *win;
	HttpRequest *req;			/* in flight, or NULL */
	MemoryContext cxt;			/* the window's */
	MemoryContext req_cxt;		/* the request's, freed with its answer */
} ActiveWindow;

/*
 * How long an idle worker stays in its database before it leaves it: long
 * enough not to leave between two commits of a busy writer, short enough
 * that DROP DATABASE and CREATE DATABASE ... TEMPLATE (which wait up to 5 s
 * for other sessions to go) find it gone.
 */
#define WORKER_LINGER_MS 1000

/* What the loop remembers from round to round. */
typedef struct LoopState
{
	bool		claim_due;		/* look for work in this round */
	TimestampTz last_claim;
	TimestampTz last_shrink;
	TimestampTz idle_since;		/* 0: not idle */
	bool		unanswered_held;	/* requests left on their way are waited for */
	long		sleep_ms;		/* the longest idle wait of this round */
} LoopState;

static int	my_slot;			/* in wake.c's shared memory */

/* ----------------------------------------------------------------
 * Windows
 * ---------------------------------------------------------------- */

static List *active_windows = NIL;	/* of ActiveWindow */

static List *
busy_remote_ids(void)
{
	List	   *ids = NIL;
	ListCell   *lc;

	foreach(lc, active_windows)
		ids = lappend_int(ids, directus_window_remote(((ActiveWindow *) lfirst(lc))->win)->id);
	return ids;
}

/*
 * Takes a window of work for every ready remote that has none on its way.
 * Returns how long the worker may sleep before a backed-off remote is due.
 */
static long
claim_windows(void)
{
	long		next_retry_ms = -1;
	List	   *remotes;
	ListCell   *lc;

	remotes = queue_ready_remotes(busy_remote_ids(), &next_retry_ms);
	foreach(lc, remotes)
	{
		MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "directus_sync window",
												  ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(cxt);
		List	   *items = NIL;
		SyncRemote *remote = queue_claim(lfirst_int(lc), &items);
		DirectusWindow *win = (remote && items) ? directus_window_begin(remote, items) : NULL;
		ActiveWindow *aw;

		MemoryContextSwitchTo(old);
		if (win == NULL)
		{
			MemoryContextDelete(cxt);
			continue;
		}
		aw = MemoryContextAllocZero(TopMemoryContext, sizeof(ActiveWindow));
		aw->cxt = cxt;
		aw->win = win;
		old = MemoryContextSwitchTo(TopMemoryContext);
		active_windows = lappend(active_windows, aw);
		MemoryContextSwitchTo(old);
	}
	return next_retry_ms;
}

/*
 * The window's next request, after reading whatever current rows it wants
 * first (in the window's memory: its items keep them).
 */
static HttpRequest *
next_request(ActiveWindow *aw)
{
	SyncSubscription *sub;
	List	   *keys;
	MemoryContext old = MemoryContextSwitchTo(aw->cxt);

	while (directus_window_wants_rows(aw->win, &sub, &keys))
		directus_window_give_rows(aw->win,
								  queue_current_rows(directus_window_remote(aw->win), sub, keys));
	MemoryContextSwitchTo(old);
	return directus_window_next(aw->win);
}

/* Starts the next request of every window that has none in flight. */
static void
start_requests(void)
{
	ListCell   *lc;

	foreach(lc, active_windows)
	{
		ActiveWindow *aw = lfirst(lc);
		MemoryContext old;

		if (aw->req != NULL)
			continue;
		aw->req_cxt = AllocSetContextCreate(aw->cxt, "directus_sync request", ALLOCSET_DEFAULT_SIZES);
		old = MemoryContextSwitchTo(aw->req_cxt);
		aw->req = next_request(aw);
		if (aw->req != NULL)
		{
			HttpOptions options = directus_window_remote(aw->win)->http;

			options.proxy = http_proxy_setting;
			aw->req->owner = aw;
			http_start(aw->req, &options);
		}
		MemoryContextSwitchTo(old);
		if (aw->req == NULL)
			MemoryContextDelete(aw->req_cxt);
	}
}

static void
record_window(ActiveWindow *aw)
{
	int			retry_after_ms;
	const char *remote_error = directus_window_remote_error(aw->win, &retry_after_ms);
	int64		clock_offset_ms;
	bool		answered;
	const char *ping_error;
	bool		has_offset = directus_window_clock_offset(aw->win, &clock_offset_ms, &answered,
														  &ping_error);

	queue_record(directus_window_remote(aw->win), directus_window_items(aw->win),
				 remote_error, retry_after_ms, answered, has_offset ? &clock_offset_ms : NULL,
				 ping_error);
}

/* Records and frees the windows that have nothing more to send. */
static bool
finish_windows(void)
{
	ListCell   *lc;
	bool		finished = false;

	foreach(lc, active_windows)
	{
		ActiveWindow *aw = lfirst(lc);

		if (aw->req != NULL || !directus_window_done(aw->win))
			continue;
		record_window(aw);
		app_status_changed();
		MemoryContextDelete(aw->cxt);
		active_windows = foreach_delete_current(active_windows, lc);
		pfree(aw);
		finished = true;
	}
	return finished;
}

static void
handle_answer(HttpRequest *req)
{
	ActiveWindow *aw = req->owner;
	MemoryContext old = MemoryContextSwitchTo(aw->cxt);

	directus_window_answer(aw->win, req);
	http_cleanup(req);
	aw->req = NULL;
	MemoryContextSwitchTo(old);
	/* bodies and answers go now: a bisected batch makes many of them */
	MemoryContextDelete(aw->req_cxt);
}

/* ----------------------------------------------------------------
 * The loop
 * ---------------------------------------------------------------- */

static void
process_interrupts(void)
{
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/* Resync chunks and new windows, when woken or when the fallback poll is due. */
static void
claim_if_due(LoopState *state)
{
	long		next_retry_ms;

	if (!state->claim_due &&
		TimestampDifferenceExceeds(state->last_claim, GetCurrentTimestamp(), poll_interval_setting))
		state->claim_due = true;
	if (!state->claim_due || !worker_extension_ready())
		return;
	if (!state->unanswered_held)
	{
		/* nothing is sent before the requests left on their way are waited for */
		state->unanswered_held = worker_hold_unanswered();
		if (!state->unanswered_held)
			return;				/* tried again at the next round */
	}
	pgstat_report_activity(STATE_RUNNING, "claiming");
	worker_resync_steps();
	next_retry_ms = claim_windows();
	if (next_retry_ms >= 0)
		state->sleep_ms = Min(state->sleep_ms, Max(next_retry_ms, 10));
	state->last_claim = GetCurrentTimestamp();
	state->claim_due = false;
}

/*
 * Sleeps until an answer comes, a commit sets the latch, or the round's
 * sleep is over; then takes every answer that came.
 */
static void
collect_answers(LoopState *state)
{
	HttpRequest *req;

	pgstat_report_activity(STATE_RUNNING, "sending");
	for (req = http_wait(state->sleep_ms); req != NULL; req = http_wait(0))
		handle_answer(req);
	if (MyLatch->is_set)
	{
		ResetLatch(MyLatch);
		state->claim_due = true;
	}
}

static void
shrink_if_idle(LoopState *state)
{
	if (TimestampDifferenceExceeds(state->last_shrink, GetCurrentTimestamp(), SHRINK_EVERY_MS) &&
		worker_extension_ready())
	{
		worker_shrink_outbox();
		state->last_shrink = GetCurrentTimestamp();
	}
}

/*
 * Leaves the database once idle for WORKER_LINGER_MS, telling the launcher
 * when to come back (the poll, or a backoff that ends sooner); a commit
 * that comes after it left has the launcher start a worker at once. A
 * commit that set the latch just before it left keeps it here.
 */
static void
leave_if_idle(LoopState *state)
{
	TimestampTz now = GetCurrentTimestamp();

	if (state->idle_since == 0)
	{
		state->idle_since = now;
		return;
	}
	if (!TimestampDifferenceExceeds(state->idle_since, now, WORKER_LINGER_MS))
		return;
	if (!wake_detach_worker(my_slot))
	{
		state->idle_since = 0;
		return;
	}
	if (MyLatch->is_set)
	{
		wake_attach_worker(my_slot);
		state->idle_since = 0;
		return;
	}
	wake_set_due(my_slot, TimestampTzPlusMilliseconds(now, state->sleep_ms));
	proc_exit(0);
}

/* Nothing on its way: sleep until a commit wakes us, a backoff is due or it is time to leave. */
static void
idle_wait(LoopState *state)
{
	pgstat_report_activity(STATE_IDLE, NULL);
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 Min(state->sleep_ms, WORKER_LINGER_MS), PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	state->claim_due = true;
}

pg_noreturn static void worker_loop(void);

/*
 * After an error outside a transaction: the windows on their way are given
 * up (their rows stay queued), their requests taken out of libcurl.
 */
static void
drop_windows(void)
{
	ListCell   *lc;

	foreach(lc, active_windows)
	{
		ActiveWindow *aw = lfirst(lc);

		if (aw->req != NULL)
			http_cleanup(aw->req);
		MemoryContextDelete(aw->cxt);
		pfree(aw);
	}
	list_free(active_windows);
	active_windows = NIL;
}

/*
 * The error recovery of a main loop, as PostgreSQL's own auxiliary
 * processes have it (see the WAL writer): report, clean up, go on.
 */
static void
recover_from_error(void)
{
	/* Since not using PG_TRY, must reset error stack by hand */
	error_context_stack = NULL;
	HOLD_INTERRUPTS();
	EmitErrorReport();
	debug_query_string = NULL;
	AbortOutOfAnyTransaction();
	MemoryContextSwitchTo(TopMemoryContext);
	FlushErrorState();
	drop_windows();
	RESUME_INTERRUPTS();

	/* an error that repeats at once must not make the worker spin */
	pg_usleep(1000L * 1000L);
}

static void
worker_loop(void)
{
	/* static: it must keep its values across the longjmp of an error */
	static LoopState state = {true, 0, 0, 0, false, 0};
	MemoryContext round_cxt = AllocSetContextCreate(TopMemoryContext, "directus_sync round",
													ALLOCSET_DEFAULT_SIZES);
	sigjmp_buf	local_sigjmp_buf;

	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		recover_from_error();
		state.claim_due = true;
		state.unanswered_held = false;	/* the windows given up had requests out */
	}
	PG_exception_stack = &local_sigjmp_buf;

	for (;;)
	{
		/* what a round allocates outside its windows lives until the next */
		MemoryContextReset(round_cxt);
		MemoryContextSwitchTo(round_cxt);
		process_interrupts();
		state.sleep_ms = poll_interval_setting;

		claim_if_due(&state);
		start_requests();
		app_status_refresh(false);
		if (active_windows != NIL)
			state.idle_since = 0;
		if (finish_windows())
			state.claim_due = true; /* more may be queued behind them */
		else if (http_in_flight() > 0)
			collect_answers(&state);
		else if (active_windows == NIL)
		{
			shrink_if_idle(&state);
			app_status_refresh(true);
			leave_if_idle(&state);
			idle_wait(&state);
		}
		/* else a window moves on without the network: next round at once */
	}
}

void
directus_sync_worker_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(MyBgworkerEntry->bgw_extra, NULL, 0);

	/*
	 * The worker runs as a superuser: nothing a database owner sets may
	 * steer its SQL. READ COMMITTED is also what _shrink_outbox relies on.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);

	my_slot = DatumGetInt32(arg);
	wake_attach_worker(my_slot);
	http_init();
	ereport(LOG,
			(errmsg("directus_sync worker started for database \"%s\"",
					MyBgworkerEntry->bgw_extra)));
	worker_loop();
	/* Not reachable */
}
