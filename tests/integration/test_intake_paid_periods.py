"""Paid periods that lapse, resume, leave gaps and fill them, across lapse sweeps,
with the results the intake gave before the register state decided them in memory.

``tests/integration/test_intake_batches.py`` shows that a batch has the effects of
its events one by one, but both sides run the same code. Here the expected coverage
rows and ``coverage_started``/``coverage_ended`` events are written out: they are
what the code before deferred writes (6c11ee1, where SQL chose the period to
extend, resume or close) produced for this scenario, batched and one by one.
"""
import datetime as dt
import json
import secrets

import pytest

from deploy.stack import ROOT
from services.enrolment.domain.citizen_id import make_citizen_id
from services.enrolment.domain.contributions import voluntary_si
from services.enrolment.intake import IntakeBatch
from services.enrolment.lapse import end_lapsed_coverages
from services.enrolment.reference import REFERENCE
from shared.consumer import Delivery
from shared.db import Pool
from shared.inbox import EventInbox
from shared.migrations import migrate
from shared.outbox import UnitOfWork

pytestmark = pytest.mark.integration

A = make_citizen_id("01", "male", 1980, 900_001)
C = make_citizen_id("01", "male", 1980, 900_003)
E = make_citizen_id("01", "male", 1980, 900_005)
WHO = {A: "A", C: "C", E: "E"}


def scenario():
    n = [0]

    def ev(event_type, payload):
        n[0] += 1
        return {"event_id": f"ev-{n[0]:04d}", "event_type": event_type, "source": "paid-periods",
                "occurred_at": "2025-10-01T09:00:00+07:00", "payload": payload}

    def person(cid):
        return ev("person.registered", {"citizen_id": cid, "full_name": "Người Thử",
                                        "date_of_birth": "1980-05-05", "sex": "male",
                                        "province_code": "01"})

    def paid(cid, period, months, used=0):
        first = dt.date(int(period[:4]), int(period[5:]), 1)
        amount = voluntary_si(REFERENCE, 1_500_000, months, "other", first,
                              used).amounts["total_payable"]
        return ev("contribution.paid", {
            "citizen_id": cid, "scheme": "voluntary_si", "period_start": period, "months": months,
            "amount_paid": amount, "channel": "post-office", "declared_income": 1_500_000,
            "support_group": "other"})

    def job(cid, employer):
        return ev("employment.started", {"citizen_id": cid, "employer_code": employer,
                                         "monthly_salary": 9_000_000, "start_date": "2025-01-01",
                                         "region": 1})

    return [
        ("events", [person(A), person(C), person(E), paid(A, "2025-01", 3), job(C, "DNC"),
                    paid(C, "2025-02", 1),                  # refused: in compulsory SI
                    job(E, "DNE")]),
        ("sweep", dt.date(2025, 5, 1)),                     # A's January-March lapses
        ("events", [paid(A, "2025-04", 1, 3),               # right after: resumed
                    paid(A, "2025-06", 1, 4),               # a gap: a new period, April's closed
                    paid(A, "2025-05", 1, 5),               # fills the gap: April's taken up again
                    ev("employment.ended", {"citizen_id": E, "employer_code": "DNE",
                                            "end_date": "2025-03-31", "reason": "resigned"}),
                    paid(E, "2025-04", 3),                  # allowed now
                    ev("person.died", {"citizen_id": C, "date_of_death": "2025-09-15"}),
                    paid(C, "2025-10", 1)]),                # refused: deceased
        ("sweep", dt.date(2025, 8, 1)),
        ("events", [paid(E, "2025-07", 1, 3),               # right after a lapse: resumed
                    paid(A, "2025-07", 1, 6)]),
    ]


COVERAGES = [  # (who, scheme, group, valid_from, valid_to, status), in id order
    ("A", "voluntary_si", None, "2025-01-01", "2025-05-31", "ended"),
    ("C", "compulsory_si", None, "2025-01-01", "2025-09-15", "ended"),
    ("C", "health", "DN", "2025-01-01", "2025-09-15", "ended"),
    ("C", "unemployment", None, "2025-01-01", "2025-09-15", "ended"),
    ("E", "compulsory_si", None, "2025-01-01", "2025-03-31", "ended"),
    ("E", "health", "DN", "2025-01-01", "2025-03-31", "ended"),
    ("E", "unemployment", None, "2025-01-01", "2025-03-31", "ended"),
    ("A", "voluntary_si", None, "2025-06-01", "2025-07-31", "active"),
    ("E", "voluntary_si", None, "2025-04-01", "2025-07-31", "active"),
]
COVERAGE_EVENTS = [  # started: (who, scheme, valid_from, resumed); ended: (who, scheme, valid_to, reason)
    ("coverage_started", "A", "voluntary_si", "2025-01-01", False),
    ("coverage_started", "C", "compulsory_si", "2025-01-01", False),
    ("coverage_started", "C", "health", "2025-01-01", False),
    ("coverage_started", "C", "unemployment", "2025-01-01", False),
    ("coverage_started", "E", "compulsory_si", "2025-01-01", False),
    ("coverage_started", "E", "health", "2025-01-01", False),
    ("coverage_started", "E", "unemployment", "2025-01-01", False),
    ("coverage_ended", "A", "voluntary_si", "2025-03-31", "paid_period_ended"),
    ("coverage_started", "A", "voluntary_si", "2025-04-01", True),
    ("coverage_ended", "E", "compulsory_si", "2025-03-31", "employment_ended"),
    ("coverage_ended", "E", "health", "2025-03-31", "employment_ended"),
    ("coverage_ended", "E", "unemployment", "2025-03-31", "employment_ended"),
    ("coverage_started", "E", "voluntary_si", "2025-04-01", False),
    ("coverage_ended", "C", "compulsory_si", "2025-09-15", "death"),
    ("coverage_ended", "C", "health", "2025-09-15", "death"),
    ("coverage_ended", "C", "unemployment", "2025-09-15", "death"),
    ("coverage_ended", "A", "voluntary_si", "2025-06-30", "paid_period_ended"),
    ("coverage_ended", "E", "voluntary_si", "2025-06-30", "paid_period_ended"),
    ("coverage_started", "E", "voluntary_si", "2025-07-01", True),
    ("coverage_started", "A", "voluntary_si", "2025-07-01", True),
]


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "one-by-one"])
def test_paid_periods_lapse_resume_and_close_as_before(database_dsn, batched):
    schema = f"paid_{secrets.token_hex(4)}"
    migrate(database_dsn, schema, ROOT / "services" / "enrolment" / "migrations")
    pool = Pool(database_dsn, schema, 2)
    inbox = EventInbox(pool, None, "enrolment.events", "enrolment.intake")
    for kind, what in scenario():
        if kind == "sweep":
            with pool.transaction() as cur:
                uow = UnitOfWork(cur, "enrolment.events")
                end_lapsed_coverages(uow, what)
                uow.flush()
            continue
        deliveries = [Delivery(body=json.dumps(b).encode(), exchange="enrolment.intake",
                               routing_key=b["event_type"], headers={},
                               content_type="application/json") for b in what]
        for group in ([deliveries] if batched else [[d] for d in deliveries]):
            outcomes = inbox._in_one_transaction(group, IntakeBatch())
            assert not any(o.dead_letter_reason for o in outcomes)
    with pool.transaction() as cur:
        cur.execute("SELECT citizen_id, scheme, group_code, valid_from, valid_to, status"
                    " FROM coverages ORDER BY id")
        coverages = [(WHO[r["citizen_id"]], r["scheme"], r["group_code"],
                      r["valid_from"].isoformat(), r["valid_to"].isoformat(), r["status"])
                     for r in cur.fetchall()]
        cur.execute("SELECT event_type, body FROM outbox"
                    " WHERE event_type IN ('coverage_started', 'coverage_ended') ORDER BY id")
        events = [(r["event_type"], WHO[r["body"]["citizen_id"]], r["body"]["scheme"],
                   r["body"].get("valid_from") or r["body"]["valid_to"],
                   r["body"]["resumed"] if r["event_type"] == "coverage_started"
                   else r["body"]["reason"]) for r in cur.fetchall()]
        cur.execute("SELECT event_id, split_part(reasons::text, ':', 2) AS why FROM rejections"
                    " ORDER BY event_id")
        rejected = [(r["event_id"], r["why"].strip(' "[')) for r in cur.fetchall()]
    pool.close()
    assert coverages == COVERAGES
    assert events == COVERAGE_EVENTS
    assert rejected == [("ev-0006", "in_compulsory_si"), ("ev-0014", "deceased")]
