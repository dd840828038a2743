#!/usr/bin/python3
"""A "peer" Directus for directus_sync's tests: the /items requests the
replication worker sends, applied into a real PostgreSQL database the way
Directus 12.4.0 applies them for a NON-ADMIN user with create, read, update
and delete permission on the collection.

    /usr/bin/python3 t/peer_directus.py --port 56101 --dsn 'port=5432 dbname=b' \
        --tokens '{"token-a-on-b":"<uuid of the Directus user it is>"}' \
        --collections '{"articles":{"pk":"id"}}' --seed 42

prints "peer directus listening on 127.0.0.1:PORT" once it accepts
connections.  Needs python3-psycopg2 (Debian's).

Where t/fake_directus.py keeps items in memory, the peer keeps them in the
database, so that what the database does (triggers, the extension's capture
and loop guard, constraints) happens as it would under Directus.  Answers,
error bodies, query parsing and the HTTP plumbing are the fake's (imported;
its header gives the sources of each behaviour).  What is the peer's own,
read in @directus/api 12.4.0 (services/items.ts, controllers/items.ts,
database/errors/dialects/postgres.ts, middleware/error-handler.ts):

  * each request is one transaction, committed before the answer: a batch
    POST is createOne per item, a batch PATCH updateOne per item, a DELETE
    one delete of every key;
  * a create writes the fields that are columns of the table (others are
    ignored); an update naming a field that is no column is 403 FORBIDDEN
    ('You don't have permissions to perform "update" for the field(s) ...');
    values go through json_populate_record(NULL::table, item);
  * per item, in the same transaction: a directus_activity row (action
    create/update/delete, "user" = the token's user, collection, item = the
    key as text, ip, user_agent, origin) and, for create and update, a
    directus_revisions row: create: data = delta = the fields written; update:
    data = the row after the change, delta = the fields written.  Delete: no
    revision.  (t/directus_tables.sql makes both tables as Directus 12 has
    them.)  The activity row is written even when a BEFORE trigger refused the
    row (Directus does not look);
  * non-admin: an update or delete of a key that does not exist is 403
    FORBIDDEN for the whole request, nothing changed;
  * 23505 -> 400 RECORD_NOT_UNIQUE (collection, field from the error's
    DETAIL, value = the item's value of that field), 23502 -> 400
    NOT_NULL_VIOLATION, 23503 -> 400 INVALID_FOREIGN_KEY; any other database
    error (a trigger raising, ...) -> 500 INTERNAL_SERVER_ERROR "An unexpected
    error occurred." (what a non-admin is told); nothing committed;
  * read-backs are read after the writes, in the transaction: a create a
    BEFORE trigger refused (returned NULL) reads back nothing: a batch answers
    200 {"data": []}, a single object 204;
  * not modelled: singletons, QUERY_LIMIT_MAX, admin tokens, PATCH/DELETE by
    {"query"}.

Faults (seeded by --seed; set by the control API, JSON in and out, no auth):
  POST /__peer/faults  {"delay_ms": N (each /items request waits 0..N ms),
                        "fail_before": p (answer 503, nothing applied),
                        "fail_after": p (apply and commit, then answer 503),
                        "drop_after": p (apply and commit, then close the
                        connection without an answer)}; keys left out keep
                        their value; answers the faults in force
  POST /__peer/hold    {"tokens": [...]} (or {} for every token): answer 503
                       SERVICE_UNAVAILABLE to every request with these tokens,
                       GET /server/ping included, as Directus's pressure
                       limiter does (a link held down) until released
  POST /__peer/release {"tokens": [...]} (or {} for all)
  GET  /__peer/stats   {"requests", "applied" (requests committed), "failed"
                        (answered by a fault or a hold, or dropped), "held",
                        "dropped", "errors" (4xx/5xx of the database or the
                        contract)}
  POST /__peer/reset   faults and holds off, counters to 0
"""

import argparse
import json
import os
import random
import re
import signal
import sys
import threading
import time
from urllib.parse import urlsplit, unquote

import psycopg2
import psycopg2.errors
from psycopg2 import sql

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_directus as fake  # noqa: E402  (the same directory)
from fake_directus import ApiError  # noqa: E402


def service_unavailable():
    """Directus's own 503 (ServiceUnavailableError, as its pressure limiter raises it)."""
    return ApiError(503, "SERVICE_UNAVAILABLE", 'Service "api" is unavailable. Under pressure.',
                    service="api", reason="Under pressure")


def internal_error():
    """What Directus tells a non-admin of an error it did not expect."""
    return ApiError(500, "INTERNAL_SERVER_ERROR", "An unexpected error occurred.")


def js_text(value):
    """A value as JavaScript's `${value}` writes it (numbers, strings)."""
    return fake.keystr(value)


def database_error(exc, coll, data):
    """ApiError for a database error, as database/errors/dialects/postgres.ts
    translates it; a JavaScript falsy value leaves its part out of the message."""
    code, diag = exc.pgcode, exc.diag
    if code in ("23505", "23503") and diag.message_detail:
        m = re.search(r"\(([^)]+)\)", diag.message_detail)
        if m:
            field = m.group(1)
            value = data.get(field) if isinstance(data, dict) else None
            what = "Value " if code == "23505" else "Invalid foreign key"
            msg = what + ('"%s" ' % js_text(value) if value not in (None, "", 0, False) else "")
            if code == "23503":
                msg = msg.rstrip() + " "
            msg += 'for field "%s" in collection "%s" ' % (field, diag.table_name)
            msg = msg + "has to be unique." if code == "23505" else msg.rstrip() + "."
            return ApiError(400, "RECORD_NOT_UNIQUE" if code == "23505" else "INVALID_FOREIGN_KEY", msg,
                            collection=diag.table_name, field=field, value=value)
    if code == "23502" and diag.column_name:
        return ApiError(400, "NOT_NULL_VIOLATION", 'Value for field "%s" in collection "%s" can\'t be null.'
                        % (diag.column_name, diag.table_name), collection=diag.table_name, field=diag.column_name)
    return internal_error()


class Peer:
    """Configuration, faults and counters; one lock guards the mutable part."""

    def __init__(self, args):
        self.dsn = args.dsn
        self.tokens = json.loads(args.tokens)
        self.collections = {}
        for name, spec in json.loads(args.collections).items():
            spec = spec or {}
            if spec.get("singleton"):
                raise SystemExit("peer directus: singletons are not modelled (%s)" % name)
            self.collections[name] = fake.Collection(name, spec.get("pk", "id"))
            # "accountability": null, as directus_collections may say: no activity, no revisions
            self.collections[name].tracked = spec.get("accountability", "all") is not None
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()
        self.idle = []          # database connections not in use
        # What the fake's Handler reads from its runner's state.
        self.max_payload = args.max_payload
        self.conn_ids = iter(range(1, 1 << 62))
        self.query_limit_max = None
        self.readback = True
        self.reset()

    def reset(self):
        with self.lock:
            self.faults = {"delay_ms": 0, "fail_before": 0.0, "fail_after": 0.0, "drop_after": 0.0}
            self.held_all = False
            self.held = set()
            self.stats = {"requests": 0, "applied": 0, "failed": 0, "held": 0, "dropped": 0, "errors": 0}

    def count(self, name):
        with self.lock:
            self.stats[name] += 1

    def chance(self, name):
        with self.lock:
            p = self.faults[name]
            return p > 0 and self.rng.random() < p

    def delay(self):
        with self.lock:
            n = self.faults["delay_ms"]
            return self.rng.uniform(0, n) / 1000.0 if n > 0 else 0

    def is_held(self, token):
        with self.lock:
            return self.held_all or token in self.held

    def connection(self):
        with self.lock:
            if self.idle:
                return self.idle.pop()
        conn = psycopg2.connect(self.dsn, application_name="peer_directus")
        return conn

    def give_back(self, conn):
        if conn.closed:
            return
        with self.lock:
            self.idle.append(conn)


# --------------------------------------------------------------------------
# The /items requests, in one transaction each (cur), as user `user`.

class Items:
    def __init__(self, cur, coll, user, meta):
        self.cur, self.coll, self.user, self.meta = cur, coll, user, meta
        self.table = sql.Identifier(coll.name)
        self.pk = coll.pk
        cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(quote_ident(%s)) "
                    "AND attnum > 0 AND NOT attisdropped ORDER BY attnum", (coll.name,))
        self.columns = [r[0] for r in cur.fetchall()]
        if self.pk not in self.columns:
            raise fake.no_access(coll.name)

    def keys_in(self):
        """SQL: the rows whose key is among the JSON array %s (typed as the column)."""
        return sql.SQL("{pk} IN (SELECT (json_populate_record(NULL::{t}, json_build_object({pkl}, e))).{pk} "
                       "FROM json_array_elements(%s::json) e)").format(
            pk=sql.Identifier(self.pk), t=self.table, pkl=sql.Literal(self.pk))

    def rows(self, keys):
        """The rows of these keys (JSON values), as dicts, by key text, one each."""
        self.cur.execute(sql.SQL("SELECT {pk}::text, row_to_json(x)::text FROM {t} x WHERE ").format(
            pk=sql.Identifier(self.pk), t=self.table) + self.keys_in(), (json.dumps(keys),))
        return {k: json.loads(r) for k, r in self.cur.fetchall()}

    def activity(self, action, key, delta=None, data=None):
        """Directus's bookkeeping of one item: activity, and revision unless a delete
        (none for a collection whose accountability is off)."""
        if not self.coll.tracked:
            return
        self.cur.execute("INSERT INTO directus_activity (action, \"user\", collection, item, ip, user_agent, origin) "
                         "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                         (action, self.user, self.coll.name, fake.keystr(key), self.meta["ip"],
                          self.meta["user_agent"], self.meta["origin"]))
        activity = self.cur.fetchone()[0]
        if action != "delete":
            self.cur.execute("INSERT INTO directus_revisions (activity, collection, item, data, delta) "
                             "VALUES (%s, %s, %s, %s, %s)",
                             (activity, self.coll.name, fake.keystr(key),
                              None if data is None else json.dumps(data), json.dumps(delta)))

    def write(self, statement, item):
        try:
            self.cur.execute(statement, (json.dumps(item),))
        except psycopg2.Error as exc:
            raise database_error(exc, self.coll.name, item)

    def create(self, item):
        fake.require_pk(self.coll, item, "Item")
        cols = [c for c in item if c in self.columns]   # other fields: ignored
        ids = sql.SQL(", ").join(map(sql.Identifier, cols))
        self.write(sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM json_populate_record(NULL::{t}, %s)").format(
            t=self.table, c=ids), item)
        written = {c: item[c] for c in cols}
        self.activity("create", item[self.pk], delta=written, data=written)

    def update(self, key, change, denied):
        change = {f: v for f, v in change.items() if f != self.pk}   # a key never changes
        unknown = [f for f in change if f not in self.columns]
        if unknown:
            raise fake.forbidden('You don\'t have permissions to perform "update" for the field(s) %s in collection '
                                 '"%s" or it does not exist.' % (", ".join('"%s"' % f for f in unknown), self.coll.name))
        if not self.rows([key]):
            raise denied()
        if change:
            self.update_row(change, {**change, self.pk: key})
        after = self.rows([key]).get(fake.keystr(key))
        self.activity("update", key, delta=change, data=after)

    def update_row(self, change, one):
        ids = sql.SQL(", ").join(map(sql.Identifier, change))
        statement = sql.SQL("UPDATE {t} SET ({c}) = (SELECT {c} FROM json_populate_record(NULL::{t}, %(j)s)) "
                            "WHERE {pk} = (json_populate_record(NULL::{t}, %(j)s)).{pk}").format(
            t=self.table, c=ids, pk=sql.Identifier(self.pk))
        try:
            self.cur.execute(statement, {"j": json.dumps(one)})
        except psycopg2.Error as exc:
            raise database_error(exc, self.coll.name, one)

    def delete(self, keys):
        for k in keys:
            if not isinstance(k, (str, int, float)) or isinstance(k, bool):
                raise fake.invalid_payload("Keys should be strings or numbers")
        have = self.rows(keys)
        if any(fake.keystr(k) not in have for k in keys):
            raise fake.no_permission("delete", self.coll.name)
        try:
            self.cur.execute(sql.SQL("DELETE FROM {t} WHERE ").format(t=self.table) + self.keys_in(),
                             (json.dumps(keys),))
        except psycopg2.Error as exc:
            raise database_error(exc, self.coll.name, {})
        for k in keys:
            self.activity("delete", k)

    def read_back(self, keys, q):
        """The items of these keys as they are now (ItemsService.readMany)."""
        have = self.rows(keys)
        out, seen = [], set()
        for k in keys:
            ks = fake.keystr(k)
            if ks in have and ks not in seen:
                seen.add(ks)
                out.append(fake.project(have[ks], q.fields))
        return fake.read_many(self.coll, q, out)


def items_request(items, method, key, body, nested, q):
    """(status, payload) of one /items request; raises ApiError."""
    coll, pk = items.coll, items.pk
    if method == "GET":
        # Directus 11 and 12: a field the collection lacks in ?fields= is 403
        unknown = [f for f in (q.fields or []) if f != "*" and "." not in f and f not in items.columns]
        if unknown:
            raise fake.forbidden('You don\'t have permission to access field(s) %s in collection "%s" or it does '
                                 'not exist.' % (", ".join('"%s"' % f for f in unknown), coll.name))
        if key is not None:
            row = items.rows([key]).get(key)
            if row is None:
                raise fake.forbidden()
            return 200, {"data": fake.project(row, q.fields)}
        # The fake's reader, over the rows the filter can need: for a filter
        # on the key alone only those keys, else every row.
        flt = fake.parse_filter(nested)
        view = fake.Collection(coll.name, pk)
        cond = flt.get(pk) if isinstance(flt, dict) and len(flt) == 1 else None
        if isinstance(cond, dict) and len(cond) == 1 and next(iter(cond)) in ("_eq", "_in"):
            op, want = next(iter(cond.items()))
            view.items = items.rows(fake.as_list(want) if op == "_in" else [want])
        else:
            items.cur.execute(sql.SQL("SELECT {pk}::text, row_to_json(x)::text FROM {t} x ORDER BY 1").format(
                pk=sql.Identifier(pk), t=items.table))
            view.items = {k: json.loads(r) for k, r in items.cur.fetchall()}
        status, answer = fake.items_read(items_state, view, nested, q)
        if "total_count" in answer.get("meta", {}):
            items.cur.execute(sql.SQL("SELECT count(*) FROM {t}").format(t=items.table))
            answer["meta"]["total_count"] = items.cur.fetchone()[0]
        return status, answer
    if method == "POST":
        if key is not None:
            raise fake.route_not_found("/items/%s/%s" % (coll.name, key))
        batch = body if isinstance(body, list) else [body if body is not None else {}]
        for item in batch:
            items.create(item)
        keys = [item[pk] for item in batch]
        got = items.read_back(keys, q)
        if isinstance(body, list):
            return 200, {"data": got}
        return (200, {"data": got[0]}) if got else (204, None)
    if method == "PATCH":
        body = {} if body is None else body
        if key is not None:
            if not isinstance(body, dict):
                raise fake.invalid_payload("Update should be an object")
            items.update(key, body, lambda: fake.no_update_permission(coll, body))
            got = items.read_back([key], q)
            return (200, {"data": got[0]}) if got else (204, None)
        if isinstance(body, list):
            keys = [fake.require_pk(coll, item, "Item in update") for item in body]
            # Directus checks every key before it changes anything.
            have = items.rows(keys)
            if any(k not in have for k in keys):
                raise fake.no_permission("update", coll.name)
            for item in body:
                items.update(item[pk], item, lambda: fake.no_permission("update", coll.name))
            return 200, {"data": items.read_back([item[pk] for item in body], q)}
        if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
            raise fake.invalid_payload('"value" must contain at least one of [query, keys]')
        data = body.get("data")
        if not isinstance(data, dict):
            raise fake.invalid_payload('"data" is required' if data is None else '"data" must be of type object')
        have = items.rows(body["keys"])
        if any(fake.keystr(k) not in have for k in body["keys"]):
            raise fake.no_update_permission(coll, data)
        for k in body["keys"]:
            items.update(k, data, lambda: fake.no_update_permission(coll, data))
        return 200, {"data": items.read_back(body["keys"], q)}
    # DELETE
    if key is not None:
        keys = [key]
    elif isinstance(body, list):
        keys = body
    elif isinstance(body, dict) and isinstance(body.get("keys"), list):
        keys = body["keys"]
    else:
        raise fake.invalid_payload('"value" must contain at least one of [query, keys]')
    items.delete(keys)
    return 204, None


class ReadState:
    """What fake.items_read asks of its state."""
    readback = True


items_state = ReadState()


# --------------------------------------------------------------------------
# HTTP: the fake's handler (body reading, answers), with the peer's dispatch.

class Handler(fake.Handler):
    server_version = "peer-directus"

    def log_message(self, fmt, *args):
        if self.runner.verbose:
            sys.stderr.write("peer directus [conn %d] %s\n" % (self.conn_id, fmt % args))

    def dispatch(self):
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        segs = [unquote(s) for s in parts.path.split("/") if s]
        try:
            if path.startswith("/__peer/"):
                self.peer_control(segs[1:])
            else:
                self.api(path, segs, parts.query)
        except Exception as exc:   # a bug here must not kill the connection silently
            import traceback
            traceback.print_exc()
            self.close_connection = True
            self.respond(500, {"errors": [{"message": "peer directus: %r" % exc,
                                           "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]})

    def token(self, flat):
        token = flat.get("access_token")
        if isinstance(token, list):
            token = token[-1]
        parts = self.headers.get("Authorization", "").split(" ")
        if len(parts) == 2 and parts[0].lower() == "bearer":
            token = parts[1]
        return token or None

    def api(self, path, segs, rawquery):
        peer = self.state
        raw, _ = self.read_body()
        flat, nested = fake.parse_query(rawquery)
        token = self.token(flat)
        is_items = bool(segs) and segs[0] == "items"
        if is_items:
            peer.count("requests")
            wait = peer.delay()
            if wait:
                time.sleep(wait)
            held = peer.is_held(token)
            if held or peer.chance("fail_before"):
                peer.count("failed")
                if held:
                    peer.count("held")
                err = service_unavailable()
                return self.respond(err.status, err.body())
        elif self.command == "GET" and path.rstrip("/") == "/server/ping" and peer.is_held(token):
            # Directus's pressure limiter comes before its ping route (app.ts):
            # a held link answers the ping 503 too (not counted in the stats)
            err = service_unavailable()
            return self.respond(err.status, err.body())
        status, payload, text, applied = 500, None, None, False
        try:
            # Directus's middleware order: body, then the token, then the route.
            if raw is None:
                raise fake.invalid_payload("request entity too large")
            body = None
            if raw:
                try:
                    body = json.loads(raw, parse_constant=fake.no_json_constant)
                    if not isinstance(body, (dict, list)):
                        raise ValueError("Unexpected token in JSON at position 0")
                except ValueError as exc:
                    raise fake.invalid_payload(str(exc))
            if self.command == "GET" and path.rstrip("/") == "/server/ping":
                status, text = 200, "pong"
            else:
                user = None
                if token is not None:
                    if token not in peer.tokens:
                        raise ApiError(401, "INVALID_CREDENTIALS", "Invalid user credentials.")
                    user = peer.tokens[token]
                if self.command == "GET" and path.rstrip("/") == "/server/health":
                    raise fake.forbidden()   # 12: an admin's only
                if not is_items or len(segs) not in (2, 3) or self.command not in ("GET", "POST", "PATCH", "DELETE"):
                    raise fake.route_not_found(path)
                cname = segs[1]
                coll = peer.collections.get(cname)
                if coll is None or cname.startswith("directus_") or user is None:
                    raise fake.no_access(cname)
                q = fake.Query(peer, nested)
                key = segs[2] if len(segs) == 3 else None
                status, payload = self.transaction(coll, user, key, body, nested, q)
                applied = self.command != "GET"
        except ApiError as err:
            status, payload = err.status, err.body()
            if is_items:
                peer.count("errors")
        if applied:
            peer.count("applied")
            if peer.chance("drop_after"):
                peer.count("dropped")
                peer.count("failed")
                self.close_connection = True
                return
            if peer.chance("fail_after"):
                peer.count("failed")
                err = service_unavailable()
                return self.respond(err.status, err.body())
        self.respond(status, payload, None, text)

    def transaction(self, coll, user, key, body, nested, q):
        meta = {"ip": self.client_address[0], "user_agent": self.headers.get("User-Agent"),
                "origin": self.headers.get("Origin")}
        conn = self.state.connection()
        try:
            with conn.cursor() as cur:
                try:
                    result = items_request(Items(cur, coll, user, meta), self.command, key, body, nested, q)
                except ApiError:
                    conn.rollback()
                    raise
                except psycopg2.Error as exc:
                    conn.rollback()
                    raise database_error(exc, coll.name, body if isinstance(body, dict) else {})
            conn.commit()
            return result
        except psycopg2.OperationalError:
            conn.close()
            raise internal_error()
        finally:
            self.state.give_back(conn)

    def peer_control(self, segs):
        raw, _ = self.read_body()
        peer = self.state
        try:
            body = json.loads(raw) if raw else {}
        except ValueError as exc:
            return self.respond(400, {"error": "invalid JSON: %s" % exc})
        name = "%s %s" % (self.command, segs[0] if segs else "")
        if name == "GET stats":
            with peer.lock:
                return self.respond(200, dict(peer.stats))
        if name == "POST reset":
            peer.reset()
            return self.respond(200, {"ok": True})
        if name == "POST faults":
            with peer.lock:
                for k, v in body.items():
                    if k not in peer.faults:
                        return self.respond(400, {"error": "unknown fault %r" % k})
                    peer.faults[k] = float(v)
                return self.respond(200, dict(peer.faults))
        if name in ("POST hold", "POST release"):
            tokens = body.get("tokens")
            with peer.lock:
                if name == "POST hold":
                    if tokens is None:
                        peer.held_all = True
                    else:
                        peer.held.update(tokens)
                elif tokens is None:
                    peer.held_all, peer.held = False, set()
                else:
                    peer.held.difference_update(tokens)
                return self.respond(200, {"all": peer.held_all, "tokens": sorted(peer.held)})
        return self.respond(404, {"error": "no control route %s" % name})


class Runner(fake.Runner):
    """The fake's listener, around the peer's state and handler."""

    def __init__(self, args, peer):
        self.port = args.port
        self.verbose = args.verbose
        self.state = peer
        self.lock = threading.Lock()
        self.server = None
        self.thread = None
        self.conns = set()
        self.stopping = threading.Event()
        self.generation = 0

    def listen(self):
        server = fake.Server(("127.0.0.1", self.port), Handler)
        server.runner = self
        with self.lock:
            self.server = server
        self.thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()


def main():
    parser = argparse.ArgumentParser(description="A Directus that applies /items requests into PostgreSQL.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True, help="libpq conninfo of the database")
    parser.add_argument("--tokens", required=True, help='JSON: {"token": "<uuid of its Directus user>", ...}')
    parser.add_argument("--collections", default='{"articles":{"pk":"id"}}')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-payload", type=int, default=1048576)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    peer = Peer(args)
    peer.give_back(peer.connection())   # fail now, not at the first request, if the database is not there
    runner = Runner(args, peer)
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    runner.listen()
    print("peer directus listening on 127.0.0.1:%d" % args.port, flush=True)
    signal.sigwait(stop_signals)
    runner.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
