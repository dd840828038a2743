/*-------------------------------------------------------------------------
 *
 * directus_wire.c
 *	  Directus's REST API on the wire: the URLs and JSON bodies of our
 *	  requests, and what we read from answers (error codes, which items an
 *	  answer lists, meta.filter_count).
 *
 * Formats only; directus.c decides what to send and what an answer means.
 * Answers come from a server we do not control: nothing here throws on a
 * malformed one, it reads as "no such field"; and what we keep of an error
 * (its code and message, which go into the server log, the dead letters and
 * notifications) is cleaned and capped first (directus_clean_text).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "directus_wire.h"
#include "keyhash.h"
#include "sync_signature.h"

/* The longest error message kept from an answer, in bytes. */
#define MAX_ERROR_MESSAGE 1000

/*
 * An error code is Directus's (INVALID_PAYLOAD, RECORD_NOT_UNIQUE): up to
 * this long, of A-Z, 0-9 and _. Any other is replaced by MALFORMED_CODE.
 */
#define MAX_ERROR_CODE 64
#define MALFORMED_CODE "MALFORMED_CODE"

/* What replaces an invisible character; and the mark of a text cut short. */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"	/* U+FFFD */
#define UTF8_ELLIPSIS "\xE2\x80\xA6"	/* U+2026 */

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

/*
 * A key in a JSON array: a number as a number, unless it has no JSON form
 * (numeric and float keys can be NaN or infinite; capture refuses new ones,
 * but a row from before the subscription can be deleted): then a string,
 * which Directus matches against such a key as PostgreSQL reads it.
 */
/* Whether s is a JSON number: what may go into a body unquoted. */
static bool
is_json_number(const char *s)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (!isdigit((unsigned char) *p))
		return false;
	while (isdigit((unsigned char) *p))
		p++;
	if (*p == '.')
	{
		p++;
		if (!isdigit((unsigned char) *p))
			return false;
		while (isdigit((unsigned char) *p))
			p++;
	}
	if (*p == 'e' || *p == 'E')
	{
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char) *p))
			return false;
		while (isdigit((unsigned char) *p))
			p++;
	}
	return *p == '\0';
}

/*
 * Whether a JSON number of len bytes survives Directus's JSON.parse: at
 * most 15 significant digits, which a double holds exactly. A longer one
 * (a bigint past 2^53, a precise numeric) must go as a string, which
 * PostgreSQL reads back exactly.
 */
bool
directus_exact_number(const char *s, int len)
{
	int			digits = 0;
	bool		leading = true;

	for (int i = 0; i < len && s[i] != 'e' && s[i] != 'E'; i++)
	{
		if (!isdigit((unsigned char) s[i]))
			continue;
		if (leading && s[i] == '0')
			continue;
		leading = false;
		digits++;
	}
	return digits <= 15;
}

/*
 * A key as JSON: a number for a numeric key, else a string. A key that is
 * not a JSON number (NaN, a key column whose type changed) is a string, so
 * that no key can ever add elements to a JSON array of keys; so is one that
 * a double cannot hold (another key would be addressed).
 */
static void
append_key_json(StringInfo buf, const SyncItem *item)
{
	if (item->sub->key_is_number && is_json_number(item->key) &&
		directus_exact_number(item->key, strlen(item->key)))
		appendStringInfoString(buf, item->key);
	else
		escape_json(buf, item->key);
}

/* What an items URL asks to read back. */
typedef enum UrlKind
{
	URL_PLAIN,					/* nothing */
	URL_KEYS,					/* ?fields=<key> */
	URL_ALL_KEYS,				/* ?fields=<key>&limit=-1 */
	URL_ALL_KEYS_AND_CLOCKS		/* ?fields=<key>,directus_sync_meta&limit=-1 */
} UrlKind;

/*
 * The items URL of a collection. URL_KEYS adds ?fields=<key>, for answers
 * that list only keys; URL_ALL_KEYS also asks for every key (limit=-1):
 * without a limit, a Directus with QUERY_LIMIT_MAX set cuts the answer to
 * min(QUERY_LIMIT_DEFAULT, QUERY_LIMIT_MAX) items, and an explicit limit
 * over QUERY_LIMIT_MAX is refused (400 INVALID_QUERY), while -1 means
 * QUERY_LIMIT_MAX there and no limit elsewhere.
 */
static char *
items_url(const char *base_url, const SyncSubscription *sub, UrlKind kind)
{
	StringInfoData url;

	initStringInfo(&url);
	appendStringInfo(&url, "%s/items/", base_url);
	append_url_encoded(&url, sub->collection);
	if (kind != URL_PLAIN)
	{
		appendStringInfoString(&url, "?fields=");
		append_url_encoded(&url, sub->key_column);
	}
	if (kind == URL_ALL_KEYS_AND_CLOCKS)
		appendStringInfoString(&url, "%2Cdirectus_sync_meta");
	if (kind == URL_ALL_KEYS || kind == URL_ALL_KEYS_AND_CLOCKS)
		appendStringInfoString(&url, "&limit=-1");
	return url.data;
}

/* Whether any of the items carries clocks (a table with clocks, clock_row.c). */
bool
directus_items_carry_clocks(List *items)
{
	ListCell   *lc;

	foreach(lc, items)
	{
		SyncItem   *item = lfirst(lc);

		if (item->payload != NULL && strstr(item->payload, "\"directus_sync_meta\":") != NULL)
			return true;
	}
	return false;
}

/* Appends an item's payload, its clocks signed with sign_key (NULL: as it is). */
static void
append_item_payload(StringInfo body, const SyncItem *item, const char *sign_key)
{
	if (sign_key == NULL)
	{
		appendStringInfoString(body, item->payload);
		return;
	}
	/* a singleton goes without its key (sync_signature.c) */
	sync_signature_append_payload(body, item->payload, sign_key, item->sub->collection,
								  item->sub->singleton ? "" : item->key);
}

/*
 * Appends the items' payloads (their clocks signed with sign_key, unless
 * NULL), or their keys, as one JSON array.
 */
static void
append_json_array(StringInfo body, List *items, bool keys_only, const char *sign_key)
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
			append_item_payload(body, item, sign_key);
	}
	appendStringInfoChar(body, ']');
}

/*
 * GET of the items among these that the remote has, keys only. The answer
 * carries meta.filter_count, how many of them it has: more than it lists
 * means the list was cut short (QUERY_LIMIT_MAX).
 */
static char *
probe_url(const char *base_url, const SyncSubscription *sub, List *items)
{
	StringInfoData filter;
	StringInfoData url;

	initStringInfo(&filter);
	appendStringInfoChar(&filter, '{');
	escape_json(&filter, sub->key_column);
	appendStringInfoString(&filter, ":{\"_in\":");
	append_json_array(&filter, items, true, NULL);
	appendStringInfoString(&filter, "}}");

	initStringInfo(&url);
	/*
	 * Of items with clocks the probe also asks for their field: a Directus
	 * 11 or 12 whose collection lacks it answers 403 naming it (a missing
	 * item's delete then does not go as a create of its key alone, which
	 * such a remote would keep as an empty item).
	 */
	appendStringInfoString(&url, items_url(base_url, sub, directus_items_carry_clocks(items)
										   ? URL_ALL_KEYS_AND_CLOCKS : URL_ALL_KEYS));
	appendStringInfoString(&url, "&meta=filter_count&filter=");
	append_url_encoded(&url, filter.data);
	return url.data;
}

/*
 * The request of one step: its method, URL and body (in the current memory
 * context). Creates and updates read back keys only; an update's answer
 * must list every key it found, so it asks for all of them. Their clocks
 * are signed with token, the one the request goes with (sync_signature.c).
 */
HttpRequest *
directus_request(const char *base_url, const char *token, DirectusRequestKind kind,
				 const SyncSubscription *sub, List *items)
{
	HttpRequest *req = palloc0(sizeof(HttpRequest));

	switch (kind)
	{
		case DIRECTUS_CREATE:
		case DIRECTUS_UPDATE:
			req->method = kind == DIRECTUS_CREATE ? "POST" : "PATCH";
			req->url = items_url(base_url, sub, kind == DIRECTUS_CREATE ? URL_KEYS : URL_ALL_KEYS);
			initStringInfo(&req->body);
			append_json_array(&req->body, items, false, token);
			break;
		case DIRECTUS_DELETE:
			req->method = "DELETE";
			req->url = items_url(base_url, sub, URL_PLAIN);
			initStringInfo(&req->body);
			append_json_array(&req->body, items, true, NULL);
			break;
		case DIRECTUS_SINGLETON:
			req->method = "PATCH";
			req->url = items_url(base_url, sub, URL_PLAIN);
			initStringInfo(&req->body);
			append_item_payload(&req->body, linitial(items), token);
			break;
		case DIRECTUS_PROBE:
			req->method = "GET";
			req->url = probe_url(base_url, sub, items);
			break;
		case DIRECTUS_PING:
			/* public in Directus 10 to 12 (app.ts), and its answer carries Date */
			req->method = "GET";
			req->url = psprintf("%s/server/ping", base_url);
			break;
	}
	return req;
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

/*
 * How many bytes of s (ending at end) make its next character, and what it
 * becomes: NULL to keep it, " " for a line break or tab (also U+0085, U+2028
 * and U+2029), U+FFFD (outside UTF-8: "?") for other control characters (C0,
 * DEL, C1) and for those that reorder or hide text (bidirectional marks,
 * embeddings, overrides and isolates), and for a byte that starts no valid
 * character. Outside UTF-8 databases every character beyond ASCII is "?".
 */
static const char *
clean_char(const unsigned char *s, const unsigned char *end, bool utf8, int *len)
{
	const char *replacement = utf8 ? UTF8_REPLACEMENT : "?";
	pg_wchar	c;

	*len = 1;
	if (*s < 0x80)
		return (*s >= '\t' && *s <= '\r') ? " " : (*s < 0x20 || *s == 0x7f) ? replacement : NULL;
	if (!utf8)
	{
		*len = Min(pg_mblen((const char *) s), (int) (end - s));
		return "?";
	}
	*len = pg_utf_mblen(s);
	if (*len > end - s || !pg_utf8_islegal(s, *len))
	{
		*len = 1;
		return replacement;
	}
	c = utf8_to_unicode(s);
	if (c == 0x85 || c == 0x2028 || c == 0x2029)
		return " ";
	if (c <= 0x9f || c == 0x61c || c == 0x200e || c == 0x200f || (c >= 0x202a && c <= 0x202e) ||
		(c >= 0x2066 && c <= 0x2069))
		return replacement;
	return NULL;
}

/*
 * Text that a remote sent (an error message), fit to be stored, logged and
 * shown: one line of visible characters (clean_char), at most max_bytes
 * bytes, cut on a character boundary and ending with U+2026 (outside UTF-8:
 * "...") when it was longer. s is in the database's encoding. Reads no
 * further than it writes: a megabyte costs no more than max_bytes.
 */
char *
directus_clean_text(const char *s, int max_bytes)
{
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;
	const char *cut = utf8 ? UTF8_ELLIPSIS : "...";
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + strlen(s);
	StringInfoData buf;
	int			fits_cut = 0;	/* the length that leaves room for cut */

	initStringInfo(&buf);
	while (p < end)
	{
		int			len;
		const char *repl = clean_char(p, end, utf8, &len);
		int			outlen = repl ? (int) strlen(repl) : len;

		if (buf.len + outlen > max_bytes)
		{
			buf.len = fits_cut;
			buf.data[buf.len] = '\0';
			appendStringInfoString(&buf, cut);
			break;
		}
		appendBinaryStringInfo(&buf, repl ? repl : (const char *) p, outlen);
		if (buf.len + (int) strlen(cut) <= max_bytes)
			fits_cut = buf.len;
		p += len;
	}
	return buf.data;
}

/* A code as Directus makes them, or MALFORMED_CODE. */
static char *
clean_code(char *code)
{
	size_t		len = strlen(code);

	if (len == 0 || len > MAX_ERROR_CODE ||
		strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != len)
		return pstrdup(MALFORMED_CODE);
	return code;
}

/*
 * The first error's code and message of a Directus error body, cleaned
 * (directus_clean_text, clean_code).
 */
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
	if (json_field(first.val.binary.data, "message", &v) && (*message = json_scalar_text(&v)) != NULL)
		*message = directus_clean_text(*message, MAX_ERROR_MESSAGE);
	if (json_field(first.val.binary.data, "extensions", &v) && v.type == jbvBinary)
	{
		JsonbValue	c;

		if (json_field(v.val.binary.data, "code", &c) && (*code = json_scalar_text(&c)) != NULL)
			*code = clean_code(*code);
	}
}

/* meta.filter_count of an answer; -1 when it has none (or not a count). */
static int
answer_filter_count(Jsonb *json)
{
	JsonbValue	meta,
				count;
	bool		error = false;
	int			n;

	if (!json_field(&json->root, "meta", &meta) || meta.type != jbvBinary ||
		!json_field(meta.val.binary.data, "filter_count", &count) || count.type != jbvNumeric)
		return -1;
	n = numeric_int4_opt_error(count.val.numeric, &error);
	return error || n < 0 ? -1 : n;
}

typedef struct KeyEntry
{
	char	   *key;
} KeyEntry;

/* Splits items into those whose key is in keys and the others. */
static void
partition(List *items, List *keys, List **listed, List **unlisted)
{
	KeyHash    *set = keyhash_create("directus_sync keys", Max(list_length(keys), 16),
									 sizeof(KeyEntry), CurrentMemoryContext);
	ListCell   *lc;
	bool		found;

	foreach(lc, keys)
		(void) keyhash_enter(set, lfirst(lc), &found);
	*listed = *unlisted = NIL;
	foreach(lc, items)
	{
		SyncItem   *item = lfirst(lc);

		if (keyhash_find(set, item->key) != NULL)
			*listed = lappend(*listed, item);
		else
			*unlisted = lappend(*unlisted, item);
	}
	keyhash_destroy(set);
}

/*
 * Which of the items an answer lists, by the keys in its data array
 * ({"data":[{"<key>":...},...]}); false when the answer has no such array.
 */
bool
directus_answer_items(const char *body, const char *key_column, List *items, DirectusListed *out)
{
	Jsonb	   *json = parse_json(body);
	JsonbValue	data;
	List	   *keys = NIL;
	uint32		n;

	memset(out, 0, sizeof(DirectusListed));
	out->filter_count = -1;
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
			keys = lappend(keys, text);
	}
	partition(items, keys, &out->listed, &out->unlisted);
	out->nkeys = list_length(keys);
	out->filter_count = answer_filter_count(json);
	return true;
}
