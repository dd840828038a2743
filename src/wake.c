/*-------------------------------------------------------------------------
 *
 * wake.c
 *	  The shared memory that ties backends, the launcher and the
 *	  per-database workers together: who is running, and who is woken.
 *
 * A slot per database named in directus_sync.databases. The launcher
 * fills in the database's oid once it exists; a worker, while it runs,
 * publishes its latch there. A backend that queued changes for a remote
 * that is not paused wakes the worker of its database at commit: never
 * before commit (the worker would find nothing yet), and once per
 * transaction, not per row. When no worker runs there (it leaves its
 * database when idle, so that DROP DATABASE and CREATE DATABASE ...
 * TEMPLATE work), the backend marks the slot as wanted and wakes the
 * launcher, which starts one.
 *
 * Backends set latches while holding the lock shared; a worker leaves by
 * taking it exclusive. So once a worker has left, no backend can still be
 * about to set its latch: a change is either seen by the worker (its latch
 * is set) or makes the slot wanted.
 *
 * A prepared transaction wakes nobody; the fallback poll
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

#include "directus_sync.h"
#include "wake.h"

DIRECTUS_SYNC_FUNCTION(directus_sync_wake_at_commit);
DIRECTUS_SYNC_FUNCTION(directus_sync_wake);

typedef struct WorkerSlot
{
	Oid			dboid;			/* InvalidOid until the launcher found the database */
	Latch	   *latch;			/* of the worker that runs there; NULL: none */
	bool		wanted;			/* a commit queued work while no worker ran */
	TimestampTz due;			/* when the worker wants to run again; 0: at once */
	char		reported_version[NAMEDATALEN];	/* the version mismatch last logged */
} WorkerSlot;

typedef struct WakeShared
{
	LWLock	   *lock;
	Latch	   *launcher;
	bool		recheck_missing;	/* a commit in a database no slot knows yet */
	WorkerSlot	slots[MAX_WORKER_DATABASES];
} WakeShared;

static WakeShared *shared = NULL;
static int	my_slot = -1;		/* in a worker: its slot */
static bool wake_pending = false;	/* in a backend: wake at commit */

/* ----------------------------------------------------------------
 * Shared memory
 * ---------------------------------------------------------------- */

void
wake_request_shmem(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(WakeShared)));
	RequestNamedLWLockTranche("directus_sync", 1);
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
		shared->lock = &(GetNamedLWLockTranche("directus_sync"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* ----------------------------------------------------------------
 * Backends
 * ---------------------------------------------------------------- */

/*
 * Wakes the worker of a database, or has the launcher start one; false
 * when nobody would act (the library was not preloaded, or the database
 * has no slot).
 */
bool
wake_worker(Oid dboid)
{
	bool		acted = false;
	bool		need_launcher = false;

	if (shared == NULL)
		return false;
	LWLockAcquire(shared->lock, LW_SHARED);
	for (int i = 0; i < MAX_WORKER_DATABASES; i++)
	{
		WorkerSlot *slot = &shared->slots[i];

		if (slot->dboid != dboid || dboid == InvalidOid)
			continue;
		if (slot->latch != NULL)
			SetLatch(slot->latch);
		else
		{
			slot->wanted = true;	/* a plain store: every writer stores true */
			need_launcher = true;
		}
		acted = true;
	}
	/* maybe a named database created since the launcher last looked */
	if (!acted && shared->launcher != NULL)
	{
		shared->recheck_missing = true;
		need_launcher = true;
	}
	if (need_launcher && shared->launcher != NULL)
		SetLatch(shared->launcher);
	LWLockRelease(shared->lock);
	return acted;
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

/* ----------------------------------------------------------------
 * The launcher
 * ---------------------------------------------------------------- */

static void
detach_launcher(int code, Datum arg)
{
	(void) code;
	(void) arg;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->launcher = NULL;
	LWLockRelease(shared->lock);
}

void
wake_attach_launcher(void)
{
	before_shmem_exit(detach_launcher, (Datum) 0);
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->launcher = MyLatch;
	LWLockRelease(shared->lock);
}

/* The database a slot serves, once found (InvalidOid: it does not exist). */
void
wake_set_database(int slot, Oid dboid)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->slots[slot].dboid = dboid;
	LWLockRelease(shared->lock);
}

/* Whether a commit wanted the slot's worker since last asked; clears it. */
bool
wake_take_wanted(int slot)
{
	bool		wanted;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	wanted = shared->slots[slot].wanted;
	shared->slots[slot].wanted = false;
	LWLockRelease(shared->lock);
	return wanted;
}

/* Whether a commit came from a database no slot knew; clears it. */
bool
wake_take_recheck(void)
{
	bool		recheck;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	recheck = shared->recheck_missing;
	shared->recheck_missing = false;
	LWLockRelease(shared->lock);
	return recheck;
}

TimestampTz
wake_due(int slot)
{
	TimestampTz due;

	LWLockAcquire(shared->lock, LW_SHARED);
	due = shared->slots[slot].due;
	LWLockRelease(shared->lock);
	return due;
}

void
wake_set_due(int slot, TimestampTz due)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->slots[slot].due = due;
	LWLockRelease(shared->lock);
}

/* ----------------------------------------------------------------
 * A worker
 * ---------------------------------------------------------------- */

static void
detach_at_exit(int code, Datum arg)
{
	(void) code;
	(void) arg;
	if (my_slot >= 0)
	{
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		if (shared->slots[my_slot].latch == MyLatch)
			shared->slots[my_slot].latch = NULL;
		LWLockRelease(shared->lock);
	}
}

/* For a worker connected to its database: backends wake it from now on. */
void
wake_attach_worker(int slot)
{
	if (my_slot < 0)
		before_shmem_exit(detach_at_exit, (Datum) 0);
	my_slot = slot;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->slots[slot].latch = MyLatch;
	shared->slots[slot].wanted = false;
	LWLockRelease(shared->lock);
}

/*
 * For an idle worker about to leave: unpublishes its latch, unless a commit
 * wanted it meanwhile (then it stays, and false is returned). Once this
 * returned true, every later commit makes the slot wanted instead; one
 * before it may have set the latch, which the caller must look at.
 */
bool
wake_detach_worker(int slot)
{
	bool		left;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	left = !shared->slots[slot].wanted;
	if (left)
		shared->slots[slot].latch = NULL;
	shared->slots[slot].wanted = false;
	LWLockRelease(shared->lock);
	return left;
}

/*
 * Whether the worker of this slot already said that the extension is at
 * this other version (NULL: it is at ours again; forget). Workers come and
 * go: the log says it once per version, not once per worker.
 */
bool
wake_version_reported(int slot, const char *version)
{
	bool		reported;
	WorkerSlot *s = &shared->slots[slot];

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (version == NULL)
	{
		s->reported_version[0] = '\0';
		reported = true;
	}
	else
	{
		reported = strcmp(s->reported_version, version) == 0;
		strlcpy(s->reported_version, version, NAMEDATALEN);
	}
	LWLockRelease(shared->lock);
	return reported;
}
