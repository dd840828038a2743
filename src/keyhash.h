/*-------------------------------------------------------------------------
 *
 * keyhash.h
 *	  Hash tables keyed by strings of any length (keyhash.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_KEYHASH_H
#define DIRECTUS_SYNC_KEYHASH_H

#include "utils/hsearch.h"
#include "utils/palloc.h"

/* An entry starts with its char *key. */
typedef struct KeyHash
{
	HTAB	   *table;
	MemoryContext cxt;
	Size		entrysize;
} KeyHash;

extern KeyHash *keyhash_create(const char *name, long nelem, Size entrysize, MemoryContext cxt);
extern void *keyhash_enter(KeyHash *kh, const char *key, bool *found);
extern void *keyhash_find(KeyHash *kh, const char *key);
extern void keyhash_destroy(KeyHash *kh);
extern char *item_hash_key(const char *collection, const char *key);

#endif							/* DIRECTUS_SYNC_KEYHASH_H */
