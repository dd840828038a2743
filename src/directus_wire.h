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

extern char *directus_items_url(const char *base_url, const SyncSubscription *sub,
								bool with_key_fields);
extern char *directus_probe_url(const char *base_url, const SyncSubscription *sub, List *items);
extern void directus_append_json_array(StringInfo body, List *items, bool keys_only);
extern void directus_parse_error(const char *body, char **code, char **message);
extern bool directus_answer_keys(const char *body, const char *key_column, List **keys);

#endif							/* DIRECTUS_SYNC_DIRECTUS_WIRE_H */
