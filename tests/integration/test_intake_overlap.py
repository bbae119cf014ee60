"""Overlapping intake batches keep the register as if events came one at a time.

With ``CONSUMER.overlap`` the intake consumer applies the next batch while
the one before is still in PostgreSQL (``shared.consumer.Ticket``). A batch
takes advisory locks on its citizens, households and programmes once the
batch before holds its own, and commits only after that batch committed. If
any of that were missing, a batch would read a person, a household's payers
or a programme's budget before the batch before had changed them, and the
register would differ from the one built one event per transaction.

So the real enrolment service, with batches of a few events (consecutive
batches then often share a person), takes the stream of
``test_intake_batches`` through RabbitMQ, and every table and the events
each person's history emitted must equal the one-event-per-transaction run.
Ids, and the order of events of different people, may differ; each person's
own order may not.
"""
import datetime as dt
import json

import eventlet
import pytest
from kombu import Connection, Exchange

from bench.common import synthetic_person
from bench.intake_mixed import MixedIntake
from services.enrolment import service as enrolment_service
from services.enrolment.domain.contributions import household_hi
from services.enrolment.intake import IntakeBatch
from services.enrolment.reference import REFERENCE
from services.enrolment.service import INTAKE_EXCHANGE, EnrolmentService
from shared.consumer import Batch, Delivery, PredecessorFailed, RunAlone, Ticket
from shared.db import Pool
from shared.inbox import EventInbox
from shared.metrics import OVERLAP
from tests.conftest import eventually
from tests.integration.test_intake_batches import (
    EVENTS, PEOPLE, TABLES, apply_stream, awkward_cases, envelope, seeded_schema, snapshot)

pytestmark = pytest.mark.integration

BATCH = 6
PER_CITIZEN = ("employments", "coverages", "cards")


@pytest.fixture
def intake_vhost(run_id):
    """A vhost of its own: the e2e stack's enrolment is the single active
    consumer of ``enrolment.intake`` in the run's vhost."""
    from deploy.scratch import scratch_vhost
    with scratch_vhost(f"{run_id}_overlap") as amqp_uri:
        yield amqp_uri


class IntakeOnly(EnrolmentService):
    """The enrolment service without its sweeps: the lapse sweep would end paid
    cover past its last day, which the one-by-one run never does."""

    def expire_held_events(self):
        pass

    def end_lapsed_cover(self):
        pass


def overlap_count(kind):
    return OVERLAP.labels("enrolment", "enrolment.intake", kind)._value.get()


class FailingOnce(IntakeBatch):
    """A batch holding one of ``EXPLODE`` fails as a whole (after doing its work);
    applied again one event at a time, the same events go through."""
    EXPLODE = set()

    def handle_all(self, uow, deliveries):
        outcomes = super().handle_all(uow, deliveries)
        if len(deliveries) > 1 and any(json.loads(d.body).get("event_id") in self.EXPLODE
                                       for d in deliveries):
            raise RuntimeError("this batch fails as a whole")
        return outcomes


def followed_closely(bodies, count):
    """Event ids of ``count`` events whose person has another event 3-10 events
    later: their batch and the next one share that person."""
    picked, last = [], -100
    for index, body in enumerate(bodies):
        citizen = body["payload"].get("citizen_id")
        later = [b["payload"].get("citizen_id") for b in bodies[index + 3:index + 11]]
        if citizen and citizen in later and index - last > 40:
            picked.append(body["event_id"])
            last = index
    return set(picked[:count])


def without_si_codes(tables):
    """SI codes (and the card and book numbers made of them) as their person's
    citizen id: a batch that fails leaves a gap in the serials it drew."""
    owner = {row["si_code"]: row["citizen_id"] for row in tables["people"]}

    def plain(value):
        if isinstance(value, str) and len(value) == 10 and value in owner:
            return "SI of " + owner[value]
        if isinstance(value, str) and len(value) == 15 and value[5:] in owner:
            return value[:5] + "SI of " + owner[value[5:]]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(plain(v) for v in value)
        return value
    return {name: plain(rows) for name, rows in tables.items()}


def household_rounds(households=6, members=3):
    """Household HI paid by several members of each household, member 1 of every
    household, then member 2 of every household...: member r of a household comes
    ``households`` events after member r - 1, so usually in the next batch, and is
    priced at position r only if that payment is seen (``h:`` keys)."""
    first = dt.date(2026, 4, 1)
    events = []
    for position in range(1, members + 1):
        amount = household_hi(REFERENCE, position, 3, first).amounts["members"][position - 1]["total"]
        for household in range(households):
            person = synthetic_person(1500 + household * members + position)
            events.append(envelope("contribution.paid", {
                "citizen_id": person["citizen_id"], "scheme": "household_hi",
                "household_id": f"HOVERLAP{household:02d}", "period_start": "2026-04",
                "months": 3, "amount_paid": amount, "channel": "post-office"}))
    return events


def statuses(rows):
    counts = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


def per_person(tables):
    """Rows of a person's history in the person's own order; people apart, in any order."""
    tables = dict(tables)
    for name in PER_CITIZEN:
        tables[name] = sorted(tables[name], key=lambda row: row["citizen_id"])   # stable
    tables["events"] = sorted(tables["events"], key=lambda event: (
        event[1].get("citizen_id") or json.dumps(event[1], sort_keys=True, default=str)))
    return tables


@pytest.fixture(scope="module")
def stream_and_reference(database_dsn):
    stream = list(MixedIntake(PEOPLE, 20261122).events(EVENTS))
    households = household_rounds()
    bodies = stream[:150] + awkward_cases(stream) + stream[150:] + households
    reference = per_person(snapshot(apply_stream(database_dsn, bodies, 1)))
    # one at a time, members 2 and 3 are priced at their positions and go through
    applied = {row["event_id"] for row in reference["inbox"] if row["status"] == "applied"}
    assert {body["event_id"] for body in households} <= applied
    return bodies, reference


@pytest.mark.parametrize("failing", [0, 12], ids=["all-commit", "some-batches-fail"])
def test_overlapping_batches_have_the_effects_of_one_event_at_a_time(
        container_factory, config, database_dsn, intake_vhost, stream_and_reference, failing,
        monkeypatch):
    """``some-batches-fail``: a batch that shares a person with the next one fails as
    a whole; the next one, already applied, must roll back and go again after it."""
    bodies, one_by_one = stream_and_reference
    monkeypatch.setattr(FailingOnce, "EXPLODE", followed_closely(bodies, failing))
    monkeypatch.setattr(enrolment_service, "IntakeBatch", FailingOnce)

    schema = seeded_schema(database_dsn, "overlap")
    service_config = dict(
        config, AMQP_URI=intake_vhost,
        DATABASES=dict(config["DATABASES"], enrolment={"dsn": database_dsn, "schema": schema}),
        CONSUMER={"batch_size": BATCH, "batch_wait_ms": 5, "overlap": True},
        INTAKE={"hold_days": 7}, METRICS={})
    started, redone = overlap_count("started"), overlap_count("redone")
    container = container_factory(IntakeOnly, service_config)
    container.start()
    with Connection(intake_vhost, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        exchange = Exchange(INTAKE_EXCHANGE, "topic", durable=True)
        for body in bodies:
            producer.publish(json.dumps(body).encode(), exchange=exchange,
                             routing_key=body["event_type"], delivery_mode=2,
                             content_type="application/json")
    pool = Pool(database_dsn, schema, 2)
    expected = statuses(one_by_one["inbox"])

    def inbox():
        with pool.transaction() as cur:
            cur.execute("SELECT event_id, status FROM inbox")
            return statuses(cur.fetchall())
    eventually(lambda: sum(inbox().values()) == sum(expected.values()), timeout=120, interval=0.5)
    try:   # a held event may still be on its way to applied
        eventually(lambda: inbox() == expected, timeout=5, interval=0.5)
    except AssertionError:
        pass
    container.stop()
    assert inbox() == expected

    overlapped = per_person(snapshot(pool))
    # batches did overlap: the comparison below is about overlapping batches
    assert overlap_count("started") - started > len(bodies) / BATCH / 4
    if failing:
        assert len(FailingOnce.EXPLODE) == failing
        assert overlap_count("redone") > redone
    else:
        assert overlap_count("redone") == redone
    if failing:   # SI serials drawn by the failed attempt are a gap, as without overlap
        overlapped, one_by_one = without_si_codes(overlapped), without_si_codes(one_by_one)
    for name in list(TABLES) + ["events"]:
        assert overlapped[name] == one_by_one[name], name


def test_a_batch_commits_only_after_the_one_before_committed():
    before = Ticket()
    after = Ticket(before)
    before.locked.set()
    after.after_prev_locked()           # returns: the batch before holds its keys
    before.end(committed=False)
    with pytest.raises(Exception) as refused:
        after.check_prev_committed()
    assert type(refused.value).__name__ == "PredecessorFailed"
    with pytest.raises(PredecessorFailed):
        Ticket(before).after_prev_locked()   # the batch before failed: no work at all
    first = Ticket()
    second = Ticket(first)
    first.end(committed=True)
    second.after_prev_locked()
    second.check_prev_committed()       # returns: the batch before committed
    assert second.prev is None          # and is let go: no chain of finished batches


class CommitsLate(IntakeBatch):
    """Holds its transaction open a while after its work, before committing."""

    def handle_all(self, uow, deliveries):
        outcomes = super().handle_all(uow, deliveries)
        eventlet.sleep(0.5)
        return outcomes


def delivery(body):
    return Delivery(body=json.dumps(body).encode(), exchange=INTAKE_EXCHANGE,
                    routing_key=body["event_type"], headers={}, content_type="application/json")


def household_payment(person, position, household="HLATE01"):
    first = dt.date(2026, 4, 1)
    amount = household_hi(REFERENCE, position, 3, first).amounts["members"][position - 1]["total"]
    return envelope("contribution.paid", {
        "citizen_id": person["citizen_id"], "scheme": "household_hi", "household_id": household,
        "period_start": "2026-04", "months": 3, "amount_paid": amount, "channel": "bank"})


def overlapped(inbox, earlier, later):
    """``earlier`` then ``later`` as overlapping batches, the earlier one slow to commit."""
    first, second = Batch(map(delivery, earlier)), Batch(map(delivery, later))
    first.ticket = Ticket()
    second.ticket = Ticket(first.ticket)
    threads = [eventlet.spawn(inbox.apply, first, CommitsLate),
               eventlet.spawn(inbox.apply, second, IntakeBatch)]
    return [thread.wait() for thread in threads]


def rejection(pool, event):
    with pool.transaction() as cur:
        cur.execute("SELECT reasons FROM rejections WHERE event_id = %s", (event["event_id"],))
        return cur.fetchone()


def inbox_status(pool, event):
    with pool.transaction() as cur:
        cur.execute("SELECT status FROM inbox WHERE event_id = %s", (event["event_id"],))
        row = cur.fetchone()
        return row and row["status"]


@pytest.mark.parametrize("replayed", [False, True], ids=["paid", "held-then-replayed"])
def test_a_household_payment_waits_for_the_member_paying_in_the_batch_before(
        database_dsn, replayed):
    """Member 2 of a household is priced at 70% of member 1 only if member 1's
    payment, made by the batch before and not yet committed, is waited for: by the
    household's key, or, for a payment held until its payer registers, by the keys
    of the held events the registration replays."""
    schema = seeded_schema(database_dsn, "overlap")
    pool = Pool(database_dsn, schema, 4)
    inbox = EventInbox(pool, None, "enrolment.events", "enrolment.intake")
    member_1 = synthetic_person(1700)
    member_2 = synthetic_person(PEOPLE + 5)            # not on the register: registered here
    registration = envelope("person.registered", {
        "citizen_id": member_2["citizen_id"], "full_name": "Người Thứ Hai",
        "date_of_birth": member_2["date_of_birth"].isoformat(), "sex": member_2["sex"],
        "province_code": member_2["province_code"]}, occurred_at="2025-03-01T09:00:00+07:00")
    second_payment = household_payment(member_2, 2)
    if replayed:   # held first: its payer is not registered yet
        inbox.apply([delivery(second_payment)], IntakeBatch)
        assert inbox_status(pool, second_payment) == "held"
        overlapped(inbox, [household_payment(member_1, 1)], [registration])
    else:
        inbox.apply([delivery(registration)], IntakeBatch)
        assert inbox_status(pool, registration) == "applied", rejection(pool, registration)
        overlapped(inbox, [household_payment(member_1, 1)], [second_payment])
    assert inbox_status(pool, second_payment) == "applied"
    with pool.transaction() as cur:
        cur.execute("SELECT household_position, count(*) AS months FROM contributions"
                    " WHERE household_id = 'HLATE01' GROUP BY 1 ORDER BY 1")
        assert [tuple(row.values()) for row in cur.fetchall()] == [(1, 3), (2, 3)]


def test_a_batch_that_fails_as_a_whole_is_handed_back_to_run_alone(database_dsn):
    """Applied one event at a time, a failed batch takes no keys: it must not do
    that alongside the batch after it. Both hand themselves back to the consumer
    (``RunAlone``, ``PredecessorFailed``), which runs them again one after the other
    once the batches around them are settled or rolled back."""
    pool = Pool(database_dsn, seeded_schema(database_dsn, "overlap"), 4)
    inbox = EventInbox(pool, None, "enrolment.events", "enrolment.intake")

    class Fails(IntakeBatch):
        def handle_all(self, uow, deliveries):
            super().handle_all(uow, deliveries)
            eventlet.sleep(0.3 if self.late else 0)
            raise RuntimeError("this batch fails as a whole")

    first = Batch([delivery(household_payment(synthetic_person(1701), 1, "HFAIL1"))])
    second = Batch([delivery(household_payment(synthetic_person(1702), 1, "HFAIL2"))])
    first.ticket = Ticket()
    second.ticket = Ticket(first.ticket)
    earlier = eventlet.spawn(inbox.apply, first, lambda: type("Late", (Fails,), {"late": True})())
    later = eventlet.spawn(inbox.apply, second, lambda: type("Now", (Fails,), {"late": False})())
    with pytest.raises(RunAlone):
        earlier.wait()
    with pytest.raises(PredecessorFailed):
        later.wait()
    for batch in (first, second):   # nothing was recorded: no inbox row, no dead letter
        assert inbox_status(pool, json.loads(batch[0].body)) is None
    # alone, without a ticket, the batch goes one by one and its message is dead-lettered
    assert inbox.apply(Batch(first), lambda: type("Late", (Fails,), {"late": False})())[0] \
        .dead_letter_reason.startswith("RuntimeError")


def test_a_killed_consumer_lets_go_of_its_queue_with_batches_in_flight(
        container_factory, config, database_dsn, intake_vhost, monkeypatch):
    """Killed while batches are in flight, the consume loop must not wait for
    workers that were killed too: it would keep its connection, its unacked
    messages and the queue's single active consumer slot for good."""
    class Slow(IntakeBatch):
        def handle_all(self, uow, deliveries):
            eventlet.sleep(5)
            return super().handle_all(uow, deliveries)

    monkeypatch.setattr(enrolment_service, "IntakeBatch", Slow)
    schema = seeded_schema(database_dsn, "overlap")
    container = container_factory(IntakeOnly, dict(
        config, AMQP_URI=intake_vhost,
        DATABASES=dict(config["DATABASES"], enrolment={"dsn": database_dsn, "schema": schema}),
        CONSUMER={"batch_size": 2, "batch_wait_ms": 5, "overlap": True},
        INTAKE={"hold_days": 7}, METRICS={}))
    started = overlap_count("started")
    container.start()
    stream = list(MixedIntake(PEOPLE, 7).events(6))
    with Connection(intake_vhost, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        for body in stream:
            producer.publish(json.dumps(body).encode(),
                             exchange=Exchange(INTAKE_EXCHANGE, "topic", durable=True),
                             routing_key=body["event_type"], delivery_mode=2)

    def consumers():
        with Connection(intake_vhost) as conn:
            return conn.default_channel.queue_declare("enrolment.intake", passive=True).consumer_count

    eventually(lambda: overlap_count("started") > started, timeout=10)   # two in flight
    container.kill()
    eventually(lambda: consumers() == 0, timeout=5)
