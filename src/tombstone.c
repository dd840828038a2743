/*-------------------------------------------------------------------------
 *
 * tombstone.c
 *	  Tombstones: the clocks of deleted items of tables with clocks.
 *
 * An item of a table with clocks exists while one of its fields has a
 * clock later than its delete's: a delete later than every edit removes
 * it, an edit later than the delete brings it back, on every instance
 * alike. So a delete leaves a row in directus_sync.tombstone with its
 * clock, and a create that comes later from another instance is taken only
 * when it is later than that (clock_row.c).
 *
 * A tombstone keeps the born clock of the item it deleted too ("b" of the
 * delete's payload), when it is known: an item born later with the same
 * key is another item (two instances made one key, clock_row.c), which the
 * delete does not remove. A delete without it (of an item made before the
 * clocks, or from an instance before 0.3's review 6) deletes any item older
 * than the delete, whatever its born clock: the tombstone keeps the latest
 * such delete apart, as its sweep ("swept"). Two deletes of a known item
 * merge into the one of the item born later, of one item the later; a
 * delete of unknown born merges into both (the delete part, where no known
 * item's delete is there, and the sweep, the later). Each part is the join
 * of a total order, so the tombstone is the same in any order of arrival,
 * and it keeps all that decides an item the same way: a create is taken
 * when it is later than the sweep, and later than the delete or born later
 * than the item deleted (tombstone_kills). A merge into one (born, deleted)
 * pair lost the sweep when a known item's delete replaced it after a create
 * had been skipped under it: two orders of three messages ended one with
 * the item, one without (review 11).
 *
 * A sync's delete arrives as an update that carries the delete's clock
 * (Directus's DELETE carries nothing else): clock_row.c decides that it
 * wins and expects the delete, which the capture trigger then makes, with
 * that clock rather than a new one. A sync's create looks for a tombstone
 * twice: before the insert, and after it, when a delete of the same key
 * that the insert waited for has committed.
 *
 * A delete travels with both parts: the delete of the item it names ("b",
 * "d") and the sweep beside it ("u"), and each receiver merges both here,
 * keeps both with an expected delete, and passes both on: one part alone
 * made the remote's tombstone decide a later create otherwise (review 12).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "clock.h"
#include "keyhash.h"
#include "queue_write.h"
#include "tombstone.h"

/*
 * What the AFTER half of the capture trigger has to do for an item after
 * the BEFORE half: make a delete a sync's update decided on, or look again
 * for a delete of an item a sync just created.
 */
typedef struct ExpectedDelete
{
	char	   *hash_key;		/* relid \x1f key */
	char		clock[CLOCK_TEXT_LEN + 1];	/* the delete's; "" none */
	char		created[CLOCK_TEXT_LEN + 1];	/* a sync's create: its latest clock; "" none */
	char		created_born[CLOCK_TEXT_LEN + 1];	/* and its born clock; "" none */
	char		born[CLOCK_TEXT_LEN + 1];	/* the delete's born clock: "" unknown,
											 * a sweep */
	char		swept[CLOCK_TEXT_LEN + 1];	/* the sweep the sync's delete carried
											 * beside it ("u"): "" none */
	char		beside[CLOCK_TEXT_LEN + 1];	/* the sweep a sync's live item came with,
											 * kept: it goes on with the item ("" none) */
	bool		write_back;		/* a sync lost to what the item has: it goes back */
	bool		to_sender;		/* the delete goes to the sync's sender too */
	bool		making;			/* the capture trigger is making the delete */
	SubTransactionId subxact;	/* the subtransaction that set the above */
	CommandId	command;		/* and the command whose write it is for */
} ExpectedDelete;

static KeyHash *expected_deletes = NULL;
static TransactionId expected_xid = InvalidTransactionId;

/* The command of the write whose BEFORE half runs (tombstone_begin_write). */
static CommandId writing_command = InvalidCommandId;

static SPIPlanPtr
keep_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		*plan = p;
	}
	return *plan;
}

/*
 * The clock of the item's delete into clock, the born clock of the item it
 * deleted into born ("" unknown), and its sweep into swept (the latest
 * delete of unknown born, "" none; swept may be NULL); false when it has
 * none.
 */
bool
tombstone_read(const char *collection, const char *key, char *clock, char *born, char *swept)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(collection), CStringGetTextDatum(key)};
	AsOwner		as;
	bool		found;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	become_owner(&as);
	/* a tombstone of unknown born is a sweep, whatever wrote it */
	if (SPI_execute_plan(keep_plan(&plan, "SELECT deleted, coalesce(born, ''),"
								   " coalesce(greatest(swept, CASE WHEN born IS NULL THEN deleted END), '')"
								   " FROM directus_sync.tombstone"
								   " WHERE collection = $1 AND item_key = $2", 2, types),
						 values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the tombstone of item \"%s\"", key);
	found = SPI_processed == 1;
	born[0] = '\0';
	if (swept)
		swept[0] = '\0';
	if (found)
	{
		strlcpy(clock, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), CLOCK_TEXT_LEN + 1);
		strlcpy(born, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), CLOCK_TEXT_LEN + 1);
		if (swept)
			strlcpy(swept, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3), CLOCK_TEXT_LEN + 1);
	}
	restore_user(&as);
	SPI_finish();
	return found;
}

/*
 * Whether the tombstone (clock, born) is later than (have, have_born) in the
 * order tombstone_write merges by: the born clock first, an unknown one ("")
 * the oldest, as _merge orders states; of one born clock, the later delete.
 */
bool
tombstone_after(const char *clock, const char *born, const char *have, const char *have_born)
{
	int			c = strcmp(born ? born : "", have_born ? have_born : "");

	return c > 0 || (c == 0 && strcmp(clock, have) > 0);
}

/*
 * Merges a delete into the item's tombstone. Its delete (deleted, born):
 * the later of the two in the order of tombstone_after, so the delete of
 * the item born later, and of one item the later delete; a delete whose
 * born clock is unknown counts as born at "", the oldest, so it gives way
 * to one that names its item, as _merge lets the state born later win
 * whole. Its sweep: the latest delete of unknown born, kept whatever the
 * delete part holds (as _merge keeps "u"). Each is the join of a total
 * order: commutative, associative and idempotent, so instances that
 * receive the deletes of a key in any order keep the same tombstone (a
 * merge that kept the known born clock with the later delete clock was
 * not: three deletes ended differently in two orders; nor was one that let
 * a known item's delete replace a sweep: review 11). born: "" or NULL
 * unknown.
 */
void
tombstone_write(const char *collection, const char *key, const char *clock, const char *born)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4] = {CStringGetTextDatum(collection), CStringGetTextDatum(key),
	CStringGetTextDatum(clock), CStringGetTextDatum(born ? born : "")};
	AsOwner		as;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	become_owner(&as);
	if (SPI_execute_plan(keep_plan(&plan, "INSERT INTO directus_sync.tombstone AS t"
								   " (collection, item_key, deleted, born, swept)"
								   " VALUES ($1, $2, $3, nullif($4, ''), CASE WHEN $4 = '' THEN $3 END)"
								   " ON CONFLICT (collection, item_key) DO UPDATE"
								   " SET deleted = CASE WHEN coalesce(EXCLUDED.born, '') > coalesce(t.born, '')"
								   " THEN EXCLUDED.deleted"
								   " WHEN coalesce(EXCLUDED.born, '') = coalesce(t.born, '')"
								   " THEN greatest(t.deleted, EXCLUDED.deleted) ELSE t.deleted END,"
								   " born = CASE WHEN coalesce(EXCLUDED.born, '') > coalesce(t.born, '')"
								   " THEN EXCLUDED.born ELSE t.born END,"
								   " swept = greatest(t.swept, EXCLUDED.swept),"
								   " deleted_at = now()",
								   4, types),
						 values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write the tombstone of item \"%s\"", key);
	restore_user(&as);
	SPI_finish();
}

static char *
expected_key(Oid relid, const char *key)
{
	return psprintf("%u\x1f%s", relid, key);
}

static ExpectedDelete *
expect(Oid relid, const char *key)
{
	bool		found;
	ExpectedDelete *entry;

	if (expected_deletes == NULL || expected_xid != GetTopTransactionId())
	{
		/* the table of an earlier transaction went with its memory */
		expected_deletes = keyhash_create("directus_sync expected deletes", 16, sizeof(ExpectedDelete),
										  TopTransactionContext);
		expected_xid = GetTopTransactionId();
	}
	entry = keyhash_enter(expected_deletes, expected_key(relid, key), &found);
	/* what an earlier write left (it did not happen, or its AFTER half took it) is not this one's */
	if (!found || entry->command != writing_command)
	{
		memset((char *) entry + sizeof(char *), 0, sizeof(ExpectedDelete) - sizeof(char *));
		entry->command = writing_command;
	}
	entry->subxact = GetCurrentSubTransactionId();
	return entry;
}

/* The entry of a delete expected in this transaction; NULL: none. */
static ExpectedDelete *
expected(Oid relid, const char *key)
{
	if (expected_deletes == NULL || expected_xid != GetTopTransactionIdIfAny())
		return NULL;
	return keyhash_find(expected_deletes, expected_key(relid, key));
}

/*
 * The entry the write of tuple set in its BEFORE half, for its AFTER half;
 * NULL: none. A write of the item by a later command (the write that set
 * it was cancelled by another BEFORE trigger, so its AFTER half never ran)
 * or by a command nested in the write's is not the one expected (review
 * 14: a local UPDATE deleted the item with a cancelled sync's clock). The
 * tuple's command is no later than the one its BEFORE half ran in, every
 * later command's is (tombstone_begin_write).
 */
static ExpectedDelete *
expected_for(Oid relid, const char *key, HeapTuple tuple)
{
	ExpectedDelete *entry = expected(relid, key);

	if (entry == NULL || entry->command == InvalidCommandId ||
		!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmin(tuple->t_data)) ||
		HeapTupleHeaderGetCmin(tuple->t_data) > entry->command)
		return NULL;
	return entry;
}

/*
 * The BEFORE half of a write of a subscribed table begins: what it expects
 * (tombstone_expect_delete and the like) is for its own AFTER half only.
 * The command id is marked used, so that every later command has a larger
 * one.
 */
void
tombstone_begin_write(void)
{
	writing_command = GetCurrentCommandId(true);
}

/*
 * What a subtransaction that rolls back expected is dropped: its write did
 * not happen (review 13: a later DELETE of the item took a rolled-back
 * sync's clock). That of one that commits belongs to its parent. (A nested
 * write of the item in a subtransaction that rolls back drops what its
 * parent set too.)
 */
static void
at_subtransaction_end(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	HASH_SEQ_STATUS status;
	ExpectedDelete *entry;

	(void) arg;
	if (expected_deletes == NULL || expected_xid != GetTopTransactionIdIfAny() ||
		(event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB))
		return;
	hash_seq_init(&status, expected_deletes->table);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->subxact != mySubid)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB)
			memset((char *) entry + sizeof(char *), 0, sizeof(ExpectedDelete) - sizeof(char *));
		else
			entry->subxact = parentSubid;
	}
}

void
tombstone_register_callbacks(void)
{
	RegisterSubXactCallback(at_subtransaction_end, NULL);
}

/*
 * A sync's update decided that the item goes, with this clock: the delete
 * of the item born at born ("" unknown: a sweep), and the sweep swept it
 * carried beside it ("" or NULL none), as the sender made them, so that
 * the tombstone here is the one an instance that lacked the item keeps,
 * and the delete goes on as it came.
 */
void
tombstone_expect_delete(Oid relid, const char *key, const char *clock, const char *born, const char *swept)
{
	ExpectedDelete *entry = expect(relid, key);

	strlcpy(entry->clock, clock, CLOCK_TEXT_LEN + 1);
	strlcpy(entry->born, born ? born : "", CLOCK_TEXT_LEN + 1);
	strlcpy(entry->swept, swept ? swept : "", CLOCK_TEXT_LEN + 1);
}

/*
 * The expected delete of the item goes to every remote, the sender of the
 * sync that made it too (past the loop guard): the sync brought an item
 * that took the key and that the tombstone here kills, which its sender
 * still has and may never learn of otherwise (review 13), as a create the
 * tombstone skips sends the delete to every remote (capture.c).
 */
void
tombstone_expect_delete_to_sender(Oid relid, const char *key)
{
	expect(relid, key)->to_sender = true;
}

/*
 * Whether the delete being made (by the capture trigger) goes to the sync's
 * sender too; forgets it.
 */
bool
tombstone_take_delete_to_sender(Oid relid, const char *key)
{
	ExpectedDelete *entry = expected(relid, key);
	bool		to_sender;

	if (entry == NULL || !entry->making)
		return false;
	to_sender = entry->to_sender;
	entry->to_sender = false;
	return to_sender;
}

/* A sync brought something older than what the item has (clock_row.c). */
void
tombstone_expect_write_back(Oid relid, const char *key)
{
	expect(relid, key)->write_back = true;
}

/* Whether the item is to go back to every remote (and forget it). */
bool
tombstone_take_write_back(Oid relid, const char *key, HeapTuple tuple)
{
	ExpectedDelete *entry = expected_for(relid, key, tuple);

	if (entry == NULL || !entry->write_back)
		return false;
	entry->write_back = false;
	return true;
}

/* A sync's live item came with a sweep it survived (clock_row.c): it goes on with it. */
void
tombstone_expect_sweep_beside(Oid relid, const char *key, const char *swept)
{
	strlcpy(expect(relid, key)->beside, swept, CLOCK_TEXT_LEN + 1);
}

/* The sweep the write of tuple came with into swept ("" none); taken. */
void
tombstone_take_sweep_beside(Oid relid, const char *key, HeapTuple tuple, char *swept)
{
	ExpectedDelete *entry = expected_for(relid, key, tuple);

	swept[0] = '\0';
	if (entry == NULL)
		return;
	strlcpy(swept, entry->beside, CLOCK_TEXT_LEN + 1);
	entry->beside[0] = '\0';
}

/*
 * A sync created the item, its latest clock being latest, its born clock
 * born ("" none). A delete of the item that committed while the create
 * waited for it (the tombstone read before did not see it yet) is looked
 * for again after the insert.
 */
void
tombstone_recheck_create(Oid relid, const char *key, const char *latest, const char *born)
{
	ExpectedDelete *entry = expect(relid, key);

	strlcpy(entry->created, latest, CLOCK_TEXT_LEN + 1);
	strlcpy(entry->created_born, born, CLOCK_TEXT_LEN + 1);
}

/*
 * Keeps in the key's tombstone the born clock of an item a sweep killed
 * here (a swept item, or a sync's create the sweep skipped): no known
 * delete of it ("" as its delete clock, the oldest), but the key was that
 * item's when it died, so an item born earlier that comes later lost the
 * key to it, and is gone too (tombstone_born_earlier), as _merge keeps the
 * state born latest under its sweep "u". Without it an item born earlier
 * but later than the sweep took the key on the instances where the sweep
 * came after the item born later, not on the others (review 12).
 */
void
tombstone_keep_swept_born(const char *collection, const char *key, const char *born)
{
	tombstone_write(collection, key, "", born);
}

/*
 * Whether an item born at born (of a create, or the item a delete meets) is
 * another item than the one a tombstone or delete of the key deleted (born
 * at deleted_born): born later. Either unknown: the same, as before.
 */
bool
tombstone_born_later(const char *born, const char *deleted_born)
{
	return born != NULL && deleted_born != NULL && born[0] != '\0' && deleted_born[0] != '\0' &&
		strcmp(born, deleted_born) > 0;
}

/*
 * Whether an item born at born is older than the item a delete deleted
 * (born at deleted_born, known): it lost the key to that item
 * (insert/insert, the item born later keeps it), so that item's delete
 * removes it too, whatever its clocks, as _merge lets the state born later
 * win whole. An item whose born clock is unknown (made before the clocks)
 * counts as born before every clock, as in write_born (review 12). Judged
 * by its clocks instead, it lived or not by the order in which two deletes
 * of the key came (the tombstone keeps the later-born item's).
 */
bool
tombstone_born_earlier(const char *born, const char *deleted_born)
{
	if (deleted_born == NULL || deleted_born[0] == '\0')
		return false;
	return born == NULL || born[0] == '\0' || strcmp(born, deleted_born) < 0;
}

/*
 * Which delete of a tombstone (deleted, of the item born at deleted_born;
 * and the sweep swept, "" none) an item loses to, whose survival clock is
 * clock (its latest, or its born clock under delete_wins) and born clock
 * born: when the item was born earlier than the one the tombstone names
 * (it lost the key to that one), the later of its delete and the sweep
 * (its delete is "" when a sweep killed it: tombstone_keep_swept_born);
 * else the delete when it is no earlier and the item was not born later
 * (then it is another item), else the sweep when it is no earlier (it
 * deletes whatever item is older). NULL: neither, the item lives. The same answer in any order of the deletes: the tombstone
 * keeps both (tombstone_write).
 */
const char *
tombstone_kills(const char *clock, const char *born, const char *deleted, const char *deleted_born,
				const char *swept)
{
	if (tombstone_born_earlier(born, deleted_born))
		return swept != NULL && strcmp(swept, deleted) > 0 ? swept : deleted;
	if (strcmp(deleted, clock) >= 0 && !tombstone_born_later(born, deleted_born))
		return deleted;
	if (swept != NULL && swept[0] != '\0' && strcmp(swept, clock) >= 0)
		return swept;
	return NULL;
}

/*
 * After a sync's create: a delete of the item here later than the create's
 * clocks that is visible now makes the item go (expected, as for a sync's
 * delete; its clock into clock). False: none. The delete goes as the
 * tombstone holds it (the item it names and the sweep), to every remote,
 * the create's sender too, as when the create comes after the delete's
 * commit (create_survives_delete): the part that killed the item alone,
 * and not to its sender, left the sender with the item, or with a
 * tombstone that decides a later create otherwise (review 13).
 */
bool
tombstone_create_lost(Oid relid, const char *collection, const char *key, HeapTuple tuple, char *clock)
{
	ExpectedDelete *entry = expected_for(relid, key, tuple);
	char		born[CLOCK_TEXT_LEN + 1];
	char		swept[CLOCK_TEXT_LEN + 1];
	const char *killer;

	if (entry == NULL || entry->created[0] == '\0')
		return false;
	killer = tombstone_read(collection, key, clock, born, swept)
		? tombstone_kills(entry->created, entry->created_born, clock, born, swept) : NULL;
	entry->created[0] = '\0';
	if (killer == NULL)
		return false;
	/* (a born clock kept without its delete, "": the sweep killed that item) */
	if (clock[0] == '\0')
		strlcpy(clock, swept, CLOCK_TEXT_LEN + 1);
	strlcpy(entry->clock, clock, CLOCK_TEXT_LEN + 1);
	strlcpy(entry->born, born, CLOCK_TEXT_LEN + 1);
	strlcpy(entry->swept, swept, CLOCK_TEXT_LEN + 1);
	entry->to_sender = true;
	return true;
}

/*
 * Whether a sync's write decided that the item goes (a delete of it is
 * expected); if so, the capture trigger is about to make that delete, and
 * only that delete takes the expected clock (tombstone_expected_delete):
 * when the sync's write did not happen after all (another BEFORE trigger
 * cancelled it), a later DELETE in the transaction is the user's own, with
 * a clock of its own.
 */
bool
tombstone_make_expected_delete(Oid relid, const char *key, HeapTuple tuple)
{
	ExpectedDelete *entry = expected_for(relid, key, tuple);

	if (entry == NULL || entry->clock[0] == '\0')
		return false;
	entry->making = true;
	entry->subxact = GetCurrentSubTransactionId();
	return true;
}

/* The capture trigger made the expected delete (or found no row to): forget it. */
void
tombstone_made_expected_delete(Oid relid, const char *key)
{
	ExpectedDelete *entry = expected(relid, key);

	if (entry == NULL)
		return;
	entry->making = false;
	entry->to_sender = false;
	entry->clock[0] = '\0';
}

/*
 * Whether the delete being made is the one expected, made by the capture
 * trigger (tombstone_make_expected_delete): its clock into clock, the born
 * clock of the item it deletes into born, "" unknown, and the sweep that
 * came with it into swept, "" none; taken.
 */
bool
tombstone_expected_delete(Oid relid, const char *key, char *clock, char *born, char *swept)
{
	ExpectedDelete *entry = expected(relid, key);

	if (entry == NULL || !entry->making || entry->clock[0] == '\0')
		return false;
	strlcpy(clock, entry->clock, CLOCK_TEXT_LEN + 1);
	strlcpy(born, entry->born, CLOCK_TEXT_LEN + 1);
	strlcpy(swept, entry->swept, CLOCK_TEXT_LEN + 1);
	entry->clock[0] = '\0';
	return true;
}
