"""Fixtures shared by the suite.

Every run gets its own PostgreSQL database and its own RabbitMQ vhost, made at
the start and removed at the end, so runs never see each other's data or
messages. The settings reach the code under test the way they reach a real
deployment: through the environment read by deploy/config.yaml.
"""
import eventlet

eventlet.monkey_patch()  # noqa: E402  (nameko's test tools need it first)

import os
import socket
import time
import warnings

import pytest

from deploy.scratch import scratch_environment
from shared.config import DEFAULT_CONFIG, load_config

warnings.filterwarnings("ignore", category=DeprecationWarning)

SERVICES = ("enrolment", "benefits", "reporting")
HOLD_SECONDS = 8


@pytest.fixture(scope="session")
def scratch():
    with scratch_environment(prefix="vss_test") as (dsn, amqp_uri):
        yield dsn, amqp_uri


@pytest.fixture(scope="session")
def run_id(scratch):
    return scratch[0].rsplit("/", 1)[1]


@pytest.fixture(scope="session")
def database_dsn(scratch):
    return scratch[0]


@pytest.fixture(scope="session")
def amqp_uri(scratch):
    return scratch[1]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def reporting_address():
    """Where this run's reporting service serves HTTP."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def test_env(database_dsn, amqp_uri, reporting_address):
    """Environment variables that point the services at this run's database and vhost."""
    env = {"AMQP_URI": amqp_uri, "LOG_LEVEL": "INFO", "OUTBOX_POLL_SECONDS": "0.5",
           # held events expire after 8 s here (7 days in production), checked every second
           "INTAKE_HOLD_DAYS": str(HOLD_SECONDS / 86400), "INTAKE_HOLD_CHECK_SECONDS": "1",
           # paid cover past its last day is ended within a second
           "INTAKE_LAPSE_CHECK_SECONDS": "1", "REPORTING_HTTP_ADDRESS": reporting_address}
    env.update({f"{name.upper()}_METRICS_ADDRESS": f"127.0.0.1:{free_port()}" for name in SERVICES})
    env.update({f"{name.upper()}_DSN": database_dsn for name in SERVICES})
    return env


@pytest.fixture(scope="session")
def config(test_env):
    saved = {k: os.environ.get(k) for k in test_env}
    os.environ.update(test_env)
    try:
        loaded = load_config(DEFAULT_CONFIG)
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
