"""The batch consumer: how every service takes messages off RabbitMQ.

Why not nameko's own ``@consume``/``@event_handler``: they ack a message when
the worker ends whether it returned or raised, crash their queue consumer on a
body that is not valid JSON, and give each event type its own queue (so events
of one person can overtake each other). This entrypoint

* declares its exchanges, its durable queue, the bindings and its dead-letter
  queue in ``setup``, before the service starts, so producers never publish
  into the void;
* takes raw messages (the handler decides what is parseable) in batches of up
  to ``CONSUMER.batch_size``, waiting at most ``batch_wait_ms`` to fill one,
  and runs one worker per batch, batches one after another, so messages take
  effect in queue order within an instance;
* acks only after the worker returned (the handler commits inside its own
  call path); a message the handler judged a dead letter is first published
  to ``vss.dead-letters`` with the reason and only then acked;
* on a database or broker outage retries the same batch with back-off rather
  than judging the messages; on any other failure of a whole batch retries
  message by message and dead-letters only the one that still fails.

With ``overlap=True`` two batches are in flight at once: the next one is
parsed and applied while the one before it is still in PostgreSQL. Order
holds through a ``Ticket`` each batch carries (``deliveries.ticket``): the
handler takes its keys only once the batch before holds its own (so a shared
key waits for that batch's commit), and commits only once the batch before
has committed; if that batch failed, this one rolls back and runs again after
it. A batch that fails as a whole is run again alone (then message by message)
once the batch after it has rolled back. Acks stay in queue order.
"""
import collections
import datetime as dt
import logging
import socket
import threading
import time
from dataclasses import dataclass, field

import amqp
from kombu import Connection
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import Entrypoint

from shared.config import truthy
from shared.db import is_retryable
from shared.metrics import BATCH_SECONDS, MESSAGES, OVERLAP

log = logging.getLogger(__name__)

DEAD_LETTER_EXCHANGE = "vss.dead-letters"
DEAD_LETTER_CONFIRM_TIMEOUT = 30


@dataclass
class Delivery:
    """One message as it came off the queue, undecoded."""
    body: bytes
    exchange: str
    routing_key: str
    headers: dict
    content_type: str | None
    delivery_tag: int = 0


@dataclass
class Outcome:
    """What to do with a delivery once its batch committed."""
    dead_letter_reason: str | None = None
    extra: dict = field(default_factory=dict)


ACK = Outcome()

OVERLAP_WAIT_SECONDS = 10.0


class PredecessorFailed(Exception):
    """The batch before this one did not commit: this one rolled back, to run again."""


class RunAlone(PredecessorFailed):
    """This batch failed as a whole: it is run again, alone (then one message at a
    time), once the batches around it are settled or rolled back."""


class Ticket:
    """The order between a batch and the one started just before it.

    ``locked`` is set once the batch holds the keys it works on (its successor
    may then take its own: a key both share waits in PostgreSQL for this
    batch's commit); ``ended`` once its first transaction committed or failed.
    """

    def __init__(self, prev=None):
        self.prev = prev
        self.locked = threading.Event()
        self.ended = threading.Event()
        self.committed = False

    def after_prev_locked(self):
        """Wait until the batch before holds its keys (or has ended)."""
        prev = self.prev
        if prev is not None and not prev.locked.wait(OVERLAP_WAIT_SECONDS):
            raise PredecessorFailed("the batch before did not take its keys in time")
        if prev is not None and prev.ended.is_set() and not prev.committed:
            raise PredecessorFailed("the batch before did not commit")   # before any work

    def check_prev_committed(self):
        """Before committing: raise ``PredecessorFailed`` unless the batch before committed.

        The wait is bounded: should the batch before ever wait for a lock this one
        holds (PostgreSQL cannot see the wait here), this one gives way."""
        prev = self.prev
        if prev is not None and not (prev.ended.wait(OVERLAP_WAIT_SECONDS) and prev.committed):
            raise PredecessorFailed("the batch before did not commit")
        self.prev = None        # nothing keeps a chain of finished batches alive

    def end(self, committed):
        if not self.ended.is_set():
            self.committed = committed
            self.locked.set()
            self.ended.set()


class Batch(list):
    """The deliveries of one batch, with its ``ticket`` when batches overlap."""
    ticket = None


@dataclass
class _InFlight:
    batch: Batch
    done: threading.Event
    box: dict


def dead_letter_queue(queue_name):
    return queue_name + ".dead-letters"


def declare_topology(channel, queue_name, bindings, arguments=None, unbind=()):
    """Exchanges, the durable queue and its bindings, and its dead-letter queue.

    ``unbind``: bindings an earlier version made that must go (a binding
    stays on a durable queue until removed; removing one that is not there
    is harmless)."""
    for exchange, _ in list(bindings) + list(unbind):
        channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
    channel.queue_declare(queue_name, durable=True, auto_delete=False, arguments=arguments)
    for exchange, routing_key in bindings:
        channel.queue_bind(queue_name, exchange, routing_key)
    for exchange, routing_key in unbind:
        if (exchange, routing_key) not in bindings:
            channel.queue_unbind(queue_name, exchange, routing_key)
    channel.exchange_declare(DEAD_LETTER_EXCHANGE, "direct", durable=True, auto_delete=False)
    dlq = dead_letter_queue(queue_name)
    channel.queue_declare(dlq, durable=True, auto_delete=False)
    channel.queue_bind(dlq, DEAD_LETTER_EXCHANGE, queue_name)


def _to_bytes(body):
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


class BatchConsumer(Entrypoint):

    def __init__(self, queue, bindings, single_active=False, unbind=(), overlap=False, **kwargs):
        """``single_active``: of all instances, one consumes at a time (the
        others stand by), so the queue's order holds across instances.
        ``unbind``: bindings of earlier versions to remove. ``overlap``: two
        batches in flight at once (the handler must honour ``deliveries.ticket``;
        ``CONSUMER.overlap: false`` turns it off)."""
        self.queue_name = queue
        self.bindings = list(bindings)
        self.unbind = list(unbind)
        self.overlap = overlap
        self.arguments = {"x-single-active-consumer": True} if single_active else None
        super().__init__(**kwargs)

    def setup(self):
        config = self.container.config
        settings = config.get("CONSUMER", {})
        self.batch_size = int(settings.get("batch_size", 200))
        self.batch_wait = float(settings.get("batch_wait_ms", 20)) / 1000
        self.depth = 2 if self.overlap and truthy(settings.get("overlap", True)) else 1
        self.amqp_uri = config["AMQP_URI"]
        with Connection(self.amqp_uri) as conn:
            declare_topology(conn.default_channel, self.queue_name, self.bindings, self.arguments,
                             self.unbind)
        self._running = False
        self._stopped = threading.Event()
        self._buffer = []

    def start(self):
        self._running = True
        self.container.spawn_managed_thread(self._consume_forever, identifier=self.queue_name)

    def stop(self):
        self._running = False
        self._stopped.wait(30)

    def kill(self):
        self._running = False

    # -- the consume loop (one greenthread) ---------------------------------

    def _consume_forever(self):
        backoff = 0.5
        try:
            while self._running:
                try:
                    self._consume()
                    backoff = 0.5
                except Exception as exc:  # a lost broker must not end the service
                    log.warning("consumer %s: %s; reconnecting in %.1fs",
                                self.queue_name, type(exc).__name__, backoff)
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 30)
        finally:
            self._stopped.set()

    def _consume(self):
        with Connection(self.amqp_uri) as conn:
            conn.ensure_connection(max_retries=1)
            channel = conn.channel()
            declare_topology(channel, self.queue_name, self.bindings, self.arguments)
            channel.basic_qos(0, self.batch_size * (self.depth + 1), False)
            self._buffer = []
            self._inflight = collections.deque()
            try:
                self._consume_from(conn, channel)
            except Exception:
                # a lost connection: what is in flight finishes (its messages come
                # back unacked and the inbox absorbs them) before anything else
                # starts. Not on a kill (GreenletExit): the workers are killed too.
                for flight in self._inflight:
                    flight.done.wait()
                raise
            finally:
                self._inflight.clear()

    def _consume_from(self, conn, channel):
        channel.basic_consume(self.queue_name, callback=self._on_message)
        first_at = None
        while self._running:
            if not self._settle_finished(channel):
                return  # the container is being killed: unacked messages go back
            if len(self._inflight) >= self.depth:
                self._inflight[0].done.wait()
                continue
            if self._buffer:
                timeout = self.batch_wait
            else:
                timeout = 0.005 if self._inflight else 1.0
            try:
                conn.drain_events(timeout=timeout)
            except socket.timeout:
                pass
            if self._buffer and first_at is None:
                first_at = time.monotonic()
            full = len(self._buffer) >= self.batch_size
            waited = first_at is not None and time.monotonic() - first_at >= self.batch_wait
            if self._buffer and (full or waited):
                batch = Batch(self._buffer[:self.batch_size])
                self._buffer = self._buffer[self.batch_size:]
                first_at = time.monotonic() if self._buffer else None
                self._start(batch)
        while self._inflight:
            self._inflight[0].done.wait()
            if not self._settle_finished(channel):
                return

    def _start(self, batch):
        if self.depth > 1:
            prev = self._inflight[-1].batch.ticket if self._inflight else None
            batch.ticket = Ticket(prev)
            if prev is not None and not prev.ended.is_set():
                OVERLAP.labels(self.container.service_name, self.queue_name, "started").inc()
        try:
            flight = self._spawn(batch)
        except ContainerBeingKilled:
            flight = _InFlight(batch, threading.Event(), {
                "started": time.monotonic(),
                "exc_info": (ContainerBeingKilled, ContainerBeingKilled(), None)})
            flight.done.set()
        self._inflight.append(flight)

    def _spawn(self, batch):
        """A worker for ``batch``; the returned flight's ``done`` is set when it ends,
        its ``box`` then holds ``result`` and ``exc_info``."""
        flight = _InFlight(batch, threading.Event(), {"started": time.monotonic(), "exc_info": None})

        def handle_result(worker_ctx, result=None, exc_info=None):
            flight.box["result"], flight.box["exc_info"] = result, exc_info
            if batch.ticket is not None:
                batch.ticket.end(exc_info is None)
            flight.done.set()
            return result, exc_info

        self.container.spawn_worker(self, (batch,), {}, handle_result=handle_result)
        return flight

    def _settle_finished(self, channel):
        """Settle the batches that finished, in the order they started; False
        when the container is being killed."""
        while self._inflight and self._inflight[0].done.is_set():
            flight = self._inflight.popleft()
            exc_info = flight.box["exc_info"]
            if exc_info is None:
                outcomes = flight.box["result"]
            elif isinstance(exc_info[1], ContainerBeingKilled):
                return False
            else:   # judged again, alone: nothing of a later batch has committed
                for later in self._inflight:
                    later.done.wait()   # they roll back at once (this batch did not commit)
                flight.batch.ticket = None
                outcomes = self._run(flight.batch, first=exc_info)
                if outcomes is None:
                    return False
            if flight.batch.ticket is not None:
                flight.batch.ticket.prev = None
            BATCH_SECONDS.labels(self.container.service_name, self.queue_name).observe(
                time.monotonic() - flight.box["started"])
            self._settle(channel, flight.batch, outcomes)
        return True

    def _on_message(self, message):
        info = message.delivery_info
        props = message.properties
        self._buffer.append(Delivery(
            body=_to_bytes(message.body),
            exchange=info.get("exchange", ""),
            routing_key=info.get("routing_key", ""),
            headers=dict(props.get("application_headers") or {}),
            content_type=props.get("content_type"),
            delivery_tag=info["delivery_tag"],
        ))

    # -- running workers ----------------------------------------------------

    def _run(self, batch, first=None):
        """Outcomes for ``batch``; retries outages, isolates failing messages.
        ``first``: the exc_info of an attempt already made."""
        backoff = 0.5
        while True:
            if first is None:
                try:
                    result, exc_info = self._run_worker(batch)
                except ContainerBeingKilled:
                    return None
            else:
                result, exc_info, first = None, first, None
            if exc_info is None:
                return result
            exc = exc_info[1]
            if isinstance(exc, ContainerBeingKilled):
                return None
            if isinstance(exc, PredecessorFailed):
                OVERLAP.labels(self.container.service_name, self.queue_name, "redone").inc()
                continue    # the batch before has been settled: now this one, alone
            if is_retryable(exc):
                log.warning("consumer %s: %s while handling a batch; retrying in %.1fs",
                            self.queue_name, type(exc).__name__, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 30)
                if not self._running:
                    return None
                continue
            if len(batch) > 1:
                outcomes = []
                for delivery in batch:
                    single = self._run(Batch([delivery]))
                    if single is None:
                        return None
                    outcomes.extend(single)
                return outcomes
            return [Outcome(dead_letter_reason=f"{type(exc).__name__}: {exc}")]

    def _run_worker(self, batch):
        flight = self._spawn(batch)
        flight.done.wait()
        return flight.box.get("result"), flight.box["exc_info"]

    def _settle(self, channel, batch, outcomes):
        dead = 0
        for delivery, outcome in zip(batch, outcomes):
            if outcome.dead_letter_reason:
                self._dead_letter(channel, delivery, outcome.dead_letter_reason)
                dead += 1
        channel.basic_ack(batch[-1].delivery_tag, multiple=True)
        service = self.container.service_name
        MESSAGES.labels(service, self.queue_name, "acked").inc(len(batch) - dead)
        if dead:
            MESSAGES.labels(service, self.queue_name, "dead_lettered").inc(dead)

    def _dead_letter(self, channel, delivery, reason):
        headers = dict(delivery.headers)
        headers.update({
            "x-dead-letter-reason": reason[:1000],
            "x-original-exchange": delivery.exchange,
            "x-original-routing-key": delivery.routing_key,
            "x-original-queue": self.queue_name,
            "x-dead-lettered-at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "x-service": self.container.service_name,
        })
        message = amqp.Message(delivery.body, content_type=delivery.content_type,
                               delivery_mode=2, application_headers=headers)
        # A timeout (the broker blocking publishers) ends this connection; the
        # unacked batch comes back and is applied again, absorbed by the inbox.
        channel.basic_publish_confirm(message, exchange=DEAD_LETTER_EXCHANGE,
                                      routing_key=self.queue_name, mandatory=True,
                                      confirm_timeout=DEAD_LETTER_CONFIRM_TIMEOUT)
        # Only the reason's code: the rest may quote the message's content.
        log.warning("consumer %s: message dead-lettered (%s)", self.queue_name,
                    reason.split(":", 1)[0][:80])


consume_batches = BatchConsumer.decorator
