"""Reporting's RPC replies (issue 5): encoded once, byte for byte what nameko sends, and
kept answers only ever served at the read-model version they were computed at."""
import datetime as dt
from types import SimpleNamespace

import kombu.serialization
from nameko.rpc import Responder

from services.reporting.replies import Answers, OnceResponder, Reply, encode_reply

ROWS = [{"province_code": "VN", "province_name": "Việt Nam", "scheme": "health",
         "participants": 9_200_000, "coverage_rate": 91.53, "population": None,
         "on_pace": True, "as_of": "2026-11-23T01:00:00+00:00"}] * 3


class Recorder:
    """A nameko Publisher that records what it is asked to publish."""
    published = []

    def __init__(self, amqp_uri, **kwargs):
        pass

    def publish(self, payload, **kwargs):
        Recorder.published.append((payload, kwargs))


def responder(cls, content_type="application/json"):
    message = SimpleNamespace(properties={"content_type": content_type, "reply_to": "reply.q",
                                          "correlation_id": "c1"})
    made = cls("memory://", "nameko-rpc", "json", message)
    made.publisher_cls = Recorder
    Recorder.published = []
    return made


def wire(published):
    """The bytes a published reply goes out as (kombu serializes what nameko hands it)."""
    payload, kwargs = published
    if kwargs.get("content_type"):
        return kwargs["content_type"], payload
    content_type, _, body = kombu.serialization.dumps(payload, kwargs["serializer"])
    return content_type, body.encode() if isinstance(body, str) else body


def test_a_reply_is_the_bytes_nameko_would_send_and_decodes_to_the_rows():
    responder(Responder).send_response(ROWS, None)
    nameko_sends = wire(Recorder.published[0])
    for result in (ROWS, Reply(ROWS)):
        responder(OnceResponder).send_response(result, None)
        assert wire(Recorder.published[0]) == nameko_sends
        assert Recorder.published[0][1]["routing_key"] == "reply.q"
        assert Recorder.published[0][1]["correlation_id"] == "c1"
    assert Reply(ROWS).result() == ROWS
    assert encode_reply(ROWS)[2] == Reply(ROWS).body


def test_the_reply_is_encoded_once(monkeypatch):
    calls = []
    real = kombu.serialization.dumps
    monkeypatch.setattr(kombu.serialization, "dumps", lambda *a, **k: calls.append(1) or real(*a, **k))
    responder(Responder).send_response(ROWS, None)
    assert len(calls) == 1  # nameko's own: a check; kombu encodes again when publishing
    calls.clear()
    responder(OnceResponder).send_response(ROWS, None)
    assert len(calls) == 1
    reply = Reply(ROWS)
    calls.clear()
    responder(OnceResponder).send_response(reply, None)
    assert calls == []


def test_errors_other_serializers_and_unencodable_results_go_nameko_s_way():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys
        responder(OnceResponder).send_response(None, sys.exc_info())
    payload, kwargs = Recorder.published[0]
    assert payload["error"]["exc_type"] == "ValueError" and "content_type" not in kwargs
    responder(OnceResponder, "application/x-yaml").send_response(Reply(ROWS), None)
    payload, kwargs = Recorder.published[0]
    assert payload == {"result": ROWS, "error": None} and kwargs["serializer"] == "yaml"
    _, exc_info = responder(OnceResponder).send_response(object(), None)
    assert Recorder.published[0][0]["error"]["exc_type"] == "UnserializableValueError"
    assert exc_info is not None


def answers(size=512):
    made = Answers(size)
    made.container = SimpleNamespace(config={})
    made.setup()
    return made


def test_an_answer_is_served_only_at_the_version_it_was_computed_at():
    kept = answers()
    key = ("coverage", "{}", dt.date(2026, 11, 23))
    assert kept.get("v1", key) is None
    reply = kept.put("v1", key, Reply(ROWS))
    assert kept.get("v1", key) is reply
    assert kept.get("v2", key) is None          # a batch committed: nothing from v1
    assert kept.get("v1", key) is None          # nor after, whatever version is asked
    assert kept.get("v1", ("coverage", "{}", dt.date(2026, 11, 24))) is None


def test_an_answer_computed_at_an_older_version_than_read_since_is_not_kept():
    kept = answers()
    key = ("targets", '{"year": 2026}', dt.date(2026, 11, 23))
    kept.get("v1", key)                          # call A reads v1 ...
    kept.get("v2", key)                          # ... call B reads v2, after a batch
    kept.put("v1", key, Reply(ROWS))             # A's answer (of v1 or newer) is dropped
    assert kept.get("v2", key) is None
    reply = kept.put("v2", key, Reply(ROWS))
    assert kept.get("v2", key) is reply


def test_the_number_kept_is_bounded_and_zero_keeps_none():
    kept = answers(size=2)
    for n in range(3):
        kept.get("v", n)
        kept.put("v", n, Reply([n]))
    assert kept.get("v", 0) is None and kept.get("v", 2).result() == [2]
    none = answers(size=0)
    none.get("v", 1)
    none.put("v", 1, Reply([1]))
    assert none.get("v", 1) is None
    configured = Answers()
    configured.container = SimpleNamespace(config={"REPORTING": {"answers": "0"}})
    configured.setup()
    assert configured.size == 0
