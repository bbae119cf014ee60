"""SQL for the reporting schema."""
import collections
import datetime as dt
import json
import os
import typing

import psycopg2.extensions
import psycopg2.extras

from shared.db import defer, fetch_tuples
from shared.envelope import today_in


def add_to_counts(cur, deltas):
    psycopg2.extras.execute_values(
        cur,
        "INSERT INTO participant_counts AS c (province_code, scheme, participants) VALUES %s"
        " ON CONFLICT (province_code, scheme) DO UPDATE"
        " SET participants = c.participants + EXCLUDED.participants, updated_at = now()",
        deltas)


def _tuples(cur, sql, params):
    """Rows as plain tuples, in ``cur``'s transaction: aggregates are read by the
    hundred, and a dict per row was most of a figure's time in Python."""
    return fetch_tuples(cur, sql, params)


def _month_after(day):
    """The first day of the month after ``day``'s; None past the calendar's end."""
    if day.year == 9999 and day.month == 12:
        return None
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _codes(codes):
    """Province codes as an SQL array, or None for every code."""
    return None if codes is None else sorted(codes)


# rows of the province codes %(c)s (stored codes, old or new), or of all when it is None
CODES = "(%(c)s::bpchar[] IS NULL OR province_code = ANY(%(c)s::bpchar[]))"


def participant_counts(cur, codes=None):
    """``(province_code, scheme, participants)`` now, of the province codes ``codes``
    (stored codes, old or new) or of all."""
    return _tuples(cur, "SELECT province_code, scheme, participants FROM participant_counts"
                        " WHERE " + CODES,
                   {"c": _codes(codes)})


def add_rejections(cur, keys):
    psycopg2.extras.execute_values(
        cur,
        "INSERT INTO rejection_counts AS r (day, source, event_type, rejections) VALUES %s"
        " ON CONFLICT (day, source, event_type) DO UPDATE"
        " SET rejections = r.rejections + EXCLUDED.rejections",
        # in key order, so concurrent batches lock rows in the same order
        [(day, source, event_type, n) for (day, source, event_type), n in sorted(keys.items())])


def rejection_counts(cur, since_day):
    cur.execute("SELECT day, source, event_type, rejections FROM rejection_counts"
                " WHERE day >= %s ORDER BY day, source, event_type", (since_day,))
    return cur.fetchall()


def archive(cur, events):
    """Keep consumed events, in the order they were applied."""
    psycopg2.extras.execute_values(
        cur, "INSERT INTO event_archive (event_id, exchange, routing_key, body) VALUES %s"
        " ON CONFLICT (event_id) DO NOTHING", events)


def add_coverage_changes(cur, rows):
    psycopg2.extras.execute_values(
        cur,
        "INSERT INTO coverage_changes AS c (day, province_code, scheme, starts, ends, resumed,"
        " moved_in, moved_out) VALUES %s ON CONFLICT (day, province_code, scheme) DO UPDATE"
        " SET starts = c.starts + EXCLUDED.starts, ends = c.ends + EXCLUDED.ends,"
        " resumed = c.resumed + EXCLUDED.resumed, moved_in = c.moved_in + EXCLUDED.moved_in,"
        " moved_out = c.moved_out + EXCLUDED.moved_out", rows)


def add_coverage_monthly(cur, rows):
    """The same changes summed per month (``month`` its first day); see coverage_changes_after.

    Each month written gets a new version (``coverage_month_clock``, which
    ``SettledSums`` relies on) from the table's triggers (migration 0008)."""
    psycopg2.extras.execute_values(
        cur,
        "INSERT INTO coverage_monthly AS c (month, province_code, scheme, starts, ends, resumed,"
        " moved_in, moved_out) VALUES %s ON CONFLICT (month, province_code, scheme) DO UPDATE"
        " SET starts = c.starts + EXCLUDED.starts, ends = c.ends + EXCLUDED.ends,"
        " resumed = c.resumed + EXCLUDED.resumed, moved_in = c.moved_in + EXCLUDED.moved_in,"
        " moved_out = c.moved_out + EXCLUDED.moved_out", rows)


def add_benefit_payments(cur, rows):
    psycopg2.extras.execute_values(
        cur,
        "INSERT INTO benefit_payments AS b (month, province_code, kind, payments, amount) VALUES %s"
        " ON CONFLICT (month, province_code, kind) DO UPDATE"
        " SET payments = b.payments + EXCLUDED.payments, amount = b.amount + EXCLUDED.amount", rows)


def add_claim_decisions(cur, rows):
    psycopg2.extras.execute_values(
        cur,
        "INSERT INTO claim_decisions AS d (month, province_code, kind, status, claims) VALUES %s"
        " ON CONFLICT (month, province_code, kind, status) DO UPDATE"
        " SET claims = d.claims + EXCLUDED.claims", rows)


def upsert_programme(cur, body):
    cur.execute("INSERT INTO programmes (programme_code, name, sponsors, goal_books, goal_cards, budget)"
                " VALUES (%(programme_code)s, %(name)s, %(sponsors)s, %(goal_books)s, %(goal_cards)s,"
                " %(budget)s) ON CONFLICT (programme_code) DO UPDATE SET name = EXCLUDED.name,"
                " sponsors = EXCLUDED.sponsors, goal_books = EXCLUDED.goal_books,"
                " goal_cards = EXCLUDED.goal_cards, budget = EXCLUDED.budget",
                dict(body, sponsors=json.dumps(body["sponsors"], ensure_ascii=False)))


def add_grants(cur, rows, people):
    psycopg2.extras.execute_values(
        cur,
        "INSERT INTO programme_grants AS g (programme_code, sponsor, province_code, grants,"
        " health_cards, si_books, amount) VALUES %s"
        " ON CONFLICT (programme_code, sponsor, province_code) DO UPDATE"
        " SET grants = g.grants + EXCLUDED.grants, health_cards = g.health_cards + EXCLUDED.health_cards,"
        " si_books = g.si_books + EXCLUDED.si_books, amount = g.amount + EXCLUDED.amount", rows)
    psycopg2.extras.execute_values(
        cur, "INSERT INTO programme_people (programme_code, person_key) VALUES %s"
        " ON CONFLICT DO NOTHING", sorted(set(people)))


def touch(cur, names):
    psycopg2.extras.execute_values(
        cur, "INSERT INTO read_model_clock (name) VALUES %s"
        " ON CONFLICT (name) DO UPDATE SET changed_at = now()", [(n,) for n in sorted(names)])


def clock(cur):
    """``{name: changed_at}`` of ``read_model_clock``."""
    if kept_between_calls(cur):
        return {name: changed_at for name, (_, changed_at) in versions(cur).clock.items()}
    cur.execute("SELECT name, changed_at FROM read_model_clock")
    return {row["name"]: row["changed_at"] for row in cur.fetchall()}


VERSIONS = """
SELECT ARRAY[current_database(), host(inet_server_addr()), inet_server_port()::text,
             pg_postmaster_start_time()::text], 'coverage_month_clock'::regclass::oid,
       pg_relation_filenode('coverage_month_clock'), m.months, m.versions,
       (SELECT count(*) FROM schema_migrations), pg_relation_filenode('read_model_clock'),
       c.names, c.xmins, c.changed
  FROM (SELECT array_agg(month) AS months, array_agg(version) AS versions
          FROM coverage_month_clock WHERE month >= %(since)s) m,
       (SELECT array_agg(name) AS names, array_agg(xmin::text) AS xmins,
               array_agg(changed_at) AS changed FROM read_model_clock) c"""


class Versions(typing.NamedTuple):
    """What the read models are, in one statement: ``identity`` (server, database, the
    month clock's table and file), each month's version (``coverage_month_clock``), and
    ``read_model_clock``'s rows ``{name: (xmin, changed_at)}`` with the number of
    migrations and the clock table's file (``replies.read_model_version``)."""
    identity: tuple
    months: dict
    migrations: int
    clock_file: int
    clock: dict


def versions(cur):
    """``Versions`` now; read once per transaction when it reads one snapshot (``snapshot``)."""
    known = getattr(cur, "read_versions", None) if in_snapshot(cur) else None
    if known is not None:
        return known
    (db, table, filenode, months, month_versions, migrations, clock_file, names, xmins,
     changed) = _tuples(cur, VERSIONS, {"since": _earliest_kept()})[0]
    known = Versions((tuple(db), table, filenode), dict(zip(months or (), month_versions or ())),
                     migrations, clock_file,
                     {name: (xmin, at) for name, xmin, at in zip(names or (), xmins or (), changed or ())})
    if in_snapshot(cur):
        cur.read_versions = known
    return known


def kept_between_calls(cur):
    """Whether ``cur`` may use what ``SETTLED`` keeps: in one snapshot, with keeping on."""
    return bool(SETTLED.size and in_snapshot(cur))


def _kept_input(cur, name, key, read):
    """``read(cur)``, kept between calls while ``read_model_clock``'s row ``name`` (which
    every write of that input touches) is unchanged."""
    if not kept_between_calls(cur):
        return read(cur)
    known = versions(cur)
    key, stamp = (known.identity, name) + key, known.clock.get(name)
    entry = SETTLED.totals.get(key)
    if entry is not None and entry[0] == stamp:
        return list(entry[1])
    rows = read(cur)
    SETTLED.keep(SETTLED.totals, key, (stamp, rows))
    return list(rows)


def _month_start(day):
    return day.replace(day=1)


def _spans(first, end):
    """The days ``first`` <= day < ``end`` (``end`` None: no end) as the whole months
    ``m1`` <= month < ``m2`` (``m2`` None: no end; ``m1`` None: no month) of the
    roll-up, plus or minus at most two runs of days ``(lo, hi, sign)``, ``hi`` None
    for no end. A part of a month is read as its days, or as the month less its other
    days when those are fewer."""
    runs = []
    if first == _month_start(first):
        m1 = first
    else:
        after = _month_after(first)
        if after is None or (end is not None and end <= after):  # within one month: days
            return None, None, [(first, end, 1)]
        if (after - first).days <= (first - _month_start(first)).days:
            m1 = after
            runs.append((first, after, 1))
        else:
            m1 = _month_start(first)
            runs.append((m1, first, -1))
    if end is None or end == _month_start(end):
        m2 = end
    else:
        after = _month_after(end)
        if after is not None and (after - end).days < (end - _month_start(end)).days:
            m2 = after
            runs.append((end, after, -1))
        else:
            m2 = _month_start(end)
            runs.append((m2, end, 1))
    return m1, m2, runs


NET = "starts + resumed + moved_in - ends - moved_out"
CAUSES = "starts, ends, resumed, moved_in, moved_out"
SUMS = """
SELECT province_code, scheme, {sums} FROM (
  SELECT province_code, scheme, month, NULL::date AS day, {causes}, NULL::bigint AS participants
    FROM coverage_monthly
   WHERE month >= %(month_lo)s AND (%(month_hi)s::date IS NULL OR month < %(month_hi)s)
     AND {codes}
  UNION ALL
  SELECT province_code, scheme, NULL::date, day, {causes}, NULL FROM coverage_changes
   WHERE ({days}) AND {codes}
  UNION ALL
  SELECT province_code, scheme, NULL::date, NULL::date, 0, 0, 0, 0, 0, participants
    FROM participant_counts WHERE %(current)s AND {codes}
) x GROUP BY province_code, scheme"""


def snapshot(cur):
    """Make the rest of ``cur``'s transaction read one snapshot (``REPEATABLE READ``,
    read only), if it has not begun: True when it reads one, so that figures read by
    several statements agree and ``SettledSums`` may be used. The read models are
    locked first (``ACCESS SHARE``, in a rebuild's order), so that a call arriving
    during a rebuild takes its snapshot after the rebuild committed (a snapshot
    taken before would see the truncated tables empty). Both statements go with the
    next one (one round trip). The transaction can then write nothing."""
    if in_snapshot(cur):
        return True
    if cur.connection.autocommit or getattr(cur, "pending", 0) or \
            cur.connection.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
        return False
    defer(cur, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;\n"
               "LOCK TABLE " + ", ".join(READ_MODELS) + " IN ACCESS SHARE MODE")
    cur.one_snapshot, cur.read_versions = True, None
    return True


def in_snapshot(cur):
    """Whether ``cur``'s transaction is one ``snapshot`` began (and not over)."""
    if not getattr(cur, "one_snapshot", False):
        return False
    if cur.connection.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE \
            and not getattr(cur, "pending", 0):
        cur.one_snapshot, cur.read_versions = False, None  # that transaction has ended
        return False
    return True


class SettledSums:
    """Sums over whole months before the last two, kept between calls while those months
    are unchanged, and brought up to date month by month when some are not.

    A national view sums the roll-up over a range of months (the year so far, or
    every month since an ``as_of``): about 2,200 rows aggregated per call, most of
    its time. Batches of events mostly write this month (and back-dated ones the
    month before), so the whole months before those, the *settled* part of a range,
    are kept here:

    - ``months``: each month's rows (starts and net change per province code and
      scheme, for the province codes asked), with the month's *version*: its row in
      ``coverage_month_clock``, which every write of that month's figures renews
      with a larger number (the roll-up's triggers, migration 0008; a month never
      written has none). A month whose version is what it was has the same rows.
    - ``totals``: a range's sums with the versions of every month in it; a call
      whose months have those versions uses them as they are, otherwise the range
      is summed again from ``months``, reading from SQL only the months whose
      version changed (a back-dated batch: one month).
    - and the planners' targets and denominators (``_kept_input``), while their
      ``read_model_clock`` row is unchanged.

    Versions are read once per call, in its own snapshot (``snapshot``, ``versions``),
    so what is used is what the same snapshot would sum. Everything is keyed on the
    clock's identity too: the server (address, port, start time: a restored or
    failed-over server is another), the database, the table and its file (a
    rebuild's ``TRUNCATE`` gives a new one). ``size``: the entries kept (a month per
    province-code set asked, a range, an input); 0 keeps nothing
    (``REPORTING_SETTLED_SUMS``). Ranges that begin more than ``span`` months before
    the horizon are summed in SQL each time (the versions read go back that far)."""

    def __init__(self, size=512, span=60):
        self.size, self.span = size, span
        self.months = collections.OrderedDict()
        self.totals = collections.OrderedDict()
        self.hits = self.updates = self.deltas = self.months_read = 0

    def keep(self, entries, key, value):
        """``entries[key] = value``, the least recently kept going past ``size``."""
        keep_recent(entries, key, value, self.size)


def keep_recent(entries, key, value, size):
    """``entries[key] = value`` in an ``OrderedDict`` of at most ``size`` entries, the
    least recently kept dropped first."""
    entries[key] = value
    entries.move_to_end(key)
    while len(entries) > size:
        entries.popitem(last=False)


SETTLED = SettledSums(int(os.environ.get("REPORTING_SETTLED_SUMS", "512")))


def _horizon(today=None):
    """The first day of the month before ``today``'s: what is dated before it is settled."""
    first = (today or today_in()).replace(day=1)
    return (first - dt.timedelta(days=1)).replace(day=1)


def _earliest_kept(today=None):
    """The first month whose sums may be kept: ``SETTLED.span`` months before the
    horizon (``versions`` reads the versions from there on)."""
    horizon = _horizon(today)
    months = horizon.year * 12 + horizon.month - 1 - SETTLED.span
    return dt.date(months // 12, months % 12 + 1, 1)


def _month_ceiling(day):
    """``day`` if it is a month's first day, else the first day of the month after."""
    return day if day.day == 1 else _month_after(day)


MONTH_ROWS = """
SELECT month, province_code, scheme, starts, {net} FROM coverage_monthly
 WHERE month = ANY(%(m)s::date[]) AND {codes}""".format(
    net="starts + resumed + moved_in - ends - moved_out", codes=CODES)


def _merged(lists):
    """``(province_code, scheme, n)`` rows of ``lists`` summed per code and scheme, no 0."""
    lists = [rows for rows in lists if rows]
    if len(lists) < 2:
        return lists[0] if lists else []
    total = collections.defaultdict(int)
    for rows in lists:
        for code, scheme, n in rows:
            total[(code, scheme)] += n
    return [(code, scheme, n) for (code, scheme), n in total.items() if n]


def _split(requests):
    """Each request's whole months before the horizon that may be kept, ``(i, column,
    m1, m2)``, and what is left for SQL, ``(column, first, end)`` with its request's
    index."""
    horizon, earliest = _horizon(), _earliest_kept()  # (the versions read go back to there)
    parts, owners, kept = [], [], []
    for i, (column, first, end) in enumerate(requests):
        m1 = _month_ceiling(first)  # None past the calendar's last month
        m2 = min(horizon, end.replace(day=1)) if end is not None else horizon
        months = 0 if m1 is None else (m2.year - m1.year) * 12 + m2.month - m1.month
        if column not in (NET, "starts") or not 0 < months or m1 < earliest:
            parts.append((column, first, end))
            owners.append(i)
            continue
        kept.append((i, column, m1, m2))
        for lo, hi in ((first, m1), (m2, end)):  # the rest of the range, if any: from SQL
            if hi is None or lo < hi:
                parts.append((column, lo, hi))
                owners.append(i)
    return kept, parts, owners


def _month_rows(cur, months, codes):
    """``{month: (starts rows, net rows)}`` of ``months`` in the roll-up, no 0."""
    read = {month: ([], []) for month in months}
    for month, code, scheme, starts, net in _tuples(
            cur, MONTH_ROWS, {"m": sorted(months), "c": _codes(codes)}):
        if starts:
            read[month][0].append((code, scheme, starts))
        if net:
            read[month][1].append((code, scheme, net))
    return read


def _sums(cur, requests, codes, current=False):
    """``_sql_sums``, with the whole months of each range dated before the month before
    this one summed from ``SETTLED``; only in a transaction that reads one snapshot
    (``snapshot``)."""
    settled, requests = SETTLED, list(requests)
    if not (settled.size and in_snapshot(cur)):
        return _sql_sums(cur, requests, codes, current)
    kept, parts, owners = _split(requests)
    pieces = [[] for _ in requests]
    wanted, stale, rows_of = [], set(), {}  # rows_of: the months' rows this call sums
    if kept:
        codes_key = None if codes is None else tuple(sorted(codes))
        known = versions(cur)  # every month's, in this snapshot
        identity, version_of = known.identity + (codes_key,), known.months
        for i, column, m1, m2 in kept:
            month_list = list(_months_between(m1, m2))
            now = tuple(version_of.get(m) for m in month_list)
            entry = settled.totals.get((identity, column, m1, m2))
            if entry is not None and entry[0] == now:
                settled.hits += 1
                pieces[i].append(entry[1])
                continue
            changed = [] if entry is None else \
                [(month, was) for month, was, is_ in zip(month_list, entry[0], now) if was != is_]
            before = {month: settled.months.get((identity, month)) for month, _ in changed}
            if entry is not None and 3 * len(changed) <= len(month_list) and \
                    all(before[month] is not None and before[month][0] == was
                        for month, was in changed):
                # a few months changed (a back-dated batch): the kept sums, less what
                # those months were, plus what they are
                wanted.append((i, column, m1, m2, [m for m, _ in changed], now, entry[1], before))
                stale.update(before)
                continue
            wanted.append((i, column, m1, m2, month_list, now, None, None))
            for month in month_list:
                have = settled.months.get((identity, month))
                if have is None or have[0] != version_of.get(month):
                    stale.add(month)
                else:
                    rows_of[month] = have
    results = _sql_sums(cur, parts, codes, current)
    for owner, rows in zip(owners, results):
        pieces[owner].append(rows)
    if stale:
        settled.months_read += len(stale)
        for month, rows in _month_rows(cur, stale, codes).items():
            rows_of[month] = (version_of.get(month),) + rows
            settled.keep(settled.months, (identity, month), rows_of[month])
    for i, column, m1, m2, month_list, now, kept_total, before in wanted:
        at = 1 if column == "starts" else 2
        if kept_total is None:
            total = _merged([rows_of[month][at] for month in month_list])
        else:
            settled.deltas += 1
            total = _merged([kept_total] + [rows_of[month][at] for month in month_list] +
                            [[(code, scheme, -n) for code, scheme, n in before[month][at]]
                             for month in month_list])
        settled.updates += 1
        settled.keep(settled.totals, (identity, column, m1, m2), (now, total))
        pieces[i].append(total)
    return [_merged(p) for p in pieces] + ([results[-1]] if current else [])


def _months_between(m1, m2):
    month = m1
    while month < m2:
        yield month
        month = _month_after(month)


def _sql_sums(cur, requests, codes, current=False):
    """One list of ``(province_code, scheme, sum)`` per request ``(column, first, end)``:
    the column summed over the days ``first`` <= day < ``end`` (``end`` None: no end),
    all in one statement that reads each row once. Whole months come from
    ``coverage_monthly``, the rest from ``coverage_changes`` (see ``_spans``).
    ``current``: one more list last, the participants now (participant_counts), from
    the same snapshot. Sums of 0 are left out. Requests asked twice are summed once."""
    requests = list(requests)
    unique = list(dict.fromkeys(requests))
    if len(unique) < len(requests):
        results = _sql_sums(cur, unique, codes, current)
        by_request = dict(zip(unique, results))
        return [by_request[request] for request in requests] + results[len(unique):]
    requests += [("participants", None, None)] if current else []
    if not requests:
        return []
    params, sums, days, lows, highs = {"c": _codes(codes), "current": current}, [], [], [], []
    for i, (column, first, end) in enumerate(requests):
        if first is None:  # the participants now
            sums.append("coalesce(sum(participants), 0)::bigint")
            continue
        m1, m2, runs = _spans(first, end)
        cases = []
        if m1 is not None:
            params.update({f"m1_{i}": m1, f"m2_{i}": m2})
            lows.append(m1)
            highs.append(m2)
            cases.append(f"WHEN month >= %(m1_{i})s AND (%(m2_{i})s::date IS NULL"
                         f" OR month < %(m2_{i})s) THEN {column}")
        for j, (lo, hi, sign) in enumerate(runs):
            params.update({f"lo_{i}_{j}": lo, f"hi_{i}_{j}": hi})
            run = f"day >= %(lo_{i}_{j})s AND (%(hi_{i}_{j})s::date IS NULL OR day < %(hi_{i}_{j})s)"
            days.append(f"({run})")
            cases.append(f"WHEN {run} THEN {'-' if sign < 0 else ''}({column})")
        sums.append(f"coalesce(sum(CASE {' '.join(cases)} END), 0)::bigint")
    params["month_lo"] = min(lows) if lows else None
    params["month_hi"] = None if not highs or None in highs else max(highs)
    rows = _tuples(cur, SUMS.format(sums=", ".join(sums), causes=CAUSES, codes=CODES,
                                    days=" OR ".join(days) or "false"), params)
    # a sum of 0 adds nothing to a figure: left out
    return [[(row[0], row[1], row[2 + i]) for row in rows if row[2 + i]]
            for i in range(len(requests))]


def coverage_sums(cur, starts=(), after=(), codes=None, current=False):
    """In one statement, of the province codes ``codes`` (stored codes, old or new) or
    of all: the new starts dated ``first``..``last`` for each ``(first, last)`` in
    ``starts``, the net changes dated after each day in ``after`` (to go back from
    now), and with ``current`` the participants now. Returns ``(by_range, by_day,
    now)``: lists of ``(province_code, scheme, n)`` keyed by range and by day (an empty
    range, or the calendar's last day, has no entry: no rows), and the list now (None
    unless asked)."""
    starts = [r for r in dict.fromkeys(starts) if r[0] <= r[1]]
    after = [d for d in dict.fromkeys(after) if d < dt.date.max]
    requests = [("starts", first, None if last == dt.date.max else last + dt.timedelta(days=1))
                for first, last in starts] + \
        [(NET, day + dt.timedelta(days=1), None) for day in after]
    results = _sums(cur, requests, codes, current)
    return (dict(zip(starts, results[:len(starts)])),
            dict(zip(after, results[len(starts):len(requests)])),
            results[-1] if current else None)


def coverage_changes_after(cur, day, codes=None):
    """``(province_code, scheme, net)``: net changes dated after ``day`` (to go back from
    now), of the province codes ``codes`` (stored codes, old or new) or of all."""
    return coverage_sums(cur, after=[day], codes=codes)[1].get(day, [])


def starts_between(cur, first, last, codes=None):
    """``(province_code, scheme, starts)``: new starts dated ``first``..``last``, of the
    province codes ``codes`` or of all."""
    return coverage_sums(cur, starts=[(first, last)], codes=codes)[0].get((first, last), [])


def denominators(cur):
    """Planners' denominators (kept between calls while unchanged: ``set_denominator``
    touches the clock)."""
    def read(cur):
        cur.execute("SELECT province_code, year, population, labour_force,"
                    " working_age_labour_force, source, verify FROM denominators")
        return cur.fetchall()
    return _kept_input(cur, "denominators", (), read)


def set_denominator(cur, row):
    cur.execute("INSERT INTO denominators (province_code, year, population, labour_force,"
                " working_age_labour_force, source, verify)"
                " VALUES (%(province_code)s, %(year)s, %(population)s, %(labour_force)s,"
                " %(working_age_labour_force)s, %(source)s, false)"
                " ON CONFLICT (province_code, year) DO UPDATE SET"
                " population = coalesce(EXCLUDED.population, denominators.population),"
                " labour_force = coalesce(EXCLUDED.labour_force, denominators.labour_force),"
                " working_age_labour_force = coalesce(EXCLUDED.working_age_labour_force,"
                "   denominators.working_age_labour_force),"
                " source = EXCLUDED.source, verify = false, updated_at = now()"
                " RETURNING province_code, year, population, labour_force,"
                " working_age_labour_force, source", row)
    stored = cur.fetchone()
    touch(cur, {"denominators"})  # a new version: answers and kept inputs are read again
    return stored


TARGET_COLUMNS = "year, province_code, scheme, measure, name, starts_on, ends_on, target, updated_at"


def set_target(cur, row):
    cur.execute("INSERT INTO targets (year, province_code, scheme, measure, name, starts_on, ends_on,"
                " target) VALUES (%(year)s, %(province_code)s, %(scheme)s, %(measure)s, %(name)s,"
                " %(starts_on)s, %(ends_on)s, %(target)s)"
                " ON CONFLICT (year, province_code, scheme, measure, name) DO UPDATE SET"
                " starts_on = EXCLUDED.starts_on, ends_on = EXCLUDED.ends_on,"
                f" target = EXCLUDED.target, updated_at = now() RETURNING {TARGET_COLUMNS}", row)
    stored = cur.fetchone()
    touch(cur, {"targets"})  # a new version: answers and kept inputs are read again
    return stored


# what target_progress reads (no updated_at: a timestamptz parsed per row was a third of
# this statement's time on the client)
TARGET_FIGURES = "year, province_code, scheme, measure, name, starts_on, ends_on, target"


def targets(cur, year, province_code=None):
    """The targets of ``year`` (of one province or all), kept between calls while
    unchanged (``set_target`` touches the clock). Read only: the dicts may be shared."""
    def read(cur):
        rows = _tuples(cur, f"SELECT {TARGET_FIGURES} FROM targets WHERE year = %(y)s"
                            " AND (%(p)s::text IS NULL OR province_code = %(p)s)"
                            " ORDER BY province_code, scheme, measure, name",
                       {"y": year, "p": province_code})
        names = TARGET_FIGURES.split(", ")
        return [dict(zip(names, row)) for row in rows]
    return _kept_input(cur, "targets", (year, province_code), read)


def benefit_payments(cur, first, last, codes=None):
    """``(month, kind, payments, amount)`` summed over the province codes ``codes`` (stored
    codes, old or new) or over all, for the months ``first``..``last``."""
    return _tuples(cur, "SELECT month, kind, sum(payments)::bigint, sum(amount)::bigint"
                        " FROM benefit_payments WHERE month BETWEEN %(f)s AND %(l)s"
                        " AND " + CODES + " GROUP BY month, kind",
                   {"f": first, "l": last, "c": _codes(codes)})


def programme_rows(cur, programme_code=None):
    cur.execute(
        "SELECT p.programme_code, p.name, p.sponsors, p.goal_books, p.goal_cards, p.budget,"
        " coalesce(g.health_cards, 0) AS health_cards, coalesce(g.si_books, 0) AS si_books,"
        " coalesce(g.amount, 0) AS amount,"
        " (SELECT count(*) FROM programme_people pp WHERE pp.programme_code = p.programme_code)"
        "   AS people"
        " FROM programmes p LEFT JOIN (SELECT programme_code, sum(health_cards)::bigint AS health_cards,"
        "   sum(si_books)::bigint AS si_books, sum(amount)::bigint AS amount FROM programme_grants"
        "   GROUP BY programme_code) g USING (programme_code)"
        " WHERE %(c)s::text IS NULL OR p.programme_code = %(c)s ORDER BY p.programme_code",
        {"c": programme_code})
    return cur.fetchall()


def programme_breakdown(cur, programme_code):
    cur.execute("SELECT sponsor, province_code, grants, health_cards, si_books, amount"
                " FROM programme_grants WHERE programme_code = %s ORDER BY sponsor, province_code",
                (programme_code,))
    return cur.fetchall()


READ_MODELS = ("participant_counts", "coverage_changes", "coverage_monthly", "coverage_month_clock",
               "group_counts", "rejection_counts", "benefit_payments", "claim_decisions",
               "programmes", "programme_grants", "programme_people", "read_model_clock")


def clear_read_models(cur):
    """Empty every table built from events (targets and denominators are planners' input).

    The inbox is locked first because a consumer's transaction writes its inbox
    rows first: consumers then wait for the rebuild rather than deadlock with it.
    """
    cur.execute("LOCK TABLE inbox, event_archive IN SHARE ROW EXCLUSIVE MODE")
    cur.execute("TRUNCATE " + ", ".join(READ_MODELS))


def archived_events(cur, after_id, limit):
    cur.execute("SELECT id, routing_key, body FROM event_archive WHERE id > %s ORDER BY id LIMIT %s",
                (after_id, limit))
    return cur.fetchall()


def add_group_counts(cur, rows):
    psycopg2.extras.execute_values(
        cur,
        "INSERT INTO group_counts AS g (province_code, commune_code, scheme, group_code,"
        " participants) VALUES %s ON CONFLICT (province_code, commune_code, scheme, group_code)"
        " DO UPDATE SET participants = g.participants + EXCLUDED.participants", rows)


def group_counts(cur, province_codes, scheme):
    cur.execute("SELECT province_code, commune_code, scheme, group_code, participants"
                " FROM group_counts WHERE province_code = ANY(%s) AND participants > 0"
                " AND (%s::text IS NULL OR scheme = %s)",
                (list(province_codes), scheme, scheme))
    return cur.fetchall()
