"""Dead-letter queues on RabbitMQ, over AMQP (not RPC): peek at them and resubmit.

A message a consumer gave up on is published to the direct exchange
``vss.dead-letters`` with its queue's name as routing key and lands in
``<queue>.dead-letters``, keeping its body and headers and gaining the
``x-dead-letter-reason``, ``x-original-*``, ``x-dead-lettered-at`` and
``x-service`` headers (docs/contract.md section 4, shared/consumer.py).
"""
import contextlib
import hashlib
from dataclasses import dataclass, field

import amqp
from amqp.exceptions import (AMQPError, ChannelError, MessageNacked, NotFound,
                             RecoverableConnectionError)
from kombu import Connection

SUFFIX = ".dead-letters"
QUEUES = ("enrolment.intake", "benefits.events", "reporting.events")
DEAD_LETTER_HEADERS = ("x-dead-letter-reason", "x-original-exchange", "x-original-routing-key",
                       "x-original-queue", "x-dead-lettered-at", "x-service")
# Properties copied as they are onto a resubmitted message.
KEPT_PROPERTIES = ("content_type", "content_encoding", "correlation_id", "reply_to",
                   "expiration", "message_id", "timestamp", "type", "user_id", "app_id",
                   "priority")


def dead_letter_queue(queue):
    """``enrolment.intake`` -> ``enrolment.intake.dead-letters`` (a full name is kept)."""
    return queue if queue.endswith(SUFFIX) else queue + SUFFIX


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _body_bytes(message):
    body = message.body
    if isinstance(body, str):
        return body.encode(message.properties.get("content_encoding") or "utf-8")
    return bytes(body)


@dataclass
class Letter:
    """What may be shown of a dead letter: never its body, which may hold personal data."""
    queue: str
    position: int
    reason: str
    service: str
    exchange: str
    routing_key: str
    original_queue: str
    dead_lettered_at: str
    size: int
    digest: str
    content_type: str

    @classmethod
    def of(cls, queue, position, message):
        headers = message.headers or {}
        body = _body_bytes(message)
        return cls(queue=queue, position=position,
                   reason=_text(headers.get("x-dead-letter-reason")),
                   service=_text(headers.get("x-service")),
                   exchange=_text(headers.get("x-original-exchange")),
                   routing_key=_text(headers.get("x-original-routing-key")),
                   original_queue=_text(headers.get("x-original-queue")),
                   dead_lettered_at=_text(headers.get("x-dead-lettered-at")),
                   size=len(body), digest=hashlib.sha256(body).hexdigest(),
                   content_type=_text(message.properties.get("content_type")))

    def as_dict(self):
        return dict(self.__dict__)


@dataclass
class Resubmission:
    queue: str
    taken: int = 0
    resubmitted: int = 0
    skipped: int = 0
    failed: Letter | None = None
    failure: str = ""
    remaining: int | None = None
    letters: list = field(default_factory=list)


@contextlib.contextmanager
def broker(amqp_uri, timeout=10):
    """A py-amqp connection to the broker of ``amqp_uri``."""
    conn = Connection(amqp_uri, connect_timeout=timeout)
    try:
        conn.connect()
        yield conn.connection
    finally:
        conn.release()


def depth(connection, queue):
    """Messages ready in ``queue``, or None if there is no such queue."""
    channel = connection.channel()
    try:
        _, count, _ = channel.queue_declare(queue, passive=True)
        return count
    except NotFound:
        return None
    finally:
        _close(channel)


def peek(connection, queue, limit):
    """Up to ``limit`` letters of ``queue``, front first, left in the queue.

    Takes them without acknowledging and closes the channel: the broker puts
    unacknowledged messages back where they were.
    """
    channel = connection.channel()
    letters = []
    try:
        while len(letters) < limit:
            message = channel.basic_get(queue, no_ack=False)
            if message is None:
                break
            letters.append(Letter.of(queue, len(letters) + 1, message))
    finally:
        _close(channel)
    return letters


def republished(message):
    """A copy of a dead letter as first published: same body and properties, without the
    dead-letter headers, persistent."""
    properties = {key: message.properties[key] for key in KEPT_PROPERTIES
                  if message.properties.get(key) is not None}
    headers = {key: value for key, value in (message.headers or {}).items()
               if key not in DEAD_LETTER_HEADERS}
    return amqp.Message(_body_bytes(message), application_headers=headers, delivery_mode=2,
                        **properties)


def resubmit(connection, queue, limit, digest_prefix=None, confirm_timeout=30):
    """Republish up to ``limit`` letters of ``queue`` to their original exchange and
    routing key, with publisher confirms and ``mandatory``; ack each only once confirmed.

    Only the messages in the queue when it starts are looked at, so a message
    dead-lettered again meanwhile is not taken twice. ``digest_prefix`` picks
    the letters whose body's SHA-256 starts with it; the others stay. Stops at
    the first failure, which stays in the queue with everything after it.
    """
    result = Resubmission(queue)
    present = depth(connection, queue)
    if present is None:
        result.failure = "no such queue"
        return result
    returned = []
    channel = connection.channel()
    channel.events["basic_return"].add(
        lambda exc, exchange, routing_key, message: returned.append(f"{exc}"))
    try:
        for _ in range(present):
            if result.resubmitted >= limit:
                break
            message = channel.basic_get(queue, no_ack=False)
            if message is None:
                break
            result.taken += 1
            letter = Letter.of(queue, result.taken, message)
            if digest_prefix and not letter.digest.startswith(digest_prefix):
                result.skipped += 1  # held unacknowledged: back in the queue on close
                continue
            headers = message.headers or {}
            if "x-original-exchange" not in headers or "x-original-routing-key" not in headers:
                result.failed, result.failure = letter, "no x-original-exchange/routing-key header"
                break
            try:
                channel.basic_publish_confirm(
                    republished(message), exchange=letter.exchange,
                    routing_key=letter.routing_key, mandatory=True,
                    confirm_timeout=confirm_timeout)
            except MessageNacked:
                result.failed, result.failure = letter, "the broker refused it (nack)"
                break
            except ChannelError as exc:  # e.g. the exchange no longer exists
                result.failed, result.failure = letter, f"{type(exc).__name__}: {exc}"
                break
            except (OSError, RecoverableConnectionError) as exc:  # no confirm, or a lost link
                result.failed, result.failure = letter, (
                    f"no confirm ({type(exc).__name__}: {exc}); it may have been published "
                    "and is left in the dead-letter queue")
                break
            if returned:
                result.failed, result.failure = letter, (
                    f"unroutable: no queue is bound to {letter.exchange!r} "
                    f"with key {letter.routing_key!r} ({returned[0]})")
                break
            channel.basic_ack(message.delivery_info["delivery_tag"])
            result.resubmitted += 1
            result.letters.append(letter)
    finally:
        _close(channel)
    try:
        result.remaining = depth(connection, queue)
    except (OSError, AMQPError):
        result.remaining = None
    return result


def _close(channel):
    """Close ``channel``: the broker puts back what it delivered and was not acknowledged."""
    try:
        if channel.is_open:
            channel.close()
    except (OSError, AMQPError):
        pass
