"""The migrations runner: idempotent, and safe when instances start together."""
import secrets
import subprocess
import sys

import psycopg2
import pytest

from shared.migrations import migrate, pending_files
from tests.integration.conftest import MIGRATIONS

pytestmark = pytest.mark.integration


def applied(dsn, schema):
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute(f'SELECT name FROM "{schema}".schema_migrations ORDER BY name')
        names = [r[0] for r in cur.fetchall()]
    conn.close()
    return names


def test_second_run_applies_nothing(database_dsn):
    schema = f"mig_{secrets.token_hex(4)}"
    first = migrate(database_dsn, schema, MIGRATIONS)
    assert first[0] == "shared/0001_reliability.sql" and first[-1] == "integration/0001_effects.sql"
    assert first == [name for name, _ in pending_files(MIGRATIONS)]
    assert migrate(database_dsn, schema, MIGRATIONS) == []
    assert applied(database_dsn, schema) == sorted(first)


def test_four_instances_starting_at_once_apply_each_file_once(database_dsn):
    schema = f"mig_{secrets.token_hex(4)}"
    script = ("import sys; from shared.migrations import migrate; "
              f"print(len(migrate({database_dsn!r}, {schema!r}, {str(MIGRATIONS)!r})))")
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    files = len(pending_files(MIGRATIONS))
    counts = sorted(int(out.strip()) for out, _ in results)
    assert counts == [0, 0, 0, files]  # one instance did the work, the others found it done
    assert len(applied(database_dsn, schema)) == files


def test_every_service_schema_migrates_cleanly(database_dsn):
    from deploy.stack import ROOT
    for service in ("enrolment", "benefits", "reporting"):
        schema = f"{service}_{secrets.token_hex(3)}"
        assert migrate(database_dsn, schema, ROOT / "services" / service / "migrations")
        assert migrate(database_dsn, schema, ROOT / "services" / service / "migrations") == []
