"""The relay writes basic.publish frames itself: they must be py-amqp's, byte for byte."""
import json

import pytest
from amqp import Message, spec
from amqp.method_framing import frame_writer
from amqp.serialization import dumps

from shared.outbox import publish_frames


def amqp_frames(channel_id, exchange, routing_key, body, message_id):
    written = []

    class Transport:
        @staticmethod
        def write(data):
            written.append(bytes(data))

    class Connection:
        frame_max = 131072
        bytes_sent = 0

    write = frame_writer(Connection(), Transport())
    write(1, channel_id, spec.Basic.Publish, dumps("Bssbb", (0, exchange, routing_key, True, False)),
          Message(body, content_type="application/json", content_encoding="utf-8",
                  delivery_mode=2, message_id=message_id))
    return b"".join(written)


@pytest.mark.parametrize("exchange, routing_key, body, message_id", [
    ("enrolment.events", "participant_registered",
     json.dumps({"event_id": "e1", "full_name": "Nguyễn Văn A"}, ensure_ascii=False).encode(),
     "0f8e3c52-6f0e-4c51-9d2b-5d7a3f1a2b3c"),
    ("benefits.events", "payment_made", b"{}", "1"),
    ("x" * 255, "y" * 255, b"z" * 100_000, "m" * 255),
])
def test_frames_are_what_py_amqp_writes(exchange, routing_key, body, message_id):
    assert publish_frames(7, exchange, routing_key, body, message_id) == \
        amqp_frames(7, exchange, routing_key, body, message_id)


def test_a_name_longer_than_a_short_string_is_refused():
    with pytest.raises(ValueError):
        publish_frames(1, "x" * 256, "k", b"{}", "m")
