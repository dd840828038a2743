/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The replication worker: one per database named in
 *	  directus_sync.databases, started by the postmaster.
 *
 * The worker loops: it takes a window of queued changes per ready remote (a
 * short transaction, outbox.c), turns each window into Directus requests
 * (directus.c) that libcurl runs in parallel across remotes (http.c) with no
 * transaction open, and records what happened in another short transaction.
 * Between rounds it sleeps on its latch, which committing writers set
 * (capture.c), with directus_sync.poll_interval as a fallback.
 *
 * It owns the small shared memory area that lets a backend find the latch of
 * its database's worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/varlena.h"
#include "nodes/value.h"
#include "storage/pmsignal.h"

#include "directus_sync.h"

typedef struct WorkerSlot
{
	Oid			dboid;			/* InvalidOid until the worker has connected */
	Latch	   *latch;
} WorkerSlot;

typedef struct WorkerShared
{
	slock_t		mutex;
	WorkerSlot	slots[MAX_WORKER_DATABASES];
} WorkerShared;

static WorkerShared *shared = NULL;

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

/* ----------------------------------------------------------------
 * Registration and shared memory (postmaster)
 * ---------------------------------------------------------------- */

static List *
configured_databases(void)
{
	char	   *copy = pstrdup(databases_setting ? databases_setting : "");
	List	   *names = NIL;

	if (!SplitIdentifierString(copy, ',', &names))
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in parameter \"%s\"", "directus_sync.databases")));
	if (list_length(names) > MAX_WORKER_DATABASES)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("directus_sync.databases names %d databases, at most %d are supported",
						list_length(names), MAX_WORKER_DATABASES)));
	return names;
}

void
worker_register_all(void)
{
	ListCell   *lc;
	int			slot = 0;

	List	   *seen = NIL;

	foreach(lc, configured_databases())
	{
		const char *dbname = lfirst(lc);
		BackgroundWorker worker;

		/* one worker per database: two would send the same changes */
		if (list_member(seen, makeString((char *) dbname)))
			continue;
		seen = lappend(seen, makeString((char *) dbname));

		if (strlen(dbname) >= Min(BGW_EXTRALEN, NAMEDATALEN))
			ereport(FATAL,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("database name \"%s\" in directus_sync.databases is too long", dbname)));

		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
		worker.bgw_restart_time = 5;
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "directus_sync");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "directus_sync_worker_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "directus_sync worker for database %s", dbname);
		snprintf(worker.bgw_type, BGW_MAXLEN, "directus_sync worker");
		strlcpy(worker.bgw_extra, dbname, BGW_EXTRALEN);
		worker.bgw_main_arg = Int32GetDatum(slot++);
		RegisterBackgroundWorker(&worker);
	}
}

void
worker_request_shmem(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(WorkerShared)));
}

void
worker_startup_shmem(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("directus_sync", sizeof(WorkerShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(WorkerShared));
		SpinLockInit(&shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Sets the latch of the worker of a database; false when there is none (the
 * library was not preloaded, or the database has no worker).
 */
bool
worker_wake(Oid dboid)
{
	Latch	   *latches[MAX_WORKER_DATABASES];
	int			n = 0;

	if (shared == NULL)
		return false;
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < MAX_WORKER_DATABASES; i++)
		if (shared->slots[i].dboid == dboid && shared->slots[i].latch != NULL)
			latches[n++] = shared->slots[i].latch;
	SpinLockRelease(&shared->mutex);
	/* SetLatch may do a system call: not under a spinlock */
	for (int i = 0; i < n; i++)
		SetLatch(latches[i]);
	return n > 0;
}

static void
publish_slot(int slot, Oid dboid, Latch *latch)
{
	SpinLockAcquire(&shared->mutex);
	shared->slots[slot].dboid = dboid;
	shared->slots[slot].latch = latch;
	SpinLockRelease(&shared->mutex);
}

static int	my_slot = -1;

static void
unpublish_slot(int code, Datum arg)
{
	(void) code;
	(void) arg;
	if (shared != NULL && my_slot >= 0)
		publish_slot(my_slot, InvalidOid, NULL);
}

/* ----------------------------------------------------------------
 * The worker
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

	remotes = outbox_ready_remotes(busy_remote_ids(), &next_retry_ms);
	foreach(lc, remotes)
	{
		MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "directus_sync window",
												  ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(cxt);
		List	   *items = NIL;
		SyncRemote *remote = outbox_claim(lfirst_int(lc), &items);
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
		aw->req = directus_window_next(aw->win);
		if (aw->req != NULL)
		{
			aw->req->owner = aw;
			http_start(aw->req, directus_window_remote(aw->win));
		}
		MemoryContextSwitchTo(old);
		if (aw->req == NULL)
			MemoryContextDelete(aw->req_cxt);
	}
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
		directus_window_finish(aw->win);
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

/*
 * One round: claim, send, wait for answers or the latch, record. Sleeping
 * is on the latch when nothing is in flight, else in libcurl in short steps
 * so that the latch and signals are still looked at.
 */
static void
worker_loop(void)
{
	bool		claim_due = true;
	TimestampTz last_claim = 0;
	TimestampTz last_shrink = 0;
	MemoryContext round_cxt = AllocSetContextCreate(TopMemoryContext, "directus_sync round",
													ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		long		sleep_ms = poll_interval_setting;

		/* what a round allocates outside its windows lives until the next */
		MemoryContextReset(round_cxt);
		MemoryContextSwitchTo(round_cxt);
		process_interrupts();

		if (!claim_due && TimestampDifferenceExceeds(last_claim, GetCurrentTimestamp(),
													 poll_interval_setting))
			claim_due = true;
		if (claim_due && outbox_extension_ready())
		{
			long		next_retry_ms;

			pgstat_report_activity(STATE_RUNNING, "claiming");
			outbox_resync_steps();
			next_retry_ms = claim_windows();
			if (next_retry_ms >= 0)
				sleep_ms = Min(sleep_ms, Max(next_retry_ms, 10));
			last_claim = GetCurrentTimestamp();
			claim_due = false;
		}

		start_requests();
		if (finish_windows())
		{
			claim_due = true;	/* more may be queued behind them */
			continue;
		}

		if (http_in_flight() > 0)
		{
			HttpRequest *req;

			pgstat_report_activity(STATE_RUNNING, "sending");
			if (!PostmasterIsAlive())
				proc_exit(1);
			/* wait for one answer, then take whatever else has finished */
			for (req = http_wait(20); req != NULL; req = http_wait(0))
				handle_answer(req);
			if (MyLatch->is_set)
			{
				ResetLatch(MyLatch);
				claim_due = true;
			}
			continue;
		}
		if (active_windows != NIL)
			continue;			/* a window moves on without network */

		if (TimestampDifferenceExceeds(last_shrink, GetCurrentTimestamp(), SHRINK_EVERY_MS) &&
			outbox_extension_ready())
		{
			outbox_shrink_if_empty();
			last_shrink = GetCurrentTimestamp();
		}
		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		claim_due = true;
	}
}

void
directus_sync_worker_main(Datum arg)
{
	my_slot = DatumGetInt32(arg);

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

	before_shmem_exit(unpublish_slot, (Datum) 0);
	publish_slot(my_slot, MyDatabaseId, MyLatch);

	http_init();
	ereport(LOG,
			(errmsg("directus_sync worker started for database \"%s\"",
					MyBgworkerEntry->bgw_extra)));
	worker_loop();
}
