"""Scale-out: a second instance of every service on the same broker and database.

The ``stack`` fixture runs one instance of each service; this module starts a
second set against the same vhost and database (as a Deployment with two
replicas would), and shows:

* the work is shared where it can be: reporting.events has two consumers and
  both receive half of the messages; enrolment.intake and benefits.events
  (single active consumer, so one person's events apply in order) have two
  consumers each, one active and one standing by, which receives nothing;
* nothing is applied twice: every event takes effect exactly once (counts in
  the three services equal what was sent, SI codes are unique) although both
  instances of each service run an outbox relay;
* payment runs started at the same moment on both benefits instances give one
  run and pay nobody twice;
* when the active enrolment instance stops mid-stream, the standby takes over
  and nothing is lost.

Who consumed what is read from the broker with ``rabbitmqctl`` (the test
broker has no management API): ``list_consumers`` for the consumers and
which one is active, ``list_connections`` for the bytes each consumer's
connection was sent.
"""
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import urllib.request
from urllib.parse import unquote, urlparse

import psycopg2
import psycopg2.extras
import pytest

from deploy.stack import ROOT, SERVICES, start_services, stop_services, wait_healthy
from shared.config import DEFAULT_CONFIG
from tests.conftest import eventually, free_port
from tests.e2e.conftest import _unexpected
from tests.e2e.test_benefits import career
from tests.e2e.test_walking_skeleton import registered_in

pytestmark = pytest.mark.e2e

PROVINCE = "01"
# Citizen ids of this module: issued in province 08 to women born in 2003, with
# serials from a random base, so they never collide with each other or with
# the other tests' ids.
ID_PREFIX = "008303"
_serials = iter(range(secrets.randbelow(400_000), 1_000_000))
PAYMENT_MONTH = "2026-06"  # no other test runs payments for this month


# -- the second set of service processes --------------------------------------

@pytest.fixture(scope="module")
def second(stack, test_env, amqp_uri, run_id):
    """Three more service processes on the same database and vhost as ``stack``.

    The environment is the stack fixture's, with its own HTTP port for
    reporting and DEBUG logging, whose "spawning <WorkerContext ...>" lines
    tell which RPC calls this instance served.
    """
    base = ROOT / "var" / "test" / f"{run_id}-second"
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    env.update(test_env, PYTHONWARNINGS="ignore", LOG_LEVEL="DEBUG",
               REPORTING_HTTP_ADDRESS=f"127.0.0.1:{free_port()}")
    metrics = {name: f"127.0.0.1:{free_port()}" for name in SERVICES}
    env.update({f"{name.upper()}_METRICS_ADDRESS": address for name, address in metrics.items()})
    processes = start_services(env, base / "log", base / "run", DEFAULT_CONFIG)
    try:
        wait_healthy(amqp_uri, processes)
        yield {"processes": processes, "log": base / "log", "metrics": metrics}
    finally:
        stop_services(base / "run")
        for name, process in processes.items():
            process.poll()
            log = base / "log" / f"{name}.log"
            assert "Traceback" not in _unexpected(log), f"second {name} logged an unexpected traceback"
        shutil.rmtree(base, ignore_errors=True)


# -- the broker's view: rabbitmqctl -------------------------------------------

def rabbitmqctl(*args):
    return subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True,
                          text=True, timeout=120).stdout


def rows(*args, columns):
    """``rabbitmqctl <args> <columns>`` as a list of dicts."""
    out = rabbitmqctl(*args, "--no-table-headers", *columns)
    return [dict(zip(columns, line.split("\t"))) for line in out.splitlines() if line.strip()]


def vhost_of(amqp_uri):
    return unquote(urlparse(amqp_uri.replace("pyamqp://", "amqp://")).path.lstrip("/")) or "/"


def consumers(vhost, queue):
    """``[{channel_pid, active}]`` of ``queue``."""
    return [{"channel_pid": r["channel_pid"], "active": r["active"] == "true"}
            for r in rows("list_consumers", "-p", vhost, columns=["queue_name", "channel_pid", "active"])
            if r["queue_name"] == queue]


def channel_connections(vhost):
    """``{channel pid: connection pid}`` in ``vhost``."""
    return {r["pid"]: r["connection"]
            for r in rows("list_channels", columns=["pid", "connection", "vhost"]) if r["vhost"] == vhost}


def bytes_sent(vhost):
    """``{connection pid: bytes the broker sent it}`` in ``vhost``."""
    return {r["pid"]: int(r["send_oct"])
            for r in rows("list_connections", columns=["pid", "send_oct", "vhost"]) if r["vhost"] == vhost}


# -- the database's view ------------------------------------------------------

@pytest.fixture(scope="module")
def db(database_dsn):
    conn = psycopg2.connect(database_dsn, cursor_factory=psycopg2.extras.RealDictCursor)
    conn.autocommit = True

    def query(sql, *params):
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()
    yield query
    conn.close()


def new_people(count):
    return [f"{ID_PREFIX}{next(_serials):06d}" for _ in range(count)]


def register(intake, citizen_ids):
    return [intake.publish("person.registered", {
        "citizen_id": cid, "full_name": "Lê Thị Scale", "date_of_birth": "2003-05-05",
        "sex": "female", "province_code": PROVINCE}) for cid in citizen_ids]


def effects(db, citizen_ids):
    """What each service holds of these people, counted in its own schema."""
    enrolment = db("SELECT count(*) AS people, count(DISTINCT si_code) AS si_codes"
                   " FROM enrolment.people WHERE citizen_id = ANY(%s)", citizen_ids)
    benefits = db("SELECT count(*) AS people FROM benefits.people WHERE citizen_id = ANY(%s)", citizen_ids)
    return {"enrolment": enrolment["people"], "si_codes": enrolment["si_codes"],
            "benefits": benefits["people"]}


def all_applied(db, planner, citizen_ids, registered_before):
    """Wait until every service has every person, then return the counts."""
    n = len(citizen_ids)
    eventually(lambda: effects(db, citizen_ids) == {"enrolment": n, "si_codes": n, "benefits": n},
               timeout=60, interval=0.3)
    eventually(lambda: registered_in(planner, PROVINCE) - registered_before >= n, timeout=60, interval=0.3)
    return effects(db, citizen_ids)


def queues_drained(vhost, names):
    """No message ready or unacknowledged in ``names``."""
    def check():
        state = {r["name"]: (r["messages_ready"], r["messages_unacknowledged"])
                 for r in rows("list_queues", "-p", vhost,
                               columns=["name", "messages_ready", "messages_unacknowledged"])}
        return all(state.get(name) == ("0", "0") for name in names)
    eventually(check, timeout=60, interval=0.5)


def outbox_once(db, citizen_ids):
    """enrolment's participant_registered rows for these people: all sent (the relay's
    position is past them), none set aside to be tried again (``attempts`` counts those)."""
    return db("SELECT count(*) AS events,"
              " count(*) FILTER (WHERE o.id > r.sent_upto OR o.held) AS unsent,"
              " count(*) FILTER (WHERE o.attempts <> 0) AS retried,"
              " array_agg(o.event_id::text) AS event_ids"
              " FROM enrolment.outbox o CROSS JOIN enrolment.outbox_relay r"
              " WHERE o.event_type = 'participant_registered' AND o.body->>'citizen_id' = ANY(%s)",
              citizen_ids)


# -- the tests ------------------------------------------------------------------

SINGLE_ACTIVE = ("enrolment.intake", "benefits.events")
SHARED = ("reporting.events",)


def test_two_instances_share_the_work_and_apply_every_event_once(second, amqp_uri, intake, rpc_as, db):
    vhost, planner, assessor = vhost_of(amqp_uri), rpc_as("planner"), rpc_as("assessor")
    # each instance answers for itself on its own /healthz (what the probes ask;
    # it comes up a moment after the instance's RPC)
    for address in second["metrics"].values():
        eventually(lambda: _healthz(address) == "ok", timeout=30, interval=0.5)

    # Every queue has a consumer from each instance; the ordered ones have one active.
    for queue in SINGLE_ACTIVE + SHARED:
        eventually(lambda: len(consumers(vhost, queue)) == 2, timeout=30, interval=0.5)
    listed = {queue: consumers(vhost, queue) for queue in SINGLE_ACTIVE + SHARED}
    for queue in SINGLE_ACTIVE:
        assert sorted(c["active"] for c in listed[queue]) == [False, True], queue
    connection_of = channel_connections(vhost)
    before_bytes = bytes_sent(vhost)

    people = new_people(600)
    registered_before = registered_in(planner, PROVINCE)
    register(intake, people)
    counts = all_applied(db, planner, people, registered_before)
    queues_drained(vhost, SINGLE_ACTIVE + SHARED)

    # (b) exactly once everywhere, after every queue is empty: nothing more can arrive.
    assert counts == {"enrolment": 600, "si_codes": 600, "benefits": 600}
    assert registered_in(planner, PROVINCE) - registered_before == 600
    for citizen_id in people:
        assert assessor.benefits.get_person(citizen_id)["province_code"] == PROVINCE

    # (c) both enrolment instances run a relay; each event left once, and each
    # consumer's inbox holds it once.
    outbox = outbox_once(db, people)
    assert (outbox["events"], outbox["unsent"], outbox["retried"]) == (600, 0, 0)
    for schema in ("benefits", "reporting"):
        assert db(f"SELECT count(*) AS n FROM {schema}.inbox WHERE event_id = ANY(%s)",
                  outbox["event_ids"])["n"] == 600

    # (a) what each consumer's connection was sent meanwhile: both consumers of
    # reporting.events a large share (round robin gives half each); of the
    # ordered queues, the active consumer everything and the standby nothing.
    after_bytes = bytes_sent(vhost)

    def received(consumer):
        connection = connection_of[consumer["channel_pid"]]
        return after_bytes[connection] - before_bytes[connection]
    for queue in SHARED:
        parts = [received(c) for c in listed[queue]]
        print(f"{queue}: bytes sent to each instance's consumer {parts}")
        assert sum(parts) > 600 * 100, (queue, parts)  # at least 100 bytes per event
        assert all(part > 0.15 * sum(parts) for part in parts), (queue, parts)
    for queue in SINGLE_ACTIVE:
        active = [received(c) for c in listed[queue] if c["active"]]
        standby = [received(c) for c in listed[queue] if not c["active"]]
        print(f"{queue}: bytes sent to the active consumer {active}, to the standby {standby}")
        assert active[0] > 600 * 100 and standby == [0], (queue, active, standby)


def test_payment_runs_started_on_both_instances_at_once_pay_nobody_twice(second, intake, rpc_as, db):
    assessor = rpc_as("assessor")
    citizen_id = career(intake, rpc_as, "2007-01-01", "2021-12-31", 6_000_000, sex="female",
                        born="1966-06-15")
    assert assessor.benefits.submit_claim({"citizen_id": citizen_id, "kind": "pension",
                                           "claim_date": "2025-08-01"})["status"] == "approved"
    log = second["log"] / "benefits.log"
    served_before = _rpc_calls(log, "run_payments")

    calls, results, barrier = 8, [], threading.Barrier(8)
    proxies = [rpc_as("finance") for _ in range(calls)]

    def run(proxy):
        barrier.wait()
        results.append(proxy.benefits.run_payments(PAYMENT_MONTH))
    threads = [threading.Thread(target=run, args=(proxy,)) for proxy in proxies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == calls
    assert all(result == results[0] for result in results), results
    assert results[0]["status"] == "completed" and results[0]["payments"] >= 1
    # the calls were spread over both instances (RabbitMQ round robin)
    served_by_second = eventually(lambda: _rpc_calls(log, "run_payments") - served_before)
    print(f"run_payments: {served_by_second} of {calls} calls served by the second instance,"
          f" run {results[0]['run_id']} paid {results[0]['payments']}")
    assert 1 <= served_by_second <= calls - 1, served_by_second
    # one run, one payment per claim, and the person paid once
    assert db("SELECT count(*) AS n FROM benefits.payment_runs WHERE period = %s",
              f"{PAYMENT_MONTH}-01")["n"] == 1
    assert db("SELECT count(*) AS n FROM (SELECT claim_id FROM benefits.payments WHERE period = %s"
              " GROUP BY claim_id HAVING count(*) > 1) twice", f"{PAYMENT_MONTH}-01")["n"] == 0
    assert db("SELECT count(*) AS n FROM benefits.payments WHERE period = %s",
              f"{PAYMENT_MONTH}-01")["n"] == results[0]["payments"]
    assert [p["period"] for p in assessor.benefits.payments_for(citizen_id)] == [PAYMENT_MONTH]
    # reporting counted the month once, though both benefits instances relay
    planner = rpc_as("planner")
    eventually(lambda: sum(r["amount"] for r in planner.reporting.benefits_summary(PAYMENT_MONTH))
               == results[0]["total_amount"], timeout=30)
    assert db("SELECT count(*) AS n FROM benefits.outbox WHERE event_type = 'payment_run_completed'"
              " AND body->>'period' = %s", PAYMENT_MONTH)["n"] == 1


def _healthz(address):
    try:
        with urllib.request.urlopen(f"http://{address}/healthz", timeout=5) as answer:
            return json.loads(answer.read())["status"]
    except OSError:
        return None


def _rpc_calls(log_path, method):
    text = log_path.read_text(errors="replace")
    return len(re.findall(rf"spawning <WorkerContext \[benefits\.{method}\]", text))


def test_the_standby_takes_over_intake_when_the_active_instance_stops(
        second, amqp_uri, intake, rpc_as, db):
    vhost, planner = vhost_of(amqp_uri), rpc_as("planner")
    before = consumers(vhost, "enrolment.intake")
    assert len(before) == 2
    (first_active,) = [c["channel_pid"] for c in before if c["active"]]
    (standby,) = [c["channel_pid"] for c in before if not c["active"]]

    # The stack's instance started first and is active. Cut its consumer's
    # connection at the broker: the second instance's consumer becomes
    # active, and the first one reconnects as the standby.
    rabbitmqctl("close_connection", channel_connections(vhost)[first_active], "scale-out test: hand over")
    eventually(lambda: _active_and_waiting(vhost, standby), timeout=30, interval=0.5)

    # Mid-stream: half the events published, some applied, then SIGTERM to the
    # second enrolment (now the active one), then the other half.
    people = new_people(1000)
    registered_before = registered_in(planner, PROVINCE)
    register(intake, people[:500])
    applied_at_stop = eventually(
        lambda: (lambda n: n if n >= 100 else None)(effects(db, people)["enrolment"]),
        timeout=30, interval=0.05)
    process = second["processes"]["enrolment"]
    process.send_signal(signal.SIGTERM)
    register(intake, people[500:])
    assert process.wait(timeout=45) == 0
    assert applied_at_stop < 1000
    print(f"SIGTERM to the active enrolment with {applied_at_stop} of 1000 applied")

    # The first instance is the only consumer left, and active.
    eventually(lambda: [c["active"] for c in consumers(vhost, "enrolment.intake")] == [True],
               timeout=30, interval=0.5)
    counts = all_applied(db, planner, people, registered_before)
    queues_drained(vhost, SINGLE_ACTIVE + SHARED)
    assert counts == {"enrolment": 1000, "si_codes": 1000, "benefits": 1000}
    assert registered_in(planner, PROVINCE) - registered_before == 1000
    outbox = outbox_once(db, people)
    assert (outbox["events"], outbox["unsent"]) == (1000, 0)
    log = second["log"] / "enrolment.log"
    assert "Traceback" not in _unexpected(log)


def _active_and_waiting(vhost, now_active):
    listed = consumers(vhost, "enrolment.intake")
    return len(listed) == 2 and [c["channel_pid"] for c in listed if c["active"]] == [now_active]
