/*-------------------------------------------------------------------------
 *
 * directus_sync.c
 *	  Module entry point: the settings, and what loading the library starts.
 *
 * The library can be loaded two ways: on demand, the first time a backend
 * calls one of its C functions or fires its triggers, or at server start
 * through shared_preload_libraries. Only the latter reserves shared memory
 * and starts the replication workers; capture works either way, and the
 * queued changes wait for a worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/inval.h"

#include "capture.h"
#include "clock.h"
#include "directus_sync.h"
#include "loop_guard.h"
#include "queue_write.h"
#include "sync_signature.h"
#include "tombstone.h"
#include "wake.h"
#include "launcher.h"

PG_MODULE_MAGIC;

bool		keep_map_on_drop_setting = true;
char	   *databases_setting = NULL;
int			poll_interval_setting = 5000;
int			retry_min_delay_setting = 1000;
int			retry_max_delay_setting = 300000;
int			notify_interval_setting = 900;
char	   *http_proxy_setting = NULL;
int			max_item_attempts_setting = 10;
int			max_clock_skew_setting = 5000;
int			clock_test_offset_setting = 0;
static int	conflict_retention_setting = 30 * 24 * 3600;
static int	tombstone_retention_setting = 7 * 24 * 3600;
int			app_status_interval_setting = 5000;
static int	app_status_sample_interval_setting = 60;
static int	app_status_history_setting = 7 * 24 * 3600;
static bool app_status_writer_setting = false;
static bool app_config_applying_setting = false;
static bool app_config_mirroring_setting = false;
static int	app_config_remote_id_setting = 0;
static char *app_config_refused_setting = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

extern PGDLLEXPORT void _PG_init(void);

/*
 * One relcache callback for the caches of the capture trigger, the outbox
 * writer and the loop guard: PostgreSQL has only a few slots for them.
 */
static void
invalidate_caches(Datum arg, Oid relid)
{
	(void) arg;
	capture_invalidate(relid);
	queue_write_invalidate(relid);
	loop_guard_invalidate(relid);
}

static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	wake_request_shmem();
	clock_request_shmem();
}

static void
shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	wake_startup_shmem();
	clock_startup_shmem();
}

/* The settings of the worker's deliveries: retries, notifications, proxy. */
static void
define_delivery_settings(void)
{
	DefineCustomIntVariable("directus_sync.retry_min_delay",
							"Delay before the first retry of a failed delivery.",
							"Each further failure doubles it, up to directus_sync.retry_max_delay, with random jitter.",
							&retry_min_delay_setting,
							1000, 1, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("directus_sync.retry_max_delay",
							"Longest delay between retries of a failed delivery.",
							NULL,
							&retry_max_delay_setting,
							300000, 1, 24 * 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("directus_sync.notify_interval",
							"Least time between two failure notifications about one remote.",
							"Failures in between are counted and reported with the next notification.",
							&notify_interval_setting,
							900, 0, 7 * 24 * 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("directus_sync.max_item_attempts",
							"Failed attempts after which an item that fails alone becomes a dead letter.",
							"An item refused with a 5xx backs off alone and is retried; its last allowed attempt that fails makes it a dead letter.",
							&max_item_attempts_setting,
							10, 1, 1000000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("directus_sync.http_proxy",
							   "Proxy through which the worker reaches the remotes.",
							   "Empty: none, whatever http_proxy, https_proxy or all_proxy in the server's environment say, "
							   "so that no proxy the DBA did not choose sees a token. Else a URL such as http://proxy:3128.",
							   &http_proxy_setting,
							   "",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);
}

/* The settings of the hybrid logical clock (clock.c). */
static void
define_clock_settings(void)
{
	DefineCustomIntVariable("directus_sync.max_clock_skew",
							"How far ahead of this server's clock another instance's clock may be.",
							"A change whose clock is further ahead is held back and tried again later, never taken with "
							"a clock moved back: that would make instances disagree on which edit came last.",
							&max_clock_skew_setting,
							5000, 0, 24 * 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("directus_sync.conflict_retention",
							"How long the conflict log keeps a row.",
							"The worker removes older rows when it is idle. 0 keeps every row.",
							&conflict_retention_setting,
							30 * 24 * 3600, 0, PG_INT32_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("directus_sync.tombstone_retention",
							"Least time a deleted item's tombstone is kept.",
							"Older tombstones are removed once every enabled remote has had a delivery since, and nothing "
							"of the item is queued; until then a change older than the delete that arrives late is refused.",
							&tombstone_retention_setting,
							7 * 24 * 3600, 3600, PG_INT32_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("directus_sync.test_clock_offset",
							"Shifts this server's clock, for tests of clock skew only.",
							NULL,
							&clock_test_offset_setting,
							0, -24 * 3600 * 1000, 24 * 3600 * 1000,
							PGC_SUSET,
							GUC_UNIT_MS | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);
}

/* The settings of the status shown in the Directus app (enable_app_status). */
static void
define_app_status_settings(void)
{
	DefineCustomIntVariable("directus_sync.app_status_interval",
							"How often the worker refreshes the status tables of the Directus app.",
							"Also at once when it goes idle after deliveries. Only with enable_app_status.",
							&app_status_interval_setting,
							5000, 1000, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("directus_sync.app_status_sample_interval",
							"How often a sample of each remote's figures goes to sync_remotes_history.",
							NULL,
							&app_status_sample_interval_setting,
							60, 1, 24 * 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("directus_sync.app_status_history",
							"How long sync_remotes_history keeps a sample.",
							"0 keeps no history.",
							&app_status_history_setting,
							7 * 24 * 3600, 0, PG_INT32_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	/*
	 * Set only by directus_sync._app_status_refresh (a SET clause): the
	 * status tables' trigger refuses every other write.
	 */
	DefineCustomBoolVariable("directus_sync.app_status_writer",
							 "Internal: the status tables of the Directus app are being refreshed.",
							 NULL,
							 &app_status_writer_setting,
							 false,
							 PGC_SUSET,
							 GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL | GUC_NO_RESET_ALL | GUC_DISALLOW_IN_FILE,
							 NULL, NULL, NULL);

	/*
	 * Set only by the triggers of the app config (SET clauses): a write of
	 * the app's tables being applied through the SQL functions, or a change
	 * made by them being copied to the app's tables; each side's trigger does
	 * nothing while the other is at work (no loop). SUSET: Directus's role
	 * cannot set them to write the app's tables past the functions.
	 */
	DefineCustomBoolVariable("directus_sync.app_config_applying",
							 "Internal: a write of the Directus app's configuration tables is being applied.",
							 NULL,
							 &app_config_applying_setting,
							 false,
							 PGC_SUSET,
							 GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL | GUC_NO_RESET_ALL | GUC_DISALLOW_IN_FILE,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("directus_sync.app_config_mirroring",
							 "Internal: the Directus app's configuration tables are being brought in step.",
							 NULL,
							 &app_config_mirroring_setting,
							 false,
							 PGC_SUSET,
							 GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL | GUC_NO_RESET_ALL | GUC_DISALLOW_IN_FILE,
							 NULL, NULL, NULL);

	/*
	 * The hand-over from the BEFORE to the AFTER row trigger of the app's
	 * sync_remotes (the SQL functions run in the AFTER trigger, so a row
	 * that is not written changes nothing). app_config_remote_id: the id the
	 * BEFORE trigger gave the new row, for add_remote to use (the app reads
	 * it back with RETURNING). The tokens the BEFORE trigger takes out of
	 * the rows wait in token_calls.c, not in a setting.
	 */
	DefineCustomIntVariable("directus_sync.app_config_remote_id",
							"Internal: the id add_remote gives the remote it adds from the Directus app (0: the next one).",
							NULL,
							&app_config_remote_id_setting,
							0, 0, PG_INT32_MAX,
							PGC_SUSET,
							GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL | GUC_NO_RESET_ALL | GUC_DISALLOW_IN_FILE,
							NULL, NULL, NULL);

	/*
	 * The refusal of a change of the app's sync_remotes, from the row's
	 * BEFORE trigger _app_config_remote_check, which judges it as the
	 * writer (not SECURITY DEFINER), to the next, _app_config_remote_prepare,
	 * which raises it with the statement (and the token it may hold) kept
	 * out of the server log. USERSET: the first runs as Directus's role. It
	 * writes it for every row before the second reads it, so a value the
	 * writer set itself counts for nothing.
	 */
	DefineCustomStringVariable("directus_sync.app_config_refused",
							   "Internal: why a change of the Directus app's sync_remotes is refused (empty: it is not).",
							   NULL,
							   &app_config_refused_setting,
							   "",
							   PGC_USERSET,
							   GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL | GUC_NO_RESET_ALL | GUC_DISALLOW_IN_FILE,
							   NULL, NULL, NULL);
}

static void
define_settings(void)
{
	DefineCustomBoolVariable("directus_sync.keep_map_on_drop",
							 "Keeps the SyncID map table and its rows when the extension is dropped.",
							 "Turn off only to let DROP EXTENSION drop the mappings, as pg_restore --clean must.",
							 &keep_map_on_drop_setting,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	/*
	 * A server-start setting can only be defined while preloading; loaded
	 * later (no worker then anyway) the library goes without it.
	 */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomStringVariable("directus_sync.databases",
								   "Databases in which a replication worker runs, separated by commas.",
								   "One worker per database; it waits until CREATE EXTENSION directus_sync is run there.",
								   &databases_setting,
								   "postgres",
								   PGC_POSTMASTER,
								   GUC_LIST_INPUT,
								   NULL, NULL, NULL);

	DefineCustomIntVariable("directus_sync.poll_interval",
							"How often the worker looks for work when nothing wakes it.",
							"Commits wake it at once; this catches work from prepared transactions and missed wake-ups.",
							&poll_interval_setting,
							5000, 100, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	define_delivery_settings();
	define_clock_settings();
	define_app_status_settings();

	/*
	 * Settings under directus_sync.* belong to this module: a misspelled one
	 * in postgresql.conf or SET is reported instead of silently ignored.
	 */
	MarkGUCPrefixReserved("directus_sync");
}

void
_PG_init(void)
{
	define_settings();
	CacheRegisterRelcacheCallback(invalidate_caches, (Datum) 0);
	loop_guard_register_callbacks();
	tombstone_register_callbacks();
	sync_signature_init();
	wake_register_callbacks();

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
	launcher_register();
}
