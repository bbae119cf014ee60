"""The baseline: a bare kombu consumer doing one INSERT (and commit) per message.

Run as a child process by bench.intake_e2e: it declares its queue, prints
``ready``, consumes ``count`` messages and prints nothing else.
"""
import json
import sys

import psycopg2
from kombu import Connection, Consumer, Queue


def main(dsn, amqp_uri, queue_name, count):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS bare_people (event_id text PRIMARY KEY, body jsonb)")
    done = 0

    def on_message(body, message):
        nonlocal done
        data = body if isinstance(body, dict) else json.loads(body)
        cur.execute("INSERT INTO bare_people (event_id, body) VALUES (%s, %s)",
                    (data["event_id"], json.dumps(data["payload"])))
        message.ack()
        done += 1

    with Connection(amqp_uri) as amqp:
        queue = Queue(queue_name, durable=True, auto_delete=False)
        with Consumer(amqp, [queue], callbacks=[on_message], accept=["json", "application/json"],
                      prefetch_count=100):
            print("ready", flush=True)
            while done < count:
                amqp.drain_events(timeout=60)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
