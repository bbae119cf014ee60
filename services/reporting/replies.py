"""RPC replies of reporting encoded once, and answers kept while the read models are unchanged.

Where a national view's time over RPC went (issue 5, ``bench/rpc_overhead.py``):
besides the report's SQL and Python, nameko's ``Responder`` encodes every result
twice (once to check that it can be encoded, once to publish it), 0.6 ms each for
``coverage()``'s 210 rows (86 KB of JSON). ``rpc`` here is nameko's entrypoint with a
responder that encodes a JSON reply once, byte for byte what nameko sends, and that
publishes a ``Reply`` (an answer encoded before) as it is.

``Answers`` keeps the encoded answers of the reports for as long as the read models
they were read from are unchanged, so a repeated national view costs one small
statement instead of its SQL, its Python and its encoding. It is always correct:

- the key of an answer holds the report and its arguments, today's date (the
  figures' default day, target pace) and the read models' *version*, read in the
  call's own transaction before anything else: the ``read_model_clock`` rows with
  the id of the transaction that last wrote each (``xmin``) and the number of
  migrations applied;
- every transaction that changes what the reports read writes ``read_model_clock``
  (a projection batch and a rebuild through ``Projection.write``, ``set_target``
  and ``set_denominator`` through ``store.touch``), so once it has committed, every
  call reads a version no answer from before it is kept under (a rebuild empties
  the clock with ``TRUNCATE``, which gives the table a new file: a new version too);
- an answer is computed after its version was read (the same transaction, later
  statements), so it is never older than that version; one computed while another
  call already read a newer version is not kept.

So an answer is served only to a call that read the same version in its own
transaction: never figures older than the last batch committed when the call read
it. Whatever writes these tables by hand must touch ``read_model_clock`` too.
"""
import collections

import kombu.serialization
from nameko.rpc import Responder, Rpc, get_rpc_exchange
from nameko.constants import AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, LOGIN_METHOD_CONFIG_KEY
from nameko.extensions import DependencyProvider

from services.reporting import store

JSON = "json"


def encode_reply(result):
    """``(content_type, content_encoding, body)`` of nameko's reply ``{"result": result,
    "error": null}`` with the JSON serializer, as ``Responder`` would publish it."""
    content_type, content_encoding, body = kombu.serialization.dumps(
        {"result": result, "error": None}, JSON)
    return content_type, content_encoding, body.encode(content_encoding) \
        if isinstance(body, str) else body


class Reply:
    """An answer already encoded as nameko's JSON reply."""
    __slots__ = ("content_type", "content_encoding", "body")

    def __init__(self, result):
        self.content_type, self.content_encoding, self.body = encode_reply(result)

    def result(self):
        """The answer decoded, as a client gets it."""
        return kombu.serialization.loads(self.body, self.content_type,
                                         self.content_encoding)["result"]

    def __json__(self):  # kombu's encoder, should a Reply reach it another way
        return self.result()


class OnceResponder(Responder):
    """``Responder`` that encodes a JSON reply once and publishes a ``Reply`` as it is."""

    def send_response(self, result, exc_info):
        content_type = self.message.properties["content_type"]
        serializer = kombu.serialization.registry.type_to_name[content_type]
        if exc_info is not None or serializer != JSON:
            if isinstance(result, Reply):
                result = result.result()
            return super().send_response(result, exc_info)
        if not isinstance(result, Reply):
            try:
                encoded = encode_reply(result)
            except Exception:  # nameko's own way: UnserializableValueError to the caller
                return super().send_response(result, exc_info)
        else:
            encoded = (result.content_type, result.content_encoding, result.body)
        publisher = self.publisher_cls(self.amqp_uri, ssl=self.ssl, login_method=self.login_method)
        publisher.publish(encoded[2], content_type=encoded[0], content_encoding=encoded[1],
                          exchange=self.exchange, routing_key=self.message.properties["reply_to"],
                          correlation_id=self.message.properties.get("correlation_id"))
        return result, exc_info


class OnceRpc(Rpc):
    """nameko's ``rpc`` entrypoint, replying through ``OnceResponder``."""

    def handle_result(self, message, worker_ctx, result, exc_info):
        config = self.container.config
        responder = OnceResponder(
            config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config), JSON, message,
            ssl=config.get(AMQP_SSL_CONFIG_KEY), login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
        result, exc_info = responder.send_response(result, exc_info)
        self.rpc_consumer.queue_consumer.ack_message(message)
        return result, exc_info


rpc = OnceRpc.decorator


def read_model_version(cur):
    """What the answers are keyed on: the ``read_model_clock`` rows with the transaction
    that last wrote each, the table's file (a rebuild's ``TRUNCATE`` gives it a new one,
    so an emptied clock is not the empty clock of before) and the number of migrations
    applied."""
    known = store.versions(cur)  # (read with the month versions the sums use: one statement)
    return known.migrations, known.clock_file, tuple(sorted(known.clock.items()))


class Answers(DependencyProvider):
    """Encoded answers per container, for one read-model version at a time (see the module)."""

    def __init__(self, size=512):
        self.size = size

    def setup(self):
        # REPORTING.answers in the configuration: how many to keep; 0 keeps none
        config = self.container.config.get("REPORTING", {})
        self.size = int(config.get("answers", self.size))
        # and the sums over settled months (store.SettledSums): the process's, one per container
        store.SETTLED.size = int(config.get("settled_sums", store.SETTLED.size))
        self.version, self.entries = None, collections.OrderedDict()
        self.hits = self.misses = 0

    def get_dependency(self, worker_ctx):
        return self

    def get(self, version, key):
        """The answer kept for ``key`` at ``version``, or None."""
        if version != self.version:
            # another version: what is kept was read at another (no call of that one
            # is served any of it any more once it has read this one)
            self.version, self.entries = version, collections.OrderedDict()
        reply = self.entries.get(key)
        if reply is None:
            self.misses += 1
        else:
            self.hits += 1
            self.entries.move_to_end(key)
        return reply

    def put(self, version, key, reply):
        """Keep ``reply`` for ``key``, unless the version has changed since it was read."""
        if version == self.version and self.size > 0:
            store.keep_recent(self.entries, key, reply, self.size)
        return reply
