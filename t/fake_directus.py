#!/usr/bin/python3
"""A fake Directus REST server for directus_sync's tests and benchmarks.

It speaks the part of the Directus 10-12 REST API that the replication worker
uses (/items/...), keeps items in memory, and has a control API under /__fake/
that lets a test look inside, seed data, and make the server fail, stall or
go away for a while.  Python 3 standard library only.

    /usr/bin/python3 t/fake_directus.py --port 55401 \
        --collections '{"articles":{"pk":"id"},"settings":{"pk":"id","singleton":true}}'

prints "fake directus listening on 127.0.0.1:55401" once it accepts
connections.  t/002_fake_directus.pl checks it against the contract, and can
run the same assertions against a real Directus (DIRECTUS_URL).

Where each behaviour comes from
-------------------------------
(S) read in the Directus source (repo directus/directus, 10.x-11.x files
    in the search index), and (M) measured on a real Directus 12.4.0 with
    t/002_fake_directus.pl (DIRECTUS_URL=...) plus curl by hand, as an
    admin, a non-admin with CRUD permissions, a non-admin without read
    permission and no token.  Everything below is both unless marked.
    11.17.4 answers every request below exactly as 12.4.0 does (t/002 runs
    against both in every test run; the hand-made requests were repeated on
    both).  Directus 10.13.4 differs, and --directus-version 10 (or
    "directus_version" of /__fake/mode) answers as it does (M):
    - every 403 FORBIDDEN of /items carries the generic message "You don't
      have permission to access this." and no reason (unknown collection,
      no token, a non-admin's missing key);
    - RECORD_NOT_UNIQUE names no value: 'Value for field "id" in collection
      "articles" has to be unique.', extensions collection and field only.
  * GET /server/health: {"status":"ok"} without a token up to 11; 403
    FORBIDDEN without one on 12 (M on 10.13.4, 11.17.4, 12.4.0).
  * error body {"errors":[{"message","extensions":{"code",...}}]}, the
    extensions carrying the error's own fields too (reason, path,
    collection, field, value): api/src/middleware/error-handler.ts.
  * bad static token -> 401 INVALID_CREDENTIALS "Invalid user credentials.",
    also on unknown routes: api/src/utils/get-accountability-for-token.ts.
    No token at all is no error: the request runs as the public role,
    which (by default, and always in this fake) may do nothing, so /items
    answers 403 FORBIDDEN.
  * token from "Authorization: Bearer" or ?access_token=:
    api/src/middleware/extract-token.ts.
  * a body over MAX_PAYLOAD_SIZE (default 1mb) and unparsable JSON (also
    NaN and Infinity, which JSON.parse refuses; M: Node 22's JSON.parse) are both
    caught by express.json() in api/src/app.ts and rethrown as
    InvalidPayloadError({reason: err.message}): 400 INVALID_PAYLOAD
    "Invalid payload. request entity too large." -- not 413 -- before
    authentication.  (The JSON parser's own wording differs here.)
  * GET /server/ping -> "pong" without auth: app.ts.
  * unknown route (also PUT /items/:c) -> 404 ROUTE_NOT_FOUND "Route <path>
    doesn't exist.": api/src/controllers/not-found.ts.
  * unknown collection, or one the token may not read -> 403 FORBIDDEN,
    message = reason = 'You don't have permission to access collection "c"
    or it does not exist. Queried in root.':
    api/src/middleware/collection-exists.ts.  directus_* collections are
    refused under /items (S: controllers/items.ts).
  * duplicate key -> 400 RECORD_NOT_UNIQUE 'Value "1" for field "id" in
    collection "articles" has to be unique.', extensions collection, field,
    value (the JSON value): database/errors/dialects/postgres.ts; a batch
    create is one transaction, nothing is stored (services/items.ts).
  * api/src/controllers/items.ts + services/items.ts:
    - POST, and PATCH /:pk, on a singleton -> 404 ROUTE_NOT_FOUND.
    - PATCH on a singleton upserts the one item and reads it back; an empty
      singleton reads as {"<pk>": null, <other fields' defaults>}.
    - a write that the token may not read back -> 204 (POST, PATCH by id,
      batch PATCH); but the singleton's read-back is not guarded: without
      read permission the change is made and 403 comes back.
    - PATCH /:pk of a missing item as admin: nothing changes, 204.
    - batch PATCH (array) as admin: missing keys are skipped, the read-back
      returns only the items that exist -> 200 {"data":[...]} ([] if none).
    - batch PATCH item without its key -> 400 INVALID_PAYLOAD "Invalid
      payload. Item in update misses primary key."
    - PATCH {"keys":[...],"data":{...}} / {"query":...}, DELETE [keys] /
      {"keys":[...]}: a wrong shape is 400 INVALID_PAYLOAD with Joi's words
      ('"data" is required', '"value" must contain at least one of [query,
      keys]'): middleware/validate-batch.ts.
    - non-admin, a key that does not exist -> 403 FORBIDDEN for the whole
      request, nothing changed: PATCH /:pk 'You don't have permissions to
      perform "update" for the field(s) "title" in collection "c" or it does
      not exist.', batch PATCH and DELETE 'You don't have permission to
      perform "update"|"delete" for collection "c" or it does not exist.'
    - admin DELETE of a missing key: 204.
    - GET /:pk of a missing item -> 403 "You don't have permission to access
      this." (no reason).
  * query parameters of every /items request, sanitized and validated
    before the request runs (utils/sanitize-query.ts, validate-query.ts;
    M with QUERY_LIMIT_MAX=100):
    - no limit: GET lists QUERY_LIMIT_DEFAULT (100) items at most; a
      write's read-back (services/items.ts readMany) as many as it wrote.
      With QUERY_LIMIT_MAX set (--query-limit-max, or "query_limit_max" of
      /__fake/mode) both list min(100, QUERY_LIMIT_MAX) at most.
    - limit=-1: no limit, or QUERY_LIMIT_MAX when set.
    - a limit over QUERY_LIMIT_MAX, or under -1: 400 INVALID_QUERY
      'Invalid query. "limit" must be less than or equal to 100.' (reason
      the same without "Invalid query. " and the period), for any method,
      and nothing is written.
    - a read-back cut by a limit keeps the items of the lowest keys.
    - meta=filter_count (total_count, *) on GET /items: {"meta":
      {"filter_count": items matching the filter, whatever the limit},
      "data": [...]}; another name is 400 INVALID_QUERY '"meta[0]" must be
      one of [total_count, filter_count]'.
  * with mode "clock_skew_ms" set, a POST or PATCH of /items whose
    directus_sync_meta carries a clock ("b", "d" or a value of "f": the
    clocks the receiving database observes) more than that many ms ahead of
    the fake's clock (its Date, clock_offset_s included) is refused whole
    with 500 INTERNAL_SERVER_ERROR, nothing stored: what a Directus whose
    database has directus_sync answers then (S: src/clock_row.c fails the
    write with 55000, and Directus answers an unexpected database error
    with 500).  Off (null) by default.
Not checked, from docs/directus-behaviour.md or the project's needs:
  * 429 REQUESTS_EXCEEDED with Retry-After (here only via /__fake/fail).
  * filter operators beyond _eq/_in, and their comparison as strings.
  * "fields" naming a field an item lacks leaves it out (Directus: null for
    a schema field, 403 for an unknown one); read-backs hold only the fields
    stored (Directus: every field of the schema).
  * items must carry their key on create (Directus may auto-increment).
  * GET /items/:c without an explicit sort returns insertion order.

Control API (no auth, JSON in and out, never logged; handlers ctl_*):
  POST   /__fake/reset              items, request log, failure rules, stalls,
                                    mode and counters back to the start
                                    (collections are kept)
  POST   /__fake/collections        {"name","pk":"id","singleton":false}
                                    defines or replaces one, empty
  GET    /__fake/collections        the collections with their item counts
  POST   /__fake/seed/:c            item or array of items, stored as is
  GET    /__fake/items/:c           {"data":[items by key, numeric order
                                    when every key is an integer]}
  GET    /__fake/requests[?since=N] {"data":[{"seq","conn","method","path",
                                    "query","body","status","items","bytes",
                                    "ts"}]} for every request outside /__fake/
                                    (the last --log-max of them)
  DELETE /__fake/requests           clears that log
  POST   /__fake/fail               {"status","code","message","count" (1;
                                    -1 = until cleared),"retry_after",
                                    "method","collection","key"}: matching
                                    requests get that error, data untouched;
                                    first matching rule wins; code defaults
                                    by status (429 REQUESTS_EXCEEDED, ...)
  DELETE /__fake/fail               clears the failure rules
  POST   /__fake/stall              {"seconds","count"}: the next /items
                                    requests wait that long before answering
  POST   /__fake/down               {"seconds"}: stop listening and drop every
                                    open connection, listen again later
  POST   /__fake/mode               {"admin":bool,"readback":bool,
                                    "query_limit_max":int or null,
                                    "directus_version":10, 11 or 12,
                                    "clock_offset_s": seconds added to the
                                    time the Date header tells,
                                    "clock_skew_ms": null, or refuse a
                                    write whose clocks are further ahead
                                    of this clock (below)}
  GET    /__fake/stats              {"requests","connections" (those that
                                    carried an API request),"items_received",
                                    "stalled" (requests a stall holds now)}
"items" in the log counts the objects or keys a request carries (the key in
the path of PATCH/DELETE /items/:c/:id counts as one).
"""

import argparse
import collections
import itertools
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

JSON_TYPE = "application/json; charset=utf-8"


class ApiError(Exception):
    """An error answered in Directus's format."""

    def __init__(self, status, code, message, headers=None, **extensions):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extensions = extensions

    def body(self, version=12):
        """The body as Directus VERSION (its major) words it: 10 says less."""
        message, ext = self.message, {"code": self.code}
        ext.update(self.extensions)
        if version < 11 and self.code == "FORBIDDEN":
            # Directus 10: every 403 of /items is the generic one, no reason.
            message, ext = "You don't have permission to access this.", {"code": self.code}
        elif version < 11 and self.code == "RECORD_NOT_UNIQUE":
            # Directus 10 names no value.
            ext.pop("value", None)
            message = 'Value for field "%s" in collection "%s" has to be unique.' % (ext.get("field"),
                                                                                    ext.get("collection"))
        return {"errors": [{"message": message, "extensions": ext}]}


def forbidden(reason=None):
    """403 FORBIDDEN.  With a reason, Directus makes it the message too."""
    if reason is None:
        return ApiError(403, "FORBIDDEN", "You don't have permission to access this.")
    return ApiError(403, "FORBIDDEN", reason, reason=reason)


def no_access(coll_name):
    """What an unknown collection, or one the token may not read, gets."""
    return forbidden('You don\'t have permission to access collection "%s" or it does not exist. '
                     'Queried in root.' % coll_name)


def no_permission(action, coll_name):
    """Non-admin: a batch touching a key that does not exist."""
    return forbidden('You don\'t have permission to perform "%s" for collection "%s" or it does not exist.'
                     % (action, coll_name))


def invalid_payload(reason):
    return ApiError(400, "INVALID_PAYLOAD", "Invalid payload. %s." % reason, reason=reason)


def no_json_constant(name):
    """JSON.parse knows no NaN or Infinity (Python's json.loads does)."""
    raise ValueError("Unexpected token '%s', \"%s\" is not valid JSON" % (name[0], name))


def route_not_found(path):
    return ApiError(404, "ROUTE_NOT_FOUND", "Route %s doesn't exist." % path, path=path)


def keystr(value):
    """The form in which keys and filter values are compared: 1 and "1" match."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def to_json_bytes(value):
    """JSON as Directus (Node's JSON.stringify) sends it: non-ASCII as raw UTF-8, not \\u escapes,
    except a lone surrogate (UTF-8 has none), which JSON.stringify writes as a \\u escape."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return LONE_SURROGATE.sub(lambda m: "\\u%04x" % ord(m.group()), text).encode("utf-8")


def key_sort(keys):
    """Numeric order when every key is an integer, else string order."""
    def is_int(k):
        return k.lstrip("-").isdigit() and k not in ("", "-")
    if all(is_int(k) for k in keys):
        return sorted(keys, key=int)
    return sorted(keys)


class Collection:
    def __init__(self, name, pk="id", singleton=False):
        self.name = name
        self.pk = pk
        self.singleton = bool(singleton)
        self.items = {}  # keystr(key) -> item (dict), in insertion order


class State:
    """Everything the server knows; survives /__fake/down.  One lock guards
    it all: every operation under it is short, and the GIL serialises the
    Python work anyway."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.token = args.token
        self.max_payload = args.max_payload
        self.default_admin = args.admin
        self.admin = args.admin
        self.readback = True
        self.default_query_limit_max = args.query_limit_max
        self.query_limit_max = args.query_limit_max
        self.default_directus_version = args.directus_version
        self.directus_version = args.directus_version
        self.clock_offset_s = 0.0  # added to the time the Date header tells
        self.clock_skew_ms = None  # set: writes with clocks further ahead are refused (500)
        self.collections = {}
        for name, spec in json.loads(args.collections or "{}").items():
            spec = spec or {}
            self.collections[name] = Collection(name, spec.get("pk", "id"), spec.get("singleton", False))
        self.log = collections.deque(maxlen=args.log_max) if args.log_max > 0 else None
        self.seq = itertools.count(1)
        self.conn_ids = itertools.count(1)
        self.rules = []    # failure rules, first match wins
        self.stalls = []   # [seconds, remaining count]
        self.stalled = 0   # requests held by a stall right now
        self.reset_counters()

    def reset_counters(self):
        self.requests = 0
        self.connections = 0
        self.items_received = 0

    def reset(self):
        with self.lock:
            for coll in self.collections.values():
                coll.items = {}
            if self.log is not None:
                self.log.clear()
            self.rules = []
            self.stalls = []
            self.admin = self.default_admin
            self.readback = True
            self.query_limit_max = self.default_query_limit_max
            self.directus_version = self.default_directus_version
            self.clock_offset_s = 0.0
            self.clock_skew_ms = None
            self.reset_counters()


# --------------------------------------------------------------------------
# Query strings: qs-style brackets (filter[id][_in]=1,2) become nested dicts.

def parse_query(raw):
    """(flat, nested): flat is what the request log shows (name -> value, a
    list when repeated); nested reads brackets the way Directus's qs does, so
    filter[id][_in]=1,2 is {"filter": {"id": {"_in": "1,2"}}} and
    fields[]=a&fields[]=b is {"fields": ["a", "b"]}."""
    flat, nested = {}, {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        if name in flat:
            if not isinstance(flat[name], list):
                flat[name] = [flat[name]]
            flat[name].append(value)
        else:
            flat[name] = value
        parts = name.replace("]", "").split("[")
        is_list = len(parts) > 1 and parts[-1] == ""
        if is_list:
            parts = parts[:-1]
        node = nested
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = node[part] = {}
            node = nxt
        last, cur = parts[-1], node.get(parts[-1])
        if is_list or (cur is not None and not isinstance(cur, dict)):
            node[last] = (cur if isinstance(cur, list) else [] if cur is None else [cur]) + [value]
        else:
            node[last] = value
    return flat, nested


def parse_fields(nested):
    """The "fields" parameter as a list of names, or None for all fields."""
    spec = nested.get("fields")
    if spec is None:
        return None
    if not isinstance(spec, list):
        spec = [spec]
    names = []
    for part in spec:
        names.extend(f.strip() for f in str(part).split(",") if f.strip())
    if not names or "*" in names:
        return None
    return names


def project(item, fields):
    if item is None or fields is None:
        return item
    return {f: item[f] for f in fields if f in item}


QUERY_LIMIT_DEFAULT = 100
META_VALUES = ("total_count", "filter_count")


def invalid_query(reason):
    return ApiError(400, "INVALID_QUERY", "Invalid query. %s." % reason, reason=reason)


class Query:
    """The query parameters an /items request carries, sanitized and
    validated as Directus's sanitize-query middleware does (utils/
    sanitize-query.ts, validate-query.ts), for every method."""

    def __init__(self, state, nested):
        self.fields = parse_fields(nested)
        maximum = state.query_limit_max if state.query_limit_max is not None and \
            state.query_limit_max >= 0 else None
        raw = nested.get("limit")
        if raw is None:
            # No limit: none at all, unless a maximum is set.
            self.limit = min(QUERY_LIMIT_DEFAULT, maximum) if maximum is not None else None
        else:
            try:
                limit = float(raw)
            except (TypeError, ValueError):
                raise invalid_query('"limit" must be a number')
            if not limit.is_integer():
                raise invalid_query('"limit" must be an integer')
            limit = int(limit)
            if limit == -1 and maximum is not None:
                limit = maximum
            if limit < -1:
                raise invalid_query('"limit" must be greater than or equal to -1')
            if maximum is not None and limit > maximum:
                raise invalid_query('"limit" must be less than or equal to %d' % maximum)
            self.limit = limit
        meta = nested.get("meta")
        names = []
        for part in (meta if isinstance(meta, list) else [meta] if meta else []):
            names.extend(m.strip() for m in str(part).split(",") if m.strip())
        if "*" in names:
            names = list(META_VALUES)
        for i, name in enumerate(names):
            if name not in META_VALUES:
                raise invalid_query('"meta[%d]" must be one of [%s]' % (i, ", ".join(META_VALUES)))
        self.meta = names


def read_many(coll, q, items):
    """What a write reads back (ItemsService.readMany): the query's limit,
    or as many as the keys when it has none; beyond the limit the items
    of the lowest keys."""
    limit = q.limit if q.limit else len(items)
    if limit == -1 or len(items) <= limit:
        return items
    by_key = {keystr(i.get(coll.pk)): i for i in items}
    return [by_key[k] for k in key_sort(list(by_key))[:limit]]


def parse_filter(nested):
    spec = nested.get("filter")
    if spec is None or spec == "":
        return None
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except ValueError:
            raise ApiError(400, "INVALID_QUERY", 'Invalid query. "filter" should be valid JSON.',
                           reason='"filter" should be valid JSON')
    if not isinstance(spec, dict):
        raise ApiError(400, "INVALID_QUERY", 'Invalid query. "filter" should be an object.',
                       reason='"filter" should be an object')
    return spec


def as_list(value):
    """Operands of _in/_nin: a list, or "1,2" as the bracket form sends it."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return value.split(",")
    return [value]


def as_number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def sort_key(value):
    """Nulls last, numbers before strings, numbers numerically."""
    num = None if isinstance(value, bool) else as_number(value)
    return (value is None, num is None, num if num is not None else 0, keystr(value))


def truthy(value):
    return value not in (False, "false", "0", 0, None)


def compare(op, have, want):
    if op == "_eq":
        return have is not None and keystr(have) == keystr(want)
    if op == "_neq":
        return have is None or keystr(have) != keystr(want)
    if op == "_in":
        return have is not None and keystr(have) in {keystr(v) for v in as_list(want)}
    if op == "_nin":
        return have is None or keystr(have) not in {keystr(v) for v in as_list(want)}
    if op == "_null":
        return (have is None) == truthy(want)
    if op == "_nnull":
        return (have is not None) == truthy(want)
    if op in ("_gt", "_gte", "_lt", "_lte"):
        a, b = as_number(have), as_number(want)
        if a is None or b is None:
            a, b = keystr(have), keystr(want)
            if have is None:
                return False
        return {"_gt": a > b, "_gte": a >= b, "_lt": a < b, "_lte": a <= b}[op]
    if op == "_contains":
        return have is not None and keystr(want) in keystr(have)
    raise ApiError(400, "INVALID_QUERY", 'Invalid query. Unknown filter operator "%s".' % op,
                   reason='Unknown filter operator "%s"' % op)


def matches(item, flt):
    for name, cond in flt.items():
        if name == "_and":
            if not all(matches(item, sub) for sub in cond):
                return False
        elif name == "_or":
            if not any(matches(item, sub) for sub in cond):
                return False
        elif isinstance(cond, dict):
            have = item.get(name)
            for op, want in cond.items():
                if not compare(op, have, want):
                    return False
        else:  # {"field": value} is taken as _eq
            if not compare("_eq", item.get(name), cond):
                return False
    return True


def select(coll, flt):
    """Items matching a filter.  A filter on the key alone (_eq / _in) is
    answered by lookups, so reading a few items of a big collection stays
    cheap; anything else scans."""
    if flt is None:
        return list(coll.items.values())
    if len(flt) == 1 and coll.pk in flt and isinstance(flt[coll.pk], dict) and len(flt[coll.pk]) == 1:
        op, want = next(iter(flt[coll.pk].items()))
        if op in ("_eq", "_in"):
            keys = as_list(want) if op == "_in" else [want]
            out, seen = [], set()
            for k in keys:
                ks = keystr(k)
                if ks in coll.items and ks not in seen:
                    seen.add(ks)
                    out.append(coll.items[ks])
            return out
    return [item for item in coll.items.values() if matches(item, flt)]


def body_keys(body, pk):
    """Keys an /items body carries (for failure rules matching a key)."""
    keys = []
    if isinstance(body, list):
        for el in body:
            if isinstance(el, dict):
                if pk in el:
                    keys.append(keystr(el[pk]))
            else:
                keys.append(keystr(el))
    elif isinstance(body, dict):
        if isinstance(body.get("keys"), list):
            keys.extend(keystr(k) for k in body["keys"])
        elif pk in body:
            keys.append(keystr(body[pk]))
    return keys


def meta_clocks_ms(obj):
    """The times (ms) of the clocks a payload's directus_sync_meta carries
    that the receiving database observes: "b", "d" and the values of "f".
    A clock is 16 hex digits (48 bits of ms, 16 of counter), maybe "@node"."""
    meta = obj.get("directus_sync_meta") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return []
    clocks = [meta.get("b"), meta.get("d")]
    if isinstance(meta.get("f"), dict):
        clocks += list(meta["f"].values())
    times = []
    for clock in clocks:
        if isinstance(clock, str) and re.match(r"[0-9a-f]{16}", clock):
            times.append(int(clock[:16], 16) >> 16)
    return times


def check_clocks(state, body):
    """Mode clock_skew_ms: a clock further ahead of ours fails the write (500)."""
    if state.clock_skew_ms is None:
        return
    limit = (time.time() + state.clock_offset_s) * 1000 + state.clock_skew_ms
    for obj in body if isinstance(body, list) else [body]:
        for ms in meta_clocks_ms(obj):
            if ms > limit:
                raise ApiError(500, "INTERNAL_SERVER_ERROR", "An unexpected error occurred.")


def body_count(body):
    if isinstance(body, list):
        return len(body)
    if isinstance(body, dict):
        if isinstance(body.get("keys"), list):
            return len(body["keys"])
        return 1
    return 0


# --------------------------------------------------------------------------
# The /items API.  Each function runs under state.lock and returns
# (status, payload) where payload None means no body (204).

def require_pk(coll, item, what):
    if not isinstance(item, dict):
        raise invalid_payload("%s should be an object" % what)
    if item.get(coll.pk) is None:
        raise invalid_payload("%s misses primary key" % what)
    return keystr(item[coll.pk])


def merge(coll, stored, change):
    for name, value in change.items():
        if name != coll.pk:   # Directus never changes a key by update
            stored[name] = value


def readback(state, data):
    return (200, {"data": data}) if state.readback else (204, None)


def items_create(state, coll, body, q):
    if coll.singleton:
        raise route_not_found("/" + coll.name)
    batch = body if isinstance(body, list) else [body]
    seen = set()
    for item in batch:
        ks = require_pk(coll, item, "Item")
        if ks in coll.items or ks in seen:
            # One transaction: the first duplicate aborts it, nothing is stored.
            raise ApiError(400, "RECORD_NOT_UNIQUE",
                           'Value "%s" for field "%s" in collection "%s" has to be unique.' % (ks, coll.pk, coll.name),
                           collection=coll.name, field=coll.pk, value=item[coll.pk])
        seen.add(ks)
    for item in batch:
        coll.items[keystr(item[coll.pk])] = item
    if isinstance(body, list):
        return readback(state, read_many(coll, q, [project(i, q.fields) for i in batch]))
    return readback(state, project(body, q.fields))


def no_update_permission(coll, change):
    """Non-admin: an update of one key, or of {"keys"} to one change, that
    meets a key that does not exist."""
    names = ", ".join('"%s"' % f for f in change if f != coll.pk)
    return forbidden('You don\'t have permissions to perform "update" for the field(s) %s in collection '
                     '"%s" or it does not exist.' % (names, coll.name))


def update_keys(state, coll, keys, q, change_for, denied):
    """Apply change_for(key) to each key; missing keys: skipped as admin,
    the error denied() for the whole request otherwise (checked before
    anything changes)."""
    existing = [ks for ks in keys if ks in coll.items]
    if not state.admin and len(existing) != len(keys):
        raise denied()
    done, out = set(), []
    for ks in keys:
        if ks in coll.items:
            merge(coll, coll.items[ks], change_for(ks))
    for ks in existing:
        if ks not in done:
            done.add(ks)
            out.append(project(coll.items[ks], q.fields))
    return readback(state, read_many(coll, q, out))


def items_update_batch(state, coll, body, q):
    if coll.singleton:
        if not isinstance(body, dict):
            raise invalid_payload("Singleton update should be an object")
        # Upsert the one item.  The read-back is not guarded in Directus:
        # without read permission the change is made and 403 comes back.
        if coll.items:
            item = next(iter(coll.items.values()))
            merge(coll, item, body)
        else:
            item = dict(body)
            item.setdefault(coll.pk, 1)
            coll.items[keystr(item[coll.pk])] = item
        if not state.readback:
            raise no_access(coll.name)
        return 200, {"data": project(item, q.fields)}
    if isinstance(body, list):
        changes = {}
        keys = []
        for item in body:
            ks = require_pk(coll, item, "Item in update")
            keys.append(ks)
            # Several changes of one key in a batch apply in order.
            changes.setdefault(ks, []).append(item)

        def change_for(ks):
            merged = {}
            for c in changes[ks]:
                merged.update(c)
            return merged
        return update_keys(state, coll, keys, q, change_for,
                           lambda: no_permission("update", coll.name))
    if not isinstance(body, dict):
        raise invalid_payload("Update should be an array of items or an object")
    # Directus validates this shape with Joi; these are its words.
    data = body.get("data")
    if data is None:
        raise invalid_payload('"data" is required')
    if not isinstance(data, dict):
        raise invalid_payload('"data" must be of type object')
    if isinstance(body.get("keys"), list):
        keys = [keystr(k) for k in body["keys"]]
    elif isinstance(body.get("query"), dict):
        flt = body["query"].get("filter")
        keys = [keystr(i[coll.pk]) for i in select(coll, flt if isinstance(flt, dict) else None)]
    else:
        raise invalid_payload('"value" must contain at least one of [query, keys]')
    return update_keys(state, coll, keys, q, lambda ks: data,
                       lambda: no_update_permission(coll, data))


def items_update_one(state, coll, key, body, fields):
    if coll.singleton:
        raise route_not_found("/%s/%s" % (coll.name, key))
    if not isinstance(body, dict):
        raise invalid_payload("Update should be an object")
    item = coll.items.get(key)
    if item is None:
        if not state.admin:
            raise no_update_permission(coll, body)
        return 204, None     # nothing updated, the read-back finds nothing
    merge(coll, item, body)
    return readback(state, project(item, fields))


def items_delete(state, coll, keys):
    if not state.admin and any(ks not in coll.items for ks in keys):
        raise no_permission("delete", coll.name)
    for ks in keys:
        coll.items.pop(ks, None)
    return 204, None


def items_delete_batch(state, coll, body):
    if isinstance(body, list):
        keys = body
    elif isinstance(body, dict) and isinstance(body.get("keys"), list):
        keys = body["keys"]
    elif isinstance(body, dict) and isinstance(body.get("query"), dict):
        flt = body["query"].get("filter")
        keys = [i[coll.pk] for i in select(coll, flt if isinstance(flt, dict) else None)]
    else:
        raise invalid_payload('"value" must contain at least one of [query, keys]')
    for k in keys:
        if not isinstance(k, (str, int, float)) or isinstance(k, bool):
            raise invalid_payload("Keys should be strings or numbers")
    return items_delete(state, coll, [keystr(k) for k in keys])


def items_read(state, coll, nested, q):
    if not state.readback:
        raise no_access(coll.name)
    if coll.singleton:
        # An empty singleton reads as its fields' defaults, the key null;
        # the fake knows no other fields.
        item = next(iter(coll.items.values()), {coll.pk: None})
        return 200, {"data": project(item, q.fields)}
    rows = select(coll, parse_filter(nested))
    sort = nested.get("sort")
    if isinstance(sort, str) and sort:
        # Stable sorts, last field first: "sort=a,-b" orders by a, then b desc.
        for name in reversed(sort.split(",")):
            field = name.lstrip("-")
            rows.sort(key=lambda i: sort_key(i.get(field)), reverse=name.startswith("-"))
    try:
        offset = int(nested.get("offset", 0))
    except (TypeError, ValueError):
        raise invalid_query('"offset" must be a number')
    limit = QUERY_LIMIT_DEFAULT if q.limit is None else q.limit
    matched = len(rows)
    rows = rows[offset:] if limit == -1 else rows[offset:offset + limit]
    answer = {"data": [project(i, q.fields) for i in rows]}
    if q.meta:
        counts = {"total_count": len(coll.items), "filter_count": matched}
        answer["meta"] = {m: counts[m] for m in q.meta}
    return 200, answer


def items_read_one(state, coll, key, fields):
    if not state.readback:
        raise no_access(coll.name)
    item = coll.items.get(key)
    if item is None:
        raise forbidden()
    return 200, {"data": project(item, fields)}


# --------------------------------------------------------------------------
# HTTP plumbing

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-directus"
    # Headers and body go out in one write (see respond), and replies are
    # not delayed by Nagle: a keep-alive client waiting on a delayed ACK
    # would otherwise see 40 ms per request.
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.runner = self.server.runner
        self.state = self.runner.state
        self.conn_id = next(self.state.conn_ids)
        self.counted = False
        self.runner.track(self.connection)

    def finish(self):
        self.runner.untrack(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if self.runner.verbose:
            sys.stderr.write("fake directus [conn %d] %s\n" % (self.conn_id, fmt % args))

    # Every method goes through dispatch; unknown ones end as ROUTE_NOT_FOUND.
    def do_GET(self):
        self.dispatch()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_SEARCH = do_GET

    def read_body(self):
        """The raw body, or (None, size) when it is over the payload limit
        (read and thrown away, so the connection stays usable)."""
        limit = self.state.max_payload
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, size = [], 0
            while True:
                line = self.rfile.readline(65537)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data = self.rfile.read(n)
                self.rfile.readline(3)
                size += len(data)
                if size <= limit:
                    chunks.append(data)
            return (b"".join(chunks) if size <= limit else None), size
        length = int(self.headers.get("Content-Length") or 0)
        if length <= limit:
            return self.rfile.read(length), length
        left = length
        while left > 0:
            got = self.rfile.read(min(left, 1 << 20))
            if not got:
                break
            left -= len(got)
        return None, length

    def respond(self, status, payload=None, headers=None, text=None, encoded=None):
        """One write of status line, headers and body.  encoded: the JSON
        body already serialised (the API does that under the state lock, as
        the payload may be stored items that another request can change)."""
        if status == 204:
            body, ctype = b"", None
        elif encoded is not None:
            body, ctype = encoded, JSON_TYPE
        elif text is not None:
            body, ctype = text.encode(), "text/html; charset=utf-8"
        else:
            body, ctype = to_json_bytes(payload), JSON_TYPE
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        # Node's HTTP server sends Date on every answer (directus_sync reads
        # the remote's clock from it); a test may shift it (mode clock_offset_s)
        lines = ["HTTP/1.1 %d %s" % (status, phrase),
                 "Date: " + (getattr(self.state, "date_header", None) or
                             self.date_time_string(time.time() + getattr(self.state, "clock_offset_s", 0.0)))]
        headers = dict(headers or {})
        ctype = headers.pop("Content-Type", ctype)
        if ctype:
            lines.append("Content-Type: " + ctype)
        if status != 204:
            lines.append("Content-Length: %d" % len(body))
        for name, value in (headers or {}).items():
            lines.append("%s: %s" % (name, value))
        lines.append("Connection: " + ("close" if self.close_connection else "keep-alive"))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        self.log_message('"%s" %d %d', self.requestline, status, len(body))

    def dispatch(self):
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        # Segments are split before decoding, as Express does for :params.
        segs = [unquote(s) for s in parts.path.split("/") if s]
        try:
            if path.startswith("/__fake/"):
                self.control(path, segs[1:], parts.query)
            else:
                self.api(path, segs, parts.query)
        except Exception as exc:   # a bug here must not kill the connection silently
            if self.runner.verbose:
                import traceback
                traceback.print_exc()
            self.close_connection = True
            self.respond(500, {"errors": [{"message": "fake directus: %r" % exc,
                                           "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]})

    # ------------------------------------------------------------------ API

    def api(self, path, segs, rawquery):
        state = self.state
        received = time.time()
        raw, size = self.read_body()
        flat, nested = parse_query(rawquery)
        is_items = len(segs) >= 1 and segs[0] == "items"
        cname = segs[1] if is_items and len(segs) >= 2 else None

        # Stall first, after the body is in: the client is waiting for an answer.
        if is_items:
            delay = 0
            with state.lock:
                for stall in state.stalls:
                    if stall[1] != 0:
                        delay = stall[0]
                        stall[1] -= 1
                        break
                state.stalls = [s for s in state.stalls if s[1] != 0]
            if delay:
                with state.lock:
                    state.stalled += 1
                try:
                    time.sleep(delay)
                finally:
                    with state.lock:
                        state.stalled -= 1

        body, parse_error = None, None
        if raw:
            try:
                body = json.loads(raw, parse_constant=no_json_constant)
                if not isinstance(body, (dict, list)):
                    raise ValueError("Unexpected token in JSON at position 0")
            except ValueError as exc:
                body, parse_error = None, str(exc)

        status, payload, headers, text = 500, None, {}, None
        with state.lock:
            coll = state.collections.get(cname) if cname else None
            pk = coll.pk if coll else "id"
            try:
                self.check_rules(self.command, cname, segs, body, pk)
                # The order below is Directus's middleware order.
                if raw is None:
                    raise invalid_payload("request entity too large")
                if parse_error is not None:
                    raise invalid_payload(parse_error)
                if self.command == "GET" and path.rstrip("/") == "/server/ping":
                    status, text = 200, "pong"
                else:
                    admin_user = self.authenticate(flat)
                    if self.command == "GET" and path.rstrip("/") == "/server/health":
                        # Public up to Directus 11; 12 wants a token.
                        if admin_user is None and state.directus_version >= 12:
                            raise forbidden()
                        status, payload = 200, {"status": "ok"}
                        headers = {"Content-Type": "application/health+json; charset=utf-8"}
                    else:
                        if is_items and self.command in ("POST", "PATCH"):
                            check_clocks(state, body)
                        status, payload = self.route(segs, path, body, nested, coll, admin_user)
            except ApiError as err:
                status, payload, headers = err.status, err.body(state.directus_version), err.headers
            encoded = None if payload is None else to_json_bytes(payload)

            items = body_count(body)
            if is_items and len(segs) == 3 and self.command in ("PATCH", "DELETE") and not raw:
                items = 1  # DELETE /items/c/1 carries one key, in the path
            state.requests += 1
            state.items_received += items
            if not self.counted:
                self.counted = True
                state.connections += 1
            if state.log is not None:
                state.log.append({
                    "seq": next(state.seq), "conn": self.conn_id, "method": self.command,
                    "path": path, "query": flat, "raw": raw, "status": status,
                    "items": items, "bytes": size, "ts": received,
                })
        self.respond(status, None, headers, text, encoded)

    def check_rules(self, method, cname, segs, body, pk):
        for rule in self.state.rules:
            if rule.get("method") and rule["method"].upper() != method:
                continue
            if rule.get("collection") and rule["collection"] != cname:
                continue
            if rule.get("key") is not None:
                want = keystr(rule["key"])
                keys = body_keys(body, pk)
                if len(segs) >= 3:
                    keys.append(segs[2])
                if want not in keys:
                    continue
            if rule["count"] > 0:
                rule["count"] -= 1
            if rule["count"] == 0:
                self.state.rules.remove(rule)
            headers = {}
            if rule.get("retry_after") is not None:
                headers["Retry-After"] = str(rule["retry_after"])
            raise ApiError(rule["status"], rule["code"], rule["message"], headers)

    def authenticate(self, flat):
        """True for the configured token (admin or not as the mode says),
        None for no token (the public role, which may do nothing here)."""
        token = flat.get("access_token")
        if isinstance(token, list):
            token = token[-1]
        auth = self.headers.get("Authorization", "")
        parts = auth.split(" ")
        if len(parts) == 2 and parts[0].lower() == "bearer":
            token = parts[1]
        if not token:
            return None
        if token != self.state.token:
            raise ApiError(401, "INVALID_CREDENTIALS", "Invalid user credentials.")
        return True

    def route(self, segs, path, body, nested, coll, user):
        state, method = self.state, self.command
        if not segs or segs[0] != "items" or len(segs) not in (2, 3) or \
                method not in ("GET", "POST", "PATCH", "DELETE"):
            raise route_not_found(path)
        if len(segs) == 3 and method == "POST":
            raise route_not_found(path)
        cname = segs[1]
        if coll is None or cname.startswith("directus_") or user is None:
            raise no_access(cname)
        q = Query(state, nested)
        key = keystr(segs[2]) if len(segs) == 3 else None
        if method == "GET":
            return items_read(state, coll, nested, q) if key is None else \
                items_read_one(state, coll, key, q.fields)
        if method == "POST":
            if body is None:
                body = {}
            return items_create(state, coll, body, q)
        if method == "PATCH":
            if body is None:
                body = {}
            return items_update_batch(state, coll, body, q) if key is None else \
                items_update_one(state, coll, key, body, q.fields)
        # DELETE
        if key is not None:
            return items_delete(state, coll, [key])
        return items_delete_batch(state, coll, body if body is not None else {})

    # -------------------------------------------------------------- control

    def control(self, path, segs, rawquery):
        raw, _ = self.read_body()
        flat, _ = parse_query(rawquery)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError as exc:
            return self.respond(400, {"error": "invalid JSON: %s" % exc})
        name = segs[0] if segs else ""
        handler = getattr(self, "ctl_%s_%s" % (name, self.command.lower()), None)
        if handler is None:
            return self.respond(404, {"error": "no control route %s %s" % (self.command, path)})
        try:
            result = handler(body, flat, segs[1:])
        except (ValueError, TypeError, KeyError) as exc:
            return self.respond(400, {"error": str(exc)})
        if result is not None:
            self.respond(200, result)

    def collection_arg(self, rest):
        if not rest or rest[0] not in self.state.collections:
            raise KeyError("unknown collection %r" % (rest[0] if rest else None))
        return self.state.collections[rest[0]]

    def ctl_reset_post(self, body, flat, rest):
        self.state.reset()
        return {"ok": True}

    def ctl_collections_post(self, body, flat, rest):
        if not isinstance(body, dict) or not body.get("name"):
            raise ValueError('need {"name":..., "pk":"id", "singleton":false}')
        with self.state.lock:
            self.state.collections[body["name"]] = Collection(body["name"], body.get("pk", "id"),
                                                              body.get("singleton", False))
        return {"ok": True}

    def ctl_collections_get(self, body, flat, rest):
        with self.state.lock:
            return {"data": {c.name: {"pk": c.pk, "singleton": c.singleton, "count": len(c.items)}
                             for c in self.state.collections.values()}}

    def ctl_seed_post(self, body, flat, rest):
        coll = self.collection_arg(rest)
        batch = body if isinstance(body, list) else [body]
        with self.state.lock:
            for item in batch:
                if not isinstance(item, dict) or item.get(coll.pk) is None:
                    raise ValueError("every seeded item needs its key %r" % coll.pk)
            for item in batch:
                coll.items[keystr(item[coll.pk])] = item
        return {"ok": True, "count": len(batch)}

    def ctl_items_get(self, body, flat, rest):
        coll = self.collection_arg(rest)
        with self.state.lock:
            data = [coll.items[k] for k in key_sort(list(coll.items))]
            # Serialise under the lock: items are mutated in place by updates.
            encoded = to_json_bytes({"data": data})
        self.respond(200, encoded=encoded)

    def ctl_requests_get(self, body, flat, rest):
        since = int(flat.get("since", 0) or 0)
        with self.state.lock:
            entries = [e for e in (self.state.log or ()) if e["seq"] > since]
        out = []
        for e in entries:
            e = dict(e)
            raw = e.pop("raw")
            try:
                e["body"] = json.loads(raw, parse_constant=no_json_constant) if raw else None
            except ValueError:
                e["body"] = None
            out.append(e)
        return {"data": out}

    def ctl_requests_delete(self, body, flat, rest):
        with self.state.lock:
            if self.state.log is not None:
                self.state.log.clear()
        return {"ok": True}

    def ctl_fail_post(self, body, flat, rest):
        status = int(body.get("status", 503))
        rule = {
            "status": status,
            "code": body.get("code") or {429: "REQUESTS_EXCEEDED", 503: "SERVICE_UNAVAILABLE",
                                         500: "INTERNAL_SERVER_ERROR"}.get(status, "FAKE_FAILURE"),
            "message": body.get("message") or (
                # Directus's own wording for its rate limiter (HitRateLimitError).
                "Too many requests, retry after %ss." % body.get("retry_after", 1) if status == 429
                else HTTPStatus(status).phrase),
            "count": int(body.get("count", 1)),
            "retry_after": body.get("retry_after"),
            "method": body.get("method"),
            "collection": body.get("collection"),
            "key": body.get("key"),
        }
        if rule["count"] == 0 or rule["count"] < -1:
            raise ValueError("count must be positive or -1")
        with self.state.lock:
            self.state.rules.append(rule)
        return {"ok": True}

    def ctl_fail_delete(self, body, flat, rest):
        with self.state.lock:
            self.state.rules = []
        return {"ok": True}

    def ctl_stall_post(self, body, flat, rest):
        with self.state.lock:
            self.state.stalls.append([float(body.get("seconds", 1)), int(body.get("count", 1))])
        return {"ok": True}

    def ctl_mode_post(self, body, flat, rest):
        with self.state.lock:
            if "admin" in body:
                self.state.admin = bool(body["admin"])
            if "readback" in body:
                self.state.readback = bool(body["readback"])
            if "query_limit_max" in body:
                value = body["query_limit_max"]
                self.state.query_limit_max = None if value is None else int(value)
            if "directus_version" in body:
                self.state.directus_version = directus_major(body["directus_version"])
            if "clock_offset_s" in body:
                self.state.clock_offset_s = float(body["clock_offset_s"])
            if "clock_skew_ms" in body:
                value = body["clock_skew_ms"]
                self.state.clock_skew_ms = None if value is None else int(value)
            if "date_header" in body:   # a Date header sent as it is (None: the real one)
                self.state.date_header = body["date_header"]
            return {"admin": self.state.admin, "readback": self.state.readback,
                    "query_limit_max": self.state.query_limit_max,
                    "directus_version": self.state.directus_version,
                    "clock_offset_s": self.state.clock_offset_s,
                    "clock_skew_ms": self.state.clock_skew_ms}

    def ctl_stats_get(self, body, flat, rest):
        with self.state.lock:
            return {"requests": self.state.requests, "connections": self.state.connections,
                    "items_received": self.state.items_received, "stalled": self.state.stalled}

    def ctl_down_post(self, body, flat, rest):
        seconds = float(body.get("seconds", 1))
        # Stop accepting first, so that once the client has this answer a
        # new connection is surely refused; then answer on this (already
        # accepted) connection; then drop every open connection.
        self.runner.stop_listening()
        self.close_connection = True
        self.respond(200, {"ok": True, "seconds": seconds})
        self.runner.drop_connections()
        self.runner.listen_again_after(seconds)
        return None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class Runner:
    """Owns the listening server, which /__fake/down closes and reopens on
    the same port with the same State."""

    def __init__(self, args):
        self.port = args.port
        self.verbose = args.verbose
        self.state = State(args)
        self.lock = threading.Lock()
        self.server = None
        self.thread = None
        self.conns = set()
        self.stopping = threading.Event()
        self.generation = 0

    def track(self, sock):
        with self.lock:
            self.conns.add(sock)

    def untrack(self, sock):
        with self.lock:
            self.conns.discard(sock)

    def listen(self):
        server = Server(("127.0.0.1", self.port), Handler)
        server.runner = self
        with self.lock:
            self.server = server
        # A short poll interval: stop_listening waits for the loop to notice.
        self.thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop_listening(self):
        with self.lock:
            server, self.server = self.server, None
            self.generation += 1
        if server is not None:
            server.shutdown()
            server.server_close()

    def drop_connections(self):
        with self.lock:
            conns = list(self.conns)
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def listen_again_after(self, seconds):
        generation = self.generation

        def back():
            if self.stopping.wait(seconds):
                return
            for _ in range(200):   # the port is ours; retry briefly if the OS is slow
                if self.stopping.is_set() or generation != self.generation:
                    return
                try:
                    self.listen()
                    return
                except OSError:
                    time.sleep(0.05)
            sys.stderr.write("fake directus: could not listen again on port %d\n" % self.port)
        threading.Thread(target=back, daemon=True).start()

    def shutdown(self):
        self.stopping.set()
        self.stop_listening()
        self.drop_connections()


def directus_major(value):
    """10, 11 or 12 (a release such as "11.17.4" gives its major)."""
    major = int(str(value).split(".")[0])
    if major not in (10, 11, 12):
        raise ValueError("Directus %s: the fake answers as 10, 11 or 12" % value)
    return major


def main():
    parser = argparse.ArgumentParser(description="Fake Directus REST server for tests.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--admin", dest="admin", action="store_true", default=True,
                        help="the token is an admin's (default)")
    parser.add_argument("--no-admin", dest="admin", action="store_false",
                        help="the token is a non-admin's: a missing item answers 403")
    parser.add_argument("--max-payload", type=int, default=1048576,
                        help="largest request body in bytes (Directus's MAX_PAYLOAD_SIZE, default 1mb)")
    parser.add_argument("--query-limit-max", type=int, default=None,
                        help="Directus's QUERY_LIMIT_MAX: the most items an answer lists (default: none)")
    parser.add_argument("--directus-version", type=directus_major, default=12,
                        help="the Directus major version to answer as: 12 (default), 11 (the same) or 10")
    parser.add_argument("--collections", default="{}",
                        help='JSON, e.g. \'{"articles":{"pk":"id"},"settings":{"pk":"id","singleton":true}}\'')
    parser.add_argument("--log-max", type=int, default=10000,
                        help="request log entries kept, oldest dropped first; 0 = no log (benchmarks)")
    parser.add_argument("--pid-file")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    runner = Runner(args)
    # SIGTERM and SIGINT are blocked before any thread starts (threads
    # inherit the mask) and taken with sigwait below: a Python signal
    # handler that sets an Event can deadlock on the Event's own lock.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    runner.listen()
    if args.pid_file:
        with open(args.pid_file, "w") as f:
            f.write("%d\n" % os.getpid())
    print("fake directus listening on 127.0.0.1:%d" % args.port, flush=True)
    signal.sigwait(stop_signals)
    runner.shutdown()
    if args.pid_file:
        try:
            os.unlink(args.pid_file)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
