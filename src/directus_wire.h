/*-------------------------------------------------------------------------
 *
 * directus_wire.h
 *	  Directus's REST API on the wire (directus_wire.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_DIRECTUS_WIRE_H
#define DIRECTUS_SYNC_DIRECTUS_WIRE_H

#include "lib/stringinfo.h"

#include "directus_sync.h"

/* The requests a window sends (directus_request). */
typedef enum DirectusRequestKind
{
	DIRECTUS_CREATE,			/* POST /items/:c, an array of items */
	DIRECTUS_UPDATE,			/* PATCH /items/:c, an array of items with their key */
	DIRECTUS_DELETE,			/* DELETE /items/:c, an array of keys */
	DIRECTUS_SINGLETON,			/* PATCH /items/:c, one object */
	DIRECTUS_PROBE,				/* GET /items/:c of the items among these it has */
	DIRECTUS_PING				/* GET /server/ping: only its Date is read */
} DirectusRequestKind;

/* Which items an answer lists (directus_answer_items). */
typedef struct DirectusListed
{
	List	   *listed;			/* the items whose key it lists */
	List	   *unlisted;		/* the others */
	int			nkeys;			/* how many keys it lists */
	int			filter_count;	/* its meta.filter_count; -1: none */
} DirectusListed;

extern HttpRequest *directus_request(const char *base_url, const char *token, DirectusRequestKind kind,
									 const SyncSubscription *sub, List *items);
extern bool directus_items_carry_clocks(List *items);
extern bool directus_exact_number(const char *s, int len);
extern void directus_parse_error(const char *body, char **code, char **message);
extern char *directus_clean_text(const char *s, int max_bytes);
extern bool directus_answer_items(const char *body, const char *key_column, List *items,
								  DirectusListed *out);

#endif							/* DIRECTUS_SYNC_DIRECTUS_WIRE_H */
