"""The baseline of bench.intake_mixed: a bare kombu consumer with batched INSERTs.

    python -m bench.bare_batch_consumer DSN AMQP_URI QUEUE COUNT [BATCH_SIZE] [BATCH_WAIT_MS]

Consumes raw messages the way the services' batch consumer does (prefetch
twice the batch, a batch is full at BATCH_SIZE or after BATCH_WAIT_MS), and
per batch parses each JSON body, writes all of them with one multi-row
``INSERT`` (``execute_values``), commits once and acks the batch with one
``basic_ack(multiple=True)``. No validation, no rules, no outbox.

Run as a child process: prints ``ready`` once consuming, and after COUNT
messages ``done <epoch seconds of the last commit>``.
"""
import json
import socket
import sys
import time

import psycopg2
import psycopg2.extras
from kombu import Connection

TABLE = "bare_intake"


def main(dsn, amqp_uri, queue_name, count, batch_size=200, batch_wait_ms=20):
    db = psycopg2.connect(dsn)
    cur = db.cursor()
    cur.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (event_id text PRIMARY KEY,"
                " event_type text NOT NULL, body jsonb NOT NULL)")
    db.commit()
    wait = batch_wait_ms / 1000
    buffer = []
    done = 0
    last_commit = None

    def on_message(message):
        buffer.append((message.body, message.delivery_info["delivery_tag"]))

    def flush(channel, batch):
        rows = []
        for body, _ in batch:
            text = body.decode("utf-8") if isinstance(body, bytes) else body
            data = json.loads(text)
            rows.append((data["event_id"], data["event_type"], text))
        psycopg2.extras.execute_values(
            cur, f"INSERT INTO {TABLE} (event_id, event_type, body) VALUES %s", rows,
            page_size=len(rows))
        db.commit()
        channel.basic_ack(batch[-1][1], multiple=True)
        return len(rows)

    with Connection(amqp_uri) as amqp:
        channel = amqp.channel()
        channel.basic_qos(0, batch_size * 2, False)
        channel.basic_consume(queue_name, callback=on_message)
        print("ready", flush=True)
        first_at = None
        while done < count:
            try:
                amqp.drain_events(timeout=wait if buffer else 60)
            except socket.timeout:
                pass
            if buffer and first_at is None:
                first_at = time.monotonic()
            full = len(buffer) >= batch_size
            waited = first_at is not None and time.monotonic() - first_at >= wait
            if buffer and (full or waited):
                batch, buffer[:] = buffer[:batch_size], buffer[batch_size:]
                first_at = time.monotonic() if buffer else None
                done += flush(channel, batch)
                last_commit = time.time()
    print(f"done {last_commit:.6f}", flush=True)
    db.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]),
         *(int(a) for a in sys.argv[5:7]))
