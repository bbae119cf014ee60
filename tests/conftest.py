"""Fixtures shared by the suite.

Every run gets its own PostgreSQL database and its own RabbitMQ vhost, made at
the start and removed at the end, so runs never see each other's data or
messages. The settings reach the code under test the way they reach a real
deployment: through the environment read by deploy/config.yaml.
"""
import eventlet

eventlet.monkey_patch()  # noqa: E402  (nameko's test tools need it first)

import os
import secrets
import subprocess
import time
import warnings
from urllib.parse import quote

import psycopg2
import pytest

from shared.config import load_config

warnings.filterwarnings("ignore", category=DeprecationWarning)

PG_ADMIN_DSN = os.environ.get("VSS_TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("VSS_TEST_AMQP_BASE", "pyamqp://guest:guest@127.0.0.1:5672")
SERVICES = ("enrolment", "benefits", "reporting")


def _admin(sql_text):
    conn = psycopg2.connect(PG_ADMIN_DSN)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql_text)
    conn.close()


def _rabbitmqctl(*args):
    subprocess.run(["rabbitmqctl", "-q", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture(scope="session")
def run_id():
    return f"vss_t{os.getpid()}_{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def database_dsn(run_id):
    _admin(f'CREATE DATABASE "{run_id}"')
    yield PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + run_id
    _admin(f'DROP DATABASE IF EXISTS "{run_id}" WITH (FORCE)')


@pytest.fixture(scope="session")
def amqp_uri(run_id):
    vhost = run_id.replace("_", "-")
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield f"{AMQP_BASE}/{quote(vhost, safe='')}"
    _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="session")
def test_env(database_dsn, amqp_uri):
    """Environment variables that point the services at this run's database and vhost."""
    env = {"AMQP_URI": amqp_uri, "LOG_LEVEL": "INFO", "OUTBOX_POLL_SECONDS": "0.5"}
    env.update({f"{name.upper()}_DSN": database_dsn for name in SERVICES})
    return env


@pytest.fixture(scope="session")
def config(test_env):
    saved = {k: os.environ.get(k) for k in test_env}
    os.environ.update(test_env)
    try:
        loaded = load_config()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return loaded


def eventually(check, timeout=20.0, interval=0.1):
    """Call ``check`` until it returns a truthy value (AssertionError counts as not yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
