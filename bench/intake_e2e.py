"""person.registered applied end to end, against a bare consumer, same run.

    python -m bench.intake_e2e [--events 20000]

Path measured: publish N events to ``enrolment.intake`` (batched publisher
confirms, mandatory) → enrolment validates, stores, assigns SI codes, writes
inbox + outbox → relay → reporting counts. The clock runs from the first
publish until ``reporting.coverage`` shows N registered people.

Baseline: the same N bodies published to a plain queue, consumed by a bare
kombu consumer with one INSERT (autocommit) per message, in a child process.
Both run on a fresh database and vhost, the services as real processes.
"""
import argparse
import os
import subprocess
import sys
import time
import warnings

warnings.filterwarnings("ignore")

from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from bench.common import declare_bare_queue, registrations  # noqa: E402
from services.reporting.domain.figures import NATIONAL  # noqa: E402
from deploy.scratch import scratch_environment  # noqa: E402
from deploy.stack import ROOT, start_services, stop_services, wait_healthy  # noqa: E402
from shared.config import DEFAULT_CONFIG  # noqa: E402
from shared.outbox import ConfirmingPublisher  # noqa: E402

CHUNK = 1000


def publish_all(amqp_uri, exchange, routing_key, bodies):
    publisher = ConfirmingPublisher(amqp_uri)
    for start in range(0, len(bodies), CHUNK):
        rows = [(b["event_id"], exchange, routing_key, b) for b in bodies[start:start + CHUNK]]
        returned = publisher.publish(rows)
        if returned:
            raise SystemExit(f"{len(returned)} messages unroutable: is the consumer bound?")
    publisher.close()


def run_baseline(dsn, amqp_uri, bodies):
    queue = declare_bare_queue(amqp_uri)
    child = subprocess.Popen([sys.executable, "-m", "bench.bare_consumer", dsn, amqp_uri, queue,
                              str(len(bodies))], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    publish_all(amqp_uri, "bench.bare", "person.registered", bodies)
    published = time.perf_counter() - started
    child.wait(timeout=600)
    return published, time.perf_counter() - started


def registered_total(rpc):
    """The national row (the provinces' rows add up to it)."""
    return sum(r["participants"] for r in rpc.reporting.coverage()
               if r["scheme"] == "registered" and r["province_code"] == NATIONAL)


def run_services(dsn, amqp_uri, bodies, workdir):
    env = dict(os.environ, PYTHONWARNINGS="ignore", AMQP_URI=amqp_uri, LOG_LEVEL="WARNING",
               ENROLMENT_DSN=dsn, BENEFITS_DSN=dsn, REPORTING_DSN=dsn)
    processes = start_services(env, workdir / "log", workdir / "run", DEFAULT_CONFIG)
    try:
        wait_healthy(amqp_uri, processes)
        with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=30,
                             context_data={"auth_token": "dev-planner-token"}) as rpc:
            started = time.perf_counter()
            publish_all(amqp_uri, "enrolment.intake", "person.registered", bodies)
            published = time.perf_counter() - started
            while registered_total(rpc) < len(bodies):
                if time.perf_counter() - started > 900:
                    raise SystemExit("not all events applied within 15 minutes")
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
            assert registered_total(rpc) == len(bodies)
        return published, elapsed
    finally:
        stop_services(workdir / "run")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    bodies = list(registrations(args.events))
    with scratch_environment(prefix="vss_bench") as (dsn, amqp_uri):
        base_pub, base_total = run_baseline(dsn, amqp_uri, bodies)
        workdir = ROOT / "var" / "bench"
        svc_pub, svc_total = run_services(dsn, amqp_uri, bodies, workdir)
    n = args.events
    base_rate, svc_rate = n / base_total, n / svc_total
    print(f"events: {n}  cores: {os.cpu_count()}")
    print(f"bare kombu consumer, 1 INSERT/msg : {base_total:7.2f} s  {base_rate:8.0f} msg/s"
          f"  (publish {base_pub:.2f} s)")
    print(f"services, end to end to reporting : {svc_total:7.2f} s  {svc_rate:8.0f} events/s"
          f"  (publish {svc_pub:.2f} s)")
    print(f"ratio services / bare             : {svc_rate / base_rate:.2f}")


if __name__ == "__main__":
    main()
