-- The hybrid logical clock (src/clock.c) and the merge of an item's states
-- (_merge): the laws convergence rests on, on random inputs.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS directus_sync;
RESET client_min_messages;

-- A clock: 16 hex digits, '@', this node's id.
SELECT directus_sync.clock_now() ~ '^[0-9a-f]{16}@[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
       AS well_formed,
       split_part(directus_sync.clock_now(), '@', 2) = directus_sync._node_id()::text AS names_this_node,
       abs(extract(epoch FROM directus_sync.clock_time(directus_sync.clock_now()) - clock_timestamp())) < 5
       AS near_the_wall_clock;

-- Every stamp is later than the one before, 100,000 in a row (the counter
-- counts on within a millisecond), as text in the C collation too.
DO $$
DECLARE
    prev text := directus_sync.clock_now();
    cur text;
BEGIN
    FOR i IN 1 .. 100000 LOOP
        cur := directus_sync.clock_now();
        IF cur COLLATE "C" <= prev THEN
            RAISE EXCEPTION 'stamp % is not later than %', cur, prev;
        END IF;
        prev := cur;
    END LOOP;
END
$$;

-- Text order is (time, counter, node) order, on random clocks.
SELECT setseed(0.17);
WITH c AS (
    SELECT (random() * 1e12)::bigint AS ms, (random() * 3)::int AS counter,
           (ARRAY['0a0a0a0a-0000-4000-8000-000000000001', '0a0a0a0a-0000-4000-8000-000000000002'])[1 + (random() < 0.5)::int] AS node
      FROM generate_series(1, 300)),
t AS (SELECT ms, counter, node, lpad(to_hex((ms << 16) + counter), 16, '0') || '@' || node AS clock FROM c)
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE (x.clock COLLATE "C" < y.clock) = ((x.ms, x.counter, x.node) < (y.ms, y.counter, y.node)))
       AS ordered_alike
  FROM t x, t y;

-- Observing a clock 3 s ahead (within max_clock_skew, 5 s): the next stamp
-- is later. One 60 s ahead is refused and leaves the clock alone.
CREATE FUNCTION pg_temp.ahead(ms integer) RETURNS text LANGUAGE sql AS $$
    SELECT lpad(to_hex(((extract(epoch FROM clock_timestamp()) * 1000)::bigint + ms) << 16), 16, '0')
           || '@0a0a0a0a-0000-4000-8000-000000000009' $$;
SELECT pg_temp.ahead(3000) AS seen \gset
SELECT directus_sync._clock_observe(:'seen') AS observed_3s;
SELECT directus_sync.clock_now() COLLATE "C" > :'seen' AS later_than_seen;
SELECT directus_sync._clock_observe(pg_temp.ahead(60000)) AS observed_60s;
SELECT directus_sync.clock_time(directus_sync.clock_now()) < clock_timestamp() + interval '10 s' AS not_dragged_ahead;

-- A wall clock 10 s behind (test_clock_offset) never makes a stamp earlier
-- than one given before; and the skew limit counts from the wall clock:
-- 8 s ahead of the real time is 18 s ahead of it.
SELECT directus_sync.clock_now() AS before_offset \gset
SET directus_sync.test_clock_offset = '-10s';
SELECT directus_sync.clock_now() COLLATE "C" > :'before_offset' AS still_later;
SELECT directus_sync._clock_observe(pg_temp.ahead(8000)) AS observed_8s_with_offset;
RESET directus_sync.test_clock_offset;
SELECT directus_sync._clock_observe(pg_temp.ahead(4000)) AS observed_4s_without_offset;

-- Input checks.
SELECT directus_sync._clock_observe('not a clock');
\echo :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE
SELECT directus_sync.clock_time('0000018BCFE56800@node');
\echo :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE
SELECT directus_sync.clock_time('0000018bcfe56800#node');
\echo :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE
SELECT directus_sync.clock_time('0000018bcfe5');
\echo :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE
SELECT directus_sync.clock_time('018cc251f4000000') AS bare_stamp, directus_sync.clock_time(NULL) IS NULL AS null_is_null;
SELECT directus_sync._clock_observe(NULL) IS NULL AS observe_null;

-- The merge: one register per field, the later clock wins, equal clocks
-- by the larger value's text; the later creation wins the whole state; the
-- delete clock is the later one; "a" (alive) the latest write known.
SELECT directus_sync._merge('{"b": "b1", "f": {"t": {"c": "c1", "v": "old"}, "n": {"c": "c2", "v": 1}}}',
                            '{"b": "b1", "d": "c3", "f": {"t": {"c": "c2", "v": "new"}, "n": {"c": "c1", "v": 9}}}');
SELECT directus_sync._merge('{"b": "b1", "f": {"t": {"c": "c9", "v": "older item"}}}',
                            '{"b": "b2", "f": {"t": {"c": "c1", "v": "newer item"}}}') AS later_creation_wins;
SELECT directus_sync._merge('{"b": "b1", "f": {"t": {"c": "c1", "v": "a"}}}',
                            '{"b": "b1", "f": {"t": {"c": "c1", "v": "b"}}}') AS tie_by_value;
SELECT directus_sync._merge('{"f": {"t": {"v": "no clock"}}}', '{"f": {"t": {"c": "c1", "v": "clocked"}}}')
       AS missing_clock_is_oldest,
       directus_sync._merge(NULL, '{"b": "b1"}') AS with_null, directus_sync._merge(NULL, NULL) AS nulls;

-- An item with no born clock (from before clocks) is born before every
-- clock: an item with one takes the state whole, in either order, its
-- later field clocks dropped (review 11: clock_row.c write_born agrees,
-- t/089). Two values without a clock tie by value, in either order.
SELECT directus_sync._merge('{"f": {"t": {"c": "", "v": "old"}, "n": {"c": "c9", "v": "edited"}}}',
                            '{"b": "b1", "f": {"t": {"c": "c2", "v": "new"}}}') AS unborn_loses_whole,
       directus_sync._merge('{"b": "b1", "f": {"t": {"c": "c2", "v": "new"}}}',
                            '{"f": {"t": {"c": "", "v": "old"}, "n": {"c": "c9", "v": "edited"}}}')
       = directus_sync._merge('{"f": {"t": {"c": "", "v": "old"}, "n": {"c": "c9", "v": "edited"}}}',
                              '{"b": "b1", "f": {"t": {"c": "c2", "v": "new"}}}') AS either_order,
       directus_sync._later('{"c": "", "v": "draft"}', '{"c": "", "v": "new"}')
       = directus_sync._later('{"c": "", "v": "new"}', '{"c": "", "v": "draft"}') AS unclocked_tie_either_order;

-- A JSON null "f" (a producer's "no fields") counts as a missing one.
SELECT directus_sync._merge('{"b": "a", "f": null}', '{"b": "a"}') = directus_sync._merge('{"b": "a"}', '{"b": "a"}')
       AS null_f_merges,
       directus_sync._merge('{"b": "z", "f": null}', '{"b": "a", "f": {"x": {"c": "z", "v": 1}}}')
       AS null_f_wins_whole,
       directus_sync._exists('{"b": "b", "d": "a", "f": null}') AS null_f_exists;

-- Exists: not deleted, or written after the delete (unless the delete wins).
SELECT directus_sync._exists('{"b": "b1", "d": null, "f": {}}') AS never_deleted,
       directus_sync._exists('{"b": "b1", "d": "c3", "f": {"t": {"c": "c2", "v": 1}}}') AS deleted_after_edit,
       directus_sync._exists('{"b": "b1", "d": "c3", "f": {"t": {"c": "c4", "v": 1}}}') AS edited_after_delete,
       directus_sync._exists('{"b": "b1", "d": "c3", "f": {"t": {"c": "c4", "v": 1}}}', delete_wins => true)
       AS delete_wins;
-- An instance sent fewer fields knows of a later write elsewhere by "a"
-- (a payload carries it when it is later than the fields it ships).
SELECT directus_sync._exists('{"b": "b1", "d": "c3", "f": {"t": {"c": "c2", "v": 1}}, "a": "c4"}')
       AS edited_elsewhere_after_delete,
       directus_sync._exists('{"b": "b1", "d": "c5", "f": {"t": {"c": "c2", "v": 1}}, "a": "c4"}')
       AS deleted_after_edit_elsewhere,
       directus_sync._merge('{"b": "b1", "f": {"t": {"c": "c2", "v": 1}}, "a": "c4"}',
                            '{"b": "b1", "f": {"t": {"c": "c3", "v": 2}, "n": {"c": "c4", "v": 3}}}')
       AS alive_of_the_fields,
       directus_sync._merge('{"b": "b1", "a": "c9"}', '{"b": "b2", "f": {"t": {"c": "c1", "v": 1}}}')
       AS later_creation_drops_alive;
-- A delete of an item of unknown creation ("b" missing or empty) deletes
-- whatever item is older: the merge keeps it as the sweep "u", whichever
-- state wins the key, and _exists counts it (review 11).
SELECT directus_sync._merge('{"b": "", "d": "c4"}', '{"b": "b1", "f": {"t": {"c": "c3", "v": 1}}}') AS sweep_kept,
       directus_sync._exists(directus_sync._merge('{"d": "c4"}', '{"b": "b1", "f": {"t": {"c": "c3", "v": 1}}}'))
       AS swept_away,
       directus_sync._exists(directus_sync._merge('{"d": "c4"}', '{"b": "b1", "f": {"t": {"c": "c5", "v": 1}}}'))
       AS written_after_the_sweep,
       directus_sync._exists('{"b": "c6", "u": "c4"}', delete_wins => true) AS created_after_the_sweep,
       directus_sync._exists('{"b": "c2", "u": "c4", "f": {"t": {"c": "c5", "v": 1}}}', delete_wins => true)
       AS delete_wins_sweeps_older;

-- The laws, on 30 random states drawn from small pools (so that clocks and
-- values tie often): every pair commutes, every state is idempotent, every
-- triple associates.
SELECT setseed(0.42);
CREATE TEMP TABLE states AS
SELECT g AS id,
       jsonb_build_object(
           'b', (ARRAY['', 'b1', 'b2'])[1 + floor(random() * 3)::int],
           'd', (ARRAY[NULL, 'c2', 'c4'])[1 + floor(random() * 3)::int],
           'f', (SELECT coalesce(jsonb_object_agg(f, jsonb_build_object(
                        'c', (ARRAY['', 'c1', 'c2', 'c3', 'c4', 'c5'])[1 + floor(random() * 6)::int],
                        'v', (ARRAY['1', '"x"', 'null', '{"a": 1}', '[2]', '"y"'])[1 + floor(random() * 6)::int]::jsonb)), '{}')
                   FROM unnest(ARRAY['a', 'b', 'c']) f WHERE random() < 0.6 AND g > 0)) AS s
  FROM generate_series(1, 30) g;
-- a third of them know of a later write elsewhere ("a")
UPDATE states SET s = s || jsonb_build_object('a', (ARRAY['c1', 'c3', 'c5'])[1 + (id / 3) % 3]) WHERE id % 3 = 0;
SELECT count(DISTINCT s) AS distinct_states FROM states;
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE directus_sync._merge(x.s, y.s) = directus_sync._merge(y.s, x.s)) AS commute
  FROM states x, states y;
SELECT count(*) AS states,
       count(*) FILTER (WHERE directus_sync._merge(directus_sync._merge(s, s), s) = directus_sync._merge(s, s))
       AS idempotent
  FROM states;
SELECT count(*) AS triples,
       count(*) FILTER (WHERE directus_sync._merge(directus_sync._merge(x.s, y.s), z.s)
                            = directus_sync._merge(x.s, directus_sync._merge(y.s, z.s))) AS associate
  FROM states x, states y, states z;
-- Merging is not a no-op: many pairs give a state that is neither input.
SELECT count(*) FILTER (WHERE m <> directus_sync._merge(x, x) AND m <> directus_sync._merge(y, y)) > 100 AS mixes
  FROM (SELECT x.s AS x, y.s AS y, directus_sync._merge(x.s, y.s) AS m FROM states x, states y) p;
-- A state that lacks a field and knows its write only by "a" (what an
-- instance sent fewer fields holds) decides existence as the whole state
-- does, with either delete rule, and adds nothing to it in a merge: the
-- decision does not depend on which fields an instance holds.
WITH p AS (
    SELECT s, jsonb_set(s, '{f}', (s->'f') - k) || jsonb_build_object(
               'a', greatest(s->>'a' COLLATE "C", s->'f'->k->>'c' COLLATE "C")) AS part
      FROM states, jsonb_object_keys(s->'f') k)
SELECT count(*) AS projections,
       count(*) FILTER (WHERE directus_sync._exists(part) = directus_sync._exists(s)
                          AND directus_sync._exists(part, true) = directus_sync._exists(s, true)) AS same_existence,
       count(*) FILTER (WHERE directus_sync._merge(part, s) = directus_sync._merge(s, s)) AS merge_adds_nothing,
       count(*) FILTER (WHERE directus_sync._exists(part) AND NOT directus_sync._exists(part - 'a')) > 0
       AS needs_alive
  FROM p;

-- Registers marked "w" (their clock's writer's value; clock_row.c judges it
-- from the value): on an equal clock the marked one wins whatever its value,
-- and the result keeps the mark, so the laws hold with marks as well. Every
-- register of a small pool (two clocks, values that sort above and below
-- each other, null, marked or not) and the missing one: every pair
-- commutes, every register is idempotent, every triple associates.
CREATE TEMP TABLE registers AS
SELECT jsonb_build_object('c', c, 'v', v::jsonb) || CASE WHEN w THEN '{"w": true}'::jsonb ELSE '{}' END AS r
  FROM unnest(ARRAY['c1', 'c2']) c, unnest(ARRAY['"aaa"', '"draft"', 'null', '1']) v, unnest(ARRAY[false, true]) w
UNION ALL SELECT NULL;
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE directus_sync._later(x.r, y.r) IS NOT DISTINCT FROM directus_sync._later(y.r, x.r)) AS commute,
       count(*) FILTER (WHERE x.r->>'c' = y.r->>'c' AND (x.r ? 'w') AND NOT (y.r ? 'w')) AS marked_against_unmarked,
       count(*) FILTER (WHERE x.r->>'c' = y.r->>'c' AND (x.r ? 'w') AND NOT (y.r ? 'w')
                          AND directus_sync._later(x.r, y.r) = x.r AND directus_sync._later(y.r, x.r) = x.r) AS marked_wins
  FROM registers x, registers y;
SELECT count(*) AS registers,
       count(*) FILTER (WHERE directus_sync._later(directus_sync._later(r, r), r) IS NOT DISTINCT FROM directus_sync._later(r, r)
                          AND directus_sync._later(r, r) = r) AS idempotent
  FROM registers WHERE r IS NOT NULL;
SELECT count(*) AS triples,
       count(*) FILTER (WHERE directus_sync._later(directus_sync._later(x.r, y.r), z.r)
                              IS NOT DISTINCT FROM directus_sync._later(x.r, directus_sync._later(y.r, z.r))) AS associate
  FROM registers x, registers y, registers z;
-- The merge's laws on 15 of the random states with some registers marked.
CREATE TEMP TABLE marked_states AS
SELECT id, CASE WHEN s->'f' = '{}' THEN s
                ELSE jsonb_set(s, '{f}', (SELECT jsonb_object_agg(k, CASE WHEN (id + ascii(k)) % 2 = 0
                                                                        THEN reg || '{"w": true}' ELSE reg END)
                                            FROM jsonb_each(s->'f') e(k, reg))) END AS s
  FROM states WHERE id <= 15;
SELECT count(*) FILTER (WHERE s::text LIKE '%"w": true%') > 5 AS some_marked FROM marked_states;
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE directus_sync._merge(x.s, y.s) = directus_sync._merge(y.s, x.s)) AS commute
  FROM marked_states x, marked_states y;
SELECT count(*) AS states,
       count(*) FILTER (WHERE directus_sync._merge(directus_sync._merge(s, s), s) = directus_sync._merge(s, s))
       AS idempotent
  FROM marked_states;
SELECT count(*) AS triples,
       count(*) FILTER (WHERE directus_sync._merge(directus_sync._merge(x.s, y.s), z.s)
                            = directus_sync._merge(x.s, directus_sync._merge(y.s, z.s))) AS associate
  FROM marked_states x, marked_states y, marked_states z;
-- The laws with sweeps ("u") in the inputs too, on 15 of the random states.
CREATE TEMP TABLE swept_states AS
SELECT id, CASE WHEN id % 3 = 1 THEN s || jsonb_build_object('u', (ARRAY['c1', 'c3', 'c5'])[1 + (id / 3) % 3])
                ELSE s END AS s
  FROM states WHERE id <= 15;
SELECT count(*) FILTER (WHERE s ? 'u') AS swept_inputs,
       count(*) FILTER (WHERE coalesce(s->>'b', '') = '' AND s->>'d' IS NOT NULL) AS unknown_born_deletes
  FROM swept_states;
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE directus_sync._merge(x.s, y.s) = directus_sync._merge(y.s, x.s)) AS commute,
       count(*) FILTER (WHERE directus_sync._merge(x.s, y.s) ? 'u') AS swept_results
  FROM swept_states x, swept_states y;
SELECT count(*) AS states,
       count(*) FILTER (WHERE directus_sync._merge(directus_sync._merge(s, s), s) = directus_sync._merge(s, s))
       AS idempotent
  FROM swept_states;
SELECT count(*) AS triples,
       count(*) FILTER (WHERE directus_sync._merge(directus_sync._merge(x.s, y.s), z.s)
                            = directus_sync._merge(x.s, directus_sync._merge(y.s, z.s))) AS associate
  FROM swept_states x, swept_states y, swept_states z;
