"""Reporting's kept answers (issue 5) against PostgreSQL: the read-model version changes
with every committed write the reports read, so an answer is never older than the last
committed batch; a rolled-back write keeps the version."""
import datetime as dt
import secrets
from types import SimpleNamespace

import pytest

from deploy.stack import ROOT
from services.reporting import projections, store
from services.reporting.replies import Answers, Reply, read_model_version
from services.reporting.service import ReportingService
from shared.db import Pool
from shared.envelope import today_in

pytestmark = pytest.mark.integration

MIGRATIONS = ROOT / "services" / "reporting" / "migrations"


@pytest.fixture
def service(database_dsn):
    from shared.migrations import migrate
    schema = f"answers_{secrets.token_hex(4)}"
    migrate(database_dsn, schema, MIGRATIONS)
    pool = Pool(database_dsn, schema, 2)
    answers = Answers()
    answers.container = SimpleNamespace(config={})
    answers.setup()
    yield SimpleNamespace(db=pool, answers=answers)
    pool.close()


def started(province, scheme, day):
    return "coverage_started", {"valid_from": day.isoformat(), "province_code": province,
                                "scheme": scheme, "resumed": False,
                                "occurred_at": f"{day.isoformat()}T08:00:00+00:00"}


def project(pool, *events):
    """One committed projection batch, as the consumer writes it."""
    projection = projections.Projection()
    for event_type, body in events:
        projection.apply(event_type, body)
    with pool.transaction() as cur:
        projection.write(cur)


def answer(service, name, **params):
    return ReportingService.answer(service, name, params)


def fresh(service, name, **params):
    return ReportingService.report(service, name, params)


def version(pool):
    with pool.transaction() as cur:
        return read_model_version(cur)


def health_of(rows, province):
    return [r["participants"] for r in rows if (r["province_code"], r["scheme"]) == (province, "health")]


def test_an_answer_is_kept_until_a_batch_commits_and_then_read_again(service):
    day = today_in() - dt.timedelta(days=3)
    project(service.db, started("42", "health", day))
    first = answer(service, "coverage", as_of=None, province_code=None)
    assert isinstance(first, Reply) and first.result() == fresh(service, "coverage")
    assert answer(service, "coverage", as_of=None, province_code=None) is first
    assert health_of(first.result(), "42") == [1]

    project(service.db, started("42", "health", day), started("79", "health", day))
    after = answer(service, "coverage", as_of=None, province_code=None)
    assert after is not first
    assert health_of(after.result(), "42") == [2] and health_of(after.result(), "79") == [1]
    assert after.result() == fresh(service, "coverage")


def test_every_writer_the_reports_read_changes_the_version(service):
    seen = [version(service.db)]
    project(service.db, started("42", "health", today_in()))
    seen.append(version(service.db))
    with service.db.transaction() as cur:  # as set_target and set_denominator do
        store.set_target(cur, {"year": today_in().year, "province_code": "42", "scheme": "health",
                               "measure": "new_participants", "target": 5, "name": "",
                               "starts_on": dt.date(today_in().year, 1, 1),
                               "ends_on": dt.date(today_in().year, 12, 31)})
    seen.append(version(service.db))
    with service.db.transaction() as cur:
        store.touch(cur, {"denominators"})
    seen.append(version(service.db))
    with service.db.transaction() as cur:  # a rebuild empties the clock and replays
        store.clear_read_models(cur)
    seen.append(version(service.db))
    assert len(set(seen)) == len(seen)


def test_a_rolled_back_write_keeps_the_version_and_the_answer(service):
    project(service.db, started("42", "health", today_in()))
    kept = answer(service, "targets", year=today_in().year, province_code=None, as_of=None)
    before = version(service.db)
    with pytest.raises(RuntimeError):
        with service.db.transaction() as cur:
            store.touch(cur, {"coverage"})
            raise RuntimeError("rolled back")
    assert version(service.db) == before
    assert answer(service, "targets", year=today_in().year, province_code=None, as_of=None) is kept


def test_setting_a_target_or_a_denominator_is_a_new_version_and_is_read(service):
    """``store.set_target`` and ``store.set_denominator`` touch the clock themselves: the
    answers and the inputs kept between calls (``store.SettledSums``) are read again."""
    year = today_in().year
    project(service.db, started("42", "health", today_in()))
    target = {"year": year, "province_code": "42", "scheme": "health",
              "measure": "new_participants", "target": 5, "name": "",
              "starts_on": dt.date(year, 1, 1), "ends_on": dt.date(year, 12, 31)}
    with service.db.transaction() as cur:
        store.set_target(cur, target)
    first = answer(service, "targets", year=year, province_code=None, as_of=None).result()
    assert [(r["target"], r["achieved"]) for r in first] == [(5, 1)]
    before = version(service.db)
    with service.db.transaction() as cur:
        store.set_target(cur, dict(target, target=8))
    assert version(service.db) != before
    again = answer(service, "targets", year=year, province_code=None, as_of=None).result()
    assert [(r["target"], r["achieved"]) for r in again] == [(8, 1)]

    rows = answer(service, "coverage", as_of=None, province_code="42").result()
    assert [r["denominator_source"] for r in rows if r["scheme"] == "health"] != ["test figure"]
    before = version(service.db)
    with service.db.transaction() as cur:
        store.set_denominator(cur, {"province_code": "42", "year": year, "population": 1000,
                                    "labour_force": None, "working_age_labour_force": None,
                                    "source": "test figure"})
    assert version(service.db) != before
    rows = answer(service, "coverage", as_of=None, province_code="42").result()
    assert [(r["denominator"], r["denominator_source"]) for r in rows
            if r["scheme"] == "health"] == [(1000, "test figure")]
