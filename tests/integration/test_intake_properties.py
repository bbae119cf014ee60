"""Property: whatever arrives on the intake, nothing crashes and nothing is lost.

Every generated message ends in exactly one recorded state (applied, held or
rejected with per-field reasons), and a rejected one has a reason for at
least one field; the batch never raises.
"""
import json
import secrets
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.stack import ROOT
from services.enrolment.intake import IntakeBatch
from shared.consumer import Delivery
from shared.db import Pool
from shared.inbox import EventInbox
from shared.migrations import migrate

pytestmark = pytest.mark.integration

EVENT_TYPES = ["person.registered", "employment.started", "employment.changed", "employment.ended",
               "contribution.paid", "health.enrolled", "sponsorship.granted", "person.died",
               "person.teleported"]
FIELDS = ["citizen_id", "full_name", "date_of_birth", "sex", "province_code", "employer_code",
          "monthly_salary", "start_date", "region", "scheme", "period_start", "months",
          "amount_paid", "channel", "declared_income", "support_group", "household_id",
          "group_code", "valid_from", "programme_code", "sponsor", "benefit", "amount",
          "date_of_death", "end_date", "effective_date", "ethnic_minority", "payer"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.sampled_from(["001085012345", "042190012345", "1985-03-02", "2025-08", "male", "female",
                     "01", "42", "DN0001", "voluntary_si", "household_hi", "GD", "TE",
                     "health_card", "si_book", "2099-01-01", "1899-12-31"]))
payloads = st.dictionaries(st.sampled_from(FIELDS), scalars, max_size=10)
envelopes = st.fixed_dictionaries(
    {"event_type": st.sampled_from(EVENT_TYPES), "payload": payloads},
    optional={"event_id": st.text(alphabet=string.ascii_letters + string.digits, min_size=0, max_size=40),
              "occurred_at": st.sampled_from(["2024-01-16T09:51:00+07:00", "2025-07-02T00:00:00Z",
                                              "2024-01-16T09:51:00", "yesterday", ""]),
              "source": st.text(max_size=10), "extra": scalars})
bodies = st.one_of(envelopes.map(lambda e: json.dumps(e).encode()),
                   st.binary(max_size=200))


@pytest.fixture(scope="module")
def intake_pool(database_dsn):
    schema = f"prop_{secrets.token_hex(4)}"
    migrate(database_dsn, schema, ROOT / "services" / "enrolment" / "migrations")
    pool = Pool(database_dsn, schema, 2)
    yield pool
    pool.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.tuples(bodies, st.sampled_from(EVENT_TYPES)), min_size=1, max_size=5))
def test_no_message_crashes_the_intake_or_goes_unrecorded(intake_pool, batch):
    deliveries = [Delivery(body=body, exchange="enrolment.intake", routing_key=key, headers={},
                           content_type="application/json") for body, key in batch]
    outcomes = EventInbox(intake_pool, None, "enrolment.events", "enrolment.intake").apply(
        deliveries, IntakeBatch)
    assert len(outcomes) == len(deliveries)
    with intake_pool.transaction() as cur:
        for delivery, outcome in zip(deliveries, outcomes):
            event_id = _event_id(delivery.body)
            if outcome.dead_letter_reason:
                # only a body that is no JSON object, and it is recorded as a rejection too
                cur.execute("SELECT reasons FROM rejections WHERE event_id = %s",
                            (outcome.extra["event_id"],))
                assert cur.fetchone()["reasons"]["_body"]
                continue
            if event_id is None:
                continue  # rejected under the body's fingerprint; checked below by count
            cur.execute("SELECT i.status, r.reasons FROM inbox i LEFT JOIN rejections r"
                        " USING (event_id) WHERE i.event_id = %s", (event_id,))
            row = cur.fetchone()
            if row is None:
                continue  # an invalid event_id: keyed by the fingerprint instead
            assert row["status"] in ("applied", "held", "rejected")
            if row["status"] == "rejected":
                assert row["reasons"] and all(row["reasons"].values())
        cur.execute("SELECT count(*) AS n FROM rejections WHERE reasons = '{}'::jsonb")
        assert cur.fetchone()["n"] == 0


def _event_id(body):
    try:
        value = json.loads(body).get("event_id")
    except Exception:
        return None
    return value if isinstance(value, str) else None
