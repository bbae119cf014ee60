"""A batch applied set-wise has exactly the effects of its events applied one by one.

The intake reads a batch's people and what the rules ask about them at once
(``RegisterState``) and keeps that view in step with the batch's writes. If
the view ever went stale (a card superseded, a scheme ended, an employment
closed, a person registered or dead earlier in the same batch), the register
would differ from the one built one event per transaction. So the same
stream, realistic and with the awkward cases added, goes into two fresh
schemas, once in batches of 200 and once one event per transaction, and
every table and every emitted event must come out the same.
"""
import json
import secrets
import uuid

import psycopg2.extensions
import pytest

from bench.intake_mixed import MixedIntake, seed_register
from deploy.stack import ROOT
from services.enrolment.domain.citizen_id import make_citizen_id
from services.enrolment.intake import IntakeBatch
from shared.consumer import Delivery
from shared.db import Pool
from shared.inbox import EventInbox
from shared.migrations import migrate

pytestmark = pytest.mark.integration

PEOPLE, EVENTS = 2_000, 1_600


def envelope(event_type, payload, occurred_at="2025-10-01T09:00:00+07:00"):
    return {"event_id": str(uuid.uuid4()), "event_type": event_type, "source": "batch-test",
            "occurred_at": occurred_at, "payload": payload}


def awkward_cases(stream):
    """Events whose effect depends on what an earlier event of the same batch did."""
    newcomer = make_citizen_id("01", "female", 1990, 777_001)
    registration = envelope("person.registered", {
        "citizen_id": newcomer, "full_name": "Người Mới", "date_of_birth": "1990-04-04",
        "sex": "female", "province_code": "01"})
    job = {"citizen_id": newcomer, "employer_code": "DNBATCH1", "monthly_salary": 9_000_000,
           "start_date": "2025-02-01", "region": 1}
    events = [
        envelope("employment.started", job),                       # held: not registered yet
        registration,                                              # registers, replays the hold
        dict(registration),                                        # the same event again
        envelope("employment.started", dict(job, employer_code="DNBATCH2",
                                            start_date="2025-03-01")),
        envelope("employment.ended", {"citizen_id": newcomer, "employer_code": "DNBATCH1",
                                      "end_date": "2025-06-30", "reason": "resigned"}),
        envelope("employment.changed", {"citizen_id": newcomer, "employer_code": "DNBATCH2",
                                        "effective_date": "2025-07-01",
                                        "monthly_salary": 9_500_000}),
        envelope("employment.started", job),                       # the same employer again
        envelope("person.died", {"citizen_id": newcomer, "date_of_death": "2025-09-15"}),
        envelope("employment.started", dict(job, employer_code="DNBATCH3")),  # deceased
        envelope("employment.ended", {"citizen_id": newcomer, "employer_code": "DNBATCH2",
                                      "end_date": "2025-09-30", "reason": "resigned"}),
    ]
    # someone the stream employs, paying voluntary SI in the same batch: refused
    employed = next(e for e in stream if e["event_type"] == "employment.started")
    events.append(envelope("contribution.paid", {
        "citizen_id": employed["payload"]["citizen_id"], "scheme": "voluntary_si",
        "period_start": "2025-08", "months": 1, "amount_paid": 330_000, "channel": "post-office",
        "declared_income": 1_500_000, "support_group": "other"}))
    return events


def seeded_schema(database_dsn, prefix="batch"):
    """A fresh enrolment schema with ``PEOPLE`` people on the register."""
    schema = f"{prefix}_{secrets.token_hex(4)}"
    migrate(database_dsn, schema, ROOT / "services" / "enrolment" / "migrations")
    wait_callback = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(None)   # COPY cannot run green
    try:
        seed_register(database_dsn, PEOPLE, schema=schema, checkpoint=False)
    finally:
        psycopg2.extensions.set_wait_callback(wait_callback)
    return schema


def apply_stream(database_dsn, bodies, batch_size):
    pool = Pool(database_dsn, seeded_schema(database_dsn), 2)
    inbox = EventInbox(pool, None, "enrolment.events", "enrolment.intake")
    deliveries = [Delivery(body=json.dumps(b).encode(), exchange="enrolment.intake",
                           routing_key=b["event_type"], headers={},
                           content_type="application/json") for b in bodies]
    for start in range(0, len(deliveries), batch_size):
        # straight to one transaction: no fall-back to one by one that could hide an error
        outcomes = inbox._in_one_transaction(deliveries[start:start + batch_size], IntakeBatch())
        assert not any(o.dead_letter_reason for o in outcomes)
    return pool


TABLES = {
    "people": "SELECT citizen_id, si_code, status, date_of_death FROM people ORDER BY 1",
    "inbox": "SELECT event_id, event_type, status FROM inbox ORDER BY 1",
    "rejections": "SELECT event_id, reasons FROM rejections ORDER BY 1",
    "held_events": "SELECT event_id FROM held_events ORDER BY 1",
    "employments": "SELECT citizen_id, employer_code, region, group_code, start_date, end_date,"
                   " end_reason FROM employments ORDER BY id",
    "salaries": "SELECT e.citizen_id, e.employer_code, s.effective_date, s.monthly_salary"
                " FROM salary_history s JOIN employments e ON e.id = s.employment_id ORDER BY 1, 2, 3",
    "coverages": "SELECT c.citizen_id, scheme, c.group_code, valid_from, valid_to, status, announced,"
                 " e.employer_code FROM coverages c LEFT JOIN employments e ON e.id = c.employment_id"
                 " ORDER BY c.id",
    "cards": "SELECT c.card_number, c.citizen_id, c.group_code, c.valid_from, c.valid_to, c.status,"
             " c.reason, e.employer_code FROM cards c"
             " LEFT JOIN employments e ON e.id = c.employment_id ORDER BY c.id",
    "books": "SELECT citizen_id, book_number, issued_on FROM books ORDER BY 1",
    "contributions": "SELECT citizen_id, scheme, month, amount, state_support FROM contributions"
                     " ORDER BY 1, 2, 3",
}


def snapshot(pool):
    tables = {}
    with pool.transaction() as cur:
        for name, sql in TABLES.items():
            cur.execute(sql)
            tables[name] = [dict(row) for row in cur.fetchall()]
        cur.execute("SELECT event_type, body FROM outbox ORDER BY id")
        tables["events"] = [(row["event_type"], {k: v for k, v in row["body"].items()
                                                 if k not in ("event_id", "occurred_at")})
                            for row in cur.fetchall()]
    return tables


def test_a_batch_has_the_effects_of_its_events_one_by_one(database_dsn):
    stream = list(MixedIntake(PEOPLE, 20261122).events(EVENTS))
    bodies = stream[:150] + awkward_cases(stream) + stream[150:]
    batched = snapshot(apply_stream(database_dsn, bodies, 200))
    one_by_one = snapshot(apply_stream(database_dsn, bodies, 1))
    # the stream did something of every kind, and the awkward cases did what they should
    statuses = {}
    for row in batched["inbox"]:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    assert statuses.get("applied", 0) > EVENTS * 0.95 and statuses["rejected"] >= 3
    assert any(row["reasons"].get("payload.citizen_id", [""])[0].startswith("deceased")
               for row in batched["rejections"])
    assert {kind for kind, _ in batched["events"]} >= {
        "participant_registered", "coverage_started", "coverage_ended", "card_issued",
        "book_issued", "contribution_recorded", "employment_started", "employment_ended",
        "participant_died", "intake_rejected"}
    for name in list(TABLES) + ["events"]:
        assert batched[name] == one_by_one[name], name
