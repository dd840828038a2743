/*-------------------------------------------------------------------------
 *
 * worker_txn.h
 *	  The worker's short transactions (worker_txn.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_WORKER_TXN_H
#define DIRECTUS_SYNC_WORKER_TXN_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

/* The body of a transaction: runs with SPI connected and a snapshot set. */
typedef void (*TransactionBody) (void *arg);

extern bool run_transaction(const char *activity, TransactionBody body, void *arg);

/* For bodies: queries, and results that outlive the transaction. */
extern void spi_run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls);
/*
 * How long a statement of spi_run_nowait waits for a lock (ms), and what it
 * remembers to say its skips at most once a minute.
 */
#define WORKER_LOCK_TIMEOUT_MS 100
typedef struct LockSkips
{
	TimestampTz last_logged;	/* 0: never */
	int64		skipped;		/* since last_logged */
} LockSkips;
extern bool spi_run_nowait(const char *sql, const char *what, LockSkips *skips);
extern char *result_text(uint64 row, int col);
extern int64 result_int(uint64 row, int col);
extern void *result_alloc(Size size);
extern char *result_strdup(const char *s);
extern List *result_lappend(List *list, void *datum);
extern List *result_lappend_int(List *list, int datum);

/* Null flags of spi_run's nulls argument. */
#define SPI_ARG_NULL 'n'
#define SPI_ARG_NOT_NULL ' '

extern bool worker_extension_ready(void);
extern bool worker_hold_unanswered(void);
extern void worker_resync_steps(void);
extern void worker_shrink_outbox(void);

#endif							/* DIRECTUS_SYNC_WORKER_TXN_H */
