/*-------------------------------------------------------------------------
 *
 * wake.c
 *	  Waking a database's worker when a transaction that queued changes
 *	  commits.
 *
 * A small shared memory area holds, per worker slot, the database the
 * worker serves and its latch. A backend that queued changes for a remote
 * that is not paused sets that latch at commit: never before commit (the
 * worker would find nothing yet), and once per transaction, not per row.
 * A prepared transaction wakes nobody; the worker's fallback poll
 * (directus_sync.poll_interval) finds its changes after COMMIT PREPARED.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "directus_sync.h"
#include "wake.h"

DIRECTUS_SYNC_FUNCTION(directus_sync_wake_at_commit);
DIRECTUS_SYNC_FUNCTION(directus_sync_wake);

typedef struct WorkerSlot
{
	Oid			dboid;			/* InvalidOid until the worker has connected */
	Latch	   *latch;
} WorkerSlot;

typedef struct WakeShared
{
	slock_t		mutex;
	WorkerSlot	slots[MAX_WORKER_DATABASES];
} WakeShared;

static WakeShared *shared = NULL;
static int	my_slot = -1;		/* in a worker: the slot it publishes */
static bool wake_pending = false;	/* in a backend: set the latch at commit */

void
wake_request_shmem(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(WakeShared)));
}

void
wake_startup_shmem(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("directus_sync", sizeof(WakeShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(WakeShared));
		SpinLockInit(&shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
publish_slot(int slot, Oid dboid, Latch *latch)
{
	SpinLockAcquire(&shared->mutex);
	shared->slots[slot].dboid = dboid;
	shared->slots[slot].latch = latch;
	SpinLockRelease(&shared->mutex);
}

static void
detach_worker(int code, Datum arg)
{
	(void) code;
	(void) arg;
	if (shared != NULL && my_slot >= 0)
		publish_slot(my_slot, InvalidOid, NULL);
}

/* For a worker connected to its database: backends may wake it from now on. */
void
wake_attach_worker(int slot)
{
	my_slot = slot;
	before_shmem_exit(detach_worker, (Datum) 0);
	publish_slot(slot, MyDatabaseId, MyLatch);
}

/*
 * Sets the latch of the worker of a database; false when there is none (the
 * library was not preloaded, or the database has no worker).
 */
bool
wake_worker(Oid dboid)
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

/* Wakes this database's worker when the current transaction commits. */
void
wake_at_commit(void)
{
	wake_pending = true;
}

static void
at_transaction_end(XactEvent event, void *arg)
{
	(void) arg;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_pending)
				(void) wake_worker(MyDatabaseId);
			wake_pending = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wake_pending = false;
			break;
		default:
			break;
	}
}

void
wake_register_callbacks(void)
{
	RegisterXactCallback(at_transaction_end, NULL);
}

Datum
directus_sync_wake_at_commit(PG_FUNCTION_ARGS)
{
	(void) fcinfo;
	wake_at_commit();
	PG_RETURN_VOID();
}

Datum
directus_sync_wake(PG_FUNCTION_ARGS)
{
	(void) fcinfo;
	PG_RETURN_BOOL(wake_worker(MyDatabaseId));
}
