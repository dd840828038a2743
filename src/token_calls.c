/*-------------------------------------------------------------------------
 *
 * token_calls.c
 *	  The SQL functions that take a token keep it out of the server log.
 *
 * PostgreSQL logs the statement of a failing call (log_min_error_statement,
 * ERROR by default): a failing SELECT directus_sync.add_remote(..., 'token')
 * would put the token there. add_remote and alter_remote are therefore this
 * C function, which calls the PL/pgSQL function of the same name with a
 * leading underscore (_add_remote) with the same arguments, and rethrows any
 * of its errors with the statement hidden, as PostgreSQL's own errhidestmt
 * does. No message, DETAIL or HINT of those functions shows the token
 * either (their checks see to that). log_statement = 'all' still logs every
 * statement before it runs: see docs/security.md.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/syscache.h"

#include "directus_sync.h"

DIRECTUS_SYNC_FUNCTION(directus_sync_hiding_statement);

/* The function this one stands for: "_" and its own name, same arguments. */
static Oid
body_function(Oid self)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(self));
	Form_pg_proc proc;
	Oid			body;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", self);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	body = LookupFuncName(list_make2(makeString("directus_sync"),
									 makeString(psprintf("_%s", NameStr(proc->proname)))),
						  proc->pronargs, proc->proargtypes.values, false);
	ReleaseSysCache(tup);
	return body;
}

Datum
directus_sync_hiding_statement(PG_FUNCTION_ARGS)
{
	LOCAL_FCINFO(call, FUNC_MAX_ARGS);
	FmgrInfo	flinfo;
	MemoryContext cxt = CurrentMemoryContext;
	Datum		result = (Datum) 0;

	fmgr_info(body_function(fcinfo->flinfo->fn_oid), &flinfo);
	InitFunctionCallInfoData(*call, &flinfo, PG_NARGS(), PG_GET_COLLATION(), NULL, NULL);
	for (int i = 0; i < PG_NARGS(); i++)
		call->args[i] = fcinfo->args[i];
	PG_TRY();
	{
		result = FunctionCallInvoke(call);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->hide_stmt = true;
		ReThrowError(edata);
	}
	PG_END_TRY();
	if (call->isnull)
		PG_RETURN_NULL();
	return result;
}
