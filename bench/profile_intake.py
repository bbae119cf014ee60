"""Where enrolment's intake spends its time, per event type, without the broker.

    python -m bench.profile_intake [--people 1000000] [--events 20000] [--green] [--cprofile N]

Applies the stream of ``bench.intake_mixed`` (same generator, same seed) in
this process with the service's own code path (``EventInbox.apply`` with
``IntakeBatch``, batches of 200, one transaction each) against a fresh
database seeded the same way, and reports per event type: wall time per
event, how much of it is spent inside SQL statements and how many statements
it runs, and the most expensive statements. Then it publishes the outbox the
batches wrote with the service's relay (``relay_once``, batches of 500, to a
bound sink queue) and reports its cost per outbox event.

``--green`` monkey-patches with eventlet first, as ``nameko run`` does, so
psycopg2 waits in the eventlet hub. ``--cprofile N`` prints the N functions
with the most own time per event type (slower; figures then include the
profiler's overhead). A diagnostic, not a benchmark: nothing else runs.
"""
import sys

if "--green" in sys.argv:
    import eventlet
    eventlet.monkey_patch()

import argparse  # noqa: E402
import collections  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

warnings.filterwarnings("ignore")

import psycopg2.extras  # noqa: E402
from kombu import Connection  # noqa: E402

import shared.db  # noqa: E402
from bench.intake_mixed import MixedIntake, autovacuum_pass, seed_register  # noqa: E402
from deploy.scratch import scratch_environment  # noqa: E402
from deploy.stack import ROOT  # noqa: E402
from services.enrolment import intake  # noqa: E402
from shared.consumer import Delivery  # noqa: E402
from shared.inbox import EventInbox  # noqa: E402
from shared.migrations import migrate  # noqa: E402
from shared.outbox import ConfirmingPublisher, relay_once  # noqa: E402

BATCH = 200


class Stats:
    current = None                              # the event type being handled, or a phase name

    def __init__(self):
        self.sql_time = collections.Counter()
        self.sql_count = collections.Counter()
        self.statements = collections.defaultdict(lambda: [0, 0.0])   # (type, stmt) -> [n, s]


STATS = Stats()


def _shape(query):
    text = query.decode() if isinstance(query, bytes) else query
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"VALUES \(.*", "VALUES (...)", text)[:90]


class TimedCursor(shared.db.Cursor):
    def flush(self):
        if self.pending:
            self.execute("SELECT 1 AS flushed")   # sends them, timed as the statement they ride on

    def execute(self, query, vars=None):
        started = time.perf_counter()
        try:
            return super().execute(query, vars)
        finally:
            spent = time.perf_counter() - started
            key = STATS.current
            STATS.sql_time[key] += spent
            STATS.sql_count[key] += 1
            entry = STATS.statements[(key, _shape(query))]
            entry[0] += 1
            entry[1] += spent


def timed_connect(dsn, schema):
    return psycopg2.connect(dsn, options=f"-c search_path={schema}", cursor_factory=TimedCursor)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--green", action="store_true")
    parser.add_argument("--cprofile", type=int, default=0)
    parser.add_argument("--analyze-every", type=float, default=10.0,
                        help="seconds between autovacuum-like passes (0: none)")
    args = parser.parse_args()
    stream = MixedIntake(args.people, args.seed)
    bodies = list(stream.events(args.events))
    shared.db.connect = timed_connect
    with scratch_environment(prefix="vss_prof") as (dsn, amqp_uri):
        migrate(dsn, "enrolment", ROOT / "services" / "enrolment" / "migrations")
        print(f"seeding {args.people:,} people ...", flush=True)
        wait_callback = psycopg2.extensions.get_wait_callback()
        psycopg2.extensions.set_wait_callback(None)   # COPY cannot run green
        seed_register(dsn, args.people)
        psycopg2.extensions.set_wait_callback(wait_callback)
        pool = shared.db.Pool(dsn, "enrolment", 2)
        inbox = EventInbox(pool, None, "enrolment.events", "enrolment.intake")
        wall = collections.Counter()
        count = collections.Counter()
        profiles = collections.defaultdict(cProfile.Profile)

        batch_key = "batch: inbox, people, outbox, commit"
        route = intake.route

        def timed_route(uow, envelope, payload, body):
            # per event type: what applying it costs; the batch's set-wise
            # statements (inbox rows, reading its people, outbox) count apart
            key = envelope["event_type"]
            outer, STATS.current = STATS.current, key
            started = time.perf_counter()
            if args.cprofile:
                profiles[key].enable()
            try:
                return route(uow, envelope, payload, body)
            finally:
                if args.cprofile:
                    profiles[key].disable()
                wall[key] += time.perf_counter() - started
                count[key] += 1
                STATS.current = outer

        intake.route = timed_route
        STATS.current = batch_key

        deliveries = [Delivery(body=json.dumps(b).encode(), exchange="enrolment.intake",
                               routing_key=b["event_type"], headers={},
                               content_type="application/json") for b in bodies]
        vacuum_conn = psycopg2.connect(dsn)
        vacuum_conn.autocommit = True
        last_vacuum, vacuum_seconds = time.perf_counter(), 0.0
        cpu_started, started = time.process_time(), time.perf_counter()
        for start in range(0, len(deliveries), BATCH):
            if args.analyze_every and time.perf_counter() - last_vacuum >= args.analyze_every:
                pass_started = time.perf_counter()
                autovacuum_pass(vacuum_conn.cursor())
                last_vacuum = time.perf_counter()
                vacuum_seconds += last_vacuum - pass_started
            batch_started = time.perf_counter()
            before = sum(wall.values())
            inbox.apply(deliveries[start:start + BATCH], intake.IntakeBatch)
            wall[batch_key] += (time.perf_counter() - batch_started
                                - (sum(wall.values()) - before))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        count[batch_key] = len(deliveries)
        with pool.transaction() as cur:
            cur.execute("SELECT status, count(*) AS n FROM inbox GROUP BY 1")
            statuses = {r["status"]: r["n"] for r in cur.fetchall()}
            cur.execute("SELECT count(*) AS n FROM outbox")
            outbox_rows = cur.fetchone()["n"]

        elapsed -= vacuum_seconds
        print(f"\nautovacuum-like passes every {args.analyze_every:g} s took {vacuum_seconds:.1f} s"
              " (left out of the figures below)")
        print(f"{len(bodies):,} events applied in {elapsed:.1f} s = {len(bodies) / elapsed:,.0f}/s"
              f" in one process ({'eventlet-green' if args.green else 'plain'} psycopg2), Python CPU"
              f" {cpu:.1f} s; inbox {statuses}; {outbox_rows:,} outbox rows"
              f" ({outbox_rows / len(bodies):.2f} per event)")
        print(f"\n{'event type':32} {'events':>7} {'ms/event':>9} {'in SQL':>7} {'stmts':>6}"
              f" {'ms/stmt':>8} {'share':>6}")
        total = sum(wall.values())
        for key in sorted(wall, key=lambda k: -wall[k]):
            n = count[key]
            print(f"{key:32} {n:7,} {wall[key] / n * 1000:9.3f} {STATS.sql_time[key] / n * 1000:7.3f}"
                  f" {STATS.sql_count[key] / n:6.1f}"
                  f" {STATS.sql_time[key] / max(1, STATS.sql_count[key]) * 1000:8.3f}"
                  f" {wall[key] / total:6.1%}")
        print("\nmost expensive statements per event type (ms per event of that type, calls per event):")
        for key in sorted(wall, key=lambda k: -wall[k]):
            rows = sorted(((v[1], v[0], stmt) for (k, stmt), v in STATS.statements.items() if k == key),
                          reverse=True)[:5]
            print(f"  {key}")
            for spent, calls, stmt in rows:
                print(f"    {spent / count[key] * 1000:7.3f} ms {calls / count[key]:5.2f}x  {stmt}")
        if args.cprofile:
            for key in sorted(profiles, key=lambda k: -wall[k]):
                out = io.StringIO()
                pstats.Stats(profiles[key], stream=out).sort_stats("tottime").print_stats(args.cprofile)
                print(f"\n== cProfile {key} ({count[key]:,} events), by own time ==")
                print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))

        # the relay: publish what the batches wrote, as the service does
        with Connection(amqp_uri) as conn:
            channel = conn.default_channel
            channel.exchange_declare("enrolment.events", "topic", durable=True, auto_delete=False)
            channel.queue_declare("sink", durable=True, auto_delete=False)
            channel.queue_bind("sink", "enrolment.events", "#")
        publisher = ConfirmingPublisher(amqp_uri)
        STATS.current = "relay"
        cpu_started, started = time.process_time(), time.perf_counter()
        relayed = 0
        while True:
            sent = relay_once(pool, publisher, 500)
            relayed += sent
            if sent < 500:
                break
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        publisher.close()
        print(f"\nrelay: {relayed:,} outbox events in {elapsed:.1f} s = {relayed / elapsed:,.0f}/s,"
              f" Python CPU {cpu / max(1, relayed) * 1e6:.0f} us and SQL"
              f" {STATS.sql_time['relay'] / max(1, relayed) * 1e6:.0f} us per event;"
              f" per intake event {elapsed / len(bodies) * 1000:.3f} ms")
        pool.close()


if __name__ == "__main__":
    main()
