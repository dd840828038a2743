/*-------------------------------------------------------------------------
 *
 * keyhash.c
 *	  Hash tables keyed by strings of any length (dynahash's HASH_STRINGS
 *	  wants a fixed maximum): "collection \x1f item key", where a key may be
 *	  255 characters of four bytes each.
 *
 * The table stores a pointer to a copy of the key, made in the table's
 * memory context; each entry's first field must be that char *.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "keyhash.h"

static uint32
keyhash_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	(void) keysize;
	return string_hash(s, strlen(s) + 1);
}

static int
keyhash_match(const void *key1, const void *key2, Size keysize)
{
	(void) keysize;
	return strcmp(*(const char *const *) key1, *(const char *const *) key2);
}

KeyHash *
keyhash_create(const char *name, long nelem, Size entrysize, MemoryContext cxt)
{
	KeyHash    *kh = MemoryContextAlloc(cxt, sizeof(KeyHash));
	HASHCTL		ctl;

	ctl.keysize = sizeof(char *);
	ctl.entrysize = entrysize;
	ctl.hash = keyhash_hash;
	ctl.match = keyhash_match;
	ctl.hcxt = cxt;
	kh->table = hash_create(name, nelem, &ctl, HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	kh->cxt = cxt;
	kh->entrysize = entrysize;
	return kh;
}

/* The entry of key, made (zeroed but for the key) if it was not there. */
void *
keyhash_enter(KeyHash *kh, const char *key, bool *found)
{
	void	   *entry = hash_search(kh->table, &key, HASH_FIND, NULL);
	char	   *copy;

	*found = entry != NULL;
	if (entry != NULL)
		return entry;
	copy = MemoryContextStrdup(kh->cxt, key);
	entry = hash_search(kh->table, &copy, HASH_ENTER, NULL);
	memset((char *) entry + sizeof(char *), 0, kh->entrysize - sizeof(char *));
	return entry;
}

void *
keyhash_find(KeyHash *kh, const char *key)
{
	return hash_search(kh->table, &key, HASH_FIND, NULL);
}

void
keyhash_destroy(KeyHash *kh)
{
	hash_destroy(kh->table);
	pfree(kh);
}

/* "collection \x1f key": one item of one collection, as a hash key. */
char *
item_hash_key(const char *collection, const char *key)
{
	return psprintf("%s\x1f%s", collection, key);
}
