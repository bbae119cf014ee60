"""The outbox's own cost in PostgreSQL: writing events and relaying them.

Two schemas in one scratch database, relayed to one bound queue on a scratch
vhost, in alternating rounds so that both see the same machine:

- **marking** (the baseline: the relay of releases before ``shared/migrations/
  0003``): rows are found through the partial index ``outbox_unsent`` and each
  published row is marked with ``UPDATE outbox SET sent_at = now()``;
- **position** (what runs now): writers append under the append lock and the
  relay moves one position (``outbox_relay.sent_upto``) per batch.

Each round writes ``--events`` events in transactions of ``--per-transaction``
rows (an intake batch of 200 events emits about 660), relays each transaction's
rows once it commits (``--backlog``: all of them after the last) in batches of
500 with publisher confirms, then runs ``VACUUM`` on the outbox (the work
autovacuum would do later for the dead rows a marking relay leaves). It prints
the CPU seconds the PostgreSQL backends spent, per event and as a ratio of
position to marking.

    python -m bench.outbox_relay --events 100000 --rounds 3 [--backlog]
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import psycopg2
from kombu import Connection

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deploy.scratch import scratch_environment  # noqa: E402
from shared.db import Pool  # noqa: E402
from shared.migrations import SHARED_DIR  # noqa: E402
from shared.outbox import INSERT_EVENTS, ConfirmingPublisher, UnitOfWork, relay_once  # noqa: E402

EXCHANGE, QUEUE = "bench-outbox.events", "bench-outbox"

MARKING_SELECT = """
SELECT id, event_id, exchange, event_type, body::text AS body FROM outbox
 WHERE sent_at IS NULL AND next_attempt_at <= now()
 ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
"""


def marking_relay_once(pool, publisher, batch_size):
    """The relay as it was: select unsent rows, publish, mark each one sent."""
    with pool.transaction() as cur:
        cur.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s)) AS locked",
                    ("vss-outbox-relay:" + pool.schema,))
        if not cur.fetchone()["locked"]:
            return 0
        cur.execute(MARKING_SELECT, (batch_size,))
        rows = cur.fetchall()
        if not rows:
            return 0
        publisher.publish([(r["event_id"], r["exchange"], r["event_type"], r["body"]) for r in rows])
        cur.execute("UPDATE outbox SET sent_at = now(), attempts = attempts + 1"
                    " WHERE id = ANY(%s)", ([r["id"] for r in rows],))
        return len(rows)


def body(n):
    return {"citizen_id": f"{n:012d}", "month": "2026-10", "contribution_wage": 7_500_000,
            "employee_amount": 600_000, "employer_amount": 1_312_500, "scheme": "compulsory_si"}


def write(pool, events, per_transaction, marking):
    written = 0
    while written < events:
        size = min(per_transaction, events - written)
        with pool.transaction() as cur:
            uow = UnitOfWork(cur, EXCHANGE)
            for n in range(written, written + size):
                uow.emit("contribution_recorded", body(n))
            if marking:     # the insert without the append lock
                cur.execute(INSERT_EVENTS, [list(c) for c in zip(*uow.events)])
                uow.events = []
            else:
                uow.flush()
        written += size


def cpu_seconds(pid):
    """User and system CPU of process ``pid`` so far (a server backend on this machine)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_round(dsn, schema, amqp_uri, args, marking):
    pool = Pool(dsn, schema, 1)     # one connection: its server process is measured
    publisher = ConfirmingPublisher(amqp_uri)
    with pool.transaction() as cur:
        cur.execute("SELECT pg_backend_pid() AS pid")
        pid = cur.fetchone()["pid"]
    before, started = cpu_seconds(pid), time.perf_counter()
    relay = marking_relay_once if marking else relay_once
    sent = 0
    # steady state: the relay publishes each transaction's events once it commits, as
    # wake() has it; --backlog: everything is written first (a relay catching up)
    step = args.events if args.backlog else args.per_transaction
    for first in range(0, args.events, step):
        write(pool, min(step, args.events - first), args.per_transaction, marking)
        while True:
            done = relay(pool, publisher, 500)
            sent += done
            if done < 500:
                break
    wrote_and_relayed = cpu_seconds(pid) - before
    with pool.transaction() as cur:
        cur.execute("SELECT pg_backend_pid() AS pid")
        assert cur.fetchone()["pid"] == pid
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        vacuum_pid = cur.fetchone()[0]
        vacuum_before = cpu_seconds(vacuum_pid)
        cur.execute(f'VACUUM "{schema}".outbox')
        vacuumed = cpu_seconds(vacuum_pid) - vacuum_before
    conn.close()
    seconds = time.perf_counter() - started
    publisher.close()
    pool.close()
    with Connection(amqp_uri) as conn:
        received = conn.default_channel.queue_purge(QUEUE)
    assert sent == args.events and received == args.events, (sent, received)
    return {"db": wrote_and_relayed, "vacuum": vacuumed, "seconds": seconds}


def setup(dsn, amqp_uri):
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        for schema, files in (("marking", ("0001", "0002")), ("position", ("0001", "0002", "0003"))):
            cur.execute(f'CREATE SCHEMA "{schema}"; SET search_path TO "{schema}"')
            for path in sorted(SHARED_DIR.glob("*.sql")):
                if path.name[:4] in files:
                    cur.execute(path.read_text())
    conn.close()
    with Connection(amqp_uri) as conn:
        channel = conn.default_channel
        channel.exchange_declare(EXCHANGE, "topic", durable=True, auto_delete=False)
        channel.queue_declare(QUEUE, durable=True, auto_delete=False)
        channel.queue_bind(QUEUE, EXCHANGE, "#")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--per-transaction", type=int, default=660)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backlog", action="store_true",
                        help="write every event before relaying (a relay catching up)")
    args = parser.parse_args()
    results = {"marking": [], "position": []}
    with scratch_environment(prefix="vss_bench_outbox") as (dsn, amqp_uri):
        setup(dsn, amqp_uri)
        for n in range(args.rounds):
            for name in (("marking", "position") if n % 2 == 0 else ("position", "marking")):
                result = one_round(dsn, name, amqp_uri, args, name == "marking")
                results[name].append(result)
                print(f"[bench] round {n + 1} {name:8s}: PostgreSQL CPU {result['db']:.2f} s"
                      f" writing and relaying, {result['vacuum']:.2f} s vacuum;"
                      f" {result['seconds']:.1f} s", flush=True)
    per_event = {name: [1e6 * (r["db"] + r["vacuum"]) / args.events for r in rows]
                 for name, rows in results.items()}
    print("=" * 78)
    print(f"outbox: {args.events:,} events a round in transactions of {args.per_transaction},"
          f" relayed in batches of 500 {'after all were written' if args.backlog else 'after each'}"
          f" transaction, {args.rounds} rounds each, alternating")
    for name, values in per_event.items():
        print(f"{name:9s} PostgreSQL CPU per event (write + relay + vacuum): "
              + ", ".join(f"{v:.1f}" for v in values) + " us")
    ratio = sum(per_event["position"]) / sum(per_event["marking"])
    print(f"ratio position / marking: {ratio:.2f}")
    print(json.dumps({k: [round(v, 1) for v in vs] for k, vs in per_event.items()}))
    print("=" * 78)


if __name__ == "__main__":
    main()
