"""A monthly payment run over N approved beneficiaries, against a bare INSERT … SELECT.

    python -m bench.payment_run [--beneficiaries 1000000] [--period YYYY-MM]
                                [--events default,all] [--explain] [--what-if]

Setup (not timed): a scratch database and vhost, the benefits service started
as a real process (``nameko run``, so its migrations run), then N people and N approved monthly
claims written straight into the benefits schema with ``INSERT … SELECT
generate_series`` (about 80% pensions for life, 20% unemployment benefits
ending a few months after the period; about 2% of the people deceased, 2% of
the claims suspended, 1% overdue for proof of life, 0.6% stopped by
re-employment), then ``VACUUM ANALYZE``.

Measured, for each setting of ``PAYMENTS.per_payment_events`` in ``--events``
(``default``: the configuration's own, ``BENEFITS_PAYMENT_EVENTS`` unset; or
``all``, ``lump_sum``, ``none``), on the same seeded claims with the payments,
runs and outbox truncated and the benefits service restarted in between:

- **bare**: one ``INSERT INTO bench_payments SELECT … FROM benefits.claims JOIN
  benefits.people …`` of the rows the run pays, into a table with the columns
  and indexes of ``benefits.payments`` (primary key, unique (claim_id, period),
  (citizen_id, period)) but no foreign keys, one transaction, from psql-like
  autocommit; ``CHECKPOINT`` before it;
- **run**: ``benefits.run_payments(period)`` over RPC as finance, the whole call
  (``CHECKPOINT`` before it), then a second call (must return the same run and
  pay nobody twice), while the RSS of the benefits process is sampled every 0.5 s.

The ratio printed is run / bare of the same setting; WAL is the server's WAL
position moved during the statement or call (other sessions' writes included).
Only benefits runs: its relay publishes to ``benefits.events``, where a durable
queue capped at 10,000 messages stands in for reporting's queue.

``--explain`` prints EXPLAIN (ANALYZE, BUFFERS, WAL) of one chunk and of
variants of it (rolled back); ``--what-if`` times whole runs of the variants by
calling ``payments.pay_period`` in this process (no RPC, no relay).
"""
import argparse
import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
logging.getLogger("amqp").setLevel(logging.ERROR)  # late health replies while proxies close

import psycopg2  # noqa: E402
import psycopg2.extras  # noqa: E402
from kombu import Connection  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from deploy.scratch import scratch_environment  # noqa: E402
from deploy.stack import ROOT, SERVICES, stop_services, wait_healthy  # noqa: E402
from services.benefits import payments as benefit_payments  # noqa: E402
from services.benefits.payments import month_bounds, months_before  # noqa: E402
from shared.config import DEFAULT_CONFIG  # noqa: E402
from shared.envelope import today_in  # noqa: E402
from shared.provinces import NEW_PROVINCES  # noqa: E402

WORKDIR = ROOT / "var" / "bench-payments"
MIB = 1048576
SINK_QUEUE, SINK_LENGTH = "bench.benefits-events-sink", 10_000

# Rough population in millions of the 34 provinces after 1 July 2025: the
# share of beneficiaries each gets.
PROVINCE_WEIGHTS = {
    "01": 8.7, "04": 0.6, "08": 1.9, "11": 0.65, "12": 0.5, "14": 1.3, "15": 1.8, "19": 1.8,
    "20": 0.8, "22": 1.4, "24": 3.6, "25": 4.0, "31": 4.7, "33": 3.6, "37": 4.4, "38": 4.3,
    "40": 3.8, "42": 1.6, "44": 1.9, "46": 1.4, "48": 3.1, "51": 2.2, "52": 3.6, "56": 2.2,
    "66": 3.3, "68": 3.9, "75": 4.5, "79": 14.0, "80": 3.3, "82": 4.4, "86": 4.3, "91": 3.7,
    "92": 4.2, "96": 2.6,
}
assert set(PROVINCE_WEIGHTS) == set(NEW_PROVINCES)

EXPLANATION = json.dumps([
    "Claim date in the period of the Law on Social Insurance 41/2024/QH15 (from 2025-07-01)",
    "Retirement age reached under Decree 135/2020/ND-CP, Art. 4",
    "20 years of compulsory social insurance: 45% + 2% for each further year (Art. 66)",
    "Average monthly contribution wage, revalued under Circular 20/2024/TT-BLDTBXH",
    "Monthly pension: the rate times the average wage, not below the reference level",
], ensure_ascii=False)

SEED = """
SELECT setseed(0.20261122);
CREATE TEMP TABLE seed AS
SELECT g, s.province_code, s.kind, s.r_dead, s.r_susp, s.r_alive, s.r_stop, s.r_amount,
       s.r_age, s.r_start, s.r_dur, s.male,
       (CASE WHEN s.kind = 'pension' THEN 1940 + floor(s.r_age * 27)
             ELSE 1966 + floor(s.r_age * 38) END)::int AS birth_year
  FROM generate_series(1, %(n)s) g,
       LATERAL (SELECT g AS gg, (%(provinces)s::text[])[1 + floor(random() * %(slots)s)::int]
                       AS province_code,
                       CASE WHEN random() < 0.8 THEN 'pension' ELSE 'unemployment' END AS kind,
                       random() AS r_dead, random() AS r_susp, random() AS r_alive,
                       random() AS r_stop, random() AS r_amount, random() AS r_age,
                       random() AS r_start, random() AS r_dur, random() < 0.5 AS male) s;
ALTER TABLE seed ADD COLUMN citizen_id char(12);
-- 0 + province + century/sex digit + two digits of the year + a 6-digit serial
UPDATE seed SET citizen_id = '0' || province_code
       || ((birth_year / 100 - 19) * 2 + CASE WHEN male THEN 0 ELSE 1 END)::text
       || lpad((birth_year %% 100)::text, 2, '0') || lpad((g %% 1000000)::text, 6, '0');

INSERT INTO benefits.people (citizen_id, si_code, date_of_birth, sex, province_code, status,
                             registered_on, date_of_death)
SELECT citizen_id, province_code || lpad(g::text, 8, '0'),
       make_date(birth_year, 1, 1) + floor(r_age * 1000)::int %% 365,
       CASE WHEN male THEN 'male' ELSE 'female' END, province_code,
       CASE WHEN r_dead < 0.02 THEN 'deceased' ELSE 'active' END,
       date '1995-01-01' + floor(r_start * 8000)::int,
       CASE WHEN r_dead < 0.02 THEN %(first)s::date - 1 - floor(r_dead * 15000)::int END
  FROM seed
    ON CONFLICT (citizen_id) DO NOTHING;

-- Claims in an order unrelated to the people's (claims arrive over the years).
INSERT INTO benefits.claims (citizen_id, kind, claim_date, request, request_hash, status, reasons,
                             monthly_amount, duration_months, start_month, end_month, explanation,
                             rule_period, bank_account, province_code, open, suspended,
                             stopped_from, last_confirmed_alive, decided_at)
SELECT c.citizen_id, c.kind, c.start_month - 20, '{}',
       encode(sha256(convert_to(c.citizen_id || c.kind || c.g::text, 'UTF8')), 'hex'),
       'approved', '[]', c.amount, c.duration, c.start_month,
       CASE WHEN c.duration IS NOT NULL
            THEN (c.start_month + (c.duration - 1) * interval '1 month')::date END,
       %(explanation)s::jsonb, 'law_41_2024',
       CASE WHEN c.g %% 10 < 9 THEN 'VCB' || lpad(c.g::text, 10, '0') END,
       c.province_code, c.stopped_from IS NULL, c.r_susp < 0.02, c.stopped_from,
       CASE WHEN c.r_alive < 0.01 THEN %(first)s::date - 430
            ELSE greatest(c.start_month - 20, %(first)s::date - 1 - floor(c.r_alive * 330)::int)
       END,
       now() - interval '1 day'
  FROM (SELECT s.*, (2000 + floor(s.r_amount * 8000))::bigint * 1000 AS amount,
               d.duration, d.start_month,
               CASE WHEN s.kind = 'unemployment' AND s.r_stop < 0.03 THEN %(first)s::date END
                   AS stopped_from
          FROM seed s
          JOIN benefits.people p ON p.citizen_id = s.citizen_id
                                AND p.si_code = s.province_code || lpad(s.g::text, 8, '0'),
               LATERAL (SELECT CASE WHEN s.kind = 'unemployment' THEN 3 + floor(s.r_dur * 10)::int
                               END AS duration) dd,
               LATERAL (SELECT dd.duration,
                               CASE WHEN s.kind = 'pension'
                                    THEN date_trunc('month', %(first)s::date - 1
                                                    - floor(s.r_start * 9000)::int)::date
                                    -- 1 .. duration-1 months already paid: ends after the period
                                    ELSE (%(first)s::date - (1 + floor(s.r_start * (dd.duration - 1)))::int
                                          * interval '1 month')::date
                               END AS start_month) d
         ORDER BY md5(s.citizen_id)) c;
DROP TABLE seed;
"""

BARE_TABLE = """
DROP TABLE IF EXISTS public.bench_payments;
CREATE TABLE public.bench_payments (
    payment_id    bigserial PRIMARY KEY,
    run_id        bigint NOT NULL,
    claim_id      bigint NOT NULL,
    citizen_id    char(12) NOT NULL,
    kind          text NOT NULL,
    period        date NOT NULL,
    amount        bigint NOT NULL,
    province_code char(2) NOT NULL,
    UNIQUE (claim_id, period)
);
CREATE INDEX bench_payments_citizen ON public.bench_payments (citizen_id, period);
"""

# The rows the run pays, without chunks, skip reasons, ON CONFLICT, events or totals.
BARE_INSERT = """
INSERT INTO public.bench_payments (run_id, claim_id, citizen_id, kind, period, amount, province_code)
SELECT 1, c.claim_id, c.citizen_id, c.kind, %(first)s, c.monthly_amount, p.province_code
  FROM benefits.claims c JOIN benefits.people p USING (citizen_id)
 WHERE c.status = 'approved' AND c.start_month <= %(first)s
   AND (c.end_month IS NULL OR c.end_month >= %(first)s)
   AND (p.date_of_death IS NULL OR p.date_of_death > %(last)s)
   AND NOT c.suspended AND (c.stopped_from IS NULL OR c.stopped_from > %(first)s)
   AND c.last_confirmed_alive >= %(alive_since)s
"""


def run_alive_since(first):
    """The day before which a recipient is overdue for proof of life, as the run computes it."""
    if hasattr(benefit_payments, "alive_since"):
        return benefit_payments.alive_since(first)
    return months_before(first, getattr(benefit_payments, "PROOF_OF_LIFE_MONTHS", 12))


def connect(dsn):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


def scalar(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def execute(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.rowcount


def province_slots():
    """The province codes repeated by weight, 1,000 slots."""
    total = sum(PROVINCE_WEIGHTS.values())
    slots = []
    for code, weight in sorted(PROVINCE_WEIGHTS.items()):
        slots += [code] * max(1, round(1000 * weight / total))
    return slots


def seed(dsn, n, first):
    started = time.perf_counter()
    slots = province_slots()
    conn = connect(dsn)
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.execute(SEED, {"n": n, "provinces": slots, "slots": len(slots), "first": first,
                           "explanation": EXPLANATION})
    conn.commit()
    conn.autocommit = True
    execute(conn, "VACUUM ANALYZE benefits.people")
    execute(conn, "VACUUM ANALYZE benefits.claims")
    counts = {
        "people": scalar(conn, "SELECT count(*) FROM benefits.people"),
        "claims": scalar(conn, "SELECT count(*) FROM benefits.claims"),
        "pension": scalar(conn, "SELECT count(*) FROM benefits.claims WHERE kind = 'pension'"),
        "deceased": scalar(conn, "SELECT count(*) FROM benefits.people WHERE date_of_death IS NOT NULL"),
        "suspended": scalar(conn, "SELECT count(*) FROM benefits.claims WHERE suspended"),
        "provinces": scalar(conn, "SELECT count(DISTINCT province_code) FROM benefits.claims"),
        "claims_mb": scalar(conn, "SELECT pg_total_relation_size('benefits.claims') / 1048576"),
        "people_mb": scalar(conn, "SELECT pg_total_relation_size('benefits.people') / 1048576"),
    }
    conn.close()
    return time.perf_counter() - started, counts


def wal_lsn(conn):
    return scalar(conn, "SELECT pg_current_wal_insert_lsn()")


def wal_since(conn, lsn):
    """WAL written by the whole server since ``lsn`` (other sessions' too), in bytes."""
    return int(scalar(conn, "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", (lsn,)))


def bare_insert(dsn, first, last, alive_since):
    """Returns (seconds, rows, WAL bytes)."""
    conn = connect(dsn)
    execute(conn, BARE_TABLE)
    execute(conn, "CHECKPOINT")
    lsn = wal_lsn(conn)
    started = time.perf_counter()
    rows = execute(conn, BARE_INSERT, {"first": first, "last": last, "alive_since": alive_since})
    elapsed = time.perf_counter() - started
    wal = wal_since(conn, lsn)
    conn.close()
    return elapsed, rows, wal


def reset_runs(dsn):
    """Forget the payments, runs and outbox of a previous setting (services stopped)."""
    conn = connect(dsn)
    execute(conn, "TRUNCATE benefits.payments, benefits.payment_runs, benefits.outbox")
    execute(conn, "VACUUM ANALYZE benefits.claims")
    conn.close()


class RssSampler(threading.Thread):
    """VmRSS of one process every ``interval`` seconds, in MiB."""

    def __init__(self, pid, interval=0.5):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples = []
        self._stop_event = threading.Event()

    def read(self):
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def run(self):
        while not self._stop_event.is_set():
            self.samples.append(self.read())
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()
        self.samples.append(self.read())
        return self.samples


def declare_sink(amqp_uri):
    """A durable queue bound to every benefits event and capped at SINK_LENGTH messages.

    Stands in for reporting's queue: the relay's events are routed and
    confirmed as in production, and the broker drops the oldest beyond the cap.
    """
    with Connection(amqp_uri) as conn:
        channel = conn.default_channel
        channel.exchange_declare("benefits.events", "topic", durable=True, auto_delete=False)
        channel.queue_declare(SINK_QUEUE, durable=True, auto_delete=False,
                              arguments={"x-max-length": SINK_LENGTH, "x-overflow": "drop-head"})
        channel.queue_bind(SINK_QUEUE, "benefits.events", "#")


def run_benefits(dsn, amqp_uri, events):
    """The benefits service alone, as ``nameko run`` in its own process (as deploy.stack does)."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", AMQP_URI=amqp_uri,
               LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
               ENROLMENT_DSN=dsn, BENEFITS_DSN=dsn, REPORTING_DSN=dsn)
    env.pop("BENEFITS_PAYMENT_EVENTS", None)
    if events != "default":
        env["BENEFITS_PAYMENT_EVENTS"] = events
    run_dir, log_dir = WORKDIR / "run", WORKDIR / "log"
    run_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    nameko = Path(sys.executable).with_name("nameko")
    with open(log_dir / "benefits.log", "ab") as log:
        proc = subprocess.Popen(
            [str(nameko), "run", "--config", str(DEFAULT_CONFIG), SERVICES["benefits"]],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (run_dir / "benefits.pid").write_text(str(proc.pid))
    processes = {"benefits": proc}
    wait_healthy(amqp_uri, processes)
    return processes


def timed_runs(dsn, amqp_uri, processes, period):
    conn = connect(dsn)
    execute(conn, "CHECKPOINT")
    load = os.getloadavg()[0]
    sampler = RssSampler(processes["benefits"].pid)
    rss_start = sampler.read()
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=3600,
                         context_data={"auth_token": "dev-finance-token"}) as rpc:
        lsn = wal_lsn(conn)
        sampler.start()
        started = time.perf_counter()
        first = rpc.benefits.run_payments(period)
        first_seconds = time.perf_counter() - started
        samples = sampler.stop()
        wal = wal_since(conn, lsn)
        outbox = {
            "rows": scalar(conn, "SELECT count(*) FROM benefits.outbox"),
            "unsent": scalar(conn, "SELECT count(*) FROM benefits.outbox_unsent"),
        }
        started = time.perf_counter()
        second = rpc.benefits.run_payments(period)
        second_seconds = time.perf_counter() - started
    stored = scalar(conn, "SELECT count(*) FROM benefits.payments")
    distinct = scalar(conn, "SELECT count(DISTINCT (claim_id, period)) FROM benefits.payments")
    conn.close()
    assert second["run_id"] == first["run_id"], (first, second)
    assert second["payments"] == first["payments"] == stored == distinct, (first, second, stored)
    return {"first": first, "first_seconds": first_seconds, "second": second,
            "second_seconds": second_seconds, "stored": stored, "outbox": outbox,
            "rss_start": rss_start, "rss_peak": max(samples), "rss_end": samples[-1],
            "rss_samples": len(samples), "load_before": load, "wal": wal}


# Variants of the chunk statement for --explain and --what-if: per-payment
# events ("all", "lump_sum", "none"), join ("hash": as committed; "lateral":
# each claim's person looked up by primary key), foreign keys on
# benefits.payments ("committed": as the migrations leave them, or a tuple of
# names), chunk size (what-if; None: as committed), ON CONFLICT DO NOTHING
# kept or replaced by an anti-join on payments (the unique key stays).
ALL_FKS = ("payments_run_id_fkey", "payments_claim_id_fkey")
FK_TARGETS = {"payments_run_id_fkey": ("run_id", "payment_runs"),
              "payments_claim_id_fkey": ("claim_id", "claims")}
HASH_JOIN = "FROM claims c JOIN people p USING (citizen_id)"
LATERAL_JOIN = ("FROM claims c CROSS JOIN LATERAL (SELECT province_code, date_of_death FROM people"
                " WHERE people.citizen_id = c.citizen_id OFFSET 0) p")
ON_CONFLICT = "FROM due WHERE skip IS NULL\n    ON CONFLICT DO NOTHING"
ANTI_JOIN = ("FROM due WHERE skip IS NULL AND NOT EXISTS (SELECT 1 FROM payments x"
             " WHERE x.claim_id = due.claim_id AND x.period = %(first)s)")


def variant(name, events="lump_sum", join="hash", fks="committed", chunk=None, on_conflict=True):
    """``on_conflict=False``: the anti-join instead of ON CONFLICT DO NOTHING."""
    return {"name": name, "events": events, "join": join, "fks": fks, "chunk": chunk,
            "on_conflict": on_conflict}


EXPLAIN_VARIANTS = [
    variant("as committed"),
    variant("payment_made for every payment", events="all"),
    variant("with the two FKs of 0003", fks=ALL_FKS),
    variant("people by primary key (LATERAL)", join="lateral"),
    variant("anti-join instead of ON CONFLICT", on_conflict=False),
    variant("LATERAL + anti-join", join="lateral", on_conflict=False),
    variant("LATERAL + anti-join, payment_made for every payment", join="lateral",
            on_conflict=False, events="all"),
]

WHAT_IF = [
    variant("as committed"),
    variant("payment_made for every payment", events="all"),
    variant("with the two FKs of 0003", fks=ALL_FKS),
    variant("people by primary key (LATERAL)", join="lateral"),
    variant("anti-join instead of ON CONFLICT", on_conflict=False),
    variant("chunk 200,000", chunk=200_000),
    variant("LATERAL + anti-join", join="lateral", on_conflict=False),
    variant("LATERAL + anti-join, chunk 200,000", join="lateral", on_conflict=False,
            chunk=200_000),
    variant("LATERAL + anti-join, payment_made for every payment", join="lateral",
            on_conflict=False, events="all"),
]


def chunk_sql(spec, committed):
    """``committed`` (PAY_CHUNK) rewritten as the variant says."""
    sql = committed
    if spec["join"] == "lateral":
        assert HASH_JOIN in sql, "PAY_CHUNK changed: update the LATERAL variant"
        sql = sql.replace(HASH_JOIN, LATERAL_JOIN)
    if not spec["on_conflict"]:
        assert ON_CONFLICT in sql, "PAY_CHUNK changed: update the anti-join variant"
        sql = sql.replace(ON_CONFLICT, ANTI_JOIN)
    return sql


def chunk_params(events):
    return {"per_payment_events": events == "all", "lump_sum_events": events == "lump_sum"}


def committed_fks(cur):
    cur.execute("SELECT conname FROM pg_constraint"
                " WHERE conrelid = 'benefits.payments'::regclass AND contype = 'f'")
    return tuple(sorted(r[0] for r in cur.fetchall()))


def set_foreign_keys(cur, keep):
    for name in ALL_FKS:
        cur.execute(f"ALTER TABLE benefits.payments DROP CONSTRAINT IF EXISTS {name}")
    for name in keep:
        column, table = FK_TARGETS[name]
        cur.execute(f"ALTER TABLE benefits.payments ADD CONSTRAINT {name} FOREIGN KEY ({column})"
                    f" REFERENCES benefits.{table}")


def explain_chunk(dsn, period_first, chunk):
    """EXPLAIN (ANALYZE, BUFFERS, WAL) of one chunk of the run, variants, and the bare insert.

    The chunk is the first ``chunk`` claims of a run of ``period_first``
    created inside one transaction; every variant is rolled back to a
    savepoint and nothing is kept. A first execution warms the caches.
    "WAL (cluster)" is the server's WAL position moved during the statement,
    so it includes the foreign-key triggers and any other session's writes.
    """
    from services.benefits import store
    first, last = month_bounds(period_first)
    params = {"first": first, "last": last, "after": 0, "upto": chunk,
              "alive_since": run_alive_since(first),
              "exchange": "benefits.events", "period_text": first.strftime("%Y-%m")}
    conn = psycopg2.connect(dsn, options="-c search_path=benefits")
    plans = []

    def explain(cur, name, sql, values):
        cur.execute("SELECT pg_current_wal_insert_lsn()")
        before = cur.fetchone()[0]
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, WAL) " + sql, values)
        lines = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", (before,))
        plans.append((name, lines, int(cur.fetchone()[0])))

    with conn.cursor() as cur:
        cur.execute("INSERT INTO payment_runs (period, upto_claim_id)"
                    " SELECT %s, max(claim_id) FROM claims RETURNING run_id", (first,))
        params["run_id"] = cur.fetchone()[0]
        cur.execute("SAVEPOINT warm")
        cur.execute(store.PAY_CHUNK, dict(params, **chunk_params("none")))
        cur.execute("ROLLBACK TO SAVEPOINT warm")
        for spec in EXPLAIN_VARIANTS:
            cur.execute("SAVEPOINT chunk")
            if spec["fks"] != "committed":
                set_foreign_keys(cur, spec["fks"])
            explain(cur, "PAY_CHUNK, " + spec["name"], chunk_sql(spec, store.PAY_CHUNK),
                    dict(params, **chunk_params(spec["events"])))
            cur.execute("ROLLBACK TO SAVEPOINT chunk")
        cur.execute(BARE_TABLE.replace("bench_payments", "bench_explain"))
        explain(cur, "bare INSERT of the same claim ids",
                BARE_INSERT.replace("bench_payments", "bench_explain")
                + " AND c.claim_id > %(after)s AND c.claim_id <= %(upto)s", params)
    conn.rollback()
    conn.close()
    for name, lines, wal in plans:
        print(f"--- EXPLAIN ANALYZE: {name} (claims 1..{chunk:,}, period {first:%Y-%m})")
        print("\n".join(lines))
    print(f"--- EXPLAIN summary (claims 1..{chunk:,})")
    for name, lines, wal in plans:
        text = "\n".join(lines)
        total = re.search(r"Execution Time: ([0-9.]+) ms", text).group(1)
        triggers = sum(float(t) for t in re.findall(r"Trigger for constraint .*? time=([0-9.]+)", text))
        due = re.search(r"CTE due\n.*?actual time=[0-9.]+\.\.([0-9.]+)", text)
        people = re.search(r"on people(?: p)? .*?actual time=[0-9.]+\.\.[0-9.]+ rows=(\d+) loops=(\d+)",
                           text)
        print(f"{name:60s} {float(total):6.0f} ms  FK triggers {triggers:6.0f} ms"
              f"  due/join {float(due.group(1)) if due else 0:6.0f} ms"
              f"  people rows read {int(people.group(1)) * int(people.group(2)) if people else 0:>9,}"
              f"  WAL (cluster) {wal / 1048576:6.1f} MiB")


class _NoRelay:
    def wake(self):
        pass


def what_if(dsn, first, last, alive_since):
    """Each variant on a clean slate (payments, runs and outbox truncated), then a bare insert.

    Calls ``payments.pay_period`` in this process with ``store.PAY_CHUNK``
    replaced by the variant's text for the duration; foreign keys are set on
    the empty payments table and put back as committed afterwards.
    """
    from services.benefits import payments, store
    from shared.db import Pool
    committed_sql = store.PAY_CHUNK
    conn = connect(dsn)
    with conn.cursor() as cur:
        committed = committed_fks(cur)
    results = []
    try:
        for spec in WHAT_IF:
            execute(conn, "TRUNCATE benefits.payments, benefits.payment_runs, benefits.outbox")
            with conn.cursor() as cur:
                set_foreign_keys(cur, committed if spec["fks"] == "committed" else spec["fks"])
            execute(conn, "VACUUM ANALYZE benefits.claims")
            execute(conn, "CHECKPOINT")
            store.PAY_CHUNK = chunk_sql(spec, committed_sql)
            pool = Pool(dsn, "benefits", 1)
            lsn = wal_lsn(conn)
            started = time.perf_counter()
            run = payments.pay_period(pool, _NoRelay(), "benefits.events", first,
                                      per_payment_events=spec["events"],
                                      chunk=spec["chunk"] or payments.CHUNK_CLAIMS)
            seconds = time.perf_counter() - started
            wal = wal_since(conn, lsn)
            pool.close()
            results.append((spec["name"], seconds, run["payments"], wal, os.getloadavg()[0]))
            print(f"what-if {spec['name']}: {seconds:.2f} s", flush=True)
    finally:
        store.PAY_CHUNK = committed_sql
        with conn.cursor() as cur:
            set_foreign_keys(cur, committed)
    conn.close()
    bare_seconds, bare_rows, bare_wal = bare_insert(dsn, first, last, alive_since)
    return results, bare_seconds, bare_wal


def default_events():
    from shared.config import load_config
    return str(load_config(DEFAULT_CONFIG).get("PAYMENTS", {}).get("per_payment_events"))


def print_setting(name, bare_seconds, bare_rows, bare_wal, run):
    first = run["first"]
    shown = f"default ({default_events()})" if name == "default" else name
    print(f"--- per_payment_events={shown}")
    print(f"bare INSERT ... SELECT            : {bare_seconds:7.2f} s  {bare_rows:>10,} rows"
          f"      WAL {bare_wal / MIB:6.0f} MiB")
    print(f"run_payments, first call          : {run['first_seconds']:7.2f} s  "
          f"{first['payments']:>10,} payments  WAL {run['wal'] / MIB:6.0f} MiB"
          f"  total {first['total_amount']:,} VND")
    print(f"  skipped                         : {json.dumps(first['skipped'], sort_keys=True)}")
    print(f"  outbox rows after the run       : {run['outbox']['rows']:,} "
          f"({run['outbox']['unsent']:,} not yet relayed)")
    print(f"run_payments, second call         : {run['second_seconds']:7.2f} s  "
          f"same run {run['second']['run_id']}, payments stored {run['stored']:,}")
    print(f"benefits RSS start/peak/end (MiB) : {run['rss_start']:.1f} / {run['rss_peak']:.1f} / "
          f"{run['rss_end']:.1f}  ({run['rss_samples']} samples)")
    print(f"ratio run / bare                  : {run['first_seconds'] / bare_seconds:.2f}")
    print(f"load average (1 min) before run   : {run['load_before']:.2f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--beneficiaries", type=int, default=1_000_000)
    parser.add_argument("--period", default=today_in().strftime("%Y-%m"),
                        help="YYYY-MM, not in the future (default: this month)")
    parser.add_argument("--events", default="default,all",
                        help="settings of PAYMENTS.per_payment_events to measure, in order:"
                             " default (the configuration's), all, lump_sum, none")
    parser.add_argument("--what-if", action="store_true",
                        help="at the end, time variants of the run by calling pay_period directly"
                             " (events, join through people's key, payments' foreign keys, chunk)")
    parser.add_argument("--explain", action="store_true",
                        help="at the end, EXPLAIN ANALYZE one chunk of a run of the month before"
                             " (rolled back) and the bare insert of the same claims")
    args = parser.parse_args()
    if args.beneficiaries > 1_000_000:
        parser.error("at most 1,000,000 (the synthetic citizen ids use a 6-digit serial)")
    first, last = month_bounds(dt.date.fromisoformat(args.period + "-01"))
    alive_since = run_alive_since(first)
    settings = args.events.split(",")
    if not settings or set(settings) - {"default", "all", "lump_sum", "none"}:
        parser.error("--events: a comma-separated list of default, all, lump_sum, none")

    results = []
    with scratch_environment(prefix="vss_bench_pay") as (dsn, amqp_uri):
        declare_sink(amqp_uri)
        try:
            for index, events in enumerate(settings):
                processes = run_benefits(dsn, amqp_uri, events)
                if index == 0:
                    seed_seconds, counts = seed(dsn, args.beneficiaries, first)
                    print(f"seeded (setup, not timed) in {seed_seconds:.1f} s: "
                          f"{json.dumps(counts)}", flush=True)
                bare_seconds, bare_rows, bare_wal = bare_insert(dsn, first, last, alive_since)
                print(f"bare insert ({events}): {bare_seconds:.2f} s", flush=True)
                run = timed_runs(dsn, amqp_uri, processes, args.period)
                print(f"run_payments ({events}): {run['first_seconds']:.2f} s", flush=True)
                assert bare_rows == run["first"]["payments"], (bare_rows, run["first"])
                results.append((events, bare_seconds, bare_rows, bare_wal, run))
                stop_services(WORKDIR / "run")
                if index + 1 < len(settings):
                    reset_runs(dsn)
        finally:
            stop_services(WORKDIR / "run")
        if args.explain:
            from services.benefits.payments import CHUNK_CLAIMS
            explain_chunk(dsn, months_before(first, 1), CHUNK_CLAIMS)
        variants = what_if(dsn, first, last, alive_since) if args.what_if else None

    print()
    print(f"=== payment run {args.period}: {args.beneficiaries:,} approved monthly beneficiaries, "
          f"cores: {os.cpu_count()}, load before: {os.getloadavg()[0]:.2f} (1 min)")
    for result in results:
        print_setting(*result)
    if variants:
        results, bare_seconds, bare_wal = variants
        print("--- what-if: pay_period called directly (no RPC, no relay), then a bare insert")
        print(f"{'bare INSERT ... SELECT':52s}: {bare_seconds:7.2f} s  WAL {bare_wal / MIB:7.0f} MiB")
        for name, seconds, paid, wal, load in results:
            print(f"{name:52s}: {seconds:7.2f} s  WAL {wal / MIB:7.0f} MiB  {paid:>10,} payments"
                  f"  ratio {seconds / bare_seconds:.2f}  load after {load:.2f}")
    print("targets: whole run <= 60 s and <= 3x bare; benefits RSS flat")


if __name__ == "__main__":
    main()
