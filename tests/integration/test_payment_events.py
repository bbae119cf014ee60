"""payment_made events of a payment-run chunk, written after its payments under the
outbox's append lock (services.benefits.store.announce_chunk)."""
import datetime as dt
import json
from pathlib import Path

import pytest

from services.benefits import store
from tests.integration.conftest import migrated_pool

pytestmark = pytest.mark.integration

BENEFITS = Path(store.__file__).resolve().parent / "migrations"


@pytest.fixture
def benefits_pool(database_dsn):
    yield from migrated_pool(database_dsn, "it_pay", BENEFITS)


def chunk_params(after, upto, per_payment, lump_sums):
    return {"first": dt.date(2026, 10, 1), "after": after, "upto": upto, "run_id": 7,
            "exchange": "benefits.events", "period_text": "2026-10",
            "per_payment_events": per_payment, "lump_sum_events": lump_sums}


def test_a_chunk_announces_its_own_payments_in_claim_order(benefits_pool):
    with benefits_pool.transaction() as cur:
        for claim_id, kind, period in ((3, "pension", "2026-10-01"), (1, "lump_sum", "2026-10-01"),
                                       (2, "pension", "2026-09-01"), (5, "pension", "2026-10-01"),
                                       (4, "unemployment", "2026-10-01")):
            cur.execute("INSERT INTO payments (run_id, claim_id, citizen_id, kind, period, amount,"
                        " province_code) VALUES (%s, %s, %s, %s, %s, 1000, '01')",
                        (7, claim_id, f"{claim_id:012d}", kind, period))
        store.announce_chunk(cur, chunk_params(0, 4, False, False))    # none: nothing
        store.announce_chunk(cur, chunk_params(0, 4, False, True))     # lump sums only
        store.announce_chunk(cur, chunk_params(0, 4, True, False))     # every payment
        cur.execute("SELECT event_type, body FROM outbox ORDER BY id")
        rows = cur.fetchall()
    claims = [row["body"]["claim_id"] for row in rows]
    # the lump sum, then claims 1, 3, 4: claim 2 is another month, claim 5 past the chunk
    assert claims == [1, 1, 3, 4]
    assert {row["event_type"] for row in rows} == {"payment_made"}
    first = rows[0]["body"]
    assert (first["kind"], first["period"], first["amount"], first["run_id"],
            first["province_code"], first["citizen_id"]) == (
        "lump_sum", "2026-10", 1000, 7, "01", "000000000001")
    assert len({row["body"]["event_id"] for row in rows}) == 4
    json.dumps([row["body"] for row in rows])
