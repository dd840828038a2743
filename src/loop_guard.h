/*-------------------------------------------------------------------------
 *
 * loop_guard.h
 *	  The loop guard on directus_activity (loop_guard.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_LOOP_GUARD_H
#define DIRECTUS_SYNC_LOOP_GUARD_H

extern void loop_guard_register_callbacks(void);
extern void loop_guard_invalidate(Oid relid);
extern void loop_guard_remember(text *collection, const char *key, int remote_id, int64 id,
								bool clocked);
extern void loop_guard_expect_sync(const char *collection, const char *key, List *conflicts, int signer);
extern int	loop_guard_take_signer(const char *collection, const char *key);
extern void loop_guard_log_conflicts(int remote_id, const char *collection, const char *key,
									 List *conflicts);

#endif							/* DIRECTUS_SYNC_LOOP_GUARD_H */
