/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  What differs between the PostgreSQL versions we build for (15, 16,
 *	  17, 18), in one place.
 *
 * The rest of the code is written against one spelling of each server API;
 * this header maps it to what the server's headers offer. Anything that
 * needs a PG_VERSION_NUM test goes here, unless it cannot be a macro (the
 * memory context of CreateWaitEventSet in http.c, which changes what the
 * caller must free).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DIRECTUS_SYNC_COMPAT_H
#define DIRECTUS_SYNC_COMPAT_H

#include "catalog/pg_extension_d.h"
#include "utils/acl.h"

/*
 * The varlena macros (VARDATA_ANY, VARSIZE_ANY_EXHDR): postgres.h held
 * them until PostgreSQL 16 moved them to varatt.h.
 */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/*
 * A function that never returns: PostgreSQL 18 replaced the suffix
 * pg_attribute_noreturn() with the prefix pg_noreturn (C11 _Noreturn).
 * GCC and clang take the attribute as a prefix too, so we write the prefix.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * Whether ROLEID owns the extension EXTOID: PostgreSQL 16 replaced the
 * per-catalog ownership checks with object_ownercheck().
 */
#if PG_VERSION_NUM >= 160000
#define extension_ownercheck(extoid, roleid) \
	object_ownercheck(ExtensionRelationId, (extoid), (roleid))
#else
#define extension_ownercheck(extoid, roleid) \
	pg_extension_ownercheck((extoid), (roleid))
#endif

/*
 * The index entries of a row just inserted, as a plain INSERT makes them
 * (not an update, no ON CONFLICT): PostgreSQL 16 added the last argument
 * of ExecInsertIndexTuples, onlySummarizing, false for an insert.
 */
#if PG_VERSION_NUM >= 160000
#define insert_index_tuples(rinfo, slot, estate) \
	ExecInsertIndexTuples((rinfo), (slot), (estate), false, false, NULL, NIL, false)
#else
#define insert_index_tuples(rinfo, slot, estate) \
	ExecInsertIndexTuples((rinfo), (slot), (estate), false, false, NULL, NIL)
#endif

/*
 * The columns an INSERT's target list names (attnums offset by
 * FirstLowInvalidHeapAttributeNumber), of its result relation rte in the
 * plan stmt: PostgreSQL 16 moved them from the range table entry to its
 * RTEPermissionInfo.
 */
#if PG_VERSION_NUM >= 160000
#include "parser/parse_relation.h"
#define rte_inserted_columns(stmt, rte) \
	(getRTEPermissionInfo((stmt)->permInfos, (rte))->insertedCols)
#else
#define rte_inserted_columns(stmt, rte) ((rte)->insertedCols)
#endif

#endif							/* DIRECTUS_SYNC_COMPAT_H */
