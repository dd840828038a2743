/*-------------------------------------------------------------------------
 *
 * clock_row.c
 *	  The clocks of an item's fields, kept in the item's own row: the
 *	  BEFORE ROW half of the capture trigger.
 *
 * A table whose items carry clocks has a jsonb column directus_sync_meta.
 * At rest it holds the clock of the last write of each replicated field and
 * the clock of the item's creation ("born"):
 *
 *		{"b": clock, "f": {field: clock, ...}}
 *
 * A local write (Directus, SQL, anything but a sync) stamps each field it
 * changes with a clock later than this server's clock and than the field's
 * previous clock: an edit made after seeing a value always beats that value,
 * whatever the skew between instances' clocks.
 *
 * A sync writes the sender's clocks into the same column (the worker puts
 * them in every payload, see capture.c):
 *
 *		{"s": sender node, "b": clock, "f": {field: clock, ...}}
 *
 * Each field the sync sets is kept when its clock is later than the stored
 * one and put back otherwise: every (item, field) is a last-writer-wins
 * register, so instances that receive the same writes in any order, any
 * number of times, end with the same values. Accepted clocks are observed
 * (clock.c); one too far ahead fails the write, and the sender tries again
 * later. The loop guard checks at commit that clocks came from a sync user
 * (loop_guard_expect_sync).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/rel.h"

#include "capture.h"
#include "clock.h"
#include "clock_row.h"
#include "loop_guard.h"

static JsonbValue *
member(JsonbContainer *object, const char *name, JsonbValue *buf)
{
	if (object == NULL)
		return NULL;
	return getKeyJsonValueFromContainer(object, name, strlen(name), buf);
}

/* The clock column of a row; all NULL when the row or the column is. */
RowClocks
clock_row_read(HeapTuple tuple, AttrNumber attnum, TupleDesc desc)
{
	RowClocks	rc = {NULL, NULL, false};
	bool		isnull;
	Datum		value;
	Jsonb	   *jb;
	JsonbValue	buf;
	JsonbValue *f;

	if (tuple == NULL)
		return rc;
	value = heap_getattr(tuple, attnum, desc, &isnull);
	if (isnull)
		return rc;
	jb = DatumGetJsonbP(value);
	if (!JB_ROOT_IS_OBJECT(jb))
		return rc;
	rc.root = &jb->root;
	f = member(rc.root, "f", &buf);
	if (f != NULL && f->type == jbvBinary && JsonContainerIsObject(f->val.binary.data))
		rc.fields = f->val.binary.data;
	rc.from_sync = member(rc.root, "s", &buf) != NULL;
	return rc;
}

/*
 * The clock text of member name of object, into out; false when absent.
 * A stored clock is trusted (only this file writes it); one that came with
 * a sync must be well formed.
 */
static bool
clock_member(JsonbContainer *object, const char *name, bool check, char *out)
{
	JsonbValue	buf;
	JsonbValue *v = member(object, name, &buf);

	if (v == NULL || v->type == jbvNull)
		return false;
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
	return clock_member(object, name, false, out);
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

static void
append_clock(StringInfo buf, const char *name, const char *clock)
{
	if (buf->data[buf->len - 1] != '{')
		appendStringInfoChar(buf, ',');
	escape_json(buf, name);
	appendStringInfo(buf, ":\"%s\"", clock);
}

/*
 * The clock a field keeps, into out (false: it has none), and whether the
 * new row must take the old row's value back (a sync's value that lost).
 */
static bool
field_clock(const CaptureField *field, RowClocks *stored, RowClocks *sent,
			HeapTuple old, HeapTuple new, TupleDesc desc, uint64 *row_stamp, char *out, bool *put_back)
{
	char		have[CLOCK_TEXT_LEN + 1];
	char		came[CLOCK_TEXT_LEN + 1];
	bool		has_clock = clock_member(stored->fields, field->name, false, have);

	*put_back = false;
	if (sent->from_sync && clock_member(sent->fields, field->name, true, came))
	{
		observe(came);
		if (!has_clock || strcmp(came, have) > 0)
		{
			strcpy(out, came);
			return true;
		}
		*put_back = old != NULL;
	}
	else if (old == NULL || capture_field_changed(field, old, new, desc))
	{
		/* a sync's field without a clock is as old as can be */
		if (sent->from_sync)
			*put_back = old != NULL && has_clock;
		else
		{
			stamp_after(has_clock ? have : NULL, row_stamp, out);
			return true;
		}
	}
	if (has_clock)
		strcpy(out, have);
	return has_clock;
}

/* The born clock the row keeps: the stored one, a sync's, or a new stamp. */
static bool
born_clock(RowClocks *stored, RowClocks *sent, bool insert, uint64 *row_stamp, char *out)
{
	if (clock_member(stored->root, "b", false, out))
		return true;
	if (sent->from_sync && clock_member(sent->root, "b", true, out))
	{
		observe(out);
		return true;
	}
	if (!insert)
		return false;
	stamp_after(NULL, row_stamp, out);
	return true;
}

/*
 * The new row of a write of a table with clocks (old: NULL for an insert),
 * with its clock column set and the fields a sync lost put back. fields: the
 * replicated fields, key excluded; item: the key as text, for the check of
 * who wrote clocks.
 */
HeapTuple
clock_row_before(Relation rel, HeapTuple old, HeapTuple new, AttrNumber clock_attnum,
				 int nfields, const CaptureField *fields, const char *item)
{
	TupleDesc	desc = RelationGetDescr(rel);
	RowClocks	stored = clock_row_read(old, clock_attnum, desc);
	RowClocks	sent = clock_row_read(new, clock_attnum, desc);
	int			natts = desc->natts;
	Datum	   *values = palloc0(sizeof(Datum) * natts);
	bool	   *nulls = palloc0(sizeof(bool) * natts);
	bool	   *replace = palloc0(sizeof(bool) * natts);
	StringInfoData buf;
	char		clock[CLOCK_TEXT_LEN + 1];
	uint64		row_stamp = 0;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	if (born_clock(&stored, &sent, old == NULL, &row_stamp, clock))
		appendStringInfo(&buf, "\"b\":\"%s\",", clock);
	appendStringInfoString(&buf, "\"f\":{");
	for (int i = 0; i < nfields; i++)
	{
		const CaptureField *field = &fields[i];
		bool		put_back;
		AttrNumber	att = field->attnum;

		if (field_clock(field, &stored, &sent, old, new, desc, &row_stamp, clock, &put_back))
			append_clock(&buf, field->name, clock);
		if (put_back)
		{
			values[att - 1] = heap_getattr(old, att, desc, &nulls[att - 1]);
			replace[att - 1] = true;
		}
	}
	appendStringInfoString(&buf, "}}");

	values[clock_attnum - 1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
	nulls[clock_attnum - 1] = false;
	replace[clock_attnum - 1] = true;
	if (sent.from_sync)
		loop_guard_expect_sync(RelationGetRelationName(rel), item);
	return heap_modify_tuple(new, desc, values, nulls, replace);
}
