"""The three services as real processes, driven only through the contract."""
import json
import os
import re
import shutil
import uuid
from pathlib import Path

import pytest
from kombu import Connection, Exchange
from nameko.standalone.rpc import ClusterRpcProxy

from deploy.stack import ROOT, start_services, stop_services, wait_healthy
from shared.config import DEFAULT_CONFIG

INTAKE = Exchange("enrolment.intake", "topic", durable=True)


@pytest.fixture(scope="session")
def stack(test_env, amqp_uri, run_id):
    base = ROOT / "var" / "test" / run_id
    # Only what a process needs to run, so settings of the developer's shell
    # (VSS_DEV_TOKENS, CONSUMER_*, VSS_CONFIG ...) cannot change the results.
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    env.update(test_env, PYTHONWARNINGS="ignore")
    processes = start_services(env, base / "log", base / "run", DEFAULT_CONFIG)
    try:
        wait_healthy(amqp_uri, processes)
        yield processes
    finally:
        stop_services(base / "run")
        for name in processes:
            log = base / "log" / f"{name}.log"
            assert "Traceback" not in _unexpected(log), f"{name} logged an unexpected traceback"
        shutil.rmtree(base, ignore_errors=True)


LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def _unexpected(log_path):
    """The log without nameko's records of expected errors (Unauthorized etc.).

    A record runs from its timestamped first line to the next one, so a
    record's traceback goes with it.
    """
    kept, skipping = [], False
    for line in Path(log_path).read_text(errors="replace").splitlines():
        if LOG_RECORD.match(line):
            skipping = "(expected) error handling worker" in line
        if not skipping:
            kept.append(line)
    return "\n".join(kept)


class Intake:
    """Publishes as an outside system must: confirms and mandatory."""

    def __init__(self, amqp_uri):
        self.connection = Connection(amqp_uri, transport_options={"confirm_publish": True})
        self.producer = self.connection.Producer()

    def publish(self, event_type, payload, event_id=None, **envelope):
        body = {"event_id": event_id or str(uuid.uuid4()), "event_type": event_type,
                "occurred_at": "2024-01-16T09:51:00+07:00", "source": "commune-registry",
                "payload": payload}
        body.update(envelope)
        self.publish_raw(json.dumps(body).encode(), event_type)
        return body["event_id"]

    def publish_raw(self, data, routing_key):
        self.producer.publish(data, exchange=INTAKE, routing_key=routing_key,
                              content_type="application/json", content_encoding="utf-8",
                              delivery_mode=2, mandatory=True, retry=True)

    def close(self):
        self.connection.release()


@pytest.fixture
def intake(stack, amqp_uri):
    publisher = Intake(amqp_uri)
    yield publisher
    publisher.close()


@pytest.fixture
def rpc_as(stack, amqp_uri):
    """``rpc_as("clerk")`` is a cluster proxy carrying that role's dev token."""
    proxies = []

    def make(role=None, token=None):
        context = {}
        if token or role:
            context["auth_token"] = token or f"dev-{role}-token"
        # 60 s: a career's backfill (record_contributions over 15 years) on a loaded machine
        proxy = ClusterRpcProxy({"AMQP_URI": amqp_uri}, context_data=context, timeout=60)
        proxies.append(proxy)
        return proxy.start()

    yield make
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def reporting_url(stack, reporting_address):
    """The base URL of the reporting service's HTTP API and dashboard."""
    return f"http://{reporting_address}"
