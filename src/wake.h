/*-------------------------------------------------------------------------
 *
 * wake.h
 *	  Waking a database's worker at commit (wake.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_WAKE_H
#define DIRECTUS_SYNC_WAKE_H

extern void wake_register_callbacks(void);
extern void wake_request_shmem(void);
extern void wake_startup_shmem(void);
extern void wake_attach_worker(int slot);
extern void wake_at_commit(void);
extern bool wake_worker(Oid dboid);

#endif							/* DIRECTUS_SYNC_WAKE_H */
