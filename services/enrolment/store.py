"""SQL for the enrolment schema."""
import json

import psycopg2.extras

from shared.db import defer

PERSON_COLUMNS = ("citizen_id, si_code, full_name, date_of_birth, sex, province_code,"
                  " district_code, commune_code, household_id, ethnic_minority, status,"
                  " registered_on")


def defer_values(cur, sql, rows):
    """``execute_values`` of ``sql`` (one ``VALUES %s``) over ``rows``, deferred."""
    if not rows:
        return
    width = len(rows[0])
    template = "(" + ", ".join(["%s"] * width) + ")"
    values = b",".join(cur.mogrify(template, row) for row in rows)   # bytes, as the client sends
    head, tail = sql.split("VALUES %s")
    # no parameters: nothing more is interpolated
    defer(cur, head.encode("ascii") + b"VALUES " + values + tail.encode("ascii"))


def insert_person(cur, person, registered_on, source_event_id, si_code=None):
    """Insert the person; returns their row.

    With ``si_code`` (from ``take_si_serials``) the insert is deferred and the
    row built here; the caller knows the citizen id is free (a clash then fails
    the transaction, as any deferred error does). Without, it runs now, draws
    the SI serial itself and returns None if the citizen id is taken.
    """
    params = dict(person, registered_on=registered_on, source_event_id=source_event_id,
                  si_code=si_code)
    columns = ("INSERT INTO people (citizen_id, si_code, full_name, date_of_birth, sex,"
               " province_code, district_code, commune_code, household_id, ethnic_minority,"
               " registered_on, source_event_id) VALUES (%(citizen_id)s, ")
    rest = (" %(full_name)s, %(date_of_birth)s, %(sex)s, %(province_code)s, %(district_code)s,"
            " %(commune_code)s, %(household_id)s, %(ethnic_minority)s, %(registered_on)s,"
            " %(source_event_id)s)")
    if si_code is not None:
        defer(cur, columns + "%(si_code)s," + rest, params)
        row = {name.strip(): params.get(name.strip()) for name in PERSON_COLUMNS.split(",")}
        return dict(row, status="active", date_of_death=None)
    cur.execute(columns + "%(province_code)s"
                " || lpad(nextval(('si_serial_' || %(province_code)s)::regclass)::text, 8, '0'),"
                + rest + f" ON CONFLICT (citizen_id) DO NOTHING RETURNING {PERSON_COLUMNS},"
                " date_of_death", params)
    return cur.fetchone()


LOCK_KEYS = ("SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT DISTINCT"
             " hashtextextended(current_schema() || ':' || x, 0) AS k"
             " FROM unnest(%s::text[]) AS x ORDER BY 1) AS keys")


def lock_keys(cur, keys, now=False):
    """Transaction-scoped advisory locks on ``keys`` (strings), in one order for
    everyone (so two batches cannot deadlock on them). Deferred unless ``now``:
    the statement travels with the next one and the transaction waits there
    for a batch that holds one of them. Namespaced by schema: two registers in
    one database never wait for each other."""
    if keys and now:
        cur.execute(LOCK_KEYS, (sorted(keys),))
    elif keys:
        defer(cur, LOCK_KEYS, (sorted(keys),))


def take_si_serials(cur, province_codes):
    """SI codes for people about to be registered in ``province_codes`` (one per
    entry, in order), drawn from each province's serial in one statement."""
    if not province_codes:
        return []
    cur.execute("SELECT p || lpad(nextval(('si_serial_' || p)::regclass)::text, 8, '0') AS si_code"
                " FROM unnest(%s::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n",
                (list(province_codes),))
    return [row["si_code"] for row in cur.fetchall()]


def get_person(cur, citizen_id=None, si_code=None):
    column, value = ("citizen_id", citizen_id) if citizen_id else ("si_code", si_code)
    cur.execute(f"SELECT {PERSON_COLUMNS} FROM people WHERE {column} = %s", (value,))
    return cur.fetchone()


def insert_rejection(cur, event_id, event_type, source, reasons, body):
    defer(cur, 
        "INSERT INTO rejections (event_id, event_type, source, reasons, body)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING",
        (event_id, event_type, source, json.dumps(reasons, ensure_ascii=False), body))


def intake_status(cur, event_id):
    cur.execute("SELECT i.status, r.reasons FROM inbox i"
                " LEFT JOIN rejections r ON r.event_id = i.event_id WHERE i.event_id = %s",
                (event_id,))
    return cur.fetchone()


def list_rejections(cur, since, after_event_id, limit):
    """Oldest first from ``since``; page on with the last (received_at, event_id)."""
    cur.execute(
        "SELECT event_id, event_type, source, reasons, received_at FROM rejections"
        " WHERE (received_at, event_id) > (%s, %s)"
        " ORDER BY received_at, event_id LIMIT %s",
        (since, after_event_id or "", limit))
    return cur.fetchall()


def lock_person(cur, citizen_id):
    """The person's row, locked until the transaction ends (None if unknown)."""
    cur.execute(f"SELECT {PERSON_COLUMNS}, date_of_death FROM people"
                " WHERE citizen_id = %s FOR UPDATE", (citizen_id,))
    return cur.fetchone()


def hold_event(cur, event_id, citizen_id, event_type, source, body):
    defer(cur, "INSERT INTO held_events (event_id, citizen_id, event_type, source, body)"
                " VALUES (%s, %s, %s, %s, %s)", (event_id, citizen_id, event_type, source, body))


def take_held_events(cur, citizen_id):
    """The person's held events in arrival order, removed from the hold."""
    cur.execute("DELETE FROM held_events WHERE citizen_id = %s RETURNING seq, event_id, body",
                (citizen_id,))
    return sorted(cur.fetchall(), key=lambda row: row["seq"])


def take_expired_holds(cur, older_than_seconds, limit):
    cur.execute(
        "DELETE FROM held_events WHERE seq IN ("
        " SELECT seq FROM held_events WHERE received_at < now() - %s * interval '1 second'"
        " ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED)"
        " RETURNING event_id, event_type, source, body",
        (older_than_seconds, limit))
    return cur.fetchall()


def set_inbox_status(cur, event_id, status):
    defer(cur, "UPDATE inbox SET status = %s WHERE event_id = %s", (status, event_id))


def open_employment(cur, citizen_id, employer_code):
    cur.execute("SELECT id, region, group_code, start_date FROM employments"
                " WHERE citizen_id = %s AND employer_code = %s AND end_date IS NULL",
                (citizen_id, employer_code))
    return cur.fetchone()


def end_employment(cur, employment_id, end_date, reason):
    defer(cur, "UPDATE employments SET end_date = %s, end_reason = %s WHERE id = %s",
                (end_date, reason, employment_id))


def insert_employment_with_salary(cur, employment_id, citizen_id, employer_code, region,
                                  group_code, start_date, monthly_salary, source_event_id):
    """Employment ``employment_id`` (from ``next_ids``) and its first salary, deferred."""
    defer(cur, "WITH e AS (INSERT INTO employments (id, citizen_id, employer_code, region,"
           " group_code, start_date) VALUES (%(id)s, %(c)s, %(e)s, %(r)s, %(g)s, %(d)s) RETURNING id)"
           " INSERT INTO salary_history (employment_id, effective_date, monthly_salary,"
           " source_event_id) SELECT id, %(d)s, %(s)s, %(ev)s FROM e",
           {"id": employment_id, "c": citizen_id, "e": employer_code, "r": region, "g": group_code,
            "d": start_date, "s": monthly_salary, "ev": source_event_id})


def insert_salary(cur, employment_id, effective_date, monthly_salary, source_event_id):
    defer(cur, "INSERT INTO salary_history (employment_id, effective_date, monthly_salary,"
                " source_event_id) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (employment_id, effective_date)"
                " DO UPDATE SET monthly_salary = EXCLUDED.monthly_salary,"
                " source_event_id = EXCLUDED.source_event_id",
                (employment_id, effective_date, monthly_salary, source_event_id))


def active_schemes(cur, citizen_id):
    cur.execute("SELECT DISTINCT scheme FROM coverages WHERE citizen_id = %s AND status = 'active'",
                (citizen_id,))
    return {row["scheme"] for row in cur.fetchall()}


def announced_group(cur, citizen_id, scheme):
    """The HI group the person's current stay in ``scheme`` was announced with."""
    return announced_groups(cur, citizen_id, [scheme]).get(scheme)


def announced_groups(cur, citizen_id, schemes):
    """``{scheme: group}``: the HI group each stay in ``schemes`` was announced with."""
    cur.execute("SELECT DISTINCT ON (scheme) scheme, group_code FROM coverages"
                " WHERE citizen_id = %s AND scheme = ANY(%s) AND announced"
                " ORDER BY scheme, id DESC", (citizen_id, list(schemes)))
    return {row["scheme"]: row["group_code"].strip() if row["group_code"] else None
            for row in cur.fetchall()}


def end_coverages_by_id(cur, ids, valid_to):
    defer(cur, "UPDATE coverages SET status = 'ended', valid_to = %s WHERE id = ANY(%s)",
           (valid_to, list(ids)))


def extend_coverage(cur, coverage_id, valid_to, announced):
    defer(cur, "UPDATE coverages SET valid_to = %s, status = 'active', announced = %s"
           " WHERE id = %s", (valid_to, announced, coverage_id))


def close_coverages(cur, ids):
    defer(cur, "UPDATE coverages SET status = 'ended' WHERE id = ANY(%s)", (list(ids),))


def open_paid_coverage(cur, coverage_id, citizen_id, scheme, group_code, valid_from, valid_to,
                       event_id, announced):
    defer(cur, "INSERT INTO coverages (id, citizen_id, scheme, group_code, valid_from, valid_to,"
           " source_event_id, announced) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
           (coverage_id, citizen_id, scheme, group_code, valid_from, valid_to, event_id, announced))


def end_open_employments(cur, citizen_id, end_date, reason):
    """End every open employment; returns them (employer_code, end_date)."""
    cur.execute("UPDATE employments SET end_date = greatest(start_date, %s), end_reason = %s"
                " WHERE citizen_id = %s AND end_date IS NULL RETURNING employer_code, end_date",
                (end_date, reason, citizen_id))
    return cur.fetchall()


def other_open_employment(cur, citizen_id, excluding_id):
    """The most recent open employment other than ``excluding_id``, or None."""
    cur.execute("SELECT id, region, group_code, start_date FROM employments"
                " WHERE citizen_id = %s AND end_date IS NULL AND id <> %s"
                " ORDER BY start_date DESC, id DESC LIMIT 1", (citizen_id, excluding_id))
    return cur.fetchone()


def mark_deceased(cur, citizen_id, date_of_death):
    defer(cur, "UPDATE people SET status = 'deceased', date_of_death = %s WHERE citizen_id = %s",
                (date_of_death, citizen_id))


def issue_book(cur, citizen_id, book_number, issued_on):
    """Insert the person's book, deferred; returns nothing (the caller knows, with
    the person locked, that they have none; a book already there stays)."""
    defer(cur, "INSERT INTO books (citizen_id, book_number, issued_on) VALUES (%s, %s, %s)"
           " ON CONFLICT (citizen_id) DO NOTHING", (citizen_id, book_number, issued_on))


def coverages_of(cur, citizen_id):
    cur.execute("SELECT scheme, group_code, valid_from, valid_to, status FROM coverages"
                " WHERE citizen_id = %s ORDER BY valid_from, id", (citizen_id,))
    return cur.fetchall()


def book_of(cur, citizen_id):
    cur.execute("SELECT book_number, issued_on FROM books WHERE citizen_id = %s", (citizen_id,))
    return cur.fetchone()


def valid_card(cur, citizen_id):
    cur.execute("SELECT id, card_number, group_code, benefit_level, valid_from, valid_to,"
                " employment_id FROM cards WHERE citizen_id = %s AND status = 'valid'", (citizen_id,))
    return cur.fetchone()


def last_card_end(cur, citizen_id):
    cur.execute("SELECT max(valid_to) AS valid_to FROM cards WHERE citizen_id = %s", (citizen_id,))
    return cur.fetchone()["valid_to"]


def supersede_card(cur, card_id, status="superseded", valid_to=None):
    defer(cur, "UPDATE cards SET status = %s, valid_to = coalesce(%s, valid_to) WHERE id = %s",
                (status, valid_to, card_id))


def set_card_end(cur, card_id, valid_to):
    """An employment card runs until the employment ends."""
    defer(cur, "UPDATE cards SET valid_to = %s WHERE id = %s", (valid_to, card_id))


def insert_card(cur, card_id, card, citizen_id, issued_on, reason, source_event_id):
    """Insert card ``card_id`` (from ``next_ids(cur, "cards_id_seq", ...)``), deferred."""
    defer(cur, "INSERT INTO cards (id, card_number, citizen_id, group_code, benefit_level,"
           " valid_from, valid_to, issued_on, reason, source_event_id, employment_id)"
           " VALUES (%(id)s, %(card_number)s, %(citizen_id)s, %(group_code)s, %(benefit_level)s,"
           " %(valid_from)s, %(valid_to)s, %(issued_on)s, %(reason)s, %(source_event_id)s,"
           " %(employment_id)s)",
           dict(card, id=card_id, citizen_id=citizen_id, issued_on=issued_on, reason=reason,
                source_event_id=source_event_id, employment_id=card.get("employment_id")))


def next_ids(cur, sequence, count):
    """``count`` ids from ``sequence`` in one statement, ascending."""
    cur.execute("SELECT array_agg(id ORDER BY id) AS ids FROM (SELECT nextval(%s::regclass) AS id"
                " FROM generate_series(1, %s)) AS drawn", (sequence, count))
    return cur.fetchone()["ids"]      # one row: 256 dict rows cost more than the statement


def cards_of(cur, citizen_id):
    cur.execute("SELECT card_number, group_code, benefit_level, valid_from, valid_to, status"
                " FROM cards WHERE citizen_id = %s ORDER BY id", (citizen_id,))
    return cur.fetchall()


CONTRIBUTION_COLUMNS = ("citizen_id", "scheme", "month", "contribution_wage", "amount",
                        "state_support", "household_id", "household_position", "channel",
                        "employment_id", "details", "source_event_id")
CONTRIBUTION_DEFAULTS = {"contribution_wage": None, "state_support": 0, "household_id": None,
                         "household_position": None, "channel": None, "employment_id": None,
                         "details": "{}"}


def record_contributions(cur, rows):
    """Insert contribution months in one statement, deferred; returns nothing (a
    month already paid stays as it was: callers check ``months_paid`` first;
    ``insert_contributions`` says which were new)."""
    values = [tuple(dict(CONTRIBUTION_DEFAULTS, **row)[c] for c in CONTRIBUTION_COLUMNS)
              for row in rows]
    defer_values(cur, f"INSERT INTO contributions ({', '.join(CONTRIBUTION_COLUMNS)}) VALUES %s"
                 " ON CONFLICT DO NOTHING", values)


def insert_contributions(cur, rows, page_size=1000):
    """Insert contribution months now; returns the ``(citizen_id, scheme, month,
    employment_id)`` of those that were new (a month is paid once)."""
    values = [tuple(dict(CONTRIBUTION_DEFAULTS, **row)[c] for c in CONTRIBUTION_COLUMNS)
              for row in rows]
    if not values:
        return set()
    inserted = psycopg2.extras.execute_values(
        cur, f"INSERT INTO contributions ({', '.join(CONTRIBUTION_COLUMNS)}) VALUES %s"
        " ON CONFLICT DO NOTHING RETURNING citizen_id, scheme, month, employment_id", values,
        page_size=page_size, fetch=True)
    return {(r["citizen_id"], r["scheme"], r["month"], r["employment_id"]) for r in inserted}


def supported_months(cur, citizen_id):
    """Months of voluntary SI the person already had state support for."""
    cur.execute("SELECT count(*) AS n FROM contributions WHERE citizen_id = %s"
                " AND scheme = 'voluntary_si' AND state_support > 0", (citizen_id,))
    return cur.fetchone()["n"]


def take_lapsed_coverages(cur, today, limit):
    """End paid coverage periods whose last day is before ``today``.

    People are locked (skipping those an intake transaction holds) so the
    sweep never interleaves with one person's events. Returns the ended rows
    with the person's SI code and province.
    """
    cur.execute(
        "WITH due AS ("
        "  SELECT c.id FROM coverages c JOIN people p USING (citizen_id)"
        "   WHERE c.status = 'active' AND c.employment_id IS NULL AND c.valid_to < %s"
        "   ORDER BY c.valid_to LIMIT %s FOR UPDATE OF p, c SKIP LOCKED)"
        " UPDATE coverages c SET status = 'ended' FROM due, people p"
        " WHERE c.id = due.id AND p.citizen_id = c.citizen_id"
        " RETURNING c.citizen_id, c.scheme, c.valid_to, p.si_code, p.province_code, p.commune_code",
        (today, limit))
    return cur.fetchall()


def months_paid(cur, citizen_id, scheme, months):
    cur.execute("SELECT month FROM contributions WHERE citizen_id = %s AND scheme = %s"
                " AND month = ANY(%s)", (citizen_id, scheme, months))
    return [row["month"] for row in cur.fetchall()]


def household_members_paying(cur, household_id, month, excluding):
    """Members of a household already paying household HI for ``month``."""
    cur.execute("SELECT count(DISTINCT citizen_id) AS n FROM contributions"
                " WHERE household_id = %s AND month = %s AND scheme = 'household_hi'"
                " AND citizen_id <> %s", (household_id, month, excluding))
    return cur.fetchone()["n"]


def insert_programme(cur, programme):
    cur.execute("INSERT INTO programmes (programme_code, name, sponsors, goal_books, goal_cards, budget)"
                " VALUES (%(programme_code)s, %(name)s, %(sponsors)s, %(goal_books)s, %(goal_cards)s,"
                " %(budget)s) ON CONFLICT (programme_code) DO NOTHING RETURNING programme_code",
                dict(programme, sponsors=json.dumps(programme["sponsors"], ensure_ascii=False)))
    return cur.fetchone() is not None


PROGRAMME_COLUMNS = ("programme_code, name, sponsors, goal_books, goal_cards, budget, spent,"
                     " books, cards")


def lock_programme(cur, programme_code):
    cur.execute(f"SELECT {PROGRAMME_COLUMNS} FROM programmes WHERE programme_code = %s FOR UPDATE",
                (programme_code,))
    return cur.fetchone()


def programmes(cur):
    cur.execute(f"SELECT {PROGRAMME_COLUMNS} FROM programmes ORDER BY programme_code")
    return cur.fetchall()


def record_grant(cur, event_id, grant, granted_on):
    defer(cur, "INSERT INTO sponsorships (event_id, programme_code, sponsor, citizen_id, benefit,"
                " months, amount, granted_on) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (event_id, grant["programme_code"], grant["sponsor"], grant["citizen_id"],
                 grant["benefit"], grant["months"], grant["amount"], granted_on))
    books, cards = (1, 0) if grant["benefit"] == "si_book" else (0, 1)
    defer(cur, "UPDATE programmes SET spent = spent + %s, books = books + %s, cards = cards + %s"
                " WHERE programme_code = %s", (grant["amount"], books, cards, grant["programme_code"]))


def update_person(cur, citizen_id, changes):
    columns = ", ".join(f"{name} = %({name})s" for name in changes)
    defer(cur, f"UPDATE people SET {columns} WHERE citizen_id = %(citizen_id)s",
                dict(changes, citizen_id=citizen_id))


def employments_in_month(cur, first_day, last_day):
    """Employments covering at least 14 days of the month, with the salary in force."""
    cur.execute(
        "SELECT e.id, e.citizen_id, e.employer_code, e.region, p.si_code, p.province_code,"
        " (SELECT s.monthly_salary FROM salary_history s WHERE s.employment_id = e.id"
        "   AND s.effective_date <= %(last)s ORDER BY s.effective_date DESC LIMIT 1) AS salary"
        " FROM employments e JOIN people p USING (citizen_id)"
        " WHERE e.start_date <= %(last)s AND coalesce(e.end_date, %(last)s) >= %(first)s"
        " AND least(coalesce(e.end_date, %(last)s), %(last)s)"
        "     - greatest(e.start_date, %(first)s) + 1 >= 14"
        " ORDER BY e.id", {"first": first_day, "last": last_day})
    return cur.fetchall()
