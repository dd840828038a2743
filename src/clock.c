/*-------------------------------------------------------------------------
 *
 * clock.c
 *	  The hybrid logical clock that orders the changes of replicated data
 *	  across instances, and its SQL functions.
 *
 * A stamp is 64 bits: milliseconds since the Unix epoch (48 bits) and a
 * counter (16 bits). Each tick is later than every stamp this server gave
 * or observed before: when the wall clock has not moved past the last
 * stamp, the counter counts on. A stamp received from another instance is
 * observed: the next tick is later than it, so that an edit made after
 * seeing a value always beats that value, whatever the skew between the
 * two clocks. A stamp more than directus_sync.max_clock_skew ahead of this
 * server's wall clock is not observed (the caller holds its change back
 * and tries again later; taking it would drag this clock ahead for good).
 *
 * As text (SQL), a clock is the stamp as 16 lowercase hex digits, '@', and
 * the node id of the database that made it: ordered as text with the C
 * collation, clocks order by time, then counter, then node, so two clocks
 * of different nodes never tie.
 *
 * One clock per server, in shared memory, lock-free. Without the library
 * preloaded there is no shared memory: each backend keeps its own (no
 * replication worker runs then anyway).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "executor/spi.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "clock.h"
#include "compat.h"
#include "directus_sync.h"

#define COUNTER_BITS 16
#define STAMP_HEX_DIGITS 16

typedef struct ClockShared
{
	pg_atomic_uint64 last;		/* the latest stamp given or observed */
} ClockShared;

static ClockShared *shared_clock = NULL;
static uint64 backend_last = 0;	/* when not preloaded */

static uint64 wall_stamp(void);

DIRECTUS_SYNC_FUNCTION(directus_sync_clock_tick);
DIRECTUS_SYNC_FUNCTION(directus_sync_clock_observe);
DIRECTUS_SYNC_FUNCTION(directus_sync_clock_time);

void
clock_request_shmem(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(ClockShared)));
}

void
clock_startup_shmem(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared_clock = ShmemInitStruct("directus_sync clock", sizeof(ClockShared), &found);
	if (!found)
		pg_atomic_init_u64(&shared_clock->last, 0);
	LWLockRelease(AddinShmemInitLock);
}

/* The wall clock as a stamp with counter 0 (test offset included). */
static uint64
wall_stamp(void)
{
	int64		ms = GetCurrentTimestamp() / 1000
		+ (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000
		+ clock_test_offset_setting;

	return (uint64) Max(ms, 0) << COUNTER_BITS;
}

/* Makes the clock at least floor and later than before; returns it. */
static uint64
advance(uint64 floor, bool strictly_later)
{
	uint64		old;

	if (shared_clock == NULL)
	{
		backend_last = Max(backend_last + (strictly_later ? 1 : 0), floor);
		return backend_last;
	}
	old = pg_atomic_read_u64(&shared_clock->last);
	for (;;)
	{
		uint64		next = Max(old + (strictly_later ? 1 : 0), floor);

		if (next == old || pg_atomic_compare_exchange_u64(&shared_clock->last, &old, next))
			return next;
	}
}

/* A new stamp, later than every stamp given or observed before. */
uint64
clock_tick(void)
{
	return advance(wall_stamp(), true);
}

/*
 * Takes a stamp from another instance into account: the next tick is later.
 * Returns false, and leaves the clock alone, when the stamp is more than
 * max_clock_skew ahead of the wall clock.
 */
bool
clock_observe(uint64 remote)
{
	uint64		limit = wall_stamp() + ((uint64) max_clock_skew_setting << COUNTER_BITS);

	if (remote > limit)
		return false;
	(void) advance(remote, false);
	return true;
}

/*
 * This database's node id, the suffix of its clocks. Loaded once per backend
 * (a backend serves one database); the caller is connected to SPI, as the
 * extension's owner (the node table is the owner's).
 */
const char *
clock_node(void)
{
	static char node[CLOCK_TEXT_LEN - STAMP_HEX_DIGITS];

	if (node[0] == '\0')
	{
		if (SPI_execute("SELECT directus_sync._node_id()::text", false, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "could not read this database's node id");
		strlcpy(node, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), sizeof(node));
	}
	return node;
}

/* A stamp of this node as clock text, into out (CLOCK_TEXT_LEN + 1 bytes). */
void
clock_text(uint64 stamp, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const char *node;
	size_t		len;

	/* (by hand: snprintf was most of the cost of stamping a row's fields) */
	for (int i = STAMP_HEX_DIGITS - 1; i >= 0; i--, stamp >>= 4)
		out[i] = hex[stamp & 0xf];
	out[STAMP_HEX_DIGITS] = '@';
	/* (copied with its length: PostgreSQL's strlcpy copies a byte at a time) */
	node = clock_node();
	len = strnlen(node, CLOCK_TEXT_LEN - STAMP_HEX_DIGITS - 1);
	memcpy(out + STAMP_HEX_DIGITS + 1, node, len);
	out[STAMP_HEX_DIGITS + 1 + len] = '\0';
}

/* The bytes that are lowercase hex digits, looked up (clocks are checked on every read). */
static const bool lower_hex[256] = {
	['0'] = true, ['1'] = true, ['2'] = true, ['3'] = true, ['4'] = true,
	['5'] = true, ['6'] = true, ['7'] = true, ['8'] = true, ['9'] = true,
	['a'] = true, ['b'] = true, ['c'] = true, ['d'] = true, ['e'] = true, ['f'] = true
};

static inline bool
is_lower_hex(char c)
{
	return lower_hex[(unsigned char) c];
}

/*
 * Whether s is a whole clock text as this extension writes it: 16 lowercase
 * hex digits, '@' and a node id in lowercase (so that clocks of different
 * nodes compare as text exactly as their parts do).
 */
bool
clock_text_valid(const char *s, int len)
{
	if (len != CLOCK_TEXT_LEN || s[STAMP_HEX_DIGITS] != '@')
		return false;
	for (int i = 0; i < STAMP_HEX_DIGITS; i++)
		if (!is_lower_hex(s[i]))
			return false;
	return clock_node_valid(s + STAMP_HEX_DIGITS + 1, CLOCK_TEXT_LEN - STAMP_HEX_DIGITS - 1);
}

/*
 * Whether s is a node id as clocks carry it: a uuid in lowercase.
 *
 * A row's clocks name one or two nodes, over and over: each stored clock a
 * trigger reads is checked (clock_text_valid), some thirty per row that an
 * update of a table with clocks captures, and checking the 36 characters
 * one by one was 2-3% of a 100-row statement's time. So the last node id
 * found valid is kept (per process): the same bytes again are valid
 * without a look at each.
 */
bool
clock_node_valid(const char *s, int len)
{
	static char last_valid[CLOCK_TEXT_LEN - STAMP_HEX_DIGITS - 1];
	static bool have_last = false;

	if (len != CLOCK_TEXT_LEN - STAMP_HEX_DIGITS - 1)
		return false;
	if (have_last && memcmp(s, last_valid, len) == 0)
		return true;
	for (int i = 0; i < len; i++)
	{
		bool		dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !is_lower_hex(s[i]))
			return false;
	}
	memcpy(last_valid, s, len);
	have_last = true;
	return true;
}

/* The stamp of a valid clock text. */
uint64
clock_text_stamp(const char *s)
{
	uint64		stamp = 0;

	for (int i = 0; i < STAMP_HEX_DIGITS; i++)
		stamp = (stamp << 4) | (uint64) (s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10);
	return stamp;
}

/* The stamp of a clock's text; an error if it is not one. */
static uint64
parse_stamp(text *clock)
{
	const char *s = VARDATA_ANY(clock);
	int			len = VARSIZE_ANY_EXHDR(clock);
	uint64		stamp = 0;

	for (int i = 0; i < STAMP_HEX_DIGITS; i++)
	{
		char		c = i < len ? s[i] : '\0';
		int			digit = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;

		if (digit < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid clock: \"%s\"", text_to_cstring(clock)),
					 errdetail("A clock starts with 16 lowercase hexadecimal digits.")));
		stamp = (stamp << 4) | digit;
	}
	if (len != STAMP_HEX_DIGITS && s[STAMP_HEX_DIGITS] != '@')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid clock: \"%s\"", text_to_cstring(clock)),
				 errdetail("A clock's 16 hexadecimal digits are followed by \"@\" and a node id, or by nothing.")));
	return stamp;
}

/* directus_sync._clock_tick(): a new stamp as 16 hex digits. */
Datum
directus_sync_clock_tick(PG_FUNCTION_ARGS)
{
	char		hex[STAMP_HEX_DIGITS + 1];

	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long) clock_tick());
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}

/*
 * directus_sync._clock_observe(clock text): observes a clock of another
 * instance; false when it is too far ahead (see clock_observe).
 */
Datum
directus_sync_clock_observe(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(clock_observe(parse_stamp(PG_GETARG_TEXT_PP(0))));
}

/* directus_sync.clock_time(clock text): the wall-clock time of a clock. */
Datum
directus_sync_clock_time(PG_FUNCTION_ARGS)
{
	uint64		ms = parse_stamp(PG_GETARG_TEXT_PP(0)) >> COUNTER_BITS;
	int64		unix_ms = (int64) Min(ms, (uint64) PG_INT64_MAX / 1000);

	PG_RETURN_TIMESTAMPTZ(unix_ms * 1000
						  - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC);
}
