"""Prometheus metrics and an HTTP health endpoint for every service.

Each service process serves ``/metrics`` (Prometheus text format) and
``/healthz`` on ``METRICS.address`` (``<SERVICE>_METRICS_ADDRESS``; empty
turns it off). What is measured:

``vss_messages_total{service,queue,outcome}``
    messages taken off a queue: ``acked`` or ``dead_lettered``
``vss_intake_total{outcome}``
    intake events by what became of them: ``applied``, ``held``, ``rejected``
``vss_batch_seconds{service,queue}``
    time to apply one consumed batch (one transaction)
``vss_rpc_seconds{service,method,outcome}``
    RPC handling time, by outcome ``ok`` or the error type
``vss_outbox_unsent{service}``, ``vss_outbox_oldest_seconds{service}``
    the outbox backlog, read from the database when scraped
``vss_payment_run_claims{period,state}``
    payment-run progress: ``done`` and ``total`` claims of the run being paid

Labels never carry personal data.
"""
import json
import logging
import time

import eventlet
import eventlet.wsgi
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from shared.db import sibling
from shared.outbox import backlog

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
MESSAGES = Counter("vss_messages", "Messages taken off a queue, by outcome",
                   ["service", "queue", "outcome"], registry=REGISTRY)
INTAKE = Counter("vss_intake", "Intake events by what became of them", ["outcome"],
                 registry=REGISTRY)
BATCH_SECONDS = Histogram("vss_batch_seconds", "Time to apply one consumed batch",
                          ["service", "queue"], registry=REGISTRY,
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
OVERLAP = Counter("vss_batch_overlap", "Batches started while the one before was still in flight"
                  " (started), and those rolled back because it did not commit (redone)",
                  ["service", "queue", "kind"], registry=REGISTRY)
RPC_SECONDS = Histogram("vss_rpc_seconds", "RPC handling time", ["service", "method", "outcome"],
                        registry=REGISTRY,
                        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 120))
PAYMENT_RUN = Gauge("vss_payment_run_claims", "Payment-run progress in claims",
                    ["period", "state"], registry=REGISTRY)


class OutboxCollector:
    """Reads the outbox backlog from the database when Prometheus scrapes."""

    def __init__(self, service, pool):
        self.service, self.pool = service, pool

    def collect(self):
        unsent = GaugeMetricFamily("vss_outbox_unsent", "Events written and not yet published",
                                   labels=["service"])
        oldest = GaugeMetricFamily("vss_outbox_oldest_seconds", "Age of the oldest unsent event",
                                   labels=["service"])
        try:
            with self.pool.transaction() as cur:
                figures = backlog(cur)
        except Exception as exc:  # a scrape must not fail because the database is away
            log.warning("metrics: outbox backlog unavailable (%s)", type(exc).__name__)
            return []
        unsent.add_metric([self.service], figures["unsent"])
        oldest.add_metric([self.service], figures["oldest_seconds"])
        return [unsent, oldest]


_COLLECTORS = set()


def _register_outbox_collector(service, pool):
    """Once per service and process (containers of tests may start more than once)."""
    if service not in _COLLECTORS:
        REGISTRY.register(OutboxCollector(service, pool))
        _COLLECTORS.add(service)


def health_body(pool):
    try:
        with pool.transaction() as cur:
            cur.execute("SELECT 1")
        return "200 OK", {"status": "ok"}
    except Exception as exc:
        return "503 Service Unavailable", {"status": "unavailable", "reason": type(exc).__name__}


class Metrics(DependencyProvider):
    """Serves metrics and health, and times every RPC of the service."""

    def __init__(self, database_attr="db"):
        self.database_attr = database_attr

    def setup(self):
        self.service = self.container.service_name
        self.database = sibling(self, self.database_attr)
        self.address = str(self.container.config.get("METRICS", {}).get(self.service) or "")
        self.server = None
        self.started = {}

    def start(self):
        if not self.address:
            return
        host, _, port = self.address.rpartition(":")
        try:
            self.server = eventlet.listen((host or "0.0.0.0", int(port)))
        except (OSError, ValueError) as exc:
            # the service's work matters more than its metrics: run on, loudly
            log.error("%s: cannot serve metrics on %s (%s); running without them",
                      self.service, self.address, getattr(exc, "strerror", None) or type(exc).__name__)
            return
        _register_outbox_collector(self.service, self.database.pool)
        self.container.spawn_managed_thread(self._serve, identifier="metrics-http")
        log.info("%s: metrics and health on %s", self.service, self.address)

    def _serve(self):
        eventlet.wsgi.server(self.server, self._app, log_output=False)

    def _app(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")])
            return [generate_latest(REGISTRY)]
        if path == "/healthz":
            status, body = health_body(self.database.pool)
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(dict(body, service=self.service)).encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: /metrics or /healthz\n"]

    def stop(self):
        if self.server is not None:
            self.server.close()

    def worker_setup(self, worker_ctx):
        self.started[id(worker_ctx)] = time.monotonic()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started = self.started.pop(id(worker_ctx), None)
        if started is not None and isinstance(worker_ctx.entrypoint, Rpc):
            outcome = "ok" if exc_info is None else exc_info[0].__name__
            RPC_SECONDS.labels(self.service, worker_ctx.entrypoint.method_name, outcome).observe(
                time.monotonic() - started)

    def get_dependency(self, worker_ctx):
        return self
