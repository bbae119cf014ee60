"""The national views after their Python was cut (issue 5) give byte for byte the rows the
code before gave (``services/reporting`` at ``BEFORE``, read from git), on the same
data: coverage now and as of days, target progress with yearly, campaign and rate
targets, nationally and per province, with and without planners' denominators."""
import datetime as dt
import json
import subprocess

import pytest

from bench.reporting import load_before
from services.reporting import queries, store
from services.reporting.domain.figures import load_reference
from shared.envelope import today_in
from tests.integration.test_reporting_rollup import consume, pool, synthetic_events  # noqa: F401

pytestmark = pytest.mark.integration

BEFORE = "fc3a2e7"  # the last revision with the Decimal figures and per-row denominator scans
REFERENCE = load_reference()


@pytest.fixture(scope="module")
def before():
    try:
        return load_before(BEFORE)
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"no git revision {BEFORE} to compare with: {exc}")


def same_json(old, new):
    assert json.dumps(new, ensure_ascii=False) == json.dumps(old, ensure_ascii=False)


def set_targets(cur, year):
    rows = []
    for code in ("VN", "79", "42", "25", "01"):
        for scheme in ("registered", "health", "compulsory_si", "voluntary_si", "social_insurance",
                       "unemployment"):
            rows.append({"province_code": code, "scheme": scheme, "measure": "new_participants",
                         "name": "", "starts_on": dt.date(year, 1, 1),
                         "ends_on": dt.date(year, 12, 31), "target": 3 + len(rows) % 7})
    rows += [
        {"province_code": "VN", "scheme": "voluntary_si", "measure": "new_participants",
         "name": "campaign", "starts_on": dt.date(year, 10, 1), "ends_on": dt.date(year, 11, 30),
         "target": 4},
        {"province_code": "42", "scheme": "health", "measure": "new_participants",
         "name": "month", "starts_on": dt.date(year, 9, 1), "ends_on": dt.date(year, 9, 30),
         "target": 2.5},
        {"province_code": "VN", "scheme": "health", "measure": "coverage_rate", "name": "",
         "starts_on": dt.date(year, 1, 1), "ends_on": dt.date(year, 12, 31), "target": 95},
        {"province_code": "79", "scheme": "social_insurance", "measure": "coverage_rate",
         "name": "", "starts_on": dt.date(year, 2, 14), "ends_on": dt.date(year, 11, 3),
         "target": 12.75},
        {"province_code": "42", "scheme": "unemployment", "measure": "coverage_rate", "name": "",
         "starts_on": dt.date(year, 1, 1), "ends_on": dt.date(year, 12, 31), "target": 35},
    ]
    for row in rows:
        store.set_target(cur, dict(row, year=year))


def test_the_national_views_give_the_rows_the_code_before_gave(pool, before):  # noqa: F811
    consume(pool, synthetic_events(1500, 11))
    year = today_in().year
    with pool.transaction() as cur:
        set_targets(cur, year)
    days = (None, dt.date(2025, 6, 30), dt.date(2025, 7, 1), dt.date(year, 3, 1),
            dt.date(year, 10, 31), dt.date(year, 12, 31))
    for denominators in ([], [("79", 1000, 600), ("VN", 50_000, 29_999), ("42", 7, 3)]):
        with pool.transaction() as cur:
            for code, population, workforce in denominators:
                store.set_denominator(cur, {"province_code": code, "year": year,
                                            "population": population, "labour_force": None,
                                            "working_age_labour_force": workforce,
                                            "source": "test"})
        with pool.transaction() as cur:
            for day in days:
                for province in (None, "VN", "79", "42", "25"):
                    same_json(before.coverage(cur, REFERENCE, day, province),
                              queries.coverage(cur, REFERENCE, day, province))
                    same_json(before.target_progress(cur, REFERENCE, year, province, day),
                              queries.target_progress(cur, REFERENCE, year, province, day))
            rows = queries.target_progress(cur, REFERENCE, year)
            assert {r["measure"] for r in rows} == {"new_participants", "coverage_rate"}
            if denominators:  # the rate targets have figures to compare
                assert any(r["measure"] == "coverage_rate" and r["achieved"] is not None
                           for r in rows)
