"""Mixed intake with a large register, against a bare batched consumer, same run.

    python -m bench.intake_mixed [--people 1000000] [--events 200000] [--rate 0]
                                 [--seed 20261122] [--autovacuum auto] [--profile FILE]

1. A fresh database and RabbitMQ vhost (``deploy.scratch``); the three
   services started as real processes, as ``bench.intake_e2e`` does (their
   migrations run at start), on ports of their own.
2. Setup, not measured: ``--people`` people are written straight into
   ``enrolment.people`` with ``COPY`` (valid citizen ids, SI codes from the
   per-province serials, which are then moved past them with ``setval``),
   then ``VACUUM ANALYZE`` of ``people`` (the empty tables are left unanalysed,
   as autovacuum leaves them) and a ``CHECKPOINT``.
3. ``--events`` valid intake events are generated from a seeded RNG in fixed
   proportions (``EVENT_MIX``), dated through 2025, for seeded people and
   for people registered earlier in the stream; every one should be applied,
   and the run prints ``enrolment.inbox`` by status and any rejection reasons.
4. Baseline: the same bodies published to a plain queue and consumed by
   ``bench.bare_batch_consumer`` (one multi-row INSERT and one commit per
   batch of up to 200, then one multiple ack) in a child process.
5. Services: the bodies published to ``enrolment.intake``. An event is
   *applied* when its row in ``enrolment.inbox`` is committed; the rate is
   events / (first publish .. last event applied). Every 50th event (and the
   last) is timed from the moment its publish batch started to the first
   poll that sees its inbox row (a poll every 50 ms), so latencies are upper
   bounds with that resolution. The enrolment process's RSS is sampled
   every second, and the CPU time of every process on the machine is read
   at both ends of the interval.

Publishing is at full speed by default (batches of 500 with one confirm
wait each), so latency includes the queue that builds up; ``--rate N``
publishes N events/s in 50 ms steps instead (the baseline stays at full
speed). The development server runs PostgreSQL with ``autovacuum = off``;
``--autovacuum auto`` then does what autovacuum would (``Autovacuum``), so
that tables that start empty get statistics. ``--profile FILE`` runs
``py-spy record`` on the enrolment process during the services phase
(collapsed stacks with idle frames; figures of a profiled run are not the
benchmark's).
"""
import argparse
import collections
import datetime as dt
import io
import itertools
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings

warnings.filterwarnings("ignore")

import psycopg2  # noqa: E402

from bench.common import declare_bare_queue, synthetic_person  # noqa: E402
from deploy.scratch import scratch_environment  # noqa: E402
from deploy.stack import ROOT, start_services, stop_services, wait_healthy  # noqa: E402
from services.enrolment.domain.cards import hi_group  # noqa: E402
from services.enrolment.domain.compulsory import wage_floor  # noqa: E402
from services.enrolment.domain.contributions import household_hi, voluntary_si  # noqa: E402
from services.enrolment.reference import REFERENCE  # noqa: E402
from shared.config import DEFAULT_CONFIG  # noqa: E402
from shared.outbox import ConfirmingPublisher  # noqa: E402
from shared.provinces import OLD_TO_NEW, REORGANISED_ON  # noqa: E402

EVENT_MIX = {"person.registered": 30, "employment.started": 25, "employment.changed": 15,
             "employment.ended": 5, "contribution.paid": 15, "health.enrolled": 10}
SAMPLE_EVERY = 50
POLL_SECONDS = 0.05
POLL_WINDOW = 40                 # oldest pending samples asked for per poll (2,000 events)
CHUNK = 500
YEAR_START, YEAR_DAYS = dt.date(2025, 1, 1), 364
VIETNAM = dt.timezone(dt.timedelta(hours=7))
NEW_PEOPLE_SHARE = 0.3           # of the events about a person, those about someone registered in the stream
WORKER_SHARE = 3                 # of every 5 people: employed, the others pay voluntarily / are state-covered
STATE_GROUPS = ("HT", "TB", "CN", "HN", "DT", "CC", "HS", "SV")   # groups the state or a fund pays for
EMPLOYER_KINDS = (("enterprise", 80), ("civil_service", 10), ("cooperative", 5), ("other_employer", 5))
REGIONS = ((1, 35), (2, 30), (3, 20), (4, 15))
SUPPORT_GROUPS = (("other", 70), ("poor", 10), ("near_poor", 10), ("ethnic_minority", 10))


# -- the event stream -------------------------------------------------------

def _pick(rng, weighted):
    values, weights = zip(*weighted)
    return rng.choices(values, weights)[0]


def _add_months(first, count):
    year, month = divmod(first.year * 12 + first.month - 1 + count, 12)
    return dt.date(year, month + 1, 1)


class MixedIntake:
    """A valid stream of intake events for ``people`` registered people.

    People 0..people-1 are the seeded register; person.registered events
    register people ``people``, ``people + 1``, ... (``synthetic_person``).
    Three in five people are workers (employment events), the others pay
    voluntary SI or household HI or are enrolled in health insurance by the
    state, so nobody in compulsory SI pays voluntary SI. Changes and ends
    only name employments opened earlier in the stream and still open.
    """

    def __init__(self, people, seed):
        self.rng = random.Random(seed)
        self.people = people
        self.next_index = people
        self.new = {True: [], False: []}          # registered in the stream, by is_worker
        self.open = []                            # [index, employer, region, start, last change]
        self.open_keys = set()
        self.employed = collections.Counter()
        self.paid_until = {}
        self.counts = collections.Counter()
        self.floors = {}
        for code in STATE_GROUPS:                 # fail here, not in the service, if the data changes
            hi_group(REFERENCE, code, YEAR_START)

    @staticmethod
    def is_worker(index):
        return index % 5 < WORKER_SHARE

    def person(self, worker):
        rng = self.rng
        if self.new[worker] and rng.random() < NEW_PEOPLE_SHARE:
            return rng.choice(self.new[worker])
        while True:
            offsets = range(WORKER_SHARE) if worker else range(WORKER_SHARE, 5)
            index = rng.randrange(self.people // 5 + 1) * 5 + rng.choice(offsets)
            if index < self.people:
                return index

    def floor(self, region, day):
        key = (region, day.year, day.month >= 7)
        if key not in self.floors:
            self.floors[key] = wage_floor(REFERENCE, region, day)[0]
        return self.floors[key]

    def salary(self, region, day):
        return self.floor(region, day) + self.rng.randrange(0, 300) * 50_000

    def day_between(self, first, last):
        return first + dt.timedelta(days=self.rng.randrange((last - first).days + 1))

    def events(self, count):
        rng = self.rng
        types, weights = zip(*EVENT_MIX.items())
        for k in range(count):
            day = YEAR_START + dt.timedelta(days=k * YEAR_DAYS // count)
            event_type = rng.choices(types, weights)[0]
            if event_type in ("employment.changed", "employment.ended") and not self.open:
                event_type = "employment.started"
            payload = getattr(self, event_type.replace(".", "_"))(day)
            self.counts[event_type] += 1
            seconds = k % 36000
            yield {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "event_type": event_type,
                "occurred_at": f"{day.isoformat()}T{8 + seconds // 3600:02d}:"
                               f"{seconds // 60 % 60:02d}:{seconds % 60:02d}+07:00",
                "source": "bench-mixed",
                "payload": payload,
            }

    def person_registered(self, day):
        rng, index = self.rng, self.next_index
        self.next_index += 1
        person = synthetic_person(index)
        province = person["province_code"]
        payload = {"citizen_id": person["citizen_id"], "full_name": f"Người Thử {index}",
                   "date_of_birth": person["date_of_birth"].isoformat(), "sex": person["sex"],
                   "province_code": province if day < REORGANISED_ON else OLD_TO_NEW[province],
                   "commune_code": f"{rng.randrange(100000):05d}",
                   "ethnic_minority": rng.random() < 0.15}
        if rng.random() < 0.5:
            payload["household_id"] = f"HH{index:010d}"
        self.new[self.is_worker(index)].append(index)
        return payload

    def employment_started(self, day):
        rng = self.rng
        for _ in range(5):                        # most people hold one job at a time
            index = self.person(worker=True)
            if not self.employed[index]:
                break
        while True:
            employer = f"DN{rng.randrange(100000):05d}"
            if (index, employer) not in self.open_keys:
                break
        region = _pick(rng, REGIONS)
        start = max(YEAR_START, day - dt.timedelta(days=rng.randrange(21)))
        self.open.append([index, employer, region, start, start])
        self.open_keys.add((index, employer))
        self.employed[index] += 1
        return {"citizen_id": synthetic_person(index)["citizen_id"], "employer_code": employer,
                "monthly_salary": self.salary(region, start), "start_date": start.isoformat(),
                "region": region, "employer_kind": _pick(rng, EMPLOYER_KINDS)}

    def employment_changed(self, day):
        employment = self.rng.choice(self.open)
        index, employer, region, _, last_change = employment
        effective = self.day_between(last_change, day)
        employment[4] = effective
        return {"citizen_id": synthetic_person(index)["citizen_id"], "employer_code": employer,
                "monthly_salary": self.salary(region, effective),
                "effective_date": effective.isoformat()}

    def employment_ended(self, day):
        at = self.rng.randrange(len(self.open))
        self.open[at], self.open[-1] = self.open[-1], self.open[at]
        index, employer, _, _, last_change = self.open.pop()
        self.open_keys.discard((index, employer))
        self.employed[index] -= 1
        return {"citizen_id": synthetic_person(index)["citizen_id"], "employer_code": employer,
                "end_date": self.day_between(last_change, day).isoformat(),
                "reason": self.rng.choice(("contract ended", "resigned", "dismissed"))}

    def contribution_paid(self, day):
        rng = self.rng
        scheme = "voluntary_si" if rng.random() < 0.7 else "household_hi"
        while True:                               # a month is paid once: continue where they stopped
            index = self.person(worker=False)
            first = self.paid_until.get((index, scheme), day.replace(day=1))
            if first < dt.date(2026, 7, 1):       # keeps the 2025-2026 rules; a re-pick is rare
                break
        payload = {"citizen_id": synthetic_person(index)["citizen_id"], "scheme": scheme,
                   "period_start": first.strftime("%Y-%m"),
                   "channel": rng.choice(("bank", "post-office", "vssid-app"))}
        if scheme == "voluntary_si":
            months = _pick(rng, ((1, 30), (3, 30), (6, 20), (12, 20)))
            income = rng.randrange(50, 201) * 50_000
            group = _pick(rng, SUPPORT_GROUPS)
            amount = voluntary_si(REFERENCE, income, months, group, first).amounts["total_payable"]
            payload.update(declared_income=income, support_group=group)
        else:
            # one payer per household: always member 1 (position pricing is a unit-test matter)
            months = rng.choice((3, 6, 12))
            amount = household_hi(REFERENCE, 1, months, first).amounts["members"][0]["total"]
            payload["household_id"] = f"HG{index:010d}"
        payload.update(months=months, amount_paid=amount)
        self.paid_until[(index, scheme)] = _add_months(first, months)
        return payload

    def health_enrolled(self, day):
        index = self.person(worker=False)
        return {"citizen_id": synthetic_person(index)["citizen_id"],
                "group_code": self.rng.choice(STATE_GROUPS), "valid_from": day.isoformat(),
                "months": self.rng.choice((6, 12)), "payer": "state"}


# -- setup: the register ------------------------------------------------------

SEED_COLUMNS = ("citizen_id, si_code, full_name, date_of_birth, sex, province_code,"
                " ethnic_minority, registered_on, source_event_id")


def seed_register(dsn, count, chunk=100_000, schema="enrolment", checkpoint=True):
    """``count`` people straight into ``schema``.people; returns seconds taken."""
    started = time.perf_counter()
    conn = psycopg2.connect(dsn)
    cur = conn.cursor()
    serials = collections.Counter()
    earliest = dt.date(2000, 1, 1)
    for start in range(0, count, chunk):
        buf = io.StringIO()
        for index in range(start, min(count, start + chunk)):
            person = synthetic_person(index)
            province = person["province_code"]
            serials[province] += 1
            born = person["date_of_birth"]
            registered = max(born, earliest + dt.timedelta(days=index * 37 % 9000))
            buf.write(f"{person['citizen_id']}\t{province}{serials[province]:08d}\t"
                      f"Người Thử {index}\t{born.isoformat()}\t{person['sex']}\t{province}\t"
                      f"{'t' if index % 7 == 0 else 'f'}\t{registered.isoformat()}\tseed-{index}\n")
        buf.seek(0)
        cur.copy_expert(f"COPY {schema}.people ({SEED_COLUMNS}) FROM STDIN", buf)
    for province, used in serials.items():
        cur.execute("SELECT setval(%s, %s)", (f"{schema}.si_serial_{province}", used))
    conn.commit()
    conn.autocommit = True
    cur.execute(f"VACUUM ANALYZE {schema}.people")
    # The other tables are left unanalysed, as autovacuum leaves an empty table.
    # Analysed while empty, a table is planned as one page until its next ANALYZE,
    # and the plans that foreign-key checks cache on a connection stay sequential
    # scans while the table grows (run 11 in docs/benchmarks.md).
    if checkpoint:                                # a bench's set-up, not a test's
        cur.execute("CHECKPOINT")
    conn.close()
    return time.perf_counter() - started


# -- autovacuum, where the server has it off ------------------------------------

TABLE_STATS = """
SELECT s.schemaname, s.relname, s.n_mod_since_analyze, s.n_dead_tup, greatest(c.reltuples, 0)
  FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
 WHERE s.schemaname IN ('enrolment', 'benefits', 'reporting')
"""


def autovacuum_pass(cur):
    """One pass of what autovacuum would do with its default thresholds; returns the actions."""
    done = []
    cur.execute(TABLE_STATS)
    for schema, table, modified, dead, tuples in cur.fetchall():
        name = f'"{schema}"."{table}"'
        if dead > 50 + 0.2 * tuples:
            cur.execute(f"VACUUM ANALYZE {name}")
            done.append(f"vacuum {schema}.{table}")
        elif modified > 50 + 0.1 * tuples:
            cur.execute(f"ANALYZE {name}")
            done.append(f"analyze {schema}.{table}")
    return done


class Autovacuum(threading.Thread):
    """Every NAPTIME seconds, VACUUM / ANALYZE the services' tables past the default thresholds.

    Only started when the server runs with ``autovacuum = off`` (as the
    development server does): a production server would do this itself, and
    without it the tables that start empty never get statistics.
    """

    NAPTIME = 60

    def __init__(self, dsn):
        super().__init__(daemon=True)
        self.dsn = dsn
        self.stopping = threading.Event()
        self.actions = 0
        self.seconds = 0.0
        self.backend_pid = None

    def run(self):
        conn, cur, self.backend_pid = backend(self.dsn)
        cur.execute("SET vacuum_cost_delay = '2ms'")     # autovacuum's own throttle
        while not self.stopping.wait(self.NAPTIME):
            started = time.perf_counter()
            try:
                self.actions += len(autovacuum_pass(cur))
            except psycopg2.Error:
                if self.stopping.is_set():   # the run's database went while a pass ran
                    return
                raise
            self.seconds += time.perf_counter() - started
        conn.close()


def server_autovacuum(dsn):
    return query(dsn, "SHOW autovacuum")[0][0] == "on"


# -- measuring ----------------------------------------------------------------

class Tracker(threading.Thread):
    """Polls for sampled event ids every POLL_SECONDS; records when each is first seen.

    ``sql`` takes one parameter, a list of ids, and returns those present;
    the time recorded is the start of the poll that saw it. Only the
    POLL_WINDOW oldest pending samples are asked for: the queue is consumed
    in order (one active consumer, batches one after another), so later
    samples cannot be applied before them, and a poll for every pending id
    (thousands while a backlog builds up) cost a quarter of a core.
    """

    def __init__(self, dsn, sql):
        super().__init__(daemon=True)
        self.dsn, self.sql = dsn, sql
        self.lock = threading.Lock()
        self.pending = {}                         # event_id -> (index, published at)
        self.seen = {}                            # index -> (published at, applied at)
        self.last_index = None
        self.progress = 0                         # highest sampled index seen
        self.stopping = threading.Event()
        self.backend_pid = None

    def add(self, samples):
        with self.lock:
            for index, event_id, at in samples:
                self.pending[event_id] = (index, at)

    def done(self):
        return self.last_index is not None and self.last_index in self.seen

    def run(self):
        conn, cur, self.backend_pid = backend(self.dsn)
        while not self.stopping.is_set():
            with self.lock:
                ids = list(itertools.islice(self.pending, POLL_WINDOW))
            if ids:
                polled_at = time.time()
                cur.execute(self.sql, (ids,))
                found = [row[0] for row in cur.fetchall()]
                with self.lock:
                    for event_id in found:
                        index, published = self.pending.pop(event_id)
                        self.seen[index] = (published, polled_at)
                        self.progress = max(self.progress, index)
            if self.done():
                break
            time.sleep(POLL_SECONDS)
        conn.close()

    def latencies(self):
        return sorted(applied - published for published, applied in self.seen.values())


def percentile(values, q):
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def publish_stream(amqp_uri, exchange, bodies, tracker, rate=None):
    """Publish every body (routing key = event type); returns (first publish, last confirm)."""
    publisher = ConfirmingPublisher(amqp_uri)
    last = len(bodies) - 1
    tracker.last_index = last
    chunk = max(1, int(rate * 0.05)) if rate else CHUNK
    first_at = began = time.time()
    for start in range(0, len(bodies), chunk):
        if rate:
            delay = began + start / rate - time.time()
            if delay > 0:
                time.sleep(delay)
        now = time.time()
        if start == 0:
            first_at = now
        batch = bodies[start:start + chunk]
        tracker.add([(i, bodies[i]["event_id"], now) for i in range(start, start + len(batch))
                     if i % SAMPLE_EVERY == 0 or i == last])
        returned = publisher.publish([(b["event_id"], exchange, b["event_type"], b) for b in batch])
        if returned:
            raise SystemExit(f"{len(returned)} messages unroutable: is the consumer bound?")
    publisher.close()
    return first_at, time.time()


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def nameko_pid(popen):
    """The nameko process in the session ``start_services`` began: the leader, or a child."""
    def cmdline(pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return ""
    if "nameko" in cmdline(popen.pid):
        return popen.pid
    for entry in os.listdir("/proc"):
        if entry.isdigit() and os.getsid(int(entry)) == popen.pid and "nameko" in cmdline(entry):
            return int(entry)
    raise RuntimeError(f"no nameko process in session {popen.pid}")


def cpu_ticks():
    """{pid: (name, utime + stime ticks)} of every process we can read."""
    ticks = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        ticks[int(entry)] = (name, int(fields[11]) + int(fields[12]))
    return ticks


def machine_ticks():
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Monitor(threading.Thread):
    """Every second: RSS of the service processes and the applied progress."""

    def __init__(self, pids, tracker):
        super().__init__(daemon=True)
        self.pids, self.tracker = pids, tracker
        self.samples = []                         # (time, {name: rss KiB}, progress)
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            self.samples.append((time.time(), {n: rss_kib(p) for n, p in self.pids.items()},
                                 self.tracker.progress))
            self.stopping.wait(1.0)


def backend(dsn):
    """An autocommit connection, its cursor and its server pid (to tell its CPU apart)."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT pg_backend_pid()")
    return conn, cur, cur.fetchone()[0]


def query(dsn, sql, args=()):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


# -- the two runs -------------------------------------------------------------

def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_baseline(dsn, amqp_uri, bodies):
    queue = declare_bare_queue(amqp_uri)
    query(dsn, "CHECKPOINT")
    child = subprocess.Popen([sys.executable, "-m", "bench.bare_batch_consumer", dsn, amqp_uri,
                              queue, str(len(bodies))], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    tracker = Tracker(dsn, "SELECT event_id FROM public.bare_intake WHERE event_id = ANY(%s)")
    tracker.start()
    first, published = publish_stream(amqp_uri, "bench.bare", bodies, tracker)
    line = child.stdout.readline().split()
    child.wait(timeout=600)
    last_commit = float(line[1])
    tracker.join(timeout=30)
    tracker.stopping.set()
    return {"first": first, "published": published, "end": last_commit,
            "latencies": tracker.latencies()}


def stop_one(processes, run_dir, name, seconds=30):
    """Stop one service started by ``start_services`` (its queue stays, and fills)."""
    proc = processes.pop(name)
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    (run_dir / f"{name}.pid").unlink(missing_ok=True)


def run_services(dsn, amqp_uri, bodies, workdir, rate, people, profile, autovacuum,
                 downstream="run"):
    env = dict(os.environ, PYTHONWARNINGS="ignore", AMQP_URI=amqp_uri, LOG_LEVEL="WARNING",
               ENROLMENT_DSN=dsn, BENEFITS_DSN=dsn, REPORTING_DSN=dsn,
               REPORTING_HTTP_ADDRESS=f"127.0.0.1:{free_port()}")
    # ports of their own, so that a test run or `make up` on this machine does not collide
    env.update({f"{name.upper()}_METRICS_ADDRESS": f"127.0.0.1:{free_port()}"
                for name in ("enrolment", "benefits", "reporting")})
    processes = start_services(env, workdir / "log", workdir / "run", DEFAULT_CONFIG)
    result = {}
    try:
        wait_healthy(amqp_uri, processes)
        pids = {name: nameko_pid(p) for name, p in processes.items()}
        print(f"[bench] services up (enrolment pid {pids['enrolment']}); seeding {people:,}"
              " people with COPY ...", flush=True)
        result["seed_seconds"] = seed_register(dsn, people)
        print(f"[bench] seeded in {result['seed_seconds']:.1f} s", flush=True)
        result["baseline"] = baseline = run_baseline(dsn, amqp_uri, bodies)
        print(f"[bench] bare consumer done in {baseline['end'] - baseline['first']:.1f} s;"
              " now the services", flush=True)
        if downstream == "later":
            # benefits and reporting declared and bound their queues; they take
            # what enrolment publishes once it has applied the whole stream
            for name in ("benefits", "reporting"):
                stop_one(processes, workdir / "run", name)
            print("[bench] benefits and reporting stopped until enrolment is done", flush=True)
        query(dsn, "CHECKPOINT")
        time.sleep(2)
        tracker = Tracker(dsn, "SELECT event_id FROM enrolment.inbox WHERE event_id = ANY(%s)")
        monitor = Monitor(pids, tracker)
        tracker.start()
        result["server_autovacuum"] = server_autovacuum(dsn)
        vacuum = None
        if autovacuum == "emulate" or autovacuum == "auto" and not result["server_autovacuum"]:
            vacuum = Autovacuum(dsn)
            vacuum.start()
        spy = None
        if profile:
            spy = subprocess.Popen(
                [shutil.which("py-spy") or str(ROOT / ".venv/bin/py-spy"), "record", "--pid",
                 str(pids["enrolment"]), "--rate", "200", "--idle", "--nonblocking",
                 "--format", "raw", "--output", profile], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            time.sleep(1)
        cpu_before, machine_before, load_before = cpu_ticks(), machine_ticks(), loadavg()
        monitor.start()
        first, published = publish_stream(amqp_uri, "enrolment.intake", bodies, tracker, rate)
        print(f"[bench] published {len(bodies):,} in {published - first:.1f} s", flush=True)
        deadline = time.time() + 3600
        while not tracker.done():
            if time.time() > deadline:
                raise SystemExit("not all events applied within an hour")
            time.sleep(0.1)
        end = tracker.seen[tracker.last_index][1]
        cpu_after, machine_after, load_after = cpu_ticks(), machine_ticks(), loadavg()
        if spy:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=120)
        time.sleep(1.5)                           # one more RSS sample after the end
        monitor.stopping.set()
        monitor.join()
        if vacuum:
            vacuum.stopping.set()
            result["autovacuum"] = vacuum
        backends = {row[0]: row[1] for row in query(
            dsn, "SELECT pid, application_name FROM pg_stat_activity"
                 " WHERE datname = current_database()")}
        bench_backends = {tracker.backend_pid: "postgres (bench latency poller)"}
        if vacuum:
            bench_backends[vacuum.backend_pid] = "postgres (autovacuum emulation)"
        result.update(first=first, published=published, end=end, latencies=tracker.latencies(),
                      events=len(bodies),
                      rss=monitor.samples, progress=monitor.samples,
                      cpu=cpu_usage(cpu_before, cpu_after, pids, backends, bench_backends,
                                    end - first),
                      machine=(machine_after[0] - machine_before[0])
                      / max(1, machine_after[1] - machine_before[1]),
                      load=(load_before, load_after))
        result["counts"] = query(dsn, "SELECT event_type, status, count(*) FROM enrolment.inbox"
                                      " GROUP BY 1, 2 ORDER BY 1, 2")
        result["reasons"] = query(
            dsn, "SELECT r.event_type, e.key, split_part(e.value->>0, ':', 1), count(*)"
                 " FROM enrolment.rejections r, jsonb_each(r.reasons) e"
                 " GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 15")
        if downstream == "later":
            restarted = time.time()
            processes.update(start_services(env, workdir / "log", workdir / "run", DEFAULT_CONFIG,
                                            names=("benefits", "reporting")))
            result["downstream"] = wait_downstream(dsn, first)
            result["downstream"]["catch_up"] = time.time() - restarted
        else:
            result["downstream"] = wait_downstream(dsn, first)
        result["downstream_mode"] = downstream
        result["dead"] = query(dsn, "SELECT 'enrolment', count(*) FROM enrolment.dead_letters"
                                    " UNION ALL SELECT 'benefits', count(*) FROM benefits.dead_letters"
                                    " UNION ALL SELECT 'reporting', count(*) FROM reporting.dead_letters")
        result["held"] = query(dsn, "SELECT count(*) FROM enrolment.held_events")[0][0]
        return result
    finally:
        stop_services(workdir / "run")


def wait_downstream(dsn, first, seconds=900):
    """Seconds from the first publish until benefits and reporting have consumed every
    event enrolment wrote that their queues are bound to."""
    from services.benefits.history import HANDLERS as BENEFITS_KEYS
    from services.reporting.service import CONSUMED as REPORTING_BINDINGS
    reporting_keys = [key for exchange, key in REPORTING_BINDINGS if exchange == "enrolment.events"]
    deadline = time.time() + seconds
    while time.time() < deadline:
        (written, unsent, for_reporting, for_benefits, reporting, benefits), = query(
            dsn, "SELECT (SELECT count(*) FROM enrolment.outbox),"
                 " (SELECT count(*) FROM enrolment.outbox_unsent),"
                 " (SELECT count(*) FROM enrolment.outbox WHERE event_type = ANY(%s)),"
                 " (SELECT count(*) FROM enrolment.outbox WHERE event_type = ANY(%s)),"
                 " (SELECT count(*) FROM reporting.inbox), (SELECT count(*) FROM benefits.inbox)",
            (reporting_keys, list(BENEFITS_KEYS)))
        if unsent == 0 and reporting >= for_reporting and benefits >= for_benefits:
            return {"events": written, "seconds": time.time() - first,
                    "reporting": for_reporting, "benefits": for_benefits}
        time.sleep(1)
    return {"events": written, "seconds": None, "unsent": unsent,
            "consumed": f"reporting {reporting:,} of {for_reporting:,},"
                        f" benefits {benefits:,} of {for_benefits:,}"}


def cpu_usage(before, after, pids, backends, bench_backends, seconds):
    """CPU seconds per process over the measured interval, grouped."""
    hz = os.sysconf("SC_CLK_TCK")
    usage = collections.Counter()
    others = collections.Counter()
    names = {pid: name for name, pid in pids.items()}
    for pid, (name, ticks) in after.items():
        used = (ticks - before.get(pid, (name, 0))[1]) / hz
        if used <= 0:
            continue
        if pid in names:
            usage[names[pid]] += used
        elif pid in bench_backends:
            usage[bench_backends[pid]] += used
        elif pid in backends:   # by service: shared.db names its connections vss-<schema>
            app = backends[pid] if (backends[pid] or "").startswith("vss-") else "this database"
            usage[f"postgres ({app})"] += used
        elif pid == os.getpid():
            usage["bench (publisher, poller)"] += used
        elif name == "postgres":
            usage["postgres (other)"] += used
        elif name in ("beam.smp", "erl_child_setup", "epmd"):
            usage["rabbitmq"] += used
        else:
            others[name] += used
    usage["everything else"] = sum(others.values())
    return {"seconds": seconds, "usage": usage, "top_others": others.most_common(5)}


# -- report ---------------------------------------------------------------------

def summary(args, bodies_counts, result):
    n = args.events
    base, svc = result["baseline"], result
    base_seconds, svc_seconds = base["end"] - base["first"], svc["end"] - svc["first"]
    base_rate, svc_rate = n / base_seconds, n / svc_seconds
    applied = sum(c for _, status, c in svc["counts"] if status == "applied")
    by_status = collections.Counter()
    for _, status, c in svc["counts"]:
        by_status[status] += c
    rss = [(t, s["enrolment"]) for t, s, _ in svc["rss"] if s["enrolment"]]
    during = [kib for t, kib in rss if t <= svc["end"] + 1]
    mode = f"steady {args.rate:,}/s" if args.rate else f"full speed, batches of {CHUNK}"
    lines = [
        "", "=" * 78,
        f"mixed intake: {args.people:,} people registered, {n:,} events ({mode}),"
        f" cores {os.cpu_count()}",
        "mix: " + ", ".join(f"{t} {c:,}" for t, c in sorted(bodies_counts.items())),
        f"setup (not measured): seeding the register took {svc['seed_seconds']:.1f} s",
        "-" * 78,
        f"bare kombu consumer, batched INSERTs : {base_seconds:7.1f} s {base_rate:8,.0f} msg/s"
        f"  publish {base['published'] - base['first']:.1f} s"
        f"  p50 {percentile(base['latencies'], 50):.2f} s p99 {percentile(base['latencies'], 99):.2f} s",
        f"services, publish to applied         : {svc_seconds:7.1f} s {svc_rate:8,.0f} events/s"
        f"  publish {svc['published'] - svc['first']:.1f} s"
        f"  p50 {percentile(svc['latencies'], 50):.2f} s p99 {percentile(svc['latencies'], 99):.2f} s",
        f"ratio services / bare                : {svc_rate / base_rate:.2f}",
        f"latency samples: {len(svc['latencies'])} (every {SAMPLE_EVERY}th event), poll every"
        f" {POLL_SECONDS * 1000:.0f} ms, clock from the start of the event's publish batch",
    ]
    timeline = progress_rates(svc)
    if timeline:
        lines.append("applied/s per tenth of the run: " + " ".join(f"{r:,.0f}" for r in timeline))
    after = rate_after_publish(svc)
    if after:
        lines.append(f"applied/s after publishing ended: {after:,.0f}")
    lines += [
        f"enrolment RSS MiB: start {during[0] / 1024:.0f}, peak {max(during) / 1024:.0f},"
        f" end {during[-1] / 1024:.0f}  (every 10%: "
        + " ".join(f"{during[i * (len(during) - 1) // 10] / 1024:.0f}" for i in range(11)) + ")",
        "other services RSS MiB start/peak/end: " + ", ".join(
            f"{name} {first / 1024:.0f}/{peak / 1024:.0f}/{last / 1024:.0f}"
            for name, first, peak, last in other_rss(svc)),
        "enrolment.inbox: " + ", ".join(f"{s} {c:,}" for s, c in sorted(by_status.items()))
        + f"; held_events {svc['held']}; applied {applied / n:.2%}",
        "dead letters: " + ", ".join(f"{name} {c}" for name, c in svc["dead"]),
    ]
    if svc["reasons"]:
        lines.append("rejections: " + "; ".join(f"{t} {k} {code} x{c}" for t, k, code, c in svc["reasons"]))
    down = svc["downstream"]
    lines.append(f"downstream ({svc['downstream_mode']}): {down['events']:,} events written by"
                 " enrolment; benefits and reporting consumed"
                 + (f" theirs ({down['benefits']:,} and {down['reporting']:,})"
                    f" {down['seconds']:.1f} s after the first publish" if down["seconds"]
                    else f" {down.get('consumed')} (not caught up)")
                 + (f"; benefits and reporting started after enrolment, caught up in"
                    f" {down['catch_up']:.1f} s" if "catch_up" in down else ""))
    cpu = svc["cpu"]
    lines.append(f"CPU seconds over the {cpu['seconds']:.1f} s run (machine busy {svc['machine']:.0%}"
                 f" of {os.cpu_count()} cores): " + ", ".join(
                     f"{k} {v:.1f}" for k, v in cpu["usage"].most_common()))
    if cpu["top_others"]:
        lines.append("  of which else: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu["top_others"]))
    lines.append(f"load average before/after: {svc['load'][0]} / {svc['load'][1]}")
    vacuum = svc.get("autovacuum")
    lines.append(f"server autovacuum: {'on' if svc['server_autovacuum'] else 'off'}; "
                 + (f"emulated by the bench: {vacuum.actions} VACUUM/ANALYZE runs,"
                    f" {vacuum.seconds:.1f} s" if vacuum else "not emulated"))
    targets = [("2,000 applied events/s", svc_rate >= 2000),
               ("half the bare rate", svc_rate >= base_rate / 2),
               ("rejections <= 1%", by_status["rejected"] <= n / 100),
               # flat: after the first tenth of the run (imports, pools, caches warm up)
               ("enrolment RSS flat", during[-1] <= 1.1 * during[(len(during) - 1) // 10])]
    lines.append("targets: " + ", ".join(f"{name} {'met' if ok else 'NOT met'}" for name, ok in targets))
    lines.append("=" * 78)
    print("\n".join(lines), flush=True)


def _progress_points(svc):
    """(time, events applied) from the first publish to the last event applied."""
    points = [(svc["first"], 0)]
    points += [(t, p + 1) for t, _, p in svc["progress"] if svc["first"] < t < svc["end"] and p]
    points.append((svc["end"], svc["events"]))
    return points


def progress_rates(svc):
    """Applied events/s in each tenth of the measured interval (from the sampled progress)."""
    points = _progress_points(svc)
    span = svc["end"] - svc["first"]
    rates = []
    for i in range(10):
        lo, hi = svc["first"] + span * i / 10, svc["first"] + span * (i + 1) / 10
        rates.append((_at(points, hi) - _at(points, lo)) / (hi - lo))
    return rates


def _at(points, t):
    """Progress at time t, linearly between samples."""
    for (t0, p0), (t1, p1) in zip(points, points[1:]):
        if t0 <= t <= t1:
            return p0 + (p1 - p0) * ((t - t0) / (t1 - t0) if t1 > t0 else 1)
    return points[-1][1]


def rate_after_publish(svc):
    if svc["end"] - svc["published"] < 5:
        return None
    points = _progress_points(svc)
    return (svc["events"] - _at(points, svc["published"])) / (svc["end"] - svc["published"])


def other_rss(svc):
    for name in ("benefits", "reporting"):
        values = [s[name] for t, s, _ in svc["rss"] if s[name]]
        if values:
            yield name, values[0], max(values), values[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=0, help="events/s; 0 = full speed")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--profile", help="py-spy collapsed stacks of enrolment to this file")
    parser.add_argument("--autovacuum", choices=("auto", "emulate", "off"), default="auto",
                        help="auto: emulate autovacuum (VACUUM/ANALYZE past the default thresholds"
                             " every 60 s) only if the server has it off")
    parser.add_argument("--downstream", choices=("run", "later"), default="run",
                        help="run: benefits and reporting consume while enrolment applies the"
                             " stream (the whole system on this machine); later: they are stopped"
                             " meanwhile and started after (enrolment's own rate), and the run"
                             " reports how long they took to catch up")
    args = parser.parse_args()
    started = time.perf_counter()
    stream = MixedIntake(args.people, args.seed)
    bodies = list(stream.events(args.events))
    print(f"[bench] {len(bodies):,} events generated in {time.perf_counter() - started:.1f} s;"
          f" load average {loadavg()}", flush=True)
    with scratch_environment(prefix="vss_bench") as (dsn, amqp_uri):
        workdir = ROOT / "var" / "bench-mixed"
        result = run_services(dsn, amqp_uri, bodies, workdir, args.rate, args.people, args.profile,
                              args.autovacuum, args.downstream)
    summary(args, stream.counts, result)


if __name__ == "__main__":
    main()
