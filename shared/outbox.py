"""Outbox: events are rows written with the business transaction; a relay
publishes them with publisher confirms and ``mandatory=True``.

The body of every published event carries ``event_id`` (fixed when the row is
written, so a re-publication after a crash carries the same id) and
``occurred_at``. Messages are wire-compatible with nameko's EventDispatcher:
exchange ``<service>.events`` (topic, durable), routing key = event type,
JSON body, persistent.
"""
import datetime as dt
import functools
import json
import logging
import struct
import threading
import time
import uuid
from collections import Counter

import amqp
import psycopg2.extras
from kombu import Connection
from nameko.extensions import DependencyProvider

from shared.db import plain_cursor, sibling

log = logging.getLogger(__name__)


def now_iso():
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class UnitOfWork:
    """What one transaction does to the outside world: the events it emits.

    Events are collected in memory and written to the outbox in one statement
    at ``flush``, inside the same transaction as the effects.
    """

    def __init__(self, cursor, exchange):
        self.cursor = cursor
        self.exchange = exchange
        self.events = []
        self.tally = Counter()  # outcomes of what the transaction handled, for metrics
        self.ticket = None      # the batch's place among overlapping batches (shared.consumer)

    def emit(self, event_type, body):
        body = dict(body)
        body.setdefault("event_id", str(uuid.uuid4()))
        body.setdefault("occurred_at", now_iso())
        self.events.append((body["event_id"], self.exchange, event_type, json.dumps(body)))
        return body

    def flush(self):
        """Write the collected events; make it the transaction's last write.

        It takes the schema's append lock (``APPEND_LOCK``) first, held to the
        commit, so the rows' ids follow commit order: the relay publishes from a
        position and must never see a row appear behind it. Whatever the
        cursor deferred is sent first, before the lock. A write after ``flush``
        that waits for a row lock would hold up every other writer meanwhile.
        """
        if self.events:
            append(self.cursor, INSERT_EVENTS, [list(column) for column in zip(*self.events)])
        count, self.events = len(self.events), []
        return count


# Taken before any row goes into a schema's outbox, by every writer, and held to
# the commit. Appends (and their commits) then happen one transaction at a time,
# so a row that commits later always has a larger id than every row already
# visible: the relay can publish from a position (``outbox_relay.sent_upto``)
# instead of marking each row. Only transactions that emit events take it, for
# the few milliseconds from their outbox INSERT to their COMMIT.
APPEND_LOCK = ("SELECT pg_advisory_xact_lock("
               "hashtextextended('vss-outbox-append:' || current_schema(), 0))")

# Four arrays rather than a VALUES list: the server parses an array of bodies in
# about two thirds of the time (measured: 19-22 against 29 us a row).
INSERT_EVENTS = ("INSERT INTO outbox (event_id, exchange, event_type, body) SELECT e, x, t, b"
                 " FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::jsonb[])"
                 " WITH ORDINALITY AS u(e, x, t, b, n) ORDER BY n")   # ids in emission order


def append(cur, insert, params):
    """Run ``insert`` (an ``INSERT INTO outbox``) under the append lock, in one round
    trip with the cursor's deferred writes, which go first. Every write to the outbox
    goes through here, as the transaction's last write (``UnitOfWork.flush``)."""
    cur.execute(APPEND_LOCK + ";\n" + insert, params)


CONTENT_TYPE, CONTENT_ENCODING = "application/json", "utf-8"
# Basic properties present: content-type, content-encoding, delivery-mode, message-id
PROPERTY_FLAGS = (1 << 15) | (1 << 14) | (1 << 12) | (1 << 7)
FRAME_END = b"\xce"


def _shortstr(text):
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raise ValueError("AMQP short string longer than 255 bytes")
    return bytes((len(raw),)) + raw


@functools.lru_cache(maxsize=1024)
def _method_frame(channel_id, exchange, routing_key, mandatory):
    method = (struct.pack(">HHH", 60, 40, 0) + _shortstr(exchange) + _shortstr(routing_key)
              + (b"\x01" if mandatory else b"\x00"))
    return struct.pack(">BHI", 1, channel_id, len(method)) + method + FRAME_END


PROPERTIES = _shortstr(CONTENT_TYPE) + _shortstr(CONTENT_ENCODING) + b"\x02"


def publish_frames(channel_id, exchange, routing_key, body, message_id, mandatory=True):
    """The three AMQP frames of one persistent ``basic.publish``, as bytes.

    What py-amqp writes for ``basic_publish(Message(body, content_type=
    "application/json", content_encoding="utf-8", delivery_mode=2,
    message_id=...), exchange, routing_key, mandatory)`` (a test compares the
    two), built without its per-message machinery: a relay batch is then one
    socket write. ``body``: bytes that fit in one frame.
    """
    message_id = _shortstr(message_id)
    header_size = 14 + len(PROPERTIES) + len(message_id)
    return b"".join((
        _method_frame(channel_id, exchange, routing_key, mandatory),
        struct.pack(">BHIHHQH", 2, channel_id, header_size, 60, 0, len(body), PROPERTY_FLAGS),
        PROPERTIES, message_id, FRAME_END,
        struct.pack(">BHI", 3, channel_id, len(body)), body, FRAME_END))


class ConfirmingPublisher:
    """Publishes a batch and waits once for the broker to confirm all of it.

    Returns the event ids the broker returned as unroutable (no queue bound).
    Raises on a nack or a lost connection, so the caller leaves the rows unsent.
    The batch's frames go out in one socket write (``publish_frames``).
    """

    def __init__(self, amqp_uri, confirm_timeout=30):
        self.amqp_uri = amqp_uri
        self.confirm_timeout = confirm_timeout
        self.connection = None
        self.channel = None
        self.unrouted = Unrouted()      # what this relay learnt of types nobody consumes

    def _open(self):
        self.connection = Connection(self.amqp_uri)
        self.connection.ensure_connection(max_retries=3)
        channel = self.connection.channel()
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        channel.events["basic_return"].add(self._on_return)
        self.channel = channel
        self.next_tag = 0
        self.declared = set()

    def _on_ack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple)

    def _on_nack(self, delivery_tag, multiple):
        self.nacked = True
        self._settle(delivery_tag, multiple)

    def _settle(self, delivery_tag, multiple):
        if multiple:
            self.unconfirmed = {t for t in self.unconfirmed if t > delivery_tag}
        else:
            self.unconfirmed.discard(delivery_tag)

    def _on_return(self, exc, exchange, routing_key, message):
        self.returned.add(message.properties.get("message_id"))

    def publish(self, rows):
        """``rows``: (event_id, exchange, event_type, body) tuples; a body is a
        dict, or its JSON text already."""
        if self.channel is None:
            self._open()
        self.unconfirmed, self.returned, self.nacked = set(), set(), False
        try:
            for exchange in {row[1] for row in rows} - self.declared:
                self.channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
                self.declared.add(exchange)
            amqp_connection = self.connection.connection
            largest = amqp_connection.frame_max - 8 - 256
            frames, channel_id = [], self.channel.channel_id
            for event_id, exchange, event_type, body in rows:
                if not isinstance(body, (str, bytes)):
                    body = json.dumps(body)
                if isinstance(body, str):
                    body = body.encode("utf-8")
                if len(body) < largest:
                    frames.append(publish_frames(channel_id, exchange, event_type, body,
                                                 str(event_id)))
                else:   # a body for several frames: py-amqp splits it
                    self._write(amqp_connection, frames)
                    self.channel.basic_publish(amqp.Message(
                        body, content_type=CONTENT_TYPE, content_encoding=CONTENT_ENCODING,
                        delivery_mode=2, message_id=str(event_id)),
                        exchange=exchange, routing_key=event_type, mandatory=True)
                self.next_tag += 1
                self.unconfirmed.add(self.next_tag)
            self._write(amqp_connection, frames)
            deadline = time.monotonic() + self.confirm_timeout
            while self.unconfirmed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("broker did not confirm the batch in time")
                self.connection.drain_events(timeout=remaining)
        except Exception:
            self.close()
            raise
        if self.nacked:
            raise RuntimeError("broker nacked part of the batch")
        return set(self.returned)

    @staticmethod
    def _write(amqp_connection, frames):
        if frames:
            amqp_connection.transport.write(b"".join(frames))
            frames.clear()

    def close(self):
        if self.connection is not None:
            try:
                self.connection.release()
            except Exception:  # the connection is being discarded anyway
                pass
        self.connection = self.channel = None


DUE_COLUMNS = ("id", "event_id", "exchange", "event_type", "body", "held")
# The rows after the relay's position, and those set aside (held) whose time has
# come, in id order: two index ranges, never a scan of the table.
SELECT_DUE = """
SELECT * FROM (
    (SELECT id, event_id, exchange, event_type, body::text AS body, false AS held FROM outbox
      WHERE id > (SELECT sent_upto FROM outbox_relay) ORDER BY id LIMIT %(n)s)
    UNION ALL
    (SELECT id, event_id, exchange, event_type, body::text, true FROM outbox
      WHERE held AND next_attempt_at <= now() ORDER BY id LIMIT %(n)s)) due
 ORDER BY id LIMIT %(n)s
"""


class Unrouted:
    """What a relay knows of event types no queue is bound to.

    The broker returns an event nobody is bound to (``mandatory``). A
    consumer that starts after its publisher has not bound its queue yet, so
    such an event is kept and tried again; but a type that nobody consumes at
    all (a contract event for outside systems that are not there) would then
    be published over and over. So, per (exchange, event type):

    - the first event returned is retried as a *probe*, after 2, 4, 8 ... 60 s;
      the other events of the type are set aside (``held``, ``next_attempt_at``)
      without being published, and are released at once when a probe gets through;
    - once the type has been unroutable for ``give_up_seconds``, its events
      are recorded as unrouted instead of waiting: not held, ``sent_at`` set,
      ``last_error`` says so. Probes go on (at most a minute apart), so a
      consumer that binds later gets the events written from then on.
    """

    def __init__(self, give_up_seconds=60.0):
        self.give_up_seconds = give_up_seconds
        self.types = {}           # (exchange, type) -> {"since", "probe_at", "failures"}

    def plan(self, rows, now):
        """Split due rows into (to publish, to defer, to give up)."""
        publish, defer, give_up, probing = [], [], [], set()
        for row in rows:
            key = (row["exchange"], row["event_type"])
            known = self.types.get(key)
            if known is None:
                publish.append(row)
            elif now >= known["probe_at"] and key not in probing:
                probing.add(key)
                publish.append(row)
            elif now - known["since"] >= self.give_up_seconds:
                give_up.append(row)
            else:
                defer.append(row)
        return publish, defer, give_up

    def returned(self, keys, now):
        for key in keys:
            known = self.types.setdefault(key, {"since": now, "failures": 0})
            known["failures"] += 1
            known["probe_at"] = now + min(2 ** known["failures"], 60)

    def routed(self, keys):
        """Of the types that got through, those that were known unroutable (now forgotten)."""
        return [key for key in keys if self.types.pop(key, None) is not None]

    def wait_seconds(self, key, now):
        """How long an event of an unroutable type waits before it is looked at again."""
        known = self.types[key]
        return max(0.0, min(known["probe_at"], known["since"] + self.give_up_seconds) - now)


def relay_once(pool, publisher, batch_size):
    """Publish one batch of due rows; returns how many rows were looked at.

    The relay publishes the rows after its position (``outbox_relay.sent_upto``)
    in id order and then moves the position past them: one row updated per batch,
    whatever its size. Writers append under ``APPEND_LOCK``, so a row committed
    later always lands after the position. A transaction-scoped advisory lock
    lets only one relay per schema work at a time. A crash after publishing and
    before the commit leaves the position where it was: the rows go again with
    the same event_id and consumers' inboxes absorb the duplicate. Events no
    queue is bound to are set aside (``held``) and retried apart: ``Unrouted``.
    """
    unrouted = publisher.unrouted
    with pool.transaction() as cur:
        cur.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s)) AS locked",
                    ("vss-outbox-relay:" + pool.schema,))
        if not cur.fetchone()["locked"]:
            return 0
        with plain_cursor(cur) as plain:   # the position as of now, after the lock
            plain.execute(SELECT_DUE, {"n": batch_size})   # tuples: thousands of rows a second
            rows = [dict(zip(DUE_COLUMNS, row)) for row in plain.fetchall()]
        if not rows:
            return 0
        now = time.monotonic()
        publish, defer, give_up = unrouted.plan(rows, now)
        returned = publisher.publish(
            [(r["event_id"], r["exchange"], r["event_type"], r["body"]) for r in publish])
        sent = [r for r in publish if str(r["event_id"]) not in returned]
        bounced = [r for r in publish if str(r["event_id"]) in returned]
        sent_held = [r["id"] for r in sent if r["held"]]
        if sent_held:
            cur.execute("UPDATE outbox SET held = false, sent_at = now(), attempts = attempts + 1"
                        " WHERE id = ANY(%s)", (sent_held,))
        for exchange, event_type in unrouted.routed({(r["exchange"], r["event_type"]) for r in sent}):
            # a queue is bound now: what waited for it goes in the next pass
            cur.execute("UPDATE outbox SET next_attempt_at = now() WHERE held"
                        " AND exchange = %s AND event_type = %s", (exchange, event_type))
        unrouted.returned({(r["exchange"], r["event_type"]) for r in bounced}, now)
        waiting = [(r["id"], unrouted.wait_seconds((r["exchange"], r["event_type"]), now))
                   for r in bounced + defer]
        if waiting:
            _defer(cur, waiting, [r["id"] for r in bounced])
        if give_up:
            cur.execute("UPDATE outbox SET held = false, sent_at = now(), last_error = %s"
                        " WHERE id = ANY(%s)",
                        (f"unroutable: no queue was bound to this event type for"
                         f" {unrouted.give_up_seconds:g} s; not published",
                         [r["id"] for r in give_up]))
        passed = [r["id"] for r in rows if not r["held"]]
        if passed:      # every row up to here is published, held or given up
            cur.execute("UPDATE outbox_relay SET sent_upto = greatest(sent_upto, %s),"
                        " moved_at = now()", (max(passed),))
        if bounced or give_up:
            log.warning("outbox: %d event(s) unroutable (kept to retry), %d given up",
                        len(bounced), len(give_up))
        return len(rows)


def _defer(cur, waiting, bounced_ids):
    """Rows ``(id, seconds)`` are set aside that long; those of ``bounced_ids`` count an attempt."""
    bounced = cur.mogrify("%s", (bounced_ids,)).decode()
    psycopg2.extras.execute_values(
        cur, "UPDATE outbox o SET held = true, next_attempt_at = now() + w.wait * interval '1 second',"
        f" attempts = o.attempts + (o.id = ANY({bounced}::bigint[]))::int,"
        " last_error = 'unroutable: no queue bound to this event type'"
        " FROM (VALUES %s) AS w (id, wait) WHERE o.id = w.id",
        waiting, template="(%s::bigint, %s::float8)", page_size=len(waiting))


# A row is done once the relay's position has passed it and it is not held: it
# was published (or given up as unroutable). It goes ``keep`` seconds after it
# was written, or, for a row that was held, after it was finally sent.
PRUNE_RANGE = """
WITH cutoff AS (SELECT now() - make_interval(secs => %(keep)s) AS at),
relay AS (SELECT sent_upto FROM outbox_relay),
gone AS (DELETE FROM outbox WHERE id >= %(lo)s AND id < %(hi)s
            AND id <= (SELECT sent_upto FROM relay) AND NOT held
            AND coalesce(sent_at, created_at) < (SELECT at FROM cutoff) RETURNING 1)
SELECT (SELECT count(*) FROM gone) AS deleted,
       EXISTS (SELECT 1 FROM outbox WHERE id >= %(lo)s AND id < %(hi)s
                  AND (coalesce(sent_at, created_at) >= (SELECT at FROM cutoff)
                       OR id > (SELECT sent_upto FROM relay))) AS recent,
       (SELECT max(id) FROM outbox) AS last"""


MAX_KEEP_DAYS = 36500


def keep_seconds(days):
    """``OUTBOX.keep_sent_days`` in seconds; None (keep forever) when blank or negative.
    Anything else that is not a number of days up to ``MAX_KEEP_DAYS`` is refused
    (``ValueError``) when the service starts, rather than failing every prune."""
    text = "" if days is None else str(days).strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or value > MAX_KEEP_DAYS:  # NaN, inf, or past what an interval holds
        raise ValueError(f"OUTBOX.keep_sent_days: {text!r} is not a number of days up to"
                         f" {MAX_KEEP_DAYS} (blank or negative: keep every sent row)")
    return None if value < 0 else value * 86400


def prune_sent(pool, keep, chunk=5000, chunks=50):
    """Delete outbox rows published (or given up as unroutable) and written more than
    ``keep`` seconds ago (a row that was held: sent more than ``keep`` ago), oldest
    first, returning how many were deleted. Unsent rows are never touched: those
    after the relay's position and those held. A sent row has done its work (the
    broker confirmed it; consumers' inboxes hold what they took), and what is kept
    meanwhile is only for looking back.

    Rows are taken by ranges of ``chunk`` ids from the first row, one transaction
    each (an index range, however large the table), until a range holds a row that
    is too recent to go or not yet sent (ids follow the order rows were written and
    sent), or after ``chunks`` ranges."""
    with pool.transaction() as cur:
        cur.execute("SELECT min(id) AS lo FROM outbox")
        lo = cur.fetchone()["lo"]
    deleted = 0
    for _ in range(chunks if lo is not None else 0):
        with pool.transaction() as cur:
            cur.execute(PRUNE_RANGE, {"keep": float(keep), "lo": lo, "hi": lo + chunk})
            row = cur.fetchone()
        deleted += row["deleted"]
        lo += chunk
        if row["recent"] or row["last"] is None or lo > row["last"]:
            break
    return deleted


def backlog(cur):
    """Unsent events (``outbox_unsent``: after the relay's position, or held), how
    many of them wait because no queue is bound to their type (``Unrouted``: nobody
    is missing them), and the age of the oldest, in seconds."""
    cur.execute("SELECT count(*) AS n, extract(epoch FROM now() - min(created_at)) AS age,"
                " count(*) FILTER (WHERE last_error LIKE 'unroutable:%%') AS unroutable"
                " FROM outbox_unsent")
    row = cur.fetchone()
    return {"unsent": row["n"], "unroutable": row["unroutable"],
            "oldest_seconds": float(row["age"] or 0)}


class OutboxRelay(DependencyProvider):
    """Runs the relay inside every service instance.

    Workers call ``wake()`` after committing events so they leave within
    milliseconds; a poll every ``OUTBOX.poll_seconds`` catches rows written
    by instances that died before relaying them.
    """

    def __init__(self, database_attr="db"):
        self.database_attr = database_attr

    def setup(self):
        self.database = sibling(self, self.database_attr)
        config = self.container.config
        settings = config.get("OUTBOX", {})
        self.batch_size = int(settings.get("batch_size", 500))
        self.poll_seconds = float(settings.get("poll_seconds", 1.0))
        self.publisher = ConfirmingPublisher(config["AMQP_URI"])
        self.publisher.unrouted.give_up_seconds = float(
            settings.get("unroutable_give_up_seconds", 60))
        # sent rows are deleted this long after they were sent (blank or negative: kept)
        self.keep_sent_seconds = keep_seconds(settings.get("keep_sent_days", 7))
        every = settings.get("prune_every_seconds")
        self.prune_every = 60.0 if every is None or str(every).strip() == "" else float(every)
        self._pruned_at = 0.0
        self._wake = threading.Event()
        self._running = False

    def start(self):
        self._running = True
        self.container.spawn_managed_thread(self._run, identifier="outbox-relay")

    def stop(self):
        self._running = False
        self._wake.set()

    def kill(self):
        self.stop()

    def wake(self):
        self._wake.set()

    def _run(self):
        while self._running:
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            try:
                while self._running and relay_once(
                        self.database.pool, self.publisher, self.batch_size) == self.batch_size:
                    pass
                self._prune()
            except Exception as exc:  # the relay outlives broker and database outages
                log.warning("outbox relay: %s; retrying", type(exc).__name__)
                self.publisher.close()
                time.sleep(self.poll_seconds)
        self.publisher.close()

    def _prune(self):
        """After a relay pass, at most every ``prune_every`` seconds: sent rows past
        ``keep_sent_days`` go (``prune_sent``). A failure is logged and tried again at
        the next interval; it does not touch the relay's connection to the broker."""
        if self.keep_sent_seconds is None or time.monotonic() - self._pruned_at < self.prune_every:
            return
        self._pruned_at = time.monotonic()
        try:
            deleted = prune_sent(self.database.pool, self.keep_sent_seconds)
        except Exception as exc:  # the database away: the relay's own pass will say so too
            log.warning("outbox prune: %s: %s; trying again in %g s", type(exc).__name__,
                        str(exc).splitlines()[0] if str(exc) else "", self.prune_every)
            return
        if deleted:
            log.info("outbox: deleted %d event(s) sent more than %g day(s) ago", deleted,
                     self.keep_sent_seconds / 86400)

    def get_dependency(self, worker_ctx):
        return self
