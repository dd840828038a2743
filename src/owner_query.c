/*-------------------------------------------------------------------------
 *
 * owner_query.c
 *	  Queries over Directus's tables run as the owner of the table.
 *
 * The extension's SQL functions run as its owner, a superuser, and the
 * worker as the bootstrap superuser. A query over a table that Directus's
 * role owns can run code that role controls: a domain's CHECK, a cast to
 * json or text, the operators of a key's type, a function in a view. Run by
 * a superuser, that code would have a superuser's rights, and the table's
 * owner could make itself one. So every query the extension runs over such
 * a table (payloads of current rows, resync chunks, Directus's own
 * catalogs) goes through directus_sync._query_as_owner: it runs as the
 * owner of the table it names, as a security-restricted operation with
 * search_path pinned, as PostgreSQL runs VACUUM, ANALYZE and REINDEX since
 * CVE-2022-1552.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"

#include "directus_sync.h"

DIRECTUS_SYNC_FUNCTION(directus_sync_query_as_owner);

static Oid
relation_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/* The result's columns must be those the caller declared. */
static void
check_result_columns(TupleDesc got, TupleDesc expected)
{
	bool		same = got->natts == expected->natts;

	for (int i = 0; same && i < got->natts; i++)
		same = TupleDescAttr(got, i)->atttypid == TupleDescAttr(expected, i)->atttypid;
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("query result does not match the column definition list")));
}

/* Runs the query (its one parameter: args) and keeps its rows in the result. */
static void
run_query(const char *query, Datum args, bool args_null, ReturnSetInfo *rsinfo)
{
	Oid			types[1] = {TEXTARRAYOID};
	char		nulls[1] = {args_null ? 'n' : ' '};
	Datum	   *values = palloc(sizeof(Datum) * rsinfo->setDesc->natts);
	bool	   *isnull = palloc(sizeof(bool) * rsinfo->setDesc->natts);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(query, 1, types, &args, nulls, false, 0) < 0 || SPI_tuptable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("directus_sync._query_as_owner runs statements that return rows only")));
	check_result_columns(SPI_tuptable->tupdesc, rsinfo->setDesc);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, values, isnull);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	}
	SPI_finish();
}

/*
 * directus_sync._query_as_owner(rel regclass, query text, args text[])
 * RETURNS SETOF record: the rows of query (a SELECT, or an INSERT ...
 * RETURNING), run with args as $1 by the owner of rel.
 */
Datum
directus_sync_query_as_owner(PG_FUNCTION_ARGS)
{
	Oid			owner;
	Oid			saved_user;
	int			saved_context;
	int			guc_level;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation and query must not be null")));
	owner = relation_owner(PG_GETARG_OID(0));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);

	/* an error on the way is undone by the abort of the (sub)transaction */
	GetUserIdAndSecContext(&saved_user, &saved_context);
	guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(owner, saved_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	run_query(text_to_cstring(PG_GETARG_TEXT_PP(1)), PG_GETARG_DATUM(2), PG_ARGISNULL(2),
			  (ReturnSetInfo *) fcinfo->resultinfo);
	SetUserIdAndSecContext(saved_user, saved_context);
	/* false: a SET of the owner's code must not outlive it (as VACUUM does) */
	AtEOXact_GUC(false, guc_level);
	return (Datum) 0;
}
