/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher: starts the worker of each database named in
 *	  directus_sync.databases when there is work for it.
 *
 * One background worker, connected to no database (it reads pg_database,
 * a shared catalog, as PostgreSQL's logical replication launcher does).
 * For each named database it starts a worker (worker.c) when a commit there
 * queued changes (wake.c marks the slot wanted) and at the worker's next
 * due time, which the worker leaves behind when it goes: the fallback poll
 * (directus_sync.poll_interval), or sooner when a backoff ends. A worker
 * leaves its database as soon as it has been idle a moment, so that an idle
 * database can be dropped or copied with CREATE DATABASE ... TEMPLATE.
 *
 * A named database that does not exist is reported once, and looked for
 * again at every poll: creating it later needs no restart.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
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

#include "directus_sync.h"
#include "launcher.h"
#include "wake.h"

/* What the launcher knows of one named database. */
typedef struct LaunchSlot
{
	char		dbname[NAMEDATALEN];
	BackgroundWorkerHandle *handle; /* of its worker, while one may run */
	bool		reported_missing;
} LaunchSlot;

static LaunchSlot launch_slots[MAX_WORKER_DATABASES];
static int	nslots = 0;

/* The named databases, each once, in order; FATAL when the list is wrong. */
static List *
configured_databases(void)
{
	char	   *copy = pstrdup(databases_setting ? databases_setting : "");
	List	   *names = NIL;
	List	   *unique = NIL;
	ListCell   *lc;

	if (!SplitIdentifierString(copy, ',', &names))
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in parameter \"%s\"", "directus_sync.databases")));
	foreach(lc, names)
	{
		/* cut to NAMEDATALEN - 1 bytes, as CREATE DATABASE cut the name */
		char	   *name = lfirst(lc);

		/* one worker per database: two would send the same changes */
		if (!list_member(unique, makeString(name)))
			unique = lappend(unique, makeString(name));
	}
	if (list_length(unique) > MAX_WORKER_DATABASES)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("directus_sync.databases names %d databases, at most %d are supported",
						list_length(unique), MAX_WORKER_DATABASES)));
	return unique;
}

/* At server start (postmaster): the launcher, if any database is named. */
void
launcher_register(void)
{
	BackgroundWorker worker;

	if (configured_databases() == NIL)
		return;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "directus_sync");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "directus_sync_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "directus_sync launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "directus_sync launcher");
	RegisterBackgroundWorker(&worker);
}

static bool
worker_running(LaunchSlot *ls)
{
	pid_t		pid;

	if (ls->handle == NULL)
		return false;
	switch (GetBackgroundWorkerPid(ls->handle, &pid))
	{
		case BGWH_STARTED:
		case BGWH_NOT_YET_STARTED:
			return true;
		default:
			pfree(ls->handle);
			ls->handle = NULL;
			return false;
	}
}

/*
 * The oid of a database by name, read with a plain scan of pg_database: the
 * launcher is connected to no database, and an index scan would need its
 * pg_class (PostgreSQL's logical replication launcher reads
 * pg_subscription the same way).
 */
static Oid
database_oid(const char *name)
{
	Relation	rel = table_open(DatabaseRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
	HeapTuple	tup;
	Oid			dboid = InvalidOid;

	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (strcmp(NameStr(db->datname), name) == 0)
		{
			dboid = db->oid;
			break;
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return dboid;
}

/* The database's oid, InvalidOid when it does not exist (said once). */
static Oid
find_database(int slot)
{
	LaunchSlot *ls = &launch_slots[slot];
	Oid			dboid;

	StartTransactionCommand();
	dboid = database_oid(ls->dbname);
	CommitTransactionCommand();
	wake_set_database(slot, dboid);
	if (!OidIsValid(dboid) && !ls->reported_missing)
		ereport(LOG,
				(errmsg("database \"%s\" named in directus_sync.databases does not exist", ls->dbname),
				 errdetail("Its replication worker starts once it is created.")));
	ls->reported_missing = !OidIsValid(dboid);
	return dboid;
}

static void
start_worker(int slot)
{
	LaunchSlot *ls = &launch_slots[slot];
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "directus_sync");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "directus_sync_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "directus_sync worker for database %s", ls->dbname);
	snprintf(worker.bgw_type, BGW_MAXLEN, "directus_sync worker");
	strlcpy(worker.bgw_extra, ls->dbname, BGW_EXTRALEN);
	worker.bgw_main_arg = Int32GetDatum(slot);
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &ls->handle))
	{
		ls->handle = NULL;
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start the directus_sync worker for database \"%s\"", ls->dbname),
				 errhint("Raise max_worker_processes.")));
	}
}

/*
 * Starts the slot's worker when it is due or wanted. Returns when the
 * launcher must look at the slot again (ms).
 */
static long
launch_if_due(int slot, TimestampTz now, bool recheck_missing)
{
	TimestampTz due = wake_due(slot);
	TimestampTz latest = TimestampTzPlusMilliseconds(now, poll_interval_setting);
	bool		wanted;

	/*
	 * A shorter poll_interval applies to the visits already scheduled too,
	 * whoever scheduled them with the old one (a worker leaving as the
	 * reload came): an hour's wait would otherwise stand.
	 */
	if (due > latest)
		wake_set_due(slot, due = latest);

	/* a worker on its way out leaves the wanted mark for the next one */
	if (worker_running(&launch_slots[slot]))
		return poll_interval_setting;
	wanted = wake_take_wanted(slot) || (recheck_missing && launch_slots[slot].reported_missing);
	if (!wanted && now < due)
		return Max(TimestampDifferenceMilliseconds(now, due), 1);
	/* until the worker says otherwise when it leaves: the next poll */
	wake_set_due(slot, TimestampTzPlusMilliseconds(now, poll_interval_setting));
	if (OidIsValid(find_database(slot)))
		start_worker(slot);
	return poll_interval_setting;
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

void
directus_sync_launcher_main(Datum arg)
{
	ListCell   *lc;

	(void) arg;
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	foreach(lc, configured_databases())
		strlcpy(launch_slots[nslots++].dbname, strVal(lfirst(lc)), NAMEDATALEN);
	wake_attach_launcher();
	ereport(LOG, (errmsg("directus_sync launcher started for %d databases", nslots)));

	for (;;)
	{
		long		sleep_ms = poll_interval_setting;
		TimestampTz now;
		bool		recheck_missing;

		process_interrupts();
		now = GetCurrentTimestamp();
		recheck_missing = wake_take_recheck();
		for (int i = 0; i < nslots; i++)
			sleep_ms = Min(sleep_ms, launch_if_due(i, now, recheck_missing));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
