/*-------------------------------------------------------------------------
 *
 * queue_coalesce.c
 *	  Folding the queued rows of one item, in queue order, into its net
 *	  change: what the worker sends for the item in one request.
 *
 * create + update = create with both payloads merged, update + update =
 * update, anything + delete = delete, and create + delete = nothing, unless
 * the create may already have reached the remote, or the delete has a clock
 * (then a delete); delete + delete with clocks = a delete that carries
 * both (merge_deletes), as the remote's tombstone would keep them. A row
 * that cannot be folded in (a create after a delete) waits for the next
 * window, with every later row of its item. Rows whose born clock ("b")
 * differs are two items that had one key: a sync brought an item born
 * later, which took the key whole (clock_row.c; rows with none are of an
 * item from before clocks, born before any). Nothing of the earlier
 * rows (fields, clocks, "a", "p") is merged into the later one's: the fold
 * starts anew from the first row of the later-born item. A delete that
 * names another item than the one folded (its born clock differs, or it is
 * a sweep) is not folded into it: it waits for the next window.
 *
 * No database access: the claim (queue_claim.c) reads the rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/json.h"

#include "clock.h"
#include "queue_coalesce.h"
#include "worker_txn.h"

static SyncSubscription *
find_subscription(SyncRemote *remote, const char *collection)
{
	ListCell   *lc;

	foreach(lc, remote->subscriptions)
	{
		SyncSubscription *sub = lfirst(lc);

		if (strcmp(sub->collection, collection) == 0)
			return sub;
	}
	return NULL;
}

/* ----------------------------------------------------------------
 * Merging payloads
 *
 * An item's payloads are JSON objects that capture wrote, one field per
 * changed column. A merge keeps each field's last value, except in the
 * clocks of a table with clocks ("directus_sync_meta": {"s", "b", "f":
 * {field: clock}, "p": {field: clock}, "a": clock}), whose members, and the
 * members of its "f", are merged the same way: each shipped field keeps its
 * clock, and a later "a" (the item's alive clock, which only grows) the
 * earlier one's place; of "p" (the clock a change replaced) the earliest
 * stays. A create's compact clocks ({"s", "b"}: every field at the born
 * clock, capture.c) are first written out in full, so that a later
 * update's clocks replace its fields' one by one. Names and values
 * are copied as written, never de-escaped: a json value may hold what
 * PostgreSQL's JSON parser refuses to de-escape ("\u0000", a lone
 * surrogate) yet Directus takes, and the same column's name is always
 * written the same way.
 * ---------------------------------------------------------------- */

/* The top-level fields of JSON objects: a later value replaces an earlier one. */
typedef struct Fields
{
	List	   *names;			/* as written, quotes included */
	List	   *values;			/* as written */
} Fields;

static char *merge_objects(const char *earlier, const char *later, int depth);

/* Whether a member at this depth merges with its earlier value, member by member. */
static bool
merges_members(const char *name, int depth)
{
	return (depth == 0 && strcmp(name, "\"directus_sync_meta\"") == 0) ||
		(depth == 1 && (strcmp(name, "\"f\"") == 0 || strcmp(name, "\"p\"") == 0));
}

/*
 * A field's "p" is the clock the remote may still have: of a field changed
 * twice, the first change's.
 */
static bool
earlier_wins(const char *name, int depth)
{
	return depth == 1 && strcmp(name, "\"p\"") == 0;
}

/*
 * Whether a member at this depth keeps the later of two clocks: the sweep
 * ("u") a sync's item came with, as the receiver's tombstone keeps the
 * later. (Clocks as written compare by their stamps first; an own clock
 * is written short, and no two nodes write one stamp.)
 */
static bool
later_clock_wins(const char *name, int depth)
{
	return depth == 1 && strcmp(name, "\"u\"") == 0;
}

static void
set_field(Fields *f, char *name, char *value, int depth)
{
	ListCell   *n;
	ListCell   *v;

	forboth(n, f->names, v, f->values)
	{
		if (strcmp(lfirst(n), name) == 0)
		{
			if (earlier_wins(name, depth))
				lfirst(v) = merge_objects(value, lfirst(v), depth + 1);
			else if (merges_members(name, depth))
				lfirst(v) = merge_objects(lfirst(v), value, depth + 1);
			else if (!later_clock_wins(name, depth) || strcmp(value, lfirst(v)) > 0)
				lfirst(v) = value;
			return;
		}
	}
	f->names = lappend(f->names, name);
	f->values = lappend(f->values, value);
}

const char *
jtext_skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/*
 * After the JSON string that starts at p (its opening quote); NULL if it
 * does not end. (strcspn leaps over the plain characters: the sender scans
 * every payload it signs, long text values and all.)
 */
const char *
jtext_skip_string(const char *p)
{
	for (p++;; p++)
	{
		p += strcspn(p, "\"\\");
		if (*p == '\0')
			return NULL;
		if (*p == '"')
			return p + 1;
		/* the escaped character, a quote maybe, is part of the string */
		if (*++p == '\0')
			return NULL;
	}
}

/* After the JSON value that starts at p; NULL if it does not end. */
const char *
jtext_skip_value(const char *p)
{
	int			depth = 0;

	do
	{
		if (*p == '"')
		{
			if ((p = jtext_skip_string(p)) == NULL)
				return NULL;
		}
		else if (*p == '{' || *p == '[')
			depth++, p++;
		else if (*p == '}' || *p == ']')
		{
			if (depth-- == 0)
				return NULL;
			p++;
		}
		else if (*p == '\0')
			return NULL;
		else if (depth == 0)
		{
			/* a number, true, false or null */
			while (*p && strchr(",}] \t\n\r", *p) == NULL)
				p++;
		}
		else
			p++;
	} while (depth > 0);
	return p;
}

/*
 * Calls visit for each member of the JSON object at p, with its name (as
 * written, quotes included) and value (as written); false if p is no
 * object (members up to the fault are visited).
 */
bool
jtext_each_member(const char *p, MemberVisit visit, void *arg)
{
	p = jtext_skip_space(p);
	if (*p++ != '{')
		return false;
	p = jtext_skip_space(p);
	if (*p == '}')
		return true;
	for (;;)
	{
		const char *name = p;
		const char *name_end;
		const char *value;
		const char *value_end;

		if (*p != '"' || (name_end = jtext_skip_string(p)) == NULL)
			return false;
		p = jtext_skip_space(name_end);
		if (*p++ != ':')
			return false;
		value = jtext_skip_space(p);
		if ((value_end = jtext_skip_value(value)) == NULL || value_end == value)
			return false;
		visit(name, name_end - name, value, value_end - value, arg);
		p = jtext_skip_space(value_end);
		if (*p == '}')
			return true;
		if (*p++ != ',')
			return false;
		p = jtext_skip_space(p);
	}
}

typedef struct FieldsVisit
{
	Fields	   *fields;
	int			depth;
} FieldsVisit;

static void
visit_field(const char *name, int name_len, const char *value, int value_len, void *arg)
{
	FieldsVisit *v = arg;

	set_field(v->fields, pnstrdup(name, name_len), pnstrdup(value, value_len), v->depth);
}

/* Adds the fields of a JSON object to f; false if the text is not one. */
static bool
add_fields(Fields *f, const char *json, int depth)
{
	FieldsVisit v = {f, depth};

	return jtext_each_member(json, visit_field, &v);
}

/*
 * The payload of an item whose last create (or first row) is base and whose
 * later rows up to end are updates: the later values win. NULL if a payload
 * is not a JSON object.
 */
static char *
render_fields(Fields *f)
{
	StringInfoData out;
	ListCell   *name;
	ListCell   *value;

	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	forboth(name, f->names, value, f->values)
	{
		if (name != list_head(f->names))
			appendStringInfoChar(&out, ',');
		appendStringInfo(&out, "%s:%s", (char *) lfirst(name), (char *) lfirst(value));
	}
	appendStringInfoChar(&out, '}');
	return out.data;
}

/* Two JSON objects merged member by member; the later one if either is no object. */
static char *
merge_objects(const char *earlier, const char *later, int depth)
{
	Fields		f = {NIL, NIL};

	if (!add_fields(&f, earlier, depth) || !add_fields(&f, later, depth))
		return pstrdup(later);
	return render_fields(&f);
}

/* The value of member name (as written, quotes included) of f; NULL: none. */
static ListCell *
find_field(Fields *f, const char *name)
{
	ListCell   *n;
	ListCell   *v;

	forboth(n, f->names, v, f->values)
	{
		if (strcmp(lfirst(n), name) == 0)
			return v;
	}
	return NULL;
}

/*
 * A create's payload with its clocks in full: of a compact directus_sync_meta
 * ({"s", "b"} without "f"), each field the payload carries (its members but
 * the key and directus_sync_meta) at "b" as written, and no previous clocks,
 * which is what the receiver reads the compact form as (clock_row.c). Any
 * other payload as it is: one whose meta carries "d" is a delete alone
 * ({"s", "d", "b"}: "b" the born clock of the item deleted, no fields,
 * clock_row.c reads it so), which clocks would turn into a create of the
 * item. NULL if it is not a JSON object.
 */
static char *
expand_create(const char *payload, const SyncSubscription *sub)
{
	Fields		f = {NIL, NIL};
	Fields		meta = {NIL, NIL};
	ListCell   *meta_value;
	ListCell   *born;
	StringInfoData key;
	StringInfoData clocks;
	ListCell   *n;

	if (!add_fields(&f, payload, 0))
		return NULL;
	if ((meta_value = find_field(&f, "\"directus_sync_meta\"")) == NULL ||
		!add_fields(&meta, lfirst(meta_value), 1) ||
		(born = find_field(&meta, "\"b\"")) == NULL || find_field(&meta, "\"f\"") != NULL ||
		find_field(&meta, "\"d\"") != NULL)
		return (char *) payload;
	/* the key as capture names it (a singleton has none) */
	initStringInfo(&key);
	if (!sub->singleton && sub->key_column != NULL)
		escape_json(&key, sub->key_column);
	initStringInfo(&clocks);
	appendStringInfoChar(&clocks, '{');
	foreach(n, f.names)
	{
		const char *name = lfirst(n);

		if (strcmp(name, key.data) == 0 || strcmp(name, "\"directus_sync_meta\"") == 0)
			continue;
		if (clocks.len > 1)
			appendStringInfoChar(&clocks, ',');
		appendStringInfo(&clocks, "%s:%s", name, (char *) lfirst(born));
	}
	appendStringInfoChar(&clocks, '}');
	set_field(&meta, pstrdup("\"f\""), clocks.data, 1);
	set_field(&meta, pstrdup("\"p\""), pstrdup("{}"), 1);
	lfirst(meta_value) = render_fields(&meta);
	return render_fields(&f);
}

static char *
merge_payloads(const QueuedRow *rows, int base, int end, const SyncSubscription *sub)
{
	Fields		f = {NIL, NIL};

	for (int i = base; i < end; i++)
	{
		const char *payload = rows[i].payload;

		if (i == base && rows[i].op == SYNC_OP_CREATE && payload != NULL &&
			(payload = expand_create(payload, sub)) == NULL)
			return NULL;
		if (!add_fields(&f, payload, 0))
			return NULL;
	}
	return result_strdup(render_fields(&f));
}

/* ----------------------------------------------------------------
 * Folding
 * ---------------------------------------------------------------- */

/* A delete's payload: the delete's clock, on a table with clocks; else NULL. */
static char *
delete_payload(const QueuedRow *row)
{
	return row->payload ? result_strdup(row->payload) : NULL;
}

/*
 * A clock of a delete's directus_sync_meta (value as written: a JSON string
 * of a whole clock, or of the 16 hex digits of a clock of the sender's own,
 * which sender, "s" as written, completes as the receiver does); false
 * when it is absent or not one.
 */
static bool
meta_clock(Fields *meta, const char *name, const char *sender, char *out)
{
	ListCell   *v = find_field(meta, name);
	const char *text;
	size_t		len;

	if (v == NULL)
		return false;
	text = lfirst(v);
	len = strlen(text);
	if (len < 2 || text[0] != '"' || text[len - 1] != '"')
		return false;
	if (len - 2 == CLOCK_STAMP_LEN && sender != NULL)
	{
		size_t		slen = strlen(sender);

		if (slen < 2 || CLOCK_STAMP_LEN + slen - 1 > CLOCK_TEXT_LEN)
			return false;
		snprintf(out, CLOCK_TEXT_LEN + 1, "%.*s@%.*s", CLOCK_STAMP_LEN, text + 1, (int) slen - 2, sender + 1);
	}
	else
	{
		if (len - 2 > CLOCK_TEXT_LEN)
			return false;
		memcpy(out, text + 1, len - 2);
		out[len - 2] = '\0';
	}
	return clock_text_valid(out, strlen(out));
}

/* The deletes a delete's payload carries, as its receiver's tombstone keeps them. */
typedef struct DeleteParts
{
	char		born[CLOCK_TEXT_LEN + 1];	/* of the item it names ("" none) */
	char		deleted[CLOCK_TEXT_LEN + 1];	/* its delete ("" none) */
	char		swept[CLOCK_TEXT_LEN + 1];	/* the latest delete of unknown born ("" none) */
} DeleteParts;

/* Adds the deletes of a delete's payload to parts; false if it is not one. */
static bool
add_delete_parts(DeleteParts *parts, const char *payload, Fields *meta)
{
	Fields		f = {NIL, NIL};
	ListCell   *m;
	ListCell   *s;
	char		born[CLOCK_TEXT_LEN + 1];
	char		deleted[CLOCK_TEXT_LEN + 1];
	char		swept[CLOCK_TEXT_LEN + 1];
	int			c;

	if (!add_fields(&f, payload, 0) || (m = find_field(&f, "\"directus_sync_meta\"")) == NULL ||
		!add_fields(meta, lfirst(m), 1) || find_field(meta, "\"f\"") != NULL)
		return false;
	s = find_field(meta, "\"s\"");
	if (!meta_clock(meta, "\"d\"", s ? lfirst(s) : NULL, deleted))
		return false;
	if (meta_clock(meta, "\"u\"", s ? lfirst(s) : NULL, swept) && strcmp(swept, parts->swept) > 0)
		strcpy(parts->swept, swept);
	if (!meta_clock(meta, "\"b\"", s ? lfirst(s) : NULL, born))
	{
		/* a sweep */
		if (strcmp(deleted, parts->swept) > 0)
			strcpy(parts->swept, deleted);
		return true;
	}
	/* the item born later; of one item, the later delete (tombstone_after) */
	c = strcmp(born, parts->born);
	if (c > 0 || (c == 0 && strcmp(deleted, parts->deleted) > 0))
	{
		strcpy(parts->born, born);
		strcpy(parts->deleted, deleted);
	}
	return true;
}

/*
 * Two deletes of one item queued for a remote, folded into one that loses
 * neither: as the receiver's tombstone joins them (tombstone.c), of those
 * that name their item ("b") the one of the item born later, of one item
 * the later, and of the sweeps (a delete without "b", and a delete's "u")
 * the latest. Kept as the later delete alone, the earlier one's part was
 * lost: a remote that got only the fold decided a later create otherwise
 * than one that got both (review 12). The later payload's other members
 * ("s", "w") and key stay; clocks are written whole. The later payload as
 * it is when either is not a delete with a clock.
 */
static char *
merge_deletes(const char *earlier, const char *later)
{
	DeleteParts parts = {"", "", ""};
	Fields		meta_earlier = {NIL, NIL};
	Fields		meta = {NIL, NIL};
	Fields		out = {NIL, NIL};
	Fields		f = {NIL, NIL};
	ListCell   *n;
	ListCell   *v;

	if (earlier == NULL || later == NULL ||
		!add_delete_parts(&parts, earlier, &meta_earlier) || !add_delete_parts(&parts, later, &meta) ||
		!add_fields(&f, later, 0))
		return result_strdup(later);
	forboth(n, meta.names, v, meta.values)
	{
		if (strcmp(lfirst(n), "\"b\"") != 0 && strcmp(lfirst(n), "\"d\"") != 0 &&
			strcmp(lfirst(n), "\"u\"") != 0)
			set_field(&out, lfirst(n), lfirst(v), 1);
	}
	if (parts.born[0] != '\0')
	{
		set_field(&out, pstrdup("\"b\""), psprintf("\"%s\"", parts.born), 1);
		set_field(&out, pstrdup("\"d\""), psprintf("\"%s\"", parts.deleted), 1);
		if (parts.swept[0] != '\0')
			set_field(&out, pstrdup("\"u\""), psprintf("\"%s\"", parts.swept), 1);
	}
	else
		set_field(&out, pstrdup("\"d\""), psprintf("\"%s\"", parts.swept), 1);
	lfirst(find_field(&f, "\"directus_sync_meta\"")) = render_fields(&out);
	return result_strdup(render_fields(&f));
}

/*
 * The sweep ("u", as written) a queued create's or update's payload carries
 * beside its item into *sweep when it is later, with the payload's sender
 * ("s") into *sender.
 */
static void
note_sweep(const char *payload, char **sweep, char **sender)
{
	Fields		f = {NIL, NIL};
	Fields		meta = {NIL, NIL};
	ListCell   *m;
	ListCell   *u;
	ListCell   *s;

	if (payload == NULL || strstr(payload, "\"u\"") == NULL || !add_fields(&f, payload, 0) ||
		(m = find_field(&f, "\"directus_sync_meta\"")) == NULL || !add_fields(&meta, lfirst(m), 1) ||
		(u = find_field(&meta, "\"u\"")) == NULL ||
		(*sweep != NULL && strcmp(lfirst(u), *sweep) <= 0))
		return;
	*sweep = lfirst(u);
	s = find_field(&meta, "\"s\"");
	*sender = s ? lfirst(s) : NULL;
}

/*
 * The item's payload with the sweep a create or update folded into it came
 * with (note_sweep), as the receiver's tombstone keeps it: of a delete, its
 * sweep the later of the two (merge_deletes, the sweep as a delete of its
 * own); of a create or update, its "u". Folded into a later delete, or
 * before another item took the key, the sweep was lost: a remote that got
 * only the fold decided a later create otherwise (review 14).
 */
static char *
payload_with_sweep(SyncItem *item, const char *sweep, const char *sender)
{
	Fields		f = {NIL, NIL};
	Fields		meta = {NIL, NIL};
	ListCell   *m;

	if (item->payload == NULL || sender == NULL)
		return item->payload;
	if (item->op == SYNC_OP_DELETE)
		return merge_deletes(psprintf("{\"directus_sync_meta\":{\"s\":%s,\"d\":%s}}", sender, sweep),
							 item->payload);
	if (!add_fields(&f, item->payload, 0) || (m = find_field(&f, "\"directus_sync_meta\"")) == NULL ||
		!add_fields(&meta, lfirst(m), 1))
		return item->payload;
	set_field(&meta, pstrdup("\"u\""), pstrdup(sweep), 1);
	lfirst(m) = render_fields(&meta);
	return result_strdup(render_fields(&f));
}

/*
 * Folds one more queued row into an item. Returns false when the row cannot
 * be folded in: it must wait for the next window, behind what this window
 * ships. The payloads of updates are merged afterwards (merge_payloads).
 */
static bool
fold_row(SyncItem *item, const QueuedRow *row)
{
	switch (item->op)
	{
		case SYNC_OP_CREATE:
		case SYNC_OP_UPDATE:
			if (row->op == SYNC_OP_DELETE)
			{
				/*
				 * A create that may have arrived must be undone. A delete
				 * with a clock always goes: the remote may have the item
				 * from another instance, and must learn that it is gone.
				 */
				bool		cancels = item->op == SYNC_OP_CREATE && !item->maybe_sent && row->payload == NULL;

				item->op = cancels ? SYNC_OP_NONE : SYNC_OP_DELETE;
				item->payload = cancels ? NULL : delete_payload(row);
			}
			return row->op != SYNC_OP_CREATE;
		case SYNC_OP_DELETE:
			if (row->op == SYNC_OP_DELETE)
				item->payload = item->payload && row->payload
					? merge_deletes(item->payload, row->payload) : delete_payload(row);
			return row->op == SYNC_OP_DELETE;
		case SYNC_OP_NONE:
			if (row->op == SYNC_OP_CREATE)
			{
				item->op = SYNC_OP_CREATE;
				item->payload = result_strdup(row->payload);
				item->maybe_sent = row->maybe_sent;
				return true;
			}
			return row->op == SYNC_OP_DELETE;
	}
	return false;
}

static void
item_add_id(SyncItem *item, int64 id)
{
	if (item->nids == item->maxids)
	{
		item->maxids = Max(4, item->maxids * 2);
		item->ids = item->ids
			? repalloc(item->ids, sizeof(int64) * item->maxids)
			: result_alloc(sizeof(int64) * item->maxids);
	}
	item->ids[item->nids++] = id;
}

static SyncItem *
new_item(SyncRemote *remote, const QueuedRow *row)
{
	SyncItem   *item = result_alloc(sizeof(SyncItem));

	item->sub = find_subscription(remote, row->collection);
	item->key = result_strdup(row->key);
	item->op = row->op;
	item->payload = row->payload ? result_strdup(row->payload) : NULL;
	item->maybe_sent = row->maybe_sent && row->op == SYNC_OP_CREATE;
	/* the first row carries the item's attempts and backoff (_record) */
	item->attempts = row->attempts;
	item->outcome = ITEM_PENDING;
	if (item->sub == NULL)
	{
		/* unsubscribe deletes queued rows; this one raced with it */
		item->sub = result_alloc(sizeof(SyncSubscription));
		item->sub->collection = result_strdup(row->collection);
		item->outcome = ITEM_DEAD;
		item->error_code = "NO_SUBSCRIPTION";
		item->error_message = "the remote no longer subscribes to this collection";
	}
	return item;
}


/*
 * The born clock ("b" of directus_sync_meta) of a queued payload, whole
 * (quoted, "hex@node"); NULL when it has none (a table without clocks, an
 * item from before clocks). Capture writes a clock of this node as its 16
 * hex digits, which the payload's sender ("s") completes, while replay and
 * resync write the stored clock whole: one clock, two texts.
 */
typedef struct BornVisit
{
	const char *born;			/* out: as written, or NULL */
	int			born_len;
	const char *sender;			/* out: "s" as written, or NULL */
	int			sender_len;
	bool		in_meta;
} BornVisit;

static void
visit_born(const char *name, int name_len, const char *value, int value_len, void *arg)
{
	BornVisit  *v = arg;

	if (!v->in_meta)
	{
		if (name_len == (int) strlen("\"directus_sync_meta\"") &&
			strncmp(name, "\"directus_sync_meta\"", name_len) == 0)
		{
			v->in_meta = true;
			(void) jtext_each_member(value, visit_born, v);
			v->in_meta = false;
		}
	}
	else if (name_len == 3 && strncmp(name, "\"b\"", 3) == 0)
	{
		v->born = value;
		v->born_len = value_len;
	}
	else if (name_len == 3 && strncmp(name, "\"s\"", 3) == 0)
	{
		v->sender = value;
		v->sender_len = value_len;
	}
}

static char *
payload_born(const char *payload)
{
	BornVisit	v = {NULL, 0, NULL, 0, false};

	if (payload == NULL)
		return NULL;
	(void) jtext_each_member(payload, visit_born, &v);
	if (v.born == NULL)
		return NULL;
	if (v.born_len == CLOCK_STAMP_LEN + 2 && v.born[0] == '"' && v.sender != NULL &&
		v.sender_len > 2 && v.sender[0] == '"')
		return psprintf("\"%.*s@%.*s\"", CLOCK_STAMP_LEN, v.born + 1, v.sender_len - 2, v.sender + 1);
	return pnstrdup(v.born, v.born_len);
}

static int
by_id(const void *a, const void *b)
{
	int64		x = ((const QueuedRow *) a)->id;
	int64		y = ((const QueuedRow *) b)->id;

	return x < y ? -1 : x > y;
}

/*
 * Whether a queued delete names another item than the create or update the
 * fold holds (born at born, payload_born): the delete of an item that lost
 * the key to it, or a sweep (a delete of unknown born). Folded in, it would
 * take the item's place, and the remote would never get the item; it waits
 * for the next window instead, behind the item, and the remote decides the
 * two as this instance did. A delete that names the item itself folds in.
 */
static bool
deletes_other_item(const SyncItem *item, const QueuedRow *row, const char *born)
{
	char	   *deleted_born;

	if (row->op != SYNC_OP_DELETE || row->payload == NULL || born == NULL ||
		(item->op != SYNC_OP_CREATE && item->op != SYNC_OP_UPDATE))
		return false;
	deleted_born = payload_born(row->payload);
	return deleted_born == NULL || strcmp(deleted_born, born) != 0;
}

/*
 * Sorts the rows of one item by id and folds them into one SyncItem, in the
 * result context. *folded is how many of the sorted rows it covers: the
 * rest cannot be folded in and stay queued. NULL when there are no rows.
 */
SyncItem *
coalesce_rows(SyncRemote *remote, QueuedRow *rows, int nrows, int *folded)
{
	SyncItem   *item = NULL;
	int			base = 0,		/* the row whose payload the item's starts from */
				end;
	char	   *born = NULL;	/* the born clock of the rows from base */
	bool		unborn = false; /* one of them (not a delete) had none */
	char	   *sweep = NULL;	/* the latest sweep a create or update came with */
	char	   *sweep_sender = NULL;	/* and the sender of its payload */

	qsort(rows, nrows, sizeof(QueuedRow), by_id);
	for (end = 0; end < nrows; end++)
	{
		char	   *row_born = rows[end].op == SYNC_OP_DELETE ? NULL : payload_born(rows[end].payload);

		if (item == NULL)
			item = new_item(remote, &rows[end]);
		else if (deletes_other_item(item, &rows[end], born) || !fold_row(item, &rows[end]))
			break;
		else if (rows[end].op == SYNC_OP_CREATE)
			base = end, born = NULL, unborn = false;
		else if (row_born != NULL && (born != NULL ? strcmp(row_born, born) != 0 : unborn) &&
				 (item->op == SYNC_OP_CREATE || item->op == SYNC_OP_UPDATE))
		{
			/*
			 * Another item took the key (insert/insert: the one born later
			 * keeps it, whole; an item with no born clock, from before
			 * clocks, is born before every clock): the rows of the item it
			 * replaced are not merged into its own, whose row carries every
			 * field whose clock changed (clock_row.c drops the loser's
			 * registers).
			 */
			base = end;
			unborn = false;
			item->payload = result_strdup(rows[end].payload);
		}
		if (row_born != NULL && (born == NULL || base == end))
			born = row_born;
		if (row_born == NULL && rows[end].op != SYNC_OP_DELETE)
			unborn = true;
		if (rows[end].op != SYNC_OP_DELETE)
			note_sweep(rows[end].payload, &sweep, &sweep_sender);
		item->attempts = Max(item->attempts, rows[end].attempts);
		item_add_id(item, rows[end].id);
	}
	*folded = end;
	if (item != NULL && (item->op == SYNC_OP_CREATE || item->op == SYNC_OP_UPDATE) && end - base > 1)
	{
		item->payload = merge_payloads(rows, base, end, item->sub);
		/* a payload that is not an object: its rows go one window at a time */
		if (item->payload == NULL)
			return coalesce_rows(remote, rows, base + 1, folded);
	}
	if (item != NULL && sweep != NULL && end > 1)
		item->payload = payload_with_sweep(item, sweep, sweep_sender);
	return item;
}
