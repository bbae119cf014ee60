"""Sums over settled months kept between calls (``store.SettledSums``, issue 5): the
figures read through them equal a direct count over the events as batches land,
back-dated ones included, after a rebuild, and across two schemas sharing one process;
a back-dated batch makes a call read only the month it wrote."""
import contextlib
import datetime as dt
import secrets
import time
from types import SimpleNamespace

import eventlet.patcher
import psycopg2.extras
import pytest

from services.reporting import projections, queries, store
from services.reporting.domain import aggregates
from services.reporting.domain.figures import today_unit
from services.reporting.replies import Answers
from services.reporting.service import ReportingService
from shared.db import Pool, connect, defer, fetch_tuples
from shared.migrations import migrate
from tests.integration.test_reporting_rollup import (
    MIGRATIONS, REFERENCE, TODAY, consume, dated_effects, days_to_check, direct_count,
    direct_starts, stored, synthetic_events)

real_threading = eventlet.patcher.original("threading")
# a settled month the synthetic events' days cover (they run from 2024-11-03 on)
BACK_MONTH = max(dt.date(2025, 3, 1), (TODAY.replace(day=1) - dt.timedelta(days=240)).replace(day=1))

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
    back = dated(synthetic_events(60, 12), BACK_MONTH)
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
    same_with_and_without_kept_sums(pool, settled, [
        lambda cur: queries.coverage(cur, REFERENCE),
        lambda cur: queries.coverage(cur, REFERENCE, dt.date(2025, 6, 30)),
        lambda cur: queries.coverage(cur, REFERENCE, dt.date(2025, 2, 14), "79"),
        lambda cur: queries.target_progress(cur, REFERENCE, TODAY.year),
        lambda cur: queries.target_progress(cur, REFERENCE, TODAY.year, "79")])
    assert settled.hits > 0


def same_with_and_without_kept_sums(pool, settled, calls):
    """Each of ``calls`` (in its own transaction, in this order) gives the same rows with
    nothing kept and then twice with sums kept."""
    def views():
        out = []
        for call in calls:
            with pool.transaction() as cur:
                out.append(call(cur))
        return out
    settled.size = 0
    without = views()
    settled.size = 512
    assert views() == without and views() == without


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


def test_a_province_first_then_the_nation(pool, settled):
    """The kept sums of a province's codes are not the nation's, nor the other way round."""
    consume(pool, synthetic_events(900, 21))
    same_with_and_without_kept_sums(pool, settled, [
        lambda cur: queries.coverage(cur, REFERENCE, dt.date(2025, 2, 14), "79"),
        lambda cur: queries.coverage(cur, REFERENCE, dt.date(2025, 2, 14))])


def test_a_batch_committed_mid_call_is_not_half_seen(pool, settled, monkeypatch):
    """A back-dated batch that commits after a call read today's counts and before it
    read the settled months is not in its figures: every statement reads one snapshot."""
    consume(pool, synthetic_events(700, 11))
    day = dt.date(2025, 2, 14)
    with pool.transaction() as cur:
        store.snapshot(cur)
        expected = queries.participants(cur, day)
    settled.months.clear(), settled.totals.clear()
    back = dated(synthetic_events(60, 12), BACK_MONTH)
    real, fired = store._tuples, []

    def tuples(cur, sql, params):
        if sql is store.MONTH_ROWS and not fired:
            fired.append(1)
            consume(pool, back)  # another connection, committed
        return real(cur, sql, params)
    monkeypatch.setattr(store, "_tuples", tuples)
    with pool.transaction() as cur:
        store.snapshot(cur)
        got = queries.participants(cur, day)
    assert fired and got == expected


def test_any_writer_of_the_rollup_renews_its_months(pool, settled):
    """An instance still running the code from before the month versions (a rolling
    upgrade) or a correction by hand writes the roll-up without a word about versions:
    the triggers renew them, and the kept sums follow."""
    events = synthetic_events(700, 11)
    consume(pool, events)
    check(pool, dated_effects(events))
    back = dated(synthetic_events(60, 12), BACK_MONTH)
    projection = projections.Projection()
    for event_type, body in back:
        projection.apply(event_type, body)
    changes = aggregates.merge_rows(projection.changes, 3)
    with pool.transaction() as cur:  # what the older code wrote: days, months, counts
        store.add_to_counts(cur, aggregates.merge(projection.participants))
        store.add_coverage_changes(cur, changes)
        psycopg2.extras.execute_values(
            cur, "INSERT INTO coverage_monthly AS c (month, province_code, scheme, starts, ends,"
                 " resumed, moved_in, moved_out) VALUES %s ON CONFLICT (month, province_code, scheme)"
                 " DO UPDATE SET starts = c.starts + EXCLUDED.starts, ends = c.ends + EXCLUDED.ends,"
                 " resumed = c.resumed + EXCLUDED.resumed, moved_in = c.moved_in + EXCLUDED.moved_in,"
                 " moved_out = c.moved_out + EXCLUDED.moved_out", aggregates.monthly_rows(changes))
    events += back
    check(pool, dated_effects(events))
    # and a correction by hand of one row: the next call sees it
    first, last = BACK_MONTH.replace(month=1), TODAY
    with pool.transaction() as cur:
        store.snapshot(cur)
        before = queries._starts(cur, first, last)
    with pool.transaction() as cur:
        cur.execute("UPDATE coverage_monthly SET starts = starts + 5 WHERE (month, province_code,"
                    " scheme) = (SELECT month, province_code, scheme FROM coverage_monthly"
                    " WHERE month = %s ORDER BY 2, 3 LIMIT 1) RETURNING province_code, scheme",
                    (BACK_MONTH,))
        row = cur.fetchone()
    with pool.transaction() as cur:
        store.snapshot(cur)
        after = queries._starts(cur, first, last)
    key = (today_unit(row["province_code"]), row["scheme"])
    assert after[key] == before.get(key, 0) + 5
    assert after[("VN", row["scheme"])] == before.get(("VN", row["scheme"]), 0) + 5


class HeldRebuildPool:
    """A pool whose one transaction (the rebuild's) runs ``during()`` with its TRUNCATE
    and replay done and its locks held, before it commits."""

    def __init__(self, dsn, schema, during):
        self.dsn, self.schema, self.during = dsn, schema, during

    @contextlib.contextmanager
    def transaction(self):
        conn = connect(self.dsn, self.schema)
        try:
            with conn.cursor() as cur:
                yield cur
                cur.flush()
            finish = self.during()
            conn.commit()
            finish()
        finally:
            conn.close()


def health_counts(rows):
    return {(r["province_code"], "health"): r["participants"] for r in rows
            if r["scheme"] == "health" and r["province_code"] != "VN" and r["participants"]}


@pytest.mark.parametrize("entry", ["report", "answer"])
def test_a_call_made_during_a_rebuild_reads_the_rebuilt_figures(pool, settled, entry):
    """A call that arrives while a rebuild holds the read models waits for it and then
    reads the rebuilt figures: its snapshot is taken after the locks are granted (one
    taken before would see every truncated table empty)."""
    events = synthetic_events(300, 5)
    consume(pool, events)
    expected = {key: n for key, n in direct_count(dated_effects(events), None).items()
                if key[1] == "health"}
    answers = Answers()
    answers.container = SimpleNamespace(config={})
    answers.setup()
    service = SimpleNamespace(db=pool, answers=answers)

    def call():
        if entry == "report":
            return ReportingService.report(service, "coverage", {})
        return ReportingService.answer(service, "coverage",
                                       {"as_of": None, "province_code": None}).result()
    assert health_counts(call()) == expected
    got = {}

    def during():
        thread = real_threading.Thread(target=lambda: got.update(rows=call()))
        thread.start()
        time.sleep(1.0)  # the call has sent its first statement and waits on the locks
        return lambda: thread.join(30)
    assert projections.rebuild(HeldRebuildPool(pool.dsn, pool.schema, during)) == len(events)
    assert health_counts(got["rows"]) == expected
    assert health_counts(call()) == expected


def test_fetch_tuples_keeps_the_deferred_statements_when_its_own_cannot_be_rendered(pool):
    with pool.transaction() as cur:
        cur.execute("DELETE FROM read_model_clock")
        defer(cur, "INSERT INTO read_model_clock (name) VALUES ('deferred')")
        with pytest.raises(KeyError):
            fetch_tuples(cur, "SELECT %(missing)s", {})
    with pool.transaction() as cur:
        cur.execute("SELECT name FROM read_model_clock")
        assert [r["name"] for r in cur.fetchall()] == ["deferred"]


def test_a_cursor_used_for_two_transactions_does_not_carry_the_first_ones_snapshot(pool, settled):
    conn = connect(pool.dsn, pool.schema)
    try:
        with conn.cursor() as cur:
            assert store.snapshot(cur)
            store.versions(cur)
            conn.commit()
            assert not store.in_snapshot(cur)
            cur.execute("INSERT INTO read_model_clock (name) VALUES ('written')")  # not read only
            conn.commit()
            assert store.snapshot(cur) and store.versions(cur).clock.get("written")
            conn.rollback()
    finally:
        conn.close()
