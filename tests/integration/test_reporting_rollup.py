"""Reporting's monthly roll-up of coverage changes (issue 5): figures as of a day, new
starts over a range and target progress read through it equal a direct count over the
events, after a rebuild too; the migration back-fills it from what is there; benefits
summed in SQL per today's province."""
import datetime as dt
import json
import random
import secrets
import shutil
import uuid
from collections import Counter

import pytest

from deploy.stack import ROOT
from services.reporting import projections, queries, store
from services.reporting.domain.figures import load_reference, today_unit
from shared.db import Pool
from shared.envelope import today_in
from shared.migrations import migrate
from shared.provinces import NEW_PROVINCES, OLD_PROVINCES
from tests.integration.conftest import migrated_pool

pytestmark = pytest.mark.integration

MIGRATIONS = ROOT / "services" / "reporting" / "migrations"
CODES = sorted(set(OLD_PROVINCES) | set(NEW_PROVINCES))
SCHEMES = ("health", "compulsory_si", "voluntary_si", "unemployment")
VIETNAM = dt.timezone(dt.timedelta(hours=7))
TODAY = today_in()
FIRST = dt.date(2024, 11, 3)  # the events' days run from here to 60 days after today
REFERENCE = load_reference()


@pytest.fixture
def pool(database_dsn):
    yield from migrated_pool(database_dsn, "rollup", MIGRATIONS)


def synthetic_events(n, seed):
    """Registrations, starts (some resumed), ends and province corrections, on days
    spread over two years and across the 1 Jul 2025 merger, some in the future."""
    rng = random.Random(seed)
    span = (TODAY + dt.timedelta(days=60) - FIRST).days
    events = []
    for _ in range(n):
        day = FIRST + dt.timedelta(days=rng.randrange(span))
        code, kind = rng.choice(CODES), rng.random()
        occurred = dt.datetime.combine(day, dt.time(rng.randrange(24)), dt.timezone.utc).isoformat()
        if kind < 0.25:
            events.append(("participant_registered", {"registered_on": day.isoformat(),
                                                      "province_code": code, "occurred_at": occurred}))
        elif kind < 0.65:
            events.append(("coverage_started", {"valid_from": day.isoformat(), "province_code": code,
                                                "scheme": rng.choice(SCHEMES), "occurred_at": occurred,
                                                "resumed": rng.random() < 0.2}))
        elif kind < 0.9:
            events.append(("coverage_ended", {"valid_to": day.isoformat(), "province_code": code,
                                              "scheme": rng.choice(SCHEMES), "occurred_at": occurred}))
        else:
            events.append(("participant_corrected", {
                "previous_province_code": rng.choice(CODES), "province_code": code,
                "occurred_at": occurred, "schemes": rng.sample(SCHEMES, rng.randrange(3))}))
    return events


def consume(pool, events, batch=23):
    """As the consumer does: each batch projected and archived in one transaction."""
    for start in range(0, len(events), batch):
        part = events[start:start + batch]
        with pool.transaction() as cur:
            projection = projections.Projection()
            for event_type, body in part:
                projection.apply(event_type, body)
            projection.write(cur)
            store.archive(cur, [(str(uuid.uuid4()), "enrolment.events", event_type, json.dumps(body))
                                for event_type, body in part])


def dated_effects(events):
    """``(day, province of today, scheme, change, new start)`` of each event, from the
    events' own fields (not from the projection's code)."""
    effects = []
    for event_type, body in events:
        unit = today_unit(body["province_code"])
        if event_type == "participant_registered":
            effects.append((dt.date.fromisoformat(body["registered_on"]), unit, "registered", 1, 1))
        elif event_type == "coverage_started":
            effects.append((dt.date.fromisoformat(body["valid_from"]), unit, body["scheme"], 1,
                            0 if body["resumed"] else 1))
        elif event_type == "coverage_ended":
            effects.append((dt.date.fromisoformat(body["valid_to"]) + dt.timedelta(days=1), unit,
                            body["scheme"], -1, 0))
        elif body["previous_province_code"] != body["province_code"]:
            day = dt.datetime.fromisoformat(body["occurred_at"]).astimezone(VIETNAM).date()
            old = today_unit(body["previous_province_code"])
            for scheme in ["registered"] + body["schemes"]:
                effects += [(day, old, scheme, -1, 0), (day, unit, scheme, 1, 0)]
    return effects


def direct_count(effects, as_of):
    counts = Counter()
    for day, unit, scheme, change, _ in effects:
        if as_of is None or day <= as_of:
            counts[(unit, scheme)] += change
    return {key: n for key, n in counts.items() if n}


def direct_starts(effects, first, last):
    counts = Counter()
    for day, unit, scheme, _, start in effects:
        if first <= day <= last:
            counts[(unit, scheme)] += start
    return {key: n for key, n in counts.items() if n}


def stored(figures):
    """The figures that are not derived (no social_insurance, no national rows)."""
    return {key: n for key, n in figures.items()
            if key[0] != "VN" and key[1] != "social_insurance" and n}


def days_to_check():
    """Before any data, its first day, inside months, both sides of month ends, today,
    after the last data, the end of the calendar."""
    days = [dt.date(2000, 1, 1), FIRST - dt.timedelta(days=1), FIRST, dt.date(2024, 11, 30),
            dt.date(2024, 12, 1), dt.date(2025, 2, 28), dt.date(2025, 3, 1), dt.date(2025, 3, 17),
            dt.date(2025, 6, 30), dt.date(2025, 7, 1), dt.date(2025, 12, 31), dt.date(2026, 1, 1),
            TODAY.replace(day=1) - dt.timedelta(days=1), TODAY.replace(day=1), TODAY,
            TODAY + dt.timedelta(days=61), dt.date(2099, 1, 1), dt.date(9999, 12, 31)]
    rng = random.Random(7)
    return days + [FIRST + dt.timedelta(days=rng.randrange(800)) for _ in range(10)]


def old_scan_after(cur, day):
    """What coverage_changes_after read before the roll-up: every later dated row."""
    cur.execute("SELECT province_code, scheme, sum(starts + resumed + moved_in - ends - moved_out)"
                " AS net FROM coverage_changes WHERE day > %s GROUP BY 1, 2", (day,))
    return sorted((r["province_code"], r["scheme"], int(r["net"])) for r in cur.fetchall() if r["net"])


def rollup_matches_the_days(cur):
    cur.execute("""SELECT count(*) AS n FROM (
        (SELECT date_trunc('month', day)::date, province_code, scheme, sum(starts), sum(ends),
                sum(resumed), sum(moved_in), sum(moved_out) FROM coverage_changes GROUP BY 1, 2, 3
         EXCEPT SELECT month, province_code, scheme, starts, ends, resumed, moved_in, moved_out
           FROM coverage_monthly)
        UNION ALL
        (SELECT month, province_code, scheme, starts, ends, resumed, moved_in, moved_out
           FROM coverage_monthly
         EXCEPT SELECT date_trunc('month', day)::date, province_code, scheme, sum(starts), sum(ends),
                sum(resumed), sum(moved_in), sum(moved_out) FROM coverage_changes GROUP BY 1, 2, 3)
        ) x""")
    return cur.fetchone()["n"] == 0


def test_figures_as_of_any_day_equal_a_direct_count_over_the_events(pool):
    events = synthetic_events(1500, 1)
    consume(pool, events)
    effects = dated_effects(events)
    with pool.transaction() as cur:
        assert rollup_matches_the_days(cur)
        assert stored(queries.participants(cur)) == direct_count(effects, None)
        for day in days_to_check():
            assert stored(queries.participants(cur, day)) == direct_count(effects, day), day
            net = sorted((p, s, int(n)) for p, s, n in store.coverage_changes_after(cur, day) if n)
            assert net == old_scan_after(cur, day), day
        assert stored(queries.participants(cur, FIRST - dt.timedelta(days=1))) == {}


def test_a_province_asked_alone_gets_the_rows_it_gets_among_all(pool):
    consume(pool, synthetic_events(600, 2))
    with pool.transaction() as cur:
        for day in (None, dt.date(2025, 6, 30), dt.date(2025, 7, 1), TODAY):
            every = queries.coverage(cur, REFERENCE, day)
            for province in ("25", "79", "42", "VN"):
                assert queries.coverage(cur, REFERENCE, day, province) == \
                    [r for r in every if r["province_code"] == province]


def test_new_starts_over_any_range_equal_a_direct_count(pool):
    events = synthetic_events(1200, 3)
    consume(pool, events)
    effects = dated_effects(events)
    rng = random.Random(4)
    ranges = [(dt.date(2025, 1, 1), dt.date(2025, 12, 31)), (dt.date(2025, 3, 1), dt.date(2025, 3, 31)),
              (dt.date(2025, 3, 2), dt.date(2025, 3, 30)), (dt.date(2025, 2, 28), dt.date(2025, 3, 1)),
              (dt.date(2025, 2, 14), dt.date(2025, 5, 3)), (dt.date(2025, 6, 30), dt.date(2025, 7, 1)),
              (dt.date(2025, 7, 1), dt.date(2025, 7, 1)), (FIRST, TODAY), (dt.date(1995, 1, 1), FIRST),
              (dt.date(9999, 12, 1), dt.date(9999, 12, 31)), (dt.date(2020, 1, 1), dt.date(9999, 12, 31))]
    for _ in range(25):
        first = FIRST + dt.timedelta(days=rng.randrange(700))
        ranges.append((first, first + dt.timedelta(days=rng.randrange(120))))
    with pool.transaction() as cur:
        for first, last in ranges:
            starts = Counter()
            for code, scheme, n in store.starts_between(cur, first, last):
                starts[(today_unit(code), scheme)] += n
            assert {k: n for k, n in starts.items() if n} == direct_starts(effects, first, last), \
                (first, last)
        # target_progress asks for every range and day at once: one statement, the same sums
        days = days_to_check()
        by_range, by_day, now = store.coverage_sums(cur, ranges + [(TODAY, FIRST)], days,
                                                    current=True)
        counted = Counter()
        for code, scheme, n in now:
            counted[(today_unit(code), scheme)] += n
        assert {k: n for k, n in counted.items() if n} == direct_count(effects, None)
        assert by_range.get((TODAY, FIRST), []) == []  # an empty range
        bounded = [r for r in ranges if r[1].year < 9999]  # ranges alone, all with an end
        assert {r: sorted(x for x in v if x[2]) for r, v in store.coverage_sums(cur, bounded)[0].items()} \
            == {r: sorted(x for x in v if x[2]) for r, v in by_range.items() if r in bounded}
        for first, last in ranges:
            starts = Counter()
            for code, scheme, n in by_range.get((first, last), []):
                starts[(today_unit(code), scheme)] += n
            assert {k: n for k, n in starts.items() if n} == direct_starts(effects, first, last), \
                (first, last)
        now = direct_count(effects, None)
        for day in days:
            net = Counter()
            for code, scheme, n in by_day.get(day, []):
                net[(today_unit(code), scheme)] += n
            then = direct_count(effects, day)
            expected = {k: now.get(k, 0) - then.get(k, 0) for k in set(now) | set(then)}
            assert {k: n for k, n in net.items() if n} == {k: n for k, n in expected.items() if n}, day


def test_target_progress_reads_the_figures_coverage_shows(pool):
    consume(pool, synthetic_events(900, 5))
    year = TODAY.year
    with pool.transaction() as cur:
        for row in ({"province_code": "79", "scheme": "health", "measure": "coverage_rate",
                     "starts_on": dt.date(year, 2, 14), "ends_on": dt.date(year, 11, 3), "target": 80},
                    {"province_code": "VN", "scheme": "social_insurance", "measure": "coverage_rate",
                     "starts_on": dt.date(year, 1, 1), "ends_on": dt.date(year, 12, 31), "target": 40},
                    {"province_code": "25", "scheme": "compulsory_si", "measure": "new_participants",
                     "starts_on": dt.date(year, 2, 14), "ends_on": dt.date(year, 3, 3), "target": 5},
                    {"province_code": "VN", "scheme": "registered", "measure": "new_participants",
                     "starts_on": dt.date(year, 1, 1), "ends_on": dt.date(year, 12, 31), "target": 50}):
            store.set_target(cur, dict(row, year=year, name=""))
        for code in ("79", "VN"):
            store.set_denominator(cur, {"province_code": code, "year": year, "population": 500,
                                        "labour_force": None, "working_age_labour_force": 300,
                                        "source": "test"})
    with pool.transaction() as cur:
        for as_of in (None, dt.date(year, 3, 1), dt.date(year, 10, 31)):
            rows = queries.target_progress(cur, REFERENCE, year, as_of=as_of)
            assert len(rows) == 4
            day = as_of or TODAY
            for row in rows:
                key = (row["province_code"], row["scheme"])
                until = min(dt.date.fromisoformat(row["ends_on"]), day)
                if row["measure"] == "coverage_rate":
                    shown = {(r["province_code"], r["scheme"]): r["coverage_rate"]
                             for r in queries.coverage(cur, REFERENCE, until)}
                    assert row["achieved"] == shown.get(key)
                else:
                    starts = queries._starts(cur, dt.date.fromisoformat(row["starts_on"]), until)
                    first = dt.date.fromisoformat(row["starts_on"])
                    assert row["achieved"] == (starts.get(key, 0) if until >= first else 0)
            for province in ("25", "79", "VN"):
                assert queries.target_progress(cur, REFERENCE, year, province, as_of) == \
                    [r for r in rows if r["province_code"] == province]


def test_a_rebuild_replays_the_rollup_with_the_days(pool):
    events = synthetic_events(800, 6)
    consume(pool, events)
    effects = dated_effects(events)
    with pool.transaction() as cur:  # a roll-up gone wrong shows in the figures as of a day
        cur.execute("UPDATE coverage_monthly SET starts = starts + 1 WHERE month = %s",
                    (dt.date(2025, 9, 1),))
        cur.execute("DELETE FROM coverage_monthly WHERE month = %s", (dt.date(2025, 12, 1),))
        assert not rollup_matches_the_days(cur)
        assert stored(queries.participants(cur, dt.date(2025, 8, 15))) != \
            direct_count(effects, dt.date(2025, 8, 15))
    assert projections.rebuild(pool, chunk=97) == len(events)
    with pool.transaction() as cur:
        assert rollup_matches_the_days(cur)
        for day in days_to_check():
            assert stored(queries.participants(cur, day)) == direct_count(effects, day), day


def test_the_migration_back_fills_the_rollup_from_the_days(database_dsn, tmp_path):
    schema = f"rollup_{secrets.token_hex(4)}"
    before = tmp_path / "reporting" / "migrations"  # the same names, up to 0006
    before.mkdir(parents=True)
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if path.name < "0007":
            shutil.copy(path, before)
    migrate(database_dsn, schema, before)
    pool = Pool(database_dsn, schema, 2)
    try:
        rng = random.Random(8)
        rows = Counter()
        for _ in range(3000):
            day = dt.date(1995, 1, 1) + dt.timedelta(days=rng.randrange(12500))
            rows[(day, rng.choice(CODES), rng.choice(SCHEMES + ("registered",)))] += 1
        with pool.transaction() as cur:
            cur.execute("SELECT to_regclass('coverage_monthly') AS t")
            assert cur.fetchone()["t"] is None
            store.add_coverage_changes(cur, [
                key + (n, rng.randrange(3), rng.randrange(2), rng.randrange(2), rng.randrange(2))
                for key, n in sorted(rows.items())])
        applied = migrate(database_dsn, schema, MIGRATIONS)
        assert applied == ["reporting/0007_coverage_monthly.sql",
                           "reporting/0008_coverage_month_clock.sql"]
        with pool.transaction() as cur:
            cur.execute("SELECT count(*) AS n, sum(starts)::bigint AS s FROM coverage_monthly")
            filled = cur.fetchone()
            assert filled["n"] > 0 and filled["s"] == sum(rows.values())
            # and a version for every month there is (store.SettledSums)
            cur.execute("SELECT (SELECT count(DISTINCT month) FROM coverage_monthly) AS months,"
                        " (SELECT count(*) FROM coverage_month_clock) AS versions")
            clock = cur.fetchone()
            assert clock["versions"] == clock["months"] > 0
            assert rollup_matches_the_days(cur)
            for day in days_to_check() + [dt.date(1995, 1, 1), dt.date(2003, 5, 31), dt.date(2010, 2, 1)]:
                net = sorted((p, s, int(n)) for p, s, n in store.coverage_changes_after(cur, day) if n)
                assert net == old_scan_after(cur, day), day
    finally:
        pool.close()


def test_benefits_are_summed_per_province_of_today_in_sql(pool):
    payments = [  # Phú Thọ (25) is 17, 25 and 26 before the merger; Hồ Chí Minh City 74, 77, 79
        ("2024-03", "17", "pension", 300, 1_500), ("2024-03", "26", "pension", 100, 500),
        ("2024-03", "25", "lump_sum", 5, 250), ("2024-03", "79", "pension", 7, 70),
        ("2025-03", "17", "pension", 310, 1_600), ("2025-03", "26", "unemployment", 4, 40),
        ("2025-08", "25", "pension", 420, 2_262), ("2025-08", "74", "pension", 9, 90),
        ("2025-08", "25", "lump_sum", 2, 100), ("2025-09", "25", "pension", 415, 2_200)]
    with pool.transaction() as cur:
        for period, code, kind, n, amount in payments:
            projection = projections.Projection()
            projection.apply("payment_run_completed", {"period": period, "totals": [
                {"province_code": code, "kind": kind, "payments": n, "amount": amount}]})
            projection.write(cur)
    with pool.transaction() as cur:
        rows = {r["kind"]: r for r in queries.benefits_summary(
            cur, dt.date(2025, 1, 1), dt.date(2025, 12, 1), "25")}
        assert (rows["pension"]["beneficiaries"], rows["pension"]["amount"]) == (415, 1_600 + 2_262 + 2_200)
        assert rows["pension"]["amount_same_period_last_year"] == 2_000
        assert rows["pension"]["beneficiaries_same_period_last_year"] == 400
        assert (rows["lump_sum"]["amount"], rows["lump_sum"]["amount_same_period_last_year"]) == (100, 250)
        assert (rows["unemployment"]["beneficiaries"], rows["unemployment"]["amount"]) == (4, 40)
        assert all(isinstance(r[k], int) for r in rows.values() for k in ("amount", "beneficiaries"))
        everywhere = {r["kind"]: r for r in queries.benefits_summary(
            cur, dt.date(2025, 1, 1), dt.date(2025, 12, 1))}
        assert everywhere["pension"]["amount"] == 1_600 + 2_262 + 90 + 2_200
        assert everywhere["pension"]["amount_same_period_last_year"] == 2_070
        assert queries.benefits_summary(cur, dt.date(2025, 1, 1), dt.date(2025, 12, 1), "17")[0]["amount"] == 0
        march = {(r["month"], r["kind"]): r for r in queries.benefits_by_month(cur, 2025, "25")}
        assert (march[("2025-03", "pension")]["amount"],
                march[("2025-03", "pension")]["amount_last_year"]) == (1_600, 2_000)
