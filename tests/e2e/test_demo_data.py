"""The demo's synthetic province through the real intake: every event applied, none rejected.

The issue's "the demo generator's output passes the intake validation 100%":
about 1,500 people of a province with all eight event types, published as
``make demo`` publishes them (batched publisher confirms, ``mandatory``), each
event's ``intake_status`` read back.
"""
from collections import Counter

import pytest

from deploy.synthetic import SyntheticProvince
from shared.envelope import today_in
from shared.outbox import ConfirmingPublisher
from tests.conftest import eventually

pytestmark = pytest.mark.e2e

PROVINCE = "12"   # Lai Châu: no other test registers anyone there (nor in its old code)
PEOPLE = 1_500


def registered_in(planner, province):
    rows = [r for r in planner.reporting.coverage(province_code=province) if r["scheme"] == "registered"]
    return rows[0]["participants"] if rows else 0


def test_every_event_of_a_synthetic_province_is_applied(stack, amqp_uri, rpc_as):
    clerk, planner = rpc_as("clerk"), rpc_as("planner")
    province = SyntheticProvince(PROVINCE, PEOPLE, seed=20261122, today=today_in())
    planner.enrolment.create_programme(province.programme())   # grants name it
    events = list(province.events())
    assert set(t for t, _ in events) == {
        "person.registered", "employment.started", "employment.changed", "employment.ended",
        "contribution.paid", "health.enrolled", "sponsorship.granted", "person.died"}

    publisher = ConfirmingPublisher(amqp_uri)
    try:
        for start in range(0, len(events), 500):
            returned = publisher.publish([(e["event_id"], "enrolment.intake", t, e)
                                          for t, e in events[start:start + 500]])
            assert not returned, "the intake queue is not bound"
    finally:
        publisher.close()

    # one consumer takes the queue in order: once the last event is settled, all are
    last = events[-1][1]["event_id"]
    eventually(lambda: clerk.enrolment.intake_status(last)["status"] != "unknown", timeout=300,
               interval=1)
    statuses, refused = Counter(), {}
    for event_type, envelope in events:
        status = clerk.enrolment.intake_status(envelope["event_id"])
        statuses[status["status"]] += 1
        if status["status"] != "applied":
            refused[envelope["event_id"]] = (event_type, status["status"], status["reasons"])
    assert refused == {}
    assert statuses == {"applied": len(events)}

    eventually(lambda: registered_in(planner, PROVINCE) == PEOPLE, timeout=120, interval=1)
    programme = [p for p in planner.enrolment.list_programmes()
                 if p["programme_code"] == province.programme()["programme_code"]][0]
    assert (programme["books"], programme["cards"]) == (
        province.stats["grants.si_book"], province.stats["grants.health_card"])
