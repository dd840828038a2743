/*-------------------------------------------------------------------------
 *
 * directus_sync.h
 *	  Settings and the types every part of the replication path shares.
 *
 * The data path, file by file (CONTRIBUTING.md has the full map):
 *
 *	 capture.c		 the AFTER ROW trigger on subscribed tables: payloads
 *	 queue_write.c	 writes outbox rows straight into heap and indexes
 *	 loop_guard.c	 the trigger on directus_activity: a remote's own change
 *					 is not shipped back to it; conflicts are resolved
 *	 wake.c			 shared memory with each worker's latch, set at commit
 *	 worker.c		 the background worker: registration and main loop
 *	 worker_txn.c	 the worker's short transactions and SPI helpers
 *	 queue_claim.c	 a window of one remote's queue, coalesced into items
 *	 queue_record.c	 the outcome of a window, back into the database
 *	 directus.c		 the Directus REST protocol (no database access)
 *	 directus_apply.c idempotent apply: probes, existing and missing items
 *	 directus_wire.c the REST API on the wire: URLs, bodies, answers
 *	 http.c			 libcurl multi transport
 *	 hold_back.c	 changes whose clocks the remote would refuse wait
 *
 * Beside them: directus_sync.c (settings, library load), map_guard.c
 * (DROP EXTENSION keeps the SyncID map), keyhash.c (string-keyed hashes).
 *
 * Wording: a *window* is what the worker takes of one remote's queue at a
 * time; its queued rows are *coalesced* into one *item* per collection and
 * key, carrying the net change; the protocol turns a window into *steps*,
 * each one HTTP request; a *probe* is a GET that asks which keys a remote
 * has.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_H
#define DIRECTUS_SYNC_H

#include "fmgr.h"
#include "nodes/pg_list.h"

#include "http.h"

/* The extension version this library was built for (from the control file). */
#ifndef DIRECTUS_SYNC_VERSION
#error "DIRECTUS_SYNC_VERSION must be defined by the Makefile"
#endif

/*
 * PG_FUNCTION_INFO_V1 for a library built with hidden symbols: before
 * PostgreSQL 16 that macro exports the info function but not the function.
 */
#define DIRECTUS_SYNC_FUNCTION(funcname) \
	extern PGDLLEXPORT Datum funcname(PG_FUNCTION_ARGS); \
	PG_FUNCTION_INFO_V1(funcname)

/* Settings (see directus_sync.c) */
extern bool keep_map_on_drop_setting;
extern char *databases_setting;
extern int	poll_interval_setting;
extern int	retry_min_delay_setting;
extern int	retry_max_delay_setting;
extern int	notify_interval_setting;
extern int	max_item_attempts_setting;
extern char *http_proxy_setting;
extern int	max_clock_skew_setting;
extern int	clock_test_offset_setting;
extern int	app_status_interval_setting;

#define MAX_WORKER_DATABASES 32

/*
 * A change as the outbox's op column stores it, and the net change of an
 * item after coalescing. SYNC_OP_NONE never reaches the outbox: it is an
 * item whose create and delete cancelled out, with nothing left to ship.
 */
typedef enum SyncOp
{
	SYNC_OP_NONE = 0,
	SYNC_OP_CREATE = 'c',
	SYNC_OP_UPDATE = 'u',
	SYNC_OP_DELETE = 'd'
} SyncOp;

/* What the worker knows of a subscription and of a remote. */
typedef struct SyncSubscription
{
	char	   *collection;
	char	   *key_column;
	bool		key_is_number;
	bool		singleton;
} SyncSubscription;

typedef struct SyncRemote
{
	int			id;
	char	   *name;
	char	   *url;
	HttpOptions http;			/* token, timeouts, TLS */
	int			batch_max_items;
	int			batch_max_bytes;
	List	   *subscriptions;	/* of SyncSubscription */
	bool		has_clock_offset;	/* its clock is known (remote_state.clock_offset_ms): */
	int64		clock_offset_ms;	/* its clock minus ours, as last estimated */
	/* holding back (hold_back.c) */
	bool		hold_probe_due; /* a held change may go as a probe of the estimate */
	bool		date_refuted;	/* it took a change its Date said it would refuse: */
	int64		date_refuted_below_ms;	/* a clock_offset_ms below this is wrong */
	int			consecutive_failures;	/* windows in a row that ended in its
										 * failure (remote_state) */
} SyncRemote;

typedef enum ItemOutcome
{
	ITEM_PENDING,				/* not settled: stays queued as it is */
	ITEM_DELIVERED,
	ITEM_DEAD,					/* permanent failure: to the dead letters */
	ITEM_RETRY,					/* this item alone backs off */
	ITEM_HELD					/* not sent: its clocks are too far ahead of
								 * the remote's (hold_back.c); stays queued as
								 * it is, no attempt counted */
} ItemOutcome;

/* The net change of one item over the queued rows it covers. */
typedef struct SyncItem
{
	SyncSubscription *sub;
	char	   *key;			/* text form */
	SyncOp		op;
	char	   *payload;		/* JSON object text; NULL for a delete */
	int64	   *ids;			/* of the queued rows it covers, in queue order */
	int			nids;
	int			maxids;
	bool		maybe_sent;		/* its create may have reached the remote already */
	int			attempts;		/* failed attempts before this window (outbox.attempts) */
	int			turns;			/* times this window asked again whether the remote has it */
	bool		attempted;		/* sent without a definite answer */
	int64		hold_ms;		/* ITEM_HELD: how long until the remote takes it, about */
	bool		hold_probe;		/* sent though the estimate says the remote refuses it
								 * (hold_back.c): whether it does tells */
	ItemOutcome outcome;
	int			http_status;
	char	   *error_code;
	char	   *error_message;
} SyncItem;

#endif							/* DIRECTUS_SYNC_H */
