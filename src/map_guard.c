/*-------------------------------------------------------------------------
 *
 * map_guard.c
 *	  Keeps the SyncID map when the extension is dropped.
 *
 * The map table belongs to the extension, so that pg_dump writes its rows
 * and restores them into the table CREATE EXTENSION makes. Membership would
 * also make DROP EXTENSION drop the table with every mapping in it, which
 * the directus-sync tooling could never recover from. An event trigger on
 * ddl_command_start therefore detaches the table from the extension before
 * a DROP EXTENSION that names directus_sync; the table survives with its
 * rows and a later CREATE EXTENSION adopts it again.
 *
 * Only C can tell which extensions a DROP EXTENSION names: PL/pgSQL event
 * triggers see the command tag but not the parse tree. The detaching itself
 * is SQL (directus_sync._detach_map), where the quoting is easier to get
 * right.
 *
 * directus_sync.keep_map_on_drop = off lets the drop take the table along:
 * pg_restore --clean drops and re-creates the extension before it reloads
 * the rows, which would otherwise meet the kept ones.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"

#include "compat.h"
#include "directus_sync.h"

#define EXTENSION_NAME "directus_sync"

DIRECTUS_SYNC_FUNCTION(directus_sync_keep_map_on_drop);

/* Does this DROP statement name our extension? */
static bool
drops_this_extension(Node *parsetree)
{
	DropStmt   *drop;
	ListCell   *lc;

	if (parsetree == NULL || !IsA(parsetree, DropStmt))
		return false;
	drop = (DropStmt *) parsetree;
	if (drop->removeType != OBJECT_EXTENSION)
		return false;

	foreach(lc, drop->objects)
	{
		Node	   *name = lfirst(lc);

		if (IsA(name, String) && strcmp(strVal(name), EXTENSION_NAME) == 0)
			return true;
	}
	return false;
}

static void
run_or_fail(const char *sql)
{
	if (SPI_execute(sql, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not prepare the drop of extension \"%s\": %s", EXTENSION_NAME, sql);
}

Datum
directus_sync_keep_map_on_drop(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s can only be called as an event trigger",
						"directus_sync._keep_map_on_drop()")));

	trigdata = (EventTriggerData *) fcinfo->context;
	if (!drops_this_extension(trigdata->parsetree))
		PG_RETURN_VOID();

	/*
	 * Someone who may not drop the extension gets DROP EXTENSION's own
	 * "must be owner" error, not a failure inside the detaching.
	 */
	if (!extension_ownercheck(get_extension_oid(EXTENSION_NAME, false), GetUserId()))
		PG_RETURN_VOID();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (keep_map_on_drop_setting)
		run_or_fail("SELECT directus_sync._detach_map()");
	else
		/* 0.3 and later: the triggers on Directus's tables go either way */
		run_or_fail("SELECT directus_sync._drop_triggers()"
					" WHERE pg_catalog.to_regprocedure('directus_sync._drop_triggers()') IS NOT NULL");
	SPI_finish();
	/* the DROP EXTENSION that follows must see what was just dropped */
	CommandCounterIncrement();

	PG_RETURN_VOID();
}
