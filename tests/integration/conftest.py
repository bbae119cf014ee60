import secrets
import uuid
from pathlib import Path

import pytest
from kombu import Connection

from shared.db import Pool
from shared.migrations import migrate

MIGRATIONS = Path(__file__).parent / "migrations"


def migrated_pool(database_dsn, prefix, migrations):
    """A pool on a fresh schema ``<prefix>_<random>`` with ``migrations`` applied,
    closed afterwards (yield from it in a fixture)."""
    schema = f"{prefix}_{secrets.token_hex(4)}"
    migrate(database_dsn, schema, migrations)
    pool = Pool(database_dsn, schema, 2)
    yield pool
    pool.close()


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


@pytest.fixture
def bound_queue(amqp_uri):
    """A queue bound to the test exchange, as a consumer service would have."""
    exchange, queue = f"it-{uuid.uuid4().hex[:8]}.events", f"it-{uuid.uuid4().hex[:8]}"
    with Connection(amqp_uri) as conn:
        channel = conn.default_channel
        channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
        channel.queue_declare(queue, durable=True, auto_delete=False)
        channel.queue_bind(queue, exchange, "#")
    yield exchange, queue
    with Connection(amqp_uri) as conn:
        conn.default_channel.queue_delete(queue)
        conn.default_channel.exchange_delete(exchange)
