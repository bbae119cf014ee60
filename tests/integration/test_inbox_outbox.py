"""Inbox and outbox against the real PostgreSQL and RabbitMQ."""
import json
import subprocess
import sys
import uuid

import pytest
from kombu import Connection

from shared.consumer import Delivery
from shared.inbox import EventBatch, EventInbox
from shared.outbox import ConfirmingPublisher, UnitOfWork, backlog, relay_once
from tests.integration.conftest import effects

pytestmark = pytest.mark.integration


def record_effect(uow, body):
    uow.cursor.execute("INSERT INTO effects (event_id, note) VALUES (%s, %s)",
                       (body["event_id"], body.get("note")))


def delivery(body, routing_key="work"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Delivery(body=data, exchange="it", routing_key=routing_key, headers={}, content_type=None)


def test_same_event_id_twice_has_one_effect(pool):
    inbox = EventInbox(pool, None, "it.events", "it.queue")
    handle = lambda: EventBatch({"work": record_effect})  # noqa: E731
    event = {"event_id": str(uuid.uuid4())}
    inbox.apply([delivery(event), delivery(event)], handle)  # twice in one batch
    inbox.apply([delivery(event)], handle)                   # and again later
    assert effects(pool) == {event["event_id"]: 1}


def test_a_failing_message_is_rolled_back_alone_and_recorded(pool):
    def fragile(uow, body):
        record_effect(uow, body)
        uow.emit("worked", {"for": body["event_id"]})
        if body.get("note") == "poison":
            raise ValueError("cannot apply")

    inbox = EventInbox(pool, None, "it.events", "it.queue")
    good, bad = {"event_id": "good-1"}, {"event_id": "bad-1", "note": "poison"}
    outcomes = inbox.apply([delivery(good), delivery(bad), delivery(b"{oops")],
                           lambda: EventBatch({"work": fragile}))
    assert [o.dead_letter_reason for o in outcomes][0] is None
    assert outcomes[1].dead_letter_reason == "ValueError: cannot apply"
    assert outcomes[2].dead_letter_reason.startswith("unparseable")
    assert effects(pool) == {"good-1": 1}
    with pool.transaction() as cur:
        cur.execute("SELECT count(*) AS n FROM outbox")
        assert cur.fetchone()["n"] == 1  # the failed message's event was discarded too
        cur.execute("SELECT count(*) AS n FROM dead_letters")
        assert cur.fetchone()["n"] == 2
        cur.execute("SELECT count(*) AS n FROM inbox WHERE event_id = 'bad-1'")
        assert cur.fetchone()["n"] == 0  # not marked as consumed: it can be replayed


def write_events(pool, exchange, count):
    with pool.transaction() as cur:
        uow = UnitOfWork(cur, exchange)
        ids = [uow.emit("work", {"note": str(i)})["event_id"] for i in range(count)]
        uow.flush()
    return ids


def drain(amqp_uri, queue):
    bodies = []
    with Connection(amqp_uri) as conn:
        channel = conn.default_channel
        while True:
            message = channel.basic_get(queue, no_ack=True)
            if message is None:
                return bodies
            body = message.body
            bodies.append(body.encode() if isinstance(body, str) else body)


def unsent(pool):
    with pool.transaction() as cur:
        cur.execute("SELECT count(*) AS n FROM outbox_unsent")
        return cur.fetchone()["n"]


CRASHING_RELAY = """
import os, sys
from shared.db import Pool
from shared.outbox import ConfirmingPublisher, relay_once

class CrashAfterPublish(ConfirmingPublisher):
    def publish(self, rows):
        super().publish(rows)   # the broker has confirmed every message ...
        os._exit(17)            # ... and the process dies before moving its position

dsn, schema, uri = sys.argv[1:]
relay_once(Pool(dsn, schema, 2), CrashAfterPublish(uri), 100)
"""


def test_relay_killed_between_publish_and_mark_sent_still_gives_one_effect(
        pool, database_dsn, schema, amqp_uri, bound_queue):
    exchange, queue = bound_queue
    ids = write_events(pool, exchange, 20)

    crashed = subprocess.run([sys.executable, "-c", CRASHING_RELAY, database_dsn, schema, amqp_uri])
    assert crashed.returncode == 17
    assert unsent(pool) == 20  # the relay's position did not move

    assert relay_once(pool, ConfirmingPublisher(amqp_uri), 100) == 20
    assert unsent(pool) == 0

    bodies = drain(amqp_uri, queue)
    assert len(bodies) == 40  # every event went out twice, with the same event_id
    assert sorted({json.loads(b)["event_id"] for b in bodies}) == sorted(ids)

    inbox = EventInbox(pool, None, "it.events", "it.queue")
    inbox.apply([delivery(b) for b in bodies], lambda: EventBatch({"work": record_effect}))
    assert effects(pool) == {event_id: 1 for event_id in ids}


def test_events_nobody_is_bound_to_stay_in_the_outbox(pool, amqp_uri):
    write_events(pool, f"nobody-{uuid.uuid4().hex[:8]}.events", 3)
    assert relay_once(pool, ConfirmingPublisher(amqp_uri), 100) == 3
    with pool.transaction() as cur:
        cur.execute("SELECT held, sent_at, attempts, last_error, next_attempt_at > now() AS later"
                    " FROM outbox")
        rows = cur.fetchall()
    assert all(r["held"] and r["sent_at"] is None and r["attempts"] == 1 and r["later"]
               for r in rows)
    assert all(r["last_error"].startswith("unroutable") for r in rows)
    with pool.transaction() as cur:   # health() tells them from work a consumer waits for
        assert backlog(cur)["unsent"] == 3 and backlog(cur)["unroutable"] == 3
    # not due yet: the next pass leaves them alone
    assert relay_once(pool, ConfirmingPublisher(amqp_uri), 100) == 0


def test_two_relays_at_once_publish_each_event_once(pool, database_dsn, schema, amqp_uri, bound_queue):
    import eventlet
    from shared.db import Pool

    exchange, queue = bound_queue
    ids = write_events(pool, exchange, 600)
    pools = [Pool(database_dsn, schema, 2) for _ in range(2)]

    def run(own_pool):
        publisher, total = ConfirmingPublisher(amqp_uri), 0
        while unsent(own_pool):
            total += relay_once(own_pool, publisher, 50)
            eventlet.sleep(0)
        publisher.close()
        return total

    threads = [eventlet.spawn(run, p) for p in pools]
    totals = [t.wait() for t in threads]
    assert sum(totals) == 600
    bodies = drain(amqp_uri, queue)
    assert sorted(json.loads(b)["event_id"] for b in bodies) == sorted(ids)
    # published in the order written
    assert [json.loads(b)["note"] for b in bodies] == [str(i) for i in range(600)]
    for p in pools:
        p.close()


def test_pool_recovers_when_the_server_drops_its_connections(database_dsn, schema):
    import psycopg2

    from shared.db import Pool

    # only this pool's connections are tagged, so only they are dropped
    pool = Pool(database_dsn + "?application_name=pool-recovery-test", schema, 4)
    with pool.transaction(), pool.transaction(), pool.transaction():
        pass  # three idle connections in the pool
    admin = psycopg2.connect(database_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity"
                    " WHERE application_name = 'pool-recovery-test'")
        assert cur.fetchone()[0] == 3
    admin.close()
    with pytest.raises(psycopg2.OperationalError):
        with pool.transaction() as cur:  # the first caller meets a dead connection ...
            cur.execute("SELECT 1")
    with pool.transaction() as cur:      # ... and nobody after it does
        cur.execute("SELECT 1 AS ok")
        assert cur.fetchone()["ok"] == 1
    pool.close()


def outbox_rows(pool):
    with pool.transaction() as cur:
        cur.execute("SELECT o.event_id::text AS event_id, NOT o.held AND o.id <= r.sent_upto AS sent,"
                    " o.attempts, o.last_error, o.next_attempt_at > now() AS later"
                    " FROM outbox o CROSS JOIN outbox_relay r ORDER BY o.id")
        return cur.fetchall()


def test_a_type_nobody_consumes_is_probed_by_one_event_and_the_rest_wait(pool, amqp_uri):
    exchange, queue = f"late-{uuid.uuid4().hex[:8]}.events", f"late-{uuid.uuid4().hex[:8]}"
    publisher = ConfirmingPublisher(amqp_uri)
    first = write_events(pool, exchange, 3)
    assert relay_once(pool, publisher, 100) == 3            # all three tried: nobody bound
    later = write_events(pool, exchange, 5)
    with pool.transaction() as cur:                         # make everything due now
        cur.execute("UPDATE outbox SET next_attempt_at = now()")
    assert relay_once(pool, publisher, 100) == 8
    rows = {r["event_id"]: r for r in outbox_rows(pool)}
    # not the probe's turn yet: nothing published, everything waits, nothing given up
    assert all(not r["sent"] and r["later"] for r in rows.values())
    assert [rows[i]["attempts"] for i in later] == [0] * 5
    # a consumer binds; at the probe's time one event goes first and releases the rest
    with Connection(amqp_uri) as conn:
        conn.default_channel.queue_declare(queue, durable=True, auto_delete=False)
        conn.default_channel.queue_bind(queue, exchange, "#")
    try:
        publisher.unrouted.types[(exchange, "work")]["probe_at"] = 0
        with pool.transaction() as cur:
            cur.execute("UPDATE outbox SET next_attempt_at = now()"
                        " WHERE event_id = %s", (first[0],))
        assert relay_once(pool, publisher, 100) == 1
        assert relay_once(pool, publisher, 100) == 7
        assert unsent(pool) == 0
        assert sorted(json.loads(b)["event_id"] for b in drain(amqp_uri, queue)) \
            == sorted(first + later)
    finally:
        with Connection(amqp_uri) as conn:
            conn.default_channel.queue_delete(queue)


def test_events_of_a_type_nobody_consumes_are_given_up_after_the_window(pool, amqp_uri):
    publisher = ConfirmingPublisher(amqp_uri)
    publisher.unrouted.give_up_seconds = 0
    write_events(pool, f"nobody-{uuid.uuid4().hex[:8]}.events", 3)
    assert relay_once(pool, publisher, 100) == 3
    with pool.transaction() as cur:
        cur.execute("UPDATE outbox SET next_attempt_at = now()")
    relay_once(pool, publisher, 100)
    rows = outbox_rows(pool)
    assert unsent(pool) == 0
    assert all(r["sent"] and "not published" in r["last_error"] for r in rows)


def test_sent_rows_past_their_keep_are_pruned_and_nothing_else(pool, amqp_uri, bound_queue):
    from shared.outbox import keep_seconds, prune_sent
    exchange, queue = bound_queue
    sent = write_events(pool, exchange, 12)
    assert relay_once(pool, ConfirmingPublisher(amqp_uri), 100) == 12
    waiting = write_events(pool, exchange, 3)  # not relayed: unsent, and made old too
    with pool.transaction() as cur:
        for days, ids in (("8 days", sent[:7]), ("6 days", sent[7:9])):
            cur.execute("UPDATE outbox SET created_at = now() - %s::interval"
                        " WHERE event_id = ANY(%s::uuid[])", (days, ids))
        cur.execute("UPDATE outbox SET created_at = now() - interval '30 days'"
                    " WHERE event_id = ANY(%s::uuid[])", (waiting,))
    # 7 rows in chunks of 3: three transactions, the oldest sent first
    assert prune_sent(pool, keep_seconds(7), chunk=3) == 7
    with pool.transaction() as cur:
        cur.execute("SELECT event_id::text AS e, id IN (SELECT id FROM outbox_unsent) AS unsent"
                    " FROM outbox")
        left = {row["e"]: row["unsent"] for row in cur.fetchall()}
    assert set(left) == set(sent[7:]) | set(waiting)
    assert sorted(e for e, unsent in left.items() if unsent) == sorted(waiting)
    assert prune_sent(pool, keep_seconds(7)) == 0
    assert prune_sent(pool, keep_seconds("0")) == 5  # every sent row, none of the unsent
    assert unsent(pool) == 3
    assert keep_seconds("") is None and keep_seconds(None) is None and keep_seconds(-1) is None
    drain(amqp_uri, queue)


def test_pruning_stops_at_the_first_range_too_recent_to_go(pool, amqp_uri, bound_queue):
    """A pass reads ranges of ids from the oldest sent row and stops at the first that
    holds a row too recent, rather than reading a week of rows every minute."""
    from shared.outbox import keep_seconds, prune_sent
    exchange, queue = bound_queue
    write_events(pool, exchange, 30)
    assert relay_once(pool, ConfirmingPublisher(amqp_uri), 100) == 30

    class Counting:
        def __init__(self, pool):
            self.pool, self.transactions = pool, 0

        def transaction(self):
            self.transactions += 1
            return self.pool.transaction()
    counting = Counting(pool)
    assert prune_sent(counting, keep_seconds(7), chunk=3) == 0
    assert counting.transactions == 2  # where to start, and one range
    drain(amqp_uri, queue)


def test_given_up_events_go_with_the_sent_ones_and_a_recent_unsent_row_stops_a_pass(pool, amqp_uri):
    """Events given up as unroutable (``sent_at`` set, not published) are kept as long
    as published ones, then go; a pass stops at a range holding an unsent row written
    within the keep (ids follow the order rows were written), even with rows sent
    long ago after it."""
    from shared.outbox import keep_seconds, prune_sent
    gone = write_events(pool, f"nobody-{uuid.uuid4().hex[:8]}.events", 4)
    with pool.transaction() as cur:  # as relay_once records a type given up, 8 days ago
        cur.execute("UPDATE outbox SET sent_at = now() - interval '8 days',"
                    " last_error = 'unroutable: no queue was bound; not published'")
    recent = write_events(pool, "anywhere.events", 3)  # set aside, unsent, written now
    later = write_events(pool, "elsewhere.events", 3)
    with pool.transaction() as cur:   # the relay has passed them all; the recent ones wait
        cur.execute("UPDATE outbox SET held = true WHERE event_id = ANY(%s::uuid[])", (recent,))
        cur.execute("UPDATE outbox SET sent_at = now() - interval '8 days'"
                    " WHERE event_id = ANY(%s::uuid[])", (later,))
        cur.execute("UPDATE outbox_relay SET sent_upto = (SELECT max(id) FROM outbox)")
    # ids 1-4 given up, 5-7 unsent and recent, 8-10 sent long ago: ranges of 2 stop at 5-6
    assert prune_sent(pool, keep_seconds(7), chunk=2) == 4
    with pool.transaction() as cur:
        cur.execute("SELECT event_id::text AS e FROM outbox")
        assert {r["e"] for r in cur.fetchall()} == set(recent) | set(later)
    assert unsent(pool) == 3
    assert gone


def test_keep_sent_days_refuses_what_no_interval_holds():
    from shared.outbox import MAX_KEEP_DAYS, keep_seconds
    assert keep_seconds(7) == 7 * 86400 and keep_seconds(str(MAX_KEEP_DAYS)) == MAX_KEEP_DAYS * 86400
    for value in ("nan", "inf", ".inf", MAX_KEEP_DAYS + 1, 99999999):
        with pytest.raises(ValueError, match="keep_sent_days"):
            keep_seconds(value)


def test_a_row_written_first_and_committed_last_is_not_left_behind_the_relay(
        database_dsn, schema, pool, amqp_uri, bound_queue):
    """The relay publishes from a position, so no row may appear behind it. Writer A
    appends and commits late; writer B appends after A: B must wait for A's commit
    (the append lock), or the relay would publish B, move past A's id, and A's
    event would never leave."""
    import threading

    from shared.db import Pool
    exchange, queue = bound_queue
    a_written, release_a, b_done = threading.Event(), threading.Event(), threading.Event()
    pools = [Pool(database_dsn, schema, 1) for _ in range(2)]

    def writer(own_pool, note, before=None, after=None):
        if before is not None:
            before.wait(10)
        with own_pool.transaction() as cur:
            uow = UnitOfWork(cur, exchange)
            uow.emit("work", {"note": note})
            uow.flush()
            if after is not None:
                after.set()
                release_a.wait(10)
        if note == "b":
            b_done.set()

    threads = [threading.Thread(target=writer, args=(pools[0], "a", None, a_written)),
               threading.Thread(target=writer, args=(pools[1], "b", a_written))]
    for thread in threads:
        thread.start()
    try:
        assert a_written.wait(10)
        assert not b_done.wait(0.5)          # B waits for A's commit ...
        publisher = ConfirmingPublisher(amqp_uri)
        assert relay_once(pool, publisher, 100) == 0   # ... and the relay sees neither
    finally:
        release_a.set()
        for thread in threads:
            thread.join(10)
    assert b_done.is_set()
    assert relay_once(pool, publisher, 100) == 2
    assert unsent(pool) == 0
    assert [json.loads(b)["note"] for b in drain(amqp_uri, queue)] == ["a", "b"]
    publisher.close()
    for p in pools:
        p.close()


def test_a_transaction_without_events_takes_no_append_lock(database_dsn, schema, pool):
    """Only writers that emit events queue up for the append lock."""
    import threading

    from shared.db import Pool
    holding, release = threading.Event(), threading.Event()
    other = Pool(database_dsn, schema, 1)

    def hold():
        with other.transaction() as cur:
            uow = UnitOfWork(cur, "it.events")
            uow.emit("work", {"note": "held"})
            uow.flush()
            holding.set()
            release.wait(10)
    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10)
        with pool.transaction() as cur:     # would block for 10 s if it took the lock
            cur.execute("SET LOCAL lock_timeout = '2s'")
            uow = UnitOfWork(cur, "it.events")
            cur.execute("INSERT INTO effects (event_id, note) VALUES ('no-events', 'x')")
            assert uow.flush() == 0
    finally:
        release.set()
        thread.join(10)
    other.close()


def test_the_upgrade_sends_what_the_old_relay_left_unsent(database_dsn, amqp_uri, bound_queue):
    """A schema from before the relay's position: its unsent rows are set aside (held)
    by the migration, so they still go, in order, and the sent ones are not sent again."""
    import secrets

    import psycopg2

    from shared.db import Pool
    from shared.migrations import SHARED_DIR
    exchange, queue = bound_queue
    name = f"it_{secrets.token_hex(4)}"
    conn = psycopg2.connect(database_dsn)
    with conn, conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{name}"; SET search_path TO "{name}"')
        for file in ("0001_reliability.sql", "0002_dead_letters_once.sql"):
            cur.execute((SHARED_DIR / file).read_text())
        ids = [str(uuid.uuid4()) for _ in range(5)]
        for n, event_id in enumerate(ids):   # the old relay had sent the first two
            cur.execute("INSERT INTO outbox (event_id, exchange, event_type, body, sent_at)"
                        " VALUES (%s, %s, 'work', %s, CASE WHEN %s THEN now() END)",
                        (event_id, exchange, json.dumps({"event_id": event_id, "note": str(n)}),
                         n < 2))
        cur.execute((SHARED_DIR / "0003_outbox_cursor.sql").read_text())
    conn.close()
    pool = Pool(database_dsn, name, 2)
    assert unsent(pool) == 3
    publisher = ConfirmingPublisher(amqp_uri)
    assert relay_once(pool, publisher, 100) == 3
    assert unsent(pool) == 0
    assert [json.loads(b)["note"] for b in drain(amqp_uri, queue)] == ["2", "3", "4"]
    with pool.transaction() as cur:     # new rows go from the position, after the old ones
        uow = UnitOfWork(cur, exchange)
        uow.emit("work", {"note": "new"})
        uow.flush()
    assert relay_once(pool, publisher, 100) == 1
    assert [json.loads(b)["note"] for b in drain(amqp_uri, queue)] == ["new"]
    publisher.close()
    pool.close()
