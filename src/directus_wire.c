/*-------------------------------------------------------------------------
 *
 * directus_wire.c
 *	  Directus's REST API on the wire: the URLs and JSON bodies of our
 *	  requests, and what we read from answers (error codes, lists of keys).
 *
 * Formats only; directus.c decides what to send and what an answer means.
 * Answers come from a server we do not control: nothing here throws on a
 * malformed one, it reads as "no such field".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "directus_wire.h"

/* The longest error message kept from an answer. */
#define MAX_ERROR_MESSAGE 1000

/* ----------------------------------------------------------------
 * Requests
 * ---------------------------------------------------------------- */

static void
append_url_encoded(StringInfo buf, const char *s)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
			appendStringInfoChar(buf, c);
		else
			appendStringInfo(buf, "%%%02X", c);
	}
}

static void
append_key_json(StringInfo buf, const SyncItem *item)
{
	if (item->sub->key_is_number)
		appendStringInfoString(buf, item->key);
	else
		escape_json(buf, item->key);
}

/* The items URL of a collection; with ?fields=<key> for answers that list only keys. */
char *
directus_items_url(const char *base_url, const SyncSubscription *sub, bool with_key_fields)
{
	StringInfoData url;

	initStringInfo(&url);
	appendStringInfo(&url, "%s/items/", base_url);
	append_url_encoded(&url, sub->collection);
	if (with_key_fields)
	{
		appendStringInfoString(&url, "?fields=");
		append_url_encoded(&url, sub->key_column);
	}
	return url.data;
}

/* Appends the items' payloads, or their keys, as one JSON array. */
void
directus_append_json_array(StringInfo body, List *items, bool keys_only)
{
	ListCell   *lc;

	appendStringInfoChar(body, '[');
	foreach(lc, items)
	{
		SyncItem   *item = lfirst(lc);

		if (lc != list_head(items))
			appendStringInfoChar(body, ',');
		if (keys_only)
			append_key_json(body, item);
		else
			appendStringInfoString(body, item->payload);
	}
	appendStringInfoChar(body, ']');
}

/* GET of the items among these that the remote has, keys only. */
char *
directus_probe_url(const char *base_url, const SyncSubscription *sub, List *items)
{
	StringInfoData filter;
	StringInfoData url;

	initStringInfo(&filter);
	appendStringInfoChar(&filter, '{');
	escape_json(&filter, sub->key_column);
	appendStringInfoString(&filter, ":{\"_in\":");
	directus_append_json_array(&filter, items, true);
	appendStringInfoString(&filter, "}}");

	initStringInfo(&url);
	appendStringInfoString(&url, directus_items_url(base_url, sub, true));
	appendStringInfoString(&url, "&limit=-1&filter=");
	append_url_encoded(&url, filter.data);
	return url.data;
}

/* ----------------------------------------------------------------
 * Answers
 * ---------------------------------------------------------------- */

/* Parses JSON text; NULL if it is not JSON. Never throws. */
static Jsonb *
parse_json(const char *text)
{
	MemoryContext cxt = CurrentMemoryContext;
	Jsonb	   *volatile result = NULL;

	if (text == NULL || text[0] == '\0' ||
		!pg_verify_mbstr(GetDatabaseEncoding(), text, strlen(text), true))
		return NULL;
	PG_TRY();
	{
		result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		result = NULL;
	}
	PG_END_TRY();
	return result;
}

static bool
json_field(JsonbContainer *container, const char *name, JsonbValue *out)
{
	if (container == NULL || !JsonContainerIsObject(container))
		return false;
	return getKeyJsonValueFromContainer(container, name, strlen(name), out) != NULL;
}

static char *
json_scalar_text(const JsonbValue *v)
{
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	return NULL;
}

/* The first error's code and message of a Directus error body. */
void
directus_parse_error(const char *body, char **code, char **message)
{
	Jsonb	   *json = parse_json(body);
	JsonbValue	errors,
				first,
				v;
	JsonbValue *elem;

	*code = NULL;
	*message = NULL;
	if (json == NULL || !json_field(&json->root, "errors", &errors) || errors.type != jbvBinary)
		return;
	elem = getIthJsonbValueFromContainer(errors.val.binary.data, 0);
	if (elem == NULL || elem->type != jbvBinary)
		return;
	first = *elem;
	if (json_field(first.val.binary.data, "message", &v))
	{
		*message = json_scalar_text(&v);
		if (*message && strlen(*message) > MAX_ERROR_MESSAGE)
			(*message)[pg_mbcliplen(*message, strlen(*message), MAX_ERROR_MESSAGE)] = '\0';
	}
	if (json_field(first.val.binary.data, "extensions", &v) && v.type == jbvBinary)
	{
		JsonbValue	c;

		if (json_field(v.val.binary.data, "code", &c))
			*code = json_scalar_text(&c);
	}
}

/*
 * The keys in the data array of an answer ({"data":[{"<key>":...},...]});
 * false when the answer has no such array.
 */
bool
directus_answer_keys(const char *body, const char *key_column, List **keys)
{
	Jsonb	   *json = parse_json(body);
	JsonbValue	data;
	uint32		n;

	*keys = NIL;
	if (json == NULL || !json_field(&json->root, "data", &data) ||
		data.type != jbvBinary || !JsonContainerIsArray(data.val.binary.data))
		return false;
	n = JsonContainerSize(data.val.binary.data);
	for (uint32 i = 0; i < n; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(data.val.binary.data, i);
		JsonbValue	key;
		char	   *text;

		if (elem && elem->type == jbvBinary && json_field(elem->val.binary.data, key_column, &key) &&
			(text = json_scalar_text(&key)) != NULL)
			*keys = lappend(*keys, text);
	}
	return true;
}

