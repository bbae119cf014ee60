"""The batch consumer and auth inside a real nameko container, real broker and database."""
import json
import uuid

import psycopg2
import pytest
from kombu import Connection, Exchange
from nameko.exceptions import RemoteError
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy

from shared.auth import Auth, authorised
from shared.consumer import consume_batches, dead_letter_queue
from shared.db import Database
from shared.errors import EXPECTED
from shared.inbox import EventBatch, EventInbox
from shared.outbox import OutboxRelay
from tests.conftest import eventually
from tests.integration.conftest import MIGRATIONS, effects

pytestmark = pytest.mark.integration

SOURCE = Exchange("it.source", "topic", durable=True)
QUEUE = "it.work"
transient_failures = {"left": 0}


def work(uow, body):
    if body.get("note") == "poison":
        raise ValueError("this message cannot be applied")
    if body.get("note") == "transient" and transient_failures["left"] > 0:
        transient_failures["left"] -= 1
        raise psycopg2.OperationalError("server closed the connection unexpectedly")
    uow.cursor.execute("INSERT INTO effects (event_id, note) VALUES (%s, %s)",
                       (body["event_id"], body.get("note")))


class WorkService:
    name = "itwork"
    db = Database(MIGRATIONS)
    relay = OutboxRelay()
    auth = Auth()

    @consume_batches(queue=QUEUE, bindings=[("it.source", "#")])
    def consume(self, deliveries):
        if any(b"explode" in d.body for d in deliveries):
            raise RuntimeError("the whole batch failed")
        return EventInbox(self.db, self.relay, "itwork.events", QUEUE).apply(
            deliveries, lambda: EventBatch({"work": work}))

    @rpc(expected_exceptions=EXPECTED)
    @authorised("planner", changes_data=True)
    def change(self, note, fail=False):
        with self.db.transaction() as cur:
            cur.execute("INSERT INTO effects (event_id, note) VALUES ('rpc', %s)", (note,))
            self.auth.audit(cur, {"note": note})
        if fail:
            raise ValueError("failed after the change")
        return note

    @rpc(expected_exceptions=EXPECTED)
    @authorised("planner", changes_data=True)
    def fail_before_change(self, note):
        raise ValueError("refused before any change")

    @rpc(expected_exceptions=EXPECTED)
    @authorised("planner", changes_data=True)
    def change_without_explicit_audit(self, note):
        with self.db.transaction() as cur:
            cur.execute("INSERT INTO effects (event_id, note) VALUES ('rpc', %s)", (note,))
        return note


@pytest.fixture
def service_config(config, database_dsn, schema):
    return dict(config, DATABASES={"itwork": {"dsn": database_dsn, "schema": schema}},
                CONSUMER={"batch_size": 50, "batch_wait_ms": 50})


@pytest.fixture
def container(container_factory, service_config, amqp_uri):
    with Connection(amqp_uri) as conn:  # leftovers of an earlier test in this vhost
        for queue in (QUEUE, dead_letter_queue(QUEUE)):
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:
                pass
    container = container_factory(WorkService, service_config)
    container.start()
    return container


def publish(amqp_uri, bodies, routing_key="work"):
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        for body in bodies:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            producer.publish(data, exchange=SOURCE, routing_key=routing_key, delivery_mode=2,
                             content_type="application/json", mandatory=True)


def dead_letters(amqp_uri):
    found = []
    with Connection(amqp_uri) as conn:
        while (message := conn.default_channel.basic_get(dead_letter_queue(QUEUE), no_ack=True)):
            found.append(message)
    return found


def event(note=None):
    return {"event_id": str(uuid.uuid4()), "note": note}


def test_poison_and_unparseable_messages_go_to_the_dlq_with_reasons_and_the_worker_lives(
        container, pool, amqp_uri):
    good = [event("a"), event("b"), event("c"), event("d")]
    publish(amqp_uri, [good[0], good[1], event("poison"), b"{not json", good[2], good[3]])
    eventually(lambda: len(effects(pool)) == 4)

    dlq = eventually(lambda: (lambda m: m if len(m) == 2 else None)(dead_letters(amqp_uri)))
    reasons = sorted(m.properties["application_headers"]["x-dead-letter-reason"] for m in dlq)
    assert reasons[0] == "ValueError: this message cannot be applied"
    assert reasons[1].startswith("unparseable: not JSON")
    assert all(m.properties["application_headers"]["x-original-queue"] == QUEUE for m in dlq)

    later = event("e")
    publish(amqp_uri, [later])
    eventually(lambda: later["event_id"] in effects(pool))
    assert set(effects(pool).values()) == {1}
    with pool.transaction() as cur:
        cur.execute("SELECT count(*) AS n FROM dead_letters")
        assert cur.fetchone()["n"] == 2


def test_a_batch_that_fails_as_a_whole_is_retried_message_by_message(container, pool, amqp_uri):
    others = [event("x"), event("y")]
    publish(amqp_uri, [others[0], {"event_id": str(uuid.uuid4()), "note": "explode"}, others[1]])
    eventually(lambda: set(effects(pool)) == {e["event_id"] for e in others})
    dlq = eventually(lambda: dead_letters(amqp_uri))
    assert [m.properties["application_headers"]["x-dead-letter-reason"] for m in dlq] == [
        "RuntimeError: the whole batch failed"]


def test_a_database_outage_is_retried_not_dead_lettered(container, pool, amqp_uri):
    transient_failures["left"] = 2
    message = event("transient")
    publish(amqp_uri, [message])
    eventually(lambda: message["event_id"] in effects(pool))
    assert transient_failures["left"] == 0
    assert dead_letters(amqp_uri) == []


def audit_rows(pool):
    with pool.transaction() as cur:
        cur.execute("SELECT method, role, outcome, detail FROM audit_log ORDER BY id")
        return cur.fetchall()


def test_data_changes_are_audited_with_the_change_and_refusals_too(container, pool, amqp_uri):
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, context_data={"auth_token": "dev-planner-token"},
                         timeout=10) as planner:
        assert planner.itwork.change("one") == "one"
        assert planner.itwork.change_without_explicit_audit("two") == "two"
        with pytest.raises(RemoteError):
            planner.itwork.change("three", fail=True)
        with pytest.raises(RemoteError):
            planner.itwork.fail_before_change("five")
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, context_data={"auth_token": "dev-clerk-token"},
                         timeout=10) as clerk:
        with pytest.raises(RemoteError) as err:
            clerk.itwork.change("four")
        assert err.value.exc_type == "Unauthorized"

    rows = [(r["method"], r["role"], r["outcome"]) for r in audit_rows(pool)]
    # "three" changed data and was audited with it before the method failed
    assert rows == [("change", "planner", "ok"), ("change_without_explicit_audit", "planner", "ok"),
                    ("change", "planner", "ok"), ("fail_before_change", "planner", "failed"),
                    ("change", "clerk", "refused")]
    with pool.transaction() as cur:
        cur.execute("SELECT note FROM effects WHERE event_id = 'rpc' ORDER BY id")
        assert [r["note"] for r in cur.fetchall()] == ["one", "two", "three"]


@pytest.fixture
def own_vhost(run_id):
    """A vhost of this test alone: its outage must not touch the shared stack."""
    from deploy.scratch import scratch_vhost
    with scratch_vhost(f"{run_id}_outage") as amqp_uri:
        yield amqp_uri


def test_the_consumer_and_relay_survive_the_broker_dropping_every_connection(
        container_factory, service_config, pool, own_vhost):
    import subprocess
    import time
    from urllib.parse import unquote

    amqp_uri = own_vhost
    container = container_factory(WorkService, dict(service_config, AMQP_URI=amqp_uri))
    container.start()
    first = event("before")
    publish(amqp_uri, [first])
    eventually(lambda: first["event_id"] in effects(pool))
    vhost = unquote(amqp_uri.rsplit("/", 1)[1])

    def rabbitmqctl(*args):
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, stdout=subprocess.DEVNULL)

    # The broker drops every connection and refuses new ones for a while, as
    # during a restart: reconnection attempts fail until it is back.
    rabbitmqctl("clear_permissions", "-p", vhost, "guest")
    try:
        rabbitmqctl("close_all_connections", "-p", vhost, "test: broker restart")
        time.sleep(3)
    finally:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    after = event("after")
    eventually(lambda: publish(amqp_uri, [after]) or True, timeout=10)
    eventually(lambda: after["event_id"] in effects(pool), timeout=30)
    assert not container._died.ready()


def test_the_relay_prunes_what_it_sent_once_past_the_keep(container_factory, service_config, pool,
                                                           amqp_uri, bound_queue):
    from shared.outbox import UnitOfWork
    exchange, queue = bound_queue
    with pool.transaction() as cur:
        uow = UnitOfWork(cur, exchange)
        for i in range(5):
            uow.emit("work", {"note": str(i)})
        uow.flush()
    config = dict(service_config, OUTBOX={"keep_sent_days": 0, "prune_every_seconds": 0.2,
                                          "poll_seconds": 0.2})
    container = container_factory(WorkService, config)
    container.start()

    def outbox_rows():
        with pool.transaction() as cur:
            cur.execute("SELECT count(*) AS n FROM outbox")
            return cur.fetchone()["n"]
    # published (the queue has all five), then deleted: kept 0 days
    assert eventually(lambda: outbox_rows() == 0, timeout=15)
    with Connection(amqp_uri) as conn:
        assert conn.default_channel.queue_declare(queue, passive=True).message_count == 5
