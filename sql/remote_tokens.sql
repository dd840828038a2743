-- add_remote and alter_remote carry a token: every argument is checked up
-- front, NULL included, so that no error of theirs can show the token (no
-- "Failing row contains (...)" DETAIL), and no message, DETAIL, HINT or
-- CONTEXT repeats it. What the server log's STATEMENT line shows is
-- t/030_token_logging.pl's part.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS directus_sync;
DROP TABLE IF EXISTS directus_sync_id_map;
CREATE EXTENSION directus_sync;
\set SHOW_CONTEXT never

-- Runs a call (text, with the token as $1) and returns its SQLSTATE and
-- message, flagged when the message, DETAIL, HINT or CONTEXT holds the token.
CREATE FUNCTION pg_temp.try(call text, token text DEFAULT 'tok-VISIBLE-0001') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; det text; hnt text; ctx text;
BEGIN
    EXECUTE call USING token;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                            hnt = PG_EXCEPTION_HINT, ctx = PG_EXCEPTION_CONTEXT;
    RETURN st || ' ' || msg
        || CASE WHEN strpos(concat_ws(' ', msg, det, hnt, ctx), token) > 0 THEN ' [TOKEN SHOWN]' ELSE '' END;
END
$$;

-- Every argument of add_remote NULL in turn (inbound_user may be NULL: no inbound user).
WITH args(a, v, ord) AS (VALUES
    ('name', '''n''', 1), ('url', '''https://n.example.com''', 2), ('token', '$1', 3),
    ('enabled', 'true', 4), ('notify_users', '''{}''', 5), ('forward_inbound', 'false', 6),
    ('connect_timeout_ms', '5000', 7), ('request_timeout_ms', '30000', 8), ('batch_max_items', '500', 9),
    ('batch_max_bytes', '1000000', 10), ('verify_tls', 'true', 11))
SELECT n.a AS null_argument,
       pg_temp.try(format('SELECT directus_sync.add_remote(%s)',
                          (SELECT string_agg(format('%s => %s', x.a, CASE WHEN x.a = n.a THEN 'NULL' ELSE x.v END),
                                             ', ' ORDER BY x.ord) FROM args x))) AS error
  FROM args n ORDER BY n.ord;
SELECT count(*) AS remotes FROM directus_sync.remote;

-- The review's case, as a client sees it: 22004, no DETAIL with the row.
SELECT directus_sync.add_remote('x', 'https://h.example.com', 'tok-visible', connect_timeout_ms => NULL);
\echo :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE

-- The other failing calls of a setup script: none shows the token.
SELECT pg_temp.try($$SELECT directus_sync.add_remote('b', 'https://b.example.com', $1)$$) AS first_add;
SELECT pg_temp.try($$SELECT directus_sync.add_remote('b', 'https://b.example.com', $1)$$) AS duplicate_name;
SELECT pg_temp.try($$SELECT directus_sync.add_remote('c', 'htps://c.example.com', $1)$$) AS url_typo;
SELECT pg_temp.try($$SELECT directus_sync.add_remote('c', $1, 'https://c.example.com')$$) AS url_and_token_swapped;
SELECT pg_temp.try($$SELECT directus_sync.add_remote('c', 'https://c.example.com', $1, batch_max_items => 0)$$) AS out_of_range;
SELECT pg_temp.try($$SELECT directus_sync.add_remote('c', 'https://c.example.com', $1, connect_timeout_ms => 0)$$) AS bad_timeout;
SELECT pg_temp.try($$SELECT directus_sync.add_remote('c', 'https://c.example.com', $1, notify_users => ARRAY[NULL]::uuid[])$$) AS null_user;
SELECT pg_temp.try($$SELECT directus_sync.add_remote(repeat('c', 64), 'https://c.example.com', $1)$$) AS long_name;
SELECT pg_temp.try($$SELECT directus_sync.add_remote('c', 'https://c.example.com', $1 || ' x')$$) AS token_with_space;
SELECT pg_temp.try($$SELECT directus_sync.add_remote('c', 'https://c.example.com', $1, inbound_user => '11111111-1111-1111-1111-111111111111')$$) AS no_activity_table;
SELECT pg_temp.try($$SELECT directus_sync.alter_remote('nope', token => $1)$$) AS alter_unknown;
SELECT pg_temp.try($$SELECT directus_sync.alter_remote(NULL, token => $1)$$) AS alter_null_name;
SELECT pg_temp.try($$SELECT directus_sync.alter_remote('b', token => $1, batch_max_bytes => 1)$$) AS alter_out_of_range;
SELECT pg_temp.try($$SELECT directus_sync.alter_remote('b', url => 'https://user:pw@b.example.com', token => $1)$$) AS alter_bad_url;
SELECT pg_temp.try($$SELECT directus_sync.alter_remote('b', url => $1)$$) AS alter_url_is_token;
SELECT pg_temp.try($$SELECT directus_sync.alter_remote('b', token => $1, new_name => '')$$) AS alter_empty_name;
SELECT pg_temp.try($$SELECT directus_sync.add_remote('c', 'https://c.example.com', 't')$$) AS other_remote;
SELECT pg_temp.try($$SELECT directus_sync.alter_remote('b', token => $1, new_name => 'c')$$) AS alter_taken_name;

-- The URL errors say what is wrong without repeating the URL (it may hold
-- a password, or be the token given in the wrong place).
SELECT directus_sync.add_remote('d', 'https://user:pw@d.example.com', 'tok-visible');
SELECT directus_sync.add_remote('d', 'ftp://d.example.com', 'tok-visible');
SELECT directus_sync.add_remote('d', 'https://d.example.com/#top', 'tok-visible');
SELECT directus_sync.add_remote('d', 'tok-visible', 'https://d.example.com');

-- The failures changed nothing.
SELECT name, url, batch_max_items, batch_max_bytes FROM directus_sync.remotes ORDER BY name;

DROP EXTENSION directus_sync;
DROP TABLE directus_sync_id_map;
