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
 * transaction counts at once): the inbound users' tokens, and which
 * collections Directus tracks no activity for.
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
static List *trackings = NIL;

static void
forget_statement(XactEvent event, void *arg)
{
	(void) arg;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		statement_cxt = NULL;	/* freed with TopTransactionContext */
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
	trackings = NIL;
	return statement_cxt;
}

void
sync_signature_init(void)
{
	RegisterXactCallback(forget_statement, NULL);
}

/*
 * HMAC-SHA256(token, "directus_sync 1" US collection US key US meta) in hex,
 * into out. With OpenSSL a context is a resource of CurrentResourceOwner,
 * which the worker has not between transactions (it builds its requests
 * there): then one of this file's own, which each pg_hmac_free leaves empty.
 */
static void
sign(const char *token, const char *collection, const char *key, const char *meta, char *out)
{
	static const char unit_separator = '\x1f';
	static ResourceOwner own_owner = NULL;
	ResourceOwner saved_owner = CurrentResourceOwner;
	pg_hmac_ctx *ctx;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];

	if (saved_owner == NULL)
	{
		if (own_owner == NULL)
			own_owner = ResourceOwnerCreate(NULL, "directus_sync signatures");
		CurrentResourceOwner = own_owner;
	}
	ctx = pg_hmac_create(PG_SHA256);
	CurrentResourceOwner = saved_owner;
	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
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
		pg_hmac_free(ctx);
		elog(ERROR, "could not compute a signature");
	}
	pg_hmac_free(ctx);
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

typedef struct MetaSpan
{
	const char *start;			/* its '{' */
	const char *end;			/* after its '}' */
} MetaSpan;

static void
find_meta(const char *name, int name_len, const char *value, void *arg)
{
	MetaSpan   *span = arg;
	static const char quoted[] = "\"" CLOCK_COLUMN "\"";

	if (name_len == (int) strlen(quoted) && strncmp(name, quoted, name_len) == 0 && *value == '{')
	{
		span->start = value;
		span->end = jtext_skip_value(value);
	}
}

/*
 * The payload (JSON object text) with its directus_sync_meta signed for
 * the remote that token writes to; as it is when it carries none.
 */
char *
sync_signature_sign_payload(const char *payload, const char *token, const char *collection,
							const char *key)
{
	MetaSpan	span = {NULL, NULL};
	char	   *meta_text;
	Jsonb	   *meta;
	char		signature[SIGNATURE_HEX_LEN + 1];
	StringInfoData out;

	if (payload == NULL || !jtext_each_member(payload, find_meta, &span) || span.end == NULL)
		return (char *) payload;
	meta_text = pnstrdup(span.start, span.end - span.start);
	meta = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(meta_text)));
	sign(token, collection, key, signed_text(meta), signature);

	initStringInfo(&out);
	appendBinaryStringInfo(&out, payload, span.start + 1 - payload);
	appendStringInfo(&out, "\"" SIGNATURE_MEMBER "\":\"%s\"", signature);
	if (*jtext_skip_space(span.start + 1) != '}')
		appendStringInfoChar(&out, ',');
	appendStringInfoString(&out, span.start + 1);
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

	foreach(lc, trackings)
	{
		t = lfirst(lc);
		if (strcmp(t->collection, collection) == 0)
			return t->accountability_off;
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	become_owner(&as);
	old = MemoryContextSwitchTo(cxt);
	t = palloc(sizeof(CollectionTracking));
	t->collection = pstrdup(collection);
	MemoryContextSwitchTo(old);
	t->accountability_off = read_accountability_off(collection);
	if (t->accountability_off && !inbound_tokens_read)
		read_inbound_tokens(cxt);
	restore_user(&as);
	SPI_finish();
	old = MemoryContextSwitchTo(cxt);
	trackings = lappend(trackings, t);
	MemoryContextSwitchTo(old);
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
