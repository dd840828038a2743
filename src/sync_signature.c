/*-------------------------------------------------------------------------
 *
 * sync_signature.c
 *	  Signed clocks: how a receiving database knows a sync's write from
 *	  anyone else's without Directus's activity rows.
 *
 * Only a sync may bring clocks (directus_sync_meta): anyone else could make
 * an old edit beat every later one. The loop guard knows a sync by the
 * activity row Directus writes with each change, naming the remote's
 * inbound user; a collection whose accountability is off gets none. So the
 * sender signs the clocks of every item it sends: "g" in the item's
 * directus_sync_meta, an HMAC-SHA256 of the collection, the key and the
 * rest of directus_sync_meta (as jsonb text), keyed with the static token
 * the sender writes with. The receiving database holds that token as its
 * remote's inbound user's directus_users.token (Directus keeps static
 * tokens so): a signature one of those tokens makes is that remote's sync.
 *
 * A signature counts only where Directus tracks no activity for the
 * collection (its accountability is off); elsewhere Directus's activity row
 * tells a sync, and its revisions keep what a sync sent, signature
 * included. It covers the item and its clocks, not the values of its
 * fields, which Directus may write in another form than they came in (json
 * text spaced again, a timestamp in the server's zone), so the receiver
 * could not check them: whoever holds a signed meta could send it again
 * with other values. Where it counts it travels only in the request: the
 * receiver keeps no "g", and Directus writes no activity or revision. A
 * signature vouches for the write that carries it only (loop_guard.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "capture.h"
#include "queue_coalesce.h"
#include "queue_write.h"
#include "sync_signature.h"

#define SIGNATURE_MEMBER "g"
#define SIGNATURE_HEX_LEN (PG_SHA256_DIGEST_LENGTH * 2)

/*
 * What checking signatures reads, once per statement that needs it (a
 * token changed or an inbound user cleared by an earlier statement of the
 * transaction counts at once): the inbound users' tokens. And, once per
 * transaction (a Directus request writes each item in a statement of its
 * own, and a collection's accountability changes with Directus's schema,
 * rarely), which collections Directus tracks no activity for.
 */
typedef struct InboundToken
{
	int			remote_id;
	char	   *token;
} InboundToken;

typedef struct CollectionTracking
{
	char	   *collection;
	bool		accountability_off;
} CollectionTracking;

static MemoryContext statement_cxt = NULL;	/* in TopTransactionContext */
static CommandId statement_cid;
static List *inbound_tokens = NIL;
static bool inbound_tokens_read = false;
static List *trackings = NIL;	/* in TopTransactionContext */

static void
forget_statement(XactEvent event, void *arg)
{
	(void) arg;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		/* freed with TopTransactionContext */
		statement_cxt = NULL;
		trackings = NIL;
	}
}

/* The statement's context, emptied when the statement is another one. */
static MemoryContext
statement_context(void)
{
	CommandId	cid = GetCurrentCommandId(false);

	if (statement_cxt == NULL)
		statement_cxt = AllocSetContextCreate(TopTransactionContext, "directus_sync signatures",
											  ALLOCSET_SMALL_SIZES);
	else if (cid == statement_cid)
		return statement_cxt;
	else
		MemoryContextReset(statement_cxt);
	statement_cid = cid;
	inbound_tokens = NIL;
	inbound_tokens_read = false;
	return statement_cxt;
}

void
sync_signature_init(void)
{
	RegisterXactCallback(forget_statement, NULL);
}

/*
 * HMAC-SHA256(token, "directus_sync 1" US collection US key US meta) in hex,
 * into out. One context serves every signature of the process (the sender
 * signs each item it ships: creating an OpenSSL context per item cost as
 * much as the rest of the signature). With OpenSSL a context is a resource
 * of CurrentResourceOwner, which the worker has not between transactions
 * (it builds its requests there), and which a transaction's end releases:
 * so it belongs to an owner of this file's own, never released.
 */
static void
sign(const char *token, const char *collection, const char *key, const char *meta, char *out)
{
	static const char unit_separator = '\x1f';
	static ResourceOwner own_owner = NULL;
	static pg_hmac_ctx *ctx = NULL;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];

	if (ctx == NULL)
	{
		ResourceOwner saved_owner = CurrentResourceOwner;

		if (own_owner == NULL)
			own_owner = ResourceOwnerCreate(NULL, "directus_sync signatures");
		CurrentResourceOwner = own_owner;
		ctx = pg_hmac_create(PG_SHA256);
		CurrentResourceOwner = saved_owner;
		if (ctx == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	/* pg_hmac_init starts afresh, whatever the context did before */
	if (pg_hmac_init(ctx, (const uint8 *) token, strlen(token)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) "directus_sync 1", strlen("directus_sync 1")) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) &unit_separator, 1) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) collection, strlen(collection)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) &unit_separator, 1) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) key, strlen(key)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) &unit_separator, 1) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) meta, strlen(meta)) < 0 ||
		pg_hmac_final(ctx, digest, sizeof(digest)) < 0)
	{
		/* made afresh next time */
		pg_hmac_free(ctx);
		ctx = NULL;
		elog(ERROR, "could not compute a signature");
	}
	hex_encode((const char *) digest, sizeof(digest), out);
	out[SIGNATURE_HEX_LEN] = '\0';
}

/* The jsonb text both sides sign: directus_sync_meta without "g". */
static char *
signed_text(Jsonb *meta)
{
	Jsonb	   *rest = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(meta),
														  CStringGetTextDatum(SIGNATURE_MEMBER)));

	return JsonbToCString(NULL, &rest->root, VARSIZE(rest));
}

/* ----------------------------------------------------------------
 * The sender
 * ---------------------------------------------------------------- */

/*
 * The canonical text of a directus_sync_meta straight from its JSON text,
 * for the sender, which signs every item it ships: the text signed_text
 * gives for jsonb_in of it (members in jsonb's order, shorter names first,
 * then bytewise; ", " and ": " between; "g" left out at the top), without
 * building the jsonb, which was most of a signature's cost. It knows only
 * what capture writes there: objects (three deep at most) of strings and
 * booleans.
 * Anything else (a number, null, an array, an escape in a string, a name
 * twice) gives NULL, and the caller goes through jsonb: the text signed is
 * the same either way, which the receiver's check relies on.
 */
typedef struct MetaMember
{
	const char *name;			/* after its opening quote */
	int			name_len;
	const char *value;			/* its canonical text */
	int			value_len;
} MetaMember;

static int
meta_member_cmp(const void *a, const void *b)
{
	const MetaMember *x = a;
	const MetaMember *y = b;

	/* jsonb's order of an object's keys (lengthCompareJsonbStringValue) */
	if (x->name_len != y->name_len)
		return x->name_len < y->name_len ? -1 : 1;
	return memcmp(x->name, y->name, x->name_len);
}

/* After a string without escapes or control characters that starts at p (its quote); NULL if not one. */
static const char *
plain_string_end(const char *p)
{
	for (p++; *p != '"'; p++)
	{
		if (*p == '\\' || (unsigned char) *p < 0x20)
			return NULL;
	}
	return p + 1;
}

static const char *canonical_object(const char *p, int depth, StringInfo out);

/* The canonical text of the value at p into member m; after it, or NULL. */
static const char *
canonical_value(const char *p, int depth, MetaMember *m)
{
	const char *end;

	if (*p == '{' && depth < 2)
	{
		StringInfoData nested;

		initStringInfo(&nested);
		end = canonical_object(p, depth + 1, &nested);
		m->value = nested.data;
		m->value_len = nested.len;
		return end;
	}
	if (*p == '"')
		end = plain_string_end(p);
	else if (strncmp(p, "true", 4) == 0)
		end = p + 4;
	else if (strncmp(p, "false", 5) == 0)
		end = p + 5;
	else
		return NULL;
	/* (a literal ends where the value does: "trueish" is none) */
	if (end == NULL || *end == '\0' || strchr(" \t\n\r,}", *end) == NULL)
		return NULL;
	m->value = p;
	m->value_len = end - p;
	return end;
}

/* The canonical text of the object at p appended to out; after it, or NULL. */
static const char *
canonical_object(const char *p, int depth, StringInfo out)
{
	MetaMember *members;
	int			n = 0;
	int			max = 16;

	if (*p++ != '{')
		return NULL;
	members = palloc(sizeof(MetaMember) * max);
	p = jtext_skip_space(p);
	if (*p != '}')
	{
		for (;;)
		{
			const char *name_end;

			if (*p != '"' || (name_end = plain_string_end(p)) == NULL)
				return NULL;
			if (n == max)
			{
				max *= 2;
				members = repalloc(members, sizeof(MetaMember) * max);
			}
			members[n].name = p + 1;
			members[n].name_len = name_end - 1 - (p + 1);
			p = jtext_skip_space(name_end);
			if (*p++ != ':')
				return NULL;
			p = canonical_value(jtext_skip_space(p), depth, &members[n]);
			if (p == NULL)
				return NULL;
			/* the signature itself is not signed */
			if (!(depth == 0 && members[n].name_len == 1 && members[n].name[0] == SIGNATURE_MEMBER[0]))
				n++;
			p = jtext_skip_space(p);
			if (*p == '}')
				break;
			if (*p++ != ',')
				return NULL;
			p = jtext_skip_space(p);
		}
	}
	if (n > 1)
		qsort(members, n, sizeof(MetaMember), meta_member_cmp);
	appendStringInfoChar(out, '{');
	for (int i = 0; i < n; i++)
	{
		/* a name twice: jsonb keeps the last, left to it */
		if (i > 0 && meta_member_cmp(&members[i - 1], &members[i]) == 0)
			return NULL;
		if (i > 0)
			appendStringInfoString(out, ", ");
		appendStringInfoChar(out, '"');
		appendBinaryStringInfo(out, members[i].name, members[i].name_len);
		appendStringInfoString(out, "\": ");
		appendBinaryStringInfo(out, members[i].value, members[i].value_len);
	}
	appendStringInfoChar(out, '}');
	return p + 1;
}

/* The text to sign of the meta text from start to end. */
static char *
meta_signed_text(const char *start, const char *end)
{
	StringInfoData canonical;
	Jsonb	   *meta;

	initStringInfo(&canonical);
	if (canonical_object(start, 0, &canonical) == end)
	{
#ifdef USE_ASSERT_CHECKING
		meta = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(pnstrdup(start, end - start))));
		Assert(strcmp(canonical.data, signed_text(meta)) == 0);
#endif
		return canonical.data;
	}
	meta = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(pnstrdup(start, end - start))));
	return signed_text(meta);
}

typedef struct MetaSpan
{
	const char *start;			/* its '{' */
	const char *end;			/* after its '}' */
} MetaSpan;

static void
find_meta(const char *name, int name_len, const char *value, int value_len, void *arg)
{
	MetaSpan   *span = arg;
	static const char quoted[] = "\"" CLOCK_COLUMN "\"";

	if (name_len == (int) strlen(quoted) && strncmp(name, quoted, name_len) == 0 && *value == '{')
	{
		span->start = value;
		span->end = value + value_len;
	}
}

/*
 * Appends the payload (JSON object text) to out with its
 * directus_sync_meta signed for the remote that token writes to; as it is
 * when it carries none. Straight into the request's body: a copy of each
 * payload in between cost as much as its signature's HMAC.
 */
void
sync_signature_append_payload(StringInfo out, const char *payload, const char *token,
							  const char *collection, const char *key)
{
	MetaSpan	span = {NULL, NULL};
	char		signature[SIGNATURE_HEX_LEN + 1];

	if (payload == NULL || !jtext_each_member(payload, find_meta, &span) || span.end == NULL)
	{
		if (payload != NULL)
			appendStringInfoString(out, payload);
		return;
	}
	sign(token, collection, key, meta_signed_text(span.start, span.end), signature);

	appendBinaryStringInfo(out, payload, span.start + 1 - payload);
	appendBinaryStringInfo(out, "\"" SIGNATURE_MEMBER "\":\"", strlen(SIGNATURE_MEMBER) + 4);
	appendBinaryStringInfo(out, signature, SIGNATURE_HEX_LEN);
	appendStringInfoChar(out, '"');
	if (*jtext_skip_space(span.start + 1) != '}')
		appendStringInfoChar(out, ',');
	appendStringInfoString(out, span.start + 1);
}

/* The payload with its directus_sync_meta signed (sync_signature_append_payload), in a string of its own. */
char *
sync_signature_sign_payload(const char *payload, const char *token, const char *collection,
							const char *key)
{
	StringInfoData out;

	if (payload == NULL)
		return NULL;
	initStringInfo(&out);
	sync_signature_append_payload(&out, payload, token, collection, key);
	return out.data;
}

/* ----------------------------------------------------------------
 * The receiver
 * ---------------------------------------------------------------- */

/* The tokens of the remotes' inbound users, as the extension's owner (SPI connected). */
static void
read_inbound_tokens(MemoryContext cxt)
{
	MemoryContext old;

	if (SPI_execute("SELECT remote_id, token FROM directus_sync._inbound_tokens()", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the inbound users' tokens");
	old = MemoryContextSwitchTo(cxt);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		InboundToken *t = palloc(sizeof(InboundToken));
		bool		isnull;

		t->remote_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		t->token = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		if (t->token != NULL && t->token[0] != '\0')
			inbound_tokens = lappend(inbound_tokens, t);
	}
	MemoryContextSwitchTo(old);
	inbound_tokens_read = true;
}

/* Equal, in a time that does not tell how much of them is. */
static bool
same_signature(const char *a, const char *b)
{
	unsigned char diff = 0;

	for (int i = 0; i < SIGNATURE_HEX_LEN; i++)
		diff |= (unsigned char) (a[i] ^ b[i]);
	return diff == 0;
}

/* Whether Directus tracks no activity for collection (SPI connected, as the extension's owner). */
static bool
read_accountability_off(const char *collection)
{
	Oid			type = TEXTOID;
	Datum		value = CStringGetTextDatum(collection);
	bool		isnull;

	if (SPI_execute_with_args("SELECT directus_sync._accountability_off($1)", 1, &type, &value, NULL,
							  true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the accountability of collection \"%s\"", collection);
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Whether a signature may tell a sync's write in collection: only where
 * Directus tracks no activity. Elsewhere the activity row does, and
 * Directus's revisions keep what a sync sent, signature included, for
 * anyone who may read them to send again.
 */
static bool
signatures_count(const char *collection, MemoryContext cxt)
{
	CollectionTracking *t;
	ListCell   *lc;
	AsOwner		as;
	MemoryContext old;

	t = NULL;
	foreach(lc, trackings)
	{
		if (strcmp(((CollectionTracking *) lfirst(lc))->collection, collection) == 0)
			t = lfirst(lc);
	}
	if (t != NULL && (!t->accountability_off || inbound_tokens_read))
		return t->accountability_off;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	become_owner(&as);
	if (t == NULL)
	{
		bool		off = read_accountability_off(collection);

		old = MemoryContextSwitchTo(TopTransactionContext);
		t = palloc(sizeof(CollectionTracking));
		t->collection = pstrdup(collection);
		t->accountability_off = off;
		trackings = lappend(trackings, t);
		MemoryContextSwitchTo(old);
	}
	if (t->accountability_off && !inbound_tokens_read)
		read_inbound_tokens(cxt);
	restore_user(&as);
	SPI_finish();
	return t->accountability_off;
}

/*
 * The remote whose inbound user's token signed this directus_sync_meta of
 * item key of collection; 0 when none did (unsigned, or signed otherwise),
 * and in a collection whose activity Directus tracks. A singleton's item is
 * signed as key "" (the sender does not know the key the receiver has).
 */
int
sync_signature_signer(const char *collection, const char *key, Jsonb *meta)
{
	JsonbValue	name;
	JsonbValue *given;
	char	   *text;
	ListCell   *lc;

	name.type = jbvString;
	name.val.string.val = SIGNATURE_MEMBER;
	name.val.string.len = strlen(SIGNATURE_MEMBER);
	given = findJsonbValueFromContainer(&meta->root, JB_FOBJECT, &name);
	if (given == NULL || given->type != jbvString || given->val.string.len != SIGNATURE_HEX_LEN)
		return 0;
	if (!signatures_count(collection, statement_context()))
		return 0;
	text = signed_text(meta);
	foreach(lc, inbound_tokens)
	{
		InboundToken *t = lfirst(lc);
		char		expected[SIGNATURE_HEX_LEN + 1];

		sign(t->token, collection, key, text, expected);
		if (same_signature(expected, given->val.string.val))
			return t->remote_id;
		sign(t->token, collection, "", text, expected);
		if (same_signature(expected, given->val.string.val))
			return t->remote_id;
	}
	return 0;
}
