/*-------------------------------------------------------------------------
 *
 * tombstone.h
 *	  The clocks of deleted items (tombstone.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_TOMBSTONE_H
#define DIRECTUS_SYNC_TOMBSTONE_H

#include "access/htup.h"

extern bool tombstone_read(const char *collection, const char *key, char *clock, char *born, char *swept);
extern void tombstone_write(const char *collection, const char *key, const char *clock, const char *born);
extern void tombstone_expect_delete(Oid relid, const char *key, const char *clock, const char *born,
									const char *swept);
extern void tombstone_register_callbacks(void);
extern void tombstone_begin_write(void);
extern bool tombstone_make_expected_delete(Oid relid, const char *key, HeapTuple tuple);
extern void tombstone_made_expected_delete(Oid relid, const char *key);
extern bool tombstone_expected_delete(Oid relid, const char *key, char *clock, char *born, char *swept);
extern void tombstone_expect_delete_to_sender(Oid relid, const char *key);
extern bool tombstone_take_delete_to_sender(Oid relid, const char *key);
extern void tombstone_expect_sweep_beside(Oid relid, const char *key, const char *swept);
extern void tombstone_take_sweep_beside(Oid relid, const char *key, HeapTuple tuple, char *swept);
extern void tombstone_expect_write_back(Oid relid, const char *key);
extern bool tombstone_take_write_back(Oid relid, const char *key, HeapTuple tuple);
extern void tombstone_recheck_create(Oid relid, const char *key, const char *latest, const char *born);
extern bool tombstone_after(const char *clock, const char *born, const char *have,
							const char *have_born);
extern bool tombstone_born_later(const char *born, const char *deleted_born);
extern bool tombstone_born_earlier(const char *born, const char *deleted_born);
extern void tombstone_keep_swept_born(const char *collection, const char *key, const char *born);
extern const char *tombstone_kills(const char *clock, const char *born, const char *deleted,
								   const char *deleted_born, const char *swept);
extern bool tombstone_create_lost(Oid relid, const char *collection, const char *key, HeapTuple tuple,
								  char *clock);

#endif							/* DIRECTUS_SYNC_TOMBSTONE_H */
