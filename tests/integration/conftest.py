import secrets
from pathlib import Path

import pytest

from shared.db import Pool
from shared.migrations import migrate

MIGRATIONS = Path(__file__).parent / "migrations"


@pytest.fixture
def schema(database_dsn):
    """A fresh schema with the shared tables and an ``effects`` table."""
    name = f"it_{secrets.token_hex(4)}"
    migrate(database_dsn, name, MIGRATIONS)
    return name


@pytest.fixture
def pool(database_dsn, schema):
    pool = Pool(database_dsn, schema, 4)
    yield pool
    pool.close()


def effects(pool):
    with pool.transaction() as cur:
        cur.execute("SELECT event_id, count(*) AS n FROM effects GROUP BY event_id")
        return {row["event_id"]: row["n"] for row in cur.fetchall()}
