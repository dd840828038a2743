/*-------------------------------------------------------------------------
 *
 * directus_sync.h
 *	  Settings and interfaces shared between the files of the module.
 *
 * src/directus_sync.c  settings, library load
 * src/map_guard.c      DROP EXTENSION keeps the SyncID map
 * src/capture.c        capture and loop-guard triggers, wake at commit
 * src/worker.c         the background worker: shared memory, main loop
 * src/outbox.c         the worker's transactions: read, coalesce, record
 * src/http.c           libcurl multi transport
 * src/directus.c       the Directus REST protocol: requests and answers
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_H
#define DIRECTUS_SYNC_H

#include "lib/stringinfo.h"
#include "utils/hsearch.h"
#include "utils/palloc.h"
#include "nodes/pg_list.h"

/* Settings (see directus_sync.c) */
extern bool keep_map_on_drop_setting;
extern char *databases_setting;
extern int	poll_interval_setting;
extern int	retry_min_delay_setting;
extern int	retry_max_delay_setting;
extern int	notify_interval_setting;

#define MAX_WORKER_DATABASES 32

/* keyhash.c: string-keyed hash tables; an entry starts with its char *key */
typedef struct KeyHash
{
	HTAB	   *table;
	MemoryContext cxt;
	Size		entrysize;
} KeyHash;

extern KeyHash *keyhash_create(const char *name, long nelem, Size entrysize, MemoryContext cxt);
extern void *keyhash_enter(KeyHash *kh, const char *key, bool *found);
extern void *keyhash_find(KeyHash *kh, const char *key);
extern char *item_hash_key(const char *collection, const char *key);

/* capture.c */
extern void capture_register_callbacks(void);

/* worker.c */
extern void worker_register_all(void);
extern void worker_request_shmem(void);
extern void worker_startup_shmem(void);
extern bool worker_wake(Oid dboid);
extern PGDLLEXPORT void directus_sync_worker_main(Datum arg);

/*
 * What the worker knows of a remote, of a subscription, and of an item: the
 * net change of one item over the queued rows it covers.
 */
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
	char	   *token;			/* never logged */
	int			connect_timeout_ms;
	int			request_timeout_ms;
	int			batch_max_items;
	int			batch_max_bytes;
	bool		verify_tls;
	List	   *subscriptions;	/* of SyncSubscription */
} SyncRemote;

typedef enum ItemOutcome
{
	ITEM_PENDING,				/* not settled: stays queued as it is */
	ITEM_DELIVERED,
	ITEM_DEAD,					/* permanent failure: to the dead letters */
	ITEM_RETRY					/* this item alone backs off */
} ItemOutcome;

typedef struct SyncItem
{
	SyncSubscription *sub;
	char	   *key;			/* text form */
	char		op;				/* 'c', 'u' or 'd': the net change */
	char	   *payload;		/* JSON object text; NULL for a delete */
	int64	   *ids;			/* of the queued rows it covers, in queue order */
	int			nids;
	int			maxids;
	bool		maybe_sent;		/* its create may have reached the remote already */
	bool		attempted;		/* sent without a definite answer */
	ItemOutcome outcome;
	int			http_status;
	char	   *error_code;
	char	   *error_message;
} SyncItem;

/* outbox.c: each runs a transaction of its own */
extern bool outbox_extension_ready(void);
extern List *outbox_ready_remotes(List *busy_ids, long *next_retry_ms);
extern SyncRemote *outbox_claim(int remote_id, List **items);
extern void outbox_record(SyncRemote *remote, List *items,
						  const char *remote_error, int retry_after_ms);
extern List *outbox_current_rows(SyncRemote *remote, SyncSubscription *sub, List *keys);
extern void outbox_resync_steps(void);
extern void outbox_shrink_if_empty(void);

/* http.c */
typedef struct HttpRequest
{
	const char *method;
	char	   *url;
	StringInfoData body;
	/* filled in when done */
	bool		done;
	long		status;			/* 0 when no HTTP answer came */
	char		transport_error[256];
	bool		timed_out;		/* no answer in time: the remote may still apply it */
	StringInfoData response;
	int			retry_after_ms; /* from a Retry-After header, else -1 */
	void	   *handle;			/* CURL * */
	void	   *headers;		/* struct curl_slist * */
	void	   *owner;
} HttpRequest;

extern void http_init(void);
extern void http_start(HttpRequest *req, const SyncRemote *remote);
extern HttpRequest *http_wait(long timeout_ms);
extern int	http_in_flight(void);
extern void http_cleanup(HttpRequest *req);

/* directus.c */
typedef struct DirectusWindow DirectusWindow;

extern DirectusWindow *directus_window_begin(SyncRemote *remote, List *items);
extern HttpRequest *directus_window_next(DirectusWindow *win);
extern void directus_window_answer(DirectusWindow *win, HttpRequest *req);
extern bool directus_window_done(DirectusWindow *win);
extern void directus_window_finish(DirectusWindow *win);
extern SyncRemote *directus_window_remote(DirectusWindow *win);

#endif							/* DIRECTUS_SYNC_H */
