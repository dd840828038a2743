/*-------------------------------------------------------------------------
 *
 * clock_row.c
 *	  The clocks of an item's fields, kept in the item's own row: the
 *	  BEFORE ROW half of the capture trigger.
 *
 * A table whose items carry clocks has a jsonb column directus_sync_meta.
 * At rest it holds the clock of the last write of each replicated field,
 * the clock that write replaced (after a chain of edits made here, the one
 * the chain replaced), and the clock of the item's creation ("born"):
 *
 *		{"b": clock, "f": {field: clock, ...}, "p": {field: clock, ...}, "a": clock}
 *
 * "a" (alive) is the latest write of the item this instance knows of, kept
 * only when it is later than every clock in "f": a write of a field this
 * instance does not hold (replicated to others only) that a sync told of.
 * Whether an item outlives a delete is decided on it (see Deletes below).
 *
 * A local write (Directus, SQL, anything but a sync) stamps each field it
 * changes with a clock later than this server's clock and than the field's
 * previous clock: an edit made after seeing a value always beats that value,
 * whatever the skew between instances' clocks.
 *
 * A sync writes the sender's clocks into the same column (the worker puts
 * them in every payload, see capture.c):
 *
 *		{"s": sender node, "b": clock, "f": {...}, "p": {...}, "a": clock}
 *
 * A create whose fields all have its born clock comes compact, {"s", "b"}:
 * a sync's "b" without "f" stands for every column of the table clocked at
 * "b" with no previous clock (the sender makes it only of a create that
 * ships every column it clocks, and whose alive clock is no later than
 * "b"), and is decided exactly as that "f"; when the create arrives as an
 * update, for every column the update sets, and as an insert, for every
 * column the INSERT lists (when the trigger can read the list: a column
 * left out holds this instance's DEFAULT, not the sender's value, and takes
 * no clock). A field that a sync clocks in "f" but does not set or list is
 * refused (its value did not come). A delete's {"s", "d", "b", "u"} is
 * never compact. One with "a" as well (the sender never makes it; the
 * outbox's merge of a create and an update writes the compact form out in
 * full, "a" kept) reads as the compact "f" and that "a", exactly as its
 * form in full would: the compact form says nothing about "a".
 *
 * Each field the sync sets is kept when its clock is later than the stored
 * one and put back otherwise: every (item, field) is a last-writer-wins
 * register, so instances that receive the same writes in any order, any
 * number of times, end with the same values. Of two values with one clock
 * the writer's wins (the sender's when it made the clock, ours when we
 * did, and else the one that is not the column's DEFAULT: a copy that is
 * not the write's value is only ever that default); others are ordered as
 * _later orders them (a value over null, then the larger jsonb text).
 * Accepted clocks are observed
 * (clock.c); one too far ahead fails the write, and the sender tries again
 * later. The loop guard checks at commit that clocks came from a sync user
 * (loop_guard_expect_sync), and logs the conflicts found here.
 *
 * Two writes of a field conflict when neither replaced the other (neither
 * is the other's "p") and they come from different instances: then both
 * values are logged, with the winner. Two items created on two instances
 * with the same key differ in their born clocks (an item from before
 * clocks has none, and counts as born before every clock): the one born
 * later keeps the key, whole, everywhere; the other is logged in full
 * (insert_insert), and its fields that the winner's sync does not carry go
 * to their defaults without clocks, as _merge drops the loser's registers.
 *
 * Deletes (tombstone.c): a sync's delete comes as an update that carries
 * the delete's clock, {"s", "d": clock}; when that is later than the item's
 * alive clock (the latest of its fields' clocks and "a") the item is deleted
 * (by the capture trigger, after the update), else the item stays and goes
 * back to every remote, carrying its alive clock in "a" to those it ships
 * fewer fields to. Every instance so decides on the same clock, whatever
 * fields it holds: one that lacks the field edited after the delete learns
 * of the edit from "a" (a max register: commutative, associative,
 * idempotent), and a create that brings a later "a" brings the item back.
 * With the collection's delete_wins, the delete need only be later than the
 * item's born clock, and carries "w": true; an instance with the other rule
 * refuses it. A sync's create of an item whose delete here is later than
 * all its clocks is skipped, and the delete is sent
 * again to every remote, so that whoever created it learns of the delete.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/pquery.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "capture.h"
#include "clock.h"
#include "clock_row.h"
#include "compat.h"
#include "loop_guard.h"
#include "sync_signature.h"
#include "tombstone.h"

static JsonbValue *
member(JsonbContainer *object, const char *name, JsonbValue *buf)
{
	if (object == NULL)
		return NULL;
	return getKeyJsonValueFromContainer(object, name, strlen(name), buf);
}

static JsonbContainer *
object_member(JsonbContainer *object, const char *name)
{
	JsonbValue	buf;
	JsonbValue *v = member(object, name, &buf);

	if (v != NULL && v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data))
		return v->val.binary.data;
	return NULL;
}

/* The clock column of a row; all NULL when the row or the column is. */
RowClocks
clock_row_read(HeapTuple tuple, AttrNumber attnum, TupleDesc desc)
{
	RowClocks	rc = {NULL, NULL, NULL, false, false, ""};
	bool		isnull;
	Datum		value;
	Jsonb	   *jb;
	JsonbValue	buf;
	JsonbValue *sender;

	if (tuple == NULL)
		return rc;
	value = heap_getattr(tuple, attnum, desc, &isnull);
	if (isnull)
		return rc;
	jb = DatumGetJsonbP(value);
	if (!JB_ROOT_IS_OBJECT(jb))
		return rc;
	rc.root = &jb->root;
	rc.fields = object_member(rc.root, "f");
	rc.prev = object_member(rc.root, "p");
	sender = member(rc.root, "s", &buf);
	rc.from_sync = sender != NULL;
	if (sender != NULL && sender->type == jbvString && clock_node_valid(sender->val.string.val, sender->val.string.len))
	{
		/* (a valid node id is shorter than rc.sender; copied, not formatted) */
		memcpy(rc.sender, sender->val.string.val, sender->val.string.len);
		rc.sender[sender->val.string.len] = '\0';
	}
	/* (after the sender is copied: buf is taken again) */
	rc.compact = rc.from_sync && member(rc.root, "f", &buf) == NULL && member(rc.root, "b", &buf) != NULL &&
		member(rc.root, "d", &buf) == NULL;
	return rc;
}

/*
 * Refuses a sync that names this instance as its sender. "s" decides ties
 * (the writer's value wins, sync_wins_tie) and completes the sender's own
 * clocks: a sync claiming our node would replace our write under our own
 * clock, nothing would go back, and every other instance would keep our
 * real value under that clock for good. Legitimately "s" is never this
 * node: a change of ours that comes back is sent by another instance,
 * which names itself. (Which remote wrote is known from its activity row
 * or signature, but not that remote's node id, so "s" cannot be tied to
 * it; a sync user is trusted with the clocks it sends, not with ours.)
 */
static void
refuse_own_sender(Relation rel, const RowClocks *sent)
{
	if (sent->from_sync && sent->sender[0] != '\0' && strcmp(sent->sender, clock_node()) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a sync of table \"%s\" names this instance as its sender",
						RelationGetRelationName(rel)),
				 errdetail("A sync's \"s\" in column \"directus_sync_meta\" is the node of the instance that sent it, never the receiver's.")));
}

/*
 * The clock text of member name of object, into out; false when absent.
 * A stored clock is trusted (only this file writes it); one that came with
 * a sync must be well formed. A sync writes a clock of its own node as its
 * 16 hex digits alone (capture.c): sender, its node id, completes it.
 */
static bool
clock_member(JsonbContainer *object, const char *name, bool check, const char *sender, char *out)
{
	JsonbValue	buf;
	JsonbValue *v = member(object, name, &buf);

	if (v == NULL || v->type == jbvNull)
		return false;
	if (v->type == jbvString && sender != NULL && sender[0] != '\0' && v->val.string.len == CLOCK_STAMP_LEN)
	{
		/* stamp, "@" and sender, copied, not formatted (as snprintf would: cut at CLOCK_TEXT_LEN) */
		size_t		len = strnlen(sender, CLOCK_TEXT_LEN - CLOCK_STAMP_LEN - 1);

		memcpy(out, v->val.string.val, CLOCK_STAMP_LEN);
		out[CLOCK_STAMP_LEN] = '@';
		memcpy(out + CLOCK_STAMP_LEN + 1, sender, len);
		out[CLOCK_STAMP_LEN + 1 + len] = '\0';
		if (clock_text_valid(out, CLOCK_TEXT_LEN))
			return true;
	}
	if (v->type != jbvString || !clock_text_valid(v->val.string.val, v->val.string.len))
	{
		if (!check)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid clock for \"%s\" in column \"%s\"", name, CLOCK_COLUMN),
				 errdetail("A clock is 16 lowercase hexadecimal digits, \"@\" and a node id.")));
	}
	memcpy(out, v->val.string.val, CLOCK_TEXT_LEN);
	out[CLOCK_TEXT_LEN] = '\0';
	return true;
}

/* A stored clock of object (its "f", or the root for "b"), into out; false when absent. */
bool
clock_row_get(JsonbContainer *object, const char *name, char *out)
{
	return clock_member(object, name, false, NULL, out);
}

/*
 * A clock later than this server's clock and than prev (if any). One tick
 * per row (*row_stamp, 0 until taken): the fields of one write share it.
 */
static void
stamp_after(const char *prev, uint64 *row_stamp, char *out)
{
	uint64		stamp;

	if (*row_stamp == 0)
		*row_stamp = clock_tick();
	stamp = *row_stamp;

	if (prev != NULL)
		stamp = Max(stamp, clock_text_stamp(prev) + 1);
	clock_text(stamp, out);
}

/* Observes a clock a sync brought; too far ahead, the write fails. */
static void
observe(const char *clock)
{
	if (!clock_observe(clock_text_stamp(clock)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("clock %s of a replicated change is ahead of this server's clock", clock),
				 errdetail("It is more than directus_sync.max_clock_skew ahead; the sender tries again later."),
				 errhint("Check the time of both servers (NTP).")));
}

/* A member of the clock column's "f" or "p": a field and a clock. */
typedef struct FieldClock
{
	char	   *name;
	char		clock[CLOCK_TEXT_LEN + 1];
} FieldClock;

static List *
add_clock(List *list, const char *name, const char *clock)
{
	FieldClock *fc = palloc(sizeof(FieldClock));
	/*
	 * (memcpy of its length, not strlcpy: PostgreSQL's strlcpy copies a
	 * byte at a time, and a row's write copies a dozen clocks)
	 */
	size_t		len = strnlen(clock, CLOCK_TEXT_LEN);

	fc->name = (char *) name;
	memcpy(fc->clock, clock, len);
	fc->clock[len] = '\0';
	return lappend(list, fc);
}

static void
push_string(JsonbParseState **state, JsonbIteratorToken token, const char *s)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	(void) pushJsonbValue(state, token, &v);
}

/* "name": {field: clock, ...} */
static void
push_clocks(JsonbParseState **state, const char *name, List *clocks)
{
	ListCell   *lc;

	push_string(state, WJB_KEY, name);
	(void) pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	foreach(lc, clocks)
	{
		FieldClock *fc = lfirst(lc);

		push_string(state, WJB_KEY, fc->name);
		push_string(state, WJB_VALUE, fc->clock);
	}
	(void) pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/* Keeps in latest the later of it and clock (latest "" at first). */
static void
keep_latest(char *latest, const char *clock)
{
	if (strcmp(clock, latest) > 0)
		strcpy(latest, clock);
}

/* Whether two clocks were made by the same instance. */
static bool
same_node(const char *a, const char *b)
{
	return strcmp(strchr(a, '@'), strchr(b, '@')) == 0;
}

/* A write of a row of a table with clocks, while its clocks are decided. */
typedef struct RowWrite
{
	Relation	rel;
	const ClockedTable *table;
	TupleDesc	desc;
	HeapTuple	old;			/* NULL: an insert */
	HeapTuple	new;
	const Bitmapset *set_columns;	/* an update's SET columns (tg_updatedcols), */
	const Bitmapset *inserted;	/* or a sync's insert's column list, */
	bool		inserted_known; /* when known (else every column counts as given) */
	ItemRow    *old_row;		/* their columns (old_row NULL: an insert) */
	ItemRow    *new_row;
	RowClocks	stored;			/* the old row's clocks */
	RowClocks	sent;			/* what the new row's clock column says */
	Datum	   *values;			/* columns the new row takes back from the old */
	bool	   *nulls;
	bool	   *replace;
	uint64		row_stamp;		/* this write's tick, 0 until taken */
	char		latest[CLOCK_TEXT_LEN + 1];	/* the latest field clock kept, then "a" too */
	char		alive[CLOCK_TEXT_LEN + 1];	/* "a" kept ("" none): later than every field clock */
	bool	   *decided;		/* by attnum - 1: the field's clock is written */
	bool		sync_wins_whole;	/* insert/insert: the sync's item was born later */
	bool		sync_loses_whole;	/* insert/insert: ours was */
	bool		sender_behind;	/* the sync lost a field: what we have goes back */
	char		born[CLOCK_TEXT_LEN + 1];	/* the new clock column: "b" ("" none), */
	List	   *clocks;			/* "f" (FieldClock) */
	List	   *prev;			/* and "p" */
	List	   *conflicts;		/* of ClockConflict */
	char		sweep_beside[CLOCK_TEXT_LEN + 1];	/* a live item's "u" for the tombstone ("" none) */
} RowWrite;

/* A column's value as JSON text, NULL for SQL NULL. */
static char *
field_json(const CaptureField *field, const ItemRow *row)
{
	if (row->nulls[field->attnum - 1])
		return NULL;
	return text_to_cstring(DatumGetTextPP(FunctionCall1((FmgrInfo *) &field->to_json,
														row->values[field->attnum - 1])));
}

static ClockConflict *
add_conflict(RowWrite *w, const char *kind, const char *local_clock, const char *remote_clock,
			 bool remote_won)
{
	ClockConflict *c = palloc0(sizeof(ClockConflict));

	c->kind = kind;
	c->local_clock = local_clock ? pstrdup(local_clock) : NULL;
	c->remote_clock = remote_clock ? pstrdup(remote_clock) : NULL;
	c->remote_won = remote_won;
	w->conflicts = lappend(w->conflicts, c);
	return c;
}

/*
 * A sync's value of a field met ours: a conflict unless one write replaced
 * the other, both come from one instance, or the values are equal.
 */
static void
note_field_conflict(RowWrite *w, const CaptureField *field, const char *have, const char *came,
					bool remote_won)
{
	char		prev[CLOCK_TEXT_LEN + 1];
	ClockConflict *c;

	if (w->old == NULL || strcmp(have, came) == 0 || same_node(have, came) ||
		!capture_field_changed(field, w->old_row, w->new_row) ||
		(clock_member(w->sent.prev, field->name, false, w->sent.sender, prev) && strcmp(prev, have) == 0) ||
		(clock_member(w->stored.prev, field->name, false, NULL, prev) && strcmp(prev, came) == 0))
		return;
	c = add_conflict(w, "update_update", have, came, remote_won);
	c->field = pstrdup(field->name);
	c->local_value = field_json(field, w->old_row);
	c->remote_value = field_json(field, w->new_row);
}

/*
 * The text two values of a field with the same clock are ordered by, as
 * _later orders registers: the value as jsonb text, "null" for NULL. The
 * settings that change how to_json renders a value (a timestamptz's
 * offset, a float's digits, an interval, a bytea) are pinned, so that
 * every instance and every session renders a value alike. A json value
 * with \u escapes (which jsonb may refuse to de-escape) is compared as
 * to_json wrote it.
 */
static char *
tie_text_value(const CaptureField *field, bool isnull, Datum value)
{
	static const char *const pinned[][2] = {
		{"TimeZone", "UTC"}, {"DateStyle", "ISO, MDY"}, {"IntervalStyle", "postgres"},
		{"extra_float_digits", "1"}, {"bytea_output", "hex"}
	};
	int			level;
	char	   *json;

	if (isnull)
		return "null";
	level = NewGUCNestLevel();
	for (size_t i = 0; i < lengthof(pinned); i++)
		(void) set_config_option(pinned[i][0], pinned[i][1], PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	json = text_to_cstring(DatumGetTextPP(FunctionCall1((FmgrInfo *) &field->to_json, value)));
	AtEOXact_GUC(true, level);
	if (strstr(json, "\\u") == NULL)
		json = DatumGetCString(DirectFunctionCall1(jsonb_out,
												   DirectFunctionCall1(jsonb_in, CStringGetDatum(json))));
	return json;
}

static char *
tie_text(const CaptureField *field, const ItemRow *row)
{
	return tie_text_value(field, row->nulls[field->attnum - 1], row->values[field->attnum - 1]);
}

/*
 * The column's DEFAULT as tie_text renders it ("null" without one), or
 * NULL when a value cannot be told to be it: a default that is not
 * immutable (now(), a sequence) gives another value each time, and an
 * identity or generated column has no default to recognize. Evaluated
 * only on a tie between two different values, which is rare.
 */
static char *
default_tie_text(RowWrite *w, const CaptureField *field)
{
	Form_pg_attribute attr = TupleDescAttr(w->desc, field->attnum - 1);
	Node	   *expr;
	ExprState  *state;
	ExprContext *econtext;
	bool		isnull;
	Datum		value;
	char	   *text;

	if (attr->attgenerated || attr->attidentity)
		return NULL;
	expr = build_column_default(w->rel, field->attnum);
	if (expr == NULL)
		return "null";
	expr = (Node *) expression_planner((Expr *) expr);
	if (contain_mutable_functions(expr))
		return NULL;
	state = ExecInitExpr((Expr *) expr, NULL);
	econtext = CreateStandaloneExprContext();
	value = ExecEvalExprSwitchContext(state, econtext, &isnull);
	text = tie_text_value(field, isnull, value);
	FreeExprContext(econtext, true);
	return text;
}

/* Whether node (a node id, "" none) made clock. */
static bool
written_by(const char *clock, const char *node)
{
	return node[0] != '\0' && strcmp(strchr(clock, '@') + 1, node) == 0;
}

/*
 * Whether a sync's value of a field wins over ours when both have the same
 * clock. A clock names its writer, and one writer gives each write its own
 * clock: two values under one clock are that write's value and a copy that
 * is not it (a sync's create that Directus stripped of the field took the
 * field's clock with the column's DEFAULT; since review 11 the insert's
 * column list refuses that, or gives the field no clock (sent_clock), so
 * such a copy comes only from an insert whose list is not known, such as a
 * function's, or from an instance without that fix; its tie is then
 * decided as below, and where the DEFAULT is not immutable, or was changed
 * since, the copy may win in one order of arrival: the limit this rule
 * keeps). So the writer's value wins: the sync's when the sender
 * made the clock, ours when this instance did (and *write_back: the sender
 * holds a value that is not our write's, ours goes back to it).
 *
 * When neither side made the clock (the writer's value forwarded by
 * another instance, or a copy), the writer's value is the one that is not
 * the column's DEFAULT: a copy is only ever that default, so the value
 * tells, with no mark to keep in the row or to carry in a payload, and
 * whichever came first (a value that came from its writer and a copy that
 * comes later from elsewhere; until review 10 the value order decided
 * that, and a DEFAULT that sorted higher replaced the writer's value it
 * came after). This is _later's "w" mark, judged from the value. Between
 * two values that are both the default or both not (copies of instances
 * whose defaults differ, or a default that is not immutable, which cannot
 * be recognized), a value beats null, then the larger text wins, as _later
 * orders them, so that the result does not depend on which came first.
 * Nothing goes back (the writer's value, when it comes, settles it; and
 * two instances whose defaults differ would send them to each other for
 * ever). The same value (or none sent) keeps.
 */
static bool
sync_wins_tie(RowWrite *w, const CaptureField *field, const char *clock, bool *write_back)
{
	char	   *came;
	char	   *have;
	char	   *dflt;

	*write_back = false;
	if (!capture_field_changed(field, w->old_row, w->new_row))
		return true;
	if (written_by(clock, w->sent.sender))
		return true;
	if (written_by(clock, clock_node()))
	{
		*write_back = true;
		return false;
	}
	came = tie_text(field, w->new_row);
	have = tie_text(field, w->old_row);
	dflt = default_tie_text(w, field);
	if (dflt != NULL && (strcmp(came, dflt) == 0) != (strcmp(have, dflt) == 0))
		return strcmp(have, dflt) == 0;
	if ((strcmp(came, "null") == 0) != (strcmp(have, "null") == 0))
		return strcmp(have, "null") == 0;
	return strcmp(came, have) >= 0;
}

/*
 * The value a reset field goes to (its column's default, NULL without one)
 * into *value and *isnull; false when the column's domain refuses it (a
 * domain's NOT NULL or CHECK, of the domain or of a domain it is over,
 * which a BEFORE trigger's tuple would skip): then the field keeps its
 * value. A domain's check may fail in any way, so it runs in a
 * subtransaction (only the reset of an insert/insert loser gets here); any
 * error but the domain's refusal fails the sync.
 */
static bool
reset_value(RowWrite *w, Form_pg_attribute attr, Datum *value, bool *isnull)
{
	Node	   *expr = build_column_default(w->rel, attr->attnum);
	bool		domain = get_typtype(attr->atttypid) == TYPTYPE_DOMAIN;
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		ok = true;

	*value = (Datum) 0;
	*isnull = true;
	if (expr == NULL && !domain)
		return true;
	if (domain)
	{
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(context);
	}
	PG_TRY();
	{
		if (expr != NULL)
		{
			ExprState  *state = ExecInitExpr(expression_planner((Expr *) expr), NULL);
			ExprContext *econtext = CreateStandaloneExprContext();
			Datum		result = ExecEvalExprSwitchContext(state, econtext, isnull);

			MemoryContextSwitchTo(context);
			*value = *isnull ? (Datum) 0 : datumCopy(result, attr->attbyval, attr->attlen);
			FreeExprContext(econtext, true);
		}
		if (domain)
		{
			domain_check(*value, *isnull, attr->atttypid, NULL, NULL);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(context);
			CurrentResourceOwner = owner;
		}
	}
	PG_CATCH();
	{
		ErrorData  *error;

		if (!domain)
			PG_RE_THROW();
		MemoryContextSwitchTo(context);
		error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
		/*
		 * Only the domain's refusal (its NOT NULL or CHECK) keeps the
		 * field's value; any other error (a cancel, a timeout, a failing
		 * function) fails the sync as it would anywhere, so that no
		 * instance decides by how long a check took.
		 */
		if (error->sqlerrcode != ERRCODE_NOT_NULL_VIOLATION &&
			error->sqlerrcode != ERRCODE_CHECK_VIOLATION)
			ReThrowError(error);
		FreeErrorData(error);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * A field of the item that lost the key to a sync's item born later, which
 * the sync does not carry: it is not the winner's, so it keeps no clock
 * (any value of the winner's beats it) and, unless the sync wrote it, goes
 * to the column's default (NULL without one), as _merge drops the loser's
 * registers. A NOT NULL column without a default keeps its value, with no
 * clock, and so does a column whose domain refuses the default or NULL
 * (reset_value); a generated column is computed anyway.
 */
static void
reset_field(RowWrite *w, const CaptureField *field)
{
	AttrNumber	att = field->attnum;
	Form_pg_attribute attr = TupleDescAttr(w->desc, att - 1);
	Datum		value;
	bool		isnull;

	w->decided[att - 1] = true;
	if (capture_field_changed(field, w->old_row, w->new_row) || attr->attgenerated)
		return;
	if (!reset_value(w, attr, &value, &isnull) || (isnull && attr->attnotnull))
		return;
	w->values[att - 1] = value;
	w->nulls[att - 1] = isnull;
	w->replace[att - 1] = true;
}

/* The field goes back to the old row's value. */
static void
put_back(RowWrite *w, const CaptureField *field)
{
	AttrNumber	att = field->attnum;

	if (w->old == NULL)
		return;
	w->values[att - 1] = w->old_row->values[att - 1];
	w->nulls[att - 1] = w->old_row->nulls[att - 1];
	w->replace[att - 1] = true;
}

/* The field keeps clock, which replaced prev (NULL: nothing). */
static void
keep_clock(RowWrite *w, const CaptureField *field, const char *clock, const char *prev)
{
	w->clocks = add_clock(w->clocks, field->name, clock);
	if (prev != NULL)
		w->prev = add_clock(w->prev, field->name, prev);
	keep_latest(w->latest, clock);
	w->decided[field->attnum - 1] = true;
}

static void write_field(RowWrite *w, const CaptureField *field);

/*
 * The columns the running statement lists when it is an INSERT into rel
 * (its target list: a column it leaves out takes the column's DEFAULT), into
 * *columns; false when that is not known: the statement is not the portal's
 * own (a function's, a trigger's, COPY), not a plain INSERT into rel (a
 * partition, a view), or it inserts into more than one table. Directus
 * inserts a create's fields that it keeps with one INSERT, run as the
 * portal's statement: a field it dropped (one its schema cache does not
 * know) is left out of the list, as the SET list of an update leaves it out.
 */
static bool
insert_column_list(Relation rel, const Bitmapset **columns)
{
	PlannedStmt *stmt;
	RangeTblEntry *rte;

	if (ActivePortal == NULL || list_length(ActivePortal->stmts) != 1 ||
		!IsA(linitial(ActivePortal->stmts), PlannedStmt))
		return false;
	stmt = linitial_node(PlannedStmt, ActivePortal->stmts);
	if (stmt->commandType != CMD_INSERT || list_length(stmt->resultRelations) != 1)
		return false;
	rte = rt_fetch(linitial_int(stmt->resultRelations), stmt->rtable);
	if (rte->rtekind != RTE_RELATION || rte->relid != RelationGetRelid(rel))
		return false;
	*columns = rte_inserted_columns(stmt, rte);
	return true;
}

/*
 * Whether the write gives the field a value of its own: an update's SET
 * list names it, or a sync's insert lists it (every column when the list is
 * not known: the rule before review 11).
 */
static bool
column_given(RowWrite *w, const CaptureField *field)
{
	int			member = field->attnum - FirstLowInvalidHeapAttributeNumber;

	if (w->old != NULL)
		return bms_is_member(member, w->set_columns);
	return !w->inserted_known || bms_is_member(member, w->inserted);
}

/*
 * A sync's update that brings a later clock for a field it does not set,
 * or a sync's insert that brings a clock for a field its column list
 * leaves out: the sender wrote the field, but its value did not come
 * (Directus drops a field it does not know: a stale schema cache, a remote
 * on Directus 10 or a field the sync user may not write, for an admin).
 * Taking the clock would give the value here (the old one, or on an insert
 * the column's DEFAULT: a copy that is not the write's value) the sender's
 * clock: it would beat older edits from other instances and travel
 * everywhere under that clock, and meet the writer's own value under the
 * same clock, which no rule can then tell from the copy in every order of
 * arrival (review 11: a DEFAULT now(), or one changed since). Nor may the
 * clock be left out silently: the sender's delivery would count as done,
 * and its value would never come. Refused, as a change without clocks is
 * (loop_guard.c): the sender tries again, until Directus passes the field.
 * The statement's SET or column list tells "not sent" from "sent with the
 * same value", which the row alone cannot (column_given).
 */
static void
refuse_clock_without_value(RowWrite *w, const CaptureField *field)
{
	const char *collection = RelationGetRelationName(w->rel);

	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("a sync sent a clock of field \"%s\" of collection \"%s\" without its value",
					field->name, collection),
			 errdetail("The update sets no column \"%s\"; its clock alone would make the value here look like the sender's.",
					   field->name),
			 errhint("Directus drops a field it does not know: clear its schema cache "
					 "(POST /utils/cache/clear?system=true as an admin), and give the sync user the right to update the field.")));
}

/*
 * The clock a sync brings for a field, into out; false when none: its "f"
 * member, or its "b" when it comes compact (every column at "b").
 *
 * The sender makes a create compact when it ships every column IT has; a
 * column of this table that the sender lacks is not in its payload. On an
 * update (a create that met an existing key, PATCHed, directus_apply.c) the
 * statement's SET list says which columns the payload carried: only those
 * are at "b", as queue_coalesce.c's expand_create counts only the payload's
 * members. Else a column of this instance alone would be "carried" without
 * its value, and refused for ever (refuse_clock_without_value). On an
 * insert the same holds of the INSERT's column list (column_given): a
 * column it leaves out (the sender lacks it, or Directus dropped it) holds
 * this instance's DEFAULT, not the sender's value, and takes no clock; any
 * clocked value beats it (two such, two instances' defaults, go as values
 * without clocks do: the last one taken). Until review 11 it took "b": a copy under the
 * writer's clock, which met the writer's value in a tie that no rule can
 * decide in every order of arrival when the DEFAULT is now() or changed
 * since. Where the list is not known (not the portal's own INSERT) every
 * column is at "b", as before.
 */
static bool
sent_clock(RowWrite *w, const CaptureField *field, char *out)
{
	if (w->sent.compact)
		return column_given(w, field) && clock_member(w->sent.root, "b", true, w->sent.sender, out);
	return clock_member(w->sent.fields, field->name, true, w->sent.sender, out);
}

/*
 * The columns that take clocks by name (columns by attnum - 1; attnum 0: none
 * there): a clock object's members are looked up per row, and a scan of the
 * row's columns for each would cost the square of a wide table's width.
 */
HTAB *
clock_row_columns_by_name(CaptureField *columns, int ncolumns, MemoryContext cxt)
{
	HASHCTL		ctl;
	HTAB	   *hash;

	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(ClockedColumn);
	ctl.hcxt = cxt;
	hash = hash_create("directus_sync clocked columns", Max(ncolumns, 8), &ctl,
					   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (int i = 0; i < ncolumns; i++)
	{
		if (columns[i].attnum != 0)
			((ClockedColumn *) hash_search(hash, columns[i].name, HASH_ENTER, NULL))->field = &columns[i];
	}
	return hash;
}

/* The column of a member name of a clock object; NULL: none that takes clocks. */
static const CaptureField *
member_column(RowWrite *w, const JsonbValue *name)
{
	char		key[NAMEDATALEN];
	ClockedColumn *entry;

	if (name->val.string.len >= NAMEDATALEN)
		return NULL;
	memcpy(key, name->val.string.val, name->val.string.len);
	key[name->val.string.len] = '\0';
	entry = hash_search(w->table->columns_by_name, key, HASH_FIND, NULL);
	return entry != NULL ? entry->field : NULL;
}

/*
 * A sync's clocks of fields this instance does not ship itself (a field
 * replicated one way, to here) are decided like the others.
 */
static void
write_sync_only_fields(RowWrite *w)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!w->sent.from_sync)
		return;
	if (w->sent.compact)
	{
		/*
		 * every column has the born clock; on an update, every column it
		 * sets (sent_clock): the others are not the sender's, as a full
		 * "f" would not name them
		 */
		for (int i = 0; i < w->desc->natts; i++)
		{
			const CaptureField *column = &w->table->columns[i];

			if (column->attnum != 0 && !w->decided[i] && column_given(w, column))
				write_field(w, column);
		}
		return;
	}
	if (w->sent.fields == NULL)
		return;
	it = JsonbIteratorInit(w->sent.fields);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		const CaptureField *column;

		if (tok == WJB_KEY && (column = member_column(w, &v)) != NULL &&
			!w->decided[column->attnum - 1])
			write_field(w, column);
	}
}

/*
 * Clocks the row has of fields no write decided (no longer subscribed, or
 * a column gone) stay as they are: dropping them would let any older value
 * win later.
 */
static void
keep_undecided(RowWrite *w, JsonbContainer *object, List **out, bool latest)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *name = NULL;

	if (object == NULL)
		return;
	it = JsonbIteratorInit(object);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			const CaptureField *column = member_column(w, &v);

			name = (column == NULL || !w->decided[column->attnum - 1])
				? pnstrdup(v.val.string.val, v.val.string.len) : NULL;
		}
		else if (tok == WJB_VALUE && name != NULL && v.type == jbvString &&
				 clock_text_valid(v.val.string.val, v.val.string.len))
		{
			char		clock[CLOCK_TEXT_LEN + 1];

			memcpy(clock, v.val.string.val, CLOCK_TEXT_LEN);
			clock[CLOCK_TEXT_LEN] = '\0';
			*out = add_clock(*out, name, clock);
			if (latest)
				keep_latest(w->latest, clock);
		}
	}
}

/*
 * Decides one field's value and clock: a sync's value with a later clock
 * is kept (with the clock it replaced at its origin), an earlier one put
 * back; a local change gets a new stamp; the rest keep what they had.
 */
static void
write_field(RowWrite *w, const CaptureField *field)
{
	char		have[CLOCK_TEXT_LEN + 1];
	char		came[CLOCK_TEXT_LEN + 1];
	char		prev[CLOCK_TEXT_LEN + 1];
	char		stamp[CLOCK_TEXT_LEN + 1];
	bool		has_clock = clock_member(w->stored.fields, field->name, false, NULL, have);
	bool		has_prev = clock_member(w->stored.prev, field->name, false, NULL, prev);
	bool		carried = w->sent.from_sync && sent_clock(w, field, came);

	if (w->sync_wins_whole && !carried)
	{
		reset_field(w, field);
		return;
	}
	if (carried)
	{
		/* the same clock: the same write again, or a copy that is not it */
		bool		tie = has_clock && strcmp(came, have) == 0;
		bool		write_back = !tie;
		bool		later = !has_clock || strcmp(came, have) > 0 ||
			(tie && sync_wins_tie(w, field, came, &write_back));

		observe(came);
		if (w->sync_loses_whole || (!later && !w->sync_wins_whole))
		{
			/* of two items with one key, the whole item is logged */
			if (has_clock && !w->sync_loses_whole)
				note_field_conflict(w, field, have, came, false);
			put_back(w, field);
			if (write_back || w->sync_loses_whole)
				w->sender_behind = true;
		}
		else
		{
			if ((!has_clock || strcmp(came, have) > 0) && !column_given(w, field))
				refuse_clock_without_value(w, field);
			if (has_clock && !w->sync_wins_whole)
				note_field_conflict(w, field, have, came, true);
			has_prev = clock_member(w->sent.prev, field->name, true, w->sent.sender, prev);
			keep_clock(w, field, came, has_prev ? prev : NULL);
			return;
		}
	}
	else if (w->old == NULL || capture_field_changed(field, w->old_row, w->new_row))
	{
		/*
		 * A sync's field without a clock is as old as can be. (Between two
		 * values without a clock the sync's is taken, as before review 11:
		 * ordering them by value, as _later orders registers of the empty
		 * clock, made t/077's asymmetric write-backs go round for ever.)
		 */
		if (w->sent.from_sync && has_clock)
			put_back(w, field);
		else if (!w->sent.from_sync)
		{
			stamp_after(has_clock ? have : NULL, &w->row_stamp, stamp);
			/*
			 * "p" is the write this edit was made after seeing. After an
			 * edit made here, the one that edit saw stays: an edit here saw
			 * every earlier one here, and a duplicate of the write before
			 * them must not look concurrent with the latest (only one step
			 * is kept, so writes of other instances in between still do).
			 */
			if (has_clock && has_prev && same_node(have, stamp))
				keep_clock(w, field, stamp, prev);
			else
				keep_clock(w, field, stamp, has_clock ? have : NULL);
			return;
		}
	}
	if (has_clock)
		keep_clock(w, field, have, has_prev ? prev : NULL);
}

/*
 * The item's alive clock: the later of the stored "a" and a sync's (of the
 * item that keeps the key, on an insert/insert), kept in the row when it is
 * later than every field clock kept, and counted in latest: a delete must be
 * later than it to remove the item. A delete ("d") brings no write: an "a"
 * beside it (the sender never puts one there) is not taken, lest the
 * delete's own payload make the item outlive it.
 */
static void
write_alive(RowWrite *w)
{
	char		clock[CLOCK_TEXT_LEN + 1];
	char		alive[CLOCK_TEXT_LEN + 1] = "";
	JsonbValue	buf;

	if (!w->sync_wins_whole && clock_member(w->stored.root, "a", false, NULL, clock))
		keep_latest(alive, clock);
	if (w->sent.from_sync && !w->sync_loses_whole && member(w->sent.root, "d", &buf) == NULL &&
		clock_member(w->sent.root, "a", true, w->sent.sender, clock))
	{
		observe(clock);
		keep_latest(alive, clock);
	}
	if (strcmp(alive, w->latest) > 0)
	{
		strcpy(w->alive, alive);
		strcpy(w->latest, alive);
	}
}

/* The whole old row as JSON text. */
static char *
row_json(RowWrite *w, HeapTuple tuple)
{
	Datum		row = heap_copy_tuple_as_datum(tuple, w->desc);

	return text_to_cstring(DatumGetTextPP(DirectFunctionCall1(row_to_json, row)));
}

/*
 * The born clock the row keeps: the stored one, a sync's, or a new stamp.
 * A sync's that differs from ours means two items were created with one
 * key: the one born later keeps it, whole. An item with no born clock (made
 * before clocks were enabled, here or at the sender) is born before every
 * clock, as _merge ranks it (a missing born is ""): a sync's item with one
 * takes the key from ours whole, and a sync's item with none loses it to
 * ours. (Until review 11 a missing born on either side took the other's and
 * merged field by field, where _merge keeps one item whole: the fold and a
 * third instance then mixed the two items' fields and clocks.) The same
 * item never has a born clock at one instance and none at another: an item
 * from before clocks goes without one everywhere, and clocks are enabled
 * on every instance before syncs resume.
 */
static void
write_born(RowWrite *w)
{
	char		have[CLOCK_TEXT_LEN + 1];
	char		came[CLOCK_TEXT_LEN + 1];
	JsonbValue	buf;
	bool		has_born = clock_member(w->stored.root, "b", false, NULL, have);
	/* a sync's delete names the item it deleted by "b": write_delete decides */
	bool		sync_write = w->sent.from_sync && w->old != NULL && member(w->sent.root, "d", &buf) == NULL;
	bool		sync_born = w->sent.from_sync && member(w->sent.root, "d", &buf) == NULL &&
		clock_member(w->sent.root, "b", true, w->sent.sender, came);
	const char *born = has_born ? have : sync_born ? came : NULL;
	char		stamp[CLOCK_TEXT_LEN + 1];

	if (sync_born)
		observe(came);
	if (sync_write && strcmp(has_born ? have : "", sync_born ? came : "") != 0)
	{
		ClockConflict *c;

		w->sync_wins_whole = strcmp(sync_born ? came : "", has_born ? have : "") > 0;
		w->sync_loses_whole = !w->sync_wins_whole;
		c = add_conflict(w, "insert_insert", has_born ? have : NULL, sync_born ? came : NULL,
						 w->sync_wins_whole);
		c->local_value = row_json(w, w->old);
		c->remote_value = row_json(w, w->new);
		born = w->sync_wins_whole ? came : has_born ? have : NULL;
	}
	/* a sync's item that has none (from before its instance had clocks) gets none here either */
	if (born == NULL && w->old == NULL && !w->sent.from_sync)
	{
		stamp_after(NULL, &w->row_stamp, stamp);
		born = stamp;
	}
	if (born != NULL)
		strlcpy(w->born, born, sizeof(w->born));
}

/*
 * The item's alive clock in a stored clock column (into out, "" when none):
 * the latest of its "a" and its fields' clocks. A payload that ships fewer
 * fields carries it as "a" when it is later than their clocks (capture.c).
 */
void
clock_row_alive(const RowClocks *stored, char *out)
{
	char		clock[CLOCK_TEXT_LEN + 1];

	out[0] = '\0';
	if (clock_member(stored->root, "a", false, NULL, clock))
		keep_latest(out, clock);
	if (stored->fields != NULL)
	{
		JsonbIterator *it = JsonbIteratorInit(stored->fields);
		JsonbValue	v;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_VALUE && v.type == jbvString &&
				clock_text_valid(v.val.string.val, v.val.string.len))
			{
				memcpy(clock, v.val.string.val, CLOCK_TEXT_LEN);
				clock[CLOCK_TEXT_LEN] = '\0';
				keep_latest(out, clock);
			}
		}
	}
}

/*
 * The clock of a delete of a row made here: later than this server's clock
 * and than every clock of the row, so that it beats what its writer saw.
 */
void
clock_row_delete_clock(HeapTuple old, AttrNumber clock_attnum, TupleDesc desc, char *out)
{
	RowClocks	stored = clock_row_read(old, clock_attnum, desc);
	char		latest[CLOCK_TEXT_LEN + 1] = "";
	char		clock[CLOCK_TEXT_LEN + 1];
	uint64		row_stamp = 0;

	clock_row_alive(&stored, latest);
	if (clock_member(stored.root, "b", false, NULL, clock))
		keep_latest(latest, clock);
	stamp_after(latest[0] ? latest : NULL, &row_stamp, out);
}

/*
 * The clock a delete of the item must be later than to remove it: by
 * default the item's latest clock, "a" included (the later of a delete and
 * an update wins, wherever the update was made); with delete_wins its born clock (a delete beats every write of the
 * item it deleted; an item born after it is another one).
 */
static const char *
survival_clock(RowWrite *w)
{
	return w->table->delete_wins ? w->born : w->latest;
}

/*
 * Refuses a sync's delete made under the other rule: instances that decide
 * deletes differently would never agree.
 */
static void
check_delete_rule(Relation rel, const ClockedTable *table, const RowClocks *sent)
{
	JsonbValue	buf;
	JsonbValue *rule = member(sent->root, "w", &buf);
	bool		sender_delete_wins = rule != NULL && rule->type == jbvBool && rule->val.boolean;

	if (rule != NULL && rule->type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid delete rule \"w\" in column \"%s\"", CLOCK_COLUMN),
				 errdetail("A replicated delete says true when it was made under delete_wins.")));
	if (sender_delete_wins != table->delete_wins)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("replicated delete of \"%s\" was made with delete_wins %s, but this instance has it %s",
						RelationGetRelationName(rel), sender_delete_wins ? "on" : "off",
						table->delete_wins ? "on" : "off"),
				 errhint("Run directus_sync.enable_clocks with the same delete_wins on every instance.")));
}

/*
 * The sweep a sync's write carries ("u": the latest delete of unknown born
 * its sender's tombstone keeps, which removes every item older than it),
 * into out; false when none. It is a clock like "d", observed. A delete
 * carries it beside its delete, a live item beside the item (a sweep that
 * lost to the item at the sender: _with_sweep).
 */
static bool
sent_sweep(const RowClocks *sent, char *out)
{
	JsonbValue	buf;

	if (!sent->from_sync || member(sent->root, "u", &buf) == NULL)
		return false;
	if (!clock_member(sent->root, "u", true, sent->sender, out))
		return false;
	observe(out);
	return true;
}

/*
 * Whether the tombstone here lacks the sweep (it has none as late): then it
 * goes on with the item to the other remotes, once, as a delete that is
 * news does; an instance that has it passed it on when it came.
 */
static bool
sweep_is_news(RowWrite *w, const char *item, const char *swept)
{
	char		deleted[CLOCK_TEXT_LEN + 1];
	char		born[CLOCK_TEXT_LEN + 1];
	char		kept[CLOCK_TEXT_LEN + 1];

	return !tombstone_read(RelationGetRelationName(w->rel), item, deleted, born, kept) ||
		strcmp(swept, kept) > 0;
}

/*
 * The sweep a sync's live item carries ("" none). Earlier than the item's
 * survival clock, as at its sender, it is kept for the tombstone. Later
 * (the item here lost the key to it, or is ours and born later than the
 * sender's but older than the sweep), it removes the item as _merge says:
 * an item that takes the key meets it in create_survives_delete, one that
 * keeps ours is deleted after the update like a sweep's delete.
 */
static void
sweep_beside_item(RowWrite *w, const char *item, const char *swept)
{
	if (swept[0] == '\0')
		return;
	if (strcmp(swept, survival_clock(w)) <= 0)
	{
		strcpy(w->sweep_beside, swept);
		if (sweep_is_news(w, item, swept))
			tombstone_expect_sweep_beside(RelationGetRelid(w->rel), item, swept);
		return;
	}
	if (w->old != NULL && !w->sync_wins_whole)
	{
		/* ours, born later than the sender's item: its delete goes there too, alone */
		tombstone_expect_delete(RelationGetRelid(w->rel), item, swept, "", swept);
		tombstone_expect_delete_to_sender(RelationGetRelid(w->rel), item);
		w->sender_behind = false;
	}
	else
		tombstone_write(RelationGetRelationName(w->rel), item, swept, "");
}

/*
 * A sync's delete (an update carrying "d"): later than the item's survival
 * clock, the capture trigger deletes the item after the update; else the
 * item stays, and the delete lost a conflict (a sweep, a delete of unknown
 * born, is kept in the tombstone all the same). An item born later than the
 * one the delete deleted ("b", when it says) is another item that got the
 * same key: it stays too, and goes back to the sender; one born earlier
 * lost the key to the deleted one, and goes with it (tombstone_born_earlier).
 * The sweep it carries ("u") removes the item too when later than its
 * survival clock, whatever its born clock; both go into the tombstone.
 * A live item's sweep (a sync that is no delete) is written to the
 * tombstone after the item is decided (sweep_beside): it lost to the item
 * at the sender, and goes there without a conflict.
 */
static void
write_delete(RowWrite *w, const char *item)
{
	char		deleted[CLOCK_TEXT_LEN + 1];
	char		deleted_born[CLOCK_TEXT_LEN + 1];
	char		swept[CLOCK_TEXT_LEN + 1];

	if (!sent_sweep(&w->sent, swept))
		swept[0] = '\0';
	if (w->sent.from_sync && !clock_member(w->sent.root, "d", true, w->sent.sender, deleted))
	{
		sweep_beside_item(w, item, swept);
		return;
	}
	if (!w->sent.from_sync || w->old == NULL)
		return;
	check_delete_rule(w->rel, w->table, &w->sent);
	observe(deleted);
	if (!clock_member(w->sent.root, "b", true, w->sent.sender, deleted_born))
		deleted_born[0] = '\0';
	if (tombstone_born_earlier(w->born, deleted_born) ||
		(strcmp(deleted, survival_clock(w)) > 0 && !tombstone_born_later(w->born, deleted_born)) ||
		(swept[0] != '\0' && strcmp(swept, survival_clock(w)) > 0))
		tombstone_expect_delete(RelationGetRelid(w->rel), item, deleted, deleted_born, swept);
	else
	{
		add_conflict(w, "update_delete", w->latest, deleted, false);
		w->sender_behind = true;
		/*
		 * A sweep that lost to the item here still deletes every older
		 * item: one that takes the key later (born later) must meet it
		 * (review 12: it was not kept, and such an item lived here only).
		 * So does the sweep a delete carries beside it. When it is news
		 * here it goes on with the item, which goes back (review 14: it
		 * went without it, and stopped here).
		 */
		if (deleted_born[0] == '\0' && strcmp(deleted, swept) > 0)
			strcpy(swept, deleted);
		if (swept[0] != '\0')
		{
			if (sweep_is_news(w, item, swept))
				tombstone_expect_sweep_beside(RelationGetRelid(w->rel), item, swept);
			tombstone_write(RelationGetRelationName(w->rel), item, swept, "");
		}
	}
}

/*
 * A sync's create of an item deleted here: older than the delete, it is
 * skipped (false, *deleted is the clock of the delete it lost to); later,
 * or born later than the item deleted, it brings the item back, unless it
 * is older than the tombstone's sweep (a delete of unknown born, which
 * deletes whatever item is older: tombstone_kills). Either way the update
 * and the delete conflicted.
 *
 * A sync's item that takes the key whole from the item here (born later,
 * write_born: a create that arrived as an update) meets the tombstone the
 * same way: the item here lost the key to it, so when the tombstone kills
 * it the key ends empty, as _merge says; the capture trigger deletes the
 * row after the update (review 12: it kept the key). A skipped create that
 * a sweep kills leaves its born clock in the tombstone, as a swept item
 * does (tombstone_keep_swept_born).
 */
static bool
create_survives_delete(RowWrite *w, const char *item, char *deleted)
{
	ClockConflict *c;
	bool		later;
	char		deleted_born[CLOCK_TEXT_LEN + 1];
	char		swept[CLOCK_TEXT_LEN + 1];
	const char *killer;

	if ((w->old != NULL && !w->sync_wins_whole) || !w->sent.from_sync ||
		!tombstone_read(RelationGetRelationName(w->rel), item, deleted, deleted_born, swept))
		return true;
	/* an item born later than the one deleted is another: the delete was not of it */
	killer = tombstone_kills(survival_clock(w), w->born, deleted, deleted_born, swept);
	later = killer == NULL;
	if (killer == swept)
		strlcpy(deleted, swept, CLOCK_TEXT_LEN + 1);
	/* (a born clock kept without its delete, "": the sweep killed that item) */
	if (deleted[0] == '\0')
		strlcpy(deleted, swept, CLOCK_TEXT_LEN + 1);
	c = add_conflict(w, "update_delete", deleted, w->latest, later);
	c->remote_value = row_json(w, w->new);
	if (later)
		return true;
	if (w->old != NULL)
	{
		tombstone_expect_delete(RelationGetRelid(w->rel), item, deleted, killer == swept ? "" : deleted_born,
								swept);
		tombstone_expect_delete_to_sender(RelationGetRelid(w->rel), item);
		return true;
	}
	if ((killer == swept || deleted_born[0] == '\0') && w->born[0] != '\0')
		tombstone_keep_swept_born(RelationGetRelationName(w->rel), item, w->born);
	return false;
}

/*
 * Whether a sync's create carries a delete alone ({"s", "d"}, and "b" the
 * born clock of the item deleted, "u" the sweep beside it, no fields), its
 * clock into clock, the born clock into born ("" none) and the sweep into
 * swept ("" none): the item was deleted at the sender before
 * it got here (its create folded into the delete there, or a resync of a
 * deleted item), and the remote answered that it lacks the item.
 */
bool
clock_row_is_tombstone(Relation rel, const ClockedTable *table, HeapTuple new, char *clock, char *born,
					   char *swept)
{
	RowClocks	sent = clock_row_read(new, table->attnum, RelationGetDescr(rel));

	if (!sent.from_sync || sent.fields != NULL ||
		!clock_member(sent.root, "d", true, sent.sender, clock))
		return false;
	refuse_own_sender(rel, &sent);
	check_delete_rule(rel, table, &sent);
	observe(clock);
	if (!clock_member(sent.root, "b", true, sent.sender, born))
		born[0] = '\0';
	if (!sent_sweep(&sent, swept))
		swept[0] = '\0';
	return true;
}

/*
 * Keeps a sync's delete of an item this instance lacks as its tombstone, so
 * that an older create arriving later is skipped; true when it is news here,
 * and then goes on to the other remotes (in a ring it would otherwise stop
 * at the first instance that lacked the item). Only a sync user may bring
 * it: the loop guard checks at commit.
 */
bool
clock_row_keep_tombstone(Relation rel, const char *item, const char *activity_item, int signer,
						 const char *clock, const char *born, const char *swept)
{
	char		have[CLOCK_TEXT_LEN + 1];
	char		have_born[CLOCK_TEXT_LEN + 1];
	char		have_swept[CLOCK_TEXT_LEN + 1];

	loop_guard_expect_sync(RelationGetRelationName(rel), activity_item, NIL, signer);
	/*
	 * news: what changes the tombstone (a delete of an item born later, or a
	 * later one of the same item; a delete of unknown born, or the sweep
	 * beside it, later than the sweep), so that it stops where it is known
	 */
	if (tombstone_read(RelationGetRelationName(rel), item, have, have_born, have_swept) &&
		!tombstone_after(clock, born, have, have_born) &&
		!((born == NULL || born[0] == '\0') && strcmp(clock, have_swept) > 0) &&
		!(swept != NULL && strcmp(swept, have_swept) > 0))
		return false;
	tombstone_write(RelationGetRelationName(rel), item, clock, born);
	if (swept != NULL && swept[0] != '\0')
		tombstone_write(RelationGetRelationName(rel), item, swept, "");
	return true;
}

/*
 * The remote whose inbound user's token signed the clocks a write brings
 * (sync_signature.c); 0 when it brings none, or unsigned ones.
 */
int
clock_row_signer(Relation rel, const ClockedTable *table, HeapTuple new, const char *item)
{
	bool		isnull;
	Datum		value = heap_getattr(new, table->attnum, RelationGetDescr(rel), &isnull);
	Jsonb	   *meta;

	if (isnull)
		return 0;
	meta = DatumGetJsonbP(value);
	if (!JB_ROOT_IS_OBJECT(meta))
		return 0;
	return sync_signature_signer(RelationGetRelationName(rel), item, meta);
}

static bool
clock_column_unchanged(HeapTuple old, HeapTuple new, AttrNumber attnum, TupleDesc desc)
{
	bool		old_null,
				new_null;
	Datum		a = heap_getattr(old, attnum, desc, &old_null);
	Datum		b = heap_getattr(new, attnum, desc, &new_null);

	return old_null == new_null && (old_null || datum_image_eq(a, b, false, -1));
}

/* The new clock column, built as jsonb (no JSON text to parse). */
static Datum
clock_column(RowWrite *w)
{
	JsonbParseState *state = NULL;
	JsonbValue *root;

	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (w->born[0] != '\0')
	{
		push_string(&state, WJB_KEY, "b");
		push_string(&state, WJB_VALUE, w->born);
	}
	push_clocks(&state, "f", w->clocks);
	if (w->prev != NIL)
		push_clocks(&state, "p", w->prev);
	if (w->alive[0] != '\0')
	{
		push_string(&state, WJB_KEY, "a");
		push_string(&state, WJB_VALUE, w->alive);
	}
	root = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(root));
}

/*
 * The new row of a write of a table with clocks (old: NULL for an insert),
 * with its clock column set and the fields a sync lost put back.
 * set_columns: an update's SET columns (TriggerData.tg_updatedcols). item: the
 * key as text; activity_item: as Directus's activity rows name the item;
 * signer: the remote whose signature the write's clocks carry, or 0.
 * NULL when a sync's create is older than the item's delete here (by the
 * table's delete rule): then *deleted is the delete's clock, and *conflicts
 * what to log.
 */
HeapTuple
clock_row_before(Relation rel, const ClockedTable *table, HeapTuple old, HeapTuple new,
				 const Bitmapset *set_columns, const char *item, const char *activity_item,
				 int signer, char *deleted, List **conflicts)
{
	AttrNumber	clock_attnum = table->attnum;
	RowWrite	w;
	bool		survives;

	tombstone_begin_write();
	memset(&w, 0, sizeof(w));
	w.rel = rel;
	w.table = table;
	w.desc = RelationGetDescr(rel);
	w.old = old;
	w.new = new;
	w.set_columns = set_columns;
	w.old_row = capture_row(old, w.desc);
	w.new_row = capture_row(new, w.desc);
	w.stored = clock_row_read(old, clock_attnum, w.desc);
	w.sent = clock_row_read(new, clock_attnum, w.desc);
	/* a column the write left as it was brings nothing (a sender mark stored while no trigger ran) */
	if (w.sent.from_sync && old != NULL && clock_column_unchanged(old, new, clock_attnum, w.desc))
		w.sent.from_sync = false;
	refuse_own_sender(rel, &w.sent);
	if (old == NULL && w.sent.from_sync)
		w.inserted_known = insert_column_list(rel, &w.inserted);
	w.values = palloc0(sizeof(Datum) * w.desc->natts);
	w.nulls = palloc0(sizeof(bool) * w.desc->natts);
	w.replace = palloc0(sizeof(bool) * w.desc->natts);
	w.decided = palloc0(sizeof(bool) * w.desc->natts);

	write_born(&w);
	for (int i = 0; i < table->nfields; i++)
		write_field(&w, &table->fields[i]);
	write_sync_only_fields(&w);
	/* the clocks of an item that lost its key to one born later go with it */
	if (!w.sync_wins_whole)
	{
		keep_undecided(&w, w.stored.fields, &w.clocks, true);
		keep_undecided(&w, w.stored.prev, &w.prev, false);
	}
	write_alive(&w);
	write_delete(&w, item);

	*conflicts = w.conflicts;
	survives = create_survives_delete(&w, item, deleted);
	/* after the item is decided: the sweep lost to it at the sender */
	if (w.sweep_beside[0] != '\0')
		tombstone_write(RelationGetRelationName(rel), item, w.sweep_beside, "");
	if (!survives)
	{
		*conflicts = w.conflicts;
		return NULL;
	}
	w.values[clock_attnum - 1] = clock_column(&w);
	w.replace[clock_attnum - 1] = true;
	if (w.sent.from_sync)
		loop_guard_expect_sync(RelationGetRelationName(rel), activity_item, w.conflicts, signer);
	if (w.sent.from_sync && old == NULL)
		tombstone_recheck_create(RelationGetRelid(rel), item, survival_clock(&w), w.born);
	/*
	 * The sync brought something older than what we have: its sender (and
	 * whoever it took that from) may never get ours otherwise (a change it
	 * lacks was folded into a delete, then the item came back). Ours goes
	 * to every remote, whole, as an upsert; where it is older it stops.
	 */
	if (w.sender_behind && old != NULL)
		tombstone_expect_write_back(RelationGetRelid(rel), item);
	*conflicts = NIL;
	return heap_modify_tuple(new, w.desc, w.values, w.nulls, w.replace);
}
