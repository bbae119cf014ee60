"""Reporting: lag from publish to visible in ``coverage``, and query latency over RPC
with 10,000,000 participants in the aggregates, against bare baselines, same run.

    python -m bench.reporting [--rate 1000] [--seconds 60] [--participants 10000000]
                              [--queries 500] [--query-budget 120] [--every 10] [--poll-ms 50]
                              [--explain] [--profile] [--whatif] [--before REV]

One scratch database and vhost for the whole run.

1. **Bare lag baseline** (before any service runs): a queue of its own bound to
   ``enrolment.events`` for ``coverage_started``, drained by a bare kombu
   consumer in a child process (prefetch 400, one ack per message); a publisher
   child publishes the same synthetic ``coverage_started`` bodies at ``--rate``
   events/s for ``--seconds`` (token bucket, persistent, one confirm wait per
   tick's batch). Lag = consume time minus publish time (a header), every message.
2. The three services start as real processes (``nameko run``, as
   ``deploy.stack`` does; the migrations run); reporting's read models are then
   seeded with SQL so that they represent ``--participants`` people (see
   ``seed_reporting``), then ``VACUUM ANALYZE``.
3. **Lag**: the same publisher at the same rate into ``enrolment.events``. Every
   ``--every``-th event is a *marker*: province 12 (Lai Châu), scheme
   ``voluntary_si``; no other event uses that pair. Reporting applies events in
   queue order, so marker k is visible once ``coverage(province_code="12")``
   shows the seeded count + k. A poller calls that RPC every ``--poll-ms``; a
   marker's lag is at most (end of the first poll that shows it) - (its publish
   time) and at least (start of the poll before) - (publish time). The upper
   bound is the figure reported; both are printed.
4. **Queries**: one warm ``ClusterRpcProxy`` (token ``dev-planner-token``), each
   query ``--queries`` times in a row (or until ``--query-budget`` seconds),
   after 3 warm-up calls, in two modes: **kept**, repeated calls as served
   (reporting keeps encoded answers while its read models are unchanged, so all
   but the first come from there), and **fresh**, where the bench commits a
   write of ``read_model_clock`` from its own connection before each call,
   outside the timed interval, so every call computes its figures afresh (what
   a call sees when a projection batch committed just before it: most calls
   while events flow). The target is judged on the fresh calls. The bare
   baseline is ``reporting.health()`` (no token, one trivial transaction),
   measured before and after the queries, and fresh (after a commit) too.

``--explain`` prints EXPLAIN ANALYZE of reporting's SQL on the seeded tables;
``--profile`` profiles ``services.reporting.queries`` in this process;
``--whatif`` times, in this process, the figures as the code of ``--before`` (a git
revision; by default the last one without the monthly roll-up) computed them against
the code of the working tree, and checks that both give the same figures.
"""
import argparse
import cProfile
import datetime as dt
import io
import json
import logging
import os
import pstats
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings

warnings.filterwarnings("ignore")
logging.getLogger("amqp").setLevel(logging.ERROR)

import amqp  # noqa: E402
import psycopg2  # noqa: E402
import psycopg2.extras  # noqa: E402
from kombu import Connection, Consumer, Queue  # noqa: E402

from deploy.stack import ROOT  # noqa: E402
from shared.envelope import today_in  # noqa: E402
from shared.provinces import NEW_PROVINCES, OLD_PROVINCES, OLD_TO_NEW, REORGANISED_ON  # noqa: E402

EXCHANGE, ROUTING_KEY = "enrolment.events", "coverage_started"
BARE_QUEUE = "bench.bare-reporting-lag"
MARKER_PROVINCE, MARKER_SCHEME = "12", "voluntary_si"
PLANNER = {"auth_token": "dev-planner-token"}

# Rough population (millions, about 2023) of the 63 provinces before 1 July 2025:
# each province's share of the register; a new province's share is its old ones'.
OLD_POPULATION = {
    "01": 8.5, "02": 0.9, "04": 0.55, "06": 0.33, "08": 0.8, "10": 0.77, "11": 0.64, "12": 0.48,
    "14": 1.3, "15": 0.84, "17": 0.88, "19": 1.33, "20": 0.8, "22": 1.35, "24": 1.9, "25": 1.5,
    "26": 1.2, "27": 1.5, "30": 1.95, "31": 2.1, "33": 1.3, "34": 1.87, "35": 0.88, "36": 1.88,
    "37": 1.0, "38": 3.7, "40": 3.4, "42": 1.3, "44": 0.91, "45": 0.65, "46": 1.16, "48": 1.2,
    "49": 1.5, "51": 1.25, "52": 1.5, "54": 0.88, "56": 1.26, "58": 0.6, "60": 1.25, "62": 0.58,
    "64": 1.6, "66": 1.9, "67": 0.67, "68": 1.33, "70": 1.03, "72": 1.19, "74": 2.76, "75": 3.3,
    "77": 1.2, "79": 9.4, "80": 1.73, "82": 1.8, "83": 1.3, "84": 1.0, "86": 1.03, "87": 1.6,
    "89": 1.9, "91": 1.75, "92": 1.25, "93": 0.73, "94": 1.2, "95": 0.92, "96": 1.2,
}
assert set(OLD_POPULATION) == set(OLD_PROVINCES)
NEW_POPULATION = {new: 0.0 for new in NEW_PROVINCES}
for _old, _people in OLD_POPULATION.items():
    NEW_POPULATION[OLD_TO_NEW[_old]] += _people

# Net participants per scheme as a share of the people registered, and since when
# VSS holds the scheme (HI from 2003, voluntary SI from 2008, UI from 2009).
SCHEME_SHARE = {"registered": 1.0, "health": 0.92, "compulsory_si": 0.19,
                "unemployment": 0.16, "voluntary_si": 0.026}
SCHEME_FROM = {"registered": dt.date(1995, 1, 1), "compulsory_si": dt.date(1995, 1, 1),
               "health": dt.date(2003, 1, 1), "voluntary_si": dt.date(2008, 1, 1),
               "unemployment": dt.date(2009, 1, 1)}
# Ends as a share of starts over the years (the register has no ends).
CHURN = {"registered": 0.0, "health": 0.5, "compulsory_si": 0.45, "unemployment": 0.45,
         "voluntary_si": 0.6}
FIRST_DAY = dt.date(1995, 1, 1)
# Non-marker events of the stream: scheme shares of coverage_started.
STREAM_SCHEMES = [("health", 0.5), ("compulsory_si", 0.2), ("unemployment", 0.18),
                  ("voluntary_si", 0.12)]


# -- helpers ----------------------------------------------------------------------

def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def split(total, weights):
    """``total`` split by ``weights`` into integers that sum to it (largest remainder)."""
    whole = sum(weights.values())
    raw = {k: total * w / whole for k, w in weights.items()}
    parts = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - parts[k], reverse=True)[:total - sum(parts.values())]:
        parts[k] += 1
    return parts


def day_weight(day):
    """How busy a day is: more every year, little on Saturdays, less on Sundays."""
    return (1 + 0.1 * (day.year - 1995)) * {6: 0.4, 7: 0.1}.get(day.isoweekday(), 1.0)


def days(first, last):
    while first <= last:
        yield first
        first += dt.timedelta(days=1)


def connect(dsn, schema=None):
    conn = psycopg2.connect(dsn, options=f"-c search_path={schema}" if schema else None)
    conn.autocommit = True
    return conn


def scalar(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid):
    """utime + stime of a process and its threads, in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the seed ---------------------------------------------------------------------

def seed_targets(participants, today):
    """``(code, scheme, first_day, last_day, starts, ends)`` per province code (old codes
    up to 30 Jun 2025, new ones after) and scheme: the totals the daily rows add up to."""
    last_old = REORGANISED_ON - dt.timedelta(days=1)
    rows = []
    for scheme, share in SCHEME_SHARE.items():
        net = round(participants * share)
        before = sum(day_weight(d) for d in days(SCHEME_FROM[scheme], last_old))
        after = sum(day_weight(d) for d in days(REORGANISED_ON, today))
        net_old = round(net * before / (before + after))
        for (first, last), population, era_net in (
                ((SCHEME_FROM[scheme], last_old), OLD_POPULATION, net_old),
                ((REORGANISED_ON, today), NEW_POPULATION, net - net_old)):
            for code, n in sorted(split(era_net, population).items()):
                ends = round(n * CHURN[scheme] / (1 - CHURN[scheme]))
                rows.append((code, scheme, first, last, n + ends, ends))
    return rows


SEED_COVERAGE = """
SET LOCAL work_mem = '256MB';
SELECT setseed(0.20261122);
CREATE TEMP TABLE seed_raw ON COMMIT DROP AS
SELECT t.code, t.scheme, t.first_day AS era, d::date AS day,
       t.starts::float8 AS t_starts, t.ends::float8 AS t_ends,
       f.w * (0.6 + 0.8 * random()) AS ws, f.w * (0.6 + 0.8 * random()) AS we
  FROM seed_targets t,
       generate_series(t.first_day, t.last_day, interval '1 day') d,
       LATERAL (SELECT ((1 + 0.1 * (extract(year FROM d) - 1995))
                        * CASE extract(isodow FROM d) WHEN 7 THEN 0.1 WHEN 6 THEN 0.4 ELSE 1 END
                       )::float8 AS w) f;
-- Cumulative rounding: each (code, scheme, era) adds up to exactly its starts and ends.
INSERT INTO coverage_changes (day, province_code, scheme, starts, ends)
SELECT day, code, scheme, s, e FROM (
  SELECT day, code, scheme,
         (round(cs * t_starts / ts) - round(coalesce(lag(cs) OVER w, 0) * t_starts / ts))::bigint AS s,
         (round(ce * t_ends / te) - round(coalesce(lag(ce) OVER w, 0) * t_ends / te))::bigint AS e
    FROM (SELECT r.*, sum(ws) OVER w AS cs, sum(ws) OVER p AS ts,
                 sum(we) OVER w AS ce, sum(we) OVER p AS te
            FROM seed_raw r
          WINDOW w AS (PARTITION BY code, scheme, era ORDER BY day),
                 p AS (PARTITION BY code, scheme, era)) x
  WINDOW w AS (PARTITION BY code, scheme, era ORDER BY day)) y
 WHERE s <> 0 OR e <> 0
 ORDER BY day, code, scheme;
INSERT INTO participant_counts (province_code, scheme, participants)
SELECT province_code, scheme, sum(starts - ends) FROM coverage_changes GROUP BY 1, 2;
-- The monthly roll-up the projection keeps beside coverage_changes (as migration 0007 fills it).
INSERT INTO coverage_monthly (month, province_code, scheme, starts, ends, resumed, moved_in, moved_out)
SELECT date_trunc('month', day)::date, province_code, scheme, sum(starts), sum(ends), sum(resumed),
       sum(moved_in), sum(moved_out)
  FROM coverage_changes GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
-- (each month gets its version from the roll-up's triggers, migration 0008)
"""

# Yearly targets per province of today's map and for VN: 8% above last year's starts.
SEED_TARGETS = """
INSERT INTO targets (year, province_code, scheme, measure, name, starts_on, ends_on, target)
SELECT %(year)s, unit, scheme, 'new_participants', '', %(first)s, %(last)s,
       greatest(1, round(1.08 * sum(starts)))
  FROM (SELECT CASE WHEN g = 0 THEN m.unit ELSE 'VN' END AS unit, c.scheme, c.starts
          FROM coverage_changes c JOIN seed_units m ON m.code = c.province_code,
               (VALUES (0), (1)) v(g)
         WHERE c.day BETWEEN %(prev_first)s AND %(prev_last)s AND c.scheme <> 'registered') s
 GROUP BY unit, scheme;
INSERT INTO targets (year, province_code, scheme, measure, name, starts_on, ends_on, target)
SELECT %(year)s, unit, scheme, 'new_participants', name, starts_on, ends_on,
       greatest(1, round(1.3 * (SELECT sum(starts) FROM coverage_changes c
                                  JOIN seed_units m ON m.code = c.province_code
                                 WHERE c.scheme = t.scheme AND (t.unit = 'VN' OR m.unit = t.unit)
                                   AND c.day BETWEEN t.starts_on - interval '1 year'
                                                 AND t.ends_on - interval '1 year')))
  FROM (VALUES ('VN', 'voluntary_si', 'Tháng cao điểm vận động BHXH tự nguyện',
                %(campaign_first)s::date, %(campaign_last)s::date),
               ('42', 'health', 'Tháng vận động BHYT hộ gia đình',
                %(campaign2_first)s::date, %(campaign2_last)s::date))
       t(unit, scheme, name, starts_on, ends_on);
INSERT INTO targets (year, province_code, scheme, measure, name, starts_on, ends_on, target)
VALUES (%(year)s, 'VN', 'health', 'coverage_rate', '', %(first)s, %(last)s, 95),
       (%(year)s, 'VN', 'social_insurance', 'coverage_rate', '', %(first)s, %(last)s, 45),
       (%(year)s, '42', 'social_insurance', 'coverage_rate', '', %(first)s, %(last)s, 35);
"""


def benefit_rows(participants, today):
    """``(month, province_code, kind, payments, amount)`` for 2024-01 .. this month: about
    3.3% of the register on a pension (6.2 M VND a month, +15% from July 2024), 0.16% on
    unemployment benefit (4.2 M), 0.09% paid a lump sum per month (48 M); old province
    codes before July 2025, new ones after."""
    rng = random.Random(20261122)
    rows = []
    month = dt.date(2024, 1, 1)
    while month <= today.replace(day=1):
        years = (month - dt.date(2024, 1, 1)).days / 365.25
        population = OLD_POPULATION if month < REORGANISED_ON else NEW_POPULATION
        pension_amount = 6_200_000 * (1.15 if month >= dt.date(2024, 7, 1) else 1.0)
        kinds = {"pension": (0.033 * (1 + 0.03 * years), pension_amount),
                 "unemployment": (0.0016 * (1.3 if month.month in (2, 3) else 1.0), 4_200_000),
                 "lump_sum": (0.0009 * (1.4 if month.month in (1, 2) else 1.0), 48_000_000)}
        for kind, (share, average) in kinds.items():
            for code, n in sorted(split(round(participants * share), population).items()):
                n = max(0, round(n * rng.uniform(0.97, 1.03)))
                if n:
                    rows.append((month, code, kind, n, round(n * average * rng.uniform(0.95, 1.05))))
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return rows


def seed_reporting(dsn, participants, today):
    """Reporting's read models as if ``participants`` people had been registered since 1995.

    - ``coverage_changes``: one row per day, province code and scheme with any change,
      1995-01-01 .. today; old codes up to 30 Jun 2025, new codes after; daily starts
      and ends grow 10% a year with noise, weekends quieter; totals exact per code.
    - ``participant_counts``: the sums of those rows (so ``as_of`` figures agree).
    - ``coverage_monthly``: the same rows summed per month, as the projection keeps it.
    - ``benefit_payments``: per month 2024-01 .. this month, province and kind.
    - ``targets`` for this year: new participants per province and scheme, and for VN;
      coverage-rate targets (VN health 95%, VN SI 45%, Hà Tĩnh SI 35%); two campaigns.
    - ``denominators`` for this year (VN, 42, 79) in the same scale as the register.
    """
    started = time.perf_counter()
    year = today.year
    conn = connect(dsn, "reporting")
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE seed_targets (code char(2), scheme text, first_day date,"
                    " last_day date, starts bigint, ends bigint) ON COMMIT DROP")
        psycopg2.extras.execute_values(cur, "INSERT INTO seed_targets VALUES %s",
                                       seed_targets(participants, today))
        cur.execute(SEED_COVERAGE)
        cur.execute("CREATE TEMP TABLE seed_units (code char(2), unit char(2)) ON COMMIT DROP")
        psycopg2.extras.execute_values(cur, "INSERT INTO seed_units VALUES %s", [
            (code, OLD_TO_NEW.get(code, code)) for code in sorted(OLD_PROVINCES.keys()
                                                                  | NEW_PROVINCES.keys())])
        cur.execute(SEED_TARGETS, {
            "year": year, "first": dt.date(year, 1, 1), "last": dt.date(year, 12, 31),
            "prev_first": dt.date(year - 1, 1, 1), "prev_last": dt.date(year - 1, 12, 31),
            "campaign_first": dt.date(year, 10, 1), "campaign_last": dt.date(year, 11, 30),
            "campaign2_first": dt.date(year, 9, 1), "campaign2_last": dt.date(year, 9, 30)})
        psycopg2.extras.execute_values(
            cur, "INSERT INTO benefit_payments (month, province_code, kind, payments, amount)"
                 " VALUES %s", benefit_rows(participants, today), page_size=2000)
        population = participants / 0.93      # the register is about 93% of the population
        shares = {"VN": 1.0, "42": NEW_POPULATION["42"] / sum(NEW_POPULATION.values()),
                  "79": NEW_POPULATION["79"] / sum(NEW_POPULATION.values())}
        psycopg2.extras.execute_values(
            cur, "INSERT INTO denominators (province_code, year, population, labour_force,"
                 " working_age_labour_force, source) VALUES %s",
            [(code, year, round(population * s), round(population * s * 0.53),
              round(population * s * 0.49),
              "bench.reporting: synthetic, in the scale of the seeded register")
             for code, s in shares.items()])
        cur.execute("INSERT INTO read_model_clock (name) VALUES ('coverage'), ('benefits'),"
                    " ('targets'), ('denominators') ON CONFLICT (name) DO UPDATE SET changed_at = now()")
    conn.commit()
    conn.autocommit = True
    with conn.cursor() as cur:
        for table in ("coverage_changes", "coverage_monthly", "participant_counts",
                      "benefit_payments", "targets", "denominators"):
            cur.execute(f"VACUUM ANALYZE {table}")
    facts = {
        "coverage_changes rows": scalar(conn, "SELECT count(*) FROM coverage_changes"),
        "coverage_changes MiB": scalar(
            conn, "SELECT pg_total_relation_size('coverage_changes') / 1048576"),
        "coverage_changes rows after 2025-06-30": scalar(
            conn, "SELECT count(*) FROM coverage_changes WHERE day > '2025-06-30'"),
        "coverage_changes rows this year": scalar(
            conn, "SELECT count(*) FROM coverage_changes WHERE day >= %s", (dt.date(year, 1, 1),)),
        "coverage_monthly rows": scalar(conn, "SELECT count(*) FROM coverage_monthly"),
        "participant_counts rows": scalar(conn, "SELECT count(*) FROM participant_counts"),
        "registered": scalar(conn, "SELECT sum(participants)::bigint FROM participant_counts"
                                   " WHERE scheme = 'registered'"),
        "per scheme": dict(sorted(_fetch(conn, "SELECT scheme, sum(participants)::bigint"
                                              " FROM participant_counts GROUP BY 1"))),
        "benefit_payments rows": scalar(conn, "SELECT count(*) FROM benefit_payments"),
        "targets": dict(_fetch(conn, "SELECT measure || CASE WHEN name = '' THEN '' ELSE"
                                     " ' (campaign)' END, count(*) FROM targets GROUP BY 1")),
        "denominators rows": scalar(conn, "SELECT count(*) FROM denominators"),
    }
    conn.close()
    return time.perf_counter() - started, facts


def _fetch(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


# -- the publisher (a child process) ----------------------------------------------

def synthetic_bodies(count, every, today, seed=20261122):
    """``count`` coverage_started bodies; every ``every``-th one (0, every, ...) is a marker."""
    rng = random.Random(seed)
    codes = sorted(NEW_POPULATION)
    weights = [NEW_POPULATION[c] for c in codes]
    schemes, scheme_weights = zip(*STREAM_SCHEMES)
    for i in range(count):
        if i % every == 0:
            province, scheme = MARKER_PROVINCE, MARKER_SCHEME
        else:
            province = rng.choices(codes, weights)[0]
            scheme = rng.choices(schemes, scheme_weights)[0]
            if (province, scheme) == (MARKER_PROVINCE, MARKER_SCHEME):
                scheme = "health"
        serial = 10_000_000 + i
        valid_from = today - dt.timedelta(days=0 if rng.random() < 0.7 else rng.randint(1, 30))
        yield {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "citizen_id": f"0{province}{rng.randint(0, 3)}{rng.randint(0, 99):02d}{serial % 1_000_000:06d}",
            "si_code": f"{province}{serial:08d}", "scheme": scheme,
            "group_code": rng.choice(("DN", "GD", "HC")) if scheme == "health" else None,
            "valid_from": valid_from.isoformat(), "province_code": province,
            "commune_code": f"{rng.randint(0, 32000):05d}",
        }


def publisher_main(amqp_uri, rate, seconds, every, out_path):
    """Publish ``rate`` x ``seconds`` events at a steady rate; write what was sent to out_path."""
    total = int(rate * seconds)
    bodies = list(synthetic_bodies(total, every, today_in()))
    conn = Connection(amqp_uri)
    conn.ensure_connection(max_retries=3)
    channel = conn.channel()
    channel.exchange_declare(EXCHANGE, "topic", durable=True, auto_delete=False)
    channel.confirm_select()
    state = {"unconfirmed": 0, "nacked": 0, "returned": 0}

    def on_ack(delivery_tag, multiple):
        state["unconfirmed"] = max(0, state["published"] - delivery_tag) if multiple \
            else state["unconfirmed"] - 1

    def on_nack(delivery_tag, multiple):
        state["nacked"] += 1
        on_ack(delivery_tag, multiple)

    channel.events["basic_ack"].add(on_ack)
    channel.events["basic_nack"].add(on_nack)
    channel.events["basic_return"].add(lambda *a: state.__setitem__("returned", state["returned"] + 1))
    state["published"] = 0
    print("ready", flush=True)
    markers, behind = [], 0.0
    sent, t0 = 0, time.monotonic()
    wall0 = time.time()
    while sent < total:
        elapsed = time.monotonic() - t0
        due = min(total, int(elapsed * rate) + 1)
        if due <= sent:
            time.sleep(max(0.0, sent / rate - elapsed))
            continue
        behind = max(behind, elapsed - sent / rate)
        for i in range(sent, due):
            body = dict(bodies[i], occurred_at=dt.datetime.now(dt.timezone.utc)
                        .isoformat(timespec="seconds"))
            published_at = time.time()
            message = amqp.Message(json.dumps(body), content_type="application/json",
                                   content_encoding="utf-8", delivery_mode=2,
                                   message_id=body["event_id"],
                                   application_headers={"x-bench-published-at": published_at})
            channel.basic_publish(message, exchange=EXCHANGE, routing_key=ROUTING_KEY,
                                  mandatory=True)
            state["published"] += 1
            state["unconfirmed"] += 1
            if i % every == 0:
                markers.append(published_at)
        sent = due
        deadline = time.monotonic() + 30
        while state["unconfirmed"] > 0:
            if time.monotonic() > deadline:
                raise SystemExit("publisher: no confirms within 30 s")
            conn.drain_events(timeout=30)
    seconds_taken = time.time() - wall0
    conn.release()
    with open(out_path, "w") as out:
        json.dump({"sent": sent, "markers": markers, "seconds": seconds_taken,
                   "max_behind": behind, "nacked": state["nacked"],
                   "returned": state["returned"]}, out)


class Publisher:
    """The publisher as a child process of this one."""

    def __init__(self, amqp_uri, rate, seconds, every):
        self.out = tempfile.NamedTemporaryFile(prefix="bench-reporting-", suffix=".json",
                                               delete=False).name
        self.child = subprocess.Popen(
            [sys.executable, "-m", "bench.reporting", "_publisher", amqp_uri, str(rate),
             str(seconds), str(every), self.out], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.child.stdout.readline().strip() == "ready"

    def done(self):
        return self.child.poll() is not None

    def result(self):
        if self.child.wait() != 0:
            raise SystemExit("the publisher failed")
        with open(self.out) as data:
            result = json.load(data)
        os.unlink(self.out)
        if result["returned"] or result["nacked"]:
            raise SystemExit(f"publisher: {result['returned']} unroutable, {result['nacked']} nacked")
        return result


# -- the bare lag baseline --------------------------------------------------------

def bare_consumer_main(amqp_uri, count, out_path):
    """Consume ``count`` messages from BARE_QUEUE, ack each; write the lags to out_path."""
    lags = []

    def on_message(body, message):
        lags.append(time.time() - message.headers["x-bench-published-at"])
        message.ack()

    with Connection(amqp_uri) as conn:
        queue = Queue(BARE_QUEUE, no_declare=True)
        with Consumer(conn, [queue], callbacks=[on_message], accept=["json", "application/json"],
                      prefetch_count=400):
            print("ready", flush=True)
            while len(lags) < count:
                conn.drain_events(timeout=120)
    with open(out_path, "w") as out:
        json.dump(lags, out)


def run_bare_lag(amqp_uri, rate, seconds, every):
    with Connection(amqp_uri) as conn:
        channel = conn.default_channel
        channel.exchange_declare(EXCHANGE, "topic", durable=True, auto_delete=False)
        channel.queue_declare(BARE_QUEUE, durable=True, auto_delete=False)
        channel.queue_bind(BARE_QUEUE, EXCHANGE, ROUTING_KEY)
    count = int(rate * seconds)
    out = tempfile.NamedTemporaryFile(prefix="bench-reporting-bare-", suffix=".json",
                                      delete=False).name
    child = subprocess.Popen([sys.executable, "-m", "bench.reporting", "_bare", amqp_uri,
                              str(count), out], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert child.stdout.readline().strip() == "ready"
    load = os.getloadavg()[0]
    publisher = Publisher(amqp_uri, rate, seconds, every)
    published = publisher.result()
    if child.wait(timeout=600) != 0:
        raise SystemExit("the bare consumer failed")
    with open(out) as data:
        lags = json.load(data)
    os.unlink(out)
    with Connection(amqp_uri) as conn:
        conn.default_channel.queue_delete(BARE_QUEUE)
    return {"lags": lags, "published": published, "load": load}


# -- the services -----------------------------------------------------------------

def start_all(dsn, amqp_uri, workdir, names=None, **extra_env):
    """The services (``names``, or all three) as processes, healthy; ``extra_env``
    adds to their environment."""
    from deploy.stack import start_services, wait_healthy
    from shared.config import DEFAULT_CONFIG
    env = dict(os.environ, PYTHONWARNINGS="ignore", AMQP_URI=amqp_uri,
               LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
               ENROLMENT_DSN=dsn, BENEFITS_DSN=dsn, REPORTING_DSN=dsn,
               REPORTING_HTTP_ADDRESS=f"127.0.0.1:{free_port()}", **extra_env)
    processes = start_services(env, workdir / "log", workdir / "run", DEFAULT_CONFIG,
                               names=names)
    try:
        wait_healthy(amqp_uri, processes)
    except Exception:
        from deploy.stack import stop_services
        stop_services(workdir / "run")
        raise
    return processes


def marker_count(rpc):
    return sum(r["participants"] for r in rpc.reporting.coverage(province_code=MARKER_PROVINCE)
               if r["scheme"] == MARKER_SCHEME and r["province_code"] == MARKER_PROVINCE)


def queue_depth(amqp_uri, queue="reporting.events"):
    with Connection(amqp_uri) as conn:
        return conn.default_channel.queue_declare(queue, passive=True).message_count


def run_service_lag(amqp_uri, rate, seconds, every, poll_ms, reporting_pid):
    from nameko.standalone.rpc import ClusterRpcProxy
    markers_expected = len(range(0, int(rate * seconds), every))
    polls, depths = [], []
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=30, context_data=PLANNER) as rpc:
        base = marker_count(rpc)
        load = os.getloadavg()[0]
        cpu_before, wall_before = cpu_seconds(reporting_pid), time.monotonic()
        publisher = Publisher(amqp_uri, rate, seconds, every)
        started = time.time()
        last_depth = 0.0
        while True:
            t_start = time.time()
            seen = marker_count(rpc) - base
            t_end = time.time()
            polls.append((t_start, t_end, seen))
            if t_end - last_depth >= 1.0:
                depths.append(queue_depth(amqp_uri))
                last_depth = time.time()
            if seen >= markers_expected and publisher.done():
                break
            if t_end - started > seconds + 600:
                print(f"lag: only {seen} of {markers_expected} markers visible after 10 minutes")
                break
            time.sleep(max(0.0, poll_ms / 1000 - (time.time() - t_start)))
        cpu_used = cpu_seconds(reporting_pid) - cpu_before
        wall = time.monotonic() - wall_before
    published = publisher.result()
    markers = published["markers"]
    upper, lower = [], []
    j = 0
    for k, published_at in enumerate(markers, start=1):
        while j < len(polls) and polls[j][2] < k:
            j += 1
        if j == len(polls):
            break
        upper.append(polls[j][1] - published_at)
        lower.append(max(0.0, (polls[j - 1][0] if j else polls[j][0]) - published_at))
    gaps = [b[1] - a[1] for a, b in zip(polls, polls[1:])]
    return {"upper": upper, "lower": lower, "published": published, "polls": len(polls),
            "poll_gap_p50": percentile(gaps, 50), "poll_gap_p99": percentile(gaps, 99),
            "poll_rpc_p50": percentile([p[1] - p[0] for p in polls], 50),
            "markers": len(markers), "visible": len(upper), "max_depth": max(depths or [0]),
            "reporting_cpu": cpu_used / wall, "load": load}


def query_list(today):
    year = today.year
    month = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    return [
        ("coverage()", "coverage", {}),
        ("coverage(as_of=2025-06-30)", "coverage", {"as_of": "2025-06-30"}),
        ("coverage(province_code=42)", "coverage", {"province_code": "42"}),
        (f"target_progress({year})", "target_progress", {"year": year}),
        (f"target_progress({year}, province_code=42)", "target_progress",
         {"year": year, "province_code": "42"}),
        (f"benefits_summary({year})", "benefits_summary", {"period": str(year)}),
        (f"benefits_summary({month})", "benefits_summary", {"period": month}),
    ]


def timed_calls(method, kwargs, count, budget, before=None):
    """``(seconds per call, rows)``; ``before()``, if given, runs before each call (warm-up
    calls too), outside the timed interval."""
    for _ in range(3):
        if before:
            before()
        method(**kwargs)
    times, rows = [], None
    deadline = time.perf_counter() + budget
    while len(times) < count and (len(times) < 20 or time.perf_counter() < deadline):
        if before:
            before()
        started = time.perf_counter()
        result = method(**kwargs)
        times.append(time.perf_counter() - started)
        rows = len(result) if isinstance(result, list) else 1
    return times, rows


def settle(amqp_uri, load=1.0, seconds=120):
    """Wait (at most ``seconds``) until reporting's queue is empty and the one-minute
    load average is under ``load``: query latency is measured on its own, not while
    the lag phase's backlog, checkpoint or WAL writing are still being worked off."""
    started = time.time()
    while time.time() - started < seconds:
        if queue_depth(amqp_uri) == 0 and os.getloadavg()[0] < load:
            break
        time.sleep(2)
    return time.time() - started


class BatchCommitter:
    """Commits, from the bench's own connection, the versions a projection batch of
    coverage events writes: reporting's ``read_model_clock`` (its ``coverage`` row, as
    ``store.touch`` writes it) and the version of each month its changes are dated in
    (``coverage_month_clock``, as ``store.add_coverage_monthly`` writes it): this month,
    as for events dated today, and with ``month`` that month too (a back-dated event).
    Reporting keeps encoded answers per read-model version
    (``services/reporting/replies.py``) and every such commit is a new version, so the
    call that follows must read and encode its figures afresh: what a call sees when a
    batch committed just before it, which while events flow is most calls. A month's
    new version also drops the sums over settled months it is in
    (``store.SettledSums``)."""

    def __init__(self, dsn, today, month=None):
        self.conn = connect(dsn, "reporting")  # autocommit: one statement, one commit
        self.months = sorted({today.replace(day=1)} | ({month} if month else set()))

    def __call__(self):
        with self.conn.cursor() as cur:
            cur.execute("INSERT INTO read_model_clock (name) VALUES ('coverage')"
                        " ON CONFLICT (name) DO UPDATE SET changed_at = now();"
                        " INSERT INTO coverage_month_clock AS k (month)"
                        " SELECT unnest(%s::date[]) ON CONFLICT (month)"
                        " DO UPDATE SET version = nextval('coverage_month_version')",
                        (self.months,))

    def close(self):
        self.conn.close()


def run_queries(amqp_uri, dsn, today, count, budget):
    """Each query timed three times over RPC: ``kept``, as served (repeated calls,
    answered from the kept answers once the first has been computed); ``fresh``, with a
    committed batch's versions (``BatchCommitter``: this month's) before each call
    (outside the timed interval), so that every call reads, computes and encodes its
    figures; and ``backdated``, the same with January of this year written too, as by a
    batch with an event dated back there, so that no sums over settled months can be
    used either. ``health()`` likewise: it keeps nothing, so ``fresh`` there is the
    cost of the write's commit alone."""
    from nameko.standalone.rpc import ClusterRpcProxy
    results = {}
    load = os.getloadavg()[0]
    commit = BatchCommitter(dsn, today)
    backdated = BatchCommitter(dsn, today, today.replace(month=1, day=1))
    try:
        with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=120, context_data=PLANNER) as rpc:
            health, _ = timed_calls(rpc.reporting.health, {}, count, budget)
            health_fresh, _ = timed_calls(rpc.reporting.health, {}, count, budget, commit)
            for label, name, kwargs in query_list(today):
                method = getattr(rpc.reporting, name)
                kept, rows = timed_calls(method, kwargs, count, budget)
                fresh, _ = timed_calls(method, kwargs, count, budget, commit)
                back, _ = timed_calls(method, kwargs, count, budget, backdated)
                results[label] = {"kept": kept, "fresh": fresh, "backdated": back, "rows": rows}
            after, _ = timed_calls(rpc.reporting.health, {}, count, budget)
    finally:
        commit.close()
        backdated.close()
    return {"health": health + after, "health_fresh": health_fresh, "queries": results,
            "load": load, "load_after": os.getloadavg()[0]}


# -- diagnostics ------------------------------------------------------------------

class Explaining:
    """A cursor that runs EXPLAIN ANALYZE instead of the statement (also when a store
    function reads through a plain cursor of the same connection)."""

    def __init__(self, cur):
        self.cur, self.plan = cur, None
        self.connection = self

    def cursor(self, **kwargs):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def mogrify(self, sql, params=None):  # (shared.db.fetch_tuples renders first)
        return self.cur.mogrify(sql, params).decode()

    def execute(self, sql, params=None):
        self.cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        self.plan = [r[0] for r in self.cur.fetchall()]

    def fetchall(self):
        return []


def explain(dsn, today):
    """EXPLAIN ANALYZE of the statements behind the queries, on the seeded tables."""
    from services.reporting import queries, store
    year_first = dt.date(today.year, 1, 1)
    ha_tinh, phu_tho = queries.codes_of({"42"}), queries.codes_of({"25"})
    # what target_progress asks for, for the seeded targets (see SEED_TARGETS)
    campaign = (dt.date(today.year, 10, 1), min(dt.date(today.year, 11, 30), today))
    campaign2 = (dt.date(today.year, 9, 1), min(dt.date(today.year, 9, 30), today))
    baseline = year_first - dt.timedelta(days=1)
    ranges, days = [(year_first, today), campaign, campaign2], [today, baseline]
    statements = [
        ("participant_counts() (coverage now)", store.participant_counts, ()),
        ("coverage_sums: the changes after 2025-06-30 and the counts now (coverage as_of)",
         store.coverage_sums, ((), [dt.date(2025, 6, 30)], None, True)),
        (f"coverage_sums: the starts {year_first}..{today}, {campaign[0]}..{today},"
         f" {campaign2[0]}..{campaign2[1]}, the changes after {today} and {baseline}, the"
         " counts now (target_progress, one statement)", store.coverage_sums,
         (ranges, days, None, True)),
        ("coverage_sums, the same for the codes of 42 (target_progress of a province)",
         store.coverage_sums, (ranges, days, ha_tinh, True)),
        (f"benefit_payments({today.year}) (benefits_summary)", store.benefit_payments,
         (year_first, today.replace(day=1))),
        (f"benefit_payments({today.year}, codes of 25) (benefits_summary of a province)",
         store.benefit_payments, (year_first, today.replace(day=1), phu_tho)),
    ]
    conn = connect(dsn, "reporting")
    with conn.cursor() as cur:
        for label, function, args in statements:
            wrapped = Explaining(cur)
            function(wrapped, *args)
            print(f"--- EXPLAIN ANALYZE: {label}")
            print("\n".join(wrapped.plan))
    conn.close()


def profile(dsn, today):
    """The queries in this process, against the seeded database: time in SQL vs Python."""
    from services.reporting import queries
    from services.reporting.domain.figures import load_reference
    reference = load_reference()
    conn = psycopg2.connect(dsn, options="-c search_path=reporting",
                            cursor_factory=psycopg2.extras.RealDictCursor)
    conn.autocommit = True
    year_months = (dt.date(today.year, 1, 1), today.replace(day=1))
    calls = [
        ("coverage()", lambda cur: queries.coverage(cur, reference)),
        ("coverage(as_of=2025-06-30)",
         lambda cur: queries.coverage(cur, reference, dt.date(2025, 6, 30))),
        (f"target_progress({today.year})",
         lambda cur: queries.target_progress(cur, reference, today.year)),
        (f"target_progress({today.year}, province_code=42)",
         lambda cur: queries.target_progress(cur, reference, today.year, "42")),
        (f"benefits_summary({today.year})",
         lambda cur: queries.benefits_summary(cur, *year_months)),
    ]
    from services.reporting import store
    real_tuples = store._tuples
    with conn.cursor() as cur:
        for label, call in calls:
            call(cur)
            profiler = cProfile.Profile()
            counter = {"n": 0}
            real_execute = cur.execute

            def counting(sql, params=None, _real=real_execute):
                counter["n"] += 1
                return _real(sql, params)

            def counting_tuples(cur_, sql, params):  # statements read through plain cursors
                counter["n"] += 1
                return real_tuples(cur_, sql, params)
            cur.execute, store._tuples = counting, counting_tuples
            try:
                started = time.perf_counter()
                profiler.enable()
                call(cur)
                profiler.disable()
                elapsed = time.perf_counter() - started
            finally:
                del cur.execute
                store._tuples = real_tuples
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(12)
            print(f"--- profile: {label}: {elapsed * 1000:.1f} ms in process (profiled),"
                  f" {counter['n']} SQL statements")
            print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))
    conn.close()


# -- before and after -------------------------------------------------------------

BEFORE = "6a04371"  # the last revision without the monthly roll-up (issue 5)


def load_before(rev):
    """``services/reporting/queries.py`` as at git revision ``rev``, with that revision's
    ``store.py`` and ``domain/figures.py``, as modules of their own."""
    import types
    modules = {}
    for name in ("figures", "store", "queries"):
        path = f"services/reporting/{'domain/' if name == 'figures' else ''}{name}.py"
        source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
        module = types.ModuleType(f"before_{name}")
        module.__file__ = f"{rev}:{path}"
        exec(compile(source, module.__file__, "exec"), module.__dict__)
        modules[name] = module
    modules["queries"].store = modules["store"]
    modules["queries"].figures = modules["figures"]
    return modules["queries"]


def whatif(dsn, today, before_rev=BEFORE, repeat=30):
    """p50 in this process (no RPC) of each figure as the code of ``before_rev``
    computed it and as the working tree's code does, on the same seeded tables and
    in one snapshot; fails if the two give different figures."""
    from services.reporting import queries
    from services.reporting.domain.figures import load_reference
    try:
        before = load_before(before_rev)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"--- what if: no code of {before_rev} to compare with ({exc})")
        return
    reference = load_reference()
    conn = psycopg2.connect(dsn, options="-c search_path=reporting",
                            cursor_factory=psycopg2.extras.RealDictCursor)
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    year, month = dt.date(today.year, 1, 1), (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    figures = [
        ("coverage()", "coverage", (reference,)),
        ("coverage(as_of=2025-06-30)", "coverage", (reference, dt.date(2025, 6, 30))),
        ("coverage(as_of=2020-01-01)", "coverage", (reference, dt.date(2020, 1, 1))),
        ("coverage(province_code=42)", "coverage", (reference, None, "42")),
        (f"target_progress({today.year})", "target_progress", (reference, today.year)),
        (f"target_progress({today.year}, province_code=42)", "target_progress",
         (reference, today.year, "42")),
        (f"benefits_summary({today.year})", "benefits_summary", (year, today.replace(day=1))),
        (f"benefits_summary({today.year}, province_code=79)", "benefits_summary",
         (year, today.replace(day=1), "79")),
        (f"benefits_summary({month:%Y-%m})", "benefits_summary", (month, month)),
    ]

    def p50(call, cur):
        call(cur)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            call(cur)
            times.append(time.perf_counter() - started)
        return percentile(times, 50) * 1000

    results = []
    try:
        with conn.cursor() as cur:
            for label, name, args in figures:
                old = lambda c, f=getattr(before, name), a=args: f(c, *a)  # noqa: E731
                new = lambda c, f=getattr(queries, name), a=args: f(c, *a)  # noqa: E731
                same = json.dumps(old(cur), default=str) == json.dumps(new(cur), default=str)
                results.append((label, p50(old, cur), p50(new, cur), same))
    finally:
        conn.rollback()
        conn.close()
    print(f"--- what if: the code of {before_rev} against the working tree's (p50 of {repeat},"
          " in this process, no RPC, one snapshot)")
    print(f"{'figure':52} {'before':>9} {'now':>9}  same figures")
    for label, old_ms, new_ms, same in results:
        print(f"{label:52} {old_ms:6.1f} ms {new_ms:6.1f} ms  {'yes' if same else 'NO'}")
    if not all(same for *_, same in results):
        raise SystemExit("what if: the working tree's figures differ from those of " + before_rev)


# -- main -------------------------------------------------------------------------

def ms(seconds):
    return f"{seconds * 1000:8.1f}"


def main():
    from deploy.scratch import scratch_environment
    from deploy.stack import stop_services

    parser = argparse.ArgumentParser(prog="python -m bench.reporting")
    parser.add_argument("--rate", type=int, default=1000, help="events per second")
    parser.add_argument("--seconds", type=int, default=60, help="length of the stream")
    parser.add_argument("--participants", type=int, default=10_000_000)
    parser.add_argument("--queries", type=int, default=500, help="calls per query")
    parser.add_argument("--query-budget", type=float, default=120.0,
                        help="seconds per query at most (at least 20 calls)")
    parser.add_argument("--every", type=int, default=10, help="every Nth event is a marker")
    parser.add_argument("--poll-ms", type=int, default=50)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--whatif", action="store_true",
                        help="time the figures as the code of --before computed them against"
                             " the working tree's, and check they are the same")
    parser.add_argument("--before", default=BEFORE, metavar="REV",
                        help=f"git revision to compare with (default {BEFORE}, before the"
                             " monthly roll-up)")
    args = parser.parse_args()
    today = today_in()
    workdir = ROOT / "var" / "bench-reporting"
    print(f"[bench] {dt.datetime.now().isoformat(timespec='seconds')}  cores: {os.cpu_count()}"
          f"  load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    with scratch_environment(prefix="vss_bench_reporting") as (dsn, amqp_uri):
        print(f"[bench] bare lag baseline: {args.rate}/s for {args.seconds} s", flush=True)
        bare = run_bare_lag(amqp_uri, args.rate, args.seconds, args.every)
        processes = start_all(dsn, amqp_uri, workdir)
        try:
            print(f"[bench] seeding reporting with {args.participants:,} participants", flush=True)
            seed_seconds, facts = seed_reporting(dsn, args.participants, today)
            print(f"[bench] seeded in {seed_seconds:.1f} s: {json.dumps(facts, default=str)}",
                  flush=True)
            print(f"[bench] services lag: {args.rate}/s for {args.seconds} s", flush=True)
            lag = run_service_lag(amqp_uri, args.rate, args.seconds, args.every, args.poll_ms,
                                  processes["reporting"].pid)
            settled = settle(amqp_uri)
            print(f"[bench] queries: {args.queries} calls each (after {settled:.0f} s for the"
                  " stream's backlog and the machine to settle)", flush=True)
            queries = run_queries(amqp_uri, dsn, today, args.queries, args.query_budget)
            queries["settled"] = settled
        finally:
            stop_services(workdir / "run")
        if args.explain:
            explain(dsn, today)
        if args.profile:
            profile(dsn, today)
        if args.whatif:
            whatif(dsn, today, args.before)

    bare_p50, bare_p99 = percentile(bare["lags"], 50), percentile(bare["lags"], 99)
    up50, up99 = percentile(lag["upper"], 50), percentile(lag["upper"], 99)
    lo50, lo99 = percentile(lag["lower"], 50), percentile(lag["lower"], 99)
    h50, h99 = percentile(queries["health"], 50), percentile(queries["health"], 99)
    pub = lag["published"]
    print()
    print("=" * 100)
    print(f"reporting benchmark  {today}  cores {os.cpu_count()}  participants seeded "
          f"{facts['registered']:,}  coverage_changes rows {facts['coverage_changes rows']:,}")
    print(f"stream: {args.rate}/s x {args.seconds} s coverage_started; services published "
          f"{pub['sent']:,} in {pub['seconds']:.1f} s ({pub['sent'] / pub['seconds']:.0f}/s, "
          f"max {pub['max_behind'] * 1000:.0f} ms behind schedule); bare published "
          f"{bare['published']['sent']:,} in {bare['published']['seconds']:.1f} s")
    print(f"load (1 min) before: bare stream {bare['load']:.2f}, services stream {lag['load']:.2f},"
          f" queries {queries['load']:.2f} (after {queries.get('settled', 0):.0f} s settling;"
          f" {queries['load_after']:.2f} at their end)")
    print("-- lag, publish to visible                           p50 (ms)  p99 (ms)   n")
    print(f"bare kombu consumer, publish -> consumed          {ms(bare_p50)}  {ms(bare_p99)}"
          f"  {len(bare['lags']):,}")
    print(f"services, publish -> in coverage (upper bound)    {ms(up50)}  {ms(up99)}"
          f"  {lag['visible']:,} of {lag['markers']:,} markers")
    print(f"services, publish -> in coverage (lower bound)    {ms(lo50)}  {ms(lo99)}")
    print(f"ratio services (upper) / bare                     {up50 / bare_p50:8.1f}  "
          f"{up99 / bare_p99:8.1f}")
    print(f"poll: every {args.poll_ms} ms, gap p50/p99 {ms(lag['poll_gap_p50']).strip()}/"
          f"{ms(lag['poll_gap_p99']).strip()} ms, poll RPC p50 {ms(lag['poll_rpc_p50']).strip()} ms,"
          f" {lag['polls']} polls; reporting queue max depth {lag['max_depth']:,}; reporting CPU"
          f" {lag['reporting_cpu'] * 100:.0f}% of a core")
    print(f"lag target p99 <= 1 s: {'met' if up99 <= 1.0 else 'MISSED'}")
    hf50, hf99 = percentile(queries["health_fresh"], 50), percentile(queries["health_fresh"], 99)
    print("-- queries over RPC (warm proxy); kept: repeated calls, as served (answers kept while"
          " the read models are unchanged); fresh: this month's versions written and committed"
          " before each call (untimed), as by a batch of today's events, so each call computes"
          " its figures; back-dated: January's too, as by a batch with an event dated back"
          " there (no settled sums kept either)")
    print(f"{'':42} {'kept p50':>8} {'kept p99':>8} {'fresh p50':>9} {'fresh p99':>9}"
          f" {'back p50':>8} {'back p99':>8} {'fresh x bare p50':>16} {'p99':>5}    n  rows   (ms)")
    print(f"{'health()  [bare baseline]':42} {ms(h50)} {ms(h99)} {ms(hf50):>9} {ms(hf99):>9}"
          f" {'':8} {'':8} {1:16.1f} {1:5.1f}  {len(queries['health'])}/{len(queries['health_fresh'])}")
    worst = worst_kept = worst_back = 0.0
    for label, result in queries["queries"].items():
        kept, fresh, back = result["kept"], result["fresh"], result["backdated"]
        k50, k99 = percentile(kept, 50), percentile(kept, 99)
        f50, f99 = percentile(fresh, 50), percentile(fresh, 99)
        b50, b99 = percentile(back, 50), percentile(back, 99)
        if not label.startswith("target_progress") or "province_code" not in label:
            worst, worst_kept, worst_back = max(worst, f99), max(worst_kept, k99), max(worst_back, b99)
        print(f"{label:42} {ms(k50)} {ms(k99)} {ms(f50):>9} {ms(f99):>9} {ms(b50)} {ms(b99)}"
              f" {f50 / hf50:16.1f} {f99 / hf99:5.1f}  {len(kept)}/{len(fresh)}/{len(back)}"
              f"  {result['rows']}")
    print(f"query target p99 <= 20 ms (the issue's five), judged on the fresh calls: "
          f"{'met' if worst <= 0.020 else 'MISSED'} (worst fresh p99 {worst * 1000:.1f} ms;"
          f" worst back-dated p99 {worst_back * 1000:.1f} ms and worst kept p99"
          f" {worst_kept * 1000:.1f} ms, which are not the verdict)")
    print("=" * 100)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_publisher":
        publisher_main(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]),
                       sys.argv[6])
    elif len(sys.argv) > 1 and sys.argv[1] == "_bare":
        bare_consumer_main(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main()
