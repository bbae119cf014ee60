"""A throw-away database and RabbitMQ vhost, for test runs and benchmarks.

Each run gets its own so that runs never see each other's data or messages;
both are removed on the way out. Needs ``rabbitmqctl`` on this machine.
"""
import contextlib
import os
import secrets
import subprocess
from urllib.parse import quote

import psycopg2

PG_ADMIN_DSN = os.environ.get("VSS_SCRATCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("VSS_SCRATCH_AMQP_BASE", "pyamqp://guest:guest@127.0.0.1:5672")


def _admin(statement):
    conn = psycopg2.connect(PG_ADMIN_DSN)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement)
    conn.close()


def _rabbitmqctl(*args):
    subprocess.run(["rabbitmqctl", "-q", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@contextlib.contextmanager
def scratch_vhost(name):
    """Yields the AMQP URI of a new vhost ``name``, deleted afterwards."""
    vhost = name.replace("_", "-")
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"{AMQP_BASE}/{quote(vhost, safe='')}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@contextlib.contextmanager
def scratch_environment(prefix="vss_scratch"):
    """Yields ``(database_dsn, amqp_uri)`` of a new database and vhost."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        with scratch_vhost(name) as amqp_uri:
            yield PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name, amqp_uri
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
