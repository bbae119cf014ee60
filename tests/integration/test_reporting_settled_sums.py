"""Sums over settled months kept between calls (``store.SettledSums``, issue 5): the
figures read through them equal a direct count over the events as batches land,
back-dated ones included, after a rebuild, and across two schemas sharing one process;
a back-dated batch makes a call read only the month it wrote."""
import datetime as dt
import secrets

import pytest

from services.reporting import projections, queries, store
from shared.db import Pool
from shared.migrations import migrate
from tests.integration.test_reporting_rollup import (
    MIGRATIONS, REFERENCE, TODAY, consume, dated_effects, days_to_check, direct_count,
    direct_starts, stored, synthetic_events)

pytestmark = pytest.mark.integration


@pytest.fixture
def settled(monkeypatch):
    kept = store.SettledSums(size=512)
    monkeypatch.setattr(store, "SETTLED", kept)
    return kept


def new_pool(database_dsn):
    schema = f"settled_{secrets.token_hex(4)}"
    migrate(database_dsn, schema, MIGRATIONS)
    return Pool(database_dsn, schema, 2)


@pytest.fixture
def pool(database_dsn):
    pool = new_pool(database_dsn)
    yield pool
    pool.close()


RANGES = [(dt.date(2025, 1, 1), dt.date(2025, 12, 31)), (TODAY.replace(month=1, day=1), TODAY),
          (dt.date(2024, 12, 15), dt.date(2025, 8, 10)), (dt.date(2025, 7, 1), TODAY)]
DAYS = [day for day in days_to_check() if day < dt.date(2099, 1, 1)]


def check(pool, effects):
    """Figures as of each day and starts over each range, each in a snapshot (so the kept
    sums are used), against the direct count."""
    for day in DAYS:
        with pool.transaction() as cur:
            assert store.snapshot(cur)
            assert stored(queries.participants(cur, day)) == direct_count(effects, day), day
    for first, last in RANGES:
        with pool.transaction() as cur:
            assert store.snapshot(cur)
            got = {key: n for key, n in queries._starts(cur, first, last).items()
                   if key[0] != "VN" and key[1] != "social_insurance" and n}
            assert got == direct_starts(effects, first, last), (first, last)


def dated(events, month):
    """``events`` moved to days of ``month`` (a back-dated batch)."""
    moved = []
    for i, (event_type, body) in enumerate(events):
        day = month.replace(day=1 + i % 28).isoformat()
        field = {"participant_registered": "registered_on", "coverage_started": "valid_from",
                 "coverage_ended": "valid_to"}.get(event_type)
        if field:
            moved.append((event_type, dict(body, **{field: day})))
    return moved


def test_kept_sums_follow_every_batch_back_dated_ones_too(pool, settled):
    events = synthetic_events(700, 11)
    consume(pool, events)
    check(pool, dated_effects(events))
    assert settled.updates > 0 and settled.months_read > 0
    # nothing new: every range is answered from what is kept, no month read again
    read, hits = settled.months_read, settled.hits
    check(pool, dated_effects(events))
    assert settled.months_read == read and settled.hits > hits

    # a batch dated in one settled month: each call reads that month alone
    back = dated(synthetic_events(60, 12), dt.date(2025, 3, 1))
    consume(pool, back)
    events += back
    read, deltas = settled.months_read, settled.deltas
    check(pool, dated_effects(events))
    assert 0 < settled.months_read - read <= 1 * 1  # one month, one province-code set
    assert settled.deltas > deltas  # the kept sums brought up to date by that month alone

    # spread over two years: the figures are still the direct count
    more = synthetic_events(400, 13)
    consume(pool, more)
    events += more
    check(pool, dated_effects(events))

    # a rebuild gives the table a new file: nothing kept from before is used
    assert projections.rebuild(pool, chunk=101) == len(events)
    read = settled.months_read
    check(pool, dated_effects(events))
    assert settled.months_read > read


def test_the_views_agree_with_and_without_kept_sums(pool, settled):
    events = synthetic_events(900, 21)
    consume(pool, events)
    with pool.transaction() as cur:
        for province, scheme, target in (("VN", "health", 300), ("79", "compulsory_si", 20)):
            store.set_target(cur, {"year": TODAY.year, "province_code": province, "scheme": scheme,
                                   "measure": "new_participants", "name": "", "target": target,
                                   "starts_on": TODAY.replace(month=1, day=1),
                                   "ends_on": TODAY.replace(month=12, day=31)})
        store.set_target(cur, {"year": TODAY.year, "province_code": "VN", "scheme": "health",
                               "measure": "coverage_rate", "name": "", "target": 95,
                               "starts_on": TODAY.replace(month=1, day=1),
                               "ends_on": TODAY.replace(month=12, day=31)})

    def views():
        out = []
        for call in (lambda cur: queries.coverage(cur, REFERENCE),
                     lambda cur: queries.coverage(cur, REFERENCE, dt.date(2025, 6, 30)),
                     lambda cur: queries.coverage(cur, REFERENCE, dt.date(2025, 2, 14), "79"),
                     lambda cur: queries.target_progress(cur, REFERENCE, TODAY.year),
                     lambda cur: queries.target_progress(cur, REFERENCE, TODAY.year, "79")):
            with pool.transaction() as cur:
                out.append(call(cur))
        return out

    settled.size = 0
    without = views()
    settled.size = 512
    assert views() == without and views() == without
    assert settled.hits > 0


def test_two_schemas_in_one_process_keep_their_own_sums(database_dsn, settled):
    first, second = new_pool(database_dsn), new_pool(database_dsn)
    try:
        # the same days and batches in each, so the same month versions, but other
        # provinces: only the schema tells the kept sums apart
        a = synthetic_events(460, 31)
        b = [(event_type, dict(body, province_code="79" if body["province_code"] != "79" else "01"))
             for event_type, body in a]
        consume(first, a)
        consume(second, b)
        for _ in range(2):
            check(first, dated_effects(a))
            check(second, dated_effects(b))
    finally:
        first.close()
        second.close()
