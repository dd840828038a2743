/*-------------------------------------------------------------------------
 *
 * sync_signature.h
 *	  Signed clocks (sync_signature.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_SYNC_SIGNATURE_H
#define DIRECTUS_SYNC_SYNC_SIGNATURE_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

extern void sync_signature_init(void);
extern void sync_signature_append_payload(StringInfo out, const char *payload, const char *token,
										  const char *collection, const char *key);
extern char *sync_signature_sign_payload(const char *payload, const char *token, const char *collection,
										 const char *key);
extern int	sync_signature_signer(const char *collection, const char *key, Jsonb *meta);

#endif							/* DIRECTUS_SYNC_SYNC_SIGNATURE_H */
