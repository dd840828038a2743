/*-------------------------------------------------------------------------
 *
 * worker_txn.c
 *	  The worker's transactions: how each one runs, and the small ones
 *	  (is the extension there at our version, resync chunks, shrinking the
 *	  outbox). Claiming and recording have files of their own
 *	  (queue_claim.c, queue_record.c).
 *
 * Each transaction is short and never throws: an error is logged, the
 * transaction rolled back, and the caller sees "nothing" (no remotes, no
 * items), so the worker lives on and retries at its next round. Nothing is
 * held across network I/O. What a transaction returns is allocated in the
 * caller's memory context (result_*), the rest goes with the transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "directus_sync.h"
#include "wake.h"
#include "worker_txn.h"

#define RESYNC_CHUNK_ROWS 1000

/* A drained outbox larger than this is truncated. */
#define SHRINK_MIN_BYTES (4 * 1024 * 1024)

/* The caller's context of the running transaction: where results go. */
static MemoryContext result_cxt;

/*
 * Runs body in a transaction with SPI connected and a snapshot set. On error
 * logs it, rolls back and returns false.
 */
bool
run_transaction(const char *activity, TransactionBody body, void *arg)
{
	MemoryContext caller = CurrentMemoryContext;
	volatile bool ok = true;

	result_cxt = caller;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, activity);
		body(arg);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		/* autovacuum learns of the outbox's dead rows from these */
		pgstat_report_stat(false);
	}
	PG_CATCH();
	{
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(caller);
		EmitErrorReport();
		debug_query_string = NULL;
		AbortOutOfAnyTransaction();
		FlushErrorState();
		RESUME_INTERRUPTS();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/* Runs a statement; a logged error shows it (debug_query_string). */
void
spi_run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	int			rc;

	debug_query_string = sql;
	rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	if (rc < 0)
		elog(ERROR, "could not run \"%s\": %s", sql, SPI_result_code_string(rc));
	debug_query_string = NULL;
}

/*
 * Runs sql (no arguments) in a subtransaction that waits at most
 * WORKER_LOCK_TIMEOUT_MS for each lock it takes. For the statements that
 * lock the tables of Directus's schema (the app status and config): their
 * owner, Directus's role, may hold a lock on them for as long as it likes
 * (an open DROP TABLE, a long schema apply), and the worker, which delivers
 * for every remote of the database, must not wait for it. Returns false
 * when a lock was not granted in time: the statement's work is rolled back
 * and said in the server log, at most once a minute per skips (with how
 * many were skipped since); the caller tries again at a later round. Any
 * other error is thrown as usual.
 */
bool
spi_run_nowait(const char *sql, const char *what, LockSkips *skips)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		int			nestlevel = NewGUCNestLevel();

		(void) set_config_option("lock_timeout", CppAsString2(WORKER_LOCK_TIMEOUT_MS),
								 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		spi_run(sql, 0, NULL, NULL, NULL);
		AtEOXact_GUC(true, nestlevel);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			PG_RE_THROW();
		FlushErrorState();
		debug_query_string = NULL;
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		ok = false;
		skips->skipped++;
		if (skips->last_logged == 0 ||
			TimestampDifferenceExceeds(skips->last_logged, GetCurrentTimestamp(), 60 * 1000))
		{
			/* edata's message is PostgreSQL's lock timeout: no value in it */
			ereport(LOG,
					(errmsg("%s skipped: %s", what, edata->message),
					 errdetail("Skipped for a lock held by another session: %lld time(s) since the last such message.",
							   (long long) skips->skipped),
					 errhint("The worker tries again at its next rounds and goes on delivering meanwhile.")));
			skips->last_logged = GetCurrentTimestamp();
			skips->skipped = 0;
		}
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return ok;
}

/* Column col (1-based) of row row of the last result, as a string; NULL for null. */
char *
result_text(uint64 row, int col)
{
	char	   *val = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);

	return val ? MemoryContextStrdup(result_cxt, val) : NULL;
}

/* The same for an integer or boolean column; 0 for null. */
int64
result_int(uint64 row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	if (isnull)
		return 0;
	switch (SPI_gettypeid(SPI_tuptable->tupdesc, col))
	{
		case INT8OID:
			return DatumGetInt64(d);
		case INT4OID:
			return DatumGetInt32(d);
		case BOOLOID:
			return DatumGetBool(d) ? 1 : 0;
		default:
			elog(ERROR, "unexpected result type");
	}
	return 0;
}

void *
result_alloc(Size size)
{
	return MemoryContextAllocZero(result_cxt, size);
}

char *
result_strdup(const char *s)
{
	return MemoryContextStrdup(result_cxt, s);
}

List *
result_lappend(List *list, void *datum)
{
	MemoryContext old = MemoryContextSwitchTo(result_cxt);

	list = lappend(list, datum);
	MemoryContextSwitchTo(old);
	return list;
}

List *
result_lappend_int(List *list, int datum)
{
	MemoryContext old = MemoryContextSwitchTo(result_cxt);

	list = lappend_int(list, datum);
	MemoryContextSwitchTo(old);
	return list;
}

/* ----------------------------------------------------------------
 * Is the extension there, at this library's version?
 * ---------------------------------------------------------------- */

typedef struct InstalledExtension
{
	char	   *version;		/* NULL: not installed here */
	char	   *database;
	List	   *paused;			/* names of remotes paused now: see _pause_strangers */
	bool		blocked;		/* _pause_strangers waited too long for a lock */
} InstalledExtension;

static LockSkips pause_skips;

static void
read_installed_version(void *arg)
{
	InstalledExtension *ext = arg;

	spi_run("SELECT (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'directus_sync'),"
			"       pg_catalog.current_database()", 0, NULL, NULL, NULL);
	ext->version = result_text(0, 1);
	ext->database = result_text(0, 2);
	if (ext->version == NULL || strcmp(ext->version, DIRECTUS_SYNC_VERSION) != 0)
		return;
	/*
	 * Pausing writes the app config's sync_remotes (the mirror trigger),
	 * which Directus's role may hold locked: then this round ships nothing
	 * (a remote not paused yet must not be shipped to), and the next tries
	 * again.
	 */
	if (!spi_run_nowait("SELECT directus_sync._pause_strangers()",
						"pausing the remotes configured in another database", &pause_skips))
	{
		ext->blocked = true;
		return;
	}
	for (uint64 r = 0; r < SPI_processed; r++)
		ext->paused = result_lappend(ext->paused, result_text(r, 1));
}

/* Says which remotes _pause_strangers paused, once each. */
static void
report_paused(const InstalledExtension *ext)
{
	ListCell   *lc;

	foreach(lc, ext->paused)
		ereport(LOG,
				(errmsg("remote \"%s\" of database \"%s\" was configured in another database and is paused",
						(char *) lfirst(lc), ext->database),
				 errdetail("This database was restored from a dump or cloned from a template; "
						   "it does not ship to the original's remotes on its own."),
				 errhint("Run SELECT directus_sync.resume('%s') in that database to ship from it.",
						 (char *) lfirst(lc))));
}

/*
 * True when the extension is installed in this database at the version the
 * library was built for. Asked before every claim, so that an ALTER
 * EXTENSION, a DROP or a CREATE at another version is seen at once. While
 * not, the worker waits, and says why once per version it finds.
 */
bool
worker_extension_ready(void)
{
	int			slot = DatumGetInt32(MyBgworkerEntry->bgw_main_arg);
	InstalledExtension ext = {NULL, NULL, NIL, false};
	bool		ready;

	if (!run_transaction("looking for the extension", read_installed_version, &ext) ||
		ext.version == NULL)
	{
		(void) wake_version_reported(slot, NULL);
		return false;
	}
	ready = strcmp(ext.version, DIRECTUS_SYNC_VERSION) == 0;
	if (ready && ext.blocked)
		return false;
	if (ready)
	{
		(void) wake_version_reported(slot, NULL);
		report_paused(&ext);
	}
	else if (!wake_version_reported(slot, ext.version))
		ereport(LOG,
				(errmsg("extension \"directus_sync\" in database \"%s\" is at version %s, the library at %s",
						ext.database, ext.version, DIRECTUS_SYNC_VERSION),
				 errdetail("The worker ships nothing from that database until they match."),
				 errhint("Run ALTER EXTENSION directus_sync UPDATE in that database.")));
	return ready;
}

/* ----------------------------------------------------------------
 * Requests a worker left on their way
 * ---------------------------------------------------------------- */

static void
hold_unanswered(void *arg)
{
	(void) arg;
	spi_run("UPDATE directus_sync.remote_state st"
			"   SET retry_at = greatest(st.retry_at, now() + r.request_timeout_ms * interval '1 ms'),"
			"       in_flight = 0"
			"  FROM directus_sync.remote r"
			" WHERE r.id = st.remote_id AND st.in_flight > 0",
			0, NULL, NULL, NULL);
}

/*
 * A window whose outcome was never recorded (in_flight > 0: a worker died,
 * or gave its windows up after an error) may have requests on their way
 * that the remote will still apply: a create, then a delete sent now could
 * arrive first; an older update could land after a newer one. A window
 * sends its requests one after another, the last one at any time before
 * now: each such remote waits as long as a request may take, from now.
 * False if that could not be recorded: the worker sends nothing until it is.
 */
bool
worker_hold_unanswered(void)
{
	return run_transaction("waiting for requests left on their way", hold_unanswered, NULL);
}

/* ----------------------------------------------------------------
 * Resync: one chunk per job and round
 * ---------------------------------------------------------------- */

typedef struct ResyncJob
{
	int			remote_id;
	const char *collection;
} ResyncJob;

static void
list_resync_jobs(void *arg)
{
	List	  **jobs = arg;

	spi_run("SELECT j.remote_id, j.collection FROM directus_sync.resync_job j"
			"  JOIN directus_sync.remote r ON r.id = j.remote_id WHERE r.enabled ORDER BY 1, 2",
			0, NULL, NULL, NULL);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		ResyncJob  *job = result_alloc(sizeof(ResyncJob));

		job->remote_id = (int) result_int(r, 1);
		job->collection = result_text(r, 2);
		*jobs = result_lappend(*jobs, job);
	}
}

static void
resync_step(void *arg)
{
	ResyncJob  *job = arg;
	Oid			types[3] = {INT4OID, TEXTOID, INT4OID};
	Datum		values[3] = {Int32GetDatum(job->remote_id), CStringGetTextDatum(job->collection),
	Int32GetDatum(RESYNC_CHUNK_ROWS)};

	spi_run("SELECT directus_sync._resync_step($1, $2, $3)", 3, types, values, NULL);
}

/*
 * Queues the next chunk of every running resync, each chunk in a transaction
 * of its own so that progress shows and nothing is held long.
 */
void
worker_resync_steps(void)
{
	List	   *jobs = NIL;
	ListCell   *lc;

	if (!run_transaction("listing resync jobs", list_resync_jobs, &jobs))
		return;
	foreach(lc, jobs)
		(void) run_transaction("queuing a resync chunk", resync_step, lfirst(lc));
}

/* ----------------------------------------------------------------
 * Queue hygiene
 * ---------------------------------------------------------------- */

static void
shrink(void *arg)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(SHRINK_MIN_BYTES)};

	(void) arg;
	spi_run("SELECT directus_sync._shrink_outbox($1)", 1, types, values, NULL);
	spi_run("SELECT directus_sync._trim_history()", 0, NULL, NULL, NULL);
}

/*
 * Truncates the outbox if it is empty but large (see _shrink_outbox); for
 * the worker to call when it has nothing on its way.
 */
void
worker_shrink_outbox(void)
{
	(void) run_transaction("shrinking the outbox", shrink, NULL);
}
