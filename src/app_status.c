/*-------------------------------------------------------------------------
 *
 * app_status.c
 *	  The worker keeps the status tables of the Directus app current.
 *
 * directus_sync.enable_app_status() makes tables in Directus's schema that
 * mirror remote_status, the dead letters and the conflicts, for Directus's
 * administrators to see (docs/directus-app.md). The worker refreshes them
 * with directus_sync._app_status_refresh(), each time in a short
 * transaction of its own: every directus_sync.app_status_interval while it
 * works, and at once when it goes idle after changes were recorded, so
 * that the figures an administrator sees are never older than that
 * interval (or the poll interval, when the worker has left an idle
 * database). The refresh writes nothing when nothing changed, and, when the
 * app status is not enabled, only drops the dead letters' and conflicts'
 * change log (directus_sync.app_status_change) and folds the dead-letter
 * counts; what it reads follows what changed, not the dead letters kept
 * (docs/directus-app.md). A failing refresh is
 * logged and rolled back (worker_txn.c); deliveries go on. User
 * transactions never wait for it: the tables are read, and written by the
 * worker only. Nor does the worker wait for them: Directus's role owns the
 * tables and may hold a lock on them as long as it likes (an open DROP
 * TABLE, a long schema apply), so a refresh waits at most
 * WORKER_LOCK_TIMEOUT_MS for a lock, and is otherwise skipped until a later
 * round, said in the log at most once a minute (spi_run_nowait).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/timestamp.h"

#include "app_status.h"
#include "directus_sync.h"
#include "worker_txn.h"

static TimestampTz last_refresh = 0;	/* 0: never in this process */
static bool changed_since_refresh = false;
static LockSkips refresh_skips;

static void
refresh(void *arg)
{
	(void) arg;
	/* An older installed version (the worker then ships nothing anyway) lacks the function. */
	spi_run("SELECT pg_catalog.to_regprocedure('directus_sync._app_status_refresh()') IS NOT NULL",
			0, NULL, NULL, NULL);
	if (SPI_processed == 1 && result_int(0, 1))
		(void) spi_run_nowait("SELECT directus_sync._app_status_refresh()",
							  "a refresh of the status in the Directus app", &refresh_skips);
}

/* The worker recorded something (a window's outcome): refresh when idle. */
void
app_status_changed(void)
{
	changed_since_refresh = true;
}

/*
 * Refreshes the status tables when app_status_interval has passed since the
 * last refresh, or, with idle, when something changed since.
 */
void
app_status_refresh(bool idle)
{
	TimestampTz now = GetCurrentTimestamp();

	if (!(idle && changed_since_refresh) &&
		!TimestampDifferenceExceeds(last_refresh, now, app_status_interval_setting))
		return;
	last_refresh = now;
	changed_since_refresh = false;
	(void) run_transaction("refreshing the status in the Directus app", refresh, NULL);
}
