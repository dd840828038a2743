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
 * The row triggers of the app's sync_remotes (and its other config tables)
 * catch those errors in PL/pgSQL to adapt them for Directus and raise them
 * again, which would lose the hidden statement: they raise them with
 * _raise_hiding_statement, here, instead.
 *
 * It also keeps the tokens typed in the Directus app (sync_remotes) on
 * their way from the table's BEFORE row trigger, which takes a token out of
 * the row (it is never stored there), to its AFTER row trigger, which calls
 * add_remote or alter_remote with it once the row is written. They wait in
 * this backend's memory for the transaction only: not in a setting, which
 * members of pg_read_all_settings could read, nor in a table, which would
 * put them on disk.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/pg_list.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "directus_sync.h"

DIRECTUS_SYNC_FUNCTION(directus_sync_hiding_statement);
DIRECTUS_SYNC_FUNCTION(directus_sync_raise_hiding_statement);
DIRECTUS_SYNC_FUNCTION(directus_sync_app_token_hold);
DIRECTUS_SYNC_FUNCTION(directus_sync_app_token_take);

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

/*
 * _raise_hiding_statement(state, msg, detail, hint): raises ERROR msg with
 * SQLSTATE state (five digits or capital letters), and DETAIL and HINT
 * when not null, with the statement hidden from the server log.
 */
Datum
directus_sync_raise_hiding_statement(PG_FUNCTION_ARGS)
{
	char	   *state;
	char	   *msg;
	char	   *detail;
	char	   *hint;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("SQLSTATE and message must not be null")));
	state = text_to_cstring(PG_GETARG_TEXT_PP(0));
	msg = text_to_cstring(PG_GETARG_TEXT_PP(1));
	detail = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	hint = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (strlen(state) != 5 || strspn(state, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 5 ||
		strncmp(state, "00", 2) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid SQLSTATE code \"%s\"", state),
				 errhidestmt(true)));
	ereport(ERROR,
			(errcode(MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4])),
			 errmsg_internal("%s", msg),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0,
			 errhidestmt(true)));
	PG_RETURN_VOID();			/* not reached */
}

/* ----------------------------------------------------------------
 * Tokens typed in the app, between its row triggers
 * ---------------------------------------------------------------- */

typedef struct HeldToken
{
	int32		row_id;			/* the sync_remotes row (= the remote's id) */
	char	   *token;			/* in TopTransactionContext */
} HeldToken;

static List *held_tokens = NIL; /* in TopTransactionContext */

static void
forget_token(HeldToken *held)
{
	explicit_bzero(held->token, strlen(held->token));
	held_tokens = list_delete_ptr(held_tokens, held);
	pfree(held->token);
	pfree(held);
}

/* Whatever the transaction did with them, the tokens go with it, wiped. */
static void
forget_held_tokens(XactEvent event, void *arg)
{
	ListCell   *lc;

	(void) arg;
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	foreach(lc, held_tokens)
	{
		HeldToken  *held = lfirst(lc);

		explicit_bzero(held->token, strlen(held->token));
	}
	held_tokens = NIL;
}

static HeldToken *
held_token(int32 row_id)
{
	ListCell   *lc;

	foreach(lc, held_tokens)
	{
		HeldToken  *held = lfirst(lc);

		if (held->row_id == row_id)
			return held;
	}
	return NULL;
}

/*
 * _app_token_hold(row_id, token): holds the token typed in row row_id until
 * the row's AFTER trigger takes it; NULL forgets the one held (each BEFORE
 * trigger of the row says what its AFTER trigger is to get).
 */
Datum
directus_sync_app_token_hold(PG_FUNCTION_ARGS)
{
	static bool callback_registered = false;
	int32		row_id;
	HeldToken  *held;
	MemoryContext old;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("row id must not be null")));
	row_id = PG_GETARG_INT32(0);
	if (!callback_registered)
	{
		RegisterXactCallback(forget_held_tokens, NULL);
		callback_registered = true;
	}
	held = held_token(row_id);
	if (held != NULL)
		forget_token(held);
	if (PG_ARGISNULL(1))
		PG_RETURN_VOID();

	old = MemoryContextSwitchTo(TopTransactionContext);
	held = palloc(sizeof(HeldToken));
	held->row_id = row_id;
	held->token = text_to_cstring(PG_GETARG_TEXT_PP(1));
	held_tokens = lappend(held_tokens, held);
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}

/* _app_token_take(row_id): the token held for row row_id (NULL: none), no longer held. */
Datum
directus_sync_app_token_take(PG_FUNCTION_ARGS)
{
	HeldToken  *held;
	text	   *token;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("row id must not be null")));
	held = held_token(PG_GETARG_INT32(0));
	if (held == NULL)
		PG_RETURN_NULL();
	token = cstring_to_text(held->token);
	forget_token(held);
	PG_RETURN_TEXT_P(token);
}
